"""The LightningModule for graph-level prediction and wlkit's checkpoint callback."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor

from wlkit.components import Aggregator, DatasetInfo
from wlkit.errors import WlkitError
from wlkit.io import atomic_torch_save
from wlkit.model.graph_model import GraphModel


def masked_loss(kind: str, pred: Tensor, target: Tensor) -> Tensor:
    """Loss of ``kind``; NaN targets (missing labels, as in OGB) are masked out.

    The mask weights the elementwise loss (mean over the known targets; 0, still connected
    to the graph, when none is known) instead of gathering the known entries, so the loss
    has no data-dependent shape and no host sync. Without missing targets it is bit-for-bit
    the unmasked mean (the same sum divided by the same count), gradient included. The
    count is exact in any precision (an integer count, divided in at least float32).
    """
    if kind == "cross_entropy":
        return F.cross_entropy(pred, target.view(-1).long())
    target = target.view(pred.shape).to(pred.dtype)
    missing = torch.isnan(target)
    known = (~missing).to(pred.dtype)
    target = torch.where(missing, 0.0, target)
    # counted as an integer, then at least float32: in bf16/fp16 a sum of ones rounds above
    # 256 and overflows above 65,504 (fp16: a batch of 512 x 128 tasks gave a zero loss)
    wide = torch.promote_types(pred.dtype, torch.float32)  # float64 stays float64
    count = (~missing).sum().clamp(min=1).to(wide)
    if kind == "bce":  # the weighted mean's kernel, rescaled by 1.0 without missing targets:
        # bit for bit the plain loss's gradient too (its backward divides in another order)
        loss = F.binary_cross_entropy_with_logits(pred, target, weight=known)
        return loss * (known.numel() / count)
    if kind == "l1":
        loss = F.l1_loss(pred, target, reduction="none")
    else:
        loss = F.mse_loss(pred, target, reduction="none")
    return (loss * known).sum(dtype=wide) / count  # a 16-bit sum would round and overflow


class NonFiniteLoss(WlkitError):
    """The loss became NaN or infinite; the seed stops (other seeds go on)."""


DEFAULT_LOSS = {"multiclass": "cross_entropy", "binary": "bce", "regression": "mse"}


class GraphPredictionModule(L.LightningModule):
    """Train a :class:`GraphModel` and score each validation/test epoch with the dataset's
    evaluator (``evaluate(y_true, y_pred) -> float``) over the whole split.

    Logged: ``train_loss`` (and ``train_aux_loss`` when a component has an auxiliary loss),
    the epoch's mean over its training graphs, once per epoch; ``valid_metric`` and
    ``test_metric`` per evaluation."""

    def __init__(self, model: GraphModel, info: DatasetInfo,
                 evaluate: Callable[[Tensor, Tensor], float], train_cfg: dict[str, Any]):
        super().__init__()
        self.model = model
        self.info = info
        self.evaluate = evaluate
        self.train_cfg = train_cfg
        self.loss_kind = (DEFAULT_LOSS[info.task] if train_cfg["loss"] == "auto"
                          else train_cfg["loss"])
        self._outputs: dict[str, list[tuple[Tensor, Tensor]]] = {"valid": [], "test": []}
        # The epoch's training losses, summed (weighted by batch size) on the device: logged
        # once per epoch (see training_step), not through ``self.log`` every step.
        self._epoch_sums: dict[str, Tensor] = {}
        self._epoch_counts: dict[str, int] = {}
        self._epoch_logged = False
        self._aux_sources: list[Any] | None = None  # see _auxiliary_loss

    def forward(self, graph: Any, policy_batch: Any = None) -> Tensor:
        return self.model(graph, policy_batch)

    def training_step(self, batch: tuple[Any, Tensor, Any], batch_idx: int) -> Tensor:
        graph, target, policy_batch = batch
        loss = masked_loss(self.loss_kind, self(graph, policy_batch), target)
        aux = self._auxiliary_loss()
        if aux is not None:
            self._accumulate("train_aux_loss", aux, graph.batch_size)
            loss = loss + aux
        self._accumulate("train_loss", loss, graph.batch_size)
        trainer = self._trainer
        if trainer is None:  # a step outside a fit: no epoch end to wait for
            if not bool(torch.isfinite(loss)):
                raise NonFiniteLoss(f"the training loss became {float(loss)}")
        elif trainer.is_last_batch or batch_idx + 1 >= trainer.num_training_batches:
            self._check_finite()  # before validation sees the weights
            self._log_epoch_losses()  # here, so callbacks see it in on_train_epoch_end
        return loss

    # A NaN/inf loss stops the seed. Asking ``bool(isfinite(loss))`` every step waits for
    # the device every step; the epoch's running loss sum (kept on the device for the log)
    # turns NaN/inf with the first bad step, so it is read once, at the epoch's last batch
    # (before validation and any checkpoint): a diverged model is never scored or saved.

    def _check_finite(self) -> None:
        total = self._epoch_sums.get("train_loss")
        if total is not None and not bool(torch.isfinite(total)):  # one read per epoch
            raise NonFiniteLoss(f"the training loss became {float(total)} in epoch "
                                f"{self.current_epoch} (by step {self.global_step})")

    # Training losses are logged once per epoch: ``train_loss`` (and ``train_aux_loss``) is the
    # epoch's mean over its training graphs. ``self.log`` in every step cost ~0.65 ms a step
    # in Lightning's result collection (benchmarks/README.md, section 1); the metrics.csv rows
    # it produced were single-step samples every ``log_every_n_steps`` steps.

    def _accumulate(self, name: str, value: Tensor, batch_size: int) -> None:
        # no host sync: stays a tensor on the device; at least float32, so a 16-bit loss's epoch sum
        # neither overflows (fp16 stops at 65,504: a false NaN-loss stop) nor rounds
        weighted = value.detach().to(torch.promote_types(value.dtype, torch.float32)) * batch_size
        total = self._epoch_sums.get(name)
        self._epoch_sums[name] = weighted if total is None else total + weighted
        self._epoch_counts[name] = self._epoch_counts.get(name, 0) + batch_size

    def _log_epoch_losses(self) -> None:
        if self._epoch_logged or not self._epoch_counts:
            return
        distributed = self._trainer is not None and self._trainer.world_size > 1
        for name, total in self._epoch_sums.items():
            self.log(name, total / self._epoch_counts[name], prog_bar=name == "train_loss",
                     on_step=False, on_epoch=True, batch_size=1, sync_dist=distributed)
        self._epoch_logged = True

    def on_train_epoch_start(self) -> None:
        self._epoch_sums, self._epoch_counts, self._epoch_logged = {}, {}, False

    def on_train_epoch_end(self) -> None:
        self._check_finite()
        self._log_epoch_losses()  # if the epoch ended before a batch known to be its last

    def on_fit_start(self) -> None:
        self._aux_sources = None  # the modules may have changed between fits

    def _auxiliary_loss(self) -> Tensor | None:
        """``self.model.auxiliary_loss()``, without walking every submodule each step.

        For a :class:`GraphModel` that keeps the base method, that method sums the
        ``auxiliary_loss()`` of its aggregators in module order; only aggregators that override
        the base's (which returns None) can contribute, so they are found once per fit and
        summed in the same order (the same value, bit for bit).
        """
        model = self.model
        if not isinstance(model, GraphModel) or (
                type(model).auxiliary_loss is not GraphModel.auxiliary_loss):
            return model.auxiliary_loss()
        if self._aux_sources is None:
            self._aux_sources = [
                module for module in model.modules()
                if module is not model and isinstance(module, Aggregator)
                and type(module).auxiliary_loss is not Aggregator.auxiliary_loss
                and callable(getattr(module, "auxiliary_loss", None))]
        total = None
        for module in self._aux_sources:
            value = module.auxiliary_loss()
            if value is not None:
                total = value if total is None else total + value
        return total

    def _collect(self, split: str, batch: tuple[Any, Tensor, Any]) -> None:
        graph, target, policy_batch = batch
        self._outputs[split].append((target.detach().cpu(),
                                     self(graph, policy_batch).detach().cpu()))

    def _score(self, split: str, gather: bool = True) -> float:
        outputs, self._outputs[split] = self._outputs[split], []
        y_true = torch.cat([t for t, _ in outputs])
        y_pred = torch.cat([p for _, p in outputs])
        if gather:
            y_true, y_pred = self._gather(split, y_true), self._gather(split, y_pred)
        if self.info.task != "multiclass" and y_true.dim() == 1:
            y_true = y_true.view(-1, 1)
        return float(self.evaluate(y_true, y_pred))

    def _gather(self, split: str, local: Tensor) -> Tensor:
        """Under DDP, every rank's predictions in the split's original order.

        Each rank scored the shard ``indices[rank::world]`` of the split, padded by
        ``DistributedSampler`` to equal length; interleaving the gathered shards and
        dropping the padding restores the single-process order, so the metric is exactly
        the single-process one.
        """
        trainer = self._trainer
        if trainer is None or trainer.world_size <= 1:
            return local
        gathered = self.all_gather(local)  # [world, rows, ...]
        ordered = gathered.transpose(0, 1).reshape(-1, *local.shape[1:])
        datamodule = getattr(trainer, "datamodule", None)
        size = datamodule.split_size(split) if hasattr(datamodule, "split_size") else None
        return ordered[:size].cpu() if size is not None else ordered.cpu()

    def _sync_buffers(self) -> None:
        # Under DDP parameters agree across ranks but BatchNorm running statistics do not
        # (each rank updates them on its own batches, and SyncBatchNorm needs a GPU). Give
        # every rank rank 0's buffers, so sharded evaluation scores one model: rank 0's.
        trainer = self._trainer
        if trainer is None or trainer.world_size <= 1:
            return
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            for buffer in self.model.buffers():
                dist.broadcast(buffer.data, src=0)

    def on_validation_epoch_start(self) -> None:
        # a validation inside the epoch (trainer.val_check_interval < 1, or a stop such as
        # max_time before the epoch's end) must not score weights a NaN step diverged
        if self._trainer is not None and not self._trainer.sanity_checking:
            self._check_finite()
        self._sync_buffers()

    def on_test_epoch_start(self) -> None:
        self._sync_buffers()

    def validation_step(self, batch: tuple[Any, Tensor, Any], batch_idx: int) -> None:
        self._collect("valid", batch)

    def on_validation_epoch_end(self) -> None:
        trainer = self._trainer
        if trainer is not None and trainer.sanity_checking:
            # Lightning's sanity check sees two batches: too few for some metrics (ROC-AUC
            # needs both classes, and ogbg-molbace's first validation batches hold one)
            self._outputs["valid"] = []
            return
        if self._outputs["valid"]:
            self.log("valid_metric", self._score("valid"), prog_bar=True)

    def test_step(self, batch: tuple[Any, Tensor, Any], batch_idx: int) -> None:
        self._collect("test", batch)

    def on_test_epoch_end(self) -> None:
        if self._outputs["test"]:
            self.log("test_metric", self._score("test"))

    @torch.no_grad()
    def score_loader(self, loader: Any) -> float:
        """Metric of the current weights over a whole data loader (eval mode)."""
        self.eval()
        for batch in loader:
            self._collect("test", batch)
        return self._score("test", gather=False)

    def configure_optimizers(self) -> Any:
        cfg = self.train_cfg
        params = self.parameters()
        if cfg["optimizer"] == "sgd":
            opt = torch.optim.SGD(params, lr=cfg["lr"], momentum=0.9,
                                  weight_decay=cfg["weight_decay"])
        else:
            # foreach: torch's multi-tensor kernels. On CPU torch 2.2 defaults to a Python loop
            # over the parameters; benchmarks/optimizer.py measured the optimizer step of that
            # loop 1.4-1.7x (GIN width 64) to 5x (width 16) slower and equal at width 300, with
            # bit-identical weights (fused=True is CUDA-only in torch 2.2). On GPUs foreach is
            # torch's default already.
            adam = torch.optim.AdamW if cfg["optimizer"] == "adamw" else torch.optim.Adam
            opt = adam(params, lr=cfg["lr"], weight_decay=cfg["weight_decay"], foreach=True)
        if cfg["scheduler"] == "cosine":
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg["epochs"])
            return {"optimizer": opt, "lr_scheduler": sched}
        if cfg["scheduler"] == "step":
            # hand-built train configs (tests, plugins) predate the keys: GIN's 50 and 0.5
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.get("step_epochs", 50),
                                                    gamma=cfg.get("step_gamma", 0.5))
            return {"optimizer": opt, "lr_scheduler": sched}
        if cfg["scheduler"] == "plateau":
            mode = "max" if self.info.higher_is_better else "min"
            sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode=mode, factor=0.5,
                                                               patience=10)
            return {"optimizer": opt,
                    "lr_scheduler": {"scheduler": sched, "monitor": "valid_metric"}}
        return opt


class BestWeights(L.Callback):
    """Keep the weights of the best validation epoch (in memory and, optionally, on disk).

    Only the ``state_dict`` is stored, so it loads with ``torch.load(weights_only=True)``.
    """

    def __init__(self, higher_is_better: bool, path: Path | None = None):
        self.higher_is_better = higher_is_better
        self.path = path
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.state: dict[str, Tensor] | None = None

    def _better(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        return value > self.best if self.higher_is_better else value < self.best

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking or "valid_metric" not in trainer.callback_metrics:
            return
        value = float(trainer.callback_metrics["valid_metric"])
        if self._better(value):
            self.best, self.best_epoch = value, trainer.current_epoch
            self.state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
            if self.path is not None and trainer.is_global_zero:
                atomic_torch_save(self.state, self.path)

    def state_dict(self) -> dict[str, Any]:
        # Plain values and tensors only, so checkpoints load with weights_only=True.
        return {"best": self.best, "best_epoch": self.best_epoch, "state": self.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]
        self.state = state["state"]


class EpochProgress(L.Callback):
    """One compact progress bar per fit, counting epochs (Lightning's per-batch bar floods
    logs and costs more than a small epoch on CPU)."""

    def __init__(self, desc: str):
        self.desc = desc
        self.bar: Any = None

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        from wlkit.io import progress

        # tqdm on a terminal, a line per few percent in a log (wlkit.io.progress decides)
        self.bar = progress(total=trainer.max_epochs, desc=self.desc, unit="epoch")

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self.bar is None:
            return
        shown = {}
        for key in ("train_loss", "valid_metric"):
            if key in trainer.callback_metrics:
                shown[key.split("_")[1]] = f"{float(trainer.callback_metrics[key]):.4g}"
        self.bar.set_postfix(shown, refresh=False)
        self.bar.update(1)

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
