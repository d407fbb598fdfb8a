"""Writes runs into a revision-0001 store exactly as the 0001 release did, for migration tests.

The tracer of this version produces the batches; ``Release0001Writer`` stores them with the
release's own SQL (its ``DuckDBBatchWriter``): ids derived as ``<tag>-<seq>``, names spelled out
in every row, one transaction per batch. Only the table layout matters to the upgrade, and this
is the layout, row for row, that the release left in users' files.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa

from eventstore.tracing.writer import RunInfo, RunStats, RunStatus, TraceBatch

ROOT = Path(__file__).resolve().parents[2]

_INSERT_EVENTS = """
INSERT INTO events (run_id, seq, event_id, event_type, sim_time, source, causation_id,
                    root_seq, end_seq, created_ns, emitted_ns, payload, partition_key, version)
SELECT $run_id, seq, $prefix || seq, t.name, sim_time, s.name,
       CASE WHEN causation_seq IS NULL THEN NULL ELSE $prefix || causation_seq END,
       root_seq, end_seq, created_ns, emitted_ns, payload, partition_key, '1.0'
FROM _es_events e
JOIN _es_names t ON t.code = e.type_code
LEFT JOIN _es_names s ON s.code = e.source_code
ORDER BY seq
"""
_INSERT_EDGES = """
INSERT INTO lineage_edges (run_id, parent_id, child_id, kind, parent_seq, child_seq)
SELECT $run_id, $prefix || parent_seq, $prefix || child_seq, k.name, parent_seq, child_seq
FROM _es_edges e JOIN _es_names k ON k.code = e.kind_code
"""
_INSERT_DELIVERIES = """
INSERT INTO deliveries (run_id, event_id, seq, handler, received_ns, processed_ns, error)
SELECT $run_id, $prefix || seq, seq, h.name, received_ns, processed_ns, error
FROM _es_deliveries d JOIN _es_names h ON h.code = d.handler_code
"""
_UPDATE_ENDS = """
UPDATE events SET end_seq = greatest(coalesce(events.end_seq, u.end_seq), u.end_seq),
                  emitted_ns = coalesce(u.emitted_ns, events.emitted_ns)
FROM _es_ends AS u
WHERE events.run_id = $run_id AND events.seq = u.seq
"""


def create_0001_store(path: Path) -> None:
    """``alembic upgrade 0001`` on a fresh file, from the repository root."""
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "-x", f"db={path}", "upgrade", "0001"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


class Release0001Writer:
    """The 0001 release's ``DuckDBBatchWriter``, on a connection of its own."""

    def __init__(self, path: Path) -> None:
        self._con = duckdb.connect(str(path))

    def begin_run(self, run: RunInfo) -> None:
        self._con.execute(
            "INSERT INTO runs (run_id, tag, name, status, started_at, config, "
            "library_version, host, pid) VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?)",
            [
                run.run_id,
                run.tag,
                run.name,
                run.started_at,
                orjson.dumps(run.config, option=orjson.OPT_NON_STR_KEYS).decode(),
                "0.1.0",
                run.host,
                run.pid,
            ],
        )

    def write_batch(self, batch: TraceBatch) -> None:
        con = self._con
        params = {"run_id": batch.run_id, "prefix": f"{batch.tag}-"}
        con.begin()
        con.register("_es_events", batch.events)
        con.register("_es_edges", batch.edges)
        con.register("_es_deliveries", batch.deliveries)
        con.register(
            "_es_names", pa.table({"code": range(len(batch.names)), "name": list(batch.names)})
        )
        con.execute(_INSERT_EVENTS, params)
        if batch.edges.num_rows:
            con.execute(_INSERT_EDGES, params)
        if batch.deliveries.num_rows:
            con.execute(_INSERT_DELIVERIES, params)
        if batch.end_updates.num_rows:
            con.register("_es_ends", batch.end_updates)
            con.execute(_UPDATE_ENDS, {"run_id": batch.run_id})
            con.unregister("_es_ends")
        con.commit()
        for name in ("_es_events", "_es_edges", "_es_deliveries", "_es_names"):
            con.unregister(name)

    def end_run(self, run_id: str, status: RunStatus, error: str | None, stats: RunStats) -> None:
        self._con.execute(
            "UPDATE runs SET status = ?, ended_at = ?, error = ?, event_count = ?, "
            "dropped_count = ?, unencodable_count = ?, lineage_exact = ? WHERE run_id = ?",
            [
                status,
                datetime.now(UTC).replace(tzinfo=None),
                error,
                stats.event_count,
                stats.dropped_count,
                stats.unencodable_count,
                stats.lineage_exact,
                run_id,
            ],
        )

    def close(self) -> None:
        self._con.close()
