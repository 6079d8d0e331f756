"""A layout that places its items left to right and wraps them onto more lines when narrow.

Qt has no such layout built in; this is the FlowLayout of Qt's own examples
(``examples/widgets/layouts/flowlayout``), typed. A row of buttons in a narrow panel then
keeps every button whole and visible (a box layout would squeeze them until their text
reads "A...w"), and the layout reports the height it needs for a width
(``heightForWidth``) so the panel grows a line instead of overlapping what follows.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QMargins, QPoint, QRect, QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLayout, QLayoutItem, QStyle, QWidget

__all__ = ["FlowBar", "FlowLayout"]


class FlowLayout(QLayout):
    """Items in reading order, wrapped at the layout's width.

    Args:
        parent: The widget the layout manages (or ``None`` to nest it in another layout).
        spacing: Gap between items on a line and between lines; ``-1`` asks the style.
    """

    def __init__(self, parent: QWidget | None = None, spacing: int = -1) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self._spacing = spacing
        self.setContentsMargins(QMargins(0, 0, 0, 0))

    # -- QLayout interface ----------------------------------------------------------------

    def addItem(self, item: QLayoutItem) -> None:
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._arrange(QRect(0, 0, width, 0), apply=False)

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        self._arrange(rect, apply=True)

    def sizeHint(self) -> QSize:
        # One line: what the items would like when there is room.
        width = height = 0
        visible = [i for i in self._items if not i.isEmpty()]
        for item in visible:
            hint = item.sizeHint()
            width += hint.width()
            height = max(height, hint.height())
        width += self._gap(horizontal=True) * max(len(visible) - 1, 0)
        margins = self.contentsMargins()
        return QSize(width, height) + QSize(
            margins.left() + margins.right(), margins.top() + margins.bottom()
        )

    def minimumSize(self) -> QSize:
        # The widest single item: narrower than that, something would be cut.
        size = QSize()
        for item in self._items:
            if not item.isEmpty():
                size = size.expandedTo(item.minimumSize().expandedTo(item.sizeHint()))
        margins = self.contentsMargins()
        return size + QSize(margins.left() + margins.right(), margins.top() + margins.bottom())

    # -- internals ------------------------------------------------------------------------

    def _gap(self, *, horizontal: bool) -> int:
        if self._spacing >= 0:
            return self._spacing
        parent = self.parentWidget()
        if parent is None:
            return 4
        metric = (
            QStyle.PixelMetric.PM_LayoutHorizontalSpacing
            if horizontal
            else QStyle.PixelMetric.PM_LayoutVerticalSpacing
        )
        gap = parent.style().pixelMetric(metric, None, parent)
        return gap if gap >= 0 else 4

    def _arrange(self, rect: QRect, *, apply: bool) -> int:
        """Place (or just measure) the items in ``rect``; returns the height used."""
        margins = self.contentsMargins()
        area = rect.marginsRemoved(margins)
        x, y, line_height = area.x(), area.y(), 0
        h_gap, v_gap = self._gap(horizontal=True), self._gap(horizontal=False)
        for item in self._items:
            if item.isEmpty():
                continue
            hint = item.sizeHint()
            if x > area.x() and x + hint.width() > area.right() + 1:
                x = area.x()
                y += line_height + v_gap
                line_height = 0
            if apply:
                item.setGeometry(QRect(QPoint(x, y), hint))
            x += hint.width() + h_gap
            line_height = max(line_height, hint.height())
        return y + line_height - rect.y() + margins.bottom()


class FlowBar(QWidget):
    """A row of widgets in a :class:`FlowLayout` that claims the height its lines need.

    Qt asks a layout's ``heightForWidth`` only for the preferred height; splitters and
    docks size by the minimum. Setting the minimum height to what the current width needs
    makes a window that is short as well as narrow shrink something else instead of
    drawing the second line of buttons over what follows.
    """

    def __init__(self, parent: QWidget | None = None, spacing: int = -1) -> None:
        super().__init__(parent)
        self.flow = FlowLayout(self, spacing)

    def addWidget(self, widget: QWidget) -> None:
        """Append ``widget`` to the flow."""
        self.flow.addWidget(widget)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def event(self, event: QEvent) -> bool:
        handled = super().event(event)
        if event.type() == QEvent.Type.LayoutRequest:
            self._fit()  # an item changed size (a count label's text): lines may wrap anew
        return handled

    def _fit(self) -> None:
        needed = self.flow.heightForWidth(self.width())
        if needed != self.minimumHeight():
            self.setMinimumHeight(needed)
