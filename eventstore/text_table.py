"""Plain-text tables that fit the terminal: what ``--format table`` prints.

A table is laid out for a given width (the terminal's, ``COLUMNS`` if set, 80 when unknown) in
three steps, each taken only if the previous one was not enough:

1. free text (names, sources, payloads, errors) is shortened with ``…`` down to a floor;
2. columns the caller allows as *details* (payloads, sources, times) leave the row and go on an
   indented ``name: value`` line under it;
3. the rightmost remaining columns are left out, and a note names them.

Columns leave in order of *rank*: every column of the lowest rank goes (by the steps above)
before one of a higher rank, so a caller can keep the columns that explain a row (a lineage
table's ``event_type`` and ``kind``) in it the longest. An ad-hoc query's columns, which no
caller chose, are ranked from their cells (``rank_by_content``): mostly empty columns first.

Ids (``*_id`` columns), the caller's key columns and the first column are never shortened
and, unless the caller ranks an id, never moved or left out, so an id is never split: if ids
alone are wider than the terminal, the line is longer than the terminal rather than the id
broken. On the lines under a row, a ``name: value`` that does not fit starts a new line, and
only one longer than a line is cut. Rows beyond ``limit`` are left out with a note saying how
many and how to see them all.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, TextIO

from rich.cells import cell_len, set_cell_size

Format = Literal["table", "csv", "json"]
FORMATS: tuple[Format, ...] = ("table", "csv", "json")
"""Output formats of the query commands (``eventstore.render`` writes each); named here,
with no import of pyarrow, so the command line can list them without loading it."""

DEFAULT_LIMIT = 50
"""Rows a table shows unless told otherwise (``--limit``; 0 shows all)."""

GAP = "  "
DETAIL_INDENT = "    "
_FLEX_FLOOR = 10


def terminal_width() -> int:
    """The width to lay tables out for: ``COLUMNS`` if set, else the terminal's, else 80."""
    return shutil.get_terminal_size((80, 24)).columns


def wrapped(text: str, width: int | None = None) -> str:
    """A message (an error, a note) as lines of at most ``width`` cells (the terminal's),
    broken at spaces only, every line after the first indented two spaces: nothing is cut, and
    a path or id longer than a line stands whole on a line of its own, except after the first
    word (``error:``), which never stands alone: the first line says what the message is."""
    room = width or terminal_width()
    lines: list[str] = []
    line = ""
    for word in text.split():
        # A line is full once the word would overflow it, unless it holds only the first word
        if line and cell_len(line) + 1 + cell_len(word) > room and (lines or " " in line):
            lines.append(line)
            line = f"  {word}"
        else:
            line = f"{line} {word}" if line else word
    return "\n".join([*lines, line] if line else lines)


@dataclass
class Column:
    """One column's text cells and how it may be treated when space is short."""

    name: str
    cells: list[str]
    numeric: bool = False
    fixed: bool = False
    """Never shortened, moved or left out (ids and key columns)."""
    whole: bool = False
    """Never shortened, in its row or on a detail line (ids): a detail line breaks before it."""
    flexible: bool = False
    """Free text that may be shortened with ``…``."""
    detail: bool = False
    """May move to a ``name: value`` line under the row."""
    keep_tail: bool = False
    """Shortened from the left (``…Handler.on_bar``): the end of a dotted name says most."""
    rank: int = 0
    """How long the column stays in a narrow row: all columns of a lower rank leave first."""
    width: int = field(init=False)

    def __post_init__(self) -> None:
        self.width = self.natural

    @property
    def natural(self) -> int:
        return max([cell_len(self.name), *(cell_len(c) for c in self.cells)])

    @property
    def floor(self) -> int:
        return min(self.natural, max(cell_len(self.name), _FLEX_FLOOR))


LONG_TEXT = 40
"""Cells wider than this make a column long text, which goes under the row early."""


def rank_by_content(columns: list[Column]) -> None:
    """Rank the columns of a table no caller chose them for (an ad-hoc query's) from their
    cells, so a narrow row keeps what tells its rows apart. Columns leave it in this order:
    those more than half empty, then long text, then the rest from the right (the query's
    order is the user's). Any column but the first may leave: ids, long text and the
    caller's detail columns go under the row (ids whole), so a mostly empty id shows in the
    rows that have one and no space is kept for it in the others; the rest is left out."""
    rows = len(columns[0].cells) if columns else 0

    def order(column: Column) -> int:
        if 2 * sum(1 for cell in column.cells if cell) < rows:
            return 0
        return 1 if column.natural > LONG_TEXT else 2

    leaving = sorted(range(1, len(columns)), key=lambda i: (order(columns[i]), -i))
    for rank, index in enumerate(leaving, start=1):
        column = columns[index]
        column.fixed, column.rank = False, rank
        column.detail = not column.numeric and (
            column.detail or column.whole or column.natural > LONG_TEXT
        )


@dataclass
class Layout:
    shown: list[Column]
    details: list[Column]
    dropped: list[Column]

    @property
    def width(self) -> int:
        return sum(c.width for c in self.shown) + len(GAP) * max(len(self.shown) - 1, 0)


def lay_out(columns: list[Column], width: int) -> Layout:
    """Choose widths, detail lines and left-out columns so rows fit ``width``."""
    layout = Layout(list(columns), [], [])
    while True:
        for column in layout.shown:
            column.width = column.natural
        if layout.width <= width:
            return layout
        movable = [c for c in layout.shown[1:] if not c.fixed]
        lowest = min((c.rank for c in movable), default=0)
        candidates = [c for c in movable if c.rank == lowest]
        # Long free text that may go under the row goes there whole rather than cut short.
        text = [c for c in candidates if c.flexible and c.detail]
        if not text:
            _shrink(layout, width)
            if layout.width <= width or not movable:
                return layout
        # Free text goes first, from the right; then other columns, from the right.
        victim = max(text or candidates, key=lambda c: (c.flexible, layout.shown.index(c)))
        layout.shown.remove(victim)
        (layout.details if victim.detail else layout.dropped).append(victim)
        layout.details.sort(key=columns.index)


def _shrink(layout: Layout, width: int) -> None:
    excess = layout.width - width
    flexible = [c for c in layout.shown if c.flexible and not c.fixed]
    while excess > 0:
        widest = max(flexible, key=lambda c: c.width - c.floor, default=None)
        if widest is None or widest.width <= widest.floor:
            return
        widest.width -= 1
        excess -= 1


def fit(text: str, width: int, *, tail: bool = False) -> str:
    """``text`` cut to ``width`` cells, ending (or with ``tail``, starting) in ``…`` when cut."""
    if cell_len(text) <= width:
        return text
    if tail:
        return "…" + set_cell_size(text[::-1], max(width - 1, 0))[::-1]
    return set_cell_size(text, max(width - 1, 0)) + "…"


def write_table(
    columns: list[Column],
    out: TextIO,
    *,
    width: int,
    title: str | None = None,
    notes: Sequence[str] = (),
) -> None:
    """Write the table, its detail lines and its notes, each line at most ``width`` cells
    (unless ids alone are wider)."""
    layout = lay_out(columns, width)
    lines: list[str] = []
    if title:
        lines.extend(_wrap(title, width))
    lines.append(_row([c.name for c in layout.shown], layout.shown))
    lines.append(GAP.join("─" * c.width for c in layout.shown))
    rows = len(columns[0].cells) if columns else 0
    for index in range(rows):
        lines.append(_row([c.cells[index] for c in layout.shown], layout.shown))
        parts = [(f"{c.name}: {c.cells[index]}", c.whole) for c in layout.details if c.cells[index]]
        lines.extend(
            DETAIL_INDENT + line for line in _detail_lines(parts, width - len(DETAIL_INDENT))
        )
    if layout.dropped:
        names = ", ".join(c.name for c in layout.dropped)
        notes = [f"not shown at this width: {names} (--format csv shows every column)", *notes]
    for note in notes:
        lines.extend(_wrap(note, width))
    out.write("\n".join(line.rstrip() for line in lines) + "\n")


def _detail_lines(parts: list[tuple[str, bool]], room: int) -> list[str]:
    """A row's ``name: value`` parts (and whether each must stay whole) as lines of ``room``
    cells. A part that does not fit on the line starts the next one; only a part longer than
    a whole line is cut with ``…``, at the line's end (of the current line if its name and
    ``_FLEX_FLOOR`` cells of its value fit there, else of a line of its own), unless it must
    stay whole: then the line is longer than ``room``."""
    lines: list[list[tuple[str, bool]]] = []
    for text, whole in parts:
        if lines:
            line = lines[-1]
            left = room - cell_len(GAP.join(t for t, _ in line)) - len(GAP)
            size = cell_len(text)
            long_id = len(line) == 1 and line[0][1] and left < -len(GAP)
            name = cell_len(text.split(": ", 1)[0]) + 2
            cut_here = left >= name + _FLEX_FLOOR and not (whole or size <= room or long_id)
            if size <= left or cut_here:
                line.append((text, whole))
                continue
        lines.append([(text, whole)])
    return [
        line[0][0] if len(line) == 1 and line[0][1] else fit(GAP.join(t for t, _ in line), room)
        for line in lines
    ]


def _wrap(text: str, width: int) -> list[str]:
    """Lines of at most ``width`` cells, broken at spaces only: never inside an id."""
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False) or [text]


def _row(cells: list[str], columns: list[Column]) -> str:
    parts = []
    for text, column in zip(cells, columns, strict=True):
        shown = (
            text if column.fixed or column.whole else fit(text, column.width, tail=column.keep_tail)
        )
        pad = " " * max(column.width - cell_len(shown), 0)
        parts.append(pad + shown if column.numeric else shown + pad)
    return GAP.join(parts)
