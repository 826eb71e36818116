"""ZINC-12k from the shared benchmarking-gnns pickles, and the restricted unpickler."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys

import pytest
import torch

from tests.conftest import ROOT, SHARED_DATA
from wlkit import DatasetError
from wlkit.datasets.zinc import (
    NUM_ATOM_TYPES,
    TARGET,
    TORCH_GLOBALS,
    ZincDataset,
    molecule_graph,
    restricted_load,
)

ZINC_ROOT = SHARED_DATA / "zinc"
needs_data = pytest.mark.skipif(not (ZINC_ROOT / "subset" / "train.pickle").is_file(),
                                reason="shared ZINC data not present")


class _Exploit:
    """Unpickling this runs ``os.system`` under a plain ``pickle.load``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("payload", ["system", "eval", "class"])
def test_restricted_unpickler_refuses_arbitrary_globals(tmp_path, payload):
    marker = tmp_path / "pwned"
    path = tmp_path / "train.pickle"
    if payload == "system":
        data = pickle.dumps([_Exploit(marker)])
    elif payload == "eval":  # builtins.eval("open(marker, 'w')"), written opcode by opcode
        data = b"cbuiltins\neval\n(V" + f"open({str(marker)!r}, 'w')".encode() + b"\ntR."
    else:
        data = pickle.dumps([_Exploit])  # a class by reference is a global too
    path.write_bytes(data)
    with pytest.raises(DatasetError, match="refusing to unpickle") as info:
        restricted_load(path, TORCH_GLOBALS, "molecules")
    assert str(path) in str(info.value)
    assert not marker.exists()


def test_restricted_unpickler_accepts_tensors(tmp_path):
    path = tmp_path / "ok.pickle"
    record = {"num_atom": 2, "atom_type": torch.tensor([0, 1]),
              "bond_type": torch.tensor([[0, 1], [1, 0]]), TARGET: torch.tensor([0.5])}
    path.write_bytes(pickle.dumps([record]))
    (loaded,) = restricted_load(path, TORCH_GLOBALS, "molecules")
    g = molecule_graph(loaded, path, 0)
    assert g.num_nodes() == 2 and g.num_edges() == 2
    assert g.edata["feat"].view(-1).tolist() == [1, 1]


def test_molecule_checks_name_the_file_and_molecule(tmp_path):
    path = tmp_path / "x.pickle"
    bad = {"atom_type": torch.tensor([0, 1]), "bond_type": torch.tensor([[0, 1], [2, 0]]),
           TARGET: torch.tensor([0.5])}
    with pytest.raises(DatasetError, match="molecule 3: bond_type is not symmetric"):
        molecule_graph(bad, path, 3)
    bad = {**bad, "bond_type": torch.tensor([[0, 1], [1, 0]]),
           "atom_type": torch.tensor([0, NUM_ATOM_TYPES])}
    with pytest.raises(DatasetError, match="atom types"):
        molecule_graph(bad, path, 0)


def test_info_without_data_and_missing_root(tmp_path, monkeypatch):
    info = ZincDataset().info()
    assert (info.task, info.num_tasks, info.metric, info.higher_is_better) == (
        "regression", 1, "mae", False)
    assert info.num_graphs == 12_000
    monkeypatch.setenv("WLKIT_OFFLINE", "1")
    with pytest.raises(DatasetError, match="subset/") as err:
        ZincDataset(root=str(tmp_path)).prepare_data()
    assert str(tmp_path) in str(err.value)


@needs_data
def test_shared_zinc12k_loads_with_the_official_split():
    dataset = ZincDataset(root=str(ZINC_ROOT))
    dataset.prepare_data()
    loaded = dataset.load()
    assert len(loaded.graphs) == 12_000
    assert [len(loaded.splits[s]) for s in ("train", "valid", "test")] == [10_000, 1_000, 1_000]
    everything = torch.cat([loaded.splits[s] for s in ("train", "valid", "test")])
    assert sorted(everything.tolist()) == list(range(12_000))
    assert loaded.labels.shape == (12_000, 1) and bool(torch.isfinite(loaded.labels).all())
    atoms = torch.cat([g.ndata["feat"] for g in loaded.graphs])
    bonds = torch.cat([g.edata["feat"] for g in loaded.graphs])
    assert atoms.shape[1] == 1 and bonds.shape[1] == 1
    assert int(atoms.min()) >= 0 and int(atoms.max()) < NUM_ATOM_TYPES
    assert set(bonds.view(-1).tolist()) == {1, 2, 3}  # 0 = no bond is never an edge
    # the first training molecule, as PyG's ZINC(subset=True)[0] reads it
    first = loaded.graphs[int(loaded.splits["train"][0])]
    assert (first.num_nodes(), first.num_edges()) == (29, 64)
    assert loaded.labels[int(loaded.splits["train"][0])].item() == pytest.approx(0.8350, abs=1e-4)
    # the encoders embed the type columns
    assert dataset.node_encoder(8)(first.ndata["feat"]).shape == (29, 8)
    assert dataset.edge_encoder(8)(first.edata["feat"]).shape == (64, 8)
    # predicting the training mean: MAE well above the published models' ~0.1-0.5
    train = loaded.labels[loaded.splits["train"]]
    test = loaded.labels[loaded.splits["test"]]
    floor = dataset.evaluate(test, torch.full_like(test, float(train.mean())))
    assert 1.0 < floor < 2.0


@needs_data
def test_max_per_split_keeps_only_those_graphs():
    loaded = ZincDataset(root=str(ZINC_ROOT), max_per_split=5).load()
    assert len(loaded.graphs) == 15 and loaded.labels.shape == (15, 1)
    assert [loaded.splits[s].tolist() for s in ("train", "valid", "test")] == [
        list(range(5)), list(range(5, 10)), list(range(10, 15))]


def _copy(tmp_path):
    target = tmp_path / "zinc"
    shutil.copytree(ZINC_ROOT / "subset", target / "subset")
    for path in [target, *target.rglob("*")]:
        path.chmod(0o700 if path.is_dir() else 0o600)
    return target


@needs_data
@pytest.mark.parametrize("damage", ["truncated", "not_a_list"])
def test_corrupt_pickle_via_cli_exits_2_naming_the_file(tmp_path, damage):
    root = _copy(tmp_path)
    bad = root / "subset" / "train.pickle"
    if damage == "truncated":
        bad.write_bytes(bad.read_bytes()[:5000])
    else:
        bad.write_bytes(pickle.dumps({"not": "molecules"}))
    env = {**os.environ, "WLKIT_CACHE_DIR": str(tmp_path / "cache"),
           "WLKIT_DISABLE_PLUGIN_AUTOLOAD": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "wlkit.cli", "run", str(ROOT / "pipelines/zinc_gin.yaml"),
         "--out", str(tmp_path / "run"), "--quiet", "--set", f"dataset.root={root}",
         "--set", "seeds=1", "--set", "train.epochs=1"],
        capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 2, result.stderr
    assert str(bad) in result.stderr and "Traceback" not in result.stderr
