"""``wlkit analyze``: WL colour classes and accuracy ceilings of a pipeline's dataset."""

from __future__ import annotations

import argparse
import sys

from wlkit.cli.options import add_overrides, add_quiet


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("analyze", help="WL colour classes and accuracy ceilings of "
                                   "a pipeline's dataset")
    parser.add_argument("pipeline", nargs="?", help="pipeline YAML file (or use --dataset)")
    parser.add_argument("--dataset", metavar="NAME",
                        help="analyze this dataset without a pipeline file")
    add_overrides(parser, "dataset.root=DIR")
    parser.add_argument("--oracle", dest="oracles", action="append", default=[],
                        metavar="ORACLE", help="1-WL, 2-FWL, node_marked, ego1, ... "
                        "(repeatable or comma-separated; default: 1-WL and the oracle of "
                        "the pipeline's policy)")
    parser.add_argument("--out", help="folder for analysis.json "
                        "(default: runs/<name>/analysis-<UTC time>/)")
    parser.add_argument("--features", choices=("model", "all", "none"), default=None,
                        help="initial colours: the features the pipeline's model reads "
                        "(default with a pipeline), every feature (default with --dataset) "
                        "or none")
    parser.add_argument("--with-encodings", action="store_true",
                        help="add the pipeline's positional encodings to the initial colours")
    parser.add_argument("--decimals", type=int, default=6,
                        help="round encodings to this many decimals (default 6)")
    parser.add_argument("--budget", type=lambda v: int(float(v)), default=None,
                        help="largest work estimate an oracle may take (default 2e8)")
    parser.add_argument("--iso-checks", type=int, default=None,
                        help="isomorphism tests to resolve collisions (default 20000)")
    add_quiet(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from wlkit.tools.analyze import (
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
