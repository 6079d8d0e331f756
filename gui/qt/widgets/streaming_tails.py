"""Streaming into plain-text views at the cost of what the reader can see change.

Two costs of appending to a :class:`~PySide6.QtWidgets.QPlainTextEdit` have nothing to do with
what is on screen, and both are paid per view per frame when several long answers stream side
by side:

* the view repaints its whole viewport whenever an insert adds a line or a paragraph (its
  document layout asks for "everything"; Qt's own source calls it "optimization potential"),
  even when the text goes in far below what the view shows;
* its scroll bar repaints whenever the document grows by a line: about 2 ms for a bar
  800 px tall in the Fusion style on this project's reference machine.

Eight answer columns streaming at 60 frames a second paid 15-20 ms of the GUI thread's time a
frame for the two, though the reader looks at their top. :class:`StreamingTails` appends the
text of each of its views:

* a view whose end is on screen gets the new text at once, and only the part of its viewport
  from the line the old text ended on down to the bottom is repainted (the view's repaint
  requests from its document layout, a public signal, are routed through here; a request
  that is not an append, such as a new text or a relayout on resize, still repaints the
  whole viewport, as Qt does); text before the old end's line cannot move when text is
  appended, since lines are broken greedily from the start of their paragraph;
* a view whose end is below the screen holds the new text for up to :data:`HOLD_MS` and
  takes it in one insert: the scroll bar grows four times a second instead of sixty, and the
  viewport does not repaint at all. One held view is brought up to date per frame, the one
  that waited longest, so the views do not all repaint in the same frame. A view the reader
  scrolls or resizes, and every view whose text a caller asks for (:meth:`flush`), is brought
  up to date at once: the reader never meets a held tail.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

from PySide6.QtCore import QEvent, QObject, QRect, QRectF, QTimer, Signal
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QPlainTextEdit

__all__ = ["FLUSH_TICK_MS", "HOLD_MS", "StreamingTails"]

#: Longest time text appended below the screen waits before it goes into its view.
HOLD_MS = 250

_clock = time.monotonic  # the tests move their own

#: How often held views are looked at: one is brought up to date per tick (one frame).
FLUSH_TICK_MS = 16


class _Tail(QObject):
    """One view: its held text and the narrowing of its repaints."""

    def __init__(self, view: QPlainTextEdit, flushed: Callable[[], None]) -> None:
        super().__init__(view)
        self.view = view
        self.held: list[str] = []
        self.held_since = 0.0
        self._flushed = flushed
        self._dirty_top: int | None = None  # while appending: the old end's line, in the viewport
        layout = view.document().documentLayout()
        # Qt connects the layout's request to the view's full repaint; route it through here.
        layout.update.disconnect()
        layout.update.connect(self._on_layout_update)
        view.verticalScrollBar().valueChanged.connect(self._on_scrolled)
        view.viewport().installEventFilter(self)

    def end_top(self) -> int:
        """The top of the line the text ends on, in viewport coordinates."""
        cursor = QTextCursor(self.view.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        return self.view.cursorRect(cursor).top()

    def insert(self, text: str) -> None:
        self._dirty_top = self.end_top()
        cursor = QTextCursor(self.view.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        try:
            cursor.insertText(text)
        finally:
            self._dirty_top = None

    def flush(self) -> None:
        if self.held:
            text = "".join(self.held)
            self.held.clear()
            self.insert(text)
            self._flushed()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """A resized viewport may show the end: bring it up to date before it paints."""
        if event.type() == QEvent.Type.Resize:
            self.flush()
        return False

    def _on_scrolled(self, _value: int) -> None:
        self.flush()

    def _on_layout_update(self, _rect: QRectF) -> None:
        viewport = self.view.viewport()
        top = self._dirty_top
        if top is None:  # not an append: what Qt would do
            viewport.update()
            return
        height = viewport.height()
        if top < height:
            top = max(top, 0)
            viewport.update(QRect(0, top, viewport.width(), height - top))


class StreamingTails(QObject):
    """Append streamed text to the ends of some plain-text views (see the module).

    Signals:
        flushed(index): view ``index`` took in text it held.
    """

    flushed = Signal(int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tails: list[_Tail] = []
        self._timer = QTimer(self)
        self._timer.setInterval(FLUSH_TICK_MS)
        self._timer.timeout.connect(self._on_timer_timeout)

    def add(self, view: QPlainTextEdit) -> int:
        """Take over appending to ``view``; returns its index for :meth:`append`."""
        index = len(self._tails)
        self._tails.append(_Tail(view, partial(self.flushed.emit, index)))
        return index

    def append(self, index: int, text: str) -> None:
        """Add ``text`` to the end of view ``index``: now if its end is on screen, else soon."""
        if not text:
            return
        tail = self._tails[index]
        if not tail.held and tail.end_top() < tail.view.viewport().height():
            tail.insert(text)
            return
        if not tail.held:
            tail.held_since = _clock()
            if not self._timer.isActive():
                self._timer.start()
        tail.held.append(text)

    def drop(self, index: int) -> None:
        """Forget view ``index``'s held text (its whole text is about to be replaced)."""
        self._tails[index].held.clear()

    def flush(self, index: int | None = None) -> None:
        """Bring view ``index`` (every view when ``None``) up to date now."""
        for tail in self._tails if index is None else (self._tails[index],):
            tail.flush()

    def held_chars(self, index: int) -> int:
        """Characters (``str`` indices) appended to view ``index`` that it does not hold yet."""
        return sum(len(text) for text in self._tails[index].held)

    def _on_timer_timeout(self) -> None:
        waiting = [tail for tail in self._tails if tail.held]
        if not waiting:
            self._timer.stop()
            return
        oldest = min(waiting, key=lambda tail: tail.held_since)
        if (_clock() - oldest.held_since) * 1000 >= HOLD_MS:
            oldest.flush()
