"""ZINC (Dwivedi et al., "Benchmarking Graph Neural Networks"): constrained solubility.

``subset: true`` (default) is ZINC-12k, the benchmark every expressive-GNN paper reports
(10,000 / 1,000 / 1,000 molecules); ``subset: false`` is the full ZINC-250k (220,011 /
24,445 / 5,000). Atom types (28) are the node input, an integer column embedded by the
dataset's node encoder; bond types (1-3: single, double, triple) are the edge features;
the target is ``logP_SA_cycle_normalized``, scored by MAE.

Files are benchmarking-gnns' pickles, read with a restricted unpickler (torch's storage
rebuild functions and ``OrderedDict`` only; storages are loaded with
``torch.load(weights_only=True)``). Two layouts are read:

* ``<root>/subset/{train,val,test}.pickle``: the 12k molecules already cut out (as in
  graphium's copy of benchmarking-gnns' ``ZINC_bench_gnn/``);
* ``<root>/molecules/{train,val,test}.pickle`` (full ZINC) with ``{split}.index``, the
  positions of the 12k subset: the layout of benchmarking-gnns' ``molecules.zip``, which
  PyG's ``ZINC`` downloads too. When the data is missing, this is what is downloaded into
  ``<wlkit cache>/zinc``.

``root`` comes from the pipeline, else ``$WLKIT_ZINC_ROOT``, else the cache. A root is only
read; the converted graphs are cached under ``<wlkit cache>/zinc/graphs``, keyed by the
files' bytes.
"""

from __future__ import annotations

import collections
import hashlib
import io
import os
import pickle
import shutil
import sys
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

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

SPLITS = (("train", "train"), ("valid", "val"), ("test", "test"))
"""wlkit's split name -> benchmarking-gnns' file stem."""
NUM_ATOM_TYPES = 28
NUM_BOND_TYPES = 4  # 0 = no bond (never an edge), 1-3 single/double/triple
SIZES = {True: (10_000, 1_000, 1_000), False: (220_011, 24_445, 5_000)}
URL = "https://www.dropbox.com/s/feo9qle74kg48gy/molecules.zip?dl=1"
INDEX_URL = ("https://raw.githubusercontent.com/graphdeeplearning/benchmarking-gnns/master/"
             "data/molecules/{}.index")
CACHE_VERSION = 1
TARGET = "logP_SA_cycle_normalized"


# ------------------------------------------------------------------ restricted unpickling
def _load_storage(data: bytes) -> Any:
    """``torch.storage._load_from_bytes`` without arbitrary code: weights-only loading."""
    return torch.load(io.BytesIO(data), weights_only=True)


TORCH_GLOBALS: dict[tuple[str, str], Callable[..., Any]] = {
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,
    ("torch.storage", "_load_from_bytes"): _load_storage,
    ("collections", "OrderedDict"): collections.OrderedDict,
}
"""What a benchmarking-gnns pickle may name: tensors rebuilt from weights-only storages."""


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals in ``allowed`` and refuses the rest.

    Parameters
    ----------
    file : binary file
        The pickle.
    allowed : dict
        ``(module, name) -> object`` the pickle may name.
    """

    def __init__(self, file: Any, allowed: dict[tuple[str, str], Any]):
        super().__init__(file)
        self.allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.allowed:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name} (not data)")
        return self.allowed[(module, name)]


def restricted_load(path: Path, allowed: dict[tuple[str, str], Any], what: str) -> Any:
    """Unpickle ``path`` with :class:`RestrictedUnpickler`; any failure is a
    :class:`DatasetError` naming the file.

    Parameters
    ----------
    path : Path
        The pickle file.
    allowed : dict
        ``(module, name) -> object`` the pickle may name.
    what : str
        What the file should hold, for the hint.
    """
    try:
        with path.open("rb") as handle:
            return RestrictedUnpickler(handle, allowed).load()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read it: {exc}") from None
    except Exception as exc:  # UnpicklingError, EOFError, ValueError from torch.load, ...
        raise DatasetError(f"{path}: not a readable pickle of {what}: {type(exc).__name__}: "
                           f"{exc}\n    hint: the file is corrupt or not the original; "
                           "download it again") from None


# ------------------------------------------------------------------ the dataset
def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


class ZincDataset(GraphDataset):
    """ZINC-12k or ZINC-250k (see the module docstring).

    Parameters
    ----------
    subset : bool
        ZINC-12k (True) or the full 250k molecules.
    root : str, optional
        Folder with ``subset/`` or ``molecules/`` (module docstring); default
        ``$WLKIT_ZINC_ROOT``, else ``<wlkit cache>/zinc``.
    max_per_split : int, optional
        Keep only the first N molecules of each split (smoke tests); None keeps all.
    """

    name = "zinc"

    def __init__(self, subset: bool = True, root: str | None = None,
                 max_per_split: int | None = None):
        self.subset = bool(subset)
        self.root = root
        self.max_per_split = max_per_split

    def info(self) -> DatasetInfo:
        sizes = SIZES[self.subset]
        if self.max_per_split is not None:
            sizes = tuple(min(s, self.max_per_split) for s in sizes)
        return DatasetInfo(task="regression", num_tasks=1, metric="mae",
                           higher_is_better=False, node_feat_dim=1, edge_feat_dim=1,
                           num_graphs=sum(sizes))

    def node_encoder(self, hidden: int) -> nn.Module:
        return TypeEmbedding(NUM_ATOM_TYPES, hidden)

    def edge_encoder(self, hidden: int) -> nn.Module:
        return TypeEmbedding(NUM_BOND_TYPES, hidden)

    # -- files -------------------------------------------------------------------------

    def source_root(self) -> Path:
        root = self.root or os.environ.get("WLKIT_ZINC_ROOT") or cache_root() / "zinc"
        return Path(root).expanduser()

    def _files(self) -> tuple[list[Path], list[Path] | None]:
        """The three pickles and, when they hold full ZINC but the subset is asked for,
        the three index files; a DatasetError when neither layout is there."""
        root = self.source_root()
        cut = [root / "subset" / f"{stem}.pickle" for _, stem in SPLITS]
        full = [root / "molecules" / f"{stem}.pickle" for _, stem in SPLITS]
        index = [root / "molecules" / f"{stem}.index" for _, stem in SPLITS]
        if self.subset and all(p.is_file() for p in cut):
            return cut, None
        if all(p.is_file() for p in full) and (not self.subset
                                               or all(p.is_file() for p in index)):
            return full, index if self.subset else None
        if not self.subset and all(p.is_file() for p in cut):
            raise DatasetError(f"zinc: {root} holds only ZINC-12k (subset/); subset: false "
                               "needs full ZINC in molecules/\n    hint: set subset: true, or "
                               "point root at benchmarking-gnns' molecules.zip, unpacked")
        raise DatasetError(self._missing(root))

    def _missing(self, root: Path, reason: str = "") -> str:
        return (f"zinc: the data is not at {root}{reason}\n    hint: give dataset.root (or "
                "WLKIT_ZINC_ROOT) a folder holding subset/{train,val,test}.pickle, or "
                "molecules/{train,val,test}.pickle (+ .index files) from benchmarking-gnns' "
                f"molecules.zip ({URL})")

    def prepare_data(self) -> None:
        try:
            self._files()
            return
        except DatasetError:
            root = self.source_root()
            if _flag("WLKIT_OFFLINE"):
                raise DatasetError(self._missing(root, " (WLKIT_OFFLINE is set)")) from None
            if self.root or os.environ.get("WLKIT_ZINC_ROOT"):
                raise
        download(cache_root() / "zinc")
        self._files()

    def load(self) -> LoadedDataset:
        import dgl

        files, index = self._files()
        digest = hashlib.sha256(f"v{CACHE_VERSION}|{self.subset}".encode())
        for path in files + (index or []):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
        cache = cache_root() / "zinc" / "graphs" / f"{digest.hexdigest()[:20]}.bin"
        graphs: list[Any] | None = None
        if cache.exists():
            try:
                graphs, tensors = dgl.load_graphs(str(cache))
                labels, split = tensors["labels"], tensors["split"]
            except Exception as exc:  # a corrupt cache: rebuild it from the pickles
                print(f"zinc: cache file {cache} is unreadable ({exc}); rebuilding it",
                      file=sys.stderr)
                graphs = None
        if graphs is None:
            graphs, labels, split = self._convert(files, index)
            _save_graphs(cache, graphs, {"labels": labels, "split": split})
        return _assemble(list(graphs), labels, split, self.max_per_split)

    def _convert(self, files: list[Path], index: list[Path] | None
                 ) -> tuple[list[Any], torch.Tensor, torch.Tensor]:
        graphs, labels, split = [], [], []
        for k, path in enumerate(files):
            records = restricted_load(path, TORCH_GLOBALS, "benchmarking-gnns ZINC molecules")
            if not isinstance(records, list):
                raise DatasetError(f"{path}: expected a list of molecules, got "
                                   f"{type(records).__name__}\n    hint: the file is not a "
                                   "benchmarking-gnns ZINC pickle")
            keep: Iterable[int] = range(len(records))
            if index is not None:
                keep = _read_index(index[k], len(records))
            for i in keep:
                graphs.append(molecule_graph(records[i], path, i))
                labels.append(float(records[i][TARGET].reshape(-1)[0]))
                split.append(k)
        return (graphs, torch.tensor(labels, dtype=torch.float32).view(-1, 1),
                torch.tensor(split, dtype=torch.long))

    def fingerprint(self) -> str:
        key = f"zinc|{self.subset}|{self.max_per_split}|{self.source_root().resolve()}"
        return hashlib.sha256(key.encode()).hexdigest()[:16]


def _assemble(graphs: list[Any], labels: torch.Tensor, split: torch.Tensor,
              max_per_split: int | None) -> LoadedDataset:
    """The split as index tensors; with ``max_per_split`` only the first N graphs of each
    split are kept (and the others dropped, so encodings and policies skip them too)."""
    members = [torch.nonzero(split == k).flatten() for k in range(len(SPLITS))]
    if max_per_split is not None:
        members = [m[:max_per_split] for m in members]
        keep = torch.cat(members)
        graphs, labels = [graphs[int(i)] for i in keep], labels[keep]
        sizes = [len(m) for m in members]
        starts = [sum(sizes[:k]) for k in range(len(sizes))]
        members = [torch.arange(s, s + n) for s, n in zip(starts, sizes)]
    return LoadedDataset(graphs, labels, {name: m for (name, _), m in zip(SPLITS, members)})


class TypeEmbedding(nn.Module):
    """Embeds an integer type column (``feat[:, 0]``) at width ``hidden``."""

    def __init__(self, num_types: int, hidden: int):
        super().__init__()
        self.embedding = nn.Embedding(num_types, hidden)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        return self.embedding(feat.view(feat.shape[0], -1)[:, 0].long())


def molecule_graph(record: Any, path: Path, i: int) -> Any:
    """One benchmarking-gnns molecule as a DGL graph (both directions of every bond)."""
    import dgl

    try:
        atoms = torch.as_tensor(record["atom_type"]).long().view(-1)
        bonds = torch.as_tensor(record["bond_type"]).long()
        target = torch.as_tensor(record[TARGET]).float().view(-1)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise DatasetError(f"{path}: molecule {i} lacks atom_type / bond_type / {TARGET} "
                           f"({type(exc).__name__}: {exc})\n    hint: the file is not a "
                           "benchmarking-gnns ZINC pickle") from None
    n = len(atoms)
    problem = None
    if bonds.shape != (n, n):
        problem = f"bond_type has shape {tuple(bonds.shape)}, expected ({n}, {n})"
    elif n and (int(atoms.min()) < 0 or int(atoms.max()) >= NUM_ATOM_TYPES):
        problem = f"atom types must lie in 0..{NUM_ATOM_TYPES - 1}"
    elif n and (int(bonds.min()) < 0 or int(bonds.max()) >= NUM_BOND_TYPES):
        problem = f"bond types must lie in 0..{NUM_BOND_TYPES - 1}"
    elif not torch.equal(bonds, bonds.T):
        problem = "bond_type is not symmetric"
    elif target.numel() != 1 or not bool(torch.isfinite(target).all()):
        problem = f"{TARGET} must be one finite number"
    if problem:
        raise DatasetError(f"{path}: molecule {i}: {problem}\n    hint: the file is corrupt "
                           "or not the original; download it again")
    src, dst = torch.nonzero(bonds, as_tuple=True)
    graph = dgl.graph((src, dst), num_nodes=n)
    graph.ndata["feat"] = atoms.view(-1, 1)
    graph.edata["feat"] = bonds[src, dst].view(-1, 1)
    return graph


def _read_index(path: Path, size: int) -> list[int]:
    try:
        text = path.read_text()
        ids = [int(x) for x in text.replace("\n", ",").split(",") if x.strip()]
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: not a comma-separated list of molecule positions "
                           f"({exc})\n    hint: download the file again") from None
    bad = [i for i in ids if not 0 <= i < size]
    if bad:
        raise DatasetError(f"{path}: position {bad[0]} is outside the {size} molecules of "
                           "its pickle\n    hint: the index and the pickle do not match")
    return ids


def _save_graphs(path: Path, graphs: list[Any], tensors: dict[str, torch.Tensor]) -> None:
    """``dgl.save_graphs`` through a temporary file and a rename (never a half cache)."""
    import dgl

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        dgl.save_graphs(tmp, graphs, tensors)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def download(root: Path) -> Path:
    """Download benchmarking-gnns' ``molecules.zip`` and the subset index files into
    ``root/molecules/`` (the layout PyG's ``ZINC`` uses too).

    Parameters
    ----------
    root : Path
        A writable folder (``<wlkit cache>/zinc`` by default).

    Returns
    -------
    Path
        ``root/molecules``.
    """
    target = root / "molecules"
    root.mkdir(parents=True, exist_ok=True)
    print(f"zinc: downloading {URL} into {root}", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        archive = Path(tmp) / "molecules.zip"
        try:
            with urllib.request.urlopen(URL, timeout=60) as response, \
                    archive.open("wb") as out:
                shutil.copyfileobj(response, out)
            with zipfile.ZipFile(archive) as zipped:
                zipped.extractall(tmp)
            for _, stem in SPLITS:
                with urllib.request.urlopen(INDEX_URL.format(stem), timeout=60) as response:
                    (Path(tmp) / "molecules" / f"{stem}.index").write_bytes(response.read())
        except (OSError, zipfile.BadZipFile) as exc:
            raise DatasetError(f"zinc: download of {URL} failed: {type(exc).__name__}: {exc}"
                               f"\n    hint: without internet, set dataset.root or "
                               "WLKIT_ZINC_ROOT to a local copy") from None
        if target.exists():
            shutil.rmtree(target)
        os.replace(Path(tmp) / "molecules", target)
    return target


@hookimpl
def wlkit_datasets() -> list[DatasetRecord]:
    return [DatasetRecord(
        name="zinc", factory=ZincDataset,
        summary="ZINC-12k (subset) or ZINC-250k: constrained solubility, atom/bond types, "
                "metric MAE.",
        params=(
            Param("subset", bool, True, "ZINC-12k (true) or the full 250k molecules"),
            Param("root", str, None, "folder with subset/ or molecules/ (default "
                  "$WLKIT_ZINC_ROOT or the wlkit cache)", nullable=True),
            Param("max_per_split", int, None, "keep only the first N molecules of each "
                  "split (smoke tests)", minimum=1, nullable=True),
        ),
    )]


__all__ = ["RestrictedUnpickler", "TORCH_GLOBALS", "TypeEmbedding", "ZincDataset", "download",
           "molecule_graph", "restricted_load", "wlkit_datasets"]
