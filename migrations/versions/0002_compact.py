"""Compact schema: runs numbered, names coded once per run, integer keys; views keep the old names.

The 0001 tables ``events``, ``lineage_edges`` and ``deliveries`` repeated the run id, the event
ids and every name in every row. 0002 stores ``run_events``, ``run_edges`` and ``run_deliveries``
keyed by ``(run_no, seq)`` (indexed on PostgreSQL; DuckDB's zone maps need no index) with
names as codes into ``run_names``, and views under the old names present the old columns (ids
derived as ``<tag>-<seq>``), so ad-hoc SQL keeps working.

The upgrade keeps every row and id: it first checks that every 0001 id is ``<run tag>-<seq>``
(true of everything eventstore wrote) and refuses, changing nothing, if a row breaks that. Runs
are numbered in start order. DuckDB can't add a constraint to a table, so ``runs`` is rebuilt.
The downgrade rebuilds the 0001 tables from the views (self time, new in 0002, is dropped).
The view definitions live here, frozen with the revision that creates them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from eventstore.errors import SchemaVersionError

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENT_VERSION = "1.0"
"""The only ``events.version`` eventstore ever wrote; the view presents it."""


def _id(tag: str, seq: str) -> str:
    return f"{tag} || '-' || CAST({seq} AS VARCHAR)"


EVENTS_VIEW = f"""
SELECT r.run_id, e.seq, {_id("r.tag", "e.seq")} AS event_id, t.name AS event_type, e.sim_time,
       s.name AS source,
       CASE WHEN e.causation_seq IS NOT NULL THEN {_id("r.tag", "e.causation_seq")} END
           AS causation_id,
       e.root_seq, e.end_seq, e.created_ns, e.emitted_ns, e.payload, e.partition_key,
       CAST('{EVENT_VERSION}' AS VARCHAR) AS version, e.run_no, e.causation_seq
FROM run_events AS e
JOIN runs AS r ON r.run_no = e.run_no
JOIN run_names AS t ON t.run_no = e.run_no AND t.code = e.type_code
LEFT JOIN run_names AS s ON s.run_no = e.run_no AND s.code = e.source_code
"""
EDGES_VIEW = f"""
SELECT r.run_id, {_id("r.tag", "g.parent_seq")} AS parent_id,
       {_id("r.tag", "g.child_seq")} AS child_id, k.name AS kind, g.parent_seq, g.child_seq,
       g.run_no
FROM run_edges AS g
JOIN runs AS r ON r.run_no = g.run_no
JOIN run_names AS k ON k.run_no = g.run_no AND k.code = g.kind_code
"""
DELIVERIES_VIEW = f"""
SELECT r.run_id, {_id("r.tag", "d.seq")} AS event_id, d.seq, h.name AS handler, d.received_ns,
       d.processed_ns, d.self_ns, d.error, d.run_no
FROM run_deliveries AS d
JOIN runs AS r ON r.run_no = d.run_no
JOIN run_names AS h ON h.run_no = d.run_no AND h.code = d.handler_code
"""
PG_INDEXES = {
    "run_events": ("run_no", "seq"),
    "run_edges": ("run_no", "child_seq"),
    "run_deliveries": ("run_no", "seq"),
}
"""PostgreSQL only: the lookups every query and the writer's end updates make."""
VIEWS = {"events": EVENTS_VIEW, "lineage_edges": EDGES_VIEW, "deliveries": DELIVERIES_VIEW}


def _runs_columns(with_run_no: bool) -> list[sa.Column[object]]:
    columns: list[sa.Column[object]] = [
        sa.Column("run_id", sa.String, primary_key=True, autoincrement=False),
        sa.Column("tag", sa.String, nullable=False, unique=True),
        sa.Column("name", sa.String),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("ended_at", sa.DateTime),
        sa.Column("config", sa.JSON),
        sa.Column("error", sa.Text),
        sa.Column("event_count", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("dropped_count", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("unencodable_count", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("lineage_exact", sa.Boolean, nullable=False, server_default="true"),
        sa.Column("sampling", sa.JSON),
        sa.Column("library_version", sa.String),
        sa.Column("host", sa.String),
        sa.Column("pid", sa.Integer),
    ]
    if with_run_no:
        columns.append(sa.Column("run_no", sa.Integer, nullable=False, unique=True))
    return columns


_RUNS_0001 = (
    "run_id, tag, name, status, started_at, ended_at, config, error, event_count, "
    "dropped_count, unencodable_count, lineage_exact, sampling, library_version, host, pid"
)


def _exec(sql: str) -> sa.CursorResult[tuple[object, ...]]:
    return op.get_bind().execute(sa.text(sql))


# ------------------------------------------------------------------------------------ upgrade


def _not_a_seq(text: str) -> str:
    """A predicate true when ``text`` is not the decimal digits of a seq."""
    if op.get_bind().dialect.name == "postgresql":
        return f"({text}) !~ '^[0-9]+$'"
    number = f"TRY_CAST({text} AS BIGINT)"
    return f"({number} IS NULL OR CAST({number} AS VARCHAR) <> {text})"


def _violations() -> list[str]:
    """What in a 0001 store breaks an assumption of the upgrade; empty when it can go ahead."""
    suffix = "substr(e.causation_id, length(r.tag) + 2)"
    checks = {
        "an event of a run not in runs": (
            "SELECT e.run_id, e.event_id FROM events AS e "
            "LEFT JOIN runs AS r ON r.run_id = e.run_id WHERE r.run_id IS NULL"
        ),
        "an event id that is not <run tag>-<seq>": (
            "SELECT e.run_id, e.event_id FROM events AS e JOIN runs AS r ON r.run_id = e.run_id "
            f"WHERE e.event_id <> {_id('r.tag', 'e.seq')}"
        ),
        "a causation id that is not <run tag>-<seq> of its run": (
            "SELECT e.run_id, e.causation_id FROM events AS e "
            "JOIN runs AS r ON r.run_id = e.run_id WHERE e.causation_id IS NOT NULL "
            f"AND (NOT starts_with(e.causation_id, r.tag || '-') OR {_not_a_seq(suffix)})"
        ),
        f"an event version other than {EVENT_VERSION}": (
            f"SELECT e.run_id, e.version FROM events AS e WHERE e.version <> '{EVENT_VERSION}'"
        ),
        "a lineage edge whose ids are not <run tag>-<seq>": (
            "SELECT g.run_id, g.child_id FROM lineage_edges AS g "
            "LEFT JOIN runs AS r ON r.run_id = g.run_id WHERE r.run_id IS NULL "
            f"OR g.parent_id <> {_id('r.tag', 'g.parent_seq')} "
            f"OR g.child_id <> {_id('r.tag', 'g.child_seq')}"
        ),
        "a delivery whose event id is not <run tag>-<seq>": (
            "SELECT d.run_id, d.event_id FROM deliveries AS d "
            "LEFT JOIN runs AS r ON r.run_id = d.run_id WHERE r.run_id IS NULL "
            f"OR d.event_id <> {_id('r.tag', 'd.seq')}"
        ),
    }
    if op.get_bind().dialect.name == "duckdb":
        checks["a payload that is not JSON"] = (
            "SELECT e.run_id, e.event_id FROM events AS e "
            "WHERE e.payload IS NOT NULL AND NOT json_valid(e.payload)"
        )
    found = []
    for what, query in checks.items():
        row = _exec(f"{query} LIMIT 1").first()
        if row is not None:
            found.append(f"{what} (run {row[0]}: {row[1]!r})")
    return found


def upgrade() -> None:
    problems = _violations()
    if problems:
        raise SchemaVersionError(
            "cannot upgrade this store to schema 0002 without changing ids; it holds "
            + "; ".join(problems)
            + ": it was left at revision 0001 unchanged; keep using the eventstore release "
            "that wrote it, or export the runs you need and trace them again"
        )
    _number_runs()
    op.create_table(
        "run_names",
        sa.Column("run_no", sa.Integer, nullable=False),
        sa.Column("code", sa.Integer, nullable=False),
        sa.Column("name", sa.String, nullable=False),
        sa.PrimaryKeyConstraint("run_no", "code"),
    )
    op.create_table(
        "run_events",
        sa.Column("run_no", sa.Integer, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("type_code", sa.Integer, nullable=False),
        sa.Column("sim_time", sa.DateTime),
        sa.Column("source_code", sa.Integer),
        sa.Column("causation_seq", sa.BigInteger),
        sa.Column("root_seq", sa.BigInteger, nullable=False),
        sa.Column("end_seq", sa.BigInteger),
        sa.Column("created_ns", sa.BigInteger, nullable=False),
        sa.Column("emitted_ns", sa.BigInteger),
        sa.Column("payload", sa.JSON),
        sa.Column("partition_key", sa.String),
    )
    op.create_table(
        "run_edges",
        sa.Column("run_no", sa.Integer, nullable=False),
        sa.Column("parent_seq", sa.BigInteger, nullable=False),
        sa.Column("child_seq", sa.BigInteger, nullable=False),
        sa.Column("kind_code", sa.Integer, nullable=False),
    )
    op.create_table(
        "run_deliveries",
        sa.Column("run_no", sa.Integer, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("handler_code", sa.Integer, nullable=False),
        sa.Column("received_ns", sa.BigInteger, nullable=False),
        sa.Column("processed_ns", sa.BigInteger, nullable=False),
        sa.Column("self_ns", sa.BigInteger),
        sa.Column("error", sa.Text),
    )
    # Codes in name order within each run: any order would do, the writer uses first-seen.
    _exec(
        """
        INSERT INTO run_names (run_no, code, name)
        SELECT r.run_no, CAST(row_number() OVER (PARTITION BY r.run_no ORDER BY n.name) - 1
                              AS INTEGER), n.name
        FROM (SELECT run_id, event_type AS name FROM events
              UNION SELECT run_id, source FROM events WHERE source IS NOT NULL
              UNION SELECT run_id, kind FROM lineage_edges
              UNION SELECT run_id, handler FROM deliveries) AS n
        JOIN runs AS r ON r.run_id = n.run_id
        """
    )
    # Sorted by (run_no, seq), so zone maps prune lineage queries to a row group or two.
    _exec(
        """
        INSERT INTO run_events (run_no, seq, type_code, sim_time, source_code, causation_seq,
                                root_seq, end_seq, created_ns, emitted_ns, payload, partition_key)
        SELECT r.run_no, e.seq, t.code, e.sim_time, s.code,
               CAST(substr(e.causation_id, length(r.tag) + 2) AS BIGINT),
               e.root_seq, e.end_seq, e.created_ns, e.emitted_ns, CAST(e.payload AS JSON),
               e.partition_key
        FROM events AS e
        JOIN runs AS r ON r.run_id = e.run_id
        JOIN run_names AS t ON t.run_no = r.run_no AND t.name = e.event_type
        LEFT JOIN run_names AS s ON s.run_no = r.run_no AND s.name = e.source
        ORDER BY r.run_no, e.seq
        """
    )
    _exec(
        """
        INSERT INTO run_edges (run_no, parent_seq, child_seq, kind_code)
        SELECT r.run_no, g.parent_seq, g.child_seq, k.code
        FROM lineage_edges AS g
        JOIN runs AS r ON r.run_id = g.run_id
        JOIN run_names AS k ON k.run_no = r.run_no AND k.name = g.kind
        ORDER BY r.run_no, g.child_seq, g.parent_seq
        """
    )
    _exec(
        """
        INSERT INTO run_deliveries (run_no, seq, handler_code, received_ns, processed_ns,
                                    self_ns, error)
        SELECT r.run_no, d.seq, h.code, d.received_ns, d.processed_ns, NULL, d.error
        FROM deliveries AS d
        JOIN runs AS r ON r.run_id = d.run_id
        JOIN run_names AS h ON h.run_no = r.run_no AND h.name = d.handler
        ORDER BY r.run_no, d.seq, d.received_ns
        """
    )
    op.drop_table("deliveries")
    op.drop_table("lineage_edges")
    op.drop_table("events")
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, body in VIEWS.items():
        # On DuckDB each view is one MATERIALIZED CTE: the planner then treats it as one
        # relation. Without it, a user's join of several copies of the views (FILL → ORDER →
        # SIGNAL → BAR is 7 of them) hands DuckDB's join-order optimizer some 20 tables joined
        # on computed ids, and it picked plans estimated at ~10^9 rows that filled the disk
        # with temp files. Filters still reach the tables (measured: a point lookup by run_id
        # and seq 1.8 ms on 10M events either way; a full GROUP BY 58 → 77 ms). PostgreSQL
        # would compute a materialized CTE whole before filtering it: there the view is plain.
        _exec(
            f"CREATE VIEW {name} AS {body}"
            if postgres
            else f"CREATE VIEW {name} AS WITH v AS MATERIALIZED ({body}) SELECT * FROM v"
        )
    if postgres:
        # DuckDB prunes by (run_no, seq) with zone maps; PostgreSQL needs indexes to find a
        # run's rows, a lineage range or the events a batch's end updates touch.
        for table, columns in PG_INDEXES.items():
            op.create_index(f"ix_{table}_{'_'.join(columns)}", table, list(columns))


def _number_runs() -> None:
    """Rebuild ``runs`` with ``run_no`` (1, 2, … by start), every other column as it was."""
    _exec("CREATE TABLE runs_0001 AS SELECT * FROM runs")
    op.drop_table("runs")
    op.create_table("runs", *_runs_columns(with_run_no=True))
    _exec(
        f"INSERT INTO runs ({_RUNS_0001}, run_no) SELECT {_RUNS_0001}, "
        "CAST(row_number() OVER (ORDER BY started_at, run_id) AS INTEGER) FROM runs_0001"
    )
    op.drop_table("runs_0001")


# ---------------------------------------------------------------------------------- downgrade


def downgrade() -> None:
    for name in reversed(VIEWS):
        _exec(f"DROP VIEW {name}")
    op.create_table(
        "events",
        sa.Column("run_id", sa.String, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("event_id", sa.String, nullable=False),
        sa.Column("event_type", sa.String, nullable=False),
        sa.Column("sim_time", sa.DateTime),
        sa.Column("source", sa.String),
        sa.Column("causation_id", sa.String),
        sa.Column("root_seq", sa.BigInteger, nullable=False),
        sa.Column("end_seq", sa.BigInteger),
        sa.Column("created_ns", sa.BigInteger, nullable=False),
        sa.Column("emitted_ns", sa.BigInteger),
        sa.Column("payload", sa.Text),
        sa.Column("partition_key", sa.String),
        sa.Column("version", sa.String, nullable=False),
    )
    op.create_table(
        "lineage_edges",
        sa.Column("run_id", sa.String, nullable=False),
        sa.Column("parent_id", sa.String, nullable=False),
        sa.Column("child_id", sa.String, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("parent_seq", sa.BigInteger, nullable=False),
        sa.Column("child_seq", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("run_id", sa.String, nullable=False),
        sa.Column("event_id", sa.String, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("handler", sa.String, nullable=False),
        sa.Column("received_ns", sa.BigInteger, nullable=False),
        sa.Column("processed_ns", sa.BigInteger, nullable=False),
        sa.Column("error", sa.Text),
    )
    _exec(
        "INSERT INTO events (run_id, seq, event_id, event_type, sim_time, source, causation_id, "
        "root_seq, end_seq, created_ns, emitted_ns, payload, partition_key, version) "
        "SELECT run_id, seq, event_id, event_type, sim_time, source, causation_id, root_seq, "
        "end_seq, created_ns, emitted_ns, CAST(payload AS TEXT), partition_key, version "
        f"FROM ({EVENTS_VIEW}) AS v ORDER BY run_no, seq"
    )
    _exec(
        "INSERT INTO lineage_edges (run_id, parent_id, child_id, kind, parent_seq, child_seq) "
        "SELECT run_id, parent_id, child_id, kind, parent_seq, child_seq "
        f"FROM ({EDGES_VIEW}) AS v ORDER BY run_no, child_seq, parent_seq"
    )
    _exec(
        "INSERT INTO deliveries (run_id, event_id, seq, handler, received_ns, processed_ns, "
        "error) SELECT run_id, event_id, seq, handler, received_ns, processed_ns, error "
        f"FROM ({DELIVERIES_VIEW}) AS v ORDER BY run_no, seq, received_ns"
    )
    op.drop_table("run_deliveries")
    op.drop_table("run_edges")
    op.drop_table("run_events")
    op.drop_table("run_names")
    _exec(f"CREATE TABLE runs_0002 AS SELECT {_RUNS_0001} FROM runs")
    op.drop_table("runs")
    op.create_table("runs", *_runs_columns(with_run_no=False))
    _exec(f"INSERT INTO runs ({_RUNS_0001}) SELECT {_RUNS_0001} FROM runs_0002")
    op.drop_table("runs_0002")
