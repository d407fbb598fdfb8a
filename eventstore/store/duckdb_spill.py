"""DuckDB's spill folder beside a store file, left behind by a process that died.

A DuckDB instance that writes ``runs.duckdb`` spills to ``runs.duckdb.tmp`` (joins, sorts,
and the loads of a traced run under its memory cap) and removes its files when it closes. A
process killed with SIGKILL removes nothing, so the folder stays, with files of megabytes.
DuckDB names each file after the process that made it (``duckdb_temp_<pid>_<n>_…``), which
tells a leftover from a file in use: whoever opens the store read-write removes the folder
when it is empty or holds only such files of processes that no longer run. Anything else in
it (a file of a live process, a file DuckDB did not name) leaves the folder as it is.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from eventstore.store.processes import process_alive

logger = logging.getLogger(__name__)

_TEMP_FILE = re.compile(r"duckdb_temp_(\d+)_")
"""A spill file of DuckDB's, and the id of the process that made it."""


def spill_folder(database: Path) -> Path:
    """Where DuckDB spills for the database file ``database`` it writes."""
    return database.with_name(f"{database.name}.tmp")


def remove_stale_spill(database: Path) -> bool:
    """Remove the spill folder of ``database`` if nothing in it belongs to a live process;
    whether it was removed. Call only while holding the file read-write: then no other
    process has it open, so no other DuckDB instance spills there for it."""
    folder = spill_folder(database)
    try:
        entries = list(folder.iterdir())
    except OSError:  # no folder (the usual case), or one we may not read: leave it
        return False
    if not all(_left_by_dead_process(entry) for entry in entries):
        return False
    try:
        for entry in entries:
            entry.unlink(missing_ok=True)
        folder.rmdir()
    except OSError as exc:
        logger.info("left %s in place: %s", folder, exc)
        return False
    logger.info("removed %s, left by a process that ended", folder)
    return True


def _left_by_dead_process(entry: Path) -> bool:
    match = _TEMP_FILE.match(entry.name)
    if match is None or entry.is_symlink() or not entry.is_file():
        return False
    return not process_alive(int(match.group(1)))
