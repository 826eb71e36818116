"""Experiment trackers (``output.loggers``), the opt-in train metric and ``curves.png``: a
tiny run with each logger writes its store; a missing tracker package is a validation error."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest

from tests.conftest import TINY_PIPELINE
from wlkit.errors import PipelineError
from wlkit.pipeline.loader import validate_pipeline
from wlkit.pipeline.yamlio import safe_load
from wlkit.runner import run_pipeline

BASE = safe_load(TINY_PIPELINE)


def _run(tmp_path: Path, output: dict | None = None, train: dict | None = None,
         seeds: int = 1, **extra) -> Path:
    data = {**BASE, "seeds": seeds, "output": output or {},
            "train": {**BASE["train"], **(train or {})}, **extra}
    run_dir = tmp_path / "run"
    run_pipeline(validate_pipeline(data), out=run_dir, progress=False)
    return run_dir


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_default_is_csv_only_and_curves_png_is_written(tmp_path):
    pipeline = validate_pipeline({**BASE})
    assert pipeline.data["output"]["loggers"] == ["csv"]
    assert pipeline.data["train"]["log_train_metric"] is False
    run_dir = _run(tmp_path)
    assert (run_dir / "seed_0" / "metrics.csv").is_file()
    assert not (run_dir / "seed_0" / "tensorboard").exists()
    assert not (run_dir / "mlruns").exists()
    png = (run_dir / "curves.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    assert "train_metric" not in _rows(run_dir / "seed_0" / "metrics.csv")[0]


def test_tensorboard_writes_event_files_under_the_seed(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = _run(tmp_path, {"loggers": ["csv", "tensorboard"]})
    board = run_dir / "seed_0" / "tensorboard"
    events = list(board.glob("events.out.tfevents.*"))
    assert events
    accumulator = EventAccumulator(str(board))
    accumulator.Reload()
    scalars = accumulator.Tags()["scalars"]
    assert {"train_loss", "valid_metric"} <= set(scalars)
    assert len(accumulator.Scalars("valid_metric")) == BASE["train"]["epochs"]
    assert (run_dir / "seed_0" / "metrics.csv").is_file()  # csv stays on


def test_mlflow_writes_a_file_store_in_the_run_directory(tmp_path):
    pytest.importorskip("mlflow")
    run_dir = _run(tmp_path, {"loggers": ["mlflow"]}, seeds=2)
    store = run_dir / "mlruns"
    runs = [p.parent for p in store.glob("*/*/meta.yaml")]
    assert len(runs) == 2  # one MLflow run per seed
    for run in runs:
        assert (run / "metrics" / "valid_metric").is_file()
        assert (run / "params" / "model.hidden").read_text() == "8"
    # mlflow was asked for, not csv: the CSV log is written all the same (wlkit reads it)
    assert (run_dir / "seed_1" / "metrics.csv").is_file()


def test_mlflow_uri_moves_the_store(tmp_path):
    pytest.importorskip("mlflow")
    elsewhere = tmp_path / "tracking"
    run_dir = _run(tmp_path, {"loggers": ["mlflow"], "mlflow_uri": elsewhere.as_uri()})
    assert list(elsewhere.glob("*/*/metrics/valid_metric"))
    assert not (run_dir / "mlruns").exists()


@pytest.mark.parametrize("name,module", [("tensorboard", "tensorboard"), ("mlflow", "mlflow")])
def test_a_missing_tracker_is_a_validation_error_with_the_pip_command(monkeypatch, name,
                                                                       module):
    real = importlib.util.find_spec

    def find_spec(target, *args, **kwargs):
        return None if target == module else real(target, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(PipelineError) as info:
        validate_pipeline({**BASE, "output": {"loggers": ["csv", name]}})
    message = str(info.value)
    assert "output.loggers[1]" in message or "output.loggers.1" in message
    assert f"needs the {module!r} package" in message and "pip install wlkit[tracking]" in message


def test_unknown_or_repeated_loggers_are_named():
    with pytest.raises(PipelineError, match="did you mean 'tensorboard'"):
        validate_pipeline({**BASE, "output": {"loggers": ["tensorbord"]}})
    with pytest.raises(PipelineError, match="listed twice"):
        validate_pipeline({**BASE, "output": {"loggers": ["csv", "csv"]}})


def test_missing_tracker_exits_2_from_the_cli(tmp_path, monkeypatch, capsys):
    from wlkit.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda t, *a, **k: None if t == "mlflow" else real(t, *a, **k))
    path = tmp_path / "p.yaml"
    path.write_text(TINY_PIPELINE + "output: {loggers: [csv, mlflow]}\n")
    assert main(["run", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "pip install wlkit[tracking]" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()  # refused before anything was written


@pytest.mark.parametrize("policy", [None, "rni"])  # RNI draws noise in eval mode too
def test_train_metric_is_logged_per_epoch_and_leaves_training_unchanged(tmp_path, policy):
    extra = {"policy": policy} if policy else {}
    plain = _rows(_run(tmp_path / "a", **extra) / "seed_0" / "metrics.csv")
    logged = _rows(_run(tmp_path / "b", train={"log_train_metric": True}, **extra)
                   / "seed_0" / "metrics.csv")
    train_metric = [float(r["train_metric"]) for r in logged if r.get("train_metric")]
    assert len(train_metric) == BASE["train"]["epochs"]
    assert all(0.0 <= v <= 1.0 for v in train_metric)  # accuracy on the training graphs
    # the extra pass runs under a forked RNG in eval mode: the fit itself is unchanged
    assert ([r["train_loss"] for r in plain if r["train_loss"]]
            == [r["train_loss"] for r in logged if r["train_loss"]])
    assert ([r["valid_metric"] for r in plain if r["valid_metric"]]
            == [r["valid_metric"] for r in logged if r["valid_metric"]])
