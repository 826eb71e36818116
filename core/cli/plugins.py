"""``wlkit plugins``: every component by family, or the generated reference."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("plugins", help="list every component by family")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--reference", action="store_true",
                        help="print the Markdown reference of every hook and component "
                        "(docs/reference.md is generated with it)")
    parser.add_argument("--out", metavar="FILE", help="with --reference: write it to FILE")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from wlkit.tools.listing import format_listing, plugin_listing

    if args.reference or args.out:
        from wlkit.errors import WlkitError
        from wlkit.io import atomic_write_text
        from wlkit.tools.reference import reference_markdown

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
