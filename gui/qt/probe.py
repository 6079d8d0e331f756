"""The bench's child probes: run one coroutine on the app's event loop, print its figures.

``gui.qt.bench_input`` and ``gui.qt.bench_render`` measure in a process of their own, on
the same qasync loop (and library hooks) as the app, and hand their figures to
``fanout-studio bench`` as one JSON line on stdout.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QApplication

from gui.core.lag import LagRecorder, heartbeat

if TYPE_CHECKING:
    from gui.qt.main_window import MainWindow

__all__ = ["LoopBeat", "open_window", "run_probe", "warmed"]


def open_window(size: tuple[int, int]) -> MainWindow:
    """The main window, started as the app starts it and on screen, its session begun.

    As ``gui.qt.app`` does, no full collection runs from here to the warm-up's freeze, which
    lets them go again: without that hold a full collection (21-33 ms) fell in the probes'
    start-up, one the app never has. The session is what the app's own figures count: from
    the window on screen to the end, on the window's own heartbeat (a Qt timer).
    """
    from gui.compat.gc_policy import STARTUP, defer_full_collections
    from gui.qt.main_window import MainWindow

    defer_full_collections(True, STARTUP)
    window = MainWindow()
    window.resize(*size)
    window.show()
    window.lag.begin_session()
    return window


async def warmed(window: MainWindow) -> None:
    """The window's warm-up done, its background part too (the Markdown view's lexers on a
    worker thread): it would count against whichever step it overlapped."""
    await window.warm_up()
    if window.warmup.task is not None:
        await window.warmup.task


class LoopBeat:
    """A 10 ms heartbeat task on the asyncio loop beside the window's own: how long a
    coroutine waits for its turn (behind every callback queued before it)."""

    def __init__(self, name: str) -> None:
        self.lag = LagRecorder(keep=10)
        self._stop = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(
            heartbeat(self.lag, self._stop), name=name
        )

    async def stop(self) -> None:
        """End the heartbeat (its figures stay in :attr:`lag`)."""
        self._stop.set()
        await self._task


def run_probe(measure: Callable[[], Coroutine[Any, Any, dict[str, Any]]]) -> int:
    """Run ``measure()`` on the app's loop and write its figures as one JSON line."""
    from gui.qt.app import install_asyncgen_hooks, serial_fills
    from gui.qt.loop import FanoutEventLoop

    serial_fills()  # as the app does
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    loop = FanoutEventLoop(app)
    install_asyncgen_hooks(loop)
    asyncio.set_event_loop(loop)
    try:
        figures = loop.run_until_complete(measure())
    finally:
        loop.close()
    sys.stdout.write(json.dumps(figures) + "\n")
    return 0
