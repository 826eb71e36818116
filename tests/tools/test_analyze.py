"""Tests for ``wlkit.tools.analyze`` and ``wlkit analyze``: colour classes and accuracy ceilings."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from tests.conftest import ROOT, SHARED_DATA, TINY_PIPELINE
from wlkit import WlkitError
from wlkit import graphs as G
from wlkit.cli import main
from wlkit.tools.analyze import analysis_pipeline, analyze, analyze_pipeline, labelled_graphs

C6 = G.cycle(6)
TWO_C3 = G.disjoint_union(G.cycle(3), G.cycle(3))
P4 = G.SimpleGraph.from_edges(4, [(0, 1), (1, 2), (2, 3)])
K3 = G.complete(3)
RNG = np.random.default_rng(0)


def relabel(g):
    return g.relabel(RNG.permutation(g.num_nodes))


# ---------------------------------------------------------------------- multiclass
@pytest.fixture(scope="module")
def small_report():
    # 0: C6 (label 0), 1: 2xC3 (1), 2: C6 relabelled (0), 3: P4 (0), 4: P4 relabelled (1).
    # 1-WL classes {0, 1, 2} and {3, 4}; graphs 3 and 4 are isomorphic with different labels.
    graphs = [C6, TWO_C3, relabel(C6), P4, relabel(P4)]
    labels = np.array([0, 1, 0, 0, 1])
    splits = {"train": np.array([0, 1, 3]), "test": np.array([2, 4])}
    return analyze(graphs, labels, splits, "multiclass", ["1-WL", "node_marked"])


def test_multiclass_ceilings(small_report):
    wl, marked = small_report["oracles"]["1-WL"], small_report["oracles"]["node_marked"]
    assert wl["num_classes"] == 2 and marked["num_classes"] == 3
    # 1-WL: class {C6, 2xC3, C6'} labels 0,1,0 -> 2 right; class {P4, P4'} 0,1 -> 1 right.
    assert wl["ceiling"]["all"]["accuracy"] == pytest.approx(3 / 5)
    assert marked["ceiling"]["all"]["accuracy"] == pytest.approx(4 / 5)
    # Per split the majority is taken within the split: train {C6, 2xC3, P4} -> 2 of 3.
    assert wl["ceiling"]["train"] == {"graphs": 3, "accuracy": pytest.approx(2 / 3)}
    assert wl["ceiling"]["test"]["accuracy"] == 1.0  # C6' and P4' are in different classes
    assert small_report["constant"]["ceiling"]["all"]["accuracy"] == pytest.approx(3 / 5)
    assert small_report["isomorphism"]["ceiling"]["all"]["accuracy"] == pytest.approx(4 / 5)
    json.dumps(small_report, allow_nan=False)  # plain JSON types only, no numpy scalars


def test_collisions_and_isomorphism(small_report):
    wl, marked = small_report["oracles"]["1-WL"], small_report["oracles"]["node_marked"]
    assert wl["unique_fraction"] == 0.0 and wl["collisions"] == 2
    assert wl["non_isomorphic_collisions"] == 1  # {C6, 2xC3, C6'}; {P4, P4'} is isomorphic
    assert marked["non_isomorphic_collisions"] == 0 and marked["unique_fraction"] == 0.2
    assert small_report["isomorphism"]["complete"] is True
    conflicts = {tuple(c["graphs"]): c for c in wl["conflicts"]}
    assert conflicts[(0, 1, 2)]["needs_more_expressivity"] is True
    assert sorted(conflicts[(0, 1, 2)]["isomorphism_groups"]) == [[0, 2], [1]]
    assert conflicts[(3, 4)]["needs_more_expressivity"] is False  # label noise: isomorphic
    assert [c["graphs"] for c in marked["conflicts"]] == [[3, 4]]
    assert wl["conflicting_graphs"] == [0, 1, 2, 3, 4]


def test_cross_split_conflicts(small_report):
    wl = small_report["oracles"]["1-WL"]["cross_split"]["test"]
    # C6' shares its 1-WL class with 2xC3 (train, label 1); P4' with P4 (train, label 0).
    assert wl == {"graphs": 2, "class_seen_in_train": 2, "conflicting_with_train": 2,
                  "conflicting_ids": [2, 4]}
    marked = small_report["oracles"]["node_marked"]["cross_split"]["test"]
    assert marked["conflicting_ids"] == [4]


# ---------------------------------------------------------------------- regression, binary
def test_regression_floor_is_the_class_mean_error():
    graphs = [C6, TWO_C3, K3, relabel(K3)]
    y = np.array([[1.0], [3.0], [5.0], [7.0]])
    r = analyze(graphs, y, {"train": [0, 1, 2, 3], "test": [1, 2]}, "regression")
    # 1-WL classes {C6, 2xC3} (mean 2) and {K3, K3'} (mean 6): every error is 1.
    assert r["oracles"]["1-WL"]["ceiling"]["train"]["rmse"] == pytest.approx(1.0)
    # Isomorphism separates C6 from 2xC3: errors 0, 0, 1, 1.
    assert r["isomorphism"]["ceiling"]["train"]["rmse"] == pytest.approx(math.sqrt(0.5))
    assert r["constant"]["ceiling"]["train"]["rmse"] == pytest.approx(math.sqrt(5.0))
    # Test split {2xC3, K3}: each alone in its class within the split -> 0.
    assert r["oracles"]["1-WL"]["ceiling"]["test"]["rmse"] == 0.0
    # Both collisions have differing targets; only the K3 one is isomorphic.
    groups = {tuple(c["graphs"]): c["needs_more_expressivity"]
              for c in r["oracles"]["1-WL"]["conflicts"]}
    assert groups == {(0, 1): True, (2, 3): False}
    # label_tolerance: targets within 2.5 count as equal.
    loose = analyze(graphs, y, {"train": [0, 1, 2, 3]}, "regression", label_tolerance=2.5)
    assert loose["oracles"]["1-WL"]["conflicting_classes"] == 0


def test_binary_multitask_with_missing_labels():
    # 1-WL classes: {C6, 2xC3}, {K3}, {P4}.
    graphs = [C6, TWO_C3, K3, P4]
    nan = float("nan")
    y = np.array([[1, nan], [0, 1], [1, 0], [0, nan]], dtype=float)
    r = analyze(graphs, y, {"train": [0, 1, 2, 3]}, "binary")
    c = r["oracles"]["1-WL"]["ceiling"]["train"]
    # Task 0: accuracy 3/4; scores (class positive rates) 0.5, 0.5, 1, 0 -> AUC 3.5/4.
    # Task 1 (two labelled graphs, in different classes): accuracy 1, AUC 1.
    assert c["per_task"] == [pytest.approx(0.75), 1.0]
    assert c["accuracy"] == pytest.approx(0.875)
    assert c["rocauc"] == pytest.approx((0.875 + 1.0) / 2)
    assert r["constant"]["ceiling"]["train"]["rocauc"] == 0.5
    conflict = r["oracles"]["1-WL"]["conflicts"]
    assert conflict == [{"graphs": [0, 1], "tasks_in_conflict": [0],
                         "isomorphism_groups": [[0], [1]], "needs_more_expressivity": True}]


# ---------------------------------------------------------------------- initial colours
def _dgl(g, feat=None, efeat=None):
    d = g.to_dgl()
    if feat is not None:
        d.ndata["feat"] = torch.as_tensor(feat)
    if efeat is not None:
        d.edata["feat"] = torch.as_tensor(efeat)
    return d


def test_node_features_separate_equal_structures():
    one_hot = torch.eye(2)[[0, 0, 0, 0]]
    other = torch.eye(2)[[0, 1, 0, 0]]
    dgl_graphs = [_dgl(G.cycle(4), one_hot), _dgl(G.cycle(4), other)]
    graphs, info = labelled_graphs(dgl_graphs)
    assert info["node"] == 2 and info["node_colours"] == 2
    r = analyze(graphs, [0, 1], {"train": [0, 1]}, "multiclass")
    assert r["oracles"]["1-WL"]["num_classes"] == 2
    assert r["oracles"]["1-WL"]["ceiling"]["train"]["accuracy"] == 1.0
    plain, _ = labelled_graphs(dgl_graphs, node_features=False)
    assert analyze(plain, [0, 1], {"train": [0, 1]}, "multiclass")[
        "oracles"]["1-WL"]["num_classes"] == 1


def test_multicolumn_integer_and_edge_features():
    atoms = np.array([[6, 0, 4], [6, 0, 4], [8, 0, 2], [6, 0, 4]])
    g = G.cycle(4)
    bonds_a = np.array([[0, 1], [0, 1], [1, 0], [0, 1]] * 2)  # per arc: both directions
    bonds_b = np.array([[0, 1], [0, 1], [0, 1], [0, 1]] * 2)
    graphs, info = labelled_graphs([_dgl(g, atoms, bonds_a), _dgl(g, atoms, bonds_b)])
    assert info["node"] == 3 and info["edge"] == 2 and info["edge_colours"] == 2
    assert graphs[0].node_labels.tolist()[2] != graphs[0].node_labels.tolist()[0]
    assert analyze(graphs, [0, 1], {}, "multiclass")["oracles"]["1-WL"]["num_classes"] == 2
    no_edges, info = labelled_graphs([_dgl(g, atoms, bonds_a), _dgl(g, atoms, bonds_b)],
                                     edge_features=False)
    assert info["edge"] is None and no_edges[0].edge_labels is None
    assert analyze(no_edges, [0, 1], {}, "multiclass")["oracles"]["1-WL"]["num_classes"] == 1


def test_directions_and_float_noise():
    # One arc per pair vs both directions: the model sees different graphs.
    import dgl

    one_way = dgl.graph((torch.tensor([0, 1, 2]), torch.tensor([1, 2, 0])), num_nodes=3)
    graphs, info = labelled_graphs([one_way, K3.to_dgl()])
    assert info["asymmetric_pairs"] == 3
    assert analyze(graphs, [0, 1], {}, "multiclass")["oracles"]["1-WL"]["num_classes"] == 2
    # Encodings are rounded: noise far below 10^-6 does not split isomorphic graphs.
    a, b = _dgl(G.cycle(5)), _dgl(G.cycle(5))
    a.ndata["pe"] = torch.full((5, 2), 0.25, dtype=torch.float64)
    b.ndata["pe"] = torch.full((5, 2), 0.25 + 1e-12, dtype=torch.float64)
    graphs, info = labelled_graphs([a, b], encodings=True)
    assert info["encodings"] == 2 and graphs[0] == graphs[1]
    b.ndata["pe"][0, 0] = 0.5
    graphs, _ = labelled_graphs([a, b], encodings=True)
    assert graphs[0] != graphs[1]
    # -0.0 and 0.0 are one colour.
    c, d = _dgl(G.cycle(3), torch.tensor([[0.0], [0.0], [0.0]])), _dgl(
        G.cycle(3), torch.tensor([[-0.0], [0.0], [0.0]]))
    graphs, info = labelled_graphs([c, d])
    assert info["node_colours"] == 1


# ---------------------------------------------------------------------- budgets
def test_budget_refuses_with_the_estimate():
    graphs = [C6, TWO_C3]
    r = analyze(graphs, [0, 1], {}, "multiclass", ["1-WL", "2-FWL"], budget=100)
    fwl = r["oracles"]["2-FWL"]
    assert fwl["status"] == "refused" and fwl["work"] == 2 * 6**3
    assert "4.32e+02" in fwl["reason"] and "--budget 4.4e+02" in fwl["reason"]
    assert r["oracles"]["1-WL"]["status"] == "ok"
    with pytest.raises(WlkitError, match="every oracle was refused"):
        analyze(graphs, [0, 1], {}, "multiclass", ["2-FWL"], budget=100)
    with pytest.raises(WlkitError, match="unknown WL oracle '1-wl'; did you mean '1-WL'"):
        analyze(graphs, [0, 1], {}, "multiclass", ["1-wl"])


def test_isomorphism_budget_is_reported():
    graphs = [G.csl(41, 2), relabel(G.csl(41, 2)), G.csl(41, 3)]
    r = analyze(graphs, [0, 0, 1], {}, "multiclass", iso_checks=0, budget=10)
    assert r["isomorphism"]["complete"] is False
    wl = r["oracles"]["1-WL"]
    assert wl["unresolved_collisions"] == 1 and wl["non_isomorphic_collisions"] == 0
    assert wl["conflicts"][0]["needs_more_expressivity"] is None
    full = analyze(graphs, [0, 0, 1], {}, "multiclass")
    assert full["isomorphism"]["complete"] and full["isomorphism"]["num_classes"] == 2
    assert full["oracles"]["1-WL"]["non_isomorphic_collisions"] == 1


# ---------------------------------------------------------------------- known ceilings
def test_csl_is_at_chance_under_1wl_and_solved_by_node_marking():
    pipeline = analysis_pipeline(None, "csl", ["dataset.relabelings=5"])
    r = analyze_pipeline(pipeline, ["1-WL", "node_marked"], features="all")
    wl, marked = r["oracles"]["1-WL"], r["oracles"]["node_marked"]
    for split in ("train", "valid", "test", "all"):
        assert wl["ceiling"][split]["accuracy"] == pytest.approx(0.1)
        assert marked["ceiling"][split]["accuracy"] == 1.0
    assert wl["num_classes"] == 1 and marked["num_classes"] == 10
    assert r["isomorphism"]["num_classes"] == 10 and r["isomorphism"]["complete"]


@pytest.mark.skipif(not (SHARED_DATA / "wl" / "CSL").is_dir(), reason="shared CSL absent")
def test_csl_reference_files_ceiling():
    from wlkit.datasets.wl_files import read_csl_pickles, read_csl_split

    items = read_csl_pickles(SHARED_DATA / "wl" / "CSL")
    splits = {s: read_csl_split(SHARED_DATA / "wl" / "CSL", s)[0] for s in ("train", "test")}
    r = analyze([g for g, _ in items], [y for _, y in items], splits, "multiclass",
                budget=0, iso_checks=0)  # ceilings only: skip isomorphism resolution
    assert r["num_graphs"] == 150
    assert r["oracles"]["1-WL"]["ceiling"]["all"]["accuracy"] == pytest.approx(0.1)
    assert r["oracles"]["1-WL"]["ceiling"]["test"]["accuracy"] == pytest.approx(0.1)


@pytest.mark.parametrize(("name", "ceiling"), [("EXP", 0.5), ("CEXP", 0.75)])
def test_exp_and_cexp_ceilings(name, ceiling):
    folder = SHARED_DATA / "wl" / name
    if not (folder / "GRAPHSAT.txt").is_file():
        pytest.skip(f"shared {name} absent")
    pipeline = analysis_pipeline(None, name.lower(), [f"dataset.root={folder}"])
    r = analyze_pipeline(pipeline, ["1-WL"], iso_checks=0, budget=0)
    assert r["features"]["node"] == 2  # clause / literal one-hot
    wl = r["oracles"]["1-WL"]
    assert wl["ceiling"]["all"]["accuracy"] == pytest.approx(ceiling)
    assert wl["collisions"] == (600 if name == "EXP" else 300)


# ---------------------------------------------------------------------- CLI
def test_cli_writes_analysis_json(tmp_path, capsys):
    out = tmp_path / "an"
    code = main(["analyze", "--dataset", "wl_pairs", "--oracle", "1-WL",
                 "--oracle", "two_node_marked", "--out", str(out), "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "accuracy ceiling test" in captured.out and "two_node_marked" in captured.out
    report = json.loads((out / "analysis.json").read_text())
    assert report["dataset"]["name"] == "wl_pairs" and report["num_graphs"] == 8
    assert report["oracles"]["1-WL"]["ceiling"]["test"]["accuracy"] == 0.5
    assert report["oracles"]["two_node_marked"]["ceiling"]["test"]["accuracy"] == 1.0
    assert len(report["oracles"]["1-WL"]["conflicts"]) == 4
    assert report["oracles"]["1-WL"]["conflicting_graphs"] == list(range(8))
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))
    # Never written over.
    assert main(["analyze", "--dataset", "wl_pairs", "--out", str(out), "--quiet"]) == 2
    assert "exists" in capsys.readouterr().err


def test_cli_with_encodings(tmp_path, write_pipeline, capsys):
    path = write_pipeline(TINY_PIPELINE)
    assert main(["analyze", str(path), "--out", str(tmp_path / "a"), "--quiet"]) == 0
    assert main(["analyze", str(path), "--with-encodings", "--out", str(tmp_path / "b"),
                 "--quiet"]) == 0
    capsys.readouterr()
    plain = json.loads((tmp_path / "a" / "analysis.json").read_text())
    rwse = json.loads((tmp_path / "b" / "analysis.json").read_text())
    assert rwse["features"]["encodings_names"] == ["rwse"] and rwse["features"]["decimals"] == 6
    # RWSE sees the triangles of 2xC3: C6 vs 2xC3 (graphs 0, 1) is no longer a conflict.
    assert [0, 1] in [c["graphs"] for c in plain["oracles"]["1-WL"]["conflicts"]]
    assert [0, 1] not in [c["graphs"] for c in rwse["oracles"]["1-WL"]["conflicts"]]


@pytest.mark.parametrize(("args", "message"), [
    (["--dataset", "wl_pairs", "--oracle", "3-WL"], "unknown WL oracle '3-WL'"),
    ([], "either a pipeline file or --dataset"),
    (["pipelines/quickstart.yaml", "--dataset", "csl"], "not both"),
    (["--dataset", "wl_pairs", "--oracle", "2-FWL", "--budget", "10"], "above the budget"),
    (["--dataset", "no_such_dataset"], "unknown dataset"),
    (["--dataset", "wl_pairs", "--with-encodings"], "lists no encodings"),
])
def test_cli_bad_input_exits_2(args, message, tmp_path, capsys):
    code = main(["analyze", *args, "--out", str(tmp_path / "x"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "x" / "analysis.json").exists()


def test_cli_console_entry_point(tmp_path):
    env = {**os.environ, "WLKIT_DISABLE_PLUGIN_AUTOLOAD": "1"}
    ok = subprocess.run([sys.executable, "-m", "wlkit.cli", "analyze", "--dataset", "wl_pairs",
                         "--out", str(tmp_path)], capture_output=True, text=True, cwd=ROOT,
                        env=env, timeout=600)
    assert ok.returncode == 0, ok.stderr
    assert "results:" in ok.stdout and (tmp_path / "analysis.json").is_file()
    assert "1-WL: refining 8 graphs" in ok.stderr  # progress goes to stderr
