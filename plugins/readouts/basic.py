"""Basic readouts: sum, mean, max and min over the nodes of each graph in a batch, and sum
and max side by side."""

from __future__ import annotations

import dgl
import torch
from torch import Tensor

from wlkit import Readout, ReadoutRecord, segment_reduce


class SegmentReadout(Readout):
    """Pool each graph's nodes with one of :func:`wlkit.segment_reduce`'s reductions.

    Parameters
    ----------
    dim : int
        Width of the node features.
    op : {"sum", "mean", "max", "min"}
        The reduction. Graphs without nodes pool to zeros.

    Examples
    --------
    >>> import dgl, torch
    >>> g = dgl.batch([dgl.graph(([0], [1])), dgl.graph(([], []), num_nodes=1)])
    >>> SegmentReadout(1, op="sum")(g, torch.tensor([[1.0], [2.0], [5.0]]))
    tensor([[3.],
            [5.]])
    """

    def __init__(self, dim: int, op: str = "sum"):
        super().__init__(dim)
        if op not in ("sum", "mean", "max", "min"):
            raise ValueError(f"SegmentReadout: op must be sum, mean, max or min, got {op!r}")
        self.op = op

    def pool(self, graph: dgl.DGLGraph, feats: Tensor) -> Tensor:
        return segment_reduce(graph.batch_num_nodes(), feats, self.op)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, op={self.op!r}"


class SumMaxReadout(Readout):
    """The sum and the element-wise max of each graph's node features, concatenated.

    The sum keeps the multiset of node states (what makes the sum readout as strong as
    1-WL); the max adds a view that is not linear in the node states. That matters for
    untrained separation tests on very regular graphs: where the graphs fix the sum of the
    node states' first-order differences (copies of strongly regular graphs), a sum readout
    cancels them and only the max carries the difference (``docs/results.md``,
    edge-deleted bags on chang2 vs chang3).

    Parameters
    ----------
    dim : int
        Width of the node features; the output is ``2 * dim`` wide (sum, then max).

    Examples
    --------
    >>> import dgl, torch
    >>> g = dgl.batch([dgl.graph(([0], [1])), dgl.graph(([], []), num_nodes=1)])
    >>> SumMaxReadout(1)(g, torch.tensor([[1.0], [2.0], [5.0]]))
    tensor([[3., 2.],
            [5., 5.]])
    """

    def __init__(self, dim: int):
        super().__init__(dim)
        self.sum = SegmentReadout(dim, op="sum")
        self.out_dim = 2 * dim

    def pool(self, graph: dgl.DGLGraph, feats: Tensor) -> Tensor:
        top = segment_reduce(graph.batch_num_nodes(), feats, "max")
        return torch.cat([self.sum.pool(graph, feats), top], dim=-1)


def _segment(op: str):
    """The factory of readout ``op``: ``factory(dim)`` (the record has no parameters)."""
    def factory(dim: int) -> SegmentReadout:
        return SegmentReadout(dim, op=op)

    factory.__name__ = f"{op}_readout"
    return factory


SUM_RECORD = ReadoutRecord(
    name="sum", factory=_segment("sum"),
    summary="Sum of node features per graph (injective on multisets).")

MEAN_RECORD = ReadoutRecord(
    name="mean", factory=_segment("mean"),
    summary="Mean of node features per graph.", expressivity="<1-WL")

MAX_RECORD = ReadoutRecord(
    name="max", factory=_segment("max"),
    summary="Element-wise max of node features per graph.", expressivity="<1-WL")

MIN_RECORD = ReadoutRecord(
    name="min", factory=_segment("min"),
    summary="Element-wise min of node features per graph.", expressivity="<1-WL")


SUM_AND_MAX_RECORD = ReadoutRecord(
    name="sum_and_max", factory=SumMaxReadout,
    summary="Sum and element-wise max of node features per graph, concatenated (2 x "
            "the width; as strong as sum, plus a non-linear view).")

RECORDS: tuple[ReadoutRecord, ...] = (SUM_RECORD, MEAN_RECORD, MAX_RECORD, MIN_RECORD,
                                      SUM_AND_MAX_RECORD)
"""This module's records, in registration order."""
