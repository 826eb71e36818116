"""``wlkit plot``: learning curves of one run, or several runs overlaid."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plot", help="learning curves of a run (redraws curves.png) or several runs overlaid")
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run directory (repeatable)")
    parser.add_argument("--metric", action="append", dest="metrics", metavar="COLUMN",
                        help="metrics.csv column to draw, one panel each (repeatable; "
                             "default: train_loss and valid_metric)")
    parser.add_argument("--out", help="PNG to write (default: RUN/curves.png for one run, "
                                      "./curves.png for several)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from wlkit.tools.plot import plot_runs

    path = plot_runs(args.runs, args.metrics, args.out)
    print(f"curves: {path}")
    return 0
