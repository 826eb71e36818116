"""LRGB Peptides-func from the shared copy: LRGB's split, OGB features, AP, corrupt files."""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from tests.conftest import ROOT, SHARED_DATA
from wlkit import DatasetError
from wlkit.datasets.lrgb import CSV, FOLDER, MD5, SPLIT, PeptidesFunc, read_peptides, read_split

LRGB_ROOT = SHARED_DATA / "lrgb"
SOURCE = LRGB_ROOT / FOLDER
needs_data = pytest.mark.skipif(not (SOURCE / CSV).is_file(),
                                reason="shared LRGB data not present")


def test_split_pickle_may_hold_numpy_arrays_only(tmp_path):
    path = tmp_path / SPLIT
    good = {"train": np.arange(5), "val": np.arange(5, 7), "test": np.arange(7, 9)}
    path.write_bytes(pickle.dumps(good))
    assert read_split(path)["val"].tolist() == [5, 6]
    marker = tmp_path / "pwned"
    path.write_bytes(b"cos\nsystem\n(V" + f"touch {marker}".encode() + b"\ntR.")
    with pytest.raises(DatasetError, match="refusing to unpickle os.system") as info:
        read_split(path)
    assert str(path) in str(info.value) and not marker.exists()
    path.write_bytes(pickle.dumps({"train": np.array(["a"]), "val": 1, "test": None}))
    with pytest.raises(DatasetError, match="integer arrays"):
        read_split(path)


def test_labels_are_parsed_as_json_never_evaluated(tmp_path):
    path = tmp_path / CSV
    with gzip.open(path, "wt") as handle:
        handle.write('smiles,labels\nCC,"[0, 1, 0, 0, 0, 0, 0, 0, 0, 1]"\n'
                     'CO,"__import__(\'os\').getcwd()"\n')
    with pytest.raises(DatasetError, match="line 3: labels"):
        read_peptides(path)


def test_info_and_missing_root(tmp_path, monkeypatch):
    info = PeptidesFunc().info()
    assert (info.task, info.num_tasks, info.metric, info.higher_is_better) == (
        "binary", 10, "ap", True)
    assert (info.node_feat_dim, info.edge_feat_dim) == (9, 3)
    with pytest.raises(DatasetError, match="does not exist") as err:
        PeptidesFunc(root=str(tmp_path)).prepare_data()
    assert str(tmp_path / FOLDER) in str(err.value)


@needs_data
def test_shared_files_are_lrgbs():
    for name in (CSV, SPLIT):
        assert hashlib.md5((SOURCE / name).read_bytes()).hexdigest() == MD5[name]
    split = read_split(SOURCE / SPLIT)
    assert [len(split[k]) for k in ("train", "val", "test")] == [10_873, 2_331, 2_331]
    ids = np.concatenate([split[k] for k in ("train", "val", "test")])
    assert sorted(ids.tolist()) == list(range(15_535))  # disjoint and complete
    smiles, labels = read_peptides(SOURCE / CSV)
    assert len(smiles) == 15_535 and labels.shape == (15_535, 10)
    assert set(np.unique(labels).tolist()) == {0.0, 1.0}


@needs_data
def test_subsample_loads_with_ogb_features(tmp_path, monkeypatch):
    from ogb.utils import smiles2graph

    monkeypatch.setenv("WLKIT_CACHE_DIR", str(tmp_path / "cache"))
    dataset = PeptidesFunc(root=str(LRGB_ROOT), max_per_split=10)
    dataset.prepare_data()
    loaded = dataset.load()
    assert len(loaded.graphs) == 30 and loaded.labels.shape == (30, 10)
    assert [len(loaded.splits[s]) for s in ("train", "valid", "test")] == [10, 10, 10]
    # graph k of the split is peptide split["val"][k], built by ogb's smiles2graph
    split = read_split(SOURCE / SPLIT)
    smiles, labels = read_peptides(SOURCE / CSV)
    peptide = int(split["val"][3])
    g = loaded.graphs[int(loaded.splits["valid"][3])]
    reference = smiles2graph(smiles[peptide])
    assert g.num_nodes() == reference["num_nodes"]
    assert torch.equal(g.ndata["feat"], torch.from_numpy(reference["node_feat"]).long())
    assert torch.equal(g.edata["feat"], torch.from_numpy(reference["edge_feat"]).long())
    assert loaded.labels[int(loaded.splits["valid"][3])].tolist() == labels[peptide].tolist()
    # average precision over the 10 tasks: 1 for a perfect ranking
    y = loaded.labels
    assert dataset.evaluate(y, y * 2 - 1) == pytest.approx(1.0)
    # the converted graphs are cached: a second load reads them back
    (cache,) = (tmp_path / "cache" / "lrgb" / "graphs").glob("*.bin")
    again = PeptidesFunc(root=str(LRGB_ROOT), max_per_split=10).load()
    assert torch.equal(again.labels, loaded.labels) and cache.exists()


@needs_data
@pytest.mark.parametrize("damaged", [CSV, SPLIT])
def test_corrupt_file_via_cli_exits_2_naming_it(tmp_path, damaged):
    folder = tmp_path / "lrgb" / FOLDER
    shutil.copytree(SOURCE, folder)
    for path in [folder, *folder.iterdir()]:
        path.chmod(0o700 if path.is_dir() else 0o600)
    bad = folder / damaged
    bad.write_bytes(bad.read_bytes()[:3000])
    env = {**os.environ, "WLKIT_CACHE_DIR": str(tmp_path / "cache"),
           "WLKIT_DISABLE_PLUGIN_AUTOLOAD": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "wlkit.cli", "run", str(ROOT / "pipelines/peptides_func_gine.yaml"),
         "--out", str(tmp_path / "run"), "--quiet", "--set", f"dataset.root={folder.parent}",
         "--set", "dataset.max_per_split=4", "--set", "seeds=1", "--set", "train.epochs=1"],
        capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 2, result.stderr
    assert str(bad) in result.stderr and "Traceback" not in result.stderr
