"""DeepSets aggregation (Zaheer et al., 2017): rho(sum_i phi(x_i))."""

from __future__ import annotations

import dgl
from torch import Tensor, nn

from wlkit import AggregatorRecord, Param, mlp, segment_reduce

from ._segments import SegmentAggregator


def set_mlp(dim: int, hidden: int, num_layers: int) -> nn.Module:
    """``num_layers`` linear layers dim -> hidden -> ... -> dim with ReLU between them
    (identity for 0): :func:`wlkit.mlp` with DeepSets' widths."""
    return mlp([dim] + [hidden] * (num_layers - 1) + [dim] if num_layers else [dim])


class DeepSetsAggregator(SegmentAggregator):
    r"""DeepSets: :math:`\rho\big(\sum_{u \in N(v)} \phi(x_{uv})\big)`.

    :math:`\phi` and :math:`\rho` are MLPs (ReLU between linear layers, none after the
    last). A sum of an injective :math:`\phi` is injective on bounded multisets, so with a
    GIN-style update this is as expressive as 1-WL. A node without in-edges gets
    :math:`\rho(0)`, a defined (learned) value.

    Parameters
    ----------
    dim : int
        Width of the messages and the output.
    hidden : int or None
        Hidden width of both MLPs (default: ``dim``).
    phi_layers, rho_layers : int
        Number of linear layers of :math:`\phi` and :math:`\rho` (0 = identity).

    Examples
    --------
    >>> import dgl, torch
    >>> g = dgl.graph(([0, 1], [2, 2]), num_nodes=3)
    >>> DeepSetsAggregator(4)(g, torch.randn(2, 4)).shape
    torch.Size([3, 4])
    """

    def __init__(self, dim: int, hidden: int | None = None, phi_layers: int = 2,
                 rho_layers: int = 2):
        super().__init__(dim)
        hidden = hidden or dim
        self.phi = set_mlp(dim, hidden, phi_layers)
        self.rho = set_mlp(dim, hidden, rho_layers)

    def reduce(self, graph: dgl.DGLGraph, messages: Tensor) -> Tensor:
        return self.rho(dgl.ops.copy_e_sum(graph, self.phi(messages)))

    def aggregate_neighbours(self, graph: dgl.DGLGraph, feats: Tensor) -> Tensor:
        # phi(feats[src]) == phi(feats)[src]: apply phi once per node, then the fused SpMM.
        return self.rho(dgl.ops.copy_u_sum(graph, self.phi(feats)))

    def reduce_segments(self, values: Tensor, lengths: Tensor) -> Tensor:
        return self.rho(segment_reduce(lengths, self.phi(values), "sum"))


DEEPSETS_RECORD = AggregatorRecord(
    name="deepsets", factory=DeepSetsAggregator,
    summary="DeepSets: rho(sum_i phi(x_i)) with MLPs phi and rho.",
    params=(
        Param("hidden", int, None, "hidden width of phi and rho (default: model "
              "width)", minimum=1, nullable=True),
        Param("phi_layers", int, 2, "linear layers of phi (0 = identity)", minimum=0,
              maximum=64),
        Param("rho_layers", int, 2, "linear layers of rho (0 = identity)", minimum=0,
              maximum=64),
    ),
    expressivity="1-WL")


RECORDS: tuple[AggregatorRecord, ...] = (DEEPSETS_RECORD,)
"""This module's records, in registration order."""
