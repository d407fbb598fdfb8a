"""``TracedEventBus.publish`` as the compiled recorder's ``Publisher``: with the compiled
recorder, ``set_tracer`` makes ``bus.publish`` one C callable (no Python frame of the bus on the
fast path). It must behave exactly as the Python method it replaces."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from datetime import datetime
from types import FrameType
from typing import Any

import pytest

from eventstore import Event, EventBus, EventTracer, RunClosedError, Store, TracedEventBus
from eventstore.tracing import implementation

T0 = datetime(2024, 1, 2, 9, 30)


@pytest.fixture(autouse=True)
def compiled_only() -> None:
    if implementation._COMPILED is None:
        pytest.skip("the compiled recorder is not built (or EVENTSTORE_PURE_PYTHON is set)")


@pytest.fixture
def tracer(store: Store) -> Iterator[EventTracer]:
    with EventTracer(store=store) as traced:
        yield traced


def _rows(store: Store, sql: str, run_id: str) -> list[tuple[Any, ...]]:
    con = store.cursor()
    try:
        return con.execute(sql, [run_id]).fetchall()
    finally:
        con.close()


def _events(store: Store, run_id: str) -> list[tuple[Any, ...]]:
    """(event_type, source, causation event_type or None) in seq order."""
    return _rows(
        store,
        """SELECT e.event_type, e.source, c.event_type FROM events e
           LEFT JOIN events c ON c.run_id = e.run_id AND c.event_id = e.causation_id
           WHERE e.run_id = ? ORDER BY e.seq""",
        run_id,
    )


def _deliveries(store: Store, run_id: str) -> list[tuple[Any, ...]]:
    return _rows(
        store,
        """SELECT e.event_type, d.handler, d.error FROM deliveries d
           JOIN events e ON e.run_id = d.run_id AND e.event_id = d.event_id
           WHERE d.run_id = ? ORDER BY d.seq, d.received_ns""",
        run_id,
    )


def test_set_tracer_installs_the_compiled_publisher_and_none_removes_it() -> None:
    bus = TracedEventBus("bus")
    with EventTracer() as tracer:
        bus.set_tracer(tracer)
        assert type(bus.publish).__name__ == "Publisher"
        bus.set_tracer(None)
        assert "publish" not in vars(bus)
        assert bus.publish.__func__ is TracedEventBus.publish  # type: ignore[attr-defined]


def test_causation_and_sources_positional_and_keyword(store: Store, tracer: EventTracer) -> None:
    bus = TracedEventBus("bus")
    bus.set_tracer(tracer)
    bus.subscribe("SIGNAL", lambda e: bus.publish(Event("ORDER", T0), source="risk"))
    bus.subscribe("ORDER", lambda e: bus.publish(Event("FILL", T0), "broker"))
    bus.publish(Event("SIGNAL", T0), source="strategy")
    bus.publish(Event("SIGNAL", T0))
    tracer.close()  # its rows are queryable once the run ends (or at a bulk load)
    assert _events(store, tracer.correlation_id) == [
        ("SIGNAL", "strategy", None),
        ("ORDER", "risk", "SIGNAL"),
        ("FILL", "broker", "ORDER"),
        ("SIGNAL", None, None),
        ("ORDER", "risk", "SIGNAL"),
        ("FILL", "broker", "ORDER"),
    ]


def test_named_causes_are_recorded(store: Store, tracer: EventTracer) -> None:
    bus = TracedEventBus("bus")
    bus.set_tracer(tracer)
    seen: list[str] = []
    bus.subscribe("FILL", lambda e: seen.append(e.event_type))
    order, bar = Event("ORDER", T0), Event("BAR", T0)
    bus.publish(order, "risk")
    bus.publish(bar, "feed")
    bus.publish(Event("FILL", T0), "broker", caused_by=order, parents=[("priced_by", bar)])
    bus.publish(Event("FILL", T0), source="broker", parents=(("priced_by", bar),))
    tracer.close()  # its rows are queryable once the run ends (or at a bulk load)
    assert seen == ["FILL", "FILL"]
    assert _events(store, tracer.correlation_id)[2:] == [
        ("FILL", "broker", "ORDER"),
        ("FILL", "broker", None),
    ]
    edges = _rows(
        store,
        """SELECT p.event_type, c.seq, kind FROM lineage_edges l
           JOIN events p ON p.run_id = l.run_id AND p.event_id = l.parent_id
           JOIN events c ON c.run_id = l.run_id AND c.event_id = l.child_id
           WHERE l.run_id = ? ORDER BY c.seq, kind""",
        tracer.correlation_id,
    )
    assert edges == [("ORDER", 3, "caused_by"), ("BAR", 3, "priced_by"), ("BAR", 4, "priced_by")]


def test_a_publish_with_named_causes_runs_no_python_code(tracer: EventTracer) -> None:
    """Named causes are resolved, remembered and walked up in C: no Python function runs."""
    bus = TracedEventBus("bus")
    bus.set_tracer(tracer)
    order, bar = Event("ORDER", T0), Event("BAR", T0)
    bus.publish(order, "broker")  # names the source once (a Python hook)
    bus.publish(bar, "broker")
    calls: list[str] = []

    def profile(frame: FrameType, kind: str, arg: object) -> None:
        if kind == "call":
            calls.append(f"{frame.f_code.co_filename}:{frame.f_code.co_name}")

    fills = [Event("FILL", T0) for _ in range(3)]
    order_id = order.event_id
    sys.setprofile(profile)
    try:
        bus.publish(fills[0], "broker", caused_by=order, parents=[("priced_by", bar)])
        bus.publish(fills[1], "broker", caused_by=order_id)
        bus.publish(fills[2], "broker", parents=(("priced_by", fills[0]),))
    finally:
        sys.setprofile(None)
    assert calls == []
    assert tracer.event_count == 5 and tracer.lineage_exact


def test_bad_named_causes_are_clear_errors(tracer: EventTracer) -> None:
    bus = TracedEventBus("bus")
    bus.set_tracer(tracer)
    bar = Event("BAR", T0)
    bus.publish(bar)
    stranger = Event("BAR", T0)
    with pytest.raises(ValueError, match="never published, so it has no event_id: publish it"):
        bus.publish(Event("FILL", T0), caused_by=stranger)
    with pytest.raises(ValueError, match="parent 'x-1' is not an event of run"):
        bus.publish(Event("FILL", T0), parents=[("priced_by", "x-1")])
    with pytest.raises(ValueError, match="kind must be a non-empty string, got ''"):
        bus.publish(Event("FILL", T0), caused_by=bar, parents=[("", bar)])
    assert tracer.event_count == 1 and tracer.lineage_exact


def test_ancestors_of_a_named_cause_bound_its_descendants(store: Store) -> None:
    """A FILL caused by the ORDER of an earlier BAR: that ORDER, its SIGNAL and their BAR get an
    end_seq reaching the FILL's own child, although they left the buffer (batches of 2) and
    are found in the tracer's ring."""
    bus = TracedEventBus("bus")
    orders: list[Event] = []

    def on_bar(bar: Event) -> None:
        if orders:  # filled on the next bar
            fill = Event("FILL", T0)
            bus.publish(fill, "broker", caused_by=orders.pop(), parents=[("priced_by", bar)])
        else:
            bus.publish(Event("SIGNAL", T0), "strategy")

    def on_signal(signal: Event) -> None:
        orders.append(Event("ORDER", T0))
        bus.publish(orders[-1], "risk")

    bus.subscribe("BAR", on_bar)
    bus.subscribe("SIGNAL", on_signal)
    bus.subscribe("FILL", lambda fill: bus.publish(Event("BOOKED", T0), "portfolio"))
    with EventTracer(store=store, batch_size=2) as tracer:
        bus.set_tracer(tracer)
        bus.publish(Event("BAR", T0), "feed")  # 1 → SIGNAL 2 → ORDER 3
        bus.publish(Event("BAR", T0), "feed")  # 4 → FILL 5 → BOOKED 6
    assert tracer.lineage_exact
    rows = _rows(
        store, "SELECT seq, root_seq, end_seq FROM events WHERE run_id = ?", tracer.correlation_id
    )
    assert {seq: (root, end) for seq, root, end in rows} == {
        1: (1, 6),
        2: (1, 6),
        3: (1, 6),
        4: (4, 6),
        5: (1, 6),
        6: (1, 6),
    }


def test_a_named_cause_gone_from_the_ring_makes_lineage_inexact(store: Store) -> None:
    bus = TracedEventBus("bus")
    first = Event("TICK", T0)
    with EventTracer(store=store, ring_size=3, batch_size=2) as tracer:
        bus.set_tracer(tracer)
        bus.publish(first)
        for _ in range(7):
            bus.publish(Event("TICK", T0))
        assert tracer.lineage_exact
        bus.publish(Event("LATE", T0), caused_by=first)
        assert not tracer.lineage_exact
    # the store recomputes the bounds from the whole lineage at the run's end
    exact = _rows(store, "SELECT lineage_exact FROM runs WHERE run_id = ?", tracer.correlation_id)
    assert exact == [(True,)]


def test_subscriptions_after_set_tracer_take_effect(store: Store, tracer: EventTracer) -> None:
    bus = TracedEventBus("bus")
    bus.set_tracer(tracer)
    calls: list[str] = []

    def first(event: Event) -> None:
        calls.append("first")

    def second(event: Event) -> None:
        calls.append("second")

    bus.publish(Event("BAR", T0))
    bus.subscribe("BAR", first)
    bus.publish(Event("BAR", T0))
    bus.subscribe("BAR", second)
    bus.publish(Event("BAR", T0))
    bus.unsubscribe("BAR", first)
    bus.publish(Event("BAR", T0))
    assert calls == ["first", "first", "second", "second"]
    tracer.close()  # its rows are queryable once the run ends (or at a bulk load)
    assert [h.rsplit(".", 1)[-1] for _, h, _ in _deliveries(store, tracer.correlation_id)] == [
        "first",
        "first",
        "second",
        "second",
    ]


def test_set_tracer_none_publishes_untraced(store: Store, tracer: EventTracer) -> None:
    bus = TracedEventBus("bus")
    seen: list[Event] = []
    bus.subscribe("BAR", seen.append)
    bus.set_tracer(tracer)
    bus.publish(Event("BAR", T0))
    bus.set_tracer(None)
    untraced = Event("BAR", T0)
    bus.publish(untraced)
    assert len(seen) == 2 and "event_id" not in untraced.metadata
    assert tracer.event_count == 1


def test_a_subclass_overriding_publish_is_still_called(store: Store, tracer: EventTracer) -> None:
    class CountingBus(TracedEventBus):
        published = 0

        def publish(self, event: Event, source: object = None, **links: Any) -> None:
            self.published += 1
            super().publish(event, source, **links)

    bus = CountingBus("bus")
    bus.set_tracer(tracer)
    bus.subscribe("SIGNAL", lambda e: bus.publish(Event("ORDER", T0), "risk"))
    bus.publish(Event("SIGNAL", T0), "strategy")
    assert bus.published == 2
    tracer.close()  # its rows are queryable once the run ends (or at a bulk load)
    assert _events(store, tracer.correlation_id) == [
        ("SIGNAL", "strategy", None),
        ("ORDER", "risk", "SIGNAL"),
    ]


def test_a_closed_tracer_refuses_events(store: Store) -> None:
    bus = TracedEventBus("bus")
    order = Event("ORDER", T0)
    with EventTracer(store=store) as tracer:
        bus.set_tracer(tracer)
        bus.publish(order)
    with pytest.raises(RunClosedError, match="is closed"):
        bus.publish(Event("BAR", T0), "feed")
    with pytest.raises(RunClosedError, match="is closed"):
        bus.publish(Event("FILL", T0), caused_by=order)
    assert [t for t, _, _ in _events(store, tracer.correlation_id)] == ["ORDER"]


def test_handler_errors_propagate_and_are_recorded(store: Store, tracer: EventTracer) -> None:
    bus = TracedEventBus("bus")
    bus.set_tracer(tracer)

    def broken(event: Event) -> None:
        raise ValueError("bad bar")

    bus.subscribe("BAR", broken)
    with pytest.raises(ValueError, match="bad bar"):
        bus.publish(Event("BAR", T0))
    tracer.close()  # its rows are queryable once the run ends (or at a bulk load)
    ((_, _, error),) = _deliveries(store, tracer.correlation_id)
    assert error == "ValueError: bad bar"


def test_handler_errors_are_logged_when_the_bus_logs_them(
    store: Store, tracer: EventTracer, caplog: pytest.LogCaptureFixture
) -> None:
    bus = TracedEventBus("bus", on_handler_error="log")
    bus.set_tracer(tracer)
    after: list[Event] = []

    def broken(event: Event) -> None:
        raise ValueError("bad bar")

    bus.subscribe("BAR", broken)
    bus.subscribe("BAR", after.append)
    with caplog.at_level(logging.ERROR):
        bus.publish(Event("BAR", T0))
    assert len(after) == 1
    assert "failed on BAR event; continuing" in caplog.text
    tracer.close()  # its rows are queryable once the run ends (or at a bulk load)
    errors = [error for _, _, error in _deliveries(store, tracer.correlation_id)]
    assert errors == ["ValueError: bad bar", None]


def test_wrong_arguments_are_type_errors_as_for_the_method(tracer: EventTracer) -> None:
    bus = TracedEventBus("bus")
    bus.set_tracer(tracer)
    with pytest.raises(TypeError, match="unexpected keyword argument 'sauce'"):
        bus.publish(Event("BAR", T0), sauce="feed")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="multiple values"):
        bus.publish(Event("BAR", T0), "feed", source="feed")  # type: ignore[misc]
    with pytest.raises(TypeError, match="positional"):
        bus.publish()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"publish takes an Event .*got str"):
        bus.publish("not an event")  # type: ignore[arg-type]
    assert tracer.event_count == 0


def test_the_publisher_matches_the_untraced_bus_on_str_and_enum_types(
    tracer: EventTracer,
) -> None:
    """Handlers subscribed by enum member or by its text are found either way."""
    from eventstore import EventType

    bus, plain = TracedEventBus("bus"), EventBus("plain")
    got: list[str] = []
    for b in (bus, plain):
        b.subscribe(EventType.BAR, lambda e: got.append(f"enum {e.event_type}"))
        b.subscribe("BAR", lambda e: got.append(f"text {e.event_type}"))
    bus.set_tracer(tracer)
    for b in (bus, plain):
        b.publish(Event(EventType.BAR, T0))
        b.publish(Event("BAR", T0))
    assert got[:4] == got[4:] and len(got) == 8
