"""Kill a real run with SIGKILL and resume it: the summary equals an uninterrupted run's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PIPELINE = """\
name: resumable
dataset: {name: csl, relabelings: 5}
encodings: [{name: rwse, steps: 8}]
model: {layer: gin, num_layers: 2, hidden: 16, dropout: 0.3, readout: mean}
train: {epochs: 12, batch_size: 10, lr: 0.01}
seeds: [0, 1]
"""

ENV = {**os.environ, "WLKIT_DISABLE_PLUGIN_AUTOLOAD": "1"}


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "wlkit.cli", "run", *args, "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


def kill_when(proc: subprocess.Popen, ready, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"run ended before it could be killed: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("run never reached the kill point")
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def per_seed(run_dir: Path) -> list[dict]:
    return json.loads((run_dir / "summary.json").read_text())["per_seed"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reference")
    (folder / "p.yaml").write_text(PIPELINE)
    proc = start(str(folder / "p.yaml"), "--out", str(folder / "run"))
    assert proc.wait() == 0, proc.stderr.read()
    return folder / "run"


def test_kill_mid_seed_then_resume(reference, tmp_path):
    (tmp_path / "p.yaml").write_text(PIPELINE)
    run_dir = tmp_path / "run"
    proc = start(str(tmp_path / "p.yaml"), "--out", str(run_dir))
    kill_when(proc, lambda: (run_dir / "seed_0" / "last.ckpt").exists()
              and (run_dir / "seed_0" / "metrics.csv").exists())
    assert not (run_dir / "summary.json").exists()
    resumed = start(str(run_dir / "pipeline.resolved.yaml"), "--resume", str(run_dir))
    assert resumed.wait() == 0, resumed.stderr.read()
    assert per_seed(run_dir) == per_seed(reference)
    assert not list(run_dir.rglob("last.ckpt")), "finished seeds keep no resume checkpoint"


def test_kill_in_second_seed_skips_the_finished_one(reference, tmp_path):
    (tmp_path / "p.yaml").write_text(PIPELINE)
    run_dir = tmp_path / "run"
    proc = start(str(tmp_path / "p.yaml"), "--out", str(run_dir))
    kill_when(proc, lambda: (run_dir / "seed_1" / "last.ckpt").exists())
    finished = (run_dir / "seed_0" / "metrics.json").read_bytes()
    resumed = subprocess.run([sys.executable, "-m", "wlkit.cli", "run", str(tmp_path / "p.yaml"),
                              "--resume", str(run_dir)], capture_output=True, text=True,
                             env=ENV, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "seed 0: finished earlier" in resumed.stdout
    assert (run_dir / "seed_0" / "metrics.json").read_bytes() == finished
    assert per_seed(run_dir) == per_seed(reference)


def test_resume_refuses_a_different_pipeline(reference, tmp_path):
    (tmp_path / "other.yaml").write_text(PIPELINE.replace("hidden: 16", "hidden: 32"))
    result = subprocess.run([sys.executable, "-m", "wlkit.cli", "run",
                             str(tmp_path / "other.yaml"), "--resume", str(reference)],
                            capture_output=True, text=True, env=ENV, timeout=300)
    assert result.returncode == 2 and "differs" in result.stderr and "model" in result.stderr


def test_resume_of_a_non_run_directory(tmp_path):
    (tmp_path / "p.yaml").write_text(PIPELINE)
    result = subprocess.run([sys.executable, "-m", "wlkit.cli", "run", str(tmp_path / "p.yaml"),
                             "--resume", str(tmp_path)], capture_output=True, text=True,
                            env=ENV, timeout=300)
    assert result.returncode == 2 and "not a wlkit run directory" in result.stderr
