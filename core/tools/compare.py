"""``wlkit compare``: finished runs (or every trial of a sweep) side by side, with tests.

Each run directory contributes one row: its name, the pipeline values that differ between
the compared runs (read from every ``pipeline.resolved.yaml``), valid and test mean ± the
unbiased std over its scored seeds, the seed count, the parameter count and the summed
training time of its seeds. Runs are grouped by dataset (name and metric): within a group,
each run is tested against the group's best run with Welch's t-test (unequal variances,
two-sided, ``scipy.stats.ttest_ind(equal_var=False)``) on the per-seed scores, per split.

Folders ``wlkit separate`` wrote (``separation_all.json`` or ``separation.json``) give the
policy x suite separation matrix instead (:mod:`wlkit.tools.separation_matrix`).

A sweep folder (one holding ``sweep.json``, as ``wlkit sweep`` writes it) stands for every
trial subfolder in it that is a run directory. A trial without ``summary.json`` (unfinished
or failed) is listed as skipped, never dropped silently.

``--by PARAM`` pivots the runs into a PARAM x PARAM table of one split's mean ± std.
The printed table also goes into ``compare.md``; every number into ``compare.json``; the
bars with their error bars, one panel per dataset, into ``compare.png``.
"""

from __future__ import annotations

import io
import json
import math
import re
import statistics
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from wlkit.errors import WlkitError
from wlkit.io import atomic_write_bytes, atomic_write_json, atomic_write_text
from wlkit.tools.tables import format_table

SPLITS = ("valid", "test")
SORT_KEYS = ("input", "name", "valid", "test", "params", "time")
# Pipeline values that never count as "varied": the run's name and output settings say
# nothing about the model, and the seeds have their own column.
IGNORED = ("name", "seeds", "output")
MISSING = "-"


@dataclass
class RunRow:
    """One finished run as the comparison reads it."""

    path: Path
    label: str
    dataset: str
    metric: str
    higher_is_better: bool
    scores: dict[str, list[float]]
    seeds: int
    failed_seeds: int
    num_params: int | None
    train_seconds: float | None
    config: dict[str, Any]
    wall_seconds: float | None = None
    params: dict[str, str] = field(default_factory=dict)
    p_values: dict[str, float | None] = field(default_factory=dict)

    @property
    def group(self) -> str:
        return f"{self.dataset} ({self.metric})"

    def mean(self, split: str) -> float | None:
        values = self.scores[split]
        return statistics.fmean(values) if values else None

    def std(self, split: str) -> float | None:
        values = self.scores[split]
        return statistics.stdev(values) if len(values) > 1 else None  # unbiased (n - 1)


# -- reading -------------------------------------------------------------------------------


def is_sweep_dir(path: Path) -> bool:
    """A sweep folder: ``sweep.json`` beside trial subfolders that are run directories."""
    return (path / "sweep.json").is_file()


def _is_run_dir(path: Path) -> bool:
    return (path / "summary.json").is_file() or (path / "pipeline.resolved.yaml").is_file()


def _natural(name: str) -> list[tuple[int, int | str]]:
    # trial_2 before trial_10
    return [(0, int(part)) if part.isdigit() else (1, part)
            for part in re.split(r"(\d+)", name) if part]


def expand(paths: Sequence[str | Path]) -> tuple[list[Path], list[dict[str, str]]]:
    """Run directories of ``paths`` (a sweep folder: its trials) and the skipped trials.

    Raises
    ------
    WlkitError
        A path is missing, or neither a run directory nor a sweep folder, or a run
        directory given by name is unfinished, or a sweep has no finished trial.
    """
    runs: list[Path] = []
    skipped: list[dict[str, str]] = []
    for given in paths:
        path = Path(given)
        if not path.is_dir():
            raise WlkitError(f"{path}: no such run directory or sweep folder\n    hint: pass "
                             "folders `wlkit run` or `wlkit sweep` wrote")
        if is_sweep_dir(path):
            trials = sorted((p for p in path.iterdir() if p.is_dir() and _is_run_dir(p)),
                            key=lambda p: _natural(p.name))
            finished = [t for t in trials if (t / "summary.json").is_file()]
            skipped += [{"path": str(t), "reason": "no summary.json (unfinished or failed "
                                                   "trial)"}
                        for t in trials if t not in finished]
            if not finished:
                raise WlkitError(f"{path}: the sweep has no finished trial (no "
                                 "<trial>/summary.json)\n    hint: wait for the sweep, or "
                                 "resume it")
            runs += finished
        elif (path / "summary.json").is_file():
            runs.append(path)
        elif (path / "pipeline.resolved.yaml").is_file():
            raise WlkitError(f"{path}: the run has no summary.json (unfinished or failed)\n"
                             "    hint: resume it with `wlkit run "
                             f"{path}/pipeline.resolved.yaml --resume {path}`")
        else:
            inside = sorted(p.name for p in path.iterdir() if p.is_dir() and _is_run_dir(p))
            hint = (f"it holds run directories ({', '.join(inside[:3])}"
                    f"{', ...' if len(inside) > 3 else ''}): pass them, e.g. wlkit compare "
                    f"{path}/*" if inside else
                    "pass folders `wlkit run` or `wlkit sweep` wrote")
            raise WlkitError(f"{path}: not a run directory (no summary.json) nor a sweep "
                             f"folder (no sweep.json)\n    hint: {hint}")
    unique = list(dict.fromkeys(p.resolve() for p in runs))
    if len(unique) != len(runs):
        raise WlkitError("a run is given twice (directly and through its sweep?)\n    hint: "
                         "name each run or sweep once")
    return runs, skipped


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WlkitError(f"{path}: unreadable ({exc})\n    hint: the run directory is "
                         "damaged; run it again") from None


def _read_config(run_dir: Path) -> dict[str, Any]:
    from wlkit.pipeline.yamlio import safe_load

    path = run_dir / "pipeline.resolved.yaml"
    if not path.is_file():
        return {}  # varied parameters then show '-' for this run
    try:
        data = safe_load(path.read_text(encoding="utf-8"))
    except Exception as exc:  # yaml.YAMLError, UnicodeDecodeError
        raise WlkitError(f"{path}: not a readable pipeline ({type(exc).__name__})\n    hint: "
                         "the run directory is damaged; run it again") from None
    return data if isinstance(data, dict) else {}


def _train_seconds(run_dir: Path, seeds: list[Any]) -> float | None:
    total, found = 0.0, False
    for seed in seeds:
        path = run_dir / f"seed_{seed}" / "metrics.json"
        try:
            value = json.loads(path.read_text(encoding="utf-8")).get("train_seconds")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(value, (int, float)):
            total, found = total + float(value), True
    return total if found else None


def load_row(run_dir: Path) -> RunRow:
    """One run directory's row (its label is set by :func:`compare`)."""
    path = run_dir / "summary.json"
    summary = _read_json(path)
    try:
        per_seed = summary["per_seed"]
        scores = {split: [float(r[split]) for r in per_seed if r.get(split) is not None]
                  for split in SPLITS}
        metric, higher = str(summary["metric"]), bool(summary["higher_is_better"])
    except (KeyError, TypeError, ValueError) as exc:
        raise WlkitError(f"{path}: not a wlkit summary (missing or bad {exc})\n    hint: "
                         "pass folders `wlkit run` wrote") from None
    seeds = [r.get("seed") for r in per_seed]
    return RunRow(path=run_dir, label=run_dir.name, dataset=str(summary.get("dataset")),
                  metric=metric, higher_is_better=higher, scores=scores,
                  seeds=len(scores["test"]),
                  failed_seeds=len(per_seed) - len(scores["test"]),
                  num_params=summary.get("num_params"),
                  train_seconds=_train_seconds(run_dir, seeds),
                  config=_read_config(run_dir),
                  wall_seconds=summary.get("wall_seconds"))


# -- varied parameters ---------------------------------------------------------------------


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """``{model: {hidden: 16}}`` -> ``{"model.hidden": "16"}``; lists as JSON text."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if not prefix and key in IGNORED:
            continue
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = _scalar(value)
    return flat


def _scalar(value: Any) -> str:
    # as the pipeline YAML writes it: null, true/false, lists and mappings in flow style
    if value is None or isinstance(value, (bool, list, dict)):
        return json.dumps(value, default=str)
    return str(value)


def varied_parameters(rows: list[RunRow]) -> list[str]:
    """The flattened pipeline keys whose values are not the same in every run.

    A component's own parameters (``dataset.fold``) are left out where the component
    itself differs (``dataset.name``): they belong to different components, and
    ``dataset.name`` already tells the runs apart.
    """
    flats = [flatten(r.config) for r in rows]
    keys = list(dict.fromkeys(k for flat in flats for k in flat))
    varied = [k for k in keys if len({flat.get(k, MISSING) for flat in flats}) > 1]
    renamed = {k[:-len(".name")] for k in varied if k.endswith(".name")}
    varied = [k for k in varied
              if not any(k.startswith(f"{parent}.") and k != f"{parent}.name"
                         for parent in renamed)]
    for row, flat in zip(rows, flats):
        row.params = {k: flat.get(k, MISSING) for k in varied}
    return varied


# -- statistics ----------------------------------------------------------------------------


def welch_p(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided p-value of Welch's t-test of ``a`` against ``b``; None where undefined.

    Undefined: fewer than two scores on either side, or no spread in both (scipy's NaN).
    """
    from scipy import stats

    if len(a) < 2 or len(b) < 2:
        return None
    def flat(xs: Sequence[float]) -> bool:  # rounding-level spread counts as none
        return max(xs) - min(xs) <= 1e-12 * max(1.0, abs(max(xs)))

    if flat(a) and flat(b):
        return None  # no spread on either side: undefined (scipy warns, then gives NaN)
    with warnings.catch_warnings():  # one side without spread: scipy warns, the p is fine
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    return None if math.isnan(p) else p


def _best(rows: list[RunRow], split: str) -> RunRow | None:
    scored = [r for r in rows if r.mean(split) is not None]
    if not scored:
        return None
    pick = max if scored[0].higher_is_better else min
    return pick(scored, key=lambda r: r.mean(split))


def _groups(rows: list[RunRow]) -> dict[str, list[RunRow]]:
    groups: dict[str, list[RunRow]] = {}
    for row in rows:
        groups.setdefault(row.group, []).append(row)
    return groups


def _sort(rows: list[RunRow], key: str) -> list[RunRow]:
    if key == "input":
        return rows
    if key == "name":
        return sorted(rows, key=lambda r: r.label)
    if key in SPLITS:
        def best_first(r: RunRow) -> tuple[bool, float]:
            mean = r.mean(key)
            if mean is None:
                return (True, 0.0)
            return (False, -mean if r.higher_is_better else mean)
        return sorted(rows, key=best_first)
    attr = "num_params" if key == "params" else "train_seconds"
    return sorted(rows, key=lambda r: (getattr(r, attr) is None, getattr(r, attr) or 0))


# -- formatting ----------------------------------------------------------------------------


def _mean_std(row: RunRow, split: str) -> str:
    mean, std = row.mean(split), row.std(split)
    if mean is None:
        return MISSING
    return f"{mean:.4f}" + (f" ± {std:.4f}" if std is not None else "")


def _p(row: RunRow, split: str, best: RunRow | None) -> str:
    if best is None:
        return MISSING
    if row is best:
        return "best"
    p = row.p_values.get(split)
    return MISSING if p is None else f"{p:.3g}"


def _table(rows: list[RunRow], varied: list[str],
           best: dict[str, dict[str, RunRow | None]]) -> tuple[list[str], list[list[str]]]:
    metrics = {r.metric for r in rows}
    one = len(metrics) == 1
    metric = f" {next(iter(metrics))}" if one else ""
    header = ["name", *varied, *([] if one else ["metric"]), f"valid{metric}", "p valid",
              f"test{metric}", "p test", "seeds", "#params", "train s", "wall s"]
    body = []
    for r in rows:
        seeds = str(r.seeds) + (f" ({r.failed_seeds} failed)" if r.failed_seeds else "")
        body.append([r.label, *(r.params[k] for k in varied), *([] if one else [r.metric]),
                     _mean_std(r, "valid"), _p(r, "valid", best[r.group]["valid"]),
                     _mean_std(r, "test"), _p(r, "test", best[r.group]["test"]), seeds,
                     f"{r.num_params:,}" if isinstance(r.num_params, int) else MISSING,
                     f"{r.train_seconds:.1f}" if r.train_seconds is not None else MISSING,
                     f"{r.wall_seconds:.1f}" if r.wall_seconds is not None else MISSING])
    return header, body


def _markdown(header: list[str], body: list[list[str]], align: str) -> list[str]:
    def cells(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in row) + " |"
    rule = "|" + "|".join(":---" if a == "l" else "---:" for a in align) + "|"
    return [cells(header), rule, *(cells(row) for row in body)]


# -- pivot ---------------------------------------------------------------------------------


def _check_param(name: str, varied: list[str]) -> None:
    if name in varied:
        return
    close = get_close_matches(name, varied, n=1)
    hint = (f"did you mean {close[0]!r}? " if close else "") + (
        f"varied parameters: {', '.join(varied)}" if varied else
        "the runs differ in no pipeline value")
    raise WlkitError(f"--by {name}: not a parameter that varies between the runs\n    hint: "
                     f"{hint}")


def _values_order(rows: list[RunRow], key: str) -> list[str]:
    values = list(dict.fromkeys(r.params[key] for r in rows))

    def numeric(text: str) -> tuple[int, float, str]:
        try:
            return (0, float(text), text)
        except ValueError:
            return (1, 0.0, text)
    return sorted(values, key=numeric)


def pivot(rows: list[RunRow], varied: list[str], by: Sequence[str],
          split: str = "test") -> dict[str, Any]:
    """``split``'s mean ± std of each run, rows by ``by[0]``, columns by ``by[1]``.

    With one ``--by``, the columns are the other varied parameter (when exactly one other
    varies) or the split alone.

    Raises
    ------
    WlkitError
        A ``--by`` that does not vary, too many of them, several runs landing in one cell
        (they differ in a parameter not pivoted on), or a pivot without a choice of columns.
    """
    if len(by) > 2:
        raise WlkitError(f"--by given {len(by)} times\n    hint: a pivot has rows and "
                         "columns: give --by ROW_PARAM [--by COLUMN_PARAM]")
    for name in by:
        _check_param(name, varied)
    if len(set(by)) != len(by):
        raise WlkitError(f"--by {by[0]} given twice\n    hint: --by ROW_PARAM --by "
                         "COLUMN_PARAM with two different parameters")
    row_key = by[0]
    others = [k for k in varied if k != row_key]
    if len(by) == 2:
        col_key = by[1]
    elif len(others) == 1:
        col_key = others[0]
    elif not others:
        col_key = None
    else:
        raise WlkitError(f"--by {row_key}: {len(others)} other parameters vary "
                         f"({', '.join(others)}), so the columns are not clear\n    hint: "
                         "add a second --by COLUMN_PARAM")
    row_values = _values_order(rows, row_key)
    col_values = _values_order(rows, col_key) if col_key else [split]
    cells: dict[tuple[str, str], RunRow] = {}
    for r in rows:
        where = (r.params[row_key], r.params[col_key] if col_key else split)
        if where in cells:
            rest = [k for k in varied if k not in by and r.params[k] != cells[where].params[k]]
            raise WlkitError(f"--by {' --by '.join(by)}: runs {cells[where].label!r} and "
                             f"{r.label!r} fall into one cell ({row_key}={where[0]}"
                             + (f", {col_key}={where[1]}" if col_key else "") + ")"
                             + (f"; they differ in {', '.join(rest)}" if rest else "")
                             + "\n    hint: pivot on those parameters too, or compare fewer "
                             "runs")
        cells[where] = r
    header = [f"{row_key} \\ {col_key}" if col_key else row_key, *col_values]
    body = [[value, *(_mean_std(cells[(value, c)], split) if (value, c) in cells else MISSING
                      for c in col_values)] for value in row_values]
    table = {f"{rv}": {cv: ({"run": cells[(rv, cv)].label,
                            "mean": cells[(rv, cv)].mean(split),
                            "std": cells[(rv, cv)].std(split)}
                           if (rv, cv) in cells else None) for cv in col_values}
             for rv in row_values}
    return {"rows": row_key, "columns": col_key, "split": split, "header": header,
            "body": body, "cells": table}


# -- plot ----------------------------------------------------------------------------------


def draw(rows: list[RunRow], path: Path) -> Path:
    """Bars of valid and test mean with unbiased-std error bars, one panel per dataset."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    groups = _groups(rows)
    widest = max(len(g) for g in groups.values())
    fig = Figure(figsize=(max(4.0, 1.0 + 0.7 * widest) * len(groups), 4.2))
    axes = fig.subplots(1, len(groups), squeeze=False)[0]
    for ax, (name, members) in zip(axes, groups.items()):
        positions = range(len(members))
        for offset, split, colour in ((-0.2, "valid", "tab:blue"), (0.2, "test", "tab:orange")):
            means = [r.mean(split) for r in members]
            stds = [r.std(split) or 0.0 for r in members]
            ax.bar([p + offset for p in positions],
                   [m if m is not None else 0.0 for m in means], width=0.4, yerr=stds,
                   capsize=3, color=colour, alpha=0.85, label=split)
        ax.set_xticks(list(positions))
        ax.set_xticklabels([r.label for r in members], rotation=30, ha="right", fontsize=8)
        arrow = "higher is better" if members[0].higher_is_better else "lower is better"
        ax.set_title(f"{name}: {arrow}", fontsize=9)
        ax.set_ylabel(members[0].metric)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return atomic_write_bytes(path, buffer.getvalue())


# -- the command ---------------------------------------------------------------------------


def default_out(paths: Sequence[str | Path]) -> Path:
    """Where the files go without ``--out``: the sweep folder when the one path given is a
    sweep, else the current folder (the files then compare runs of different origins)."""
    if len(paths) == 1 and is_sweep_dir(Path(paths[0])):
        return Path(paths[0])
    return Path(".")


def compare(paths: Sequence[str | Path], *, out: str | Path | None = None,
            sort: str = "input", by: Sequence[str] = (), split: str = "test",
            plot: bool = True) -> dict[str, Any]:
    """Compare finished runs and sweeps; write ``compare.md``, ``compare.json`` and
    ``compare.png`` (atomically) into ``out``.

    Parameters
    ----------
    paths : sequence of path
        Run directories and sweep folders (a sweep stands for its trials).
    out : path, optional
        The folder of the three files (it must exist). Default: see :func:`default_out`.
    sort : {"input", "name", "valid", "test", "params", "time"}
        Row order within each dataset: as given, by name, best valid or test mean first,
        fewest parameters or shortest training first.
    by : sequence of str
        One or two varied parameters to pivot on (rows, then columns).
    split : {"valid", "test"}
        The split the pivot shows.
    plot : bool
        Whether to draw ``compare.png``.

    Returns
    -------
    dict
        What ``compare.json`` holds, plus ``lines`` (the printed text) and ``files``.
    """
    if not paths:
        raise WlkitError("no run given\n    hint: wlkit compare RUN_OR_SWEEP [...]")
    if sort not in SORT_KEYS:
        raise WlkitError(f"unknown --sort {sort!r}\n    hint: one of {', '.join(SORT_KEYS)}")
    if split not in SPLITS:
        raise WlkitError(f"unknown --split {split!r}\n    hint: one of {', '.join(SPLITS)}")
    folder = Path(out) if out is not None else default_out(paths)
    if not folder.is_dir():
        raise WlkitError(f"{folder}: no such folder\n    hint: create it, or pass another "
                         "--out")
    from wlkit.tools import separation_matrix

    kinds = [separation_matrix.is_separation_dir(p) for p in paths]
    if any(kinds):
        if by:
            raise WlkitError("--by pivots training runs; separation folders have no varied "
                             "parameters\n    hint: drop --by")
        if not all(kinds):
            mixed = next(p for p, k in zip(paths, kinds) if not k)
            raise WlkitError(f"{mixed}: not a `wlkit separate` folder, while other paths "
                             "are\n    hint: compare separation folders or training runs, "
                             "not both at once")
        return separation_matrix.compare_separations(paths, folder, plot=plot)
    run_dirs, skipped = expand(paths)
    rows = [load_row(p) for p in run_dirs]
    labels = [r.label for r in rows]
    for r in rows:  # two trials or runs of one name: the path tells them apart
        if labels.count(r.label) > 1:
            r.label = str(r.path)
    varied = varied_parameters(rows)
    groups = _groups(rows)
    best: dict[str, dict[str, RunRow | None]] = {}
    ordered: list[RunRow] = []
    for name, members in groups.items():
        best[name] = {split_: _best(members, split_) for split_ in SPLITS}
        for r in members:
            for split_ in SPLITS:
                top = best[name][split_]
                r.p_values[split_] = (welch_p(r.scores[split_], top.scores[split_])
                                      if top is not None and r is not top else None)
        ordered += _sort(members, sort)
    header, body = _table(ordered, varied, best)
    align = "l" + "l" * len(varied) + "r" * (len(header) - 1 - len(varied))
    table_pivot = pivot(ordered, varied, by, split) if by else None

    lines = [f"compare: {len(rows)} run(s), {len(groups)} dataset(s); p: Welch's t-test of "
             "each run's seeds against the best run's, per dataset and split"]
    lines += format_table(header, body, align=align, rules=[0], strip=True)
    if table_pivot:
        lines += ["", f"{split} mean ± std by {table_pivot['rows']}"
                  + (f" and {table_pivot['columns']}" if table_pivot["columns"] else "")]
        lines += format_table(table_pivot["header"], table_pivot["body"], rules=[0],
                              strip=True)
    for entry in skipped:
        lines.append(f"skipped {entry['path']}: {entry['reason']}")

    md = ["# wlkit compare", "",
          "Mean ± unbiased std over each run's scored seeds. p: two-sided Welch's t-test "
          "(scipy.stats.ttest_ind, equal_var=False) of the run's per-seed scores against "
          "the best run of its dataset, per split; '-' where a side has fewer than two "
          "seeds or neither side varies. train s: the seeds' training time summed "
          "(train_seconds of seed_*/metrics.json); wall s: the whole `wlkit run` "
          "(wall_seconds of summary.json; its last invocation when resumed).", ""]
    md += _markdown(header, body, align)
    if table_pivot:
        md += ["", f"## {split} by {table_pivot['rows']}"
               + (f" and {table_pivot['columns']}" if table_pivot["columns"] else ""), ""]
        md += _markdown(table_pivot["header"], table_pivot["body"],
                        "l" + "r" * (len(table_pivot["header"]) - 1))
    if skipped:
        md += ["", "Skipped:", ""] + [f"- {e['path']}: {e['reason']}" for e in skipped]

    report = {
        "runs": [{"name": r.label, "path": str(r.path), "dataset": r.dataset,
                  "metric": r.metric, "higher_is_better": r.higher_is_better,
                  "params": r.params,
                  **{f"{s}_mean": r.mean(s) for s in SPLITS},
                  **{f"{s}_std": r.std(s) for s in SPLITS},
                  **{f"{s}_scores": r.scores[s] for s in SPLITS},
                  **{f"{s}_p": r.p_values.get(s) for s in SPLITS},
                  "seeds": r.seeds, "failed_seeds": r.failed_seeds,
                  "num_params": r.num_params, "train_seconds": r.train_seconds,
                  "wall_seconds": r.wall_seconds}
                 for r in ordered],
        "varied": varied,
        "best": {name: {s: (b.label if b else None) for s, b in splits.items()}
                 for name, splits in best.items()},
        "test": "Welch's t-test, two-sided: scipy.stats.ttest_ind(run, best, "
                "equal_var=False), per dataset and split",
        "sort": sort,
        "pivot": ({k: v for k, v in table_pivot.items() if k not in ("header", "body")}
                  if table_pivot else None),
        "skipped": skipped,
    }
    files = [atomic_write_text(folder / "compare.md", "\n".join(md) + "\n"),
             atomic_write_json(folder / "compare.json", report)]
    if plot:
        files.append(draw(ordered, folder / "compare.png"))
    return {**report, "lines": lines, "files": [str(f) for f in files]}
