"""The components themselves: plain subclasses of wlkit's base classes.

wlkit's base classes check shapes before :meth:`reduce` / :meth:`pool` run, so each
component only implements the computation.
"""

from __future__ import annotations

import dgl
import torch
from torch import Tensor, nn

from wlkit import (
    Aggregator,
    MessagePassing,
    ModelParts,
    PositionalEncoding,
    Readout,
    SubgraphPolicy,
    node_offsets,
    segment_reduce,
)


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
        return torch.cat([segment_reduce(sizes, feats, self.first),
                          segment_reduce(sizes, feats, "max")], dim=-1)


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


class MarkedCopiesPolicy(SubgraphPolicy):
    r"""One copy of the graph per node, with that node marked: a small subgraph policy.

    This is node marking in the DS-GNN form of Bevilacqua et al. (ESAN, ICLR 2022) and
    Papp & Wattenhofer (2022): graph :math:`G` with :math:`n` nodes becomes a bag of
    :math:`n` copies, copy :math:`r` has a learned mark vector added to the input state of
    node :math:`r`. The pipeline's layers run on every copy, the pipeline's readout pools
    each copy, a Linear + ReLU maps each copy's embedding and ``pool`` combines the copies
    of a graph. The bag is the same for every labelling of the nodes, so the model is
    permutation invariant; it is bounded by DS-WL over node-marked copies (the oracle
    ``node_marked`` of :mod:`wlkit.wl`), which separates e.g. C6 from two triangles but
    not strongly regular graphs with equal parameters. The cost is :math:`n` times that of
    the plain model. wlkit's built-in ``node_marking`` policy does the same with more
    options (two marked nodes, sampling); this one is the short version to copy from.

    The two halves of a policy:

    - :meth:`prepare` runs once per graph on the CPU and wlkit caches its output on disk:
      here the bag's edges (``n`` copies of the edge list, node ids of copy ``r`` shifted
      by ``r * n``);
    - :meth:`collate` batches the prepared dicts of a mini-batch: node indices are
      shifted by each graph's offset (:func:`wlkit.node_offsets`), bag indices by the
      bags before it; :meth:`build` returns the model half that reads the result.

    Parameters
    ----------
    pool : {"mean", "sum", "max"}
        Pooling of the copies of a graph.

    Examples
    --------
    >>> import dgl
    >>> policy = MarkedCopiesPolicy()
    >>> g = dgl.graph(([0, 1], [1, 2]), num_nodes=3)  # a path 0 -> 1 -> 2
    >>> prepared = policy.prepare(g)
    >>> prepared["src"].tolist(), prepared["dst"].tolist()  # 3 copies of the 2 edges
    ([0, 1, 3, 4, 6, 7], [1, 2, 4, 5, 7, 8])
    >>> batch = policy.collate([g, g], [prepared, prepared])
    >>> batch["bag"].num_nodes(), batch["bag"].batch_size  # 2 graphs x 3 copies x 3 nodes
    (18, 6)
    >>> batch["node"][9:12].tolist(), batch["root"][9:12].tolist()  # copy 0 of graph 1
    ([3, 4, 5], [True, False, False])
    """

    wl_oracle = "node_marked"

    def __init__(self, pool: str = "mean"):
        if pool not in ("mean", "sum", "max"):
            raise ValueError(f"marked_copies: pool must be mean, sum or max, got {pool!r}")
        self.pool = pool

    def cache_params(self) -> dict:
        return {}  # prepare() does not depend on pool

    def prepare(self, graph: dgl.DGLGraph) -> dict[str, Tensor]:
        n = graph.num_nodes()
        src, dst = (t.long() for t in graph.edges())
        shift = torch.arange(n).repeat_interleave(len(src)) * n  # copy r: ids + r * n
        return {"src": src.repeat(n) + shift, "dst": dst.repeat(n) + shift}

    def collate(self, graphs: list[dgl.DGLGraph], prepared: list[dict[str, Tensor]]) -> dict:
        sizes = torch.tensor([g.num_nodes() for g in graphs], dtype=torch.long)
        edges = torch.tensor([g.num_edges() for g in graphs], dtype=torch.long)
        bag_sizes = sizes * sizes
        bag_offsets = torch.cumsum(bag_sizes, 0) - bag_sizes
        edge_offsets = torch.cumsum(edges, 0) - edges
        src = torch.cat([p["src"] + o for p, o in zip(prepared, bag_offsets.tolist())])
        dst = torch.cat([p["dst"] + o for p, o in zip(prepared, bag_offsets.tolist())])
        bag = dgl.graph((src, dst), num_nodes=int(bag_sizes.sum()))
        # one graph per copy, so the readout pools each copy on its own
        bag.set_batch_num_nodes(torch.repeat_interleave(sizes, sizes))
        bag.set_batch_num_edges(torch.repeat_interleave(edges, sizes))
        node, root, edge = [], [], []
        for n, m, offset, edge_offset in zip(sizes.tolist(), edges.tolist(),
                                             node_offsets(graphs).tolist(),
                                             edge_offsets.tolist()):
            local = torch.arange(n * n)
            node.append(local % n + offset)  # bag node -> node of the batched graph
            root.append(local // n == local % n)  # node r of copy r carries the mark
            edge.append(torch.arange(m).repeat(n) + edge_offset)  # bag edge -> edge
        return {"bag": bag, "node": torch.cat(node), "root": torch.cat(root),
                "edge": torch.cat(edge), "copies": sizes}

    def build(self, parts: ModelParts) -> nn.Module:
        return MarkedCopiesModel(parts, self.pool)


class MarkedCopiesModel(nn.Module):
    """Model half of :class:`MarkedCopiesPolicy`: mark, layers and readout per copy, pool.

    ``forward(graph, policy_batch)`` returns one embedding per graph, ``[batch_size,
    out_dim]``; the pipeline's prediction head follows.
    """

    def __init__(self, parts: ModelParts, pool: str):
        super().__init__()
        self.node_input = parts.node_input  # the pipeline's node features and encodings
        self.mark = nn.Parameter(torch.randn(parts.hidden))
        self.stack = MessagePassing(parts)  # the pipeline's layers, norms, dropout...
        self.readout = parts.make_readout(parts.hidden)
        self.per_copy = nn.Sequential(nn.Linear(self.readout.out_dim, parts.hidden), nn.ReLU())
        self.out_dim = parts.hidden
        self.pool = pool

    def forward(self, graph: dgl.DGLGraph, batch: dict) -> Tensor:
        bag = batch["bag"].local_var()  # edge features set below stay local
        if "feat" in graph.edata:
            bag.edata["feat"] = graph.edata["feat"][batch["edge"]]
        h = self.node_input(graph)[batch["node"]]
        h = h + batch["root"].unsqueeze(-1).to(h.dtype) * self.mark
        copies = self.per_copy(self.readout(bag, self.stack(bag, h)))
        return segment_reduce(batch["copies"], copies, self.pool)
