"""``wlkit separate`` and ``wlkit validate`` on depth: pairs that need more refinement rounds
of the reference oracle than the model has layers are named (``needed_rounds``, ``layers``,
``reason: depth``), counted in the table and warned about."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from wlkit.cli import main
from wlkit.pipeline.loader import validate_pipeline
from wlkit.tools.separate import (
    SeparateSettings,
    Separator,
    depth_warning,
    format_table,
    mark_depth,
    model_rounds,
    run_separate,
)

FAST = {"relabelings": 12, "output_dim": 4, "batch_size": 128}
MARKING = {"name": "node_marking", "marked": 1}


def pipeline(policy=None, **model):
    data = {"name": "t", "dataset": "wl_pairs",
            "model": {"hidden": 8, "num_layers": 2, **model}}
    if policy is not None:
        data["policy"] = policy
    return validate_pipeline(data).data


def separate(tmp_path, cfg, name="run", **settings):
    said = []
    result = run_separate(cfg, "classic", out=tmp_path / name,
                          settings=SeparateSettings(**{**FAST, **settings}), progress=False,
                          say=said.append)
    return result, "\n".join(said)


def test_shallow_node_marking_names_its_depth_limited_pairs(tmp_path, capsys):
    # c6 vs 2xC3 needs 2 rounds of node_marked, decalin vs bicyclopentyl 3; one layer
    # reaches neither, so the model cannot separate them and says why
    result, said = separate(tmp_path, pipeline(MARKING, num_layers=1))
    printed = capsys.readouterr().out
    rows = result["pairs"]
    assert [r.get("needed_rounds") for r in rows] == [2, 3, None, None]
    assert [r.get("layers") for r in rows] == [1, 1, None, None]
    assert [r.get("reason") for r in rows[:2]] == ["depth", "depth"]
    assert not any(r["separated"] for r in rows)
    assert all("float64" not in r for r in rows[:2])  # no float64 re-test can help there
    assert result["depth"] == {"oracle": "node_marked", "layers": 1, "limited": 2,
                               "max_needed_rounds": 3, "violations": []}
    assert "WARNING: 2 of 4 pair(s) need more than 1 round(s) of node_marked" in printed
    assert "hint: set model.num_layers: 3" in printed
    saved = json.loads((tmp_path / "run" / "separation.json").read_text())
    assert saved["pairs"][0]["reason"] == "depth" and saved["depth"]["limited"] == 2
    header = next(line for line in printed.splitlines() if "category" in line)
    total = next(
        line for line in printed.splitlines() if line.strip().startswith("total"))
    column = re.split(r"\s{2,}", header.strip()).index("depth-limited")
    assert re.split(r"\s{2,}", total.strip())[column] == "2"


def test_deep_enough_models_have_no_depth_reasons(tmp_path, capsys):
    result, _ = separate(tmp_path, pipeline(MARKING, num_layers=3))
    printed = capsys.readouterr().out
    assert [r.get("needed_rounds") for r in result["pairs"]] == [2, 3, None, None]
    assert not any(r.get("reason") == "depth" for r in result["pairs"])
    assert result["depth"]["limited"] == 0 and "WARNING" not in printed


def test_a_subset_gets_its_rounds_too(tmp_path):
    result, _ = separate(tmp_path, pipeline(MARKING, num_layers=1), limit=1)
    (row,) = result["pairs"]
    assert (row["needed_rounds"], row["layers"], row["reason"]) == (2, 1, "depth")


def test_rounds_map_to_layers_only_where_they_bound_the_model():
    def rounds(cfg, oracle):
        return model_rounds(Separator(cfg, 0, SeparateSettings(**FAST)), oracle)

    assert rounds(pipeline(num_layers=3), "1-WL") == 3
    assert rounds(pipeline(MARKING, num_layers=4), "node_marked") == 4
    assert rounds(pipeline({"name": "ego", "hops": 1}, num_layers=5), "ego1") == 5
    assert rounds(pipeline({"name": "spen", "hops": 1}), "2-FWL") is None
    # registered refinements whose round t bounds layer t (OracleRecord.layer_rounds)
    assert rounds(pipeline({"name": "spen", "hops": 2}, num_layers=3), "spen_h2") == 3
    assert rounds(pipeline({"name": "pathnn", "paths": "ap", "K": 2}, num_layers=2),
                  "path_ap_K2_dist") == 2
    assert rounds(pipeline(), None) is None
    sep = Separator(pipeline(MARKING), 0, SeparateSettings(**FAST))
    sep.policy.wl_rounds = 7  # a policy may state its own mapping
    assert model_rounds(sep, "node_marked") == 7


def test_mark_depth_flags_a_pair_separated_below_its_rounds():
    rows = [{"id": "a", "separated": True}, {"id": "b", "separated": False},
            {"id": "c", "separated": False}]
    summary = mark_depth(rows, [4, 4, None], 2, "node_marked")
    assert summary["violations"] == ["a"] and summary["limited"] == 1
    assert "reason" not in rows[0] and rows[1]["reason"] == "depth" and "layers" not in rows[2]
    assert depth_warning([1, 2, None], 2, "1-WL") is None


def test_table_has_a_depth_limited_column_only_with_a_mapping():
    totals = {"pairs": 3, "separated": 1, "unreliable": 0, "reasons": {"depth": 2},
              "oracles": {"node_marked": 3}}
    result = {"pipeline": "p", "suite": "classic", "settings": {"threshold": 21.1},
              "oracles": ["node_marked"], "totals": {"cycles": totals}, "overall": totals,
              "reference_oracle": "node_marked",
              "depth": {"oracle": "node_marked", "layers": 1}}
    lines = format_table(result).splitlines()
    assert lines[1].split() == ["category", "pairs", "model", "unreliable", "unexplained",
                                "depth-limited", "node_marked"]
    assert lines[-1].split() == ["total", "3", "1", "0", "0", "2", "3"]
    assert "depth-limited" not in format_table({**result, "depth": None})


VALIDATE = """\
name: deep
dataset: suite_classic
policy: {{name: node_marking, marked: 1}}
model: {{layer: gin, aggregator: sum, num_layers: {layers}, hidden: 8, readout: sum}}
"""


@pytest.mark.parametrize(("layers", "warned"), [(1, True), (3, False)])
def test_validate_warns_when_the_suite_needs_more_depth(layers, warned, write_pipeline,
                                                        capsys):
    path = write_pipeline(VALIDATE.format(layers=layers))
    assert main(["validate", str(path)]) == 0
    printed = capsys.readouterr().out
    assert ("WARNING: 2 of 4 pair(s) need more than 1 round(s) of node_marked" in printed) \
        == warned


PIPELINES = Path(__file__).parents[2] / "pipelines"


@pytest.mark.parametrize("path", sorted(PIPELINES.glob("separate_*.yaml")), ids=lambda p: p.stem)
def test_shipped_separation_pipelines_have_the_depth_their_suites_need(path):
    from wlkit.model.build import instantiate_dataset
    from wlkit.pipeline import load_pipeline
    from wlkit.suites import load_suite
    from wlkit.tools.separate import depth_requirement

    cfg = load_pipeline(path, []).data
    instantiate_dataset(cfg["dataset"])  # registers the suites' plugins
    for name in ("classic", "csl", "cfi", "sr", "dr", "4vtx", "regular"):
        text = depth_requirement(cfg, load_suite(name))
        assert text is None or "WARNING" not in text, (name, text)


def test_localized_two_node_marking_has_its_oracles_rounds_plus_the_margin():
    # pipelines/separate_two_node_marking_local.yaml: its oracle two_node_marked_r1 needs at
    # most 4 rounds on the generated suites (CSL), so 4 layers are the least that can work;
    # the pipeline keeps separate_node_marking's margin of 2 (4 rounds, 6 layers)
    from wlkit.pipeline import load_pipeline
    from wlkit.suites import load_suite
    from wlkit.tools.separate import depth_requirement

    path = PIPELINES / "separate_two_node_marking_local.yaml"
    cfg = load_pipeline(path, []).data
    separator = Separator(cfg, 0, SeparateSettings(**FAST))
    oracle = separator.policy_oracle()
    assert oracle == "two_node_marked_r1"
    needed = {name: [r for r in load_suite(name).oracle_rounds([oracle])[oracle]
                     if r is not None] for name in ("classic", "csl", "cfi", "sr", "regular")}
    assert max(needed["csl"]) == 4 and needed["cfi"] == []  # r = 1 separates no CFI pair
    assert max(max(r, default=0) for r in needed.values()) == 4
    assert model_rounds(separator, oracle) == 4 + 2
    shallow = load_pipeline(path, ["model.num_layers=3"]).data
    assert "WARNING" in (depth_requirement(shallow, load_suite("csl")) or "")
