"""``wlkit check``: red on a component that breaks its record's claims, green otherwise."""

from __future__ import annotations

import json
import math
import types
from dataclasses import replace

import dgl
import pytest
import torch

from wlkit import (
    Aggregator,
    AggregatorRecord,
    DatasetInfo,
    DatasetRecord,
    GraphDataset,
    Param,
    WlkitError,
    hookimpl,
    registered_plugin,
)
from wlkit.cli import main
from wlkit.plugins.aggregators import RecurrentAggregator as EdgeOrder  # a GRU in edge order
from wlkit.records import FAMILIES
from wlkit.tools.check import claims_at_most_1wl, claims_beyond_1wl, run_check
from wlkit.tools.schema import check_bounds, check_defaults, default_problems, edge_values


class TriangleSum(Aggregator):
    """Sum plus the node's triangle count: invariant, and stronger than 1-WL."""

    def reduce(self, graph, messages):
        adj = torch.zeros(graph.num_nodes(), graph.num_nodes())
        src, dst = graph.edges()
        adj[src.long(), dst.long()] = 1.0
        triangles = torch.diagonal(adj @ adj @ adj).unsqueeze(-1)
        return dgl.ops.copy_e_sum(graph, messages) + triangles.to(messages.dtype)


class LoadingInfo(GraphDataset):
    def info(self):
        self.load()
        return DatasetInfo("binary", 1, "rocauc", True)

    def load(self):
        raise RuntimeError("downloads 2 GB")


class GoodInfo(GraphDataset):
    def info(self):
        return DatasetInfo("regression", 2, "rmse", False, node_feat_dim=3)

    def load(self):
        raise RuntimeError("never in wlkit check")


def _records():
    return [
        AggregatorRecord(name="fixture_liar", factory=EdgeOrder,
                         summary="Claims invariance it does not have."),
        AggregatorRecord(name="fixture_honest", factory=EdgeOrder,
                         summary="Says it is not invariant.", permutation_invariant=False,
                         expressivity="not permutation invariant"),
        AggregatorRecord(name="fixture_triangles", factory=TriangleSum,
                         summary="Counts triangles but claims 1-WL."),
    ]


FIXTURES = types.SimpleNamespace(
    wlkit_aggregators=hookimpl(_records),
    wlkit_datasets=hookimpl(lambda: [
        DatasetRecord(name="fixture_loads", factory=LoadingInfo, summary="Loads in info()."),
        DatasetRecord(name="fixture_info", factory=GoodInfo, summary="Metadata only."),
    ]))


@pytest.fixture
def fixtures():
    with registered_plugin(FIXTURES, "wlkit-check-fixtures"):
        yield


def test_non_invariant_component_claiming_invariance_is_red(fixtures, capsys):
    code = main(["check", "fixture_liar", "--no-separation"])
    out = capsys.readouterr().out
    assert code == 1, out
    row = next(line for line in out.splitlines() if line.startswith("aggregator"))
    assert "FAIL" in row and row.rstrip().endswith("RED")
    assert "fixture_liar: invariant:" in out and "not permutation equivariant" in out
    assert "1 component(s) checked, 1 red" in out
    failures = out.split("failures:")[1].split("notes:")[0].split("invariant: ok")[0]
    assert [line.split(": ")[1] for line in failures.splitlines()
            if line.startswith("  aggregator")] == ["invariant"]  # the only failed check


def test_honest_non_invariant_component_passes(fixtures, capsys):
    code = main(["check", "fixture_honest", "--no-separation", "--json"])
    report = json.loads(capsys.readouterr().out)
    (row,) = report["components"]
    assert code == 0 and not row["red"]
    assert row["checks"]["invariant"]["status"] == "no"
    assert {row["checks"][c]["status"] for c in ("batch", "determinism", "gradients",
                                                  "contract", "record")} == {"pass"}


def test_separation_beyond_the_declared_bound_is_red(fixtures):
    (row,) = run_check(["fixture_triangles"], family="aggregator")
    sep = row["separation"]
    assert row["checks"]["invariant"]["status"] == "pass"
    assert sep["bound"] == "1-WL" and sep["bound_separated"] == 0
    assert "c6_vs_2c3" in sep["beyond_bound"]  # triangles tell C6 from two triangles
    assert row["red"] and row["failed"] == ["separation"]


def test_builtins_pass(capsys):
    code = main(["check", "sum", "gin", "rwse", "--no-separation"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.count(" pass") == 4  # sum is an aggregator and a readout


def test_datasets_info_must_not_load(fixtures):
    rows = {r["name"]: r for r in run_check(["fixture_loads", "fixture_info", "csl"],
                                            family="dataset")}
    assert rows["fixture_loads"]["red"]
    assert "must work without loading" in rows["fixture_loads"]["checks"]["info"]["detail"]
    assert not rows["fixture_info"]["red"]
    assert rows["fixture_info"]["checks"]["info"]["detail"] == "regression, 2 tasks, rmse"
    assert not rows["csl"]["red"]


def test_unknown_names_are_clear_errors(capsys):
    assert main(["check", "summ"]) == 2
    err = capsys.readouterr().err
    assert "no component named 'summ'" in err and "did you mean 'sum'" in err
    assert main(["check", "--family", "aggregators"]) == 2
    assert "did you mean 'aggregator'" in capsys.readouterr().err


def test_expressivity_claims():
    assert claims_at_most_1wl("1-WL") and claims_at_most_1wl("<1-WL")
    assert claims_at_most_1wl("<=1-WL (one colour-refinement step)")
    assert not claims_at_most_1wl(">1-WL") and not claims_at_most_1wl("incomparable to 1-WL")
    assert claims_beyond_1wl(">1-WL, <=2-FWL") and claims_beyond_1wl("universal w.h.p.")
    assert not claims_beyond_1wl("1-WL")


def test_every_builtin_component_passes():
    """All of ``wlkit check`` over the built-ins, separation included (about 15 s of CPU)."""
    from wlkit.manager import PluginHost

    rows = run_check(registry=PluginHost(autoload=False).registry)
    red = {f"{r['family']} {r['name']}": r["failed"] for r in rows if r["red"]}
    assert not red, red


# ------------------------------------------------------------- defaults and bounds


class ToyScale(Aggregator):
    """A sum times a factor; refuses a factor of zero or below, and order 'b' without key."""

    def __init__(self, dim: int, factor: float = 1.0, order: str = "a", key: str | None = None):
        super().__init__(dim)
        if factor <= 0:
            raise ValueError(f"factor must be positive, got {factor}")
        if order == "b" and key is None:  # one parameter needing another: a WlkitError
            raise WlkitError("aggregator 'toy': order b needs key\n    hint: set key")
        self.factor = factor

    def reduce(self, graph, messages):
        return dgl.ops.copy_e_sum(graph, messages) * self.factor


def _toy(name: str, *params: Param) -> types.SimpleNamespace:
    params = tuple(replace(p, doc=p.doc or f"the toy's {p.name}") for p in params)
    record = AggregatorRecord(name=name, factory=ToyScale, summary="Toy.", params=params)
    return types.SimpleNamespace(wlkit_aggregators=hookimpl(lambda: [record]))


def test_schema_default_disagreeing_with_the_factory_is_red(capsys):
    plugin = _toy("toy_drift", Param("factor", float, 2.0, minimum=0.0, exclusive_minimum=True))
    with registered_plugin(plugin, "wlkit-toy-drift"):
        code = main(["check", "toy_drift", "--no-separation"])
    out = capsys.readouterr().out
    assert code == 1, out
    assert ("toy_drift: defaults: factor: the schema default is 2.0 but "
            "tests.tools.test_check.ToyScale() defaults to 1.0") in out
    header = next(line for line in out.splitlines() if line.startswith("family"))
    assert header.split()[3:6] == ["record", "defaults", "bounds"]


def test_schema_bound_the_constructor_refuses_is_red():
    # minimum 0.0 (inclusive) admits factor 0, which ToyScale refuses
    with registered_plugin(_toy("toy_bound", Param("factor", float, 1.0, minimum=0.0)),
                           "wlkit-toy-bound"):
        (row,) = run_check(["toy_bound"], separation=False)
    assert row["red"] and row["failed"] == ["bounds"]
    detail = row["checks"]["bounds"]["detail"]
    assert "factor=0.0 is admitted by the schema but the factory refuses it" in detail
    assert "ValueError: factor must be positive" in detail


def test_exclusive_minimum_and_documented_refusals_pass():
    plugin = _toy("toy_good", Param("factor", float, 1.0, minimum=0.0, exclusive_minimum=True),
                  Param("order", str, "a", choices=("a", "b")),
                  Param("key", str, None, nullable=True))
    with registered_plugin(plugin, "wlkit-toy-good"):
        (row,) = run_check(["toy_good"], separation=False)
    assert not row["red"], row["failed"]
    assert row["checks"]["defaults"]["status"] == "pass"
    assert row["checks"]["bounds"] == {"status": "pass", "detail": "2 edge value(s) built"}
    assert any("refuses order='b' with the other defaults: aggregator 'toy': order b needs key"
               in note for note in row["notes"])


def test_default_comparison_rules():
    def factory(dim, sizes=(1, 2), flag=1, **rest):
        return None

    def strict(dim, sizes=(1, 2)):
        return None

    record = AggregatorRecord(name="toy", factory=factory, summary="Toy.", params=(
        Param("sizes", list, [1, 2]),     # a list equals a tuple with the same items
        Param("flag", bool, True),        # True is not the integer 1
        Param("hidden", int, 3)))         # hidden in **rest: no default to compare
    assert default_problems(record) == [
        "flag: the schema default is True but tests.tools.test_check."
        "test_default_comparison_rules.<locals>.factory() defaults to 1"]
    missing = AggregatorRecord(name="toy", factory=strict, summary="Toy.",
                               params=(Param("width", int, 3),))
    assert default_problems(missing) == [
        "width: in the schema but not a keyword argument of tests.tools.test_check."
        "test_default_comparison_rules.<locals>.strict()"]


def test_edge_values():
    assert edge_values(Param("f", float, 0.5, minimum=0.0, maximum=1.0,
                             exclusive_minimum=True)) == [math.nextafter(0.0, 1.0), 1.0]
    assert edge_values(Param("k", int, 3, minimum=0.5, exclusive_minimum=True)) == [1]
    assert edge_values(Param("m", str, "x", choices=("x", "y"), nullable=True)) == ["y", None]
    assert edge_values(Param("b", bool, True)) == []


def test_every_builtin_schema_matches_its_factory():
    """Every built-in's defaults agree with its factory and every edge value builds."""
    from wlkit.manager import PluginHost

    registry = PluginHost(autoload=False).registry
    bad = {}
    for family in FAMILIES:
        for entry in registry.entries(family):
            results = [check_defaults(entry.record)]
            if family != "dataset":
                results.append(check_bounds(entry, registry)[0])
            failed = [r["detail"] for r in results if r["status"] == "fail"]
            if failed:
                bad[f"{family} {entry.record.name}"] = failed
    assert not bad, bad
