"""The OHLCV files users have load, each to the same bars: pandas exports, Yahoo downloads, any
header case, a byte order mark, Date and Time apart, semicolons or tabs, epoch timestamps, and
Parquet; a malformed file is a DataError naming the file, the line (or row) and the problem,
also when the problem is far down a file the run is already reading."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from eventstore import DataError
from eventstore.backtest import load_csv
from eventstore.backtest.data_files import file_stream
from eventstore.cli import app
from tests.cli.conftest import error_message

TIMES = [datetime(2024, 1, 2, 9, 30) + timedelta(minutes=i) for i in range(3)]
PRICES = [(100.0, 101.0, 99.0, 100.5, 1000.0), (100.5, 102.0, 100.0, 101.5, 1200.0),
          (101.5, 103.0, 101.0, 102.0, 900.0)]  # fmt: skip
EXPECTED = [(t, "SPY", *p) for t, p in zip(TIMES, PRICES, strict=True)]


def _lines(time_text: Callable[[datetime], str], sep: str = ",", extra: bool = False) -> str:
    cells = [
        [time_text(t), *(f"{v:g}" for v in p[:4]), *(["1.0"] if extra else []), f"{p[4]:g}"]
        for t, p in zip(TIMES, PRICES, strict=True)
    ]
    return "".join(sep.join(row) + "\n" for row in cells)


def _iso(t: datetime) -> str:
    return t.isoformat(sep=" ")


def _epoch(t: datetime) -> int:
    return int(t.replace(tzinfo=UTC).timestamp())


CSV_SHAPES: dict[str, str] = {
    "pandas index (empty first header cell)": ",Open,High,Low,Close,Volume\n" + _lines(_iso),
    "pandas index named Unnamed: 0": "Unnamed: 0,open,high,low,close,volume\n" + _lines(_iso),
    "Yahoo with Adj Close and a null day": "Date,Open,High,Low,Close,Adj Close,Volume\n"
    "2024-01-01 09:30:00,null,null,null,null,null,null\n" + _lines(_iso, extra=True),
    "Yahoo with time zone offsets": "Date,Open,High,Low,Close,Adj Close,Volume\n"
    + _lines(lambda t: (t - timedelta(hours=5)).isoformat(sep=" ") + "-05:00", extra=True),
    "upper case": "DATETIME,OPEN,HIGH,LOW,CLOSE,VOLUME\n" + _lines(_iso),
    "mixed case": "TimeStamp,oPeN,High,low,CLOSE,Volume\n" + _lines(_iso),
    "UTF-8 byte order mark": "\ufeffDate,Open,High,Low,Close,Volume\n" + _lines(_iso),
    "Date and Time apart": "Date,Time,Open,High,Low,Close,Volume\n"
    + _lines(lambda t: f"{t:%m/%d/%Y},{t:%H:%M}"),
    "semicolons": "Date;Open;High;Low;Close;Volume\n" + _lines(_iso, sep=";"),
    "tabs": "Date\tOpen\tHigh\tLow\tClose\tVolume\n" + _lines(_iso, sep="\t"),
    "epoch seconds": "timestamp,open,high,low,close,volume\n" + _lines(lambda t: str(_epoch(t))),
    "epoch milliseconds": "time,open,high,low,close,volume\n"
    + _lines(lambda t: str(_epoch(t) * 1000)),
    "compact date and time": "date,open,high,low,close,volume\n"
    + _lines(lambda t: f"{t:%Y%m%d%H%M}"),
}


@pytest.mark.parametrize("shape", list(CSV_SHAPES))
def test_each_csv_shape_loads_the_same_bars(tmp_path: Path, shape: str) -> None:
    path = tmp_path / "spy.csv"
    path.write_text(CSV_SHAPES[shape], encoding="utf-8")
    assert list(load_csv(path, "SPY").rows()) == EXPECTED
    assert list(file_stream({"SPY": path})) == EXPECTED


def _table(times: pa.Array, names: tuple[str, ...] = ("Date",)) -> pa.Table:
    columns = {names[0]: times}
    for index, name in enumerate(("Open", "High", "Low", "Close", "Volume")):
        columns[name] = pa.array([p[index] for p in PRICES], pa.float64())
    return pa.table(columns)


PARQUET_SHAPES: dict[str, Callable[[], pa.Table]] = {
    "timestamp column": lambda: _table(pa.array(TIMES, pa.timestamp("ns"))),
    "time zone aware timestamps": lambda: _table(
        pa.array([t.replace(tzinfo=UTC) for t in TIMES], pa.timestamp("us", tz="America/New_York"))
    ),
    "unnamed pandas index": lambda: _table(
        pa.array(TIMES, pa.timestamp("ms")), ("__index_level_0__",)
    ),
    "epoch milliseconds": lambda: _table(pa.array([_epoch(t) * 1000 for t in TIMES], pa.int64())),
    "ISO text": lambda: _table(pa.array([_iso(t) for t in TIMES]), ("datetime",)),
}


@pytest.mark.parametrize("shape", list(PARQUET_SHAPES))
def test_parquet_ohlcv_loads_the_same_bars(tmp_path: Path, shape: str) -> None:
    path = tmp_path / "spy.parquet"
    pq.write_table(PARQUET_SHAPES[shape](), path)
    stream = file_stream({"SPY": path})
    assert stream.total == 3  # from the footer: a progress bar knows the length
    assert list(stream) == EXPECTED


def test_parquet_integer_prices_and_a_null_day(tmp_path: Path) -> None:
    table = pa.table(
        {
            "date": pa.array([datetime(2024, 1, 1), *TIMES], pa.timestamp("s")),
            "open": pa.array([None, 100, 100, 101], pa.int64()),
            "high": pa.array([None, 101, 102, 103], pa.int64()),
            "low": pa.array([None, 99, 100, 101], pa.int64()),
            "close": pa.array([None, 100, 101, 102], pa.int64()),
            "volume": pa.array([None, 1, 2, 3], pa.int32()),
        }
    )
    pq.write_table(table, tmp_path / "bars.parquet")
    rows = list(file_stream({"SPY": tmp_path / "bars.parquet"}))
    assert [r[0] for r in rows] == TIMES
    assert rows[0][2:] == (100.0, 101.0, 99.0, 100.0, 1.0)


def test_csv_and_parquet_files_merge_by_time(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(CSV_SHAPES["tabs"], encoding="utf-8")
    later = _table(pa.array([*TIMES[1:], TIMES[2] + timedelta(minutes=1)], pa.timestamp("s")))
    pq.write_table(later.slice(0, 2), tmp_path / "b.pq")  # 09:31 and 09:32
    rows = list(file_stream({"AAA": tmp_path / "a.csv", "BBB": tmp_path / "b.pq"}))
    assert [(r[0].minute, r[1]) for r in rows] == [
        (30, "AAA"), (31, "AAA"), (31, "BBB"), (32, "AAA"), (32, "BBB"),
    ]  # fmt: skip


def _error(path: Path) -> str:
    with pytest.raises(DataError) as caught:
        list(file_stream({"SPY": path}))
    message = str(caught.value)
    assert message.startswith(str(path)), message
    return message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (",open,high,low,close,volume\n0,1,2,0.5,1.5,10\n", "line 2: cannot read '0' as a date"),
        ("timestamp,open,high,low,close,volume\n17041878001,1,2,0.5,1.5,10\n", "11 digits"),
        ("Date;Open;High;Low;Close\n2024-01-02;1;2;0.5;1.5\n", "line 1: missing column volume"),
        (
            "date,open,high,low,close,volume\n2024-01-02,1,2,0.5,1.5,10\n2024-01-03,1,2,0.5\n",
            "line 3: 4 fields, the header needs 6",
        ),
        (
            "Date,Open,High,Low,Close,Adj Close,Volume\n2024-01-02,1,null,0.5,1.5,1.5,10\n",
            "line 2: high 'null' is not a number",
        ),
        (
            "Date;Open;High;Low;Close;Volume\n2024-01-02;1,5;2;0,5;1,5;10\n",
            "line 2: open '1,5' is not a number: use a decimal point",
        ),
        (
            'Date,Open,High,Low,Close,Volume\n2024-01-02,1.5,2,0.5,1.5,"2,845,529"\n',
            "line 2: volume '2,845,529' is not a number: remove the thousands separators",
        ),
        (
            "date,open,high,low,close,volume\n2024-01-02,1,2,0.5,-1.5,10\n",
            "line 2: prices must be positive (close -1.5): fix the row",
        ),
        (
            "date,open,high,low,close,volume\n2024-01-02,0,2,0,1.5,10\n",
            "line 2: prices must be positive (open 0.0, low 0.0): fix the row",
        ),
    ],
)
def test_malformed_csv_names_file_line_and_problem(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    assert expected in _error(path)


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (
            lambda: _table(pa.array([TIMES[0], TIMES[2], TIMES[1]], pa.timestamp("s"))),
            "row 3: time 2024-01-02 09:31:00 is not after the previous row's",
        ),
        (
            lambda: _table(pa.array(TIMES, pa.timestamp("s"))).set_column(
                4, "Close", pa.array([100.5, None, 102.0])
            ),
            "row 2: close is missing",
        ),
        (
            lambda: _table(pa.array(TIMES, pa.timestamp("s"))).set_column(
                4, "Close", pa.array([100.5, float("nan"), 102.0])
            ),
            "row 2: close is nan",
        ),
        (lambda: _table(pa.array(TIMES, pa.timestamp("s"))).drop(["Volume"]), "missing column"),
        (lambda: _table(pa.array([1.5, 2.5, 3.5])), "the time column is of type double"),
    ],
)
def test_malformed_parquet_names_file_row_and_problem(
    tmp_path: Path, table: Callable[[], pa.Table], expected: str
) -> None:
    path = tmp_path / "bad.parquet"
    pq.write_table(table(), path)
    assert expected in _error(path)


def test_a_damaged_parquet_file_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1 this is not really parquet")
    assert "not a readable Parquet file" in _error(path)


def test_a_bad_row_deep_in_a_file_fails_the_run_with_its_line(
    tmp_path: Path, write_config: Any, config_data: dict[str, Any]
) -> None:
    """The first rows are checked before the run starts; a bad row the run reaches later ends
    the run `failed` (not `running`) with the same one-line error."""
    start = datetime(2024, 1, 2)
    rows = [f"{start + timedelta(minutes=i):%Y-%m-%d %H:%M},10,11,9,10,5\n" for i in range(5000)]
    rows[4000] = rows[4000].replace(",11,", ",abc,")
    (tmp_path / "long.csv").write_text("date,open,high,low,close,volume\n" + "".join(rows))
    config_data["data"] = {"source": "csv", "files": {"AAA": "long.csv"}}
    config_data["strategies"] = [{"type": "breakout"}]
    del config_data["bars"]  # every row
    db = tmp_path / "runs.duckdb"
    args = ["run", "--config", str(write_config(config_data)), "--db", str(db), "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert error_message(result.stderr) == (
        f"error: {tmp_path / 'long.csv'}, line 4002: high 'abc' is not a number: fix the value"
    )
    with duckdb.connect(str(db), read_only=True) as con:
        status = con.execute("SELECT status FROM runs").fetchall()
        bars = con.execute("SELECT count(*) FROM events WHERE event_type = 'BAR'").fetchone()
    assert status == [("failed",)]
    assert bars == (4000,)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_bad_row_among_the_first_stops_before_a_run_exists(
    tmp_path: Path, write_config: Any, config_data: dict[str, Any], kind: str
) -> None:
    """A missing close on row 21 (a pandas export of a NaN) is found before the run starts,
    in a Parquet file as in a CSV file: one line of error, and no run in the database."""
    start = datetime(2024, 1, 2)
    times = [start + timedelta(days=i) for i in range(50)]
    closes: list[float | None] = [10.0] * 50
    closes[20] = None
    if kind == "csv":
        lines = [
            f"{t:%Y-%m-%d},10,11,9,{'' if c is None else c},5\n"
            for t, c in zip(times, closes, strict=True)
        ]
        (tmp_path / "spy.csv").write_text("Date,Open,High,Low,Close,Volume\n" + "".join(lines))
        where = "line 22: close '' is not a number: fix the value"
    else:
        columns = {"open": [10.0] * 50, "high": [11.0] * 50, "low": [9.0] * 50, "close": closes}
        bars = pa.table({"date": times, **columns, "volume": [5.0] * 50})
        pq.write_table(bars, tmp_path / "spy.parquet")
        where = "row 21: close is missing: fill the gap or drop the row"
    config_data["data"] = {"source": kind, "files": {"SPY": f"spy.{kind}"}}
    config_data["strategies"] = [{"type": "breakout", "window": 2}]
    db = tmp_path / "runs.duckdb"
    args = ["run", "--config", str(write_config(config_data)), "--db", str(db), "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert error_message(result.stderr) == f"error: {tmp_path / f'spy.{kind}'}, {where}"
    if db.exists():
        with duckdb.connect(str(db), read_only=True) as con:
            assert con.execute("SELECT count(*) FROM runs").fetchone() == (0,)


@pytest.mark.parametrize("bars", [2, None])
def test_a_bars_setting_that_cuts_a_file_is_said_at_the_start(
    tmp_path: Path, write_config: Any, config_data: dict[str, Any], bars: int | None
) -> None:
    """``bars: N`` kept from a copied synthetic config reads only N rows of each file: the run
    says so when it starts (not with --quiet), so a short backtest is never a surprise."""
    (tmp_path / "spy.csv").write_text(CSV_SHAPES["upper case"])
    config_data["data"] = {"source": "csv", "files": {"SPY": "spy.csv"}}
    config_data["strategies"] = [{"type": "breakout", "window": 2}]
    config_data["bars"] = bars
    db = tmp_path / "runs.duckdb"
    args = ["run", "--config", str(write_config(config_data)), "--db", str(db)]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "60"})
    assert result.exit_code == 0, result.stderr
    note = "  at most 2 bars per file (bars: 2):\n  remove it to read every row\n"
    assert (note in result.stderr) == (bars is not None)
    assert all(len(line) <= 60 for line in note.splitlines())  # a 60-column terminal
    quiet = CliRunner().invoke(app, [*args, "-q"])
    assert quiet.exit_code == 0 and quiet.stderr == ""
    with duckdb.connect(str(db), read_only=True) as con:
        counts = con.execute(
            "SELECT count(*) FROM events WHERE event_type = 'BAR' GROUP BY run_id"
        ).fetchall()
    assert counts == [(bars or 3,)] * 2


def test_a_bars_option_that_cuts_a_file_is_named_as_the_option(
    tmp_path: Path, write_config: Any, config_data: dict[str, Any]
) -> None:
    """``--bars 2`` is the user's own choice, not a setting left in the config: the note names
    the option and does not ask to remove a ``bars:`` the config doesn't have."""
    (tmp_path / "spy.csv").write_text(CSV_SHAPES["upper case"])
    config_data["data"] = {"source": "csv", "files": {"SPY": "spy.csv"}}
    config_data["strategies"] = [{"type": "breakout", "window": 2}]
    config_data.pop("bars", None)
    db = tmp_path / "runs.duckdb"
    config = write_config(config_data)
    args = ["run", "--config", str(config), "--db", str(db), "--bars", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr
    assert "  at most 2 bars per file (--bars 2)\n" in result.stderr
    assert "remove it" not in result.stderr
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM events WHERE event_type = 'BAR'").fetchone() == (
            2,
        )


def test_a_parquet_config_runs(
    tmp_path: Path, write_config: Any, config_data: dict[str, Any]
) -> None:
    pq.write_table(PARQUET_SHAPES["timestamp column"](), tmp_path / "spy.parquet")
    config_data["data"] = {"source": "parquet", "files": {"SPY": "spy.parquet"}}
    config_data["strategies"] = [{"type": "breakout", "window": 2}]
    db = tmp_path / "runs.duckdb"
    args = ["run", "--config", str(write_config(config_data)), "--db", str(db), "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr
    with duckdb.connect(str(db), read_only=True) as con:
        times = con.execute("SELECT sim_time FROM events WHERE event_type = 'BAR' ORDER BY seq")
        assert [t for (t,) in times.fetchall()] == TIMES
