from __future__ import annotations

import dgl
import torch

from wlkit.model.build import instantiate


def test_is_rho_of_the_sum_of_phi():
    torch.manual_seed(0)
    g = dgl.rand_graph(6, 20)
    x = torch.randn(20, 4)
    agg = instantiate("aggregator", {"name": "deepsets", "hidden": 16}, 4)
    expected = agg.rho(torch.zeros(6, 4).index_add_(0, g.edges()[1], agg.phi(x)))
    torch.testing.assert_close(agg(g, x), expected)
    lengths = g.in_degrees()
    order = torch.argsort(g.edges()[1], stable=True)
    torch.testing.assert_close(agg.reduce_segments(x[order], lengths), expected)


def test_zero_layers_is_a_plain_sum():
    g = dgl.rand_graph(5, 9)
    x = torch.randn(9, 3)
    agg = instantiate("aggregator", {"name": "deepsets", "phi_layers": 0, "rho_layers": 0}, 3)
    torch.testing.assert_close(agg(g, x), dgl.ops.copy_e_sum(g, x))
