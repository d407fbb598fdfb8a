"""Writing output files whole or not at all.

Every figure, graph, trace and report is written to a temporary file beside its destination
and renamed over it only once complete, so an error (a bad run id found late, a full disk, an
interrupt) never leaves a half-written file where a finished one is expected. An unwritable
destination is an ``OutputError`` naming the path and the fix.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from eventstore.errors import OutputError
from eventstore.interrupts import partial_file

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FIGURE_FORMATS = ("png", "svg")


def figure_format(path: str | os.PathLike[str], formats: tuple[str, ...] = FIGURE_FORMATS) -> str:
    """The image format a path's suffix names, or an ``OutputError`` listing the choices."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in formats:
        shown = f"'.{suffix}'" if suffix else "no suffix"
        raise OutputError(
            f"cannot tell the image format of {os.fspath(path)!r} ({shown}): "
            f"end the file name with {' or '.join('.' + f for f in formats)}"
        )
    return suffix


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], example: str = "out") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on any error
    it is removed and ``path`` is left as it was. ``example`` is the file name suggested
    when ``path`` is a directory."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise OutputError(f"{target} is a directory: give a file name, e.g. {target / example}")
    try:
        handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        missing = isinstance(exc, FileNotFoundError)
        problem = "its folder does not exist" if missing else exc.strerror or exc
        raise OutputError(
            f"cannot write {target}: {problem}: choose a writable folder"
        ) from None  # no option named: --perfetto and the Python API take the path too
    os.close(handle)
    temp_path = Path(temp)
    try:
        with partial_file(temp_path):  # removed by a command ending at once on Ctrl-C too
            yield temp_path
        os.chmod(temp_path, 0o644)
        os.replace(temp_path, target)
    except OSError as exc:
        raise OutputError(
            f"cannot write {target}: {exc.strerror or exc}: free space or choose another path"
        ) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp_path.unlink()


@contextlib.contextmanager
def atomic_text(path: str | os.PathLike[str], example: str = "out") -> Iterator[IO[str]]:
    """A text file (UTF-8) that appears at ``path`` only once written completely."""
    with atomic_path(path, example) as temp, open(temp, "w", encoding="utf-8") as out:
        yield out


def save_figure(figure: Figure, path: str | os.PathLike[str], *, dpi: int = 120) -> Path:
    """Write ``figure`` as PNG or SVG (by the suffix of ``path``), whole or not at all."""
    fmt = figure_format(path)
    with atomic_path(path) as temp:
        figure.savefig(temp, format=fmt, dpi=dpi, bbox_inches="tight")
    return Path(path)
