"""The Leaderboard tab: models ranked by Elo over the user's blind ratings, across runs.

It reads the history through :meth:`HistoryService.leaderboard` (off the GUI thread) and
shows rank, model, Elo, games, wins, losses and ties, filtered by a text of the template and
a date range of the runs. The games and the Elo (K and base) are those of
:mod:`gui.core.ratings`, as ``fanout-studio leaderboard`` prints them. It refreshes when shown,
when a filter changes and when a rating is stored while it is shown.
"""

from __future__ import annotations

import asyncio
import time

from PySide6.QtCore import QDate, Qt, QTimer
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDateEdit,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.core.ratings import ELO_BASE, ELO_K, LeaderboardEntry
from gui.core.tasks import TaskOwner
from gui.qt.services import HistoryService

__all__ = ["COLUMNS", "LeaderboardView"]

#: The table's columns.
COLUMNS = ("Rank", "Model", "Elo", "Games", "Wins", "Losses", "Ties")

#: Typing in the template filter waits this long before the query.
_FILTER_DELAY_MS = 250


def _day_start(date: QDate) -> float:
    return time.mktime((date.year(), date.month(), date.day(), 0, 0, 0, 0, 0, -1))


class LeaderboardView(QWidget):
    """Models by Elo over blind ratings, with template and date filters.

    Args:
        history: Where the ratings are read.
        parent: The parent widget.
    """

    def __init__(self, history: HistoryService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._history = history
        self._tasks = TaskOwner()
        self._stale = True
        self._entries: list[LeaderboardEntry] = []
        self._build_ui()

    def _build_ui(self) -> None:
        self.setObjectName("leaderboardView")
        self.template_edit = QLineEdit(self)
        self.template_edit.setPlaceholderText("Template contains…")
        self.template_edit.setClearButtonEnabled(True)
        self.template_edit.setToolTip("Only runs whose template contains this text")
        self.since_check = QCheckBox("From", self)
        self.since_edit = QDateEdit(QDate.currentDate().addMonths(-1), self)
        self.until_check = QCheckBox("to", self)
        self.until_edit = QDateEdit(QDate.currentDate(), self)
        for check, edit, tip in (
            (self.since_check, self.since_edit, "Only runs started on or after this day"),
            (self.until_check, self.until_edit, "Only runs started on or before this day"),
        ):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setEnabled(False)
            check.setToolTip(tip)
            edit.setToolTip(tip)
            check.toggled.connect(edit.setEnabled)
            check.toggled.connect(self._on_filter_changed)
            edit.dateChanged.connect(self._on_filter_changed)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(_FILTER_DELAY_MS)
        self._timer.timeout.connect(self.refresh)
        self.template_edit.textChanged.connect(self._timer.start)
        bar = QHBoxLayout()
        bar.setSpacing(6)
        bar.addWidget(self.template_edit, 1)
        for widget in (self.since_check, self.since_edit, self.until_check, self.until_edit):
            bar.addWidget(widget)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("leaderboardTable")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.status = QLabel(self)
        self.status.setObjectName("leaderboardStatus")
        self.status.setWordWrap(True)
        note = QLabel(
            f"Elo from {ELO_BASE:g}, K={ELO_K:g}, over the rows you rated in blind mode (Ctrl+B in"
            " Results): a row's best pick beats its other answers; two starred answers play by"
            " stars, two thumbed ones by thumbs.",
            self,
        )
        note.setWordWrap(True)
        note.setObjectName("leaderboardNote")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        layout.addWidget(note)

    # ------------------------------------------------------------------------- public API

    def filters(self) -> tuple[str, float | None, float | None]:
        """The template text and the date range (epoch seconds; the end exclusive)."""
        since = _day_start(self.since_edit.date()) if self.since_check.isChecked() else None
        until = (
            _day_start(self.until_edit.date().addDays(1)) if self.until_check.isChecked() else None
        )
        return self.template_edit.text().strip(), since, until

    def refresh(self) -> asyncio.Task[None]:
        """Read the leaderboard again (the newest request wins)."""
        self._stale = False
        return self._tasks.spawn(
            self._refresh(*self.filters()), "fanout-leaderboard", group="read", exclusive=True
        )

    def entries(self) -> list[LeaderboardEntry]:
        """The models shown, best first."""
        return list(self._entries)

    def rows_text(self) -> list[list[str]]:
        """Every table row's texts (for tests and screenshots)."""
        table = self.table
        rows: list[list[str]] = []
        for r in range(table.rowCount()):
            items = (table.item(r, c) for c in range(table.columnCount()))
            rows.append([item.text() if item is not None else "" for item in items])
        return rows

    def mark_stale(self) -> None:
        """Ratings changed: refresh now if shown, else when next shown."""
        if self.isVisible():
            self.refresh()
        else:
            self._stale = True

    async def wait_idle(self) -> None:
        """Wait for the reads in progress."""
        await self._tasks.wait_idle()

    def shutdown(self) -> None:
        """Cancel reads in progress (the window is closing)."""
        self._tasks.cancel_all()

    # --------------------------------------------------------------------------- internals

    async def _refresh(self, query: str, since: float | None, until: float | None) -> None:
        entries, problem = await self._history.leaderboard(query, since=since, until=until)
        if problem is not None:
            self.status.setText(problem)
            return
        self._show(entries, filtered=bool(query) or since is not None or until is not None)

    def _show(self, entries: list[LeaderboardEntry], *, filtered: bool) -> None:
        self._entries = entries
        table = self.table
        table.setRowCount(len(entries))
        for r, e in enumerate(entries):
            values = (
                str(r + 1),
                e.model,
                f"{e.rating:.0f}",
                str(e.games),
                str(e.wins),
                str(e.losses),
                str(e.ties),
            )
            for c, value in enumerate(values):
                item = QTableWidgetItem(value)
                if c != 1:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                if c == 2:
                    item.setToolTip(f"{e.rating:.1f}")
                table.setItem(r, c, item)
        if entries:
            games = sum(e.games for e in entries) // 2
            self.status.setText(f"{len(entries)} models, {games} games.")
        elif filtered:
            self.status.setText("No blind ratings match these filters.")
        else:
            self.status.setText(
                "No blind ratings yet: turn on Blind (Ctrl+B) in the Results tab and rate"
                " some answers."
            )

    # ------------------------------------------------------------------------------ slots

    def _on_filter_changed(self, *_args: object) -> None:
        self._timer.start()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self.refresh()
