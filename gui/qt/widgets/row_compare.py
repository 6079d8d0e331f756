"""The Row compare layout: every answer to one input side by side, full height, streaming.

One column per column of the shown run (a model, or any column dimension): its label, its
status, the answer and its metrics. A run whose cells repeat heads each group of samples with
its run column's label (``model · t=0.7``) once, over the samples' own headers (``#1``,
``#2``...), as the Grid and Tiles do. Scrolling one answer scrolls the others to the same
proportion of their length (a toggle turns that off), so a reader moves through all answers
together even when their lengths differ. The row picker (Previous/Next input and a combo)
chooses the input. Like every layout it reads the cells from the
:class:`~gui.qt.widgets.cell_store.CellStore` and follows its signals.

The Agreement toggle shows the row in the :class:`~gui.qt.widgets.agreement_view.AgreementView`
instead: each sentence coloured as said by all answers, some, or only this one, with a legend
and a threshold, recomputed off the GUI thread at most a few times a second while streaming.

A run's columns are built a slice of a loop turn at a time, left to right (as the Grid builds
its panes): 18 columns with their answers built in one turn froze the window on Row compare's
first open. The columns on screen come first; the rest follow within a few frames.

Only the reader's scrolls are mirrored (the scroll bars' ``actionTriggered``: wheel, drag,
keys, clicks), never the views' own moves, so an answer that ends and jumps to its top, or
one that follows its streaming end, does not drag the others along.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from functools import partial

from PySide6.QtCore import QPoint, QRect, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QScrollBar,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from gui.core.metrics import CellMetrics
from gui.core.text import one_line_label
from gui.qt.looks import dim_text
from gui.qt.widgets.agreement_view import AgreementView
from gui.qt.widgets.cell_pane import ElidedLabel, footer_text, metrics_tooltip
from gui.qt.widgets.cell_parts import AnswerView, CloseUpPage, StatusChip, show_state
from gui.qt.widgets.cell_store import CellStore, Change
from gui.qt.widgets.check_chips import CheckChips
from gui.qt.widgets.status_chip import ProblemLabel

__all__ = ["RowCompareView"]

#: Narrowest answer column; more columns than fit scroll sideways.
MIN_COLUMN_WIDTH = 260

#: Milliseconds of a loop turn spent building columns; the rest wait for the next turn.
BUILD_SLICE_MS = 8.0


@dataclass(frozen=True, slots=True)
class _ColumnToBuild:
    """A column waiting to be built: its place in the run, header, and the row it goes in."""

    col: int
    label: str
    parent: QWidget
    layout: QHBoxLayout
    tooltip: str = ""


def _picker_text(row: int, label: str) -> str:
    """The row picker's entry for input ``row``: its number and the label, on one line."""
    return f"{row + 1}. {one_line_label(label, 80)}"


class _Column(QFrame):
    """One column's answer to the shown input: label, status, answer, error, metrics."""

    def __init__(self, label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("rowCompareColumn")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setMinimumWidth(MIN_COLUMN_WIDTH)
        self.label = ElidedLabel(label, self)
        self.label.setObjectName("columnHeader")
        font = self.label.font()
        font.setBold(True)
        self.label.setFont(font)
        self.chip = StatusChip(self)
        self.answer = AnswerView(self)
        self.error = ProblemLabel(self)  # the failed red of the theme, no sheet of its own
        self.error.setObjectName("cellError")
        self.error.hide()
        self.chips = CheckChips(self)  # the run's checks on this answer, side by side
        self.metrics = ElidedLabel("", self, separator=" · ")
        self.metrics.setObjectName("cellMetrics")
        dim_text(self.metrics)
        header = QHBoxLayout()
        header.setSpacing(4)
        header.addWidget(self.label, 1)
        header.addWidget(self.chip)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(3)
        layout.addLayout(header)
        layout.addWidget(self.answer, 1)
        layout.addWidget(self.error)
        layout.addWidget(self.chips)
        layout.addWidget(self.metrics)

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.setVisible(bool(message))


class RowCompareView(CloseUpPage):
    """All answers of one input side by side, scrolled together.

    Signals:
        back_requested(): Esc or Back: return to the previous layout.
        row_changed(int): another input row is shown.
        columns_built(): the last column of the run's shape was built.
    """

    row_changed = Signal(int)
    columns_built = Signal()

    def __init__(self, store: CellStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._row = -1
        self._columns: list[_Column] = []
        self._groups: list[QWidget] = []  # a repeated run's groups of sample columns
        self._to_build: list[_ColumnToBuild] = []  # columns built in the next loop turns
        # Per row of columns being built, a blank that holds the unbuilt columns' room, so
        # the columns built first get their final width at once instead of the whole row.
        self._room: dict[int, QWidget] = {}
        self._stale = False  # store changes arrived while hidden: reload when shown
        # A new run's shape arrived while hidden: its columns are built when shown or asked
        # for (a run's start built them for a page nobody looked at, on the GUI thread).
        self._shape_stale = False
        self._picker_filled = False  # the picker lists the run's inputs once first shown
        self._build_timer = QTimer(self)
        self._build_timer.setSingleShot(True)
        self._build_timer.setInterval(0)  # the next loop turn, after this one's paint
        self._build_timer.timeout.connect(self._on_build_timer_timeout)
        self._build_ui()
        store.shape_changed.connect(self._on_store_shape_changed)
        store.all_status_changed.connect(self._on_store_all_status_changed)
        store.texts_appended.connect(self._on_store_texts_appended)
        store.cell_changed.connect(self._on_store_cell_changed)
        store.cells_changed.connect(self._on_store_cells_changed)
        self._on_store_shape_changed()

    # ----------------------------------------------------------------------------- UI

    def _build_ui(self) -> None:
        self.setObjectName("rowCompareView")
        self._prev = self._button("▲ Input", "Show the previous input (Alt+Up)")
        self._next = self._button("Input ▼", "Show the next input (Alt+Down)")
        self._prev.clicked.connect(self._on_prev_clicked)
        self._next.clicked.connect(self._on_next_clicked)
        self._picker = QComboBox(self)
        self._picker.setObjectName("rowPicker")
        self._picker.setToolTip("The input whose answers are compared (Alt+Up, Alt+Down)")
        self._picker.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self._picker.setMinimumContentsLength(5)
        self._picker.currentIndexChanged.connect(self._on_picker_current_index_changed)
        self._sync = self._button(
            "Sync", "Sync scroll: scrolling one answer scrolls the others to the same place"
        )
        self._sync.setCheckable(True)
        self._sync.setChecked(True)
        self._agree = self._button(
            "Agreement", "Colour each sentence: said by every answer, by some, or by this one only"
        )
        self._agree.setObjectName("agreementToggle")
        self._agree.setCheckable(True)
        self._agree.toggled.connect(self._on_agree_toggled)
        self._raw = self._button("Raw", "Show the answers' Markdown source instead of rendering it")
        self._raw.setCheckable(True)
        self._raw.toggled.connect(self._on_raw_toggled)
        self._back = self._button("Back", "Back to the previous layout (Esc)")
        self._back.clicked.connect(self.back_requested)

        self._bar = QHBoxLayout()
        self._bar.setSpacing(4)
        self._bar.addWidget(self._picker, 1)
        self._bar.addWidget(self._prev)
        self._bar.addWidget(self._next)
        self._bar.addSpacing(6)
        self._bar.addWidget(self._sync)
        self._bar.addWidget(self._agree)
        self._bar.addWidget(self._raw)
        self._bar.addStretch(0)
        self._bar.addWidget(self._back)

        self._input = ElidedLabel("", self)
        self._input.setObjectName("rowCompareInput")
        self._empty = QLabel("No run to compare yet.", self)
        self._empty.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self._strip = QWidget(self)
        self._strip_layout = QHBoxLayout(self._strip)
        self._strip_layout.setContentsMargins(0, 0, 0, 0)
        self._strip_layout.setSpacing(6)
        self._scroll = QScrollArea(self)
        self._scroll.setWidgetResizable(True)
        self._scroll.setFrameShape(QFrame.Shape.NoFrame)
        self._scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._scroll.setWidget(self._strip)
        self._scroll.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._agreement = AgreementView(self)
        self._body = QStackedWidget(self)
        self._body.addWidget(self._scroll)
        self._body.addWidget(self._agreement)
        # A small window must still fit: the answers are clipped, the tool bar stays whole.
        self._body.setMinimumSize(1, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        layout.addLayout(self._bar)
        layout.addWidget(self._input)
        layout.addWidget(self._empty, 1)
        layout.addWidget(self._body, 1)

        keys = (
            ("Alt+Up", self._on_prev_clicked),
            ("Alt+Down", self._on_next_clicked),
        )
        for key, slot in keys:
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def add_tool(self, widget: QWidget) -> None:
        """Put ``widget`` in the tool bar, before Back (the agreement controls)."""
        self._bar.insertWidget(self._bar.count() - 1, widget)

    # ------------------------------------------------------------------------- public API

    def show_row(self, row: int) -> bool:
        """Show input ``row``; ``False`` (nothing changes) if the run has no such row."""
        self._ensure_shape()
        if not 0 <= row < self._store.row_count():
            return False
        changed = row != self._row
        self._row = row
        if self._picker_filled and self._picker.currentIndex() != row:
            self._picker.setCurrentIndex(row)  # its slot comes back here: no change then
        self._load()
        if changed:
            self.row_changed.emit(row)
        return True

    def row(self) -> int:
        """The input row shown (-1 when none)."""
        self._ensure_shape()
        return self._row

    def cell_ids(self) -> list[str]:
        """The cells shown, one per column."""
        self._ensure_shape()
        return self._store.row_cell_ids(self._row) if self._row >= 0 else []

    def answer_view(self, col: int) -> AnswerView:
        """The answer area of column ``col``."""
        self._ensure_columns()
        return self._columns[col].answer

    def column_status(self, col: int) -> str:
        """What column ``col``'s chip says."""
        self._ensure_columns()
        return self._columns[col].chip.text()

    def column_checks(self, col: int) -> list[str]:
        """Column ``col``'s check chips as drawn (``[]`` when not checked)."""
        self._ensure_columns()
        return self._columns[col].chips.chip_texts()

    def column_label(self, col: int) -> str:
        """Column ``col``'s header."""
        self._ensure_columns()
        return self._columns[col].label.full_text()

    def agreement_view(self) -> AgreementView:
        """The agreement view of the row (shown while the Agreement toggle is on)."""
        return self._agreement

    def set_agreement(self, on: bool) -> None:
        """Show the row's agreement colouring (``True``) or the rendered answers."""
        self._agree.setChecked(on)

    def agreement_shown(self) -> bool:
        """Whether the agreement colouring is shown."""
        return self._agree.isChecked()

    def set_sync_scroll(self, on: bool) -> None:
        """Turn synchronized scrolling on or off (the toggle)."""
        self._sync.setChecked(on)

    def sync_scroll(self) -> bool:
        """Whether scrolling one answer scrolls the others."""
        return self._sync.isChecked()

    def visible_cell_count(self) -> int:
        """Cells shown whole (the benchmarks' ``visible_cells``): the row's columns that lie
        inside the view."""
        self._ensure_columns()
        if self._row < 0:
            return 0
        area = self._scroll.viewport().rect()
        offset = self._strip.pos()
        strip = self._strip  # a repeated run's columns sit in their group's box
        inside = [
            c
            for c in self._columns
            if area.contains(QRect(c.mapTo(strip, QPoint(0, 0)) + offset, c.size()))
        ]
        return len(inside)

    def built_column_count(self) -> int:
        """Columns built so far (the run's whole count once :attr:`columns_built` came);
        unlike the other accessors, this builds none."""
        return len(self._columns)

    def is_building(self) -> bool:
        """Whether columns of the run's shape are still waiting to be built."""
        return bool(self._to_build)

    # --------------------------------------------------------------------------- internals

    def _rebuild_columns(self) -> None:
        """Drop the old columns and queue the new shape's (group headers come at once)."""
        for widget in [*self._columns, *self._groups]:
            widget.hide()
            widget.deleteLater()
        self._columns, self._groups, self._to_build = [], [], []
        self._build_timer.stop()
        self._clear_room()
        store = self._store
        labels = store.column_labels()
        if not store.is_grouped():
            self._to_build = [
                _ColumnToBuild(c, label, self._strip, self._strip_layout)
                for c, label in enumerate(labels)
            ]
            return
        first = 0
        while first < len(labels):
            group = store.group_of(first)
            last = first
            while last + 1 < len(labels) and store.group_of(last + 1) == group:
                last += 1
            box = QWidget(self._strip)
            box.setObjectName("rowCompareGroup")
            head = ElidedLabel(store.group_labels()[group], box)
            head.setObjectName("columnGroupHeader")
            head.setAlignment(Qt.AlignmentFlag.AlignCenter)
            # Its own height whatever the window's: a short window squeezed it under its text.
            head.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            font = head.font()
            font.setBold(True)
            head.setFont(font)
            # The line under the label shows how far the group reaches (Tiles' bracket).
            head.setStyleSheet(
                "QLabel#columnGroupHeader { border-width: 0px 0px 1px 0px; border-style: solid;"
                " border-color: palette(mid); }"
            )
            samples = QHBoxLayout()
            samples.setSpacing(self._strip_layout.spacing())
            self._to_build += [
                # The whole column label on hover.
                _ColumnToBuild(c, f"#{k + 1}", box, samples, tooltip=labels[c])
                for k, c in enumerate(range(first, last + 1))
            ]
            outer = QVBoxLayout(box)
            outer.setContentsMargins(0, 0, 0, 0)
            outer.setSpacing(2)
            outer.addWidget(head)
            outer.addLayout(samples, 1)
            self._strip_layout.addWidget(box, last - first + 1)
            self._groups.append(box)
            first = last + 1

    def _build_some(self) -> None:
        """Build queued columns (and show their answers) until the slice's time is spent;
        the timer comes back for the rest after the loop has painted."""
        started = time.perf_counter()
        budget = BUILD_SLICE_MS / 1000
        while self._to_build:
            self._build_column(self._to_build.pop(0))
            if time.perf_counter() - started >= budget:
                break
        self._hold_room()
        if self._to_build:
            self._build_timer.start()
        else:
            self.columns_built.emit()

    def _hold_room(self) -> None:
        """Put a blank after the built columns of each row being built, as wide as the
        columns still to come there (and stretching as they would)."""
        waiting: dict[int, tuple[QHBoxLayout, QWidget, int]] = {}
        for todo in self._to_build:
            layout, parent, count = waiting.get(id(todo.layout), (todo.layout, todo.parent, 0))
            waiting[id(todo.layout)] = (layout, parent, count + 1)
        for key, (layout, parent, count) in waiting.items():
            room = self._room.get(key)
            if room is None:
                room = self._room[key] = QWidget(parent)
                layout.addWidget(room, count)
            room.setMinimumWidth(count * MIN_COLUMN_WIDTH + (count - 1) * layout.spacing())
            layout.setStretchFactor(room, count)
        for key in [key for key in self._room if key not in waiting]:
            done = self._room.pop(key)
            done.hide()  # out of the layout now; deleted later
            done.deleteLater()

    def _clear_room(self) -> None:
        for room in self._room.values():
            room.hide()
            room.deleteLater()
        self._room = {}

    def _build_column(self, todo: _ColumnToBuild) -> None:
        column = _Column(todo.label, todo.parent)
        if todo.tooltip:
            column.label.setToolTip(todo.tooltip)
        column.answer.set_raw(self._raw.isChecked())
        bar = column.answer.verticalScrollBar()
        bar.actionTriggered.connect(partial(self._on_answer_scroll_action, todo.col))
        self._columns.append(column)
        room = self._room.get(id(todo.layout))
        at = todo.layout.indexOf(room) if room is not None else -1
        todo.layout.insertWidget(at, column, 1)  # before the blank holding the rest's room
        if 0 <= self._row < self._store.row_count():
            self._load_column(self._store.cell_id(self._row, todo.col), column)
        column.show()

    def _ensure_columns(self) -> None:
        """Every column built now (a caller that reads one cannot wait for the turns)."""
        self._ensure_shape()
        if self._to_build:
            self._build_timer.stop()
            while self._to_build:
                self._build_column(self._to_build.pop(0))
            self._clear_room()
            self.columns_built.emit()

    def _load(self) -> None:
        """Show every column of the current row from the store."""
        self._stale = False
        store = self._store
        if not 0 <= self._row < store.row_count():
            return
        label = store.row_label(self._row)
        self._input.set_full_text(label)
        # The picker shows short inputs whole; the line below is for long or multi-line ones.
        self._input.setVisible(_picker_text(self._row, label) != f"{self._row + 1}. {label}")
        self._prev.setEnabled(self._row > 0)
        self._next.setEnabled(self._row < store.row_count() - 1)
        # The columns built so far; the others show the row as they are built.
        for cell_id, column in zip(store.row_cell_ids(self._row), self._columns, strict=False):
            self._load_column(cell_id, column)
        self._feed_agreement()

    def _feed_agreement(self) -> None:
        """Give the agreement view the row's texts (it appends what streamed, computes later)."""
        if not self._agree.isChecked() or self._row < 0:
            return
        store = self._store
        texts = [store.source_text(cell_id) for cell_id in store.row_cell_ids(self._row)]
        self._agreement.set_answers(store.column_labels(), texts)

    def _load_column(self, cell_id: str, column: _Column) -> None:
        status = self._store.status(cell_id)
        if status is not None:
            column.chip.set_status(*status)
        state = self._store.peek(cell_id)
        if state is None:
            column.answer.clear()
            column.show_error("")
            column.metrics.set_full_text("")
            column.chips.set_results(())
            return
        show_state(column.answer, state)
        column.show_error(state.error)
        column.chips.set_results(state.checks)
        self._show_footer(column, state.metrics, state.notice)

    def _show_footer(self, column: _Column, metrics: CellMetrics | None, notice: str) -> None:
        column.metrics.set_full_text(footer_text(metrics, notice))
        tip = metrics_tooltip(metrics)
        column.metrics.setToolTip(tip or column.metrics.full_text())

    def _column_of(self, cell_id: str) -> _Column | None:
        where = self._store.where(cell_id)
        if where is None or where[0] != self._row or where[1] >= len(self._columns):
            return None  # another row, or a column not built yet (built from the store)
        return self._columns[where[1]]

    def _fill_picker(self) -> None:
        """List every input in the picker, once per run, when the view is first shown: a
        10,000-row run's start does not pay for a list nobody opened."""
        if self._picker_filled:
            return
        self._picker_filled = True
        store = self._store
        self._picker.blockSignals(True)
        try:
            self._picker.clear()
            # One call for every row: 10,000 addItem calls showed at a big run's start.
            self._picker.addItems(list(map(_picker_text, itertools.count(), store.row_labels())))
            if self._row >= 0:
                self._picker.setCurrentIndex(self._row)
        finally:
            self._picker.blockSignals(False)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._ensure_shape()
        self._fill_picker()
        if self._stale:
            self._load()

    # ------------------------------------------------------------------ store changes

    def _ensure_shape(self) -> None:
        if self._shape_stale:
            self._shape_stale = False
            self._apply_shape()

    def _on_store_shape_changed(self) -> None:
        if not self.isVisible():
            self._shape_stale = True
            self._to_build = []  # the old shape's columns: never built now
            self._build_timer.stop()
            self._clear_room()
            return
        self._shape_stale = False
        self._apply_shape()

    def _apply_shape(self) -> None:
        store = self._store
        self._rebuild_columns()
        self._picker.blockSignals(True)
        try:
            self._picker.clear()
        finally:
            self._picker.blockSignals(False)
        self._picker_filled = False
        if self.isVisible():
            self._fill_picker()
        has_run = not store.is_empty()
        self._empty.setVisible(not has_run)
        self._body.setVisible(has_run)
        self._input.setVisible(False)
        for widget in (self._picker, self._prev, self._next):
            widget.setEnabled(has_run)
        # Another run with the same inputs ("Run again"): the same row stays.
        row = self._row if 0 <= self._row < store.row_count() else (0 if has_run else -1)
        self._row = -1
        if row >= 0:
            self.show_row(row)
        if self._to_build:
            self._build_some()  # the first slice in this turn: the view is never empty

    def _on_store_all_status_changed(self) -> None:
        if self._shape_stale:  # built from the store when shown
            return
        for cell_id, column in zip(self.cell_ids(), self._columns, strict=False):
            status = self._store.status(cell_id)
            if status is not None:
                column.chip.set_status(*status)

    def _on_store_texts_appended(self, texts: dict[str, str]) -> None:
        if self._shape_stale:  # built from the store when shown
            return
        if self._row < 0:
            return
        ids = self._store.row_cell_ids(self._row)
        if not any(cell_id in texts for cell_id in ids):
            return
        if not self.isVisible():
            self._stale = True  # caught up from the store when shown again
            return
        if self._stale:
            self._load()
            return
        for cell_id, column in zip(ids, self._columns, strict=False):
            text = texts.get(cell_id)
            if text:
                column.answer.append(text)
        self._feed_agreement()

    def _on_store_cell_changed(self, cell_id: str, change: int) -> None:
        if self._shape_stale:  # built from the store when shown
            return
        column = self._column_of(cell_id)
        if column is None:
            return
        if not self.isVisible():
            self._stale = True
            return
        state = self._store.peek(cell_id)
        if state is None or change & Change.RESET:
            column.answer.clear()
            self._load_column(cell_id, column)
            self._feed_agreement()
            return
        if change & Change.STATUS:
            column.chip.set_status(state.phase, state.detail)
        if change & Change.TEXT:
            show_state(column.answer, state)
            self._feed_agreement()
        if change & Change.ERROR:
            column.show_error(state.error)
        if change & (Change.METRICS | Change.NOTICE):
            self._show_footer(column, state.metrics, state.notice)
        if change & Change.CHECKS:
            column.chips.set_results(state.checks)

    def _on_store_cells_changed(self, changes: dict[str, int]) -> None:
        for cell_id, change in changes.items():
            self._on_store_cell_changed(cell_id, change)

    # ------------------------------------------------------------------------------ slots

    def _on_build_timer_timeout(self) -> None:
        self._build_some()

    def _on_prev_clicked(self) -> None:
        self.show_row(self._row - 1)

    def _on_next_clicked(self) -> None:
        self.show_row(self._row + 1)

    def _on_agree_toggled(self, on: bool) -> None:
        self._body.setCurrentWidget(self._agreement if on else self._scroll)
        # The agreement view's columns are its own: the sync toggle does not apply there.
        self._sync.setEnabled(not on)
        self._feed_agreement()

    def set_raw(self, raw: bool) -> None:
        """Show the Markdown source (``True``) or the rendered answer: the window's global
        Raw text setting; the view's own Raw button stays in step with it."""
        self._raw.setChecked(raw)

    def _on_raw_toggled(self, raw: bool) -> None:
        for column in self._columns:
            column.answer.set_raw(raw)

    def _on_picker_current_index_changed(self, index: int) -> None:
        if index >= 0 and index != self._row:
            self.show_row(index)

    def _on_answer_scroll_action(self, col: int, _action: int) -> None:
        """The reader scrolled column ``col``: the others go to the same proportion."""
        if not self._sync.isChecked():
            return
        source = self._columns[col].answer.verticalScrollBar()
        # actionTriggered comes before the value is set: the slider position is the new one.
        fraction = source.sliderPosition() / source.maximum() if source.maximum() > 0 else 0.0
        for c, column in enumerate(self._columns):
            if c != col:
                bar: QScrollBar = column.answer.verticalScrollBar()
                bar.setValue(round(fraction * bar.maximum()))
