"""Progress bars of the commands: on stderr, only for work that lasts, never with --quiet.

A bar appears once the work has taken ``SHOW_AFTER`` seconds (quick answers print without one
flashing by) and only when stderr is a terminal; it is transient, cleared before the answer is
printed, and it never touches stdout, so ``--format csv``/``json`` output is the same with or
without it. Work reports ``(done, total)`` through the callback the bar yields: counted items
(runs, deliveries) are shown as ``done/total``, the slices and parts of an analysis as a
percentage.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

SHOW_AFTER = 1.0
"""Seconds of work before a bar appears."""

Callback = Callable[[int, int], None]


def stderr_console() -> Console:
    """The console bars are drawn on: stderr, 80 columns."""
    return Console(file=sys.stderr, width=80)


@contextmanager
def progress_bar(label: str, quiet: bool, *, counted: bool = True) -> Iterator[Callback]:
    """A transient bar labelled ``label`` on stderr while the block runs, shown from
    ``SHOW_AFTER`` seconds on (none with ``quiet`` or when stderr is not a terminal);
    ``counted`` shows ``done/total``, else a percentage. Yields the callback to report to."""
    console = stderr_console()
    if quiet or not console.is_terminal:
        yield lambda done, total: None
        return
    amount: ProgressColumn = MofNCompleteColumn() if counted else TaskProgressColumn()
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=30),
        amount,
        TimeElapsedColumn(),
        console=console,
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    task = bar.add_task(label, total=None)
    lock = threading.Lock()
    shown = False
    ended = False

    def show() -> None:
        nonlocal shown
        with lock:
            if not ended:
                bar.start()
                shown = True

    timer = threading.Timer(SHOW_AFTER, show)
    timer.daemon = True
    if SHOW_AFTER > 0:
        timer.start()
    else:
        show()
    try:
        yield lambda done, total: bar.update(task, completed=done, total=total)
    finally:
        timer.cancel()
        with lock:
            ended = True
            if shown:
                bar.stop()
