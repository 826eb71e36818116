"""``wlkit compare``: finished runs and sweeps in one table, with Welch's t-tests."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare", help="runs or a sweep's trials side by side: mean ± std, Welch's t-test "
                        "against the best, #params, time; compare.md/.json/.png",
        description="One row per run: the pipeline values that differ between the runs, "
                    "valid and test mean ± unbiased std over the seeds, Welch's t-test "
                    "(scipy) of each run against the best run of its dataset per split, "
                    "seeds, #params and the seeds' summed training time. Writes "
                    "compare.md, compare.json and compare.png (bars with error bars, one "
                    "panel per dataset). Given folders `wlkit separate` wrote, it prints the "
                    "policy x suite separation matrix instead (model [oracle] per cell; "
                    "a --suite all run and single-suite runs of one pipeline fill one "
                    "row).")
    parser.add_argument("runs", nargs="+", metavar="RUN_OR_SWEEP",
                        help="run directory, or sweep folder (holding sweep.json) standing "
                             "for all its trials, or a `wlkit separate` output folder "
                             "(repeatable)")
    parser.add_argument("--out", metavar="DIR",
                        help="folder for compare.md, compare.json and compare.png (default: "
                             "the sweep folder when the one RUN_OR_SWEEP is a sweep, else "
                             "the current folder)")
    parser.add_argument("--sort", default="input",
                        choices=("input", "name", "valid", "test", "params", "time"),
                        help="row order within each dataset: as given (default), name, best "
                             "valid / test mean first, fewest params, shortest training")
    parser.add_argument("--by", action="append", default=[], metavar="PARAM",
                        help="pivot on a varied parameter, e.g. model.hidden: rows; a second "
                             "--by gives the columns (default: the one other varied "
                             "parameter)")
    parser.add_argument("--split", default="test", choices=("valid", "test"),
                        help="the split the --by pivot shows (default: test)")
    parser.add_argument("--no-plot", dest="plot", action="store_false",
                        help="skip compare.png")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from wlkit.tools.compare import compare

    result = compare(args.runs, out=args.out, sort=args.sort, by=args.by, split=args.split,
                     plot=args.plot)
    print("\n".join(result["lines"]))
    print(f"files: {', '.join(result['files'])}")
    return 0
