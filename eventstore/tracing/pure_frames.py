"""A dispatch's state as the pure-Python recorder keeps it, and what the recorder API hands
out of it: ``PureFrame`` views and the checks of what ``delivered`` and ``end`` are handed.

The state is a list indexed by the ``S_*`` constants (see below); ``_recorder.c`` keeps the same
fields in a C struct, and the texts of the errors here are its texts.
"""

from __future__ import annotations

from typing import Any, Final

from eventstore.tracing.lineage import Links

# A dispatch's state, the value of the recorder's ContextVar while its handlers run: a list,
# because the publish path reads and writes it for every event (list items are cheaper than
# attributes of a class instance, whose creation alone costs a Python-level __init__ call).
S_SEQ: Final = 0
S_ROOT: Final = 1
S_END: Final = 2  # the largest seq published during the dispatch so far
S_NESTED: Final = 3  # inclusive ns of deliveries nested in the running handler
S_PARENT: Final = 4  # the state of the dispatch this event was published in, or None
S_LINKS: Final = 5  # (seqs of the parents a publisher named, all its parents), or None
S_RECEIVED: Final = 6  # when the first handler received it (begin/delivered API), or None
S_CREATED: Final = 7
S_TOKEN: Final = 8  # the ContextVar token to reset at end (begin/delivered API), or ENDED
S_VIEW: Final = 9  # its PureFrame, once one was handed out (one per dispatch: ``is`` holds)
State = list[Any]
ENDED: Final = object()
"""``S_TOKEN`` of a dispatch ``end`` has ended."""


class PureFrame:
    """The ``Frame`` that ``begin``/``current`` hand out: a view of a dispatch's state."""

    __slots__ = ("state",)

    def __init__(self, state: State) -> None:
        self.state = state

    @property
    def seq(self) -> int:
        return int(self.state[S_SEQ])

    @property
    def root(self) -> int:
        return int(self.state[S_ROOT])

    @property
    def end(self) -> int:
        return int(self.state[S_END])


def _view(state: State) -> PureFrame:
    view = state[S_VIEW]
    if view is None:
        view = state[S_VIEW] = PureFrame(state)
    return view  # type: ignore[no-any-return]


OTHER_CONTEXT = (
    "end() of event %d was called in another thread or asyncio task than its begin(): the "
    "event is ended, but call end() where begin() was called, or its begin()'s context keeps "
    "it as the cause of what it publishes next"
)
"""Same text as ``OTHER_CONTEXT`` in ``_recorder.c``."""


def check_delivery(
    frame: object, handler: object, received_ns: object, processed_ns: object, error: object
) -> tuple[int, int]:
    """What ``delivered`` is handed (same texts as ``_recorder.c``): a frame, a name, clock
    readings in order and an error text; returns the readings as plain ints. Checked here, or a
    wrong value would fail the batch it is drained in, and with it the run."""
    check_frame(frame)
    received_ns = _clock_reading("received_ns", received_ns)
    processed_ns = _clock_reading("processed_ns", processed_ns)
    if processed_ns < received_ns:
        raise ValueError(
            f"processed_ns {processed_ns} is before received_ns {received_ns}: pass "
            "recorder.clock() read when the handler started, then when it returned"
        )
    if error is not None and not isinstance(error, str):
        raise TypeError(f"error must be str or None, not {type(error).__name__}")
    if not isinstance(handler, str):
        raise TypeError(f"a handler is recorded under its name, a string; got {handler!r}")
    return received_ns, processed_ns


def _clock_reading(name: str, value: object) -> int:
    if not isinstance(value, int):
        raise TypeError(
            f"{name} must be an int, a recorder.clock() reading; got {type(value).__name__}"
        )
    if not _INT64_MIN <= value <= _INT64_MAX:  # as PyLong_AsLongLong refuses it
        raise OverflowError(f"{name} {value} is too big to convert to a 64-bit clock reading")
    return int(value)  # a bool or an IntEnum as the int it is, as ``_recorder.c`` reads it


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def check_frame(frame: object) -> None:
    if not isinstance(frame, PureFrame):
        raise TypeError(
            f"expected a Frame from this recorder's begin(), not {type(frame).__name__}"
        )


def _name_ended_cause(parent: State, links: Links | None) -> Links:
    """The links of an event published in the context of an event whose dispatch has ended (an
    asyncio task or a thread its handler started, publishing after the handler returned): that
    event becomes its named cause, as ``caused_by=`` would name it, so its ``end_seq`` and its
    ancestors' reach the new event and ``effects`` still finds it (``_recorder.c`` does the
    same)."""
    seq, root = parent[S_SEQ], parent[S_ROOT]
    if links is None:
        return seq, root, ()
    _, min_root, extra = links
    return seq, root if min_root is None else min(root, min_root), extra
