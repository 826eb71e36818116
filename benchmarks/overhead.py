"""Framework overhead: a training step of wlkit's GIN pipeline model against the same GIN
written directly in DGL (``dgl.nn.GINEConv``), same widths, same molecule batches, same
initial weights. Goal: wlkit / DGL <= 1.05.

A last row measures what ``wlkit run`` adds around the model: the epoch loop of Lightning's
``Trainer`` with wlkit's ``GraphPredictionModule`` (``training_step`` with its loss check, the
auxiliary-loss hook and the epoch's loss sum, logged once per epoch; hooks, the optimizer
closure, the CSV logger) against a plain ``for`` loop doing the same steps over the same
``GraphDataModule`` loader (timed from the first to the last batch of the epoch; the
Trainer's one-off set-up is left out).

Run: ``.venv/bin/python benchmarks/overhead.py [--quick] [--threads 1]``; writes
``benchmarks/results/overhead.json``. See ``benchmarks/gin_models.py`` for the models.
"""

from __future__ import annotations

import itertools
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common
from benchmarks.gin_models import (
    RandomMoleculeDataset,
    benchmark_dataset,
    framework_benchmark,
    pipeline_dict,
    wlkit_model,
)


def lightning_rows(args) -> list[dict]:
    """Lightning's training loop against a plain loop: same module, loader and steps.

    The plain loop does only what any hand-written loop must (zero_grad, forward, loss,
    backward, step); what wlkit adds per step (the NaN check, the auxiliary-loss hook, the
    loss sum for the epoch's ``train_loss``) counts as overhead."""
    import lightning as L
    from lightning.pytorch.loggers import CSVLogger

    from wlkit.model.data import GraphDataModule, prepare
    from wlkit.model.lightning import GraphPredictionModule, masked_loss
    from wlkit.pipeline.loader import quiet_lightning

    dataset, source = ((RandomMoleculeDataset(count=40), "random molecules (tiny)")
                       if args.tiny else benchmark_dataset())
    hidden, layers = (16, 2) if args.tiny else (300, 5)
    steps = 2 if args.tiny else 8 if args.quick else 16
    sets = ("train.batch_size=4",) if args.tiny else ()
    pipe = pipeline_dict(hidden, layers, overrides=sets)
    prepared = prepare(dataset, [])
    module = GraphPredictionModule(wlkit_model(pipe, dataset), prepared.info, dataset.evaluate,
                                   pipe["train"])
    data = GraphDataModule(dataset, [], pipe["train"], 0, prepared)
    logs = Path(tempfile.mkdtemp(prefix="wlkit-bench-logs-"))

    class EpochClock(L.Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            self.start = time.perf_counter()

        def on_train_epoch_end(self, trainer, pl_module):
            self.seconds = time.perf_counter() - self.start

    def lightning() -> float:
        clock = EpochClock()
        with quiet_lightning():
            trainer = L.Trainer(max_epochs=1, limit_train_batches=steps, limit_val_batches=0,
                                num_sanity_val_steps=0, enable_checkpointing=False,
                                enable_progress_bar=False, enable_model_summary=False,
                                log_every_n_steps=10, logger=CSVLogger(logs, name="", version=""),
                                callbacks=[clock], use_distributed_sampler=False,
                                accelerator="cpu", devices=1)
            trainer.fit(module, datamodule=data)
        return clock.seconds

    def plain() -> float:
        start = time.perf_counter()
        optimizer = module.configure_optimizers()  # a fresh one, as each fit makes
        optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer
        module.train()
        for graph, target, policy_batch in itertools.islice(data.train_dataloader(), steps):
            optimizer.zero_grad(set_to_none=True)
            masked_loss("mse", module(graph, policy_batch), target).backward()
            optimizer.step()
        return time.perf_counter() - start

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(does not have many workers|"
                                "log_every_n_steps|exists and is not empty).*")
        row = common.compare(f"width {hidden}: Lightning epoch loop vs a plain loop",
                             {"lightning": lightning, "plain": plain}, args,
                             goal="<= 1.05", per_call=steps,
                             params={"hidden": hidden, "layers": layers, "data": source,
                                     "batch_size": pipe["train"]["batch_size"],
                                     "steps_per_call": steps})
    shutil.rmtree(logs, ignore_errors=True)
    print(common.rows_table([row]), flush=True)
    return [row]


def main(argv: list[str] | None = None) -> Path:
    return framework_benchmark("overhead", "dgl", "wlkit GIN step vs the same GIN in plain DGL",
                               "<= 1.05", argv, extra_rows=lightning_rows)


if __name__ == "__main__":
    main()
