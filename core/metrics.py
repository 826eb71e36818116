"""Metrics for datasets without an official evaluator.

OGB datasets use OGB's own ``Evaluator`` instead (never re-implemented here).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor


def accuracy(y_true: Tensor, y_pred: Tensor) -> float:
    """Multiclass accuracy: ``y_pred`` are logits [n, classes], ``y_true`` ints [n]."""
    return float((y_pred.argmax(dim=-1) == y_true.view(-1)).float().mean())


def _masked(y_true: Tensor, y_pred: Tensor) -> tuple[np.ndarray, np.ndarray]:
    y_true = y_true.reshape(y_pred.shape).double().cpu().numpy()
    return y_true, y_pred.double().cpu().numpy()


def rmse(y_true: Tensor, y_pred: Tensor) -> float:
    """Root mean squared error over all non-missing targets (mean over tasks)."""
    t, p = _masked(y_true, y_pred)
    per_task = [math.sqrt(np.mean((t[:, i] - p[:, i])[~np.isnan(t[:, i])] ** 2))
                for i in range(t.shape[1]) if (~np.isnan(t[:, i])).any()]
    return float(np.mean(per_task))


def mae(y_true: Tensor, y_pred: Tensor) -> float:
    """Mean absolute error over all non-missing targets."""
    t, p = _masked(y_true, y_pred)
    keep = ~np.isnan(t)
    return float(np.abs(t[keep] - p[keep]).mean())


def _per_task(score: Callable, y_true: Tensor, y_pred: Tensor) -> float:
    t, p = _masked(y_true, y_pred)
    values = []
    for i in range(t.shape[1]):
        keep = ~np.isnan(t[:, i])
        if keep.any() and len(np.unique(t[keep, i])) == 2:
            values.append(score(t[keep, i], p[keep, i]))
    if not values:
        raise ValueError("no task has both positive and negative labels in this split")
    return float(np.mean(values))


def rocauc(y_true: Tensor, y_pred: Tensor) -> float:
    """ROC-AUC averaged over tasks that have both classes (as OGB does)."""
    from sklearn.metrics import roc_auc_score

    return _per_task(roc_auc_score, y_true, y_pred)


def average_precision(y_true: Tensor, y_pred: Tensor) -> float:
    """Average precision averaged over tasks that have both classes."""
    from sklearn.metrics import average_precision_score

    return _per_task(average_precision_score, y_true, y_pred)


METRICS: dict[str, tuple[Callable[[Tensor, Tensor], float], bool]] = {
    "accuracy": (accuracy, True),
    "rmse": (rmse, False),
    "mae": (mae, False),
    "rocauc": (rocauc, True),
    "ap": (average_precision, True),
}
"""Metric name -> (function, higher_is_better)."""


def compute(name: str, y_true: Tensor, y_pred: Tensor) -> float:
    """Compute metric ``name``; raises ValueError for an unknown name."""
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; known: {', '.join(sorted(METRICS))}")
    with torch.no_grad():
        return METRICS[name][0](y_true, y_pred)
