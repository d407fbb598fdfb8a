"""The original plan's two tests, ported, plus the tracer's in-memory promises."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from eventstore import Event, EventTracer, EventType, TracedEventBus, UniversalContainer


def test_event_lineage() -> None:
    tracer = EventTracer()
    bus = TracedEventBus("test_bus")
    bus.set_tracer(tracer)
    strategy_container = UniversalContainer(name="StrategyContainer", event_bus=bus)
    risk_container = UniversalContainer(name="RiskContainer", event_bus=bus)
    received_events: list[Event] = []

    def risk_handler(event: Event) -> None:
        received_events.append(event)
        order = Event(EventType.ORDER, datetime.now(), {"action": "BUY", "quantity": 100})
        bus.publish(order, source=risk_container)

    bus.subscribe(EventType.SIGNAL, risk_handler)
    signal = Event(EventType.SIGNAL, datetime.now(), {"symbol": "SPY", "strength": 0.8})
    bus.publish(signal, source=strategy_container)

    assert len(tracer.traced_events) == 2
    signal_traced, order_traced = tracer.traced_events
    assert order_traced.causation_id == signal_traced.event_id
    assert signal_traced.causation_id is None
    assert signal_traced.source_container == "StrategyContainer"
    assert order_traced.source_container == "RiskContainer"
    assert signal_traced.correlation_id == order_traced.correlation_id == tracer.correlation_id
    assert received_events == [signal]
    assert signal.metadata["event_id"] == signal_traced.event_id


def test_latency_tracking() -> None:
    tracer = EventTracer()
    bus = TracedEventBus("test_bus")
    bus.set_tracer(tracer)
    container = UniversalContainer(name="TestContainer", event_bus=bus)
    bus.subscribe(EventType.BAR, lambda event: time.sleep(0.05))

    bus.publish(Event(EventType.BAR, datetime.now(), {"price": 100}), source=container)

    traced = tracer.traced_events[0]
    assert traced.latency_ms >= 50
    assert traced.created_at <= traced.emitted_at <= traced.received_at  # type: ignore[operator]
    assert traced.received_at < traced.processed_at  # type: ignore[operator]


def test_events_without_source_or_handlers_are_traced() -> None:
    tracer = EventTracer()
    bus = TracedEventBus("bus")
    bus.set_tracer(tracer)

    bus.publish(Event("HEARTBEAT", datetime(2024, 1, 2), {}))

    (traced,) = tracer.traced_events
    assert traced.event_type == "HEARTBEAT"
    assert traced.source_container is None
    assert traced.latency_ms == 0.0


def test_ring_and_index_are_bounded() -> None:
    tracer = EventTracer(ring_size=100)
    bus = TracedEventBus("bus")
    bus.set_tracer(tracer)
    events = [Event(EventType.BAR, datetime(2024, 1, 2), {"i": i}) for i in range(250)]
    for event in events:
        bus.publish(event)

    assert len(tracer.traced_events) == 100
    assert [t.data["i"] for t in tracer.traced_events] == list(range(150, 250))
    assert len(tracer.event_index) == 100
    assert events[0].event_id not in tracer.event_index
    assert tracer.event_index[events[-1].event_id or ""].sequence_number == 250
    assert tracer.event_count == 250


def test_sequence_numbers_are_gapless_in_publish_order() -> None:
    tracer = EventTracer()
    bus = TracedEventBus("bus")
    bus.set_tracer(tracer)
    bus.subscribe(EventType.BAR, lambda e: bus.publish(Event(EventType.SIGNAL, e.timestamp, {})))
    for _ in range(5):
        bus.publish(Event(EventType.BAR, datetime(2024, 1, 2), {}))

    traced = list(tracer.traced_events)
    assert [t.sequence_number for t in traced] == list(range(1, 11))
    assert [t.event_type for t in traced] == ["BAR", "SIGNAL"] * 5


def test_trace_event_outside_a_bus() -> None:
    tracer = EventTracer()
    first = tracer.trace_event(Event(EventType.SIGNAL, datetime(2024, 1, 2), {"x": 1}), "Strat")
    second = tracer.trace_event(
        Event(EventType.ORDER, datetime(2024, 1, 2), {}), "Risk", causation_id=first.event_id
    )
    assert first.source_container == "Strat"
    assert second.causation_id == first.event_id
    assert second.sequence_number == first.sequence_number + 1


def test_handler_error_is_reraised_by_default() -> None:
    tracer = EventTracer()
    bus = TracedEventBus("bus")
    bus.set_tracer(tracer)
    calls: list[str] = []

    def broken(event: Event) -> None:
        raise RuntimeError("boom")

    bus.subscribe(EventType.BAR, broken)
    bus.subscribe(EventType.BAR, lambda e: calls.append("second"))
    with pytest.raises(RuntimeError, match="boom"):
        bus.publish(Event(EventType.BAR, datetime(2024, 1, 2), {}))
    assert calls == []


def test_handler_error_can_be_logged_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    tracer = EventTracer()
    bus = TracedEventBus("bus", on_handler_error="log")
    bus.set_tracer(tracer)
    calls: list[str] = []

    def broken(event: Event) -> None:
        raise RuntimeError("boom")

    bus.subscribe(EventType.BAR, broken)
    bus.subscribe(EventType.BAR, lambda e: calls.append("second"))
    bus.publish(Event(EventType.BAR, datetime(2024, 1, 2), {}))
    assert calls == ["second"]
    assert "boom" in caplog.text


def test_named_parent_must_belong_to_the_run() -> None:
    tracer = EventTracer()
    bus = TracedEventBus("bus")
    bus.set_tracer(tracer)
    stranger = Event(EventType.BAR, datetime(2024, 1, 2), {})
    with pytest.raises(ValueError, match="never published, so it has no event_id"):
        bus.publish(Event(EventType.FILL, datetime(2024, 1, 2), {}), caused_by=stranger)
    with pytest.raises(ValueError, match="'x-1' is not an event of run"):
        bus.publish(Event(EventType.FILL, datetime(2024, 1, 2), {}), caused_by="x-1")
    with pytest.raises(ValueError, match="kind must be a non-empty string"):
        bus.publish(Event(EventType.FILL, datetime(2024, 1, 2), {}), parents=[("", "x-1")])


def test_bad_tracer_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        EventTracer(batch_size=0)
    with pytest.raises(ValueError, match="flush_interval"):
        EventTracer(flush_interval=0)


def test_extra_parents_without_a_cause_leave_causation_empty() -> None:
    tracer = EventTracer()
    bus = TracedEventBus("bus")
    bus.set_tracer(tracer)
    bar = Event(EventType.BAR, datetime(2024, 1, 2), {})
    bus.publish(bar)
    mark = Event("MARK", datetime(2024, 1, 2), {})
    bus.publish(mark, parents=[("priced_by", bar)])
    assert tracer.event_index[mark.event_id or ""].causation_id is None


@pytest.mark.parametrize("traced", [False, True])
def test_a_bus_refuses_what_is_no_event_and_keeps_going(traced: bool) -> None:
    """A dict published by mistake is named as such, traced or not, and records nothing."""
    from eventstore import EventBus

    bus = TracedEventBus("bus") if traced else EventBus("bus")
    seen: list[str] = []
    bus.subscribe("BAR", lambda event: seen.append(event.event_type))
    with EventTracer() as tracer:
        if isinstance(bus, TracedEventBus):
            bus.set_tracer(tracer)
        with pytest.raises(TypeError, match=r"publish takes an Event .*got dict"):
            bus.publish({"event_type": "BAR"})  # type: ignore[arg-type]
        bus.publish(Event("BAR", datetime(2024, 1, 2)))
    assert seen == ["BAR"]
    assert tracer.event_count == (1 if traced else 0)
