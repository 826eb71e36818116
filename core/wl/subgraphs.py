"""Subgraph bags (node-marked, node-deleted, ego-nets, 2-node-marked) as dense masks.

A bag of ``S`` subgraphs of an ``n``-node graph is two ``[S, n]`` arrays: ``keep`` (which
nodes the subgraph contains; it is the *induced* subgraph on them) and ``mark`` (an extra
initial colour per node, 0 = unmarked). :func:`bag_union` turns the bags of several graphs
into one disjoint union that :func:`wlkit.wl.refine.refine_1wl` refines jointly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..graphs import SimpleGraph
from ._canon import canon_rows

__all__ = ["POLICIES", "Bag", "BagFn", "BagUnion", "Copy", "bag_union", "copies_union",
           "hop_reach", "subgraph_bag"]

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


# ---------------------------------------------------------------------- copies of a policy
@dataclass(frozen=True)
class Copy:
    """One copy of a graph in a policy's bag (:func:`wlkit.wl.register_bag_oracle`).

    A copy keeps some nodes and edges of the graph and may mark them; the original node and
    edge labels stay part of the copy. Every field is optional: ``Copy()`` is the graph.

    Attributes
    ----------
    nodes : numpy.ndarray, optional
        int ``[k]``, distinct: copy node ``i`` is the original node ``nodes[i]`` (the node
        map). Default: every node, in order.
    node_marks : numpy.ndarray, optional
        int ``[k]``: an extra initial colour per copy node (0 = unmarked).
    edges : numpy.ndarray, optional
        int ``[m']``, distinct ids of the original edges (rows of ``graph.edges``) the copy
        keeps; both ends must be kept. Default: every edge between kept nodes (the induced
        subgraph).
    edge_marks : numpy.ndarray, optional
        int, one per kept edge (in ``edges`` order, else in edge-id order): an extra edge
        colour (0 = unmarked).

    Examples
    --------
    >>> import numpy as np
    >>> from wlkit import graphs
    >>> g = graphs.cycle(4)
    >>> deleted = Copy(nodes=np.array([1, 2, 3]))            # G - 0
    >>> marked = Copy(node_marks=np.array([1, 0, 0, 0]))     # node 0 marked
    >>> edge = Copy(edge_marks=np.array([1, 0, 0, 0]))       # edge 0 marked
    >>> no_edge = Copy(edges=np.array([1, 2, 3]))            # G minus edge 0
    """

    nodes: np.ndarray | None = None
    node_marks: np.ndarray | None = None
    edges: np.ndarray | None = None
    edge_marks: np.ndarray | None = None


#: ``bag(graph) -> list[Copy] | Bag``: the copies a policy builds from one graph.
BagFn = Callable[[SimpleGraph], "Sequence[Copy] | Bag"]


def _ints(values: object, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{what} must be a 1-D integer array, got shape {arr.shape} and "
                         f"dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _as_copies(bag: object, graph: SimpleGraph, gi: int) -> list[Copy]:
    if isinstance(bag, Bag):  # dense keep/mark rows: node-induced copies with node marks
        if bag.keep.shape[1:] != (graph.num_nodes,) or bag.mark.shape != bag.keep.shape:
            raise ValueError(f"graph {gi}: the Bag has keep {bag.keep.shape} and mark "
                             f"{bag.mark.shape}, expected [S, {graph.num_nodes}] both")
        return [Copy(nodes=np.flatnonzero(row), node_marks=marks[row])
                for row, marks in zip(bag.keep.astype(bool), bag.mark)]
    if isinstance(bag, Copy) or not isinstance(bag, (list, tuple)):
        raise ValueError(f"graph {gi}: bag returned a {type(bag).__name__}, expected a list "
                         "of wlkit.wl.Copy or a wlkit.wl.Bag")
    for j, copy in enumerate(bag):
        if not isinstance(copy, Copy):
            raise ValueError(f"graph {gi}, copy {j}: expected a wlkit.wl.Copy, got "
                             f"{type(copy).__name__}")
    return list(bag)


def copies_union(graphs: Sequence[SimpleGraph], bags: Sequence[object]
                 ) -> tuple[BagUnion, np.ndarray]:
    """Lay out the copies of several graphs as one disjoint union for 1-WL.

    Initial colour of a copy node: canonical id of (original node label, node mark); arc
    colour: canonical id of (original edge label, edge mark); one palette for everything.

    Parameters
    ----------
    graphs : sequence of SimpleGraph
        The graphs.
    bags : sequence
        Per graph, a list of :class:`Copy` or a :class:`Bag`.

    Returns
    -------
    union : BagUnion
        The union (``edge_colors`` always set).
    origin : numpy.ndarray
        int64 ``[union.num_nodes]``: the original node of every union node, numbered
        across the graphs (graph ``i``'s nodes follow graph ``i - 1``'s).

    Raises
    ------
    ValueError
        A copy out of range of its graph, with repeated nodes or edges, marks of the wrong
        length, or an edge whose ends are not both kept; the message names graph and copy.
    """
    srcs, dsts, inits, ecols, sub_of_node, graph_of_sub, origins = [], [], [], [], [], [], []
    node_off = sub_off = base = 0
    for gi, (g, bag) in enumerate(zip(graphs, bags)):
        n, m = g.num_nodes, g.num_edges
        e0, e1 = g.edges[:, 0], g.edges[:, 1]
        labels = np.zeros(n, np.int64) if g.node_labels is None else g.node_labels
        elabels = np.zeros(m, np.int64) if g.edge_labels is None else g.edge_labels
        copies = _as_copies(bag, g, gi)
        for j, copy in enumerate(copies):
            where = f"graph {gi}, copy {j}"
            nodes = (np.arange(n, dtype=np.int64) if copy.nodes is None
                     else _ints(copy.nodes, f"{where}: nodes"))
            if len(nodes) and (nodes.min() < 0 or nodes.max() >= n):
                raise ValueError(f"{where}: nodes must lie in 0..{n - 1}")
            pos = np.full(n, -1, dtype=np.int64)
            pos[nodes] = np.arange(len(nodes))
            if int((pos >= 0).sum()) != len(nodes):
                raise ValueError(f"{where}: a node is listed twice")
            if copy.edges is None:
                eids = np.flatnonzero((pos[e0] >= 0) & (pos[e1] >= 0))
            else:
                eids = _ints(copy.edges, f"{where}: edges")
                if len(eids) and (eids.min() < 0 or eids.max() >= m):
                    raise ValueError(f"{where}: edge ids must lie in 0..{m - 1}")
                if len(np.unique(eids)) != len(eids):
                    raise ValueError(f"{where}: an edge is listed twice")
                if ((pos[e0[eids]] < 0) | (pos[e1[eids]] < 0)).any():
                    raise ValueError(f"{where}: an edge whose ends are not both kept")
            marks = {}
            for key, size, given in (("node_marks", len(nodes), copy.node_marks),
                                     ("edge_marks", len(eids), copy.edge_marks)):
                marks[key] = (np.zeros(size, np.int64) if given is None
                              else _ints(given, f"{where}: {key}"))
                if len(marks[key]) != size:
                    raise ValueError(f"{where}: {key} has {len(marks[key])} entries, the copy "
                                     f"{size} {'nodes' if key == 'node_marks' else 'edges'}")
            a = pos[e0[eids]] + node_off
            b = pos[e1[eids]] + node_off
            srcs += [a, b]
            dsts += [b, a]
            inits.append(np.stack([labels[nodes], marks["node_marks"]], axis=1))
            edge_rows = np.stack([elabels[eids], marks["edge_marks"]], axis=1)
            ecols += [edge_rows, edge_rows]
            sub_of_node.append(np.full(len(nodes), sub_off, dtype=np.int64))
            origins.append(nodes + base)
            node_off += len(nodes)
            sub_off += 1
        graph_of_sub.append(np.full(len(copies), gi, dtype=np.int64))
        base += n

    def cat(parts: list[np.ndarray], width: int | None = None) -> np.ndarray:
        if parts:
            return np.concatenate(parts).astype(np.int64, copy=False)
        return np.zeros((0, width) if width else 0, dtype=np.int64)

    init, _ = canon_rows(cat(inits, 2))
    edge_colors, _ = canon_rows(cat(ecols, 2))
    union = BagUnion(num_nodes=node_off, src=cat(srcs), dst=cat(dsts), init=init,
                     edge_colors=edge_colors, subgraph_of_node=cat(sub_of_node),
                     graph_of_subgraph=cat(graph_of_sub), num_subgraphs=sub_off)
    return union, cat(origins)
