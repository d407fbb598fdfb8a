"""Ad-hoc SQL reads and never writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventstore import Store, queries
from eventstore.errors import QueryError
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
