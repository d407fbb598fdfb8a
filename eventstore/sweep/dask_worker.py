"""The sweep's side of a Dask worker process: how a stopped sweep stops the runs going there.

A Dask worker runs a task in a thread of its own, which no signal reaches: Ctrl-C at a terminal
would instead kill the worker process (with a traceback) and the run with it, and SIGTERM to
the sweep's process alone would leave the runs tracing to their end. So the sweep's process,
when stopped, calls ``stop_sweep`` on every worker, and each of the sweep's tasks checks for
that between bars, at every progress report of its backtest (10 000 bars: a fraction of a
second), and ends its run ``interrupted`` as Ctrl-C would. The sweep's own ``LocalCluster``
preloads this module, whose ``dask_setup`` makes its workers ignore Ctrl-C.
"""

from __future__ import annotations

import signal
from typing import Any

from eventstore.sweep.worker import Task, TaskOutcome, run_task

_STOPPED: dict[str, tuple[Any, ...]] = {}
"""The sweeps stopped, in this worker process: their token → the arguments of the
``KeyboardInterrupt`` that stopped each (``("stopped by signal SIGTERM",)``, or none for
Ctrl-C), raised in its runs so they record the same reason as runs stopped by a signal."""


def dask_setup(worker: object) -> None:
    """Dask's preload hook, run in each worker process as it starts: Ctrl-C reaches the whole
    process group of a terminal's job, and the sweep's process stops the runs itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def stop_sweep(token: str, reason: tuple[Any, ...]) -> None:
    """Stop the runs of the sweep ``token`` in this worker process, and any it would start."""
    _STOPPED[token] = reason


def run_sweep_task(task: Task, token: str) -> TaskOutcome | None:
    """``run_task`` for the sweep ``token``, ended ``interrupted`` once the sweep is stopped;
    None, at once, if the sweep was stopped before the task started."""

    def stop_if_asked(_: int) -> None:
        if token in _STOPPED:
            raise KeyboardInterrupt(*_STOPPED[token])

    if token in _STOPPED:
        return None
    return run_task(task, stop_if_asked)
