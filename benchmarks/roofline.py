"""Roofline: how close a GIN training step is to the machine's GEMM limit.

The step of wlkit's GIN pipeline model (``pipelines/ogbg-molesol_gin.yaml``: width 300,
5 GINE layers, MLP 300 -> 600 -> 300) is timed against its dense matrix multiplications
alone: for every batch and every ``nn.Linear`` of the model, the forward product
``X W^T`` and the two backward products ``dY W`` and ``dY^T X`` at the same shapes, with
``torch.matmul`` on preallocated tensors. The fraction ``matmul time / step time`` says how
much of the step is GEMM work; the rest is gathers, scatters, embeddings, BatchNorm,
elementwise ops, the optimizer and Python. Goal: >= 0.85 at width 300. The same GIN written
directly in DGL runs alongside as the reference (what DGL itself reaches).

``--profile`` adds where the rest goes: one ``torch.profiler`` pass over the wlkit step and
one over the matmuls alone, the step's self CPU time grouped by kind of operator (GEMM,
optimizer, gathers and scatters, ReLU, BatchNorm, dropout, elementwise, DGL kernels, copies,
autograd bookkeeping, Python outside any operator), and the GEMM time inside the step
against the standalone matmuls (is the matmul side a fair yardstick?). ``--batch-size``
and ``--hidden`` vary the shapes; ``--threads 2`` gives both sides two threads.

Run: ``.venv/bin/python benchmarks/roofline.py [--quick] [--threads 1] [--profile]``; writes
``benchmarks/results/roofline.json``.
"""

from __future__ import annotations

import sys
import time
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


KINDS = (  # (kind, operator names); first match wins, optimizer ops are found by ancestry
    ("GEMM (mm, addmm)", {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"}),
    ("gathers, scatters, embeddings", {
        "aten::index_select", "aten::index_add_", "aten::scatter_add_", "aten::gather",
        "aten::embedding", "aten::embedding_dense_backward", "aten::index", "aten::index_put_",
        "aten::_index_put_impl_", "aten::repeat_interleave", "aten::embedding_bag",
        "aten::_embedding_bag", "aten::_embedding_bag_backward", "aten::index_select_backward",
        "aten::scatter_add", "aten::nonzero"}),
    ("ReLU forward/backward", {"aten::relu", "aten::relu_", "aten::clamp_min",
                               "aten::clamp_min_", "aten::threshold_backward"}),
    ("BatchNorm forward/backward", {"aten::native_batch_norm",
                                    "aten::native_batch_norm_backward"}),
    ("dropout masks", {"aten::bernoulli_"}),
    ("elementwise add/mul/div/sum", {
        "aten::add", "aten::add_", "aten::mul", "aten::mul_", "aten::div", "aten::div_",
        "aten::sub", "aten::sub_", "aten::sum", "aten::mean", "aten::mse_loss",
        "aten::mse_loss_backward", "aten::isnan", "aten::any", "aten::ne", "aten::neg",
        "aten::addcmul_", "aten::lerp_", "aten::sqrt", "aten::addcdiv_", "aten::rsub"}),
    ("copies, fills, allocations", {
        "aten::copy_", "aten::fill_", "aten::zero_", "aten::empty", "aten::zeros",
        "aten::zeros_like", "aten::empty_like", "aten::clone", "aten::_to_copy",
        "aten::contiguous", "aten::new_zeros", "aten::empty_strided", "aten::resize_",
        "aten::ones_like", "aten::full"}),
)


def _kind(event) -> str:
    parent = event
    while parent is not None:
        if parent.name.startswith("Optimizer."):
            return "optimizer (Adam, zero_grad)"
        parent = parent.cpu_parent
    for kind, names in KINDS:
        if event.name in names:
            return kind
    if event.name.startswith(("autograd::", "torch::autograd::")) or event.name.endswith(
            "Backward0"):
        return "autograd bookkeeping"
    if not event.name.startswith("aten::"):
        return "DGL kernels and other autograd Functions"
    return "other aten operators (views, shapes, ...)"


def profile_breakdown(step, calls: int, steps_per_call: int) -> dict:
    """Self CPU time of one profiled run of ``calls`` calls, grouped by :func:`_kind`, in ms
    per training step; ``outside operators`` is the wall time no operator accounts for
    (Python, DGL's Python side). The profiler slows every operator call a little."""
    from torch.profiler import ProfilerActivity, profile

    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(calls):
            step()
        wall = time.perf_counter() - start
    per_step = 1.0 / (calls * steps_per_call)
    kinds: dict[str, float] = {}
    ops: dict[str, float] = {}
    for event in prof.events():
        if event.name.startswith(("Optimizer.", "ProfilerStep")):
            kinds["optimizer (Adam, zero_grad)"] = kinds.get(
                "optimizer (Adam, zero_grad)", 0.0) + event.self_cpu_time_total / 1000.0
            continue
        kind = _kind(event)
        kinds[kind] = kinds.get(kind, 0.0) + event.self_cpu_time_total / 1000.0
        ops[event.name] = ops.get(event.name, 0.0) + event.self_cpu_time_total / 1000.0
    total_ms = wall * 1000.0
    kinds = {k: v * per_step for k, v in kinds.items()}
    kinds["outside operators (Python, DGL's Python side)"] = max(
        0.0, total_ms * per_step - sum(kinds.values()))
    top = sorted(ops.items(), key=lambda kv: -kv[1])[:15]
    return {"profiled_step_ms": total_ms * per_step,
            "kinds_ms": dict(sorted(kinds.items(), key=lambda kv: -kv[1])),
            "top_ops_ms": {k: v * per_step for k, v in top}}


def print_breakdown(name: str, result: dict) -> None:
    step = result["profiled_step_ms"]
    print(f"  {name}: {step:.1f} ms per step under the profiler")
    for kind, ms in result["kinds_ms"].items():
        print(f"    {kind:48s} {ms:7.2f} ms  {ms / step:6.1%}")


def main(argv: list[str] | None = None) -> Path:
    import torch.nn.functional as F

    from wlkit.model.lightning import masked_loss

    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=None,
                        help="molecules per batch (default 32, 4 with --tiny)")
    parser.add_argument("--hidden", type=int, default=None,
                        help="width of the GIN (default 300, 16 with --tiny)")
    parser.add_argument("--profile", action="store_true",
                        help="also profile the step and the matmuls (kinds of operators)")
    args = common.finish_args(parser.parse_args(argv))
    if argv is None:  # command line: restart once with OMP_NUM_THREADS set
        common.reexec_with_env(args.threads)
    common.set_threads(args.threads)
    steps = 2 if args.tiny else 4 if args.quick else 8
    batch_size = args.batch_size or (4 if args.tiny else 32)
    hidden, layers = (16, 2) if args.tiny else (300, 5)
    hidden = args.hidden or hidden
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
    extra = {}
    if args.profile:
        print("where the step's time goes (torch.profiler, self CPU time per step):")
        wlkit_prof = profile_breakdown(lambda: wlkit_epoch(model, optimizer, batches), 2,
                                       len(batches))
        gemm_prof = profile_breakdown(matmuls, 2, len(batches))
        print_breakdown("wlkit step", wlkit_prof)
        in_step = wlkit_prof["kinds_ms"].get("GEMM (mm, addmm)", 0.0)
        alone = gemm_prof["kinds_ms"].get("GEMM (mm, addmm)", 0.0)
        print(f"  GEMMs inside the step {in_step:.2f} ms, the same products alone "
              f"{alone:.2f} ms (ratio {in_step / alone:.3f})")
        extra["breakdown"] = {"wlkit_step": wlkit_prof, "matmuls_alone": gemm_prof,
                              "gemm_in_step_over_alone": in_step / alone}
    path = common.write_result(
        "roofline", __doc__.splitlines()[0], args, rows,
        settings={"data": source, "batch_size": batch_size, "steps_per_call": steps,
                  "hidden": hidden},
        notes=["ratio = fraction of the step that its dense matmuls alone take "
               "(matmuls / wlkit); dgl_fraction: the same for the plain-DGL GIN",
               "breakdown (with --profile): self CPU time per step by kind of operator"],
        **extra)
    print(f"results: {path}")
    return path


if __name__ == "__main__":
    main()
