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
from typing import Any

from PySide6.QtWidgets import QApplication

__all__ = ["run_probe"]


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
