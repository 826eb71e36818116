r"""Exact oracles of ESAN's bags that :mod:`wlkit.wl` does not build in: DSS-WL and more DS-WL.

Provided through the hook ``wlkit_oracles`` as the family ``esan_<mode>_<bag>`` and returned
by :attr:`EgoNetPolicy.wl_oracle <wlkit.plugins.policies.ego.EgoNetPolicy.wl_oracle>`:

* ``esan_ds_edge_deleted`` and ``esan_ds_ego<k>[+]`` (``k`` > 2): DS-WL (Bevilacqua et al.,
  ICLR 2022) over the policy's own copies, a bag oracle (:func:`wlkit.wl.register_bag_oracle`);
  ``ego1``, ``ego2`` (and ``+``) and ``node_deleted`` are wlkit's built-ins;
* ``esan_dss_<bag>`` with ``<bag>`` one of ``ego<k>``, ``ego<k>+``, ``node_deleted``,
  ``edge_deleted``: DSS-WL, the refinement of ESAN's DSS-GNN as wlkit builds it
  (:class:`~wlkit.plugins.policies._bags.BagNetwork`, ``mode: dss``).

The copies are exactly those of :meth:`EgoNetPolicy.prepare`: induced ego-nets (the root
marked with ``+``), ``G - v`` for every node, ``G - e`` for every undirected edge (all nodes
kept; a graph without edges is its own only copy).

DSS-WL. Every node ``v`` of copy ``s`` has a colour ``c(s, v)``, initially ``(label(v),
mark)``. With ``D[...]`` a *distribution* (a multiset up to scaling: what a mean keeps) and
``{{...}}`` a multiset, one round is

* ``a(v) = D[c(s, v) : s keeps v]`` (the mean over the node's copies; no copy: its own id);
* ``x(v) = (a(v), {{(label(u, v), a(u)) : u ~ v in G}})`` (the layer on the original graph);
* ``c(s, v) <- (c(s, v), {{(label(u, v), c(s, u)) : u ~ v in s}}, x(v))`` (the layer on the
  copy plus the cross term, ``h <- L1(A_s, h_s) + L2(A, mean_s h_s)``).

Copy colour = multiset of its node colours (the readout); graph colour = multiset of copy
colours (``bag_pool``). wlkit compares graphs by the histogram of the node colours
``{{(colour of s, c(s, v)) : s keeps v}}``, which determines the multiset of copy colours.
Why it bounds the model: by induction over layers each DSS-GNN node state is a function of
its colour (GIN/GINE sums, the mean over copies a function of the distribution it averages,
norms and residuals functions of the same colours), so round ``t`` bounds layer ``t``
(``layer_rounds``). It is at least DS-WL on the same bag (the copy term alone is DS-WL's).
Exactness (the model reaching it) holds only generically, as for every oracle here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from wlkit import OracleFamilyRecord, OracleRecord, hookimpl
from wlkit.wl import (
    Bag,
    Copy,
    canon_rows,
    copies_union,
    distribution_ids,
    multiset_ids,
    subgraph_bag,
)

__all__ = ["EsanBag", "dss_refinement", "esan_oracle", "wlkit_oracles"]

_ORACLE_VERSION = "1"  # part of the cache key of oracle answers: bump when answers change
MAX_HOPS = 64




@dataclass(frozen=True)
class EsanBag:
    """The copies of one ESAN bag, as ``wlkit.wl`` bag oracles take them.

    Parameters
    ----------
    subgraphs : {"ego", "node_deleted", "edge_deleted"}
    hops : int
        Ego-net radius (``ego`` only).
    root_mark : bool
        Mark the root (``ego`` only).

    Examples
    --------
    >>> from wlkit import graphs
    >>> len(EsanBag("edge_deleted")(graphs.cycle(5)))  # one copy per edge
    5
    """

    subgraphs: str
    hops: int = 0
    root_mark: bool = False

    @property
    def name(self) -> str:
        if self.subgraphs == "ego":
            return f"ego{self.hops}" + ("+" if self.root_mark else "")
        return self.subgraphs

    def __call__(self, graph: Any) -> Bag | list[Copy]:
        if self.subgraphs == "ego":
            return subgraph_bag(graph, "ego", hops=self.hops, root_mark=self.root_mark)
        if self.subgraphs == "node_deleted":
            return subgraph_bag(graph, "node_deleted")
        m = graph.num_edges
        if m == 0:
            return [Copy()]
        every = np.arange(m, dtype=np.int64)
        return [Copy(edges=np.delete(every, e)) for e in range(m)]

    def cost(self, graph: Any) -> int:
        """Node and arc entries of all copies (ego-nets: at most the whole graph each)."""
        n, m = graph.num_nodes, graph.num_edges
        copies = m if self.subgraphs == "edge_deleted" else n
        return max(copies, 1) * (n + 2 * m) + n + m + 1


def dss_refinement(graphs: list[Any], bag: EsanBag, *, max_rounds: int | None = None,
                   history: bool = False) -> tuple[Any, ...]:
    """Joint DSS-WL refinement of ``graphs`` over the copies of ``bag`` (module docstring).

    Parameters
    ----------
    graphs : list of wlkit.graphs.SimpleGraph
    bag : EsanBag
        The copies of every graph.
    max_rounds : int, optional
        Stop after this many rounds (default: the stable partition).
    history : bool
        Also return the output colours after every round ``t = 0 .. rounds`` (what a
        DSS-GNN with ``t`` layers reads out).

    Returns
    -------
    colours : list of numpy.ndarray
        Per graph, int64 ``[n]`` node output colours in one palette.
    rounds : int
    steps : list of list of numpy.ndarray
        Only with ``history``.

    Examples
    --------
    >>> from wlkit import graphs
    >>> c6, two_c3 = graphs.cycle(6), graphs.disjoint_union(graphs.cycle(3), graphs.cycle(3))
    >>> colours, _ = dss_refinement([c6, two_c3], EsanBag("node_deleted"))
    >>> sorted(colours[0].tolist()) != sorted(colours[1].tolist())
    True
    """
    union, origin = copies_union(graphs, [bag(g) for g in graphs])
    sizes = np.array([g.num_nodes for g in graphs], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    total = int(offsets[-1])

    def split(flat: np.ndarray) -> list[np.ndarray]:
        return [flat[offsets[i]:offsets[i + 1]] for i in range(len(graphs))]

    # the original graphs' arcs (both directions) with their edge labels, global node ids
    g_src, g_dst, g_lab = [], [], []
    for g, off in zip(graphs, offsets):
        edges = np.asarray(g.edges, dtype=np.int64).reshape(-1, 2) + off
        lab = (np.zeros(len(edges), np.int64) if g.edge_labels is None
               else np.asarray(g.edge_labels, np.int64).reshape(-1))
        g_src += [edges[:, 0], edges[:, 1]]
        g_dst += [edges[:, 1], edges[:, 0]]
        g_lab += [lab, lab]
    g_src, g_dst, g_lab = (np.concatenate(x) if x else np.zeros(0, np.int64)
                           for x in (g_src, g_dst, g_lab))
    g_lab = np.unique(g_lab, return_inverse=True)[1].reshape(-1)
    arc_lab = (np.zeros(len(union.src), np.int64) if union.edge_colors is None
               else union.edge_colors)
    entries = union.num_nodes

    def output(c: np.ndarray) -> list[np.ndarray]:
        copy_colour = multiset_ids(union.subgraph_of_node, c, union.num_subgraphs)[0]
        element = canon_rows(np.stack([copy_colour[union.subgraph_of_node], c], axis=1))[0]
        return split(multiset_ids(origin, element, total)[0])

    c = union.init.astype(np.int64, copy=True)
    steps = [output(c)]
    rounds = 0
    count = len(np.unique(c))
    while max_rounds is None or rounds < max_rounds:
        a = distribution_ids(origin, c, total)
        cross = multiset_ids(g_dst, canon_rows(np.stack([g_lab, a[g_src]], axis=1))[0],
                             total, prefix=a)[0]
        local = multiset_ids(union.dst, canon_rows(np.stack([arc_lab, c[union.src]],
                                                            axis=1))[0], entries)[0]
        c = canon_rows(np.stack([c, local, cross[origin]], axis=1))[0]
        rounds += 1
        steps.append(output(c))
        new = len(np.unique(c))
        if new == count:  # the entries' partition is stable, so is everything read from it
            break
        count = new
    if history:
        return steps[-1], rounds, steps
    return steps[-1], rounds


@dataclass(frozen=True)
class DssOracle:
    """DSS-WL over an :class:`EsanBag` as :mod:`wlkit.wl` runs it (``esan_dss_<bag>``)."""

    bag: EsanBag

    @property
    def name(self) -> str:
        return f"esan_dss_{self.bag.name}"

    @property
    def summary(self) -> str:
        return (f"DSS-WL over {self.bag.name} copies: copy colours plus a layer on the graph "
                "over each node's distribution of copy colours (an upper bound of ego dss)")

    def __call__(self, graphs: list[Any]) -> tuple[Any, ...]:
        return dss_refinement(graphs, self.bag, history=True)

    def cost(self, graph: Any) -> int:
        return self.bag.cost(graph)


def esan_oracle(subgraphs: str, mode: str, hops: int = 1, root_mark: bool = False
                ) -> str | None:
    """The name of the exact oracle bounding an ESAN policy, or None (hops > 64).

    Examples
    --------
    >>> esan_oracle("ego", "ds", hops=1), esan_oracle("edge_deleted", "ds")
    ('ego1', 'esan_ds_edge_deleted')
    >>> esan_oracle("ego", "dss", hops=2, root_mark=True)
    'esan_dss_ego2+'
    """
    if subgraphs == "ego" and hops > MAX_HOPS:
        return None
    bag = EsanBag(subgraphs, hops if subgraphs == "ego" else 0,
                  root_mark and subgraphs == "ego")
    if mode == "dss":
        return f"esan_dss_{bag.name}"
    if subgraphs == "node_deleted" or (subgraphs == "ego" and hops <= 2):
        return bag.name  # wlkit's built-in DS-WL oracles
    return f"esan_ds_{bag.name}"


_NAME = re.compile(r"esan_(ds|dss)_(?:(ego)([1-9][0-9]?)(\+?)|(node_deleted|edge_deleted))")


def _resolve(name: str) -> OracleRecord | None:
    """The record of ``esan_<mode>_<bag>``, else None."""
    match = _NAME.fullmatch(name)
    if match is None:
        return None
    mode, ego, hops, plus, other = match.groups()
    if ego:
        if int(hops) > MAX_HOPS or (mode == "ds" and int(hops) <= 2):
            return None  # ds ego1/ego2 are the built-ins ego1, ego2(+)
        bag = EsanBag("ego", int(hops), plus == "+")
    else:
        if mode == "ds" and other == "node_deleted":
            return None  # the built-in node_deleted
        bag = EsanBag(other)
    if mode == "ds":
        return OracleRecord(name=name, bag=bag, version=_ORACLE_VERSION, cost=bag.cost,
                            summary=f"DS-WL over {bag.name} copies (ESAN)")
    oracle = DssOracle(bag)
    return OracleRecord(name=name, refine=oracle, summary=oracle.summary, layer_rounds=True,
                        version=_ORACLE_VERSION, cost=oracle.cost)


@hookimpl
def wlkit_oracles() -> list[OracleFamilyRecord]:
    return [OracleFamilyRecord(
        prefix="esan_", resolve=_resolve,
        pattern="esan_ds_<bag> / esan_dss_<bag> (ego; bag = ego<k>[+], node_deleted, "
                "edge_deleted)")]
