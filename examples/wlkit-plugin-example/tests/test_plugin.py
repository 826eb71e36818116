"""Tests of the example plugin: the components' maths, invariance, edge cases, registration.

Run from ``examples/wlkit-plugin-example``: ``python -m pytest``. When the package is
installed (``pip install -e .``) wlkit finds it through its entry point; otherwise the tests
register the hook module for their duration with :func:`wlkit.registered_plugin`.

The conformance tests at the end use wlkit's kit (:mod:`wlkit.testing`): the same checks
``wlkit check`` runs, as one assertion per component.
"""

from __future__ import annotations

import importlib.metadata as metadata
from pathlib import Path

import dgl
import pytest
import torch
from wlkit_plugin_example import (
    DegreeOneHot,
    MarkedCopiesPolicy,
    SoftmaxAggregator,
    SumMaxReadout,
    plugin,
)

from wlkit import (
    AggregatorRecord,
    PositionalEncodingRecord,
    ReadoutRecord,
    SubgraphPolicyRecord,
    get_registry,
    registered_plugin,
)
from wlkit.testing import (
    assert_batch_independent,
    assert_conforms,
    assert_gradient_flow,
    assert_permutation_invariant,
    graph_zoo,
    policy_probe,
)

HERE = Path(__file__).resolve().parents[1]
DISTRIBUTION = "wlkit-plugin-example"
NAMES = {"aggregator": "example_softmax", "readout": "sum_max",
         "positional_encoding": "degree_onehot", "subgraph_policy": "marked_copies"}


def _installed() -> bool:
    return any(ep.value == "wlkit_plugin_example.plugin"
               for ep in metadata.entry_points(group="wlkit"))


@pytest.fixture(scope="module")
def registry():
    """wlkit's registry with the example's components, found by entry point if installed."""
    if _installed():
        yield get_registry()
    else:
        with registered_plugin(plugin, name="example"):
            yield get_registry()


def random_graph(num_nodes: int, num_edges: int, seed: int) -> dgl.DGLGraph:
    """A random multigraph whose last two nodes have no in-edges."""
    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(0, num_nodes, (num_edges,), generator=gen)
    dst = torch.randint(0, num_nodes - 2, (num_edges,), generator=gen)
    return dgl.graph((src, dst), num_nodes=num_nodes)


def relabel(graph: dgl.DGLGraph, seed: int) -> tuple[dgl.DGLGraph, torch.Tensor, torch.Tensor]:
    """The same graph with nodes renamed (old i -> new perm[i]) and edges shuffled.

    Returns the new graph, ``perm`` and ``edge_order`` (new edge j is old edge edge_order[j]).
    """
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(graph.num_nodes(), generator=gen)
    edge_order = torch.randperm(graph.num_edges(), generator=gen)
    src, dst = graph.edges()
    new = dgl.graph((perm[src[edge_order]], perm[dst[edge_order]]), num_nodes=graph.num_nodes())
    return new, perm, edge_order


# --- registration -----------------------------------------------------------------------


def test_hooks_return_records_with_typed_params():
    records = [*plugin.wlkit_aggregators(), *plugin.wlkit_readouts(),
               *plugin.wlkit_positional_encodings(), *plugin.wlkit_subgraph_policies()]
    kinds = {type(r): r.name for r in records}
    assert kinds == {AggregatorRecord: "example_softmax", ReadoutRecord: "sum_max",
                     PositionalEncodingRecord: "degree_onehot",
                     SubgraphPolicyRecord: "marked_copies"}
    for record in records:
        assert record.summary and record.params
        for param in record.params:
            assert param.type in (int, float, bool, str)
            assert param.doc
            value, problem = param.check(param.default)
            assert problem is None and value == param.default


def test_degree_onehot_default_is_8():
    (record,) = plugin.wlkit_positional_encodings()
    assert {p.name: p.default for p in record.params} == {"max_degree": 8}
    assert record.factory().dim == 9


def test_registered_with_wlkit(registry):
    for family, name in NAMES.items():
        entry = registry.entry(family, name)
        assert entry.record.params
        if _installed():
            assert entry.source == DISTRIBUTION
    params = {p.name: p for p in registry.get("aggregator", "example_softmax").params}
    assert params["beta"].type is float and params["learn_beta"].type is bool


def test_pipeline_validates_and_builds(registry, tmp_path):
    from wlkit.model.build import (
        build_model,
        instantiate_dataset,
        instantiate_encodings,
        instantiate_policy,
    )
    from wlkit.model.data import attach_encodings
    from wlkit.pipeline import load_pipeline

    pipeline = load_pipeline(HERE / "pipeline.yaml", registry=registry)
    cfg = pipeline.data
    assert cfg["model"]["aggregator"]["name"] == "example_softmax"
    assert cfg["model"]["readout"]["name"] == "sum_max"
    assert [e["name"] for e in cfg["encodings"]] == ["degree_onehot"]
    assert cfg["policy"] == {"name": "marked_copies", "pool": "mean"}
    dataset = instantiate_dataset(cfg["dataset"], registry)
    encodings = instantiate_encodings(cfg["encodings"], registry)
    policy = instantiate_policy(cfg, registry)
    model = build_model(cfg, dataset, encodings, registry, policy).eval()
    graphs = dataset.load().graphs[:3]
    attach_encodings(graphs, encodings, cache_dir=tmp_path)  # not ~/.cache
    out = model(dgl.batch(graphs), policy.collate(graphs, [policy.prepare(g) for g in graphs]))
    assert out.shape == (3, dataset.info().num_tasks)
    assert torch.isfinite(out).all()


# --- softmax aggregator -----------------------------------------------------------------


def test_softmax_shape_and_empty_neighbourhoods():
    graph = random_graph(10, 30, seed=0)
    out = SoftmaxAggregator(4)(graph, torch.randn(30, 4))
    assert out.shape == (10, 4)
    assert torch.isfinite(out).all()
    assert torch.equal(out[-2:], torch.zeros(2, 4))  # the last two nodes have no in-edges


def test_softmax_graph_without_edges():
    graph = dgl.graph(([], []), num_nodes=5)
    out = SoftmaxAggregator(3)(graph, torch.zeros(0, 3))
    assert torch.equal(out, torch.zeros(5, 3))


def test_softmax_interpolates_between_mean_and_max():
    graph = random_graph(8, 40, seed=1)
    messages = torch.randn(40, 3)
    mean = dgl.ops.copy_e_mean(graph, messages)
    top = dgl.ops.copy_e_max(graph, messages)[:-2]
    with torch.no_grad():
        soft_mean = SoftmaxAggregator(3, beta=0.0)(graph, messages)
        soft_max = SoftmaxAggregator(3, beta=1000.0)(graph, messages)
    torch.testing.assert_close(soft_mean, mean)
    torch.testing.assert_close(soft_max[:-2], top, atol=1e-3, rtol=0)


def test_softmax_is_invariant_to_node_relabelling():
    graph = random_graph(12, 50, seed=2)
    messages = torch.randn(50, 6)
    agg = SoftmaxAggregator(6, beta=2.5)
    new, perm, edge_order = relabel(graph, seed=3)
    with torch.no_grad():
        before = agg(graph, messages)
        after = agg(new, messages[edge_order])
    torch.testing.assert_close(after[perm], before)


def test_softmax_beta_is_a_trained_parameter():
    agg = SoftmaxAggregator(4, beta=0.5)
    assert [name for name, _ in agg.named_parameters()] == ["beta"]
    graph = random_graph(6, 20, seed=4)
    agg(graph, torch.randn(20, 4)).pow(2).sum().backward()
    assert agg.beta.grad is not None and agg.beta.grad.abs() > 0

    fixed = SoftmaxAggregator(4, beta=0.5, learn_beta=False)
    assert list(fixed.parameters()) == []
    assert "beta" in dict(fixed.named_buffers())


def test_softmax_rejects_wrong_message_shape():
    graph = random_graph(6, 20, seed=5)
    with pytest.raises(ValueError, match="width"):
        SoftmaxAggregator(4)(graph, torch.randn(20, 3))


# --- sum_max readout --------------------------------------------------------------------


def test_sum_max_shape_and_values():
    graphs = [random_graph(n, 2 * n, seed=n) for n in (3, 5, 4)]
    batch = dgl.batch(graphs)
    feats = torch.randn(batch.num_nodes(), 4)
    readout = SumMaxReadout(4)
    out = readout(batch, feats)
    assert readout.out_dim == 8 and out.shape == (3, 8)
    first = feats[:3]
    torch.testing.assert_close(out[0], torch.cat([first.sum(0), first.max(0).values]))


def test_sum_max_mean_variant():
    batch = dgl.batch([random_graph(4, 6, seed=0)])
    feats = torch.randn(4, 2)
    out = SumMaxReadout(2, first="mean")(batch, feats)
    torch.testing.assert_close(out[0], torch.cat([feats.mean(0), feats.max(0).values]))
    with pytest.raises(ValueError, match="first"):
        SumMaxReadout(2, first="min")


def test_sum_max_graph_without_nodes_pools_to_zeros():
    batch = dgl.batch([random_graph(4, 6, seed=0), dgl.graph(([], []), num_nodes=0)])
    out = SumMaxReadout(3)(batch, torch.randn(4, 3))
    assert out.shape == (2, 6)
    assert torch.equal(out[1], torch.zeros(6))


def test_sum_max_is_invariant_to_node_relabelling():
    graphs = [random_graph(n, 3 * n, seed=n) for n in (5, 7, 6)]
    feats = [torch.randn(g.num_nodes(), 4) for g in graphs]
    new_graphs, new_feats = [], []
    for k, (graph, h) in enumerate(zip(graphs, feats)):
        new, perm, _ = relabel(graph, seed=10 + k)
        moved = torch.empty_like(h)
        moved[perm] = h  # old node i is new node perm[i]
        new_graphs.append(new)
        new_feats.append(moved)
    readout = SumMaxReadout(4)
    before = readout(dgl.batch(graphs), torch.cat(feats))
    after = readout(dgl.batch(new_graphs), torch.cat(new_feats))
    torch.testing.assert_close(after, before)


# --- degree_onehot encoding -------------------------------------------------------------


def test_degree_onehot_clips_and_is_one_hot():
    graph = random_graph(10, 60, seed=6)
    enc = DegreeOneHot(max_degree=3)
    out = enc.compute(graph)
    assert out.shape == (10, enc.dim) == (10, 4)
    assert out.dtype == torch.float32
    assert torch.equal(out.sum(1), torch.ones(10))
    expected = graph.in_degrees().clamp(max=3)
    assert torch.equal(out.argmax(1), expected)


def test_degree_onehot_is_equivariant_and_keyed_by_max_degree():
    graph = random_graph(9, 25, seed=7)
    new, perm, _ = relabel(graph, seed=8)
    enc = DegreeOneHot(max_degree=4)
    assert torch.equal(enc.compute(new)[perm], enc.compute(graph))
    assert enc.cache_key() != DegreeOneHot(max_degree=5).cache_key()
    with pytest.raises(ValueError, match="max_degree"):
        DegreeOneHot(max_degree=0)


# --- marked_copies policy ---------------------------------------------------------------


def test_marked_copies_prepare_builds_one_copy_per_node():
    graph = random_graph(5, 12, seed=9)
    prepared = MarkedCopiesPolicy().prepare(graph)
    src, dst = graph.edges()
    assert prepared["src"].shape == prepared["dst"].shape == (5 * 12,)
    for r in range(5):  # copy r is the edge list shifted by r * n
        block = slice(12 * r, 12 * (r + 1))
        assert torch.equal(prepared["src"][block], src + 5 * r)
        assert torch.equal(prepared["dst"][block], dst + 5 * r)


def test_marked_copies_collate_shifts_indices():
    graphs = [random_graph(4, 6, seed=1), random_graph(3, 5, seed=2)]
    policy = MarkedCopiesPolicy()
    batch = policy.collate(graphs, [policy.prepare(g) for g in graphs])
    bag = batch["bag"]
    assert bag.num_nodes() == 16 + 9 and bag.num_edges() == 4 * 6 + 3 * 5
    assert bag.batch_num_nodes().tolist() == [4, 4, 4, 4, 3, 3, 3]  # one graph per copy
    assert batch["copies"].tolist() == [4, 3]
    assert batch["node"][16:19].tolist() == [4, 5, 6]  # graph 1 starts at node 4
    assert int(batch["root"].sum()) == 4 + 3  # one marked node per copy
    assert torch.equal(batch["edge"][24:29], torch.arange(6, 11))  # graph 1's edges
    src, _ = bag.edges()
    assert int(src[24:].min()) >= 16  # graph 1's copies start after graph 0's 16 bag nodes


def test_marked_copies_model_is_invariant_and_batch_independent():
    # The kit builds the policy's model half (gin + sum + sum readout) and feeds it through
    # prepare and collate on its edge-case graphs.
    probe = policy_probe(MarkedCopiesPolicy, pool="sum")
    assert probe.out_dim == 8
    assert_permutation_invariant(probe)
    assert_batch_independent(probe)
    assert_gradient_flow(probe, require_all=True)


def test_marked_copies_separates_what_1wl_cannot():
    from wlkit.graphs import cycle, disjoint_union

    def embeddings(seed: int) -> torch.Tensor:
        torch.manual_seed(seed)  # random weights: a few draws may all act linearly here
        probe = policy_probe(MarkedCopiesPolicy)
        six, two_triangles = (probe.attach(g.to_dgl(), seed=0)
                              for g in (cycle(6), disjoint_union(cycle(3), cycle(3))))
        for g in (six, two_triangles):
            g.ndata["feat"] = torch.ones(g.num_nodes(), 3)  # no features: 1-WL sees no change
        probe.module.eval()
        with torch.no_grad():
            return probe(dgl.batch([six, two_triangles]))

    outs = [embeddings(seed) for seed in range(4)]
    assert any(not torch.allclose(out[0], out[1], atol=1e-4) for out in outs)
    assert MarkedCopiesPolicy.wl_oracle == "node_marked"
    with pytest.raises(ValueError, match="pool"):
        MarkedCopiesPolicy(pool="median")


# --- the conformance kit ------------------------------------------------------------------


@pytest.mark.parametrize("family", sorted(NAMES))
def test_conforms(registry, family):
    """Everything `wlkit check` checks except separation: record, invariance, batch
    independence, determinism, gradients, shapes, dtype, device and state_dict."""
    assert_conforms(family, NAMES[family], registry=registry)


def test_softmax_on_the_kits_edge_cases():
    zoo = graph_zoo()
    for name in ("single_node", "no_edges", "empty_neighbourhoods", "multigraph"):
        graph = zoo[name]
        out = SoftmaxAggregator(3)(graph, torch.randn(graph.num_edges(), 3))
        assert out.shape == (graph.num_nodes(), 3) and torch.isfinite(out).all(), name
