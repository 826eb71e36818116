"""Basic aggregators: sum, mean, max.

Each uses DGL's fused sparse kernels (``dgl.ops``) both for per-edge messages and for the
``copy_u`` fast path used by layers whose messages are plain neighbour features.
"""

from __future__ import annotations

import dgl
from torch import Tensor

from wlkit import Aggregator, AggregatorRecord, hookimpl


class SumAggregator(Aggregator):
    """Sum of incoming messages; nodes without in-edges get zeros.

    Examples
    --------
    >>> import dgl, torch
    >>> g = dgl.graph(([0, 1], [2, 2]), num_nodes=3)
    >>> SumAggregator(2)(g, torch.ones(2, 2))
    tensor([[0., 0.],
            [0., 0.],
            [2., 2.]])
    """

    def reduce(self, graph: dgl.DGLGraph, messages: Tensor) -> Tensor:
        return dgl.ops.copy_e_sum(graph, messages)

    def aggregate_neighbours(self, graph: dgl.DGLGraph, feats: Tensor) -> Tensor:
        return dgl.ops.copy_u_sum(graph, feats)


class MeanAggregator(Aggregator):
    """Mean of incoming messages; nodes without in-edges get zeros."""

    def reduce(self, graph: dgl.DGLGraph, messages: Tensor) -> Tensor:
        return dgl.ops.copy_e_mean(graph, messages)

    def aggregate_neighbours(self, graph: dgl.DGLGraph, feats: Tensor) -> Tensor:
        return dgl.ops.copy_u_mean(graph, feats)


def _zero_empty(graph: dgl.DGLGraph, out: Tensor) -> Tensor:
    # DGL's max/min leave -inf/+inf for nodes without in-edges; define them as zero.
    empty = graph.in_degrees() == 0
    if bool(empty.any()):
        out = out.masked_fill(empty.unsqueeze(-1), 0.0)
    return out


class MaxAggregator(Aggregator):
    """Element-wise maximum of incoming messages; nodes without in-edges get zeros."""

    def reduce(self, graph: dgl.DGLGraph, messages: Tensor) -> Tensor:
        return _zero_empty(graph, dgl.ops.copy_e_max(graph, messages))

    def aggregate_neighbours(self, graph: dgl.DGLGraph, feats: Tensor) -> Tensor:
        return _zero_empty(graph, dgl.ops.copy_u_max(graph, feats))


@hookimpl
def wlkit_aggregators() -> list[AggregatorRecord]:
    return [
        AggregatorRecord(name="sum", factory=SumAggregator,
                         summary="Sum of neighbour messages (injective on multisets with "
                                 "a GIN update: 1-WL).", expressivity="1-WL"),
        AggregatorRecord(name="mean", factory=MeanAggregator,
                         summary="Mean of neighbour messages (loses multiplicities).",
                         expressivity="<1-WL"),
        AggregatorRecord(name="max", factory=MaxAggregator,
                         summary="Element-wise max of neighbour messages (loses counts).",
                         expressivity="<1-WL"),
    ]
