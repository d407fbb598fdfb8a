"""The Perfetto export: a valid Chrome trace (required fields per phase, complete events with
non-negative durations, slices nested per track, every flow started and ended) holding every
delivery of the run, with causation flows along the lineage edges."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from eventstore import EventTracer, Store, queries
from eventstore.errors import OutputError, QueryError
from eventstore.store.duckdb_writer import DuckDBBatchWriter
from tests.queries.conftest import TradingStore
from tests.queries.flows import publish_ticks

REQUIRED = {
    "X": {"name", "ph", "ts", "dur", "pid", "tid"},
    "M": {"name", "ph", "pid", "args"},
    "s": {"name", "cat", "ph", "id", "ts", "pid", "tid"},
    "f": {"name", "cat", "ph", "id", "ts", "pid", "tid"},
}


def _ns(us: float) -> int:
    return round(us * 1000)


def validate(trace: dict[str, Any]) -> list[dict[str, Any]]:
    """Check the trace against the trace event format; return its complete events."""
    assert isinstance(trace["traceEvents"], list)
    slices: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    for event in trace["traceEvents"]:
        assert event["ph"] in REQUIRED, event
        assert REQUIRED[event["ph"]] <= set(event), event
        if event["ph"] == "X":
            assert event["dur"] >= 0 and event["ts"] >= 0
            slices[(event["pid"], event["tid"])].append((_ns(event["ts"]), _ns(event["dur"])))
    for spans in slices.values():
        stack: list[int] = []  # ends of the open slices, innermost last
        for start, dur in sorted(spans, key=lambda s: (s[0], -s[1])):
            while stack and stack[-1] <= start:
                stack.pop()
            if stack:
                assert start + dur <= stack[-1], "a slice overlaps its parent's end"
            stack.append(start + dur)
    flows: dict[int, Counter[str]] = defaultdict(Counter)
    for event in trace["traceEvents"]:
        if event["ph"] in "sf":
            flows[event["id"]][event["ph"]] += 1
            if event["ph"] == "f":
                assert event.get("bp") == "e"
            at = _ns(event["ts"])
            spans = slices[(event["pid"], event["tid"])]
            assert any(s <= at <= s + d for s, d in spans), "a flow end binds to no slice"
    assert all(c == Counter({"s": 1, "f": 1}) for c in flows.values())
    return [e for e in trace["traceEvents"] if e["ph"] == "X"]


def deliveries(store: Store, run_id: str) -> Counter[tuple[int, str, int, int]]:
    rows = store.cursor().execute(
        "SELECT seq, handler, received_ns, processed_ns FROM deliveries WHERE run_id = ?",
        [run_id],
    )
    return Counter(rows.fetchall())


def exported(trace: dict[str, Any]) -> Counter[tuple[int, str, int, int]]:
    return Counter(
        (e["args"]["seq"], e["args"]["handler"], _ns(e["ts"]), _ns(e["ts"]) + _ns(e["dur"]))
        for e in validate(trace)
    )


def test_export_holds_every_delivery_and_validates(trading: TradingStore, tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    result = queries.write_perfetto(trading.store, trading.a.run_id, path)
    trace = json.loads(path.read_text())
    assert exported(trace) == deliveries(trading.store, trading.a.run_id)
    assert result.slices == sum(deliveries(trading.store, trading.a.run_id).values())
    names = {e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "thread_name"}
    assert names == {"DataFeed", "Strategy", "Risk", "Execution"}
    assert trace["metadata"]["run"]["run_id"] == trading.a.run_id
    assert trace["metadata"]["exporter"]["name"] == "eventstore"
    assert not result.truncated


def test_flows_follow_lineage_edges_between_delivered_events(
    trading: TradingStore, tmp_path: Path
) -> None:
    path = tmp_path / "run.json"
    queries.write_perfetto(trading.store, trading.a.run_id, path)
    trace = json.loads(path.read_text())
    delivered = {seq for seq, *_ in deliveries(trading.store, trading.a.run_id)}
    truth = trading.a
    want = Counter(
        kind
        for child, parents in truth.parents.items()
        for kind, parent in parents
        if truth.seq(child) in delivered and truth.seq(parent) in delivered
    )
    got = Counter(e["name"] for e in trace["traceEvents"] if e["ph"] == "s")
    assert got == want and got["priced_by"] > 0


def test_failing_handlers_carry_their_error(trading: TradingStore, tmp_path: Path) -> None:
    path = tmp_path / "failing.json"
    queries.write_perfetto(trading.store, trading.failing.run_id, path)
    slices = validate(json.loads(path.read_text()))
    assert any("risk service unavailable" in e["args"].get("error", "") for e in slices)


def test_limit_and_window_cut_the_timeline(trading: TradingStore, tmp_path: Path) -> None:
    """``limit`` keeps the earliest deliveries (0: all of them); a window, those overlapping it."""
    run = trading.a.run_id
    every = sorted(deliveries(trading.store, run).elements(), key=lambda d: (d[2], -d[3]))
    limited = tmp_path / "limited.json"
    result = queries.write_perfetto(trading.store, run, limited, limit=5)
    assert result.truncated and result.slices == 5
    assert exported(json.loads(limited.read_text())) == Counter(every[:5])
    unlimited = tmp_path / "unlimited.json"
    result = queries.write_perfetto(trading.store, run, unlimited, limit=0)  # as --limit 0: all
    assert not result.truncated and exported(json.loads(unlimited.read_text())) == Counter(every)
    middle = every[len(every) // 2]
    start_ms, end_ms = middle[2] / 1e6, middle[3] / 1e6 + 1e-6
    windowed = tmp_path / "window.json"
    queries.write_perfetto(trading.store, run, windowed, start_ms=start_ms, end_ms=end_ms)
    got = exported(json.loads(windowed.read_text()))
    want = Counter(d for d in every if d[3] >= middle[2] and d[2] < round(end_ms * 1e6))
    assert middle in got and got == want


def test_bad_export_input_is_a_clear_error_and_no_file(
    trading: TradingStore, tmp_path: Path
) -> None:
    with pytest.raises(QueryError, match="no run"):
        queries.write_perfetto(trading.store, "no-such-run", tmp_path / "x.json")
    with pytest.raises(QueryError, match="limit -1 is negative"):
        queries.write_perfetto(trading.store, trading.a.run_id, tmp_path / "x.json", limit=-1)
    with pytest.raises(QueryError, match="window"):
        queries.write_perfetto(
            trading.store, trading.a.run_id, tmp_path / "x.json", start_ms=5, end_ms=1
        )
    with pytest.raises(QueryError, match=r"window .* starts past the end of the run"):
        queries.write_perfetto(
            trading.store, trading.a.run_id, tmp_path / "x.json", start_ms=1e5, end_ms=2e5
        )
    with pytest.raises(OutputError, match="cannot write"):
        queries.write_perfetto(trading.store, trading.a.run_id, tmp_path / "no" / "x.json")
    assert list(tmp_path.iterdir()) == []


def test_a_run_still_running_with_nothing_stored_is_an_error_not_an_empty_trace(
    store: Store, tmp_path: Path
) -> None:
    """Its batches are in segment files until the next bulk load: 0 slices would read as a
    run that did nothing."""
    with EventTracer("live", store=store) as tracer:
        publish_ticks(tracer, 3)
        with pytest.raises(
            QueryError,
            match=r"^run live is still running and none of its deliveries is stored yet: "
            r"a run's events are loaded in large batches .*: export it once it has ended$",
        ):
            queries.write_perfetto(store, "live", tmp_path / "live.json")
        assert not (tmp_path / "live.json").exists()
    result = queries.write_perfetto(store, "live", tmp_path / "live.json")
    assert (result.slices, result.partial) == (3, False)


def test_a_run_still_running_exports_what_is_stored_and_says_it_is_partial(
    store: Store, tmp_path: Path
) -> None:
    writer = DuckDBBatchWriter(store.cursor())  # stores each batch as it is handed over
    with EventTracer("live", store=writer, background=False) as tracer:
        publish_ticks(tracer, 3)
        result = queries.write_perfetto(store, "live", tmp_path / "live.json")
        assert (result.slices, result.partial) == (3, True)
        trace = json.loads(result.path.read_text())
        assert trace["metadata"]["run"]["status"] == "running"
        assert exported(trace) == deliveries(store, "live")
