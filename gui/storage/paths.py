"""Where Fanout Studio keeps what it writes: one data directory per user.

``FANOUT_HOME`` overrides it for everything (history database, saved profiles, settings,
logs, the default export folder), so tests and portable installs are self-contained.
Otherwise it is the platform's per-user data directory from ``platformdirs``
(``~/.local/share/fanout-studio`` on Linux, ``~/Library/Application Support/fanout-studio``
on macOS, ``%LOCALAPPDATA%\\fanout-studio`` on Windows). Nothing here creates a file; the
directory is created on first use.

The folder is private: it is created 0700 (each folder and file the app makes there goes
through :mod:`gui.core.private`, so the umask never widens it, also when the folder is made
again mid-run) and :func:`secure` (run on every start) sets the folder back to 0700 and every
file the app keeps in it to 0600, since it holds answers, templates and inputs that may be
confidential (keys themselves live in the OS keyring).
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from pathlib import Path

from gui.core.private import private_dirs, private_opener

APP_NAME = "fanout-studio"

#: Environment variable that moves every file the app writes.
HOME_ENV = "FANOUT_HOME"


def home() -> Path:
    """The data directory (created if missing)."""
    override = os.environ.get(HOME_ENV, "").strip()
    if override:
        path = Path(override).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    if not path.is_dir():
        private_dirs(path)  # 0700, and so is each missing folder above it
    return path


def _chmod(path: Path, mode: int) -> None:
    """``chmod`` where POSIX permissions exist; a file we do not own is left as it is."""
    if sys.platform == "win32":  # pragma: no cover - ACLs of the user profile apply there
        return
    with contextlib.suppress(OSError):
        if stat.S_IMODE(path.lstat().st_mode) != mode and not path.is_symlink():
            path.chmod(mode)


def make_private(path: Path) -> None:
    """Make a file the app created readable and writable by the user only (0600)."""
    _chmod(path, 0o600)


def secure(folder: Path | None = None) -> None:
    """Set the data folder to 0700 and every file the app keeps in it (history, profiles,
    settings, logs, exports) to 0600.

    Never raises: a file that cannot be changed keeps its mode.
    """
    try:
        root = folder if folder is not None else home()
    except OSError:
        return
    if root != Path.home():  # FANOUT_HOME=~ must not lock the user's own home folder
        _chmod(root, 0o700)
    for sub in (root / "logs", root / "exports"):
        if sub.is_dir() and not sub.is_symlink():
            _chmod(sub, 0o700)
    _secure_tree(root / _BATCHES)
    # Only the app's own files: FANOUT_HOME may point at a folder that holds other things.
    for pattern in (
        "history.sqlite3*",
        "profiles.json*",
        ".profiles-*",
        "prices.json*",
        ".prices-*",
        "settings.json*",
        "workspace.json*",
        ".workspace-*",
        "response-cache.sqlite3*",
        _EXPORTED,
        "logs/fanout-studio.log*",
        "exports/*",
    ):
        try:
            entries = list(root.glob(pattern))
        except OSError:
            continue
        for entry in entries:
            if entry.is_file() and not entry.is_symlink():
                _chmod(entry, 0o600)


#: The batch executor's folder: request and result files in use, the simulated provider's.
_BATCHES = "batches"


def _secure_tree(top: Path) -> None:
    """Set ``top`` and every folder under it to 0700, every file to 0600 (all the app's)."""
    if not top.is_dir() or top.is_symlink():
        return
    _chmod(top, 0o700)
    for folder, dirs, files in os.walk(top):
        base = Path(folder)
        for name in dirs:
            _chmod(base / name, 0o700)
        for name in files:
            entry = base / name
            if entry.is_file() and not entry.is_symlink():
                _chmod(entry, 0o600)


def batches_dir() -> Path:
    """The batch executor's folder, with its ``work`` and ``simulated`` folders (created
    0700 if missing): request files hold the run's prompts and inputs."""
    root = home() / _BATCHES
    for path in (root / "work", root / "simulated"):
        if not path.is_dir():
            private_dirs(path)
    return root


#: An ``open(..., opener=)`` that creates the file 0600 whatever the umask (before any byte
#: is written): :func:`gui.core.private.private_opener`.
private_file_opener = private_opener


#: The SQLite files of the data folder: the history, and the response cache (issue 15; its
#: name is ``gui.providers.cache.CACHE_FILE_NAME``, which this layer may not import).
_DATABASES = ("history.sqlite3", "response-cache.sqlite3")
#: The data folder's own JSON files: an export written there before the app made them would
#: be read back as (and set aside as) a broken profiles, settings, prices or workspace file.
_OWN_FILES = ("profiles.json", "settings.json", "prices.json", "workspace.json")


def protected_reason(target: Path, folder: Path | None = None) -> str | None:
    """Why the app must not write an export to ``target``, or ``None`` when it may.

    The history database and the response cache with their ``-wal``/``-shm``/``-journal``
    files, profiles, settings, prices and the workspace are never written over (a symlink or hard link to one counts as the file itself), nor
    any other existing file of the data folder the app did not export itself (see
    :func:`record_export`); its ``exports`` folder takes any export.
    """
    try:
        root = (folder if folder is not None else home()).resolve()
    except OSError:
        return None
    try:
        resolved = target.expanduser().resolve()
    except (OSError, RuntimeError):
        return None
    own = [root / f"{db}{s}" for db in _DATABASES for s in ("", "-wal", "-shm", "-journal")]
    own += [root / name for name in _OWN_FILES]
    for path in own:
        same = resolved == path
        if not same and resolved.exists() and path.exists():
            with contextlib.suppress(OSError):
                same = os.path.samefile(resolved, path)
        if same:
            return f"{target} is Fanout Studio's own {path.name}"
    exports = root / "exports"
    inside = resolved.is_relative_to(root) and not resolved.is_relative_to(exports)
    if inside and resolved.is_file() and str(resolved) not in _exported(root):
        return f"{target} is a file in Fanout Studio's data folder that it did not export"
    return None


_EXPORTED = ".exported"


def _exported(root: Path) -> set[str]:
    try:
        return set((root / _EXPORTED).read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError):
        return set()


def record_export(target: Path) -> None:
    """Remember that the app wrote the export ``target`` (only inside the data folder, so
    that exporting to the same file again is allowed there)."""
    try:
        root = home().resolve()
        resolved = target.resolve()
    except (OSError, RuntimeError):
        return
    if not resolved.is_relative_to(root) or str(resolved) in _exported(root):
        return
    with contextlib.suppress(OSError):
        with open(root / _EXPORTED, "a", encoding="utf-8", opener=private_file_opener) as f:
            f.write(f"{resolved}\n")


def history_path() -> Path:
    """The run history database."""
    return home() / "history.sqlite3"


def profiles_path() -> Path:
    """Saved provider profiles (JSON; never a key: keys live in the OS keyring)."""
    return home() / "profiles.json"


def settings_path() -> Path:
    """Window settings (JSON)."""
    return home() / "settings.json"


def logs_dir() -> Path:
    """Log files (created if missing)."""
    path = home() / "logs"
    if not path.is_dir():
        private_dirs(path)
    return path


def exports_dir() -> Path:
    """The default folder for exports (created if missing)."""
    path = home() / "exports"
    if not path.is_dir():
        private_dirs(path)
    return path


def workspace_path() -> Path:
    """What the window was editing and how it was laid out (JSON), restored on start."""
    return home() / "workspace.json"
