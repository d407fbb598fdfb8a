"""Long work tells its progress in plain lines on stderr when stderr is not a terminal (a pipe,
a CI log): rate-limited by EVENTSTORE_PROGRESS_INTERVAL (0 here: a line at every step, so no
test waits), a line per finished sweep run, none with --quiet, none for quick work at the
default interval, and stdout as it is without them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml
from typer.testing import CliRunner

from eventstore.backtest.runner import PROGRESS_THRESHOLD
from eventstore.cli import app
from eventstore.progress import INTERVAL_ENV
from tests.backtest.conftest import BASE_CONFIG
from tests.cli.conftest import TracedFile, error_message

EVENTSTORE = Path(sys.executable).parent / "eventstore"
EVERY_STEP = {INTERVAL_ENV: "0"}


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.stderr or result.stdout
    return result.stdout, result.stderr


@pytest.mark.parametrize(
    ("command", "label"),
    [(["latency", "--by", "handler"], "latency"), (["analyze", "--latest"], "analysis")],
)
def test_query_commands_say_how_far_they_got_in_lines(
    traced_file: TracedFile, command: list[str], label: str
) -> None:
    args = [*command, "--db", str(traced_file.path), "-f", "csv"]
    out, err = invoke(*args, env=EVERY_STEP)
    lines = err.splitlines()
    assert lines[0] == f"{label}: working, 0 s so far"
    assert f"{label}: 100%, 0 s so far" in lines
    assert re.fullmatch(rf"{label}: 100% done in \d+ s", lines[-1]), err
    assert "━" not in err  # lines, not a bar
    quiet_out, quiet_err = invoke(*args, "--quiet", env=EVERY_STEP)
    assert quiet_out == out and quiet_err == ""


@pytest.fixture(scope="module")
def backtest_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("plots")
    config = folder / "small.yaml"
    config.write_text(yaml.safe_dump({**BASE_CONFIG, "bars": 300}), encoding="utf-8")
    db = folder / "runs.duckdb"
    invoke("run", "-c", str(config), "--db", str(db), "-q")
    return db


@pytest.mark.parametrize(
    ("command", "label", "done"),
    [(["latency"], "latency", "100%"), (["equity"], "runs", "1/1")],
)
def test_plots_say_how_far_they_got_in_lines(
    backtest_file: Path, tmp_path: Path, command: list[str], label: str, done: str
) -> None:
    """Plots of long runs take seconds: they report as the query commands do."""
    args = ["plot", *command, "--latest", "--db", str(backtest_file)]
    _, err = invoke(*args, "-o", str(tmp_path / "a.png"), env=EVERY_STEP)
    assert (tmp_path / "a.png").stat().st_size > 0
    assert re.fullmatch(rf"{label}: {done} done in \d+ s", err.splitlines()[-1]), err
    _, quiet_err = invoke(*args, "-o", str(tmp_path / "b.png"), "-q", env=EVERY_STEP)
    assert quiet_err == "" and (tmp_path / "b.png").stat().st_size > 0


def test_quick_work_says_nothing_at_the_default_interval(traced_file: TracedFile) -> None:
    _, err = invoke("latency", "--db", str(traced_file.path), env={INTERVAL_ENV: ""})
    assert err == ""


def test_migrate_says_it_is_working_and_when_it_is_done(tmp_path: Path) -> None:
    db = tmp_path / "runs.duckdb"
    out, err = invoke("migrate", "--db", str(db), env=EVERY_STEP)
    assert out.startswith(f"{db}: schema at revision")
    assert err.splitlines()[0] == "migrate: working, 0 s so far"
    assert re.fullmatch(r"migrate: done in \d+ s", err.splitlines()[-1]), err
    assert invoke("migrate", "--db", str(db), "-q", env=EVERY_STEP)[1] == ""


def test_a_long_backtest_counts_its_bars(tmp_path: Path) -> None:
    config = {**BASE_CONFIG, "bars": PROGRESS_THRESHOLD // 3 + 1}  # three symbols
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    args = ["run", "-c", str(path), "--no-trace"]
    _, err = invoke(*args, env=EVERY_STEP)
    total = 3 * config["bars"]
    assert f"bars: 10,000/{total:,}, 0 s so far" in err.splitlines()
    assert re.search(rf"^bars: {total:,}/{total:,} done in \d+ s$", err, re.MULTILINE), err


def test_a_bad_interval_is_one_clear_line(traced_file: TracedFile) -> None:
    result = CliRunner().invoke(
        app, ["latency", "--db", str(traced_file.path)], env={INTERVAL_ENV: "soon"}
    )
    assert result.exit_code == 1
    assert error_message(result.stderr) == (
        f"error: {INTERVAL_ENV}='soon' is not a number of seconds: set it to e.g. 10, or 0 "
        "for a progress line at every step"
    )


def test_a_piped_sweep_logs_a_line_per_run_and_keeps_stdout_clean(tmp_path: Path) -> None:
    """A real process whose stderr is a pipe, as under CI or nohup."""
    sweep = {
        "name": "logged",
        "backtest": {**BASE_CONFIG, "bars": 60},
        "grid": {"seed": [1, 2, 3]},
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep, sort_keys=False), encoding="utf-8")
    db = tmp_path / "runs.duckdb"
    args = [str(EVENTSTORE), "sweep", "-c", str(path), "--workers", "2", "--db", str(db)]
    env = {**os.environ, **EVERY_STEP, "COLUMNS": "80"}
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    with duckdb.connect(str(db), read_only=True) as con:
        stored = dict(con.execute("SELECT tag, event_count FROM runs").fetchall())
    finished = [line for line in done.stderr.splitlines() if line.startswith("run ")]
    assert len(finished) == 3
    for number, line in enumerate(finished, 1):
        match = re.fullmatch(
            rf"run {number}/3 completed: (\w+) logged seed=\d, ([\d,]+) events", line
        )
        assert match, line
        assert stored[match[1]] == int(match[2].replace(",", ""))
    assert re.search(r"^runs: 3/3 done in \d+ s$", done.stderr, re.MULTILINE), done.stderr
    assert done.stdout.startswith("sweep logged: 3 runs, 3 completed")
    assert "run 1/3" not in done.stdout and "done in" not in done.stdout

    quiet = subprocess.run([*args, "--quiet"], capture_output=True, text=True, env=env, timeout=300)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
