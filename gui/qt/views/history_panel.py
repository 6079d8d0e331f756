"""Past runs and chats: search, open, run again, export, delete. Nothing here blocks the loop.

The list comes from the history service (:class:`gui.qt.services.HistoryService`, which reads
SQLite off the GUI thread): runs and chats in one list, newest first, filtered by text (a
run's template, a chat's title and every message of it), model and date; files are written by
the export service. A chat row opens in the Chat tab, where it continues where it was.
Export writes through a non-modal :class:`QFileDialog` (``open()``, never ``exec()``), and
Delete asks inline, never with a modal message box: a nested event loop would stall the
runs streaming meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import shiboken6
from PySide6.QtCore import QEvent, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.core.chat import is_chat_id
from gui.core.runner import Phase
from gui.core.tasks import TaskOwner
from gui.core.text import one_line_label
from gui.qt.resources import status_colors
from gui.qt.services import ExportService, HistoryService
from gui.storage.outcome import outcome, outcome_phase

if TYPE_CHECKING:  # imported when first used: the window paints before SQLite is loaded
    from gui.core.chat import Chat
    from gui.storage.chats import ChatRecord
    from gui.storage.history import History
    from gui.storage.records import RunRecord, StoredRun

__all__ = ["SEARCH_DELAY_MS", "HistoryPanel"]

log = logging.getLogger(__name__)

#: Typing in the search box re-queries this long after the last keystroke.
SEARCH_DELAY_MS = 250

#: Most runs listed at once (newest first).
LIST_LIMIT = 500

_DAY = 24 * 3600
_PERIODS: tuple[tuple[str, float | None], ...] = (
    ("Any time", None),
    ("Today", 0.0),
    ("Last 7 days", 7 * _DAY),
    ("Last 30 days", 30 * _DAY),
)
_EXPORT_FORMATS = (
    ("JSON (everything)", "json"),
    ("CSV (one row per cell, and a per-model summary file)", "csv"),
    ("Markdown (comparison matrix)", "md"),
)
_CHAT_EXPORT_FORMATS = (
    ("JSON (every branch and alternative, with metrics)", "json"),
    ("Markdown (a section per model)", "md"),
    ("Markdown (a side-by-side table per turn)", "md-table"),
)
_FILTERS = {
    "json": "JSON (*.json)",
    "csv": "CSV (*.csv)",
    "md": "Markdown (*.md)",
    "md-table": "Markdown (*.md)",
}
_COLUMNS = ("When", "Status", "Cells", "Models", "Strategy", "Wall", "Template")
#: What a chat row shows in the Status and Strategy columns.
CHAT_KIND = "chat"


_NOTHING_YET = "No runs or chats yet: every run you start and every chat is kept here."


def _since(period: float | None, now: float | None = None) -> float | None:
    if period is None:
        return None
    now = time.time() if now is None else now
    if period == 0.0:  # today: since local midnight
        lt = time.localtime(now)
        return time.mktime((lt.tm_year, lt.tm_mon, lt.tm_mday, 0, 0, 0, 0, 0, -1))
    return now - period


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(epoch))


class HistoryPanel(QWidget):
    """The list of past runs and chats with their actions.

    Args:
        history: The history service; the list shows once :meth:`set_history` says it is open.
        exports: Writes exported files.

    Signals:
        open_requested(StoredRun): show this run read-only in the grid.
        rerun_requested(StoredRun): load this run's plan into the editors and run it.
        load_requested(StoredRun): load this run's plan into the editors, without running it.
        chat_open_requested(Chat): continue this stored chat in the Chat tab.

    Attributes:
        open_chat_id: Tells which chat the Chat tab shows (set by the window): that one is
            not deleted from under it.
    """

    open_requested = Signal(object)
    chat_open_requested = Signal(object)
    rerun_requested = Signal(object)
    load_requested = Signal(object)

    #: The status column waits for a recolour (a theme switch while the list was hidden).
    _recolour_pending = False

    def __init__(
        self,
        history: HistoryService | None = None,
        exports: ExportService | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._service = history or HistoryService()
        self._exports = exports or ExportService()
        self._history: History | None = None
        self._records: list[RunRecord] = []
        self._chats: list[ChatRecord] = []
        self.open_chat_id: Callable[[], str | None] = lambda: None
        self._export_chat: Chat | None = None
        self._tasks = TaskOwner()
        self._dialog: QFileDialog | None = None
        self._export_fmt = "json"
        self._export_run: StoredRun | None = None
        self._pending_delete: str | None = None
        self._generation = 0  # newer queries win over older ones still in flight
        self._unreadable: str | None = None  # why the history on disk cannot be shown
        self._build_ui()
        self._update_buttons()

    # ------------------------------------------------------------------ construction

    def _build_ui(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(6, 6, 6, 6)
        root.setSpacing(6)

        bar = QHBoxLayout()
        self.search_edit = QLineEdit(self)
        self.search_edit.setObjectName("historySearch")
        self.search_edit.setPlaceholderText("Search templates and chats…")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.textChanged.connect(self._on_search_edit_text_changed)
        bar.addWidget(self.search_edit, 2)
        self.model_combo = QComboBox(self)
        self.model_combo.setObjectName("historyModel")
        self.model_combo.addItem("All models", None)
        self.model_combo.setToolTip("Only runs and chats that used this model")
        self.model_combo.currentIndexChanged.connect(self._on_filter_changed)
        bar.addWidget(self.model_combo, 1)
        self.period_combo = QComboBox(self)
        self.period_combo.setObjectName("historyPeriod")
        for text, period in _PERIODS:
            self.period_combo.addItem(text, period)
        self.period_combo.currentIndexChanged.connect(self._on_filter_changed)
        bar.addWidget(self.period_combo)
        root.addLayout(bar)

        self.tree = QTreeWidget(self)
        self.tree.setObjectName("historyList")
        self.tree.setColumnCount(len(_COLUMNS))
        self.tree.setHeaderLabels(list(_COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.tree.header()
        header.setStretchLastSection(True)
        for column in range(len(_COLUMNS) - 1):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        self.tree.itemDoubleClicked.connect(self._on_tree_item_double_clicked)
        root.addWidget(self.tree, 1)

        self.empty_label = QLabel(_NOTHING_YET, self)
        self.empty_label.setObjectName("historyEmpty")
        self.empty_label.setEnabled(False)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        root.addWidget(self.empty_label)

        actions = QHBoxLayout()
        self.open_button = QPushButton("Open", self)
        self.open_button.setToolTip(
            "Show this run in the Results grid, read-only, or continue this chat in the Chat tab "
            "(double-click)"
        )
        self.open_button.clicked.connect(self._on_open_button_clicked)
        self.rerun_button = QPushButton("Run again", self)
        self.rerun_button.setToolTip("Load its template, inputs, models and limits, and run them")
        self.rerun_button.clicked.connect(self._on_rerun_button_clicked)
        self.load_button = QPushButton("Load", self)
        self.load_button.setToolTip(
            "Put its template, inputs, models and limits in the editors, without running them"
        )
        self.load_button.clicked.connect(self._on_load_button_clicked)
        self._export_menu = QMenu("Export", self)
        for text, fmt in _EXPORT_FORMATS:
            action = self._export_menu.addAction(text)
            action.setData(fmt)
        self._export_menu.triggered.connect(self._on_export_menu_triggered)
        self.export_button = QToolButton(self)
        self.export_button.setText("Export ▾")
        self.export_button.setToolTip(
            "Save this run as JSON, CSV or Markdown (a chat: JSON or Markdown)"
        )
        self._chat_export_menu = QMenu("Export", self)
        for text, fmt in _CHAT_EXPORT_FORMATS:
            action = self._chat_export_menu.addAction(text)
            action.setData(fmt)
        self._chat_export_menu.triggered.connect(self._on_chat_export_menu_triggered)
        # popup(), not setMenu(): QToolButton opens its menu with exec(), a nested loop.
        self.export_button.clicked.connect(self._on_export_button_clicked)
        self.delete_button = QPushButton("Delete", self)
        self.delete_button.setToolTip("Delete this run or chat from the history")
        self.delete_button.clicked.connect(self._on_delete_button_clicked)
        self.confirm_button = QPushButton("Delete it", self)
        self.confirm_button.setObjectName("confirmDelete")
        self.confirm_button.clicked.connect(self._on_confirm_button_clicked)
        self.keep_button = QPushButton("Keep", self)
        self.keep_button.clicked.connect(self._on_keep_button_clicked)
        for button in (self.open_button, self.load_button, self.rerun_button, self.export_button):
            actions.addWidget(button)
        actions.addStretch(1)
        for button in (self.delete_button, self.confirm_button, self.keep_button):
            actions.addWidget(button)
        root.addLayout(actions)

        self.status_label = QLabel(self)
        self.status_label.setObjectName("historyStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        root.addWidget(self.status_label)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.refresh)
        self._set_confirming(False)

    # ------------------------------------------------------------------ public API

    def set_history(self, history: History) -> None:
        """Show ``history`` (and its recovery notice, if any)."""
        self._history = history
        # A history on disk that cannot be read is said once, where the list would be: an
        # empty list would read as "no runs recorded yet".
        self._unreadable = history.notice or "History is kept in memory only this session."
        if history.persistent:
            self._unreadable = None
            if history.notice:
                self._set_status(history.notice, ok=False)
        self.refresh()

    def records(self) -> list[RunRecord]:
        """The runs listed now, in order."""
        return list(self._records)

    def chats(self) -> list[ChatRecord]:
        """The chats listed now, in order."""
        return list(self._chats)

    def selected_id(self) -> str | None:
        """Id of the selected run."""
        items = self.tree.selectedItems()
        return items[0].data(0, Qt.ItemDataRole.UserRole) if items else None

    def select(self, run_id: str) -> None:
        """Select the run (or chat) ``run_id`` if it is listed."""
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item is not None and item.data(0, Qt.ItemDataRole.UserRole) == run_id:
                self.tree.setCurrentItem(item)
                return

    def refresh(self) -> asyncio.Task[Any] | None:
        """Query the list again with the current filters (off the GUI thread)."""
        if self._history is None:
            return None
        self._search_timer.stop()
        self._generation += 1
        return self._spawn(self._refresh(self._generation), "fanout-history-list")

    async def wait_idle(self) -> None:
        """Wait for queries, exports and deletes in progress (tests and shutdown)."""
        await self._tasks.wait_idle()

    def shutdown(self) -> None:
        """Cancel work in progress (the window is closing)."""
        self._tasks.cancel_all()

    def export_to(self, run: StoredRun, fmt: str, path: str | Path) -> asyncio.Task[Any]:
        """Write ``run`` as ``fmt`` to ``path`` (off the GUI thread); the status line says how."""
        return self._spawn(self._write_export(run, fmt, Path(path)), "fanout-history-export")

    def export_run(self, run: StoredRun, fmt: str) -> None:
        """Ask where to save ``run`` as ``fmt`` (a non-modal file dialog), then write it."""
        if self._dialog is not None:
            self._dialog.raise_()
            return
        self._export_run, self._export_chat, self._export_fmt = run, None, fmt
        self._open_save_dialog(
            f"Export run {run.id}", self._exports.default_path(run, fmt), fmt, _FILTERS[fmt]
        )

    def export_chat_to(self, chat: Chat, fmt: str, path: str | Path) -> asyncio.Task[Any]:
        """Write ``chat`` as ``fmt`` (``json``, ``md``, ``md-table``) to ``path`` (off the GUI
        thread); the status line says how."""
        return self._spawn(self._write_chat_export(chat, fmt, Path(path)), "fanout-chat-export")

    def export_chat(self, chat: Chat, fmt: str) -> None:
        """Ask where to save ``chat`` as ``fmt`` (a non-modal file dialog), then write it."""
        if self._dialog is not None:
            self._dialog.raise_()
            return
        self._export_run, self._export_chat, self._export_fmt = None, chat, fmt
        self._open_save_dialog(
            f"Export chat {chat.id}",
            self._exports.default_chat_path(chat, fmt),
            "json" if fmt == "json" else "md",
            _FILTERS[fmt],
        )

    def _open_save_dialog(self, title: str, start: Path, suffix: str, name_filter: str) -> None:
        """The non-modal Save dialog of an export (no nested event loop under qasync)."""
        dialog = QFileDialog(self, title, str(start))
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix(suffix)
        dialog.setNameFilter(name_filter)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(self._on_export_dialog_file_selected)
        dialog.finished.connect(self._on_export_dialog_finished)
        self._dialog = dialog
        dialog.open()

    def status(self) -> str:
        """The status line."""
        return self.status_label.text()

    def changeEvent(self, event: QEvent) -> None:
        """A theme switch recolours the status column (its colours come from the palette):
        at once when the list is on screen, else when it is next shown. A switch made with
        the Grid on screen should not pay for hundreds of rows nobody sees."""
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._recolour_pending = True
            if self.isVisible():
                self._recolour()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._recolour_pending:
            self._recolour()

    def _recolour(self) -> None:
        self._recolour_pending = False
        colours: dict[str, QColor] = {}  # one lookup per status, not per row
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item is None or item.text(1) == CHAT_KIND:
                continue
            status = item.text(1)
            colour = colours.get(status)
            if colour is None:
                colour = colours[status] = status_colors(outcome_phase(status))[1]
            item.setForeground(1, colour)

    # ------------------------------------------------------------------ internals

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        return self._tasks.spawn(coro, name)

    async def _refresh(self, generation: int) -> None:
        history = self._history
        if history is None:
            return
        query = self.search_edit.text().strip()
        model = self.model_combo.currentData()
        since = _since(self.period_combo.currentData())

        from gui.storage.history import HistoryError

        try:
            records, models = await self._service.list_runs(
                query, model=model, since=since, limit=LIST_LIMIT
            )
            chats = await self._service.list_chats(query, limit=LIST_LIMIT)
        except HistoryError as exc:
            if shiboken6.isValid(self):
                self._set_status(str(exc), ok=False)
            return
        if not shiboken6.isValid(self) or generation != self._generation:
            return
        # The model list offers the chats' models too; the filters apply to chats as to runs.
        models = sorted({*models, *(m for c in chats for m in c.models)}, key=str.casefold)
        chats = [
            c
            for c in chats
            if (model is None or model in c.models) and (since is None or c.updated_at >= since)
        ]
        self._show(records, models, filtered=bool(query or model or since is not None), chats=chats)

    def _chat_item(self, chat: ChatRecord) -> QTreeWidgetItem:
        turns = f"{chat.messages} turn{'' if chat.messages == 1 else 's'}"
        if chat.branches > 1:  # the count is the shown branch's; say there are others
            turns += f", {chat.branches} branches"
        title = one_line_label(chat.title or "(untitled chat)", 90)
        item = QTreeWidgetItem(
            [
                _when(chat.updated_at),
                CHAT_KIND,
                turns,
                ", ".join(chat.models),
                CHAT_KIND,
                "-",
                title,
            ]
        )
        item.setData(0, Qt.ItemDataRole.UserRole, chat.id)
        item.setToolTip(0, f"chat {chat.id}: double-click to continue it in the Chat tab")
        item.setToolTip(6, chat.title[:2000])
        return item

    def _show(
        self,
        records: list[RunRecord],
        models: list[str],
        *,
        filtered: bool,
        chats: list[ChatRecord] | None = None,
    ) -> None:
        keep = self.selected_id()
        self._records = records
        self._chats = list(chats or [])
        self.tree.clear()
        items: list[tuple[float, QTreeWidgetItem]] = [
            (c.updated_at, self._chat_item(c)) for c in self._chats
        ]
        # A status's colour once per refresh: status_colors reads the palette each time, and
        # once per run of a 500-run list was 13 ms of the refresh right after Run (load 2.8).
        colors: dict[str, QColor] = {}
        for record in records:
            template = one_line_label(record.template, 90)
            if record.label:
                template = f"[{record.label}] {template}"
            wall = "-" if record.wall is None else f"{record.wall:.2f} s"
            status = outcome(record)
            item = QTreeWidgetItem(
                [
                    _when(record.created_at),
                    status,
                    record.counts_text(),
                    ", ".join(record.models),
                    record.strategy,
                    wall,
                    template,
                ]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, record.id)
            item.setToolTip(6, record.template[:2000])
            item.setToolTip(0, f"run {record.id}")
            phase = outcome_phase(status)
            fg = colors.get(phase)
            if fg is None:
                fg = colors[phase] = status_colors(phase)[1]
            item.setForeground(1, fg)
            items.append((record.created_at, item))
        # Runs and chats in one list, newest first (a chat by its last message).
        items.sort(key=lambda pair: pair[0], reverse=True)
        self.tree.addTopLevelItems([item for _at, item in items])
        self.tree.setVisible(bool(items))
        self.empty_label.setVisible(not items)
        self.empty_label.setText(
            "No run or chat matches these filters."
            if filtered
            else self._unreadable or _NOTHING_YET
        )
        current = self.model_combo.currentData()
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        self.model_combo.addItem("All models", None)
        for name in models:
            self.model_combo.addItem(name, name)
        index = self.model_combo.findData(current) if current else 0
        self.model_combo.setCurrentIndex(max(index, 0))
        self.model_combo.blockSignals(False)
        if keep:
            self.select(keep)
        self._update_buttons()

    async def _load(self, run_id: str) -> StoredRun | None:
        history = self._history
        if history is None:
            return None
        from gui.storage.history import HistoryError

        try:
            run = await self._service.get_run(run_id)
        except HistoryError as exc:
            self._set_status(str(exc), ok=False)
            return None
        if run is None:
            self._set_status("That run is no longer in the history.", ok=False)
            self.refresh()
        return run

    async def _load_chat(self, chat_id: str) -> Chat | None:
        from gui.storage.history import HistoryError

        try:
            chat = await self._service.get_chat(chat_id)
        except HistoryError as exc:
            self._set_status(str(exc), ok=False)
            return None
        if chat is None and shiboken6.isValid(self):
            self._set_status("That chat is no longer in the history.", ok=False)
            self.refresh()
        return chat

    async def _open(self, run_id: str) -> None:
        if is_chat_id(run_id):
            chat = await self._load_chat(run_id)
            if chat is not None and shiboken6.isValid(self):
                self.chat_open_requested.emit(chat)
            return
        run = await self._load(run_id)
        if run is not None and shiboken6.isValid(self):
            self.open_requested.emit(run)

    async def _rerun(self, run_id: str) -> None:
        run = await self._load(run_id)
        if run is not None and shiboken6.isValid(self):
            self.rerun_requested.emit(run)

    async def _load_plan(self, run_id: str) -> None:
        run = await self._load(run_id)
        if run is not None and shiboken6.isValid(self):
            self.load_requested.emit(run)

    async def _export(self, run_id: str, fmt: str) -> None:
        run = await self._load(run_id)
        if run is not None and shiboken6.isValid(self):
            self.export_run(run, fmt)

    async def _export_stored_chat(self, chat_id: str, fmt: str) -> None:
        chat = await self._load_chat(chat_id)
        if chat is not None and shiboken6.isValid(self):
            self.export_chat(chat, fmt)

    async def _write_chat_export(self, chat: Chat, fmt: str, path: Path) -> None:
        try:
            refused = await self._exports.write_chat(chat, fmt, path)
        except OSError as exc:
            self._set_status(f"Could not export to {path}: {exc.strerror or exc}", ok=False)
            return
        if not shiboken6.isValid(self):
            return
        if refused:
            self._set_status(f"{refused[:1].upper()}{refused[1:]}.", ok=False)
        else:
            self._set_status(f"Exported chat {chat.id} to {path}.")

    async def _write_export(self, run: StoredRun, fmt: str, path: Path) -> None:
        try:
            refused = await self._exports.write(run, fmt, path)
        except OSError as exc:
            self._set_status(f"Could not export to {path}: {exc.strerror or exc}", ok=False)
            return
        if not shiboken6.isValid(self):
            return
        if refused:
            self._set_status(f"{refused[:1].upper()}{refused[1:]}.", ok=False)
        elif fmt == "csv":
            from gui.storage.export import summary_path

            summary = summary_path(path).name
            self._set_status(f"Exported run {run.id} to {path} (per-model summary: {summary}).")
        else:
            self._set_status(f"Exported run {run.id} to {path}.")

    async def _delete(self, run_id: str) -> None:
        history = self._history
        if history is None:
            return
        from gui.storage.history import HistoryError

        chat = is_chat_id(run_id)
        try:
            if chat:
                deleted = await self._service.delete_chat(run_id)
            else:
                deleted = await self._service.delete_run(run_id)
        except HistoryError as exc:
            self._set_status(str(exc), ok=False)
            return
        if not shiboken6.isValid(self):
            return
        what = "Chat" if chat else "Run"
        self._set_status(
            f"{what} deleted." if deleted else f"That {what.lower()} was already gone."
        )
        self.refresh()

    def _set_status(self, text: str, ok: bool = True) -> None:
        _bg, color = status_colors(Phase.DONE if ok else Phase.FAILED)
        self.status_label.setStyleSheet(f"color: {color.name()};" if text else "")
        self.status_label.setText(text)

    def _set_confirming(self, asking: bool) -> None:
        self.delete_button.setVisible(not asking)
        self.confirm_button.setVisible(asking)
        self.keep_button.setVisible(asking)

    def _update_buttons(self) -> None:
        chosen = self.selected_id()
        for button in (self.open_button, self.export_button, self.delete_button):
            button.setEnabled(chosen is not None)
        # A chat has no plan to load or run again: it continues in the Chat tab (Open).
        for button in (self.load_button, self.rerun_button):
            button.setEnabled(chosen is not None and not is_chat_id(chosen))
        if self._pending_delete is not None and self._pending_delete != self.selected_id():
            self._pending_delete = None
            self._set_confirming(False)

    # ------------------------------------------------------------------ slots

    def _on_search_edit_text_changed(self, _text: str) -> None:
        self._search_timer.start()

    def _on_filter_changed(self, _index: int) -> None:
        self.refresh()

    def _on_tree_item_double_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        self._spawn(self._open(item.data(0, Qt.ItemDataRole.UserRole)), "fanout-history-open")

    def _on_open_button_clicked(self) -> None:
        run_id = self.selected_id()
        if run_id:
            self._spawn(self._open(run_id), "fanout-history-open")

    def _on_rerun_button_clicked(self) -> None:
        run_id = self.selected_id()
        if run_id:
            self._spawn(self._rerun(run_id), "fanout-history-rerun")

    def _on_load_button_clicked(self) -> None:
        run_id = self.selected_id()
        if run_id:
            self._spawn(self._load_plan(run_id), "fanout-history-load")

    def _on_export_button_clicked(self) -> None:
        below = self.export_button.mapToGlobal(QPoint(0, self.export_button.height()))
        chosen = self.selected_id()
        menu = self._chat_export_menu if chosen and is_chat_id(chosen) else self._export_menu
        menu.popup(below)

    def _on_chat_export_menu_triggered(self, action: QAction) -> None:
        chat_id = self.selected_id()
        if chat_id and is_chat_id(chat_id):
            self._spawn(
                self._export_stored_chat(chat_id, str(action.data())), "fanout-history-export"
            )

    def _on_export_menu_triggered(self, action: QAction) -> None:
        run_id = self.selected_id()
        if run_id:
            self._spawn(self._export(run_id, str(action.data())), "fanout-history-export")

    def _on_export_dialog_file_selected(self, path: str) -> None:
        run, chat = self._export_run, self._export_chat
        if run is not None:
            self.export_to(run, self._export_fmt, path)
        elif chat is not None:
            self.export_chat_to(chat, self._export_fmt, path)

    def _on_export_dialog_finished(self, _result: int) -> None:
        self._dialog = None

    def _on_delete_button_clicked(self) -> None:
        run_id = self.selected_id()
        if run_id is None:
            return
        if is_chat_id(run_id) and run_id == self.open_chat_id():
            # Its next turn would write to a chat that is gone: the Chat tab lets go first.
            self._set_status(
                f"Chat {run_id} is open in the Chat tab: start a new chat there, then delete it.",
                ok=False,
            )
            return
        self._pending_delete = run_id
        self._set_confirming(True)
        what = "chat" if is_chat_id(run_id) else "run"
        self._set_status(f"Delete {what} {run_id} for good?", ok=False)

    def _on_confirm_button_clicked(self) -> None:
        run_id, self._pending_delete = self._pending_delete, None
        self._set_confirming(False)
        if run_id is not None:
            self._spawn(self._delete(run_id), "fanout-history-delete")

    def _on_keep_button_clicked(self) -> None:
        self._pending_delete = None
        self._set_confirming(False)
        self._set_status("Kept.")
