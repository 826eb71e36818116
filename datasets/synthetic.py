"""Datasets generated in code: CSL and the classic WL pairs."""

from __future__ import annotations

import numpy as np
import torch

from wlkit import DatasetInfo, DatasetRecord, GraphDataset, LoadedDataset, Param, hookimpl
from wlkit.graphs import CSL_SKIPS, classic_pairs, csl


class CSLDataset(GraphDataset):
    """Circular skip-link graphs C(n, R), generated exactly (Murphy et al., 2019).

    Ten classes R in :data:`CSL_SKIPS`, each the n-cycle plus chords i ~ i+R (mod n),
    ``relabelings`` random node relabelings per class (150 graphs with the defaults). All
    graphs are 4-regular and 1-WL-equivalent, so any 1-WL-bounded model sits at 10%.

    The split is the standard stratified 5-fold protocol (train/valid/test = 3:1:1): each
    class's graphs are shuffled once with ``seed`` and cut into 5 equal folds; fold ``fold``
    is the test set, fold ``fold+1 (mod 5)`` the validation set, the rest training.
    Graphs carry no node features.
    """

    name = "csl"

    def __init__(self, fold: int = 0, num_nodes: int = 41, relabelings: int = 15,
                 seed: int = 0):
        self.fold = fold
        self.num_nodes = num_nodes
        self.relabelings = relabelings
        self.seed = seed

    def info(self) -> DatasetInfo:
        return DatasetInfo(task="multiclass", num_tasks=len(CSL_SKIPS), metric="accuracy",
                           higher_is_better=True, num_graphs=len(CSL_SKIPS) * self.relabelings)

    def load(self) -> LoadedDataset:
        rng = np.random.default_rng(self.seed)
        graphs, labels = [], []
        for label, skip in enumerate(CSL_SKIPS):
            base = csl(self.num_nodes, skip)
            for _ in range(self.relabelings):
                graphs.append(base.relabel(rng.permutation(self.num_nodes)).to_dgl())
                labels.append(label)
        labels_t = torch.tensor(labels, dtype=torch.long)
        return LoadedDataset(graphs, labels_t, stratified_folds(labels_t, self.fold, 5, rng))


def stratified_folds(labels: torch.Tensor, fold: int, folds: int,
                     rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """Stratified k-fold split: test = fold ``fold``, valid = fold ``fold+1``, rest train."""
    parts: list[list[int]] = [[] for _ in range(folds)]
    for label in torch.unique(labels).tolist():
        members = rng.permutation(torch.nonzero(labels == label).flatten().numpy())
        for k, chunk in enumerate(np.array_split(members, folds)):
            parts[k].extend(chunk.tolist())
    test, valid = parts[fold], parts[(fold + 1) % folds]
    train = [i for k, part in enumerate(parts) if k not in (fold, (fold + 1) % folds)
             for i in part]
    return {name: torch.tensor(sorted(idx), dtype=torch.long)
            for name, idx in (("train", train), ("valid", valid), ("test", test))}


class WLPairsDataset(GraphDataset):
    """The classic hard pairs: C6 vs 2xC3, decalin vs bicyclopentyl, Shrikhande vs 4x4 rook,
    CFI over K4 untwisted vs twisted.

    Graph ``2i`` is the first member of pair ``i`` (label 0), graph ``2i+1`` the second
    (label 1). The task is to tell the members apart, so every split holds every graph:
    a model that separates a pair can reach 100% on it; a model that cannot sits at 50%.
    Meant for smoke tests and separation checks, not for generalisation.
    """

    name = "wl_pairs"

    def __init__(self, pairs: list | None = None):
        known = [pair_id for pair_id, *_ in classic_pairs()]
        unknown = [p for p in (pairs or []) if p not in known]
        if unknown:
            raise ValueError(f"unknown pair ids {unknown}; known: {', '.join(known)}")
        self.pairs = list(pairs) if pairs else known

    def info(self) -> DatasetInfo:
        return DatasetInfo(task="multiclass", num_tasks=2, metric="accuracy",
                           higher_is_better=True, num_graphs=2 * len(self.pairs))

    def load(self) -> LoadedDataset:
        graphs, labels, ids = [], [], []
        for pair_id, _category, first, second in classic_pairs():
            if pair_id in self.pairs:
                graphs += [first.to_dgl(), second.to_dgl()]
                labels += [0, 1]
                ids += [pair_id, pair_id]
        everything = torch.arange(len(graphs))
        return LoadedDataset(graphs, torch.tensor(labels),
                             {"train": everything, "valid": everything, "test": everything},
                             extra={"pair_ids": ids})


@hookimpl
def wlkit_datasets() -> list[DatasetRecord]:
    return [
        DatasetRecord(
            name="csl", factory=CSLDataset,
            summary="Circular skip-link graphs, 10 classes, generated exactly; 5-fold split.",
            params=(
                Param("fold", int, 0, "which of the 5 stratified folds is the test set",
                      minimum=0, maximum=4),
                Param("num_nodes", int, 41, "cycle length n of C(n, R)", minimum=34),
                Param("relabelings", int, 15, "random relabelings per class", minimum=5),
                Param("seed", int, 0, "seed of the relabelings and the fold assignment"),
            ),
        ),
        DatasetRecord(
            name="wl_pairs", factory=WLPairsDataset,
            summary="Classic 1-WL-equivalent pairs (C6/2xC3, decalin, SR16, CFI(K4)).",
            params=(Param("pairs", list, None, "pair ids to include (default: all)",
                          nullable=True),),
        ),
    ]
