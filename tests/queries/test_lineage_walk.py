"""``why``/``effects`` find a chain in one of two ways: the recursive CTE, or (for a short seq
span, ``queries/lineage_walk.py``) plain scans of the span walked in Python. Both must give the
same records: the same events, order, depth, edge kind and via, ties included. Each test forces
each way through the span limit the helpers consult, on real stores."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventstore import Event, EventTracer, Store, TracedEventBus, open_store, queries
from eventstore.queries import lineage_walk
from eventstore.tracing import TracedEvent
from tests.queries.conftest import TradingStore
from tests.queries.test_lineage_property import Plan, plans, publish_plan

ALWAYS, NEVER = 2**62, -1


def walked(monkeypatch: pytest.MonkeyPatch, store: Store, walk: bool) -> None:
    """Make ``why``/``effects`` on ``store`` walk in Python (``walk``) or use the CTE."""
    monkeypatch.setitem(lineage_walk.SHORT_SPAN, store.dialect, ALWAYS if walk else NEVER)


def both_ways(
    monkeypatch: pytest.MonkeyPatch, store: Store, event_id: str, max_depth: int = 256
) -> tuple[list[list[TracedEvent]], list[list[TracedEvent]]]:
    """``[why, effects]`` of ``event_id`` walked in Python, then by the CTE."""
    answers = []
    for walk in (True, False):
        walked(monkeypatch, store, walk)
        answers.append(
            [
                queries.why(store, event_id, max_depth=max_depth),
                queries.effects(store, event_id, max_depth=max_depth),
            ]
        )
    return answers[0], answers[1]


@pytest.fixture(scope="module")
def dag_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path: Path = tmp_path_factory.mktemp("walk-dags") / "runs.duckdb"
    with open_store(path) as store:
        yield store


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=plans, max_depth=st.sampled_from([0, 1, 2, 256]))
def test_both_ways_give_the_same_records_on_random_dags(
    dag_store: Store, monkeypatch: pytest.MonkeyPatch, plan: Plan, max_depth: int
) -> None:
    """Random DAGs hold diamonds (an event reached at one depth through several edges), so the
    tie rules are exercised; records compare whole (ids, names, times, payload, lineage)."""
    truth = publish_plan(dag_store, plan)
    for event_id in truth.ids:
        in_python, by_cte = both_ways(monkeypatch, dag_store, event_id, max_depth)
        assert in_python == by_cte
        depths = {e.event_id: e.depth for e in in_python[0]}
        assert depths == {e: d for e, d in truth.ancestors(event_id).items() if d <= max_depth}


def test_both_ways_give_the_same_records_for_a_trading_flow(
    trading: TradingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Names, payloads, delivery times and a failing handler's events, run by run."""
    for truth in (trading.a, trading.b, trading.failing):
        for event_id in truth.ids:
            in_python, by_cte = both_ways(monkeypatch, trading.store, event_id)
            assert in_python == by_cte
            assert in_python[0][0].event_type == truth.types[event_id]


def lineage(records: list[TracedEvent]) -> list[tuple[str, int | None, str | None, str | None]]:
    return [(r.event_id, r.depth, r.edge_kind, r.via_id) for r in records]


@pytest.mark.parametrize("walk", [True, False], ids=["walk", "cte"])
def test_ties_go_to_the_newest_via_upward_the_oldest_downward_then_the_smaller_kind(
    backend_store: Store, monkeypatch: pytest.MonkeyPatch, walk: bool
) -> None:
    """A diamond R → A, R → B, (A, B) → D, and two edges of different kinds R → E."""
    bus = TracedEventBus("ties")
    when = datetime(2024, 1, 2)
    r, a, b, d, e = (Event("NODE", when, {"n": n}) for n in range(5))
    with EventTracer(store=backend_store, name="ties") as tracer:
        bus.set_tracer(tracer)
        bus.publish(r, source="feed")
        bus.publish(a, source="left", caused_by=r)
        bus.publish(b, source="right", caused_by=r)
        bus.publish(d, source="join", caused_by=a, parents=[("priced_by", b)])
        bus.publish(e, source="twice", caused_by=r, parents=[("also_by", r)])
    walked(monkeypatch, backend_store, walk)
    R, A, B, D, E = (ev.metadata["event_id"] for ev in (r, a, b, d, e))

    assert lineage(queries.why(backend_store, D)) == [
        (D, 0, None, None),
        (B, 1, "priced_by", D),
        (A, 1, "caused_by", D),
        (R, 2, "caused_by", B),  # reached through A and B at depth 2: the newer via, B
    ]
    assert lineage(queries.effects(backend_store, R)) == [
        (R, 0, None, None),
        (A, 1, "caused_by", R),
        (B, 1, "caused_by", R),
        (D, 2, "caused_by", A),  # through A (caused_by) and B (priced_by): the older via, A
        (E, 1, "also_by", R),  # caused_by and also_by from R: the smaller name
    ]
    assert lineage(queries.why(backend_store, E)) == [(E, 0, None, None), (R, 1, "also_by", E)]
    sources = [x.source_container for x in queries.effects(backend_store, R)]
    assert sources == ["feed", "left", "right", "join", "twice"]


def test_a_chain_longer_than_the_guessed_span_is_found_whole(
    backend_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A child published ``GUESSED_SPAN`` + 36 seqs after its root, with unrelated events
    between: the first read beside the event misses the root (or, for effects, the child), so
    the bounds are read and the walk (or the CTE) reaches it; both ways agree."""
    bus = TracedEventBus("far")
    when = datetime(2024, 1, 2)
    root = Event("ROOT", when, {"n": 0})
    with EventTracer(store=backend_store, name="far") as tracer:
        bus.set_tracer(tracer)
        bus.publish(root, source="feed")
        for n in range(lineage_walk.GUESSED_SPAN + 35):
            bus.publish(Event("NOISE", when, {"n": n}), source="noise")
        child = Event("CHILD", when, {"n": 1})
        bus.publish(child, source="far", caused_by=root)
    R, C = (ev.metadata["event_id"] for ev in (root, child))
    in_python, by_cte = both_ways(monkeypatch, backend_store, C)
    assert in_python == by_cte
    assert lineage(in_python[0]) == [(C, 0, None, None), (R, 1, "caused_by", C)]
    in_python, by_cte = both_ways(monkeypatch, backend_store, R)
    assert in_python == by_cte
    assert lineage(in_python[1]) == [(R, 0, None, None), (C, 1, "caused_by", R)]
