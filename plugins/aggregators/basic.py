"""Fixed and lightly parametrised aggregators: sum, mean, max, min, std, softmax, power mean.

Sum, mean, max and min use DGL's fused sparse kernels (``dgl.ops``) both for per-edge
messages and for the ``copy_u`` fast path used by layers whose messages are plain neighbour
features; sum over per-edge messages uses ``index_add_``, which trains faster on the CPU.
Every aggregator returns zeros for a node without in-edges.
"""

from __future__ import annotations

import dgl
import torch
from torch import Tensor, nn

from wlkit import Aggregator, AggregatorRecord, Param, edge_index


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
        # index_add_ rather than dgl.ops.copy_e_sum: the same sums, and with its backward
        # (a plain gather) the GINE training step is ~7% (width 300) to ~15% (width 64)
        # faster on the CPU (benchmarks/pyg_gin.py); edge_index caches graph.edges()
        dst = edge_index(graph)[1]
        out = messages.new_zeros((graph.num_nodes(), *messages.shape[1:]))
        return out.index_add_(0, dst, messages)

    def aggregate_neighbours(self, graph: dgl.DGLGraph, feats: Tensor) -> Tensor:
        return dgl.ops.copy_u_sum(graph, feats)


SUM_RECORD = AggregatorRecord(
    name="sum", factory=SumAggregator,
    summary="Sum of neighbour messages (injective on multisets with a GIN update: "
            "1-WL).", expressivity="1-WL")


class MeanAggregator(Aggregator):
    """Mean of incoming messages; nodes without in-edges get zeros.

    Examples
    --------
    >>> import dgl, torch
    >>> g = dgl.graph(([0, 1], [2, 2]), num_nodes=3)
    >>> MeanAggregator(1)(g, torch.tensor([[1.0], [4.0]]))
    tensor([[0.0000],
            [0.0000],
            [2.5000]])
    """

    def reduce(self, graph: dgl.DGLGraph, messages: Tensor) -> Tensor:
        return dgl.ops.copy_e_mean(graph, messages)

    def aggregate_neighbours(self, graph: dgl.DGLGraph, feats: Tensor) -> Tensor:
        return dgl.ops.copy_u_mean(graph, feats)


MEAN_RECORD = AggregatorRecord(
    name="mean", factory=MeanAggregator,
    summary="Mean of neighbour messages (loses multiplicities).",
    expressivity="<1-WL")


def zero_empty(graph: dgl.DGLGraph, out: Tensor) -> Tensor:
    # DGL's max/min kernels leave -inf/+inf for nodes without in-edges; define them as zero.
    # Always masked: asking first (bool(empty.any())) would make the host wait for the GPU.
    empty = graph.in_degrees() == 0
    return out.masked_fill(empty.unsqueeze(-1), 0.0)


class MaxAggregator(Aggregator):
    """Element-wise maximum of incoming messages; nodes without in-edges get zeros.

    Examples
    --------
    >>> import dgl, torch
    >>> g = dgl.graph(([0, 1], [2, 2]), num_nodes=3)
    >>> MaxAggregator(1)(g, torch.tensor([[-1.0], [-4.0]]))
    tensor([[ 0.],
            [ 0.],
            [-1.]])
    """

    def reduce(self, graph: dgl.DGLGraph, messages: Tensor) -> Tensor:
        return zero_empty(graph, dgl.ops.copy_e_max(graph, messages))

    def aggregate_neighbours(self, graph: dgl.DGLGraph, feats: Tensor) -> Tensor:
        return zero_empty(graph, dgl.ops.copy_u_max(graph, feats))


MAX_RECORD = AggregatorRecord(
    name="max", factory=MaxAggregator,
    summary="Element-wise max of neighbour messages (loses counts).",
    expressivity="<1-WL")


class MinAggregator(Aggregator):
    """Element-wise minimum of incoming messages; nodes without in-edges get zeros.

    Examples
    --------
    >>> import dgl, torch
    >>> g = dgl.graph(([0, 1], [2, 2]), num_nodes=3)
    >>> MinAggregator(1)(g, torch.tensor([[-1.0], [-4.0]]))
    tensor([[ 0.],
            [ 0.],
            [-4.]])
    """

    def reduce(self, graph: dgl.DGLGraph, messages: Tensor) -> Tensor:
        return zero_empty(graph, dgl.ops.copy_e_min(graph, messages))

    def aggregate_neighbours(self, graph: dgl.DGLGraph, feats: Tensor) -> Tensor:
        return zero_empty(graph, dgl.ops.copy_u_min(graph, feats))


MIN_RECORD = AggregatorRecord(
    name="min", factory=MinAggregator,
    summary="Element-wise min of neighbour messages (loses counts).",
    expressivity="<1-WL")


class StdAggregator(Aggregator):
    r"""Element-wise standard deviation of incoming messages, numerically safe.

    The variance is computed in two passes, :math:`\frac1{d}\sum_i (x_i-\bar x)^2`, which
    does not cancel catastrophically the way :math:`E[x^2]-E[x]^2` does for large means. The
    output is :math:`\sqrt{\max(\mathrm{var}, \varepsilon)}` (as in PyTorch Geometric's
    ``StdAggregation``): exact above :math:`\varepsilon`, with a finite gradient (zero) at a
    constant neighbourhood, which gets :math:`\sqrt\varepsilon`. Nodes without in-edges get
    zeros.

    Parameters
    ----------
    dim : int
        Width of the messages.
    eps : float
        Floor of the variance.

    Examples
    --------
    >>> import dgl, torch
    >>> g = dgl.graph(([0, 1], [2, 2]), num_nodes=3)
    >>> out = StdAggregator(1)(g, torch.tensor([[1e6 + 1.0], [1e6 - 1.0]], dtype=torch.float64))
    >>> float(out[2]), float(out[0])
    (1.0, 0.0)
    """

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__(dim)
        self.eps = float(eps)

    def reduce(self, graph: dgl.DGLGraph, messages: Tensor) -> Tensor:
        _, dst = edge_index(graph)
        mean = dgl.ops.copy_e_mean(graph, messages)
        deviation = messages - mean[dst]
        var = dgl.ops.copy_e_mean(graph, deviation * deviation)
        std = torch.sqrt(var.clamp(min=self.eps))
        return torch.where((graph.in_degrees() > 0).unsqueeze(-1), std, torch.zeros_like(std))


STD_RECORD = AggregatorRecord(
    name="std", factory=StdAggregator,
    summary="Element-wise standard deviation of neighbour messages (two-pass, "
            "safe at zero variance).",
    params=(Param("eps", float, 1e-5, "epsilon inside the square root",
                  minimum=0.0),),
    expressivity="<1-WL")


class SoftmaxAggregator(Aggregator):
    r"""Softmax aggregation (Li et al., 2020, DeeperGCN), per channel.

    .. math:: \mathrm{out}_v = \sum_{u \in N(v)} \mathrm{softmax}_u(t\,x_{uv}) \odot x_{uv}

    The softmax runs over the in-edges of each node, separately per channel. ``t`` = 0 is the
    mean, large ``t`` approaches the max, negative ``t`` the min. Nodes without in-edges
    get zeros.

    Parameters
    ----------
    dim : int
        Width of the messages.
    t : float
        Initial inverse temperature.
    learn : bool
        Whether ``t`` is trained.

    Examples
    --------
    >>> import dgl, torch
    >>> g = dgl.graph(([0, 1], [2, 2]), num_nodes=3)
    >>> SoftmaxAggregator(1, t=0.0)(g, torch.tensor([[1.0], [4.0]]))[2]
    tensor([2.5000], grad_fn=<SelectBackward0>)
    """

    def __init__(self, dim: int, t: float = 1.0, learn: bool = True):
        super().__init__(dim)
        t_tensor = torch.tensor([float(t)])
        if learn:
            self.t = nn.Parameter(t_tensor)
        else:
            self.register_buffer("t", t_tensor)

    def reduce(self, graph: dgl.DGLGraph, messages: Tensor) -> Tensor:
        weights = dgl.ops.edge_softmax(graph, messages * self.t)
        return dgl.ops.copy_e_sum(graph, weights * messages)


SOFTMAX_RECORD = AggregatorRecord(
    name="softmax", factory=SoftmaxAggregator,
    summary="Per-channel softmax-weighted sum (DeeperGCN); t=0 mean, t->inf max.",
    params=(Param("t", float, 1.0, "initial inverse temperature"),
            Param("learn", bool, True, "train t")),
    expressivity="<1-WL")


class PowerMeanAggregator(Aggregator):
    r"""Power-mean aggregation (Li et al., 2020, DeeperGCN), per channel.

    .. math:: \mathrm{out}_v = \Big(\frac{1}{d_v}\sum_{u\in N(v)} x_{uv}^{\,p}\Big)^{1/p}

    ``p`` = 1 is the mean; large ``p`` approaches the max. A power mean is defined for
    non-negative inputs only, so messages are clamped to ``[0, clamp]`` first (as PyTorch
    Geometric's ``PowerMeanAggregation`` does); put it after a ReLU. Nodes without in-edges
    get zeros.

    Parameters
    ----------
    dim : int
        Width of the messages.
    p : float
        Initial power (must stay non-zero; it is clamped to ``|p| >= 1e-3``).
    learn : bool
        Whether ``p`` is trained.
    clamp : float
        Upper clamp of the messages, keeping ``x**p`` finite.

    Examples
    --------
    >>> import dgl, torch
    >>> g = dgl.graph(([0, 1], [2, 2]), num_nodes=3)
    >>> out = PowerMeanAggregator(1, p=2.0, learn=False)(g, torch.tensor([[1.0], [7.0]]))
    >>> round(float(out[2]), 4)
    5.0
    """

    def __init__(self, dim: int, p: float = 1.0, learn: bool = True, clamp: float = 100.0):
        super().__init__(dim)
        p_tensor = torch.tensor([float(p)])
        if learn:
            self.p = nn.Parameter(p_tensor)
        else:
            self.register_buffer("p", p_tensor)
        self.clamp = float(clamp)

    def reduce(self, graph: dgl.DGLGraph, messages: Tensor) -> Tensor:
        p = torch.where(self.p.abs() < 1e-3, torch.full_like(self.p, 1e-3), self.p)
        x = messages.clamp(min=0.0, max=self.clamp)
        # x**p is 0 at x = 0 for p > 0; keep the gradient finite there with a tiny floor.
        powered = x.clamp(min=1e-12).pow(p)
        mean = dgl.ops.copy_e_mean(graph, powered)
        out = mean.clamp(min=1e-12).pow(1.0 / p)
        return torch.where(graph.in_degrees().unsqueeze(-1) > 0, out, torch.zeros_like(out))


POWERMEAN_RECORD = AggregatorRecord(
    name="powermean", factory=PowerMeanAggregator,
    summary="Per-channel power mean (DeeperGCN) of messages clamped to [0, clamp].",
    params=(Param("p", float, 1.0, "initial power (p=1 is the mean)"),
            Param("learn", bool, True, "train p"),
            Param("clamp", float, 100.0, "messages are clamped to [0, clamp]",
                  minimum=1e-6)),
    expressivity="<1-WL",
    approximate="messages are clamped to [0, clamp] (a power mean needs "
                "non-negative inputs), as in PyG's PowerMeanAggregation")


RECORDS: tuple[AggregatorRecord, ...] = (SUM_RECORD, MEAN_RECORD, MAX_RECORD, MIN_RECORD,
                                         STD_RECORD, SOFTMAX_RECORD, POWERMEAN_RECORD)
"""This module's records, in registration order."""
