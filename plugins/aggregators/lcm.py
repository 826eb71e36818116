"""Learnable commutative monoid aggregation (Ong & Veličković, 2022).

The reduction runs one balanced binary tree per segment, all segments of a level at once:
at every level the elements of each segment are paired (0,1), (2,3), ...; each pair is
combined by the commutative operator and an odd last element moves up unchanged. A segment of
``n`` elements is done after ``ceil(log2 n)`` levels; the loop runs over levels only (as many
as the largest segment needs), never over nodes or degree values. Nothing is padded, so the
tree of a segment depends on that segment alone: a node's output does not depend on the other
nodes in the batch or on the batch's maximum degree.
"""

from __future__ import annotations

import dgl
import torch
from torch import Tensor, nn

from wlkit import AggregatorRecord, Param, gru_cell

from ._segments import SegmentAggregator, in_edge_order, lexsort, segment_ids

ORDERS: tuple[str, ...] = ("sorted", "input")

LCM_APPROXIMATE = (  # the record text of the lcm aggregator and readout
    "order='sorted' (default) puts each neighbourhood's leaves in a canonical order (a fixed "
    "random projection of the message) before the tree, which makes the output exactly "
    "permutation invariant; the paper and PyG pair leaves in input order (order='input', "
    "invariant only as far as the operator is associative). The associativity regulariser "
    "samples triples of messages of the batch, detached.")


class CommutativeGRU(nn.Module):
    r"""The binary operator :math:`a \oplus b = \tfrac12[\mathrm{GRUCell}(a, b) +
    \mathrm{GRUCell}(b, a)]`, commutative by construction (input ``a``, hidden state ``b``).

    Both orders of all pairs go through one GRU cell evaluation (:func:`wlkit.gru_cell`:
    ``nn.GRUCell``'s parameters and equations, with :func:`wlkit.sigmoid`).

    Examples
    --------
    >>> import torch
    >>> op = CommutativeGRU(4)
    >>> a, b = torch.randn(3, 4), torch.randn(3, 4)
    >>> torch.allclose(op(a, b), op(b, a))
    True
    """

    def __init__(self, dim: int):
        super().__init__()
        self.cell = nn.GRUCell(dim, dim)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        r""":math:`a_i \oplus b_i` for every row ``i``."""
        pairs = a.shape[0]
        out = gru_cell(torch.cat([a, b]), torch.cat([b, a]), self.cell)
        return 0.5 * (out[:pairs] + out[pairs:])

    def adjacent(self, rows: Tensor) -> Tensor:
        r"""``rows[2i] ⊕ rows[2i+1]`` for every ``i``: [2P, dim] -> [P, dim].

        Row ``2i`` of the cell's batch is ``GRUCell(l_i, r_i)`` and row ``2i+1`` is
        ``GRUCell(r_i, l_i)``: the inputs are ``rows`` itself and the hidden states the
        same rows with each pair swapped, so no pair is gathered or copied twice.
        """
        pairs = rows.view(-1, 2, rows.shape[1])
        out = gru_cell(rows, pairs.flip(1).reshape(rows.shape), self.cell)
        return out.view(pairs.shape).mean(1)


def tree_reduce(values: Tensor, lengths: Tensor, combine, identity: Tensor) -> Tensor:
    """Reduce each segment of ``values`` with a balanced binary tree of ``combine`` calls.

    Parameters
    ----------
    values : Tensor
        [sum(lengths), dim], grouped by segment, in the order the leaves should take.
    lengths : Tensor
        [num_segments] long; may contain zeros.
    combine : callable
        ``combine(rows) -> Tensor``: the operator on adjacent rows, ``[2P, dim] -> [P, dim]``
        with output row ``i`` the combination of rows ``2i`` and ``2i + 1``; all the pairs
        of one level go through one call.
    identity : Tensor
        [dim], the result for empty segments.

    Returns
    -------
    Tensor
        [num_segments, dim]. ``ceil(log2(max(lengths)))`` calls of ``combine`` were made.

    Notes
    -----
    At every level the pairs (0, 1), (2, 3), ... of each segment are adjacent rows; only
    the odd last row of a segment breaks the pattern. A level without odd segments hands
    its rows to ``combine`` as they are (no gather, no scatter: the merged rows are the next
    level in order); otherwise the odd rows are moved behind the pairs by one stable sort
    and put back in place after the call. One host sync per level (the count of odd rows,
    which sizes the next level).

    Examples
    --------
    With addition as the operator the tree computes segment sums:

    >>> import torch
    >>> add = lambda rows: rows.view(-1, 2, rows.shape[1]).sum(1)
    >>> tree_reduce(torch.arange(6.0).unsqueeze(1), torch.tensor([3, 0, 1, 2]), add,
    ...             torch.tensor([-1.0]))
    tensor([[ 3.],
            [-1.],
            [ 3.],
            [ 9.]])
    """
    nonempty = torch.nonzero(lengths > 0).squeeze(1)
    counts = lengths[nonempty]
    current = values
    while current.shape[0] > counts.shape[0]:  # some segment still holds > 1 element
        rows = current.shape[0]
        next_counts = (counts + 1) // 2
        carried = int((counts % 2).sum())  # odd segments: their last row moves up alone
        if carried == 0:
            current = combine(current)
        else:
            segment = segment_ids(counts, rows)
            end = torch.cumsum(counts, 0)
            odd_last = (counts % 2 == 1)[segment] & (
                torch.arange(rows, device=current.device) == end[segment] - 1)
            order = torch.argsort(odd_last.to(torch.uint8), stable=True)  # pairs, then odd
            moved = current[order]
            # the next level's row of each output: pair j lands where its left row's
            # segment puts it, an odd row at the end of its segment's next-level rows
            next_start = torch.cumsum(next_counts, 0) - next_counts
            start = end - counts
            position = torch.arange(rows, device=current.device) - start[segment]
            slot = (next_start[segment] + position // 2)[order]
            paired = rows - carried
            merged = combine(moved[:paired])
            upper = moved.new_empty((paired // 2 + carried, current.shape[1]))
            upper = upper.index_put((torch.cat([slot[:paired:2], slot[paired:]]),),
                                    torch.cat([merged, moved[paired:]]))
            current = upper
        counts = next_counts
    out = identity.to(current.dtype).expand(lengths.shape[0], -1)
    return out.index_put((nonempty,), current)


class LCMAggregator(SegmentAggregator):
    r"""Learnable commutative monoid (LCM) aggregation (Ong & Veličković, 2022).

    Each neighbourhood is reduced by a balanced binary tree of depth
    :math:`\lceil\log_2 d\rceil` whose internal nodes apply
    :math:`a \oplus b = \tfrac12[\mathrm{GRUCell}(a,b) + \mathrm{GRUCell}(b,a)]`
    (:class:`CommutativeGRU`). A node without in-edges gets a learned identity element.
    The batch is reduced level by level without padding (see :func:`tree_reduce`), so a
    node's output is independent of the rest of the batch.

    :math:`\oplus` is commutative but only approximately associative, so the result depends
    on which leaves are paired. With ``order="sorted"`` (default) the leaves of each
    neighbourhood are put in a canonical order first -- by a fixed random projection of the
    message, ties (equal keys) keeping any order -- so the output is a function of the
    multiset of messages: exactly permutation invariant (up to ties between *distinct*
    messages with bit-identical keys). ``order="input"`` keeps the edge-id order, as the
    paper and PyTorch Geometric's ``LCMAggregation`` do; it is invariant only to the extent
    :math:`\oplus` is associative.

    The associativity regulariser of the paper is :meth:`auxiliary_loss`: in training mode
    every forward pass samples ``assoc_samples`` triples :math:`(a, b, c)` of messages
    (detached, so it shapes the operator, not the embeddings) and the loss is
    ``assoc_weight`` times the mean of :math:`\|(a\oplus b)\oplus c - a\oplus(b\oplus c)\|^2`.
    wlkit's Lightning module adds it to the training loss.

    Parameters
    ----------
    dim : int
        Width of the messages and the output.
    order : {"sorted", "input"}
        Leaf order within a neighbourhood (see above).
    assoc_weight : float
        Weight of the associativity regulariser; 0 switches it off.
    assoc_samples : int
        Triples sampled per forward pass for the regulariser.

    Examples
    --------
    >>> import dgl, torch
    >>> g = dgl.graph(([0, 1, 2, 3], [4, 4, 4, 4]), num_nodes=5)  # node 4 has 4 neighbours
    >>> lcm = LCMAggregator(8)
    >>> x = torch.randn(4, 8)
    >>> out = lcm(g, x)
    >>> out.shape, torch.equal(out[0], lcm.identity.detach())
    (torch.Size([5, 8]), True)
    >>> torch.allclose(lcm(g, x[[2, 0, 3, 1]])[4], out[4])  # any neighbour order
    True
    """

    def __init__(self, dim: int, order: str = "sorted", assoc_weight: float = 0.0,
                 assoc_samples: int = 256):
        super().__init__(dim)
        # ranges and choices are checked once, by the record's Param schema
        self.order = order
        self.assoc_weight = float(assoc_weight)
        self.assoc_samples = int(assoc_samples)
        self.combine = CommutativeGRU(dim)
        self.identity = nn.Parameter(torch.zeros(dim))
        # A fixed direction for the canonical leaf order: the same in every instance and
        # after reloading (seeded), so it is not saved in the state dict.
        direction = torch.randn(dim, generator=torch.Generator().manual_seed(0xC0FFEE))
        self.register_buffer("direction", direction.double(), persistent=False)
        self._triples: Tensor | None = None

    def _key(self, values: Tensor) -> Tensor | None:
        if self.order != "sorted":
            return None
        return values.detach().double() @ self.direction.double()

    def reduce(self, graph: dgl.DGLGraph, messages: Tensor) -> Tensor:
        # One sort by (destination, key), rather than grouping and then sorting again.
        order, lengths = in_edge_order(graph, self._key(messages))
        return self._tree(messages[order], lengths)

    def reduce_segments(self, values: Tensor, lengths: Tensor) -> Tensor:
        key = self._key(values)
        if key is not None:
            values = values[lexsort(segment_ids(lengths, values.shape[0]), key)]
        return self._tree(values, lengths)

    def _tree(self, values: Tensor, lengths: Tensor) -> Tensor:
        self._sample_triples(values)
        return tree_reduce(values, lengths, self.combine.adjacent, self.identity)

    def _sample_triples(self, values: Tensor) -> None:
        self._triples = None
        if self.training and self.assoc_weight > 0 and values.shape[0] > 0:
            index = torch.randint(values.shape[0], (3, self.assoc_samples),
                                  device=values.device)
            self._triples = values.detach()[index]

    def associativity_gap(self, a: Tensor, b: Tensor, c: Tensor) -> Tensor:
        r"""Mean of :math:`\|(a\oplus b)\oplus c - a\oplus(b\oplus c)\|^2` over the rows."""
        left = self.combine(self.combine(a, b), c)
        right = self.combine(a, self.combine(b, c))
        return (left - right).pow(2).sum(-1).mean()

    def auxiliary_loss(self) -> Tensor | None:
        """``assoc_weight`` times the associativity gap on the triples of the last training
        forward pass; None in eval mode or when the regulariser is off."""
        if self._triples is None:
            return None
        return self.assoc_weight * self.associativity_gap(*self._triples)

    def extra_repr(self) -> str:
        return (f"dim={self.dim}, order={self.order!r}, assoc_weight={self.assoc_weight:g}, "
                f"assoc_samples={self.assoc_samples}")


LCM_RECORD = AggregatorRecord(
    name="lcm", factory=LCMAggregator,
    summary="Learnable commutative monoid: balanced binary tree of a commutative "
            "GRU operator, depth ceil(log2 deg) (Ong & Velickovic, 2022).",
    params=(
        Param("order", str, "sorted", "leaf order: sorted (canonical, invariant) or "
              "input (edge order, as in the paper)", choices=ORDERS),
        Param("assoc_weight", float, 0.0, "weight of the associativity regulariser "
              "(0 = off)", minimum=0.0),
        Param("assoc_samples", int, 256, "triples sampled per forward pass for the "
              "regulariser", minimum=1),
    ),
    expressivity="1-WL",
    approximate=LCM_APPROXIMATE)


RECORDS: tuple[AggregatorRecord, ...] = (LCM_RECORD,)
"""This module's records, in registration order."""
