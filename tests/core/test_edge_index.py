"""``wlkit.edge_index``: ``graph.edges()`` computed once per graph structure, never stale."""

from __future__ import annotations

import doctest

import dgl
import torch

import wlkit.blocks as graph_model
from wlkit import edge_index
from wlkit.plugins.aggregators import SumAggregator
from wlkit.plugins.layers import GINELayer


def _same(graph):
    src, dst = edge_index(graph)
    ref_src, ref_dst = graph.edges()
    assert src.dtype == dst.dtype == torch.int64
    assert torch.equal(src, ref_src.long()) and torch.equal(dst, ref_dst.long())
    return src, dst


def test_equal_to_edges_and_cached():
    g = dgl.batch([dgl.rand_graph(5, 9), dgl.rand_graph(3, 0), dgl.rand_graph(4, 7)])
    src, dst = _same(g)
    again = edge_index(g)
    assert again[0] is src and again[1] is dst
    with g.local_scope():
        g.ndata["h"] = torch.zeros(g.num_nodes())
        assert edge_index(g)[0] is src


def test_int32_graph_gives_int64():
    _same(dgl.rand_graph(6, 10).int())


def test_structural_changes_are_seen():
    g = dgl.graph(([0, 1], [1, 2]), num_nodes=4)
    _same(g)
    g.add_edges([3, 2], [0, 3])
    assert _same(g)[0].tolist() == [0, 1, 3, 2]
    g.remove_edges([0])
    assert _same(g)[0].tolist() == [1, 3, 2]
    g.add_nodes(2)
    g.remove_nodes([1])
    _same(g)


def test_copies_and_derived_graphs_get_their_own():
    g = dgl.graph(([0, 1, 2], [1, 2, 0]))
    src, _ = _same(g)
    for other in (dgl.add_self_loop(g), dgl.reverse(g), g.clone(), g.formats(["coo", "csr"]),
                  g.int(), dgl.batch([g, g])):
        _same(other)
    assert edge_index(g)[0] is src


def test_gine_layer_unchanged():
    """GINE with the cached indices equals the formula on graph.edges()."""
    torch.manual_seed(0)
    g = dgl.batch([dgl.rand_graph(6, 14), dgl.rand_graph(4, 6)])
    layer = GINELayer(8, SumAggregator(8), edge_encoder=lambda: torch.nn.Linear(3, 8)).eval()
    h, e = torch.randn(g.num_nodes(), 8), torch.randn(g.num_edges(), 3)
    src, dst = (t.long() for t in g.edges())
    messages = torch.relu(h[src] + layer.edge_encoder(e))
    agg = torch.zeros_like(h).index_add_(0, dst, messages)
    expected = layer.mlp((1 + layer.eps) * h + agg)
    torch.testing.assert_close(layer(g, h, e), expected)
    torch.testing.assert_close(layer(g, h, e), expected)  # second call: cached indices


def test_docstring_example():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner()
    for test in finder.find(graph_model.edge_index, "edge_index",
                            globs={"edge_index": edge_index}):
        runner.run(test)
    assert runner.failures == 0 and runner.tries > 0
