"""Accuracy against set size of a finished ``set_second_min`` run.

Loads ``<run>/pipeline.resolved.yaml`` and the best weights of each seed
(``<run>/seed_<k>/best.pt``) and scores them on fresh multisets drawn with another seed:
sizes 2-16 (the training distribution) and sizes 16, 32 and 64 (1,024 sets each).

Run: ``.venv/bin/python benchmarks/set_second_min_sizes.py RUN_DIR [--sizes 16 32 64]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import dgl
import torch

from wlkit.datasets.sets import SetSecondMinDataset
from wlkit.model.build import build_model, instantiate_dataset
from wlkit.pipeline.loader import load_pipeline


@torch.no_grad()
def score(model: torch.nn.Module, dataset: SetSecondMinDataset, split: str) -> float:
    data = dataset.load()
    index = data.splits[split].tolist()
    preds, labels = [], []
    for start in range(0, len(index), 256):
        chunk = index[start:start + 256]
        preds.append(model(dgl.batch([data.graphs[i] for i in chunk])))
        labels.append(data.labels[chunk])
    return dataset.evaluate(torch.cat(labels), torch.cat(preds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--seed", type=int, default=1, help="seed of the fresh sets")
    args = parser.parse_args()
    pipeline = load_pipeline(args.run / "pipeline.resolved.yaml")
    params = {k: v for k, v in pipeline.data["dataset"].items() if k != "name"}
    model = build_model(pipeline.data, instantiate_dataset(pipeline.data["dataset"]))
    for weights in sorted(args.run.glob("seed_*/best.pt")):
        state = torch.load(weights, weights_only=True)
        model.load_state_dict({k.removeprefix("model."): v for k, v in state.items()})
        model.eval()
        fresh = SetSecondMinDataset(**{**params, "num_train": 1024, "num_valid": 1,
                                       "num_test": 1, "seed": args.seed})
        row = {"2-16": score(model, fresh, "train")}
        for size in args.sizes:
            sized = SetSecondMinDataset(**{**params, "num_train": 1, "num_valid": 1,
                                           "num_test": 1024, "eval_size": size,
                                           "seed": args.seed})
            row[str(size)] = score(model, sized, "test")
        shown = ", ".join(f"size {k}: {v:.3f}" for k, v in row.items())
        print(f"{args.run} {weights.parent.name}: {shown}")


if __name__ == "__main__":
    main()
