"""``wlkit leaderboard``: the OGB leaderboard report of a finished run."""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("leaderboard", help="OGB leaderboard report of a finished run")
    parser.add_argument("run_dir", help="run directory written by `wlkit run`")
    parser.add_argument("--format", choices=("md", "json"), default="md")
    parser.add_argument("--strict", action="store_true",
                        help="refuse (exit 2) instead of warning when rules are not met")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from wlkit.errors import WlkitError
    from wlkit.tools.leaderboard import build_report, format_markdown

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
