"""``wlkit compare``: hand-made run directories and sweep folders (plus one real run) in one
table with Welch's t-tests, the ``--by`` pivot, the three files, and bad input (exit 2)."""

from __future__ import annotations

import json
import statistics
import warnings
from pathlib import Path

import pytest
import yaml

from tests.core.test_cli import wlkit
from wlkit.cli import main
from wlkit.tools.compare import compare, welch_p

# Wikipedia, "Welch's t-test", examples 1 and 2: Welch's p = 0.021 and 0.149 (Student's
# equal-variance test gives 0.042 on example 2, so this tells the two apart)
WIKI_1 = ([27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7,
           21.4],
          [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5,
           24.4])
WIKI_2 = ([17.2, 20.9, 22.6, 18.1, 21.7, 21.4, 23.5, 24.2, 14.7, 21.8],
          [21.5, 22.8, 21.0, 23.0, 21.6, 23.6, 22.5, 20.7, 23.4, 21.8, 20.7, 21.7, 21.5, 22.5,
           23.6, 21.5, 22.5, 23.5, 21.5, 21.8])


def make_run(folder: Path, test: list[float], valid: list[float] | None = None, *,
             hidden: int = 16, lr: float = 0.01, dataset: str = "ogbg-molesol",
             metric: str = "rmse", higher: bool = False, num_params: int = 1234,
             seconds: float = 1.5, summary: bool = True, wall: float | None = None) -> Path:
    """A run directory as ``wlkit run`` leaves it, for the files compare reads."""
    valid = valid if valid is not None else [v + 0.1 for v in test]
    folder.mkdir(parents=True)
    config = {"name": "hand", "dataset": {"name": dataset},
              "model": {"layer": {"name": "gin"}, "hidden": hidden},
              "train": {"lr": lr, "epochs": 5}, "seeds": list(range(len(test))),
              "output": {"dir": str(folder)}}
    (folder / "pipeline.resolved.yaml").write_text(yaml.safe_dump(config))
    for seed in range(len(test)):
        (folder / f"seed_{seed}").mkdir()
        (folder / f"seed_{seed}" / "metrics.json").write_text(
            json.dumps({"seed": seed, "train_seconds": seconds}))
    if summary:
        per_seed = [{"seed": i, "valid": v, "test": t} for i, (v, t) in
                    enumerate(zip(valid, test))]
        (folder / "summary.json").write_text(json.dumps({
            "name": "hand", "dataset": dataset, "metric": metric, "higher_is_better": higher,
            "seeds": list(range(len(test))), "failed_seeds": [], "per_seed": per_seed,
            "num_params": num_params,
            **({"wall_seconds": wall} if wall is not None else {})}))
    return folder


def make_sweep(folder: Path) -> Path:
    """A 2 x 2 sweep over model.hidden and train.lr, and one unfinished trial."""
    folder.mkdir()
    (folder / "sweep.json").write_text(json.dumps({"name": folder.name}))
    grid = [(8, 0.01, [1.0, 1.2, 1.1]), (8, 0.1, [1.5, 1.6, 1.4]),
            (32, 0.01, [0.8, 0.9, 0.85]), (32, 0.1, [1.3, 1.2, 1.25])]
    for k, (hidden, lr, test) in enumerate(grid):
        make_run(folder / f"trial_{k}", test, hidden=hidden, lr=lr)
    make_run(folder / "trial_4", [2.0], hidden=64, lr=0.01, summary=False)
    return folder


def cli(*args, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)
    return main(["compare", *map(str, args)])


@pytest.mark.parametrize("a,b,p", [(*WIKI_1, 0.021), (*WIKI_2, 0.149)])
def test_welch_t_test_known_cases(a, b, p):
    assert welch_p(a, b) == pytest.approx(p, abs=5e-4)
    assert welch_p(a, b) == pytest.approx(welch_p(b, a))
    assert welch_p(a[:1], b) is None  # one seed: no spread, no test


def test_each_run_against_the_best_in_the_table_and_files(tmp_path, capsys, monkeypatch):
    best = make_run(tmp_path / "best", WIKI_1[0], hidden=64)
    other = make_run(tmp_path / "other", WIKI_1[1], hidden=16, num_params=98765, seconds=2.0)
    out = tmp_path / "out"
    out.mkdir()
    assert cli(other, best, "--out", out, monkeypatch=monkeypatch) == 0
    text = capsys.readouterr().out
    header, rule, first, second = text.splitlines()[1:5]
    assert header.split()[:2] == ["name", "model.hidden"]  # the one varied parameter
    assert "test rmse" in header and "p test" in header and "#params" in header
    assert first.split()[:2] == ["other", "16"]  # input order (the default --sort)
    mean, std = statistics.fmean(WIKI_1[1]), statistics.stdev(WIKI_1[1])
    assert f"{mean:.4f} ± {std:.4f}" in first and "98,765" in first
    assert "0.0214" in first  # Welch's p of example 1, against the best (lowest rmse)
    assert second.split()[:2] == ["best", "64"] and "best" in second.split()[2:]
    # the seeds' training time, summed; then the run's wall time ('-': none recorded)
    assert first.split()[-2:] == [f"{2.0 * 15:.1f}", "-"]
    report = json.loads((out / "compare.json").read_text())
    [o, b] = report["runs"]
    assert o["test_p"] == pytest.approx(0.021378, abs=1e-6) and b["test_p"] is None
    assert o["test_std"] == pytest.approx(std) and o["seeds"] == 15
    assert report["best"] == {"ogbg-molesol (rmse)": {"valid": "best", "test": "best"}}
    md = (out / "compare.md").read_text()
    assert "| other | 16 |" in md and "Welch" in md
    assert (out / "compare.png").read_bytes().startswith(b"\x89PNG")


def test_a_sweep_folder_is_its_trials_and_holds_the_files(tmp_path):
    sweep = make_sweep(tmp_path / "sw")
    make_run(sweep / "trial_10", [1.0, 1.1], hidden=8, lr=0.5)
    result = compare([sweep])
    assert [r["name"] for r in result["runs"]] == [f"trial_{k}" for k in (0, 1, 2, 3, 10)]
    assert result["varied"] == ["model.hidden", "train.lr"]
    assert result["skipped"] == [{"path": str(sweep / "trial_4"),
                                  "reason": "no summary.json (unfinished or failed trial)"}]
    assert result["lines"][-1].startswith(f"skipped {sweep / 'trial_4'}")
    for name in ("compare.md", "compare.json", "compare.png"):  # default --out: the sweep
        assert (sweep / name).is_file()


def test_sort_puts_the_best_first_in_its_direction(tmp_path):
    sweep = make_sweep(tmp_path / "sw")
    result = compare([sweep], sort="test", plot=False)
    means = [r["test_mean"] for r in result["runs"]]
    assert means == sorted(means)  # rmse: lower is better
    assert compare([sweep], sort="params", plot=False)["runs"][0]["name"] == "trial_0"


def test_best_and_tests_are_per_dataset(tmp_path):
    a = make_run(tmp_path / "a", [1.0, 1.1])
    b = make_run(tmp_path / "b", [0.7, 0.8], valid=[0.7, 0.8], dataset="ogbg-molbace",
                 metric="rocauc", higher=True)
    c = make_run(tmp_path / "c", [0.6, 0.65], valid=[0.6, 0.65], dataset="ogbg-molbace",
                 metric="rocauc", higher=True)
    result = compare([a, b, c], out=tmp_path, plot=True)
    assert result["best"] == {"ogbg-molesol (rmse)": {"valid": "a", "test": "a"},
                              "ogbg-molbace (rocauc)": {"valid": "b", "test": "b"}}
    by_name = {r["name"]: r for r in result["runs"]}
    assert by_name["a"]["test_p"] is None and by_name["b"]["test_p"] is None
    assert by_name["c"]["test_p"] == pytest.approx(welch_p([0.6, 0.65], [0.7, 0.8]))
    assert "dataset.name" in result["varied"] and "metric" in result["lines"][1]


def test_by_pivots_a_sweep_into_a_parameter_table(tmp_path, capsys, monkeypatch):
    sweep = make_sweep(tmp_path / "sw")
    assert cli(sweep, "--by", "model.hidden", "--no-plot", monkeypatch=monkeypatch) == 0
    lines = capsys.readouterr().out.splitlines()
    start = lines.index("test mean ± std by model.hidden and train.lr")
    head, _, row8, row32 = lines[start + 1:start + 5]
    assert head.split() == ["model.hidden", "\\", "train.lr", "0.01", "0.1"]
    cell = f"{statistics.fmean([0.8, 0.9, 0.85]):.4f} ± {statistics.stdev([0.8, 0.9, 0.85]):.4f}"
    assert row32.startswith("32") and cell in row32 and row8.startswith("8 ")
    pivot = json.loads((sweep / "compare.json").read_text())["pivot"]
    assert pivot["cells"]["8"]["0.1"]["run"] == "trial_1"
    assert pivot["cells"]["32"]["0.01"]["mean"] == pytest.approx(0.85)
    # both axes named, the other way round
    result = compare([sweep], by=["train.lr", "model.hidden"], split="valid", plot=False)
    assert result["pivot"]["rows"] == "train.lr" and result["pivot"]["split"] == "valid"


def test_a_real_run(tmp_path):
    (tmp_path / "p.yaml").write_text(
        "name: sets\ndataset: {name: set_second_min, bits: 3, num_train: 64, num_valid: 32, "
        "num_test: 32, min_size: 2, max_size: 3, eval_size: 3, form: set}\n"
        "model: {layer: gin, num_layers: 1, hidden: 8, readout: sum}\n"
        "train: {epochs: 1, batch_size: 32}\nseeds: [0, 1]\ntrainer: {accelerator: cpu}\n")
    done = wlkit("run", str(tmp_path / "p.yaml"), "--out", str(tmp_path / "run"), "--quiet")
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    [row] = compare([tmp_path / "run"], out=tmp_path, plot=False)["runs"]
    assert row["test_scores"] == [r["test"] for r in summary["per_seed"]]
    assert row["num_params"] == summary["num_params"] and row["train_seconds"] > 0
    assert row["wall_seconds"] == summary["wall_seconds"] >= row["train_seconds"] > 0
    assert row["params"] == {}  # one run: nothing varies


@pytest.mark.parametrize("case,expected", [
    ("missing", "no such run directory or sweep folder"),
    ("not a run", "not a run directory (no summary.json) nor a sweep folder"),
    ("folder of runs", "it holds run directories (a, b): pass them, e.g. wlkit compare"),
    ("unfinished", "the run has no summary.json"),
    ("damaged", "summary.json: unreadable"),
    ("empty sweep", "the sweep has no finished trial"),
    ("twice", "a run is given twice"),
    ("no out", "no such folder"),
    ("unknown by", "did you mean 'model.hidden'"),
    ("unclear by", "2 other parameters vary"),
    ("one cell", "fall into one cell"),
])
def test_bad_input_exits_2_with_a_hint(tmp_path, capsys, monkeypatch, case, expected):
    sweep = make_sweep(tmp_path / "sw")
    args: list = [sweep]
    if case == "missing":
        args = [tmp_path / "nowhere"]
    elif case == "not a run":
        (tmp_path / "plain").mkdir()
        args = [tmp_path / "plain"]
    elif case == "folder of runs":
        make_run(tmp_path / "runs" / "a", [1.0])
        make_run(tmp_path / "runs" / "b", [1.0])
        args = [tmp_path / "runs"]
    elif case == "unfinished":
        args = [sweep / "trial_4"]
    elif case == "damaged":
        (sweep / "trial_0" / "summary.json").write_text("{not json")
    elif case == "empty sweep":
        (tmp_path / "empty").mkdir()
        (tmp_path / "empty" / "sweep.json").write_text("{}")
        args = [tmp_path / "empty"]
    elif case == "twice":
        args = [sweep, sweep / "trial_0"]
    elif case == "no out":
        args = [sweep, "--out", tmp_path / "absent"]
    elif case == "unknown by":
        args = [sweep, "--by", "model.hiden"]
    elif case == "unclear by":
        make_run(sweep / "trial_5", [1.0, 1.1], hidden=8, lr=0.01, dataset="ogbg-molbace")
        args = [sweep, "--by", "model.hidden"]
    elif case == "one cell":
        make_run(sweep / "trial_5", [1.0, 1.1], hidden=8, lr=0.01, dataset="ogbg-molbace")
        args = [sweep, "--by", "model.hidden", "--by", "train.lr"]
    assert cli(*args, monkeypatch=monkeypatch) == 2
    err = capsys.readouterr().err
    assert expected in err and "hint:" in err and "Traceback" not in err
    if case != "no out":
        assert not (sweep / "compare.json").exists()  # nothing half-written
