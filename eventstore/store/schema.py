"""The run store's tables, as SQLAlchemy Core: the single source of truth Alembic migrates to.

Revision 0002 is compact: a run is numbered (``runs.run_no``) and its names (event types,
sources, handlers, edge kinds) are stored once, in ``run_names``, as small integer codes, so the
big tables (``run_events``, ``run_edges``, ``run_deliveries``) hold only integers, clock
readings and the payload, and every join is on integers. ``(run_no, seq)`` identifies an event;
ids are ``<run tag>-<seq>``, derived, never stored. The views ``events``, ``lineage_edges`` and
``deliveries`` (created by the migration) present the familiar string columns for ad-hoc SQL.

Times: ``*_ns`` columns are nanoseconds since the run's ``started_at`` on a monotonic clock;
``sim_time`` is the event's own (simulated) time. The big tables declare no key: keys cost
ingest, and ``(run_no, seq)`` is unique by construction. ``payload`` is JSON (``->>`` works
without a cast; measured by ``benchmarks/bench_payload_type.py``: validation costs about 7% of a
bulk insert and nothing measurable in 10 000-row transactions).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

metadata = MetaData()

SCHEMA_REVISION = "0003"
"""The Alembic revision this library writes; ``open_store`` upgrades older stores to it."""

RUN_TABLES = ("run_deliveries", "run_edges", "run_events", "run_names", "runs")
"""Every table holding a run's rows, referencing tables first: the order to delete a run."""

runs = Table(
    "runs",
    metadata,
    Column("run_id", String, primary_key=True, autoincrement=False),
    Column("tag", String, nullable=False, unique=True),
    Column("name", String),
    Column("status", String, nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("ended_at", DateTime),
    Column("config", JSON),
    Column("error", Text),
    Column("event_count", BigInteger, nullable=False, server_default="0"),
    Column("dropped_count", BigInteger, nullable=False, server_default="0"),
    Column("unencodable_count", BigInteger, nullable=False, server_default="0"),
    Column("lineage_exact", Boolean, nullable=False, server_default="true"),
    Column("sampling", JSON),
    Column("library_version", String),
    Column("host", String),
    Column("pid", Integer),
    # 1, 2, … in start order: the key every other table uses for the run.
    Column("run_no", Integer, nullable=False, unique=True),
)

run_names = Table(
    "run_names",
    metadata,
    Column("run_no", Integer, nullable=False),
    Column("code", Integer, nullable=False),  # the code TraceBatch.names gives the name
    Column("name", String, nullable=False),
    PrimaryKeyConstraint("run_no", "code"),
)

run_events = Table(
    "run_events",
    metadata,
    Column("run_no", Integer, nullable=False),
    Column("seq", BigInteger, nullable=False),  # gapless, 1, 2, … in publish order
    Column("type_code", Integer, nullable=False),
    Column("sim_time", DateTime),
    Column("source_code", Integer),
    Column("causation_seq", BigInteger),  # the primary cause; null for a root
    Column("root_seq", BigInteger, nullable=False),
    Column("end_seq", BigInteger),  # descendants lie in (seq, end_seq]
    Column("created_ns", BigInteger, nullable=False),
    Column("emitted_ns", BigInteger),
    Column("payload", JSON),
    Column("partition_key", String),
)

run_edges = Table(
    "run_edges",
    metadata,
    Column("run_no", Integer, nullable=False),
    Column("parent_seq", BigInteger, nullable=False),
    Column("child_seq", BigInteger, nullable=False),
    Column("kind_code", Integer, nullable=False),
)

run_deliveries = Table(
    "run_deliveries",
    metadata,
    Column("run_no", Integer, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("handler_code", Integer, nullable=False),
    Column("received_ns", BigInteger, nullable=False),
    Column("processed_ns", BigInteger, nullable=False),
    Column("self_ns", BigInteger),  # handling time minus nested deliveries; null before 0002
    Column("error", Text),
)
