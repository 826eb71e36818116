"""Building blocks that components share, part of the kernel and exported from :mod:`wlkit`:
the MLP builder, the standard message-passing stack that policies reuse
(:class:`MessagePassing`), the virtual node and the cached edge index."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import dgl
import torch
from torch import Tensor, nn

from wlkit.components import ComponentError, ModelParts, component_label


class _Sigmoid(torch.autograd.Function):
    """``1 / (1 + exp(-x))``, saved output, ATen's fused ``sigmoid_backward``."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        out = torch.exp(-x).add_(1).reciprocal_()  # exp(-x) = inf gives exactly 0
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (out,) = ctx.saved_tensors
        return torch.ops.aten.sigmoid_backward(grad, out)


def sigmoid(x: Tensor) -> Tensor:
    """The logistic function, as ``torch.sigmoid`` (same values to 1 ulp, same gradient).

    Why: on the 2-core AMD EPYC of session 11, torch 2.2's CPU ``sigmoid`` kernel took
    ~11 ns per float32 element (``exp``: 0.6 ns), so every gate of a GRU or LSTM cell ran at
    a tenth of the speed of the rest, and this form was ~10x faster. The kernel's speed
    depends on the machine: on session 13's machine (same CPU name, AVX-512, idle)
    ``torch.sigmoid`` took 0.23-0.28 ns per element and this form 0.9-1.5 ns, and PathNN's
    CSL SP+ step was 11% faster with ``torch.sigmoid``; ``benchmarks/aggregators.py`` times
    both forms on the machine it runs on (``benchmarks/README.md``). Same speed on CUDA.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([-1000.0, -2.0, 0.0, 3.0, 1000.0])
    >>> torch.allclose(sigmoid(x), torch.sigmoid(x), rtol=1e-6, atol=0)
    True
    """
    return _Sigmoid.apply(x)


def gru_cell(x: Tensor, h: Tensor, cell: nn.GRUCell) -> Tensor:
    r"""``cell(x, h)`` for an ``nn.GRUCell``, with its parameters and equations
    (:math:`r, z = \sigma(\cdot)`, :math:`n = \tanh(W_{in}x + b_{in} + r(W_{hn}h + b_{hn}))`,
    :math:`h' = (1 - z) n + z h`), computed with :func:`sigmoid` (see there why).

    Examples
    --------
    >>> import torch
    >>> cell = torch.nn.GRUCell(4, 4)
    >>> x, h = torch.randn(3, 4), torch.randn(3, 4)
    >>> torch.allclose(gru_cell(x, h, cell), cell(x, h), atol=1e-6)
    True
    """
    w_ih, w_hh = cell.weight_ih.chunk(3), cell.weight_hh.chunk(3)
    b_ih = cell.bias_ih.chunk(3) if cell.bias_ih is not None else (None,) * 3
    b_hh = cell.bias_hh.chunk(3) if cell.bias_hh is not None else (None,) * 3
    linear = nn.functional.linear
    # One product per gate, the weights split rather than the outputs: splitting an
    # activation costs its backward a concatenation (or a zero-fill) of the full size.
    r = sigmoid(linear(x, w_ih[0], b_ih[0]) + linear(h, w_hh[0], b_hh[0]))
    z = sigmoid(linear(x, w_ih[1], b_ih[1]) + linear(h, w_hh[1], b_hh[1]))
    n = torch.tanh(linear(x, w_ih[2], b_ih[2]) + r * linear(h, w_hh[2], b_hh[2]))
    return n + z * (h - n)


_ACTIVATION_FUNCTIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "relu": torch.relu, "tanh": torch.tanh, "elu": nn.functional.elu,
    "gelu": nn.functional.gelu, "identity": lambda x: x}

LAYER_ACTIVATIONS: tuple[str, ...] = tuple(_ACTIVATION_FUNCTIONS)
"""Names of the non-linearities between message-passing layers (``model.activation``; see
:func:`layer_activation`). ReLU is OGB's reference GNNs'; the RNI paper's GraphConv stack
uses tanh."""


def layer_activation(name: str) -> Callable[[Tensor], Tensor]:
    """The non-linearity ``name`` (one of :data:`LAYER_ACTIVATIONS`) as a function of a tensor.

    Examples
    --------
    >>> import torch
    >>> layer_activation("tanh")(torch.zeros(2))
    tensor([0., 0.])
    """
    try:
        return _ACTIVATION_FUNCTIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; one of "
                         f"{', '.join(LAYER_ACTIVATIONS)}") from None


def mlp(widths: Sequence[int], *, norm: Callable[[int], nn.Module] | None = None,
        activation: Callable[[], nn.Module] = nn.ReLU) -> nn.Module:
    """Linear layers ``widths[0] -> widths[1] -> ... -> widths[-1]``; between two of them
    ``norm(width)`` (if given) and ``activation()``, nothing after the last.

    The one MLP builder of the built-ins (GIN's and GINE's update, DeepSets' phi and rho):
    the modules are created in this order, so seeded weights do not depend on which
    component asked.

    Parameters
    ----------
    widths : sequence of int
        Input width, hidden widths, output width; a single width gives ``nn.Identity``.
    norm : callable, optional
        ``norm(width)`` builds the normalisation after each hidden linear layer, e.g.
        ``nn.BatchNorm1d``.
    activation : callable
        Builds the non-linearity after each hidden layer (and its norm).

    Returns
    -------
    nn.Module
        An ``nn.Sequential`` (``nn.Identity`` for zero layers).

    Examples
    --------
    >>> mlp([4, 8, 2], norm=nn.BatchNorm1d)
    Sequential(
      (0): Linear(in_features=4, out_features=8, bias=True)
      (1): BatchNorm1d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
      (2): ReLU()
      (3): Linear(in_features=8, out_features=2, bias=True)
    )
    >>> mlp([4])
    Identity()
    """
    widths = list(widths)
    if not widths:
        raise ValueError("mlp: widths needs at least the input width")
    if len(widths) == 1:
        return nn.Identity()
    parts: list[nn.Module] = []
    for i in range(len(widths) - 1):
        parts.append(nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            if norm is not None:
                parts.append(norm(widths[i + 1]))
            parts.append(activation())
    return nn.Sequential(*parts)


def wrong_shape(module: Any, family: str, out: Any, expected: tuple[int, ...],
                 call: str) -> ComponentError:
    """The error for a layer, encoding module or policy body that returned the wrong shape."""
    got = f"shape {tuple(out.shape)}" if isinstance(out, Tensor) else type(out).__name__
    return ComponentError(f"{component_label(module, family)}: {call} returned {got}, "
                          f"expected {tuple(expected)}\n    hint: fix the plugin or report "
                          "it to its authors")


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


try:  # DGL's segment kernels without its autograd wrapper (see _SegmentCompare)
    from dgl._sparse_ops import _bwd_segment_cmp, _segment_reduce
except ImportError:  # pragma: no cover - another DGL layout: its public op, 1 sync per backward
    _segment_reduce = _bwd_segment_cmp = None


class _SegmentCompare(torch.autograd.Function):
    """Segment max/min with DGL's kernels and DGL's gradient (all of it to the arg-max/min
    row), without the ``offsets[-1].item()`` host read of ``dgl.ops.segment_reduce``'s
    backward: the row count is known here from the shape."""

    @staticmethod
    def forward(ctx, op: str, rows: Tensor, offsets: Tensor) -> Tensor:
        out, arg = _segment_reduce(op, rows, offsets)
        empty = (offsets[1:] == offsets[:-1]).view(-1, *[1] * (out.dim() - 1))
        out = out.masked_fill(empty, 0.0)  # the kernel leaves -inf/inf there; DGL gives 0
        ctx.save_for_backward(arg)
        ctx.num_rows = rows.shape[0]
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[None, Tensor, None]:
        (arg,) = ctx.saved_tensors
        return None, _bwd_segment_cmp(grad.contiguous(), arg, ctx.num_rows), None


def segment_ids(counts: Tensor, num_rows: int | None = None) -> Tensor:
    """The segment index of each of ``num_rows = sum(counts)`` rows, on ``counts``' device;
    with ``num_rows`` given (the caller knows it) without a host sync.

    Examples
    --------
    >>> import torch
    >>> segment_ids(torch.tensor([2, 0, 1]), 3).tolist()
    [0, 0, 2]
    """
    return torch.repeat_interleave(torch.arange(len(counts), device=counts.device), counts,
                                   output_size=num_rows)


def segment_reduce(counts: Tensor, rows: Tensor, op: str) -> Tensor:
    """The values of ``dgl.ops.segment_reduce(counts, rows, op)``, with no host–device sync
    in forward or backward, and also under CPU autocast.

    ``sum`` and ``mean`` add each row into its segment with ``index_add_`` (the same sums in
    the same order as DGL's kernel, about twice as fast forward + backward on the CPU);
    ``max`` and ``min`` run DGL's kernels and give the whole gradient to the arg-max/min
    row, as DGL does. One difference: DGL replaces a ``±inf`` max/min by 0, while here a
    non-empty segment keeps it (only empty segments give 0). DGL's own op reads the row
    count back from the device in every
    backward (``offsets[-1].item()``): one sync per step of every model with a max or sum
    pooling (``benchmarks/device_audit.py``).

    Parameters
    ----------
    counts : Tensor
        Rows per segment (int64, ``[num_segments]``).
    rows : Tensor
        ``[sum(counts), ...]`` values.
    op : str
        ``sum``, ``mean``, ``max`` or ``min``. Empty segments reduce to zeros.

    Returns
    -------
    Tensor
        ``[num_segments, ...]``; float32 when ``rows`` is a bfloat16/float16 CPU tensor.

    Examples
    --------
    >>> import torch
    >>> rows = torch.tensor([[1.0], [3.0], [5.0]])
    >>> segment_reduce(torch.tensor([2, 0, 1]), rows, "max").flatten().tolist()
    [3.0, 0.0, 5.0]
    >>> segment_reduce(torch.tensor([2, 0, 1]), rows, "mean").flatten().tolist()
    [2.0, 0.0, 5.0]
    """
    if op not in ("sum", "mean", "max", "min"):
        raise ValueError(f"segment_reduce: op must be sum, mean, max or min, got {op!r}")
    if rows.device.type == "cpu" and rows.dtype in (torch.bfloat16, torch.float16):
        # DGL's CPU segment kernels have no bf16/fp16 version ("Unsupported CPU kernel for
        # SegmentSum for BF16" under precision: bf16-mixed); reduce in float32, which is
        # also what autocast does for its own reductions.
        rows = rows.float()
    if op in ("max", "min"):
        if _segment_reduce is None:  # pragma: no cover
            return dgl.ops.segment_reduce(counts, rows, op)
        offsets = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])
        return _SegmentCompare.apply(op, rows, offsets)
    out = rows.new_zeros((len(counts), *rows.shape[1:])).index_add_(
        0, segment_ids(counts, rows.shape[0]), rows)
    if op == "mean":
        out = out / counts.clamp(min=1).to(out.dtype).view(-1, *[1] * (out.dim() - 1))
    return out


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
        pooled = segment_reduce(graph.batch_num_nodes(), h, "sum") + state
        new = self.dropout(self.mlps[layer](pooled))
        return state + new if self.residual else new


class MessagePassing(nn.Module):
    """The standard stack: ``num_layers`` layers, each followed by the norm, the activation
    (``parts.activation``, ReLU by default; not after the last layer, as in OGB's reference
    GNNs, unless ``parts.activate_last``), dropout and the optional residual; with an
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
        self.activation = layer_activation(parts.activation)
        self.activate_last = getattr(parts, "activate_last", False)
        self.virtual_node = (VirtualNode(parts.hidden, parts.num_layers, parts.dropout,
                                         parts.residual) if parts.virtual_node else None)

    def forward(self, graph: dgl.DGLGraph, h: Tensor) -> Tensor:
        return self.states(graph, h)[-1]

    def states(self, graph: dgl.DGLGraph, h: Tensor) -> list[Tensor]:
        """Node states ``[h, after layer 1, ..., after the last layer]`` (GIN's readout
        reads them all)."""
        edges = graph.edata["feat"] if self.uses_edge_features else None
        states = [h]
        vn = self.virtual_node
        state = vn.initial(graph) if vn is not None else None
        last = len(self.layers) - 1
        for i, (layer, norm) in enumerate(zip(self.layers, self.norms)):
            if vn is not None:
                h = h + torch.repeat_interleave(state, graph.batch_num_nodes(), dim=0,
                                                output_size=h.shape[0])
            out = layer(graph, h, edges)
            if not isinstance(out, Tensor) or out.shape != h.shape:  # named, not a broadcast error
                raise wrong_shape(layer, "layer", out, h.shape, "forward(graph, h, edge_feats)")
            update = norm(out)
            if i < last or self.activate_last:
                update = self.activation(update)
            update = self.dropout(update)
            if vn is not None and i < last:
                state = vn.update(i, graph, h, state)
            h = h + update if self.residual else update
            states.append(h)
        return states
