"""The data folder's small JSON files (profiles, prices, workspace): atomic writes, and an
unreadable file set aside so the app starts from its defaults instead of failing."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from gui.core.private import private_dirs


def write_atomic(path: Path, text: str, *, encoding: str = "utf-8") -> None:
    """Replace ``path`` with ``text``: a reader sees the old file or the new one, never half.

    The text goes to a temporary file beside it (created readable by the user only), is
    flushed to disk, and is renamed over ``path``.

    Raises:
        OSError: the folder is not writable (the previous file stays whole).
    """
    private_dirs(path.parent)  # 0700 also when the data folder was removed meanwhile
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "w", encoding=encoding) as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def set_aside(path: Path, tag: str = "corrupt") -> str:
    """Rename an unreadable ``path`` to ``NAME.TAG-YYYYmmdd-HHMMSS``, keeping it for the user.

    Returns:
        Where it went, for the user's one-line notice: ``moved to NAME`` or ``left in place``
        (when the rename failed).
    """
    backup = path.with_name(f"{path.name}.{tag}-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        os.replace(path, backup)
    except OSError:
        return "left in place"
    return f"moved to {backup.name}"
