"""What a backtest run traded, as tables: its orders and fills, its equity curve, and its
result as ``eventstore run`` prints it when the run ends.

The demo portfolio publishes a PORTFOLIO_UPDATE after every FILL (caused by it) holding
``cash``, ``market_value`` and ``equity``; any event-driven system that does the same gets an
equity curve. Values are read from the stored payloads, so they are exactly what the run saw.
A backtest that made no trades has no such event; its configuration (``runs.config``) still
records its ``initial_cash``, which it held throughout: that is its flat curve.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
import pyarrow as pa

from eventstore.store import Store

from .configs import run_config
from .refs import resolve_run
from .sampling import sampled_runs
from .sql_files import fetch_records, fetch_table
from .store_access import StoreLike, opened

TRADE_TYPES = ("ORDER", "FILL")
_TEXT_FIELDS = ("symbol", "side")
_NUMBER_FIELDS = ("quantity", "price", "commission")


def trade_events(
    store: StoreLike, run_id: str, event_types: tuple[str, ...] = TRADE_TYPES
) -> pa.Table:
    """Events of ``event_types`` in a run (id, prefix or ``latest``), in publication order:
    ``seq``, ``event_id``, ``event_type``, ``sim_time``, ``source``, ``causation_id`` and
    ``payload`` (JSON text)."""
    with opened(store) as db:
        run = resolve_run(db, run_id)
        return fetch_table(
            db, "trade_events", {"run_id": run.run_id, "event_types": list(event_types)}
        )


def orders_and_fills(store: StoreLike, run_id: str) -> pa.Table:
    """A run's orders and fills with their common payload fields as columns (``symbol``,
    ``side``, ``quantity``, ``price``, ``commission``; null where a payload lacks one)."""
    table = trade_events(store, run_id)
    payloads = [_payload(text) for text in table["payload"].to_pylist()]
    columns: dict[str, list[Any]] = {
        name: table[name].to_pylist()
        for name in ("seq", "event_id", "event_type", "sim_time", "source", "causation_id")
    }
    for name in _TEXT_FIELDS:
        columns[name] = pa.array([_scalar(p.get(name)) for p in payloads], pa.string())
    for name in _NUMBER_FIELDS:
        columns[name] = pa.array([_number(p.get(name)) for p in payloads], pa.float64())
    return pa.table(columns)


EQUITY_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("seq", pa.int64()),
        ("sim_time", pa.timestamp("us")),
        ("equity", pa.float64()),
        ("cash", pa.float64()),
        ("market_value", pa.float64()),
        ("fill_id", pa.string()),
        ("side", pa.string()),
        ("symbol", pa.string()),
        ("quantity", pa.float64()),
        ("price", pa.float64()),
    ]
)


def equity_curve(store: StoreLike, run_id: str) -> pa.Table:
    """One row per PORTFOLIO_UPDATE that carries ``equity``, in publication order: its
    ``sim_time``, ``equity``, ``cash``, ``market_value``, and the FILL that caused it
    (``fill_id``, ``side``, ``symbol``, ``quantity``, ``price``; null when none did)."""
    with opened(store) as db:
        run = resolve_run(db, run_id).run_id
        table = trade_events(db, run, ("FILL", "PORTFOLIO_UPDATE"))
    fills: dict[str, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    for event in table.to_pylist():
        payload = _payload(event["payload"])
        if event["event_type"] == "FILL":
            fills[event["event_id"]] = payload
            continue
        if not isinstance(payload.get("equity"), int | float):
            continue
        fill = fills.get(event["causation_id"] or "")
        rows.append(
            {
                "run_id": run,
                "seq": event["seq"],
                "sim_time": event["sim_time"],
                "equity": float(payload["equity"]),
                "cash": _number(payload.get("cash")),
                "market_value": _number(payload.get("market_value")),
                "fill_id": event["causation_id"] if fill is not None else None,
                "side": None if fill is None else _text(fill.get("side")),
                "symbol": None if fill is None else _text(fill.get("symbol")),
                "quantity": None if fill is None else _number(fill.get("quantity")),
                "price": None if fill is None else _number(fill.get("price")),
            }
        )
    return pa.Table.from_pylist(rows, schema=EQUITY_SCHEMA)


def initial_cash(store: StoreLike, run_id: str) -> float | None:
    """The ``initial_cash`` a run's configuration records (a backtest's always does); None
    when it records none, as in a run of a system that is not a backtest."""
    with opened(store) as db:
        config = run_config(db, resolve_run(db, run_id).run_id)
    return _number(config.get("initial_cash"))


def flat_equity_curve(store: StoreLike, run_id: str, cash: float) -> pa.Table:
    """The equity curve of a run that made no trades: two rows at ``cash``, at the earliest
    and the latest ``sim_time`` of its events (no rows when none has one)."""
    with opened(store) as db:
        run = resolve_run(db, run_id).run_id
        span = fetch_records(db, "run_sim_span", {"run_id": run})[0]
    if span["first_time"] is None:
        return EQUITY_SCHEMA.empty_table()
    rows = [
        {"run_id": run, "sim_time": span[at], "equity": cash, "cash": cash, "market_value": 0.0}
        for at in ("first_time", "last_time")
    ]
    return pa.Table.from_pylist(rows, schema=EQUITY_SCHEMA)


def equity_over_run(store: StoreLike, run_id: str, curve: pa.Table) -> pa.Table:
    """``curve`` (the run's ``equity_curve``) as it is drawn: from the run's first simulated
    time at its initial cash (when its configuration records one), which it held until its
    first fill. Equity is known only at each portfolio update, so a plot draws it as steps
    that hold it until the next one, not lines that guess between them. The curve ends at the
    last update: after it, equity moves with prices that no event records."""
    if not curve.num_rows:
        return curve
    with opened(store) as db:
        run = resolve_run(db, run_id).run_id
        span = fetch_records(db, "run_sim_span", {"run_id": run})[0]
        cash = initial_cash(db, run)
    rows = curve.to_pylist()
    first = span["first_time"]
    if cash is not None and first is not None and first < rows[0]["sim_time"]:
        start = {"run_id": run, "sim_time": first, "equity": cash, "cash": cash}
        rows.insert(0, {**start, "market_value": 0.0})
    return pa.Table.from_pylist(rows, schema=EQUITY_SCHEMA)


TRADING_SCHEMA = pa.schema(
    [
        ("bars", pa.int64()),
        ("orders", pa.int64()),
        ("fills", pa.int64()),
        ("rejected_signals", pa.int64()),
        ("open_orders", pa.int64()),
        ("commissions", pa.float64()),
        ("initial_cash", pa.float64()),
        ("final_equity", pa.float64()),
        ("total_return", pa.float64()),
    ]
)
"""A backtest's result: events published (``open_orders``: orders never filled), money
(commissions paid, cash at the start, equity at the end) and ``total_return`` (a fraction)."""

_FINAL_STATE_TYPES = ("BAR", "FILL", "PORTFOLIO_UPDATE")
"""The events the final portfolio is read from: a run that left some out (sampled) has none."""


def trading_result(store: StoreLike, run_id: str) -> pa.Table:
    """What a backtest run (id, prefix or ``latest``) traded, read from the store: one row of
    ``TRADING_SCHEMA``, the figures ``eventstore run`` prints when the run ends. No row for a
    run whose configuration records no ``initial_cash``: not a backtest, nothing traded.

    Counts are of events published (a sampled run's stored ones plus those it left out);
    every order fills once, whole, as the demo's execution fills it. Final equity is the cash
    of the last PORTFOLIO_UPDATE plus its positions marked at each symbol's last BAR close,
    summed as the portfolio sums it, so it is the same float; null (with commissions and
    return) when the run left out BAR, FILL or PORTFOLIO_UPDATE events, or made fills without
    a portfolio update that holds cash and positions."""
    with opened(store) as db:
        run = resolve_run(db, run_id).run_id
        cash = initial_cash(db, run)
        if cash is None:
            return TRADING_SCHEMA.empty_table()
        params = {"run_id": run}
        stored = {r["event_type"]: r["events"] for r in fetch_records(db, "event_counts", params)}
        left_out = (sampled_runs(db, [run]).get(run) or {}).get("sampled_out", {})
        counts = {
            kind: int(stored.get(kind, 0)) + int(left_out.get(kind, 0))
            for kind in ("BAR", "ORDER", "FILL", "SIGNAL_REJECTED")
        }
        commissions, equity = None, None
        if not any(left_out.get(kind) for kind in _FINAL_STATE_TYPES):
            commissions, equity = _final_state(db, run, cash, counts["FILL"])
    row = {
        "bars": counts["BAR"],
        "orders": counts["ORDER"],
        "fills": counts["FILL"],
        "rejected_signals": counts["SIGNAL_REJECTED"],
        "open_orders": counts["ORDER"] - counts["FILL"],
        "commissions": commissions,
        "initial_cash": cash,
        "final_equity": equity,
        "total_return": None if equity is None else equity / cash - 1.0,
    }
    return pa.Table.from_pylist([row], schema=TRADING_SCHEMA)


def _final_state(db: Store, run: str, cash: float, fills: int) -> tuple[float | None, float | None]:
    """(commissions, equity) when the run ended, as its portfolio held them."""
    updates = fetch_records(db, "last_portfolio_update", {"run_id": run})
    if not updates:
        return (0.0, cash) if fills == 0 else (None, None)
    portfolio = _payload(updates[0]["payload"])
    bars = fetch_records(db, "last_bars", {"run_id": run, "after_seq": updates[0]["seq"]})
    positions, marks = portfolio.get("positions"), portfolio.get("prices")
    if not (isinstance(positions, dict) and isinstance(marks, dict)):
        return _number(portfolio.get("commissions")), None
    for bar in bars:
        fields = _payload(bar["payload"])
        marks[fields.get("symbol")] = fields.get("close")
    held, commissions = _number(portfolio.get("cash")), _number(portfolio.get("commissions"))
    try:  # the portfolio's own sum, in its order: the same float
        market_value = sum(quantity * marks[symbol] for symbol, quantity in positions.items())
    except (KeyError, TypeError):  # a position with no numeric mark: equity is not known
        return commissions, None
    return commissions, None if held is None else held + market_value


def _payload(value: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """A payload as a dict: JSON text (DuckDB) or a mapping (PostgreSQL's driver)."""
    if isinstance(value, Mapping):
        return dict(value)
    if not value:
        return {}
    loaded = orjson.loads(value)
    return loaded if isinstance(loaded, dict) else {"value": loaded}


def _scalar(value: Any) -> str | None:
    """A payload value as text for a table column (types vary between payloads)."""
    if value is None:
        return None
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
