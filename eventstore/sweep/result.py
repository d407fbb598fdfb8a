"""A finished sweep: one row per grid point (its run, values, return, trades, events, status),
sorted by a chosen metric, as a ``pyarrow.Table`` the CLI renders like any query result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from eventstore.errors import ConfigError
from eventstore.sweep.grid import format_value
from eventstore.tracing.writer import RunStatus

METRICS = ("return", "trades", "events", "status")
"""What a sweep's runs can be sorted by, besides a grid key's label. Metrics sort best (largest)
first; ``status`` and grid values sort ascending. Runs without a value (a crashed run has no
return) come last."""


@dataclass(frozen=True)
class SweepRun:
    """One grid point's run as stored."""

    index: int
    params: dict[str, Any]
    run_id: str | None
    """None when the run never started (e.g. its data could not be loaded)."""
    tag: str | None
    """The run's short tag: ``eventstore compare TAG_A TAG_B`` takes it."""
    status: RunStatus
    total_return: float | None
    trades: int | None
    events: int | None
    error: str | None


@dataclass(frozen=True)
class SweepResult:
    name: str
    db: str
    executor: str
    workers: int
    labels: dict[str, str]
    """Grid key → column label, for the keys that vary."""
    runs: list[SweepRun]
    """In grid order."""
    elapsed_s: float

    def count(self, status: RunStatus) -> int:
        return sum(run.status == status for run in self.runs)

    def sorted_runs(self, sort_by: str = "return") -> list[SweepRun]:
        """The runs best first by a metric (``METRICS``), or ascending by a grid key's label."""
        keys = {label: key for key, label in self.labels.items()}
        if sort_by not in METRICS and sort_by not in keys:
            choices = ", ".join([*METRICS, *keys])
            raise ConfigError(f"cannot sort a sweep by {sort_by!r}: use one of {choices}")

        def value(run: SweepRun) -> Any:
            if sort_by in keys:
                return _orderable(run.params[keys[sort_by]])
            return {
                "return": run.total_return,
                "trades": run.trades,
                "events": run.events,
                "status": run.status,
            }[sort_by]

        present = [run for run in self.runs if value(run) is not None]
        missing = [run for run in self.runs if value(run) is None]
        descending = sort_by in METRICS and sort_by != "status"
        return sorted(present, key=value, reverse=descending) + missing

    def table(self, sort_by: str = "return") -> pa.Table:
        """``run`` (tag), the varying grid values, ``return_%``, ``trades``, ``events``,
        ``status``: narrow enough for 80 columns with a few grid keys."""
        runs = self.sorted_runs(sort_by)
        columns: dict[str, pa.Array] = {"run": pa.array([r.tag or "-" for r in runs])}
        for key, label in self.labels.items():
            columns[label] = pa.array([format_value(r.params[key]) for r in runs])
        columns["return_%"] = pa.array(
            [None if r.total_return is None else round(100 * r.total_return, 3) for r in runs],
            pa.float64(),
        )
        columns["trades"] = pa.array([r.trades for r in runs], pa.int64())
        columns["events"] = pa.array([r.events for r in runs], pa.int64())
        columns["status"] = pa.array([r.status for r in runs])
        return pa.table(columns)


class SweepStopped(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) stopped a sweep, after its runs that were going had ended
    (``interrupted``, or ``crashed`` if they could not be stopped) and were stored: ``result``
    holds the runs it knows of, in grid order (one whose ``run_id`` is None never began), of
    the grid's ``points``; the other points never started."""

    def __init__(self, result: SweepResult, points: int, *args: object) -> None:
        super().__init__(*args)
        self.result = result
        self.points = points


def _orderable(value: Any) -> Any:
    """Grid values of one key share a type, except lists (symbols): compare those as text."""
    return format_value(value) if isinstance(value, list | tuple) else value
