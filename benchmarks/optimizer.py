"""Adam on CPU: torch's per-tensor loop (its CPU default in torch 2.2) against
``foreach=True`` (multi-tensor kernels) for the GIN of ``pipelines/ogbg-molesol_gin.yaml``.

``fused=True`` is CUDA-only in torch 2.2 (checked and reported). Two rows: the optimizer
step alone (gradients fixed) and the whole training step; plus whether the two give
bit-identical weights after the same training steps and whether foreach is
deterministic run to run. wlkit keeps torch's default unless foreach is measured faster.

Run: ``.venv/bin/python benchmarks/optimizer.py [--quick] [--threads 1]``; writes
``benchmarks/results/optimizer.json``.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from benchmarks import common
from benchmarks.gin_models import make_batches, molecule_graphs, same_gin, wlkit_epoch


def fused_available() -> bool:
    p = torch.nn.Parameter(torch.zeros(2))
    try:
        torch.optim.Adam([p], fused=True)
        return True
    except (RuntimeError, ValueError):
        return False


KINDS = {"per_tensor": False, "foreach": True}


def compare_adam(model, lr: float, batches: list, steps: int, args, params: dict) -> list[dict]:
    def fresh():
        models = {k: copy.deepcopy(model) for k in KINDS}
        return models, {k: torch.optim.Adam(models[k].parameters(), lr=lr, foreach=v)
                        for k, v in KINDS.items()}

    models, opts = fresh()
    for m in models.values():
        gen = torch.Generator().manual_seed(0)
        for p in m.parameters():
            p.grad = torch.randn(p.shape, generator=gen)
    params = {**params, "tensors": len(list(model.parameters())),
              "parameters": sum(p.numel() for p in model.parameters())}
    width = params["hidden"]
    rows = [common.compare(f"width {width}: optimizer step alone",
                           {k: (lambda k=k: [opts[k].step() for _ in range(steps)])
                            for k in KINDS},
                           args, ratio_of=("foreach", "per_tensor"), goal="<= 1.0",
                           params=params, per_call=steps)]
    models, opts = fresh()
    rows.append(common.compare(
        f"width {width}: training step (forward, backward, Adam)",
        {k: (lambda k=k: wlkit_epoch(models[k], opts[k], batches)) for k in KINDS}, args,
        ratio_of=("foreach", "per_tensor"), goal="<= 1.0", params=params,
        per_call=len(batches)))
    print(common.rows_table(rows), flush=True)
    return rows


def same_results(model, lr: float, batches: list) -> dict:
    """Weights after the same steps: foreach twice, and per-tensor."""
    def trained(foreach: bool) -> torch.Tensor:
        torch.manual_seed(0)
        m = copy.deepcopy(model)
        wlkit_epoch(m, torch.optim.Adam(m.parameters(), lr=lr, foreach=foreach), batches)
        return torch.cat([p.detach().reshape(-1) for p in m.parameters()])

    a, b, c = trained(True), trained(True), trained(False)
    return {"foreach_deterministic": bool(torch.equal(a, b)),
            "foreach_equals_per_tensor": bool(torch.equal(a, c)),
            "max_weight_difference": float((a - c).abs().max())}


def main(argv: list[str] | None = None) -> Path:
    parser = common.base_parser(__doc__.splitlines()[0])
    args = common.finish_args(parser.parse_args(argv))
    if argv is None:
        common.reexec_with_env(args.threads)
    common.set_threads(args.threads)
    steps = 2 if args.tiny else 4 if args.quick else 8
    batch_size = 4 if args.tiny else 32
    graphs, source = molecule_graphs(steps * batch_size, tiny=args.tiny)
    batches = make_batches(graphs, batch_size)
    common.header(f"Adam per-tensor vs foreach ({source}, batch {batch_size})", args)
    rows, checks = [], {"fused_available_on_cpu": fused_available()}
    for hidden, layers in ([(16, 2)] if args.tiny else [(300, 5), (64, 5)]):
        pipe, dataset, model, _ = same_gin(hidden, layers, frameworks=())
        rows += compare_adam(model, pipe["train"]["lr"], batches, steps, args,
                             {"hidden": hidden, "layers": layers, "batch_size": batch_size})
        checks[f"width_{hidden}"] = same_results(model, pipe["train"]["lr"], batches)
    print(f"  {checks}", flush=True)
    path = common.write_result("optimizer", __doc__.splitlines()[0], args, rows,
                               settings={"data": source, "steps_per_call": steps},
                               notes=["ratio < 1: foreach is faster"], checks=checks)
    print(f"results: {path}")
    return path


if __name__ == "__main__":
    main()
