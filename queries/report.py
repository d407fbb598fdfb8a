"""One self-contained HTML report of a run, optionally compared with another.

Everything in it comes from the query helpers: the run summary, events by type, equity curve,
orders and fills, latency table and histograms, slowest handlers and deliveries, the
SIGNAL → FILL chains and the causation graph of the slowest chain's fill; with a second run,
the configuration keys the runs differ in, the comparison side by side and its first
divergence with the differing fields highlighted.
The file has inline CSS and inline SVG and no script, so it opens anywhere without a network.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from eventstore import __version__
from eventstore.errors import OutputError, QueryError

from .analysis import chain_stats
from .compare import compare_runs
from .graph import causation_graph
from .graph_draw import draw_graph
from .html import cell, column_cell, esc, fields, page, svg, table
from .latency import handler_times, latency_percentiles
from .lineage import signal_to_fill_chains
from .output import atomic_text
from .plots import draw_equity, draw_latency, latency_plot_data
from .refs import RunRef, resolve_run
from .runs import event_counts, run_summary
from .sampling import sampled_note
from .sql_files import fetch_records, fetch_table
from .store_access import StoreLike, opened
from .trades import (
    equity_curve,
    equity_over_run,
    flat_equity_curve,
    initial_cash,
    orders_and_fills,
)

Progress = Callable[[int, int], None]
"""Called with (sections done, sections in all)."""

ROWS = 200
"""Rows of a long table shown in the report; the rest are counted in a note."""
SLOWEST = 10


def write_report(
    store: StoreLike,
    run_id: str,
    path: str | os.PathLike[str],
    *,
    compare: str | None = None,
    progress: Progress | None = None,
) -> Path:
    """Write the report of ``run_id`` (id, prefix or ``latest``), compared with ``compare``
    if given, to ``path`` as one HTML file; return the path."""
    report_file(path)
    text = report_html(store, run_id, compare=compare, progress=progress)
    with atomic_text(path, "report.html") as out:
        out.write(text)
    return Path(path)


def report_file(path: str | os.PathLike[str]) -> None:
    """Refuse, before any query, a report path whose suffix would hide from a browser that it
    is HTML."""
    target = Path(path)
    if target.suffix.lower() not in (".html", ".htm") and not target.is_dir():
        raise OutputError(
            f"a report is one HTML file: name it {target.with_suffix('.html')} "
            f"({target.suffix or 'no suffix'} would hide what it is from a browser)"
        )


def report_html(
    store: StoreLike, run_id: str, *, compare: str | None = None, progress: Progress | None = None
) -> str:
    """The report as an HTML string (what ``write_report`` writes)."""
    with opened(store) as db:
        run = resolve_run(db, run_id)
        other = None if compare is None else resolve_run(db, compare)
        if other is not None and other.run_id == run.run_id:
            raise QueryError(f"--compare names the same run ({run.run_id}): give another run")
        summary = run_summary(db, run.run_id).to_pylist()[0]
        # A run of a system with event types of its own has no bars, orders or fills to show.
        trading = any(summary.get(name) for name in _TRADING_COUNTS)
        steps: list[Callable[[], str]] = [
            lambda: _summary(db, run, summary, trading),
            *([lambda: _trading(db, run)] if trading else []),
            lambda: _latency(db, run),
            lambda: _slowest(db, run),
            lambda: _chains(db, run, trading),
        ]
        if other is not None:
            steps.append(lambda: _comparison(db, run, other))
        parts = [_header(run, other, trading)]
        for done, step in enumerate(steps, start=1):
            parts.append(step())
            if progress is not None:
                progress(done, len(steps))
    title = f"eventstore report: {run.run_id}"
    if other is not None:
        title += f" vs {other.run_id}"
    return page(title, parts)


_TRADING_COUNTS = ("bars", "signals", "orders", "fills")
"""The summary's counts of the trading flow's events: a run with none of them is not a
backtest, and its report speaks of events only."""


def _header(run: RunRef, other: RunRef | None, trading: bool) -> str:
    links = ["summary", "trading", "latency", "slowest", "chains"]
    if not trading:
        links.remove("trading")
    if other is not None:
        links.append("comparison")
    nav = "".join(f'<a href="#{name}">{name}</a>' for name in links)
    against = f" compared with <b>{esc(other.run_id)}</b>" if other else ""
    return (
        f"<h1>Run {esc(run.run_id)}</h1>"
        f'<p class="sub">started {esc(run.started_at.isoformat(sep=" "))}{against} · '
        f"eventstore {esc(__version__)}</p><nav>{nav}</nav>"
    )


def _summary(db: Any, run: RunRef, summary: dict[str, Any], trading: bool) -> str:
    if not trading:
        summary = {k: v for k, v in summary.items() if k not in _TRADING_COUNTS}
    return (
        '<h2 id="summary">Summary</h2>'
        + fields(summary)
        + "<h3>Events by type</h3>"
        + table(event_counts(db, run.run_id))
    )


def _trading(db: Any, run: RunRef) -> str:
    curve = equity_curve(db, run.run_id)
    parts = ['<h2 id="trading">Equity, orders and fills</h2>']
    if curve.num_rows:
        last = curve.to_pylist()[-1]
        parts.append(  # not the run's final equity: positions move with prices after it
            f"<p>equity <b>{last['equity']:.2f}</b> at the last portfolio update "
            f"({esc(cell(last['sim_time']))}), after {curve.num_rows} portfolio update(s)"
            f"{esc(sampled_note(db, run.run_id, 'PORTFOLIO_UPDATE', curve.num_rows))}</p>"
        )
        parts.append(svg(draw_equity([(run.tag, equity_over_run(db, run.run_id, curve))])))
    elif (cash := initial_cash(db, run.run_id)) is not None:
        parts.append(f"<p>no trades: equity stayed at the initial cash <b>{cash:.2f}</b></p>")
        flat = flat_equity_curve(db, run.run_id, cash)
        if flat.num_rows:
            parts.append(svg(draw_equity([(f"{run.tag} (no trades)", flat)])))
    else:
        parts.append('<p class="note">no PORTFOLIO_UPDATE with an equity value in this run</p>')
    parts.append("<h3>Orders and fills</h3>")
    parts.append(table(orders_and_fills(db, run.run_id), limit=ROWS, empty="no orders or fills"))
    return "".join(parts)


def _latency(db: Any, run: RunRef) -> str:
    parts = [
        '<h2 id="latency">Latency</h2>',
        "<h3>Percentiles by event type</h3>",
        table(latency_percentiles(db, [run.run_id], by="type"), empty="no deliveries"),
    ]
    for metric in ("handle", "queue"):
        data = latency_plot_data(db, [run.run_id], by="type", metric=metric)
        if data.groups:
            parts.append(svg(draw_latency(data)))
    return "".join(parts)


def _slowest(db: Any, run: RunRef) -> str:
    handlers = latency_percentiles(db, [run.run_id], by="handler")
    if handlers.num_rows:
        handlers = handlers.sort_by([("handle_p99_ms", "descending"), ("handler", "ascending")])
    deliveries = fetch_table(db, "slowest_deliveries", {"run_id": run.run_id, "limit": SLOWEST})
    return (
        '<h2 id="slowest">Slowest handlers</h2>'
        "<h3>Handlers by self time (their own code, without the deliveries nested inside)</h3>"
        + table(handler_times(db, run.run_id), empty="no deliveries")
        + "<h3>Handlers by p99 handling time (inclusive)</h3>"
        + table(handlers, empty="no deliveries")
        + f"<h3>The {SLOWEST} slowest deliveries, by self time</h3>"
        + table(deliveries, empty="no deliveries")
    )


def _chains(db: Any, run: RunRef, trading: bool) -> str:
    chains = signal_to_fill_chains(db, run.run_id)
    parts = [
        '<h2 id="chains">Signal → fill chains</h2>' if trading else '<h2 id="chains">Causation</h2>'
    ]
    if chains.num_rows:
        parts.append(table(chain_stats(chains)))
        parts.append(table(chains, limit=ROWS))
    elif trading:
        parts.append(f'<p class="note">{esc(_no_chains(db, run))}</p>')
    start, direction = _graph_start(db, run, chains)
    if start is None:
        parts.append('<p class="note">no causation graph: the run stored no events</p>')
        return "".join(parts)
    graph = causation_graph(db, start, direction=direction)
    what = "the slowest chain's fill" if direction == "up" else "the run's first event"
    if len(graph.nodes) == 1:  # only a first event can stand alone: a fill has its signal
        parts.append(
            f'<p class="note">no causation graph: {esc(what)}, {esc(start)}, caused nothing '
            "stored in this run</p>"
        )
        return "".join(parts)
    parts.append(f"<h3>Causation graph: {esc(graph.title)} ({esc(what)})</h3>")
    parts.append(svg(draw_graph(graph)))
    if graph.note:
        parts.append(f'<p class="note">{esc(graph.note)}</p>')
    return "".join(parts)


def _no_chains(db: Any, run: RunRef) -> str:
    """Why a run has no SIGNAL → FILL chain, in one sentence."""
    counts = {r["event_type"]: r["events"] for r in event_counts(db, run.run_id).to_pylist()}
    if not counts.get("FILL"):
        return (
            "no SIGNAL → FILL chains: the run has no FILL events (a backtest that made no "
            "trades, or a system whose event types are its own)"
        )
    return "no SIGNAL → FILL chains: no FILL of this run has a SIGNAL among its causes"


def _graph_start(db: Any, run: RunRef, chains: pa.Table) -> tuple[str | None, str]:
    """The fill of the slowest chain (why it happened), else the run's first event (what it
    caused); None for a run that stored no events."""
    if chains.num_rows:
        rows = chains.to_pylist()
        slowest = max(rows, key=lambda r: r["signal_to_fill_ms"] or 0.0)
        return str(slowest["fill_id"]), "up"
    first = fetch_records(db, "run_seq_range", {"run_no": run.run_no})[0]
    if not first["events"]:
        return None, "down"
    return f"{run.tag}-{first['first_seq']}", "down"


def _comparison(db: Any, a: RunRef, b: RunRef) -> str:
    diff = compare_runs(db, a.run_id, b.run_id, unmatched_limit=ROWS)
    summary_a = run_summary(db, a.run_id).to_pylist()[0]
    summary_b = run_summary(db, b.run_id).to_pylist()[0]
    side = [
        {"field": k, "run a": summary_a[k], "run b": summary_b[k]}
        for k in summary_a
        if k not in ("run_id",)
    ]
    compared = [k for k in summary_a if k not in ("run_id", "started_at", "ended_at", "duration_s")]
    marks = [row["field"] in compared and row["run a"] != row["run b"] for row in side]
    verdict = (
        "identical: same events, same order, same payloads"
        if diff.identical
        else f"the runs diverge at seq {diff.divergence['seq'][0].as_py()}"
    )
    parts = [
        '<h2 id="comparison">Comparison</h2>',
        f"<p>run a: <b>{esc(a.run_id)}</b><br>run b: <b>{esc(b.run_id)}</b><br>{esc(verdict)}</p>",
        _configuration(diff.config, diff.config_summary),
        "<h3>Summary side by side</h3>",
        table(side, highlight=marks),
        "<h3>First divergence</h3>",
        _divergence(diff.divergence),
        "<h3>Events by type</h3>",
        table(diff.counts, highlight=[d != 0 for d in diff.counts["difference"].to_pylist()]),
        "<h3>Latency by event type</h3>",
        table(_latency_rows(diff.latency), empty="no deliveries"),
    ]
    curves = [(r.tag, equity_over_run(db, r.run_id, equity_curve(db, r.run_id))) for r in (a, b)]
    if all(curve.num_rows for _, curve in curves):
        parts.append("<h3>Equity curves</h3>" + svg(draw_equity(curves)))
    data = latency_plot_data(db, [a.run_id, b.run_id], by="type", metric="handle")
    if data.groups:
        parts.append("<h3>Handling latency, both runs</h3>" + svg(draw_latency(data)))
    parts.append("<h3>Orders and fills in one run only</h3>")
    parts.append(
        table(
            diff.unmatched,
            limit=ROWS,
            empty="none: every trade has its twin",
            total=diff.unmatched_count,
        )
    )
    return "".join(parts)


def _configuration(config: pa.Table, summary: str) -> str:
    """The configuration keys the runs differ in (``compare_runs(...).config``), which
    usually explain the rest of the comparison; or ``summary`` alone when there are none."""
    if not config.num_rows:
        return f"<h3>Configuration</h3><p>{esc(summary)}</p>"
    rows = [
        {"key": row["key"], "run a": _present(row["run_a"]), "run b": _present(row["run_b"])}
        for row in config.to_pylist()
    ]
    return f"<h3>Configuration: {esc(summary)}</h3>" + table(rows)


def _present(value: str | None) -> str:
    return "(absent)" if value is None else value  # the run has no such key


def _latency_rows(latency: pa.Table) -> list[dict[str, Any]]:
    """A comparison's latency rows as they read: durations (``*_ms`` metrics) in the unit that
    suits each, delivery counts as whole numbers, the ratio as it is."""
    rows: list[dict[str, Any]] = latency.to_pylist()
    for row in rows:
        metric = row["metric"]
        for side in ("run_a", "run_b"):
            value = row[side]
            if value is not None:
                row[side] = column_cell(metric, value) if metric.endswith("_ms") else int(value)
        row["metric"] = metric.removesuffix("_ms")
    return rows


def _divergence(divergence: pa.Table) -> str:
    """The first differing events side by side, one row per field, differing ones marked."""
    if not divergence.num_rows:
        return '<p class="note">none: the runs agree event for event</p>'
    row = divergence.to_pylist()[0]
    rows: list[dict[str, Any]] = [{"field": "seq", "run a": row["seq"], "run b": row["seq"]}]
    for name in ("event_id", "event_type", "sim_time", "source"):
        rows.append({"field": name, "run a": row[f"a_{name}"], "run b": row[f"b_{name}"]})
    payload_a, payload_b = _object(row["a_payload"]), _object(row["b_payload"])
    for key in dict.fromkeys([*payload_a, *payload_b]):
        rows.append(
            {
                "field": f"payload.{key}",
                "run a": _plain(payload_a.get(key)),
                "run b": _plain(payload_b.get(key)),
            }
        )
    marks = [r["field"] not in ("seq", "event_id") and r["run a"] != r["run b"] for r in rows]
    return table(rows, highlight=marks)


def _object(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    value = orjson.loads(text)
    return value if isinstance(value, dict) else {"value": value}


def _plain(value: Any) -> Any:
    return orjson.dumps(value).decode() if isinstance(value, dict | list) else value
