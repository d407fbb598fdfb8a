"""The compiled recorder's Python side: what only it does (the contract is in
``test_recorder_contract.py``)."""

from __future__ import annotations

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
