"""The feed streams: a child process's peak RSS is the same whether it feeds 100 000 or 2 000 000
bars (or reads a short or a long file); an absurd ``--bars`` is refused at once; a huge but
valid one starts streaming under a memory limit instead of building every bar first.

Peak RSS is the child's ``VmHWM`` (Linux): its own high-water mark. ``ru_maxrss`` would not do:
Linux carries into it the peak of the parent that forked the child, here pytest's. The long
cases feed bars through the ``DataFeed`` onto a bus without strategies or tracer (a full
backtest of 2 000 000 bars would take minutes); the huge-bars case runs the real traced
backtest into a DuckDB file and stops it after its first 10 000 bars.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from .conftest import MULTI_STRATEGY

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="peak RSS is read from /proc (Linux)"
)

FEED_SCRIPT = """
import json, sys
from eventstore import TracedEventBus
from eventstore.backtest import BacktestConfig, load_market_data
from eventstore.backtest.feed import DataFeed
config = BacktestConfig.model_validate_json(sys.stdin.read())
published = DataFeed(load_market_data(config), TracedEventBus("feed")).run()
status = open("/proc/self/status").read()
rss = int(status.split("VmHWM:")[1].split()[0]) / 1024
print(json.dumps({"bars": published, "peak_rss_mb": rss}))
"""

GROWTH_MB = 30
"""Allowed growth of peak RSS between the short and the long case. Holding every bar costs far
more: 2 000 000 bars in memory took about 500 MB before the feed streamed."""

MEMORY_LIMIT = 4 * 2**30
"""Address-space limit of the huge-bars child: its imports and threads reserve about 2.7 GB of
address space; building 4 billion bars would need hundreds of GB."""


def _feed(config: dict[str, Any]) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", FEED_SCRIPT],
        input=json.dumps(config),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, float] = json.loads(done.stdout)
    return result


def _config(data: dict[str, Any], bars: int | None = None) -> dict[str, Any]:
    return {"name": "feed", "bars": bars, "data": data, "strategies": [{"type": "breakout"}]}


def test_synthetic_feed_peak_rss_is_flat_from_100k_to_2m_bars() -> None:
    data = {"source": "synthetic", "symbols": ["AAA"]}
    short, long = _feed(_config(data, 100_000)), _feed(_config(data, 2_000_000))
    assert (short["bars"], long["bars"]) == (100_000, 2_000_000)
    assert long["peak_rss_mb"] < short["peak_rss_mb"] + GROWTH_MB, (short, long)


def _write_csv(path: Path, rows: int) -> Path:
    start = datetime(2024, 1, 2)
    lines = (f"{start + timedelta(minutes=i):%Y-%m-%d %H:%M},10,11,9,10,5\n" for i in range(rows))
    path.write_text("Date,Open,High,Low,Close,Volume\n" + "".join(lines))
    return path


def _write_parquet(path: Path, rows: int) -> Path:
    start = int(datetime(2024, 1, 2).timestamp())
    table = pa.table(
        {
            "timestamp": pa.array(range(start, start + 60 * rows, 60), pa.int64()),
            **{name: pa.array([10.0] * rows) for name in ("open", "high", "low", "close")},
            "volume": pa.array([5.0] * rows),
        }
    )
    pq.write_table(table, path, row_group_size=50_000)
    return path


@pytest.mark.parametrize("write", [_write_csv, _write_parquet], ids=["csv", "parquet"])
def test_file_feed_peak_rss_is_flat_in_file_length(tmp_path: Path, write: Any) -> None:
    results = []
    for rows in (20_000, 400_000):
        path = write(tmp_path / f"bars_{rows}", rows)
        results.append(_feed(_config({"source": "csv", "files": {"AAA": str(path)}})))
    short, long = results
    assert (short["bars"], long["bars"]) == (20_000, 400_000)
    assert long["peak_rss_mb"] < short["peak_rss_mb"] + GROWTH_MB, (short, long)


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _eventstore(*args: str, script: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", script, *args] if script else [
        sys.executable, "-m", "eventstore", *args
    ]  # fmt: skip
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, preexec_fn=_limited
    )


@pytest.mark.parametrize(
    ("bars", "problem"),
    [
        (10**20, "bars: Input should be less than or equal to 9223372036854775807"),
        (10**12, "would end after the year 9999: use at most 4,194,968,550 bars"),
    ],
)
def test_absurd_bars_is_refused_at_once(tmp_path: Path, bars: int, problem: str) -> None:
    db = tmp_path / "runs.duckdb"
    done = _eventstore("run", "--config", str(MULTI_STRATEGY), "--bars", str(bars), "--db", str(db))
    assert done.returncode == 1
    assert problem in " ".join(done.stderr.split())  # wrapped to the terminal's width
    assert "Traceback" not in done.stderr
    assert not db.exists()


HUGE_RUN = """
import json, sys
from eventstore import open_store
from eventstore.backtest import BacktestContainer, load_config

def stop(done):
    raise KeyboardInterrupt("first bars published")

config = load_config(sys.argv[1], bars=int(sys.argv[2]))
with open_store(sys.argv[3]) as store:
    backtest = BacktestContainer(config, store)
    try:
        backtest.run(stop)
    except KeyboardInterrupt:
        pass
status = open("/proc/self/status").read()
rss = int(status.split("VmHWM:")[1].split()[0]) / 1024
print(json.dumps({"bars": backtest.feed.published, "peak_rss_mb": rss}))
"""


def test_huge_valid_bars_streams_under_a_memory_limit(tmp_path: Path) -> None:
    """4 billion bars per symbol: the run starts at once and is stopped after 10 000 bars."""
    db = tmp_path / "runs.duckdb"
    done = _eventstore(str(MULTI_STRATEGY), "4000000000", str(db), script=HUGE_RUN)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["bars"] == 10_000
    assert result["peak_rss_mb"] < 1_000
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT status, event_count >= 10000 FROM runs").fetchall() == [
            ("interrupted", True)
        ]
