"""Session and engine events -> Qt signals, coalesced so that widgets are touched once per frame.

The session calls the bridge's subscriber synchronously for every engine event (cell ids
already those of the grid), possibly thousands of times per second, and for every change of
the counts. The bridge only appends to lists there; a frame timer (~60 Hz, running only
while there is something to flush) hands the window everything that arrived since the last
frame in one signal: the new text per cell, joined, the other events in the order they
happened, and the latest counts last. No LangChain type ever reaches this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from gui.core import events as ev
from gui.core.session import CountsChanged

FRAME_MS = 16

Subscriber = Callable[[ev.Event | CountsChanged], None]


class RunBridge(QObject):
    """Buffers engine events and flushes them to the GUI once per frame.

    Signals:
        frame_flushed(texts, events): ``dict[cell_id, str]`` of new text, then a list of the
            other events in order (apply the text first: a cell's text always precedes its
            terminal event), ending with the frame's last :class:`CountsChanged` if any.
    """

    frame_flushed = Signal(object, object)

    def __init__(self, parent: QObject | None = None, frame_ms: int = FRAME_MS) -> None:
        super().__init__(parent)
        self._texts: dict[str, list[str]] = {}
        self._events: list[ev.Event | CountsChanged] = []
        self._counts: CountsChanged | None = None
        self._closed = False
        self._timer = QTimer(self)
        self._timer.setInterval(frame_ms)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self.flush)

    def subscriber(self) -> Subscriber:
        """A callback for :meth:`gui.core.session.Session.subscribe` (its per-cell events)."""
        texts, events, timer = self._texts, self._events, self._timer
        text_chunk, counts_changed = ev.TextChunk, CountsChanged

        def on_event(event: Any) -> None:
            if self._closed:
                return
            kind = type(event)
            if kind is text_chunk:  # exact type checks: this runs for every token
                bucket = texts.get(event.cell_id)
                if bucket is None:
                    texts[event.cell_id] = [event.text]
                else:
                    bucket.append(event.text)
            elif kind is counts_changed:
                self._counts = event  # only the frame's last counts are drawn
            else:
                events.append(event)
            if not timer.isActive():
                timer.start()

        return on_event

    def close(self) -> None:
        """Drop everything from now on (the window is going away; runs may still report)."""
        self._closed = True
        self._timer.stop()
        self._texts.clear()
        self._events.clear()
        self._counts = None

    def flush(self) -> None:
        """Emit everything buffered now (also called at the end of a run and by tests)."""
        if not self._texts and not self._events and self._counts is None:
            self._timer.stop()
            return
        texts = {cell_id: "".join(parts) for cell_id, parts in self._texts.items()}
        self._texts.clear()
        events = list(self._events)
        self._events.clear()  # the subscriber holds this very list
        if self._counts is not None:
            events.append(self._counts)
            self._counts = None
        self.frame_flushed.emit(texts, events)
