"""OGB loading offline from the shared read-only copies, and OGB's reference models."""

from __future__ import annotations

import builtins
import os
import stat
import subprocess
import sys

import pytest
import torch

from tests.conftest import ROOT, SHARED_DATA
from wlkit import DatasetError
from wlkit.datasets.ogb import OGBDataset, _no_prompt
from wlkit.model.build import build_model, count_parameters
from wlkit.model.lightning import masked_loss
from wlkit.pipeline import load_pipeline

OGB_ROOT = SHARED_DATA / "ogb"
needs_data = pytest.mark.skipif(not (OGB_ROOT / "ogbg_molesol" / "raw").is_dir(),
                                reason="shared OGB data not present")


@pytest.mark.parametrize("pipeline,expected", [
    ("ogbg-molhiv_gin.yaml", 1_885_506),
    ("ogbg-molhiv_gin-virtual.yaml", 3_336_606),
])
def test_reference_parameter_counts(pipeline, expected):
    """Equal to OGB's reference GIN / GIN-virtual built with ogb 1.3.6 (no data needed)."""
    cfg = load_pipeline(ROOT / "pipelines" / pipeline).data
    model = build_model(cfg, OGBDataset(cfg["dataset"]["dataset"]
                                        if "dataset" in cfg["dataset"] else "ogbg-molhiv"))
    assert count_parameters(model) == expected
    assert sum(p.numel() for p in model.parameters()) == expected


def test_info_from_the_master_table_without_data():
    info = OGBDataset("ogbg-molpcba").info()
    assert (info.task, info.num_tasks, info.metric, info.higher_is_better) == (
        "binary", 128, "ap", True)
    assert OGBDataset("ogbg-molesol").info().metric == "rmse"
    ppa = OGBDataset("ogbg-ppa").info()
    assert (ppa.task, ppa.num_tasks, ppa.metric, ppa.edge_feat_dim) == ("multiclass", 37,
                                                                         "acc", 7)


def test_code2_and_unknown_names_are_refused():
    with pytest.raises(DatasetError, match="sequence decoder"):
        OGBDataset("ogbg-code2")
    with pytest.raises(DatasetError, match="did you mean 'ogbg-molhiv'"):
        OGBDataset("ogbg-molhvi")


def test_no_prompt_answers_downloads_and_refuses_the_rest(capsys):
    assert _no_prompt("This will download 2.00GB. Will you proceed? (y/N)\n") == "y"
    with pytest.raises(DatasetError, match="cannot answer"):
        _no_prompt("Will you update the dataset now? (y/N)\n")


def test_folder_without_release_file_never_prompts(tmp_path, monkeypatch):
    (tmp_path / "ogbg_molesol" / "raw").mkdir(parents=True)
    monkeypatch.setattr(builtins, "input", lambda *a: pytest.fail("input() was called"))
    with pytest.raises(DatasetError, match="RELEASE_v1.txt"):
        OGBDataset("ogbg-molesol", str(tmp_path)).prepare_data()


def test_missing_data_offline_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("WLKIT_OFFLINE", "1")
    with pytest.raises(DatasetError) as info:
        OGBDataset("ogbg-molesol", str(tmp_path)).prepare_data()
    message = str(info.value)
    assert str(tmp_path / "ogbg_molesol") in message and "raw/edge.csv.gz" in message


def test_failed_download_is_one_clear_error(tmp_path, monkeypatch):
    import urllib.error
    import urllib.request

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setenv("WLKIT_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(DatasetError, match="cannot be downloaded") as info:
        OGBDataset("ogbg-molfreesolv", str(root)).prepare_data()
    assert str(root / "ogbg_molfreesolv") in str(info.value)  # the user's folder, not the cache
    assert not any(root.iterdir())  # a download goes to the cache, never into the root


def test_masked_loss_ignores_nan_labels():
    pred = torch.tensor([[0.0, 5.0], [1.0, -2.0]])
    target = torch.tensor([[1.0, float("nan")], [0.0, 1.0]])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor([0.0, 1.0, -2.0]), torch.tensor([1.0, 0.0, 1.0]))
    torch.testing.assert_close(masked_loss("bce", pred, target), expected)
    all_nan = torch.full((2, 2), float("nan"))
    assert masked_loss("mse", pred, all_nan).item() == 0.0


@needs_data
def test_offline_load_from_a_read_only_copy(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("WLKIT_CACHE_DIR", str(tmp_path / "cache"))
    source = OGB_ROOT / "ogbg_molesol"
    before = sorted(p.name for p in source.iterdir())
    dataset = OGBDataset("ogbg-molesol", str(OGB_ROOT))
    loaded = dataset.load()
    assert len(loaded.graphs) == 1128
    assert [len(loaded.splits[s]) for s in ("train", "valid", "test")] == [902, 113, 113]
    assert loaded.labels.shape == (1128, 1)
    g = loaded.graphs[0]
    assert g.ndata["feat"].shape[1] == 9 and g.edata["feat"].shape[1] == 3
    # ogb wrote processed/ into the staging copy, never into the read-only input
    assert sorted(p.name for p in source.iterdir()) == before
    staged = list((tmp_path / "cache" / "ogb").glob("staged-*/ogbg_molesol/processed"))
    assert staged, "processed/ should be in the cache"
    # ogb's progress prints ("Saving...") go to stderr: stdout is wlkit's alone
    out, err = capfd.readouterr()
    assert "Saving" not in out and "Saving" in err
    assert (source.stat().st_mode & stat.S_IWUSR) == 0 or os.access(source, os.W_OK)


@needs_data
def test_a_writable_root_is_only_read(tmp_path, monkeypatch):
    """processed/ goes to $WLKIT_CACHE_DIR for a writable root too, and is rebuilt when the
    root's files change."""
    import shutil

    monkeypatch.setenv("WLKIT_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "ogb"
    shutil.copytree(OGB_ROOT / "ogbg_molfreesolv", root / "ogbg_molfreesolv")
    for path in [root, *root.rglob("*")]:  # copytree keeps the shared copy's missing w bits
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    loaded = OGBDataset("ogbg-molfreesolv", str(root)).load()
    assert len(loaded.graphs) == 642
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    (processed,) = (tmp_path / "cache" / "ogb").glob("staged-*/ogbg_molfreesolv/processed")
    built = processed.stat().st_mtime_ns
    OGBDataset("ogbg-molfreesolv", str(root)).load()  # unchanged source: the cache is reused
    assert processed.stat().st_mtime_ns == built
    # new labels in the source: the staged processed/ is stale and is built again
    labels = root / "ogbg_molfreesolv" / "raw" / "graph-label.csv.gz"
    os.utime(labels, ns=(labels.stat().st_atime_ns, labels.stat().st_mtime_ns + 10**9))
    OGBDataset("ogbg-molfreesolv", str(root)).load()
    assert processed.stat().st_mtime_ns != built
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


@needs_data
def test_evaluator_wiring(tmp_path, monkeypatch):
    """Scores come from ogb's Evaluator: compare with calling it directly."""
    from ogb.graphproppred import Evaluator

    monkeypatch.setenv("WLKIT_CACHE_DIR", str(tmp_path / "cache"))
    dataset = OGBDataset("ogbg-molbace", str(OGB_ROOT))
    loaded = dataset.load()
    test = loaded.splits["test"]
    y_true = loaded.labels[test]
    y_pred = torch.randn_like(y_true)
    direct = Evaluator("ogbg-molbace").eval({"y_true": y_true, "y_pred": y_pred})["rocauc"]
    assert dataset.evaluate(y_true, y_pred) == pytest.approx(direct)
    assert dataset.evaluate(y_true, y_true) == pytest.approx(1.0)


@needs_data
def test_corrupt_processed_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("WLKIT_CACHE_DIR", str(tmp_path / "cache"))
    OGBDataset("ogbg-molfreesolv", str(OGB_ROOT)).load()
    (processed,) = (tmp_path / "cache" / "ogb").glob("staged-*/ogbg_molfreesolv/processed")
    (processed / "dgl_data_processed").write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="rebuilding"):
        loaded = OGBDataset("ogbg-molfreesolv", str(OGB_ROOT)).load()
    assert len(loaded.graphs) == 642


@needs_data
@pytest.mark.parametrize("name", ["molesol", "molbace"])
def test_tiny_run(tmp_path, name):
    # molbace: its first validation batches hold one class only, which ROC-AUC cannot score;
    # Lightning's two-batch sanity check must not try
    env = {**os.environ, "WLKIT_CACHE_DIR": str(tmp_path / "cache"),
           "WLKIT_DISABLE_PLUGIN_AUTOLOAD": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "wlkit.cli", "run", str(ROOT / f"pipelines/ogbg-{name}_gin.yaml"),
         "--out", str(tmp_path / "run"), "--quiet", "--set", f"dataset.root={OGB_ROOT}",
         "--set", "seeds=1", "--set", "train.epochs=1", "--set", "model.hidden=16",
         "--set", "model.num_layers=2"],
        capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "run" / "summary.json").exists()


def test_missing_dataset_via_cli_exits_2(tmp_path):
    env = {**os.environ, "WLKIT_CACHE_DIR": str(tmp_path / "cache"), "WLKIT_OFFLINE": "1",
           "WLKIT_DISABLE_PLUGIN_AUTOLOAD": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "wlkit.cli", "run", str(ROOT / "pipelines/ogbg-molesol_gin.yaml"),
         "--out", str(tmp_path / "run"), "--set", f"dataset.root={tmp_path / 'empty'}"],
        capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "raw/edge.csv.gz" in result.stderr
