"""The graph-level model: input encoders, message passing, readout, prediction head."""

from __future__ import annotations

from typing import Any

import dgl
import torch
from torch import Tensor, nn

from wlkit.components import Aggregator, ComponentError, ModelParts, component_label


def _wrong_shape(module: Any, family: str, out: Any, expected: tuple[int, ...],
                 call: str) -> ComponentError:
    """The error for a layer, encoding module or policy body that returned the wrong shape."""
    got = f"shape {tuple(out.shape)}" if isinstance(out, Tensor) else type(out).__name__
    return ComponentError(f"{component_label(module, family)}: {call} returned {got}, "
                          f"expected {tuple(expected)}\n    hint: fix the plugin or report "
                          "it to its authors")


class NodeInput(nn.Module):
    """Embed node features: a dataset's encoder, a linear map, or one learned vector when the
    graphs carry no node features (every node starts alike, as WL assumes). Positional
    encodings are batch-normalised, projected to the hidden width and added.

    ``pe_modules`` lists ``(width, module or None)`` per encoding, in column order: each
    encoding's model-side module (:meth:`wlkit.PositionalEncoding.input_module`) first maps
    its columns of ``ndata['pe']`` (e.g. random sign flips in training, SignNet)."""

    def __init__(self, hidden: int, feat_dim: int, encoder: nn.Module | None, pe_dim: int = 0,
                 pe_modules: list[tuple[int, nn.Module | None]] | None = None):
        super().__init__()
        self.encoder = encoder
        self.linear = nn.Linear(feat_dim, hidden) if encoder is None and feat_dim > 0 else None
        self.constant = (nn.Parameter(torch.randn(hidden) * 0.1)
                         if encoder is None and feat_dim == 0 else None)
        pe_modules = list(pe_modules or [])
        self.pe_widths = [width for width, _ in pe_modules]
        self.pe_modules = nn.ModuleDict({str(i): m for i, (_, m) in enumerate(pe_modules)
                                         if m is not None})
        if self.pe_modules:
            pe_dim = sum(int(m.out_dim) if m is not None else width for width, m in pe_modules)
        self.pe_input = (nn.Sequential(nn.BatchNorm1d(pe_dim), nn.Linear(pe_dim, hidden))
                         if pe_dim else None)

    def _pe(self, graph: dgl.DGLGraph) -> Tensor:
        pe = graph.ndata["pe"]
        if not self.pe_modules:
            return pe
        columns = torch.split(pe, self.pe_widths, dim=-1)
        parts = []
        for i, col in enumerate(columns):
            module = self.pe_modules[str(i)] if str(i) in self.pe_modules else None
            if module is None:
                parts.append(col)
                continue
            out = module(graph, col)
            expected = (col.shape[0], int(module.out_dim))
            if not isinstance(out, Tensor) or out.shape != expected:
                raise _wrong_shape(module, "positional_encoding", out, expected,
                                   "input_module()(graph, pe)")
            parts.append(out)
        return torch.cat(parts, dim=-1)

    def forward(self, graph: dgl.DGLGraph) -> Tensor:
        if self.encoder is not None:
            h = self.encoder(graph.ndata["feat"])
        elif self.linear is not None:
            h = self.linear(graph.ndata["feat"].to(self.linear.weight.dtype))
        else:
            h = self.constant.expand(graph.num_nodes(), -1)
        if self.pe_input is not None:
            h = h + self.pe_input(self._pe(graph))
        return h


_EDGE_INDEX = "_wlkit_edge_index"


def edge_index(graph: dgl.DGLGraph) -> tuple[Tensor, Tensor]:
    """``(src, dst)`` of every edge in edge-ID order as int64, i.e. ``graph.edges()``,
    computed once per graph structure.

    ``graph.edges()`` is a call into DGL's C library that costs 30-45 µs however small the
    graph; a GNN layer and its aggregator each need it on every layer of every step. The
    pair is kept on the graph object, tagged with DGL's structure handle (which every
    structural change replaces: ``add_edges``, ``remove_nodes``, ``to(device)``, ...), so a
    changed graph never gets stale indices. Treat the tensors as read-only.

    Examples
    --------
    >>> import dgl
    >>> g = dgl.graph(([0, 1], [1, 2]))
    >>> src, dst = edge_index(g)
    >>> src.tolist(), dst.tolist(), src.dtype
    ([0, 1], [1, 2], torch.int64)
    >>> edge_index(g)[0] is src
    True
    """
    handle = getattr(graph, "_graph", None)
    cached = graph.__dict__.get(_EDGE_INDEX) if handle is not None else None
    if cached is not None and cached[0] is handle:
        return cached[1], cached[2]
    src, dst = graph.edges()
    src, dst = src.long(), dst.long()
    if handle is not None:
        graph.__dict__[_EDGE_INDEX] = (handle, src, dst)
    return src, dst


def make_norm(kind: str, hidden: int) -> nn.Module:
    return {"batch": lambda: nn.BatchNorm1d(hidden), "layer": lambda: nn.LayerNorm(hidden),
            "none": nn.Identity}[kind]()


class VirtualNode(nn.Module):
    """A virtual node joined to every node of its graph (Gilmer et al., 2017; OGB's form).

    Before layer l its state is added to every node; after layer l (except the last) it is
    updated from the sum of the layer's input node states plus its own state through an MLP
    (Linear 2d, BatchNorm, ReLU, Linear d, BatchNorm, ReLU), as in OGB's reference
    ``GNN_node_Virtualnode``.
    """

    def __init__(self, hidden: int, num_layers: int, dropout: float, residual: bool):
        super().__init__()
        self.embedding = nn.Embedding(1, hidden)
        nn.init.zeros_(self.embedding.weight)
        self.mlps = nn.ModuleList(
            nn.Sequential(nn.Linear(hidden, 2 * hidden), nn.BatchNorm1d(2 * hidden), nn.ReLU(),
                          nn.Linear(2 * hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU())
            for _ in range(num_layers - 1))
        self.dropout = nn.Dropout(dropout)
        self.residual = residual

    def initial(self, graph: dgl.DGLGraph) -> Tensor:
        index = torch.zeros(graph.batch_size, dtype=torch.long, device=graph.device)
        return self.embedding(index)

    def update(self, layer: int, graph: dgl.DGLGraph, h: Tensor, state: Tensor) -> Tensor:
        pooled = dgl.ops.segment_reduce(graph.batch_num_nodes(), h, "sum") + state
        new = self.dropout(self.mlps[layer](pooled))
        return state + new if self.residual else new


class MessagePassing(nn.Module):
    """The standard stack: ``num_layers`` layers, each followed by the norm, ReLU (not after
    the last layer, as in OGB's reference GNNs), dropout and the optional residual; with an
    optional virtual node. Layers that read edge features get the raw ``edata['feat']`` and
    encode it themselves (OGB's reference layers own one BondEncoder each).

    Policies reuse it: ``MessagePassing(parts)(graph, h)`` runs the pipeline's layers on any
    (e.g. bag-of-subgraphs) graph from initial node states ``h``.
    """

    def __init__(self, parts: ModelParts):
        super().__init__()
        self.layers = nn.ModuleList(parts.make_layer() for _ in range(parts.num_layers))
        self.norms = nn.ModuleList(parts.make_norm() for _ in range(parts.num_layers))
        self.uses_edge_features = parts.uses_edge_features
        self.dropout = nn.Dropout(parts.dropout)
        self.residual = parts.residual
        self.virtual_node = (VirtualNode(parts.hidden, parts.num_layers, parts.dropout,
                                         parts.residual) if parts.virtual_node else None)

    def forward(self, graph: dgl.DGLGraph, h: Tensor) -> Tensor:
        edges = graph.edata["feat"] if self.uses_edge_features else None
        vn = self.virtual_node
        state = vn.initial(graph) if vn is not None else None
        last = len(self.layers) - 1
        for i, (layer, norm) in enumerate(zip(self.layers, self.norms)):
            if vn is not None:
                h = h + torch.repeat_interleave(state, graph.batch_num_nodes(), dim=0)
            out = layer(graph, h, edges)
            if not isinstance(out, Tensor) or out.shape != h.shape:  # named, not a broadcast error
                raise _wrong_shape(layer, "layer", out, h.shape, "forward(graph, h, edge_feats)")
            update = norm(out)
            if i < last:
                update = torch.relu(update)
            update = self.dropout(update)
            if vn is not None and i < last:
                state = vn.update(i, graph, h, state)
            h = h + update if self.residual else update
        return h


class StandardBody(nn.Module):
    """Input encoding, :class:`MessagePassing`, readout: the body without a policy."""

    def __init__(self, parts: ModelParts):
        super().__init__()
        self.node_input = parts.node_input
        self.stack = MessagePassing(parts)
        self.readout = parts.make_readout(parts.hidden)
        self.out_dim = self.readout.out_dim

    def node_embeddings(self, graph: dgl.DGLGraph) -> Tensor:
        return self.stack(graph, self.node_input(graph))

    def forward(self, graph: dgl.DGLGraph, policy_batch: Any = None) -> Tensor:
        return self.readout(graph, self.node_embeddings(graph))


class GraphModel(nn.Module):
    """Graph-level predictor assembled from a pipeline (see :func:`wlkit.model.build`).

    ``body(graph, policy_batch) -> [batch_size, body.out_dim]`` (the policy's model half, or
    :class:`StandardBody`), then an MLP head to ``out_dim`` logits or values. The graph
    carries ``ndata['feat']`` if the dataset has node features, ``ndata['pe']`` if encodings
    are configured and ``edata['feat']`` if the layers read edge features.
    """

    def __init__(self, body: nn.Module, hidden: int, head_layers: int, out_dim: int):
        super().__init__()
        self.body = body
        head: list[nn.Module] = []
        width = body.out_dim
        for _ in range(head_layers - 1):
            head += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        head.append(nn.Linear(width, out_dim))
        self.head = nn.Sequential(*head)

    def embed(self, graph: dgl.DGLGraph, policy_batch: Any = None) -> Tensor:
        """Graph embeddings before the head (used by ``wlkit separate``)."""
        out = self.body(graph, policy_batch)
        if not isinstance(out, Tensor) or out.shape != (graph.batch_size, self.body.out_dim):
            # a policy's model half: name it here rather than in the head's matmul
            raise _wrong_shape(self.body, "subgraph_policy", out,
                               (graph.batch_size, self.body.out_dim),
                               "its model half (build(parts))")
        return out

    def forward(self, graph: dgl.DGLGraph, policy_batch: Any = None) -> Tensor:
        return self.head(self.embed(graph, policy_batch))

    def auxiliary_loss(self) -> Tensor | None:
        """Sum of the components' auxiliary losses (e.g. LCM associativity), if any."""
        total = None
        for module in self.modules():
            # isinstance first: a missing attribute costs nn.Module.__getattr__ an exception,
            # which made this loop ~0.2 ms per training step
            if module is not self and isinstance(module, Aggregator):
                aux = getattr(module, "auxiliary_loss", None)
                value = aux() if callable(aux) else None
                if value is not None:
                    total = value if total is None else total + value
        return total
