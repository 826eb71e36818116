"""Recurrent aggregation: a GRU or LSTM reads each neighbourhood as a sequence."""

from __future__ import annotations

import dgl
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from wlkit import AggregatorRecord, Param, WlkitError

from ._segments import SegmentAggregator, lexsort, segment_ids

CELLS: tuple[str, ...] = ("gru", "lstm")
ORDERS: tuple[str, ...] = ("edge_id", "random", "node_attr")
CPU_PATHS: tuple[str, ...] = ("auto", "packed", "padded")
PADDED_MIN_FILL = 0.25
"""``cpu_path="auto"`` pads when at least this fraction of the padded batch is real data."""


def pack_segments(values: Tensor, lengths: Tensor) -> tuple[PackedSequence, Tensor]:
    """A ``PackedSequence`` of the non-empty segments of ``values``, built without padding.

    ``values`` is [sum(lengths), dim], grouped by segment, each segment in sequence order.
    Returns the packed batch (which ``nn.GRU``/``nn.LSTM`` run in one call, shrinking the
    batch as short sequences end) and the indices of the non-empty segments, in the order of
    the RNN's final states.

    Examples
    --------
    >>> import torch
    >>> packed, nonempty = pack_segments(torch.arange(4.0).unsqueeze(1), torch.tensor([1, 0, 3]))
    >>> packed.batch_sizes.tolist(), packed.data.flatten().tolist(), nonempty.tolist()
    ([2, 1, 1], [1.0, 0.0, 2.0, 3.0], [0, 2])
    """
    nonempty = torch.nonzero(lengths > 0).squeeze(1)
    counts = lengths[nonempty]
    sorted_counts, sorted_indices = torch.sort(counts, descending=True, stable=True)
    rank = torch.empty_like(sorted_indices)
    rank[sorted_indices] = torch.arange(len(sorted_indices), device=rank.device)
    longest = int(sorted_counts[0]) if len(sorted_counts) else 0
    # batch_sizes[t] = number of sequences longer than t
    histogram = torch.bincount(counts, minlength=longest + 1)
    batch_sizes = histogram.flip(0).cumsum(0).flip(0)[1:]
    offsets = torch.cumsum(batch_sizes, 0) - batch_sizes
    segment = segment_ids(counts, values.shape[0])
    start = torch.cumsum(counts, 0) - counts
    step = torch.arange(values.shape[0], device=values.device) - start[segment]
    target = offsets[step] + rank[segment]
    data = values.new_empty(values.shape)
    data[target] = values
    packed = PackedSequence(data, batch_sizes.cpu(), sorted_indices, rank)
    return packed, nonempty


def pad_segments(values: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The non-empty segments as a right-padded [longest, segments, dim] batch.

    Returns the padded batch, each sequence's last step (``length - 1``) and the indices of
    the non-empty segments. Padding comes *after* each sequence, so an RNN's output at the
    last step of a sequence is exactly its final state without padding.

    Examples
    --------
    >>> import torch
    >>> padded, last, nonempty = pad_segments(torch.arange(4.0).unsqueeze(1),
    ...                                       torch.tensor([1, 0, 3]))
    >>> padded[..., 0].T.tolist(), last.tolist(), nonempty.tolist()
    ([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]], [0, 2], [0, 2])
    """
    nonempty = torch.nonzero(lengths > 0).squeeze(1)
    counts = lengths[nonempty]
    longest = int(counts.max()) if len(counts) else 0
    segment = segment_ids(counts, values.shape[0])
    start = torch.cumsum(counts, 0) - counts
    step = torch.arange(values.shape[0], device=values.device) - start[segment]
    padded = values.new_zeros((longest, len(counts), values.shape[1]))
    padded = padded.index_put((step, segment), values)
    return padded, counts - 1, nonempty


class RecurrentAggregator(SegmentAggregator):
    """A GRU or LSTM over each neighbourhood; the output is the final hidden state.

    All neighbourhoods go through one RNN call (no loop over nodes or degree values);
    nodes without in-edges get zeros. The call is packed (``PackedSequence``: exactly one
    row per message, the batch shrinking as short sequences end), except on the CPU when
    padding is cheap: PyTorch's packed RNN path on the CPU does not use the oneDNN kernels
    and is about 8x (GRU) to 20x (LSTM) slower than a dense call, so with ``cpu_path="auto"``
    the neighbourhoods are right-padded to the largest degree and run densely when at least
    a quarter of the padded batch is real data (``"packed"``/``"padded"`` force a path).
    Padding after each sequence does not change the final states, so both paths give the
    same result. The neighbour order is:

    ``edge_id``
        ascending edge id (the data's order). Deterministic, **not permutation
        invariant**: relabelling the edges changes the output.
    ``random``
        a fresh random order every training forward pass; in eval mode the outputs of
        ``eval_orders`` random orders are averaged. The eval orders come from a generator
        seeded with ``seed``, so evaluation is deterministic (but still depends on the
        edge ids, through which edge draws which key).
    ``node_attr``
        ascending ``graph.ndata[order_key]`` (a scalar per node) of the source node, ties
        in edge-id order. Invariant when the attribute has no ties within a neighbourhood.

    Parameters
    ----------
    dim : int
        Width of the messages and the output (the RNN's hidden size).
    cell : {"gru", "lstm"}
        The recurrent cell.
    order : {"edge_id", "random", "node_attr"}
        Neighbour order (see above).
    order_key : str or None
        ``ndata`` key used by ``order="node_attr"``.
    eval_orders : int
        Random orders averaged in eval mode (``order="random"``).
    seed : int
        Seed of the evaluation orders.
    cpu_path : {"auto", "packed", "padded"}
        How the RNN runs on the CPU (see above); other devices always use the packed call.

    Examples
    --------
    >>> import dgl, torch
    >>> g = dgl.graph(([0, 1, 2], [3, 3, 3]), num_nodes=4)
    >>> agg = RecurrentAggregator(4)
    >>> x = torch.randn(3, 4)
    >>> out = agg(g, x)
    >>> out.shape, bool(out[0].abs().sum() == 0)
    (torch.Size([4, 4]), True)
    >>> torch.allclose(agg(g, x.flip(0))[3], out[3])  # the order matters
    False
    """

    def __init__(self, dim: int, cell: str = "gru", order: str = "edge_id",
                 order_key: str | None = None, eval_orders: int = 4, seed: int = 0,
                 cpu_path: str = "auto"):
        super().__init__(dim)
        # ranges and choices are checked once, by the record's Param schema; what it cannot
        # express (one parameter needing another) is checked here
        if order == "node_attr" and not order_key:
            raise WlkitError("aggregator 'recurrent': order: node_attr needs order_key\n"
                             "    hint: set order_key to the ndata key to sort neighbours by")
        self.cpu_path = cpu_path
        self.cell = cell
        self.order = order
        self.order_key = order_key
        self.eval_orders = int(eval_orders)
        self.seed = int(seed)
        self.rnn = (nn.GRU if cell == "gru" else nn.LSTM)(dim, dim)

    def edge_key(self, graph: dgl.DGLGraph, messages: Tensor) -> Tensor | None:
        if self.order == "node_attr":
            if self.order_key not in graph.ndata:
                raise WlkitError(f"recurrent: order_key {self.order_key!r} is not in ndata "
                                 f"(keys: {', '.join(graph.ndata) or 'none'})")
            src, _ = graph.edges()
            return graph.ndata[self.order_key][src.long()].reshape(len(src), -1)[:, 0]
        return None

    def reduce(self, graph: dgl.DGLGraph, messages: Tensor) -> Tensor:
        if self.order != "random":
            return super().reduce(graph, messages)
        _, dst = graph.edges()
        lengths = graph.in_degrees().long()
        if self.training:
            keys = [torch.rand(len(dst), device=messages.device)]
        else:
            generator = torch.Generator(device=messages.device).manual_seed(self.seed)
            keys = [torch.rand(len(dst), generator=generator, device=messages.device)
                    for _ in range(self.eval_orders)]
        # k orders = k copies of every neighbourhood, all in one packed call.
        orders = [lexsort(dst.long(), key) for key in keys]
        values = torch.cat([messages[o] for o in orders])
        out = self.reduce_segments(values, lengths.repeat(len(keys)))
        return out.view(len(keys), -1, self.dim).mean(0)

    def reduce_segments(self, values: Tensor, lengths: Tensor) -> Tensor:
        out = values.new_zeros((lengths.shape[0], self.dim))
        if values.shape[0] == 0:
            return out + 0.0 * sum(p.sum() for p in self.rnn.parameters())
        if self._padded(values, lengths):
            padded, last, nonempty = pad_segments(values, lengths)
            states, _ = self.rnn(padded)
            final = states[last, torch.arange(len(last), device=last.device)]
        else:
            packed, nonempty = pack_segments(values, lengths)
            _, state = self.rnn(packed)
            final = (state[0] if self.cell == "lstm" else state)[0]
        return out.index_put((nonempty,), final)

    def _padded(self, values: Tensor, lengths: Tensor) -> bool:
        if values.device.type != "cpu" or self.cpu_path == "packed":
            return False
        if self.cpu_path == "padded":
            return True
        cells = int((lengths > 0).sum()) * int(lengths.max())
        return values.shape[0] >= PADDED_MIN_FILL * cells

    def extra_repr(self) -> str:
        key = f", order_key={self.order_key!r}" if self.order == "node_attr" else ""
        return f"dim={self.dim}, cell={self.cell!r}, order={self.order!r}{key}"


RECURRENT_RECORD = AggregatorRecord(
    name="recurrent", factory=RecurrentAggregator,
    summary="GRU/LSTM over each neighbourhood in one (packed or padded) call; NOT "
            "permutation invariant (depends on the neighbour order).",
    params=(
        Param("cell", str, "gru", "recurrent cell", choices=CELLS),
        Param("order", str, "edge_id", "neighbour order: edge_id, random (reshuffled "
              "every training step, averaged over eval_orders at eval) or node_attr",
              choices=ORDERS),
        Param("order_key", str, None, "ndata key of the source-node attribute used by "
              "order=node_attr", nullable=True),
        Param("eval_orders", int, 4, "random orders averaged in eval mode "
              "(order=random)", minimum=1),
        Param("seed", int, 0, "seed of the evaluation orders (order=random)"),
        Param("cpu_path", str, "auto", "on the CPU: one packed call, or one dense call "
              "on right-padded neighbourhoods (oneDNN, several times faster); auto "
              "pads when >= 1/4 of the padded batch is real data",
              choices=CPU_PATHS),
    ),
    permutation_invariant=False,
    expressivity="order-dependent",
    approximate="order=random is invariant only in expectation; its eval orders are "
                "fixed by a seed, so evaluation is deterministic")


RECORDS: tuple[AggregatorRecord, ...] = (RECURRENT_RECORD,)
"""This module's records, in registration order."""
