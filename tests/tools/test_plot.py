"""``wlkit plot`` and the curves behind ``curves.png``: metrics.csv parsing, best epochs,
one run redrawn, several overlaid, bad input refused with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wlkit.cli import main
from wlkit.errors import WlkitError
from wlkit.model.curves import load_run_curves, read_metrics_csv
from wlkit.tools.plot import plot_runs

# What Lightning's CSVLogger writes for wlkit: the validation row and the train-loss row of an
# epoch share its last step; epoch 1 logged twice (a resumed fit): the later value wins
CSV = """epoch,step,train_loss,valid_metric
0,1,,0.50
0,1,2.0,
1,3,,0.60
1,3,1.5,
1,3,,0.65
2,5,,0.55
2,5,1.2,
"""


def make_run(folder: Path, seeds=(0, 1), best: int | None = 1, summary: bool = True,
             csv_text: str = CSV) -> Path:
    folder.mkdir(parents=True)
    for seed in seeds:
        seed_dir = folder / f"seed_{seed}"
        seed_dir.mkdir()
        (seed_dir / "metrics.csv").write_text(csv_text)
        if best is not None:
            (seed_dir / "metrics.json").write_text(json.dumps({"best_epoch": best}))
    if summary:
        (folder / "summary.json").write_text(json.dumps({"metric": "accuracy",
                                                         "higher_is_better": True}))
    return folder


def test_metrics_csv_gives_one_value_per_epoch(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text(CSV)
    table = read_metrics_csv(path)
    assert table["train_loss"] == [(0, 2.0), (1, 1.5), (2, 1.2)]
    assert table["valid_metric"] == [(0, 0.5), (1, 0.65), (2, 0.55)]


def test_best_epoch_comes_from_metrics_json_else_from_the_log(tmp_path):
    run = load_run_curves(make_run(tmp_path / "a", best=2))
    assert run.best_epochs == {0: 2, 1: 2} and run.metric == "accuracy"
    # an unfinished seed (no metrics.json): the best valid_metric in its direction
    run = load_run_curves(make_run(tmp_path / "b", best=None))
    assert run.best_epochs == {0: 1, 1: 1}
    lower = tmp_path / "c"
    make_run(lower, best=None)
    (lower / "summary.json").write_text(json.dumps({"metric": "rmse",
                                                    "higher_is_better": False}))
    assert load_run_curves(lower).best_epochs == {0: 0, 1: 0}


def test_plot_redraws_curves_png_in_the_run(tmp_path):
    run_dir = make_run(tmp_path / "run")
    path = plot_runs([run_dir])
    assert path == run_dir / "curves.png"
    assert path.read_bytes().startswith(b"\x89PNG")


def test_plot_overlays_runs_into_out(tmp_path):
    a, b = make_run(tmp_path / "a"), make_run(tmp_path / "b", seeds=(3,))
    out = tmp_path / "both.png"
    assert main(["plot", str(a), str(b), "--out", str(out), "--metric", "valid_metric"]) == 0
    assert out.read_bytes().startswith(b"\x89PNG")
    assert not (a / "curves.png").exists()  # overlaying leaves the runs' files alone


@pytest.mark.parametrize("case", ["missing", "not_a_run", "metric", "suffix"])
def test_bad_input_exits_2_with_a_hint(tmp_path, capsys, case):
    run_dir = make_run(tmp_path / "run")
    args = {"missing": [str(tmp_path / "nope")],
            "not_a_run": [str(tmp_path)],
            "metric": [str(run_dir), "--metric", "valid_metrik"],
            "suffix": [str(run_dir), "--out", str(tmp_path / "c.jpg")]}[case]
    assert main(["plot", *args]) == 2
    err = capsys.readouterr().err
    assert "hint:" in err and "Traceback" not in err
    if case == "metric":
        assert "valid_metric" in err and "train_loss" in err  # the logged columns


def test_an_unreadable_log_is_named(tmp_path):
    run_dir = make_run(tmp_path / "run", seeds=(0,))
    (run_dir / "seed_0" / "metrics.csv").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(WlkitError, match="metrics.csv"):
        plot_runs([run_dir])
