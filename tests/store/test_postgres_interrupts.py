"""Ctrl-C while a run closes into PostgreSQL, whose writer thread is still storing the run's
last batches: the run ends ``interrupted`` holding every batch the writer stored, not left
``running`` for the next open to call ``crashed``. A real SIGINT, raised at this process while
the writer is held up by a table lock another session holds."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import datetime
from types import FrameType

import psycopg
import pytest
import sqlalchemy as sa

from eventstore import Event, EventTracer, TracedEventBus, open_store

EVENTS = 25_000  # two batches handed off while the run goes, the last one at close
SAFETY = 60.0


def _conninfo(url: str) -> str:
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def test_ctrl_c_while_the_writer_stores_the_last_batches_ends_the_run_interrupted(
    pg_url: str,
) -> None:
    blocker = psycopg.connect(_conninfo(pg_url))
    watcher = psycopg.connect(_conninfo(pg_url), autocommit=True)

    def release_then_interrupt(signum: int, frame: FrameType | None) -> None:
        blocker.rollback()  # the writer goes on from here
        raise KeyboardInterrupt

    with open_store(pg_url) as store:
        blocker.execute("LOCK TABLE run_events IN SHARE MODE")  # holds up every COPY
        tracer = EventTracer(store=store, name="interrupted while closing")
        bus = TracedEventBus("main")
        bus.subscribe("TICK", lambda event: None)

        def interrupt_once_close_waits() -> None:
            deadline = time.monotonic() + SAFETY
            while time.monotonic() < deadline:
                waiting = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                ).fetchone()
                # Closed and drained: the last batch is handed off, so the writer has it all.
                recorder = tracer.recorder
                if recorder.closed and not recorder.pending and waiting is not None and waiting[0]:
                    break
            os.kill(os.getpid(), signal.SIGINT)

        previous = signal.signal(signal.SIGINT, release_then_interrupt)
        interrupter = threading.Thread(target=interrupt_once_close_waits)
        interrupter.start()
        try:
            with pytest.raises(KeyboardInterrupt), tracer:
                bus.set_tracer(tracer)
                for n in range(EVENTS):
                    bus.publish(Event("TICK", datetime(2024, 1, 2), {"n": n}))
        finally:
            interrupter.join()
            signal.signal(signal.SIGINT, previous)
            blocker.close()
            watcher.close()
        assert tracer.status == "interrupted"
        (row,) = store.fetch_records(
            "SELECT status, event_count, error, "
            "(SELECT count(*) FROM events WHERE run_id = :run) AS stored "
            "FROM runs WHERE run_id = :run",
            {"run": tracer.correlation_id},
        )
    assert row["status"] == "interrupted"
    assert row["error"].startswith("KeyboardInterrupt")
    assert row["event_count"] == row["stored"] == EVENTS
