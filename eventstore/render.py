"""Renders query results (``pyarrow.Table``) for a terminal (rich), or as CSV or JSON.

Tables are for reading: long text (payloads) is shortened and numbers get sensible precision.
CSV and JSON are for programs: every value is written in full.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal, TextIO

import orjson
import pyarrow as pa
from rich.console import Console
from rich.table import Table

Format = Literal["table", "csv", "json"]
FORMATS: tuple[Format, ...] = ("table", "csv", "json")

_MAX_CELL = 60
_MIN_WIDTH = 160  # when not a terminal: wide enough that ids are never wrapped


def console(file: TextIO | None = None) -> Console:
    """A console on ``file`` (stdout by default) that never wraps ids mid-way when piped."""
    out = Console(file=file or sys.stdout, highlight=False, soft_wrap=False)
    if not out.is_terminal:
        out.width = max(out.width, _MIN_WIDTH)
    return out


def render(
    table: pa.Table,
    fmt: Format = "table",
    *,
    title: str | None = None,
    file: TextIO | None = None,
    empty: str = "(no rows)",
) -> None:
    """Write ``table`` to ``file`` (stdout) as a rich table, CSV or a JSON array of objects."""
    out = file or sys.stdout
    if fmt == "csv":
        write_csv(table, out)
    elif fmt == "json":
        out.write(to_json(table) + "\n")
    else:
        print_table(table, title=title, empty=empty, file=out)


def render_sections(
    sections: Sequence[tuple[str, pa.Table]], fmt: Format = "table", *, file: TextIO | None = None
) -> None:
    """Several titled tables: one JSON object keyed by title, CSV blocks each after a
    ``# title`` line, or rich tables one after another."""
    out = file or sys.stdout
    if fmt == "json":
        body = {title: table.to_pylist() for title, table in sections}
        out.write(orjson.dumps(body, default=_json_default, option=_JSON_OPTIONS).decode() + "\n")
        return
    for index, (title, table) in enumerate(sections):
        if fmt == "csv":
            if index:
                out.write("\n")
            out.write(f"# {title}\n")
            write_csv(table, out)
        else:
            print_table(table, title=title, file=out)


def print_table(
    table: pa.Table,
    *,
    title: str | None = None,
    empty: str = "(no rows)",
    file: TextIO | None = None,
) -> None:
    out = console(file)
    if table.num_rows == 0:
        out.print(f"{title}: {empty}" if title else empty)
        return
    view = Table(title=title, title_justify="left", show_lines=False)
    numeric = [_is_numeric(field.type) for field in table.schema]
    for field, right in zip(table.schema, numeric, strict=True):
        view.add_column(field.name, justify="right" if right else "left", overflow="fold")
    for row in table.to_pylist():
        view.add_row(*(_cell(value) for value in row.values()))
    out.print(view)


def write_csv(table: pa.Table, out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.column_names)
    for row in table.to_pylist():
        writer.writerow(["" if v is None else _plain(v) for v in row.values()])


def to_json(table: pa.Table) -> str:
    return orjson.dumps(table.to_pylist(), default=_json_default, option=_JSON_OPTIONS).decode()


_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _is_numeric(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
    )


def _plain(value: Any) -> str:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1e6 else f"{value:.4g}"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="milliseconds" if value.microsecond else "seconds")
    text = _plain(value)
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"


def as_fields(table: pa.Table) -> pa.Table:
    """A one-row table as ``field | value`` rows: how a wide summary reads best in a terminal."""
    rows = table.to_pylist()
    if len(rows) != 1:
        return table
    return pa.table(
        {
            "field": list(rows[0].keys()),
            "value": ["" if v is None else _cell(v) for v in rows[0].values()],
        }
    )
