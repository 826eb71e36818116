"""wlkit.tools.tables: the one plain-text table formatter the tools share."""

from __future__ import annotations

import pytest

from wlkit.tools.tables import format_table


def test_first_column_left_the_others_right():
    assert format_table(["", "a", "bb"], [["row", "1", "22"], ["longer", "333", "4"]]) == [
        "          a  bb",
        "row       1  22",
        "longer  333   4",
    ]


def test_rules_indent_and_strip():
    lines = format_table(["name", "x"], [["a", "1"], ["b", "2"], ["all", "3"]],
                         align="ll", indent="  ", rules=[0, 2], strip=True)
    assert lines == ["  name  x", "  ----  -", "  a     1", "  b     2", "  ----  -",
                     "  all   3"]


def test_strip_keeps_trailing_spaces_only_when_asked():
    assert format_table(["h", "long"], [["x", ""]], align="ll") == ["h  long", "x      "]
    assert format_table(["h", "long"], [["x", ""]], align="ll", strip=True) == ["h  long", "x"]


@pytest.mark.parametrize(("rows", "align"), [([["a"]], None), ([["a", "b"]], "lx")])
def test_bad_shapes_are_refused(rows, align):
    with pytest.raises(ValueError):
        format_table(["h", "i"], rows, align=align)


def test_the_tools_tables_keep_their_layout():
    from wlkit.tools.separate import format_table as separation_table

    result = {"pipeline": "p", "suite": "classic", "settings": {"threshold": 72.3412},
              "oracles": ["1-WL"],
              "totals": {"basic": {"pairs": 10, "separated": 3, "unreliable": 0,
                                   "oracles": {"1-WL": 0}}},
              "overall": {"pairs": 10, "separated": 3, "unreliable": 0, "oracles": {"1-WL": 0}}}
    assert separation_table(result) == "\n".join([
        "  p on classic: pairs separated (model = reliable T² > 72.34)",
        "  category  pairs  model  unreliable  1-WL",
        "  --------  -----  -----  ----------  ----",
        "  basic        10      3           0     0",
        "  --------  -----  -----  ----------  ----",
        "  total        10      3           0     0"])
