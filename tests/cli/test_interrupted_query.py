"""Ctrl-C while a real ``eventstore sql`` waits on a long DuckDB query: DuckDB turns the SIGINT
into ``RuntimeError: Query interrupted``, which once ended the command with a traceback and
exit code 1. It ends with exit code 130 and nothing on stderr, as Ctrl-C ends any command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import TracedFile

DEADLINE = 60.0
"""Seconds the command may take to stop (only turns a hang into a failure)."""


def test_ctrl_c_during_a_query_exits_130_without_a_traceback(
    traced_file: TracedFile, tmp_path: Path
) -> None:
    # The query opens a named pipe first: once the test can open it for writing, the query is
    # running inside DuckDB, and the join it then computes lasts far longer than the test.
    rows = tmp_path / "rows.csv"
    os.mkfifo(rows)
    query = (
        f"SELECT sum(hash(a.i * b.i)) FROM read_csv('{rows}', auto_detect = false, header = false, "
        "columns = {'i': 'BIGINT'}) AS a, range(1000000000) AS b(i)"
    )
    command = subprocess.Popen(
        [sys.executable, "-m", "eventstore", "sql", query, "--db", str(traced_file.path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a terminal's foreground job, which Ctrl-C reaches whole
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        with rows.open("w") as pipe:  # returns once the query has opened the other end
            pipe.write("1\n2\n")
        os.killpg(command.pid, signal.SIGINT)
        out, err = command.communicate(timeout=DEADLINE)
    finally:
        if command.poll() is None:
            command.kill()
            command.communicate()
    assert command.returncode == 130, err
    assert err == "" and out == ""
