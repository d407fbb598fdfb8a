"""Where a sweep's tasks run: worker processes on this machine, or a ``dask.distributed``
cluster. Both call ``run_task`` once per grid point and report each outcome as it arrives; a
worker that dies (a crash, the OOM killer, SIGKILL) is reported as a ``crashed`` outcome and
the sweep goes on. We write no scheduler or wire protocol of our own.

``local`` starts one process per task, at most ``workers`` alive at once, rather than a
``ProcessPoolExecutor``: a pool whose worker is killed is broken for every task after it.
Processes fork from a server that has already imported the backtester (``forkserver``), so a
task starts in milliseconds, and no process forks the sweep's own threads (its progress bar).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Literal
from urllib.parse import urlsplit

from eventstore.errors import ConfigError
from eventstore.interrupts import stopped_by_sigterm
from eventstore.sweep import dask_worker
from eventstore.sweep.worker import Task, TaskOutcome, run_task

Executor = Literal["local", "dask"]
EXECUTORS: tuple[Executor, ...] = ("local", "dask")
OnOutcome = Callable[[Task, TaskOutcome], None]


def check_options(executor: object, workers: object) -> None:
    """Refuse an unknown executor or a worker count that is not a whole number >= 1, before
    a sweep opens its database or starts anything."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be a whole number of at least 1, got {workers!r}")
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}: use one of {', '.join(EXECUTORS)}")


def execute(
    tasks: Sequence[Task],
    executor: Executor,
    workers: int,
    on_outcome: OnOutcome,
    *,
    scheduler: str | None = None,
) -> None:
    """Run every task; call ``on_outcome`` in this thread as each one ends."""
    check_options(executor, workers)
    if executor == "local":
        if scheduler is not None:
            raise ConfigError("--scheduler is for the dask executor: add --executor dask")
        run_local(tasks, workers, on_outcome)
    elif executor == "dask":
        run_dask(tasks, workers, on_outcome, scheduler=scheduler)
    else:
        raise ConfigError(f"unknown executor {executor!r}: use one of {', '.join(EXECUTORS)}")


# --- local processes ---


def _context() -> multiprocessing.context.BaseContext:
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["eventstore.sweep.worker"])
        return context
    return multiprocessing.get_context("spawn")


def _child(task: Task, results: Connection) -> None:
    """A worker process's body: run the task and send its outcome (a few hundred bytes: it
    fits the pipe's buffer, so sending never waits for the parent)."""
    try:
        outcome = run_task(task)
    except KeyboardInterrupt:  # Ctrl-C as the process started, before its run began
        outcome = TaskOutcome(index=task.index, status="interrupted", error="KeyboardInterrupt")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C now would only cut the report short
    with contextlib.suppress(BrokenPipeError):  # the sweep's process died: the next open
        results.send(outcome)  # of the database stores the run from its spool
    results.close()


def run_local(tasks: Sequence[Task], workers: int, on_outcome: OnOutcome) -> None:
    context = _context()
    waiting = list(reversed(tasks))
    alive: dict[int, tuple[BaseProcess, Connection, Task]] = {}
    ended: list[tuple[Task, TaskOutcome]] = []
    try:
        while waiting or alive or ended:
            # Refill the free slots before handling what ended (loading a run takes a
            # moment), so no worker slot waits for it.
            while waiting and len(alive) < workers:
                task = waiting.pop()
                reader, writer = context.Pipe(duplex=False)
                process: BaseProcess = context.Process(  # type: ignore[attr-defined]
                    target=_child, args=(task, writer), name=f"sweep-point-{task.index}"
                )
                process.start()
                writer.close()
                alive[process.sentinel] = (process, reader, task)
            while ended:
                on_outcome(*ended.pop(0))
            for sentinel in wait(list(alive)) if alive else ():
                assert isinstance(sentinel, int)
                process, reader, task = alive.pop(sentinel)
                process.join()
                ended.append((task, _outcome(task, process, reader)))
    except KeyboardInterrupt as exc:
        # Ctrl-C reached the workers too (one process group): let them end their runs
        # `interrupted`, flushed, before anything harsher. SIGTERM reached this process
        # only: pass it on at once, or the workers would trace on, orphaned, to the end.
        processes = [process for process, _, _ in alive.values()]
        _stop(processes, signal_first=stopped_by_sigterm(exc))
        ended += [
            (task, _outcome(task, process, reader)) for process, reader, task in alive.values()
        ]
        alive.clear()
        while ended:  # what the runs ended as, for the sweep's summary
            on_outcome(*ended.pop(0))
        raise
    finally:
        _stop([process for process, _, _ in alive.values()], signal_first=True)
        for _, reader, _ in alive.values():
            reader.close()


STOP_GRACE = 10.0
"""Seconds a stopped worker gets to end its run (flushing what it recorded) before the next,
harsher signal."""


def _stop(processes: list[BaseProcess], *, signal_first: bool) -> None:
    """Stop workers: SIGTERM (their run ends `interrupted`), then SIGKILL if they linger;
    without ``signal_first``, first wait for them to stop on their own."""
    if not signal_first:
        _join(processes)
    for stop in (BaseProcess.terminate, BaseProcess.kill):
        for process in processes:
            if process.is_alive():
                stop(process)
        _join(processes)


def _join(processes: list[BaseProcess]) -> None:
    deadline = time.monotonic() + STOP_GRACE
    for process in processes:
        process.join(max(deadline - time.monotonic(), 0))


def _outcome(task: Task, process: BaseProcess, reader: Connection) -> TaskOutcome:
    try:
        if reader.poll():
            outcome = reader.recv()
            assert isinstance(outcome, TaskOutcome)
            return outcome
    except (EOFError, OSError):
        pass
    finally:
        reader.close()
    code = process.exitcode
    if code is not None and code < 0:
        died = f"its worker process was killed by signal {signal.Signals(-code).name}"
    else:
        died = f"its worker process exited with code {code} before reporting"
    return TaskOutcome(index=task.index, status="crashed", error=died, worker_pid=process.pid)


# --- dask.distributed ---


def run_dask(
    tasks: Sequence[Task], workers: int, on_outcome: OnOutcome, *, scheduler: str | None
) -> None:
    """Submit every task to a Dask cluster: the one at ``scheduler``, else a ``LocalCluster``
    of ``workers`` single-threaded worker processes, closed at the end.

    A task is never retried: a worker that dies must leave its run ``crashed``, not start it
    again. So the scheduler gives up on a task at the first death of a worker running it
    (``allowed-failures`` 0, rather than 3) and sends a worker only as many tasks as it has
    threads (``worker-saturation`` 1.0), so a death takes no queued task down with it. Those
    settings reach the scheduler of our own ``LocalCluster``; a scheduler started elsewhere
    needs them in its own Dask config."""
    try:
        import dask
        from distributed import LocalCluster, as_completed
    except ImportError:
        raise ConfigError(
            "the dask executor needs dask.distributed: pip install 'eventstore[sweep]'"
        ) from None
    settings: dict[str, Any] = {
        "distributed.scheduler.allowed-failures": 0,
        "distributed.scheduler.worker-saturation": 1.0,
    }
    if "forkserver" in multiprocessing.get_all_start_methods():
        # Worker processes forked from a server that has imported Dask already start in a
        # fraction of the time spawned ones take (1.2 s of a small sweep's 4 s here).
        settings["distributed.worker.multiprocessing-method"] = "forkserver"
    token = uuid.uuid4().hex  # names this sweep to its tasks, which may share workers
    with dask.config.set(settings):
        cluster: Any = None
        lingering: list[tuple[Task, int]] = []
        if scheduler is None:
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=50,  # logging.CRITICAL: a killed worker is reported as a run
                preload=[dask_worker.__name__],  # its workers leave Ctrl-C to the sweep
            )
        try:
            with _client(cluster, scheduler) as client:
                futures = {
                    client.submit(
                        dask_worker.run_sweep_task, task, token, pure=False, retries=0
                    ): task
                    for task in tasks
                }
                try:
                    # Results are gathered as tasks finish and each future is released once
                    # handled, so a worker dying later loses no result Dask would recompute.
                    for future in as_completed(futures):
                        task = futures.pop(future)
                        outcome = _dask_outcome(task, future)
                        future.release()
                        if outcome is not None:
                            on_outcome(task, outcome)
                except KeyboardInterrupt as exc:
                    lingering = _stop_dask(client, futures, token, exc, on_outcome)
                    raise
        finally:
            if cluster is not None:
                cluster.close()
                for task, pid in lingering:  # their runs died with the cluster's workers
                    late = f"its Dask worker was still running it {STOP_GRACE:g} s after the stop"
                    on_outcome(task, TaskOutcome(task.index, "crashed", error=late, worker_pid=pid))


def _stop_dask(
    client: Any,
    futures: dict[Any, Task],
    token: str,
    interrupt: KeyboardInterrupt,
    on_outcome: OnOutcome,
) -> list[tuple[Task, int]]:
    """Stop a sweep on Dask: tell every worker, cancel the tasks that have not started, and
    give the runs going ``STOP_GRACE`` seconds to end ``interrupted`` and report. The tasks
    still running then, with the pids of their workers: closing our ``LocalCluster`` ends
    them ``crashed`` (on a cluster of someone else's they go on to end ``interrupted``)."""
    from distributed import wait

    client.run(dask_worker.stop_sweep, token, interrupt.args)
    going = {key: worker for worker, keys in client.processing().items() for key in keys}
    ended = [future for future in futures if future.key in going or future.done()]
    client.cancel([future for future in futures if future not in ended])
    with contextlib.suppress(TimeoutError):
        wait(ended, timeout=STOP_GRACE)
    for future in ended:
        outcome = _dask_outcome(futures[future], future) if future.done() else None
        if outcome is not None:  # None: it never started
            on_outcome(futures[future], outcome)
    lingering = [future for future in ended if not future.done()]
    pids = client.run(os.getpid) if lingering else {}
    return [(futures[future], pids[going[future.key]]) for future in lingering]


SCHEDULER_TIMEOUT = 5.0
"""Seconds to keep trying to reach a scheduler given by address before giving up (Dask's own
default is 30): a scheduler that is up answers in well under a second, even across a network,
and a wrong address or a scheduler that is down should say so soon."""


def _client(cluster: Any, scheduler: str | None) -> Any:
    """A client of our ``LocalCluster``, or of the scheduler at ``scheduler``; one that can't
    be reached is a ``ConfigError`` naming the address and the reason."""
    from distributed import Client

    if cluster is not None:
        return Client(cluster)
    try:
        return Client(scheduler, timeout=SCHEDULER_TIMEOUT)
    except OSError as exc:  # refused, timed out, unknown host
        reason = f"{_reason(exc, scheduler)}; gave up after {SCHEDULER_TIMEOUT:g} s"
    except ValueError as exc:  # an unknown scheme
        reason = str(exc)
    raise ConfigError(
        f"cannot reach the Dask scheduler at {scheduler} ({reason}): check --scheduler, or "
        "leave it out to start a local cluster"
    )


def _reason(exc: BaseException, scheduler: str | None) -> str:
    """Why a connection failed (``Connection refused``). Dask wraps the cause in a generic
    time-out, and when the time-out cancels an attempt in flight the chain holds no cause at
    all: then the address is asked once more, with a plain TCP connect."""
    chain = [exc]
    while chain[-1].__cause__ is not None or chain[-1].__context__ is not None:
        chain.append(chain[-1].__cause__ or chain[-1].__context__)  # type: ignore[arg-type]
    for link in chain:
        if isinstance(link, OSError) and link.strerror:
            return link.strerror
    refused = _tcp_error(scheduler)
    if refused is not None:
        return refused
    innermost = str(chain[-1]).strip()
    return innermost.splitlines()[0] if innermost else type(chain[-1]).__name__


def _tcp_error(scheduler: str | None) -> str | None:
    """The error a TCP connect to ``tcp://host:port`` gets, or None (it answers, or the
    address is not of that form)."""
    address = urlsplit(scheduler or "")
    try:
        port = address.port
    except ValueError:
        return None
    if address.scheme != "tcp" or not address.hostname or port is None:
        return None
    try:
        socket.create_connection((address.hostname, port), timeout=1.0).close()
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__
    return None


def _dask_outcome(task: Task, future: Any) -> TaskOutcome | None:
    """The task's outcome, or what Dask knows of its end; None if it never started (the sweep
    was stopped first)."""
    from distributed.scheduler import KilledWorker

    try:
        outcome = future.result()
    except KilledWorker as exc:
        return TaskOutcome(
            index=task.index,
            status="crashed",
            error=f"its Dask worker died while running it ({type(exc).__name__})",
            worker_pid=exc.last_worker.pid,
        )
    except Exception as exc:
        return TaskOutcome(index=task.index, status="failed", error=f"{type(exc).__name__}: {exc}")
    assert outcome is None or isinstance(outcome, TaskOutcome)
    return outcome
