from __future__ import annotations

import dgl
import networkx as nx
import numpy as np
import pytest
import torch

from wlkit.model.build import instantiate


def rwse(steps):
    return instantiate("positional_encoding", {"name": "rwse", "steps": steps})


def test_matches_dense_numpy_powers():
    G = nx.gnm_random_graph(9, 16, seed=3)
    g = dgl.from_networkx(G)
    A = nx.to_numpy_array(G, nodelist=range(9))
    deg = A.sum(1, keepdims=True)
    P = np.divide(A, deg, out=np.zeros_like(A), where=deg > 0)
    expected = np.stack([np.diag(np.linalg.matrix_power(P, k)) for k in range(1, 7)], 1)
    np.testing.assert_allclose(rwse(6).compute(g).numpy(), expected, atol=1e-6)


def test_cycle_return_probabilities():
    g = dgl.to_bidirected(dgl.graph((torch.arange(6), (torch.arange(6) + 1) % 6)))
    out = rwse(4).compute(g)
    torch.testing.assert_close(out[0], torch.tensor([0.0, 0.5, 0.0, 0.375]))
    assert torch.allclose(out, out[0].expand_as(out))  # vertex-transitive


def test_isolated_nodes_are_zero():
    g = dgl.graph(([0], [1]), num_nodes=4)
    g = dgl.to_bidirected(g)
    assert torch.equal(rwse(3).compute(g)[3], torch.zeros(3))


def test_separates_csl_classes_that_1wl_cannot():
    from wlkit.datasets.synthetic import CSL_SKIPS
    from wlkit.graphs import csl

    signatures = {tuple(rwse(20).compute(csl(41, r).to_dgl())[0].round(decimals=6).tolist())
                  for r in CSL_SKIPS}
    assert len(signatures) == len(CSL_SKIPS)


def test_cache_key_changes_with_parameters():
    assert rwse(4).cache_key() != rwse(5).cache_key()
    assert rwse(4).cache_key() == rwse(4).cache_key()


def test_invalid_steps_are_refused_by_the_schema():
    from wlkit.params import check_params
    from wlkit.plugins.encodings import RWSE_RECORD

    _, problems = check_params(RWSE_RECORD.params, {"steps": 0})
    assert [(key, message) for key, message, _ in problems] == [("steps", "must be >= 1, got 0")]


# --------------------------------------------------------------------- lappe and degree
def lappe(**params):
    return instantiate("positional_encoding", {"name": "lappe", **params})


def _normalised_laplacian(g):
    n = g.num_nodes()
    A = np.zeros((n, n))
    src, dst = g.edges()
    A[src.numpy(), dst.numpy()] = 1
    d = A.sum(1)
    inv = np.where(d > 0, 1 / np.sqrt(np.maximum(d, 1e-12)), 0)
    return np.eye(n) - inv[:, None] * A * inv[None, :]


def test_lappe_columns_are_the_smallest_nontrivial_eigenvectors():
    g = dgl.from_networkx(nx.gnm_random_graph(12, 24, seed=1))
    L = _normalised_laplacian(g)
    pe = lappe(k=4).compute(g).double().numpy()
    values = np.linalg.eigvalsh(L)
    for i in range(4):
        v = pe[:, i]
        np.testing.assert_allclose(L @ v, values[i + 1] * v, atol=1e-5)
        assert abs(np.linalg.norm(v) - 1) < 1e-5


def test_lappe_k_at_least_n_is_an_error_or_zero_padded():
    from wlkit import WlkitError

    g = dgl.to_bidirected(dgl.graph((torch.arange(4), (torch.arange(4) + 1) % 4)))
    with pytest.raises(WlkitError, match="k=4 eigenvectors asked for, but a graph has 4 nodes"):
        lappe(k=4).compute(g)
    padded = lappe(k=5, pad=True).compute(g)
    assert padded.shape == (4, 5) and torch.equal(padded[:, 3:], torch.zeros(4, 2))
    assert padded[:, :3].abs().sum() > 0


def test_lappe_random_sign_flip_per_graph_in_training_only():
    flip = lappe(k=3).input_module()
    g = dgl.batch([dgl.rand_graph(5, 10), dgl.rand_graph(7, 12)])
    pe = torch.rand(12, 3) + 0.1
    assert torch.equal(flip.eval()(g, pe), pe)
    flip.train()
    seen = set()
    for _ in range(20):
        ratio = flip(g, pe) / pe
        assert set(ratio.unique().tolist()) <= {-1.0, 1.0}
        assert torch.equal(ratio[:5], ratio[:1].expand(5, 3))  # one sign per graph and column
        assert torch.equal(ratio[5:], ratio[5:6].expand(7, 3))
        seen.add(tuple(ratio[0].tolist() + ratio[5].tolist()))
    assert len(seen) > 1


def test_signnet_is_sign_invariant():
    net = lappe(k=3, sign="signnet", signnet_dim=8).input_module()
    g = dgl.from_networkx(nx.gnm_random_graph(9, 15, seed=2))
    pe = lappe(k=3).compute(g)
    out = net(g, pe)
    assert out.shape == (9, 8)
    torch.testing.assert_close(net(g, pe * torch.tensor([-1.0, 1.0, -1.0])), out)
    assert lappe(k=3, sign="none").input_module() is None


def test_lappe_cache_is_reused_and_keyed_by_k_only(tmp_path):
    from wlkit.model.data import attach_encodings
    from wlkit.plugins.encodings import LaplacianPE

    calls = []

    class Counting(LaplacianPE):
        def compute(self, graph):
            calls.append(1)
            return super().compute(graph)

    graphs = [dgl.from_networkx(nx.cycle_graph(n)) for n in (6, 7, 8)]
    attach_encodings(graphs, [Counting(k=3)], tmp_path)
    first = [g.ndata["pe"].clone() for g in graphs]
    attach_encodings(graphs, [Counting(k=3, sign="signnet")], tmp_path)
    assert len(calls) == 3  # the second run read the cache
    assert all(torch.equal(a, g.ndata["pe"]) for a, g in zip(first, graphs))
    assert Counting(k=3).cache_key() != Counting(k=4).cache_key()


def test_encodings_with_input_modules_in_a_model():
    from wlkit.model.graph_model import NodeInput

    encs = [lappe(k=3, sign="signnet", signnet_dim=5), rwse(4), lappe(k=2)]
    node_input = NodeInput(8, 0, None, sum(e.dim for e in encs),
                           pe_modules=[(e.dim, e.input_module()) for e in encs])
    assert node_input.pe_input[0].num_features == 5 + 4 + 2
    g = dgl.batch([dgl.rand_graph(6, 12), dgl.rand_graph(4, 6)])
    g.ndata["pe"] = torch.rand(10, 9)
    assert node_input.eval()(g).shape == (10, 8)


def test_degree_encoding():
    g = dgl.to_bidirected(dgl.graph(([0, 0, 0], [1, 2, 3])))  # a star
    onehot = instantiate("positional_encoding", {"name": "degree", "max_degree": 2})
    assert onehot.dim == 3
    assert onehot.compute(g).tolist() == [[0, 0, 1], [0, 1, 0], [0, 1, 0], [0, 1, 0]]
    log = instantiate("positional_encoding", {"name": "degree", "kind": "log"})
    torch.testing.assert_close(log.compute(g)[:, 0], torch.log1p(torch.tensor([3.0, 1, 1, 1])))


def test_a_second_run_reuses_the_encoding_cache(tmp_path, write_pipeline, monkeypatch):
    from tests.conftest import TINY_PIPELINE
    from wlkit.pipeline import load_pipeline
    from wlkit.plugins.encodings import DegreeEncoding, LaplacianPE, RandomWalkSE
    from wlkit.runner import run_pipeline

    monkeypatch.setenv("WLKIT_CACHE_DIR", str(tmp_path / "cache"))
    calls = {}
    for cls in (RandomWalkSE, LaplacianPE, DegreeEncoding):
        original = cls.compute

        def counted(self, graph, original=original, name=cls.__name__):
            calls[name] = calls.get(name, 0) + 1
            return original(self, graph)

        monkeypatch.setattr(cls, "compute", counted)
    text = (TINY_PIPELINE.replace("seeds: 2", "seeds: 1").replace(
        "encodings: [{name: rwse, steps: 4}]",
        "encodings: [{name: rwse, steps: 4}, {name: lappe, k: 2}, degree]"))
    pipeline = load_pipeline(write_pipeline(text))
    run_pipeline(pipeline, out=tmp_path / "a", progress=False)
    first = dict(calls)
    assert first == {"RandomWalkSE": 8, "LaplacianPE": 8, "DegreeEncoding": 8}  # wl_pairs
    run_pipeline(pipeline, out=tmp_path / "b", progress=False)
    assert calls == first  # the second run read every encoding from the cache
    changed = load_pipeline(write_pipeline(text.replace("k: 2", "k: 3"), "other.yaml"))
    run_pipeline(changed, out=tmp_path / "c", progress=False)
    assert calls == {**first, "LaplacianPE": 16}  # new parameters, new cache entry
