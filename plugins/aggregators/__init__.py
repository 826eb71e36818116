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

from wlkit import AggregatorRecord, hookimpl

from . import basic, deepsets, genpool, lcm, pna, recurrent
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
    # each record sits beside its class; this only collects them, in the documented order
    return [*basic.RECORDS, *pna.RECORDS, *deepsets.RECORDS, *genpool.RECORDS, *lcm.RECORDS,
            *recurrent.RECORDS]
