"""GPU check (issue 21): every shipped pipeline trains on the GPU, the GPU computes what the
CPU computes, and wlkit's GIN step is timed against PyG's, in one prepared script.

Run on a machine with CUDA and DGL's CUDA wheel::

    .venv/bin/python benchmarks/gpu_check.py                  # every pipelines/*.yaml
    .venv/bin/python benchmarks/gpu_check.py --pipelines ogbg-molesol_gin,zinc_gin --steps 50
    .venv/bin/python -m benchmarks gpu_check
    .venv/bin/python benchmarks/gpu_check.py --device cpu --steps 2 --tiny   # dry run, no GPU

For each pipeline: the dataset is loaded from the shared data folder (``--data``, default
``$WLKIT_SHARED_DATA`` or ``../shared/data``; its ``ogb/``, ``lrgb/``, ``tu/``, ``wl/`` and
``zinc/`` become the datasets' ``$WLKIT_*_ROOT`` / ``$WLKIT_WL_DATA`` unless those are set,
and ``$WLKIT_OFFLINE`` is set so nothing is downloaded). A pipeline whose data is not there
is reported as ``skipped: <reason>``. Only as many graphs as ``--steps`` batches need are
prepared (encodings, policy), then Lightning trains the pipeline's model for ``--steps``
optimizer steps with ``accelerator`` = the device (the pipeline's precision and gradient
clipping kept); seconds/step is the median time between ``on_train_batch_start`` and
``on_train_batch_end`` (device synchronised), the first step (CUDA start-up) excluded.
Then the trained model, in eval mode, runs one validation batch on the device and a CPU
copy of it (same weights, buffers and batch) runs the same batch; the verdict is ``ok``
when ``max |gpu - cpu| / max(|cpu|, atol / rtol) <= rtol`` (see :data:`RTOL`).

A last row times a GIN training step (``pipelines/ogbg-molesol_gin.yaml``'s model) of wlkit
against the same GIN in PyTorch Geometric on the device (the builders of
``benchmarks/gin_models.py``, as ``pyg_gin.py``); without ``torch_geometric`` that row says
``PyG not installed`` and only wlkit's step is timed.

Prints one table (pipeline | steps ok | seconds/step | max rel diff vs CPU | verdict) and
writes ``benchmarks/results/gpu_check.json`` (``--out``) in the benchmarks' format, every
table line under ``checks``. Exit status 1 when any line is ``FAIL``. Without a CUDA device
(and without ``--device cpu``) it prints a line with ``no CUDA device`` and exits 0 (with
``--out``, as the benchmark runner passes it, a result without rows is written).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import statistics
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any

os.environ.setdefault("DGLBACKEND", "pytorch")  # DGL's start-up notice otherwise

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common

NAME = "gpu_check"
TITLE = "GPU check: every pipeline trains on the device and matches the CPU"
PIPELINES = common.ROOT / "pipelines"
# float32 tolerance of the device-vs-CPU forward pass. The two sides do not add in the same
# order: DGL's CUDA scatter/segment kernels accumulate with atomicAdd (the order of a node's
# incoming messages varies from run to run), cuBLAS and cuDNN (PathNN's LSTM) block their
# reductions differently from MKL/oneDNN, and CUDA's transcendental functions are not those
# of the CPU. Each such sum is off by a few float32 ulps (~1e-7 relative) and 5-6 layers with
# BatchNorm amplify that to ~1e-6-1e-5; 1e-4 leaves a margin of ten while a wrong kernel, a
# tensor left on the wrong device or a dropped term is off by far more. TF32 is switched off
# for the comparison (with it on, matmuls keep a 10-bit mantissa: ~1e-3).
RTOL = 1e-4
ATOL = 1e-4
# Where the shared data folder's parts go: the variable each dataset plugin reads.
DATA_VARS = {"WLKIT_OGB_ROOT": "ogb", "WLKIT_LRGB_ROOT": "lrgb", "WLKIT_TU_ROOT": "tu",
             "WLKIT_WL_DATA": "wl", "WLKIT_ZINC_ROOT": "zinc"}
HEADERS = ["pipeline", "steps ok", "seconds/step", "max rel diff vs CPU", "verdict"]


def default_data() -> Path:
    """The shared data folder, as benchmarks/gin_models.py and the tests find it."""
    return Path(os.environ.get("WLKIT_SHARED_DATA", common.ROOT.parent / "shared" / "data"))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                        help="the side under test (default cuda); cpu is a dry run of the same "
                             "code path on a machine without a GPU (its 'GPU' side is the CPU)")
    parser.add_argument("--pipelines", default=None,
                        help="comma-separated pipeline names (file stems in pipelines/) or "
                             "paths; default every pipelines/*.yaml")
    parser.add_argument("--steps", type=int, default=None,
                        help="training steps per pipeline (default 20; 2 with --tiny)")
    parser.add_argument("--data", type=Path, default=None,
                        help="shared data folder holding ogb/, lrgb/, tu/, wl/, zinc/ "
                             "(default $WLKIT_SHARED_DATA or ../shared/data)")
    parser.add_argument("--no-gin", action="store_true",
                        help="skip the wlkit-vs-PyG GIN timing row")
    args = parser.parse_args(argv)
    args.explicit_out = args.out is not None
    args = common.finish_args(args)
    if args.steps is None:
        args.steps = 2 if args.tiny else 20
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    args.data = args.data if args.data is not None else default_data()
    return args


# --- the comparison ------------------------------------------------------------------------


def max_rel_diff(actual: Any, expected: Any, rtol: float = RTOL, atol: float = ATOL) -> float:
    """``max |actual - expected| / max(|expected|, atol / rtol)``, elementwise, in float64.

    Relative where the output is large, absolute (scaled by ``rtol / atol``) near zero, so
    one number against ``rtol`` is the test ``|a - b| <= max(rtol |b|, atol)``. A shape
    mismatch or a non-finite value on either side is ``inf``.
    """
    import torch

    a = actual.detach().to("cpu", torch.float64)
    b = expected.detach().to("cpu", torch.float64)
    if a.shape != b.shape:
        return float("inf")
    if a.numel() == 0:
        return 0.0
    if not (bool(torch.isfinite(a).all()) and bool(torch.isfinite(b).all())):
        return float("inf")
    scale = b.abs().clamp(min=atol / rtol)
    return float(((a - b).abs() / scale).max())


def verdict_for(rel: float | None, rtol: float = RTOL) -> str:
    """``ok`` within the tolerance, else ``FAIL: ...`` (None: nothing was compared)."""
    if rel is None:
        return "FAIL: no output to compare"
    if rel <= rtol:
        return "ok"
    return f"FAIL: device output differs from the CPU's by {rel:.3g} > rtol {rtol:g}"


@contextlib.contextmanager
def same_draws(seed: int) -> Iterator[None]:
    """Random draws made on the CPU from ``seed`` and moved to the requested device.

    Eval-mode RNI draws its noise (and the recurrent aggregator its orders) on the graph's
    device, and CUDA's generator gives other numbers than the CPU's for the same seed; inside
    this block both sides draw the same numbers in the same order, so the comparison measures
    the arithmetic. A draw from an explicit CPU generator is left alone; one from a CUDA
    generator comes from a CPU generator with its seed (what the CPU side's code uses).
    """
    import torch

    shared = torch.Generator().manual_seed(seed)
    mirrors: dict[int, Any] = {}
    originals = {name: getattr(torch, name) for name in ("rand", "randn", "randint", "randperm")}

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        def draw(*args: Any, generator: Any = None, device: Any = None, **kwargs: Any) -> Any:
            if generator is not None and generator.device.type == "cpu":
                return original(*args, generator=generator, device=device, **kwargs)
            if generator is not None:
                gen = mirrors.setdefault(id(generator), torch.Generator().manual_seed(
                    generator.initial_seed()))
            else:
                gen = shared
            out = original(*args, generator=gen, **kwargs)
            return out if device is None else out.to(device)
        return draw

    for name, original in originals.items():
        setattr(torch, name, wrap(original))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(torch, name, original)


@contextlib.contextmanager
def exact_float32() -> Iterator[None]:
    """TF32 off for matmuls and cuDNN (the comparison is of float32 arithmetic)."""
    import torch

    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def device_vs_cpu(model: Any, batch: tuple[Any, Any, Any], device: str, seed: int = 0) -> float:
    """Max relative difference of ``model``'s eval output on ``device`` and on the CPU (a
    copy with the same weights and buffers, the same batch)."""
    import torch
    from lightning.pytorch.utilities import move_data_to_device

    was_training = model.training
    model.eval()
    cpu_model = copy.deepcopy(model).to("cpu").eval()
    graph, _, policy_batch = move_data_to_device(batch, torch.device("cpu"))
    dev_graph, _, dev_policy = move_data_to_device(batch, torch.device(device))
    try:
        with torch.no_grad(), exact_float32():
            with same_draws(seed):
                out = model(dev_graph, dev_policy)
            with same_draws(seed):
                ref = cpu_model(graph, policy_batch)
    finally:
        model.train(was_training)
    return max_rel_diff(out.float(), ref.float())


# --- one pipeline --------------------------------------------------------------------------


class StepTimer:
    """Lightning callback: seconds of every training step (device synchronised)."""

    def __init__(self, sync: Callable[[], Any] | None):
        import lightning as L

        self.sync = sync
        self.times: list[float] = []
        self._start = 0.0
        outer = self

        class _Callback(L.Callback):
            def on_train_batch_start(self, *_: Any) -> None:
                if outer.sync is not None:
                    outer.sync()
                outer._start = time.perf_counter()

            def on_train_batch_end(self, *_: Any) -> None:
                if outer.sync is not None:
                    outer.sync()
                outer.times.append(time.perf_counter() - outer._start)

        self.callback = _Callback()

    def per_step(self) -> float | None:
        """Median seconds per step, the first one (start-up) left out when there are more."""
        times = self.times[1:] if len(self.times) > 1 else self.times
        return statistics.median(times) if times else None


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else repr(exc)


def resolve_pipelines(spec: str | None) -> list[Path]:
    if not spec:
        return sorted(PIPELINES.glob("*.yaml"))
    out = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        path = Path(item)
        if not path.suffix:
            path = PIPELINES / f"{item}.yaml"
        out.append(path)
    return out


def small_prepared(dataset: Any, encodings: list, policy: Any, policy_name: str,
                   train_graphs: int, eval_graphs: int) -> Any:
    """What :func:`wlkit.model.data.prepare` returns, for the first ``train_graphs`` training
    and ``eval_graphs`` validation/test graphs only: 20 steps need a few hundred graphs, and
    encodings and policies (ego-nets, paths) on all of ogbg-molpcba would take hours.
    Raises :class:`wlkit.errors.DatasetError` when the data cannot be loaded."""
    import torch

    from wlkit import LoadedDataset
    from wlkit.model.data import PreparedData, attach_encodings, check_values, prepare_policy

    dataset.prepare_data()
    loaded = dataset.load()
    picks = {split: loaded.splits[split][:size].tolist()
             for split, size in (("train", train_graphs), ("valid", eval_graphs),
                                 ("test", eval_graphs))}
    keep = list(dict.fromkeys(i for idx in picks.values() for i in idx))  # splits may overlap
    where = {old: new for new, old in enumerate(keep)}
    sub = LoadedDataset([loaded.graphs[i] for i in keep], loaded.labels[keep],
                        {split: torch.tensor([where[i] for i in idx], dtype=torch.long)
                         for split, idx in picks.items()})
    info = dataset.info()
    check_values(dataset.name, info, sub)
    attach_encodings(sub.graphs, encodings)
    return PreparedData(info, sub, prepare_policy(sub.graphs, policy, policy_name))


def tolerant(evaluate: Callable[[Any, Any], float],
             errors: list[str]) -> Callable[[Any, Any], float]:
    """``evaluate``, NaN (and the reason in ``errors``) where the metric is undefined.

    The check validates on one small batch, where e.g. ROC-AUC has no positive label
    (ogbg-molbace's first validation graphs). The module hands the metric CPU tensors, so
    its failure says nothing about the device.
    """
    def wrapped(y_true: Any, y_pred: Any) -> float:
        try:
            return evaluate(y_true, y_pred)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            return float("nan")
    return wrapped


def check_pipeline(path: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Train ``path`` for ``args.steps`` steps on ``args.device``, compare with the CPU."""
    import lightning as L
    import torch

    from wlkit.errors import DatasetError
    from wlkit.model.build import (
        build_model,
        instantiate_dataset,
        instantiate_encodings,
        instantiate_policy,
    )
    from wlkit.model.data import GraphDataModule
    from wlkit.model.lightning import GraphPredictionModule
    from wlkit.pipeline import load_pipeline
    from wlkit.pipeline.loader import quiet_lightning

    check: dict[str, Any] = {"pipeline": path.stem, "steps": args.steps, "steps_ok": 0,
                             "seconds_per_step": None, "times_s": [], "max_rel_diff": None,
                             "verdict": None, "params": {}}
    cuda = args.device == "cuda"
    started = time.perf_counter()
    try:
        cfg = load_pipeline(path).data
        dataset = instantiate_dataset(cfg["dataset"])
        encodings = instantiate_encodings(cfg["encodings"])
        policy = instantiate_policy(cfg)
        train_cfg = cfg["train"]
        eval_size = train_cfg["eval_batch_size"] or train_cfg["batch_size"]
        try:
            prepared = small_prepared(dataset, encodings, policy,
                                      cfg["policy"]["name"] if policy else "policy",
                                      args.steps * train_cfg["batch_size"], eval_size)
        except DatasetError as exc:  # the data is not on this machine: not a device problem
            check["verdict"] = f"skipped: {first_line(exc)}"
            return check
        seed = cfg["seeds"][0]
        with quiet_lightning():
            L.seed_everything(seed, workers=True)
        model = build_model(cfg, dataset, encodings, None, policy)
        metric_errors: list[str] = []
        module = GraphPredictionModule(model, prepared.info,
                                       tolerant(dataset.evaluate, metric_errors), train_cfg)
        data = GraphDataModule(dataset, encodings, train_cfg, seed, prepared, policy)
        timer = StepTimer(torch.cuda.synchronize if cuda else None)
        trainer_cfg = {k: v for k, v in cfg["trainer"].items()
                       if k not in ("accelerator", "devices", "strategy", "num_nodes")}
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        with warnings.catch_warnings(), quiet_lightning():
            warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=r".*log_every_n_steps.*")
            trainer = L.Trainer(**{**trainer_cfg, "accelerator": "gpu" if cuda else "cpu",
                                   "devices": 1, "strategy": "auto", "max_steps": args.steps,
                                   # validation stays on (one small batch): a plateau
                                   # scheduler steps on valid_metric at each epoch's end
                                   "max_epochs": -1, "num_sanity_val_steps": 0,
                                   "logger": False,
                                   "enable_checkpointing": False, "enable_progress_bar": False,
                                   "enable_model_summary": False,
                                   "gradient_clip_val": train_cfg["grad_clip"],
                                   "callbacks": [timer.callback],
                                   "default_root_dir": str(args.work_dir)})
            try:
                trainer.fit(module, datamodule=data)
            finally:
                check["steps_ok"] = len(timer.times)
                check["times_s"] = timer.times
                check["seconds_per_step"] = timer.per_step()
        check["params"] = {"batch_size": train_cfg["batch_size"],
                           "precision": str(trainer_cfg.get("precision", "32-true")),
                           "train_graphs": len(prepared.loaded.splits["train"])}
        if metric_errors:
            check["params"]["valid_metric_undefined"] = metric_errors[0]
        if cuda:
            check["params"]["gpu_peak_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        batch = next(iter(data.full_loader("valid")))
        rel = device_vs_cpu(module.model, batch, "cuda" if cuda else "cpu", seed)
        check["max_rel_diff"] = rel
        if check["steps_ok"] < args.steps:
            check["verdict"] = f"FAIL: {check['steps_ok']} of {args.steps} steps ran"
        else:
            check["verdict"] = verdict_for(rel)
    except Exception as exc:  # one pipeline's failure is a row, not the end of the check
        check["verdict"] = f"FAIL: {type(exc).__name__}: {first_line(exc)}"
        check["traceback"] = traceback.format_exc()
    finally:
        check["seconds"] = round(time.perf_counter() - started, 2)
        if cuda:
            torch.cuda.empty_cache()
    return check


# --- wlkit vs PyG ---------------------------------------------------------------------------


def gin_check(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A GIN training step of wlkit against PyG's on the device: (table line, result row)."""
    import torch

    label = "GIN step: wlkit vs PyG"
    check: dict[str, Any] = {"pipeline": label, "steps": args.steps, "steps_ok": 0,
                             "seconds_per_step": None, "times_s": [], "max_rel_diff": None,
                             "verdict": None, "params": {}}
    try:
        from benchmarks import gin_models as gm

        have_pyg = find_spec("torch_geometric") is not None
        device = torch.device(args.device)
        hidden, layers, batch_size = (16, 2, 4) if args.tiny else (300, 5, 32)
        graphs, source = gm.molecule_graphs(args.steps * batch_size, tiny=args.tiny)
        batches = gm.make_batches(graphs, batch_size)
        pipe, _, model, others = gm.same_gin(hidden, layers,
                                             frameworks=("pyg",) if have_pyg else ())
        model.to(device)
        on_device = [(g.to(device), t.to(device)) for g, t in batches]
        lr = pipe["train"]["lr"]
        # the same optimizer on both sides: the row compares the model and loss
        ours = torch.optim.Adam(model.parameters(), lr=lr)
        sides = {"wlkit": lambda: gm.wlkit_epoch(model, ours, on_device)}
        if have_pyg:
            other = others["pyg"].to(device)
            inputs = [({k: v.to(device) if torch.is_tensor(v) else v
                        for k, v in gm.to_pyg(g).items()}, t.to(device)) for g, t in batches]
            model.eval()
            other.eval()
            with torch.no_grad(), exact_float32():
                check["max_rel_diff"] = max_rel_diff(other(inputs[0][0]), model(on_device[0][0]))
            model.train()
            other.train()
            theirs = torch.optim.Adam(other.parameters(), lr=lr)
            sides["pyg"] = lambda: gm.plain_epoch(other, theirs, inputs)
        sync = torch.cuda.synchronize if args.device == "cuda" else None
        times = common.alternate(sides, args.repeats, args.warmup, sync=sync)
        per_step = {name: [t / len(batches) for t in values] for name, values in times.items()}
        row = {"case": label, "params": {"hidden": hidden, "layers": layers,
                                         "batch_size": batch_size, "steps_per_call": len(batches),
                                         "data": source, "device": args.device,
                                         "max_rel_diff": check["max_rel_diff"]},
               "sides": {name: {"median_ms": 1000 * statistics.median(v), "times_s": v,
                                "peak_mib": None} for name, v in per_step.items()},
               "ratio": None, "ratio_of": None, "goal": None, "meets_goal": None}
        check["steps_ok"] = len(batches)
        check["seconds_per_step"] = row["sides"]["wlkit"]["median_ms"] / 1000
        if have_pyg:
            row["ratio_of"] = ["wlkit", "pyg"]
            row["ratio"] = row["sides"]["wlkit"]["median_ms"] / row["sides"]["pyg"]["median_ms"]
            check["pyg_seconds_per_step"] = row["sides"]["pyg"]["median_ms"] / 1000
            check["ratio"] = row["ratio"]
            verdict = verdict_for(check["max_rel_diff"])
            check["verdict"] = (f"{verdict} (wlkit/PyG {row['ratio']:.3f})"
                                if verdict == "ok" else verdict)
        else:
            check["verdict"] = "PyG not installed"
        return check, row
    except Exception as exc:
        check["verdict"] = f"FAIL: {type(exc).__name__}: {first_line(exc)}"
        check["traceback"] = traceback.format_exc()
        return check, None


# --- report ---------------------------------------------------------------------------------


def table_line(check: dict[str, Any]) -> list[str]:
    seconds = check["seconds_per_step"]
    if seconds is None:
        per_step = "-"
    elif check.get("pyg_seconds_per_step") is not None:
        per_step = f"{seconds:.4f} / PyG {check['pyg_seconds_per_step']:.4f}"
    else:
        per_step = f"{seconds:.4f}"
    rel = check["max_rel_diff"]
    skipped = check["verdict"].startswith("skipped")
    return [check["pipeline"], "-" if skipped else f"{check['steps_ok']}/{check['steps']}",
            per_step, "-" if rel is None else f"{rel:.2e}", check["verdict"]]


def format_table(checks: list[dict[str, Any]]) -> str:
    """The table; text columns left-aligned, the verdict last (it can be long)."""
    lines = [table_line(c) for c in checks]
    widths = [max([len(h), *(len(r[i]) for r in lines)]) for i, h in enumerate(HEADERS[:-1])]

    def render(cells: list[str]) -> str:
        return " | ".join([*(c.ljust(w) for c, w in zip(cells, widths)), cells[-1]])

    return "\n".join([render(HEADERS), "-+-".join("-" * w for w in [*widths, 7]),
                      *map(render, lines)])


def failed(checks: list[dict[str, Any]]) -> bool:
    return any(c["verdict"].startswith("FAIL") for c in checks)


def pipeline_row(check: dict[str, Any], device: str) -> dict[str, Any] | None:
    """The result-file row of a pipeline that ran at least one step (schema of common)."""
    times = check["times_s"][1:] if len(check["times_s"]) > 1 else check["times_s"]
    if not times:
        return None
    return {"case": check["pipeline"],
            "params": {**check["params"], "steps": check["steps"],
                       "steps_ok": check["steps_ok"], "max_rel_diff": check["max_rel_diff"],
                       "verdict": check["verdict"], "rtol": RTOL, "atol": ATOL},
            "sides": {device: {"median_ms": 1000 * statistics.median(times), "times_s": times,
                               "peak_mib": None}},
            "ratio": None, "ratio_of": None, "goal": None, "meets_goal": None}


def set_data_env(data: Path) -> dict[str, str]:
    """Point the dataset plugins at ``data``'s parts (variables already set win) and keep
    them offline; returns what was set."""
    chosen = {"WLKIT_SHARED_DATA": str(data), "WLKIT_OFFLINE": "1",
              **{var: str(data / part) for var, part in DATA_VARS.items()}}
    for var, value in chosen.items():
        os.environ.setdefault(var, value)
    return {var: os.environ[var] for var in chosen}


def no_device(args: argparse.Namespace, reason: str) -> int:
    """Nothing to check here: say so, exit 0; with ``--out``, a result without rows."""
    print(f"{NAME}: no CUDA device ({reason}); nothing checked. Run it on a machine with a "
          "GPU and DGL's CUDA wheel, or use --device cpu for a dry run of the code path.")
    if args.explicit_out:
        common.write_result(NAME, TITLE, args, [], settings={"device": args.device},
                            notes=[f"skipped: no CUDA device ({reason})"], checks=[],
                            skipped=f"no CUDA device ({reason})")
    return 0


def dgl_has_cuda() -> str | None:
    """None when DGL can put a graph on the GPU, else why not (the PyPI wheel is CPU-only)."""
    import dgl
    import torch

    try:
        dgl.graph((torch.tensor([0]), torch.tensor([1]))).to("cuda")
    except Exception as exc:  # DGLError from a CPU-only build
        return f"{type(exc).__name__}: {first_line(exc)}"
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch  # only torch before the device test: a CUDA-less machine does nothing heavy

    if args.device == "cuda" and not torch.cuda.is_available():
        return no_device(args, "torch.cuda.is_available() is False")
    common.set_threads(args.threads)
    if args.device == "cuda":
        problem = dgl_has_cuda()
        if problem is not None:
            print(f"{NAME}: DGL cannot use the GPU ({problem})\n    hint: install DGL's CUDA "
                  "wheel, e.g. pip install dgl -f "
                  "https://data.dgl.ai/wheels/torch-2.2/cu121/repo.html", file=sys.stderr)
            return 1
    env = set_data_env(args.data)
    paths = resolve_pipelines(args.pipelines)
    common.header(f"{TITLE} ({args.device}"
                  + (f": {torch.cuda.get_device_name()}" if args.device == "cuda" else "")
                  + f", {len(paths)} pipeline(s), {args.steps} steps each, data {args.data})",
                  args)
    checks: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="wlkit-gpu-check-") as work:
        args.work_dir = Path(work)  # Lightning's root dir: nothing lands in the repository
        for path in paths:
            check = check_pipeline(path, args)
            checks.append(check)
            print("  " + " | ".join(table_line(check)), flush=True)
            row = pipeline_row(check, args.device)
            if row is not None:
                rows.append(row)
    if not args.no_gin:
        check, row = gin_check(args)
        checks.append(check)
        print("  " + " | ".join(table_line(check)), flush=True)
        if row is not None:
            rows.append(row)
    print()
    print(format_table(checks))
    for check in checks:
        if "traceback" in check:
            print(f"\n--- {check['pipeline']}:\n{check['traceback'].rstrip()}", file=sys.stderr)
    ok = not failed(checks)
    summary = (f"{sum(c['verdict'].startswith('ok') for c in checks)} ok, "
               f"{sum(c['verdict'].startswith('FAIL') for c in checks)} FAIL, "
               f"{sum(c['verdict'].startswith('skipped') for c in checks)} skipped; "
               f"tolerance: max |{args.device} - cpu| / max(|cpu|, {ATOL:g}/{RTOL:g}) <= "
               f"{RTOL:g} (float32, TF32 off)")
    print(f"\n{summary}")
    path = common.write_result(
        NAME, TITLE, args, rows,
        settings={"device": args.device, "steps": args.steps, "rtol": RTOL, "atol": ATOL,
                  "data": str(args.data), "data_env": env,
                  "pipelines": [p.stem for p in paths]},
        notes=["one row per pipeline that ran: median seconds per training step (the first "
               "step left out), params hold steps_ok, max_rel_diff and the verdict",
               "max_rel_diff = max |device - cpu| / max(|cpu|, atol/rtol) of the trained "
               "model's eval output on one validation batch; verdict ok when <= rtol",
               "checks: every table line, skipped and failed pipelines included"],
        checks=[{k: v for k, v in c.items() if k != "times_s"} for c in checks],
        verdict="ok" if ok else "FAIL")
    print(f"results: {path}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
