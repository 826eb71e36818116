"""Attention readouts: gated attention pooling and Set2Set (on wlkit's sync-free segment
reductions) and SetTransformer (DGL's blocks on sets padded once, ``set_attention``)."""

from __future__ import annotations

import dgl
import torch
from torch import Tensor, nn

from wlkit import Param, Readout, ReadoutRecord, segment_ids, segment_reduce

from .set_attention import SetTransformerDecoder, SetTransformerEncoder, pad_sets


def _segment_softmax(counts: Tensor, graph_of: Tensor, logits: Tensor) -> Tensor:
    """Softmax of ``logits`` ``[N, k]`` over each graph's rows (``dgl.softmax_nodes``)."""
    top = segment_reduce(counts, logits.detach(), "max")  # a constant shift, for stability
    weights = torch.exp(logits - top.index_select(0, graph_of))
    return weights / segment_reduce(counts, weights, "sum").index_select(0, graph_of)


class _GatedAttention(nn.Module):
    """DGL's ``GlobalAttentionPooling`` (same parameters and names, same values) on
    :func:`wlkit.segment_reduce`: no host sync, where DGL's module takes 5 per step
    (``repeat_interleave`` without a size, the ``.item()`` of its segment backward)."""

    def __init__(self, gate_nn: nn.Module, feat_nn: nn.Module | None):
        super().__init__()
        self.gate_nn = gate_nn
        self.feat_nn = feat_nn

    def forward(self, graph: dgl.DGLGraph, feats: Tensor) -> Tensor:
        counts = graph.batch_num_nodes()
        graph_of = segment_ids(counts, feats.shape[0])
        gate = _segment_softmax(counts, graph_of, self.gate_nn(feats))
        values = self.feat_nn(feats) if self.feat_nn is not None else feats
        return segment_reduce(counts, values * gate, "sum")


class _Set2Set(nn.Module):
    """DGL's ``Set2Set`` (same LSTM, same names, same values) on :func:`wlkit.segment_reduce`:
    no host sync, where DGL's module takes 2 per iteration."""

    def __init__(self, dim: int, iterations: int, lstm_layers: int):
        super().__init__()
        self.dim, self.iterations, self.lstm_layers = dim, iterations, lstm_layers
        self.lstm = nn.LSTM(2 * dim, dim, lstm_layers)

    def forward(self, graph: dgl.DGLGraph, feats: Tensor) -> Tensor:
        counts = graph.batch_num_nodes()
        graph_of = segment_ids(counts, feats.shape[0])
        batch = len(counts)
        state = (feats.new_zeros((self.lstm_layers, batch, self.dim)),
                 feats.new_zeros((self.lstm_layers, batch, self.dim)))
        q_star = feats.new_zeros((batch, 2 * self.dim))
        for _ in range(self.iterations):
            q, state = self.lstm(q_star.unsqueeze(0), state)
            q = q.view(batch, self.dim)
            scores = (feats * q.index_select(0, graph_of)).sum(dim=-1, keepdim=True)
            alpha = _segment_softmax(counts, graph_of, scores)
            q_star = torch.cat([q, segment_reduce(counts, feats * alpha, "sum")], dim=-1)
        return q_star

    def extra_repr(self) -> str:
        return f"iterations={self.iterations}"


class AttentionReadout(Readout):
    r"""Gated attention pooling (Li et al., 2016): :math:`\sum_v \mathrm{softmax}_v(g(h_v))
    \, f(h_v)` per graph, as DGL's ``GlobalAttentionPooling`` computes it (without its host
    syncs).

    The gate :math:`g` is a linear map to one logit per node; :math:`f` is a linear map
    (``transform=True``) or the identity. Graphs without nodes pool to zeros.

    Parameters
    ----------
    dim : int
        Width of the node features and the output.
    transform : bool
        Apply a linear map :math:`f` to the features before weighting them.

    Examples
    --------
    >>> import dgl, torch
    >>> g = dgl.batch([dgl.rand_graph(3, 2), dgl.rand_graph(5, 4)])
    >>> AttentionReadout(8)(g, torch.randn(8, 8)).shape
    torch.Size([2, 8])
    """

    def __init__(self, dim: int, transform: bool = True):
        super().__init__(dim)
        self.attention = _GatedAttention(nn.Linear(dim, 1),
                                         nn.Linear(dim, dim) if transform else None)

    def pool(self, graph: dgl.DGLGraph, feats: Tensor) -> Tensor:
        return self.attention(graph, feats)


ATTENTION_RECORD = ReadoutRecord(
    name="attention", factory=AttentionReadout,
    summary="Gated attention pooling: sum_v softmax(gate(h_v)) f(h_v).",
    params=(Param("transform", bool, True, "linear map f of the features"),),
    expressivity="<1-WL")


class Set2SetReadout(Readout):
    """Set2Set (Vinyals et al., 2016) as DGL's ``Set2Set`` computes it (without its host
    syncs); the output is ``2 * dim`` wide.

    Parameters
    ----------
    dim : int
        Width of the node features.
    iterations : int
        Attention steps of the LSTM reader.
    lstm_layers : int
        Layers of the LSTM.

    Examples
    --------
    >>> import dgl, torch
    >>> g = dgl.batch([dgl.rand_graph(3, 2), dgl.rand_graph(5, 4)])
    >>> readout = Set2SetReadout(8)
    >>> readout.out_dim, readout(g, torch.randn(8, 8)).shape
    (16, torch.Size([2, 16]))
    """

    def __init__(self, dim: int, iterations: int = 3, lstm_layers: int = 1):
        super().__init__(dim)
        self.set2set = _Set2Set(dim, iterations, lstm_layers)
        self.out_dim = 2 * dim

    def pool(self, graph: dgl.DGLGraph, feats: Tensor) -> Tensor:
        return self.set2set(graph, feats)


SET2SET_RECORD = ReadoutRecord(
    name="set2set", factory=Set2SetReadout,
    summary="Set2Set; output width 2 * hidden.",
    params=(Param("iterations", int, 3, "attention steps", minimum=1, maximum=256),
            Param("lstm_layers", int, 1, "LSTM layers", minimum=1, maximum=64)),
    expressivity="<1-WL")


class SetTransformerReadout(Readout):
    """SetTransformer (Lee et al., 2019): an encoder of SAB or ISAB blocks and a
    pooling-by-multihead-attention decoder; the output is ``seeds * dim`` wide.

    The blocks are DGL's (same parameters, same values; :mod:`.set_attention`), run on the
    node sets padded once per batch: one host sync per step, where DGL's modules take one
    per graph and block.

    The decoder is PMA followed by one SAB over the seeds when ``seeds > 1`` (with a single
    seed that block would attend to itself only, so it is left out).

    Parameters
    ----------
    dim : int
        Width of the node features.
    heads : int
        Attention heads; each head is ``max(1, dim // heads)`` wide.
    layers : int
        Encoder blocks.
    seeds : int
        Seed vectors of the decoder (outputs per graph).
    block : {"sab", "isab"}
        Full self-attention, or induced self-attention with ``inducing`` points.
    inducing : int
        Inducing points of ISAB blocks.
    dropout : float
        Dropout on the attention weights and hidden layers.

    Examples
    --------
    >>> import dgl, torch
    >>> g = dgl.batch([dgl.rand_graph(3, 2), dgl.rand_graph(5, 4)])
    >>> SetTransformerReadout(8, heads=2)(g, torch.randn(8, 8)).shape
    torch.Size([2, 8])
    """

    def __init__(self, dim: int, heads: int = 4, layers: int = 2, seeds: int = 1,
                 block: str = "sab", inducing: int = 16, dropout: float = 0.0):
        super().__init__(dim)  # block's choices are checked by the record's Param schema
        head_dim = max(1, dim // heads)
        self.encoder = SetTransformerEncoder(
            dim, heads, head_dim, 2 * dim, n_layers=layers, block_type=block,
            m=inducing if block == "isab" else None, dropouth=dropout, dropouta=dropout)
        self.decoder = SetTransformerDecoder(
            dim, heads, head_dim, 2 * dim, n_layers=1 if seeds > 1 else 0, k=seeds,
            dropouth=dropout, dropouta=dropout)
        self.out_dim = seeds * dim

    def pool(self, graph: dgl.DGLGraph, feats: Tensor) -> Tensor:
        padded, mask = pad_sets(graph.batch_num_nodes(), feats)
        return self.decoder(self.encoder(padded, mask), mask)


SET_TRANSFORMER_RECORD = ReadoutRecord(
    name="set_transformer", factory=SetTransformerReadout,
    summary="SetTransformer encoder + PMA decoder; output width seeds * hidden.",
    params=(
        Param("heads", int, 4, "attention heads", minimum=1, maximum=256),
        Param("layers", int, 2, "encoder blocks", minimum=1, maximum=64),
        Param("seeds", int, 1, "PMA seed vectors", minimum=1, maximum=4096),
        Param("block", str, "sab", "encoder block", choices=("sab", "isab")),
        Param("inducing", int, 16, "inducing points of ISAB blocks", minimum=1,
              maximum=4096),
        Param("dropout", float, 0.0, "dropout, on the attention weights too (DGL 2.1's "
              "SetTransformer modules create that dropout but never apply it)", minimum=0.0,
              maximum=0.99),
    ),
    expressivity="<1-WL")


RECORDS: tuple[ReadoutRecord, ...] = (ATTENTION_RECORD, SET2SET_RECORD, SET_TRANSFORMER_RECORD)
"""This module's records, in registration order."""
