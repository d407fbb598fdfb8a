"""Bad input is one clear QueryError/StoreError naming the problem, candidates and the fix."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from eventstore import Event, EventTracer, Store, TracedEventBus, open_store, queries
from eventstore.errors import QueryError, SchemaVersionError, StoreError


@pytest.fixture
def sweep(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """Two runs, ``sweep-1`` and ``sweep-2``, whose tags share the prefix ``abc``."""
    tags = iter(["abc0000001", "abc0000002"])
    monkeypatch.setattr("eventstore.tracing.tracer.new_run_tag", lambda: next(tags))
    with open_store(db_path) as store:
        for n in (1, 2):
            bus = TracedEventBus("sweep")
            with EventTracer(f"sweep-{n}", store=store) as tracer:
                bus.set_tracer(tracer)
                for i in range(3):
                    bus.publish(Event("TICK", datetime(2024, 1, 1), {"i": i}), source="feed")
        yield store


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: queries.run_summary(s, "nope"), r"no run 'nope' in .*recent runs: sweep-2, "),
        (lambda s: queries.run_summary(s, "sweep"), r"'sweep' is ambiguous, it matches sweep-2, "),
        (lambda s: queries.run_summary(s, " "), r"empty run id"),
        (lambda s: queries.why(s, "abc0000001-4"), r"has no event abc0000001-4 \(its events "),
        (lambda s: queries.why(s, "abc-1"), r"'abc' is ambiguous, .* abc0000002, abc0000001"),
        (lambda s: queries.effects(s, "zzz-1"), r"no run in .* has tag 'zzz'"),
        (lambda s: queries.why(s, "sweep-1"), r"no run in .* has tag 'sweep'"),
        (lambda s: queries.why(s, "abc0000001"), r"'abc0000001' is not an event id"),
        (
            lambda s: queries.effects(s, "abc0000001--1"),
            r"'abc0000001--1' is not an event id: the seq after the run tag is a whole number "
            r"from 1, e.g. 'abc0000001-1'",
        ),
        (lambda s: queries.compare_runs(s, "sweep-1", "x"), r"no run 'x'"),
        (lambda s: queries.latency_percentiles(s, ["sweep-1", "s"]), r"'s' is ambiguous"),
        (lambda s: queries.signal_to_fill_chains(s, "sw"), r"'sw' is ambiguous"),
        (
            lambda s: queries.why(s, None),
            r"an event id must be a string, got NoneType None: "
            r"pass it as text, e.g. 'kfgge7ss44-12'",
        ),
        (lambda s: queries.run_sql(s, 5), r"the query must be SQL text, got int"),
        (lambda s: queries.event_counts(s, 5), r"a run id must be a string, got int 5"),
        (lambda s: queries.latency_percentiles(s, [b"sweep-1"]), r"run id must be a string"),
    ],
)
def test_unknown_or_ambiguous_ids(
    sweep: Store, call: Callable[[Store], object], message: str
) -> None:
    with pytest.raises(QueryError, match=message):
        call(sweep)


def test_one_run_id_given_as_a_string_is_one_run(store: Store) -> None:
    """Not one-letter prefixes (``'latest'`` used to be read as ``'l'``, ``'a'``…)."""
    bus = TracedEventBus("bus")
    bus.subscribe("TICK", lambda event: None)
    run_ids = []
    for _ in range(2):
        with EventTracer(store=store) as tracer:
            bus.set_tracer(tracer)
            bus.publish(Event("TICK", datetime(2024, 1, 1)))
        run_ids.append(tracer.correlation_id)
    first = queries.latency_percentiles(store, run_ids[0], per_run=True)
    assert first["run_id"].to_pylist() == [run_ids[0]]
    latest = queries.latency_percentiles(store, "latest", per_run=True)
    assert latest["run_id"].to_pylist() == [run_ids[1]]


def test_unique_prefixes_and_exact_ids_resolve(sweep: Store) -> None:
    assert queries.resolve_run(sweep, "sweep-1").run_id == "sweep-1"
    assert queries.resolve_run(sweep, "abc0000002").run_id == "sweep-2"
    assert queries.resolve_run(sweep, "LATEST").run_id == "sweep-2"
    assert queries.resolve_event(sweep, "abc0000001-3").event_id == "abc0000001-3"


def test_ids_resolve_from_a_path_as_every_helper_takes_one(db_path: Path) -> None:
    """``resolve_run``/``resolve_event`` are helpers like the others: given a path they open
    the store read-only for the call (they raised an AttributeError from inside)."""
    bus = TracedEventBus("bus")
    with open_store(db_path) as store, EventTracer(store=store) as tracer:
        bus.set_tracer(tracer)
        bus.publish(Event("TICK", datetime(2024, 1, 1)))
    for where in (db_path, str(db_path)):
        assert queries.resolve_run(where, "latest").run_id == tracer.correlation_id
        event = queries.resolve_event(where, f"{tracer.tag}-1")
        assert (event.event_id, event.event_type) == (f"{tracer.tag}-1", "TICK")
    with pytest.raises(QueryError, match=r"no run 'nope'"):
        queries.resolve_run(db_path, "nope")
    open_store(db_path).close()  # nothing left open


def test_an_event_of_a_run_still_running_is_not_called_a_wrong_id(store: Store) -> None:
    """Asked from the program that traces it, a running run's events are in segment files
    until a load: the error says the run is still running, not that the id is wrong."""
    bus = TracedEventBus("live")
    with EventTracer("live", store=store) as tracer:
        bus.set_tracer(tracer)
        for i in range(3):
            bus.publish(Event("TICK", datetime(2024, 1, 1), {"i": i}), source="feed")
        tracer.flush()
        with pytest.raises(QueryError, match=r"is still running and .*-3 is not stored yet"):
            queries.why(store, f"{tracer.tag}-3")
    assert [e.event_id for e in queries.why(store, f"{tracer.tag}-3")] == [f"{tracer.tag}-3"]
    with pytest.raises(QueryError, match=r"has no event .*-4 \(its events are .*-1 … .*-3\)"):
        queries.why(store, f"{tracer.tag}-4")


def test_latest_of_an_empty_store(store: Store) -> None:
    with pytest.raises(QueryError, match="holds no runs yet"):
        queries.run_summary(store, "latest")


def test_latency_over_every_run_of_an_empty_store(store: Store) -> None:
    with pytest.raises(QueryError, match="holds no runs yet: trace a run into it first"):
        queries.latency_percentiles(store)


def test_a_missing_database(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"no run database at .*missing\.duckdb"):
        queries.list_runs(tmp_path / "missing.duckdb")


def test_a_database_that_is_not_an_eventstore(tmp_path: Path) -> None:
    other = tmp_path / "other.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE prices (close DOUBLE)")
    con.close()
    with pytest.raises(SchemaVersionError, match="not an eventstore run store"):
        queries.list_runs(other)


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    text = tmp_path / "notes.duckdb"
    text.write_text("hello")
    with pytest.raises(StoreError, match="is not a DuckDB database"):
        queries.list_runs(text)


def test_a_path_is_opened_read_only_and_closed(sweep: Store, db_path: Path) -> None:
    sweep.close()
    assert queries.list_runs(db_path).num_rows == 2
    with open_store(db_path) as again:  # nothing left holding the file
        assert queries.list_runs(again).num_rows == 2


@pytest.fixture
def twelve_runs(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """Twelve runs ``many-1`` … ``many-12``; the tags of the first eight start with ``abc``."""
    tags = iter([f"abc{n:07d}" for n in range(8)] + [f"xyz{n:07d}" for n in range(4)])
    monkeypatch.setattr("eventstore.tracing.tracer.new_run_tag", lambda: next(tags))
    with open_store(db_path) as store:
        for n in range(1, 13):
            bus = TracedEventBus("many")
            with EventTracer(f"many-{n}", store=store) as tracer:
                bus.set_tracer(tracer)
                bus.publish(Event("TICK", datetime(2024, 1, 1), {"n": n}), source="feed")
        yield store


@pytest.mark.parametrize(
    ("call", "more"),
    [
        (lambda s: queries.run_summary(s, "nope"), "(and more)"),  # 12 runs, 6 looked at
        (lambda s: queries.why(s, "nope-1"), "(and more)"),
        (lambda s: queries.run_summary(s, "many"), "(and more)"),  # 12 match, 11 looked at
        (lambda s: queries.why(s, "abc-1"), "(and 3 more)"),  # 8 tags match: all counted
    ],
)
def test_a_list_of_candidates_never_miscounts_the_rest(
    twelve_runs: Store, call: Callable[[Store], object], more: str
) -> None:
    with pytest.raises(QueryError) as raised:
        call(twelve_runs)
    message = str(raised.value)
    assert more in message
    assert "more more" not in message and "(and 1 more)" not in message
