"""Closing a run while other threads still dispatch: wait, a bounded time, for them to finish.

A program's main thread often closes its run (leaving ``with EventTracer(...)``) a moment
before a worker thread's dispatch returns. Closing at once would lose that dispatch's
deliveries and the events its handlers publish (they would raise ``RunClosedError`` in the
worker). So the tracer closes its recorder in two steps (``recorder.py``): ``begin_close``
refuses new root events but lets open dispatches go on; then this module waits until no frame
begun in another thread is still open, or ``timeout`` passes; then ``close`` refuses
everything and the last batch is drained.

Frames begun in the closing thread are never waited for: they are the dispatches ``close`` was
called from (a handler closing the run), or frames of asyncio tasks of this thread's event
loop, which cannot go on while this thread waits. A dispatch of ``TracedEventBus`` is
synchronous, so its frames are open only while its ``publish`` runs: in the closing thread that
means ``close`` was called from one of its handlers; a bus of one's own that awaits between
``recorder.begin`` and ``recorder.end`` leaves frames open in suspended tasks. Frames of threads
that have exited are not waited for either (nothing can end them).

The wait sleeps in short steps (the GIL is released while sleeping; the recorders keep no
lock and call back nothing when a frame ends, so the hot path stays as it was). Ctrl-C stops it
(``KeyboardInterrupt`` is raised out of the sleep, in the main thread): the tracer then closes
the run ``interrupted`` at once. A run that ends ``interrupted`` in the first place (Ctrl-C or
SIGTERM in the traced block) does not wait: stopping now is what was asked.
"""

from __future__ import annotations

import logging
import sys
import threading
import time

from eventstore.tracing.recorder import Recorder

logger = logging.getLogger(__name__)

CLOSE_TIMEOUT = 5.0
"""Seconds ``EventTracer.close`` waits, by default, for dispatches still running in other
threads. A handler takes microseconds to milliseconds, a slow one (a database call, a model
fit) some seconds: five lets those finish, and bounds what a thread blocked for good (waiting
on a queue nobody fills) adds to the end of a program."""

_FIRST_PAUSE = 0.0005  # seconds: a dispatch ending a moment after close is seen at once
_LONGEST_PAUSE = 0.02  # a slower one costs at most this much after it ends
_NAMED = 5  # frames named in a message; the rest are counted


def in_other_threads(recorder: Recorder) -> list[tuple[int, int]]:
    """``(seq, thread ident)`` of the frames open in live threads other than this one."""
    others = sys._current_frames().keys() - {threading.get_ident()}  # all, not only threading's
    return [(seq, ident) for seq, ident in recorder.open_frames() if ident in others]


def let_other_threads_finish(
    recorder: Recorder, timeout: float, run_id: str, id_prefix: str
) -> None:
    """Wait up to ``timeout`` seconds until no frame of another thread is open (call it after
    ``recorder.begin_close()``); if some still are, warn naming them. Raises
    ``KeyboardInterrupt`` on Ctrl-C."""
    waiting = in_other_threads(recorder)
    if waiting and timeout > 0:
        waiting = _wait(recorder, waiting, timeout, run_id, id_prefix)
    if waiting:
        _warn_still_open(waiting, timeout, run_id, id_prefix)


def _wait(
    recorder: Recorder,
    waiting: list[tuple[int, int]],
    timeout: float,
    run_id: str,
    id_prefix: str,
) -> list[tuple[int, int]]:
    """The frames of other threads still open when none is, or when ``timeout`` passed."""
    logger.info(
        "run %s: waiting up to %g s for %s still running in other threads: %s",
        run_id,
        timeout,
        _dispatches(len(waiting)),
        describe(waiting, id_prefix),
    )
    deadline = time.monotonic() + timeout
    pause = _FIRST_PAUSE
    while waiting:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(pause, left))
        pause = min(2 * pause, _LONGEST_PAUSE)
        waiting = in_other_threads(recorder)
    return waiting


def _warn_still_open(
    still_open: list[tuple[int, int]], timeout: float, run_id: str, id_prefix: str
) -> None:
    """The bound passed with dispatches still running: say which, and what they lose."""
    logger.warning(
        "run %s: closed after waiting %g s with %s still running in other threads (%s): "
        "their deliveries and the events their handlers publish from now on are not stored "
        "(publishing raises RunClosedError); let those threads finish (join them) before the "
        "run closes, or give EventTracer a longer close_timeout",
        run_id,
        timeout,
        _dispatches(len(still_open)),
        describe(still_open, id_prefix),
    )


def describe(frames: list[tuple[int, int]], id_prefix: str) -> str:
    """``event <id> in thread '<name>'`` for the first few frames, then how many more."""
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    parts = [
        f"event {id_prefix}{seq} in thread {names.get(ident, str(ident))!r}"
        for seq, ident in frames[:_NAMED]
    ]
    if len(frames) > _NAMED:
        parts.append(f"{len(frames) - _NAMED} more")
    return ", ".join(parts)


def _dispatches(count: int) -> str:
    return "1 dispatch" if count == 1 else f"{count} dispatches"
