"""The inputs table: one row per input, one column per template variable.

Rows live in a small :class:`QAbstractTableModel` (a list of lists of strings) so that pasting
or importing 10,000 rows is one ``beginInsertRows``/``endInsertRows`` and the view only paints
what is visible. Text is parsed by :mod:`gui.core.inputs`, the same code the CLI uses.

Column policy (what :meth:`InputsTable.set_variables` does when the template changes):

* Columns follow the template's variables, in template order, and data is kept by column name.
* Renaming: when the number of variables stays the same, a variable whose name changed at the
  same position takes over the old column's data ({topic} -> {subject} keeps the topics), unless
  the new name already has a column. Typing a new name letter by letter therefore carries the
  data along, since the prompt editor keeps the last valid parse while a brace is half typed.
* A column that leaves the template but still holds data stays as an extra column flagged
  *unused* (grey header, a warning with a "Remove" link); empty ones disappear. Imported
  columns that match no variable are kept the same way.

Import reads small files synchronously and files of :attr:`InputsTable.SYNC_IMPORT_LIMIT` bytes or
more with ``asyncio.to_thread`` in a named task owned by the widget (newest import wins). The
file dialog is shown with ``QFileDialog.open()`` (window-modal, no nested event loop) and
answers through ``fileSelected``: ``getOpenFileName`` and ``exec()`` would spin a nested loop
that starves the qasync loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelection,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QAction, QFont, QGuiApplication, QKeyEvent, QKeySequence, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gui.core.errors import SpecError, TemplateError, one_line
from gui.core.inputs import MAX_INPUT_ROWS, load_rows_file, rows_from_lines
from gui.core.spec import ModelProfile, make_spec
from gui.core.tasks import TaskOwner
from gui.core.templates import suggest_name
from gui.qt.resources import icon
from gui.qt.views.prompt_editor import IssueLabel, Severity
from gui.qt.widgets.flow_layout import FlowBar

__all__ = ["NO_VARIABLES_NOTE", "InputsTable"]

#: Shown instead of a usable table when the template has no variables.
NO_VARIABLES_NOTE = "This prompt has no {variables}: it runs once per model"

#: Name filters of the import dialog.
IMPORT_FILTERS = "Inputs (*.csv *.tsv *.jsonl *.ndjson *.json);;All files (*)"

_Index = QModelIndex | QPersistentModelIndex


class _RowsModel(QAbstractTableModel):
    """Rows as lists of strings aligned with ``columns``; some columns are flagged unused.

    Bulk changes go through the Python methods below, each one model notification; ``setData``
    (an edit in the view) additionally emits :attr:`cells_edited` so the owner can react to
    edits without reacting to its own bulk changes twice.
    """

    cells_edited = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.columns: list[str] = []
        self.used: frozenset[str] = frozenset()
        self.rows: list[list[str]] = []

    # -- Qt model interface -----------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 (Qt signature)
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 (Qt signature)
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        value = self.rows[index.row()][index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            # Values from JSON Lines may hold newlines; a row shows them as one line.
            return value.replace("\n", " ⏎ ") if "\n" in value else value
        if role == Qt.ItemDataRole.EditRole:
            return value
        if role == Qt.ItemDataRole.ToolTipRole and (len(value) > 60 or "\n" in value):
            return value
        if role == Qt.ItemDataRole.ForegroundRole and not self._is_used(index.column()):
            return QGuiApplication.palette().color(QPalette.ColorRole.PlaceholderText)
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Vertical:
            return section + 1 if role == Qt.ItemDataRole.DisplayRole else None
        if not 0 <= section < len(self.columns):
            return None
        name = self.columns[section]
        used = self._is_used(section)
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{{{name}}}" if used else f"{name} (unused)"
        if role == Qt.ItemDataRole.ToolTipRole:
            if used:
                return f"Fills {{{name}}} in the template"
            return f"Not in the template, so not sent. Add {{{name}}} to the prompt to use it."
        if role == Qt.ItemDataRole.FontRole and not used:
            font = QFont()
            font.setItalic(True)
            return font
        if role == Qt.ItemDataRole.ForegroundRole and not used:
            return QGuiApplication.palette().color(QPalette.ColorRole.PlaceholderText)
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        base = super().flags(index)
        return base | Qt.ItemFlag.ItemIsEditable if index.isValid() else base

    def setData(self, index: _Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or not index.isValid():
            return False
        text = "" if value is None else str(value)
        row = self.rows[index.row()]
        if row[index.column()] != text:
            row[index.column()] = text
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DisplayRole])
            self.cells_edited.emit()
        return True

    # -- bulk changes -----------------------------------------------------------------------

    def reset(self, columns: list[str], used: Iterable[str], rows: list[list[str]]) -> None:
        """Replace everything (columns change rarely, so a reset is cheap enough)."""
        self.beginResetModel()
        self.columns = columns
        self.used = frozenset(used)
        self.rows = rows
        self.endResetModel()

    def append(self, rows: list[list[str]]) -> None:
        """Append rows (each already aligned with ``columns``) in one notification."""
        if not rows:
            return
        first = len(self.rows)
        self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
        self.rows.extend(rows)
        self.endInsertRows()

    def remove(self, indices: Iterable[int]) -> None:
        """Remove the rows at ``indices``, one notification per contiguous range."""
        doomed = sorted(set(indices), reverse=True)
        if not doomed:
            return
        ranges: list[tuple[int, int]] = []  # (first, last), bottom-up
        for i in doomed:
            if ranges and ranges[-1][0] == i + 1:
                ranges[-1] = (i, ranges[-1][1])
            else:
                ranges.append((i, i))
        if len(ranges) > 64:  # a scattered selection: one reset beats many notifications
            keep = set(doomed)
            self.reset(
                self.columns, self.used, [r for i, r in enumerate(self.rows) if i not in keep]
            )
            return
        for first, last in ranges:
            self.beginRemoveRows(QModelIndex(), first, last)
            del self.rows[first : last + 1]
            self.endRemoveRows()

    def set_cells(self, row: int, column: int, values: Sequence[str]) -> None:
        """Overwrite cells of ``row`` from ``column`` on (values beyond the last column drop)."""
        cells = self.rows[row]
        last = min(len(cells), column + len(values)) - 1
        if last < column:
            return
        cells[column : last + 1] = values[: last - column + 1]
        self.dataChanged.emit(self.index(row, column), self.index(row, last))

    def clear_cells(self, cells: Iterable[tuple[int, int]]) -> None:
        """Blank the (row, column) cells, one notification for their bounding box."""
        cells = list(cells)
        if not cells:
            return
        for row, column in cells:
            self.rows[row][column] = ""
        rows = [r for r, _ in cells]
        columns = [c for _, c in cells]
        self.dataChanged.emit(
            self.index(min(rows), min(columns)), self.index(max(rows), max(columns))
        )

    def trim_trailing_blank(self) -> None:
        """Drop empty rows at the end, so appended rows follow the last real one."""
        end = len(self.rows)
        while end and not any(v.strip() for v in self.rows[end - 1]):
            end -= 1
        if end < len(self.rows):
            self.remove(range(end, len(self.rows)))

    def column_has_data(self, name: str) -> bool:
        """Whether any row has a non-blank value in column ``name``."""
        if name not in self.columns:
            return False
        c = self.columns.index(name)
        return any(row[c].strip() for row in self.rows)

    def _is_used(self, column: int) -> bool:
        return self.columns[column] in self.used


class _InputsView(QTableView):
    """Table view that hands Ctrl+V to its owner and clears selected cells on Delete."""

    paste_requested = Signal()
    clear_cells_requested = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.matches(QKeySequence.StandardKey.Paste):
            event.accept()
            self.paste_requested.emit()
            return
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and not event.modifiers():
            event.accept()
            self.clear_cells_requested.emit()
            return
        super().keyPressEvent(event)


class InputsTable(QWidget):
    """Editable input rows whose columns follow the template's variables.

    Signals:
        rows_changed: The rows changed (one emission per user action or API call).
        columns_changed(list): The columns changed; carries ``list[str]`` (see :meth:`columns`).
    """

    rows_changed = Signal()
    columns_changed = Signal(list)

    #: Files at least this large are read off the GUI thread (when an asyncio loop runs).
    SYNC_IMPORT_LIMIT = 1_000_000

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._variables: list[str] = []
        self._notice: tuple[str, Severity] | None = None  # (message, severity) of the last action
        self._dialog: QFileDialog | None = None
        self._import_task: asyncio.Task[None] | None = None
        # What Clear removed (columns, rows), until the next change: Ctrl+Z brings it back.
        self._cleared: tuple[list[str], list[list[str]]] | None = None
        self._tasks = TaskOwner()
        self._model = _RowsModel(self)
        # What spec_rows() read last, until the table changes: the paste's issue check, Run
        # and the cost estimate each read 10,000 rows in turn between two edits. Every change
        # of the rows goes through the model, which says so with one of these signals.
        self._read: tuple[tuple[object, ...], tuple[Mapping[str, str], ...]] | None = None
        for changed in (
            self._model.modelReset,
            self._model.rowsInserted,
            self._model.rowsRemoved,
            self._model.rowsMoved,
            self._model.columnsInserted,
            self._model.columnsRemoved,
            self._model.dataChanged,
            self._model.layoutChanged,
        ):
            changed.connect(self._on_model_changed)
        self._build_ui()
        self._refresh()

    def _build_ui(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)

        # A flow, not a box: in a narrow panel the buttons wrap onto a second line instead
        # of being squeezed until they read "A...w" or pushed out of sight.
        bar = FlowBar(self, spacing=2)
        bar.setObjectName("inputsButtons")
        self._add_button = self._tool_button("addRowButton", "Add row", "add", "Add an empty row")
        self._remove_button = self._tool_button(
            "removeRowsButton", "Remove", "remove", "Remove the selected rows"
        )
        self._paste_button = self._tool_button(
            "pasteLinesButton",
            "Paste lines",
            "paste",
            "One row per non-empty line of the clipboard; tabs separate columns",
        )
        self._import_button = self._tool_button(
            "importButton", "Import…", "import", "Add rows from a CSV or JSON Lines file"
        )
        self._clear_button = self._tool_button("clearButton", "Clear", "clear", "Remove all rows")
        for button in (
            self._add_button,
            self._remove_button,
            self._paste_button,
            self._import_button,
            self._clear_button,
        ):
            bar.addWidget(button)
        self._count_label = QLabel(self)
        self._count_label.setObjectName("inputsCount")
        bar.addWidget(self._count_label)
        layout.addWidget(bar)

        self._add_button.clicked.connect(self._on_add_button_clicked)
        self._remove_button.clicked.connect(self._on_remove_button_clicked)
        self._paste_button.clicked.connect(self._on_paste_button_clicked)
        self._import_button.clicked.connect(self._on_import_button_clicked)
        self._clear_button.clicked.connect(self._on_clear_button_clicked)

        self._note = QLabel(NO_VARIABLES_NOTE, self)
        self._note.setObjectName("inputsNote")
        self._note.setWordWrap(True)
        self._note.setTextFormat(Qt.TextFormat.PlainText)
        # Shown only while the table is hidden: it takes the table's room, text at the top.
        self._note.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self._note.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        layout.addWidget(self._note)

        self._view = _InputsView(self)
        self._view.setObjectName("inputsView")
        self._view.setAccessibleName("Inputs")
        self._view.setModel(self._model)
        self._view.setAlternatingRowColors(True)
        self._view.setWordWrap(False)
        self._view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        self._view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self._view.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
            | QAbstractItemView.EditTrigger.AnyKeyPressed
        )
        header = self._view.horizontalHeader()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        # Fixed row heights: with 10,000 rows the view never measures rows it does not paint.
        self._view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self._view.paste_requested.connect(self._on_view_paste_requested)
        self._view.clear_cells_requested.connect(self._on_view_clear_cells_requested)
        self._view.selectionModel().selectionChanged.connect(self._on_view_selection_changed)
        self._model.cells_edited.connect(self._on_model_cells_edited)
        layout.addWidget(self._view, 1)

        self._issue = IssueLabel(self)
        self._issue.linkActivated.connect(self._on_issue_link_activated)
        layout.addWidget(self._issue)

        # Ctrl+Z anywhere in the panel; an open cell editor keeps Ctrl+Z for its own text.
        self._undo_action = QAction("Undo Clear", self)
        self._undo_action.setObjectName("undoClearAction")
        self._undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self._undo_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self._undo_action.setEnabled(False)
        self._undo_action.triggered.connect(self._on_undo_action_triggered)
        self.addAction(self._undo_action)

    def _tool_button(self, name: str, text: str, icon_name: str, tip: str) -> QToolButton:
        button = QToolButton(self)
        button.setObjectName(name)
        button.setText(text)
        button.setIcon(icon(icon_name))
        button.setToolTip(tip)
        button.setAutoRaise(True)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        return button

    # -- public API -------------------------------------------------------------------------

    @property
    def view(self) -> QTableView:
        """The table view (for focus handling and tests)."""
        return self._view

    @property
    def issue_label(self) -> IssueLabel:
        """The inline issue line under the table."""
        return self._issue

    @property
    def note_label(self) -> QLabel:
        """The note shown when the template has no variables."""
        return self._note

    @property
    def count_label(self) -> QLabel:
        """The "3 inputs" label."""
        return self._count_label

    def variables(self) -> list[str]:
        """The template variables the columns follow."""
        return list(self._variables)

    def columns(self) -> list[str]:
        """All columns: the template's variables in order, then unused columns that hold data."""
        return list(self._model.columns)

    def unused_columns(self) -> list[str]:
        """Columns kept for their data although the template does not use them."""
        return [c for c in self._model.columns if c not in self._variables]

    def rows(self, include_unused: bool = False) -> list[dict[str, str]]:
        """The input rows: values stripped, rows whose used cells are all blank left out.

        Keys are the template's variables (every row has every one, ``""`` when blank);
        ``include_unused`` adds the unused columns. Without variables there is nothing to fill
        and the result is ``[]`` (:func:`gui.core.spec.make_spec` then runs once per model).
        """
        return [dict(row) for row in self.spec_rows(include_unused)]

    def spec_rows(self, include_unused: bool = False) -> tuple[Mapping[str, str], ...]:
        """:meth:`rows` read once until the table changes, for a caller that copies what it
        keeps (:func:`gui.core.spec.make_spec` does): the same rows, shared, not to be
        changed."""
        key = (include_unused, tuple(self._variables), tuple(self._model.columns))
        if self._read is None or self._read[0] != key:
            self._read = (key, tuple(self._read_rows(include_unused)))
        return self._read[1]

    def _on_model_changed(self, *_args: object) -> None:
        self._read = None

    def _read_rows(self, include_unused: bool) -> list[dict[str, str]]:
        names = self._model.columns if include_unused else self._variables
        if not names:
            return []
        out = self._rows_with_data(names, self._variables or names)
        if not out and not include_unused and self.unused_columns():
            # Nothing fills the template but other columns hold data (a file whose column
            # is named differently): hand those rows over with every column, so that the
            # run is refused with "column 'topc' is empty ... did you mean {topic}?" rather
            # than "no inputs". Such rows can never run: every variable is blank in them.
            out = self._rows_with_data(self._model.columns, self._model.columns)
        return out

    def _rows_with_data(
        self, names: Sequence[str], deciding: Sequence[str]
    ) -> list[dict[str, str]]:
        """``names`` of every row in which some ``deciding`` column is not blank, stripped."""
        columns = self._model.columns
        positions = [columns.index(n) for n in names]
        out: list[dict[str, str]] = []
        if len(names) == 1 and list(deciding) == list(names):
            # One variable (the usual case), at 10,000 rows on the press of Run: no list
            # and no zip per row.
            (name,), (position,) = names, positions
            stripped = (row[position].strip() for row in self._model.rows)
            return [{name: value} for value in stripped if value]
        if list(deciding) == list(names[: len(deciding)]):  # variables come first: one pass
            count = len(deciding)
            for row in self._model.rows:
                values = [row[p].strip() for p in positions]
                if any(values[:count]):
                    out.append(dict(zip(names, values, strict=True)))
            return out
        checks = [columns.index(n) for n in deciding]
        for row in self._model.rows:
            if any(row[p].strip() for p in checks):
                out.append({n: row[p].strip() for n, p in zip(names, positions, strict=True)})
        return out

    def table(self) -> tuple[list[str], list[list[str]]]:
        """Every column and every row as typed (blank rows and unused columns too): a copy."""
        return list(self._model.columns), [list(row) for row in self._model.rows]

    def set_table(self, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """Restore what :meth:`table` returned; columns that are not variables stay as unused.

        Variables without a column get an empty one, so the table always fits the template.
        """
        self._notice = None
        before = self._model.columns
        where: dict[str, int] = {}
        for i, name in enumerate(columns):
            where.setdefault(name, i)
        names = self._variables + [c for c in where if c not in self._variables]
        aligned = [
            [row[where[n]] if n in where and where[n] < len(row) else "" for n in names]
            for row in rows
        ]
        self._model.reset(names, self._variables, aligned)
        self._changed(columns_before=before)

    def blocking_issue(self) -> str | None:
        """Why the rows cannot fill the template (a variable blank in every row), or ``None``.

        The reason :meth:`gui.core.spec.RunSpec.validate` gives for :meth:`rows`, for a caller
        that wants to show it under the table rather than under the prompt.
        """
        rows = self.spec_rows()
        if not rows:
            return None
        try:
            make_spec("\n".join(f"{{{v}}}" for v in self._variables), rows, [ModelProfile()])
        except (TemplateError, SpecError) as exc:
            return str(exc)
        return None

    def set_rows(self, rows: Sequence[Mapping[str, str]]) -> None:
        """Replace all rows; keys that are not variables become unused columns."""
        self._notice = None
        before = self._model.columns
        plan = _plan_import(rows, self._variables, self._variables)
        self._model.reset(plan.columns, self._variables, plan.aligned)
        self._changed(columns_before=before)

    def set_variables(self, names: Sequence[str]) -> None:
        """Make the columns follow the template's variables (see the module docstring)."""
        names = list(dict.fromkeys(names))
        if names == self._variables:
            return
        old_columns = self._model.columns
        rename: dict[str, str] = {}  # new column -> old column it takes its data from
        if len(names) == len(self._variables):
            for old, new in zip(self._variables, names, strict=True):
                if old != new and old not in names and new not in old_columns:
                    rename[new] = old
        kept = [
            c
            for c in old_columns
            if c not in names and c not in rename.values() and self._model.column_has_data(c)
        ]
        columns = names + kept
        source = {
            c: old_columns.index(rename.get(c, c))
            for c in columns
            if rename.get(c, c) in old_columns
        }
        rows = [
            [row[source[c]] if c in source else "" for c in columns] for row in self._model.rows
        ]
        self._variables = names
        self._model.reset(columns, names, rows)
        self._changed(columns_before=old_columns)

    def paste_text(self, text: str) -> int:
        """Append one row per non-empty line of ``text``; tabs separate columns.

        A first line whose tab-separated cells are all column names is read as a header and
        maps the columns by name (what a spreadsheet copy looks like). Returns the number of
        rows added.
        """
        self._notice = None
        if not self._variables:
            self._notice = ("Add a {variable} to the prompt before pasting inputs.", "error")
            self._refresh()
            return 0
        lines = text.splitlines()
        if any("\t" in line for line in lines):
            rows, dropped = self._rows_from_tabbed(lines)
            if dropped:
                were = (
                    "value beyond the last column was"
                    if dropped == 1
                    else "values beyond the last column were"
                )
                self._notice = (f"{dropped} {were} left out.", "warning")
        else:
            first = self._model.columns[0]
            rows = _aligned(rows_from_lines(text, first), self._model.columns)
        if len(self._model.rows) + len(rows) > MAX_INPUT_ROWS:
            # Refused whole: a paste is never half applied.
            self._notice = (
                f"Pasting {len(rows):,} rows would make {len(self._model.rows) + len(rows):,}; "
                f"a run takes at most {MAX_INPUT_ROWS:,}. Paste fewer lines.",
                "error",
            )
            self._refresh()
            return 0
        self._append(rows)
        return len(rows)

    def import_file(self, path: str | os.PathLike[str]) -> asyncio.Task[None] | None:
        """Add the rows of a CSV / JSON Lines file; problems are shown inline.

        Files under :attr:`SYNC_IMPORT_LIMIT` bytes (or any file when no asyncio loop runs)
        are read at once and ``None`` is returned; bigger ones are read in a worker thread
        and the task doing it is returned (await it to know the rows are in).
        """
        path = os.fspath(path)
        try:
            size = os.path.getsize(path)
        except OSError:
            size = 0  # read_rows_file says what is wrong with the path
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if self._import_task is not None:
            self._import_task.cancel()  # newest import wins
            self._import_task = None
            self._set_importing(None)
        if loop is None or size < self.SYNC_IMPORT_LIMIT:
            self._notice = None
            try:
                plan = _read_and_plan(path, self._model.columns, self._variables)
            except SpecError as exc:
                self._notice = (str(exc), "error")
                self._refresh()
                return None
            self._add_imported(plan, Path(path).name)
            return None
        self._set_importing(Path(path).name)
        task = self._tasks.spawn(
            self._import_in_thread(path),
            f"import {Path(path).name}",
            group="import",
            exclusive=True,
        )
        self._import_task = task
        task.add_done_callback(self._on_import_task_done)
        return task

    def add_row(self) -> None:
        """Append an empty row and start editing its first cell."""
        if not self._model.columns:
            return
        self._notice = None
        self._model.append([[""] * len(self._model.columns)])
        index = self._model.index(self._model.rowCount() - 1, 0)
        self._view.setCurrentIndex(index)
        self._view.scrollTo(index)
        self._view.edit(index)
        self._changed(columns_before=self._model.columns)

    def remove_selected_rows(self) -> int:
        """Remove every row with a selected cell; returns how many were removed."""
        rows = {i.row() for i in self._view.selectionModel().selectedIndexes()}
        if not rows:
            return 0
        self._notice = None
        self._model.remove(rows)
        self._changed(columns_before=self._model.columns)
        return len(rows)

    def clear(self) -> None:
        """Remove all rows and the unused columns; :meth:`undo_clear` (Ctrl+Z) brings them back."""
        before, rows = self._model.columns, self._model.rows
        self._model.reset(list(self._variables), self._variables, [])
        self._notice = None
        self._changed(columns_before=before)
        if rows or before != self._variables:
            # Set after _changed, which forgets any earlier undo.
            self._cleared = (before, rows)
            count = len(rows)
            self._notice = (f"Cleared {count:,} row{'s' if count != 1 else ''}.", "info")
            self._undo_action.setEnabled(True)
            self._refresh()

    def can_undo_clear(self) -> bool:
        """Whether :meth:`undo_clear` has something to bring back."""
        return self._cleared is not None

    def undo_clear(self) -> bool:
        """Put back what the last Clear removed (only until the next change); ``True`` if it did."""
        if self._cleared is None:
            return False
        columns, rows = self._cleared
        before = self._model.columns
        self._model.reset(columns, self._variables, rows)
        self._notice = None
        self._changed(columns_before=before)
        return True

    def drop_unused_columns(self) -> None:
        """Remove the columns the template does not use, with their data."""
        before = self._model.columns
        if before == self._variables:
            return
        positions = [before.index(v) for v in self._variables]
        rows = [[row[p] for p in positions] for row in self._model.rows]
        self._model.reset(list(self._variables), self._variables, rows)
        self._changed(columns_before=before)

    # -- internals --------------------------------------------------------------------------

    def _rows_from_tabbed(self, lines: list[str]) -> tuple[list[list[str]], int]:
        """Rows from tab-separated lines, plus how many values fell beyond the last column."""
        columns = self._model.columns
        lines = [line for line in lines if line.strip()]
        order = list(range(len(columns)))
        if lines:
            head = [c.strip() for c in lines[0].split("\t")]
            if len(head) > 1 and len(set(head)) == len(head) and all(h in columns for h in head):
                order = [columns.index(h) for h in head]
                lines = lines[1:]
        rows: list[list[str]] = []
        dropped = 0
        for line in lines:
            cells = line.split("\t")
            row = [""] * len(columns)
            for target, value in zip(order, cells, strict=False):
                row[target] = value.strip()
            dropped += sum(1 for v in cells[len(order) :] if v.strip())
            rows.append(row)
        return rows, dropped

    def _append(self, rows: list[list[str]]) -> None:
        self._model.trim_trailing_blank()
        self._model.append(rows)
        if rows:
            self._view.scrollToBottom()
        self._changed(columns_before=self._model.columns)

    def _add_imported(self, plan: _ImportPlan, source: str) -> None:
        before = self._model.columns
        if plan.base_columns != before:  # the table changed while the file was read
            plan = _plan_import(plan.rows, before, self._variables, plan.file_columns, plan.notes)
        total = len(self._model.rows) + len(plan.aligned)
        if total > MAX_INPUT_ROWS:  # refused before anything changes: never half imported
            self._notice = (
                f"{source} would make {total:,} rows; a run takes at most {MAX_INPUT_ROWS:,}. "
                "Clear the table first or split the file.",
                "error",
            )
            self._refresh()
            return
        if plan.columns != before:
            width = len(plan.columns)
            self._model.reset(
                plan.columns,
                self._variables,
                [r + [""] * (width - len(r)) for r in self._model.rows],
            )
        notes = list(plan.notes)
        if plan.missing:
            notes.append(_missing_columns_message(source, plan.missing, plan.file_columns))
        if notes:
            self._notice = (" ".join(notes), "warning")
        self._model.trim_trailing_blank()
        self._model.append(plan.aligned)
        self._changed(columns_before=before)

    async def _import_in_thread(self, path: str) -> None:
        # The UI is restored by _on_import_task_done, which also runs for a task cancelled
        # before its first step (a finally block here would not).
        name = Path(path).name
        columns, variables = list(self._model.columns), list(self._variables)
        try:
            # Parsing and aligning both happen in the worker: the GUI thread only appends.
            plan = await asyncio.to_thread(_read_and_plan, path, columns, variables)
        except SpecError as exc:
            if shiboken6.isValid(self):
                self._notice = (str(exc), "error")
        except Exception as exc:  # an unexpected failure is still one line, not a traceback
            if shiboken6.isValid(self):
                self._notice = (one_line(f"Could not import {name}: {exc}"), "error")
        else:
            if shiboken6.isValid(self):
                self._notice = None
                self._add_imported(plan, name)

    def _set_importing(self, name: str | None) -> None:
        self._import_button.setEnabled(name is None)
        if name is not None:
            self._count_label.setText(f"Importing {name}…")
        else:
            self._refresh()

    def _changed(self, columns_before: list[str]) -> None:
        """After any change: refresh the chrome and tell listeners (once per action)."""
        self._cleared = None  # Undo Clear restores the table as it was, so only right after it
        self._undo_action.setEnabled(False)
        self._refresh()
        if columns_before != self._model.columns:
            self.columns_changed.emit(self.columns())
        self.rows_changed.emit()

    def _refresh(self) -> None:
        has_variables = bool(self._variables)
        self._note.setVisible(not has_variables)
        self._view.setEnabled(has_variables)
        # A prompt without {variables} takes no rows: the buttons that only make rows and an
        # empty table would take the lines the note needs (at 900x600 they overlapped it).
        # Import and Clear stay: a file can be brought in before the template is written.
        self._view.setVisible(has_variables or bool(self._model.rows))
        for button in (self._add_button, self._remove_button, self._paste_button):
            button.setVisible(has_variables)
        self._add_button.setEnabled(has_variables)
        self._paste_button.setEnabled(has_variables)
        self._remove_button.setEnabled(has_variables and self._view.selectionModel().hasSelection())
        self._clear_button.setEnabled(bool(self._model.rows) or bool(self.unused_columns()))
        if self._import_task is None:
            self._count_label.setText(self._count_text() if has_variables else "")
        self._refresh_issue()

    def _count_text(self) -> str:
        positions = [self._model.columns.index(v) for v in self._variables]
        count = partial = 0
        for row in self._model.rows:
            filled = [bool(row[p].strip()) for p in positions]
            if any(filled):
                count += 1
                partial += not all(filled)
        text = f"{count} input{'s' if count != 1 else ''}"
        if partial:
            text += f" ({partial} with empty cells)"
        return text

    def _refresh_issue(self) -> None:
        parts: list[str] = []
        severity: Severity = "warning"
        if self._notice is not None:
            parts.append(self._notice[0])
            severity = self._notice[1]
        unused = self.unused_columns()
        action = "Undo (Ctrl+Z)" if self._cleared is not None else None
        if unused:
            names = ", ".join(f"'{c}'" for c in unused)
            if len(unused) == 1:
                parts.append(f"Column {names} is not in the template, so it is not used.")
            else:
                parts.append(f"Columns {names} are not in the template, so they are not used.")
            action = "Remove it" if len(unused) == 1 else "Remove them"
        self._issue.show_message("\n".join(parts) or None, severity, action)

    # -- slots ------------------------------------------------------------------------------

    def _on_add_button_clicked(self) -> None:
        self.add_row()

    def _on_remove_button_clicked(self) -> None:
        self.remove_selected_rows()

    def _on_paste_button_clicked(self) -> None:
        self.paste_text(QGuiApplication.clipboard().text())

    def _on_clear_button_clicked(self) -> None:
        self.clear()

    def _on_import_button_clicked(self) -> None:
        if self._dialog is None:
            # Kept and reused: it remembers the last folder. open() is window-modal without a
            # nested event loop; exec() and the static helpers would stall the qasync loop.
            self._dialog = QFileDialog(self, "Import inputs", "", IMPORT_FILTERS)
            self._dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
            self._dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptOpen)
            self._dialog.fileSelected.connect(self._on_dialog_file_selected)
        self._dialog.open()

    def _on_dialog_file_selected(self, path: str) -> None:
        if path:
            self.import_file(path)

    def _on_import_task_done(self, task: asyncio.Task[None]) -> None:
        # A newer import may have replaced this one: only the current one restores the UI.
        if shiboken6.isValid(self) and self._import_task is task:
            self._import_task = None
            self._set_importing(None)

    def _on_view_paste_requested(self) -> None:
        text = QGuiApplication.clipboard().text()
        if not text:
            return
        current = self._view.currentIndex()
        lines = text.rstrip("\r\n").splitlines()
        if len(lines) == 1 and current.isValid():
            self._notice = None
            cells = [v.strip() for v in lines[0].split("\t")]
            self._model.set_cells(current.row(), current.column(), cells)
            self._changed(columns_before=self._model.columns)
        else:
            self.paste_text(text)

    def _on_view_clear_cells_requested(self) -> None:
        indexes = self._view.selectionModel().selectedIndexes()
        if not indexes:
            return
        self._model.clear_cells((i.row(), i.column()) for i in indexes)
        self._notice = None
        self._changed(columns_before=self._model.columns)

    def _on_view_selection_changed(
        self, _selected: QItemSelection, _deselected: QItemSelection
    ) -> None:
        self._remove_button.setEnabled(
            bool(self._variables) and self._view.selectionModel().hasSelection()
        )

    def _on_model_cells_edited(self) -> None:
        self._notice = None
        self._changed(columns_before=self._model.columns)

    def _on_issue_link_activated(self, _link: str) -> None:
        if self._cleared is not None:
            self.undo_clear()
        else:
            self.drop_unused_columns()

    def _on_undo_action_triggered(self) -> None:
        self.undo_clear()


def _aligned(rows: Iterable[Mapping[str, str]], columns: list[str]) -> list[list[str]]:
    """Rows as lists aligned with ``columns`` (missing keys are empty cells)."""
    return [[str(row.get(c, "")) for c in columns] for row in rows]


@dataclass(frozen=True, slots=True)
class _ImportPlan:
    """Imported rows made ready for the model off the GUI thread.

    Attributes:
        rows: The rows as read.
        base_columns: The table's columns the plan was made against.
        columns: Columns after the import (new keys appended as unused columns).
        aligned: ``rows`` as lists aligned with ``columns``.
        missing: Variables no imported row has.
        file_columns: The columns the file has, in its order.
        notes: Warnings from reading the file (e.g. its encoding was guessed).
    """

    rows: Sequence[Mapping[str, str]]
    base_columns: list[str]
    columns: list[str]
    aligned: list[list[str]]
    missing: list[str]
    file_columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _plan_import(
    rows: Sequence[Mapping[str, str]],
    base_columns: Sequence[str],
    variables: Sequence[str],
    file_columns: Sequence[str] | None = None,
    notes: Sequence[str] = (),
) -> _ImportPlan:
    """Pure (no Qt): safe to run in a worker thread."""
    columns = list(base_columns)
    seen = set(columns)
    for row in rows:
        for key in row:
            if key not in seen:
                seen.add(key)
                columns.append(key)
    missing = [v for v in variables if not any(v in r for r in rows)]
    if file_columns is None:
        file_columns = list(dict.fromkeys(k for r in rows for k in r))
    return _ImportPlan(
        rows,
        list(base_columns),
        columns,
        _aligned(rows, columns),
        missing,
        list(file_columns),
        list(notes),
    )


def _read_and_plan(path: str, base_columns: Sequence[str], variables: Sequence[str]) -> _ImportPlan:
    """Read ``path`` with :func:`gui.core.inputs.load_rows_file` and plan its import."""
    loaded = load_rows_file(path)
    return _plan_import(loaded.rows, base_columns, variables, loaded.columns, loaded.notes)


def _missing_columns_message(
    source: str, missing: Sequence[str], file_columns: Sequence[str]
) -> str:
    """One line: which variables the file has no column for, the columns it has, the fix."""
    have = ", ".join(file_columns) or "none"
    if len(missing) > 1:
        names = ", ".join(f"'{m}'" for m in missing)
        return (
            f"{source} has no columns {names} (its columns: {have}): those cells are empty. "
            "Fill them in, or rename the variables in the template."
        )
    name = missing[0]
    guess = suggest_name(name, file_columns)
    fix = (
        f"Did you mean {{{guess}}}? Rename the variable in the template."
        if guess
        else f"Fill in the {name} cells, or use one of its columns in the template."
    )
    return f"{source} has no column '{name}' (its columns: {have}). {fix}"
