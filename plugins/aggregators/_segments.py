"""Segment helpers shared by the sequence- and set-function aggregators (and their readouts).

Many aggregators are easiest to write over *segments*: the rows of one tensor grouped so that
each destination node's messages are contiguous, plus one length per node. A readout is the
same computation with one segment per graph (the nodes of a batched graph are already
contiguous). :class:`SegmentAggregator` turns a ``reduce_segments(values, lengths)`` into an
:class:`wlkit.Aggregator`; :class:`wlkit.plugins.readouts.SetReadout` turns the
same aggregator into a readout.
"""

from __future__ import annotations

import abc

import dgl
import torch
from torch import Tensor

from wlkit import Aggregator, segment_ids  # noqa: F401  (re-exported for old imports)


def lexsort(primary: Tensor, secondary: Tensor | None = None) -> Tensor:
    """Indices that sort by ``primary``, ties by ``secondary``, remaining ties by index.

    Both sorts are stable, so with ``secondary=None`` rows keep their original order within
    equal ``primary`` values (e.g. edge-id order within a destination).
    """
    if secondary is None:
        return torch.argsort(primary, stable=True)
    first = torch.argsort(secondary, stable=True)
    return first[torch.argsort(primary[first], stable=True)]


def in_edge_order(graph: dgl.DGLGraph, key: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Edge ids grouped by destination node, and each node's in-degree.

    Within one destination, edges are ordered by ``key`` (one value per edge) and then by
    edge id. ``messages[order]`` holds node 0's messages first, then node 1's, and so on;
    ``lengths[v]`` of them belong to node ``v``.

    Examples
    --------
    >>> import dgl, torch
    >>> g = dgl.graph(([0, 1, 2, 0], [2, 0, 0, 1]))
    >>> order, lengths = in_edge_order(g)
    >>> order.tolist(), lengths.tolist()
    ([1, 2, 3, 0], [2, 1, 1])
    >>> in_edge_order(g, key=torch.tensor([0.0, 5.0, 1.0, 0.0]))[0].tolist()
    [2, 1, 3, 0]
    """
    _, dst = graph.edges()
    order = lexsort(dst.long(), key)
    return order, graph.in_degrees().long()


class SegmentAggregator(Aggregator):
    """An aggregator written as a reduction over contiguous segments.

    Subclasses implement :meth:`reduce_segments`; :meth:`reduce` groups the messages by
    destination (in edge-id order within each node, or by :meth:`edge_key`) and calls it.
    The same object then also serves as a set readout (one segment per graph).
    """

    def edge_key(self, graph: dgl.DGLGraph, messages: Tensor) -> Tensor | None:
        """Secondary sort key of the edges within a destination (None: edge-id order)."""
        return None

    def reduce(self, graph: dgl.DGLGraph, messages: Tensor) -> Tensor:
        order, lengths = in_edge_order(graph, self.edge_key(graph, messages))
        return self.reduce_segments(messages[order], lengths)

    @abc.abstractmethod
    def reduce_segments(self, values: Tensor, lengths: Tensor) -> Tensor:
        """Reduce ``values`` [sum(lengths), dim], grouped by segment, to [len(lengths), dim].

        Segments of length 0 must get a defined value (zeros or a learned identity).
        """
