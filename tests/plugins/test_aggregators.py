from __future__ import annotations

import dgl
import pytest
import torch

from wlkit import get_registry
from wlkit.model.build import instantiate


def random_graph(n=7, m=15, seed=0, isolated=True):
    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(0, n - 1 if isolated else n, (m,), generator=gen)
    dst = torch.randint(0, n - 1 if isolated else n, (m,), generator=gen)
    return dgl.graph((src, dst), num_nodes=n)  # node n-1 has no in-edges when isolated


def naive(op: str, graph, messages):
    _, dst = graph.edges()
    out = torch.zeros(graph.num_nodes(), messages.shape[1])
    for v in range(graph.num_nodes()):
        rows = messages[dst == v]
        if len(rows):
            out[v] = {"sum": rows.sum(0), "mean": rows.mean(0),
                      "max": rows.max(0).values}[op]
    return out


@pytest.mark.parametrize("op", ["sum", "mean", "max"])
def test_matches_a_per_node_loop(op):
    g = random_graph()
    messages = torch.randn(g.num_edges(), 4)
    agg = instantiate("aggregator", {"name": op}, 4)
    expected = naive(op, g, messages)
    torch.testing.assert_close(agg(g, messages), expected)
    src, _ = g.edges()
    feats = torch.randn(g.num_nodes(), 4)
    torch.testing.assert_close(agg.aggregate_neighbours(g, feats), naive(op, g, feats[src]))


@pytest.mark.parametrize("op", ["sum", "mean", "max"])
def test_empty_neighbourhood_is_zero_not_inf(op):
    g = random_graph()
    out = instantiate("aggregator", {"name": op}, 3)(g, torch.randn(g.num_edges(), 3) - 10)
    assert torch.isfinite(out).all()
    assert torch.equal(out[-1], torch.zeros(3))


@pytest.mark.parametrize("op", ["sum", "mean", "max"])
def test_permutation_equivariant(op):
    g = random_graph(isolated=False)
    messages = torch.randn(g.num_edges(), 5)
    agg = instantiate("aggregator", {"name": op}, 5)
    perm = torch.randperm(g.num_nodes())
    inverse = torch.argsort(perm)
    src, dst = g.edges()
    edge_order = torch.randperm(g.num_edges())
    h = dgl.graph((inverse[src][edge_order], inverse[dst][edge_order]), num_nodes=g.num_nodes())
    torch.testing.assert_close(agg(h, messages[edge_order])[inverse], agg(g, messages))


def test_shape_errors_are_clear():
    g = random_graph()
    agg = instantiate("aggregator", {"name": "sum"}, 4)
    with pytest.raises(ValueError, match="width 3, expected 4"):
        agg(g, torch.randn(g.num_edges(), 3))
    with pytest.raises(ValueError, match="rows"):
        agg(g, torch.randn(g.num_edges() + 1, 4))


def test_builtins_are_registered_with_facts():
    registry = get_registry()
    assert {"sum", "mean", "max"} <= set(registry.names("aggregator"))
    assert registry.get("aggregator", "sum").expressivity == "1-WL"
