"""Qt-side resources: icons and theme-aware status colours (paths via gui.resources).

:mod:`gui.resources` is imported by the icon functions, not here: the window's first frame
reads this module for its colours, and its icon is set only after the first paint.
"""

from __future__ import annotations

import functools

from PySide6.QtCore import QSize
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette


@functools.cache
def app_icon() -> QIcon:
    """The application's icon: the SVG, plus the drawn PNG sizes for crisp small icons."""
    from gui.desktop import APP_ID, ICON_SIZES  # its desktop-entry code: not for the window
    from gui.resources import resource_path

    result = QIcon()
    for size in ICON_SIZES:
        result.addFile(str(resource_path(f"icons/{APP_ID}-{size}.png")), QSize(size, size))
    result.addFile(str(resource_path(f"icons/{APP_ID}.svg")))
    return result


@functools.cache
def icon(name: str) -> QIcon:
    """An icon from ``resources/icons/<name>.svg`` (empty icon if missing)."""
    from gui.resources import resource_path

    path = resource_path(f"icons/{name}.svg")
    return QIcon(str(path)) if path.exists() else QIcon()


def is_dark() -> bool:
    """Whether the application palette is dark (follows the system theme)."""
    app = QGuiApplication.instance()
    if app is None:
        return False
    window = QGuiApplication.palette().color(QPalette.ColorRole.Window)
    return window.lightness() < 128


#: Status colours (background, text) for light and dark palettes, by cell phase.
_STATUS = {
    "queued": ("#e4e7eb", "#3c4550", "#3a4048", "#c9d1d9"),
    "waiting": ("#e4e7eb", "#3c4550", "#3a4048", "#c9d1d9"),
    "running": ("#fff1c2", "#6b4e00", "#5a4a12", "#ffe08a"),
    "streaming": ("#d6e9ff", "#0b4a8b", "#16375c", "#9ccbff"),
    "retrying": ("#ffe1c2", "#7a3d00", "#5c3815", "#ffc08a"),
    "done": ("#d3f2dc", "#0f5a2a", "#1b4a2a", "#8fe0a8"),
    "failed": ("#ffd9d9", "#8b1111", "#5c1f1f", "#ffadad"),
    "cancelled": ("#ececec", "#555555", "#404040", "#bbbbbb"),
}


def status_colors(phase: str) -> tuple[QColor, QColor]:
    """(background, foreground) for a status chip in the current palette."""
    light_bg, light_fg, dark_bg, dark_fg = _STATUS.get(phase, _STATUS["queued"])
    if is_dark():
        return QColor(dark_bg), QColor(dark_fg)
    return QColor(light_bg), QColor(light_fg)
