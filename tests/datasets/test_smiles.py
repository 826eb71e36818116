from __future__ import annotations

import math

import pytest
import torch

from wlkit import DatasetError
from wlkit.datasets.smiles import SmilesDataset, scaffold_split

ROWS = [
    ("c1ccccc1O", "1", "0.5"),        # phenol: benzene scaffold
    ("c1ccccc1N", "0", "1.5"),        # aniline: benzene scaffold
    ("c1ccccc1C(=O)O", "1", ""),      # benzoic acid: benzene scaffold, missing 2nd label
    ("C1CCCCC1O", "0", "2.0"),        # cyclohexanol
    ("not a smiles", "1", "0.0"),     # invalid, line 6
    ("CCO", "0", "3.0"),              # ethanol: empty scaffold
    ("CCN", "x", "1.0"),              # label not a number, line 8
    ("c1ccncc1", "1", "0.1"),         # pyridine
    ("CCCC", "0", "0.2"),             # butane: empty scaffold
    ("C1CC1C", "1", "0.3"),           # methylcyclopropane
]


@pytest.fixture
def csv_file(tmp_path, monkeypatch):
    monkeypatch.setenv("WLKIT_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "mols.csv"
    path.write_text("smiles,active,logp\n" + "".join(f"{s},{a},{b}\n" for s, a, b in ROWS))
    return path


def test_invalid_rows_are_reported_by_line_and_skipped(csv_file):
    dataset = SmilesDataset(str(csv_file), ["active", "logp"])
    with pytest.warns(UserWarning) as record:
        loaded = dataset.load()
    (message,) = (str(w.message) for w in record if "skipped" in str(w.message))
    assert "skipped 2 bad row(s)" in message
    assert "line 6: invalid SMILES 'not a smiles'" in message
    assert "line 8: label active='x' is not a number" in message
    assert len(loaded.graphs) == 8
    assert math.isnan(loaded.labels[2, 1].item())  # empty cell = missing label
    assert loaded.graphs[0].ndata["feat"].shape == (7, 9)
    assert loaded.graphs[0].edata["feat"].shape == (14, 3)


def test_invalid_rows_rejected_when_asked(csv_file):
    with pytest.raises(DatasetError, match="line 6: invalid SMILES"):
        SmilesDataset(str(csv_file), ["active"], invalid="error").load()


def test_scaffold_split_keeps_scaffolds_together_and_is_deterministic(csv_file):
    smiles = [r[0] for r in ROWS if r[0] != "not a smiles"] + ["c1ccccc1C"]
    parts = scaffold_split(smiles, (0.6, 0.2, 0.2))
    assert parts == scaffold_split(smiles, (0.6, 0.2, 0.2))
    assert sorted(i for part in parts for i in part) == list(range(len(smiles)))
    benzene = {0, 1, 2, 9}  # the largest scaffold group goes to train first
    assert benzene <= set(parts[0])
    acyclic = {4, 5, 7}  # next largest: would overflow train (6/10), so all of it to valid
    assert acyclic <= set(parts[1])


def test_split_covers_every_graph_once(csv_file):
    with pytest.warns(UserWarning):
        loaded = SmilesDataset(str(csv_file), ["active"], fractions=[0.6, 0.2, 0.2]).load()
    everything = torch.cat([loaded.splits[s] for s in ("train", "valid", "test")])
    assert sorted(everything.tolist()) == list(range(len(loaded.graphs)))


def test_split_column(tmp_path, monkeypatch):
    monkeypatch.setenv("WLKIT_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "m.csv"
    path.write_text("smiles,y,part\nCCO,1.0,train\nCCN,2.0,valid\nCCC,3.0,test\nCCCl,4,train\n")
    loaded = SmilesDataset(str(path), ["y"], task="regression", split="column",
                           split_column="part").load()
    assert loaded.splits["train"].tolist() == [0, 3]
    assert loaded.splits["test"].tolist() == [2]


def test_cache_is_used_and_corruption_rebuilt(csv_file, tmp_path):
    dataset = SmilesDataset(str(csv_file), ["active"])
    with pytest.warns(UserWarning):
        first = dataset.load()
    (cache,) = (tmp_path / "cache" / "smiles").glob("*.bin")
    again = SmilesDataset(str(csv_file), ["active"]).load()  # no warning: read from cache
    assert torch.equal(again.labels, first.labels)
    cache.write_bytes(b"\x00garbage")
    with pytest.warns(UserWarning, match="unreadable"):
        rebuilt = SmilesDataset(str(csv_file), ["active"]).load()
    assert len(rebuilt.graphs) == len(first.graphs)


def test_missing_column_and_file(csv_file, tmp_path):
    with pytest.raises(DatasetError, match="missing column"):
        SmilesDataset(str(csv_file), ["activity"]).load()
    with pytest.raises(DatasetError, match="cannot open"):
        SmilesDataset(str(tmp_path / "none.csv"), ["y"]).load()
