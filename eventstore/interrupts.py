"""Turn SIGTERM into KeyboardInterrupt while a run is traced, so ``kill`` (or a job scheduler
stopping a sweep) ends the run ``interrupted`` with everything recorded flushed, the same as
Ctrl-C, instead of leaving it to be found ``crashed``."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"stopped by signal {signal.Signals(signum).name}")


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within this block SIGTERM raises KeyboardInterrupt (main thread only; elsewhere a no-op,
    since Python delivers signals to the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
