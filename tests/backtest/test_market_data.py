"""Market data: the synthetic generator is realistic and deterministic; the CSV loader reads
any common header and refuses malformed files with file, line and problem."""

from __future__ import annotations

import hashlib
import math
from datetime import datetime
from pathlib import Path

import pytest

from eventstore import DataError
from eventstore.backtest import load_csv, synthetic_bars, synthetic_stream
from eventstore.backtest import synthetic as synthetic_module
from eventstore.backtest.config import SyntheticData

SYMBOLS = SyntheticData(symbols=["AAA", "BBB", "CCC"])


def test_synthetic_bars_are_realistic_ohlcv() -> None:
    data = synthetic_bars(SYMBOLS, 2_000, seed=1)
    assert len(data) == 6_000
    for _, _, open_, high, low, close, volume in data.rows:
        assert high >= max(open_, close)
        assert low <= min(open_, close)
        assert low > 0
        assert volume > 0
    closes = [row[5] for row in data.rows if row[1] == "AAA"]
    assert len(set(closes)) > 200  # it moves (in cents)


def test_synthetic_bars_interleave_symbols_by_time() -> None:
    data = synthetic_bars(SYMBOLS, 5, seed=1)
    assert [row[1] for row in data.rows[:6]] == ["AAA", "BBB", "CCC", "AAA", "BBB", "CCC"]
    times = [row[0] for row in data.rows]
    assert times == sorted(times)


def test_synthetic_bars_are_deterministic_per_seed() -> None:
    assert synthetic_bars(SYMBOLS, 300, seed=5).rows == synthetic_bars(SYMBOLS, 300, seed=5).rows
    assert synthetic_bars(SYMBOLS, 300, seed=5).rows != synthetic_bars(SYMBOLS, 300, seed=6).rows


def test_streamed_bars_are_the_values_bars_always_had() -> None:
    """The digest of 40 000 bars per symbol as generated all at once, before the feed
    streamed: chunked generation must not change one bit (so a seed's runs stay comparable
    with runs recorded by earlier versions)."""
    rows = list(synthetic_stream(SYMBOLS, 40_000, seed=5))
    digest = hashlib.sha256(repr(rows).encode()).hexdigest()
    assert digest == "269877c6800f998f9f1d48154ebe4b56c6932f0badc04e7551ea07eccbbef091"


def test_chunk_and_block_sizes_do_not_change_the_bars(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past one block the draws are laid out per block; how the generator chunks its work
    must still never show in the values."""
    monkeypatch.setattr(synthetic_module, "BLOCK_BARS", 1_000)
    reference = list(synthetic_stream(SYMBOLS, 3_500, seed=8))
    for chunk in (7, 999, 1_000, 4_096):
        monkeypatch.setattr(synthetic_module, "CHUNK_BARS", chunk)
        assert list(synthetic_stream(SYMBOLS, 3_500, seed=8)) == reference
    monkeypatch.setattr(synthetic_module, "BLOCK_BARS", 2**21)
    assert list(synthetic_stream(SYMBOLS, 3_500, seed=8)) != reference
    for _, _, open_, high, low, close, volume in reference:
        assert low <= min(open_, close) <= max(open_, close) <= high and volume > 0


def test_the_stream_knows_its_total_and_starts_over() -> None:
    stream = synthetic_stream(SYMBOLS, 10, seed=1)
    assert stream.total == 30
    assert list(stream) == list(stream) == synthetic_bars(SYMBOLS, 10, seed=1).rows


def test_adding_a_symbol_keeps_the_others_bars() -> None:
    two = synthetic_bars(SyntheticData(symbols=["AAA", "BBB"]), 50, seed=2)
    three = synthetic_bars(SyntheticData(symbols=["AAA", "BBB", "CCC"]), 50, seed=2)
    assert two.rows == [row for row in three.rows if row[1] != "CCC"]


def _csv(tmp_path: Path, text: str, name: str = "bars.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


GOOD = (
    "2024-01-02,100,101,99,100.5,1000\n"
    "2024-01-03,100.5,102,100,101.5,1200\n"
    "2024-01-04,101.5,103,101,102,900\n"
)


@pytest.mark.parametrize(
    "header",
    [
        "date,open,high,low,close,volume",
        "Date,Open,High,Low,Close,Volume",
        "DATE,OPEN,HIGH,LOW,CLOSE,VOLUME",
    ],
)
def test_csv_header_in_any_case(tmp_path: Path, header: str) -> None:
    bars = load_csv(_csv(tmp_path, f"{header}\n{GOOD}"), "SPY")
    assert bars.times == [datetime(2024, 1, 2), datetime(2024, 1, 3), datetime(2024, 1, 4)]
    assert bars.closes == [100.5, 101.5, 102.0]
    assert bars.volumes == [1000.0, 1200.0, 900.0]


def test_csv_columns_in_any_order_with_extras(tmp_path: Path) -> None:
    text = (
        "Volume,Close,Adj Close,Low,High,Open,Timestamp\n"
        "1000,100.5,100.1,99,101,100,2024-01-02 09:30:00\n"
        "1100,100.7,100.3,100.2,101,100.4,2024-01-02 09:31:00\n"
    )
    bars = load_csv(_csv(tmp_path, text), "SPY")
    assert bars.times[1] == datetime(2024, 1, 2, 9, 31)
    assert (bars.opens[0], bars.highs[0], bars.lows[0], bars.closes[0]) == (100, 101, 99, 100.5)


def test_csv_limit_reads_the_first_rows(tmp_path: Path) -> None:
    bars = load_csv(_csv(tmp_path, f"date,open,high,low,close,volume\n{GOOD}"), "SPY", limit=2)
    assert len(bars) == 2


def _csv_error(tmp_path: Path, text: str) -> str:
    path = _csv(tmp_path, text)
    with pytest.raises(DataError) as caught:
        load_csv(path, "SPY")
    message = str(caught.value)
    assert message.startswith(f"{path}, line ") or message.startswith(f"{path}:")
    return message


def test_csv_missing_column(tmp_path: Path) -> None:
    message = _csv_error(tmp_path, "date,open,high,low,close\n2024-01-02,1,2,0.5,1.5\n")
    assert "line 1: missing column volume" in message


def test_csv_without_a_time_column(tmp_path: Path) -> None:
    message = _csv_error(tmp_path, "day,open,high,low,close,volume\nx,1,2,0.5,1.5,3\n")
    assert "line 1: no date/time column" in message


def test_csv_unparsable_number(tmp_path: Path) -> None:
    text = "date,open,high,low,close,volume\n" + GOOD[:33] + "2024-01-03,abc,1,1,1,1\n"
    assert "line 3: open 'abc' is not a number" in _csv_error(tmp_path, text)


def test_csv_unparsable_date(tmp_path: Path) -> None:
    text = "date,open,high,low,close,volume\nyesterday,100,101,99,100.5,1000\n"
    assert "line 2: cannot read 'yesterday' as a date/time" in _csv_error(tmp_path, text)


def test_csv_short_row(tmp_path: Path) -> None:
    text = "date,open,high,low,close,volume\n2024-01-02,100,101\n"
    assert "line 2: 3 fields, the header needs 6" in _csv_error(tmp_path, text)


def test_csv_non_increasing_dates(tmp_path: Path) -> None:
    text = "date,open,high,low,close,volume\n" + GOOD + "2024-01-04,102,103,101,102,900\n"
    message = _csv_error(tmp_path, text)
    assert "line 5: time 2024-01-04 00:00:00 is not after the previous row's" in message
    assert "sort the file by time" in message


@pytest.mark.parametrize("value", ["nan", "NaN", "inf"])
def test_csv_nan_price(tmp_path: Path, value: str) -> None:
    text = f"date,open,high,low,close,volume\n2024-01-02,100,101,99,{value},1000\n"
    assert f"line 2: close is '{value}'" in _csv_error(tmp_path, text)


def test_csv_inconsistent_high_low(tmp_path: Path) -> None:
    text = "date,open,high,low,close,volume\n2024-01-02,100,99,98,100.5,1000\n"
    assert "line 2: high 99.0 / low 98.0 do not contain" in _csv_error(tmp_path, text)


def test_csv_empty_file(tmp_path: Path) -> None:
    assert "line 1: the file is empty" in _csv_error(tmp_path, "")


def test_csv_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.csv: cannot read"):
        load_csv(tmp_path / "nope.csv", "SPY")


def test_csv_times_with_offset_become_utc(tmp_path: Path) -> None:
    text = "datetime,open,high,low,close,volume\n2024-01-02T09:30:00-05:00,1,2,0.5,1.5,3\n"
    bars = load_csv(_csv(tmp_path, text), "SPY")
    assert bars.times == [datetime(2024, 1, 2, 14, 30)]
    assert not math.isnan(bars.closes[0])
