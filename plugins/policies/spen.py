r"""SPEN: Subgraph Permutation Equivariant Networks (Mitton & Murray-Smith).

Every node ``v`` roots one subgraph, its closed ``k``-hop ego-net ``S_v`` (``k = hops``). A
subgraph carries an order-1 tensor ``X_v`` ([|S_v|, d], one row per member node) and an order-2
tensor ``A_v`` ([|S_v|, |S_v|, d], one entry per ordered member pair). A layer applies, to
every subgraph independently, the complete bases of permutation-equivariant linear maps
between orders 1 and 2 (Maron et al., 2019; sums normalised to means so one set of weights
suits every size):

=======  =====  ==========================================================================
map      ops    the operators (``δ`` = on the diagonal only, ``mean`` over the subgraph)
=======  =====  ==========================================================================
2 -> 2   15     see :func:`basis_2_to_2`
1 -> 2   5      ``δ x_i``, ``δ mean x``, ``x_i``, ``x_j``, ``mean x``
2 -> 1   5      ``A_ii``, ``mean_k A_ik``, ``mean_k A_ki``, ``mean_k A_kk``, ``mean_kl A_kl``
1 -> 1   2      ``x_i``, ``mean x``
2 -> 0   2      ``mean_k A_kk``, ``mean_kl A_kl``
1 -> 0   1      ``mean x``
=======  =====  ==========================================================================

plus the equivariant biases (one for order 1; diagonal and constant for order 2). The
weights are tied per *subgraph-size class*: all subgraphs whose size falls in the same class
share one set of weights (:func:`size_class`). After each layer, every node's and every
pair's features are averaged over all subgraphs that contain it: that is how the subgraphs
talk. The readout applies the invariant maps (2 -> 0 and 1 -> 0) to every subgraph, averages
the per-subgraph invariants over each graph's subgraphs and hands them to the pipeline's
prediction head.

Everything index-like is computed once per graph in :meth:`SpenPolicy.prepare` (cached on
disk by wlkit) and batched in :meth:`SpenPolicy.collate`. The forward pass loops only over
the distinct subgraph sizes of a batch; each iteration processes every subgraph of that size
at once as dense ``[S, n, n, d]`` tensors. Cost per layer: ``sum_v |S_v|^2 d``, against
``n^2 d`` per graph for a global 2-IGN (see ``benchmarks/spen_memory.py``).

Expressivity: SPEN is bounded by its exact oracle ``spen_h<hops>`` (SPEN-WL,
:mod:`wlkit.plugins.policies.spen_oracle`, :attr:`SpenPolicy.wl_oracle`), which is at most
2-FWL: every mean over a subgraph of root ``r`` is an aggregation over a witness node that
2-FWL colour refinement performs (membership is a distance test, which 2-FWL colours
encode), and the cross-subgraph average of pair ``(i, j)`` aggregates over the roots ``r``
as 2-FWL does over its witness. It separates C6 from 2xC3 with 1-hop ego-nets; on CSL the
oracle and the untrained float64 model separate 9 class pairs at 1 hop and all 45 at 2 hops
(in float32 only 30: 15 differ by 1e-5 to 1e-4 relative; ``wlkit separate`` re-tests those
in float64).

More hops can separate fewer pairs. When every ``k``-hop ego-net is the whole graph, a
layer's output at ``(i, j)`` depends on the root ``r`` only through the root-mark
indicators ``[i = r]``, ``[j = r]``, whose mean over the ``n`` roots is the same for every
pair; averaging over all subgraphs after every layer (no per-subgraph state survives) thus
leaves a pointwise function of the ordinary 2-IGN basis terms, so SPEN *is* a global 2-IGN,
and 2-IGNs are at most 1-WL (Geerts 2020; Chen et al. 2020). The cause is the averaging,
not the weight tying or the normalisation. BREC's graphs are mostly 10 nodes of diameter 2-3
(202 of 220 graphs have 10 nodes; 118 have every 2-hop ego-net equal to the whole graph),
and all its basic and regular pairs are 1-WL-equivalent: in 55 of those 110 pairs both
graphs are covered by their 2-hop ego-nets, and neither the model nor the oracle separates
any of them. Measured on BREC basic+regular (investigation of 2026-12-02): 1 hop 109/110 in
float32 (the oracle: 110; the missed pair 79 has a relative difference of 1.9e-5 and
separates in float64); 2 hops 31/110 in float32, 45/110 in float64 (basic 29, regular 16),
exactly the oracle's 45 pairs; 6 hops 0/110 (oracle 0).
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor, nn

from wlkit import (
    ModelParts,
    Param,
    PluginError,
    SubgraphPolicy,
    SubgraphPolicyRecord,
    layer_activation,
    node_offsets,
)

__all__ = [
    "DEFAULT_SIZE_BOUNDS",
    "SPEN_RECORD",
    "SpenBatch",
    "SpenBody",
    "SpenGroup",
    "SpenInvariant",
    "SpenLayer",
    "SpenPolicy",
    "basis_1_to_0",
    "basis_1_to_1",
    "basis_1_to_2",
    "basis_2_to_0",
    "basis_2_to_1",
    "basis_2_to_2",
    "size_class",
]

#: Default upper bounds of the size classes: sizes 1-2, 3, 4, 5, 6, 7-8, 9-12 and >= 13.
DEFAULT_SIZE_BOUNDS: tuple[int, ...] = (2, 3, 4, 5, 6, 8, 12)

# Number of operators of each basis (Bell numbers B(a + b) for a map of order a -> b).
NUM_OPS = {"2->2": 15, "1->2": 5, "2->1": 5, "1->1": 2, "2->0": 2, "1->0": 1}


# ----------------------------------------------------------------------------- the bases
def _order2_stats(a: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Order-1 and order-0 summaries of ``a`` [S, n, n, d].

    Returns ``diag`` (``A_ii``), ``row`` (``mean_k A_ik``), ``col`` (``mean_k A_ki``), each
    [S, n, d], and ``dmean`` (``mean_k A_kk``), ``amean`` (``mean_kl A_kl``), each [S, d].
    """
    diag = a.diagonal(dim1=1, dim2=2).transpose(1, 2)
    row = a.mean(dim=2)
    col = a.mean(dim=1)
    return diag, row, col, diag.mean(dim=1), row.mean(dim=1)


def basis_2_to_2(a: Tensor) -> Tensor:
    r"""The 15 permutation-equivariant linear maps from order 2 to order 2.

    Parameters
    ----------
    a : Tensor
        [S, n, n, d]: S order-2 tensors over n nodes with d channels each.

    Returns
    -------
    Tensor
        [S, n, n, d, 15]; operator ``k`` is ``out[..., k]`` (``δ_ij`` keeps the diagonal):
        0 ``A_ij``; 1 ``A_ji``; 2 ``δ A_ii``; 3 ``δ mean_k A_ik``; 4 ``δ mean_k A_ki``;
        5 ``δ mean_k A_kk``; 6 ``δ mean_kl A_kl``; 7 ``A_ii``; 8 ``A_jj``; 9 ``mean_k A_ik``;
        10 ``mean_k A_jk``; 11 ``mean_k A_ki``; 12 ``mean_k A_kj``; 13 ``mean_k A_kk``;
        14 ``mean_kl A_kl``.

    Examples
    --------
    >>> basis_2_to_2(torch.randn(3, 5, 5, 2)).shape
    torch.Size([3, 5, 5, 2, 15])
    """
    s, n, _, d = a.shape
    diag, row, col, dmean, amean = _order2_stats(a)
    eye = torch.eye(n, dtype=a.dtype, device=a.device)[None, :, :, None]
    rows = lambda t: t[:, :, None, :]  # noqa: E731 - value indexed by i
    cols = lambda t: t[:, None, :, :]  # noqa: E731 - value indexed by j
    const = lambda t: t[:, None, None, :]  # noqa: E731
    ops = [a, a.transpose(1, 2), eye * rows(diag), eye * rows(row), eye * rows(col),
           eye * const(dmean), eye * const(amean), rows(diag), cols(diag), rows(row),
           cols(row), rows(col), cols(col), const(dmean), const(amean)]
    return torch.stack([op.expand(s, n, n, d) for op in ops], dim=-1)


def basis_1_to_2(x: Tensor) -> Tensor:
    """The 5 equivariant linear maps from order 1 to order 2.

    ``x`` [S, n, d] -> [S, n, n, d, 5]: 0 ``δ x_i``; 1 ``δ mean_k x_k``; 2 ``x_i``;
    3 ``x_j``; 4 ``mean_k x_k``.

    Examples
    --------
    >>> basis_1_to_2(torch.randn(2, 4, 3)).shape
    torch.Size([2, 4, 4, 3, 5])
    """
    s, n, d = x.shape
    mean = x.mean(dim=1)[:, None, None, :]
    eye = torch.eye(n, dtype=x.dtype, device=x.device)[None, :, :, None]
    ops = [eye * x[:, :, None, :], eye * mean, x[:, :, None, :], x[:, None, :, :], mean]
    return torch.stack([op.expand(s, n, n, d) for op in ops], dim=-1)


def basis_2_to_1(a: Tensor) -> Tensor:
    """The 5 equivariant linear maps from order 2 to order 1.

    ``a`` [S, n, n, d] -> [S, n, d, 5]: 0 ``A_ii``; 1 ``mean_k A_ik``; 2 ``mean_k A_ki``;
    3 ``mean_k A_kk``; 4 ``mean_kl A_kl``.

    Examples
    --------
    >>> basis_2_to_1(torch.randn(2, 4, 4, 3)).shape
    torch.Size([2, 4, 3, 5])
    """
    s, n, _, d = a.shape
    diag, row, col, dmean, amean = _order2_stats(a)
    ops = [diag, row, col, dmean[:, None, :], amean[:, None, :]]
    return torch.stack([op.expand(s, n, d) for op in ops], dim=-1)


def basis_1_to_1(x: Tensor) -> Tensor:
    """The 2 equivariant linear maps from order 1 to order 1: ``x_i`` and ``mean_k x_k``.

    Examples
    --------
    >>> basis_1_to_1(torch.randn(2, 4, 3)).shape
    torch.Size([2, 4, 3, 2])
    """
    return torch.stack([x, x.mean(dim=1, keepdim=True).expand_as(x)], dim=-1)


def basis_2_to_0(a: Tensor) -> Tensor:
    """The 2 invariant linear maps of order 2: ``mean_k A_kk`` and ``mean_kl A_kl``.

    Examples
    --------
    >>> basis_2_to_0(torch.randn(2, 4, 4, 3)).shape
    torch.Size([2, 3, 2])
    """
    _, _, _, dmean, amean = _order2_stats(a)
    return torch.stack([dmean, amean], dim=-1)


def basis_1_to_0(x: Tensor) -> Tensor:
    """The invariant linear map of order 1: ``mean_k x_k`` ([S, n, d] -> [S, d, 1]).

    Examples
    --------
    >>> basis_1_to_0(torch.ones(2, 4, 3))[0, :, 0]
    tensor([1., 1., 1.])
    """
    return x.mean(dim=1)[..., None]


# ------------------------------------------------------------------------ size classes
def size_class(size: int, bounds: tuple[int, ...] | list[int]) -> int:
    """Index of the size class of a subgraph with ``size`` nodes.

    Class ``c < len(bounds)`` holds the sizes in ``(bounds[c-1], bounds[c]]``; every size
    above the last bound falls in the last class ``len(bounds)``. With ``bounds = ()`` there
    is one class and all sizes share weights.

    Examples
    --------
    >>> [size_class(s, (2, 3, 5)) for s in (1, 2, 3, 4, 5, 6, 40)]
    [0, 0, 1, 2, 2, 3, 3]
    """
    return bisect.bisect_left(list(bounds), size)


def _nearest_trained(trained: list[bool]) -> list[int]:
    """Class each class uses at evaluation: itself if trained, else the nearest trained class
    (ties go to the smaller class); every class uses itself while none is trained."""
    if not any(trained):
        return list(range(len(trained)))
    seen = [c for c, t in enumerate(trained) if t]
    return [c if trained[c] else min(seen, key=lambda t: (abs(t - c), t))
            for c in range(len(trained))]


def _uniform(shape: tuple[int, ...], fan_in: int) -> nn.Parameter:
    bound = 1.0 / math.sqrt(max(fan_in, 1))
    return nn.Parameter(torch.empty(shape).uniform_(-bound, bound))


# ------------------------------------------------------------------------------ layers
class SpenLayer(nn.Module):
    """One SPEN layer: (order-1, order-2) -> (order-1, order-2) with the full bases.

    ``x' = L_{1->1}(x) + L_{2->1}(A) + b_1`` and ``A' = L_{2->2}(A) + L_{1->2}(x) + δ b_d + b_c``,
    each ``L`` a learned combination (a ``[d_in, d_out]`` matrix per operator) of the basis
    operators of :func:`basis_1_to_1`, :func:`basis_2_to_1`, :func:`basis_2_to_2` and
    :func:`basis_1_to_2`. Every size class has its own weights (first axis of each
    parameter). The forward pass never materialises the 15 operators: it mixes the order-1
    summaries first and broadcasts once.

    Parameters
    ----------
    in1, in2 : int
        Channels of the order-1 and order-2 input.
    out : int
        Channels of both outputs.
    num_classes : int
        Number of size classes.

    Examples
    --------
    >>> layer = SpenLayer(3, 4, 8, num_classes=2)
    >>> x, a = layer(torch.randn(5, 6, 3), torch.randn(5, 6, 6, 4), size_class=1)
    >>> tuple(x.shape), tuple(a.shape)
    ((5, 6, 8), (5, 6, 6, 8))
    """

    def __init__(self, in1: int, in2: int, out: int, num_classes: int = 1):
        super().__init__()
        fan1 = NUM_OPS["1->1"] * in1 + NUM_OPS["2->1"] * in2
        fan2 = NUM_OPS["2->2"] * in2 + NUM_OPS["1->2"] * in1
        c = num_classes
        self.w11 = _uniform((c, NUM_OPS["1->1"], in1, out), fan1)
        self.w21 = _uniform((c, NUM_OPS["2->1"], in2, out), fan1)
        self.w22 = _uniform((c, NUM_OPS["2->2"], in2, out), fan2)
        self.w12 = _uniform((c, NUM_OPS["1->2"], in1, out), fan2)
        self.b1 = _uniform((c, out), fan1)
        self.b2_diag = _uniform((c, out), fan2)
        self.b2_all = _uniform((c, out), fan2)

    def forward(self, x: Tensor, a: Tensor, size_class: int = 0) -> tuple[Tensor, Tensor]:
        """``x`` [S, n, in1], ``a`` [S, n, n, in2] -> ([S, n, out], [S, n, n, out])."""
        c = size_class
        w11, w21, w22, w12 = self.w11[c], self.w21[c], self.w22[c], self.w12[c]
        diag, row, col, dmean, amean = _order2_stats(a)
        out = w11.shape[-1]
        # Every term is an order-1 (or order-0) summary times a weight; they are mixed in
        # two matmuls into four order-1 results: x', the value put on the diagonal of A',
        # the value broadcast along rows of A' (depends on i) and along columns (on j).
        per_node = torch.cat([x, diag, row, col], dim=-1)
        w_node = torch.cat([
            torch.cat([w11[0], w12[0], w12[2], w12[3]], dim=1),    # x_i
            torch.cat([w21[0], w22[2], w22[7], w22[8]], dim=1),    # A_ii
            torch.cat([w21[1], w22[3], w22[9], w22[10]], dim=1),   # mean_k A_ik
            torch.cat([w21[2], w22[4], w22[11], w22[12]], dim=1),  # mean_k A_ki
        ])
        per_graph = torch.cat([x.mean(dim=1), dmean, amean], dim=-1)
        zero = w11.new_zeros(w11.shape[1], out)
        w_graph = torch.cat([
            torch.cat([w11[1], w12[1], w12[4], zero], dim=1),                    # mean x
            torch.cat([w21[3], w22[5], w22[13], zero[:1].expand(w21.shape[1], -1)], dim=1),
            torch.cat([w21[4], w22[6], w22[14], zero[:1].expand(w21.shape[1], -1)], dim=1),
        ])
        bias = torch.cat([self.b1[c], self.b2_diag[c], self.b2_all[c], zero[0]])
        mixed = per_node @ w_node + (per_graph @ w_graph + bias)[:, None, :]
        x_out, on_diag, by_i, by_j = mixed.split(out, dim=-1)
        # order 2: A_ij and A_ji terms, then the broadcasts and the diagonal
        both = a @ torch.cat([w22[0], w22[1]], dim=1)
        a_out = both[..., :out] + both[..., out:].transpose(1, 2)
        a_out = a_out + by_i[:, :, None, :] + by_j[:, None, :, :]
        a_out.diagonal(dim1=1, dim2=2).add_(on_diag.transpose(1, 2))
        return x_out, a_out


class SpenInvariant(nn.Module):
    """The invariant readout of one subgraph: ``L_{2->0}(A) + L_{1->0}(x) + b`` per size class.

    Examples
    --------
    >>> inv = SpenInvariant(3, 4, 8, num_classes=1)
    >>> inv(torch.randn(5, 6, 3), torch.randn(5, 6, 6, 4)).shape
    torch.Size([5, 8])
    """

    def __init__(self, in1: int, in2: int, out: int, num_classes: int = 1):
        super().__init__()
        fan = NUM_OPS["2->0"] * in2 + NUM_OPS["1->0"] * in1
        self.w20 = _uniform((num_classes, NUM_OPS["2->0"], in2, out), fan)
        self.w10 = _uniform((num_classes, NUM_OPS["1->0"], in1, out), fan)
        self.b = _uniform((num_classes, out), fan)

    def forward(self, x: Tensor, a: Tensor, size_class: int = 0) -> Tensor:
        c = size_class
        _, _, _, dmean, amean = _order2_stats(a)
        return (dmean @ self.w20[c, 0] + amean @ self.w20[c, 1] + x.mean(dim=1) @ self.w10[c, 0]
                + self.b[c])


# ------------------------------------------------------------------------------ batches
@dataclass
class SpenGroup:
    """All subgraphs of one size in a batch.

    Attributes
    ----------
    size : int
        Number of nodes ``n`` of every subgraph in the group.
    subgraphs : Tensor
        [S] index of each subgraph in the batch (subgraph ``i`` belongs to graph
        ``SpenBatch.subgraph_graph[i]``).
    nodes : Tensor
        [S, n] batch node id of each member; column 0 is the root.
    pairs : Tensor
        [S, n, n] batch pair id of each ordered member pair.

    Examples
    --------
    >>> from wlkit import graphs
    >>> g = graphs.cycle(4).to_dgl()
    >>> group = SpenPolicy().collate([g], [SpenPolicy().prepare(g)]).groups[0]
    >>> group.size, group.nodes[0].tolist()
    (3, [0, 1, 3])
    """

    size: int
    subgraphs: Tensor
    nodes: Tensor
    pairs: Tensor

    def to(self, device: Any) -> SpenGroup:
        return SpenGroup(self.size, self.subgraphs.to(device), self.nodes.to(device),
                         self.pairs.to(device))


@dataclass
class SpenBatch:
    """The collated subgraph structure of a mini-batch (see :meth:`SpenPolicy.collate`).

    Attributes
    ----------
    groups : list of SpenGroup
        One per distinct subgraph size, by increasing size.
    pair_nodes : Tensor
        [P, 2] batch node ids ``(u, v)`` of every distinct ordered pair that lies in some
        subgraph (pairs of different subgraphs are shared: their features are averaged).
    edge_pair : Tensor
        [E] for every edge ``u -> v`` of the batched graph, the id of pair ``(u, v)``; -1 for
        self-loops. Parallel edges share their pair.
    pair_edges : Tensor
        [P] float: the number of edges ``u -> v`` of each pair (0 for non-edges and ``u == v``).
    node_count, pair_count : Tensor
        [N] / [P] float: in how many subgraphs each node / pair lies.
    subgraph_graph : Tensor
        [num_subgraphs] graph index of every subgraph.
    num_graphs : int

    Examples
    --------
    >>> from wlkit import graphs
    >>> gs = [graphs.cycle(5).to_dgl(), graphs.complete(4).to_dgl()]
    >>> policy = SpenPolicy()
    >>> batch = policy.collate(gs, [policy.prepare(g) for g in gs])
    >>> [(g.size, len(g.subgraphs)) for g in batch.groups], batch.num_pairs
    ([(3, 5), (4, 4)], 41)
    """

    groups: list[SpenGroup]
    pair_nodes: Tensor
    edge_pair: Tensor
    pair_edges: Tensor
    node_count: Tensor
    pair_count: Tensor
    subgraph_graph: Tensor
    num_graphs: int

    @property
    def num_pairs(self) -> int:
        return int(self.pair_nodes.shape[0])

    def to(self, device: Any) -> SpenBatch:
        """The same batch on ``device`` (Lightning calls this to move the batch)."""
        return SpenBatch([g.to(device) for g in self.groups], self.pair_nodes.to(device),
                         self.edge_pair.to(device), self.pair_edges.to(device),
                         self.node_count.to(device),
                         self.pair_count.to(device), self.subgraph_graph.to(device),
                         self.num_graphs)


def collate_prepared(graphs: list[Any], prepared: list[dict[str, Tensor]]) -> SpenBatch:
    """Batch prepared subgraph structures (the format of :meth:`SpenPolicy.prepare`).

    Node ids are shifted by each graph's node offset in ``dgl.batch(graphs)`` and pair ids
    by the pair counts of the previous graphs (edges keep their order in the batch).
    """
    if len(graphs) != len(prepared):
        raise ValueError(f"spen: {len(graphs)} graphs but {len(prepared)} prepared entries")
    node_off = node_offsets(graphs)
    device = node_off.device
    pair_counts = torch.tensor([len(p["pair_nodes"]) for p in prepared], dtype=torch.long,
                               device=device)
    pair_off = torch.cumsum(pair_counts, 0) - pair_counts
    sizes = torch.cat([p["sizes"] for p in prepared])
    members = torch.cat([p["members"] + node_off[i] for i, p in enumerate(prepared)])
    entries = torch.cat([p["pairs"] + pair_off[i] for i, p in enumerate(prepared)])
    pair_nodes = torch.cat([p["pair_nodes"] + node_off[i] for i, p in enumerate(prepared)])
    edge_pair = torch.cat([torch.where(p["edge_pairs"] >= 0, p["edge_pairs"] + pair_off[i], -1)
                           for i, p in enumerate(prepared)])
    subgraph_graph = torch.repeat_interleave(
        torch.arange(len(prepared), device=device),
        torch.tensor([len(p["sizes"]) for p in prepared], device=device))
    member_start = torch.cumsum(sizes, 0) - sizes
    entry_start = torch.cumsum(sizes * sizes, 0) - sizes * sizes
    groups = []
    for size in torch.unique(sizes).tolist():
        sel = torch.nonzero(sizes == size).flatten()
        nodes = members[member_start[sel, None] + torch.arange(size, device=device)]
        pairs = entries[entry_start[sel, None] + torch.arange(size * size, device=device)]
        groups.append(SpenGroup(size, sel, nodes, pairs.view(-1, size, size)))
    num_nodes = int(sum(g.num_nodes() for g in graphs))
    return SpenBatch(
        groups=groups, pair_nodes=pair_nodes, edge_pair=edge_pair,
        pair_edges=torch.bincount(edge_pair[edge_pair >= 0], minlength=len(pair_nodes)).float(),
        node_count=torch.bincount(members, minlength=num_nodes).float(),
        pair_count=torch.bincount(entries, minlength=len(pair_nodes)).float(),
        subgraph_graph=subgraph_graph, num_graphs=len(graphs))


# -------------------------------------------------------------------------------- model
class SpenBody(nn.Module):
    """SPEN's model half: ``forward(graph, batch) -> [batch_size, hidden]`` graph embeddings.

    Inputs: node states from the pipeline's ``node_input`` (features + encodings); pair
    states from a learned embedding of the pair type (non-edge / edge / diagonal) plus the
    pipeline's edge encoder on edge pairs when the dataset has edge features. At every layer
    each subgraph's tensors get two fixed channels appended: the root mark on order 1 (1 on
    the root row) and the adjacency on order 2 (1 on edges), so the subgraph structure is seen
    by every layer, not only the first (averaging would wash it out of the features).

    Each of the ``num_layers`` layers: :class:`SpenLayer` and a ReLU inside every subgraph
    (looped over the batch's distinct sizes), then every node and pair is averaged over the
    subgraphs holding it, followed by the pipeline's norm, dropout and (if ``residual``) a
    skip connection. The ReLU must come before the averaging: the mean over all roots of a
    map that is linear in the root mark does not depend on the mark. Readout:
    :class:`SpenInvariant` on every subgraph, mean over each graph's subgraphs.

    Size classes and unseen sizes: weights are tied per class (:func:`size_class` with
    ``size_bounds``). A class is marked *trained* the first time a training batch uses it (a
    buffer, saved with the weights). In evaluation, a subgraph whose class was never trained
    uses the weights of the nearest trained class (by class index; ties to the smaller); while
    no class is trained (a fresh model) each class uses its own weights.

    Parameters
    ----------
    parts : ModelParts
        The pipeline's pieces; SPEN uses ``hidden``, ``num_layers``, ``node_input``,
        ``make_norm``, ``make_edge_encoder``, ``dropout``, ``residual`` and ``activation``
        (inside each subgraph, before the averaging; ``identity`` would cancel the root
        mark). It builds its own
        layers, so the pipeline's ``layer``, ``aggregator`` and ``readout`` are not used.
    size_bounds : sequence of int
        Upper bounds of the size classes.
    root_mark : bool
        Whether the root-mark channel is set (False leaves it 0: no root information).

    Examples
    --------
    >>> import dgl
    >>> from wlkit import ModelParts, graphs
    >>> from wlkit.model.graph_model import NodeInput
    >>> parts = ModelParts(hidden=8, num_layers=2, node_input=NodeInput(8, 0, None),
    ...                    make_layer=None, make_norm=nn.Identity, make_readout=None,
    ...                    make_edge_encoder=None, uses_edge_features=False, dropout=0.0,
    ...                    residual=False, virtual_node=False)
    >>> policy = SpenPolicy()
    >>> body = policy.build(parts)
    >>> gs = [graphs.cycle(6).to_dgl(), graphs.complete(4).to_dgl()]
    >>> body(dgl.batch(gs), policy.collate(gs, [policy.prepare(g) for g in gs])).shape
    torch.Size([2, 8])
    """

    def __init__(self, parts: ModelParts, size_bounds: tuple[int, ...] = DEFAULT_SIZE_BOUNDS,
                 root_mark: bool = True):
        super().__init__()
        if parts.virtual_node:
            raise PluginError("subgraph_policy 'spen' does not use a virtual node; set "
                              "model.virtual_node: false")
        d = parts.hidden
        self.hidden = d
        self.out_dim = d
        self.size_bounds = tuple(int(b) for b in size_bounds)
        self.num_classes = len(self.size_bounds) + 1
        self.root_mark = root_mark
        self.node_input = parts.node_input
        self.pair_type = nn.Embedding(3, d)  # 0 non-edge, 1 edge, 2 diagonal (u == v)
        self.edge_encoder = (parts.make_edge_encoder() if parts.make_edge_encoder is not None
                             else None)
        self.layers = nn.ModuleList(SpenLayer(d + 1, d + 1, d, self.num_classes)
                                    for _ in range(parts.num_layers))
        self.node_norms = nn.ModuleList(parts.make_norm() for _ in range(parts.num_layers))
        self.pair_norms = nn.ModuleList(parts.make_norm() for _ in range(parts.num_layers))
        self.invariant = SpenInvariant(d + 1, d + 1, d, self.num_classes)
        self.dropout = nn.Dropout(parts.dropout)
        self.residual = parts.residual
        self.activation = layer_activation(parts.activation)
        self.register_buffer("trained_classes", torch.zeros(self.num_classes, dtype=torch.bool))

    def class_map(self, sizes: list[int]) -> dict[int, int]:
        """Size class whose weights each size uses now (marks classes trained in training)."""
        classes = {s: size_class(s, self.size_bounds) for s in sizes}
        if self.training:
            for c in set(classes.values()):
                self.trained_classes[c] = True
            return classes
        use = _nearest_trained(self.trained_classes.tolist())
        return {s: use[c] for s, c in classes.items()}

    def _subgraph_tensors(self, group: SpenGroup, x: Tensor, p: Tensor,
                          adjacency: Tensor) -> tuple[Tensor, Tensor]:
        xs, ps = x[group.nodes], p[group.pairs]
        mark = xs.new_zeros(group.size, 1)
        if self.root_mark:
            mark[0] = 1.0
        xs = torch.cat([xs, mark.expand(xs.shape[0], -1, -1)], dim=-1)
        ps = torch.cat([ps, adjacency[group.pairs][..., None]], dim=-1)
        return xs, ps

    def initial_pairs(self, graph: Any, batch: SpenBatch) -> Tensor:
        """[P, hidden] initial pair states."""
        # masks by value (where, multiply), not by indexing: no host sync
        kind = torch.where(batch.pair_nodes[:, 0] == batch.pair_nodes[:, 1], 2,
                           (batch.pair_edges > 0).long())
        p = self.pair_type(kind)
        if self.edge_encoder is not None and p.shape[0] > 0:
            # parallel edges add up, so the result does not depend on the edge order; edges
            # without a pair add exact zeros to pair 0
            on = batch.edge_pair >= 0
            encoded = self.edge_encoder(graph.edata["feat"])
            p = p.index_add(0, batch.edge_pair.clamp(min=0),
                            encoded * on.unsqueeze(-1).to(encoded.dtype))
        return p

    def forward(self, graph: Any, batch: SpenBatch) -> Tensor:
        if not isinstance(batch, SpenBatch):
            raise PluginError("subgraph_policy 'spen': the model needs the SpenBatch from "
                              f"SpenPolicy.collate, got {type(batch).__name__}")
        classes = self.class_map([g.size for g in batch.groups])
        x = self.node_input(graph)
        p = self.initial_pairs(graph, batch)
        adjacency = batch.pair_edges.to(x.dtype)
        # The subgraph averages are divided in float32 or wider (float64 under `wlkit separate
        # --float64`), then cast back to the states' dtype: bf16 cannot hold counts above
        # 256 exactly, and a float32 count must not promote bf16 states mid-model.
        wide = torch.promote_types(x.dtype, torch.float32)
        node_count = batch.node_count.clamp(min=1)[:, None].to(wide)
        pair_count = batch.pair_count.clamp(min=1)[:, None].to(wide)
        for layer, node_norm, pair_norm in zip(self.layers, self.node_norms, self.pair_norms):
            x_sum, p_sum = x.new_zeros(x.shape), p.new_zeros(p.shape)
            for group in batch.groups:
                xs, ps = self._subgraph_tensors(group, x, p, adjacency)
                # a layer = equivariant linear map + the model's activation (ReLU by
                # default) inside each subgraph; only then are the subgraphs averaged
                # (averaging a linear map's outputs would cancel the root mark: sum over
                # roots of a linear function of the mark is constant)
                xo, po = (self.activation(t) for t in layer(xs, ps, classes[group.size]))
                x_sum = x_sum.index_add(0, group.nodes.reshape(-1), xo.reshape(-1, self.hidden))
                p_sum = p_sum.index_add(0, group.pairs.reshape(-1), po.reshape(-1, self.hidden))
            x_new = self.dropout(node_norm((x_sum.to(wide) / node_count).to(x.dtype)))
            p_new = self.dropout(pair_norm((p_sum.to(wide) / pair_count).to(p.dtype)))
            x, p = (x + x_new, p + p_new) if self.residual else (x_new, p_new)
        pooled = x.new_zeros(batch.num_graphs, self.hidden)
        for group in batch.groups:
            xs, ps = self._subgraph_tensors(group, x, p, adjacency)
            pooled = pooled.index_add(0, batch.subgraph_graph[group.subgraphs],
                                      self.invariant(xs, ps, classes[group.size]))
        per_graph = torch.zeros(batch.num_graphs, dtype=torch.long,
                                device=pooled.device).index_add_(
            0, batch.subgraph_graph, torch.ones_like(batch.subgraph_graph))
        return pooled / per_graph.clamp(min=1)[:, None].to(pooled.dtype)


# ------------------------------------------------------------------------------ policy
class SpenPolicy(SubgraphPolicy):
    """SPEN (Mitton & Murray-Smith): one closed ``hops``-hop ego-net per node, processed by
    permutation-equivariant linear layers of orders 1 and 2 (see the module docstring).

    :meth:`prepare` returns, for one graph with ``n`` nodes (subgraph ``v`` rooted at ``v``):

    ``sizes`` [n]
        ``|S_v|``.
    ``members`` [sum |S_v|]
        the nodes of ``S_v``, subgraph after subgraph, root first then by increasing id.
    ``pairs`` [sum |S_v|^2]
        for every subgraph (in order) its ``|S_v| x |S_v|`` member pairs, row-major, as ids
        into ``pair_nodes``.
    ``pair_nodes`` [P, 2]
        the distinct ordered pairs ``(u, w)`` lying in some subgraph, sorted.
    ``edge_pairs`` [num_edges]
        for every edge ``u -> w`` the id of pair ``(u, w)`` (always present: ``u`` and ``w``
        share ``u``'s ego-net); -1 for self-loops.

    Ego-nets follow edges in both directions; self-loops are ignored. The order-2 input
    counts the edges ``u -> w`` of each pair (an adjacency channel, the multiplicity on
    multigraphs) and sums their encoded features.

    Parameters
    ----------
    hops : int
        Radius ``k`` of the ego-nets.
    root_mark : bool
        Whether the root-mark channel marks each subgraph's root.
    size_bounds : list of int
        Upper bounds of the subgraph-size classes that tie weights (see :func:`size_class`
        and :class:`SpenBody` for sizes unseen in training).

    Examples
    --------
    >>> import dgl
    >>> g = dgl.graph(([0, 1, 1, 2], [1, 0, 2, 1]))  # path 0 - 1 - 2
    >>> out = SpenPolicy().prepare(g)
    >>> out["sizes"].tolist(), out["members"].tolist()
    ([2, 3, 2], [0, 1, 1, 0, 2, 2, 1])
    """

    version = 2  # 2: edge_pairs (every edge, parallel edges summed) replaces pair_edge

    @property
    def wl_oracle(self) -> str | None:  # type: ignore[override]
        """SPEN's exact oracle for these hops, ``spen_h<hops>`` (SPEN-WL, <= 2-FWL; see
        :mod:`wlkit.plugins.policies.spen_oracle`). It reads the root mark and the exact
        subgraph sizes, so it bounds the model for every ``root_mark`` and ``size_bounds``."""
        return f"spen_h{self.hops}"

    def __init__(self, hops: int = 1, root_mark: bool = True,
                 size_bounds: list[int] | tuple[int, ...] = DEFAULT_SIZE_BOUNDS):
        # hops is checked once, by the record's Param schema; the schema cannot say what a
        # list holds, so size_bounds is checked here
        bounds = list(size_bounds)
        if any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in bounds):
            raise ValueError(f"spen: size_bounds must be positive ints, got {bounds!r}")
        if any(a >= b for a, b in itertools.pairwise(bounds)):
            raise ValueError(f"spen: size_bounds must be strictly increasing, got {bounds!r}")
        self.hops = hops
        self.root_mark = root_mark
        self.size_bounds = tuple(bounds)

    def cache_params(self) -> dict[str, Any]:
        return {"hops": self.hops}  # the rest does not change prepare()

    def prepare(self, graph: Any) -> dict[str, Tensor]:
        n = int(graph.num_nodes())
        src, dst = (t.numpy().astype(np.int64) for t in graph.edges())
        if n == 0:
            empty = torch.zeros(0, dtype=torch.long)
            return {"sizes": empty, "members": empty, "pairs": empty,
                    "pair_nodes": torch.zeros(0, 2, dtype=torch.long),
                    "edge_pairs": torch.full((len(src),), -1, dtype=torch.long)}
        loop = src == dst
        adj = sp.csr_matrix((np.ones(int((~loop).sum()), dtype=np.int32),
                             (src[~loop], dst[~loop])), shape=(n, n))
        adj = ((adj + adj.T) > 0).astype(np.int32)
        reach = sp.identity(n, dtype=np.int32, format="csr")
        for _ in range(self.hops):
            reach = ((reach + reach @ adj) > 0).astype(np.int32)
        reach = sp.csr_matrix(reach)
        reach.sort_indices()
        sizes = np.diff(reach.indptr).astype(np.int64)
        rows = np.repeat(np.arange(n), sizes)
        cols = reach.indices.astype(np.int64)
        members = cols[np.lexsort((cols, cols != rows, rows))]
        member_start = np.cumsum(sizes) - sizes
        squares = sizes * sizes
        entry_start = np.cumsum(squares) - squares
        keys = np.empty(int(squares.sum()), dtype=np.int64)
        for size in np.unique(sizes):
            subs = np.flatnonzero(sizes == size)
            m = members[member_start[subs, None] + np.arange(size)]
            key = (m[:, :, None] * n + m[:, None, :]).reshape(len(subs), -1)
            keys[entry_start[subs, None] + np.arange(size * size)] = key
        unique, inverse = np.unique(keys, return_inverse=True)
        pair_nodes = np.stack([unique // n, unique % n], axis=1)
        edge_pairs = np.full(len(src), -1, dtype=np.int64)
        edge_pairs[~loop] = np.searchsorted(unique, src[~loop] * n + dst[~loop])
        as_t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64))  # noqa: E731
        return {"sizes": as_t(sizes), "members": as_t(members), "pairs": as_t(inverse),
                "pair_nodes": as_t(pair_nodes), "edge_pairs": as_t(edge_pairs)}

    def collate(self, graphs: list[Any], prepared: list[dict[str, Tensor]]) -> SpenBatch:
        return collate_prepared(graphs, prepared)

    def build(self, parts: ModelParts) -> SpenBody:
        return SpenBody(parts, self.size_bounds, self.root_mark)


SPEN_APPROXIMATE = (
    "the root-mark (order 1) and adjacency (order 2) channels are appended at every layer, "
    "not only the first; the pipeline's norm follows the cross-subgraph averaging; the "
    "readout applies the invariant maps to the final averaged state of every subgraph; "
    "sizes whose class was never trained use the nearest trained class's weights (the "
    "paper does not say)"
)

SPEN_RECORD = SubgraphPolicyRecord(
    name="spen", factory=SpenPolicy,
    summary="SPEN: equivariant order-1/2 layers on every node's k-hop ego-net (Mitton & "
            "Murray-Smith).",
    params=(
        Param("hops", int, 1, "radius k of each node's closed ego-net", minimum=1, maximum=6),
        Param("root_mark", bool, True, "mark each subgraph's root in an order-1 channel"),
        Param("size_bounds", list, list(DEFAULT_SIZE_BOUNDS),
              "upper bounds of the subgraph-size classes that tie weights; sizes above the "
              "last share the last class"),
    ),
    permutation_invariant=True,
    stochastic=False,
    expressivity=">1-WL, bounded by its oracle spen_h<hops> (<= 2-FWL)",
    approximate=SPEN_APPROXIMATE,
)


RECORDS: tuple[SubgraphPolicyRecord, ...] = (SPEN_RECORD,)
"""This module's records, in registration order."""
