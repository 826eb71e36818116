"""``wlkit run``: train and evaluate a pipeline over its seeds."""

from __future__ import annotations

import argparse

from wlkit.cli.options import add_overrides, add_quiet, quiet_environment


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("run", help="train and evaluate a pipeline over its seeds")
    parser.add_argument("pipeline", help="pipeline YAML file")
    add_overrides(parser)
    parser.add_argument("--out", help="run directory (default: runs/<name>/<UTC time>/)")
    parser.add_argument("--resume", metavar="RUN_DIR",
                        help="continue an interrupted run: finished seeds are kept, the "
                             "interrupted seed restarts from its last epoch checkpoint")
    add_quiet(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from wlkit.errors import WlkitError
    from wlkit.pipeline import load_pipeline
    from wlkit.runner import run_pipeline

    with quiet_environment(args.quiet):  # also silences per-graph preprocessing bars
        pipeline = load_pipeline(args.pipeline, args.overrides)
        if args.resume and args.out:
            raise WlkitError("--resume continues in RUN_DIR; do not combine it with --out")
        run_pipeline(pipeline, out=args.out, progress=not args.quiet, resume=args.resume)
    return 0
