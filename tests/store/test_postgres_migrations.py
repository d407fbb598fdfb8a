"""The same Alembic migrations on PostgreSQL: up to 0001, rows written as the 0001 release
wrote them, up to 0002 with every row and id kept (read through the views), back down to
0001 row for row, and down to nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa

from eventstore import open_store, queries
from eventstore.store import migrate
from eventstore.store.schema import metadata

RUN = {
    "run_id": "run-a",
    "tag": "t1",
    "name": "essai ☃",
    "status": "completed",
    "started_at": datetime(2024, 1, 2, 9, 30),
    "event_count": 3,
}
EVENTS = [  # BAR → SIGNAL → ORDER, the ORDER also priced_by the BAR
    ("t1-1", 1, "BAR", "Feed", None, 1, 3, '{"close": 1.5}'),
    ("t1-2", 2, "SIGNAL", "Stratégie-β", "t1-1", 1, 3, '{"side": "BUY"}'),
    ("t1-3", 3, "ORDER", "Risk", "t1-2", 1, 3, '{"qty": 10, "s": "a\\"b"}'),
]
EDGES = [("t1-1", "t1-2", "caused_by", 1, 2), ("t1-2", "t1-3", "caused_by", 2, 3)]
EDGES += [("t1-1", "t1-3", "priced_by", 1, 3)]
DELIVERIES = [("t1-1", 1, "s.on_bar", 10, 20, None), ("t1-2", 2, "r.on_signal", 30, 35, "E: x")]

SNAPSHOT = {
    "runs": "SELECT run_id, tag, name, status, started_at, event_count FROM runs",
    "events": "SELECT run_id, seq, event_id, event_type, source, causation_id, root_seq, "
    "end_seq, CAST(payload AS TEXT), version FROM events ORDER BY seq",
    "lineage_edges": "SELECT run_id, parent_id, child_id, kind, parent_seq, child_seq "
    "FROM lineage_edges ORDER BY child_seq, parent_seq",
    "deliveries": "SELECT run_id, event_id, seq, handler, received_ns, processed_ns, error "
    "FROM deliveries ORDER BY seq",
}


@pytest.fixture
def engine(pg_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(pg_url)
    yield engine
    engine.dispose()


def write_0001_rows(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO runs (run_id, tag, name, status, started_at, event_count) "
                "VALUES (:run_id, :tag, :name, :status, :started_at, :event_count)"
            ),
            RUN,
        )
        for event_id, seq, kind, source, cause, root, end, payload in EVENTS:
            conn.execute(
                sa.text(
                    "INSERT INTO events (run_id, seq, event_id, event_type, sim_time, source, "
                    "causation_id, root_seq, end_seq, created_ns, emitted_ns, payload, version) "
                    "VALUES ('run-a', :seq, :id, :kind, :t, :source, :cause, :root, :end, "
                    ":seq * 10, :seq * 10, :payload, '1.0')"
                ),
                {
                    "seq": seq,
                    "id": event_id,
                    "kind": kind,
                    "t": datetime(2024, 1, 2, 9, 30),
                    "source": source,
                    "cause": cause,
                    "root": root,
                    "end": end,
                    "payload": payload,
                },
            )
        for parent, child, kind, parent_seq, child_seq in EDGES:
            conn.execute(
                sa.text("INSERT INTO lineage_edges VALUES ('run-a', :p, :c, :k, :ps, :cs)"),
                {"p": parent, "c": child, "k": kind, "ps": parent_seq, "cs": child_seq},
            )
        for event_id, seq, handler, received, processed, error in DELIVERIES:
            conn.execute(
                sa.text("INSERT INTO deliveries VALUES ('run-a', :e, :s, :h, :r, :p, :err)"),
                {
                    "e": event_id,
                    "s": seq,
                    "h": handler,
                    "r": received,
                    "p": processed,
                    "err": error,
                },
            )


def snapshot(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            name: [tuple(r) for r in conn.execute(sa.text(sql))] for name, sql in SNAPSHOT.items()
        }


def kinds(engine: sa.Engine) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT table_name, table_type FROM information_schema.tables "
                "WHERE table_schema = 'public'"
            )
        )
        return {str(name): str(kind) for name, kind in rows}


def test_migrations_go_up_and_down_keeping_every_row(engine: sa.Engine, pg_url: str) -> None:
    migrate.upgrade(engine, "0001")
    write_0001_rows(engine)
    before = snapshot(engine)
    assert len(before["events"]) == 3 and len(before["lineage_edges"]) == 3

    migrate.upgrade(engine, "head")
    assert kinds(engine) == {
        "alembic_version": "BASE TABLE",
        **{name: "BASE TABLE" for name in ("runs", "run_names", "run_events", "run_edges")},
        "run_deliveries": "BASE TABLE",
        **{name: "VIEW" for name in ("events", "lineage_edges", "deliveries")},
    }
    assert snapshot(engine) == before  # the views present the 0001 columns
    with open_store(pg_url, read_only=True) as store:  # and the queries answer on them
        assert [e.event_id for e in queries.why(store, "t1-3")] == ["t1-3", "t1-2", "t1-1"]

    migrate.downgrade(engine, "0001")
    assert set(kinds(engine).values()) == {"BASE TABLE"}
    assert snapshot(engine) == before  # the 0001 tables again, row for row

    migrate.downgrade(engine, "base")
    assert set(kinds(engine)) == {"alembic_version"}


SAME = {"TIMESTAMP WITHOUT TIME ZONE": "TIMESTAMP"}
"""How the inspector spells a type the compiler spells longer."""


def test_the_migrated_schema_matches_the_table_definitions(engine: sa.Engine) -> None:
    """schema.py is the source of truth on PostgreSQL too."""
    migrate.upgrade(engine, "head")
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        for table in metadata.sorted_tables:
            found = {
                c["name"]: (str(c["type"]), c["nullable"])
                for c in inspector.get_columns(table.name)
            }
            expected = {
                c.name: (SAME.get(t, t), c.nullable)
                for c in table.columns
                for t in [str(c.type.compile(dialect=engine.dialect))]
            }
            assert found == expected, table.name
