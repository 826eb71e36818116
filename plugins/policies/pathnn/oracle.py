"""The exact oracle of PathNN (sp_plus and ap): path refinement, an upper bound of the
model with the same settings, provided to :mod:`wlkit.wl` through the hook
``wlkit_oracles`` as the family ``path_<kind>_K<K>[_dist]`` (resolved on first use)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from wlkit import OracleFamilyRecord, OracleRecord, WlkitError, hookimpl
from wlkit.plugins.policies.pathnn.enumeration import (
    PATH_KINDS,
    enumerate_paths,
    path_count_bound,
)
from wlkit.wl import multiset_ids

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


def path_refinement(graphs: list[Any], kind: str, K: int, distances: bool, *,
                    history: bool = False) -> tuple[Any, ...]:
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
    history : bool
        Also return the colours after every layer ``l = 0 .. K`` (``wlkit.wl`` then tells
        after how many layers each pair separates: layer ``l`` reads the paths of ``l``
        edges, so a pair first separated at ``l`` needs ``K >= l``).

    Returns
    -------
    colours : list of numpy.ndarray
        Per graph, int64 ``[n]`` node colours after ``K`` layers, one palette.
    rounds : int
        ``K``.
    steps : list of list of numpy.ndarray
        Only with ``history``: ``steps[l]`` the per-graph colours after layer ``l``.

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
    steps = [colours]  # the colours after each layer (each one a new array)
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
        steps.append(colours)

    def split(flat: np.ndarray) -> list[np.ndarray]:
        return [flat[offsets[i]:offsets[i + 1]] for i in range(len(graphs))]

    if history:
        return split(colours), K, [split(step) for step in steps]
    return split(colours), K


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
    """The exact oracle of PathNN with given settings, as :mod:`wlkit.wl` runs it.

    Calling it refines graphs (:func:`path_refinement`); :meth:`cost` estimates the work
    of one graph (nodes + edges + the non-backtracking walks bounding its paths,
    :func:`path_count_bound`). Equal settings give equal objects. Use :func:`path_oracle`
    to get the oracle's name.

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

    def __call__(self, graphs: list[Any]) -> tuple[Any, ...]:
        # with the history, wlkit.wl reports after how many layers each pair separates
        return path_refinement(graphs, self.kind, self.K, self.distances, history=True)

    def cost(self, graph: Any) -> int:
        edges = np.asarray(graph.edges, dtype=np.int64).reshape(-1, 2)
        walks = path_count_bound(graph.num_nodes, edges[:, 0], edges[:, 1], self.K)
        return graph.num_nodes + len(edges) + walks


_ORACLE_VERSION = "1"  # part of the cache key of oracle answers: bump when answers change


def path_oracle(kind: str, K: int, distances: bool) -> str | None:
    """The name of the exact oracle of PathNN with these settings (in :mod:`wlkit.wl`).

    ``sp_plus`` ignores ``distances`` (the i-th node of a shortest path is at distance i,
    so they add nothing): ``path_sp_plus_K<K>``. ``ap``: ``path_ap_K<K>`` or
    ``path_ap_K<K>_dist``. ``sp`` has none (None): its tie-break depends on the node
    numbering, so it is not invariant. The plugin's ``wlkit_oracles`` hook resolves the
    name when :mod:`wlkit.wl` first sees it.

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
    return PathOracle(kind, K, bool(distances) and kind == "ap").name


_ORACLE_NAME = re.compile(r"path_(sp_plus|ap)_K([1-9][0-9]?)(_dist)?")


def _resolve_path_oracle(name: str) -> OracleRecord | None:
    """The record of ``path_<kind>_K<K>[_dist]`` (``wlkit analyze --oracle``), else None."""
    match = _ORACLE_NAME.fullmatch(name)
    if match is None:
        return None
    kind, K, distances = match.group(1), int(match.group(2)), match.group(3) is not None
    if K > 64 or (kind == "sp_plus" and distances):  # sp_plus names carry no _dist
        return None
    oracle = PathOracle(kind, K, distances)
    return OracleRecord(name=oracle.name, refine=oracle, summary=oracle.summary, layer_rounds=True,
                        version=_ORACLE_VERSION, cost=oracle.cost)


@hookimpl
def wlkit_oracles() -> list[OracleFamilyRecord]:
    return [OracleFamilyRecord(prefix="path_", resolve=_resolve_path_oracle,
                               pattern="path_sp_plus_K<K>, path_ap_K<K>[_dist] (pathnn)")]
