"""The app's event loop: qasync's Qt-merged loop with asyncio's FIFO ready queue for ``call_soon``.

qasync turns every ``call_soon`` into a Qt timer of its own (``startTimer(0)``, a timer event,
``killTimer``). Every task step and every future wake-up is a ``call_soon``, so a streamed
chunk that crosses LangChain's ``prompt | model | parser`` (one task per chunk per layer)
costs four Qt timer round trips, a third of the chunk's whole cost on the loop (figures in
docs/runtime.md and docs/performance-notes.md), and zero-delay timers are not guaranteed to fire in the order they were started
(qasync PR #123 reports them out of order under UI load).

:class:`FanoutEventLoop` keeps qasync for everything else (sockets, delayed timers, threads,
``run_forever`` on ``QApplication.exec``) and puts ``call_soon`` callbacks in one deque,
drained in order by a single zero-interval :class:`QTimer`. One drain runs callbacks until the
deque is empty or a slice of :data:`SLICE_S` has passed, then returns to Qt, so input, paint
and the lag heartbeat still run between slices. The same chunk through the same chain then
costs what it costs on plain asyncio.

It runs asyncio's private ``Handle._run`` and reads ``Handle._cancelled``, so it is the
``fifo-loop`` library hook of :mod:`gui.compat`: :func:`new_event_loop` (what the app and the
tests use) returns it only while that hook is on, and plain ``qasync.QEventLoop`` otherwise
(plain mode, or a qasync or Python outside the range it was tested on). The hook lives here
rather than in ``gui/compat`` because only ``gui.qt`` may import PySide6.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import qasync  # type: ignore[import-untyped]
import shiboken6
from PySide6.QtCore import QTimer

from gui.compat import FIFO_LOOP, enabled

__all__ = ["SLICE_S", "FanoutEventLoop", "new_event_loop", "run"]

_T = TypeVar("_T")

#: Longest stretch of ready callbacks run before Qt gets its turn again (seconds). While the
#: loop is saturated (200 streaming cells), a Qt timer that falls due (a frame, the heartbeat)
#: waits for one or two slices and a paint, so the slice bounds that wait; 2 ms rather than 4
#: is measured in docs/benchmarks.md (branch `stress`).
SLICE_S = 0.002

#: Slow callbacks are reported here in debug mode, in asyncio's own words.
_log = logging.getLogger("asyncio")


class FanoutEventLoop(qasync.QEventLoop):  # type: ignore[misc]
    """qasync's loop, with ``call_soon`` callbacks run in order from one ready queue."""

    def __init__(self, app: Any = None, set_running_loop: bool = False, **kw: Any) -> None:
        self._ready_handles: collections.deque[asyncio.Handle] = collections.deque()
        super().__init__(app, set_running_loop, **kw)
        self._ready_timer = QTimer()
        self._ready_timer.setInterval(0)
        self._ready_timer.timeout.connect(self._run_ready)

    def call_soon(
        self, callback: Callable[..., object], *args: Any, context: Any = None
    ) -> asyncio.Handle:
        """Queue ``callback(*args)`` to run after the callbacks queued before it."""
        if self.is_closed():
            raise RuntimeError("Event loop is closed")
        handle = asyncio.Handle(callback, args, self, context=context)
        source = getattr(handle, "_source_traceback", None)
        if source:
            del source[-1]  # as asyncio does: "created at" names the caller
        self._ready_handles.append(handle)
        if not self._ready_timer.isActive():
            self._ready_timer.start()
        return handle

    def run_forever(self) -> None:
        """Run until :meth:`stop`; callbacks queued while the loop was stopped run first."""
        if self._ready_handles:
            self._ready_timer.start()
        super().run_forever()

    def _run_ready(self) -> None:
        if not self.is_running():
            # Qt also processes events outside the loop (pytest-qt between tests, a nested
            # exec): asyncio runs callbacks only inside run_forever, so they wait for it.
            self._ready_timer.stop()
            return
        ready = self._ready_handles
        debug = self.get_debug
        deadline = time.perf_counter() + SLICE_S
        while ready:
            handle = ready.popleft()
            if handle._cancelled:
                continue
            if debug():  # per callback: the previous one may have just turned it on
                self._run_timed(handle)
            else:
                handle._run()
            if time.perf_counter() >= deadline:
                break
        if not ready:
            self._ready_timer.stop()

    def _run_timed(self, handle: asyncio.Handle) -> None:
        """Run one callback and report it when it took ``slow_callback_duration`` or more."""
        self._current_handle = handle
        try:
            started = time.perf_counter()
            handle._run()
            took = time.perf_counter() - started
            if took >= self.slow_callback_duration:
                _log.warning("Executing %r took %.3f seconds", handle, took)
        finally:
            self._current_handle = None  # type: ignore[assignment]

    def close(self) -> None:
        """Close the loop; callbacks still queued are dropped, as asyncio's ``close`` does."""
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if shiboken6.isValid(self._ready_timer):  # not when Qt went first (loop GC'd late)
            self._ready_timer.stop()
        self._ready_handles.clear()
        super().close()


def new_event_loop(app: Any = None) -> asyncio.AbstractEventLoop:
    """The app's loop: :class:`FanoutEventLoop` while the ``fifo-loop`` hook is on, else qasync's."""
    if enabled(FIFO_LOOP):
        return FanoutEventLoop(app)
    loop: asyncio.AbstractEventLoop = qasync.QEventLoop(app)
    return loop


def run(main: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run(main)`` on :func:`new_event_loop` (the app's ``qasync.run``)."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main)
