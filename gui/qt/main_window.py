"""The main window: it builds the parts and wires them, nothing more.

Data flows one way: the editors (:mod:`gui.qt.views.run_editors`) build a
:class:`~gui.core.spec.RunSpec`; :mod:`gui.qt.run_commands` hands it to the
:class:`~gui.core.session.Session`, which runs it (and retries, comparisons, past runs) and
reports plain events; :mod:`gui.qt.run_display` draws them on the views, per frame through
:class:`~gui.qt.bridge.RunBridge`. The engine's warm-up is :mod:`gui.qt.warmup`; where the
parts sit is :mod:`gui.qt.views.window_layout`. Storage is reached through the services of
:mod:`gui.qt.services`. Nothing here blocks the loop; every task started here is owned.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal, qVersion
from PySide6.QtGui import QCloseEvent, QPaintEvent
from PySide6.QtWidgets import QMainWindow, QWidget

from gui.about import about_info
from gui.core.runner import Run
from gui.core.session import Session
from gui.core.spec import ModelProfile, RunSpec
from gui.core.tasks import TaskOwner
from gui.qt.run_commands import RunCommands
from gui.qt.run_display import RunDisplay
from gui.qt.services import Services, default_services
from gui.qt.views.about import show_about
from gui.qt.views.code_view import CodeView
from gui.qt.views.debug_log import AsyncioDebugPanel
from gui.qt.views.demos_menu import DemosMenu
from gui.qt.views.export_menu import ExportMenu
from gui.qt.views.history_panel import HistoryPanel
from gui.qt.views.providers_panel import ProvidersPanel
from gui.qt.views.results_page import ResultsPage
from gui.qt.views.run_controls import RunControls
from gui.qt.views.run_editors import RunEditors
from gui.qt.views.window_layout import Menus, add_dock, build_body, build_menus
from gui.qt.views.workspace_binding import WorkspaceBinding
from gui.qt.warmup import Warmup
from gui.qt.widgets.lag_meter import LagMeter
from gui.qt.widgets.status_bar import StatusBar
from gui.qt.widgets.strategy_chart import StrategyChart
from gui.qt.widgets.timeline import TimelineWidget

if TYPE_CHECKING:
    from gui.core.ports import Backend
    from gui.resources import Preset
    from gui.storage.history import History
    from gui.storage.profiles import ProfileStore, SavedProfile
    from gui.storage.records import StoredRun
    from gui.storage.secrets import KeyStore
    from gui.storage.workspace import WorkspaceStore

log = logging.getLogger(__name__)


async def _bounded(step: Awaitable[object], seconds: float, what: str) -> None:
    """A shutdown step that may fail or hang without stopping the ones after it."""
    try:
        await asyncio.wait_for(step, seconds)
    except Exception:
        log.exception("%s failed", what)


class MainWindow(QMainWindow):
    """Fanout Studio's window.

    Args:
        backend: The provider backend (default: LangChain's, made on the first run).
        services: Storage services (default: the real ones; ``gui/qt/app.py`` passes them).
        profile_store, keystore, history: Replace one part of the default services (tests).

    Signals:
        close_requested: the user closed the window; the app's main coroutine then awaits
            :meth:`shutdown` (async clean-up does not belong in ``aboutToQuit``).
        run_finished(RunSummary): the shown run (or a comparison step) ended, UI restored.
        comparison_finished(list[StrategyResult]): the comparison ended.
    """

    close_requested = Signal()
    run_finished = Signal(object)
    run_queued_started = Signal(object)
    comparison_finished = Signal(object)

    def __init__(
        self,
        backend: Backend | None = None,
        parent: QWidget | None = None,
        *,
        services: Services | None = None,
        profile_store: ProfileStore | None = None,
        keystore: Callable[[], KeyStore] | None = None,
        history: History | None = None,
        workspace: WorkspaceStore | None = None,
    ) -> None:
        super().__init__(parent)
        self._workspace_store = workspace  # None: nothing autosaved (tests, demo sessions)
        self._backend = backend
        self.services = services or default_services(
            history=history, profile_store=profile_store, keystore=keystore
        )
        self._tasks = TaskOwner()
        self.warmup = Warmup(self._tasks)  # the engine's imports and a run queued behind them
        self._closing = False
        self.first_paint_epoch: float | None = None
        self._history_wired = False
        self.session = Session(self._ensure_backend, self.ensure_history)
        self.lag = LagMeter(parent=self)
        self._build_ui()

    # ------------------------------------------------------------------ building

    def _build_ui(self) -> None:
        self.setWindowTitle("Fanout Studio")
        self.resize(1360, 860)
        self.editors = e = RunEditors(keys=self.services.keys)
        self.prompt, self.inputs, self.models, self.limits = e.prompt, e.inputs, e.models, e.limits
        self.results = ResultsPage()
        self.grid = self.results.grid
        self.past_banner, self.past_label = self.results.past_banner, self.results.past_label
        self.timeline = TimelineWidget()
        self.chart = StrategyChart()
        self.code = CodeView()
        self.debug_log = AsyncioDebugPanel()
        self.history_panel = HistoryPanel(self.services.history, self.services.exports)
        pages = [
            (self.results, "Results"),
            (self.timeline, "Timeline"),
            (self.chart, "Compare strategies"),
            (self.code, "Code"),
            (self.debug_log, "asyncio debug"),
            (self.history_panel, "History"),
        ]
        top, body, self.tabs = build_body(self.prompt, self.inputs, self.models, pages)
        self.setCentralWidget(body)
        self.concurrency_dock = add_dock(self, "Concurrency", "concurrencyDock", self.limits)
        self.providers = ProvidersPanel(self.services.profiles, self.services.keys)
        self.profiles_dock = add_dock(self, "Profiles", "profilesDock", self.providers)
        self.tabifyDockWidget(self.concurrency_dock, self.profiles_dock)
        self.concurrency_dock.raise_()

        self.setStatusBar(StatusBar(self))  # messages elided beside the counters
        self.controls = c = RunControls(self)
        self.run_action, self.cancel_action = c.run_action, c.cancel_action
        self.compare_action, self.block_action = c.compare_action, c.block_action
        self.progress, self.counts_label, self.run_button = c.progress, c.counts_label, c.run_button
        self.export_menu = ExportMenu(
            self.session, self.services.history, self.history_panel, self._tasks, self
        )
        self.demos_menu = DemosMenu(self)
        docks = (self.concurrency_dock, self.profiles_dock)
        menus = build_menus(self, self.export_menu, c, docks, self.demos_menu)
        self.about_action = menus.about
        # Workspace autosave/restore and the theme choice (views/workspace_binding.py).
        self.workspace = WorkspaceBinding(
            self,
            prompt=self.prompt,
            inputs=self.inputs,
            models=self.models,
            limits=self.limits,
            splitters={"top": top, "body": body},
            docks=docks,
            results=self.results,
            store=self._workspace_store,
        )
        menus.view.addMenu(self.results.layout_menu)  # Tiles, Grid... with Ctrl+1...
        menus.view.addAction(self.results.raw_action)  # every answer's Markdown source
        self.workspace.theme_menu(menus.view)
        self.commands = RunCommands(
            self.session,
            e,
            c,
            self.warmup,
            self._tasks,
            self.statusBar().showMessage,
            lambda: self._closing,
            self.run_queued_started.emit,
        )
        self.display = RunDisplay(
            self.session,
            self.lag,
            lambda: self._closing,
            results=self.results,
            timeline=self.timeline,
            chart=self.chart,
            code=self.code,
            tabs=self.tabs,
            controls=c,
            limits=self.limits,
            history_panel=self.history_panel,
            current_spec=e.build_spec,
            parent=self,
        )
        self._wire(menus)

    def _wire(self, menus: Menus) -> None:
        menus.quit.triggered.connect(self.close)
        menus.history.triggered.connect(self._on_history_action_triggered)
        self.about_action.triggered.connect(self._on_about_action_triggered)
        self.run_action.triggered.connect(self._on_run_action_triggered)
        self.cancel_action.triggered.connect(self.cancel_all)
        self.compare_action.triggered.connect(self._on_compare_action_triggered)
        self.lag.froze.connect(self.controls.show_freeze)
        self.prompt.run_requested.connect(self._on_run_action_triggered)
        # Every layout's Cancel and Retry (Grid panes, Tiles menus) arrive through the page.
        self.results.cancel_requested.connect(self.session.cancel_cell)
        self.results.retry_requested.connect(self.commands.retry)
        self.results.again_requested.connect(self._on_results_again_requested)
        self.results.close_requested.connect(self.display.close_past)
        self.limits.limits_changed.connect(self.commands.set_limits)
        self.providers.profiles_saved.connect(self.models.set_saved_profiles)
        self.providers.use_requested.connect(self._on_providers_use_requested)
        self.models.save_profile_requested.connect(self._on_models_save_profile_requested)
        self.history_panel.open_requested.connect(self.show_past_run)
        self.history_panel.rerun_requested.connect(self._on_history_rerun_requested)
        self.history_panel.load_requested.connect(self.commands.load)
        self.demos_menu.chosen.connect(self.commands.run_demo)
        for notices in (self.providers.notice, self.workspace.notice, self.demos_menu.failed):
            notices.connect(self._on_providers_notice)
        self.export_menu.notice.connect(self.statusBar().showMessage)
        self.display.run_finished.connect(self.run_finished)
        self.display.comparison_finished.connect(self.comparison_finished)
        self.editors.sync()

    # ------------------------------------------------------------------ public API

    @property
    def running(self) -> bool:
        """Whether any run (shown, retry or comparison) is in progress."""
        return self.session.running

    @property
    def current_run(self) -> Run | None:
        """The run shown in the grid."""
        return self.session.current_run

    def load_preset(self, preset: Preset) -> None:
        """Fill every input from a demo preset."""
        self.commands.load_preset(preset)

    def load_spec(self, spec: RunSpec) -> None:
        """Fill the editors from ``spec`` (a past run to run again)."""
        self.editors.load_spec(spec)

    def build_spec(self) -> RunSpec:
        """The run the widgets describe (:meth:`RunEditors.build_spec`, which may raise)."""
        return self.editors.build_spec()

    def start_run(self) -> Run | None:
        """Start the run the widgets describe; show why not inline if it cannot start.

        Pressed while the warm-up still imports the engine, the run is queued (``None`` is
        returned; :attr:`run_queued_started` tells when it starts).
        """
        return self.commands.start_run()

    def start_comparison(self) -> asyncio.Task[Any] | None:
        """Run the current cells through every strategy, one after another, charting each."""
        return self.commands.start_comparison()

    def show_past_run(self, stored: StoredRun) -> bool:
        """Show a run from the history in the grid, read-only; ``False`` while a run is on."""
        return self.commands.show_past_run(stored)

    def cancel_all(self) -> None:
        """Cancel every cell of every run in progress (partial text is kept)."""
        self.session.cancel_all()

    def ensure_history(self) -> asyncio.Task[History]:
        """Open the run history off the GUI thread (once); the task resolves to it."""
        task = self.services.history.open(self.warmup.settled)
        if not self._history_wired:
            self._history_wired = True
            task.add_done_callback(self._on_history_opened)
        return task

    async def shutdown(self) -> None:
        """Cancel and await every task, close HTTP connections. Called once, at exit."""
        self._closing = True
        await self.session.shutdown()
        tasks = self._tasks.pending()
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=0.8)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=0.2)
        # The last edits and the window's final geometry.
        await _bounded(self.workspace.flush(), 3.0, "saving the workspace")
        self.demos_menu.shutdown()
        self.providers.shutdown()
        self.history_panel.shutdown()
        # Flushes the cells that ended while closing, marks unfinished runs.
        await _bounded(self.services.history.close(), 3.0, "closing the history")
        self.display.close()
        self.lag.stop()
        aclose = getattr(self._backend, "aclose", None)
        if aclose is not None:
            await _bounded(aclose(), 0.3, "closing HTTP connections")

    # ------------------------------------------------------------------ slots

    def _on_run_action_triggered(self) -> None:
        self.start_run()

    def _on_compare_action_triggered(self) -> None:
        self.start_comparison()

    def _on_history_action_triggered(self) -> None:
        self.tabs.setCurrentWidget(self.history_panel)

    def _on_history_rerun_requested(self, stored: StoredRun) -> None:
        if self.commands.rerun(stored):
            self.tabs.setCurrentIndex(0)

    def _on_about_action_triggered(self) -> None:
        show_about(self, about_info(qt_version=qVersion()))

    def _on_results_again_requested(self) -> None:
        past = self.session.past_run
        if past is not None:
            self._on_history_rerun_requested(past)  # type: ignore[arg-type]

    def _on_providers_use_requested(self, saved: SavedProfile) -> None:
        self.models.add_profile(saved.for_run())
        self.statusBar().showMessage(f"Added a column for profile {saved.name!r}.", 4000)

    def _on_providers_notice(self, text: str) -> None:
        self.statusBar().showMessage(text, 10000)

    def _on_models_save_profile_requested(self, profile: ModelProfile) -> None:
        self.profiles_dock.show()
        self.profiles_dock.raise_()
        self.providers.start_from(profile)

    def _on_history_opened(self, task: asyncio.Task[History]) -> None:
        if task.cancelled() or self._closing:
            return
        if task.exception() is not None:
            log.error("opening the history failed", exc_info=task.exception())
            self.statusBar().showMessage("The run history could not be opened.", 20000)
            return
        history = task.result()
        self.history_panel.set_history(history)
        if history.notice:
            self.statusBar().showMessage(history.notice, 20000)

    def _ensure_backend(self) -> Backend:
        if self._backend is None:
            from gui.providers.backend import LangChainBackend

            self._backend = LangChainBackend(keys=self.services.keys)
        return self._backend

    # ------------------------------------------------------------------ warm-up

    def warm_up(self) -> asyncio.Task[None]:
        """After the first paint: import the engine's LangChain side off the GUI thread
        (:class:`gui.qt.warmup.Warmup`), then load the history and the saved profiles, one
        worker thread at a time. Returns the import task."""
        self.lag.begin_quiet()  # our own start-up work is measured, not announced as a freeze
        # A restored workspace may open with OpenAI columns: import their client now too.
        task = self.warmup.start(openai=self.editors.uses_openai())
        self.models.profiles_changed.connect(self._on_models_profiles_changed)
        self._tasks.spawn(self._load_state(), "fanout-load-state")
        return task

    async def _load_state(self) -> None:
        try:
            await self.ensure_history()
            await self.providers.load()
        finally:
            self.lag.end_quiet()  # start-up is over: freezes from now on are announced

    def _on_models_profiles_changed(self) -> None:
        if not self._closing and self.editors.uses_openai():
            self.warmup.want_openai()

    def paintEvent(self, event: QPaintEvent) -> None:
        """Record the first paint (the start-up benchmark's finish line)."""
        if self.first_paint_epoch is None:
            self.first_paint_epoch = time.time()
        super().paintEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Hide now and let the app's main coroutine await :meth:`shutdown`."""
        event.accept()
        if not self._closing:
            self._closing = True
            self.close_requested.emit()
