"""Loading, positional-encoding caching and the LightningDataModule."""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from dgl.dataloading import GraphDataLoader
from torch import Tensor
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from wlkit.components import DatasetInfo, GraphDataset, LoadedDataset, PositionalEncoding
from wlkit.errors import DatasetError, WlkitError
from wlkit.io import atomic_torch_save, cache_root

CACHE_FORMAT = 1


class CacheWarning(UserWarning):
    """A cache file was unreadable or corrupt and is being rebuilt."""


@dataclass
class PreparedData:
    """A loaded dataset whose graphs carry their positional encodings in ``ndata['pe']``."""

    info: DatasetInfo
    loaded: LoadedDataset

    def subset(self, split: str) -> GraphSubset:
        return GraphSubset(self.loaded, self.loaded.splits[split])


class GraphSubset(Dataset):
    """``(graph, label)`` pairs of one split, for DGL's ``GraphDataLoader``."""

    def __init__(self, loaded: LoadedDataset, indices: Tensor):
        self.loaded = loaded
        self.indices = indices.tolist()

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[Any, Tensor]:
        j = self.indices[i]
        return self.loaded.graphs[j], self.loaded.labels[j]


def structure_hash(graphs: list) -> str:
    """Checksum of every graph's node count and edge list (cache key of per-graph results)."""
    digest = hashlib.sha256()
    for g in graphs:
        src, dst = g.edges()
        digest.update(np.int64(g.num_nodes()).tobytes())
        digest.update(src.numpy().astype(np.int64).tobytes())
        digest.update(dst.numpy().astype(np.int64).tobytes())
    return digest.hexdigest()[:16]


def _tensor_checksum(tensors: list[Tensor]) -> str:
    digest = hashlib.sha256()
    for t in tensors:
        digest.update(t.contiguous().numpy().tobytes())
    return digest.hexdigest()


def cached_per_graph(kind: str, key: str, graphs: list, compute, desc: str,
                     cache_dir: Path | None = None) -> list[Tensor]:
    """Compute ``compute(graph)`` for every graph, or read it from the on-disk cache.

    The file is named by ``key`` and the graphs' structure hash; it stores a checksum, so a
    truncated or corrupt file is detected, reported and rebuilt. Writes are atomic.
    """
    folder = (cache_dir or cache_root()) / kind
    path = folder / f"{key}-{structure_hash(graphs)}.pt"
    if path.exists():
        try:
            blob = torch.load(path, weights_only=True)
            tensors = blob["tensors"]
            if (blob.get("format") != CACHE_FORMAT or len(tensors) != len(graphs)
                    or blob.get("checksum") != _tensor_checksum(tensors)):
                raise ValueError("checksum or length mismatch")
            return tensors
        except Exception as exc:
            warnings.warn(f"cache file {path} is corrupt ({exc}); rebuilding it", CacheWarning,
                          stacklevel=2)
    tensors = [compute(g) for g in tqdm(graphs, desc=desc, leave=False, mininterval=1.0)]
    try:
        atomic_torch_save({"format": CACHE_FORMAT, "tensors": tensors,
                           "checksum": _tensor_checksum(tensors)}, path)
    except OSError as exc:
        warnings.warn(f"cannot write cache {path}: {exc}; continuing without it", CacheWarning,
                      stacklevel=2)
    return tensors


def attach_encodings(graphs: list, encodings: list[PositionalEncoding],
                     cache_dir: Path | None = None) -> None:
    """Set ``ndata['pe']`` on every graph: the encodings side by side, computed or cached."""
    if not encodings:
        return
    columns = []
    for enc in encodings:
        name = type(enc).__name__

        def compute(g, enc=enc, name=name):
            out = enc.compute(g)
            if not isinstance(out, Tensor) or tuple(out.shape) != (g.num_nodes(), enc.dim):
                raise WlkitError(f"positional encoding {name} returned "
                                 f"{getattr(out, 'shape', type(out))}, expected "
                                 f"({g.num_nodes()}, {enc.dim})")
            return out.float()

        columns.append(cached_per_graph("encodings", f"{name}-{enc.cache_key()}", graphs,
                                        compute, f"encoding {name}", cache_dir))
    for i, g in enumerate(graphs):
        g.ndata["pe"] = torch.cat([col[i] for col in columns], dim=-1)


def prepare(dataset: GraphDataset, encodings: list[PositionalEncoding],
            cache_dir: Path | None = None) -> PreparedData:
    """Load ``dataset`` once and attach its encodings; checks what the model relies on."""
    dataset.prepare_data()
    loaded = dataset.load()
    info = dataset.info()
    if not loaded.graphs:
        raise DatasetError(f"dataset {dataset.name!r} is empty")
    for split in ("train", "valid", "test"):
        if split not in loaded.splits or len(loaded.splits[split]) == 0:
            raise DatasetError(f"dataset {dataset.name!r} has no {split!r} graphs")
    attach_encodings(loaded.graphs, encodings, cache_dir)
    return PreparedData(info, loaded)


class GraphDataModule(L.LightningDataModule):
    """Data of one pipeline. ``prepare_data`` downloads/caches once; ``setup`` loads.

    Pass ``prepared`` to share loaded graphs between the fits of several seeds.
    """

    def __init__(self, dataset: GraphDataset, encodings: list[PositionalEncoding],
                 train_cfg: dict[str, Any], seed: int, prepared: PreparedData | None = None):
        super().__init__()
        self.dataset = dataset
        self.encodings = encodings
        self.train_cfg = train_cfg
        self.seed = seed
        self.prepared = prepared

    def prepare_data(self) -> None:
        if self.prepared is None:
            self.dataset.prepare_data()

    def setup(self, stage: str | None = None) -> None:
        if self.prepared is None:
            self.prepared = prepare(self.dataset, self.encodings)

    def _loader(self, split: str, train: bool) -> GraphDataLoader:
        cfg = self.train_cfg
        size = cfg["batch_size"] if train else (cfg["eval_batch_size"] or cfg["batch_size"])
        generator = torch.Generator().manual_seed(self.seed)
        workers = cfg["num_workers"]
        return GraphDataLoader(self.prepared.subset(split), batch_size=size, shuffle=train,
                               generator=generator, num_workers=workers,
                               persistent_workers=workers > 0)

    def train_dataloader(self) -> GraphDataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> GraphDataLoader:
        return self._loader("valid", False)

    def test_dataloader(self) -> GraphDataLoader:
        return self._loader("test", False)
