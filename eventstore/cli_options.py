"""What every command group shares: the options (so ``--db`` and ``--latest`` read alike in
every ``--help``), the error message, the quiet end when a pipe's reader goes away, and the
layout of ``--help`` itself."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup

from eventstore.errors import EventStoreError
from eventstore.interrupts import query_interrupted, remove_partial_files, signal_handled
from eventstore.text_table import wrapped

DbOption = Annotated[
    str,
    typer.Option(
        "--db",
        help="Run database: a DuckDB file, a Parquet dataset directory (read-only), or a "
        "PostgreSQL URL (postgresql+psycopg://user@host:5432/db).",
        show_default=True,
    ),
]
WritableDbOption = Annotated[
    str,
    typer.Option(
        "--db",
        help="Run database to write: a DuckDB file or a PostgreSQL URL, not a Parquet "
        "dataset (read-only).",
        show_default=True,
    ),
]
"""``--db`` of the commands that write (``run``, ``sweep``, ``migrate``, ``import``)."""
LatestOption = Annotated[bool, typer.Option("--latest", help="Use the most recent run.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
EventIdArgument = Annotated[
    str, typer.Argument(help="Event id (<run tag>-<seq>; tag may be a prefix).")
]


@contextmanager
def reported() -> Iterator[None]:
    """Our errors become one message on stderr and exit code 1, never a traceback."""
    try:
        yield
    except EventStoreError as exc:
        raise fail(exc) from None


INTERRUPTED = 130
"""Exit code of a command stopped by Ctrl-C (128 + SIGINT), as a shell reports it."""


@contextmanager
def ctrl_c_ends_at_once() -> Iterator[None]:
    """Within this block Ctrl-C ends the process at once with exit code 130 and no
    traceback. For commands that only read, and write stdout or a new file (written beside
    its destination and renamed when whole, ``queries.output.atomic_path``, which this
    removes): they have nothing else to finish or undo. A ``KeyboardInterrupt`` is no answer
    there: raised inside a DuckDB query it comes out as ``RuntimeError: Query interrupted``
    (a traceback, exit code 1), and cancelling a recursive CTE (``why``, ``chains``, the
    analysis) can wait forever in DuckDB's cleanup, the process spinning. Main thread only,
    where Python runs handlers."""
    with signal_handled(signal.SIGINT, _end_interrupted):
        yield


@contextmanager
def ctrl_c_interrupts() -> Iterator[None]:
    """Within a ``ctrl_c_ends_at_once`` block, Ctrl-C raises ``KeyboardInterrupt`` again: for
    writing a file (no query running), whose temporary file must be removed on the way out
    rather than left beside it; the command group then ends with exit code 130."""
    with signal_handled(signal.SIGINT, signal.default_int_handler):
        yield


def _end_interrupted(signum: int, frame: FrameType | None) -> NoReturn:
    if os.isatty(2):  # clear a progress bar's line and show the cursor it hid
        os.write(2, b"\r\x1b[2K\x1b[?25h")
    remove_partial_files()  # a file begun (``queries.output.atomic_path``) is not left
    os.write(2, b"interrupted\n")
    os._exit(INTERRUPTED)


def stderr_color() -> bool | None:
    """Whether messages on stderr may be colored: not when ``NO_COLOR`` is set
    (no-color.org), which Click ignores; else as Click decides (on a terminal only)."""
    return False if os.environ.get("NO_COLOR") else None


def fail(error: Exception) -> typer.Exit:
    """Print an error of ours as one message (``error: …``, wrapped to the terminal's width)
    and return the exit to raise."""
    text = " ".join(str(error).split()) or type(error).__name__
    typer.secho(wrapped(f"error: {text}"), err=True, fg=typer.colors.RED, color=stderr_color())
    return typer.Exit(code=1 if isinstance(error, EventStoreError) else 2)


# --- --help layout ---
# Typer's rich help keeps a docstring's line breaks inside a paragraph and then wraps each
# line again at the terminal's width, so a hard-wrapped docstring comes out ragged; and it
# prints a flag's type (`--quiet <bool>`) though a flag takes no value.


def reflowed(text: str | None) -> str | None:
    """``text`` with each paragraph (blank-line separated) on one line, for the help panel to
    wrap at the terminal's width."""
    if not text:
        return text
    return "\n\n".join(" ".join(paragraph.split()) for paragraph in text.split("\n\n"))


def _without_flag_types(params: list[Any]) -> list[Any]:
    """A flag takes no value: an empty metavar keeps the help from showing one."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class _HelpLayout:
    """Mixed into a click command or group: its ``--help`` reflows its text and shows no type
    for flags."""

    help: str | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = reflowed(self.help)

    def get_params(self, ctx: Any) -> list[Any]:
        return _without_flag_types(super().get_params(ctx))  # type: ignore[misc]


class HelpCommand(_HelpLayout, TyperCommand):
    """A command with the help layout above."""


class HelpGroup(_HelpLayout, TyperGroup):
    """A command group with the help layout above, whose commands end quietly (exit code 0)
    when the reader of their output goes away (``eventstore sql … | head -1``), and with
    exit code 130 and one line on Ctrl-C (Click would say ``Aborted!`` with exit code 1)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            result = super().invoke(ctx)
            sys.stdout.flush()  # what is still buffered meets a closed pipe here, not at exit
        except KeyboardInterrupt as exc:
            # The command has undone or closed what it had open on its way out; SIGTERM
            # (made an interrupt while a run is traced) says so in its own words.
            typer.echo(wrapped(" ".join(str(exc).split()) or "interrupted"), err=True)
            raise typer.Exit(INTERRUPTED) from None
        except RuntimeError as exc:  # Ctrl-C as DuckDB reports it, where no command caught it
            if not query_interrupted(exc):
                raise
            typer.echo("interrupted", err=True)
            raise typer.Exit(INTERRUPTED) from None
        except BrokenPipeError:
            # The reader has all it wanted, as after `head` in any Unix pipeline. Python's
            # "Note on SIGPIPE": point stdout at devnull so the flush at exit can't fail.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(0) from None
        return result


Command = TypeVar("Command", bound=Callable[..., Any])


class CommandGroup(typer.Typer):
    """A ``typer.Typer`` whose group and commands use the help layout above."""

    def __init__(self, **settings: Any) -> None:
        super().__init__(cls=HelpGroup, **settings)

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Command], Command]:
        kwargs.setdefault("cls", HelpCommand)
        return super().command(*args, **kwargs)
