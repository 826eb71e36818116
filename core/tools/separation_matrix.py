"""``wlkit compare`` on ``wlkit separate`` folders: one policy x suite matrix.

Each folder is one ``wlkit separate`` output: ``separation_all.json`` (``--suite all``, every
suite it ran) or ``separation.json`` (one suite). Folders of the same pipeline run with the
same test settings (trained or not, float32 or float64) fill one row, so a ``--suite all``
run and separate EXP and CEXP runs make one line; a suite given twice for one row is an
error naming both folders, never a silent choice.

A cell reads ``model [oracle]``: the model's reliable separations and its reference
oracle's (the policy's declared oracle, else the model's bound; the oracle is left out where
none bounds the model, e.g. random features). After it, in parentheses, what else the
verdicts say: pairs separated only by the float64 re-test (``f64``), unreliable pairs, pairs
separated beyond the oracle (a bug: never expected) and the reasons of pairs the oracle
separates and the model misses (``depth``, ``precision``, ``unexplained``, ...).
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wlkit.errors import WlkitError
from wlkit.io import atomic_write_bytes, atomic_write_json, atomic_write_text

# Column order: the generated suites, then the file suites; others (registered by a
# plugin) follow in the order met.
SUITE_ORDER = ("classic", "csl", "cfi", "regular", "sr", "dr", "4vtx", "exp", "cexp",
               "sr25", "brec")
FILES = ("separation_all.json", "separation.json")


def is_separation_dir(path: str | Path) -> bool:
    """A folder ``wlkit separate`` wrote (``separation_all.json`` or ``separation.json``)."""
    return any((Path(path) / name).is_file() for name in FILES)


@dataclass
class SuiteCell:
    """One suite's verdict counts in one row."""

    suite: str
    pairs: int
    separated: int
    oracle: str | None
    oracle_count: int | None
    float64: int
    unreliable: int
    violations: int
    reasons: dict[str, int]
    source: Path

    def head(self) -> str:
        """``model [oracle]``, or ``model`` where no oracle bounds the model."""
        return str(self.separated) if self.oracle_count is None else (
            f"{self.separated} [{self.oracle_count}]")

    def text(self) -> str:
        head = self.head()
        notes = []
        if self.float64:
            notes.append(f"{self.float64} f64")
        if self.unreliable:
            notes.append(f"{self.unreliable} unreliable")
        if self.violations:
            notes.append(f"{self.violations} beyond the oracle")
        notes += [f"{n} {reason}" for reason, n in sorted(self.reasons.items()) if n]
        return head + (f" ({'; '.join(notes)})" if notes else "")


@dataclass
class MatrixRow:
    """One pipeline under one test setting."""

    label: str
    pipeline: str
    settings: dict[str, Any]
    cells: dict[str, SuiteCell] = field(default_factory=dict)
    stopped: dict[str, str] = field(default_factory=dict)  # suite -> why its run stopped
    seconds: float = 0.0
    commands: list[str] = field(default_factory=list)


def _cell(suite: str, entry: dict[str, Any], source: Path) -> SuiteCell:
    overall = entry["overall"]
    reference = entry.get("reference_oracle")
    oracles = overall.get("oracles", {})
    return SuiteCell(
        suite=suite, pairs=int(overall["pairs"]), separated=int(overall["separated"]),
        oracle=reference, oracle_count=(int(oracles[reference])
                                        if reference in oracles else None),
        float64=int(overall.get("float64", 0)), unreliable=int(overall["unreliable"]),
        violations=len(entry.get("violations") or ()),
        reasons={k: int(v) for k, v in overall.get("reasons", {}).items()}, source=source)


def load_folder(path: str | Path) -> tuple[str, dict[str, Any], dict[str, SuiteCell],
                                            float, str, dict[str, str]]:
    """The pipeline name, settings, cells per suite, seconds, command and the suites whose
    run stopped (``--suite all``: skipped with ``stopped: <why>``) of one folder.

    Raises
    ------
    WlkitError
        The folder holds neither file, or the file is not valid JSON of the expected shape.
    """
    folder = Path(path)
    for name in FILES:
        file = folder / name
        if file.is_file():
            break
    else:
        raise WlkitError(f"{folder}: no separation_all.json or separation.json in it\n    "
                         "hint: pass folders `wlkit separate` wrote")
    try:
        data = json.loads(file.read_text())
        suites = (data["suites"] if name == FILES[0] else
                  {data["suite"]: {**data, "violations": data.get("violations")}})
        cells = {s: _cell(s, entry, file) for s, entry in suites.items()}
        stopped = {str(e["suite"]): str(e["reason"]) for e in data.get("skipped") or ()
                   if str(e.get("reason", "")).startswith("stopped:")}
        return (str(data["pipeline"]), dict(data.get("settings") or {}), cells,
                float(data.get("seconds") or 0.0), str(data.get("command", "")), stopped)
    except (ValueError, KeyError, TypeError) as exc:
        raise WlkitError(f"{file}: not a readable `wlkit separate` result ({exc!r})\n"
                         "    hint: the run may have been interrupted; run it again") from None


def _label(pipeline: str, settings: dict[str, Any]) -> str:
    tags = [t for t, on in (("trained", settings.get("trained")),
                            ("float64", settings.get("dtype") == "float64")) if on]
    return pipeline + (f" ({', '.join(tags)})" if tags else "")


def build_rows(paths: Sequence[str | Path]) -> list[MatrixRow]:
    """The matrix rows of ``paths``, in the order their pipelines first appear."""
    if not paths:
        raise WlkitError("no separation folder given\n    hint: wlkit compare SEPARATE_DIR "
                         "[...]")
    rows: dict[str, MatrixRow] = {}
    for path in paths:
        pipeline, settings, cells, seconds, command, stopped = load_folder(path)
        label = _label(pipeline, settings)
        row = rows.setdefault(label, MatrixRow(label, pipeline, settings))
        for suite, cell in cells.items():
            if suite in row.cells:
                raise WlkitError(
                    f"{label}: suite {suite!r} is in both {row.cells[suite].source} and "
                    f"{cell.source}\n    hint: pass one result per pipeline and suite")
            row.cells[suite] = cell
            row.stopped.pop(suite, None)
        for suite, reason in stopped.items():
            if suite not in row.cells:
                row.stopped[suite] = reason
        row.seconds += seconds
        if command:
            row.commands.append(command)
    return list(rows.values())


def columns(rows: Sequence[MatrixRow]) -> list[tuple[str, int]]:
    """The suites met, in :data:`SUITE_ORDER` then first-met order, with their pair count
    (the largest met: a ``--limit`` run has fewer)."""
    met = list(dict.fromkeys(s for r in rows for s in [*r.cells, *r.stopped]))
    ordered = [s for s in SUITE_ORDER if s in met] + [s for s in met if s not in SUITE_ORDER]
    return [(s, max((r.cells[s].pairs for r in rows if s in r.cells), default=0))
            for s in ordered]


def _missing(row: MatrixRow, suite: str) -> str:
    return "stopped" if suite in row.stopped else "-"


def matrix_markdown(rows: Sequence[MatrixRow]) -> list[str]:
    """The matrix as a Markdown table: a row per pipeline, its oracle, a cell per suite."""
    cols = columns(rows)
    head = ["pipeline", "oracle", *(f"{s} ({n})" for s, n in cols)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        oracles = list(dict.fromkeys(c.oracle or "none" for c in r.cells.values()))
        cells = []
        for s, n in cols:
            cell = r.cells.get(s)
            text = _missing(r, s) if cell is None else cell.text()
            if cell is not None and cell.pairs < n:
                text += f" of {cell.pairs}"
            cells.append(text)
        lines.append("| " + " | ".join([r.label, ", ".join(oracles), *cells]) + " |")
    return lines


def draw(rows: Sequence[MatrixRow], path: Path) -> Path:
    """A heat map of the fraction of pairs separated (cell text: ``model [oracle]``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cols = columns(rows)
    values = np.full((len(rows), len(cols)), np.nan)
    for i, r in enumerate(rows):
        for j, (s, _) in enumerate(cols):
            if s in r.cells and r.cells[s].pairs:
                values[i, j] = r.cells[s].separated / r.cells[s].pairs
    fig, ax = plt.subplots(figsize=(1.1 * len(cols) + 3.5, 0.45 * len(rows) + 1.5))
    ax.imshow(values, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    for i, r in enumerate(rows):
        for j, (s, _) in enumerate(cols):
            cell = r.cells.get(s)
            label = _missing(r, s) if cell is None else cell.head()
            ax.text(j, i, label, ha="center", va="center", fontsize=7,
                    color="white" if np.isnan(values[i, j]) or values[i, j] < 0.6 else "black")
    ax.set_xticks(range(len(cols)), [f"{s}\n({n})" for s, n in cols], fontsize=8)
    ax.set_yticks(range(len(rows)), [r.label for r in rows], fontsize=8)
    ax.set_title("pairs separated: model [reference oracle]; colour: fraction of the suite",
                 fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())


def compare_separations(paths: Sequence[str | Path], out: Path, *,
                        plot: bool = True) -> dict[str, Any]:
    """Write ``compare.md``, ``compare.json`` and ``compare.png`` of the separation folders
    ``paths`` into ``out``; return the report plus ``lines`` and ``files``."""
    rows = build_rows(paths)
    cols = columns(rows)
    table = matrix_markdown(rows)
    lines = [f"compare: {len(rows)} separation row(s) over {len(cols)} suite(s); cell: "
             "model [reference oracle] (notes)", *table]
    md = ["# wlkit compare: separation", "",
          "A cell is `model [oracle]`: the model's reliable separations (Hotelling's T² "
          "above the threshold, reliability control below it) and its reference oracle's. "
          "In parentheses: pairs separated only by the float64 re-test (f64), unreliable "
          "pairs, separations beyond the oracle, and the reasons of the oracle's pairs the "
          "model misses. 'of N': the run covered N pairs (`--limit`). 'stopped': the "
          "suite's run stopped with an error (below).", "", *table, "",
          *[f"- {r.label}, {s}: {why}" for r in rows for s, why in r.stopped.items()], "",
          "Commands:", "", *[f"    {c}" for r in rows for c in r.commands]]
    report = {
        "kind": "separation",
        "suites": [{"suite": s, "pairs": n} for s, n in cols],
        "rows": [{"label": r.label, "pipeline": r.pipeline, "settings": r.settings,
                  "stopped": r.stopped,
                  "seconds": r.seconds, "commands": r.commands,
                  "cells": {s: {"pairs": c.pairs, "separated": c.separated,
                                "oracle": c.oracle, "oracle_count": c.oracle_count,
                                "float64": c.float64, "unreliable": c.unreliable,
                                "violations": c.violations, "reasons": c.reasons,
                                "text": c.text(), "source": str(c.source)}
                            for s, c in r.cells.items()}}
                 for r in rows],
    }
    files = [atomic_write_text(out / "compare.md", "\n".join(md) + "\n"),
             atomic_write_json(out / "compare.json", report)]
    if plot:
        files.append(draw(rows, out / "compare.png"))
    return {**report, "lines": lines, "files": [str(f) for f in files]}
