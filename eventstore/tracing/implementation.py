"""Which recorder this process uses: the compiled one when it can be imported, else the
pure-Python twin. ``EVENTSTORE_PURE_PYTHON=1`` forces the twin (CI runs the suite both ways)."""

from __future__ import annotations

import importlib
import os

from eventstore.tracing.pure_recorder import PureRecorder
from eventstore.tracing.recorder import Recorder, RecorderHooks


def _compiled() -> type | None:
    if os.environ.get("EVENTSTORE_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        compiled = importlib.import_module("eventstore.tracing.compiled_recorder")
    except ImportError:
        return None
    recorder: type | None = compiled.load()
    return recorder


_COMPILED = _compiled()

RECORDER_NAME = "compiled" if _COMPILED is not None else "pure-Python"
"""What ``eventstore --version`` reports."""


def new_recorder(id_prefix: str, batch_size: int, hooks: RecorderHooks) -> Recorder:
    """A recorder of the implementation this process uses."""
    cls = _COMPILED if _COMPILED is not None else PureRecorder
    recorder: Recorder = cls(id_prefix, batch_size, hooks)
    return recorder
