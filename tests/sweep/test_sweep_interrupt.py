"""Ctrl-C at a terminal while a real ``eventstore sweep`` is storing a finished run: SIGINT
reaches the sweep's process and its workers at once (one process group). The run being
stored is stored whole, the workers' runs end ``interrupted``, and the sweep says it stopped
with exit code 130, rather than failing on the half-stored run."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 120.0
"""Seconds to wait for the sweep to reach a state (only turns a hang into a failure)."""


def _wait_until(condition: Callable[[], bool], sweep: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if sweep.poll() is not None:
            raise AssertionError(f"the sweep ended before {what}: {sweep.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the sweep never reached: {what}")
        time.sleep(0.005)


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _start_sweep(
    tmp_path: Path, name: str, config: str, grid: dict[str, list[object]], *options: str
) -> tuple[subprocess.Popen[str], Path]:
    """A real ``eventstore sweep`` of ``grid`` over ``config/<config>`` into
    ``tmp_path/runs.duckdb``, at 80 columns, in a process group of its own (as a terminal's
    foreground job), with Ctrl-C's default action even under a test runner that ignores it;
    the process and the database."""
    sweep_file = tmp_path / "sweep.yaml"
    backtest = str(ROOT / "config" / config)
    sweep_file.write_text(yaml.safe_dump({"name": name, "backtest": backtest, "grid": grid}))
    db = tmp_path / "runs.duckdb"
    argv = [sys.executable, "-m", "eventstore", "sweep", "-c", str(sweep_file), "--db", str(db)]
    sweep = subprocess.Popen(
        [*argv, *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    return sweep, db


def test_ctrl_c_while_a_run_is_stored_stores_it_whole_and_says_the_sweep_stopped(
    tmp_path: Path,
) -> None:
    # Point 0 is ~400 000 events: stored in four transactions, so the sweep is caught
    # storing it. Point 1 runs meanwhile (one worker) and is interrupted.
    grid: dict[str, list[object]] = {
        "strategies.moving_average_crossover.fast": [5, 8],
        "bars": [75_000],
    }
    sweep, db = _start_sweep(tmp_path, "stop", "multi_strategy_test.yaml", grid, "-w", "1", "-q")
    try:
        spool = db.with_name(db.name + ".sweep")
        _wait_until(lambda: any(spool.glob("*/point-00000/*/end.json")), sweep, "a run ended")
        wal = db.with_name(db.name + ".wal")
        before = _size(wal)
        _wait_until(lambda: _size(wal) > before + 1_000_000, sweep, "it stored a segment")
        os.killpg(sweep.pid, signal.SIGINT)  # Ctrl-C
        _, stderr = sweep.communicate(timeout=DEADLINE)
    finally:
        if sweep.poll() is None:
            os.killpg(sweep.pid, signal.SIGKILL)
            sweep.communicate()

    assert sweep.returncode == 130, stderr
    # Point 1 is interrupted, or not started if Ctrl-C came before its run began.
    assert re.search(r"sweep stop stopped after [\d.]+ s: 1 of 2 runs completed, 1 ", stderr)
    assert "already in this store" not in stderr
    assert max(len(line) for line in stderr.splitlines() if str(db) not in line) <= 80
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.execute(
            "SELECT r.name, r.status, r.event_count, count(e.seq) FROM runs AS r "
            "LEFT JOIN events AS e USING (run_id) GROUP BY ALL ORDER BY r.name"
        ).fetchall()
    statuses = {name: status for name, status, _, _ in stored}
    assert statuses.pop("stop fast=5") == "completed"
    assert set(statuses.values()) <= {"interrupted"}  # point 1, if its run had begun
    assert all(counted == found for _, _, counted, found in stored)
    assert not spool.exists()


def test_sigterm_to_the_sweeps_process_stops_its_workers_and_stores_their_runs(
    tmp_path: Path,
) -> None:
    # `kill PID` (a job scheduler, CI's time-out) signals the sweep's process alone, not its
    # workers: the sweep must stop them, not die and leave them tracing on, orphaned.
    grid: dict[str, list[object]] = {"seed": [1, 2], "bars": [2_000_000]}  # longer than waited
    sweep, db = _start_sweep(tmp_path, "term", "trend_following.yaml", grid, "-w", "2", "-q")
    try:
        spool = db.with_name(db.name + ".sweep")
        for point in ("point-00000", "point-00001"):
            _wait_until(
                lambda point=point: any(spool.glob(f"*/{point}/*/*/events.arrows")),
                sweep,
                f"{point} wrote a segment",
            )
        sweep.send_signal(signal.SIGTERM)  # the sweep's process only
        # The workers hold its pipes too: this returns once they have all exited.
        _, stderr = sweep.communicate(timeout=DEADLINE)
    finally:
        if sweep.poll() is None:
            os.killpg(sweep.pid, signal.SIGKILL)
            sweep.communicate()

    assert sweep.returncode == 130, stderr
    summary = r"sweep term stopped after [\d.]+ s: 0 of 2 runs completed, 2 interrupted;"
    assert re.search(summary, stderr), stderr
    assert "Traceback" not in stderr
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.execute(
            "SELECT r.status, r.error, r.event_count, count(e.seq) FROM runs AS r "
            "LEFT JOIN events AS e USING (run_id) GROUP BY ALL"
        ).fetchall()
    assert [(status, error) for status, error, _, _ in stored] == [
        ("interrupted", "KeyboardInterrupt: stopped by signal SIGTERM")
    ] * 2
    assert all(counted == found > 0 for _, _, counted, found in stored)
    assert not spool.exists()


@pytest.mark.parametrize("executor", ["local", "dask"])
def test_ctrl_c_ends_the_runs_going_interrupted_and_says_what_finished_without_tracebacks(
    executor: str, tmp_path: Path
) -> None:
    # Three workers: the short point 0 ends, and points 1 and 2 (far longer than the test
    # waits) are going when Ctrl-C comes, with a worker idle (a Dask worker died of Ctrl-C
    # with a traceback, and its busy ones ran their runs to the end).
    grid: dict[str, list[object]] = {"bars": [300, 2_000_000, 2_100_000]}
    sweep, db = _start_sweep(
        tmp_path, "int", "trend_following.yaml", grid, "-w", "3", "--executor", executor
    )
    try:
        spool = db.with_name(db.name + ".sweep")
        _wait_until(lambda: any(spool.glob("*/point-00000/*/end.json")), sweep, "run 0 ended")
        for point in ("point-00001", "point-00002"):
            _wait_until(
                lambda point=point: any(spool.glob(f"*/{point}/*/*/events.arrows")),
                sweep,
                f"{point} wrote a segment",
            )
        os.killpg(sweep.pid, signal.SIGINT)  # Ctrl-C
        _, stderr = sweep.communicate(timeout=DEADLINE)
    finally:
        if sweep.poll() is None:
            os.killpg(sweep.pid, signal.SIGKILL)
            sweep.communicate()

    assert sweep.returncode == 130, stderr
    assert "Traceback" not in stderr
    summary = r"sweep int stopped after [\d.]+ s: 1 of 3 runs completed, 2 interrupted; every run"
    assert re.search(summary, " ".join(stderr.split())), stderr
    assert max(len(line) for line in stderr.splitlines() if str(db) not in line) <= 80
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.execute(
            "SELECT r.name, r.status, r.error, r.event_count, count(e.seq) FROM runs AS r "
            "LEFT JOIN events AS e USING (run_id) GROUP BY ALL ORDER BY r.name"
        ).fetchall()
    assert [row[:3] for row in stored] == [
        ("int bars=2000000", "interrupted", "KeyboardInterrupt"),
        ("int bars=2100000", "interrupted", "KeyboardInterrupt"),
        ("int bars=300", "completed", None),
    ]
    assert all(counted == found > 0 for *_, counted, found in stored)
    assert not spool.exists()
