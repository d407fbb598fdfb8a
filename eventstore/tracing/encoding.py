"""Payload encoding: JSON that keeps what trading payloads hold, and never loses a batch.

Payloads are encoded when an event is published (so a payload mutated later is stored as it was
published), with orjson: numpy scalars and arrays, datetime, date, UUID, enums and dataclasses
natively. ``Decimal`` becomes its exact string, sets and tuples become lists, non-string keys
become strings. JSON has no NaN or infinity: they are stored as ``null``. Any other object is
stored as ``{"__unencodable__": "<repr>"}``, counted on the run (``runs.unencodable_count``) and
logged once per type, so one odd object never fails a backtest or costs a batch.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import orjson

logger = logging.getLogger(__name__)

UNENCODABLE_KEY = "__unencodable__"
FAST_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
_SLOW_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


class PayloadEncoder:
    """Encodes payloads to JSON text and counts the objects it had to fall back on.

    The publish path calls ``orjson.dumps(payload, default=encoder.default,
    option=FAST_OPTIONS)`` inline and ``encode`` only when that raises.
    """

    def __init__(self) -> None:
        self.unencodable_count = 0
        self._warned: set[str] = set()

    def default(self, obj: Any) -> Any:
        if isinstance(obj, Decimal):
            return str(obj)
        if isinstance(obj, set | frozenset | tuple):
            return list(obj)
        return self._fallback(obj)

    def _fallback(self, obj: Any) -> dict[str, str]:
        self.unencodable_count += 1
        kind = type(obj).__qualname__
        if kind not in self._warned:
            self._warned.add(kind)
            logger.warning(
                "payload value of type %s is not JSON-encodable: stored as its repr under %r",
                kind,
                UNENCODABLE_KEY,
            )
        return {UNENCODABLE_KEY: repr(obj)[:10_000]}

    def encode(self, payload: Any) -> str:
        """Encode anything, falling back as documented; never raises."""
        try:
            return orjson.dumps(payload, default=self.default, option=_SLOW_OPTIONS).decode()
        except (orjson.JSONEncodeError, TypeError, ValueError, RecursionError):
            # Not encodable even with the fallback (nested too deep, a cycle, a huge int).
            return orjson.dumps(self._fallback(payload)).decode()
