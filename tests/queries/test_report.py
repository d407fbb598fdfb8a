"""The HTML report: one self-contained file that opens in headless Chromium with no console
error and no request beyond itself, whose text shows the queries' numbers; with a second run,
the first divergence's differing fields are highlighted."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from eventstore.queries.html import cell

from eventstore import queries
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
        line = "\t".join(cell(v) for v in row.values())
        assert line in text
    stats = queries.chain_stats(queries.signal_to_fill_chains(path, runs[0])).to_pylist()[0]
    assert "\t".join(cell(v) for v in stats.values()) in text
    final = queries.equity_curve(path, runs[0])["equity"].to_pylist()[-1]
    assert f"final equity {final:.2f}" in text
    for heading in ("Slowest handlers", "Causation graph: why", "Comparison", "First divergence"):
        assert heading in text
    assert page.screenshot.startswith(b"\x89PNG")


def test_comparison_highlights_the_fields_that_differ(
    trading: TradingStore, tmp_path: Path
) -> None:
    html = queries.report_html(trading.store, trading.a.run_id, compare=trading.b.run_id)
    divergence = html[html.index("First divergence") :]
    divergence = divergence[: divergence.index("</table>")]
    marked = re.findall(r'<tr class="diff"><td>([^<]+)</td>', divergence)
    assert marked == ["payload.close"]


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
