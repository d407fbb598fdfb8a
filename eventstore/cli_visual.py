"""The commands that draw or move a run: ``plot latency|equity``, ``graph``, ``export``,
``report`` and ``import`` (of a Parquet dataset). Like the other commands they parse
arguments, call one library function and say what they wrote; bad input is one line on stderr
and exit code 1, never a traceback and never a half-written file. ``eventstore.cli`` registers
them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from eventstore.cli_options import (
    CommandGroup,
    DbOption,
    EventIdArgument,
    LatestOption,
    QuietOption,
    WritableDbOption,
    ctrl_c_ends_at_once,
    ctrl_c_interrupts,
    reported,
)
from eventstore.errors import OutputError, QueryError
from eventstore.store import DEFAULT_DB, without_password

plot_app = CommandGroup(
    help="Draw a run as a PNG or SVG figure (the suffix of -o picks the format).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

RunsArgument = Annotated[
    list[str] | None, typer.Argument(help="Run ids, prefixes or 'latest' (default: latest).")
]
RunArgument = Annotated[
    str | None, typer.Argument(help="Run id, unique prefix or 'latest' (default: latest).")
]
OutOption = Annotated[Path, typer.Option("--output", "-o", help="File to write.")]


def _runs(runs: list[str] | None, latest: bool) -> list[str]:
    """The runs asked for: ids or prefixes, or the latest one (``--latest`` or none given)."""
    if runs and latest:
        raise QueryError(f"give run ids or --latest, not both (got {', '.join(runs)})")
    return runs or ["latest"]


PERFETTO_LARGE_BYTES = 256 * 2**20
"""A JSON trace past this size is parsed whole by the browser tab that opens it: it loads slowly
in ui.perfetto.dev, and one near a gigabyte (a run of about a million events) may not load at
all. The export then says how to cut it."""


PERFETTO_DEFAULT_LIMIT = 1_000_000
"""Deliveries ``export --perfetto`` writes when ``--limit`` is not given: a trace of about
250 MB, near the most ui.perfetto.dev opens. A run of 500 000 demo bars has about 10 million:
written whole, 2.4 GB in 70 s that the UI can't load."""


def _size(size: int) -> str:
    if size >= 2**20:
        return f"{size / 2**20:,.0f} MB"
    return f"{size / 1024:.0f} KB" if size >= 1024 else f"{size} B"


def _wrote(path: Path, what: str) -> None:
    typer.echo(f"wrote {path} ({what}, {_size(path.stat().st_size)})")


def _choice(value: str, choices: tuple[str, ...], what: str) -> str:
    if value.lower() not in choices:
        raise QueryError(f"unknown {what} {value!r}: use {', '.join(choices)}")
    return value.lower()


@plot_app.command("latency")
def plot_latency(
    runs: RunsArgument = None,
    latest: LatestOption = False,
    output: OutOption = Path("latency.png"),
    by: Annotated[
        str,
        typer.Option("--by", help="Panels per type (or event_type), handler or source."),
    ] = "type",
    metric: Annotated[
        str, typer.Option("--metric", help="queue (emitted→received) or handle.")
    ] = "handle",
    db: DbOption = DEFAULT_DB,
    quiet: QuietOption = False,
) -> None:
    """Latency histograms (log time axis, p50/p90/p99 marked), runs overlaid."""
    from eventstore.progress import progress_bar
    from eventstore.queries import figure_format, latency_group, save_figure
    from eventstore.queries import plot_latency as figure

    with reported():
        figure_format(output)
        chosen_by = latency_group(by)
        chosen = _choice(metric, ("queue", "handle"), "--metric")
        chosen_runs = _runs(runs, latest)
        with (
            ctrl_c_ends_at_once(),
            progress_bar("latency", quiet, counted=False) as progress,
        ):
            drawn = figure(db, chosen_runs, by=chosen_by, metric=chosen, progress=progress)
        save_figure(drawn, output)
        _wrote(output, f"{chosen} latency by {chosen_by}")


@plot_app.command("equity")
def plot_equity(
    runs: RunsArgument = None,
    latest: LatestOption = False,
    output: OutOption = Path("equity.png"),
    db: DbOption = DEFAULT_DB,
    quiet: QuietOption = False,
) -> None:
    """Equity curves from PORTFOLIO_UPDATE events, fills marked, runs overlaid."""
    from eventstore.progress import progress_bar
    from eventstore.queries import figure_format, save_figure
    from eventstore.queries import plot_equity as figure

    with reported():
        figure_format(output)
        with ctrl_c_ends_at_once(), progress_bar("runs", quiet) as progress:
            drawn = figure(db, _runs(runs, latest), progress=progress)
        save_figure(drawn, output)
        _wrote(output, "equity curve")


GRAPH_FORMATS = ("mermaid", "dot", "svg", "png")
GRAPH_SUFFIXES = {".mmd": "mermaid", ".dot": "dot", ".gv": "dot", ".svg": "svg", ".png": "png"}
"""What ``graph -o FILE`` writes when ``--format`` is not given, by the file's suffix."""


def _graph_format(fmt: str | None, output: Path | None) -> str:
    """The format asked for, else the one the suffix of ``output`` names (as ``plot`` picks
    PNG or SVG), else Mermaid; Mermaid or DOT text into a ``.svg``/``.png`` file is refused:
    no viewer would open it."""
    by_suffix = None if output is None else GRAPH_SUFFIXES.get(output.suffix.lower())
    if fmt is None:
        return by_suffix or "mermaid"
    chosen = _choice(fmt, GRAPH_FORMATS, "graph format")
    if chosen in ("mermaid", "dot") and by_suffix in ("svg", "png"):
        raise OutputError(
            f"-o {output} names an image but --format {chosen} writes text: drop --format "
            f"(or use -f {by_suffix}), or name the file .{'mmd' if chosen == 'mermaid' else 'dot'}"
        )
    return chosen


def graph(
    event_id: EventIdArgument,
    up: Annotated[bool, typer.Option("--up", help="Why: its ancestors (default).")] = False,
    down: Annotated[bool, typer.Option("--down", help="Effects: what it caused.")] = False,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="mermaid, dot (text), svg or png (default: from the suffix of -o, else mermaid).",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File (default: text to stdout).")
    ] = None,
    depth: Annotated[int, typer.Option("--depth", help="Edges shown from the event.")] = 6,
    width: Annotated[int, typer.Option("--width", help="Events shown per event.")] = 6,
    db: DbOption = DEFAULT_DB,
) -> None:
    """The causation graph of an event; edges point from cause to effect.

    Large graphs are cut at --depth and --width, with a note on what was left out.
    """
    from eventstore.queries import (
        atomic_text,
        causation_graph,
        figure_format,
        graph_text,
        save_figure,
    )

    with reported():
        if up and down:
            raise QueryError("give --up or --down, not both")
        chosen = _graph_format(fmt, output)
        if chosen in ("svg", "png"):
            if output is None:
                raise OutputError(f"--format {chosen} writes an image: give a file with -o")
            if figure_format(output) != chosen:
                raise OutputError(f"-o {output} does not end in .{chosen}: rename it")
        with ctrl_c_ends_at_once():
            built = causation_graph(db, event_id, direction="down" if down else "up",
                                    max_depth=depth, max_children=width)  # fmt: skip
        if chosen in ("svg", "png"):
            from eventstore.queries import draw_graph

            save_figure(draw_graph(built), output)  # type: ignore[arg-type]
            _wrote(output, built.title)  # type: ignore[arg-type]
            return
        text = graph_text(built, chosen)
        if output is None:
            typer.echo(text, nl=False)
            if built.note:
                typer.echo(f"note: {built.note}", err=True)
            return
        with atomic_text(output, f"graph.{'mmd' if chosen == 'mermaid' else chosen}") as out:
            out.write(text)
        _wrote(output, f"{built.title}, {chosen}")


def export(
    runs: RunsArgument = None,
    latest: LatestOption = False,
    all_runs: Annotated[bool, typer.Option("--all", help="Every run (--parquet only).")] = False,
    perfetto: Annotated[
        Path | None,
        typer.Option("--perfetto", help="Write a Chrome trace (JSON) for Perfetto UI."),
    ] = None,
    parquet: Annotated[
        Path | None,
        typer.Option("--parquet", help="Write the runs to a Parquet dataset (a directory)."),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            help="At most this many deliveries, earliest first (default for --perfetto: "
            f"{PERFETTO_DEFAULT_LIMIT:,}, about what ui.perfetto.dev opens; 0: all).",
        ),
    ] = None,
    start_ms: Annotated[
        float | None, typer.Option("--from-ms", help="Window start, ms since the run began.")
    ] = None,
    end_ms: Annotated[
        float | None, typer.Option("--to-ms", help="Window end, ms since the run began.")
    ] = None,
    quiet: QuietOption = False,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Export runs to another tool's format.

    --perfetto FILE.json: one run's timeline, for ui.perfetto.dev: its first
    million deliveries unless --limit says otherwise (0: all); --from-ms and
    --to-ms pick a window of a long run.

    --parquet DIR: runs as a Hive-partitioned Parquet dataset
    (DIR/events/run_id=<run id>/part-0.parquet, …) that DuckDB, Polars,
    Spark or Trino read; `eventstore import DIR` loads it into a database,
    and every command reads it in place with --db DIR. Exporting a run
    again replaces it.
    """
    with reported():
        if (perfetto is None) == (parquet is None):
            raise QueryError("choose one export format: --perfetto run.json or --parquet DIR")
        if all_runs and (runs or latest):
            raise QueryError("give run ids, --latest or --all, not two of them")
        if parquet is not None:
            _export_parquet(None if all_runs else _runs(runs, latest), parquet, quiet, db)
            return
        assert perfetto is not None
        if all_runs or (runs is not None and len(runs) > 1):
            raise QueryError("--perfetto writes one run: give one run id (or --latest)")
        _export_perfetto(_runs(runs, latest)[0], perfetto, limit, start_ms, end_ms, quiet, db)


def _export_perfetto(
    run: str,
    output: Path,
    limit: int | None,
    start_ms: float | None,
    end_ms: float | None,
    quiet: bool,
    db: str,
) -> None:
    from eventstore.progress import progress_bar
    from eventstore.queries import write_perfetto

    capped = limit is None
    # The trace is written as its deliveries are read: Ctrl-C ends at once, and the file begun
    # is removed (``queries.output.atomic_path``).
    with ctrl_c_ends_at_once(), progress_bar("deliveries", quiet) as progress:
        result = write_perfetto(db, run, output, start_ms=start_ms, end_ms=end_ms,
                                limit=PERFETTO_DEFAULT_LIMIT if capped else limit,
                                progress=progress)  # fmt: skip
    _wrote(output, f"{result.slices} slices, {result.flows} flows")
    if result.partial:
        typer.echo(
            f"note: run {result.run_id} is still running: this trace holds what is stored so "
            "far;\n  export it again once it has ended"
        )
    if result.truncated and capped:
        typer.echo(
            f"note: wrote the first {result.slices:,} of {result.deliveries_in_window:,} "
            "deliveries, about what ui.perfetto.dev opens;\n  --from-ms/--to-ms export a "
            "window, --limit 0 every delivery"
        )
    elif result.truncated:
        left = result.deliveries_in_window - result.slices
        typer.echo(f"note: --limit left {left} deliveries out")
    size = output.stat().st_size
    if size > PERFETTO_LARGE_BYTES:
        typer.echo(f"note: a {_size(size)} JSON trace opens slowly in ui.perfetto.dev, if at all;")
        typer.echo("  export a part of the run with --from-ms/--to-ms or --limit")


def _export_parquet(refs: list[str] | None, folder: Path, quiet: bool, db: str) -> None:
    """The runs ``refs`` names (None: every run) written to the dataset at ``folder``; a
    store without runs is refused (as every query of it is), not exported as an empty
    dataset that reads as success."""
    from eventstore.progress import progress_bar
    from eventstore.queries import all_runs, resolve_run
    from eventstore.store import open_store
    from eventstore.store.duckdb_memory import read_memory_limit
    from eventstore.store.parquet import export_runs

    limit = read_memory_limit()
    with (
        open_store(db, read_only=True, memory_limit=limit) as store,
        progress_bar("runs", quiet) as progress,
    ):
        chosen = all_runs(store) if refs is None else [resolve_run(store, r) for r in refs]
        run_ids = [run.run_id for run in chosen]
        written = export_runs(store, folder, run_ids, progress=progress)
    typer.echo(f"wrote {_count(len(written), 'run')} to the Parquet dataset {folder}")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def import_dataset(
    folder: Annotated[
        Path, typer.Argument(help="Dataset directory (what export --parquet wrote).")
    ],
    replace: Annotated[
        bool, typer.Option("--replace", help="Load runs the database holds again, in place.")
    ] = False,
    quiet: QuietOption = False,
    db: WritableDbOption = DEFAULT_DB,
) -> None:
    """Load the runs of a Parquet dataset into the run database.

    Importing twice duplicates nothing: a run the database already holds
    is skipped (with --replace, loaded again in its place), and so is a
    run that was still running when exported. Run and event ids stay as
    they were, so `why` gives the same answer.
    """
    from eventstore.progress import progress_bar
    from eventstore.store.parquet import import_dataset as load

    with reported(), progress_bar("runs", quiet) as progress:
        result = load(folder, db, replace=replace, progress=progress)
    done = len(result.imported) + len(result.replaced)
    typer.echo(f"imported {_count(done, 'run')} from {folder} into {without_password(db)}")
    if result.replaced:
        typer.echo(f"replaced {_count(len(result.replaced), 'run')} it already held")
    _skipped(result.skipped, "it already holds (--replace loads them again):")
    _skipped(
        result.running,
        "still running when exported\n(a copy would look crashed): export again once ended, "
        "then import:",
    )


def _skipped(run_ids: Sequence[str], why: str) -> None:
    if run_ids:
        typer.echo(f"note: skipped {_count(len(run_ids), 'run')} {why}")
        for run_id in run_ids:
            typer.echo(f"  {run_id}")


def report(
    run: RunArgument = None,
    latest: LatestOption = False,
    output: OutOption = Path("report.html"),
    compare: Annotated[
        str | None,
        typer.Option(
            "--compare",
            help="Compare with this run: configuration keys that differ, counts, latencies, "
            "trades, first divergence.",
        ),
    ] = None,
    quiet: QuietOption = False,
    db: DbOption = DEFAULT_DB,
) -> None:
    """One self-contained HTML report of a run (and its comparison with --compare)."""
    from eventstore.progress import progress_bar
    from eventstore.queries import atomic_text, report_file, report_html

    with reported():
        (chosen,) = _runs(None if run is None else [run], latest)
        report_file(output)
        with ctrl_c_ends_at_once(), progress_bar("report", quiet) as progress:
            text = report_html(db, chosen, compare=compare, progress=progress)
        with ctrl_c_interrupts(), atomic_text(output, "report.html") as out:
            out.write(text)
    _wrote(output, "report")
