"""Issue 21: every built-in policy trains under ``precision: bf16-mixed`` (CPU autocast) and
with 2 persistent data-loader workers; ``trainer.precision`` is checked with a YAML path;
batches are pinned only for CUDA."""

from __future__ import annotations

import csv
import math

import pytest
from lightning.pytorch.accelerators import CPUAccelerator, CUDAAccelerator

from wlkit.errors import PipelineError
from wlkit.model.data import pin_memory_for
from wlkit.pipeline.loader import validate_pipeline
from wlkit.runner import run_pipeline

POLICIES = {
    "none": None,
    "ego": {"name": "ego", "hops": 1},
    "node_marking": {"name": "node_marking"},
    "pathnn": {"name": "pathnn", "K": 2},
    "ppgn": {"name": "ppgn"},
    "rni": {"name": "rni"},
    "spen": {"name": "spen", "hops": 1},
}


def tiny(policy: dict | None, precision: str = "bf16-mixed", workers: int = 0) -> dict:
    """One epoch of a 2-layer, width-8 model on wl_pairs."""
    return {"name": "tiny_precision", "dataset": "wl_pairs", "policy": policy,
            "model": {"num_layers": 2, "hidden": 8},
            "train": {"epochs": 1, "batch_size": 4, "num_workers": workers},
            "seeds": 1, "trainer": {"accelerator": "cpu", "precision": precision},
            "output": {"save_checkpoint": False}}


def train_losses(run_dir) -> list[float]:
    rows = list(csv.DictReader((run_dir / "seed_0" / "metrics.csv").open()))
    return [float(r["train_loss"]) for r in rows if r.get("train_loss")]


@pytest.mark.parametrize("workers", [0, 2], ids=["main-process", "2-workers"])
@pytest.mark.parametrize("policy", list(POLICIES))
def test_every_policy_trains_in_bf16_mixed(tmp_path, policy, workers):
    pipeline = validate_pipeline(tiny(POLICIES[policy], workers=workers))
    summary = run_pipeline(pipeline, out=tmp_path / "run", progress=False)
    assert not summary["failed_seeds"]
    losses = train_losses(tmp_path / "run")
    assert losses and all(math.isfinite(x) for x in losses)


def test_precision_reaches_the_trainer():
    data = validate_pipeline(tiny(None, precision="bf16")).data
    assert data["trainer"]["precision"] == "bf16-mixed"  # Lightning's legacy alias resolved


@pytest.mark.parametrize("value", ["bf16_mixed", "17", None, [16]])
def test_bad_precision_names_its_yaml_path(value):
    with pytest.raises(PipelineError, match=r"trainer\.precision: must be"):
        validate_pipeline(tiny(None, precision=value))


def test_pin_memory_only_for_cuda():
    assert pin_memory_for(CUDAAccelerator())
    assert not pin_memory_for(CPUAccelerator())
    assert not pin_memory_for(None)
