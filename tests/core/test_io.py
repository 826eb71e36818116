"""Atomic writes: whole files or nothing, with ordinary permissions."""

from __future__ import annotations

import os
import stat

import pytest

from wlkit.io import atomic_write_bytes, atomic_write_json, atomic_write_text


def test_written_files_get_the_permissions_of_an_ordinary_open(tmp_path):
    path = atomic_write_json(tmp_path / "summary.json", {"a": 1})
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    assert path.read_text() == '{\n  "a": 1\n}\n'


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = atomic_write_text(tmp_path / "result.txt", "old")
    with pytest.raises(TypeError):
        atomic_write_bytes(path, "text, not bytes")  # type: ignore[arg-type]
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.txt"]


def test_content_key_is_the_one_cache_key_recipe():
    import hashlib
    import json

    from wlkit import content_key
    from wlkit.plugins.encodings import RandomWalkSE

    old = json.dumps(["a", {"y": 1, "x": [1, 2]}], sort_keys=True, default=str)
    assert content_key("a", {"y": 1, "x": [1, 2]}) == hashlib.sha256(old.encode()).hexdigest()[:16]
    assert content_key("a", {"x": [1, 2], "y": 1}) == content_key("a", {"y": 1, "x": [1, 2]})
    assert content_key("a", length=20) != content_key("b", length=20)
    rwse = RandomWalkSE(4)
    assert rwse.cache_key() == content_key("wlkit.plugins.encodings", "RandomWalkSE", 1,
                                           {"steps": 4, "dim": 4})
