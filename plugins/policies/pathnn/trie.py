"""The prefix trie of PathNN's paths and the LSTM that runs over it: each shared prefix's
state is computed once, which equals running ``nn.LSTM`` on every path."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wlkit import ModelParts, WlkitError, sigmoid

_LSTM_CHUNK = 1 << 16
"""At most this many trie entries per LSTM step (chunk)."""

_CHUNK_FLOATS = 1 << 18
"""Gate values (entries x 4 hidden) per chunk without autograd: 1 MiB of float32, so that
the temporaries of a chunk stay in the CPU cache between the elementwise steps of the cell
(2.4x faster than 64k-entry chunks on SR25, AP K=4, hidden 16)."""

_CHUNK_FLOATS_GRAD = 1 << 20
"""Gate values per chunk with autograd: larger, since every chunk's activations are kept
for the backward pass anyway and each chunk adds gradient accumulations."""


def path_trie(paths: np.ndarray, num_nodes: int, dists: np.ndarray | None = None,
              edges: np.ndarray | None = None) -> list[dict[str, np.ndarray]]:
    """The paths of one length as a trie of their reading-order prefixes.

    The LSTM reads a path ``[p0, ..., pl]`` from the far end: ``pl, ..., p0``. Its state
    after ``j + 1`` steps depends only on the prefix ``(pl, ..., p(l-j))`` (with the
    distance labels, when given), so paths sharing a prefix share that state. Level ``j``
    lists the distinct prefixes of ``j + 1`` nodes: ``node`` (the prefix's last node),
    ``parent`` (its prefix of ``j`` nodes, an index into level ``j - 1``), ``dist`` and
    ``edge`` (the edge ``p(l-j+1) -> p(l-j)`` just traversed). Level ``l`` has one entry
    per path; its ``node`` is the start node. Each level is in lexicographic order of its
    prefixes (node, then distance, step by step), so children are grouped by parent.

    One sort of the paths in reading order (a single integer key per path when it fits
    in 63 bits, ``np.lexsort`` otherwise) gives every level: a prefix starts a new entry
    wherever it differs from the previous path's.

    Examples
    --------
    >>> levels = path_trie(np.array([[0, 1, 2], [3, 1, 2]]), num_nodes=4)
    >>> [len(level["node"]) for level in levels]  # 2 and 2-1 are shared
    [1, 1, 2]
    """
    count, width = paths.shape
    length = width - 1
    labels = int(dists.max()) + 1 if dists is not None and count else 1
    radix = max(num_nodes, 1) * labels

    def code(col: int) -> np.ndarray:  # p(col) with its distance label, int64 [P]
        out = paths[:, col].astype(np.int64)
        if dists is not None:
            out *= labels
            out += dists[:, col]
        return out

    packed = count > 0 and radix ** width < (1 << 62)
    if packed:  # key = the reading-order codes as digits in base radix, p(l) first
        key = code(length)
        for col in range(length - 1, -1, -1):
            key *= radix
            key += code(col)
        order = np.argsort(key)
        key = key[order]
    else:
        order = np.lexsort([code(col) for col in range(width)])
    levels: list[dict[str, np.ndarray]] = []
    new = np.zeros(count, dtype=bool)
    new[:1] = True
    prev: np.ndarray | None = None
    for j in range(width):
        col = length - j
        if packed:
            prefix = key // radix ** (length - j) if j < length else key
        else:
            prefix = code(col)[order]
        new[1:] |= prefix[1:] != prefix[:-1]
        first = np.flatnonzero(new)
        rows = order[first]
        level = {"node": paths[rows, col]}
        if prev is not None:
            level["parent"] = prev[first]
        if dists is not None:
            level["dist"] = dists[rows, col]
        if edges is not None and j > 0:
            level["edge"] = edges[rows, col]
        levels.append(level)
        prev = np.cumsum(new) - 1
    return levels


def trie_paths(levels: list[dict[str, Any]]) -> Any:
    """Rebuild the paths ``[P, l+1]`` (start node first, in trie order) from
    :func:`path_trie` levels (numpy arrays or tensors)."""
    top = levels[-1]["node"]
    index = torch.arange(len(top)) if torch.is_tensor(top) else np.arange(len(top))
    columns = []
    for level in reversed(levels):
        columns.append(level["node"][index])
        if "parent" in level:
            index = level["parent"][index]
    return torch.stack(columns, 1) if torch.is_tensor(top) else np.stack(columns, 1)


class PathNN(nn.Module):
    """The model half of :class:`PathPolicy`: K path layers sharing one LSTM, then readout.

    Layer ``l`` runs the LSTM over every path with ``l`` edges from its far end to its
    start node. The input at each step is the node state, concatenated with the distance
    embedding of the node (distance encoding) and the encoded feature of the edge towards
    the previous step (edge features: the mean over parallel edges, zeros at the far end;
    one edge encoder shared by all layers, as in the authors' code). The final LSTM states are
    summed (``path_agg: sum``) or averaged into the start nodes; then
    ``h <- phi(dropout(norm(h + paths)))`` (no ``h +`` without ``model.residual``).

    The LSTM is an ``nn.LSTM`` (its parameters and equations), evaluated step by step over
    the prefix trie of :func:`path_trie`: the input projection is computed once per node,
    distance and edge, and each distinct prefix's state once, instead of once per path and
    step. The trie is walked depth first in chunks small enough for the CPU cache; the
    cell's elementwise part is one autograd node with a hand-written backward. The result
    and its gradients equal ``nn.LSTM`` run on every path; the tests check both. Dropout
    (``model.dropout``) is applied after the norm (before ``phi``, as in the authors' OGB
    model) and, in training, to the LSTM input of every trie entry: one draw per path step
    shared by the paths with a common prefix (read from the far end), where the authors'
    code draws one per path and step.

    Examples
    --------
    >>> import dgl
    >>> from wlkit.model.build import build_model, instantiate_dataset
    >>> from wlkit.pipeline.loader import validate_pipeline
    >>> data = validate_pipeline({"name": "doc", "dataset": "wl_pairs",
    ...                           "policy": {"name": "pathnn", "paths": "ap", "K": 2},
    ...                           "model": {"num_layers": 2, "hidden": 8}}).data
    >>> model = build_model(data, instantiate_dataset(data["dataset"])).eval()
    >>> from wlkit.plugins.policies.pathnn import PathPolicy
    >>> policy = PathPolicy(paths="ap", K=2)
    >>> g = dgl.graph(([0, 1, 1, 2], [1, 0, 2, 1]))
    >>> model.embed(g, policy.collate([g], [policy.prepare(g)])).shape
    torch.Size([1, 8])
    """

    def __init__(self, parts: ModelParts, K: int, encode_distances: bool, path_agg: str,
                 use_edges: bool, l2_norm: bool, phi: str):
        super().__init__()
        hidden = parts.hidden
        self.K = K
        self.hidden = hidden
        self.path_agg = path_agg
        self.residual = parts.residual
        self.l2_norm = l2_norm
        self.node_input = parts.node_input
        self.distance_embedding = nn.Embedding(K + 1, hidden) if encode_distances else None
        self.edge_encoder = parts.make_edge_encoder() if use_edges else None
        width = hidden * (1 + int(encode_distances) + int(use_edges))
        self.lstm = nn.LSTM(width, hidden, num_layers=1, batch_first=True)
        self.norms = nn.ModuleList(parts.make_norm() for _ in range(K))
        self.phis = nn.ModuleList(
            (nn.Sequential(nn.Linear(hidden, hidden), parts.make_norm(), nn.ReLU(),
                           nn.Linear(hidden, hidden), parts.make_norm(), nn.ReLU())
             if phi == "mlp" else nn.Tanh() if phi == "tanh" else nn.ReLU()) for _ in range(K))
        self.dropout = nn.Dropout(parts.dropout)
        self.readout = parts.make_readout(hidden)
        self.out_dim = self.readout.out_dim
        if self.distance_embedding is not None:
            nn.init.xavier_uniform_(self.distance_embedding.weight)

    def node_embeddings(self, graph: Any, batch: dict[str, Any]) -> Tensor:
        layers = batch.get("layers") if isinstance(batch, dict) else None
        if layers is None or len(layers) != self.K:
            raise WlkitError("pathnn: the model needs the policy batch of PathPolicy.collate "
                             f"with paths of lengths 1..{self.K}")
        if self.distance_embedding is not None and "dist" not in layers[0][0]:
            raise WlkitError("pathnn: the policy batch has no distances; build the model and "
                             "the policy from the same settings")
        edge_h = None
        if self.edge_encoder is not None:
            if "edge_pair" not in batch:
                raise WlkitError("pathnn: the model reads edge features but the prepared "
                                 "paths carry no edge ids (the graphs had no edata['feat'] "
                                 "when they were prepared)\n"
                                 "    hint: set policy.edge_features: false, or delete the "
                                 "policy cache under $WLKIT_CACHE_DIR")
            # one input per directed node pair: the mean over its parallel edges
            encoded = self.edge_encoder(graph.edata["feat"])
            edge_pair = batch["edge_pair"]
            rows, count = batch.get("edge_rows"), batch.get("pair_edges")
            if rows is None or count is None:  # a batch from another collate: mask here
                rows = torch.nonzero(edge_pair >= 0).flatten()
                count = torch.bincount(edge_pair[rows], minlength=batch["num_pairs"])
            index = edge_pair.index_select(0, rows)
            edge_h = encoded.new_zeros(batch["num_pairs"], encoded.shape[1]).index_add(
                0, index, encoded.index_select(0, rows))
            edge_h = edge_h / count.clamp(min=1).unsqueeze(1).to(edge_h.dtype)
        h = self.node_input(graph)
        for i in range(self.K):
            if self.l2_norm:
                h = F.normalize(h, p=2.0, dim=1)
            pooled = self._paths_into_starts(h, layers[i], edge_h)
            update = h + pooled if self.residual else pooled
            h = self.phis[i](self.dropout(self.norms[i](update)))
        return h

    def forward(self, graph: Any, batch: dict[str, Any]) -> Tensor:
        return self.readout(graph, self.node_embeddings(graph, batch))

    def _paths_into_starts(self, h: Tensor, steps: list[dict[str, Tensor]],
                           edge_h: Tensor | None) -> Tensor:
        """Run the shared LSTM over the trie ``steps`` of one length; pool into starts."""
        hidden = self.hidden
        lstm = self.lstm
        w_ih = lstm.weight_ih_l0
        # One sigmoid for all four gates (PyTorch order i, f, g, o): the g rows are scaled
        # by 2 and tanh(x) = 2 sigmoid(2x) - 1.
        scale = torch.ones(4 * hidden, dtype=h.dtype, device=h.device)
        scale[2 * hidden:3 * hidden] = 2.0
        # input projections, once per node / distance / edge ([*, 4 hidden] each)
        bias = (lstm.bias_ih_l0 + lstm.bias_hh_l0) * scale
        node_in = torch.addmm(bias, h, w_ih[:, :hidden].T * scale)
        col = hidden
        dist_in = edge_in = None
        if self.distance_embedding is not None:
            dist_in = self.distance_embedding.weight @ (w_ih[:, col:col + hidden].T * scale)
            col += hidden
        if edge_h is not None:
            edge_in = edge_h @ (w_ih[:, col:col + hidden].T * scale)
        w_hh = lstm.weight_hh_l0.T * scale
        # dropout on the LSTM input is drawn per trie entry (per path step, shared by the
        # paths with a common prefix): the input projection then runs per entry
        per_entry = self.training and self.dropout.p > 0
        w_in = w_ih.T * scale
        last = len(steps) - 1
        if any(len(step["node"]) == 0 for step in steps):
            return h.new_zeros(h.shape[0], hidden)
        grad = torch.is_grad_enabled() and (h.requires_grad or w_hh.requires_grad
                                            or (edge_h is not None and edge_h.requires_grad))
        cell = _TrieCell.apply if grad else _cell_inplace
        chunk = max(1, min(_LSTM_CHUNK, (_CHUNK_FLOATS_GRAD if grad else _CHUNK_FLOATS)
                           // (4 * hidden)))
        if h.device.type != "cpu" and grad:
            # cache-sized chunks help a CPU; a GPU wants whole levels. Training keeps every
            # chunk alive for the backward anyway; evaluation keeps its bounded chunks (one
            # per level alive at a time), so a large eval batch cannot exhaust the memory
            chunk = max(len(step["node"]) for step in steps)
        # node and distance projections in one table when it is smaller than the level
        tables: list[tuple[Tensor, int | None]] = []
        for step in steps:
            if dist_in is not None and len(node_in) * len(dist_in) <= len(step["node"]):
                tables.append(((node_in[:, None, :] + dist_in[None, :, :]).reshape(
                    -1, 4 * hidden), len(dist_in)))
            else:
                tables.append((node_in, None))
        pooled = h.new_zeros(h.shape[0], hidden)

        def visit(j: int, lo: int, hi: int, parent_h: Tensor | None,
                  parent_c: Tensor | None, base: int) -> None:
            """States of entries lo:hi of level j, whose parents are the rows of
            ``parent_h``/``parent_c`` (parent index - base); depth first in chunks that
            fit in the CPU cache, so only one chunk per level is alive (levels are sorted
            by parent)."""
            nonlocal pooled
            step = steps[j]
            recur = parent_h @ w_hh if parent_h is not None else None
            table, labels = tables[j]
            for a in range(lo, hi, chunk):
                b = min(a + chunk, hi)
                node = step["node"][a:b]
                if per_entry:
                    parts = [h.index_select(0, node)]
                    if dist_in is not None:
                        parts.append(self.distance_embedding.weight.index_select(
                            0, step["dist"][a:b]))
                    if edge_in is not None:
                        parts.append(edge_h.index_select(0, step["edge"][a:b]) if j > 0 else
                                     h.new_zeros(b - a, hidden))
                    gates = torch.addmm(bias, self.dropout(torch.cat(parts, 1)), w_in)
                elif labels is not None:
                    gates = table.index_select(0, node * labels + step["dist"][a:b])
                else:
                    gates = node_in.index_select(0, node)
                    if dist_in is not None:
                        gates.add_(dist_in.index_select(0, step["dist"][a:b]))
                if edge_in is not None and j > 0 and not per_entry:
                    gates.add_(edge_in.index_select(0, step["edge"][a:b]))
                parent_state = None
                if recur is not None:
                    parent = step["parent"][a:b] - base
                    gates.add_(recur.index_select(0, parent))
                    parent_state = parent_c.index_select(0, parent)
                h_new, c = cell(gates, parent_state)
                if j == last:  # the full paths: pool into the start nodes right away
                    # under autocast the LSTM cell returns bfloat16 while ``pooled`` is
                    # float32: index_add_ needs one dtype, and the sum stays float32
                    pooled = pooled.index_add_(0, node, h_new.to(pooled.dtype))
                else:
                    if a == 0 and b == len(step["node"]):  # the whole level: its children
                        # are the whole next level (no bounds to read back from the device)
                        lo_child, hi_child = 0, len(steps[j + 1]["node"])
                    else:
                        bounds = torch.searchsorted(steps[j + 1]["parent"],
                                                    torch.tensor([a, b], device=node.device))
                        lo_child, hi_child = int(bounds[0]), int(bounds[1])
                    if hi_child > lo_child:
                        visit(j + 1, lo_child, hi_child, h_new, c, a)

        visit(0, 0, len(steps[0]["node"]), None, None, 0)
        out = pooled
        if self.path_agg == "mean":
            starts = steps[-1]["node"]  # index_add_, not bincount: no data-dependent size
            count = torch.zeros(h.shape[0], dtype=torch.long, device=starts.device).index_add_(
                0, starts, torch.ones_like(starts)).clamp(min=1)
            out = out / count.unsqueeze(1).to(out.dtype)
        return out


def _cell_inplace(gates: Tensor, parent_c: Tensor | None) -> tuple[Tensor, Tensor]:
    """The LSTM cell on pre-activations ``gates`` [N, 4H] (g rows scaled by 2), without
    autograd: overwrites ``gates``; returns ``(h, c)``."""
    # 1 / (1 + exp(-x)): torch.sigmoid was ~10x slower on some CPUs (see wlkit.sigmoid)
    i, f, g, o = gates.neg_().exp_().add_(1.0).reciprocal_().chunk(4, dim=1)
    g.mul_(2.0).sub_(1.0)  # tanh of the unscaled pre-activation
    c = torch.mul(i, g)
    if parent_c is not None:
        c.addcmul_(f, parent_c)
    return torch.tanh(c).mul_(o), c


class _TrieCell(torch.autograd.Function):
    """The LSTM cell of :func:`_cell_inplace` as one autograd node with a hand-written
    backward: saves the gate activations, ``tanh(c)`` and the parent cell states instead of
    every intermediate of the elementwise chain."""

    @staticmethod
    def forward(ctx: Any, pre: Tensor, parent_c: Tensor | None) -> tuple[Tensor, Tensor]:
        gates = sigmoid(pre)  # wlkit.sigmoid: torch.sigmoid is slow on some CPUs
        i, f, s, o = gates.chunk(4, dim=1)
        g = s * 2.0 - 1.0
        c = i * g
        if parent_c is not None:
            c.addcmul_(f, parent_c)
        tanh_c = torch.tanh(c)
        ctx.save_for_backward(gates, tanh_c, parent_c)
        ctx.set_materialize_grads(False)
        return o * tanh_c, c

    @staticmethod
    def backward(ctx: Any, grad_h: Tensor | None, grad_c: Tensor | None
                 ) -> tuple[Tensor | None, Tensor | None]:
        gates, tanh_c, parent_c = ctx.saved_tensors
        i, f, s, o = gates.chunk(4, dim=1)
        d = torch.empty_like(gates)  # d loss / d pre, filled per gate
        d_i, d_f, d_s, d_o = d.chunk(4, dim=1)
        if grad_h is not None:
            torch.mul(grad_h, tanh_c, out=d_o)
            d_c = (1.0 - tanh_c * tanh_c).mul_(o).mul_(grad_h)
            if grad_c is not None:
                d_c.add_(grad_c)
        else:
            d_o.zero_()
            d_c = grad_c.clone() if grad_c is not None else torch.zeros_like(tanh_c)
        torch.mul(d_c, s * 2.0 - 1.0, out=d_i)
        torch.mul(d_c, i, out=d_s)
        d_s.mul_(2.0)
        d_parent = None
        if parent_c is not None:
            torch.mul(d_c, parent_c, out=d_f)
            d_parent = d_c.mul_(f) if ctx.needs_input_grad[1] else None
        else:
            d_f.zero_()
        d.mul_(gates - gates * gates)  # sigmoid'
        return d, d_parent
