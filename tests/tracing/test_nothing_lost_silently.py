"""Nothing recorded is ever lost silently, and no payload fails a run (issue 9, point 5), on
both recorders: a closed tracer refuses events like a closed file refuses writes, and payloads
JSON can't hold are stored with only the offending value replaced."""

from __future__ import annotations

import json
import logging
import os
from collections import deque
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pytest

from eventstore import Event, EventTracer, RunClosedError, Store, TracedEventBus, open_store

T0 = datetime(2024, 1, 2, 9, 30)


def _deep(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {"leaf": 1}
    for _ in range(levels):
        node = {"d": node}
    return node


def _stored(store: Store, run_id: str) -> list[tuple[str, str]]:
    con = store.cursor()
    try:
        return con.execute(
            "SELECT event_type, payload FROM events WHERE run_id = ? ORDER BY seq", [run_id]
        ).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("missing", ["payload", "metadata"])
def test_an_object_missing_an_event_attribute_is_a_clear_error(
    store: Store, recorder_kind: str, missing: str
) -> None:
    """Published on a traced bus, an object with ``event_type`` but no ``payload`` or no
    ``metadata`` is the TypeError for what is no event (it was an AttributeError from inside
    the recorder); the run goes on and stores what was published right."""
    attributes: dict[str, Any] = {"event_type": "A", "timestamp": T0, "payload": {"x": 1}}
    attributes["metadata"] = {}
    del attributes[missing]
    almost = type("Almost", (), attributes)()
    bus = TracedEventBus("bus")
    bus.subscribe("A", lambda event: None)
    with EventTracer(store=store) as tracer:
        bus.set_tracer(tracer)
        with pytest.raises(TypeError, match=r"publish takes an Event .*, got Almost"):
            bus.publish(almost)
        good = Event("A", T0, {"x": 2})
        bus.publish(good)
    assert _stored(store, tracer.correlation_id) == [("A", '{"x":2}')]
    assert (good.event_id, tracer.event_count) == (f"{tracer.tag}-1", 1)


@pytest.mark.parametrize("metadata", [None, MappingProxyType({})])
def test_metadata_that_cannot_take_the_event_id_is_refused_before_recording(
    store: Store, recorder_kind: str, metadata: object
) -> None:
    """A user's own event class whose ``metadata`` is None (or read-only) failed with a bare
    "'NoneType' object is not subscriptable", or after its seq was taken, leaving an event in
    the trace whose handlers never ran. It is refused first, naming the fix, and the run
    stores only what was published right, with no gap in its seqs."""
    own = type("OwnEvent", (), {"event_type": "A", "timestamp": T0, "payload": {"x": 1}})
    odd = own()
    odd.metadata = metadata
    bus = TracedEventBus("bus")
    handled: list[object] = []
    bus.subscribe("A", handled.append)
    message = r"event.metadata must be a dict .*, got (NoneType|mappingproxy): leave it out"
    with EventTracer(store=store) as tracer:
        bus.set_tracer(tracer)
        with pytest.raises(TypeError, match=message):
            bus.publish(odd)
        with pytest.raises(TypeError, match=message):
            tracer.recorder.begin(odd)  # type: ignore[arg-type]
        good = Event("A", T0, {"x": 2})
        bus.publish(good)
    assert handled == [good]
    assert _stored(store, tracer.correlation_id) == [("A", '{"x":2}')]
    assert (good.event_id, tracer.event_count) == (f"{tracer.tag}-1", 1)


def test_a_run_closed_with_events_never_ended_says_so(
    store: Store, recorder_kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An event begun and never ended is stored with ``end_seq`` NULL: one warning at close
    counts them. One ended after its row was written (an end update) is not counted."""
    with caplog.at_level(logging.WARNING, logger="eventstore.tracing.tracer"):
        with EventTracer(store=store) as tracer:
            recorder = tracer.recorder
            first = recorder.begin(Event("A", T0))
            tracer.flush()  # A is written before it ends: its end_seq comes as an update
            recorder.end(recorder.begin(Event("B", T0)))
            recorder.end(first)
            recorder.begin(Event("C", T0))  # never ended
        con = store.cursor()
        try:
            rows = con.execute(
                "SELECT event_type, end_seq FROM events WHERE run_id = ? ORDER BY seq",
                [tracer.correlation_id],
            ).fetchall()
        finally:
            con.close()
        assert rows == [("A", 2), ("B", 2), ("C", None)]
        (warning,) = [r for r in caplog.records if r.name == "eventstore.tracing.tracer"]
        assert warning.levelno == logging.WARNING
        assert "1 event was never ended" in warning.getMessage()
        assert "its end_seq stays NULL" in warning.getMessage()
        caplog.clear()
        with EventTracer(store=store) as complete:
            complete.recorder.end(complete.recorder.begin(Event("A", T0)))
        assert not [r for r in caplog.records if r.name == "eventstore.tracing.tracer"]


def test_publishing_after_the_run_closed_is_an_error(store: Store, recorder_kind: str) -> None:
    bus = TracedEventBus("bus")
    with EventTracer(store=store) as tracer:
        bus.set_tracer(tracer)
        bus.publish(Event("A", T0))
    with pytest.raises(RunClosedError, match="is closed"):
        bus.publish(Event("B", T0))
    assert tracer.event_count == 1
    assert [t for t, _ in _stored(store, tracer.correlation_id)] == ["A"]


def test_a_closed_tracer_cannot_be_entered_again_or_flushed(
    store: Store, recorder_kind: str
) -> None:
    bus = TracedEventBus("bus")
    tracer = EventTracer(store=store)
    with tracer:
        bus.set_tracer(tracer)
        bus.publish(Event("A", T0))
    with pytest.raises(RunClosedError, match="new EventTracer"), tracer:
        bus.publish(Event("B", T0))
    with pytest.raises(RunClosedError, match="is closed"):
        tracer.flush()
    tracer.close()  # closing twice stays harmless
    assert [t for t, _ in _stored(store, tracer.correlation_id)] == ["A"]


def test_a_deep_payload_is_stored_cut_at_the_limit(store: Store, recorder_kind: str) -> None:
    bus = TracedEventBus("bus")
    with EventTracer(store=store) as tracer:
        bus.set_tracer(tracer)
        bus.publish(Event("DEEP", T0, {"price": 1.5, "tree": _deep(1_000)}))
    ((_, payload),) = _stored(store, tracer.correlation_id)
    stored = json.loads(payload)
    assert stored["price"] == 1.5
    node, levels = stored["tree"], 0
    while "d" in node:
        node, levels = node["d"], levels + 1
    assert "__unencodable__" in node and 200 < levels < 1_000


def test_a_payload_that_holds_itself_is_stored_with_the_cycle_replaced(
    store: Store, recorder_kind: str
) -> None:
    """A book whose levels point back at it twice: encoding it walked every path down to the
    depth limit, 2**254 of them, and the publish never returned. The cycle is replaced where
    it closes, counted, and the rest is stored; a deque is a list."""
    book: dict[str, Any] = {"symbol": "SPY"}
    book["bid"] = {"price": 99.5, "book": book}
    book["ask"] = {"price": 100.5, "book": book}
    bus = TracedEventBus("bus")
    with EventTracer(store=store) as tracer:
        bus.set_tracer(tracer)
        bus.publish(Event("BOOK", T0, {"book": book, "window": deque([1, 2])}))
    ((_, text),) = _stored(store, tracer.correlation_id)
    stored = json.loads(text)
    assert stored["window"] == [1, 2]
    assert (stored["book"]["symbol"], stored["book"]["ask"]["price"]) == ("SPY", 100.5)
    assert stored["book"]["bid"]["book"]["__unencodable__"].startswith("{'symbol': 'SPY', ")
    (counted,) = store.fetch_records("SELECT unencodable_count FROM runs")[0].values()
    assert counted == 2


def test_numpy_arrays_orjson_refuses_are_stored_as_lists(store: Store, recorder_kind: str) -> None:
    """A column of a matrix, a strided slice, text and object arrays and a 0-d array were
    stored as ``{"__unencodable__": repr}``: orjson writes only C-contiguous numeric arrays."""
    bars = np.arange(12.0).reshape(4, 3)
    payload = {
        "closes": bars[:, 2],
        "every_other": bars[::2, 0],
        "transposed": bars[:2, :2].T,
        "symbols": np.array(["SPY", "QQQ"]),
        "mixed": np.array([1, "a", None], dtype=object),
        "scalar": np.array(7),
        "masked": np.ma.masked_array([1, 2], mask=[False, True]),
    }
    bus = TracedEventBus("bus")
    with EventTracer(store=store) as tracer:
        bus.set_tracer(tracer)
        bus.publish(Event("ARRAYS", T0, payload))
    ((_, text),) = _stored(store, tracer.correlation_id)
    assert json.loads(text) == {
        "closes": [2.0, 5.0, 8.0, 11.0],
        "every_other": [0.0, 6.0],
        "transposed": [[0.0, 3.0], [1.0, 4.0]],
        "symbols": ["SPY", "QQQ"],
        "mixed": [1, "a", None],
        "scalar": 7,
        "masked": [1, None],
    }
    (counted,) = store.fetch_records("SELECT unencodable_count FROM runs")[0].values()
    assert counted == 0


def test_only_the_value_json_cannot_hold_is_replaced(store: Store, recorder_kind: str) -> None:
    bus = TracedEventBus("bus")
    payload = {
        "price": 101.25,
        "huge": 2**64,
        "text": "ok\ud800",
        (1, 2): "tuple key",
        1: "int key",
        "1": "str key",
    }
    with EventTracer(store=store) as tracer:
        bus.set_tracer(tracer)
        bus.publish(Event("ODD", T0, payload))
    ((_, text),) = _stored(store, tracer.correlation_id)
    assert text.count('"1"') == 1  # no duplicate keys
    assert json.loads(text) == {
        "price": 101.25,
        "huge": {"__unencodable__": str(2**64)},
        "text": "ok\\ud800",
        "(1, 2)": "tuple key",
        "1": "str key",
        "1 (int)": "int key",
    }
    con = store.cursor()
    price = con.execute("SELECT payload->>'price' FROM events WHERE event_type = 'ODD'").fetchone()
    (counted,) = con.execute(
        "SELECT unencodable_count FROM runs WHERE run_id = ?", [tracer.correlation_id]
    ).fetchone() or (None,)
    con.close()
    assert price == ("101.25",)
    assert counted == 4  # the huge int, the surrogate, the tuple key, the colliding int key


@pytest.mark.parametrize(("pure", "name"), [("1", "pure-Python"), ("", "compiled")])
def test_version_says_which_recorder_is_active(pure: str, name: str) -> None:
    import os
    import subprocess
    import sys

    from eventstore.tracing import implementation

    if not pure and implementation._COMPILED is None and not os.environ.get("CI"):
        pytest.skip("the compiled recorder is not built here")
    env = {**os.environ, "EVENTSTORE_PURE_PYTHON": pure}
    done = subprocess.run(
        [sys.executable, "-m", "eventstore", "--version"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"({name} recorder)" in done.stdout


DROPPED_TRACER = """
import gc
import sys
from datetime import datetime

from eventstore import Event, EventTracer, TracedEventBus, open_store


def trace_a_job():  # store, bus and tracer all dropped unclosed when it returns
    bus = TracedEventBus("jobs")
    bus.set_tracer(EventTracer(store=open_store(sys.argv[1]), name="job"))
    for i in range(100):
        bus.publish(Event("STEP", datetime(2024, 1, 2), {"i": i}))


trace_a_job()
gc.collect()
"""


@pytest.mark.parametrize("pure", ["1", ""])
def test_a_tracer_dropped_unclosed_is_stored_at_exit(tmp_path: Path, pure: str) -> None:
    """A tracer made in a function and never closed was garbage-collected with the events it
    had not written yet, and its run vanished (closed at exit only when it was still
    referenced). Now the exit hook holds it, so its run is stored ``completed``, whole."""
    import os
    import subprocess
    import sys

    db = tmp_path / "runs.duckdb"
    env = {**os.environ, "EVENTSTORE_PURE_PYTHON": pure}
    done = subprocess.run(
        [sys.executable, "-c", DROPPED_TRACER, str(db)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    with open_store(db, read_only=True) as store:
        con = store.cursor()
        runs = con.execute("SELECT name, status, event_count FROM runs").fetchall()
        stored = con.execute("SELECT count(*) FROM events").fetchone()
        con.close()
    assert runs == [("job", "completed", 100)]
    assert stored == (100,)


def test_closing_the_store_first_ends_the_run_with_everything_stored(
    tmp_path: Path, recorder_kind: str
) -> None:
    """Closed out of order (or the tracer never closed): the store ends the run before it
    closes, as closing a file flushes it, instead of the run failing on a closed connection
    and being marked crashed at the next open."""
    db = tmp_path / "runs.duckdb"
    store = open_store(db)
    bus = TracedEventBus("bus")
    tracer = EventTracer(store=store).start()
    bus.set_tracer(tracer)
    bus.publish(Event("A", T0))
    bus.publish(Event("B", T0))
    store.close()
    with pytest.raises(RunClosedError, match=r"is closed \(its tracer was closed, or the store"):
        bus.publish(Event("C", T0))
    tracer.close()  # the program's own close, late: harmless
    with open_store(db) as reopened:
        unused = EventTracer(store=reopened)  # never records: leaves no run behind
        assert [t for t, _ in _stored(reopened, tracer.correlation_id)] == ["A", "B"]
    assert unused.closed
    with open_store(db) as reopened:
        rows = reopened.fetch_records("SELECT run_id, status, event_count FROM runs")
    assert rows == [{"run_id": tracer.correlation_id, "status": "completed", "event_count": 2}]


def test_a_store_closed_by_an_exception_ends_the_run_failed(
    tmp_path: Path, recorder_kind: str
) -> None:
    db = tmp_path / "runs.duckdb"
    bus = TracedEventBus("bus")
    with pytest.raises(ValueError, match="boom"), open_store(db) as store:
        tracer = EventTracer(store=store).start()
        bus.set_tracer(tracer)
        bus.publish(Event("A", T0))
        raise ValueError("boom")
    with open_store(db) as reopened:
        (row,) = reopened.fetch_records("SELECT status, error, event_count FROM runs")
    assert row == {"status": "failed", "error": "ValueError: boom", "event_count": 1}


def test_a_custom_bus_delivering_after_the_run_closed_is_told(
    store: Store, recorder_kind: str
) -> None:
    """A bus of one's own whose run closed with a dispatch still going (an asyncio task not
    awaited): the late delivery raises instead of vanishing; what was recorded in time stays."""
    with EventTracer(store=store) as tracer:
        recorder = tracer.recorder
        frame = recorder.begin(Event("JOB", T0))
        received = recorder.clock()
    with pytest.raises(RunClosedError, match="deliveries recorded after that are not stored"):
        recorder.delivered(frame, "worker", received, recorder.clock())
    recorder.end(frame)
    con = store.cursor()
    try:
        count = con.execute(
            "SELECT count(*) FROM deliveries WHERE run_id = ?", [tracer.correlation_id]
        ).fetchone()
    finally:
        con.close()
    assert [t for t, _ in _stored(store, tracer.correlation_id)] == ["JOB"] and count == (0,)


def test_an_exception_given_as_a_deliverys_error_is_refused_and_the_run_goes_on(
    store: Store, recorder_kind: str
) -> None:
    """Its text is what a delivery stores: an exception object is refused at the call on both
    recorders (the pure-Python one took it, then failed the whole run at the write)."""
    with EventTracer(store=store) as tracer:
        recorder = tracer.recorder
        frame = recorder.begin(Event("JOB", T0))
        received = recorder.clock()
        with pytest.raises(TypeError, match="error must be str or None, not ValueError"):
            recorder.delivered(frame, "worker", received, recorder.clock(), ValueError("x"))
        recorder.delivered(frame, "worker", received, recorder.clock(), "ValueError: x")
        recorder.end(frame)
    assert tracer.status == "completed"
    assert [t for t, _ in _stored(store, tracer.correlation_id)] == ["JOB"]


DEEP_UNDER_A_HIGH_RECURSION_LIMIT = """
import sys
from dataclasses import dataclass
from datetime import datetime

from eventstore import Event, EventTracer, TracedEventBus, open_store


@dataclass
class Node:
    value: int
    next: "Node | None" = None


sys.setrecursionlimit(1_000_000)
chain = None
for i in range(200_000):
    chain = Node(i, chain)
tree = {"leaf": 1}
for _ in range(200_000):
    tree = {"d": tree}
nested = []
for _ in range(200_000):
    nested = [nested]
bus = TracedEventBus("bus")
with EventTracer(store=open_store(sys.argv[1]), name="deep") as tracer:
    bus.set_tracer(tracer)
    bus.publish(Event("DEEP", datetime(2024, 1, 2), {"price": 1.5, "tree": tree}))
    bus.publish(Event("DEEP", datetime(2024, 1, 2), {"price": 2.5, "list": nested}))
    bus.publish(Event("DEEP", datetime(2024, 1, 2), {"price": 3.5, "chain": chain}))
"""


@pytest.mark.parametrize("pure", ["1", ""])
def test_a_deep_payload_under_a_high_recursion_limit_is_cut_not_a_crash(
    tmp_path: Path, pure: str
) -> None:
    """A program that raised Python's recursion limit published a payload nested 200 000
    levels deep (dicts, lists, a chain of dataclass nodes): the process died of a segfault (the
    text of the replaced value was the builtin repr, which recursed in C as deep as the limit
    allowed), losing the run; a chain of nodes was not cut at the depth limit at all. The value
    is cut at the limit, as under the default limit, counted, and the rest of the payload is
    stored."""
    import subprocess
    import sys

    db = tmp_path / "runs.duckdb"
    done = subprocess.run(
        [sys.executable, "-c", DEEP_UNDER_A_HIGH_RECURSION_LIMIT, str(db)],
        capture_output=True,
        text=True,
        env={**os.environ, "EVENTSTORE_PURE_PYTHON": pure},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    with open_store(db, read_only=True) as store:
        (run_id,) = store.fetch_records("SELECT run_id FROM runs")[0].values()
        tree, nested, chain = (json.loads(payload) for _, payload in _stored(store, run_id))
        (counted,) = store.fetch_records("SELECT unencodable_count FROM runs")[0].values()
    assert (tree["price"], nested["price"], chain["price"], counted) == (1.5, 2.5, 3.5, 3)
    node, levels = tree["tree"], 0
    while "d" in node:
        node, levels = node["d"], levels + 1
    assert node["__unencodable__"].startswith("{'d': {'d': ") and 200 < levels < 1_000
    item, levels = nested["list"], 0
    while isinstance(item, list):
        item, levels = item[0], levels + 1
    assert item["__unencodable__"].startswith("[[[") and 200 < levels < 1_000
    node, levels = chain["chain"], 0
    while "next" in node:
        node, levels = node["next"], levels + 1
    assert node["__unencodable__"].startswith("Node(value=") and 200 < levels < 1_000


class Unprintable(Exception):
    """An exception whose ``str()`` raises (a broken ``__str__`` of a library's error)."""

    def __str__(self) -> str:
        raise ValueError("no text")


def test_a_handler_error_whose_str_raises_is_recorded_and_ends_the_run(
    store: Store, recorder_kind: str
) -> None:
    """Describing the error raised again: on the pure recorder the publish failed with that
    ``ValueError`` (even for a bus that logs handler errors), and with either recorder a run
    the error escaped stayed ``running``. The error is described as the interpreter does."""

    def broken(event: Event) -> None:
        raise Unprintable

    logging_bus = TracedEventBus("logging", on_handler_error="log")
    logging_bus.subscribe("A", broken)
    logging_bus.subscribe("A", lambda event: None)
    raising_bus = TracedEventBus("raising")
    raising_bus.subscribe("A", broken)
    with EventTracer(store=store, name="logged") as logged:
        logging_bus.set_tracer(logged)
        logging_bus.publish(Event("A", T0))
    with pytest.raises(Unprintable), EventTracer(store=store, name="raised") as raised:
        raising_bus.set_tracer(raised)
        raising_bus.publish(Event("A", T0))
    runs = store.fetch_records("SELECT name, status, error FROM runs ORDER BY run_no")
    assert [tuple(run.values()) for run in runs] == [
        ("logged", "completed", None),
        ("raised", "failed", "Unprintable: <exception str() failed>"),
    ]
    errors = store.fetch_records("SELECT error FROM deliveries ORDER BY run_no, seq, received_ns")
    assert [row["error"] for row in errors] == [
        "Unprintable: <exception str() failed>",
        None,
        "Unprintable: <exception str() failed>",
    ]


class BrokenZone(tzinfo):
    """A time zone whose ``utcoffset`` raises (a zone database that failed to load)."""

    def utcoffset(self, dt: datetime | None) -> timedelta:
        raise ValueError("zone data missing")


def test_an_event_time_whose_zone_raises_is_stored_null(store: Store, recorder_kind: str) -> None:
    """On the pure recorder the batch holding it failed, and with it the run: every event
    was lost. Its time is stored null, as the compiled recorder did, and the rest as usual."""
    bus = TracedEventBus("bus")
    with EventTracer(store=store) as tracer:
        bus.set_tracer(tracer)
        bus.publish(Event("BROKEN", datetime(2024, 1, 2, tzinfo=BrokenZone())))
        bus.publish(Event("AWARE", datetime(2024, 1, 2, 9, tzinfo=timezone(timedelta(hours=2)))))
    rows = store.fetch_records("SELECT event_type, sim_time FROM events ORDER BY seq")
    assert [tuple(row.values()) for row in rows] == [
        ("BROKEN", None),
        ("AWARE", datetime(2024, 1, 2, 7)),
    ]
    (status,) = store.fetch_records("SELECT status FROM runs")[0].values()
    assert status == "completed"


def test_a_numpy_datetime64_event_time_is_stored_as_its_time(
    store: Store, recorder_kind: str
) -> None:
    """A loop over a numpy array of times publishes ``np.datetime64`` values: they were stored
    as NULL, so `compare` and the equity curve lost the run's time. Each unit is read as the
    UTC time it counts (to the microsecond), NaT and years past 9999 as null, on both
    recorders."""
    times = np.array(["2024-01-02T09:30", "2024-01-02T09:31:00.123456789", "NaT"], "M8[ns]")
    bus = TracedEventBus("bus")
    with EventTracer(store=store) as tracer:
        bus.set_tracer(tracer)
        for time in times:
            bus.publish(Event("BAR", time))  # type: ignore[arg-type]
        bus.publish(Event("DAY", np.datetime64("2024-01-03")))  # type: ignore[arg-type]
        bus.publish(Event("FAR", np.datetime64(300_000 * 365, "D")))  # type: ignore[arg-type]
    rows = store.fetch_records("SELECT sim_time::VARCHAR AS t FROM events ORDER BY seq")
    assert [row["t"] for row in rows] == [
        "2024-01-02 09:30:00",
        "2024-01-02 09:31:00.123456",
        None,
        "2024-01-03 00:00:00",
        None,  # beyond the years a datetime holds: null, not a failed run
    ]
    (status,) = store.fetch_records("SELECT status FROM runs")[0].values()
    assert status == "completed"


def test_a_clock_reading_the_store_cannot_hold_is_refused_where_it_is_passed(
    store: Store, recorder_kind: str
) -> None:
    """The pure recorder accepted a reading beyond 64 bits, or a bool, and the batch holding
    the delivery failed at the end of the run, losing every event in it. As the compiled
    recorder, it refuses the first at the call and reads a bool as the int it is."""
    with EventTracer(store=store) as tracer:
        recorder = tracer.recorder
        frame = recorder.begin(Event("TICK", T0), "feed")
        with pytest.raises(OverflowError, match="processed_ns 9223372036854775808 is too big"):
            recorder.delivered(frame, "handler", 0, 2**63)
        recorder.delivered(frame, "handler", False, True)
        recorder.end(frame)
    rows = store.fetch_records("SELECT handler, self_ns FROM deliveries")
    assert [tuple(row.values()) for row in rows] == [("handler", 1)]
    (status,) = store.fetch_records("SELECT status FROM runs")[0].values()
    assert status == "completed"
