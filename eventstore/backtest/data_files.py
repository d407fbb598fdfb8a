"""Bars from one file per symbol, CSV or Parquet (told apart by the Parquet magic bytes, not
the file name), merged by time as they are read."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from eventstore.backtest.csv_data import read_csv
from eventstore.backtest.market_data import BarStream, Row, merge_rows
from eventstore.backtest.parquet_data import parquet_rows, read_parquet

PARQUET_MAGIC = b"PAR1"


def is_parquet(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(4) == PARQUET_MAGIC
    except OSError:
        return False  # the CSV reader reports why the file can't be read


def file_stream(files: Mapping[str, Path], limit: int | None = None) -> BarStream:
    """The first ``limit`` bars (all if None) of each symbol's file, merged by time (ties in
    the mapping's order). The total is known only when every file is Parquet."""
    symbols = list(files)
    kinds = {symbol: is_parquet(path) for symbol, path in files.items()}
    total: int | None = None
    if all(kinds.values()):
        counts = (parquet_rows(path) for path in files.values())
        total = sum(count if limit is None else min(count, limit) for count in counts)

    def open_all() -> Iterator[Row]:
        streams = [
            (read_parquet if kinds[symbol] else read_csv)(path, symbol, limit)
            for symbol, path in files.items()
        ]
        return merge_rows(symbols, streams)

    return BarStream(symbols, total, open_all)
