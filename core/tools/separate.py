"""``wlkit separate``: does a pipeline's model tell the graphs of each WL pair apart, reliably?

The decision follows BREC (Wang & Zhang, "Towards Better Evaluation of GNN Expressiveness
with BREC Dataset", 2023):

1. The pipeline's model is built with an output of ``output_dim`` values (default 16, as in
   BREC) and put in eval mode (``--trained`` first runs BREC's short per-pair training).
2. Each graph of a pair is embedded under ``R`` random relabelings (default 32); the
   relabelled graph goes through the whole pipeline, positional encodings and the policy's
   ``prepare``/``collate`` included, so nothing is computed on the original labelling.
3. Hotelling's T² on the ``R`` paired differences ``d_i = f(G_i) - f(H_i)``, in BREC's form
   ``T² = d̄ᵀ S⁺ d̄`` (``S`` the unbiased sample covariance, ``S⁺`` its pseudo-inverse; BREC's
   code omits the usual factor ``R``). The pair is separated when ``T²`` exceeds the threshold.
4. Reliability control: the same statistic between two sets of ``R`` relabelings of one graph
   (the pair's relabelings of G against ``R`` fresh ones of G, the same for H; the larger
   value is ``control_t2``). An invariant model gives ~0 there. When the control exceeds the
   threshold, the model's outputs depend on the labelling more than the test tolerates: the
   pair is reported *unreliable* and is never counted as separated.

Threshold: ``(R-1) q / (R-q) · F⁻¹(1-α; q, R-q)`` with ``q = output_dim`` and α = 0.05, the
quantile of Hotelling's T² distribution; for BREC's q = 16, R = 32 it is 72.34, BREC's
constant. Because BREC's statistic lacks the factor R, comparing it with this quantile is a
far stricter test than α = 0.05 suggests (a pure-noise false positive is essentially never
seen). ``--threshold`` overrides the value.

Rounding floor: the covariance gets ``(tol · scale)²`` added to its diagonal, with ``scale``
the largest output magnitude of the two sets and ``tol`` = 1e-5 (~100× float32's
resolution; measured rounding differences of plain GIN stay below 5e-7 of ``scale``).
Without it, T² (which is scale-free) turns a systematic last-bit difference between two
1-WL-equivalent graphs into a "separation", and a difference that is identical in every
relabeling (numerically zero covariance: an exactly invariant model on vertex-transitive
graphs such as C6 and 2xC3) gives an arbitrary value through the pseudo-inverse. With the
floor, differences far below ``tol · scale`` never reach the threshold and consistent ones
above ~10 ``tol · scale`` always do.

Precision: ``dtype="float64"`` (``--float64``) runs the model and every input in float64
(weights cast after the seeded build, so the same seed gives the same weights; graph and edge
features, encodings and the policy's collated tensors cast; tensors a component creates
itself follow torch's default dtype, set to float64 while embedding). The rounding floor
then defaults to 1e-13 (~450x float64's resolution of 2.2e-16). Use it when a model's
differences are real but smaller than float32's floor, e.g. deep sums over many paths.

Automatic float64 re-test (the default): an untrained float32 run first decides every pair
in float32 (fast); each pair that float32 leaves unseparated, whose control is clean and which
the reference oracle separates (the policy's ``wl_oracle``, else the model's bound such as
1-WL; every such pair when the model has neither, e.g. SPEN or RNI), is then decided again by
the same seeded model cast to float64 (floor 1e-13). A pair separated there counts as
separated, with ``"precision": "float64"`` and both T² values in ``separation.json``. So a
plain run never reports a separation as missing because of float32's floor, and pays
float64's cost (~10x per embedding) only for the pairs that need it. A pair that the
same weights leave unseparated in float64 although an exact oracle separates it is decided
by up to ``redraws`` (2) fresh weight draws (seeds ``seed + 1, ...``; Bonferroni level
``alpha / (redraws + 1)`` each): an untrained network is one random draw, and a draw can
be degenerate on a pair (measured: BREC regular 67 under node marking is missed by seed 0
at T² 1e-4 and separated by seeds 1 and 2 at T² ~1e22). Such a pair counts as separated
``via float64`` with ``"redraw": {"seed": s, ...}`` in ``separation.json``. A pair the reference
oracle separates but the model does not, in either precision, carries a ``reason``
(``precision``: its float64 T² grew over float32's but stays under the threshold;
``unreliable``: the float64 control fired; ``unexplained`` otherwise). ``--float64`` runs
everything in float64; ``--no-float64-retest`` keeps float32's verdicts (benchmarks).

Relabelings: untrained, each distinct graph of a suite is embedded once under ``2R``
relabelings (the first ``R`` pair the graph with its partners, the last ``R`` are the
control set), drawn from a generator seeded by ``(seed, content hash of the graph)``; a graph
that appears in several pairs (SR25: each of 15 graphs in 14 pairs) is embedded once. With
``--trained`` the model changes per pair, so each pair draws and embeds its own relabelings
(seeded by ``(seed, pair index)``).

Stochastic models: every embedded graph carries ``ndata["_node_key"]`` (int64), each node's
index before the random relabelling. A stochastic component in eval mode that sees this key
must draw its noise as a deterministic function of it (e.g. row ``key`` of a table drawn once
from a fixed seed), so noise moves with the nodes: relabelings of one graph then get the same
outputs (the control stays meaningful) and a pair is compared under one fixed noise draw.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import dgl
import numpy as np
import torch
from torch import Tensor, nn

from wlkit import suites as _suites
from wlkit.components import DatasetInfo, GraphDataset, LoadedDataset, SubgraphPolicy
from wlkit.errors import DatasetError, PluginError, WlkitError
from wlkit.io import atomic_write_bytes, atomic_write_json, check_output_empty, output_folder
from wlkit.manager import Registry, get_registry
from wlkit.params import choices_hint
from wlkit.tools import tables

__all__ = [
    "BREC_THRESHOLD",
    "SeparateSettings",
    "Separator",
    "format_table",
    "hotelling_t2",
    "load_suite",
    "plot_separation",
    "run_separate",
    "run_separate_all",
    "suite_names",
    "t2_threshold",
]

#: BREC's threshold for q = 16 output values and R = 32 relabelings.
BREC_THRESHOLD = 72.34
#: Key of the per-node relabelling-invariant id set on every graph ``separate`` embeds.
NODE_KEY = "_node_key"
#: Model precisions ``separate`` runs in, and the default rounding floor of each.
DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}
DEFAULT_TOL: dict[str, float] = {"float32": 1e-5, "float64": 1e-13}


@dataclass
class SeparateSettings:
    """Settings of ``wlkit separate``.

    Parameters
    ----------
    relabelings : int
        R, random relabelings per graph (BREC: 32). Must exceed ``output_dim``.
    output_dim : int
        q, number of model outputs the test runs on (BREC: 16).
    threshold : float or None
        T² threshold; None derives it from the F distribution (72.34 at q=16, R=32).
    alpha : float
        Level of the F quantile used when ``threshold`` is None.
    tol : float or None
        Relative rounding tolerance (see the module docstring); None: the default of
        ``dtype`` (1e-5 for float32, 1e-13 for float64).
    dtype : {"float32", "float64"}
        Precision of the model and its inputs while embedding and training.
    seed : int
        Seeds the model's initial weights and the relabelings.
    trained : bool
        Run BREC's per-pair siamese training before the test.
    epochs, lr, weight_decay, loss_threshold, margin, train_batch_pairs :
        BREC's training settings: Adam, cosine embedding loss with target -1 (push the two
        graphs' outputs apart), stop early once the epoch loss drops below
        ``loss_threshold``; ``train_batch_pairs`` relabelled pairs per step.
    batch_size : int
        Graphs per forward pass when embedding; also the number of relabelled graphs
        prepared at once (lower it for policies with large prepared tensors, e.g. PathNN's
        all-paths at K=5).
    batch_elements : int or None
        At most this many elements per embedding forward pass: nodes, edges and
        policy-prepared tensor entries summed over the batch's graphs (a single larger graph
        still runs alone); None: ``batch_size`` alone bounds a forward. A heuristic bound on
        the activations (see :func:`forward_chunks`; policies without ``prepare`` count
        nodes and edges only). The model runs in eval mode there, so the embeddings do not
        depend on it beyond rounding; ``--trained`` steps are never split.
    limit : int or None
        Only the first ``limit`` pairs (quick checks).
    pair_ids : tuple of str or None
        Only these pairs (by id, e.g. to re-test the pairs a run missed with other
        settings); each keeps its index in the suite, which seeds ``--trained``.
    retest_float64 : bool
        Untrained float32 runs only: re-test in float64 every reliable pair that float32
        did not separate although the reference oracle does (all such pairs when the model
        has no exact oracle), so float32's rounding floor never reports a real separation
        as missing (see "Precision" in the module docstring).
    redraws : int
        Float64 re-test only: a candidate that the same weights leave unseparated in
        float64 although the reference oracle separates it is decided again by up to
        ``redraws`` freshly drawn models (seeds ``seed + 1, ...``), each at level
        ``alpha / (redraws + 1)`` (Bonferroni), so one unlucky weight draw does not report
        a separation as missing. Only pairs an exact oracle separates are redrawn.
    workers : int or None
        Untrained runs: processes that embed the suite's distinct graphs (forked, one
        torch thread each; each graph's embedding is the same computation as in one
        process, so verdicts do not depend on it). None: the CPUs this process may use.
        Suites with fewer than :data:`PARALLEL_MIN_NODES` nodes in all run in-process.
    """

    def resolved_workers(self) -> int:
        if self.workers is not None:
            return max(1, int(self.workers))
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not Linux
            return max(1, os.cpu_count() or 1)

    relabelings: int = 32
    output_dim: int = 16
    threshold: float | None = None
    alpha: float = 0.05
    tol: float | None = None
    dtype: str = "float32"
    seed: int = 0
    trained: bool = False
    epochs: int = 20
    lr: float = 1e-4
    weight_decay: float = 1e-5
    loss_threshold: float = 0.2
    margin: float = 0.0
    train_batch_pairs: int = 16
    batch_size: int = 96
    batch_elements: int | None = 1 << 15
    limit: int | None = None
    pair_ids: tuple[str, ...] | None = None
    retest_float64: bool = True
    redraws: int = 2
    workers: int | None = None

    def resolved_threshold(self) -> float:
        if self.threshold is not None:
            return float(self.threshold)
        return t2_threshold(self.output_dim, self.relabelings, self.alpha)

    def resolved_tol(self) -> float:
        return float(self.tol) if self.tol is not None else DEFAULT_TOL[self.dtype]

    def torch_dtype(self) -> torch.dtype:
        if self.dtype not in DTYPES:
            raise WlkitError(f"separate: unknown dtype {self.dtype!r}\n    hint: one of "
                             f"{', '.join(DTYPES)}")
        return DTYPES[self.dtype]


def t2_threshold(output_dim: int, relabelings: int, alpha: float = 0.05) -> float:
    """Hotelling T² quantile ``(R-1) q / (R-q) · F⁻¹(1-α; q, R-q)`` (72.34 at q=16, R=32)."""
    from scipy.stats import f

    q, r = output_dim, relabelings
    if r <= q:
        raise WlkitError(f"--relabelings ({r}) must exceed the output dimension ({q}): the "
                         "T² test needs more samples than dimensions\n    hint: e.g. "
                         f"--relabelings {2 * q} or --output-dim {max(1, r // 2)}")
    return float((r - 1) * q / (r - q) * f.ppf(1 - alpha, q, r - q))


def hotelling_t2(diff: np.ndarray, floor: float = 0.0) -> float:
    """BREC's T² statistic ``d̄ᵀ (S + floor² I)⁺ d̄`` of paired differences ``diff`` [R, q].

    ``floor`` is the smallest per-coordinate standard deviation assumed (rounding noise):
    with ``floor > 0`` a difference that is identical in every relabeling (zero covariance,
    the normal case for an exactly invariant model) still counts, and differences far
    below ``floor`` cannot reach any useful threshold. All-equal outputs give 0.
    """
    d = np.asarray(diff, dtype=np.float64)
    mean = d.mean(axis=0)
    if not mean.any():
        return 0.0
    cov = np.atleast_2d(np.cov(d, rowvar=False))
    if floor > 0:
        cov = cov + floor ** 2 * np.eye(len(cov))
    value = float(mean @ np.linalg.pinv(cov, hermitian=True) @ mean)
    return value if math.isfinite(value) else float("inf")


# ---------------------------------------------------------------------- suites
# Suites resolve through the plugin registry (hook wlkit_wl_suites): wlkit.suites holds the
# contract, so this tool imports no dataset plugin. Re-exported here for older callers.
suite_names = _suites.suite_names
load_suite = _suites.load_suite


class _SuiteInputs(GraphDataset):
    """What the model is built against: the suite's node labels (or none: a constant input),
    a constant edge feature when the layer reads edge features, ``output_dim`` outputs."""

    name = "separate"

    def __init__(self, label_width: int, edge_feat_dim: int, output_dim: int):
        self.label_width = label_width
        self.edge_feat_dim = edge_feat_dim
        self.output_dim = output_dim

    def info(self) -> DatasetInfo:
        return DatasetInfo(task="multiclass", num_tasks=self.output_dim, metric="accuracy",
                           higher_is_better=True, node_feat_dim=self.label_width,
                           edge_feat_dim=self.edge_feat_dim)

    def load(self) -> LoadedDataset:  # pragma: no cover - never loaded
        raise NotImplementedError


# ---------------------------------------------------------------------- the separator
class Separator:
    """Embed relabelled suite graphs with a pipeline's model and decide pairs (BREC-style).

    Parameters
    ----------
    pipeline : dict
        A resolved pipeline (``Pipeline.data``); its ``dataset`` is ignored.
    label_width : int
        Width of the suites' one-hot node labels (0: unlabelled).
    settings : SeparateSettings
    registry : Registry, optional

    Examples
    --------
    >>> from wlkit.pipeline.loader import validate_pipeline
    >>> from wlkit.graphs import cycle, disjoint_union
    >>> cfg = validate_pipeline({"name": "x", "dataset": "wl_pairs",
    ...                          "model": {"hidden": 8, "num_layers": 2}}).data
    >>> sep = Separator(cfg, 0, SeparateSettings(relabelings=8, output_dim=4))
    >>> result = sep.decide(cycle(6), disjoint_union(cycle(3), cycle(3)), index=0)
    >>> result["separated"], result["reliable"]
    (False, True)
    """

    def __init__(self, pipeline: dict[str, Any], label_width: int,
                 settings: SeparateSettings, registry: Registry | None = None):
        from wlkit.model.build import build_model, instantiate_encodings, instantiate_policy

        self.registry = registry or get_registry()
        self.settings = settings
        self.dtype = settings.torch_dtype()
        self.tol = settings.resolved_tol()
        self.threshold = settings.resolved_threshold()
        self.label_width = label_width
        self.pipeline = pipeline
        layer = self.registry.get("layer", pipeline["model"]["layer"]["name"])
        self.edge_feat_dim = 1 if getattr(layer, "uses_edge_features", False) else 0
        self.encodings = instantiate_encodings(pipeline["encodings"], self.registry)
        self.policy: SubgraphPolicy | None = instantiate_policy(pipeline, self.registry)
        self.policy_name = pipeline["policy"]["name"] if self.policy is not None else None
        inputs = _SuiteInputs(label_width, self.edge_feat_dim, settings.output_dim)
        with torch.random.fork_rng(devices=[]):  # seeded weights, global RNG untouched
            torch.manual_seed(settings.seed)
            self.model = build_model(pipeline, inputs, self.encodings, self.registry,
                                     self.policy)
        self.model.to(self.dtype)
        self.model.eval()
        self._embedded: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
        self.initial_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    # -- oracles the report compares against ------------------------------------------
    def policy_oracle(self) -> str | None:
        """The exact oracle the policy declares (``SubgraphPolicy.wl_oracle``), if any."""
        from wlkit.wl import check_oracle, oracle_names

        oracle = getattr(self.policy, "wl_oracle", None) if self.policy is not None else None
        if oracle is None:
            return None
        try:
            return check_oracle(oracle)  # resolves a plugin's oracle family on first use
        except ValueError:
            raise PluginError(f"subgraph_policy {self.policy_name!r}: wl_oracle {oracle!r} is "
                              f"not an oracle of wlkit.wl ({', '.join(oracle_names())})\n"
                              "    hint: provide it through the hook wlkit_oracles, or "
                              "declare the policy's copies as wl_bag") from None

    def bound(self) -> str | None:
        """The oracle that provably bounds this model, when the components say so: the
        policy's oracle (without encodings), or 1-WL for an invariant 1-WL-bounded stack
        without encodings or policy. Separating more than the bound is a bug."""
        if self.encodings:
            return None
        if self.policy is not None:
            return self.policy_oracle()
        model = self.pipeline["model"]
        records = [self.registry.get(family, model[key]["name"]) for family, key in
                   (("layer", "layer"), ("aggregator", "aggregator"), ("readout", "readout"))]
        if all(r.permutation_invariant and r.expressivity in ("1-WL", "<1-WL")
               for r in records) and not model["virtual_node"]:
            return "1-WL"
        return None

    # -- inputs and forward --------------------------------------------------------------
    def inputs(self, graphs: Sequence[Any], perms: Sequence[np.ndarray]) -> list[tuple]:
        """Relabel each SimpleGraph, attach encodings, node keys and the policy's prepare."""
        items = []
        for graph, perm in zip(graphs, perms):
            relabelled = graph.relabel(perm)
            g = _suites.to_dgl_input(relabelled, self.label_width, self.edge_feat_dim)
            key = np.empty(graph.num_nodes, dtype=np.int64)
            key[perm] = np.arange(graph.num_nodes)
            g.ndata[NODE_KEY] = torch.from_numpy(key)
            if self.encodings:
                columns = []
                for enc in self.encodings:
                    out = enc.compute(g)
                    if not isinstance(out, Tensor) or tuple(out.shape) != (g.num_nodes(),
                                                                           enc.dim):
                        raise PluginError(f"positional encoding {type(enc).__name__} returned "
                                          f"{getattr(out, 'shape', type(out))}, expected "
                                          f"({g.num_nodes()}, {enc.dim})")
                    columns.append(out.float())
                g.ndata["pe"] = torch.cat(columns, dim=-1)
            prepared: dict[str, Tensor] = {}
            if self.policy is not None and self.policy.has_prepare:
                prepared = self.policy.prepare(g)
                if not isinstance(prepared, dict):
                    raise PluginError(f"subgraph_policy {self.policy_name!r}: prepare() must "
                                      f"return a dict of tensors, got {type(prepared).__name__}")
            items.append((g, prepared))
        return items

    def forward(self, items: Sequence[tuple], bounded: bool = True) -> Tensor:
        """Model outputs [len(items), output_dim], in chunks of at most ``batch_size``
        graphs and, when ``bounded``, ``batch_elements`` elements (see
        :func:`forward_chunks`). Training steps pass ``bounded=False``: in training mode
        BatchNorm normalises over one forward's graphs, so splitting a step's batch would
        change what it learns (and autograd keeps every chunk's activations anyway)."""
        outs = []
        with _default_dtype(self.dtype):
            for chunk in forward_chunks(items, self.settings.batch_size,
                                        self.settings.batch_elements if bounded else None):
                graphs = [g for g, _ in chunk]
                policy_batch = (self.policy.collate(graphs, [p for _, p in chunk])
                                if self.policy is not None else None)
                batched = dgl.batch(graphs)
                if self.dtype != torch.float32:
                    batched = cast_floats(batched, self.dtype)
                    policy_batch = cast_floats(policy_batch, self.dtype)
                try:
                    outs.append(self.model(batched, policy_batch))
                except RuntimeError as exc:
                    if self.dtype == torch.float32 or "type" not in str(exc):
                        raise
                    raise PluginError(
                        f"the model fails in {self.settings.dtype}: {exc}\n    hint: a "
                        "component mixes in float32 tensors wlkit cannot reach; create tensors "
                        "with the dtype of the inputs or weights (policy batches: dicts, lists, "
                        "dataclasses and DGL graphs are cast)") from None
        return torch.cat(outs)

    @torch.no_grad()
    def embed(self, items: Sequence[tuple]) -> np.ndarray:
        self.model.eval()
        return self.forward(items).double().numpy()

    def embed_relabelings(self, graph: Any, perms: Sequence[np.ndarray]) -> np.ndarray:
        """Embed ``graph`` under every permutation of ``perms``, preparing at most
        ``batch_size`` relabelled copies at a time (bounded memory)."""
        step = self.settings.batch_size
        return np.concatenate([self.embed(self.inputs([graph] * len(perms[a:a + step]),
                                                      perms[a:a + step]))
                               for a in range(0, len(perms), step)])

    def graph_embeddings(self, graph: Any) -> tuple[np.ndarray, np.ndarray]:
        """Untrained: ``(pair set, control set)``, each [R, output_dim], of ``graph``'s
        relabelings, drawn from ``(seed, content hash)`` and computed once per graph."""
        key = graph_digest(graph)
        if key not in self._embedded:
            r = self.settings.relabelings
            rng = np.random.default_rng([self.settings.seed, int.from_bytes(key[:8], "little")])
            perms = [rng.permutation(graph.num_nodes) for _ in range(2 * r)]
            # Two separate passes, so a model whose output depends on the call (state,
            # batch composition) shows up in the control.
            self._embedded[key] = (self.embed_relabelings(graph, perms[:r]),
                                   self.embed_relabelings(graph, perms[r:]))
        return self._embedded[key]

    def prefetch(self, graphs: Sequence[Any], progress: bool = False) -> dict[str, Any]:
        """Untrained: embed every distinct graph of ``graphs`` not embedded yet, over
        ``settings.workers`` forked processes (:meth:`graph_embeddings` then reads the
        cache). Returns ``{"graphs", "workers", "seconds"}``."""
        from wlkit.io import progress as progress_bar

        started = time.perf_counter()
        todo: dict[bytes, Any] = {}
        for graph in graphs:
            key = graph_digest(graph)
            if key not in self._embedded and key not in todo:
                todo[key] = graph
        workers = min(self.settings.resolved_workers(), len(todo))
        if (sum(g.num_nodes for g in todo.values()) < PARALLEL_MIN_NODES or workers < 2
                or "fork" not in multiprocessing.get_all_start_methods()):
            workers = 1
        bar = progress_bar(total=len(todo), desc="  embed graphs", unit="graph",
                           enabled=progress)
        if workers == 1:
            for graph in todo.values():
                self.graph_embeddings(graph)
                bar.update(1)
        else:
            global _FORKED
            _FORKED = self  # inherited by the forked workers, never pickled
            try:
                ctx = multiprocessing.get_context("fork")
                chunk = max(1, len(todo) // (8 * workers))
                with ctx.Pool(workers, initializer=_worker_threads) as pool:
                    for key, embedded in pool.imap_unordered(_embed_in_worker, todo.items(),
                                                             chunksize=chunk):
                        self._embedded[key] = embedded
                        bar.update(1)
            finally:
                _FORKED = None
        bar.close()
        return {"graphs": len(todo), "workers": workers,
                "seconds": round(time.perf_counter() - started, 2)}

    def _t2(self, a: np.ndarray, b: np.ndarray) -> float:
        scale = max(float(np.abs(a).max(initial=0.0)), float(np.abs(b).max(initial=0.0)))
        return hotelling_t2(a - b, floor=self.tol * max(scale, 1e-300))

    # -- BREC's per-pair training ----------------------------------------------------------
    def train_pair(self, items: list[tuple], index: int = 0) -> dict[str, Any]:
        """Reset the weights to their initial values and push the outputs of the pair's
        relabelled graphs apart (BREC's per-pair training).

        ``items`` alternate G_i, H_i. Returns the epochs run and the last epoch's loss.
        Random draws in training (dropout, noise) are seeded by ``(seed, index)``.
        """
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.settings.seed * 1_000_003 + index)
            return self._train(items)

    def _train(self, items: list[tuple]) -> dict[str, Any]:
        s = self.settings
        self.model.load_state_dict(self.initial_state)
        self.model.train()
        optimizer = torch.optim.Adam(self.model.parameters(), lr=s.lr,
                                     weight_decay=s.weight_decay)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)
        loss_fn = nn.CosineEmbeddingLoss(margin=s.margin)
        step = 2 * s.train_batch_pairs
        epochs, loss_value = 0, float("nan")
        for _ in range(s.epochs):
            epochs += 1
            total, count = 0.0, 0
            for start in range(0, len(items), step):
                chunk = items[start:start + step]
                optimizer.zero_grad()
                out = self.forward(chunk, bounded=False)
                target = -torch.ones(len(chunk) // 2)
                loss = loss_fn(out[0::2], out[1::2], target)
                aux = self.model.auxiliary_loss()
                if aux is not None:
                    loss = loss + aux
                loss.backward()
                optimizer.step()
                total += float(loss) * (len(chunk) // 2)
                count += len(chunk) // 2
            loss_value = total / max(count, 1)
            if loss_value < s.loss_threshold:
                break
            scheduler.step(loss_value)
        self.model.eval()
        return {"epochs": epochs, "loss": loss_value}

    # -- one pair ----------------------------------------------------------------------------
    def decide(self, first: Any, second: Any, index: int) -> dict[str, Any]:
        """T² of the pair and of the control, and the decision (see the module docstring)."""
        s = self.settings
        training = None
        if s.trained:
            r = s.relabelings
            rng = np.random.default_rng([s.seed, index])

            def perms(graph: Any, count: int) -> list[np.ndarray]:
                return [rng.permutation(graph.num_nodes) for _ in range(count)]

            pair_items = self.inputs([g for _ in range(r) for g in (first, second)],
                                     [p for pg, ph in zip(perms(first, r), perms(second, r))
                                      for p in (pg, ph)])
            control_perms = [perms(first, r), perms(second, r)]
            training = self.train_pair(pair_items, index)
            out = self.embed(pair_items)
            emb_g, emb_h = out[0::2], out[1::2]
            fresh_g = self.embed_relabelings(first, control_perms[0])
            fresh_h = self.embed_relabelings(second, control_perms[1])
        else:
            emb_g, fresh_g = self.graph_embeddings(first)
            emb_h, fresh_h = self.graph_embeddings(second)
        t2 = self._t2(emb_g, emb_h)
        # Control: the pair's relabelings of G (of H) against R fresh relabelings of G (of H).
        control_t2 = max(self._t2(emb_g, fresh_g), self._t2(emb_h, fresh_h))
        reliable = control_t2 < self.threshold
        separated = bool(reliable and t2 > self.threshold
                         and not math.isclose(t2, control_t2, rel_tol=0.0, abs_tol=1e-6))
        result = {"separated": separated, "reliable": bool(reliable), "t2": _finite(t2),
                  "control_t2": _finite(control_t2)}
        if training is not None:
            result["training"] = training
        return result


PARALLEL_MIN_NODES = 500
"""Graphs with fewer nodes than this in all are embedded in-process (a pool of forked workers
costs ~0.1-0.3 s, more than it saves on small suites such as ``classic`` or ``csl``)."""

_FORKED: Separator | None = None  # the parent's separator, for forked embedding workers


def item_elements(item: tuple) -> int:
    """Size of one forward input: its nodes and edges plus every element of its policy's
    prepared tensors. A heuristic: many policies' activations grow with these (SPEN's pair
    entries, ego members, PathNN paths); those without ``prepare`` count nodes and edges."""
    graph, prepared = item
    return int(graph.num_nodes() + graph.num_edges()
               + sum(t.numel() for t in prepared.values() if isinstance(t, Tensor)))


def forward_chunks(items: Sequence[tuple], batch_size: int,
                   batch_elements: int | None) -> Iterator[Sequence[tuple]]:
    """Consecutive chunks of ``items`` with at most ``batch_size`` items and, where
    ``batch_elements`` is set, at most that many :func:`item_elements` (a larger single item
    is a chunk of its own). The bound keeps each forward's activations small enough for
    the allocator to reuse memory: above a few MiB, glibc hands every tensor out as a
    fresh mmap, which the kernel page-faults and zeroes on each call (system time grew to
    match the user time before the bound)."""
    chunk: list[tuple] = []
    total = 0
    for item in items:
        size = item_elements(item) if batch_elements else 0
        if chunk and (len(chunk) >= batch_size
                      or (batch_elements and total + size > batch_elements)):
            yield chunk
            chunk, total = [], 0
        chunk.append(item)
        total += size
    if chunk:
        yield chunk


def _worker_threads() -> None:
    torch.set_num_threads(1)  # the workers share the CPUs; one thread each


def _embed_in_worker(item: tuple[bytes, Any]) -> tuple[bytes, tuple[np.ndarray, np.ndarray]]:
    key, graph = item
    assert _FORKED is not None
    return key, _FORKED.graph_embeddings(graph)


def graph_digest(graph: Any) -> bytes:
    """SHA-256 of a SimpleGraph's content (size, edges, node and edge labels)."""
    digest = hashlib.sha256(np.int64(graph.num_nodes).tobytes())
    digest.update(np.ascontiguousarray(graph.edges).tobytes())
    for labels in (graph.node_labels, graph.edge_labels):
        digest.update(b"-" if labels is None else np.ascontiguousarray(labels).tobytes())
    return digest.digest()


def cast_floats(obj: Any, dtype: torch.dtype) -> Any:
    """``obj`` with every floating tensor cast to ``dtype``: tensors, DGL graphs (node and
    edge data, in place), dicts, lists, tuples and dataclasses (copied); others unchanged."""
    if isinstance(obj, Tensor):
        return obj.to(dtype) if obj.is_floating_point() else obj
    if isinstance(obj, dgl.DGLGraph):
        for frames in (obj.ndata, obj.edata):
            for key in list(frames.keys()):
                value = frames[key]
                if isinstance(value, Tensor) and value.is_floating_point():
                    frames[key] = value.to(dtype)
        return obj
    if isinstance(obj, dict):
        return {k: cast_floats(v, dtype) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
        return type(obj)(cast_floats(v, dtype) for v in obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.replace(obj, **{f.name: cast_floats(getattr(obj, f.name), dtype)
                                           for f in dataclasses.fields(obj) if f.init})
    return obj


@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype) -> Iterator[None]:
    """Torch's default float dtype set to ``dtype`` for tensors components create."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def _finite(value: float) -> float | None:
    return round(value, 6) if math.isfinite(value) else None


# ---------------------------------------------------------------------- depth
def model_rounds(separator: Separator, oracle: str | None) -> int | None:
    """The rounds of ``oracle`` the model's layers reach, when its rounds map to layers.

    The mapping ("Rounds and layers" in :mod:`wlkit.wl`): ``model.num_layers`` for
    ``1-WL`` (an MPNN's layer t reads the colours of round t) and for the DS-WL oracles,
    built-in (node_marked, node_deleted, ego, two_node_marked) or a policy's bag oracle,
    whose base MPNN runs its layers on every copy, and for a registered refinement that
    declares ``layer_rounds`` (SPEN's ``spen_h<k>``, PathNN's ``path_*``: round ``t`` bounds
    layer ``t``). A policy may state its own with an int (or None) attribute ``wl_rounds``.
    None otherwise (``2-FWL`` only bounds SPEN).
    """
    from wlkit.wl import ORACLES, registered_oracle

    if oracle is None:
        return None
    if separator.policy is not None and hasattr(separator.policy, "wl_rounds"):
        stated = separator.policy.wl_rounds
        return None if stated is None else int(stated)
    layers = int(separator.pipeline["model"]["num_layers"])
    if oracle in ORACLES:
        return None if oracle == "2-FWL" else layers
    entry = registered_oracle(oracle)
    return (layers if entry is not None and (entry.bag is not None or entry.layer_rounds)
            else None)


def depth_warning(needed: Sequence[int | None], layers: int, oracle: str) -> str | None:
    """The warning when some pairs need more rounds of ``oracle`` than the model's layers
    reach (None when none do)."""
    deeper = [r for r in needed if r is not None and r > layers]
    if not deeper:
        return None
    return (f"  WARNING: {len(deeper)} of {len(needed)} pair(s) need more than {layers} "
            f"round(s) of {oracle} to be separated (up to {max(deeper)}) and the model has "
            f"{layers} layer(s): it cannot separate them\n    hint: set model.num_layers: "
            f"{max(deeper)} (or more) to reach every pair the oracle separates")


def gin0_warning(cfg: dict[str, Any], settings: SeparateSettings,
                 separator: Separator | None = None) -> str | None:
    """A warning for an untrained GIN-0 (``eps`` 0, not learned) under a subgraph policy.

    GIN sums ``(1 + eps) h_v`` with the neighbours' states, so with ``eps = 0`` a node and its
    neighbours enter alike and a marked node's mark is not told apart from its neighbour's:
    untrained node marking then stays below its oracle (BREC basic 4, 24, regular 64, 89 give
    equal outputs to 1e-16). GIN is as injective as 1-WL for ``eps != 0`` (Xu et al. 2019,
    Corollary 6); the shipped separation pipelines use 0.1.
    """
    layer = cfg["model"]["layer"]
    if (settings.trained or cfg.get("policy") is None or layer.get("name") != "gin"
            or layer.get("eps", 0.0) != 0.0 or layer.get("learn_eps", False)):
        return None
    if separator is not None:  # only where the policy's model runs the pipeline's layer
        factory = separator.registry.get("layer", "gin").factory
        if not any(isinstance(m, factory) for m in separator.model.modules()):
            return None
    return ("  warning: the layer is GIN-0 (eps 0): it sums a node with its neighbours alike, so "
            "an untrained model can miss separations its policy's oracle makes (marked nodes "
            "look like their neighbours)\n    hint: --set model.layer.eps=0.1, as the shipped "
            "pipelines/separate_*.yaml do")


def mark_depth(rows: list[dict[str, Any]], needed: Sequence[int | None], layers: int,
               oracle: str) -> dict[str, Any]:
    """Put each pair's ``needed_rounds`` (pairs ``oracle`` separates) and the model's
    ``layers`` into its row; a pair the model leaves unseparated that needs more rounds
    than ``layers`` gets ``"reason": "depth"``. Returns the summary ``separation.json``
    keeps under ``depth``; ``violations`` lists pairs separated with fewer layers than
    they need (a sign that the model is not bounded by the oracle round by round)."""
    limited, violations = 0, []
    for row, rounds in zip(rows, needed):
        if rounds is None:
            continue
        row["needed_rounds"] = rounds
        row["layers"] = layers
        if rounds > layers:
            if row["separated"]:
                violations.append(row["id"])
            else:
                row["reason"] = "depth"
                limited += 1
    known = [r for r in needed if r is not None]
    return {"oracle": oracle, "layers": layers, "limited": limited,
            "max_needed_rounds": max(known) if known else None, "violations": violations}


def depth_requirement(cfg: dict[str, Any], suite: Any, registry: Registry | None = None,
                      budget: int = 5_000_000) -> str | None:
    """For ``wlkit validate``: the depth warning of ``cfg``'s model on ``suite``, if any.

    Only answers the cache already holds are used, or ones cheap to compute (the oracle's
    work units on the suite below ``budget``), so validation stays fast; None when the
    model's depth is enough or its oracle's rounds do not map to layers; a note when the
    check was too costly (``wlkit separate`` always checks).
    """
    from wlkit.wl import oracle_cost

    separator = Separator(cfg, suite.label_width, SeparateSettings(), registry)
    oracle = separator.policy_oracle() or separator.bound()
    layers = model_rounds(separator, oracle)
    if oracle is None or layers is None:
        return None
    cached = suite.oracle_rounds([oracle], compute=False)
    if oracle not in cached:
        work = sum(oracle_cost(g, oracle) for p in suite.pairs() for g in (p.first, p.second))
        if work > budget:
            return (f"  note: depth not checked against {oracle} on {suite.suite} (not cached, "
                    f"{work:.1e} work units); wlkit separate checks it")
        cached = suite.oracle_rounds([oracle])
    return depth_warning(cached[oracle], layers, oracle)


def _command_context(pipeline: Any, settings: SeparateSettings | None, progress: bool,
                     registry: Registry | None, say: Callable[[str], None] | None) -> tuple:
    """Settings, registry, the progress printer ``say``, the result printer ``tell`` (which
    prints under --quiet too) and the resolved pipeline mapping of one command."""
    settings = settings or SeparateSettings()
    registry = registry or get_registry()
    say = say or (lambda text: print(text, flush=True) if progress else None)
    tell = say if progress else (lambda text: print(text, flush=True))
    cfg = pipeline.data if hasattr(pipeline, "data") else pipeline
    return settings, registry, say, tell, cfg


# ---------------------------------------------------------------------- the command
def run_separate(pipeline: Any, suite_name: str | _suites.WLSuite, root: str | None = None,
                 out: str | Path | None = None, settings: SeparateSettings | None = None,
                 progress: bool = True, registry: Registry | None = None,
                 say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run ``wlkit separate``; write ``separation.json`` and ``separation.png``; return the
    result (see the README for its fields)."""
    from wlkit.io import progress as progress_bar

    settings, registry, say, tell, cfg = _command_context(pipeline, settings, progress,
                                                         registry, say)
    name = cfg["name"]
    started = time.perf_counter()
    # a built suite too (--suite all builds them first, to skip those without files)
    suite = (suite_name if isinstance(suite_name, _suites.WLSuite)
             else load_suite(suite_name, root, registry))
    separator = Separator(cfg, suite.label_width, settings, registry)
    indexed = list(enumerate(suite.pairs()))
    if settings.pair_ids is not None:
        known = {p.id for _, p in indexed}
        unknown = [i for i in settings.pair_ids if i not in known]
        if unknown:
            raise DatasetError(f"suite {suite.suite!r} has no pair {unknown[0]!r}\n    hint: "
                               f"{choices_hint(unknown[0], sorted(known))}")
        wanted = set(settings.pair_ids)
        indexed = [(i, p) for i, p in indexed if p.id in wanted]
    if settings.limit is not None:
        indexed = indexed[:settings.limit]
    pairs = [p for _, p in indexed]
    if not pairs:
        raise DatasetError(f"suite {suite.suite!r} has no pairs")
    check_output_empty(out)  # fail before the work; the folder is made when results exist
    policy_oracle = separator.policy_oracle()
    oracles = ["1-WL", "2-FWL"] + ([policy_oracle] if policy_oracle not in (None, "1-WL",
                                                                            "2-FWL") else [])
    say(f"wlkit separate: {name} on {suite.describe()}")
    say(f"  {len(pairs)} pairs, R={settings.relabelings} relabelings, output dim "
        f"{settings.output_dim}, T² threshold {separator.threshold:.2f}"
        + (", trained per pair" if settings.trained else ", untrained")
        + (f", {settings.dtype}" if settings.dtype != "float32" else "")
        + (", float64 re-test of missed pairs" if settings.dtype == "float32"
           and settings.retest_float64 and not settings.trained else ""))
    if settings.limit is None and settings.pair_ids is None:
        labels = suite.oracle_labels(
            oracles, on_compute=lambda o: say(f"  computing the {o} oracle (cached afterwards)"))
    else:  # a subset: compute on it alone, without caching
        from wlkit.wl import separation_rounds

        answers = {o: separation_rounds([(p.first, p.second) for p in pairs], o)
                   for o in oracles}
        labels = {o: found for o, (found, _) in answers.items()}
    # depth: the rounds each pair needs under the reference oracle against the model's layers
    depth_oracle = policy_oracle if policy_oracle is not None else separator.bound()
    layers = model_rounds(separator, depth_oracle)
    needed: list[int | None] | None = None
    if layers is not None and depth_oracle is not None:
        needed = (suite.oracle_rounds([depth_oracle])[depth_oracle]
                  if settings.limit is None and settings.pair_ids is None
                  else [int(r) if r >= 0 else None for r in answers[depth_oracle][1]])
        warning = depth_warning(needed, layers, depth_oracle)
        if warning:
            tell(warning)
    warning = gin0_warning(cfg, settings, separator)
    if warning:
        tell(warning)
    # untrained: every distinct graph once, over the workers; the pairs then read the cache
    embedding = (None if settings.trained else
                 separator.prefetch([g for p in pairs for g in (p.first, p.second)], progress))
    rows = []
    bar = progress_bar(pairs, desc=f"  separate {suite.suite}", unit="pair", enabled=progress)
    # the bar first in zip, so it counts the last pair before zip stops
    for row, (pair, index) in enumerate(zip(bar, (i for i, _ in indexed))):
        decision = separator.decide(pair.first, pair.second, index)
        rows.append({"id": pair.id, "category": pair.category, **decision,
                     "oracles": {o: bool(labels[o][row]) for o in oracles}})
    bar.close()
    # before the re-test: a depth-limited pair gets its reason, and float64 cannot help it
    depth = (mark_depth(rows, needed, layers, depth_oracle)
             if needed is not None and layers is not None and depth_oracle is not None
             else None)
    bound = separator.bound()
    reference = policy_oracle if policy_oracle is not None else bound
    retest = retest_in_float64(cfg, suite.label_width, settings, registry, rows, indexed,
                               reference, separator.threshold, say, progress)
    assign_reasons(rows, reference)
    violations = ([r["id"] for r in rows if r["separated"] and not r["oracles"].get(bound, True)]
                  if bound in oracles else [])
    from wlkit.model.build import count_parameters

    result = {
        "pipeline": name,
        "suite": suite.suite,
        "source": suite.describe(),
        "settings": {**asdict(settings), "threshold": separator.threshold,
                     "tol": separator.tol},
        "policy": separator.policy_name,
        "policy_oracle": policy_oracle,
        "bound": bound,
        "num_params": count_parameters(separator.model),
        "oracles": oracles,
        "pairs": rows,
        "totals": totals(rows, oracles, suite.categories()),
        "violations": violations,
        "reference_oracle": reference,
        "float64_retest": retest,
        "embedding": embedding,
        "command": " ".join(sys.argv),
        "seconds": round(time.perf_counter() - started, 2),
    }
    result["overall"] = totals(rows, oracles, None)["all"]
    result["depth"] = depth
    with output_folder(Path(cfg["output"]["dir"]) / name, f"separate_{suite.suite}_",
                       out) as run_dir:
        atomic_write_json(run_dir / "separation.json", result)
        plot_separation(result, run_dir / "separation.png")
    tell(format_table(result))
    if violations:
        tell(f"  WARNING: the model separates {len(violations)} pair(s) that {bound} does not "
            f"({', '.join(violations[:5])}{', ...' if len(violations) > 5 else ''}); for a "
            f"model bounded by {bound} this is a bug in the model or in the test")
    if depth is not None and depth["violations"]:
        tell(f"  WARNING: the model separates {len(depth['violations'])} pair(s) with fewer "
             f"layers than the rounds of {depth['oracle']} they need "
             f"({', '.join(depth['violations'][:5])}); its layers are not bounded by the "
             "oracle round by round (see 'Rounds and layers' in wlkit.wl)")
    tell(f"  results: {run_dir / 'separation.json'} and separation.png")
    result["run_dir"] = str(run_dir)
    return result


def retest_in_float64(cfg: dict[str, Any], label_width: int, settings: SeparateSettings,
                      registry: Registry, rows: list[dict[str, Any]],
                      indexed: list[tuple[int, Any]], reference: str | None, threshold: float,
                      say: Callable[[str], None], progress: bool) -> dict[str, Any] | None:
    """Decide again in float64 the pairs float32 may have missed for precision alone.

    Candidates: reliable, not separated, and separated by ``reference`` (every such pair when
    ``reference`` is None). Updates ``rows`` in place: a candidate separated in float64 is
    separated (``"precision": "float64"``); every candidate keeps its float32 values and gets
    ``"float64": {"t2", "control_t2", "separated", "reliable"}``. Returns a summary (None when
    no re-test applies: trained, already float64, or switched off).
    """
    from wlkit.io import progress as progress_bar

    if settings.trained or settings.dtype != "float32" or not settings.retest_float64:
        return None
    chosen = [k for k, row in enumerate(rows) if row["reliable"] and not row["separated"]
              and "reason" not in row  # e.g. depth: no precision can separate it
              and (reference is None or row["oracles"].get(reference, True))]
    summary: dict[str, Any] = {"reference": reference, "pairs": len(chosen), "recovered": 0,
                               "seconds": 0.0}
    if not chosen:
        return summary
    started = time.perf_counter()
    say(f"  float64 re-test of {len(chosen)} pair(s) that float32 left unseparated"
        + (f" and {reference} separates" if reference is not None else
           " (no exact oracle bounds this model)"))
    # an explicit --tol is the user's floor in both precisions; else float64's own
    wide = Separator(cfg, label_width, dataclasses.replace(settings, dtype="float64"), registry)
    redrawn: dict[int, Separator] = {}  # fresh weight draws, built when first needed
    summary["redrawn"] = 0
    bar = progress_bar(chosen, desc="  float64 re-test", unit="pair", enabled=progress)
    for k in bar:
        index, pair = indexed[k]
        decision = wide.decide(pair.first, pair.second, index)
        row = rows[k]
        row["float64"] = decision
        if not decision["separated"] and decision["reliable"] and reference is not None:
            for draw in range(1, settings.redraws + 1):
                if draw not in redrawn:
                    redrawn[draw] = Separator(cfg, label_width, dataclasses.replace(
                        settings, dtype="float64", seed=settings.seed + draw,
                        alpha=settings.alpha / (settings.redraws + 1)), registry)
                again = redrawn[draw].decide(pair.first, pair.second, index)
                row.setdefault("redraws", []).append(
                    {"seed": settings.seed + draw, **{key: again[key] for key in
                     ("separated", "reliable", "t2", "control_t2") if key in again}})
                if again["separated"]:
                    row["redraw"] = row["redraws"][-1]
                    summary["redrawn"] += 1
                    decision = again
                    break
        if decision["separated"]:
            row["separated"] = True
            row["precision"] = "float64"
            summary["recovered"] += 1
    bar.close()
    summary["seconds"] = round(time.perf_counter() - started, 2)
    say(f"  float64 re-test: {summary['recovered']} of {len(chosen)} separated"
        + (f", {summary['redrawn']} of them by redrawn weights" if summary["redrawn"] else "")
        + f" ({summary['seconds']:.1f} s)")
    return summary


def assign_reasons(rows: list[dict[str, Any]], reference: str | None) -> None:
    """Give every pair the reference oracle separates but the model does not a ``reason``.

    ``precision``: the float64 re-test's T² grew more than tenfold over float32's yet stays
    under the threshold (real differences at the edge of float64's floor); ``unreliable``:
    the pair's (or its re-test's) control fired; ``unexplained``: none of these. Reasons
    already set (e.g. ``depth``) are kept.
    """
    if reference is None:
        return
    for row in rows:
        if row["separated"] or not row["oracles"].get(reference, False) or "reason" in row:
            continue
        wide = row.get("float64")
        if not row["reliable"] or (wide is not None and not wide["reliable"]):
            row["reason"] = "unreliable"
        elif wide is not None and (wide["t2"] or 0.0) > 10 * max(row["t2"] or 0.0, 1e-12):
            row["reason"] = "precision"
        else:
            row["reason"] = "unexplained"


def totals(rows: list[dict[str, Any]], oracles: list[str],
           categories: list[str] | None) -> dict[str, dict[str, Any]]:
    """Per category (or ``{"all": ...}`` when ``categories`` is None): pairs, separated,
    unreliable and each oracle's count."""
    groups: dict[str, list[dict[str, Any]]] = {}
    if categories is None:
        groups["all"] = rows
    else:
        for cat in categories:
            groups[cat] = [r for r in rows if r["category"] == cat]
    return {cat: {"pairs": len(items),
                  "separated": sum(r["separated"] for r in items),
                  "unreliable": sum(not r["reliable"] for r in items),
                  "float64": sum(r.get("precision") == "float64" for r in items),
                  "reasons": _reason_counts(items),
                  "oracles": {o: sum(r["oracles"][o] for r in items) for o in oracles}}
            for cat, items in groups.items() if items}


def _reason_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        if "reason" in row:
            counts[row["reason"]] = counts.get(row["reason"], 0) + 1
    return dict(sorted(counts.items()))


def format_table(result: dict[str, Any]) -> str:
    """The per-category table: model (and unreliable pairs) next to the oracles."""
    oracles = result["oracles"]
    retested = result.get("float64_retest") is not None
    explained = result.get("reference_oracle") is not None
    deep = result.get("depth") is not None  # the model's layers map to oracle rounds

    def line(cat: str, t: dict[str, Any]) -> list[str]:
        return [cat, str(t["pairs"]), str(t["separated"]),
                *([str(t.get("float64", 0))] if retested else []), str(t["unreliable"]),
                *([str(t.get("reasons", {}).get("unexplained", 0))] if explained else []),
                *([str(t.get("reasons", {}).get("depth", 0))] if deep else []),
                *[str(t["oracles"][o]) for o in oracles]]

    head = ["category", "pairs", "model", *(["via float64"] if retested else []), "unreliable",
            *(["unexplained"] if explained else []), *(["depth-limited"] if deep else []),
            *oracles]
    lines = [line(cat, t) for cat, t in result["totals"].items()]
    lines.append(line("total", result["overall"]))
    title = (f"  {result['pipeline']} on {result['suite']}: pairs separated (model = reliable "
             f"T² > {result['settings']['threshold']:.2f})")
    return "\n".join([title, *tables.format_table(head, lines, indent="  ",
                                                   rules=[0, len(lines) - 1])])


def plot_separation(result: dict[str, Any], path: str | Path) -> None:
    """Grouped bar chart: fraction of pairs separated per category, model vs oracles."""
    import io

    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    cats = list(result["totals"])
    series = [("model", [result["totals"][c]["separated"] for c in cats])]
    series += [(o, [result["totals"][c]["oracles"][o] for c in cats]) for o in result["oracles"]]
    sizes = [result["totals"][c]["pairs"] for c in cats]
    fig = Figure(figsize=(max(5.0, 1.3 * len(cats) + 2), 3.6))
    ax = fig.subplots()
    width = 0.8 / len(series)
    for k, (label, counts) in enumerate(series):
        xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(cats))]
        ax.bar(xs, [c / n for c, n in zip(counts, sizes)], width, label=label)
    ax.set_xticks(range(len(cats)))
    ax.set_xticklabels([f"{c}\n({n})" for c, n in zip(cats, sizes)], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("fraction of pairs separated")
    ax.set_title(f"{result['pipeline']} on {result['suite']}", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    atomic_write_bytes(path, buffer.getvalue())


# ---------------------------------------------------------------------- --suite all
#: The ``--suite`` value that runs every suite.
ALL_SUITES = "all"


def _wl_data(root: str | Path | None) -> contextlib.AbstractContextManager[None]:
    """``$WLKIT_WL_DATA`` set to ``root`` (when given) for the file suites' folder lookup."""
    from wlkit.io import environment_variable

    return environment_variable("WLKIT_WL_DATA", None if root is None else str(root))


def collect_suites(root: str | Path | None, registry: Registry,
                   names: Sequence[str] | None = None
                   ) -> tuple[list[_suites.WLSuite], list[dict[str, str]]]:
    """Every registered suite ``--suite all`` runs, and the file suites it skips.

    Generated suites always run (``csl`` generated exactly, not from files). A suite that
    reads files looks for them under ``root`` (or ``$WLKIT_WL_DATA``) in its own subfolder
    (``EXP/``, ``BREC/``, ...); one whose files are missing or unreadable is skipped with
    the reason, not an error. Must be called with ``$WLKIT_WL_DATA`` set to ``root`` (see
    :func:`run_separate_all`), since file suites resolve their folder when used.
    """
    records = _suites.suite_records(registry)
    if names is not None:
        unknown = [n for n in names if n not in records]
        if unknown:
            raise DatasetError(f"unknown suite {unknown[0]!r}\n    hint: "
                               f"{choices_hint(unknown[0], sorted(records))}")
        records = {n: records[n] for n in names}
    # generated suites first (cheap, always there), then the file suites
    order = sorted(records, key=lambda n: (records[n].record.needs_files, n))
    found: list[_suites.WLSuite] = []
    skipped: list[dict[str, str]] = []
    for name in order:
        if not records[name].record.needs_files:
            found.append(_suites.load_suite(name, None, registry))
            continue
        try:
            suite = _suites.load_suite(name, None, registry)
            if not suite.pairs():
                raise DatasetError(f"suite {name!r} has no pairs")
            suite.describe()  # resolves its folder; fails like pairs() would
        except DatasetError as exc:
            skipped.append({"suite": name, "reason": " ".join(str(exc).split("\n")[0].split())})
            continue
        found.append(suite)
    return found, skipped


def run_separate_all(pipeline: Any, root: str | Path | None = None,
                     out: str | Path | None = None, settings: SeparateSettings | None = None,
                     progress: bool = True, registry: Registry | None = None,
                     say: Callable[[str], None] | None = None,
                     names: Sequence[str] | None = None) -> dict[str, Any]:
    """``wlkit separate PIPELINE --suite all``: every suite, one report.

    Runs :func:`run_separate` on every generated suite and on every file suite found under
    ``root`` (the folder holding ``EXP/``, ``CEXP/``, ``CSL/``, ``SR25/``, ``BREC/``, like
    ``$WLKIT_WL_DATA``, which is used when ``root`` is None). Each suite's
    ``separation.json`` and ``.png`` go to its own subfolder; then ``separation_all.json``,
    ``separation_all.png`` and one table (per suite and category: pairs, model, unreliable,
    unexplained, the oracles and, for models with a published BREC row, the paper's count).

    Parameters
    ----------
    pipeline : Pipeline or dict
        The validated pipeline.
    root : path, optional
        The folder of the file suites' subfolders.
    out : path, optional
        Output folder (default ``runs/<name>/separate_all_<UTC time>/``); must be empty.
    settings : SeparateSettings, optional
        Applied to every suite (``limit``: the first pairs of each suite); ``pair_ids`` is
        refused (ids belong to one suite).
    progress, registry, say :
        As for :func:`run_separate`.
    names : sequence of str, optional
        Only these suites (default: every registered one).

    Returns
    -------
    dict
        The content of ``separation_all.json`` plus ``run_dir``.

    A suite whose run stops with a :class:`WlkitError` (a policy's budget exceeded on its
    graphs, for example) is listed under ``skipped`` with the reason (``stopped: ...``) and
    the other suites go on; when every suite stops, the first error is raised.

    Raises
    ------
    WlkitError
        ``root`` is not a folder, ``pair_ids`` is set, ``out`` holds files, or every suite
        stopped with an error.
    """
    from wlkit.tools import published

    settings, registry, say, tell, cfg = _command_context(pipeline, settings, progress,
                                                         registry, say)
    name = cfg["name"]
    started = time.perf_counter()
    if settings.pair_ids is not None:
        raise WlkitError("--pairs cannot be combined with --suite all (pair ids belong to one "
                         "suite)\n    hint: run the suite alone: --suite NAME --pairs ...")
    if root is not None and not Path(root).expanduser().is_dir():
        raise WlkitError(f"--root {root}: not a folder\n    hint: with --suite all, --root "
                         "names the folder holding EXP/, CEXP/, CSL/, SR25/ and BREC/ (as "
                         "$WLKIT_WL_DATA does)")
    check_output_empty(out)
    model_row = published.published_model(cfg)
    with _wl_data(None if root is None else Path(root).expanduser()):
        suites, skipped = collect_suites(root, registry, names)
        if not suites:
            raise DatasetError("--suite all found no suite to run\n    hint: pass --root DIR "
                               "(or set WLKIT_WL_DATA) for the file suites")
        say(f"wlkit separate --suite all: {name} on {len(suites)} suite(s): "
            + ", ".join(s.suite for s in suites)
            + (f"; skipped: {', '.join(s['suite'] for s in skipped)}" if skipped else ""))
        results: dict[str, dict[str, Any]] = {}
        with output_folder(Path(cfg["output"]["dir"]) / name, "separate_all_",
                           out) as run_dir:
            first_error: WlkitError | None = None
            for suite in suites:
                try:
                    result = run_separate(pipeline, suite, out=run_dir / suite.suite,
                                          settings=settings, progress=progress,
                                          registry=registry, say=say)
                except WlkitError as error:
                    # one suite the model cannot take (a policy's size budget on its
                    # graphs, say) must not cost the others: skipped with the reason
                    first_error = first_error or error
                    reason = str(error).splitlines()[0]
                    skipped.append({"suite": suite.suite, "reason": f"stopped: {reason}"})
                    say(f"  {suite.suite}: stopped ({reason}); the other suites go on")
                    with contextlib.suppress(OSError):
                        (run_dir / suite.suite).rmdir()  # only if nothing was written
                    continue
                results[suite.suite] = result
            if not results:
                assert first_error is not None
                raise first_error
            combined = combine_results(cfg, results, skipped, model_row, settings)
            combined["command"] = " ".join(sys.argv)
            combined["seconds"] = round(time.perf_counter() - started, 2)
            atomic_write_json(run_dir / "separation_all.json", combined)
            plot_separation(_plot_view(combined), run_dir / "separation_all.png")
    tell(format_all_table(combined))
    tell(f"  results: {run_dir / 'separation_all.json'} and separation_all.png (each suite's "
         "separation.json in its subfolder)")
    combined["run_dir"] = str(run_dir)
    return combined


def combine_results(cfg: dict[str, Any], results: dict[str, dict[str, Any]],
                    skipped: list[dict[str, str]], model_row: str | None,
                    settings: SeparateSettings) -> dict[str, Any]:
    """``separation_all.json``: each suite's totals (and published counts), the skips."""
    from wlkit.tools import published

    oracles = list(dict.fromkeys(o for r in results.values() for o in r["oracles"]))
    suites: dict[str, Any] = {}
    for suite, r in results.items():
        entry = {"source": r["source"], "dir": r["run_dir"], "oracles": r["oracles"],
                 "reference_oracle": r.get("reference_oracle"), "totals": r["totals"],
                 "overall": r["overall"], "violations": r["violations"],
                 "seconds": r["seconds"]}
        if model_row is not None and suite == "brec":
            cells, total = published.published_cells(model_row, r["totals"],
                                                     r["overall"]["pairs"])
            entry["published"] = {"categories": cells, "total": total}
        suites[suite] = entry
    first = next(iter(results.values()))
    out: dict[str, Any] = {
        "pipeline": cfg["name"], "policy": first["policy"], "bound": first["bound"],
        "settings": first["settings"], "oracles": oracles, "suites": suites,
        "skipped": skipped,
        "published": None if model_row is None else {
            "model": model_row, **asdict(published.BREC_TABLE2[model_row]),
            "trained": True,
            "comparable": settings.trained,
            "protocol": f"BREC's {model_row} row is trained (BREC's per-pair protocol, "
                        "--trained); "
                        + ("this run is trained too" if settings.trained else
                           "this run is untrained, so not directly comparable")}}
    out["totals"] = {"pairs": sum(s["overall"]["pairs"] for s in suites.values()),
                     "separated": sum(s["overall"]["separated"] for s in suites.values()),
                     "unreliable": sum(s["overall"]["unreliable"] for s in suites.values())}
    return out


def format_all_table(combined: dict[str, Any]) -> str:
    """The ``--suite all`` table: one block of rows per suite (categories, then its total).

    Columns: pairs, model (reliable separations), unreliable, one column per reason a pair
    the reference oracle separates stays unseparated (``unexplained`` always, others such
    as ``depth`` or ``precision`` where they occur), the oracles, and the published count
    of the model's BREC row when it has one.
    """
    oracles = combined["oracles"]
    row_pub = combined.get("published")
    entries = combined["suites"].values()
    found = {k for e in entries for t in [*e["totals"].values(), e["overall"]]
             for k in t.get("reasons", {})}
    reasons = ["unexplained", *sorted(found - {"unexplained"})]
    # pairs separated only by the float64 re-test, where one ran
    wide = any(t.get("float64") for e in entries for t in e["totals"].values())
    head = ["suite / category", "pairs", "model", *(["via float64"] if wide else []),
            "unreliable", *reasons, *oracles,
            *([f"published {row_pub['model']} (trained)"] if row_pub else [])]
    lines: list[list[str]] = []
    rules: list[int] = [0]

    def cells(label: str, t: dict[str, Any], pub: str) -> list[str]:
        counts = t.get("reasons", {})
        return [label, str(t["pairs"]), str(t["separated"]),
                *([str(t.get("float64", 0))] if wide else []), str(t["unreliable"]),
                *[str(counts.get(r, 0)) for r in reasons],
                *[str(t["oracles"][o]) if o in t["oracles"] else "-" for o in oracles],
                *([pub] if row_pub else [])]

    def show(value: int | None) -> str:
        return "-" if value is None else str(value)

    for suite, entry in combined["suites"].items():
        if lines:
            rules.append(len(lines))
        pub = entry.get("published") or {"categories": {}, "total": None}
        cats = entry["totals"]
        if len(cats) > 1 or next(iter(cats)) != suite:
            for cat, t in cats.items():
                lines.append(cells(f"{suite} / {cat}", t,
                                   show(pub["categories"].get(cat)) if suite == "brec" else ""))
            lines.append(cells(f"{suite} total", entry["overall"],
                               show(pub["total"]) if suite == "brec" else ""))
        else:
            lines.append(cells(suite, entry["overall"], ""))
    threshold = combined["settings"]["threshold"]
    text = [f"  {combined['pipeline']} on every suite: pairs separated (model = reliable T² > "
            f"{threshold:.2f}{', trained per pair' if combined['settings']['trained'] else ''})",
            *tables.format_table(head, lines, indent="  ", rules=rules, strip=True)]
    if row_pub:
        row = row_pub
        text += [f"  published: {row['protocol']}.",
                 f"    {row['source']}: {row['model']} separates Basic {row['basic']}, Regular "
                 f"{row['regular']}, Extension {row['extension']}, CFI {row['cfi']}, total "
                 f"{row['total']} of 400.",
                 "    The paper's Regular column merges Regular, Strongly regular, 4-vertex "
                 "condition and Distance regular (140 pairs); '-': no published cell."]
    for skip in combined["skipped"]:
        text.append(f"  skipped {skip['suite']}: {skip['reason']}")
    return "\n".join(text)


def _plot_view(combined: dict[str, Any]) -> dict[str, Any]:
    """``combined`` in the shape :func:`plot_separation` draws (one bar group per suite and
    category)."""
    totals = {}
    for suite, entry in combined["suites"].items():
        for cat, t in entry["totals"].items():
            label = suite if cat == suite else f"{suite}/{cat}"
            totals[label] = {**t, "oracles": {o: t["oracles"].get(o, 0)
                                              for o in combined["oracles"]}}
    return {"pipeline": combined["pipeline"], "suite": "every suite", "totals": totals,
            "oracles": combined["oracles"]}
