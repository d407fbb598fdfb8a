"""Closing a run waits, a bounded time, for dispatches still running in other threads (issue 9,
point 5: nothing recorded is lost silently), on both recorders, into a real DuckDB file.

Threads are synchronised with ``threading.Event``: a worker's handler is let go by the log
record ``close`` writes when it starts waiting, so the dispatch ends while ``close`` waits."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from eventstore import Event, EventTracer, RunClosedError, Store, TracedEventBus, open_store

T0 = datetime(2024, 1, 2, 9, 30)
SAFETY = 60.0
"""Seconds a thread waits for a signal that always comes: reached only if the code under test
is broken, and then asserted, so a failure is a failure and not a hang."""
CLOSING_LOGGER = "eventstore.tracing.closing"


class _OnWaiting(logging.Handler):
    """Calls ``action`` (in the closing thread) when ``close`` starts waiting for threads."""

    def __init__(self, action: Callable[[], None]) -> None:
        super().__init__(logging.INFO)
        self.action = action
        self.waited: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno == logging.INFO and "waiting up to" in record.getMessage():
            self.waited.append(record.getMessage())
            self.action()


@contextmanager
def when_close_waits(action: Callable[[], None] = lambda: None) -> Iterator[_OnWaiting]:
    logger = logging.getLogger(CLOSING_LOGGER)
    handler = _OnWaiting(action)
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _rows(store: Store, sql: str, run_id: str) -> list[tuple[Any, ...]]:
    con = store.cursor()
    try:
        return con.execute(sql, [run_id]).fetchall()
    finally:
        con.close()


def _events(store: Store, run_id: str) -> list[tuple[Any, ...]]:
    return _rows(
        store,
        "SELECT seq, event_type, causation_seq, end_seq FROM events WHERE run_id = ? ORDER BY seq",
        run_id,
    )


def _deliveries(store: Store, run_id: str) -> list[tuple[Any, ...]]:
    return _rows(
        store,
        "SELECT e.event_type, d.handler, d.error FROM deliveries d JOIN events e "
        "ON e.run_id = d.run_id AND e.event_id = d.event_id WHERE d.run_id = ? "
        "ORDER BY e.seq, d.handler",
        run_id,
    )


def _status(store: Store, run_id: str) -> tuple[Any, ...]:
    (row,) = _rows(store, "SELECT status, event_count FROM runs WHERE run_id = ?", run_id)
    return row


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("eventstore")
    ]


def test_close_waits_for_a_dispatch_running_in_another_thread(
    store: Store, recorder_kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The main thread closes the run while a worker's handler is still running: the worker
    finishes while ``close`` waits, and every delivery and every event of its dispatch is
    stored, with its bounds; a new root event published meanwhile is refused."""
    bus = TracedEventBus("bus")
    started, release = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def on_job(event: Event) -> None:
        started.set()
        seen["released"] = release.wait(SAFETY)
        bus.publish(Event("RESULT", T0, {"job": event.payload["job"]}), source="worker")

    def on_result(event: Event) -> None:
        seen["result"] = event.payload

    bus.subscribe("JOB", on_job)
    bus.subscribe("RESULT", on_result)
    tracer = EventTracer(store=store, close_timeout=SAFETY).start()
    bus.set_tracer(tracer)

    def work() -> None:
        try:
            bus.publish(Event("JOB", T0, {"job": 7}), source="worker")
        except BaseException as exc:  # asserted below
            seen["error"] = exc

    def while_waiting() -> None:
        with pytest.raises(RunClosedError, match="is closed"):
            bus.publish(Event("LATE", T0))  # a new root event: refused while closing
        seen["late_refused"] = True
        release.set()

    worker = threading.Thread(target=work, name="worker")
    with caplog.at_level(logging.WARNING), when_close_waits(while_waiting) as waiting:
        worker.start()
        assert started.wait(SAFETY)
        tracer.close()
    worker.join()
    assert "error" not in seen and seen["released"] and seen["late_refused"]
    assert seen["result"] == {"job": 7}
    assert len(waiting.waited) == 1
    assert "1 dispatch still running in other threads" in waiting.waited[0]
    assert f"event {tracer.tag}-1 in thread 'worker'" in waiting.waited[0]
    run = tracer.correlation_id
    assert _events(store, run) == [(1, "JOB", None, 2), (2, "RESULT", 1, 2)]
    handlers = [(t, h.rpartition(".")[2], e) for t, h, e in _deliveries(store, run)]
    assert handlers == [("JOB", "on_job", None), ("RESULT", "on_result", None)]
    assert _status(store, run) == ("completed", 2)
    assert _warnings(caplog) == []


def test_a_custom_bus_in_another_thread_records_its_delivery_while_close_waits(
    store: Store, recorder_kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Through the recorder's own API: ``delivered`` and ``end`` called while ``close`` waits
    are stored (they raised ``RunClosedError`` when close did not wait)."""
    tracer = EventTracer(store=store, close_timeout=SAFETY).start()
    recorder = tracer.recorder
    begun, release = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def work() -> None:
        try:
            frame = recorder.begin(Event("JOB", T0), "feed")
            received = recorder.clock()
            begun.set()
            seen["released"] = release.wait(SAFETY)
            recorder.delivered(frame, "worker", received, recorder.clock(), "ValueError: x")
            recorder.end(frame)
        except BaseException as exc:  # asserted below
            seen["error"] = exc

    worker = threading.Thread(target=work, name="custom-bus")
    with caplog.at_level(logging.WARNING), when_close_waits(release.set):
        worker.start()
        assert begun.wait(SAFETY)
        tracer.close()
    worker.join()
    assert "error" not in seen and seen["released"]
    run = tracer.correlation_id
    assert _events(store, run) == [(1, "JOB", None, 1)]
    assert _deliveries(store, run) == [("JOB", "worker", "ValueError: x")]
    assert _warnings(caplog) == []


@pytest.mark.parametrize("thread", ["main", "worker"])
def test_close_from_inside_a_handler_does_not_wait_for_its_own_dispatch(
    store: Store, recorder_kind: str, thread: str
) -> None:
    """A handler that closes the run: its own dispatch (begun in the closing thread) is not
    waited for, however long the bound, so close returns at once and ends the run."""
    bus = TracedEventBus("bus")
    tracer = EventTracer(store=store, close_timeout=SAFETY).start()
    bus.set_tracer(tracer)
    seen: dict[str, Any] = {}

    def on_stop(event: Event) -> None:
        tracer.close()
        seen["closed"] = tracer.closed

    def work() -> None:
        try:
            bus.publish(Event("STOP", T0))
        except BaseException as exc:  # asserted below
            seen["error"] = exc

    bus.subscribe("STOP", on_stop)
    bus.publish(Event("BEFORE", T0))
    with when_close_waits() as waiting:
        if thread == "main":
            work()
        else:
            worker = threading.Thread(target=work)
            worker.start()
            worker.join()
    assert waiting.waited == [] and "error" not in seen and seen["closed"]
    run = tracer.correlation_id
    assert [t for _, t, _, _ in _events(store, run)] == ["BEFORE", "STOP"]
    assert _status(store, run) == ("completed", 2)


def test_close_does_not_wait_for_a_suspended_task_of_its_own_thread(
    store: Store, recorder_kind: str
) -> None:
    """A bus of one's own that awaits between ``begin`` and ``end`` leaves a frame open in a
    suspended task; the task can't go on while its thread waits, so a close from another task
    of that loop does not wait for it. Its late delivery is refused, as before."""

    async def run() -> tuple[EventTracer, BaseException | None]:
        tracer = EventTracer(store=store, close_timeout=SAFETY).start()
        recorder = tracer.recorder
        began, resume = asyncio.Event(), asyncio.Event()

        async def dispatch() -> None:
            frame = recorder.begin(Event("JOB", T0), "feed")
            received = recorder.clock()
            began.set()
            await resume.wait()
            recorder.delivered(frame, "worker", received, recorder.clock())

        task = asyncio.create_task(dispatch())
        await began.wait()
        tracer.close()
        resume.set()
        try:
            await task
        except RunClosedError as exc:
            return tracer, exc
        return tracer, None

    with when_close_waits() as waiting:
        tracer, late = asyncio.run(run())
    assert waiting.waited == []
    assert isinstance(late, RunClosedError)
    assert _events(store, tracer.correlation_id) == [(1, "JOB", None, None)]
    assert _status(store, tracer.correlation_id) == ("completed", 1)


def test_a_dispatch_that_never_ends_is_named_when_the_bound_passes(
    store: Store, recorder_kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A handler blocked past ``close_timeout``: close returns then, ends the run with what it
    has, and warns naming the event and the thread; what the handler publishes afterwards
    raises ``RunClosedError`` in its thread."""
    bus = TracedEventBus("bus")
    started, release = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def on_job(event: Event) -> None:
        started.set()
        seen["released"] = release.wait(SAFETY)
        bus.publish(Event("RESULT", T0))

    bus.subscribe("JOB", on_job)
    tracer = EventTracer(store=store, close_timeout=0.05).start()
    bus.set_tracer(tracer)

    def work() -> None:
        try:
            bus.publish(Event("JOB", T0))
        except BaseException as exc:  # asserted below
            seen["error"] = exc

    worker = threading.Thread(target=work, name="stuck-worker")
    with caplog.at_level(logging.WARNING):
        worker.start()
        assert started.wait(SAFETY)
        tracer.close()
    release.set()
    worker.join()
    assert seen["released"] and isinstance(seen["error"], RunClosedError)
    warnings = [r.getMessage() for r in caplog.records if r.name == CLOSING_LOGGER]
    assert len(warnings) == 1
    assert "closed after waiting 0.05 s with 1 dispatch still running" in warnings[0]
    assert f"event {tracer.tag}-1 in thread 'stuck-worker'" in warnings[0]
    assert "close_timeout" in warnings[0]
    run = tracer.correlation_id
    assert _events(store, run) == [(1, "JOB", None, None)]
    assert _deliveries(store, run) == []
    assert _status(store, run) == ("completed", 1)


def test_a_close_timeout_of_zero_does_not_wait_but_names_what_runs(
    store: Store, recorder_kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    tracer = EventTracer(store=store, close_timeout=0).start()
    begun, release = threading.Event(), threading.Event()

    def work() -> None:
        frame = tracer.recorder.begin(Event("JOB", T0))
        begun.set()
        release.wait(SAFETY)
        with pytest.raises(RunClosedError):
            tracer.recorder.delivered(frame, "worker", 1, 2)
        tracer.recorder.end(frame)

    worker = threading.Thread(target=work, name="unwaited")
    with caplog.at_level(logging.WARNING), when_close_waits() as waiting:
        worker.start()
        assert begun.wait(SAFETY)
        tracer.close()
    release.set()
    worker.join()
    assert waiting.waited == []
    (warning,) = [r.getMessage() for r in caplog.records if r.name == CLOSING_LOGGER]
    assert f"0 s with 1 dispatch still running in other threads (event {tracer.tag}-1 in " in (
        warning
    )
    assert _events(store, tracer.correlation_id) == [(1, "JOB", None, None)]


def test_a_run_ended_by_ctrl_c_does_not_wait(store: Store, recorder_kind: str) -> None:
    """Ctrl-C in the traced block asks to stop now: the run ends ``interrupted`` at once,
    however long the bound, with what was recorded."""
    tracer = EventTracer(store=store, close_timeout=SAFETY)
    begun, release = threading.Event(), threading.Event()

    def work() -> None:
        frame = tracer.recorder.begin(Event("JOB", T0))
        begun.set()
        release.wait(SAFETY)
        tracer.recorder.end(frame)

    worker = threading.Thread(target=work)
    with when_close_waits() as waiting, pytest.raises(KeyboardInterrupt), tracer:
        worker.start()
        assert begun.wait(SAFETY)
        raise KeyboardInterrupt
    release.set()
    worker.join()
    assert waiting.waited == []
    assert _status(store, tracer.correlation_id) == ("interrupted", 1)


CTRL_C_PROGRAM = textwrap.dedent(
    """
    import logging, sys, threading
    from datetime import datetime
    from eventstore import Event, EventTracer, TracedEventBus, open_store

    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
    store = open_store(sys.argv[1])
    bus = TracedEventBus("bus")
    started = threading.Event()

    def on_job(event):
        started.set()
        threading.Event().wait()  # blocked for good

    bus.subscribe("JOB", on_job)
    tracer = EventTracer(store=store, close_timeout=3600).start()
    bus.set_tracer(tracer)
    bus.publish(Event("A", datetime(2024, 1, 2)))
    job = Event("JOB", datetime(2024, 1, 2))
    threading.Thread(target=bus.publish, args=(job,), name="stuck", daemon=True).start()
    started.wait()
    try:
        tracer.close()
    except KeyboardInterrupt:
        print("interrupted", tracer.correlation_id, tracer.status, flush=True)
    store.close()
    """
)


def test_ctrl_c_while_close_waits_ends_the_run_interrupted(
    tmp_path: Path, recorder_kind: str
) -> None:
    """A real SIGINT to a program whose close waits for a thread blocked for good: the wait
    stops, the run ends ``interrupted`` with what was recorded, and close raises
    ``KeyboardInterrupt``."""
    db = tmp_path / "runs.duckdb"
    program = tmp_path / "program.py"
    program.write_text(CTRL_C_PROGRAM)
    env = {**os.environ, "EVENTSTORE_PURE_PYTHON": "1" if recorder_kind == "pure" else ""}
    proc = subprocess.Popen(
        [sys.executable, str(program), str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:  # until close says it waits
            lines.append(line)
            if "waiting up to 3600 s for 1 dispatch" in line:
                break
        else:
            errors = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"close never waited: {lines} {errors}")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=SAFETY)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    (said,) = [line for line in out.splitlines() if line.startswith("interrupted")]
    _, run, status = said.split()
    assert status == "interrupted"
    with open_store(db) as store:
        assert _status(store, run) == ("interrupted", 2)
        assert [t for _, t, _, _ in _events(store, run)] == ["A", "JOB"]
