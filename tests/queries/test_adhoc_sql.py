"""Ad-hoc SQL reads and never writes."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pyarrow as pa
import pytest

from eventstore import Store, queries
from eventstore.errors import QueryError
from eventstore.render import Format, as_measurements, render, render_stream
from queries.units import duration
from tests.queries.conftest import TradingStore


def test_a_select_returns_its_rows(trading: TradingStore) -> None:
    table = queries.run_sql(
        trading.store, "SELECT event_type, count(*) AS n FROM events GROUP BY 1 ORDER BY 1"
    )
    assert table.column_names == ["event_type", "n"]
    assert "BAR" in table["event_type"].to_pylist()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("DELETE FROM events", "DELETE statements are not allowed: ad-hoc SQL is read-only"),
        ("DROP TABLE runs", "DROP statements are not allowed"),
        ("UPDATE runs SET name = 'x'", "UPDATE statements are not allowed"),
        ("CREATE TABLE t AS SELECT 1", "CREATE statements are not allowed"),
        ("COPY events TO '/tmp/leak.csv'", "COPY statements are not allowed"),
        ("ATTACH '/tmp/other.duckdb'", "ATTACH statements are not allowed"),
        ("SET threads = 1", "SET statements are not allowed"),
        ("INSTALL httpfs", "INSTALL and LOAD statements are not allowed"),
        ("SELECT 1; DELETE FROM events", "holds 2 statements: pass exactly one SELECT"),
        ("EXPLAIN ANALYZE DELETE FROM events", "EXPLAIN statements are not allowed"),
        ("SELEC * FROM runs", "malformed SQL: .*syntax error"),
        ("SELECT nope FROM runs", "the query failed: .*nope"),
        ("   ", "empty query"),
    ],
)
def test_anything_but_one_read_is_rejected(trading: TradingStore, query: str, message: str) -> None:
    before = queries.run_sql(trading.store, "SELECT count(*) AS n FROM events")["n"][0].as_py()
    with pytest.raises(QueryError, match=message):
        queries.run_sql(trading.store, query)
    after = queries.run_sql(trading.store, "SELECT count(*) AS n FROM events")["n"][0].as_py()
    assert after == before
    assert not Path("/tmp/leak.csv").exists()


def test_explain_of_a_select_is_allowed(store: Store) -> None:
    assert queries.run_sql(store, "EXPLAIN SELECT * FROM runs").num_rows >= 1


def test_stream_sql_gives_the_rows_of_run_sql_a_batch_at_a_time(trading: TradingStore) -> None:
    query = "SELECT * FROM events ORDER BY run_id, seq"
    whole = queries.run_sql(trading.store, query)
    batches = list(queries.stream_sql(trading.store, query, batch_rows=7))
    assert whole.num_rows > 7 * 3  # several batches, or this proves nothing
    assert all(0 < batch.num_rows <= 7 for batch in batches)
    assert pa.Table.from_batches(batches) == whole


def test_stream_sql_reads_only_what_is_taken(trading: TradingStore) -> None:
    rows = queries.stream_sql(trading.store, "SELECT * FROM range(1000000)", batch_rows=10)
    assert next(rows).num_rows == 10
    rows.close()  # the rest is never read


def test_stream_sql_of_no_rows_is_one_empty_batch_naming_the_columns(store: Store) -> None:
    (batch,) = queries.stream_sql(store, "SELECT run_id, event_count FROM runs")
    assert batch.num_rows == 0 and batch.schema.names == ["run_id", "event_count"]


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_a_streamed_result_renders_as_the_whole_table_does(
    trading: TradingStore, fmt: Format
) -> None:
    query = "SELECT *, 1 AS seq FROM events ORDER BY run_id, seq"  # and a repeated name
    whole, streamed = io.StringIO(), io.StringIO()
    render(queries.run_sql(trading.store, query), fmt, file=whole, limit=10, width=200)
    batches = queries.stream_sql(trading.store, query, batch_rows=4)
    render_stream(batches, fmt, file=streamed, limit=10, width=200)
    assert streamed.getvalue() == whole.getvalue()


def test_a_table_prints_one_number_alike_whatever_its_last_bits() -> None:
    # DuckDB and PostgreSQL compute one percentile to neighbouring doubles; at a half-way point
    # in decimal (758.5 ns in ms) a plain "%.3f" printed 0.758 from one and 0.759 from the other.
    # And a ratio of 1 computed as 0.9999999999999999 printed "1.000" where the other said "1".
    for figure in (0.7585, 1.0):
        printed = set()
        for value in (math.nextafter(figure, 0.0), figure, math.nextafter(figure, 2.0)):
            table = pa.table({"p50_ms": [value, 1.25]})
            for shown in (table, as_measurements(table, ["p50_ms"])):
                out = io.StringIO()
                render(shown, "table", file=out, width=80)
                printed.add(out.getvalue())
        assert len(printed) == 2, printed  # one text as decimals, one as significant digits


def test_a_duration_reads_alike_whatever_its_last_bits() -> None:
    # The report's latency tables: 2.045 µs printed "2.05 µs" from one engine, "2.04" from the other
    for figure in (0.002045, 1.0):
        neighbours = (math.nextafter(figure, 0.0), figure, math.nextafter(figure, 2.0))
        assert len({duration(value) for value in neighbours}) == 1


def test_structs_lists_and_maps_are_json_in_csv_and_tables(store: Store) -> None:
    query = "SELECT {'a': 1, 'b': [1, 2]} AS s, MAP {1: 'x'} AS m, ['p', 'q'] AS l"
    for fmt in ("csv", "table"):
        out = io.StringIO()
        render(queries.run_sql(store, query), fmt, file=out, width=80)
        text = out.getvalue().replace('""', '"')  # CSV doubles the quotes inside a cell
        assert '{"a":1,"b":[1,2]}' in text and '[[1,"x"]]' in text and '["p","q"]' in text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("DELETE FROM events", "DELETE statements are not allowed"),
        ("SELECT nope FROM runs", "the query failed: .*nope"),
    ],
)
def test_stream_sql_refuses_what_run_sql_refuses(store: Store, query: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        next(queries.stream_sql(store, query))
