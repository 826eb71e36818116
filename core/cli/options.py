"""Options several subcommands share, declared once."""

from __future__ import annotations

import argparse

QUIET_HELP = ("no progress output (bars, per-step lines); the final summary, table and the "
              "paths of the results still print")


def add_overrides(parser: argparse.ArgumentParser, example: str = "model.hidden=128") -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help=f"override a pipeline value, e.g. --set {example} (repeatable)")


def add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help=QUIET_HELP)
