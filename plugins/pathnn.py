"""PathNN (Michel et al., ICML 2023): node updates from the paths that start at each node.

Three path collections, all enumerated once per graph on the CPU and cached by wlkit:

``sp``
    one shortest path per pair of nodes at distance <= K (not permutation invariant: which
    path is kept depends on the node numbering, see :func:`enumerate_paths`);
``sp_plus``
    all shortest paths between every pair of nodes at distance <= K;
``ap``
    all simple paths with at most K edges, each node annotated with its shortest-path
    distance from the path's start node (the paper's AP + distance encoding).

Layer ``l`` (1..K) reads only the paths with ``l`` edges: one LSTM, shared by all layers,
runs over each path from its far end towards its start node; the final LSTM states are
summed (or averaged) into the start nodes, followed by the residual connection, the norm
and ReLU.

Enumeration is a vectorised frontier expansion in numpy: all paths of length ``l`` are
extended by one edge at once through CSR neighbour lists, and the extensions that revisit a
node (AP), leave the shortest-path DAG (SP+) or the shortest-path tree (SP) are filtered
out. No per-path Python code runs. The paths of each length are cached as a trie of their
prefixes read from the far end (:func:`path_trie`), so the LSTM computes each shared
prefix's state once (:class:`PathNN`); the result equals running ``nn.LSTM`` on every path.

The exact oracle of ``sp_plus`` and ``ap`` (:func:`path_refinement`, an upper bound of the
model with the same settings) is registered in :mod:`wlkit.wl` as ``path_<kind>_K<K>`` (with
``_dist`` for AP with distances) by :func:`path_oracle`, and is ``PathPolicy.wl_oracle``. It
ignores edge labels: the model reads edge features only from a dataset's edge encoder, and
``wlkit separate`` feeds it a constant edge feature.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wlkit import (
    ModelParts,
    Param,
    SubgraphPolicy,
    SubgraphPolicyRecord,
    WlkitError,
    hookimpl,
    node_offsets,
)
from wlkit.wl import multiset_ids, register_oracle, register_oracle_family

PATH_KINDS: tuple[str, ...] = ("sp", "sp_plus", "ap")
"""The path collections: one shortest path, all shortest paths, all simple paths."""

DEFAULT_MAX_PATHS = 2_000_000
"""Default budget of path candidates per graph (see :class:`PathBudgetError`)."""

_LSTM_CHUNK = 1 << 16
"""At most this many trie entries per LSTM step (chunk)."""

_CHUNK_FLOATS = 1 << 18
"""Gate values (entries x 4 hidden) per chunk without autograd: 1 MiB of float32, so that
the temporaries of a chunk stay in the CPU cache between the elementwise steps of the cell
(2.4x faster than 64k-entry chunks on SR25, AP K=4, hidden 16)."""

_CHUNK_FLOATS_GRAD = 1 << 20
"""Gate values per chunk with autograd: larger, since every chunk's activations are kept
for the backward pass anyway and each chunk adds gradient accumulations."""


class PathBudgetError(WlkitError):
    """Enumerating the paths of a graph would exceed the configured budget.

    Raised by :func:`enumerate_paths` *before* the arrays of the offending length are
    allocated, with the number of candidates it would have materialised and an upper bound
    for all lengths (non-backtracking walks, :func:`path_count_bound`).
    """


# --------------------------------------------------------------------------- enumeration


class _Graph:
    """The undirected simple graph underlying ``(src, dst)``: sorted CSR neighbour lists."""

    def __init__(self, num_nodes: int, src: Any, dst: Any):
        src = np.asarray(src, dtype=np.int64).reshape(-1)
        dst = np.asarray(dst, dtype=np.int64).reshape(-1)
        if src.shape != dst.shape:
            raise ValueError(f"src and dst differ in length: {len(src)} vs {len(dst)}")
        n = int(num_nodes)
        u = np.concatenate([src, dst])
        v = np.concatenate([dst, src])
        keep = u != v  # self loops are no path steps
        key = np.unique(u[keep] * max(n, 1) + v[keep])  # sorted, multi-edges merged
        self.num_nodes = n
        self.num_edges = len(src)
        self.src, self.dst = src, dst
        self.indices = key % max(n, 1)
        self.indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(key // max(n, 1), minlength=n), out=self.indptr[1:])
        self.degree = np.diff(self.indptr)
        self._edge_lookup: tuple[np.ndarray, np.ndarray] | None = None

    def distances(self, limit: int) -> np.ndarray:
        """Hop distances up to ``limit``, int64 [n, n]; -1 for farther or unreachable pairs.

        Breadth-first frontiers of all start nodes at once: dense matrix products for
        graphs up to 1024 nodes, scipy's BFS-limited Dijkstra beyond.
        """
        n = self.num_nodes
        out = np.full((n, n), -1, dtype=np.int64)
        if n == 0:
            return out
        if n > 1024:
            from scipy.sparse import csr_matrix
            from scipy.sparse.csgraph import dijkstra

            adj = csr_matrix((np.ones(len(self.indices)), self.indices, self.indptr),
                             shape=(n, n))
            dist = dijkstra(adj, directed=False, unweighted=True, limit=limit + 0.5)
            finite = np.isfinite(dist)
            out[finite] = dist[finite].astype(np.int64)
            return out
        adj = np.zeros((n, n), dtype=np.float32)
        adj[np.repeat(np.arange(n), self.degree), self.indices] = 1.0
        np.fill_diagonal(out, 0)
        reached = np.eye(n, dtype=bool)
        frontier = np.eye(n, dtype=np.float32)
        for d in range(1, limit + 1):
            new = (frontier @ adj > 0) & ~reached
            if not new.any():
                break
            out[new] = d
            reached |= new
            frontier = new.astype(np.float32)
        return out

    def edge_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """``(keys, edge_pair)``: the sorted keys ``u * n + v`` of the distinct directed node
        pairs joined by an input edge (self loops excluded), and each input edge's index
        into them (-1 for self loops)."""
        if self._edge_lookup is None:
            n = max(self.num_nodes, 1)
            key = self.src * n + self.dst
            loop = self.src == self.dst
            keys = np.unique(key[~loop])
            edge_pair = np.where(loop, -1, np.searchsorted(keys, key))
            self._edge_lookup = (keys, edge_pair)
        return self._edge_lookup

    def pair_ids(self, heads: np.ndarray, tails: np.ndarray) -> np.ndarray:
        """Index (into :meth:`edge_pairs`) of the pair ``heads -> tails``, elementwise; of
        ``tails -> heads`` where no input edge goes ``heads -> tails``."""
        n = max(self.num_nodes, 1)
        keys, _ = self.edge_pairs()
        heads, tails = heads.astype(np.int64), tails.astype(np.int64)
        out = np.empty(len(heads), dtype=np.int64)
        for i, key in enumerate((heads * n + tails, tails * n + heads)):
            pos = np.minimum(np.searchsorted(keys, key), max(len(keys) - 1, 0))
            hit = keys[pos] == key if len(keys) else np.zeros(len(key), dtype=bool)
            if i == 0:
                out[:] = -1
                out[hit] = pos[hit]
            else:
                missing = out < 0
                out[missing] = pos[missing]
        return out


def edge_pairs(num_nodes: int, src: Any, dst: Any) -> tuple[np.ndarray, int]:
    """Each input edge's directed node pair: ``(edge_pair [E], num_pairs)``.

    ``edge_pair[e]`` indexes the distinct pairs ``(src, dst)`` joined by an input edge, in
    sorted order; self loops get -1. Parallel edges share a pair: the model averages their
    encoded features, so the edge input of a path step does not depend on the edge order.

    Examples
    --------
    >>> edge_pairs(3, [0, 0, 1, 1, 2], [1, 1, 0, 2, 2])  # two parallel 0->1, a self loop
    (array([ 0,  0,  1,  2, -1]), 3)
    """
    g = _Graph(num_nodes, src, dst)
    keys, edge_pair = g.edge_pairs()
    return edge_pair, len(keys)


def _shortest_path_parents(graph: _Graph, dist: np.ndarray) -> np.ndarray:
    """``parent[s, t]``: the smallest-index neighbour of ``t`` one hop closer to ``s``
    (-1 when ``t == s`` or ``t`` is farther than the distance limit or unreachable; the
    entries of nodes at the limit are never used). This is SP's explicit tie-break."""
    n = graph.num_nodes
    parent = np.full((n, n), -1, dtype=np.int64)
    has = graph.degree > 0
    if n == 0 or not has.any():
        return parent
    rows = np.repeat(np.arange(n), graph.degree)  # t of every CSR entry (t, u)
    cols = graph.indices  # u
    d_t = dist[:, rows]
    valid = (d_t >= 1) & (dist[:, cols] == d_t - 1)
    candidates = np.where(valid, cols[None, :], n)
    best = np.minimum.reduceat(candidates, graph.indptr[:-1][has], axis=1)
    parent[:, has] = np.where(best == n, -1, best)
    return parent


def path_count_bound(num_nodes: int, src: Any, dst: Any, K: int) -> int:
    """Upper bound on the number of simple paths with 1..K edges (counted from each start):
    the number of non-backtracking walks, computed without enumerating anything.

    Exact on forests; the overcount comes from walks that close a cycle.

    Examples
    --------
    >>> path_count_bound(3, [0, 1], [1, 2], K=2)  # the path 0-1-2: 4 edges + 2 two-paths
    6
    """
    g = _Graph(num_nodes, src, dst)
    if len(g.indices) == 0 or K < 1:
        return 0
    n = max(g.num_nodes, 1)
    heads = np.repeat(np.arange(g.num_nodes), g.degree)
    key = heads * n + g.indices
    reverse = np.searchsorted(key, g.indices * n + heads)
    walks = np.ones(len(key))  # non-backtracking walks of length l starting with entry e
    total = float(walks.sum())
    for _ in range(1, K):
        # a walk u->v->... continues with any v->w, w != u
        through = np.add.reduceat(walks, g.indptr[:-1][g.degree > 0])
        at_node = np.zeros(g.num_nodes)
        at_node[g.degree > 0] = through
        walks = at_node[g.indices] - walks[reverse]
        total += float(walks.sum())
    return int(round(total))


def enumerate_paths(num_nodes: int, src: Any, dst: Any, K: int, kind: str = "ap",
                    max_paths: int | None = DEFAULT_MAX_PATHS,
                    distances: bool = False, edge_ids: bool = False,
                    ) -> dict[int, dict[str, np.ndarray]]:
    """All paths of ``kind`` with 1..K edges, grouped by length.

    The graph is read as undirected and simple: both directions of every edge, no self
    loops, parallel edges merged. Every path is listed once per direction; row
    ``[p0, p1, ..., pl]`` starts at ``p0`` (the node it updates) and ends at ``pl``.

    Parameters
    ----------
    num_nodes : int
    src, dst : array-like of int
        Edge list (e.g. ``dgl.DGLGraph.edges()``); edge ids are positions in it.
    K : int
        Maximal number of edges of a path.
    kind : {"sp", "sp_plus", "ap"}
        ``ap``: every simple path. ``sp_plus``: every shortest path between nodes at
        distance <= K. ``sp``: one shortest path per unordered pair at distance <= K,
        listed in both directions. The tie-break is explicit and depends on the node
        numbering (so ``sp`` is **not** permutation invariant): for ``s < t`` the path
        from ``t`` back to ``s`` steps, at each node, to the smallest-index neighbour one
        hop closer to ``s`` (the lexicographically smallest shortest path read from ``t``);
        the ``t -> s`` path is the same path reversed.
    max_paths : int or None
        Budget on the paths materialised for this graph, counting the candidate
        extensions of each length before they are filtered. :class:`PathBudgetError` is
        raised before a length whose candidates would exceed it is allocated.
    distances : bool
        Also return ``dists``: each path node's hop distance from the start node.
    edge_ids : bool
        Also return ``edges`` [P, l]: column ``i`` is the index (see :func:`edge_pairs`) of
        the directed node pair ``p(i+1) -> pi``, the direction in which the model carries
        information towards the start node, or of ``pi -> p(i+1)`` when only that direction
        has input edges.

    Returns
    -------
    dict
        ``{l: {"paths": int64 [P_l, l+1], "dists": int64 [P_l, l+1], "edges": int64
        [P_l, l]}}`` for ``l = 1..K`` (empty arrays where no path of that length exists).

    Examples
    --------
    >>> out = enumerate_paths(4, [0, 1, 2, 3], [1, 2, 3, 0], K=2, kind="sp_plus")  # C4
    >>> out[2]["paths"][:2].tolist()  # the two shortest paths from 0 to 2 and more
    [[0, 1, 2], [0, 3, 2]]
    >>> enumerate_paths(4, [0, 1, 2, 3], [1, 2, 3, 0], K=2, kind="sp")[2]["paths"].tolist()
    [[0, 1, 2], [1, 0, 3], [2, 1, 0], [3, 0, 1]]
    """
    if kind not in PATH_KINDS:
        raise ValueError(f"kind must be one of {', '.join(PATH_KINDS)}, got {kind!r}")
    if not isinstance(K, int) or K < 1:
        raise ValueError(f"K must be a positive int, got {K!r}")
    g = _Graph(num_nodes, src, dst)
    n = g.num_nodes
    dist = g.distances(K) if (kind != "ap" or distances) else None
    parent = _shortest_path_parents(g, dist) if kind == "sp" else None

    def check_budget(total: int, length: int, count: int) -> None:
        if max_paths is not None and total + count > max_paths:
            bound = path_count_bound(n, g.src, g.dst, K)
            raise PathBudgetError(
                f"pathnn: enumerating {kind} paths with up to K={K} edges on a graph with "
                f"{n} nodes and {len(g.indices) // 2} edges would materialise {count:,} "
                f"candidate paths of length {length} ({total + count:,} in total so far), "
                f"over the budget max_paths={max_paths:,} per graph; estimate for all "
                f"lengths: at most {bound:,} (non-backtracking walks)\n"
                "    hint: lower K, use paths: sp or sp_plus, or raise policy.max_paths if "
                "memory allows")

    starts = np.repeat(np.arange(n), g.degree)
    check_budget(0, 1, len(starts))
    paths = np.stack([starts, g.indices], axis=1)
    by_length = {1: paths}
    total = len(paths)
    # AP's revisit test: a bitmask of the nodes on each path when they fit in 64 bits
    bits = np.left_shift(np.uint64(1), np.arange(n, dtype=np.uint64)) if n <= 64 else None
    visited = bits[paths[:, 0]] | bits[paths[:, 1]] if kind == "ap" and bits is not None else None
    flat_dist = dist.ravel() if dist is not None else None
    for length in range(2, K + 1):
        last = paths[:, -1]
        counts = g.degree[last]
        num = int(counts.sum())
        check_budget(total, length, num)
        rows = np.repeat(np.arange(len(paths)), counts)
        first = np.repeat(g.indptr[last] - (np.cumsum(counts) - counts), counts)
        nxt = g.indices[first + np.arange(num)]
        if kind == "ap" and visited is not None:
            keep = (visited[rows] & bits[nxt]) == 0
        elif kind == "ap":
            keep = paths[rows, -2] != nxt if length > 1 else np.ones(num, dtype=bool)
            for col in range(paths.shape[1] - 2):
                keep[keep] &= paths[rows[keep], col] != nxt[keep]
        else:
            start = paths[rows, 0]
            keep = flat_dist[start * n + nxt] == length
            if kind == "sp":
                keep &= parent.ravel()[start * n + nxt] == last[rows]
        rows, nxt = rows[keep], nxt[keep]
        grown = np.empty((len(rows), length + 1), dtype=np.int64)
        grown[:, :length] = paths[rows]
        grown[:, length] = nxt
        paths = grown
        if visited is not None:
            visited = visited[rows] | bits[nxt]
        by_length[length] = paths
        total += len(paths)
    if kind == "sp":
        # keep the tree path of each pair s < t; its reverse is the t -> s path
        for length, p in by_length.items():
            p = p[p[:, 0] < p[:, -1]]
            both = np.concatenate([p, p[:, ::-1]])
            by_length[length] = both[np.lexsort(both.T[::-1])]
    out: dict[int, dict[str, np.ndarray]] = {}
    for length, p in by_length.items():
        entry = {"paths": np.ascontiguousarray(p, dtype=np.int64)}
        if distances:
            entry["dists"] = flat_dist[p[:, :1] * n + p] if len(p) else np.zeros_like(p)
        if edge_ids:
            entry["edges"] = (g.pair_ids(p[:, 1:].ravel(), p[:, :-1].ravel()).reshape(
                len(p), length) if len(p) else np.zeros((0, length), dtype=np.int64))
        out[length] = entry
    return out


def path_trie(paths: np.ndarray, num_nodes: int, dists: np.ndarray | None = None,
              edges: np.ndarray | None = None) -> list[dict[str, np.ndarray]]:
    """The paths of one length as a trie of their reading-order prefixes.

    The LSTM reads a path ``[p0, ..., pl]`` from the far end: ``pl, ..., p0``. Its state
    after ``j + 1`` steps depends only on the prefix ``(pl, ..., p(l-j))`` (with the
    distance labels, when given), so paths sharing a prefix share that state. Level ``j``
    lists the distinct prefixes of ``j + 1`` nodes: ``node`` (the prefix's last node),
    ``parent`` (its prefix of ``j`` nodes, an index into level ``j - 1``), ``dist`` and
    ``edge`` (the edge ``p(l-j+1) -> p(l-j)`` just traversed). Level ``l`` has one entry
    per path; its ``node`` is the start node. Each level is in lexicographic order of its
    prefixes (node, then distance, step by step), so children are grouped by parent.

    One sort of the paths in reading order (a single integer key per path when it fits
    in 63 bits, ``np.lexsort`` otherwise) gives every level: a prefix starts a new entry
    wherever it differs from the previous path's.

    Examples
    --------
    >>> levels = path_trie(np.array([[0, 1, 2], [3, 1, 2]]), num_nodes=4)
    >>> [len(level["node"]) for level in levels]  # 2 and 2-1 are shared
    [1, 1, 2]
    """
    count, width = paths.shape
    length = width - 1
    labels = int(dists.max()) + 1 if dists is not None and count else 1
    radix = max(num_nodes, 1) * labels

    def code(col: int) -> np.ndarray:  # p(col) with its distance label, int64 [P]
        out = paths[:, col].astype(np.int64)
        if dists is not None:
            out *= labels
            out += dists[:, col]
        return out

    packed = count > 0 and radix ** width < (1 << 62)
    if packed:  # key = the reading-order codes as digits in base radix, p(l) first
        key = code(length)
        for col in range(length - 1, -1, -1):
            key *= radix
            key += code(col)
        order = np.argsort(key)
        key = key[order]
    else:
        order = np.lexsort([code(col) for col in range(width)])
    levels: list[dict[str, np.ndarray]] = []
    new = np.zeros(count, dtype=bool)
    new[:1] = True
    prev: np.ndarray | None = None
    for j in range(width):
        col = length - j
        if packed:
            prefix = key // radix ** (length - j) if j < length else key
        else:
            prefix = code(col)[order]
        new[1:] |= prefix[1:] != prefix[:-1]
        first = np.flatnonzero(new)
        rows = order[first]
        level = {"node": paths[rows, col]}
        if prev is not None:
            level["parent"] = prev[first]
        if dists is not None:
            level["dist"] = dists[rows, col]
        if edges is not None and j > 0:
            level["edge"] = edges[rows, col]
        levels.append(level)
        prev = np.cumsum(new) - 1
    return levels


def trie_paths(levels: list[dict[str, Any]]) -> Any:
    """Rebuild the paths ``[P, l+1]`` (start node first, in trie order) from
    :func:`path_trie` levels (numpy arrays or tensors)."""
    top = levels[-1]["node"]
    index = torch.arange(len(top)) if torch.is_tensor(top) else np.arange(len(top))
    columns = []
    for level in reversed(levels):
        columns.append(level["node"][index])
        if "parent" in level:
            index = level["parent"][index]
    return torch.stack(columns, 1) if torch.is_tensor(top) else np.stack(columns, 1)


# --------------------------------------------------------------------------- exact oracle

ORACLE_KINDS: tuple[str, ...] = ("sp_plus", "ap")
"""The path collections with an exact oracle (``sp`` is not invariant and has none)."""

_ORACLE_CHUNK = 1 << 22
"""Paths of one length gathered from consecutive graphs before their codes are computed."""


class _IncrementalIds:
    """Dense ids for int64 keys, consistent across calls (new keys get the next ids)."""

    def __init__(self) -> None:
        self.keys = np.zeros(0, dtype=np.int64)  # sorted
        self.ids = np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.keys)

    def __call__(self, keys: np.ndarray) -> np.ndarray:
        uniq, inverse = np.unique(keys, return_inverse=True)
        pos = np.searchsorted(self.keys, uniq)
        hit = np.zeros(len(uniq), dtype=bool)
        if len(self.keys):
            inside = pos < len(self.keys)
            hit[inside] = self.keys[pos[inside]] == uniq[inside]
        out = np.empty(len(uniq), dtype=np.int64)
        out[hit] = self.ids[pos[hit]]
        fresh = np.arange(len(self.keys), len(self.keys) + int((~hit).sum()), dtype=np.int64)
        out[~hit] = fresh
        self.keys = np.insert(self.keys, pos[~hit], uniq[~hit])
        self.ids = np.insert(self.ids, pos[~hit], fresh)
        return out[inverse.reshape(-1)]


def path_refinement(graphs: list[Any], kind: str, K: int, distances: bool
                    ) -> tuple[list[np.ndarray], int]:
    """Exact colour refinement of PathNN with ``kind`` paths and ``K`` layers.

    An upper bound of the model with the same settings (:class:`PathNN`, whose layer ``l``
    reads only the paths with ``l`` edges): colour^0 = node label (0 if unlabelled); for
    ``l = 1..K``, ``c(v) <- (c(v), {{ ((c(pl), d(v, pl)), ..., (c(p0), 0)) }})`` over the
    paths ``P = (p0 = v, ..., pl)`` of ``kind`` with exactly ``l`` edges starting at ``v``,
    each read from its far end like the LSTM; the distances ``d`` enter only with
    ``distances``. All graphs are refined jointly in one palette. Edge labels are ignored:
    PathNN reads edge features only through a dataset's edge encoder, and under
    ``wlkit separate`` the model gets a constant edge feature.

    Each path's sequence gets an exact id column by column (far end first), from
    (id of the sequence so far, colour, distance); the ids of one column are shared by all
    graphs (:class:`_IncrementalIds`, so graphs are streamed through in chunks of about
    4M paths and only one chunk's paths are held at a time). Each start node keeps its
    distinct path ids with their multiplicities; the new node colours are the canonical ids
    of (old colour, that multiset) (:func:`wlkit.wl.multiset_ids`), once per layer for all
    graphs.

    Parameters
    ----------
    graphs : list of wlkit.graphs.SimpleGraph
    kind : {"sp_plus", "ap"}
    K : int
        Number of layers (longest path, in edges).
    distances : bool
        Read each path node's distance from the start node (PathNN's distance encoding).

    Returns
    -------
    colours : list of numpy.ndarray
        Per graph, int64 ``[n]`` node colours after ``K`` layers, one palette.
    rounds : int
        ``K``.

    Examples
    --------
    >>> from wlkit import graphs
    >>> colours, _ = path_refinement([graphs.csl(41, 2), graphs.csl(41, 3)], "sp_plus", 6,
    ...                              distances=False)
    >>> sorted(colours[0].tolist()) != sorted(colours[1].tolist())
    True
    """
    if kind not in ORACLE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(ORACLE_KINDS)}, got {kind!r}")
    if not isinstance(K, int) or K < 1:
        raise ValueError(f"K must be a positive int, got {K!r}")
    sizes = [g.num_nodes for g in graphs]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    total = int(offsets[-1])
    labels = [np.zeros(g.num_nodes, dtype=np.int64) if g.node_labels is None
              else np.asarray(g.node_labels, dtype=np.int64).reshape(-1) for g in graphs]
    _, colours = np.unique(np.concatenate([np.zeros(0, np.int64), *labels]),
                           return_inverse=True)
    colours = colours.reshape(-1).astype(np.int64)
    palette = int(colours.max()) + 1 if total else 1
    for length in range(1, K + 1):
        radix = length + 1 if distances else 1  # distances are 0..length
        tables = [_IncrementalIds() for _ in range(length + 1)]
        owners: list[np.ndarray] = []  # per chunk: distinct (start node, path code) ...
        codes: list[np.ndarray] = []
        counts: list[np.ndarray] = []  # ... and how many paths of the start have that code
        pending: list[dict[str, np.ndarray]] = []
        held = 0
        for i, g in enumerate(graphs):
            edges = np.asarray(g.edges, dtype=np.int64).reshape(-1, 2)
            found = enumerate_paths(g.num_nodes, edges[:, 0], edges[:, 1], length, kind,
                                    max_paths=None, distances=distances)[length]
            if len(found["paths"]):
                found["paths"] += offsets[i]
                pending.append(found)
                held += len(found["paths"])
            if pending and (held >= _ORACLE_CHUNK or i == len(graphs) - 1):
                paths = np.concatenate([f["paths"] for f in pending])
                dists = np.concatenate([f["dists"] for f in pending]) if distances else None
                pending, held = [], 0
                code = _path_codes(paths, dists, colours, palette, radix, tables)
                # A graph's paths are all in one chunk, so (start, code) counts are final.
                width = len(tables[-1])  # codes are < width
                if total * width < 1 << 62:
                    key, count = np.unique(paths[:, 0] * width + code, return_counts=True)
                    owners.append(key // width)
                    codes.append(key % width)
                else:
                    pair, count = np.unique(np.stack([paths[:, 0], code], axis=1), axis=0,
                                            return_counts=True)
                    owners.append(pair[:, 0])
                    codes.append(pair[:, 1])
                counts.append(count)
                del paths, dists, code
        # multiset of path codes = set of (code, multiplicity): one element per distinct code
        code = np.concatenate([np.zeros(0, np.int64), *codes])
        count = np.concatenate([np.zeros(0, np.int64), *counts])
        most = int(count.max(initial=0)) + 1
        if int(code.max(initial=0)) < (1 << 62) // most:
            element = code * most + count
        else:
            element = np.unique(np.stack([code, count], axis=1), axis=0, return_inverse=True)[1]
        owner = np.concatenate([np.zeros(0, np.int64), *owners])
        colours, palette = multiset_ids(owner, element.reshape(-1), total, prefix=colours)
        palette = max(palette, 1)
    return [colours[offsets[i]:offsets[i + 1]] for i in range(len(graphs))], K


def _path_codes(paths: np.ndarray, dists: np.ndarray | None, colours: np.ndarray,
                palette: int, radix: int, tables: list[_IncrementalIds]) -> np.ndarray:
    """Exact id of each path's sequence ``((c(pl), d(pl)), ..., (c(p0), 0))``, built column
    by column from the far end: id_j = table_j(id_{j-1}, colour, distance)."""
    length = paths.shape[1] - 1
    code = np.zeros(len(paths), dtype=np.int64)
    for step, col in enumerate(range(length, -1, -1)):
        if (len(tables[step - 1]) + 1 if step else 1) * palette * radix >= 1 << 62:
            raise WlkitError("pathnn oracle: too many distinct path prefixes for 64-bit "
                             "codes\n    hint: lower K")
        key = code * palette + colours[paths[:, col]]
        if dists is not None:
            key = key * radix + dists[:, col]
        code = tables[step](key)
    return code


@dataclass(frozen=True)
class PathOracle:
    """The exact oracle of PathNN with given settings, as registered in :mod:`wlkit.wl`.

    Calling it refines graphs (:func:`path_refinement`); :meth:`cost` estimates the work
    of one graph (nodes + edges + the non-backtracking walks bounding its paths,
    :func:`path_count_bound`). Equal settings give equal objects, so registering twice is a
    no-op. Use :func:`path_oracle` to get the registered name.

    Examples
    --------
    >>> oracle = PathOracle("ap", 4, distances=True)
    >>> oracle.name
    'path_ap_K4_dist'
    """

    kind: str
    K: int
    distances: bool

    @property
    def name(self) -> str:
        return f"path_{self.kind}_K{self.K}" + ("_dist" if self.distances else "")

    @property
    def summary(self) -> str:
        what = {"sp_plus": "all shortest paths", "ap": "all simple paths"}[self.kind]
        return (f"PathNN refinement, {what} of 1..{self.K} edges"
                + (" with distances" if self.distances else ""))

    def __call__(self, graphs: list[Any]) -> tuple[list[np.ndarray], int]:
        return path_refinement(graphs, self.kind, self.K, self.distances)

    def cost(self, graph: Any) -> int:
        edges = np.asarray(graph.edges, dtype=np.int64).reshape(-1, 2)
        walks = path_count_bound(graph.num_nodes, edges[:, 0], edges[:, 1], self.K)
        return graph.num_nodes + len(edges) + walks


_ORACLE_VERSION = "1"
_PATH_ORACLES: dict[str, PathOracle] = {}


def path_oracle(kind: str, K: int, distances: bool) -> str | None:
    """Register (once) and name the exact oracle of PathNN with these settings.

    ``sp_plus`` ignores ``distances`` (the i-th node of a shortest path is at distance i,
    so they add nothing): ``path_sp_plus_K<K>``. ``ap``: ``path_ap_K<K>`` or
    ``path_ap_K<K>_dist``. ``sp`` has none (None): its tie-break depends on the node
    numbering, so it is not invariant.

    Examples
    --------
    >>> from wlkit import graphs
    >>> from wlkit.wl import distinguishes
    >>> name = path_oracle("ap", 4, distances=True)
    >>> name, distinguishes(graphs.shrikhande(), graphs.rook_graph(4), name)
    ('path_ap_K4_dist', True)
    """
    if kind == "sp":
        return None
    if kind not in ORACLE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(PATH_KINDS)}, got {kind!r}")
    oracle = PathOracle(kind, K, bool(distances) and kind == "ap")
    known = _PATH_ORACLES.setdefault(oracle.name, oracle)
    return register_oracle(known.name, known, known.summary, version=_ORACLE_VERSION,
                           cost=known.cost)


_ORACLE_NAME = re.compile(r"path_(sp_plus|ap)_K([1-9][0-9]?)(_dist)?")


def _resolve_path_oracle(name: str) -> str | None:
    """Register ``path_<kind>_K<K>[_dist]`` on first use (``wlkit analyze --oracle``)."""
    match = _ORACLE_NAME.fullmatch(name)
    if match is None:
        return None
    kind, K, distances = match.group(1), int(match.group(2)), match.group(3) is not None
    if K > 64 or (kind == "sp_plus" and distances):  # sp_plus names carry no _dist
        return None
    return path_oracle(kind, K, distances)


register_oracle_family("path_", _resolve_path_oracle,
                       "path_sp_plus_K<K>, path_ap_K<K>[_dist] (pathnn)")


# --------------------------------------------------------------------------- policy


class PathPolicy(SubgraphPolicy):
    """PathNN's path policy: paths per length in ``prepare``, the path layers in ``build``.

    ``prepare(graph)`` enumerates the paths with :func:`enumerate_paths` and stores those
    of each length ``l = 1..K`` as a prefix trie (:func:`path_trie`): ``node_{l}_{j}``
    (int32), ``parent_{l}_{j}`` (int32, j >= 1), ``dist_{l}_{j}`` (uint8, with distance
    encoding) and, when the graph has ``edata['feat']``, ``edge_{l}_{j}`` (int32, j >= 1:
    the directed node pair of the step) with ``edge_pair`` and ``num_pairs``
    (:func:`edge_pairs`; a step's edge input is the mean over its parallel edges).
    ``collate`` shifts node ids by each graph's node offset, pair ids by its pair offset
    and parent indices by the offset of the graph's entries in the level above. The model
    half (:class:`PathNN`) has exactly K layers, so ``model.num_layers`` must equal ``K``;
    it uses ``model.hidden``, ``model.residual``, ``model.norm``, ``model.dropout`` and
    ``model.readout`` and ignores ``model.layer`` and ``model.aggregator``. ``wl_oracle`` is
    the exact path refinement with the same settings (:func:`path_oracle`, e.g.
    ``path_ap_K4_dist``), registered in :mod:`wlkit.wl` when the policy is created; ``sp``
    has none.

    Parameters
    ----------
    paths : {"sp", "sp_plus", "ap"}
        Path collection (see :func:`enumerate_paths`); ``sp`` is not permutation invariant.
    K : int
        Maximal path length in edges, and the number of layers.
    encode_distances : bool or None
        Concatenate an embedding of each path node's distance from the start node to the
        LSTM input. None: on for ``ap`` (the paper's AP), off for ``sp``/``sp_plus`` (where
        the distance of the i-th node is i).
    path_agg : {"sum", "mean"}
        How the final LSTM states of the paths starting at a node are pooled.
    edge_features : bool
        Feed the encoded edge features along each path to the LSTM (the dataset's edge
        encoder, a zero vector at the far end), when the dataset has them.
    l2_norm : bool
        L2-normalise node states before each layer (the authors' AP setting on CSL/SR25).
    phi : {"relu", "mlp"}
        The update after residual and norm: ReLU (the paper's synthetic models) or the
        2-layer MLP with norms of the authors' OGB/ZINC models.
    max_paths : int
        Budget of path candidates per graph; enumeration fails with
        :class:`PathBudgetError` (naming the estimate) before exceeding it.

    Examples
    --------
    >>> import dgl
    >>> g = dgl.graph(([0, 1, 1, 2], [1, 0, 2, 1]))  # the path 0-1-2
    >>> policy = PathPolicy(paths="ap", K=2)
    >>> prepared = policy.prepare(g)
    >>> batch = policy.collate([g, g], [prepared, prepared])
    >>> PathPolicy.batch_paths(batch, 2).tolist()  # the second graph's nodes shifted by 3
    [[2, 1, 0], [0, 1, 2], [5, 4, 3], [3, 4, 5]]
    """

    version = 2  # 2: edge inputs per directed node pair (mean over parallel edges)

    def __init__(self, paths: str = "sp_plus", K: int = 3, encode_distances: bool | None = None,
                 path_agg: str = "sum", edge_features: bool = True, l2_norm: bool = False,
                 phi: str = "relu", max_paths: int = DEFAULT_MAX_PATHS):
        if paths not in PATH_KINDS:
            raise ValueError(f"paths must be one of {', '.join(PATH_KINDS)}, got {paths!r}")
        if path_agg not in ("sum", "mean"):
            raise ValueError(f"path_agg must be sum or mean, got {path_agg!r}")
        if phi not in ("relu", "mlp"):
            raise ValueError(f"phi must be relu or mlp, got {phi!r}")
        if not isinstance(K, int) or not 1 <= K <= 64:
            raise ValueError(f"K must be an int in 1..64, got {K!r}")
        self.paths = paths
        self.K = K
        self.encode_distances = (paths == "ap") if encode_distances is None else encode_distances
        self.path_agg = path_agg
        self.edge_features = edge_features
        self.l2_norm = l2_norm
        self.phi = phi
        self.max_paths = max_paths
        path_oracle(self.paths, self.K, self.encode_distances)  # register it in wlkit.wl

    @property
    def wl_oracle(self) -> str | None:  # type: ignore[override]
        """The exact oracle bounding this policy (:func:`path_oracle`): e.g.
        ``path_sp_plus_K3`` or ``path_ap_K4_dist``; None for ``sp`` (not invariant)."""
        return path_oracle(self.paths, self.K, self.encode_distances)

    def cache_params(self) -> dict[str, Any]:
        # the budget and the model-side settings do not change prepare()'s output
        return {"paths": self.paths, "K": self.K, "encode_distances": self.encode_distances}

    def prepare(self, graph: Any) -> dict[str, Tensor]:
        src, dst = graph.edges()
        with_edges = "feat" in graph.edata
        n = graph.num_nodes()
        found = enumerate_paths(n, src.numpy(), dst.numpy(), self.K, self.paths,
                                self.max_paths, self.encode_distances, with_edges)
        out: dict[str, Tensor] = {}
        if with_edges:
            edge_pair, num_pairs = edge_pairs(n, src.numpy(), dst.numpy())
            out["edge_pair"] = torch.from_numpy(edge_pair.astype(np.int32))
            out["num_pairs"] = torch.tensor([num_pairs], dtype=torch.int64)
        for length, entry in found.items():
            levels = path_trie(entry["paths"], n, entry.get("dists"), entry.get("edges"))
            for j, level in enumerate(levels):
                for name, values in level.items():
                    dtype = np.uint8 if name == "dist" else np.int32
                    out[f"{name}_{length}_{j}"] = torch.from_numpy(values.astype(dtype))
        return out

    def collate(self, graphs: list[Any], prepared: list[dict[str, Tensor]]) -> dict[str, Any]:
        """``{"layers": [[{node, parent, dist, edge} per step j] per length l]}``, shifted;
        with edge features also ``edge_pair`` (each batched edge's pair) and ``num_pairs``."""
        node_shift = node_offsets(graphs)
        batch: dict[str, Any] = {}
        with_edges = all("edge_pair" in p for p in prepared)
        if with_edges:  # pair ids shift by the pairs of the graphs before
            pairs = torch.cat([p["num_pairs"] for p in prepared])
            pair_shift = torch.cumsum(pairs, 0) - pairs
            edge_pair = torch.cat([p["edge_pair"] for p in prepared]).long()
            shift = torch.repeat_interleave(pair_shift, torch.tensor(
                [len(p["edge_pair"]) for p in prepared], dtype=torch.long))
            batch["edge_pair"] = torch.where(edge_pair >= 0, edge_pair + shift, edge_pair)
            batch["num_pairs"] = int(pairs.sum())
        layers = []
        for length in range(1, self.K + 1):
            steps = []
            above = None  # per-graph entry counts of the previous level
            for j in range(length + 1):
                key = f"node_{length}_{j}"
                missing = [i for i, p in enumerate(prepared) if key not in p]
                if missing:
                    raise WlkitError(f"pathnn: prepared data of graph {missing[0]} in the "
                                     f"batch has no {key}; it was prepared with other "
                                     "settings\n    hint: delete the policy cache under "
                                     "$WLKIT_CACHE_DIR")
                counts = torch.tensor([len(p[key]) for p in prepared], dtype=torch.long)
                step = {"node": _shifted(prepared, key, node_shift, counts)}
                if j > 0:
                    shift = torch.cumsum(above, 0) - above
                    step["parent"] = _shifted(prepared, f"parent_{length}_{j}", shift, counts)
                    if with_edges:
                        step["edge"] = _shifted(prepared, f"edge_{length}_{j}", pair_shift,
                                                counts)
                if self.encode_distances:
                    step["dist"] = torch.cat([p[f"dist_{length}_{j}"] for p in prepared]).long()
                steps.append(step)
                above = counts
            layers.append(steps)
        batch["layers"] = layers
        return batch

    @staticmethod
    def batch_paths(batch: dict[str, Any], length: int) -> Tensor:
        """The paths with ``length`` edges of a collated batch, [P, length+1], start first."""
        return trie_paths(batch["layers"][length - 1])

    def build(self, parts: ModelParts) -> nn.Module:
        if parts.num_layers != self.K:
            raise WlkitError(f"pathnn: model.num_layers is {parts.num_layers} but K is "
                             f"{self.K}; PathNN has one layer per path length\n"
                             f"    hint: set model.num_layers: {self.K}")
        if parts.virtual_node:
            raise WlkitError("pathnn: model.virtual_node is not supported by PathNN\n"
                             "    hint: set model.virtual_node: false")
        return PathNN(parts, self.K, self.encode_distances, self.path_agg,
                      self.edge_features and parts.make_edge_encoder is not None,
                      self.l2_norm, self.phi)


def _shifted(prepared: list[dict[str, Tensor]], key: str, shift: Tensor,
             counts: Tensor) -> Tensor:
    values = torch.cat([p[key] for p in prepared]).long()
    return values + torch.repeat_interleave(shift, counts)


class PathNN(nn.Module):
    """The model half of :class:`PathPolicy`: K path layers sharing one LSTM, then readout.

    Layer ``l`` runs the LSTM over every path with ``l`` edges from its far end to its
    start node. The input at each step is the node state, concatenated with the distance
    embedding of the node (distance encoding) and the encoded feature of the edge towards
    the previous step (edge features: the mean over parallel edges, zeros at the far end;
    one edge encoder shared by all layers, as in the authors' code). The final LSTM states are
    summed (``path_agg: sum``) or averaged into the start nodes; then
    ``h <- phi(dropout(norm(h + paths)))`` (no ``h +`` without ``model.residual``).

    The LSTM is an ``nn.LSTM`` (its parameters and equations), evaluated step by step over
    the prefix trie of :func:`path_trie`: the input projection is computed once per node,
    distance and edge, and each distinct prefix's state once, instead of once per path and
    step. The trie is walked depth first in chunks small enough for the CPU cache; the
    cell's elementwise part is one autograd node with a hand-written backward. The result
    and its gradients equal ``nn.LSTM`` run on every path; the tests check both. Dropout
    (``model.dropout``) is applied after the norm (before ``phi``, as in the authors' OGB
    model) and, in training, to the LSTM input of every trie entry: one draw per path step
    shared by the paths with a common prefix (read from the far end), where the authors'
    code draws one per path and step.

    Examples
    --------
    >>> import dgl
    >>> from wlkit.model.build import build_model, instantiate_dataset
    >>> from wlkit.pipeline.loader import validate_pipeline
    >>> data = validate_pipeline({"name": "doc", "dataset": "wl_pairs",
    ...                           "policy": {"name": "pathnn", "paths": "ap", "K": 2},
    ...                           "model": {"num_layers": 2, "hidden": 8}}).data
    >>> model = build_model(data, instantiate_dataset(data["dataset"])).eval()
    >>> policy = PathPolicy(paths="ap", K=2)
    >>> g = dgl.graph(([0, 1, 1, 2], [1, 0, 2, 1]))
    >>> model.embed(g, policy.collate([g], [policy.prepare(g)])).shape
    torch.Size([1, 8])
    """

    def __init__(self, parts: ModelParts, K: int, encode_distances: bool, path_agg: str,
                 use_edges: bool, l2_norm: bool, phi: str):
        super().__init__()
        hidden = parts.hidden
        self.K = K
        self.hidden = hidden
        self.path_agg = path_agg
        self.residual = parts.residual
        self.l2_norm = l2_norm
        self.node_input = parts.node_input
        self.distance_embedding = nn.Embedding(K + 1, hidden) if encode_distances else None
        self.edge_encoder = parts.make_edge_encoder() if use_edges else None
        width = hidden * (1 + int(encode_distances) + int(use_edges))
        self.lstm = nn.LSTM(width, hidden, num_layers=1, batch_first=True)
        self.norms = nn.ModuleList(parts.make_norm() for _ in range(K))
        self.phis = nn.ModuleList(
            (nn.Sequential(nn.Linear(hidden, hidden), parts.make_norm(), nn.ReLU(),
                           nn.Linear(hidden, hidden), parts.make_norm(), nn.ReLU())
             if phi == "mlp" else nn.ReLU()) for _ in range(K))
        self.dropout = nn.Dropout(parts.dropout)
        self.readout = parts.make_readout(hidden)
        self.out_dim = self.readout.out_dim
        if self.distance_embedding is not None:
            nn.init.xavier_uniform_(self.distance_embedding.weight)

    def node_embeddings(self, graph: Any, batch: dict[str, Any]) -> Tensor:
        layers = batch.get("layers") if isinstance(batch, dict) else None
        if layers is None or len(layers) != self.K:
            raise WlkitError("pathnn: the model needs the policy batch of PathPolicy.collate "
                             f"with paths of lengths 1..{self.K}")
        if self.distance_embedding is not None and "dist" not in layers[0][0]:
            raise WlkitError("pathnn: the policy batch has no distances; build the model and "
                             "the policy from the same settings")
        edge_h = None
        if self.edge_encoder is not None:
            if "edge_pair" not in batch:
                raise WlkitError("pathnn: the model reads edge features but the prepared "
                                 "paths carry no edge ids (the graphs had no edata['feat'] "
                                 "when they were prepared)\n"
                                 "    hint: set policy.edge_features: false, or delete the "
                                 "policy cache under $WLKIT_CACHE_DIR")
            # one input per directed node pair: the mean over its parallel edges
            encoded = self.edge_encoder(graph.edata["feat"])
            edge_pair = batch["edge_pair"]
            valid = edge_pair >= 0
            index = edge_pair[valid]
            edge_h = encoded.new_zeros(batch["num_pairs"], encoded.shape[1]).index_add(
                0, index, encoded[valid])
            count = torch.bincount(index, minlength=batch["num_pairs"]).clamp(min=1)
            edge_h = edge_h / count.unsqueeze(1).to(edge_h.dtype)
        h = self.node_input(graph)
        for i in range(self.K):
            if self.l2_norm:
                h = F.normalize(h, p=2.0, dim=1)
            pooled = self._paths_into_starts(h, layers[i], edge_h)
            update = h + pooled if self.residual else pooled
            h = self.phis[i](self.dropout(self.norms[i](update)))
        return h

    def forward(self, graph: Any, batch: dict[str, Any]) -> Tensor:
        return self.readout(graph, self.node_embeddings(graph, batch))

    def _paths_into_starts(self, h: Tensor, steps: list[dict[str, Tensor]],
                           edge_h: Tensor | None) -> Tensor:
        """Run the shared LSTM over the trie ``steps`` of one length; pool into starts."""
        hidden = self.hidden
        lstm = self.lstm
        w_ih = lstm.weight_ih_l0
        # One sigmoid for all four gates (PyTorch order i, f, g, o): the g rows are scaled
        # by 2 and tanh(x) = 2 sigmoid(2x) - 1.
        scale = torch.ones(4 * hidden, dtype=h.dtype, device=h.device)
        scale[2 * hidden:3 * hidden] = 2.0
        # input projections, once per node / distance / edge ([*, 4 hidden] each)
        bias = (lstm.bias_ih_l0 + lstm.bias_hh_l0) * scale
        node_in = torch.addmm(bias, h, w_ih[:, :hidden].T * scale)
        col = hidden
        dist_in = edge_in = None
        if self.distance_embedding is not None:
            dist_in = self.distance_embedding.weight @ (w_ih[:, col:col + hidden].T * scale)
            col += hidden
        if edge_h is not None:
            edge_in = edge_h @ (w_ih[:, col:col + hidden].T * scale)
        w_hh = lstm.weight_hh_l0.T * scale
        # dropout on the LSTM input is drawn per trie entry (per path step, shared by the
        # paths with a common prefix): the input projection then runs per entry
        per_entry = self.training and self.dropout.p > 0
        w_in = w_ih.T * scale
        last = len(steps) - 1
        if any(len(step["node"]) == 0 for step in steps):
            return h.new_zeros(h.shape[0], hidden)
        grad = torch.is_grad_enabled() and (h.requires_grad or w_hh.requires_grad
                                            or (edge_h is not None and edge_h.requires_grad))
        cell = _TrieCell.apply if grad else _cell_inplace
        chunk = max(1, min(_LSTM_CHUNK, (_CHUNK_FLOATS_GRAD if grad else _CHUNK_FLOATS)
                           // (4 * hidden)))
        # node and distance projections in one table when it is smaller than the level
        tables: list[tuple[Tensor, int | None]] = []
        for step in steps:
            if dist_in is not None and len(node_in) * len(dist_in) <= len(step["node"]):
                tables.append(((node_in[:, None, :] + dist_in[None, :, :]).reshape(
                    -1, 4 * hidden), len(dist_in)))
            else:
                tables.append((node_in, None))
        pooled = h.new_zeros(h.shape[0], hidden)

        def visit(j: int, lo: int, hi: int, parent_h: Tensor | None,
                  parent_c: Tensor | None, base: int) -> None:
            """States of entries lo:hi of level j, whose parents are the rows of
            ``parent_h``/``parent_c`` (parent index - base); depth first in chunks that
            fit in the CPU cache, so only one chunk per level is alive (levels are sorted
            by parent)."""
            nonlocal pooled
            step = steps[j]
            recur = parent_h @ w_hh if parent_h is not None else None
            table, labels = tables[j]
            for a in range(lo, hi, chunk):
                b = min(a + chunk, hi)
                node = step["node"][a:b]
                if per_entry:
                    parts = [h.index_select(0, node)]
                    if dist_in is not None:
                        parts.append(self.distance_embedding.weight.index_select(
                            0, step["dist"][a:b]))
                    if edge_in is not None:
                        parts.append(edge_h.index_select(0, step["edge"][a:b]) if j > 0 else
                                     h.new_zeros(b - a, hidden))
                    gates = torch.addmm(bias, self.dropout(torch.cat(parts, 1)), w_in)
                elif labels is not None:
                    gates = table.index_select(0, node * labels + step["dist"][a:b])
                else:
                    gates = node_in.index_select(0, node)
                    if dist_in is not None:
                        gates.add_(dist_in.index_select(0, step["dist"][a:b]))
                if edge_in is not None and j > 0 and not per_entry:
                    gates.add_(edge_in.index_select(0, step["edge"][a:b]))
                parent_state = None
                if recur is not None:
                    parent = step["parent"][a:b] - base
                    gates.add_(recur.index_select(0, parent))
                    parent_state = parent_c.index_select(0, parent)
                h_new, c = cell(gates, parent_state)
                if j == last:  # the full paths: pool into the start nodes right away
                    pooled = pooled.index_add_(0, node, h_new)
                else:
                    bounds = torch.searchsorted(steps[j + 1]["parent"],
                                                torch.tensor([a, b], device=node.device))
                    lo_child, hi_child = int(bounds[0]), int(bounds[1])
                    if hi_child > lo_child:
                        visit(j + 1, lo_child, hi_child, h_new, c, a)

        visit(0, 0, len(steps[0]["node"]), None, None, 0)
        out = pooled
        if self.path_agg == "mean":
            starts = steps[-1]["node"]
            count = torch.bincount(starts, minlength=h.shape[0]).clamp(min=1)
            out = out / count.unsqueeze(1).to(out.dtype)
        return out


def _cell_inplace(gates: Tensor, parent_c: Tensor | None) -> tuple[Tensor, Tensor]:
    """The LSTM cell on pre-activations ``gates`` [N, 4H] (g rows scaled by 2), without
    autograd: overwrites ``gates``; returns ``(h, c)``."""
    i, f, g, o = torch.sigmoid_(gates).chunk(4, dim=1)
    g.mul_(2.0).sub_(1.0)  # tanh of the unscaled pre-activation
    c = torch.mul(i, g)
    if parent_c is not None:
        c.addcmul_(f, parent_c)
    return torch.tanh(c).mul_(o), c


class _TrieCell(torch.autograd.Function):
    """The LSTM cell of :func:`_cell_inplace` as one autograd node with a hand-written
    backward: saves the gate activations, ``tanh(c)`` and the parent cell states instead of
    every intermediate of the elementwise chain."""

    @staticmethod
    def forward(ctx: Any, pre: Tensor, parent_c: Tensor | None) -> tuple[Tensor, Tensor]:
        gates = torch.sigmoid(pre)
        i, f, s, o = gates.chunk(4, dim=1)
        g = s * 2.0 - 1.0
        c = i * g
        if parent_c is not None:
            c.addcmul_(f, parent_c)
        tanh_c = torch.tanh(c)
        ctx.save_for_backward(gates, tanh_c, parent_c)
        ctx.set_materialize_grads(False)
        return o * tanh_c, c

    @staticmethod
    def backward(ctx: Any, grad_h: Tensor | None, grad_c: Tensor | None
                 ) -> tuple[Tensor | None, Tensor | None]:
        gates, tanh_c, parent_c = ctx.saved_tensors
        i, f, s, o = gates.chunk(4, dim=1)
        d = torch.empty_like(gates)  # d loss / d pre, filled per gate
        d_i, d_f, d_s, d_o = d.chunk(4, dim=1)
        if grad_h is not None:
            torch.mul(grad_h, tanh_c, out=d_o)
            d_c = (1.0 - tanh_c * tanh_c).mul_(o).mul_(grad_h)
            if grad_c is not None:
                d_c.add_(grad_c)
        else:
            d_o.zero_()
            d_c = grad_c.clone() if grad_c is not None else torch.zeros_like(tanh_c)
        torch.mul(d_c, s * 2.0 - 1.0, out=d_i)
        torch.mul(d_c, i, out=d_s)
        d_s.mul_(2.0)
        d_parent = None
        if parent_c is not None:
            torch.mul(d_c, parent_c, out=d_f)
            d_parent = d_c.mul_(f) if ctx.needs_input_grad[1] else None
        else:
            d_f.zero_()
        d.mul_(gates - gates * gates)  # sigmoid'
        return d, d_parent


# --------------------------------------------------------------------------- record


@hookimpl
def wlkit_subgraph_policies() -> list[SubgraphPolicyRecord]:
    return [
        SubgraphPolicyRecord(
            name="pathnn", factory=PathPolicy,
            summary="PathNN (Michel et al. 2023): LSTM over the paths from each node, layer l "
                    "reads length-l paths; sp (NOT invariant: index tie-break), sp_plus and "
                    "ap (invariant).",
            params=(
                Param("paths", str, "sp_plus", "sp: one shortest path per pair (tie-break by "
                      "node index, not invariant); sp_plus: all shortest paths; ap: all "
                      "simple paths", choices=PATH_KINDS),
                Param("K", int, 3, "maximal path length in edges = number of layers (set "
                      "model.num_layers to the same value)", minimum=1, maximum=64),
                Param("encode_distances", bool, None, "annotate path nodes with their "
                      "distance from the start node (default: on for ap, off otherwise)",
                      nullable=True),
                Param("path_agg", str, "sum", "pooling of the path states into the start "
                      "node", choices=("sum", "mean")),
                Param("edge_features", bool, True, "feed encoded edge features along the "
                      "paths to the LSTM when the dataset has them"),
                Param("l2_norm", bool, False, "L2-normalise node states before each layer "
                      "(the authors' AP setting on CSL and SR25)"),
                Param("phi", str, "relu", "update after residual and norm: relu (paper's "
                      "synthetic models) or mlp (authors' OGB models)", choices=("relu", "mlp")),
                Param("max_paths", int, DEFAULT_MAX_PATHS, "budget of path candidates per "
                      "graph; above it preparation stops with an error naming the estimate",
                      minimum=1),
            ),
            permutation_invariant=False,
            expressivity="sp_plus > 1-WL (CSL); ap with distances not 2-FWL-bounded (SR25)",
            approximate="permutation_invariant is False because paths=sp is not invariant; "
                        "sp_plus and ap are. SP keeps one shortest path per unordered pair "
                        "(smallest-index predecessor tie-break) where the authors' code keeps "
                        "igraph's BFS choice; both depend on the node numbering. LSTM input "
                        "dropout is drawn per trie entry (shared by paths with a common "
                        "prefix), not per path and step.",
        ),
    ]
