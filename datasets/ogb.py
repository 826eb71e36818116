"""OGB graph property prediction (``ogbg-*``), loaded with ogb's own DGL dataset class.

Splits come from ``get_idx_split()`` and scores from ogb's ``Evaluator``; nothing of OGB's
is re-implemented. Data lives under ``root`` (pipeline), else ``$WLKIT_OGB_ROOT``, else
``<wlkit cache>/ogb``. A root outside the wlkit cache is only read, writable or not: its
files are linked one by one into a staging folder in the cache, because ogb writes
``processed/`` (and downloads) next to its input, and caches belong in ``$WLKIT_CACHE_DIR``.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import os
import shutil
import sys
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any
from unittest import mock

import torch
from torch import Tensor, nn

from wlkit import (
    REQUIRED,
    DatasetError,
    DatasetInfo,
    DatasetRecord,
    GraphDataset,
    LoadedDataset,
    Param,
    atomic_write_text,
    cache_root,
    hookimpl,
)

TASKS = {"binary classification": "binary", "multiclass classification": "multiclass",
         "regression": "regression"}
HIGHER_IS_BETTER = {"rocauc": True, "ap": True, "acc": True, "F1": True, "rmse": False,
                    "mae": False}
UNSUPPORTED = {"ogbg-code2": "it predicts token sequences and needs a sequence decoder, "
                             "which wlkit does not have yet"}
OGB_FILES_HINT = ("raw/edge.csv.gz, raw/num-node-list.csv.gz, raw/num-edge-list.csv.gz, "
                  "raw/graph-label.csv.gz (+ node-feat/edge-feat where the dataset has them), "
                  "split/<split>/{train,valid,test}.csv.gz and RELEASE_v<version>.txt")


@lru_cache(maxsize=1)
def master_table() -> dict[str, dict[str, str]]:
    """OGB's own table of graph property datasets (``ogb/graphproppred/master.csv``)."""
    import pandas as pd
    from ogb import graphproppred

    path = Path(graphproppred.__file__).parent / "master.csv"
    frame = pd.read_csv(path, index_col=0, keep_default_na=False)
    return {name: dict(frame[name]) for name in frame.columns}


def _feature_dims(name: str, meta: dict[str, str]) -> tuple[int, int]:
    if name.startswith("ogbg-mol"):
        from ogb.utils.features import get_atom_feature_dims, get_bond_feature_dims

        return len(get_atom_feature_dims()), len(get_bond_feature_dims())
    if name == "ogbg-ppa":
        return 0, 7  # no node features; 7-dim float edge features (OGB's ppa example)
    return 0, 0


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _no_prompt(prompt: str = "") -> str:
    """Stands in for ``input()`` while ogb runs: never wait for a human."""
    if "proceed" in prompt:  # ogb asks before downloads over 1 GB; the pipeline asked for it
        print(prompt.strip().replace("Will you proceed? (y/N)", "Proceeding."), flush=True,
              file=sys.stderr)
        return "y"
    raise DatasetError(f"ogb asked a question wlkit cannot answer: {prompt.strip()!r}")


class OGBDataset(GraphDataset):
    """An ``ogbg-*`` dataset from OGB's master table.

    Parameters
    ----------
    dataset : str
        OGB name, e.g. ``ogbg-molhiv``.
    root : str, optional
        Folder holding ``<ogbg_name>/`` (OGB's layout); only read, staged into the wlkit
        cache where ogb writes ``processed/``. Default ``$WLKIT_OGB_ROOT`` or
        ``<wlkit cache>/ogb``.
    """

    def __init__(self, dataset: str, root: str | None = None):
        table = master_table()
        if dataset not in table:
            from difflib import get_close_matches

            guess = get_close_matches(dataset, list(table), n=1)
            raise DatasetError(f"unknown OGB dataset {dataset!r}"
                               + (f"; did you mean {guess[0]!r}?" if guess else "")
                               + f" OGB graph property datasets: {', '.join(table)}")
        if dataset in UNSUPPORTED:
            raise DatasetError(f"{dataset} is not supported: {UNSUPPORTED[dataset]}")
        self.dataset = dataset
        self.root = root
        self.name = dataset
        self._meta = table[dataset]
        self._ogb: Any = None

    # -- metadata ----------------------------------------------------------------------

    def info(self) -> DatasetInfo:
        meta = self._meta
        task = TASKS[meta["task type"]]
        node_dim, edge_dim = _feature_dims(self.dataset, meta)
        metric = meta["eval metric"]
        return DatasetInfo(
            task=task,
            num_tasks=int(meta["num classes"]) if task == "multiclass" else int(
                meta["num tasks"]),
            metric=metric,
            higher_is_better=HIGHER_IS_BETTER[metric],
            node_feat_dim=node_dim,
            edge_feat_dim=edge_dim,
        )

    @property
    def dir_name(self) -> str:
        return self.dataset.replace("-", "_")

    def source_root(self) -> Path:
        root = self.root or os.environ.get("WLKIT_OGB_ROOT") or cache_root() / "ogb"
        return Path(root).expanduser()

    def working_root(self) -> Path:
        """Where ogb will read and write: the source root when it lies in the wlkit cache,
        else a staging folder there that links the source's files (a download, when the
        source lacks the data, lands in the staging folder too)."""
        source = self.source_root()
        if _inside(source, cache_root()):
            return source
        folder = source / self.dir_name
        # the same tag as for read-only roots before: their staged caches stay valid
        tag = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:10]
        staged = cache_root() / "ogb" / f"staged-{tag}"
        if folder.is_dir():
            _link_tree(folder, staged / self.dir_name)
            _forget_stale_processed(folder, staged / self.dir_name)
        return staged

    # -- loading -----------------------------------------------------------------------

    def prepare_data(self) -> None:
        self._load_ogb()

    def _load_ogb(self) -> Any:
        if self._ogb is not None:
            return self._ogb
        source = self.source_root() / self.dir_name  # messages name the user's folder
        release = f"RELEASE_v{self._meta['version']}.txt"
        if source.is_dir() and not (source / release).exists():
            raise DatasetError(
                f"{self.dataset}: {source} exists but has no {release}, so ogb would stop and "
                "ask whether to delete it\n    hint: if it holds an older or partial copy, "
                "remove it to download again; if the files are current, add the release file")
        root = self.working_root()
        folder = root / self.dir_name
        if not (folder / "raw" / "edge.csv.gz").exists() and _flag("WLKIT_OFFLINE"):
            raise DatasetError(self._missing_message(source, "WLKIT_OFFLINE is set"))
        try:
            self._ogb = self._construct(root)
        except DatasetError:
            raise
        except OSError as exc:  # URLError and friends: no network, or a refused download
            reason = f"{type(exc).__name__}: {exc}"
            raise DatasetError(self._missing_message(source, reason)) from None
        except Exception as exc:
            processed = folder / "processed"
            if not processed.exists():
                raise DatasetError(f"{self.dataset}: ogb failed to read {folder}: "
                                   f"{type(exc).__name__}: {exc}") from exc
            # A corrupt or half-written processed/ cache: rebuild it from raw/ once.
            warnings.warn(f"{self.dataset}: cannot read {processed} ({exc}); rebuilding it",
                          stacklevel=2)
            shutil.rmtree(processed)
            self._ogb = self._construct(root)
        return self._ogb

    def _construct(self, root: Path) -> Any:
        from ogb.graphproppred import DglGraphPropPredDataset

        # ogb reports download and processing progress with print(): send it to stderr so
        # stdout carries only wlkit's own output (and stays clean under --quiet)
        with mock.patch.object(builtins, "input", _no_prompt), \
                contextlib.redirect_stdout(sys.stderr):
            return DglGraphPropPredDataset(name=self.dataset, root=str(root))

    def _missing_message(self, folder: Path, reason: str) -> str:
        return (f"{self.dataset}: the data is not at {folder} and cannot be downloaded "
                f"({reason})\n    hint: on a machine without internet, copy OGB's files for "
                f"{self.dataset} to {folder} ({OGB_FILES_HINT}), or set dataset.root / "
                "WLKIT_OGB_ROOT to a folder that holds them")

    def load(self) -> LoadedDataset:
        data = self._load_ogb()
        split = {name: torch.as_tensor(idx, dtype=torch.long)
                 for name, idx in data.get_idx_split().items()}
        labels = data.labels
        if self.info().task == "multiclass":
            labels = labels.view(-1).long()
        else:
            labels = labels.float().view(len(data.graphs), -1)
        return LoadedDataset(list(data.graphs), labels, split)

    # -- model side --------------------------------------------------------------------

    def evaluate(self, y_true: Tensor, y_pred: Tensor) -> float:
        """Score with ogb's ``Evaluator`` (multiclass: arg-max labels, as OGB's examples)."""
        from ogb.graphproppred import Evaluator

        evaluator = Evaluator(self.dataset)
        if self.info().task == "multiclass":
            y_true, y_pred = y_true.view(-1, 1), y_pred.argmax(dim=-1, keepdim=True)
        else:
            y_true = y_true.view(y_pred.shape)
        result = evaluator.eval({"y_true": y_true.cpu(), "y_pred": y_pred.detach().cpu()})
        return float(result[evaluator.eval_metric])

    def node_encoder(self, hidden: int) -> nn.Module | None:
        if self.dataset.startswith("ogbg-mol"):
            from ogb.graphproppred.mol_encoder import AtomEncoder

            return AtomEncoder(hidden)
        return None

    def edge_encoder(self, hidden: int) -> nn.Module | None:
        if self.dataset.startswith("ogbg-mol"):
            from ogb.graphproppred.mol_encoder import BondEncoder

            return BondEncoder(hidden)
        return None

    def fingerprint(self) -> str:
        key = f"{self.dataset}|{self.source_root().resolve()}"
        return hashlib.sha256(key.encode()).hexdigest()[:16]


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies below it (after resolving links)."""
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


_SOURCE_STAMP = ".wlkit-source"


def _forget_stale_processed(source: Path, staged: Path) -> None:
    """Drop the staged ``processed/`` when the source's files changed since it was built.

    The stamp lists every source file's path, size and modification time; a staging folder
    without one (from before stamps) keeps its ``processed/``.
    """
    stamp = "\n".join(f"{p.relative_to(source)} {p.stat().st_size} {p.stat().st_mtime_ns}"
                      for p in sorted(source.rglob("*"))
                      if p.is_file() and p.relative_to(source).parts[0] != "processed")
    marker = staged / _SOURCE_STAMP
    try:
        before = marker.read_text()
    except OSError:
        before = None
    if before is not None and before != stamp and (staged / "processed").exists():
        shutil.rmtree(staged / "processed")
    if before != stamp:
        atomic_write_text(marker, stamp)


def _link_tree(source: Path, target: Path) -> None:
    """Mirror ``source`` into ``target`` with one symlink per file (never ``processed/``)."""
    for path in source.rglob("*"):
        relative = path.relative_to(source)
        if relative.parts and relative.parts[0] == "processed":
            continue
        destination = target / relative
        if path.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
        elif not destination.exists():
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.symlink_to(path.resolve())


def _factory(default: str | None):
    def make(dataset: str | None = default, root: str | None = None) -> OGBDataset:
        if dataset is None:
            raise DatasetError("the ogb dataset needs `dataset:`, e.g. ogbg-molhiv")
        return OGBDataset(dataset, root)

    return make


_ROOT_PARAM = Param("root", str, None, "folder holding <ogbg_name>/ in OGB's layout "
                    "(default $WLKIT_OGB_ROOT or the wlkit cache)", nullable=True)


@hookimpl
def wlkit_datasets() -> list[DatasetRecord]:
    names = [n for n in master_table() if n not in UNSUPPORTED]
    records = [DatasetRecord(
        name="ogb", factory=_factory(None),
        summary="Any OGB graph property dataset (ogb's loader, split and Evaluator).",
        params=(Param("dataset", str, REQUIRED, "OGB name, e.g. ogbg-molhiv",
                      choices=tuple(names)), _ROOT_PARAM),
    )]
    for name in names:
        meta = master_table()[name]
        records.append(DatasetRecord(
            name=name, factory=_factory(name),
            summary=f"OGB {name}: {meta['task type']}, {meta['num tasks']} task(s), "
                    f"metric {meta['eval metric']}.",
            params=(_ROOT_PARAM,),
        ))
    return records
