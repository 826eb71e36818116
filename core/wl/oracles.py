"""Public WL oracles: which graphs a given colour-refinement test can tell apart.

Every oracle refines all graphs of one call jointly with one palette and then gives each graph
a *graph colour* (an id): two graphs get the same id iff the oracle does not distinguish them.

What each oracle computes (all run to the stable partition unless ``max_rounds`` is given):

``1-WL``
    Colour refinement. Initial colour = node label (0 if unlabelled); a round maps ``c(v)`` to
    ``(c(v), {{(edge label, c(u)) : u ~ v}})``. Graph colour = histogram of node colours.
``2-FWL``
    Folklore 2-WL (as strong as 3-WL) on ordered pairs. Initial colour of ``(u, v)`` = atomic
    type ``(u == v, u ~ v, edge label, label(u), label(v))``; a round maps ``c(u, v)`` to
    ``(c(u, v), {{(c(u, w), c(w, v)) : w in V}})``. Graph colour = histogram of pair colours.
Subgraph oracles (DS-WL, Bevilacqua et al. 2022)
    The graph is replaced by a bag of subgraphs (:func:`wlkit.wl.subgraphs.subgraph_bag`).
    Every subgraph is refined by 1-WL with initial colour ``(node label, mark)``; all
    subgraphs of all graphs share one palette. Subgraph colour = histogram of its stable node
    colours; graph colour = multiset of its subgraph colours. There is no message passing
    between subgraphs (that would be DSS-WL).

    ``node_marked`` n copies, node v marked in copy v; ``node_deleted`` G - v for every v;
    ``ego1`` / ``ego2`` induced 1-/2-hop ego-nets, unmarked; ``ego1+`` / ``ego2+`` the same
    with the root marked; ``two_node_marked`` n^2 copies, one per ordered pair (u, v) with u
    and v marked by distinct ids (u == v gets a third id): (1,2)-WL of Zhou et al. 2023.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from ..graphs import SimpleGraph
from ._canon import multiset_ids
from .refine import fwl2_initial_colors, refine_1wl, refine_2fwl
from .subgraphs import Bag, bag_union, subgraph_bag

T = TypeVar("T")

__all__ = [
    "ORACLES",
    "ORACLE_SUMMARIES",
    "WLResult",
    "check_oracle",
    "distinguishes",
    "graph_classes",
    "separated_pairs",
    "wl_colors",
]

#: One-line description of every oracle name accepted by this module.
ORACLE_SUMMARIES: dict[str, str] = {
    "1-WL": "colour refinement (1-WL)",
    "2-FWL": "folklore 2-WL on ordered pairs (= 3-WL)",
    "node_marked": "DS-WL over n node-marked copies",
    "node_deleted": "DS-WL over the n node-deleted subgraphs",
    "ego1": "DS-WL over 1-hop ego-nets (root unmarked)",
    "ego2": "DS-WL over 2-hop ego-nets (root unmarked)",
    "ego1+": "DS-WL over 1-hop ego-nets with the root marked",
    "ego2+": "DS-WL over 2-hop ego-nets with the root marked",
    "two_node_marked": "DS-WL over n^2 copies with an ordered node pair marked ((1,2)-WL)",
}

#: The oracle names, in the order reports list them.
ORACLES: tuple[str, ...] = tuple(ORACLE_SUMMARIES)

# oracle -> (policy, hops, root_mark) for the subgraph oracles
_SUBGRAPH: dict[str, tuple[str, int, bool]] = {
    "node_marked": ("node_marked", 0, False),
    "node_deleted": ("node_deleted", 0, False),
    "ego1": ("ego", 1, False),
    "ego2": ("ego", 2, False),
    "ego1+": ("ego", 1, True),
    "ego2+": ("ego", 2, True),
    "two_node_marked": ("two_node_marked", 0, False),
}


def check_oracle(oracle: str) -> str:
    """Return ``oracle`` if it is known, else raise ``ValueError`` listing the choices."""
    if oracle not in ORACLE_SUMMARIES:
        raise ValueError(f"unknown WL oracle {oracle!r}; choose from: {', '.join(ORACLES)}")
    return oracle


@dataclass(frozen=True)
class WLResult:
    """Outcome of a joint refinement.

    Attributes
    ----------
    oracle : str
        The oracle name.
    colors : list of numpy.ndarray
        Per graph, the colours of the refined units in one shared palette: node colours
        ``[n]`` for ``1-WL``, pair colours ``[n, n]`` for ``2-FWL``, and subgraph colours
        ``[S]`` (bag order, see :func:`~wlkit.wl.subgraphs.subgraph_bag`) for subgraph
        oracles.
    graph_ids : numpy.ndarray
        int64 ``[num_graphs]``; equal iff the oracle does not distinguish the graphs.
    rounds : int
        Refinement rounds performed.
    stable : bool
        True when the partition is stable. When False (``max_rounds`` reached, or an early
        stop once all pairs of interest differed), unequal ``graph_ids`` still prove
        separation, but equal ids only mean "equal after ``rounds`` rounds".
    """

    oracle: str
    colors: list[np.ndarray]
    graph_ids: np.ndarray
    rounds: int
    stable: bool

    def classes(self) -> list[list[int]]:
        """Graph indices grouped by graph colour, in order of first appearance."""
        groups: dict[int, list[int]] = {}
        for i, gid in enumerate(self.graph_ids.tolist()):
            groups.setdefault(gid, []).append(i)
        return list(groups.values())


def _as_list(graphs: SimpleGraph | Iterable[SimpleGraph]) -> list[SimpleGraph]:
    items = [graphs] if isinstance(graphs, SimpleGraph) else list(graphs)
    for i, g in enumerate(items):
        if not isinstance(g, SimpleGraph):
            raise TypeError(f"graph {i} is a {type(g).__name__}, expected SimpleGraph")
    return items


def _pair_stop(
    pairs: np.ndarray | None, ids_of: Callable[[T], np.ndarray]
) -> Callable[[T], bool] | None:
    """Build a stop callback: stop once every listed pair has different graph ids.

    Stopping there is sound: each round refines the previous partition, so a difference in
    graph colours never disappears later.
    """
    if pairs is None or len(pairs) == 0:
        return None

    def stop(colors: T) -> bool:
        ids = ids_of(colors)
        return bool((ids[pairs[:, 0]] != ids[pairs[:, 1]]).all())

    return stop


def _whole_graph_bag(g: SimpleGraph) -> Bag:
    n = g.num_nodes
    return Bag(np.ones((1, n), bool), np.zeros((1, n), np.int64), np.zeros((1, 0), np.int64))


def _run(
    graphs: list[SimpleGraph],
    oracle: str,
    max_rounds: int | None,
    pairs: np.ndarray | None = None,
) -> WLResult:
    check_oracle(oracle)
    num = len(graphs)
    if oracle == "2-FWL":
        atomic = [
            fwl2_initial_colors(g.num_nodes, g.edges, g.node_labels, g.edge_labels) for g in graphs
        ]

        def ids_2fwl(colors: list[np.ndarray]) -> np.ndarray:
            owner = np.repeat(np.arange(num), [c.size for c in colors])
            flat = np.concatenate([np.zeros(0, np.int64)] + [c.ravel() for c in colors])
            return multiset_ids(owner, flat, num)[0]

        pair_colors, rounds, stable = refine_2fwl(
            atomic, max_rounds=max_rounds, stop=_pair_stop(pairs, ids_2fwl)
        )
        return WLResult(oracle, pair_colors, ids_2fwl(pair_colors), rounds, stable)

    # 1-WL is the subgraph machinery with one unmarked subgraph per graph: the graph itself.
    if oracle == "1-WL":
        bags = [_whole_graph_bag(g) for g in graphs]
    else:
        policy, hops, root_mark = _SUBGRAPH[oracle]
        bags = [subgraph_bag(g, policy, hops=hops, root_mark=root_mark) for g in graphs]
    union = bag_union(graphs, bags)

    def sub_ids(colors: np.ndarray) -> np.ndarray:
        return multiset_ids(union.subgraph_of_node, colors, union.num_subgraphs)[0]

    def graph_ids(colors: np.ndarray) -> np.ndarray:
        return multiset_ids(union.graph_of_subgraph, sub_ids(colors), num)[0]

    colors, rounds, stable = refine_1wl(
        union.num_nodes,
        union.src,
        union.dst,
        union.init,
        union.edge_colors,
        max_rounds=max_rounds,
        stop=_pair_stop(pairs, graph_ids),
    )
    if oracle == "1-WL":
        # Subgraph s is graph s, so node colours split at the graphs' node offsets.
        bounds = np.concatenate([[0], np.cumsum([g.num_nodes for g in graphs])])
        units = colors
    else:
        bounds = np.concatenate([[0], np.cumsum([b.keep.shape[0] for b in bags])])
        units = sub_ids(colors)
    per_graph = [units[bounds[i] : bounds[i + 1]] for i in range(num)]
    return WLResult(oracle, per_graph, graph_ids(colors), rounds, stable)


def wl_colors(
    graphs: SimpleGraph | Iterable[SimpleGraph],
    oracle: str = "1-WL",
    *,
    max_rounds: int | None = None,
) -> WLResult:
    """Refine one graph or several graphs jointly under ``oracle``.

    Parameters
    ----------
    graphs : SimpleGraph or iterable of SimpleGraph
        The graphs; colours are comparable across all of them.
    oracle : str
        One of :data:`ORACLES`.
    max_rounds : int, optional
        Stop after this many rounds (default: run to the stable partition, which is what
        the oracle's separation power refers to).

    Returns
    -------
    WLResult
        Per-graph colours and graph ids; see :class:`WLResult`.

    Raises
    ------
    ValueError
        If ``oracle`` is unknown.
    """
    return _run(_as_list(graphs), oracle, max_rounds)


def graph_classes(graphs: Iterable[SimpleGraph], oracle: str = "1-WL") -> np.ndarray:
    """Graph ids under ``oracle``: ``ids[i] == ids[j]`` iff graphs i and j are not separated.

    All graphs are refined jointly, so this answers all pairs at once (e.g. the 105 pairs of
    SR25 or the 45 CSL class pairs).
    """
    return _run(_as_list(graphs), oracle, None).graph_ids


def distinguishes(g: SimpleGraph, h: SimpleGraph, oracle: str = "1-WL") -> bool:
    """Whether ``oracle`` tells ``g`` and ``h`` apart.

    Refinement stops early as soon as the two graph colours differ (a difference never
    disappears in later rounds, because each round refines the previous partition); otherwise
    it runs to the stable partition.
    """
    res = _run(_as_list([g, h]), oracle, None, np.array([[0, 1]]))
    return bool(res.graph_ids[0] != res.graph_ids[1])


def _cost(g: SimpleGraph, oracle: str) -> int:
    n, m = g.num_nodes, g.num_edges
    if oracle == "1-WL":
        return n + m
    if oracle == "2-FWL":
        return n**3 + 1
    if oracle == "two_node_marked":
        return n * n * (n + m) + 1
    return n * (n + m) + 1


def separated_pairs(
    pairs: Sequence[tuple[SimpleGraph, SimpleGraph]],
    oracle: str = "1-WL",
    *,
    budget: int = 2_000_000,
) -> np.ndarray:
    """Decide many pairs at once: ``out[i]`` is True iff ``oracle`` separates ``pairs[i]``.

    Pairs are packed into batches of about ``budget`` work units (nodes + edges of the unions;
    n^3 per graph for 2-FWL) and each batch is refined jointly, stopping early once every pair
    of the batch is separated. The answer equals ``distinguishes`` pair by pair.
    """
    check_oracle(oracle)
    out = np.zeros(len(pairs), dtype=bool)
    start = 0
    while start < len(pairs):
        stop, used = start, 0
        while stop < len(pairs) and (stop == start or used < budget):
            used += _cost(pairs[stop][0], oracle) + _cost(pairs[stop][1], oracle)
            stop += 1
        graphs = [g for pair in pairs[start:stop] for g in pair]
        idx = np.arange(stop - start)
        res = _run(_as_list(graphs), oracle, None, np.stack([2 * idx, 2 * idx + 1], axis=1))
        out[start:stop] = res.graph_ids[0::2] != res.graph_ids[1::2]
        start = stop
    return out
