"""Tail-based sampling on both recorders, into a real DuckDB file: every FILL keeps its whole
chain, what was sampled out is counted exactly, failures are kept, and the same run sampled
twice stores the same events."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from eventstore import ConfigError, Event, EventTracer, Sampling, Store, TracedEventBus, queries
from eventstore.backtest import load_config
from eventstore.backtest.container import BacktestContainer

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config" / "multi_strategy_test.yaml"
T0 = datetime(2024, 1, 2, 9, 30)


def _backtest(store: Store, sampling: Sampling | None, batch_size: int = 512) -> str:
    """A traced demo backtest (300 bars x 4 symbols) in small batches, so that decisions
    span many drains; its run id."""
    config = load_config(CONFIG, bars=300)
    container = BacktestContainer(config, store, sampling=sampling, batch_size=batch_size)
    result = container.run()
    assert result.correlation_id is not None
    return result.correlation_id


def _rows(store: Store, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    con = store.cursor()
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def _counts(store: Store, run_id: str) -> dict[str, int]:
    return {r["event_type"]: r["events"] for r in queries.event_counts(store, run_id).to_pylist()}


def _sampling(store: Store, run_id: str) -> dict[str, Any]:
    [(text,)] = _rows(store, "SELECT sampling FROM runs WHERE run_id = ?", run_id)
    return dict(json.loads(text))


def _seqs(store: Store, run_id: str) -> list[int]:
    rows = _rows(store, "SELECT seq FROM events WHERE run_id = ? ORDER BY seq", run_id)
    return [seq for (seq,) in rows]


def _fill_chains(store: Store, run_id: str) -> dict[int, list[tuple[Any, ...]]]:
    """Every FILL's ``why`` chain, by the FILL's seq, without what differs between runs."""
    fills = _rows(
        store,
        "SELECT event_id, seq FROM events WHERE run_id = ? AND event_type = 'FILL' ORDER BY seq",
        run_id,
    )
    return {
        seq: [
            (e.sequence_number, e.event_type, e.data, e.edge_kind, e.depth, e.timestamp)
            for e in queries.why(store, event_id)
        ]
        for event_id, seq in fills
    }


SAMPLINGS = {
    "tenth": Sampling(0.1),
    "fills only": Sampling(0.0, keep_types=("FILL",)),
    "no hold": Sampling(0.1, hold_events=0),
    "tiny memory": Sampling(0.05, max_held_events=64),
}


@pytest.mark.parametrize("name", list(SAMPLINGS))
def test_every_fill_keeps_its_whole_chain_and_the_counts_add_up(
    store: Store, recorder_kind: str, name: str
) -> None:
    full = _backtest(store, None)
    sampled = _backtest(store, SAMPLINGS[name])

    full_chains = _fill_chains(store, full)
    assert len(full_chains) > 20
    assert _fill_chains(store, sampled) == full_chains
    assert all(len(chain) == 5 for chain in full_chains.values())  # FILL, 2 BARs, ORDER, SIGNAL

    record = _sampling(store, sampled)
    stored = _counts(store, sampled)
    for event_type, count in _counts(store, full).items():
        assert stored.get(event_type, 0) + record["sampled_out"].get(event_type, 0) == count
    assert record["sampled_out_total"] > 0
    assert record["late_links"] == 0
    [(event_count,)] = _rows(store, "SELECT event_count FROM runs WHERE run_id = ?", sampled)
    assert event_count == sum(stored.values()) == len(_seqs(store, sampled))


def test_a_fraction_of_one_stores_everything(store: Store, recorder_kind: str) -> None:
    full = _backtest(store, None)
    sampled = _backtest(store, Sampling(1.0))
    assert _counts(store, sampled) == _counts(store, full)
    assert _seqs(store, sampled) == _seqs(store, full)
    record = _sampling(store, sampled)
    assert record["sampled_out_total"] == 0
    assert record["fraction"] == 1.0


def test_a_fraction_of_zero_keeps_only_paths_to_kept_types(
    store: Store, recorder_kind: str
) -> None:
    run_id = _backtest(store, Sampling(0.0))
    stored = _rows(store, "SELECT seq, event_type FROM events WHERE run_id = ?", run_id)
    edges = _rows(
        store,
        "SELECT p.seq, c.seq FROM lineage_edges AS l "
        "JOIN events AS p ON p.event_id = l.parent_id JOIN events AS c ON c.event_id = l.child_id "
        "WHERE c.run_id = ?",
        run_id,
    )
    parents: dict[int, list[int]] = {}
    for parent, child in edges:
        parents.setdefault(child, []).append(parent)
    # The ancestors of every ORDER and FILL, and nothing else.
    wanted = {seq for seq, kind in stored if kind in ("ORDER", "FILL")}
    todo = list(wanted)
    while todo:
        for parent in parents.get(todo.pop(), []):
            if parent not in wanted:
                wanted.add(parent)
                todo.append(parent)
    assert {seq for seq, _ in stored} == wanted
    assert not {kind for _, kind in stored} & {"PORTFOLIO_UPDATE", "SIGNAL_REJECTED"}


def test_the_same_run_sampled_twice_stores_the_same_events(
    store: Store, recorder_kind: str
) -> None:
    first = _backtest(store, Sampling(0.2, seed=7))
    second = _backtest(store, Sampling(0.2, seed=7))
    other_seed = _backtest(store, Sampling(0.2, seed=8))
    assert _seqs(store, first) == _seqs(store, second)
    assert _sampling(store, first)["sampled_out"] == _sampling(store, second)["sampled_out"]
    assert _seqs(store, first) != _seqs(store, other_seed)


def test_events_with_a_failed_delivery_are_kept(store: Store, recorder_kind: str) -> None:
    bus = TracedEventBus("bus", on_handler_error="log")

    def on_tick(event: Event) -> None:
        if event.payload["n"] % 7 == 0:
            raise RuntimeError(f"tick {event.payload['n']} failed")
        if event.payload["n"] % 5 == 0:
            bus.publish(Event("ECHO", T0, {"n": event.payload["n"]}))

    bus.subscribe("TICK", on_tick)
    with EventTracer(store=store, batch_size=16, sampling=Sampling(0.0)) as tracer:
        bus.set_tracer(tracer)
        for n in range(200):
            bus.publish(Event("TICK", T0, {"n": n}))
    stored = _rows(
        store,
        "SELECT event_type, payload FROM events WHERE run_id = ? ORDER BY seq",
        tracer.correlation_id,
    )
    assert [json.loads(p)["n"] for _, p in stored] == [n for n in range(200) if n % 7 == 0]
    [(failures,)] = _rows(
        store,
        "SELECT count(*) FROM deliveries WHERE run_id = ? AND error IS NOT NULL",
        tracer.correlation_id,
    )
    assert failures == len(stored)
    assert _sampling(store, tracer.correlation_id)["sampled_out"] == {"ECHO": 34, "TICK": 171}


def test_a_parent_named_after_its_hold_is_counted_as_a_late_link(
    store: Store, recorder_kind: str
) -> None:
    """Within ``hold_events`` a later link keeps its parent; past it, the parent may be gone,
    and the run says so."""
    results = {}
    for hold in (0, 100):
        bus = TracedEventBus("bus")
        sampling = Sampling(0.0, keep_types=("CHILD",), hold_events=hold)
        with EventTracer(store=store, sampling=sampling) as tracer:
            bus.set_tracer(tracer)
            parent = Event("PARENT", T0)
            bus.publish(parent)
            for _ in range(3):
                bus.publish(Event("OTHER", T0))
            tracer.flush()
            bus.publish(Event("CHILD", T0), caused_by=parent)
        kinds = _rows(
            store, "SELECT event_type FROM events WHERE run_id = ?", tracer.correlation_id
        )
        results[hold] = (sorted(k for (k,) in kinds), _sampling(store, tracer.correlation_id))
    assert results[100][0] == ["CHILD", "PARENT"]
    assert results[100][1]["late_links"] == 0
    assert results[0][0] == ["CHILD"]
    assert results[0][1]["late_links"] == 1


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"fraction": 1.5}, "from 0 to 1"),
        ({"fraction": -0.1}, "from 0 to 1"),
        ({"fraction": float("nan")}, "from 0 to 1"),
        ({"fraction": "0.1"}, "from 0 to 1"),
        ({"fraction": 0.1, "keep_types": ("FILL", "")}, "event type names"),
        ({"fraction": 0.1, "hold_events": -1}, "hold_events"),
        ({"fraction": 0.1, "max_held_events": 0}, "max_held_events"),
    ],
)
def test_bad_sampling_is_a_clear_error(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Sampling(**arguments)


def test_sampling_must_be_a_sampling_object() -> None:
    with pytest.raises(TypeError, match="Sampling"):
        EventTracer(sampling=0.1)  # type: ignore[arg-type]


def test_sampling_is_off_by_default(store: Store) -> None:
    run_id = _backtest(store, None)
    assert _rows(store, "SELECT sampling FROM runs WHERE run_id = ?", run_id) == [(None,)]
