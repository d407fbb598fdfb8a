"""Payload encoding: JSON that keeps what trading payloads hold, and never fails a run.

Payloads are encoded when an event is published (so a payload mutated later is stored as it was
published), with orjson: numpy scalars and arrays, datetime, date, UUID, enums and dataclasses
natively; numpy arrays orjson refuses (a column of a matrix, text or objects) as lists. A
pydantic model is stored as its fields (``model_dump()``), a ``time`` with a zone as its ISO
text, any other mapping as a dict. ``Decimal`` becomes its exact string, sets, tuples
and deques become lists, a ``timedelta`` (or numpy ``timedelta64``) its seconds (a number, so
``(payload->>'held')::DOUBLE`` sums), a path its text and bytes their base64 text (JSON's usual
form for binary). JSON has no NaN or infinity: they are stored as ``null``.

When the fast path fails, the payload is encoded value by value (a dataclass or a model field
by field), so only what JSON can't hold is replaced and the rest stays queryable
(``payload->>'price'``): an object of no JSON kind, an integer beyond 64 bits, containers
(dataclasses and models too: a chain of nodes) nested deeper than ``MAX_DEPTH`` and a
container inside itself (a cycle) become ``{"__unencodable__": "<repr>"}`` (at most 10 000
characters of it, written without recursing as deep as Python's recursion limit allows:
``short_repr.py``); text UTF-8 can't hold (a lone surrogate) is stored backslash-escaped; a
non-string key becomes its string (``1`` → ``"1"``, ``(1, 2)`` → ``"(1, 2)"``), renamed
``"1 (int)"`` if a key of the same text is already there, so no object has two equal keys.
Each replacement is counted on the run (``runs.unencodable_count``) and logged once per kind.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import logging
import sys
from collections import deque
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import PurePath
from typing import Any
from uuid import UUID

import numpy as np
import orjson

from eventstore.tracing.recorder import describe_error
from eventstore.tracing.short_repr import short_repr

logger = logging.getLogger(__name__)

UNENCODABLE_KEY = "__unencodable__"
FAST_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
MAX_DEPTH = 254
"""Deepest nesting kept (orjson's own limit); deeper containers are replaced."""
_INT_RANGE = range(-(2**63), 2**64)  # what JSON numbers orjson writes can hold
_SECOND = timedelta(seconds=1)
_NUMPY_SECOND = np.timedelta64(1, "s")


class PayloadEncoder:
    """Encodes payloads to JSON text and counts the values it had to replace.

    The recorder calls ``orjson.dumps(payload, default=encoder.default, option=FAST_OPTIONS)``
    inline and ``encode`` only when that raises. ``default`` converts what it knows and raises
    for the rest, never replacing: a fast attempt that fails after it replaced a value would
    count that value again in ``encode`` (and the pure recorder makes two attempts).
    """

    def __init__(self) -> None:
        self.unencodable_count = 0
        self._warned: set[str] = set()

    def default(self, obj: Any) -> Any:
        if isinstance(obj, Decimal):
            return str(obj)
        if isinstance(obj, set | frozenset | tuple | deque):
            return list(obj)
        if isinstance(obj, timedelta):
            return obj / _SECOND
        if isinstance(obj, PurePath):
            return str(obj)
        if isinstance(obj, bytes | bytearray | memoryview):
            return base64.b64encode(obj).decode("ascii")
        if isinstance(obj, Mapping):  # a mapping that is no dict (a read-only view)
            return dict(obj)
        if isinstance(obj, np.ndarray):
            # orjson writes C-contiguous arrays of numbers, bools and datetimes: a column or a
            # strided slice of one (``bars[:, 3]``, ``closes[::5]``) is copied into one; any
            # other array (text, objects, 0-d, masked, or one orjson still refused) is a list.
            if obj.ndim and obj.dtype.kind in "biufM" and not obj.flags.c_contiguous:
                return np.ascontiguousarray(obj)
            return obj.tolist()
        if isinstance(obj, np.timedelta64):  # as a timedelta: seconds (NaT: null)
            return float(obj / _NUMPY_SECOND)
        fields = _fields_of(obj)
        if fields is not None:
            return fields
        raise TypeError(f"type {type(obj).__qualname__} is not JSON serializable")

    def encode(self, payload: Any) -> str:
        """Encode anything, replacing only what JSON can't hold; never raises."""
        try:
            return orjson.dumps(self._clean(payload, 1, set()), option=FAST_OPTIONS).decode()
        except Exception as exc:  # a bug of ours must still not fail the run
            return orjson.dumps(self._replace(payload, f"payload ({describe_error(exc)})")).decode()

    def _clean(self, value: Any, depth: int, path: set[int]) -> Any:
        """``value`` with every part orjson can't write replaced (see the module docstring);
        ``path`` holds the ids of the containers ``value`` is in."""
        if value is None or isinstance(value, bool | float):
            return value
        if isinstance(value, str):
            return _utf8(value) if _encodable(value) else self._escaped(value)
        if isinstance(value, int) and not isinstance(value, enum.Enum):
            return value if value in _INT_RANGE else self._replace(value, "an int beyond 64 bits")
        if isinstance(value, time) and value.tzinfo is not None:  # orjson refuses a zone
            return value.isoformat()
        container = isinstance(value, Mapping | list | tuple | set | frozenset | deque)
        fields = None if container else _fields_of(value)
        if not container and fields is None:
            try:  # numpy, datetime, UUID, enums, Decimal: orjson or ``default``
                dumped = orjson.dumps(value, default=self.default, option=FAST_OPTIONS)
                return orjson.Fragment(dumped)
            except Exception:
                return self._replace(value, f"type {type(value).__qualname__}")
        if id(value) in path:
            # Walked again, a container that holds itself would be replaced only at
            # MAX_DEPTH, after a walk that doubles with each second reference it holds.
            return self._replace(value, "a container that holds itself")
        if depth >= MAX_DEPTH:  # the replacement is one level deeper
            return self._replace(value, f"nesting deeper than {MAX_DEPTH}")
        path.add(id(value))
        if fields is not None:  # field by field, so a bad field leaves the others
            clean: Any = self._clean_mapping(fields, depth, path)
        elif isinstance(value, Mapping):
            clean = self._clean_mapping(value, depth, path)
        else:
            clean = [self._clean(item, depth + 1, path) for item in value]
        path.discard(id(value))
        return clean

    def _clean_mapping(
        self, mapping: Mapping[Any, Any], depth: int, path: set[int]
    ) -> dict[str, Any]:
        items = list(mapping.items())
        clean: dict[str, Any] = {}
        # String keys first: they keep their text; a non-string key whose text collides with
        # one of them is renamed.
        for key, value in items:
            if isinstance(key, str):
                text = key if _encodable(key) else self._escaped(key)
                clean[text] = self._clean(value, depth + 1, path)
        for key, value in items:
            if isinstance(key, str):
                continue
            text = self._key_text(key)
            if text in clean:
                self._count(f"a key of type {type(key).__qualname__} colliding with another")
                base, n = f"{text} ({type(key).__qualname__})", 1
                text = base
                while text in clean:
                    n += 1
                    text = f"{base} {n}"
            clean[text] = self._clean(value, depth + 1, path)
        return clean

    def _key_text(self, key: Any) -> str:
        """A key as orjson's OPT_NON_STR_KEYS writes it, or its str() for other kinds."""
        if key is None or isinstance(key, bool | int | float | enum.Enum | UUID):
            return orjson.dumps({key: 0}, option=orjson.OPT_NON_STR_KEYS).decode()[2:-4]
        if isinstance(key, datetime | date | time):
            return key.isoformat()
        self._count(f"a key of type {type(key).__qualname__}")
        return _utf8(short_repr(key) if not isinstance(key, str) else key)

    def _escaped(self, text: str) -> str:
        self._count("text UTF-8 can't hold")
        return _utf8(text)

    def _replace(self, obj: Any, kind: str) -> dict[str, str]:
        self._count(kind)
        return {UNENCODABLE_KEY: _utf8(short_repr(obj))}

    def _count(self, kind: str) -> None:
        self.unencodable_count += 1
        if kind not in self._warned:
            self._warned.add(kind)
            logger.warning(
                "a payload value JSON can't hold as it is (%s) was replaced as documented in "
                "eventstore.tracing.encoding; runs.unencodable_count counts replacements",
                kind,
            )


def _fields_of(value: Any) -> dict[str, Any] | None:
    """The fields of a dataclass instance or a pydantic model (``model_dump()``), else None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    pydantic = sys.modules.get("pydantic")  # loaded if the program made a model
    if pydantic is not None and isinstance(value, pydantic.BaseModel):
        fields: dict[str, Any] = value.model_dump()
        return fields
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _utf8(text: str) -> str:
    """``text`` with what UTF-8 can't hold backslash-escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
