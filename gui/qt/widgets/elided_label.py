"""A one-line label that elides its text to its width (in the middle by default): status
lines, pane titles, counters.

Its own module (not :mod:`gui.qt.widgets.cell_pane`, which re-exports it) so that the status
bar in the window's first frame does not import the engine's types with the answer panes.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

__all__ = ["ElidedLabel"]


class ElidedLabel(QLabel):
    """A one-line label that elides its text in the middle to the width it gets, the full
    text in its tooltip: both ends stay readable ("cats × gp…-mini", "48 tok/s" kept whole
    at the end), never a bare "…".

    Args:
        text: The full text.
        parent: The parent widget.
        min_chars: The label never gets narrower than this many average characters plus
            the ellipsis (0: the layout may shrink it to nothing).
        mode: Where the text is cut: the middle, or the end for a sentence (status bar).
        separator: A line of figures joined by this (``" · "``) loses whole figures from
            its middle ("first token 0.31 s · … · 48 tok/s") before any figure is cut; a
            cut one read as nonsense ("first token 0.…tok/s").
    """

    def __init__(
        self,
        text: str = "",
        parent: QWidget | None = None,
        min_chars: int = 0,
        mode: Qt.TextElideMode = Qt.TextElideMode.ElideMiddle,
        separator: str = "",
    ) -> None:
        super().__init__(parent)
        self._full = ""
        self._separator = separator
        self._mode = mode
        self._min_chars = min_chars
        # Ignored: the layout may shrink the label (down to min_chars); elision fills the rest.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._set_minimum()
        self.set_full_text(text)

    def full_text(self) -> str:
        """The text before elision."""
        return self._full

    def set_full_text(self, text: str, tooltip: str | None = None) -> None:
        """Show ``text`` (flattened to one line), elided to the current width.

        Args:
            text: The full text.
            tooltip: The tooltip; default the full text.
        """
        self._full = text
        self.setToolTip(text if tooltip is None else tooltip)
        self._elide()

    def _set_minimum(self) -> None:
        if self._min_chars:
            metrics = self.fontMetrics()
            margins = self.contentsMargins()
            width = metrics.averageCharWidth() * self._min_chars + metrics.horizontalAdvance("…")
            self.setMinimumWidth(width + margins.left() + margins.right())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self._set_minimum()
            self._elide()

    def _elide(self) -> None:
        flat = " ".join(self._full.split())
        metrics = self.fontMetrics()
        width = max(self.contentsRect().width(), 1)
        if self._separator and metrics.horizontalAdvance(flat) > width:
            flat = self._drop_middle_parts(flat, width)
        self.setText(metrics.elidedText(flat, self._mode, width))

    def _drop_middle_parts(self, text: str, width: int) -> str:
        """``text`` with whole parts from its middle replaced by one "…" until it fits in
        ``width`` (the first and last parts always kept; cut by characters after that)."""
        parts = text.split(self._separator)
        if len(parts) < 3:
            return text
        advance = self.fontMetrics().horizontalAdvance
        head, tail = parts[: (len(parts) + 1) // 2], parts[(len(parts) + 1) // 2 :]
        while head or tail:
            # The side with more parts gives one up (the head on a tie: the line's start
            # names what the figures are).
            if len(head) > len(tail) and len(head) > 1:
                head.pop()
            elif len(tail) > 1:
                tail.pop(0)
            elif len(head) > 1:
                head.pop()
            else:
                break
            shorter = self._separator.join([*head, "…", *tail])
            if advance(shorter) <= width:
                return shorter
        return self._separator.join([*head, "…", *tail])
