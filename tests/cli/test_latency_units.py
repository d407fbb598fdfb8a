"""Latency tables read at a glance: each table is in µs or ms, whichever its values read best
in, to three significant digits; CSV and JSON stay in ms. The runs are recorded through the
tracer's recorder with chosen handler times, so every number below is known exactly."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eventstore import Event, EventTracer, EventType, open_store
from eventstore.cli import app
from eventstore.store import Store

runner = CliRunner()

FAST_NS = [150, 400, 2_000, 5_000, 9_000_000]
"""Handler times of a quick run: microseconds, and one 9 ms stall (a first call, a GC)."""
SLOW_NS = [5_000_000, 20_000_000, 40_000_000]


@dataclass
class TimedFile:
    path: Path
    fast: str
    fast_again: str
    slow: str


def trace_timed(store: Store, name: str, handle_ns: list[int]) -> str:
    """One BAR per handler time, delivered to two handlers that take that long each, one
    after the other: the second's queueing time is the first's handling time."""
    start = datetime(2024, 1, 2, 9, 30)
    with EventTracer(store=store, name=name) as tracer:
        recorder = tracer.recorder
        for index, took in enumerate(handle_ns):
            bar = Event(EventType.BAR, start + timedelta(minutes=index), {"close": 100.0})
            frame = recorder.begin(bar, "DataFeed")
            received = recorder.clock()
            recorder.delivered(frame, "Strategy.on_bar", received, received + took)
            recorder.delivered(frame, "Portfolio.on_bar", received + took, received + 2 * took)
            recorder.end(frame)
    return tracer.correlation_id


@pytest.fixture(scope="module")
def timed_file(tmp_path_factory: pytest.TempPathFactory) -> TimedFile:
    path = tmp_path_factory.mktemp("timed") / "runs.duckdb"
    with open_store(path) as store:
        fast = trace_timed(store, "fast", FAST_NS)
        fast_again = trace_timed(store, "fast again", [2 * ns for ns in FAST_NS])
        slow = trace_timed(store, "slow", SLOW_NS)
    return TimedFile(path, fast, fast_again, slow)


def run(*args: str) -> str:
    """A command's output at 80 columns; tables must fit them (CSV and JSON are exempt)."""
    result = runner.invoke(app, list(args), env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.stderr or result.stdout
    table = "-f" not in args
    assert not table or all(len(line) <= 80 for line in result.stdout.splitlines()), result.stdout
    return result.stdout


def section(out: str, title: str) -> list[list[str]]:
    """The rows (cells split on spaces) of the table whose title starts with ``title``."""
    block = next(b for b in out.split("\n\n") if b.startswith(title))
    return [line.split() for line in block.splitlines()[1:] if not line.startswith("─")]


def test_a_table_of_microseconds_is_in_microseconds(timed_file: TimedFile) -> None:
    out = run("latency", timed_file.fast, "--db", str(timed_file.path))
    # Handling: 150 ns, 400 ns, 2 µs, 5 µs, 9 ms, each twice: p50 2 µs, p90 up 9 ms.
    handling = section(out, "latency by event type, handling (µs): handler started → returned")
    assert handling == [
        ["event_type", "deliveries", "p50", "p90", "p99", "max"],
        ["BAR", "10", "2", "9,000", "9,000", "9,000"],
    ]
    # Queueing: the first handler's 0 and the second's wait (the first's handling time).
    queueing = section(out, "latency by event type, queueing (µs)")
    assert queueing[1][:3] == ["BAR", "10", "0.075"] and queueing[1][5] == "9,000"
    assert "0.000" not in out
    rows = list(csv.DictReader(io.StringIO(run("latency", timed_file.fast, "--db",
                                               str(timed_file.path), "-f", "csv"))))  # fmt: skip
    assert float(rows[0]["handle_p50_ms"]) == 0.002 and float(rows[0]["handle_max_ms"]) == 9.0


def test_a_table_of_milliseconds_stays_in_milliseconds(timed_file: TimedFile) -> None:
    out = run("latency", timed_file.slow, "--by", "handler", "--db", str(timed_file.path))
    handling = section(out, "latency by handler, handling (ms)")
    assert handling[1:] == [
        ["Portfolio.on_bar", "3", "20", "36", "39.6", "40"],
        ["Strategy.on_bar", "3", "20", "36", "39.6", "40"],
    ]
    queueing = section(out, "latency by handler, queueing (ms)")
    assert queueing[1] == ["Portfolio.on_bar", "3", "20", "36", "39.6", "40"]


def test_compare_shows_both_runs_in_one_readable_unit(timed_file: TimedFile) -> None:
    db = str(timed_file.path)
    out = run("compare", timed_file.fast, timed_file.fast_again, "--db", db)
    rows = {(r[0], r[1]): r[2:] for r in section(out, "latency by event type (µs)")[1:]}
    assert rows[("BAR", "handle_p50")] == ["2", "4", "2"]
    assert rows[("BAR", "queue_p50")] == ["0.075", "0.150", "2"]
    assert rows[("BAR", "deliveries")] == ["10", "10", "1"]
    assert "0.000" not in out and "_ms" not in out
    body = json.loads(run("compare", timed_file.fast, timed_file.fast_again, "--db", db, "-f",
                          "json"))  # fmt: skip
    p50 = [r for r in body["latency by event type (ms)"] if r["metric"] == "handle_p50_ms"]
    assert p50 == [
        {"event_type": "BAR", "metric": "handle_p50_ms", "run_a": 0.002, "run_b": 0.004,
         "ratio": 2.0}
    ]  # fmt: skip


def test_analyze_picks_a_unit_per_table(timed_file: TimedFile) -> None:
    db = str(timed_file.path)
    fast = run("analyze", timed_file.fast, "--db", db)
    assert "latency by event type, handling (µs)" in fast
    slow = run("analyze", timed_file.slow, "--db", db)
    assert "latency by event type, handling (ms)" in slow
    assert section(slow, "latency by event type, handling (ms)")[1][2] == "20"
