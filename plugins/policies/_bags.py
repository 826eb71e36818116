"""Bags of subgraphs shared by the ego-net and node-marking policies.

A bag of a mini-batch is one disjoint union of subgraphs laid out as index tensors into the
batched input graph (:class:`Bag`). The model half turns it into a DGL graph whose "graphs"
are the subgraphs, runs the pipeline's layers on it (:class:`BagNetwork`) and pools twice:
nodes to subgraphs with the pipeline's readout, subgraphs to graphs with ``bag_pool``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import dgl
import numpy as np
import torch
from torch import Tensor, nn

from wlkit import MessagePassing, ModelParts, WlkitError, layer_activation, segment_reduce

try:  # DGL's graph constructor without the id check of dgl.graph (see edges_graph)
    from dgl.convert import create_from_edges as _create_from_edges
except ImportError:  # pragma: no cover - another DGL layout
    _create_from_edges = None

__all__ = ["Bag", "BagNetwork", "hop_distances", "pool_segments", "sample_subgraphs",
           "undirected_edges"]


@dataclass
class Bag:
    """Subgraphs of a batch of graphs as index tensors into the batched graph.

    Subgraphs are numbered ``0..S-1`` in graph order; the nodes (and edges) of one subgraph
    are contiguous and in subgraph order, so the bag is a valid DGL batch of ``S`` graphs.

    Attributes
    ----------
    node_index : Tensor
        int64 ``[Nb]``: the node of the batched graph that bag node ``i`` copies.
    node_subgraph : Tensor
        int64 ``[Nb]``: subgraph of bag node ``i`` (non-decreasing).
    node_mark : Tensor
        int64 ``[Nb]``: mark id of bag node ``i`` (0 = unmarked).
    edge_index : Tensor
        int64 ``[Eb]``: the edge of the batched graph that bag edge ``j`` copies.
    edge_src, edge_dst : Tensor
        int64 ``[Eb]``: endpoints of bag edge ``j`` as bag node ids.
    subgraph_graph : Tensor
        int64 ``[S]``: graph of the batch each subgraph belongs to (non-decreasing).
    num_graphs : int
        Graphs in the batch (some may have no subgraph).
    """

    node_index: Tensor
    node_subgraph: Tensor
    node_mark: Tensor
    edge_index: Tensor
    edge_src: Tensor
    edge_dst: Tensor
    subgraph_graph: Tensor
    num_graphs: int

    @property
    def num_subgraphs(self) -> int:
        return int(self.subgraph_graph.numel())

    def to(self, device: Any) -> Bag:
        """The same bag on ``device`` (Lightning moves batches with ``.to``)."""
        return Bag(**{f.name: (getattr(self, f.name).to(device)
                               if isinstance(getattr(self, f.name), Tensor)
                               else getattr(self, f.name)) for f in fields(self)})

    def select(self, keep: Tensor) -> Bag:
        """The bag restricted to the subgraphs where the bool mask ``keep`` ([S]) is True."""
        node_keep = keep[self.node_subgraph]
        edge_keep = node_keep[self.edge_src]
        new_node = torch.cumsum(node_keep.long(), 0) - 1
        new_sub = torch.cumsum(keep.long(), 0) - 1
        return Bag(
            node_index=self.node_index[node_keep],
            node_subgraph=new_sub[self.node_subgraph[node_keep]],
            node_mark=self.node_mark[node_keep],
            edge_index=self.edge_index[edge_keep],
            edge_src=new_node[self.edge_src[edge_keep]],
            edge_dst=new_node[self.edge_dst[edge_keep]],
            subgraph_graph=self.subgraph_graph[keep],
            num_graphs=self.num_graphs,
        )

    def subgraphs_per_graph(self) -> Tensor:
        return _counts(self.subgraph_graph, self.num_graphs)

    def dgl_graph(self, graph: dgl.DGLGraph, edge_features: bool) -> dgl.DGLGraph:
        """The bag as a batched DGL graph (one "graph" per subgraph).

        With ``edge_features``, ``edata['feat']`` is copied from ``graph`` along
        :attr:`edge_index` (molecules keep their bond features inside every subgraph).
        """
        bag = edges_graph(self.edge_src, self.edge_dst, int(self.node_index.numel()))
        sizes = _counts(self.node_subgraph, self.num_subgraphs)
        edge_counts = _counts(self.node_subgraph[self.edge_src], self.num_subgraphs)
        bag.set_batch_num_nodes(sizes)
        bag.set_batch_num_edges(edge_counts)
        if edge_features and "feat" in graph.edata:
            bag.edata["feat"] = graph.edata["feat"][self.edge_index]
        return bag


def edges_graph(src: Tensor, dst: Tensor, num_nodes: int) -> dgl.DGLGraph:
    """``dgl.graph((src, dst), num_nodes=num_nodes)`` on the ids' device, for ids known to be
    below ``num_nodes``.

    ``dgl.graph`` reads ``max(src)`` and ``max(dst)`` back from the device to check the ids,
    even with ``num_nodes`` given (2 host syncs per bag); DGL's ``create_from_edges``, which
    it calls after the check, builds the same graph without them.
    """
    if _create_from_edges is None:  # pragma: no cover
        return dgl.graph((src, dst), num_nodes=num_nodes, device=src.device)
    return _create_from_edges("coo", (src, dst), "_N", "_E", "_N", num_nodes, num_nodes)


def _counts(index: Tensor, size: int) -> Tensor:
    """``torch.bincount(index, minlength=size)`` for ``index < size``, without its host sync
    (bincount's output length depends on the values)."""
    return torch.zeros(size, dtype=torch.long, device=index.device).index_add_(
        0, index, torch.ones_like(index))


def sample_subgraphs(subgraph_graph: Tensor, num_graphs: int, fraction: float,
                     generator: torch.Generator | None = None) -> Tensor:
    """Bool mask [S]: ``ceil(fraction * S_g)`` subgraphs of every graph ``g``, uniformly.

    As ESAN's sampler, every graph with subgraphs keeps at least one. The draw happens on the
    device of ``subgraph_graph``.
    """
    total = subgraph_graph.numel()
    device = subgraph_graph.device
    counts = torch.bincount(subgraph_graph, minlength=num_graphs)
    wanted = torch.ceil(counts.double() * fraction).long().clamp(min=1)
    score = torch.rand(total, device=device, generator=generator)
    order = torch.argsort(score)
    order = order[torch.argsort(subgraph_graph[order], stable=True)]
    starts = torch.cumsum(counts, 0) - counts
    owner = subgraph_graph[order]
    rank = torch.arange(total, device=device) - starts[owner]
    keep = torch.zeros(total, dtype=torch.bool, device=device)
    keep[order] = rank < wanted[owner]
    return keep


# ------------------------------------------------------------------ CPU-side graph helpers
def undirected_edges(graph: dgl.DGLGraph) -> tuple[np.ndarray, np.ndarray]:
    """Arc endpoints of a DGL graph as int64 numpy arrays (edge-id order)."""
    src, dst = graph.edges()
    return src.numpy().astype(np.int64), dst.numpy().astype(np.int64)


def hop_distances(num_nodes: int, src: np.ndarray, dst: np.ndarray,
                  limit: int | None = None) -> np.ndarray:
    """Shortest-path distances [n, n] (int64; -1 = unreachable or beyond ``limit``).

    Breadth-first search from every node at once on the symmetrised adjacency (dense, so
    meant for the small graphs of molecule and WL benchmarks), stopping after ``limit``
    hops when given.
    """
    n = num_nodes
    dist = np.full((n, n), -1, dtype=np.int64)
    if n == 0:
        return dist
    adj = np.zeros((n, n), dtype=np.float32)  # float counts are exact below 2**24
    adj[src, dst] = 1.0
    adj[dst, src] = 1.0
    np.fill_diagonal(adj, 0.0)
    reached = np.eye(n, dtype=bool)
    dist[reached] = 0
    frontier = reached
    hops = 0
    while limit is None or hops < limit:
        grown = (frontier.astype(np.float32) @ adj) > 0
        new = grown & ~reached
        if not new.any():
            break
        hops += 1
        dist[new] = hops
        reached |= new
        frontier = new
    return dist


# ------------------------------------------------------------------ model side
def pool_segments(counts: Tensor, rows: Tensor, op: str) -> Tensor:
    """Pool consecutive segments of ``rows`` ([sum(counts), d]) with mean, sum or max.

    A graph without subgraphs pools to zeros (DGL's segment mean gives NaN when every
    segment is empty).
    """
    out = rows.new_zeros(len(counts), rows.shape[1])
    if rows.shape[0] == 0:
        return out
    if op == "max":
        return segment_reduce(counts, rows, "max")
    total = segment_reduce(counts, rows, "sum")
    if op == "sum":
        return total
    return total / counts.clamp(min=1).unsqueeze(-1).to(rows.dtype)


class BagNetwork(nn.Module):
    """The pipeline's layers on a bag of subgraphs, pooled to one vector per graph.

    Node states start as the pipeline's input encoding of the copied node plus a learned
    vector per mark id (ESAN's root-mark channel, or the tuple ids of node marking). Then

    * ``ds``: :class:`wlkit.MessagePassing` on the bag (DS-GNN, Bevilacqua et al. 2022);
    * ``dss``: every layer adds, to the layer on the bag, a second layer run on the original
      graph over the mean of each node's copies, broadcast back to the copies (DSS-GNN:
      ``h_i <- norm(L1(A_i, h_i)) + norm(L2(A, mean_j h_j))``, ESAN's form).

    The pipeline's readout pools each subgraph; with ``subgraph_mlp`` a Linear + ELU is
    applied per subgraph (ESAN's DS invariant network); ``bag_pool`` (mean, sum or max)
    pools the subgraphs of each graph.

    Parameters
    ----------
    parts : ModelParts
        The pipeline's components.
    num_marks : int
        Number of distinct mark ids (0 = no marks).
    mode : {"ds", "dss"}
        Siamese subgraph network or with cross-subgraph message passing.
    bag_pool : {"mean", "sum", "max"}
        Pooling over the subgraphs of a graph.
    subgraph_mlp : bool
        Apply Linear + ELU to each subgraph embedding before ``bag_pool``.
    """

    def __init__(self, parts: ModelParts, num_marks: int = 0, mode: str = "ds",
                 bag_pool: str = "mean", subgraph_mlp: bool = False):
        super().__init__()
        if mode not in ("ds", "dss"):
            raise ValueError(f"mode must be ds or dss, got {mode!r}")
        if bag_pool not in ("mean", "sum", "max"):
            raise ValueError(f"bag_pool must be mean, sum or max, got {bag_pool!r}")
        if mode == "dss" and parts.virtual_node:
            raise WlkitError("the dss readout does not support model.virtual_node\n"
                             "    hint: set model.virtual_node: false or use mode: ds")
        self.node_input = parts.node_input
        self.marks = (nn.Embedding(num_marks + 1, parts.hidden, padding_idx=0)
                      if num_marks else None)
        self.mode = mode
        self.edge_features = parts.uses_edge_features
        if mode == "ds":
            self.stack = MessagePassing(parts)
        else:
            self.layers = nn.ModuleList(parts.make_layer() for _ in range(parts.num_layers))
            self.cross = nn.ModuleList(parts.make_layer() for _ in range(parts.num_layers))
            self.norms = nn.ModuleList(parts.make_norm() for _ in range(parts.num_layers))
            self.cross_norms = nn.ModuleList(parts.make_norm()
                                             for _ in range(parts.num_layers))
            self.dropout = nn.Dropout(parts.dropout)
            self.residual = parts.residual
            self.activation = layer_activation(parts.activation)
        self.readout = parts.make_readout(parts.hidden)
        self.out_dim = self.readout.out_dim
        self.subgraph_mlp = (nn.Sequential(nn.Linear(self.out_dim, self.out_dim), nn.ELU())
                             if subgraph_mlp else None)
        self.bag_pool = bag_pool

    def forward(self, graph: dgl.DGLGraph, bag: Bag) -> Tensor:
        h_sub = self.subgraph_embeddings(graph, bag, self.node_input(graph))
        return pool_segments(bag.subgraphs_per_graph(), h_sub, self.bag_pool)

    def subgraph_embeddings(self, graph: dgl.DGLGraph, bag: Bag, node_states: Tensor
                            ) -> Tensor:
        """``[S, out_dim]``: every subgraph's embedding (after ``subgraph_mlp``), before
        ``bag_pool``. ``node_states`` is the input encoding of ``graph``'s nodes.

        In ``ds`` mode a subgraph's embedding depends on that subgraph alone, so a bag can be
        embedded in pieces (node marking's memory-bounded chunks) and pooled once.
        """
        h = node_states[bag.node_index]
        if bag.node_index.numel() == 0:
            # no subgraph has a node (e.g. a batch of single nodes, node-deleted): every
            # subgraph pools to zeros, as an empty graph does in wlkit's readouts
            h_sub = h.new_zeros(bag.num_subgraphs, self.out_dim)
        else:
            if self.marks is not None:
                h = h + self.marks(bag.node_mark)
            bag_graph = bag.dgl_graph(graph, self.edge_features)
            if self.mode == "ds":
                h = self.stack(bag_graph, h)
            else:
                h = self._dss(graph, bag_graph, bag, h)
            h_sub = self.readout(bag_graph, h)
        if self.subgraph_mlp is not None:
            h_sub = self.subgraph_mlp(h_sub)
        return h_sub

    def _dss(self, graph: dgl.DGLGraph, bag_graph: dgl.DGLGraph, bag: Bag, h: Tensor) -> Tensor:
        n = graph.num_nodes()
        index = bag.node_index
        copies = torch.bincount(index, minlength=n).clamp(min=1).unsqueeze(-1).to(h.dtype)
        bag_edges = bag_graph.edata["feat"] if self.edge_features else None
        edges = graph.edata["feat"] if self.edge_features else None
        last = len(self.layers) - 1
        for i in range(len(self.layers)):
            mean = torch.zeros(n, h.shape[1], dtype=h.dtype, device=h.device)
            mean = mean.index_add(0, index, h) / copies
            cross = self.cross_norms[i](self.cross[i](graph, mean, edges))
            update = self.norms[i](self.layers[i](bag_graph, h, bag_edges)) + cross[index]
            if i < last:
                update = self.activation(update)
            update = self.dropout(update)
            h = h + update if self.residual else update
        return h
