from __future__ import annotations

import dgl
import pytest
import torch

from wlkit.model.build import instantiate


@pytest.mark.parametrize("op", ["sum", "mean", "max", "min"])
def test_per_graph_pooling_and_batch_independence(op):
    graphs = [dgl.rand_graph(n, n) for n in (3, 5, 1)]
    feats = [torch.randn(g.num_nodes(), 4) for g in graphs]
    readout = instantiate("readout", {"name": op}, 4)
    batched = readout(dgl.batch(graphs), torch.cat(feats))
    reduce = {"sum": lambda x: x.sum(0), "mean": lambda x: x.mean(0),
              "max": lambda x: x.max(0).values, "min": lambda x: x.min(0).values}[op]
    for i, f in enumerate(feats):
        torch.testing.assert_close(batched[i], reduce(f))
        torch.testing.assert_close(readout(dgl.batch([graphs[i]]), f)[0], batched[i])
    perm = torch.randperm(5)
    torch.testing.assert_close(readout(dgl.batch([graphs[1]]), feats[1][perm])[0], batched[1])


def test_wrong_width():
    readout = instantiate("readout", {"name": "sum"}, 4)
    with pytest.raises(ValueError, match="width 2, expected 4"):
        readout(dgl.rand_graph(3, 3), torch.randn(3, 2))


def test_sum_and_max_is_sum_then_max_per_graph():
    graphs = [dgl.rand_graph(n, n) for n in (3, 5, 1, 0)]
    feats = [torch.randn(g.num_nodes(), 4) for g in graphs]
    readout = instantiate("readout", {"name": "sum_and_max"}, 4)
    assert readout.out_dim == 8
    out = readout(dgl.batch(graphs), torch.cat(feats))
    assert out.shape == (4, 8)
    for i, f in enumerate(feats[:3]):
        torch.testing.assert_close(out[i], torch.cat([f.sum(0), f.max(0).values]))
    assert out[3].abs().sum() == 0  # a graph without nodes pools to zeros


def test_sum_and_max_sees_what_the_sum_cancels():
    # two node sets with the same sum: a sum readout cannot tell them apart, the max can
    g = dgl.rand_graph(3, 0)
    a = torch.tensor([[1.0], [2.0], [3.0]])
    b = torch.tensor([[2.0], [2.0], [2.0]])
    plain = instantiate("readout", {"name": "sum"}, 1)
    both = instantiate("readout", {"name": "sum_and_max"}, 1)
    torch.testing.assert_close(plain(g, a), plain(g, b))
    assert not torch.allclose(both(g, a), both(g, b))
