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

Registered oracles
    Plugins return :class:`wlkit.OracleRecord` (and :class:`wlkit.OracleFamilyRecord`) from
    the hook ``wlkit_oracles``; notebooks may call :func:`register_oracle` instead. A
    ``refine`` function gives node colours in one shared palette, and the graph colour is
    the histogram of node colours. :func:`oracle_names` lists the built-in :data:`ORACLES`
    and the registered names; every function of this module accepts both. E.g. the
    ``pathnn`` plugin provides the family ``path_<kind>_K<K>[_dist]`` (its path refinement).
Bag oracles (DS-WL over a policy's own copies)
    A ``bag`` function (:func:`register_bag_oracle`, ``OracleRecord(bag=...)`` or
    ``SubgraphPolicy.wl_bag``) lists the copies of one graph a policy builds
    (:class:`~wlkit.wl.subgraphs.Copy`: kept nodes and edges, node and edge marks). wlkit
    refines every copy with 1-WL, initial colour ``(node label, node mark)`` and edge colour
    ``(edge label, edge mark)``, all copies of all graphs in one palette; copy colour =
    histogram of its stable node colours; graph colour = multiset of its copy colours
    (exactly DS-WL, as the built-in subgraph oracles). Node colour of ``v`` = multiset of
    (copy colour, colour of ``v`` in the copy) over the copies that keep ``v``.
Rounds and layers
    :func:`separation_rounds` says, per pair, the first round ``r`` after which the two
    graph colours differ (0: the initial colours already do). Rounds only refine, so the
    pair is separated after every later round and after no earlier one. How a model's
    depth relates to rounds (the mapping ``wlkit separate`` uses to call a missing pair
    ``depth``-limited, :func:`wlkit.tools.separate.model_rounds`):

    * ``1-WL``: an MPNN's layer ``t`` is a function of the colours after round ``t`` (GIN
      with sum aggregation is exactly as fine), so ``L`` layers separate at most the pairs
      with ``r <= L``; the readout adds no round.
    * DS-WL oracles (node_marked, node_deleted, ego*, two_node_marked, bag oracles): the
      base MPNN runs its ``L`` layers on every copy (marks enter as initial colours, at
      round 0) and the copies are pooled, which is bounded by the copies' colours after
      ``L`` rounds: node marking l = 1, 2 and ego / node-deleted DS-GNNs need ``r <= L``.
      DSS-GNNs (cross-copy layers) have no oracle here.
    * ``2-FWL``: a round refines pair colours; it is a PPGN-style layer, not a layer of the
      models it merely bounds (SPEN), so it gives no depth for them.
    * Registered refinements report rounds when their ``refine`` returns a history
      (:func:`register_oracle`); PathNN's ``path_<kind>_K<K>``: round ``l`` = layer ``l``
      (paths of ``l`` edges), and the oracle runs exactly the model's ``K`` rounds.
"""

from __future__ import annotations

import operator
import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import PluginError, WlkitError
from ..graphs import SimpleGraph
from ._canon import canon_rows, multiset_ids
from .refine import fwl2_initial_colors, refine_1wl, refine_2fwl
from .subgraphs import Bag, BagFn, bag_union, copies_union, subgraph_bag

__all__ = [
    "ORACLES",
    "ORACLE_SUMMARIES",
    "REGISTERED_BUDGET",
    "RegisteredOracle",
    "WLResult",
    "check_oracle",
    "distinguishes",
    "graph_classes",
    "oracle_cost",
    "oracle_names",
    "oracle_patterns",
    "oracle_summary",
    "oracle_version",
    "register_bag_oracle",
    "register_oracle",
    "register_oracle_family",
    "registered_oracle",
    "separated_pairs",
    "separating_round",
    "separation_rounds",
    "wl_colors",
]

#: One-line description of every built-in oracle (registered ones: :func:`oracle_summary`).
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

#: The built-in oracle names, in the order reports list them. Kept as the fixed tuple of
#: built-ins for backward compatibility; :func:`oracle_names` adds the registered oracles.
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


#: ``refine(graphs) -> (node_colours, rounds[, history])`` of a registered oracle.
RefineFn = Callable[[list[SimpleGraph]], tuple[Any, ...]]
#: ``cost(graph) -> int``: work units of one graph under a registered oracle.
CostFn = Callable[[SimpleGraph], int]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+.\-]*")


@dataclass(frozen=True)
class RegisteredOracle:
    """An oracle added with :func:`register_oracle`, :func:`register_bag_oracle` or the
    ``wlkit_oracles`` hook (see there for the fields). ``refine`` is None for a bag oracle;
    ``bag`` is left out of comparisons (equal name, summary, version and cost: the same
    oracle); ``source`` names the plugin and distribution for messages."""

    name: str
    refine: RefineFn | None
    summary: str
    version: str
    cost: CostFn | None
    bag: BagFn | None = field(default=None, compare=False)
    source: str = field(default="", compare=False)
    layer_rounds: bool = False


_REGISTERED: dict[str, RegisteredOracle] = {}


def register_oracle(
    name: str,
    refine: RefineFn,
    summary: str,
    *,
    version: str = "1",
    cost: CostFn | None = None,
    layer_rounds: bool = False,
) -> str:
    """Add an exact oracle under ``name``; every function of :mod:`wlkit.wl` then accepts it.

    The framework does the rest: it calls ``refine`` on the graphs of one call, turns each
    graph's node colours into a graph colour (the multiset of its node colours), builds the
    :class:`WLResult`, batches :func:`separated_pairs` by ``cost`` and lets
    ``wlkit analyze`` budget it (:func:`wlkit.tools.analyze.estimate_work`).

    Parameters
    ----------
    name : str
        Letters, digits and ``_ + . -`` (it appears in file names and comma-separated CLI
        lists); must not be a built-in name.
    refine : callable
        ``refine(graphs: list[SimpleGraph]) -> (node_colours, rounds)``. It must refine all
        graphs **jointly in one palette**: ``node_colours[i]`` is an integer array ``[n_i]``
        for graph ``i``, and equal integers mean equal colours across all graphs of the call.
        Colours must be isomorphism-invariant (relabelling a graph permutes its colours).
        ``rounds`` is the number of refinement rounds performed. It may return a third
        item, ``history``: a list with, for every round ``t = 0 .. rounds``, the node
        colours after round ``t`` in the same per-graph form (one palette per round, each
        round refining the last, the last equal in partition to ``node_colours``); then
        :func:`separation_rounds` reports when each pair separates (else it cannot say).
    summary : str
        One line for reports (``wlkit analyze``, ``wlkit separate``).
    version : str
        Bump it when the function's answers change: on-disk caches of oracle answers (the
        WL suites' ``oracle_labels``) include it in their key.
    cost : callable, optional
        ``cost(graph) -> int`` work units of one graph: about one unit per array element
        the refinement holds (``wlkit analyze`` refuses an oracle above its budget of 2e8
        units, and :func:`separated_pairs` batches by the same units). Default: nodes +
        edges + 1.
    layer_rounds : bool
        Round ``t`` bounds the model's layer ``t`` (``wlkit separate`` then reports pairs
        that need more rounds than the model has layers as depth-limited); see
        :class:`wlkit.OracleRecord`.

    Returns
    -------
    str
        ``name``.

    Raises
    ------
    PluginError
        If ``name`` is malformed or a built-in, or already registered with a different
        ``refine``, ``version`` or ``cost`` (re-registering an equal oracle is a no-op).
        Compare callables with ``==``: a function is only equal to itself, so register a
        module-level function or a callable object with value equality (e.g. a frozen
        dataclass) when the registration code can run more than once.

    Examples
    --------
    >>> import numpy as np
    >>> from wlkit import graphs
    >>> from wlkit.wl import distinguishes, register_oracle
    >>> def by_degree(gs):  # one round of colour refinement from a constant colour
    ...     return [np.bincount(g.edges.ravel(), minlength=g.num_nodes) for g in gs], 1
    >>> register_oracle("doc_degrees", by_degree, "degree histogram")
    'doc_degrees'
    >>> distinguishes(graphs.cycle(4), graphs.complete(4), "doc_degrees")
    True
    >>> distinguishes(graphs.cycle(6), graphs.disjoint_union(graphs.cycle(3), graphs.cycle(3)),
    ...               "doc_degrees")
    False
    """
    if not callable(refine):
        raise PluginError(f"register_oracle: refine and cost of {name!r} must be callables")
    return _add(name, RegisteredOracle(name, refine, str(summary), str(version), cost,
                                       layer_rounds=bool(layer_rounds)), "register_oracle")


def register_bag_oracle(
    name: str,
    bag: BagFn,
    summary: str,
    *,
    version: str = "1",
    cost: CostFn | None = None,
) -> str:
    """Add the exact DS-WL oracle of a bag of copies under ``name`` (no refinement to write).

    ``bag(graph)`` returns the copies a policy builds from one graph, as a list of
    :class:`~wlkit.wl.subgraphs.Copy` or a dense :class:`~wlkit.wl.subgraphs.Bag`; the
    framework refines every copy with 1-WL and folds the colours as DS-WL does (module
    docstring). A policy gets this for free by defining ``SubgraphPolicy.wl_bag``.

    Parameters
    ----------
    name : str
        As for :func:`register_oracle`.
    bag : callable
        ``bag(graph: SimpleGraph) -> list[Copy] | Bag``; isomorphism-equivariant (relabelling
        the graph relabels the copies).
    summary : str
        One line for reports.
    version : str
        Bump it when the copies change (oracle-answer caches are keyed by it).
    cost : callable, optional
        ``cost(graph) -> int`` work units; default n (n + m) + 1, as node-deleted.

    Returns
    -------
    str
        ``name``. Re-registering the same name, summary, version and cost is a no-op (even
        with another ``bag`` object, e.g. the method of an equal policy instance).

    Raises
    ------
    PluginError
        As :func:`register_oracle`.

    Examples
    --------
    >>> import numpy as np
    >>> from wlkit import graphs
    >>> from wlkit.wl import Copy, distinguishes, register_bag_oracle
    >>> def edge_marked(g):  # one copy per edge, with that edge marked
    ...     return [Copy(edge_marks=np.eye(g.num_edges, dtype=np.int64)[e])
    ...             for e in range(g.num_edges)]
    >>> register_bag_oracle("doc_edge_marked", edge_marked, "DS-WL, one edge marked")
    'doc_edge_marked'
    >>> c6, two_c3 = graphs.cycle(6), graphs.disjoint_union(graphs.cycle(3), graphs.cycle(3))
    >>> distinguishes(c6, two_c3, "1-WL"), distinguishes(c6, two_c3, "doc_edge_marked")
    (False, True)
    """
    if not callable(bag):
        raise PluginError(f"register_bag_oracle: bag of {name!r} must be a callable")
    return _add(name, RegisteredOracle(name, None, str(summary), str(version), cost, bag=bag),
                "register_bag_oracle")


def _add(name: str, entry: RegisteredOracle, caller: str) -> str:
    """Check ``entry`` and add it to the run-time registrations (see register_oracle)."""
    _check_entry(name, entry, caller)
    known = _REGISTERED.get(name)
    if known is not None:
        if known == entry:
            return name
        raise PluginError(
            f"{caller}: oracle {name!r} is already registered with a different "
            f"function ({_describe(known)}; now {_describe(entry)})\n"
            "    hint: pick a new name, or register the same refine/version/cost")
    _REGISTERED[name] = entry
    return name


def _check_entry(name: str, entry: RegisteredOracle, caller: str) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise PluginError(f"{caller}: bad oracle name {name!r}\n    hint: use letters, "
                          "digits and _ + . - (e.g. 'path_ap_K4_dist')")
    if name in ORACLE_SUMMARIES:
        raise PluginError(f"{caller}: {name!r} is a built-in oracle of wlkit.wl\n"
                          "    hint: choose another name")
    if (entry.refine is None) == (entry.bag is None):
        raise PluginError(f"{caller}: oracle {name!r} needs exactly one of refine and bag")
    for fn in (entry.refine, entry.bag, entry.cost):
        if fn is not None and not callable(fn):
            raise PluginError(f"{caller}: refine and cost of {name!r} must be callables")


def _describe(entry: RegisteredOracle) -> str:
    fn = entry.refine if entry.refine is not None else entry.bag
    label = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    text = f"{getattr(fn, '__module__', '?')}.{label}, version {entry.version}"
    return f"{text}, {entry.source}" if entry.source else text


def oracle_names() -> tuple[str, ...]:
    """Every oracle name accepted by :mod:`wlkit.wl`: :data:`ORACLES`, then the registered
    ones in registration order.

    >>> from wlkit.wl import ORACLES, oracle_names
    >>> oracle_names()[: len(ORACLES)] == ORACLES
    True
    """
    found = _plugin_oracles()
    plugin = tuple(n for n in [*found.table, *(n for n, e in found.resolved.items() if e)]
                   if n not in _REGISTERED)
    return ORACLES + tuple(_REGISTERED) + plugin


def oracle_summary(oracle: str) -> str:
    """The one-line description of a built-in or registered oracle."""
    check_oracle(oracle)
    if oracle in ORACLE_SUMMARIES:
        return ORACLE_SUMMARIES[oracle]
    return _lookup(oracle).summary  # type: ignore[union-attr]


def oracle_version(oracle: str) -> str | None:
    """The ``version`` a registered oracle was registered with; None for a built-in one
    (built-ins change only with wlkit itself)."""
    check_oracle(oracle)
    entry = _lookup(oracle)
    return entry.version if entry is not None else None


def registered_oracle(oracle: str) -> RegisteredOracle | None:
    """The registration of ``oracle``, or None for a built-in or unknown name."""
    _known(oracle)
    return _lookup(oracle)


@dataclass(frozen=True)
class _Family:
    prefix: str
    resolve: Callable[[str], str | None]
    pattern: str


_FAMILIES: dict[str, _Family] = {}


def register_oracle_family(prefix: str, resolve: Callable[[str], str | None],
                           pattern: str) -> None:
    """Let names starting with ``prefix`` be registered on first use.

    For parameterised oracles (one per setting) that cannot all be registered up front: when
    a name starting with ``prefix`` is not registered yet, ``resolve(name)`` is called; it
    registers the oracle with :func:`register_oracle` and returns the name, or returns None
    when the name is not one of the family. ``pattern`` describes the names in error hints.

    Raises
    ------
    PluginError
        If ``prefix`` is empty or already taken by a different family (re-registering an
        equal family is a no-op).

    Examples
    --------
    >>> import numpy as np
    >>> from wlkit.wl import check_oracle, oracle_names, register_oracle, register_oracle_family
    >>> def constant(graphs):
    ...     return [np.zeros(g.num_nodes, np.int64) for g in graphs], 0
    >>> def resolve(name):  # doc_const<K>, registered on first use
    ...     k = name[len("doc_const"):]
    ...     return register_oracle(name, constant, f"constant {k}") if k.isdigit() else None
    >>> register_oracle_family("doc_const", resolve, "doc_const<K>")
    >>> "doc_const3" in oracle_names()
    False
    >>> check_oracle("doc_const3"), "doc_const3" in oracle_names()
    ('doc_const3', True)
    """
    if not isinstance(prefix, str) or not _NAME.fullmatch(prefix):
        raise PluginError(f"register_oracle_family: bad prefix {prefix!r}\n    hint: use "
                          "letters, digits and _ + . - (e.g. 'path_')")
    family = _Family(prefix, resolve, str(pattern))
    known = _FAMILIES.get(prefix)
    if known is not None and known != family:
        raise PluginError(f"register_oracle_family: prefix {prefix!r} is already taken "
                          f"({known.pattern})\n    hint: pick another prefix")
    _FAMILIES[prefix] = family


def _known(oracle: str) -> bool:
    """Whether ``oracle`` is built in or registered, resolving families on first use."""
    return oracle in ORACLE_SUMMARIES or _lookup(oracle) is not None


def _lookup(oracle: str) -> RegisteredOracle | None:
    """The registration of a non-built-in name: run-time registrations first (they are
    cheap and shadow a plugin's oracle of the same name), then the plugins' oracles, then
    the families (run-time, then plugins'), resolved once per name."""
    if not isinstance(oracle, str) or oracle in ORACLE_SUMMARIES:
        return None
    entry = _REGISTERED.get(oracle)
    if entry is not None:
        return entry
    for family in list(_FAMILIES.values()):
        if oracle.startswith(family.prefix) and family.resolve(oracle) == oracle:
            return _REGISTERED.get(oracle)
    return _plugin_oracles().lookup(oracle)


class _PluginOracles:
    """The oracles of the ``wlkit_oracles`` hooks of one plugin registry."""

    def __init__(self, registry: Any | None):
        self.registry = registry
        self.table: dict[str, RegisteredOracle] = {}
        self.families: list[tuple[Any, Any]] = []  # (OracleFamilyRecord, Registered)
        self.clashes: dict[str, str] = {}  # name -> who registers it
        self.resolved: dict[str, RegisteredOracle | None] = {}
        if registry is None:
            return
        from wlkit.records import OracleFamilyRecord, OracleRecord

        by_name, clashes = registry.hook_records("oracle", (OracleRecord,))
        for name, entry in by_name.items():
            made = self._entry(entry.record, entry)
            if made is not None:
                self.table[name] = made
        for name, entries in clashes.items():
            self.clashes[name] = " and ".join(f"{e.plugin} ({e.source} {e.version})"
                                              for e in entries)
        families, _ = registry.hook_records("oracle", (OracleFamilyRecord,), key="prefix")
        self.families = [(e.record, e) for e in families.values()]

    def _entry(self, record: Any, entry: Any) -> RegisteredOracle | None:
        where = f"plugin {entry.plugin!r} from distribution {entry.source} {entry.version}"
        made = RegisteredOracle(record.name, record.refine, str(record.summary),
                                str(record.version), record.cost, bag=record.bag,
                                source=where.rstrip(),
                                layer_rounds=bool(getattr(record, "layer_rounds", False)))
        try:
            _check_entry(record.name, made, f"wlkit_oracles of {where.rstrip()}")
        except PluginError as exc:  # one bad record must not hide the other oracles
            from wlkit.manager import PluginWarning

            warnings.warn(f"{exc}; the oracle was skipped", PluginWarning, stacklevel=4)
            return None
        return made

    def lookup(self, oracle: str) -> RegisteredOracle | None:
        if oracle in self.clashes:
            raise PluginError(f"WL oracle {oracle!r} is registered by {self.clashes[oracle]}"
                              "\n    hint: uninstall one of them, or limit loading with "
                              "WLKIT_PLUGINS=...")
        if oracle in self.table:
            return self.table[oracle]
        if oracle not in self.resolved:
            self.resolved[oracle] = self._resolve(oracle)
        return self.resolved[oracle]

    def _resolve(self, oracle: str) -> RegisteredOracle | None:
        from wlkit.records import OracleRecord

        for family, entry in self.families:
            if not oracle.startswith(family.prefix):
                continue
            record = family.resolve(oracle)
            if record is None:
                continue
            if not isinstance(record, OracleRecord) or record.name != oracle:
                raise PluginError(
                    f"WL oracle family {family.prefix!r} of plugin {entry.plugin!r} "
                    f"(distribution {entry.source} {entry.version}): resolve({oracle!r}) "
                    f"returned {record!r}, expected an OracleRecord named {oracle!r} or None")
            made = self._entry(record, entry)
            if made is not None:
                return made
        return None


_PLUGIN_CACHE: list[_PluginOracles] = []


def _plugin_oracles() -> _PluginOracles:
    """The plugins' oracles, collected again whenever the plugin registry changes."""
    from wlkit.manager import get_registry

    registry = get_registry()
    if not _PLUGIN_CACHE or _PLUGIN_CACHE[0].registry is not registry:
        _PLUGIN_CACHE[:] = [_PluginOracles(registry)]
    return _PLUGIN_CACHE[0]


def oracle_patterns() -> tuple[str, ...]:
    """The name patterns of the oracle families (:func:`register_oracle_family` and the
    plugins' :class:`wlkit.OracleFamilyRecord`)."""
    return (tuple(f.pattern for f in _FAMILIES.values())
            + tuple(f.pattern for f, _ in _plugin_oracles().families))


def check_oracle(oracle: str) -> str:
    """Return ``oracle`` if it is known (registering it if a family resolves it), else raise
    ``ValueError`` listing the choices."""
    if not _known(oracle):
        patterns = oracle_patterns()
        raise ValueError(f"unknown WL oracle {oracle!r}; choose from: "
                         f"{', '.join(oracle_names())}"
                         + (f", or a name like {', '.join(patterns)}" if patterns else ""))
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
        oracles, node colours ``[n]`` for registered oracles (:func:`register_oracle`).
    graph_ids : numpy.ndarray
        int64 ``[num_graphs]``; equal iff the oracle does not distinguish the graphs.
    rounds : int
        Refinement rounds performed.
    stable : bool
        True when the partition is stable. When False (``max_rounds`` reached, or an early
        stop once all pairs of interest differed), unequal ``graph_ids`` still prove
        separation, but equal ids only mean "equal after ``rounds`` rounds". Always True
        for registered oracles: their ``refine`` gives the final answer.
    node_colors : list of numpy.ndarray, optional
        Bag oracles (:func:`register_bag_oracle`) only: per graph, int64 ``[n]`` node
        colours folded from the copies (module docstring), one palette; ``colors`` then
        holds the copy colours ``[S]`` in bag order.
    pair_rounds : numpy.ndarray, optional
        Only when the call listed pairs of interest (:func:`separation_rounds`): int64, per
        pair, the first round after which its two graph colours differ; -1 when they do
        not (or a registered oracle gives no history to tell).
    """

    oracle: str
    colors: list[np.ndarray]
    graph_ids: np.ndarray
    rounds: int
    stable: bool
    node_colors: list[np.ndarray] | None = None
    pair_rounds: np.ndarray | None = None

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


class _PairWatch:
    """Stop callback of a refinement that also records when each pair of interest differs.

    ``first[i]`` is the first round after which pair ``i``'s graph colours differ (-1: not
    yet). The refinement kernels call it on the initial colours (round 0) and after every
    round, so the call count is the round. It returns True (stop) once every pair differs,
    which is sound: each round refines the previous partition, so a difference in graph
    colours never disappears later.
    """

    def __init__(self, pairs: np.ndarray, ids_of: Callable[[Any], np.ndarray]):
        self.pairs = pairs
        self.ids_of = ids_of
        self.first = np.full(len(pairs), -1, dtype=np.int64)
        self.calls = 0

    def __call__(self, colors: Any) -> bool:
        self.see(self.ids_of(colors))
        return bool((self.first >= 0).all())

    def see(self, ids: np.ndarray) -> None:
        """Record the graph ids of the next round."""
        differ = ids[self.pairs[:, 0]] != ids[self.pairs[:, 1]]
        self.first[(self.first < 0) & differ] = self.calls
        self.calls += 1


def _pair_stop(pairs: np.ndarray | None,
               ids_of: Callable[[Any], np.ndarray]) -> _PairWatch | None:
    """A :class:`_PairWatch` over ``pairs``, or None when there are no pairs of interest."""
    if pairs is None or len(pairs) == 0:
        return None
    return _PairWatch(pairs, ids_of)


def _first_rounds(watch: _PairWatch | None) -> np.ndarray | None:
    return None if watch is None else watch.first


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
    entry = _lookup(oracle)
    if entry is not None and entry.bag is not None:
        return _run_bag(graphs, entry, max_rounds, pairs)
    if entry is not None:
        if max_rounds is not None:
            raise ValueError(f"WL oracle {oracle!r} is registered and runs its own rounds; "
                             "max_rounds is only supported by the built-in and bag oracles")
        return _run_registered(graphs, entry, pairs)
    if oracle == "2-FWL":
        atomic = [
            fwl2_initial_colors(g.num_nodes, g.edges, g.node_labels, g.edge_labels) for g in graphs
        ]

        def ids_2fwl(colors: list[np.ndarray]) -> np.ndarray:
            owner = np.repeat(np.arange(num), [c.size for c in colors])
            flat = np.concatenate([np.zeros(0, np.int64)] + [c.ravel() for c in colors])
            return multiset_ids(owner, flat, num)[0]

        watch = _pair_stop(pairs, ids_2fwl)
        pair_colors, rounds, stable = refine_2fwl(atomic, max_rounds=max_rounds, stop=watch)
        return WLResult(oracle, pair_colors, ids_2fwl(pair_colors), rounds, stable,
                        pair_rounds=_first_rounds(watch))

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

    watch = _pair_stop(pairs, graph_ids)
    colors, rounds, stable = refine_1wl(
        union.num_nodes,
        union.src,
        union.dst,
        union.init,
        union.edge_colors,
        max_rounds=max_rounds,
        stop=watch,
    )
    if oracle == "1-WL":
        # Subgraph s is graph s, so node colours split at the graphs' node offsets.
        bounds = np.concatenate([[0], np.cumsum([g.num_nodes for g in graphs])])
        units = colors
    else:
        bounds = np.concatenate([[0], np.cumsum([b.keep.shape[0] for b in bags])])
        units = sub_ids(colors)
    per_graph = [units[bounds[i] : bounds[i + 1]] for i in range(num)]
    return WLResult(oracle, per_graph, graph_ids(colors), rounds, stable,
                    pair_rounds=_first_rounds(watch))


def _run_bag(graphs: list[SimpleGraph], entry: RegisteredOracle, max_rounds: int | None,
             pairs: np.ndarray | None) -> WLResult:
    """DS-WL over the copies of a bag oracle: 1-WL on all copies jointly, then the folds."""
    num = len(graphs)
    bags = []
    for i, g in enumerate(graphs):
        try:
            bags.append(entry.bag(g))  # type: ignore[misc]
        except WlkitError:
            raise
        except Exception as exc:
            raise PluginError(f"WL oracle {entry.name!r} ({_describe(entry)}): bag failed on "
                              f"graph {i} ({g.name or 'unnamed'}): {type(exc).__name__}: "
                              f"{exc}") from None
    try:
        union, origin = copies_union(graphs, bags)
    except ValueError as exc:
        raise PluginError(f"WL oracle {entry.name!r} ({_describe(entry)}): {exc}\n    hint: "
                          "see wlkit.wl.Copy for what a copy may hold") from None

    def sub_ids(colors: np.ndarray) -> np.ndarray:
        return multiset_ids(union.subgraph_of_node, colors, union.num_subgraphs)[0]

    def graph_ids(colors: np.ndarray) -> np.ndarray:
        return multiset_ids(union.graph_of_subgraph, sub_ids(colors), num)[0]

    watch = _pair_stop(pairs, graph_ids)
    colors, rounds, stable = refine_1wl(
        union.num_nodes, union.src, union.dst, union.init, union.edge_colors,
        max_rounds=max_rounds, stop=watch)
    copies = sub_ids(colors)
    # node v: the multiset of (copy colour, colour of v in the copy) over its copies
    pair_ids, _ = canon_rows(np.stack([copies[union.subgraph_of_node], colors], axis=1))
    sizes = [g.num_nodes for g in graphs]
    nodes, _ = multiset_ids(origin, pair_ids, int(sum(sizes)))
    node_bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    sub_bounds = np.concatenate([[0], np.cumsum(np.bincount(union.graph_of_subgraph,
                                                            minlength=num))]).astype(np.int64)
    return WLResult(entry.name, [copies[sub_bounds[i]:sub_bounds[i + 1]] for i in range(num)],
                    graph_ids(colors), rounds, stable,
                    [nodes[node_bounds[i]:node_bounds[i + 1]] for i in range(num)],
                    _first_rounds(watch))


def _run_registered(graphs: list[SimpleGraph], entry: RegisteredOracle,
                    pairs: np.ndarray | None = None) -> WLResult:
    """Call a registered ``refine``, check its answer, and build graph colours from it;
    with ``pairs`` and a history in the answer, also each pair's first separating round."""
    answer = entry.refine(graphs)  # type: ignore[misc]
    try:
        if not isinstance(answer, tuple) or len(answer) not in (2, 3):
            raise TypeError
        node_colours, rounds = answer[0], answer[1]
        history = answer[2] if len(answer) == 3 else None
        node_colours = [np.asarray(c) for c in node_colours]
        if isinstance(rounds, bool):
            raise TypeError
        rounds = operator.index(rounds)
    except (TypeError, ValueError):
        raise PluginError(f"WL oracle {entry.name!r} ({_describe(entry)}): refine must return "
                          f"a tuple (node_colours, rounds: int[, history]), got "
                          f"{type(answer).__name__}") from None
    colours = _checked_colours(entry, node_colours, graphs, "colours")
    graph_ids = _histogram_ids(colours)
    first = None
    if pairs is not None and len(pairs):
        watch = _PairWatch(pairs, _histogram_ids)
        if history is not None:
            try:
                steps = list(history)
            except TypeError:
                raise PluginError(f"WL oracle {entry.name!r} ({_describe(entry)}): history "
                                  "must be a list of per-round colour lists") from None
            for t, step in enumerate(steps):
                watch(_checked_colours(entry, list(step), graphs, f"history[{t}]"))
            final = graph_ids[pairs[:, 0]] != graph_ids[pairs[:, 1]]
            if not (final == (watch.first >= 0)).all():
                raise PluginError(
                    f"WL oracle {entry.name!r} ({_describe(entry)}): its history does not "
                    "end in its final colours (a pair separated by one and not the other)\n"
                    "    hint: history[t] must be the node colours after round t, "
                    "t = 0 .. rounds, each round refining the last")
        first = watch.first
    return WLResult(entry.name, colours, graph_ids, rounds, True, pair_rounds=first)


def _checked_colours(entry: RegisteredOracle, node_colours: Sequence[Any],
                     graphs: list[SimpleGraph], what: str) -> list[np.ndarray]:
    """``node_colours`` as int64 arrays, one per graph of the right length, else a
    PluginError naming the oracle and ``what`` (its colours or a history entry)."""
    arrays = [np.asarray(c) for c in node_colours]
    if len(arrays) != len(graphs):
        raise PluginError(f"WL oracle {entry.name!r} ({_describe(entry)}): refine returned "
                          f"{what} for {len(arrays)} graphs, expected {len(graphs)}")
    for i, (c, g) in enumerate(zip(arrays, graphs)):
        if c.shape != (g.num_nodes,) or (c.size and not np.issubdtype(c.dtype, np.integer)):
            raise PluginError(f"WL oracle {entry.name!r} ({_describe(entry)}): {what} of "
                              f"graph {i} have shape {c.shape} and dtype {c.dtype}, expected "
                              f"integers of shape ({g.num_nodes},)")
    return [c.astype(np.int64, copy=False) for c in arrays]


def _histogram_ids(colours: list[np.ndarray]) -> np.ndarray:
    """Graph ids from node colours in one palette: equal iff equal colour histograms."""
    num = len(colours)
    owner = np.repeat(np.arange(num), [len(c) for c in colours])
    flat = np.concatenate([np.zeros(0, np.int64), *colours])
    return multiset_ids(owner, flat, num)[0]


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
        One of :func:`oracle_names` (the built-in :data:`ORACLES` or a registered oracle).
    max_rounds : int, optional
        Stop after this many rounds (default: run to the stable partition, which is what
        the oracle's separation power refers to). Built-in oracles only.

    Returns
    -------
    WLResult
        Per-graph colours and graph ids; see :class:`WLResult`.

    Raises
    ------
    ValueError
        If ``oracle`` is unknown, or ``max_rounds`` is given for a registered oracle.
    PluginError
        If a registered oracle's ``refine`` returns malformed colours.
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


def oracle_cost(g: SimpleGraph, oracle: str) -> int:
    """Work units of ``g`` under ``oracle``, as :func:`separated_pairs` batches them: n + m
    (1-WL), n^3 + 1 (2-FWL), n (n + m) + 1 (subgraph oracles; n^2 (n + m) + 1 for
    ``two_node_marked``), a registered oracle's ``cost`` (default n + m + 1)."""
    check_oracle(oracle)
    n, m = g.num_nodes, g.num_edges
    entry = _lookup(oracle)
    if entry is not None and entry.cost is not None:
        return max(int(entry.cost(g)), 1)
    if entry is not None and entry.bag is None:
        return n + m + 1
    if oracle == "1-WL":
        return n + m
    if oracle == "2-FWL":
        return n**3 + 1
    if oracle == "two_node_marked":
        return n * n * (n + m) + 1
    return n * (n + m) + 1


#: Default :func:`separated_pairs` budget for registered oracles, in their ``cost`` units.
REGISTERED_BUDGET = 200_000_000


def _graph_key(g: SimpleGraph) -> tuple:
    """Content key: equal keys mean identical graphs (same numbering, edges and labels)."""
    labels = [(x.dtype.str, x.tobytes()) if x is not None else None
              for x in (g.node_labels, g.edge_labels)]
    return (g.num_nodes, g.edges.shape, g.edges.tobytes(), *labels)


def separated_pairs(
    pairs: Sequence[tuple[SimpleGraph, SimpleGraph]],
    oracle: str = "1-WL",
    *,
    budget: int | None = None,
) -> np.ndarray:
    """Decide many pairs at once: ``out[i]`` is True iff ``oracle`` separates ``pairs[i]``.

    Pairs are packed into batches of about ``budget`` work units (nodes + edges of the unions;
    n^3 per graph for 2-FWL; a registered oracle's ``cost``, default nodes + edges) and each
    batch is refined jointly, stopping early (built-in oracles) once every pair of the batch
    is separated. A graph that occurs several times in a batch (identical numbering, edges
    and labels; e.g. SR25's 15 graphs in its 105 pairs) is refined and counted once. The
    answer equals ``distinguishes`` pair by pair. :func:`separation_rounds` also says after
    how many rounds each pair is separated.

    The default budget is 2e6 units for the built-in oracles (small batches stop early
    sooner) and :data:`REGISTERED_BUDGET` (2e8, the budget of ``wlkit analyze``) for
    registered oracles: they cannot stop early, so a batch only has to fit in memory, and
    larger batches refine graphs shared by many pairs once instead of once per batch.
    """
    return separation_rounds(pairs, oracle, budget=budget)[0]


def separation_rounds(
    pairs: Sequence[tuple[SimpleGraph, SimpleGraph]],
    oracle: str = "1-WL",
    *,
    budget: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Decide many pairs and say when: ``(separated, rounds)``.

    ``separated`` is :func:`separated_pairs`'s answer (same batching and early stop).
    ``rounds[i]`` is the first refinement round after which the two graph colours of pair
    ``i`` differ: 0 when the initial colours already do (e.g. different sizes or labels),
    -1 when the pair is not separated or the oracle cannot say (a registered oracle whose
    ``refine`` returns no history, see :func:`register_oracle`). Every round refines the
    previous partition, so the pair stays separated after ``rounds[i]`` and is not
    separated after fewer rounds; see "Rounds and layers" in the module docstring for what
    rounds mean for a model's depth.

    Parameters
    ----------
    pairs : sequence of (SimpleGraph, SimpleGraph)
        The pairs.
    oracle : str
        One of :func:`oracle_names`.
    budget : int, optional
        Work units per batch, as for :func:`separated_pairs`.

    Returns
    -------
    separated : numpy.ndarray
        bool ``[P]``.
    rounds : numpy.ndarray
        int64 ``[P]``; -1 where not separated or unknown.

    Examples
    --------
    >>> from wlkit import graphs
    >>> c6, two_c3 = graphs.cycle(6), graphs.disjoint_union(graphs.cycle(3), graphs.cycle(3))
    >>> separated, rounds = separation_rounds([(c6, two_c3), (c6, c6)], "node_marked")
    >>> separated.tolist(), rounds.tolist()
    ([True, False], [2, -1])
    """
    check_oracle(oracle)
    if budget is None:
        entry = _lookup(oracle)
        # refine oracles cannot stop early: big batches; the others stop once all differ
        budget = REGISTERED_BUDGET if entry is not None and entry.bag is None else 2_000_000
    pairs = list(pairs)
    out = np.zeros(len(pairs), dtype=bool)
    rounds = np.full(len(pairs), -1, dtype=np.int64)
    start = 0
    while start < len(pairs):
        stop, used = start, 0
        index: dict[tuple, int] = {}
        graphs: list[SimpleGraph] = []
        local: list[tuple[int, int]] = []
        while stop < len(pairs) and (stop == start or used < budget):
            ends = []
            for g in _as_list(pairs[stop]):
                key = _graph_key(g)
                if key not in index:
                    index[key] = len(graphs)
                    graphs.append(g)
                    used += oracle_cost(g, oracle)
                ends.append(index[key])
            if len(ends) != 2:
                raise ValueError(f"pair {stop} has {len(ends)} graphs, expected 2")
            local.append((ends[0], ends[1]))
            stop += 1
        which = np.array(local, dtype=np.int64)
        # Identical graphs are never separated; leave them out of the early-stop test.
        open_mask = which[:, 0] != which[:, 1]
        open_pairs = which[open_mask]
        res = _run(graphs, oracle, None, open_pairs if len(open_pairs) else None)
        out[start:stop] = res.graph_ids[which[:, 0]] != res.graph_ids[which[:, 1]]
        if res.pair_rounds is not None:
            batch = np.full(len(which), -1, dtype=np.int64)
            batch[open_mask] = res.pair_rounds
            rounds[start:stop] = batch
        start = stop
    return out, rounds


def separating_round(g: SimpleGraph, h: SimpleGraph, oracle: str = "1-WL") -> int | None:
    """The first round after which ``oracle`` tells ``g`` and ``h`` apart; None when it
    never does (or cannot say, see :func:`separation_rounds`).

    >>> from wlkit import graphs
    >>> separating_round(graphs.decalin(), graphs.bicyclopentyl(), "node_deleted")
    3
    """
    value = int(separation_rounds([(g, h)], oracle)[1][0])
    return value if value >= 0 else None
