"""Progress of long work: on stderr, only for work that lasts, never with --quiet.

On a terminal it is a bar, shown once the work has taken ``SHOW_AFTER`` seconds (quick answers
print without one flashing by) and cleared before the answer is printed. Anywhere else (a pipe,
a CI log, ``nohup``) a bar would be noise or nothing, so the work says how far it got in plain
lines, as build tools and pip do in logs: at most one every ``EVENTSTORE_PROGRESS_INTERVAL``
seconds (10 by default; the first after as long, so quick work prints none), a line for each
milestone (a finished sweep run) and, if anything was said, a last line with the time it took.
Neither ever touches stdout, so ``--format csv``/``json`` output is the same with or without
them.

Work reports ``(done, total)`` to the ``ProgressReport`` the block yields (total None: not known
yet): counted items (runs, bars) read ``done/total``, the slices and parts of an analysis a
percentage. Work that reports nothing for a while still gets a line in a log, from a clock.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
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

from eventstore.errors import ConfigError

SHOW_AFTER = 1.0
"""Seconds of work before a bar appears."""
INTERVAL_ENV = "EVENTSTORE_PROGRESS_INTERVAL"
"""Seconds between progress lines when stderr is not a terminal (0: a line at every step)."""
DEFAULT_INTERVAL = 10.0


class ProgressReport:
    """What long work reports to. This one ignores everything (``--quiet``); the bar and the
    log lines are its two subclasses."""

    def __call__(self, done: int, total: int | None = None) -> None:
        """``done`` of ``total`` (None: not known) units of work are finished."""

    def note(self, line: str) -> None:
        """A milestone worth its own line in a log (a bar shows it as progress already)."""

    def start(self) -> None:
        """The work begins."""

    def stop(self, finished: bool = True) -> None:
        """The work ended (``finished``) or was cut short: clear the bar, or say how long it
        took."""


def stderr_console() -> Console:
    """The console progress is shown on: stderr, 80 columns."""
    return Console(file=sys.stderr, width=80)


@contextmanager
def progress_bar(
    label: str,
    quiet: bool,
    *,
    counted: bool = True,
    console: Console | None = None,
    show_after: float | None = None,
) -> Iterator[ProgressReport]:
    """Progress of the block's work, labelled ``label``, on ``console`` (stderr): a bar on a
    terminal from ``show_after`` (``SHOW_AFTER``) seconds on, else lines; nothing with
    ``quiet``. ``counted`` shows ``done/total``, else a percentage."""
    out = console or stderr_console()
    report: ProgressReport
    if quiet:
        report = ProgressReport()
    elif out.is_terminal:
        report = _Bar(label, counted, out, SHOW_AFTER if show_after is None else show_after)
    else:
        report = _Lines(label, counted, out, progress_interval())
    report.start()
    try:
        yield report
    except BaseException:
        report.stop(finished=False)
        raise
    report.stop()


def progress_interval() -> float:
    """Seconds between progress lines, from ``EVENTSTORE_PROGRESS_INTERVAL`` (default 10)."""
    text = os.environ.get(INTERVAL_ENV, "").strip()
    if not text:
        return DEFAULT_INTERVAL
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise ConfigError(
            f"{INTERVAL_ENV}={text!r} is not a number of seconds: set it to e.g. 10, or 0 for "
            "a progress line at every step"
        )
    return seconds


class _Bar(ProgressReport):
    """A transient rich bar, started by a timer so quick work never shows it."""

    def __init__(self, label: str, counted: bool, console: Console, show_after: float) -> None:
        amount: ProgressColumn = MofNCompleteColumn() if counted else TaskProgressColumn()
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=30),
            amount,
            TimeElapsedColumn(),
            console=console,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._task = self._bar.add_task(label, total=None)
        self._lock = threading.Lock()
        self._shown = False
        self._ended = False
        self._show_after = show_after
        self._timer = threading.Timer(show_after, self._show)
        self._timer.daemon = True

    def __call__(self, done: int, total: int | None = None) -> None:
        self._bar.update(self._task, completed=done, total=total)

    def _show(self) -> None:
        with self._lock:
            if not self._ended:
                self._bar.start()
                self._shown = True

    def start(self) -> None:
        if self._show_after > 0:
            self._timer.start()
        else:
            self._show()

    def stop(self, finished: bool = True) -> None:
        self._timer.cancel()
        with self._lock:
            self._ended = True
            if self._shown:
                self._bar.stop()


class _Lines(ProgressReport):
    """Plain lines for a log: one when ``interval`` seconds have passed since the last line
    (or the start), checked at every report and by a clock for work that reports nothing for
    long; one per milestone; and a last one if anything was said."""

    def __init__(self, label: str, counted: bool, console: Console, interval: float) -> None:
        self._label = label
        self._counted = counted
        self._console = console
        self._interval = interval
        self._lock = threading.Lock()
        self._started = self._last_line = time.monotonic()
        self._said = False
        self._done: int | None = None
        self._total: int | None = None
        self._stopped = threading.Event()
        self._clock = threading.Thread(target=self._tick, name="progress-lines", daemon=True)

    def __call__(self, done: int, total: int | None = None) -> None:
        with self._lock:
            self._done, self._total = done, total
            self._say_if_due()

    def note(self, line: str) -> None:
        with self._lock:
            self._say(line)

    def start(self) -> None:
        with self._lock:
            self._say_if_due()  # at once only with an interval of 0
        if self._interval > 0:
            self._clock.start()

    def stop(self, finished: bool = True) -> None:
        self._stopped.set()
        if self._clock.is_alive():
            self._clock.join()
        with self._lock:
            if not self._said:
                return
            where = f" {self._amount()}" if self._done is not None else ""
            ended = "done in" if finished else "stopped after"
            self._say(f"{self._label}:{where} {ended} {self._elapsed()}")

    def _tick(self) -> None:
        while not self._stopped.wait(min(self._interval, 1.0)):
            with self._lock:
                self._say_if_due()

    def _say_if_due(self) -> None:
        if time.monotonic() - self._last_line >= self._interval:
            where = self._amount() if self._done is not None else "working"
            self._say(f"{self._label}: {where}, {self._elapsed()} so far")

    def _say(self, line: str) -> None:
        self._console.print(line, markup=False, highlight=False, soft_wrap=True)
        self._last_line = time.monotonic()
        self._said = True

    def _amount(self) -> str:
        done, total = self._done or 0, self._total
        if total is None:
            return f"{done:,}"
        if self._counted:
            return f"{done:,}/{total:,}"
        return f"{100 * done // max(total, 1)}%"

    def _elapsed(self) -> str:
        seconds = round(time.monotonic() - self._started)
        if seconds < 60:
            return f"{seconds} s"
        return f"{seconds // 60} min {seconds % 60:02d} s"
