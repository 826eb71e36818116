"""Learning curves from each seed's ``metrics.csv`` (Lightning's CSVLogger), drawn as PNG.

The runner writes ``curves.png`` at the end of every run; ``wlkit plot`` redraws it or
overlays several runs (``wlkit.tools.plot``). Both draw with :func:`draw_curves`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from wlkit.errors import WlkitError
from wlkit.io import atomic_write_bytes

DEFAULT_METRICS: tuple[str, ...] = ("train_loss", "valid_metric")
"""The panels of ``curves.png``; ``train_metric`` joins the metric panel when it was logged."""

_SEED_DIR = re.compile(r"seed_(\d+)$")


@dataclass
class RunCurves:
    """One run's per-epoch values: ``seeds[seed][column] = [(epoch, value), ...]``."""

    label: str
    run_dir: Path
    metric: str | None = None
    higher_is_better: bool | None = None
    seeds: dict[int, dict[str, list[tuple[int, float]]]] = field(default_factory=dict)
    best_epochs: dict[int, int] = field(default_factory=dict)

    def columns(self) -> list[str]:
        """Every column logged by some seed, in first-seen order."""
        seen: dict[str, None] = {}
        for table in self.seeds.values():
            seen.update(dict.fromkeys(table))
        return list(seen)


def read_metrics_csv(path: Path) -> dict[str, list[tuple[int, float]]]:
    """Per column, one ``(epoch, value)`` per epoch from a CSVLogger file.

    Lightning writes the epoch's train loss and its validation score on separate rows; a
    resumed fit can log an epoch twice, and then the later value wins.
    """
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise WlkitError(f"{path}: cannot read the metrics log ({exc})\n    hint: it is "
                         "written by `wlkit run` in every seed folder") from None
    table: dict[str, dict[int, float]] = {}
    for row in rows:
        try:
            epoch = int(float(row.get("epoch") or ""))
        except ValueError:
            continue
        for column, raw in row.items():
            if column in ("epoch", "step") or column is None or raw in (None, ""):
                continue
            try:
                value = float(raw)
            except ValueError:
                continue
            table.setdefault(column, {})[epoch] = value
    return {column: sorted(values.items()) for column, values in table.items()}


def load_run_curves(run_dir: str | Path, label: str | None = None) -> RunCurves:
    """The curves of every seed in ``run_dir`` (``seed_<s>/metrics.csv``).

    Raises
    ------
    WlkitError
        ``run_dir`` is not a folder, or no seed in it has a metrics log.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise WlkitError(f"{run_dir}: no such run directory\n    hint: pass the folder "
                         "`wlkit run` printed (it holds summary.json and seed_*/)")
    curves = RunCurves(label or _default_label(run_dir), run_dir)
    summary = run_dir / "summary.json"
    if summary.is_file():
        try:
            data = json.loads(summary.read_text())
            curves.metric = data.get("metric")
            curves.higher_is_better = data.get("higher_is_better")
        except (OSError, json.JSONDecodeError, AttributeError):
            pass  # the curves do not need it; the axis label is then generic
    seed_dirs = sorted((p for p in run_dir.iterdir() if _SEED_DIR.match(p.name)),
                       key=lambda p: int(_SEED_DIR.match(p.name).group(1)))
    for seed_dir in seed_dirs:
        log = seed_dir / "metrics.csv"
        if not log.is_file():
            continue
        seed = int(_SEED_DIR.match(seed_dir.name).group(1))
        curves.seeds[seed] = read_metrics_csv(log)
        best = _best_epoch(seed_dir, curves.seeds[seed], curves.higher_is_better)
        if best is not None:
            curves.best_epochs[seed] = best
    if not curves.seeds:
        raise WlkitError(f"{run_dir}: no seed_*/metrics.csv in it\n    hint: pass a run "
                         "directory written by `wlkit run`")
    return curves


def _default_label(run_dir: Path) -> str:
    # runs/<name>/<UTC stamp>/: the pipeline's name says more than the stamp
    return f"{run_dir.parent.name}/{run_dir.name}" if run_dir.parent.name else run_dir.name


def _best_epoch(seed_dir: Path, table: dict[str, list[tuple[int, float]]],
                higher: bool | None) -> int | None:
    """The seed's best epoch: from metrics.json (what best.pt holds), else from the log."""
    try:
        best = json.loads((seed_dir / "metrics.json").read_text()).get("best_epoch")
        if isinstance(best, int):
            return best
    except (OSError, json.JSONDecodeError, AttributeError):
        pass
    values = [(e, v) for e, v in table.get("valid_metric", []) if not math.isnan(v)]
    if not values or higher is None:
        return None
    pick = max if higher else min
    return pick(values, key=lambda item: item[1])[0]


def _axis_label(column: str, metric: str | None) -> str:
    if column == "valid_metric":
        return f"valid {metric}" if metric else "valid metric"
    if column == "train_metric":
        return f"train {metric}" if metric else "train metric"
    return column.replace("_", " ")


def draw_curves(runs: list[RunCurves], path: str | Path,
                metrics: list[str] | tuple[str, ...] | None = None) -> Path:
    """Draw one panel per metric, one line per seed, the best epoch marked; write a PNG.

    Parameters
    ----------
    runs : list of RunCurves
        One run (colour per seed) or several (colour per run, all seeds of a run alike).
    path : str or Path
        The PNG to write (atomically).
    metrics : sequence of str, optional
        Columns of ``metrics.csv``, one panel each. Default: ``train_loss`` and
        ``valid_metric``, with ``train_metric`` drawn dashed beside ``valid_metric`` when
        it was logged (``train.log_train_metric``).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    WlkitError
        A requested metric was logged by none of the runs.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    available = list(dict.fromkeys(c for run in runs for c in run.columns()))
    panels = list(metrics or [m for m in DEFAULT_METRICS if m in available])
    for column in panels:
        if column not in available:
            raise WlkitError(f"metric {column!r} is not in the runs' metrics.csv\n    hint: "
                             f"logged columns: {', '.join(available) or '(none)'}")
    if not panels:
        raise WlkitError("the runs' metrics.csv hold no train_loss or valid_metric\n    hint: "
                         f"choose one with --metric: {', '.join(available) or '(none)'}")
    with_train = metrics is None and "train_metric" in available
    fig = Figure(figsize=(5.2 * len(panels), 3.8))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    colours = matplotlib.colormaps["tab10"]
    several = len(runs) > 1
    for ax, column in zip(axes, panels):
        for r, run in enumerate(runs):
            for s, (seed, table) in enumerate(sorted(run.seeds.items())):
                colour = colours((r if several else s) % 10)
                label = (run.label if s == 0 else None) if several else f"seed {seed}"
                points = table.get(column, [])
                if points:
                    ax.plot([e for e, _ in points], [v for _, v in points], color=colour,
                            lw=1.2 if several else 1.5, alpha=0.8, label=label)
                if column == "valid_metric" and with_train and table.get("train_metric"):
                    train = table["train_metric"]
                    ax.plot([e for e, _ in train], [v for _, v in train], color=colour,
                            lw=1.0, ls="--", alpha=0.7,
                            label=("train (dashed)" if r == 0 and s == 0 else None))
                best = run.best_epochs.get(seed)
                marked = dict(points).get(best) if best is not None else None
                if marked is not None:
                    ax.plot([best], [marked], marker="*", ms=11, color=colour,
                            markeredgecolor="black", ls="none",
                            label=("best epoch" if r == 0 and s == 0 else None))
        metric = runs[0].metric if len({run.metric for run in runs}) == 1 else None
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(_axis_label(column, metric))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    title = runs[0].label if not several else f"{len(runs)} runs"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return atomic_write_bytes(path, buffer.getvalue())


def write_run_curves(run_dir: str | Path) -> Path:
    """Draw ``<run_dir>/curves.png`` from the run's seeds (what the runner does at the end)."""
    run_dir = Path(run_dir)
    return draw_curves([load_run_curves(run_dir)], run_dir / "curves.png")


__all__ = ["DEFAULT_METRICS", "RunCurves", "draw_curves", "load_run_curves",
                      "read_metrics_csv", "write_run_curves"]
