"""The built-in subcommands, registered through ``wlkit_commands`` like a plugin's."""

from __future__ import annotations

import argparse

from wlkit.cli import (
    analyze,
    check,
    compare,
    leaderboard,
    plot,
    plugins,
    predict,
    run,
    separate,
    sweep,
    validate,
)
from wlkit.hookspecs import hookimpl

COMMANDS = (run, validate, plugins, check, analyze, separate, leaderboard, plot,
            predict, compare, sweep)
"""Subcommand modules, in the order ``wlkit --help`` lists them."""


@hookimpl
def wlkit_commands(subparsers: argparse._SubParsersAction) -> None:
    for module in COMMANDS:
        module.add_parser(subparsers)
