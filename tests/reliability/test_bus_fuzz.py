"""Hypothesis drives a traced bus with random publish/subscribe programs (nested publishing,
handlers that raise under ``on_handler_error="log"``, handlers unsubscribing during dispatch,
explicit ``caused_by``/``parents``), traced into a real DuckDB file. Whatever the program, the
file must hold every event exactly once at its publish-order seq, the causation the program
actually had, every handler call as a delivery, and descendant ranges that contain the
descendants."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventstore import Event, EventTracer, Store, TracedEventBus, open_store

TYPES = ("A", "B", "C", "D")

# An action a handler of type i performs: publish a type > i (so programs end), raise,
# or unsubscribe a handler (itself or another) of any type.
Action = tuple[Any, ...]


def actions(level: int) -> st.SearchStrategy[list[Action]]:
    later = list(range(level + 1, len(TYPES)))
    choices: list[st.SearchStrategy[Action]] = [
        st.tuples(st.just("raise")),
        st.tuples(st.just("unsubscribe"), st.integers(0, len(TYPES) - 1), st.integers(0, 2)),
    ]
    if later:
        mode = st.sampled_from(["implicit", "caused_by", "parents", "both"])
        choices.append(st.tuples(st.just("publish"), st.sampled_from(later), mode, st.integers()))
    return st.lists(st.one_of(choices), max_size=3)


programs = st.fixed_dictionaries(
    {
        # handlers[type][k] = the actions of the k-th handler subscribed to that type
        "handlers": st.tuples(*(st.lists(actions(i), max_size=3) for i in range(len(TYPES)))),
        "roots": st.lists(
            st.tuples(st.sampled_from(range(len(TYPES))), st.booleans(), st.integers()),
            min_size=1,
            max_size=6,
        ),
        "batch_size": st.sampled_from([1, 2, 5, 10_000]),
        "background": st.booleans(),
    }
)


@dataclass
class Truth:
    """What the program did, as the test saw it."""

    events: list[Event] = field(default_factory=list)
    edges: set[tuple[int, str, int]] = field(default_factory=set)  # (child, kind, parent) seqs
    causes: dict[int, int | None] = field(default_factory=dict)
    calls: Counter[tuple[int, str, bool]] = field(default_factory=Counter)
    seqs: dict[int, int] = field(default_factory=dict)  # id(event) -> seq

    def add(self, event: Event) -> int:
        self.events.append(event)
        self.seqs[id(event)] = len(self.events)
        return len(self.events)

    def seq(self, event: Event) -> int:
        return self.seqs[id(event)]


class Program:
    def __init__(self, spec: dict[str, Any], bus: TracedEventBus) -> None:
        self.spec = spec
        self.bus = bus
        self.truth = Truth()
        self.handlers: dict[tuple[int, int], Any] = {}
        for level, specs in enumerate(spec["handlers"]):
            for k, acts in enumerate(specs):
                handler = self._handler(level, k, acts)
                self.handlers[(level, k)] = handler
                bus.subscribe(TYPES[level], handler)

    def publish(
        self, event: Event, cause: Event | None, caused_by: Event | None, extra: Any
    ) -> None:
        truth = self.truth
        seq = truth.add(event)
        primary = caused_by if caused_by is not None else cause
        truth.causes[seq] = None if primary is None else truth.seq(primary)
        if primary is not None:
            truth.edges.add((seq, "caused_by", truth.seq(primary)))
        parents = [] if extra is None else [("priced_by", extra)]
        for kind, parent in parents:
            truth.edges.add((seq, kind, truth.seq(parent)))
        self.bus.publish(event, caused_by=caused_by, parents=parents)

    def _handler(self, level: int, k: int, acts: list[Action]) -> Any:
        name = f"h{level}_{k}"

        def handler(event: Event) -> None:
            seq = self.truth.seq(event)
            raises = any(a[0] == "raise" for a in acts)
            self.truth.calls[(seq, name, raises)] += 1
            for act in acts:
                if act[0] == "raise":
                    raise RuntimeError(f"{name} fails on {seq}")
                if act[0] == "unsubscribe":
                    target = self.handlers.get((act[1], act[2]))
                    if target is not None and target in self.bus.handlers(TYPES[act[1]]):
                        self.bus.unsubscribe(TYPES[act[1]], target)
                    continue
                _, child_type, mode, salt = act
                earlier = self.truth.events[salt % len(self.truth.events)]
                child = Event(TYPES[child_type], event.timestamp, {"n": len(self.truth.events)})
                caused_by = earlier if mode in ("caused_by", "both") else None
                extra = earlier if mode in ("parents", "both") else None
                self.publish(child, event, caused_by, extra)

        handler.__qualname__ = name
        return handler

    def run(self) -> None:
        for level, explicit, salt in self.spec["roots"]:
            event = Event(TYPES[level], datetime(2024, 1, 2), {"n": len(self.truth.events)})
            events = self.truth.events
            caused_by = events[salt % len(events)] if explicit and events else None
            self.publish(event, None, caused_by, None)


@pytest.fixture(scope="module")
def fuzz_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One file for every example: each program is one more run in it."""
    path: Path = tmp_path_factory.mktemp("fuzz") / "runs.duckdb"
    with open_store(path) as store:
        yield store


@settings(
    max_examples=75,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=programs)
def test_random_programs_are_recorded_exactly(fuzz_store: Store, spec: dict[str, Any]) -> None:
    bus = TracedEventBus("fuzz", on_handler_error="log")
    program = Program(spec, bus)
    tracer = EventTracer(
        store=fuzz_store, batch_size=spec["batch_size"], background=spec["background"]
    )
    logging.getLogger("eventstore.tracing.traced_bus").disabled = True
    try:
        with tracer:
            bus.set_tracer(tracer)
            program.run()
    finally:
        logging.getLogger("eventstore.tracing.traced_bus").disabled = False
    truth = program.truth
    con = fuzz_store.cursor()
    run = [tracer.correlation_id]
    rows = con.execute(
        "SELECT seq, event_id, event_type, payload->>'n', causation_id, root_seq, end_seq "
        "FROM events WHERE run_id = ? ORDER BY seq",
        run,
    ).fetchall()
    # Every event exactly once, at the seq of its publish call, gapless.
    assert [r[0] for r in rows] == list(range(1, len(truth.events) + 1))
    for (seq, event_id, event_type, n, *_), event in zip(rows, truth.events, strict=True):
        assert (event_id, event_type, n) == (event.event_id, event.event_type, str(seq - 1))
    # Causation equals the truth.
    prefix = f"{tracer.tag}-"
    assert {r[0]: r[4] for r in rows} == {
        seq: None if cause is None else f"{prefix}{cause}" for seq, cause in truth.causes.items()
    }
    edges = con.execute(
        "SELECT child_seq, kind, parent_seq FROM lineage_edges WHERE run_id = ?", run
    ).fetchall()
    assert len(edges) == len(truth.edges) and set(edges) == truth.edges
    # Every handler call is one delivery, with its error.
    deliveries = con.execute(
        "SELECT seq, handler, error IS NOT NULL FROM deliveries WHERE run_id = ?", run
    ).fetchall()
    assert Counter((s, h.rsplit(".", 1)[-1], e) for s, h, e in deliveries) == truth.calls
    # Pruning bounds: ancestors in [root_seq, seq), descendants in (seq, end_seq].
    bounds = {seq: (root, end) for seq, *_, root, end in rows}
    parents: dict[int, set[int]] = {}
    for child, _, parent in truth.edges:
        parents.setdefault(child, set()).add(parent)
    for seq in bounds:
        stack, seen = list(parents.get(seq, ())), set()
        while stack:
            ancestor = stack.pop()
            if ancestor in seen:
                continue
            seen.add(ancestor)
            stack.extend(parents.get(ancestor, ()))
            assert bounds[seq][0] <= ancestor < seq
            assert bounds[ancestor][1] >= seq
    status = con.execute("SELECT status, event_count FROM runs WHERE run_id = ?", run).fetchone()
    assert status == ("completed", len(truth.events))
    con.close()
