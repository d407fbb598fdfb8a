"""Query results' values as Python objects and as plain text, for every type a query can
return: what the terminal tables, CSV and JSON all start from, and the one rounding (``snap``)
that makes a figure read the same from DuckDB and PostgreSQL."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa


def snap(value: float) -> float:
    """``value`` to 12 significant digits: the same number for one figure from any engine.

    DuckDB and PostgreSQL compute one percentile or ratio to neighbouring doubles, so a value
    that is a half-way point in decimal (758.5 ns as 0.0007585 ms) would print rounded up
    from one and down from the other, and 0.9999999999999999 would not read as a whole 1."""
    return float(f"{value:.12g}")


def dumps(value: Any) -> str:
    """``value`` as JSON text: decimals as text, durations as seconds, any key as text."""
    return orjson.dumps(value, default=_json_default, option=orjson.OPT_NON_STR_KEYS).decode()


def parsed(value: Any) -> Any:
    """JSON text as itself inside the output (text that is not JSON stays a string): copied,
    not parsed and written again, so a payload nested as deep as the store keeps one (254
    levels) does not exceed orjson's depth limit once inside the array of rows."""
    if not isinstance(value, str):
        return value
    try:
        orjson.loads(value)
    except orjson.JSONDecodeError:
        return value
    return orjson.Fragment(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def python_values(column: pa.ChunkedArray | pa.Array) -> list[Any]:
    """A column's values as Python objects, for every type a query can return.

    Integral floats become ints (a count computed in floating point is still a count);
    intervals become ISO 8601 durations; timestamps Python's ``datetime`` can't hold
    (nanoseconds, ±infinity, years beyond 9999) become ISO 8601 text or ``infinity``.
    """
    kind = column.type
    if pa.types.is_interval(kind):
        return [None if v is None else _iso_duration(v) for v in column.to_pylist()]
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return _temporal(column)
    values: list[Any] = column.to_pylist()
    if pa.types.is_floating(kind):
        return [_integral(v) for v in values]
    return values


def _integral(value: float | None) -> float | int | None:
    if value is not None and math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _temporal(column: pa.ChunkedArray | pa.Array) -> list[Any]:
    kind = column.type
    if not (pa.types.is_timestamp(kind) and kind.unit == "ns"):
        try:
            return list(column.to_pylist())
        except (ValueError, OverflowError):
            pass  # ±infinity or a year Python can't hold: value by value below
    return [_temporal_value(scalar) for scalar in column]


_UNIT_NS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
_EPOCH = datetime(1970, 1, 1)


def _temporal_value(scalar: pa.Scalar) -> Any:
    if not scalar.is_valid:
        return None
    kind = scalar.type
    if pa.types.is_date32(kind):
        raw, unit_ns = int(scalar.cast(pa.int32()).as_py()), 86_400 * 10**9
    elif pa.types.is_date64(kind):
        raw, unit_ns = int(scalar.cast(pa.int64()).as_py()), 10**6
    else:
        raw, unit_ns = int(scalar.value), _UNIT_NS[kind.unit]
    nanos = raw * unit_ns
    try:
        moment = _EPOCH + timedelta(microseconds=nanos // 1000)
    except OverflowError:
        # DuckDB writes ±infinity as the type's extreme values.
        return "infinity" if raw > 0 else "-infinity"
    if pa.types.is_date(kind):
        return moment.date()
    if getattr(kind, "tz", None):
        moment = moment.replace(tzinfo=UTC)
    extra = nanos % 1000
    if not extra:
        return moment
    text = moment.isoformat(timespec="microseconds")
    split = text.index(".") + 7
    return f"{text[:split]}{extra:03d}{text[split:]}"


def _iso_duration(value: Any) -> str:
    """An Arrow month-day-nano interval as an ISO 8601 duration (``P1M2DT3.5S``)."""
    months, days, nanos = int(value.months), int(value.days), int(value.nanoseconds)
    sign = "-" if nanos < 0 else ""
    seconds = f"{abs(nanos) // 10**9}"
    if abs(nanos) % 10**9:
        seconds += f".{abs(nanos) % 10**9:09d}".rstrip("0")
    date_part = (f"{months}M" if months else "") + (f"{days}D" if days else "")
    time_part = f"T{sign}{seconds}S" if nanos or not date_part else ""
    return f"P{date_part}{time_part}"


def plain(value: Any) -> str:
    """A value as CSV holds it: times in ISO 8601, floats in full, structures as JSON."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict | list | tuple):  # structs, lists and maps: JSON, not a repr
        return dumps(value)
    return str(value)
