"""Window tests: offscreen, on the real qasync loop, awaiting signals instead of nesting loops."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import pytest_asyncio
import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent, QTimer
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from tests.support.waiting import until

if TYPE_CHECKING:
    from gui.qt.main_window import MainWindow

__all__ = ["SESSION_LOOP", "signal_future", "until"]

#: Async window tests mark their module with this: one qasync loop for the whole session.
#: A qasync loop owns Qt objects (timers, a signaller); creating and closing one per test left
#: dead loops for the garbage collector to finalise at an arbitrary later moment, inside
#: another test's Qt event processing, which crashed the interpreter about once in three
#: full runs. One loop for the session is also how the app runs.
SESSION_LOOP = pytest.mark.asyncio(loop_scope="session")


def _qasync_loop() -> asyncio.AbstractEventLoop:
    from gui.qt.app import install_asyncgen_hooks
    from gui.qt.loop import new_event_loop

    app = QApplication.instance() or QApplication([])
    # As in the app (gui/qt/app.py): closing a test's window must not quit the application.
    # With quitting on, the last window closed after a worker thread had run (qasync's
    # thread executor) left Qt quitting, and every later nested wait returned at once.
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    loop = new_event_loop(app)  # the app's FIFO loop, or qasync's own with the hook off
    install_asyncgen_hooks(loop)
    return loop


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Async tests under tests/qt run on the app's qasync-based loop, exactly like the app."""
    return {"qasync": _qasync_loop}


def _delete_deferred() -> None:
    """Run the ``deleteLater()`` calls posted so far (outside a running loop Qt keeps them)."""
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def _left_behind() -> list[QWidget]:
    return [w for w in QApplication.topLevelWidgets() if shiboken6.isValid(w)]


def _running_timers() -> list[QTimer]:
    app = QCoreApplication.instance()
    timers = app.findChildren(QTimer) if app is not None else []
    return [t for t in timers if t.isActive()]


@pytest.fixture(autouse=True)
def no_window_left_behind() -> Iterator[None]:
    """Every window a test made is closed and deleted when it ends, and no timer of the
    application's own runs on.

    A window left to Python's garbage collector is destroyed whenever a later collection
    finds its reference cycle, in the middle of another test: the collector has already
    cleared the attributes of the window's Python objects, and Qt then calls their event
    filters and slots while it deletes the children ("Slot 'WorkspaceBinding::' not found",
    then a segfault). So windows are deleted here, deterministically, while their Python
    side is whole; a test that did not close one fails, naming it.
    """
    yield
    _delete_deferred()  # qtbot's and the fixtures' close() + deleteLater()
    alive = _left_behind()
    timers = _running_timers()
    left = [f"{type(w).__name__} {w.windowTitle()!r}" for w in alive]
    left += [f"QTimer {t.objectName() or t.interval()}" for t in timers]
    for widget in alive:
        widget.close()
        shiboken6.delete(widget)  # the next test starts clean whatever this one did
    for timer in timers:
        timer.stop()
    _delete_deferred()
    assert not left, f"the test left these windows or timers alive: {left}"


@pytest.fixture
def dark_palette() -> Iterator[None]:
    """The application palette switched to a dark one for the test, then restored."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    original = QPalette(app.palette())
    dark = QPalette(original)
    for role, color in (
        (QPalette.ColorRole.Window, "#202124"),
        (QPalette.ColorRole.WindowText, "#e8eaed"),
        (QPalette.ColorRole.Base, "#17181a"),
        (QPalette.ColorRole.Text, "#e8eaed"),
    ):
        dark.setColor(role, QColor(color))
    app.setPalette(dark)
    try:
        yield
    finally:
        app.setPalette(original)


def signal_future(signal: Any) -> asyncio.Future[tuple[Any, ...]]:
    """A future resolved with the arguments of the next emission of ``signal``."""
    fut: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()

    def on_emit(*args: Any) -> None:
        if not fut.done():
            fut.set_result(args)
        try:
            signal.disconnect(on_emit)
        except (RuntimeError, TypeError):
            pass

    signal.connect(on_emit)
    return fut


@pytest_asyncio.fixture(loop_scope="session")
async def window(qtbot: QtBot) -> AsyncIterator[MainWindow]:
    """The main window, shown, its history open; shut down and closed after the test.

    A test module that needs another set-up defines its own ``window`` fixture, which wins.
    """
    from gui.qt.main_window import MainWindow

    win = MainWindow()

    win.results.set_layout("grid")  # these tests read the Grid's panes
    win.show()
    await win.ensure_history()
    await win.history_panel.wait_idle()
    yield win
    await win.shutdown()
    win.close()
    win.deleteLater()
