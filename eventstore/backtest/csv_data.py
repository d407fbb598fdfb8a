"""Reading OHLCV bars from CSV files, line by line, refusing anything a backtest would silently
get wrong.

A file needs a date/time column (``date``, ``datetime``, ``time`` or ``timestamp``, or ``date``
and ``time`` apart, or a pandas index: an unnamed first column) and ``open``, ``high``, ``low``,
``close``, ``volume`` columns, in any header case and order; other columns (``Adj Close``) are
ignored. Columns are separated by commas, or by semicolons, tabs or pipes when the header holds
no comma; a UTF-8 byte order mark is skipped. A row whose prices are all empty or ``null`` (how
Yahoo marks a day without trading) is skipped. Times are read as ``bar_checks`` says. Every
problem is a ``DataError`` naming the file, the line and the fix.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from itertools import chain, islice
from pathlib import Path
from typing import TextIO

from eventstore.backtest.bar_checks import FIELDS, BarChecks, parse_time
from eventstore.backtest.market_data import FIRST_ROWS, Row, SymbolBars
from eventstore.errors import DataError

TIME_COLUMNS = ("datetime", "timestamp", "date", "time")
INDEX_NAMES = ("", "unnamed: 0", "index")
"""First-column headers pandas writes for an index (``DataFrame.to_csv``)."""
_GAP = {"", "null", "nan", "na", "n/a"}


def load_csv(path: str | os.PathLike[str], symbol: str, limit: int | None = None) -> SymbolBars:
    """The first ``limit`` bars (all if None) of the OHLCV file at ``path``, in memory."""
    bars = SymbolBars(symbol)
    for when, _, open_, high, low, close, volume in read_csv(path, symbol, limit):
        bars.times.append(when)
        bars.opens.append(open_)
        bars.highs.append(high)
        bars.lows.append(low)
        bars.closes.append(close)
        bars.volumes.append(volume)
    return bars


def read_csv(path: str | os.PathLike[str], symbol: str, limit: int | None = None) -> Iterator[Row]:
    """The first ``limit`` bars (all if None) of the file, read as they are consumed.

    The header and the first ``FIRST_ROWS`` rows are read and checked now; a problem further
    down is raised when the reader gets there.
    """
    file = Path(path)
    try:
        handle = file.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise DataError(f"{file}: cannot read ({exc.strerror}): check the path") from None
    try:
        rows = _rows(file, handle, symbol, limit)
        first = list(islice(rows, FIRST_ROWS))
    except BaseException:
        handle.close()
        raise
    if not first:
        handle.close()
        raise DataError(f"{file}: no bars after the header: add OHLCV rows")
    return chain(first, rows)


def _rows(file: Path, handle: TextIO, symbol: str, limit: int | None) -> Iterator[Row]:
    with handle:
        reader = csv.reader(handle, delimiter=_delimiter(file, handle))
        try:
            header = next(reader, None)
            if header is None:
                raise DataError(f"{file}, line 1: the file is empty: add a header and OHLCV rows")
            date_col, clock_col, columns = _columns(file, header)
            width = max(date_col, clock_col or 0, *columns) + 1
            checks, count = BarChecks(), 0
            for row in reader:
                if limit is not None and count >= limit:
                    return
                if not row or all(not cell.strip() for cell in row):
                    continue
                where = f"{file}, line {reader.line_num}"
                if len(row) < width:
                    raise DataError(
                        f"{where}: {len(row)} fields, the header needs {width}: fix the row"
                    )
                cells = [row[i].strip() for i in columns]
                if all(cell.lower() in _GAP for cell in cells):
                    continue
                text = row[date_col].strip()
                if clock_col is not None:
                    text = f"{text} {row[clock_col].strip()}"
                when = parse_time(text, where)
                open_, high, low, close, volume = map(_number, FIELDS, cells, (where,) * 5)
                checks.check(where, when, open_, high, low, close, volume)
                count += 1
                yield (when, symbol, open_, high, low, close, volume)
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{file}, line {reader.line_num + 1}: not UTF-8 text "
                f"(byte {exc.object[exc.start]:#x}): save the file as UTF-8"
            ) from None
        except csv.Error as exc:
            raise DataError(f"{file}, line {reader.line_num}: {exc}: fix the row") from None


def _number(name: str, cell: str, where: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        fix = ": fix the value"
        if cell.count(",") == 1 and _is_float(cell.replace(",", ".")):
            fix = ": use a decimal point"  # 100,23: a decimal comma
        elif "," in cell and _is_float(cell.replace(",", "")):
            fix = ": remove the thousands separators"  # 2,845,529
        raise DataError(f"{where}: {name} {cell!r} is not a number{fix}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise DataError(f"{where}: {name} is {cell!r}: fill the gap or drop the row")
    return value


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


_DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def _delimiter(file: Path, handle: TextIO) -> str:
    """The header line's separator: commas unless it holds none and another separator
    (semicolons and tabs are common in spreadsheet exports)."""
    start = handle.tell()
    try:
        first = handle.readline()
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{file}, line 1: not UTF-8 text (byte {exc.object[exc.start]:#x}): save the file "
            "as UTF-8"
        ) from None
    handle.seek(start)
    if "," in first:
        return ","
    counts = {d: first.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _columns(file: Path, header: list[str]) -> tuple[int, int | None, list[int]]:
    """The date (or date/time) column, a separate time-of-day column or None, and the OHLCV
    columns."""
    names = [cell.strip().lower() for cell in header]
    date_col: int | None = None
    clock_col: int | None = None
    if "date" in names and "time" in names and not {"datetime", "timestamp"} & set(names):
        date_col, clock_col = names.index("date"), names.index("time")  # Date and Time apart
    else:
        date_col = next((names.index(c) for c in TIME_COLUMNS if c in names), None)
        if date_col is None and len(names) > 1 and names[0] in INDEX_NAMES:
            date_col = 0  # a pandas DataFrame written with its DatetimeIndex
    if date_col is None:
        raise DataError(
            f"{file}, line 1: no date/time column (header: {', '.join(header)}): name one of "
            f"{', '.join(TIME_COLUMNS)}{_delimiter_hint(header)}"
        )
    missing = [c for c in FIELDS if c not in names]
    if missing:
        raise DataError(
            f"{file}, line 1: missing column {', '.join(missing)} (header: {', '.join(header)}): "
            f"an OHLCV file needs open, high, low, close and volume{_delimiter_hint(header)}"
        )
    return date_col, clock_col, [names.index(c) for c in FIELDS]


def _delimiter_hint(header: list[str]) -> str:
    if len(header) != 1:
        return ""
    found = [_DELIMITER_NAMES[d] for d in _DELIMITERS if d in header[0]]
    if not found:
        return ""
    return f" (the header is one field: are the columns separated by {' or '.join(found)}?)"
