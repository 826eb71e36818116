"""``wlkit separate --workers``: the distinct graphs embedded by forked workers give exactly
the T² values of one process (each graph's embedding is the same computation)."""

from __future__ import annotations

import multiprocessing

import pytest

from wlkit.pipeline.loader import validate_pipeline
from wlkit.tools import separate as sep_module
from wlkit.tools.separate import SeparateSettings, run_separate


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(),
                    reason="forked workers need the fork start method")
def test_workers_give_the_same_t2_as_one_process(tmp_path, monkeypatch):
    monkeypatch.setattr(sep_module, "PARALLEL_MIN_NODES", 0)  # CSL is small: fork anyway
    cfg = validate_pipeline({"name": "w", "dataset": "wl_pairs",
                             "policy": {"name": "node_marking", "marked": 1},
                             "model": {"layer": {"name": "gin", "eps": 0.1}, "hidden": 8,
                                       "num_layers": 3}}).data
    results = {}
    for workers in (1, 2):
        results[workers] = run_separate(
            cfg, "csl", out=tmp_path / f"w{workers}", progress=False, say=lambda _t: None,
            settings=SeparateSettings(relabelings=12, output_dim=4, workers=workers,
                                      retest_float64=False))
    assert results[1]["embedding"]["workers"] == 1
    assert results[2]["embedding"] == {**results[2]["embedding"], "workers": 2, "graphs": 10}
    assert ([p["t2"] for p in results[1]["pairs"]] == [p["t2"] for p in results[2]["pairs"]])
    assert [p["separated"] for p in results[2]["pairs"]].count(True) > 0


def test_resolved_workers():
    assert SeparateSettings(workers=3).resolved_workers() == 3
    assert SeparateSettings(workers=0).resolved_workers() == 1
    assert SeparateSettings().resolved_workers() >= 1
