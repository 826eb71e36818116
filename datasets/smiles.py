"""Users' own molecules: a CSV of SMILES strings and label columns.

Each SMILES becomes a graph with ogb's ``smiles2graph`` (RDKit), so the OGB molecule
encoders and the ``gine`` layer apply unchanged. The split is a deterministic Bemis-Murcko
scaffold split (as OGB and MoleculeNet build theirs), a seeded random split, or a column.
Converted graphs are cached under ``<wlkit cache>/smiles`` keyed by the file's content.
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from wlkit import (
    DatasetError,
    DatasetInfo,
    DatasetRecord,
    GraphDataset,
    LoadedDataset,
    Param,
    cache_root,
    hookimpl,
)

METRIC = {"binary": ("rocauc", True), "regression": ("rmse", False),
          "multiclass": ("accuracy", True)}
SPLIT_NAMES = ("train", "valid", "test")
CACHE_VERSION = 1


def scaffold_split(smiles: list[str], fractions: tuple[float, float, float]) -> list[list[int]]:
    """Deterministic Bemis-Murcko scaffold split (OGB / MoleculeNet convention).

    Molecules are grouped by scaffold (with chirality); groups are taken largest first (ties:
    larger first index first) into train until it would exceed its share, then valid, then
    test, so no scaffold spans two splits.
    """
    from rdkit.Chem.Scaffolds import MurckoScaffold

    groups: dict[str, list[int]] = {}
    for i, s in enumerate(smiles):
        scaffold = MurckoScaffold.MurckoScaffoldSmiles(smiles=s, includeChirality=True)
        groups.setdefault(scaffold, []).append(i)
    ordered = sorted(groups.values(), key=lambda g: (len(g), g[0]), reverse=True)
    n = len(smiles)
    train_cut, valid_cut = fractions[0] * n, (fractions[0] + fractions[1]) * n
    train: list[int] = []
    valid: list[int] = []
    test: list[int] = []
    for group in ordered:
        if len(train) + len(group) > train_cut:
            if len(train) + len(valid) + len(group) > valid_cut:
                test += group
            else:
                valid += group
        else:
            train += group
    return [sorted(train), sorted(valid), sorted(test)]


def smiles_graph(smiles: str):
    """One molecule as a DGL graph with OGB's features (``ogb.utils.smiles2graph``).

    The featurisation of this dataset's graphs, and of ``wlkit predict --smiles``.

    Parameters
    ----------
    smiles : str
        A SMILES string.

    Returns
    -------
    dgl.DGLGraph
        Integer atom features in ``ndata['feat']`` (9 columns) and bond features in
        ``edata['feat']`` (3 columns), both edge directions.

    Raises
    ------
    ValueError
        RDKit cannot parse the string, or the molecule has no atoms.
    """
    import dgl
    from ogb.utils import smiles2graph

    try:
        g = smiles2graph(smiles)
    except Exception:  # RDKit returns None for invalid SMILES; ogb then fails
        raise ValueError(f"invalid SMILES {smiles!r}") from None
    if g["num_nodes"] == 0:
        raise ValueError(f"SMILES {smiles!r} has no atoms")
    graph = dgl.graph((torch.from_numpy(g["edge_index"][0]),
                       torch.from_numpy(g["edge_index"][1])), num_nodes=g["num_nodes"])
    graph.ndata["feat"] = torch.from_numpy(g["node_feat"]).long()
    graph.edata["feat"] = torch.from_numpy(g["edge_feat"]).long()
    return graph


class SmilesDataset(GraphDataset):
    """Molecules from a CSV file (see the module docstring and the record's parameters)."""

    name = "smiles"

    def __init__(self, path: str, label_columns: list, smiles_column: str = "smiles",
                 task: str = "binary", num_classes: int | None = None,
                 split: str = "scaffold", split_column: str | None = None,
                 fractions: list | None = None, invalid: str = "skip", seed: int = 0):
        self.path = path
        self.label_columns = [str(c) for c in label_columns]
        self.smiles_column = smiles_column
        self.task = task
        self.num_classes = num_classes
        self.split = split
        self.split_column = split_column
        self.fractions = [float(f) for f in (fractions or [0.8, 0.1, 0.1])]
        self.invalid = invalid
        self.seed = seed
        if not self.label_columns:
            raise ValueError("label_columns must name at least one column")
        if task == "multiclass" and (len(self.label_columns) != 1 or not num_classes):
            raise ValueError("a multiclass task needs one label column and num_classes")
        if split == "column" and not split_column:
            raise ValueError("split: column needs split_column")
        if len(self.fractions) != 3 or abs(sum(self.fractions) - 1) > 1e-6 or min(
                self.fractions) < 0:
            raise ValueError(f"fractions must be three non-negative numbers summing to 1, got "
                             f"{self.fractions}")

    def info(self) -> DatasetInfo:
        metric, higher = METRIC[self.task]
        tasks = self.num_classes if self.task == "multiclass" else len(self.label_columns)
        return DatasetInfo(task=self.task, num_tasks=tasks, metric=metric,
                           higher_is_better=higher, node_feat_dim=9, edge_feat_dim=3)

    def node_encoder(self, hidden: int) -> nn.Module:
        from ogb.graphproppred.mol_encoder import AtomEncoder

        return AtomEncoder(hidden)

    def edge_encoder(self, hidden: int) -> nn.Module:
        from ogb.graphproppred.mol_encoder import BondEncoder

        return BondEncoder(hidden)

    # -- reading -----------------------------------------------------------------------

    def _read_rows(self) -> tuple[list[tuple[int, str, list[float], str]], list[str]]:
        """Accepted rows ``(line, smiles, labels, split)`` and problems ``line N: reason``."""
        path = Path(self.path)
        try:
            handle = path.open(newline="", encoding="utf-8")
        except OSError as exc:
            raise DatasetError(f"{path}: cannot open the SMILES file: {exc}") from None
        with handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            wanted = [self.smiles_column, *self.label_columns] + (
                [self.split_column] if self.split == "column" else [])
            missing = [c for c in wanted if c not in columns]
            if missing:
                raise DatasetError(f"{path}: missing column(s) {missing}; the header has "
                                   f"{columns}\n    hint: set smiles_column / label_columns")
            rows, problems = [], []
            for line, row in enumerate(reader, start=2):  # the header is line 1
                values, bad = [], None
                for column in self.label_columns:
                    raw = (row[column] or "").strip()
                    try:
                        values.append(float(raw) if raw else math.nan)
                    except ValueError:
                        bad = f"label {column}={raw!r} is not a number"
                split = (row[self.split_column] or "").strip() if self.split_column else ""
                if self.split == "column" and split not in SPLIT_NAMES:
                    bad = f"split {split!r} is not one of {', '.join(SPLIT_NAMES)}"
                if bad:
                    problems.append(f"line {line}: {bad}")
                else:
                    rows.append((line, (row[self.smiles_column] or "").strip(), values, split))
        return rows, problems

    def load(self) -> LoadedDataset:
        import dgl

        content = Path(self.path).read_bytes() if Path(self.path).is_file() else b""
        key = hashlib.sha256(content + repr(sorted(vars(self).items())).encode()).hexdigest()
        cache = cache_root() / "smiles" / f"v{CACHE_VERSION}-{key[:20]}.bin"
        if cache.exists():
            try:
                graphs, tensors = dgl.load_graphs(str(cache))
                return self._assemble(graphs, tensors["labels"], tensors["split"])
            except Exception as exc:  # corrupt cache: say so and rebuild
                warnings.warn(f"cache file {cache} is unreadable ({exc}); rebuilding it",
                              stacklevel=2)
        graphs, labels, split = self._convert()
        cache.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache.parent, suffix=".tmp")
        os.close(fd)
        try:
            dgl.save_graphs(tmp, graphs, {"labels": labels, "split": split})
            os.replace(tmp, cache)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return self._assemble(graphs, labels, split)

    def _convert(self) -> tuple[list, torch.Tensor, torch.Tensor]:
        rows, bad = self._read_rows()
        graphs, kept = [], []
        for line, smiles, labels, split in rows:
            try:
                graph = smiles_graph(smiles)
            except ValueError as exc:
                bad.append(f"line {line}: {exc}")
                continue
            graphs.append(graph)
            kept.append((smiles, labels, split))
        if bad:
            bad.sort(key=_line_number)
            listing = "; ".join(bad[:10]) + (f" (and {len(bad) - 10} more)" if len(bad) > 10
                                              else "")
            if self.invalid == "error":
                raise DatasetError(f"{self.path}: {len(bad)} bad row(s): {listing}\n    hint: "
                                   "fix them, or set invalid: skip to leave them out")
            warnings.warn(f"{self.path}: skipped {len(bad)} bad row(s): {listing}",
                          stacklevel=2)
        if not graphs:
            raise DatasetError(f"{self.path}: no valid molecules")
        if self.split == "scaffold":
            parts = scaffold_split([k[0] for k in kept], tuple(self.fractions))
        elif self.split == "random":
            order = np.random.default_rng(self.seed).permutation(len(kept))
            cuts = np.cumsum([int(round(f * len(kept))) for f in self.fractions[:2]])
            parts = [sorted(p.tolist()) for p in np.split(order, cuts)]
        else:
            parts = [[j for j, k in enumerate(kept) if k[2] == s] for s in SPLIT_NAMES]
        split_tensor = torch.empty(len(kept), dtype=torch.long)
        for k, part in enumerate(parts):
            split_tensor[torch.tensor(part, dtype=torch.long)] = k
        labels_tensor = torch.tensor([k[1] for k in kept], dtype=torch.float32)
        return graphs, labels_tensor, split_tensor

    def _assemble(self, graphs: list, labels: torch.Tensor, split: torch.Tensor
                  ) -> LoadedDataset:
        if self.task == "multiclass":
            labels = labels.view(-1).long()
        splits = {name: torch.nonzero(split == k).flatten() for k, name in
                  enumerate(SPLIT_NAMES)}
        return LoadedDataset(list(graphs), labels, splits)


def _line_number(problem: str) -> int:
    try:
        return int(problem.split()[1].rstrip(":"))
    except (IndexError, ValueError):
        return 0


@hookimpl
def wlkit_datasets() -> list[DatasetRecord]:
    return [DatasetRecord(
        name="smiles", factory=SmilesDataset,
        summary="Your own molecules: CSV of SMILES + labels, scaffold/random/column split.",
        params=(
            Param("path", str, doc="CSV file (relative to the working directory)"),
            Param("label_columns", list, doc="columns holding the targets (empty = missing)"),
            Param("smiles_column", str, "smiles", "column holding the SMILES strings"),
            Param("task", str, "binary", "task type", choices=tuple(METRIC)),
            Param("num_classes", int, None, "number of classes (multiclass only)", minimum=2,
                  nullable=True),
            Param("split", str, "scaffold", "how to split",
                  choices=("scaffold", "random", "column")),
            Param("split_column", str, None, "column with train/valid/test (split: column)",
                  nullable=True),
            Param("fractions", list, None, "train/valid/test fractions (default 0.8 0.1 0.1)",
                  nullable=True),
            Param("invalid", str, "skip", "bad rows: skip them (with a warning) or error",
                  choices=("skip", "error")),
            Param("seed", int, 0, "seed of the random split"),
        ),
    )]


__all__ = ["SmilesDataset", "scaffold_split", "smiles_graph", "wlkit_datasets"]
