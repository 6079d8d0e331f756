"""The app's event loop: call_soon in order, Qt still served between slices, debug timing."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest
from PySide6.QtCore import QTimer

from gui.compat import FIFO_LOOP, enabled
from gui.qt.loop import SLICE_S, FanoutEventLoop
from tests.qt.conftest import SESSION_LOOP

#: Tests of the session loop's FIFO behaviour: qasync's own loop (the hook off) promises none.
FIFO_ONLY = pytest.mark.skipif(
    not enabled(FIFO_LOOP), reason="the fifo-loop hook is off: the tests run on qasync's loop"
)


@SESSION_LOOP
async def test_the_window_runs_on_the_fanout_loop_while_its_hook_is_on() -> None:
    assert isinstance(asyncio.get_running_loop(), FanoutEventLoop) is enabled(FIFO_LOOP)


@FIFO_ONLY
@SESSION_LOOP
async def test_call_soon_callbacks_run_in_the_order_they_were_queued() -> None:
    loop = asyncio.get_running_loop()
    order: list[int] = []
    done = loop.create_future()
    for i in range(500):
        loop.call_soon(order.append, i)
    loop.call_soon(done.set_result, None)
    await done
    assert order == list(range(500))


@FIFO_ONLY
@SESSION_LOOP
async def test_a_cancelled_handle_never_runs() -> None:
    loop = asyncio.get_running_loop()
    ran: list[str] = []
    handle = loop.call_soon(ran.append, "cancelled")
    loop.call_soon(ran.append, "kept")
    handle.cancel()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert ran == ["kept"]


@FIFO_ONLY
@SESSION_LOOP
async def test_qt_timers_fire_while_a_task_never_stops_yielding() -> None:
    """A coroutine that only ever does ``sleep(0)`` still leaves Qt its turn every slice."""
    loop = asyncio.get_running_loop()
    stop = False
    steps = 0

    async def busy() -> None:
        nonlocal steps
        while not stop:
            steps += 1
            await asyncio.sleep(0)

    fired: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: fired.append(time.perf_counter()))
    task = loop.create_task(busy())
    timer.start()
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 0.3:
        await asyncio.sleep(0)
    stop = True
    timer.stop()
    await task
    gaps = [b - a for a, b in itertools.pairwise(fired)]
    assert steps > 1000  # the busy task really ran flat out
    assert len(fired) >= 15  # ~30 expected in 0.3 s
    assert max(gaps) < 10e-3 + 4 * SLICE_S + 0.02  # no tick waited for the busy task


@FIFO_ONLY
@SESSION_LOOP
async def test_slow_callbacks_are_timed_in_debug_mode(caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.get_running_loop()
    was_slow = loop.slow_callback_duration
    loop.slow_callback_duration = 0.02
    loop.set_debug(True)
    try:
        with caplog.at_level("WARNING", logger="asyncio"):
            loop.call_soon(time.sleep, 0.03)
            await asyncio.sleep(0.05)
    finally:
        loop.set_debug(False)
        loop.slow_callback_duration = was_slow
    messages = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert any("sleep(0.03)" in m and "test_loop.py" in m and " took 0.0" in m for m in messages)


def test_a_closed_loop_refuses_new_callbacks() -> None:
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    loop = FanoutEventLoop(app)
    loop.call_soon(print, "never")
    loop.close()
    with pytest.raises(RuntimeError, match="closed"):
        loop.call_soon(print, "never")


def test_callbacks_wait_for_the_loop_when_qt_runs_events_without_it() -> None:
    """pytest-qt, or a nested exec(), processes Qt events while asyncio is not running."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    loop = FanoutEventLoop(app)
    try:
        ran: list[str] = []
        loop.call_soon(ran.append, "queued")
        for _ in range(3):
            app.processEvents()
        assert ran == []  # asyncio runs callbacks only inside run_forever
        loop.run_until_complete(asyncio.sleep(0))
        assert ran == ["queued"]
    finally:
        loop.close()


def test_a_new_qasync_runs_the_app_on_qasyncs_own_loop(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import qasync
    from PySide6.QtWidgets import QApplication

    from gui.compat import hooks
    from gui.qt.loop import new_event_loop

    app = QApplication.instance() or QApplication([])
    monkeypatch.delenv(hooks.PLAIN_ENV, raising=False)
    monkeypatch.setattr(hooks, "installed_version", lambda name: "0.29.0")
    hooks.reset()
    try:
        with caplog.at_level("WARNING", logger="gui.compat"):
            loop = new_event_loop(app)
        try:
            assert type(loop) is qasync.QEventLoop
            assert loop.run_until_complete(asyncio.sleep(0, "ran")) == "ran"
        finally:
            loop.close()
        assert any("fifo-loop hook off" in r.getMessage() for r in caplog.records)
    finally:
        hooks.reset()
