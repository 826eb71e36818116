"""Attention readouts through DGL's modules: gated attention pooling, Set2Set, SetTransformer."""

from __future__ import annotations

import warnings

import dgl
from dgl.nn import GlobalAttentionPooling, Set2Set, SetTransformerDecoder, SetTransformerEncoder
from torch import Tensor, nn

from wlkit import Param, Readout, ReadoutRecord


class AttentionReadout(Readout):
    r"""Gated attention pooling (Li et al., 2016): :math:`\sum_v \mathrm{softmax}_v(g(h_v))
    \, f(h_v)` per graph, with DGL's ``GlobalAttentionPooling``.

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
        self.attention = GlobalAttentionPooling(nn.Linear(dim, 1),
                                                nn.Linear(dim, dim) if transform else None)

    def pool(self, graph: dgl.DGLGraph, feats: Tensor) -> Tensor:
        with graph.local_scope():  # DGL's module writes into ndata
            return self.attention(graph, feats)


ATTENTION_RECORD = ReadoutRecord(
    name="attention", factory=AttentionReadout,
    summary="Gated attention pooling: sum_v softmax(gate(h_v)) f(h_v) (DGL).",
    params=(Param("transform", bool, True, "linear map f of the features"),),
    expressivity="<1-WL")


class Set2SetReadout(Readout):
    """Set2Set (Vinyals et al., 2016) with DGL's ``Set2Set``; the output is ``2 * dim`` wide.

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
        self.set2set = Set2Set(dim, iterations, lstm_layers)
        self.out_dim = 2 * dim

    def pool(self, graph: dgl.DGLGraph, feats: Tensor) -> Tensor:
        with graph.local_scope():
            return self.set2set(graph, feats)


SET2SET_RECORD = ReadoutRecord(
    name="set2set", factory=Set2SetReadout,
    summary="Set2Set (DGL); output width 2 * hidden.",
    params=(Param("iterations", int, 3, "attention steps", minimum=1, maximum=256),
            Param("lstm_layers", int, 1, "LSTM layers", minimum=1, maximum=64)),
    expressivity="<1-WL")


class SetTransformerReadout(Readout):
    """SetTransformer (Lee et al., 2019) with DGL's encoder (SAB or ISAB blocks) and
    pooling-by-multihead-attention decoder; the output is ``seeds * dim`` wide.

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
        with warnings.catch_warnings():
            # DGL warns that with k=1 the query/key projections get no gradient; they do
            # (its softmax runs over the set elements), so the warning is only noise.
            warnings.filterwarnings("ignore", message=".*if k is set to 1.*")
            self.decoder = SetTransformerDecoder(
                dim, heads, head_dim, 2 * dim, n_layers=1 if seeds > 1 else 0, k=seeds,
                dropouth=dropout, dropouta=dropout)
        self.out_dim = seeds * dim

    def pool(self, graph: dgl.DGLGraph, feats: Tensor) -> Tensor:
        with graph.local_scope():
            return self.decoder(graph, self.encoder(graph, feats))


SET_TRANSFORMER_RECORD = ReadoutRecord(
    name="set_transformer", factory=SetTransformerReadout,
    summary="SetTransformer encoder + PMA decoder (DGL); output width seeds * hidden.",
    params=(
        Param("heads", int, 4, "attention heads", minimum=1, maximum=256),
        Param("layers", int, 2, "encoder blocks", minimum=1, maximum=64),
        Param("seeds", int, 1, "PMA seed vectors", minimum=1, maximum=4096),
        Param("block", str, "sab", "encoder block", choices=("sab", "isab")),
        Param("inducing", int, 16, "inducing points of ISAB blocks", minimum=1,
              maximum=4096),
        Param("dropout", float, 0.0, "dropout", minimum=0.0, maximum=0.99),
    ),
    expressivity="<1-WL")


RECORDS: tuple[ReadoutRecord, ...] = (ATTENTION_RECORD, SET2SET_RECORD, SET_TRANSFORMER_RECORD)
"""This module's records, in registration order."""
