"""The ``eventstore`` command line: parses arguments, opens a store, calls one library function
and renders the result. No logic of its own lives here."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from eventstore import __version__
from eventstore.errors import EventStoreError
from eventstore.store import DEFAULT_DB

app = typer.Typer(
    help="Trace event-driven runs into DuckDB and ask why, where the time went, and what changed.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DbOption = Annotated[
    Path, typer.Option("--db", help="Run database (DuckDB file).", show_default=True)
]


def fail(error: Exception) -> typer.Exit:
    """Print one clear line for an error of ours and return the exit to raise."""
    typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=1 if isinstance(error, EventStoreError) else 2)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"eventstore {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """eventstore: trace every event, store its lineage, query it with SQL."""


@app.command()
def migrate(db: DbOption = Path(DEFAULT_DB)) -> None:
    """Create the run database's schema, or upgrade it to this version's."""
    from eventstore.store import open_store
    from eventstore.store.schema import SCHEMA_REVISION

    try:
        with open_store(db):
            pass
    except EventStoreError as exc:
        raise fail(exc) from None
    typer.echo(f"{db}: schema at revision {SCHEMA_REVISION}")


# --- run (backtest) ---
@app.command()
def run(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Backtest config (YAML), e.g. config/*.yaml.")
    ],
    bars: Annotated[
        int | None, typer.Option("--bars", min=1, help="Bars per symbol (default: the config's).")
    ] = None,
    db: DbOption = Path(DEFAULT_DB),
    seed: Annotated[
        int | None, typer.Option("--seed", help="Random seed (default: the config's).")
    ] = None,
    no_trace: Annotated[
        bool, typer.Option("--no-trace", help="Run without tracing: nothing is stored.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar or start message.")
    ] = False,
) -> None:
    """Run the demo multi-strategy backtest traced into the run database, then analyze it.

    Prints the run id, events by type, trading result and analysis; --no-trace stores nothing.
    """
    from eventstore.backtest import load_config, print_summary, run_backtest
    from eventstore.store import open_store

    try:
        settings = load_config(config, bars=bars, seed=seed)
        if no_trace:
            print_summary(run_backtest(settings, trace=False, progress=not quiet))
            return
        with open_store(db) as store:
            result = run_backtest(settings, store, progress=not quiet)
            print_summary(result)
            if result.correlation_id is not None:
                show_analysis(store, result.correlation_id)  # what `eventstore analyze` prints
    except EventStoreError as exc:
        raise fail(exc) from None


# --- end run ---


# --- queries ---
# Query commands: each opens the run database read-only, calls one `queries` helper and
# renders its table(s). Bad input (unknown or ambiguous id, missing database, rejected SQL) is a
# QueryError/StoreError: one line, exit code 1.

import enum  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

from eventstore.store import Store  # noqa: E402

if TYPE_CHECKING:
    import pyarrow as pa


class OutputFormat(enum.StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


class LatencyGroup(enum.StrEnum):
    type = "type"
    handler = "handler"
    source = "source"


FormatOption = Annotated[
    OutputFormat,
    typer.Option("--format", "-f", help="table (readable), csv or json.", case_sensitive=False),
]
LatestOption = Annotated[bool, typer.Option("--latest", help="Use the most recent run.")]

_CHAIN_COLUMNS = [
    "depth",
    "event_id",
    "event_type",
    "kind",
    "via_id",
    "source",
    "sim_time",
    "payload",
]


@contextmanager
def _reported() -> Iterator[None]:
    """Turn our errors into one line and exit code 1, never a traceback."""
    try:
        yield
    except EventStoreError as exc:
        raise fail(exc) from None


def _one_run(run: str | None, latest: bool) -> str:
    from eventstore.errors import QueryError

    if run is not None and latest:
        raise QueryError(f"give a run id or --latest, not both (got {run!r} and --latest)")
    return "latest" if run is None else run


@app.command()
def runs(db: DbOption = Path(DEFAULT_DB), fmt: FormatOption = OutputFormat.table) -> None:
    """List the runs in the database, newest first."""
    from eventstore.render import render
    from queries import list_runs

    with _reported():
        render(list_runs(db), fmt.value, empty=f"{db} holds no runs yet")


EventIdArgument = Annotated[
    str, typer.Argument(help="Event id (<run tag>-<seq>; tag may be a prefix).")
]


def _chain(table: pa.Table, fmt: OutputFormat, title: str) -> None:
    """A why/effects chain: the readable columns in a table, every column in CSV/JSON."""
    from eventstore.render import render

    shown = table.select(_CHAIN_COLUMNS) if fmt is OutputFormat.table else table
    render(shown, fmt.value, title=title)


@app.command()
def why(
    event_id: EventIdArgument,
    db: DbOption = Path(DEFAULT_DB),
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Why did this event happen? It and its ancestors, newest first, back to the root."""
    from queries import ancestors

    with _reported():
        table = ancestors(db, event_id)
        _chain(table, fmt, f"why {table['event_id'][0].as_py()}")


@app.command()
def effects(
    event_id: EventIdArgument,
    db: DbOption = Path(DEFAULT_DB),
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """What did this event cause? It and its descendants, in publication order."""
    from queries import descendants

    with _reported():
        table = descendants(db, event_id)
        _chain(table, fmt, f"effects of {table['event_id'][0].as_py()}")


@app.command()
def chains(
    run: Annotated[str | None, typer.Argument(help="Run id, unique prefix or 'latest'.")] = None,
    latest: LatestOption = False,
    db: DbOption = Path(DEFAULT_DB),
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Every SIGNAL → … → FILL chain of a run (the latest by default)."""
    from eventstore.render import render
    from queries import signal_to_fill_chains

    with _reported():
        render(signal_to_fill_chains(db, _one_run(run, latest)), fmt.value, empty="no chains")


@app.command()
def latency(
    run: Annotated[
        list[str] | None, typer.Argument(help="Run ids, prefixes or 'latest'; none: all runs.")
    ] = None,
    latest: LatestOption = False,
    by: Annotated[
        LatencyGroup, typer.Option("--by", help="Group by event type, handler or source.")
    ] = LatencyGroup.type,
    per_run: Annotated[bool, typer.Option("--per-run", help="One group per run too.")] = False,
    db: DbOption = Path(DEFAULT_DB),
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Latency percentiles (ms) of queueing and handling, over one run, several or all."""
    from eventstore.render import render
    from queries import latency_percentiles

    chosen = [*(run or []), *(["latest"] if latest else [])]
    with _reported():
        table = latency_percentiles(db, chosen, by=by.value, per_run=per_run)
        render(table, fmt.value, title=f"latency by {by.value} (ms)", empty="no deliveries")


@app.command()
def compare(
    run_a: Annotated[str, typer.Argument(help="Run A: id, unique prefix or 'latest'.")],
    run_b: Annotated[str, typer.Argument(help="Run B: id, unique prefix or 'latest'.")],
    db: DbOption = Path(DEFAULT_DB),
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """How does run B differ from run A? Counts, latencies, trades, first divergence.

    Orders and fills are matched by type, simulated time, source and payload; the first
    divergence is the first seq whose event type or payload differs.
    """
    from eventstore.render import render_sections
    from queries import compare_runs

    with _reported():
        diff = compare_runs(db, run_a, run_b)
    if fmt is OutputFormat.table:
        if diff.identical:
            verdict = "identical: same events, same order, same payloads"
        else:
            verdict = f"diverge at seq {diff.divergence['seq'][0].as_py()}"
        typer.echo(f"run a: {diff.run_a}\nrun b: {diff.run_b}\n{verdict}")
    render_sections(
        [
            ("events by type", diff.counts),
            ("latency by event type (ms)", diff.latency),
            ("orders and fills in one run only", diff.unmatched),
            ("first divergence", diff.divergence),
        ],
        fmt.value,
    )


def show_analysis(store: Store | str | Path, run_id: str, fmt: str = "table") -> None:
    """Print the analysis of one run: summary, events by type, latency percentiles by event
    type and SIGNAL → FILL chain statistics. ``store`` may be open read-write (right after a
    traced run) or a path; ``fmt`` is table, csv or json."""
    from eventstore.render import as_fields, render_sections
    from queries import run_analysis

    chosen = OutputFormat(fmt)
    sections = run_analysis(store, run_id)
    if chosen is OutputFormat.table:
        summary = sections[0][1]
        title = f"run {summary['run_id'][0].as_py()}"
        sections = [(title, as_fields(summary)), *sections[1:]]
    render_sections(sections, chosen.value)


@app.command()
def analyze(
    run: Annotated[str | None, typer.Argument(help="Run id, unique prefix or 'latest'.")] = None,
    latest: LatestOption = False,
    db: DbOption = Path(DEFAULT_DB),
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """The analysis of a run (the latest by default).

    Summary, events by type, latency percentiles by event type and SIGNAL → FILL chains.
    """
    with _reported():
        show_analysis(db, _one_run(run, latest), fmt.value)


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help='One read-only query, e.g. "SELECT * FROM runs".')],
    db: DbOption = Path(DEFAULT_DB),
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Run one ad-hoc read-only SQL query on the run database.

    Tables: runs, events, lineage_edges, deliveries. Anything that could write is refused.
    """
    from eventstore.render import render
    from queries import run_sql

    with _reported():
        render(run_sql(db, query), fmt.value)


# --- end queries ---


# --- visual ---
# Commands that draw a run (figures, graphs, timelines, reports) live in cli_visual.
from eventstore import cli_visual  # noqa: E402

app.add_typer(cli_visual.plot_app, name="plot")
app.command()(cli_visual.graph)
app.command()(cli_visual.export)
app.command()(cli_visual.report)
# --- end visual ---
