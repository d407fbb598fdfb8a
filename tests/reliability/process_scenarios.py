"""Scenarios with real processes: SIGKILL, SIGINT/SIGTERM, uncaught exceptions, a real disk
write failure, a second writer and a reader racing a writer.

Each takes a fresh working directory and a random generator (to vary where the fault lands)
and returns an ``Outcome``; the tests assert it is ok, the report tabulates it.
"""

from __future__ import annotations

import random
import re
import signal
from pathlib import Path

from typer.testing import CliRunner

from eventstore import StoreLockedError, open_store
from eventstore.cli import app
from tests.reliability.harness import Child, Outcome, check_store, earlier_run, the_run
from tests.reliability.integrity import RunState, inspect_store


def _prepare(work: Path) -> tuple[Path, dict[str, RunState]]:
    db = work / "runs.duckdb"
    earlier_run(db)
    return db, inspect_store(db)


def _load_rows(rng: random.Random, batch: int) -> str:
    """Loads into DuckDB every few batches, or none before the end: both must keep the promise
    (what is written to a segment survives, whether loaded or not)."""
    return str(rng.choice([batch, 3 * batch, 200_000]))


def sigkill_between_batches(work: Path, rng: random.Random) -> Outcome:
    """Killed -9 while it holds recorded-but-unflushed events: exactly the written batches
    are stored after the next open (loaded from the segment files if they were not loaded
    yet), the run is ``crashed``, the earlier run is untouched."""
    db, before = _prepare(work)
    batch = 50
    batches, extra = rng.randint(1, 5), rng.randint(0, batch // 2 - 1)
    with Child.traced(
        "batches", db, work, "--batch", str(batch), "--hold-after", str(batches * batch),
        "--extra", str(extra), "--load-rows", _load_rows(rng, batch),
    ) as child:  # fmt: skip
        line = child.expect("holding")
        committed, _recorded = (int(n) for n in re.findall(r"=(\d+)", line))
        child.signal(signal.SIGKILL)
        child.finish()
    outcome = Outcome("SIGKILL between batches", committed, "?")
    # The first open after the kill is a reader's (`eventstore runs`): it shows it crashed too.
    with open_store(db, read_only=True) as store:
        seen = store.cursor().execute("SELECT status FROM runs WHERE name = 'child'").fetchall()
    outcome.check(seen == [("crashed",)], f"a read-only open right after the kill shows {seen}")
    states = check_store(outcome, db, before)
    run = the_run(states, before)
    if run is None:
        outcome.problems.append("the killed run is missing")
        return outcome
    outcome.found = run.stored
    outcome.check(run.stored == committed, f"{run.stored} events stored, {committed} committed")
    outcome.check(run.status == "crashed", f"status {run.status}, not crashed")
    return outcome


def sigkill_inside_commit(work: Path, rng: random.Random) -> Outcome:
    """Killed -9 after a load's rows were inserted but before its COMMIT: the segment it was
    loading is still on disk, so the next open stores every batch written, that one's too."""
    return _sigkill_at_a_load(work, rng, "before")


def sigkill_after_commit(work: Path, rng: random.Random) -> Outcome:
    """Killed -9 after a load's COMMIT but before its segment was deleted: the next open loads
    that segment again, replacing its rows, so every event is stored exactly once."""
    return _sigkill_at_a_load(work, rng, "after")


def _sigkill_at_a_load(work: Path, rng: random.Random, when: str) -> Outcome:
    """Loads run on the writer's loading thread while the program goes on writing batches, so
    what is stored is every batch reported written before the kill, and at most the one being
    written when it came (whole: a batch is recovered whole or not at all)."""
    db, before = _prepare(work)
    batch = 50
    argv = ["--batch", str(batch), "--load-rows", str(rng.choice([1, 3]) * batch)]
    argv += ["--gate", when, "--gate-at", str(rng.randint(1, 4))]
    with Child.traced("batches", db, work, *argv) as child:
        child.expect(f"{'in' if when == 'before' else 'after'}-commit")
        child.signal(signal.SIGKILL)
        child.finish()
    totals = [int(line.split()[1]) for line in child.lines if line.startswith("committed")]
    written = max(totals, default=0)
    name = f"SIGKILL {'inside' if when == 'before' else 'after'} a load's commit"
    outcome = Outcome(name, written, "?", at_least=True)
    states = check_store(outcome, db, before)
    run = the_run(states, before)
    if run is None:
        outcome.problems.append("the killed run is missing")
        return outcome
    outcome.found = run.stored
    outcome.check(
        written <= run.stored <= written + batch and run.stored % batch == 0,
        f"{run.stored} events stored, {written} reported written (batches of {batch})",
    )
    outcome.check(run.status == "crashed", f"status {run.status}, not crashed")
    return outcome


def sigkill_at_random_point(work: Path, rng: random.Random) -> Outcome:
    """Killed -9 at an arbitrary moment of a busy run (in the middle of appending a batch, of a
    load, of deleting a loaded segment…): whole batches only (a batch ends with a root's tree:
    every BAR with its SIGNAL), gapless, at least every batch it had reported written."""
    db, before = _prepare(work)
    batch = 37
    target = rng.randint(1, 30) * batch
    thread = ["--background"] if rng.random() < 0.5 else []  # commits on a writer thread
    loads = ["--load-rows", _load_rows(rng, batch)]
    with Child.traced("batches", db, work, "--batch", str(batch), *thread, *loads) as child:
        while int(child.expect("committed").split()[1]) < target:
            pass
        seen = int(child.lines[-1].split()[1])
        child.signal(signal.SIGKILL)
        child.finish()
    # Every total it reported before it died; one more commit may have landed unreported.
    totals = {int(line.split()[1]) for line in child.lines if line.startswith("committed")}
    outcome = Outcome("SIGKILL at a random point", seen, "?", at_least=True)
    states = check_store(outcome, db, before)
    run = the_run(states, before)
    if run is None:
        outcome.problems.append("the killed run is missing")
        return outcome
    outcome.found = run.stored
    outcome.check(run.stored >= seen, f"{run.stored} stored, {seen} were reported committed")
    outcome.check(
        run.stored in totals or run.stored > max(totals),
        f"{run.stored} stored is not a committed total ({sorted(totals)[-3:]})",
    )
    if not thread:  # (a writer thread's periodic flush may split a tree between batches)
        outcome.check(run.stored % 2 == 0, f"{run.stored} stored: a BAR without its SIGNAL")
    outcome.check(run.status == "crashed", f"status {run.status}, not crashed")
    return outcome


def _ended_run(
    name: str, db: Path, before: dict[str, RunState], expected: int, lost_at_most: int = 0
) -> tuple[Outcome, RunState | None]:
    """The run the scenario made, checked to hold ``expected`` events (of which the promise
    allows ``lost_at_most`` lost: a batch whose write failed)."""
    outcome = Outcome(name, expected, "?")
    states = check_store(outcome, db, before)
    run = the_run(states, before)
    if run is None:
        outcome.problems.append("the run is missing")
    else:
        outcome.found = run.stored
        outcome.check(
            expected - lost_at_most <= run.stored <= expected,
            f"{run.stored} events stored, {expected} published",
        )
    return outcome, run


def handler_exception(work: Path, rng: random.Random) -> Outcome:
    """A handler raises and the error escapes the program: ``failed`` with the error, every
    event published before it stored."""
    db, before = _prepare(work)
    bar = rng.randint(0, 300)
    with Child.traced("raise-in-handler", db, work, "--bars", str(bar), "--batch", "64") as child:
        code = child.finish()
        stderr = child.stderr()
    # Bars 0..bar each published a BAR and its SIGNAL; then the handler raised.
    outcome, run = _ended_run("exception in a handler", db, before, 2 * bar + 2)
    outcome.check(code == 1, f"exit code {code}")
    outcome.check(f"RuntimeError: strategy bug at bar {bar}" in stderr, "no traceback on stderr")
    if run is not None:
        error = f"RuntimeError: strategy bug at bar {bar}"
        outcome.check(run.status == "failed", f"status {run.status}")
        outcome.check(run.error == error, f"error {run.error!r}")
    return outcome


def uncaught_at_exit(work: Path, rng: random.Random) -> Outcome:
    """A tracer never closed, and an uncaught exception: the atexit hook flushes and ends the
    run ``failed`` with that exception."""
    db, before = _prepare(work)
    bars = rng.randint(1, 300)
    with Child.traced("raise-at-exit", db, work, "--bars", str(bars), "--batch", "64") as child:
        code = child.finish()
    outcome, run = _ended_run("uncaught exception, run never closed", db, before, 2 * bars)
    outcome.check(code == 1, f"exit code {code}")
    if run is not None:
        outcome.check(run.status == "failed", f"status {run.status}")
        error = "RuntimeError: uncaught at the top level"
        outcome.check(run.error == error, f"error {run.error!r}")
    return outcome


def _interrupted_by(signum: signal.Signals, work: Path, rng: random.Random) -> Outcome:
    db, before = _prepare(work)
    bars = rng.randint(1, 2000)
    with Child.traced("signal", db, work, "--bars", str(bars)) as child:
        published = int(child.expect("published").split()[1])
        child.signal(signum)
        said = child.expect("")
        code = child.finish()
    outcome, run = _ended_run(f"{signum.name} mid-run", db, before, published)
    outcome.check(said == "interrupted" and code == 130, f"child said {said!r}, exit {code}")
    if run is not None:
        status, error = run.status, run.error
        outcome.check(status == "interrupted", f"status {status}")
        wanted = "SIGTERM" if signum == signal.SIGTERM else "KeyboardInterrupt"
        outcome.check(error is not None and wanted in error, f"error {error!r}")
    return outcome


def sigint_mid_run(work: Path, rng: random.Random) -> Outcome:
    """Ctrl-C: ``interrupted``, with everything recorded (none of it flushed yet) stored."""
    return _interrupted_by(signal.SIGINT, work, rng)


def sigterm_mid_run(work: Path, rng: random.Random) -> Outcome:
    """``kill`` under ``sigterm_interrupts()``: the same as Ctrl-C."""
    return _interrupted_by(signal.SIGTERM, work, rng)


BATCH = 200
"""Events per batch in the full-disk scenarios."""


def disk_write_failure(work: Path, rng: random.Random) -> Outcome:
    """A real failed write: the file-size limit (RLIMIT_FSIZE) makes a write fail with EFBIG.
    Where it hits decides which of the README's two full-disk outcomes follows: a batch's
    write (the program gets TraceWriteError, the run ends ``failed`` saying why), or, when
    the batches fit, the run's last load (a StoreError saying the end could not be recorded,
    the run ``crashed``). Either way the committed events stay, no part of a failed batch is
    stored and the database still opens."""
    db, before = _prepare(work)
    bars = rng.randint(1, 100)
    with Child.traced("fsize", db, work, "--bars", str(bars), "--batch", str(BATCH)) as child:
        committed = int(child.expect("committed").split()[1])
        told = child.expect("")
        published = int(child.expect("published").split()[1])
        child.finish()
    # Not even the end could be written: every batch is kept but the one whose write failed.
    at_the_end = told.startswith("StoreError") and "could not be recorded" in told
    outcome, run = _ended_run(
        "disk write fails (file size limit)",
        db,
        before,
        published if at_the_end else committed,
        lost_at_most=BATCH if at_the_end else 0,
    )
    if at_the_end:
        outcome.check(run is None or run.stored >= committed, "committed events lost")
    outcome.check(
        told.startswith("TraceWriteError") or at_the_end, f"the program was not told: {told!r}"
    )
    if run is not None and at_the_end:
        outcome.check(run.status == "crashed", f"status {run.status}")
    elif run is not None:
        status, error = run.status, run.error or ""
        outcome.check(status == "failed", f"status {status}")
        outcome.check(error.startswith("writing a batch failed: "), f"error {error!r}")
        outcome.check("too large" in error.lower(), f"the error does not say why: {error!r}")
    return outcome


def disk_full_to_the_end(work: Path, rng: random.Random) -> Outcome:
    """The disk stays full: not even the run's end can be recorded. The program gets a
    StoreError saying so, the committed events stay, and the next open marks the run
    ``crashed``."""
    db, before = _prepare(work)
    bars = rng.randint(1, 100)
    argv = ["--bars", str(bars), "--batch", "200", "--cap", "1"]
    with Child.traced("fsize", db, work, *argv) as child:
        committed = int(child.expect("committed").split()[1])
        told = child.expect("")
        child.finish()
    outcome, run = _ended_run("disk full, even for the run's end", db, before, committed)
    outcome.check(
        told.startswith("StoreError") and "could not be recorded" in told,
        f"the program was not told: {told!r}",
    )
    if run is not None:
        outcome.check(run.status == "crashed", f"status {run.status}")
    return outcome


def second_writer(work: Path, rng: random.Random) -> Outcome:
    """A second process opening the file for writing while a traced run holds it: a clear
    error naming the holder's PID and the fix; the running and earlier runs are unharmed."""
    db, before = _prepare(work)
    bars = rng.randint(1, 300)
    outcome = Outcome("second writer while a run writes", 4 * bars, "?")
    with Child.traced("hold", db, work, "--bars", str(bars), "--batch", "64") as holder:
        pid = int(holder.expect("ready").split()[1])
        with Child.traced("open", db, work, "--wait", "0.2") as second:
            code = second.finish()
            said = " ".join(second.lines)
        outcome.check(code == 3, f"second writer exit code {code}: {said}")
        outcome.check(f"in use by process {pid}" in said, f"no PID in {said!r}")
        outcome.check("trace this run into another file with --db" in said, f"no fix: {said!r}")
        try:
            open_store(db, wait=0.1).close()
            outcome.problems.append("this process could open the file for writing")
        except StoreLockedError as exc:
            outcome.check(str(pid) in str(exc), f"no PID in {exc}")
        holder.send()
        holder.expect("done")
    states = check_store(outcome, db, before)
    run = the_run(states, before)
    if run is None:
        outcome.problems.append(f"expected only the holder's run, got {list(states)}")
        return outcome
    outcome.found = run.stored
    outcome.check(run.status == "completed", f"holder's run is {run.status}")
    outcome.check(run.stored == 4 * bars, f"holder stored {run.stored} of {4 * bars}")
    return outcome


def reader_while_writing(work: Path, rng: random.Random) -> Outcome:
    """A reader while a run writes gets the documented busy message (exit ≠ 0, nothing
    changed); a reader that waits gets in as soon as the run ends and sees all of it."""
    db, before = _prepare(work)
    bars = rng.randint(1, 300)
    earlier_events = sum(s.stored for s in before.values())
    expected = earlier_events + 4 * bars
    outcome = Outcome("reader while a run writes", expected, "?")
    with Child.traced("hold", db, work, "--bars", str(bars), "--batch", "64") as holder:
        pid = int(holder.expect("ready").split()[1])
        with Child.traced("open", db, work, "--read-only", "--wait", "0.2") as busy:
            code = busy.finish()
            said = " ".join(busy.lines)
        outcome.check(code == 3, f"busy reader exit code {code}: {said}")
        outcome.check(f"being written by process {pid}" in said, f"no busy message: {said!r}")
        outcome.check("query a copy of the file" in said, f"no fix in {said!r}")
        # The same answer through the CLI: one error message, exit code 1, after the 2 s wait.
        listing = CliRunner().invoke(app, ["runs", "--db", str(db)])
        lines = listing.stderr.strip().splitlines()
        err = " ".join(line.strip() for line in lines)
        outcome.check(
            listing.exit_code == 1
            and err.startswith("error: ")
            and all(line.startswith("  ") for line in lines[1:]),
            f"eventstore runs while busy: exit {listing.exit_code}, {err[:300]!r}",
        )
        outcome.check(f"being written by process {pid}" in err, f"no busy message: {err!r}")
        patient = Child.traced("open", db, work, "--read-only", "--wait", "60")
        holder.send()
        holder.expect("done")
        code = patient.finish()
    said = " ".join(patient.lines)
    outcome.check(code == 0, f"the waiting reader failed: {said} {patient.stderr()[-500:]}")
    found = re.search(r"events=(\d+)", said)
    outcome.found = int(found.group(1)) if found else "?"
    outcome.check(outcome.found == expected, f"the reader saw {outcome.found} events")
    check_store(outcome, db, before)
    return outcome


def sigint_while_blocked(work: Path, rng: random.Random) -> Outcome:
    """Ctrl-C while the writer is behind and the publisher waits for room in the queue: the
    batch it was handing off must not be lost."""
    db, before = _prepare(work)
    batch = rng.choice([10, 100, 1000])
    with Child.traced("interrupt-blocked", db, work, "--batch", str(batch)) as child:
        child.expect("queue-full")
        child.signal(signal.SIGINT)
        child.send()
        recorded = int(child.expect("interrupted").split("=")[1])
        child.finish()
    outcome, run = _ended_run("SIGINT while blocked on a full queue", db, before, recorded)
    if run is not None:
        outcome.check(run.status == "interrupted", f"status {run.status}")
    return outcome
