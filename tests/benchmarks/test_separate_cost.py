"""``benchmarks/separate.py --cost`` (issue 18): seconds and peak memory per pair, measured in
a process forked per measurement, written under ``"cost"`` of the result file; the growth
fit. No timing is asserted beyond being positive."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import common, separate

ROW_PARAMS = {"pipeline", "family", "graph", "mode", "nodes", "edges", "copies_per_graph",
              "relabelings", "peak_rss_mib", "peak_extra_mib", "baseline_rss_mib",
              "memory_method", "seconds_per_pair_r32_extrapolated", "load_average_1min"}


def _speed_result() -> dict:
    """A valid result of the speed mode, as an earlier run wrote it."""
    return {"benchmark": "separate", "title": "t", "command": "c", "notes": [],
            "settings": {}, "machine": {k: 1 for k in common.MACHINE_KEYS},
            "rows": [{"case": "separate_gin / cfi", "params": {"pairs": 3}, "ratio": None,
                      "ratio_of": None, "goal": None, "meets_goal": None,
                      "sides": {"1 worker": {"median_ms": 1.0, "times_s": [0.001],
                                             "peak_mib": None}}}]}


def test_cost_mode_measures_one_pair_in_its_own_process_and_keeps_the_speed_rows(tmp_path):
    out = tmp_path / "separate.json"
    out.write_text(json.dumps(_speed_result()))
    assert separate.main(["--cost", "--tiny", "--forward-graph", "none", "--out",
                          str(out)]) == 0
    result = json.loads(out.read_text())
    common.check_result(result)
    assert [r["case"] for r in result["rows"]] == ["separate_gin / cfi"]  # kept
    cost = result["cost"]
    common.check_result({"benchmark": "separate", **cost})
    (row,) = cost["rows"]
    p = row["params"]
    assert ROW_PARAMS | {"seconds_per_pair"} <= p.keys()
    assert (p["pipeline"], p["graph"], p["mode"], p["family"]) == (
        "separate_node_marking", "cfi_k3", "pair", "cfi")
    # CFI over K3: 3 gadgets of 2 middles and 4 ends; node marking makes one copy per node
    assert (p["nodes"], p["edges"], p["copies_per_graph"], p["relabelings"]) == (18, 18, 18, 4)
    assert p["seconds_per_pair"] > 0
    assert p["seconds_per_pair_r32_extrapolated"] == pytest.approx(
        8 * p["seconds_per_pair"], rel=1e-2, abs=2e-3)
    assert p["memory_method"] in ("VmHWM", "ru_maxrss")
    if p["memory_method"] == "VmHWM":  # the peak of the step, above what was resident
        assert p["peak_rss_mib"] >= p["baseline_rss_mib"] > 50
        assert p["peak_extra_mib"] == pytest.approx(
            p["peak_rss_mib"] - p["baseline_rss_mib"], abs=0.2)
    (side,) = row["sides"].values()
    assert side["times_s"] and side["median_ms"] > 0
    assert cost["settings"]["relabelings"] == 4 and cost["settings"]["forward"] == []
    assert "load_average" in cost["machine"] and "load_average_end" in cost["machine"]
    assert "extrapolated" in cost["notes"][0]
    (growth,) = cost["growth"]
    assert growth["nodes"] == [18] and growth["time_per_doubling"] is None  # one size: no fit
    assert separate._kept_cost(out) == cost  # what a later speed run carries over


def test_one_forward_row_extrapolates_to_a_pair_of_128_forwards():
    spec = {"pipeline": "separate_node_marking", "graph": "cfi_k3", "relabelings": 4,
            "repeats": 1, "threads": 1, "mode": "forward"}
    got = separate.cost_child(spec)
    assert got["nodes"] == 18 and len(got["times_s"]) == 1 and got["times_s"][0] > 0
    row = separate._cost_row(spec, "cfi", got)
    p = row["params"]
    assert list(row["sides"]) == ["one forward"] and "seconds_per_pair" not in p
    assert p["seconds_per_pair_r32_extrapolated"] == pytest.approx(
        128 * p["seconds_per_forward"], rel=1e-2, abs=0.2)


def test_growth_is_the_log_log_slope_per_pipeline_and_family():
    def row(pipeline, family, n, seconds, mib):
        return {"params": {"pipeline": pipeline, "family": family, "mode": "pair",
                           "nodes": n, "seconds_per_pair": seconds, "peak_extra_mib": mib}}

    rows = ([row("quadratic", "cfi", n, 1e-3 * n * n, 0.5 * n) for n in (18, 40, 100)]
            + [row("quadratic", "sr", n, 2e-3 * n ** 3, 0.0) for n in (16, 36)]
            + [{"params": {"pipeline": "quadratic", "family": "cfi", "mode": "forward",
                           "nodes": 200, "seconds_per_forward": 1e6, "peak_extra_mib": 1.0}}])
    cfi, sr = separate.cost_growth(rows)
    assert (cfi["family"], cfi["nodes"]) == ("cfi", [18, 40, 100])  # the forward left out
    assert cfi["time_slope"] == pytest.approx(2.0) and cfi["time_per_doubling"] == 4.0
    assert cfi["memory_per_doubling"] == 2.0
    assert sr["time_per_doubling"] == 8.0 and sr["memory_per_doubling"] is None  # 0 MiB


def test_the_cost_graphs_have_their_sizes():
    from wlkit.graphs import dodecahedron

    dodeca = dodecahedron()
    assert (dodeca.num_nodes, dodeca.num_edges) == (20, 30)
    assert set(dodeca.degrees().tolist()) == {3}
    sizes = {name: separate.cost_pair(name)[0].num_nodes
             for names in separate.COST_GRAPHS.values() for name in names}
    assert sizes == {"shrikhande_vs_rook4": 16, "t(8)_vs_chang1": 28, "latin_z6_vs_s3": 36,
                     "cfi_k3": 18, "cfi_k4": 40, "cfi_k33": 60, "cfi_cube": 80,
                     "cfi_petersen": 100}
    first, second = separate.cost_pair(separate.FORWARD[1])
    assert first.num_nodes == second.num_nodes == 200
    with pytest.raises(ValueError, match="unknown cost pair"):
        separate.cost_pair("nonesuch")


def test_a_failed_measurement_says_why(tmp_path: Path):
    spec = {"pipeline": "separate_node_marking", "graph": "nonesuch", "relabelings": 4,
            "repeats": 1, "threads": 1, "mode": "pair"}
    got = separate._in_fresh_process(spec, timeout=120)
    assert isinstance(got, str) and "unknown cost pair" in got
