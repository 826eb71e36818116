"""The graph-level model: input encoders, message passing, readout, prediction head."""

from __future__ import annotations

import dgl
import torch
from torch import Tensor, nn

from wlkit.components import Readout


class NodeInput(nn.Module):
    """Embed node features: a dataset's encoder, a linear map, or one learned vector when the
    graphs carry no node features (every node starts alike, as WL assumes)."""

    def __init__(self, hidden: int, feat_dim: int, encoder: nn.Module | None):
        super().__init__()
        self.encoder = encoder
        self.linear = nn.Linear(feat_dim, hidden) if encoder is None and feat_dim > 0 else None
        self.constant = (nn.Parameter(torch.randn(hidden) * 0.1)
                         if encoder is None and feat_dim == 0 else None)

    def forward(self, graph: dgl.DGLGraph) -> Tensor:
        if self.encoder is not None:
            return self.encoder(graph.ndata["feat"])
        if self.linear is not None:
            return self.linear(graph.ndata["feat"].float())
        return self.constant.expand(graph.num_nodes(), -1)


def _norm(kind: str, hidden: int) -> nn.Module:
    return {"batch": lambda: nn.BatchNorm1d(hidden), "layer": lambda: nn.LayerNorm(hidden),
            "none": nn.Identity}[kind]()


class GraphModel(nn.Module):
    """Graph-level predictor assembled from a pipeline (see :func:`wlkit.model.build`).

    ``forward(graph)`` takes a batched DGL graph with ``ndata['feat']`` (if the dataset has
    node features), ``ndata['pe']`` (if encodings are configured) and ``edata['feat']``
    (if the layer reads edge features), and returns [batch_size, out_dim] logits or values.
    Positional encodings are batch-normalised, projected to the hidden width and added to the
    node embedding.
    """

    def __init__(self, *, node_encoder: nn.Module | None, node_feat_dim: int,
                 edge_encoder: nn.Module | None, edge_feat_dim: int, pe_dim: int, hidden: int,
                 layers: list[nn.Module], norm: str, dropout: float, residual: bool,
                 readout: Readout, head_layers: int, out_dim: int):
        super().__init__()
        self.node_input = NodeInput(hidden, node_feat_dim, node_encoder)
        self.edge_input = edge_encoder
        if self.edge_input is None and edge_feat_dim > 0:
            self.edge_input = nn.Linear(edge_feat_dim, hidden)
        self.pe_input = (nn.Sequential(nn.BatchNorm1d(pe_dim), nn.Linear(pe_dim, hidden))
                         if pe_dim else None)
        self.layers = nn.ModuleList(layers)
        self.norms = nn.ModuleList(_norm(norm, hidden) for _ in layers)
        self.dropout = nn.Dropout(dropout)
        self.residual = residual
        self.readout = readout
        head: list[nn.Module] = []
        width = readout.out_dim
        for _ in range(head_layers - 1):
            head += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        head.append(nn.Linear(width, out_dim))
        self.head = nn.Sequential(*head)

    def node_embeddings(self, graph: dgl.DGLGraph) -> Tensor:
        """Node representations after the last message-passing layer."""
        h = self.node_input(graph)
        if self.pe_input is not None:
            h = h + self.pe_input(graph.ndata["pe"])
        edges = self.edge_input(graph.edata["feat"]) if self.edge_input is not None else None
        for layer, norm in zip(self.layers, self.norms):
            update = self.dropout(torch.relu(norm(layer(graph, h, edges))))
            h = h + update if self.residual else update
        return h

    def forward(self, graph: dgl.DGLGraph) -> Tensor:
        return self.head(self.readout(graph, self.node_embeddings(graph)))

    def auxiliary_loss(self) -> Tensor | None:
        """Sum of the aggregators' auxiliary losses (e.g. LCM associativity), if any."""
        total = None
        for module in self.modules():
            aux = getattr(module, "auxiliary_loss", None)
            if module is not self and callable(aux) and hasattr(module, "reduce"):
                value = aux()
                if value is not None:
                    total = value if total is None else total + value
        return total
