"""Registered WL oracles (wlkit.wl.register_oracle): the API and the framework around it."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from wlkit import PluginError, WlkitError
from wlkit import graphs as G
from wlkit.datasets import wl_suites as S
from wlkit.graphs import SimpleGraph
from wlkit.tools.analyze import _check_oracles, analyze, estimate_work
from wlkit.wl import (
    ORACLES,
    check_oracle,
    distinguishes,
    graph_classes,
    oracle_cost,
    oracle_names,
    oracle_patterns,
    oracle_summary,
    oracle_version,
    register_oracle,
    register_oracle_family,
    separated_pairs,
    wl_colors,
)
from wlkit.wl import oracles as O


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    """Every test starts from the oracles registered so far and leaves them unchanged."""
    monkeypatch.setattr(O, "_REGISTERED", dict(O._REGISTERED))
    monkeypatch.setattr(O, "_FAMILIES", dict(O._FAMILIES))


class Degrees:
    """Toy oracle: one refinement round from a constant colour (node colour = degree).
    Records the graphs of every call."""

    def __init__(self) -> None:
        self.calls: list[list[SimpleGraph]] = []

    def __call__(self, graphs: list[SimpleGraph]) -> tuple[list[np.ndarray], int]:
        self.calls.append(list(graphs))
        return [np.bincount(g.edges.ravel(), minlength=g.num_nodes) for g in graphs], 1


def two_triangles() -> SimpleGraph:
    return G.disjoint_union(G.cycle(3), G.cycle(3))


def test_register_lists_and_answers_through_every_entry_point():
    refine = Degrees()
    assert register_oracle("toy_degrees", refine, "degree histogram") == "toy_degrees"
    # built-ins, then run-time registrations, then the plugins' (wlkit_oracles) names
    assert oracle_names()[:len(ORACLES) + len(O._REGISTERED)] == ORACLES + tuple(O._REGISTERED)
    assert "toy_degrees" in oracle_names() and "toy_degrees" not in ORACLES
    assert check_oracle("toy_degrees") == "toy_degrees"
    assert oracle_summary("toy_degrees") == "degree histogram"
    assert oracle_version("toy_degrees") == "1" and oracle_version("1-WL") is None
    assert distinguishes(G.cycle(4), G.complete(4), "toy_degrees")
    assert not distinguishes(G.cycle(6), two_triangles(), "toy_degrees")
    res = wl_colors([G.cycle(4), G.complete(4), G.cycle(4)], "toy_degrees")
    assert res.oracle == "toy_degrees" and res.rounds == 1 and res.stable
    assert [c.tolist() for c in res.colors] == [[2] * 4, [3] * 4, [2] * 4]
    assert res.classes() == [[0, 2], [1]]
    ids = graph_classes([G.cycle(6), G.petersen(), two_triangles()], "toy_degrees")
    assert ids[0] == ids[2] != ids[1]  # a graph colour is the multiset of node colours
    with pytest.raises(ValueError, match="max_rounds"):
        wl_colors(G.cycle(3), "toy_degrees", max_rounds=1)


def test_duplicate_names_and_bad_registrations_are_clear_errors():
    refine = Degrees()
    register_oracle("toy_degrees", refine, "degree histogram")
    register_oracle("toy_degrees", refine, "degree histogram")  # the same: a no-op
    with pytest.raises(PluginError, match="'toy_degrees' is already registered with a "
                                          "different function.*Degrees"):
        register_oracle("toy_degrees", Degrees(), "degree histogram")
    with pytest.raises(PluginError, match="already registered"):
        register_oracle("toy_degrees", refine, "degree histogram", version="2")
    with pytest.raises(PluginError, match="'1-WL' is a built-in oracle"):
        register_oracle("1-WL", refine, "no")
    for bad in ("", "a,b", "with space", "../x"):
        with pytest.raises(PluginError, match="bad oracle name"):
            register_oracle(bad, refine, "no")
    with pytest.raises(PluginError, match="must be callables"):
        register_oracle("toy_nothing", None, "no")  # type: ignore[arg-type]
    assert "toy_nothing" not in oracle_names()


@pytest.mark.parametrize(("answer", "match"), [
    (lambda gs: [np.zeros(g.num_nodes, np.int64) for g in gs], "must return"),
    (lambda gs: ([np.zeros(1, np.int64)], 1), "colours for 1 graphs, expected 2"),
    (lambda gs: ([np.zeros(g.num_nodes + 1, np.int64) for g in gs], 1), "shape"),
    (lambda gs: ([np.full(g.num_nodes, 0.5) for g in gs], 1), "dtype float64"),
])
def test_malformed_refine_answers_are_plugin_errors(answer, match):
    register_oracle("toy_broken", answer, "broken")
    with pytest.raises(PluginError, match=f"WL oracle 'toy_broken'.*{match}"):
        distinguishes(G.cycle(3), G.cycle(4), "toy_broken")


def test_unknown_names_list_registered_oracles():
    register_oracle("toy_degrees", Degrees(), "degree histogram")
    with pytest.raises(ValueError, match="unknown WL oracle 'toy'.*two_node_marked, .*"
                                         "toy_degrees"):
        distinguishes(G.cycle(3), G.cycle(3), "toy")
    with pytest.raises(WlkitError, match="(?s)did you mean .toy_degrees.*hint: .*toy_degrees"):
        _check_oracles(["toy_degree"])
    assert _check_oracles(["toy_degrees", "1-WL"]) == ["toy_degrees", "1-WL"]


def test_separated_pairs_batches_by_cost_and_refines_repeated_graphs_once():
    refine = Degrees()
    register_oracle("toy_degrees", refine, "degree histogram", cost=lambda g: 10)
    pool = [G.cycle(4), G.complete(4), G.cycle(6), two_triangles(), G.petersen()]
    pairs = list(itertools.combinations(pool, 2)) + [(G.cycle(4), G.cycle(4))]
    expected = [distinguishes(g, h, "toy_degrees") for g, h in pairs]
    refine.calls.clear()
    # Each graph costs 10: budget 1 gives one pair per batch; 30 three distinct graphs.
    assert separated_pairs(pairs, "toy_degrees", budget=1).tolist() == expected
    assert [len(c) for c in refine.calls] == [2] * 10 + [1]  # C4 vs C4: one graph
    refine.calls.clear()
    assert separated_pairs(pairs, "toy_degrees", budget=30).tolist() == expected
    assert all(len(c) <= 4 for c in refine.calls) and len(refine.calls) > 1
    refine.calls.clear()
    assert separated_pairs(pairs, "toy_degrees", budget=10**9).tolist() == expected
    assert [len(c) for c in refine.calls] == [5]  # every distinct graph once


def test_built_in_oracles_still_agree_with_distinguishes_when_graphs_repeat():
    pool = [G.shrikhande(), G.rook_graph(4), G.cycle(6), two_triangles()]
    pairs = list(itertools.combinations_with_replacement(pool, 2))
    for oracle in ("1-WL", "node_marked", "2-FWL"):
        expected = [distinguishes(g, h, oracle) for g, h in pairs]
        for budget in (1, 10**9):
            assert separated_pairs(pairs, oracle, budget=budget).tolist() == expected


def test_estimate_work_and_analyze_use_the_registered_cost():
    graphs = [G.cycle(4), G.complete(4)]
    register_oracle("toy_costly", Degrees(), "with a cost", cost=lambda g: 1000 * g.num_nodes)
    register_oracle("toy_free", Degrees(), "without a cost")
    assert estimate_work(graphs, "toy_costly") == 8000
    assert estimate_work(graphs, "toy_free") == (4 + 4 + 1) + (4 + 6 + 1)  # n + m + 1
    assert oracle_cost(G.cycle(4), "toy_costly") == 4000
    labels = np.array([0, 1])
    splits = {"train": np.array([0, 1])}
    report = analyze(graphs, labels, splits, "multiclass", ["toy_free", "toy_costly"],
                     budget=5000)
    assert report["oracles"]["toy_costly"]["work"] == 8000
    assert report["oracles"]["toy_free"]["status"] == "ok"
    assert report["oracles"]["toy_free"]["summary"] == "without a cost"
    refused = report["oracles"]["toy_costly"]
    assert refused["status"] == "refused" and "registered oracle's cost" in refused["reason"]


def test_suite_cache_key_includes_the_registered_version(tmp_path, monkeypatch):
    suite = S.ClassicSuite()
    register_oracle("toy_degrees", Degrees(), "v1", version="1")
    computed: list[str] = []
    first = suite.oracle_labels(["toy_degrees"], cache_dir=tmp_path, on_compute=computed.append)
    suite.oracle_labels(["toy_degrees"], cache_dir=tmp_path, on_compute=computed.append)
    assert computed == ["toy_degrees"]  # the second call read the cache
    (path,) = (tmp_path / "wl_oracles").iterdir()
    assert path.name.endswith("-toy_degrees-v1.json")
    assert json.loads(path.read_text())["version"] == "1"
    # A new implementation (a new process registers version 2): not the stale answers.
    monkeypatch.setattr(O, "_REGISTERED", {})

    def unique_colours(gs: list[SimpleGraph]) -> tuple[list[np.ndarray], int]:
        # not invariant, only different: every graph gets its own colours
        return [np.arange(i * 100, i * 100 + g.num_nodes) for i, g in enumerate(gs)], 0

    register_oracle("toy_degrees", unique_colours, "v2", version="2/beta")
    second = suite.oracle_labels(["toy_degrees"], cache_dir=tmp_path, on_compute=computed.append)
    assert computed == ["toy_degrees", "toy_degrees"]
    assert not first["toy_degrees"].any() and second["toy_degrees"].all()
    names = sorted(p.name for p in (tmp_path / "wl_oracles").iterdir())
    assert len(names) == 2 and names[1].endswith("-toy_degrees-v2_beta.json")


@pytest.mark.parametrize("name", ["wlkit.wl", "wlkit.wl.oracles", "wlkit.wl._canon"])
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_oracle_families_register_names_on_first_use():
    made: list[str] = []

    def resolve(name: str) -> str | None:
        rounds = name[len("toy_rounds"):]
        if not rounds.isdigit():
            return None
        made.append(name)
        return register_oracle(name, Degrees(), f"{rounds} rounds")

    register_oracle_family("toy_rounds", resolve, "toy_rounds<R>")
    register_oracle_family("toy_rounds", resolve, "toy_rounds<R>")  # equal: a no-op
    with pytest.raises(PluginError, match="prefix 'toy_rounds' is already taken"):
        register_oracle_family("toy_rounds", lambda name: None, "other")
    assert "toy_rounds<R>" in oracle_patterns()
    assert "toy_rounds2" not in oracle_names()
    assert not distinguishes(G.cycle(6), two_triangles(), "toy_rounds2")
    assert "toy_rounds2" in oracle_names() and oracle_summary("toy_rounds2") == "2 rounds"
    distinguishes(G.cycle(6), two_triangles(), "toy_rounds2")
    assert made == ["toy_rounds2"]  # resolved once
    with pytest.raises(ValueError, match="unknown WL oracle 'toy_roundsX'.*or a name like "
                                         ".*toy_rounds<R>"):
        check_oracle("toy_roundsX")
    assert _check_oracles(["toy_rounds5"]) == ["toy_rounds5"]
    with pytest.raises(WlkitError, match="(?s)unknown WL oracle 'toy_roundz'.*toy_rounds<R>"):
        _check_oracles(["toy_roundz"])
