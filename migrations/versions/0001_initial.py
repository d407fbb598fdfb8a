"""Runs, events, lineage edges and deliveries.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "runs",
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
    )
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


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_table("lineage_edges")
    op.drop_table("events")
    op.drop_table("runs")
