"""The run store's tables, as SQLAlchemy Core: the single source of truth Alembic migrates to.

Times: ``*_ns`` columns are nanoseconds since the run's ``started_at`` on a monotonic clock;
``sim_time`` is the event's own (simulated) time. ``(run_id, seq)`` identifies an event; there
is no declared key on the event tables because keys cost ingest and ids are unique by
construction (``<run tag>-<seq>``).
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
    String,
    Table,
    Text,
)

metadata = MetaData()

SCHEMA_REVISION = "0001"
"""The Alembic revision this library writes; ``open_store`` upgrades older stores to it."""

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
)

events = Table(
    "events",
    metadata,
    Column("run_id", String, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("event_id", String, nullable=False),
    Column("event_type", String, nullable=False),
    Column("sim_time", DateTime),
    Column("source", String),
    Column("causation_id", String),
    Column("root_seq", BigInteger, nullable=False),
    Column("end_seq", BigInteger),
    Column("created_ns", BigInteger, nullable=False),
    Column("emitted_ns", BigInteger),
    Column("payload", Text),
    Column("partition_key", String),
    Column("version", String, nullable=False),
)

lineage_edges = Table(
    "lineage_edges",
    metadata,
    Column("run_id", String, nullable=False),
    Column("parent_id", String, nullable=False),
    Column("child_id", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("parent_seq", BigInteger, nullable=False),
    Column("child_seq", BigInteger, nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("run_id", String, nullable=False),
    Column("event_id", String, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("handler", String, nullable=False),
    Column("received_ns", BigInteger, nullable=False),
    Column("processed_ns", BigInteger, nullable=False),
    Column("error", Text),
)
