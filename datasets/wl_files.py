"""Readers for the WL-separation benchmark files (EXP, CEXP, CSL, SR25, BREC).

Pure functions that turn the published files into :class:`wlkit.graphs.SimpleGraph` objects;
dataset plugins wrap them. Every reader validates its input and names the file (and line)
in its errors. Nothing here writes to disk, so the read-only shared data directory works.
"""

from __future__ import annotations

import io
import pickle
from os import PathLike
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..graphs import SimpleGraph

__all__ = [
    "BREC_CATEGORIES",
    "WLFormatError",
    "read_brec_npy",
    "read_csl_pickles",
    "read_csl_split",
    "read_graph6",
    "read_ppgn_text",
]

#: BREC's seven files, in the order of the official pair ids (basic 0-59, regular 60-109,
#: str 110-159, extension 160-259, cfi 260-359, 4vtx 360-379, dr 380-399).
BREC_CATEGORIES: tuple[str, ...] = ("basic", "regular", "str", "extension", "cfi", "4vtx", "dr")


class WLFormatError(ValueError):
    """A benchmark file does not match its format; the message names the file and line."""


def _err(path: Path, line: int | None, msg: str) -> WLFormatError:
    where = f"{path}:{line}" if line is not None else str(path)
    return WLFormatError(f"{where}: {msg}")


def read_ppgn_text(path: str | PathLike[str]) -> list[tuple[SimpleGraph, int]]:
    """Read the PPGN text format used by EXP and CEXP.

    Format: line 1 holds the number of graphs. Each graph is a header line ``n label`` and
    then ``n`` lines ``node_label degree nbr_1 ... nbr_degree`` (0-based ids, every edge
    listed from both ends). Blank lines are ignored.

    Parameters
    ----------
    path : path-like
        The ``GRAPHSAT.txt`` file.

    Returns
    -------
    list of (SimpleGraph, int)
        The graphs (node labels from the file, no edge labels, named ``"<stem>[i]"``) with
        their graph labels, in file order (graphs 2i and 2i+1 form pair i in EXP/CEXP).

    Raises
    ------
    WLFormatError
        On malformed lines, out-of-range neighbours, self loops, one-sided edges or a graph
        count that does not match line 1; the message gives file and line.
    """
    p = Path(path)
    with p.open("r", encoding="ascii") as fh:
        lines = [(i + 1, ln.split()) for i, ln in enumerate(fh) if ln.strip()]
    if not lines:
        raise _err(p, None, "empty file")

    def ints(lineno: int, toks: list[str]) -> list[int]:
        try:
            return [int(t) for t in toks]
        except ValueError:
            raise _err(p, lineno, f"expected integers, got {' '.join(toks)!r}") from None

    lineno, toks = lines[0]
    head = ints(lineno, toks)
    if len(head) != 1 or head[0] < 0:
        raise _err(p, lineno, "line 1 must hold the number of graphs")
    count = head[0]
    out: list[tuple[SimpleGraph, int]] = []
    pos = 1
    for gi in range(count):
        if pos >= len(lines):
            raise _err(p, None, f"file ends after {gi} of {count} graphs")
        lineno, toks = lines[pos]
        header = ints(lineno, toks)
        if len(header) != 2 or header[0] < 0:
            raise _err(p, lineno, f"graph {gi}: header must be 'n label', got {' '.join(toks)!r}")
        n, label = header
        pos += 1
        node_labels = np.zeros(n, dtype=np.int64)
        arcs: dict[tuple[int, int], int] = {}  # (u, v) -> line listing v in u's row
        for u in range(n):
            if pos >= len(lines):
                raise _err(p, None, f"graph {gi}: file ends at node {u} of {n}")
            lineno, toks = lines[pos]
            row = ints(lineno, toks)
            pos += 1
            if len(row) < 2 or row[1] < 0 or len(row) != 2 + row[1]:
                raise _err(
                    p,
                    lineno,
                    f"graph {gi}, node {u}: expected 'label degree nbrs...' "
                    f"with degree matching the neighbour count, got {' '.join(toks)!r}",
                )
            node_labels[u] = row[0]
            for v in row[2:]:
                if not 0 <= v < n:
                    raise _err(p, lineno, f"graph {gi}, node {u}: neighbour {v} not in [0, {n})")
                if v == u:
                    raise _err(p, lineno, f"graph {gi}, node {u}: self loop")
                if (u, v) in arcs:
                    raise _err(p, lineno, f"graph {gi}, node {u}: neighbour {v} listed twice")
                arcs[u, v] = lineno
        for (u, v), ln in arcs.items():
            if (v, u) not in arcs:
                raise _err(
                    p, ln, f"graph {gi}: edge {u}-{v} listed at node {u} but not at node {v}"
                )
        pairs = [(u, v) for (u, v) in arcs if u < v]
        g = SimpleGraph.from_edges(n, pairs, node_labels, name=f"{p.parent.name}[{gi}]")
        out.append((g, label))
    if pos != len(lines):
        raise _err(p, lines[pos][0], f"unexpected content after the {count} declared graphs")
    return out


def read_graph6(path: str | PathLike[str]) -> list[SimpleGraph]:
    """Read a graph6 file, one graph per line (an optional ``>>graph6<<`` header is allowed).

    Graphs are named ``"<stem>[i]"``. Raises :class:`WLFormatError` naming file and line.
    """
    import networkx as nx

    p = Path(path)
    out: list[SimpleGraph] = []
    with p.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = raw.strip()
            if not line:
                continue
            try:
                nxg = nx.from_graph6_bytes(line)
            except (nx.NetworkXError, ValueError, IndexError) as err:
                raise _err(p, lineno, f"bad graph6 string: {err}") from None
            out.append(SimpleGraph.from_networkx(nxg, name=f"{p.stem}[{len(out)}]"))
    return out


class _SparseUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds numpy arrays and scipy.sparse matrices.

    The CSL pickle holds a list of scipy.sparse matrices; refusing every other global keeps
    a tampered file from running code.
    """

    _ALLOWED: ClassVar[set[tuple[str, str]]] = {
        ("numpy", "dtype"),
        ("numpy", "ndarray"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("scipy.sparse.coo", "coo_matrix"),
        ("scipy.sparse._coo", "coo_matrix"),
        ("scipy.sparse.csr", "csr_matrix"),
        ("scipy.sparse._csr", "csr_matrix"),
        ("scipy.sparse.csc", "csc_matrix"),
        ("scipy.sparse._csc", "csc_matrix"),
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        if module.startswith("scipy.sparse"):
            import scipy.sparse

            # Old pickles name private modules (scipy.sparse.coo) that warn on import.
            return getattr(scipy.sparse, name)
        return super().find_class(module, name)


def read_csl_pickles(
    root: str | PathLike[str],
    graphs_file: str = "graphs_Kary_Deterministic_Graphs.pkl",
    labels_file: str = "y_Kary_Deterministic_Graphs.pt",
) -> list[tuple[SimpleGraph, int]]:
    """Read the CSL benchmark (Murphy et al. 2019) from its pickled adjacencies.

    Parameters
    ----------
    root : path-like
        Folder holding the two files.
    graphs_file : str
        Pickled list of 41x41 scipy.sparse adjacency matrices (self loops on every node).
    labels_file : str
        torch-saved label tensor (class 0..9), loaded with ``weights_only=True``.

    Returns
    -------
    list of (SimpleGraph, int)
        Unlabelled graphs with self loops dropped (4-regular, 41 nodes), named
        ``"CSL[i]"``, with their class.

    Raises
    ------
    WLFormatError
        If a matrix is not square and symmetric, or the counts differ.
    """
    import torch

    r = Path(root)
    gpath, ypath = r / graphs_file, r / labels_file
    try:
        mats = _SparseUnpickler(io.BytesIO(gpath.read_bytes())).load()
    except pickle.UnpicklingError as err:
        raise _err(gpath, None, str(err)) from None
    labels = torch.load(ypath, weights_only=True)
    labels = np.asarray(labels.cpu().numpy() if hasattr(labels, "cpu") else labels).reshape(-1)
    if not isinstance(mats, list) or len(mats) != len(labels):
        raise _err(gpath, None, f"expected a list of {len(labels)} matrices (one per label)")
    out: list[tuple[SimpleGraph, int]] = []
    for i, mat in enumerate(mats):
        coo = mat.tocoo()
        if coo.shape[0] != coo.shape[1]:
            raise _err(gpath, None, f"matrix {i} is not square: {coo.shape}")
        dense = coo.toarray() != 0
        if not (dense == dense.T).all():
            raise _err(gpath, None, f"matrix {i} is not symmetric")
        u, v = np.nonzero(np.triu(dense, k=1))
        g = SimpleGraph.from_edges(coo.shape[0], np.stack([u, v], 1), name=f"CSL[{i}]")
        out.append((g, int(labels[i])))
    return out


def read_csl_split(root: str | PathLike[str], split: str) -> list[list[int]]:
    """Read ``CSL_<split>.index`` (split in train/val/test): one list of graph ids per fold."""
    p = Path(root) / f"CSL_{split}.index"
    folds = []
    with p.open("r", encoding="ascii") as fh:
        for lineno, line in enumerate(fh, start=1):
            if line.strip():
                try:
                    folds.append([int(t) for t in line.strip().strip(",").split(",")])
                except ValueError:
                    raise _err(p, lineno, "expected comma-separated integers") from None
    return folds


def read_brec_npy(path: str | PathLike[str]) -> list[tuple[SimpleGraph, SimpleGraph]]:
    """Read one BREC category file (``basic.npy``, ``regular.npy``, ...) as graph pairs.

    Accepts the two layouts of BREC's raw files: a flat array of ``2k`` graph6 strings
    (pair i = items 2i, 2i+1) or a ``[k, 2]`` array, with ``str`` or ``bytes`` items. Loaded
    with ``allow_pickle=False``.
    """
    p = Path(path)
    import networkx as nx

    arr = np.load(p, allow_pickle=False)
    if arr.ndim == 1 and len(arr) % 2 == 0:
        arr = arr.reshape(-1, 2)
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.dtype.kind not in "SU":
        raise _err(p, None, f"expected graph6 strings in shape (2k,) or (k, 2), got {arr.shape}")
    pairs: list[tuple[SimpleGraph, SimpleGraph]] = []
    for i, row in enumerate(arr):
        gs = []
        for j, item in enumerate(row):
            raw = item if isinstance(item, bytes) else str(item).encode("ascii")
            try:
                nxg = nx.from_graph6_bytes(raw.strip())
            except (nx.NetworkXError, ValueError, IndexError) as err:
                raise _err(p, None, f"pair {i}, graph {j}: bad graph6 string: {err}") from None
            gs.append(SimpleGraph.from_networkx(nxg, name=f"{p.stem}[{i}].{'GH'[j]}"))
        pairs.append((gs[0], gs[1]))
    return pairs
