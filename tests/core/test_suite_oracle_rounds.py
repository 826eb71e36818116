"""The WL suites' oracle cache keeps per-pair refinement rounds (format 2) next to the
answers; files of the older format are recomputed quietly."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from wlkit.datasets import wl_suites as S


def test_rounds_are_cached_next_to_the_answers(tmp_path, monkeypatch):
    suite = S.ClassicSuite()
    rounds = suite.oracle_rounds(["node_marked", "1-WL"], cache_dir=tmp_path)
    assert rounds == {"node_marked": [2, 3, None, None], "1-WL": [None] * 4}
    blob = json.loads((tmp_path / "wl_oracles" / next(
        p.name for p in (tmp_path / "wl_oracles").iterdir() if "node_marked" in p.name)
    ).read_text())
    assert blob["format"] == 2 and blob["rounds"] == [2, 3, None, None]

    def boom(*args, **kwargs):
        raise AssertionError("recomputed instead of reading the cache")

    monkeypatch.setattr("wlkit.wl.separation_rounds", boom)
    again = S.ClassicSuite()
    assert again.oracle_rounds(["node_marked"], cache_dir=tmp_path) == {
        "node_marked": [2, 3, None, None]}
    assert again.oracle_labels(["node_marked"], cache_dir=tmp_path)[
        "node_marked"].tolist() == [True, True, False, False]
    # compute=False: cached oracles only, nothing refined
    assert again.oracle_rounds(["node_marked", "ego1"], cache_dir=tmp_path,
                               compute=False) == {"node_marked": [2, 3, None, None]}


def test_an_old_format_file_is_replaced_without_a_warning(tmp_path):
    suite = S.ClassicSuite()
    suite.oracle_labels(["node_deleted"], cache_dir=tmp_path)
    (path,) = (tmp_path / "wl_oracles").iterdir()
    blob = json.loads(path.read_text())
    old = {k: v for k, v in blob.items() if k != "rounds"} | {"format": 1}
    path.write_text(json.dumps(old))
    computed = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rounds = suite.oracle_rounds(["node_deleted"], cache_dir=tmp_path,
                                     on_compute=computed.append)
    assert computed == ["node_deleted"] and rounds["node_deleted"] == [2, 3, None, None]
    assert json.loads(path.read_text())["format"] == 2


@pytest.mark.parametrize("rounds", [[2, 3], [2, 3, 1, None], [2, "3", None, None],
                                    [True, 3, None, None]])
def test_bad_rounds_in_the_cache_are_recomputed(tmp_path, rounds):
    suite = S.ClassicSuite()
    suite.oracle_labels(["node_marked"], cache_dir=tmp_path)
    (path,) = (tmp_path / "wl_oracles").iterdir()
    blob = json.loads(path.read_text())
    path.write_text(json.dumps({**blob, "rounds": rounds}))
    with pytest.warns(UserWarning, match="unusable"):
        labels = suite.oracle_labels(["node_marked"], cache_dir=tmp_path)
    assert labels["node_marked"].tolist() == [True, True, False, False]
    assert json.loads(path.read_text())["rounds"] == [2, 3, None, None]
    assert isinstance(labels["node_marked"], np.ndarray)
