"""``wlkit predict``: a finished run's best weights, rebuilt from its resolved pipeline, give
back the test metric of ``summary.json`` exactly; SMILES rows are featurised as in training
and invalid ones keep their row; bad input exits 2 with a hint."""

from __future__ import annotations

import csv
import gzip
import json
import shutil
import warnings
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA
from tests.core.test_cli import wlkit
from wlkit.cli import main
from wlkit.tools.predict import predict

OGB_ROOT = SHARED_DATA / "ogb"

# 16-way classification on small multisets: a 3-epoch model scores well off chance and
# differently per seed, so "equal to summary.json" is a real check (no shared data needed)
SETS = """\
name: sets
dataset: {name: set_second_min, bits: 4, num_train: 256, num_valid: 128, num_test: 128,
          min_size: 2, max_size: 4, eval_size: 4, form: set}
model: {layer: gin, num_layers: 1, hidden: 16, readout: sum}
train: {epochs: 3, batch_size: 32, lr: 0.01}
seeds: [0, 1]
trainer: {accelerator: cpu}
"""

ESOL = f"""\
name: esol
dataset: {{name: ogbg-molesol, root: {OGB_ROOT}}}
model: {{layer: gine, num_layers: 2, hidden: 16, readout: mean}}
train: {{epochs: 2, batch_size: 64, lr: 0.01}}
seeds: [0, 1]
trainer: {{accelerator: cpu}}
"""


def train(folder: Path, pipeline: str) -> Path:
    (folder / "p.yaml").write_text(pipeline)
    result = wlkit("run", str(folder / "p.yaml"), "--out", str(folder / "run"), "--quiet")
    assert result.returncode == 0, result.stderr
    return folder / "run"


@pytest.fixture(scope="module")
def sets_run(tmp_path_factory) -> Path:
    return train(tmp_path_factory.mktemp("sets"), SETS)


@pytest.fixture(scope="module")
def esol_run(tmp_path_factory) -> Path:
    if not (OGB_ROOT / "ogbg_molesol" / "raw").is_dir():
        pytest.skip("shared OGB data not present")
    pytest.importorskip("rdkit", reason="smiles2graph needs RDKit")
    return train(tmp_path_factory.mktemp("esol"), ESOL)


def recorded(run_dir: Path, split: str) -> dict[str, float]:
    summary = json.loads((run_dir / "summary.json").read_text())
    return {str(r["seed"]): r[split] for r in summary["per_seed"]}


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def cli(*args: str, monkeypatch: pytest.MonkeyPatch) -> int:
    # main() installs a one-line warning printer; keep it out of the other tests
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)
    return main(["predict", *map(str, args)])


@pytest.mark.parametrize("split", ["test", "valid"])
def test_split_reproduces_summary_per_seed(sets_run, tmp_path, split):
    result = predict(sets_run, dataset="run", split=split, out=tmp_path / "preds.csv")
    assert result["per_seed"] == recorded(sets_run, split)  # exactly, every seed
    assert result["seeds"] == [0, 1] and result["rows"] == 128 and result["invalid"] == 0
    rows = read_rows(tmp_path / "preds.csv")
    assert len(rows) == 128 and {r["split"] for r in rows} == {split}
    assert [r["error"] for r in rows] == [""] * 128
    # the class column is the ensemble's argmax: its accuracy is the ensemble metric
    hits = sum(r["class"] == r["target"] for r in rows)
    assert hits / 128 == pytest.approx(result["ensemble_metric"])
    probs = [float(rows[0][f"prob_{c}"]) for c in range(16)]
    assert sum(probs) == pytest.approx(1, abs=1e-6)


def test_cli_prints_each_seed_next_to_summary(sets_run, tmp_path, capsys, monkeypatch):
    out = tmp_path / "p.csv"
    assert cli(sets_run, "--dataset", "run", "--out", out, monkeypatch=monkeypatch) == 0
    text = capsys.readouterr().out
    for seed, value in recorded(sets_run, "test").items():
        assert f"seed {seed}: test accuracy {value:.6f} (summary.json: {value:.6f})" in text
    assert "differ from summary.json" not in text and out.is_file()


def test_a_seed_without_best_pt_is_left_out_loudly(sets_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(sets_run, copy)
    (copy / "seed_1" / "best.pt").unlink()
    with pytest.warns(UserWarning, match=r"seed\(s\) \[1\] have no best.pt"):
        result = predict(copy, dataset="run", out=tmp_path / "p.csv")
    assert result["seeds"] == [0] and result["skipped_seeds"] == [1]
    assert result["per_seed"] == {"0": recorded(sets_run, "test")["0"]}


def test_molecules_reproduce_summary_and_keep_invalid_smiles(esol_run, tmp_path):
    result = predict(esol_run, dataset="run", split="test", out=tmp_path / "test.csv")
    assert result["per_seed"] == recorded(esol_run, "test")
    by_index = {int(r["index"]): r for r in read_rows(tmp_path / "test.csv")}
    # the first test molecules as SMILES, with an unparsable and an empty row among them
    folder = OGB_ROOT / "ogbg_molesol"
    with gzip.open(folder / "mapping" / "mol.csv.gz", "rt") as handle:
        smiles = [row["smiles"].strip() for row in csv.DictReader(handle)]
    with gzip.open(folder / "split" / "scaffold" / "test.csv.gz", "rt") as handle:
        test = [int(line) for line in handle.read().split()][:4]
    inputs = [smiles[test[0]], "C1CC(", smiles[test[1]], "", smiles[test[2]], smiles[test[3]]]
    source = tmp_path / "mols.csv"
    source.write_text("id,smiles\n" + "".join(f"m{k},{s}\n" for k, s in enumerate(inputs)))
    result = predict(esol_run, smiles=source, out=tmp_path / "mols_preds.csv")
    assert (result["rows"], result["invalid"]) == (6, 2)
    rows = read_rows(tmp_path / "mols_preds.csv")
    assert [r["smiles"] for r in rows] == inputs and [r["line"] for r in rows] == [
        "2", "3", "4", "5", "6", "7"]
    assert [r["id"] for r in rows] == [f"m{k}" for k in range(6)]  # input columns kept
    assert "invalid SMILES" in rows[1]["error"] and rows[1]["pred"] == ""
    assert rows[3]["error"] == "empty SMILES" and rows[3]["pred"] == ""
    valid = [rows[0], rows[2], rows[4], rows[5]]
    for row, index in zip(valid, test):
        assert row["error"] == ""
        # the same graph as the dataset's (smiles2graph); only the batching differs
        assert float(row["pred"]) == pytest.approx(float(by_index[index]["pred"]), rel=1e-5)
        assert float(row["std"]) == pytest.approx(float(by_index[index]["std"]), rel=1e-4,
                                                  abs=1e-6)


def test_another_dataset_with_the_run_features(esol_run, tmp_path):
    spec = f"{{name: ogbg-molfreesolv, root: {OGB_ROOT}}}"
    result = predict(esol_run, dataset=spec, split="valid", out=tmp_path / "p.csv")
    assert result["rows"] == 64 and result["summary_per_seed"] is None
    assert set(result["per_seed"]) == {"0", "1"} and result["metric"] == "rmse"


def test_a_dataset_with_other_tasks_is_refused(esol_run, tmp_path, capsys, monkeypatch):
    code = cli(esol_run, "--dataset", f"{{name: ogbg-molbace, root: {OGB_ROOT}}}", "--out",
               tmp_path / "p.csv", monkeypatch=monkeypatch)
    err = capsys.readouterr().err
    assert code == 2 and "task is 'binary', the run was trained with 'regression'" in err
    assert "hint:" in err and not (tmp_path / "p.csv").exists()


def _damaged(run_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "damaged"
    shutil.copytree(run_dir, copy)
    for path in copy.glob("seed_*/best.pt"):
        path.write_bytes(b"not a checkpoint")
    return copy


def _no_best(run_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "unsaved"
    shutil.copytree(run_dir, copy)
    for path in copy.glob("seed_*/best.pt"):
        path.unlink()
    return copy


@pytest.mark.parametrize("case,expected", [
    ("missing run", "no such run directory"),
    ("not a run", "no pipeline.resolved.yaml"),
    ("no best.pt", "no seed has best.pt"),
    ("damaged best.pt", "unreadable weights"),
    ("bad column", "no 'smiles' column"),
    ("missing csv", "cannot read the SMILES file"),
    ("not molecules", "not made of OGB-featurised molecules"),
    ("bad split", "invalid choice"),
])
def test_bad_input_exits_2_with_a_hint(sets_run, tmp_path, capsys, monkeypatch, case,
                                       expected):
    csv_file = tmp_path / "in.csv"
    csv_file.write_text("smiles\nCCO\n")
    source = ["--smiles", csv_file]
    run_dir = sets_run
    if case == "missing run":
        run_dir = tmp_path / "nowhere"
    elif case == "not a run":
        run_dir = tmp_path
    elif case == "no best.pt":
        run_dir, source = _no_best(sets_run, tmp_path), ["--dataset", "run"]
    elif case == "damaged best.pt":
        run_dir, source = _damaged(sets_run, tmp_path), ["--dataset", "run"]
    elif case == "bad column":
        csv_file.write_text("molecule\nCCO\n")
    elif case == "missing csv":
        source = ["--smiles", tmp_path / "absent.csv"]
    elif case == "bad split":
        source = ["--dataset", "run", "--split", "tset"]
    code = None
    try:
        code = cli(run_dir, *source, "--out", tmp_path / "p.csv", monkeypatch=monkeypatch)
    except SystemExit as exc:  # argparse refuses a bad choice with exit 2
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert expected in err and "Traceback" not in err
    if case != "bad split":
        assert "hint:" in err
    assert not (tmp_path / "p.csv").exists()
