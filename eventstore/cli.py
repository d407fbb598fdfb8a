"""The ``eventstore`` command line: parses arguments, opens a store, calls one library function
and renders the result. No logic of its own lives here."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from eventstore import __version__, cli_queries, cli_sweep, cli_visual
from eventstore.cli_options import (
    CommandGroup,
    QuietOption,
    WritableDbOption,
    ctrl_c_ends_at_once,
    fail,
    stderr_color,
)
from eventstore.errors import ConfigError, EventStoreError, StoreError, TraceWriteError
from eventstore.store import DEFAULT_DB
from eventstore.text_table import wrapped

if TYPE_CHECKING:
    from eventstore import Sampling

app = CommandGroup(
    help="Trace event-driven runs into DuckDB and ask why, where the time went, and what changed.",
    epilog="Exit codes: 0 done; 1 an error, named with its fix; 2 a usage error (an unknown "
    "command or option, a value of the wrong kind); 130 stopped by Ctrl-C.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class _StderrLog(logging.Handler):
    """The library's log records as one ``warning: …`` message each on stderr (wrapped to the
    terminal's width, as errors are), no traceback.

    A failed batch write is logged by the tracer and then raised as ``TraceWriteError``,
    which the command prints as its error line: the log record would say it twice.
    """

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith("run %s: writing a batch failed"):
            return
        text = " ".join(record.getMessage().split())
        typer.secho(
            wrapped(f"{record.levelname.lower()}: {text}"),
            err=True,
            fg=typer.colors.YELLOW,
            color=stderr_color(),
        )


def _log_to_stderr() -> None:
    library = logging.getLogger("eventstore")
    if not any(isinstance(h, _StderrLog) for h in library.handlers):
        library.addHandler(_StderrLog(logging.WARNING))
        library.propagate = False


def _version(value: bool) -> None:
    if value:
        from eventstore.tracing.implementation import RECORDER_NAME

        typer.echo(f"eventstore {__version__} ({RECORDER_NAME} recorder)")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """eventstore: trace every event, store its lineage, query it with SQL."""
    _log_to_stderr()


@app.command()
def migrate(db: WritableDbOption = DEFAULT_DB, quiet: QuietOption = False) -> None:
    """Create the run database's schema, or upgrade it to this version's."""
    from eventstore.progress import progress_bar
    from eventstore.store import open_store
    from eventstore.store.schema import SCHEMA_REVISION

    try:
        with progress_bar("migrate", quiet, counted=False), open_store(db) as store:
            where = store.where  # a URL without its password
            if store.read_only:  # only a Parquet dataset opens read-only when asked to write
                raise StoreError(
                    f"{where} is a Parquet dataset, which is read-only: there is nothing to "
                    f"migrate (commands read it as it is); to load it into a database: "
                    f"eventstore import {where} --db runs.duckdb"
                )
    except EventStoreError as exc:
        raise fail(exc) from None
    typer.echo(f"{where}: schema at revision {SCHEMA_REVISION}")


# --- run (backtest) ---
@app.command()
def run(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Backtest config (YAML), e.g. config/*.yaml.")
    ],
    bars: Annotated[
        int | None,
        typer.Option("--bars", min=1, metavar="N", help="Bars per symbol (default: the config's)."),
    ] = None,
    db: WritableDbOption = DEFAULT_DB,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Random seed (default: the config's).")
    ] = None,
    no_trace: Annotated[
        bool, typer.Option("--no-trace", help="Run without tracing: nothing is stored.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar or start message.")
    ] = False,
    sample: Annotated[
        float | None,
        typer.Option(
            "--sample",
            metavar="FRACTION",
            help="Store every event on a path to the --keep types (and every failure), and "
            "this fraction (0 to 1) of the rest; counts what it leaves out on the run.",
        ),
    ] = None,
    keep: Annotated[
        list[str] | None,
        typer.Option(
            "--keep",
            metavar="TYPE",
            help="With --sample: an event type whose causal paths are all kept (repeat it; "
            "default ORDER and FILL).",
        ),
    ] = None,
) -> None:
    """Run the demo multi-strategy backtest traced into the run database, then analyze it.

    Prints the run id, events by type, trading result and analysis; --no-trace stores nothing.
    """
    from eventstore.backtest import load_config, print_summary, run_backtest
    from eventstore.store import open_store
    from eventstore.store.duckdb_memory import read_memory_limit

    try:
        settings = load_config(config, bars=bars, seed=seed)
        sampling = _sampling(sample, keep)
        if no_trace:
            if sampling is not None:
                raise ConfigError("--sample stores part of a run and --no-trace none: drop one")
            print_summary(run_backtest(settings, trace=False, progress=not quiet))
            return
        with open_store(db, memory_limit=read_memory_limit()) as store:
            result = run_backtest(
                settings, store, progress=not quiet, sampling=sampling, bars_option=bars is not None
            )
            print_summary(result, events=result.correlation_id is None)
        if result.correlation_id is not None:
            # As `analyze` prints it, from the store opened again read-only: the run is
            # whole and closed, so Ctrl-C may end the analysis at once (exit code 130).
            with ctrl_c_ends_at_once():
                cli_queries.show_analysis(db, result.correlation_id, quiet=quiet, trading=False)
    except TraceWriteError as exc:
        raise fail(
            TraceWriteError(f"{exc}: free disk space, or trace into another file with --db")
        ) from None
    except EventStoreError as exc:
        raise fail(exc) from None


def _sampling(fraction: float | None, keep: list[str] | None) -> Sampling | None:
    """The sampling ``--sample``/``--keep`` ask for; the demo's types are the known ones."""
    from eventstore import EventType, Sampling

    if fraction is None:
        if keep:
            raise ConfigError("--keep needs --sample FRACTION: without it every event is stored")
        return None
    known = [t.value for t in EventType]
    unknown = [t for t in keep or () if t.upper() not in known]
    if unknown:
        raise ConfigError(
            f"--keep {unknown[0]!r} is not an event type of the backtest: use one of "
            f"{', '.join(known)}"
        )
    if not keep:
        return Sampling(fraction)
    return Sampling(fraction, keep_types=tuple(t.upper() for t in keep))


# The other commands live in modules of their own; they are listed here in --help order.
for _command in (
    cli_queries.runs,
    cli_queries.why,
    cli_queries.effects,
    cli_queries.chains,
    cli_queries.latency,
    cli_queries.compare,
    cli_queries.analyze,
    cli_queries.sql,
    cli_visual.graph,
    cli_visual.export,
    cli_visual.report,
):
    app.command()(_command)
app.command("import")(cli_visual.import_dataset)
app.command()(cli_sweep.sweep)  # a grid of traced backtests on worker processes or Dask
app.add_typer(cli_visual.plot_app, name="plot")
