"""A history file that cannot be read is moved aside, never deleted and never a crash loop.

``history.sqlite3`` becomes ``history.sqlite3.corrupt-YYYYmmdd-HHMMSS`` (with its ``-wal``,
``-shm`` and ``-journal``), so whatever it held can still be rescued by hand, and the app
starts a new one.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)

_SQLITE_HEADER = b"SQLite format 3\x00"


class Unreadable(Exception):
    """The file is not a history database we can use."""


def looks_like_sqlite(target: Path) -> bool:
    """Whether ``target`` (an existing file) is empty or starts like a SQLite database.

    Checked before SQLite opens it: on close SQLite deletes the ``-wal``/``-shm`` beside a
    file it cannot read, and those belong in the backup.
    """
    with target.open("rb") as f:
        head = f.read(len(_SQLITE_HEADER))
    return not head or head == _SQLITE_HEADER


def _backup_name(target: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate = target.with_name(f"{target.name}.corrupt-{stamp}")
    n = 2
    while candidate.exists() or candidate.is_symlink():
        candidate = target.with_name(f"{target.name}.corrupt-{stamp}-{n}")
        n += 1
    return candidate


def move_aside(target: Path) -> Path | None:
    """Rename ``target`` (and its ``-wal``/``-shm``) to a backup; ``None`` if nothing is there."""
    if not (target.exists() or target.is_symlink()):
        return None
    backup = _backup_name(target)
    os.replace(target, backup)
    for suffix in ("-wal", "-shm", "-journal"):
        side = target.with_name(target.name + suffix)
        if side.exists():
            try:
                os.replace(side, backup.with_name(backup.name + suffix))
            except OSError as exc:  # the main file is safe; a stale side file is harmless
                log.warning("could not move %s aside: %s", side, exc)
    return backup
