"""Every query helper gives the same answer on PostgreSQL as on DuckDB.

The same traced runs go into both stores at once: a tee hands the tracer one writer that
passes every call to a DuckDB writer and a PostgreSQL writer, so both hold the same runs to the
nanosecond (ids, clock readings, payloads). Two seeds of the demo backtest (the full BAR →
SIGNAL → ORDER → FILL flow, for comparisons) and a run with a failing handler.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any

import matplotlib
import pyarrow as pa
import pyarrow.dataset
import pytest
import sqlalchemy as sa
from eventstore.queries.trades import flat_equity_curve, initial_cash

from eventstore import Store, open_store, queries
from eventstore.backtest import BacktestContainer, load_config
from eventstore.errors import StoreError
from eventstore.tracing.writer import BatchWriter, RunInfo, RunStats, RunStatus, TraceBatch
from tests.conftest import fresh_pg_database
from tests.queries.backtest_store import CONFIG
from tests.queries.flows import CLOSES, trace_trading


class TeeWriter:
    """Writes every call to each of ``writers``."""

    def __init__(self, writers: list[BatchWriter]) -> None:
        self.writers = writers

    def begin_run(self, run: RunInfo) -> None:
        for writer in self.writers:
            writer.begin_run(run)

    def write_batch(self, batch: TraceBatch) -> None:
        for writer in self.writers:
            writer.write_batch(batch)

    def end_run(self, run_id: str, status: RunStatus, error: str | None, stats: RunStats) -> None:
        for writer in self.writers:
            writer.end_run(run_id, status, error, stats)

    def close(self) -> None:
        for writer in self.writers:
            writer.close()


@dataclass
class Tee:
    """What a tracer asks a store for (``batch_writer``), answered by both stores."""

    stores: list[Store]
    url = "tee"  # what a backtest names when it announces a run
    path = None

    def batch_writer(self) -> TeeWriter:
        return TeeWriter([store.batch_writer() for store in self.stores])


@dataclass
class BothStores:
    duckdb: Store
    postgresql: Store
    runs: list[str]  # the two backtests, then the failing run
    fill: str  # a FILL of the first backtest
    signal: str


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory, pg_server: str) -> Iterator[BothStores]:
    path = tmp_path_factory.mktemp("both") / "runs.duckdb"
    with fresh_pg_database(pg_server) as url, open_store(path) as duck, open_store(url) as pg:
        tee: Any = Tee([duck, pg])
        runs = [
            BacktestContainer(load_config(CONFIG, bars=80, seed=seed), tee).run().correlation_id
            or ""
            for seed in (42, 43)
        ]
        runs.append(trace_trading(tee, CLOSES[:6], name="failing", failing_risk=True).run_id)
        _same_end_times(duck, url)
        chains = queries.signal_to_fill_chains(duck, runs[0]).to_pylist()
        yield BothStores(duck, pg, runs, chains[0]["fill_id"], chains[-1]["signal_id"])


def _same_end_times(duck: Store, url: str) -> None:
    """Each writer stamps ``ended_at`` with its own clock when the run ends, microseconds
    apart: the one value the tee can't make equal, so the PostgreSQL copy takes DuckDB's."""
    ends = duck.fetch_records("SELECT run_id, ended_at FROM runs", {})
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for row in ends:
            conn.execute(
                sa.text("UPDATE runs SET ended_at = :ended_at WHERE run_id = :run_id"), row
            )
    engine.dispose()


def plain(value: Any) -> Any:
    """A helper's answer as plain values: tables as rows, dataclasses as dicts."""
    if isinstance(value, pa.Table):
        return {"columns": value.column_names, "rows": value.to_pylist()}
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def assert_same(duck: Any, pg: Any, where: str = "") -> None:
    """Equal, floats to 1e-12 relative (percentiles interpolate in each engine's own order of
    operations; a ns difference divided by 1e6 is exact in both)."""
    if isinstance(duck, float) and isinstance(pg, float):
        assert math.isclose(duck, pg, rel_tol=1e-12, abs_tol=1e-15), f"{where}: {duck} != {pg}"
    elif isinstance(duck, dict) and isinstance(pg, dict):
        assert list(duck) == list(pg), f"{where}: keys {list(duck)} != {list(pg)}"
        for key in duck:
            assert_same(duck[key], pg[key], f"{where}.{key}")
    elif isinstance(duck, list) and isinstance(pg, list):
        assert len(duck) == len(pg), f"{where}: {len(duck)} rows != {len(pg)}"
        for index, (a, b) in enumerate(zip(duck, pg, strict=True)):
            assert_same(a, b, f"{where}[{index}]")
    else:
        assert duck == pg, f"{where}: {duck!r} != {pg!r}"


HELPERS: dict[str, Callable[[Store, BothStores], Any]] = {
    "list_runs": lambda s, b: queries.list_runs(s),
    "run_summary": lambda s, b: [queries.run_summary(s, run) for run in b.runs],
    "event_counts": lambda s, b: [queries.event_counts(s, run) for run in b.runs],
    "why": lambda s, b: queries.why(s, b.fill),
    "effects": lambda s, b: queries.effects(s, b.signal),
    "ancestors": lambda s, b: queries.ancestors(s, b.fill),
    "descendants": lambda s, b: queries.descendants(s, b.signal),
    "signal_to_fill_chains": lambda s, b: queries.signal_to_fill_chains(s, b.runs[0]),
    "chain_stats": lambda s, b: queries.chain_stats(queries.signal_to_fill_chains(s, b.runs[1])),
    "latency_by_type": lambda s, b: queries.latency_percentiles(s, b.runs[:1]),
    "latency_by_handler_per_run": lambda s, b: queries.latency_percentiles(
        s, b.runs, by="handler", per_run=True
    ),
    "latency_by_source_all_runs": lambda s, b: queries.latency_percentiles(s, by="source"),
    "handler_times": lambda s, b: queries.handler_times(s, b.runs[0]),
    "compare_runs": lambda s, b: queries.compare_runs(s, b.runs[0], b.runs[1]),
    "compare_a_run_with_itself": lambda s, b: queries.compare_runs(s, b.runs[0], b.runs[0]),
    "first_divergence": lambda s, b: queries.first_divergence(s, b.runs[0], b.runs[1]),
    "unmatched_trades": lambda s, b: queries.unmatched_trades(s, b.runs[0], b.runs[1]),
    "trade_events": lambda s, b: queries.trade_events(s, b.runs[0]),
    "orders_and_fills": lambda s, b: queries.orders_and_fills(s, b.runs[0]),
    "equity_curve": lambda s, b: queries.equity_curve(s, b.runs[1]),
    "flat_equity_curve": lambda s, b: flat_equity_curve(s, b.runs[0], initial_cash(s, b.runs[0])),
    "run_analysis": lambda s, b: queries.run_analysis(s, b.runs[2]),
    "trading_result": lambda s, b: [queries.trading_result(s, run) for run in b.runs],
    "causation_graph_up": lambda s, b: queries.causation_graph(s, b.fill),
    "causation_graph_down": lambda s, b: queries.causation_graph(s, b.signal, direction="down"),
    "graph_text": lambda s, b: queries.graph_text(queries.causation_graph(s, b.fill), "dot"),
    "latency_plot_data": lambda s, b: queries.latency_plot_data(s, b.runs[:2], by="handler"),
    "resolve_run": lambda s, b: queries.resolve_run(s, "latest"),
    "resolve_event": lambda s, b: queries.resolve_event(s, b.fill),
    "run_sql": lambda s, b: queries.run_sql(
        s,
        "SELECT event_type, count(*) AS n, max(payload ->> 'symbol') AS symbol "
        "FROM events GROUP BY event_type ORDER BY event_type",
    ),
    "stream_sql": lambda s, b: pa.Table.from_batches(
        queries.stream_sql(
            s,
            "SELECT run_id, seq, event_id, sim_time, created_ns, payload FROM events "
            "ORDER BY run_id, seq",
            batch_rows=500,
        )
    ),
}


@pytest.mark.parametrize("helper", HELPERS)
def test_a_query_helper_answers_alike_on_both_backends(both: BothStores, helper: str) -> None:
    ask = HELPERS[helper]
    on_duckdb, on_postgresql = plain(ask(both.duckdb, both)), plain(ask(both.postgresql, both))
    assert on_duckdb, f"{helper} answered nothing: the comparison would prove nothing"
    assert_same(on_duckdb, on_postgresql, helper)


def test_the_perfetto_export_is_the_same_file(both: BothStores, tmp_path: Path) -> None:
    duck, pg = tmp_path / "duckdb.json", tmp_path / "postgresql.json"
    on_duckdb = plain(queries.write_perfetto(both.duckdb, both.runs[0], duck))
    on_postgresql = plain(queries.write_perfetto(both.postgresql, both.runs[0], pg, batch_size=100))
    assert {**on_duckdb, "path": pg} == on_postgresql
    assert duck.read_bytes() == pg.read_bytes()


def test_the_report_is_the_same_page(both: BothStores) -> None:
    with matplotlib.rc_context({"svg.hashsalt": "same ids in both figures"}):
        duck = queries.report_html(both.duckdb, both.runs[0], compare=both.runs[1])
        pg = queries.report_html(both.postgresql, both.runs[0], compare=both.runs[1])
    assert duck == pg


def test_the_parquet_dataset_is_the_same_rows(both: BothStores, tmp_path: Path) -> None:
    from eventstore.store.dataset import TABLES
    from eventstore.store.parquet import export_runs

    duck, pg = tmp_path / "duckdb", tmp_path / "postgresql"
    assert export_runs(both.duckdb, duck, both.runs[:2]) == both.runs[:2]
    assert export_runs(both.postgresql, pg, both.runs[:2]) == both.runs[:2]
    for kind in TABLES:
        on_duckdb = pa.dataset.dataset(duck / kind, partitioning="hive").to_table()
        on_postgresql = pa.dataset.dataset(pg / kind, partitioning="hive").to_table()
        assert on_duckdb.num_rows > 0
        assert on_duckdb.schema == on_postgresql.schema, kind
        assert (
            on_duckdb.sort_by("run_id").to_pylist() == on_postgresql.sort_by("run_id").to_pylist()
        ), kind
    with pytest.raises(StoreError, match="no run nope in"):
        export_runs(both.postgresql, tmp_path / "other", ["nope"])


def rows(store: Store, sql: str) -> Any:
    """A query's rows, ``run_no`` left out: a store numbers its runs its own way."""
    table = store.fetch_arrow(sql)
    return plain(table.drop_columns(["run_no"]) if "run_no" in table.column_names else table)


def test_a_dataset_imports_into_postgresql_row_for_row(
    both: BothStores, tmp_path: Path, pg_server: str
) -> None:
    from eventstore.store.parquet import export_runs, import_dataset

    lake = tmp_path / "lake"
    export_runs(both.duckdb, lake)
    with fresh_pg_database(pg_server) as url, open_store(url) as imported:
        first = import_dataset(lake, imported)
        assert sorted(first.imported) == sorted(both.runs)
        again = import_dataset(lake, url)  # by URL too; nothing is loaded twice
        assert again.imported == [] and sorted(again.skipped) == sorted(both.runs)
        replaced = import_dataset(lake, imported, replace=True)
        assert sorted(replaced.replaced) == sorted(both.runs)
        for view, order in (
            ("runs", "run_id"),
            ("events", "event_id"),
            ("lineage_edges", "child_id, parent_id, kind"),
            ("deliveries", "event_id, handler, received_ns"),
        ):
            sql = f"SELECT * FROM {view} ORDER BY {order}"
            assert_same(rows(both.postgresql, sql), rows(imported, sql), view)
        assert_same(
            plain(queries.why(both.postgresql, both.fill)), plain(queries.why(imported, both.fill))
        )
