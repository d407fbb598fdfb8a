"""An async handler can't be subscribed to the synchronous bus (it would never run: its
coroutine would be dropped unawaited); the way the error names works, causation included."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pytest

from eventstore import (
    AsyncTracedEventBus,
    Event,
    EventBus,
    EventTracer,
    Store,
    TracedEventBus,
    open_store,
    queries,
)

T0 = datetime(2024, 1, 2)


async def on_tick(event: Event) -> None:
    await asyncio.sleep(0)


class TickHandler:
    """A handler class whose ``__call__`` is a coroutine function."""

    async def __call__(self, event: Event) -> None:
        await asyncio.sleep(0)


@pytest.mark.parametrize("bus_class", [EventBus, TracedEventBus])
def test_an_async_handler_object_is_refused(bus_class: type[EventBus]) -> None:
    """An object with ``async def __call__`` was accepted, and its coroutine never ran (one
    RuntimeWarning per event); on the async bus it is awaited."""
    bus = bus_class("bus")
    with pytest.raises(TypeError, match=r"TickHandler for TICK is an async function"):
        bus.subscribe("TICK", TickHandler())
    assert bus.handlers("TICK") == ()
    async_bus = AsyncTracedEventBus("async")
    async_bus.subscribe("TICK", TickHandler())
    asyncio.run(async_bus.publish(Event("TICK", T0)))


@pytest.mark.parametrize("bus_class", [EventBus, TracedEventBus])
def test_an_async_handler_is_refused_naming_the_fix(bus_class: type[EventBus]) -> None:
    bus = bus_class("bus")
    with pytest.raises(TypeError, match=r"on_tick for TICK is an async function.*create_task"):
        bus.subscribe("TICK", on_tick)
    assert bus.handlers("TICK") == ()


def test_a_scheduled_async_handler_publishes_caused_by_its_event(
    store: Store, recorder_kind: str
) -> None:
    bus = TracedEventBus("bus")

    async def on_order(event: Event) -> None:
        await asyncio.sleep(0)
        bus.publish(Event("FILL", event.timestamp))

    tasks: list[asyncio.Task[None]] = []
    bus.subscribe("ORDER", lambda event: tasks.append(asyncio.create_task(on_order(event))))

    async def main() -> None:
        for _ in range(3):
            bus.publish(Event("ORDER", T0))
        await asyncio.gather(*tasks)

    with EventTracer(store=store) as tracer:
        bus.set_tracer(tracer)
        asyncio.run(main())
    rows = store.fetch_records(
        "SELECT event_id, event_type, causation_id FROM events WHERE run_id = :run_id ORDER BY seq",
        {"run_id": tracer.correlation_id},
    )
    tag = tracer.tag
    assert [(r["event_type"], r["causation_id"]) for r in rows] == [
        ("ORDER", None),
        ("ORDER", None),
        ("ORDER", None),
        ("FILL", f"{tag}-1"),
        ("FILL", f"{tag}-2"),
        ("FILL", f"{tag}-3"),
    ]


def test_effects_of_an_event_find_what_its_scheduled_handler_published(
    store: Store, recorder_kind: str
) -> None:
    """The task publishes after the ORDER's dispatch returned (two levels down, the second
    from a task the first task's handler started): effects and why still see the whole tree."""
    bus = TracedEventBus("bus")
    tasks: list[asyncio.Task[None]] = []

    def schedule(handler: Callable[[Event], Coroutine[Any, Any, None]]) -> Callable[[Event], None]:
        return lambda event: tasks.append(asyncio.create_task(handler(event)))

    async def on_order(event: Event) -> None:
        await asyncio.sleep(0)
        bus.publish(Event("FILL", event.timestamp))

    async def on_fill(event: Event) -> None:
        await asyncio.sleep(0)
        bus.publish(Event("BOOKED", event.timestamp))

    bus.subscribe("ORDER", schedule(on_order))
    bus.subscribe("FILL", schedule(on_fill))

    async def main() -> None:
        for _ in range(2):
            bus.publish(Event("ORDER", T0))
        while tasks:
            await tasks.pop(0)

    with EventTracer(store=store) as tracer:
        bus.set_tracer(tracer)
        asyncio.run(main())
    tag = tracer.tag
    effects = [(e.event_id, e.event_type) for e in queries.effects(store, f"{tag}-1")]
    assert effects == [(f"{tag}-1", "ORDER"), (f"{tag}-3", "FILL"), (f"{tag}-5", "BOOKED")]
    assert [e.event_id for e in queries.why(store, f"{tag}-5")] == [
        f"{tag}-5",
        f"{tag}-3",
        f"{tag}-1",
    ]


def test_a_cancelled_task_tracing_a_run_ends_it_interrupted(
    store: Store, recorder_kind: str
) -> None:
    """The task running the traced block is cancelled (a timeout, a shutdown): the run is
    ``interrupted`` with what it published, not ``failed``."""
    bus = TracedEventBus("bus")
    tracers: list[EventTracer] = []

    async def serve(started: asyncio.Event) -> None:
        with EventTracer(store=store) as tracer:
            tracers.append(tracer)
            bus.set_tracer(tracer)
            bus.publish(Event("REQUEST", T0))
            started.set()
            await asyncio.Event().wait()  # serves until cancelled

    async def main() -> None:
        started = asyncio.Event()
        task = asyncio.create_task(serve(started))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    (run,) = queries.list_runs(store).to_pylist()
    assert (run["run_id"], run["status"], run["error"], run["events"]) == (
        tracers[0].correlation_id,
        "interrupted",
        "CancelledError",
        1,
    )


CTRL_C_IN_ASYNCIO = """
import asyncio
import sys
from datetime import datetime

from eventstore import Event, EventTracer, TracedEventBus, open_store

bus = TracedEventBus("service")
bus.subscribe("REQUEST", lambda event: asyncio.create_task(asyncio.sleep(0)))


async def main():
    with EventTracer(store=open_store(sys.argv[1]), name="service") as tracer:
        bus.set_tracer(tracer)
        for i in range(100):
            bus.publish(Event("REQUEST", datetime(2024, 1, 2), {"i": i}))
        print("serving", flush=True)
        await asyncio.Event().wait()  # until Ctrl-C


asyncio.run(main())
"""


@pytest.mark.parametrize("pure", ["1", ""])
def test_ctrl_c_in_an_asyncio_program_ends_its_run_interrupted(tmp_path: Path, pure: str) -> None:
    """Ctrl-C (a real SIGINT) in a program under ``asyncio.run``: asyncio cancels the main task,
    so the traced block saw ``CancelledError`` and the run ended ``failed``; it is
    ``interrupted``, as Ctrl-C is elsewhere, with every event stored."""
    db = tmp_path / "runs.duckdb"
    child = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_IN_ASYNCIO, str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "EVENTSTORE_PURE_PYTHON": pure},
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "serving\n"
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGINT, err
    with open_store(db, read_only=True) as store:
        (run,) = queries.list_runs(store).to_pylist()
    assert (run["name"], run["status"], run["events"]) == ("service", "interrupted", 100)


def _deliveries(store: Store, run_id: str) -> list[dict[str, Any]]:
    return store.fetch_records(
        "SELECT event_id, handler, received_ns, processed_ns, self_ns, error FROM deliveries "
        "WHERE run_id = :run_id ORDER BY seq, received_ns",
        {"run_id": run_id},
    )


def test_the_async_bus_times_each_handler_over_its_coroutine(
    store: Store, recorder_kind: str
) -> None:
    """Subscribed through ``create_task``, an async handler's delivery was the lambda's,
    timing only the scheduling: it ended before the coroutine ran. On the async bus it is the
    handler's, from its call to the end of its coroutine; what it publishes is caused by its
    event and nested in its delivery (left out of its self time)."""
    bus = AsyncTracedEventBus("bus")
    marks: dict[str, int] = {}
    later = asyncio.Event()

    async def on_order(event: Event) -> None:
        marks["started"] = tracer.recorder.clock()
        await later.wait()  # another task runs meanwhile
        await bus.publish(Event("FILL", event.timestamp))
        marks["finished"] = tracer.recorder.clock()

    bus.subscribe("ORDER", on_order)
    bus.subscribe("FILL", lambda event: None)

    async def main() -> None:
        asyncio.get_running_loop().call_soon(later.set)
        await bus.publish(Event("ORDER", T0))

    with EventTracer(store=store) as tracer:
        bus.set_tracer(tracer)
        asyncio.run(main())
    origin, tag = tracer.recorder.origin_ns, tracer.tag
    order, fill = _deliveries(store, tracer.correlation_id)
    assert (order["event_id"], order["handler"], order["error"]) == (
        f"{tag}-1",
        f"{__name__}.test_the_async_bus_times_each_handler_over_its_coroutine.<locals>.on_order",
        None,
    )
    assert order["received_ns"] <= marks["started"] - origin
    assert order["processed_ns"] >= marks["finished"] - origin
    inclusive = order["processed_ns"] - order["received_ns"]
    assert order["self_ns"] == inclusive - (fill["processed_ns"] - fill["received_ns"])
    assert [e.event_id for e in queries.why(store, f"{tag}-2")] == [f"{tag}-2", f"{tag}-1"]


@pytest.mark.parametrize("policy", ["raise", "log"])
def test_an_async_handler_that_raises_is_recorded_with_its_error(
    store: Store, recorder_kind: str, policy: Literal["raise", "log"]
) -> None:
    """The failing coroutine's delivery holds its error; ``log`` goes on with the next
    handler and the run completes, ``raise`` fails the publish and the run."""
    bus = AsyncTracedEventBus("bus", on_handler_error=policy)
    calls: list[str] = []

    async def reject(event: Event) -> None:
        await asyncio.sleep(0)
        raise ValueError("no liquidity")

    bus.subscribe("ORDER", reject)
    bus.subscribe("ORDER", lambda event: calls.append("audit"))

    async def main() -> None:
        with EventTracer(store=store) as tracer:
            bus.set_tracer(tracer)
            run_ids.append(tracer.correlation_id)
            await bus.publish(Event("ORDER", T0))

    run_ids: list[str] = []
    if policy == "raise":
        with pytest.raises(ValueError, match="no liquidity"):
            asyncio.run(main())
    else:
        asyncio.run(main())
    errors = [(d["handler"].rsplit(".", 1)[-1], d["error"]) for d in _deliveries(store, run_ids[0])]
    (run,) = queries.list_runs(store).to_pylist()
    if policy == "raise":
        assert (errors, calls, run["status"]) == (
            [("reject", "ValueError: no liquidity")],
            [],
            "failed",
        )
    else:
        assert (errors, calls, run["status"]) == (
            [("reject", "ValueError: no liquidity"), ("<lambda>", None)],
            ["audit"],
            "completed",
        )


def test_the_async_bus_without_a_tracer_awaits_its_handlers() -> None:
    bus = AsyncTracedEventBus("bus")
    seen: list[str] = []

    async def on_tick(event: Event) -> None:
        await asyncio.sleep(0)
        seen.append(event.event_type)

    bus.subscribe("TICK", on_tick)
    asyncio.run(bus.publish(Event("TICK", T0)))
    assert seen == ["TICK"]


def test_deliveries_of_concurrent_tasks_never_make_a_self_time_negative(
    store: Store, recorder_kind: str
) -> None:
    """A handler starts three tasks that publish while the next handler of its event awaits
    them: their deliveries ran at the same time, and were all taken off that handler's self
    time, which came out negative. A self time is never below 0 nor above the inclusive time."""
    bus = AsyncTracedEventBus("bus")
    tasks: list[asyncio.Task[None]] = []
    gate = asyncio.Event()

    async def fan_out(event: Event) -> None:
        for _ in range(3):
            tasks.append(asyncio.create_task(bus.publish(Event("PART", event.timestamp))))

    async def gather(event: Event) -> None:
        for _ in range(100):  # the parts wait meanwhile, all three at once
            await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(*tasks)

    async def part(event: Event) -> None:
        await gate.wait()

    bus.subscribe("ORDER", fan_out)
    bus.subscribe("ORDER", gather)
    bus.subscribe("PART", part)
    with EventTracer(store=store) as tracer:
        bus.set_tracer(tracer)
        asyncio.run(bus.publish(Event("ORDER", T0)))
    rows = _deliveries(store, tracer.correlation_id)
    assert len(rows) == 5
    assert all(0 <= d["self_ns"] <= d["processed_ns"] - d["received_ns"] for d in rows), rows
