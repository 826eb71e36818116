"""wlkit.io.progress: tqdm on a terminal; in a log, a line per few percent and no '\\r'."""

from __future__ import annotations

import io

import pytest

from wlkit.io import LineProgress, is_terminal, progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_a_line_per_five_percent_and_no_carriage_return():
    log = io.StringIO()
    assert list(progress(range(1000), desc="  separate classic", unit="pair", file=log)) == \
        list(range(1000))
    text = log.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 20  # 5%, 10%, ..., 100%
    assert lines[0].startswith("separate classic: 50/1000 pair (5%)")
    assert lines[-1].startswith("separate classic: 1000/1000 pair (100%)")


def test_a_small_total_prints_each_step_once():
    log = io.StringIO()
    with progress(total=3, desc="seed 0", unit="epoch", file=log) as bar:
        for loss in (0.5, 0.25, 0.125):
            bar.set_postfix({"loss": loss}, refresh=False)
            bar.update(1)
    lines = log.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == ["seed 0: 1/3 epoch (33%)",
                                                      "seed 0: 2/3 epoch (67%)",
                                                      "seed 0: 3/3 epoch (100%)"]
    assert lines[-1].endswith("[loss=0.125]")


def test_an_interrupted_bar_says_where_it_stopped():
    log = io.StringIO()
    bar = progress(total=100, desc="x", file=log)
    bar.update(3)
    bar.close()
    bar.close()
    assert log.getvalue().splitlines() == [log.getvalue().splitlines()[0]]
    assert log.getvalue().startswith("x: 3/100 it (3%)")


def test_without_a_total_lines_come_by_time(monkeypatch):
    log = io.StringIO()
    bar = LineProgress(iter(range(5)), desc="y", every=0.0, file=log)
    list(bar)
    assert len(log.getvalue().splitlines()) == 5 and "%" not in log.getvalue()


@pytest.mark.parametrize("how", ["disabled", "quiet"])
def test_disabled_or_quiet_shows_nothing(monkeypatch, how):
    log = _Terminal()
    if how == "quiet":
        monkeypatch.setenv("WLKIT_QUIET", "1")
    bar = progress(range(10), file=log, enabled=how != "disabled")
    assert list(bar) == list(range(10))
    bar.update(1)
    bar.set_postfix({"a": 1})
    bar.close()
    assert log.getvalue() == ""


def test_a_terminal_gets_tqdm():
    from tqdm.auto import tqdm

    bar = progress(total=2, file=_Terminal())
    assert isinstance(bar, tqdm) and is_terminal(_Terminal())
    bar.close()
    assert not is_terminal(io.StringIO())
