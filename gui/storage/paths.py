"""Where Fanout Studio keeps what it writes: one data directory per user.

``FANOUT_HOME`` overrides it for everything (history database, saved profiles, settings,
logs, the default export folder), so tests and portable installs are self-contained.
Otherwise it is the platform's per-user data directory from ``platformdirs``
(``~/.local/share/fanout-studio`` on Linux, ``~/Library/Application Support/fanout-studio``
on macOS, ``%LOCALAPPDATA%\\fanout-studio`` on Windows). Nothing here creates a file; the
directory is created on first use.
"""

from __future__ import annotations

import os
from pathlib import Path

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
    path.mkdir(parents=True, exist_ok=True)
    return path


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
    path.mkdir(exist_ok=True)
    return path


def exports_dir() -> Path:
    """The default folder for exports (created if missing)."""
    path = home() / "exports"
    path.mkdir(exist_ok=True)
    return path


def workspace_path() -> Path:
    """What the window was editing and how it was laid out (JSON), restored on start."""
    return home() / "workspace.json"
