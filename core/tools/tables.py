"""The plain-text tables the tools print (``wlkit check``, ``analyze``, ``separate``).

One formatter, so every table pads, aligns and rules its columns the same way; each tool
only decides its cells.
"""

from __future__ import annotations

from collections.abc import Sequence


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]], *,
                 align: str | None = None, indent: str = "", rules: Sequence[int] = (),
                 strip: bool = False) -> list[str]:
    """Lay out a table of string cells in columns two spaces apart.

    Parameters
    ----------
    header : sequence of str
        The column titles (a blank title leaves that header cell empty).
    rows : sequence of sequence of str
        The body; every row has one cell per column.
    align : str, optional
        One letter per column, ``"l"`` (left) or ``"r"`` (right). Default: the first column
        left, the others right (a label column, then numbers).
    indent : str
        Put in front of every line.
    rules : sequence of int
        Body positions before which a rule of dashes goes: ``0`` puts one under the header,
        ``len(rows) - 1`` one above the last row (a total).
    strip : bool
        Remove trailing spaces from each line (for left-aligned last columns).

    Returns
    -------
    list of str
        The lines, without newlines: the header, then the body with its rules.

    Examples
    --------
    >>> print("\\n".join(format_table(["name", "n"], [["a", "1"], ["total", "10"]], rules=[0])))
    name    n
    -----  --
    a       1
    total  10
    """
    columns = len(header)
    if any(len(row) != columns for row in rows):
        raise ValueError(f"every row needs {columns} cells, one per column")
    align = align or "l" + "r" * (columns - 1)
    if len(align) != columns or set(align) - {"l", "r"}:
        raise ValueError(f"align needs one of 'l'/'r' per column, got {align!r}")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(columns)]

    def line(cells: Sequence[str]) -> str:
        text = "  ".join(cell.ljust(w) if a == "l" else cell.rjust(w)
                         for cell, w, a in zip(cells, widths, align))
        return indent + (text.rstrip() if strip else text)

    rule = indent + "  ".join("-" * w for w in widths)
    lines = [line(header)]
    for position, row in enumerate(rows):
        lines += [rule] * list(rules).count(position)
        lines.append(line(row))
    return lines
