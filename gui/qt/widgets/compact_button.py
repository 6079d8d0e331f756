"""A tool button that says less when its row is short of room.

A toolbar row's minimum width is the sum of its buttons' full labels; one long label
("Wide columns") can make the row, and so the window, wider than the user asked for (the
Grid's row forced a 900 px window to 927 px). This button asks for its full label but
accepts the width of a shorter one, and shows whichever fits; the tooltip keeps the meaning.
"""

from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QSizePolicy, QToolButton, QWidget

__all__ = ["CompactToolButton"]


class CompactToolButton(QToolButton):
    """A tool button whose label shortens to ``short`` when it gets less than its full width.

    Args:
        full: The label when there is room.
        short: The label when there is not.
        parent: The Qt parent.
    """

    def __init__(self, full: str, short: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = full
        self._short = short
        self.setText(full)
        # A tool button is Fixed by default: its layout would never give it less than its hint.
        policy = self.sizePolicy()
        policy.setHorizontalPolicy(QSizePolicy.Policy.Preferred)
        self.setSizePolicy(policy)

    def _hint_for(self, text: str) -> QSize:
        # The style's hint for the current label, plus the difference in text width.
        hint = super().sizeHint()
        metrics = self.fontMetrics()
        extra = metrics.horizontalAdvance(text) - metrics.horizontalAdvance(self.text())
        return QSize(hint.width() + extra, hint.height())

    def sizeHint(self) -> QSize:
        """The full label's size: the layout gives it this whenever the row has room."""
        return self._hint_for(self._full)

    def minimumSizeHint(self) -> QSize:
        """The short label's size: the least the row must leave it."""
        return self._hint_for(self._short)

    def resizeEvent(self, event: QResizeEvent) -> None:
        """Show the full label if it fits the new width, else the short one."""
        super().resizeEvent(event)
        fits = event.size().width() >= self.sizeHint().width()
        text = self._full if fits else self._short
        if text != self.text():
            self.setText(text)
