"""The Batches tab: every batch of every batch run, open ones first, with its state, request
counts and progress, and the actions a batch run needs (cancel it, open its results, retry
its failed and expired cells live or as a new batch).

It shows what it is given (:meth:`BatchesView.set_records` at start, :meth:`update_record`
as batches are polled and ingested, :meth:`set_progress` as cells land) and asks for the
rest through its signals; the window's batch controller (``gui.qt.batch_commands``) does the
work. One row per batch (one request file), so a run split in several files shows each.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.core.batch import BatchRecord

__all__ = ["BatchesView"]

_HEADERS = (
    "Run",
    "File",
    "Model",
    "Batch",
    "State",
    "Done",
    "Failed",
    "Total",
    "Progress",
    "Updated",
)


class BatchesView(QWidget):
    """The list of batches.

    Signals:
        cancel_requested(str): the user asked to cancel the selected row's run.
        open_requested(str): the user asked to show the selected row's run in the grid.
        retry_requested(str): the user asked to run the selected run's failed and expired
            cells again, live, into the same run.
        retry_batch_requested(str): the user asked to send the selected run's failed and
            expired cells again as a new batch of the same run.
    """

    cancel_requested = Signal(str)
    open_requested = Signal(str)
    retry_requested = Signal(str)
    retry_batch_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: dict[tuple[str, int], int] = {}
        self._records: dict[tuple[str, int], BatchRecord] = {}
        self._models: dict[str, list[str]] = {}
        self._ingested: dict[str, tuple[int, int]] = {}
        self._build_ui()

    def _build_ui(self) -> None:
        layout = QVBoxLayout(self)
        self.summary = QLabel("No batch runs yet: choose the Batch API executor, then Run.")
        self.summary.setObjectName("batchesSummary")
        layout.addWidget(self.summary)
        self.table = QTableWidget(0, len(_HEADERS))
        self.table.setHorizontalHeaderLabels(list(_HEADERS))
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.table)
        buttons = QHBoxLayout()
        self.open_button = QPushButton("Open results")
        self.open_button.setToolTip(
            "Show the selected batch run's cells in the grid (once ingested)"
        )
        self.cancel_button = QPushButton("Cancel run's batches")
        self.cancel_button.setToolTip(
            "Ask the provider to cancel the selected run's open batches; requests not run end cancelled"
        )
        self.retry_button = QPushButton("Retry failed live")
        self.retry_button.setToolTip(
            "Run the selected run's failed and expired cells again, live, into the same run"
        )
        self.retry_batch_button = QPushButton("Retry failed as batch")
        self.retry_batch_button.setToolTip(
            "Send the selected run's failed and expired cells again as a new batch of the same "
            "run (batch price; the results land in that run)"
        )
        for button in (
            self.open_button,
            self.retry_button,
            self.retry_batch_button,
            self.cancel_button,
        ):
            button.setEnabled(False)
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.table.itemSelectionChanged.connect(self._on_table_selection_changed)
        self.open_button.clicked.connect(self._on_open_clicked)
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.retry_button.clicked.connect(self._on_retry_clicked)
        self.retry_batch_button.clicked.connect(self._on_retry_batch_clicked)

    # ---------------------------------------------------------------- what it shows

    def set_models(self, run_id: str, names: Iterable[str]) -> None:
        """The column titles of a run (the Model column names each file's model)."""
        self._models[run_id] = list(names)

    def set_records(self, records: Iterable[BatchRecord]) -> None:
        """Show these batches (the history's, at start), open ones first."""
        ordered = sorted(records, key=lambda r: (not r.open, -r.created_at, r.run_id, r.file_index))
        self.table.setRowCount(0)
        self._rows.clear()
        self._records.clear()
        for record in ordered:
            self.update_record(record)

    def update_record(self, record: BatchRecord) -> None:
        """Show one batch as it is now (a new one is added at the top)."""
        key = (record.run_id, record.file_index)
        self._records[key] = record
        row = self._rows.get(key)
        if row is None:
            self.table.insertRow(0)
            self._rows = {k: r + 1 for k, r in self._rows.items()}
            row = self._rows[key] = 0
        models = self._models.get(record.run_id, [])
        model = models[record.col] if record.col < len(models) else f"column {record.col + 1}"
        total = record.total or record.rows
        values = (
            record.run_id,
            str(record.file_index),
            model,
            record.batch_id,
            str(record.state) + ("" if record.open else " · ingested"),
            str(record.completed),
            str(record.failed),
            str(total),
            None,
            time.strftime("%H:%M:%S", time.localtime(record.updated_at or record.created_at)),
        )
        for col, value in enumerate(values):
            if value is None:
                continue
            item = self.table.item(row, col)
            if item is None:
                item = QTableWidgetItem()
                self.table.setItem(row, col, item)
            item.setText(value)
        bar = self.table.cellWidget(row, 8)
        if not isinstance(bar, QProgressBar):
            bar = QProgressBar()
            bar.setTextVisible(True)
            self.table.setCellWidget(row, 8, bar)
        bar.setRange(0, max(total, 1))
        bar.setValue(min(total, record.completed + record.failed) if record.open else total)
        self._update_summary()
        self._on_table_selection_changed()  # the selected run may have just closed

    def set_progress(self, run_id: str, ended: int, total: int) -> None:
        """A run's cells ingested so far (the summary line says it)."""
        self._ingested[run_id] = (ended, total)
        self._update_summary()

    def record(self, run_id: str, file_index: int) -> BatchRecord | None:
        """The batch as shown, or ``None``."""
        return self._records.get((run_id, file_index))

    def selected_run(self) -> str | None:
        """The run of the selected row, or ``None``."""
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        item = self.table.item(rows[0].row(), 0)
        return item.text() if item is not None else None

    # ---------------------------------------------------------------- internals

    def _update_summary(self) -> None:
        open_runs = {r.run_id for r in self._records.values() if r.open}
        if not self._records:
            return
        n = len(open_runs)
        parts = [
            f"{n} batch run{'s' if n != 1 else ''} open"
            if n
            else f"No batch run open ({len(self._records)} batches listed)"
        ]
        for run_id, (ended, total) in sorted(self._ingested.items()):
            if run_id in open_runs and ended:
                parts.append(f"{run_id}: {ended:,} / {total:,} cells in")
        self.summary.setText(" · ".join(parts))

    def _on_table_selection_changed(self) -> None:
        run_id = self.selected_run()
        open_run = run_id is not None and any(
            r.open and r.run_id == run_id for r in self._records.values()
        )
        self.open_button.setEnabled(run_id is not None and not open_run)
        self.retry_button.setEnabled(run_id is not None and not open_run)
        self.retry_batch_button.setEnabled(run_id is not None and not open_run)
        self.cancel_button.setEnabled(open_run)

    def _on_open_clicked(self) -> None:
        run_id = self.selected_run()
        if run_id is not None:
            self.open_requested.emit(run_id)

    def _on_retry_clicked(self) -> None:
        run_id = self.selected_run()
        if run_id is not None:
            self.retry_requested.emit(run_id)

    def _on_retry_batch_clicked(self) -> None:
        run_id = self.selected_run()
        if run_id is not None:
            self.retry_batch_requested.emit(run_id)

    def _on_cancel_clicked(self) -> None:
        run_id = self.selected_run()
        if run_id is not None:
            self.cancel_requested.emit(run_id)
