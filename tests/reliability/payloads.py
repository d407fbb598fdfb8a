"""Payload round trip: every kind of value the encoding documents, published into a real DuckDB
file and read back with ``json.loads``, compared with the documented encoding.

Documented (eventstore/tracing/encoding.py): numpy scalars and arrays, datetime, date, time,
UUID, enums and dataclasses natively (other numpy arrays as lists); Decimal as its exact
string; tuples, sets and deques as lists;
a timedelta as its seconds, a path as its text, bytes as base64 text;
non-string keys as strings (renamed when they collide); NaN and ±inf as null; anything else
as ``{"__unencodable__": repr}`` counted on the run, one warning per kind; a huge int, a lone
surrogate, a tuple key or nesting deeper than orjson allows replace only that value. An event
time that is a date is stored as its midnight; one that is neither a datetime nor a date as
NULL ``sim_time``.
"""

from __future__ import annotations

import enum
import json
import logging
import math
import random
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from eventstore import Event, EventTracer, EventType, TracedEventBus, open_store
from tests.reliability.harness import Outcome, check_store, the_run

UNENCODABLE = "__unencodable__"
CUT = object()
"""Marks the case nested deeper than JSON allows: kept down to the limit, then replaced."""
CUT_AT = 252  # levels of {"d": …} kept under "v" (payload depth 1 + v's own level + 252 = 254)


def _is_cut(value: Any) -> bool:
    for _ in range(CUT_AT):
        if not isinstance(value, dict) or list(value) != ["d"]:
            return False
        value = value["d"]
    return isinstance(value, dict) and list(value) == [UNENCODABLE]


class Side(enum.Enum):
    BUY = "buy"


class Level(enum.IntEnum):
    HIGH = 3


@dataclass(slots=True)
class Fill:
    qty: int
    price: float


class Opaque:
    def __repr__(self) -> str:
        return "Opaque(42)"


def _deep(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {"leaf": 1}
    for _ in range(levels):
        node = {"d": node}
    return node


def _decoded_deep(levels: int) -> dict[str, Any]:
    return _deep(levels)


ID = uuid.UUID("12345678-1234-5678-1234-567812345678")
BIG_TEXT = "x" * 1_000_000
BIG_LIST = list(range(100_000))
UNICODE = 'Ωμέγα ✓ 😀 עברית 中文 \u0000 \t\n "quoted" \\ back'

# name → (value stored under "v", what json.loads gives back for it; CUT: see above)
CASES: dict[str, tuple[Any, Any]] = {
    "numpy int64": (np.int64(-7), -7),
    "numpy uint64 max": (np.uint64(2**64 - 1), 2**64 - 1),
    "numpy int8": (np.int8(-3), -3),
    "numpy float64": (np.float64(1.25), 1.25),
    "numpy float32": (np.float32(0.1), 0.1),
    "numpy float16": (np.float16(1.5), 1.5),
    "numpy bool": (np.bool_(True), True),
    "numpy nan scalar": (np.float64("nan"), None),
    "numpy 2-d int array": (np.array([[1, 2], [3, 4]], dtype=np.int8), [[1, 2], [3, 4]]),
    "numpy float array with nan/inf": (np.array([1.5, np.nan, np.inf]), [1.5, None, None]),
    "numpy datetime64": (np.datetime64("2024-01-02T09:30"), "2024-01-02T09:30:00"),
    "numpy str_": (np.str_("AAPL"), "AAPL"),
    "numpy str array": (np.array(["a", "b"]), ["a", "b"]),
    "numpy matrix column": (np.arange(6.0).reshape(3, 2)[:, 1], [1.0, 3.0, 5.0]),
    "deque": (deque([1, 2]), [1, 2]),
    "Decimal": (Decimal("1.10"), "1.10"),
    "Decimal with 40 digits": (
        Decimal("1234567890.123456789012345678901234567890"),
        "1234567890.123456789012345678901234567890",
    ),
    "Decimal NaN": (Decimal("NaN"), "NaN"),
    "datetime": (datetime(2024, 1, 2, 9, 30, 15, 123456), "2024-01-02T09:30:15.123456"),
    "aware datetime": (
        datetime(2024, 1, 2, 9, 30, tzinfo=timezone(timedelta(hours=-5))),
        "2024-01-02T09:30:00-05:00",
    ),
    "UTC datetime": (datetime(2024, 1, 2, 9, 30, tzinfo=UTC), "2024-01-02T09:30:00+00:00"),
    "date": (date(2024, 1, 2), "2024-01-02"),
    "time": (time(9, 30, 1), "09:30:01"),
    "str enum": (EventType.FILL, "FILL"),
    "enum": (Side.BUY, "buy"),
    "int enum": (Level.HIGH, 3),
    "uuid": (ID, str(ID)),
    "dataclass": (Fill(10, 101.5), {"qty": 10, "price": 101.5}),
    "tuple": ((1, "a", 2.5), [1, "a", 2.5]),
    "set": ({7}, [7]),
    "frozenset": (frozenset({"x"}), ["x"]),
    "timedelta": (timedelta(days=1, hours=2, microseconds=500_000), 93_600.5),
    "negative timedelta": (timedelta(seconds=-90), -90.0),
    "path": (Path("data") / "prices.csv", str(Path("data") / "prices.csv")),
    "bytes": (b"\x00\xffFIX", "AP9GSVg="),
    "bytearray": (bytearray(b"ab"), "YWI="),
    "non-str keys": ({1: "a", 2.5: "b", None: "c"}, {"1": "a", "2.5": "b", "null": "c"}),
    "nan": (math.nan, None),
    "inf": (math.inf, None),
    "-inf": (-math.inf, None),
    "nested": ({"a": {"b": [{"c": [1, {"d": None}]}]}}, {"a": {"b": [{"c": [1, {"d": None}]}]}}),
    "deep nesting (200)": (_deep(200), _decoded_deep(200)),
    "unicode": (UNICODE, UNICODE),
    "empty": ({}, {}),
    "1 MB string": (BIG_TEXT, BIG_TEXT),
    "100k-element list": (BIG_LIST, BIG_LIST),
    "int64 max": (2**63 - 1, 2**63 - 1),
    # The documented fallback, one value at a time…
    "object()": (Opaque(), {UNENCODABLE: "Opaque(42)"}),
    "numpy complex": (np.array([1 + 2j]), {UNENCODABLE: repr(np.array([1 + 2j]))}),
    "complex": (1 + 2j, {UNENCODABLE: "(1+2j)"}),
    # …also where the fast path fails: only the value JSON can't hold is replaced.
    "int beyond 64 bits": (2**70, {UNENCODABLE: str(2**70)}),
    "lone surrogate": ("\ud800", "\\ud800"),
    "tuple keys": ({(1, 2): 3, "ok": 1}, {"(1, 2)": 3, "ok": 1}),
    "colliding keys": ({1: "a", "1": "b"}, {"1": "b", "1 (int)": "a"}),
    "deep nesting (300)": (_deep(300), CUT),
}
REPLACED_IN_PLACE = {"lone surrogate", "tuple keys", "colliding keys"}
FALLBACKS = len(REPLACED_IN_PLACE) + sum(
    1
    for want in (want for _, want in CASES.values())
    if want is CUT or (isinstance(want, dict) and UNENCODABLE in want)
)


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def check_payloads(db: Path, rng: random.Random) -> Outcome:
    names = list(CASES)
    rng.shuffle(names)  # the order of publication must not matter
    outcome = Outcome("payload round trip", len(names), "?")
    warnings = _Warnings()
    encoding_log = logging.getLogger("eventstore.tracing.encoding")
    encoding_log.addHandler(warnings)
    bus = TracedEventBus("payloads")
    late = {"price": 1.0}
    try:
        with open_store(db) as store, EventTracer(store=store, batch_size=7) as tracer:
            bus.set_tracer(tracer)
            for name in names:
                bus.publish(Event("P", datetime(2024, 1, 2), {"case": name, "v": CASES[name][0]}))
            bus.publish(Event("LATE", datetime(2024, 1, 2), late))
            late["price"] = 2.0  # published payloads are encoded at publish time
            bus.publish(Event("T", "yesterday", {"when": "a string"}))  # type: ignore[arg-type]
            bus.publish(Event("T", 1_704_187_800, {"when": "epoch seconds"}))  # type: ignore[arg-type]
            bus.publish(Event("T", None, {"when": None}))  # type: ignore[arg-type]
            bus.publish(Event("DAY", date(2024, 1, 3), {"when": "a date"}))  # type: ignore[arg-type]
    finally:
        encoding_log.removeHandler(warnings)
    states = check_store(outcome, db)
    run = the_run(states, {})
    with open_store(db, read_only=True) as store:
        con = store.cursor()
        rows = con.execute("SELECT seq, event_type, payload, sim_time FROM events").fetchall()
        (counted,) = con.execute("SELECT unencodable_count FROM runs").fetchone() or (None,)
        con.close()
    by_case = {}
    for seq, event_type, payload, sim_time in rows:
        if event_type == "P":
            name = names[seq - 1]
            by_case[name] = (json.loads(payload), sim_time)
        elif event_type == "LATE":
            outcome.check(json.loads(payload) == {"price": 1.0}, f"LATE stored as {payload}")
        elif event_type == "DAY":
            outcome.check(sim_time == datetime(2024, 1, 3), f"a date stored as {sim_time}")
        else:
            outcome.check(sim_time is None, f"time of {payload} stored as {sim_time}")
    matched = 0
    for name in names:
        _, want = CASES[name]
        got, sim_time = by_case.get(name, (None, None))
        expected = {"case": name, "v": want}
        if want is CUT:
            same = isinstance(got, dict) and got.get("case") == name and _is_cut(got.get("v"))
        else:
            same = got == expected
        if same and sim_time == datetime(2024, 1, 2):
            matched += 1
        else:
            shown = repr(got)[:200]
            outcome.problems.append(f"{name}: stored {shown}, documented {repr(expected)[:200]}")
    outcome.found = matched
    outcome.check(run is not None and run.status == "completed", f"run {run}")
    outcome.check(counted == FALLBACKS, f"unencodable_count {counted}, expected {FALLBACKS}")
    kinds = [m.split("(", 1)[1].split(")", 1)[0] for m in warnings.messages]
    outcome.check(len(kinds) == len(set(kinds)), f"a type was warned about twice: {kinds}")
    return outcome
