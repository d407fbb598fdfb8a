"""The text a replaced payload value is stored as: its repr, cut short and never a crash.

A value the encoder replaces (``encoding.py``) is stored as its ``repr``, at most
``MAX_CHARS`` characters of it. The builtin ``repr`` of a container recurses in C, guarded by
Python's recursion limit: a program that raised that limit (``sys.setrecursionlimit(10**6)``)
and published a payload nested 100 000 levels deep would overflow the C stack and kill the
process, losing its run. So containers are written here, by a walk that stops at a fixed depth
(``MAX_LEVELS``, whatever the recursion limit) and at ``MAX_CHARS`` (a list of a million items
is not written whole to keep its first 10 000 characters). What it writes is what ``repr``
writes, up to where it stops: ``...`` marks a cut, ``[...]`` a container that holds itself.
Dataclasses are written as their generated repr writes them; other values are their own
``repr``.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

MAX_CHARS = 10_000
"""Characters kept of a replaced value's repr."""
MAX_LEVELS = 64
"""Containers deeper than this inside a replaced value are written ``...``."""

_BRACKETS: dict[type, tuple[str, str]] = {
    list: ("[", "]"),
    tuple: ("(", ")"),
    set: ("{", "}"),
    frozenset: ("frozenset({", "})"),
    deque: ("deque([", "])"),
}


def short_repr(obj: object) -> str:
    """``repr(obj)``, at most ``MAX_CHARS`` characters, containers cut at ``MAX_LEVELS``;
    a value whose repr raises is named by its type."""
    parts: list[str] = []
    try:
        _write(obj, parts, [MAX_CHARS], set(), 0)
    except _Full:
        pass
    except Exception:  # a repr that raises, or recurses without end
        return f"<{type(obj).__qualname__} without a usable repr>"
    return "".join(parts)[:MAX_CHARS]


class _Full(Exception):
    """``MAX_CHARS`` are written: stop walking."""


def _emit(text: str, parts: list[str], budget: list[int]) -> None:
    parts.append(text)
    budget[0] -= len(text)
    if budget[0] <= 0:
        raise _Full


def _write(obj: Any, parts: list[str], budget: list[int], path: set[int], level: int) -> None:
    """Append ``obj``'s repr to ``parts``; ``path`` holds the ids of the containers it is in."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        _write_dataclass(obj, parts, budget, path, level)
        return
    if isinstance(obj, Mapping):
        opening, closing = "{", "}"
    else:
        opening, closing = next(
            (pair for kind, pair in _BRACKETS.items() if isinstance(obj, kind)), ("", "")
        )
        if not opening:
            _emit(repr(obj), parts, budget)
            return
    fields = getattr(obj, "_fields", None) if isinstance(obj, tuple) else None
    if isinstance(fields, tuple):  # a named tuple: Point(x=1, y=2)
        opening, closing = f"{type(obj).__qualname__}(", ")"
    elif type(obj) is not dict and type(obj) not in _BRACKETS:
        opening = f"{type(obj).__qualname__}({opening}"
        closing = f"{closing})"
    if id(obj) in path or level >= MAX_LEVELS:
        _emit(f"{opening}...{closing}", parts, budget)
        return
    if isinstance(obj, set | frozenset) and not obj:
        _emit(f"{type(obj).__qualname__}()", parts, budget)
        return
    path.add(id(obj))
    _emit(opening, parts, budget)
    items: Iterable[Any] = obj.items() if isinstance(obj, Mapping) else obj
    for index, item in enumerate(items):
        if index:
            _emit(", ", parts, budget)
        if isinstance(fields, tuple) and index < len(fields):
            _emit(f"{fields[index]}=", parts, budget)
        if isinstance(obj, Mapping):
            _write(item[0], parts, budget, path, level + 1)
            _emit(": ", parts, budget)
            item = item[1]
        _write(item, parts, budget, path, level + 1)
    if type(obj) is tuple and len(obj) == 1:
        _emit(",", parts, budget)
    _emit(closing, parts, budget)
    path.discard(id(obj))


def _write_dataclass(
    obj: Any, parts: list[str], budget: list[int], path: set[int], level: int
) -> None:
    """``Name(field=value, ...)``, as a dataclass's generated repr writes it (a chain of nodes
    is as deep as a nested dict)."""
    name = type(obj).__qualname__
    if id(obj) in path or level >= MAX_LEVELS:
        _emit(f"{name}(...)", parts, budget)
        return
    path.add(id(obj))
    _emit(f"{name}(", parts, budget)
    shown = [field for field in dataclasses.fields(obj) if field.repr]
    for index, field in enumerate(shown):
        _emit(f"{', ' if index else ''}{field.name}=", parts, budget)
        _write(getattr(obj, field.name), parts, budget, path, level + 1)
    _emit(")", parts, budget)
    path.discard(id(obj))
