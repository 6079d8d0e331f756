"""Run a pure computation off the GUI thread, newest request first, at most a few times a second.

A view that recomputes something from text that keeps changing (a diff, the agreement of a
row while its answers stream) hands each new request to a :class:`LatestJob`. One job runs
at a time on a worker thread; requests made meanwhile collapse into the newest, which starts
when the running one ends and at least ``min_interval_ms`` after it started. Results come
back on the GUI thread through :attr:`LatestJob.finished` with the request they answer and
whether a newer request was made since, so the view can drop a stale result.

The computations are pure Python, so the worker holds the GIL while it runs; the GUI thread
gets it back at every switch interval (5 ms by default), which bounds the lag a job adds to
a frame. ``fanout-studio bench --scenario agreement`` measures that lag.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, QTimer, Signal

__all__ = ["LatestJob"]

_pool: QThreadPool | None = None


def _worker_pool() -> QThreadPool:
    """The views' own pool: their jobs never queue behind other users of the global pool."""
    global _pool
    if _pool is None:
        _pool = QThreadPool()
        _pool.setMaxThreadCount(2)
        _pool.setExpiryTimeout(30_000)  # threads idle for 30 s end
    return _pool


class _Relay(QObject):
    """Carries a result from the worker thread to the GUI thread (a queued signal)."""

    delivered = Signal(int, object, object, object)


class LatestJob(QObject):
    """The newest of many requests to a function, computed on a worker thread.

    Signals:
        finished(request, result, superseded): ``fn(request)`` returned ``result``;
            ``superseded`` is true when a newer request was made while it ran.
        failed(request, message): ``fn(request)`` raised; ``message`` is one line.
    """

    finished = Signal(object, object, bool)
    failed = Signal(object, str)

    def __init__(
        self,
        fn: Callable[[Any], Any],
        min_interval_ms: int = 0,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._fn = fn
        self._min_interval = min_interval_ms / 1000
        self._generation = 0
        self._running = False
        self._pending: tuple[int, Any] | None = None
        self._started_at = float("-inf")
        # No parent: the worker's closure keeps it alive even if this job is deleted first.
        self._relay = _Relay()
        self._relay.delivered.connect(self._on_relay_delivered)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._on_timer_timeout)

    @property
    def busy(self) -> bool:
        """Whether a job is running or waiting to start."""
        return self._running or self._pending is not None

    def submit(self, request: Any) -> None:
        """Compute ``fn(request)`` soon; replaces any request still waiting to start."""
        self._generation += 1
        self._pending = (self._generation, request)
        if not self._running:
            self._start_when_due()

    def _start_when_due(self) -> None:
        wait = self._started_at + self._min_interval - time.monotonic()
        if wait > 0:
            if not self._timer.isActive():
                self._timer.start(max(1, round(wait * 1000)))
            return
        self._start()

    def _start(self) -> None:
        if self._pending is None or self._running:
            return
        generation, request = self._pending
        self._pending = None
        self._running = True
        self._started_at = time.monotonic()
        fn, relay = self._fn, self._relay

        def work() -> None:
            try:
                outcome: tuple[object, object] = (fn(request), None)
            except Exception as exc:  # shown as one line by the view, never a traceback
                outcome = (None, f"{type(exc).__name__}: {exc}")
            try:
                relay.delivered.emit(generation, request, *outcome)
            except RuntimeError:  # the application is shutting down
                pass

        _worker_pool().start(work)

    def _on_timer_timeout(self) -> None:
        self._start()

    def _on_relay_delivered(self, generation: int, request: Any, result: Any, error: Any) -> None:
        self._running = False
        superseded = generation != self._generation
        if error is not None:
            self.failed.emit(request, str(error))
        else:
            self.finished.emit(request, result, superseded)
        if self._pending is not None:
            self._start_when_due()
