"""The ``eventstore`` command line: parses arguments, opens a store, calls one library function
and renders the result. No logic of its own lives here."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from eventstore import __version__
from eventstore.cli_options import CommandGroup, DbOption, LatestOption, fail
from eventstore.errors import ConfigError, EventStoreError, TraceWriteError
from eventstore.store import DEFAULT_DB

if TYPE_CHECKING:
    from eventstore import Sampling

app = CommandGroup(
    help="Trace event-driven runs into DuckDB and ask why, where the time went, and what changed.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class _OneLineLog(logging.Handler):
    """The library's log records as one ``warning: …`` line each on stderr, no traceback.

    A failed batch write is logged by the tracer and then raised as ``TraceWriteError``,
    which the command prints as its error line: the log record would say it twice.
    """

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith("run %s: writing a batch failed"):
            return
        text = " ".join(record.getMessage().split())
        typer.secho(f"{record.levelname.lower()}: {text}", err=True, fg=typer.colors.YELLOW)


def _log_to_stderr() -> None:
    library = logging.getLogger("eventstore")
    if not any(isinstance(h, _OneLineLog) for h in library.handlers):
        library.addHandler(_OneLineLog(logging.WARNING))
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
def migrate(db: DbOption = DEFAULT_DB) -> None:
    """Create the run database's schema, or upgrade it to this version's."""
    from eventstore.store import open_store
    from eventstore.store.schema import SCHEMA_REVISION

    try:
        with open_store(db) as store:
            where = store.where  # a URL without its password
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
    db: DbOption = DEFAULT_DB,
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

    try:
        settings = load_config(config, bars=bars, seed=seed)
        sampling = _sampling(sample, keep)
        if no_trace:
            print_summary(run_backtest(settings, trace=False, progress=not quiet))
            return
        with open_store(db) as store:
            result = run_backtest(settings, store, progress=not quiet, sampling=sampling)
            print_summary(result, events=result.correlation_id is None)
            if result.correlation_id is not None:
                show_analysis(store, result.correlation_id)  # what `eventstore analyze` prints
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


# --- end run ---


# --- queries ---
# Query commands: each opens the run database read-only, calls one `queries` helper and
# renders its table(s). Bad input (unknown or ambiguous id, missing database, rejected SQL,
# unknown format) is a QueryError/StoreError: one line, exit code 1.

from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

from eventstore.render import DEFAULT_LIMIT, FORMATS, Format  # noqa: E402
from eventstore.store import Store  # noqa: E402

if TYPE_CHECKING:
    import pyarrow as pa

FormatOption = Annotated[
    str, typer.Option("--format", "-f", help="table (readable), csv or json (every row).")
]
LimitOption = Annotated[
    int,
    typer.Option(
        "--limit",
        "-n",
        help="Rows shown per table (table format only; 0: all). CSV and JSON hold every row.",
    ),
]


@contextmanager
def _reported() -> Iterator[None]:
    """Turn our errors into one line and exit code 1, never a traceback."""
    try:
        yield
    except EventStoreError as exc:
        raise fail(exc) from None


def _format(value: str) -> Format:
    """The output format named by ``--format``; anything else is one clear line."""
    from eventstore.errors import QueryError

    chosen = value.strip().lower()
    for known in FORMATS:
        if chosen == known:
            return known
    raise QueryError(f"unknown format {value!r}: use one of {', '.join(FORMATS)}")


def _limit(value: int) -> int:
    from eventstore.errors import QueryError

    if value < 0:
        raise QueryError(f"--limit {value} is negative: give a number of rows, or 0 for all")
    return value


def _one_run(run: str | None, latest: bool) -> str:
    from eventstore.errors import QueryError

    if run is not None and latest:
        raise QueryError(f"give a run id or --latest, not both (got {run!r} and --latest)")
    return "latest" if run is None else run


@app.command()
def runs(
    db: DbOption = DEFAULT_DB,
    fmt: FormatOption = "table",
    limit: LimitOption = DEFAULT_LIMIT,
) -> None:
    """List the runs in the database, newest first."""
    from eventstore.queries import list_runs
    from eventstore.render import render
    from eventstore.table_views import runs_view

    with _reported():
        chosen, rows = _format(fmt), _limit(limit)
        table = list_runs(db)
        shown = runs_view(table) if chosen == "table" else table
        render(shown, chosen, empty=f"{db} holds no runs yet", limit=rows, keys=["status"])


EventIdArgument = Annotated[
    str, typer.Argument(help="Event id (<run tag>-<seq>; tag may be a prefix).")
]


def _chain(table: pa.Table, fmt: Format, title: str, limit: int) -> None:
    """A why/effects chain: the readable columns in a table, every column in CSV/JSON."""
    from eventstore.render import render
    from eventstore.table_views import CHAIN_COLUMNS, EVENT_LEAVE_LAST

    shown = table.select(CHAIN_COLUMNS) if fmt == "table" else table
    render(shown, fmt, title=title, limit=limit, keys=["depth"], leave_last=EVENT_LEAVE_LAST)


def _chain_title(head: str, count: int, noun: str, order: str = "") -> str:
    """``why X: it and its 1 ancestor, newest first`` or ``why X: no ancestors``."""
    if count == 0:
        return f"{head}: no {noun}s"
    return f"{head}: it and its {count} {noun}{'' if count == 1 else 's'}{order}"


@app.command()
def why(
    event_id: EventIdArgument,
    db: DbOption = DEFAULT_DB,
    fmt: FormatOption = "table",
    limit: LimitOption = DEFAULT_LIMIT,
) -> None:
    """Why did this event happen? It and its ancestors, newest first, back to the root.

    Every lineage edge is followed: a FILL's ancestors are its ORDER, SIGNAL and BAR
    (caused_by) and the BAR that priced it (priced_by); `kind` and `via_id` say which.
    """
    from eventstore.queries import ancestors

    with _reported():
        chosen, rows = _format(fmt), _limit(limit)
        table = ancestors(db, event_id)
        first = table["event_id"][0].as_py()
        title = _chain_title(f"why {first}", table.num_rows - 1, "ancestor", ", newest first")
        _chain(table, chosen, title, rows)


@app.command()
def effects(
    event_id: EventIdArgument,
    db: DbOption = DEFAULT_DB,
    fmt: FormatOption = "table",
    limit: LimitOption = DEFAULT_LIMIT,
) -> None:
    """What did this event cause? It and its descendants, in publication order."""
    from eventstore.queries import descendants

    with _reported():
        chosen, rows = _format(fmt), _limit(limit)
        table = descendants(db, event_id)
        first = table["event_id"][0].as_py()
        title = _chain_title(f"effects of {first}", table.num_rows - 1, "descendant")
        _chain(table, chosen, title, rows)


@app.command()
def chains(
    run: Annotated[str | None, typer.Argument(help="Run id, unique prefix or 'latest'.")] = None,
    latest: LatestOption = False,
    db: DbOption = DEFAULT_DB,
    fmt: FormatOption = "table",
    limit: LimitOption = DEFAULT_LIMIT,
) -> None:
    """Every SIGNAL → … → FILL chain of a run (the latest by default).

    The table shows the ids, the chain's length (events) and signal → fill wall time (in µs
    or ms, as it reads best); CSV and JSON give it in ms and add both simulated times.
    """
    from eventstore.queries import signal_to_fill_chains
    from eventstore.render import render
    from eventstore.table_views import chains_view

    with _reported():
        chosen, rows = _format(fmt), _limit(limit)
        table = signal_to_fill_chains(db, _one_run(run, latest))
        shown = chains_view(table) if chosen == "table" else table
        render(shown, chosen, empty="no chains", limit=rows)


@app.command()
def latency(
    run: Annotated[
        list[str] | None, typer.Argument(help="Run ids, prefixes or 'latest'; none: all runs.")
    ] = None,
    latest: LatestOption = False,
    by: Annotated[
        str, typer.Option("--by", help="Group by event type, handler or source.")
    ] = "type",
    per_run: Annotated[bool, typer.Option("--per-run", help="One group per run too.")] = False,
    db: DbOption = DEFAULT_DB,
    fmt: FormatOption = "table",
    limit: LimitOption = DEFAULT_LIMIT,
) -> None:
    """Latency percentiles of queueing and handling, over one run, several or all.

    Tables show µs or ms, whichever the table reads best in (named in its title); CSV and
    JSON always give ms.
    """
    from eventstore.queries import latency_percentiles
    from eventstore.render import render, render_sections
    from eventstore.table_views import latency_keys, latency_views

    chosen_runs = [*(run or []), *(["latest"] if latest else [])]
    with _reported():
        chosen, rows = _format(fmt), _limit(limit)
        group = by.strip().lower()
        table = latency_percentiles(db, chosen_runs, by=group, per_run=per_run)  # type: ignore[arg-type]
        if chosen != "table":
            render(table, chosen)
        elif table.num_rows == 0:
            typer.echo("no deliveries")
        else:
            views = latency_views(table, f"latency by {group}")
            render_sections(views, chosen, limit=rows, keys=latency_keys(table))


@app.command()
def compare(
    run_a: Annotated[str, typer.Argument(help="Run A: id, unique prefix or 'latest'.")],
    run_b: Annotated[str, typer.Argument(help="Run B: id, unique prefix or 'latest'.")],
    db: DbOption = DEFAULT_DB,
    fmt: FormatOption = "table",
    limit: LimitOption = DEFAULT_LIMIT,
) -> None:
    """How does run B differ from run A? Counts, latencies, trades, first divergence.

    Two events agree when their type, simulated time, source and payload are equal. Orders
    and fills are matched that way; the first divergence is the first seq where the runs'
    events don't agree; the runs are identical when every seq agrees.
    """
    from eventstore.queries import compare_runs
    from eventstore.render import render_sections
    from eventstore.table_views import (
        EVENT_LEAVE_LAST,
        compare_latency_view,
        divergence_view,
        unmatched_view,
    )

    with _reported():
        chosen, rows = _format(fmt), _limit(limit)
        diff = compare_runs(db, run_a, run_b)
    if chosen != "table":
        render_sections(
            [
                ("events by type", diff.counts),
                ("latency by event type (ms)", diff.latency),
                ("orders and fills in one run only", diff.unmatched),
                ("first divergence", diff.divergence),
            ],
            chosen,
        )
        return
    if diff.identical:
        verdict = "identical: same events (type, simulated time, source, payload), same order"
    else:
        verdict = f"they diverge at seq {diff.divergence['seq'][0].as_py()}"
    typer.echo(f"run a: {diff.run_a}\nrun b: {diff.run_b}\n{verdict}\n")
    heading, fields = divergence_view(diff.divergence)
    render_sections(
        [
            ("events by type", diff.counts),
            compare_latency_view(diff.latency, "latency by event type"),
            ("orders and fills in one run only", unmatched_view(diff.unmatched)),
            *([(heading, fields)] if fields.num_rows else []),
        ],
        chosen,
        limit=rows,
        leave_last=EVENT_LEAVE_LAST,
    )


def show_analysis(
    store: Store | str | Path, run_id: str, fmt: str = "table", limit: int = DEFAULT_LIMIT
) -> None:
    """Print the analysis of one run: summary, events by type, latency percentiles by event
    type and SIGNAL → FILL chain statistics. ``store`` may be open read-write (right after a
    traced run) or a path; ``fmt`` is table, csv or json."""
    from eventstore.queries import run_analysis
    from eventstore.render import as_fields, render_sections
    from eventstore.table_views import in_time_unit, latency_views

    chosen = _format(fmt)
    sections = run_analysis(store, run_id)
    if chosen == "table":
        shown = []
        for title, table in sections:
            if title == "summary":
                shown.append((f"run {table['run_id'][0].as_py()}", as_fields(table)))
            elif title.startswith("latency") and table.num_rows:
                shown.extend(latency_views(table, "latency by event type"))
            elif title == "signal to fill chains":
                shown.append((title, in_time_unit(table, typical="p50_ms")))
            else:
                shown.append((title, table))
        sections = shown
    render_sections(sections, chosen, limit=limit)


@app.command()
def analyze(
    run: Annotated[str | None, typer.Argument(help="Run id, unique prefix or 'latest'.")] = None,
    latest: LatestOption = False,
    db: DbOption = DEFAULT_DB,
    fmt: FormatOption = "table",
    limit: LimitOption = DEFAULT_LIMIT,
) -> None:
    """The analysis of a run (the latest by default).

    Summary, events by type, latency percentiles by event type and SIGNAL → FILL chains.
    """
    with _reported():
        show_analysis(db, _one_run(run, latest), fmt, _limit(limit))


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help='One read-only query, e.g. "SELECT * FROM runs".')],
    db: DbOption = DEFAULT_DB,
    fmt: FormatOption = "table",
    limit: LimitOption = DEFAULT_LIMIT,
) -> None:
    """Run one ad-hoc read-only SQL query on the run database.

    Tables: runs, events, lineage_edges, deliveries. Anything that could write is refused.
    """
    from eventstore.queries import run_sql
    from eventstore.render import render

    with _reported():
        chosen, rows = _format(fmt), _limit(limit)
        render(run_sql(db, query), chosen, limit=rows)


# --- end queries ---


# --- visual ---
# Commands that draw a run (figures, graphs, timelines, reports) live in cli_visual.
from eventstore import cli_visual  # noqa: E402

app.add_typer(cli_visual.plot_app, name="plot")
app.command()(cli_visual.graph)
app.command()(cli_visual.export)
app.command()(cli_visual.report)
app.command("import")(cli_visual.import_dataset)
# --- end visual ---

# A grid of traced backtests on worker processes or a Dask cluster.
from eventstore.cli_sweep import sweep  # noqa: E402

app.command()(sweep)
