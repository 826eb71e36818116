"""Path enumeration for PathNN: vectorised frontier expansion over CSR neighbour lists,
all paths of one length extended by one edge at once (no per-path Python code)."""

from __future__ import annotations

from typing import Any

import numpy as np

from wlkit import (
    WlkitError,
)

PATH_KINDS: tuple[str, ...] = ("sp", "sp_plus", "ap")
"""The path collections: one shortest path, all shortest paths, all simple paths."""

DEFAULT_MAX_PATHS = 2_000_000
"""Default budget of path candidates per graph (see :class:`PathBudgetError`)."""


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
