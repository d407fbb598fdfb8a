"""Checks of what a program hands an ``EventTracer``, before anything is recorded.

A wrong argument must fail where it is passed, naming the argument and what to pass instead,
not later as an ``AttributeError`` deep in the writer (a path given as ``store`` used to fail
at the first hand-off, and again at interpreter exit), or as a run row the query helpers can't
read (a ``close`` status outside the documented ones).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import orjson

from eventstore.errors import ConfigError
from eventstore.tracing.batch import utf8_safe
from eventstore.tracing.encoding import FAST_OPTIONS, PayloadEncoder

ENDING_STATUSES = ("completed", "failed", "interrupted")
"""What a program may end a run with; ``running`` and ``crashed`` are the store's to set."""

_CONFIG_OPTIONS = FAST_OPTIONS | orjson.OPT_NON_STR_KEYS
_WRITER_METHODS = ("begin_run", "write_batch", "end_run", "close")


def check_store(store: object) -> None:
    """``store`` must be None, a store (``open_store(...)``) or a ``BatchWriter``."""
    if store is None or hasattr(store, "batch_writer"):
        return
    if isinstance(store, str | os.PathLike):
        raise TypeError(
            f"store must be an open store, not the path {os.fspath(store)!r}: pass "
            f"store=open_store({os.fspath(store)!r})"
        )
    missing = [name for name in _WRITER_METHODS if not callable(getattr(store, name, None))]
    if missing:
        raise TypeError(
            f"store must be a store from open_store(...) or a BatchWriter, got "
            f"{type(store).__name__} (it has no {', '.join(missing)})"
        )


def check_whole_number(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")


def check_seconds(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a positive number of seconds, got {value!r}")
    if not value > 0:  # NaN too
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")


def check_wait(name: str, value: object) -> None:
    """A number of seconds to wait: 0 (don't wait) or more."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds (0 or more), got {value!r}")
    if not 0 <= value < float("inf"):  # NaN too
        raise ValueError(f"{name} must be a number of seconds (0 or more), got {value!r}")


def checked_text(name: str, value: object) -> str | None:
    """``value``, a string or None; text UTF-8 can't hold (a lone surrogate, as in a name made
    from an undecodable file name) backslash-escaped, as in payloads, or storing the run's row
    would fail."""
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a string or None, got {type(value).__name__}")
    return None if value is None else utf8_safe(value)


def checked_config(config: object) -> dict[str, Any]:
    """A copy of ``config`` as it is stored as JSON in ``runs.config``: each value converted as
    payloads are (``encoding.py``: a ``Decimal`` as its exact text, a path as its text, a set as
    a list, a duration as seconds, numpy scalars as numbers, an enum as its value, a datetime as
    ISO text), so a config holding what a program's settings commonly hold is accepted and the
    queries and ``compare`` read it; a value JSON can't hold still fails, naming its key."""
    if config is None:
        return {}
    if not isinstance(config, Mapping):
        raise ConfigError(
            f"config must be a mapping (it is stored as JSON in runs.config), got "
            f"{type(config).__name__}"
        )
    convert = PayloadEncoder().default
    copy: dict[Any, Any] = {}
    for key, value in dict(config).items():
        try:
            orjson.dumps({key: None}, option=orjson.OPT_NON_STR_KEYS)
            copy[key] = orjson.loads(orjson.dumps(value, default=convert, option=_CONFIG_OPTIONS))
        except (TypeError, orjson.JSONEncodeError) as exc:
            fix = (
                "drop the text UTF-8 can't hold (a lone surrogate, as from an undecodable file "
                "name: decode such names with errors='replace')"
                if "surrogates not allowed" in str(exc)
                else "pass it as a string, number, list or dict (e.g. str(value))"
            )
            raise ConfigError(
                f"config[{key!r}] can't be stored as JSON in runs.config ({exc}): {fix}"
            ) from None
    return copy


def check_ending(status: object) -> None:
    if status not in ENDING_STATUSES:
        raise ValueError(
            f"a run ends {', '.join(map(repr, ENDING_STATUSES))}, not {status!r}: "
            "pass one of them to close()"
        )
