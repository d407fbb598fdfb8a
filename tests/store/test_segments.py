"""Segment files: batches read back whole, and a torn tail (a killed writer, a power loss
before fsync) costs only the batches it touches, never an earlier one."""

from __future__ import annotations

import os
import random
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from eventstore import Event, EventTracer, TracedEventBus
from eventstore.store.segments import (
    Segment,
    SegmentWriter,
    remove_run,
    run_segments,
    runs_with_segments,
    segments_root,
)
from eventstore.tracing.writer import InMemoryWriter, TraceBatch

RUN = "run/with odd:chars"


def traced_batches(bars: int = 120, batch_size: int = 16) -> list[TraceBatch]:
    """Real batches from the tracer: BARs, each with a SIGNAL caused by it."""
    writer = InMemoryWriter()
    bus = TracedEventBus("segments")

    def strategy(bar: Event) -> None:
        bus.publish(Event("SIGNAL", bar.timestamp, {"bar": bar.payload["i"]}), source="s")

    bus.subscribe("BAR", strategy)
    with EventTracer(store=writer, batch_size=batch_size, background=False) as tracer:
        bus.set_tracer(tracer)
        for i in range(bars):
            bus.publish(Event("BAR", datetime(2024, 1, 1) + timedelta(minutes=i), {"i": i}))
    return writer.batches


def write(root: Path, batches: list[TraceBatch]) -> Segment:
    segments = SegmentWriter(root, RUN, fsync_interval=0.0)
    for batch in batches:
        segments.append(batch)
    segment = segments.rotate()
    assert segment is not None
    return segment


def seqs(table: pa.Table) -> list[int]:
    return [int(s) for s in table.column("seq").to_pylist()]


@pytest.mark.parametrize("verify", [True, False])
def test_batches_read_back_whole(tmp_path: Path, verify: bool) -> None:
    batches = traced_batches()
    segment = write(tmp_path, batches)
    contents = segment.read(verify=verify)
    assert contents.batches == len(batches)
    assert contents.first_seq == 1
    assert contents.events.equals(pa.concat_tables([b.events for b in batches]))
    assert contents.deliveries.equals(pa.concat_tables([b.deliveries for b in batches]))
    assert contents.edges.equals(pa.concat_tables([b.edges for b in batches]))
    assert contents.end_updates.num_rows == sum(b.end_updates.num_rows for b in batches)
    assert tuple(contents.names) == batches[-1].names
    assert runs_with_segments(tmp_path) == [RUN]


def test_segments_rotate_and_each_holds_every_name(tmp_path: Path) -> None:
    batches = traced_batches()
    segments = SegmentWriter(tmp_path, RUN)
    segments.append(batches[0])
    segments.rotate()
    for batch in batches[1:]:
        segments.append(batch)
    segments.close()
    first, second = run_segments(tmp_path, RUN)
    head, tail = first.read(), second.read()
    assert second.read(verify=False) == tail  # a segment closed whole reads the same unchecked
    assert seqs(head.events) + seqs(tail.events) == list(range(1, 241))
    assert head.names == list(batches[0].names)
    assert tail.names == list(batches[-1].names)  # every name, from code 0: loadable alone
    assert tail.first_seq == batches[1].events.column("seq")[0].as_py()
    remove_run(tmp_path, RUN)
    assert not tmp_path.exists() or runs_with_segments(tmp_path) == []


@pytest.mark.parametrize("seed", range(6))
def test_a_torn_stream_keeps_the_whole_batches_before_it(tmp_path: Path, seed: int) -> None:
    """A stream cut anywhere (as by a power loss before fsync) keeps every batch it holds in
    full, and no batch whose rows are not all there."""
    rng = random.Random(seed)
    batches = traced_batches()
    segment = write(tmp_path, batches)
    stream = segment.path / rng.choice(["events.arrows", "deliveries.arrows", "edges.arrows"])
    size = stream.stat().st_size
    with stream.open("r+b") as f:
        f.truncate(rng.randint(0, size - 1))
    contents = segment.read()
    assert contents.batches < len(batches)
    kept = batches[: contents.batches]
    assert seqs(contents.events) == [s for b in kept for s in seqs(b.events)]
    assert contents.deliveries.num_rows == sum(b.deliveries.num_rows for b in kept)


def test_a_torn_commit_record_is_not_a_batch(tmp_path: Path) -> None:
    batches = traced_batches()
    segment = write(tmp_path, batches)
    log = segment.path / "batches"
    with log.open("r+b") as f:
        f.truncate(log.stat().st_size - 5)
    assert segment.read().batches == len(batches) - 1


def test_zeros_where_a_stream_should_be_stop_the_read(tmp_path: Path) -> None:
    """A power loss can leave a file's tail as zeros: those batches are not read."""
    batches = traced_batches()
    segment = write(tmp_path, batches)
    stream = segment.path / "events.arrows"
    size = stream.stat().st_size
    with stream.open("r+b") as f:
        f.seek(size // 2)
        f.write(b"\0" * (size - size // 2))
    contents = segment.read()
    assert 0 < contents.batches < len(batches)
    assert seqs(contents.events) == list(range(1, contents.events.num_rows + 1))


def test_a_deleted_segment_leaves_nothing_to_load(tmp_path: Path) -> None:
    segment = write(tmp_path, traced_batches())
    (segment.path / "batches").unlink()  # a crash halfway through delete()
    assert segment.read().batches == 0
    segment.delete()
    assert not segment.path.exists()


def test_segments_sit_beside_the_database(tmp_path: Path) -> None:
    assert segments_root(tmp_path / "runs.duckdb") == tmp_path / "runs.duckdb.segments"
    assert os.fspath(segments_root(Path("a/b.duckdb"))) == os.path.join("a", "b.duckdb.segments")


def test_a_segment_file_cut_before_its_schema_is_skipped(tmp_path: Path) -> None:
    """A kill right after a segment file was created leaves it empty or cut inside its schema
    message: recovery skips it (pyarrow says EOFError there, not ArrowInvalid)."""
    from eventstore.store.segments import _Stream

    empty = tmp_path / "events.arrows"
    empty.write_bytes(b"")
    assert _Stream.open(empty) is None
    empty.write_bytes(b"\xff\xff\xff\xff\x10")
    assert _Stream.open(empty) is None
