"""The Recorder contract, run against every implementation this machine has: the compiled
recorder (when built and not disabled by ``EVENTSTORE_PURE_PYTHON=1``) and its pure-Python twin.

Outcomes are read where a writer reads them: the ``Drained`` tables, with names decoded and end
updates applied.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from eventstore.events import Event, EventType
from eventstore.tracing.compiled_recorder import load
from eventstore.tracing.encoding import FAST_OPTIONS, PayloadEncoder
from eventstore.tracing.recorder import Drained, Recorder, RecorderHooks

RecorderClass = Callable[[str, int, RecorderHooks], Recorder]


def _implementations() -> list[Any]:
    found: list[Any] = []
    compiled = load()
    if compiled is not None:
        found.append(pytest.param(compiled, id="compiled"))
    try:
        from eventstore.tracing.pure_recorder import PureRecorder
    except ImportError:
        pass
    else:
        found.append(pytest.param(PureRecorder, id="pure"))
    return found


IMPLEMENTATIONS = _implementations()


class RecorderClosedError(RuntimeError):
    pass


@dataclass
class Hooks:
    """Real encoder and naming; the callbacks are recorded so tests can assert on them."""

    encoder: PayloadEncoder = field(default_factory=PayloadEncoder)
    encoded: list[Any] = field(default_factory=list)
    named: list[object] = field(default_factory=list)
    full_calls: int = 0
    on_full_action: Callable[[], object] | None = None
    ring: dict[int, tuple[int | None, int]] = field(default_factory=dict)  # the tracer's ring
    asked: list[int] = field(default_factory=list)  # seqs looked up in it
    lineage_memory: int = 10_000

    def encode(self, payload: Any) -> str:
        self.encoded.append(payload)
        return self.encoder.encode(payload)

    def name_of_source(self, source: object) -> str | None:
        self.named.append(source)
        if source is None or isinstance(source, str):
            return source
        return type(source).__name__

    def on_full(self) -> None:
        self.full_calls += 1
        if self.on_full_action is not None:
            self.on_full_action()

    def recent(self, seq: int) -> tuple[int | None, int] | None:
        self.asked.append(seq)
        return self.ring.get(seq)

    def keep(self, drained: Drained) -> Drained:
        """Keep a drained batch's events in the ring, as the tracer does."""
        for row in drained.events.to_pylist():
            self.ring[row["seq"]] = (row["causation_seq"], row["root_seq"])
        return drained

    def recorder_hooks(self) -> RecorderHooks:
        return RecorderHooks(
            encode=self.encode,
            json_default=self.encoder.default,
            json_options=FAST_OPTIONS,
            name_of_source=self.name_of_source,
            on_full=self.on_full,
            recent=self.recent,
            closed_error=RecorderClosedError,
            closed_message="the run is closed: start a new tracer",
            run_id="run-under-test",
            lineage_memory=self.lineage_memory,
        )


@dataclass
class Trace:
    """Drained tables, decoded: events by seq (end updates applied), edges, deliveries."""

    events: dict[int, dict[str, Any]] = field(default_factory=dict)
    edges: list[tuple[int, int, str]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    drains: list[list[int]] = field(default_factory=list)

    def add(self, drained: Drained) -> None:
        names = drained.names
        for table in (drained.events, drained.edges, drained.deliveries, drained.end_updates):
            table.validate(full=True)
        seqs = []
        for row in drained.events.to_pylist():
            assert row["seq"] not in self.events, f"event {row['seq']} drained twice"
            row["type"] = names[row["type_code"]]
            code = row["source_code"]
            row["source"] = None if code is None else names[code]
            self.events[row["seq"]] = row
            seqs.append(row["seq"])
        self.drains.append(seqs)
        for edge in drained.edges.to_pylist():
            self.edges.append((edge["parent_seq"], edge["child_seq"], names[edge["kind_code"]]))
        for delivery in drained.deliveries.to_pylist():
            delivery["handler"] = names[delivery["handler_code"]]
            self.deliveries.append(delivery)
        for update in drained.end_updates.to_pylist():
            row = self.events[update["seq"]]
            if row["end_seq"] is None or row["end_seq"] < update["end_seq"]:
                row["end_seq"] = update["end_seq"]
            if update["emitted_ns"] is not None:
                row["emitted_ns"] = update["emitted_ns"]

    def payload(self, seq: int) -> str:
        return str(self.events[seq]["payload"])

    def children(self) -> dict[int, list[int]]:
        kids: dict[int, list[int]] = {}
        for parent, child, kind in self.edges:
            if kind == "caused_by":
                kids.setdefault(parent, []).append(child)
        return kids

    def descendants(self, seq: int) -> set[int]:
        kids = self.children()
        found: set[int] = set()
        pending = list(kids.get(seq, ()))
        while pending:
            child = pending.pop()
            found.add(child)
            pending.extend(kids.get(child, ()))
        return found


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Switch threads every microsecond, so publishers and drainers interleave finely."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


@pytest.fixture(params=IMPLEMENTATIONS)
def implementation(request: pytest.FixtureRequest) -> RecorderClass:
    cls: RecorderClass = request.param
    return cls


@pytest.fixture
def hooks() -> Hooks:
    return Hooks()


@pytest.fixture
def recorder(implementation: RecorderClass, hooks: Hooks) -> Iterator[Recorder]:
    recorder = implementation("run-", 1_000_000, hooks.recorder_hooks())
    yield recorder
    assert recorder.current() is None  # no test leaves a frame current


def drain_all(recorder: Recorder, trace: Trace | None = None) -> Trace:
    trace = trace if trace is not None else Trace()
    trace.add(recorder.drain())
    return trace


def event(kind: str = "BAR", payload: Any = None, **metadata: Any) -> Event:
    return Event(kind, datetime(2024, 1, 2, 9, 30), {} if payload is None else payload, metadata)


# ---------------------------------------------------------------- identity and lineage


def tree(recorder: Recorder, depth: int, fanout: int) -> None:
    """Publish a tree: each event with depth left has handlers that publish `fanout` children
    (some of them leaves without handlers)."""

    def handler_for(level: int) -> Callable[[Event], None]:
        def handle(parent: Event) -> None:
            for i in range(fanout):
                child = event(f"L{level}", {"i": i})
                if level > 0 and i % 2 == 0:
                    recorder.publish(child, "tree", ((handler_for(level - 1), f"h{level}"),))
                else:
                    recorder.publish(child, "tree", ())

        return handle

    recorder.publish(event("ROOT"), "tree", ((handler_for(depth), "root"),))


def test_every_event_once_gapless_and_in_order(recorder: Recorder) -> None:
    trace = Trace()
    for round_ in range(3):
        for _ in range(4):
            tree(recorder, depth=3, fanout=3)
        if round_ < 2:
            drain_all(recorder, trace)
    drain_all(recorder, trace)
    total = recorder.event_count
    assert sorted(trace.events) == list(range(1, total + 1))
    for seqs in trace.drains:  # each drain is a contiguous, sorted run of seqs
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))) if seqs else True
    assert recorder.pending == 0


def test_event_ids_are_prefix_and_seq(recorder: Recorder) -> None:
    published = [event() for _ in range(3)]
    for e in published:
        recorder.publish(e, None, ())
    assert [e.event_id for e in published] == ["run-1", "run-2", "run-3"]


def test_end_bounds_are_exact(recorder: Recorder) -> None:
    for _ in range(3):
        tree(recorder, depth=3, fanout=3)
    trace = drain_all(recorder)
    for seq, row in trace.events.items():
        descendants = trace.descendants(seq)
        assert descendants == set(range(seq + 1, row["end_seq"] + 1)), seq
        root = seq
        while trace.events[root]["causation_seq"] is not None:
            root = trace.events[root]["causation_seq"]
        assert row["root_seq"] == root


def test_causation_edges_match_causation_seq(recorder: Recorder) -> None:
    tree(recorder, depth=2, fanout=2)
    trace = drain_all(recorder)
    expected = sorted(
        (row["causation_seq"], seq, "caused_by")
        for seq, row in trace.events.items()
        if row["causation_seq"] is not None
    )
    assert sorted(trace.edges) == expected


def test_causation_per_thread(recorder: Recorder, fast_switching: None) -> None:
    def on_root(root: Event) -> None:
        recorder.publish(event("CHILD", {"of": root.payload["id"]}), None, ())

    def work(thread: int) -> None:
        for i in range(300):
            recorder.publish(event("ROOT", {"id": f"{thread}-{i}"}), None, ((on_root, "r"),))

    workers = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    trace = drain_all(recorder)
    children = [row for row in trace.events.values() if row["type"] == "CHILD"]
    assert len(children) == 1200
    for child in children:
        parent = trace.events[child["causation_seq"]]
        assert child["payload"] == parent["payload"].replace('"id"', '"of"')
        assert parent["end_seq"] == child["seq"] and child["root_seq"] == parent["seq"]


def test_causation_per_asyncio_task(recorder: Recorder) -> None:
    async def task(i: int) -> None:
        frame = recorder.begin(event("ROOT", {"id": i}))
        await asyncio.sleep(0)
        assert recorder.current() is frame
        recorder.publish(event("CHILD", {"id": i}), None, ())
        await asyncio.sleep(0)
        recorder.end(frame)
        assert recorder.current() is None

    async def main() -> None:
        await asyncio.gather(*(task(i) for i in range(5)))

    asyncio.run(main())
    trace = drain_all(recorder)
    for row in trace.events.values():
        if row["type"] == "CHILD":
            assert trace.events[row["causation_seq"]]["payload"] == row["payload"]
    assert recorder.current() is None


@pytest.mark.parametrize("drained", [False, True], ids=["buffered", "drained"])
def test_a_task_publishing_after_its_cause_ended_extends_the_causes_bounds(
    implementation: RecorderClass, hooks: Hooks, drained: bool
) -> None:
    """A handler starts an asyncio task (which copies its context) and returns; the task
    publishes later. The event it handled stays the cause, and its end_seq and its ancestors'
    reach the new event, so effects pruned to (seq, end_seq] find it, whether their rows are
    still buffered or already drained (raised by end updates)."""
    recorder = implementation("run-", 1_000, hooks.recorder_hooks())
    contexts: list[contextvars.Context] = []

    def on_bar(_: Event) -> None:
        recorder.publish(event("ORDER"), None, ((start_task, "start_task"),))  # 2

    def start_task(_: Event) -> None:
        contexts.append(contextvars.copy_context())  # what asyncio.create_task keeps

    recorder.publish(event("BAR"), None, ((on_bar, "on_bar"),))  # 1 → 2
    recorder.publish(event("BAR"), None, ())  # 3
    trace = Trace()
    if drained:
        trace.add(hooks.keep(recorder.drain()))
        recorder.publish(event("NOTE"), None, ())  # 4: 1..3 are in the ring only
        trace.add(hooks.keep(recorder.drain()))
    contexts[0].run(recorder.publish, event("FILL"), None, ())
    frame = contexts[0].run(recorder.begin, event("FILL"))  # the begin/end API alike
    contexts[0].run(recorder.end, frame)
    drain_all(recorder, trace)
    fills = [seq for seq, row in trace.events.items() if row["type"] == "FILL"]
    for fill in fills:
        assert (trace.events[fill]["causation_seq"], trace.events[fill]["root_seq"]) == (2, 1)
        assert trace.edges.count((2, fill, "caused_by")) == 1
    assert trace.events[2]["end_seq"] == trace.events[1]["end_seq"] == fills[-1]
    assert trace.events[3]["end_seq"] == 3 and recorder.lineage_exact


def test_named_cause_and_extra_parents(recorder: Recorder) -> None:
    recorder.publish(event("BAR"), None, ())  # 1
    order = event("ORDER")
    recorder.publish(order, None, ())  # 2
    seen: list[Any] = []

    def on_bar(bar: Event) -> None:
        # cause named: the ORDER, not the BAR being handled; priced by the BAR
        recorder.publish(event("FILL"), None, (), caused_by=order, parents=[("priced_by", bar)])
        # no cause named: the BAR being handled is the cause; one extra parent, by its id
        recorder.publish(event("NOTE"), None, (), parents=(("about", "run-2"),))
        seen.append(recorder.current())

    recorder.publish(event("BAR"), None, ((on_bar, "on_bar"),))  # 3, children 4 and 5
    trace = drain_all(recorder)
    fill, note = trace.events[4], trace.events[5]
    assert (fill["causation_seq"], fill["root_seq"]) == (2, 2)
    assert (note["causation_seq"], note["root_seq"]) == (3, 2)
    assert sorted(e for e in trace.edges if e[1] in (4, 5)) == [
        (2, 4, "caused_by"),
        (2, 5, "about"),
        (3, 4, "priced_by"),
        (3, 5, "caused_by"),
    ]
    # the named parents' bounds reach their children; the BAR being handled bounds both
    assert trace.events[2]["end_seq"] == 5
    assert trace.events[3]["end_seq"] == 5
    assert trace.events[1]["end_seq"] == 1
    assert seen[0] is not None and seen[0].seq == 3
    assert recorder.lineage_exact


def test_begin_with_named_causes_raises_their_ends_at_end(recorder: Recorder) -> None:
    recorder.publish(event("ORDER"), None, ())  # 1
    frame = recorder.begin(event("FILL"), None, "run-1")  # 2
    recorder.publish(event("CHILD"), None, ())  # 3
    assert frame.end == 3 and frame.root == 1
    recorder.end(frame)
    trace = drain_all(recorder)
    assert trace.events[1]["end_seq"] == 3
    assert trace.events[2]["end_seq"] == 3 and trace.events[3]["causation_seq"] == 2


def test_ancestors_of_named_parents_reach_the_child_buffered_or_drained(
    implementation: RecorderClass, hooks: Hooks
) -> None:
    """The pruning promise: every ancestor of a named parent gets an end_seq reaching the new
    event and its descendants, whether its row is still buffered or already drained (then
    found in the ring and raised by an end update)."""
    recorder = implementation("run-", 1_000, hooks.recorder_hooks())
    trace = Trace()
    bars: list[Event] = []

    def on_bar(bar: Event) -> None:
        bars.append(bar)
        recorder.publish(event("SIGNAL"), None, ((on_signal, "on_signal"),))

    def on_signal(_: Event) -> None:
        recorder.publish(event("ORDER"), None, ())

    def on_fill(_: Event) -> None:
        recorder.publish(event("BOOKED"), None, ())

    recorder.publish(event("BAR"), None, ((on_bar, "on_bar"),))  # 1 → SIGNAL 2 → ORDER 3
    trace.add(hooks.keep(recorder.drain()))  # 1..3 leave the buffer for the ring
    recorder.publish(event("BAR"), None, ())  # 4
    trace.add(hooks.keep(recorder.drain()))  # the batch drained last is 4 alone
    fill = event("FILL")
    recorder.publish(
        fill, None, ((on_fill, "on_fill"),), None, None, "run-3", [("priced_by", "run-4")]
    )
    drain_all(recorder, trace)  # FILL 5 → BOOKED 6
    assert trace.events[5]["root_seq"] == 1
    for ancestor in (1, 2, 3, 4):
        assert trace.events[ancestor]["end_seq"] == 6, ancestor
    assert 3 in hooks.asked and 1 in hooks.asked  # looked up in the ring
    assert recorder.lineage_exact


def test_a_named_parent_gone_from_buffer_and_ring_makes_lineage_inexact(
    implementation: RecorderClass, hooks: Hooks
) -> None:
    recorder = implementation("run-", 1_000, hooks.recorder_hooks())
    recorder.publish(event("ORDER"), None, ())  # 1
    trace = drain_all(recorder)  # and the ring keeps nothing
    recorder.publish(event("NOTE"), None, ())  # 2
    drain_all(recorder, trace)  # 1 is no longer the batch drained last either
    recorder.publish(event("FILL"), None, (), caused_by="run-1")  # 3
    assert not recorder.lineage_exact
    drain_all(recorder, trace)
    # its root is unknowable: 1, the smallest seq, is still a true lower bound
    assert trace.events[3]["root_seq"] == 1 and trace.events[3]["causation_seq"] == 1
    assert trace.events[1]["end_seq"] == 3  # raised all the same, by an end update


def test_the_batch_drained_last_is_found_before_the_ring_has_it(
    implementation: RecorderClass, hooks: Hooks
) -> None:
    """The processor drains, then hands the batch to the ring: a publisher in another thread
    can run in between and name an event of that batch. It is found, the lineage stays exact."""
    recorder = implementation("run-", 1_000, hooks.recorder_hooks())
    recorder.publish(event("BAR"), None, ())  # 1
    recorder.publish(event("ORDER"), None, (), caused_by="run-1")  # 2
    trace = drain_all(recorder)  # the ring is not given the batch
    assert recorder.drain().empty  # an empty drain keeps the batch drained last
    recorder.publish(event("FILL"), None, (), caused_by="run-2")  # 3
    assert recorder.lineage_exact and hooks.asked == []
    drain_all(recorder, trace)
    assert (trace.events[3]["causation_seq"], trace.events[3]["root_seq"]) == (2, 1)
    assert trace.events[1]["end_seq"] == 3 and trace.events[2]["end_seq"] == 3


def test_an_ancestor_gone_from_buffer_and_ring_makes_lineage_inexact(
    implementation: RecorderClass, hooks: Hooks
) -> None:
    recorder = implementation("run-", 1_000, hooks.recorder_hooks())

    def on_bar(_: Event) -> None:
        recorder.drain()  # the BAR leaves the buffer while it is dispatched
        recorder.publish(event("NOTE"), None, ())  # 2
        recorder.drain()  # and is no longer the batch drained last
        recorder.publish(event("ORDER"), None, ())  # 3, buffered

    recorder.publish(event("BAR"), None, ((on_bar, "on_bar"),))  # 1
    frame = recorder.begin(event("FILL"), None, caused_by="run-3")  # 4
    assert recorder.lineage_exact  # its named parent is buffered...
    recorder.end(frame)
    assert not recorder.lineage_exact  # ...but walking up to the BAR at its end, it is gone
    assert hooks.asked == [1]


def test_forgotten_named_parents_make_lineage_inexact(implementation: RecorderClass) -> None:
    """Named parents are remembered for ``lineage_memory`` events (forgotten down to that at
    twice as many): walking up through an event whose named parents were forgotten may miss
    ancestors, so the bounds are no longer exact."""
    hooks = Hooks(lineage_memory=1)
    recorder = implementation("run-", 1_000, hooks.recorder_hooks())
    recorder.publish(event("BAR"), None, ())  # 1
    for _ in range(3):  # 2, 3, 4: the third makes three remembered, and forgets 2 and 3
        recorder.publish(event("MARK"), None, (), parents=[("about", "run-1")])
    recorder.publish(event("BAR"), None, ())  # 5
    recorder.publish(event("FILL"), None, (), caused_by="run-5")  # 6: above what was forgotten
    assert recorder.lineage_exact
    recorder.publish(event("FILL"), None, (), caused_by="run-2")  # 7: through a forgotten one
    assert not recorder.lineage_exact
    trace = drain_all(recorder)
    assert trace.events[1]["end_seq"] == 4  # raised by each MARK
    assert trace.events[2]["end_seq"] == 7 and trace.events[5]["end_seq"] == 6


class Stranger:
    """Not an Event, but with an event's ``metadata`` (of another run)."""

    def __init__(self) -> None:
        self.metadata = {"event_id": "other-1"}


@pytest.mark.parametrize(
    ("caused_by", "parents", "error", "match"),
    [
        (event("NEW"), (), ValueError, r"the Event named as a parent was never published"),
        ("other-1", (), ValueError, r"parent 'other-1' is not an event of run run-under-test"),
        ("run-3", (), ValueError, "parent 'run-3' is not an event"),  # not published yet
        ("run-0", (), ValueError, "parent 'run-0' is not an event"),
        ("run-1x", (), ValueError, "parent 'run-1x' is not an event"),
        ("run-\u0661", (), ValueError, "is not an event"),  # a digit, but not ASCII
        ("run-" + "9" * 30, (), ValueError, "is not an event"),
        (None, [("", "run-1")], ValueError, "kind must be a non-empty string, got ''"),
        (None, [(7, "run-1")], ValueError, "kind must be a non-empty string, got 7"),
        (None, [("about", "run-1"), ("about", "run-9")], ValueError, "'run-9' is not an event"),
        (None, [("about",)], TypeError, r"\(kind, parent\) pairs, .*got \('about',\)$"),
        (None, [("about", "run-1", "x")], TypeError, r"pairs, .*got \('about', 'run-1', 'x'\)"),
        (None, [5], TypeError, r"parents takes \(kind, parent\) pairs, .* got 5$"),
        (None, 5, TypeError, r"parents takes \(kind, parent\) pairs, .* got 5$"),
        (None, ["ab"], TypeError, r"pairs, .* got 'ab'$"),  # a string is no pair
        (None, [["about", "run-1"]], None, ""),  # a list of two is one
        (Stranger(), (), ValueError, "parent 'other-1' is not an event"),
        (object(), (), TypeError, r"a parent is an Event .* or its event_id, got object <object"),
        (None, [("about", 42)], TypeError, "its event_id, got int 42"),
    ],
)
def test_bad_named_causes_are_errors_and_record_nothing(
    recorder: Recorder, caused_by: Any, parents: Any, error: type[Exception] | None, match: str
) -> None:
    recorder.publish(event("BAR"), None, ())  # 1
    recorder.publish(event("BAR"), None, ())  # 2
    if error is None:  # accepted, as the control
        recorder.publish(event("FILL"), None, (), caused_by=caused_by, parents=parents)
        assert recorder.event_count == 3
        return
    with pytest.raises(error, match=match):
        recorder.publish(event("FILL"), None, (), caused_by=caused_by, parents=parents)
    with pytest.raises(error, match=match):
        recorder.begin(event("FILL"), None, caused_by, parents)
    assert recorder.event_count == 2 and recorder.current() is None
    assert recorder.lineage_exact
    recorder.publish(event("FILL"), None, (), caused_by="run-2", parents=[("priced_by", "run-1")])
    assert drain_all(recorder).events[3]["causation_seq"] == 2


def test_named_causes_of_a_closed_recorder_are_checked_first(recorder: Recorder) -> None:
    recorder.publish(event("BAR"), None, ())
    recorder.close()
    with pytest.raises(ValueError, match="is not an event"):
        recorder.publish(event("FILL"), None, (), caused_by="run-2")
    with pytest.raises(RecorderClosedError):
        recorder.publish(event("FILL"), None, (), caused_by="run-1")


def test_empty_or_absent_named_causes_are_the_implicit_cause(recorder: Recorder) -> None:
    def on_bar(_: Event) -> None:
        recorder.publish(event("A"), None, (), None, None, None, [])
        recorder.publish(event("B"), None, (), parents=iter(()))  # an iterator: truthy

    recorder.publish(event("BAR"), None, ((on_bar, "on_bar"),))
    trace = drain_all(recorder)
    assert [trace.events[s]["causation_seq"] for s in (2, 3)] == [1, 1]
    assert sorted(trace.edges) == [(1, 2, "caused_by"), (1, 3, "caused_by")]


def test_lookup_and_raise_end(recorder: Recorder) -> None:
    recorder.publish(event(), None, ())  # 1

    def handler(_: Event) -> None:
        recorder.publish(event(), None, ())  # 3

    recorder.publish(event(), None, ((handler, "h"),))  # 2
    assert recorder.lookup(1) == (None, 1)
    assert recorder.lookup(3) == (2, 2)
    recorder.raise_end(1, 3)  # in place while buffered
    trace = drain_all(recorder)
    assert recorder.lookup(1) == (None, 1)  # in the batch drained last
    recorder.publish(event(), None, ())  # 4
    drain_all(recorder, trace)
    assert recorder.lookup(1) is None and recorder.lookup(4) == (None, 4)
    recorder.raise_end(2, 7)  # drained: an end update
    trace = drain_all(recorder, trace)
    assert trace.events[1]["end_seq"] == 3 and trace.events[2]["end_seq"] == 7


# ---------------------------------------------------------------- deliveries and errors


def test_deliveries_with_handler_names_as_given(recorder: Recorder) -> None:
    calls: list[str] = []

    def handler(name: str) -> Callable[[Event], None]:
        return lambda _: calls.append(name)

    names = ("ma_cross.on_bar", "breakout.on_bar", "risk.on_bar")
    recorder.publish(event(), None, tuple((handler(n), n) for n in names))
    trace = drain_all(recorder)
    assert calls == list(names)
    assert [d["handler"] for d in trace.deliveries] == list(names)
    times = [(d["received_ns"], d["processed_ns"]) for d in trace.deliveries]
    # one clock read per boundary: each handler is received when the previous returned
    assert all(times[i][1] == times[i + 1][0] for i in range(len(times) - 1))
    row = trace.events[1]
    assert row["emitted_ns"] == times[0][0] >= row["created_ns"]


def test_no_handlers_ends_at_once(recorder: Recorder) -> None:
    recorder.publish(event(), None, ())
    row = drain_all(recorder).events[1]
    assert row["end_seq"] == 1 and row["emitted_ns"] == row["created_ns"]


def test_dispatch_wraps_each_call(recorder: Recorder) -> None:
    wrapped: list[str] = []

    def dispatch(e: Event, h: Callable[[Event], object]) -> None:
        wrapped.append("before")
        h(e)

    recorder.publish(event(), None, ((lambda e: wrapped.append("h"), "h"),), dispatch)
    assert wrapped == ["before", "h"]


def test_error_raises_by_default_and_ends_the_frame(recorder: Recorder) -> None:
    def boom(_: Event) -> None:
        raise ValueError("bad price")

    never: list[Event] = []
    with pytest.raises(ValueError, match="bad price"):
        recorder.publish(event(), None, ((boom, "boom"), (never.append, "never")))
    assert never == [] and recorder.current() is None
    trace = drain_all(recorder)
    assert [(d["handler"], d["error"]) for d in trace.deliveries] == [
        ("boom", "ValueError: bad price")
    ]
    assert trace.events[1]["end_seq"] == 1


def test_on_error_continues(recorder: Recorder) -> None:
    errors: list[tuple[str, str, str | None]] = []
    after: list[Event] = []

    def boom(_: Event) -> None:
        raise KeyError("k")

    def on_error(exc: Exception, name: str, e: Event) -> None:
        errors.append((type(exc).__name__, name, e.event_id))

    recorder.publish(event(), None, ((boom, "boom"), (after.append, "after")), None, on_error)
    assert errors == [("KeyError", "boom", "run-1")] and len(after) == 1
    trace = drain_all(recorder)
    assert [(d["handler"], d["error"]) for d in trace.deliveries] == [
        ("boom", "KeyError: 'k'"),
        ("after", None),
    ]


def test_on_error_that_raises_propagates(recorder: Recorder) -> None:
    def boom(_: Event) -> None:
        raise ValueError("first")

    def on_error(exc: Exception, name: str, e: Event) -> None:
        raise RuntimeError("hook failed")

    with pytest.raises(RuntimeError, match="hook failed"):
        recorder.publish(event(), None, ((boom, "boom"),), None, on_error)
    assert recorder.current() is None
    assert drain_all(recorder).events[1]["end_seq"] == 1


def test_keyboard_interrupt_always_propagates_and_ends_the_frame(recorder: Recorder) -> None:
    handled: list[Exception] = []

    def parent_handler(_: Event) -> None:
        recorder.publish(event("CHILD"), None, ((interrupt, "interrupt"),))

    def interrupt(_: Event) -> None:
        recorder.publish(event("GRANDCHILD"), None, ())
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        recorder.publish(
            event(), None, ((parent_handler, "p"),), None, lambda e, n, ev: handled.append(e)
        )
    assert handled == [] and recorder.current() is None
    trace = drain_all(recorder)
    assert [row["end_seq"] for row in trace.events.values()] == [3, 3, 3]
    assert {d["handler"]: d["error"] for d in trace.deliveries} == {
        "interrupt": "KeyboardInterrupt",
        "p": "KeyboardInterrupt",
    }


def test_self_time_is_inclusive_minus_nested(recorder: Recorder) -> None:
    def leaf(_: Event) -> None:
        sum(range(1000))

    def middle(_: Event) -> None:
        recorder.publish(event("LEAF"), None, ((leaf, "leaf"), (leaf, "leaf2")))
        recorder.publish(event("LEAF"), None, ((leaf, "leaf"),))
        recorder.publish(event("QUIET"), None, ())

    recorder.publish(event(), None, ((middle, "middle"), (leaf, "after")))
    trace = drain_all(recorder)
    by_seq: dict[int, list[dict[str, Any]]] = {}
    for d in trace.deliveries:
        by_seq.setdefault(d["seq"], []).append(d)
    for d in trace.deliveries:
        inclusive = d["processed_ns"] - d["received_ns"]
        assert 0 <= d["self_ns"] <= inclusive
    middle_delivery = next(d for d in trace.deliveries if d["handler"] == "middle")
    nested = sum(
        d["processed_ns"] - d["received_ns"]
        for d in trace.deliveries
        if trace.events[d["seq"]]["causation_seq"] == 1
    )
    inclusive = middle_delivery["processed_ns"] - middle_delivery["received_ns"]
    assert middle_delivery["self_ns"] == inclusive - nested
    after = next(d for d in trace.deliveries if d["handler"] == "after")
    assert after["self_ns"] == after["processed_ns"] - after["received_ns"]


def test_begin_delivered_end_api(recorder: Recorder) -> None:
    frame = recorder.begin(event(), "feed")
    assert recorder.current() is frame and frame.seq == 1 and frame.end == 1
    child = recorder.begin(event("CHILD"))
    recorder.delivered(child, "inner", 100, 130)
    recorder.end(child)
    assert frame.end == 2
    recorder.delivered(frame, "outer", 50, 200, "ValueError: x")
    recorder.delivered(frame, "outer2", 200, 210)
    recorder.end(frame)
    assert recorder.current() is None
    trace = drain_all(recorder)
    assert [(d["handler"], d["self_ns"], d["error"]) for d in trace.deliveries] == [
        ("inner", 30, None),
        ("outer", 120, "ValueError: x"),
        ("outer2", 10, None),
    ]
    assert trace.events[1]["emitted_ns"] == 50 - recorder.origin_ns
    assert trace.events[2]["emitted_ns"] == 100 - recorder.origin_ns
    assert trace.events[1]["source"] == "feed" and trace.events[1]["end_seq"] == 2


@pytest.mark.parametrize(
    ("handler", "received", "processed", "text", "error", "match"),
    [
        (5, 100, 130, None, TypeError, r"a handler is recorded under its name, a string; got 5"),
        (None, 100, 130, None, TypeError, r"a string; got None"),
        ("late", 130, 100, None, ValueError, r"processed_ns 100 is before received_ns 130"),
        ("h", 100.0, 130, None, TypeError, r"^received_ns must be an int, a recorder.clock\(\)"),
        ("h", 100, "130", None, TypeError, r"^processed_ns must be an int.*; got str$"),
        ("h", 100, 130, ValueError("x"), TypeError, r"^error must be str or None, not ValueErr"),
    ],
)
def test_a_delivery_that_is_no_delivery_is_refused_and_the_run_goes_on(
    recorder: Recorder,
    handler: Any,
    received: Any,
    processed: Any,
    text: Any,
    error: type[Exception],
    match: str,
) -> None:
    """A custom bus's mistake is said where it is made, not as a batch that can't be drained
    (which would fail the run) nor as a negative handling time."""
    frame = recorder.begin(event(), "feed")
    with pytest.raises(error, match=match):
        recorder.delivered(frame, handler, received, processed, text)
    with pytest.raises(TypeError, match=r"^expected a Frame from this recorder's begin\(\), not"):
        recorder.delivered(frame.seq, "ok", 100, 130)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^expected a Frame from this recorder's begin\(\), not"):
        recorder.end("frame")  # type: ignore[arg-type]
    recorder.delivered(frame, "ok", 100, 130)
    recorder.end(frame)
    trace = drain_all(recorder)
    assert [(d["handler"], d["self_ns"]) for d in trace.deliveries] == [("ok", 30)]
    assert list(trace.events) == [1]


def test_end_in_another_thread_ends_the_event_and_says_where_to_call_it(
    recorder: Recorder,
) -> None:
    """The event's rows are complete; the context its begin() ran in can't be reached from
    the thread that ended it, so the frame stays that context's cause, as the error says."""
    raised: list[BaseException] = []

    def begin_here_end_elsewhere() -> None:
        frame = recorder.begin(event(), "feed")
        recorder.delivered(frame, "h", 100, 130)

        def end_elsewhere() -> None:
            try:
                recorder.end(frame)
            except BaseException as exc:  # kept for the assertions below
                raised.append(exc)

        worker = threading.Thread(target=end_elsewhere)
        worker.start()
        worker.join()
        with pytest.raises(ValueError, match="has already ended"):
            recorder.end(frame)
        assert recorder.current() is frame
        recorder.publish(event("NEXT"), None, ())

    contextvars.copy_context().run(begin_here_end_elsewhere)
    assert len(raised) == 1 and isinstance(raised[0], ValueError)
    assert str(raised[0]).startswith(
        "end() of event 1 was called in another thread or asyncio task than its begin()"
    )
    trace = drain_all(recorder)
    assert trace.events[1]["emitted_ns"] is not None
    # published in the context that still has it as its cause: its end reaches the child
    assert trace.events[2]["causation_seq"] == 1 and trace.events[1]["end_seq"] == 2


# ---------------------------------------------------------------- values


def test_payload_falls_back_to_encode(recorder: Recorder, hooks: Hooks) -> None:
    odd = {"price": 2**64, "qty": 1}
    recorder.publish(event(payload={"price": 1.5}), None, ())
    recorder.publish(event(payload=odd), None, ())
    assert hooks.encoded == [odd]
    trace = drain_all(recorder)
    assert trace.payload(1) == '{"price":1.5}'
    assert trace.payload(2) == hooks.encoder.encode(odd)


def test_sim_time_aware_to_utc_date_to_midnight_and_others_to_null(recorder: Recorder) -> None:
    plus2 = timezone(timedelta(hours=2))
    stamps: list[Any] = [
        datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=plus2),
        datetime(2024, 3, 1, 12, 0, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999999),
        datetime(1, 1, 1),
        date(2024, 3, 1),
        1_700_000_000,
        None,
    ]
    for stamp in stamps:
        recorder.publish(Event("T", stamp, {}), None, ())
    times = [row["sim_time"] for row in drain_all(recorder).events.values()]
    assert times == [
        datetime(2024, 3, 1, 10, 0, 0, 123456),
        datetime(2024, 3, 1, 12, 0),
        datetime(1969, 12, 31, 23, 59, 59, 999999),
        datetime(1, 1, 1),
        datetime(2024, 3, 1),
        None,
        None,
    ]


def test_partition_key_sources_and_type_names(recorder: Recorder, hooks: Hooks) -> None:
    class Feed:
        pass

    feed = Feed()
    recorder.publish(event(EventType.BAR, partition_key=7), feed, ())
    recorder.publish(event(EventType.BAR), feed, ())
    recorder.publish(event("FILL", partition_key="AAPL"), "broker", ())
    recorder.publish(event("FILL"), None, ())
    trace = drain_all(recorder)
    rows = list(trace.events.values())
    assert [(r["type"], r["source"], r["partition_key"]) for r in rows] == [
        ("BAR", "Feed", "7"),
        ("BAR", "Feed", None),
        ("FILL", "broker", "AAPL"),
        ("FILL", None, None),
    ]
    assert hooks.named.count(feed) == 1  # named once per source


@pytest.mark.parametrize(
    ("event_type", "error", "match"),
    [
        (
            123,
            TypeError,
            r"event_type must be a string \(an EventType or a name of your own\), got 123",
        ),
        (None, TypeError, "event_type must be a string .*got None"),
        (["BAR"], TypeError, "event_type must be a string .*got \\['BAR'\\]"),
        ("", ValueError, "event_type must not be empty"),
    ],
)
def test_an_event_type_that_is_no_name_is_refused_and_records_nothing(
    recorder: Recorder, event_type: Any, error: type[Exception], match: str
) -> None:
    """The store keeps types by name: a type that is not a non-empty string is the publisher's
    mistake, said at once (once per new type: known types cost nothing)."""
    recorder.publish(event("BAR"), None, ())
    with pytest.raises(error, match=match):
        recorder.publish(Event(event_type, datetime(2024, 1, 2)), None, ())
    with pytest.raises(error, match=match):
        recorder.begin(Event(event_type, datetime(2024, 1, 2)), None)
    recorder.publish(event("FILL"), None, ())
    assert [r["type"] for r in drain_all(recorder).events.values()] == ["BAR", "FILL"]
    assert recorder.current() is None


@pytest.mark.parametrize("thing", [{"event_type": "BAR"}, None, "BAR"])
def test_what_is_no_event_is_refused_naming_what_was_published(
    recorder: Recorder, thing: Any
) -> None:
    message = (
        r"publish takes an Event \(or an object with event_type, timestamp, payload and "
        rf"metadata\), got {type(thing).__name__}"
    )
    with pytest.raises(TypeError, match=message):
        recorder.publish(thing, None, ())
    with pytest.raises(TypeError, match=message):
        recorder.begin(thing)
    recorder.publish(event("BAR"), None, ())
    assert [r["type"] for r in drain_all(recorder).events.values()] == ["BAR"]


@pytest.mark.parametrize("missing", ["timestamp", "payload", "metadata"])
def test_an_object_missing_one_event_attribute_is_refused_and_leaves_no_gap(
    recorder: Recorder, missing: str
) -> None:
    """The same TypeError as for what is no event at all, not Python's AttributeError; the
    next event still gets seq 1."""
    attributes = {"event_type": "BAR", "timestamp": datetime(2024, 1, 2), "payload": {}}
    attributes["metadata"] = {}
    del attributes[missing]
    thing = type("Almost", (), attributes)()
    message = r"publish takes an Event \(or an object with .*\), got Almost"
    with pytest.raises(TypeError, match=message):
        recorder.publish(thing, None, ())
    with pytest.raises(TypeError, match=message):
        recorder.begin(thing)
    recorder.publish(event("FILL"), None, ())
    assert [(s, r["type"]) for s, r in drain_all(recorder).events.items()] == [(1, "FILL")]


def test_events_of_other_classes(recorder: Recorder) -> None:
    """Any object with the event attributes records alike: a subclass, a plain class."""

    @dataclass(slots=True)
    class Tagged(Event):
        tag: str = ""

    class Plain:
        def __init__(self, kind: str) -> None:
            self.event_type = kind
            self.timestamp = datetime(2024, 1, 2)
            self.payload = {"kind": kind}
            self.metadata: dict[str, Any] = {}

    plain = Plain("PLAIN")
    recorder.publish(event("A"), None, ())
    recorder.publish(Tagged("TAGGED", datetime(2024, 1, 2), {"t": 1}, {}, "x"), None, ())
    recorder.publish(plain, None, ())  # type: ignore[arg-type]
    recorder.publish(event("B"), None, ())
    trace = drain_all(recorder)
    assert [(r["type"], r["payload"]) for r in trace.events.values()] == [
        ("A", "{}"),
        ("TAGGED", '{"t":1}'),
        ("PLAIN", '{"kind":"PLAIN"}'),
        ("B", "{}"),
    ]
    assert plain.metadata["event_id"] == "run-3"


def test_names_with_lone_surrogates(recorder: Recorder) -> None:
    def boom(_: Event) -> None:
        raise ValueError("bad \udc80 file")

    recorder.publish(
        event("T\ud800", {"k": "v"}, partition_key="p\udc81"),
        "src\udcff",
        ((boom, "h\udc80"),),
        None,
        lambda e, n, ev: None,
    )
    trace = drain_all(recorder)
    row = trace.events[1]
    assert row["type"] == "T\\ud800" and row["source"] == "src\\udcff"
    assert row["partition_key"] == "p\\udc81"
    assert trace.deliveries[0]["handler"] == "h\\udc80"
    assert trace.deliveries[0]["error"] == "ValueError: bad \\udc80 file"


# ---------------------------------------------------------------- buffers and lifecycle


def test_snapshot_equals_drain_and_keeps_the_buffers(recorder: Recorder) -> None:
    tree(recorder, depth=2, fanout=3)
    recorder.drain()
    recorder.publish(event(), None, ())
    recorder.raise_end(1, 9)
    snapshot = recorder.snapshot()
    assert recorder.pending == 1
    drained = recorder.drain()
    for a, b in [
        (snapshot.events, drained.events),
        (snapshot.edges, drained.edges),
        (snapshot.deliveries, drained.deliveries),
        (snapshot.end_updates, drained.end_updates),
    ]:
        assert a.equals(b)
    assert snapshot.names == drained.names
    assert recorder.drain().empty


def test_end_updates_for_rows_drained_during_dispatch(recorder: Recorder) -> None:
    trace = Trace()

    def handler(_: Event) -> None:
        recorder.publish(event("CHILD"), None, ())
        trace.add(recorder.drain())  # the parent's row leaves before its dispatch ends
        recorder.publish(event("CHILD"), None, ())

    recorder.publish(event(), None, ((handler, "h"),))
    drain_all(recorder, trace)
    parent = trace.events[1]
    assert parent["end_seq"] == 3 and parent["emitted_ns"] is not None
    assert [trace.events[s]["causation_seq"] for s in (2, 3)] == [1, 1]


def test_closed_recorder_raises_the_given_error(recorder: Recorder) -> None:
    recorder.publish(event(), None, ())
    recorder.close()
    assert recorder.closed
    with pytest.raises(RecorderClosedError, match="the run is closed"):
        recorder.publish(event(), None, ())
    with pytest.raises(RecorderClosedError):
        recorder.begin(event())
    assert recorder.event_count == 1 and drain_all(recorder).events.keys() == {1}


def test_a_closed_recorder_refuses_deliveries_it_would_never_drain(recorder: Recorder) -> None:
    """A custom bus whose run closed while a dispatch was still going (a task not awaited):
    its delivery is refused, not dropped without a word. Its end is still taken (the run's
    close counts what never ended)."""
    frame = recorder.begin(event(), "feed")
    drain_all(recorder)
    recorder.close()
    with pytest.raises(RecorderClosedError, match="the run is closed"):
        recorder.delivered(frame, "late", 100, 130)
    with pytest.raises(TypeError, match="a handler is recorded under its name"):
        recorder.delivered(frame, 5, 100, 130)  # a wrong call is said as such
    recorder.end(frame)
    assert recorder.drain().deliveries.num_rows == 0


def test_open_frames_name_each_dispatch_still_running_and_its_thread(recorder: Recorder) -> None:
    """What a closing tracer waits for: every frame begun and not ended (``begin``'s and a
    publish's while its handlers run), oldest first, with the thread that began it."""
    here = threading.get_ident()
    seen: list[list[tuple[int, int]]] = []
    begun = recorder.begin(event("JOB"), "feed")
    recorder.publish(event(), None, ((lambda e: seen.append(recorder.open_frames()), "h"),))
    in_thread: dict[str, Any] = {}

    def elsewhere() -> None:
        frame = recorder.begin(event("OTHER"))
        in_thread["ident"] = threading.get_ident()
        in_thread["open"] = recorder.open_frames()
        recorder.end(frame)

    contextvars.copy_context().run(lambda: _in_thread(elsewhere))
    assert seen == [[(1, here), (2, here)]]
    assert in_thread["open"] == [(1, here), (3, in_thread["ident"])]
    assert recorder.open_frames() == [(1, here)]
    recorder.end(begun)
    assert recorder.open_frames() == []


def _in_thread(work: Callable[[], None]) -> None:
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()


def test_a_closing_recorder_lets_open_dispatches_finish_and_refuses_new_roots(
    recorder: Recorder,
) -> None:
    """Between ``begin_close`` and ``close``: a dispatch still open delivers, ends, and its
    handlers publish; a root event (outside any open dispatch) is refused, as after close."""
    frame = recorder.begin(event("JOB"), "feed")
    started_by_a_handler = contextvars.copy_context()  # a task or thread it started: JOB's
    received = recorder.clock()
    recorder.begin_close()
    assert not recorder.closed
    recorder.publish(event("RESULT"), "worker", ((lambda e: None, "on_result"),))
    recorder.delivered(frame, "worker", received, recorder.clock())
    recorder.end(frame)
    with pytest.raises(RecorderClosedError, match="the run is closed"):
        recorder.publish(event("LATE"), None, ())
    with pytest.raises(RecorderClosedError):
        recorder.begin(event("LATE"))
    with pytest.raises(RecorderClosedError):  # JOB's dispatch is over: no longer open
        started_by_a_handler.run(recorder.publish, event("LATER"), None, ())
    recorder.close()
    assert recorder.closed and recorder.event_count == 2
    trace = drain_all(recorder)
    assert {s: (e["type"], e["causation_seq"], e["end_seq"]) for s, e in trace.events.items()} == {
        1: ("JOB", None, 2),
        2: ("RESULT", 1, 2),
    }
    assert sorted(d["handler"] for d in trace.deliveries) == ["on_result", "worker"]


def test_on_full_when_a_root_ends_or_a_dispatch_buffers_twice_the_batch(
    implementation: RecorderClass, hooks: Hooks
) -> None:
    recorder = implementation("run-", 3, hooks.recorder_hooks())
    trace = Trace()
    hooks.on_full_action = lambda: trace.add(recorder.drain())
    for _ in range(2):
        recorder.publish(event(), None, ())
    assert hooks.full_calls == 0
    recorder.publish(event(), None, ())  # a root ends with 3 buffered
    assert hooks.full_calls == 1 and trace.drains == [[1, 2, 3]]

    def burst(_: Event) -> None:
        for _child in range(7):
            recorder.publish(event("CHILD"), None, ())

    recorder.publish(event(), None, ((burst, "burst"),))  # 4, children 5..11
    # 6 buffered (4..9) at the 6th: handed off mid-dispatch; 2 left when the root ends
    assert hooks.full_calls == 2 and trace.drains[1] == [4, 5, 6, 7, 8, 9]
    drain_all(recorder, trace)
    assert trace.events[4]["end_seq"] == 11
    assert sorted(trace.events) == list(range(1, 12))


class HookFailed(Exception):
    pass


def failing(*args: object) -> Any:
    raise HookFailed("hook failed")


@pytest.mark.parametrize("hook", ["encode", "name_of_source", "on_full", "recent"])
def test_a_failing_hook_raises_and_leaves_the_recorder_usable(
    implementation: RecorderClass, hook: str
) -> None:
    hooks = Hooks()
    setattr(hooks, hook, failing)
    recorder = implementation("run-", 1, hooks.recorder_hooks())
    trace = Trace()

    def handler(_: Event) -> None:
        # the event being handled leaves the recorder (a NOTE is drained after it); then an
        # unencodable payload, a new source, a named parent found only in the ring, a batch
        # size of 1: every hook gets called
        trace.add(hooks.keep(recorder.drain()))
        recorder.publish(event("NOTE"), None, ())
        trace.add(hooks.keep(recorder.drain()))
        recorder.publish(event("CHILD", {"n": 2**70}), Hooks, (), parents=[("x", "run-1")])

    with pytest.raises(HookFailed):
        recorder.publish(event(), None, ((handler, "h"),))
    assert recorder.current() is None
    del hooks.__dict__[hook]  # the hook works again
    recorder = implementation("run-", 1_000, hooks.recorder_hooks())
    trace = Trace()
    recorder.publish(event(), None, ((handler, "h"),))
    drain_all(recorder, trace)
    assert [row["type"] for row in trace.events.values()] == ["BAR", "NOTE", "CHILD"]
    assert trace.events[1]["end_seq"] == 3 and recorder.lineage_exact


def test_a_failing_ring_lookup_at_an_events_end_raises_and_leaves_it_usable(
    implementation: RecorderClass,
) -> None:
    hooks = Hooks()
    hooks.recent = failing  # type: ignore[method-assign]
    recorder = implementation("run-", 1_000, hooks.recorder_hooks())
    trace = Trace()

    def on_bar(_: Event) -> None:
        trace.add(recorder.drain())  # the BAR leaves the buffer while it is dispatched
        recorder.publish(event("NOTE"), None, ())  # 2
        trace.add(recorder.drain())  # and is no longer the batch drained last
        recorder.publish(event("ORDER"), None, ())  # 3, buffered

    recorder.publish(event("BAR"), None, ((on_bar, "on_bar"),))  # 1
    with pytest.raises(HookFailed):  # walking up from ORDER to the BAR, at the FILL's end
        recorder.publish(event("FILL"), None, ((lambda _: None, "h"),), caused_by="run-3")
    assert recorder.current() is None and recorder.event_count == 4
    recorder.publish(event("NEXT"), None, ())
    assert sorted(drain_all(recorder, trace).events) == [1, 2, 3, 4, 5]


# ---------------------------------------------------------------- threads and memory


def publish_while_draining(
    recorder: Recorder,
    *,
    name_cause: bool = False,
    keep: Callable[[Drained], Drained] = lambda drained: drained,
) -> Trace:
    """4 threads publish 2 000 roots (each causing one child, ``caused_by=`` the root when
    ``name_cause``) while a 5th drains in a loop, handing each batch to ``keep``."""
    trace = Trace()
    done = threading.Event()

    def on_root(root: Event) -> None:
        recorder.publish(event("CHILD"), None, (), caused_by=root if name_cause else None)

    def work() -> None:
        for _ in range(2_000):
            recorder.publish(event(), None, ((on_root, "r"),))

    def drainer() -> None:
        while not done.is_set():
            trace.add(keep(recorder.drain()))
        trace.add(keep(recorder.drain()))

    draining = threading.Thread(target=drainer)
    draining.start()
    workers = [threading.Thread(target=work) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    done.set()
    draining.join()
    return trace


def test_threads_publish_while_another_drains(recorder: Recorder, fast_switching: None) -> None:
    trace = publish_while_draining(recorder)
    assert sorted(trace.events) == list(range(1, 16_001))  # every seq exactly once
    for row in trace.events.values():
        if row["type"] == "CHILD":
            assert row["end_seq"] == row["seq"]
            assert trace.events[row["causation_seq"]]["end_seq"] == row["seq"]
    assert len(trace.deliveries) == 8_000


def test_named_parents_are_found_while_another_thread_drains(
    implementation: RecorderClass, hooks: Hooks, fast_switching: None
) -> None:
    """The drainer takes a batch, then hands it to the ring: publishers naming an event of it
    in between find it all the same (in the batch drained last), so the lineage stays exact."""
    recorder = implementation("run-", 1_000, hooks.recorder_hooks())
    trace = publish_while_draining(recorder, name_cause=True, keep=hooks.keep)
    assert sorted(trace.events) == list(range(1, 16_001))
    children = [row for row in trace.events.values() if row["type"] == "CHILD"]
    assert all(row["root_seq"] == row["causation_seq"] for row in children)
    assert recorder.lineage_exact


def test_concurrent_drains_are_consecutive_runs_of_seqs(
    recorder: Recorder, fast_switching: None
) -> None:
    """Rows arrive sorted by seq, each drain continuing where the last one stopped."""
    trace = publish_while_draining(recorder)
    flat = [seq for seqs in trace.drains for seq in seqs]
    assert flat == list(range(1, 16_001))


def _rss_kb() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_compiled_recorder_does_not_leak() -> None:
    """Reference counts of everything the publish path touches stay flat over 1M events, and
    so does the process size once the buffers reached their working size."""
    compiled = load()
    if compiled is None:
        pytest.skip("the compiled recorder is not built or is disabled")
    hooks = Hooks()
    recorder = compiled("run-", 10_000, hooks.recorder_hooks())
    hooks.on_full_action = recorder.drain
    payload = {"price": 1.5, "tags": ["a", "b"]}
    stamp = datetime(2024, 1, 2, tzinfo=UTC)
    source = object()

    def handler(e: Event) -> None:
        recorder.publish(Event(EventType.SIGNAL, stamp, payload, {}), source, ())

    def failing(e: Event) -> None:
        raise ValueError("x")

    handlers = ((handler, "h"), (failing, "f"))

    def ignore(exc: Exception, name: str, e: Event) -> None:
        pass

    def run(count: int) -> None:
        for _ in range(count):
            recorder.publish(
                Event(EventType.BAR, stamp, payload, {}), source, handlers, None, ignore
            )

    watched: list[Any] = [payload, stamp, source, handler, failing, EventType.BAR, ignore]
    run(50_000)
    gc.collect()
    before = [sys.getrefcount(o) for o in watched]
    rss_before = _rss_kb()
    run(450_000)  # 1M events in all
    gc.collect()
    assert [sys.getrefcount(o) for o in watched] == before
    assert _rss_kb() - rss_before < 20_000
    assert recorder.event_count == 1_000_000
