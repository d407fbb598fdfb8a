"""Renders query results (``pyarrow.Table``) for a terminal, or as CSV or JSON.

Tables are for reading: they fit the terminal's width (see ``eventstore.text_table``), show at
most ``limit`` rows with a note on the rest, shorten long text and give numbers a sensible
precision, with thousands separators (``159,068``). CSV and JSON are for programs: every row
and column, every value in full, numbers plain; JSON holds payloads and configs as objects,
counts as integers, and every value DuckDB can return (intervals, nanosecond and infinite
timestamps) as something JSON can carry.
"""

from __future__ import annotations

import csv
import math
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TextIO

import pyarrow as pa

from eventstore.text_table import (
    DEFAULT_LIMIT,
    Column,
    Format,
    rank_by_content,
    terminal_width,
    write_table,
)
from eventstore.values import dumps, parsed, plain, python_values, snap

_MAX_CELL = 200
_JSON_TEXT_COLUMNS = {"payload", "config", "sampling"}
"""Columns holding JSON text: JSON output nests them as objects, not strings in strings."""
_DETAIL_COLUMNS = {"payload", "source", "error", "sim_time", "name"}
_TAIL_COLUMNS = {"handler", "source", "key"}
"""Dotted names whose end says most (``…crossover.on_bar``, a configuration key's
``…moving_average_crossover.fast``): shortened from the left."""
_ID_SUFFIX = "_id"
_MEASURED = (b"eventstore.cells", b"significant")
"""Field metadata marking a float column as measurements (see ``as_measurements``)."""


def render(
    table: pa.Table,
    fmt: Format = "table",
    *,
    title: str | None = None,
    file: TextIO | None = None,
    empty: str = "(no rows)",
    limit: int = DEFAULT_LIMIT,
    keys: Sequence[str] = (),
    leave_last: Sequence[str] = (),
    width: int | None = None,
) -> None:
    """Write ``table`` to ``file`` (stdout) as a table, CSV or a JSON array of objects.

    ``limit`` (table only; 0: all) bounds the rows shown; ``keys`` are columns a narrow
    terminal must keep in every row; ``leave_last`` are columns that stay in a narrow row
    longest, in the order they leave it (the last named leaves last), each then going on the
    line under the row."""
    out = file or sys.stdout
    table = unique_column_names(table)
    if fmt == "csv":
        write_csv(table, out)
    elif fmt == "json":
        out.write(to_json(table) + "\n")
    else:
        print_table(
            table,
            title=title,
            empty=empty,
            file=out,
            limit=limit,
            keys=keys,
            leave_last=leave_last,
            width=width,
        )


def render_stream(
    batches: Iterable[pa.RecordBatch],
    fmt: Format = "table",
    *,
    file: TextIO | None = None,
    empty: str = "(no rows)",
    limit: int = DEFAULT_LIMIT,
    width: int | None = None,
    separators: bool = True,
    by_content: bool = False,
) -> None:
    """``render`` for a result read a batch at a time (``queries.stream_sql``; the first batch
    names the columns), holding one batch in memory: CSV and JSON are written as the batches
    come, and a table keeps only the rows it shows (all of them with ``limit`` 0) and counts
    the rest (``separators`` and ``by_content`` as ``print_table`` takes them)."""
    out = file or sys.stdout
    chunks = iter(batches)
    first = pa.Table.from_batches([next(chunks)])
    names = unique_column_names(first).column_names
    tables = _renamed(first, chunks, names)
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(names)
        for table in tables:
            _write_csv_rows(writer, table)
    elif fmt == "json":
        out.write("[")
        separator = ""
        for table in tables:
            rows = json_rows(table)
            if rows:
                out.write(separator + ",".join(dumps(row) for row in rows))
                separator = ","
        out.write("]\n")
    else:
        shown: list[pa.Table] = []
        total = 0
        for table in tables:
            room = table.num_rows if limit == 0 else max(limit - total, 0)
            if room or not shown:
                shown.append(table.slice(0, room))
            total += table.num_rows
        head = pa.concat_tables(shown)
        print_table(
            head,
            empty=empty,
            file=out,
            limit=limit,
            width=width,
            total=total,
            separators=separators,
            by_content=by_content,
        )


def _renamed(
    first: pa.Table, rest: Iterator[pa.RecordBatch], names: list[str]
) -> Iterator[pa.Table]:
    yield first.rename_columns(names)
    for batch in rest:
        yield pa.Table.from_batches([batch]).rename_columns(names)


def unique_column_names(table: pa.Table) -> pa.Table:
    """``table`` with a repeated column name numbered (``count``, ``count_2``): SQL allows
    two columns of one name (``SELECT count(a), count(b)`` on PostgreSQL), a table to print or
    a JSON object does not."""
    names: list[str] = []
    for name in table.column_names:
        unique, n = name, 1
        while unique in names:
            n += 1
            unique = f"{name}_{n}"
        names.append(unique)
    return table if names == table.column_names else table.rename_columns(names)


def render_sections(
    sections: Sequence[tuple[str, pa.Table]],
    fmt: Format = "table",
    *,
    file: TextIO | None = None,
    limit: int = DEFAULT_LIMIT,
    width: int | None = None,
    keys: Sequence[str] = (),
    leave_last: Sequence[str] = (),
    totals: Mapping[str, int] | None = None,
) -> None:
    """Several titled tables: one JSON object keyed by title, CSV blocks each after a
    ``# title`` line, or tables one after another (``keys``, ``leave_last`` as for
    ``render``; ``totals``: the rows of a titled table's whole result, when it holds only
    its first ones, as ``print_table`` takes them)."""
    out = file or sys.stdout
    if fmt == "json":
        body = {title: json_rows(table) for title, table in sections}
        out.write(dumps(body) + "\n")
        return
    for index, (title, table) in enumerate(sections):
        if index:
            out.write("\n")
        if fmt == "csv":
            out.write(f"# {title}\n")
            write_csv(table, out)
        else:
            print_table(
                table,
                title=title,
                file=out,
                limit=limit,
                width=width,
                keys=keys,
                leave_last=leave_last,
                total=(totals or {}).get(title),
            )


def print_table(
    table: pa.Table,
    *,
    title: str | None = None,
    empty: str = "(no rows)",
    file: TextIO | None = None,
    limit: int = DEFAULT_LIMIT,
    keys: Sequence[str] = (),
    leave_last: Sequence[str] = (),
    width: int | None = None,
    total: int | None = None,
    separators: bool = True,
    by_content: bool = False,
) -> None:
    """``table`` as aligned text fitting ``width`` (the terminal's by default). ``total``:
    the rows of the whole result, when ``table`` holds only its first ones. ``separators``:
    whole numbers other than ids and keys get thousands separators. ``by_content``: the
    columns are an ad-hoc query's, which leave a narrow row as ``rank_by_content`` orders
    them."""
    out = file or sys.stdout
    if table.num_rows == 0:
        out.write((f"{title}: {empty}" if title else empty) + "\n")
        return
    shown = table.slice(0, limit) if 0 < limit < table.num_rows else table
    total = table.num_rows if total is None else total
    ranks = {name: rank for rank, name in enumerate(leave_last, start=1)}
    columns = [
        _column(
            field,
            shown.column(field.name),
            field.name in keys,
            ranks.get(field.name, 0),
            separators,
        )
        for field in shown.schema
    ]
    if by_content:
        rank_by_content(columns)
    notes = []
    if shown.num_rows < total:
        left = total - shown.num_rows
        notes.append(
            f"… {left:,} more row{'s' if left > 1 else ''} not shown ({total:,} in all):"
            " --limit 0 shows every row, --format csv writes them all"
        )
    write_table(columns, out, width=width or terminal_width(), title=title, notes=notes)


def _column(
    field: pa.Field, values: pa.ChunkedArray, key: bool, rank: int, separators: bool
) -> Column:
    """A column for the text table: ids whole, and kept in the row unless ranked (a ranked
    column leaves late and goes under the row); whole numbers other than ids with thousands
    separators if ``separators``."""
    name, kind = field.name, values.type
    numeric = _is_numeric(kind)
    text = pa.types.is_string(kind) or pa.types.is_large_string(kind)
    identifier = key or name.endswith(_ID_SUFFIX) or name == "seq"
    if pa.types.is_floating(kind):
        measured = (field.metadata or {}).get(_MEASURED[0]) == _MEASURED[1]
        cells = _float_cells(
            values.to_pylist(), significant=measured, separators=separators and not identifier
        )
    elif numeric and separators and not identifier:
        cells = [_field_value(v) for v in python_values(values)]
    else:
        cells = [_cell(v) for v in python_values(values)]
    return Column(
        name,
        cells,
        numeric=numeric,
        fixed=key or (identifier and not rank),
        whole=identifier,
        flexible=text and not identifier,
        detail=bool(rank) or name in _DETAIL_COLUMNS or name.endswith("_payload"),
        keep_tail=name in _TAIL_COLUMNS,
        rank=rank,
    )


def as_measurements(table: pa.Table, names: Iterable[str]) -> pa.Table:
    """``table`` with the float columns ``names`` marked as measurements (durations): a text
    table shows them to three significant digits (``0.180``, ``4.69``, ``45.5``, ``9,307``)
    rather than three decimals, so sub-microsecond and millisecond values side by side both
    read at a glance and the column stays narrow. CSV and JSON are unchanged."""
    chosen = set(names)
    fields = [f.with_metadata(dict([_MEASURED])) if f.name in chosen else f for f in table.schema]
    return pa.Table.from_arrays(table.columns, schema=pa.schema(fields))


def _float_cells(
    values: list[float | None], *, significant: bool = False, separators: bool = False
) -> list[str]:
    """Floats for reading: a column of whole numbers (counts) as integers; otherwise three
    decimals (measurements: three significant digits, at most three decimals), except whole
    numbers of 1000 and more (a count among measurements). Never an exponent: ``4e+06``
    hides a count's digits. With ``separators`` the thousands are separated (``12,095``), in
    counts and measurements alike. Every choice is made on the ``snapped`` value."""
    snapped = [None if v is None else snap(v) for v in values]
    whole = all(v.is_integer() for v in snapped if v is not None and math.isfinite(v))
    group = "," if separators else ""
    cells = []
    for value in snapped:
        if value is None:
            cells.append("")
        elif not math.isfinite(value):
            cells.append(str(value))
        elif value.is_integer() and (whole or significant or abs(value) >= 1000):
            cells.append(f"{value:{group}.0f}")
        elif significant:
            decimals = min(max(2 - math.floor(math.log10(abs(value))), 0), 3)
            cells.append(f"{value:{group}.{decimals}f}")
        else:
            cells.append(f"{value:{group}.3f}")
    return cells


def write_csv(table: pa.Table, out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.column_names)
    _write_csv_rows(writer, table)


def _write_csv_rows(writer: Any, table: pa.Table) -> None:
    columns = [python_values(table.column(i)) for i in range(table.num_columns)]
    for row in zip(*columns, strict=True):
        writer.writerow(["" if v is None else plain(v) for v in row])


def to_json(table: pa.Table) -> str:
    return dumps(json_rows(table))


def json_rows(table: pa.Table) -> list[dict[str, Any]]:
    """The rows as JSON-ready dicts: JSON text columns as JSON, integral floats as ints."""
    names = table.column_names
    columns = []
    for name in names:
        values = python_values(table.column(name))
        if name in _JSON_TEXT_COLUMNS or name.endswith("_payload"):
            values = [parsed(v) for v in values]
        columns.append(values)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def _is_numeric(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
    )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{snap(value):.3f}" if math.isfinite(value) else str(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="milliseconds" if value.microsecond else "seconds")
    text = " ".join(plain(value).split())
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"


def as_fields(table: pa.Table) -> pa.Table:
    """A one-row table as ``field | value`` rows: how a wide summary reads best in a terminal.
    Counts get thousands separators (``159,068`` events), as the run's trading summary
    shows them: in a column of mixed text the digits of a count are not aligned to read."""
    if table.num_rows != 1:
        return table
    return pa.table(
        {
            "field": table.column_names,
            "value": [_field_value(python_values(column)[0]) for column in table.columns],
        }
    )


def _field_value(value: Any) -> str:
    """A value as ``_cell`` shows it, a whole number (an int, or a decimal such as a SQL
    ``sum``) with thousands separators."""
    whole = isinstance(value, Decimal) and value.is_finite() and value == value.to_integral()
    if (isinstance(value, int) and not isinstance(value, bool)) or whole:
        return f"{value:,}"
    return _cell(value)
