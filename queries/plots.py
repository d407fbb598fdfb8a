"""Figures of runs: latency histograms and equity curves, as matplotlib ``Figure`` objects.

Each figure is drawn from a small data object built only by the query helpers
(``latency_plot_data``, ``equity_curve``), so what a figure shows can be checked against the
queries without looking at pixels, and a notebook user can take the numbers as well as the
picture. Figures are made without pyplot (no global state, no display needed) and render
with the Agg backend; a notebook shows a returned ``Figure`` inline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

import pyarrow as pa

from eventstore.errors import QueryError
from eventstore.store import Store

from .latency import GroupBy, latency_group, latency_percentiles
from .refs import resolve_runs, run_refs
from .sampling import sampled_note
from .slices import Progress, reported
from .sql_files import fetch_table
from .store_access import StoreLike, opened
from .trades import equity_curve, equity_over_run, flat_equity_curve, initial_cash
from .units import duration

if TYPE_CHECKING:  # matplotlib is imported by what draws, not by every query command
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Metric = Literal["queue", "handle"]
METRIC_NAMES: dict[str, str] = {
    "queue": "queueing (emitted → received)",
    "handle": "handling (received → processed)",
}
BINS_PER_DECADE = 10
MAX_GROUPS = 12
"""Panels in one latency figure; further groups (the least busy) are left out with a note."""

PERCENTILES: tuple[tuple[str, Any], ...] = (("p50", "-"), ("p90", "--"), ("p99", ":"))
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2")


@dataclass(frozen=True)
class LatencyPlotData:
    """What a latency figure shows: per run and group, delivery counts in logarithmic bins
    (``histogram``: ``run_id``, ``key``, ``bin``, ``deliveries``, ``low_ms``, ``high_ms``) and
    the percentiles marked on it (``percentiles``: ``latency_percentiles(per_run=True)``)."""

    by: GroupBy
    metric: Metric
    run_ids: list[str]
    labels: dict[str, str]
    histogram: pa.Table
    percentiles: pa.Table
    key_column: str
    groups: list[str] = field(default_factory=list)
    """Groups drawn, busiest first (at most ``MAX_GROUPS``)."""
    left_out: list[str] = field(default_factory=list)


def check_metric(metric: str) -> Metric:
    if metric not in get_args(Metric):
        raise QueryError(f"unknown latency metric {metric!r}: use queue or handle")
    return metric  # type: ignore[return-value]


def latency_plot_data(
    store: StoreLike,
    run_ids: str | Sequence[str] = ("latest",),
    *,
    by: str = "type",
    metric: str = "handle",
    max_groups: int = MAX_GROUPS,
    progress: Progress | None = None,
) -> LatencyPlotData:
    """Histogram counts and percentiles of one latency (``queue`` or ``handle``) per group
    (event ``type``, ``handler`` or ``source``) for each run (ids, prefixes or ``latest``);
    ``progress`` is told as ``latency_percentiles`` reads the runs' slices."""
    group, chosen = latency_group(by), check_metric(metric)
    with opened(store) as db:
        runs = resolve_runs(db, run_refs(run_ids) or ["latest"])
        ids = [r.run_id for r in runs]
        histogram = fetch_table(
            db,
            "latency_histogram",
            {"run_ids": ids, "by": group, "metric": chosen, "bins_per_decade": BINS_PER_DECADE},
        )
        percentiles = latency_percentiles(db, ids, by=group, per_run=True, progress=progress)
    bins = histogram["bin"].to_pylist()
    histogram = histogram.append_column(
        "low_ms", pa.array([10 ** (b / BINS_PER_DECADE) / 1e6 for b in bins], pa.float64())
    ).append_column(
        "high_ms", pa.array([10 ** ((b + 1) / BINS_PER_DECADE) / 1e6 for b in bins], pa.float64())
    )
    key_column = percentiles.column_names[1]
    busy: dict[str, int] = {}
    for row in percentiles.to_pylist():
        name = _group_name(row[key_column])
        busy[name] = busy.get(name, 0) + int(row["deliveries"])
    ordered = sorted(busy, key=lambda k: (-busy[k], k))
    return LatencyPlotData(
        by=group,
        metric=chosen,
        run_ids=ids,
        labels={r.run_id: r.tag for r in runs},
        histogram=histogram,
        percentiles=percentiles,
        key_column=key_column,
        groups=ordered[:max_groups],
        left_out=ordered[max_groups:],
    )


def plot_latency(
    store: StoreLike,
    run_ids: str | Sequence[str] = ("latest",),
    *,
    by: str = "type",
    metric: str = "handle",
    labels: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> Figure:
    """Latency histograms on a logarithmic time axis (ms), one panel per group, runs
    overlaid in their own colours, with each run's p50/p90/p99 marked by vertical lines.
    ``progress`` is told (slices read, slices in all) as the runs are read."""
    data = latency_plot_data(store, run_ids, by=by, metric=metric, progress=progress)
    return draw_latency(data, labels=labels)


def draw_latency(data: LatencyPlotData, *, labels: dict[str, str] | None = None) -> Figure:
    """The figure of ``latency_plot_data``; ``labels`` names runs in the legend (run tags by
    default)."""
    names = {**data.labels, **(labels or {})}
    if not data.groups:
        raise QueryError(
            f"no deliveries in run(s) {', '.join(data.run_ids)}: nothing to plot "
            "(was any handler subscribed?)"
        )
    columns = 1 if len(data.groups) == 1 else 2
    rows = -(-len(data.groups) // columns)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.2 * columns, 2.5 * rows + 0.9), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    counts = _counts(data.histogram)
    marks = {
        (r["run_id"], _group_name(r[data.key_column])): r for r in data.percentiles.to_pylist()
    }
    for index, group in enumerate(data.groups):
        ax = axes[index // columns][index % columns]
        for run_index, run in enumerate(data.run_ids):
            color = COLORS[run_index % len(COLORS)]
            bins = counts.get((run, group))
            if not bins:
                continue
            low, high = min(bins), max(bins)
            edges = [10 ** (b / BINS_PER_DECADE) / 1e6 for b in range(low, high + 2)]
            values = [bins.get(b, 0) for b in range(low, high + 1)]
            ax.stairs(values, edges, color=color, fill=False, linewidth=1.4, label=names[run])
            mark = marks.get((run, group))
            for name, style in PERCENTILES if mark else ():
                value = mark[f"{data.metric}_{name}_ms"] if mark else None
                if value is not None:
                    ax.axvline(max(value, 1e-6), color=color, linestyle=style, linewidth=1)
        _time_axis(ax)
        ax.set_title(_short(group), fontsize=9, loc="left")
        ax.set_ylabel("deliveries", fontsize=8)
        ax.tick_params(labelsize=7)
    for index in range(len(data.groups), rows * columns):
        axes[index // columns][index % columns].set_visible(False)
    _legend(figure, [names[r] for r in data.run_ids])
    title = f"{METRIC_NAMES[data.metric]} latency by {data.by}"
    notes = []
    if data.left_out:
        notes.append(f"{len(data.left_out)} quieter group(s) not shown")
    if any(b <= 0 for b in data.histogram["bin"].to_pylist()):
        notes.append("latencies under 1 ns drawn at 1 ns")
    if notes:
        title += f" ({'; '.join(notes)})"
    figure.suptitle(title, fontsize=10)
    return figure


def _time_axis(ax: Axes) -> None:
    """A log time axis spanning whole decades, ticks read as durations (``10 µs``)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    low, high = ax.get_xlim()
    ax.set_xlim(10 ** math.floor(math.log10(low)), 10 ** math.ceil(math.log10(high)))
    ax.xaxis.set_major_locator(LogLocator(base=10))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda ms, _: duration(ms)))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _legend(figure: Figure, run_names: list[str]) -> None:
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color=COLORS[i % len(COLORS)], linewidth=2, label=name)
        for i, name in enumerate(run_names)
    ]
    handles += [
        Line2D([], [], color="#555555", linestyle=style, label=name) for name, style in PERCENTILES
    ]
    figure.legend(
        handles=handles, loc="outside lower center", ncols=min(len(handles), 6), fontsize=8
    )


def _counts(histogram: pa.Table) -> dict[tuple[str, str], dict[int, int]]:
    counts: dict[tuple[str, str], dict[int, int]] = {}
    for row in histogram.to_pylist():
        key = (row["run_id"], _group_name(row["key"]))
        counts.setdefault(key, {})[int(row["bin"])] = int(row["deliveries"])
    return counts


def _group_name(value: object) -> str:
    return "(none)" if value is None else str(value)


def _short(name: str, width: int = 48) -> str:
    """A handler's qualified name without its package path: ``Strategy.on_bar``."""
    parts = name.split(".")
    short = ".".join(parts[-2:]) if len(parts) > 2 else name
    return short if len(short) <= width else short[: width - 1] + "…"


def plot_equity(
    store: StoreLike,
    run_ids: str | Sequence[str] = ("latest",),
    *,
    labels: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> Figure:
    """The equity curve of each run (from its PORTFOLIO_UPDATE events) against simulated
    time, runs overlaid, fills marked: ▲ a buy, ▼ a sell. A backtest run that made no trades
    is drawn flat at its initial cash, labelled "(no trades)"; a sampled run's label says how
    many of its portfolio updates are stored. ``progress`` is told (runs read, runs)."""
    curves: list[tuple[str, pa.Table]] = []
    with opened(store) as db:
        runs = resolve_runs(db, run_refs(run_ids) or ["latest"])
        for index in reported(runs, progress):
            run = runs[index]
            label = (labels or {}).get(run.run_id, run.tag)
            updates = equity_curve(db, run.run_id)
            label += sampled_note(db, run.run_id, "PORTFOLIO_UPDATE", updates.num_rows)
            curve = equity_over_run(db, run.run_id, updates)
            if not curve.num_rows:
                curve = _no_trades_curve(db, run.run_id)
                label += " (no trades)"
            curves.append((label, curve))
    return draw_equity(curves)


def _no_trades_curve(db: Store, run_id: str) -> pa.Table:
    """The flat curve of a backtest run that made no trades; a ``QueryError`` saying why
    there is nothing to draw for any other run."""
    cash = initial_cash(db, run_id)
    if cash is None:
        raise QueryError(
            f"run {run_id} has no PORTFOLIO_UPDATE events with an equity value and its "
            "configuration records no initial_cash: plot equity needs a backtest run "
            "(eventstore run --config …)"
        )
    curve = flat_equity_curve(db, run_id, cash)
    if not curve.num_rows:
        raise QueryError(
            f"run {run_id} made no trades and stored no event with a simulated time: "
            "nothing to plot"
        )
    return curve


RASTER_POINTS = 2_000
"""Portfolio updates past which a curve and its fill marks are drawn as an image even in SVG
(and so in the HTML report): as vectors, a run with 100 000 fills made a 13 MB SVG (a 40 MB
report) of marks too dense to tell apart; as an image it is about 50 KB and looks the same."""


def draw_equity(curves: Sequence[tuple[str, pa.Table]]) -> Figure:
    """The figure of ``(label, equity_curve)`` pairs."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4.2), layout="constrained")
    ax = figure.subplots()
    for index, (label, curve) in enumerate(curves):
        color = COLORS[index % len(COLORS)]
        times = curve["sim_time"].to_pylist()
        equity = curve["equity"].to_pylist()
        raster = curve.num_rows > RASTER_POINTS
        ax.step(
            times, equity, where="post", color=color, linewidth=1.3, label=label, rasterized=raster
        )
        sides = curve["side"].to_pylist()
        for side, marker, tint in (("BUY", "^", "#2ca02c"), ("SELL", "v", "#d62728")):
            picked = [i for i, s in enumerate(sides) if s == side]
            if picked:
                ax.scatter(
                    [times[i] for i in picked],
                    [equity[i] for i in picked],
                    marker=marker,
                    s=22,
                    color=tint,
                    edgecolors=color,
                    linewidths=0.6,
                    zorder=3,
                    label=f"{label}: {side.lower()} fill",
                    rasterized=raster,
                )
    ax.set_xlabel("simulated time")
    ax.set_ylabel("equity")
    ax.grid(alpha=0.3)
    ax.ticklabel_format(axis="y", style="plain", useOffset=False)
    ax.legend(fontsize=8, loc="best")
    figure.suptitle("equity at each portfolio update (fills marked)", fontsize=10)
    return figure
