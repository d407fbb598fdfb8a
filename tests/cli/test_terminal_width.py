"""Table output at 80 columns: no line longer than the terminal, every id whole, and tables
that stop at a row limit with a note saying how to see the rest."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eventstore import (
    Event,
    EventTracer,
    EventType,
    TracedEventBus,
    UniversalContainer,
    open_store,
)
from eventstore.cli import app
from tests.cli.conftest import TracedFile
from tests.queries.backtest_store import traced_backtests

runner = CliRunner()


def run(*args: str, columns: int = 80) -> str:
    result = runner.invoke(app, list(args), env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.stderr or result.stdout
    return result.stdout


def commands(traced: TracedFile) -> dict[str, list[str]]:
    fill = traced.a.of_type("FILL")[0]
    bar = traced.a.of_type("BAR")[0]
    db = ["--db", str(traced.path)]
    return {
        "runs": ["runs", *db],
        "latency": ["latency", *db],
        "latency by handler": ["latency", "--by", "handler", *db],
        "analyze": ["analyze", traced.a.run_id, *db],
        "compare": ["compare", traced.a.run_id, traced.b.run_id, *db],
        "why": ["why", fill, *db],
        "effects": ["effects", bar, *db],
        "chains": ["chains", traced.a.run_id, *db],
    }


NAMES = [
    "runs",
    "latency",
    "latency by handler",
    "analyze",
    "compare",
    "why",
    "effects",
    "chains",
]


@pytest.mark.parametrize("name", NAMES)
def test_no_line_is_longer_than_80_columns(traced_file: TracedFile, name: str) -> None:
    out = run(*commands(traced_file)[name])
    too_long = [line for line in out.splitlines() if len(line) > 80]
    assert not too_long, "\n".join(too_long)


def ids_of(traced: TracedFile, name: str) -> set[str]:
    """Every run and event id the command's JSON output holds."""
    body = json.loads(run(*commands(traced)[name], "--format", "json"))
    rows = body if isinstance(body, list) else [r for part in body.values() for r in part]
    return {
        value
        for row in rows
        for key, value in row.items()
        if (key.endswith("_id") and key != "causation_id") and isinstance(value, str)
    }


@pytest.mark.parametrize("name", ["runs", "why", "effects", "chains"])
def test_ids_are_never_split(traced_file: TracedFile, name: str) -> None:
    out = run(*commands(traced_file)[name])
    ids = ids_of(traced_file, name)
    assert ids
    missing = sorted(i for i in ids if i not in out)
    assert not missing, out


def test_compare_names_both_runs_and_the_fields_that_differ(traced_file: TracedFile) -> None:
    out = run(*commands(traced_file)["compare"])
    assert traced_file.a.run_id in out and traced_file.b.run_id in out
    bar_a = traced_file.a.of_type("BAR")[5]
    bar_b = traced_file.b.of_type("BAR")[5]
    assert f"{bar_a} (run a) vs {bar_b} (run b)" in out
    # The one field that differs, with both values, however long the payloads are.
    [line] = [line for line in out.splitlines() if line.startswith("payload.close")]
    assert line.split() == ["payload.close", "102.5", "101.0"]


def test_compare_counts_are_integers_in_every_format(traced_file: TracedFile) -> None:
    args = commands(traced_file)["compare"]
    body = json.loads(run(*args, "--format", "json"))
    deliveries = [r for r in body["latency by event type (ms)"] if r["metric"] == "deliveries"]
    assert deliveries and all(isinstance(r["run_a"], int) for r in deliveries)
    out = run(*args)
    assert "e+" not in out


def test_json_payloads_are_objects(traced_file: TracedFile) -> None:
    rows = json.loads(run(*commands(traced_file)["why"], "--format", "json"))
    assert all(isinstance(r["payload"], dict) for r in rows)
    body = json.loads(run(*commands(traced_file)["compare"], "--format", "json"))
    (divergence,) = body["first divergence"]
    assert divergence["a_payload"]["close"] == 102.5


def test_a_wide_terminal_shows_more_columns(traced_file: TracedFile) -> None:
    narrow = run(*commands(traced_file)["why"])
    wide = run(*commands(traced_file)["why"], columns=200)
    assert "source" in wide.splitlines()[1]  # a column of its own
    assert "source:" in narrow  # under each row


def test_tables_stop_at_the_limit_and_say_how_to_see_the_rest(traced_file: TracedFile) -> None:
    db = str(traced_file.path)
    out = run("sql", "SELECT range AS n FROM range(120)", "--db", db)
    assert "\n49\n" in out and "\n50\n" not in out
    assert "70 more rows not shown (120 in all)" in out
    assert "--limit 0" in out and "--format csv" in out
    everything = run("sql", "SELECT range AS n FROM range(120)", "--db", db, "--limit", "0")
    assert "\n119\n" in everything and "not shown" not in everything
    chains = run("chains", traced_file.a.run_id, "--db", db, "--limit", "2")
    fills = traced_file.a.of_type("FILL")
    assert fills[1] in chains and fills[2] not in chains and "more rows not shown" in chains
    complete = run("chains", traced_file.a.run_id, "--db", db, "--limit", "2", "-f", "csv")
    assert [r["fill_id"] for r in csv.DictReader(io.StringIO(complete))] == fills


LINEAGE_ORDER = ["depth", "event_id", "event_type", "kind", "via_id", "sim_time", "source"]
"""The columns of a why/effects row, in the order a narrowing terminal may take them out."""


@pytest.mark.parametrize("command", ["why", "effects"])
def test_event_type_and_kind_leave_a_narrow_row_last(traced_file: TracedFile, command: str) -> None:
    """At every width, the row keeps a prefix of LINEAGE_ORDER: sim_time, source and via_id
    go under the row before kind and event_type (which tell priced_by from caused_by); what
    leaves the row goes under it whole, never out of the table."""
    event = traced_file.a.of_type("FILL" if command == "why" else "BAR")[3]
    args = [command, event, "--db", str(traced_file.path)]
    rows = json.loads(run(*args, "--format", "json"))
    ids = {row[key] for row in rows for key in ("event_id", "via_id") if row[key]}
    assert len(rows) >= 4 and {row["kind"] for row in rows[1:]} >= {"caused_by"}
    for width in range(30, 121, 3):
        out = run(*args, columns=width)
        header = next(line.split() for line in out.splitlines() if line.startswith("depth"))
        assert header == LINEAGE_ORDER[: len(header)], (width, out)
        assert "not shown at this width" not in out, (width, out)
        assert all(len(line) <= width for line in out.splitlines()), (width, out)
        assert all(i in out for i in ids), (width, out)
        if "kind" not in header:
            assert re.search(r"^ {4}kind: (priced_by|caused_by)", out, re.MULTILINE), out


def test_a_comparison_keeps_event_types_longer_than_times(traced_file: TracedFile) -> None:
    """Its trades in one run only are a table of events too: event_type outlasts sim_time."""
    order = ["only_in", "event_id", "event_type", "sim_time", "source"]
    for width in range(40, 71, 3):
        out = run(*commands(traced_file)["compare"], columns=width)
        section = out.split("orders and fills in one run only\n", 1)[1].split("\n\n")[0]
        header = section.splitlines()[0].split()
        assert header == order[: len(header)] and len(header) >= 3, (width, section)
        assert "sim_time" in header or "sim_time:" in section, (width, section)
        assert "not shown at this width" not in section, (width, section)


def test_a_long_source_leaves_room_for_the_payload(tmp_path: Path) -> None:
    """A source nearly as wide as the line (the demo's strategies) must not squeeze the
    payload under its row down to nothing: each detail shows its name and value."""
    path = tmp_path / "runs.duckdb"
    bus = TracedEventBus("main")
    strategy = UniversalContainer("Strategy:moving_average_crossover")
    risk = UniversalContainer("RiskManager")
    bus.subscribe(
        EventType.SIGNAL,
        lambda s: bus.publish(Event(EventType.ORDER, s.timestamp, {"qty": 100}), source=risk),
    )
    signal = Event(EventType.SIGNAL, datetime(2024, 1, 2, 9, 55), {"symbol": "IWM", "n": 1})
    with open_store(path) as store, EventTracer(store=store) as tracer:
        bus.set_tracer(tracer)
        bus.publish(signal, source=strategy)
    for width in range(30, 121, 3):
        out = run("effects", signal.event_id, "--db", str(path), columns=width)
        header = next(line.split() for line in out.splitlines() if line.startswith("depth"))
        assert "payload" not in header, (width, out)
        assert len(re.findall(r'payload: \{"', out)) == 2, (width, out)
        if "sim_time" not in header:
            assert out.count("sim_time: 2024") == 2, (width, out)
        if "source" not in header:
            assert "source: Strategy:mo" in out and "source: RiskManager" in out, (width, out)


def test_chains_of_a_long_run_show_the_signal_to_fill_time_at_80_columns(tmp_path: Path) -> None:
    """Ids of a run past a thousand events (``tag-1234``) leave an 80-column table room for
    one more column: the chain's wall time, which is what ``chains`` is read for."""
    db = tmp_path / "runs.duckdb"
    (run_id,) = traced_backtests(db, seeds=(42,), bars=400)
    out = run("chains", run_id, "--limit", "0", "--db", str(db))
    header = out.splitlines()[0].split()
    assert header[:4] == ["signal_id", "order_id", "fill_id", header[3]]
    assert re.fullmatch(r"signal_to_fill_(µs|ms)", header[3])
    assert re.search(r"-\d{4} ", out)  # the long ids are in the table
    assert all(len(line) <= 80 for line in out.splitlines())


EXAMPLE_SWEEP = Path(__file__).resolve().parents[2] / "config" / "sweep_example.yaml"


def test_sweep_run_names_read_whole_at_80_columns(tmp_path: Path) -> None:
    """A sweep names each run after the values it takes (``trend_sweep fast=20 seed=2
    symbols=AAPL,MSFT``, 44 characters): too wide for a row beside a run id, a name goes on
    the line under its row, whole, rather than cut to what is left; a wide terminal keeps it
    in the row."""
    db = tmp_path / "runs.duckdb"
    sweep = ["sweep", "-c", str(EXAMPLE_SWEEP), "-w", "2", "-q", "--db", str(db)]
    swept = runner.invoke(app, sweep, env={"COLUMNS": "80"})
    assert swept.exit_code == 0, swept.stderr or swept.stdout
    listed = json.loads(run("runs", "--db", str(db), "--format", "json"))
    runs = {row["run_id"]: (row["name"], f"{row['events']:,}") for row in listed}
    assert len(runs) == 8 and max(len(name) for name, _ in runs.values()) == 44

    lines = run("runs", "--db", str(db)).splitlines()
    assert lines[0].split() == ["run_id", "status", "duration_s", "events"]
    assert all(len(line) <= 80 for line in lines) and "…" not in "\n".join(lines)
    for run_id, (name, events) in runs.items():
        row = next(i for i, line in enumerate(lines) if line.startswith(run_id))
        cells = lines[row].split()
        assert (cells[1], cells[3]) == ("completed", events)
        assert lines[row + 1] == f"    name: {name}"

    wide = run("runs", "--db", str(db), columns=120).splitlines()
    assert wide[0].split() == ["run_id", "name", "status", "duration_s", "events"]
    for run_id, (name, events) in runs.items():
        row = next(line for line in wide if line.startswith(run_id))
        assert row.startswith(f"{run_id}  {name}  ") and row.split()[-1] == events


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    """Two runs of the demo backtest (1,200 bars each) in a DuckDB file: its path, and the
    ids of the first and the second run."""
    db = str(tmp_path_factory.mktemp("demo") / "runs.duckdb")
    config = str(EXAMPLE_SWEEP.parent / "multi_strategy_test.yaml")
    for seed in ("1", "2"):
        args = ["run", "-c", config, "--bars", "300", "--seed", seed, "-q", "--db", db]
        assert runner.invoke(app, args).exit_code == 0
    second, first = (row["run_id"] for row in json.loads(run("runs", "--db", db, "-f", "json")))
    return db, first, second


def test_counts_in_tables_have_thousands_separators_and_plain_in_csv_and_json(
    demo_runs: tuple[str, str, str],
) -> None:
    db, a, b = demo_runs
    latency = json.loads(run("latency", a, "--db", db, "-f", "json"))
    deliveries = next(row["deliveries"] for row in latency if row["event_type"] == "BAR")
    assert deliveries == 6000  # 1,200 bars, each to five handlers
    events = {row["run_id"]: row["events"] for row in json.loads(run("runs", "--db", db, "-f",
                                                                      "json"))}  # fmt: skip
    tables = {
        "analyze": (run("analyze", a, "--db", db), [r"^BAR +1,200 +1$", r"^BAR +6,000 "]),
        "latency": (run("latency", a, "--db", db), [r"^BAR +6,000 "]),
        "compare": (  # its counts and latencies (the trades after them show payloads)
            run("compare", a, b, "--db", db).split("orders and fills in one run only")[0],
            [r"^BAR +1,200 +1,200 +0$", r"^BAR +deliveries +6,000 +6,000 +1\.000$"],
        ),
        "runs": (run("runs", "--db", db), [rf"^{a} .* {events[a]:,}$", rf"^{b} .* {events[b]:,}$"]),
    }
    for name, (out, patterns) in tables.items():
        for pattern in patterns:
            assert re.search(pattern, out, re.MULTILINE), (name, pattern, out)
        # No number of four digits or more without its separator (ids, dates, times aside).
        for run_id in (a, b):
            out = out.replace(run_id, "").replace(run_id.rpartition("-")[2], "")
        assert not re.search(r"(?<![\d.,:-])\d{4,}(?![\d.,:-])", out), (name, out)

    analysis_csv = run("analyze", a, "--db", db, "-f", "csv")
    assert "\nBAR,1200,1\n" in analysis_csv and "1,200" not in analysis_csv
    body = json.loads(run("compare", a, b, "--db", db, "-f", "json"))
    assert {"event_type": "BAR", "run_a": 1200, "run_b": 1200, "difference": 0} in body[
        "events by type"
    ]
    # Ad-hoc SQL prints values as stored: a year or a seed is no count.
    sql = run("sql", "SELECT count(*) AS n, 2024 AS year FROM events WHERE event_type = 'BAR'",
              "--db", db)  # fmt: skip
    assert sql.splitlines()[2].split() == ["2400", "2024"]


@pytest.mark.parametrize("where", ["", " WHERE event_type = 'FILL'"], ids=["all", "fills"])
def test_sql_keeps_the_event_type_and_puts_causation_ids_under_their_rows(
    traced_file: TracedFile, where: str
) -> None:
    query = f"SELECT * FROM events{where} ORDER BY run_id, seq"
    db = ["--db", str(traced_file.path)]
    out = run("sql", query, *db, "--limit", "20")
    assert not [line for line in out.splitlines() if len(line) > 80], out
    lines = out.splitlines()
    assert lines[0].split() == ["run_id", "seq", "event_id", "event_type"]
    rows = list(csv.DictReader(io.StringIO(run("sql", query, *db, "-f", "csv"))))[:20]
    causes = [row["causation_id"] for row in rows]
    assert any(causes) and (where or not all(causes))  # every fill has one, no bar has
    for row in rows:
        [at] = [
            i
            for i, line in enumerate(lines)
            if line.split()[:3] == [row["run_id"], row["seq"], row["event_id"]]
        ]
        assert lines[at].split()[3] == row["event_type"]
        under = []
        for line in lines[at + 1 :]:
            if not line.startswith("    "):
                break
            under.append(line)
        cause = [part for line in under for part in line.split("  ") if "causation_id" in part]
        assert cause == ([f"causation_id: {row['causation_id']}"] if row["causation_id"] else [])


def test_sql_columns_leave_a_narrow_row_by_what_their_cells_hold(traced_file: TracedFile) -> None:
    """Whatever the names: a mostly empty id goes under the rows that have one, long text
    goes under every row, and the rest stay in the query's order as far as they fit."""
    query = (
        "SELECT range AS n, CASE WHEN range % 4 = 0 THEN 'x-' || range END AS other_id, "
        "'kind ' || (range % 3) AS kind, repeat('long text ', 5) || range AS note, "
        "range * 1000 AS big FROM range(8)"
    )
    out = run("sql", query, "--db", str(traced_file.path), columns=24)
    lines = out.splitlines()
    assert lines[0].split() == ["n", "kind", "big"]
    assert lines[2].split() == ["0", "kind", "0", "0"]
    assert lines[3] == "    other_id: x-0" and lines[4].startswith("    note: long text")
    assert lines[5].split() == ["1", "kind", "1", "1000"] and "other_id" not in lines[6]
    assert not [line for line in lines if len(line) > 24], out
