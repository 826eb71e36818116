"""Generalised pooling (Lee, Gallagher & Tu, 2016): learned mixed and gated max/mean."""

from __future__ import annotations

import dgl
import torch
from torch import Tensor, nn

from wlkit import AggregatorRecord, Param, segment_reduce

from ._segments import SegmentAggregator
from .basic import zero_empty

MODES: tuple[str, ...] = ("mixed", "gated")


class GenPoolAggregator(SegmentAggregator):
    r"""Mixed or gated max/mean pooling of each neighbourhood.

    .. math:: \mathrm{out}_v = a_v \odot \max_u x_{uv} + (1 - a_v) \odot \mathrm{mean}_u x_{uv}

    ``mixed``: :math:`a = \sigma(\alpha)` with a learned :math:`\alpha`, the same for every
    node (the paper's "mixed max-average pooling"). ``gated``: :math:`a_v =
    \sigma(w^\top \mathrm{mean}_u x_{uv} + b)`, responsive to the neighbourhood (the paper's
    "gated max-average pooling"). The paper's gate weights each *position* of a fixed pooling
    window; a neighbourhood has no positions, so the gate weights are tied across elements,
    which makes it a linear function of the mean. ``per_channel`` learns one mixing
    proportion per channel instead of one per layer. Nodes without in-edges get zeros.

    Parameters
    ----------
    dim : int
        Width of the messages and the output.
    mode : {"mixed", "gated"}
        How the mixing proportion is obtained.
    per_channel : bool
        One proportion per channel (True) or a single one (False).

    Examples
    --------
    >>> import dgl, torch
    >>> g = dgl.graph(([0, 1], [2, 2]), num_nodes=3)
    >>> pool = GenPoolAggregator(1, mode="mixed")  # a = sigmoid(0) = 1/2 at initialisation
    >>> pool(g, torch.tensor([[1.0], [3.0]]))[2]
    tensor([2.5000], grad_fn=<SelectBackward0>)
    """

    def __init__(self, dim: int, mode: str = "mixed", per_channel: bool = True):
        super().__init__(dim)
        # mode's choices are checked once, by the record's Param schema
        self.mode = mode
        width = dim if per_channel else 1
        if mode == "mixed":
            self.alpha = nn.Parameter(torch.zeros(width))
        else:
            self.gate = nn.Linear(dim, width)
            nn.init.zeros_(self.gate.weight)
            nn.init.zeros_(self.gate.bias)

    def _mix(self, maximum: Tensor, mean: Tensor) -> Tensor:
        logit = self.alpha if self.mode == "mixed" else self.gate(mean)
        a = torch.sigmoid(logit)
        return a * maximum + (1 - a) * mean

    def reduce(self, graph: dgl.DGLGraph, messages: Tensor) -> Tensor:
        maximum = zero_empty(graph, dgl.ops.copy_e_max(graph, messages))
        return self._mix(maximum, dgl.ops.copy_e_mean(graph, messages))

    def aggregate_neighbours(self, graph: dgl.DGLGraph, feats: Tensor) -> Tensor:
        maximum = zero_empty(graph, dgl.ops.copy_u_max(graph, feats))
        return self._mix(maximum, dgl.ops.copy_u_mean(graph, feats))

    def reduce_segments(self, values: Tensor, lengths: Tensor) -> Tensor:
        # segment_reduce gives 0 for empty segments; the mix of two zeros is zero.
        maximum = segment_reduce(lengths, values, "max")
        mean = segment_reduce(lengths, values, "mean")
        return self._mix(maximum, mean)


GENPOOL_RECORD = AggregatorRecord(
    name="genpool", factory=GenPoolAggregator,
    summary="Generalised pooling: learned mixed or gated max/mean (Lee et al., 2016).",
    params=(
        Param("mode", str, "mixed", "mixed: learned proportion; gated: proportion "
              "from a gate on the neighbourhood", choices=MODES),
        Param("per_channel", bool, True, "one proportion per channel"),
    ),
    expressivity="<1-WL",
    approximate="the gate of 'gated' has weights tied across elements (a set has no "
                "window positions), i.e. it is a linear function of the mean")


RECORDS: tuple[AggregatorRecord, ...] = (GENPOOL_RECORD,)
"""This module's records, in registration order."""
