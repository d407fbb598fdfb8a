"""What ``--format table`` shows of each query result: the columns a reader needs, in an order
and under names that fit an 80-column terminal. CSV and JSON always get the full tables; these
views only choose, rename and regroup columns, they never compute new answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from statistics import median
from textwrap import wrap
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from eventstore.render import as_fields, as_measurements
from eventstore.text_table import GAP
from eventstore.values import python_values

Section = tuple[str, pa.Table]

CHAIN_COLUMNS = [
    "depth",
    "event_id",
    "event_type",
    "kind",
    "via_id",
    "sim_time",
    "source",
    "payload",
]
"""``why``/``effects``: the columns a table shows of a lineage chain."""
EVENT_LEAVE_LAST = ["via_id", "kind", "event_type"]
"""Tables of events (``why``, ``effects``, a comparison's trades in one run only): when space
is short, sim_time, source and payload go under each row first, then via_id, then kind, then
event_type. The event's type and the kind of edge to it (``caused_by`` or ``priced_by``) say
what a row is, so they stay in it longest."""
ABSENT = "(absent)"
"""A field or key one side has and the other lacks, in a side-by-side table."""


def runs_view(runs: pa.Table) -> pa.Table:
    """Runs: id, name, status, duration and size. ``started_at`` is left out (a run id starts
    with its start time); sampled-out and dropped counts, inexact lineage and errors only when
    a run has one."""
    columns = ["run_id", "name", "status", "duration_s", "events"]
    if _any(runs, "sampled_out", lambda v: v is not None):
        columns.append("sampled_out")
    if _any(runs, "dropped_count", lambda v: bool(v)):
        columns.append("dropped_count")
    if _any(runs, "lineage_exact", lambda v: v is False):
        columns.append("lineage_exact")
    if _any(runs, "error", lambda v: v is not None):
        columns.append("error")
    return runs.select([c for c in columns if c in runs.column_names])


def summary_view(summary: pa.Table, width: int) -> pa.Table:
    """A run's one-row summary as ``field | value`` rows fitting ``width``: a value too long
    for its line (a failed run's error, the thing its reader came for) goes on in the rows
    under it, broken at spaces, rather than being cut short."""
    fields = as_fields(summary)
    room = width - max(len(name) for name in fields["field"].to_pylist()) - len(GAP)
    rows: list[tuple[str, str]] = []
    for name, value in zip(fields["field"].to_pylist(), fields["value"].to_pylist(), strict=True):
        lines = wrap(value, max(room, 20), break_long_words=False, break_on_hyphens=False)
        rows.extend(zip([name] + [""] * (len(lines) - 1), lines or [""], strict=True))
    return pa.table({"field": [r[0] for r in rows], "value": [r[1] for r in rows]})


TRADING_COUNTS = ("bars", "signals", "orders", "fills")
"""The summary's counts of the trading flow's events: all zero in a run of a system with
event types of its own, where they would only be noise."""


def trades(summary: pa.Table) -> bool:
    """Whether a run's one-row summary counts any event of the trading flow (BAR, SIGNAL,
    ORDER, FILL): the tables then speak of bars, orders and fills, else of events only."""
    return any((summary[name][0].as_py() or 0) > 0 for name in TRADING_COUNTS)


def without_trading_counts(summary: pa.Table) -> pa.Table:
    """A run's summary without the trading flow's counts (a run that has none of them)."""
    return summary.drop_columns([n for n in TRADING_COUNTS if n in summary.column_names])


def chains_view(chains: pa.Table) -> pa.Table:
    """SIGNAL → FILL chains: the three ids, signal → fill wall time (µs or ms, see
    ``in_time_unit``), then, as far as they fit, the chain's length in events and the fill's
    simulated time. The time comes before the length: a narrow table leaves out columns from
    the right, and three ids of a run past a thousand events leave 80 columns room for one."""
    view = pa.table(
        {
            "signal_id": chains["signal_id"],
            "order_id": chains["order_id"],
            "fill_id": chains["fill_id"],
            "signal_to_fill_ms": chains["signal_to_fill_ms"],
            "chain_length": chains["chain_length"],
            "fill_time": chains["fill_time"],
        }
    )
    return in_time_unit(view, typical="signal_to_fill_ms")


_TRADING_MEASURES = {
    "bars": ("bars", "{:,}"),
    "orders": ("orders", "{:,}"),
    "fills": ("fills", "{:,}"),
    "rejected_signals": ("rejected signals", "{:,}"),
    "open_orders": ("open orders at end", "{:,}"),
    "commissions": ("commissions", "{:,.2f}"),
    "initial_cash": ("initial cash", "{:,.2f}"),
    "final_equity": ("final equity", "{:,.2f}"),
    "total_return": ("return", "{:+.4%}"),
}
NOT_STORED = "not stored"
"""A trading figure the stored events don't give (a sampled run left out the bars or
portfolio updates it is read from)."""


def trading_view(figures: Mapping[str, Any]) -> pa.Table:
    """A backtest's result (the columns of ``queries.trading_result``, or the same figures
    of a run just ended) as ``measure | value`` rows, money to the cent and the return in
    percent: how ``eventstore run`` and ``analyze`` both show it."""
    rows = [
        (label, NOT_STORED if figures.get(name) is None else shown.format(figures[name]))
        for name, (label, shown) in _TRADING_MEASURES.items()
    ]
    return pa.table({"measure": [r[0] for r in rows], "value": [r[1] for r in rows]})


# --- durations: every query returns ms; a table shows µs or ms, whichever it reads best in ---

_PER_MS = {"µs": 1000.0, "ms": 1.0}


def time_unit(typical_ms: Iterable[float | None]) -> str:
    """The unit a table of durations reads best in, from its typical durations (in ms: the
    p50s of a latency table, every value of a column of chains): ``µs`` when their median is
    under 1 ms, else ``ms``. Typical, not largest: a handler that takes microseconds reads
    ``0.000`` in ms, and one slow delivery (a first call, a collection pause) must not put
    the whole table back in ms, where in µs it still reads plainly (``9,307``)."""
    values = [v for v in typical_ms if v is not None]
    return "µs" if values and median(values) < 1.0 else "ms"


def _scaled(durations_ms: Any, unit: str) -> Any:
    """Durations in ``unit``, as floats whatever numeric type the store returned them in."""
    return pc.multiply(durations_ms, _PER_MS[unit])


def in_time_unit(table: pa.Table, typical: str) -> pa.Table:
    """``table`` with its ``*_ms`` columns in the unit ``time_unit`` chooses from the column
    ``typical``, each renamed after it (``p50_ms`` → ``p50_µs``)."""
    names = [name for name in table.column_names if name.endswith("_ms")]
    unit = time_unit(table[typical].to_pylist())
    for name in names:
        index = table.column_names.index(name)
        table = table.set_column(index, f"{name[:-3]}_{unit}", _scaled(table[name], unit))
    return as_measurements(table, [f"{name[:-3]}_{unit}" for name in names])


_STAGES = (
    ("queueing", "event handed out → handler started", "queue"),
    ("handling", "handler started → returned", "handle"),
)


def latency_views(latency: pa.Table, title: str) -> list[Section]:
    """Latency percentiles as two tables, queueing then handling, each with the group's key
    columns, the delivery count and p50/p90/p99/max in the unit ``time_unit`` chooses from
    that table's p50s (named in its title): ten numeric columns don't fit 80."""
    title += _sampled_note(latency)
    keys = latency_keys(latency)
    sections = []
    for stage, span, prefix in _STAGES:
        times = {stat: latency[f"{prefix}_{stat}_ms"] for stat in ("p50", "p90", "p99", "max")}
        unit = time_unit(times["p50"].to_pylist())
        columns: dict[str, Any] = {key: latency[key] for key in keys}
        columns["deliveries"] = latency["deliveries"]
        columns.update({stat: _scaled(values, unit) for stat, values in times.items()})
        table = as_measurements(pa.table(columns), times)
        if "run_id" in keys:
            table = _run_headings(table)
        sections.append((f"{title}, {stage} ({unit}): {span}", table))
    return sections


def _run_headings(table: pa.Table) -> pa.Table:
    """A per-run latency table (rows ordered by run) with each run's id on a row of its own
    above the run's rows, in the group's key column, rather than in a column of every row:
    a run id (30 characters) beside a handler's name (up to 40) would leave an 80-column
    terminal no room for a single statistic."""
    runs = table["run_id"].to_pylist()
    body = table.drop_columns(["run_id"])
    key = body.column_names[0]
    starts = [i for i, run in enumerate(runs) if i == 0 or run != runs[i - 1]]
    pieces = []
    for start, end in zip(starts, [*starts[1:], len(runs)], strict=True):
        heading = {name: [None] for name in body.column_names} | {key: [runs[start]]}
        pieces += [pa.table(heading, schema=body.schema), body.slice(start, end - start)]
    return pa.concat_tables(pieces)


def compare_latency_view(latency: pa.Table, title: str) -> Section:
    """A comparison's latency rows (``queue_p50_ms``, …, one per event type and metric) with
    both runs' times in the unit ``time_unit`` chooses from their p50s, named in the title
    and left out of the metric names; delivery counts and ratios stay as they are."""
    metrics = latency["metric"].to_pylist()
    sides = {side: latency[side].to_pylist() for side in ("run_a", "run_b")}
    typical = [i for i, metric in enumerate(metrics) if metric.endswith("_p50_ms")]
    unit = time_unit(values[i] for values in sides.values() for i in typical)
    scale = [_PER_MS[unit] if metric.endswith("_ms") else 1.0 for metric in metrics]
    columns: dict[str, Any] = {name: latency[name] for name in latency.column_names}
    columns["metric"] = [metric.removesuffix("_ms") for metric in metrics]
    for side, values in sides.items():
        scaled = [None if v is None else float(v) * f for v, f in zip(values, scale, strict=True)]
        columns[side] = pa.array(scaled, pa.float64())
    return f"{title} ({unit})", as_measurements(pa.table(columns), sides)


def latency_keys(latency: pa.Table) -> list[str]:
    """The columns that name a latency row's group (run, event type, handler…): a narrow
    table leaves out a statistic before one of these."""
    return [
        name
        for name in latency.column_names
        if name not in ("deliveries", "sampled") and not name.startswith(("queue_", "handle_"))
    ]


def _sampled_note(latency: pa.Table) -> str:
    """The ``sampled`` flag as words in the title rather than a column (CSV and JSON keep the
    column): a yes/no column would push the group's own key off an 80-column table."""
    if "sampled" not in latency.column_names:
        return ""
    flags = latency["sampled"].to_pylist()
    if all(flags) or "run_id" not in latency.column_names:
        return " (a sampled run: over its stored events only)"
    run_ids = latency["run_id"].to_pylist()
    runs = sorted({run for run, flag in zip(run_ids, flags, strict=True) if flag})
    return f" (sampled, over stored events only: {', '.join(runs)})"


def unmatched_view(unmatched: pa.Table) -> pa.Table:
    """Trades in one run only, without the run id (``only_in`` says which, the heading says
    which run is a and which b)."""
    return unmatched.drop_columns([c for c in ("run_id",) if c in unmatched.column_names])


def config_view(config: pa.Table, summary: str) -> tuple[str, pa.Table]:
    """The configuration keys two runs differ in as a table titled by ``summary``
    (``RunComparison.config_summary``), or, when none differ, the summary alone as a verdict
    (and no table)."""
    if config.num_rows == 0:
        return summary, config
    sides = {side: pc.fill_null(config[side], ABSENT) for side in ("run_a", "run_b")}
    return f"configuration: {summary}", pa.table({"key": config["key"], **sides})


def divergence_view(divergence: pa.Table) -> tuple[str, pa.Table]:
    """The first divergence as a heading naming both events and one row per field that
    differs (payload fields one by one), so the difference is visible however long the
    payloads are."""
    if divergence.num_rows == 0:
        return "first divergence: none, the runs agree event for event", _fields([])
    row = {name: python_values(divergence[name])[0] for name in divergence.column_names}
    seq = row["seq"]
    if row["a_event_id"] is None or row["b_event_id"] is None:
        present, missing = ("a", "b") if row["b_event_id"] is None else ("b", "a")
        heading = (
            f"first divergence at seq {seq}: run {missing} has no event there, run {present} "
            f"has {row[f'{present}_event_id']}"
        )
    else:
        heading = (
            f"first divergence at seq {seq}: {row['a_event_id']} (run a) vs "
            f"{row['b_event_id']} (run b); fields that differ:"
        )
    fields: list[tuple[str, Any, Any]] = []
    for name in ("event_type", "sim_time", "source"):
        a, b = row[f"a_{name}"], row[f"b_{name}"]
        if a != b:
            fields.append((name, a, b))
    fields.extend(_payload_fields(row["a_payload"], row["b_payload"]))
    return heading, _fields(fields)


def _payload_fields(a_text: str | None, b_text: str | None) -> list[tuple[str, Any, Any]]:
    if a_text == b_text:
        return []
    a, b = _loads(a_text), _loads(b_text)
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return [("payload", a_text, b_text)]
    missing = object()
    return [
        (f"payload.{key}", _text(a.get(key, missing), missing), _text(b.get(key, missing), missing))
        for key in dict.fromkeys([*a, *b])
        if a.get(key, missing) != b.get(key, missing)
    ]


def _fields(rows: list[tuple[str, Any, Any]]) -> pa.Table:
    return pa.table(
        {
            "field": [r[0] for r in rows],
            "run_a": [_text(r[1]) for r in rows],
            "run_b": [_text(r[2]) for r in rows],
        },
        schema=pa.schema([("field", pa.string()), ("run_a", pa.string()), ("run_b", pa.string())]),
    )


def _loads(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def _text(value: Any, missing: object = None) -> str:
    if value is missing:
        return ABSENT
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if hasattr(value, "isoformat"):
        return str(value.isoformat(sep=" ") if hasattr(value, "hour") else value.isoformat())
    return orjson.dumps(value).decode()


def _any(table: pa.Table, column: str, test: Any) -> bool:
    if column not in table.column_names:
        return False
    return any(test(v) for v in pc.unique(table[column]).to_pylist())
