"""``fanout-studio --install-desktop-entry``: the launcher entry and icon for Linux desktops.

Copies ``resources/fanout-studio.desktop`` and the application icon where the freedesktop.org
specifications say a user's own entries live: ``$XDG_DATA_HOME/applications/`` and the hicolor
icon theme under ``$XDG_DATA_HOME/icons/`` (``~/.local/share`` when the variable is unset).
``Exec`` is rewritten to the command that is running now, by absolute path, because pipx puts
``fanout-studio`` in ``~/.local/bin``, which a desktop session's ``PATH`` often lacks.
Qt-free: it only copies files.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from gui.resources import resource_path

#: The desktop file id; Qt's ``setDesktopFileName`` in ``gui.qt.app`` names the same.
APP_ID = "fanout-studio"
#: The icon's fixed sizes shipped in ``resources/icons`` (see gui/qt/render_icons.py).
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256)


class DesktopEntryError(Exception):
    """The entry could not be installed; the message is one line a user can act on."""


@dataclass(frozen=True, slots=True)
class Installed:
    """What :func:`install_desktop_entry` wrote."""

    desktop_file: Path
    icons: tuple[Path, ...]


def data_home(environ: dict[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME``, or ``~/.local/share`` when it is unset, empty or relative."""
    env = os.environ if environ is None else environ
    value = env.get("XDG_DATA_HOME", "")
    # The base-directory specification says a relative path is invalid and must be ignored.
    if value and Path(value).is_absolute():
        return Path(value)
    return Path.home() / ".local" / "share"


def launch_command() -> list[str]:
    """The command that starts this installation of the app, absolute paths only."""
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and script.name == APP_ID and script.is_file():
        return [str(script.resolve())]
    # Started as ``python -m gui``: the same interpreter. Not resolved: a virtual environment's
    # python is a symlink to the base interpreter, which would lose the environment.
    return [os.path.abspath(sys.executable), "-m", "gui"]


def _exec_quote(arg: str) -> str:
    # The desktop entry spec's quoting: double quotes around an argument with reserved
    # characters, with backslash before ", `, $ and \ inside; "%" is always doubled.
    arg = arg.replace("%", "%%")
    if re.fullmatch(r"[A-Za-z0-9_./+:@=,-]+", arg):
        return arg
    return '"' + re.sub(r'(["`$\\])', r"\\\1", arg) + '"'


def desktop_entry_text(command: list[str]) -> str:
    """The bundled ``.desktop`` file with ``Exec`` (and ``TryExec``) pointing at ``command``."""
    template = resource_path(f"{APP_ID}.desktop").read_text(encoding="utf-8")
    # The string-value escape (a backslash written as two) applies on top of the quoting.
    exec_line = " ".join(_exec_quote(a) for a in command).replace("\\", "\\\\")
    lines = []
    for line in template.splitlines():
        if line.startswith("Exec="):
            line = f"Exec={exec_line}"
        elif line.startswith("TryExec="):
            # TryExec takes a bare path, no arguments and no quoting.
            line = "TryExec=" + command[0].replace("\\", "\\\\")
        lines.append(line)
    return "\n".join(lines) + "\n"


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)  # a desktop that watches the folder never reads half a file


def install_desktop_entry(
    target: Path | None = None, command: list[str] | None = None
) -> Installed:
    """Install the launcher entry and the icon under ``target`` (default :func:`data_home`).

    Raises:
        DesktopEntryError: not a Linux desktop, or a file could not be written.
    """
    if not sys.platform.startswith("linux"):
        raise DesktopEntryError(
            f"--install-desktop-entry is for Linux desktops; on {sys.platform} start the app "
            "with the fanout-studio command"
        )
    root = data_home() if target is None else target
    desktop_file = root / "applications" / f"{APP_ID}.desktop"
    hicolor = root / "icons" / "hicolor"
    icons = [
        (resource_path(f"icons/{APP_ID}.svg"), hicolor / "scalable" / "apps" / f"{APP_ID}.svg")
    ]
    icons += [
        (resource_path(f"icons/{APP_ID}-{n}.png"), hicolor / f"{n}x{n}" / "apps" / f"{APP_ID}.png")
        for n in ICON_SIZES
    ]
    try:
        for source, dest in icons:
            _write(dest, source.read_bytes())
        text = desktop_entry_text(command or launch_command())
        _write(desktop_file, text.encode("utf-8"))
    except OSError as exc:
        where = exc.filename or root
        raise DesktopEntryError(
            f"could not write {where}: {exc.strerror or exc}; set XDG_DATA_HOME to a folder you can write"
        ) from None
    return Installed(desktop_file, tuple(dest for _source, dest in icons))
