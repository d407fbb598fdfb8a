"""A realistic event tree traced into a DuckDB file, reopened and checked against the truth."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from eventstore import Event, EventTracer, EventType, TracedEventBus, UniversalContainer, open_store


class Truth:
    """What the test itself saw: every event, its parents, and every handler call."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.parents: dict[str, set[tuple[str, str]]] = defaultdict(set)
        self.calls: list[tuple[str, str, bool]] = []  # (event_id, handler, failed)

    def publish(
        self, bus: TracedEventBus, event: Event, source: UniversalContainer, *parents: Any
    ) -> None:
        """Publish through the bus and remember the event (in publish order) and its parents;
        with parents named, the first is the primary cause and the rest are extra edges."""
        self.events.append(event)
        if parents and parents[0][0] == "caused_by" and parents[1:]:
            bus.publish(event, source, caused_by=parents[0][1], parents=parents[1:])
        else:
            bus.publish(event, source)
        for kind, parent in parents:
            self.parents[event.event_id or ""].add((kind, parent.event_id or ""))


def run_tree_backtest(bus: TracedEventBus, truth: Truth, bars: int) -> None:
    """BAR → 2 SIGNALs → ORDER each (one rejected) → FILL on the next bar (caused by the
    ORDER, priced by that bar); several handlers per type, one of which always raises."""
    feed, strategy = UniversalContainer("Feed"), UniversalContainer("Strategy")
    risk, broker = UniversalContainer("Risk"), UniversalContainer("Broker")
    open_orders: list[Event] = []

    def fill_open_orders(bar: Event) -> None:
        truth.calls.append((bar.event_id or "", "fill_open_orders", False))
        while open_orders:
            order = open_orders.pop(0)
            fill = Event(EventType.FILL, bar.timestamp, {"order": order.event_id, "px": 1.5})
            truth.publish(bus, fill, broker, ("caused_by", order), ("priced_by", bar))

    def signals(bar: Event) -> None:
        truth.calls.append((bar.event_id or "", "signals", False))
        for side in ("buy", "sell"):
            signal = Event(EventType.SIGNAL, bar.timestamp, {"side": side, "n": bar.payload["n"]})
            truth.publish(bus, signal, strategy, ("caused_by", bar))

    def risk_check(signal: Event) -> None:
        truth.calls.append((signal.event_id or "", "risk_check", False))
        if signal.payload["side"] == "sell" and signal.payload["n"] % 3 == 0:
            rejected = Event(EventType.SIGNAL_REJECTED, signal.timestamp, {"reason": "limit"})
            truth.publish(bus, rejected, risk, ("caused_by", signal))
            return
        order = Event(EventType.ORDER, signal.timestamp, {"qty": 10, "unicode": "Ωμέγα ✓"})
        truth.publish(bus, order, risk, ("caused_by", signal))

    def queue_order(order: Event) -> None:
        truth.calls.append((order.event_id or "", "queue_order", False))
        open_orders.append(order)

    def audit(event: Event) -> None:
        truth.calls.append((event.event_id or "", "audit", True))
        raise ValueError(f"audit rejects {event.event_type}")

    bus.subscribe(EventType.BAR, fill_open_orders)
    bus.subscribe(EventType.BAR, signals)
    bus.subscribe(EventType.SIGNAL, risk_check)
    bus.subscribe(EventType.SIGNAL, audit)
    bus.subscribe(EventType.ORDER, queue_order)
    start = datetime(2024, 1, 2, 9, 30)
    for n in range(bars):
        bar = Event(EventType.BAR, start + timedelta(minutes=n), {"n": n, "close": 100.0 + n})
        truth.publish(bus, bar, feed)


def rows(store_path: Path, sql: str) -> list[tuple[Any, ...]]:
    with open_store(store_path, read_only=True) as store:
        return store.cursor().execute(sql).fetchall()


@pytest.mark.parametrize("background", [True, False])
@pytest.mark.parametrize("batch_size", [7, 10_000])
def test_every_row_edge_and_delivery_matches_the_truth(
    db_path: Path, background: bool, batch_size: int
) -> None:
    truth = Truth()
    bus = TracedEventBus("main", on_handler_error="log")
    with open_store(db_path) as store:
        tracer = EventTracer(store=store, batch_size=batch_size, background=background)
        with tracer:
            bus.set_tracer(tracer)
            run_tree_backtest(bus, truth, bars=40)
    run_id = tracer.correlation_id

    ((status, count, exact),) = rows(db_path, "SELECT status, event_count, lineage_exact FROM runs")
    assert (status, count, exact) == ("completed", len(truth.events), True)

    stored = rows(
        db_path, "SELECT event_id, seq, event_type, sim_time, payload, run_id FROM events"
    )
    assert len(stored) == len(truth.events)
    by_id = {r[0]: r for r in stored}
    for seq, event in enumerate(truth.events, start=1):
        _, stored_seq, event_type, sim_time, payload, stored_run = by_id[event.event_id]
        assert (stored_seq, event_type, sim_time, stored_run) == (
            seq, str(event.event_type), event.timestamp, run_id,
        )  # fmt: skip
        assert '"unicode":"Ωμέγα ✓"' in payload or "unicode" not in event.payload

    edges = rows(db_path, "SELECT child_id, kind, parent_id FROM lineage_edges")
    stored_edges: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for child, kind, parent in edges:
        stored_edges[child].add((kind, parent))
    assert len(edges) == sum(len(p) for p in truth.parents.values())
    assert dict(stored_edges) == dict(truth.parents)

    causes = dict(rows(db_path, "SELECT event_id, causation_id FROM events"))
    for event in truth.events:
        primary = [
            p for kind, p in truth.parents.get(event.event_id or "", ()) if kind == "caused_by"
        ]
        assert causes[event.event_id] == (primary[0] if primary else None)

    deliveries = rows(
        db_path,
        "SELECT event_id, handler, error IS NOT NULL, received_ns <= processed_ns FROM deliveries",
    )
    assert sorted((e, h.rsplit(".", 1)[-1], failed) for e, h, failed, _ in deliveries) == sorted(
        truth.calls
    )
    assert all(ordered for *_, ordered in deliveries)
    errors = rows(db_path, "SELECT DISTINCT error FROM deliveries WHERE error IS NOT NULL")
    assert errors == [("ValueError: audit rejects SIGNAL",)]


def test_pruning_bounds_hold_for_every_event(db_path: Path) -> None:
    """Ancestors of X lie in [root_seq, seq], descendants in (seq, end_seq]: the promise the
    lineage queries prune by, here with FILLs published on a later bar and tiny batches."""
    truth = Truth()
    bus = TracedEventBus("main", on_handler_error="log")
    with open_store(db_path) as store, EventTracer(store=store, batch_size=5) as tracer:
        bus.set_tracer(tracer)
        run_tree_backtest(bus, truth, bars=30)

    events = {seq: (root, end) for seq, root, end in rows(
        db_path, "SELECT seq, root_seq, end_seq FROM events"
    )}  # fmt: skip
    parents: dict[int, list[int]] = defaultdict(list)
    for parent, child in rows(db_path, "SELECT parent_seq, child_seq FROM lineage_edges"):
        parents[child].append(parent)

    def ancestors(seq: int) -> set[int]:
        found: set[int] = set()
        stack = list(parents[seq])
        while stack:
            parent = stack.pop()
            if parent not in found:
                found.add(parent)
                stack.extend(parents[parent])
        return found

    for seq, (root, end) in events.items():
        assert end is not None and end >= seq
        for ancestor in ancestors(seq):
            assert root <= ancestor < seq
            assert events[ancestor][1] >= seq, f"{ancestor}'s end_seq misses descendant {seq}"


def test_a_run_that_raised_is_failed_with_its_flushed_events(db_path: Path) -> None:
    bus = TracedEventBus("main")

    def explode(bar: Event) -> None:
        if bar.payload["n"] == 25:
            raise RuntimeError("strategy bug at bar 25")

    bus.subscribe(EventType.BAR, explode)
    with open_store(db_path) as store:
        tracer = EventTracer(store=store, batch_size=10)
        with pytest.raises(RuntimeError, match="bar 25"), tracer:
            bus.set_tracer(tracer)
            for n in range(100):
                bus.publish(Event(EventType.BAR, datetime(2024, 1, 2), {"n": n}))

    ((status, error, count),) = rows(db_path, "SELECT status, error, event_count FROM runs")
    assert status == "failed"
    assert error == "RuntimeError: strategy bug at bar 25"
    assert count == 26
    assert rows(db_path, "SELECT count(*), max(seq) FROM events") == [(26, 26)]
    assert rows(db_path, "SELECT error FROM deliveries WHERE seq = 26") == [
        ("RuntimeError: strategy bug at bar 25",)
    ]


def test_a_million_ids_are_unique_within_and_across_runs(db_path: Path) -> None:
    bus = TracedEventBus("main")
    with open_store(db_path) as store:
        for _ in range(2):
            with EventTracer(store=store, batch_size=50_000) as tracer:
                bus.set_tracer(tracer)
                when = datetime(2024, 1, 2)
                for _ in range(500_000):
                    bus.publish(Event(EventType.BAR, when))
    assert rows(db_path, "SELECT count(*), count(DISTINCT event_id) FROM events") == [
        (1_000_000, 1_000_000)
    ]
    assert rows(db_path, "SELECT count(DISTINCT run_id), count(DISTINCT tag) FROM runs") == [(2, 2)]


def test_one_run_of_a_million_events_has_unique_ids() -> None:
    tracer = EventTracer(ring_size=0)
    bus = TracedEventBus("main")
    bus.set_tracer(tracer)
    ids: set[str] = set()
    when = datetime(2024, 1, 2)
    for _ in range(1_000_000):
        event = Event(EventType.BAR, when)
        bus.publish(event)
        ids.add(event.metadata["event_id"])
    assert len(ids) == 1_000_000
