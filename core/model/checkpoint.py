"""Resumable fits: atomic checkpoints loaded with ``weights_only``, saved RNG, epoch-keyed
shuffling. Together they make a resumed seed continue exactly like an uninterrupted one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
from torch.utils.data import Sampler

from wlkit.errors import WlkitError
from wlkit.io import atomic_torch_save


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write checkpoints through a temporary file and a rename (a kill mid-write leaves the
    previous checkpoint intact); read them with ``torch.load(weights_only=True)``."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any,
                        storage_options: Any = None) -> None:
        atomic_torch_save(checkpoint, path)

    def load_checkpoint(self, path: Any, map_location: Any = None) -> dict[str, Any]:
        try:
            return torch.load(path, map_location=map_location or "cpu", weights_only=True)
        except FileNotFoundError:
            raise WlkitError(f"{path}: checkpoint not found") from None
        except Exception as exc:
            raise WlkitError(f"{path}: unreadable checkpoint ({type(exc).__name__}: {exc})\n"
                             "    hint: delete it to restart this seed from scratch") from None


class RngState(L.Callback):
    """Store torch's global RNG in checkpoints and restore it on resume (dropout, sampling)."""

    def on_save_checkpoint(self, trainer: L.Trainer, module: L.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        checkpoint["wlkit_torch_rng"] = torch.get_rng_state()

    def on_load_checkpoint(self, trainer: L.Trainer, module: L.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        if "wlkit_torch_rng" in checkpoint:
            torch.set_rng_state(checkpoint["wlkit_torch_rng"])


class EpochEndState(L.Callback):
    """Replay on resume what Lightning does after an end-of-epoch checkpoint but does not save.

    The checkpoint is written in ``on_train_epoch_end``; after it Lightning steps the
    ReduceLROnPlateau schedulers with the epoch's metric and, if EarlyStopping set
    ``trainer.should_stop``, ends the fit. A fit resumed from that checkpoint starts at the
    next epoch, so without this it would lose that scheduler step and train past the stop.
    """

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def on_save_checkpoint(self, trainer: L.Trainer, module: L.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        progress = trainer.fit_loop.epoch_progress.current
        if progress.processed == progress.completed:
            return  # not written in on_train_epoch_end: Lightning replays that epoch's end
        plateau = []
        for config in trainer.lr_scheduler_configs:
            value = trainer.callback_metrics.get(config.monitor) if config.monitor else None
            due = (config.reduce_on_plateau and config.interval == "epoch"
                   and (trainer.current_epoch + 1) % config.frequency == 0)
            plateau.append(float(value) if due and value is not None else None)
        checkpoint["wlkit_epoch_end"] = {"should_stop": bool(trainer.should_stop),
                                         "plateau": plateau}

    def on_load_checkpoint(self, trainer: L.Trainer, module: L.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        self._pending = checkpoint.get("wlkit_epoch_end")

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        # after Lightning restored the schedulers, before the next epoch
        pending, self._pending = self._pending, None
        if pending is None:
            return
        for config, value in zip(trainer.lr_scheduler_configs, pending["plateau"]):
            if value is not None:
                config.scheduler.step(value)
        if pending["should_stop"]:
            trainer.should_stop = True


class EpochShuffleSampler(Sampler[int]):
    """Random order that depends only on ``(seed, epoch)``, so epoch e shuffles the same way
    whether or not the fit was interrupted before it. Lightning calls :meth:`set_epoch`."""

    def __init__(self, size: int, seed: int):
        self.size = size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(torch.randperm(self.size, generator=generator).tolist())

    def __len__(self) -> int:
        return self.size


def last_checkpoint(seed_dir: Path) -> Path | None:
    path = seed_dir / "last.ckpt"
    return path if path.is_file() else None
