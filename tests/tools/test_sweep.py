"""``wlkit sweep`` on a tiny CSL grid, in subprocesses, with the default SQLite storage."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from wlkit.errors import WlkitError
from wlkit.tools.sweep import load_space, parse_grid, storage_url

pytest.importorskip("optuna")

WLKIT = [sys.executable, "-m", "wlkit.cli"]
ENV = {**os.environ, "WLKIT_DISABLE_PLUGIN_AUTOLOAD": "1", "OMP_NUM_THREADS": "1"}

PIPELINE = """\
name: tiny_csl
dataset: {name: csl, fold: 0, relabelings: 5}
encodings: [{name: rwse, steps: 4}]
model: {layer: gin, aggregator: sum, num_layers: 2, hidden: 8, readout: mean}
train: {epochs: 2, batch_size: 25, lr: 0.01}
seeds: 1
trainer: {accelerator: cpu}
"""


@pytest.fixture
def sweep(monkeypatch, capsys):
    """``wlkit sweep ARGS`` in this process (saves the ~5 s start of a subprocess); returns
    (exit code, stdout, stderr)."""
    from wlkit.cli import main

    monkeypatch.delenv("WLKIT_QUIET", raising=False)  # --quiet sets it; restored after

    def call(*args, cwd):
        monkeypatch.chdir(cwd)
        capsys.readouterr()
        code = main(["sweep", *args])
        out, err = capsys.readouterr()
        return code, out, err

    return call


@pytest.fixture
def pipeline(tmp_path):
    path = tmp_path / "tiny_csl.yaml"
    path.write_text(PIPELINE)
    return path


def test_parse_grid_values_are_yaml_scalars():
    grid = parse_grid(["model.aggregator=sum,lcm", "model.hidden=64,128", "train.lr=1e-3"])
    assert grid == {"model.aggregator": ["sum", "lcm"], "model.hidden": [64, 128],
                    "train.lr": [0.001]}
    for bad, words in ((["model.hidden"], "KEY=V1"), (["model.hidden=1,1"], "twice"),
                       (["a=1", "a=2"], "given twice"), (["model.x=[1,2],3"], "scalars")):
        with pytest.raises(WlkitError, match=words):
            parse_grid(bad)


def test_space_file_checks(tmp_path):
    good = tmp_path / "space.yaml"
    good.write_text("model.hidden: [8, 16]\ntrain.lr: {type: float, low: 1.0e-3, high: 0.1, "
                    "log: true}\n")
    space = load_space(good)
    assert space["model.hidden"] == {"type": "categorical", "choices": [8, 16]}
    assert space["train.lr"]["log"] is True
    bad = tmp_path / "bad.yaml"
    bad.write_text("train.lr: {type: float, low: 0.0, high: 0.1, log: true}\n")
    with pytest.raises(WlkitError, match="log: true needs low > 0"):
        load_space(bad)
    with pytest.raises(WlkitError, match="no such space file"):
        load_space(tmp_path / "missing.yaml")


def test_bare_postgresql_url_uses_psycopg2():
    pytest.importorskip("psycopg2")
    assert storage_url("sqlite:///x.db") == "sqlite:///x.db"
    if __import__("importlib").util.find_spec("psycopg") is None:
        assert storage_url("postgresql://u:p@h:5/db") == "postgresql+psycopg2://u:p@h:5/db"
    assert storage_url("postgresql+psycopg://h/db") == "postgresql+psycopg://h/db"


def test_invalid_grid_value_is_an_error_at_start(tmp_path, pipeline, sweep):
    code, _out, err = sweep(str(pipeline), "--grid", "model.aggregator=sum,bogus", cwd=tmp_path)
    assert code == 2, err
    assert "model.aggregator=bogus makes an invalid pipeline" in err
    assert "--grid model.aggregator=bogus: model.aggregator: unknown aggregator" in err
    assert "Traceback" not in err
    assert not list(tmp_path.glob("sweeps/*/trial_*"))  # nothing ran


def test_grid_sweep_end_to_end(tmp_path, pipeline, sweep):
    code, out, err = sweep(str(pipeline), "--grid", "model.aggregator=sum,mean",
                           "--grid", "model.hidden=8,16", "--quiet", cwd=tmp_path)
    assert code == 0, err
    folder = tmp_path / "sweeps" / "tiny_csl"
    rows = list(csv.DictReader((folder / "sweep.csv").open()))
    assert sorted((r["model.aggregator"], r["model.hidden"]) for r in rows) == [
        ("mean", "16"), ("mean", "8"), ("sum", "16"), ("sum", "8")]
    report = json.loads((folder / "sweep.json").read_text())
    for row in report["trials"]:
        # each trial is an ordinary run whose summary the sweep reports
        summary = json.loads((folder / f"trial_{row['trial']:03d}" / "summary.json").read_text())
        resolved = yaml.safe_load(
            (folder / f"trial_{row['trial']:03d}" / "pipeline.resolved.yaml").read_text())
        assert resolved["model"]["aggregator"]["name"] == row["model.aggregator"]
        assert resolved["model"]["hidden"] == row["model.hidden"]
        assert row["valid_mean"] == pytest.approx(summary["valid_mean"])
        assert row["num_params"] == summary["num_params"] and row["wall_s"] > 0
    best = max(report["trials"], key=lambda r: (r["valid_mean"], -r["trial"]))
    assert report["best"]["trial"] == best["trial"]
    assert f"best: trial {best['trial']}" in out
    best_yaml = yaml.safe_load((folder / "best.yaml").read_text())
    assert best_yaml["model"]["aggregator"]["name"] == best["model.aggregator"]
    assert best_yaml["model"]["hidden"] == best["model.hidden"]
    # the same command again: everything finished, nothing runs again
    code, out, err = sweep(str(pipeline), "--grid", "model.aggregator=sum,mean",
                           "--grid", "model.hidden=8,16", cwd=tmp_path)
    assert code == 0 and "sweep: trial" not in out, err
    # another grid under the same study name is refused
    code, _out, err = sweep(str(pipeline), "--grid", "model.hidden=32", cwd=tmp_path)
    assert code == 2 and "different sweep (grid differ)" in err


def test_killed_sweep_resumes_the_interrupted_trial(tmp_path, pipeline):
    args = [*WLKIT, "sweep", str(pipeline), "--grid", "model.hidden=8,12",
            "--set", "seeds=2", "--set", "train.epochs=12", "--quiet"]
    folder = tmp_path / "sweeps" / "tiny_csl"
    process = subprocess.Popen(args, cwd=tmp_path, env=ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    # kill it once trial 1 has finished its first seed (trial 0 is done by then)
    marker = folder / "trial_001" / "seed_0" / "metrics.json"
    deadline = time.monotonic() + 120
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert marker.exists(), "the sweep ended before trial 1 had a finished seed"
    if (folder / "trial_001" / "summary.json").exists():
        pytest.skip("trial 1 finished before the kill landed (machine too fast)")
    first = (folder / "trial_000" / "summary.json").stat().st_mtime_ns
    result = subprocess.run(args[:-1], capture_output=True, text=True, cwd=tmp_path, env=ENV,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert "trial 1 (model.hidden=12): resuming in" in result.stdout
    assert "seed 0: finished earlier" in result.stdout
    assert "sweep: trial 0 " not in result.stdout  # trial 0 did not run again
    assert (folder / "trial_000" / "summary.json").stat().st_mtime_ns == first
    report = json.loads((folder / "sweep.json").read_text())
    assert sorted(r["trial"] for r in report["trials"]) == [0, 1]
    assert all(r["state"] == "COMPLETE" for r in report["trials"])


def test_random_sweep_with_pruning_reports_each_epoch(tmp_path, pipeline, sweep):
    import optuna

    space = tmp_path / "space.yaml"
    space.write_text("model.hidden: {type: int, low: 4, high: 16}\n")
    code, _out, err = sweep(str(pipeline), "--random", "2", "--space", str(space),
                            "--prune", "median", "--study", "rand", "--quiet", cwd=tmp_path)
    assert code == 0, err
    study = optuna.load_study(study_name="rand",
                              storage=f"sqlite:///{tmp_path / 'sweeps/rand/study.db'}")
    trials = study.get_trials()
    assert len(trials) == 2
    for trial in trials:
        assert 4 <= trial.params["model.hidden"] <= 16
        # the pruning callback reported the validation metric of both epochs
        assert sorted(trial.intermediate_values) == [0, 1]


def test_option_errors_exit_2_with_a_hint(tmp_path, pipeline, sweep):
    for args, words in (([str(pipeline)], "give either --grid"),
                        ([str(pipeline), "--random", "3"], "--random N needs --space"),
                        (["--join", "--study", "none"], "sweeps/none/study.db: no such study"),
                        (["--join", "--study", "s", str(pipeline)], "drop PIPELINE"),
                        ([str(pipeline), "--grid", "model.hidden=8", "--storage", "bogus"],
                         "not an SQLAlchemy URL")):
        code, _out, err = sweep(*args, cwd=tmp_path)
        assert code == 2 and words in err, (args, err)
    assert not (tmp_path / "sweeps" / "none").exists()


POP_LOOP = """\
import os, sys
import optuna
from wlkit.tools import sweep
study = optuna.load_study(study_name="s", storage=sweep.open_storage(sys.argv[1]))
while (trial := sweep._pop_waiting(study)) is not None:
    trial.suggest_int("x", 0, 1000)
    study.tell(trial, float(os.getpid()))
"""


def test_local_sqlite_workers_never_take_one_point_twice(tmp_path):
    # Without BEGIN IMMEDIATE, two processes both read a point as WAITING and both marked it
    # RUNNING (SQLite ignores FOR UPDATE): measured with 4 processes on 60 points.
    import optuna

    from wlkit.tools.sweep import open_storage

    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(storage=open_storage(url), study_name="s")
    for x in range(40):
        study.enqueue_trial({"x": x})
    workers = [subprocess.Popen([sys.executable, "-c", POP_LOOP, url], env=ENV,
                                stderr=subprocess.PIPE, text=True) for _ in range(3)]
    errors = [w.communicate(timeout=120)[1] for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0], errors
    trials = optuna.load_study(study_name="s", storage=open_storage(url)).get_trials()
    assert sorted(t.params["x"] for t in trials) == list(range(40))
    assert all(t.state.name == "COMPLETE" for t in trials)


def test_a_trial_finished_after_the_interrupted_list_is_not_run_again(tmp_path, monkeypatch):
    # CI race: worker B listed trial 0 as RUNNING, worker A then finished it and freed its
    # lock, B took the free lock and resumed it (Optuna: "Trial#0 has already finished").
    import socket

    import optuna

    from wlkit.tools import sweep as sweep_module
    from wlkit.tools.sweep import open_storage

    sweep_dir = tmp_path / "sweep"
    sweep_dir.mkdir()
    study = optuna.create_study(storage=open_storage(f"sqlite:///{tmp_path / 'db'}"),
                                study_name="s")
    trial = study.ask()
    trial.set_user_attr("host", socket.gethostname())
    trial.set_user_attr("sweep_dir", str(sweep_dir.resolve()))
    stale = sweep_module._interrupted(study, sweep_dir)
    assert [t.number for t in stale] == [0]
    study.tell(trial, 1.0)  # the other worker finishes it
    monkeypatch.setattr(sweep_module, "_interrupted", lambda *_: stale)

    def run_trial(*_args, **_kwargs):
        raise AssertionError("a finished trial was run again")

    monkeypatch.setattr(sweep_module, "run_trial", run_trial)
    spec = sweep_module.SweepSpec(pipeline_text="", pipeline_file="",
                                  grid={"model.hidden": [8]})
    assert sweep_module.work(study, spec, sweep_dir, progress=False) == 0
