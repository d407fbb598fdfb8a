"""A run of a user's own system, with event types of its own, as ``analyze`` and ``compare``
show it: in terms of events, without the trading flow's bars, orders and fills (which a
backtest's analysis keeps: see test_analyze_trading.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from eventstore import Event, EventTracer, TracedEventBus, UniversalContainer, open_store
from eventstore.cli import app

runner = CliRunner()


def _trace_service(db: Path) -> None:
    """Two runs of a request → query → response service, the second one request longer."""
    bus = TracedEventBus("service")
    api, database = UniversalContainer("Api"), UniversalContainer("Db")
    bus.subscribe(
        "REQUEST", lambda e: bus.publish(Event("QUERY", e.timestamp, {}), source=database)
    )
    bus.subscribe("QUERY", lambda e: bus.publish(Event("RESPONSE", e.timestamp, {}), source=api))
    with open_store(db) as store:
        for requests in (3, 4):
            with EventTracer(store=store, name="service") as tracer:
                bus.set_tracer(tracer)
                for i in range(requests):
                    when = datetime(2024, 1, 2) + timedelta(seconds=i)
                    bus.publish(Event("REQUEST", when, {"path": "/x"}), source=api)


def _run(args: list[str]) -> str:
    result = runner.invoke(app, args, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_analyze_speaks_of_events_not_bars_orders_fills(tmp_path: Path) -> None:
    db = tmp_path / "service.duckdb"
    _trace_service(db)
    out = _run(["analyze", "--db", str(db)])
    assert "REQUEST" in out and "handlers by self time" in out
    words = set(out.split())
    assert not words & {"bars", "signals", "orders", "fills"}, out
    assert "signal to fill chains" not in out


def test_compare_leaves_out_orders_and_fills(tmp_path: Path) -> None:
    db = tmp_path / "service.duckdb"
    _trace_service(db)
    runs = _run(
        ["sql", "SELECT run_id FROM runs ORDER BY started_at", "-f", "csv", "--db", str(db)]
    )
    first = runs.split()[1]
    out = _run(["compare", first, "latest", "--db", str(db)])
    assert "diverge at seq" in out and "RESPONSE" in out
    assert "orders and fills" not in out


def test_report_leaves_out_trading_and_chains(tmp_path: Path) -> None:
    db = tmp_path / "service.duckdb"
    _trace_service(db)
    out = tmp_path / "report.html"
    _run(["report", "--db", str(db), "-o", str(out), "-q"])
    html = out.read_text()
    assert "REQUEST" in html and "Causation graph" in html
    for trading in ("Equity, orders and fills", "Orders and fills", "Signal → fill", "<td>fills"):
        assert trading not in html


def test_chains_says_why_a_run_of_its_own_event_types_has_none(tmp_path: Path) -> None:
    db = tmp_path / "service.duckdb"
    _trace_service(db)
    said = _run(["chains", "--db", str(db)])
    assert said.startswith("no SIGNAL → FILL chains (") and "of its own" in said, said
