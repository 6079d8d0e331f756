"""A one-line label that elides its text to its width: status lines, pane titles, counters.

Its own module (not :mod:`gui.qt.widgets.cell_pane`, which re-exports it) so that the status
bar in the window's first frame does not import the engine's types with the answer panes.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

__all__ = ["ElidedLabel"]


class ElidedLabel(QLabel):
    """A one-line label that elides its text to the width it gets, full text in the tooltip."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        # Ignored: the layout may shrink the label to nothing; the elision fills the rest.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.set_full_text(text)

    def full_text(self) -> str:
        """The text before elision."""
        return self._full

    def set_full_text(self, text: str) -> None:
        """Show ``text`` (flattened to one line), elided to the current width."""
        self._full = text
        self.setToolTip(text)
        self._elide()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self._elide()

    def _elide(self) -> None:
        flat = " ".join(self._full.split())
        metrics = self.fontMetrics()
        self.setText(metrics.elidedText(flat, Qt.TextElideMode.ElideRight, max(self.width(), 1)))
