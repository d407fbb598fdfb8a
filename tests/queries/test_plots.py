"""Latency histograms and equity curves: the numbers handed to the figures come from the
query helpers and equal an independent computation; the files written are valid images."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import orjson
import pytest
from eventstore.queries.output import save_figure
from eventstore.queries.plots import (
    BINS_PER_DECADE,
    RASTER_POINTS,
    draw_latency,
    latency_plot_data,
)
from PIL import Image

from eventstore import open_store, queries
from eventstore.errors import OutputError, QueryError
from tests.queries.backtest_store import traced_backtests
from tests.queries.conftest import TradingStore
from tests.queries.test_latency import raw_deliveries


@pytest.fixture(scope="module")
def backtests(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    path = tmp_path_factory.mktemp("plots") / "runs.duckdb"
    return path, traced_backtests(path)


def _bin(ns: int) -> int:
    return math.floor(math.log10(max(ns, 1)) * BINS_PER_DECADE)


@pytest.mark.parametrize(("by", "key"), [("type", "event_type"), ("handler", "handler")])
@pytest.mark.parametrize("metric", ["queue", "handle"])
def test_histogram_counts_every_delivery_in_its_log_bin(
    trading: TradingStore, by: str, key: str, metric: str
) -> None:
    runs = [trading.a.run_id, trading.b.run_id]
    data = latency_plot_data(trading.store, runs, by=by, metric=metric)
    want = Counter(
        (row["run_id"], row[key], _bin(row[metric]))  # type: ignore[arg-type]
        for row in raw_deliveries(trading.store, runs)
    )
    got = {(r["run_id"], r["key"], r["bin"]): r["deliveries"] for r in data.histogram.to_pylist()}
    assert got == dict(want)
    for row in data.histogram.to_pylist():
        assert row["low_ms"] < row["high_ms"]


def test_percentile_marks_are_the_query_helpers_percentiles(trading: TradingStore) -> None:
    runs = [trading.a.run_id, trading.b.run_id]
    data = latency_plot_data(trading.store, runs, by="type", metric="handle")
    helper = queries.latency_percentiles(trading.store, runs, by="type", per_run=True)
    assert data.percentiles.to_pylist() == helper.to_pylist()
    figure = draw_latency(data)
    for ax, group in zip(figure.axes, data.groups, strict=False):
        drawn = sorted(line.get_xdata()[0] for line in ax.get_lines())  # type: ignore[index]
        want = sorted(
            max(row[f"handle_{p}_ms"], 1e-6)
            for row in helper.to_pylist()
            if row["event_type"] == group
            for p in ("p50", "p90", "p99")
        )
        assert drawn == pytest.approx(want)


def test_latency_figure_files_are_valid_images(
    backtests: tuple[Path, list[str]], tmp_path: Path
) -> None:
    path, runs = backtests
    figure = queries.plot_latency(path, runs, by="handler", metric="queue")
    png = save_figure(figure, tmp_path / "latency.png")
    with Image.open(png) as image:
        image.verify()
    with Image.open(png) as image:
        assert image.format == "PNG" and image.width > 600 and image.height > 400
    svg = save_figure(figure, tmp_path / "latency.svg")
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg") and float(root.attrib["width"].rstrip("pt")) > 400


def test_equity_curve_is_every_portfolio_update_with_its_fill(
    backtests: tuple[Path, list[str]],
) -> None:
    path, runs = backtests
    curve = queries.equity_curve(path, runs[0])
    with open_store(path, read_only=True) as store:
        rows = (
            store.cursor()
            .execute(
                "SELECT u.seq, u.payload, f.payload FROM events u JOIN events f "
                "ON f.run_id = u.run_id AND f.event_id = u.causation_id "
                "WHERE u.run_id = ? AND u.event_type = 'PORTFOLIO_UPDATE' ORDER BY u.seq",
                [runs[0]],
            )
            .fetchall()
        )
    assert len(rows) > 10
    assert curve["seq"].to_pylist() == [seq for seq, _, _ in rows]
    assert curve["equity"].to_pylist() == [orjson.loads(u)["equity"] for _, u, _ in rows]
    assert curve["side"].to_pylist() == [orjson.loads(f)["side"] for _, _, f in rows]


def test_equity_figure_plots_the_curve_and_marks_fills(
    backtests: tuple[Path, list[str]], tmp_path: Path
) -> None:
    path, runs = backtests
    figure = queries.plot_equity(path, runs)
    ax = figure.axes[0]
    for line, run in zip(ax.get_lines(), runs, strict=True):
        drawn = queries.equity_over_run(path, run, queries.equity_curve(path, run))
        assert list(line.get_ydata()) == drawn["equity"].to_pylist()  # type: ignore[arg-type]
        assert line.get_drawstyle() == "steps-post"  # held until the next update, not guessed
    marked = sum(len(c.get_offsets()) for c in ax.collections)
    fills = sum(queries.equity_curve(path, r)["fill_id"].null_count == 0 for r in runs)
    assert fills == len(runs)
    assert marked == sum(queries.equity_curve(path, r).num_rows for r in runs)
    with Image.open(save_figure(figure, tmp_path / "equity.png")) as image:
        assert image.width > 600


def test_the_drawn_curve_starts_at_the_initial_cash_on_the_first_bar(
    backtests: tuple[Path, list[str]],
) -> None:
    path, runs = backtests
    curve = queries.equity_curve(path, runs[0])
    drawn = queries.equity_over_run(path, runs[0], curve).to_pylist()
    with open_store(path, read_only=True) as store:
        [(first, last)] = (
            store.cursor()
            .execute("SELECT min(sim_time), max(sim_time) FROM events WHERE run_id = ?", [runs[0]])
            .fetchall()
        )
    assert (drawn[0]["sim_time"], drawn[0]["equity"], drawn[0]["fill_id"]) == (first, 1e6, None)
    assert drawn[1:] == curve.to_pylist()  # to the last update: no event records equity after
    assert drawn[-1]["sim_time"] <= last


def test_a_backtest_that_made_no_trades_is_drawn_flat_at_its_initial_cash(
    tmp_path: Path,
) -> None:
    path = tmp_path / "runs.duckdb"
    [run] = traced_backtests(path, seeds=(42,), bars=5)  # shorter than every strategy's window
    assert queries.equity_curve(path, run).num_rows == 0
    [line] = queries.plot_equity(path, [run]).axes[0].get_lines()
    assert list(line.get_ydata()) == [1_000_000.0, 1_000_000.0]  # type: ignore[arg-type]
    assert str(line.get_label()).endswith("(no trades)")
    with open_store(path, read_only=True) as store:
        [span] = (
            store.cursor()
            .execute("SELECT min(sim_time), max(sim_time) FROM events WHERE run_id = ?", [run])
            .fetchall()
        )
    assert tuple(line.get_xdata()) == span  # type: ignore[arg-type]


def test_bad_figure_input_is_one_clear_error(trading: TradingStore, tmp_path: Path) -> None:
    with pytest.raises(QueryError, match="metric"):
        latency_plot_data(trading.store, [trading.a.run_id], metric="wall")
    with pytest.raises(QueryError, match="group"):
        latency_plot_data(trading.store, [trading.a.run_id], by="color")
    with pytest.raises(QueryError, match=r"PORTFOLIO_UPDATE .* records no initial_cash"):
        queries.plot_equity(trading.store, [trading.a.run_id])
    figure = queries.plot_latency(trading.store, [trading.a.run_id])
    with pytest.raises(OutputError, match=r"\.png or \.svg"):
        save_figure(figure, tmp_path / "latency.gif")
    with pytest.raises(OutputError, match="cannot write"):
        save_figure(figure, tmp_path / "missing" / "latency.png")
    assert list(tmp_path.iterdir()) == []


def test_an_equity_curve_of_many_fills_is_an_image_inside_svg(tmp_path: Path) -> None:
    """Thousands of fill marks as SVG vectors made reports of tens of megabytes; past
    ``RASTER_POINTS`` updates the curve is embedded as an image, a small curve stays vectors."""
    path = tmp_path / "runs.duckdb"
    many, few = traced_backtests(path, seeds=(42,), bars=5_000) + traced_backtests(path, (42,))
    sizes = {}
    for run in (many, few):
        updates = queries.equity_curve(path, run).num_rows
        svg = save_figure(queries.plot_equity(path, [run]), tmp_path / f"{run}.svg")
        text = svg.read_text()
        assert ("<image" in text) == (updates > RASTER_POINTS), updates
        sizes[run] = (updates, len(text))
    (many_updates, many_bytes), (few_updates, few_bytes) = sizes[many], sizes[few]
    assert many_updates > 10 * few_updates
    assert many_bytes < 4 * few_bytes  # no longer grows with every fill marked
