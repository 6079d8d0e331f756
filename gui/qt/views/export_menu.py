"""File > Export current run: the run the grid shows, live or past, saved through the History
tab's export dialog.

A live run is exported from the history once it has ended (its record is complete there);
a past run is exported as it was opened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QWidget

from gui.core.session import Session
from gui.core.tasks import TaskOwner

if TYPE_CHECKING:
    from gui.qt.services import HistoryService
    from gui.qt.views.history_panel import HistoryPanel

__all__ = ["ExportMenu"]


class ExportMenu(QMenu):
    """One entry per export format.

    Args:
        session: What the grid shows (its current or past run).
        history: Where an ended live run is read back from.
        panel: The History tab, whose dialog asks where to save.
        tasks: The owner of the read-back tasks (the window's).

    Signals:
        notice(str, int): why nothing was exported, for the status bar, and for how many ms.
    """

    notice = Signal(str, int)

    def __init__(
        self,
        session: Session,
        history: HistoryService,
        panel: HistoryPanel,
        tasks: TaskOwner,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Export current run", parent)
        self._session = session
        self._history = history
        self._panel = panel
        self._tasks = tasks
        for text, fmt in (("JSON…", "json"), ("CSV…", "csv"), ("Markdown…", "md")):
            action = self.addAction(text)
            action.setData(fmt)
        self.triggered.connect(self._on_triggered)

    def _on_triggered(self, action: QAction) -> None:
        fmt = str(action.data())
        past = self._session.past_run
        if past is not None:
            # Read again: ratings given since the run was opened are in the history only.
            self._tasks.spawn(self._export(past.id, fmt), "fanout-export")
            return
        run = self._session.current_run
        if run is None:
            self.notice.emit("Nothing to export yet: run something first.", 6000)
            return
        if not run.finished:
            self.notice.emit("The run is still going: export it once it ends.", 6000)
            return
        self._tasks.spawn(self._export(run.id, fmt), "fanout-export")

    async def _export(self, run_id: str, fmt: str) -> None:
        await self._history.flush()
        stored = await self._history.get_run(run_id)
        if stored is None:
            self.notice.emit("This run is not in the history.", 8000)
            return
        self._panel.export_run(stored, fmt)
