r"""The exact oracle of *localized* 2-node marking: ``two_node_marked_r<r>``.

:class:`~wlkit.plugins.policies.node_marking.NodeMarkingPolicy` with ``marked: 2`` and a
``radius`` ``r`` keeps only the copies of ordered pairs ``(u, v)``, ``u != v``, with
``dist(u, v) <= r``: the localized (1,2)-WL of Zhou et al. ("From Relational Pooling to
Subgraph GNNs: A Universal Framework for More Expressive Graph Neural Networks", ICML
2023), which trades the n^2 copies of the full variant for about ``n * d^r`` (``d`` the
degree). Its oracle is DS-WL over exactly those copies: the whole graph in each, ``u``
with mark 1 and ``v`` with mark 2 (a bag oracle of :func:`wlkit.wl.register_bag_oracle`,
so ``wlkit separate`` gets per-pair rounds and depth reasons for it as for the built-ins).

Why it is exact for the model and weaker than ``two_node_marked``: the model embeds the same
copies with an MPNN (bounded by 1-WL on each copy) and pools them with a mean, sum or max,
so its graph embedding is a function of the multiset of copy colours; with generic weights
it reaches it, as for every DS-WL oracle. The full oracle's stable copy colour of
``(u, v)`` determines ``dist(u, v)``, so the localized multiset is a function of the full
one: never more pairs than ``two_node_marked``.

Examples
--------
>>> from wlkit import graphs
>>> from wlkit.plugins.policies.marking_oracle import LocalPairs
>>> len(LocalPairs(1)(graphs.cycle(5)).roots)  # both orders of the 5 edges
10
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from wlkit import OracleFamilyRecord, OracleRecord
from wlkit.wl import Bag, hop_reach

__all__ = ["LocalPairs", "local_pairs_oracle", "wlkit_oracles"]

_ORACLE_VERSION = "1"  # part of the cache key of oracle answers: bump when answers change
PREFIX = "two_node_marked_r"
MAX_RADIUS = 64
_NAME = re.compile(re.escape(PREFIX) + r"([1-9][0-9]?)")


@dataclass(frozen=True)
class LocalPairs:
    """The copies of localized 2-node marking: ordered pairs within distance ``radius``.

    ``__call__(graph)`` gives a :class:`wlkit.wl.Bag` with one copy of the whole graph per
    ordered pair ``(u, v)``, ``u != v``, ``dist(u, v) <= radius`` (row-major, the order of
    :meth:`NodeMarkingPolicy.prepare`), ``u`` marked 1 and ``v`` marked 2. A graph without
    such a pair (no edge) has no copy.
    """

    radius: int

    def __call__(self, graph: Any) -> Bag:
        n = graph.num_nodes
        near = hop_reach(graph, self.radius) & ~np.eye(n, dtype=bool)
        u, v = np.nonzero(near)
        copies = np.arange(len(u))
        mark = np.zeros((len(u), n), dtype=np.int64)
        mark[copies, u] = 1
        mark[copies, v] = 2
        return Bag(np.ones((len(u), n), dtype=bool), mark,
                   np.stack([u, v], axis=1).astype(np.int64))

    def cost(self, graph: Any) -> int:
        """Node and arc entries of all copies, estimated without the distances (batching
        only): about 2m d^(r-1) copies (d the mean degree), at most n (n - 1), of n + 2m."""
        n, m = graph.num_nodes, graph.num_edges
        copies = min(n * (n - 1), 2 * m * max(1, 2 * m // max(n, 1)) ** (self.radius - 1))
        return max(copies, 1) * (n + 2 * m) + n + m + 1


def local_pairs_oracle(radius: int | None) -> str:
    """The oracle of 2-node marking with ``radius`` (None: every pair, the built-in).

    Examples
    --------
    >>> local_pairs_oracle(None), local_pairs_oracle(2)
    ('two_node_marked', 'two_node_marked_r2')
    """
    return "two_node_marked" if radius is None else f"{PREFIX}{radius}"


def _resolve(name: str) -> OracleRecord | None:
    match = _NAME.fullmatch(name)
    if match is None or int(match.group(1)) > MAX_RADIUS:
        return None
    bag = LocalPairs(int(match.group(1)))
    return OracleRecord(name=name, bag=bag, version=_ORACLE_VERSION, cost=bag.cost,
                        summary=f"DS-WL over 2-node-marked copies of pairs within distance "
                                f"{bag.radius} (localized (1,2)-WL)")


def wlkit_oracles() -> list[OracleFamilyRecord]:
    return [OracleFamilyRecord(prefix=PREFIX, resolve=_resolve,
                               pattern=f"{PREFIX}<r> (localized 2-node marking, r <= "
                                       f"{MAX_RADIUS})")]
