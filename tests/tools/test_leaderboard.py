"""The leaderboard report's numbers against a hand-made run directory."""

from __future__ import annotations

import json
import statistics

import pytest

from tests.core.test_cli import wlkit


def make_run(folder, values, dataset="ogbg-molhiv"):
    per_seed = [{"seed": i, "valid": v + 0.01, "test": v} for i, v in enumerate(values)]
    tests = [r["test"] for r in per_seed]
    valids = [r["valid"] for r in per_seed]
    summary = {
        "name": "hand", "dataset": dataset, "metric": "rocauc", "higher_is_better": True,
        "seeds": list(range(len(values))), "per_seed": per_seed,
        "test_mean": statistics.fmean(tests), "test_std": statistics.stdev(tests),
        "valid_mean": statistics.fmean(valids), "valid_std": statistics.stdev(valids),
        "num_params": 1885506, "command": "wlkit run pipelines/ogbg-molhiv_gin.yaml",
        "versions": {"ogb": "1.3.6", "torch": "2.2.1"},
        "hardware": {"cpu": "Test CPU", "cpu_count": 2, "gpus": []},
    }
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "pipeline.resolved.yaml").write_text("name: hand\nmodel: {hidden: 300}\n")
    return summary


def test_json_report_numbers(tmp_path):
    values = [0.75, 0.77, 0.76, 0.78, 0.74, 0.79, 0.75, 0.77, 0.76, 0.78]
    make_run(tmp_path / "run", values)
    result = wlkit("leaderboard", str(tmp_path / "run"), "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["test_mean"] == pytest.approx(sum(values) / 10)
    assert report["test_std"] == pytest.approx(statistics.stdev(values))  # unbiased
    assert report["num_seeds"] == 10 and report["warnings"] == []
    assert report["num_params"] == 1885506 and report["ogb_version"] == "1.3.6"
    assert report["pipeline"] == "name: hand\nmodel: {hidden: 300}\n"
    assert any("test set" in rule for rule in report["rules"])


def test_markdown_report(tmp_path):
    make_run(tmp_path / "run", [0.7, 0.8, 0.75, 0.72, 0.71, 0.73, 0.74, 0.76, 0.77, 0.78])
    out = wlkit("leaderboard", str(tmp_path / "run")).stdout
    assert "| test | 0.7460 ± 0.0320 |" in out
    assert "| #params | 1,885,506 |" in out and "Test CPU x2" in out
    assert "| 0 | 0.7100 | 0.7000 |" in out
    # the 300-parameter difference to the May 2020 leaderboard rows is explained
    assert "300 fewer parameters" in out and "1,885,206" in out


def test_no_parameter_note_outside_the_molecule_datasets(tmp_path):
    make_run(tmp_path / "run", [0.7, 0.8, 0.75], dataset="ogbg-ppa")
    report = json.loads(wlkit("leaderboard", str(tmp_path / "run"), "--format", "json").stdout)
    assert report["notes"] == []


def test_fewer_than_ten_seeds_warns_loudly_or_refuses(tmp_path):
    make_run(tmp_path / "run", [0.7, 0.8, 0.75])
    loose = wlkit("leaderboard", str(tmp_path / "run"))
    assert loose.returncode == 0 and "WARNING: only 3 seed(s)" in loose.stderr
    assert "**WARNING: only 3 seed(s)" in loose.stdout
    strict = wlkit("leaderboard", str(tmp_path / "run"), "--strict")
    assert strict.returncode == 2 and "Traceback" not in strict.stderr


def test_unfinished_run_is_a_clear_error(tmp_path):
    (tmp_path / "run").mkdir()
    result = wlkit("leaderboard", str(tmp_path / "run"))
    assert result.returncode == 2 and "summary.json" in result.stderr


def test_tuned_grid_comes_from_the_sweep(tmp_path):
    # a run that is a trial of `wlkit sweep` (sweep.json beside it) names the search
    sweep_dir = tmp_path / "sweep"
    sweep_dir.mkdir()
    values = [0.7, 0.8, 0.75, 0.72, 0.71, 0.73, 0.74, 0.76, 0.77, 0.78]
    make_run(sweep_dir / "trial_001", values)
    rows = [{"trial": n, "state": "COMPLETE", "model.hidden": h,
             "run_dir": f"/elsewhere/trial_{n:03d}"} for n, h in ((0, 64), (1, 128))]
    (sweep_dir / "sweep.json").write_text(json.dumps({
        "study": "s", "grid": {"model.hidden": [64, 128]}, "points": 2, "space": {},
        "objective": "mean validation rocauc over the seeds", "trials": rows,
        "best": rows[1]}))
    report = json.loads(wlkit("leaderboard", str(sweep_dir / "trial_001"),
                              "--format", "json").stdout)
    assert report["tuned_grid"].startswith("model.hidden in {64, 128} (grid of 2 points")
    assert "trial 1 (model.hidden=128), the best of 2 finished" in report["tuned_grid"]
    # a run outside a sweep still says none recorded
    make_run(tmp_path / "plain", values)
    assert "| tuned grid | none recorded |" in wlkit("leaderboard", str(tmp_path / "plain")).stdout
