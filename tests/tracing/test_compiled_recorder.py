"""The compiled recorder's Python side: what only it does (the contract is in
``test_recorder_contract.py``)."""

from __future__ import annotations

import inspect

import numpy as np
import pyarrow as pa
import pytest

from eventstore.tracing import compiled_recorder


def test_load_honours_pure_python_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTSTORE_PURE_PYTHON", "1")
    assert compiled_recorder.load() is None


def test_text_past_the_string_limit_is_split_into_string_chunks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past 2 GiB of payload text the extension hands out int64 offsets; the column is then
    split into ``pa.string()`` chunks (shown here with a limit of 10 bytes)."""
    monkeypatch.setattr(compiled_recorder, "_STRING_LIMIT", 10)
    texts = ["abcd", "efghij", "klm", "nopqrstuvw", "x"]
    offsets = np.cumsum([0, *map(len, texts)]).astype(np.int64)
    column = (0, None, offsets.tobytes(), "".join(texts).encode())
    array = compiled_recorder._column(len(texts), pa.string(), column)
    assert isinstance(array, pa.ChunkedArray) and array.type == pa.string()
    assert array.to_pylist() == texts
    assert all(sum(map(len, chunk.to_pylist())) <= 10 for chunk in array.chunks)


@pytest.mark.skipif(not compiled_recorder._BUILT, reason="the extension is not built")
def test_methods_take_the_pure_twins_arguments_and_say_what_they_do() -> None:
    """``help()`` and ``inspect.signature`` of a compiled method show the arguments of its
    pure-Python twin and a sentence on what it does, not only a signature."""
    from eventstore.tracing.pure_recorder import PureRecorder

    for name in ("begin", "delivered", "end", "publish", "raise_end", "lookup", "close"):
        compiled = inspect.signature(getattr(compiled_recorder.CompiledRecorder, name))
        pure = inspect.signature(getattr(PureRecorder, name))
        assert list(compiled.parameters) == list(pure.parameters), name
        doc = getattr(compiled_recorder.CompiledRecorder, name).__doc__ or ""
        assert len(doc.split()) > 5 and not doc.startswith(name), name
