"""The command line end to end, in subprocesses, as users run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT, TINY_PIPELINE

WLKIT = [sys.executable, "-m", "wlkit.cli"]


def wlkit(*args: str, cwd: Path | None = None, env: dict | None = None):
    full_env = {**os.environ, "WLKIT_DISABLE_PLUGIN_AUTOLOAD": "1", **(env or {})}
    return subprocess.run([*WLKIT, *args], capture_output=True, text=True, cwd=cwd or ROOT,
                          env=full_env, timeout=600)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    pipeline = folder / "tiny.yaml"
    pipeline.write_text(TINY_PIPELINE)
    result = wlkit("run", str(pipeline), "--out", str(folder / "run"))
    assert result.returncode == 0, result.stderr
    return folder / "run", result


def test_run_writes_the_run_directory(tiny_run):
    run_dir, result = tiny_run
    for name in ("pipeline.resolved.yaml", "plugins.json", "summary.json",
                 "seed_0/metrics.json", "seed_1/metrics.json", "seed_0/best.pt",
                 "seed_0/metrics.csv"):
        assert (run_dir / name).is_file(), name
    summary = json.loads((run_dir / "summary.json").read_text())
    for key in ("metric", "higher_is_better", "seeds", "test_mean", "test_std", "valid_mean",
                "valid_std", "num_params", "per_seed"):
        assert key in summary
    assert summary["metric"] == "accuracy" and summary["seeds"] == [0, 1]
    tests = [s["test"] for s in summary["per_seed"]]
    assert summary["test_mean"] == pytest.approx(sum(tests) / 2)
    assert summary["test_std"] == pytest.approx(torch.tensor(tests).std(unbiased=True).item())
    seed0 = json.loads((run_dir / "seed_0/metrics.json").read_text())
    assert seed0["test"] == summary["per_seed"][0]["test"]
    assert "test accuracy" in result.stdout
    assert not list(run_dir.rglob("*.tmp")), "temporary files left behind"


def test_best_weights_load_with_weights_only(tiny_run):
    state = torch.load(tiny_run[0] / "seed_0/best.pt", weights_only=True)
    assert any(k.startswith("model.body.stack.layers.0") for k in state)


def test_plugins_json_lists_versions(tiny_run):
    rows = json.loads((tiny_run[0] / "plugins.json").read_text())
    assert {"family": "aggregator", "name": "sum"}.items() <= rows[0].items() or any(
        r["family"] == "aggregator" and r["name"] == "sum" for r in rows)
    assert all(r["version"] for r in rows)


def test_resolved_pipeline_runs_again_as_it_is(tiny_run, tmp_path):
    resolved = tiny_run[0] / "pipeline.resolved.yaml"
    again = wlkit("run", str(resolved), "--out", str(tmp_path / "again"), "--quiet")
    assert again.returncode == 0, again.stderr
    first = json.loads((tiny_run[0] / "summary.json").read_text())
    second = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert first["per_seed"] == second["per_seed"]  # same seeds, deterministic CPU


def test_run_refuses_to_write_over_results(tiny_run):
    run_dir, _ = tiny_run
    before = (run_dir / "summary.json").read_bytes()
    result = wlkit("run", str(run_dir / "pipeline.resolved.yaml"), "--out", str(run_dir))
    assert result.returncode == 2 and "not empty" in result.stderr
    assert "Traceback" not in result.stderr
    assert (run_dir / "summary.json").read_bytes() == before


def test_default_run_directory(tmp_path):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(TINY_PIPELINE.replace("seeds: 2", "seeds: 1").replace(
        "epochs: 2", "epochs: 1"))
    result = wlkit("run", str(pipeline), "--quiet", "--set", f"output.dir={tmp_path / 'runs'}")
    assert result.returncode == 0, result.stderr
    (stamp,) = (tmp_path / "runs" / "tiny").iterdir()
    assert (stamp / "summary.json").is_file()
    # --quiet silences progress, not results: the summary and its path still print
    assert "test accuracy" in result.stdout and f"results: {stamp}" in result.stdout
    assert "seed 0:" not in result.stdout and "epoch" not in result.stderr


def test_a_run_that_fails_before_any_result_leaves_no_folder(tmp_path):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(TINY_PIPELINE.replace("dataset: wl_pairs",
                                              f"dataset: {{name: exp, root: {tmp_path / 'no'}}}"))
    result = wlkit("run", str(pipeline), "--set", f"output.dir={tmp_path / 'runs'}")
    assert result.returncode == 2 and "GRAPHSAT.txt not found" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()
    out = tmp_path / "given"
    result = wlkit("run", str(pipeline), "--out", str(out))
    assert result.returncode == 2 and not out.exists()


SEPARATE_PIPELINE = """\
name: sep
dataset: wl_pairs
model: {layer: gin, aggregator: sum, num_layers: 2, hidden: 8, readout: sum}
"""


def test_separate_in_a_log_writes_lines_not_carriage_returns(tmp_path):
    pipeline = tmp_path / "sep.yaml"
    pipeline.write_text(SEPARATE_PIPELINE)
    # WLKIT_QUIET=0: a quiet setting of the environment running the tests must not hide the bar
    result = wlkit("separate", str(pipeline), "--suite", "classic", "--relabelings", "12",
                   "--output-dim", "4", "--out", str(tmp_path / "a"), env={"WLKIT_QUIET": "0"})
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stdout + result.stderr
    bar = [line for line in result.stderr.splitlines() if line.startswith("separate classic:")]
    assert bar and bar[-1].startswith("separate classic: 4/4 pair (100%)")
    assert len(result.stderr.splitlines()) <= 25  # a line per few percent, not per update
    assert "total" in result.stdout and "results:" in result.stdout


def test_quiet_separate_prints_the_table_and_nothing_else(tmp_path):
    pipeline = tmp_path / "sep.yaml"
    pipeline.write_text(SEPARATE_PIPELINE)
    result = wlkit("separate", str(pipeline), "--suite", "classic", "--relabelings", "12",
                   "--output-dim", "4", "--out", str(tmp_path / "q"), "--quiet")
    assert result.returncode == 0, result.stderr
    assert "pairs separated" in result.stdout and "total" in result.stdout
    assert f"results: {tmp_path / 'q' / 'separation.json'}" in result.stdout
    assert "wlkit separate:" not in result.stdout and "separate classic:" not in result.stderr


def test_quiet_is_documented_as_keeping_results():
    for command in ("run", "separate", "analyze"):
        text = " ".join(wlkit(command, "--help").stdout.split())
        assert "--quiet" in text and "the final summary, table and the paths of the results " \
            "still print" in text, command


def test_validate_prints_num_params_without_loading(write_pipeline):
    path = write_pipeline(TINY_PIPELINE)
    result = wlkit("validate", str(path), "--set", "model.hidden=16")
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    assert int(lines["num_params"]) > 0
    assert "hidden: 16" in result.stdout


def test_validate_names_the_policy_when_it_builds_its_own_layers(write_pipeline):
    plain = wlkit("validate", str(write_pipeline(TINY_PIPELINE)))
    assert "model: 2 x gin" in plain.stdout or " x gin (aggregator" in plain.stdout
    path = write_pipeline(TINY_PIPELINE + "policy: {name: pathnn, paths: sp_plus, K: 2}\n")
    result = wlkit("validate", str(path))
    assert result.returncode == 0, result.stderr
    assert "layers built by policy pathnn (model.layer and model.aggregator unused)" in (
        result.stdout)


def test_validate_num_params_matches_the_trained_model(tiny_run):
    run_dir, _ = tiny_run
    result = wlkit("validate", str(run_dir / "pipeline.resolved.yaml"))
    reported = int(result.stdout.split("num_params: ")[1].split()[0])
    assert reported == json.loads((run_dir / "summary.json").read_text())["num_params"]


@pytest.mark.parametrize("text,needle", [
    ("name: x\ndataset: csl\nmodel: {aggregator: summ}\n", ":3: model.aggregator: unknown"),
    ("name: x\ndataset: csl\nmodel: {layer: gin\n", "not valid YAML"),
    ("name: x\ndataset: nope\n", ":2: dataset: unknown dataset 'nope'"),
])
def test_bad_pipeline_exits_2_without_traceback(write_pipeline, text, needle):
    path = write_pipeline(text)
    for command in ("run", "validate"):
        result = wlkit(command, str(path))
        assert result.returncode == 2
        assert needle in result.stderr and "Traceback" not in result.stderr
        assert result.stderr.startswith("error: ")


def test_missing_pipeline_file_exits_2(tmp_path):
    result = wlkit("run", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2 and "no such pipeline file" in result.stderr


def test_plugins_json_schema():
    result = wlkit("plugins", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    families = {r["family"] for r in rows}
    assert {"aggregator", "readout", "layer", "positional_encoding", "dataset"} <= families
    for row in rows:
        assert {"family", "name", "source", "version", "summary", "params"} <= row.keys()
        assert row["source"] == "wlkit"
    rwse = next(r for r in rows if r["name"] == "rwse")
    assert rwse["params"][0]["name"] == "steps" and rwse["params"][0]["default"] == 16


def test_plugins_table():
    result = wlkit("plugins")
    assert result.returncode == 0
    for heading in ("aggregators", "readouts", "layers", "positional encodings", "datasets",
                    "subgraph policies"):
        assert heading in result.stdout
    assert "gin" in result.stdout and "wlkit 0.1.0" in result.stdout


def test_a_closed_pipe_ends_quietly():
    """`wlkit validate p.yaml | head -0`: no traceback, the shell's SIGPIPE status."""
    env = {**os.environ, "WLKIT_DISABLE_PLUGIN_AUTOLOAD": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "wlkit.cli", "validate",
                             str(ROOT / "pipelines" / "quickstart.yaml")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait() == 141 and "Traceback" not in err, err


@pytest.mark.parametrize("before", [None, "0", "1"])
def test_quiet_environment_lasts_for_the_command_only(monkeypatch, before):
    from wlkit.cli.options import quiet_environment

    if before is None:
        monkeypatch.delenv("WLKIT_QUIET", raising=False)
    else:
        monkeypatch.setenv("WLKIT_QUIET", before)
    with quiet_environment(True):
        assert os.environ["WLKIT_QUIET"] == "1"
    assert os.environ.get("WLKIT_QUIET") == before
    with pytest.raises(RuntimeError), quiet_environment(True):
        raise RuntimeError("a failing command restores it too")
    assert os.environ.get("WLKIT_QUIET") == before
