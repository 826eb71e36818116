"""The subgraph-policy contract: cached prepare, collate with index shifts, model half."""

from __future__ import annotations

import types

import dgl
import torch
from torch import nn

from tests.conftest import TINY_PIPELINE
from wlkit import (
    MessagePassing,
    ModelParts,
    SubgraphPolicy,
    SubgraphPolicyRecord,
    hookimpl,
    node_offsets,
    registered_plugin,
)
from wlkit.pipeline import load_pipeline
from wlkit.runner import run_pipeline

CALLS = {"prepare": 0}


class MarkHighestDegree(SubgraphPolicy):
    """Toy policy: mark each graph's first node of maximal degree, then run the stack."""

    def prepare(self, graph):
        CALLS["prepare"] += 1
        return {"root": graph.in_degrees().argmax().view(1)}

    def collate(self, graphs, prepared):
        return torch.cat([p["root"] for p in prepared]) + node_offsets(graphs)

    def build(self, parts: ModelParts) -> nn.Module:
        return _Body(parts)


class _Body(nn.Module):
    def __init__(self, parts):
        super().__init__()
        self.node_input = parts.node_input
        self.mark = nn.Parameter(torch.ones(parts.hidden))
        self.stack = MessagePassing(parts)
        self.readout = parts.make_readout(parts.hidden)
        self.out_dim = self.readout.out_dim

    def forward(self, graph, roots):
        h = self.node_input(graph)
        mark = torch.zeros(graph.num_nodes(), 1)
        mark[roots] = 1.0
        return self.readout(graph, self.stack(graph, h + mark * self.mark))


plugin = types.SimpleNamespace(wlkit_subgraph_policies=hookimpl(
    lambda: [SubgraphPolicyRecord(name="mark_max_degree", factory=MarkHighestDegree,
                                  summary="toy", expressivity=">1-WL")]))


def test_node_offsets():
    graphs = [dgl.rand_graph(3, 2), dgl.rand_graph(5, 2), dgl.rand_graph(1, 0)]
    assert node_offsets(graphs).tolist() == [0, 3, 8]


def test_policy_runs_end_to_end_and_prepare_is_cached(tmp_path, write_pipeline):
    text = TINY_PIPELINE + "policy: mark_max_degree\n"
    with registered_plugin(plugin, "toy-policy"):
        pipeline = load_pipeline(write_pipeline(text))
        assert pipeline.data["policy"] == {"name": "mark_max_degree"}
        summary = run_pipeline(pipeline, out=tmp_path / "a", progress=False)
        first = CALLS["prepare"]
        assert first == 8  # one call per graph of wl_pairs
        run_pipeline(pipeline, out=tmp_path / "b", progress=False)
        assert CALLS["prepare"] == first  # second run reads the cache
    assert 0.0 <= summary["test_mean"] <= 1.0
