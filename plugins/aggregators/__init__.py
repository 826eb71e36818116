"""Built-in aggregators, one module per family (the PyTorch Geometric ``nn/aggr`` layout).

============  ==========================================================================
module        aggregators
============  ==========================================================================
basic         ``sum``, ``mean``, ``max``, ``min``, ``std``, ``softmax``, ``powermean``
pna           ``pna``: several aggregators under degree scalers
deepsets      ``deepsets``: rho(sum phi(x))
genpool       ``genpool``: learned mixed / gated max-mean pooling
lcm           ``lcm``: learnable commutative monoid, balanced binary tree of GRU cells
recurrent     ``recurrent``: GRU/LSTM over each neighbourhood (not permutation invariant)
============  ==========================================================================

This module registers them all through :func:`wlkit_aggregators`.
"""

from __future__ import annotations

from wlkit import AggregatorRecord, Param, hookimpl

from ._segments import SegmentAggregator, in_edge_order, lexsort, segment_ids
from .basic import (
    MaxAggregator,
    MeanAggregator,
    MinAggregator,
    PowerMeanAggregator,
    SoftmaxAggregator,
    StdAggregator,
    SumAggregator,
)
from .deepsets import DeepSetsAggregator
from .genpool import GenPoolAggregator
from .lcm import LCM_APPROXIMATE, CommutativeGRU, LCMAggregator, tree_reduce
from .pna import PNAAggregator
from .recurrent import RecurrentAggregator, pack_segments, pad_segments

__all__ = [
    "LCM_APPROXIMATE",
    "CommutativeGRU",
    "DeepSetsAggregator",
    "GenPoolAggregator",
    "LCMAggregator",
    "MaxAggregator",
    "MeanAggregator",
    "MinAggregator",
    "PNAAggregator",
    "PowerMeanAggregator",
    "RecurrentAggregator",
    "SegmentAggregator",
    "SoftmaxAggregator",
    "StdAggregator",
    "SumAggregator",
    "in_edge_order",
    "lexsort",
    "pack_segments",
    "pad_segments",
    "segment_ids",
    "tree_reduce",
    "wlkit_aggregators",
]

@hookimpl
def wlkit_aggregators() -> list[AggregatorRecord]:
    return [
        AggregatorRecord(
            name="sum", factory=SumAggregator,
            summary="Sum of neighbour messages (injective on multisets with a GIN update: "
                    "1-WL).", expressivity="1-WL"),
        AggregatorRecord(
            name="mean", factory=MeanAggregator,
            summary="Mean of neighbour messages (loses multiplicities).",
            expressivity="<1-WL"),
        AggregatorRecord(
            name="max", factory=MaxAggregator,
            summary="Element-wise max of neighbour messages (loses counts).",
            expressivity="<1-WL"),
        AggregatorRecord(
            name="min", factory=MinAggregator,
            summary="Element-wise min of neighbour messages (loses counts).",
            expressivity="<1-WL"),
        AggregatorRecord(
            name="std", factory=StdAggregator,
            summary="Element-wise standard deviation of neighbour messages (two-pass, "
                    "safe at zero variance).",
            params=(Param("eps", float, 1e-5, "epsilon inside the square root",
                          minimum=0.0),),
            expressivity="<1-WL"),
        AggregatorRecord(
            name="softmax", factory=SoftmaxAggregator,
            summary="Per-channel softmax-weighted sum (DeeperGCN); t=0 mean, t->inf max.",
            params=(Param("t", float, 1.0, "initial inverse temperature"),
                    Param("learn", bool, True, "train t")),
            expressivity="<1-WL"),
        AggregatorRecord(
            name="powermean", factory=PowerMeanAggregator,
            summary="Per-channel power mean (DeeperGCN) of messages clamped to [0, clamp].",
            params=(Param("p", float, 1.0, "initial power (p=1 is the mean)"),
                    Param("learn", bool, True, "train p"),
                    Param("clamp", float, 100.0, "messages are clamped to [0, clamp]",
                          minimum=1e-6)),
            expressivity="<1-WL",
            approximate="messages are clamped to [0, clamp] (a power mean needs "
                        "non-negative inputs), as in PyG's PowerMeanAggregation"),
        AggregatorRecord(
            name="pna", factory=PNAAggregator,
            summary="PNA: aggregators x degree scalers, concatenated, then a linear map.",
            params=(
                Param("aggregators", list, ["mean", "min", "max", "std"],
                      "any of mean, min, max, std, sum"),
                Param("scalers", list, ["identity", "amplification", "attenuation"],
                      "any of identity, amplification, attenuation, linear, "
                      "inverse_linear"),
                Param("delta", float, None, "mean log(in-degree + 1) of the training graphs; "
                      "null: running estimate over training batches", minimum=1e-6,
                      nullable=True),
            ),
            expressivity="1-WL",
            approximate="without an explicit delta, PNA's degree statistic is a running "
                        "mean over the training batches (the paper computes it once from "
                        "the training set); no towers, one linear post-transform"),
        AggregatorRecord(
            name="deepsets", factory=DeepSetsAggregator,
            summary="DeepSets: rho(sum_i phi(x_i)) with MLPs phi and rho.",
            params=(
                Param("hidden", int, None, "hidden width of phi and rho (default: model "
                      "width)", minimum=1, nullable=True),
                Param("phi_layers", int, 2, "linear layers of phi (0 = identity)", minimum=0),
                Param("rho_layers", int, 2, "linear layers of rho (0 = identity)", minimum=0),
            ),
            expressivity="1-WL"),
        AggregatorRecord(
            name="genpool", factory=GenPoolAggregator,
            summary="Generalised pooling: learned mixed or gated max/mean (Lee et al., 2016).",
            params=(
                Param("mode", str, "mixed", "mixed: learned proportion; gated: proportion "
                      "from a gate on the neighbourhood", choices=("mixed", "gated")),
                Param("per_channel", bool, True, "one proportion per channel"),
            ),
            expressivity="<1-WL",
            approximate="the gate of 'gated' has weights tied across elements (a set has no "
                        "window positions), i.e. it is a linear function of the mean"),
        AggregatorRecord(
            name="lcm", factory=LCMAggregator,
            summary="Learnable commutative monoid: balanced binary tree of a commutative "
                    "GRU operator, depth ceil(log2 deg) (Ong & Velickovic, 2022).",
            params=(
                Param("order", str, "sorted", "leaf order: sorted (canonical, invariant) or "
                      "input (edge order, as in the paper)", choices=("sorted", "input")),
                Param("assoc_weight", float, 0.0, "weight of the associativity regulariser "
                      "(0 = off)", minimum=0.0),
                Param("assoc_samples", int, 256, "triples sampled per forward pass for the "
                      "regulariser", minimum=1),
            ),
            expressivity="1-WL",
            approximate=LCM_APPROXIMATE),
        AggregatorRecord(
            name="recurrent", factory=RecurrentAggregator,
            summary="GRU/LSTM over each neighbourhood in one (packed or padded) call; NOT "
                    "permutation invariant (depends on the neighbour order).",
            params=(
                Param("cell", str, "gru", "recurrent cell", choices=("gru", "lstm")),
                Param("order", str, "edge_id", "neighbour order: edge_id, random (reshuffled "
                      "every training step, averaged over eval_orders at eval) or node_attr",
                      choices=("edge_id", "random", "node_attr")),
                Param("order_key", str, None, "ndata key of the source-node attribute used by "
                      "order=node_attr", nullable=True),
                Param("eval_orders", int, 4, "random orders averaged in eval mode "
                      "(order=random)", minimum=1),
                Param("seed", int, 0, "seed of the evaluation orders (order=random)"),
                Param("cpu_path", str, "auto", "on the CPU: one packed call, or one dense call "
                      "on right-padded neighbourhoods (oneDNN, several times faster); auto "
                      "pads when >= 1/4 of the padded batch is real data",
                      choices=("auto", "packed", "padded")),
            ),
            permutation_invariant=False,
            expressivity="order-dependent",
            approximate="order=random is invariant only in expectation; its eval orders are "
                        "fixed by a seed, so evaluation is deterministic"),
    ]
