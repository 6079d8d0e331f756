"""The window's process: one QApplication, one qasync loop, an owned shutdown.

Start-up comes first: :func:`run_app` builds the window's first frame
(:class:`~gui.qt.main_window.MainWindow` with ``staged=True``) and lets Qt paint it before
asyncio, qasync, the engine or the storage are imported; the rest of the window is built
one part per turn of the loop after that, and the engine warms up once it is built.
Everything on the way to the first paint is imported lazily for that reason.

``run_app`` runs :func:`_main` on :class:`gui.qt.loop.FanoutEventLoop` (qasync's loop with
asyncio's ready queue for ``call_soon``). Closing the window does not stop the loop: it resolves
a future that :func:`_main` awaits, which then cancels and awaits every task, closes HTTP
connections, and returns, so the loop ends with nothing pending.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QEvent, QEventLoop, QObject, QTimer
from PySide6.QtWidgets import QApplication

from gui.compat import known_bad_combination
from gui.compat.gc_policy import STARTUP, defer_full_collections, resume_collections
from gui.qt.main_window import MainWindow
from gui.qt.resources import app_icon
from gui.qt.theme import apply_theme

if TYPE_CHECKING:
    import asyncio

    from gui.core.compare import StrategyResult
    from gui.core.lag import LagStats
    from gui.core.metrics import RunSummary
    from gui.core.spec import ModelProfile
    from gui.storage.workspace import Workspace, WorkspaceStore

log = logging.getLogger(__name__)

#: Longest wait for the first frame's paint before the loop starts anyway (no platform is
#: known to need it; a window that never paints must not keep the app from starting).
FIRST_PAINT_WAIT_MS = 10_000

#: How long a demo waits between the window's new layout and size and filling its editors
#: (seconds): a frame, so that the two are not one long turn of the loop.
DEMO_SETTLE_S = 0.02

#: The modules imported when the first frame was painted (``--print-stats`` reports them:
#: the tests check that the engine and the storage are not among them).
_FIRST_PAINT_MODULES: list[str] = []

_T0 = time.perf_counter()


def _log_loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
    """An exception no task retrieved: into the log file (with its traceback), not onto stderr."""
    exc = context.get("exception")
    message = str(context.get("message") or "unhandled exception in the event loop")
    if isinstance(exc, BaseException):
        log.error("%s", message, exc_info=(type(exc), exc, exc.__traceback__))
    else:
        log.error("%s", message)


def install_asyncgen_hooks(loop: asyncio.AbstractEventLoop) -> None:
    """Give qasync's loop the async-generator hooks asyncio's own ``run_forever`` installs.

    qasync replaces ``run_forever`` with ``QApplication.exec()`` and skips
    ``sys.set_asyncgen_hooks``, so an async generator abandoned mid-stream (LangChain nests
    several per chain) is finalised by the garbage collector after the loop has gone:
    "async generator ignored GeneratorExit" at exit. With the hooks the loop tracks them,
    finalises them on the loop, and ``shutdown_asyncgens()`` closes the rest before exit.
    """
    firstiter = getattr(loop, "_asyncgen_firstiter_hook", None)
    finalizer = getattr(loop, "_asyncgen_finalizer_hook", None)
    if firstiter is not None and finalizer is not None:
        sys.set_asyncgen_hooks(firstiter=firstiter, finalizer=finalizer)


class _FirstPaint(QObject):
    """Calls ``then`` once the window's first frame has been painted (the window is visible)."""

    def __init__(self, window: QObject, then: Callable[[], None]) -> None:
        super().__init__(window)
        self._then = then
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            watched.removeEventFilter(self)
            # Zero-delay: after the whole frame has been painted, not before this widget's part.
            QTimer.singleShot(0, self._then)
        return False


def _lag_figures(prefix: str, lag: LagStats) -> dict[str, float | int]:
    return {
        f"{prefix}_p50_ms": round(lag.p50_ms, 2),
        f"{prefix}_p99_ms": round(lag.p99_ms, 2),
        f"{prefix}_max_ms": round(lag.max_ms, 2),
        f"{prefix}_samples": lag.samples,
    }


def _check_loop_hook() -> None:
    from gui.compat import FIFO_LOOP, enabled

    enabled(FIFO_LOOP)  # decided once per process: reads qasync's installed version


def _set_window_icon() -> None:
    # After the first paint: reading the icon's eight files (2-5 ms) draws nothing of the
    # first frame; the title bar and the task bar take the icon one turn later.
    QApplication.setWindowIcon(app_icon())


def _setup_logging() -> None:
    from gui.storage.logs import setup_logging

    setup_logging()


#: What ``import asyncio`` imports outside its own package, leaves first: asyncio in one turn
#: was the longest of all after the first paint (~43 ms at a load of 4; ~17 ms once these
#: came first, each 1-4 ms; docs/performance-notes.md).
_ASYNCIO_LEAVES = (
    "selectors",
    "_socket",
    "socket",
    "_ssl",
    "ssl",
    "locale",
    "subprocess",
    "concurrent.futures",
)

#: What the loop hook's version check imports (``importlib.metadata`` and the e-mail parser
#: it reads package metadata with), heaviest leaves first: ~11 ms in one turn, 3 ms at most
#: each (docs/performance-notes.md).
_METADATA_MODULES = (
    "email.utils",
    "email.message",
    "importlib.abc",
    "importlib.metadata",
    "email.parser",
)


def _importer(name: str) -> Callable[[], object]:
    return lambda: importlib.import_module(name)


def _leaf_importer(name: str) -> Callable[[], object]:
    """Import ``name`` ahead of the module that needs it; one missing here (a Python built
    without ``ssl``) is left to that module, which knows whether it can do without it."""

    def run() -> None:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)

    return run


#: What must be done between the first paint and the asyncio loop's start, one item per turn
#: of Qt's loop so that the window paints and takes input between them (the lag meter sees
#: each turn): the window's icon, the loop's modules (asyncio's leaves first, one a turn), its
#: hook's version check (its modules first, one a turn), the log file.
BEFORE_THE_LOOP: tuple[Callable[[], object], ...] = (
    _set_window_icon,
    *(_leaf_importer(name) for name in _ASYNCIO_LEAVES),
    _importer("asyncio"),
    _importer("qasync"),
    _importer("gui.qt.loop"),
    *(_leaf_importer(name) for name in _METADATA_MODULES),
    _check_loop_hook,
    _importer("gui.storage.logs"),
    _setup_logging,
)


def _show_first_frame(window: MainWindow) -> None:
    """Show the window, let Qt run until its first frame is painted, then prepare the loop.

    No asyncio loop exists yet, so this local Qt loop drops no task's step; the user can
    already type into the prompt meanwhile. After the paint, :data:`BEFORE_THE_LOOP` runs
    one item per turn of the same local loop. The lag meter runs from the paint, so every
    turn, and the start of the asyncio loop after them, is part of the session's figures.
    """
    local = QEventLoop()
    work = list(BEFORE_THE_LOOP)

    def next_item() -> None:
        if not work:
            local.quit()
            return
        work.pop(0)()
        QTimer.singleShot(0, next_item)

    def on_first_paint() -> None:
        resume_collections()  # paused by gui.app on the way here: nothing of it is garbage
        window.lag.begin_session()
        _FIRST_PAINT_MODULES.extend(sorted(sys.modules))
        next_item()

    _FirstPaint(window, on_first_paint)
    window.show()
    window.lag.start()
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(local.quit)
    timer.start(FIRST_PAINT_WAIT_MS)
    local.exec()
    timer.stop()
    resume_collections()  # the window never painted (no known platform): on again anyway
    for item in work:  # the window never painted (no known platform): do them now
        item()


def _load_workspace(enabled: bool) -> tuple[WorkspaceStore | None, Workspace | None]:
    """The workspace the user left (``None`` when none, or for a measured session).

    Read before the first frame, on the GUI thread: a small JSON file whose geometry and
    theme the first frame needs, so the window opens at its old place in its old colours.
    """
    if not enabled:
        return None, None
    from gui.storage.workspace import WorkspaceStore

    store = WorkspaceStore()
    return store, store.load()


async def _grow_model_cards(window: MainWindow, profiles: Sequence[ModelProfile]) -> None:
    """Give the models panel a card for each of ``profiles``, one new card per loop turn.

    A demo's preset replaces the window's two default cards; building stress-200's two more
    in the same turn as the rest of the preset was ~17 ms of the GUI thread. Each new card
    (~4-5 ms) gets a turn of its own here; filling a card that exists costs ~0.3 ms, so the
    preset's own step then only fills them.
    """
    import asyncio

    have = len(window.models.all_profiles())
    for n in range(have + 1, len(profiles) + 1):
        window.models.set_profiles(list(profiles[:n]))
        await asyncio.sleep(0)  # a card takes longer than a loop slice: Qt gets its turn


async def _main(
    window: MainWindow,
    store: WorkspaceStore | None,
    saved: Workspace | None,
    demo: str | None,
    quit_when_done: bool,
    quit_after: float | None,
    print_stats: bool,
    theme: str | None = None,
    window_size: tuple[int, int] | None = None,
) -> int:
    import asyncio

    from gui.compat import describe as describe_hooks
    from gui.storage.logs import install_excepthook

    loop = asyncio.get_running_loop()
    install_asyncgen_hooks(loop)
    loop.set_exception_handler(_log_loop_exception)
    closed: asyncio.Future[None] = loop.create_future()

    def on_close_requested() -> None:
        if not closed.done():
            closed.set_result(None)

    window.close_requested.connect(on_close_requested)
    if window.closing:  # closed in its first frame, before anyone listened
        on_close_requested()
    signalled = _close_on_signals(loop, window.close)
    if quit_after is not None:
        QTimer.singleShot(round(quit_after * 1000), window.close)
    window.build_rest()  # one part per turn of the loop: it paints and takes input between
    warming = window.warm_up()  # once built
    shown_at = time.perf_counter() - _T0
    stats: dict[str, object] = {"window_shown_s": round(shown_at, 3)}
    ready_at: list[float] = []  # perf_counter when the engine's imports were done

    marks: dict[str, float] = {}  # perf_counter of the session's milestones

    def on_engine_ready(_task: object) -> None:
        ready_at.append(time.perf_counter())
        marks["engine_ready"] = ready_at[0]
        stats["engine_ready_epoch"] = time.time()

    warming.add_done_callback(on_engine_ready)
    warmed_at: list[float] = []  # perf_counter when the whole warm-up (Markdown too) ended

    def on_warmed(_task: object) -> None:
        warmed_at.append(time.perf_counter())
        marks["warmed"] = warmed_at[0]
        stats["warmed_epoch"] = time.time()

    await window.wait_built()
    if window.warmup.task is not None:  # started by the build's end
        window.warmup.task.add_done_callback(on_warmed)
    marks["built"] = time.perf_counter()
    stats["built_epoch"] = time.time()
    if saved is not None:  # the rest of the workspace: the editors, docks and splitters
        window.workspace.restore(saved, content=not demo, prompt=False)
    if demo:  # a demo shows every cell at once, whatever layout the user left
        window.results.set_layout("tiles")
    if window_size is not None:  # --window-size wins over the kept geometry
        window.resize(*window_size)
    if theme is not None:  # --theme wins over the one kept in the workspace
        window.workspace.set_theme(theme)
    if store is not None and store.notice:
        window.statusBar().showMessage(store.notice, 20000)
    install_excepthook(lambda line: window.statusBar().showMessage(line, 15000))

    if demo:
        from gui.core import events as ev
        from gui.resources import load_preset

        preset = load_preset(demo)
        # A frame first: the window lays out and paints at its new layout and size in turns
        # of its own, and the demo's editors (4 model cards for stress-200) fill the next.
        await asyncio.sleep(DEMO_SETTLE_S)
        await _grow_model_cards(window, preset.models)
        window.load_preset(preset)

        text_span: list[float] = []  # perf_counter of the first and the last text chunk

        def on_run_event(event: ev.Event) -> None:
            if type(event) is ev.TextChunk:
                now = time.perf_counter()
                if text_span:
                    text_span[1] = now
                else:
                    text_span.extend((now, now))
                    marks["first_text"] = now

        def on_run_finished(summary: RunSummary) -> None:
            marks["run_finished"] = time.perf_counter()
            if text_span:
                marks["last_text"] = text_span[1]
            lag = window.lag.stats()
            # What the user sees at the end: the layout and how many cells are wholly in view.
            stats["layout"] = window.results.current_layout()
            stats["visible_cells"] = window.results.visible_cells()
            stats["summary"] = {k: v for k, v in asdict(summary).items() if k != "failures_by_kind"}
            run = window.current_run
            if run is not None:
                ended = [m for c in run.cells if (m := run.metrics(c.id)) is not None]
                stats["output_tokens"] = sum(m.output_tokens for m in ended)
                streaming = [
                    m.ended_at - m.first_token_at for m in ended if m.first_token_at is not None
                ]
                stats["streaming_s"] = max(streaming, default=0.0)
            stats.update(
                lag_p50_ms=lag.p50_ms,
                lag_p99_ms=lag.p99_ms,
                lag_max_ms=lag.max_ms,
                lag_samples=lag.samples,
            )
            if text_span:
                # While text was arriving: without the set-up before the first token and the
                # work after the last one (LangChain merges every chunk once an answer ends).
                during = window.lag.stats_between(*text_span)
                stats.update(
                    streaming_lag_p50_ms=during.p50_ms,
                    streaming_lag_p99_ms=during.p99_ms,
                    streaming_lag_max_ms=during.max_ms,
                    streaming_lag_samples=during.samples,
                )
            if quit_when_done and not preset.compare:
                QTimer.singleShot(400, window.close)  # let the last frame paint first

        window.run_finished.connect(on_run_finished)

        def on_comparison_finished(results: list[StrategyResult]) -> None:
            stats["comparison"] = [
                {
                    "strategy": str(r.strategy),
                    "wall_s": round(r.wall, 3),
                    "ideal_s": round(r.ideal, 3),
                    "done": r.done,
                }
                for r in results
            ]
            if quit_when_done:
                QTimer.singleShot(600, window.close)

        window.comparison_finished.connect(on_comparison_finished)
        await asyncio.wait([warming])  # the demo's first run should not pay for the imports
        if preset.compare:
            window.start_comparison()
        else:
            marks["run_pressed"] = time.perf_counter()
            run = window.start_run()
            if run is not None:
                run.subscribe(on_run_event)
    if not demo and saved is None:
        # A first-time user sees a runnable example: Ctrl+Enter answers it on both models.
        window.inputs.set_variables(window.prompt.variables())
        window.inputs.set_rows([{"topic": t} for t in ("cats", "dogs", "parrots")])
    try:
        await closed
    finally:
        closing_at = time.perf_counter()
        stats.setdefault("layout", window.results.current_layout())
        stats.setdefault("visible_cells", window.results.visible_cells())
        lag = window.lag
        stats.update(_lag_figures("session_lag", lag.session_stats(end=closing_at)))
        since = lag.session_started_at or closing_at
        # Each freeze as [seconds after the window became visible, ms], to tell where it was.
        stats["session_freezes"] = [
            [round(at - ms / 1000 - since, 3), round(ms, 1)]
            for ms, at in lag.session_freezes_at(end=closing_at)
        ]
        from gui.qt.widgets.lag_meter import FRAME_MS  # loaded with the first frame

        # Every beat later than a frame, the same way: the bench tells by the marks which
        # phase of the session (start-up, run start, streaming, run end) they were in.
        stats["session_late_beats"] = [
            [round(at - ms / 1000 - since, 3), round(ms, 1)]
            for ms, at in lag.session_freezes_at(FRAME_MS, end=closing_at)
        ]
        stats["marks_s"] = {name: round(at - since, 3) for name, at in marks.items()}
        if ready_at and lag.session_started_at is not None:
            # While the engine still imported in the background (empty when it was ready first).
            stats.update(_lag_figures("warmup_lag", lag.session_stats(end=ready_at[0])))
            # After it: the Markdown view's warm-up, on the worker thread.
            rest = lag.session_stats(start=ready_at[0], end=warmed_at[0] if warmed_at else None)
            stats.update(_lag_figures("after_ready_lag", rest))
        await window.shutdown()
        window.deleteLater()
        stats["shutdown_s"] = round(time.perf_counter() - closing_at, 3)
    stats["first_paint_epoch"] = window.first_paint_epoch
    stats["build_ms"] = window.build_ms
    stats["first_paint_modules"] = _FIRST_PAINT_MODULES
    stats["runtime"] = describe_hooks()  # at exit: nothing of this on the way to the first paint
    if print_stats:
        import json  # the figures' only writer, at exit: not on the way to the first frame

        sys.stdout.write(json.dumps(stats) + "\n")
        sys.stdout.flush()
    return 128 + signalled[0] if signalled else 0


def _close_on_signals(loop: asyncio.AbstractEventLoop, close: Callable[[], object]) -> list[int]:
    """SIGTERM, SIGHUP and SIGINT (Ctrl+C in the terminal) close the window like its close
    button: runs are cancelled with their partial text kept and recorded, then the process
    exits with 128 + the signal's number. Returns the list the signals are appended to.

    Without this a SIGTERM (a logout, ``kill``) ended the process at once and what the panes
    had streamed never reached the history. Where the loop cannot watch signals (Windows),
    Ctrl+C still ends the run through ``asyncio.Runner``'s own handler.
    """
    import signal  # asyncio's loop imported it already; the first frame did not need it

    signalled: list[int] = []

    def on_signal(signum: int) -> None:
        signalled.append(signum)
        close()

    for signum in (signal.SIGTERM, getattr(signal, "SIGHUP", None), signal.SIGINT):
        if signum is None:
            continue
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, on_signal, int(signum))
    return signalled


#: Qt's switch for its parallel raster fills (see :data:`gui.compat.hooks.QT_SERIAL_FILLS`).
NO_GUI_THREADPOOL_ENV = "QT_NO_GUI_THREADPOOL"


def serial_fills() -> None:
    """Keep Qt's raster fills on the painting thread, unless plain mode or the user's own
    setting says otherwise; call it before the first paint (the probes do, as the app does).

    Qt splits every fill over 96 lines tall (a text view's background, a tall scroll bar's
    groove) into pieces for its GUI thread pool and waits for them; on this project's 2-core
    machines the hand-offs cost more than the fill: a Fusion scroll bar 830 px tall
    repainted in 0.72-0.79 ms with the pool and 0.10-0.17 ms without it
    (docs/performance-notes.md).
    """
    from gui.compat.hooks import QT_SERIAL_FILLS, enabled

    if NO_GUI_THREADPOOL_ENV not in os.environ and enabled(QT_SERIAL_FILLS):
        os.environ[NO_GUI_THREADPOOL_ENV] = "1"


def run_app(
    *,
    demo: str | None = None,
    quit_when_done: bool = False,
    quit_after: float | None = None,
    theme: str | None = None,
    print_stats: bool = False,
    window_size: tuple[int, int] | None = None,
) -> int:
    """Create the application and run the window until it is closed; returns the exit code."""
    why = known_bad_combination(pyside_version)
    if why is not None:
        sys.stderr.write(f"fanout-studio: cannot start the window: {why}\n")
        return 2
    serial_fills()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Fanout Studio")
    app.setOrganizationName("Fanout Studio")
    app.setDesktopFileName("fanout-studio")
    app.setQuitOnLastWindowClosed(False)  # the main coroutine decides when we are done
    # Everything built and imported from here to the warm-up's end survives (the warm-up
    # then freezes the heap and lets full collections go again): a full collection meanwhile
    # only scans it all on the GUI thread.
    defer_full_collections(True, STARTUP)
    # A measured session (--print-stats: the benchmarks) neither depends on nor changes what
    # the user left; a demo session shows the demo and leaves the user's workspace alone.
    store, saved = _load_workspace(enabled=not print_stats)
    chosen = theme or (saved.layout.theme if saved is not None else None)
    if chosen is not None:  # before the widgets exist: some colours are set once
        apply_theme(app, chosen)
    # No application style sheet: the few looks it gave are set on their widgets
    # (gui/qt/looks.py), so no other widget goes through Qt's style-sheet style.
    window = MainWindow(staged=True, workspace=None if demo else store)
    if saved is not None:  # before show(): the window opens at its old place and size
        window.restore_first_frame(saved, prompt=not demo)
    elif not demo:  # a first-time user's runnable example (its inputs come with the table)
        window.prompt.set_template("Tell me a joke about {topic}")
    if window_size is not None:  # --window-size wins over the kept geometry
        window.resize(*window_size)
    _show_first_frame(window)
    from gui.qt.loop import run as run_loop  # imported after the first paint

    try:
        return int(
            run_loop(
                _main(
                    window,
                    store,
                    saved,
                    demo,
                    quit_when_done,
                    quit_after,
                    print_stats,
                    theme,
                    window_size,
                )
            )
        )
    except KeyboardInterrupt:
        return 130
