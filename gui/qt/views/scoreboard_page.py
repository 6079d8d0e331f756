"""The Scoreboard tab: the shown run's answers scored, as a heat-map and summaries.

Inputs run down, models across; each square is coloured by the chosen measure (best green,
worst red, through a neutral middle; one blue hue for a measure with no better end) with
the value printed in it (so the colours are never the only cue), failed and cancelled
cells hatched in their status colours (never a fill that could read as the red end) and
answers without a value grey. Two columns on the right sum each input up (best model,
spread); above, one line per model (mean, median, pass rate, win rate, p50/p95 latency).
Models are sorted by any measure and statistic, from the pickers or a summary header.
Clicking a square asks for that cell in Focus (:attr:`ScoreboardPage.cell_activated`); an
input's Best or Spread, for its row in Row compare (:attr:`ScoreboardPage.row_activated`).

The page reads the results page's :class:`~gui.qt.widgets.cell_store.CellStore` itself, as
the other layouts do, so a live run and a past run opened from History fill it alike. It
never works per token: a cell's change marks it dirty, and a single-shot timer sums the
run up at most once per frame (longer when summing up a large run costs more), only while
the tab is shown; a hidden tab catches up when shown. A run of :data:`STEP_CELLS` cells or
more is summed up in steps, a few milliseconds of each turn of the loop, so the first
sum-up of a 10,000-cell run is not a freeze. Both tables are item views over models (no
widget per square).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QFont, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from gui.core.costs import CostTotals, judge_label
from gui.core.measures import LATENCY, Measure, measures
from gui.core.pricing import format_usd
from gui.core.scoreboard import (
    ModelSummary,
    Scoreboard,
    ScoreCell,
    build_scoreboard,
    build_scoreboard_steps,
    score_cell,
    sort_models,
)
from gui.qt.resources import is_dark, status_colors
from gui.qt.widgets.cell_store import CellStore, Change
from gui.qt.widgets.elided_label import ElidedLabel

__all__ = ["ScoreboardPage", "heat_color"]

_Index = QModelIndex | QPersistentModelIndex

#: Heat-map ramps (worst, middle, best) per palette: soft enough for dark text on light,
#: light text on dark.
_RAMPS = {
    False: ("#f4c7c3", "#fbeec2", "#c6efce"),
    True: ("#6b2f2f", "#5e5322", "#24583a"),
}
#: One hue, smallest to largest, for a measure with no better end.
_NEUTRAL = {False: ("#eef3fb", "#a9c8ee"), True: ("#263241", "#2f5f99")}

#: Changes that can alter a square: anything but streamed or replaced text, a notice or an
#: error line (status, metrics, and whatever later fields measures read). A plain int: an
#: IntFlag operation per cell event costs several times an int's.
_SCORED_CHANGES = ~int(Change.TEXT | Change.NOTICE | Change.ERROR)

#: Milliseconds between two refreshes at least (a frame at 30 Hz): cells ending in a burst
#: are summed up once.
_MIN_INTERVAL_MS = 33
#: A refresh waits at least this many times as long as the last one took, so summing up a
#: very large run never takes more than a fifth of the GUI thread.
_COST_FACTOR = 4
_MAX_INTERVAL_MS = 1000
#: Runs of this many cells or more are summed up in steps (re-scoring the changed cells, then
#: :func:`~gui.core.scoreboard.build_scoreboard_steps`), each turn of the loop working for
#: :data:`STEP_BUDGET_S` at most: at 10,000 cells one whole sum-up took 65-165 ms.
STEP_CELLS = 2_000
STEP_BUDGET_S = 0.004
#: Cells re-scored between two looks at the clock.
_RESCORE_SLICE = 128
#: Model lines shown without scrolling; more scroll.
_SUMMARY_MAX_ROWS = 8


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    return QColor(
        round(a.red() + (b.red() - a.red()) * t),
        round(a.green() + (b.green() - a.green()) * t),
        round(a.blue() + (b.blue() - a.blue()) * t),
    )


def heat_color(goodness: float, directed: bool, dark: bool) -> QColor:
    """A square's colour: ``goodness`` 0 (worst) to 1 (best) on the red-to-green ramp, or
    0 (smallest) to 1 (largest) on one hue when the measure is not ``directed``."""
    t = min(max(goodness, 0.0), 1.0)
    if not directed:
        low, high = _NEUTRAL[dark]
        return _mix(QColor(low), QColor(high), t)
    worst, middle, best = (QColor(c) for c in _RAMPS[dark])
    return _mix(worst, middle, t * 2) if t < 0.5 else _mix(middle, best, (t - 0.5) * 2)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f} %"


class HeatMapModel(QAbstractTableModel):
    """Inputs x models (in sorted order), then a Best and a Spread column."""

    EXTRA = ("Best", "Spread")

    def __init__(
        self, error_of: Callable[[int, int], str] | None = None, parent: QWidget | None = None
    ) -> None:
        """``error_of(row, column)``: a cell's one-line error, for a failed square's tooltip."""
        super().__init__(parent)
        self.board: Scoreboard | None = None
        self.order: tuple[int, ...] = ()
        self._error_of = error_of

    def set_board(self, board: Scoreboard | None, order: tuple[int, ...]) -> None:
        """Show ``board`` with its models in ``order`` (columns of the run)."""
        same_shape = (
            self.board is not None
            and board is not None
            and board.rows == self.board.rows
            and board.models == self.board.models
            and order == self.order
        )
        if not same_shape:
            self.beginResetModel()
        self.board, self.order = board, order
        if not same_shape:
            self.endResetModel()
        elif self.rowCount() and self.columnCount():
            last = self.index(self.rowCount() - 1, self.columnCount() - 1)
            self.dataChanged.emit(self.index(0, 0), last)
            self.headerDataChanged.emit(Qt.Orientation.Vertical, 0, self.rowCount() - 1)

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        """Input rows."""
        return 0 if parent.isValid() or self.board is None else len(self.board.rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        """Models, then the per-input columns."""
        if parent.isValid() or self.board is None or not self.order:
            return 0
        return len(self.order) + len(self.EXTRA)

    def column_of(self, view_column: int) -> int | None:
        """The run's model column shown at ``view_column`` (``None`` for Best/Spread)."""
        return self.order[view_column] if 0 <= view_column < len(self.order) else None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        """Model names across, input labels down."""
        board = self.board
        if board is None or role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        if orientation == Qt.Orientation.Vertical:
            return board.rows[section] if 0 <= section < len(board.rows) else None
        column = self.column_of(section)
        if column is not None:
            return board.models[column]
        extra = section - len(self.order)
        return self.EXTRA[extra] if 0 <= extra < len(self.EXTRA) else None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """A square's value, colours and tooltip; the input lines' best model and spread."""
        board = self.board
        if board is None or not index.isValid():
            return None
        row, column = index.row(), self.column_of(index.column())
        if column is None:
            return self._extra(board, row, index.column() - len(self.order), role)
        status = board.statuses[row][column]
        value = board.values[row][column]
        m = board.measure
        if role == Qt.ItemDataRole.DisplayRole:
            if status in ("failed", "cancelled"):
                return f"✕ {status}"
            if status != "done":
                return "…" if status not in ("", "queued", "waiting") else ""
            return m.format(value, unit=False)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return Qt.AlignmentFlag.AlignCenter
        if role in (Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ForegroundRole):
            background, foreground = self._colors(board, status, value)
            return background if role == Qt.ItemDataRole.BackgroundRole else foreground
        if role == Qt.ItemDataRole.FontRole and status in ("failed", "cancelled"):
            return _bold()
        if role == Qt.ItemDataRole.ToolTipRole:
            head = f"{board.rows[row]} × {board.models[column]}"
            if status == "done":
                what = m.format(value) if value is not None else "no value"
                return f"{head}\n{m.label}: {what}\nClick to open it in Focus"
            error = self._error_of(row, column) if self._error_of is not None else ""
            why = f": {error}" if error and status in ("failed", "cancelled") else ""
            return f"{head}\n{status or 'not started'}{why}\nClick to open it in Focus"
        return None

    def _colors(
        self, board: Scoreboard, status: str, value: float | None
    ) -> tuple[QColor | QBrush, QColor]:
        if status in ("failed", "cancelled"):
            # Hatched, not filled: a failed square must never read as the red (worst) end.
            _bg, foreground = status_colors(status)
            hatch = QColor(foreground)
            hatch.setAlpha(90)
            return QBrush(hatch, Qt.BrushStyle.BDiagPattern), foreground
        if status != "done":
            return status_colors("queued")
        if value is None:  # an answer without this measure (no usage, no first token)
            background, _fg = status_colors("cancelled")
            return background, _disabled_text()
        dark = is_dark()
        directed = board.measure.higher_is_better is not None
        return heat_color(board.goodness(value), directed, dark), _text(dark)

    def _extra(self, board: Scoreboard, row: int, which: int, role: int) -> Any:
        line = board.inputs_summary[row]
        if role == Qt.ItemDataRole.DisplayRole:
            if which == 0:
                return " = ".join(board.models[c] for c in line.best) or "–"
            return board.measure.format(line.spread, unit=False)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return Qt.AlignmentFlag.AlignCenter
        if role == Qt.ItemDataRole.ToolTipRole:
            if which == 0:
                tie = " (a tie)" if len(line.best) > 1 else ""
                return f"Best by {board.measure.label.lower()}{tie}: {board.measure.format(line.best_value)}"
            return "Largest minus smallest value of this input's answers"
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        """Squares and input lines are clickable, never editable."""
        return (
            Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
            if index.isValid()
            else Qt.ItemFlag.NoItemFlags
        )


def _bold() -> QFont:
    font = QFont()
    font.setBold(True)
    return font


def _text(dark: bool) -> QColor:
    return QColor("#e8eaed" if dark else "#1f2328")


def _disabled_text() -> QColor:
    return QColor("#8c9096")


#: The per-model table's columns: header, the statistic a click sorts by, and its tooltip.
_SUMMARY_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("Model", "", "Sort by run order"),
    ("Done", "", "Answers, of the model's cells"),
    ("Failed", "", "Failed and cancelled cells (never scored)"),
    ("Mean", "mean", "Mean of the chosen measure over the model's answers"),
    ("Median", "median", "Median of the chosen measure"),
    ("Pass rate", "pass_rate", "Share of answers that pass the measure's mark"),
    ("Win rate", "win_rate", "Share of inputs where this model is best (ties split)"),
    ("p50 latency", "p50", "Median latency of the model's answers"),
    ("p95 latency", "p95", "95th percentile latency of the model's answers"),
    # Issue 15: not sortable (no statistic), read off each model's line.
    ("Cost", "", "What the model's answers cost at the run's prices (– : no price)"),
    ("$/correct", "", "Cost over the answers that passed every check (– : no checks or passes)"),
)


class SummaryModel(QAbstractTableModel):
    """One line per model, in sorted order, by the chosen measure."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.board: Scoreboard | None = None
        self.order: tuple[int, ...] = ()

    def set_board(self, board: Scoreboard | None, order: tuple[int, ...]) -> None:
        """Show ``board``'s model lines in ``order``."""
        self.beginResetModel()
        self.board, self.order = board, order
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        """Models."""
        return 0 if parent.isValid() else len(self.order)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        """The figures of :data:`_SUMMARY_COLUMNS`."""
        return 0 if parent.isValid() else len(_SUMMARY_COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        """Figure names across (what a click sorts by in the tooltip)."""
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(_SUMMARY_COLUMNS):
            return None
        title, stat, tip = _SUMMARY_COLUMNS[section]
        if role == Qt.ItemDataRole.DisplayRole:
            if stat in ("mean", "median") and self.board is not None:
                return f"{title} {self.board.measure.label.lower()}"
            return title
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{tip}; click to sort the models by it"
        return None

    def line(self, row: int) -> ModelSummary | None:
        """The model line shown at ``row``."""
        if self.board is None or not 0 <= row < len(self.order):
            return None
        return self.board.models_summary[self.order[row]]

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """A model's figure."""
        line = self.line(index.row()) if index.isValid() else None
        if line is None or self.board is None:
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            left = (
                Qt.AlignmentFlag.AlignLeft if index.column() == 0 else Qt.AlignmentFlag.AlignRight
            )
            return left | Qt.AlignmentFlag.AlignVCenter
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        m = self.board.measure
        stats = line.stats.get(m.name)
        column = index.column()
        if column == 0:
            return line.model
        if column == 1:
            return f"{line.done}/{line.cells}"
        if column == 2:
            return str(line.failed + line.cancelled)
        if column == 7:
            return LATENCY.format(line.latency_p50)
        if column == 8:
            return LATENCY.format(line.latency_p95)
        if column == 9:
            return "–" if line.cost_usd is None else format_usd(line.cost_usd)
        if column == 10:
            return "–" if line.usd_per_correct is None else format_usd(line.usd_per_correct)
        if stats is None:
            return "–"
        if column == 3:
            return m.format(stats.mean)
        if column == 4:
            return m.format(stats.median)
        if column == 5:
            return _percent(stats.pass_rate)
        return _percent(stats.win_rate)


class ScoreboardPage(QWidget):
    """The Scoreboard tab over the results page's cell store.

    Args:
        store: The shown run's cells.

    Signals:
        cell_activated(str): a square was clicked (or Enter pressed on it): show that cell.
        row_activated(int): an input's Best or Spread was clicked: show that input's row.
        view_changed(): the measure or the sort changed (the workspace keeps them).
        refreshed(): a sum-up ended and its board is shown (at once, or after its steps).
    """

    cell_activated = Signal(str)
    row_activated = Signal(int)
    view_changed = Signal()
    refreshed = Signal()

    def __init__(self, store: CellStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._cells: dict[str, ScoreCell] = {}
        self._dirty: set[str] = set()
        self._rescore_all = True
        self._stale = True
        self._measure: Measure = LATENCY
        self._sort_by: str = ""  # a measure name; "" with mean/median/rates: run order
        self._sort_stat = "mean"
        #: The last sum-up (``None`` before the first or with no run shown).
        self.board: Scoreboard | None = None
        #: Seconds of the GUI thread the last refresh took, its steps' together (it sets the
        #: next refresh's delay).
        self.last_refresh_s = 0.0
        #: Turns of the loop the last refresh took (1 unless summed up in steps).
        self.last_refresh_steps = 0
        #: Refreshes done (a test counts them; none while the tab is hidden).
        self.refreshes = 0
        # The sum-up under way in steps (a big run), and what it has cost so far.
        self._steps: Iterator[None] | None = None
        self._steps_cost = 0.0
        self._steps_taken = 0
        self._rescoring_all = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._build_ui()
        store.shape_changed.connect(self._on_store_shape_changed)
        store.all_status_changed.connect(self._on_store_all_status_changed)
        store.cell_changed.connect(self._on_store_cell_changed)
        store.cells_changed.connect(self._on_store_cells_changed)

    def _build_ui(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        bar = QHBoxLayout()
        bar.setSpacing(6)
        bar.addWidget(QLabel("Colour by"))
        self.measure_picker = QComboBox(self)
        self.measure_picker.setObjectName("scoreboardMeasure")
        self.measure_picker.setToolTip("The measure the squares are coloured by and the lines use")
        self.measure_picker.currentIndexChanged.connect(self._on_measure_picker_changed)
        bar.addWidget(self.measure_picker)
        bar.addSpacing(12)
        bar.addWidget(QLabel("Sort models by"))
        self.sort_picker = QComboBox(self)
        self.sort_picker.setObjectName("scoreboardSort")
        self.sort_picker.setToolTip("Best first; models without the figure last")
        self.sort_picker.currentIndexChanged.connect(self._on_sort_picker_changed)
        bar.addWidget(self.sort_picker)
        self.stat_picker = QComboBox(self)
        self.stat_picker.setObjectName("scoreboardStat")
        for title, stat, _tip in _SUMMARY_COLUMNS[3:]:
            if stat:  # the cost columns are read, not sorted by
                self.stat_picker.addItem(title, stat)
        self.stat_picker.currentIndexChanged.connect(self._on_sort_picker_changed)
        bar.addWidget(self.stat_picker)
        bar.addStretch(1)
        # The LLM judge's own spend (issue 13): not an answer's cost, so not in a model line.
        self.judge_cost_label = QLabel("", self)
        self.judge_cost_label.setObjectName("scoreboardJudgeCost")
        self.judge_cost_label.setToolTip(
            "What the LLM judge's own calls cost (their tokens at the judge model's price; "
            "~: estimated), apart from the answers' Cost"
        )
        self.judge_cost_label.hide()
        bar.addWidget(self.judge_cost_label)
        for picker in (self.measure_picker, self.sort_picker, self.stat_picker):
            # About 8 characters wide at least, not the longest measure's label: the pickers
            # must not set the window's minimum width (a 900 px window fits them).
            picker.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            picker.setMinimumContentsLength(8)
        layout.addLayout(bar)
        # A line of its own, elided at its end: the range and what the colours say (full
        # text in the tooltip).
        self.legend = ElidedLabel("", self, mode=Qt.TextElideMode.ElideRight)
        self.legend.setObjectName("scoreboardLegend")
        layout.addWidget(self.legend)

        self.summary_model = SummaryModel(self)
        self.summary_view = QTableView(self)
        self.summary_view.setObjectName("scoreboardSummary")
        self.summary_view.setModel(self.summary_model)
        self.summary_view.verticalHeader().hide()
        self.summary_view.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.summary_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        summary_header = self.summary_view.horizontalHeader()
        summary_header.setSectionsClickable(True)
        summary_header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        summary_header.setStretchLastSection(False)
        summary_header.setSortIndicatorShown(False)
        summary_header.sectionClicked.connect(self._on_summary_header_clicked)

        self.heat_model = HeatMapModel(self._error_at, self)
        self.heat_view = QTableView(self)
        self.heat_view.setObjectName("scoreboardHeatMap")
        self.heat_view.setModel(self.heat_model)
        self.heat_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.heat_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.heat_view.setMouseTracking(True)
        self.heat_view.setWordWrap(False)
        heat_header = self.heat_view.horizontalHeader()
        heat_header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        heat_header.setDefaultSectionSize(110)
        # Model names elide in the middle ("llama-3.…8b (sim)"), whole in the tooltip.
        heat_header.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        rows = self.heat_view.verticalHeader()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(26)
        rows.setMaximumWidth(260)
        rows.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.heat_view.clicked.connect(self._on_heat_view_clicked)
        self.heat_view.activated.connect(self._on_heat_view_clicked)
        # The model lines take the height they need (see _fit_summary), the heat-map the rest.
        layout.addWidget(self.summary_view)
        layout.addWidget(self.heat_view, 1)
        self.reload_measures()

    # ------------------------------------------------------------------------ public API

    def reload_measures(self) -> None:
        """Offer every registered measure in the pickers (the current choices stay)."""
        offered = measures()
        names = {m.name for m in offered}
        if self._measure.name not in names and offered:
            self._measure = offered[0]
        for picker in (self.measure_picker, self.sort_picker):
            picker.blockSignals(True)
            picker.clear()
        self.sort_picker.addItem("Run order", "")
        for m in offered:
            unit = f" ({m.unit})" if m.unit else ""
            self.measure_picker.addItem(m.label + unit, m.name)
            self.sort_picker.addItem(m.label, m.name)
        self.measure_picker.setCurrentIndex(
            max(0, self.measure_picker.findData(self._measure.name))
        )
        if self._sort_by not in names:
            self._sort_by = ""
        self.sort_picker.setCurrentIndex(max(0, self.sort_picker.findData(self._sort_by)))
        for picker in (self.measure_picker, self.sort_picker):
            picker.blockSignals(False)
        self._rescore_all = True
        self._schedule()

    def set_judge_cost(self, totals: CostTotals | None) -> None:
        """Show the LLM judge's spend on the shown run (``judge $0.01``), or nothing."""
        text = judge_label(totals)
        if text != self.judge_cost_label.text():
            self.judge_cost_label.setText(text)
        self.judge_cost_label.setVisible(bool(text))

    def measure(self) -> Measure:
        """The measure the squares are coloured by."""
        return self._measure

    def set_measure(self, name: str) -> bool:
        """Colour by measure ``name``; ``False`` (nothing changes) for an unknown one."""
        index = self.measure_picker.findData(name)
        if index < 0:
            return False
        self.measure_picker.setCurrentIndex(index)
        return True

    def sort_by(self, name: str, stat: str = "mean") -> None:
        """Sort the models best first by ``stat`` of measure ``name`` (``""``: run order;
        ``p50``/``p95`` latency need no measure)."""
        self._sort_by, self._sort_stat = name, stat
        for picker, data in ((self.sort_picker, name), (self.stat_picker, stat)):
            picker.blockSignals(True)
            picker.setCurrentIndex(max(0, picker.findData(data)))
            picker.blockSignals(False)
        board = self.board
        if board is not None and name and board.models_summary:
            if name not in board.models_summary[0].stats:  # not summed up yet: now
                self._refresh_now()
                return
        self._show()

    def sort_key(self) -> tuple[str, str]:
        """What the models are sorted by: ``(measure name or "", statistic)``."""
        return self._sort_by, self._sort_stat

    def model_order(self) -> tuple[int, ...]:
        """The run's model columns in the order shown."""
        return self.heat_model.order

    def cell_at(self, row: int, view_column: int) -> str | None:
        """The id of the cell in the square at ``row``, ``view_column`` (``None`` off the models)."""
        column = self.heat_model.column_of(view_column)
        if column is None or not 0 <= row < self._store.row_count():
            return None
        # A square is a run column: a repeated cell opens on its first sample.
        return self._store.cell_id(row, self._store.first_column_of(column))

    def refresh(self) -> None:
        """Sum the run up now, in one go (what the timer does once per frame at most)."""
        self._timer.stop()
        self._abandon_steps()
        started = time.perf_counter()
        store = self._store
        if store.is_empty():
            self._cells.clear()
            self._dirty.clear()
            self.board = None
            self.heat_model.set_board(None, ())
            self.summary_model.set_board(None, ())
        else:
            self._rescore(store)
            self.board = build_scoreboard(
                store.row_labels(),
                store.group_labels(),
                self._cells.values(),
                self._measure,
                self._wanted(),
            )
            self._show()
        self._stale = False
        self.refreshes += 1
        self.last_refresh_s = time.perf_counter() - started
        self.last_refresh_steps = 1
        self.refreshed.emit()

    @property
    def summing_up(self) -> bool:
        """A big run's sum-up is under way, in steps (its board is not shown yet)."""
        return self._steps is not None

    def _is_big(self) -> bool:
        """The run is summed up in steps (:data:`STEP_CELLS`)."""
        return self._store.row_count() * self._store.column_count() >= STEP_CELLS

    def _refresh_now(self) -> None:
        """Sum the run up now: at once, or a big run's steps from the next turn on."""
        if not self._is_big():
            self.refresh()
            return
        self._abandon_steps()
        self._stale = True
        if self.isVisible():
            self._timer.start(0)

    def _wanted(self) -> list[Measure]:
        # Only the measures shown or sorted by are summed up (latency for p50/p95): the
        # others cost a large run's refresh without reaching the screen.
        # Cost and checks feed each line's cost and $/correct (issue 15).
        wanted = {self._measure.name, LATENCY.name, self._sort_by, "cost", "checks"}
        return [m for m in measures() if m.name in wanted]

    def _step(self) -> None:
        """A turn's share of the sum-up in steps (started if none is under way): work until
        :data:`STEP_BUDGET_S` has gone, then let the loop breathe and come back."""
        if self._steps is None:
            if self._store.is_empty():
                self.refresh()
                return
            self._steps = self._refresh_steps()
            self._steps_cost, self._steps_taken = 0.0, 0
        started = time.perf_counter()
        steps, ended = self._steps, False
        try:
            while True:  # one step at least, then as many as the budget allows
                next(steps)
                if time.perf_counter() - started >= STEP_BUDGET_S:
                    break
        except StopIteration:
            ended = True
        self._steps_cost += time.perf_counter() - started
        self._steps_taken += 1
        if not ended:
            self._timer.start(0)  # a zero timer: a heartbeat or a paint due goes first
            return
        self._steps = None
        self.refreshes += 1
        self.last_refresh_s, self.last_refresh_steps = self._steps_cost, self._steps_taken
        # Cells that changed meanwhile were marked: the next sum-up takes them.
        self._stale = False
        if self._dirty or self._rescore_all:
            self._schedule()
        self.refreshed.emit()

    def _refresh_steps(self) -> Generator[None, None, None]:
        store = self._store
        if self._rescore_all:
            self._rescore_all, self._rescoring_all = False, True
            self._dirty.clear()
            self._cells = {}
            ids: list[str] = list(store.cell_ids())
        else:
            ids = list(self._dirty)
        for start in range(0, len(ids), _RESCORE_SLICE):
            yield
            self._score(store, ids[start : start + _RESCORE_SLICE])
        self._rescoring_all = False
        yield
        self.board = yield from build_scoreboard_steps(
            store.row_labels(),
            store.group_labels(),
            self._cells.values(),
            self._measure,
            self._wanted(),
        )
        self._show()

    def _abandon_steps(self) -> None:
        """Drop the sum-up under way (the run's shape or the measure changed, or a whole
        refresh is asked for); a re-score of every cell it had not finished starts again."""
        if self._steps is None:
            return
        self._steps = None
        if self._rescoring_all:
            self._rescoring_all = False
            self._rescore_all = True

    # ------------------------------------------------------------------------- internals

    def _rescore(self, store: CellStore) -> None:
        if self._rescore_all:
            self._rescore_all = False
            self._dirty.clear()
            ids: Iterable[str] = store.cell_ids()
            self._cells = {}
        else:
            ids, self._dirty = self._dirty, set()
        self._score(store, ids)

    def _score(self, store: CellStore, ids: Iterable[str]) -> None:
        """Score ``ids`` as the store holds them now, into the cells summed up."""
        registry = measures()
        default_phase = str(store.default_status()[0])
        cells, dirty = self._cells, self._dirty
        where_of, peek, group_of = store.where, store.peek, store.group_of
        for cell_id in ids:
            dirty.discard(cell_id)  # marked again if it changes after this
            where = where_of(cell_id)
            if where is None:
                continue
            state = peek(cell_id)
            status = str(state.phase) if state is not None else default_phase
            # A sample counts toward its run column (samples are averaged there).
            cells[cell_id] = score_cell(where[0], group_of(where[1]), status, state, registry)

    def _show(self) -> None:
        board = self.board
        if board is None:
            return
        by = None
        if self._sort_by:
            by = next((m for m in measures() if m.name == self._sort_by), None)
        order = sort_models(board.models_summary, by, self._sort_stat)
        self.heat_model.set_board(board, order)
        self.summary_model.set_board(board, order)
        self._fit_summary(len(order))
        self._show_sort_indicator()
        m = board.measure
        if m.higher_is_better is None:
            ends = "blue: larger"
        else:
            ends = f"green: best ({'highest' if m.higher_is_better else 'lowest'}) · red: worst"
        span = f"{m.format(board.low)} – {m.format(board.high)}" if board.low is not None else "–"
        self.legend.set_full_text(
            f"{m.label}: {span} · {ends} · grey: no value · click a square for Focus, a Best for Row compare"
        )

    def _fit_summary(self, models: int) -> None:
        """The model lines fit without a scroll bar, up to :data:`_SUMMARY_MAX_ROWS`."""
        view = self.summary_view
        rows = min(max(models, 1), _SUMMARY_MAX_ROWS)
        height = (
            view.horizontalHeader().height()
            + rows * view.verticalHeader().defaultSectionSize()
            + 2 * view.frameWidth()
            + 2
        )
        if view.minimumHeight() != height:
            view.setMinimumHeight(height)
            view.setMaximumHeight(height if models <= _SUMMARY_MAX_ROWS else 16777215)

    def _show_sort_indicator(self) -> None:
        header = self.summary_view.horizontalHeader()
        section = next(
            (
                i
                for i, (_title, stat, _tip) in enumerate(_SUMMARY_COLUMNS)
                if stat == self._sort_stat and i >= 3
            ),
            -1,
        )
        shown = bool(self._sort_by or self._sort_stat in ("p50", "p95")) and section >= 0
        if shown and self._sort_stat in ("mean", "median") and self._sort_by != self._measure.name:
            shown = False  # sorted by another measure than the columns show
        header.setSortIndicatorShown(shown)
        if shown:
            # Best first: the arrow says which way the figure runs down the table.
            descending = self._sort_stat in ("win_rate", "pass_rate") or (
                self._sort_stat in ("mean", "median")
                and self._measure.higher_is_better is not False
            )
            order = Qt.SortOrder.DescendingOrder if descending else Qt.SortOrder.AscendingOrder
            header.setSortIndicator(section, order)

    def _schedule(self) -> None:
        """Refresh soon if shown; else once the tab is shown."""
        if self._stale and self._timer.isActive():
            return  # the usual case inside a frame: a refresh is already due
        self._stale = True
        if not self.isVisible() or self._timer.isActive():
            return
        cost_ms = self.last_refresh_s * 1000 * _COST_FACTOR
        self._timer.start(int(min(max(_MIN_INTERVAL_MS, cost_ms), _MAX_INTERVAL_MS)))

    def showEvent(self, event: QShowEvent) -> None:
        """Catch up with what changed while the tab was hidden."""
        super().showEvent(event)
        if self._stale:
            self._timer.start(0)

    # ----------------------------------------------------------------------------- slots

    def _on_timer_timeout(self) -> None:
        if not self.isVisible():
            return
        if self._steps is not None or self._is_big():
            self._step()
        else:
            self.refresh()

    def _on_store_shape_changed(self) -> None:
        if tuple(
            self.measure_picker.itemData(i) for i in range(self.measure_picker.count())
        ) != tuple(m.name for m in measures()):
            self.reload_measures()  # a measure registered since: offered from this run on
        self._abandon_steps()  # summing up a run no longer shown
        self._rescore_all = True
        self._schedule()

    def _on_store_all_status_changed(self) -> None:
        self._abandon_steps()
        self._rescore_all = True
        self._schedule()

    def _on_store_cell_changed(self, cell_id: str, mask: int) -> None:
        if not mask & _SCORED_CHANGES:
            return
        self._dirty.add(cell_id)
        self._schedule()

    def _on_store_cells_changed(self, changes: dict[str, int]) -> None:
        scored = [cell_id for cell_id, mask in changes.items() if mask & _SCORED_CHANGES]
        if scored:
            self._dirty.update(scored)
            self._schedule()

    def _on_measure_picker_changed(self, _index: int) -> None:
        name = self.measure_picker.currentData()
        chosen = next((m for m in measures() if m.name == name), None)
        if chosen is not None and chosen is not self._measure:
            self._measure = chosen
            self._abandon_steps()  # a sum-up under way is by the old measure
            self._schedule()
            self.view_changed.emit()

    def _on_sort_picker_changed(self, _index: int) -> None:
        self.sort_by(
            str(self.sort_picker.currentData() or ""),
            str(self.stat_picker.currentData() or "mean"),
        )
        self.view_changed.emit()

    def _on_summary_header_clicked(self, section: int) -> None:
        stat = _SUMMARY_COLUMNS[section][1] if 0 <= section < len(_SUMMARY_COLUMNS) else ""
        if section == 0:
            self.sort_by("")
        elif stat:
            self.sort_by(self._measure.name, stat)
        self.view_changed.emit()

    def _error_at(self, row: int, column: int) -> str:
        store = self._store
        column = store.first_column_of(column)
        if not (0 <= row < store.row_count() and 0 <= column < store.column_count()):
            return ""
        return store.error(store.cell_id(row, column))

    def _on_heat_view_clicked(self, index: QModelIndex) -> None:
        cell_id = self.cell_at(index.row(), index.column())
        if cell_id is not None:
            self.cell_activated.emit(cell_id)
        elif index.isValid() and 0 <= index.row() < self._store.row_count():
            self.row_activated.emit(index.row())  # an input's own line: its answers side by side
