"""Loading, positional-encoding caching and the LightningDataModule."""

from __future__ import annotations

import hashlib
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dgl
import lightning as L
import numpy as np
import torch
from dgl.dataloading import GraphDataLoader
from torch import Tensor
from torch.utils.data import Dataset

from wlkit.components import (
    DatasetInfo,
    GraphDataset,
    LoadedDataset,
    PositionalEncoding,
    SubgraphPolicy,
)
from wlkit.errors import DatasetError, WlkitError
from wlkit.io import atomic_torch_save, cache_root, progress
from wlkit.model.checkpoint import EpochShuffleSampler

# 1: a list of per-graph results (one small tensor each: slow to load for thousands of
#    graphs); 2: packed, one flat tensor per key plus per-graph shapes. Format 1 files are
#    still read, and rewritten as format 2.
CACHE_FORMAT = 2


class CacheWarning(UserWarning):
    """A cache file was unreadable or corrupt and is being rebuilt."""


@dataclass
class PreparedData:
    """A loaded dataset whose graphs carry their positional encodings in ``ndata['pe']``,
    with the policy's per-graph structures (``policy_data[i]`` for graph ``i``) if any."""

    info: DatasetInfo
    loaded: LoadedDataset
    policy_data: list[dict[str, Tensor]] | None = None

    def subset(self, split: str) -> GraphSubset:
        return GraphSubset(self, self.loaded.splits[split])


class GraphSubset(Dataset):
    """``(graph, label, policy_data)`` triples of one split, for ``GraphDataLoader``."""

    def __init__(self, data: PreparedData, indices: Tensor):
        self.data = data
        self.indices = indices.tolist()

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[Any, Tensor, dict[str, Tensor]]:
        j = self.indices[i]
        policy = self.data.policy_data[j] if self.data.policy_data is not None else {}
        return self.data.loaded.graphs[j], self.data.loaded.labels[j], policy


class Collate:
    """Batch ``(graph, label, policy_data)`` items: ``(batched graph, labels, policy batch)``.

    A class rather than a closure so worker processes can pickle it.
    """

    def __init__(self, policy: SubgraphPolicy | None):
        self.policy = policy

    def __call__(self, items: list[tuple[Any, Tensor, dict[str, Tensor]]]) -> tuple:
        graphs = [item[0] for item in items]
        labels = torch.stack([item[1] for item in items])
        policy_batch = (self.policy.collate(graphs, [item[2] for item in items])
                        if self.policy is not None else None)
        return dgl.batch(graphs), labels, policy_batch


def structure_hash(graphs: list) -> str:
    """Checksum of every graph's node count and edge list (cache key of per-graph results).

    The bytes hashed are, graph after graph, the node count and the source and destination
    ids (int64). They are assembled from one batched graph: ``dgl.batch`` without features
    plus one ``edges()`` call costs a fraction of one ``edges()`` call per graph.
    """
    digest = hashlib.sha256()
    if not graphs:
        return digest.hexdigest()[:16]
    try:
        batched = dgl.batch(graphs, ndata=None, edata=None)
    except Exception:  # e.g. mixed id types: hash graph by graph
        for g in graphs:
            src, dst = g.edges()
            digest.update(np.int64(g.num_nodes()).tobytes())
            digest.update(src.numpy().astype(np.int64).tobytes())
            digest.update(dst.numpy().astype(np.int64).tobytes())
        return digest.hexdigest()[:16]
    nodes = batched.batch_num_nodes().numpy().astype(np.int64)
    edges = batched.batch_num_edges().numpy().astype(np.int64)
    src, dst = (t.numpy().astype(np.int64) for t in batched.edges())
    node_start = np.cumsum(nodes) - nodes
    edge_start = np.cumsum(edges) - edges
    owner = np.repeat(np.arange(len(graphs)), edges)  # graph of each edge
    start = np.arange(len(graphs)) + 2 * edge_start   # where each graph's record starts
    within = np.arange(len(src)) - edge_start[owner]
    stream = np.empty(len(graphs) + 2 * len(src), dtype=np.int64)
    stream[start] = nodes
    stream[start[owner] + 1 + within] = src - node_start[owner]
    stream[start[owner] + 1 + edges[owner] + within] = dst - node_start[owner]
    digest.update(stream.tobytes())
    return digest.hexdigest()[:16]


def _tensor_checksum(items: list[Tensor] | list[dict[str, Tensor]]) -> str:
    digest = hashlib.sha256()
    for item in items:
        for key, t in sorted(item.items()) if isinstance(item, dict) else [("", item)]:
            digest.update(key.encode())
            digest.update(str(tuple(t.shape)).encode())
            digest.update(t.contiguous().numpy().tobytes())
    return digest.hexdigest()


def _pack(items: list) -> dict[str, Any] | None:
    """Per-graph results as one flat tensor per key and a ``[count, ndim]`` shape table.

    ``None`` when they do not pack: mixed tensors and dicts, differing dict keys, or a key
    whose dtype or number of dimensions differs between graphs (stored as a list then).
    """
    if not items or not all(isinstance(i, (Tensor, dict)) for i in items):
        return None
    is_dict = isinstance(items[0], dict)
    if any(isinstance(i, dict) != is_dict for i in items):
        return None
    rows = items if is_dict else [{"": t} for t in items]
    keys = list(rows[0])
    if any(list(r) != keys for r in rows):
        return None
    flat, shapes = {}, {}
    for key in keys:
        column = [r[key] for r in rows]
        first = column[0]
        if any(not isinstance(t, Tensor) or t.dtype != first.dtype or t.dim() != first.dim()
               for t in column):
            return None
        flat[key] = torch.cat([t.reshape(-1) for t in column])
        shapes[key] = torch.tensor([list(t.shape) for t in column],
                                   dtype=torch.long).view(len(column), first.dim())
    return {"kind": "dict" if is_dict else "tensor", "count": len(items), "keys": keys,
            "flat": flat, "shapes": shapes}


def _unpack(packed: dict[str, Any]) -> list:
    """The per-graph results of :func:`_pack`: views into one freshly loaded buffer per key
    (no copies; the pieces do not overlap)."""
    count, keys = packed["count"], packed["keys"]
    columns = {}
    for key in keys:
        shapes, flat = packed["shapes"][key], packed["flat"][key]
        if shapes.shape[1] == 0:  # 0-d tensors
            columns[key] = list(flat.unbind(0))
            continue
        trailing = shapes[0, 1:]
        if bool((shapes[:, 1:] == trailing).all()) and bool((trailing > 0).all()):
            # one shape but the first dimension: split rows, no per-graph reshaping
            rows = flat.view(-1, *trailing.tolist())
            columns[key] = list(torch.split(rows, shapes[:, 0].tolist()))
        else:
            pieces = torch.split(flat, shapes.prod(dim=1).tolist())
            columns[key] = [piece.view(shape) for piece, shape in zip(pieces, shapes.tolist())]
    if packed["kind"] == "tensor":
        return columns[keys[0]]
    return [{key: columns[key][i] for key in keys} for i in range(count)]


def _packed_checksum(packed: dict[str, Any]) -> str:
    """CRC-32 of the packed buffers and their layout (detects truncation and bit rot; the
    buffers are hashed in place, without copies)."""
    crc = zlib.crc32(f"{packed['kind']}|{packed['count']}|{packed['keys']}".encode())
    for key in packed["keys"]:
        for t in (packed["flat"][key], packed["shapes"][key]):
            crc = zlib.crc32(f"{key}|{t.dtype}|{tuple(t.shape)}".encode(), crc)
            crc = zlib.crc32(t.contiguous().view(-1).numpy(), crc)
    return f"crc32:{crc:08x}"


def _read_cache(path: Path, count: int) -> tuple[list, bool]:
    """The cached results at ``path`` and whether the file is in an older format."""
    blob = torch.load(path, weights_only=True)
    if blob.get("format") == 1:
        tensors = blob["tensors"]
        if len(tensors) != count or blob.get("checksum") != _tensor_checksum(tensors):
            raise ValueError("checksum or length mismatch")
        return tensors, True
    if blob.get("format") != CACHE_FORMAT:
        raise ValueError(f"unknown cache format {blob.get('format')!r}")
    if "packed" in blob:
        packed = blob["packed"]
        if packed["count"] != count or blob.get("checksum") != _packed_checksum(packed):
            raise ValueError("checksum or length mismatch")
        return _unpack(packed), False
    tensors = blob["tensors"]
    if len(tensors) != count or blob.get("checksum") != _tensor_checksum(tensors):
        raise ValueError("checksum or length mismatch")
    return tensors, False


def _write_cache(path: Path, results: list) -> None:
    packed = _pack(results)
    if packed is not None:
        blob = {"format": CACHE_FORMAT, "packed": packed, "checksum": _packed_checksum(packed)}
    else:
        blob = {"format": CACHE_FORMAT, "tensors": results,
                "checksum": _tensor_checksum(results)}
    try:
        atomic_torch_save(blob, path)
    except OSError as exc:
        warnings.warn(f"cannot write cache {path}: {exc}; continuing without it", CacheWarning,
                      stacklevel=3)


def cached_per_graph(kind: str, key: str, graphs: list, compute, desc: str,
                     cache_dir: Path | None = None) -> list[Tensor]:
    """Compute ``compute(graph)`` for every graph, or read it from the on-disk cache.

    The file is named by ``key`` and the graphs' structure hash; it stores a checksum, so a
    truncated or corrupt file is detected, reported and rebuilt. Writes are atomic. Results
    are stored packed (one flat tensor per key), which loads in milliseconds where a list of
    thousands of small tensors took most of a second.
    """
    folder = (cache_dir or cache_root()) / kind
    path = folder / f"{key}-{structure_hash(graphs)}.pt"
    if path.exists():
        try:
            results, outdated = _read_cache(path, len(graphs))
        except Exception as exc:
            warnings.warn(f"cache file {path} is corrupt ({exc}); rebuilding it", CacheWarning,
                          stacklevel=2)
        else:
            if outdated:
                _write_cache(path, results)
            return results
    # wlkit.io.progress: tqdm on a terminal, a line per few percent in a log, none if quiet
    results = [compute(g) for g in progress(graphs, desc=desc, unit="graph")]
    _write_cache(path, results)
    return results


def attach_encodings(graphs: list, encodings: list[PositionalEncoding],
                     cache_dir: Path | None = None) -> None:
    """Set ``ndata['pe']`` on every graph: the encodings side by side, computed or cached."""
    if not encodings:
        return
    columns = []
    for enc in encodings:
        name = type(enc).__name__

        def compute(g, enc=enc):
            # encode(): compute() checked by the base class, the error naming the plugin
            return enc.encode(g)

        columns.append(cached_per_graph("encodings", f"{name}-{enc.cache_key()}", graphs,
                                        compute, f"encoding {name}", cache_dir))
    for i, g in enumerate(graphs):
        g.ndata["pe"] = torch.cat([col[i] for col in columns], dim=-1)


def prepare_policy(graphs: list, policy: SubgraphPolicy | None, name: str = "policy",
                   cache_dir: Path | None = None) -> list[dict[str, Tensor]] | None:
    """Run the policy's CPU-side ``prepare`` on every graph, through the on-disk cache."""
    if policy is None or not policy.has_prepare:
        return None

    def compute(g):
        out = policy.prepare(g)
        if not isinstance(out, dict) or not all(isinstance(v, Tensor) for v in out.values()):
            raise WlkitError(f"subgraph_policy {name!r}: prepare() must return a dict of "
                             f"tensors, got {type(out).__name__}")
        return out

    return cached_per_graph("policies", f"{name}-{policy.cache_key()}", graphs, compute,
                            f"policy {name}", cache_dir)


def prepare(dataset: GraphDataset, encodings: list[PositionalEncoding],
            cache_dir: Path | None = None, policy: SubgraphPolicy | None = None,
            policy_name: str = "policy") -> PreparedData:
    """Load ``dataset`` once, attach its encodings and run the policy's ``prepare``."""
    dataset.prepare_data()
    loaded = dataset.load()
    info = dataset.info()
    if not loaded.graphs:
        raise DatasetError(f"dataset {dataset.name!r} is empty")
    for split in ("train", "valid", "test"):
        if split not in loaded.splits or len(loaded.splits[split]) == 0:
            raise DatasetError(f"dataset {dataset.name!r} has no {split!r} graphs")
    check_values(dataset.name, info, loaded)
    attach_encodings(loaded.graphs, encodings, cache_dir)
    return PreparedData(info, loaded,
                        prepare_policy(loaded.graphs, policy, policy_name, cache_dir))


def check_values(name: str, info: DatasetInfo, loaded: LoadedDataset) -> None:
    """Refuse what would silently poison training: NaN/inf features, impossible labels."""
    labels = loaded.labels
    if len(labels) != len(loaded.graphs):
        raise DatasetError(f"dataset {name!r}: {len(loaded.graphs)} graphs but {len(labels)} "
                           "labels")
    if info.task == "multiclass":
        bad = (labels < 0) | (labels >= info.num_tasks)
        if bool(bad.any()):
            i = int(torch.nonzero(bad)[0])
            raise DatasetError(f"dataset {name!r}: graph {i} has label {labels[i].item()}, "
                               f"outside 0..{info.num_tasks - 1}")
    elif bool(torch.isinf(labels).any()):
        i = int(torch.nonzero(torch.isinf(labels).view(len(labels), -1).any(1))[0])
        raise DatasetError(f"dataset {name!r}: graph {i} has an infinite label "
                           "(NaN marks a missing label; inf is not allowed)")
    for i, g in enumerate(loaded.graphs):
        for kind, frame in (("node", g.ndata), ("edge", g.edata)):
            feat = frame.get("feat") if "feat" in frame else None
            if feat is not None and feat.is_floating_point() and not bool(
                    torch.isfinite(feat).all()):
                raise DatasetError(f"dataset {name!r}: graph {i} has NaN or infinite {kind} "
                                   "features\n    hint: clean or impute them before training")
    for split, index in loaded.splits.items():
        if len(index) and (int(index.min()) < 0 or int(index.max()) >= len(loaded.graphs)):
            raise DatasetError(f"dataset {name!r}: split {split!r} refers to graphs that do "
                               "not exist")


def pin_memory_for(accelerator: Any) -> bool:
    """Whether data loaders should pin their batches for ``accelerator``.

    Parameters
    ----------
    accelerator : lightning.pytorch.accelerators.Accelerator or None
        The trainer's resolved accelerator (``trainer.accelerator``); None outside a fit.

    Returns
    -------
    bool
        True for CUDA: page-locked host memory lets the copy to the GPU run asynchronously
        and faster. Elsewhere pinning only costs a copy (and warns without a GPU).

    Notes
    -----
    torch pins the tensors of a batch (the labels, a policy batch given as tensors, lists or
    mappings); DGL graphs have no ``pin_memory()`` and are copied by Lightning's ``.to``.
    """
    from lightning.pytorch.accelerators import CUDAAccelerator

    return isinstance(accelerator, CUDAAccelerator)


class GraphDataModule(L.LightningDataModule):
    """Data of one pipeline. ``prepare_data`` downloads/caches once; ``setup`` loads.

    Pass ``prepared`` to share loaded graphs between the fits of several seeds.
    """

    def __init__(self, dataset: GraphDataset, encodings: list[PositionalEncoding],
                 train_cfg: dict[str, Any], seed: int, prepared: PreparedData | None = None,
                 policy: SubgraphPolicy | None = None):
        super().__init__()
        self.dataset = dataset
        self.encodings = encodings
        self.policy = policy
        self.train_cfg = train_cfg
        self.seed = seed
        self.prepared = prepared

    def prepare_data(self) -> None:
        if self.prepared is None:
            self.dataset.prepare_data()

    def setup(self, stage: str | None = None) -> None:
        if self.prepared is None:
            self.prepared = prepare(self.dataset, self.encodings, policy=self.policy)

    def split_size(self, split: str) -> int:
        return len(self.prepared.loaded.splits[split])

    def _loader(self, split: str, train: bool, shard: bool = True) -> GraphDataLoader:
        cfg = self.train_cfg
        size = cfg["batch_size"] if train else (cfg["eval_batch_size"] or cfg["batch_size"])
        subset = self.prepared.subset(split)
        workers = cfg["num_workers"]
        trainer = getattr(self, "trainer", None)
        if shard and trainer is not None and trainer.world_size > 1:
            # DDP: DGL's DistributedSampler shards (and, in training, shuffles per epoch).
            placement: dict[str, Any] = {"use_ddp": True, "ddp_seed": self.seed,
                                         "shuffle": train}
        else:
            placement = {"sampler": EpochShuffleSampler(len(subset), self.seed) if train
                         else None}
        per_process = -(-len(subset) // trainer.world_size) if "use_ddp" in placement else len(
            subset)
        # A last training batch of one graph is dropped (a different graph each epoch, since
        # every epoch reshuffles): BatchNorm cannot normalise a batch holding one node, which
        # is what a one-atom molecule alone in a batch is (ogbg-molfreesolv's 513 training
        # graphs at batch 32 hit this).
        drop_last = train and size > 1 and per_process % size == 1
        # A private generator: every iter() of a torch DataLoader draws its workers' base
        # seed from `generator`, by default the global RNG. Lightning creates iterators a
        # different number of times in a resumed fit than in an uninterrupted one, so with the
        # global RNG each extra iter() shifted the dropout masks of every later step.
        generator = torch.Generator().manual_seed(self.seed)
        return GraphDataLoader(subset, batch_size=size, **placement, num_workers=workers,
                               drop_last=drop_last, persistent_workers=workers > 0,
                               pin_memory=pin_memory_for(getattr(trainer, "accelerator", None)),
                               collate_fn=Collate(self.policy), generator=generator)

    def train_dataloader(self) -> GraphDataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> GraphDataLoader:
        return self._loader("valid", False)

    def test_dataloader(self) -> GraphDataLoader:
        return self._loader("test", False)

    def full_loader(self, split: str) -> GraphDataLoader:
        """An unsharded evaluation loader over a whole split (final scoring on one process)."""
        return self._loader(split, False, shard=False)
