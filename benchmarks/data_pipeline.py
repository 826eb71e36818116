"""Data pipeline: can loading keep up with training, and do the caches pay off?

1. Loader vs model. Graphs per second through ``GraphDataModule.train_dataloader()`` (the
   loader ``wlkit run`` uses: ``GraphSubset`` items, ``Collate`` with ``dgl.batch``, positional
   encodings and the policy's ``collate``, the configured ``num_workers``) against the
   model's training-step throughput on the same batches (forward, loss, backward, the
   optimizer wlkit configures). ratio = step time / loading time per batch; goal >= 3 (loading
   is never the bottleneck). Two pipelines: ``ogbg-molesol_gin.yaml`` with an RWSE encoding
   (16 steps) and ``ogbg-molesol_gin_ego.yaml`` (2-hop ego-nets with root marks).
2. Caches. Positional encodings and the policy's ``prepare`` over the whole dataset: first run
   into an empty cache folder (compute and write) against the second run (read and verify
   the checksum). ratio = first / second; goal >= 10.

Run: ``.venv/bin/python benchmarks/data_pipeline.py [--quick] [--threads 1]``; writes
``benchmarks/results/data_pipeline.json``.
"""

from __future__ import annotations

import itertools
import shutil
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common
from benchmarks.gin_models import (
    ROOT,
    RandomMoleculeDataset,
    benchmark_dataset,
    pipeline_dict,
    wlkit_optimizer,
)

PIPELINES = {
    "gin+rwse": (ROOT / "pipelines" / "ogbg-molesol_gin.yaml",
                 ("encodings=[{name: rwse, steps: 16}]",)),
    "gin_ego": (ROOT / "pipelines" / "ogbg-molesol_gin_ego.yaml", ()),
}


def main(argv: list[str] | None = None) -> Path:
    import torch

    from wlkit.model.build import build_model, instantiate_encodings, instantiate_policy
    from wlkit.model.data import GraphDataModule, attach_encodings, prepare, prepare_policy
    from wlkit.model.lightning import masked_loss

    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=None,
                        help="override train.num_workers (default: the pipeline's)")
    args = common.finish_args(parser.parse_args(argv))
    if argv is None:  # command line: restart once with OMP_NUM_THREADS set
        common.reexec_with_env(args.threads)
    common.set_threads(args.threads)
    dataset, source = (RandomMoleculeDataset(count=40), "random molecules (tiny)") if args.tiny \
        else benchmark_dataset()
    hidden = 16 if args.tiny else 300
    steps = 2 if args.tiny else 4 if args.quick else 8
    common.header(f"data pipeline ({source}, width {hidden}, {steps} batches per call)", args)
    rows = []
    scratch = Path(tempfile.mkdtemp(prefix="wlkit-bench-cache-"))
    try:
        for label, (path, overrides) in PIPELINES.items():
            sets = list(overrides)
            if args.workers is not None:
                sets.append(f"train.num_workers={args.workers}")
            if args.tiny:
                sets.append("train.batch_size=4")
            pipe = pipeline_dict(hidden, 2 if args.tiny else 5, path, tuple(sets))
            encodings = instantiate_encodings(pipe["encodings"])
            policy = instantiate_policy(pipe)
            policy_name = pipe["policy"]["name"] if policy else "policy"
            prepared = prepare(dataset, encodings, cache_dir=scratch / "warm", policy=policy,
                               policy_name=policy_name)
            graphs = prepared.loaded.graphs

            # 1. loader vs model step
            module = GraphDataModule(dataset, encodings, pipe["train"], 0, prepared, policy)
            loader = module.train_dataloader()
            batches = list(itertools.islice(iter(loader), steps))
            torch.manual_seed(0)
            model = build_model(pipe, dataset, encodings, policy=policy)
            optimizer = wlkit_optimizer(model, pipe, dataset)

            def load(loader=loader):
                for _ in itertools.islice(iter(loader), steps):
                    pass

            def train(model=model, optimizer=optimizer, batches=batches):
                for graph, target, policy_batch in batches:
                    optimizer.zero_grad(set_to_none=True)
                    masked_loss("mse", model(graph, policy_batch), target).backward()
                    optimizer.step()

            batch_size = pipe["train"]["batch_size"]
            row = common.compare(
                f"{label}: loader vs training step", {"step": train, "loader": load}, args,
                ratio_of=("step", "loader"), goal=">= 3", per_call=steps,
                params={"pipeline": path.name, "overrides": sets, "batch_size": batch_size,
                        "num_workers": pipe["train"]["num_workers"], "hidden": hidden})
            for side in ("step", "loader"):
                row["sides"][side]["graphs_per_s"] = (
                    1000 * batch_size / row["sides"][side]["median_ms"])
            rows.append(row)
            speed = {side: row["sides"][side]["graphs_per_s"] for side in ("loader", "step")}
            print(common.rows_table([row]) + f"  (loader {speed['loader']:.0f} graphs/s, "
                  f"step {speed['step']:.0f} graphs/s)", flush=True)

            # 2. preprocessing caches: first run into an empty folder vs the second run
            def preprocess(folder, graphs=graphs, encodings=encodings, policy=policy,
                           policy_name=policy_name):
                attach_encodings(graphs, encodings, folder)
                prepare_policy(graphs, policy, policy_name, folder)

            times = {"first": [], "second": []}
            for rep in range(args.repeats):
                folder = scratch / f"{label}-{rep}"
                times["first"].append(common.timed(lambda f=folder: preprocess(f)))
                times["second"].append(common.timed(lambda f=folder: preprocess(f)))
                shutil.rmtree(folder, ignore_errors=True)
            row = {"case": f"{label}: preprocessing, first vs second run",
                   "params": {"pipeline": path.name, "graphs": len(graphs),
                              "what": [type(e).__name__ for e in encodings]
                              + ([policy_name] if policy is not None else [])},
                   "sides": {side: {"median_ms": 1000 * sorted(v)[len(v) // 2], "times_s": v,
                                    "peak_mib": None} for side, v in times.items()},
                   "ratio_of": ["first", "second"], "goal": ">= 10"}
            row["ratio"] = (row["sides"]["first"]["median_ms"]
                            / row["sides"]["second"]["median_ms"])
            row["meets_goal"] = common.meets(row["ratio"], row["goal"])
            rows.append(row)
            print(common.rows_table([row]), flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    out = common.write_result(
        "data_pipeline", __doc__.splitlines()[0], args, rows,
        settings={"data": source, "hidden": hidden, "batches_per_call": steps},
        notes=["loader rows: per-batch medians; graphs_per_s = batch_size / median",
               "cache rows: first run into an empty cache folder (compute + write) against "
               "the second (read + checksum); not alternated, the first must come first"])
    print(f"results: {out}")
    return out


if __name__ == "__main__":
    main()
