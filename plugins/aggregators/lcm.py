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

from typing import Any

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


class _AdjacentPairs(torch.autograd.Function):
    r"""``0.5 [GRUCell(l, r) + GRUCell(r, l)]`` for the adjacent rows ``l = rows[2i]``,
    ``r = rows[2i+1]``, with ``nn.GRUCell``'s equations and a hand-written backward.

    Why: with autograd, the cell's split gates, the pair swap and the final mean cost the
    backward a concatenation, a flip and a gather per level; here the two orientations are
    kept as two halves of one ``[2, P, .]`` tensor (half 0: input ``l``, state ``r``; half 1:
    input ``r``, state ``l``), the pairs are read as strided views (no copy), and the
    gradient is assembled in place. Same products as ``nn.GRUCell`` (two per orientation in
    the forward pass, four in the backward); first-order gradients only.
    """

    @staticmethod
    def forward(ctx: Any, rows: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor,
                b_hh: Tensor) -> Tensor:
        dim = rows.shape[1]
        left, right = rows[0::2], rows[1::2]
        gi = rows.new_empty((2, left.shape[0], 3 * dim))
        gh = torch.empty_like(gi)
        torch.addmm(b_ih, left, w_ih.t(), out=gi[0])
        torch.addmm(b_ih, right, w_ih.t(), out=gi[1])
        torch.addmm(b_hh, right, w_hh.t(), out=gh[0])
        torch.addmm(b_hh, left, w_hh.t(), out=gh[1])
        reset = torch.add(gi[..., :dim], gh[..., :dim]).sigmoid_()
        update = torch.add(gi[..., dim:2 * dim], gh[..., dim:2 * dim]).sigmoid_()
        gh_new = gh[..., 2 * dim:]
        new = torch.addcmul(gi[..., 2 * dim:], reset, gh_new).tanh_()
        state = torch.stack((right, left))
        ctx.save_for_backward(rows, state, w_ih, w_hh, reset, update, new, gh_new)
        return torch.lerp(new, state, update).sum(0).mul_(0.5)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        rows, state, w_ih, w_hh, reset, update, new, gh_new = ctx.saved_tensors
        dim, aten = rows.shape[1], torch.ops.aten
        grad_out = grad.mul(0.5).expand(2, *grad.shape)  # both orientations, no copy
        d_gi = rows.new_empty((2, grad.shape[0], 3 * dim))
        d_gh = torch.empty_like(d_gi)
        through_state = grad_out * update
        d_new = aten.tanh_backward.grad_input(grad_out - through_state, new,
                                              grad_input=d_gi[..., 2 * dim:])
        aten.sigmoid_backward.grad_input(d_new * gh_new, reset, grad_input=d_gi[..., :dim])
        aten.sigmoid_backward.grad_input(grad_out * (state - new), update,
                                         grad_input=d_gi[..., dim:2 * dim])
        d_gh[..., :2 * dim] = d_gi[..., :2 * dim]
        torch.mul(d_new, reset, out=d_gh[..., 2 * dim:])
        need = ctx.needs_input_grad
        d_rows = d_w_ih = d_w_hh = d_b_ih = d_b_hh = None
        if need[0]:  # l is the input of half 0 and the state of half 1; r the reverse
            d_rows = torch.empty_like(rows)
            d_rows[0::2] = torch.addmm(through_state[1], d_gi[0], w_ih).addmm_(d_gh[1], w_hh)
            d_rows[1::2] = torch.addmm(through_state[0], d_gi[1], w_ih).addmm_(d_gh[0], w_hh)
        if need[1]:
            d_w_ih = torch.mm(d_gi[0].t(), rows[0::2]).addmm_(d_gi[1].t(), rows[1::2])
        if need[2]:
            d_w_hh = d_gh.flatten(0, 1).t() @ state.flatten(0, 1)
        if need[3]:
            d_b_ih = d_gi.sum((0, 1))
        if need[4]:
            d_b_hh = d_gh.sum((0, 1))
        return d_rows, d_w_ih, d_w_hh, d_b_ih, d_b_hh


class CommutativeGRU(nn.Module):
    r"""The binary operator :math:`a \oplus b = \tfrac12[\mathrm{GRUCell}(a, b) +
    \mathrm{GRUCell}(b, a)]`, commutative by construction (input ``a``, hidden state ``b``).

    :meth:`forward` runs both orders of all pairs through one GRU cell evaluation
    (:func:`wlkit.gru_cell`: ``nn.GRUCell``'s parameters and equations); :meth:`adjacent`,
    the tree's operator, runs the same equations with a hand-written backward.

    Examples
    --------
    >>> import torch
    >>> op = CommutativeGRU(4)
    >>> a, b = torch.randn(3, 4), torch.randn(3, 4)
    >>> torch.allclose(op(a, b), op(b, a))
    True
    >>> rows = torch.stack([a, b], 1).reshape(6, 4)  # a[0], b[0], a[1], b[1], ...
    >>> torch.allclose(op.adjacent(rows), op(a, b), atol=1e-6)
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
        r"""``rows[2i] ⊕ rows[2i+1]`` for every ``i``: [2P, dim] -> [P, dim]."""
        cell = self.cell
        if torch.is_autocast_enabled() or torch.is_autocast_cpu_enabled():
            # under autocast the products run in bf16/fp16: let autograd track the dtypes
            pairs = rows.view(-1, 2, rows.shape[1])
            out = gru_cell(rows, pairs.flip(1).reshape(rows.shape), cell)
            return out.view(pairs.shape).mean(1)
        return _AdjacentPairs.apply(rows, cell.weight_ih, cell.weight_hh, cell.bias_ih,
                                    cell.bias_hh)


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
