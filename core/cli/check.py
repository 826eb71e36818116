"""``wlkit check``: the conformance kit over installed components."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("check",
                                   help="run the conformance kit over installed components")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="components to check (default: all)")
    parser.add_argument("--family", metavar="F", help="only this family: aggregator, readout, "
                        "layer, positional_encoding, subgraph_policy, dataset")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--no-separation", action="store_true",
                        help="skip embedding the classic WL pairs (faster)")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and graphs")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from wlkit.tools.check import main as check_main

    return check_main(args.names, args.family, as_json=args.json,
                      separation=not args.no_separation, seed=args.seed)
