"""The HTML report: one self-contained file that opens in headless Chromium with no console
error and no request beyond itself, whose text shows the queries' numbers; with a second run,
the first divergence's differing fields are highlighted."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from eventstore.queries.html import column_cell

from eventstore import Event, EventTracer, TracedEventBus, open_store, queries
from eventstore.errors import OutputError, QueryError
from tests.browser import visit
from tests.queries.backtest_store import traced_backtests
from tests.queries.conftest import TradingStore


@pytest.fixture(scope="module")
def backtests(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    path = tmp_path_factory.mktemp("report") / "runs.duckdb"
    return path, traced_backtests(path)


def test_report_is_self_contained(backtests: tuple[Path, list[str]], tmp_path: Path) -> None:
    path, runs = backtests
    html = queries.write_report(path, runs[0], tmp_path / "r.html", compare=runs[1]).read_text()
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert not re.search(r"url\((?!#)", html) and "@import" not in html


def test_report_opens_in_chromium_and_shows_the_queries_figures(
    backtests: tuple[Path, list[str]], tmp_path: Path
) -> None:
    path, runs = backtests
    report = queries.write_report(path, runs[0], tmp_path / "report.html", compare=runs[1])
    page = visit(report)
    assert page.console_errors == []
    assert page.requests == [report.resolve().as_uri()]
    text = page.text
    summary = queries.run_summary(path, runs[0]).to_pylist()[0]
    for field in ("events", "bars", "signals", "orders", "fills"):
        assert re.search(rf"^{field}\t{summary[field]}$", text, re.M), field
    for row in queries.latency_percentiles(path, [runs[0]], by="type").to_pylist():
        line = "\t".join(column_cell(name, v) for name, v in row.items())
        assert line in text
    stats = queries.chain_stats(queries.signal_to_fill_chains(path, runs[0])).to_pylist()[0]
    assert "\t".join(column_cell(name, v) for name, v in stats.items()) in text
    last = queries.equity_curve(path, runs[0]).to_pylist()[-1]
    assert f"equity {last['equity']:.2f} at the last portfolio update ({last['sim_time']})" in text
    for heading in ("Slowest handlers", "Causation graph: why", "Comparison", "First divergence"):
        assert heading in text
    assert "Configuration: 1 key differs\nkey\trun a\trun b\nseed\t42\t43\n" in text
    assert page.screenshot.startswith(b"\x89PNG")


def test_report_reads_durations_in_their_own_unit_as_the_terminal_does(
    backtests: tuple[Path, list[str]],
) -> None:
    path, runs = backtests
    html = queries.report_html(path, runs[0], compare=runs[1])
    latency = queries.latency_percentiles(path, [runs[0]], by="type").to_pylist()
    sub_microsecond = [
        v for row in latency for k, v in row.items() if k.endswith("_ms") and 0 < v < 1e-3
    ]
    assert sub_microsecond, "the demo has handlers faster than a microsecond"
    for value in sub_microsecond:
        assert f">{value * 1e6:.3g} ns<" in html
    section = html[html.index('id="latency"') : html.index('id="slowest"')]
    assert not re.search(r">0\.000<", section), "a nonzero latency must not read 0.000"
    comparison = html[html.index("<h3>Latency by event type</h3>") :]
    comparison = comparison[: comparison.index("</table>")]
    deliveries = queries.compare_runs(path, runs[0], runs[1]).latency.to_pylist()[0]
    assert deliveries["metric"] == "deliveries"
    assert f'<td>deliveries</td><td class="num">{int(deliveries["run_a"])}</td>' in comparison
    assert "_ms<" not in comparison


def test_comparison_highlights_the_fields_that_differ(
    trading: TradingStore, tmp_path: Path
) -> None:
    html = queries.report_html(trading.store, trading.a.run_id, compare=trading.b.run_id)
    divergence = html[html.index("First divergence") :]
    divergence = divergence[: divergence.index("</table>")]
    marked = re.findall(r'<tr class="diff"><td>([^<]+)</td>', divergence)
    assert marked == ["payload.close"]


def _comparison_opening(html: str) -> str:
    """The comparison's first section: from its first heading to its end."""
    comparison = html[html.index('id="comparison"') :]
    first = comparison[comparison.index("<h3>") :]
    return first[: first.index("<h3>", 4)]


def test_the_comparison_starts_with_the_configuration_keys_that_differ(
    backtests: tuple[Path, list[str]], trading: TradingStore, tmp_path: Path
) -> None:
    path, runs = backtests
    config = queries.compare_runs(path, runs[0], runs[1]).config.to_pylist()
    assert config == [{"key": "seed", "run_a": "42", "run_b": "43"}]
    opening = _comparison_opening(queries.report_html(path, runs[0], compare=runs[1]))
    assert opening.startswith("<h3>Configuration: 1 key differs</h3>")
    assert "<tr><td>seed</td><td>42</td><td>43</td></tr>" in opening
    twins = traced_backtests(tmp_path / "twins.duckdb", seeds=(7, 7), bars=20)
    opening = _comparison_opening(
        queries.report_html(tmp_path / "twins.duckdb", twins[0], compare=twins[1])
    )
    assert opening == "<h3>Configuration</h3><p>same configuration</p>"
    opening = _comparison_opening(
        queries.report_html(trading.store, trading.a.run_id, compare=trading.b.run_id)
    )
    assert opening == "<h3>Configuration</h3><p>neither run recorded a configuration</p>"
    with open_store(tmp_path / "own.duckdb") as store:
        for config in ({"window": 5}, {"window": 5, "fast": True}):
            with EventTracer(store=store, config=config):
                pass
        own = [run["run_id"] for run in queries.list_runs(store).to_pylist()]
        opening = _comparison_opening(queries.report_html(store, own[1], compare=own[0]))
    assert "<tr><td>fast</td><td>(absent)</td><td>true</td></tr>" in opening


def test_a_long_table_holds_the_rows_shown_and_counts_them_all(
    backtests: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, runs = backtests
    unmatched = queries.compare_runs(path, runs[0], runs[1]).unmatched_count
    monkeypatch.setattr("eventstore.queries.report.ROWS", 3)
    html = queries.report_html(path, runs[0], compare=runs[1])
    trades = html[html.index("Orders and fills in one run only") :]
    assert unmatched > 3 and trades.count("<tr>") + trades.count('<tr class="diff">') == 4
    assert f"first 3 of {unmatched} rows shown" in trades


def test_bad_report_input_is_a_clear_error_and_no_file(
    trading: TradingStore, tmp_path: Path
) -> None:
    with pytest.raises(QueryError, match="no run"):
        queries.write_report(trading.store, "nope", tmp_path / "r.html")
    with pytest.raises(QueryError, match="same run"):
        queries.write_report(
            trading.store, trading.a.run_id, tmp_path / "r.html", compare=trading.a.run_id
        )
    with pytest.raises(OutputError):
        queries.write_report(trading.store, trading.a.run_id, tmp_path / "no" / "r.html")
    assert list(tmp_path.iterdir()) == []


def _trace_own_bus(path: Path, name: str, reply: str) -> str:
    """A run of a system with its own event types: each TICK's handler publishes ``reply``."""
    bus = TracedEventBus(name)
    start = datetime(2024, 1, 2, 9, 30)
    bus.subscribe("TICK", lambda tick: bus.publish(Event(reply, tick.timestamp, {"n": 1})))
    with open_store(path) as store, EventTracer(store=store, name=name) as tracer:
        bus.set_tracer(tracer)
        for minute in range(3):
            bus.publish(Event("TICK", start + timedelta(minutes=minute), {"price": 1.0}))
    return tracer.correlation_id or ""


def test_report_of_a_backtest_that_made_no_trades_says_what_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "runs.duckdb"
    [run] = traced_backtests(path, seeds=(42,), bars=5)  # shorter than every strategy's window
    html = queries.write_report(path, run, tmp_path / "r.html").read_text()
    assert "no SIGNAL → FILL chains: the run has no FILL events" in html
    with open_store(path, read_only=True) as store:
        first = f"{queries.resolve_run(store, run).tag}-1"
    assert f"no causation graph: the run&#x27;s first event, {first}, caused nothing" in html
    assert "no trades: equity stayed at the initial cash <b>1000000.00</b>" in html
    for heading in ("Summary", "Events by type", "Orders and fills", "Latency", "Slowest"):
        assert heading in html


def test_report_of_a_run_of_a_users_own_bus(tmp_path: Path) -> None:
    path = tmp_path / "runs.duckdb"
    quotes = _trace_own_bus(path, "quotes", "QUOTE")
    fills = _trace_own_bus(path, "fills", "FILL")  # fills, but no signal behind them
    html = queries.report_html(path, quotes)
    # no bars, signals, orders or fills: nothing about trading, the causation graph stays
    assert "SIGNAL → FILL" not in html and "PORTFOLIO_UPDATE" not in html
    assert "Causation graph: effects of" in html and "(the run&#x27;s first event)" in html
    assert "QUOTE" in html and "Latency" in html
    html = queries.report_html(path, fills)
    assert "no SIGNAL → FILL chains: no FILL of this run has a SIGNAL among its causes" in html
