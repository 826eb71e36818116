"""wlkit.io.output_folder: one run-directory helper for run, separate and analyze; a command
that fails before writing a result leaves no folder behind."""

from __future__ import annotations

import re

import pytest

from wlkit.errors import WlkitError
from wlkit.io import atomic_write_text, check_output_empty, output_folder


def test_stamped_folders_are_fresh_and_distinct(tmp_path):
    base = tmp_path / "runs" / "p"
    with output_folder(base, "separate_x_") as first, output_folder(base, "separate_x_") as second:
        assert first != second and first.is_dir() and second.is_dir()
    assert re.fullmatch(r"separate_x_\d{8}-\d{6}(-\d+)?", first.name)


def test_a_failure_before_any_result_leaves_nothing(tmp_path):
    base = tmp_path / "runs" / "p"
    only_metrics = lambda path: path.name == "metrics.json"  # noqa: E731
    with pytest.raises(RuntimeError), output_folder(base, keep=only_metrics) as folder:
        (folder / "seed_0").mkdir()
        atomic_write_text(folder / "seed_0" / "metrics.csv", "epoch\n")
        raise RuntimeError("shape error in the first batch")
    assert not (tmp_path / "runs").exists()  # the parents it created go too


def test_a_failure_keeps_results_already_written(tmp_path):
    keep = lambda path: path.name == "metrics.json"  # noqa: E731
    with pytest.raises(KeyboardInterrupt), output_folder(tmp_path, keep=keep) as folder:
        atomic_write_text(folder / "pipeline.resolved.yaml", "name: p\n")
        atomic_write_text(folder / "seed_0" / "metrics.json", "{}")
        raise KeyboardInterrupt
    assert sorted(p.name for p in folder.rglob("*")) == ["metrics.json", "pipeline.resolved.yaml",
                                                        "seed_0"]


def test_a_failure_spares_what_was_in_out_before(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    atomic_write_text(out / "notes.txt", "mine")
    with pytest.raises(RuntimeError), output_folder(tmp_path, out=out, require_empty=False,
                                                    keep=lambda p: False) as folder:
        atomic_write_text(folder / "half" / "x.txt", "partial")
        raise RuntimeError
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_a_failure_in_an_empty_out_it_did_not_create_keeps_the_folder(tmp_path):
    out = tmp_path / "given"
    out.mkdir()
    with pytest.raises(RuntimeError), output_folder(tmp_path, out=out, keep=lambda p: False):
        atomic_write_text(out / "plugins.json", "[]")
        raise RuntimeError
    assert out.is_dir() and not any(out.iterdir())


def test_by_default_any_written_file_is_kept(tmp_path):
    with pytest.raises(RuntimeError), output_folder(tmp_path / "runs") as folder:
        atomic_write_text(folder / "separation.json", "{}")
        raise RuntimeError("the plot failed")
    assert (folder / "separation.json").is_file()
    with pytest.raises(RuntimeError), output_folder(tmp_path / "empty") as folder:
        raise RuntimeError
    assert not (tmp_path / "empty").exists()


def test_a_full_out_is_refused_and_left_alone(tmp_path):
    atomic_write_text(tmp_path / "summary.json", "{}")
    with pytest.raises(WlkitError, match="not empty(.|\n)*hint: choose another --out"):
        check_output_empty(tmp_path)
    with pytest.raises(WlkitError, match="not empty"), output_folder(tmp_path, out=tmp_path):
        pass
    assert (tmp_path / "summary.json").read_text() == "{}"


def test_an_uncreatable_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(WlkitError, match="cannot create the output folder(.|\n)*hint:"), \
            output_folder(blocker / "runs"):
        pass
