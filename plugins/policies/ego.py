"""ESAN-style bags of subgraphs: k-hop ego-nets (EGO, EGO+), node-deleted and edge-deleted."""

from __future__ import annotations

import math
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

from ._bags import Bag, BagNetwork, hop_distances, sample_subgraphs, undirected_edges
from .esan_oracle import esan_oracle

BAGS = ("ego", "node_deleted", "edge_deleted")
_POOLS = ("mean", "sum", "max")  # the poolings of _bags.pool_segments

EGO_APPROXIMATE = (
    "subgraphs are the induced subgraphs themselves (as in the paper and the DS-WL oracle); "
    "ESAN's code keeps all n nodes in every subgraph, isolated outside the ego-net or deleted, "
    "which changes mean pooling; the root mark is a learned vector added to the root's input "
    "(ESAN concatenates a 2-d one-hot)"
)


class EgoNetPolicy(SubgraphPolicy):
    """Equivariant Subgraph Aggregation Networks over a bag of subgraphs (Bevilacqua et al.,
    ICLR 2022).

    The bag of a graph, built once per graph and cached:

    * ``ego``: for every node v, the subgraph induced by the nodes at distance <= ``hops``
      from v (EGO); with ``root_mark`` the root v carries a learned mark (EGO+);
    * ``node_deleted``: for every node v, the graph with v and its edges removed;
    * ``edge_deleted``: for every undirected edge, the graph without it (a graph without
      edges is its own only subgraph).

    Node and edge features (e.g. bond features of molecules) are carried into every
    subgraph. In training, ``sample_fraction`` < 1 keeps ``ceil(fraction * |bag|)`` random
    subgraphs per graph and forward pass (ESAN's stochastic sampling); in evaluation the
    whole bag is used. The model half is :class:`~wlkit.plugins.policies._bags.BagNetwork`:
    the pipeline's layers on the bag (``mode: ds``) or with cross-subgraph message passing
    (``mode: dss``), the pipeline's readout per subgraph, then ``bag_pool`` over subgraphs.

    Parameters
    ----------
    subgraphs : {"ego", "node_deleted", "edge_deleted"}
        The bag.
    hops : int
        Radius of the ego-nets.
    root_mark : bool
        Mark the root of every ego-net (EGO+). Only for ``ego``.
    mode : {"ds", "dss"}
        DS-GNN (shared network on every subgraph) or DSS-GNN (plus a layer on the original
        graph over the mean of each node's copies, added to every copy).
    sample_fraction : float
        Fraction of each bag used per training step; 1.0 uses the whole bag.
    bag_pool : {"mean", "sum", "max"}
        Pooling of the subgraph embeddings of a graph.
    subgraph_mlp : bool
        Linear + ELU on each subgraph embedding before pooling (ESAN's DS network). Applied
        in ``ds`` mode only, as in ESAN.

    Examples
    --------
    >>> from wlkit.graphs import cycle
    >>> policy = EgoNetPolicy(subgraphs="ego", hops=1, root_mark=True)
    >>> prepared = policy.prepare(cycle(5).to_dgl())
    >>> prepared["sizes"].tolist()  # every 1-hop ego-net of C5 is a path on 3 nodes
    [3, 3, 3, 3, 3]
    >>> prepared["arc_counts"].tolist()  # 2 undirected edges = 4 arcs each
    [4, 4, 4, 4, 4]
    """

    def __init__(self, subgraphs: str = "ego", hops: int = 1, root_mark: bool = False,
                 mode: str = "ds", sample_fraction: float = 1.0, bag_pool: str = "mean",
                 subgraph_mlp: bool = True):
        # ranges and choices are checked once, by the record's Param schema; what it cannot
        # express (one parameter needing another) is checked here
        if root_mark and subgraphs != "ego":
            raise WlkitError("subgraph_policy 'ego': root_mark only applies to subgraphs: ego "
                             "(node- and edge-deleted subgraphs have no root)\n"
                             "    hint: set root_mark: false, or subgraphs: ego")
        self.subgraphs = subgraphs
        self.hops = hops
        self.root_mark = root_mark
        self.mode = mode
        self.sample_fraction = sample_fraction
        self.bag_pool = bag_pool
        self.subgraph_mlp = subgraph_mlp

    @property
    def wl_oracle(self) -> str | None:
        """The exact oracle bounding this policy (``wlkit.wl``).

        DS-GNN on a bag is bounded by DS-WL on that bag (built-ins ``ego1``, ``ego2`` (+),
        ``node_deleted``; ``esan_ds_edge_deleted`` and ``esan_ds_ego<k>`` for larger radii),
        DSS-GNN by DSS-WL on it (``esan_dss_<bag>``); see
        :mod:`wlkit.plugins.policies.esan_oracle`.
        """
        return esan_oracle(self.subgraphs, self.mode, self.hops, self.root_mark)

    def cache_params(self) -> dict[str, Any]:
        # Only what changes prepare()'s output; the model settings share one cache.
        return {"subgraphs": self.subgraphs,
                "hops": self.hops if self.subgraphs == "ego" else None,
                "root_mark": self.root_mark}

    # ------------------------------------------------------------------ CPU side
    def prepare(self, graph: dgl.DGLGraph) -> dict[str, Tensor]:
        """The bag of one graph as local index tensors.

        ``nodes`` [Nb]: node ids, subgraph by subgraph; ``sizes`` [S]; ``arcs`` [Eb]: edge ids
        of the kept arcs, subgraph by subgraph; ``arc_src``/``arc_dst`` [Eb]: their endpoints
        as positions inside their subgraph; ``arc_counts`` [S]; ``roots`` [S]: position of
        the marked root inside its subgraph, -1 when unmarked.
        """
        n = graph.num_nodes()
        src, dst = undirected_edges(graph)
        if self.subgraphs == "ego":
            dist = hop_distances(n, src, dst, limit=self.hops)
            keep_nodes = dist >= 0
            keep_arcs = keep_nodes[:, src] & keep_nodes[:, dst]
        elif self.subgraphs == "node_deleted":
            keep_nodes = ~np.eye(n, dtype=bool)
            keep_arcs = keep_nodes[:, src] & keep_nodes[:, dst]
        else:
            lo, hi = np.minimum(src, dst), np.maximum(src, dst)
            key = lo * max(n, 1) + hi
            undirected, which = np.unique(key, return_inverse=True)
            if len(undirected) == 0:
                keep_nodes = np.ones((1, n), dtype=bool)
                keep_arcs = np.ones((1, len(src)), dtype=bool)
            else:
                keep_nodes = np.ones((len(undirected), n), dtype=bool)
                keep_arcs = which[None, :] != np.arange(len(undirected))[:, None]
        position = np.cumsum(keep_nodes, axis=1) - 1  # position of node u inside subgraph s
        sub, nodes = np.nonzero(keep_nodes)
        arc_sub, arcs = np.nonzero(keep_arcs)
        roots = np.full(keep_nodes.shape[0], -1, dtype=np.int64)
        if self.root_mark:
            roots = position[np.arange(n), np.arange(n)]

        def t(a: np.ndarray) -> Tensor:
            return torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64))

        return {
            "nodes": t(nodes),
            "sizes": t(keep_nodes.sum(axis=1)),
            "arcs": t(arcs),
            "arc_src": t(position[arc_sub, src[arcs]]),
            "arc_dst": t(position[arc_sub, dst[arcs]]),
            "arc_counts": t(keep_arcs.sum(axis=1)),
            "roots": t(roots),
        }

    def collate(self, graphs: list[dgl.DGLGraph], prepared: list[dict[str, Tensor]]) -> Bag:
        """One :class:`Bag` for the mini-batch, indices shifted into ``dgl.batch(graphs)``."""
        return collate_bags(graphs, prepared)

    # ------------------------------------------------------------------ model side
    def build(self, parts: ModelParts) -> nn.Module:
        return SampledBagModel(
            BagNetwork(parts, num_marks=1 if self.root_mark else 0, mode=self.mode,
                       bag_pool=self.bag_pool,
                       subgraph_mlp=self.subgraph_mlp and self.mode == "ds"),
            self.sample_fraction)


EGO_RECORD = SubgraphPolicyRecord(
    name="ego", factory=EgoNetPolicy,
    summary="ESAN bags (k-hop ego-nets, EGO+, node-/edge-deleted) with DS or DSS.",
    params=(
        Param("subgraphs", str, "ego", "the bag of subgraphs", choices=BAGS),
        Param("hops", int, 1, "ego-net radius", minimum=1, maximum=16),
        Param("root_mark", bool, False, "mark the ego-net root (EGO+)"),
        Param("mode", str, "ds", "DS-GNN, or DSS-GNN with cross-subgraph layers",
              choices=("ds", "dss")),
        Param("sample_fraction", float, 1.0,
              "fraction of each bag per training step (eval uses all)",
              minimum=0.0, maximum=1.0, exclusive_minimum=True),
        Param("bag_pool", str, "mean", "pooling over the subgraphs of a graph",
              choices=_POOLS),
        Param("subgraph_mlp", bool, True,
              "Linear + ELU per subgraph embedding before pooling (ds)"),
    ),
    expressivity=">1-WL; ds is bounded by DS-WL on its bag (oracles node_deleted, "
                 "ego1/ego2(+), esan_ds_edge_deleted, esan_ds_ego<k>), dss by DSS-WL "
                 "(esan_dss_<bag>)",
    approximate=EGO_APPROXIMATE,
)


def collate_bags(graphs: list[dgl.DGLGraph], prepared: list[dict[str, Tensor]]) -> Bag:
    """Concatenate per-graph bags (see :meth:`EgoNetPolicy.prepare`) with index shifts.

    Node ids move by each graph's node offset in the batched graph, edge ids by its edge
    offset, and arc endpoints by the first bag node of their subgraph.
    """
    node_off = node_offsets(graphs)
    device = node_off.device  # the loader's (the graphs' and prepared tensors') device

    def cat(key: str) -> Tensor:
        return (torch.cat([p[key] for p in prepared]) if prepared
                else torch.zeros(0, dtype=torch.long, device=device))

    def lengths(values: list[int]) -> Tensor:
        return torch.tensor(values, dtype=torch.long, device=device)

    edge_counts = lengths([g.num_edges() for g in graphs])
    edge_off = torch.cumsum(edge_counts, 0) - edge_counts
    subs_per_graph = lengths([len(p["sizes"]) for p in prepared])
    sizes = cat("sizes")
    arc_counts = cat("arc_counts")
    num_sub = len(sizes)
    node_subgraph = torch.repeat_interleave(torch.arange(num_sub, device=device), sizes)
    arc_subgraph = torch.repeat_interleave(torch.arange(num_sub, device=device), arc_counts)
    sub_start = torch.cumsum(sizes, 0) - sizes
    nodes_per_graph = lengths([len(p["nodes"]) for p in prepared])
    arcs_per_graph = lengths([len(p["arcs"]) for p in prepared])
    roots = cat("roots")
    mark = torch.zeros(len(node_subgraph), dtype=torch.long, device=device)
    rooted = roots >= 0
    mark[sub_start[rooted] + roots[rooted]] = 1
    return Bag(
        node_index=cat("nodes") + torch.repeat_interleave(node_off, nodes_per_graph),
        node_subgraph=node_subgraph,
        node_mark=mark,
        edge_index=cat("arcs") + torch.repeat_interleave(edge_off, arcs_per_graph),
        edge_src=cat("arc_src") + sub_start[arc_subgraph],
        edge_dst=cat("arc_dst") + sub_start[arc_subgraph],
        subgraph_graph=torch.repeat_interleave(torch.arange(len(graphs), device=device),
                                               subs_per_graph),
        num_graphs=len(graphs),
    )


class SampledBagModel(nn.Module):
    """Subgraph sampling in training (``fraction`` < 1), the whole bag in evaluation."""

    def __init__(self, network: BagNetwork, fraction: float):
        super().__init__()
        self.network = network
        self.fraction = fraction
        self.out_dim = network.out_dim

    def forward(self, graph: dgl.DGLGraph, bag: Bag) -> Tensor:
        if self.training and self.fraction < 1.0:
            bag = bag.select(sample_subgraphs(bag.subgraph_graph, bag.num_graphs,
                                              self.fraction))
        return self.network(graph, bag)


def expected_subgraphs(count: int, fraction: float) -> int:
    """Subgraphs kept per graph in training: ``ceil(fraction * count)``, at least one."""
    return max(1, math.ceil(fraction * count)) if count else 0


RECORDS: tuple[SubgraphPolicyRecord, ...] = (EGO_RECORD,)
"""This module's records, in registration order."""
