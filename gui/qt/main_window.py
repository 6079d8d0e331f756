"""The main window: prompt, inputs and models on top, the live results grid below, limits in a dock.

Data flows one way: the widgets build a :class:`~gui.core.spec.RunSpec`, the engine runs it
and emits events, :class:`~gui.qt.bridge.RunBridge` coalesces them per frame, and
:meth:`MainWindow._on_bridge_frame_flushed` draws them. Nothing here blocks the loop; every
task started here is owned (``self._tasks``), and every run restores the UI in ``finally``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QPaintEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gui.compat.gc_policy import defer_full_collections
from gui.compat.imports import import_in_background
from gui.core import events as ev
from gui.core.compare import COMPARE_ORDER, StrategyResult
from gui.core.errors import SpecError, TemplateError
from gui.core.runner import CANCELLED_SHUTDOWN, Phase, Run
from gui.core.spec import ModelProfile, ProviderKind, RunSpec, Strategy, make_spec
from gui.core.tasks import TaskOwner
from gui.qt.bridge import RunBridge
from gui.qt.resources import status_colors
from gui.qt.views.code_view import CodeView
from gui.qt.views.concurrency_panel import ConcurrencyPanel
from gui.qt.views.debug_log import AsyncioDebugPanel
from gui.qt.views.history_panel import HistoryPanel
from gui.qt.views.inputs_table import InputsTable
from gui.qt.views.models_panel import ModelsPanel
from gui.qt.views.prompt_editor import PromptEditor
from gui.qt.views.providers_panel import ProvidersPanel
from gui.qt.widgets.lag_meter import LagMeter, LagSparkline
from gui.qt.widgets.results_grid import ResultsGrid
from gui.qt.widgets.strategy_chart import StrategyChart
from gui.qt.widgets.timeline import TimelineWidget
from gui.storage.profiles import ProfileStore, SavedProfile
from gui.storage.secrets import KeyStore

if TYPE_CHECKING:
    from gui.core.metrics import RunSummary
    from gui.core.ports import Backend
    from gui.resources import Preset
    from gui.storage.history import History, StoredRun

log = logging.getLogger(__name__)


def _section(title: str | None, widget: QWidget) -> QWidget:
    """``widget`` under a bold section title, with a little breathing room."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(6, 6, 6, 2)
    layout.setSpacing(4)
    if title:
        label = QLabel(title)
        label.setObjectName("sectionTitle")
        layout.addWidget(label)
    layout.addWidget(widget)
    return box


def _find_keyring() -> None:
    import keyring

    try:
        keyring.get_keyring()  # cached by keyring: KeyStore() then starts at once
    except Exception:  # KeyStore reports an unusable keyring when the profiles load
        log.debug("keyring discovery failed", exc_info=True)


def _open_history_file() -> History:
    # In a worker thread: SQLite and the history code load here, not before the first paint.
    from gui.storage.history import History

    return History.open()


@dataclass
class _RunView:
    """A run the window is showing: the main run, or a one-cell retry mapped onto the grid."""

    run: Run
    cell_map: dict[str, str] = field(default_factory=dict)  # run's cell id -> grid cell id
    primary: bool = True
    label: str | None = None  # stored with the run in the history (a comparison's strategy)
    into_run: str | None = None  # a retry: the earlier run whose cell it replaces

    def local_id(self, grid_id: str) -> str | None:
        for local, grid in self.cell_map.items():
            if grid == grid_id:
                return local
        return None


class MainWindow(QMainWindow):
    """Fanout Studio's window.

    Signals:
        close_requested: the user closed the window; the app's main coroutine then awaits
            :meth:`shutdown` (async clean-up does not belong in ``aboutToQuit``).
        run_finished(RunSummary): the main run ended and the UI is restored.
        run_queued_started(Run): a run pressed before the engine was ready has started.
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
        profile_store: ProfileStore | None = None,
        keystore: Callable[[], KeyStore] | None = None,
        history: History | None = None,
    ) -> None:
        super().__init__(parent)
        self._backend = backend
        self._history = history
        self._history_opening: asyncio.Task[History] | None = None
        self._warming: asyncio.Task[None] | None = None
        self._queued: asyncio.Task[None] | None = None  # a run pressed before the warm-up ended
        self._viewing: StoredRun | None = None
        self._profile_store = profile_store or ProfileStore()
        self._keystore = keystore or KeyStore
        self._views: dict[str, _RunView] = {}
        self._main: _RunView | None = None
        self._tasks = TaskOwner()
        self._ended = 0
        self._total = 0
        self._closing = False
        self.first_paint_epoch: float | None = None
        self._cell_titles: dict[str, str] = {}
        self.lag = LagMeter(parent=self)
        self._bridge = RunBridge(self)
        self._bridge.frame_flushed.connect(self._on_bridge_frame_flushed)
        self._build_ui()
        self._tick = QTimer(self)
        self._tick.setInterval(200)
        self._tick.timeout.connect(self._on_tick_timeout)

    # ------------------------------------------------------------------ building

    def _build_ui(self) -> None:
        self.setWindowTitle("Fanout Studio")
        self.resize(1360, 860)

        self.prompt = PromptEditor()
        self.inputs = InputsTable()
        self.models = ModelsPanel()
        self.grid = ResultsGrid()
        self.limits = ConcurrencyPanel()

        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(_section("Prompt", self.prompt))
        top.addWidget(_section("Inputs", self.inputs))
        top.addWidget(_section(None, self.models))
        top.setSizes([480, 330, 330])
        top.setChildrenCollapsible(False)

        body = QSplitter(Qt.Orientation.Vertical)
        body.addWidget(top)
        self.timeline = TimelineWidget()
        self.chart = StrategyChart()
        self.code = CodeView()
        self.debug_log = AsyncioDebugPanel()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self._results_page(), "Results")
        self.tabs.addTab(self.timeline, "Timeline")
        self.tabs.addTab(self.chart, "Compare strategies")
        self.tabs.addTab(self.code, "Code")
        self.tabs.addTab(self.debug_log, "asyncio debug")
        self.history_panel = HistoryPanel()
        self.tabs.addTab(self.history_panel, "History")
        self.tabs.currentChanged.connect(self._on_tabs_current_changed)
        body.addWidget(self.tabs)
        body.setStretchFactor(0, 2)
        body.setStretchFactor(1, 5)
        body.setSizes([300, 560])
        body.setChildrenCollapsible(False)
        self.setCentralWidget(body)

        dock = QDockWidget("Concurrency", self)
        dock.setObjectName("concurrencyDock")
        dock.setWidget(self.limits)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.concurrency_dock = dock

        self.providers = ProvidersPanel(self._profile_store, self._keystore)
        profiles_dock = QDockWidget("Profiles", self)
        profiles_dock.setObjectName("profilesDock")
        profiles_dock.setWidget(self.providers)
        profiles_dock.setFeatures(dock.features())
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, profiles_dock)
        self.tabifyDockWidget(dock, profiles_dock)
        dock.raise_()
        self.profiles_dock = profiles_dock

        # actions
        self.run_action = QAction("Run", self)
        self.run_action.setShortcuts([QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")])
        self.run_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        self.run_action.setToolTip("Run every input on every model (Ctrl+Enter)")
        self.run_action.triggered.connect(self._on_run_action_triggered)
        self.cancel_action = QAction("Cancel all", self)
        self.cancel_action.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.cancel_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        self.cancel_action.setToolTip(
            "Cancel every cell still queued or streaming (Esc); partial text is kept"
        )
        self.cancel_action.setEnabled(False)
        self.cancel_action.triggered.connect(self.cancel_all)
        self.compare_action = QAction("Compare strategies", self)
        self.compare_action.setShortcut(QKeySequence("Ctrl+Shift+Return"))
        self.compare_action.setToolTip(
            "Run the same cells through sync, sequential, gather, abatch, as_completed and stream, and chart what each cost"
        )
        self.compare_action.triggered.connect(self._on_compare_action_triggered)
        self.block_action = QAction("Block the UI demo (sync on the GUI thread)", self)
        self.block_action.setCheckable(True)
        self.block_action.setToolTip(
            "Demo only: with the sync strategy, call chain.invoke on the GUI thread so the window visibly freezes; the lag meter then reports the freeze"
        )
        quit_action = QAction("Quit", self)
        quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        quit_action.triggered.connect(self.close)

        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        self.export_menu = file_menu.addMenu("Export current run")
        for text, fmt in (("JSON…", "json"), ("CSV…", "csv"), ("Markdown…", "md")):
            action = self.export_menu.addAction(text)
            action.setData(fmt)
        self.export_menu.triggered.connect(self._on_export_menu_triggered)
        history_action = QAction("History", self)
        history_action.setShortcut(QKeySequence("Ctrl+H"))
        history_action.triggered.connect(lambda: self.tabs.setCurrentWidget(self.history_panel))
        file_menu.addAction(history_action)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)
        run_menu = menu.addMenu("&Run")
        run_menu.addAction(self.run_action)
        run_menu.addAction(self.cancel_action)
        run_menu.addSeparator()
        run_menu.addAction(self.compare_action)
        run_menu.addAction(self.block_action)
        view_menu = menu.addMenu("&View")
        view_menu.addAction(dock.toggleViewAction())
        view_menu.addAction(profiles_dock.toggleViewAction())

        bar = QToolBar("Run")
        bar.setObjectName("runToolBar")
        bar.setMovable(False)
        bar.setIconSize(QSize(16, 16))
        self.run_button = QToolButton()
        self.run_button.setDefaultAction(self.run_action)
        self.run_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.run_button.setMinimumWidth(130)
        self.run_button.setObjectName("runButton")
        bar.addWidget(self.run_button)
        cancel_button = QToolButton()
        cancel_button.setDefaultAction(self.cancel_action)
        bar.addWidget(cancel_button)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.setTextVisible(True)
        self.progress.setFormat("")  # "%v / %m" once a run shows
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        bar.addSeparator()
        bar.addWidget(self.progress)
        self.addToolBar(bar)

        status = self.statusBar()
        self.wall_label = QLabel("ready")
        self.counts_label = QLabel("")
        self.lag_label = QLabel("")
        self.lag_label.setToolTip(
            "Event-loop lag: how late a 10 ms heartbeat fires (p99 of the last seconds). Under 16 ms means the window never stuttered."
        )
        self.sparkline = LagSparkline()
        for w in (self.counts_label, self.wall_label, self.lag_label, self.sparkline):
            status.addPermanentWidget(w)
        self.lag.updated.connect(self._on_lag_updated)
        self.lag.froze.connect(self._on_lag_froze)

        self.prompt.run_requested.connect(self._on_run_action_triggered)
        self.prompt.variables_changed.connect(self._on_prompt_variables_changed)
        self.inputs.columns_changed.connect(self._on_inputs_columns_changed)
        self.grid.cancel_requested.connect(self._on_grid_cancel_requested)
        self.grid.retry_requested.connect(self._on_grid_retry_requested)
        self.limits.limits_changed.connect(self._on_limits_limits_changed)
        self.providers.profiles_saved.connect(self.models.set_saved_profiles)
        self.providers.use_requested.connect(self._on_providers_use_requested)
        self.providers.notice.connect(self._on_providers_notice)
        self.models.save_profile_requested.connect(self._on_models_save_profile_requested)
        self.history_panel.open_requested.connect(self._on_history_open_requested)
        self.history_panel.rerun_requested.connect(self._on_history_rerun_requested)
        self.inputs.set_variables(self.prompt.variables())
        self.prompt.set_columns(self.inputs.columns())

    def _results_page(self) -> QWidget:
        """The grid under a banner that says when it shows a past run, read-only."""
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.past_banner = QWidget(page)
        self.past_banner.setObjectName("pastRunBanner")
        # Tinted like a "not live" chip, so a past run is never mistaken for the current one.
        bg, fg = status_colors("queued")
        self.past_banner.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.past_banner.setStyleSheet(
            f"QWidget#pastRunBanner {{ background: {bg.name()}; }}"
            f" QLabel#pastRunLabel {{ color: {fg.name()}; font-weight: bold; }}"
        )
        bar = QHBoxLayout(self.past_banner)
        bar.setContentsMargins(8, 4, 8, 4)
        self.past_label = QLabel(self.past_banner)
        self.past_label.setObjectName("pastRunLabel")
        bar.addWidget(self.past_label, 1)
        again = QPushButton("Run again", self.past_banner)
        again.setToolTip("Load this run's template, inputs, models and limits, and run them")
        again.clicked.connect(self._on_past_again_clicked)
        close = QPushButton("Close", self.past_banner)
        close.setToolTip("Leave the past run; the grid is empty until the next run")
        close.clicked.connect(self._on_past_close_clicked)
        bar.addWidget(again)
        bar.addWidget(close)
        self.past_banner.hide()
        layout.addWidget(self.past_banner)
        layout.addWidget(self.grid, 1)
        return page

    # ------------------------------------------------------------------ public API

    @property
    def running(self) -> bool:
        """Whether any run (main or retry) is in progress."""
        return any(not v.run.finished for v in self._views.values())

    @property
    def current_run(self) -> Run | None:
        """The main run being shown."""
        return self._main.run if self._main else None

    def load_preset(self, preset: Preset) -> None:
        """Fill every input from a demo preset."""
        self.prompt.set_template(preset.template)
        self.inputs.set_variables(self.prompt.variables())
        self.inputs.set_rows(list(preset.rows))
        self.models.set_profiles(list(preset.models))
        self.limits.set_strategy(preset.strategy)
        self.limits.set_limits(preset.limits)
        self.statusBar().showMessage(f"Loaded demo: {preset.title}", 5000)

    def build_spec(self) -> RunSpec:
        """The run the widgets describe.

        Raises:
            TemplateError: the template or inputs cannot make prompts.
            SpecError: no models, a bad profile, or an out-of-range limit.
        """
        issue = self.prompt.blocking_issue()
        if issue:
            raise TemplateError(issue)
        models_issue = self.models.issue()
        if models_issue:
            raise SpecError(models_issue)
        template = self.prompt.template()
        rows = self.inputs.rows()
        spec = make_spec(
            template, rows, self.models.profiles(), self.limits.strategy(), self.limits.limits()
        )
        system = self.prompt.system()
        return replace(spec, system=system) if system else spec

    def start_run(self) -> Run | None:
        """Start the run the widgets describe; show why not inline if it cannot start.

        Pressed while the warm-up still imports the engine, the run is queued (``None`` is
        returned) and starts when the imports are done: importing on the GUI thread, or
        waiting there for the worker's import lock, would freeze the window.
        """
        spec = self._runnable_spec("run")
        if spec is None:
            return None
        warming = self._warming
        if warming is not None and not warming.done():
            if self._queued is None:
                self._queued = self._tasks.spawn(self._start_when_ready(spec), "fanout-queued-run")
            return None
        run = Run(spec, self._ensure_backend(), block_loop=self.block_action.isChecked())
        self._launch(self._show_run(run))
        return run

    async def _start_when_ready(self, spec: RunSpec) -> None:
        self.run_action.setEnabled(False)
        self.run_action.setText("Starting…")
        self.statusBar().showMessage("Loading the engine: the run starts in a moment.", 5000)
        try:
            await self._imports_settled()
        finally:
            self._queued = None
            self.run_action.setText("Run")
            self.run_action.setEnabled(not self.running)
        if self._closing or self.running:
            return
        run = Run(spec, self._ensure_backend(), block_loop=self.block_action.isChecked())
        self._launch(self._show_run(run))
        self.run_queued_started.emit(run)

    def _runnable_spec(self, verb: str) -> RunSpec | None:
        """The spec to start now, or ``None`` with the reason shown inline and in the status bar."""
        if self.running or self._closing or self._queued is not None:
            return None
        try:
            spec = self.build_spec()
        except (TemplateError, SpecError) as exc:
            self.prompt.show_issue(str(exc))
            self.statusBar().showMessage(f"Cannot {verb}: {exc}", 8000)
            return None
        self.prompt.show_issue(None)
        return spec

    def _show_run(self, run: Run, label: str | None = None) -> _RunView:
        """Make ``run`` the one the grid, timeline and code view show."""
        self._leave_past_run()
        view = _RunView(run, {c.id: c.id for c in run.cells}, primary=True, label=label)
        self._main = view
        self._views = {run.id: view}
        self._prepare_grid(run)
        if self.tabs.currentWidget() is self.code:  # else built when the tab is shown (~0.1 s
            self.code.set_spec(run.spec)  # for 10,000 rows: not on every run start)
        return view

    def start_comparison(self) -> asyncio.Task[None] | None:
        """Run the current cells through every strategy, one after another, charting each."""
        spec = self._runnable_spec("compare")
        if spec is None:
            return None
        return self._tasks.spawn(self._drive_comparison(spec), "fanout-comparison")

    async def _drive_comparison(self, spec: RunSpec) -> None:
        self.chart.set_pending([s.value for s in COMPARE_ORDER], requests=len(spec.cells()))
        self.tabs.setCurrentWidget(self.chart)
        self.compare_action.setEnabled(False)
        results: list[StrategyResult] = []
        try:
            for strategy in COMPARE_ORDER:
                run = Run(replace(spec, strategy=strategy), self._ensure_backend())
                view = self._show_run(run, label=f"comparison: {strategy}")
                self.chart.set_running(strategy.value)
                view.run.subscribe(self._bridge.subscriber(None))
                await self._drive(view)
                result = StrategyResult.of(run)
                results.append(result)
                self.chart.set_result(
                    strategy.value, result.wall, result.ideal, result.done, result.failed
                )
                if (run.summary is not None and run.summary.cancelled_by_user) or self._closing:
                    break
        finally:
            self.chart.set_running(None)
            self.compare_action.setEnabled(True)
        if not self._closing:
            self.comparison_finished.emit(results)

    def cancel_all(self) -> None:
        """Cancel every cell of every run in progress (partial text is kept)."""
        for view in list(self._views.values()):
            if not view.run.finished:
                view.run.cancel()

    async def shutdown(self) -> None:
        """Cancel and await every task, close HTTP connections. Called once, at exit."""
        self._closing = True
        for view in list(self._views.values()):
            if not view.run.finished:
                view.run.cancel(CANCELLED_SHUTDOWN)
        tasks = self._tasks.pending()
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=0.8)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=0.2)
        self.providers.shutdown()
        self.history_panel.shutdown()
        history = self._history
        if history is not None:
            try:  # flushes the cells that ended while closing, marks unfinished runs
                await asyncio.wait_for(asyncio.to_thread(history.close), 3.0)
            except Exception:
                log.exception("closing the history failed")
        self._bridge.flush()
        self._bridge.close()
        self.lag.stop()
        backend = self._backend
        aclose = getattr(backend, "aclose", None)
        if aclose is not None:
            try:
                await asyncio.wait_for(aclose(), 0.3)
            except Exception:
                log.exception("closing HTTP connections failed")

    # ------------------------------------------------------------------ internals

    def warm_up(self) -> asyncio.Task[None]:
        """After the first paint: import the engine's LangChain side off the GUI thread
        (:func:`gui.compat.imports.import_in_background`: yielding the GIL between modules, no
        collections meanwhile, the imported heap frozen after). The langchain-openai import (~1.7 s) follows only when an
        OpenAI-compatible profile is in use. The history and the saved profiles load after it,
        one worker thread at a time (see :meth:`_load_state`)."""
        task = self._tasks.spawn(self._warm_up(), "fanout-warm-up")
        self._warming = task
        self.models.profiles_changed.connect(self._on_models_profiles_changed)
        self._tasks.spawn(self._load_state(), "fanout-load-state")
        return task

    async def _load_state(self) -> None:
        await self.ensure_history()
        await self.providers.load()

    async def _imports_settled(self) -> None:
        """Wait for the warm-up imports (if any are running).

        Imports in two worker threads at once (LangChain's in one, SQLite's or keyring's in
        another) met shiboken's import hook, which inspects every new module, about one
        start in ten and left pydantic half-imported for the whole process ("partially
        initialized module"): background imports run one after another.
        """
        warming = self._warming
        if warming is not None and not warming.done():
            await asyncio.wait([warming])

    def ensure_history(self) -> asyncio.Task[History]:
        """Open the run history off the GUI thread (once); the task resolves to it."""
        if self._history_opening is None:
            self._history_opening = self._tasks.spawn(self._open_history(), "fanout-history-open")
        return self._history_opening

    async def _open_history(self) -> History:
        await self._imports_settled()
        history = self._history or await asyncio.to_thread(_open_history_file)
        self._history = history
        self.history_panel.set_history(history)
        if history.notice:
            self.statusBar().showMessage(history.notice, 20000)
        return history

    async def _warm_up(self, openai: bool = False) -> None:
        # The history's and the keyring's modules too, so that a run started as soon as the
        # engine is ready does not import them on a worker thread while its panes fill.
        modules = [
            "gui.providers.backend",
            "gui.providers.simulated",
            "gui.storage.history",
            "keyring",
        ]
        if openai:
            modules.append("langchain_openai")
        missing = [m for m in modules if m not in sys.modules]
        if not missing:
            return
        try:
            # keyring finds its backends (entry points, a few hundred ms of Python) here
            # rather than on the profiles' worker thread while a first run starts.
            await asyncio.to_thread(import_in_background, missing, True, _find_keyring)
        except Exception:  # a broken install shows up on the run instead, with its message
            log.exception("warm-up import failed")
            return

    def _on_models_profiles_changed(self) -> None:
        if "langchain_openai" in sys.modules or self._closing:
            return
        if any(p.provider is ProviderKind.OPENAI for p in self.models.profiles()):
            self._tasks.spawn(self._warm_up(openai=True), "fanout-warm-up-openai")

    def _ensure_backend(self) -> Backend:
        if self._backend is None:
            from gui.providers.backend import LangChainBackend

            self._backend = LangChainBackend()
        return self._backend

    def _prepare_grid(self, run: Run) -> None:
        spec = run.spec
        rows = [" / ".join(str(v) for v in row.values()) or "prompt" for row in spec.rows]
        cols = [m.display_name for m in spec.models]
        ids = [[f"r{r}m{m}" for m in range(len(cols))] for r in range(len(rows))]
        # Pane titles are "<row> × <model>", made by the grid for the panes it shows.
        self.grid.set_grid(rows, cols, ids)
        waiting = "waiting for a slot" if spec.strategy.concurrent else "queued"
        self.grid.set_all_status("queued", waiting)
        row_label = self.grid.row_label  # numbered when a row repeats
        self.timeline.reset([(c.id, f"{row_label(c.row)} × {cols[c.col]}") for c in run.cells])
        self._ended = 0
        self._total = len(run.cells)
        self.progress.setFormat("%v / %m")
        self.progress.setRange(0, self._total)
        self.progress.setValue(0)

    def _launch(self, view: _RunView) -> None:
        view.run.subscribe(self._bridge.subscriber(view.cell_map if not view.primary else None))
        self._tasks.spawn(self._drive(view), f"fanout-window:{view.run.id}")

    async def _drive(self, view: _RunView) -> None:
        """Run one run to its end, restoring the UI whatever happens."""
        self._set_running(True)
        self.lag.start()
        if view.primary:
            self.lag.reset()
            self._started_at = time.monotonic()
        summary: RunSummary | None = None
        try:
            history = await self.ensure_history()  # at once, but for the very first run
            view.run.subscribe(
                history.recorder(
                    label=view.label,
                    into_run=view.into_run,
                    cell_map=view.cell_map if view.into_run else None,
                )
            )
            summary = await view.run.wait()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug of ours: say so, never leave the UI stuck
            log.exception("run %s crashed", view.run.id)
            self.statusBar().showMessage(
                f"Run stopped by an internal error: {type(exc).__name__}: {exc}", 15000
            )
        finally:
            self._bridge.flush()
            self.timeline.finish()
            self._set_running(self.running)
            self._on_tick_timeout()
            if not self._closing:
                self._refresh_history()
        if view.primary and summary is not None:
            lag = self.lag.stats()
            self.statusBar().showMessage(
                f"Run finished: {summary.done} done, {summary.failed} failed, {summary.cancelled} cancelled in {summary.wall:.2f} s"
                f" · loop lag p99 {lag.p99_ms:.1f} ms, max {lag.max_ms:.1f} ms"
                + (
                    f" · the window froze for {lag.max_ms / 1000:.2f} s"
                    if lag.max_ms >= 100
                    else ""
                ),
                0,
            )
            self.run_finished.emit(summary)

    def _set_running(self, running: bool) -> None:
        defer_full_collections(running)  # the gc-policy hook (gui/compat)
        self.cancel_action.setEnabled(running)
        self.run_action.setEnabled(not running)
        self.limits.set_run_active(running)
        if running:
            if not self._tick.isActive():
                self._tick.start()
        else:
            self._tick.stop()
            self.run_action.setText("Run")

    # ------------------------------------------------------------------ slots

    def _on_run_action_triggered(self) -> None:
        self.start_run()

    def _on_compare_action_triggered(self) -> None:
        self.start_comparison()

    def _on_tabs_current_changed(self, _index: int) -> None:
        if self.tabs.currentWidget() is self.code:
            if self._viewing is not None:
                self.code.set_spec(self._viewing.spec)
                return
            try:
                self.code.set_spec(self.build_spec())
            except (TemplateError, SpecError) as exc:
                self.code.set_spec(None, str(exc))

    def _on_lag_updated(self) -> None:
        self.sparkline.set_samples(self.lag.recent())

    def _on_lag_froze(self, ms: float) -> None:
        self.statusBar().showMessage(
            f"The window froze for {ms / 1000:.2f} s: nothing could repaint or react meanwhile.",
            15000,
        )

    def _refresh_history(self) -> None:
        history = self._history
        if history is None:
            return

        async def refresh() -> None:
            await asyncio.to_thread(history.flush, 2.0)  # the last cells are on disk first
            self.history_panel.refresh()

        self._tasks.spawn(refresh(), "fanout-history-refresh")

    def show_past_run(self, stored: StoredRun) -> bool:
        """Show a run from the history in the grid, read-only; ``False`` while a run is on."""
        if self.running:
            self.statusBar().showMessage(
                "A run is in progress: cancel it or let it finish, then open the past run.", 8000
            )
            return False
        spec = stored.spec
        rows = [" / ".join(str(v) for v in row.values()) or "prompt" for row in spec.rows]
        cols = [m.display_name for m in spec.models] or list(stored.models)
        ids = [[f"r{r}m{m}" for m in range(len(cols))] for r in range(len(rows))]
        self.grid.set_grid(rows, cols, ids)
        self.grid.set_read_only(True)
        ended = {c.cell_id: c for c in stored.cells}
        for row in ids:
            for cell_id in row:
                cell = ended.get(cell_id)
                if cell is None:  # an interrupted run: this cell never ended
                    self.grid.set_status(cell_id, "cancelled", "never ended")
                    self.grid.set_error(cell_id, "The app stopped before this cell ended.")
                    continue
                self.grid.set_final_text(cell_id, cell.text, markdown=cell.status == "done")
                self.grid.set_error(cell_id, (cell.error or "") if cell.status != "done" else "")
                self.grid.set_status(cell_id, cell.status)
                self.grid.set_metrics(cell_id, cell.metrics)
        self._main = None
        self._views = {}
        self._viewing = stored
        self.timeline.reset([])
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(stored.created_at))
        self.past_label.setText(
            f"Past run {stored.id} from {when} · {stored.status} · {stored.done}/{stored.total}"
            f" done · {spec.strategy} · read-only"
        )
        self.past_banner.show()
        self.progress.setFormat("%v / %m")
        self.progress.setRange(0, max(stored.total, 1))
        self.progress.setValue(stored.done + stored.failed + stored.cancelled)
        self.tabs.setCurrentIndex(0)
        return True

    def load_spec(self, spec: RunSpec) -> None:
        """Fill the editors from ``spec`` (a past run to run again)."""
        self.prompt.set_template(spec.template)
        self.prompt.set_system(spec.system or "")
        self.inputs.set_variables(self.prompt.variables())
        self.inputs.set_rows([dict(r) for r in spec.rows])
        self.models.set_profiles(list(spec.models))
        self.limits.set_strategy(spec.strategy)
        self.limits.set_limits(spec.limits)

    def _leave_past_run(self) -> None:
        if self._viewing is not None:
            self._viewing = None
            self.past_banner.hide()
            self.grid.set_read_only(False)

    def _on_history_open_requested(self, stored: StoredRun) -> None:
        self.show_past_run(stored)

    def _on_history_rerun_requested(self, stored: StoredRun) -> None:
        if self.running:
            self.statusBar().showMessage("A run is in progress: cancel it or let it finish.", 8000)
            return
        self.load_spec(stored.spec)
        if self.start_run() is not None:
            self.tabs.setCurrentIndex(0)

    def _on_past_again_clicked(self) -> None:
        if self._viewing is not None:
            self._on_history_rerun_requested(self._viewing)

    def _on_past_close_clicked(self) -> None:
        self._leave_past_run()
        self.grid.clear_grid()
        self.code.set_spec(None, "Run something to see its code.")

    def _on_export_menu_triggered(self, action: QAction) -> None:
        fmt = str(action.data())
        if self._viewing is not None:
            self.history_panel.export_run(self._viewing, fmt)
            return
        run = self.current_run
        history = self._history
        if run is None or history is None:
            self.statusBar().showMessage("Nothing to export yet: run something first.", 6000)
            return
        if not run.finished:
            self.statusBar().showMessage("The run is still going: export it once it ends.", 6000)
            return

        async def export() -> None:
            await asyncio.to_thread(history.flush, 2.0)
            stored = await asyncio.to_thread(history.get_run, run.id)
            if stored is None:
                self.statusBar().showMessage("This run is not in the history.", 8000)
                return
            self.history_panel.export_run(stored, fmt)

        self._tasks.spawn(export(), "fanout-export")

    def _on_providers_use_requested(self, saved: SavedProfile) -> None:
        self.models.add_profile(saved.for_run())
        self.statusBar().showMessage(f"Added a column for profile {saved.name!r}.", 4000)

    def _on_providers_notice(self, text: str) -> None:
        self.statusBar().showMessage(text, 10000)

    def _on_models_save_profile_requested(self, profile: ModelProfile) -> None:
        self.profiles_dock.show()
        self.profiles_dock.raise_()
        self.providers.start_from(profile)

    def _on_prompt_variables_changed(self, names: list[str]) -> None:
        self.inputs.set_variables(names)

    def _on_inputs_columns_changed(self, columns: list[str]) -> None:
        self.prompt.set_columns(columns)

    def _on_limits_limits_changed(self, changes: dict[str, Any]) -> None:
        for view in self._views.values():
            if view.run.finished:
                continue
            try:
                view.run.set_limits(**changes)
            except SpecError as exc:
                self.statusBar().showMessage(str(exc), 8000)
                return
        if self.running:
            pretty = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in changes.items())
            self.statusBar().showMessage(f"Applied live: {pretty} (cells not yet started)", 4000)

    def _owner(self, grid_id: str) -> tuple[_RunView, str] | None:
        for view in reversed(list(self._views.values())):
            local = view.local_id(grid_id)
            if local is not None and not view.run.finished:
                return view, local
        return None

    def _on_grid_cancel_requested(self, cell_id: str) -> None:
        owner = self._owner(cell_id)
        if owner is not None:
            view, local = owner
            view.run.cancel_cell(local)

    def _on_grid_retry_requested(self, cell_id: str) -> None:
        if self._main is None or self._closing or self._owner(cell_id) is not None:
            return
        cell = next((c for c in self._main.run.cells if c.id == cell_id), None)
        if cell is None:
            return
        base = self._main.run.spec
        # The column's current settings: a user who fixed a model name or URL expects Retry
        # to use the fix; with the column gone, the cell's original profile.
        current = self.models.profiles()
        model = current[cell.col] if cell.col < len(current) else cell.model
        strategy = base.strategy if base.strategy is not Strategy.SYNC else Strategy.SEQUENTIAL
        spec = RunSpec(
            base.template,
            (dict(cell.inputs),),
            (model,),
            strategy,
            self.limits.limits(),
            base.system,
        )
        run = Run(spec, self._ensure_backend())
        view = _RunView(run, {"r0m0": cell_id}, primary=False, into_run=self._main.run.id)
        self._views[run.id] = view
        self.grid.reset_cell(cell_id)
        self.grid.set_status(cell_id, "queued", "retrying")
        self._ended = max(self._ended - 1, 0)
        self.progress.setValue(self._ended)
        self._launch(view)

    def _on_bridge_frame_flushed(self, texts: dict[str, str], events: list[ev.Event]) -> None:
        if texts:
            self.grid.append_texts(texts)
        if events:
            self.timeline.apply_events(events)
        grid = self.grid
        ended = 0
        for event in events:
            if isinstance(event, ev.CellStarted):
                streaming = self._strategy_of(event.run_id).streams
                detail = "waiting for first token" if streaming else "waiting for response"
                if event.attempt > 1:
                    detail = f"{detail} (attempt {event.attempt})"
                grid.set_status(event.cell_id, "running", detail)
            elif isinstance(event, ev.FirstToken):
                grid.set_status(event.cell_id, "streaming")
            elif isinstance(event, ev.CellRetrying):
                grid.set_status(
                    event.cell_id,
                    "retrying",
                    f"retrying {event.attempt}/{event.max_attempts} in {event.delay:.1f} s",
                )
                grid.set_error(event.cell_id, event.reason)
            elif isinstance(event, ev.CellFinished | ev.CellFailed | ev.CellCancelled):
                if isinstance(event, ev.CellFinished):
                    grid.set_final_text(event.cell_id, event.text, markdown=True)
                    grid.set_error(event.cell_id, "")
                    grid.set_status(event.cell_id, "done")
                elif isinstance(event, ev.CellFailed):
                    grid.set_error(event.cell_id, event.message)
                    grid.set_status(event.cell_id, "failed")
                else:
                    grid.set_error(event.cell_id, event.reason)
                    grid.set_status(event.cell_id, "cancelled")
                grid.set_metrics(event.cell_id, event.metrics)
                ended += 1
        if ended:
            self._count_end(ended)

    def _strategy_of(self, run_id: str) -> Strategy:
        view = self._views.get(run_id)
        return view.run.spec.strategy if view else Strategy.STREAM

    def _count_end(self, count: int) -> None:
        # Once per frame, not per cell: cancelling 20,000 cells repainted the progress bar
        # 20,000 times (seconds of frozen window).
        self._ended = min(self._ended + count, self._total)
        self.progress.setValue(self._ended)
        if self.running:
            self.run_action.setText(f"Running {self._ended} / {self._total}")

    def _on_tick_timeout(self) -> None:
        view = self._main
        if view is None:
            return
        run = view.run
        counts = {
            p: sum(v.run.count(p) for v in self._views.values() if v.primary or not v.run.finished)
            for p in Phase
        }
        in_flight = sum(v.run.in_flight for v in self._views.values())
        waiting = counts[Phase.QUEUED] + counts[Phase.WAITING] + counts[Phase.RETRYING]
        self.limits.set_gauges(
            in_flight,
            waiting,
            counts[Phase.DONE],
            counts[Phase.FAILED],
            counts[Phase.CANCELLED],
            len(run.cells),
        )
        self.counts_label.setText(
            f"in flight {in_flight} · waiting {waiting} · done {counts[Phase.DONE]} · failed {counts[Phase.FAILED]} · cancelled {counts[Phase.CANCELLED]}"
        )
        elapsed = run.summary.wall if run.summary else run.elapsed()
        if run.summary is None:
            self.timeline.set_now(elapsed)
        self.wall_label.setText(f"wall {elapsed:.1f} s")
        recent = sorted(self.lag.recent()[-200:])
        if recent:
            p99 = recent[min(len(recent) - 1, round(0.99 * (len(recent) - 1)))]
            self.lag_label.setText(f"loop lag p99 {p99:.1f} ms")
        if self.running:
            self.run_action.setText(f"Running {self._ended} / {self._total}")

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
