"""Sum and mean readouts (index_add_ over each node's graph) equal DGL's segment_reduce."""

from __future__ import annotations

import dgl
import pytest
import torch

from wlkit.plugins.readouts.basic import SegmentReadout


@pytest.mark.parametrize("op", ["sum", "mean"])
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
