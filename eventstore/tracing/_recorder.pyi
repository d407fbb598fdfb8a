"""Types of the compiled recorder (``_recorder.c``); the API is described in ``recorder.py``."""

from collections.abc import Callable, Iterable
from typing import Any, final

from eventstore.bus import Handler
from eventstore.events import Event
from eventstore.tracing.recorder import ErrorHook, NamedHandlers, Parent, RecorderHooks

# (null_count, validity bitmap or None, data) or, for strings, (null_count, validity or None,
# offsets, data)
Column = tuple[Any, ...]
Table = tuple[int, tuple[Column, ...]]
Taken = tuple[Table, Table, Table, Table, tuple[str, ...]]

@final
class Frame:
    @property
    def seq(self) -> int: ...
    @property
    def root(self) -> int: ...
    @property
    def end(self) -> int: ...

@final
class Publisher:
    """A traced bus's ``publish``, made by ``Recorder.publisher``."""

    def __call__(
        self,
        event: Event,
        source: object = None,
        *,
        caused_by: Parent | None = None,
        parents: Iterable[tuple[str, Parent]] = (),
    ) -> None: ...

class Recorder:
    def __init__(self, id_prefix: str, batch_size: int, hooks: RecorderHooks) -> None: ...
    @property
    def origin_ns(self) -> int: ...
    @property
    def event_count(self) -> int: ...
    @property
    def pending(self) -> int: ...
    @property
    def closed(self) -> bool: ...
    @property
    def lineage_exact(self) -> bool: ...
    def clock(self) -> int: ...
    def current(self) -> Frame | None: ...
    def begin(
        self,
        event: Event,
        source: object = None,
        caused_by: Parent | None = None,
        parents: Iterable[tuple[str, Parent]] = (),
    ) -> Frame: ...
    def delivered(
        self,
        frame: Frame,
        handler: str,
        received_ns: int,
        processed_ns: int,
        error: str | None = None,
    ) -> None: ...
    def end(self, frame: Frame) -> None: ...
    def publish(
        self,
        event: Event,
        source: object,
        handlers: NamedHandlers | None,
        dispatch: Callable[[Event, Handler], object] | None = None,
        on_error: ErrorHook | None = None,
        caused_by: Parent | None = None,
        parents: Iterable[tuple[str, Parent]] = (),
    ) -> None: ...
    def publisher(
        self,
        handlers_by_type: dict[str, NamedHandlers],
        dispatch: Callable[[Event, Handler], object] | None,
        on_error: ErrorHook | None,
    ) -> Publisher: ...
    def raise_end(self, seq: int, end: int, /) -> None: ...
    def lookup(self, seq: int, /) -> tuple[int | None, int] | None: ...
    def take(self, keep: bool, /) -> Taken: ...
    def begin_close(self) -> None: ...
    def open_frames(self) -> list[tuple[int, int]]: ...
    def close(self) -> None: ...

def set_time_converter(converter: Callable[[Any], int | None], /) -> None:
    """Register how an event time that is no datetime or date becomes microseconds since 1970."""
