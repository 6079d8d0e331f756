"""The Results tab: the shown run in one of several layouts, under a banner for a past run.

It applies the session's frames to the :class:`~gui.qt.widgets.cell_store.CellStore` itself
(:meth:`ResultsPage.apply_frame`), as the timeline does with
:meth:`~gui.qt.widgets.timeline.TimelineWidget.apply_events`: the window hands every frame to
both and translates no event. Every layout (Tiles, Grid, and those other views register with
:meth:`ResultsPage.add_layout`, such as Focus and Row compare) reads the same store, so
switching layouts loses nothing and a hidden layout costs nothing per frame.

A small toolbar at the top switches layouts (the same actions sit in View > Layout, with
Ctrl+1...) and, while the Grid is shown, sets its row height (S/M/L) and column width.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gui.core import events as ev
from gui.core.judging import ModelRank, PairwiseResult, rank, ranking_line
from gui.core.ports import PastCell, PastRun
from gui.core.runner import CANCELLED_BEFORE_START, Phase, Run
from gui.core.session import Counts
from gui.core.spec import CellId, RunSpec, Strategy
from gui.qt.resources import status_colors
from gui.qt.widgets.cell_store import CellStore
from gui.qt.widgets.compact_button import CompactToolButton
from gui.qt.widgets.elided_label import ElidedLabel
from gui.qt.widgets.results_grid import ResultsGrid
from gui.qt.widgets.tiles_view import TilesView

if TYPE_CHECKING:  # built in a later start-up turn, imported there
    from gui.qt.widgets.arena_view import ArenaView
    from gui.qt.widgets.focus_view import FocusView

__all__ = ["DEFAULT_LAYOUT", "GRID_ROW_HEIGHTS", "ResultsPage"]

#: The layout a fresh install (and the stress demo) opens in: every cell at once.
DEFAULT_LAYOUT = "tiles"

#: Row heights of the Grid's S/M/L buttons, in pixels.
GRID_ROW_HEIGHTS: dict[str, int] = {"S": 180, "M": ResultsGrid.ROW_HEIGHT, "L": 380}

#: Column widths of the Grid's width button: fit the window, or wide (scrolls sideways).
_GRID_WIDE_COLUMN = 520


#: A past run's cells filled in at once when it is opened (the top rows: a screen of tiles);
#: the rest are filled a row at a time, :data:`PAST_FILL_BUDGET_S` of each turn of the loop.
#: Opening a 10,000-cell run in one go froze the window for 0.2-0.8 s.
PAST_CELLS_AT_ONCE = 256
PAST_FILL_BUDGET_S = 0.004
_FILLED = object()


def _shape_columns(store: CellStore, spec: RunSpec, headers: list[str]) -> list[str]:
    """Shape ``store`` for ``spec``: one column per run column, or, when cells repeat, one
    per sample (headed ``#2 model · t=0.7``) grouped under its run column.

    The store makes the run's cell ids itself (:meth:`CellStore.set_run_shape`), when they
    are asked for: none is listed here.

    Returns:
        The column labels.
    """
    n = spec.repeats
    labels = _row_labels(spec)
    if n <= 1:
        store.set_run_shape(labels, headers)
        return headers
    # The sample first: a narrow column's header is cut in the middle, and "#2 sim…t=0.7"
    # still tells the columns apart (Tiles head each group with its run column's whole
    # label instead). Focus says "sample 2 of 5" in words.
    cols = [f"#{k + 1} {h}" for h in headers for k in range(n)]
    groups = (headers, [c for c in range(len(headers)) for _ in range(n)])
    store.set_run_shape(labels, cols, n, groups=groups)
    return cols


def _row_labels(spec: RunSpec) -> list[str]:
    rows = spec.rows
    keys = list(rows[0]) if rows else []
    if len(keys) == 1 and set(map(len, rows)) == {1}:
        # One variable (the usual case): no join per row, the checks in C; at 10,000 rows
        # a Python loop per row showed at the press of Run.
        try:
            values = list(map(str, map(operator.itemgetter(keys[0]), rows)))
        except KeyError:  # another row names its one value differently
            values = [" / ".join(map(str, row.values())) for row in rows]
        return [value or "prompt" for value in values]
    return [" / ".join(map(str, row.values())) or "prompt" for row in rows]


def _phase(status: str) -> Phase:
    """A stored cell's status as a phase (an unknown one, from a newer version, as failed)."""
    try:
        return Phase(status)
    except ValueError:
        return Phase.FAILED


class ResultsPage(QWidget):
    """The layouts of the shown run, the toolbar that switches them, and the past-run banner.

    Signals:
        again_requested: "Run again" on the past-run banner.
        close_requested: "Close" on the past-run banner.
        layout_changed(str): another layout is shown; carries its name.
        cell_activated(str): a tile or pane was double-clicked, or Enter pressed on it.
        selection_changed(list): the cells Ctrl+clicked for a diff (at most two).
        cancel_requested(str): Cancel on a cell, in any layout.
        retry_requested(str): Retry on a cell, in any layout.
        rating_requested(str, str, int, bool): a rating key, button or menu entry on a cell,
            in any layout: cell id, :class:`~gui.core.ratings.RatingAction` value, stars,
            and whether the model names were hidden (the blind arena).
    """

    again_requested = Signal()
    close_requested = Signal()
    layout_changed = Signal(str)
    cell_activated = Signal(str)
    selection_changed = Signal(list)
    cancel_requested = Signal(str)
    retry_requested = Signal(str)
    rating_requested = Signal(str, str, int, bool)

    def __init__(self, parent: QWidget | None = None, *, details: bool = True) -> None:
        """``details=False`` leaves Focus, Row compare and Diff to :meth:`build_details`
        (the window builds them in a turn of their own, after its first paint)."""
        super().__init__(parent)
        self._layouts: dict[str, QWidget] = {}
        self._layout_actions: dict[str, QAction] = {}
        self._focus_view: FocusView | None = None  # built by build_focus, else with details
        self.arena: ArenaView | None = None  # the blind arena, built by build_arena
        self._run_key = ""  # the shown run's id: the arena's shuffles derive from it
        self._blind = False
        self._before_blind = DEFAULT_LAYOUT
        self._enabled_before_blind: dict[str, bool] = {}
        self._build_ui()
        if details:
            self.build_details()

    def _build_ui(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.past_banner = QWidget(self)
        self.past_banner.setObjectName("pastRunBanner")
        # Tinted like a "not live" chip, so a past run is never mistaken for the current one.
        bg, fg = status_colors(Phase.QUEUED)
        self.past_banner.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.past_banner.setStyleSheet(
            f"QWidget#pastRunBanner {{ background: {bg.name()}; }}"
            f" QLabel#pastRunLabel {{ color: {fg.name()}; font-weight: bold; }}"
        )
        bar = QHBoxLayout(self.past_banner)
        bar.setContentsMargins(8, 4, 8, 4)
        self.past_label = QLabel(self.past_banner)
        self.past_label.setObjectName("pastRunLabel")
        # Wraps: on one line, "Past run <id> from <date> · finished · 9/9 done · ..." set
        # the window's minimum width above 1100 px.
        self.past_label.setWordWrap(True)
        bar.addWidget(self.past_label, 1)
        again = QPushButton("Run again", self.past_banner)
        again.setToolTip("Load this run's template, inputs, models and limits, and run them")
        again.clicked.connect(self.again_requested)
        close = QPushButton("Close", self.past_banner)
        close.setToolTip("Leave the past run; the grid is empty until the next run")
        close.clicked.connect(self.close_requested)
        bar.addWidget(again)
        bar.addWidget(close)
        self.past_banner.hide()
        layout.addWidget(self.past_banner)
        layout.addWidget(self._build_toolbar())
        #: The shown run's cells, shared by every layout.
        self.store = CellStore(self)
        # The rest of a big past run's cells, filled in a few milliseconds a turn.
        self._past_fill: Iterator[None] | None = None
        self._past_timer = QTimer(self)
        self._past_timer.setSingleShot(True)
        self._past_timer.timeout.connect(self._on_past_timer_timeout)
        self.store.shape_changed.connect(self._on_store_shape_changed)
        #: One page per layout; the toolbar and View > Layout switch between them.
        self.stack = QStackedWidget(self)
        layout.addWidget(self.stack, 1)
        self.tiles = TilesView(self.store, self.stack)
        self.grid = ResultsGrid(self.stack, store=self.store)
        self.add_layout("tiles", "Tiles", self.tiles, "Ctrl+1")
        self.add_layout("grid", "Grid", self.grid, "Ctrl+2")
        self.grid.row_height_changed.connect(self._on_grid_row_height_changed)
        self.grid.columns_fitted_changed.connect(self._on_grid_columns_fitted_changed)
        for view in (self.tiles, self.grid):
            view.cell_activated.connect(self.cell_activated)
            view.selection_changed.connect(self._on_view_selection_changed)
            view.cancel_requested.connect(self.cancel_requested)
            view.retry_requested.connect(self.retry_requested)
            view.rating_requested.connect(self._on_view_rating_requested)
        # For the window's View menu: every answer as its Markdown source, or rendered.
        self.raw_action = QAction("Raw text", self)
        self.raw_action.setCheckable(True)
        self.raw_action.setToolTip("Show every answer's Markdown source instead of rendering it")
        self.raw_action.toggled.connect(self.grid.set_raw)
        self.set_layout(DEFAULT_LAYOUT)

    def _build_toolbar(self) -> QWidget:
        bar = QWidget(self)
        bar.setObjectName("resultsToolbar")
        row = QHBoxLayout(bar)
        row.setContentsMargins(4, 1, 4, 1)
        row.setSpacing(2)
        self._toolbar_row = row
        self._layout_group = QActionGroup(self)
        self._layout_group.setExclusive(True)
        self._layout_group.triggered.connect(self._on_layout_group_triggered)
        #: View > Layout: one checkable entry per layout, the toolbar's buttons in a menu.
        self.layout_menu = QMenu("Layout", self)
        self._layout_buttons = QHBoxLayout()
        self._layout_buttons.setSpacing(2)
        row.addLayout(self._layout_buttons)
        # Nearly all the free width to the ranking (it elides): the stretch takes it when hidden.
        row.addWidget(self._build_ranking_label(bar), 100)
        row.addStretch(1)
        # The Grid's own controls: shown only while the Grid is.
        self.grid_controls = QWidget(bar)
        grid_row = QHBoxLayout(self.grid_controls)
        grid_row.setContentsMargins(0, 0, 0, 0)
        grid_row.setSpacing(2)
        grid_row.addWidget(QLabel("Rows", self.grid_controls))
        self.row_height_buttons: dict[str, QToolButton] = {}
        for size, height in GRID_ROW_HEIGHTS.items():
            button = QToolButton(self.grid_controls)
            button.setText(size)
            button.setCheckable(True)
            button.setAutoRaise(True)
            button.setToolTip(f"Grid rows {height} px high (or drag a row's bottom border)")
            button.clicked.connect(lambda _=False, h=height: self.set_grid_row_height(h))
            grid_row.addWidget(button)
            self.row_height_buttons[size] = button
        self.row_height_buttons["M"].setChecked(True)
        # "Wide" when the row is short of room (a 900 px window with the Concurrency dock).
        self.wide_columns_button = CompactToolButton("Wide columns", "Wide", self.grid_controls)
        self.wide_columns_button.setCheckable(True)
        self.wide_columns_button.setAutoRaise(True)
        self.wide_columns_button.setToolTip(
            f"Columns {_GRID_WIDE_COLUMN} px wide, scrolling sideways; off: fit the window"
            " (or drag the border between two column names; double-click it to fit)"
        )
        self.wide_columns_button.toggled.connect(self._on_wide_columns_button_toggled)
        grid_row.addSpacing(8)
        grid_row.addWidget(self.wide_columns_button)
        self.grid_controls.hide()
        row.addWidget(self.grid_controls)
        return bar

    # ------------------------------------------------------------------ layouts

    def add_layout(self, name: str, title: str, widget: QWidget, shortcut: str = "") -> QAction:
        """Offer ``widget`` as a layout of the results: a toolbar button and a View entry.

        Args:
            name: Stable name (kept in the workspace, passed to :meth:`set_layout`).
            title: What the button and the menu entry say.
            widget: The page; it reads :attr:`store` itself.
            shortcut: A key sequence such as ``"Ctrl+3"`` (``""`` for none).

        Returns:
            The checkable action that shows the layout.

        Raises:
            ValueError: ``name`` is taken.
        """
        if name in self._layouts:
            raise ValueError(f"a layout named {name!r} exists")
        self._layouts[name] = widget
        self.stack.addWidget(widget)
        action = QAction(title, self)
        action.setCheckable(True)
        action.setData(name)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
            # Anywhere in the window, as a menu entry's shortcut is.
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        tip = f"Show the results as {title}"
        action.setToolTip(f"{tip} ({shortcut})" if shortcut else tip)
        self._layout_group.addAction(action)
        self.layout_menu.addAction(action)
        self.addAction(action)  # the shortcut works even when the menu is not in a menu bar
        button = QToolButton(self)
        button.setDefaultAction(action)
        button.setAutoRaise(True)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        button.setObjectName(f"layoutButton_{name}")
        self._layout_buttons.addWidget(button)
        self._layout_actions[name] = action
        return action

    def layouts(self) -> list[str]:
        """The names of every layout, in toolbar order."""
        return list(self._layouts)

    def layout_action(self, name: str) -> QAction:
        """The action that shows layout ``name``."""
        return self._layout_actions[name]

    def set_layout(self, name: str) -> bool:
        """Show layout ``name``; ``False`` (nothing changes) for an unknown name."""
        widget = self._layouts.get(name)
        if widget is None or self._blind:  # blind mode shows only the arena
            return False
        self._layout_actions[name].setChecked(True)
        # A hidden Grid keeps no panes: they would still render every frame's text.
        self.grid.set_dormant(widget is not self.grid)
        if self.stack.currentWidget() is widget:
            return True
        self.stack.setCurrentWidget(widget)
        self.grid_controls.setVisible(name == "grid")
        self.layout_changed.emit(name)
        return True

    def current_layout(self) -> str:
        """The name of the layout shown (in blind mode: the one shown before, which comes
        back when it ends and is what the workspace keeps)."""
        if self._blind:
            return self._before_blind
        current = self.stack.currentWidget()
        return next((n for n, w in self._layouts.items() if w is current), "")

    def renders_markdown(self) -> bool:
        """Whether the page shown may render answers as Markdown: every page does but Tiles,
        which draw plain text (the blind arena counts as rendering)."""
        return self.stack.currentWidget() is not self.tiles

    def visible_cells(self) -> int:
        """Cells whose whole tile or pane lies inside the shown layout's viewport."""
        current = self.stack.currentWidget()
        if current is self.tiles:
            return len(self.tiles.visible_cell_ids())
        if current is self.grid:
            return len(self.grid.visible_cell_ids())
        count = getattr(current, "visible_cell_count", None)
        return int(count()) if callable(count) else 0

    def set_grid_row_height(self, height: int) -> None:
        """The Grid's rows become ``height`` px high (the S/M/L buttons)."""
        self.grid.set_row_height(height)

    def _on_grid_row_height_changed(self, height: int) -> None:
        for size, button in self.row_height_buttons.items():
            button.setChecked(GRID_ROW_HEIGHTS[size] == height)

    def _on_grid_columns_fitted_changed(self, fitted: bool) -> None:
        # A header drag or double-click changed the widths: the button says so, silently.
        button = self.wide_columns_button
        button.blockSignals(True)
        button.setChecked(not fitted)
        button.blockSignals(False)

    def _on_wide_columns_button_toggled(self, wide: bool) -> None:
        self.grid.set_column_width(_GRID_WIDE_COLUMN if wide else None)

    def _on_view_rating_requested(self, cell_id: str, action: str, stars: int) -> None:
        # Tiles, Grid and Focus show the model names: such a rating is never blind.
        self.rating_requested.emit(cell_id, action, stars, False)

    def _on_layout_group_triggered(self, action: QAction) -> None:
        self.set_layout(str(action.data()))

    def _on_view_selection_changed(self, selection: list[str]) -> None:
        # One selection for the page: the other layout drops its own.
        sender = self.sender()
        for view in (self.tiles, self.grid):
            if view is not sender:
                view.blockSignals(True)
                view.clear_selection()
                view.blockSignals(False)
        self.selection_changed.emit(list(selection))

    def selection(self) -> list[str]:
        """The cells selected for a diff in the shown layout (at most two)."""
        current = self.stack.currentWidget()
        if current is self.tiles:
            return self.tiles.selection()
        if current is self.grid:
            return self.grid.selection()
        return []

    # ------------------------------------------------- close-up layouts: Focus, Row, Diff

    def build_focus(self) -> None:
        """Build the Focus view ahead of :meth:`build_details` (its own turn at start-up:
        the first answer view built is the costly one)."""
        if self._focus_view is not None or hasattr(self, "details"):
            return
        from gui.qt.widgets.focus_view import FocusView

        self._focus_view = FocusView(self.store, self._messages_of, self.stack)

    def _messages_of(self, cell_id: str) -> list[tuple[str, str]]:
        details = getattr(self, "details", None)
        return details.messages_of(cell_id) if details is not None else []

    def build_details(self) -> None:
        """Build the close-up layouts (Focus, Row compare, Diff): once, before a run shows."""
        if hasattr(self, "details"):
            return
        from gui.qt.views.detail_layouts import DetailLayouts  # with this step, not before

        #: Focus, Row compare and Diff, and the moves between them (views/detail_layouts.py).
        self.details = DetailLayouts(self, focus=self._focus_view)
        self.focus = self.details.focus
        self.row_compare = self.details.row_compare
        self.diff_page = self.details.diff
        self.diff_action = self.details.diff_action
        self.grid.diff_requested.connect(self.details.diff_with)
        self.focus.rating_requested.connect(self._on_view_rating_requested)
        self.raw_action.toggled.connect(self.focus.set_raw)
        self.raw_action.toggled.connect(self.row_compare.set_raw)

    def _build_ranking_label(self, parent: QWidget) -> QLabel:
        """The LLM judge's pairwise ranking of the models (issue 13), hidden without one.

        Elided at its end: a plain label as wide as the line set the window's minimum
        width (three models' names widened a 900 px window to 1100 px)."""
        #: Pairwise comparisons of the shown run, for the ranking line.
        self._pairs: list[PairwiseResult] = []
        #: The comparisons per input, and each input's ranking (kept: a frame's new
        #: comparisons rank only their own inputs again).
        self._pairs_by_row: dict[int, list[PairwiseResult]] = {}
        self._row_ranks: dict[int, list[ModelRank]] = {}
        self.ranking_label = ElidedLabel(
            parent=parent, min_chars=16, mode=Qt.TextElideMode.ElideRight
        )
        self.ranking_label.setObjectName("judgeRanking")
        self.ranking_label.setTextFormat(Qt.TextFormat.PlainText)
        self.ranking_label.setContentsMargins(12, 0, 0, 0)
        self.ranking_label.hide()
        return self.ranking_label

    def _show_ranking(self, pairs: Sequence[PairwiseResult]) -> None:
        """The ranking line over ``pairs``: win rates overall, per input in the tooltip."""
        self._pairs = list(pairs)
        self._pairs_by_row = {}
        for pair in self._pairs:
            self._pairs_by_row.setdefault(pair.row, []).append(pair)
        models = self.store.group_labels()
        self._row_ranks = {r: rank(ps, models) for r, ps in self._pairs_by_row.items()}
        self._paint_ranking()

    def _add_pairs(self, added: Sequence[PairwiseResult]) -> None:
        """One frame's new comparisons: only their inputs are ranked again (ranking every
        input again per comparison cost about 2 s of the GUI thread over a 4-model, 50-input
        pairwise run, docs/benchmarks.md), and the overall line once."""
        self._pairs.extend(added)
        models = self.store.group_labels()
        for row in {pair.row for pair in added}:
            row_pairs = self._pairs_by_row.setdefault(row, [])
            row_pairs.extend(p for p in added if p.row == row)
            self._row_ranks[row] = rank(row_pairs, models)
        self._paint_ranking()

    def _paint_ranking(self) -> None:
        if not self._pairs:
            self.ranking_label.hide()
            return
        line = f"Judge ranking: {ranking_line(rank(self._pairs, self.store.group_labels()))}"
        tips = [
            f"{self.store.row_label(row) if row < self.store.row_count() else row + 1}: "
            f"{ranking_line(self._row_ranks[row])}"
            for row in sorted(self._row_ranks)[:40]
        ]
        self.ranking_label.set_full_text(
            line,
            f"{line}\nWin rates over the judge's pairwise comparisons (a tie is half a win), "
            "ordered by Bradley-Terry strength. Per input:\n" + "\n".join(tips),
        )
        # In blind mode the per-input ranking beside the arena's answers would name them.
        self.ranking_label.setVisible(not self._blind)

    # ------------------------------------------------------------------ blind mode

    def build_arena(self) -> None:
        """Build the blind arena and the Blind toggle (the toolbar's, for the View menu too)."""
        if self.arena is not None:
            return
        from gui.qt.widgets.arena_view import ArenaView

        self.arena = ArenaView(self.store, self.stack)
        self.arena.set_seed(self._run_key)
        self.stack.addWidget(self.arena)
        self.arena.rating_requested.connect(self.rating_requested)
        #: Blind mode: the arena, model names hidden until each row is rated.
        self.blind_action = QAction("Blind", self)
        self.blind_action.setCheckable(True)
        self.blind_action.setShortcut(QKeySequence("Ctrl+B"))
        self.blind_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.blind_action.setToolTip(
            "Blind mode (Ctrl+B): one input at a time, its answers shuffled and unnamed until"
            " you rate them; blind ratings feed the Leaderboard"
        )
        self.blind_action.toggled.connect(self.set_blind)
        self.addAction(self.blind_action)
        button = QToolButton(self)
        button.setDefaultAction(self.blind_action)
        button.setAutoRaise(True)
        button.setObjectName("blindButton")
        self._toolbar_row.insertWidget(1, button)

    def set_blind(self, on: bool) -> None:
        """Turn blind mode on (the arena, every other layout disabled) or off (back to the
        layout shown before)."""
        if self.arena is None or on == self._blind:
            return
        if self.blind_action.isChecked() != on:
            self.blind_action.setChecked(on)  # comes back here through toggled
            return
        if on:
            self._before_blind = self.current_layout() or DEFAULT_LAYOUT  # before _blind is set
            self._enabled_before_blind = {
                name: action.isEnabled() for name, action in self._layout_actions.items()
            }
            for action in self._layout_actions.values():
                action.setEnabled(False)  # no way to the names but leaving blind mode
            self._blind = True
            self.ranking_label.hide()  # the judge's ranking names the models of each input
            self.grid.set_dormant(True)
            self.grid_controls.hide()
            self.stack.setCurrentWidget(self.arena)
            self.arena.setFocus()
            return
        self._blind = False
        self.ranking_label.setVisible(bool(self._pairs))
        for name, action in self._layout_actions.items():
            action.setEnabled(self._enabled_before_blind.get(name, True))
        self.set_layout(self._before_blind)

    def is_blind(self) -> bool:
        """Whether blind mode is on."""
        return self._blind

    def _set_run_key(self, run_id: str) -> None:
        self._run_key = run_id
        if self.arena is not None:
            self.arena.set_seed(run_id)

    # ------------------------------------------------------------------ showing a run

    def show_run(self, run: Run) -> Iterator[tuple[str, str]]:
        """Lay the grid out for ``run``, every cell queued; returns the timeline's rows.

        The rows (cell id, label) come lazily, in the run's cell order: the timeline reads
        them a slice at a time, so a 20,000-cell run start does not make them all at once.
        """
        self.leave_past()
        self._show_ranking(())
        spec = run.spec
        self._set_run_key(run.id)
        self.details.set_spec(spec)  # before the store's shape: Focus reads it at once
        # Pane titles are "<row> × <column>", made by the grid for the panes it shows.
        store = self.store
        cols = _shape_columns(self.store, spec, spec.headers)
        waiting = "waiting for a slot" if spec.strategy.concurrent else "queued"
        store.set_all_status(Phase.QUEUED, waiting)
        # Taken now: the store may show another run before the timeline has read them all.
        rows = store.row_labels()  # numbered when a row repeats
        text, samples = CellId.text, max(spec.repeats, 1)
        return (
            (text(r, *divmod(c, samples)), f"{label} × {col}")
            for r, label in enumerate(rows)
            for c, col in enumerate(cols)
        )

    def show_past(self, past: PastRun, counts: Counts) -> None:
        """Show a stored run read-only, each cell as it ended."""
        spec = past.spec
        self._set_run_key(past.id)
        self.details.set_spec(spec)  # Focus shows the stored spec's messages
        store = self.store
        _shape_columns(store, spec, spec.headers or list(past.models))
        store.set_read_only(True)
        ended = {c.cell_id: c for c in past.cells}
        # The first PAST_CELLS_AT_ONCE cells (the top rows, those on screen) now, the rest
        # a few milliseconds a turn: filling 10,000 cells at once froze the window.
        fill = self._fill_past(store, ended)
        with store.batched():  # five changes a cell, told once per cell (see CellStore.batched)
            for _ in range(PAST_CELLS_AT_ONCE // max(1, store.column_count()) + 1):
                if next(fill, _FILLED) is _FILLED:
                    break
            else:
                self._past_fill = fill
                self._past_timer.start(0)
        self._show_ranking(getattr(past, "pairwise", ()))
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(past.created_at))
        self.past_label.setText(
            f"Past run {past.id} from {when} · {past.status} · {counts.done}/{counts.total}"
            f" done · {past.strategy} · read-only"
        )
        self.past_banner.show()

    @property
    def filling_past(self) -> bool:
        """A big past run's cells are still being filled in (a few milliseconds a turn)."""
        return self._past_fill is not None

    @staticmethod
    def _fill_past(store: CellStore, ended: dict[str, PastCell]) -> Iterator[None]:
        """Each cell of the store's shape as it ended (``ended``: stored cells by id),
        yielding after each row."""
        for r in range(store.row_count()):
            for cell_id in store.row_cell_ids(r):
                cell = ended.get(cell_id)
                if cell is None:  # an interrupted run: this cell never ended
                    store.set_status(cell_id, Phase.CANCELLED, "never ended")
                    store.set_error(cell_id, "The app stopped before this cell ended.")
                    continue
                done = cell.status == Phase.DONE
                error = "" if done else cell.error or ""
                never_started = cell.metrics is not None and cell.metrics.started_at is None
                if cell.status == Phase.CANCELLED and never_started:
                    # Stored by an older version as "partial text kept": there was none.
                    error = CANCELLED_BEFORE_START
                store.set_final_text(cell_id, cell.text, markdown=done)
                store.set_error(cell_id, error)
                store.set_status(cell_id, _phase(cell.status))
                store.set_metrics(cell_id, cell.metrics)
                # The stored text was cleaned when it was saved: only the notice says so.
                store.set_notice(cell_id, cell.notice or "")
                if cell.checks:
                    store.set_checks(cell_id, cell.checks)
                if cell.judge is not None:
                    store.set_judge(cell_id, cell.judge)
                store.set_rating(cell_id, cell.rating)
            yield

    def _on_past_timer_timeout(self) -> None:
        fill = self._past_fill
        if fill is None:
            return
        started = time.perf_counter()
        with self.store.batched():
            while next(fill, _FILLED) is not _FILLED:
                if time.perf_counter() - started >= PAST_FILL_BUDGET_S:
                    self._past_timer.start(0)  # a zero timer: a heartbeat or paint due first
                    return
        self._past_fill = None

    def _on_store_shape_changed(self) -> None:
        # Another run is shown: the rest of the past one is not filled in over it.
        self._past_fill = None
        self._past_timer.stop()

    def leave_past(self) -> None:
        """Back to live: no banner, panes offer Cancel and Retry again."""
        if self.past_banner.isVisible() or self.store.is_read_only():
            self.past_banner.hide()
            self.store.set_read_only(False)

    def retry_queued(self, cell_id: str) -> None:
        """``cell_id`` starts again: its old answer goes."""
        self.store.reset_cell(cell_id)
        self.store.set_status(cell_id, Phase.QUEUED, "retrying")

    # ------------------------------------------------------------------ one frame

    def apply_frame(
        self,
        texts: dict[str, str],
        events: Iterable[object],
        strategy_of: Callable[[str], Strategy],
    ) -> None:
        """Draw one frame: new text per cell first, then the cell events in order."""
        store = self.store
        if texts:
            store.append_texts(texts)
        with store.batched():  # the frame's cell changes told once (see CellStore.batched)
            pairs = self._apply_events(store, events, strategy_of)
        if pairs:  # the ranking once per frame, not once per comparison
            self._add_pairs(pairs)

    def _apply_events(
        self, store: CellStore, events: Iterable[object], strategy_of: Callable[[str], Strategy]
    ) -> list[PairwiseResult]:
        """Write one frame's cell events into the store; the judge's pairwise results."""
        pairs: list[PairwiseResult] = []
        for event in events:
            if isinstance(event, ev.CellStarted):
                streaming = strategy_of(event.run_id).streams
                detail = "waiting for first token" if streaming else "waiting for response"
                if event.attempt > 1:
                    detail = f"{detail} (attempt {event.attempt})"
                store.set_status(event.cell_id, Phase.RUNNING, detail)
            elif isinstance(event, ev.FirstToken):
                store.set_status(event.cell_id, Phase.STREAMING)
            elif isinstance(event, ev.CellRetrying):
                store.set_status(
                    event.cell_id,
                    Phase.RETRYING,
                    f"retrying {event.attempt}/{event.max_attempts} in {event.delay:.1f} s",
                )
                store.set_error(event.cell_id, event.reason)
            elif isinstance(event, ev.CellFinished):
                store.set_final_text(event.cell_id, event.text, markdown=True)
                store.set_error(event.cell_id, "")
                store.set_status(event.cell_id, Phase.DONE)
                store.set_metrics(event.cell_id, event.metrics)
            elif isinstance(event, ev.CellFailed):
                store.set_ended(event.cell_id, Phase.FAILED, event.message, event.metrics)
            elif isinstance(event, ev.CellCancelled):
                store.set_ended(event.cell_id, Phase.CANCELLED, event.reason, event.metrics)
            elif isinstance(event, ev.CellChecked):
                store.set_checks(event.cell_id, event.results)
            elif isinstance(event, ev.JudgeEnded):
                if event.verdict is not None:
                    store.set_judge(event.key, event.verdict)
                elif event.pair is not None:
                    pairs.append(event.pair)
        return pairs
