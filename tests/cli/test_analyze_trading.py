"""``eventstore analyze`` of a backtest shows its trading result, read back from the store, as
``eventstore run`` printed it when the run ended (table, CSV and JSON); of a run of another
system it says nothing of trading."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eventstore.cli import app
from tests.backtest.conftest import MULTI_STRATEGY
from tests.cli.conftest import TracedFile

runner = CliRunner()


def invoke(*args: str) -> str:
    """A command's stdout at 80 columns, which no line of a table may pass."""
    result = runner.invoke(app, list(args), env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    tables = "-f" not in args
    too_long = [line for line in result.stdout.splitlines() if tables and len(line) > 80]
    assert not too_long, "\n".join(too_long)
    return result.stdout


def trading(out: str) -> dict[str, str]:
    """The ``trading`` table of a command's output as measure → value ({} when it has none)."""
    lines = out.splitlines()
    if "trading" not in lines:
        return {}
    start = lines.index("trading")
    assert lines[start + 1].split() == ["measure", "value"]
    rows = lines[start + 3 : lines.index("", start)]
    return dict(re.split(r"\s{2,}", row, maxsplit=1) for row in rows)


def csv_section(out: str, title: str) -> list[dict[str, str]]:
    block = out.split(f"# {title}\n")[1].split("\n\n")[0]
    return list(csv.DictReader(io.StringIO(block)))


def run_then_analyze(db: Path, *options: str) -> tuple[str, str]:
    printed = invoke("run", "--config", str(MULTI_STRATEGY), "--db", str(db), "-q", *options)
    return printed, invoke("analyze", "--latest", "--db", str(db), "-q")


@pytest.mark.parametrize("bars", ["160", "5"], ids=["trades", "no trades"])
def test_analyze_shows_the_trading_result_run_printed(tmp_path: Path, bars: str) -> None:
    db = tmp_path / "runs.duckdb"
    printed, analyzed = run_then_analyze(db, "--bars", bars)
    assert printed.splitlines().count("trading") == 1  # its own; not the analysis's too
    shown = trading(printed)
    assert shown["bars"] == f"{int(bars) * 4:,}"  # 4 symbols
    assert trading(analyzed) == shown
    if bars == "5":  # too few bars for any strategy to trade: equity stays the cash
        assert shown["fills"] == "0" and shown["final equity"] == shown["initial cash"]
    else:
        assert shown["fills"] != "0" and shown["final equity"] != shown["initial cash"]

    body = json.loads(invoke("analyze", "--latest", "--db", str(db), "-q", "-f", "json"))
    [figures] = body["trading"]
    assert list(body).index("trading") == list(body).index("events by type") + 1
    assert {
        "bars": f"{figures['bars']:,}",
        "orders": f"{figures['orders']:,}",
        "fills": f"{figures['fills']:,}",
        "rejected signals": f"{figures['rejected_signals']:,}",
        "open orders at end": f"{figures['open_orders']:,}",
        "commissions": f"{figures['commissions']:,.2f}",
        "initial cash": f"{figures['initial_cash']:,.2f}",
        "final equity": f"{figures['final_equity']:,.2f}",
        "return": f"{figures['total_return']:+.4%}",
    } == shown
    table = invoke("analyze", "--latest", "--db", str(db), "-q", "-f", "csv")
    [row] = csv_section(table, "trading")
    assert {name: float(value) for name, value in row.items()} == figures


def test_a_sampled_run_counts_what_it_published_and_says_what_it_did_not_store(
    tmp_path: Path,
) -> None:
    printed, analyzed = run_then_analyze(
        tmp_path / "runs.duckdb", "--bars", "160", "--sample", "0.1"
    )
    shown, read_back = trading(printed), trading(analyzed)
    counts = ["bars", "orders", "fills", "rejected signals", "open orders at end", "initial cash"]
    assert {k: read_back[k] for k in counts} == {k: shown[k] for k in counts}
    # BARs and portfolio updates were left out: the equity they mark is not in the store.
    for measure in ("commissions", "final equity", "return"):
        assert read_back[measure] == "not stored" != shown[measure]


def test_a_run_of_another_system_says_nothing_of_trading(traced_file: TracedFile) -> None:
    db = ["--db", str(traced_file.path)]
    table = invoke("analyze", traced_file.a.run_id, *db)
    assert "events by type" in table and "ORDER" in table  # a trading flow, not a backtest
    assert trading(table) == {} and "final equity" not in table
    body = json.loads(invoke("analyze", traced_file.a.run_id, *db, "-f", "json"))
    assert "events by type" in body and "trading" not in body
    assert "# trading" not in invoke("analyze", traced_file.a.run_id, *db, "-f", "csv")
