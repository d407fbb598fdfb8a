"""why / effects / signal_to_fill_chains on runs traced by the real tracer."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from eventstore import Event, EventTracer, QueryError, Store, TracedEventBus, open_store, queries
from eventstore.tracing import TracedEvent
from tests.queries.conftest import TradingStore
from tests.queries.flows import CLOSES, Truth, trace_trading


def depths(table: object) -> dict[str, int]:
    rows = table.to_pylist()  # type: ignore[attr-defined]
    return {row["event_id"]: row["depth"] for row in rows}


def test_why_of_a_fill_goes_back_to_the_bar_that_started_it(trading: TradingStore) -> None:
    truth = trading.a
    fill = truth.of_type("FILL")[0]
    chain = queries.why(trading.store, fill)
    assert [e.event_id for e in chain] == sorted(truth.ancestors(fill), key=truth.seq, reverse=True)
    assert [e.event_type for e in chain] == ["FILL", "BAR", "ORDER", "SIGNAL", "BAR"]
    assert chain[-1].causation_id is None


def test_why_table_names_the_edge_kind_and_the_event_it_leads_to(trading: TradingStore) -> None:
    truth = trading.a
    fill = truth.of_type("FILL")[0]
    rows = {r["event_id"]: r for r in queries.ancestors(trading.store, fill).to_pylist()}
    (order_kind, order), (price_kind, bar) = truth.parents[fill]
    assert (rows[order]["kind"], rows[order]["via_id"], rows[order]["depth"]) == (
        order_kind,
        fill,
        1,
    )
    assert (rows[bar]["kind"], rows[bar]["via_id"]) == (price_kind, fill)
    assert rows[fill]["depth"] == 0 and rows[fill]["kind"] is None
    assert depths(queries.ancestors(trading.store, fill)) == truth.ancestors(fill)


def test_effects_of_a_bar_include_fills_priced_by_it_and_what_its_signal_caused(
    trading: TradingStore,
) -> None:
    truth = trading.a
    for bar in truth.of_type("BAR"):
        table = queries.descendants(trading.store, bar)
        assert depths(table) == truth.descendants(bar)
        assert table["event_id"].to_pylist() == sorted(truth.descendants(bar), key=truth.seq)


def test_why_and_effects_agree_with_the_truth_for_every_event(trading: TradingStore) -> None:
    for truth in (trading.a, trading.b, trading.failing):
        for event_id in truth.ids:
            assert depths(queries.ancestors(trading.store, event_id)) == truth.ancestors(event_id)
            assert depths(queries.descendants(trading.store, event_id)) == truth.descendants(
                event_id
            )


def test_a_read_only_store_keeps_the_runs_it_found_and_answers_as_one_opened_afresh(
    tmp_path: Path,
) -> None:
    path = tmp_path / "runs.duckdb"
    with open_store(path) as store:
        assert not store.frozen  # its own writer may change it
        runs = [trace_trading(store, CLOSES, name=name) for name in ("a", "b")]
    with open_store(path, read_only=True) as reader:
        assert reader.frozen
        for _ in range(2):  # the second round finds both runs kept
            for truth in runs:
                for event_id in truth.ids:
                    assert [e.event_id for e in queries.why(reader, event_id)] == sorted(
                        truth.ancestors(event_id), key=truth.seq, reverse=True
                    )
                    assert {e.event_id for e in queries.effects(reader, event_id)} == set(
                        truth.descendants(event_id)
                    )
        with pytest.raises(QueryError, match="no run"):  # an unknown tag is still looked up
            queries.why(reader, "zzzzzzzz-1")
    with open_store(":memory:") as memory:
        assert not memory.frozen


def test_traced_events_carry_payload_lineage_and_wall_clock_times(trading: TradingStore) -> None:
    truth = trading.a
    order = truth.of_type("ORDER")[0]
    event = queries.effects(trading.store, order)[0]
    assert isinstance(event, TracedEvent)
    assert event.event_id == order and event.event_type == "ORDER"
    assert event.correlation_id == truth.run_id
    assert event.causation_id == truth.parents[order][0][1]
    assert event.source_container == "Risk"
    assert event.data == {"qty": 10} and event.payload is event.data
    assert event.sequence_number == truth.seq(order)
    assert event.emitted_at is not None
    assert event.received_at is not None and event.processed_at is not None
    assert event.created_at <= event.emitted_at <= event.received_at <= event.processed_at
    assert timedelta(0) <= event.processed_at - event.created_at < timedelta(minutes=5)
    assert event.latency_ms >= 0.0


def test_signal_to_fill_chains_list_every_filled_signal(trading: TradingStore) -> None:
    truth = trading.a
    expected = []
    for fill in truth.of_type("FILL"):
        order = dict(truth.parents[fill])["caused_by"]
        signal = dict(truth.parents[order])["caused_by"]
        expected.append((signal, order, fill))
    table = queries.signal_to_fill_chains(trading.store, truth.run_id)
    rows = table.to_pylist()
    assert [(r["signal_id"], r["order_id"], r["fill_id"]) for r in rows] == expected
    assert {r["chain_length"] for r in rows} == {3}
    assert all(r["signal_to_fill_ms"] >= 0 for r in rows)
    assert len(expected) == 5


def test_an_event_id_may_use_a_prefix_of_its_run_tag(trading: TradingStore) -> None:
    fill = trading.a.of_type("FILL")[0]
    tag, _, seq = fill.rpartition("-")
    others = [t.ids[0].rpartition("-")[0] for t in (trading.b, trading.failing)]
    length = next(n for n in range(1, len(tag) + 1) if all(o[:n] != tag[:n] for o in others))
    chain = queries.why(trading.store, f"{tag[:length]}-{seq}")
    assert chain[0].event_id == fill


def test_an_event_id_may_start_with_its_whole_run_id(trading: TradingStore) -> None:
    fill = trading.a.of_type("FILL")[0]
    seq = fill.rpartition("-")[2]
    chain = queries.why(trading.store, f"{trading.a.run_id}-{seq}")  # as `runs` shows the id
    assert chain[0].event_id == fill
    assert [e.event_id for e in queries.effects(trading.store, f"{trading.a.run_id}-{seq}")] == [
        e.event_id for e in queries.effects(trading.store, fill)
    ]


@pytest.mark.parametrize("max_depth", [0, 1, 2])
def test_recursion_is_bounded_by_max_depth(trading: TradingStore, max_depth: int) -> None:
    fill = trading.a.of_type("FILL")[0]
    table = queries.ancestors(trading.store, fill, max_depth=max_depth)
    expected = {e: d for e, d in trading.a.ancestors(fill).items() if d <= max_depth}
    assert depths(table) == expected


def test_bounds_a_forgotten_parent_left_short_are_exact_once_the_run_ends(store: Store) -> None:
    """A parent that left the tracer's ring makes its ancestors' ends unknowable while the run
    goes (the recorder says lineage_exact false, and gives the late child root 1); the store
    recomputes the bounds from the whole lineage when the run ends, so queries prune it again
    and still find every edge."""
    truth = Truth()
    bus = TracedEventBus("ring")
    first = Event("TICK", datetime(2024, 1, 1), {"n": 0})
    with EventTracer(store=store, ring_size=3, batch_size=2) as tracer:
        bus.set_tracer(tracer)
        bus.publish(first, source="feed")
        truth.record(first, [])
        for n in range(1, 8):
            tick = Event("TICK", datetime(2024, 1, 1), {"n": n})
            bus.publish(tick, source="feed")
            truth.record(tick, [])
        late = Event("LATE", datetime(2024, 1, 1), {})
        bus.publish(late, source="feed", parents=[("echo_of", first)])
        truth.record(late, [("echo_of", first.metadata["event_id"])])
    assert not tracer.lineage_exact
    assert queries.list_runs(store)["lineage_exact"].to_pylist() == [True]
    stored = store.fetch_records("SELECT seq, root_seq, end_seq FROM run_events ORDER BY seq")
    ids = {truth.seq(event_id): event_id for event_id in truth.ids}
    assert {r["seq"]: (r["root_seq"], r["end_seq"]) for r in stored} == {
        seq: (
            min(truth.seq(a) for a in truth.ancestors(event_id)),
            max(truth.seq(d) for d in truth.descendants(event_id)),
        )
        for seq, event_id in ids.items()
    }
    late_id = late.metadata["event_id"]
    assert depths(queries.ancestors(store, late_id)) == truth.ancestors(late_id)
    first_id = first.metadata["event_id"]
    assert depths(queries.descendants(store, first_id)) == truth.descendants(first_id)


def test_why_and_effects_records_carry_depth_and_edge_kind(trading: TradingStore) -> None:
    """A FILL's why holds five events: the priced_by BAR is told apart by its edge kind."""
    fill = trading.a.of_type("FILL")[0]
    records = queries.why(trading.store, fill)
    truth = trading.a.ancestors(fill)
    assert {r.event_id: r.depth for r in records} == truth
    assert records[0].depth == 0 and records[0].edge_kind is None and records[0].via_id is None
    kinds = {(r.event_type, r.edge_kind, r.via_id) for r in records if r.depth == 1}
    assert ("BAR", "priced_by", fill) in kinds and ("ORDER", "caused_by", fill) in kinds
    bar = records[-1].event_id
    below = queries.effects(trading.store, bar)
    assert below[0].depth == 0 and all(r.edge_kind for r in below[1:])
    assert {r.event_id: r.depth for r in below} == trading.a.descendants(bar)


@pytest.mark.parametrize("bad", ["1; DROP TABLE runs", -1, 2.5, True])
def test_a_max_depth_that_is_not_a_count_of_edges_is_refused(
    trading: TradingStore, bad: object
) -> None:
    fill = trading.a.of_type("FILL")[0]
    for helper in (queries.why, queries.effects, queries.ancestors, queries.descendants):
        with pytest.raises(QueryError, match="max_depth must be a whole number"):
            helper(trading.store, fill, max_depth=bad)  # type: ignore[operator]
