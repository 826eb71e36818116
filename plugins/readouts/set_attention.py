"""The SetTransformer's blocks (Lee et al., 2019) on padded sets, for the ``set_transformer``
readout.

The computation and the parameters (names, shapes, initialisation) are those of DGL's
``dgl.nn.pytorch.glob`` modules (``MultiHeadAttention``, ``SetAttentionBlock``,
``InducedSetAttentionBlock``, ``PMALayer``, ``SetTransformerEncoder``/``Decoder``), so a
state dict moves between the two. What differs is the layout: DGL pads and unpads the
node sets in every attention call, with Python loops over the graphs that read each
graph's size back from the device (59 host syncs per step at the default 2 SAB blocks on
9 graphs, growing with the batch). Here the node features are padded once to
``[graphs, largest graph, dim]`` and stay padded through every block (layer norms and
feed-forward layers act row by row, so padded rows never mix into real ones; attention
masks them as keys); the only sync is reading the largest graph's size for that padding.
Two other differences: DGL's attention blocks create a dropout on the attention weights
but never apply it, here ``dropouta`` is applied (the default dropout is 0, where both
agree); and in a batch with an empty graph DGL's modules give the graphs after it other
values than each graph alone (DGL 2.1.0), here every graph gets its own value
(``tests/plugins/readouts/test_set_attention.py``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from wlkit import segment_ids


def pad_sets(counts: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
    """``rows`` ``[sum(counts), d]`` as ``[len(counts), max(counts), d]`` (zeros after each
    set's rows) and the mask of real rows ``[len(counts), max(counts)]``.

    One host sync: ``max(counts)``, the padded width.

    Examples
    --------
    >>> import torch
    >>> padded, mask = pad_sets(torch.tensor([2, 0, 1]), torch.tensor([[1.0], [2.0], [3.0]]))
    >>> padded.squeeze(-1).tolist(), mask.tolist()
    ([[1.0, 2.0], [0.0, 0.0], [3.0, 0.0]], [[True, True], [False, False], [True, False]])
    """
    width = int(counts.max()) if len(counts) else 0
    starts = torch.cumsum(counts, 0) - counts
    graph_of = segment_ids(counts, rows.shape[0])
    position = torch.arange(rows.shape[0], device=rows.device) - starts.index_select(0, graph_of)
    padded = rows.new_zeros((len(counts), width, *rows.shape[1:]))
    padded[graph_of, position] = rows
    mask = torch.arange(width, device=counts.device).unsqueeze(0) < counts.unsqueeze(1)
    return padded, mask


class MultiHeadAttention(nn.Module):
    """``norm_inter(h + ffn(h))`` with ``h = norm_in(x + MHA(x, mem))``: DGL's block, post-norm.

    ``x`` ``[B, Lx, d]`` attends to ``mem`` ``[B, Ly, d]``; ``mem_mask`` ``[B, Ly]`` marks the
    real rows of ``mem`` (None: all). A set without real rows attends to nothing (its
    attention output is 0, as in DGL).
    """

    def __init__(self, d_model: int, num_heads: int, d_head: int, d_ff: int,
                 dropouth: float = 0.0, dropouta: float = 0.0):
        super().__init__()
        self.num_heads, self.d_head = num_heads, d_head
        self.proj_q = nn.Linear(d_model, num_heads * d_head, bias=False)
        self.proj_k = nn.Linear(d_model, num_heads * d_head, bias=False)
        self.proj_v = nn.Linear(d_model, num_heads * d_head, bias=False)
        self.proj_o = nn.Linear(num_heads * d_head, d_model, bias=False)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Dropout(dropouth),
                                 nn.Linear(d_ff, d_model))
        self.droph = nn.Dropout(dropouth)  # unused, as in DGL (kept for the module's layout)
        self.dropa = nn.Dropout(dropouta)
        self.norm_in = nn.LayerNorm(d_model)
        self.norm_inter = nn.LayerNorm(d_model)
        for p in self.parameters():  # DGL's initialisation
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, x: Tensor, mem: Tensor, mem_mask: Tensor | None) -> Tensor:
        batch, len_x, len_m = x.shape[0], x.shape[1], mem.shape[1]
        heads, width = self.num_heads, self.d_head
        queries = self.proj_q(x).view(batch, len_x, heads, width)
        keys = self.proj_k(mem).view(batch, len_m, heads, width)
        values = self.proj_v(mem).view(batch, len_m, heads, width)
        scores = torch.einsum("bxhd,byhd->bhxy", queries, keys) / math.sqrt(width)
        if mem_mask is not None:
            hidden = ~mem_mask.view(batch, 1, 1, len_m)
            alpha = torch.softmax(scores.masked_fill(hidden, -math.inf), dim=-1)
            alpha = alpha.masked_fill(hidden, 0.0)  # a set without rows: NaN -> 0
        else:
            alpha = torch.softmax(scores, dim=-1)
        out = torch.einsum("bhxy,byhd->bxhd", self.dropa(alpha), values)
        h = self.norm_in(x + self.proj_o(out.reshape(batch, len_x, heads * width)))
        return self.norm_inter(h + self.ffn(h))


class SetAttentionBlock(nn.Module):
    """SAB(X) = MAB(X, X)."""

    def __init__(self, d_model: int, num_heads: int, d_head: int, d_ff: int,
                 dropouth: float = 0.0, dropouta: float = 0.0):
        super().__init__()
        self.mha = MultiHeadAttention(d_model, num_heads, d_head, d_ff, dropouth, dropouta)

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        return self.mha(x, x, mask)


class InducedSetAttentionBlock(nn.Module):
    """ISAB(X) = MAB(X, MAB(I, X)) with ``m`` learned inducing points I."""

    def __init__(self, m: int, d_model: int, num_heads: int, d_head: int, d_ff: int,
                 dropouth: float = 0.0, dropouta: float = 0.0):
        super().__init__()
        self.inducing_points = nn.Parameter(torch.empty(m, d_model))
        self.mha = nn.ModuleList(
            MultiHeadAttention(d_model, num_heads, d_head, d_ff, dropouth, dropouta)
            for _ in range(2))
        nn.init.xavier_uniform_(self.inducing_points)

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        query = self.inducing_points.unsqueeze(0).expand(x.shape[0], -1, -1)
        return self.mha[1](x, self.mha[0](query, x, mask), None)


class PMALayer(nn.Module):
    """PMA_k(X) = MAB(S, rFF(X)) with ``k`` learned seed vectors S."""

    def __init__(self, k: int, d_model: int, num_heads: int, d_head: int, d_ff: int,
                 dropouth: float = 0.0, dropouta: float = 0.0):
        super().__init__()
        self.seed_vectors = nn.Parameter(torch.empty(k, d_model))
        self.mha = MultiHeadAttention(d_model, num_heads, d_head, d_ff, dropouth, dropouta)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Dropout(dropouth),
                                 nn.Linear(d_ff, d_model))
        nn.init.xavier_uniform_(self.seed_vectors)

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        query = self.seed_vectors.unsqueeze(0).expand(x.shape[0], -1, -1)
        return self.mha(query, self.ffn(x), mask)


class SetTransformerEncoder(nn.Module):
    """``n_layers`` SAB or ISAB blocks over padded sets ``[B, L, d]`` with their mask."""

    def __init__(self, d_model: int, n_heads: int, d_head: int, d_ff: int, n_layers: int = 1,
                 block_type: str = "sab", m: int | None = None, dropouth: float = 0.0,
                 dropouta: float = 0.0):
        super().__init__()
        if block_type not in ("sab", "isab"):
            raise ValueError(f"block_type must be sab or isab, got {block_type!r}")
        if block_type == "sab":
            self.layers = nn.ModuleList(
                SetAttentionBlock(d_model, n_heads, d_head, d_ff, dropouth, dropouta)
                for _ in range(n_layers))
        else:
            self.layers = nn.ModuleList(
                InducedSetAttentionBlock(m, d_model, n_heads, d_head, d_ff, dropouth, dropouta)
                for _ in range(n_layers))

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x, mask)
        return x


class SetTransformerDecoder(nn.Module):
    """PMA with ``k`` seeds, then ``n_layers`` SAB blocks over the seeds; ``[B, k * d]``."""

    def __init__(self, d_model: int, num_heads: int, d_head: int, d_ff: int, n_layers: int,
                 k: int, dropouth: float = 0.0, dropouta: float = 0.0):
        super().__init__()
        self.k, self.d_model = k, d_model
        self.pma = PMALayer(k, d_model, num_heads, d_head, d_ff, dropouth, dropouta)
        self.layers = nn.ModuleList(
            SetAttentionBlock(d_model, num_heads, d_head, d_ff, dropouth, dropouta)
            for _ in range(n_layers))

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        seeds = self.pma(x, mask)
        for layer in self.layers:
            seeds = layer(seeds, None)
        return seeds.reshape(x.shape[0], self.k * self.d_model)
