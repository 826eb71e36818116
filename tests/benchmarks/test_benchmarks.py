"""The benchmark runner and benchmarks at tiny sizes: they run and their results hold the
schema (benchmarks/common.py). No timing is asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from argparse import Namespace

import pytest

from benchmarks import (
    common,
    data_pipeline,
    optimizer,
    overhead,
    pyg_gin,
    roofline,
    run,
    scaling,
    separate,
)
from tests.conftest import ROOT

try:
    import torch_geometric  # noqa: F401

    HAVE_PYG = True
except ImportError:
    HAVE_PYG = False

NATIVE = {"overhead": overhead, "roofline": roofline, "data_pipeline": data_pipeline,
          "scaling": scaling, "pyg_gin": pyg_gin, "optimizer": optimizer,
          "separate": separate}


@pytest.mark.parametrize("name", sorted(NATIVE))
def test_each_benchmark_runs_tiny_and_writes_its_schema(name, tmp_path):
    if name == "pyg_gin" and not HAVE_PYG:
        pytest.skip("torch_geometric (the optional bench extra) is not installed")
    out = tmp_path / f"{name}.json"
    extra = [] if name == "overhead" else ["--no-memory"]  # one of them measures memory
    NATIVE[name].main(["--tiny", "--out", str(out), *extra])
    result = json.loads(out.read_text())
    common.check_result(result)
    assert result["benchmark"] == name and result["rows"]
    assert result["settings"]["tiny"] is True
    assert result["machine"]["torch_threads"] == 1
    for row in result["rows"]:
        for side in row["sides"].values():
            assert len(side["times_s"]) == result["settings"]["repeats"]
    if name == "overhead":
        # the same weights on both sides: the outputs agree
        gaps = [row["params"]["max_output_gap"] for row in result["rows"]
                if "max_output_gap" in row["params"]]
        assert gaps and all(gap < 1e-4 for gap in gaps)
        assert all(s["peak_mib"] is not None for r in result["rows"]
                   for s in r["sides"].values())
    if name == "separate":  # the parallel embedding gives the same T² values
        assert all(row["params"]["same_verdicts"] for row in result["rows"])
    if name == "scaling":
        cases = {row["case"] for row in result["rows"]}
        assert {c.split(":")[0] for c in cases} == {"gin", "ego", "spen", "pathnn"}
        assert all(len(row["per_doubling"]) == 1 for row in result["rows"])


def test_the_schema_check_names_what_is_missing():
    good = {"benchmark": "x", "title": "t", "command": "c", "notes": [], "settings": {},
            "machine": {k: 1 for k in common.MACHINE_KEYS},
            "rows": [{"case": "c", "params": {}, "ratio": 2.0, "ratio_of": ["a", "b"],
                      "goal": "<= 1", "meets_goal": False,
                      "sides": {s: {"median_ms": 1.0, "times_s": [0.001], "peak_mib": None}
                                for s in "ab"}}]}
    common.check_result(good)
    with pytest.raises(ValueError, match="rows"):
        common.check_result({k: v for k, v in good.items() if k != "rows"})
    bad = json.loads(json.dumps(good))
    bad["rows"][0]["ratio_of"] = ["a", "c"]
    with pytest.raises(ValueError, match="unknown sides"):
        common.check_result(bad)
    bad = json.loads(json.dumps(good))
    del bad["rows"][0]["sides"]["a"]["times_s"]
    with pytest.raises(ValueError, match="times_s"):
        common.check_result(bad)


def test_alternate_rotates_the_order_and_compare_forms_the_ratio():
    calls = []
    sides = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    times = common.alternate(sides, repeats=3, warmup=1)
    assert calls == list("abc" "abc" "bca" "cab")
    assert all(len(v) == 3 for v in times.values())
    row = common.compare("case", {"a": lambda: None, "b": lambda: None},
                         Namespace(repeats=2, warmup=0, no_memory=True), goal=">= 0")
    assert row["ratio_of"] == ["a", "b"] and row["meets_goal"] is True
    assert common.meets(1.04, "<= 1.05") and not common.meets(2.9, ">= 3")


def test_runner_commands_for_every_benchmark(tmp_path):
    args = Namespace(threads=1, quick=True, tiny=False, repeats=None, no_memory=False)
    for bench in run.BENCHMARKS.values():
        cmd = run.command(bench, args, tmp_path / "x.json")
        assert cmd[1].endswith(bench.script) and (ROOT / "benchmarks" / bench.script).is_file()
        assert ("--out" in cmd) == bench.takes_out
    spen = run.command(run.BENCHMARKS["spen_memory"], args, tmp_path / "x.json")
    assert spen[-4:] == ["--configs", "csl41x32", "csl100x16"][-4:] or "--configs" in spen
    tiny = Namespace(threads=1, quick=False, tiny=True, repeats=2, no_memory=True)
    assert run.command(run.BENCHMARKS["pathnn"], tiny, tmp_path / "x.json") is None
    assert "--tiny" in run.command(run.BENCHMARKS["overhead"], tiny, tmp_path / "x.json")


def test_runner_end_to_end_writes_the_summary(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "benchmarks", "roofline", "pathnn", "--tiny",
                           "--no-memory", "--out-dir", str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["benchmarks"]["roofline"]["status"] == "ok"
    assert summary["benchmarks"]["roofline"]["run"]["machine"]["cpu_count"] >= 1
    assert summary["benchmarks"]["pathnn"]["status"].startswith("skipped")
    figures = summary["benchmarks"]["roofline"]["figures"]
    assert figures and all(f["figure"] == "matmuls/wlkit" for f in figures)
    common.check_result(json.loads((tmp_path / "roofline.json").read_text()))
    assert "matmuls/wlkit" in done.stdout


def test_runner_refuses_an_unknown_name(capsys):
    with pytest.raises(SystemExit):
        run.main(["nonesuch"])
    assert "unknown benchmark" in capsys.readouterr().err


def test_aggregator_headline_applies_the_issue_goals_and_lists_the_kernels():
    result = {"results": {
        "basic_vs_dgl": [{"comparison": "sum: plugin vs update_all", "ratio": 1.02,
                          "graph": {}}],
        "lcm_vs_pyg": [{"comparison": "lcm vs PyG", "ratio": 0.99, "graph": {"degree": 8}}],
        "lcm_vs_gru": [{"comparison": "lcm vs gru", "ratio": 1.5, "graph": {"degree": 8}}],
        "kernels": [{"kernel": "torch.sigmoid", "ns_per_element": 0.25, "times_s": [0.1]}]}}
    rows = {row["case"]: row for row in run._aggregators_headline(result)}
    assert rows["sum: plugin vs update_all"]["meets_goal"] is False  # 1.02 > 1.0
    assert rows["lcm vs PyG, degree 8"]["goal"] == "<= 1.0"
    assert rows["lcm vs PyG, degree 8"]["meets_goal"] is True
    assert rows["lcm vs gru, degree 8"]["goal"] is None
    assert rows["kernel torch.sigmoid"]["value"] == 0.25
