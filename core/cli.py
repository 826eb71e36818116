"""The ``wlkit`` command line. Exit codes: 0 ok, 2 bad input, 1 unexpected failure (and, for
``wlkit check``, a component that fails the conformance kit)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


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
    run.add_argument("--resume", metavar="RUN_DIR",
                     help="continue an interrupted run: finished seeds are kept, the "
                          "interrupted seed restarts from its last epoch checkpoint")
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
    plugins.add_argument("--reference", action="store_true",
                         help="print the Markdown reference of every hook and component "
                         "(docs/reference.md is generated with it)")
    plugins.add_argument("--out", metavar="FILE", help="with --reference: write it to FILE")

    check = sub.add_parser("check", help="run the conformance kit over installed components")
    check.add_argument("names", nargs="*", metavar="NAME",
                       help="components to check (default: all)")
    check.add_argument("--family", metavar="F", help="only this family: aggregator, readout, "
                       "layer, positional_encoding, subgraph_policy, dataset")
    check.add_argument("--json", action="store_true", help="print JSON instead of a table")
    check.add_argument("--no-separation", action="store_true",
                       help="skip embedding the classic WL pairs (faster)")
    check.add_argument("--seed", type=int, default=0, help="seed of weights and graphs")

    analyze = sub.add_parser("analyze", help="WL colour classes and accuracy ceilings of a "
                             "pipeline's dataset")
    analyze.add_argument("pipeline", nargs="?", help="pipeline YAML file (or use --dataset)")
    analyze.add_argument("--dataset", metavar="NAME",
                         help="analyze this dataset without a pipeline file")
    analyze.add_argument("--set", dest="overrides", action="append", default=[],
                         metavar="KEY=VALUE",
                         help="override a value, e.g. --set dataset.root=DIR (repeatable)")
    analyze.add_argument("--oracle", dest="oracles", action="append", default=[],
                         metavar="ORACLE", help="1-WL, 2-FWL, node_marked, ego1, ... "
                         "(repeatable or comma-separated; default: 1-WL and the oracle of "
                         "the pipeline's policy)")
    analyze.add_argument("--out", help="folder for analysis.json "
                         "(default: runs/<name>/analysis-<UTC time>/)")
    analyze.add_argument("--features", choices=("model", "all", "none"), default=None,
                         help="initial colours: the features the pipeline's model reads "
                         "(default with a pipeline), every feature (default with --dataset) "
                         "or none")
    analyze.add_argument("--with-encodings", action="store_true",
                         help="add the pipeline's positional encodings to the initial colours")
    analyze.add_argument("--decimals", type=int, default=6,
                         help="round encodings to this many decimals (default 6)")
    analyze.add_argument("--budget", type=lambda v: int(float(v)), default=None,
                         help="largest work estimate an oracle may take (default 2e8)")
    analyze.add_argument("--iso-checks", type=int, default=None,
                         help="isomorphism tests to resolve collisions (default 20000)")
    analyze.add_argument("--quiet", action="store_true", help="no progress output")
    separate = sub.add_parser("separate", help="which WL-suite pairs a pipeline's model "
                              "separates, next to the exact WL oracles (BREC-style T² test)")
    separate.add_argument("pipeline", help="pipeline YAML file (its dataset is ignored)")
    separate.add_argument("--suite", required=True, metavar="NAME",
                          help="classic, csl, cfi, sr, regular (generated); exp, cexp, sr25, "
                          "brec (files; csl too with --root)")
    separate.add_argument("--root", metavar="DIR", help="folder holding the suite's files")
    separate.add_argument("--out", help="output folder (default: "
                          "runs/<name>/separate_<suite>_<UTC time>/)")
    separate.add_argument("--trained", action="store_true",
                          help="BREC's short per-pair siamese training before the test")
    separate.add_argument("--relabelings", type=int, default=32, metavar="R",
                          help="random relabelings per graph (default 32)")
    separate.add_argument("--threshold", type=float, default=None, metavar="T",
                          help="T² threshold (default: from the F distribution, 72.34 at "
                          "output dim 16 and R=32)")
    separate.add_argument("--output-dim", type=int, default=16, metavar="Q",
                          help="model outputs the test runs on (default 16)")
    separate.add_argument("--float64", action="store_true",
                          help="run the model and its inputs in float64 (for differences "
                          "below float32's rounding floor; slower)")
    separate.add_argument("--batch-size", type=int, default=96, metavar="B",
                          help="relabelled graphs prepared and embedded at once (default 96; "
                          "lower it for policies with large prepared tensors)")
    separate.add_argument("--tol", type=float, default=None, metavar="TOL",
                          help="relative rounding floor of the test (default 1e-5, ~100x "
                          "float32's resolution; 1e-13 with --float64): differences below "
                          "TOL x the output scale "
                          "cannot separate; lower it to probe tiny but consistent differences "
                          "(the reliability control then guards against rounding noise)")
    separate.add_argument("--seed", type=int, default=0,
                          help="seed of the weights and relabelings")
    separate.add_argument("--pairs", default=None, metavar="ID,...",
                          help="only these pairs, by id (e.g. the ones a run missed)")
    separate.add_argument("--limit", type=int, default=None, metavar="N",
                          help="only the first N pairs")
    separate.add_argument("--set", dest="overrides", action="append", default=[],
                          metavar="KEY=VALUE", help="override a pipeline value (repeatable)")
    separate.add_argument("--quiet", action="store_true", help="no progress output")
    return parser


def _cmd_run(args: argparse.Namespace) -> int:
    from wlkit.pipeline import load_pipeline
    from wlkit.runner import run_pipeline

    if args.quiet:
        os.environ["WLKIT_QUIET"] = "1"  # also silences per-graph preprocessing bars
    pipeline = load_pipeline(args.pipeline, args.overrides)
    if args.resume and args.out:
        from wlkit.errors import WlkitError

        raise WlkitError("--resume continues in RUN_DIR; do not combine it with --out")
    run_pipeline(pipeline, out=args.out, progress=not args.quiet, resume=args.resume)
    return 0


def _runs_pipeline_layer(model: torch.nn.Module, layer: str) -> bool:
    """Whether ``model`` contains the pipeline's layer (True when that cannot be told)."""
    from wlkit.manager import get_registry

    factory = get_registry().get("layer", layer).factory
    if not isinstance(factory, type):
        return True
    return any(isinstance(module, factory) for module in model.modules())


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
    if _runs_pipeline_layer(model, m["layer"]["name"]):
        print(f"model: {m['num_layers']} x {m['layer']['name']} (aggregator "
              f"{m['aggregator']['name']}), hidden {m['hidden']}, readout "
              f"{m['readout']['name']}")
    else:  # e.g. pathnn, spen: the policy builds its own layers
        print(f"model: {m['num_layers']} layers built by policy {cfg['policy']['name']} "
              f"(model.layer and model.aggregator unused), hidden {m['hidden']}, readout "
              f"{m['readout']['name']}")
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

    if args.reference or args.out:
        from wlkit.errors import WlkitError
        from wlkit.io import atomic_write_text
        from wlkit.reference import reference_markdown

        if not args.reference or args.json:
            raise WlkitError("--out goes with --reference (and --reference not with --json)")
        text = reference_markdown()
        if args.out:
            atomic_write_text(args.out, text)
            print(f"wrote {args.out}")
        else:
            print(text, end="")
        return 0
    rows = plugin_listing()
    print(json.dumps(rows, indent=2, default=str) if args.json else format_listing(rows), end="")
    if args.json:
        print()
    return 0


def _cmd_analyze(args: argparse.Namespace) -> int:
    from wlkit.analyze import (
        analysis_pipeline,
        analyze_pipeline,
        describe_features,
        format_table,
        write_analysis,
    )

    pipeline = analysis_pipeline(args.pipeline, args.dataset, args.overrides)
    say = (lambda line: None) if args.quiet else (lambda line: print(line, file=sys.stderr))
    options = {k: v for k, v in (("budget", args.budget), ("iso_checks", args.iso_checks))
               if v is not None}
    report = analyze_pipeline(
        pipeline, [o.strip() for item in args.oracles for o in item.split(",")] or None,
        features=args.features or ("all" if args.dataset else "model"),
        with_encodings=args.with_encodings, decimals=args.decimals, progress=say, **options)
    path = write_analysis(report, args.out, pipeline.name, pipeline.data["output"]["dir"])
    print(f"wlkit analyze: {pipeline.name} ({report['dataset']['name']}, {report['num_graphs']} "
          f"graphs, {report['task']})")
    print(describe_features(report))
    print(format_table(report), end="")
    print(f"results: {path}")
    return 0


def _cmd_separate(args: argparse.Namespace) -> int:
    from wlkit.errors import WlkitError
    from wlkit.pipeline import load_pipeline
    from wlkit.separate import SeparateSettings, run_separate

    for flag, value, low in (("--relabelings", args.relabelings, 2),
                             ("--output-dim", args.output_dim, 1),
                             ("--limit", args.limit, 1),
                             ("--batch-size", args.batch_size, 1)):
        if value is not None and value < low:
            raise WlkitError(f"{flag} must be >= {low}, got {value}")
    if args.tol is not None and not args.tol > 0:
        raise WlkitError(f"--tol must be > 0, got {args.tol}\n    hint: e.g. --tol 1e-7")
    pair_ids = None
    if args.pairs is not None:
        pair_ids = tuple(p.strip() for p in args.pairs.split(",") if p.strip())
        if not pair_ids:
            raise WlkitError("--pairs needs at least one pair id\n    hint: e.g. "
                             "--pairs exp_500,exp_503 (ids as in separation.json)")
    pipeline = load_pipeline(args.pipeline, args.overrides)
    settings = SeparateSettings(relabelings=args.relabelings, output_dim=args.output_dim,
                                threshold=args.threshold, seed=args.seed, tol=args.tol,
                                dtype="float64" if args.float64 else "float32",
                                batch_size=args.batch_size, trained=args.trained,
                                limit=args.limit, pair_ids=pair_ids)
    run_separate(pipeline, args.suite, root=args.root, out=args.out, settings=settings,
                 progress=not args.quiet)
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from wlkit.check import main as check_main

    return check_main(args.names, args.family, as_json=args.json,
                      separation=not args.no_separation, seed=args.seed)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wlkit`` console script."""
    from wlkit.errors import WlkitError

    args = _parser().parse_args(argv)
    warnings.showwarning = _show_warning  # one line per warning, no source excerpt
    handler = {"run": _cmd_run, "validate": _cmd_validate, "plugins": _cmd_plugins,
               "leaderboard": _cmd_leaderboard, "separate": _cmd_separate, "analyze": _cmd_analyze,
               "check": _cmd_check}
    try:
        return handler[args.command](args)
    except WlkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`wlkit plugins | head`): stop quietly, as Unix tools do;
        # point stdout at devnull so the interpreter's final flush does not raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE
    except Exception:
        traceback.print_exc()
        print("error: unexpected failure (a bug in wlkit or a plugin); the traceback above "
              "helps a bug report", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
