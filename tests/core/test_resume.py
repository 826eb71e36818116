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
# Stops early (at epoch 2 for both seeds) under a ReduceLROnPlateau schedule.
STOPPING = PIPELINE.replace("lr: 0.01}", "lr: 0.01, patience: 2, scheduler: plateau}")

ENV = {**os.environ, "WLKIT_DISABLE_PLUGIN_AUTOLOAD": "1"}

# `wlkit run` with a passive callback that records, at every training epoch's end, a hash of
# the weights, learning-rate schedule and torch's global RNG (TRACE file) and, with KILL_AT
# "seed_<k>:<epoch>", SIGKILLs the process right after that epoch's checkpoint: when the next
# epoch starts, or as training ends after the last one ("seed_<k>:end": after whichever epoch
# was the last). A kill at a chosen epoch, independent of load.
TRACED_RUN = """
import hashlib, json, os, signal, sys
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import torch

from wlkit import hookimpl, registered_plugin
from wlkit.cli import main

TRACE, KILL_AT = os.environ["TRACE"], os.environ.get("KILL_AT", "")


class Trace(L.Callback):
    def on_train_epoch_end(self, trainer, module):
        weights = hashlib.sha256()
        for name, value in sorted(module.state_dict().items()):
            weights.update(name.encode() + value.detach().cpu().contiguous().numpy().tobytes())
        for config in trainer.lr_scheduler_configs:
            weights.update(repr(sorted(config.scheduler.state_dict().items())).encode())
        rng = hashlib.sha256(torch.get_rng_state().numpy().tobytes()).hexdigest()
        with open(TRACE, "a") as f:
            f.write(json.dumps([Path(trainer.default_root_dir).name, trainer.current_epoch,
                                weights.hexdigest(), rng]) + "\\n")

    def _kill_if(self, trainer, *points):
        seed = Path(trainer.default_root_dir).name
        if KILL_AT in [f"{seed}:{point}" for point in points]:
            os.kill(os.getpid(), signal.SIGKILL)

    def on_train_epoch_start(self, trainer, module):
        self._kill_if(trainer, trainer.current_epoch - 1)

    def on_train_end(self, trainer, module):
        self._kill_if(trainer, trainer.current_epoch - 1, "end")


plugin = SimpleNamespace(wlkit_callbacks=hookimpl(lambda pipeline: [Trace()]))
with registered_plugin(plugin, "trace"):
    sys.exit(main(sys.argv[1:]))
"""


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


def traced_run(trace: Path, *args: str, kill_at: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", TRACED_RUN, "run", *args, "--quiet"],
                          capture_output=True, text=True, timeout=600,
                          env={**ENV, "TRACE": str(trace), "KILL_AT": kill_at})


def read_trace(path: Path) -> dict[tuple[str, int], tuple[str, str]]:
    """(seed dir, epoch) -> (weights hash, RNG hash) at the end of that training epoch."""
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return {(seed, epoch): (weights, rng) for seed, epoch, weights, rng in rows}


def per_seed(run_dir: Path) -> list[dict]:
    return json.loads((run_dir / "summary.json").read_text())["per_seed"]


def traced_reference(folder: Path, pipeline: str) -> Path:
    """An uninterrupted run, traced (the trace callback draws no random numbers)."""
    (folder / "p.yaml").write_text(pipeline)
    done = traced_run(folder / "trace.jsonl", str(folder / "p.yaml"), "--out",
                      str(folder / "run"))
    assert done.returncode == 0, done.stderr
    return folder / "run"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return traced_reference(tmp_path_factory.mktemp("reference"), PIPELINE)


@pytest.fixture(scope="module")
def stopping_reference(tmp_path_factory):
    return traced_reference(tmp_path_factory.mktemp("stopping"), STOPPING)


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


def kill_and_resume_bit_identically(reference: Path, tmp_path: Path, pipeline: str,
                                    kill_at: str) -> None:
    """SIGKILL right after a given epoch's checkpoint (not when a poll happens to look), then
    resume: every later epoch ends with the reference's weights, schedule and RNG state, so
    this cannot pass by the luck of a coarse metric."""
    (tmp_path / "p.yaml").write_text(pipeline)
    run_dir = tmp_path / "run"
    killed = traced_run(tmp_path / "killed.jsonl", str(tmp_path / "p.yaml"), "--out",
                        str(run_dir), kill_at=kill_at)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    seed, epoch = kill_at.split(":")
    assert (run_dir / seed / "last.ckpt").exists() and not (run_dir / "summary.json").exists()
    resumed = traced_run(tmp_path / "resumed.jsonl", str(run_dir / "pipeline.resolved.yaml"),
                         "--resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stderr
    expected = read_trace(reference.parent / "trace.jsonl")
    before, after = read_trace(tmp_path / "killed.jsonl"), read_trace(tmp_path / "resumed.jsonl")
    if epoch != "end":
        assert max(e for s, e in before if s == seed) == int(epoch)
    assert {key: value for key, value in after.items() if expected.get(key) != value} == {}
    assert len(before) + len(after) == len(expected)  # every epoch ran once
    assert per_seed(run_dir) == per_seed(reference)
    for name in ("seed_0", "seed_1"):
        ours, theirs = (json.loads((d / name / "metrics.json").read_text())
                        for d in (run_dir, reference))
        for key in ("valid", "test", "best_epoch", "best_valid_during_training", "epochs_run"):
            assert ours[key] == theirs[key], (name, key)


@pytest.mark.parametrize("kill_at", ["seed_0:3", "seed_1:0", "seed_1:11"])
def test_kill_after_a_chosen_epoch_resumes_bit_identically(reference, tmp_path, kill_at):
    """seed_1:11 dies after the last epoch, before the seed's final scoring. (Resuming used to
    shift torch's global RNG: Lightning created extra DataLoader iterators, and re-ran the
    validation of a checkpoint saved in on_validation_end.)"""
    kill_and_resume_bit_identically(reference, tmp_path, PIPELINE, kill_at)


@pytest.mark.parametrize("kill_at", ["seed_0:0", "seed_0:end"])
def test_resume_keeps_plateau_steps_and_early_stops(stopping_reference, tmp_path, kill_at):
    """seed_0:0: the epoch's ReduceLROnPlateau step (which Lightning takes after the
    checkpoint) is not lost; seed_0:end: killed after the epoch EarlyStopping stopped at, the
    resumed seed does not train on."""
    kill_and_resume_bit_identically(stopping_reference, tmp_path, STOPPING, kill_at)


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
