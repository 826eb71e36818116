"""Bag oracles: a policy declares its copies (wl_bag / OracleRecord(bag=...)) and gets the
exact DS-WL oracle without writing a refinement; oracles provided through wlkit_oracles."""

from __future__ import annotations

import itertools
import types
import warnings

import numpy as np
import pytest

from wlkit import OracleFamilyRecord, OracleRecord, PluginError, SubgraphPolicy, hookimpl
from wlkit import graphs as G
from wlkit.graphs import SimpleGraph
from wlkit.manager import PluginWarning, registered_plugin
from wlkit.wl import (
    Copy,
    check_oracle,
    distinguishes,
    graph_classes,
    multiset_ids,
    oracle_names,
    oracle_patterns,
    oracle_summary,
    oracle_version,
    register_bag_oracle,
    separated_pairs,
    subgraph_bag,
    wl_colors,
)
from wlkit.wl import oracles as O


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    monkeypatch.setattr(O, "_REGISTERED", dict(O._REGISTERED))
    monkeypatch.setattr(O, "_FAMILIES", dict(O._FAMILIES))


def pool() -> list[SimpleGraph]:
    """1-WL-equivalent families and a few labelled graphs: every oracle has work to do."""
    graphs = [G.cycle(6), G.disjoint_union(G.cycle(3), G.cycle(3)), G.shrikhande(),
              G.rook_graph(4), G.csl(13, 2), G.csl(13, 3), G.csl(13, 5), G.petersen(),
              G.cube(), G.cycle(8), G.disjoint_union(G.cycle(4), G.cycle(4))]
    graphs += [g for _, _, g, h in G.classic_pairs()[:2] for g in (g, h)]
    labelled = SimpleGraph.from_edges(6, [(i, (i + 1) % 6) for i in range(6)],
                                      node_labels=[0, 1, 0, 1, 0, 1],
                                      edge_labels=[0, 0, 1, 0, 0, 1])
    return [*graphs, labelled, labelled.relabel(np.random.default_rng(0).permutation(6))]


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = itertools.combinations(range(len(a)), 2)
    return all((a[i] == a[j]) == (b[i] == b[j]) for i, j in pairs)


# ---------------------------------------------------------------------- toy bags
def node_deleted(g: SimpleGraph) -> list[Copy]:
    return [Copy(nodes=np.delete(np.arange(g.num_nodes), v)) for v in range(g.num_nodes)]


def node_marked(g: SimpleGraph) -> list[Copy]:
    return [Copy(node_marks=np.eye(g.num_nodes, dtype=np.int64)[v]) for v in range(g.num_nodes)]


def edge_marked(g: SimpleGraph) -> list[Copy]:
    return [Copy(edge_marks=np.eye(g.num_edges, dtype=np.int64)[e]) for e in range(g.num_edges)]


def edge_deleted(g: SimpleGraph) -> list[Copy]:
    return [Copy(edges=np.delete(np.arange(g.num_edges), e)) for e in range(g.num_edges)]


class EdgeMarking(SubgraphPolicy):
    """A plugin author's edge-marking policy: it declares its copies, nothing else."""

    def __init__(self, mark: int = 1):
        self.mark = mark

    def wl_bag(self, graph: SimpleGraph) -> list[Copy]:
        marks = np.eye(graph.num_edges, dtype=np.int64) * self.mark
        return [Copy(edge_marks=marks[e]) for e in range(graph.num_edges)]

    def build(self, parts):  # pragma: no cover - the model half is not under test
        raise NotImplementedError


def reference_ids(graphs: list[SimpleGraph], copies_of) -> np.ndarray:
    """DS-WL by hand, independently of the bag machinery: every copy as a graph of its own
    (marks folded into its labels), 1-WL graph ids of all copies jointly, then the multiset
    of copy ids per graph."""
    copies, owner = [], []
    for gi, g in enumerate(graphs):
        labels = np.zeros(g.num_nodes, np.int64) if g.node_labels is None else g.node_labels
        elabels = np.zeros(g.num_edges, np.int64) if g.edge_labels is None else g.edge_labels
        for copy in copies_of(g):
            nodes = np.arange(g.num_nodes) if copy.nodes is None else copy.nodes
            pos = np.full(g.num_nodes, -1)
            pos[nodes] = np.arange(len(nodes))
            eids = (np.flatnonzero((pos[g.edges[:, 0]] >= 0) & (pos[g.edges[:, 1]] >= 0))
                    if copy.edges is None else copy.edges)
            nmark = np.zeros(len(nodes), np.int64) if copy.node_marks is None else copy.node_marks
            emark = np.zeros(len(eids), np.int64) if copy.edge_marks is None else copy.edge_marks
            copies.append(SimpleGraph.from_edges(
                len(nodes), pos[g.edges[eids]], node_labels=labels[nodes] * 10 + nmark,
                edge_labels=elabels[eids] * 10 + emark))
            owner.append(gi)
    ids = graph_classes(copies, "1-WL")
    return multiset_ids(np.array(owner), ids, len(graphs))[0]


def test_copies_reproduce_the_built_in_subgraph_oracles():
    graphs = pool()
    for name, bag in (("node_deleted", node_deleted), ("node_marked", node_marked)):
        register_bag_oracle(f"toy_{name}", bag, name)
        assert same_partition(graph_classes(graphs, f"toy_{name}"), graph_classes(graphs, name))
    # a dense wlkit.wl.Bag works too: root-marked 1-hop ego-nets are ego1+
    register_bag_oracle("toy_ego1+", lambda g: subgraph_bag(g, "ego", hops=1, root_mark=True),
                        "ego1+")
    assert same_partition(graph_classes(graphs, "toy_ego1+"), graph_classes(graphs, "ego1+"))


def test_edge_marking_policy_gets_its_exact_oracle_without_a_refinement():
    policy = EdgeMarking()
    name = policy.wl_oracle
    assert name.startswith("bag_EdgeMarking_") and check_oracle(name) == name
    assert name in oracle_names() and oracle_version(name) == "1"
    assert "EdgeMarking.wl_bag" in oracle_summary(name)
    assert EdgeMarking().wl_oracle == name  # an equal instance: the same oracle
    assert EdgeMarking(mark=2).wl_oracle != name  # other parameters: another oracle
    graphs = pool()
    assert same_partition(graph_classes(graphs, name), reference_ids(graphs, edge_marked))
    c6, two_c3 = G.cycle(6), G.disjoint_union(G.cycle(3), G.cycle(3))
    assert not distinguishes(c6, two_c3, "1-WL") and distinguishes(c6, two_c3, name)
    pairs = list(itertools.combinations(graphs, 2))
    expected = [distinguishes(g, h, name) for g, h in pairs]
    for budget in (1, None):
        assert separated_pairs(pairs, name, budget=budget).tolist() == expected


def test_edge_deleted_copies_match_the_reference():
    register_bag_oracle("toy_edge_deleted", edge_deleted, "edge-deleted")
    graphs = pool()
    assert same_partition(graph_classes(graphs, "toy_edge_deleted"),
                          reference_ids(graphs, edge_deleted))


def test_node_colours_are_folded_from_the_copies_and_invariant():
    register_bag_oracle("toy_edge_marked", edge_marked, "edge-marked")
    g = G.csl(13, 3)
    perm = np.random.default_rng(1).permutation(g.num_nodes)
    res = wl_colors([g, g.relabel(perm)], "toy_edge_marked")
    assert [c.shape for c in res.colors] == [(g.num_edges,)] * 2  # one colour per copy
    first, second = res.node_colors
    assert first.shape == (13,) and np.array_equal(first, second[perm])
    assert res.stable and res.graph_ids[0] == res.graph_ids[1]


def test_an_instance_may_still_set_its_oracle_by_hand():
    policy = EdgeMarking()
    policy.wl_oracle = "1-WL"
    assert policy.wl_oracle == "1-WL" and "_wl_oracle" not in policy.cache_params()


@pytest.mark.parametrize(("bag", "match"), [
    (lambda g: Copy(), "bag returned a Copy, expected a list"),
    (lambda g: [Copy(nodes=np.array([0, g.num_nodes]))], r"copy 0: nodes must lie in"),
    (lambda g: [Copy(nodes=np.array([0, 0]))], "listed twice"),
    (lambda g: [Copy(nodes=np.array([0]), edges=np.array([0]))], "not both kept"),
    (lambda g: [Copy(edge_marks=np.array([1]))], "edge_marks has 1 entries"),
    (lambda g: [Copy(nodes=np.array([0.5]))], "1-D integer array"),
    (lambda g: 1 / 0, "bag failed on graph 0.*ZeroDivisionError"),
])
def test_malformed_bags_are_plugin_errors_naming_the_oracle(bag, match):
    register_bag_oracle("toy_broken_bag", bag, "broken")
    with pytest.raises(PluginError, match=f"WL oracle 'toy_broken_bag'.*{match}"):
        distinguishes(G.cycle(4), G.cycle(5), "toy_broken_bag")


# ---------------------------------------------------------------------- the hook
def oracle_plugin(*records) -> types.ModuleType:
    module = types.ModuleType("oracle_plugin")

    @hookimpl
    def wlkit_oracles():
        return list(records)

    module.wlkit_oracles = wlkit_oracles
    return module


def degrees(graphs):
    return [np.bincount(g.edges.ravel(), minlength=g.num_nodes) for g in graphs], 1


def test_oracles_come_from_the_hook_fixed_bag_and_families():
    def resolve(name):
        k = name[len("toy_deg"):]
        return OracleRecord(name=name, refine=degrees, summary=f"degrees {k}") \
            if k.isdigit() else None

    records = (OracleRecord(name="toy_hook_degrees", refine=degrees, summary="degrees",
                            version="3"),
               OracleRecord(name="toy_hook_edges", bag=edge_marked, summary="edge-marked"),
               OracleFamilyRecord(prefix="toy_deg", resolve=resolve, pattern="toy_deg<K>"))
    c6, two_c3 = G.cycle(6), G.disjoint_union(G.cycle(3), G.cycle(3))
    with registered_plugin(oracle_plugin(*records), "toy-oracles"):
        assert {"toy_hook_degrees", "toy_hook_edges"} <= set(oracle_names())
        assert oracle_version("toy_hook_degrees") == "3"
        assert distinguishes(G.cycle(4), G.complete(4), "toy_hook_degrees")
        assert distinguishes(c6, two_c3, "toy_hook_edges")
        assert "toy_deg<K>" in oracle_patterns() and "toy_deg7" not in oracle_names()
        assert oracle_summary("toy_deg7") == "degrees 7" and "toy_deg7" in oracle_names()
        with pytest.raises(ValueError, match="unknown WL oracle 'toy_degX'.*toy_deg<K>"):
            check_oracle("toy_degX")
    with pytest.raises(ValueError, match="unknown WL oracle"):  # gone with the plugin
        check_oracle("toy_hook_degrees")


def test_bad_hook_records_are_skipped_with_a_warning_and_clashes_fail_on_use():
    bad = OracleRecord(name="toy_both", refine=degrees, bag=edge_marked, summary="x")
    good = OracleRecord(name="toy_good", refine=degrees, summary="x")
    twice = OracleRecord(name="toy_twice", refine=degrees, summary="x")
    with registered_plugin(oracle_plugin(bad, good, twice), "one"), \
            registered_plugin(oracle_plugin(twice), "two"):
        with pytest.warns(PluginWarning, match="toy_both.*exactly one of refine and bag.*skipped"):
            assert "toy_good" in oracle_names()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert "toy_both" not in oracle_names()
            with pytest.raises(PluginError, match="(?s)'toy_twice' is registered by one .* "
                                                  "and two.*hint"):
                check_oracle("toy_twice")


def test_path_oracles_are_a_family_of_the_pathnn_hook_not_an_import_side_effect():
    import inspect

    import wlkit.plugins.policies.pathnn.oracle as pathnn_oracle

    assert "register_oracle" not in inspect.getsource(pathnn_oracle)  # importing registers nothing
    assert not any(n.startswith("path_") for n in O._REGISTERED)
    assert "path_sp_plus_K<K>, path_ap_K<K>[_dist] (pathnn)" in oracle_patterns()
    assert oracle_version("path_ap_K3") == "1"  # the version keys cached suite answers
