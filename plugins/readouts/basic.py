"""Basic readouts: sum, mean, max and min over the nodes of each graph in a batch."""

from __future__ import annotations

import dgl
from torch import Tensor

from wlkit import Readout


class SegmentReadout(Readout):
    """Pool each graph's nodes with one of DGL's segment reductions.

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
        return dgl.ops.segment_reduce(graph.batch_num_nodes(), feats, self.op)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, op={self.op!r}"
