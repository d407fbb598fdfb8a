"""Ctrl-C at any moment of a command, as a real process: exit code 130 and one line on
stderr, no traceback, no file half-written. To send the signal at a known moment, the
process runs the ``eventstore`` script's ``main`` with an import hook that waits on a FIFO
when one module is imported: once the test has opened the FIFO's other end, the process is
waiting there, inside that import."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from eventstore import open_store
from tests.queries.flows import CLOSES, trace_trading

_GATED_MAIN = """
import sys
module, fifo = sys.argv[1:3]

class Gate:
    def find_spec(self, name, path=None, target=None):
        if name == module:
            with open(fifo) as f:
                f.read()
        return None

sys.meta_path.insert(0, Gate())
sys.argv = ["eventstore", *sys.argv[3:]]
from eventstore.__main__ import main
main()
"""


def _interrupted_while_importing(
    module: str, args: list[str], folder: Path
) -> tuple[int, str, str]:
    fifo = folder / "gate"
    os.mkfifo(fifo)
    process = subprocess.Popen(
        [sys.executable, "-c", _GATED_MAIN, module, str(fifo), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=folder,
        env={**os.environ, "COLUMNS": "80"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as at a terminal
    )
    try:
        with open(fifo, "w"):  # opens once the process waits in the import
            process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()
    return process.returncode, out, err


def test_ctrl_c_while_the_command_line_loads_ends_with_130(tmp_path: Path) -> None:
    """Before: a traceback through the imports, exit code 1."""
    assert _interrupted_while_importing("typer", ["--help"], tmp_path) == (
        130,
        "",
        "interrupted\n",
    )


def test_ctrl_c_in_report_ends_with_130_and_writes_nothing(tmp_path: Path) -> None:
    """Ctrl-C once ``report`` has begun. Before: ``Aborted!`` and exit code 1."""
    db = tmp_path / "runs.duckdb"
    with open_store(db) as store:
        trace_trading(store, CLOSES, name="a")
    result = _interrupted_while_importing(
        "eventstore.queries", ["report", "--db", str(db), "-o", "r.html"], tmp_path
    )
    assert result == (130, "", "interrupted\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gate", "runs.duckdb"]
    with open_store(db) as store:  # not left locked: it opens read-write
        assert store.where


def test_help_and_import_load_no_database_driver() -> None:
    """``import eventstore`` and ``eventstore --help`` load neither DuckDB, SQLAlchemy nor
    pyarrow (half a second before); every public name still loads on use."""
    code = """
import sys
import eventstore
loaded = [m for m in ("duckdb", "sqlalchemy", "pyarrow") if m in sys.modules]
from eventstore.cli import app
try:
    app(["--help"], prog_name="eventstore")
except SystemExit:
    pass
loaded += [m for m in ("duckdb", "sqlalchemy", "pyarrow") if m in sys.modules]
names = [getattr(eventstore, name) for name in eventstore.__all__]
from eventstore import EventTracer, open_store
print(loaded, len(names), EventTracer.__name__, open_store.__name__, file=sys.stderr)
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stderr.split("\n")[-2] == "[] 23 EventTracer open_store"


def test_ctrl_c_while_export_writes_its_trace_removes_the_file_begun(tmp_path: Path) -> None:
    """``export --perfetto`` writes the trace as it reads the deliveries. Before: Ctrl-C came
    out of DuckDB as ``RuntimeError: Query interrupted``, a traceback and exit code 1 (or a
    hang in DuckDB's cancel). Here the export has begun its file and runs a query that lasts
    until the signal, sent once it runs; the command ends at once and removes the file."""
    db = tmp_path / "runs.duckdb"
    with open_store(db) as store:
        trace_trading(store, CLOSES, name="a")
    folder = tmp_path / "out"
    folder.mkdir()
    code = f"""
import os, signal, sys, threading
import duckdb
from eventstore import queries

def endless_export(store, run, output, **options):
    with queries.atomic_text(output) as file:
        file.write("{{")
        con = duckdb.connect()
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
        con.sql("SELECT sum(hash(range)) FROM range(10000000000000)").fetchall()

queries.write_perfetto = endless_export
sys.argv = ["eventstore", "export", "--latest", "--perfetto", {str(folder / "run.json")!r},
            "--db", {str(db)!r}, "--quiet"]
from eventstore.__main__ import main
main()
"""
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as at a terminal
    )
    assert (done.returncode, done.stdout, done.stderr) == (130, "", "interrupted\n")
    assert list(folder.iterdir()) == []
