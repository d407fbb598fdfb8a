"""Payload encoding: JSON that keeps what trading payloads hold, and never loses a batch.

Encoded with orjson (numpy scalars and arrays, datetime, date, enums and dataclasses natively).
``Decimal`` becomes its exact string, sets and tuples become lists, non-string keys become
strings. JSON has no NaN or infinity: they are stored as ``null``. Anything else is stored as
``{"__unencodable__": repr(obj)}`` and counted on the run (``runs.unencodable_count``), so one
odd object never costs a batch.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

UNENCODABLE_KEY = "__unencodable__"
_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


class PayloadEncoder:
    """Encodes payloads to UTF-8 JSON and counts the objects it had to fall back on."""

    def __init__(self) -> None:
        self.unencodable_count = 0

    def _default(self, obj: Any) -> Any:
        if isinstance(obj, Decimal):
            return str(obj)
        if isinstance(obj, set | frozenset | tuple):
            return list(obj)
        self.unencodable_count += 1
        return {UNENCODABLE_KEY: repr(obj)}

    def encode(self, payload: Any) -> bytes:
        try:
            return orjson.dumps(payload, default=self._default, option=_OPTIONS)
        except (orjson.JSONEncodeError, TypeError):
            # Not encodable even with the fallback (e.g. nested too deep, a cycle).
            self.unencodable_count += 1
            return orjson.dumps({UNENCODABLE_KEY: repr(payload)[:10_000]})
