"""Structural encodings computed once per graph and cached by wlkit."""

from __future__ import annotations

from typing import Any

import dgl
import numpy as np
import torch
from torch import Tensor, nn

from wlkit import Param, PositionalEncoding, PositionalEncodingRecord, WlkitError, hookimpl


class RandomWalkSE(PositionalEncoding):
    r"""Random-walk structural encoding (Dwivedi et al., 2022).

    Node :math:`v` gets :math:`[(RW)_{vv}, (RW^2)_{vv}, \dots, (RW^k)_{vv}]` with
    :math:`RW = D^{-1}A`: the probability that a random walk from :math:`v` is back at
    :math:`v` after 1..k steps. Isolated nodes get zeros. Computed densely in float64 and
    stored as float32.

    Examples
    --------
    >>> import dgl
    >>> g = dgl.graph(([0, 1, 1, 2, 2, 0], [1, 0, 2, 1, 0, 2]))  # triangle
    >>> RandomWalkSE(steps=3).compute(g)[0]
    tensor([0.0000, 0.5000, 0.2500])
    """

    def __init__(self, steps: int = 16):
        # steps is checked once, by the record's Param schema
        self.steps = steps
        self.dim = steps

    def compute(self, graph: dgl.DGLGraph) -> Tensor:
        n = graph.num_nodes()
        src, dst = graph.edges()
        adj = torch.zeros(n, n, dtype=torch.float64)
        adj.index_put_((src.long(), dst.long()), torch.ones(len(src), dtype=torch.float64),
                       accumulate=True)
        deg = adj.sum(dim=1, keepdim=True)
        walk = torch.where(deg > 0, adj / deg.clamp(min=1), torch.zeros_like(adj))
        out = torch.empty(n, self.steps, dtype=torch.float64)
        power = walk
        for k in range(self.steps):
            out[:, k] = power.diagonal()
            if k + 1 < self.steps:
                power = power @ walk
        return out.float()


RWSE_RECORD = PositionalEncodingRecord(
    name="rwse", factory=RandomWalkSE,
    summary="Random-walk return probabilities after 1..steps steps (RWSE).",
    params=(Param("steps", int, 16, "number of random-walk steps (= width)",
                  minimum=1, maximum=256),),
    expressivity="incomparable to 1-WL (separates CSL)",
)


class LaplacianPE(PositionalEncoding):
    r"""Laplacian eigenvector positional encoding (Dwivedi et al., "Benchmarking GNNs", 2020).

    Node :math:`v` gets its entries in the eigenvectors of the ``k`` smallest non-trivial
    eigenvalues of the normalised Laplacian :math:`L = I - D^{-1/2} A D^{-1/2}` (the first
    eigenvector, eigenvalue 0, is dropped; isolated nodes have :math:`D^{-1/2} = 0`). Computed
    densely in float64 with ``numpy.linalg.eigh`` and cached *unflipped*.

    Eigenvectors have an arbitrary sign (and, for repeated eigenvalues, an arbitrary basis),
    so the encoding is not invariant to relabelling. The model-side half handles the sign:

    * ``sign: flip`` (default): in training every graph's eigenvectors get independent
      random signs in every forward pass (Dwivedi et al. flip per batch; we flip per graph);
      evaluation uses the stored signs;
    * ``sign: signnet``: a SignNet-style encoder :math:`\rho([\phi(v_i) + \phi(-v_i)]_i)`
      (Lim et al., 2022), invariant to every sign flip; here :math:`\phi` is an MLP of an
      eigenvector's entry at the node and its sum over the node's neighbours (one round of
      message passing, so relative signs of neighbours are kept) and :math:`\rho` is linear;
    * ``sign: none``: the stored eigenvectors as they are.

    A graph with ``n <= k`` nodes has fewer than ``k`` non-trivial eigenvectors. That is an
    error unless ``pad: true``, which fills the missing columns with zeros (DGL's
    ``lap_pe`` means to check this but its check never fires).

    Parameters
    ----------
    k : int
        Number of eigenvectors (the width).
    sign : {"flip", "signnet", "none"}
        Model-side sign handling.
    pad : bool
        Zero-pad graphs with ``n <= k`` instead of raising.
    signnet_dim : int
        Width of :math:`\phi` and of the SignNet output.

    Examples
    --------
    >>> from wlkit.graphs import cycle
    >>> pe = LaplacianPE(k=2).compute(cycle(6).to_dgl())
    >>> pe.shape, bool(torch.allclose(pe.norm(dim=0), torch.ones(2)))
    (torch.Size([6, 2]), True)
    """

    def __init__(self, k: int = 8, sign: str = "flip", pad: bool = False,
                 signnet_dim: int = 16):
        # ranges and choices are checked once, by the record's Param schema
        self.k = k
        self.sign = sign
        self.pad = pad
        self.signnet_dim = signnet_dim
        self.dim = k

    def cache_params(self) -> dict[str, Any]:
        # The sign handling is model-side: every choice shares one cache.
        return {"k": self.k, "pad": self.pad}

    def compute(self, graph: dgl.DGLGraph) -> Tensor:
        n = graph.num_nodes()
        if n <= self.k and not self.pad:
            raise WlkitError(
                f"lappe: k={self.k} eigenvectors asked for, but a graph has {n} nodes and so "
                f"only {max(n - 1, 0)} non-trivial eigenvectors\n    hint: set pad: true to "
                f"zero-pad the missing columns, or choose k < {n}")
        src, dst = graph.edges()
        adj = np.zeros((n, n), dtype=np.float64)
        adj[src.numpy(), dst.numpy()] = 1.0
        adj = np.maximum(adj, adj.T)
        np.fill_diagonal(adj, 0.0)
        deg = adj.sum(axis=1)
        inv_sqrt = np.where(deg > 0, 1.0 / np.sqrt(np.maximum(deg, 1e-12)), 0.0)
        lap = np.eye(n) - inv_sqrt[:, None] * adj * inv_sqrt[None, :]
        _, vectors = np.linalg.eigh(lap)
        out = np.zeros((n, self.k), dtype=np.float64)
        take = vectors[:, 1:1 + self.k]
        out[:, :take.shape[1]] = take
        return torch.from_numpy(out).float()

    def input_module(self) -> nn.Module | None:
        if self.sign == "flip":
            return RandomSignFlip(self.k)
        if self.sign == "signnet":
            return SignNetInput(self.k, self.signnet_dim)
        return None


LAPPE_RECORD = PositionalEncodingRecord(
    name="lappe", factory=LaplacianPE,
    summary="Normalised-Laplacian eigenvectors; random sign flips in training or "
            "a SignNet encoder.",
    params=(
        Param("k", int, 8, "number of non-trivial eigenvectors (= width)",
              minimum=1, maximum=256),
        Param("sign", str, "flip", "sign handling: random per-graph flips in "
              "training, SignNet phi(v)+phi(-v), or none",
              choices=("flip", "signnet", "none")),
        Param("pad", bool, False, "zero-pad graphs with n <= k nodes instead of "
              "raising"),
        Param("signnet_dim", int, 16, "width of SignNet's phi and output",
              minimum=1),
    ),
    permutation_invariant=False,
    expressivity="incomparable to 1-WL (separates CSL); sign and basis ambiguous",
    approximate="SignNet's phi is one message-passing step + MLP per eigenvector "
                "(the paper uses a GIN); sign flips are per graph, not per batch",
)


class RandomSignFlip(nn.Module):
    """In training, multiply each graph's eigenvector columns by independent random signs.

    Examples
    --------
    >>> g = dgl.batch([dgl.rand_graph(3, 4), dgl.rand_graph(2, 2)])
    >>> flip = RandomSignFlip(k=2)
    >>> pe = torch.ones(5, 2)
    >>> torch.equal(flip.eval()(g, pe), pe)
    True
    >>> signs = flip.train()(g, pe)
    >>> bool((signs[:3] == signs[0]).all() and (signs[3:] == signs[3]).all())
    True
    """

    def __init__(self, k: int):
        super().__init__()
        self.out_dim = k

    def forward(self, graph: dgl.DGLGraph, pe: Tensor) -> Tensor:
        if not self.training:
            return pe
        sizes = graph.batch_num_nodes().to(pe.device)
        signs = torch.randint(0, 2, (len(sizes), pe.shape[1]), device=pe.device) * 2 - 1
        # output_size: the row count is known, so the host need not read sizes' sum
        return pe * torch.repeat_interleave(signs.to(pe.dtype), sizes, dim=0,
                                            output_size=pe.shape[0])


class SignNetInput(nn.Module):
    r"""Sign-invariant eigenvector encoder :math:`\rho([\phi(v_i) + \phi(-v_i)]_{i=1..k})`.

    :math:`\phi` maps, per eigenvector :math:`v_i` and node :math:`u`, the pair
    :math:`(v_i(u), \sum_{w \sim u} v_i(w))` through a 2-layer MLP; :math:`\rho` is linear.

    Examples
    --------
    >>> g = dgl.rand_graph(6, 12)
    >>> net = SignNetInput(k=3, dim=4)
    >>> v = torch.randn(6, 3)
    >>> torch.allclose(net(g, v), net(g, v * torch.tensor([-1.0, 1.0, -1.0])))
    True
    """

    def __init__(self, k: int, dim: int):
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(2, dim), nn.ReLU(), nn.Linear(dim, dim), nn.ReLU())
        self.rho = nn.Linear(k * dim, dim)
        self.out_dim = dim

    def forward(self, graph: dgl.DGLGraph, pe: Tensor) -> Tensor:
        neighbours = dgl.ops.copy_u_sum(graph, pe)
        x = torch.stack([pe, neighbours], dim=-1)  # [n, k, 2]
        both = self.phi(x) + self.phi(-x)
        return self.rho(both.flatten(1))


class DegreeEncoding(PositionalEncoding):
    """Node degree as an encoding: one-hot of ``min(degree, max_degree)`` or ``log(1 + degree)``.

    The degree is the number of in-edges (= neighbours in an undirected graph). 1-WL sees
    degrees after one round anyway, so this only helps models that lack a sum aggregator.

    Examples
    --------
    >>> from wlkit.graphs import cycle
    >>> DegreeEncoding(max_degree=3).compute(cycle(4).to_dgl())[0]
    tensor([0., 0., 1., 0.])
    """

    def __init__(self, max_degree: int = 10, kind: str = "onehot"):
        # ranges and choices are checked once, by the record's Param schema
        self.max_degree = max_degree
        self.kind = kind
        self.dim = max_degree + 1 if kind == "onehot" else 1

    def compute(self, graph: dgl.DGLGraph) -> Tensor:
        deg = graph.in_degrees().long()
        if self.kind == "log":
            return torch.log1p(deg.float()).unsqueeze(-1)
        return torch.nn.functional.one_hot(deg.clamp(max=self.max_degree),
                                           self.max_degree + 1).float()


DEGREE_RECORD = PositionalEncodingRecord(
    name="degree", factory=DegreeEncoding,
    summary="Node degree, one-hot (capped) or log(1 + degree).",
    params=(
        Param("max_degree", int, 10, "degrees above are clipped (onehot width - 1)",
              minimum=1, maximum=1024),
        Param("kind", str, "onehot", "one-hot or log(1 + degree)",
              choices=("onehot", "log")),
    ),
)


RECORDS: tuple[PositionalEncodingRecord, ...] = (RWSE_RECORD, LAPPE_RECORD, DEGREE_RECORD)
"""This module's records, in registration order."""


@hookimpl
def wlkit_positional_encodings() -> list[PositionalEncodingRecord]:
    return list(RECORDS)
