"""Subgraph bags (node-marked, node-deleted, ego-nets, 2-node-marked) as dense masks.

A bag of ``S`` subgraphs of an ``n``-node graph is two ``[S, n]`` arrays: ``keep`` (which
nodes the subgraph contains; it is the *induced* subgraph on them) and ``mark`` (an extra
initial colour per node, 0 = unmarked). :func:`bag_union` turns the bags of several graphs
into one disjoint union that :func:`wlkit.wl.refine.refine_1wl` refines jointly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..graphs import SimpleGraph
from ._canon import canon_rows

__all__ = ["POLICIES", "Bag", "BagUnion", "bag_union", "hop_reach", "subgraph_bag"]

#: Subgraph policies understood by :func:`subgraph_bag`.
POLICIES: tuple[str, ...] = ("node_marked", "node_deleted", "ego", "two_node_marked")


@dataclass(frozen=True)
class Bag:
    """The subgraphs of one graph under a policy.

    Attributes
    ----------
    keep : numpy.ndarray
        bool ``[S, n]``; subgraph ``s`` is the subgraph induced by ``keep[s]``.
    mark : numpy.ndarray
        int64 ``[S, n]``; extra initial colour of node ``u`` in subgraph ``s`` (0 = none).
    roots : numpy.ndarray
        int64 ``[S, r]``; the node(s) subgraph ``s`` was built around (r = 1, or 2 for
        ``two_node_marked``).
    """

    keep: np.ndarray
    mark: np.ndarray
    roots: np.ndarray


def hop_reach(graph: SimpleGraph, hops: int) -> np.ndarray:
    """bool ``[n, n]``: ``reach[v, u]`` iff ``dist(v, u) <= hops`` (``reach[v, v]`` is True)."""
    n = graph.num_nodes
    reach = np.eye(n, dtype=bool)
    adj = graph.adjacency(dtype=np.int64)
    frontier = reach
    for _ in range(hops):
        # One BFS layer for all roots at once: rows of `reach` grow by their neighbours.
        grown = (adj @ frontier.T.astype(np.int64)).T > 0
        new = grown & ~reach
        if not new.any():
            break
        reach = reach | new
        frontier = new
    return reach


def subgraph_bag(graph: SimpleGraph, policy: str, *, hops: int = 1, root_mark: bool = False) -> Bag:
    """Build the bag of subgraphs of ``graph`` under ``policy``.

    Parameters
    ----------
    graph : SimpleGraph
        The graph.
    policy : str
        One of :data:`POLICIES`:

        * ``node_marked``: n copies of the graph; in copy ``v`` node ``v`` has mark 1.
        * ``node_deleted``: n subgraphs; subgraph ``v`` is the graph minus node ``v`` (and its
          edges); the node is removed, not kept isolated.
        * ``ego``: n subgraphs; subgraph ``v`` is induced by the nodes at distance <= ``hops``
          from ``v``; with ``root_mark`` the root ``v`` has mark 1.
        * ``two_node_marked``: n^2 copies of the graph, one per ordered pair ``(u, v)``
          (row-major); ``u`` has mark 1 and ``v`` mark 2, or mark 3 when ``u == v``. Marking
          every ordered pair covers both orders of the two ids.
    hops : int
        Radius for ``ego``.
    root_mark : bool
        Mark the root for ``ego``.
    """
    n = graph.num_nodes
    eye = np.eye(n, dtype=bool)
    roots = np.arange(n, dtype=np.int64)[:, None]
    if policy == "node_marked":
        return Bag(np.ones((n, n), dtype=bool), eye.astype(np.int64), roots)
    if policy == "node_deleted":
        return Bag(~eye, np.zeros((n, n), dtype=np.int64), roots)
    if policy == "ego":
        if hops < 0:
            raise ValueError(f"ego needs hops >= 0, got {hops}")
        mark = eye.astype(np.int64) if root_mark else np.zeros((n, n), dtype=np.int64)
        return Bag(hop_reach(graph, hops), mark, roots)
    if policy == "two_node_marked":
        u, v = np.divmod(np.arange(n * n), n)
        mark = np.zeros((n * n, n), dtype=np.int64)
        s = np.arange(n * n)
        mark[s, u] = 1
        mark[s, v] = 2
        mark[s[u == v], u[u == v]] = 3
        return Bag(np.ones((n * n, n), dtype=bool), mark, np.stack([u, v], axis=1))
    raise ValueError(f"unknown subgraph policy {policy!r}; choose from {', '.join(POLICIES)}")


@dataclass(frozen=True)
class BagUnion:
    """The disjoint union of all subgraphs of several graphs, ready for 1-WL.

    Attributes
    ----------
    num_nodes : int
        Nodes in the union.
    src, dst : numpy.ndarray
        Arcs (both directions of every kept edge).
    init : numpy.ndarray
        Initial colour per node: canonical id of (node label, mark).
    edge_colors : numpy.ndarray or None
        Edge label per arc, or None for unlabelled graphs.
    subgraph_of_node : numpy.ndarray
        int64 ``[num_nodes]``.
    graph_of_subgraph : numpy.ndarray
        int64 ``[num_subgraphs]``.
    num_subgraphs : int
        Total subgraphs.
    """

    num_nodes: int
    src: np.ndarray
    dst: np.ndarray
    init: np.ndarray
    edge_colors: np.ndarray | None
    subgraph_of_node: np.ndarray
    graph_of_subgraph: np.ndarray
    num_subgraphs: int


def bag_union(graphs: Sequence[SimpleGraph], bags: Sequence[Bag]) -> BagUnion:
    """Lay out the bags of ``graphs`` as one disjoint union (vectorised per graph)."""
    labelled_e = any(g.edge_labels is not None for g in graphs)
    srcs, dsts, inits, ecols, sub_of_node, graph_of_sub = [], [], [], [], [], []
    node_off = 0
    sub_off = 0
    for gi, (g, bag) in enumerate(zip(graphs, bags)):
        n = g.num_nodes
        keep = bag.keep
        s_count = keep.shape[0]
        flat_keep = keep.ravel()
        index = np.cumsum(flat_keep) - 1 + node_off  # union id of (s, u) when kept
        base = np.tile(np.arange(n), s_count)[flat_keep]
        labels = np.zeros(n, dtype=np.int64) if g.node_labels is None else g.node_labels
        inits.append(np.stack([labels[base], bag.mark.ravel()[flat_keep]], axis=1))
        sub_of_node.append(np.repeat(np.arange(s_count) + sub_off, keep.sum(axis=1)))
        graph_of_sub.append(np.full(s_count, gi, dtype=np.int64))
        e0, e1 = g.edges[:, 0], g.edges[:, 1]
        s_idx, e_idx = np.nonzero(keep[:, e0] & keep[:, e1])
        a = index[s_idx * n + e0[e_idx]]
        b = index[s_idx * n + e1[e_idx]]
        srcs += [a, b]
        dsts += [b, a]
        if labelled_e:
            el = np.zeros(g.num_edges, dtype=np.int64) if g.edge_labels is None else g.edge_labels
            ecols += [el[e_idx], el[e_idx]]
        node_off += int(flat_keep.sum())
        sub_off += s_count

    def cat(parts: list[np.ndarray], width: int | None = None) -> np.ndarray:
        if parts:
            return np.concatenate(parts)
        return np.zeros((0, width) if width else 0, dtype=np.int64)

    init, _ = canon_rows(cat(inits, 2))
    return BagUnion(
        num_nodes=node_off,
        src=cat(srcs),
        dst=cat(dsts),
        init=init,
        edge_colors=cat(ecols) if labelled_e else None,
        subgraph_of_node=cat(sub_of_node),
        graph_of_subgraph=cat(graph_of_sub),
        num_subgraphs=sub_off,
    )
