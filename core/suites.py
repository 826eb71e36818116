"""WL-separation suites: the public contract behind ``wlkit separate --suite NAME``.

A *suite* is a :class:`WLSuite`: a list of :class:`SuitePair` (id, category, two
:class:`wlkit.graphs.SimpleGraph`) with exact WL-oracle labels cached on disk. Suites are
registered through the hook ``wlkit_wl_suites`` (:class:`wlkit.WLSuiteRecord`), built-in
ones (``wlkit.datasets.wl_suites``) and third-party ones alike; :func:`load_suite` resolves
a name through the plugin registry. :func:`to_dgl_input` is how a suite graph reaches a
model (one-hot node labels, constant edge features).

Example
-------
>>> import pathlib, tempfile
>>> from wlkit import graphs
>>> class Tiny(WLSuite):
...     suite = "tiny"
...     def _build(self):
...         return [SuitePair("c6_vs_2c3", "cycles", graphs.cycle(6),
...                           graphs.disjoint_union(graphs.cycle(3), graphs.cycle(3)))]
>>> Tiny().oracle_labels(["1-WL", "node_deleted"], cache_dir=pathlib.Path(tempfile.mkdtemp()))
{'1-WL': array([False]), 'node_deleted': array([ True])}
"""

from __future__ import annotations

import abc
import hashlib
import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from wlkit.components import DatasetInfo, GraphDataset, LoadedDataset
from wlkit.errors import DatasetError, PluginError, WlkitError
from wlkit.graphs import SimpleGraph
from wlkit.io import atomic_write_json, cache_root
from wlkit.params import choices_hint
from wlkit.records import WLSuiteRecord

if TYPE_CHECKING:
    from wlkit.manager import Registered, Registry

__all__ = [
    "SuitePair",
    "WLSuite",
    "load_suite",
    "one_hot_labels",
    "suite_names",
    "suite_records",
    "to_dgl_input",
]

# Version of the on-disk oracle-answer files; part of the cache's validity check.
# 2: per-pair refinement rounds ("rounds"); older files are recomputed quietly.
_ORACLE_CACHE_FORMAT = 2


@dataclass(frozen=True)
class SuitePair:
    """One pair of a suite.

    Attributes
    ----------
    id : str
        Unique within the suite (BREC: the official pair id, ``"0"`` .. ``"399"``).
    category : str
        Group the report totals over (e.g. ``"srg(16,6,2,2)"``, BREC's ``"Basic"``).
    first, second : SimpleGraph
        The two graphs (node labels, if any, are part of the graphs).
    """

    id: str
    category: str
    first: SimpleGraph
    second: SimpleGraph


# ---------------------------------------------------------------------- model inputs
def one_hot_labels(graph: SimpleGraph, width: int) -> torch.Tensor:
    """Node labels as a float one-hot matrix ``[n, width]`` (all-zero width means none).

    Raises
    ------
    DatasetError
        If a label lies outside ``0 .. width - 1``.
    """
    labels = graph.node_labels
    if labels is None:
        labels = np.zeros(graph.num_nodes, dtype=np.int64)
    if len(labels) and (labels.min() < 0 or labels.max() >= width):
        raise DatasetError(f"graph {graph.name or '?'}: node labels must lie in 0..{width - 1}, "
                           f"got {int(labels.min())}..{int(labels.max())}")
    return torch.nn.functional.one_hot(torch.from_numpy(labels.copy()), width).float()


def to_dgl_input(graph: SimpleGraph, label_width: int, edge_feat_dim: int = 0) -> Any:
    """A suite graph as the model reads it.

    Parameters
    ----------
    graph : SimpleGraph
        The graph.
    label_width : int
        Width of the one-hot ``ndata['feat']`` of the node labels; 0: no node features.
    edge_feat_dim : int
        Width of a constant ``edata['feat']`` (ones) for layers that read edge features;
        0: none.

    Returns
    -------
    dgl.DGLGraph
        The bidirected graph.
    """
    g = graph.to_dgl()
    if "label" in g.ndata:
        del g.ndata["label"]
    if label_width:
        g.ndata["feat"] = one_hot_labels(graph, label_width)
    if edge_feat_dim:
        g.edata["feat"] = torch.ones(g.num_edges(), edge_feat_dim)
    return g


# ---------------------------------------------------------------------- base class
class WLSuite(GraphDataset):
    """A WL-separation suite: pairs of graphs with ids and categories.

    Subclasses set :attr:`suite` and implement :meth:`_build`; :meth:`pairs` builds once and
    keeps the result. :meth:`oracle_labels` labels every pair with exact WL oracles, cached
    on disk. As a training dataset (``load``) graph ``2i`` / ``2i+1`` are pair ``i``'s
    members with labels 0 / 1 and every split holds every graph.
    """

    name = "suite"
    #: Short name used by ``wlkit separate --suite``.
    suite = ""
    #: Width of the one-hot node-label input (0: unlabelled graphs, constant input).
    label_width = 0
    #: Whether the suite's content comes from files under ``root``.
    from_files = False

    _pairs: list[SuitePair] | None = None

    @abc.abstractmethod
    def _build(self) -> list[SuitePair]:
        """Generate or read the pairs."""

    def pairs(self) -> list[SuitePair]:
        """The pairs, built on first use.

        Raises
        ------
        DatasetError
            If two pairs share an id.
        """
        if self._pairs is None:
            pairs = self._build()
            ids = [p.id for p in pairs]
            if len(set(ids)) != len(ids):
                raise DatasetError(f"suite {self.suite!r}: duplicate pair ids")
            self._pairs = pairs
        return self._pairs

    def categories(self) -> list[str]:
        """Categories in order of first appearance."""
        return list(dict.fromkeys(p.category for p in self.pairs()))

    def describe(self) -> str:
        """One line for reports (where the pairs came from)."""
        return self.suite

    # -- GraphDataset --------------------------------------------------------------
    def info(self) -> DatasetInfo:
        return DatasetInfo(task="multiclass", num_tasks=2, metric="accuracy",
                           higher_is_better=True, node_feat_dim=self.label_width)

    def load(self) -> LoadedDataset:
        pairs = self.pairs()
        graphs = [to_dgl_input(g, self.label_width) for p in pairs for g in (p.first, p.second)]
        everything = torch.arange(len(graphs))
        return LoadedDataset(graphs, torch.tensor([0, 1] * len(pairs)),
                             {"train": everything, "valid": everything, "test": everything},
                             extra={"pair_ids": [p.id for p in pairs for _ in (0, 1)],
                                    "categories": [p.category for p in pairs for _ in (0, 1)]})

    def fingerprint(self) -> str:
        """Content hash of every pair (ids, categories, edges, labels)."""
        digest = hashlib.sha256()
        for p in self.pairs():
            digest.update(f"{p.id}\0{p.category}\0".encode())
            for g in (p.first, p.second):
                digest.update(np.int64(g.num_nodes).tobytes())
                digest.update(g.edges.tobytes())
                for labels in (g.node_labels, g.edge_labels):
                    digest.update(b"-" if labels is None else labels.tobytes())
        return digest.hexdigest()[:20]

    # -- oracles ---------------------------------------------------------------------
    def oracle_labels(self, oracles: Sequence[str], cache_dir: Path | None = None,
                      on_compute: Callable[[str], None] | None = None) -> dict[str, np.ndarray]:
        """``{oracle: bool array}``: whether each exact oracle separates each pair.

        Results are cached under ``<cache>/wl_oracles/`` by the suite's content hash, one
        JSON file per oracle, written atomically only once every pair is labelled.
        ``on_compute(oracle)`` is called before an oracle is computed (not when cached).
        A registered oracle's ``version`` (:func:`wlkit.wl.register_oracle`, or the
        ``wlkit_oracles`` hook) is part of the cache key, so answers of an older
        implementation are not reused.
        """
        return {o: labels for o, (labels, _) in
                self._oracle_answers(oracles, cache_dir, on_compute).items()}

    def oracle_rounds(self, oracles: Sequence[str], cache_dir: Path | None = None,
                      on_compute: Callable[[str], None] | None = None, *,
                      compute: bool = True) -> dict[str, list[int | None]]:
        """``{oracle: rounds}``: per pair, the first refinement round after which the
        oracle's colours of the two graphs differ (:func:`wlkit.wl.separation_rounds`);
        None where the oracle does not separate the pair or cannot say when.

        Kept in the same cache files as :meth:`oracle_labels`. With ``compute=False``
        nothing is refined: oracles not cached yet are left out of the answer.

        Examples
        --------
        >>> import pathlib, tempfile
        >>> from wlkit import graphs
        >>> class Tiny(WLSuite):
        ...     suite = "tiny"
        ...     def _build(self):
        ...         return [SuitePair("c6_vs_2c3", "cycles", graphs.cycle(6),
        ...                           graphs.disjoint_union(graphs.cycle(3), graphs.cycle(3)))]
        >>> Tiny().oracle_rounds(["1-WL", "node_marked"], pathlib.Path(tempfile.mkdtemp()))
        {'1-WL': [None], 'node_marked': [2]}
        """
        return {o: rounds for o, (_, rounds) in
                self._oracle_answers(oracles, cache_dir, on_compute, compute).items()}

    def _oracle_answers(self, oracles: Sequence[str], cache_dir: Path | None,
                        on_compute: Callable[[str], None] | None, compute: bool = True
                        ) -> dict[str, tuple[np.ndarray, list[int | None]]]:
        """``{oracle: (separated, rounds)}`` from the cache, computing what is missing
        (unless ``compute`` is False: then missing oracles are left out)."""
        from wlkit.wl import check_oracle, oracle_version, separation_rounds

        pairs = self.pairs()
        ids = [p.id for p in pairs]
        folder = (cache_dir or cache_root()) / "wl_oracles"
        out: dict[str, tuple[np.ndarray, list[int | None]]] = {}
        for oracle in oracles:
            check_oracle(oracle)
            version = oracle_version(oracle)  # None for built-ins: their file names stay
            safe = oracle.replace("+", "plus").replace("/", "_")
            if version is not None:
                safe += "-v" + "".join(ch if ch.isalnum() or ch in "._-" else "_"
                                       for ch in version)
            path = folder / f"{self.suite or 'suite'}-{self.fingerprint()}-{safe}.json"
            cached = _read_oracle_cache(path, oracle, ids, version)
            if cached is not None:
                out[oracle] = cached
                continue
            if not compute:
                continue
            if on_compute is not None:
                on_compute(oracle)
            labels, found = separation_rounds([(p.first, p.second) for p in pairs], oracle)
            rounds = [int(r) if r >= 0 else None for r in found.tolist()]
            try:
                atomic_write_json(path, {"format": _ORACLE_CACHE_FORMAT, "oracle": oracle,
                                         "version": version, "pair_ids": ids,
                                         "separated": [bool(x) for x in labels],
                                         "rounds": rounds})
            except OSError as exc:
                warnings.warn(f"cannot write the oracle cache {path}: {exc}", stacklevel=3)
            out[oracle] = (labels, rounds)
        return out


def _read_oracle_cache(path: Path, oracle: str, ids: list[str], version: str | None = None
                       ) -> tuple[np.ndarray, list[int | None]] | None:
    if not path.exists():
        return None
    try:
        blob = json.loads(path.read_text())
        if isinstance(blob.get("format"), int) and blob["format"] < _ORACLE_CACHE_FORMAT:
            return None  # an older wlkit's file (no rounds): recomputed and replaced quietly
        values, rounds = blob["separated"], blob["rounds"]
        if (blob.get("format") != _ORACLE_CACHE_FORMAT or blob.get("oracle") != oracle
                or blob.get("version") != version
                or blob.get("pair_ids") != ids or len(values) != len(ids)
                or not all(isinstance(v, bool) for v in values)
                or len(rounds) != len(ids)
                or not all(r is None or (isinstance(r, int) and not isinstance(r, bool)
                                         and r >= 0 and v) for r, v in zip(rounds, values))):
            raise ValueError("content does not match the suite")
        return np.array(values, dtype=bool), list(rounds)
    except Exception as exc:  # corrupt or stale: recompute
        warnings.warn(f"oracle cache {path} is unusable ({exc}); recomputing it", stacklevel=4)
        return None


# ---------------------------------------------------------------------- the registry
def suite_records(registry: Registry | None = None) -> dict[str, Registered]:
    """The usable suites by ``--suite`` name, from every plugin's ``wlkit_wl_suites``.

    Names registered by two third-party plugins are left out (:func:`load_suite` names
    both); a built-in wins over a third-party suite of the same name.
    """
    from wlkit.manager import get_registry

    registry = registry or get_registry()
    return dict(sorted(registry.hook_records("wl_suite", (WLSuiteRecord,))[0].items()))


def suite_names(registry: Registry | None = None) -> list[str]:
    """The names ``wlkit separate --suite`` accepts, sorted."""
    return list(suite_records(registry))


def _short(name: str) -> str:
    # ``suite_csl`` is the dataset of the suite ``csl``; accept both spellings
    return name[len("suite_"):] if name.startswith("suite_") else name


def load_suite(name: str, root: str | Path | None = None,
               registry: Registry | None = None) -> WLSuite:
    """Build the suite ``name`` (``csl``; ``suite_csl`` is accepted too) with ``root``.

    Parameters
    ----------
    name : str
        A name of :func:`suite_names`.
    root : str or path, optional
        The folder holding the suite's files (``--root``).
    registry : Registry, optional
        Default: the process-wide one.

    Returns
    -------
    WLSuite

    Raises
    ------
    DatasetError
        Unknown name (with a did-you-mean hint).
    WlkitError
        ``root`` given to a suite that reads no files.
    PluginError
        A name two plugins register, or a factory that fails or does not return a
        :class:`WLSuite` (naming the plugin and its distribution).
    """
    from wlkit.manager import get_registry

    registry = registry or get_registry()
    table, clashes = registry.hook_records("wl_suite", (WLSuiteRecord,))
    short = _short(name)
    if short in clashes:
        owners = " and ".join(f"{e.plugin} (distribution {e.source} {e.version})"
                              for e in clashes[short])
        raise PluginError(f"{len(clashes[short])} plugins register the suite {short!r}: "
                          f"{owners}\n    hint: uninstall one of them, or limit loading with "
                          "WLKIT_PLUGINS=...")
    entry = table.get(short)
    if entry is None:
        hint = choices_hint(short, sorted(table))
        failed = [f for f in registry._host.failures if f.affects("wl_suite")]
        if failed:
            hint += ("; these plugins failed to load and may provide it: "
                     + ", ".join(f"{f.plugin!r} ({f.dist})" for f in failed))
        raise DatasetError(f"unknown suite {name!r}\n    hint: {hint}")
    record: WLSuiteRecord = entry.record  # type: ignore[assignment]
    where = f"suite {short!r} (plugin {entry.plugin!r}, distribution {entry.source} " \
            f"{entry.version})".replace(" )", ")")
    if root is not None and not record.takes_root:
        raise WlkitError(f"suite {short!r} is generated in code and reads no files\n"
                         "    hint: drop --root")
    try:
        suite = record.factory(None if root is None else str(root))
    except WlkitError:
        raise
    except Exception as exc:
        raise PluginError(f"{where}: its factory failed: {type(exc).__name__}: {exc}\n"
                          f"    hint: fix or reinstall {entry.source} (or report it there)"
                          ) from None
    if not isinstance(suite, WLSuite):
        raise PluginError(f"{where}: its factory returned a {type(suite).__name__}, not a "
                          "wlkit.WLSuite\n    hint: subclass wlkit.WLSuite and implement "
                          "_build()")
    return suite
