"""The parts the window is wired from, each on its own: the warm-up's queued-run gate, the
export menu's refusals and choices, and the run controls' status lines."""

from __future__ import annotations

import asyncio
import sys
from types import SimpleNamespace
from typing import Any

import pytest
from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QMainWindow
from pytestqt.qtbot import QtBot

from gui.core.lag import LagStats
from gui.core.session import Counts, PastRunOpened, RunEnded
from gui.core.tasks import TaskOwner
from gui.qt.views.export_menu import ExportMenu
from gui.qt.views.run_controls import RunControls
from gui.qt.warmup import Warmup
from gui.qt.widgets.status_bar import StatusBar
from tests.support.waiting import until

from .conftest import SESSION_LOOP, signal_future


@SESSION_LOOP
async def test_a_run_queued_during_the_warm_up_starts_once_when_the_imports_end() -> None:
    warmup = Warmup(TaskOwner())
    imports_done = asyncio.Event()
    warmup.task = asyncio.create_task(imports_done.wait())  # type: ignore[assignment]
    started: list[str] = []
    ran = asyncio.Event()

    async def start(name: str) -> None:
        await warmup.settled()
        started.append(name)
        ran.set()

    assert warmup.importing and not warmup.queued
    warmup.queue(lambda: start("first"))
    warmup.queue(lambda: start("second"))  # pressed again while one waits: ignored
    await asyncio.sleep(0.05)
    assert warmup.queued and started == []

    imports_done.set()
    await asyncio.wait_for(ran.wait(), 10)
    await asyncio.sleep(0)  # the queued task's own end, right after its start returned
    assert started == ["first"] and not warmup.queued and not warmup.importing


@SESSION_LOOP
async def test_a_failing_queued_start_still_opens_the_gate() -> None:
    tasks = TaskOwner()
    warmup = Warmup(tasks)

    async def start() -> None:
        raise RuntimeError("boom")

    warmup.queue(start)
    assert warmup.queued
    (queued,) = tasks.pending()
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(queued, 10)
    assert not warmup.queued


@SESSION_LOOP
async def test_the_engine_is_ready_before_the_markdown_warm_up_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    import gui.qt.warmup as warmup_module

    release = threading.Event()
    markdown_started = threading.Event()

    def slow_markdown() -> None:  # the lexers' warm-up, held until the test lets it go
        markdown_started.set()
        release.wait(60)

    monkeypatch.setattr(warmup_module, "_markdown_pieces", lambda: [slow_markdown])
    monkeypatch.setattr(warmup_module, "_ENGINE_MODULES", ("json",))  # already imported
    tasks = TaskOwner()
    warmup = Warmup(tasks)
    task = warmup.start(openai=False)
    try:
        # A run waits for the engine only: the gate opens while the lexers still build.
        await asyncio.wait_for(warmup.settled(), 30)
        await asyncio.wait_for(asyncio.to_thread(markdown_started.wait, 30), 40)
        assert not task.done() and not warmup.importing
    finally:
        release.set()
    await asyncio.wait_for(task, 30)


@SESSION_LOOP
async def test_a_held_markdown_warm_up_waits_before_its_next_piece_until_let_go(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    import gui.qt.warmup as warmup_module

    first_started, may_finish = threading.Event(), threading.Event()
    pieces: list[str] = []

    def parser() -> None:  # a run in Tiles begins while the first piece runs
        first_started.set()
        may_finish.wait(60)
        pieces.append("parser")

    monkeypatch.setattr(
        warmup_module, "_markdown_pieces", lambda: [parser, lambda: pieces.append("lexers")]
    )
    monkeypatch.setattr(warmup_module, "_ENGINE_MODULES", ("json",))  # already imported
    monkeypatch.setattr(warmup_module, "MARKDOWN_DELAY_S", 0.0)
    warmup = Warmup(TaskOwner())
    task = warmup.start(openai=False)
    await asyncio.wait_for(warmup.settled(), 30)  # the engine is not held back
    await asyncio.wait_for(asyncio.to_thread(first_started.wait, 30), 40)
    warmup.hold_markdown(True)
    assert warmup.markdown_held
    may_finish.set()
    try:
        # The piece under way ends; the next one waits, on the loop: no thread is kept.
        await until(lambda: pieces == ["parser"], timeout=30)
        for _ in range(3):
            await asyncio.to_thread(lambda: None)  # a turn for the next piece, were it let go
        assert pieces == ["parser"] and not task.done()
    finally:
        warmup.hold_markdown(False)  # the run ended
    await asyncio.wait_for(task, 30)
    assert pieces == ["parser", "lexers"] and not warmup.markdown_held


@SESSION_LOOP
async def test_the_warm_up_decides_the_engine_hooks_off_the_gui_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    import gui.compat.hooks as hooks
    import gui.qt.warmup as warmup_module

    asked: list[tuple[str, bool]] = []
    real = hooks.installed_version

    def installed_version(distribution: str) -> str | None:
        asked.append((distribution, threading.current_thread() is threading.main_thread()))
        return real(distribution)

    hooks.reset()  # as in a new process: nothing decided yet
    monkeypatch.setattr(hooks, "installed_version", installed_version)
    monkeypatch.setattr(warmup_module, "_ENGINE_MODULES", ("colorsys",))
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)  # the warm-up imports it
    monkeypatch.setattr(warmup_module, "_markdown_pieces", list)
    try:
        warmup = Warmup(TaskOwner())
        await asyncio.wait_for(warmup.start(openai=False), 60)
        # langchain-core's version (the lean stream's and the chunk merge's gate) was read
        # by the warm-up's thread: a run's first chain finds both decided.
        assert ("langchain-core", False) in asked
        assert ("langchain-core", True) not in asked
    finally:
        hooks.reset()


@SESSION_LOOP
async def test_markdown_views_wait_from_the_warm_up_start_to_its_last_piece(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    import gui.qt.warmup as warmup_module
    from gui.core import markdown_stream

    release = threading.Event()
    monkeypatch.setattr(warmup_module, "_markdown_pieces", lambda: [lambda: release.wait(60)])
    monkeypatch.setattr(warmup_module, "_ENGINE_MODULES", ("json",))  # already imported
    monkeypatch.setattr(warmup_module, "MARKDOWN_DELAY_S", 0.0)
    warmup = Warmup(TaskOwner())
    task = warmup.start(openai=False)
    try:
        assert markdown_stream.warming()  # from the start: no answer can come before
        await asyncio.wait_for(warmup.settled(), 30)
        assert markdown_stream.warming()  # the engine is ready, the parser is not
    finally:
        release.set()
    await asyncio.wait_for(task, 30)
    await asyncio.sleep(0)  # the task's done callback
    assert not markdown_stream.warming()


@SESSION_LOOP
async def test_background_imports_run_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import time

    import gui.qt.warmup as warmup_module

    lock = threading.Lock()
    running, peak, calls = [0], [0], []

    def import_in_background(names: list[str], _freeze: bool, then: Any, _gate: Any) -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            calls.append(list(names))
        time.sleep(0.05)  # long enough for another import to start beside it, were it let
        if then is not None:
            then()
        with lock:
            running[0] -= 1

    monkeypatch.setattr("gui.compat.imports.import_in_background", import_in_background)
    monkeypatch.setattr(warmup_module, "_ENGINE_MODULES", ("fanout_engine_probe",))
    monkeypatch.setattr(warmup_module, "_OPENAI_MODULES", ("fanout_openai_probe",))
    monkeypatch.setattr(warmup_module, "_find_keyring", lambda: None)
    monkeypatch.setattr(warmup_module, "_markdown_pieces", lambda: [list, list])
    monkeypatch.setattr(warmup_module, "MARKDOWN_DELAY_S", 0.0)
    warmup = Warmup(TaskOwner())
    task = warmup.start(openai=False)
    warmup.want_openai()  # an OpenAI column added while the engine imports
    assert warmup.must_wait(openai=True)
    await asyncio.wait_for(warmup.settled(openai=True), 30)
    await asyncio.wait_for(task, 30)
    assert peak[0] == 1
    assert calls[0] == ["fanout_engine_probe"]  # the engine first, then the rest in turn
    assert ["fanout_engine_probe", "fanout_openai_probe"] in calls
    assert calls.count([]) == 2  # the Markdown pieces, one call each


class FakePanel:
    def __init__(self) -> None:
        self.exported: list[tuple[Any, str]] = []

    def export_run(self, run: Any, fmt: str) -> None:
        self.exported.append((run, fmt))


class FakeHistory:
    def __init__(self, stored: dict[str, Any]) -> None:
        self.stored = stored
        self.flushed = 0

    async def flush(self) -> bool:
        self.flushed += 1
        return True

    async def get_run(self, run_id: str) -> Any:
        return self.stored.get(run_id)


def export_menu(
    qtbot: QtBot, *, past: Any = None, run: Any = None, stored: dict[str, Any] | None = None
) -> tuple[ExportMenu, FakePanel, FakeHistory]:
    panel, history = FakePanel(), FakeHistory(stored or {})
    session = SimpleNamespace(past_run=past, current_run=run)
    menu = ExportMenu(session, history, panel, TaskOwner())  # type: ignore[arg-type]
    qtbot.addWidget(menu)
    return menu, panel, history


def entry(menu: ExportMenu, fmt: str) -> QAction:
    (action,) = [a for a in menu.actions() if a.data() == fmt]
    return action


@SESSION_LOOP
async def test_the_export_menu_offers_three_formats_and_says_why_it_cannot_export(
    qtbot: QtBot,
) -> None:
    menu, panel, _ = export_menu(qtbot)
    assert [(a.text(), a.data()) for a in menu.actions()] == [
        ("JSON…", "json"),
        ("CSV…", "csv"),
        ("Markdown…", "md"),
    ]
    notices: list[tuple[str, int]] = []
    menu.notice.connect(lambda text, ms: notices.append((text, ms)))
    entry(menu, "json").trigger()
    assert notices == [("Nothing to export yet: run something first.", 6000)]

    live, _, _ = export_menu(qtbot, run=SimpleNamespace(id="r1", finished=False))
    live.notice.connect(lambda text, ms: notices.append((text, ms)))
    entry(live, "csv").trigger()
    assert notices[-1] == ("The run is still going: export it once it ends.", 6000)
    assert panel.exported == []


@SESSION_LOOP
async def test_the_export_menu_exports_the_past_run_shown_or_the_ended_live_one(
    qtbot: QtBot,
) -> None:
    # A past run is read again from the history: ratings given since it was opened are
    # only there.
    past = SimpleNamespace(id="old")
    again = SimpleNamespace(id="old", read="again")
    menu, panel, history = export_menu(qtbot, past=past, stored={"old": again})
    entry(menu, "md").trigger()
    await until(lambda: bool(panel.exported))
    assert panel.exported == [(again, "md")] and history.flushed == 1

    stored = SimpleNamespace(id="r2")
    ended = SimpleNamespace(id="r2", finished=True)
    menu, panel, history = export_menu(qtbot, run=ended, stored={"r2": stored})
    entry(menu, "csv").trigger()
    await until(lambda: bool(panel.exported))
    assert panel.exported == [(stored, "csv")] and history.flushed == 1

    gone = SimpleNamespace(id="r3", finished=True)
    menu, panel, _ = export_menu(qtbot, run=gone)
    noticed = signal_future(menu.notice)
    entry(menu, "json").trigger()
    assert await asyncio.wait_for(noticed, 10) == ("This run is not in the history.", 8000)
    assert panel.exported == []


def controls_on(qtbot: QtBot) -> tuple[QMainWindow, RunControls]:
    window = QMainWindow()
    qtbot.addWidget(window)
    window.setStatusBar(StatusBar(window))
    return window, RunControls(window)


def test_run_controls_tell_how_a_run_a_retry_or_a_broken_run_ended(qtbot: QtBot) -> None:
    window, controls = controls_on(qtbot)
    counts = Counts(total=4, done=2, failed=1, cancelled=1)
    summary = SimpleNamespace(wall=1.5)
    calm = LagStats(p50_ms=1.0, p99_ms=4.0, max_ms=8.0, samples=100)
    ended = RunEnded("r1", True, summary, counts)  # type: ignore[arg-type]
    controls.show_run_ended(ended, calm)
    assert window.statusBar().currentMessage() == (
        "Run finished: 2 done, 1 failed, 1 cancelled in 1.50 s · loop lag p99 4.0 ms, max 8.0 ms"
    )
    frozen = LagStats(p50_ms=1.0, p99_ms=4.0, max_ms=250.0, samples=100)
    controls.show_run_ended(ended, frozen)
    assert window.statusBar().currentMessage().endswith(" · the window froze for 0.25 s")
    controls.show_run_ended(RunEnded("r2", False, None, counts), calm)
    assert window.statusBar().currentMessage() == (
        "Retry finished · the run now: 2 done, 1 failed, 1 cancelled"
    )
    broken = RunEnded("r3", True, None, counts, error="The run stopped: a bug (see the log).")
    controls.show_run_ended(broken, calm)
    assert window.statusBar().currentMessage() == "The run stopped: a bug (see the log)."


def test_run_controls_show_a_past_run_and_the_wait_for_the_engine(qtbot: QtBot) -> None:
    window, controls = controls_on(qtbot)
    past = SimpleNamespace(id="old", status="finished with failures", wall=3.3)
    counts = Counts(total=3, done=2, failed=1)
    controls.show_past(PastRunOpened(past, counts))  # type: ignore[arg-type]
    assert controls.wall_label.text() == "wall 3.3 s"
    assert window.statusBar().currentMessage() == (
        "Showing past run old (finished with failures): 2 done, 1 failed, 0 cancelled · read-only"
    )
    controls.show_starting()
    assert controls.run_action.text() == "Starting…" and not controls.run_action.isEnabled()
    assert window.statusBar().currentMessage() == "Loading the engine: the run starts in a moment."
    controls.end_starting(running=False)
    assert controls.run_action.text() == "Run" and controls.run_action.isEnabled()
    controls.show_freeze(1500.0)
    assert window.statusBar().currentMessage().startswith("The window froze for 1.50 s")


class _PaintCounter(QObject):
    """Counts the paint events of the widgets it watches."""

    def __init__(self) -> None:
        super().__init__()
        self.paints = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.paints += 1
        return False


def painted_controls(
    qtbot: QtBot, before: Counts | None = None
) -> tuple[RunControls, _PaintCounter]:
    """Run controls in a window beside a view dirty as a streaming one is, both painted
    (after ``before`` was shown), their paints counted from here."""
    window, controls = controls_on(qtbot)
    other = QLabel("a view with something to paint")
    window.setCentralWidget(other)
    counter = _PaintCounter()
    controls.progress.installEventFilter(counter)
    other.installEventFilter(counter)
    window.resize(900, 500)
    window.show()
    if before is not None:
        controls.show_counts(before, running=False)
    qtbot.waitUntil(
        lambda: window.windowHandle().isExposed() and counter.paints >= 2, timeout=30_000
    )
    counter.paints = 0
    other.update()  # dirty, as a streaming view is when the counts come
    return controls, counter


def test_new_counts_move_the_progress_bar_on_the_next_paint_not_at_once(qtbot: QtBot) -> None:
    # QProgressBar.setValue repaints at once, and a repaint paints every dirty widget of the
    # window there and then (the Tiles of a 200-cell run): the counts of every frame did so.
    controls, counter = painted_controls(qtbot)

    controls.show_counts(Counts(in_flight=3, done=40, failed=2, total=200), running=True)

    assert counter.paints == 0
    assert controls.progress.value() == 42 and controls.progress.text() == "42 / 200"
    assert controls.run_action.text() == "Running 42 / 200"
    qtbot.waitUntil(lambda: counter.paints >= 2, timeout=30_000)  # the bar and the view


def test_a_new_runs_smaller_range_moves_the_progress_bar_on_the_next_paint(qtbot: QtBot) -> None:
    # QProgressBar.setRange resets the bar when its value falls outside the new range, and
    # reset() repaints at once: a 600-cell run started after a 20,000-cell one painted the
    # window inside the Run press.
    controls, counter = painted_controls(qtbot, Counts(done=20_000, total=20_000))

    controls.show_counts(Counts(total=600), running=True)

    assert counter.paints == 0
    assert controls.progress.maximum() == 600 and controls.progress.text() == "0 / 600"
    qtbot.waitUntil(lambda: counter.paints >= 2, timeout=30_000)
