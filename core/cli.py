"""The ``wlkit`` command line. Exit codes: 0 ok, 2 bad input, 1 unexpected failure."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
import warnings
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wlkit", description="Expressive graph neural networks from YAML pipelines.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    run = sub.add_parser("run", help="train and evaluate a pipeline over its seeds")
    run.add_argument("pipeline", help="pipeline YAML file")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a value, e.g. --set model.hidden=128 (repeatable)")
    run.add_argument("--out", help="run directory (default: runs/<name>/<UTC time>/)")
    run.add_argument("--quiet", action="store_true", help="no progress output")

    validate = sub.add_parser("validate", help="check a pipeline and print its summary")
    validate.add_argument("pipeline", help="pipeline YAML file")
    validate.add_argument("--set", dest="overrides", action="append", default=[],
                          metavar="KEY=VALUE", help="override a value (repeatable)")

    board = sub.add_parser("leaderboard", help="OGB leaderboard report of a finished run")
    board.add_argument("run_dir", help="run directory written by `wlkit run`")
    board.add_argument("--format", choices=("md", "json"), default="md")
    board.add_argument("--strict", action="store_true",
                       help="refuse (exit 2) instead of warning when rules are not met")

    plugins = sub.add_parser("plugins", help="list every component by family")
    plugins.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def _cmd_run(args: argparse.Namespace) -> int:
    from wlkit.pipeline import load_pipeline
    from wlkit.runner import run_pipeline

    pipeline = load_pipeline(args.pipeline, args.overrides)
    run_pipeline(pipeline, out=args.out, progress=not args.quiet)
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from wlkit.model.build import build_model, count_parameters, instantiate_dataset
    from wlkit.pipeline import load_pipeline

    pipeline = load_pipeline(args.pipeline, args.overrides)
    cfg = pipeline.data
    dataset = instantiate_dataset(cfg["dataset"])
    info = dataset.info()
    model = build_model(cfg, dataset)
    print(f"{args.pipeline}: valid")
    print(f"name: {pipeline.name}")
    print(f"dataset: {cfg['dataset']['name']} ({info.task}, {info.num_tasks} "
          f"{'classes' if info.task == 'multiclass' else 'tasks'}, metric {info.metric})")
    encodings = ", ".join(e["name"] for e in cfg["encodings"]) or "none"
    print(f"encodings: {encodings}")
    print(f"policy: {cfg['policy']['name'] if cfg['policy'] else 'none'}")
    m = cfg["model"]
    print(f"model: {m['num_layers']} x {m['layer']['name']} (aggregator "
          f"{m['aggregator']['name']}), hidden {m['hidden']}, readout {m['readout']['name']}")
    print(f"seeds: {cfg['seeds']}")
    print(f"num_params: {count_parameters(model)}")
    print("--- resolved pipeline ---")
    print(pipeline.dump(), end="")
    return 0


def _cmd_leaderboard(args: argparse.Namespace) -> int:
    from wlkit.errors import WlkitError
    from wlkit.leaderboard import build_report, format_markdown

    report = build_report(args.run_dir)
    for warning in report["warnings"]:
        print(f"WARNING: {warning}", file=sys.stderr)
    if args.strict and report["warnings"]:
        raise WlkitError("the run does not meet the leaderboard rules: "
                         + "; ".join(report["warnings"]))
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        print(format_markdown(report), end="")
    return 0


def _cmd_plugins(args: argparse.Namespace) -> int:
    from wlkit.listing import format_listing, plugin_listing

    rows = plugin_listing()
    print(json.dumps(rows, indent=2, default=str) if args.json else format_listing(rows), end="")
    if args.json:
        print()
    return 0


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wlkit`` console script."""
    from wlkit.errors import WlkitError

    args = _parser().parse_args(argv)
    warnings.showwarning = _show_warning  # one line per warning, no source excerpt
    handler = {"run": _cmd_run, "validate": _cmd_validate, "plugins": _cmd_plugins,
               "leaderboard": _cmd_leaderboard}
    try:
        return handler[args.command](args)
    except WlkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        print("error: unexpected failure (a bug in wlkit or a plugin); the traceback above "
              "helps a bug report", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
