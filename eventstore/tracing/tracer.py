"""EventTracer: one run's lifecycle — opening it, recording through its ``Recorder``, handing
batches to a writer, and closing it ``completed``, ``failed`` or ``interrupted``.

The flow of one event: a bus calls the recorder (``recorder.py``; compiled, or its pure-Python
twin), which appends to typed buffers with no lock and no I/O; when a root event's dispatch ends
with a batch's worth buffered, the recorder calls back and the batch processor
(``processor.py``) drains the buffers into Arrow tables and hands them to the writer: at once,
in the publishing thread, when it only appends to files (the DuckDB store's segments, loaded
by a thread of the store's own), else through a queue to a background thread. The recorder
also resolves causes a publisher names (``lineage.py``), looking in the ring of recent events
that ``views.py`` keeps for ``traced_events``. Closing waits, a bounded time, for dispatches
still running in other threads before it drains the last batch (``closing.py``).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import socket
import sys
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeGuard

from eventstore.errors import RunClosedError, TraceWriteError
from eventstore.events import Event
from eventstore.tracing.arguments import (
    check_ending,
    check_seconds,
    check_store,
    check_wait,
    check_whole_number,
    checked_config,
    checked_text,
)
from eventstore.tracing.closing import CLOSE_TIMEOUT, let_other_threads_finish
from eventstore.tracing.encoding import FAST_OPTIONS, PayloadEncoder
from eventstore.tracing.ids import new_correlation_id, new_run_tag
from eventstore.tracing.implementation import new_recorder
from eventstore.tracing.processor import BatchProcessor
from eventstore.tracing.recorder import Recorder, RecorderHooks, describe_error
from eventstore.tracing.sampling import Sampling
from eventstore.tracing.tail_sampler import TailSampler
from eventstore.tracing.traced_event import TracedEvent
from eventstore.tracing.views import EventIndex, RecentEvents, RecentEventsView
from eventstore.tracing.writer import BatchWriter, RunInfo, RunStats, RunStatus, WriterSource
from eventstore.version import __version__

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 10_000
DEFAULT_RING_SIZE = 10_000

__all__ = ["EventTracer", "TraceWriteError", "source_name"]


def source_name(source: object) -> str | None:
    """The recorded name of a publisher: a container's ``metadata.name``, a string, or None."""
    if source is None or isinstance(source, str):
        return source
    name = getattr(getattr(source, "metadata", None), "name", None)
    return name if isinstance(name, str) else type(source).__name__


class EventTracer:
    """Traces one run: its ``correlation_id`` groups every event it records.

    Use it as a context manager to open the run (``running``) and close it ``completed``, or
    ``failed`` with the exception that escaped. ``store`` is a store (``open_store(...)``) or any
    ``BatchWriter``; without one, only the ``traced_events`` ring of recent events is kept.
    A closed tracer refuses new events (``RunClosedError``), as a closed file refuses writes.

    ``sampling`` (off by default) stores only the events on a causal path to the types it
    keeps and a fraction of the rest, and records on the run what it left out
    (``sampling.py``). Sampled-out events still pass through ``traced_events``.

    ``close_timeout``: how many seconds closing waits for dispatches still running in other
    threads (``closing.py``; ``CLOSE_TIMEOUT`` by default, 0 not to wait).
    """

    def __init__(
        self,
        correlation_id: str | None = None,
        store: WriterSource | BatchWriter | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        *,
        name: str | None = None,
        config: Mapping[str, Any] | None = None,
        ring_size: int = DEFAULT_RING_SIZE,
        background: bool = True,
        flush_interval: float = 1.0,
        max_pending_batches: int = 4,
        sampling: Sampling | None = None,
        close_timeout: float = CLOSE_TIMEOUT,
    ) -> None:
        check_whole_number("batch_size", batch_size, 1)
        check_wait("close_timeout", close_timeout)
        check_whole_number("ring_size", ring_size, 0)
        check_seconds("flush_interval", flush_interval)
        check_whole_number("max_pending_batches", max_pending_batches, 1)
        correlation_id = checked_text("correlation_id", correlation_id)
        name = checked_text("name", name)
        check_store(store)
        if sampling is not None and not isinstance(sampling, Sampling):
            raise TypeError(
                f"sampling must be a Sampling(fraction=…), got {type(sampling).__name__}"
            )
        self.sampling = sampling
        self._sampler = None if sampling is None else TailSampler(sampling)
        self.started_at = datetime.now(UTC).replace(tzinfo=None)
        self.tag = new_run_tag()
        self.correlation_id = correlation_id or new_correlation_id(self.started_at, self.tag)
        self.name = name
        self.config: dict[str, Any] = checked_config(config)
        self.batch_size = batch_size
        self.close_timeout = close_timeout
        self.status: RunStatus | None = None
        self._ending = threading.Lock()  # held by the one call that ends the run
        self._encoder = PayloadEncoder()
        self.recorder: Recorder = new_recorder(
            f"{self.tag}-",
            batch_size,
            RecorderHooks(
                encode=self._encoder.encode,
                json_default=self._encoder.default,
                json_options=FAST_OPTIONS,
                name_of_source=source_name,
                on_full=self._hand_off,
                recent=self._lookup_recent,
                closed_error=RunClosedError,
                closed_message=(
                    f"run {self.correlation_id} is closed (its tracer was closed, or the store "
                    "it traces into): events published and deliveries recorded after that are "
                    "not stored; trace new events with a new EventTracer, and let each "
                    "dispatch finish (await its tasks) before the run closes"
                ),
                run_id=self.correlation_id,
                lineage_memory=ring_size,
            ),
        )
        self._recent = RecentEvents(
            ring_size, self.recorder, self.correlation_id, self.tag, self.started_at
        )
        self._writer: BatchWriter | None = (
            store.batch_writer() if _is_writer_source(store) else store  # type: ignore[assignment]
        )
        track_open_run = getattr(store, "track_open_run", None)  # a store ends it at close
        if track_open_run is not None:
            track_open_run(self)
        self._processor = BatchProcessor(
            self.recorder.drain,
            self._writer,
            self.correlation_id,
            self.tag,
            on_drained=self._recent.add,
            background=background,
            flush_interval=flush_interval,
            max_pending_batches=max_pending_batches,
            sampler=self._sampler,
        )
        # Close the run at interpreter exit if the program forgets to. With a store the hook
        # holds the tracer until the run ends, as an open file holds what was written to it:
        # a tracer the program dropped unclosed (made and left in a function) is stored at
        # exit, not collected with its unwritten events. Without one there is nothing to lose,
        # and a weak reference never keeps the tracer alive.
        if self._writer is not None:
            self._atexit: Callable[[], None] = self._close_at_exit
        else:
            self_ref = weakref.ref(self)

            def close_at_exit() -> None:
                tracer = self_ref()
                if tracer is not None:
                    tracer._close_at_exit()

            self._atexit = close_at_exit
        atexit.register(self._atexit)

    # ------------------------------------------------------------------ run lifecycle

    @property
    def closed(self) -> bool:
        return self.recorder.closed

    @property
    def lineage_exact(self) -> bool:
        """False when a named parent's ancestors had left memory: their ``end_seq`` may fall
        short. A store recomputes the bounds when the run ends (its ``runs.lineage_exact``
        then says true); another writer's queries stop pruning this run."""
        return self.recorder.lineage_exact

    def start(self) -> EventTracer:
        """Open the run row (``running``); the first batch does this on its own if needed."""
        self._refuse_if_closed()
        with self._processor.lock:
            self._start_locked()
        return self

    def _start_locked(self) -> None:
        if self.status is not None:
            return
        self.status = "running"
        if self._writer is None:
            return
        run = RunInfo(
            run_id=self.correlation_id,
            tag=self.tag,
            name=self.name,
            started_at=self.started_at,
            config=self.config,
            library_version=__version__,
            host=socket.gethostname(),
            pid=os.getpid(),
            sampling=None if self.sampling is None else self.sampling.record(),
        )
        try:
            self._writer.begin_run(run)
        except BaseException:
            self.status = None  # not begun: the next hand-off (or close) tries again
            raise
        self._processor.start()

    def __enter__(self) -> EventTracer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
        else:
            self._end(*ending_of(exc), raise_failure=False)

    def flush(self) -> None:
        """Hand everything recorded so far to the writer and wait until it has it: with a
        store, the batches are then in its segment files (they survive a crash of this
        process) and become queryable at the writer's next bulk load or when the run ends.
        With ``sampling``, events still waiting for a decision are written later."""
        self._refuse_if_closed()
        self._hand_off()
        self._processor.wait()

    def close(self, status: RunStatus = "completed", error: str | None = None) -> None:
        """Flush, then end the run with ``status``; a failed write ends it ``failed`` instead.

        First it waits up to ``close_timeout`` seconds for dispatches still running in other
        threads, so what they record is stored, then warns naming any still running
        (``closing.py`` says what is and isn't waited for). Ctrl-C while waiting ends the run
        ``interrupted``, then is raised. Idempotent: only the first call ends the run (a call
        made while another ends it returns at once).
        """
        check_ending(status)
        self._end(status, error, raise_failure=True)

    def _refuse_if_closed(self) -> None:
        if self.recorder.closed:
            status = "" if self.status is None else f" ({self.status})"
            raise RunClosedError(
                f"run {self.correlation_id} is closed{status}: a tracer traces one run; "
                "create a new EventTracer for the next one"
            )

    def _end(self, status: RunStatus, error: str | None, *, raise_failure: bool) -> None:
        if self.recorder.closed or not self._ending.acquire(blocking=False):
            if raise_failure and self.recorder.closed:
                self._processor.raise_failure()
            return
        atexit.unregister(self._atexit)
        self.recorder.begin_close()
        interrupt: KeyboardInterrupt | None = None
        if status != "interrupted":  # an interrupted run stops now: Ctrl-C asked for it
            try:
                let_other_threads_finish(
                    self.recorder, self.close_timeout, self.correlation_id, f"{self.tag}-"
                )
            except KeyboardInterrupt as exc:  # Ctrl-C while waiting: end with what it has
                interrupt = exc
                if status == "completed":
                    status, error = "interrupted", describe_interrupt(exc)
        self.recorder.close()
        try:
            self._hand_off(final=True)
            self._processor.wait()
        except TraceWriteError:
            pass
        except KeyboardInterrupt as exc:
            # Ctrl-C while the last batches are written (a PostgreSQL store's writer thread):
            # the run ends `interrupted` with what the writer stores before it stops.
            interrupt = interrupt or exc
            if status == "completed":
                status, error = "interrupted", describe_interrupt(exc)
        finally:
            self._processor.stop()
        if self._processor.failure is not None:
            status, error = "failed", f"writing a batch failed: {self._processor.failure}"
        self._warn_if_unended()
        self.status = status
        if self._writer is not None:
            stats = RunStats(
                # What the run holds: after a failed write or an interrupted hand-off, fewer
                # events than were recorded.
                event_count=self._processor.stored,
                unencodable_count=self._encoder.unencodable_count,
                lineage_exact=self.recorder.lineage_exact,
                sampling=None if self._sampler is None else self._sampler.record(),
            )
            try:
                self._writer.end_run(self.correlation_id, status, error, stats)
            finally:
                self._writer.close()
        if interrupt is not None:
            raise interrupt
        if raise_failure:
            self._processor.raise_failure()

    def _warn_if_unended(self) -> None:
        """Say so when the run closes with events ``begin()``-ed and never ``end()``-ed: their
        rows are stored with ``end_seq`` NULL, which nothing else would tell."""
        count = len(self._processor.unended)
        if count:
            logger.warning(
                "run %s: %d %s never ended (recorder.begin() without recorder.end(frame), "
                "or still dispatching when the run closed): %s end_seq stays NULL",
                self.correlation_id,
                count,
                "event was" if count == 1 else "events were",
                "its" if count == 1 else "their",
            )

    def end_before_store_closes(self) -> None:
        """The store is closing with this run open (its program closed them out of order, or
        never closed the tracer): end the run now, as an exception on its way out ends it
        (``ending_of``); later publishes raise ``RunClosedError``."""
        self._close_forgotten(sys.exc_info()[1])

    def _close_at_exit(self) -> None:
        """The program is exiting without having closed the run: an uncaught exception (the
        interpreter sets ``sys.last_value``) ends it as ``ending_of`` says, else it is
        ``completed``."""
        try:
            self._close_forgotten(getattr(sys, "last_value", None))
        except Exception:
            logger.exception("closing run %s at exit failed", self.correlation_id)

    def _close_forgotten(self, exc: BaseException | None) -> None:
        """End a run its program did not close: as ``exc`` ends it if given (``ending_of``)."""
        if self.recorder.closed:
            return
        if self.status is None and self.event_count == 0:  # never used: leave no empty run
            atexit.unregister(self._atexit)
            self.recorder.close()
            if self._writer is not None:
                self._writer.close()
        elif exc is None:
            self.close()
        else:
            self._end(*ending_of(exc), raise_failure=False)

    def _hand_off(self, *, final: bool = False) -> None:
        """Send what is recorded to the writer; blocks while the writer is behind."""
        with self._processor.lock:
            if self.status is None:
                self._start_locked()
            self._processor.hand_off(final=final)

    # ------------------------------------------------------------------ recording

    @property
    def event_count(self) -> int:
        """Events recorded so far."""
        return self.recorder.event_count

    @property
    def stored_count(self) -> int:
        """Events written to the store so far; once the run is closed, its ``event_count`` in
        the store. Fewer than ``event_count`` when sampling left events out, or when Ctrl-C
        landed in a publish on the pure-Python recorder between taking the event's seq and
        recording it (that publish raised ``KeyboardInterrupt`` and left nothing)."""
        return self._processor.stored

    def _lookup_recent(self, seq: int) -> tuple[int | None, int] | None:
        """For the recorder's lineage: an event drained from its buffer, in the ring."""
        return self._recent.lookup(seq)

    # ------------------------------------------------------------------ the public, slow API

    def trace_event(
        self, event: Event, source_container: object = None, *, causation_id: str | None = None
    ) -> TracedEvent:
        """Record ``event`` published outside any bus and return its traced view.

        The cause is ``causation_id`` if given, else the event being handled right now, if any.
        """
        self.recorder.publish(event, source_container, (), caused_by=causation_id)
        traced = self.event_index.get(str(event.metadata["event_id"]))
        assert traced is not None
        return traced

    @property
    def traced_events(self) -> Sequence[TracedEvent]:
        """The most recent events (``ring_size`` of them), oldest first."""
        return RecentEventsView(self._recent)

    @property
    def event_index(self) -> Mapping[str, TracedEvent]:
        """``event_id → TracedEvent`` for the events still in ``traced_events``."""
        return EventIndex(self._recent, self.tag)


def ending_of(exc: BaseException) -> tuple[RunStatus, str]:
    """How an exception escaping a run ends it: Ctrl-C, ``sys.exit`` and the cancellation of
    the asyncio task running it (``asyncio.run`` cancels its main task on Ctrl-C) make it
    ``interrupted``; any other exception ``failed``."""
    if isinstance(exc, KeyboardInterrupt | SystemExit | asyncio.CancelledError):
        return "interrupted", describe_interrupt(exc)
    return "failed", describe_error(exc)


def describe_interrupt(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"SystemExit({exc.code})"
    return describe_error(exc)


def _is_writer_source(store: object) -> TypeGuard[WriterSource]:
    return hasattr(store, "batch_writer")
