"""``wlkit check``: red on a component that breaks its record's claims, green otherwise."""

from __future__ import annotations

import json
import types

import dgl
import pytest
import torch

from wlkit import (
    Aggregator,
    AggregatorRecord,
    DatasetInfo,
    DatasetRecord,
    GraphDataset,
    hookimpl,
    registered_plugin,
)
from wlkit.cli import main
from wlkit.plugins.aggregators import RecurrentAggregator as EdgeOrder  # a GRU in edge order
from wlkit.tools.check import claims_at_most_1wl, claims_beyond_1wl, run_check


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
