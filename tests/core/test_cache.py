"""The per-graph cache of encodings and policy structures (wlkit.model.data)."""

from __future__ import annotations

import hashlib
import warnings

import dgl
import numpy as np
import pytest
import torch

from wlkit.model import data
from wlkit.model.data import CacheWarning, cached_per_graph, structure_hash


def graphs_of(sizes: list[int]) -> list[dgl.DGLGraph]:
    out = []
    for n in sizes:
        src = torch.arange(max(n - 1, 0))
        out.append(dgl.graph((src, src + 1), num_nodes=n))
    return out


def policy_like(g: dgl.DGLGraph) -> dict[str, torch.Tensor]:
    n = g.num_nodes()
    return {"nodes": torch.arange(n), "pairs": torch.arange(2 * n).view(n, 2),
            "wide": torch.ones(2, n),  # trailing dimension differs between graphs
            "scalar": torch.tensor(float(n)), "empty": torch.zeros(0, 3),
            "mask": torch.arange(n) % 2 == 0}


def run(graphs, compute, tmp_path, calls):
    def counted(g):
        calls.append(g.num_nodes())
        return compute(g)

    return cached_per_graph("policies", "test", graphs, counted, "test", tmp_path)


def assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        if isinstance(x, dict):
            assert list(x) == list(y)
            for key in x:
                assert x[key].dtype == y[key].dtype and torch.equal(x[key], y[key]), key
        else:
            assert x.dtype == y.dtype and torch.equal(x, y)


@pytest.mark.parametrize("compute", [policy_like, lambda g: torch.randn(g.num_nodes(), 4),
                                     lambda g: {}])
def test_second_call_reads_the_same_results(tmp_path, compute):
    graphs = graphs_of([3, 1, 5, 2])
    calls: list[int] = []
    torch.manual_seed(0)
    first = run(graphs, compute, tmp_path, calls)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)
        second = run(graphs, compute, tmp_path, calls)
    assert calls == [3, 1, 5, 2]  # computed once
    assert_same(first, second)


def test_results_that_do_not_pack_are_stored_as_a_list(tmp_path):
    graphs = graphs_of([2, 3])

    def mixed(g):  # dtype of one key differs between graphs
        return {"x": torch.arange(g.num_nodes(), dtype=torch.int32 if g.num_nodes() == 2
                                  else torch.int64)}

    calls: list[int] = []
    first = run(graphs, mixed, tmp_path, calls)
    assert_same(first, run(graphs, mixed, tmp_path, calls))
    assert calls == [2, 3]
    (path,) = (tmp_path / "policies").glob("*.pt")
    assert "tensors" in torch.load(path, weights_only=True)


def test_a_format_1_file_is_read_and_rewritten(tmp_path):
    graphs = graphs_of([2, 4])
    results = [policy_like(g) for g in graphs]
    path = tmp_path / "policies" / f"test-{structure_hash(graphs)}.pt"
    path.parent.mkdir()
    torch.save({"format": 1, "tensors": results,
                "checksum": data._tensor_checksum(results)}, path)
    calls: list[int] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)
        assert_same(run(graphs, policy_like, tmp_path, calls), results)
    assert calls == []
    blob = torch.load(path, weights_only=True)
    assert blob["format"] == data.CACHE_FORMAT and "packed" in blob


def test_a_corrupt_file_is_reported_and_rebuilt(tmp_path):
    graphs = graphs_of([2, 4])
    calls: list[int] = []
    run(graphs, policy_like, tmp_path, calls)
    (path,) = (tmp_path / "policies").glob("*.pt")
    blob = torch.load(path, weights_only=True)
    blob["packed"]["flat"]["nodes"][0] += 1  # silent bit rot
    torch.save(blob, path)
    with pytest.warns(CacheWarning, match="corrupt"):
        rebuilt = run(graphs, policy_like, tmp_path, calls)
    assert calls == [2, 4, 2, 4]
    assert_same(rebuilt, [policy_like(g) for g in graphs])
    path.write_bytes(path.read_bytes()[:100])  # truncated
    with pytest.warns(CacheWarning, match="corrupt"):
        run(graphs, policy_like, tmp_path, calls)


def graph_by_graph_hash(graphs) -> str:
    digest = hashlib.sha256()
    for g in graphs:
        src, dst = g.edges()
        digest.update(np.int64(g.num_nodes()).tobytes())
        digest.update(src.numpy().astype(np.int64).tobytes())
        digest.update(dst.numpy().astype(np.int64).tobytes())
    return digest.hexdigest()[:16]


def test_structure_hash_is_the_graph_by_graph_checksum():
    graphs = [dgl.graph(([], []), num_nodes=0), dgl.graph(([], []), num_nodes=3),
              dgl.graph(([0, 2, 3], [1, 0, 3]), num_nodes=4), *graphs_of([5, 1])]
    assert structure_hash(graphs) == graph_by_graph_hash(graphs)
    assert structure_hash([]) == graph_by_graph_hash([])
    mixed = [dgl.graph(([0], [1])), dgl.graph(([0], [1]), idtype=torch.int32)]
    assert structure_hash(mixed) == graph_by_graph_hash(mixed)
    assert structure_hash(graphs[2:3]) != structure_hash([dgl.graph(([0, 3, 2], [1, 3, 0]))])
