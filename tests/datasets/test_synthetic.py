from __future__ import annotations

import json
import subprocess
import sys

import networkx as nx
import pytest
import torch

from tests.conftest import ROOT
from wlkit.datasets.synthetic import CSL_SKIPS, CSLDataset, WLPairsDataset


@pytest.fixture(scope="module")
def csl_fold0():
    return CSLDataset(fold=0).load()


def test_csl_graphs_are_4_regular_relabelled_circulants(csl_fold0):
    assert len(csl_fold0.graphs) == 150
    assert torch.bincount(csl_fold0.labels).tolist() == [15] * 10
    for g, label in zip(csl_fold0.graphs[::15], csl_fold0.labels[::15]):
        assert g.num_nodes() == 41
        assert set(g.in_degrees().tolist()) == {4}
        expected = nx.circulant_graph(41, [1, CSL_SKIPS[label]])
        assert nx.is_isomorphic(nx.Graph(g.to_networkx()), expected)


def test_csl_relabelings_differ(csl_fold0):
    a, b = csl_fold0.graphs[0], csl_fold0.graphs[1]
    assert not torch.equal(torch.stack(a.edges()), torch.stack(b.edges()))


def test_csl_split_is_stratified_3_1_1(csl_fold0):
    splits = csl_fold0.splits
    assert [len(splits[s]) for s in ("train", "valid", "test")] == [90, 30, 30]
    everything = torch.cat([splits[s] for s in ("train", "valid", "test")])
    assert sorted(everything.tolist()) == list(range(150))
    for name in ("valid", "test"):
        assert torch.bincount(csl_fold0.labels[splits[name]]).tolist() == [3] * 10


def test_csl_test_folds_partition_the_dataset():
    tests = [set(CSLDataset(fold=k).load().splits["test"].tolist()) for k in range(5)]
    assert set().union(*tests) == set(range(150))
    assert sum(len(t) for t in tests) == 150


def test_csl_is_deterministic():
    a, b = CSLDataset(seed=3).load(), CSLDataset(seed=3).load()
    assert torch.equal(torch.stack(a.graphs[7].edges()), torch.stack(b.graphs[7].edges()))


def test_wl_pairs_labels_and_ids():
    loaded = WLPairsDataset().load()
    assert loaded.labels.tolist() == [0, 1] * (len(loaded.graphs) // 2)
    ids = loaded.extra["pair_ids"]
    assert ids[0::2] == ids[1::2] and len(set(ids)) == 4
    assert WLPairsDataset(pairs=[ids[0]]).info().num_graphs == 2
    with pytest.raises(ValueError, match="unknown pair ids"):
        WLPairsDataset(pairs=["nope"])


@pytest.mark.parametrize("pipeline,low,high", [
    ("quickstart.yaml", 0.9, 1.0),
    ("quickstart_no_pe.yaml", 0.0, 0.2),
])
def test_quickstart_reaches_its_documented_accuracy(tmp_path, pipeline, low, high):
    """One seed of each shipped quickstart: RWSE separates CSL, plain GIN cannot."""
    result = subprocess.run(
        [sys.executable, "-m", "wlkit.cli", "run", str(ROOT / "pipelines" / pipeline),
         "--out", str(tmp_path / "run"), "--quiet", "--set", "seeds=1"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert low <= summary["test_mean"] <= high
