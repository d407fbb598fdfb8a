"""Causation stays per thread and per asyncio task; every event is recorded exactly once."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime
from pathlib import Path

from eventstore import Event, EventTracer, EventType, TracedEventBus, open_store


def test_threads_publishing_on_one_bus(db_path: Path) -> None:
    bus = TracedEventBus("bus")

    def on_bar(bar: Event) -> None:
        bus.publish(Event(EventType.SIGNAL, bar.timestamp, {"bar": bar.payload["i"]}))

    bus.subscribe(EventType.BAR, on_bar)
    threads, per_thread = 4, 2_000
    with open_store(db_path) as store, EventTracer(store=store, batch_size=997) as tracer:
        bus.set_tracer(tracer)

        def work(thread: int) -> None:
            for i in range(per_thread):
                bus.publish(Event(EventType.BAR, datetime(2024, 1, 2), {"i": f"{thread}-{i}"}))

        workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    with open_store(db_path, read_only=True) as store:
        con = store.cursor()
        total, distinct, low, high = con.execute(
            "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM events"
        ).fetchone() or (0, 0, 0, 0)
        assert total == distinct == high == threads * per_thread * 2 and low == 1
        # Each signal's cause is the bar its own thread was handling.
        mismatched = con.execute(
            """SELECT count(*) FROM events s JOIN events b
               ON b.run_id = s.run_id AND b.event_id = s.causation_id
               WHERE s.event_type = 'SIGNAL'
                 AND json_extract_string(s.payload, '$.bar')
                     <> json_extract_string(b.payload, '$.i')"""
        ).fetchone()
        assert mismatched == (0,)
        orphans = con.execute(
            "SELECT count(*) FROM events WHERE event_type = 'SIGNAL' AND causation_id IS NULL"
        ).fetchone()
        assert orphans == (0,)


def test_asyncio_tasks_keep_their_own_cause() -> None:
    tracer = EventTracer()
    bus = TracedEventBus("bus")
    bus.set_tracer(tracer)
    seen: dict[str, str | None] = {}

    async def task(name: str) -> None:
        def on_bar(bar: Event) -> None:
            if bar.payload["task"] != name:
                return
            signal = Event(EventType.SIGNAL, bar.timestamp, {"task": name})
            bus.publish(signal)
            seen[name] = bar.event_id

        bus.subscribe(EventType.BAR, on_bar)
        await asyncio.sleep(0)
        bus.publish(Event(EventType.BAR, datetime(2024, 1, 2), {"task": name}))

    async def main() -> None:
        await asyncio.gather(*(task(f"t{i}") for i in range(5)))

    asyncio.run(main())
    signals = [t for t in tracer.traced_events if t.event_type == "SIGNAL"]
    assert len(signals) == 5
    for signal in signals:
        assert signal.causation_id == seen[signal.data["task"]]
