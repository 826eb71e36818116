"""The components themselves: plain subclasses of wlkit's base classes.

wlkit's base classes check shapes before :meth:`reduce` / :meth:`pool` run, so each
component only implements the computation.
"""

from __future__ import annotations

import dgl
import torch
from torch import Tensor, nn

from wlkit import Aggregator, PositionalEncoding, Readout


class SoftmaxAggregator(Aggregator):
    r"""Softmax-weighted sum of neighbour messages with a learnable inverse temperature.

    The softmax aggregation of DeeperGCN (Li et al., 2020, "DeeperGCN: All You Need to Train
    Deeper GCNs"). Per destination node :math:`v` and per feature :math:`k`:

    .. math::

        \mathrm{AGG}(v)_k = \sum_{u \to v} \frac{\exp(\beta\, m_{uv,k})}
                                                 {\sum_{w \to v} \exp(\beta\, m_{wv,k})}
                            \, m_{uv,k}

    :math:`\beta = 0` gives the mean and :math:`\beta \to \infty` the maximum, so a learned
    :math:`\beta` interpolates between them. The weights are computed with DGL's fused
    ``edge_softmax`` (numerically stable) and summed with ``copy_e_sum``. Nodes without
    in-edges get zeros. The weights depend only on each message's value, never on the edge
    order, so the output is invariant to relabelling the nodes.

    Parameters
    ----------
    dim : int
        Width of the messages and of the output.
    beta : float
        Initial inverse temperature :math:`\beta` (PyG calls it ``t``).
    learn_beta : bool
        Whether :math:`\beta` is trained (an ``nn.Parameter``) or fixed (a buffer).

    Examples
    --------
    >>> import dgl, torch
    >>> g = dgl.graph(([0, 1], [2, 2]), num_nodes=3)  # node 2 hears from nodes 0 and 1
    >>> messages = torch.tensor([[0.0, 1.0], [1.0, 3.0]])  # one row per edge
    >>> SoftmaxAggregator(2, beta=0.0, learn_beta=False)(g, messages)  # beta = 0: the mean
    tensor([[0.0000, 0.0000],
            [0.0000, 0.0000],
            [0.5000, 2.0000]])
    >>> SoftmaxAggregator(2, beta=50.0, learn_beta=False)(g, messages)[2]  # close to the max
    tensor([1., 3.])
    >>> [name for name, _ in SoftmaxAggregator(2).named_parameters()]  # learn_beta=True
    ['beta']
    """

    def __init__(self, dim: int, beta: float = 1.0, learn_beta: bool = True):
        super().__init__(dim)
        value = torch.tensor(float(beta))
        if learn_beta:
            self.beta = nn.Parameter(value)
        else:
            self.register_buffer("beta", value)

    def reduce(self, graph: dgl.DGLGraph, messages: Tensor) -> Tensor:
        weights = dgl.ops.edge_softmax(graph, self.beta * messages)  # normalised per dst node
        return dgl.ops.copy_e_sum(graph, weights * messages)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, beta={float(self.beta):.4g}"


class SumMaxReadout(Readout):
    """Sum pooling and max pooling of each graph's nodes, concatenated.

    The output width is ``2 * dim``: ``[sum_v h_v, max_v h_v]`` per graph (or the mean instead
    of the sum with ``first="mean"``). Graphs without nodes pool to zeros.

    Parameters
    ----------
    dim : int
        Width of the node features.
    first : {"sum", "mean"}
        Reduction of the first half. ``sum`` counts nodes (injective on multisets);
        ``mean`` is invariant to the graph's size.

    Examples
    --------
    >>> import dgl, torch
    >>> g = dgl.batch([dgl.graph(([0], [1])), dgl.graph(([], []), num_nodes=1)])
    >>> readout = SumMaxReadout(1)
    >>> readout.out_dim
    2
    >>> readout(g, torch.tensor([[1.0], [2.0], [5.0]]))  # graph 0: nodes 0, 1; graph 1: node 2
    tensor([[3., 2.],
            [5., 5.]])
    """

    def __init__(self, dim: int, first: str = "sum"):
        super().__init__(dim)
        if first not in ("sum", "mean"):
            raise ValueError(f"SumMaxReadout: first must be 'sum' or 'mean', got {first!r}")
        self.first = first
        self.out_dim = 2 * dim

    def pool(self, graph: dgl.DGLGraph, feats: Tensor) -> Tensor:
        sizes = graph.batch_num_nodes()
        return torch.cat([dgl.ops.segment_reduce(sizes, feats, self.first),
                          dgl.ops.segment_reduce(sizes, feats, "max")], dim=-1)


class DegreeOneHot(PositionalEncoding):
    """One-hot in-degree, clipped: degrees ``0 .. max_degree``, larger ones share the last slot.

    The encoding has ``max_degree + 1`` columns. A node's in-degree is also what the first
    step of 1-WL colour refinement sees, so this encoding gives a model a head start but no
    expressivity beyond 1-WL. wlkit computes it once per graph and caches it on disk.

    Parameters
    ----------
    max_degree : int
        Largest degree with its own column.

    Examples
    --------
    >>> import dgl
    >>> star = dgl.graph(([1, 2, 3], [0, 0, 0]))  # node 0 has in-degree 3, the others 0
    >>> DegreeOneHot(max_degree=2).compute(star)
    tensor([[0., 0., 1.],
            [1., 0., 0.],
            [1., 0., 0.],
            [1., 0., 0.]])
    """

    def __init__(self, max_degree: int = 8):
        if not isinstance(max_degree, int) or max_degree < 1:
            raise ValueError(f"degree_onehot: max_degree must be an int >= 1, got {max_degree!r}")
        self.max_degree = max_degree
        self.dim = max_degree + 1

    def compute(self, graph: dgl.DGLGraph) -> Tensor:
        degrees = graph.in_degrees().long().clamp(max=self.max_degree)
        return nn.functional.one_hot(degrees, num_classes=self.dim).float()
