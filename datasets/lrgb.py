"""LRGB Peptides-func (Dwivedi et al. 2022, "Long Range Graph Benchmark").

15,535 peptides, 10 binary functional classes (multi-label), metric average precision
(mean over the 10 tasks). Each SMILES becomes a graph with ogb's ``smiles2graph``, as
LRGB's own loader does, so atoms and bonds carry OGB's 9 / 3 integer features and the OGB
``AtomEncoder`` / ``BondEncoder`` embed them. The split is LRGB's shipped stratified split
(``splits_random_stratified_peptide.pickle``: 10,873 / 2,331 / 2,331), read with a
restricted unpickler that rebuilds numpy arrays only.

``root`` (pipeline), else ``$WLKIT_LRGB_ROOT``, else ``<wlkit cache>/lrgb``: a folder holding
``peptides-functional/`` with ``peptide_multi_class_dataset.csv.gz`` and the split pickle
(LRGB's layout). Without them, the files are downloaded from LRGB's sources into the cache
and checked against LRGB's MD5 sums. Converting the SMILES takes minutes; the graphs are
cached under ``<wlkit cache>/lrgb/graphs``, keyed by the two files' bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

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
from wlkit.datasets.zinc import restricted_load

FOLDER = "peptides-functional"
CSV = "peptide_multi_class_dataset.csv.gz"
SPLIT = "splits_random_stratified_peptide.pickle"
URLS = {CSV: "https://www.dropbox.com/s/ol2v01usvaxbsr8/peptide_multi_class_dataset.csv.gz"
             "?dl=1",
        SPLIT: "https://www.dropbox.com/s/j4zcnx2eipuo0xz/splits_random_stratified_peptide"
               ".pickle?dl=1"}
MD5 = {CSV: "701eb743e899f4d793f0e13c8fa5a1b4", SPLIT: "5a0114bdadc80b94fc7ae974f13ef061"}
"""LRGB's own checksums of the two files."""
NUM_TASKS = 10
SPLITS = (("train", "train"), ("valid", "val"), ("test", "test"))
CACHE_VERSION = 1


def _numpy_globals() -> dict[tuple[str, str], Any]:
    try:  # numpy >= 2 moved it; pickles name either module
        from numpy._core.multiarray import _reconstruct
    except ImportError:
        from numpy.core.multiarray import _reconstruct

    return {("numpy.core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


class PeptidesFunc(GraphDataset):
    """LRGB Peptides-func (see the module docstring).

    Parameters
    ----------
    root : str, optional
        Folder holding ``peptides-functional/``; default ``$WLKIT_LRGB_ROOT``, else
        ``<wlkit cache>/lrgb``.
    max_per_split : int, optional
        Keep (and convert) only the first N peptides of each split (smoke tests).
    """

    name = "peptides-func"

    def __init__(self, root: str | None = None, max_per_split: int | None = None):
        self.root = root
        self.max_per_split = max_per_split

    def info(self) -> DatasetInfo:
        total = 15_535 if self.max_per_split is None else None
        return DatasetInfo(task="binary", num_tasks=NUM_TASKS, metric="ap",
                           higher_is_better=True, node_feat_dim=9, edge_feat_dim=3,
                           num_graphs=total)

    def node_encoder(self, hidden: int) -> nn.Module:
        from ogb.graphproppred.mol_encoder import AtomEncoder

        return AtomEncoder(hidden)

    def edge_encoder(self, hidden: int) -> nn.Module:
        from ogb.graphproppred.mol_encoder import BondEncoder

        return BondEncoder(hidden)

    # -- files -------------------------------------------------------------------------

    def folder(self) -> Path:
        root = self.root or os.environ.get("WLKIT_LRGB_ROOT") or cache_root() / "lrgb"
        return Path(root).expanduser() / FOLDER

    def prepare_data(self) -> None:
        folder = self.folder()
        missing = [name for name in (CSV, SPLIT) if not (folder / name).is_file()]
        if not missing:
            return
        if self.root or os.environ.get("WLKIT_LRGB_ROOT") or _flag("WLKIT_OFFLINE"):
            raise DatasetError(
                f"peptides-func: {folder / missing[0]} does not exist"
                + (" (WLKIT_OFFLINE is set)" if _flag("WLKIT_OFFLINE") else "")
                + f"\n    hint: set dataset.root (or WLKIT_LRGB_ROOT) to a folder holding "
                f"{FOLDER}/{CSV} and {FOLDER}/{SPLIT} (LRGB's files)")
        download(folder, missing)

    def load(self) -> LoadedDataset:
        import dgl

        folder = self.folder()
        csv_path, split_path = folder / CSV, folder / SPLIT
        for path in (csv_path, split_path):
            if not path.is_file():
                raise DatasetError(f"peptides-func: {path} does not exist\n    hint: set "
                                   "dataset.root or WLKIT_LRGB_ROOT")
        digest = hashlib.sha256(f"v{CACHE_VERSION}|{self.max_per_split}".encode())
        for path in (csv_path, split_path):
            digest.update(path.read_bytes())
        cache = cache_root() / "lrgb" / "graphs" / f"{digest.hexdigest()[:20]}.bin"
        if cache.exists():
            try:
                graphs, tensors = dgl.load_graphs(str(cache))
                return self._assemble(graphs, tensors["labels"], tensors["split"])
            except Exception as exc:  # a corrupt cache: rebuild it
                print(f"peptides-func: cache file {cache} is unreadable ({exc}); rebuilding "
                      "it", file=sys.stderr)
        split = read_split(split_path)
        smiles, labels = read_peptides(csv_path)
        chosen: list[tuple[int, int]] = []  # (peptide, split number)
        for k, (_, key) in enumerate(SPLITS):
            ids = split[key]
            bad = ids[(ids < 0) | (ids >= len(smiles))]
            if len(bad):
                raise DatasetError(f"{split_path}: split {key!r} names peptide {int(bad[0])}, "
                                   f"but {csv_path.name} has {len(smiles)}\n    hint: the "
                                   "split and the CSV do not belong together")
            chosen += [(int(i), k) for i in ids[:self.max_per_split]]
        graphs = convert(smiles, [i for i, _ in chosen], csv_path)
        label_tensor = torch.from_numpy(labels[[i for i, _ in chosen]]).float()
        split_tensor = torch.tensor([k for _, k in chosen], dtype=torch.long)
        _save_graphs(cache, graphs, {"labels": label_tensor, "split": split_tensor})
        return self._assemble(graphs, label_tensor, split_tensor)

    def _assemble(self, graphs: list[Any], labels: torch.Tensor, split: torch.Tensor
                  ) -> LoadedDataset:
        splits = {name: torch.nonzero(split == k).flatten()
                  for k, (name, _) in enumerate(SPLITS)}
        return LoadedDataset(list(graphs), labels, splits)

    def fingerprint(self) -> str:
        key = f"peptides-func|{self.max_per_split}|{self.folder().resolve()}"
        return hashlib.sha256(key.encode()).hexdigest()[:16]


def read_split(path: Path) -> dict[str, np.ndarray]:
    """LRGB's split pickle: ``{"train", "val", "test"}`` -> int arrays (numpy only)."""
    split = restricted_load(path, _numpy_globals(), "numpy index arrays")
    if not isinstance(split, dict) or any(
            not isinstance(split.get(key), np.ndarray) or split[key].dtype.kind not in "iu"
            for _, key in SPLITS):
        raise DatasetError(f"{path}: expected a dict of integer arrays train/val/test\n"
                           "    hint: the file is not LRGB's split; download it again")
    return {key: split[key].astype(np.int64).ravel() for _, key in SPLITS}


def read_peptides(path: Path) -> tuple[list[str], np.ndarray]:
    """SMILES and the [n, 10] 0/1 labels of LRGB's peptide CSV."""
    import pandas as pd

    try:
        with gzip.open(path, "rb") as handle:
            frame = pd.read_csv(io.BytesIO(handle.read()))
    except Exception as exc:  # BadGzipFile, ParserError, EOFError, ...
        raise DatasetError(f"{path}: not a readable gzipped CSV: {type(exc).__name__}: {exc}"
                           "\n    hint: the file is corrupt; download it again") from None
    for column in ("smiles", "labels"):
        if column not in frame.columns:
            raise DatasetError(f"{path}: no {column!r} column (the header has "
                               f"{list(frame.columns)})\n    hint: is this LRGB's "
                               "peptides-functional CSV?")
    labels = np.zeros((len(frame), NUM_TASKS), dtype=np.float32)
    for row, text in enumerate(frame["labels"]):
        try:
            values = json.loads(text)  # "[0, 1, ...]"; JSON, never eval
        except (TypeError, ValueError):
            values = None
        if (not isinstance(values, list) or len(values) != NUM_TASKS
                or any(v not in (0, 1) for v in values)):
            raise DatasetError(f"{path}: line {row + 2}: labels {text!r} are not "
                               f"{NUM_TASKS} values 0/1\n    hint: the file is corrupt")
        labels[row] = values
    return [str(s) for s in frame["smiles"]], labels


def convert(smiles: list[str], ids: list[int], path: Path) -> list[Any]:
    """Graphs of ``smiles[i]`` for ``i`` in ``ids`` with ogb's ``smiles2graph``, with a
    progress line every 10% on stderr (silent under ``WLKIT_QUIET=1``)."""
    import dgl
    from ogb.utils import smiles2graph

    quiet = os.environ.get("WLKIT_QUIET") == "1"
    started, shown = time.monotonic(), 0
    graphs = []
    for n, i in enumerate(ids, start=1):
        try:
            g = smiles2graph(smiles[i])
        except Exception as exc:  # RDKit returns None for a bad SMILES; ogb then fails
            raise DatasetError(f"{path}: line {i + 2}: RDKit cannot read the SMILES "
                               f"({type(exc).__name__})\n    hint: the file is corrupt; "
                               "download it again") from None
        graph = dgl.graph((torch.from_numpy(g["edge_index"][0]),
                           torch.from_numpy(g["edge_index"][1])), num_nodes=g["num_nodes"])
        graph.ndata["feat"] = torch.from_numpy(g["node_feat"]).long()
        graph.edata["feat"] = torch.from_numpy(g["edge_feat"]).long()
        graphs.append(graph)
        if not quiet and (10 * n) // len(ids) > shown:
            shown = (10 * n) // len(ids)
            print(f"peptides-func: converted {n}/{len(ids)} SMILES, "
                  f"{time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)
    return graphs


def _save_graphs(path: Path, graphs: list[Any], tensors: dict[str, torch.Tensor]) -> None:
    import dgl

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        dgl.save_graphs(tmp, graphs, tensors)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def download(folder: Path, names: list[str] | None = None) -> Path:
    """Download LRGB's Peptides-func files into ``folder`` and check their MD5 sums.

    Parameters
    ----------
    folder : Path
        Writable target (``<wlkit cache>/lrgb/peptides-functional`` by default).
    names : list of str, optional
        Which of the two files (default both).

    Returns
    -------
    Path
        ``folder``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for name in names or [CSV, SPLIT]:
        print(f"peptides-func: downloading {URLS[name]}", file=sys.stderr, flush=True)
        try:
            with urllib.request.urlopen(URLS[name], timeout=60) as response:
                data = response.read()
        except OSError as exc:
            raise DatasetError(f"peptides-func: download of {URLS[name]} failed: "
                               f"{type(exc).__name__}: {exc}\n    hint: without internet, "
                               "set dataset.root or WLKIT_LRGB_ROOT to a local copy") from None
        if hashlib.md5(data).hexdigest() != MD5[name]:
            raise DatasetError(f"peptides-func: {URLS[name]} does not have LRGB's MD5 sum "
                               f"{MD5[name]}\n    hint: the source changed; get the files "
                               "from LRGB's repository")
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, folder / name)
    return folder


@hookimpl
def wlkit_datasets() -> list[DatasetRecord]:
    return [DatasetRecord(
        name="peptides-func", factory=PeptidesFunc,
        summary="LRGB Peptides-func: 15,535 peptides (SMILES -> OGB graphs), 10 binary "
                "tasks, metric AP.",
        params=(
            Param("root", str, None, "folder holding peptides-functional/ (default "
                  "$WLKIT_LRGB_ROOT or the wlkit cache)", nullable=True),
            Param("max_per_split", int, None, "keep (and convert) only the first N peptides "
                  "of each split (smoke tests)", minimum=1, nullable=True),
        ),
    )]


__all__ = ["PeptidesFunc", "convert", "download", "read_peptides", "read_split",
           "wlkit_datasets"]
