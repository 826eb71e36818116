"""``wlkit leaderboard RUN_DIR``: what the OGB leaderboard submission form asks for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from wlkit.errors import WlkitError

OGB_SEEDS = 10
RULES = (
    "Validation scores only for model selection and hyper-parameter tuning; the test set "
    "only for the final evaluation.",
    f"Report mean and unbiased standard deviation over at least {OGB_SEEDS} seeds "
    "(different random seeds, same hyper-parameters).",
    "Use OGB's official split and Evaluator (wlkit does: get_idx_split and ogb.Evaluator).",
    "Release the code and state the parameter count and hardware.",
)


def parameter_count_notes(dataset: str | None, pipeline_text: str | None) -> list[str]:
    """Why ``num_params`` of an ogbg-mol* model differs from older leaderboard rows.

    ogb's ``AtomEncoder`` has 174 atom-feature rows since ogb 1.2.x; leaderboard rows counted
    in May 2020 (e.g. ogbg-molhiv GIN: 1,885,206) used a table of 173 rows, i.e. ``hidden``
    fewer parameters for the same architecture.
    """
    if not str(dataset or "").startswith("ogbg-mol") or not pipeline_text:
        return []
    try:
        hidden = int(yaml.safe_load(pipeline_text)["model"]["hidden"])
    except (yaml.YAMLError, KeyError, TypeError, ValueError):
        return []
    return [f"#params counts every parameter (sum of p.numel()) with the installed ogb's "
            f"AtomEncoder, whose atom-feature table has 174 rows. Leaderboard rows counted in "
            f"May 2020 with an older ogb (173 rows) show {hidden:,} fewer parameters for the "
            f"same architecture at width {hidden} (ogbg-molhiv GIN: 1,885,506 here, 1,885,206 "
            f"on the leaderboard; GIN-virtual: 3,336,606 vs 3,336,306)."]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise WlkitError(f"{path}: missing; is this a finished wlkit run directory?\n    hint: "
                         "`wlkit run` writes summary.json when every seed has finished") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise WlkitError(f"{path}: unreadable ({exc})") from None


def _value(value: Any) -> str:
    return json.dumps(value) if value is None or isinstance(value, bool) else str(value)


def _space_text(key: str, spec: dict[str, Any]) -> str:
    if spec.get("type") == "categorical":
        return f"{key} in {{{', '.join(_value(c) for c in spec.get('choices', []))}}}"
    log = ", log" if spec.get("log") else ""
    return f"{key} {spec.get('type')} {spec.get('low')}..{spec.get('high')}{log}"


def tuned_grid_from_sweep(run_dir: str | Path) -> str | None:
    """The search that chose this run, when it is a trial of ``wlkit sweep``.

    A sweep writes ``sweep.json`` beside its trial folders; the run is the trial whose
    ``run_dir`` has this folder's name. None for a run that is not a sweep's trial.
    """
    run_dir = Path(run_dir)
    path = run_dir.resolve().parent / "sweep.json"
    if not path.is_file():
        return None
    try:
        sweep = json.loads(path.read_text())
        rows = [r for r in sweep["trials"] if r.get("run_dir")
                and Path(r["run_dir"]).name == run_dir.resolve().name]
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        return None
    if not rows:
        return None
    row, best = rows[0], sweep.get("best") or {}
    if sweep.get("grid"):
        space = " x ".join(f"{k} in {{{', '.join(_value(v) for v in values)}}}"
                           for k, values in sweep["grid"].items())
        how = f"grid of {sweep.get('points')} points"
    else:
        space = "; ".join(_space_text(k, v) for k, v in (sweep.get("space") or {}).items())
        how = f"TPE, {sweep.get('random')} trials"
    finished = sum(r.get("state") == "COMPLETE" for r in sweep["trials"])
    keys = list(sweep.get("grid") or sweep.get("space") or {})
    chosen = ", ".join(f"{k}={_value(row.get(k))}" for k in keys)
    if best.get("trial") == row["trial"]:
        verdict = f"this run is trial {row['trial']} ({chosen}), the best of {finished} finished"
    else:
        verdict = (f"this run is trial {row['trial']} ({chosen}); the best is trial "
                   f"{best.get('trial')}")
    return (f"{space} ({how}, wlkit sweep study {sweep.get('study')!r}), selected by "
            f"{sweep.get('objective', 'the validation metric')}; {verdict}")


def build_report(run_dir: str | Path) -> dict[str, Any]:
    """Collect the submission facts of a finished run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise WlkitError(f"{run_dir}: not a directory")
    summary = _read_json(run_dir / "summary.json")
    pipeline_path = run_dir / "pipeline.resolved.yaml"
    pipeline = pipeline_path.read_text() if pipeline_path.exists() else None
    seeds = summary.get("seeds", [])
    warnings = []
    if len(seeds) < OGB_SEEDS:
        warnings.append(f"only {len(seeds)} seed(s); the OGB leaderboard asks for at least "
                        f"{OGB_SEEDS}")
    if not str(summary.get("dataset", "")).startswith("ogbg-"):
        warnings.append(f"dataset {summary.get('dataset')!r} is not an OGB dataset")
    versions = summary.get("versions", {})
    return {
        "dataset": summary.get("dataset"),
        "ogb_version": versions.get("ogb"),
        "metric": summary.get("metric"),
        "test_mean": summary.get("test_mean"),
        "test_std": summary.get("test_std"),
        "valid_mean": summary.get("valid_mean"),
        "valid_std": summary.get("valid_std"),
        "num_seeds": len(seeds),
        "per_seed": summary.get("per_seed", []),
        "num_params": summary.get("num_params"),
        "hardware": summary.get("hardware"),
        "command": summary.get("command"),
        "tuned_grid": summary.get("tuned_grid") or tuned_grid_from_sweep(run_dir),
        "versions": versions,
        "pipeline": pipeline,
        "rules": list(RULES),
        "notes": parameter_count_notes(summary.get("dataset"), pipeline),
        "warnings": warnings,
    }


def _pm(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "n/a"
    return f"{mean:.4f} ± {std:.4f}" if std is not None else f"{mean:.4f} (one seed, no std)"


def format_markdown(report: dict[str, Any]) -> str:
    hw = report.get("hardware") or {}
    gpus = ", ".join(hw.get("gpus") or []) or "none"
    lines = [f"# OGB leaderboard submission: {report['dataset']}", ""]
    for warning in report["warnings"]:
        lines += [f"> **WARNING: {warning}.**", ""]
    lines += [
        "| field | value |",
        "|---|---|",
        f"| dataset | {report['dataset']} |",
        f"| ogb version | {report['ogb_version']} |",
        f"| metric | {report['metric']} |",
        f"| test | {_pm(report['test_mean'], report['test_std'])} |",
        f"| validation | {_pm(report['valid_mean'], report['valid_std'])} |",
        f"| seeds | {report['num_seeds']} |",
        f"| #params | {report['num_params']:,} |" if report["num_params"] is not None
        else "| #params | n/a |",
        f"| hardware | {hw.get('cpu', 'n/a')} x{hw.get('cpu_count', '?')} CPU(s); GPU: {gpus} |",
        f"| tuned grid | {report['tuned_grid'] or 'none recorded'} |",
        "",
        "## Per seed",
        "",
        "| seed | validation | test |",
        "|---|---|---|",
    ]
    lines += [f"| {r['seed']} | {r['valid']:.4f} | {r['test']:.4f} |"
              for r in report["per_seed"]]
    if report.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {note}" for note in report["notes"]]
    lines += ["", "## Command", "", "```console", str(report["command"]), "```", "",
              "## Package versions", ""]
    lines += [f"- {k} {v}" for k, v in report["versions"].items()]
    if report["pipeline"]:
        lines += ["", "## Resolved pipeline", "", "```yaml", report["pipeline"].rstrip(), "```"]
    lines += ["", "## Rules", ""] + [f"- {rule}" for rule in report["rules"]]
    return "\n".join(lines) + "\n"
