from __future__ import annotations

import dgl
import pytest
import torch

from tests.plugins.shapes import graph_shapes, relabel
from wlkit import WlkitError, get_registry
from wlkit.plugins.aggregators import RecurrentAggregator, pack_segments


@pytest.mark.parametrize("path", ["packed", "padded"])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_matches_one_rnn_call_per_node_in_edge_id_order(cell, path):
    torch.manual_seed(0)
    graph = dgl.rand_graph(8, 40)
    messages = torch.randn(40, 5)
    agg = RecurrentAggregator(5, cell=cell, cpu_path=path)
    out = agg(graph, messages)
    _, dst = graph.edges()
    for v in range(8):
        rows = messages[dst == v]
        if not len(rows):
            assert torch.equal(out[v], torch.zeros(5))
            continue
        _, state = agg.rnn(rows.unsqueeze(1))
        final = state[0] if cell == "lstm" else state
        torch.testing.assert_close(out[v], final[0, 0])


def test_the_packed_batch_has_one_row_per_message():
    values = torch.arange(6.0).unsqueeze(1)  # segments [0, 1, 2], [], [3], [4, 5]
    packed, nonempty = pack_segments(values, torch.tensor([3, 0, 1, 2]))
    assert nonempty.tolist() == [0, 2, 3]
    assert packed.batch_sizes.tolist() == [3, 2, 1]  # step t holds the sequences longer than t
    assert packed.data.shape == (6, 1)  # exactly one row per message
    # step 0: first elements, longest first; step 1: second elements; step 2: the third
    assert packed.data[:, 0].tolist() == [0.0, 4.0, 3.0, 1.0, 5.0, 2.0]


def test_auto_pads_on_the_cpu_only_when_most_of_the_padded_batch_is_data():
    agg = RecurrentAggregator(2)
    regular = torch.full((10,), 8)
    assert agg._padded(torch.zeros(80, 2), regular)
    skewed = torch.tensor([200] + [1] * 999)  # 1,199 messages in a 200 x 1,000 padded batch
    assert not agg._padded(torch.zeros(1199, 2), skewed)
    assert not RecurrentAggregator(2, cpu_path="packed")._padded(torch.zeros(80, 2), regular)
    assert RecurrentAggregator(2, cpu_path="padded")._padded(torch.zeros(1199, 2), skewed)


def test_edge_id_order_is_not_permutation_invariant_and_the_record_says_so():
    assert not get_registry().get("aggregator", "recurrent").permutation_invariant
    torch.manual_seed(0)
    graph = graph_shapes()["random_with_isolated"]
    agg = RecurrentAggregator(4).eval()
    messages = torch.randn(graph.num_edges(), 4)
    other, new_of_old, old_of_new_edge = relabel(graph)
    out = agg(graph, messages)
    moved = agg(other, messages[old_of_new_edge])[new_of_old]
    assert not torch.allclose(moved, out, atol=1e-4)
    # renumbering nodes only, keeping the edge order, leaves the output unchanged
    keep = dgl.graph((new_of_old[graph.edges()[0]], new_of_old[graph.edges()[1]]),
                     num_nodes=graph.num_nodes())
    torch.testing.assert_close(agg(keep, messages)[new_of_old], out)


def test_node_attribute_order_follows_the_attribute():
    torch.manual_seed(0)
    graph = dgl.graph(([1, 2, 3], [0, 0, 0]), num_nodes=4)
    graph.ndata["rank"] = torch.tensor([0.0, 3.0, 1.0, 2.0])
    messages = torch.randn(3, 4)
    agg = RecurrentAggregator(4, order="node_attr", order_key="rank")
    _, state = agg.rnn(messages[[1, 2, 0]].unsqueeze(1))  # sources 2, 3, 1
    torch.testing.assert_close(agg(graph, messages)[0], state[0, 0])
    other, new_of_old, old_of_new_edge = relabel(graph)
    torch.testing.assert_close(agg(other, messages[old_of_new_edge])[new_of_old],
                               agg(graph, messages))
    with pytest.raises(WlkitError, match="order_key 'missing'"):
        RecurrentAggregator(4, order="node_attr", order_key="missing")(graph, messages)


def test_random_order_reshuffles_in_training_and_is_deterministic_in_eval():
    torch.manual_seed(0)
    graph = dgl.graph((torch.arange(1, 9), torch.zeros(8, dtype=torch.long)))
    messages = torch.randn(8, 4)
    agg = RecurrentAggregator(4, order="random", eval_orders=3)
    first, second = agg(graph, messages), agg(graph, messages)
    assert not torch.allclose(first[0], second[0])
    agg.eval()
    torch.testing.assert_close(agg(graph, messages), agg(graph, messages))
    assert torch.equal(agg(graph, messages)[1:], torch.zeros(8, 4))
