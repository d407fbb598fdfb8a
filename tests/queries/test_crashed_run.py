"""A run whose process died mid-dispatch: an event flushed while its dispatch was running has
at most a provisional ``end_seq`` (NULL makes queries fall back to no upper bound); what it
caused before the crash must still be found, and why."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from eventstore import open_store, queries

CRASHING_RUN = textwrap.dedent(
    """
    import os, sys
    from datetime import datetime
    from eventstore import Event, EventTracer, TracedEventBus, open_store

    store = open_store(sys.argv[1])
    bus = TracedEventBus("crash")
    tracer = EventTracer(store=store, name="crash", background=False).start()
    bus.set_tracer(tracer)

    def on_bar(bar):
        signal = Event("SIGNAL", bar.timestamp, {"side": "BUY"})
        bus.publish(signal, source="strategy")
        bus.publish(Event("ORDER", bar.timestamp, {"qty": 1}), source="risk", caused_by=signal)
        tracer.flush()  # stored while the BAR's dispatch is still running...
        print(bar.metadata["event_id"], signal.metadata["event_id"], flush=True)
        os._exit(3)  # ...and the process dies before it returns

    bus.subscribe("BAR", on_bar)
    bus.publish(Event("BAR", datetime(2024, 1, 2), {"close": 1.0}), source="feed")
    """
)


def test_effects_of_an_event_whose_dispatch_never_finished(tmp_path: Path) -> None:
    db = tmp_path / "runs.duckdb"
    done = subprocess.run(
        [sys.executable, "-c", CRASHING_RUN, str(db)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 3, done.stderr
    bar, signal = done.stdout.split()
    with open_store(db) as store:  # opening read-write marks the run crashed
        (run,) = queries.list_runs(store).to_pylist()
        assert run["status"] == "crashed"
        effects = [e.event_id for e in queries.effects(store, bar)]
        tag = bar.rpartition("-")[0]
        assert effects == [bar, signal, f"{tag}-3"]
        assert [e.event_id for e in queries.why(store, f"{tag}-3")] == [f"{tag}-3", signal, bar]
