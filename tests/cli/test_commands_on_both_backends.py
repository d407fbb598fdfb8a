"""The query commands print the same on a PostgreSQL URL as on a DuckDB file holding the same
runs (traced into both at once), in every format; ``--db`` takes either."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from eventstore import open_store
from eventstore.cli import app
from eventstore.store.schema import SCHEMA_REVISION
from tests.cli.conftest import error_message
from tests.conftest import fresh_pg_database
from tests.queries.flows import CLOSES, Truth, trace_trading
from tests.queries.test_backends_agree import Tee, _same_end_times, assert_same

runner = CliRunner()
EVENTSTORE = Path(sys.executable).parent / "eventstore"


@dataclass
class BothDatabases:
    file: str
    url: str
    a: Truth
    b: Truth


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory, pg_server: str) -> Iterator[BothDatabases]:
    path = tmp_path_factory.mktemp("cli-both") / "runs.duckdb"
    with fresh_pg_database(pg_server) as url:
        with open_store(path) as duck, open_store(url) as pg:
            tee: Any = Tee([duck, pg])
            a = trace_trading(tee, CLOSES, name="a")
            b = trace_trading(tee, [*CLOSES[:5], 101.0, *CLOSES[6:]], name="b")
            _same_end_times(duck, url)
        yield BothDatabases(str(path), url, a, b)


def commands(both: BothDatabases) -> dict[str, list[str]]:
    fill, bar = both.a.of_type("FILL")[0], both.a.of_type("BAR")[3]
    return {
        "runs": ["runs"],
        "why": ["why", fill],
        "effects": ["effects", bar],
        "chains": ["chains", "--latest"],
        "latency": ["latency", both.a.run_id, both.b.run_id, "--by", "handler"],
        "compare": ["compare", both.a.run_id, both.b.run_id],
        "analyze": ["analyze", both.a.run_id],
        "sql": ["sql", "SELECT event_type, count(*) AS n FROM events GROUP BY 1 ORDER BY 1"],
    }


def output(args: list[str]) -> str:
    result = runner.invoke(app, args, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.stderr or result.stdout
    return result.stdout


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
@pytest.mark.parametrize(
    "command", ["runs", "why", "effects", "chains", "latency", "compare", "analyze", "sql"]
)
def test_a_command_prints_the_same_on_both_backends(
    both: BothDatabases, command: str, fmt: str
) -> None:
    args = [*commands(both)[command], "--format", fmt]
    on_duckdb = output([*args, "--db", both.file])
    on_postgresql = output([*args, "--db", both.url])
    assert len(on_duckdb) > 60, on_duckdb  # rows, not an empty answer
    if fmt == "table":  # rounded for reading: the same text
        assert on_postgresql == on_duckdb
    else:  # every digit: the same values, percentiles to the last bits of a double
        assert_same(parsed(on_duckdb, fmt), parsed(on_postgresql, fmt), command)


def parsed(text: str, fmt: str) -> Any:
    if fmt == "json":
        return json.loads(text)
    return [
        [float(cell) if _is_float(cell) else cell for cell in row]
        for row in csv.reader(io.StringIO(text))
    ]


def _is_float(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return "." in cell or "e" in cell


def test_the_sql_command_reads_a_postgresql_store_and_writes_nothing(both: BothDatabases) -> None:
    rows = json.loads(
        output(["sql", "SELECT count(*) AS n FROM runs", "-f", "json", "--db", both.url])
    )
    assert rows == [{"n": 2}]
    refused = runner.invoke(app, ["sql", "DELETE FROM runs", "--db", both.url])
    assert refused.exit_code == 1 and "read-only" in refused.stderr
    assert json.loads(
        output(["sql", "SELECT count(*) AS n FROM runs", "-f", "json", "--db", both.url])
    ) == [{"n": 2}]


def test_sql_columns_postgresql_names_alike_are_told_apart(both: BothDatabases) -> None:
    """PostgreSQL names both unnamed aggregates ``count``: the table must still print."""
    query = "SELECT count(*), count(DISTINCT event_type) FROM events"
    table = output(["sql", query, "--db", both.url]).splitlines()
    assert table[0].split() == ["count", "count_2"]
    rows = json.loads(output(["sql", query, "-f", "json", "--db", both.url]))
    assert list(rows[0]) == ["count", "count_2"]


def test_migrate_and_runs_take_a_url_as_a_real_process(pg_url: str) -> None:
    migrated = subprocess.run(
        [str(EVENTSTORE), "migrate", "--db", pg_url], capture_output=True, text=True, check=False
    )
    assert migrated.returncode == 0, migrated.stderr
    assert migrated.stdout.strip().endswith(f"schema at revision {SCHEMA_REVISION}")
    listed = subprocess.run(
        [str(EVENTSTORE), "runs", "--db", pg_url, "-f", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []


ADVICE = (
    "check that the server runs and the URL's host, port, user, password and database are right"
)


def test_an_unreachable_server_is_one_message() -> None:
    result = runner.invoke(app, ["runs", "--db", "postgresql+psycopg://u:pw@127.0.0.1:1/db"])
    assert result.exit_code == 1
    message = error_message(result.stderr)
    assert message.startswith("error: cannot connect to postgresql+psycopg://u:***@")
    assert message.endswith(f"Connection refused): {ADVICE}") and "pw@" not in result.stderr


def test_a_refused_password_is_named_among_what_to_check_and_never_printed(
    pg_server: str,
) -> None:
    import psycopg

    wrong = "not-the-password-4711"
    url = sa.make_url(pg_server).set(password=wrong)
    try:
        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        psycopg.connect(conninfo, connect_timeout=5).close()
    except psycopg.OperationalError:
        pass
    else:
        pytest.skip("the test server takes any password (trust): .ci/run starts one that checks")
    done = subprocess.run(
        [str(EVENTSTORE), "runs", "--db", url.render_as_string(hide_password=False)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
        check=False,
    )
    assert done.returncode == 1 and wrong not in done.stdout + done.stderr
    message = error_message(done.stderr, width=80)
    shown = url.render_as_string(hide_password=True)
    assert message.startswith(f"error: cannot connect to {shown} (connection to server at ")
    assert "password authentication failed" in message and message.endswith(ADVICE)


def test_a_missing_driver_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if `pip install -e .` had no extra
    result = runner.invoke(app, ["runs", "--db", "postgresql+psycopg://u:pw@127.0.0.1:1/db"])
    assert result.exit_code == 1
    message = error_message(result.stderr)
    assert "psycopg is not installed: pip install 'eventstore[postgres]'" in message
    assert "pw@" not in result.stderr
