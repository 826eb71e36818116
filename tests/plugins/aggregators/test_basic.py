from __future__ import annotations

import dgl
import pytest
import torch

from wlkit import Aggregator, get_registry
from wlkit.model.build import instantiate
from wlkit.plugins.aggregators import SumAggregator


def random_graph(n=7, m=15, seed=0, isolated=True):
    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(0, n - 1 if isolated else n, (m,), generator=gen)
    dst = torch.randint(0, n - 1 if isolated else n, (m,), generator=gen)
    return dgl.graph((src, dst), num_nodes=n)  # node n-1 has no in-edges when isolated


REDUCE = {
    "sum": lambda x: x.sum(0),
    "mean": lambda x: x.mean(0),
    "max": lambda x: x.max(0).values,
    "min": lambda x: x.min(0).values,
    "std": lambda x: x.var(0, unbiased=False).clamp(min=1e-5).sqrt(),
    "softmax": lambda x: (torch.softmax(x, 0) * x).sum(0),  # t = 1
    "powermean": lambda x: x.clamp(0, 100).mean(0),  # p = 1
}


def naive(op: str, graph, messages):
    _, dst = graph.edges()
    out = torch.zeros(graph.num_nodes(), messages.shape[1])
    for v in range(graph.num_nodes()):
        rows = messages[dst == v]
        if len(rows):
            out[v] = REDUCE[op](rows)
    return out


@pytest.mark.parametrize("op", sorted(REDUCE))
def test_matches_a_per_node_loop(op):
    g = random_graph()
    messages = torch.randn(g.num_edges(), 4)
    if op == "powermean":
        messages = messages.abs() + 0.1
    agg = instantiate("aggregator", {"name": op}, 4)
    expected = naive(op, g, messages)
    torch.testing.assert_close(agg(g, messages), expected)
    src, _ = g.edges()
    feats = torch.randn(g.num_nodes(), 4).abs() + 0.1
    torch.testing.assert_close(agg.aggregate_neighbours(g, feats), naive(op, g, feats[src]))


@pytest.mark.parametrize("op", sorted(REDUCE))
def test_empty_neighbourhood_is_zero_not_inf(op):
    g = random_graph()
    out = instantiate("aggregator", {"name": op}, 3)(g, torch.randn(g.num_edges(), 3) - 10)
    assert torch.isfinite(out).all()
    assert torch.equal(out[-1], torch.zeros(3))


def test_std_is_safe_for_large_means_and_constant_neighbourhoods():
    g = dgl.graph(([0, 1, 2, 3], [4, 4, 5, 5]), num_nodes=6)
    big = torch.tensor([[1e4 + 1.0], [1e4 - 1.0], [7.0], [7.0]], requires_grad=True)
    out = instantiate("aggregator", {"name": "std"}, 1)(g, big)
    assert out[4, 0].item() == pytest.approx(1.0, rel=1e-5)
    assert out[5, 0].item() == pytest.approx(1e-5 ** 0.5)  # floor, not 0/NaN
    out.sum().backward()
    assert torch.isfinite(big.grad).all()


def test_softmax_and_powermean_interpolate_between_mean_and_max():
    g = dgl.graph(([0, 1, 2], [3, 3, 3]), num_nodes=4)
    x = torch.tensor([[1.0], [2.0], [6.0]])
    mean = instantiate("aggregator", {"name": "softmax", "t": 0.0}, 1)(g, x)[3]
    hot = instantiate("aggregator", {"name": "softmax", "t": 50.0}, 1)(g, x)[3]
    assert mean.item() == pytest.approx(3.0) and hot.item() == pytest.approx(6.0, abs=1e-4)
    high = instantiate("aggregator", {"name": "powermean", "p": 40.0}, 1)(g, x)[3]
    assert 5.5 < high.item() <= 6.0
    learnable = instantiate("aggregator", {"name": "powermean"}, 1)
    assert [n for n, _ in learnable.named_parameters()] == ["p"]


def test_shape_errors_are_clear():
    g = random_graph()
    agg = instantiate("aggregator", {"name": "sum"}, 4)
    with pytest.raises(ValueError, match="width 3, expected 4"):
        agg(g, torch.randn(g.num_edges(), 3))
    with pytest.raises(ValueError, match="rows"):
        agg(g, torch.randn(g.num_edges() + 1, 4))


def test_builtins_are_registered_with_facts_and_documented_params():
    registry = get_registry()
    names = set(registry.names("aggregator"))
    assert {"sum", "mean", "max", "min", "std", "softmax", "powermean", "pna", "deepsets",
            "genpool", "lcm", "recurrent"} <= names
    assert registry.get("aggregator", "sum").expressivity == "1-WL"
    for entry in registry.entries("aggregator"):
        if entry.source != "wlkit":
            continue
        record = entry.record
        assert record.summary and all(p.doc for p in record.params), record.name
        assert not record.stochastic, record.name


def test_the_old_import_path_still_works():
    from wlkit.plugins.aggregators import MaxAggregator, MeanAggregator

    assert all(issubclass(cls, Aggregator)
               for cls in (SumAggregator, MeanAggregator, MaxAggregator))
    assert MaxAggregator.__module__ == "wlkit.plugins.aggregators.basic"
