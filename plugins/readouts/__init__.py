"""Built-in readouts (graph pooling), one module per kind.

===========  ================================================================================
module       readouts
===========  ================================================================================
basic        ``sum``, ``mean``, ``max``, ``min``: DGL segment reductions
sets         ``deepsets``, ``lcm``, ``genpool``: the set aggregators over each graph's nodes
attention    ``attention`` (gated attention pooling), ``set2set``, ``set_transformer`` (DGL)
target       ``target``: the state of the marked node(s) of each graph
===========  ================================================================================

This module registers them all through :func:`wlkit_readouts`.
"""

from __future__ import annotations

from wlkit import Param, ReadoutRecord, hookimpl
from wlkit.plugins.aggregators import LCM_APPROXIMATE

from .attention import AttentionReadout, Set2SetReadout, SetTransformerReadout
from .basic import SegmentReadout
from .sets import SetReadout, deepsets_readout, genpool_readout, lcm_readout
from .target import TargetReadout

__all__ = [
    "AttentionReadout",
    "SegmentReadout",
    "Set2SetReadout",
    "SetReadout",
    "SetTransformerReadout",
    "TargetReadout",
    "deepsets_readout",
    "genpool_readout",
    "lcm_readout",
    "wlkit_readouts",
]


def _segment(op: str):
    def factory(dim: int) -> SegmentReadout:
        return SegmentReadout(dim, op=op)

    factory.__name__ = f"{op}_readout"
    return factory


@hookimpl
def wlkit_readouts() -> list[ReadoutRecord]:
    return [
        ReadoutRecord(name="sum", factory=_segment("sum"),
                      summary="Sum of node features per graph (injective on multisets)."),
        ReadoutRecord(name="mean", factory=_segment("mean"),
                      summary="Mean of node features per graph.", expressivity="<1-WL"),
        ReadoutRecord(name="max", factory=_segment("max"),
                      summary="Element-wise max of node features per graph.",
                      expressivity="<1-WL"),
        ReadoutRecord(name="min", factory=_segment("min"),
                      summary="Element-wise min of node features per graph.",
                      expressivity="<1-WL"),
        ReadoutRecord(
            name="deepsets", factory=deepsets_readout,
            summary="DeepSets over each graph's nodes: rho(sum phi(h_v)).",
            params=(
                Param("hidden", int, None, "hidden width of phi and rho (default: model "
                      "width)", minimum=1, nullable=True),
                Param("phi_layers", int, 2, "linear layers of phi (0 = identity)", minimum=0),
                Param("rho_layers", int, 2, "linear layers of rho (0 = identity)", minimum=0),
            )),
        ReadoutRecord(
            name="lcm", factory=lcm_readout,
            summary="Learnable commutative monoid over each graph's nodes (balanced tree of "
                    "a commutative GRU operator).",
            params=(
                Param("order", str, "sorted", "leaf order: sorted (canonical, invariant) or "
                      "input (node order)", choices=("sorted", "input")),
                Param("assoc_weight", float, 0.0, "weight of the associativity regulariser "
                      "(0 = off)", minimum=0.0),
                Param("assoc_samples", int, 256, "triples sampled per forward pass",
                      minimum=1),
            ),
            approximate=LCM_APPROXIMATE),
        ReadoutRecord(
            name="genpool", factory=genpool_readout,
            summary="Learned mixed or gated max/mean pooling of each graph's nodes.",
            params=(
                Param("mode", str, "mixed", "mixed or gated", choices=("mixed", "gated")),
                Param("per_channel", bool, True, "one proportion per channel"),
            ),
            expressivity="<1-WL",
            approximate="the gate of 'gated' has weights tied across elements (a linear "
                        "function of the mean)"),
        ReadoutRecord(
            name="attention", factory=AttentionReadout,
            summary="Gated attention pooling: sum_v softmax(gate(h_v)) f(h_v) (DGL).",
            params=(Param("transform", bool, True, "linear map f of the features"),),
            expressivity="<1-WL"),
        ReadoutRecord(
            name="set2set", factory=Set2SetReadout,
            summary="Set2Set (DGL); output width 2 * hidden.",
            params=(Param("iterations", int, 3, "attention steps", minimum=1),
                    Param("lstm_layers", int, 1, "LSTM layers", minimum=1)),
            expressivity="<1-WL"),
        ReadoutRecord(
            name="set_transformer", factory=SetTransformerReadout,
            summary="SetTransformer encoder + PMA decoder (DGL); output width seeds * hidden.",
            params=(
                Param("heads", int, 4, "attention heads", minimum=1),
                Param("layers", int, 2, "encoder blocks", minimum=1),
                Param("seeds", int, 1, "PMA seed vectors", minimum=1),
                Param("block", str, "sab", "encoder block", choices=("sab", "isab")),
                Param("inducing", int, 16, "inducing points of ISAB blocks", minimum=1),
                Param("dropout", float, 0.0, "dropout", minimum=0.0, maximum=0.99),
            ),
            expressivity="<1-WL"),
        ReadoutRecord(
            name="target", factory=TargetReadout,
            summary="State of the node(s) marked in ndata[key] (e.g. a star graph's centre).",
            params=(Param("key", str, "target", "ndata field marking the target nodes"),),
            expressivity="that of the marked node's state"),
    ]
