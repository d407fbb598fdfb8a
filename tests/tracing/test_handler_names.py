"""Handler names tell instances apart: methods of several objects of one class are several
handlers in ``deliveries``, whether the objects are containers (by their name) or plain
objects of the user's own classes (numbered in order of subscription)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime

from eventstore import Event, EventTracer, Store, TracedEventBus, UniversalContainer


class Worker:
    """A plain class of the user's, not a container."""

    def __init__(self, rate: float) -> None:
        self.rate = rate

    def on_tick(self, event: Event) -> None:
        pass

    @classmethod
    def on_tick_for_class(cls, event: Event) -> None:
        pass


class Strategy(UniversalContainer):
    def on_tick(self, event: Event) -> None:
        pass


def on_tick_with(label: str, event: Event) -> None:
    pass


def _handlers(store: Store, run_id: str) -> list[str]:
    con = store.cursor()
    try:
        rows = con.execute(
            "SELECT handler FROM deliveries WHERE run_id = ? ORDER BY received_ns", [run_id]
        ).fetchall()
    finally:
        con.close()
    return [handler for (handler,) in rows]


def test_instances_of_one_class_are_told_apart(store: Store, recorder_kind: str) -> None:
    bus = TracedEventBus("bus")
    workers = [Worker(rate) for rate in (1.0, 2.0, 3.0)]
    for worker in workers:
        bus.subscribe("TICK", worker.on_tick)
    bus.subscribe("TICK", Strategy("fast").on_tick)
    bus.subscribe("TICK", Strategy("slow").on_tick)
    bus.subscribe("TICK", Worker.on_tick_for_class)
    bus.subscribe("TICK", functools.partial(on_tick_with, "x"))
    bus.subscribe("OTHER", workers[1].on_tick)  # the same instance keeps its number
    with EventTracer(store=store) as tracer:
        bus.set_tracer(tracer)
        bus.publish(Event("TICK", datetime(2024, 1, 2)))
        bus.publish(Event("OTHER", datetime(2024, 1, 2)))
    here = __name__
    assert _handlers(store, tracer.correlation_id) == [
        f"{here}.Worker.on_tick",
        f"{here}.Worker#2.on_tick",
        f"{here}.Worker#3.on_tick",
        "fast.on_tick",
        "slow.on_tick",
        f"{here}.Worker.on_tick_for_class",
        f"{here}.on_tick_with",
        f"{here}.Worker#2.on_tick",
    ]


def _handler_for(channel: str) -> Callable[[Event], None]:
    def notify(event: Event) -> None:
        pass

    return notify


def test_distinct_functions_of_one_name_are_told_apart(store: Store, recorder_kind: str) -> None:
    """Lambdas, closures of one factory, partials of one function: each is a handler of its
    own (numbered in order of subscription), or `latency --by handler` would merge them."""
    bus = TracedEventBus("bus")
    email, sms = _handler_for("email"), _handler_for("sms")
    bus.subscribe("TICK", email)
    bus.subscribe("TICK", sms)
    bus.subscribe("TICK", lambda event: None)
    bus.subscribe("TICK", lambda event: None)
    bus.subscribe("TICK", functools.partial(on_tick_with, "x"))
    bus.subscribe("TICK", functools.partial(on_tick_with, "y"))
    bus.subscribe("OTHER", sms)  # the same function keeps its number
    with EventTracer(store=store) as tracer:
        bus.set_tracer(tracer)
        bus.publish(Event("TICK", datetime(2024, 1, 2)))
        bus.publish(Event("OTHER", datetime(2024, 1, 2)))
    here = __name__
    closure = f"{here}._handler_for.<locals>.notify"
    assert _handlers(store, tracer.correlation_id) == [
        closure,
        f"{closure}#2",
        f"{here}.test_distinct_functions_of_one_name_are_told_apart.<locals>.<lambda>",
        f"{here}.test_distinct_functions_of_one_name_are_told_apart.<locals>.<lambda>#2",
        f"{here}.on_tick_with",
        f"{here}.on_tick_with#2",
        f"{closure}#2",
    ]


def test_buses_tracing_into_one_run_number_their_handlers_together(
    store: Store, recorder_kind: str
) -> None:
    """A system with a bus per part (market data, orders) traces both into one run: objects of
    one class subscribed on different buses were both recorded as ``Worker.on_tick`` (each bus
    numbered its own), so their deliveries merged into one handler. The run numbers them;
    the same object on both buses keeps one name; the next run numbers afresh."""
    market, orders = TracedEventBus("market"), TracedEventBus("orders")
    first, second = Worker(1.0), Worker(2.0)
    market.subscribe("TICK", first.on_tick)
    market.subscribe("TICK", lambda event: orders.publish(Event("ORDER", event.timestamp)))
    orders.subscribe("ORDER", second.on_tick)
    orders.subscribe("ORDER", first.on_tick)
    runs = []
    for _ in range(2):
        with EventTracer(store=store) as tracer:
            market.set_tracer(tracer)
            orders.set_tracer(tracer)
            market.publish(Event("TICK", datetime(2024, 1, 2)))
        runs.append(_handlers(store, tracer.correlation_id))
    here = __name__
    lambda_name = (
        f"{here}.test_buses_tracing_into_one_run_number_their_handlers_together.<locals>.<lambda>"
    )
    expected = [  # by receipt: the lambda's delivery holds the ORDER's two
        f"{here}.Worker.on_tick",
        lambda_name,
        f"{here}.Worker#2.on_tick",
        f"{here}.Worker.on_tick",
    ]
    assert runs == [expected, expected]
