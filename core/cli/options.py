"""Options several subcommands share, declared once."""

from __future__ import annotations

import argparse
import contextlib

QUIET_HELP = ("no progress output (bars, per-step lines); the final summary, table and the "
              "paths of the results still print")


def add_overrides(parser: argparse.ArgumentParser, example: str = "model.hidden=128") -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help=f"override a pipeline value, e.g. --set {example} (repeatable)")


def add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help=QUIET_HELP)


def quiet_environment(quiet: bool) -> contextlib.AbstractContextManager[None]:
    """``WLKIT_QUIET=1`` for the command's duration when ``quiet`` (the per-graph
    preprocessing bars and child processes read it), restored afterwards, so a command run
    in-process with ``--quiet`` does not silence the next one."""
    from wlkit.io import environment_variable

    return environment_variable("WLKIT_QUIET", "1" if quiet else None)
