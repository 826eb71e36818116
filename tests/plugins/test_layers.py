from __future__ import annotations

import dgl
import pytest
import torch
from dgl.nn import GraphConv, SAGEConv

from wlkit.model.build import instantiate


def test_gin_is_mlp_of_self_plus_neighbour_sum():
    g = dgl.rand_graph(6, 14)
    h = torch.randn(6, 4)
    layer = instantiate("layer", {"name": "gin", "eps": 0.25}, 4,
                        instantiate("aggregator", {"name": "sum"}, 4)).eval()
    src, dst = g.edges()
    neighbours = torch.zeros(6, 4).index_add_(0, dst, h[src])
    torch.testing.assert_close(layer(g, h), layer.mlp(1.25 * h + neighbours))


def test_gin_activation_is_the_mlps_nonlinearity():
    agg = instantiate("aggregator", {"name": "sum"}, 4)
    relu = instantiate("layer", {"name": "gin"}, 4, agg)
    tanh = instantiate("layer", {"name": "gin", "activation": "tanh"}, 4, agg)
    assert any(isinstance(m, torch.nn.ReLU) for m in relu.mlp.modules())
    assert any(isinstance(m, torch.nn.Tanh) for m in tanh.mlp.modules())
    assert not any(isinstance(m, torch.nn.ReLU) for m in tanh.mlp.modules())


def test_gin_learn_eps_is_a_parameter():
    layer = instantiate("layer", {"name": "gin", "learn_eps": True}, 4,
                        instantiate("aggregator", {"name": "max"}, 4))
    assert any(name == "eps" for name, _ in layer.named_parameters())


def test_gcn_with_sum_equals_kipf_welling():
    g = dgl.to_bidirected(dgl.rand_graph(8, 12))
    h = torch.randn(8, 5)
    ours = instantiate("layer", {"name": "gcn"}, 5,
                       instantiate("aggregator", {"name": "sum"}, 5))
    reference = GraphConv(5, 5, norm="both", bias=True)
    with torch.no_grad():
        reference.weight.copy_(ours.linear.weight.T)
        reference.bias.copy_(ours.bias)
    torch.testing.assert_close(ours(g, h), reference(dgl.add_self_loop(g), h))


def test_gcn_degrees_are_exact_under_a_16_bit_default_dtype():
    # bf16-true sets the default dtype to bfloat16, whose sums of ones stop at 256: the
    # degrees must still be counted exactly (a hub of in-degree 1,000)
    g = dgl.graph((torch.arange(1, 1001), torch.zeros(1000, dtype=torch.int64)),
                  num_nodes=1001)
    h = torch.ones(1001, 4)
    layer = instantiate("layer", {"name": "gcn"}, 4,
                        instantiate("aggregator", {"name": "sum"}, 4))
    reference = layer(g, h)
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        low = layer.to(torch.bfloat16)(g, h.to(torch.bfloat16))
    finally:
        torch.set_default_dtype(before)
    torch.testing.assert_close(low.float(), reference, rtol=2e-2, atol=2e-2)


def test_graphconv_with_mean_equals_dgl_sage_mean():
    # k-GNN's GraphConv(norm=True), the RNI paper's layer: W1 h_v + W2 mean(h_u) + b, which is
    # DGL's SAGEConv with the mean aggregator
    g = dgl.to_bidirected(dgl.rand_graph(9, 15))
    h = torch.randn(9, 5)
    ours = instantiate("layer", {"name": "graphconv"}, 5,
                       instantiate("aggregator", {"name": "mean"}, 5))
    reference = SAGEConv(5, 5, "mean")
    with torch.no_grad():
        reference.fc_self.weight.copy_(ours.root.weight)
        reference.fc_neigh.weight.copy_(ours.neighbours.weight)
        reference.fc_self.bias.copy_(ours.root.bias)
    torch.testing.assert_close(ours(g, h), reference(g, h))


def test_graphconv_with_sum_is_root_plus_neighbour_sum():
    g = dgl.rand_graph(6, 14)
    h = torch.randn(6, 4)
    layer = instantiate("layer", {"name": "graphconv", "bias": False}, 4,
                        instantiate("aggregator", {"name": "sum"}, 4))
    src, dst = g.edges()
    neighbours = torch.zeros(6, 4).index_add_(0, dst, h[src])
    assert layer.root.bias is None
    torch.testing.assert_close(layer(g, h), h @ layer.root.weight.T
                               + neighbours @ layer.neighbours.weight.T)


@pytest.mark.parametrize("layer", ["gin", "gcn", "graphconv"])
@pytest.mark.parametrize("agg", ["sum", "mean", "max"])
def test_layers_accept_every_aggregator_and_are_equivariant(layer, agg):
    g = dgl.to_bidirected(dgl.rand_graph(7, 10))
    h = torch.randn(7, 6)
    module = instantiate("layer", {"name": layer}, 6,
                         instantiate("aggregator", {"name": agg}, 6)).eval()
    perm = torch.randperm(7)
    inverse = torch.argsort(perm)
    src, dst = g.edges()
    permuted = dgl.graph((inverse[src], inverse[dst]), num_nodes=7)
    torch.testing.assert_close(module(permuted, h[perm]), module(g, h)[perm])
