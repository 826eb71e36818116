"""Principal Neighbourhood Aggregation (Corso et al., 2020): aggregators x degree scalers."""

from __future__ import annotations

import dgl
import torch
from torch import Tensor, nn

from wlkit import Aggregator, AggregatorRecord, Param

from .basic import MaxAggregator, MeanAggregator, MinAggregator, StdAggregator, SumAggregator

AGGREGATORS: dict[str, type[Aggregator]] = {
    "mean": MeanAggregator, "min": MinAggregator, "max": MaxAggregator, "std": StdAggregator,
    "sum": SumAggregator,
}
SCALERS: tuple[str, ...] = ("identity", "amplification", "attenuation", "linear",
                            "inverse_linear")


class PNAAggregator(Aggregator):
    r"""PNA: every aggregator under every degree scaler, concatenated and mixed linearly.

    With :math:`d` the in-degree and :math:`\delta` the mean of :math:`\log(d+1)` over the
    training graphs, the scalers are identity, amplification
    :math:`\log(d+1)/\delta`, attenuation :math:`\delta/\log(d+1)` (and the optional
    ``linear`` :math:`d/\bar d`, ``inverse_linear`` :math:`\bar d/d`). The
    ``len(aggregators) * len(scalers)`` results, ``dim`` wide each, are concatenated and mapped
    back to ``dim`` by one linear layer (PNA's post-aggregation transform). Degrees are
    clamped to at least 1 inside the scalers; a node without in-edges gets
    ``linear(0) = bias``.

    :math:`\delta` cannot be read from the dataset by an aggregator, so with ``delta=None``
    it is estimated like a BatchNorm statistic: a running mean of :math:`\log(d+1)` over the
    destination nodes seen in training mode (``momentum=None`` in BatchNorm terms, i.e. a
    cumulative average), frozen in eval mode and saved in the state dict.

    Parameters
    ----------
    dim : int
        Width of the messages and the output.
    aggregators : list of str
        Any of ``mean``, ``min``, ``max``, ``std``, ``sum``.
    scalers : list of str
        Any of ``identity``, ``amplification``, ``attenuation``, ``linear``,
        ``inverse_linear``.
    delta : float or None
        Mean of :math:`\log(d+1)` over the training graphs; None estimates it (see above).

    Examples
    --------
    >>> import dgl, torch
    >>> g = dgl.graph(([0, 1, 2], [3, 3, 3]), num_nodes=4)
    >>> pna = PNAAggregator(8, delta=1.0)
    >>> pna(g, torch.randn(3, 8)).shape
    torch.Size([4, 8])
    """

    def __init__(self, dim: int, aggregators: list | tuple = ("mean", "min", "max", "std"),
                 scalers: list | tuple = ("identity", "amplification", "attenuation"),
                 delta: float | None = None):
        super().__init__(dim)
        unknown = [a for a in aggregators if a not in AGGREGATORS]
        unknown += [s for s in scalers if s not in SCALERS]
        if unknown or not aggregators or not scalers:
            raise ValueError(f"pna: unknown or missing aggregators/scalers {unknown}; "
                             f"aggregators: {', '.join(AGGREGATORS)}; scalers: "
                             f"{', '.join(SCALERS)}")
        # delta's bound is checked once, by the record's Param schema
        self.aggregator_names = tuple(aggregators)
        self.scaler_names = tuple(scalers)
        self.aggregators = nn.ModuleList(AGGREGATORS[a](dim) for a in aggregators)
        self.fixed_delta = delta
        # Running estimates of mean log(d+1) and mean d (for the linear scalers).
        self.register_buffer("log_degree_sum", torch.zeros((), dtype=torch.float64))
        self.register_buffer("degree_sum", torch.zeros((), dtype=torch.float64))
        self.register_buffer("num_seen", torch.zeros((), dtype=torch.float64))
        self.post = nn.Linear(len(aggregators) * len(scalers) * dim, dim)

    def _statistics(self, degree: Tensor) -> tuple[Tensor, Tensor]:
        """(delta, mean degree): fixed, or the running estimate updated in training."""
        if self.training:
            with torch.no_grad():
                self.log_degree_sum += torch.log1p(degree.double()).sum()
                self.degree_sum += degree.double().sum()
                self.num_seen += degree.numel()
        seen = self.num_seen.clamp(min=1.0)
        log_mean = (self.log_degree_sum / seen).clamp(min=1e-3).float()
        degree_mean = (self.degree_sum / seen).clamp(min=1e-3).float()
        if self.fixed_delta is not None:
            log_mean = torch.full_like(log_mean, self.fixed_delta)
        return log_mean, degree_mean

    def _combine(self, graph: dgl.DGLGraph, parts: list[Tensor]) -> Tensor:
        degree = graph.in_degrees().to(parts[0].dtype)
        delta, mean_degree = self._statistics(degree)
        clamped = degree.clamp(min=1).unsqueeze(-1)
        log_degree = torch.log1p(clamped)
        stacked = torch.cat(parts, dim=-1)
        scaled = []
        for name in self.scaler_names:
            if name == "identity":
                scaled.append(stacked)
            elif name == "amplification":
                scaled.append(stacked * (log_degree / delta))
            elif name == "attenuation":
                scaled.append(stacked * (delta / log_degree))
            elif name == "linear":
                scaled.append(stacked * (clamped / mean_degree))
            else:
                scaled.append(stacked * (mean_degree / clamped))
        return self.post(torch.cat(scaled, dim=-1))

    def reduce(self, graph: dgl.DGLGraph, messages: Tensor) -> Tensor:
        return self._combine(graph, [agg.reduce(graph, messages) for agg in self.aggregators])

    def aggregate_neighbours(self, graph: dgl.DGLGraph, feats: Tensor) -> Tensor:
        return self._combine(graph, [agg.aggregate_neighbours(graph, feats)
                                     for agg in self.aggregators])

    def extra_repr(self) -> str:
        delta = "running" if self.fixed_delta is None else f"{self.fixed_delta:g}"
        return (f"dim={self.dim}, aggregators={list(self.aggregator_names)}, "
                f"scalers={list(self.scaler_names)}, delta={delta}")


PNA_RECORD = AggregatorRecord(
    name="pna", factory=PNAAggregator,
    summary="PNA: aggregators x degree scalers, concatenated, then a linear map.",
    params=(
        Param("aggregators", list, ["mean", "min", "max", "std"],
              "any of mean, min, max, std, sum"),
        Param("scalers", list, ["identity", "amplification", "attenuation"],
              "any of identity, amplification, attenuation, linear, "
              "inverse_linear"),
        Param("delta", float, None, "mean log(in-degree + 1) of the training graphs; "
              "null: running estimate over training batches", minimum=1e-6,
              nullable=True),
    ),
    expressivity="1-WL",
    approximate="without an explicit delta, PNA's degree statistic is a running "
                "mean over the training batches (the paper computes it once from "
                "the training set); no towers, one linear post-transform")


RECORDS: tuple[AggregatorRecord, ...] = (PNA_RECORD,)
"""This module's records, in registration order."""
