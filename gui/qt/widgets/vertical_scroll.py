"""A scroll area for a column of forms: scrolls vertically, and is never narrower than its content.

A plain :class:`QScrollArea` reports a tiny minimum width, so a splitter or a dock could
squeeze it below its content's own minimum and, with the horizontal scroll bar off, cut
buttons off at the right. This one's minimum width follows the content's (recomputed when
the content's layout changes), so the panel around it stops shrinking first.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSize, Qt
from PySide6.QtWidgets import QFrame, QScrollArea, QWidget

__all__ = ["VerticalScrollArea"]


class VerticalScrollArea(QScrollArea):
    """Vertical scrolling only; the content always gets at least its minimum width."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    def setWidget(self, widget: QWidget) -> None:
        super().setWidget(widget)
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self.updateGeometry()  # the content's minimum may have changed
        return super().eventFilter(watched, event)

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        widget = self.widget()
        if widget is None:
            return hint
        extra = self.verticalScrollBar().sizeHint().width() + 2 * self.frameWidth()
        return QSize(max(hint.width(), widget.minimumSizeHint().width() + extra), hint.height())
