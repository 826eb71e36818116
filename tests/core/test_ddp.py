"""Lightning DDP on CPU: 2 processes over gloo, sharded data, correctly gathered metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import yaml

from wlkit.model.build import build_model, instantiate_dataset, instantiate_encodings
from wlkit.model.data import GraphDataModule, prepare
from wlkit.model.lightning import GraphPredictionModule
from wlkit.pipeline.loader import validate_pipeline

PIPELINE = """\
name: ddp
dataset: {name: csl, relabelings: 5}
encodings: [{name: rwse, steps: 12}]
model: {layer: gin, num_layers: 2, hidden: 16, readout: mean}
train: {epochs: 8, batch_size: 8, lr: 0.01}
seeds: [0]
trainer: {strategy: ddp, devices: 2, accelerator: cpu}
"""


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp")
    (folder / "p.yaml").write_text(PIPELINE)
    env = {**os.environ, "WLKIT_DISABLE_PLUGIN_AUTOLOAD": "1"}
    for key in ("LOCAL_RANK", "NODE_RANK", "RANK", "WORLD_SIZE", "WLKIT_RUN_DIR"):
        env.pop(key, None)
    result = subprocess.run([sys.executable, "-m", "wlkit.cli", "run", str(folder / "p.yaml"),
                             "--out", str(folder / "run"), "--quiet"], capture_output=True,
                            text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stderr
    return folder / "run"


def test_two_processes_train_on_shards(ddp_run):
    rows = (ddp_run / "seed_0" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    steps = [int(r.split(",")[header.index("step")]) for r in rows[1:]]
    # 30 training graphs (CSL with 5 relabelings, 3:1:1) in batches of 8: one process would
    # take 4 steps an epoch; each of 2 ranks sees 15 graphs = 2 steps an epoch.
    assert max(steps) == 8 * 2 - 1


def test_gathered_validation_equals_single_process_evaluation(ddp_run):
    metrics = json.loads((ddp_run / "seed_0" / "metrics.json").read_text())
    assert metrics["best_valid_during_training"] == pytest.approx(metrics["valid"], abs=1e-6)
    # and equal to scoring best.pt here, in this single process
    cfg = validate_pipeline(yaml.safe_load(PIPELINE)).data
    dataset = instantiate_dataset(cfg["dataset"])
    encodings = instantiate_encodings(cfg["encodings"])
    prepared = prepare(dataset, encodings)
    module = GraphPredictionModule(build_model(cfg, dataset, encodings), prepared.info,
                                   dataset.evaluate, cfg["train"])
    module.load_state_dict(torch.load(ddp_run / "seed_0" / "best.pt", weights_only=True))
    data = GraphDataModule(dataset, encodings, cfg["train"], 0, prepared)
    assert module.score_loader(data.full_loader("valid")) == pytest.approx(metrics["valid"])
    summary = json.loads((ddp_run / "summary.json").read_text())
    assert summary["per_seed"][0]["valid"] == metrics["valid"]
