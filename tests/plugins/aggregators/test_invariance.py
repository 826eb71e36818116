"""Every aggregator whose record says permutation invariant is, on every graph shape."""

from __future__ import annotations

import pytest
import torch

from tests.plugins.shapes import graph_shapes, relabel
from wlkit import get_registry
from wlkit.model.build import instantiate

DIM = 6
SHAPES = graph_shapes()
# Edge relabelling changes float summation order; allow for rounding only.
INVARIANT = [e.record.name for e in get_registry().entries("aggregator")
             if e.record.permutation_invariant]


def test_the_builtins_are_covered():
    assert {"sum", "mean", "max", "min", "std", "softmax", "powermean", "pna", "deepsets",
            "genpool", "lcm"} <= set(INVARIANT)
    assert "recurrent" not in INVARIANT


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("name", INVARIANT)
def test_relabelling_nodes_and_edges_permutes_the_output(name, shape):
    torch.manual_seed(0)
    graph = SHAPES[shape]
    agg = instantiate("aggregator", {"name": name}, DIM).eval()
    messages = torch.randn(graph.num_edges(), DIM)
    feats = torch.randn(graph.num_nodes(), DIM).abs()  # non-negative: powermean's domain
    other, new_of_old, old_of_new_edge = relabel(graph)
    with torch.no_grad():
        out = agg(graph, messages)
        moved = agg(other, messages[old_of_new_edge])
        torch.testing.assert_close(moved[new_of_old], out, rtol=1e-5, atol=1e-5)
        assert torch.isfinite(out).all()
        out = agg.aggregate_neighbours(graph, feats)
        moved = agg.aggregate_neighbours(other, feats[torch.argsort(new_of_old)])
        torch.testing.assert_close(moved[new_of_old], out, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(get_registry().names("aggregator")))
def test_message_and_neighbour_paths_agree_and_backpropagate(name):
    torch.manual_seed(0)
    graph = SHAPES["mixed_batch"]
    agg = instantiate("aggregator", {"name": name}, DIM).eval()
    feats = torch.randn(graph.num_nodes(), DIM, requires_grad=True)
    src, _ = graph.edges()
    via_messages = agg(graph, feats[src.long()])
    torch.testing.assert_close(agg.aggregate_neighbours(graph, feats), via_messages)
    via_messages.square().sum().backward()
    assert torch.isfinite(feats.grad).all()
    grads = [p.grad for p in agg.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name", sorted(get_registry().names("aggregator")))
def test_nodes_without_in_edges_get_a_defined_value(name):
    graph = SHAPES["no_edges"]
    agg = instantiate("aggregator", {"name": name}, DIM)
    out = agg(graph, torch.zeros(0, DIM))
    assert out.shape == (5, DIM) and torch.isfinite(out).all()
    assert torch.allclose(out, out[:1].expand(5, -1))  # all the same: the empty value
