"""Random node initialisation (Abboud, Ceylan, Grohe and Lukasiewicz, IJCAI 2021)."""

from __future__ import annotations

import dgl
import torch
from torch import Tensor, nn

from wlkit import (
    MessagePassing,
    ModelParts,
    Param,
    SubgraphPolicy,
    SubgraphPolicyRecord,
    WlkitError,
)

DISTRIBUTIONS = ("normal", "uniform", "xavier_normal", "xavier_uniform")
EVAL_MODES = ("resample", "fixed_seed", "average_k")
NODE_KEY = "_node_key"

RNI_APPROXIMATE = (
    "xavier scales use fan_in = the random width and fan_out = the node's own graph size "
    "(the reference initialises one [batch nodes, width] tensor, so its scale depends on "
    "the batch); the deterministic encoder is the pipeline's input encoder + a linear map "
    "(the reference uses two GraphConv layers)"
)

_BLOCK = 1024  # rows per seeded block of the keyed noise table


class RandomNodeInit(SubgraphPolicy):
    """Random node initialisation: part of every node's initial state is random noise.

    ``r = int(ratio * hidden)`` channels are drawn fresh in every forward pass, in training
    and in evaluation, on the input's device, and concatenated after a deterministic input
    encoder of width ``hidden - r`` (the pipeline's node encoder and positional encodings
    followed by a linear map); ``ratio = 1`` drops the input features, as the reference
    does. The pipeline's layers and readout follow. Abboud et al. prove that such MPNNs are
    universal with high probability and report that partial randomisation trains better
    than full. The output is random, and permutation invariant only in expectation.

    Distributions (``dist``): ``normal`` N(0, 1); ``uniform`` U(-1, 1); ``xavier_normal``
    N(0, 2 / (n + r)) and ``xavier_uniform`` U(-b, b) with b = sqrt(6 / (n + r)), where n
    is the size of the node's graph.

    Evaluation (``eval``): ``resample`` draws new noise in every pass (the paper);
    ``fixed_seed`` takes the noise of a node from a table seeded by ``seed`` and indexed by
    the node's position in its graph, so repeated passes agree; ``average_k`` averages the
    graph embeddings of ``k`` draws. When a graph carries ``ndata['_node_key']`` (set by
    ``wlkit separate``), evaluation noise is always read from the seeded table at the key
    (draw ``j`` of ``average_k`` from table ``j``), so the noise is permuted with the nodes.
    Training always draws fresh noise.

    Parameters
    ----------
    ratio : float
        Fraction of the hidden width that is random, in (0, 1].
    dist : {"normal", "uniform", "xavier_normal", "xavier_uniform"}
        Noise distribution.
    eval : {"resample", "fixed_seed", "average_k"}
        Noise in evaluation mode.
    k : int
        Draws averaged by ``average_k``.
    seed : int
        Seed of the noise tables (``fixed_seed`` and keyed noise).

    Examples
    --------
    >>> import torch
    >>> from wlkit.graphs import cycle
    >>> g = cycle(6).to_dgl()
    >>> g.ndata["_node_key"] = torch.arange(6)
    >>> noise = RNIModel.keyed_noise(g, dim=4, dist="normal", seed=0, draw=0)
    >>> noise.shape, torch.equal(noise, RNIModel.keyed_noise(g, 4, "normal", 0, 0))
    (torch.Size([6, 4]), True)
    """

    def __init__(self, ratio: float = 0.5, dist: str = "normal", eval: str = "resample",
                 k: int = 8, seed: int = 0):
        # ranges and choices are checked once, by the record's Param schema
        self.ratio = ratio
        self.dist = dist
        self.eval_mode = eval
        self.k = k
        self.seed = seed

    def build(self, parts: ModelParts) -> nn.Module:
        return RNIModel(parts, self.ratio, self.dist, self.eval_mode, self.k, self.seed)


RNI_RECORD = SubgraphPolicyRecord(
    name="rni", factory=RandomNodeInit,
    summary="Random node initialisation: part of the width is fresh noise every "
            "pass (invariant in expectation).",
    params=(
        Param("ratio", float, 0.5, "fraction of the hidden width that is random",
              minimum=0.0, maximum=1.0, exclusive_minimum=True),
        Param("dist", str, "normal", "noise distribution", choices=DISTRIBUTIONS),
        Param("eval", str, "resample", "noise at evaluation time",
              choices=EVAL_MODES),
        Param("k", int, 8, "draws averaged by eval: average_k", minimum=1),
        Param("seed", int, 0, "seed of the fixed / keyed noise tables", minimum=0),
    ),
    permutation_invariant=True, stochastic=True,
    expressivity="universal with high probability (invariant in expectation)",
    approximate=RNI_APPROXIMATE,
)


class RNIModel(nn.Module):
    """Model half of :class:`RandomNodeInit` (see there)."""

    def __init__(self, parts: ModelParts, ratio: float, dist: str, eval_mode: str, k: int,
                 seed: int):
        super().__init__()
        hidden = parts.hidden
        self.random_dim = int(ratio * hidden)
        if self.random_dim < 1:
            raise WlkitError(f"rni: ratio {ratio} of hidden width {hidden} leaves no random "
                             "channel\n    hint: raise policy.ratio or model.hidden")
        deterministic = hidden - self.random_dim
        self.node_input = parts.node_input if deterministic else None
        self.project = nn.Linear(hidden, deterministic) if deterministic else None
        self.stack = MessagePassing(parts)
        self.readout = parts.make_readout(hidden)
        self.out_dim = self.readout.out_dim
        self.dist = dist
        self.eval_mode = eval_mode
        self.k = k
        self.seed = seed

    # ------------------------------------------------------------------ noise
    @staticmethod
    def _scale(graph: dgl.DGLGraph, dim: int, dist: str, device: torch.device) -> Tensor | float:
        if not dist.startswith("xavier"):
            return 1.0
        sizes = graph.batch_num_nodes().to(device)
        n = torch.repeat_interleave(sizes, sizes).unsqueeze(-1).to(torch.float32)
        return torch.sqrt((2.0 if dist == "xavier_normal" else 6.0) / (n + dim))

    @staticmethod
    def _base(shape: tuple[int, int], dist: str, device: torch.device,
              generator: torch.Generator | None = None) -> Tensor:
        if dist.endswith("normal"):
            return torch.randn(shape, device=device, generator=generator)
        return torch.rand(shape, device=device, generator=generator) * 2.0 - 1.0

    @classmethod
    def fresh_noise(cls, graph: dgl.DGLGraph, dim: int, dist: str) -> Tensor:
        """New noise [num_nodes, dim] on the graph's device."""
        device = graph.device
        return cls._base((graph.num_nodes(), dim), dist, device) * cls._scale(
            graph, dim, dist, device)

    @classmethod
    def keyed_noise(cls, graph: dgl.DGLGraph, dim: int, dist: str, seed: int, draw: int,
                    keys: Tensor | None = None) -> Tensor:
        """Deterministic noise [num_nodes, dim]: row ``key`` of the table of ``(seed, draw)``.

        The key of a node is ``ndata['_node_key']`` if present, else ``keys``, else its
        position in its graph. The table is generated on the CPU in seeded blocks of 1024
        rows, so a key's noise never depends on the other keys, and moved to the device.
        """
        device = graph.device
        if keys is None:
            keys = graph.ndata[NODE_KEY] if NODE_KEY in graph.ndata else local_index(graph)
        keys = keys.long().cpu()
        if keys.numel() and int(keys.min()) < 0:
            raise WlkitError(f"rni: ndata['{NODE_KEY}'] must be non-negative node keys")
        blocks = (int(keys.max()) // _BLOCK + 1) if keys.numel() else 0
        table = [cls._base((_BLOCK, dim), dist, torch.device("cpu"),
                           torch.Generator().manual_seed(_block_seed(seed, draw, b)))
                 for b in range(blocks)]
        rows = (torch.cat(table)[keys] if table else torch.zeros(0, dim))
        return rows.to(device) * cls._scale(graph, dim, dist, device)

    # ------------------------------------------------------------------ forward
    def readout_dtype(self) -> torch.dtype:
        """Float type of the model's weights (noise is drawn in float32 and cast to it)."""
        return next(self.stack.parameters()).dtype

    def _embed(self, graph: dgl.DGLGraph, noise: Tensor) -> Tensor:
        noise = noise.to(self.readout_dtype())
        if self.project is not None:
            h = torch.cat([self.project(self.node_input(graph)), noise], dim=-1)
        else:
            h = noise
        return self.readout(graph, self.stack(graph, h))

    def forward(self, graph: dgl.DGLGraph, policy_batch: object = None) -> Tensor:
        dim, dist = self.random_dim, self.dist
        if self.training:
            return self._embed(graph, self.fresh_noise(graph, dim, dist))
        keyed = NODE_KEY in graph.ndata
        if self.eval_mode == "average_k":
            draws = [self.keyed_noise(graph, dim, dist, self.seed, j) if keyed
                     else self.fresh_noise(graph, dim, dist) for j in range(self.k)]
            return torch.stack([self._embed(graph, noise) for noise in draws]).mean(0)
        if keyed or self.eval_mode == "fixed_seed":
            return self._embed(graph, self.keyed_noise(graph, dim, dist, self.seed, 0))
        return self._embed(graph, self.fresh_noise(graph, dim, dist))


def local_index(graph: dgl.DGLGraph) -> Tensor:
    """Position of every node inside its own graph of the batch."""
    sizes = graph.batch_num_nodes()
    starts = torch.cumsum(sizes, 0) - sizes
    return (torch.arange(graph.num_nodes(), device=sizes.device)
            - torch.repeat_interleave(starts, sizes))


def _block_seed(seed: int, draw: int, block: int) -> int:
    return (seed * 1_000_003 + draw * 10_007 + block * 101 + 12_345) % (2**63 - 1)


__all__ = ["DISTRIBUTIONS", "EVAL_MODES", "RNIModel", "RandomNodeInit", "local_index"]


RECORDS: tuple[SubgraphPolicyRecord, ...] = (RNI_RECORD,)
"""This module's records, in registration order."""
