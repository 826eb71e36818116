"""Exact, sort-based canonical ids for rows and multisets (no per-node Python).

Colour refinement needs, every round, an injective relabelling of "old colour + multiset of
neighbour colours". Python dicts per node are slow, and plain hashing can collide. Here every
multiset is written as a sorted row of integers, rows of equal length are grouped, and equal
rows get equal ids by sorting. Wide rows are first sorted by a 64-bit row hash for speed, and
the result is verified exactly (on any collision the code falls back to a full lexicographic
sort), so ids are always exact. Ids are dense (``0 .. k-1``) and depend only on the *set* of
rows, so they form one shared palette for everything refined together.
"""

from __future__ import annotations

import numpy as np

__all__ = ["canon_rows", "distribution_ids", "multiset_ids"]

_I64_MAX = np.iinfo(np.int64).max
# Fixed odd multipliers: the row hash (and therefore the id order) is deterministic.
_HASH_WEIGHTS = (
    np.random.default_rng(0x5EED).integers(0, 2**63 - 1, size=64, dtype=np.int64) * 2 + 1
).view(np.uint64)


def _ids_from_sorted(order: np.ndarray, boundary: np.ndarray) -> tuple[np.ndarray, int]:
    ids = np.empty(len(order), dtype=np.int64)
    ids[order] = np.cumsum(boundary) - 1
    return ids, int(boundary.sum())


def _row_hash(rows: np.ndarray) -> np.ndarray:
    c = rows.shape[1]
    weights = np.resize(_HASH_WEIGHTS, c)
    # Mix in the column index too so permuted rows rarely collide; arithmetic wraps mod 2^64.
    weights = weights ^ (np.arange(c, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15))
    u = rows.astype(np.uint64, copy=False)
    return (u * weights).sum(axis=1, dtype=np.uint64)


def canon_rows(rows: np.ndarray) -> tuple[np.ndarray, int]:
    """Give equal rows equal ids.

    Parameters
    ----------
    rows : numpy.ndarray
        Non-negative-or-not integer matrix of shape ``[r, c]``.

    Returns
    -------
    ids : numpy.ndarray
        int64 ``[r]``; ``ids[i] == ids[j]`` iff ``rows[i]`` equals ``rows[j]``. Ids are
        ``0 .. k-1`` and depend only on the set of distinct rows.
    k : int
        Number of distinct rows.
    """
    r = rows.shape[0]
    if r == 0:
        return np.zeros(0, dtype=np.int64), 0
    if rows.ndim != 2 or rows.shape[1] == 0:
        return np.zeros(r, dtype=np.int64), 1
    rows = np.asarray(rows, dtype=np.int64)
    if rows.shape[1] == 1:
        key = rows[:, 0]
    elif rows.shape[1] == 2:
        # Two small non-negative columns pack into one exact key when it cannot overflow.
        lo, hi = rows.min(axis=0), rows.max(axis=0)
        span = hi[1] - lo[1] + 1
        if lo.min() >= 0 and hi[0] < _I64_MAX // max(int(span), 1):
            key = rows[:, 0] * span + (rows[:, 1] - lo[1])
        else:
            key = None
    else:
        key = None
    if key is not None:
        _, ids = np.unique(key, return_inverse=True)
        return ids.astype(np.int64), int(ids.max()) + 1
    h = _row_hash(rows)
    order = np.argsort(h)
    hs = h[order]
    srt = rows[order]
    differs = np.empty(r, dtype=bool)
    differs[0] = True
    differs[1:] = (srt[1:] != srt[:-1]).any(axis=1)
    new_hash = np.empty(r, dtype=bool)
    new_hash[0] = True
    new_hash[1:] = hs[1:] != hs[:-1]
    if np.array_equal(differs, new_hash):
        # Every equal-hash run holds identical rows: the hash order is an exact grouping.
        return _ids_from_sorted(order, new_hash)
    # A 64-bit collision (practically never): fall back to an exact lexicographic sort.
    order = np.lexsort(rows.T[::-1])
    srt = rows[order]
    differs[1:] = (srt[1:] != srt[:-1]).any(axis=1)
    return _ids_from_sorted(order, differs)


def multiset_ids(
    owner: np.ndarray,
    values: np.ndarray,
    num_owners: int,
    prefix: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """Canonical ids of the multisets ``{values[i] : owner[i] == o}`` for every owner ``o``.

    Parameters
    ----------
    owner : numpy.ndarray
        int64 ``[e]``, values in ``0 .. num_owners-1``.
    values : numpy.ndarray
        int64 ``[e]``, the multiset elements.
    num_owners : int
        Number of multisets (owners without elements get the empty multiset).
    prefix : numpy.ndarray, optional
        int64 ``[num_owners]``; if given, the id is of the pair ``(prefix[o], multiset)``.

    Returns
    -------
    ids : numpy.ndarray
        int64 ``[num_owners]``; equal iff (prefix and) multiset are equal.
    k : int
        Number of distinct ids.

    Examples
    --------
    >>> ids, k = multiset_ids(np.array([0, 0, 1, 1, 2]), np.array([5, 7, 7, 5, 5]), 4)
    >>> bool(ids[0] == ids[1]), bool(ids[0] == ids[2]), k  # {5, 7} twice, {5}, and {}
    (True, False, 3)

    Notes
    -----
    Elements are sorted by (owner, value) once; the owners of each multiset size then give a
    dense ``[owners, size]`` block of sorted rows, canonicalised by :func:`canon_rows`. The
    Python loop runs over distinct sizes only (at most ``sqrt(2e) + 1`` of them).
    """
    owner = np.asarray(owner, dtype=np.int64)
    values = np.asarray(values, dtype=np.int64)
    ids = np.empty(num_owners, dtype=np.int64)
    if num_owners == 0:
        return ids, 0
    counts = np.bincount(owner, minlength=num_owners)
    if len(values):
        vmin = int(values.min())
        span = int(values.max()) - vmin + 1
        if num_owners < _I64_MAX // span:
            # One int64 key (owner, value) sorts faster than a two-key lexsort.
            order = np.argsort(owner * span + (values - vmin), kind="stable")
        else:
            order = np.lexsort((values, owner))
        vals = values[order]
    else:
        vals = values
    starts = np.cumsum(counts) - counts
    offset = 0
    for size in np.unique(counts).tolist():
        sel = np.flatnonzero(counts == size)
        block = vals[starts[sel][:, None] + np.arange(size)]
        if prefix is not None:
            block = np.concatenate([prefix[sel, None], block], axis=1)
        local, k = canon_rows(block)
        ids[sel] = local + offset
        offset += k
    return ids, offset


def distribution_ids(owner: np.ndarray, element: np.ndarray, num_owners: int) -> np.ndarray:
    """Canonical ids of the *distributions* of ``element`` per owner: two owners get equal ids
    iff their multisets are proportional (what a mean keeps). Counts divided by their gcd are
    the minimal integer representative; owners without elements share one id.

    Examples
    --------
    >>> ids = distribution_ids(np.array([0, 0, 1, 1, 1, 1, 2]), np.array([5, 7, 5, 5, 7, 7, 5]), 4)
    >>> bool(ids[0] == ids[1]), bool(ids[0] == ids[2]), bool(ids[2] == ids[3])
    (True, False, False)
    """
    owner = np.asarray(owner, dtype=np.int64)
    element = np.asarray(element, dtype=np.int64)
    if len(owner) == 0:
        return np.zeros(num_owners, dtype=np.int64)
    pairs, counts = np.unique(np.stack([owner, element], axis=1), axis=0, return_counts=True)
    starts = np.flatnonzero(np.r_[True, pairs[1:, 0] != pairs[:-1, 0]])
    gcd = np.gcd.reduceat(counts, starts)
    reduced = counts // np.repeat(gcd, np.diff(np.r_[starts, len(counts)]))
    code, _ = canon_rows(np.stack([pairs[:, 1], reduced], axis=1))
    return multiset_ids(pairs[:, 0], code, num_owners)[0]
