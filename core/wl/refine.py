"""Colour refinement kernels on flat arrays: 1-WL on a disjoint union, and 2-FWL.

Both kernels refine everything they are given *jointly* with one palette, so colours (and the
colour histograms built from them) are comparable across graphs. Every round the new colour is
a canonical id of (old colour, multiset), so the partition only gets finer; the loop stops when
the number of colour classes stops growing, i.e. at the stable partition.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ._canon import canon_rows, multiset_ids

__all__ = ["refine_1wl", "refine_2fwl", "fwl2_initial_colors"]

#: Called after every round with the current colours; returning True stops the refinement
#: early (the result is then not stable). Used to stop once every pair of interest differs.
StopFn = Callable[[np.ndarray], bool]


def _dense(labels: np.ndarray) -> tuple[np.ndarray, int]:
    if labels.size == 0:
        return np.zeros(0, dtype=np.int64), 0
    _, inv = np.unique(labels, return_inverse=True)
    return inv.astype(np.int64).reshape(labels.shape), int(inv.max()) + 1


def refine_1wl(
    num_nodes: int,
    src: np.ndarray,
    dst: np.ndarray,
    init_colors: np.ndarray | None = None,
    edge_colors: np.ndarray | None = None,
    *,
    max_rounds: int | None = None,
    stop: StopFn | None = None,
) -> tuple[np.ndarray, int, bool]:
    """1-WL colour refinement on one (possibly disconnected) graph given as directed arcs.

    Round update: ``c'(v) = id(c(v), {{ (edge_colors[a], c(src[a])) : dst[a] == v }})``.
    Pass both directions of every undirected edge. To refine several graphs jointly, pass
    their disjoint union: a node's colour only depends on its own component, so the shared
    palette makes colours comparable across the graphs.

    Parameters
    ----------
    num_nodes : int
        Number of nodes N.
    src, dst : numpy.ndarray
        int64 ``[E]`` arc endpoints; messages flow ``src -> dst``.
    init_colors : numpy.ndarray, optional
        Integer ``[N]`` initial colours (any integers; only equality matters). Default: all 0.
    edge_colors : numpy.ndarray, optional
        Integer ``[E]`` arc labels entering the multiset. Default: all 0.
    max_rounds : int, optional
        Stop after this many rounds even if not stable (default: run to the stable partition).
    stop : callable, optional
        ``stop(colors) -> bool`` evaluated after each round; True stops early.

    Returns
    -------
    colors : numpy.ndarray
        int64 ``[N]`` colours ``0 .. k-1``.
    rounds : int
        Rounds performed (the final, non-refining check round is not counted).
    stable : bool
        Whether the returned partition is stable.
    """
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    init = np.zeros(num_nodes, dtype=np.int64) if init_colors is None else init_colors
    colors, k = _dense(np.asarray(init, dtype=np.int64))
    if edge_colors is None:
        ecol, n_ecol = np.zeros(len(src), dtype=np.int64), 1
    else:
        ecol, n_ecol = _dense(np.asarray(edge_colors, dtype=np.int64))
        n_ecol = max(n_ecol, 1)
    if stop is not None and stop(colors):
        return colors, 0, False
    rounds = 0
    while max_rounds is None or rounds < max_rounds:
        # (edge colour, neighbour colour) packed into one int; both are dense and < N+E.
        msg = ecol * k + colors[src]
        new, k_new = multiset_ids(dst, msg, num_nodes, prefix=colors)
        if k_new == k:  # no class split: the partition is stable
            return new, rounds, True
        colors, k = new, k_new
        rounds += 1
        if stop is not None and stop(colors):
            return colors, rounds, False
    return colors, rounds, False


def fwl2_initial_colors(
    num_nodes: int,
    edges: np.ndarray,
    node_labels: np.ndarray | None = None,
    edge_labels: np.ndarray | None = None,
) -> np.ndarray:
    """Atomic type of every ordered pair ``(u, v)`` as an ``[n, n, 5]`` integer array.

    The five entries are ``(u == v, u ~ v, edge label or -1, label(u), label(v))`` (labels
    are 0 when absent); two pairs have the same atomic type iff these tuples are equal.
    """
    n = num_nodes
    t = np.zeros((n, n, 5), dtype=np.int64)
    t[:, :, 0] = np.eye(n, dtype=np.int64)
    t[:, :, 2] = -1
    u, v = edges[:, 0], edges[:, 1]
    t[u, v, 1] = t[v, u, 1] = 1
    if edge_labels is not None:
        t[u, v, 2] = t[v, u, 2] = edge_labels
    else:
        t[u, v, 2] = t[v, u, 2] = 0
    if node_labels is not None:
        t[:, :, 3] = node_labels[:, None]
        t[:, :, 4] = node_labels[None, :]
    return t


def refine_2fwl(
    atomic: Sequence[np.ndarray],
    *,
    max_rounds: int | None = None,
    stop: Callable[[list[np.ndarray]], bool] | None = None,
) -> tuple[list[np.ndarray], int, bool]:
    """Folklore 2-WL (2-FWL, as strong as 3-WL) refinement, jointly over several graphs.

    Round update for every ordered pair of one graph:
    ``c'(u, v) = id(c(u, v), {{ (c(u, w), c(w, v)) : w in V }})``.

    Parameters
    ----------
    atomic : sequence of numpy.ndarray
        Per graph, an ``[n, n, t]`` (or ``[n, n]``) integer array of initial pair colours,
        e.g. from :func:`fwl2_initial_colors`. Equal tuples = equal colours across graphs.
    max_rounds : int, optional
        Round limit (default: until stable).
    stop : callable, optional
        ``stop(colors_per_graph) -> bool`` evaluated after each round; True stops early.

    Returns
    -------
    colors : list of numpy.ndarray
        Per graph, int64 ``[n, n]`` pair colours in a shared palette.
    rounds : int
        Rounds performed.
    stable : bool
        Whether the partition is stable.

    Notes
    -----
    Graphs are processed in groups of equal size ``n``; for a group the ``[g, n, n, n]``
    tensor of packed ``(c(u,w), c(w,v))`` values is sorted along ``w`` and the resulting rows
    are canonicalised by sorting. Time per round is O(n^3 log n) and memory O(n^3) per graph,
    which is instant for n <= ~100 and fine up to a few hundred nodes.
    """
    arrays = [np.asarray(a, dtype=np.int64) for a in atomic]
    shapes = [a.shape[0] for a in arrays]
    width = {a.shape[2] if a.ndim == 3 else 1 for a in arrays}
    if len(width) > 1:
        raise ValueError(f"atomic types must have one width, got {sorted(width)}")
    w = width.pop() if width else 1
    flat = np.concatenate(
        [a.reshape(n * n, w) for a, n in zip(arrays, shapes)] or [np.zeros((0, w), dtype=np.int64)]
    )
    ids, k = canon_rows(flat)
    bounds = np.cumsum([0] + [n * n for n in shapes])
    colors = [ids[bounds[i] : bounds[i + 1]].reshape(n, n) for i, n in enumerate(shapes)]
    groups: dict[int, list[int]] = {}
    for i, n in enumerate(shapes):
        groups.setdefault(n, []).append(i)
    if stop is not None and stop(colors):
        return colors, 0, False
    rounds = 0
    while max_rounds is None or rounds < max_rounds:
        new_colors: list[np.ndarray] = [np.empty(0)] * len(colors)
        offset = 0
        for n, members in groups.items():
            if n == 0:  # empty graphs have no pairs to refine
                for i in members:
                    new_colors[i] = colors[i]
                continue
            c = np.stack([colors[i] for i in members])  # [g, n, n]
            # packed[g, u, v, w] = c[g, u, w] * k + c[g, w, v]; k^2 fits int64 comfortably.
            packed = (c * k)[:, :, None, :] + np.swapaxes(c, 1, 2)[:, None, :, :]
            packed.sort(axis=-1)
            rows = np.concatenate([c.reshape(-1, 1), packed.reshape(-1, n)], axis=1)
            local, kk = canon_rows(rows)
            local = (local + offset).reshape(len(members), n, n)
            for j, i in enumerate(members):
                new_colors[i] = local[j]
            offset += kk
        if offset == k:
            return new_colors, rounds, True
        colors, k = new_colors, offset
        rounds += 1
        if stop is not None and stop(colors):
            return colors, rounds, False
    return colors, rounds, False
