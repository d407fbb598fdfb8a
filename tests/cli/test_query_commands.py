"""The query commands through Typer's runner, once each as a real subprocess, and every kind
of bad input by its one-line message."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from eventstore import Event, EventTracer, TracedEventBus, open_store, queries
from eventstore.cli import app
from tests.cli.conftest import TracedFile, error_message

runner = CliRunner()
EVENTSTORE = Path(sys.executable).parent / "eventstore"
MULTI_STRATEGY = Path(__file__).resolve().parents[2] / "config" / "multi_strategy_test.yaml"


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def ok(*args: str) -> str:
    code, out, err = invoke(*args)
    assert code == 0, err or out
    return out


def test_runs_lists_both_runs(traced_file: TracedFile) -> None:
    out = ok("runs", "--db", str(traced_file.path))
    assert traced_file.a.run_id in out and traced_file.b.run_id in out
    rows = json.loads(ok("runs", "--db", str(traced_file.path), "--format", "json"))
    assert [r["run_id"] for r in rows] == [traced_file.b.run_id, traced_file.a.run_id]


def test_why_prints_the_chain_back_to_the_bar(traced_file: TracedFile) -> None:
    fill = traced_file.a.of_type("FILL")[0]
    out = ok("why", fill, "--db", str(traced_file.path))
    for event_id in traced_file.a.ancestors(fill):
        assert event_id in out
    assert "priced_by" in out and "caused_by" in out
    rows = json.loads(ok("why", fill, "--db", str(traced_file.path), "-f", "json"))
    assert rows[0]["event_id"] == fill and rows[-1]["event_type"] == "BAR"
    assert "payload" in rows[0] and "created_ns" in rows[0]


def test_effects_prints_what_a_bar_caused(traced_file: TracedFile) -> None:
    bar = traced_file.a.of_type("BAR")[3]
    out = ok("effects", bar, "--db", str(traced_file.path), "--format", "csv")
    ids = [row["event_id"] for row in csv.DictReader(io.StringIO(out))]
    assert sorted(ids) == sorted(traced_file.a.descendants(bar))


@pytest.mark.parametrize("command", ["why", "effects", "graph"])
def test_an_event_id_may_shorten_its_run_tag(traced_file: TracedFile, command: str) -> None:
    """As the README and every such command's --help say: ``3k9x-1234`` for ``3k9x2m7q1d-1234``."""
    fill = traced_file.a.of_type("FILL")[0]
    tag, seq = fill.rsplit("-", 1)
    other = traced_file.b.of_type("FILL")[0].rsplit("-", 1)[0]
    unique = next(n for n in range(1, len(tag)) if tag[:n] != other[:n])
    db = str(traced_file.path)
    assert ok(command, f"{tag[:unique]}-{seq}", "--db", db) == ok(command, fill, "--db", db)
    assert "tag may be a prefix" in " ".join(ok(command, "--help").split())


def test_chain_titles_count_in_words(traced_file: TracedFile) -> None:
    truth, db = traced_file.a, str(traced_file.path)
    bar, signal = truth.of_type("BAR")[0], truth.of_type("SIGNAL")[0]
    update = truth.of_type("PORTFOLIO_UPDATE")[0]
    assert f"why {signal}: it and its 1 ancestor, newest first" in ok("why", signal, "--db", db)
    assert f"why {bar}: no ancestors" in ok("why", bar, "--db", db)
    assert f"effects of {update}: no descendants" in ok("effects", update, "--db", db)
    fill = truth.of_type("FILL")[0]
    assert f"effects of {fill}: it and its 1 descendant\n" in ok("effects", fill, "--db", db)
    ancestors = len(truth.ancestors(fill)) - 1
    assert f"it and its {ancestors} ancestors, newest first" in ok("why", fill, "--db", db)


def test_chains_of_a_run_and_of_the_latest(traced_file: TracedFile) -> None:
    out = ok("chains", traced_file.a.run_id, "--db", str(traced_file.path), "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["fill_id"] for r in rows] == traced_file.a.of_type("FILL")
    latest = ok("chains", "--latest", "--db", str(traced_file.path), "-f", "json")
    assert [r["fill_id"] for r in json.loads(latest)] == traced_file.b.of_type("FILL")
    # The table's unit follows its values (µs for this quick flow, unless the machine stalls).
    assert re.search(r"signal_to_fill_(µs|ms)", ok("chains", "--db", str(traced_file.path)))


def test_chains_name_the_length_column_alike_in_every_format(traced_file: TracedFile) -> None:
    """The table, CSV and JSON all say ``chain_length``, as the query helper does."""
    db = str(traced_file.path)
    header = ok("chains", "--latest", "--db", db).splitlines()[0].split()
    assert "chain_length" in header and "length" not in header
    csv_rows = list(csv.DictReader(io.StringIO(ok("chains", "--latest", "--db", db, "-f", "csv"))))
    json_rows = json.loads(ok("chains", "--latest", "--db", db, "-f", "json"))
    assert csv_rows[0]["chain_length"] == str(json_rows[0]["chain_length"])


def test_latency_by_type_handler_and_source(traced_file: TracedFile) -> None:
    db = str(traced_file.path)
    by_type = json.loads(ok("latency", "--db", db, "-f", "json"))
    assert {r["event_type"] for r in by_type} >= {"BAR", "SIGNAL", "ORDER", "FILL"}
    by_handler = json.loads(
        ok("latency", traced_file.a.run_id, "--by", "handler", "--db", db, "-f", "json")
    )
    assert any(r["handler"].endswith("TradingFlow.decide") for r in by_handler)
    per_run = json.loads(
        ok(
            "latency",
            "--latest",
            traced_file.a.run_id[:-2],
            "--per-run",
            "--by",
            "source",
            "--db",
            db,
            "-f",
            "json",
        )
    )
    assert {r["run_id"] for r in per_run} == {traced_file.a.run_id, traced_file.b.run_id}
    table = ok("latency", "--db", db)
    assert re.search(r"queueing \((µs|ms)\)", table) and "p99" in table
    assert re.search(r"handling \((µs|ms)\)", table)


@pytest.mark.parametrize(
    ("alias", "column"),
    [("event_type", "event_type"), ("Handler", "handler"), ("source", "source")],
)
def test_latency_by_accepts_the_column_it_names(
    traced_file: TracedFile, monkeypatch: pytest.MonkeyPatch, alias: str, column: str
) -> None:
    """The output names the grouping `event_type`, so `--by event_type` must group by it
    as `--by type` does, and the same for every grouping."""
    monkeypatch.setenv("COLUMNS", "80")
    db = str(traced_file.path)
    by_alias = ok("latency", "--by", alias, "--db", db)
    assert by_alias.splitlines()[1].split()[0] == column
    assert max(len(line) for line in by_alias.splitlines()) <= 80
    short = {"event_type": "type"}.get(column, column)
    assert by_alias == ok("latency", "--by", short, "--db", db)
    rows = json.loads(ok("latency", "--by", alias, "--db", db, "-f", "json"))
    assert rows == json.loads(ok("latency", "--by", short, "--db", db, "-f", "json"))
    assert column in rows[0]


def test_latency_per_run_by_handler_shows_every_statistic_in_80_columns(
    traced_file: TracedFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each run's id heads its rows instead of filling a column of every row: beside a
    handler's name it left no room for a single statistic."""
    monkeypatch.setenv("COLUMNS", "80")
    a, b = traced_file.a.run_id, traced_file.b.run_id
    lines = ok("latency", a, b, "--per-run", "--by", "handler", "--db", str(traced_file.path))
    rows = lines.splitlines()
    assert max(len(line) for line in rows) <= 80
    assert "not shown at this width" not in lines
    headers = [line.split() for line in rows if line.startswith("handler")]
    assert headers == [["handler", "deliveries", "p50", "p90", "p99", "max"]] * 2
    assert [line for line in rows if line.startswith("run-")] == sorted([a, b]) * 2
    per_run = queries.latency_percentiles(traced_file.path, [a, b], by="handler", per_run=True)
    handlers = set(per_run["handler"].to_pylist())
    shown = [line.split() for line in rows if line.split()[:1] and line.split()[0] in handlers]
    assert len(shown) == 2 * per_run.num_rows  # queueing and handling
    assert all(len(cells) == 6 for cells in shown)  # a handler and its five numbers


def test_compare_shows_the_first_divergence(traced_file: TracedFile) -> None:
    db = str(traced_file.path)
    out = ok("compare", traced_file.a.run_id, traced_file.b.run_id, "--db", db)
    bar = traced_file.a.of_type("BAR")[5]
    assert f"diverge at seq {traced_file.a.seq(bar)}" in out
    same = ok("compare", "latest", "latest", "--db", db)
    assert "identical" in same
    body = json.loads(ok("compare", traced_file.a.run_id, "latest", "--db", db, "-f", "json"))
    assert body["first divergence"][0]["a_event_id"] == bar
    assert {r["only_in"] for r in body["orders and fills in one run only"]} == {"a", "b"}


def test_compare_first_shows_how_the_runs_configurations_differ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two backtests of one config file with one strategy parameter changed: the key that
    explains every other difference comes first, named as a sweep's grid names it."""
    monkeypatch.setenv("COLUMNS", "80")
    changed = tmp_path / "faster.yaml"
    changed.write_text(MULTI_STRATEGY.read_text().replace("fast: 5", "fast: 7"))
    db = str(tmp_path / "runs.duckdb")
    for config in (MULTI_STRATEGY, changed):
        ok("run", "--config", str(config), "--bars", "60", "--db", db, "-q")
    a, b = queries.list_runs(db)["run_id"].to_pylist()[::-1]  # newest first
    lines = ok("compare", a, b, "--db", db, "-q").splitlines()
    assert lines[:2] == [f"run a: {a}", f"run b: {b}"] and "diverge" in lines[2]
    assert lines[3:8] == [
        "",
        "configuration: 1 key differs",
        "key                                       run_a  run_b",
        "────────────────────────────────────────  ─────  ─────",
        "strategies.moving_average_crossover.fast  5      7",
    ]
    assert lines[8:10] == ["", "events by type"]
    assert max(len(line) for line in lines) <= 80
    body = json.loads(ok("compare", a, b, "--db", db, "-q", "-f", "json"))
    assert next(iter(body)) == "configuration differences"
    assert body["configuration differences"] == [
        {"key": "strategies.moving_average_crossover.fast", "run_a": "5", "run_b": "7"}
    ]
    same = ok("compare", a, a, "--db", db, "-q").splitlines()
    assert same[2] == "same configuration" and same[3].startswith("identical")
    assert (
        json.loads(ok("compare", a, a, "--db", db, "-f", "json"))["configuration differences"] == []
    )


@pytest.mark.parametrize("width", [60, 80, 120])
def test_compare_keeps_the_end_of_each_configuration_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    """Runs of two strategy sets differ in keys as long as
    strategies.moving_average_crossover.symbols: a narrow table shortens them from the left,
    as it does handler names, so the setting and its strategy still tell the rows apart
    (cut from the right, five rows read `strategies.moving_average_…`)."""
    monkeypatch.setenv("COLUMNS", str(width))
    trend = MULTI_STRATEGY.parent / "trend_following.yaml"
    db = str(tmp_path / "runs.duckdb")
    for config in (MULTI_STRATEGY, trend):
        ok("run", "--config", str(config), "--bars", "60", "--db", db, "-q")
    a, b = queries.list_runs(db)["run_id"].to_pylist()[::-1]
    body = json.loads(ok("compare", a, b, "--db", db, "-q", "-f", "json"))
    keys = [row["key"] for row in body["configuration differences"]]
    assert "strategies.moving_average_crossover.symbols" in keys
    lines = ok("compare", a, b, "--db", db, "-q", "--limit", "0").splitlines()
    assert max(len(line) for line in lines) <= width
    start = lines.index(f"configuration: {len(keys)} keys differ") + 3
    shown = [line.split("  ")[0] for line in lines[start : start + len(keys)]]
    assert all(key.endswith(cell.removeprefix("…")) for key, cell in zip(keys, shown, strict=True))
    assert len(set(shown)) == len(keys)


def test_compare_of_runs_without_a_configuration_says_so(traced_file: TracedFile) -> None:
    db = str(traced_file.path)
    lines = ok("compare", traced_file.a.run_id, traced_file.b.run_id, "--db", db).splitlines()
    assert lines[2] == "neither run recorded a configuration"


def test_compare_holds_only_the_trades_it_shows_and_counts_the_rest(
    traced_file: TracedFile,
) -> None:
    db = str(traced_file.path)
    body = json.loads(ok("compare", traced_file.a.run_id, "latest", "--db", db, "-f", "json"))
    unmatched = len(body["orders and fills in one run only"])
    out = ok("compare", traced_file.a.run_id, "latest", "--db", db, "--limit", "1")
    left = unmatched - 1
    assert unmatched > 1
    assert f"… {left} more row{'s' if left > 1 else ''} not shown ({unmatched} in all)" in out


def test_analyze_the_latest_run(traced_file: TracedFile) -> None:
    db = str(traced_file.path)
    out = ok("analyze", "--latest", "--db", db)
    assert traced_file.b.run_id in out
    for title in ("events by type", "latency by event type", "signal to fill chains"):
        assert title in out
    body = json.loads(ok("analyze", traced_file.a.run_id, "--db", db, "-f", "json"))
    assert body["summary"][0]["fills"] == len(traced_file.a.of_type("FILL"))
    assert body["signal to fill chains"][0]["chains"] == len(traced_file.a.of_type("FILL"))
    assert "# summary" in ok("analyze", "--db", db, "-f", "csv")


@pytest.mark.parametrize("width", [60, 80])
def test_analyze_of_a_failed_run_shows_its_whole_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    """The error is what a reader of a failed run came for: a long one goes on in the rows
    under it, broken at spaces, instead of ending in `…` at the terminal's edge."""
    monkeypatch.setenv("COLUMNS", str(width))
    db = tmp_path / "failed.duckdb"
    reason = "the quote feed sent a price of -1 for SPY at 2024-01-02 09:31; " * 2
    bus = TracedEventBus("bus")

    def fail(event: Event) -> None:
        raise ValueError(reason.strip())

    bus.subscribe("BAR", fail)
    with (
        open_store(db) as store,
        pytest.raises(ValueError),
        EventTracer(store=store, name="feed check") as tracer,
    ):
        bus.set_tracer(tracer)
        bus.publish(Event("BAR", datetime(2024, 1, 2), {"close": -1.0}))
    (stored,) = queries.list_runs(db)["error"].to_pylist()
    lines = ok("analyze", "--db", str(db), "-q").splitlines()
    assert max(len(line) for line in lines) <= width
    start = next(i for i, line in enumerate(lines) if line.startswith("error "))
    end = lines.index("", start)
    shown = " ".join(line.removeprefix("error").strip() for line in lines[start:end])
    assert shown == stored and any(re.fullmatch(r"status +failed", line) for line in lines)


def test_sql_runs_a_read_only_query(traced_file: TracedFile) -> None:
    out = ok("sql", "SELECT count(*) AS n FROM events", "--db", str(traced_file.path), "-f", "csv")
    assert out.splitlines() == ["n", str(len(traced_file.a.ids) + len(traced_file.b.ids))]


def test_sql_with_two_columns_of_one_name_numbers_the_second(traced_file: TracedFile) -> None:
    """``SELECT count(a), count(b)`` names both ``count`` on PostgreSQL; any SQL may repeat a
    name. A table and a JSON object can't hold it twice: the second is ``count_2``."""
    query = "SELECT 1 AS n, 2 AS n, count(*) AS events FROM runs"
    db = ["--db", str(traced_file.path)]
    table = ok("sql", query, *db).splitlines()
    assert table[0].split() == ["n", "n_2", "events"] and table[2].split() == ["1", "2", "2"]
    assert json.loads(ok("sql", query, *db, "-f", "json")) == [{"n": 1, "n_2": 2, "events": 2}]
    assert ok("sql", query, *db, "-f", "csv").splitlines() == ["n,n_2,events", "1,2,2"]


def test_sql_writes_a_result_of_many_batches_whole(traced_file: TracedFile) -> None:
    """``eventstore sql`` reads its rows a batch at a time: every row still comes out, once,
    in order, in every format."""
    query = "SELECT range AS n, 'row ' || range AS label FROM range(120001)"
    db = ["--db", str(traced_file.path)]
    rows = list(csv.reader(io.StringIO(ok("sql", query, *db, "-f", "csv"))))
    assert rows[0] == ["n", "label"] and len(rows) == 120_002
    assert rows[1] == ["0", "row 0"] and rows[-1] == ["120000", "row 120000"]
    assert [int(row[0]) for row in rows[1:]] == list(range(120_001))
    objects = json.loads(ok("sql", query, *db, "-f", "json"))
    assert [o["n"] for o in objects] == list(range(120_001))
    assert objects[-1] == {"n": 120_000, "label": "row 120000"}
    table = ok("sql", query, *db, "--limit", "3").splitlines()
    assert [line.split()[0] for line in table[2:5]] == ["0", "1", "2"]
    assert "… 119,998 more rows not shown (120,001 in all)" in " ".join(table[5:])


def not_an_eventstore(tmp_path: Path) -> str:
    path = tmp_path / "prices.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE prices (close DOUBLE)")
    con.close()
    return str(path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["why", "nope-1"], "no run in .* has tag 'nope', so event 'nope-1' is unknown"),
        (["why", "garbage"], "'garbage' is not an event id"),
        (["effects", "{tag}-999"], "has no event {tag}-999"),
        (["chains", "run-1999"], "no run 'run-1999'"),
        (["chains", "run-"], "run prefix 'run-' is ambiguous, it matches"),
        (["chains", "latest", "--latest"], "give a run id or --latest, not both"),
        (["analyze", "unknown-run"], "no run 'unknown-run'"),
        (["compare", "latest", "nope"], "no run 'nope'"),
        (["latency", "nope"], "no run 'nope'"),
        (["sql", "DELETE FROM events"], "DELETE statements are not allowed"),
        (["sql", "SELECT 1; DROP TABLE runs"], "holds 2 statements"),
        (["sql", "SELEKT 1"], "malformed SQL"),
    ],
)
def test_bad_input_is_one_line_and_a_nonzero_exit(
    traced_file: TracedFile, args: list[str], message: str
) -> None:
    tag = traced_file.a.ids[0].rpartition("-")[0]
    args = [a.replace("{tag}", tag) for a in args]
    code, out, err = invoke(*args, "--db", str(traced_file.path))
    assert code == 1 and "Traceback" not in out
    assert re.search(message.replace("{tag}", tag), error_message(err)), err


@pytest.mark.parametrize("command", ["runs", "analyze", "latency", "chains"])
def test_a_missing_or_foreign_database(tmp_path: Path, command: str) -> None:
    code, _, err = invoke(command, "--db", str(tmp_path / "missing.duckdb"))
    assert code == 1 and "no run database at" in error_message(err)
    code, _, err = invoke(command, "--db", not_an_eventstore(tmp_path))
    assert code == 1 and "not an eventstore run store" in error_message(err)


def test_unknown_format_is_a_one_line_error(traced_file: TracedFile) -> None:
    code, _, err = invoke("runs", "--db", str(traced_file.path), "--format", "xml")
    assert code == 1 and "xml" in err and "table, csv, json" in error_message(err)


SUBPROCESS_COMMANDS = [
    (["runs"], "{a}"),
    (["why", "{fill}"], "{fill}"),
    (["effects", "{bar}"], "{bar}"),
    (["chains", "{a}"], "{fill}"),
    (["latency", "{a}", "--by", "handler"], "TradingFlow.decide"),
    (["compare", "{a}", "{b}"], "diverge at seq"),
    (["analyze", "--latest"], "{b}"),
    (["sql", "SELECT run_id FROM runs ORDER BY started_at"], "{a}"),
]


def test_each_command_as_a_real_subprocess(traced_file: TracedFile) -> None:
    """Every command once through the installed ``eventstore`` script (run side by side:
    each process pays the interpreter's start and imports)."""
    values = {
        "a": traced_file.a.run_id,
        "b": traced_file.b.run_id,
        "fill": traced_file.a.of_type("FILL")[0],
        "bar": traced_file.a.of_type("BAR")[1],
    }
    env = {**os.environ, "COLUMNS": "200"}
    started = [
        (
            args,
            expect.format(**values),
            subprocess.Popen(
                [
                    str(EVENTSTORE),
                    *(a.format(**values) for a in args),
                    "--db",
                    str(traced_file.path),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            ),
        )
        for args, expect in SUBPROCESS_COMMANDS
    ]
    for args, expect, process in started:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, (args, err)
        assert expect in out, (args, out)


def test_ctrl_c_during_a_query_ends_the_command_with_130(tmp_path: Path) -> None:
    """Ctrl-C while DuckDB runs a command's query: exit code 130 at once, no traceback.
    Raised inside the query, the KeyboardInterrupt came out as `RuntimeError: Query
    interrupted` with a traceback and exit code 1 (and cancelling a recursive CTE could hang
    the command for good). The query reads a FIFO first: once it has opened it, DuckDB is
    running the query, which then goes on for far longer than the test waits."""
    db, fifo = tmp_path / "runs.duckdb", tmp_path / "start"
    open_store(db).close()
    os.mkfifo(fifo)
    started = f"(SELECT length(content) FROM read_text('{fifo}')) > 0"
    endless = f"SELECT sum(hash(range)) FROM range(10000000000000) WHERE {started}"
    process = subprocess.Popen(
        [str(EVENTSTORE), "sql", endless, "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as at a terminal
    )
    try:
        with open(fifo, "w") as start:  # opens once the query has opened the other end
            start.write("go")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert (process.returncode, out, err) == (130, "", "interrupted\n")


def test_bad_input_in_a_real_subprocess_has_no_traceback(traced_file: TracedFile) -> None:
    done = subprocess.run(
        [str(EVENTSTORE), "why", "nope-1", "--db", str(traced_file.path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stdout == "" and error_message(done.stderr).startswith("error: no run in ")


@pytest.mark.parametrize("fmt", ["csv", "table"])
def test_a_reader_that_stops_early_ends_the_command_quietly(
    traced_file: TracedFile, fmt: str
) -> None:
    """``eventstore sql … | head -1``: the closed pipe ends the command with exit code 0 and
    nothing on stderr, as in any Unix pipeline (it was exit code 1, or a traceback)."""
    many = "SELECT range AS n FROM range(300000)"  # far more than a pipe buffer holds
    args = [str(EVENTSTORE), "sql", many, "--db", str(traced_file.path), "-f", fmt]
    with subprocess.Popen(
        [*args, "--limit", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.read(16)
        process.stdout.close()
        err = process.stderr.read().decode()
        process.wait(timeout=120)
    assert (process.returncode, err) == (0, "")


def test_json_holds_a_payload_as_deep_as_the_store_keeps(tmp_path: Path) -> None:
    """The encoder keeps 254 levels; inside the array of rows that used to exceed orjson's
    depth limit, and `why --format json` died with a traceback."""
    deep: dict[str, object] = {"leaf": 1}
    for _ in range(2000):
        deep = {"d": deep}
    db = tmp_path / "deep.duckdb"
    with open_store(db) as store, EventTracer(store=store) as tracer:
        bus = TracedEventBus("bus")
        bus.set_tracer(tracer)
        bus.publish(Event("DEEP", datetime(2024, 1, 2), {"deep": deep, "price": 1.5}))
    event_id = f"{tracer.tag}-1"
    (row,) = json.loads(ok("why", event_id, "--db", str(db), "-f", "json"))
    assert row["event_id"] == event_id and row["payload"]["price"] == 1.5
    levels, node = 0, row["payload"]["deep"]
    while isinstance(node, dict) and "d" in node:
        levels, node = levels + 1, node["d"]
    assert levels > 200
    (stored,) = json.loads(ok("sql", "SELECT payload FROM events", "--db", str(db), "-f", "json"))
    assert stored["payload"]["price"] == 1.5


@pytest.mark.parametrize(
    "command", [["latency"], ["latency", "--by", "handler", "--per-run"], ["analyze"]]
)
def test_a_store_without_runs_is_one_line_and_exit_1(tmp_path: Path, command: list[str]) -> None:
    db = tmp_path / "empty.duckdb"
    open_store(db).close()
    code, out, err = invoke(*command, "--db", str(db))
    assert (code, out) == (1, "")
    assert error_message(err) == (
        f"error: {db} holds no runs yet: trace a run into it first (eventstore run --db {db})"
    )
