"""What every scenario shares: its outcome, the child-process driver, and an earlier run to
prove untouched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO

from eventstore import Event, EventTracer, TracedEventBus, open_store
from tests.reliability.integrity import RunState, damaged, inspect_store

ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("child.py")
DEADLINE = 120.0
"""Seconds a child may take to reach a state before the scenario gives up (never reached on a
healthy machine; it only turns a hang into a failure)."""


@dataclass
class Outcome:
    """What one try of a scenario saw. ``problems`` is empty when everything held."""

    scenario: str
    expected: int | str
    found: int | str
    damaged: int = 0
    problems: list[str] = field(default_factory=list)
    at_least: bool = False
    """``expected`` is a lower bound (a kill at a random point may land after more commits)."""

    @property
    def ok(self) -> bool:
        return not self.problems and self.damaged == 0

    def check(self, condition: bool, problem: str) -> None:
        if not condition:
            self.problems.append(problem)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Child:
    """A child process (``child.py MODE DB …`` or any argv) driven through its stdin/stdout."""

    def __init__(self, argv: list[str], work: Path) -> None:
        self.stderr_path = work / f"child-{len(list(work.glob('child-*.err')))}.err"
        self._stderr: IO[str] = self.stderr_path.open("w")
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            # As at a terminal, even if this process was started with SIGINT ignored (a
            # background job): the child's Python then turns SIGINT into KeyboardInterrupt.
            preexec_fn=_default_sigint,
        )
        self.lines: list[str] = []

    @classmethod
    def traced(cls, mode: str, db: Path, work: Path, *options: str) -> Child:
        return cls([sys.executable, str(CHILD), mode, str(db), *options], work)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def expect(self, prefix: str) -> str:
        """The next stdout line starting with ``prefix`` (earlier lines are kept in ``lines``)."""
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(
                    f"child exited before saying {prefix!r}; it said {self.lines[-5:]}, "
                    f"stderr: {self.stderr()[-2000:]}"
                )
            line = line.rstrip("\n")
            self.lines.append(line)
            if line.startswith(prefix):
                return line

    def send(self, line: str = "go") -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def signal(self, signum: signal.Signals) -> None:
        self.proc.send_signal(signum)

    def finish(self) -> int:
        """Wait for the child to end; its remaining stdout goes to ``lines``."""
        out, _ = self.proc.communicate(timeout=DEADLINE)
        self.lines.extend(out.splitlines())
        self._stderr.close()
        return self.proc.returncode

    def stderr(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.finish()


def earlier_run(db: Path, bars: int = 30) -> str:
    """A completed run traced into ``db`` before a scenario: it must come out unchanged."""
    bus = TracedEventBus("earlier")

    def strategy(bar: Event) -> None:
        bus.publish(Event("SIGNAL", bar.timestamp, {"bar": bar.payload["i"]}), source="strategy")

    bus.subscribe("BAR", strategy)
    with open_store(db) as store, EventTracer(store=store, batch_size=16, name="earlier") as tr:
        bus.set_tracer(tr)
        for i in range(bars):
            bus.publish(Event("BAR", datetime(2024, 1, 1), {"i": i}), source="feed")
    return tr.correlation_id


def check_store(
    outcome: Outcome, db: Path, before: dict[str, RunState] | None = None
) -> dict[str, RunState]:
    """Reopen ``db`` as the next user would; count damaged runs and changed earlier runs."""
    try:
        states = inspect_store(db)
    except Exception as exc:  # the database must open: anything else is damage
        outcome.damaged += 1
        outcome.problems.append(f"the database does not open: {type(exc).__name__}: {exc}")
        return {}
    problems = damaged(states)
    changed = [
        run_id
        for run_id, state in (before or {}).items()
        if run_id not in states or states[run_id].fingerprint != state.fingerprint
    ]
    bad_runs = {p.split(":", 1)[0] for p in problems} | set(changed)
    outcome.damaged += len(bad_runs)
    outcome.problems.extend(problems)
    outcome.problems.extend(f"earlier run {run_id} changed" for run_id in changed)
    return states


def the_run(states: dict[str, RunState], earlier: dict[str, RunState]) -> RunState | None:
    """The one run a scenario added to the store, if exactly one."""
    new = [s for run_id, s in states.items() if run_id not in earlier]
    return new[0] if len(new) == 1 else None
