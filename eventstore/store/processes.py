"""Whether a process that left files behind (a spill folder, a sweep's spooled run) still
runs on this machine: its files are then in use, else they are leftovers to clean or recover.
"""

from __future__ import annotations

import os
from pathlib import Path


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (this process does; one that ended and
    was not collected yet does not)."""
    if pid == os.getpid() or os.name == "nt":  # Windows' os.kill would end the process
        return True
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's
    except OSError:
        return True  # can't tell: keep its files
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Whether ``pid`` has ended but its parent has not collected it yet (Linux): it still
    answers ``kill(pid, 0)``, for as long as its parent lives, but holds nothing open."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]
