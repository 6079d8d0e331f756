"""A history file that cannot be read is moved aside, never deleted and never a crash loop.

``history.sqlite3`` becomes ``history.sqlite3.corrupt-YYYYmmdd-HHMMSS`` (with its ``-wal``,
``-shm`` and ``-journal``), so whatever it held can still be rescued by hand, and the app
starts a new one. :func:`left_cleanly` tells, from the files alone, whether the full
integrity check is worth its cost at this open.
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


def left_cleanly(target: Path) -> bool:
    """Whether the last process to use ``target`` (an existing SQLite file) closed it cleanly,
    and the file is as long as its header says.

    SQLite deletes the ``-wal`` (and a rollback ``-journal``) when the last connection closes
    cleanly; one left beside the file means a writer was killed, or that another process
    has the file open right now (then a check costs time but is still right). A file
    shorter than the page count in its header was cut by something other than SQLite (a
    copy that stopped, a full disk outside SQLite's writes). Call before connecting: a
    connection creates the ``-wal`` itself.
    """
    for suffix in ("-wal", "-journal"):
        if target.with_name(target.name + suffix).exists():
            return False
    with target.open("rb") as f:
        header = f.read(100)
    if len(header) < 100:
        return not header  # empty: SQLite makes a new database of it
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # The header's page count is valid only when written by a SQLite that keeps it (3.7+),
    # which it says by matching the change counter at offset 24 in offset 92.
    if pages and header[24:28] == header[92:96]:
        return target.stat().st_size >= pages * page_size
    return True


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
