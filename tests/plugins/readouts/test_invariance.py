"""Every readout whose record says permutation invariant is; every readout pools each graph
of a batch on its own."""

from __future__ import annotations

import dgl
import pytest
import torch

from tests.plugins.shapes import graph_shapes, relabel
from wlkit import get_registry
from wlkit.model.build import instantiate

DIM = 8
BATCH = graph_shapes()["mixed_batch"]
NAMES = sorted(get_registry().names("readout"))
INVARIANT = [e.record.name for e in get_registry().entries("readout")
             if e.record.permutation_invariant]


def marked(graph):
    """A copy of ``graph`` with ndata['target'] marking the first node of every graph."""
    graph = dgl.batch(dgl.unbatch(graph))  # a copy
    counts = graph.batch_num_nodes()
    mark = torch.zeros(graph.num_nodes(), dtype=torch.long)
    mark[torch.cumsum(counts, 0) - counts] = 1
    graph.ndata["target"] = mark
    return graph


def test_the_builtins_are_covered():
    assert {"sum", "mean", "max", "min", "deepsets", "attention", "set2set", "set_transformer",
            "lcm", "genpool", "target", "sum_and_max"} <= set(INVARIANT)


@pytest.mark.parametrize("name", INVARIANT)
def test_relabelling_nodes_leaves_each_graph_embedding_unchanged(name):
    torch.manual_seed(0)
    graph = marked(BATCH)
    readout = instantiate("readout", {"name": name}, DIM).eval()
    feats = torch.randn(graph.num_nodes(), DIM)
    other, new_of_old, _ = relabel(graph)
    with torch.no_grad():
        out = readout(graph, feats)
        moved = readout(other, feats[torch.argsort(new_of_old)])
    assert out.shape == (graph.batch_size, readout.out_dim) and torch.isfinite(out).all()
    torch.testing.assert_close(moved, out, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_each_graph_is_pooled_independently_of_the_batch(name):
    torch.manual_seed(0)
    graphs = dgl.unbatch(marked(BATCH))
    feats = [torch.randn(g.num_nodes(), DIM) for g in graphs]
    readout = instantiate("readout", {"name": name}, DIM).eval()
    with torch.no_grad():
        together = readout(dgl.batch(graphs), torch.cat(feats))
        for i, (g, f) in enumerate(zip(graphs, feats)):
            torch.testing.assert_close(readout(dgl.batch([g]), f)[0], together[i],
                                       rtol=1e-5, atol=1e-5)
