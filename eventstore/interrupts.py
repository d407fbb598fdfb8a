"""Turn SIGTERM into KeyboardInterrupt while a run is traced, so ``kill`` (or a job scheduler
stopping a sweep) ends the run ``interrupted`` with everything recorded flushed, the same as
Ctrl-C, instead of leaving it to be found ``crashed``; and ``signal_handled``, how any block
here handles a signal its own way (the CLI's read-only commands end at once on Ctrl-C)."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from types import FrameType
from typing import Any

_SIGTERM_MESSAGE = "stopped by signal SIGTERM"


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"stopped by signal {signal.Signals(signum).name}")


def stopped_by_sigterm(exc: BaseException) -> bool:
    """Whether ``exc`` is the interrupt ``sigterm_interrupts`` raised for SIGTERM. Unlike
    Ctrl-C, which a terminal sends to its whole foreground process group, ``kill PID`` (or a
    job scheduler) signals one process: a parent that got it must pass it on to its
    children."""
    return isinstance(exc, KeyboardInterrupt) and exc.args == (_SIGTERM_MESSAGE,)


def query_interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` is Ctrl-C as DuckDB reports it: a query running when SIGINT came
    stops with ``RuntimeError("Query interrupted")``, and the ``KeyboardInterrupt`` is gone,
    so a caller that must stop on Ctrl-C raises one again."""
    return type(exc) is RuntimeError and str(exc) == "Query interrupted"


_PARTIAL_FILES: set[str] = set()
"""Files being written that a hard exit on Ctrl-C must remove (``partial_file``)."""


@contextmanager
def partial_file(path: str | os.PathLike[str]) -> Iterator[None]:
    """Within this block ``path`` is a file still being written: a command that ends at once
    on Ctrl-C (``remove_partial_files``, then ``os._exit``) removes it rather than leave it."""
    name = os.fspath(path)
    _PARTIAL_FILES.add(name)
    try:
        yield
    finally:
        _PARTIAL_FILES.discard(name)


def remove_partial_files() -> None:
    """Remove every file a ``partial_file`` block is still writing (before a hard exit)."""
    for name in list(_PARTIAL_FILES):
        with contextlib.suppress(OSError):
            os.unlink(name)


@contextmanager
def signal_handled(
    signum: signal.Signals, handler: Callable[[int, FrameType | None], Any]
) -> Iterator[None]:
    """Within this block ``handler`` handles ``signum``, the handler found put back after
    (main thread only; elsewhere a no-op, since Python runs signal handlers there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signum, handler)
    try:
        yield
    finally:
        signal.signal(signum, previous)


def sigterm_interrupts() -> AbstractContextManager[None]:
    """Within this block SIGTERM raises KeyboardInterrupt (main thread only)."""
    return signal_handled(signal.SIGTERM, _raise_interrupt)


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then act on them as they would have.

    For short writes that must be whole: a batch written in the publishing thread
    (``processor.py``) would be lost if Ctrl-C stopped it half-written, its events having left
    the recorder, or stored but not counted. Main thread only (elsewhere a no-op, since Python
    runs signal handlers there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[tuple[int, FrameType | None]] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        held.append((signum, frame))

    previous = {s: signal.signal(s, hold) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for signum, frame in held[:1]:  # the first one decides, as it would have
            handler = previous[signal.Signals(signum)]
            if callable(handler):
                handler(signum, frame)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(signum)


WAIT_SLICE = 0.05
"""Seconds ``wait_for`` waits at a time, so a Ctrl-C held meanwhile is acted on this soon."""


def wait_for(condition: threading.Condition, ready: Callable[[], bool]) -> None:
    """``condition.wait_for(ready)``, but Ctrl-C (or SIGTERM made an interrupt) is raised only
    outside the condition's lock. Raised inside ``Condition.wait``, between waking and taking
    the lock back, it would leave the lock released, and leaving the ``with`` block would
    raise ``RuntimeError: release unlocked lock`` instead of the interrupt."""
    while True:
        with interrupts_deferred(), condition:
            if condition.wait_for(ready, timeout=WAIT_SLICE):
                return
