"""A sweep's spool: worker processes write their runs to segment files, and the one process
that holds the DuckDB file loads them, so DuckDB only ever has one writer.

A worker's ``SpoolWriter`` is a ``BatchWriter`` with no database connection: it appends each
batch to the run's segment files (``eventstore/store/segments.py``: Arrow IPC with a CRC'd
commit record per batch, so what a killed worker committed is readable and a torn batch is
not) and writes the run's ``runs`` row and its end as small JSON files beside them. The run
gets its number (``run_no``) only when ``load_spooled_runs`` stores it, since the store
allocates run numbers. Layout of one grid point's directory::

    <point dir>/<run id, %-quoted>/run.json  end.json  000001/  000002/ …

``end.json`` is missing when the worker died: the run is then stored ``crashed`` with the
batches it committed, as a crashed run's segments are recovered on the next open of a store.

A sweep spools under ``<database>.sweep/<started>-<pid>/``. If the sweep's own process dies
(the OOM killer, SIGKILL), the runs its workers finished wait there: the next open of the
database for writing stores them (``recover_spools``), as it recovers a crashed run's segments,
so `eventstore runs` right after shows them instead of a store that seems to have lost them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from eventstore.errors import StoreError
from eventstore.store.bulk_writer import FSYNC_INTERVAL, LOAD_ROWS
from eventstore.store.duckdb_writer import DuckDBBatchWriter, delete_run
from eventstore.store.persistence import Store
from eventstore.store.processes import process_alive
from eventstore.store.segment_loader import load_segment
from eventstore.store.segments import (
    SegmentWriter,
    run_directory,
    run_segments,
    runs_with_segments,
)
from eventstore.tracing.writer import BatchWriter, RunInfo, RunStats, RunStatus, TraceBatch

SPOOL_SUFFIX = ".sweep"
"""The spool of the sweeps into ``runs.duckdb`` is the directory ``runs.duckdb.sweep``."""

_RUN = "run.json"
_END = "end.json"


class SpoolWriter:
    """One run's writer into a spool directory: segment files and JSON, no database."""

    appends_only = True

    def __init__(
        self, root: Path, *, rotate_rows: int = LOAD_ROWS, fsync_interval: float = FSYNC_INTERVAL
    ) -> None:
        self.root = root
        self.rotate_rows = rotate_rows
        """Events per segment: what the loading process loads in one transaction."""
        self.fsync_interval = fsync_interval
        self._segments: SegmentWriter | None = None
        self._directory: Path | None = None

    def begin_run(self, run: RunInfo) -> None:
        self._directory = run_directory(self.root, run.run_id)
        self._directory.mkdir()
        record = asdict(run) | {"started_at": run.started_at.isoformat()}
        write_json(self._directory / _RUN, record)
        self._segments = SegmentWriter(self.root, run.run_id, self.fsync_interval)

    def write_batch(self, batch: TraceBatch) -> None:
        if self._segments is None:
            raise StoreError(f"run {batch.run_id} was never begun: call begin_run first")
        self._segments.append(batch)
        if self._segments.pending_rows >= self.rotate_rows:
            self._segments.sync()
            self._segments.rotate()

    def end_run(self, run_id: str, status: RunStatus, error: str | None, stats: RunStats) -> None:
        if self._segments is None or self._directory is None:
            raise StoreError(f"run {run_id} was never begun: call begin_run first")
        self._segments.close(sync=True)
        ended_at = datetime.now(UTC).replace(tzinfo=None).isoformat()
        record = {"status": status, "error": error, "ended_at": ended_at, **asdict(stats)}
        write_json(self._directory / _END, record)

    def close(self) -> None:
        if self._segments is not None:
            self._segments.close(sync=True)


@dataclass(frozen=True)
class SpoolSource:
    """What a worker hands its tracer as the store: a writer into ``directory``."""

    directory: Path

    def batch_writer(self) -> BatchWriter:
        return SpoolWriter(self.directory)


@dataclass(frozen=True)
class LoadedRun:
    """A spooled run as stored: its id, tag, final status and the events loaded."""

    run_id: str
    tag: str
    status: RunStatus
    events: int
    error: str | None


def load_spooled_runs(store: Store, directory: Path, *, died: str | None = None) -> list[LoadedRun]:
    """Store every run spooled in ``directory`` (a grid point's; normally one run), then delete
    the directory. A run without an end is stored ``crashed``, with ``died`` (what the executor
    knows of the worker's death) as its error."""
    if not directory.is_dir():
        return []
    loaded = [_load_run(store, directory, run_id, died) for run_id in runs_with_segments(directory)]
    shutil.rmtree(directory, ignore_errors=True)
    return loaded


def _load_run(store: Store, root: Path, run_id: str, died: str | None) -> LoadedRun:
    folder = run_directory(root, run_id)
    info = read_json(folder / _RUN)
    if info is None:  # killed between mkdir and the run record: nothing was traced
        return LoadedRun(run_id, "", "crashed", 0, died)
    stored = _stored_before(store, run_id)
    if stored is not None:
        return stored
    run = RunInfo(**(info | {"started_at": datetime.fromisoformat(info["started_at"])}))
    writer = DuckDBBatchWriter(store.cursor())
    try:
        writer.begin_run(run)
        assert writer.run_no is not None
        events = 0
        con = store.cursor()
        try:
            for segment in run_segments(root, run_id):
                events += load_segment(con, writer.run_no, segment, replace=False)
        finally:
            con.close()
        end = read_json(folder / _END)
        if end is None:
            status: RunStatus = "crashed"
            error = died or "the worker process ended without closing the run"
            # the worker's word on its lineage bounds died with it: end_run recomputes them
            stats = RunStats(event_count=events, lineage_exact=False)
        else:
            status, error, ended_at = end.pop("status"), end.pop("error"), end.pop("ended_at")
            stats = RunStats(**end)
        writer.end_run(run_id, status, error, stats)
        if end is not None:  # when the worker ended it, not when it was loaded
            store.cursor().execute(
                "UPDATE runs SET ended_at = ? WHERE run_id = ?",
                [datetime.fromisoformat(ended_at), run_id],
            ).close()
    finally:
        writer.close()
    return LoadedRun(run_id, run.tag, status, events, error)


def _stored_before(store: Store, run_id: str) -> LoadedRun | None:
    """A run an earlier load stored whole (its loader died before deleting the spool), or
    None. The rows of a load its loader's death cut short (the run still ``running``: only
    its loader ends it) are deleted, to be loaded again whole from the spool."""
    con = store.cursor()
    try:
        row = con.execute(
            "SELECT run_no, tag, status, event_count, error FROM runs WHERE run_id = ?",
            [run_id],
        ).fetchone()
        if row is None:
            return None
        run_no, tag, status, events, error = row
        if status != "running":
            return LoadedRun(run_id, tag, status, events, error)
        con.begin()
        delete_run(con, run_no)
        con.commit()
        return None
    finally:
        con.close()


def spool_parent(database: Path) -> Path:
    """Where the sweeps into the DuckDB file ``database`` spool their runs."""
    return database.with_name(database.name + SPOOL_SUFFIX)


def orphaned_spools(parent: Path) -> list[Path]:
    """The spools in ``parent`` of sweeps whose process is gone. Whoever holds the database
    for writing may take them: a live sweep in another process would hold it. This process's
    own (a sweep running in another thread) are left alone."""
    if not parent.is_dir():
        return []
    own = f"-{os.getpid()}"
    return [spool for spool in sorted(parent.iterdir()) if not spool.name.endswith(own)]


def recover_spools(store: Store, parent: Path) -> list[LoadedRun]:
    """Store what dead sweeps left in ``parent`` (their process died before loading their
    runs: a finished run is stored as it ended, an unfinished one ``crashed``), then remove
    their spools, and ``parent`` once empty."""
    loaded: list[LoadedRun] = []
    for spool in orphaned_spools(parent):
        points = sorted(spool.iterdir())
        idle = [point for point in points if not _still_written(point)]
        for point in idle:
            died = "the sweep's process ended before storing the run"
            loaded += load_spooled_runs(store, point, died=died)
        if len(idle) == len(points):
            shutil.rmtree(spool, ignore_errors=True)
    with contextlib.suppress(OSError):  # not empty: a live sweep of this process, or a worker
        parent.rmdir()
    return loaded


def _still_written(point: Path) -> bool:
    """Whether a worker process on this machine is still tracing a run of ``point``: local
    workers outlive a killed sweep until their run ends. Its run is stored by a later open."""
    for run_id in runs_with_segments(point):
        folder = run_directory(point, run_id)
        info = read_json(folder / _RUN)
        if info is None or (folder / _END).exists() or info.get("host") != socket.gethostname():
            continue
        if process_alive(int(info["pid"])):
            return True
    return False


def has_recoverable_spools(parent: Path) -> bool:
    """Whether ``recover_spools`` would store something now."""
    return any(
        not _still_written(point) for spool in orphaned_spools(parent) for point in spool.iterdir()
    )


def write_json(path: Path, record: dict[str, Any]) -> None:
    """Write whole or not at all: a reader never sees half a record."""
    part = path.with_name(path.name + ".part")
    part.write_bytes(orjson.dumps(record))
    os.replace(part, path)


def read_json(path: Path) -> dict[str, Any] | None:
    with contextlib.suppress(FileNotFoundError):
        data = orjson.loads(path.read_bytes())
        return data if isinstance(data, dict) else None
    return None
