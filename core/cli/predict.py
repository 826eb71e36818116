"""``wlkit predict``: predictions of a finished run (every seed's best weights)."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict", help="predict with a finished run's best weights (SMILES file or dataset)")
    parser.add_argument("run_dir", metavar="RUN", help="run directory written by `wlkit run`")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--smiles", metavar="FILE.csv",
                        help="CSV file of molecules (molecule runs); each row comes back "
                             "with its columns and the prediction; invalid rows are kept, "
                             "with the reason in the error column")
    source.add_argument("--dataset", metavar="SPEC",
                        help="`run` (the run's own dataset) or a dataset as a pipeline "
                             "writes it, e.g. ogbg-molesol or '{name: ogb, dataset: "
                             "ogbg-molesol, root: DIR}'")
    parser.add_argument("--smiles-column", default="smiles",
                        help="column of --smiles holding the SMILES (default: smiles)")
    parser.add_argument("--split", default="test", choices=("train", "valid", "test", "all"),
                        help="split of --dataset to predict (default: test)")
    parser.add_argument("--out", default="preds.csv",
                        help="CSV file to write (default: preds.csv)")
    parser.add_argument("--ensemble", default="mean", choices=("mean", "median"),
                        help="how the seeds' predictions are combined (default: mean)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from wlkit.tools.predict import predict

    result = predict(args.run_dir, smiles=args.smiles, smiles_column=args.smiles_column,
                     dataset=args.dataset, split=args.split, out=args.out,
                     ensemble=args.ensemble)
    seeds = ", ".join(map(str, result["seeds"]))
    print(f"predict: {result['rows']} row(s), {result['invalid']} without a prediction; "
          f"seed(s) {seeds}")
    if "metric" in result:
        recorded = result["summary_per_seed"] or {}
        for seed, value in result["per_seed"].items():
            note = (f" (summary.json: {recorded[seed]:.6f})"
                    if recorded.get(seed) is not None else "")
            print(f"  seed {seed}: {result['split']} {result['metric']} {value:.6f}{note}")
        print(f"  mean over seeds: {result['mean']:.6f}; {result['ensemble']} of the "
              f"seeds' predictions: {result['ensemble_metric']:.6f}")
        differ = [seed for seed, value in result["per_seed"].items()
                  if recorded.get(seed) is not None and recorded[seed] != value]
        if differ:
            print(f"  note: seed(s) {', '.join(differ)} differ from summary.json: a model "
                  "that is random in evaluation (RNI) draws other numbers here, and a run "
                  "trained on a GPU may differ in the last bits on the CPU")
    print(f"  predictions: {result['out']}")
    return 0
