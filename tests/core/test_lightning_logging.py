"""GraphPredictionModule logs the epoch's mean training loss once per epoch (not per step),
and its cached auxiliary-loss sources give GraphModel.auxiliary_loss()'s value."""

from __future__ import annotations

import csv

import lightning as L
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger

from wlkit.model.build import build_model, instantiate_dataset
from wlkit.model.data import GraphDataModule, prepare
from wlkit.model.lightning import GraphPredictionModule
from wlkit.pipeline.loader import quiet_lightning, validate_pipeline

PIPE = {"name": "t", "dataset": {"name": "csl", "relabelings": 5},
        "model": {"layer": "gin", "num_layers": 2, "hidden": 8, "readout": "mean"},
        "train": {"epochs": 3, "batch_size": 8, "lr": 0.01}}


class Record(L.Callback):
    """Each step's loss and batch size; the train_loss callbacks see at each epoch's end."""

    def __init__(self):
        self.steps, self.seen = [], []

    def on_train_epoch_start(self, trainer, module):
        self.steps.append([])

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.steps[-1].append((float(outputs["loss"]), batch[0].batch_size))

    def on_train_epoch_end(self, trainer, module):
        self.seen.append(float(trainer.callback_metrics["train_loss"]))


def fit(tmp_path, pipe=PIPE, **trainer_args):
    cfg = validate_pipeline(pipe).data
    dataset = instantiate_dataset(cfg["dataset"])
    prepared = prepare(dataset, [])
    torch.manual_seed(0)
    module = GraphPredictionModule(build_model(cfg, dataset), prepared.info, dataset.evaluate,
                                   cfg["train"])
    data = GraphDataModule(dataset, [], cfg["train"], 0, prepared)
    record = Record()
    with quiet_lightning():
        trainer = L.Trainer(max_epochs=cfg["train"]["epochs"], enable_progress_bar=False,
                            enable_model_summary=False, enable_checkpointing=False,
                            logger=CSVLogger(tmp_path, name="", version=""), callbacks=[record],
                            use_distributed_sampler=False, accelerator="cpu",
                            num_sanity_val_steps=0, **trainer_args)
        trainer.fit(module, datamodule=data)
    with open(tmp_path / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("train_loss")]
    return record, rows


@pytest.mark.parametrize("limit", [None, 2])
def test_train_loss_is_the_epoch_mean_and_logged_once_per_epoch(tmp_path, limit):
    record, rows = fit(tmp_path, **({"limit_train_batches": limit} if limit else {}))
    means = [sum(loss * n for loss, n in steps) / sum(n for _, n in steps)
             for steps in record.steps]
    steps_per_epoch = len(record.steps[0])
    assert len(record.steps) == 3 and all(len(s) == steps_per_epoch for s in record.steps)
    assert steps_per_epoch == (limit or steps_per_epoch) and steps_per_epoch > 1
    # what callbacks (the progress bar) read in on_train_epoch_end: this epoch's mean
    assert record.seen == pytest.approx(means, rel=1e-6)
    # metrics.csv: one train_loss row per epoch, at the epoch's last step
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert [float(r["train_loss"]) for r in rows] == pytest.approx(means, rel=1e-6)
    assert [int(r["step"]) for r in rows] == [steps_per_epoch * (e + 1) - 1 for e in range(3)]


def test_cached_auxiliary_loss_equals_the_models():
    pipe = {"name": "t", "dataset": {"name": "set_second_min", "num_train": 64,
                                     "num_valid": 16, "num_test": 16},
            "model": {"layer": "gin", "aggregator": {"name": "lcm", "assoc_weight": 0.1},
                      "num_layers": 2, "hidden": 8, "norm": "none", "readout": "target"},
            "train": {"epochs": 1, "batch_size": 16}}
    cfg = validate_pipeline(pipe).data
    dataset = instantiate_dataset(cfg["dataset"])
    prepared = prepare(dataset, [])
    module = GraphPredictionModule(build_model(cfg, dataset), prepared.info, dataset.evaluate,
                                   cfg["train"])
    graph, _, policy_batch = next(iter(GraphDataModule(dataset, [], cfg["train"], 0, prepared)
                                       .train_dataloader()))
    module.train()
    module(graph, policy_batch)
    expected = module.model.auxiliary_loss()
    assert expected is not None  # LCM's associativity term in training mode
    assert torch.equal(module._auxiliary_loss(), expected)
    # only the LCM aggregators (one per layer) are asked each step, not every submodule
    assert len(module._aux_sources) == 2
