"""``eventstore sweep``: a grid of traced backtests on worker processes or a Dask cluster, then
a table of the runs. Parses arguments, calls ``run_sweep`` and renders its result; bad input is
one line on stderr and exit code 1. ``eventstore.cli`` registers it."""

from __future__ import annotations

import textwrap
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from eventstore.cli_options import WritableDbOption, fail, stderr_color
from eventstore.errors import ConfigError, EventStoreError
from eventstore.store import DEFAULT_DB, without_password

if TYPE_CHECKING:
    from eventstore.sweep import SweepStopped


def sweep(
    config: Annotated[
        Path,
        typer.Option(
            "--config", "-c", help="Sweep file (YAML): a base backtest and a grid of values."
        ),
    ],
    workers: Annotated[
        int | None,
        typer.Option("--workers", "-w", min=1, help="Runs at once (default: number of cores)."),
    ] = None,
    executor: Annotated[
        str,
        typer.Option(
            "--executor", help="local: worker processes here; dask: a dask.distributed cluster."
        ),
    ] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            # The wait is executors.SCHEDULER_TIMEOUT (importing it here would slow every
            # command's start by importing the sweep package; a test checks the two agree).
            help="Dask scheduler address, e.g. tcp://host:8786 (default: a local cluster); "
            "one that can't be reached fails after 5 s.",
        ),
    ] = None,
    db: WritableDbOption = DEFAULT_DB,
    sort_by: Annotated[
        str,
        typer.Option(
            "--sort-by", help="return, trades, events, status or a grid key's column name."
        ),
    ] = "return",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Run one traced backtest per point of a grid (every combination of its values), in
    parallel, all into one database; then print the runs sorted by --sort-by.

    With a DuckDB file only this process writes it: workers spool their
    runs beside it and each run is loaded as it ends. With PostgreSQL,
    workers write directly. A worker that raises leaves its run failed, one
    that is killed leaves it crashed; the sweep goes on, prints every run,
    and exits with code 1 if any did not complete. Ctrl-C ends the runs going
    interrupted, says what finished and exits with code 130. Compare any two
    runs by their tags: eventstore compare TAG_A TAG_B.
    """
    from eventstore.render import print_table
    from eventstore.sweep import SweepStopped, load_sweep, run_sweep
    from eventstore.sweep.executors import EXECUTORS
    from eventstore.text_table import terminal_width, wrapped

    try:
        if executor not in EXECUTORS:
            raise ConfigError(
                f"unknown executor {executor!r}: use --executor local or --executor dask"
            )
        labels = load_sweep(config).labels  # a bad --sort-by fails before any run starts
        _check_sort(sort_by, list(labels.values()))
        result = run_sweep(
            config,
            workers,
            executor,
            db,
            scheduler=scheduler,
            progress=not quiet,
        )
    except EventStoreError as exc:
        raise fail(exc) from None
    except KeyboardInterrupt as exc:
        stopped = (
            _stopped_summary(exc, without_password(db))
            if isinstance(exc, SweepStopped)
            else "sweep stopped before it began"
        )
        typer.secho(wrapped(stopped), err=True, fg=typer.colors.YELLOW, color=stderr_color())
        raise typer.Exit(code=130) from None
    done, runs = result.count("completed"), len(result.runs)
    workers = min(result.workers, runs) or 1  # no more than there were runs to start
    headline = (
        f"sweep {result.name}: {runs} run{'s' * (runs != 1)}, {done} completed, in "
        f"{result.elapsed_s:.1f} s ({workers} {executor} worker{'s' * (workers != 1)})"
    )
    typer.echo(f"{wrapped(headline)}\ninto {result.db}\n")
    notes = [
        f"run {run.tag or '(not started)'}: {run.status}: {run.error}"
        for run in result.runs
        if run.status != "completed" and run.error
    ]
    # On a narrow terminal a run's status, return and trades stay in its row longest; its
    # events and then its grid values go under it (the sweep has no --format to show them).
    varying = list(result.labels.values())[::-1]
    leaving = ["events", *varying, "trades", "return_%", "status"]
    print_table(result.table(sort_by), keys=["run"], limit=0, leave_last=leaving)
    for note in notes:
        typer.echo(wrapped(note))
    where = "" if db == DEFAULT_DB else f" --db {without_password(db)}"
    tags = [run.tag for run in result.sorted_runs(sort_by) if run.tag and run.status == "completed"]
    if len(tags) >= 2:  # a failed run's few events would only show where it stopped
        typer.echo(f"\ncompare two of them:\n  eventstore compare {tags[0]} {tags[1]}{where}")
    elif done < len(result.runs):
        none, rest = ("no run", "the runs") if done == 0 else ("only one run", "the others")
        why = (
            f"{none} completed, so there is nothing to compare: the notes above say why "
            f"{rest} stopped, as does the error column of"
        )
        typer.echo(f"\n{textwrap.fill(why, terminal_width())}\n  eventstore runs{where}")
    if done < len(result.runs):  # a script or CI job must not take a broken sweep for a whole one
        failed = (
            f"error: {len(result.runs) - done} of {len(result.runs)} runs did not complete "
            "(see their rows and notes above)"
        )
        typer.secho(wrapped(failed), err=True, fg=typer.colors.RED, color=stderr_color())
        raise typer.Exit(code=1)


def _stopped_summary(stopped: SweepStopped, db: str) -> str:
    """What a stopped sweep did: ``sweep trend_sweep stopped after 3.1 s: 2 of 8 runs
    completed, 2 interrupted, 4 not started; every run that began is stored: eventstore runs
    --db runs.duckdb``."""
    result = stopped.result
    began = [run for run in result.runs if run.run_id is not None]
    counts = Counter(run.status for run in began)
    parts = [f"{counts.pop('completed', 0)} of {stopped.points} runs completed"]
    parts += [f"{n} {status}" for status, n in sorted(counts.items())]
    if stopped.points > len(began):
        parts.append(f"{stopped.points - len(began)} not started")
    return (
        f"sweep {result.name} stopped after {result.elapsed_s:.1f} s: {', '.join(parts)}; "
        f"every run that began is stored: eventstore runs --db {db}"
    )


def _check_sort(sort_by: str, labels: list[str]) -> None:
    from eventstore.sweep import METRICS

    if sort_by not in METRICS and sort_by not in labels:
        raise ConfigError(f"--sort-by {sort_by!r}: use one of {', '.join([*METRICS, *labels])}")
