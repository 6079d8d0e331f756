"""The Table layout: a structured run as a table, one line per cell, one column per JSON field.

Each line is a cell (input, model, its schema mark) followed by the top-level fields of its
answer, in the order they first appear in the run; a nested value shows as one line of JSON
(Focus has the tree). A line is filled once, when its cell's metrics arrive (the cell ended),
never per token; while the layout is hidden it only notes that it is behind, and catches up
when shown, so a hidden Table costs nothing per frame. A free-text run shows its cells with
empty field columns and says so.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QShowEvent, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QAbstractItemView, QLabel, QTableView, QVBoxLayout, QWidget

from gui.core.structured import field_text, parsed_answer, schema_mark
from gui.qt.widgets.cell_store import CellStore, Change

__all__ = ["FieldTable"]

#: The fixed columns before the fields.
FIXED_COLUMNS = ("Input", "Model", "Schema")

_EMPTY_HINT = "Turn on structured output (the Schema page) to see each answer's fields here."


class FieldTable(QWidget):
    """Every cell of the shown run with its answer's fields as columns.

    Signals:
        cell_activated(str): a line was double-clicked or Enter pressed on it (focus it).
    """

    cell_activated = Signal(str)

    def __init__(self, store: CellStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._rows: dict[str, int] = {}
        self._fields: list[str] = []
        self._stale = True
        self._build_ui()
        store.shape_changed.connect(self._on_store_shape_changed)
        store.cell_changed.connect(self._on_store_cell_changed)
        store.cells_changed.connect(self._on_store_cells_changed)

    def _build_ui(self) -> None:
        self.setObjectName("fieldTable")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        self._hint = QLabel(_EMPTY_HINT, self)
        self._hint.setObjectName("fieldTableHint")
        self._hint.setWordWrap(True)
        self._hint.setEnabled(False)
        layout.addWidget(self._hint)
        self._model = QStandardItemModel(0, len(FIXED_COLUMNS), self)
        self._model.setHorizontalHeaderLabels(list(FIXED_COLUMNS))
        self._view = QTableView(self)
        self._view.setObjectName("fieldTableView")
        self._view.setModel(self._model)
        self._view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self._view.setSortingEnabled(False)
        self._view.setWordWrap(False)
        self._view.horizontalHeader().setStretchLastSection(True)
        self._view.verticalHeader().setVisible(False)
        self._view.doubleClicked.connect(self._on_view_double_clicked)
        self._view.activated.connect(self._on_view_double_clicked)
        layout.addWidget(self._view, 1)

    # -- public API ----------------------------------------------------------------------

    def fields(self) -> list[str]:
        """The field columns shown, in order."""
        return list(self._fields)

    def row_values(self, cell_id: str) -> list[str]:
        """What the line of ``cell_id`` shows, every column (tests read it)."""
        self._catch_up()
        row = self._rows.get(cell_id)
        if row is None:
            return []
        return [
            str(self._model.index(row, c).data() or "") for c in range(self._model.columnCount())
        ]

    # -- filling -------------------------------------------------------------------------

    def _catch_up(self) -> None:
        if self._stale:
            self._rebuild()

    def _rebuild(self) -> None:
        self._stale = False
        store = self._store
        self._model.removeRows(0, self._model.rowCount())
        self._model.setColumnCount(len(FIXED_COLUMNS))
        self._fields = []
        self._rows = {}
        for row in range(store.row_count()):
            for col in range(store.column_count()):
                cell_id = store.cell_id(row, col)
                self._rows[cell_id] = self._model.rowCount()
                line = [
                    QStandardItem(" ".join(store.row_label(row).split())),
                    QStandardItem(store.column_label(col)),
                    QStandardItem(""),
                ]
                line[0].setData(cell_id, Qt.ItemDataRole.UserRole)
                self._model.appendRow(line)
        for cell_id in self._rows:
            self._fill(cell_id)
        self._view.resizeColumnsToContents()
        self._update_hint()

    def _fill(self, cell_id: str) -> None:
        """One line from its cell's answer: the mark and the fields (new ones add columns)."""
        state = self._store.peek(cell_id)
        row = self._rows.get(cell_id)
        if state is None or row is None or state.metrics is None:
            return
        mark = schema_mark(state.metrics.schema_valid)
        if mark is None:
            return
        self._model.setItem(row, 2, _item(mark, state.metrics.schema_error or ""))
        self._view.setColumnHidden(2, False)
        ok, value = parsed_answer(state.source())
        if not ok or not isinstance(value, dict):
            return
        for name in value:
            if str(name) not in self._fields:
                self._fields.append(str(name))
                self._model.setColumnCount(len(FIXED_COLUMNS) + len(self._fields))
                column = len(FIXED_COLUMNS) + len(self._fields) - 1
                self._model.setHorizontalHeaderItem(column, QStandardItem(str(name)))
        for i, name in enumerate(self._fields):
            text = field_text(value, name)
            self._model.setItem(row, len(FIXED_COLUMNS) + i, _item(text, text))

    def _update_hint(self) -> None:
        structured = any(
            (s := self._store.peek(c)) is not None
            and s.metrics is not None
            and s.metrics.schema_valid is not None
            for c in self._rows
        )
        self._hint.setVisible(not structured)
        # A free-text run has no verdicts: an empty "Schema" column beside the hint read as
        # answers that failed to show.
        self._view.setColumnHidden(2, not structured)

    # -- store changes -------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._catch_up()

    def _on_store_shape_changed(self) -> None:
        self._stale = True
        if self.isVisible():
            self._rebuild()

    def _on_store_cell_changed(self, cell_id: str, change: int) -> None:
        if self._stale or not change & (Change.METRICS | Change.RESET):
            return
        if not self.isVisible():
            self._stale = True
            return
        self._fill(cell_id)
        if self._fields:
            self._hint.hide()

    def _on_store_cells_changed(self, changes: dict[str, int]) -> None:
        for cell_id, change in changes.items():
            self._on_store_cell_changed(cell_id, change)

    def _on_view_double_clicked(self, index: QModelIndex) -> None:
        cell_id = self._model.index(index.row(), 0).data(Qt.ItemDataRole.UserRole)
        if isinstance(cell_id, str):
            self.cell_activated.emit(cell_id)


def _item(text: str, tooltip: Any) -> QStandardItem:
    item = QStandardItem(text)
    if tooltip:
        item.setToolTip(str(tooltip))
    return item
