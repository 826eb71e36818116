"""Basic readouts: sum, mean and max over the nodes of each graph in a batch."""

from __future__ import annotations

import dgl
from torch import Tensor

from wlkit import Readout, ReadoutRecord, hookimpl


class SegmentReadout(Readout):
    """Pool each graph's nodes with one of DGL's segment reductions.

    Parameters
    ----------
    dim : int
        Width of the node features.
    op : {"sum", "mean", "max"}
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
        if op not in ("sum", "mean", "max"):
            raise ValueError(f"SegmentReadout: op must be sum, mean or max, got {op!r}")
        self.op = op

    def pool(self, graph: dgl.DGLGraph, feats: Tensor) -> Tensor:
        return dgl.ops.segment_reduce(graph.batch_num_nodes(), feats, self.op)


def _readout(op: str):
    def factory(dim: int) -> SegmentReadout:
        return SegmentReadout(dim, op=op)

    factory.__name__ = f"{op}_readout"
    return factory


@hookimpl
def wlkit_readouts() -> list[ReadoutRecord]:
    return [
        ReadoutRecord(name="sum", factory=_readout("sum"),
                      summary="Sum of node features per graph (injective on multisets)."),
        ReadoutRecord(name="mean", factory=_readout("mean"),
                      summary="Mean of node features per graph.", expressivity="<1-WL"),
        ReadoutRecord(name="max", factory=_readout("max"),
                      summary="Element-wise max of node features per graph.",
                      expressivity="<1-WL"),
    ]

