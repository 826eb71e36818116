"""Run a pipeline: one fit per seed, best-validation weights scored on valid and test."""

from __future__ import annotations

import json
import logging
import math
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

from wlkit.errors import WlkitError
from wlkit.io import atomic_write_json, atomic_write_text, is_terminal, output_folder
from wlkit.manager import Registry, get_host, plugin_listing
from wlkit.model.build import (
    build_model,
    check_model_fits,
    count_parameters,
    instantiate_dataset,
    instantiate_encodings,
    instantiate_policy,
    trial_forward,
)
from wlkit.model.checkpoint import (
    AtomicCheckpointIO,
    EpochEndState,
    RngState,
    last_checkpoint,
)
from wlkit.model.curves import write_run_curves
from wlkit.model.data import GraphDataModule, PreparedData, prepare
from wlkit.model.lightning import (
    BestWeights,
    EpochProgress,
    GraphPredictionModule,
    NonFiniteLoss,
)
from wlkit.model.tracking import TrainMetric, make_loggers
from wlkit.pipeline import Pipeline
from wlkit.pipeline.loader import quiet_lightning

# Noise that does not help a user of a small CPU run.
_QUIET = (r".*does not have many workers.*", r".*log_every_n_steps.*",
          r".*Checkpoint directory.*exists and is not empty.*", r".*`srun` command is available.*",
          r".*sync_dist=True.*")


def is_result(path: Path) -> bool:
    """Whether a file in a run directory is worth keeping when the run fails: a seed's
    metrics, the summary, or weights and checkpoints (what ``--resume`` continues from).
    A failed run that wrote none of these leaves no run directory behind."""
    return path.name in ("metrics.json", "summary.json", "best.pt") or path.suffix == ".ckpt"


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    clean = [v for v in values if v is not None and not math.isnan(v)]
    if not clean:
        return None, None
    return statistics.fmean(clean), (statistics.stdev(clean) if len(clean) > 1 else None)


def resume_run_dir(pipeline: Pipeline, run_dir: str | Path) -> Path:
    """Check that ``run_dir`` is an unfinished run of exactly this pipeline."""
    run_dir = Path(run_dir)
    resolved = run_dir / "pipeline.resolved.yaml"
    if not resolved.is_file():
        raise WlkitError(f"{run_dir}: not a wlkit run directory (no pipeline.resolved.yaml)\n"
                         "    hint: --resume takes the folder `wlkit run` printed")
    from wlkit.pipeline import load_pipeline

    stored = load_pipeline(resolved)
    if stored.data != pipeline.data:
        changed = sorted(k for k in set(stored.data) | set(pipeline.data)
                         if stored.data.get(k) != pipeline.data.get(k))
        raise WlkitError(f"{run_dir}: the pipeline differs from the one this run started with "
                         f"(sections: {', '.join(changed)})\n    hint: resume with "
                         f"`wlkit run {resolved} --resume {run_dir}`")
    return run_dir


def run_pipeline(pipeline: Pipeline, out: str | Path | None = None,
                 registry: Registry | None = None, progress: bool = True,
                 resume: str | Path | None = None) -> dict[str, Any]:
    """Train and evaluate every seed of ``pipeline``; return the summary written to disk.

    With ``resume`` (a run directory), finished seeds are read back, an interrupted seed
    continues from its last epoch checkpoint, and the rest run as usual.
    """
    host = get_host()
    registry = registry or host.registry
    zero = is_global_zero()
    if not zero:
        # A DDP worker (re-run by Lightning, or started by torchrun/SLURM): rank 0 owns the
        # run directory and writes every file; workers only need to know where it is.
        shared = os.environ.get("WLKIT_RUN_DIR") or resume or out
        if shared is None:
            raise WlkitError("this is a worker of a multi-process launch; pass --out (a folder "
                             "every process can reach) so all ranks use one run directory")
        return _run_seeds(pipeline, Path(shared), registry, host, False, resume)
    if resume is not None:
        run_dir = resume_run_dir(pipeline, resume)
        _say(progress, f"wlkit: resuming {pipeline.name} in {run_dir}")
        return _run_seeds(pipeline, run_dir, registry, host, progress, resume)
    # A run that fails before it wrote a result (a bad dataset root, a shape error in the
    # first batch) takes its run directory with it.
    with output_folder(Path(pipeline.data["output"]["dir"]) / pipeline.name, "", out,
                       keep=is_result) as run_dir:
        atomic_write_text(run_dir / "pipeline.resolved.yaml", pipeline.dump())
        _say(progress, f"wlkit: {pipeline.name} -> {run_dir}")
        return _run_seeds(pipeline, run_dir, registry, host, progress, resume)


def _run_seeds(pipeline: Pipeline, run_dir: Path, registry: Registry, host: Any,
               progress: bool, resume: str | Path | None) -> dict[str, Any]:
    """The body of :func:`run_pipeline` once the run directory is known."""
    cfg = pipeline.data
    zero = is_global_zero()
    started = time.perf_counter()
    dataset = instantiate_dataset(cfg["dataset"], registry)
    encodings = instantiate_encodings(cfg["encodings"], registry)
    info = dataset.info()
    if zero:
        os.environ["WLKIT_RUN_DIR"] = str(run_dir)  # inherited by DDP worker processes
        atomic_write_json(run_dir / "plugins.json", plugin_listing(registry))
    _say(progress, f"  dataset {cfg['dataset']['name']}: {info.task}, metric {info.metric}")
    policy = instantiate_policy(cfg, registry)
    # Before any data loads: a model too big for memory, or a component returning the wrong
    # shape on small generated graphs, is one named error (RNG state left as it was).
    check_model_fits(cfg, dataset, registry, where=pipeline.path or pipeline.name)
    trial_forward(cfg, dataset, registry, strict=False)
    prepared = prepare(dataset, encodings, policy=policy,
                       policy_name=cfg["policy"]["name"] if policy else "policy")
    per_seed = []
    num_params = None
    for seed in cfg["seeds"]:
        result = _finished_seed(run_dir / f"seed_{seed}") if resume is not None else None
        if result is not None:
            _say(progress, f"  seed {seed}: finished earlier")
        else:
            try:
                result = _fit_seed(pipeline, dataset, encodings, policy, prepared, seed,
                                   run_dir, registry, host, progress)
            except NonFiniteLoss as exc:
                result = {"seed": seed, "valid": None, "test": None, "error": str(exc),
                          "num_params": None}
                if zero:
                    atomic_write_json(run_dir / f"seed_{seed}" / "metrics.json", result)
        num_params = result["num_params"] or num_params
        entry = {"seed": seed, "valid": result["valid"], "test": result["test"]}
        if result.get("error"):
            entry["error"] = result["error"]
            print(f"warning: seed {seed} stopped: {result['error']}; the other seeds go on",
                  file=sys.stderr)
        else:
            _say(progress, f"  seed {seed}: valid {info.metric} {result['valid']:.4f}, "
                           f"test {result['test']:.4f} (best epoch {result['best_epoch']})")
        per_seed.append(entry)
    if all(r.get("error") for r in per_seed):
        raise WlkitError(f"every seed stopped early; see {run_dir}/seed_*/metrics.json\n"
                         "    hint: a NaN loss usually means the learning rate is too high")
    valid_mean, valid_std = _mean_std([r["valid"] for r in per_seed])
    test_mean, test_std = _mean_std([r["test"] for r in per_seed])
    summary = {
        "name": pipeline.name,
        "dataset": cfg["dataset"]["name"],
        "metric": info.metric,
        "higher_is_better": info.higher_is_better,
        "seeds": list(cfg["seeds"]),
        "failed_seeds": [r["seed"] for r in per_seed if r.get("error")],
        "test_mean": test_mean,
        "test_std": test_std,
        "valid_mean": valid_mean,
        "valid_std": valid_std,
        "num_params": num_params,
        "per_seed": per_seed,
        "wall_seconds": round(time.perf_counter() - started, 2),  # this invocation
        "command": " ".join(sys.argv),
        "versions": _versions(),
        "hardware": hardware(),
    }
    if zero:
        atomic_write_json(run_dir / "summary.json", summary)
        _write_curves(run_dir)
    std = f" ± {test_std:.4f}" if test_std is not None else ""
    # The result lines print under --quiet too (it silences progress, not results).
    _say(zero, f"  test {info.metric}: {test_mean:.4f}{std} over {len(per_seed)} seed(s); "
               f"{num_params} parameters")
    _say(zero, f"  results: {run_dir / 'summary.json'}")
    return summary


def _fit_seed(pipeline: Pipeline, dataset: Any, encodings: list, policy: Any,
              prepared: PreparedData,
              seed: int, run_dir: Path, registry: Registry, host: Any,
              progress: bool) -> dict[str, Any]:
    cfg = pipeline.data
    seed_dir = run_dir / f"seed_{seed}"
    seed_dir.mkdir(parents=True, exist_ok=True)
    with quiet_lightning():
        L.seed_everything(seed, workers=True)
    model = build_model(cfg, dataset, encodings, registry, policy)
    module = GraphPredictionModule(model, prepared.info, dataset.evaluate, cfg["train"])
    data = GraphDataModule(dataset, encodings, cfg["train"], seed, prepared, policy)
    best = BestWeights(prepared.info.higher_is_better,
                       seed_dir / "best.pt" if cfg["output"]["save_checkpoint"] else None)
    callbacks: list[Any] = [best, RngState(), EpochEndState(),
                            # Saved in on_train_epoch_end: after the epoch's validation (so it
                            # holds BestWeights' update), and an end-of-epoch checkpoint for
                            # Lightning. One saved in on_validation_end is mid-epoch to Lightning
                            # 2.4: a resume re-ran that validation and built two extra
                            # DataLoader iterators, each drawing a base seed from the global RNG
                            # that RngState had just restored, so dropout diverged.
                            ModelCheckpoint(dirpath=seed_dir, save_top_k=0, save_last=True,
                                            save_on_train_epoch_end=True)]
    if progress:
        callbacks.append(EpochProgress(f"  seed {seed}"))
    if cfg["train"]["patience"]:
        callbacks.append(EarlyStopping("valid_metric", patience=cfg["train"]["patience"],
                                       mode="max" if prepared.info.higher_is_better else "min"))
    if cfg["train"]["log_train_metric"]:
        callbacks.append(TrainMetric(lambda: data.full_loader("train")))
    for extra in host.pm.hook.wlkit_callbacks(pipeline=cfg):
        callbacks.extend(extra or [])
    trainer_kwargs: dict[str, Any] = {
        "enable_model_summary": False,
        "enable_progress_bar": False,
        "log_every_n_steps": 10,
        **cfg["trainer"],
        "use_distributed_sampler": False,  # GraphDataModule shards with DGL's sampler
        "max_epochs": cfg["train"]["epochs"],
        "logger": make_loggers(cfg, run_dir, seed_dir, pipeline.name, seed),
        "callbacks": callbacks,
        "enable_checkpointing": True,
        "plugins": [AtomicCheckpointIO()],
        "default_root_dir": str(seed_dir),
        "gradient_clip_val": cfg["train"]["grad_clip"],
    }
    host.pm.hook.wlkit_configure_trainer(trainer_kwargs=trainer_kwargs, pipeline=cfg)
    if trainer_kwargs.get("enable_progress_bar") and not (progress and is_terminal()):
        # Lightning's per-batch bar redraws with carriage returns; under --quiet or in a log,
        # EpochProgress's lines stand in for it.
        trainer_kwargs["enable_progress_bar"] = False
    started = time.perf_counter()
    with warnings.catch_warnings(), quiet_lightning():
        for pattern in _QUIET:
            warnings.filterwarnings("ignore", message=pattern)
        logging.getLogger("lightning.pytorch.accelerators.cuda").setLevel(logging.WARNING)
        trainer = L.Trainer(**trainer_kwargs)
        trainer.fit(module, datamodule=data, ckpt_path=last_checkpoint(seed_dir))
    if best.state is None:
        raise WlkitError(f"seed {seed}: no validation score was produced (the metric was NaN "
                         "in every epoch)")
    module.load_state_dict(best.state)
    valid = module.score_loader(data.full_loader("valid"))
    test = module.score_loader(data.full_loader("test"))
    result = {
        "seed": seed,
        "metric": prepared.info.metric,
        "valid": valid,
        "test": test,
        "best_epoch": best.best_epoch,
        "best_valid_during_training": best.best,
        "epochs_run": trainer.current_epoch,
        "num_params": count_parameters(model),
        "train_seconds": round(time.perf_counter() - started, 2),
    }
    if is_global_zero():
        atomic_write_json(seed_dir / "metrics.json", result)
        # metrics.json marks the seed finished; its resume checkpoint is no longer needed.
        (seed_dir / "last.ckpt").unlink(missing_ok=True)
    return result


def _write_curves(run_dir: Path) -> None:
    """``curves.png`` of the run; a plot that fails warns and never fails the run."""
    try:
        write_run_curves(run_dir)
    except Exception as exc:
        print(f"warning: could not draw {run_dir / 'curves.png'}: {exc}", file=sys.stderr)


def is_global_zero() -> bool:
    """Whether this process is rank 0 of a (possibly multi-process) run; only it writes."""
    env = os.environ
    if "RANK" in env:  # torchrun / SLURM-style launchers
        return env["RANK"] == "0"
    return env.get("LOCAL_RANK", "0") == "0" and env.get("NODE_RANK", "0") == "0"


def _finished_seed(seed_dir: Path) -> dict[str, Any] | None:
    """The metrics of a seed that finished in an earlier, interrupted run (else None)."""
    path = seed_dir / "metrics.json"
    if not path.is_file():
        return None
    try:
        result = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None  # cannot trust it: run the seed again
    return result if isinstance(result, dict) and "test" in result else None


def _say(enabled: bool, text: str) -> None:
    if enabled:
        print(text, flush=True)


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": sys.version.split()[0]}
    for dist in ("wlkit", "torch", "dgl", "lightning", "ogb", "numpy", "pluggy", "rdkit"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def hardware() -> dict[str, Any]:
    """CPU model and count, GPUs, platform: what the OGB submission form asks for."""
    import os
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpus = ([torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            if torch.cuda.is_available() else [])
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "gpus": gpus,
            "platform": platform.platform()}
