"""Property: for random causation DAGs published through a ``TracedEventBus``, ``why`` and
``effects`` equal a breadth-first search over the parents each event was published with.

A DAG is a forest of nested publishes (a handler publishes its node's children, so each child's
implicit cause is its tree parent) plus random explicit edges: a ``caused_by`` naming an earlier
event instead of the tree parent, and extra ``parents`` of random kinds. Batch sizes as small as
1 make ``end_seq`` straddle batches; a ring of 3 events makes explicit parents fall out of it,
which turns off descendant pruning for that run (``lineage_exact = false``; ancestors are
still pruned to ``root_seq``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventstore import Event, EventTracer, Store, TracedEventBus, open_store, queries
from tests.queries.flows import Truth

Tree = list[Any]  # a node is the list of its children
trees: st.SearchStrategy[Tree] = st.recursive(
    st.just([]), lambda kids: st.lists(kids, max_size=3), max_leaves=8
)
links = st.lists(
    st.tuples(
        st.one_of(st.none(), st.integers(0, 1_000)),  # explicit caused_by: an earlier event
        st.lists(st.integers(0, 1_000), max_size=2),  # extra parents
    ),
    min_size=40,
    max_size=40,
)


@dataclass
class Plan:
    forest: list[Tree]
    links: list[tuple[int | None, list[int]]]
    batch_size: int
    ring_size: int
    background: bool


plans = st.builds(
    Plan,
    forest=st.lists(trees, min_size=1, max_size=4),
    links=links,
    batch_size=st.sampled_from([1, 2, 5, 10_000]),
    ring_size=st.sampled_from([3, 10_000]),
    background=st.booleans(),
)


def publish_plan(store: Store, plan: Plan) -> Truth:
    """Publish ``plan`` and return the parents every event was published with."""
    truth = Truth()
    bus = TracedEventBus("dag")
    published: list[Event] = []
    subtrees: dict[int, Tree] = {}  # index of a published event -> its children, to publish
    handling: list[Event] = []  # the events whose handler is running, innermost last

    def publish(node: Tree) -> None:
        index = len(published)
        cause_pick, extra_picks = plan.links[index % len(plan.links)]
        caused_by = published[cause_pick % index] if cause_pick is not None and index else None
        parents = [(f"kind{n}", published[p % index]) for n, p in enumerate(extra_picks) if index]
        cause = caused_by or (handling[-1] if handling else None)
        event = Event("NODE", datetime(2024, 1, 1), {"index": index})
        published.append(event)
        subtrees[index] = node
        bus.publish(event, source="dag", caused_by=caused_by, parents=parents)
        edges = [] if cause is None else [("caused_by", cause.metadata["event_id"])]
        truth.record(event, edges + [(k, p.metadata["event_id"]) for k, p in parents])

    def handle(event: Event) -> None:
        handling.append(event)
        try:
            for child in subtrees.pop(event.payload["index"]):
                publish(child)
        finally:
            handling.pop()

    bus.subscribe("NODE", handle)
    with EventTracer(
        store=store,
        name="dag",
        batch_size=plan.batch_size,
        ring_size=plan.ring_size,
        background=plan.background,
    ) as tracer:
        bus.set_tracer(tracer)
        for root in plan.forest:
            publish(root)
    truth.run_id = tracer.correlation_id
    return truth


@pytest.fixture(scope="module")
def dag_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path: Path = tmp_path_factory.mktemp("dags") / "runs.duckdb"
    with open_store(path) as store:
        yield store


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=plans)
def test_why_and_effects_equal_breadth_first_search(dag_store: Store, plan: Plan) -> None:
    truth = publish_plan(dag_store, plan)
    for event_id in truth.ids:
        why = queries.ancestors(dag_store, event_id).to_pylist()
        assert {r["event_id"]: r["depth"] for r in why} == truth.ancestors(event_id)
        assert [r["event_id"] for r in why] == sorted(
            truth.ancestors(event_id), key=truth.seq, reverse=True
        )
        effects = queries.effects(dag_store, event_id)
        expected = truth.descendants(event_id)
        assert sorted(e.event_id for e in effects) == sorted(expected)
        assert [e.event_id for e in effects] == sorted(expected, key=truth.seq)
    # The pruning promise holds for every stored event, and the run says so: a ring of 3
    # loses named parents while the run goes, and the store recomputes the bounds at its end.
    (run,) = dag_store.fetch_records(
        "SELECT run_no, lineage_exact FROM runs WHERE run_id = :run_id", {"run_id": truth.run_id}
    )
    assert run["lineage_exact"]
    bounds = dag_store.fetch_records(
        "SELECT seq, root_seq, end_seq FROM run_events WHERE run_no = :run_no",
        {"run_no": run["run_no"]},
    )
    for row in bounds:
        event_id = next(i for i in truth.ids if truth.seq(i) == row["seq"])
        assert row["root_seq"] <= min(truth.seq(a) for a in truth.ancestors(event_id))
        assert row["end_seq"] >= max(truth.seq(d) for d in truth.descendants(event_id))
