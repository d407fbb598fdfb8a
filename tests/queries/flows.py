"""Small traced systems for query tests, published through the real ``TracedEventBus`` and
``EventTracer`` into a real store, with the truth (every event's parents) recorded on the side
so tests can check the queries against it independently."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from eventstore import Event, EventTracer, EventType, Store, TracedEventBus, UniversalContainer


@dataclass
class Truth:
    """What was published in one run: ids, each event's type and parents (``of_type`` lists
    ids in publish order)."""

    run_id: str = ""
    ids: list[str] = field(default_factory=list)
    types: dict[str, str] = field(default_factory=dict)
    parents: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """event id → [(kind, parent id)]."""

    def record(self, event: Event, parents: Iterable[tuple[str, str]]) -> None:
        event_id = event.metadata["event_id"]
        self.ids.append(event_id)
        self.types[event_id] = str(event.event_type)
        self.parents[event_id] = list(parents)

    def of_type(self, event_type: str) -> list[str]:
        return sorted((i for i in self.ids if self.types[i] == event_type), key=self.seq)

    def seq(self, event_id: str) -> int:
        return int(event_id.rpartition("-")[2])

    def ancestors(self, event_id: str) -> dict[str, int]:
        """Breadth-first over parents: every ancestor (and the event) → fewest edges to it."""
        return _bfs(event_id, lambda e: [p for _, p in self.parents[e]])

    def descendants(self, event_id: str) -> dict[str, int]:
        children: dict[str, list[str]] = {i: [] for i in self.ids}
        for child, parents in self.parents.items():
            for _, parent in parents:
                children[parent].append(child)
        return _bfs(event_id, lambda e: children[e])


def _bfs(start: str, step: Callable[[str], list[str]]) -> dict[str, int]:
    depth = {start: 0}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in step(node):
            if nxt not in depth:
                depth[nxt] = depth[node] + 1
                queue.append(nxt)
    return depth


class TradingFlow:
    """BAR → SIGNAL → ORDER, and a FILL on the next BAR (``caused_by`` the order,
    ``priced_by`` that bar) → PORTFOLIO_UPDATE. A SIGNAL follows every rising close."""

    def __init__(self, bus: TracedEventBus, truth: Truth, failing_risk: bool = False) -> None:
        self.bus = bus
        self.truth = truth
        self.failing_risk = failing_risk
        self.feed = UniversalContainer("DataFeed")
        self.strategy = UniversalContainer("Strategy")
        self.risk = UniversalContainer("Risk")
        self.execution = UniversalContainer("Execution")
        self.portfolio = UniversalContainer("Portfolio")
        self.pending: list[Event] = []
        self.last_close: float | None = None
        self.current: Event | None = None
        bus.subscribe(EventType.BAR, self.execute)
        bus.subscribe(EventType.BAR, self.decide)
        bus.subscribe(EventType.SIGNAL, self.size)
        if failing_risk:
            bus.subscribe(EventType.SIGNAL, self.flaky_check)
        bus.subscribe(EventType.ORDER, self.queue)
        bus.subscribe(EventType.FILL, self.book)

    def publish(
        self,
        event: Event,
        source: UniversalContainer,
        *,
        caused_by: Event | None = None,
        parents: Sequence[tuple[str, Event]] = (),
    ) -> None:
        implicit = self.current
        truth_parents: list[tuple[str, Event]] = []
        cause = caused_by or implicit
        if cause is not None:
            truth_parents.append(("caused_by", cause))
        truth_parents.extend(parents)
        previous = self.current
        self.bus.publish(event, source=source, caused_by=caused_by, parents=list(parents))
        self.current = previous
        self.truth.record(event, [(k, p.metadata["event_id"]) for k, p in truth_parents])

    def _handling(self, event: Event) -> None:
        self.current = event

    def bar(self, when: datetime, close: float) -> None:
        self.current = None
        self.publish(Event(EventType.BAR, when, {"symbol": "SPY", "close": close}), self.feed)

    def execute(self, bar: Event) -> None:
        self._handling(bar)
        orders, self.pending = self.pending, []
        for order in orders:
            fill = {"symbol": "SPY", "qty": order.payload["qty"], "price": bar.payload["close"]}
            self.publish(
                Event(EventType.FILL, bar.timestamp, fill),
                self.execution,
                caused_by=order,
                parents=[("priced_by", bar)],
            )
            self._handling(bar)

    def decide(self, bar: Event) -> None:
        self._handling(bar)
        close = bar.payload["close"]
        rising = self.last_close is not None and close > self.last_close
        self.last_close = close
        if rising:
            self.publish(Event(EventType.SIGNAL, bar.timestamp, {"side": "BUY"}), self.strategy)

    def size(self, signal: Event) -> None:
        self._handling(signal)
        self.publish(Event(EventType.ORDER, signal.timestamp, {"qty": 10}), self.risk)

    def flaky_check(self, signal: Event) -> None:
        raise RuntimeError("risk service unavailable")

    def queue(self, order: Event) -> None:
        self.pending.append(order)

    def book(self, fill: Event) -> None:
        self._handling(fill)
        update = {"position": fill.payload["qty"]}
        self.publish(Event(EventType.PORTFOLIO_UPDATE, fill.timestamp, update), self.portfolio)


def trace_trading(
    store: Store,
    closes: Sequence[float],
    *,
    name: str = "trading",
    batch_size: int = 10_000,
    failing_risk: bool = False,
    **tracer_options: Any,
) -> Truth:
    """Trace one run of ``TradingFlow`` over ``closes`` (one bar each) and return its truth."""
    truth = Truth()
    bus = TracedEventBus("trading", on_handler_error="log" if failing_risk else "raise")
    flow = TradingFlow(bus, truth, failing_risk=failing_risk)
    start = datetime(2024, 1, 2, 9, 30)
    with EventTracer(store=store, name=name, batch_size=batch_size, **tracer_options) as tracer:
        bus.set_tracer(tracer)
        for index, close in enumerate(closes):
            flow.bar(start + timedelta(minutes=index), close)
    truth.run_id = tracer.correlation_id
    return truth


CLOSES = [100.0, 101.0, 100.5, 102.0, 103.0, 102.5, 104.0, 103.0, 105.0, 106.0]
"""Rising at bars 1, 3, 4, 6, 8, 9: six signals and orders; five fills (the last order never
sees another bar)."""


def publish_ticks(tracer: EventTracer, count: int) -> None:
    """``count`` TICKs from ``feed``, each delivered to one handler, handed to the writer."""
    bus = TracedEventBus("live")
    bus.set_tracer(tracer)
    bus.subscribe("TICK", lambda event: None)
    for i in range(count):
        bus.publish(Event("TICK", datetime(2024, 1, 1), {"i": i}), source="feed")
    tracer.flush()
