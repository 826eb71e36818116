"""Scaling: training-step time against batch size and against graph size.

For four pipelines (GIN ``ogbg-molesol_gin.yaml``, the 2-hop ego-net policy
``ogbg-molesol_gin_ego.yaml``, SPEN ``ogbg-molesol_spen.yaml`` and PathNN
``ogbg-molbace_pathnn.yaml``, each at its own width), one training step (forward, loss,
backward, the optimizer wlkit configures) on batches of random molecule-like graphs
(degree <= 4, OGB atom and bond features): batch sizes 8 -> 128 graphs of 25 nodes, and graph
sizes 25 -> 400 nodes in batches of 8 graphs. The policy's ``prepare`` and ``collate`` run
before the timings. All sizes of one axis are timed alternately (rotating order per round);
``per_doubling`` is the step-time ratio between consecutive sizes, and ``mean_per_doubling``
their geometric mean (x2: linear, x4: quadratic).

Run: ``.venv/bin/python benchmarks/scaling.py [--quick] [--models gin ego spen pathnn]``;
writes ``benchmarks/results/scaling.json``.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common
from benchmarks.gin_models import (
    ROOT,
    molesol_dataset,
    pipeline_dict,
    random_molecules,
    wlkit_optimizer,
)

MODELS = {
    "gin": "ogbg-molesol_gin.yaml",
    "ego": "ogbg-molesol_gin_ego.yaml",
    "spen": "ogbg-molesol_spen.yaml",
    "pathnn": "ogbg-molbace_pathnn.yaml",
}


def step_function(pipe: dict, dataset, graphs: list):
    """One training step of ``pipe``'s model on ``graphs`` (prepared and collated now)."""
    import dgl
    import torch

    from wlkit.model.build import build_model, instantiate_policy
    from wlkit.model.lightning import masked_loss

    policy = instantiate_policy(pipe)
    batch = (policy.collate(graphs, [policy.prepare(g) if policy.has_prepare else {}
                                     for g in graphs]) if policy is not None else None)
    graph = dgl.batch(graphs)
    target = torch.randn(len(graphs), 1, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = build_model(pipe, dataset, policy=policy)
    optimizer = wlkit_optimizer(model, pipe, dataset)

    def step():
        optimizer.zero_grad(set_to_none=True)
        masked_loss("mse", model(graph, batch), target).backward()
        optimizer.step()

    return step


def main(argv: list[str] | None = None) -> Path:
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--max-nodes", type=int, default=None,
                        help="largest graph size (default 400, 200 with --quick)")
    args = parser.parse_args(argv)
    if args.repeats is None:  # the largest sizes are slow: fewer rounds than the others
        args.repeats = 2 if args.tiny else 3
    args = common.finish_args(args)
    if argv is None:  # command line: restart once with OMP_NUM_THREADS set
        common.reexec_with_env(args.threads)
    common.set_threads(args.threads)
    if args.tiny:
        batch_sizes, node_counts, fixed_batch, fixed_nodes = [2, 4], [6, 12], 2, 6
    else:
        top = args.max_nodes or (200 if args.quick else 400)
        batch_sizes = [8, 16, 32, 64] if args.quick else [8, 16, 32, 64, 128]
        node_counts = [n for n in (25, 50, 100, 200, 400, 800) if n <= top]
        fixed_batch, fixed_nodes = 8, 25
    common.header(f"scaling: batch sizes {batch_sizes} ({fixed_nodes} nodes), graph sizes "
                  f"{node_counts} (batches of {fixed_batch})", args)
    dataset = molesol_dataset()
    rows = []
    for name in args.models:
        overrides = ("model.hidden=16", "model.num_layers=2") if args.tiny else ()
        pipe = pipeline_dict(None, None, ROOT / "pipelines" / MODELS[name], overrides)
        for axis, sizes in (("batch size", batch_sizes), ("graph size", node_counts)):
            sides = {}
            for size in sizes:
                count, nodes = (size, fixed_nodes) if axis == "batch size" else (fixed_batch, size)
                graphs = random_molecules(count, mean_nodes=nodes, seed=size, exact=True)
                sides[f"{size}"] = step_function(pipe, dataset, graphs)
            row = common.compare(f"{name}: step time vs {axis}", sides, args, ratio_of=(),
                                 params={"pipeline": MODELS[name], "axis": axis,
                                         "sizes": sizes, "hidden": pipe["model"]["hidden"],
                                         "fixed": {"nodes": fixed_nodes} if axis == "batch size"
                                         else {"batch_size": fixed_batch}})
            medians = [row["sides"][f"{s}"]["median_ms"] for s in sizes]
            row["per_doubling"] = [(b / a) ** (1 / math.log2(sb / sa))
                                   for a, b, sa, sb in zip(medians, medians[1:], sizes,
                                                           sizes[1:])]
            row["mean_per_doubling"] = math.exp(sum(map(math.log, row["per_doubling"]))
                                                / len(row["per_doubling"]))
            rows.append(row)
            print(common.rows_table([row]) + "\n    per doubling: "
                  + " ".join(f"x{r:.2f}" for r in row["per_doubling"])
                  + f" (mean x{row['mean_per_doubling']:.2f})", flush=True)
    path = common.write_result(
        "scaling", __doc__.splitlines()[0], args, rows,
        settings={"batch_sizes": batch_sizes, "node_counts": node_counts,
                  "fixed_batch": fixed_batch, "fixed_nodes": fixed_nodes},
        notes=["sides are the sizes; per_doubling = (t(next)/t(size))^(1/log2(next/size))"])
    print(f"results: {path}")
    return path


if __name__ == "__main__":
    main()
