"""The graph-level model: input encoders, message passing, readout, prediction head."""

from __future__ import annotations

from typing import Any

import dgl
import torch
from torch import Tensor, nn

from wlkit.blocks import MessagePassing, wrong_shape
from wlkit.components import Aggregator, ModelParts


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
                raise wrong_shape(module, "positional_encoding", out, expected,
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


def make_norm(kind: str, hidden: int) -> nn.Module:
    return {"batch": lambda: nn.BatchNorm1d(hidden), "layer": lambda: nn.LayerNorm(hidden),
            "none": nn.Identity}[kind]()


class StandardBody(nn.Module):
    """Input encoding, :class:`MessagePassing`, readout: the body without a policy.

    ``every_layer`` (``model.readout_layers: all``): GIN's readout (Xu et al. 2019, Eq.
    4.2). The input's and every layer's node states are read out, each by its own readout,
    and concatenated; :class:`GraphModel` then gives every block its own head
    (``heads = num_layers + 1``) and sums their predictions, as GIN's reference code does.
    """

    def __init__(self, parts: ModelParts, every_layer: bool = False):
        super().__init__()
        self.node_input = parts.node_input
        self.stack = MessagePassing(parts)
        self.readout = parts.make_readout(parts.hidden)
        # the input and layers 1..L-1 get readouts of their own (stateful readouts, e.g.
        # attention, must not share weights across depths); the last layer keeps ``readout``
        self.layer_readouts = nn.ModuleList(parts.make_readout(parts.hidden)
                                            for _ in range(parts.num_layers)
                                            ) if every_layer else None
        self.out_dim = self.readout.out_dim * (parts.num_layers + 1 if every_layer else 1)

    def node_embeddings(self, graph: dgl.DGLGraph) -> Tensor:
        return self.stack(graph, self.node_input(graph))

    def forward(self, graph: dgl.DGLGraph, policy_batch: Any = None) -> Tensor:
        if self.layer_readouts is None:
            return self.readout(graph, self.node_embeddings(graph))
        states = self.stack.states(graph, self.node_input(graph))
        readouts = [*self.layer_readouts, self.readout]
        return torch.cat([r(graph, h) for r, h in zip(readouts, states)], dim=-1)


class SummedHeads(nn.Module):
    """``heads`` prediction MLPs, one per equal block of the input, their (dropped-out)
    outputs summed: GIN's per-layer prediction (Xu et al. 2019)."""

    def __init__(self, heads: list[nn.Module], block: int, dropout: float):
        super().__init__()
        self.heads = nn.ModuleList(heads)
        self.block = block
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        blocks = torch.split(x, self.block, dim=-1)
        out = self.dropout(self.heads[0](blocks[0]))
        for head, block in zip(self.heads[1:], blocks[1:]):
            out = out + self.dropout(head(block))
        return out


class GraphModel(nn.Module):
    """Graph-level predictor assembled from a pipeline (see :func:`wlkit.model.build`).

    ``body(graph, policy_batch) -> [batch_size, body.out_dim]`` (the policy's model half, or
    :class:`StandardBody`), then an MLP head to ``out_dim`` logits or values. The graph
    carries ``ndata['feat']`` if the dataset has node features, ``ndata['pe']`` if encodings
    are configured and ``edata['feat']`` if the layers read edge features.

    ``heads > 1`` splits the body's output into that many equal blocks, gives each its own
    head and sums the predictions (:class:`SummedHeads`); ``head_dropout`` drops out each
    head's output (GIN's final dropout).
    """

    def __init__(self, body: nn.Module, hidden: int, head_layers: int, out_dim: int,
                 head_dropout: float = 0.0, heads: int = 1):
        super().__init__()
        self.body = body
        if body.out_dim % heads:
            raise ValueError(f"body.out_dim {body.out_dim} does not split into {heads} heads")

        def mlp(width: int) -> nn.Sequential:
            layers: list[nn.Module] = []
            for _ in range(head_layers - 1):
                layers += [nn.Linear(width, hidden), nn.ReLU()]
                width = hidden
            layers.append(nn.Linear(width, out_dim))
            return nn.Sequential(*layers)

        if heads == 1:  # the plain MLP keeps its parameter names (head.0.weight, ...)
            self.head: nn.Module = mlp(body.out_dim)
            if head_dropout:
                self.head.append(nn.Dropout(head_dropout))
        else:
            block = body.out_dim // heads
            self.head = SummedHeads([mlp(block) for _ in range(heads)], block, head_dropout)

    def embed(self, graph: dgl.DGLGraph, policy_batch: Any = None) -> Tensor:
        """Graph embeddings before the head (used by ``wlkit separate``)."""
        out = self.body(graph, policy_batch)
        if not isinstance(out, Tensor) or out.shape != (graph.batch_size, self.body.out_dim):
            # a policy's model half: name it here rather than in the head's matmul
            raise wrong_shape(self.body, "subgraph_policy", out,
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
