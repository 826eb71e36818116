"""Set readouts built from segment aggregators: DeepSets, LCM and generalised pooling.

The nodes of a batched DGL graph are contiguous per graph, so pooling a graph is the
aggregators' ``reduce_segments`` with one segment per graph. The aggregator is kept as a
submodule, so its :meth:`~wlkit.Aggregator.auxiliary_loss` (LCM's associativity
regulariser) reaches the training loss through the model like any aggregator's.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import dgl
from torch import Tensor

from wlkit import Param, Readout, ReadoutRecord
from wlkit.plugins.aggregators import (
    LCM_APPROXIMATE,
    DeepSetsAggregator,
    GenPoolAggregator,
    LCMAggregator,
    SegmentAggregator,
)
from wlkit.plugins.aggregators.deepsets import DEEPSETS_RECORD as DEEPSETS_AGGREGATOR


class SetReadout(Readout):
    """Pool each graph's node set with a :class:`SegmentAggregator`.

    Parameters
    ----------
    dim : int
        Width of the node features and the output.
    aggregator : SegmentAggregator
        The set function; an empty graph gets the aggregator's value for an empty segment.

    Examples
    --------
    >>> import dgl, torch
    >>> from wlkit.plugins.aggregators import LCMAggregator
    >>> g = dgl.batch([dgl.rand_graph(3, 2), dgl.rand_graph(5, 4)])
    >>> SetReadout(8, LCMAggregator(8))(g, torch.randn(8, 8)).shape
    torch.Size([2, 8])
    """

    def __init__(self, dim: int, aggregator: SegmentAggregator):
        super().__init__(dim)
        if aggregator.dim != dim:
            raise ValueError(f"SetReadout: aggregator width {aggregator.dim} != {dim}")
        self.aggregator = aggregator

    def pool(self, graph: dgl.DGLGraph, feats: Tensor) -> Tensor:
        return self.aggregator.reduce_segments(feats, graph.batch_num_nodes().long())


def _signature_of(aggregator: type) -> Callable[[Callable], Callable]:
    """Give a factory that forwards ``**params`` its aggregator's signature, so
    ``inspect.signature`` (and ``wlkit check``'s defaults check) sees the real defaults."""
    def mark(factory: Callable) -> Callable:
        factory.__signature__ = inspect.signature(aggregator)  # type: ignore[attr-defined]
        return factory

    return mark


@_signature_of(DeepSetsAggregator)
def deepsets_readout(dim: int, **params) -> SetReadout:
    """DeepSets over each graph's nodes: ``rho(sum phi(h_v))``."""
    return SetReadout(dim, DeepSetsAggregator(dim, **params))


DEEPSETS_RECORD = ReadoutRecord(
    name="deepsets", factory=deepsets_readout,
    summary="DeepSets over each graph's nodes: rho(sum phi(h_v)).",
    params=DEEPSETS_AGGREGATOR.params)  # the same parameters, declared once


@_signature_of(LCMAggregator)
def lcm_readout(dim: int, **params) -> SetReadout:
    """LCM (balanced tree of a commutative GRU operator) over each graph's nodes."""
    return SetReadout(dim, LCMAggregator(dim, **params))


LCM_RECORD = ReadoutRecord(
    name="lcm", factory=lcm_readout,
    summary="Learnable commutative monoid over each graph's nodes (balanced tree of "
            "a commutative GRU operator).",
    params=(
        Param("order", str, "sorted", "leaf order: sorted (canonical, invariant) or "
              "input (node order)", choices=("sorted", "input")),
        Param("assoc_weight", float, 0.0, "weight of the associativity regulariser "
              "(0 = off)", minimum=0.0),
        Param("assoc_samples", int, 256, "triples sampled per forward pass",
              minimum=1),
    ),
    approximate=LCM_APPROXIMATE)


@_signature_of(GenPoolAggregator)
def genpool_readout(dim: int, **params) -> SetReadout:
    """Learned mixed or gated max/mean pooling of each graph's nodes."""
    return SetReadout(dim, GenPoolAggregator(dim, **params))


GENPOOL_RECORD = ReadoutRecord(
    name="genpool", factory=genpool_readout,
    summary="Learned mixed or gated max/mean pooling of each graph's nodes.",
    params=(
        Param("mode", str, "mixed", "mixed or gated", choices=("mixed", "gated")),
        Param("per_channel", bool, True, "one proportion per channel"),
    ),
    expressivity="<1-WL",
    approximate="the gate of 'gated' has weights tied across elements (a linear "
                "function of the mean)")


RECORDS: tuple[ReadoutRecord, ...] = (DEEPSETS_RECORD, LCM_RECORD, GENPOOL_RECORD)
"""This module's records, in registration order."""
