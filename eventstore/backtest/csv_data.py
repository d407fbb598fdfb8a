"""Reading OHLCV bars from CSV files, refusing anything a backtest would silently get wrong.

A file needs a date/time column (``date``, ``datetime``, ``time`` or ``timestamp``, or
``date`` and ``time`` apart) and ``open``, ``high``, ``low``, ``close``, ``volume`` columns, in
any header case and order; other columns are ignored. Columns are separated by commas, or by
semicolons, tabs or pipes when the header holds no comma. Every problem is a ``DataError``
naming the file, the line and the fix.
"""

from __future__ import annotations

import csv
import math
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from eventstore.backtest.market_data import SymbolBars
from eventstore.errors import DataError

TIME_COLUMNS = ("datetime", "timestamp", "date", "time")
PRICE_COLUMNS = ("open", "high", "low", "close")
_FORMATS = ("%m/%d/%Y", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%Y%m%d")


def load_csv(path: str | os.PathLike[str], symbol: str, limit: int | None = None) -> SymbolBars:
    """The first ``limit`` bars (all if None) of the OHLCV file at ``path``."""
    file = Path(path)
    bars = SymbolBars(symbol)
    try:
        handle = file.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise DataError(f"{file}: cannot read ({exc.strerror}): check the path") from None
    with handle:
        reader = csv.reader(handle, delimiter=_delimiter(file, handle))
        try:
            header = next(reader, None)
            if header is None:
                raise DataError(f"{file}, line 1: the file is empty: add a header and OHLCV rows")
            time_col, columns = _columns(file, header)
            for row in reader:
                line = reader.line_num
                if not row or all(not cell.strip() for cell in row):
                    continue
                if limit is not None and len(bars) >= limit:
                    break
                _append(bars, file, line, row, time_col, columns)
        except UnicodeDecodeError as exc:
            byte = exc.object[exc.start]
            raise DataError(
                f"{file}, line {reader.line_num + 1}: not UTF-8 text (byte {byte:#x}): "
                "save the file as UTF-8"
            ) from None
        except csv.Error as exc:
            raise DataError(f"{file}, line {reader.line_num}: {exc}: fix the row") from None
    if not len(bars):
        raise DataError(f"{file}: no bars after the header: add OHLCV rows")
    return bars


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


TimeColumns = tuple[int, int | None]
"""The date/time column, and a separate time-of-day column if the date has its own."""


def _columns(file: Path, header: list[str]) -> tuple[TimeColumns, list[int]]:
    names = [cell.strip().lower() for cell in header]
    time_col: TimeColumns | None = None
    if "date" in names and "time" in names and not {"datetime", "timestamp"} & set(names):
        time_col = (names.index("date"), names.index("time"))  # Date and Time apart
    else:
        found = next((names.index(c) for c in TIME_COLUMNS if c in names), None)
        time_col = None if found is None else (found, None)
    if time_col is None:
        raise DataError(
            f"{file}, line 1: no date/time column (header: {', '.join(header)}): name one of "
            f"{', '.join(TIME_COLUMNS)}{_delimiter_hint(header)}"
        )
    missing = [c for c in (*PRICE_COLUMNS, "volume") if c not in names]
    if missing:
        raise DataError(
            f"{file}, line 1: missing column {', '.join(missing)} (header: {', '.join(header)}): "
            f"an OHLCV file needs open, high, low, close and volume{_delimiter_hint(header)}"
        )
    return time_col, [names.index(c) for c in (*PRICE_COLUMNS, "volume")]


def _delimiter_hint(header: list[str]) -> str:
    if len(header) != 1:
        return ""
    found = [_DELIMITER_NAMES[d] for d in _DELIMITERS if d in header[0]]
    if not found:
        return ""
    return f" (the header is one field: are the columns separated by {' or '.join(found)}?)"


def _append(
    bars: SymbolBars,
    file: Path,
    line: int,
    row: list[str],
    time_col: TimeColumns,
    columns: list[int],
) -> None:
    where = f"{file}, line {line}"
    date_col, clock_col = time_col
    width = max(date_col, clock_col or 0, *columns) + 1
    if len(row) < width:
        raise DataError(f"{where}: {len(row)} fields, the header needs {width}: fix the row")
    text = row[date_col].strip()
    if clock_col is not None:
        text = f"{text} {row[clock_col].strip()}"
    when = _parse_time(text, where)
    values: list[float] = []
    for name, index in zip((*PRICE_COLUMNS, "volume"), columns, strict=True):
        cell = row[index].strip()
        try:
            value = float(cell)
        except ValueError:
            comma = ": use a decimal point" if "," in cell else ""
            raise DataError(
                f"{where}: {name} {cell!r} is not a number{comma or ': fix the value'}"
            ) from None
        if math.isnan(value) or math.isinf(value):
            raise DataError(f"{where}: {name} is {cell!r}: fill the gap or drop the row")
        values.append(value)
    open_, high, low, close, volume = values
    if min(open_, high, low, close) <= 0:
        raise DataError(f"{where}: prices must be positive (open {open_}, low {low}): fix the row")
    if high < max(open_, close) or low > min(open_, close):
        raise DataError(
            f"{where}: high {high} / low {low} do not contain open {open_} and close {close}: "
            "fix the row"
        )
    if volume < 0:
        raise DataError(f"{where}: volume {volume} is negative: fix the row")
    if bars.times and when <= bars.times[-1]:
        raise DataError(
            f"{where}: time {when} is not after the previous row's {bars.times[-1]}: sort the "
            "file by time and remove duplicates"
        )
    bars.times.append(when)
    bars.opens.append(open_)
    bars.highs.append(high)
    bars.lows.append(low)
    bars.closes.append(close)
    bars.volumes.append(volume)


def _parse_time(text: str, where: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        for fmt in _FORMATS:
            try:
                return datetime.strptime(text, fmt)
            except ValueError:
                continue
        raise DataError(
            f"{where}: cannot read {text!r} as a date/time: use ISO 8601 (2024-01-02 or "
            "2024-01-02 09:30:00)"
        ) from None
    # Events store naive UTC times: convert an aware time rather than drop its offset.
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed
