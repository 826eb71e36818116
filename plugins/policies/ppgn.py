r"""PPGN: Provably Powerful Graph Networks (Maron, Ben-Hamu, Serviansky and Lipman, 2019).

Every graph with ``n`` nodes is one dense pair tensor ``X`` of shape ``[n, n, d]``. Its
initial entries encode the atomic type of each ordered pair: a learned embedding of the pair
kind (non-edge / edge / diagonal ``u == v``), plus the pipeline's edge encoder on edge pairs
(parallel edges add up), plus the node's encoded features on the diagonal, plus one raw
channel counting the edges ``u -> v`` (the multiplicity on multigraphs). Self-loops are
ignored.

A *block* maps ``X`` ([n, n, d_in]) to ``X'`` ([n, n, d]):

.. math::

    X' = m_3\big([X,\ m_1(X) \cdot m_2(X)]\big),

where ``m_1``, ``m_2`` are MLPs applied to every entry on its own (the paper's 1x1
convolutions, ``mlp_layers`` Linear + activation each; ``activation``, ReLU as in the
paper by default), ``·`` is the matrix product of the two ``[n, n]`` matrices of every
channel (``(m_1 m_2)_{ij} = sum_k m_1(X)_{ik} m_2(X)_{kj}``, one batched matmul over
``[B, d, n, n]``), ``[·, ·]`` concatenates channels (the skip) and
``m_3`` is Linear + activation back to ``d`` channels. The authors' ``m_3`` is linear, but
the non-linearity matters for the sum readout: the sum over all entries of a *linear*
function of the product is ``sum_k (sum_i m_1(X)_{ik}) (sum_j m_2(X)_{kj})`` minus the
diagonal terms, i.e. it reads only row sums of the previous block; measured untrained in
float64, with a linear ``m_3`` decalin vs bicyclopentyl (2 rounds of 2-FWL) needs 3 blocks
and C6 vs 2xC3 (1 round) 2; with Linear + ReLU, 2 and 1, exactly the rounds. The
pipeline's norm (over the real entries only), dropout and, when ``model.residual`` is set,
a residual connection (from block 2, where the widths agree) follow each block.

Graphs of different sizes are batched by padding to the largest ``n`` of the batch with a
mask: padded rows and columns are zeroed before every product and after every block, and the
norm and the readout read only real entries, so a graph's output does not depend on the
rest of its batch.

Readout (the paper's invariant layer, applied after *every* block as the authors' "new
suffix"): per block, pool the diagonal entries and the off-diagonal entries separately
(``pool``: sum, mean or max), concatenate the two ``d``-vectors, map them linearly to the
hidden width and sum over blocks; the pipeline's prediction head follows. Cost per block:
``O(n^3 d)`` time and ``O(n^2 d)`` memory per graph.

Expressivity: bounded by 2-FWL (folklore 2-WL, as strong as 3-WL), and **block ``t`` by round
``t``**: if ``X^{t-1}_{ij}`` is a function of the 2-FWL colour ``c^{t-1}(i, j)``, then
``X^t_{ij}`` depends on ``X^{t-1}_{ij}`` and on ``sum_k f(X^{t-1}_{ik}) g(X^{t-1}_{kj})``, a
function of the multiset ``{{(c^{t-1}(i, k), c^{t-1}(k, j)) : k}}``, i.e. of ``c^t(i, j)``;
``X^0`` is a function of the atomic type, and the pools are functions of the multisets of
diagonal and off-diagonal colours, which 2-FWL tells apart (``u == v`` is in the atomic
type). Dividing the product by ``n`` (``normalize``) keeps the bound: the multiset has ``n``
elements, so ``c^t`` with ``t >= 1`` fixes ``n``. With suitable weights PPGN reaches 2-FWL
(Maron et al., Theorem 2). Positional encodings added to the node input are outside this
argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from wlkit import (
    ModelParts,
    Param,
    PluginError,
    SubgraphPolicy,
    SubgraphPolicyRecord,
)

__all__ = ["PPGN_RECORD", "PpgnBatch", "PpgnBlock", "PpgnBody", "PpgnPolicy", "pool_pairs"]

POOLS = ("sum", "mean", "max")

#: Non-linearities of the block MLPs. ReLU (the paper's) is piecewise linear: where the
#: pre-activations keep their signs an untrained block is a polynomial in the input, which
#: reads little more than walk counts; the smooth ones are non-linear everywhere.
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU,
                                           "silu": nn.SiLU}


def _mlp(d_in: int, d_out: int, layers: int, activation: str = "relu") -> nn.Sequential:
    """``layers`` x (Linear + activation) applied to every entry on its own (a 1x1
    convolution)."""
    mods: list[nn.Module] = []
    for i in range(layers):
        mods += [nn.Linear(d_in if i == 0 else d_out, d_out), ACTIVATIONS[activation]()]
    return nn.Sequential(*mods)


def pool_pairs(x: Tensor, mask: Tensor, sizes: Tensor, how: str = "sum") -> Tensor:
    """The invariant readout of pair tensors: diagonal and off-diagonal pooled separately.

    Parameters
    ----------
    x : Tensor
        [B, n, n, d] padded pair tensors (padded entries may hold anything).
    mask : Tensor
        [B, n, n] bool: the real entries (``i < size`` and ``j < size``).
    sizes : Tensor
        [B] number of nodes of every graph.
    how : {"sum", "mean", "max"}
        The pool; ``mean`` divides by ``n`` and ``n (n - 1)``; ``max`` of an empty set is 0.

    Returns
    -------
    Tensor
        [B, 2 d]: the pooled diagonal, then the pooled off-diagonal.

    Examples
    --------
    >>> x = torch.ones(1, 3, 3, 1)
    >>> mask = torch.ones(1, 3, 3, dtype=torch.bool)
    >>> pool_pairs(x, mask, torch.tensor([3])).tolist()
    [[3.0, 6.0]]
    """
    n = x.shape[1]
    eye = torch.eye(n, dtype=torch.bool, device=x.device)[None]
    on_diag, off_diag = mask & eye, mask & ~eye
    if how == "max":
        low = torch.finfo(x.dtype).min
        # masked_fill, not multiplication: padding must not win a max
        diag = x.masked_fill(~on_diag[..., None], low).amax(dim=(1, 2))
        off = x.masked_fill(~off_diag[..., None], low).amax(dim=(1, 2))
        diag = torch.where(sizes[:, None] > 0, diag, torch.zeros_like(diag))
        off = torch.where(sizes[:, None] > 1, off, torch.zeros_like(off))
        return torch.cat([diag, off], dim=-1)
    diag = (x * on_diag[..., None]).sum(dim=(1, 2))
    off = (x * off_diag[..., None]).sum(dim=(1, 2))
    if how == "mean":
        s = sizes.to(x.dtype)[:, None]
        diag, off = diag / s.clamp(min=1), off / (s * (s - 1)).clamp(min=1)
    return torch.cat([diag, off], dim=-1)


class PpgnBlock(nn.Module):
    """One PPGN block: ``m_3([X, m_1(X) · m_2(X)])`` with a per-channel matrix product
    (``m_3`` = Linear + ReLU; see the module docstring).

    Parameters
    ----------
    d_in : int
        Input channels.
    d : int
        Output channels (and the width of ``m_1``, ``m_2``).
    mlp_layers : int
        Linear + ReLU layers in each of ``m_1`` and ``m_2``.
    normalize : bool
        Divide the product by each graph's size ``n`` (a mean over ``k`` instead of a sum).
    activation : str
        Non-linearity of ``m_1``, ``m_2`` and ``m_3`` (:data:`ACTIVATIONS`).

    Examples
    --------
    >>> block = PpgnBlock(3, 4, mlp_layers=2)
    >>> x = torch.randn(2, 5, 5, 3)
    >>> mask = torch.ones(2, 5, 5, 1)
    >>> block(x, mask, torch.tensor([5, 5])).shape
    torch.Size([2, 5, 5, 4])
    """

    def __init__(self, d_in: int, d: int, mlp_layers: int = 2, normalize: bool = False,
                 activation: str = "relu"):
        super().__init__()
        self.m1 = _mlp(d_in, d, mlp_layers, activation)
        self.m2 = _mlp(d_in, d, mlp_layers, activation)
        self.m3 = _mlp(d_in + d, d, 1, activation)
        self.normalize = normalize
        # Xavier weights and zero biases, as the authors initialise their 1x1 convolutions:
        # with PyTorch's default init an untrained model is so close to linear that the
        # embeddings of decalin and bicyclopentyl differ by 3e-8 relative (4e-5 with this
        # init; C6 vs 2xC3: 3e-3 against 0.1), beyond what float32 can tell
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: Tensor, mask: Tensor, sizes: Tensor) -> Tensor:
        """``x`` [B, n, n, d_in], ``mask`` [B, n, n, 1] (1 on real entries) -> [B, n, n, d]."""
        # zero the padding before the product: a padded k must add nothing to sum_k
        a = (self.m1(x) * mask).permute(0, 3, 1, 2)
        b = (self.m2(x) * mask).permute(0, 3, 1, 2)
        prod = (a @ b).permute(0, 2, 3, 1)
        if self.normalize:
            prod = prod / sizes.to(prod.dtype).clamp(min=1)[:, None, None, None]
        return self.m3(torch.cat([x, prod], dim=-1)) * mask


# ------------------------------------------------------------------------------ batches
@dataclass
class PpgnBatch:
    """Where every node of a mini-batch sits in the padded pair tensors.

    Everything here is computed on the CPU in :meth:`PpgnPolicy.collate`, so the forward
    pass needs no host sync (no ``.item()``, boolean-mask indexing or ``nonzero``).

    Attributes
    ----------
    sizes : Tensor
        [B] number of nodes of every graph.
    node_graph : Tensor
        [N] graph index of every node of the batched graph.
    node_local : Tensor
        [N] index of every node inside its graph.
    max_size : int
        The padded size ``n`` (the largest graph; 0 for a batch of empty graphs).
    real_entries : Tensor
        [sum of sizes^2] flat indices into ``[B, n, n]`` of the real (unpadded) entries.
    edges : Tensor
        [E'] ids of the batched graph's edges that are not self-loops.

    Examples
    --------
    >>> from wlkit import graphs
    >>> gs = [graphs.cycle(3).to_dgl(), graphs.complete(2).to_dgl()]
    >>> b = PpgnPolicy().collate(gs, [{}, {}])
    >>> b.sizes.tolist(), b.node_graph.tolist(), b.node_local.tolist(), b.max_size
    ([3, 2], [0, 0, 0, 1, 1], [0, 1, 2, 0, 1], 3)
    >>> b.real_entries.tolist()[-4:]  # graph 1: entries (0,0) (0,1) (1,0) (1,1) of [3, 3]
    [9, 10, 12, 13]
    """

    sizes: Tensor
    node_graph: Tensor
    node_local: Tensor
    max_size: int
    real_entries: Tensor
    edges: Tensor

    @property
    def num_graphs(self) -> int:
        return int(self.sizes.shape[0])

    def to(self, device: Any) -> PpgnBatch:
        """The same batch on ``device`` (Lightning calls this to move the batch)."""
        return PpgnBatch(self.sizes.to(device), self.node_graph.to(device),
                         self.node_local.to(device), self.max_size,
                         self.real_entries.to(device), self.edges.to(device))


# -------------------------------------------------------------------------------- model
class PpgnBody(nn.Module):
    """PPGN's model half: ``forward(graph, batch) -> [batch_size, hidden]`` graph embeddings.

    ``model.num_layers`` blocks of width ``model.hidden`` (see the module docstring). Uses
    ``hidden``, ``num_layers``, ``node_input``, ``make_norm``, ``make_edge_encoder``,
    ``dropout`` and ``residual`` of the pipeline; the pipeline's ``layer``, ``aggregator`` and
    ``readout`` are not used.

    Parameters
    ----------
    parts : ModelParts
        The pipeline's pieces.
    mlp_layers : int
        Linear + activation layers in each of a block's two MLPs.
    pool : {"sum", "mean", "max"}
        How the readout pools the diagonal and the off-diagonal entries.
    normalize : bool
        Divide each block's matrix product by the graph's size.
    activation : str
        Non-linearity of the block MLPs (:data:`ACTIVATIONS`).

    Examples
    --------
    >>> import dgl
    >>> from wlkit import ModelParts, graphs
    >>> from wlkit.model.graph_model import NodeInput
    >>> parts = ModelParts(hidden=8, num_layers=2, node_input=NodeInput(8, 0, None),
    ...                    make_layer=None, make_norm=nn.Identity, make_readout=None,
    ...                    make_edge_encoder=None, uses_edge_features=False, dropout=0.0,
    ...                    residual=False, virtual_node=False)
    >>> policy = PpgnPolicy()
    >>> body = policy.build(parts)
    >>> gs = [graphs.cycle(6).to_dgl(), graphs.complete(4).to_dgl()]
    >>> body(dgl.batch(gs), policy.collate(gs, [{}, {}])).shape
    torch.Size([2, 8])
    """

    def __init__(self, parts: ModelParts, mlp_layers: int = 2, pool: str = "sum",
                 normalize: bool = False, activation: str = "relu"):
        super().__init__()
        if parts.virtual_node:
            raise PluginError("subgraph_policy 'ppgn' does not use a virtual node; set "
                              "model.virtual_node: false")
        if pool not in POOLS:
            raise PluginError(f"subgraph_policy 'ppgn': pool must be one of {POOLS}, "
                              f"got {pool!r}")
        d = parts.hidden
        self.hidden = d
        self.out_dim = d
        self.pool = pool
        self.node_input = parts.node_input
        self.pair_kind = nn.Embedding(3, d)  # 0 non-edge, 1 edge, 2 diagonal (u == v)
        self.edge_encoder = (parts.make_edge_encoder() if parts.make_edge_encoder is not None
                             else None)
        # the first block also reads the raw edge-count channel
        self.blocks = nn.ModuleList(PpgnBlock(d + 1 if t == 0 else d, d, mlp_layers, normalize,
                                              activation)
                                    for t in range(parts.num_layers))
        self.norms = nn.ModuleList(parts.make_norm() for _ in range(parts.num_layers))
        self.readouts = nn.ModuleList(nn.Linear(2 * d, d) for _ in range(parts.num_layers))
        self.dropout = nn.Dropout(parts.dropout)
        self.residual = parts.residual

    def initial_pairs(self, graph: Any, batch: PpgnBatch, n: int) -> Tensor:
        """[B, n, n, hidden + 1] initial pair tensors (padding is zero)."""
        h = self.node_input(graph)
        b, g, loc = batch.num_graphs, batch.node_graph, batch.node_local
        src, dst = graph.edges()
        src, dst = src[batch.edges], dst[batch.edges]  # self-loops are ignored
        count = h.new_zeros(b, n, n)
        count.index_put_((g[src], loc[src], loc[dst]), h.new_ones(len(src)), accumulate=True)
        kind = (count > 0).long()
        kind[:, torch.arange(n, device=h.device), torch.arange(n, device=h.device)] = 2
        x = self.pair_kind(kind).to(h.dtype)
        if self.edge_encoder is not None and len(src):
            feats = self.edge_encoder(graph.edata["feat"][batch.edges]).to(h.dtype)
            # parallel edges add up, so the result does not depend on the edge order
            x = x.index_put((g[src], loc[src], loc[dst]), feats, accumulate=True)
        x = x.index_put((g, loc, loc), h, accumulate=True)
        return torch.cat([x, count[..., None]], dim=-1)

    def forward(self, graph: Any, batch: PpgnBatch) -> Tensor:
        if not isinstance(batch, PpgnBatch):
            raise PluginError("subgraph_policy 'ppgn': the model needs the PpgnBatch from "
                              f"PpgnPolicy.collate, got {type(batch).__name__}")
        if int(batch.node_graph.shape[0]) != graph.num_nodes():
            raise PluginError(f"subgraph_policy 'ppgn': the batch has {graph.num_nodes()} "
                              f"nodes but its PpgnBatch {batch.node_graph.shape[0]}")
        sizes, n, real_entries = batch.sizes, batch.max_size, batch.real_entries
        ar = torch.arange(n, device=sizes.device)
        real = ar[None, :] < sizes[:, None]
        mask = real[:, :, None] & real[:, None, :]  # [B, n, n]
        fmask = mask[..., None]
        x = self.initial_pairs(graph, batch, n) * fmask
        fmask = fmask.to(x.dtype)
        out = x.new_zeros(batch.num_graphs, self.hidden)
        for t, (block, norm, readout) in enumerate(zip(self.blocks, self.norms, self.readouts)):
            new = block(x, fmask, sizes)
            if real_entries.shape[0]:
                # the norm sees only real entries (padding must not move batch statistics);
                # index_select / index_copy with collate's indices: no host sync
                flat = new.reshape(-1, new.shape[-1])
                normed = norm(flat.index_select(0, real_entries))
                new = torch.zeros_like(flat).index_copy(0, real_entries, normed).view_as(new)
            new = self.dropout(new)
            x = x + new if self.residual and t > 0 else new
            out = out + readout(pool_pairs(x, mask, sizes, self.pool))
        return out


# ------------------------------------------------------------------------------ policy
class PpgnPolicy(SubgraphPolicy):
    """PPGN (Maron et al. 2019): ``model.num_layers`` blocks on each graph's dense
    ``[n, n, hidden]`` pair tensor (see the module docstring).

    Nothing is precomputed per graph (the pair tensor is built on the model's device);
    :meth:`collate` records each graph's size and each node's position in it.

    Parameters
    ----------
    mlp_layers : int
        Linear + activation layers in each of the two MLPs of a block (the authors use 2).
    pool : {"sum", "mean", "max"}
        How the readout pools the diagonal and the off-diagonal (the paper's invariant
        layer sums; the authors' code takes the max).
    normalize : bool
        Divide every block's matrix product by the graph's size ``n`` (keeps magnitudes
        comparable across sizes; not in the paper).
    activation : {"relu", "tanh", "gelu", "silu"}
        Non-linearity of the block MLPs (the paper's is ReLU; see :data:`ACTIVATIONS`).

    Examples
    --------
    >>> p = PpgnPolicy()
    >>> p.wl_oracle, p.wl_rounds
    ('2-FWL', None)
    """

    def __init__(self, mlp_layers: int = 2, pool: str = "sum", normalize: bool = False,
                 activation: str = "relu"):
        if pool not in POOLS:
            raise ValueError(f"ppgn: pool must be one of {POOLS}, got {pool!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"ppgn: activation must be one of {tuple(ACTIVATIONS)}, got "
                             f"{activation!r}")
        self.mlp_layers = mlp_layers
        self.pool = pool
        self.normalize = normalize
        self.activation = activation
        self._blocks: int | None = None

    @property
    def wl_oracle(self) -> str | None:  # type: ignore[override]
        """``2-FWL``: PPGN is bounded by folklore 2-WL (see the module docstring)."""
        return "2-FWL"

    @property
    def wl_rounds(self) -> int | None:
        """Rounds of 2-FWL the built model reaches: one per block (block ``t`` is bounded by
        round ``t``; see the module docstring); None before :meth:`build`."""
        return self._blocks

    def collate(self, graphs: list[Any], prepared: list[dict[str, Tensor]]) -> PpgnBatch:
        # on the CPU, vectorised over the batch: the batch carries every index forward needs
        counts = [int(g.num_nodes()) for g in graphs]
        n, total = max(counts, default=0), sum(counts)
        device = graphs[0].device if graphs else torch.device("cpu")
        sizes = torch.tensor(counts, dtype=torch.long, device=device)
        node_graph = torch.repeat_interleave(torch.arange(len(graphs), device=device), sizes,
                                             output_size=total)
        node_local = (torch.arange(total, device=device)
                      - (torch.cumsum(sizes, 0) - sizes)[node_graph])
        local = torch.arange(n, device=device)
        real = ((local[None, :, None] < sizes[:, None, None])
                & (local[None, None, :] < sizes[:, None, None]))
        ends = [g.edges() for g in graphs]
        none = torch.zeros(0, dtype=torch.long, device=device)
        src = torch.cat([e[0] for e in ends]) if ends else none
        dst = torch.cat([e[1] for e in ends]) if ends else none
        return PpgnBatch(sizes, node_graph, node_local, n,
                         torch.nonzero(real.reshape(-1)).flatten(),
                         torch.nonzero(src != dst).flatten())

    def build(self, parts: ModelParts) -> PpgnBody:
        self._blocks = int(parts.num_layers)
        return PpgnBody(parts, self.mlp_layers, self.pool, self.normalize, self.activation)


PPGN_APPROXIMATE = (
    "the skip map m3 is Linear + activation (the authors' code: a linear 1x1 convolution; "
    "the non-linearity lets a sum readout read block t's product, see the module "
    "docstring); "
    "the readout pools after every block (the authors' 'new suffix'), sums each block's "
    "pooled vector through its own linear map, and hands that to the pipeline's head; the "
    "initial tensor adds a learned pair-kind embedding, the edge encoder and the node input "
    "and keeps one raw edge-count channel; the pipeline's norm follows every block (over "
    "real entries only; not in the paper); pool 'mean' and normalize: true divide by the "
    "graph's size, which the 2-FWL bound allows (2-FWL colours fix n after one round)"
)

PPGN_RECORD = SubgraphPolicyRecord(
    name="ppgn", factory=PpgnPolicy,
    summary="PPGN: dense pair tensors, blocks of two entrywise MLPs multiplied as matrices "
            "per channel (Maron et al. 2019).",
    params=(
        Param("mlp_layers", int, 2, "Linear + activation layers in each of a block's two MLPs",
              minimum=1, maximum=8),
        Param("pool", str, "sum", "readout over the diagonal and the off-diagonal entries",
              choices=POOLS),
        Param("normalize", bool, False,
              "divide each block's matrix product by the graph's size n"),
        Param("activation", str, "relu", "non-linearity of the block MLPs",
              choices=tuple(ACTIVATIONS)),
    ),
    permutation_invariant=True,
    stochastic=False,
    expressivity=">1-WL, bounded by 2-FWL (= 3-WL), block t by round t; reaches it with "
                 "suitable weights (Maron et al. 2019)",
    approximate=PPGN_APPROXIMATE,
)


RECORDS: tuple[SubgraphPolicyRecord, ...] = (PPGN_RECORD,)
"""This module's records, in registration order."""
