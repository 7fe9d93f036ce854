"""A port of Go's ``text/tabwriter`` (space padding, no flags), as ``ctr`` uses it.

Text is cut into cells at ``\\t``; a line's last cell (after its last tab) is
not part of any column. Consecutive lines that have a cell in column *k*
form a *column block*, padded to its widest cell plus ``padding`` (and at
least ``minwidth``). A line without any tab ends all blocks, as in Go, so a
table after a plain line is aligned on its own. Pure: text in, text out.

Example (``ctr plugins ls`` uses minwidth 4, padding 4)::

    >>> tabulate("A\\tBB\\t\\nCCC\\tD\\t\\n", minwidth=4, padding=4)
    'A       BB    \\nCCC     D     \\n'
"""
from __future__ import annotations

__all__ = ["tabulate"]


def tabulate(text: str, *, minwidth: int, padding: int) -> str:
    """Format ``text`` (lines ending in ``\\n``) the way Go's tabwriter would.

    Args:
        text: cells separated by tabs, lines by newlines.
        minwidth: minimal width of a column, padding included.
        padding: spaces added to the widest cell of a column.

    Returns:
        The aligned text (a trailing partial line is kept as is).
    """
    out: list[str] = []
    block: list[list[str]] = []
    lines = text.split("\n")
    tail = lines.pop()  # text after the last newline (usually empty)
    for line in lines:
        cells = line.split("\t")
        block.append(cells)
        if len(cells) == 1:  # no tab: nothing below depends on what is above
            _format(block, out, minwidth, padding)
            block = []
    _format(block, out, minwidth, padding)
    return "".join(out) + tail


def _format(lines: list[list[str]], out: list[str], minwidth: int, padding: int) -> None:
    widths: list[int] = []

    def write(line0: int, line1: int) -> None:
        for cells in lines[line0:line1]:
            parts = []
            for j, cell in enumerate(cells):
                if j < len(widths) and j < len(cells) - 1:
                    parts.append(cell + " " * (widths[j] - len(cell)))
                else:
                    parts.append(cell)
            out.append("".join(parts) + "\n")

    def fmt(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write(line0, this)
            line0 = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            widths.append(width)
            fmt(line0, this)
            widths.pop()
            line0 = this
        write(line0, line1)

    fmt(0, len(lines))
