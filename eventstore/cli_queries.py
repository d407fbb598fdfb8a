"""The commands that ask questions of stored runs: ``runs``, ``why``, ``effects``,
``chains``, ``latency``, ``compare``, ``analyze`` and ``sql``. Each opens the run database
read-only, calls one ``queries`` helper and renders its table(s); bad input (an unknown or
ambiguous id, a missing database, rejected SQL, an unknown format) is one line on stderr and
exit code 1. ``eventstore.cli`` registers them, and ``run`` prints ``show_analysis``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from eventstore.cli_options import (
    DbOption,
    EventIdArgument,
    LatestOption,
    QuietOption,
    ctrl_c_ends_at_once,
    reported,
)
from eventstore.errors import QueryError
from eventstore.store import DEFAULT_DB, without_password
from eventstore.text_table import DEFAULT_LIMIT, FORMATS, Format

if TYPE_CHECKING:
    import pyarrow as pa

    from eventstore.store import Store


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


def _format(value: str) -> Format:
    """The output format named by ``--format``; anything else is one clear line."""
    chosen = value.strip().lower()
    for known in FORMATS:
        if chosen == known:
            return known
    raise QueryError(f"unknown format {value!r}: use one of {', '.join(FORMATS)}")


def _limit(value: int) -> int:
    if value < 0:
        raise QueryError(f"--limit {value} is negative: give a number of rows, or 0 for all")
    return value


def _one_run(run: str | None, latest: bool) -> str:
    if run is not None and latest:
        raise QueryError(f"give a run id or --latest, not both (got {run!r} and --latest)")
    return "latest" if run is None else run


def runs(
    db: DbOption = DEFAULT_DB,
    fmt: FormatOption = "table",
    limit: LimitOption = DEFAULT_LIMIT,
) -> None:
    """List the runs in the database, newest first."""
    from eventstore.queries import list_runs
    from eventstore.render import render
    from eventstore.table_views import runs_view

    with reported(), ctrl_c_ends_at_once():
        chosen, rows = _format(fmt), _limit(limit)
        table = list_runs(db)
        shown = runs_view(table) if chosen == "table" else table
        render(
            shown,
            chosen,
            empty=f"{without_password(db)} holds no runs yet",
            limit=rows,
            keys=["status"],
        )


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

    with reported(), ctrl_c_ends_at_once():
        chosen, rows = _format(fmt), _limit(limit)
        table = ancestors(db, event_id)
        first = table["event_id"][0].as_py()
        title = _chain_title(f"why {first}", table.num_rows - 1, "ancestor", ", newest first")
        _chain(table, chosen, title, rows)


def effects(
    event_id: EventIdArgument,
    db: DbOption = DEFAULT_DB,
    fmt: FormatOption = "table",
    limit: LimitOption = DEFAULT_LIMIT,
) -> None:
    """What did this event cause? It and its descendants, in publication order."""
    from eventstore.queries import descendants

    with reported(), ctrl_c_ends_at_once():
        chosen, rows = _format(fmt), _limit(limit)
        table = descendants(db, event_id)
        first = table["event_id"][0].as_py()
        title = _chain_title(f"effects of {first}", table.num_rows - 1, "descendant")
        _chain(table, chosen, title, rows)


NO_CHAINS = "no SIGNAL → FILL chains (a run without trades, or of event types of its own)"
"""What ``chains`` says of a run without one (in 80 columns): "no chains" alone left a user
of their own event types wondering whether the command had failed."""


def chains(
    run: Annotated[str | None, typer.Argument(help="Run id, unique prefix or 'latest'.")] = None,
    latest: LatestOption = False,
    db: DbOption = DEFAULT_DB,
    fmt: FormatOption = "table",
    limit: LimitOption = DEFAULT_LIMIT,
    quiet: QuietOption = False,
) -> None:
    """Every SIGNAL → … → FILL chain of a run (the latest by default).

    The table shows the ids, signal → fill wall time (in µs or ms, as it reads best) and,
    if it fits, the chain's length (events); CSV and JSON give the time in ms and add both
    simulated times.
    """
    from eventstore.progress import progress_bar
    from eventstore.queries import signal_to_fill_chains
    from eventstore.render import render
    from eventstore.table_views import chains_view

    with reported(), ctrl_c_ends_at_once():
        chosen, rows = _format(fmt), _limit(limit)
        with progress_bar("chains", quiet, counted=False) as progress:
            table = signal_to_fill_chains(db, _one_run(run, latest), progress=progress)
        shown = chains_view(table) if chosen == "table" else table
        render(shown, chosen, empty=NO_CHAINS, limit=rows)


def latency(
    run: Annotated[
        list[str] | None, typer.Argument(help="Run ids, prefixes or 'latest'; none: all runs.")
    ] = None,
    latest: LatestOption = False,
    by: Annotated[
        str,
        typer.Option("--by", help="Group by: type (or event_type, its column), handler or source."),
    ] = "type",
    per_run: Annotated[bool, typer.Option("--per-run", help="One group per run too.")] = False,
    db: DbOption = DEFAULT_DB,
    fmt: FormatOption = "table",
    limit: LimitOption = DEFAULT_LIMIT,
    quiet: QuietOption = False,
) -> None:
    """Latency percentiles of queueing and handling, over one run, several or all.

    Tables show µs or ms, whichever the table reads best in (named in its title); CSV and
    JSON always give ms.
    """
    from eventstore.progress import progress_bar
    from eventstore.queries import latency_group, latency_percentiles
    from eventstore.render import render, render_sections
    from eventstore.table_views import latency_keys, latency_views

    chosen_runs = [*(run or []), *(["latest"] if latest else [])]
    with reported(), ctrl_c_ends_at_once():
        chosen, rows = _format(fmt), _limit(limit)
        group = latency_group(by)
        with progress_bar("latency", quiet, counted=False) as progress:
            table = latency_percentiles(
                db, chosen_runs, by=group, per_run=per_run, progress=progress
            )
        if chosen != "table":
            render(table, chosen)
        elif table.num_rows == 0:
            typer.echo("no deliveries")
        else:
            title = "event type" if group == "type" else group  # as `analyze` titles it
            views = latency_views(table, f"latency by {title}")
            render_sections(views, chosen, limit=rows, keys=latency_keys(table))


def compare(
    run_a: Annotated[str, typer.Argument(help="Run A: id, unique prefix or 'latest'.")],
    run_b: Annotated[str, typer.Argument(help="Run B: id, unique prefix or 'latest'.")],
    db: DbOption = DEFAULT_DB,
    fmt: FormatOption = "table",
    limit: LimitOption = DEFAULT_LIMIT,
    quiet: QuietOption = False,
) -> None:
    """How does run B differ from run A? Configuration, counts, latencies, trades, first
    divergence.

    The configuration keys the runs differ in come first, named as a sweep's grid names
    them (strategies.moving_average_crossover.fast), or "same configuration".

    Two events agree when their type, simulated time, source and payload are equal. Orders
    and fills are matched that way; the first divergence is the first seq where the runs'
    events don't agree; the runs are identical when every seq agrees.
    """
    from eventstore.progress import progress_bar
    from eventstore.queries import compare_runs
    from eventstore.render import render_sections
    from eventstore.table_views import (
        EVENT_LEAVE_LAST,
        compare_latency_view,
        config_view,
        divergence_view,
        unmatched_view,
    )

    with reported(), ctrl_c_ends_at_once():
        chosen, rows = _format(fmt), _limit(limit)
        shown = rows if chosen == "table" and rows else None  # CSV and JSON hold every row
        with progress_bar("compare", quiet, counted=False) as progress:
            diff = compare_runs(db, run_a, run_b, unmatched_limit=shown, progress=progress)
    if chosen != "table":
        render_sections(
            [
                ("configuration differences", diff.config),
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
    config_title, config = config_view(diff.config, diff.config_summary)
    same = "" if config.num_rows else f"{config_title}\n"
    typer.echo(f"run a: {diff.run_a}\nrun b: {diff.run_b}\n{same}{verdict}\n")
    heading, fields = divergence_view(diff.divergence)
    unmatched = "orders and fills in one run only"
    # Runs of a system with event types of its own have no orders or fills to match.
    traded = bool(diff.unmatched_count) or bool(
        {"ORDER", "FILL"} & set(diff.counts["event_type"].to_pylist())
    )
    render_sections(
        [
            *([(config_title, config)] if config.num_rows else []),
            ("events by type", diff.counts),
            compare_latency_view(diff.latency, "latency by event type"),
            *([(unmatched, unmatched_view(diff.unmatched))] if traded else []),
            *([(heading, fields)] if fields.num_rows else []),
        ],
        chosen,
        limit=rows,
        leave_last=EVENT_LEAVE_LAST,
        totals={unmatched: diff.unmatched_count},
    )


def show_analysis(
    store: Store | str | Path,
    run_id: str,
    fmt: str = "table",
    limit: int = DEFAULT_LIMIT,
    *,
    quiet: bool = False,
    trading: bool = True,
) -> None:
    """Print the analysis of one run: summary, events by type, a backtest's trading result
    (unless ``trading`` is False: a run that just ended prints its own), latency percentiles
    by event type, handlers by self time and SIGNAL → FILL chain statistics. ``store`` may be
    open read-write (right after a traced run) or a path; ``fmt`` is table, csv or json; a
    long analysis shows a progress bar on stderr unless ``quiet``."""
    from eventstore.progress import progress_bar
    from eventstore.queries import run_analysis
    from eventstore.render import render_sections
    from eventstore.table_views import (
        in_time_unit,
        latency_views,
        summary_view,
        trades,
        trading_view,
        without_trading_counts,
    )
    from eventstore.text_table import terminal_width

    chosen = _format(fmt)
    with progress_bar("analysis", quiet, counted=False) as progress:
        sections = run_analysis(store, run_id, progress=progress, trading=trading)
    if chosen == "table":
        shown = []
        sampled = ""
        # A run of a system with event types of its own reads without bars, orders and fills.
        trading_run = trades(sections[0][1])
        for title, table in sections:
            if title == "summary":
                run_title = f"run {table['run_id'][0].as_py()}"
                summary = table if trading_run else without_trading_counts(table)
                shown.append((run_title, summary_view(summary, terminal_width())))
                if "sampled_out" in table.column_names and table["sampled_out"][0].is_valid:
                    sampled = " (a sampled run: over its stored events only)"
            elif title == "trading":
                shown.append((title, trading_view(table.to_pylist()[0])))
            elif title.startswith("latency") and table.num_rows:
                shown.extend(latency_views(table, "latency by event type"))
            elif title == "signal to fill chains":
                if trading_run:
                    shown.append((title, in_time_unit(table, typical="p50_ms")))
            elif title.startswith("handlers") and table.num_rows:
                title = f"handlers by self time{sampled}"
                shown.append((title, in_time_unit(table, typical="self_ms")))
            else:
                shown.append((title, table))
        sections = shown
    render_sections(sections, chosen, limit=limit)


def analyze(
    run: Annotated[str | None, typer.Argument(help="Run id, unique prefix or 'latest'.")] = None,
    latest: LatestOption = False,
    db: DbOption = DEFAULT_DB,
    fmt: FormatOption = "table",
    limit: LimitOption = DEFAULT_LIMIT,
    quiet: QuietOption = False,
) -> None:
    """The analysis of a run (the latest by default).

    Summary, events by type, the trading result of a backtest (as `run` prints it), latency
    percentiles by event type, handlers by self time and SIGNAL → FILL chains.
    """
    with reported(), ctrl_c_ends_at_once():
        show_analysis(db, _one_run(run, latest), fmt, _limit(limit), quiet=quiet)


def sql(
    query: Annotated[str, typer.Argument(help='One read-only query, e.g. "SELECT * FROM runs".')],
    db: DbOption = DEFAULT_DB,
    fmt: FormatOption = "table",
    limit: LimitOption = DEFAULT_LIMIT,
) -> None:
    """Run one ad-hoc read-only SQL query on the run database.

    Tables: runs, events, lineage_edges, deliveries. Anything that could write is refused.
    Rows are read as they are written out: CSV or JSON of every event of a large store
    needs little memory.
    """
    from eventstore.queries import stream_sql
    from eventstore.render import render_stream

    with reported(), ctrl_c_ends_at_once():
        chosen, rows = _format(fmt), _limit(limit)
        # Values as stored, without thousands separators: a year or a seed is no count. What
        # stays in a narrow row is chosen by the rows' content: nobody chose these columns.
        render_stream(stream_sql(db, query), chosen, limit=rows, separators=False, by_content=True)
