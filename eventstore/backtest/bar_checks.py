"""What every bar read from a file must satisfy, and how its time is read, for CSV and Parquet
alike: one set of rules and one wording of each problem, whatever the format.

Times are naive UTC (as events store them). A time may be text (ISO 8601, ``01/02/2024``,
``20240102``, ``202401020930``), or a number of seconds, milliseconds, microseconds or
nanoseconds since 1970-01-01 UTC, told apart by their digits: 9-10 (or with a fraction) are
seconds, 13 milliseconds, 16 microseconds, 19 nanoseconds. No other count is read as a time,
so a row number in the time column is an error, not a bar in 1970.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

from eventstore.errors import DataError

EPOCH = datetime(1970, 1, 1)

_FORMATS = ("%m/%d/%Y", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%Y%m%d %H:%M:%S", "%Y%m%d %H%M%S")
_DIGIT_FORMATS = {8: "%Y%m%d", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"}
_EPOCH_UNITS = {9: 1, 10: 1, 13: 1_000, 16: 1_000_000, 19: 1_000_000_000}
"""Digits of an epoch timestamp → its units per second."""

_TIME_HELP = (
    "use ISO 8601 (2024-01-02 or 2024-01-02 09:30:00) or epoch seconds or milliseconds "
    "(1704187800, 1704187800000)"
)


def parse_time(text: str, where: str) -> datetime:
    """The time ``text`` names (see the module docstring), or a ``DataError`` at ``where``."""
    if text[:1].isdigit() and text.replace(".", "", 1).isdigit():
        return _numeric_time(text, where)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        for fmt in _FORMATS:
            try:
                return datetime.strptime(text, fmt)
            except ValueError:
                continue
        raise DataError(f"{where}: cannot read {text!r} as a date/time: {_TIME_HELP}") from None
    return naive_utc(parsed)


def naive_utc(when: datetime | date) -> datetime:
    """A ``datetime`` in naive UTC: an aware time is converted, not stripped of its offset."""
    if not isinstance(when, datetime):
        return datetime(when.year, when.month, when.day)
    if when.tzinfo is not None:
        return when.astimezone(UTC).replace(tzinfo=None)
    return when


def epoch_time(value: int, where: str) -> datetime:
    """An integer epoch timestamp in the unit its digit count implies."""
    return _numeric_time(str(value), where)


def _numeric_time(text: str, where: str) -> datetime:
    whole, _, fraction = text.partition(".")
    digits = len(whole)
    try:
        if not fraction and digits in _DIGIT_FORMATS:
            return datetime.strptime(text, _DIGIT_FORMATS[digits])
        per_second = _EPOCH_UNITS.get(digits)
        if per_second == 1:
            micros = round(float(f"0.{fraction or 0}") * 1e6)
            return EPOCH + timedelta(seconds=int(whole), microseconds=micros)
        if per_second is not None and not fraction:
            seconds, rest = divmod(int(whole), per_second)
            return EPOCH + timedelta(seconds=seconds, microseconds=rest * 1_000_000 // per_second)
    except (ValueError, OverflowError):
        pass
    raise DataError(
        f"{where}: cannot read {text!r} as a date/time (a number of {digits} "
        f"digit{'s' if digits > 1 else ''} is neither a date nor an epoch timestamp): {_TIME_HELP}"
    )


FIELDS = ("open", "high", "low", "close", "volume")


def check_finite(where: str, name: str, value: float | None) -> float:
    """``value`` if it is a number, else a ``DataError`` (for sources that hold numbers)."""
    if value is None:
        raise DataError(f"{where}: {name} is missing: fill the gap or drop the row")
    if math.isnan(value) or math.isinf(value):
        raise DataError(f"{where}: {name} is {value}: fill the gap or drop the row")
    return float(value)


class BarChecks:
    """Checks one symbol's bars, in file order, their values already known to be numbers:
    positive prices, a high and low that contain the open and close, a volume not negative,
    times strictly increasing."""

    __slots__ = ("previous",)

    def __init__(self) -> None:
        self.previous: datetime | None = None

    def check(
        self,
        where: str,
        when: datetime,
        open_: float,
        high: float,
        low: float,
        close: float,
        volume: float,
    ) -> None:
        if min(open_, high, low, close) <= 0:
            prices = {"open": open_, "high": high, "low": low, "close": close}
            named = ", ".join(f"{name} {value}" for name, value in prices.items() if value <= 0)
            raise DataError(f"{where}: prices must be positive ({named}): fix the row")
        if high < max(open_, close) or low > min(open_, close):
            raise DataError(
                f"{where}: high {high} / low {low} do not contain open {open_} and close "
                f"{close}: fix the row"
            )
        if volume < 0:
            raise DataError(f"{where}: volume {volume} is negative: fix the row")
        previous = self.previous
        if previous is not None and when <= previous:
            raise DataError(
                f"{where}: time {when} is not after the previous row's {previous}: sort the "
                "file by time and remove duplicates"
            )
        self.previous = when
