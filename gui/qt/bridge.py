"""Engine events -> Qt signals, coalesced so that widgets are touched once per frame.

The engine calls :meth:`RunBridge.on_event` synchronously for every event, possibly
thousands of times per second. The bridge only appends to lists there; a frame timer
(~60 Hz, running only while there is something to flush) hands the window everything that
arrived since the last frame in one signal: the new text per cell, joined, and the other
events in the order they happened. No LangChain type ever reaches this module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from gui.core import events as ev

FRAME_MS = 16

Subscriber = Callable[[ev.Event], None]


class RunBridge(QObject):
    """Buffers engine events and flushes them to the GUI once per frame.

    Signals:
        frame_flushed(texts, events): ``dict[cell_id, str]`` of new text, then a list of the
            other events in order (apply the text first: a cell's text always precedes its
            terminal event).
    """

    frame_flushed = Signal(object, object)

    def __init__(self, parent: QObject | None = None, frame_ms: int = FRAME_MS) -> None:
        super().__init__(parent)
        self._texts: dict[str, list[str]] = {}
        self._events: list[ev.Event] = []
        self._closed = False
        self._timer = QTimer(self)
        self._timer.setInterval(frame_ms)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self.flush)

    def subscriber(self, cell_map: dict[str, str] | None = None) -> Subscriber:
        """A callback for :meth:`gui.core.runner.Run.subscribe`.

        Args:
            cell_map: Renames cell ids (a single-cell retry run reports ``r0m0``; the
                grid knows that cell by its original id).
        """
        texts, timer = self._texts, self._timer

        def on_event(event: ev.Event) -> None:
            if self._closed:
                return
            if cell_map is not None and isinstance(event, ev.CellEvent):
                event = replace(event, cell_id=cell_map.get(event.cell_id, event.cell_id))
            if type(event) is ev.TextChunk:
                bucket = texts.get(event.cell_id)
                if bucket is None:
                    texts[event.cell_id] = [event.text]
                else:
                    bucket.append(event.text)
            else:
                self._events.append(event)
            if not timer.isActive():
                timer.start()

        return on_event

    def close(self) -> None:
        """Drop everything from now on (the window is going away; runs may still report)."""
        self._closed = True
        self._timer.stop()
        self._texts.clear()
        self._events.clear()

    def flush(self) -> None:
        """Emit everything buffered now (also called at the end of a run and by tests)."""
        if not self._texts and not self._events:
            self._timer.stop()
            return
        texts = {cell_id: "".join(parts) for cell_id, parts in self._texts.items()}
        self._texts.clear()
        events, self._events = self._events, []
        self.frame_flushed.emit(texts, events)
