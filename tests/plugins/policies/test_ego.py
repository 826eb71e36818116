"""ESAN bags: prepare, collate index shifts, edge features, sampling, caching, invariance."""

from __future__ import annotations

import math

import dgl
import numpy as np
import pytest
import torch

from tests.plugins.policies.helpers import as_dgl, batch, build, embed, separated
from wlkit import PluginError, WlkitError, graphs
from wlkit.model.data import prepare_policy
from wlkit.params import check_params
from wlkit.plugins.policies._bags import Bag, hop_distances, sample_subgraphs
from wlkit.plugins.policies.ego import EGO_RECORD, EgoNetPolicy


def path(n):
    return graphs.SimpleGraph.from_edges(n, [(i, i + 1) for i in range(n - 1)]).to_dgl()


def subgraph_edges(prepared, s):
    """Undirected edges of subgraph ``s`` as original node pairs."""
    start = int(prepared["sizes"][:s].sum())
    nodes = prepared["nodes"][start:start + int(prepared["sizes"][s])]
    a = int(prepared["arc_counts"][:s].sum())
    b = a + int(prepared["arc_counts"][s])
    return {tuple(sorted((int(nodes[u]), int(nodes[v]))))
            for u, v in zip(prepared["arc_src"][a:b], prepared["arc_dst"][a:b])}


def test_ego_prepare_on_a_path():
    p = EgoNetPolicy("ego", hops=1, root_mark=True).prepare(path(4))
    assert p["sizes"].tolist() == [2, 3, 3, 2]
    assert p["nodes"].tolist() == [0, 1, 0, 1, 2, 1, 2, 3, 2, 3]
    assert p["roots"].tolist() == [0, 1, 1, 1]  # position of v inside its ego-net
    assert subgraph_edges(p, 1) == {(0, 1), (1, 2)}
    two = EgoNetPolicy("ego", hops=2).prepare(path(4))
    assert two["sizes"].tolist() == [3, 4, 4, 3] and (two["roots"] == -1).all()
    assert subgraph_edges(two, 0) == {(0, 1), (1, 2)}  # induced on {0, 1, 2}


def test_node_and_edge_deleted_prepare():
    tri = graphs.cycle(3).to_dgl()
    nd = EgoNetPolicy("node_deleted").prepare(tri)
    assert nd["sizes"].tolist() == [2, 2, 2] and nd["arc_counts"].tolist() == [2, 2, 2]
    assert subgraph_edges(nd, 0) == {(1, 2)}
    ed = EgoNetPolicy("edge_deleted").prepare(path(4))
    assert ed["sizes"].tolist() == [4, 4, 4] and ed["arc_counts"].tolist() == [4, 4, 4]
    assert [subgraph_edges(ed, s) for s in range(3)] == [
        {(1, 2), (2, 3)}, {(0, 1), (2, 3)}, {(0, 1), (1, 2)}]
    lonely = EgoNetPolicy("edge_deleted").prepare(dgl.graph(([], []), num_nodes=3))
    assert lonely["sizes"].tolist() == [3]  # no edge: the graph is its own only subgraph


def _check_bag_against_batch(big: dgl.DGLGraph, bag: Bag) -> None:
    src, dst = big.edges()
    # every bag edge copies an edge of the batched graph between the copied endpoints
    assert torch.equal(bag.node_index[bag.edge_src], src[bag.edge_index])
    assert torch.equal(bag.node_index[bag.edge_dst], dst[bag.edge_index])
    # bag edges stay inside one subgraph, subgraphs inside one graph
    assert torch.equal(bag.node_subgraph[bag.edge_src], bag.node_subgraph[bag.edge_dst])
    graph_of_node = torch.repeat_interleave(torch.arange(big.batch_size),
                                            big.batch_num_nodes())
    assert torch.equal(graph_of_node[bag.node_index],
                       bag.subgraph_graph[bag.node_subgraph])
    assert bool((bag.node_subgraph[1:] >= bag.node_subgraph[:-1]).all())


@pytest.mark.parametrize("spec", [("ego", 1, True), ("ego", 2, False), ("node_deleted", 1, False),
                                  ("edge_deleted", 1, False)])
def test_collate_shifts_indices_into_the_batched_graph(spec):
    subgraphs, hops, mark = spec
    policy = EgoNetPolicy(subgraphs, hops=hops, root_mark=mark)
    members = as_dgl([graphs.petersen(), dgl.graph(([], []), num_nodes=2), graphs.decalin(),
                      graphs.cycle(5)])
    big, bag = batch(policy, members)
    _check_bag_against_batch(big, bag)
    counts = bag.subgraphs_per_graph().tolist()
    expected = [len(policy.prepare(g)["sizes"]) for g in members]
    assert counts == expected
    if mark:  # exactly one marked node per subgraph: its root, the node it is built on
        marked = bag.node_index[bag.node_mark == 1]
        offsets = torch.cumsum(big.batch_num_nodes(), 0) - big.batch_num_nodes()
        roots = torch.cat([torch.arange(g.num_nodes()) + o for g, o in zip(members, offsets)])
        assert torch.equal(marked, roots)


def test_edge_features_are_carried_into_every_subgraph():
    members = as_dgl([graphs.decalin(), graphs.cycle(4)])
    for g in members:
        g.edata["feat"] = torch.randint(0, 3, (g.num_edges(), 3))
    policy = EgoNetPolicy("ego", hops=2)
    big, bag = batch(policy, members)
    bag_graph = bag.dgl_graph(big, edge_features=True)
    assert torch.equal(bag_graph.edata["feat"], big.edata["feat"][bag.edge_index])
    assert bag_graph.batch_size == bag.num_subgraphs
    assert bag_graph.batch_num_nodes().tolist() == [len(x) for x in torch.split(
        bag.node_index, bag_graph.batch_num_nodes().tolist())]


def test_sampling_fraction_in_training_whole_bag_in_eval():
    owners = torch.tensor([0] * 10 + [1] * 3 + [3] * 1)
    keep = sample_subgraphs(owners, 4, 0.25)
    assert torch.bincount(owners[keep], minlength=4).tolist() == [3, 1, 0, 1]  # ceil, >= 1
    net, policy = build({"name": "ego", "hops": 1, "sample_fraction": 0.3}, double=False)
    seen = []
    net.body.network.register_forward_pre_hook(lambda m, args: seen.append(args[1]))
    big, bag = batch(policy, [graphs.petersen(), graphs.decalin()])
    with torch.no_grad():
        net.train()
        net.embed(big, bag)
        net.eval()
        net.embed(big, bag)
    trained, evaluated = seen
    assert trained.subgraphs_per_graph().tolist() == [math.ceil(0.3 * 10)] * 2
    _check_bag_against_batch(big, trained)
    assert evaluated.subgraphs_per_graph().tolist() == [10, 10]
    with torch.no_grad():
        assert torch.equal(net.embed(big, bag), net.embed(big, bag))  # eval is deterministic


def test_prepare_is_cached_and_the_key_ignores_model_settings(tmp_path):
    calls = []

    class Counting(EgoNetPolicy):
        def prepare(self, graph):
            calls.append(1)
            return super().prepare(graph)

    members = as_dgl([graphs.petersen(), graphs.cycle(5)])
    first = prepare_policy(members, Counting("ego", hops=2), "ego", tmp_path)
    assert len(calls) == 2
    again = prepare_policy(members, Counting("ego", hops=2, mode="dss", sample_fraction=0.5),
                           "ego", tmp_path)
    assert len(calls) == 2  # read from the cache
    assert all(torch.equal(a[k], b[k]) for a, b in zip(first, again) for k in a)
    prepare_policy(members, Counting("ego", hops=1), "ego", tmp_path)
    assert len(calls) == 4  # another radius is another cache entry


@pytest.mark.parametrize("policy", [
    {"name": "ego", "hops": 1, "root_mark": True},
    {"name": "ego", "hops": 2, "mode": "dss"},
    {"name": "ego", "subgraphs": "node_deleted", "mode": "dss"},
    {"name": "ego", "subgraphs": "edge_deleted"},
])
def test_permutation_invariant(policy):
    net, pol = build(policy, layers=3, hidden=16)
    g = graphs.petersen()
    h = g.relabel(np.random.default_rng(1).permutation(g.num_nodes))
    other = graphs.decalin()
    e = embed(net, pol, [g, h, other, other.relabel(np.arange(10)[::-1].copy())])
    assert not separated(e[0], e[1]) and not separated(e[2], e[3])
    assert separated(e[0], e[2])


def test_dss_separates_what_ds_separates_on_csl():
    # DSS-WL is at least as strong as DS-WL: the 2-hop CSL pairs stay separated
    net, pol = build({"name": "ego", "hops": 2, "mode": "dss"}, layers=4, hidden=16)
    e = embed(net, pol, [graphs.csl(41, 2), graphs.csl(41, 3)])
    assert separated(e[0], e[1])


def test_hop_distances():
    src, dst = np.array([0, 1, 2]), np.array([1, 2, 3])
    dist = hop_distances(5, src, dst)
    assert dist[0].tolist() == [0, 1, 2, 3, -1]
    assert hop_distances(5, src, dst, limit=2)[0].tolist() == [0, 1, 2, -1, -1]
    # K_{2,256}: the two hubs have 256 common neighbours (a uint8 count would wrap to 0)
    leaves = np.arange(2, 258)
    hubs = np.repeat([0, 1], 256)
    dist = hop_distances(258, hubs, np.tile(leaves, 2))
    assert dist[0, 1] == 2 and dist[2, 3] == 2


def test_sample_fraction_zero_is_refused_by_the_schema():
    # the schema used to admit 0.0, which no bag can be sampled with
    _, problems = check_params(EGO_RECORD.params, {"sample_fraction": 0.0})
    assert [(key, message) for key, message, _ in problems] == [
        ("sample_fraction", "must be > 0.0, got 0.0")]
    resolved, problems = check_params(EGO_RECORD.params, {"sample_fraction": 1e-3})
    assert not problems and EgoNetPolicy(**resolved).sample_fraction == 1e-3


def test_clear_errors():
    with pytest.raises(WlkitError, match="root_mark only applies(.|\n)*hint: "):
        EgoNetPolicy("node_deleted", root_mark=True)
    with pytest.raises(PluginError, match="virtual_node"):
        build({"name": "ego", "mode": "dss"}, model={"virtual_node": True})


def test_wl_oracle_declared():
    assert EgoNetPolicy("ego", hops=2, root_mark=True).wl_oracle == "ego2+"
    assert EgoNetPolicy("node_deleted").wl_oracle == "node_deleted"
    # DSS-WL and the edge-deleted bag: the esan_ family (tests/plugins/policies/test_esan_oracle.py)
    assert EgoNetPolicy("ego", hops=1, mode="dss").wl_oracle == "esan_dss_ego1"
    assert EgoNetPolicy("edge_deleted").wl_oracle == "esan_ds_edge_deleted"


@pytest.mark.parametrize("edges, num_nodes", [(([0, 1, 1], [1, 2, 0]), 4), (([], []), 3)])
def test_bag_graphs_equal_dgl_graph_without_its_host_syncs(edges, num_nodes):
    from wlkit.plugins.policies._bags import edges_graph
    from wlkit.testing import DeviceAudit

    src, dst = (torch.tensor(e, dtype=torch.long) for e in edges)
    with DeviceAudit() as audit, audit.phase("forward"):
        ours = edges_graph(src, dst, num_nodes)
    assert [e for e in audit.events if e.kind == "sync"] == []
    ref = dgl.graph((src, dst), num_nodes=num_nodes)
    assert ours.num_nodes() == ref.num_nodes() and ours.idtype == ref.idtype
    assert all(torch.equal(a, b) for a, b in zip(ours.edges(), ref.edges()))
    assert torch.equal(ours.in_degrees(), ref.in_degrees())
    assert ours.device == ref.device
