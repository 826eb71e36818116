"""wlkit.segment_reduce and the basic readouts on it equal DGL's segment_reduce, values and
gradients, with no host sync (issue 21)."""

from __future__ import annotations

import dgl
import pytest
import torch

from wlkit import segment_ids, segment_reduce
from wlkit.plugins.readouts.basic import SegmentReadout
from wlkit.testing import DeviceAudit


@pytest.mark.parametrize("op", ["sum", "mean", "max", "min"])
def test_equal_to_dgl_segment_reduce_with_gradients(op):
    torch.manual_seed(0)
    graphs = [dgl.rand_graph(n, n) for n in (4, 0, 7, 1, 0)]  # graphs without nodes too
    g = dgl.batch(graphs)
    feats = torch.randn(g.num_nodes(), 5, dtype=torch.float64, requires_grad=True)
    ref_feats = feats.detach().clone().requires_grad_()
    out = SegmentReadout(5, op)(g, feats)
    ref = dgl.ops.segment_reduce(g.batch_num_nodes(), ref_feats, op)
    assert out.shape == (5, 5)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    assert out[1].abs().sum() == 0 and out[4].abs().sum() == 0
    weights = torch.randn_like(out)
    (out * weights).sum().backward()
    (ref * weights).sum().backward()
    torch.testing.assert_close(feats.grad, ref_feats.grad, rtol=0, atol=1e-12)


def test_float32_mean_matches_to_float_tolerance():
    g = dgl.batch([dgl.rand_graph(n, n) for n in (13, 30, 9)])
    feats = torch.randn(g.num_nodes(), 300)
    torch.testing.assert_close(SegmentReadout(300, "mean")(g, feats),
                               dgl.ops.segment_reduce(g.batch_num_nodes(), feats, "mean"))


@pytest.mark.parametrize("op", ["sum", "mean", "max", "min"])
def test_no_host_sync_forward_or_backward(op):
    counts = torch.tensor([3, 0, 2, 1])
    rows = torch.randn(6, 4, requires_grad=True)
    with DeviceAudit() as audit, audit.phase("step"):
        segment_reduce(counts, rows, op).square().sum().backward()
    assert [e for e in audit.events if e.kind == "sync"] == []
    with DeviceAudit() as audit, audit.phase("step"):  # DGL's op: offsets[-1] in backward
        dgl.ops.segment_reduce(counts, rows, op).square().sum().backward()
    assert any(e.kind == "sync" for e in audit.events)


@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_send_the_gradient_to_one_row_as_dgl_does(op):
    rows = torch.tensor([[1.0, 2.0], [1.0, 0.0], [3.0, 3.0]], requires_grad=True)
    segment_reduce(torch.tensor([2, 1]), rows, op).sum().backward()
    ref = rows.detach().clone().requires_grad_()
    dgl.ops.segment_reduce(torch.tensor([2, 1]), ref, op).sum().backward()
    assert torch.equal(rows.grad, ref.grad)
    assert rows.grad[:2, 0].sum() == 1  # the tie gets one gradient, not two


def test_half_precision_reduces_in_float32_and_bad_ops_are_named():
    out = segment_reduce(torch.tensor([2, 1]), torch.ones(3, 2, dtype=torch.bfloat16), "max")
    assert out.dtype == torch.float32
    with pytest.raises(ValueError, match="op must be sum, mean, max or min, got 'prod'"):
        segment_reduce(torch.tensor([1]), torch.ones(1, 2), "prod")


def test_segment_ids():
    assert segment_ids(torch.tensor([2, 0, 3]), 5).tolist() == [0, 0, 2, 2, 2]
