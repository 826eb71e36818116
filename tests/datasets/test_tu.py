"""TU datasets: the shared copies through DGL's reader, the saved stratified 10-fold split,
any TU name from a root, and corrupt files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import ROOT, SHARED_DATA
from wlkit import DatasetError
from wlkit.datasets import tu
from wlkit.datasets.tu import KNOWN, TUDataset, _scan, _stamp, stratified_folds

TU_ROOT = SHARED_DATA / "tu"
needs_data = pytest.mark.skipif(not (TU_ROOT / "MUTAG" / "MUTAG_A.txt").is_file(),
                                reason="shared TU data not present")


def _check_folds(folds, labels, validation):
    n = len(labels)
    assert len(folds) == 10
    tests = [set(f["test"]) for f in folds]
    assert set().union(*tests) == set(range(n)) and sum(map(len, tests)) == n  # a partition
    counts = np.bincount(labels)
    for fold in folds:
        train, valid, test = (set(fold[k]) for k in ("train", "valid", "test"))
        assert train.isdisjoint(test)
        if validation == "holdout":
            assert train.isdisjoint(valid) and valid.isdisjoint(test)
            assert train | valid | test == set(range(n))
            assert abs(len(valid) - 0.1 * (n - len(test))) <= 1
        else:
            assert valid == test and train | test == set(range(n))
        # stratified: every class within one graph of its share of the fold
        share = np.bincount(labels[sorted(test)], minlength=len(counts))
        assert np.all(np.abs(share - counts * len(test) / n) <= 1)


@pytest.mark.parametrize("validation", ["holdout", "test"])
def test_stratified_folds_partition_and_are_seeded(validation):
    labels = np.array([0] * 63 + [1] * 125 + [2] * 40)
    folds = stratified_folds(labels, seed=0, validation=validation)
    _check_folds(folds, labels, validation)
    assert stratified_folds(labels, 0, validation) == folds  # deterministic
    assert stratified_folds(labels, 1, validation) != folds  # the seed matters


def test_folds_are_xu_et_al_s_stratified_kfold():
    from sklearn.model_selection import StratifiedKFold

    labels = np.array([0, 1] * 30 + [1] * 20)
    ours = stratified_folds(labels, seed=0, validation="test")
    theirs = StratifiedKFold(n_splits=10, shuffle=True, random_state=0).split(
        np.zeros(len(labels)), labels)
    assert [f["test"] for f in ours] == [sorted(t.tolist()) for _, t in theirs]


def test_a_class_smaller_than_ten_is_refused():
    with pytest.raises(DatasetError, match="only 3 graphs"):
        stratified_folds(np.array([0] * 30 + [1] * 3), seed=0)


def _write_toy(root: Path, name: str = "TOY", graphs: int = 30) -> Path:
    """A TU-format dataset of cycles (class 0) and paths (class 1) with 2 node labels."""
    folder = root / name
    folder.mkdir(parents=True)
    edges, indicator, node_labels, graph_labels = [], [], [], []
    first = 1
    for g in range(graphs):
        n = 4 + g % 3
        for i in range(n):
            indicator.append(g + 1)
            node_labels.append(i % 2)
        pairs = [(i, i + 1) for i in range(n - 1)] + ([(n - 1, 0)] if g % 2 == 0 else [])
        for a, b in pairs:
            edges += [(first + a, first + b), (first + b, first + a)]
        graph_labels.append(g % 2)
        first += n
    (folder / f"{name}_A.txt").write_text("".join(f"{a}, {b}\n" for a, b in edges))
    (folder / f"{name}_graph_indicator.txt").write_text("".join(f"{i}\n" for i in indicator))
    (folder / f"{name}_node_labels.txt").write_text("".join(f"{v}\n" for v in node_labels))
    (folder / f"{name}_graph_labels.txt").write_text("".join(f"{v}\n" for v in graph_labels))
    return folder


def test_any_tu_name_loads_from_a_root(tmp_path, monkeypatch):
    monkeypatch.setenv("WLKIT_CACHE_DIR", str(tmp_path / "cache"))
    _write_toy(tmp_path / "data")
    dataset = TUDataset("TOY", fold=3, root=str(tmp_path / "data"))
    info = dataset.info()
    assert (info.task, info.num_tasks, info.node_feat_dim) == ("multiclass", 2, 2)
    loaded = dataset.load()
    assert len(loaded.graphs) == 30 and loaded.labels.tolist() == [g % 2 for g in range(30)]
    assert loaded.graphs[0].ndata["feat"].tolist() == [[1, 0], [0, 1], [1, 0], [0, 1]]
    assert loaded.graphs[0].num_edges() == 8  # the 4-cycle, both directions
    assert sorted(torch.cat(list(loaded.splits.values())).tolist()) == list(range(30))
    # the root is only read: DGL's processed files went to the cache
    assert sorted(p.name for p in (tmp_path / "data" / "TOY").iterdir()) == [
        "TOY_A.txt", "TOY_graph_indicator.txt", "TOY_graph_labels.txt", "TOY_node_labels.txt"]


def test_folds_are_saved_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("WLKIT_CACHE_DIR", str(tmp_path / "cache"))
    _write_toy(tmp_path / "data")
    first = TUDataset("TOY", fold=0, root=str(tmp_path / "data")).load()
    (saved,) = (tmp_path / "cache" / "tu" / "folds").glob("TOY-seed0-holdout-*.json")
    document = json.loads(saved.read_text())
    assert document["format"] == 1 and "StratifiedKFold" in document["protocol"]
    _check_folds(document["folds"], first.labels.numpy(), "holdout")

    def refuse(*args, **kwargs):
        raise AssertionError("the saved folds should have been read")

    monkeypatch.setattr(tu, "stratified_folds", refuse)
    again = TUDataset("TOY", fold=0, root=str(tmp_path / "data")).load()
    assert all(torch.equal(first.splits[k], again.splits[k]) for k in first.splits)


def test_unknown_name_without_files_says_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("WLKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("WLKIT_TU_ROOT", raising=False)
    with pytest.raises(DatasetError, match="python -m wlkit.datasets.tu DD"):
        TUDataset("DD").info()
    assert TUDataset("MUTAG").info().node_feat_dim == 7  # shipped shapes need no files
    with pytest.raises(DatasetError, match="not a TU dataset name"):
        TUDataset("../etc")


@needs_data
@pytest.mark.parametrize("name", sorted(KNOWN))
def test_known_shapes_match_the_shared_files(name):
    folder = TU_ROOT / name
    assert _scan(str(folder), name, _stamp(folder)) == KNOWN[name]


@needs_data
def test_shared_mutag_loads_with_ten_folds(tmp_path, monkeypatch):
    monkeypatch.setenv("WLKIT_CACHE_DIR", str(tmp_path / "cache"))
    dataset = TUDataset("MUTAG", root=str(TU_ROOT))
    loaded = dataset.load()
    assert len(loaded.graphs) == 188
    assert torch.bincount(loaded.labels).tolist() == [63, 125]
    feat = torch.cat([g.ndata["feat"] for g in loaded.graphs])
    assert feat.shape[1] == 7 and bool((feat.sum(1) == 1).all())  # one-hot atom labels
    assert dataset.info().metric == "accuracy"
    folds = dataset.folds(loaded.labels)
    _check_folds(folds, loaded.labels.numpy(), "holdout")
    sizes = [len(folds[0][k]) for k in ("train", "valid", "test")]
    assert sum(sizes) == 188 and sizes[2] in (18, 19)


@needs_data
def test_imdb_degree_one_hot_and_proteins_attributes(tmp_path, monkeypatch):
    monkeypatch.setenv("WLKIT_CACHE_DIR", str(tmp_path / "cache"))
    loaded = TUDataset("IMDB-BINARY", root=str(TU_ROOT), max_per_split=4).load()
    assert len(loaded.graphs) == 12  # only the kept graphs
    for g in loaded.graphs:
        assert g.ndata["feat"].shape[1] == 136
        assert torch.equal(g.ndata["feat"].argmax(1), g.in_degrees())  # repeated edges merged
    with_attr = TUDataset("PROTEINS", root=str(TU_ROOT))
    labels_only = TUDataset("PROTEINS", root=str(TU_ROOT), node_attributes=False)
    assert (with_attr.info().node_feat_dim, labels_only.info().node_feat_dim) == (4, 3)


def _copy_mutag(tmp_path) -> Path:
    target = tmp_path / "tu" / "MUTAG"
    shutil.copytree(TU_ROOT / "MUTAG", target)
    for path in [target, *target.iterdir()]:
        path.chmod(0o700 if path.is_dir() else 0o600)
    return target


def _cli(tmp_path, command, root, *extra):
    env = {**os.environ, "WLKIT_CACHE_DIR": str(tmp_path / "cache"),
           "WLKIT_DISABLE_PLUGIN_AUTOLOAD": "1", "OMP_NUM_THREADS": "1"}
    args = [sys.executable, "-m", "wlkit.cli", command, str(ROOT / "pipelines/tu_gin_mutag.yaml"),
            "--set", f"dataset.root={root}", *extra]
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)


@needs_data
def test_corrupt_edge_file_via_validate_exits_2_naming_it(tmp_path):
    folder = _copy_mutag(tmp_path)
    (folder / "MUTAG_A.txt").write_text("1, 2\nnot, numbers\n")
    result = _cli(tmp_path, "validate", folder.parent)
    assert result.returncode == 2, result.stderr
    assert str(folder / "MUTAG_A.txt") in result.stderr and "Traceback" not in result.stderr


@needs_data
@pytest.mark.parametrize("content", [b"\x00\xff garbage\n", b"1\n1\n"],
                         ids=["not_text", "too_short"])
def test_corrupt_indicator_via_run_exits_2_naming_it(tmp_path, content):
    folder = _copy_mutag(tmp_path)
    (folder / "MUTAG_graph_indicator.txt").write_bytes(content)
    result = _cli(tmp_path, "run", folder.parent, "--out", str(tmp_path / "run"), "--quiet",
                  "--set", "train.epochs=1")
    assert result.returncode == 2, result.stderr
    assert str(folder / "MUTAG_graph_indicator.txt") in result.stderr
    assert "Traceback" not in result.stderr
