"""The price table in the Profiles dock: the user's prices, editable, over the starter table.

The user's rows (model, optional server, dollars per 1M input and output tokens) are
editable; the dated starter prices follow, read-only: a row of the user's for the same model
wins over them. Save checks every row (a model name, prices of 0 or more) and refuses with
the row and the fix, then writes ``prices.json`` through the price service; new runs use
the table from then on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.core.errors import SpecError
from gui.core.pricing import STARTER_PRICES, STARTER_PRICES_DATE, Price, PriceEntry
from gui.core.tasks import TaskOwner

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gui.qt.services import PriceService

__all__ = ["PricesEditor"]

_COLUMNS = ("Model", "Server", "In $/1M", "Out $/1M")


class PricesEditor(QWidget):
    """The price table, edited inline.

    Args:
        prices: The price service (reads and writes ``prices.json``).
        parent: The Qt parent.

    Signals:
        prices_saved(tuple[PriceEntry, ...]): the user's entries were saved.
    """

    prices_saved = Signal(object)

    def __init__(self, prices: PriceService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._prices = prices
        self._tasks = TaskOwner()
        self._user_rows = 0
        self._build_ui()
        self.set_entries(prices.user_entries())

    def _build_ui(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(6, 6, 6, 6)
        title = QLabel("Prices (USD per 1M tokens)", self)
        font = title.font()
        font.setBold(True)
        title.setFont(font)
        root.addWidget(title)
        note = QLabel(
            f"Your rows win over the starter prices (OpenAI's list of {STARTER_PRICES_DATE}: "
            "check them). Local servers and the simulated model cost 0; a model with no "
            "row has no price.",
            self,
        )
        note.setWordWrap(True)
        note.setEnabled(False)  # muted
        root.addWidget(note)
        self.table = QTableWidget(0, len(_COLUMNS), self)
        self.table.setObjectName("pricesTable")
        self.table.setHorizontalHeaderLabels(list(_COLUMNS))
        self.table.horizontalHeaderItem(1).setToolTip(  # type: ignore[union-attr]
            "The base URL the price applies to; blank: the model on any server"
        )
        header = self.table.horizontalHeader()
        # The model name takes the room left; the server and the prices fit their text.
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, len(_COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setVisible(False)
        root.addWidget(self.table, 1)
        buttons = QHBoxLayout()
        self.add_button = QPushButton("Add", self)
        self.add_button.setToolTip("A new price row (or one that overrides a starter price)")
        self.add_button.clicked.connect(self._on_add_button_clicked)
        self.remove_button = QPushButton("Remove", self)
        self.remove_button.clicked.connect(self._on_remove_button_clicked)
        self.save_button = QPushButton("Save prices", self)
        self.save_button.setObjectName("savePricesButton")
        self.save_button.clicked.connect(self._on_save_button_clicked)
        for b in (self.add_button, self.remove_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        root.addLayout(buttons)
        self.issue = QLabel("", self)
        self.issue.setObjectName("pricesIssue")
        self.issue.setWordWrap(True)
        root.addWidget(self.issue)

    # ------------------------------------------------------------------ content

    def set_entries(self, entries: Sequence[PriceEntry]) -> None:
        """Show the user's ``entries``, then the starter prices (read-only)."""
        self.table.setRowCount(0)
        self._user_rows = 0
        for entry in entries:
            self._insert_user_row(entry)
        for entry in STARTER_PRICES:
            row = self.table.rowCount()
            self.table.insertRow(row)
            values = (
                entry.model,
                "starter",
                f"{entry.price.input_per_m:g}",
                f"{entry.price.output_per_m:g}",
            )
            for col, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                item.setForeground(self.palette().placeholderText())
                self.table.setItem(row, col, item)
        self.issue.setText("")

    def _insert_user_row(self, entry: PriceEntry | None) -> int:
        row = self._user_rows
        self.table.insertRow(row)
        values = ("", "", "", "")
        if entry is not None:
            values = (
                entry.model,
                entry.base_url or "",
                f"{entry.price.input_per_m:g}",
                f"{entry.price.output_per_m:g}",
            )
        for col, text in enumerate(values):
            self.table.setItem(row, col, QTableWidgetItem(text))
        self._user_rows += 1
        return row

    def entries(self) -> tuple[PriceEntry, ...]:
        """The user's rows as entries (empty rows skipped).

        Raises:
            SpecError: a row without a model, or with a price that is not 0 or more (the
                message names the row and the fix).
        """
        out: list[PriceEntry] = []
        for row in range(self._user_rows):
            texts = [self._text(row, col) for col in range(len(_COLUMNS))]
            if not any(texts):
                continue
            model, server, inp, outp = texts
            where = f"Price row {row + 1}"
            if not model:
                raise SpecError(f"{where} has no model: give the model name, e.g. gpt-4o-mini.")
            try:
                price = Price(float(inp or "nan"), float(outp or "nan"))
            except ValueError:
                raise SpecError(
                    f"{where} ({model}): a price is not a number; give dollars per 1M tokens."
                ) from None
            entry = PriceEntry(model, price, server or None)
            try:
                entry.validate()
            except SpecError as exc:
                raise SpecError(f"{where} ({model}): {exc}") from None
            out.append(entry)
        return tuple(out)

    def _text(self, row: int, col: int) -> str:
        item = self.table.item(row, col)
        return item.text().strip() if item is not None else ""

    # ------------------------------------------------------------------ slots

    def _on_add_button_clicked(self) -> None:
        row = self._insert_user_row(None)
        self.table.setCurrentCell(row, 0)
        item = self.table.item(row, 0)
        if item is not None:
            self.table.editItem(item)

    def _on_remove_button_clicked(self) -> None:
        row = self.table.currentRow()
        if 0 <= row < self._user_rows:
            self.table.removeRow(row)
            self._user_rows -= 1

    def _on_save_button_clicked(self) -> None:
        try:
            entries = self.entries()
        except SpecError as exc:
            self.issue.setText(str(exc))
            return
        self._tasks.spawn(self._save(entries), "fanout-save-prices", group="save", exclusive=True)

    async def _save(self, entries: tuple[PriceEntry, ...]) -> None:
        self.save_button.setEnabled(False)
        try:
            await self._prices.save(entries)
        except OSError as exc:
            self.issue.setText(f"Prices not saved: {exc.strerror or exc}. Check the data folder.")
            return
        finally:
            self.save_button.setEnabled(True)
        self.issue.setText(f"Saved {len(entries)} price row(s); new runs use them.")
        self.prices_saved.emit(entries)
