"""PathNN: path enumeration against networkx, batching, invariance, the memory guard."""

from __future__ import annotations

import itertools
import time
from collections import Counter

import dgl
import networkx as nx
import numpy as np
import pytest
import torch
from torch import nn

from tests.conftest import ROOT, SHARED_DATA, TINY_PIPELINE
from wlkit import ModelParts, PluginError, WlkitError, get_registry, node_offsets
from wlkit import graphs as G
from wlkit.graphs import SimpleGraph
from wlkit.model.build import build_model, instantiate_dataset
from wlkit.model.graph_model import NodeInput, make_norm
from wlkit.pipeline import load_pipeline
from wlkit.plugins.policies import pathnn
from wlkit.plugins.policies.pathnn import (
    PathBudgetError,
    PathPolicy,
    edge_pairs,
    enumerate_paths,
    path_count_bound,
)
from wlkit.plugins.readouts.basic import SegmentReadout
from wlkit.runner import run_pipeline
from wlkit.wl import (
    check_oracle,
    distinguishes,
    oracle_cost,
    oracle_names,
    oracle_summary,
    oracle_version,
    separated_pairs,
    wl_colors,
)


def random_graphs(count: int, seed: int) -> list[nx.Graph]:
    """Small random graphs, some disconnected or with isolated nodes."""
    rng = np.random.default_rng(seed)
    graphs = []
    for _ in range(count):
        n = int(rng.integers(4, 10))
        graphs.append(nx.gnp_random_graph(n, float(rng.uniform(0.25, 0.6)),
                                          seed=int(rng.integers(1 << 30))))
    return graphs


def edge_array(g: nx.Graph) -> np.ndarray:
    return np.array(list(g.edges()), dtype=np.int64).reshape(-1, 2)


def ours(g: nx.Graph, K: int, kind: str, **kw) -> dict[int, dict[str, np.ndarray]]:
    e = edge_array(g)
    return enumerate_paths(g.number_of_nodes(), e[:, 0], e[:, 1], K, kind, **kw)


def as_counter(found: dict[int, dict[str, np.ndarray]]) -> Counter:
    out: Counter = Counter()
    for length, entry in found.items():
        for row in entry["paths"].tolist():
            assert len(row) == length + 1  # grouped by length
            out[tuple(row)] += 1
    return out


def pairs_within(g: nx.Graph, K: int):
    dist = dict(nx.all_pairs_shortest_path_length(g, cutoff=K))
    for s in g:
        for t, d in dist[s].items():
            if 1 <= d:
                yield s, t


# --------------------------------------------------------------------------- enumeration


@pytest.mark.parametrize("K", [1, 2, 3, 4])
def test_all_simple_paths_match_networkx(K):
    for g in random_graphs(8, seed=K):
        found = ours(g, K, "ap", distances=True)
        reference = Counter(tuple(p) for s in g for t in g if s != t
                            for p in nx.all_simple_paths(g, s, t, cutoff=K))
        assert as_counter(found) == reference
        dist = dict(nx.all_pairs_shortest_path_length(g))
        for entry in found.values():
            for path, dists in zip(entry["paths"].tolist(), entry["dists"].tolist()):
                assert dists == [dist[path[0]][v] for v in path]


@pytest.mark.parametrize("K", [1, 2, 3, 5])
def test_all_shortest_paths_match_networkx(K):
    for g in random_graphs(8, seed=10 + K):
        reference = Counter(tuple(p) for s, t in pairs_within(g, K)
                            for p in nx.all_shortest_paths(g, s, t))
        assert as_counter(ours(g, K, "sp_plus")) == reference


@pytest.mark.parametrize("K", [1, 2, 3, 5])
def test_one_shortest_path_per_pair_with_the_documented_tie_break(K):
    for g in random_graphs(8, seed=20 + K):
        found = as_counter(ours(g, K, "sp"))
        # the tie-break: for s < t, the lexicographically smallest shortest path read from t
        # back to s; the t -> s path is the same path reversed
        reference = Counter()
        for s, t in pairs_within(g, K):
            low, high = min(s, t), max(s, t)
            path = min(nx.all_shortest_paths(g, high, low))  # high -> low
            reference[tuple(path) if s == high else tuple(reversed(path))] += 1
        assert found == reference
        assert all(count == 1 for count in found.values())


def test_edge_ids_name_the_node_pair_towards_the_start():
    # a directed multigraph with a self loop; edge (1, 2) is stored in one direction only
    src = np.array([0, 1, 1, 2, 2, 3, 0, 1])
    dst = np.array([1, 0, 2, 3, 2, 2, 1, 3])
    edge_pair, num_pairs = edge_pairs(4, src, dst)
    assert num_pairs == 6 and edge_pair[4] == -1  # (0,1) twice, self loop (2,2)
    assert edge_pair[0] == edge_pair[6]
    found = enumerate_paths(4, src, dst, 3, "ap", edge_ids=True)
    for length, entry in found.items():
        assert entry["edges"].shape == (len(entry["paths"]), length)
        for path, ids in zip(entry["paths"].tolist(), entry["edges"].tolist()):
            for i, pid in enumerate(ids):
                head, tail = path[i + 1], path[i]
                members = {(int(src[e]), int(dst[e])) for e in np.flatnonzero(edge_pair == pid)}
                wanted = (head, tail) if ((src == head) & (dst == tail)).any() else (tail, head)
                assert members == {wanted}


@pytest.mark.parametrize("kind", ["sp", "sp_plus", "ap"])
def test_path_trie_rebuilds_the_paths_sorted_and_grouped_by_parent(kind):
    for g in random_graphs(6, seed=11):
        n = g.number_of_nodes()
        found = ours(g, 4, kind, distances=True, edge_ids=True)
        for entry in found.values():
            args = (entry["paths"], n, entry["dists"], entry["edges"])
            levels = pathnn.path_trie(*args)
            rebuilt = pathnn.trie_paths(levels)
            assert Counter(map(tuple, rebuilt.tolist())) == Counter(
                map(tuple, entry["paths"].tolist()))
            for j, level in enumerate(levels):
                if j:  # children of one parent are contiguous (the LSTM's chunks rely on it)
                    assert np.all(np.diff(level["parent"]) >= 0)
            # the lexsort fallback (keys over 63 bits) builds the same trie
            wide = pathnn.path_trie(entry["paths"], 1 << 40, entry["dists"], entry["edges"])
            for a, b in zip(levels, wide):
                assert a.keys() == b.keys()
                for key in a:
                    np.testing.assert_array_equal(a[key], b[key])


def test_count_bound_is_an_upper_bound_and_exact_on_trees():
    tree = nx.random_labeled_tree(12, seed=1) if hasattr(nx, "random_labeled_tree") \
        else nx.random_tree(12, seed=1)
    e = edge_array(tree)
    for K in (1, 3, 6):
        exact = sum(len(v["paths"]) for v in ours(tree, K, "ap").values())
        assert path_count_bound(12, e[:, 0], e[:, 1], K) == exact
    for g in random_graphs(5, seed=3):
        e = edge_array(g)
        exact = sum(len(v["paths"]) for v in ours(g, 4, "ap").values())
        assert path_count_bound(g.number_of_nodes(), e[:, 0], e[:, 1], 4) >= exact


def test_memory_guard_fails_before_materialising():
    # K_14 has 14!/5! ~ 7e8 simple paths of 8 edges: materialising them would not finish
    g = dgl.graph(([], []), num_nodes=14)
    src, dst = zip(*[(u, v) for u in range(14) for v in range(14) if u != v])
    g.add_edges(list(src), list(dst))
    start = time.perf_counter()
    with pytest.raises(PathBudgetError) as info:
        PathPolicy(paths="ap", K=8).prepare(g)
    assert time.perf_counter() - start < 10
    message = str(info.value)
    assert isinstance(info.value, WlkitError)
    assert "max_paths=2,000,000" in message and "K=8" in message
    bound = path_count_bound(14, np.array(src), np.array(dst), 8)
    assert f"{bound:,}" in message  # the estimate for all lengths
    assert "hint:" in message
    # a smaller budget fails earlier; a larger K on an SP policy is fine
    with pytest.raises(PathBudgetError, match="candidate paths of length 2"):
        PathPolicy(paths="ap", K=3, max_paths=500).prepare(g)
    assert len(PathPolicy(paths="sp_plus", K=8).prepare(g)["node_1_1"]) == 14 * 13


def test_the_budget_is_part_of_the_cache_key():
    """A graph prepared under a large budget must not be served from the cache to a policy
    whose smaller budget refuses it (docs/plugins.md, cache_params)."""
    small, large = PathPolicy(paths="ap", K=3, max_paths=500), PathPolicy(paths="ap", K=3)
    assert small.cache_key() != large.cache_key()


# --------------------------------------------------------------------------- batching


def dgl_graph(g: nx.Graph, edge_feats: bool = False, seed: int = 0) -> dgl.DGLGraph:
    e = edge_array(g)
    out = dgl.graph((np.concatenate([e[:, 0], e[:, 1]]), np.concatenate([e[:, 1], e[:, 0]])),
                    num_nodes=g.number_of_nodes())
    if edge_feats:
        feats = torch.randn(len(e), 3, generator=torch.Generator().manual_seed(seed))
        out.edata["feat"] = torch.cat([feats, feats])
    return out


def test_collate_shifts_node_and_edge_ids():
    policy = PathPolicy(paths="ap", K=3)
    graphs = [dgl_graph(g, edge_feats=True) for g in random_graphs(3, seed=5)]
    prepared = [policy.prepare(g) for g in graphs]
    batch = policy.collate(graphs, prepared)
    batched = dgl.batch(graphs)
    shifts = node_offsets(graphs)
    for length in (1, 2, 3):
        expected = []
        for g, shift in zip(graphs, shifts.tolist()):
            alone = PathPolicy.batch_paths(policy.collate([g], [policy.prepare(g)]), length)
            e = g.edges()
            found = enumerate_paths(g.num_nodes(), e[0].numpy(), e[1].numpy(), length, "ap")
            assert Counter(map(tuple, alone.tolist())) == as_counter({length: found[length]})
            expected += [tuple(row) for row in (alone + shift).tolist()]
        together = PathPolicy.batch_paths(batch, length)
        assert Counter(map(tuple, together.tolist())) == Counter(expected)
        # every shifted pair id names batched edges joining the consecutive nodes of the
        # shifted paths (both directions are stored here, so towards the start node);
        # every parent index points into the level above
        steps = batch["layers"][length - 1]
        bsrc, bdst = batched.edges()
        index = torch.arange(len(steps[-1]["node"]))
        for j in range(length, 0, -1):
            parent = steps[j]["parent"][index]
            for pid, tail, head in zip(steps[j]["edge"][index].tolist(),
                                       steps[j]["node"][index].tolist(),
                                       steps[j - 1]["node"][parent].tolist()):
                members = torch.nonzero(batch["edge_pair"] == pid).flatten()
                assert len(members) == 1
                assert (int(bsrc[members[0]]), int(bdst[members[0]])) == (head, tail)
            index = parent
        for j, step in enumerate(steps):
            assert int(step["node"].max()) < batched.num_nodes()
            if j:
                assert int(step["parent"].max()) < len(steps[j - 1]["node"])


def lstm_on_every_path(model: nn.Module, batch: dict, length: int, h: torch.Tensor,
                       edge_h: torch.Tensor) -> torch.Tensor:
    """The reference: nn.LSTM over every path, far end first, inputs [h, dist, edge]."""
    steps = batch["layers"][length - 1]
    paths = PathPolicy.batch_paths(batch, length)
    dists, edges = [], []
    index = torch.arange(len(paths))
    for j in range(length, -1, -1):
        dists.append(steps[j]["dist"][index])
        edges.append(edge_h[steps[j]["edge"][index]] if j else
                     torch.zeros(len(paths), edge_h.shape[1], dtype=edge_h.dtype))
        if j:
            index = steps[j]["parent"][index]
    dists, edges = torch.stack(dists, 1), torch.stack(edges, 1)  # start node first
    x = torch.cat([h[paths], model.distance_embedding(dists), edges], -1).flip(1)
    _, (final, _) = model.lstm(x)
    return torch.zeros_like(h).index_add(0, paths[:, 0], final[0])


def trie_lstm_case(seed: int = 3):
    policy = PathPolicy(paths="ap", K=3)
    torch.manual_seed(seed)
    model = trained_like(policy.build(make_parts(6, 3, edge_dim=3)))
    graphs = [dgl_graph(g, edge_feats=True, seed=i)
              for i, g in enumerate(random_graphs(3, seed=8))]
    for g in graphs:
        g.edata["feat"] = g.edata["feat"].double()
    batch = policy.collate(graphs, [policy.prepare(g) for g in graphs])
    graph = dgl.batch(graphs)
    h = torch.randn(graph.num_nodes(), 6, dtype=torch.float64)
    return model, graph, batch, h


@pytest.mark.parametrize("chunk", [1 << 16, 5])
def test_prefix_trie_lstm_equals_nn_lstm_per_path(chunk, monkeypatch):
    monkeypatch.setattr(pathnn.trie, "_LSTM_CHUNK", chunk)  # 5: depth-first over many chunks
    model, graph, batch, h = trie_lstm_case()
    edge_h = model.edge_encoder(graph.edata["feat"])
    for length in (1, 2, 3):
        ours = model._paths_into_starts(h, batch["layers"][length - 1], edge_h)
        torch.testing.assert_close(ours, lstm_on_every_path(model, batch, length, h, edge_h))


@pytest.mark.parametrize("chunk", [1 << 16, 5])
def test_prefix_trie_lstm_gradients_equal_nn_lstm_per_path(chunk, monkeypatch):
    """The hand-written backward of the trie cell against autograd through nn.LSTM."""
    monkeypatch.setattr(pathnn.trie, "_LSTM_CHUNK", chunk)
    model, graph, batch, h = trie_lstm_case(seed=5)
    model.train()  # dropout 0: the per-node projections with the trie cell's backward
    h.requires_grad_(True)
    params = [h, *model.lstm.parameters(), model.distance_embedding.weight,
              *model.edge_encoder.parameters()]
    weight = torch.randn(h.shape[0], 6, dtype=torch.float64)
    for length in (1, 2, 3):
        grads = []
        for fn in (model._paths_into_starts,
                   lambda h, steps, e, length=length: lstm_on_every_path(model, batch, length,
                                                                         h, e)):
            out = fn(h, batch["layers"][length - 1], model.edge_encoder(graph.edata["feat"]))
            grads.append(torch.autograd.grad((out * weight).sum(), params))
        for ours, reference in zip(*grads):
            torch.testing.assert_close(ours, reference)


def make_parts(hidden: int, K: int, edge_dim: int = 0, norm: str = "batch") -> ModelParts:
    return ModelParts(
        hidden=hidden, num_layers=K, node_input=NodeInput(hidden, 0, None),
        make_layer=None, make_norm=lambda: make_norm(norm, hidden),
        make_readout=lambda dim: SegmentReadout(dim, op="sum"),
        make_edge_encoder=(lambda: nn.Linear(edge_dim, hidden)) if edge_dim else None,
        uses_edge_features=False, dropout=0.0, residual=True, virtual_node=False)


def embed(policy: PathPolicy, model: nn.Module, graphs: list[dgl.DGLGraph]) -> torch.Tensor:
    batch = policy.collate(graphs, [policy.prepare(g) for g in graphs])
    return model(dgl.batch(graphs), batch)


def trained_like(model: nn.Module) -> nn.Module:
    """Eval mode with non-trivial BatchNorm statistics, in float64."""
    torch.manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm1d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
    return model.double().eval()


def test_batched_outputs_equal_single_graph_outputs():
    policy = PathPolicy(paths="ap", K=3)
    torch.manual_seed(0)
    model = trained_like(policy.build(make_parts(8, 3, edge_dim=3)))
    graphs = [dgl_graph(g, edge_feats=True, seed=i)
              for i, g in enumerate(random_graphs(4, seed=6))]
    for g in graphs:
        g.edata["feat"] = g.edata["feat"].double()
    together = embed(policy, model, graphs)
    alone = torch.cat([embed(policy, model, [g]) for g in graphs])
    torch.testing.assert_close(together, alone)


# --------------------------------------------------------------------------- invariance


def relabelled(g: nx.Graph, seed: int) -> nx.Graph:
    rng = np.random.default_rng(seed)
    perm = rng.permutation(g.number_of_nodes())
    edges = [(int(perm[u]), int(perm[v])) for u, v in g.edges()]
    rng.shuffle(edges)
    out = nx.Graph()
    out.add_nodes_from(range(g.number_of_nodes()))
    out.add_edges_from(edges)
    return out


@pytest.mark.parametrize("kind", ["sp_plus", "ap"])
@pytest.mark.parametrize("agg", ["sum", "mean"])
def test_sp_plus_and_ap_are_permutation_invariant(kind, agg):
    policy = PathPolicy(paths=kind, K=4, path_agg=agg)
    torch.manual_seed(1)
    model = trained_like(policy.build(make_parts(8, 4)))
    graphs = [g for g in random_graphs(6, seed=7) if g.number_of_edges()]
    for i, g in enumerate(graphs):
        first = embed(policy, model, [dgl_graph(g)])
        second = embed(policy, model, [dgl_graph(relabelled(g, i))])
        torch.testing.assert_close(first, second)


def test_parallel_edges_with_their_own_features_keep_invariance():
    # parallel edges and self loops with different features (as in wlkit check's zoo)
    pairs = [(0, 1), (0, 1), (1, 0), (1, 2), (2, 1), (2, 1), (2, 2), (3, 3), (3, 4), (4, 3),
             (0, 4), (4, 0), (4, 0), (2, 3), (3, 2)]
    src, dst = (torch.tensor(x) for x in zip(*pairs))
    feats = torch.randn(len(pairs), 3, dtype=torch.float64,
                        generator=torch.Generator().manual_seed(0))
    policy = PathPolicy(paths="ap", K=3)
    torch.manual_seed(5)
    model = trained_like(policy.build(make_parts(8, 3, edge_dim=3)))
    outputs = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        perm = torch.from_numpy(rng.permutation(5)) if seed else torch.arange(5)
        order = torch.from_numpy(rng.permutation(len(pairs))) if seed else torch.arange(len(pairs))
        g = dgl.graph((perm[src[order]], perm[dst[order]]), num_nodes=5)
        g.edata["feat"] = feats[order]
        outputs.append(embed(policy, model, [g]))
    torch.testing.assert_close(outputs[1], outputs[0])
    torch.testing.assert_close(outputs[2], outputs[0])


def test_sp_is_not_permutation_invariant():
    # a 4-cycle 0-1-2-3 with a pendant node 4 on node 1: the pairs (0, 2) and (1, 3) have two
    # shortest paths each; SP keeps the one through the smaller index, so relabelling the
    # cycle changes whether the kept 0-2 path passes the degree-3 node
    square = nx.Graph([(0, 1), (1, 2), (2, 3), (3, 0), (1, 4)])
    swapped = nx.relabel_nodes(square, {1: 3, 3: 1})
    assert nx.is_isomorphic(square, swapped)
    sp, spp = PathPolicy(paths="sp", K=2), PathPolicy(paths="sp_plus", K=2)

    def middle_degrees(g):
        found = ours(g, 2, "sp")[2]["paths"]
        return sorted(g.degree[int(p[1])] for p in found)

    assert middle_degrees(square) != middle_degrees(swapped)
    torch.manual_seed(2)
    model = trained_like(sp.build(make_parts(8, 2)))
    a = embed(sp, model, [dgl_graph(square)])
    b = embed(sp, model, [dgl_graph(swapped)])
    assert not torch.allclose(a, b, atol=1e-6)
    model = trained_like(spp.build(make_parts(8, 2)))
    torch.testing.assert_close(embed(spp, model, [dgl_graph(square)]),
                               embed(spp, model, [dgl_graph(swapped)]))


def test_pipeline_runs_and_record_facts(tmp_path, write_pipeline):
    record = get_registry().get("subgraph_policy", "pathnn")
    assert record.permutation_invariant is False  # because of paths=sp
    text = TINY_PIPELINE.replace("num_layers: 2", "num_layers: 3").replace(
        "seeds: 2", "seeds: 1").replace("epochs: 2", "epochs: 1") + \
        "policy: {name: pathnn, paths: ap, K: 3}\n"
    summary = run_pipeline(load_pipeline(write_pipeline(text)), out=tmp_path / "run",
                           progress=False)
    assert 0.0 <= summary["test_mean"] <= 1.0
    bad = load_pipeline(write_pipeline(TINY_PIPELINE + "policy: {name: pathnn, K: 2}\n",
                                       "bad.yaml")).data
    bad["model"]["num_layers"] = 3
    with pytest.raises(PluginError, match="set model.num_layers: 2"):
        build_model(bad, instantiate_dataset(bad["dataset"]))


def test_training_dropout_is_drawn_per_path_step_and_matches_the_fast_path():
    policy = PathPolicy(paths="ap", K=2)
    torch.manual_seed(4)
    model = trained_like(policy.build(make_parts(6, 2, edge_dim=3)))
    graphs = [dgl_graph(g, edge_feats=True) for g in random_graphs(2, seed=9)]
    for g in graphs:
        g.edata["feat"] = g.edata["feat"].double()
    batch = policy.collate(graphs, [policy.prepare(g) for g in graphs])
    graph = dgl.batch(graphs)
    h = torch.randn(graph.num_nodes(), 6, dtype=torch.float64)
    edge_h = model.edge_encoder(graph.edata["feat"])
    steps = batch["layers"][1]
    fast = model._paths_into_starts(h, steps, edge_h)  # eval: per-node input projections
    model.train()
    model.dropout.p = 1e-12  # the per-entry path, with (almost) no dropout
    torch.testing.assert_close(model._paths_into_starts(h, steps, edge_h), fast)
    model.dropout.p = 0.5
    first = model._paths_into_starts(h, steps, edge_h)
    assert not torch.allclose(first, model._paths_into_starts(h, steps, edge_h))


# --------------------------------------------------------------------------- exact oracle


def simple(g: nx.Graph, labels: list[int] | None = None) -> SimpleGraph:
    return SimpleGraph.from_edges(g.number_of_nodes(), list(g.edges()), node_labels=labels)


def reference_refinement(graphs: list[nx.Graph], labels: list[list[int]], kind: str, K: int,
                         distances: bool) -> list[list[object]]:
    """The oracle's definition, written out with networkx paths and nested tuples."""

    def paths_from(g: nx.Graph, v: int, length: int) -> list[list[int]]:
        if kind == "sp_plus":
            far = [t for t, d in nx.single_source_shortest_path_length(g, v).items()
                   if d == length]
            return [p for t in far for p in nx.all_shortest_paths(g, v, t)]
        out, stack = [], [[v]]
        while stack:
            p = stack.pop()
            if len(p) == length + 1:
                out.append(p)
                continue
            stack += [p + [u] for u in g[p[-1]] if u not in p]
        return out

    colours = [list(map(int, lab)) for lab in labels]
    for length in range(1, K + 1):
        new = []
        for g, col in zip(graphs, colours):
            dist = dict(nx.all_pairs_shortest_path_length(g))
            sig = []
            for v in range(g.number_of_nodes()):
                seqs = sorted(tuple((col[u], dist[v][u] if distances else 0) for u in p[::-1])
                              for p in paths_from(g, v, length))
                sig.append((col[v], tuple(seqs)))
            new.append(sig)
        palette = {s: i for i, s in enumerate(sorted({s for sig in new for s in sig}))}
        colours = [[palette[s] for s in sig] for sig in new]
    return colours


def same_partition(a: list[np.ndarray], b: list[list[object]]) -> bool:
    x, y = np.concatenate(a), np.array([c for cs in b for c in cs])
    return bool(((x[:, None] == x[None, :]) == (y[:, None] == y[None, :])).all())


@pytest.mark.parametrize(("kind", "K", "distances"),
                         [("sp_plus", 3, False), ("ap", 3, True), ("ap", 3, False)])
def test_path_refinement_matches_the_definition(kind, K, distances, monkeypatch):
    # symmetric graphs keep the partitions coarse, so that settings differ in the answer
    symmetric = [G.cycle(6), G.disjoint_union(G.cycle(3), G.cycle(3)), G.decalin(),
                 G.bicyclopentyl(), G.shrikhande(), G.rook_graph(4), G.cube(), G.petersen(),
                 G.csl(13, 2), G.csl(13, 3)]
    graphs = [nx.Graph(list(g.edges.tolist())) for g in symmetric]  # nodes not in order
    graphs += random_graphs(4, seed=11) + [nx.petersen_graph()]
    labels = [[0] * g.number_of_nodes() for g in graphs]
    labels[-1] = [0, 1] * 5  # a labelled Petersen graph
    expected = reference_refinement(graphs, labels, kind, K, distances)
    simples = [simple(g, lab) for g, lab in zip(graphs, labels)]
    colours, rounds = pathnn.path_refinement(simples, kind, K, distances)
    assert rounds == K and [len(c) for c in colours] == [g.number_of_nodes() for g in graphs]
    assert same_partition(colours, expected)
    other = ("ap", K, not distances) if kind == "ap" else ("sp_plus", K - 1, False)
    assert not same_partition(colours, reference_refinement(graphs, labels, *other))
    # streamed in chunks of one graph: the ids of every column are shared across chunks
    monkeypatch.setattr(pathnn.oracle, "_ORACLE_CHUNK", 1)
    chunked, _ = pathnn.path_refinement(simples, kind, K, distances)
    assert same_partition(chunked, expected)


def test_oracle_names_and_the_policy_bound():
    assert PathPolicy(paths="sp").wl_oracle is None
    assert PathPolicy(paths="sp_plus", K=6).wl_oracle == "path_sp_plus_K6"
    # distances add nothing to shortest paths (the i-th node is at distance i)
    assert PathPolicy(paths="sp_plus", K=6, encode_distances=True).wl_oracle == \
        "path_sp_plus_K6"
    assert PathPolicy(paths="ap", K=4).wl_oracle == "path_ap_K4_dist"
    assert PathPolicy(paths="ap", K=4, encode_distances=False).wl_oracle == "path_ap_K4"
    # the plugin's wlkit_oracles family resolves a name on first use, then lists it
    names = ("path_sp_plus_K6", "path_ap_K4_dist", "path_ap_K4")
    assert tuple(check_oracle(n) for n in names) == names
    assert set(names) <= set(oracle_names())
    assert pathnn.path_oracle("ap", 4, True) == "path_ap_K4_dist"  # again: the same name
    assert oracle_summary("path_ap_K4_dist") == \
        "PathNN refinement, all simple paths of 1..4 edges with distances"
    assert oracle_version("path_ap_K4_dist") == "1"
    g = G.cycle(5)
    assert oracle_cost(g, "path_ap_K4_dist") == 5 + 5 + path_count_bound(
        5, g.edges[:, 0], g.edges[:, 1], 4)


def test_oracle_names_resolve_on_first_use():
    # e.g. wlkit analyze --oracle path_ap_K13 without a pipeline using those settings
    assert "path_ap_K13" not in oracle_names()
    assert distinguishes(G.cycle(6), G.disjoint_union(G.cycle(3), G.cycle(3)), "path_ap_K13")
    assert "path_ap_K13" in oracle_names()
    for bad in ("path_sp_K3", "path_sp_plus_K3_dist", "path_ap_K0", "path_ap_K65", "path_ap"):
        with pytest.raises(ValueError, match=f"unknown WL oracle '{bad}'.*path_ap_K<K>"):
            distinguishes(G.cycle(3), G.cycle(3), bad)


@pytest.mark.parametrize("name", ["csl", "shrikhande", "labelled"])
@pytest.mark.parametrize(("kind", "K", "distances"), [("sp_plus", 4, False), ("ap", 3, True)])
def test_path_oracle_is_invariant_under_relabelling(name, kind, K, distances):
    g = {"csl": G.csl(41, 3), "shrikhande": G.shrikhande(),
         "labelled": simple(nx.petersen_graph(), [0, 1] * 5)}[name]
    perm = np.random.default_rng(3).permutation(g.num_nodes)
    h = g.relabel(perm)
    colours, _ = pathnn.path_refinement([g, h], kind, K, distances)
    assert colours[0].tolist() == colours[1][perm].tolist()  # node i became node perm[i]
    assert not distinguishes(g, h, pathnn.path_oracle(kind, K, distances))


CSL_SKIPS = (2, 3, 4, 5, 6, 9, 11, 12, 13, 16)


@pytest.mark.parametrize(("K", "count"), [(4, 42), (5, 43), (6, 45)])
def test_csl_pairs_separated_by_sp_plus(K, count):
    csl = [G.csl(41, s) for s in CSL_SKIPS]
    pairs = list(itertools.combinations(csl, 2))
    assert int(separated_pairs(pairs, pathnn.path_oracle("sp_plus", K, False)).sum()) == count


def test_classic_pairs():
    pairs = {pid: (g, h) for pid, _cat, g, h in G.classic_pairs()}
    ap4 = pathnn.path_oracle("ap", 4, True)
    assert {pid: distinguishes(g, h, ap4) for pid, (g, h) in pairs.items()} == {
        "c6_vs_2c3": True, "decalin_vs_bicyclopentyl": True, "shrikhande_vs_rook4": True,
        "cfi_k4": False}
    rook = pairs["shrikhande_vs_rook4"]
    for kind, K, distances in [("sp_plus", 4, False), ("sp_plus", 6, False), ("ap", 3, True),
                               ("ap", 4, False)]:
        assert not distinguishes(*rook, pathnn.path_oracle(kind, K, distances))


def as_dgl(g: SimpleGraph) -> dgl.DGLGraph:
    e = g.edges
    return dgl.graph((np.concatenate([e[:, 0], e[:, 1]]), np.concatenate([e[:, 1], e[:, 0]])),
                     num_nodes=g.num_nodes)


@pytest.mark.parametrize(("kind", "K", "distances"),
                         [("sp_plus", 3, False), ("ap", 3, True), ("ap", 3, False)])
def test_model_never_separates_what_the_oracle_cannot(kind, K, distances):
    """Nodes (of any graphs) with one oracle colour get one embedding from a random-weight
    model; graphs with one oracle colour get one output. The converse is not claimed, but
    the model does separate some pairs here."""
    graphs = [g for _, _, first, second in G.classic_pairs() for g in (first, second)]
    graphs += [G.csl(41, 2), G.csl(41, 3), G.cycle(6)]
    graphs += [simple(g) for g in random_graphs(4, seed=12) if g.number_of_edges()]
    policy = PathPolicy(paths=kind, K=K, encode_distances=distances, path_agg="sum")
    torch.manual_seed(5)
    model = trained_like(policy.build(make_parts(8, K)))
    dgls = [as_dgl(g) for g in graphs]
    batch = policy.collate(dgls, [policy.prepare(g) for g in dgls])
    with torch.no_grad():
        nodes = model.node_embeddings(dgl.batch(dgls), batch)
        outputs = embed(policy, model, dgls)
    res = wl_colors(graphs, policy.wl_oracle)
    colour = np.concatenate(res.colors)
    for c in np.unique(colour):
        members = nodes[torch.from_numpy(np.flatnonzero(colour == c))]
        torch.testing.assert_close(members, members[:1].expand_as(members))
    same = res.graph_ids[:, None] == res.graph_ids[None, :]
    differ = torch.cdist(outputs, outputs) > 1e-6 * (1 + outputs.abs().max())
    assert not (differ.numpy() & same).any()
    assert (differ.numpy() & ~same).any() and (same & ~np.eye(len(graphs), dtype=bool)).any()


@pytest.fixture(scope="module")
def sr25_pairs():
    root = SHARED_DATA / "wl" / "SR25"
    if not root.exists():
        pytest.skip(f"shared data not found: {root}")
    from wlkit.tools.separate import load_suite

    suite = load_suite("sr25", str(root))
    return [(p.first, p.second) for p in suite.pairs()]


def test_sr25_counts(sr25_pairs):
    """About 7 s on 2 cores: AP with distances separates 98/105 at K=4, nothing below."""
    assert len(sr25_pairs) == 105
    for kind, K, distances, count in [("sp_plus", 6, False, 0), ("ap", 3, True, 0),
                                      ("ap", 4, False, 0), ("ap", 4, True, 98)]:
        name = pathnn.path_oracle(kind, K, distances)
        assert int(separated_pairs(sr25_pairs, name).sum()) == count, name


@pytest.mark.slow
def test_sr25_ap_k5_separates_every_pair(sr25_pairs):
    """About 50 s and 2 GB on 2 cores."""
    assert separated_pairs(sr25_pairs, pathnn.path_oracle("ap", 5, True)).all()


def test_docstring_examples():
    import doctest

    attempted = 0
    for module in (pathnn.enumeration, pathnn.trie, pathnn.oracle, pathnn.policy):
        result = doctest.testmod(module,
                                 optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, module.__name__
        attempted += result.attempted
    assert attempted > 0


def test_sr25_model_separates_in_float64_only(sr25_pairs):
    """PathNN-AP (K=4, distances, untrained) on one SR25 pair: the outputs differ by ~4e-6
    of their scale, under float32's rounding floor; ``separate --float64`` sees it."""
    from wlkit.pipeline import load_pipeline
    from wlkit.tools.separate import SeparateSettings, Separator

    pipeline = load_pipeline(ROOT / "pipelines" / "sr25_pathnn_ap.yaml").data
    first, second = sr25_pairs[0]
    decisions = {}
    for dtype in ("float32", "float64"):
        settings = SeparateSettings(relabelings=4, output_dim=2, batch_size=4, dtype=dtype)
        decisions[dtype] = Separator(pipeline, 0, settings).decide(first, second, 0)
    assert decisions["float64"]["reliable"] and decisions["float64"]["separated"]
    assert decisions["float32"]["reliable"] and not decisions["float32"]["separated"]


def test_phi_tanh_is_a_smooth_update():
    from wlkit.pipeline.loader import validate_pipeline

    data = validate_pipeline({"name": "t", "dataset": "wl_pairs",
                              "policy": {"name": "pathnn", "paths": "sp_plus", "K": 2,
                                         "phi": "tanh"},
                              "model": {"num_layers": 2, "hidden": 8}}).data
    model = build_model(data, instantiate_dataset(data["dataset"]))
    kinds = {type(m) for m in model.modules()}
    assert nn.Tanh in kinds and nn.ReLU not in {type(p) for m in model.modules()
                                                if hasattr(m, "phis") for p in m.phis}
