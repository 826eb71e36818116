"""TU graph classification datasets (Morris et al. 2020) on DGL's ``TUDataset`` reader.

Any dataset of the TU collection works by its name (``dataset: MUTAG``, ``NCI1``,
``PROTEINS``, ``IMDB-BINARY``, ``DD``, ...). Node input (``ndata['feat']``, float): the node
labels one-hot, then the node attributes as floats (``node_attributes: false`` leaves
them out, as Xu et al.'s GIN data does for PROTEINS); graphs with neither (the social
datasets, e.g. IMDB) get their degree one-hot, capped at ``max_degree`` (default: the
dataset's largest degree, so nothing is capped, as in Xu et al. 2019). Edge labels are not
used (GIN's protocol). Repeated edges (IMDB's files list every edge twice per direction)
are merged, as PyG does.

Protocol
--------
``fold: 0..9`` picks one fold of the standard stratified 10-fold cross-validation
(scikit-learn's ``StratifiedKFold(10, shuffle=True, random_state=seed)``, the split of Xu
et al.'s GIN code): the fold is the test set, the other nine folds are for training. How
the validation set (model selection, early stopping) is taken:

* ``validation: holdout`` (default, Errica et al. 2020): a stratified 10% of the training
  folds, drawn with the same seed; the test fold is only scored. Report the mean and
  standard deviation of the test score over the ten folds.
* ``validation: test``: the test fold itself, as Xu et al. do when they report the best
  epoch of the mean validation curve over the folds (an optimistic number; use it only to
  compare with their figures).

The folds are written once to ``<wlkit cache>/tu/folds/`` (atomically; keyed by the name,
the seed and the labels) and reused, so every run and fold sees the same split.

Files
-----
``root`` (pipeline), else ``$WLKIT_TU_ROOT``: a folder holding ``<name>/<name>_A.txt``,
``<name>_graph_indicator.txt``, ``<name>_graph_labels.txt`` (+ node labels/attributes) as
the TU collection ships them. It is only read: DGL 2.1 reads from, and writes its processed
files next to, ``raw_dir/<name>_<url hash>/<name>/``, so the files are linked into that
layout in a staging folder in the wlkit cache. Without a root, DGL downloads the dataset
into ``<wlkit cache>/tu/dgl``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wlkit import (
    REQUIRED,
    DatasetError,
    DatasetInfo,
    DatasetRecord,
    GraphDataset,
    LoadedDataset,
    Param,
    atomic_write_json,
    cache_root,
    hookimpl,
)

URL = "https://www.chrsmrrs.com/graphkerneldatasets/{}.zip"  # DGL's TUDataset source
NUM_FOLDS = 10
FOLDS_FORMAT = 1
HOLDOUT = 0.1  # Errica et al.'s inner validation share of the training folds


@dataclass(frozen=True)
class Shape:
    """What a TU dataset's files imply for the model (read without building graphs)."""

    node_labels: int  # distinct node label values (DGL shifts them to start at 0)
    node_attributes: int  # float columns
    classes: int
    max_degree: int  # after merging repeated edges


KNOWN: dict[str, Shape] = {
    "MUTAG": Shape(7, 0, 2, 4),
    "PTC_MR": Shape(18, 0, 2, 4),
    "NCI1": Shape(37, 0, 2, 4),
    "PROTEINS": Shape(3, 1, 2, 25),
    "ENZYMES": Shape(3, 18, 6, 9),
    "IMDB-BINARY": Shape(0, 0, 2, 135),
}
"""Shapes of the six TU datasets in ``../shared/data/tu``, read from their files (a test
re-reads them), so ``wlkit validate`` builds their models without the data. Other names
are read from their files, once they are on disk."""


def _read_csv(path: Path, **kwargs: Any) -> np.ndarray:
    import pandas as pd

    try:
        return pd.read_csv(path, header=None, **kwargs).to_numpy()
    except Exception as exc:  # ParserError, EmptyDataError, UnicodeDecodeError, OSError
        raise DatasetError(f"{path}: cannot read it as comma-separated numbers: "
                           f"{type(exc).__name__}: {exc}\n    hint: the file is corrupt or not "
                           "the TU collection's; download it again") from None


def _numbers(path: Path, **kwargs: Any) -> np.ndarray:
    values = _read_csv(path, **kwargs)
    if not np.issubdtype(values.dtype, np.number) or np.isnan(values.astype(float)).any():
        raise DatasetError(f"{path}: holds entries that are not numbers\n    hint: the file "
                           "is corrupt or not the TU collection's; download it again")
    return values


@lru_cache(maxsize=32)
def _scan(folder: str, name: str, stamp: str) -> Shape:
    """The :class:`Shape` of the TU files in ``folder`` (``stamp`` keys the cache)."""
    base = Path(folder)
    labels = attributes = 0
    path = base / f"{name}_node_labels.txt"
    if path.exists():
        values = _numbers(path).ravel()
        labels = int(values.max() - values.min()) + 1
    path = base / f"{name}_node_attributes.txt"
    if path.exists():
        attributes = _numbers(path, nrows=1).shape[1]
    path = base / f"{name}_graph_labels.txt"
    if not path.exists():
        raise DatasetError(f"{path}: missing; wlkit's tu dataset needs graph labels "
                           "(TU datasets with graph attributes, i.e. regression, are not "
                           "supported)")
    classes = len(np.unique(_numbers(path)))
    edges = _numbers(base / f"{name}_A.txt").astype(np.int64)
    if edges.ndim != 2 or edges.shape[1] != 2:
        raise DatasetError(f"{base / f'{name}_A.txt'}: expected two columns per line")
    unique = np.unique(edges, axis=0)
    degree = int(np.bincount(unique[:, 1]).max()) if len(unique) else 0
    return Shape(labels, attributes, classes, degree)


def _stamp(folder: Path) -> str:
    return "|".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
                    for p in sorted(folder.glob("*.txt")))


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _url_suffix(name: str) -> str:
    """DGL's ``_get_hash_url_suffix`` for TUDataset's URL: where it reads the raw files."""
    return "_" + hashlib.sha1(URL.format(name).encode("utf-8")).hexdigest()[:8]


class TUDataset(GraphDataset):
    """One fold of a TU dataset (see the module docstring).

    Parameters
    ----------
    dataset : str
        TU name, e.g. ``MUTAG``.
    fold : int
        Test fold, 0..9.
    validation : {"holdout", "test"}
        Errica et al.'s stratified 10% holdout of the training folds, or the test fold
        (Xu et al.).
    seed : int
        Seed of the fold assignment and of the holdout.
    max_degree : int, optional
        Cap of the one-hot degree of unlabelled graphs (default: the dataset's maximum).
    root : str, optional
        Folder holding ``<dataset>/`` with the TU text files; default ``$WLKIT_TU_ROOT``,
        else a DGL download into the wlkit cache.
    node_attributes : bool
        Append the node attributes (floats) after the one-hot labels; False keeps the
        labels only, as Xu et al.'s GIN data does for PROTEINS.
    max_per_split : int, optional
        Keep only the first N graphs of each split (smoke tests).
    """

    def __init__(self, dataset: str, fold: int = 0, validation: str = "holdout",
                 seed: int = 0, max_degree: int | None = None, root: str | None = None,
                 node_attributes: bool = True, max_per_split: int | None = None):
        if not dataset or any(c in dataset for c in "/\\") or dataset.startswith("."):
            raise DatasetError(f"tu: {dataset!r} is not a TU dataset name")
        self.dataset = dataset
        self.fold = fold
        self.validation = validation
        self.seed = seed
        self.max_degree = max_degree
        self.root = root
        self.node_attributes = bool(node_attributes)
        self.max_per_split = max_per_split
        self.name = f"tu-{dataset}"

    # -- files -------------------------------------------------------------------------

    def source_folder(self) -> Path | None:
        """The user's folder of this dataset's files (``root`` or ``$WLKIT_TU_ROOT``)."""
        root = self.root or os.environ.get("WLKIT_TU_ROOT")
        return Path(root).expanduser() / self.dataset if root else None

    def raw_dir(self) -> Path:
        """The ``raw_dir`` handed to DGL: a staging folder that links a user's files (keyed
        by their path and stamp, so changed files get a fresh processed cache), else
        ``<wlkit cache>/tu/dgl`` where DGL downloads."""
        source = self.source_folder()
        if source is None:
            return cache_root() / "tu" / "dgl"
        if not (source / f"{self.dataset}_A.txt").is_file():
            raise DatasetError(
                f"tu: {source / (self.dataset + '_A.txt')} does not exist\n    hint: "
                f"dataset.root (or WLKIT_TU_ROOT) must hold {self.dataset}/ with the TU files "
                f"({self.dataset}_A.txt, _graph_indicator.txt, _graph_labels.txt, ...)")
        tag = hashlib.sha256(f"{source.resolve()}|{_stamp(source)}".encode()).hexdigest()[:12]
        staged = cache_root() / "tu" / f"staged-{tag}"
        target = staged / (self.dataset + _url_suffix(self.dataset)) / self.dataset
        target.mkdir(parents=True, exist_ok=True)
        for path in source.glob(f"{self.dataset}_*.txt"):
            link = target / path.name
            if not link.exists():
                link.symlink_to(path.resolve())
        return staged

    def _files_folder(self) -> Path | None:
        """Where this dataset's text files are now, if anywhere."""
        source = self.source_folder()
        if source is not None:
            return source if (source / f"{self.dataset}_A.txt").is_file() else None
        folder = (cache_root() / "tu" / "dgl" / (self.dataset + _url_suffix(self.dataset))
                  / self.dataset)
        return folder if (folder / f"{self.dataset}_A.txt").is_file() else None

    def shape(self) -> Shape:
        """The dataset's :class:`Shape`: from its files when they are on disk, else from
        :data:`KNOWN`; refused for another name before its files are there."""
        folder = self._files_folder()
        if folder is not None:
            return _scan(str(folder), self.dataset, _stamp(folder))
        if self.dataset in KNOWN:
            return KNOWN[self.dataset]
        raise DatasetError(
            f"tu: {self.dataset} is not on this machine, and its feature widths are read "
            f"from its files\n    hint: fetch it once with `python -m wlkit.datasets.tu "
            f"{self.dataset}`, or set dataset.root / WLKIT_TU_ROOT to a folder holding "
            f"{self.dataset}/")

    # -- metadata ----------------------------------------------------------------------

    def _widths(self, shape: Shape) -> tuple[int, int]:
        """(one-hot width, attribute columns) of ``ndata['feat']``."""
        attributes = shape.node_attributes if self.node_attributes else 0
        if shape.node_labels or attributes:
            return shape.node_labels, attributes
        cap = shape.max_degree if self.max_degree is None else self.max_degree
        return cap + 1, 0

    def info(self) -> DatasetInfo:
        shape = self.shape()
        onehot, attributes = self._widths(shape)
        return DatasetInfo(task="multiclass", num_tasks=shape.classes, metric="accuracy",
                           higher_is_better=True, node_feat_dim=onehot + attributes)

    # -- loading -----------------------------------------------------------------------

    def prepare_data(self) -> None:
        if self._files_folder() is None and self.source_folder() is None and _flag(
                "WLKIT_OFFLINE"):
            raise DatasetError(f"tu: {self.dataset} is not in {cache_root() / 'tu' / 'dgl'} "
                               "and WLKIT_OFFLINE is set\n    hint: set dataset.root or "
                               f"WLKIT_TU_ROOT to a folder holding {self.dataset}/")
        self._dgl()

    def _dgl(self) -> Any:
        from dgl.data import TUDataset as DGLTUDataset

        raw_dir = self.raw_dir()
        try:
            with contextlib.redirect_stdout(sys.stderr):  # DGL prints download progress
                return DGLTUDataset(self.dataset, raw_dir=str(raw_dir))
        except DatasetError:
            raise
        except Exception as exc:
            folder = self._files_folder()
            if folder is None:  # nothing on disk: the download failed
                raise DatasetError(
                    f"tu: cannot download {self.dataset} from {URL.format(self.dataset)}: "
                    f"{type(exc).__name__}: {exc}\n    hint: check the name (TU collection: "
                    "https://chrsmrrs.github.io/datasets/docs/datasets/), or set "
                    f"dataset.root / WLKIT_TU_ROOT to a folder holding {self.dataset}/"
                ) from None
            for path in sorted(folder.glob(f"{self.dataset}_*.txt")):
                _numbers(path)  # names the unreadable file
            raise DatasetError(f"tu: DGL cannot read {folder}: {type(exc).__name__}: {exc}"
                               "\n    hint: the files are corrupt or inconsistent; download "
                               "them again") from None

    def load(self) -> LoadedDataset:
        import dgl

        data = self._dgl()
        num_labels = len(data.graph_labels)
        if len(data) != num_labels:  # DGL reads mismatched files without a word
            folder = self._files_folder() or Path(self.dataset)
            raise DatasetError(
                f"{folder / (self.dataset + '_graph_indicator.txt')}: names {len(data)} "
                f"graph(s), but {self.dataset}_graph_labels.txt has {num_labels} labels\n"
                "    hint: the files are corrupt or from different datasets; download them "
                "again")
        shape = self.shape()
        onehot, attributes = self._widths(shape)
        cap = onehot - 1
        graphs = []
        for i in range(len(data)):
            g, _ = data[i]
            g = dgl.to_simple(g, copy_ndata=True)  # IMDB lists every edge twice
            parts = []
            if shape.node_labels:
                labels = g.ndata["node_labels"].view(-1).long()
                if int(labels.max()) >= onehot:
                    raise DatasetError(f"tu: {self.dataset} graph {i} has node label "
                                       f"{int(labels.max())}, outside the {onehot} labels "
                                       "its files declared")
                parts.append(torch.nn.functional.one_hot(labels, onehot).float())
            if attributes:
                attr = g.ndata["node_attr"].float()
                parts.append(attr.view(g.num_nodes(), -1))
            if not parts:
                degree = g.in_degrees().clamp(max=cap)
                parts.append(torch.nn.functional.one_hot(degree, cap + 1).float())
            out = dgl.graph(g.edges(), num_nodes=g.num_nodes())
            out.ndata["feat"] = torch.cat(parts, dim=1)
            graphs.append(out)
        labels = torch.as_tensor(data.graph_labels).view(-1).long()
        folds = self.folds(labels)
        splits = {k: torch.tensor(v, dtype=torch.long) for k, v in folds[self.fold].items()}
        if self.max_per_split is not None and self.validation == "holdout":
            # keep only the first N graphs of each split and drop the rest, so encodings
            # and policies skip them too (smoke tests)
            parts = {k: v[:self.max_per_split] for k, v in splits.items()}
            keep = torch.cat(list(parts.values()))
            graphs, labels = [graphs[int(i)] for i in keep], labels[keep]
            start, splits = 0, {}
            for k, v in parts.items():
                splits[k] = torch.arange(start, start + len(v))
                start += len(v)
        elif self.max_per_split is not None:  # valid is the test fold: keep them equal
            splits = {k: v[:self.max_per_split] for k, v in splits.items()}
        return LoadedDataset(graphs, labels, splits)

    # -- the 10 folds ------------------------------------------------------------------

    def folds(self, labels: torch.Tensor) -> list[dict[str, list[int]]]:
        """The ten folds (train/valid/test ids), read from the folds file or made once."""
        y = labels.numpy()
        key = hashlib.sha256(y.astype(np.int64).tobytes()).hexdigest()[:12]
        path = (cache_root() / "tu" / "folds"
                / f"{self.dataset}-seed{self.seed}-{self.validation}-{key}.json")
        if path.exists():
            try:
                saved = json.loads(path.read_text())
                if saved.get("format") == FOLDS_FORMAT and len(saved["folds"]) == NUM_FOLDS:
                    return saved["folds"]
            except (OSError, ValueError, KeyError, TypeError):
                pass  # unreadable: make it again (same seed, same folds)
        folds = stratified_folds(y, self.seed, self.validation)
        atomic_write_json(path, {"format": FOLDS_FORMAT, "dataset": self.dataset,
                                 "seed": self.seed, "validation": self.validation,
                                 "protocol": "StratifiedKFold(10, shuffle=True, "
                                             "random_state=seed); valid: "
                                             + ("stratified 10% of train" if
                                                self.validation == "holdout" else "test fold"),
                                 "folds": folds})
        return folds

    def fingerprint(self) -> str:
        source = self.source_folder()
        key = (f"tu|{self.dataset}|{self.fold}|{self.validation}|{self.seed}|"
               f"{self.max_degree}|{self.node_attributes}|{self.max_per_split}|"
               f"{source.resolve() if source else 'download'}")
        return hashlib.sha256(key.encode()).hexdigest()[:16]


def stratified_folds(labels: np.ndarray, seed: int, validation: str = "holdout"
                     ) -> list[dict[str, list[int]]]:
    """The standard 10-fold stratified split of ``labels`` (see the module docstring).

    Parameters
    ----------
    labels : numpy.ndarray
        One class per graph.
    seed : int
        ``random_state`` of the fold assignment and of the holdout.
    validation : {"holdout", "test"}
        How the validation ids are taken.

    Returns
    -------
    list of dict
        Ten ``{"train", "valid", "test"}`` lists of sorted graph ids.
    """
    from sklearn.model_selection import StratifiedKFold, train_test_split

    counts = np.bincount(labels)
    if counts[counts > 0].min() < NUM_FOLDS:
        raise DatasetError(f"tu: a class has only {counts[counts > 0].min()} graphs; the "
                           f"stratified {NUM_FOLDS}-fold split needs at least {NUM_FOLDS}")
    splitter = StratifiedKFold(n_splits=NUM_FOLDS, shuffle=True, random_state=seed)
    out = []
    for train, test in splitter.split(np.zeros(len(labels)), labels):
        if validation == "holdout":
            train, valid = train_test_split(train, test_size=HOLDOUT, random_state=seed,
                                            stratify=labels[train])
        else:
            valid = test
        out.append({"train": sorted(int(i) for i in train),
                    "valid": sorted(int(i) for i in valid),
                    "test": sorted(int(i) for i in test)})
    return out


@hookimpl
def wlkit_datasets() -> list[DatasetRecord]:
    return [DatasetRecord(
        name="tu", factory=TUDataset,
        summary="Any TU graph classification dataset by name (DGL's reader), one fold of "
                "the stratified 10-fold CV.",
        params=(
            Param("dataset", str, REQUIRED, "TU name, e.g. MUTAG, NCI1, PROTEINS, "
                  "IMDB-BINARY"),
            Param("fold", int, 0, "test fold of the stratified 10-fold split", minimum=0,
                  maximum=NUM_FOLDS - 1),
            Param("validation", str, "holdout", "validation set: a stratified 10% of the "
                  "training folds (Errica et al.) or the test fold (Xu et al.)",
                  choices=("holdout", "test")),
            Param("seed", int, 0, "seed of the folds and of the holdout"),
            Param("max_degree", int, None, "cap of the one-hot degree of unlabelled graphs "
                  "(default: the dataset's maximum)", minimum=0, nullable=True),
            Param("root", str, None, "folder holding <dataset>/ with the TU text files "
                  "(default $WLKIT_TU_ROOT, else a download into the wlkit cache)",
                  nullable=True),
            Param("node_attributes", bool, True, "append the node attributes (floats) to the "
                  "one-hot node labels; false: labels only (Xu et al.'s PROTEINS)"),
            Param("max_per_split", int, None, "keep only the first N graphs of each split "
                  "(smoke tests)", minimum=1, nullable=True),
        ),
    )]


def download(name: str) -> Path:
    """Download TU dataset ``name`` with DGL into ``<wlkit cache>/tu/dgl``.

    Parameters
    ----------
    name : str
        TU name.

    Returns
    -------
    Path
        The folder holding its text files.
    """
    dataset = TUDataset(name)
    dataset.prepare_data()
    folder = dataset._files_folder()
    if folder is None:
        raise DatasetError(f"tu: the download of {name} left no {name}_A.txt")
    return folder


if __name__ == "__main__":  # python -m wlkit.datasets.tu NAME
    for arg in sys.argv[1:]:
        try:
            print(download(arg))
        except DatasetError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)


__all__ = ["KNOWN", "Shape", "TUDataset", "download", "stratified_folds", "wlkit_datasets"]
