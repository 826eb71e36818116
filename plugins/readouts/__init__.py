"""Built-in readouts (graph pooling), one module per kind.

===========  ================================================================================
module       readouts
===========  ================================================================================
basic        ``sum``, ``mean``, ``max``, ``min``: DGL segment reductions; ``sum_and_max`` both
sets         ``deepsets``, ``lcm``, ``genpool``: the set aggregators over each graph's nodes
attention    ``attention`` (gated attention pooling), ``set2set``, ``set_transformer`` (DGL)
target       ``target``: the state of the marked node(s) of each graph
===========  ================================================================================

This module registers them all through :func:`wlkit_readouts`.
"""

from __future__ import annotations

from wlkit import ReadoutRecord, hookimpl

from . import attention, basic, sets, target
from .attention import AttentionReadout, Set2SetReadout, SetTransformerReadout
from .basic import SegmentReadout, SumMaxReadout
from .sets import SetReadout, deepsets_readout, genpool_readout, lcm_readout
from .target import TargetReadout

__all__ = [
    "AttentionReadout",
    "SegmentReadout",
    "Set2SetReadout",
    "SetReadout",
    "SetTransformerReadout",
    "SumMaxReadout",
    "TargetReadout",
    "deepsets_readout",
    "genpool_readout",
    "lcm_readout",
    "wlkit_readouts",
]


@hookimpl
def wlkit_readouts() -> list[ReadoutRecord]:
    # each record sits beside its class; this only collects them, in the documented order
    return [*basic.RECORDS, *sets.RECORDS, *attention.RECORDS, *target.RECORDS]
