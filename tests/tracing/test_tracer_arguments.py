"""A wrong argument to ``EventTracer`` fails where it is passed, naming the argument and the
fix, and leaves nothing in the store: not an ``AttributeError`` at the first hand-off (and
again at interpreter exit), not a run row with a status the query helpers don't know."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from eventstore import ConfigError, Event, EventTracer, Store, TracedEventBus, queries


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        (
            {"store": "runs.duckdb"},
            TypeError,
            r"not the path 'runs.duckdb': pass "
            r"store=open_store\('runs.duckdb'\)",
        ),
        ({"store": Path("x.duckdb")}, TypeError, r"store=open_store\('x.duckdb'\)"),
        ({"store": 1}, TypeError, r"a store from open_store\(...\) or a BatchWriter, got int"),
        ({"batch_size": "10"}, TypeError, r"batch_size must be a whole number >= 1, got '10'"),
        ({"batch_size": 0}, ValueError, r"batch_size must be a whole number >= 1, got 0"),
        ({"ring_size": 1.5}, TypeError, r"ring_size must be a whole number >= 0"),
        ({"flush_interval": "1"}, TypeError, r"flush_interval must be a positive number"),
        ({"flush_interval": float("nan")}, ValueError, r"flush_interval must be a positive"),
        ({"max_pending_batches": True}, TypeError, r"max_pending_batches must be a whole"),
        ({"close_timeout": "5"}, TypeError, r"close_timeout must be a number of seconds"),
        ({"close_timeout": -1}, ValueError, r"close_timeout must be a number of seconds \(0 or"),
        ({"close_timeout": float("inf")}, ValueError, r"close_timeout must be a number of sec"),
        ({"name": 5}, TypeError, r"name must be a string or None, got int"),
        ({"correlation_id": 7}, TypeError, r"correlation_id must be a string or None"),
        ({"config": [1]}, ConfigError, r"config must be a mapping .* got list"),
        ({"config": {"cash": object()}}, ConfigError, r"config\['cash'\] can't be stored"),
        (
            {"config": {"data": "prices-\udcff.csv"}},
            ConfigError,
            r"config\['data'\] can't be stored .*: drop the text UTF-8 can't hold",
        ),
    ],
)
def test_a_wrong_argument_is_named_and_nothing_is_stored(
    store: Store, options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        EventTracer(**options)
    if "store" not in options:
        with pytest.raises(error, match=message):
            EventTracer(store=store, **options)
    assert queries.list_runs(store).num_rows == 0


def test_a_path_as_store_fails_once_and_quietly_at_exit(tmp_path: Path) -> None:
    """The error at construction is the only one: no traceback logged at interpreter exit."""
    program = textwrap.dedent(
        """
        from eventstore import EventTracer
        try:
            EventTracer(store="runs.duckdb")
        except TypeError as error:
            print(error)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert "store=open_store('runs.duckdb')" in done.stdout
    assert done.stderr == ""
    assert list(tmp_path.iterdir()) == []


def test_a_run_ends_only_with_a_documented_status(store: Store, recorder_kind: str) -> None:
    bus = TracedEventBus("bus")
    tracer = EventTracer(store=store)
    bus.set_tracer(tracer)
    bus.publish(Event("A", datetime(2024, 1, 2)))
    with pytest.raises(ValueError, match=r"a run ends 'completed', 'failed', 'interrupted', "):
        tracer.close("done")  # type: ignore[arg-type]
    bus.publish(Event("B", datetime(2024, 1, 2)))  # the run goes on
    tracer.close("interrupted", "stopped by the user")
    runs = queries.list_runs(store)
    assert runs["status"].to_pylist() == ["interrupted"]
    assert runs["events"].to_pylist() == [2]


@pytest.mark.parametrize("wrong", ["run", object()])
def test_a_bus_takes_only_a_tracer(wrong: object) -> None:
    bus = TracedEventBus("bus")
    with pytest.raises(TypeError, match=r"set_tracer takes an EventTracer \(or None to stop"):
        bus.set_tracer(wrong)  # type: ignore[arg-type]
    assert bus.tracer is None


def test_a_run_name_utf8_cannot_hold_is_stored_escaped(store: Store) -> None:
    """A name made from an undecodable file name (``os.fsdecode`` gives lone surrogates)
    failed the run's start with DuckDB's conversion error and a traceback; it is stored
    backslash-escaped, as such text is in payloads, types and sources."""
    name = b"backtest \xff".decode("utf-8", "surrogateescape")
    with EventTracer(store=store, name=name) as tracer:
        TracedEventBus("bus").set_tracer(tracer)
    (run,) = queries.list_runs(store).to_pylist()
    assert (run["name"], run["status"]) == ("backtest \\udcff", "completed")
