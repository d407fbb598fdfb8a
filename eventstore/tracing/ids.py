"""Run and event ids: unique across every run in a store, with no random draw per event.

A run draws one random tag; its events are ``<tag>-<seq>``. Two runs collide only if their
tags do, and a store refuses a tag it already holds, so ids never repeat within a store.
"""

from __future__ import annotations

import secrets
from datetime import datetime

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case: no i, l, o, u


def new_run_tag(length: int = 10) -> str:
    """A random tag of ``length`` base32 characters (50 bits for the default length)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_correlation_id(started_at: datetime, tag: str) -> str:
    """A readable, time-ordered run id such as ``run-20261125-074912-3k9x2m7q1d``."""
    return f"run-{started_at:%Y%m%d-%H%M%S}-{tag}"


def event_id(tag: str, seq: int) -> str:
    return f"{tag}-{seq}"


def seq_of(event_id: str, tag: str) -> int | None:
    """The sequence number of an id of run ``tag``, or None if the id belongs elsewhere."""
    return seq_in(event_id, f"{tag}-")


def seq_in(event_id: str, prefix: str) -> int | None:
    """The seq of an id made of ``prefix`` and ASCII digits, as recorders make them, else None."""
    if not event_id.startswith(prefix):
        return None
    number = event_id[len(prefix) :]
    return int(number) if number.isascii() and number.isdigit() else None
