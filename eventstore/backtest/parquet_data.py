"""Reading OHLCV bars from Parquet files, one record batch at a time.

Columns are found as in CSV files (any case, extra columns ignored); the time column may be
a timestamp (a time zone is converted to UTC), a date, integer epoch seconds, milliseconds,
microseconds or nanoseconds (told apart by their digits, see ``bar_checks``), or text. A pandas
index written without a name (``__index_level_0__``) counts as the time column. Rows whose
prices are all null are skipped. Problems are ``DataError``s naming the file, the row (1 is the
first row of data) and the fix.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from itertools import chain, islice
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from eventstore.backtest.bar_checks import (
    FIELDS,
    BarChecks,
    check_finite,
    epoch_time,
    naive_utc,
    parse_time,
)
from eventstore.backtest.market_data import FIRST_ROWS, Row
from eventstore.errors import DataError

TIME_COLUMNS = ("datetime", "timestamp", "date", "time", "__index_level_0__")
BATCH_ROWS = 16_384


def parquet_rows(path: str | os.PathLike[str]) -> int:
    """Rows in the file, from its footer (nothing else is read)."""
    rows: int = _open(Path(path)).metadata.num_rows
    return rows


def read_parquet(
    path: str | os.PathLike[str], symbol: str, limit: int | None = None
) -> Iterator[Row]:
    """The first ``limit`` bars (all if None) of the file, read batch by batch as they are
    consumed; the first ``FIRST_ROWS`` rows are read and checked now, as for a CSV file."""
    file = Path(path)
    parquet = _open(file)
    time_name, columns = _columns(file, parquet.schema_arrow)
    rows = _rows(file, parquet, symbol, limit, time_name, columns)
    first = list(islice(rows, FIRST_ROWS))
    if not first:
        raise DataError(f"{file}: no bars in the file: add OHLCV rows")
    return chain(first, rows)


def _open(file: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(file)
    except OSError as exc:
        raise DataError(f"{file}: cannot read ({exc}): check the path") from None
    except pa.ArrowException as exc:
        raise DataError(f"{file}: not a readable Parquet file ({exc}): check the file") from None


def _columns(file: Path, schema: pa.Schema) -> tuple[str, list[str]]:
    by_name = {name.strip().lower(): name for name in schema.names}
    time_name = next((by_name[c] for c in TIME_COLUMNS if c in by_name), None)
    if time_name is None:
        raise DataError(
            f"{file}: no date/time column (columns: {', '.join(schema.names)}): name one of "
            f"{', '.join(TIME_COLUMNS[:-1])}"
        )
    missing = [c for c in FIELDS if c not in by_name]
    if missing:
        raise DataError(
            f"{file}: missing column {', '.join(missing)} (columns: {', '.join(schema.names)}): "
            "an OHLCV file needs open, high, low, close and volume"
        )
    return time_name, [by_name[c] for c in FIELDS]


def _rows(
    file: Path,
    parquet: pq.ParquetFile,
    symbol: str,
    limit: int | None,
    time_name: str,
    columns: list[str],
) -> Iterator[Row]:
    checks, number, count = BarChecks(), 0, 0
    try:
        batches = parquet.iter_batches(batch_size=BATCH_ROWS, columns=[time_name, *columns])
        for batch in batches:
            times = _times(file, batch.column(0))
            values = [_floats(batch.column(i + 1)) for i in range(len(FIELDS))]
            for when, *bar in zip(times, *values, strict=True):
                number += 1
                if limit is not None and count >= limit:
                    return
                where = f"{file}, row {number}"
                if all(value is None for value in bar):
                    continue
                open_, high, low, close, volume = map(check_finite, (where,) * 5, FIELDS, bar)
                if when is None:
                    raise DataError(f"{where}: the time is missing: fill it or drop the row")
                if isinstance(when, str):
                    when = parse_time(when, where)
                elif isinstance(when, int):
                    when = epoch_time(when, where)
                checks.check(where, when, open_, high, low, close, volume)
                count += 1
                yield (when, symbol, open_, high, low, close, volume)
    except pa.ArrowException as exc:
        raise DataError(f"{file}, row {number + 1}: cannot read ({exc}): check the file") from None


def _floats(column: pa.Array) -> list[float | None]:
    if not pa.types.is_floating(column.type):
        column = column.cast(pa.float64())
    result: list[float | None] = column.to_pylist()
    return result


def _times(file: Path, column: pa.Array) -> list[datetime | str | int | None]:
    """The batch's times: timestamps and dates as naive UTC datetimes; text and integers as
    they are, read row by row later so that an error names its row."""
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text: list[str | None] = column.to_pylist()
        return [None if t is None else t.strip() for t in text]
    if pa.types.is_integer(kind):
        epochs: list[int | None] = column.to_pylist()
        return list(epochs)
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        column = column.cast(pa.timestamp("us"), safe=False)  # UTC wall time; ns truncated
    else:
        raise DataError(
            f"{file}: the time column is of type {kind}: store times as timestamps, dates, "
            "integer epoch timestamps or ISO 8601 text"
        )
    times: list[datetime | None] = column.to_pylist()
    return [None if t is None else naive_utc(t) for t in times]
