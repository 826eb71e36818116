"""Node marking, (k, l)-WL style with an MPNN as the base (Zhou et al., 2023)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, fields
from typing import Any

import dgl
import numpy as np
import torch
from torch import Tensor, nn

from wlkit import (
    ModelParts,
    Param,
    SubgraphPolicy,
    SubgraphPolicyRecord,
    WlkitError,
    node_offsets,
)

from ._bags import (
    Bag,
    BagNetwork,
    hop_distances,
    pool_segments,
    sample_subgraphs,
    undirected_edges,
)
from .marking_oracle import local_pairs_oracle

_POOLS = ("mean", "sum", "max")  # the poolings of _bags.pool_segments


@dataclass
class MarkedTuples:
    """The marked tuples of a mini-batch.

    Attributes
    ----------
    tuples : Tensor
        int64 ``[T, l]``: node ids in the batched graph; node ``tuples[t, j]`` gets mark
        ``j + 1`` in copy ``t``.
    tuple_graph : Tensor
        int64 ``[T]``: graph of every tuple (non-decreasing).
    num_graphs : int
        Graphs in the batch.
    chunks : tuple of int
        Boundaries ``0 = b_0 < b_1 < ... = T`` of the tuple chunks evaluation embeds one at
        a time (:attr:`NodeMarkingPolicy.chunk_nodes`); empty means one chunk.
    copy_nodes, copy_edges : numpy.ndarray or None
        Host-side prefix sums ``[T + 1]`` of the copies' node and edge counts: the sizes of
        any run of copies without reading them back from the device.
    """

    tuples: Tensor
    tuple_graph: Tensor
    num_graphs: int
    chunks: tuple[int, ...] = ()
    copy_nodes: np.ndarray | None = None
    copy_edges: np.ndarray | None = None

    def sizes(self, start: int, stop: int) -> tuple[int, int] | None:
        """Nodes and edges of copies ``start:stop`` (None when unknown)."""
        if self.copy_nodes is None or self.copy_edges is None:
            return None
        return (int(self.copy_nodes[stop] - self.copy_nodes[start]),
                int(self.copy_edges[stop] - self.copy_edges[start]))

    def to(self, device: Any) -> MarkedTuples:
        return MarkedTuples(**{f.name: (getattr(self, f.name).to(device)
                                        if isinstance(getattr(self, f.name), Tensor)
                                        else getattr(self, f.name)) for f in fields(self)})


class NodeMarkingPolicy(SubgraphPolicy):
    """Mark ``l`` nodes with distinct ids, run the base MPNN, pool over the marked tuples.

    For every ordered ``l``-tuple of distinct nodes (``l`` = ``marked`` in {1, 2}) the whole
    graph is copied and node ``tuple[j]`` gets a learned mark vector for id ``j + 1`` added
    to its input encoding. The pipeline's layers run on every copy, the pipeline's readout
    pools each copy, a Linear + ELU maps each copy's embedding (without it, a linear
    readout followed by a linear pool would only see the union of all copies' node
    colours, not which colours share a copy), and ``tuple_pool`` pools the copies of a
    graph. Pooling over *ordered*
    tuples symmetrises over the ``l!`` orders of the ids, so the model is permutation
    invariant. This is the (1, l)-WL of Zhou et al., "From Relational Pooling to Subgraph
    GNNs" (ICML 2023), with an MPNN for 1-WL: ``l = 1`` is node marking (DS-WL over
    node-marked copies); ``l = 2`` separates strongly regular pairs (Shrikhande vs 4x4 rook)
    and CFI(K4), which 2-FWL cannot.

    Costs and their reductions: ``radius`` keeps only tuples whose nodes are pairwise at
    distance <= radius (``l = 2``); ``sample_fraction`` < 1 keeps
    ``ceil(fraction * T)`` random tuples per graph in each training step; evaluation always
    uses every tuple. The tuples are computed once per graph and cached; the copies are
    expanded on the model's device per batch. In evaluation the copies are expanded and
    embedded in chunks of about ``chunk_nodes`` copy nodes and pooled once, so memory is
    bounded whatever the graph (``l = 2`` on a 200-node graph is 39,800 copies, 8 million
    copy nodes) and the output does not depend on the chunk size: in DS mode a copy's
    embedding depends on that copy alone. Training embeds a batch's (sampled) copies in one
    piece, so that batch norm sees the whole batch; bound its memory with
    ``sample_fraction`` and ``train.batch_size``.

    Parameters
    ----------
    marked : int
        ``l``, the number of marked nodes (1 or 2).
    radius : int or None
        Keep tuples whose nodes are within this distance of each other (``l = 2`` only);
        None keeps every tuple.
    sample_fraction : float
        Fraction of each graph's tuples used per training step.
    tuple_pool : {"mean", "sum", "max"}
        Pooling of the copies of a graph.
    chunk_nodes : int
        Copy nodes per evaluation chunk (a memory bound; the output is the same for every
        value). A chunk holds at most ``chunk_nodes`` plus one copy's nodes. Keep a chunk's
        activations (``chunk_nodes`` x width x 4 bytes) under glibc's 32 MiB mmap limit:
        larger ones are mapped afresh, and page-faulted, on every call.

    Examples
    --------
    >>> from wlkit.graphs import cycle
    >>> NodeMarkingPolicy(marked=2, radius=1).prepare(cycle(4).to_dgl())["tuples"].tolist()
    [[0, 1], [0, 3], [1, 0], [1, 2], [2, 1], [2, 3], [3, 0], [3, 2]]
    """

    def __init__(self, marked: int = 1, radius: int | None = None,
                 sample_fraction: float = 1.0, tuple_pool: str = "mean",
                 chunk_nodes: int = 16_384):
        # ranges and choices are checked once, by the record's Param schema; what it cannot
        # express (one parameter needing another) is checked here
        if radius is not None and marked == 1:
            raise WlkitError("subgraph_policy 'node_marking': radius restricts pairs of marked "
                             "nodes; it needs marked: 2\n"
                             "    hint: set marked: 2, or remove radius")
        self.marked = marked
        self.radius = radius
        self.sample_fraction = sample_fraction
        self.tuple_pool = tuple_pool
        self.chunk_nodes = chunk_nodes

    @property
    def wl_oracle(self) -> str:
        """The exact oracle bounding this policy: DS-WL over node-marked copies (l = 1), over
        the n (n - 1) 2-node-marked copies (l = 2; the built-in's extra n copies with one
        node marked 3 add nothing for n >= 2: copy (u, v)'s colour determines copy u's), or
        over the copies of pairs within ``radius`` (``two_node_marked_r<radius>``,
        :mod:`~wlkit.plugins.policies.marking_oracle`)."""
        return "node_marked" if self.marked == 1 else local_pairs_oracle(self.radius)

    def cache_params(self) -> dict[str, Any]:
        return {"marked": self.marked, "radius": self.radius}

    def prepare(self, graph: dgl.DGLGraph) -> dict[str, Tensor]:
        """``tuples`` [T, l]: the marked tuples of one graph (local node ids, row-major)."""
        n = graph.num_nodes()
        if self.marked == 1:
            return {"tuples": torch.arange(n, dtype=torch.long).view(-1, 1)}
        if self.radius is None:
            ok = ~np.eye(n, dtype=bool)
        else:
            src, dst = undirected_edges(graph)
            dist = hop_distances(n, src, dst, limit=self.radius)
            ok = dist >= 1
        u, v = np.nonzero(ok)
        return {"tuples": torch.from_numpy(np.stack([u, v], axis=1).astype(np.int64))}

    def collate(self, graphs: list[dgl.DGLGraph],
                prepared: list[dict[str, Tensor]]) -> MarkedTuples:
        offsets = node_offsets(graphs)
        device = offsets.device
        counts = torch.tensor([len(p["tuples"]) for p in prepared], dtype=torch.long,
                              device=device)
        tuples = (torch.cat([p["tuples"] for p in prepared]) if prepared
                  else torch.zeros(0, self.marked, dtype=torch.long, device=device))
        tuple_graph = torch.repeat_interleave(torch.arange(len(graphs), device=device), counts)
        # host-side sizes (numpy, no tensor): the chunks cost the data loader no sync
        per_graph = [len(p["tuples"]) for p in prepared]
        copy_sizes = np.repeat([g.num_nodes() for g in graphs], per_graph)
        copy_edges = np.repeat([g.num_edges() for g in graphs], per_graph)
        return MarkedTuples(tuples + offsets[tuple_graph].unsqueeze(-1), tuple_graph,
                            len(graphs), chunk_bounds(copy_sizes, self.chunk_nodes),
                            np.concatenate([[0], np.cumsum(copy_sizes)]).astype(np.int64),
                            np.concatenate([[0], np.cumsum(copy_edges)]).astype(np.int64))

    def build(self, parts: ModelParts) -> nn.Module:
        return NodeMarkingModel(parts, self.marked, self.sample_fraction, self.tuple_pool)


NODE_MARKING_RECORD = SubgraphPolicyRecord(
    name="node_marking", factory=NodeMarkingPolicy,
    summary="(1,l)-WL: l nodes marked with distinct ids, base MPNN, pooled over "
            "ordered tuples.",
    params=(
        Param("marked", int, 1, "l, the number of marked nodes", choices=(1, 2)),
        Param("radius", int, None, "only tuples within this distance (l = 2)",
              minimum=1, nullable=True),
        Param("sample_fraction", float, 1.0,
              "fraction of each graph's tuples per training step (eval uses all)",
              minimum=0.0, maximum=1.0, exclusive_minimum=True),
        Param("tuple_pool", str, "mean", "pooling over the copies of a graph",
              choices=_POOLS),
        # 16,384 x width 64 x 4 bytes = 4 MiB per activation: below glibc's mmap threshold, so
        # freed chunks are reused; at 262,144 (64 MiB) every tensor was a fresh mmap whose
        # pages the kernel faults in and zeroes: 3.2x the wall time on EXP (benchmarks/README)
        Param("chunk_nodes", int, 16_384,
              "copy nodes per evaluation chunk (memory bound; output unchanged)", minimum=1),
    ),
    expressivity=">1-WL (l=1: node-marked DS-WL); l=2: not 2-FWL-bounded",
)


class NodeMarkingModel(nn.Module):
    """Model half of :class:`NodeMarkingPolicy`: copies, marks, base MPNN, two poolings."""

    def __init__(self, parts: ModelParts, marked: int, fraction: float, pool: str):
        super().__init__()
        self.network = BagNetwork(parts, num_marks=marked, mode="ds", bag_pool=pool,
                                  subgraph_mlp=True)
        self.fraction = fraction
        self.out_dim = self.network.out_dim

    def forward(self, graph: dgl.DGLGraph, batch: MarkedTuples) -> Tensor:
        tuples, tuple_graph = batch.tuples, batch.tuple_graph
        if self.training:
            if self.fraction < 1.0:
                keep = sample_subgraphs(tuple_graph, batch.num_graphs, self.fraction)
                tuples, tuple_graph = tuples[keep], tuple_graph[keep]
                sizes = None
            else:
                sizes = batch.sizes(0, len(tuple_graph))
            return self.network(graph, expand_copies(graph, tuples, tuple_graph,
                                                     batch.num_graphs, sizes))
        network = self.network
        states = network.node_input(graph)
        bounds = batch.chunks or (0, len(tuple_graph))
        pieces = [network.subgraph_embeddings(
                      graph, expand_copies(graph, tuples[a:b], tuple_graph[a:b],
                                           batch.num_graphs, batch.sizes(a, b)), states)
                  for a, b in itertools.pairwise(bounds)]
        h_sub = torch.cat(pieces)  # bounds has >= 2 entries: at least one (maybe empty) piece
        counts = torch.bincount(tuple_graph, minlength=batch.num_graphs)
        return pool_segments(counts, h_sub, network.bag_pool)


def chunk_bounds(copy_sizes: np.ndarray, budget: int) -> tuple[int, ...]:
    """Boundaries of consecutive chunks of copies with about ``budget`` nodes each.

    Copy ``t`` goes to chunk ``floor(start_t / budget)``, ``start_t`` being the nodes of the
    copies before it, so a chunk holds at most ``budget`` plus one copy's nodes. ``()`` when
    one chunk holds them all (the common, small case).

    Examples
    --------
    >>> chunk_bounds(np.array([4, 4, 4, 4, 4]), 8)
    (0, 2, 4, 5)
    >>> chunk_bounds(np.array([4, 4]), 8)
    ()
    """
    sizes = np.asarray(copy_sizes, dtype=np.int64)
    if int(sizes.sum()) <= budget:
        return ()
    chunk = (np.cumsum(sizes) - sizes) // budget
    starts = np.flatnonzero(np.diff(chunk)) + 1
    return (0, *starts.tolist(), len(sizes))


def expand_copies(graph: dgl.DGLGraph, tuples: Tensor, tuple_graph: Tensor,
                  num_graphs: int, sizes: tuple[int, int] | None = None) -> Bag:
    """One full copy of its graph per tuple, with the tuple's nodes marked 1..l (vectorised).

    ``sizes``: the copies' total nodes and edges, when the caller knows them on the host
    (:meth:`MarkedTuples.sizes`); without them the expansion reads them from the device.
    """
    total_nodes, total_edges = sizes if sizes is not None else (None, None)
    device = tuples.device
    num_nodes = graph.batch_num_nodes().to(device)
    num_edges = graph.batch_num_edges().to(device)
    node_start = torch.cumsum(num_nodes, 0) - num_nodes
    edge_start = torch.cumsum(num_edges, 0) - num_edges
    count = len(tuple_graph)
    n_t, m_t = num_nodes[tuple_graph], num_edges[tuple_graph]
    arange_t = torch.arange(count, device=device)
    node_subgraph = torch.repeat_interleave(arange_t, n_t, output_size=total_nodes)
    copy_start = torch.cumsum(n_t, 0) - n_t
    local = torch.arange(len(node_subgraph), device=device) - copy_start[node_subgraph]
    base = node_start[tuple_graph]
    node_index = base[node_subgraph] + local
    edge_subgraph = torch.repeat_interleave(arange_t, m_t, output_size=total_edges)
    edge_local = (torch.arange(len(edge_subgraph), device=device)
                  - (torch.cumsum(m_t, 0) - m_t)[edge_subgraph])
    edge_index = edge_start[tuple_graph][edge_subgraph] + edge_local
    src, dst = graph.edges()
    shift = copy_start[edge_subgraph] - base[edge_subgraph]
    mark = torch.zeros(len(node_subgraph), dtype=torch.long, device=device)
    for j in range(tuples.shape[1]):
        mark[copy_start + tuples[:, j] - base] = j + 1
    return Bag(node_index=node_index, node_subgraph=node_subgraph, node_mark=mark,
               edge_index=edge_index, edge_src=src.long()[edge_index] + shift,
               edge_dst=dst.long()[edge_index] + shift, subgraph_graph=tuple_graph,
               num_graphs=num_graphs)


RECORDS: tuple[SubgraphPolicyRecord, ...] = (NODE_MARKING_RECORD,)
"""This module's records, in registration order."""
