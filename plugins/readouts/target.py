"""Readout of marked nodes: e.g. the centre of a star graph that aggregates a set."""

from __future__ import annotations

import dgl
from torch import Tensor

from wlkit import Param, Readout, ReadoutRecord, WlkitError, segment_reduce


class TargetReadout(Readout):
    """Sum, per graph, of the features of the nodes whose ``ndata[key]`` is non-zero.

    Meant for graphs with one designated node, such as the centre of a star graph that
    aggregates its leaves (the ``set_second_min`` dataset): the graph's representation is
    that node's state. Which node is marked is data, so the readout is permutation
    invariant. A graph without a marked node pools to zeros.

    Parameters
    ----------
    dim : int
        Width of the node features.
    key : str
        The ``ndata`` field holding the mark (0 = not marked).

    Examples
    --------
    >>> import dgl, torch
    >>> g = dgl.graph(([1, 2], [0, 0]))
    >>> g.ndata["target"] = torch.tensor([1, 0, 0])
    >>> TargetReadout(2)(g, torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
    tensor([[1., 2.]])
    """

    def __init__(self, dim: int, key: str = "target"):
        super().__init__(dim)
        self.key = key

    def pool(self, graph: dgl.DGLGraph, feats: Tensor) -> Tensor:
        if self.key not in graph.ndata:
            raise WlkitError(f"target readout: the graphs have no ndata[{self.key!r}] marking "
                             f"the target nodes (ndata keys: {', '.join(graph.ndata) or 'none'})"
                             "\n    hint: use a dataset that marks them, e.g. set_second_min "
                             "with form: star")
        mark = (graph.ndata[self.key] != 0).reshape(-1, 1).to(feats.dtype)
        return segment_reduce(graph.batch_num_nodes(), feats * mark, "sum")

    def extra_repr(self) -> str:
        return f"dim={self.dim}, key={self.key!r}"


TARGET_RECORD = ReadoutRecord(
    name="target", factory=TargetReadout,
    summary="State of the node(s) marked in ndata[key] (e.g. a star graph's centre).",
    params=(Param("key", str, "target", "ndata field marking the target nodes"),),
    expressivity="that of the marked node's state")


RECORDS: tuple[ReadoutRecord, ...] = (TARGET_RECORD,)
"""This module's records, in registration order."""
