"""The ``wlkit`` command line: one module per subcommand, registered through the
``wlkit_commands`` hook, so a third-party plugin adds a subcommand exactly as the built-ins
do (as datasette's ``register_commands``).

Exit codes: 0 ok, 2 bad input, 1 unexpected failure (and, for ``wlkit check``, a component
that fails the conformance kit).

A subcommand module has ``add_parser(subparsers)``, which adds its parser and sets
``handler=run`` as the parser's default, and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    """The ``wlkit`` parser with every registered subcommand (built-ins first)."""
    from wlkit.cli import builtin
    from wlkit.manager import get_host

    parser = argparse.ArgumentParser(
        prog="wlkit", description="Expressive graph neural networks from YAML pipelines.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    # the built-in commands go through the same hook; handed in, as the kernel (manager)
    # must not import the CLI
    get_host().add_commands(sub, builtin=builtin)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wlkit`` console script."""
    from wlkit.errors import WlkitError

    warnings.showwarning = _show_warning  # one line per warning, no source excerpt
    try:
        args = build_parser().parse_args(argv)
        return args.handler(args)
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
