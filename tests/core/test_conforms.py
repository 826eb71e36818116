"""``wlkit.testing.assert_conforms`` names what failed, the separation check included."""

from __future__ import annotations

import types

import dgl
import pytest
import torch

from wlkit import Aggregator, AggregatorRecord, hookimpl, registered_plugin
from wlkit.testing import assert_conforms
from wlkit.tools.check import separation_failure


class TriangleSum(Aggregator):
    """Sum plus the node's triangle count: invariant, but stronger than the 1-WL it claims."""

    def reduce(self, graph, messages):
        adj = torch.zeros(graph.num_nodes(), graph.num_nodes())
        src, dst = graph.edges()
        adj[src.long(), dst.long()] = 1.0
        triangles = torch.diagonal(adj @ adj @ adj).unsqueeze(-1)
        return dgl.ops.copy_e_sum(graph, messages) + triangles.to(messages.dtype)


FIXTURES = types.SimpleNamespace(wlkit_aggregators=hookimpl(lambda: [
    AggregatorRecord(name="conforms_triangles", factory=TriangleSum,
                     summary="Counts triangles but claims 1-WL."),
]))


def test_a_separation_only_failure_names_the_pair_and_the_bound():
    with registered_plugin(FIXTURES, "wlkit-conforms-fixtures"):
        assert_conforms("aggregator", "conforms_triangles")  # the other checks pass
        with pytest.raises(AssertionError) as info:
            assert_conforms("aggregator", "conforms_triangles", separation=True)
    message = str(info.value)
    assert message.startswith("aggregator 'conforms_triangles' does not conform:\n  separation:")
    assert "'c6_vs_2c3'" in message and "declared bound 1-WL" in message, message
    assert "threshold" in message


@pytest.mark.parametrize("sep, expected", [
    (None, None),
    ({"beyond_bound": [], "bound": "1-WL"}, None),
    ({"error": "ValueError: boom"}, "the classic pairs could not be embedded: ValueError: boom"),
    ({"beyond_bound": ["a", "b"], "bound": "2-WL"}, "separates 'a', 'b', beyond its declared "
                                                    "bound 2-WL"),
])
def test_separation_failure_texts(sep, expected):
    assert separation_failure(sep) == expected
