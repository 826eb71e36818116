"""``wlkit compare`` on ``wlkit separate`` folders: the policy x suite separation matrix."""

from __future__ import annotations

import json

import pytest

from wlkit.cli import main
from wlkit.errors import WlkitError
from wlkit.pipeline.loader import validate_pipeline
from wlkit.tools.separate import SeparateSettings, run_separate, run_separate_all
from wlkit.tools.separation_matrix import build_rows, compare_separations, matrix_markdown

TINY = SeparateSettings(relabelings=12, output_dim=4, limit=2)


def pipeline(name, policy=None):
    data = {"name": name, "dataset": "wl_pairs", "model": {"hidden": 8, "num_layers": 2}}
    if policy is not None:
        data["policy"] = policy
    return validate_pipeline(data).data


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Real `wlkit separate` outputs: GIN on two suites at once and on a third alone, and
    node marking (its own oracle) on one suite."""
    root = tmp_path_factory.mktemp("sep")
    run_separate_all(pipeline("gin"), out=root / "gin_all", settings=TINY, progress=False,
                     names=["classic", "sr"])
    run_separate(pipeline("gin"), "csl", out=root / "gin_csl", settings=TINY, progress=False)
    run_separate(pipeline("marking", {"name": "node_marking"}), "classic",
                 out=root / "marking", settings=TINY, progress=False)
    return root


def test_one_row_per_pipeline_with_oracle_cells(runs):
    rows = build_rows([runs / "gin_all", runs / "gin_csl", runs / "marking"])
    assert [r.label for r in rows] == ["gin", "marking"]
    gin, marking = rows
    assert list(gin.cells) == ["classic", "sr", "csl"]
    saved = json.loads((runs / "gin_all" / "separation_all.json").read_text())
    for suite in ("classic", "sr"):
        overall = saved["suites"][suite]["overall"]
        cell = gin.cells[suite]
        assert (cell.pairs, cell.separated) == (overall["pairs"], overall["separated"])
        assert cell.oracle == "1-WL" and cell.oracle_count == overall["oracles"]["1-WL"]
    # GIN never separates beyond 1-WL: every cell reads "0 [0]"
    assert {c.text() for c in gin.cells.values()} == {"0 [0]"}
    assert marking.cells["classic"].oracle == "node_marked"
    table = matrix_markdown(rows)
    assert table[0].split(" | ")[2:] == ["classic (2)", "csl (2)", "sr (2) |"]  # suite order
    assert table[3].startswith("| marking | node_marked | ")
    assert table[3].endswith(" | - | - |")  # no csl, no sr


def test_cell_text_names_what_else_the_verdicts_say(runs):
    cell = build_rows([runs / "marking"])[0].cells["classic"]
    cell.separated, cell.oracle_count, cell.float64 = 1, 2, 1
    cell.reasons = {"depth": 1, "unexplained": 0}
    assert cell.text() == "1 [2] (1 f64; 1 depth)"
    cell.unreliable, cell.violations, cell.oracle_count = 2, 1, None
    assert cell.text() == "1 (1 f64; 2 unreliable; 1 beyond the oracle; 1 depth)"


def test_a_suite_twice_in_one_row_is_an_error(runs):
    with pytest.raises(WlkitError, match="'classic' is in both"):
        build_rows([runs / "gin_all", runs / "gin_all" / "classic"])


def test_files_and_cli(runs, tmp_path, capsys):
    report = compare_separations([runs / "gin_all", runs / "marking"], tmp_path)
    assert report["kind"] == "separation" and len(report["rows"]) == 2
    assert (tmp_path / "compare.png").read_bytes()[:4] == b"\x89PNG"
    md = (tmp_path / "compare.md").read_text()
    assert "| gin | 1-WL | 0 [0] |" in md and "wlkit separate" not in md.split("Commands")[0]
    out = tmp_path / "cli"
    out.mkdir()
    assert main(["compare", str(runs / "gin_all"), str(runs / "gin_csl"), "--out",
                 str(out), "--no-plot"]) == 0
    printed = capsys.readouterr().out
    assert "separation row(s)" in printed and "| gin | 1-WL |" in printed
    assert not (out / "compare.png").exists()


def test_bad_input_exits_2_naming_the_file(runs, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "separation.json").write_text("{not json")
    assert main(["compare", str(broken), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{broken / 'separation.json'}: not a readable" in err and "Traceback" not in err
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text("{}")
    assert main(["compare", str(runs / "gin_all"), str(run), "--out", str(tmp_path)]) == 2
    assert "not a `wlkit separate` folder" in capsys.readouterr().err


def test_a_stopped_suite_reads_stopped_with_its_reason(tmp_path):
    cfg = validate_pipeline({"name": "paths", "dataset": "wl_pairs",
                             "policy": {"name": "pathnn", "paths": "ap", "K": 4,
                                        "max_paths": 1000},
                             "model": {"hidden": 8, "num_layers": 4}}).data
    run_separate_all(cfg, out=tmp_path / "run", settings=TINY, progress=False,
                     names=["classic", "sr"])
    (row,) = build_rows([tmp_path / "run"])
    assert list(row.cells) == ["classic"] and list(row.stopped) == ["sr"]
    assert row.stopped["sr"].startswith("stopped: pathnn: enumerating ap paths")
    assert matrix_markdown([row])[2].endswith(" | stopped |")
    report = compare_separations([tmp_path / "run"], tmp_path)
    assert report["rows"][0]["stopped"] == row.stopped
    assert "- paths, sr: stopped: pathnn" in (tmp_path / "compare.md").read_text()


def test_by_is_refused_for_separation_folders(runs, tmp_path, capsys):
    assert main(["compare", str(runs / "gin_all"), "--by", "model.hidden", "--out",
                 str(tmp_path)]) == 2
    assert "--by pivots training runs" in capsys.readouterr().err
