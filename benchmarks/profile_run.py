"""Where does the time of ``wlkit run`` go? Epoch breakdown and an operator profile.

Runs a pipeline exactly as ``wlkit run`` does (``run_pipeline``: one seed, a few epochs)
with a callback that timestamps Lightning's hooks, and prints per epoch: the training
batches (forward incl. ``training_step``, backward, optimizer step and the rest), the gaps
between batches (fetching and collating the next batch, Lightning's loop), validation, and
the rest of the epoch (checkpoints written after validation). With ``--ops`` it then
profiles ``--ops`` training steps of the same model on the same loader with
``torch.profiler`` and prints the operators by self CPU time.

Run::

    .venv/bin/python benchmarks/profile_run.py pipelines/ogbg-molesol_gin.yaml \\
        --set dataset.root=../shared/data/ogb --epochs 3 --ops 8
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def epoch_breakdown(pipeline_path: str, overrides: list[str], epochs: int) -> list[dict]:
    import lightning as L

    from wlkit import hookimpl
    from wlkit.manager import get_host
    from wlkit.pipeline import load_pipeline
    from wlkit.runner import run_pipeline

    events: list[tuple[str, float]] = []

    class Clock(L.Callback):
        def _mark(self, what: str) -> None:
            events.append((what, time.perf_counter()))

        def on_train_epoch_start(self, *_):
            self._mark("epoch_start")

        def on_train_batch_start(self, *_):
            self._mark("batch_start")

        def on_before_backward(self, *_):
            self._mark("backward")

        def on_before_optimizer_step(self, *_):
            self._mark("optimizer")

        def on_train_batch_end(self, *_):
            self._mark("batch_end")

        def on_validation_epoch_start(self, *_):
            self._mark("val_start")

        def on_validation_epoch_end(self, *_):
            self._mark("val_end")

        def on_train_epoch_end(self, *_):
            self._mark("epoch_end")

    class Plugin:
        @hookimpl
        def wlkit_callbacks(self, pipeline):
            return [Clock()]

    get_host().pm.register(Plugin(), name="wlkit-profile-clock")
    pipe = load_pipeline(pipeline_path, [*overrides, f"train.epochs={epochs}", "seeds=1"])
    with tempfile.TemporaryDirectory(prefix="wlkit-profile-") as out:
        run_pipeline(pipe, out=Path(out) / "run", progress=False)
    epochs_out, current = [], None
    for what, t in events:
        if what == "epoch_start":
            current = {"start": t, "forward": [], "backward": [], "optimizer": [],
                       "gaps": [], "validation": 0.0}
            last = t
        elif current is None:
            continue
        elif what == "batch_start":
            current["gaps"].append(t - last)
            marks = {"batch_start": t}
        elif what == "backward":
            marks["backward"] = t
            current["forward"].append(t - marks["batch_start"])
        elif what == "optimizer":
            marks["optimizer"] = t
            current["backward"].append(t - marks["backward"])
        elif what == "batch_end":
            current["optimizer"].append(t - marks.get("optimizer", t))
            last = t
        elif what == "val_start":
            current["val_start"] = t
        elif what == "val_end" and "val_start" in current:
            current["validation"] += t - current["val_start"]
            current["val_end"] = t
        elif what == "epoch_end":
            current["total"] = t - current["start"]
            current["after_validation"] = t - current.get("val_end", t)
            epochs_out.append(current)
            current = None
    return epochs_out


def print_breakdown(epochs: list[dict]) -> None:
    for k, e in enumerate(epochs):
        parts = {name: sum(e[name]) for name in ("forward", "backward", "optimizer", "gaps")}
        parts["validation"] = e["validation"]
        parts["after validation"] = e["after_validation"]
        parts["other"] = e["total"] - sum(parts.values())
        step = [sum(t) for t in zip(e["forward"], e["backward"], e["optimizer"])]
        print(f"epoch {k}: {e['total']:.3f} s, {len(step)} steps (median step "
              f"{1000 * statistics.median(step):.1f} ms)")
        for name, seconds in parts.items():
            print(f"    {name:<17} {seconds:7.3f} s  {100 * seconds / e['total']:5.1f}%")


def op_profile(pipeline_path: str, overrides: list[str], steps: int, rows: int) -> None:
    import torch
    from torch.profiler import ProfilerActivity, profile

    from wlkit.model.build import (
        build_model,
        instantiate_dataset,
        instantiate_encodings,
        instantiate_policy,
    )
    from wlkit.model.data import GraphDataModule, prepare
    from wlkit.model.lightning import GraphPredictionModule, masked_loss
    from wlkit.pipeline import load_pipeline

    cfg = load_pipeline(pipeline_path, overrides).data
    dataset = instantiate_dataset(cfg["dataset"])
    encodings = instantiate_encodings(cfg["encodings"])
    policy = instantiate_policy(cfg)
    prepared = prepare(dataset, encodings, policy=policy)
    torch.manual_seed(0)
    module = GraphPredictionModule(build_model(cfg, dataset, encodings, policy=policy),
                                   prepared.info, dataset.evaluate, cfg["train"])
    opt = module.configure_optimizers()
    opt = opt["optimizer"] if isinstance(opt, dict) else opt
    data = GraphDataModule(dataset, encodings, cfg["train"], 0, prepared, policy)
    batches = list(itertools.islice(data.train_dataloader(), steps + 2))
    def run(part):
        for graph, target, policy_batch in part:
            opt.zero_grad(set_to_none=True)
            masked_loss(module.loss_kind, module(graph, policy_batch), target).backward()
            opt.step()

    module.train()
    run(batches[:2])
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run(batches[2:])
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pipeline")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ops", type=int, default=0, metavar="STEPS",
                        help="also profile this many training steps with torch.profiler")
    parser.add_argument("--rows", type=int, default=30)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    print_breakdown(epoch_breakdown(args.pipeline, args.set, args.epochs))
    if args.ops:
        op_profile(args.pipeline, args.set, args.ops, args.rows)


if __name__ == "__main__":
    main()
