"""Every failure a new user ran into is one message on stderr (wrapped to the terminal's
width), exit code ≠ 0, no traceback; and
every value a query can return is printed in every format. Each runs the exact command as a
real process."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from eventstore.cli import app
from tests.cli.conftest import TracedFile, error_message

EVENTSTORE = Path(sys.executable).parent / "eventstore"
CONFIG = Path(__file__).resolve().parents[2] / "config" / "multi_strategy_test.yaml"


def eventstore(
    *args: str, preexec: Callable[[], None] | None = None, columns: int = 80
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EVENTSTORE), *args],
        capture_output=True,
        text=True,
        preexec_fn=preexec,
        env={**os.environ, "COLUMNS": str(columns)},
        timeout=300,
        check=False,
    )


def error_text(result: subprocess.CompletedProcess[str]) -> str:
    """The error message of a failed command, in one line (see ``error_message``)."""
    assert result.returncode != 0, result.stdout
    return error_message(result.stderr, width=80)


@pytest.mark.parametrize("columns", [60, 80, 400])
def test_a_long_error_is_wrapped_at_spaces_to_the_terminal(tmp_path: Path, columns: int) -> None:
    """Broken only at spaces, so a path wider than the terminal stays whole on a line of its
    own; lines after the first are indented, so the first (``error: …``, what scripts grep)
    reads on its own; joined, the lines are the message."""
    missing = tmp_path / ("a_folder_with_a_long_name_" * 3) / "missing.duckdb"
    done = eventstore("runs", "--db", str(missing), columns=columns)
    assert done.returncode == 1 and done.stdout == ""
    message = (
        f"error: no run database at {missing}: trace a run into it first (your program's "
        f"EventTracer, or the demo: eventstore run --db {missing}) or pass the right --db"
    )
    lines = done.stderr.splitlines()
    assert " ".join(line.strip() for line in lines) == message
    if len(message) <= columns:
        assert lines == [message]
        return
    assert lines[0].startswith("error: no run database at")
    assert any(f"{missing}:" in line.split() for line in lines)  # whole, on one line
    assert all(line.startswith("  ") and line[2] != " " for line in lines[1:])
    assert all(len(line) <= columns for line in lines if str(missing) not in line)


def test_a_full_disk_during_run(tmp_path: Path) -> None:
    """The file-size limit makes DuckDB's writes fail (EFBIG) as a full disk would."""

    def cap_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (3_000_000, resource.RLIM_INFINITY))

    db = tmp_path / "runs.duckdb"
    args = ["run", "-c", str(CONFIG), "--bars", "20000", "-q", "--db", str(db)]
    line = error_text(eventstore(*args, preexec=cap_file_size))
    # A batch's segment append fails, or (segments being small) the bulk load at the end.
    failed = "writing a batch failed" in line or "loading its last events failed" in line
    assert failed and "free disk space" in line


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory nobody can create files in. Root ignores permissions, so as root the
    directory is made immutable instead."""
    folder = tmp_path / "ro"
    folder.mkdir()
    root = os.geteuid() == 0
    if root:
        if subprocess.run(["chattr", "+i", str(folder)], check=False).returncode != 0:
            pytest.skip("running as root and cannot make a directory immutable")
    else:
        folder.chmod(0o555)
    try:
        yield folder
    finally:
        if root:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


def test_run_with_the_database_in_a_read_only_directory(read_only_dir: Path) -> None:
    for db in (read_only_dir / "runs.duckdb", read_only_dir / "new.duckdb"):
        args = ["run", "-c", str(CONFIG), "--bars", "20", "-q", "--db", str(db)]
        line = error_text(eventstore(*args))
        assert "read-only" in line and "writable directory" in line, line


def test_run_into_an_existing_database_in_a_read_only_directory(
    tmp_path: Path, traced_file: TracedFile
) -> None:
    """The file itself is writable, its directory is not: DuckDB would fail at the first
    commit, on its write-ahead log."""
    folder = tmp_path / "held"
    folder.mkdir()
    db = folder / "runs.duckdb"
    db.write_bytes(traced_file.path.read_bytes())
    root = os.geteuid() == 0
    if root and subprocess.run(["chattr", "+i", str(folder)], check=False).returncode != 0:
        pytest.skip("running as root and cannot make a directory immutable")
    if not root:
        folder.chmod(0o555)
    try:
        args = ["run", "-c", str(CONFIG), "--bars", "20", "-q", "--db", str(db)]
        line = error_text(eventstore(*args))
        assert "is read-only" in line and ".wal" in line
    finally:
        if root:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_sql_prints_intervals_and_extreme_timestamps(traced_file: TracedFile, fmt: str) -> None:
    query = (
        "SELECT ended_at - started_at AS took, TIMESTAMP_NS '2024-01-02 03:04:05.123456789' AS ns,"
        " 'infinity'::TIMESTAMP AS forever, '-infinity'::DATE AS never FROM runs"
    )
    result = eventstore("sql", query, "--db", str(traced_file.path), "--format", fmt)
    assert result.returncode == 0 and not result.stderr, result.stderr
    assert "2024-01-02T03:04:05.123456789" in result.stdout
    assert "-infinity" in result.stdout
    if fmt == "json":
        rows = json.loads(result.stdout)
        assert rows[0]["forever"] == "infinity" and rows[0]["took"].startswith("PT")


def test_select_interval_from_runs_as_json(traced_file: TracedFile) -> None:
    query = "select ended_at - started_at from runs"
    result = eventstore("sql", query, "--db", str(traced_file.path), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 2


def _alembic_db(path: Path, revision: str, *tables: str) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE alembic_version (version_num VARCHAR PRIMARY KEY)")
        con.execute("INSERT INTO alembic_version VALUES (?)", [revision])
        for table in tables:
            con.execute(f"CREATE TABLE {table} (id INTEGER)")
    return path


def test_a_stamped_database_without_our_tables(tmp_path: Path) -> None:
    db = _alembic_db(tmp_path / "stamped.duckdb", "0001")
    for args in (["runs"], ["run", "-c", str(CONFIG), "--bars", "20", "-q"]):
        line = error_text(eventstore(*args, "--db", str(db)))
        assert "lacks the eventstore tables" in line


def test_another_applications_alembic_database_is_not_called_newer(tmp_path: Path) -> None:
    db = _alembic_db(tmp_path / "app.duckdb", "ae1027a6acf", "users")
    line = error_text(eventstore("runs", "--db", str(db)))
    assert "another application's Alembic database" in line and "newer" not in line


def test_a_seed_beyond_64_bits(tmp_path: Path) -> None:
    db = tmp_path / "runs.duckdb"
    args = ["run", "-c", str(CONFIG), "--bars", "20", "-q", "--db", str(db)]
    line = error_text(eventstore(*args, "--seed", "99999999999999999999999999"))
    assert "seed" in line and "less than or equal to" in line


def test_pivot_is_a_read_only_query(traced_file: TracedFile) -> None:
    query = "PIVOT events ON event_type USING count(*) GROUP BY run_id"
    result = eventstore("sql", query, "--db", str(traced_file.path), "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {r["run_id"] for r in rows} == {traced_file.a.run_id, traced_file.b.run_id}


def test_too_deep_an_expression_suggests_no_set(traced_file: TracedFile) -> None:
    query = "SELECT " + "(" * 1100 + "1" + ")" * 1100
    line = error_text(eventstore("sql", query, "--db", str(traced_file.path)))
    assert "too deeply" in line and "SET" not in line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["why", "zzzzzz-1"], "no run in"),
        (["effects", "not-an-id"], "is not an event id"),
        (["chains", "no-such-run"], "no run 'no-such-run'"),
        (["compare", "latest", "no-such-run"], "no run 'no-such-run'"),
        (["runs", "--format", "xml"], "unknown format 'xml'"),
        (["latency", "--by", "colour"], "cannot group latencies by 'colour'"),
        (["sql", "SELECT 1", "--limit", "-1"], "--limit -1 is negative"),
    ],
)
def test_bad_input_is_one_line(traced_file: TracedFile, args: list[str], expected: str) -> None:
    line = error_text(eventstore(*args, "--db", str(traced_file.path)))
    assert expected in line


@pytest.mark.parametrize("command", ["run", "runs"])
def test_a_csv_file_given_as_the_database_is_refused_untouched(
    tmp_path: Path, command: str
) -> None:
    """DuckDB opens a CSV file as an in-memory database over it: a run traced "into" it
    would vanish with exit code 0. It is refused instead, and the file stays as it was."""
    prices = tmp_path / "prices.csv"
    text = "Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,0.5,1.5,10\n"
    prices.write_text(text)
    args = ["run", "-c", str(CONFIG), "--bars", "50", "-q"] if command == "run" else ["runs"]
    line = error_text(eventstore(*args, "--db", str(prices)))
    assert line == (
        f"error: {prices} is not a DuckDB database: pass the path of an eventstore database, "
        "or a new file name to create one"
    )
    assert prices.read_text() == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prices.csv"]


def test_an_empty_file_given_as_the_database_says_so(tmp_path: Path) -> None:
    """``mktemp`` or ``touch`` leaves an empty file, which DuckDB will not make a database."""
    empty = tmp_path / "runs.duckdb"
    empty.touch()
    assert error_text(eventstore("runs", "--db", str(empty))) == (
        f"error: {empty} is an empty file, not a DuckDB database: pass the path of an "
        "eventstore database, or a new file name to create one (or delete it)"
    )


@pytest.mark.parametrize("command", ["runs", "migrate"])
@pytest.mark.parametrize(
    "url", ["postgresql+psycopg://me:s3cret@db:port/runs", "postgresql://[::1/x"]
)
def test_a_url_that_does_not_parse_is_one_line_without_its_password(command: str, url: str) -> None:
    line = error_text(eventstore(*command.split(), "--db", url))
    assert "is not a database URL" in line and "postgresql+psycopg://user@host:5432/db" in line
    assert "s3cret" not in line


@pytest.mark.parametrize(("no_color", "colored"), [("", True), ("1", False)])
def test_an_error_is_colored_unless_no_color_is_set(
    tmp_path: Path, no_color: str, colored: bool
) -> None:
    """On a terminal the error line is red, unless NO_COLOR (no-color.org) says no color."""
    missing = tmp_path / "missing.duckdb"
    result = CliRunner().invoke(
        app, ["runs", "--db", str(missing)], color=True, env={"NO_COLOR": no_color}
    )
    assert result.exit_code == 1
    assert ("\x1b[31m" in result.stderr) is colored
    assert ("\x1b[" in result.stderr) is colored
    assert f"no run database at {missing}" in " ".join(result.stderr.split())
