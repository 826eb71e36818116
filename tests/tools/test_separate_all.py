"""``wlkit separate --suite all``: every suite in one report (combined json, table, PNG),
file suites without files skipped with the reason, and the published BREC rows."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA
from wlkit.cli import main
from wlkit.errors import WlkitError
from wlkit.pipeline.loader import validate_pipeline
from wlkit.tools import published
from wlkit.tools.separate import (
    SeparateSettings,
    combine_results,
    format_all_table,
    run_separate_all,
)

DATA = Path(os.environ.get("WLKIT_WL_DATA", SHARED_DATA / "wl"))
# Tiny: R = 12 relabelings, 4 outputs, 2 pairs per suite, a 2-layer width-8 GIN.
TINY = SeparateSettings(relabelings=12, output_dim=4, limit=2)


def pipeline(policy=None):
    data = {"name": "t", "dataset": "wl_pairs", "model": {"hidden": 8, "num_layers": 2}}
    if policy is not None:
        data["policy"] = policy
    return validate_pipeline(data).data


def test_all_generated_suites_give_one_json_table_and_png(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("WLKIT_WL_DATA", raising=False)
    result = run_separate_all(pipeline(), out=tmp_path / "all", settings=TINY, progress=False,
                              names=["classic", "sr", "exp"])
    out = tmp_path / "all"
    assert list(result["suites"]) == ["classic", "sr"]  # generated first; exp has no files
    for suite in ("classic", "sr"):
        single = json.loads((out / suite / "separation.json").read_text())
        assert single["suite"] == suite and len(single["pairs"]) == 2
        assert (out / suite / "separation.png").stat().st_size > 0
    combined = json.loads((out / "separation_all.json").read_text())
    assert (out / "separation_all.png").read_bytes()[:4] == b"\x89PNG"
    assert combined["oracles"] == ["1-WL", "2-FWL"]
    assert combined["suites"]["sr"]["totals"]["srg(16,6,2,2)"]["pairs"] == 1
    assert combined["totals"]["pairs"] == 4 and combined["totals"]["separated"] == 0  # GIN
    assert combined["published"] is None  # plain GIN has no BREC row
    table = capsys.readouterr().out
    assert "suite / category" in table and "sr total" in table and "classic total" in table
    assert "skipped exp" in table


def test_a_file_suite_without_its_files_is_skipped_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.delenv("WLKIT_WL_DATA", raising=False)
    (tmp_path / "data" / "SR25").mkdir(parents=True)  # the folder, but not its file
    result = run_separate_all(pipeline(), root=tmp_path / "data", out=tmp_path / "o",
                              settings=TINY, progress=False, names=["classic", "sr25", "exp"])
    skipped = {s["suite"]: s["reason"] for s in result["skipped"]}
    assert set(skipped) == {"sr25", "exp"}
    assert "sr251256.g6 not found in" in skipped["sr25"]
    assert str(tmp_path / "data" / "EXP") in skipped["exp"]
    assert os.environ.get("WLKIT_WL_DATA") is None  # --root does not leak into the process
    # without --root and $WLKIT_WL_DATA, file suites are skipped too (generated ones run)
    result = run_separate_all(pipeline(), out=tmp_path / "p", settings=TINY, progress=False,
                              names=["classic", "sr25"])
    assert [s["suite"] for s in result["skipped"]] == ["sr25"]
    assert "no folder was given" in result["skipped"][0]["reason"]


def test_file_suites_run_from_the_root_and_brec_gets_the_published_column(tmp_path, capsys):
    if not (DATA / "BREC" / "basic.npy").exists() or not (DATA / "SR25").exists():
        pytest.skip(f"BREC / SR25 data not found under {DATA} (set WLKIT_WL_DATA)")
    ego1 = pipeline({"name": "ego", "hops": 1})  # BREC's NGNN setting
    result = run_separate_all(ego1, root=DATA, out=tmp_path / "o", settings=TINY,
                              progress=False, names=["sr25", "brec"])
    assert list(result["suites"]) == ["brec", "sr25"] and not result["skipped"]
    assert result["suites"]["sr25"]["overall"]["pairs"] == 2
    # 2 of Basic's 60 pairs ran: no published cell to put next to them
    assert result["suites"]["brec"]["published"] == {"categories": {"Basic": None},
                                                     "total": None}
    assert result["published"]["model"] == "NGNN" and result["published"]["comparable"] is False
    table = capsys.readouterr().out
    assert "published NGNN (trained)" in table and "untrained, so not directly comparable" in table
    assert (tmp_path / "o" / "brec" / "separation.json").exists()


def _fake_result(suite, totals, trained=False):
    """What run_separate returns, reduced to the fields the combined report reads."""
    overall = {k: sum(t[k] for t in totals.values()) for k in ("pairs", "separated",
                                                                "unreliable")}
    overall["oracles"] = {o: sum(t["oracles"][o] for t in totals.values())
                          for o in ("1-WL", "2-FWL")}
    overall["reasons"] = {}
    return {"source": suite, "run_dir": f"/x/{suite}", "oracles": ["1-WL", "2-FWL"],
            "reference_oracle": "2-FWL", "totals": totals, "overall": overall,
            "violations": [], "seconds": 0.0, "policy": "ego", "bound": None,
            "settings": {"threshold": 72.34, "trained": trained}}


def _cat(pairs, separated, wl2, reasons=None):
    return {"pairs": pairs, "separated": separated, "unreliable": 0,
            "oracles": {"1-WL": 0, "2-FWL": wl2}, "reasons": reasons or {}}


def test_the_published_column_shows_the_paper_count_of_a_complete_category():
    ego1 = pipeline({"name": "ego", "hops": 1})
    regular = {**_cat(50, 48, 50, {"depth": 1, "unexplained": 1}), "float64": 2}
    brec = _fake_result("brec", {"Basic": _cat(60, 59, 60), "Regular": regular})
    combined = combine_results(ego1, {"brec": brec, "csl": _fake_result(
        "csl", {"csl": _cat(45, 9, 45)})}, [], "NGNN", SeparateSettings())
    assert combined["suites"]["brec"]["published"] == {
        "categories": {"Basic": 59, "Regular": None}, "total": None}
    table = format_all_table(combined).splitlines()
    head = table[1].split()
    assert head[:9] == ["suite", "/", "category", "pairs", "model", "via", "float64",
                        "unreliable", "unexplained"]
    assert "depth" in head  # a reason that occurs gets its column
    assert next(ln for ln in table if "brec / Regular" in ln).split()[5] == "2"  # via float64
    assert next(ln for ln in table if "brec / Basic" in ln).split()[-1] == "59"
    assert next(ln for ln in table if "brec / Regular" in ln).split()[-1] == "-"
    assert next(ln for ln in table if "brec total" in ln).split()[-1] == "-"  # 110 of 400
    assert next(ln for ln in table if ln.strip().startswith("csl")).split()[1] == "45"
    assert combined["totals"] == {"pairs": 155, "separated": 116, "unreliable": 0}


def test_cli_suite_all(tmp_path, monkeypatch):
    monkeypatch.delenv("WLKIT_WL_DATA", raising=False)
    path = tmp_path / "p.yaml"
    path.write_text("name: t\ndataset: wl_pairs\nmodel: {hidden: 8, num_layers: 2}\n")
    assert main(["separate", str(path), "--suite", "all", "--pairs", "x"]) == 2
    assert main(["separate", str(path), "--suite", "all", "--root", str(tmp_path / "no")]) == 2
    out = tmp_path / "o"
    assert main(["separate", str(path), "--suite", "all", "--out", str(out), "--quiet",
                 "--relabelings", "12", "--output-dim", "4", "--limit", "1"]) == 0
    combined = json.loads((out / "separation_all.json").read_text())
    assert set(combined["suites"]) == {"4vtx", "cfi", "classic", "csl", "dr", "regular", "sr"}
    assert {s["suite"] for s in combined["skipped"]} == {"brec", "cexp", "exp", "sr25"}


# ---------------------------------------------------------------------- published rows
def test_every_published_row_has_a_source_and_adds_up():
    assert set(published.BREC_TABLE2) == {"NGNN", "PPGN", "SUN", "KP-GNN", "I²-GNN", "GSN",
                                          "Graphormer", "3-WL"}
    for row in published.BREC_TABLE2.values():
        assert "2304.07702" in row.source and "Table 2" in row.source and row.checked
        assert row.basic + row.regular + row.extension + row.cfi == row.total
        for column, size in published.BREC_COLUMNS.items():
            assert 0 <= row.column(column) <= size
    assert published.BREC_TABLE2["NGNN"].total == 166
    assert published.BREC_TABLE2["3-WL"].total == 270


def test_published_model_mapping():
    ego = {"name": "ego", "subgraphs": "ego", "hops": 1, "root_mark": False, "mode": "ds",
           "sample_fraction": 1.0}
    assert published.published_model({"policy": ego}) == "NGNN"
    for change in ({"hops": 2}, {"root_mark": True}, {"mode": "dss"},
                   {"subgraphs": "node_deleted"}, {"sample_fraction": 0.5}):
        assert published.published_model({"policy": {**ego, **change}}) is None
    assert published.published_model({"policy": None}) is None
    cells, total = published.published_cells(
        "NGNN", {"Basic": {"pairs": 60}, "Regular": {"pairs": 50}, "CFI": {"pairs": 3}}, 113)
    assert cells == {"Basic": 59, "Regular": None, "CFI": None} and total is None
    assert published.published_cells("NGNN", {"Basic": {"pairs": 60}}, 400)[1] == 166


def test_a_suite_the_policy_cannot_take_is_skipped_and_the_others_go_on(tmp_path, capsys):
    # PathNN's path budget holds on the small classic pairs and not on srg(16,6,2,2)
    policy = {"name": "pathnn", "paths": "ap", "K": 4, "max_paths": 1000}
    cfg = validate_pipeline({"name": "t", "dataset": "wl_pairs", "policy": policy,
                             "model": {"hidden": 8, "num_layers": 4}}).data
    result = run_separate_all(cfg, out=tmp_path / "o", settings=TINY,
                              progress=False, names=["classic", "sr"])
    assert list(result["suites"]) == ["classic"]
    (skip,) = result["skipped"]
    assert skip["suite"] == "sr" and skip["reason"].startswith("stopped: pathnn: enumerating")
    assert "skipped sr: stopped: pathnn" in capsys.readouterr().out
    saved = json.loads((tmp_path / "o" / "separation_all.json").read_text())
    assert saved["skipped"] == result["skipped"]
    assert not (tmp_path / "o" / "sr").exists()
    # every suite stopping is the first error itself (exit 2 from the command line)
    with pytest.raises(WlkitError, match="over the budget"):
        run_separate_all(cfg, out=tmp_path / "p", settings=TINY,
                         progress=False, names=["sr"])
