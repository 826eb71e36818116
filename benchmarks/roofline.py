"""Roofline: how close a GIN training step is to the machine's GEMM limit.

The step of wlkit's GIN pipeline model (``pipelines/ogbg-molesol_gin.yaml``: width 300,
5 GINE layers, MLP 300 -> 600 -> 300) is timed against its dense matrix multiplications
alone: for every batch and every ``nn.Linear`` of the model, the forward product
``X W^T`` and the two backward products ``dY W`` and ``dY^T X`` at the same shapes, with
``torch.matmul`` on preallocated tensors. The fraction ``matmul time / step time`` says how
much of the step is GEMM work; the rest is gathers, scatters, embeddings, BatchNorm,
elementwise ops, the optimizer and Python. Goal: >= 0.85 at width 300. The same GIN written
directly in DGL runs alongside as the reference (what DGL itself reaches).

Run: ``.venv/bin/python benchmarks/roofline.py [--quick] [--threads 1]``; writes
``benchmarks/results/roofline.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from torch import nn

from benchmarks import common
from benchmarks.gin_models import (
    make_batches,
    molecule_graphs,
    plain_epoch,
    same_gin,
    wlkit_epoch,
    wlkit_optimizer,
)


def gemm_shapes(model: nn.Module, batches: list) -> list[tuple[int, int, int]]:
    """(rows, in, out) of every node-level and graph-level Linear, per batch."""
    shapes = []
    for graph, _ in batches:
        for name, module in model.named_modules():
            if isinstance(module, nn.Linear):
                rows = graph.batch_size if name.startswith("head") else graph.num_nodes()
                shapes.append((rows, module.in_features, module.out_features))
    return shapes


def matmul_step(shapes: list[tuple[int, int, int]]):
    """The forward and backward products of every Linear, on preallocated operands."""
    gen = torch.Generator().manual_seed(0)
    operands = []
    for rows, fan_in, fan_out in shapes:
        x = torch.randn(rows, fan_in, generator=gen)
        w = torch.randn(fan_out, fan_in, generator=gen)
        dy = torch.randn(rows, fan_out, generator=gen)
        operands.append((x, w.t(), w, dy, dy.t()))

    def step():
        for x, wt, w, dy, dyt in operands:
            torch.matmul(x, wt)    # forward  [rows, in] @ [in, out]
            torch.matmul(dy, w)    # grad of the input  [rows, out] @ [out, in]
            torch.matmul(dyt, x)   # grad of the weight [out, rows] @ [rows, in]

    return step


def fwd_bwd(model: nn.Module, batches: list, loss) -> None:
    for x, target in batches:
        model.zero_grad(set_to_none=True)
        loss(model(x), target).backward()


def main(argv: list[str] | None = None) -> Path:
    import torch.nn.functional as F

    from wlkit.model.lightning import masked_loss

    parser = common.base_parser(__doc__.splitlines()[0])
    args = common.finish_args(parser.parse_args(argv))
    if argv is None:  # command line: restart once with OMP_NUM_THREADS set
        common.reexec_with_env(args.threads)
    common.set_threads(args.threads)
    steps = 2 if args.tiny else 4 if args.quick else 8
    batch_size = 4 if args.tiny else 32
    hidden, layers = (16, 2) if args.tiny else (300, 5)
    graphs, source = molecule_graphs(steps * batch_size, tiny=args.tiny)
    batches = make_batches(graphs, batch_size)
    common.header(f"GIN step vs its matmuls alone, width {hidden} ({source}, batch "
                  f"{batch_size}, {steps} steps per call)", args)
    pipe, dataset, model, others = same_gin(hidden, layers, frameworks=("dgl",))
    dgl_model = others["dgl"]
    shapes = gemm_shapes(model, batches)
    matmuls = matmul_step(shapes)
    flops = sum(2 * 3 * r * i * o for r, i, o in shapes) / len(batches)
    optimizer = wlkit_optimizer(model, pipe, dataset)
    dgl_opt = torch.optim.Adam(dgl_model.parameters(), lr=pipe["train"]["lr"])
    params = {"hidden": hidden, "layers": layers, "batch_size": batch_size,
              "steps_per_call": len(batches), "gemms_per_step": 3 * len(shapes) // len(batches),
              "gemm_gflop_per_step": flops / 1e9}
    rows = []
    for label, sides in (
        ("full step (forward, backward, optimizer)", {
            "matmuls": matmuls,
            "wlkit": lambda: wlkit_epoch(model, optimizer, batches),
            "dgl": lambda: plain_epoch(dgl_model, dgl_opt, batches)}),
        ("forward + backward", {
            "matmuls": matmuls,
            "wlkit": lambda: fwd_bwd(model, batches, lambda p, t: masked_loss("mse", p, t)),
            "dgl": lambda: fwd_bwd(dgl_model, batches, F.mse_loss)}),
    ):
        row = common.compare(label, sides, args, ratio_of=("matmuls", "wlkit"), goal=">= 0.85",
                             params=params, per_call=len(batches))
        row["dgl_fraction"] = (row["sides"]["matmuls"]["median_ms"]
                               / row["sides"]["dgl"]["median_ms"])
        row["matmul_gflops"] = flops / 1e6 / row["sides"]["matmuls"]["median_ms"]
        rows.append(row)
        print(common.rows_table([row]) + f"  (DGL: {row['dgl_fraction']:.3f}; matmuls at "
              f"{row['matmul_gflops']:.1f} GFLOP/s)", flush=True)
    path = common.write_result(
        "roofline", __doc__.splitlines()[0], args, rows,
        settings={"data": source, "batch_size": batch_size, "steps_per_call": steps},
        notes=["ratio = fraction of the step that its dense matmuls alone take "
               "(matmuls / wlkit); dgl_fraction: the same for the plain-DGL GIN"])
    print(f"results: {path}")
    return path


if __name__ == "__main__":
    main()
