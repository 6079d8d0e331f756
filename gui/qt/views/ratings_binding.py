"""Ratings from every layout to the cell store and the history.

The layouts (Tiles and Grid menus, Focus keys, the blind arena) only say what the user
asked for (:attr:`ResultsPage.rating_requested`). :class:`RatingsBinding` applies it to the
cell's rating (:func:`gui.core.ratings.edit_rating`), keeps "best in row" unique in the
store (the history does the same for the stored rows), shows it at once, and stores it in
the run's history entry through :class:`~gui.qt.services.HistoryService`, one write after
the other so the last rating given is the one kept. It works on the live run (cells that
ended) and on a past run opened from the History tab alike: both are runs of the history.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace

from PySide6.QtCore import QObject, Signal

from gui.core.ratings import Rating, RatingAction, edit_rating
from gui.core.tasks import TaskOwner
from gui.qt.services import HistoryService
from gui.qt.widgets.cell_pane import TERMINAL_PHASES
from gui.qt.widgets.cell_store import CellStore

__all__ = ["RatingsBinding"]


class RatingsBinding(QObject):
    """Applies and stores ratings of the shown run's cells.

    Args:
        store: The shown run's cells.
        run_id: The history id of the run on show (``None``: nothing to rate).
        history: Where ratings are stored.
        parent: The owning QObject.

    Signals:
        rating_saved(str): a rating of the run with this id is in the history.
        notice(str): one line for the status bar (a rating that cannot be made or saved).
    """

    rating_saved = Signal(str)
    notice = Signal(str)

    def __init__(
        self,
        store: CellStore,
        run_id: Callable[[], str | None],
        history: HistoryService,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._store = store
        self._run_id = run_id
        self._history = history
        self._tasks = TaskOwner()
        self._last: asyncio.Task[None] | None = None

    def rate(self, cell_id: str, action: str, stars: int, blind: bool) -> Rating | None:
        """Apply one rating action to ``cell_id``, show it and store it.

        Returns:
            The cell's rating now (``None``: none, or the cell cannot be rated yet).
        """
        store = self._store
        status = store.status(cell_id)
        where = store.where(cell_id)
        run_id = self._run_id()
        if status is None or where is None or run_id is None:
            return None
        if status[0] not in TERMINAL_PHASES:
            self.notice.emit("Rate an answer once it has ended.")
            return store.rating(cell_id)
        rating = edit_rating(store.rating(cell_id), RatingAction(action), stars, blind=blind)
        if rating is not None and rating.best:
            for sibling in store.row_cell_ids(where[0]):
                other = store.rating(sibling)
                if sibling != cell_id and other is not None and other.best:
                    rest = replace(other, best=False)
                    store.set_rating(sibling, None if rest.empty else rest)
        store.set_rating(cell_id, rating)
        previous = self._last
        self._last = self._tasks.spawn(
            self._save(previous, run_id, cell_id, rating), f"fanout-rating:{cell_id}"
        )
        return rating

    async def _save(
        self,
        previous: asyncio.Task[None] | None,
        run_id: str,
        cell_id: str,
        rating: Rating | None,
    ) -> None:
        # One write after the other: two quick keys reach the history in the order pressed.
        if previous is not None and not previous.done():
            await asyncio.wait([previous])
        problem = await self._history.set_rating(run_id, cell_id, rating)
        if problem is not None:
            self.notice.emit(problem)
        else:
            self.rating_saved.emit(run_id)

    async def wait_saved(self) -> None:
        """Wait until every rating given so far is stored (or failed to be)."""
        last = self._last
        if last is not None and not last.done():
            await asyncio.wait([last])

    def shutdown(self) -> None:
        """Cancel writes still waiting (the history's close stores what reached it)."""
        self._tasks.cancel_all()
