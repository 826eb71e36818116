"""The optimizer wlkit's LightningModule configures: Adam/AdamW with torch's multi-tensor
(foreach) kernels, which give the same weights as torch's per-tensor CPU loop."""

from __future__ import annotations

import copy

import dgl
import pytest
import torch

from wlkit.model.build import build_model, instantiate_dataset
from wlkit.model.lightning import GraphPredictionModule, masked_loss
from wlkit.pipeline.loader import validate_pipeline

PIPELINE = {"name": "opt", "dataset": {"name": "csl"},
            "model": {"layer": "gin", "num_layers": 2, "hidden": 8, "readout": "sum"},
            "train": {"epochs": 1, "batch_size": 4, "lr": 0.01}}


def module_for(optimizer: str, weight_decay: float = 0.0) -> GraphPredictionModule:
    pipe = validate_pipeline({**PIPELINE, "train": {**PIPELINE["train"], "optimizer": optimizer,
                                                    "weight_decay": weight_decay}}).data
    dataset = instantiate_dataset(pipe["dataset"])
    torch.manual_seed(0)
    model = build_model(pipe, dataset)
    return GraphPredictionModule(model, dataset.info(), dataset.evaluate, pipe["train"])


@pytest.mark.parametrize("name, cls", [("adam", torch.optim.Adam),
                                       ("adamw", torch.optim.AdamW)])
def test_adam_uses_foreach_and_matches_the_per_tensor_loop(name, cls):
    module = module_for(name, weight_decay=0.01)
    opt = module.configure_optimizers()
    assert type(opt) is cls and opt.defaults["foreach"] is True
    dataset = instantiate_dataset({"name": "csl"})
    dataset.prepare_data()
    loaded = dataset.load()
    graph = dgl.batch(loaded.graphs[:6])
    target = loaded.labels[:6]
    twin = copy.deepcopy(module)
    loop = cls(twin.parameters(), lr=0.01, weight_decay=0.01, foreach=False)
    for mod, optimizer in ((module, opt), (twin, loop)):
        torch.manual_seed(1)
        for _ in range(3):
            optimizer.zero_grad()
            masked_loss("cross_entropy", mod(graph), target).backward()
            optimizer.step()
    for a, b in zip(module.parameters(), twin.parameters()):
        assert torch.equal(a, b)


def test_sgd_keeps_torch_defaults():
    opt = module_for("sgd").configure_optimizers()
    assert isinstance(opt, torch.optim.SGD) and opt.defaults["foreach"] is None


def test_step_scheduler_halves_the_rate_every_step_epochs():
    pipe = validate_pipeline({**PIPELINE, "train": {**PIPELINE["train"], "scheduler": "step",
                                                    "step_epochs": 3}}).data
    dataset = instantiate_dataset(pipe["dataset"])
    module = GraphPredictionModule(build_model(pipe, dataset), dataset.info(),
                                   dataset.evaluate, pipe["train"])
    config = module.configure_optimizers()
    sched = config["lr_scheduler"]
    assert isinstance(sched, torch.optim.lr_scheduler.StepLR)
    rates = []
    for _ in range(7):
        rates.append(config["optimizer"].param_groups[0]["lr"])
        config["optimizer"].step()
        sched.step()
    assert rates == pytest.approx([0.01] * 3 + [0.005] * 3 + [0.0025])
