"""The Results tab's close-up layouts: Focus, Row compare and Diff, and the moves between them;
and the Table layout of a structured run's fields (issue 15), which focuses a cell the same way.

The results page offers layouts (:meth:`ResultsPage.add_layout`); the overviews (Tiles, Grid)
show every cell, and these three show one cell, one input row, or two cells. This module
registers them and wires the moves a reader makes:

- double-click or Enter on a tile or pane (``cell_activated``) focuses that cell;
- "Compare row" in Focus opens Row compare on the focused cell's input;
- two cells selected (Ctrl+click) enable the Diff action (toolbar and View > Layout), which
  opens them in the Diff page; "Diff with…" in a pane's menu opens the diff at once when
  another cell is selected, else selects this one and opens the diff when a second is;
- Esc in any of them goes back to the layout the reader came from.

It also gives Focus the messages each cell sent, from the spec of the run on show
(:meth:`DetailLayouts.set_spec`; a past run's stored spec).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QCursor
from PySide6.QtWidgets import QToolTip

from gui.core.spec import RunSpec
from gui.qt.widgets.diff_page import DiffPage
from gui.qt.widgets.field_table import FieldTable
from gui.qt.widgets.focus_view import FocusView
from gui.qt.widgets.row_compare import RowCompareView

if TYPE_CHECKING:
    from gui.qt.views.results_page import ResultsPage

__all__ = ["DIFF", "FOCUS", "ROW_COMPARE", "TABLE", "DetailLayouts"]

#: Layout names (kept in the workspace like "tiles" and "grid").
FOCUS = "focus"
ROW_COMPARE = "row"
DIFF = "diff"
TABLE = "table"
_DETAILS = frozenset({FOCUS, ROW_COMPARE, DIFF})

#: How many layouts back Esc can go.
_HISTORY = 20


class DetailLayouts(QObject):
    """Focus, Row compare and Diff on a :class:`ResultsPage`.

    Attributes:
        focus: The Focus layout.
        row_compare: The Row compare layout.
        diff: The Diff page.
    """

    def __init__(self, page: ResultsPage, focus: FocusView | None = None) -> None:
        """``focus``: a Focus view built beforehand (the window builds it in a turn of its
        own); else it is built here."""
        super().__init__(page)
        self._page = page
        self._spec: RunSpec | None = None
        self._history: list[str] = []
        self._current = page.current_layout()
        self._going_back = False
        self._selection: list[str] = []  # the overviews' last selection (kept in close-ups)
        self._diff_with: str | None = None  # "Diff with…" waiting for its second cell
        store = page.store
        self.focus = focus if focus is not None else FocusView(store, self.messages_of, page.stack)
        self.row_compare = RowCompareView(store, page.stack)
        self.diff = DiffPage(store, page.stack)
        page.add_layout(FOCUS, "Focus", self.focus, "Ctrl+3")
        page.add_layout(ROW_COMPARE, "Row compare", self.row_compare, "Ctrl+4")
        self.diff_action = page.add_layout(DIFF, "Diff", self.diff, "Ctrl+5")
        self.diff_action.setToolTip("Diff the two selected cells (Ctrl+click two cells; Ctrl+5)")
        self.diff_action.setEnabled(False)
        #: Issue 15: a structured run's answers, one column per JSON field.
        self.table = FieldTable(store, page.stack)
        table_action = page.add_layout(TABLE, "Table", self.table, "Ctrl+6")
        table_action.setToolTip("A structured run's answers, one column per JSON field (Ctrl+6)")
        self.table.cell_activated.connect(self.focus_cell)
        page.layout_changed.connect(self._on_page_layout_changed)
        page.cell_activated.connect(self._on_page_cell_activated)
        page.selection_changed.connect(self._on_page_selection_changed)
        page.store.shape_changed.connect(self._on_store_shape_changed)
        self.focus.back_requested.connect(self.back)
        self.focus.cell_shown.connect(self._on_focus_cell_shown)
        self.focus.cancel_requested.connect(page.cancel_requested)
        self.focus.retry_requested.connect(page.retry_requested)
        self.focus.row_compare_requested.connect(self.compare_row)
        self.row_compare.back_requested.connect(self.back)
        self.diff.back_requested.connect(self.back)

    # ------------------------------------------------------------------------- public API

    def set_spec(self, spec: RunSpec | None) -> None:
        """The spec of the run on show (before its cells reach the store)."""
        self._spec = spec

    def focus_cell(self, cell_id: str) -> bool:
        """Show ``cell_id`` in Focus; ``False`` for a cell the shown run does not have."""
        if not self.focus.show_cell(cell_id):
            return False
        self._page.set_layout(FOCUS)
        self.focus.setFocus()  # also when Focus was already the layout shown
        return True

    def compare_row(self, row: int) -> bool:
        """Show input ``row`` in Row compare; ``False`` for a row the run does not have."""
        if not self.row_compare.show_row(row):
            return False
        self._page.set_layout(ROW_COMPARE)
        self.row_compare.setFocus()
        return True

    def diff_cells(self, a: str, b: str) -> bool:
        """Show cells ``a`` and ``b`` in the Diff page; ``False`` for unknown cells."""
        if not self.diff.show_cells(a, b):
            return False
        self.diff_action.setEnabled(True)
        self._page.set_layout(DIFF)
        self.diff.setFocus()
        return True

    def diff_with(self, cell_id: str) -> None:
        """ "Diff with…" on ``cell_id``: diff it against the other selected cell, or select it
        and diff as soon as a second cell is selected."""
        others = [other for other in self._selection if other != cell_id]
        if others:
            self.diff_cells(others[-1], cell_id)
            return
        self._diff_with = cell_id
        grid = self._page.grid
        if cell_id not in grid.selection():
            grid.toggle_selected(cell_id)
        QToolTip.showText(QCursor.pos(), "Diff with…: Ctrl+click the second cell", self._page.stack)

    def back(self) -> None:
        """Back to the layout shown before this one (an overview when there is none)."""
        current = self._page.current_layout()
        while self._history:
            name = self._history.pop()
            if name != current:
                break
        else:
            name = "tiles" if current != "tiles" else "grid"
        self._going_back = True
        try:
            self._page.set_layout(name)
        finally:
            self._going_back = False
        focused = self.focus.cell_id()
        if name == "grid" and focused is not None:
            self._page.grid.scroll_to_cell(focused)  # where the reader's eyes were

    # --------------------------------------------------------------------------- internals

    def messages_of(self, cell_id: str) -> list[tuple[str, str]]:
        """The messages ``cell_id`` sent (its input row filled into the shown run's spec)."""
        return self._spec.messages(cell_id) if self._spec is not None else []

    # ------------------------------------------------------------------------------ slots

    def _on_page_layout_changed(self, name: str) -> None:
        previous, self._current = self._current, name
        if previous and not self._going_back:
            self._history = [*self._history, previous][-_HISTORY:]
        page = {FOCUS: self.focus, ROW_COMPARE: self.row_compare, DIFF: self.diff}.get(name)
        if page is not None:
            page.setFocus()  # from the toolbar too, its keys (arrows, Esc) work at once
        store = self._page.store
        if store.is_empty():
            return
        # Opened from the toolbar or the View menu rather than from a cell: show something.
        if name == FOCUS and self.focus.cell_id() is None:
            self.focus.show_cell(store.cell_id(0, 0))
        elif name == DIFF and self.diff.cells() is None and len(self._selection) == 2:
            self.diff.show_cells(*self._selection)

    def _on_focus_cell_shown(self, cell_id: str) -> None:
        # The overview follows the moves made in Focus: back there, the same cell is current.
        self._page.tiles.set_current_cell(cell_id)

    def _on_page_cell_activated(self, cell_id: str) -> None:
        self.focus_cell(cell_id)

    def _on_page_selection_changed(self, selection: list[str]) -> None:
        self._selection = list(selection)
        pair = len(selection) == 2
        self.diff_action.setEnabled(pair or self.diff.cells() is not None)
        if not pair:
            return
        first = self._diff_with
        self._diff_with = None
        if first in selection:
            other = next(cell_id for cell_id in selection if cell_id != first)
            self.diff_cells(first, other)  # the reader asked for this diff: show it
        else:
            # Chosen now, shown when the reader asks (the Diff action): no jump mid-click.
            self.diff.show_cells(selection[0], selection[1])

    def _on_store_shape_changed(self) -> None:
        self._selection, self._diff_with = [], None
        store, current = self._page.store, self._page.current_layout()
        if current in _DETAILS and store.is_empty():
            self.back()  # "Close" on a past run: nothing left to look at closely
        elif current == FOCUS and self.focus.cell_id() is None and not store.is_empty():
            self.focus.show_cell(store.cell_id(0, 0))  # a run started in Focus shows a cell
        self.diff_action.setEnabled(self.diff.cells() is not None)
