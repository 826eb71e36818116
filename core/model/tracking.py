"""Experiment trackers (Lightning's own loggers) and the optional per-epoch train metric.

``output.loggers`` lists the trackers of a run. The CSV log is always written, whatever the
list says: wlkit reads each seed's ``metrics.csv`` for ``curves.png`` and ``wlkit plot``.
TensorBoard writes under ``<run>/seed_<s>/tensorboard/``; MLflow writes into a ``file:``
store under ``<run>/mlruns`` unless ``output.mlflow_uri`` names another tracking URI.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch

LOGGERS: tuple[str, ...] = ("csv", "tensorboard", "mlflow")
"""The tracker names ``output.loggers`` accepts."""

TRACKER_MODULES: dict[str, str] = {"tensorboard": "tensorboard", "mlflow": "mlflow"}
"""The module each optional tracker needs (csv needs nothing beyond Lightning)."""

INSTALL_HINT = "pip install wlkit[tracking]"


def missing_tracker(name: str) -> str | None:
    """The module tracker ``name`` needs when it is not installed, else None.

    Parameters
    ----------
    name : str
        A name from :data:`LOGGERS`.

    Returns
    -------
    str or None
        The missing module's name, or None when the tracker can be used.
    """
    module = TRACKER_MODULES.get(name)
    if module is None:
        return None
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    return None if found else module


def mlflow_uri(output: dict[str, Any], run_dir: Path) -> str:
    """The MLflow tracking URI of a run: ``output.mlflow_uri`` or ``file:<run>/mlruns``."""
    return output.get("mlflow_uri") or (Path(run_dir).resolve() / "mlruns").as_uri()


def _flat_params(cfg: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The resolved pipeline as ``section.key -> value`` (what trackers show as params)."""
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat_params(value, f"{name}."))
        else:
            out[name] = value if isinstance(value, (int, float, str, bool)) else repr(value)
    return out


def make_loggers(cfg: dict[str, Any], run_dir: Path, seed_dir: Path, name: str,
                 seed: int) -> list[Any]:
    """Lightning loggers of one seed's fit: CSV first (always), then the requested trackers.

    Parameters
    ----------
    cfg : dict
        The resolved pipeline.
    run_dir, seed_dir : Path
        The run directory and this seed's folder in it.
    name : str
        The pipeline's name (the MLflow experiment).
    seed : int
        The seed (part of the MLflow run name).

    Returns
    -------
    list
        Logger instances for ``lightning.Trainer(logger=...)``.
    """
    from lightning.pytorch.loggers import CSVLogger

    loggers: list[Any] = [CSVLogger(seed_dir, name="", version="")]
    wanted = cfg["output"].get("loggers") or ["csv"]
    params = _flat_params({k: v for k, v in cfg.items() if k != "description"})
    if "tensorboard" in wanted:
        from lightning.pytorch.loggers import TensorBoardLogger

        # its own sub-folder: CSVLogger writes hparams.yaml into seed_dir too
        board = TensorBoardLogger(seed_dir, name="tensorboard", version="",
                                  default_hp_metric=False)
        board.log_hyperparams(params)
        loggers.append(board)
    if "mlflow" in wanted:
        uri = mlflow_uri(cfg["output"], run_dir)
        if uri.startswith("file:"):
            # MLflow 3 refuses its file store unless told it is wanted; a local store in the
            # run directory is the point here (no server, nothing outside the run)
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        chatter = logging.getLogger("lightning.pytorch.loggers.mlflow")
        level = chatter.level
        chatter.setLevel(logging.ERROR)  # "Experiment ... not found. Creating it." per run
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # mlflow's import warns about pydantic fields
            from lightning.pytorch.loggers import MLFlowLogger

            logger = MLFlowLogger(experiment_name=name, tracking_uri=uri,
                                  run_name=f"{Path(run_dir).name}/seed_{seed}",
                                  tags={"wlkit.run_dir": str(Path(run_dir).resolve()),
                                        "wlkit.seed": str(seed)})
            try:
                logger.log_hyperparams(params)  # creates the experiment and the run
            finally:
                chatter.setLevel(level)
        loggers.append(logger)
    return loggers


class TrainMetric(L.Callback):
    """After each training epoch, score the current weights on the whole training set
    (eval mode) and log it as ``train_metric``, next to ``valid_metric``.

    It costs one more evaluation pass over the training graphs per epoch, hence opt-in
    (``train.log_train_metric``). The pass runs under a forked RNG, so a stochastic model
    (RNI draws noise in eval mode too) trains exactly as it would without it.
    """

    def __init__(self, loader_factory: Any):
        self.loader_factory = loader_factory

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        training = module.training
        devices = ([module.device] if module.device.type == "cuda" else [])
        strategy = trainer.strategy
        # score_loader iterates plain batches; during a fit the module sits on the
        # accelerator, so each batch moves there as Lightning's own loops move them
        batches = (strategy.batch_to_device(batch) for batch in self.loader_factory())
        with torch.random.fork_rng(devices=devices):
            value = module.score_loader(batches)
        module.train(training)
        module.log("train_metric", value, on_step=False, on_epoch=True, batch_size=1)
