"""export --parquet, import, and the query commands on a dataset (--db DIR), through Typer's
runner and once as real subprocesses: answers equal the database's, bad input one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eventstore import EventTracer, open_store
from eventstore.cli import app
from eventstore.store.parquet import export_runs
from tests.cli.conftest import TracedFile, error_message

runner = CliRunner()
EVENTSTORE = Path(sys.executable).parent / "eventstore"
CONFIG = Path(__file__).resolve().parents[2] / "config" / "multi_strategy_test.yaml"


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def ok(*args: str) -> str:
    """Run a command that must succeed; its messages fit 80 columns (JSON and CSV, for
    programs, are exempt)."""
    code, out, err = invoke(*args)
    assert code == 0, err or out
    assert "json" in args or "csv" in args or all(len(line) <= 80 for line in out.splitlines())
    return out


def test_export_then_query_the_dataset_in_place(
    traced_file: TracedFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    db = str(traced_file.path)
    a, b = traced_file.a.run_id, traced_file.b.run_id
    out = ok("export", a, b[:-4], "--parquet", "lake", "-q", "--db", db)
    assert out == "wrote 2 runs to the Parquet dataset lake\n"
    assert ok("export", "--latest", "--parquet", "lake", "--db", db).startswith("wrote 1 run ")
    fill = traced_file.a.of_type("FILL")[0]
    for command in (
        ["runs"],
        ["why", fill],
        ["effects", traced_file.a.ids[0]],
        ["chains", a],
        ["latency", "--by", "handler"],
        ["compare", a, b],
        ["analyze", b],
        ["sql", "SELECT event_type, count(*) AS n FROM events GROUP BY 1 ORDER BY 1"],
    ):
        on_lake = ok(*command, "--format", "json", "--db", "lake")
        assert on_lake == ok(*command, "--format", "json", "--db", db), command
    held = json.loads(
        ok("sql", "SELECT count(*) AS n FROM run_events", "-f", "json", "--db", "lake")
    )
    assert held[0]["n"] == len(traced_file.a.ids) + len(traced_file.b.ids)


def test_import_twice_duplicates_nothing(
    traced_file: TracedFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ok("export", "--all", "--parquet", "lake", "-q", "--db", str(traced_file.path))
    assert ok("import", "lake", "--db", "copy.duckdb") == (
        "imported 2 runs from lake into copy.duckdb\n"
    )
    again = ok("import", "lake", "--db", "copy.duckdb", "-q")
    assert again.splitlines()[:2] == [
        "imported 0 runs from lake into copy.duckdb",
        "note: skipped 2 runs it already holds (--replace loads them again):",
    ]
    assert traced_file.a.run_id in again and traced_file.b.run_id in again
    replaced = ok("import", "lake", "--replace", "--db", "copy.duckdb")
    assert "replaced 2 runs it already held" in replaced
    count = "SELECT count(*) AS n FROM events"
    assert ok("sql", count, "-f", "csv", "--db", "copy.duckdb") == ok(
        "sql", count, "-f", "csv", "--db", str(traced_file.path)
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export", "--perfetto", "x.json", "--parquet", "lake"], "choose one export format"),
        (["export", "latest", "--all", "--parquet", "lake"], "not two of them"),
        (["export", "latest", "latest", "--perfetto", "x.json"], "--perfetto writes one run"),
        (["export", "--all", "--perfetto", "x.json"], "--perfetto writes one run"),
        (["export", "no-such-run", "--parquet", "lake"], "no run 'no-such-run'"),
        (["export", "--all", "--parquet", "photos"], "not an eventstore dataset"),
        (["import", "nowhere"], "no Parquet dataset at nowhere"),
        (["import", "photos"], "photos is not an eventstore Parquet dataset"),
        (["run", "-c", str(CONFIG), "--bars", "5", "-q", "--db", "lake"], "read-only"),
        (["import", "lake", "--db", "lake"], "cannot import into lake"),
        (
            ["migrate", "--db", "lake"],
            "lake is a Parquet dataset, which is read-only: there is nothing to migrate "
            "(commands read it as it is); to load it into a database: eventstore import lake "
            "--db runs.duckdb",
        ),
    ],
)
def test_bad_input_is_one_line(
    traced_file: TracedFile,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"")
    ok("export", "--all", "--parquet", "lake", "-q", "--db", str(traced_file.path))
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    db = [] if "--db" in args else ["--db", str(traced_file.path)]
    code, out, err = invoke(*args, *db)
    assert code == 1, out
    assert message in error_message(err)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_exporting_every_run_of_an_empty_store_is_refused_and_writes_nothing(
    backend_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty dataset and exit 0 read as success: the store (named) has no runs to export."""
    monkeypatch.setenv("COLUMNS", "80")
    open_store(backend_url).close()
    before = sorted(tmp_path.rglob("*"))
    code, out, err = invoke("export", "--all", "--parquet", str(tmp_path / "lake"), "--db",
                            backend_url)  # fmt: skip
    assert (code, out) == (1, "")
    with open_store(backend_url, read_only=True) as store:
        where = store.where
    assert error_message(err) == (
        f"error: {where} holds no runs yet: trace a run into it first (eventstore run --db {where})"
    )
    assert sorted(tmp_path.rglob("*")) == before


def test_export_and_import_as_real_commands(traced_file: TracedFile, tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "80"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(EVENTSTORE), *args], capture_output=True, text=True, env=env, cwd=tmp_path
        )

    exported = run("export", "--all", "--parquet", "lake", "--db", str(traced_file.path))
    assert exported.returncode == 0 and exported.stdout.startswith("wrote 2 runs"), exported
    imported = run("import", "lake", "--db", "copy.duckdb")
    assert imported.returncode == 0 and imported.stdout.startswith("imported 2 runs"), imported
    why = run("why", traced_file.b.of_type("FILL")[0], "--db", "lake")
    assert why.returncode == 0 and "BAR" in why.stdout and why.stderr == ""


def test_import_says_which_runs_were_still_running_when_exported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with open_store("runs.duckdb") as store, EventTracer(store=store) as tracer:
        export_runs(store, "lake")
    out = ok("import", "lake", "-q", "--db", "copy.duckdb")
    assert out.splitlines() == [
        "imported 0 runs from lake into copy.duckdb",
        "note: skipped 1 run still running when exported",
        "(a copy would look crashed): export again once ended, then import:",
        f"  {tracer.correlation_id}",
    ]


def test_a_run_missing_a_file_is_left_out_of_the_dataset_with_a_warning(
    traced_file: TracedFile, tmp_path: Path
) -> None:
    """Read as it is, such a run looked like a run with no events: `analyze` said 0 events and
    `chains` no chains, without a word. It is left out, named, and the other runs stay."""
    env = {**os.environ, "COLUMNS": "80"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(EVENTSTORE), *args], capture_output=True, text=True, env=env, cwd=tmp_path
        )

    assert (
        run("export", "--all", "--parquet", "lake", "--db", str(traced_file.path)).returncode == 0
    )
    a, b = traced_file.a.run_id, traced_file.b.run_id
    next((tmp_path / "lake" / "events").glob(f"*{a}/part-0.parquet")).unlink()
    warning = f"warning: left out run {a} of lake: its events file is missing (export it again)"

    listed = run("runs", "--format", "csv", "--db", "lake")
    said = " ".join(listed.stderr.split())  # wrapped to 80 columns
    assert listed.returncode == 0 and warning in said, listed
    assert a not in listed.stdout and b in listed.stdout
    counted = run("sql", "SELECT count(*) AS n FROM events", "--format", "csv", "--db", "lake")
    assert counted.stdout.splitlines()[1:] == [str(len(traced_file.b.ids))], counted
    analyzed = run("analyze", a, "--db", "lake")
    assert analyzed.returncode == 1
    said = " ".join(analyzed.stderr.split())  # the dataset, not its database
    assert f"error: no run '{a}' in lake (" in said
