"""Node marking: tuples, radius, collate shifts, copy expansion, sampling, invariance."""

from __future__ import annotations

import math

import dgl
import numpy as np
import pytest
import torch

from tests.plugins.policies.helpers import as_dgl, batch, build, embed, separated
from wlkit import WlkitError, graphs
from wlkit.model.data import prepare_policy
from wlkit.params import check_params
from wlkit.plugins.policies.node_marking import (
    NODE_MARKING_RECORD,
    NodeMarkingPolicy,
    expand_copies,
)


def test_tuples_and_radius():
    c6 = graphs.cycle(6).to_dgl()
    assert NodeMarkingPolicy(1).prepare(c6)["tuples"].tolist() == [[v] for v in range(6)]
    pairs = NodeMarkingPolicy(2).prepare(c6)["tuples"]
    assert len(pairs) == 30 and bool((pairs[:, 0] != pairs[:, 1]).all())
    near = NodeMarkingPolicy(2, radius=2).prepare(c6)["tuples"].tolist()
    assert len(near) == 6 * 4 and [0, 3] not in near and [3, 0] not in near
    assert [0, 1] in near and [1, 0] in near  # both id orders: symmetrised


def test_collate_and_copies_index_into_the_batched_graph():
    policy = NodeMarkingPolicy(2, radius=1)
    members = as_dgl([graphs.cycle(4), dgl.graph(([], []), num_nodes=1), graphs.decalin()])
    big, marked = batch(policy, members)
    offsets = torch.cumsum(big.batch_num_nodes(), 0) - big.batch_num_nodes()
    assert marked.tuple_graph.tolist() == [0] * 8 + [2] * 22
    assert torch.equal(marked.tuples[8:] - offsets[2], policy.prepare(members[2])["tuples"])
    bag = expand_copies(big, marked.tuples, marked.tuple_graph, marked.num_graphs)
    src, dst = big.edges()
    assert torch.equal(bag.node_index[bag.edge_src], src[bag.edge_index])
    assert torch.equal(bag.node_index[bag.edge_dst], dst[bag.edge_index])
    sizes = torch.bincount(bag.node_subgraph)
    assert sizes.tolist() == [4] * 8 + [10] * 22  # every copy is the whole graph
    assert torch.bincount(bag.node_subgraph[bag.edge_src]).tolist() == [8] * 8 + [22] * 22
    # copy t marks tuple t: id 1 on its first node, id 2 on its second
    for j in (1, 2):
        assert torch.equal(bag.node_index[bag.node_mark == j], marked.tuples[:, j - 1])
    bag_graph = bag.dgl_graph(big, edge_features=False)
    assert bag_graph.batch_size == 30
    # the host-side sizes of the collate give the same bag, chunk by chunk too
    assert marked.sizes(0, 30) == (8 * 4 + 22 * 10, 8 * 8 + 22 * 22)
    for a, b in ((0, 30), (3, 17)):
        sized = expand_copies(big, marked.tuples[a:b], marked.tuple_graph[a:b],
                              marked.num_graphs, marked.sizes(a, b))
        plain = expand_copies(big, marked.tuples[a:b], marked.tuple_graph[a:b],
                              marked.num_graphs)
        assert all(torch.equal(getattr(sized, f), getattr(plain, f))
                   for f in ("node_index", "node_subgraph", "node_mark", "edge_index",
                             "edge_src", "edge_dst", "subgraph_graph"))


def test_sampling_in_training_all_tuples_in_eval():
    net, policy = build({"name": "node_marking", "sample_fraction": 0.25}, double=False)
    seen = spy_on_bags(net)
    big, marked = batch(policy, [graphs.petersen(), graphs.cycle(6)])
    with torch.no_grad():
        net.train()
        net.embed(big, marked)
        net.eval()
        net.embed(big, marked)
    trained, evaluated = seen
    assert trained.subgraphs_per_graph().tolist() == [math.ceil(2.5), math.ceil(1.5)]
    assert evaluated.subgraphs_per_graph().tolist() == [10, 6]


@pytest.mark.parametrize("policy", [{"name": "node_marking"},
                                    {"name": "node_marking", "marked": 2, "radius": 1},
                                    {"name": "node_marking", "marked": 2,
                                     "tuple_pool": "sum"}])
def test_permutation_invariant(policy):
    net, pol = build(policy, layers=3, hidden=16)
    g = graphs.decalin()
    h = g.relabel(np.random.default_rng(2).permutation(g.num_nodes))
    e = embed(net, pol, [g, h, graphs.bicyclopentyl()])
    assert not separated(e[0], e[1])
    assert separated(e[0], e[2])  # the pair 1-WL cannot tell apart


def test_prepare_cache_shared_across_model_settings(tmp_path):
    calls = []

    class Counting(NodeMarkingPolicy):
        def prepare(self, graph):
            calls.append(1)
            return super().prepare(graph)

    members = as_dgl([graphs.cycle(5)])
    prepare_policy(members, Counting(2, radius=2), "node_marking", tmp_path)
    prepare_policy(members, Counting(2, radius=2, sample_fraction=0.5, tuple_pool="sum"),
                   "node_marking", tmp_path)
    assert len(calls) == 1
    prepare_policy(members, Counting(2, radius=1), "node_marking", tmp_path)
    assert len(calls) == 2


def test_clear_errors_and_oracle():
    # the schema checks single values; the constructor what needs two parameters
    _, problems = check_params(NODE_MARKING_RECORD.params, {"marked": 3})
    assert [(key, message) for key, message, _ in problems] == [
        ("marked", "must be one of 1, 2; got 3")]
    with pytest.raises(WlkitError, match="node_marking': radius .* needs marked: 2"):
        NodeMarkingPolicy(1, radius=2)
    assert NodeMarkingPolicy(1).wl_oracle == "node_marked"
    assert NodeMarkingPolicy(2, radius=3).wl_oracle == "two_node_marked_r3"
    assert NodeMarkingPolicy(2).wl_oracle == "two_node_marked"


def test_graphs_without_tuples_pool_to_zeros_in_any_batch():
    net, pol = build({"name": "node_marking", "marked": 2, "radius": 1}, double=False)
    lonely = [dgl.graph(([], []), num_nodes=1), dgl.graph(([], []), num_nodes=3)]
    alone = embed(net, pol, lonely)  # no tuple at all in the batch
    mixed = embed(net, pol, [*lonely, graphs.cycle(5)])
    assert torch.isfinite(mixed).all()
    assert torch.equal(alone, torch.zeros_like(alone)) and torch.equal(mixed[:2], alone)


def spy_on_bags(net) -> list:
    """The bags the model embeds, recorded (training: whole; evaluation: per chunk)."""
    seen = []
    network = net.body.network
    original = network.subgraph_embeddings

    def recording(graph, bag, states):
        seen.append(bag)
        return original(graph, bag, states)

    network.subgraph_embeddings = recording
    return seen


@pytest.mark.parametrize("marked, pool", [(2, "mean"), (2, "max"), (1, "sum")])
def test_evaluation_chunks_bound_memory_and_leave_the_embedding_unchanged(marked, pool):
    net, policy = build({"name": "node_marking", "marked": marked, "tuple_pool": pool},
                        layers=3, hidden=16)
    members = [graphs.petersen(), graphs.cycle(6), graphs.decalin()]
    whole = embed(net, policy, members)
    copies = sum(g.num_nodes * (g.num_nodes - 1 if marked == 2 else 1) for g in members)
    bags = spy_on_bags(net)
    for budget in (1, 7, 40, 150):
        bags.clear()
        policy.chunk_nodes = budget
        chunked = embed(net, policy, members)
        assert torch.allclose(chunked, whole, rtol=1e-12, atol=1e-12), budget
        assert sum(b.num_subgraphs for b in bags) == copies  # every copy, once
        assert len(bags) > 1  # really in chunks
        # a chunk holds at most the budget plus one copy (<= 10 nodes)
        assert max(len(b.node_index) for b in bags) <= budget + 10
    bags.clear()
    policy.chunk_nodes = 10**9
    assert torch.equal(embed(net, policy, members), whole) and len(bags) == 1


def test_chunk_bounds():
    from wlkit.plugins.policies.node_marking import chunk_bounds

    assert chunk_bounds(np.array([3, 3, 3]), 9) == ()
    assert chunk_bounds(np.array([3, 3, 3]), 4) == (0, 2, 3)
    assert chunk_bounds(np.array([5, 5, 5]), 1) == (0, 1, 2, 3)
    assert chunk_bounds(np.array([], dtype=np.int64), 1) == ()
