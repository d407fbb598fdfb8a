"""A run as a timeline in the Chrome Trace Event format, which Perfetto UI
(ui.perfetto.dev) and ``chrome://tracing`` open.

Shape of the file (JSON object form):

- one process (pid 1) named after the run; one thread (tid) per source container, named by
  ``thread_name`` metadata events: a delivery of an event sits on the track of the container
  that published the event;
- each handler delivery is a complete event (``"ph": "X"``) named by its handler (class and
  method; the full name and the event are in ``args``), ``ts``/``dur`` in microseconds since
  the run started, at nanosecond precision. On a synchronous bus a delivery made while
  another ran lies inside it, so nested deliveries nest on a track;
- causation is a flow: ``"s"`` inside the parent's delivery (the one the child was published
  from, else its last), ``"f"`` with binding point ``"e"`` inside the child's first delivery,
  both named by the edge kind; an edge whose ends are not both in the file is left out;
- ``metadata``: the run's record (id, name, status, config, library version, host), this
  exporter's version and what was chosen (window, limit) and written.

The writer streams: rows come from the store in batches and go straight to the file, so
memory stays flat however long the run. The file appears only once complete.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson

from eventstore import __version__
from eventstore.errors import QueryError

from .refs import LOADED_WHILE_RUNNING, resolve_run
from .sql_files import fetch_rows, stream_rows
from .store_access import StoreLike, opened

Progress = Callable[[int, int], None]
"""Called with (deliveries written, deliveries to write) as the export goes."""

PID = 1
_UNBOUNDED = 2**62


@dataclass(frozen=True, slots=True)
class TraceExport:
    """What an export wrote."""

    path: Path
    run_id: str
    slices: int
    flows: int
    tracks: int
    deliveries_in_window: int
    partial: bool = False
    """True when the run was still running: the file holds what was stored by then."""

    @property
    def truncated(self) -> bool:
        """True when ``--limit`` left deliveries of the window out."""
        return self.slices < self.deliveries_in_window


def write_perfetto(
    store: StoreLike,
    run_id: str,
    path: str | os.PathLike[str],
    *,
    limit: int | None = None,
    start_ms: float | None = None,
    end_ms: float | None = None,
    progress: Progress | None = None,
    batch_size: int = 50_000,
) -> TraceExport:
    """Write the deliveries of a run (id, prefix or ``latest``) that overlap
    [``start_ms``, ``end_ms``) (ms since the run started; default: all), at most ``limit``
    of them (None or 0: all, as ``--limit 0`` everywhere), earliest first, with their
    causation flows, to ``path`` as a Chrome trace. A window that holds no delivery is an
    error naming the run's length, and no file is written. Of a run still running, what is
    stored so far is written (``partial``); if nothing is yet, that is the error."""
    from .output import atomic_text

    if limit is not None and limit < 0:
        raise QueryError(f"--limit {limit} is negative: give a number of deliveries, or 0 for all")
    limit = limit or None
    start_ns = 0 if start_ms is None else round(start_ms * 1e6)
    end_ns = _UNBOUNDED if end_ms is None else round(end_ms * 1e6)
    if end_ns <= start_ns:
        raise QueryError(
            f"empty time window: the end ({end_ms} ms) must come after the start ({start_ms} ms)"
        )
    with opened(store) as db:
        run = resolve_run(db, run_id)
        window = {"run_id": run.run_id, "start_ns": start_ns, "end_ns": end_ns}
        size = fetch_rows(db, "timeline_size", window)[0]
        in_window = int(size["deliveries"])
        partial = run.status == "running"
        if partial and size["first_ns"] is None:
            raise QueryError(
                f"run {run.run_id} is still running and none of its deliveries is stored yet: "
                f"{LOADED_WHILE_RUNNING}: export it once it has ended"
            )
        if in_window == 0 and (start_ms is not None or end_ms is not None):
            raise QueryError(_empty_window(start_ns, end_ns, size["first_ns"], size["last_ns"]))
        chosen = {**window, "limit": _UNBOUNDED if limit is None else limit}
        total = min(in_window, limit) if limit is not None else in_window
        record = fetch_rows(db, "run_record", {"run_id": run.run_id})[0]
        with atomic_text(path, "run.json") as out:
            writer = _TraceWriter(out)
            writer.process(f"run {run.run_id}")
            slices = 0
            for rows in stream_rows(db, "timeline_slices", chosen, batch_size=batch_size):
                for row in rows:
                    writer.slice(row)
                slices += len(rows)
                if progress is not None:
                    progress(slices, total)
            flows = 0
            params = {**chosen, "id_prefix": run.id_prefix}
            for rows in stream_rows(db, "timeline_flows", params, batch_size=batch_size):
                for row in rows:
                    flows += 1
                    writer.flow(flows, row)
            metadata = _metadata(record, start_ms, end_ms, limit, slices, flows, in_window)
            writer.finish(metadata)
    tracks = len(writer.tracks)
    return TraceExport(Path(path), run.run_id, slices, flows, tracks, in_window, partial)


class _TraceWriter:
    """Writes trace events one per line, assigning a tid to each source when first seen."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.tracks: dict[str | None, int] = {}
        self.first = True
        out.write('{"displayTimeUnit":"ms","traceEvents":[\n')

    def _event(self, text: str) -> None:
        self.out.write(text if self.first else ",\n" + text)
        self.first = False

    def _json(self, event: dict[str, Any]) -> None:
        self._event(orjson.dumps(event).decode())

    def process(self, name: str) -> None:
        self._json({"ph": "M", "pid": PID, "name": "process_name", "args": {"name": name}})

    def tid(self, source: str | None) -> int:
        tid = self.tracks.get(source)
        if tid is None:
            tid = self.tracks[source] = len(self.tracks) + 1
            name = source or "(no source)"
            self._json({"ph": "M", "pid": PID, "tid": tid, "name": "thread_name",
                        "args": {"name": name}})  # fmt: skip
            self._json({"ph": "M", "pid": PID, "tid": tid, "name": "thread_sort_index",
                        "args": {"sort_index": tid}})  # fmt: skip
        return tid

    def slice(self, row: dict[str, Any]) -> None:
        tid = self.tid(row["source"])
        start, end = int(row["received_ns"]), int(row["processed_ns"])
        args: dict[str, Any] = {
            "event_id": row["event_id"],
            "event_type": row["event_type"],
            "seq": row["seq"],
            "handler": row["handler"],
        }
        if row["error"] is not None:
            args["error"] = row["error"]
        head = orjson.dumps(
            {
                "ph": "X",
                "pid": PID,
                "tid": tid,
                "name": _short(row["handler"]),
                "cat": row["event_type"],
                "args": args,
            }
        ).decode()
        self._event(f'{head[:-1]},"ts":{_us(start)},"dur":{_us(end - start)}}}')

    def flow(self, flow_id: int, row: dict[str, Any]) -> None:
        name = orjson.dumps(row["kind"]).decode()
        parent = self.tid(row["parent_source"])
        child = self.tid(row["child_source"])
        out_at = _inside(row["child_created_ns"], row["parent_start_ns"], row["parent_end_ns"])
        in_at = _inside(row["child_start_ns"], row["child_start_ns"], row["child_end_ns"])
        common = f'"cat":"causation","name":{name},"id":{flow_id},"pid":{PID}'
        self._event(f'{{"ph":"s",{common},"tid":{parent},"ts":{_us(out_at)}}}')
        self._event(f'{{"ph":"f","bp":"e",{common},"tid":{child},"ts":{_us(in_at)}}}')

    def finish(self, metadata: dict[str, Any]) -> None:
        body = orjson.dumps(metadata, default=str).decode()
        self.out.write(f'\n],"metadata":{body}}}\n')


def _empty_window(start_ns: int, end_ns: int, first_ns: int | None, last_ns: int | None) -> str:
    """Why a window holds no delivery, with the run's length to choose one that does."""
    window = f"[{_ms(start_ns)}, {'end' if end_ns == _UNBOUNDED else _ms(end_ns)}) ms"
    if first_ns is None or last_ns is None:
        return f"nothing to export in the window {window}: the run has no deliveries"
    span = f"its deliveries run from {_ms(first_ns, 3)} to {_ms(last_ns, 3)} ms after it began"
    if start_ns >= last_ns:
        return f"the window {window} starts past the end of the run: {span}"
    return f"no delivery of the run falls in the window {window} ({span}): widen it"


def _ms(ns: int, decimals: int = 6) -> str:
    """Nanoseconds as milliseconds, without trailing zeros."""
    return f"{int(ns) / 1e6:.{decimals}f}".rstrip("0").rstrip(".")


def _inside(ns: int, start: int, end: int) -> int:
    """A time strictly inside [start, end] near ``ns`` (at ``start`` for a 0-ns slice): a
    flow event exactly on a slice's edge may bind to its neighbour instead."""
    if end - start < 2:
        return start
    return min(max(int(ns), start + 1), end - 1)


def _us(ns: int) -> str:
    """Nanoseconds as microseconds with three exact decimals (no float rounding)."""
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    return f"{sign}{ns // 1000}.{ns % 1000:03d}"


def _short(handler: str) -> str:
    parts = handler.split(".")
    return ".".join(parts[-2:]) if len(parts) > 2 else handler


def _metadata(
    record: dict[str, Any],
    start_ms: float | None,
    end_ms: float | None,
    limit: int | None,
    slices: int,
    flows: int,
    in_window: int,
) -> dict[str, Any]:
    run = {
        k: (v.isoformat() if isinstance(v, datetime) else v)
        for k, v in record.items()
        if k not in ("config", "sampling")
    }
    for key in ("config", "sampling"):
        value = record[key]
        run[key] = orjson.loads(value) if isinstance(value, str) and value else value
    return {
        "run": run,
        "exporter": {"name": "eventstore", "version": __version__},
        "clock": "ts and dur: microseconds since the run started (monotonic clock)",
        "window_ms": [start_ms, end_ms],
        "limit": limit,
        "deliveries_in_window": in_window,
        "slices": slices,
        "flows": flows,
        "truncated": slices < in_window,
    }
