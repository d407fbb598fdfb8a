"""open_store: schema creation, Alembic round trip, and a clear error for every bad target."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from eventstore import (
    SchemaVersionError,
    StoreError,
    StoreLockedError,
    open_store,
)
from eventstore.store.migrate import head_revision
from eventstore.store.schema import SCHEMA_REVISION

ROOT = Path(__file__).resolve().parents[2]
TABLES = {"alembic_version", "run_deliveries", "run_edges", "run_events", "run_names", "runs"}
VIEWS = {"deliveries", "events", "lineage_edges"}


def tables(path: Path, kind: str = "BASE TABLE") -> set[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = ?", [kind]
        ).fetchall()
        return {r[0] for r in rows}
    finally:
        con.close()


def test_open_store_creates_the_schema(db_path: Path) -> None:
    with open_store(db_path):
        pass
    assert tables(db_path) == TABLES
    assert tables(db_path, "VIEW") == VIEWS


def test_schema_revision_constant_is_alembic_head() -> None:
    assert head_revision() == SCHEMA_REVISION


def alembic(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alembic", "-x", f"db={db}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_alembic_upgrade_and_downgrade_from_the_repo_root(db_path: Path) -> None:
    up = alembic("upgrade", "head", db=db_path)
    assert up.returncode == 0, up.stderr
    assert tables(db_path) == TABLES
    down = alembic("downgrade", "base", db=db_path)
    assert down.returncode == 0, down.stderr
    assert tables(db_path) == {"alembic_version"}
    assert tables(db_path, "VIEW") == set()
    again = alembic("upgrade", "head", db=db_path)
    assert again.returncode == 0, again.stderr
    with open_store(db_path) as store:  # the library accepts what Alembic built
        assert store.read_only is False


def test_a_newer_schema_is_refused(db_path: Path) -> None:
    with open_store(db_path) as store:
        store.cursor().execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(SchemaVersionError, match=r"revision 9999, newer than this eventstore"):
        open_store(db_path)
    with pytest.raises(SchemaVersionError, match="upgrade eventstore"):
        open_store(db_path, read_only=True)


def test_a_file_that_is_not_duckdb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.duckdb"
    path.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(StoreError, match=r"notes.duckdb is not a DuckDB database"):
        open_store(path)
    assert path.read_text().startswith("these are my notes")


def test_a_duckdb_file_of_another_application_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE prices (symbol VARCHAR, close DOUBLE)")
    con.close()
    with pytest.raises(SchemaVersionError, match=r"not an eventstore run store \(tables: prices\)"):
        open_store(path)
    assert tables(path) == {"prices"}


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a directory: give the path of a database file"):
        open_store(tmp_path)


def test_reading_a_missing_database_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "nope.duckdb"
    with pytest.raises(StoreError, match=r"no run database at .*nope\.duckdb"):
        open_store(missing, read_only=True)
    assert not missing.exists()


@pytest.mark.parametrize(
    ("target", "options", "error", "message"),
    [
        (None, {}, TypeError, r"takes a DuckDB file path or a database URL, got NoneType"),
        (5, {}, TypeError, r"got int: pass a DuckDB file path \(runs.duckdb\) or a PostgreSQL"),
        ("runs.duckdb", {"wait": "2"}, ValueError, r"wait must be a number of seconds >= 0"),
        ("runs.duckdb", {"wait": -1}, ValueError, r"wait must be a number of seconds >= 0"),
    ],
)
def test_wrong_arguments_are_named(
    tmp_path: Path, target: object, options: dict[str, object], error: type, message: str
) -> None:
    if isinstance(target, str):
        target = tmp_path / target
    with pytest.raises(error, match=message):
        open_store(target, **options)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("first_read_only", [False, True], ids=["writer", "reader"])
def test_a_file_this_process_holds_otherwise_names_the_fix(
    db_path: Path, first_read_only: bool
) -> None:
    """DuckDB opens a file one way per process: a helper given the path of a store the
    program holds open used to call the file 'not a DuckDB database'."""
    with open_store(db_path):
        pass
    held, other = ("read-only", "read-write") if first_read_only else ("read-write", "read-only")
    with open_store(db_path, read_only=first_read_only) as store:
        with pytest.raises(
            StoreError,
            match=rf"already open {held} in this process, so it "
            rf"can't be opened {other} too: pass that store",
        ):
            open_store(db_path, read_only=not first_read_only)
        assert store.read_only is first_read_only
    with open_store(db_path, read_only=not first_read_only):  # closed: it opens again
        pass


def test_a_file_that_cannot_be_written_says_to_open_it_read_only(db_path: Path) -> None:
    with open_store(db_path):
        pass
    if os.geteuid() == 0:  # root writes any file unless it is immutable
        if subprocess.run(["chattr", "+i", str(db_path)], capture_output=True).returncode:
            pytest.skip("running as root on a filesystem without immutable files")
    else:
        db_path.chmod(0o444)
    try:
        with pytest.raises(
            StoreError,
            match=r"cannot open .*runs\.duckdb \(.*\): check the "
            r"file's permissions, or open it read-only",
        ):
            open_store(db_path)
        with open_store(db_path, read_only=True) as store:
            assert store.read_only
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(db_path)], check=True)
        db_path.chmod(0o644)


@pytest.mark.parametrize("read_only", [False, True], ids=["writer", "reader"])
def test_a_file_held_by_another_process_names_it(db_path: Path, read_only: bool) -> None:
    """A reader holding the file blocks a writer too: the message must not call it a writer."""
    with open_store(db_path):
        pass
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import duckdb, sys
                con = duckdb.connect({str(db_path)!r}, read_only={read_only})
                print("ready", flush=True)
                sys.stdin.read()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLockedError, match=rf"in use by process {holder.pid}") as error:
            open_store(db_path, wait=0.2)
        assert "for writing" not in str(error.value)
    finally:
        holder.communicate("")
    with open_store(db_path):  # nothing was damaged
        pass


def test_runs_left_running_by_a_dead_process_are_marked_crashed(db_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os
        from datetime import datetime
        from eventstore import Event, EventTracer, TracedEventBus, open_store
        store = open_store({str(db_path)!r})
        tracer = EventTracer(store=store, batch_size=10, background=False).start()
        bus = TracedEventBus("b"); bus.set_tracer(tracer)
        for i in range(25):
            bus.publish(Event("BAR", datetime(2024, 1, 2), {{"i": i}}))
        os._exit(0)  # dies without closing the run
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, env={**os.environ})
    with open_store(db_path) as store:
        rows = store.cursor().execute("SELECT status, event_count FROM runs").fetchall()
    assert rows == [("crashed", 20)]


def test_migrate_command_creates_the_schema_and_reports_errors(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from eventstore.cli import app

    runner = CliRunner()
    db = tmp_path / "fresh.duckdb"
    result = runner.invoke(app, ["migrate", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert f"{db}: schema at revision {SCHEMA_REVISION}" in result.output
    assert tables(db) == TABLES
    bad = runner.invoke(app, ["migrate", "--db", str(tmp_path)])
    assert bad.exit_code == 1
    assert "is a directory" in " ".join(bad.output.split())  # wrapped to the terminal
