"""Structural encodings computed once per graph and cached by wlkit."""

from __future__ import annotations

import dgl
import torch
from torch import Tensor

from wlkit import Param, PositionalEncoding, PositionalEncodingRecord, hookimpl


class RandomWalkSE(PositionalEncoding):
    r"""Random-walk structural encoding (Dwivedi et al., 2022).

    Node :math:`v` gets :math:`[(RW)_{vv}, (RW^2)_{vv}, \dots, (RW^k)_{vv}]` with
    :math:`RW = D^{-1}A`: the probability that a random walk from :math:`v` is back at
    :math:`v` after 1..k steps. Isolated nodes get zeros. Computed densely in float64 and
    stored as float32.

    Examples
    --------
    >>> import dgl
    >>> g = dgl.graph(([0, 1, 1, 2, 2, 0], [1, 0, 2, 1, 0, 2]))  # triangle
    >>> RandomWalkSE(steps=3).compute(g)[0]
    tensor([0.0000, 0.5000, 0.2500])
    """

    def __init__(self, steps: int = 16):
        if steps < 1:
            raise ValueError(f"rwse: steps must be >= 1, got {steps}")
        self.steps = steps
        self.dim = steps

    def compute(self, graph: dgl.DGLGraph) -> Tensor:
        n = graph.num_nodes()
        src, dst = graph.edges()
        adj = torch.zeros(n, n, dtype=torch.float64)
        adj.index_put_((src.long(), dst.long()), torch.ones(len(src), dtype=torch.float64),
                       accumulate=True)
        deg = adj.sum(dim=1, keepdim=True)
        walk = torch.where(deg > 0, adj / deg.clamp(min=1), torch.zeros_like(adj))
        out = torch.empty(n, self.steps, dtype=torch.float64)
        power = walk
        for k in range(self.steps):
            out[:, k] = power.diagonal()
            if k + 1 < self.steps:
                power = power @ walk
        return out.float()


@hookimpl
def wlkit_positional_encodings() -> list[PositionalEncodingRecord]:
    return [
        PositionalEncodingRecord(
            name="rwse", factory=RandomWalkSE,
            summary="Random-walk return probabilities after 1..steps steps (RWSE).",
            params=(Param("steps", int, 16, "number of random-walk steps (= width)",
                          minimum=1, maximum=256),),
            expressivity="incomparable to 1-WL (separates CSL)",
        ),
    ]
