"""The compiled recorder and its pure-Python twin store the same rows for the same program:
odd payloads (bytes, numpy, NaN, huge ints, a cycle, keys JSON has no form for), nested
publishes, named parents, a handler that raises, event times of every kind. Each runs in a
process of its own, as ``EVENTSTORE_PURE_PYTHON`` chooses one per process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from eventstore import open_store

PROGRAM = """
import decimal, enum, math, pathlib, sys, uuid
from collections import OrderedDict, deque, namedtuple
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone

import numpy as np

from eventstore import Event, EventTracer, TracedEventBus, UniversalContainer, open_store


class Side(enum.Enum):
    BUY = "buy"


class Opaque:
    def __repr__(self):
        return "Opaque()"


@dataclass
class Fill:
    qty: int
    extra: object = None


Point = namedtuple("Point", "x y")
cycle = {"a": 1}
cycle["self"] = cycle
payloads = [
    {"bytes": b"\\x00\\xff", "array": np.arange(3), "nan": np.float64("nan"), "inf": math.inf},
    {"big": 2**64, "max": 2**64 - 1, "huge": 10**5000, "decimal": decimal.Decimal("1.10")},
    cycle,
    {"side": Side.BUY, "id": uuid.UUID(int=1), "held": timedelta(seconds=1.5)},
    {"at": datetime(2024, 1, 2, tzinfo=timezone(timedelta(hours=2))), "t": time(1, tzinfo=UTC)},
    {"set": {1, 2}, "tuple": (1, (2,)), "point": Point(1, 2), "ordered": OrderedDict(a=1)},
    {"window": deque([1]), "path": pathlib.Path("/x"), "fill": Fill(1, Opaque())},
    {"opaque": Opaque(), 1: "int key", "1": "str key", (1, 2): "tuple key", "text": "\\ud800"},
    "text", 5, None, [1.5, float("nan")],
]
bus = TracedEventBus("main", on_handler_error="log")
strategy = UniversalContainer("Strategy")


def on_signal(event):
    bus.publish(Event("ORDER", event.timestamp, {"qty": 1}), source=strategy)


def reject(event):
    raise RuntimeError("no liquidity")


bus.subscribe("SIGNAL", on_signal)
bus.subscribe("SIGNAL", reject)
bus.subscribe(
    "ORDER",
    lambda e: bus.publish(Event("FILL", e.timestamp), caused_by=e, parents=[("priced_by", bar)]),
)
with EventTracer(store=open_store(sys.argv[1]), name="agree", config={"seed": 1}) as tracer:
    bus.set_tracer(tracer)
    bar = Event("BAR", datetime(2024, 1, 2), {"close": 1.0})
    bus.publish(bar, source="feed")
    for i, payload in enumerate(payloads):
        bus.publish(Event("P", datetime(2024, 1, 2, 0, i), payload, metadata={"partition_key": i}))
    bus.publish(Event("SIGNAL", date(2024, 1, 3)))
    bus.publish(Event("X", "not a time"))
"""

QUERIES = {
    "events": "SELECT seq, event_type, sim_time, source, causation_seq, root_seq, end_seq, "
    "payload, partition_key FROM events ORDER BY seq",
    "edges": "SELECT parent_seq, child_seq, kind FROM lineage_edges ORDER BY ALL",
    "deliveries": "SELECT seq, handler, error FROM deliveries ORDER BY seq, received_ns",
    "run": "SELECT status, event_count, unencodable_count, error, lineage_exact FROM runs",
}


def _stored(tmp_path: Path, pure: str) -> dict[str, list[tuple[object, ...]]]:
    db = tmp_path / f"runs{pure}.duckdb"
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(db)],
        capture_output=True,
        text=True,
        env={**os.environ, "EVENTSTORE_PURE_PYTHON": pure},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    with open_store(db, read_only=True) as store:
        return {
            name: [tuple(row.values()) for row in store.fetch_records(sql)]
            for name, sql in QUERIES.items()
        }


def test_both_recorders_store_the_same_rows(tmp_path: Path) -> None:
    """The replacements were counted apart: a fast encoding attempt that failed after
    replacing a value had counted it, and the pure recorder makes two attempts."""
    from eventstore.tracing import implementation

    if implementation._COMPILED is None and not os.environ.get("CI"):
        pytest.skip("the compiled recorder is not built here")
    compiled, pure = _stored(tmp_path, ""), _stored(tmp_path, "1")
    for name in QUERIES:
        assert compiled[name] == pure[name], name
    (run,) = compiled["run"]
    # the huge ints (2), the cycle, the opaque objects (2), the int key colliding with "1",
    # the tuple key, the surrogate
    assert run[:3] == ("completed", 17, 8)
    payloads = [json.loads(row[7]) for row in compiled["events"]]
    assert payloads[8]["opaque"] == {"__unencodable__": "Opaque()"}
