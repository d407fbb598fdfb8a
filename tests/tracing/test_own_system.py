"""A system of the user's own traced as the README's "Tracing your own system" says, on both
recorders: its own event types, its own handlers, its own error policy, stored in a real
DuckDB file and read back as the user would."""

from __future__ import annotations

import contextvars
import dataclasses
import enum
import json
import logging
import threading
from datetime import UTC, datetime, time
from decimal import Decimal
from types import MappingProxyType

import numpy as np
import pydantic
import pytest

from eventstore import Event, EventBus, EventTracer, Store, TracedEventBus

T0 = datetime(2024, 3, 1, 9, 30)


class Kind(str, enum.Enum):  # noqa: UP042 (the point of the test)
    """Event types as many codebases declare them: a str mixin, whose ``str()`` is
    ``Kind.NEW_ORDER`` (not its value) since Python 3.11."""

    NEW_ORDER = "NEW_ORDER"
    ROUTED = "ROUTED"


class Order(pydantic.BaseModel):
    id: int
    px: Decimal
    placed: datetime


def _rows(store: Store, sql: str, run_id: str) -> list[tuple[object, ...]]:
    con = store.cursor()
    try:
        return con.execute(sql, [run_id]).fetchall()
    finally:
        con.close()


def test_str_enum_event_types_are_dispatched_and_stored_by_value(
    store: Store, recorder_kind: str
) -> None:
    """Handlers subscribed with a ``(str, Enum)`` member get the events published with it (they
    were never called: the bus keyed them by ``Kind.NEW_ORDER``), and the store names the
    type by its value, as it does a ``StrEnum``'s, so ``"NEW_ORDER"`` is the same type."""
    bus = TracedEventBus("router")
    handled: list[str] = []

    def route(event: Event) -> None:
        handled.append(event.payload["id"])
        bus.publish(Event(Kind.ROUTED, event.timestamp, {"id": event.payload["id"]}))

    bus.subscribe(Kind.NEW_ORDER, route)
    bus.subscribe("ROUTED", lambda event: handled.append("routed"))
    with EventTracer(store=store) as tracer:
        bus.set_tracer(tracer)
        bus.publish(Event(Kind.NEW_ORDER, T0, {"id": "o1"}), source="gateway")
        bus.publish(Event("NEW_ORDER", T0, {"id": "o2"}), source="gateway")
    assert handled == ["o1", "routed", "o2", "routed"]
    rows = _rows(
        store,
        "SELECT event_type, causation_id IS NOT NULL FROM events WHERE run_id = ? ORDER BY seq",
        tracer.correlation_id,
    )
    assert rows == [("NEW_ORDER", False), ("ROUTED", True)] * 2
    assert bus.handlers("NEW_ORDER") == bus.handlers(Kind.NEW_ORDER) == (route,)


def test_an_event_type_that_is_no_string_is_refused_at_subscribe() -> None:
    """A plain ``Enum`` member (or any non-string) can never match a published event's type:
    subscribing it is the same clear error publishing it is, not a handler never called."""

    class Plain(enum.Enum):
        TICK = 1

    for bus in (EventBus("plain"), TracedEventBus("traced")):
        with pytest.raises(TypeError, match=r"event_type must be a string .* got <Plain.TICK"):
            bus.subscribe(Plain.TICK, lambda event: None)  # type: ignore[arg-type]


def test_logging_a_handler_error_is_not_timed_as_the_next_handler(
    store: Store, recorder_kind: str
) -> None:
    """With ``on_handler_error="log"``, the time spent logging a failed handler's error was
    recorded as the next handler's receipt-to-return time: a handler that did nothing looked
    slow. The next handler is received after the log line is written."""
    bus = TracedEventBus("venues", on_handler_error="log")
    logged_at: list[int] = []

    class Stamp(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logged_at.append(tracer.recorder.clock() - tracer.recorder.origin_ns)

    def venue_a(event: Event) -> None:
        raise RuntimeError("venue A is down")

    def venue_b(event: Event) -> None:
        pass

    bus.subscribe("ROUTED", venue_a)
    bus.subscribe("ROUTED", venue_b)
    stamp = Stamp()
    logger = logging.getLogger("eventstore.tracing.traced_bus")
    logger.addHandler(stamp)
    try:
        with EventTracer(store=store) as tracer:
            bus.set_tracer(tracer)
            bus.publish(Event("ROUTED", T0, {"id": 7}))
    finally:
        logger.removeHandler(stamp)
    rows = _rows(
        store,
        "SELECT handler, received_ns, processed_ns, error FROM deliveries WHERE run_id = ? "
        "ORDER BY received_ns",
        tracer.correlation_id,
    )
    assert [(handler.rsplit(".", 1)[1], error is not None) for handler, _, _, error in rows] == [
        ("venue_a", True),
        ("venue_b", False),
    ]
    (_, _, failed_done, _), (_, b_received, _, _) = rows
    assert len(logged_at) == 1
    assert failed_done <= logged_at[0] <= b_received


def test_pydantic_models_and_zoned_times_are_stored_as_values(
    store: Store, recorder_kind: str
) -> None:
    """A pydantic model (in a payload, or as the payload) is stored as its fields and a
    ``time`` with a zone as its ISO text, queryable like the rest; both were replaced by
    their repr and counted as unencodable."""
    order = Order(id=7, px=Decimal("101.25"), placed=datetime(2024, 3, 1, 9, 30))
    bus = TracedEventBus("orders")
    with EventTracer(store=store) as tracer:
        bus.set_tracer(tracer)
        bus.publish(Event("NEW_ORDER", T0, {"order": order, "cutoff": time(16, 0, tzinfo=UTC)}))
        bus.publish(Event("NEW_ORDER", T0, order))  # type: ignore[arg-type]
    rows = _rows(
        store,
        "SELECT payload, payload->>'$.order.px' FROM events WHERE run_id = ? ORDER BY seq",
        tracer.correlation_id,
    )
    fields = {"id": 7, "px": "101.25", "placed": "2024-03-01T09:30:00"}
    assert [json.loads(payload) for payload, _ in rows] == [
        {"order": fields, "cutoff": "16:00:00+00:00"},
        fields,
    ]
    assert rows[0][1] == "101.25"
    (counted,) = _rows(
        store, "SELECT unencodable_count FROM runs WHERE run_id = ?", tracer.correlation_id
    )
    assert counted == (0,)


def test_an_error_without_a_message_is_named_without_a_dangling_colon(
    store: Store, recorder_kind: str
) -> None:
    """``raise RuntimeError()`` in a handler is recorded as ``RuntimeError``, on the delivery
    and on the failed run alike (the delivery said ``RuntimeError: ``)."""
    bus = TracedEventBus("bus")

    def fail(event: Event) -> None:
        raise RuntimeError()

    bus.subscribe("A", fail)
    with pytest.raises(RuntimeError), EventTracer(store=store) as tracer:
        bus.set_tracer(tracer)
        bus.publish(Event("A", T0, {}))
    delivered = _rows(store, "SELECT error FROM deliveries WHERE run_id = ?", tracer.correlation_id)
    run = _rows(store, "SELECT status, error FROM runs WHERE run_id = ?", tracer.correlation_id)
    assert (delivered, run) == ([("RuntimeError",)], [("failed", "RuntimeError")])


def test_a_thread_a_handler_starts_has_the_cause_only_in_its_context(
    store: Store, recorder_kind: str
) -> None:
    """As the README says: a plain thread started by a handler publishes roots; one running in
    ``contextvars.copy_context()`` publishes events caused by the handled event."""
    bus = TracedEventBus("jobs")
    threads: list[threading.Thread] = []

    def later(event: Event, how: str) -> None:
        bus.publish(Event(how, event.timestamp))

    def on_job(event: Event) -> None:
        threads.append(threading.Thread(target=later, args=(event, "PLAIN")))
        context = contextvars.copy_context()
        threads.append(threading.Thread(target=context.run, args=(later, event, "IN_CONTEXT")))
        for thread in threads:
            thread.start()

    bus.subscribe("JOB", on_job)
    with EventTracer(store=store) as tracer:
        bus.set_tracer(tracer)
        bus.publish(Event("JOB", T0))
        for thread in threads:
            thread.join()
    rows = _rows(
        store,
        "SELECT event_type, causation_id FROM events WHERE run_id = ? ORDER BY event_type",
        tracer.correlation_id,
    )
    assert rows == [("IN_CONTEXT", f"{tracer.tag}-1"), ("JOB", None), ("PLAIN", None)]


@dataclasses.dataclass
class Execution:
    venue: str
    qty: int
    trace: object


def test_one_bad_field_of_a_dataclass_or_model_leaves_the_others_queryable(
    store: Store, recorder_kind: str
) -> None:
    """A dataclass or pydantic model with one value JSON can't hold was replaced whole by its
    repr; now only that field is, and the rest stays queryable. A read-only mapping and a
    numpy ``timedelta64`` (seconds, as a ``timedelta``) are stored as values, not replaced."""
    bus = TracedEventBus("venues")
    with EventTracer(store=store) as tracer:
        bus.set_tracer(tracer)
        bus.publish(Event("EXEC", T0, {"exec": Execution("A", 100, 2**70)}))
        bus.publish(Event("EXEC", T0, {"order": Order(id=2**70, px=Decimal(1), placed=T0)}))
        held = {"limits": MappingProxyType({"qty": 5}), "held": np.timedelta64(1500, "ms")}
        bus.publish(Event("HELD", T0, held))
    rows = _rows(
        store,
        "SELECT payload, payload->>'$.exec.venue' FROM events WHERE run_id = ? ORDER BY seq",
        tracer.correlation_id,
    )
    big = {"__unencodable__": str(2**70)}
    assert [json.loads(payload) for payload, _ in rows] == [
        {"exec": {"venue": "A", "qty": 100, "trace": big}},
        {"order": {"id": big, "px": "1", "placed": "2024-03-01T09:30:00"}},
        {"limits": {"qty": 5}, "held": 1.5},
    ]
    assert rows[0][1] == "A"
    (counted,) = _rows(
        store, "SELECT unencodable_count FROM runs WHERE run_id = ?", tracer.correlation_id
    )
    assert counted == (2,)
