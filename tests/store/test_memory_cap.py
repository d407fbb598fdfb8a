"""DuckDB's memory when eventstore reads a store: capped where eventstore opens the store for
itself, spilled to a directory of the store's own, and never a query lost to the cap."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pyarrow as pa
import pytest

from eventstore import open_store, queries
from eventstore.errors import StoreError
from eventstore.store.duckdb_memory import LIMIT_VARIABLE, READ_MEMORY_LIMIT

MIB = 2**20
LIMIT = "SELECT current_setting('memory_limit') AS limit_text"
# Under a 16 MB cap DuckDB can't hold the values of this median (quantile_cont can't spill).
MEDIAN = "SELECT quantile_cont(x, 0.5) AS median FROM range(3000000) AS t(x)"


def mebibytes(text: str) -> float:
    """DuckDB's ``122.0 MiB`` / ``18.8 GiB`` as MiB."""
    number, unit = text.split()
    return float(number) * {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024, "TiB": 1024**2}[unit]


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    path = tmp_path / "runs.duckdb"
    open_store(path).close()
    return path


def test_a_store_opened_with_a_limit_is_capped_and_one_without_is_not(db_file: Path) -> None:
    with open_store(db_file, read_only=True, memory_limit="64MB") as capped:
        assert mebibytes(capped.fetch_records(LIMIT)[0]["limit_text"]) == pytest.approx(61, 0.02)
    with open_store(db_file, read_only=True) as own:
        assert mebibytes(own.fetch_records(LIMIT)[0]["limit_text"]) > 512


def test_a_helper_given_a_path_reads_under_the_read_cap(
    db_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cap = float(READ_MEMORY_LIMIT.removesuffix("MB")) * 1e6 / MIB
    shown = queries.run_sql(db_file, LIMIT)["limit_text"][0].as_py()
    assert mebibytes(shown) == pytest.approx(cap, 0.02)
    monkeypatch.setenv(LIMIT_VARIABLE, "300MB")
    shown = queries.run_sql(db_file, LIMIT)["limit_text"][0].as_py()
    assert mebibytes(shown) == pytest.approx(286, 0.02)


def test_a_query_that_cannot_spill_runs_again_uncapped_and_the_cap_comes_back(
    db_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with open_store(db_file, read_only=True, memory_limit="16MB") as store, caplog.at_level("INFO"):
        assert store.fetch_arrow(MEDIAN)["median"].to_pylist() == [1499999.5]
        assert store.fetch_records(MEDIAN) == [{"median": 1499999.5}]
        streamed = pa.Table.from_batches(list(store.stream_arrow(MEDIAN)))
        assert streamed["median"].to_pylist() == [1499999.5]
        assert mebibytes(store.fetch_records(LIMIT)[0]["limit_text"]) < 16
    assert caplog.text.count("ran it again uncapped") == 3


def test_a_reader_spills_to_a_directory_of_its_own_that_goes_when_it_closes(
    db_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    groups = (
        "SELECT sum(k) AS s FROM "
        "(SELECT x % 3000000 AS k, count(*) FROM range(6000000) AS t(x) GROUP BY k)"
    )
    with open_store(db_file, read_only=True, memory_limit="32MB") as store:
        folder = Path(store.fetch_records("SELECT current_setting('temp_directory') AS d")[0]["d"])
        assert folder.parent == Path(tempfile.gettempdir())
        assert folder.name.startswith("eventstore-spill-") and not folder.exists()
        with caplog.at_level("INFO"):
            assert store.fetch_records(groups) == [{"s": 4499998500000}]
        assert folder.is_dir(), "the aggregate did not spill: the test proves nothing"
        assert "uncapped" not in caplog.text
    assert not folder.exists()
    assert not Path(f"{db_file}.tmp").exists()


def test_a_limit_that_is_no_size_is_one_clear_error(
    db_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(StoreError, match=r"memory limit 'lots' is not a size: give one such as"):
        open_store(db_file, read_only=True, memory_limit="lots")
    monkeypatch.setenv(LIMIT_VARIABLE, "plenty")
    with pytest.raises(StoreError, match=LIMIT_VARIABLE):
        queries.list_runs(db_file)


def test_a_payload_larger_than_the_tracing_cap_is_stored_and_the_run_completes(
    db_file: Path,
) -> None:
    """While a run is written DuckDB is held to ``TRACING_MEMORY_LIMIT`` (64 MB): a batch
    holding a bigger payload is loaded, and checkpointed, under DuckDB's own limit instead of
    failing the run's end (or invalidating the database)."""
    from datetime import datetime

    from eventstore import Event, EventTracer, TracedEventBus
    from eventstore.store.duckdb_writer import TRACING_MEMORY_LIMIT

    size = 70 * MIB
    assert size > mebibytes(TRACING_MEMORY_LIMIT.replace("MB", " MiB"))
    bus = TracedEventBus("main")
    with open_store(db_file, memory_limit="1GB") as store:
        with EventTracer(store=store, name="huge") as tracer:
            bus.set_tracer(tracer)
            bus.publish(Event("SMALL", datetime(2024, 1, 2), {"n": 1}))
            bus.publish(Event("HUGE", datetime(2024, 1, 2), {"blob": "x" * size}))
            bus.publish(Event("SMALL", datetime(2024, 1, 2), {"n": 2}))
        limit = store.fetch_arrow(LIMIT, {})["limit_text"][0].as_py()
        assert mebibytes(limit) == pytest.approx(mebibytes("953.6 MiB"), rel=0.01)  # 1GB back
    [run] = queries.run_sql(db_file, "SELECT status, event_count FROM runs").to_pylist()
    assert run == {"status": "completed", "event_count": 3}
    rows = queries.run_sql(
        db_file, "SELECT event_type, length(payload ->> 'blob') AS n FROM events ORDER BY seq"
    ).to_pylist()
    assert rows == [
        {"event_type": "SMALL", "n": None},
        {"event_type": "HUGE", "n": size},
        {"event_type": "SMALL", "n": None},
    ]
