"""Run lists, summaries and event counts against what the tracer was given."""

from __future__ import annotations

from collections import Counter

from eventstore import queries
from tests.queries.conftest import TradingStore


def test_list_runs_shows_every_run_newest_first(trading: TradingStore) -> None:
    rows = queries.list_runs(trading.store).to_pylist()
    assert [r["run_id"] for r in rows] == [
        t.run_id for t in (trading.failing, trading.b, trading.a)
    ]
    assert [r["name"] for r in rows] == ["failing", "b", "a"]
    assert {r["status"] for r in rows} == {"completed"}
    assert [r["events"] for r in rows] == [
        len(t.ids) for t in (trading.failing, trading.b, trading.a)
    ]
    assert all(r["duration_s"] >= 0 for r in rows)


def test_run_summary_counts_events_orders_fills_and_errors(trading: TradingStore) -> None:
    for truth in (trading.a, trading.failing):
        (row,) = queries.run_summary(trading.store, truth.run_id).to_pylist()
        kinds = Counter(truth.types.values())
        assert row["run_id"] == truth.run_id
        assert row["events"] == len(truth.ids)
        assert (row["bars"], row["signals"], row["orders"], row["fills"]) == (
            kinds["BAR"],
            kinds["SIGNAL"],
            kinds["ORDER"],
            kinds["FILL"],
        )
        assert row["handler_errors"] == (kinds["SIGNAL"] if truth is trading.failing else 0)
        assert row["status"] == "completed" and row["duration_s"] >= 0


def test_event_counts_by_type(trading: TradingStore) -> None:
    table = queries.event_counts(trading.store, trading.a.run_id)
    assert dict(zip(table["event_type"].to_pylist(), table["events"].to_pylist(), strict=True)) == (
        dict(Counter(trading.a.types.values()))
    )


def test_latest_is_the_newest_run(trading: TradingStore) -> None:
    (row,) = queries.run_summary(trading.store, "latest").to_pylist()
    assert row["run_id"] == trading.failing.run_id


def test_analysis_has_summary_counts_latency_and_chains(trading: TradingStore) -> None:
    sections = dict(queries.run_analysis(trading.store, trading.a.run_id))
    assert list(sections) == [
        "summary",
        "events by type",
        "latency by event type (ms)",
        "handlers by self time (ms)",
        "signal to fill chains",
    ]
    handlers = sections["handlers by self time (ms)"]
    assert handlers.equals(queries.handler_times(trading.store, trading.a.run_id))
    (stats,) = sections["signal to fill chains"].to_pylist()
    assert stats["chains"] == 5 and stats["min_length"] == stats["max_length"] == 3
