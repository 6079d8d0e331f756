"""The window's themes: the platform's own look, or a light or dark Fusion palette.

Colours of status chips follow the palette (:func:`gui.qt.resources.status_colors`), so
every theme reads the same; the app's other looks (:mod:`gui.qt.looks`) are fonts, palette
roles and painted outlines that follow the palette by themselves.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

__all__ = ["THEMES", "apply_theme"]

#: The themes a user can choose, in menu order.
THEMES = ("system", "light", "dark")

#: The platform's style name and palette, captured before the first theme change.
_platform: tuple[str, QPalette] | None = None


def apply_theme(app: QApplication, theme: str) -> None:
    """``system`` keeps (or brings back) the platform's look; ``dark`` / ``light`` force one (Fusion).

    The platform's style and palette are remembered before the first change, so switching
    back to ``system`` while the app runs restores them. Safe to call while the window is
    shown: the change reaches every widget before this returns, those with a style sheet
    of their own too.
    """
    global _platform
    if _platform is None:
        _platform = (app.style().name(), QPalette(app.palette()))
    if theme == "system":
        style, palette = _platform
    else:
        style = "Fusion"
        palette = _dark() if theme == "dark" else QStyleFactory.create(style).standardPalette()
    if app.style().name().lower() != style.lower():
        app.setStyle(QStyleFactory.create(style))
    app.setPalette(palette)
    # Qt posts the new palette to every widget: deliver it now, so that the whole window is
    # in the new theme when this returns. Then restyle the widgets that have a style sheet
    # of their own: its palette(...) colours were read when it was polished.
    QApplication.sendPostedEvents(None, QEvent.Type.ApplicationPaletteChange)
    for widget in QApplication.allWidgets():
        if widget.styleSheet():
            widget.style().unpolish(widget)
            widget.style().polish(widget)


def _dark() -> QPalette:
    p = QPalette()
    base, window, text = QColor("#1e1f22"), QColor("#2b2d30"), QColor("#dfe1e5")
    p.setColor(QPalette.ColorRole.Window, window)
    p.setColor(QPalette.ColorRole.WindowText, text)
    p.setColor(QPalette.ColorRole.Base, base)
    p.setColor(QPalette.ColorRole.AlternateBase, window)
    p.setColor(QPalette.ColorRole.Text, text)
    p.setColor(QPalette.ColorRole.Button, window)
    p.setColor(QPalette.ColorRole.ButtonText, text)
    p.setColor(QPalette.ColorRole.ToolTipBase, window)
    p.setColor(QPalette.ColorRole.ToolTipText, text)
    p.setColor(QPalette.ColorRole.PlaceholderText, QColor("#8c9096"))
    p.setColor(QPalette.ColorRole.Highlight, QColor("#3574f0"))
    p.setColor(QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
    p.setColor(QPalette.ColorRole.Link, QColor("#6aa5ff"))
    p.setColor(QPalette.ColorRole.Mid, QColor("#4e5157"))
    p.setColor(QPalette.ColorRole.Dark, QColor("#18191b"))
    p.setColor(QPalette.ColorRole.Light, QColor("#3c3f41"))
    for role in (
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
    ):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6f737a"))
    return p
