"""A one-line label that elides its text to its width (in the middle by default): status
lines, pane titles, counters, model cards.

Its own module (not :mod:`gui.qt.widgets.cell_pane`, which re-exports it) so that the status
bar in the window's first frame does not import the engine's types with the answer panes.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

__all__ = ["ElidedLabel", "distinct_span"]


def distinct_span(text: str, others: Sequence[str]) -> tuple[int, int]:
    """The part of ``text`` that tells it apart from ``others``: what is left after the
    longest start and the longest end it shares with any of them (``"sim-100tps-1"`` among
    ``"sim-100tps-2"``: ``"1"``, as ``(11, 12)``). The whole text when nothing is left (no
    others, a duplicate, or a text that is another's start).
    """
    start = shared_end = 0
    for other in others:
        if other == text:
            continue
        most = min(len(text), len(other))
        prefix = 0
        while prefix < most and text[prefix] == other[prefix]:
            prefix += 1
        suffix = 0
        while suffix < most - prefix and text[-1 - suffix] == other[-1 - suffix]:
            suffix += 1
        start, shared_end = max(start, prefix), max(shared_end, suffix)
    end = len(text) - shared_end
    return (start, end) if start < end else (0, len(text))


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

    :meth:`set_full_text` can also name shorter forms of the text to show before any is
    cut, and the texts of its neighbours, so that a cut falls in what they share and the
    part that tells this one apart stays whole (model cards).
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
        self._shorter: tuple[str, ...] = ()
        self._distinct_from: tuple[str, ...] = ()
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

    def set_full_text(
        self,
        text: str,
        tooltip: str | None = None,
        *,
        shorter: Sequence[str] = (),
        distinct_from: Sequence[str] | None = None,
    ) -> None:
        """Show ``text`` (flattened to one line), elided to the current width.

        Args:
            text: The full text.
            tooltip: The tooltip; default the full text.
            shorter: Shorter forms of the text, most complete first: the first that fits
                is shown whole, and the last is elided when none fits ("sim-1 · ~3.3 s"
                rather than "simulated …1 · ~3.3 s").
            distinct_from: The texts this one is told apart from (the other cards' names):
                a cut falls first in the start, then in the end, it shares with them.
                ``None`` keeps those given before.
        """
        self._full = text
        self._shorter = tuple(shorter)
        if distinct_from is not None:
            self._distinct_from = tuple(" ".join(other.split()) for other in distinct_from)
        self.setToolTip(text if tooltip is None else tooltip)
        self._elide()

    def set_distinct_from(self, others: Sequence[str]) -> None:
        """Tell the text apart from ``others`` (see :meth:`set_full_text`); elides again."""
        flat = tuple(" ".join(other.split()) for other in others)
        if flat != self._distinct_from:
            self._distinct_from = flat
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
        if metrics.horizontalAdvance(flat) <= width:
            self.setText(flat)
            return
        for form in self._shorter:
            flat = " ".join(form.split())
            if metrics.horizontalAdvance(flat) <= width:
                self.setText(flat)
                return
        if self._separator and metrics.horizontalAdvance(flat) > width:
            flat = self._drop_middle_parts(flat, width)
        if self._distinct_from:
            start, end = distinct_span(flat, self._distinct_from)
            if (start, end) != (0, len(flat)):
                self.setText(self._cut_outside(flat, start, end, width))
                return
        self.setText(metrics.elidedText(flat, self._mode, width))

    def _cut_outside(self, text: str, start: int, end: int, width: int) -> str:
        """``text`` cut to ``width`` outside ``text[start:end]`` where it can be: first its
        shared start ("…tps-1"), then its shared end too, then the part itself (middle)."""
        advance = self.fontMetrics().horizontalAdvance
        for cut in range(1, start + 1):  # as much of the shared start as fits
            shown = "…" + text[cut:]
            if advance(shown) <= width:
                return shown
        head = "…" if start else ""
        for stop in range(len(text) - 1, end - 1, -1):
            shown = f"{head}{text[start:stop]}…"
            if advance(shown) <= width:
                return shown
        return self.fontMetrics().elidedText(text[start:end], Qt.TextElideMode.ElideMiddle, width)

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
