"""Segment files: a run's batches appended to Arrow IPC streams beside the database.

Appending a batch costs a few ``write`` calls of Arrow buffers (no per-row Python, no database
transaction), and what is written survives the death of the process: the bulk writer loads
segments into DuckDB in large transactions, and the next open loads those of a crashed run.

Layout, beside ``runs.duckdb``::

    runs.duckdb.segments/<run id, %-quoted>/<segment no, 6 digits>/
        events.arrows  edges.arrows  deliveries.arrows  end_updates.arrows  names.arrows
        batches

Each ``.arrows`` file is an Arrow IPC stream of one table (``names``: every name coded so far
in a segment's first batch, then the names each later batch coded first, so a segment loads on
its own). ``batches`` is the segment's commit log: one fixed-size record per batch, appended
only after all of that batch's tables were written, giving the batch's first seq, its rows and
bytes in each stream and a CRC-32 of those bytes. **A batch is the unit**: it
is in the segment if and only if its record is whole and its bytes match the CRC, and a reader
stops at the first batch that fails either test, so whatever a dying process or a power loss
left half-written costs that batch and the ones after it, never an earlier one.

Durability: ``write`` hands the bytes to the kernel, so a SIGKILL loses nothing appended. A
power loss or an OS crash can lose what was appended since the last ``fsync``: ``append``
fsyncs the streams, then the commit log, at most once every ``fsync_interval`` seconds (the
first append that long after the previous fsync), and ``sync`` does it on demand. The kernel may
write the log before the streams, or leave zeros where data should be: the CRC catches both.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

import pyarrow as pa

from eventstore.tracing.writer import (
    DELIVERIES_SCHEMA,
    EDGES_SCHEMA,
    END_UPDATES_SCHEMA,
    EVENTS_SCHEMA,
    TraceBatch,
)

NAMES_SCHEMA = pa.schema([("name", pa.string())])
TABLES: dict[str, pa.Schema] = {
    "events": EVENTS_SCHEMA,
    "edges": EDGES_SCHEMA,
    "deliveries": DELIVERIES_SCHEMA,
    "end_updates": END_UPDATES_SCHEMA,
    "names": NAMES_SCHEMA,
}
_MAGIC = 0x45534547_30303031  # "ESEG0001"
_RECORD = struct.Struct("<13q")
"""A commit record: magic, first seq (0 if the batch has no events), then per stream (events,
edges, deliveries, end_updates, names) the rows and then the bytes the batch added, then the
CRC-32 of those bytes, stream after stream."""
_LOG = "batches"
SUFFIX = ".segments"


def segments_root(database: Path) -> Path:
    """Where the segments of ``database``'s runs live: ``<database>.segments``."""
    return database.with_name(database.name + SUFFIX)


def run_directory(root: Path, run_id: str) -> Path:
    """The run's own directory under ``root``. ``quote`` leaves dots as they are, so a run id
    ``..`` or ``.`` (a user's ``correlation_id``) would name the database's folder or the
    folder of every run's segments, which ``remove_run`` deletes: their dots are quoted too
    (``unquote`` reads them back)."""
    name = quote(run_id, safe="")
    if name in (".", ".."):
        name = name.replace(".", "%2E")
    return root / name


def runs_with_segments(root: Path) -> list[str]:
    """The run ids that have a segment directory under ``root``."""
    if not root.is_dir():
        return []
    return sorted(unquote(p.name) for p in root.iterdir() if p.is_dir())


def run_segments(root: Path, run_id: str) -> list[Segment]:
    """A run's segments on disk, oldest first."""
    directory = run_directory(root, run_id)
    if not directory.is_dir():
        return []
    numbered = (p for p in directory.iterdir() if p.is_dir() and p.name.isdigit())
    return [Segment(p) for p in sorted(numbered, key=lambda p: int(p.name))]


def remove_run(root: Path, run_id: str) -> None:
    """Delete a run's segment directory (every segment of it must be loaded already)."""
    shutil.rmtree(run_directory(root, run_id), ignore_errors=True)
    with contextlib.suppress(OSError):  # not empty (another run's segments) or gone
        root.rmdir()


@dataclass(frozen=True)
class BatchRecord:
    first_seq: int
    rows: tuple[int, ...]
    """Rows added to each stream, in ``TABLES`` order."""
    sizes: tuple[int, ...]
    """Bytes added to each stream."""
    crc: int


@dataclass(frozen=True)
class SegmentContents:
    """The whole batches of a segment that can be read, as Arrow tables."""

    batches: int
    first_seq: int | None
    """The smallest seq of the segment's events (None if it holds none)."""
    events: pa.Table
    edges: pa.Table
    deliveries: pa.Table
    end_updates: pa.Table
    names: list[str]
    """Every name the run had coded by the segment's last batch: ``names[code]``."""


class Segment:
    """A segment directory on disk: closed, or left behind by a process that died."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def number(self) -> int:
        return int(self.path.name)

    def records(self) -> list[BatchRecord]:
        """The whole commit records, up to the first torn or foreign one."""
        try:
            data = (self.path / _LOG).read_bytes()
        except FileNotFoundError:
            return []
        whole = len(data) // _RECORD.size
        records = []
        for r in _RECORD.iter_unpack(data[: whole * _RECORD.size]):
            if r[0] != _MAGIC:
                break
            records.append(BatchRecord(r[1], r[2:7], r[7:12], r[12]))
        return records

    def read(self, *, verify: bool = True) -> SegmentContents:
        """The longest prefix of whole batches whose bytes match their CRC (zero-copy: the
        tables are views of the memory-mapped streams).

        ``verify=False`` is for a segment this process closed after appending every batch
        whole (``SegmentWriter.rotate`` after appends that returned): each stream is read in
        one call, without checking batches one by one. A loading thread beside a busy
        publisher waits for the GIL after each call that released it, so this read takes a
        handful of waits, not one per batch and stream. A segment left by a crash or a failed
        append must be verified."""
        records = self.records()
        if not verify:
            return self._read_whole(records)
        streams = {name: _Stream.open(self.path / f"{name}.arrows") for name in TABLES}
        chunks: dict[str, list[pa.RecordBatch]] = {name: [] for name in TABLES}
        batches = 0
        for record in records:
            pieces: list[tuple[str, pa.Buffer]] = []
            crc = 0
            for (name, stream), rows, size in zip(
                streams.items(), record.rows, record.sizes, strict=True
            ):
                if not rows:
                    continue
                piece = None if stream is None else stream.take(size)
                if piece is None:
                    break
                crc = zlib.crc32(piece, crc)
                pieces.append((name, piece))
            else:
                if crc == record.crc and _parse(pieces, record, chunks):
                    batches += 1
                    continue
            break
        kept = records[:batches]
        firsts = [r.first_seq for r in kept if r.rows[0]]

        def table(name: str) -> pa.Table:
            return pa.Table.from_batches(chunks[name], TABLES[name])

        names = table("names").column("name").to_pylist()
        return SegmentContents(
            batches=batches,
            first_seq=min(firsts) if firsts else None,
            events=table("events"),
            edges=table("edges"),
            deliveries=table("deliveries"),
            end_updates=table("end_updates"),
            names=[str(n) for n in names],
        )

    def _read_whole(self, records: list[BatchRecord]) -> SegmentContents:
        tables = {
            name: pa.ipc.open_stream(pa.memory_map(str(self.path / f"{name}.arrows"))).read_all()
            for name in TABLES
        }
        firsts = [r.first_seq for r in records if r.rows[0]]
        return SegmentContents(
            batches=len(records),
            first_seq=min(firsts) if firsts else None,
            events=tables["events"],
            edges=tables["edges"],
            deliveries=tables["deliveries"],
            end_updates=tables["end_updates"],
            names=[str(n) for n in tables["names"].column("name").to_pylist()],
        )

    def delete(self) -> None:
        """Remove the segment: its commit log first, so a crash halfway leaves a segment
        with no batches (ignored), never batches whose streams are gone."""
        (self.path / _LOG).unlink(missing_ok=True)
        shutil.rmtree(self.path, ignore_errors=True)


class _Stream:
    """A memory-mapped stream read from just after its schema, one batch's bytes at a time."""

    def __init__(self, data: pa.Buffer, position: int) -> None:
        self.data = data
        self.position = position

    @classmethod
    def open(cls, path: Path) -> _Stream | None:
        try:
            source = pa.memory_map(str(path))
            data = source.read_buffer()
            reader = pa.BufferReader(data)
            pa.ipc.read_message(reader)  # the schema: ours, it is always written first
            return cls(data, reader.tell())
        except (OSError, EOFError, pa.ArrowInvalid):  # a file cut short by a kill
            return None

    def take(self, size: int) -> pa.Buffer | None:
        if self.position + size > self.data.size:
            return None
        piece = self.data.slice(self.position, size)
        self.position += size
        return piece


def _parse(
    pieces: list[tuple[str, pa.Buffer]],
    record: BatchRecord,
    chunks: dict[str, list[pa.RecordBatch]],
) -> bool:
    """Decode one batch's messages into ``chunks``; False (nothing added) if they don't hold
    the rows its record says."""
    decoded: dict[str, list[pa.RecordBatch]] = {}
    try:
        for name, piece in pieces:
            reader = pa.BufferReader(piece)
            batches = decoded.setdefault(name, [])
            while reader.tell() < piece.size:
                message = pa.ipc.read_message(reader)
                batches.append(pa.ipc.read_record_batch(message, TABLES[name]))
    except (OSError, EOFError, pa.ArrowInvalid):  # a file cut short by a kill
        return False
    rows = dict(zip(TABLES, record.rows, strict=True))
    if any(sum(b.num_rows for b in batches) != rows[n] for n, batches in decoded.items()):
        return False
    for name, batches in decoded.items():
        chunks[name].extend(batches)
    return True


class SegmentWriter:
    """Appends one run's batches to its current segment; ``rotate`` starts a new one.

    Not thread-safe: the run's writer calls it from one thread at a time.
    """

    def __init__(self, root: Path, run_id: str, fsync_interval: float = 1.0) -> None:
        self.run_id = run_id
        self.directory = run_directory(root, run_id)
        self.fsync_interval = fsync_interval
        self.pending_rows = 0
        """Events appended to the current segment."""
        self.fsyncs = 0
        self._names = 0  # names written to the current segment
        existing = run_segments(root, run_id)
        self._number = existing[-1].number + 1 if existing else 1
        self._streams: dict[str, int] = {}
        self._log: int | None = None
        self._segment: Segment | None = None
        self._last_sync = time.monotonic()
        self._dirty = False

    def _open(self) -> None:
        path = self.directory / f"{self._number:06d}"
        path.mkdir(parents=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        for name, schema in TABLES.items():
            fd = self._streams[name] = os.open(path / f"{name}.arrows", flags, 0o644)
            _write(fd, schema.serialize())
        self._log = os.open(path / _LOG, flags, 0o644)
        self._segment = Segment(path)
        _fsync_directory(path.parent)
        _fsync_directory(self.directory.parent)

    def append(self, batch: TraceBatch) -> None:
        """Write every table of ``batch``, then its commit record: whole or not at all.

        If it fails, the segment is closed with the batches committed before, and the next
        append starts a new one (never writing after a half-written batch)."""
        if self._segment is None:
            self._open()
        try:
            self._append(batch)
        except BaseException:
            with contextlib.suppress(OSError):
                self.rotate()
            raise

    def _append(self, batch: TraceBatch) -> None:
        assert self._log is not None
        tables = (
            batch.events,
            batch.edges,
            batch.deliveries,
            batch.end_updates,
            pa.table({"name": pa.array(batch.names[self._names :], pa.string())}),
        )
        crc = 0
        sizes: list[int] = []
        for fd, table in zip(self._streams.values(), tables, strict=True):
            size = 0
            for chunk in table.to_batches():
                if chunk.num_rows:
                    message = chunk.serialize()
                    crc = zlib.crc32(message, crc)
                    _write(fd, message)
                    size += message.size
            sizes.append(size)
        events = batch.events
        first = int(events.column("seq")[0].as_py()) if events.num_rows else 0
        rows = [t.num_rows for t in tables]
        _write(self._log, _RECORD.pack(_MAGIC, first, *rows, *sizes, crc))
        self._names = len(batch.names)
        self.pending_rows += events.num_rows
        self._dirty = True
        if time.monotonic() - self._last_sync >= self.fsync_interval:
            self.sync()

    def sync(self) -> None:
        """fsync the streams, then the commit log."""
        if not self._dirty or self._log is None:
            return
        for fd in self._streams.values():
            os.fsync(fd)
        os.fsync(self._log)
        self.fsyncs += 1
        self._dirty = False
        self._last_sync = time.monotonic()

    def rotate(self) -> Segment | None:
        """Close the current segment (without fsync: the caller loads it into the database,
        whose commit makes it durable) and return it; the next append starts a new one."""
        segment = self._segment
        self._close_files()
        if segment is not None:
            self._number += 1
            self.pending_rows = 0
            self._names = 0
            self._dirty = False
        return segment

    def close(self, sync: bool = True) -> None:
        """Close the files, fsyncing first unless ``sync`` is False."""
        try:
            if sync:
                self.sync()
        finally:
            self._close_files()

    def _close_files(self) -> None:
        fds = [*self._streams.values()] + ([] if self._log is None else [self._log])
        self._streams, self._log, self._segment = {}, None, None
        for fd in fds:
            os.close(fd)


def _write(fd: int, data: pa.Buffer | bytes) -> None:
    """Write all of ``data`` (``os.write`` may write less, e.g. on a nearly full disk)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
