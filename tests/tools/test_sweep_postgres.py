"""Two ``wlkit sweep --join`` worker processes on one study in a real PostgreSQL.

Nothing is mocked: ``.ci/run`` starts a local PostgreSQL and exports its URL as
``WLKIT_TEST_POSTGRES_URL``; without it (a local run) the test skips.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections import Counter

import pytest

from tests.conftest import ROOT

URL = os.environ.get("WLKIT_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not URL, reason="WLKIT_TEST_POSTGRES_URL is not set (.ci/run "
                                                "starts a local PostgreSQL and sets it)")

WLKIT = [sys.executable, "-m", "wlkit.cli"]
ENV = {**os.environ, "WLKIT_DISABLE_PLUGIN_AUTOLOAD": "1", "OMP_NUM_THREADS": "1"}

# A tiny CSL grid: 3 x 2 points, one seed, a few epochs each (~1 s of training a point).
PIPELINE = """\
name: pg_csl
dataset: {name: csl, fold: 0, relabelings: 5}
encodings: [{name: rwse, steps: 4}]
model: {layer: gin, aggregator: sum, num_layers: 2, hidden: 8, readout: mean}
train: {epochs: 8, batch_size: 25, lr: 0.01}
seeds: 1
trainer: {accelerator: cpu}
"""
GRID = {"model.aggregator": ["sum", "mean", "max"], "model.hidden": [8, 16]}


def test_two_join_workers_run_every_grid_point_exactly_once(tmp_path):
    import optuna

    from wlkit.tools.sweep import open_storage

    pipeline = tmp_path / "pg_csl.yaml"
    pipeline.write_text(PIPELINE)
    study = f"pg_{uuid.uuid4().hex[:10]}"
    sweep_dir = tmp_path / "sweep"
    grid = [f"--grid={k}={','.join(map(str, v))}" for k, v in GRID.items()]
    created = subprocess.run([*WLKIT, "sweep", str(pipeline), *grid, "--study", study,
                              "--storage", URL, "--dir", str(sweep_dir), "--workers", "0"],
                             capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=120)
    assert created.returncode == 0, created.stderr
    assert "--join" in created.stdout
    join = [*WLKIT, "sweep", "--join", "--study", study, "--storage", URL,
            "--dir", str(sweep_dir), "--quiet"]
    workers = [subprocess.Popen(join, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=ROOT, env=ENV) for _ in range(2)]
    outputs = [w.communicate(timeout=150) for w in workers]
    for worker, (_out, err) in zip(workers, outputs):
        assert worker.returncode == 0, err

    loaded = optuna.load_study(study_name=study, storage=open_storage(URL))
    trials = loaded.get_trials(deepcopy=False)
    points = [(t.params["model.aggregator"], t.params["model.hidden"]) for t in trials]
    expected = [(a, h) for a in GRID["model.aggregator"] for h in GRID["model.hidden"]]
    # every grid point once, nothing else (no duplicate, no extra trial)
    assert Counter(points) == Counter(expected)
    assert all(t.state.name == "COMPLETE" for t in trials)
    # both processes worked on the study, each trial in its own run directory
    assert len({t.user_attrs["pid"] for t in trials}) == 2
    run_dirs = sorted(p.name for p in sweep_dir.glob("trial_*"))
    assert run_dirs == sorted(f"trial_{t.number:03d}" for t in trials)
    for t in trials:
        summary = json.loads((sweep_dir / f"trial_{t.number:03d}" / "summary.json").read_text())
        assert summary["valid_mean"] == pytest.approx(t.value)
    # the worker that finished last wrote the whole sweep
    report = json.loads((sweep_dir / "sweep.json").read_text())
    assert len(report["trials"]) == 6 and report["storage"].startswith("postgresql")
