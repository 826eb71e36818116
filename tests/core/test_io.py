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
