"""Message-passing layers that reduce neighbourhoods with the pipeline's aggregator."""

from __future__ import annotations

import dgl
import torch
from torch import Tensor, nn

from wlkit import Aggregator, LayerRecord, Param, edge_index, hookimpl, mlp

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh,
                                           "softplus": nn.Softplus, "silu": nn.SiLU,
                                           "elu": nn.ELU}
"""Non-linearities of the update MLP. ReLU (GIN's) is piecewise linear: where every node's
pre-activations keep their signs the layer is linear, and an untrained network can read
little more than walk counts there; the smooth ones are non-linear everywhere."""


class GINLayer(nn.Module):
    r"""Graph Isomorphism Network layer (Xu et al., 2019) with a pluggable aggregator.

    .. math:: h'_v = \mathrm{MLP}\big((1+\epsilon) h_v + \mathrm{AGG}(\{h_u : u \in N(v)\})\big)

    With the ``sum`` aggregator this is exactly GIN, as expressive as 1-WL.

    Parameters
    ----------
    dim : int
        Input and output width.
    aggregator : Aggregator
        Reduces the neighbour features of each node.
    eps : float
        Initial value of :math:`\epsilon`.
    learn_eps : bool
        Whether :math:`\epsilon` is trained.
    mlp_layers : int
        Depth of the update MLP.
    activation : str
        Non-linearity inside the update MLP (:data:`ACTIVATIONS`; GIN's is ReLU).

    Examples
    --------
    >>> import dgl, torch
    >>> from wlkit.plugins.aggregators import SumAggregator
    >>> g = dgl.graph(([0, 1, 2], [1, 2, 0]))
    >>> layer = GINLayer(8, SumAggregator(8))
    >>> layer(g, torch.randn(3, 8)).shape
    torch.Size([3, 8])
    """

    def __init__(self, dim: int, aggregator: Aggregator, eps: float = 0.0,
                 learn_eps: bool = False, mlp_layers: int = 2, activation: str = "relu"):
        super().__init__()
        self.aggregator = aggregator
        self.mlp = mlp([dim] * (mlp_layers + 1), norm=nn.BatchNorm1d,
                       activation=ACTIVATIONS[activation])
        eps_tensor = torch.tensor([float(eps)])
        if learn_eps:
            self.eps = nn.Parameter(eps_tensor)
        else:
            self.register_buffer("eps", eps_tensor)

    def forward(self, graph: dgl.DGLGraph, h: Tensor, edge_feats: Tensor | None = None) -> Tensor:
        with graph.local_scope():
            neighbours = self.aggregator.aggregate_neighbours(graph, h)
            return self.mlp((1 + self.eps) * h + neighbours)


GIN_RECORD = LayerRecord(
    name="gin", factory=GINLayer,
    summary="GIN: h' = MLP((1+eps) h + AGG(neighbours)); 1-WL with sum.",
    params=(
        Param("eps", float, 0.0, "initial epsilon"),
        Param("learn_eps", bool, False, "train epsilon"),
        Param("mlp_layers", int, 2, "depth of the update MLP", minimum=1, maximum=64),
        Param("activation", str, "relu", "non-linearity of the update MLP",
              choices=tuple(ACTIVATIONS)),
    ),
)


class GCNLayer(nn.Module):
    r"""Graph convolution (Kipf & Welling, 2017) with a pluggable aggregator.

    Messages are :math:`W h_u / \sqrt{(d_u+1)(d_v+1)}` on every edge; the aggregator reduces
    them and the self-loop term :math:`W h_v / (d_v+1)` is added. With ``sum`` this is
    exactly Kipf's :math:`\hat D^{-1/2}(A+I)\hat D^{-1/2} H W`.

    Examples
    --------
    >>> import dgl, torch
    >>> from wlkit.plugins.aggregators import SumAggregator
    >>> g = dgl.graph(([0, 1], [1, 0]))
    >>> GCNLayer(4, SumAggregator(4))(g, torch.randn(2, 4)).shape
    torch.Size([2, 4])
    """

    def __init__(self, dim: int, aggregator: Aggregator, bias: bool = True):
        super().__init__()
        self.aggregator = aggregator
        self.linear = nn.Linear(dim, dim, bias=False)
        self.bias = nn.Parameter(torch.zeros(dim)) if bias else None

    def forward(self, graph: dgl.DGLGraph, h: Tensor, edge_feats: Tensor | None = None) -> Tensor:
        with graph.local_scope():
            hw = self.linear(h)
            src, dst = edge_index(graph)
            # degrees + 1 (the self-loop) from the edge index: DGL's in_degrees() and
            # out_degrees() each read a count back from the device (2 syncs per layer)
            # in float32 whatever the default dtype (bf16 stops counting at 256)
            ones = torch.ones(src.shape[0], device=h.device, dtype=torch.float32)
            in_norm = torch.ones(h.shape[0], device=h.device, dtype=torch.float32).index_add_(
                0, dst, ones).rsqrt().unsqueeze(-1)
            out_norm = torch.ones(h.shape[0], device=h.device, dtype=torch.float32).index_add_(
                0, src, ones).rsqrt().unsqueeze(-1)
            messages = hw[src] * out_norm[src] * in_norm[dst]
            out = self.aggregator(graph, messages) + hw * in_norm.square()
            return out + self.bias if self.bias is not None else out


GCN_RECORD = LayerRecord(
    name="gcn", factory=GCNLayer,
    summary="GCN with symmetric normalisation and self-loops; AGG reduces messages.",
    params=(Param("bias", bool, True, "add a learned bias"),),
    expressivity="<1-WL",
)


class GINELayer(nn.Module):
    r"""GIN with edge features in the form of OGB's reference ``GINConv`` (Hu et al., 2020).

    .. math:: h'_v = \mathrm{MLP}\big((1+\epsilon) h_v +
              \mathrm{AGG}(\{\mathrm{ReLU}(h_u + E(e_{uv})) : u \in N(v)\})\big)

    :math:`E` is this layer's own edge encoder (OGB's ``BondEncoder`` for molecules), the MLP
    is Linear(d, 2d), BatchNorm, ReLU, Linear(2d, d), and :math:`\epsilon` is learned from 0.
    With the ``sum`` aggregator this reproduces OGB's layer and parameter count exactly.

    Examples
    --------
    >>> import dgl, torch
    >>> from wlkit.plugins.aggregators import SumAggregator
    >>> g = dgl.graph(([0, 1], [1, 0]))
    >>> layer = GINELayer(4, SumAggregator(4), edge_encoder=lambda: torch.nn.Linear(3, 4))
    >>> layer(g, torch.randn(2, 4), torch.randn(2, 3)).shape
    torch.Size([2, 4])
    """

    def __init__(self, dim: int, aggregator: Aggregator, edge_encoder, eps: float = 0.0,
                 learn_eps: bool = True, mlp_factor: int = 2):
        super().__init__()
        self.aggregator = aggregator
        self.edge_encoder = edge_encoder()
        width = mlp_factor * dim
        self.mlp = mlp([dim, width, dim], norm=nn.BatchNorm1d)
        eps_tensor = torch.tensor([float(eps)])
        if learn_eps:
            self.eps = nn.Parameter(eps_tensor)
        else:
            self.register_buffer("eps", eps_tensor)

    def forward(self, graph: dgl.DGLGraph, h: Tensor, edge_feats: Tensor | None = None) -> Tensor:
        if edge_feats is None:
            raise ValueError("gine: the graph has no edge features (edata['feat'])")
        with graph.local_scope():
            src, _ = edge_index(graph)  # cached: graph.edges() costs ~40 us per call
            # index_select: its backward is a fast index_add, unlike h[src]'s index_put
            messages = torch.relu(h.index_select(0, src) + self.edge_encoder(edge_feats))
            return self.mlp((1 + self.eps) * h + self.aggregator(graph, messages))


GINE_RECORD = LayerRecord(
    name="gine", factory=GINELayer, uses_edge_features=True,
    summary="GIN with edge features, OGB's reference form (per-layer edge encoder).",
    params=(
        Param("eps", float, 0.0, "initial epsilon"),
        Param("learn_eps", bool, True, "train epsilon (OGB: yes)"),
        Param("mlp_factor", int, 2, "hidden width of the MLP as a multiple of dim",
              minimum=1, maximum=64),
    ),
)


class GraphConvLayer(nn.Module):
    r"""GraphConv (Morris et al., 2019, "Weisfeiler and Leman Go Neural"), the 1-GNN layer
    of the RNI paper (Abboud et al., 2021) and of k-GNN, with a pluggable aggregator.

    .. math:: h'_v = W_1 h_v + W_2 \, \mathrm{AGG}(\{h_u : u \in N(v)\}) + b

    k-GNN's ``GraphConv(norm=True)``, which the RNI paper uses, divides the neighbour sum
    by the degree: the ``mean`` aggregator; ``sum`` is ``norm=False``. The layer is linear;
    the non-linearity between layers is the model's (``model.activation``; the RNI paper's
    is tanh). With ``sum`` it is as expressive as 1-WL (Morris et al., Theorem 2).

    Parameters
    ----------
    dim : int
        Input and output width.
    aggregator : Aggregator
        Reduces the neighbour features of each node.
    bias : bool
        Add a learned bias.

    Examples
    --------
    >>> import dgl, torch
    >>> from wlkit.plugins.aggregators import MeanAggregator
    >>> g = dgl.graph(([0, 1, 2], [1, 2, 0]))
    >>> GraphConvLayer(8, MeanAggregator(8))(g, torch.randn(3, 8)).shape
    torch.Size([3, 8])
    """

    def __init__(self, dim: int, aggregator: Aggregator, bias: bool = True):
        super().__init__()
        self.aggregator = aggregator
        self.root = nn.Linear(dim, dim, bias=bias)
        self.neighbours = nn.Linear(dim, dim, bias=False)

    def forward(self, graph: dgl.DGLGraph, h: Tensor, edge_feats: Tensor | None = None) -> Tensor:
        with graph.local_scope():
            return self.root(h) + self.neighbours(self.aggregator.aggregate_neighbours(graph, h))


GRAPHCONV_RECORD = LayerRecord(
    name="graphconv", factory=GraphConvLayer,
    summary="GraphConv (Morris et al. 2019): h' = W1 h + W2 AGG(neighbours) + b; 1-WL with "
            "sum, k-GNN's norm=True with mean.",
    params=(Param("bias", bool, True, "add a learned bias"),),
)


RECORDS: tuple[LayerRecord, ...] = (GIN_RECORD, GINE_RECORD, GCN_RECORD, GRAPHCONV_RECORD)
"""This module's records, in registration order."""


@hookimpl
def wlkit_layers() -> list[LayerRecord]:
    return list(RECORDS)
