"""How much expressivity a dataset needs: exact WL colour classes and accuracy ceilings.

Zopf (2022, "1-WL Expressiveness Is (Almost) All You Need") observed that colour refinement
already tells apart almost every graph of most benchmark datasets, and that the accuracy
ceiling of *any* model bounded by an oracle can be computed exactly: a model that cannot
distinguish two graphs must give them the same prediction. This module computes, for a
dataset and one or more exact oracles of :mod:`wlkit.wl`:

* the colour classes of the whole dataset (one joint refinement of all graphs with a shared
  palette; node and edge features, and optionally positional encodings, as initial colours);
* the fraction of graphs alone in their class, the collisions (classes with >= 2 graphs) and
  how many of them hold non-isomorphic graphs (decided exactly, within a budget);
* the label-consistency ceiling per split: each colour class predicts the best constant for
  its graphs *in the evaluated split* (majority label; per task for multi-task binary data;
  the class mean for regression, whose RMSE is the irreducible error);
* collisions across the split: valid/test graphs whose class holds a training graph with a
  different label;
* the conflicting classes (collisions with differing labels) with their isomorphism groups:
  the graphs that need more expressivity (or, when the members are isomorphic, that no
  model can fix).

Initial colours
---------------
A node's initial colour is the exact identity of its feature row (``ndata['feat']``; integer
columns such as OGB's 9 atom features, or float columns compared bit for bit after mapping
``-0.0`` to ``0.0`` and every NaN to one NaN), joined with the row of its positional
encodings (``ndata['pe']``) rounded to ``decimals`` decimal places when encodings are
asked for, and with the number of self loops on it. A DGL graph is read as undirected: the
colour of an edge ``{u, v}`` is the multiset of the feature rows of all arcs between ``u``
and ``v`` (both directions, with multiplicity), so symmetric graphs lose nothing.

Rounding makes isomorphic graphs whose encodings differ only by floating-point noise equal
again; values that straddle a rounding boundary can still split them. Encodings that are
not invariant (Laplacian eigenvectors with arbitrary signs) separate isomorphic graphs on
purpose: that is what the model sees.

Example
-------
>>> import numpy as np
>>> from wlkit import graphs
>>> from wlkit.tools.analyze import analyze
>>> data = [graphs.cycle(6), graphs.disjoint_union(graphs.cycle(3), graphs.cycle(3))]
>>> splits = {"train": np.array([0, 1]), "test": np.array([0, 1])}
>>> report = analyze(data, np.array([0, 1]), splits, "multiclass", ["1-WL", "node_marked"])
>>> report["oracles"]["1-WL"]["ceiling"]["test"]["accuracy"]
0.5
>>> report["oracles"]["node_marked"]["ceiling"]["test"]["accuracy"]
1.0
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from wlkit.errors import WlkitError
from wlkit.graphs import SimpleGraph
from wlkit.tools import tables
from wlkit.wl import (
    ORACLE_SUMMARIES,
    check_oracle,
    oracle_cost,
    oracle_names,
    oracle_patterns,
    oracle_summary,
    registered_oracle,
    wl_colors,
)
from wlkit.wl._canon import canon_rows, multiset_ids

__all__ = [
    "DEFAULT_BUDGET",
    "DEFAULT_ISO_CHECKS",
    "FEATURE_MODES",
    "PE_DECIMALS",
    "analysis_pipeline",
    "analyze",
    "analyze_pipeline",
    "describe_features",
    "estimate_work",
    "format_table",
    "labelled_graphs",
    "write_analysis",
]

#: Work budget per oracle (see :func:`estimate_work`); oracles above it are refused.
DEFAULT_BUDGET = 200_000_000
#: Isomorphism tests allowed when resolving collisions.
DEFAULT_ISO_CHECKS = 20_000
#: Decimal places positional encodings are rounded to before they become colours.
PE_DECIMALS = 6
#: Which features become initial colours: those the pipeline's model reads, all the graphs
#: carry, or none (structure only).
FEATURE_MODES = ("model", "all", "none")
#: Format version of ``analysis.json``.
FORMAT = 1

_SPLIT_ORDER = ("train", "valid", "test")
_ISO = "isomorphism"
_BASELINE = "constant"


# --------------------------------------------------------------------------- features
def _row_bits(array: np.ndarray, decimals: int | None = None) -> np.ndarray:
    """Feature rows as int64 rows: equal rows <=> equal int rows (floats compared by bits)."""
    arr = np.asarray(array)
    if arr.ndim == 1:
        arr = arr[:, None]
    arr = arr.reshape(arr.shape[0], math.prod(arr.shape[1:]))
    if arr.dtype == bool or np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.int64)
    arr = arr.astype(np.float64)
    if decimals is not None:
        arr = np.round(arr, decimals)
    arr = arr + 0.0  # -0.0 -> 0.0
    arr[np.isnan(arr)] = np.nan  # one NaN bit pattern
    return arr.view(np.int64)


def _ids(rows: list[np.ndarray], total: int) -> np.ndarray:
    """Canonical ids of concatenated columns (each [total, k] int64); zeros when none."""
    if not rows:
        return np.zeros(total, dtype=np.int64)
    return canon_rows(np.concatenate(rows, axis=1))[0]


def labelled_graphs(
    dgl_graphs: Sequence[Any],
    *,
    node_features: bool = True,
    edge_features: bool = True,
    encodings: bool = False,
    decimals: int = PE_DECIMALS,
) -> tuple[list[SimpleGraph], dict[str, Any]]:
    """Turn DGL graphs into :class:`~wlkit.graphs.SimpleGraph` s whose labels are colours.

    Colours are ids in one palette shared by the whole list (so equal feature rows in
    different graphs get equal colours). See the module docstring for the exact rules.

    Parameters
    ----------
    dgl_graphs : sequence of dgl.DGLGraph
        The dataset's graphs.
    node_features, edge_features : bool
        Use ``ndata['feat']`` / ``edata['feat']`` when the graphs carry them.
    encodings : bool
        Use ``ndata['pe']`` (positional encodings already attached), rounded to
        ``decimals`` places.
    decimals : int
        Rounding of the encodings.

    Returns
    -------
    graphs : list of SimpleGraph
        Node labels always set (0 everywhere when nothing is used); edge labels set when
        edge features are used or some node pair is not joined by exactly one arc each way.
    info : dict
        What was used: ``node``/``edge`` feature widths (None when unused), ``encodings``
        width, ``node_colours``/``edge_colours`` (distinct initial colours),
        ``self_loops`` and ``asymmetric_pairs`` (node pairs whose arcs are not one per
        direction with equal features).

    Examples
    --------
    >>> import torch
    >>> from wlkit import graphs
    >>> g = graphs.cycle(4).to_dgl()
    >>> g.ndata["feat"] = torch.tensor([[0.5], [1.0], [0.5], [1.0]])
    >>> out, info = labelled_graphs([g])
    >>> out[0].node_labels.tolist(), info["node_colours"]
    ([0, 1, 0, 1], 2)
    """
    sizes = np.array([g.num_nodes() for g in dgl_graphs], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    total = int(offsets[-1])
    srcs, dsts, arc_counts = [], [], []
    node_cols: dict[str, list[np.ndarray]] = {"feat": [], "pe": []}
    edge_rows: list[np.ndarray] = []
    info: dict[str, Any] = {"node": None, "edge": None, "encodings": None}
    has = {
        "feat": node_features and all("feat" in g.ndata for g in dgl_graphs) and total > 0,
        "pe": encodings and all("pe" in g.ndata for g in dgl_graphs) and total > 0,
        "efeat": edge_features and all("feat" in g.edata for g in dgl_graphs),
    }
    if encodings and not has["pe"]:
        raise WlkitError("analyze: encodings were asked for but the graphs carry no "
                         "ndata['pe']\n    hint: attach them first (wlkit.model.data."
                         "attach_encodings) or list encodings in the pipeline")
    for i, g in enumerate(dgl_graphs):
        src, dst = g.edges()
        srcs.append(src.numpy().astype(np.int64) + offsets[i])
        dsts.append(dst.numpy().astype(np.int64) + offsets[i])
        arc_counts.append(len(src))
        if has["feat"]:
            node_cols["feat"].append(g.ndata["feat"].detach().cpu().numpy())
        if has["pe"]:
            node_cols["pe"].append(g.ndata["pe"].detach().cpu().numpy())
        if has["efeat"]:
            edge_rows.append(g.edata["feat"].detach().cpu().numpy())
    src = np.concatenate(srcs) if srcs else np.zeros(0, np.int64)
    dst = np.concatenate(dsts) if dsts else np.zeros(0, np.int64)

    def stacked(parts: list[np.ndarray], what: str, decimals: int | None = None) -> np.ndarray:
        widths = {math.prod(p.shape[1:]) for p in parts}
        if len(widths) > 1:
            raise WlkitError(f"analyze: {what} has different widths across graphs "
                             f"({sorted(widths)})")
        width = widths.pop()
        if len({p.dtype for p in parts}) == 1:
            return _row_bits(np.concatenate([p.reshape(len(p), width) for p in parts]), decimals)
        return np.concatenate([_row_bits(p, decimals) for p in parts])

    columns = []
    if node_cols["feat"]:
        columns.append(stacked(node_cols["feat"], "ndata['feat']"))
        info["node"] = int(columns[-1].shape[1])
    if node_cols["pe"]:
        columns.append(stacked(node_cols["pe"], "ndata['pe']", decimals))
        info["encodings"] = int(columns[-1].shape[1])
    if has["efeat"] and edge_rows:
        rows = stacked(edge_rows, "edata['feat']")
        arc_label = canon_rows(rows)[0]
        info["edge"] = int(rows.shape[1])
    else:
        arc_label = np.zeros(len(src), dtype=np.int64)
    loops = src == dst
    # Self loops: their number (and features) at each node join the node colour.
    loop_ids = multiset_ids(src[loops], arc_label[loops], total)[0]
    columns.append(loop_ids[:, None])
    node_colour = _ids(columns, total)
    # Undirected pairs: colour = multiset of the arc labels between the two nodes.
    s, d, lab = src[~loops], dst[~loops], arc_label[~loops]
    lo, hi = np.minimum(s, d), np.maximum(s, d)
    key = lo * max(total, 1) + hi
    pair_keys, pair_of_arc = np.unique(key, return_inverse=True)
    # Encode (label, direction) so that u->v and v->u with different labels differ from the
    # symmetric case; with symmetric arcs the multiset is {(l, 0), (l, 1)}.
    direction = (s > d).astype(np.int64)
    edge_colour, _ = multiset_ids(pair_of_arc, lab * 2 + direction, len(pair_keys))
    per_pair = np.bincount(pair_of_arc, minlength=len(pair_keys))
    # A pair is "plain" when it has exactly one arc each way with the same label.
    first_lab = np.full(len(pair_keys), -1, dtype=np.int64)
    np.maximum.at(first_lab, pair_of_arc, lab)
    min_lab = np.full(len(pair_keys), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(min_lab, pair_of_arc, lab)
    dirs = np.zeros(len(pair_keys), dtype=np.int64)
    np.add.at(dirs, pair_of_arc, direction)
    plain = (per_pair == 2) & (dirs == 1) & (first_lab == min_lab)
    info["asymmetric_pairs"] = int((~plain).sum())
    info["self_loops"] = int(loops.sum())
    use_edge_labels = info["edge"] is not None or bool((~plain).any())
    pu, pv = pair_keys // max(total, 1), pair_keys % max(total, 1)
    graph_of_pair = np.searchsorted(offsets, pu, side="right") - 1
    bounds = np.searchsorted(graph_of_pair, np.arange(len(sizes) + 1))
    out = []
    for i, n in enumerate(sizes.tolist()):
        a, b = bounds[i], bounds[i + 1]
        edges = np.stack([pu[a:b], pv[a:b]], axis=1) - offsets[i]
        out.append(SimpleGraph(
            n, edges, node_colour[offsets[i]:offsets[i + 1]],
            edge_colour[a:b] if use_edge_labels else None))
    info["node_colours"] = int(len(np.unique(node_colour))) if total else 0
    info["edge_colours"] = int(len(np.unique(edge_colour))) if use_edge_labels else (
        1 if len(pair_keys) else 0)
    info["decimals"] = decimals if info["encodings"] else None
    return out, info


# --------------------------------------------------------------------------- oracles
def estimate_work(graphs: Sequence[SimpleGraph], oracle: str) -> int:
    """Work units of one refinement under ``oracle``, compared with the budget.

    ``1-WL``: sum of n + 2m (linear, never refused). ``2-FWL``: sum of n^3 (every ordered
    pair of nodes against every third node, per round). Subgraph oracles: 10 x the nodes plus
    arcs of the bag of subgraphs, i.e. 10 n (n + 2m) per graph, and 10 n^2 (n + 2m) for
    ``two_node_marked``: measured on 2 CPU cores, one bag element costs about ten times the
    time of one 2-FWL unit (more rounds, index arrays) and 70-100 bytes of peak memory, so the
    default budget of 2e8 units keeps either kind to a few minutes and a few GB. Registered
    oracles (:func:`wlkit.wl.register_oracle`): the sum of their ``cost`` per graph, or of
    n + m + 1 when they declare none (:func:`wlkit.wl.oracle_cost`).
    """
    n = np.array([g.num_nodes for g in graphs], dtype=np.float64)
    m = np.array([g.num_edges for g in graphs], dtype=np.float64)
    if registered_oracle(oracle) is not None:
        return int(sum(oracle_cost(g, oracle) for g in graphs))
    if oracle == "1-WL":
        cost = n + 2 * m
    elif oracle == "2-FWL":
        cost = n**3
    elif oracle == "two_node_marked":
        cost = 10 * n * n * (n + 2 * m)
    else:
        cost = 10 * n * (n + 2 * m)
    return int(cost.sum())


def _round_up(value: int) -> str:
    """``value`` rounded up to two significant digits, as ``2.3e+08``."""
    exponent = max(int(math.floor(math.log10(max(value, 1)))) - 1, 0)
    return f"{math.ceil(value / 10**exponent) * 10**exponent:.1e}"


def _check_oracles(oracles: Sequence[str]) -> list[str]:
    out: list[str] = []
    for oracle in oracles:
        try:
            check_oracle(oracle)  # registers it when a plugin's oracle family resolves it
        except ValueError:
            from difflib import get_close_matches

            names = oracle_names()
            lower = {o.lower(): o for o in names}
            guess = [lower[g] for g in get_close_matches(oracle.lower(), list(lower), n=1)]
            patterns = oracle_patterns()
            raise WlkitError(f"unknown WL oracle {oracle!r}"
                             + (f"; did you mean {guess[0]!r}?" if guess else "")
                             + f"\n    hint: choose from {', '.join(names)}"
                             + (f", or a name like {', '.join(patterns)}" if patterns else "")
                             ) from None
        if oracle not in out:
            out.append(oracle)
    if not out:
        raise WlkitError("analyze: no oracle given\n    hint: e.g. --oracle 1-WL")
    return out


# --------------------------------------------------------------------------- labels
def _prepare_labels(labels: Any, task: str) -> np.ndarray:
    y = np.asarray(labels.numpy() if hasattr(labels, "numpy") else labels)
    if task == "multiclass":
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise WlkitError(f"analyze: multiclass labels must be [num_graphs], got {y.shape}")
        return y.astype(np.int64)
    if task not in ("binary", "regression"):
        raise WlkitError(f"analyze: unknown task {task!r}; expected multiclass, binary or "
                         "regression")
    y = y.astype(np.float64)
    return y[:, None] if y.ndim == 1 else y.reshape(len(y), -1)


def _dense(ids: np.ndarray) -> tuple[np.ndarray, int]:
    if len(ids) == 0:
        return ids.astype(np.int64), 0
    _, inv = np.unique(ids, return_inverse=True)
    return inv.astype(np.int64), int(inv.max()) + 1


def _auc(score: np.ndarray, y: np.ndarray) -> float | None:
    """ROC-AUC with ties counted half (Mann-Whitney); None without both classes."""
    from scipy.stats import rankdata

    pos = y == 1
    p, q = int(pos.sum()), int((~pos).sum())
    if p == 0 or q == 0:
        return None
    ranks = rankdata(score)
    return float((ranks[pos].sum() - p * (p + 1) / 2) / (p * q))


def _ceiling(classes: np.ndarray, y: np.ndarray, task: str, idx: np.ndarray) -> dict[str, Any]:
    """Best score of a class-constant predictor fitted on the split ``idx`` itself."""
    out: dict[str, Any] = {"graphs": int(len(idx))}
    if len(idx) == 0:
        return out
    cls, k = _dense(classes[idx])
    if task == "multiclass":
        lab = y[idx]
        _, lab_d = np.unique(lab, return_inverse=True)
        nl = int(lab_d.max()) + 1
        counts = np.bincount(cls * nl + lab_d, minlength=k * nl).reshape(k, nl)
        out["accuracy"] = float(counts.max(axis=1).sum() / len(idx))
        return out
    accs, aucs, rmses, per_task = [], [], [], []
    for t in range(y.shape[1]):
        yt = y[idx, t]
        mask = ~np.isnan(yt)
        if not mask.any():
            per_task.append(None)
            continue
        c, v = cls[mask], yt[mask]
        if task == "binary":
            pos = np.bincount(c, weights=(v == 1).astype(float), minlength=k)
            tot = np.bincount(c, minlength=k).astype(float)
            accs.append(float(np.maximum(pos, tot - pos).sum() / mask.sum()))
            rate = np.divide(pos, tot, out=np.zeros(k), where=tot > 0)
            auc = _auc(rate[c], v)
            if auc is not None:
                aucs.append(auc)
            per_task.append(accs[-1])
        else:
            sums = np.bincount(c, weights=v, minlength=k)
            tot = np.bincount(c, minlength=k)
            mean = np.divide(sums, tot, out=np.zeros(k), where=tot > 0)
            rmses.append(float(np.sqrt(np.mean((v - mean[c]) ** 2))))
            per_task.append(rmses[-1])
    if task == "binary":
        out["accuracy"] = float(np.mean(accs)) if accs else None
        out["rocauc"] = float(np.mean(aucs)) if aucs else None
    else:
        out["rmse"] = float(np.mean(rmses)) if rmses else None
    if y.shape[1] > 1:
        out["per_task"] = per_task
    return out


def _label_spread(classes: np.ndarray, y: np.ndarray, task: str, idx: np.ndarray,
                  tol: float) -> np.ndarray:
    """bool per class id (dense over ``classes``' range): labels within idx differ."""
    k = int(classes.max()) + 1 if len(classes) else 0
    spread = np.zeros(k, dtype=bool)
    c = classes[idx]
    if task == "multiclass":
        lo = np.full(k, np.iinfo(np.int64).max)
        hi = np.full(k, np.iinfo(np.int64).min)
        np.minimum.at(lo, c, y[idx])
        np.maximum.at(hi, c, y[idx])
        return hi > lo
    for t in range(y.shape[1]):
        v = y[idx, t]
        mask = ~np.isnan(v)
        lo, hi = np.full(k, np.inf), np.full(k, -np.inf)
        np.minimum.at(lo, c[mask], v[mask])
        np.maximum.at(hi, c[mask], v[mask])
        spread |= (hi - lo) > tol
    return spread


def _cross_split(classes: np.ndarray, y: np.ndarray, task: str, train: np.ndarray,
                 other: np.ndarray, tol: float) -> dict[str, Any]:
    """Graphs of ``other`` whose class holds a training graph with a different label."""
    k = int(classes.max()) + 1 if len(classes) else 0
    in_train = np.zeros(k, dtype=bool)
    in_train[classes[train]] = True
    c = classes[other]
    conflict = np.zeros(len(other), dtype=bool)
    if task == "multiclass":
        _, lab = np.unique(y, return_inverse=True)
        nl = int(lab.max()) + 1
        counts = np.bincount(classes[train] * nl + lab[train], minlength=k * nl).reshape(k, nl)
        # conflict: the class holds a training graph with another label
        conflict = counts[c].sum(axis=1) - counts[c, lab[other]] > 0
    else:
        for t in range(y.shape[1]):
            v = y[train, t]
            mask = ~np.isnan(v)
            lo, hi = np.full(k, np.inf), np.full(k, -np.inf)
            np.minimum.at(lo, classes[train][mask], v[mask])
            np.maximum.at(hi, classes[train][mask], v[mask])
            yo = y[other, t]
            ok = ~np.isnan(yo)
            conflict |= ok & ((lo[c] < yo - tol) | (hi[c] > yo + tol))
    return {
        "graphs": int(len(other)),
        "class_seen_in_train": int(in_train[c].sum()),
        "conflicting_with_train": int(conflict.sum()),
        "conflicting_ids": np.asarray(other)[conflict].tolist(),
    }


# --------------------------------------------------------------------------- isomorphism
def _iso_resolve(graphs: Sequence[SimpleGraph], partition: np.ndarray, max_checks: int,
                 budget: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Split every class of ``partition`` into isomorphism classes (exact, within a budget).

    Isomorphic graphs always share a class of ``partition`` (any oracle's classes), so only
    classes with >= 2 graphs need work. Their graphs are first split by a cascade of exact
    invariants (1-WL, then root-marked 2-hop ego-nets and node-marked DS-WL while they fit the
    budget): different invariants prove non-isomorphism. The last invariant's per-node
    colours (and the node/edge labels) then constrain networkx's VF2++ on what remains. A
    group that runs out of checks stays merged (coarser than the truth) and its graphs are
    flagged.

    Returns
    -------
    iso : numpy.ndarray
        int64 ``[N]`` isomorphism class ids (dense).
    uncertain : numpy.ndarray
        bool ``[N]``: graphs of groups left unresolved.
    stats : dict
        ``candidates``, ``checks``, ``max_checks``, ``invariant``, ``complete``,
        ``unresolved_groups``, ``seconds``.
    """
    import networkx as nx

    start = time.perf_counter()
    part, _ = _dense(partition)
    sizes = np.bincount(part)
    cand = np.flatnonzero(sizes[part] >= 2)
    uncertain = np.zeros(len(part), dtype=bool)
    stats: dict[str, Any] = {"candidates": int(len(cand)), "checks": 0,
                             "max_checks": max_checks, "invariant": None, "complete": True,
                             "unresolved_groups": 0}
    iso = np.full(len(part), -1, dtype=np.int64)
    single = sizes[part] == 1
    iso[single] = np.arange(int(single.sum()))
    next_id = int(single.sum())
    if len(cand):
        # Cascade of exact invariants, each on the graphs still sharing a group: 1-WL (node
        # colours for VF2), then root-marked 2-hop ego-nets and node marking while they fit
        # the budget. Per node, the colour is the stable colour (1-WL) or the colour of the
        # subgraph rooted at / marked at that node: isomorphism-invariant in every case.
        key = part.copy()
        colours: dict[int, np.ndarray] = {}
        active = cand
        stages = []
        for stage in ("1-WL", "ego2+", "node_marked"):
            sub = [graphs[i] for i in active]
            if stage != "1-WL" and estimate_work(sub, stage) > budget:
                break
            res = wl_colors(sub, stage)
            stages.append(stage)
            stage_ids = np.full(len(part), -1, dtype=np.int64)
            stage_ids[active] = res.graph_ids
            key = canon_rows(np.stack([key, stage_ids], axis=1))[0]
            for j, i in enumerate(active.tolist()):
                colours[i] = np.asarray(res.colors[j])
            counts = np.bincount(key)
            active = np.flatnonzero(counts[key] >= 2)
            if len(active) == 0:
                break
        stats["invariant"] = stages
        sub = [graphs[i] for i in cand]
        grouped = key[cand]

        def nxg(j: int) -> Any:
            # VF2++ matches node labels only: an edge label becomes a labelled node
            # subdividing the edge (an exact reduction).
            g = sub[j]
            h = nx.Graph()
            col = colours[int(cand[j])].tolist()
            labels = g.node_labels.tolist() if g.node_labels is not None else [0] * g.num_nodes
            h.add_nodes_from((v, {"c": (0, col[v], labels[v])}) for v in range(g.num_nodes))
            if g.edge_labels is None:
                h.add_edges_from(g.edges.tolist())
            else:
                n = g.num_nodes
                for k, ((u, v), lab) in enumerate(zip(g.edges.tolist(),
                                                      g.edge_labels.tolist())):
                    h.add_node(n + k, c=(1, lab, 0))
                    h.add_edges_from(((u, n + k), (n + k, v)))
            return h

        order = np.argsort(grouped, kind="stable")
        cuts = np.flatnonzero(np.diff(grouped[order])) + 1
        for members in np.split(order, cuts):
            if len(members) == 1:
                iso[cand[members[0]]] = next_id
                next_id += 1
                continue
            cache: dict[int, Any] = {}

            def get(j: int, cache: dict[int, Any] = cache) -> Any:
                if j not in cache:
                    cache[j] = nxg(j)
                return cache[j]

            reps: list[tuple[int, int]] = []  # (candidate index, iso id)
            left: list[int] = []
            for pos, j in enumerate(members.tolist()):
                found = None
                for r, rid in reps:
                    if stats["checks"] >= max_checks:
                        break
                    stats["checks"] += 1
                    if nx.vf2pp_is_isomorphic(get(r), get(j), node_label="c"):
                        found = rid
                        break
                else:
                    if found is None:
                        found = next_id
                        next_id += 1
                        reps.append((j, found))
                if found is None:  # out of checks before j was placed
                    left = members[pos:].tolist()
                    break
                iso[cand[j]] = found
            if left:
                # The remainder stays merged; the whole group is uncertain.
                stats["complete"] = False
                stats["unresolved_groups"] += 1
                iso[cand[left]] = next_id
                next_id += 1
                uncertain[cand[members]] = True
    stats["seconds"] = round(time.perf_counter() - start, 3)
    return _dense(iso)[0], uncertain, stats


# --------------------------------------------------------------------------- report
def _splits(splits: dict[str, Any], num: int) -> dict[str, np.ndarray]:
    out = {}
    names = [s for s in _SPLIT_ORDER if s in splits] + [s for s in splits if s not in
                                                          _SPLIT_ORDER]
    for name in names:
        idx = np.asarray(splits[name].numpy() if hasattr(splits[name], "numpy")
                         else splits[name], dtype=np.int64).reshape(-1)
        if len(idx) and (idx.min() < 0 or idx.max() >= num):
            raise WlkitError(f"analyze: split {name!r} holds graph ids outside 0..{num - 1}")
        out[name] = idx
    return out


def _summarise(classes: np.ndarray, y: np.ndarray, task: str, splits: dict[str, np.ndarray],
               tol: float) -> dict[str, Any]:
    cls, k = _dense(classes)
    sizes = np.bincount(cls, minlength=k)
    num = len(cls)
    all_idx = np.arange(num)
    out: dict[str, Any] = {
        "num_classes": int(k),
        "unique_fraction": float((sizes[cls] == 1).sum() / num) if num else None,
        "collisions": int((sizes >= 2).sum()),
        "graphs_in_collisions": int(sizes[sizes >= 2].sum()),
        "ceiling": {name: _ceiling(cls, y, task, idx) for name, idx in splits.items()},
    }
    out["ceiling"]["all"] = _ceiling(cls, y, task, all_idx)
    if "train" in splits:
        out["cross_split"] = {name: _cross_split(cls, y, task, splits["train"], idx, tol)
                              for name, idx in splits.items() if name != "train"}
    return out


def _conflicts(classes: np.ndarray, iso: np.ndarray | None, y: np.ndarray, task: str,
               tol: float, iso_unresolved: np.ndarray | None) -> list[dict[str, Any]]:
    """Collision classes whose members' labels differ, with their isomorphism groups."""
    cls, k = _dense(classes)
    spread = _label_spread(cls, y, task, np.arange(len(cls)), tol)
    sizes = np.bincount(cls, minlength=k)
    out = []
    order = np.argsort(cls, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    for c in np.flatnonzero(spread & (sizes >= 2)).tolist():
        members = order[bounds[c]:bounds[c + 1]]
        entry: dict[str, Any] = {"graphs": members.tolist()}
        if task == "multiclass":
            entry["labels"] = y[members].tolist()
        elif y.shape[1] == 1:
            entry["labels"] = [None if math.isnan(v) else v for v in y[members, 0].tolist()]
        else:
            block = y[members]
            labelled = ~np.isnan(block)
            lo = np.where(labelled, block, np.inf).min(axis=0)
            hi = np.where(labelled, block, -np.inf).max(axis=0)
            entry["tasks_in_conflict"] = np.flatnonzero(hi - lo > tol).tolist()
        if iso is None:
            entry["isomorphism_groups"] = None
            entry["needs_more_expressivity"] = None
        else:
            groups: dict[int, list[int]] = {}
            for g in members.tolist():
                groups.setdefault(int(iso[g]), []).append(g)
            resolved = iso_unresolved is None or not iso_unresolved[members].any()
            entry["isomorphism_groups"] = list(groups.values()) if resolved else None
            entry["needs_more_expressivity"] = (len(groups) > 1) if resolved else None
        out.append(entry)
    return out


def analyze(
    graphs: Sequence[SimpleGraph],
    labels: Any,
    splits: dict[str, Any],
    task: str,
    oracles: Sequence[str] = ("1-WL",),
    *,
    budget: int = DEFAULT_BUDGET,
    iso_checks: int = DEFAULT_ISO_CHECKS,
    label_tolerance: float = 0.0,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Colour classes and accuracy ceilings of a labelled dataset under exact oracles.

    Parameters
    ----------
    graphs : sequence of SimpleGraph
        The dataset; node/edge labels are the initial colours (see :func:`labelled_graphs`
        to build them from DGL graphs with features).
    labels : array-like
        ``[N]`` integer classes (``multiclass``) or ``[N, T]`` floats with NaN = missing
        (``binary``: 0/1 per task; ``regression``).
    splits : dict of str to array-like
        Graph ids per split (``train``, ``valid``, ``test``; others are reported too).
    task : {"multiclass", "binary", "regression"}
        How labels are read and which ceiling is computed.
    oracles : sequence of str
        Oracles of :func:`wlkit.wl.oracle_names` (built-in or registered), reported side by
        side.
    budget : int
        Largest :func:`estimate_work` an oracle may take; above it the oracle is refused
        (``status: "refused"`` with the estimate) and the others still run.
    iso_checks : int
        Isomorphism tests allowed to resolve collisions; when exhausted, the report says
        so (``isomorphism.complete: false``) and unresolved counts stay unknown.
    label_tolerance : float
        Regression/binary labels closer than this count as equal (conflicts only).
    progress : callable, optional
        Called with one line per step (for the CLI).

    Returns
    -------
    dict
        JSON-ready: ``num_graphs``, ``task``, ``splits`` (sizes), ``oracles`` (per oracle:
        ``status``, ``work``, ``seconds``, ``rounds``, ``num_classes``, ``unique_fraction``,
        ``collisions``, ``graphs_in_collisions``, ``non_isomorphic_collisions``,
        ``unresolved_collisions``, ``ceiling`` per split and ``all``, ``cross_split`` per
        non-train split, ``conflicts``), ``isomorphism`` (the same ceilings for the
        isomorphism classes, an upper bound for any model) and ``constant`` (no structure).

    Raises
    ------
    WlkitError
        Unknown oracle or task, malformed labels or splits, or every oracle refused.

    Examples
    --------
    Regression: two 1-WL-equivalent graphs with targets 1 and 3 are predicted 2 by any
    1-WL-bounded model, an irreducible RMSE of 1:

    >>> from wlkit import graphs
    >>> data = [graphs.cycle(6), graphs.disjoint_union(graphs.cycle(3), graphs.cycle(3))]
    >>> r = analyze(data, [[1.0], [3.0]], {"train": [0, 1]}, "regression")
    >>> r["oracles"]["1-WL"]["ceiling"]["train"]["rmse"], r["isomorphism"]["ceiling"]["train"]
    (1.0, {'graphs': 2, 'rmse': 0.0})
    """
    say = progress or (lambda _line: None)
    oracles = _check_oracles(oracles)
    graphs = list(graphs)
    num = len(graphs)
    if num == 0:
        raise WlkitError("analyze: the dataset has no graphs")
    y = _prepare_labels(labels, task)
    if len(y) != num:
        raise WlkitError(f"analyze: {len(y)} labels for {num} graphs")
    split_idx = _splits(splits, num)
    report: dict[str, Any] = {
        "format": FORMAT,
        "num_graphs": num,
        "task": task,
        "num_tasks": 1 if y.ndim == 1 else int(y.shape[1]),
        "splits": {name: int(len(idx)) for name, idx in split_idx.items()},
        "budget": int(budget),
        "label_tolerance": label_tolerance,
        "oracles": {},
    }
    report[_BASELINE] = _summarise(np.zeros(num, dtype=np.int64), y, task, split_idx,
                                   label_tolerance)
    report[_BASELINE].pop("cross_split", None)
    ids: dict[str, np.ndarray] = {}
    for oracle in oracles:
        work = estimate_work(graphs, oracle)
        entry: dict[str, Any] = {"summary": oracle_summary(oracle), "work": work}
        if oracle != "1-WL" and work > budget:
            unit = ("sum of n^3" if oracle == "2-FWL"
                    else "10 x the nodes + arcs of all subgraphs" if oracle in ORACLE_SUMMARIES
                    else "the registered oracle's cost")
            entry.update(status="refused", reason=(
                f"{oracle} would need about {work:.2e} work units ({unit}), above the "
                f"budget {budget:.2e}; raise it with --budget {_round_up(work)} if you "
                "have the time and memory"))
            say(f"  {oracle}: refused ({work:.2e} > budget {budget:.2e})")
            report["oracles"][oracle] = entry
            continue
        say(f"  {oracle}: refining {num} graphs jointly ({work:.2e} work units)")
        t0 = time.perf_counter()
        res = wl_colors(graphs, oracle)
        entry.update(status="ok", seconds=round(time.perf_counter() - t0, 3),
                     rounds=res.rounds, stable=res.stable)
        ids[oracle] = res.graph_ids
        entry.update(_summarise(res.graph_ids, y, task, split_idx, label_tolerance))
        report["oracles"][oracle] = entry
    if not ids:
        reasons = "; ".join(e["reason"] for e in report["oracles"].values())
        raise WlkitError(f"analyze: every oracle was refused: {reasons}")
    # Isomorphism classes refine every oracle's classes: resolve within the joint partition.
    joint = canon_rows(np.stack(list(ids.values()), axis=1))[0]
    say(f"  isomorphism: resolving collisions (at most {iso_checks} tests)")
    iso, uncertain, stats = _iso_resolve(graphs, joint, iso_checks, budget)
    unresolved = uncertain if uncertain.any() else None
    iso_entry: dict[str, Any] = {**stats, **_summarise(iso, y, task, split_idx,
                                                       label_tolerance)}
    iso_conflicts = _conflicts(iso, None, y, task, label_tolerance, None)
    iso_entry["conflicting_classes"] = len(iso_conflicts)
    iso_entry["conflicts"] = [{k: v for k, v in c.items() if k in ("graphs", "labels",
                                                                   "tasks_in_conflict")}
                              for c in iso_conflicts]
    report[_ISO] = iso_entry
    for oracle, gid in ids.items():
        entry = report["oracles"][oracle]
        cls, k = _dense(gid)
        sizes = np.bincount(cls, minlength=k)
        # number of iso classes per oracle class
        pairs = np.unique(np.stack([cls, iso], axis=1), axis=0)
        iso_per_class = np.bincount(pairs[:, 0], minlength=k)
        coll = sizes >= 2
        bad = np.zeros(k, dtype=bool)
        if unresolved is not None:
            bad[cls[unresolved]] = True
        entry["non_isomorphic_collisions"] = int((coll & (iso_per_class >= 2) & ~bad).sum())
        entry["unresolved_collisions"] = int((coll & bad).sum())
        entry["conflicts"] = _conflicts(gid, iso, y, task, label_tolerance, unresolved)
        entry["conflicting_classes"] = len(entry["conflicts"])
        entry["conflicting_graphs"] = sorted(g for c in entry["conflicts"] for g in c["graphs"])
    return report


# --------------------------------------------------------------------------- pipelines
def analysis_pipeline(path: str | None, dataset: str | None,
                      overrides: Sequence[str] = ()) -> Any:
    """The pipeline ``wlkit analyze`` works on: a pipeline file, or a minimal pipeline
    around dataset ``dataset`` (``--set dataset.<param>=...`` sets its parameters)."""
    from wlkit.pipeline import load_pipeline
    from wlkit.pipeline.loader import validate_pipeline

    if (path is None) == (dataset is None):
        raise WlkitError("analyze: give either a pipeline file or --dataset NAME, not "
                         f"{'both' if path else 'neither'}\n    hint: wlkit analyze "
                         "pipelines/quickstart.yaml, or wlkit analyze --dataset csl")
    if path is not None:
        return load_pipeline(path, list(overrides))
    name = "analyze-" + "".join(c if c.isalnum() or c in "-_." else "_" for c in dataset)
    return validate_pipeline({"name": name, "dataset": dataset}, file="--dataset",
                             overrides=list(overrides))


def analyze_pipeline(
    pipeline: Any,
    oracles: Sequence[str] | None = None,
    *,
    features: str = "model",
    with_encodings: bool = False,
    decimals: int = PE_DECIMALS,
    budget: int = DEFAULT_BUDGET,
    iso_checks: int = DEFAULT_ISO_CHECKS,
    label_tolerance: float = 0.0,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """:func:`analyze` the dataset of a validated pipeline, with its features as colours.

    Parameters
    ----------
    pipeline : wlkit.pipeline.Pipeline
        A pipeline from :func:`wlkit.pipeline.load_pipeline`.
    oracles : sequence of str, optional
        Oracles to compare. Default: 1-WL, plus the oracle the pipeline's subgraph policy
        declares (``SubgraphPolicy.wl_oracle``) when it has one.
    features : {"model", "all", "none"}
        ``model``: the features the pipeline's model reads (``ndata['feat']`` when the
        dataset declares node features; ``edata['feat']`` only when the layer uses edge
        features); ``all``: every ``feat`` the graphs carry; ``none``: structure only.
    with_encodings : bool
        Add the pipeline's positional encodings (computed through their plugins and the
        encoding cache), rounded to ``decimals`` places.
    decimals, budget, iso_checks, label_tolerance, progress
        As in :func:`labelled_graphs` and :func:`analyze`.

    Returns
    -------
    dict
        The :func:`analyze` report plus ``dataset`` and ``features`` sections.
    """
    from wlkit.manager import get_registry
    from wlkit.model.build import (
        instantiate_dataset,
        instantiate_encodings,
        instantiate_policy,
    )
    from wlkit.model.data import attach_encodings

    if features not in FEATURE_MODES:
        raise WlkitError(f"analyze: unknown features mode {features!r}; choose from "
                         f"{', '.join(FEATURE_MODES)}")
    cfg = pipeline.data
    policy = instantiate_policy(cfg)
    policy_oracle = getattr(policy, "wl_oracle", None) if policy is not None else None
    if oracles is None:
        oracles = ["1-WL"] + ([policy_oracle] if policy_oracle else [])
    oracles = _check_oracles(oracles)
    say = progress or (lambda _line: None)
    dataset = instantiate_dataset(cfg["dataset"])
    info = dataset.info()
    encodings = instantiate_encodings(cfg["encodings"]) if with_encodings else []
    if with_encodings and not encodings:
        raise WlkitError(f"analyze: --with-encodings, but pipeline {pipeline.name!r} lists no "
                         "encodings\n    hint: add e.g. encodings: [{name: rwse}]")
    say(f"loading dataset {cfg['dataset']['name']}")
    dataset.prepare_data()
    loaded = dataset.load()
    if encodings:
        say("computing positional encodings: " + ", ".join(e["name"] for e in cfg["encodings"]))
        attach_encodings(loaded.graphs, encodings)
    layer = get_registry().get("layer", cfg["model"]["layer"]["name"])
    if features == "model":
        use_nodes = info.node_feat_dim > 0
        use_edges = bool(getattr(layer, "uses_edge_features", False)) and info.edge_feat_dim > 0
    else:
        use_nodes = use_edges = features == "all"
    say(f"building initial colours of {len(loaded.graphs)} graphs")
    graphs, feat_info = labelled_graphs(loaded.graphs, node_features=use_nodes,
                                        edge_features=use_edges, encodings=bool(encodings),
                                        decimals=decimals)
    report = analyze(graphs, loaded.labels, loaded.splits, info.task, oracles, budget=budget,
                     iso_checks=iso_checks, label_tolerance=label_tolerance, progress=progress)
    params = {k: v for k, v in cfg["dataset"].items() if k != "name"}
    report = {
        "format": report["format"],
        "pipeline": pipeline.path,
        "dataset": {"name": cfg["dataset"]["name"], "params": params, "task": info.task,
                    "metric": info.metric},
        "policy": {"name": cfg["policy"]["name"], "wl_oracle": policy_oracle}
        if cfg["policy"] else None,
        "features": {"mode": features,
                     "encodings_names": [e["name"] for e in cfg["encodings"]] if encodings
                     else [], **feat_info},
        **{k: v for k, v in report.items() if k != "format"},
    }
    return report


def write_analysis(report: dict[str, Any], out: str | Path | None, name: str,
                   output_dir: str | Path = "runs") -> Path:
    """Write ``analysis.json`` atomically into ``out`` (default
    ``<output_dir>/<name>/analysis-<UTC time>/``); refuse to replace an existing one."""
    from wlkit.io import atomic_write_json, output_folder

    if out is not None and (Path(out) / "analysis.json").exists():
        raise WlkitError(f"{Path(out) / 'analysis.json'} exists; wlkit never writes over "
                         "earlier results\n    hint: choose another --out")
    # --out may hold other files; a failed write leaves no folder it created behind
    with output_folder(Path(output_dir) / name, "analysis-", out, require_empty=False) as folder:
        path = folder / "analysis.json"
        try:
            return atomic_write_json(path, report)
        except OSError as exc:
            raise WlkitError(f"{path}: cannot write the analysis: {exc}") from None


# --------------------------------------------------------------------------- table
def describe_features(report: dict[str, Any]) -> str:
    """One line saying which features became initial colours (from :func:`analyze_pipeline`)."""
    f = report.get("features")
    if not f:
        return "initial colours: node and edge labels of the graphs"
    parts = []
    parts.append(f"node feat ({f['node']} columns)" if f["node"] else "no node features")
    parts.append(f"edge feat ({f['edge']} columns)" if f["edge"] else "no edge features")
    if f["encodings"]:
        parts.append(f"encodings {', '.join(f['encodings_names'])} ({f['encodings']} columns, "
                     f"{f['decimals']} decimals)")
    return (f"initial colours ({f['mode']}): {'; '.join(parts)} -> {f['node_colours']} node "
            f"and {f['edge_colours']} edge colours")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


def format_table(report: dict[str, Any]) -> str:
    """The report as a plain-text table: one column per oracle, then isomorphism.

    The ``constant`` column is a model that sees no structure at all (one class); the
    ``isomorphism`` column is the ceiling of a model that tells every pair of
    non-isomorphic graphs apart (marked ``*`` when not every collision was resolved).
    """
    task = report["task"]
    iso = report[_ISO]
    columns: list[tuple[str, dict[str, Any] | None]] = [(_BASELINE, report[_BASELINE])]
    columns += list(report["oracles"].items())
    columns.append((_ISO + ("" if iso.get("complete", True) else "*"), iso))
    splits = list(report["splits"])
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, fn: Callable[[dict[str, Any]], str]) -> None:
        cells = []
        for _name, entry in columns:
            if entry is None or entry.get("status") == "refused":
                cells.append("refused" if entry else "-")
            else:
                try:
                    cells.append(fn(entry))
                except (KeyError, TypeError):
                    cells.append("-")
        rows.append((label, cells))

    row("colour classes", lambda e: str(e["num_classes"]))
    row("graphs alone in class", lambda e: _pct(e["unique_fraction"]))
    row("collisions", lambda e: str(e["collisions"]))
    row("  non-isomorphic", lambda e: (str(e["non_isomorphic_collisions"])
                                       + (f" (+{e['unresolved_collisions']} unresolved)"
                                          if e.get("unresolved_collisions") else "")))
    row("  with differing labels", lambda e: str(e["conflicting_classes"]))
    metrics = (("accuracy", _pct),) if task == "multiclass" else (
        (("accuracy", _pct), ("rocauc", _num)) if task == "binary" else (("rmse", _num),))
    for metric, fmt in metrics:
        label = "rmse floor" if metric == "rmse" else f"{metric} ceiling"
        for split in [*splits, "all"]:
            row(f"{label} {split}",
                lambda e, s=split, m=metric, f=fmt: f(e["ceiling"][s].get(m)))
    for split in splits:
        if split == "train":
            continue
        row(f"{split} graphs conflicting with train",
            lambda e, s=split: (f"{e['cross_split'][s]['conflicting_with_train']}"
                                f"/{e['cross_split'][s]['graphs']}"))
    lines = tables.format_table(["", *(name for name, _ in columns)],
                                [[label, *cells] for label, cells in rows])
    notes = []
    for name, entry in report["oracles"].items():
        if entry.get("status") == "refused":
            notes.append(f"{name}: {entry['reason']}")
    if not iso.get("complete", True):
        notes.append(f"isomorphism*: {iso['checks']} of {iso['candidates']} candidate graphs' "
                     "tests used the whole budget; some collisions are unresolved "
                     "(raise --iso-checks)")
    return "\n".join(lines + notes) + "\n"
