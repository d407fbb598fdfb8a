"""``eventstore run --sample``: a sampled run, recorded as such, and every output that counts or
times its events says it is sampled; bad options are one clear line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from eventstore import QueryError, queries
from eventstore.cli import app
from tests.cli.conftest import error_message

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / "config" / "multi_strategy_test.yaml")

runner = CliRunner()


def _run(db: Path, *options: str) -> str:
    result = runner.invoke(
        app, ["run", "-c", CONFIG, "--bars", "200", "--db", str(db), "-q", *options]
    )
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """One run stored whole, then the same run sampled (fraction 0.1, keeping FILL paths)."""
    db = tmp_path_factory.mktemp("sampling") / "runs.duckdb"
    _run(db)
    _run(db, "--sample", "0.1", "--keep", "FILL")
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT run_id FROM runs ORDER BY run_no").fetchall()
    return db, rows[0][0], rows[1][0]


def test_run_with_sample_records_the_sampling_on_the_run(two_runs: tuple[Path, str, str]) -> None:
    db, full, sampled = two_runs
    with duckdb.connect(str(db), read_only=True) as con:
        [(text, stored)] = con.execute(
            "SELECT sampling, event_count FROM runs WHERE run_id = ?", [sampled]
        ).fetchall()
        [(total,)] = con.execute("SELECT event_count FROM runs WHERE run_id = ?", [full]).fetchall()
    sampling = json.loads(text)
    assert sampling["fraction"] == 0.1
    assert sampling["keep_types"] == ["FILL"]
    assert stored + sampling["sampled_out_total"] == total
    assert sampling["sampled_out"]["BAR"] > 0


def test_counts_and_percentiles_of_a_sampled_run_are_flagged(
    two_runs: tuple[Path, str, str],
) -> None:
    db, full, sampled = two_runs
    counts = {r["event_type"]: r for r in queries.event_counts(db, sampled).to_pylist()}
    whole = {r["event_type"]: r["events"] for r in queries.event_counts(db, full).to_pylist()}
    assert {t: r["events"] + r["sampled_out"] for t, r in counts.items()} == {
        t: n for t, n in whole.items() if t in counts
    }
    assert "sampled_out" not in queries.event_counts(db, full).column_names
    assert queries.run_summary(db, sampled)["sampled_out"][0].as_py() > 0
    assert "sampled_out" not in queries.run_summary(db, full).column_names
    runs = {r["run_id"]: r["sampled_out"] for r in queries.list_runs(db).to_pylist()}
    assert runs[full] is None and runs[sampled] > 0

    assert queries.latency_percentiles(db, [sampled])["sampled"].to_pylist() == [True] * len(
        queries.latency_percentiles(db, [sampled])
    )
    assert "sampled" not in queries.latency_percentiles(db, [full]).column_names
    per_run = queries.latency_percentiles(db, [full, sampled], per_run=True).to_pylist()
    assert {(r["run_id"], r["sampled"]) for r in per_run} == {(full, False), (sampled, True)}

    comparison = queries.compare_runs(db, full, sampled)
    by_type = {r["event_type"]: r for r in comparison.counts.to_pylist()}
    assert all(r["sampled_out_a"] == 0 for r in by_type.values())
    assert all(r["run_b"] + r["sampled_out_b"] == r["run_a"] for r in by_type.values())
    assert set(comparison.latency["sampled"].to_pylist()) == {True}


def test_cli_outputs_show_the_sampled_columns(two_runs: tuple[Path, str, str]) -> None:
    db, full, sampled = two_runs
    for command in (["runs"], ["analyze", sampled], ["compare", full, sampled]):
        result = runner.invoke(app, [*command, "--db", str(db)])
        assert result.exit_code == 0, result.output
        assert "sampled" in result.stdout, command
        assert max(len(line) for line in result.stdout.splitlines()) <= 80


def test_analyze_says_handler_times_of_a_sampled_run_cover_its_stored_events(
    two_runs: tuple[Path, str, str],
) -> None:
    """Self and inclusive totals of a sampled run add up the stored events' deliveries only:
    the table's title says so, as the latency tables' do; a run stored whole has no note."""
    db, full, sampled = two_runs
    titles = {}
    for run in (full, sampled):
        result = runner.invoke(app, ["analyze", run, "--db", str(db)], env={"COLUMNS": "80"})
        assert result.exit_code == 0, result.output
        titles[run] = " ".join(
            line for line in result.stdout.splitlines() if line.startswith("handlers by")
        )
    assert titles[sampled] == "handlers by self time (a sampled run: over its stored events only)"
    assert titles[full] == "handlers by self time"


def test_latency_per_run_keeps_its_keys_and_names_the_sampled_run(
    two_runs: tuple[Path, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, full, sampled = two_runs
    # 60 columns hold the keys (a run id is 30) but never every statistic, whatever the
    # measured latencies' widths
    monkeypatch.setenv("COLUMNS", "60")
    result = runner.invoke(app, ["latency", full, sampled, "--per-run", "--db", str(db)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 60
    header = next(line for line in lines if line.startswith("event_type"))
    assert "p50" in header.split()  # each run's id heads its rows: not a column of them
    assert sorted(line for line in lines if line in (full, sampled)) == sorted([full, sampled] * 2)
    note = next(line for line in lines if "not shown at this width:" in line)
    assert "max" in note and "event_type" not in note  # a statistic goes before a key
    assert f"sampled, over stored events only: {sampled}" in " ".join(lines)
    csv = runner.invoke(app, ["latency", full, sampled, "--per-run", "-f", "csv", "--db", str(db)])
    assert csv.stdout.splitlines()[0].split(",")[-1] == "sampled"  # CSV keeps the column


def test_an_event_sampling_left_out_is_named_as_such(two_runs: tuple[Path, str, str]) -> None:
    db, _, sampled = two_runs
    with duckdb.connect(str(db), read_only=True) as con:
        [(tag, stored, text)] = con.execute(
            "SELECT tag, event_count, sampling FROM runs WHERE run_id = ?", [sampled]
        ).fetchall()
        rows = con.execute("SELECT seq FROM events WHERE run_id = ?", [sampled]).fetchall()
    kept = {seq for (seq,) in rows}
    published = stored + json.loads(text)["sampled_out_total"]
    missing = min(set(range(1, published + 1)) - kept)
    message = (
        f"{tag}-{missing} is not stored: run {sampled} was sampled "
        f"(kept {stored:,} of {published:,} events)"
    )
    for command in ("why", "effects", "graph"):
        result = runner.invoke(app, [command, f"{tag}-{missing}", "--db", str(db)])
        assert result.exit_code == 1
        assert error_message(result.stderr).startswith(f"error: {message}"), result.stderr
    with pytest.raises(QueryError, match=re.escape(message)):
        queries.why(db, f"{tag}-{missing}")
    beyond = runner.invoke(app, ["why", f"{tag}-{published + 1}", "--db", str(db)])
    assert f"has no event {tag}-{published + 1} (its events are" in error_message(beyond.stderr)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--sample", "1.5"], "from 0 to 1"),
        (["--sample", "0.1", "--keep", "TRADE"], "'TRADE' is not an event type"),
        (["--keep", "FILL"], "--keep needs --sample"),
    ],
)
def test_bad_sampling_options_are_one_clear_line(
    tmp_path: Path, options: list[str], message: str
) -> None:
    db = tmp_path / "runs.duckdb"
    result = runner.invoke(app, ["run", "-c", CONFIG, "--bars", "50", "--db", str(db), *options])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert not db.exists() or not duckdb.connect(str(db)).execute("FROM runs").fetchall()


def test_a_sampled_runs_equity_says_how_many_updates_it_stores(
    two_runs: tuple[Path, str, str], tmp_path: Path
) -> None:
    """The curve is drawn from the stored updates only: the figure and the report say so."""
    db, full, sampled = two_runs
    stored = queries.equity_curve(db, sampled).num_rows
    published = queries.equity_curve(db, full).num_rows
    assert 0 < stored < published
    note = f"(sampled: {stored:,} of {published:,} PORTFOLIO_UPDATE events stored)"
    [whole_line, sampled_line] = queries.plot_equity(db, [full, sampled]).axes[0].get_lines()
    assert str(sampled_line.get_label()).endswith(note)
    assert "sampled" not in str(whole_line.get_label())
    report = queries.write_report(db, sampled, tmp_path / "r.html").read_text()
    assert note in report
