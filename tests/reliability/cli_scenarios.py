"""Scenarios through the demo backtester and the query commands: a real ``eventstore run``
killed or stopped mid-run, and bad input of every kind through the CLI and the Python query
helpers (each: a clear one-line error, exit code ≠ 0, nothing changed on disk)."""

from __future__ import annotations

import os
import random
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
from typer.testing import CliRunner

from eventstore import EventStoreError, QueryError, open_store, queries
from eventstore.cli import app
from tests.reliability.harness import DEADLINE, ROOT, Child, Outcome, check_store, earlier_run
from tests.reliability.integrity import file_digest, inspect_store

CONFIG = ROOT / "config" / "multi_strategy_test.yaml"
EVENTSTORE = [sys.executable, "-c", "from eventstore.cli import app; app()"]


def _wait_for_a_committed_batch(db: Path, child: Child) -> None:
    """Block until at least one batch is committed. A traced run holds the file, so its
    progress shows only from outside: a batch of 10 000 backtest events is ~8 MB of WAL, so a
    WAL past 10 MB holds a whole batch (and a checkpoint, at 16 MB, grows the file instead)."""
    wal = db.with_name(db.name + ".wal")
    initial = db.stat().st_size
    deadline = time.monotonic() + DEADLINE
    while not (
        (wal.exists() and wal.stat().st_size > 10_000_000)
        or db.stat().st_size > initial + 2_000_000
    ):
        if child.proc.poll() is not None:
            raise AssertionError(f"eventstore run ended early: {child.stderr()[-2000:]}")
        if time.monotonic() > deadline:
            raise AssertionError("eventstore run never committed a batch")
        time.sleep(0.02)


def _stopped_run(work: Path, signum: signal.Signals, wanted: str) -> Outcome:
    db = work / "runs.duckdb"
    earlier_run(db)
    before = inspect_store(db)
    argv = [*EVENTSTORE, "run", "--config", str(CONFIG), "--bars", "200000", "--db", str(db)]
    with Child(argv, work) as child:
        _wait_for_a_committed_batch(db, child)
        child.signal(signum)
        code = child.finish()
        stderr = child.stderr()
    # The run's own count is unknown outside it: at least the batch waited for, all of it whole.
    outcome = Outcome(f"eventstore run, {signum.name} mid-run", 1, "?", at_least=True)
    outcome.check(code != 0, f"exit code {code} after {signum.name}")
    listing = CliRunner().invoke(app, ["runs", "--db", str(db), "--format", "csv"])
    outcome.check(listing.exit_code == 0, f"eventstore runs failed: {listing.output}")
    states = check_store(outcome, db, before)
    new = [s for run_id, s in states.items() if run_id not in before]
    if len(new) != 1:
        outcome.problems.append(f"expected one new run, found {len(new)}: {stderr[-500:]}")
        return outcome
    run = new[0]
    outcome.found = run.stored
    outcome.check(run.status == wanted, f"status {run.status}, not {wanted}")
    outcome.check(run.stored > 0, "no batch was stored")
    shown = [line for line in listing.stdout.splitlines() if line.startswith(run.run_id)]
    outcome.check(len(shown) == 1 and f",{wanted}," in shown[0], f"eventstore runs: {shown}")
    if wanted == "interrupted":  # it says so, and how to look at what it stored
        tag = run.run_id.rsplit("-", 1)[-1]
        said = f"ended interrupted\n  {run.stored:,} events stored: eventstore analyze {tag}"
        outcome.check(said in stderr, f"no stop message on stderr: {stderr[-500:]}")
        outcome.check(code == 130, f"exit code {code} after {signum.name}, not 130")
    return outcome


def cli_run_sigkill(work: Path, rng: random.Random) -> Outcome:
    """``eventstore run`` killed -9 after its first committed batch: the next open (here
    ``eventstore runs``) shows it ``crashed`` with whole batches; the earlier run unchanged."""
    return _stopped_run(work, signal.SIGKILL, "crashed")


def cli_run_sigterm(work: Path, rng: random.Random) -> Outcome:
    """``eventstore run`` stopped with SIGTERM (a scheduler ending a sweep): ``interrupted``
    with everything it recorded flushed."""
    return _stopped_run(work, signal.SIGTERM, "interrupted")


def cli_run_sigint(work: Path, rng: random.Random) -> Outcome:
    """``eventstore run`` stopped with Ctrl-C: ``interrupted``, everything recorded flushed."""
    return _stopped_run(work, signal.SIGINT, "interrupted")


@dataclass(frozen=True)
class BadInput:
    name: str
    args: list[str]
    message: str
    """A fragment the one-line error must contain."""
    usage: bool = False
    """A command-line usage error: Click's own usage message (exit code 2) is the answer."""


def _write_bad_files(work: Path, db: Path) -> None:
    """Bad configs, CSV files and databases, next to a good database ``db``."""

    def write(name: str, text: str | bytes) -> None:
        (work / name).write_bytes(text if isinstance(text, bytes) else text.encode())

    write("malformed.yaml", "name: x\ndata: [unclosed\n")
    write("types.yaml", CONFIG.read_text().replace("seed: 42", "seed: forty-two"))
    write("unknown_key.yaml", CONFIG.read_text().replace("seed: 42", "sed: 42"))
    write("list.yaml", "- just\n- a list\n")
    write("garbage.csv", "date,open,high,low,close,volume\n2024-01-02,abc,1,1,1,10\n")
    write("latin1.csv", b"date,open,high,low,close,volume,note\n2024-01-02,1,1,1,1,10,caf\xe9\n")
    for name in ("garbage", "latin1"):
        write(
            f"csv_{name}.yaml",
            f"name: csv\ndata:\n  source: csv\n  files: {{SPY: {name}.csv}}\n"
            "strategies: [{type: breakout, window: 2}]\n",
        )
    write("notes.duckdb", "these are my notes, not a database\n")
    newer = work / "newer.duckdb"
    shutil.copy(db, newer)
    with duckdb.connect(str(newer)) as con:
        con.execute("UPDATE alembic_version SET version_num = '9999'")


def bad_input_cases(
    work: Path = Path("WORK"),
    db: Path = Path("WORK/runs.duckdb"),
    run_id: str = "r",
    tag: str = "t",
) -> list[BadInput]:
    """Every bad command, with its files in ``work`` (the defaults only name the cases)."""
    f = {name: work / name for name in _BAD_FILES}
    d = str(db)
    run = ["run", "--quiet", "--bars", "20", "--db", d, "--config"]
    return [
        BadInput("malformed YAML", [*run, str(f["malformed.yaml"])], "not valid YAML"),
        BadInput("wrong config type", [*run, str(f["types.yaml"])], "seed"),
        BadInput("unknown config key", [*run, str(f["unknown_key.yaml"])], "unknown key 'sed'"),
        BadInput("config not a mapping", [*run, str(f["list.yaml"])], "must be a mapping"),
        BadInput("config is a directory", [*run, str(work)], "is a directory"),
        BadInput("missing config", [*run, str(work / "nope.yaml")], "no config file"),
        BadInput("CSV with garbage", [*run, str(f["csv_garbage.yaml"])], "is not a number"),
        BadInput("CSV not UTF-8", [*run, str(f["csv_latin1.yaml"])], "latin1.csv"),
        BadInput("--db is a directory", ["runs", "--db", str(work)], "is a directory"),
        BadInput(
            "run into a directory",
            ["run", "-q", "--bars", "20", "--config", str(CONFIG), "--db", str(work)],
            "is a directory",
        ),
        BadInput("--db not DuckDB", ["runs", "--db", str(f["notes.duckdb"])], "not a DuckDB"),
        BadInput(
            "run into a non-DuckDB file",
            ["run", "-q", "--bars", "20", "--config", str(CONFIG), "--db", str(f["notes.duckdb"])],
            "not a DuckDB",
        ),
        BadInput("newer schema", ["runs", "--db", str(f["newer.duckdb"])], "newer than this"),
        BadInput(
            "run into a newer schema",
            ["run", "-q", "--bars", "20", "--config", str(CONFIG), "--db", str(f["newer.duckdb"])],
            "newer than this",
        ),
        BadInput("missing --db", ["runs", "--db", str(work / "missing.duckdb")], "no run database"),
        BadInput("unknown run id", ["analyze", "nope", "--db", d], "no run 'nope'"),
        BadInput("unknown event id", ["why", f"{tag}-999999", "--db", d], "has no event"),
        BadInput("unknown run tag", ["effects", "zzzz-1", "--db", d], "no run in"),
        BadInput("compare unknown", ["compare", run_id, "nope", "--db", d], "no run 'nope'"),
        BadInput("injection: why", ["why", "x' OR '1'='1", "--db", d], "not an event id"),
        BadInput(
            "injection: why with a number",
            ["why", "x' OR 1=1; DROP TABLE runs; --1", "--db", d],
            "no run in",
        ),
        BadInput(
            "injection: effects", ["effects", "'; DELETE FROM events; --x-1", "--db", d], "no run"
        ),
        BadInput("injection: chains", ["chains", "'; DROP TABLE runs; --", "--db", d], "no run"),
        BadInput("injection: analyze", ["analyze", "' OR 1=1 --", "--db", d], "no run"),
        BadInput("injection: latency", ["latency", "x') OR ('1'='1", "--db", d], "no run"),
        BadInput(
            "injection: compare",
            ["compare", "latest", "a' UNION SELECT * FROM runs --", "--db", d],
            "no run",
        ),
        BadInput(
            "injection: --format",
            ["runs", "--db", d, "--format", "csv;rm"],
            "unknown format 'csv;rm'",
        ),
        BadInput("sql DELETE", ["sql", "DELETE FROM events", "--db", d], "not allowed"),
        BadInput("sql DROP", ["sql", "DROP TABLE runs", "--db", d], "not allowed"),
        BadInput("sql UPDATE", ["sql", "UPDATE runs SET status = 'x'", "--db", d], "not allowed"),
        BadInput(
            "sql INSERT", ["sql", "INSERT INTO runs SELECT * FROM runs", "--db", d], "not allowed"
        ),
        BadInput("sql CREATE", ["sql", "CREATE TABLE t AS SELECT 1", "--db", d], "not allowed"),
        BadInput(
            "sql two statements", ["sql", "SELECT 1; DELETE FROM events", "--db", d], "2 statements"
        ),
        BadInput(
            "sql COPY TO",
            ["sql", f"COPY events TO '{work / 'leak.csv'}'", "--db", d],
            "not allowed",
        ),
        BadInput(
            "sql ATTACH",
            ["sql", f"ATTACH '{work / 'other.duckdb'}' AS o", "--db", d],
            "not allowed",
        ),
        BadInput(
            "sql EXPORT", ["sql", f"EXPORT DATABASE '{work / 'dump'}'", "--db", d], "not allowed"
        ),
        BadInput("sql CHECKPOINT", ["sql", "CHECKPOINT", "--db", d], "not allowed"),
        BadInput("sql SET", ["sql", "SET threads = 1", "--db", d], "not allowed"),
        BadInput("sql INSTALL", ["sql", "INSTALL httpfs", "--db", d], "not allowed"),
        BadInput("sql PRAGMA", ["sql", "PRAGMA enable_profiling", "--db", d], "not allowed"),
        BadInput(
            "sql EXPLAIN ANALYZE write",
            ["sql", "EXPLAIN ANALYZE DELETE FROM events", "--db", d],
            "not allowed",
        ),
        BadInput(
            "sql write in a CTE",
            ["sql", "WITH x AS (DELETE FROM events RETURNING *) SELECT * FROM x", "--db", d],
            "",
        ),
    ]


def _digests(work: Path) -> dict[str, str]:
    return {
        p.name: file_digest(p) if p.is_file() else "dir:" + ",".join(sorted(os.listdir(p)))
        for p in sorted(work.iterdir())
        if not p.name.endswith((".wal", ".err"))
    }


_BAD_FILES = (
    "malformed.yaml", "types.yaml", "unknown_key.yaml", "list.yaml", "garbage.csv", "latin1.csv",
    "csv_garbage.yaml", "csv_latin1.yaml", "notes.duckdb", "newer.duckdb",
)  # fmt: skip


@dataclass
class BadInputBench:
    """A database with one completed run, bad files beside it, and every bad command."""

    work: Path
    db: Path
    cases: dict[str, BadInput]


def bad_input_bench(work: Path) -> BadInputBench:
    db = work / "runs.duckdb"
    run_id = earlier_run(db)
    _write_bad_files(work, db)
    cases = bad_input_cases(work, db, run_id, run_id.rsplit("-", 1)[-1])
    return BadInputBench(work, db, {case.name: case for case in cases})


def try_bad_input(bench: BadInputBench, case: BadInput) -> list[str]:
    """Run one bad command in-process; what was wrong with how it failed (empty: nothing)."""
    digests = _digests(bench.work)
    result = CliRunner().invoke(app, case.args)
    err = result.stderr.strip()
    problems = []
    if result.exit_code == 0:
        problems.append("exit code 0")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        problems.append(f"raised {type(result.exception).__name__}: {result.exception}")
    if case.usage:
        if result.exit_code != 2 or case.message not in " ".join(err.split()):
            problems.append(f"not a usage error: {err[:300]!r}")
    elif "Traceback" in result.output or not all(
        line.startswith("  ") for line in err.splitlines()[1:]
    ):
        problems.append(f"not one message: {err[:300]!r}")
    elif not err.startswith("error: ") or case.message not in " ".join(err.split()):
        problems.append(f"message {err[:300]!r} lacks {case.message!r}")
    changed = _digests(bench.work)
    if changed != digests:
        diff = sorted(set(changed.items()) ^ set(digests.items()))
        problems.append(f"files changed: {sorted({name for name, _ in diff})}")
    return problems


def cli_bad_input(work: Path, rng: random.Random) -> Outcome:
    """Every bad input through the CLI: exit code ≠ 0, one message ``error: …`` naming the
    problem, no traceback, and no file in the directory changed, created or removed."""
    bench = bad_input_bench(work)
    before = inspect_store(bench.db)
    names = list(bench.cases)
    rng.shuffle(names)
    outcome = Outcome("bad input through the CLI (cases)", len(names), "?")
    clear = 0
    for name in names:
        problems = try_bad_input(bench, bench.cases[name])
        outcome.problems.extend(f"{name}: {p}" for p in problems)
        clear += not problems
    outcome.found = clear
    check_store(outcome, bench.db, before)
    return outcome


HELPER_CALLS: dict[str, Callable[[object], object]] = {
    "resolve_run quote": lambda s: queries.resolve_run(s, "' OR '1'='1"),  # type: ignore[arg-type]
    "run_summary drop": lambda s: queries.run_summary(s, "x'; DROP TABLE runs; --"),  # type: ignore[arg-type]
    "event_counts union": lambda s: queries.event_counts(s, "' UNION SELECT 1 --"),  # type: ignore[arg-type]
    "ancestors or": lambda s: queries.ancestors(s, "a' OR 1=1 --x-1"),  # type: ignore[arg-type]
    "descendants semicolon": lambda s: queries.descendants(s, "x; DELETE FROM events-1"),  # type: ignore[arg-type]
    "why seq injection": lambda s: queries.why(s, "x-1 OR 1=1"),  # type: ignore[arg-type]
    "chains drop": lambda s: queries.signal_to_fill_chains(s, "'; DROP TABLE events; --"),  # type: ignore[arg-type]
    "latency by": lambda s: queries.latency_percentiles(s, by="type; DROP TABLE runs"),  # type: ignore[arg-type]
    "latency runs": lambda s: queries.latency_percentiles(s, ["x') OR ('1'='1"]),  # type: ignore[arg-type]
    "compare union": lambda s: queries.compare_runs(s, "latest", "' UNION ALL SELECT * --"),  # type: ignore[arg-type]
    "sql delete": lambda s: queries.run_sql(s, "DELETE FROM events"),  # type: ignore[arg-type]
    "sql hidden write": lambda s: queries.run_sql(s, "SELECT 1; DROP TABLE runs"),  # type: ignore[arg-type]
    "max_depth string": lambda s: queries.ancestors(s, "x-1", max_depth="1; DROP TABLE runs"),  # type: ignore[arg-type]
}


def helper_injection(work: Path, rng: random.Random) -> Outcome:
    """SQL injection through the Python query helpers' parameters, on a store opened for
    writing (so only the helpers stand between the input and the data): each is one of our
    errors, and the database is byte-for-byte unchanged."""
    db = work / "runs.duckdb"
    earlier_run(db)
    before = inspect_store(db)
    names = list(HELPER_CALLS)
    rng.shuffle(names)
    outcome = Outcome("SQL injection through query helpers (cases)", len(names), "?")
    clear = 0
    with open_store(db) as store:
        con = store.cursor()
        counts_before = con.execute(
            "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM events)"
        ).fetchone()
        for name in names:
            try:
                HELPER_CALLS[name](store)
            except (QueryError, EventStoreError):
                clear += 1
            except Exception as exc:
                outcome.problems.append(f"{name}: {type(exc).__name__}: {exc}")
            else:
                outcome.problems.append(f"{name}: accepted")
        counts_after = con.execute(
            "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM events)"
        ).fetchone()
        con.close()
    outcome.found = clear
    outcome.check(counts_before == counts_after, f"rows {counts_before} -> {counts_after}")
    check_store(outcome, db, before)
    return outcome
