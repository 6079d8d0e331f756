"""Keeps the window's workspace on disk: autosaved while the user works, restored on the next start.

:class:`WorkspaceBinding` watches the editors (template, system message, inputs, models,
strategy and limits) and the window's layout (geometry, docks, splitters, theme, the
Results tab's layout). Any change
restarts a short debounce timer; when it fires, the state is read on the GUI thread (cheap:
lists are copied, nothing is formatted) and :meth:`gui.storage.workspace.WorkspaceStore.save`
turns it into JSON and writes it atomically in a worker thread, one write at a time. Closing
the window writes whatever is pending (:meth:`WorkspaceBinding.flush`).

The file format, the atomic write and the handling of unreadable files live in
:mod:`gui.storage.workspace` (Qt-free, unit-tested); this module only maps widgets to it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import shiboken6
from PySide6.QtCore import QByteArray, QEvent, QObject, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QApplication, QDockWidget, QMainWindow, QMenu, QSplitter

from gui.core.tasks import TaskOwner
from gui.qt.theme import THEMES, apply_theme
from gui.qt.views.chat_page import ChatPage
from gui.qt.views.checks_panel import ChecksPanel
from gui.qt.views.concurrency_panel import ConcurrencyPanel
from gui.qt.views.inputs_table import InputsTable
from gui.qt.views.judge_page import JudgePage
from gui.qt.views.models_panel import ModelsPanel
from gui.qt.views.prompt_editor import PromptEditor
from gui.qt.views.results_page import ResultsPage
from gui.storage.workspace import WindowLayout, Workspace, WorkspaceStore

if TYPE_CHECKING:  # the Scoreboard is built in its own start-up step, its module with it
    from gui.qt.views.schema_page import SchemaPage
    from gui.qt.views.scoreboard_page import ScoreboardPage

__all__ = ["SAVE_DELAY_MS", "WorkspaceBinding"]

log = logging.getLogger(__name__)

#: A change is written this long after the last one (typing does not write per keystroke).
SAVE_DELAY_MS = 1500

_THEME_TEXT = {"system": "System", "light": "Light", "dark": "Dark"}


class WorkspaceBinding(QObject):
    """Autosave and restore of one main window's workspace.

    Args:
        window: The main window (geometry and dock state).
        prompt, inputs, models, limits: The editors whose contents are kept.
        splitters: The window's splitters by a stable name.
        docks: The docks whose place is kept.
        results: The Results tab, whose layout (Tiles, Grid...) is kept.
        store: Where the workspace is written; ``None`` keeps nothing (tests, bare windows).
        delay_ms: Debounce before a change is written.

    Signals:
        saved(): a write finished (tests await it).
        notice(str): one line for the status bar (a write that failed).
    """

    saved = Signal()
    notice = Signal(str)

    def __init__(
        self,
        window: QMainWindow,
        *,
        prompt: PromptEditor,
        inputs: InputsTable,
        models: ModelsPanel,
        limits: ConcurrencyPanel,
        splitters: Mapping[str, QSplitter],
        docks: Sequence[QDockWidget] = (),
        results: ResultsPage | None = None,
        checks: ChecksPanel | None = None,
        store: WorkspaceStore | None = None,
        delay_ms: int = SAVE_DELAY_MS,
        judge: JudgePage | None = None,
        scoreboard: ScoreboardPage | None = None,
        chat: ChatPage | None = None,
        schema: SchemaPage | None = None,
    ) -> None:
        super().__init__(window)
        self._window = window
        self._prompt = prompt
        self._inputs = inputs
        self._models = models
        self._limits = limits
        self._splitters = dict(splitters)
        self._results = results
        self._checks = checks
        self._judge = judge
        self._scoreboard = scoreboard
        self._chat = chat
        self._schema = schema
        self._store = store
        self._theme = "system"
        self._dirty = False
        self._writing: asyncio.Task[None] | None = None
        self._tasks = TaskOwner()
        self._failed_once = False
        self._theme_actions: dict[str, QAction] = {}
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(delay_ms)
        self._timer.timeout.connect(self._on_timer_timeout)

        changed = self.schedule
        prompt.editor.textChanged.connect(changed)
        prompt.system_editor.textChanged.connect(changed)
        prompt.template_tabs.variants_changed.connect(changed)
        prompt.system_tabs.variants_changed.connect(changed)
        limits.repeats_spin.valueChanged.connect(changed)
        inputs.rows_changed.connect(changed)
        models.profiles_changed.connect(changed)
        limits.limits_changed.connect(changed)
        limits.strategy_changed.connect(changed)
        for splitter in self._splitters.values():
            splitter.splitterMoved.connect(changed)
        if results is not None:
            results.layout_changed.connect(changed)
        if checks is not None:
            checks.checks_changed.connect(changed)
        if judge is not None:
            judge.judge_changed.connect(changed)
        if scoreboard is not None:
            scoreboard.view_changed.connect(changed)
        if chat is not None:
            chat.models_changed.connect(changed)
        if schema is not None:
            schema.schema_changed.connect(changed)
        for dock in docks:
            dock.dockLocationChanged.connect(changed)
            dock.topLevelChanged.connect(changed)
            dock.visibilityChanged.connect(changed)
        window.installEventFilter(self)

    # ------------------------------------------------------------------ public API

    @property
    def store(self) -> WorkspaceStore | None:
        """Where the workspace is written (``None``: nowhere)."""
        return self._store

    def theme(self) -> str:
        """The theme in use: ``system``, ``light`` or ``dark``."""
        return self._theme

    def set_theme(self, theme: str) -> None:
        """Switch the application to ``theme`` now and keep the choice."""
        if theme not in THEMES:
            theme = "system"
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, theme)
        changed = theme != self._theme
        self._theme = theme
        action = self._theme_actions.get(theme)
        if action is not None:
            action.setChecked(True)
        if changed:
            self.schedule()

    def theme_menu(self, parent: QMenu) -> QMenu:
        """A "Theme" submenu of ``parent`` with System, Light and Dark (one checked)."""
        menu = parent.addMenu("Theme")
        group = QActionGroup(menu)
        group.setExclusive(True)
        for theme in THEMES:
            action = menu.addAction(_THEME_TEXT[theme])
            action.setCheckable(True)
            action.setChecked(theme == self._theme)
            action.setData(theme)
            group.addAction(action)
            self._theme_actions[theme] = action
        group.triggered.connect(self._on_theme_group_triggered)
        return menu

    def snapshot(self) -> Workspace:
        """The workspace as the widgets show it now (read on the GUI thread)."""
        columns, rows = self._inputs.table()
        window = self._window
        board = self._scoreboard
        sort_by, stat = board.sort_key() if board is not None else ("", "mean")
        judge = self._judge
        return Workspace(
            template=self._prompt.template(),
            system=self._prompt.system() or "",
            columns=tuple(columns),
            rows=tuple(tuple(r) for r in rows),
            models=tuple(self._models.all_profiles()),
            strategy=self._limits.strategy(),
            limits=self._limits.limits(),
            layout=WindowLayout(
                geometry=bytes(window.saveGeometry().toHex().data()).decode("ascii"),
                state=bytes(window.saveState().toHex().data()).decode("ascii"),
                splitters={name: tuple(s.sizes()) for name, s in self._splitters.items()},
                theme=self._theme,
                results_layout=(
                    self._results.current_layout() if self._results is not None else "tiles"
                ),
                scoreboard_measure=board.measure().name if board is not None else "",
                scoreboard_sort=sort_by,
                scoreboard_stat=stat,
            ),
            checks=self._checks.checks() if self._checks is not None else (),
            judge=judge.draft() if judge is not None else None,
            judge_on=judge is not None and judge.settings() is not None,
            chat_models=tuple(self._chat.chat_models()) if self._chat is not None else (),
            template_variants=tuple(self._prompt.templates()[1:]),
            system_variants=tuple(self._prompt.system_variants()),
            repeats=self._limits.repeats(),
            **self._schema_draft(),
        )

    def _schema_draft(self) -> dict[str, Any]:
        """The Schema page's draft, as :class:`Workspace` fields (issue 15)."""
        if self._schema is None:
            return {}
        text, on = self._schema.draft()
        return {"schema_text": text, "schema_on": on}

    def restore(self, workspace: Workspace, *, content: bool = True, prompt: bool = True) -> None:
        """Show ``workspace``: the editors (unless ``content`` is false) and the layout.

        Call before the window is shown, so it opens at its old place and size at once (a
        window built in stages restores its geometry and prompt with its first frame, and
        the rest here with ``prompt=False``, leaving what the user typed meanwhile).
        """
        if content:
            if prompt:
                self._prompt.set_templates([workspace.template, *workspace.template_variants])
                self._prompt.set_systems([workspace.system, *workspace.system_variants])
            self._inputs.set_variables(self._prompt.variables())
            self._inputs.set_table(workspace.columns, [list(r) for r in workspace.rows])
            self._models.set_profiles(list(workspace.models))
            self._limits.set_strategy(workspace.strategy)
            self._limits.set_limits(workspace.limits)
            self._limits.set_repeats(workspace.repeats)
            if self._checks is not None:
                self._checks.set_checks(workspace.checks)
            if self._judge is not None:
                self._judge.set_settings(workspace.judge, enabled=workspace.judge_on)
            if self._chat is not None:
                self._chat.set_chat_models(list(workspace.chat_models))
            if self._schema is not None:
                self._schema.set_draft(workspace.schema_text, workspace.schema_on)
        layout = workspace.layout
        window = self._window
        # Qt checks these blobs itself and ignores one it cannot use (another Qt version).
        if layout.geometry:
            window.restoreGeometry(QByteArray.fromHex(layout.geometry.encode("ascii")))
        if layout.state:
            window.restoreState(QByteArray.fromHex(layout.state.encode("ascii")))
        for name, sizes in layout.splitters.items():
            splitter = self._splitters.get(name)
            if splitter is not None and len(sizes) == splitter.count() and any(sizes):
                splitter.setSizes(list(sizes))
        self.set_theme(layout.theme)
        if self._results is not None:
            self._results.set_layout(layout.results_layout)  # unknown names are ignored
        if self._scoreboard is not None:
            if layout.scoreboard_measure:
                self._scoreboard.set_measure(layout.scoreboard_measure)  # unknown: ignored
            self._scoreboard.sort_by(layout.scoreboard_sort, layout.scoreboard_stat)
        self._timer.stop()  # what was just restored is what is on disk
        self._dirty = False

    def schedule(self) -> None:
        """Something changed: write the workspace after :data:`SAVE_DELAY_MS` of quiet."""
        if self._store is None:
            return
        self._dirty = True
        self._timer.start()

    def save_soon(self) -> asyncio.Task[None] | None:
        """Write now (off the GUI thread) if anything changed; the task resolves when written."""
        self._timer.stop()
        if self._store is None or not self._dirty:
            return self._writing
        if self._writing is not None and not self._writing.done():
            return self._writing  # it writes again when done: _dirty is still set
        self._dirty = False
        self._writing = self._tasks.spawn(self._write(self.snapshot()), "fanout-workspace-save")
        return self._writing

    async def flush(self) -> None:
        """Write what is pending and wait for it (the window is closing)."""
        for _ in range(2):  # a write in progress, then the last changes
            task = self.save_soon()
            if task is None:
                return
            await asyncio.wait([task])

    # ------------------------------------------------------------------ internals

    async def _write(self, workspace: Workspace) -> None:
        store = self._store
        if store is None:
            return
        try:
            await asyncio.to_thread(store.save, workspace)
        except OSError as exc:
            log.warning("workspace not saved: %s", exc)
            if not self._failed_once and shiboken6.isValid(self):
                self._failed_once = True  # said once a session, not on every keystroke
                self.notice.emit(
                    f"The workspace could not be saved ({exc.strerror or exc}): {store.path}"
                )
            return
        if not shiboken6.isValid(self):
            return
        self.saved.emit()
        if self._dirty:  # changed while writing
            self._timer.start()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._window and event.type() in (QEvent.Type.Resize, QEvent.Type.Move):
            self.schedule()
        return super().eventFilter(watched, event)

    def _on_timer_timeout(self) -> None:
        self.save_soon()

    def _on_theme_group_triggered(self, action: QAction) -> None:
        self.set_theme(str(action.data()))
