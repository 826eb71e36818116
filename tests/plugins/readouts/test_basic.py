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
