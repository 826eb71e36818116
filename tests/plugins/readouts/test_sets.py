from __future__ import annotations

import dgl
import pytest
import torch

from wlkit import WlkitError
from wlkit.model.build import instantiate
from wlkit.plugins.aggregators import LCMAggregator


def test_lcm_readout_reduces_each_graph_like_the_aggregator_reduces_a_neighbourhood():
    torch.manual_seed(0)
    graphs = [dgl.rand_graph(n, 0) for n in (5, 1, 12)]
    feats = torch.randn(18, 4)
    readout = instantiate("readout", {"name": "lcm"}, 4)
    assert isinstance(readout.aggregator, LCMAggregator)
    out = readout(dgl.batch(graphs), feats)
    star = dgl.graph((torch.arange(12), torch.full((12,), 12)), num_nodes=13)
    torch.testing.assert_close(out[2], readout.aggregator(star, feats[6:])[12])


def test_out_dims_of_set2set_and_set_transformer():
    graph = dgl.batch([dgl.rand_graph(4, 3), dgl.rand_graph(2, 1)])
    feats = torch.randn(6, 8)
    s2s = instantiate("readout", {"name": "set2set"}, 8)
    assert s2s.out_dim == 16 and s2s(graph, feats).shape == (2, 16)
    st = instantiate("readout", {"name": "set_transformer", "seeds": 3, "heads": 2,
                                 "block": "isab", "inducing": 4}, 8)
    assert st.out_dim == 24 and st(graph, feats).shape == (2, 24)


def test_target_readout_returns_the_marked_node_and_explains_a_missing_mark():
    g = dgl.batch([dgl.graph(([1, 2], [0, 0])), dgl.graph(([0], [1]))])
    g.ndata["target"] = torch.tensor([1, 0, 0, 0, 1])
    feats = torch.arange(10.0).view(5, 2)
    readout = instantiate("readout", {"name": "target"}, 2)
    torch.testing.assert_close(readout(g, feats), feats[[0, 4]])
    with pytest.raises(WlkitError, match="ndata\\['centre'\\]"):
        instantiate("readout", {"name": "target", "key": "centre"}, 2)(g, feats)
