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

import importlib
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from PySide6.QtCore import QByteArray, Qt, QTimer, Signal, qVersion
from PySide6.QtGui import QCloseEvent, QPaintEvent
from PySide6.QtWidgets import QMainWindow, QWidget

from gui.core.tasks import TaskOwner
from gui.qt.views.prompt_editor import PromptEditor
from gui.qt.views.run_controls import RunControls
from gui.qt.views.window_layout import (
    add_dock,
    add_editor,
    add_late_menus,
    add_pages,
    add_prompt_page,
    build_menus,
    editor_section,
    place_editor,
    start_body,
)
from gui.qt.warmup import Warmup
from gui.qt.widgets.lag_meter import LagMeter
from gui.qt.widgets.status_bar import StatusBar

if TYPE_CHECKING:  # asyncio too: imported when a task starts, after the first frame
    import asyncio

    from PySide6.QtWidgets import QDockWidget

    from gui.core.chat import Chat, ChatNode, Message
    from gui.core.chat_session import ChatSession
    from gui.core.ports import Backend
    from gui.core.runner import Run
    from gui.core.session import Session
    from gui.core.spec import ModelProfile, RunSpec
    from gui.qt.qt_types import WidgetTypes
    from gui.qt.run_commands import RunCommands
    from gui.qt.run_display import RunDisplay
    from gui.qt.services import HistoryService, Services
    from gui.qt.views.chat_page import ChatPage
    from gui.qt.views.checks_panel import ChecksPanel
    from gui.qt.views.code_view import CodeView
    from gui.qt.views.concurrency_panel import ConcurrencyPanel
    from gui.qt.views.debug_log import AsyncioDebugPanel
    from gui.qt.views.demos_menu import DemosMenu
    from gui.qt.views.export_menu import ExportMenu
    from gui.qt.views.history_panel import HistoryPanel
    from gui.qt.views.inputs_table import InputsTable
    from gui.qt.views.judge_page import JudgePage
    from gui.qt.views.leaderboard_view import LeaderboardView
    from gui.qt.views.models_panel import ModelsPanel
    from gui.qt.views.providers_panel import ProvidersPanel
    from gui.qt.views.ratings_binding import RatingsBinding
    from gui.qt.views.results_page import ResultsPage
    from gui.qt.views.run_editors import RunEditors
    from gui.qt.views.schema_page import SchemaPage
    from gui.qt.views.scoreboard_page import ScoreboardPage
    from gui.qt.views.workspace_binding import WorkspaceBinding
    from gui.qt.widgets.results_grid import ResultsGrid
    from gui.qt.widgets.strategy_chart import StrategyChart
    from gui.qt.widgets.timeline import TimelineWidget
    from gui.resources import Preset
    from gui.storage.chats import ChatHistory
    from gui.storage.history import History
    from gui.storage.profiles import ProfileStore, SavedProfile
    from gui.storage.records import StoredRun
    from gui.storage.secrets import KeyStore
    from gui.storage.workspace import Workspace, WorkspaceStore

log = logging.getLogger(__name__)

#: The modules each build step imports, leaves first: a staged build imports them one per
#: turn of the loop before the step, so a turn costs one module's own import, not a chain's.
#: Only a schedule: a module left out is imported by its step as usual, just in one turn.
STEP_MODULES: dict[str, tuple[str, ...]] = {
    "services": (
        "gui.core.checks",
        "gui.core.pricing",
        "gui.core.structured",
        "gui.core.columns",
        "gui.core.spec",
        "gui.core.metrics",
        "gui.core.judging",
        "gui.core.events",
        "uuid",  # the chat's ids: a third of gui.core.chat's import
        "gui.core.chat",
        "hashlib",  # the ratings' blind keys
        "gui.core.ratings",
        "gui.core.ports",
        "gui.core.keys",
        "gui.qt.services",
    ),
    "inputs": ("gui.core.inputs", "gui.qt.widgets.flow_layout", "gui.qt.views.inputs_table"),
    "models": (
        "gui.core.limits",
        "gui.core.estimate",
        "gui.core.checking",
        "gui.core.judge_lane",
        "gui.core.runner",
        "gui.storage.profiles",
        "gui.core.markdown_stream",
        "gui.qt.widgets.markdown_view",
        "gui.qt.widgets.cell_pane",
        "gui.qt.widgets.vertical_scroll",
        "gui.qt.views.models_panel",
    ),
    "model-cards": (),
    "model-cards-rest": (),
    "models-section": (),
    "models-place": (),
    "checks": ("gui.core.checks", "gui.qt.widgets.check_chips", "gui.qt.views.checks_panel"),
    "limits": ("gui.qt.views.concurrency_panel", "gui.qt.views.run_editors"),
    "limits-dock": (),
    "estimate": ("gui.qt.views.cost_estimate",),
    "judge": ("gui.core.judging", "gui.qt.views.judge_page"),
    "schema": ("gui.core.structured", "gui.qt.views.schema_page"),
    "widget-types": ("gui.qt.qt_types",),
    "results": (
        "gui.core.compare",
        "gui.core.session",
        "gui.core.cleantext",
        "gui.core.textdiff",
        "gui.qt.widgets.cell_store",
        "gui.qt.widgets.markdown_view",
        "gui.qt.widgets.results_grid",
        "gui.qt.widgets.tiles_view",
        "gui.qt.views.results_page",
    ),
    "focus": (
        "gui.qt.widgets.json_tree",
        "statistics",  # with decimal and fractions: most of gui.core.samples' import
        "gui.core.samples",
        "gui.qt.widgets.focus_view",
    ),
    "details": (
        "gui.core.agreement",
        "gui.qt.widgets.agreement_view",
        "gui.qt.widgets.row_compare",
        "gui.qt.widgets.diff_view",
        "gui.qt.widgets.agreement_view",
        "gui.qt.widgets.diff_page",
        "gui.qt.widgets.field_table",
        "gui.qt.views.detail_layouts",
    ),
    "timeline": (
        "gui.core.batch",  # imported by the timeline: ~8 ms of its ~10
        "gui.core.timeline",
        "gui.qt.widgets.timeline",
    ),
    "scoreboard": ("gui.core.measures", "gui.core.scoreboard", "gui.qt.views.scoreboard_page"),
    "chart": ("gui.qt.widgets.strategy_chart",),
    "code-debug": (
        "gui.core.codegen",
        "gui.qt.views.code_view",
        "gui.compat.loggers",
        "gui.qt.views.debug_log",
    ),
    "history": ("gui.storage.outcome", "gui.qt.views.history_panel"),
    "chat": (
        "gui.core.chat",
        "gui.core.chat_turn",
        "gui.core.chat_session",
        "sqlite3",
        "gui.storage.records",
        "gui.storage.history",
        "gui.storage.chats",
        "gui.qt.views.chat_page",
    ),
    "profiles": ("gui.storage.secrets", "gui.qt.views.providers_panel"),
    "prices": ("gui.qt.views.prices_editor",),
    "profiles-dock": (),
    "batches": ("gui.core.batch", "gui.qt.views.batches_view", "gui.qt.batch_commands"),
    "wiring": (
        "gui.qt.bridge",
        "gui.qt.run_commands",
        "gui.qt.run_display",
        "gui.qt.views.export_menu",
        "gui.qt.views.demos_menu",
        "gui.storage.workspace",
        "gui.qt.views.workspace_binding",
    ),
    "ratings": (
        "gui.core.ratings",
        "gui.qt.widgets.rating_bar",
        "gui.qt.widgets.arena_view",
        "gui.qt.views.ratings_binding",
        "gui.qt.views.leaderboard_view",
    ),
}


class _LazyBackend:
    """The backend, made at its first use: the chat's first message, not the build."""

    def __init__(self, get: Callable[[], Backend]) -> None:
        self._get = get

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)


def _trim_thread(messages: Sequence[Message], budget: int) -> list[Message]:
    """``gui.providers.threads.trim_thread``, imported when a chat first trims (LangChain)."""
    from gui.providers.threads import trim_thread

    return trim_thread(messages, budget)


class _ChatStoreOnHistory:
    """The chat store on the history file, which opens after the first paint.

    Nodes written before it is open are kept and written when it is (a chat started in the
    first seconds loses nothing).
    """

    def __init__(self, service: HistoryService) -> None:
        self._service = service
        self._store: ChatHistory | None = None
        self._waiting: list[Callable[[ChatHistory], None]] = []

    def chats(self) -> ChatHistory | None:
        """The chat history, once the history file is open."""
        history = self._service.history
        if history is None:
            return None
        if self._store is None or self._store.history is not history:
            from gui.storage.chats import ChatHistory

            self._store = ChatHistory(history)
            for write in self._waiting:
                write(self._store)
            self._waiting.clear()
        return self._store

    def save_chat(self, chat: Chat) -> None:
        """Write the chat's header and columns (now, or when the history opens)."""
        self._write(lambda store: store.save_chat(chat))

    def save_node(self, chat: Chat, col: int, node: ChatNode) -> None:
        """Write one node (now, or when the history opens)."""
        self._write(lambda store: store.save_node(chat, col, node))

    def _write(self, write: Callable[[ChatHistory], None]) -> None:
        store = self.chats()
        if store is None:
            self._waiting.append(write)
        else:
            write(store)


async def _bounded(step: Awaitable[object], seconds: float, what: str) -> None:
    """A shutdown step that may fail or hang without stopping the ones after it."""
    import asyncio

    try:
        await asyncio.wait_for(step, seconds)
    except Exception:
        log.exception("%s failed", what)


class MainWindow(QMainWindow):
    """Fanout Studio's window.

    The window is built in two parts. The first frame (:meth:`_build_first_frame`) is what
    a user sees and uses first: the menus, the Run toolbar, the status bar and the prompt
    editor; it imports nothing of the engine, the storage or the other views. The rest is
    a list of steps (:meth:`_build_steps`), each a heavy part (the other editors, a tab, a
    dock, the wiring): run one after another in the constructor, or, with ``staged=True``,
    one per turn of the event loop from :meth:`build_rest` on, so the window paints and
    takes input between two of them. :attr:`built` tells when every part exists. A Run
    pressed before then starts once the window is built (and the engine warm).

    Args:
        backend: The provider backend (default: LangChain's, made on the first run).
        services: Storage services (default: the real ones, made with the rest of the window).
        profile_store, keystore, history: Replace one part of the default services (tests).
        workspace: Where the workspace is autosaved (``None``: nothing is).
        staged: Build only the first frame now; :meth:`build_rest` builds the rest.
        batch_options: Settings of the batch runs' controller (tests: a fast poll, a short
            simulated batch; see :class:`gui.qt.batch_commands.BatchCommands`).

    Signals:
        close_requested: the user closed the window; the app's main coroutine then awaits
            :meth:`shutdown` (async clean-up does not belong in ``aboutToQuit``).
        built: every part of the window exists (emitted once, by a staged build).
        run_finished(RunSummary): the shown run (or a comparison step) ended, UI restored.
        comparison_finished(list[StrategyResult]): the comparison ended.
    """

    close_requested = Signal()
    built = Signal()
    run_finished = Signal(object)
    run_queued_started = Signal(object)
    comparison_finished = Signal(object)

    # Made by the steps after the first frame (see _build_steps).
    services: Services
    session: Session
    editors: RunEditors
    inputs: InputsTable
    models: ModelsPanel
    limits: ConcurrencyPanel
    checks: ChecksPanel
    results: ResultsPage
    grid: ResultsGrid
    timeline: TimelineWidget
    scoreboard: ScoreboardPage
    chart: StrategyChart
    code: CodeView
    debug_log: AsyncioDebugPanel
    history_panel: HistoryPanel
    chat_session: ChatSession
    chat_page: ChatPage
    providers: ProvidersPanel
    concurrency_dock: QDockWidget
    profiles_dock: QDockWidget
    export_menu: ExportMenu
    demos_menu: DemosMenu
    workspace: WorkspaceBinding
    commands: RunCommands
    display: RunDisplay
    judge_page: JudgePage
    schema_page: SchemaPage
    ratings: RatingsBinding
    leaderboard: LeaderboardView

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
        staged: bool = False,
        batch_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(parent)
        self._batch_options = dict(batch_options or {})
        self._workspace_store = workspace  # None: nothing autosaved (tests, demo sessions)
        self._backend = backend
        self._services_given = services
        self._service_parts: dict[str, Any] = {
            "history": history,
            "profile_store": profile_store,
            "keystore": keystore,
        }
        self._tasks = TaskOwner()
        self.warmup = Warmup(self._tasks)  # the engine's imports and a run queued behind them
        self._closing = False
        self.first_paint_epoch: float | None = None
        self._history_wired = False
        self._is_built = False
        self._built_waiters: list[asyncio.Future[None]] = []
        self._pending: Callable[[], object] | None = None  # a Run pressed before the build ended
        self._warm_up_asked = False
        self._imports: list[str] = []  # modules a staged build imports before its next step
        self._first_profiles: list[ModelProfile] = []  # the models' first cards, one a turn
        self._models_section: QWidget | None = None  # the models panel, not yet placed
        self._widget_types: WidgetTypes | None = None  # PySide6's classes, made a few a turn
        self._profiles_split: QWidget | None = None  # the Profiles dock's content, not docked
        #: Milliseconds each build step took (the first frame's included), for the benchmarks.
        self.build_ms: dict[str, float] = {}
        started = time.perf_counter()
        self._build_first_frame()
        self.build_ms["first-frame"] = round((time.perf_counter() - started) * 1000, 1)
        self._steps = self._build_steps()
        if not staged:
            while self._steps:
                self._run_step()
            self._finish_build()

    # ------------------------------------------------------------------ building

    def _build_first_frame(self) -> None:
        """What the first frame shows: menus, the Run toolbar, the status bar, the prompt."""
        self.setWindowTitle("Fanout Studio")
        self.resize(1360, 860)
        self.lag = LagMeter(parent=self)
        # Background imports wait while the GUI thread is busy (its heartbeat overdue).
        self.warmup.gate = self.lag
        self.setStatusBar(StatusBar(self))  # messages elided beside the counters
        self.controls = c = RunControls(self)
        self.run_action, self.cancel_action = c.run_action, c.cancel_action
        self.compare_action, self.block_action = c.compare_action, c.block_action
        self.progress, self.counts_label, self.run_button = c.progress, c.counts_label, c.run_button
        self.prompt = PromptEditor()
        self._top, self._body, self.tabs, self.prompt_tabs = start_body(self.prompt)
        self.setCentralWidget(self._body)
        self._menus = menus = build_menus(self, c)
        self.about_action = menus.about
        menus.quit.triggered.connect(self.close)
        menus.history.triggered.connect(self._on_history_action_triggered)
        self.about_action.triggered.connect(self._on_about_action_triggered)
        self.run_action.triggered.connect(self._on_run_action_triggered)
        self.cancel_action.triggered.connect(self.cancel_all)
        self.compare_action.triggered.connect(self._on_compare_action_triggered)
        self.lag.froze.connect(self.controls.show_freeze)
        self.prompt.run_requested.connect(self._on_run_action_triggered)

    def _build_steps(self) -> list[tuple[str, Callable[[], None]]]:
        """The parts after the first frame, in the order they appear; each is one frame's work."""
        return [
            ("services", self._build_services),
            ("inputs", self._build_inputs),
            ("models", self._build_models),
            ("model-cards", self._build_model_cards),
            ("model-cards-rest", self._build_other_model_cards),
            ("models-section", self._build_models_section),
            ("models-place", self._place_models),
            ("checks", self._build_checks),
            ("limits", self._build_limits),
            ("limits-dock", self._build_limits_dock),
            ("estimate", self._build_cost_estimate),
            ("judge", self._build_judge),
            ("schema", self._build_schema),
            ("widget-types", self._build_widget_types),
            ("results", self._build_results),
            ("focus", self._build_focus),
            ("details", self._build_details),
            ("timeline", self._build_timeline),
            ("scoreboard", self._build_scoreboard),
            ("chart", self._build_chart),
            ("code-debug", self._build_code_and_debug_log),
            ("history", self._build_history),
            ("chat", self._build_chat),
            ("profiles", self._build_profiles),
            ("prices", self._build_prices),
            ("profiles-dock", self._build_profiles_dock),
            ("batches", self._build_batches),
            ("wiring", self._build_wiring),
            ("ratings", self._build_ratings),
        ]

    def _run_step(self) -> None:
        name, step = self._steps.pop(0)
        started = time.perf_counter()
        step()
        self.build_ms[name] = round((time.perf_counter() - started) * 1000, 1)

    def _build_services(self) -> None:
        from gui.qt.services import default_services

        self.services = self._services_given or default_services(**self._service_parts)

    def _build_inputs(self) -> None:
        from gui.qt.views.inputs_table import InputsTable

        self.inputs = InputsTable()
        add_editor(self._top, "Inputs", self.inputs)

    def _build_models(self) -> None:
        from gui.qt.views.models_panel import ModelsPanel

        # The panel now, its first cards the next turn: each costs a frame of its own.
        self.models = ModelsPanel(keys=self.services.keys, profiles=[])

    def _build_model_cards(self) -> None:
        from gui.qt.views.models_panel import default_profiles

        # One card per turn (each ~5 ms with its form), then the panel's section, then its
        # place in the window: in one turn they were ~17 ms, a late frame at every start.
        self._first_profiles = default_profiles()
        self.models.set_profiles(self._first_profiles[:1])

    def _build_other_model_cards(self) -> None:
        self.models.set_profiles(self._first_profiles)  # the first card is kept as it is

    def _build_models_section(self) -> None:
        self._models_section = editor_section(None, self.models)

    def _place_models(self) -> None:
        # Placed with its cards: the splitter shares its room by the panel's size then.
        assert self._models_section is not None  # made by the step before
        place_editor(self._top, self._models_section)
        self._first_profiles = []

    def _build_checks(self) -> None:
        from gui.qt.views.checks_panel import ChecksPanel

        self.checks = ChecksPanel()
        add_prompt_page(self.prompt_tabs, self.checks, "Checks")
        self.checks.title_changed.connect(self._on_checks_title_changed)

    def _build_limits(self) -> None:
        from gui.qt.views.run_editors import RunEditors

        self.editors = e = RunEditors(
            keys=self.services.keys,
            prompt=self.prompt,
            inputs=self.inputs,
            models=self.models,
            checks=self.checks,
        )
        self.limits = e.limits

    def _build_limits_dock(self) -> None:
        # Its own turn, as the estimate's after it: the three were ~9-11 ms in one.
        self.concurrency_dock = add_dock(self, "Concurrency", "concurrencyDock", self.limits)

    def _build_cost_estimate(self) -> None:
        """Issue 15: runs carry the price table, and the estimate shows next to Run."""
        from gui.qt.views.cost_estimate import EstimateBinding

        self.editors.price_entries = self.services.prices.entries
        self.estimate = EstimateBinding(
            self.editors, self.controls, self.services.prices, self, self.services.history, self.lag
        )

    def _build_schema(self) -> None:
        """The Schema page beside the prompt (issue 15): the run's structured output."""
        from gui.qt.views.schema_page import SchemaPage
        from gui.resources import starter_schemas

        self.schema_page = SchemaPage(starter_schemas())
        add_prompt_page(self.prompt_tabs, self.schema_page, "Schema")
        self.editors.schema = self.schema_page
        self.schema_page.title_changed.connect(self._on_schema_page_title_changed)

    def _on_schema_page_title_changed(self, title: str) -> None:
        index = self.prompt_tabs.indexOf(self.schema_page)
        if index >= 0:
            self.prompt_tabs.setTabText(index, title)

    def _build_judge(self) -> None:
        """The Judge page beside the prompt (issue 13): the run's LLM judge."""
        from gui.qt.views.judge_page import JudgePage

        self.judge_page = JudgePage(columns=self.models.profiles, keys=self.services.keys)
        add_prompt_page(self.prompt_tabs, self.judge_page, "Judge")
        self.editors.judge = self.judge_page
        self.models.profiles_changed.connect(self.judge_page.refresh_columns)

    def _on_providers_profiles_saved(self, saved: list[SavedProfile]) -> None:
        self.judge_page.set_saved_profiles([(s.name, s.profile) for s in saved])

    def _build_widget_types(self) -> None:
        # PySide6's widget classes, a few per turn: the Results page's views would create
        # some forty of them at once (gui/qt/qt_types.py). Its own next turn until all exist.
        from gui.qt.qt_types import WidgetTypes

        if self._widget_types is None:
            self._widget_types = WidgetTypes()
        if not self._widget_types.step():
            self._steps.insert(0, ("widget-types", self._build_widget_types))

    def _build_results(self) -> None:
        from gui.core.session import Session
        from gui.qt.views.results_page import ResultsPage

        self.session = Session(self._ensure_backend, self.ensure_history)
        self.results = ResultsPage(details=False)  # Focus, Row, Diff: the next turn
        self.grid = self.results.grid
        self.past_banner, self.past_label = self.results.past_banner, self.results.past_label
        add_pages(self.tabs, [(self.results, "Results")])

    def _build_focus(self) -> None:
        self.results.build_focus()

    def _build_details(self) -> None:
        self.results.build_details()

    def _build_timeline(self) -> None:
        from gui.qt.widgets.timeline import TimelineWidget

        self.timeline = TimelineWidget()
        add_pages(self.tabs, [(self.timeline, "Timeline")])

    def _build_scoreboard(self) -> None:
        from gui.qt.views.scoreboard_page import ScoreboardPage

        # Reads the results' cell store itself: a live run and a past run fill it alike.
        self.scoreboard = ScoreboardPage(self.results.store)
        self.scoreboard.cell_activated.connect(self._on_scoreboard_cell_activated)
        self.scoreboard.row_activated.connect(self._on_scoreboard_row_activated)
        add_pages(self.tabs, [(self.scoreboard, "Scoreboard")])

    def _build_chart(self) -> None:
        from gui.qt.widgets.strategy_chart import StrategyChart

        self.chart = StrategyChart()
        add_pages(self.tabs, [(self.chart, "Compare strategies")])

    def _build_code_and_debug_log(self) -> None:
        from gui.qt.views.code_view import CodeView
        from gui.qt.views.debug_log import AsyncioDebugPanel

        self.code = CodeView()
        self.debug_log = AsyncioDebugPanel()
        add_pages(self.tabs, [(self.code, "Code"), (self.debug_log, "asyncio debug")])

    def _build_history(self) -> None:
        from gui.qt.views.history_panel import HistoryPanel

        self.history_panel = HistoryPanel(self.services.history, self.services.exports)
        add_pages(self.tabs, [(self.history_panel, "History")])

    def _build_chat(self) -> None:
        """The Chat tab (views/chat_page.py) on a Qt-free ChatSession; chats go to the history
        file once it is open, and the engine's LangChain side is reached only at the first
        message (the backend and the trimmer are looked up then)."""
        from gui.core.chat_session import ChatSession
        from gui.qt.views.chat_page import ChatPage

        store = _ChatStoreOnHistory(self.services.history)
        self.chat_session = ChatSession(
            cast("Backend", _LazyBackend(self._ensure_backend)), store, trim=_trim_thread
        )
        self.chat_page = ChatPage(self.chat_session, self.models.profiles, store.chats)
        add_pages(self.tabs, [(self.chat_page, "Chat")])

    def _build_profiles(self) -> None:
        from gui.qt.views.providers_panel import ProvidersPanel

        # The panel, the price table under it, then the dock: a turn each (one turn was
        # ~10-14 ms of the GUI thread, docs/performance-notes.md).
        self.providers = ProvidersPanel(self.services.profiles, self.services.keys)

    def _build_prices(self) -> None:
        self._profiles_split = self._with_prices_editor(self.providers)

    def _build_profiles_dock(self) -> None:
        assert self._profiles_split is not None  # made by the step before
        self.profiles_dock = add_dock(self, "Profiles", "profilesDock", self._profiles_split)
        self._profiles_split = None
        self.tabifyDockWidget(self.concurrency_dock, self.profiles_dock)
        self.concurrency_dock.raise_()

    def _build_batches(self) -> None:
        """The Batches tab and the batch runs' controller (issue 16)."""
        from gui.qt.batch_commands import BatchCommands
        from gui.qt.views.batches_view import BatchesView

        self.batches = BatchesView()
        add_pages(self.tabs, [(self.batches, "Batches")])
        self.batch_commands = BatchCommands(
            self.batches,
            self._tasks,
            self.services.keys,
            self.ensure_history,
            self.statusBar().showMessage,
            timeline=self.timeline.apply_events,
            backend=self._ensure_backend,
            **self._batch_options,
        )
        self.batches.open_requested.connect(self._on_batches_open_requested)
        self.batch_commands.run_ended.connect(self._on_batch_commands_run_ended)
        self.batch_commands.progress_changed.connect(self._on_batch_commands_progress_changed)

    def _on_batches_open_requested(self, run_id: str) -> None:
        async def open_run() -> None:
            stored = await self.services.history.get_run(run_id)
            if stored is not None and self.show_past_run(stored):
                self.tabs.setCurrentWidget(self.results)

        self._tasks.spawn(open_run(), "fanout-open-batch-run")

    def _on_batch_commands_progress_changed(self, run_id: str, done: int, total: int) -> None:
        if not self.running:  # a live run's own counts keep the bar while it streams
            self.controls.show_batch_progress(run_id, done, total)

    def _on_batch_commands_run_ended(self, run_id: str, summary: object) -> None:
        self.history_panel.refresh()

    def _with_prices_editor(self, providers: QWidget) -> QWidget:
        """The Profiles dock's content: the saved profiles above the price table (issue 15)."""
        from PySide6.QtWidgets import QSplitter

        from gui.qt.views.prices_editor import PricesEditor

        self.prices_editor = PricesEditor(self.services.prices)
        self.prices_editor.prices_saved.connect(self._on_prices_editor_prices_saved)
        split = QSplitter(Qt.Orientation.Vertical)
        split.setObjectName("profilesSplit")
        split.addWidget(providers)
        split.addWidget(self.prices_editor)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        return split

    def _on_prices_editor_prices_saved(self, _entries: object) -> None:
        self.estimate.schedule()

    def _build_wiring(self) -> None:
        """The menus that need the history and the demos, the workspace, the run commands."""
        from gui.qt.run_commands import RunCommands
        from gui.qt.run_display import RunDisplay
        from gui.qt.views.demos_menu import DemosMenu
        from gui.qt.views.export_menu import ExportMenu
        from gui.qt.views.workspace_binding import WorkspaceBinding

        c, e = self.controls, self.editors
        self.export_menu = ExportMenu(
            self.session, self.services.history, self.history_panel, self._tasks, self
        )
        self.demos_menu = DemosMenu(self)
        docks = (self.concurrency_dock, self.profiles_dock)
        add_late_menus(self._menus, self.export_menu, docks, self.demos_menu)
        self._menus.file.insertMenu(self._menus.history, self.chat_page.export_menu)
        # Workspace autosave/restore and the theme choice (views/workspace_binding.py).
        self.workspace = WorkspaceBinding(
            self,
            prompt=self.prompt,
            inputs=self.inputs,
            models=self.models,
            limits=self.limits,
            splitters={"top": self._top, "body": self._body},
            docks=docks,
            results=self.results,
            checks=self.checks,
            store=self._workspace_store,
            judge=self.judge_page,
            scoreboard=self.scoreboard,
            chat=self.chat_page,
            schema=self.schema_page,
        )
        self._menus.view.addMenu(self.results.layout_menu)  # Tiles, Grid... with Ctrl+1...
        self._menus.view.addAction(self.results.raw_action)  # every answer's Markdown source
        self.workspace.theme_menu(self._menus.view)
        self.commands = RunCommands(
            self.session,
            e,
            c,
            self.warmup,
            self._tasks,
            self.statusBar().showMessage,
            lambda: self._closing,
            self.run_queued_started.emit,
            batch=self.batch_commands,
            started=self.estimate.run_started,
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
        self._wire()

    def _on_blind_action_toggled(self, on: bool) -> None:
        """Blind mode hides which model wrote what: the Scoreboard (models beside their
        scores and ratings) and the Timeline (each cell labelled with its model, failures
        in red) are off until it ends."""
        for page in (self.scoreboard, self.timeline):
            index = self.tabs.indexOf(page)
            if index < 0:
                continue
            if on and self.tabs.currentIndex() == index:
                # Qt would move to the next enabled tab; the arena is what Ctrl+B asked for.
                self.tabs.setCurrentWidget(self.results)
            self.tabs.setTabEnabled(index, not on)
            self.tabs.setTabToolTip(index, "Off in blind mode (Ctrl+B ends it)" if on else "")

    def _build_ratings(self) -> None:
        """Ratings from every layout to the history (views/ratings_binding.py), blind mode
        (the arena and its toggle in the Results toolbar and the View menu) and the
        Leaderboard tab."""
        from gui.qt.views.leaderboard_view import LeaderboardView
        from gui.qt.views.ratings_binding import RatingsBinding

        self.results.build_arena()
        self._menus.view.addAction(self.results.blind_action)
        self.results.blind_action.toggled.connect(self._on_blind_action_toggled)

        def shown_run_id() -> str | None:
            run = self.session.current_run or self.session.past_run
            return run.id if run is not None else None

        self.ratings = RatingsBinding(
            self.results.store, shown_run_id, self.services.history, parent=self
        )
        self.results.rating_requested.connect(self.ratings.rate)
        self.ratings.notice.connect(self._on_providers_notice)
        self.leaderboard = LeaderboardView(self.services.history)
        add_pages(self.tabs, [(self.leaderboard, "Leaderboard")])
        self.ratings.rating_saved.connect(self.leaderboard.mark_stale)

    def _wire(self) -> None:
        # Every layout's Cancel and Retry (Grid panes, Tiles menus) arrive through the page.
        self.results.cancel_requested.connect(self.session.cancel_cell)
        self.results.retry_requested.connect(self.commands.retry)
        self.results.again_requested.connect(self._on_results_again_requested)
        self.results.close_requested.connect(self.display.close_past)
        self.limits.limits_changed.connect(self.commands.set_limits)
        self.limits.judge_limit_changed.connect(self.commands.set_judge_limit)
        self.providers.profiles_saved.connect(self.models.set_saved_profiles)
        self.providers.profiles_saved.connect(self._on_providers_profiles_saved)
        self.providers.use_requested.connect(self._on_providers_use_requested)
        self.models.save_profile_requested.connect(self._on_models_save_profile_requested)
        self.history_panel.open_requested.connect(self.show_past_run)
        self.history_panel.rerun_requested.connect(self._on_history_rerun_requested)
        self.history_panel.load_requested.connect(self.commands.load)
        # Chats in the History tab: open one to continue it, export it, list it as it grows.
        self.history_panel.chat_open_requested.connect(self._on_history_chat_open_requested)
        self.history_panel.open_chat_id = self._open_chat_id
        self.chat_page.turn_ended.connect(self._on_chat_page_turn_ended)
        self.chat_page.export_requested.connect(self.history_panel.export_chat)
        self.chat_page.run_over_inputs_requested.connect(
            self._on_chat_page_run_over_inputs_requested
        )
        self.demos_menu.chosen.connect(self.commands.run_demo)
        for notices in (self.providers.notice, self.workspace.notice, self.demos_menu.failed):
            notices.connect(self._on_providers_notice)
        self.export_menu.notice.connect(self.statusBar().showMessage)
        self.display.run_finished.connect(self.run_finished)
        self.display.comparison_finished.connect(self.comparison_finished)
        self.display.running_changed.connect(self._on_display_running_changed)
        self.display.judge_cost_changed.connect(self.scoreboard.set_judge_cost)
        self.results.layout_changed.connect(self._on_results_layout_changed)
        self._wire_cache()
        self.editors.sync()

    def _on_history_chat_open_requested(self, chat: Chat) -> None:
        # Shown either way: refused (a turn still running), the Chat tab says why inline.
        self.chat_page.open_chat(chat)
        self.tabs.setCurrentWidget(self.chat_page)

    def _on_chat_page_run_over_inputs_requested(self, chat: Chat, text: str) -> None:
        refused = self.commands.run_chat_message(chat, text)
        if refused:
            self.chat_page.show_error(refused)
        else:
            self.tabs.setCurrentWidget(self.results)

    def _open_chat_id(self) -> str | None:
        chat = self.chat_session.chat
        return chat.id if chat is not None else None

    def _on_chat_page_turn_ended(self, _chat_id: str) -> None:
        async def relist() -> None:
            await self.services.history.flush()  # the turn's answers on disk, then listed
            if not self._closing:
                self.history_panel.refresh()

        self._tasks.spawn(relist(), "fanout-history-relist")

    def build_rest(self) -> None:
        """Build the parts after the first frame, one per turn of the event loop (after the
        first paint, for a window made with ``staged=True``); :attr:`built` tells when done.

        The modules a part needs (:data:`STEP_MODULES`) are imported first, one per turn,
        so that no turn pays for a whole chain of imports at once.
        """
        if self._steps:
            self._imports = list(STEP_MODULES.get(self._steps[0][0], ()))
            QTimer.singleShot(0, self._on_build_timer_timeout)

    def _on_build_timer_timeout(self) -> None:
        # One module or one step per turn: the loop paints, takes input and serves the lag
        # meter between two of them.
        while self._imports:
            module = self._imports.pop(0)
            if module not in sys.modules:
                importlib.import_module(module)
                QTimer.singleShot(0, self._on_build_timer_timeout)
                return
        self._run_step()
        if self._steps:
            self._imports = list(STEP_MODULES.get(self._steps[0][0], ()))
            QTimer.singleShot(0, self._on_build_timer_timeout)
        else:
            self._finish_build()

    def _finish_build(self) -> None:
        self._is_built = True
        if self._warm_up_asked and not self._closing:  # closed meanwhile: no engine needed
            self._start_warm_up()
        for waiter in self._built_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._built_waiters.clear()
        self.built.emit()
        pending, self._pending = self._pending, None
        if pending is not None and not self._closing:
            self.controls.end_starting(running=False)
            pending()

    def restore_first_frame(self, saved: Workspace, *, prompt: bool = True) -> None:
        """What the first frame shows of a saved workspace: the window's place and size,
        and (unless ``prompt`` is false) the template and system message. The rest comes
        with :meth:`WorkspaceBinding.restore` once the window is built."""
        geometry = saved.layout.geometry
        if geometry:  # Qt checks the blob itself and ignores one it cannot use
            self.restoreGeometry(QByteArray.fromHex(geometry.encode("ascii")))
        if prompt:
            self.prompt.set_templates([saved.template, *saved.template_variants])
            self.prompt.set_systems([saved.system, *saved.system_variants])

    @property
    def is_built(self) -> bool:
        """Whether every part of the window exists (see :attr:`built`)."""
        return self._is_built

    @property
    def closing(self) -> bool:
        """Whether the window has been closed (its shutdown is due or under way)."""
        return self._closing

    async def wait_built(self) -> None:
        """Return once every part of the window exists."""
        if self._is_built:
            return
        import asyncio

        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._built_waiters.append(waiter)
        await waiter

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
        returned; :attr:`run_queued_started` tells when it starts). Pressed before the
        window is built, it is queued the same way and starts once the window is built.
        """
        if not self._is_built:
            self._queue_until_built(self._start_queued_run)
            return None
        return self.commands.start_run()

    def start_comparison(self) -> asyncio.Task[Any] | None:
        """Run the current cells through every strategy, one after another, charting each
        (before the window is built: once it is, like :meth:`start_run`)."""
        if not self._is_built:
            self._queue_until_built(self.start_comparison)
            return None
        return self.commands.start_comparison()

    def show_past_run(self, stored: StoredRun) -> bool:
        """Show a run from the history in the grid, read-only; ``False`` while a run is on."""
        return self.commands.show_past_run(stored)

    def cancel_all(self) -> None:
        """Cancel every cell of every run in progress (partial text is kept), and a run
        still waiting for the window to be built."""
        if not self._is_built:
            if self._pending is not None:
                self._pending = None
                self.controls.end_starting(running=False)
            return
        if self.session.running:
            self.estimate.hold()  # until the run has ended (_on_display_running_changed)
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
        import asyncio

        self._closing = True
        await self.wait_built()  # closed within the first frames: the last steps run first
        self.batch_commands.shutdown()  # the batches stay with the provider, resumed next start
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
        self.estimate.stop()
        self.providers.shutdown()
        self.history_panel.shutdown()
        await _bounded(self.ratings.wait_saved(), 3.0, "saving the ratings")
        self.ratings.shutdown()
        self.leaderboard.shutdown()
        # A chat's partial answers are stored as their columns stop.
        await _bounded(self.chat_session.aclose(), 3.0, "stopping the chat")
        self.chat_page.shutdown()
        # Flushes the cells that ended while closing, marks unfinished runs.
        await _bounded(self.services.history.close(), 3.0, "closing the history")
        self.display.close()
        self.lag.stop()
        aclose = getattr(self._backend, "aclose", None)
        if aclose is not None:
            await _bounded(aclose(), 0.3, "closing HTTP connections")
        self.services.cache.close()

    # ------------------------------------------------------------------ slots

    def _queue_until_built(self, start: Callable[[], object]) -> None:
        """Hold a Run (or Compare) pressed in the first frames: it starts once built."""
        if self._pending is None:
            self._pending = start
            self.controls.show_starting()

    def _start_queued_run(self) -> None:
        run = self.commands.start_run()
        if run is not None:  # the engine was warm: it started now, not behind the warm-up
            self.run_queued_started.emit(run)

    def _on_run_action_triggered(self) -> None:
        self.start_run()

    def _on_compare_action_triggered(self) -> None:
        self.start_comparison()

    def _on_history_action_triggered(self) -> None:
        if self._is_built:
            self.tabs.setCurrentWidget(self.history_panel)

    def _on_history_rerun_requested(self, stored: StoredRun) -> None:
        if self.commands.rerun(stored):
            self.tabs.setCurrentIndex(0)

    def _on_scoreboard_cell_activated(self, cell_id: str) -> None:
        # As a double-click on a tile does: the cell in Focus, on the Results tab.
        self.tabs.setCurrentWidget(self.results)
        self.results.details.focus_cell(cell_id)

    def _on_scoreboard_row_activated(self, row: int) -> None:
        self.tabs.setCurrentWidget(self.results)
        self.results.details.compare_row(row)

    def _on_about_action_triggered(self) -> None:
        from gui.about import about_info
        from gui.qt.views.about import show_about

        show_about(self, about_info(qt_version=qVersion()))

    def _on_results_again_requested(self) -> None:
        past = self.session.past_run
        if past is not None:
            self._on_history_rerun_requested(past)  # type: ignore[arg-type]

    def _on_providers_use_requested(self, saved: SavedProfile) -> None:
        self.models.add_profile(saved.for_run())
        self.statusBar().showMessage(f"Added a column for profile {saved.name!r}.", 4000)

    def _on_checks_title_changed(self, title: str) -> None:
        index = self.prompt_tabs.indexOf(self.checks)
        if index >= 0:
            self.prompt_tabs.setTabText(index, title)

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
        self.chat_page.refresh_chats()
        self.batch_commands.resume()  # unfinished batch runs: polled again, said once
        if history.notice:
            self.statusBar().showMessage(history.notice, 20000)

    def _ensure_backend(self) -> Backend:
        if self._backend is None:
            from gui.providers.backend import LangChainBackend

            self._backend = LangChainBackend(
                keys=self.services.keys, cache=self.services.cache.cache
            )
        return self._backend

    # ------------------------------------------------------------------ response cache

    def _wire_cache(self) -> None:
        """ "Clear cache" in the Concurrency dock, and its size kept current after runs."""
        self.limits.cache_clear_requested.connect(self._on_limits_cache_clear_requested)
        self.display.run_finished.connect(self._on_display_run_finished_for_cache)
        # Not at start-up: the size needs the cache module (LangChain) and the file; the
        # button shows it from the first time the user turns the cache on.
        self.limits.limits_changed.connect(self._on_limits_changed_for_cache)

    def _on_limits_changed_for_cache(self, change: dict[str, object]) -> None:
        if change.get("cache"):
            self._tasks.spawn(self._show_cache_size(), "fanout-cache-size")

    def _on_limits_cache_clear_requested(self) -> None:
        self._tasks.spawn(self._clear_cache(), "fanout-clear-cache")

    def _on_display_run_finished_for_cache(self, _summary: object) -> None:
        if self.limits.limits().cache:
            self._tasks.spawn(self._show_cache_size(), "fanout-cache-size")

    async def _show_cache_size(self) -> None:
        try:
            size = await self.services.cache.size()
        except Exception:  # a cache file we cannot read: the button just shows no size
            log.warning("reading the response cache's size failed", exc_info=True)
            return
        self.limits.set_cache_size(size.describe())

    async def _clear_cache(self) -> None:
        try:
            size = await self.services.cache.clear()
        except Exception as exc:
            self.statusBar().showMessage(f"The response cache could not be cleared: {exc}", 20000)
            return
        self.limits.set_cache_size(size.describe())
        self.statusBar().showMessage("Response cache cleared.", 8000)

    # ------------------------------------------------------------------ warm-up

    def warm_up(self) -> asyncio.Task[None]:
        """After the first paint: once the window is built, import the engine's LangChain
        side off the GUI thread (:class:`gui.qt.warmup.Warmup`), then load the history and
        the saved profiles, one worker thread at a time. Returns a task that ends when the
        engine is ready (its imports done).

        The imports wait for the build: both hold the GIL, so running them side by side
        would not end either sooner, and the build imports modules of ``gui`` that the
        engine imports too (two threads importing one module is where a half-initialised
        module can come from).
        """
        self.lag.begin_quiet()  # our own start-up work is measured, not announced as a freeze
        if self._is_built:
            self._start_warm_up()
        else:
            self._warm_up_asked = True  # started by _finish_build
        return self._tasks.spawn(self._engine_ready(), "fanout-engine-ready")

    def _start_warm_up(self) -> None:
        # A restored workspace may open with OpenAI columns: import their client now too.
        self.warmup.start(openai=self.editors.uses_openai())
        self.models.profiles_changed.connect(self._on_models_profiles_changed)
        self._tasks.spawn(self._load_state(), "fanout-load-state")

    async def _engine_ready(self) -> None:
        await self.wait_built()
        await self.warmup.settled()

    async def _load_state(self) -> None:
        try:
            await self.ensure_history()
            await self.providers.load()
            await self._load_prices()
        finally:
            self.lag.end_quiet()  # start-up is over: freezes from now on are announced

    def _hold_markdown_warm_up(self, running: bool) -> None:
        # The Markdown warm-up (lexers built in pieces of 5-100 ms of GIL) only competes with
        # a run whose answers no view renders as Markdown: it waits for the run's end there.
        # Where answers are rendered it goes on, or their view would build the lexers itself.
        held = running and not self.results.renders_markdown() and not self._closing
        self.warmup.hold_markdown(held)

    def _on_display_running_changed(self, running: bool) -> None:
        self._hold_markdown_warm_up(running)  # the session counts the run in a moment later
        if not running:
            self.estimate.let_go()  # a cancelled run's estimate, held until its end

    def _on_results_layout_changed(self, _name: str) -> None:
        self._hold_markdown_warm_up(self.session.running)

    async def _load_prices(self) -> None:
        """Read the user's price table (issue 15) and show it in the Profiles dock."""
        prices = self.services.prices
        try:
            await prices.load()
        except OSError as exc:
            self.statusBar().showMessage(f"Prices could not be read: {exc}", 10000)
            return
        if prices.notice:
            self.statusBar().showMessage(prices.notice, 10000)
        self.prices_editor.set_entries(prices.user_entries())
        self.estimate.schedule()

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
