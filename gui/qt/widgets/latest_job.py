"""Run a pure computation off the GUI thread, newest request first, at most a few times a second.

A view that recomputes something from text that keeps changing (a diff, the agreement of a
row while its answers stream) hands each new request to a :class:`LatestJob`. One job runs
at a time; requests made meanwhile collapse into the newest, which starts when the running
one ends and at least ``min_interval_ms`` after it started. Results come back on the GUI
thread through :attr:`LatestJob.finished` with the request they answer and whether a newer
request was made since, so the view can drop a stale result.

The computations are pure Python. On a worker *thread* they hold the GIL while they run,
and the GUI thread then waits up to a switch interval (5 ms) each time it needs the GIL
back: measured with the agreement of 8 x 1,000 words streaming in, that doubled the GUI
thread's lateness (docs/benchmarks.md, ``agreement``). So by default a job runs in a worker
*process* (one, shared by every view, started with ``spawn``, which is safe with Qt's threads,
by the first job on a pool thread: the imports and the spawn took 20-50 ms of the GUI
thread where a view was first shown); only the request and the result cross, pickled. Where no process can be
started (a sandbox, a frozen build without multiprocessing support) the job falls back to a
thread, with the same results.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import multiprocessing
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from PySide6.QtCore import QObject, Qt, QThreadPool, QTimer, Signal

__all__ = ["LatestJob", "shutdown_workers"]

_threads: QThreadPool | None = None
_process: concurrent.futures.ProcessPoolExecutor | None = None
_process_failed = False
_process_spawned = False  # the first job has been handed over: its process is running
_spawned_at = 0.0  # when (time.monotonic())

#: A worker process younger than this is waited for when the workers are shut down.
YOUNG_PROCESS_S = 2.0
_process_lock = threading.Lock()
_broken: list[concurrent.futures.ProcessPoolExecutor] = []  # see _give_up_processes


def _thread_pool() -> QThreadPool:
    """The views' own threads: their jobs never queue behind other users of the global pool."""
    global _threads
    if _threads is None:
        _threads = QThreadPool()
        _threads.setMaxThreadCount(2)
        _threads.setExpiryTimeout(30_000)  # threads idle for 30 s end
    return _threads


def _process_pool() -> concurrent.futures.ProcessPoolExecutor | None:
    """The one worker process (``None`` once starting one has failed); any thread."""
    global _process, _process_failed
    with _process_lock:
        if _process is None and not _process_failed:
            try:
                _process = concurrent.futures.ProcessPoolExecutor(
                    max_workers=1, mp_context=multiprocessing.get_context("spawn")
                )
                # Let go of it while the interpreter is whole: collected during the final
                # teardown, its weakref callback finds multiprocessing half gone and complains.
                atexit.register(_at_exit)
            except (OSError, NotImplementedError, ImportError):
                _process_failed = True
        return _process


def _submit(fn: Callable[[Any], Any], request: Any) -> concurrent.futures.Future[Any] | None:
    """``fn(request)`` handed to the worker process, started by the first call (on a pool
    thread: see :meth:`LatestJob._start`); ``None`` where no process can run."""
    global _process_spawned, _spawned_at
    pool = _process_pool()
    if pool is None:
        return None
    if _process_spawned:
        return pool.submit(fn, request)
    with _process_lock:  # the first jobs of two views: one spawns it, the other waits
        future = pool.submit(fn, request)
        _process_spawned, _spawned_at = True, time.monotonic()
    return future


def _at_exit() -> None:
    """No new worker process from here (a first job's pool thread may still be on its way
    to start one), then the one there is ended."""
    global _process_failed
    _process_failed = True
    shutdown_workers()
    # A broken pool set aside goes while the interpreter is whole: collected in the final
    # teardown, its weakref callback found multiprocessing half gone and printed so.
    _broken.clear()


def shutdown_workers() -> None:
    """End the worker process now, cancelling queued jobs (otherwise it ends at exit, after
    the job it is running).

    A process spawned moments ago is waited for: it may not have read its start-up data
    yet, and once this process has gone, that data's semaphores are gone too, and the child
    printed a traceback (an app closed right after a view's first job).
    """
    global _process, _process_spawned
    with _process_lock:  # a first job handing over now: after it
        pool, _process = _process, None
        young = _process_spawned and time.monotonic() - _spawned_at < YOUNG_PROCESS_S
        _process_spawned = False
    if pool is not None:
        pool.shutdown(wait=young, cancel_futures=True)


class _Relay(QObject):
    """Carries a result from a worker to the GUI thread (a queued signal)."""

    delivered = Signal(int, object, object, object)


class LatestJob(QObject):
    """The newest of many requests to a function, computed off the GUI thread.

    Args:
        fn: A pure function of one argument. In process mode both must be picklable (a
            module-level function, plain data), and ``fn`` should live in a light module:
            the worker process imports it.
        min_interval_ms: Shortest time from one job's start to the next's.
        in_process: Run in the worker process (default) rather than on a thread.

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
        *,
        in_process: bool = True,
    ) -> None:
        super().__init__(parent)
        self._fn = fn
        self._in_process = in_process
        self._min_interval = min_interval_ms / 1000
        self._generation = 0
        self._running = False
        self._pending: tuple[int, Any] | None = None
        self._started_at = float("-inf")
        # No parent: the worker's callback keeps it alive even if this job is deleted first.
        self._relay = _Relay()
        # Queued even when emitted on the GUI thread: a future already done when its callback
        # is added runs the callback at once, and a result must never arrive inside submit().
        self._relay.delivered.connect(self._on_relay_delivered, Qt.ConnectionType.QueuedConnection)
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

    def cancel(self) -> None:
        """Forget the waiting request; a running one's result arrives marked superseded."""
        self._generation += 1
        self._pending = None
        self._timer.stop()

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
        relay = self._relay

        def deliver(result: object, error: str | None) -> None:
            try:
                relay.delivered.emit(generation, request, result, error)
            except RuntimeError:  # the application is shutting down
                pass

        if not self._in_process or _process_failed:
            self._run_on_thread(request, deliver)
        elif not _process_spawned:
            # The first job starts the worker process: 20-50 ms of imports and a spawn that
            # froze the window where a view was first shown. A pool thread does it.
            _thread_pool().start(partial(self._run_in_process, request, deliver))
        else:
            self._run_in_process(request, deliver)

    def _run_in_process(self, request: Any, deliver: Callable[[object, str | None], None]) -> None:
        """Hand ``request`` to the worker process, or compute it on a thread where no process
        can run."""
        try:
            future = _submit(self._fn, request)
        except (RuntimeError, concurrent.futures.BrokenExecutor):
            _give_up_processes()
        else:
            if future is not None:

                def done(f: concurrent.futures.Future[Any]) -> None:
                    try:
                        deliver(f.result(), None)
                    except concurrent.futures.BrokenExecutor:
                        # Called by the pool's manager thread as it tears the broken pool
                        # down, holding its lock: shutting it down from here hung for ever.
                        _give_up_processes(broken=True)
                        self._run_on_thread(request, deliver)
                    except Exception as exc:
                        deliver(None, _one_line(exc))

                future.add_done_callback(done)
                return
        self._run_on_thread(request, deliver)

    def _run_on_thread(self, request: Any, deliver: Callable[[object, str | None], None]) -> None:
        fn = self._fn
        pool = _thread_pool()

        def work() -> None:
            try:
                result = fn(request)
            except Exception as exc:  # shown as one line by the view, never a traceback
                deliver(None, _one_line(exc))
            else:
                deliver(result, None)

        try:
            pool.start(work)
        except RuntimeError:  # the application is shutting down: nobody to deliver to
            pass

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


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def _give_up_processes(*, broken: bool = False) -> None:
    """A worker process died or cannot start: later jobs run on threads.

    ``broken``: the pool is broken and already ending its processes (its manager thread
    calls this, holding the lock a shutdown would take).
    """
    global _process, _process_failed, _process_spawned
    _process_failed = True
    if _process is not None:
        if broken:
            # Kept: letting go of the last reference here runs the pool's weakref callback,
            # which takes that same lock.
            _broken.append(_process)
        else:
            _process.shutdown(wait=False, cancel_futures=True)
        _process = None
        _process_spawned = False
