"""The pipeline schema: sections, their typed keys and the component slots.

Key names here are a public contract: keys may be added, never renamed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wlkit.params import Param


@dataclass(frozen=True)
class Slot:
    """A key whose value names a component of ``family`` (string or ``{name: ..., ...}``)."""

    name: str
    family: str
    default: str | None
    doc: str
    nullable: bool = False


MODEL: tuple[Param | Slot, ...] = (
    Slot("layer", "layer", "gin", "message-passing layer"),
    Slot("aggregator", "aggregator", "sum", "neighbourhood aggregator used by the layer"),
    Param("num_layers", int, 4, "number of message-passing layers", minimum=1, maximum=64),
    Param("hidden", int, 64, "hidden width", minimum=1),
    Slot("readout", "readout", "sum", "graph readout"),
    Param("dropout", float, 0.0, "dropout after each layer", minimum=0.0, maximum=0.99),
    Param("residual", bool, False, "add a residual connection around each layer"),
    Param("virtual_node", bool, False, "add a virtual node joined to every node (OGB's form)"),
    Param("norm", str, "batch", "normalisation after each layer",
          choices=("batch", "layer", "none")),
    Param("head_layers", int, 2, "layers of the prediction MLP", minimum=1),
    Param("readout_layers", str, "last",
          "node states the readout reads: last (the last layer's), or all (the input's and "
          "every layer's, each read out and given its own prediction head, the predictions "
          "summed: GIN's readout, Xu et al. 2019, Eq. 4.2); all: without a policy only",
          choices=("last", "all")),
    Param("head_dropout", float, 0.0, "dropout on each prediction head's output (GIN's "
          "final dropout on the per-layer scores)", minimum=0.0, maximum=0.99),
    Param("activate_last", bool, False, "apply the activation after the last layer's norm "
          "too (GIN's reference code; OGB's GNNs do not)"),
    Param("activation", str, "relu", "non-linearity after each layer's norm, not after the "
          "last unless activate_last (relu: OGB's GNNs; tanh: the RNI paper's)",
          choices=("relu", "tanh", "elu", "gelu", "identity")),
)

TRAIN: tuple[Param | Slot, ...] = (
    Param("epochs", int, 100, "maximum number of epochs", minimum=1),
    Param("batch_size", int, 32, "graphs per training batch", minimum=1),
    Param("eval_batch_size", int, None, "graphs per evaluation batch (default: batch_size)",
          minimum=1, nullable=True),
    Param("lr", float, 1e-3, "learning rate", minimum=0.0),
    Param("weight_decay", float, 0.0, "weight decay", minimum=0.0),
    Param("optimizer", str, "adam", "optimizer", choices=("adam", "adamw", "sgd")),
    Param("scheduler", str, "none", "learning-rate schedule (step: multiply by step_gamma "
          "every step_epochs epochs, GIN's protocol)",
          choices=("none", "cosine", "plateau", "step")),
    Param("step_epochs", int, 50, "scheduler step: epochs between learning-rate steps",
          minimum=1),
    Param("step_gamma", float, 0.5, "scheduler step: factor per step", minimum=0.0,
          maximum=1.0),
    Param("loss", str, "auto", "loss (auto: cross_entropy, masked bce or masked mse by task)",
          choices=("auto", "cross_entropy", "bce", "mse", "l1")),
    Param("patience", int, None, "stop after this many epochs without validation improvement",
          minimum=1, nullable=True),
    Param("grad_clip", float, None, "clip gradient norm to this value", minimum=0.0,
          nullable=True),
    Param("num_workers", int, 0, "data-loader worker processes", minimum=0),
    Param("log_train_metric", bool, False,
          "score the whole training set after every epoch and log it as train_metric, "
          "next to valid_metric (one more evaluation pass per epoch)"),
)

OUTPUT: tuple[Param | Slot, ...] = (
    Param("dir", str, "runs", "parent folder of run directories"),
    Param("save_checkpoint", bool, True, "keep each seed's best weights as best.pt"),
    Param("loggers", list, ["csv"],
          "experiment trackers: csv, tensorboard (under seed_<s>/tensorboard/), mlflow "
          "(pip install wlkit[tracking]); the CSV log is always written"),
    Param("mlflow_uri", str, None,
          "MLflow tracking URI (default: a file: store in <run>/mlruns)", nullable=True),
)

PRECISIONS: tuple[str, ...] = ("32-true", "bf16-mixed", "16-mixed", "64-true", "bf16-true",
                               "16-true")
"""Lightning's precision settings that need no extra package (transformer-engine does)."""

PRECISION_ALIASES: dict[Any, str] = {32: "32-true", "32": "32-true", 64: "64-true",
                                     "64": "64-true", 16: "16-mixed", "16": "16-mixed",
                                     "bf16": "bf16-mixed"}
"""Lightning's legacy spellings, resolved to the names above (as Lightning itself does)."""

# Keys of ``trainer:`` that wlkit checks itself; the others go to lightning.Trainer as given.
# Their defaults are Lightning's and are not filled in (a dumped pipeline stays as written).
TRAINER: tuple[Param, ...] = (
    Param("precision", str, "32-true",
          "numeric precision: 32-true, bf16-mixed (autocast on CPU and GPU), 16-mixed "
          "(autocast, GPU; on CPU Lightning uses bf16-mixed), 64-true, bf16-true, 16-true",
          choices=PRECISIONS),
)

SECTIONS: dict[str, tuple[Param | Slot, ...]] = {"model": MODEL, "train": TRAIN,
                                                 "output": OUTPUT}

TOP_LEVEL: tuple[str, ...] = ("name", "description", "dataset", "encodings", "policy", "model",
                              "train", "seeds", "trainer", "output")

LOSSES_BY_TASK: dict[str, tuple[str, ...]] = {
    "multiclass": ("cross_entropy",),
    "binary": ("bce",),
    "regression": ("mse", "l1"),
}

TRAINER_KEYS_SET_BY_WLKIT: dict[str, str] = {
    "max_epochs": "use train.epochs",
    "logger": "use output.loggers (csv, tensorboard, mlflow); the CSV log is always written",
    "callbacks": "add callbacks with the wlkit_callbacks hook",
    "default_root_dir": "use output.dir or --out",
    "enable_checkpointing": "use output.save_checkpoint",
    "gradient_clip_val": "use train.grad_clip",
    "use_distributed_sampler": "wlkit shards the data itself under DDP",
    "plugins": "wlkit sets its checkpoint plugin",
}
