"""Private folders and files: what the app creates in its data folder is the user's alone.

The data folder holds answers, templates, inputs and batch request files that may be
confidential, so every folder the app makes there is 0700 and every file 0600, whatever the
process's umask, also when the folder is removed under a running app and made again (a
``mkdir -p``, ``Path.mkdir(parents=True)`` included, makes the missing parents with the
umask's 0755, and ``open`` makes files 0644). Every layer creates its files through these
helpers: the storage, the providers (response cache, batch downloads) and the batch
executor's request files; :func:`gui.storage.paths.secure` corrects what an older version
or another program left, on every start.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from pathlib import Path
from typing import Final

__all__ = [
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "create_private_file",
    "private_dirs",
    "private_opener",
]

#: A folder only its owner may list, enter or change.
PRIVATE_DIR_MODE: Final = 0o700
#: A file only its owner may read or write.
PRIVATE_FILE_MODE: Final = 0o600

#: Where POSIX modes mean something (Windows keeps the user profile's ACLs).
_POSIX = sys.platform != "win32"


def private_dirs(path: Path) -> Path:
    """Make ``path`` and each missing folder above it, every one 0700; returns ``path``.

    Folders that exist keep their mode (:func:`gui.storage.paths.secure` sets the data
    folder's on start). A folder another thread or process made meanwhile is left to it.

    Raises:
        OSError: a folder cannot be made (no permission, a file in its place).
    """
    missing: list[Path] = []
    here = path
    while not here.is_dir():
        missing.append(here)
        if here.parent == here:
            break
        here = here.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, PRIVATE_DIR_MODE)
        except FileExistsError:
            if folder.is_dir():
                continue
            raise
        if _POSIX:
            # mkdir's mode passes through the umask; chmod does not.
            with contextlib.suppress(OSError):
                os.chmod(folder, PRIVATE_DIR_MODE)
    return path


def private_opener(path: str | os.PathLike[str], flags: int) -> int:
    """An ``open(..., opener=)`` that creates a missing file 0600 whatever the umask, before
    any byte is written; an existing file keeps its mode (it may be the user's own)."""
    if not flags & os.O_CREAT:
        return os.open(path, flags)
    if flags & os.O_EXCL:
        fd = os.open(path, flags, PRIVATE_FILE_MODE)
    else:
        try:
            fd = os.open(path, flags | os.O_EXCL, PRIVATE_FILE_MODE)
        except FileExistsError:
            return os.open(path, flags, PRIVATE_FILE_MODE)
    _exactly_private(fd)
    return fd


def create_private_file(path: Path) -> bool:
    """Create ``path`` empty and 0600 if it does not exist (for SQLite, which then gives
    its ``-wal`` and ``-shm`` files the database file's mode); whether it was created."""
    try:
        fd = private_opener(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def _exactly_private(fd: int) -> None:
    """A file just created: 0600 even under an umask that took more (``open``'s mode is
    filtered by it)."""
    if not _POSIX:
        return
    with contextlib.suppress(OSError):
        if stat.S_IMODE(os.fstat(fd).st_mode) != PRIVATE_FILE_MODE:
            os.fchmod(fd, PRIVATE_FILE_MODE)
