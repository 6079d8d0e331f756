"""The results grid: one row per input, one column per model, one :class:`CellPane` per cell.

Panes are created lazily. Every cell's state (status, text, error, metrics) lives in the
:class:`~gui.qt.widgets.cell_store.CellStore` that all layouts of the Results tab share; the
grid only builds panes for the cells in or near the viewport (rows and columns: a sweep with
repeats has 60 columns, a row of which is 60 panes), applying the stored state when a pane
materialises and releasing panes that scrolled far away.
Building and showing a pane is the expensive part (docs/performance-notes.md), so 10,000 rows x
2 models stay as cheap as the few rows on screen; the window talks to the grid by cell id and never needs to know
whether a pane exists. Panes are built a few milliseconds' worth per loop turn, those in view
first, so the window paints between two batches: showing the Grid over a big run, or coming
back from blind mode, is several short steps, never one long freeze.

A hidden Grid (another layout shown, :meth:`ResultsGrid.set_dormant`) keeps its panes but
does not touch them: it notes which cells changed and brings those panes up to date when it is
shown again, in the same batches.

Rows have one height (S/M/L in the Results toolbar, or drag any row's bottom border), so a
row's position is ``row * row_height`` and the canvas can be sized without measuring
anything. Columns share the viewport's width (no sideways scroll with four models at
1360 px); the scroll bar appears only when the user asks for wider columns
(:meth:`ResultsGrid.set_column_width`). (Qt caps a widget at 16,777,215 px, which at 220 px a
row is about 76,000 rows.) The model-name header sits in the scroll area's top viewport
margin, the way ``QTableView`` places its ``QHeaderView``, so it stays visible while the
rows scroll and follows the horizontal scroll bar. A run whose cells repeat heads each group
of samples with its run column's label (``model · t=0.7``) once, over the samples' numbers
(``#1``, ``#2``...), as Tiles do, rather than repeating the whole label over every sample.

The grid's per-cell methods (``set_status``, ``append_texts``...) write to the store, and
the grid draws what the store says changed, so a caller may write to either.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterator
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, QPoint, QRect, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QMouseEvent
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QWidget

from gui.core.metrics import CellMetrics
from gui.core.runner import Phase
from gui.core.text import cut_text
from gui.qt.widgets.cell_pane import CellPane, ElidedLabel, markdown_to_plain
from gui.qt.widgets.cell_store import CellState, CellStore, Change

#: What the grid says before the first run.
EMPTY_HINT = "Write a prompt, add inputs and press Ctrl+Enter"

_ROW_LABEL_CHARS = 400  # longer inputs are cut (full text in the tooltip)
_MAX_SELECTION = 2

#: Seconds of a loop turn a hidden grid spends building its new header's labels.
HEADER_SLICE_S = 0.004
#: A dormant grid's note that text arrived for a cell (beside the store's Change flags).
_APPENDED = 1 << 20


@dataclass(slots=True)
class _LiveRow:
    """The widgets of one materialised row: its label, and panes for the columns in or near
    the viewport (by column)."""

    widget: QWidget
    label: QLabel
    panes: dict[int, CellPane]


class ResultsGrid(QScrollArea):
    """Rows = inputs, columns = models; panes are built only for rows near the viewport.

    Args:
        parent: The parent widget.
        store: The cells to show (shared with the other layouts); a store of its own
            when none is given.

    Signals:
        cancel_requested(str): Cancel pressed on a pane; carries the cell id.
        retry_requested(str): Retry pressed on a pane; carries the cell id.
        cell_activated(str): a pane's title or frame double-clicked, or Enter on a pane.
        selection_changed(list): the Ctrl+clicked panes (at most two, oldest first).
        diff_requested(str): "Diff with…" in a pane's menu; carries the cell id.
        rating_requested(str, str, int): Rate in a pane's menu: cell id, action, stars.
        row_height_changed(int): the rows' height changed (buttons or a border drag).
        columns_fitted_changed(bool): the columns fit the window again (``True``), or
            were made wider than it (``False``).

    Every per-cell method takes a cell id from the last :meth:`set_grid`; ids the grid
    does not know (a late event of a replaced run) are ignored.
    """

    cancel_requested = Signal(str)
    retry_requested = Signal(str)
    cell_activated = Signal(str)
    selection_changed = Signal(list)
    diff_requested = Signal(str)
    rating_requested = Signal(str, str, int)
    row_height_changed = Signal(int)
    columns_fitted_changed = Signal(bool)

    #: Default row height in pixels.
    ROW_HEIGHT = 220
    #: Lowest row height (a pane's minimum plus the gaps).
    MIN_ROW_HEIGHT = 120
    #: Columns share the viewport width equally but never get narrower than this: four
    #: models and a row-label column fit a 1360 px window's Results tab.
    MIN_COLUMN_WIDTH = 200
    #: Pixels above a row's bottom edge where a drag resizes the rows.
    RESIZE_GRIP = 6
    #: Widest the row-label column gets.
    MAX_LABEL_WIDTH = 160
    #: Pixels of space around each pane.
    GAP = 4
    #: Pixels per wheel/arrow step: pixel scrolling, small enough to read while scrolling.
    SCROLL_STEP = 40
    #: Rows built beyond each edge of the viewport, so panes exist before they show.
    OVERSCAN_ROWS = 1
    #: Rows kept beyond the overscan before release, so scrolling back and forth by a
    #: little never rebuilds the same panes.
    KEEP_ROWS = 2
    #: Columns built beyond each side of the viewport, and kept beyond those.
    OVERSCAN_COLUMNS = 1
    KEEP_COLUMNS = 2
    #: A loop turn stops building panes once it has spent this long on them (at least one
    #: each turn); the rest come in the next turns, after a paint.
    BUILD_SLICE_MS = 8.0

    def __init__(self, parent: QWidget | None = None, store: CellStore | None = None) -> None:
        super().__init__(parent)
        self._store = store if store is not None else CellStore(self)
        self._live: dict[int, _LiveRow] = {}
        self._panes: dict[str, CellPane] = {}
        self._header_labels: list[ElidedLabel] = []
        # A repeated run's group labels, each over its samples: (label, first, last column).
        self._group_headers: list[tuple[ElidedLabel, int, int]] = []
        self._row_height = self.ROW_HEIGHT
        self._label_width = 0
        self._column_width = self.MIN_COLUMN_WIDTH
        self._wanted_column_width: int | None = None  # None: fit the viewport's width
        self._selection: list[str] = []
        self._drag: tuple[int, int] | None = None  # (global y at press, height at press)
        self._dormant = False
        self._header_stale = False  # the store's shape changed while dormant: header not built
        self._header_steps: Iterator[None] | None = None  # its build, while dormant
        self._header_timer = QTimer(self)
        self._header_timer.setSingleShot(True)
        self._header_timer.setInterval(0)
        self._header_timer.timeout.connect(self._on_header_timer_timeout)
        self._in_relayout = False
        self._relayout_again = False
        self._raw = False
        self._queue: list[tuple[int, int]] = []  # (row, column) panes to build or bring up to date
        self._dirty: dict[str, int] = {}  # kept panes' cells changed since drawn: what changed
        self._build_ui()
        store_ = self._store
        store_.shape_changed.connect(self._on_store_shape_changed)
        store_.all_status_changed.connect(self._on_store_all_status_changed)
        store_.texts_appended.connect(self._on_store_texts_appended)
        store_.cell_changed.connect(self._on_store_cell_changed)
        store_.cells_changed.connect(self._on_store_cells_changed)
        store_.read_only_changed.connect(self._on_store_read_only_changed)
        if not store_.is_empty():
            self._on_store_shape_changed()

    # ----------------------------------------------------------------------------- UI

    def _build_ui(self) -> None:
        self.setObjectName("resultsGrid")
        self.setFrameShape(QFrame.Shape.NoFrame)
        # The canvas is sized by hand (rows x fixed height), never stretched to the view.
        self.setWidgetResizable(False)
        self._canvas = QWidget()
        self._canvas.setObjectName("resultsCanvas")
        self._canvas.resize(0, 0)
        self.setWidget(self._canvas)

        vbar, hbar = self.verticalScrollBar(), self.horizontalScrollBar()
        vbar.setSingleStep(self.SCROLL_STEP)
        hbar.setSingleStep(self.SCROLL_STEP)
        vbar.valueChanged.connect(self._on_vertical_scrollbar_value_changed)
        hbar.valueChanged.connect(self._on_horizontal_scrollbar_value_changed)

        # Lives in the top viewport margin: outside the scrolled area, so it stays put.
        self._header = QWidget(self)
        self._header.setObjectName("resultsHeader")
        self._header_strip = QWidget(self._header)
        self._header_strip.setObjectName("resultsHeaderStrip")
        # The gaps between column names are the columns' resize grips (see eventFilter).
        self._header_strip.setMouseTracking(True)
        self._header_strip.installEventFilter(self)
        self._column_drag: tuple[int, int] | None = None  # (global x at press, width then)
        self._header_line = self.fontMetrics().height() + 10
        self._header_height = self._header_line
        self._header.hide()

        self._empty_hint = QLabel(EMPTY_HINT, self.viewport())
        self._empty_hint.setObjectName("emptyHint")
        self._empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._empty_hint.setWordWrap(True)
        self._empty_hint.setStyleSheet("QLabel#emptyHint { color: palette(placeholder-text); }")
        self.viewport().installEventFilter(self)

        # Builds the queued panes a slice at a time; 0 ms: the next loop turn, after the
        # paint that the last slice's panes asked for.
        self._build_timer = QTimer(self)
        self._build_timer.setSingleShot(True)
        self._build_timer.setInterval(0)
        self._build_timer.timeout.connect(self._on_build_timer_timeout)

    # ------------------------------------------------------------------------- grid shape

    @property
    def store(self) -> CellStore:
        """The cells the grid shows."""
        return self._store

    def set_grid(
        self,
        row_labels: list[str],
        col_labels: list[str],
        cell_ids: list[list[str]],
        titles: list[list[str]] | None = None,
    ) -> None:
        """Replace the grid: ``cell_ids[r][c]`` is the cell of input ``r`` and model ``c``.

        Args:
            row_labels: One label per input row (shown left of the row).
            col_labels: One label per model (shown in the sticky header).
            cell_ids: Cell ids, ``len(row_labels)`` lists of ``len(col_labels)`` each.
            titles: Pane titles in the same shape; default ``"<row> × <column>"``.

        Raises:
            ValueError: the shapes do not match.
        """
        self._store.set_shape(row_labels, col_labels, cell_ids, titles)

    def row_label(self, row: int) -> str:
        """The label shown left of input row ``row`` (with its number if repeated)."""
        return self._store.row_label(row)

    def set_read_only(self, read_only: bool) -> None:
        """Show a past run: panes keep Copy but offer no Cancel or Retry."""
        self._store.set_read_only(read_only)

    def set_raw(self, raw: bool) -> None:
        """Show every answer's Markdown source as plain text (``True``) or rendered."""
        self._raw = raw
        for pane in self._panes.values():
            pane.set_raw(raw)

    def is_raw(self) -> bool:
        """Whether answers are shown as raw text (see :meth:`set_raw`)."""
        return self._raw

    def is_read_only(self) -> bool:
        """Whether the grid shows a past run."""
        return self._store.is_read_only()

    def clear_grid(self) -> None:
        """Remove every pane and label and show the empty-state hint."""
        self._store.clear()

    def row_count(self) -> int:
        """Input rows in the grid."""
        return self._store.row_count()

    def column_count(self) -> int:
        """Model columns in the grid."""
        return self._store.column_count()

    def cell_ids(self) -> Iterator[str]:
        """Every cell id, row-major."""
        return self._store.cell_ids()

    def row_height(self) -> int:
        """Height of every row in pixels."""
        return self._row_height

    def set_row_height(self, height: int) -> None:
        """Change the height of every row (at least :attr:`MIN_ROW_HEIGHT`)."""
        height = max(int(height), self.MIN_ROW_HEIGHT)
        if height == self._row_height:
            return
        # Keep the row at the top of the view in place.
        top_row = self.verticalScrollBar().value() / max(self._row_height, 1)
        self._row_height = height
        self._relayout()
        self.verticalScrollBar().setValue(round(top_row * height))
        self.row_height_changed.emit(height)

    def column_width(self) -> int:
        """Current width of each model column in pixels (pane plus gaps)."""
        return self._column_width

    def set_column_width(self, width: int | None) -> None:
        """Make columns at least ``width`` px wide (the view scrolls sideways when they no
        longer fit); ``None`` fits them to the viewport again."""
        was_fitted = self._wanted_column_width is None
        self._wanted_column_width = None if width is None else max(int(width), 1)
        self._relayout()
        if (width is None) != was_fitted:
            self.columns_fitted_changed.emit(width is None)

    def set_dormant(self, dormant: bool) -> None:
        """Another layout is shown: no work per frame until woken. The built panes are kept
        but not drawn to; woken, the grid brings the panes of changed cells up to date and
        builds the missing ones, from the store (which kept everything), in slices."""
        if dormant == self._dormant:
            return
        self._dormant = dormant
        if dormant:
            self._queue = []
            self._build_timer.stop()
        elif self._header_stale:
            self._build_header()
        else:
            self._relayout()

    def is_dormant(self) -> bool:
        """Whether the grid builds no panes (another layout is shown)."""
        return self._dormant

    def visible_cell_ids(self) -> list[str]:
        """Cells whose whole pane lies inside the viewport."""
        area = self.viewport().rect()
        inside: list[str] = []
        for cell_id, pane in self._panes.items():
            if not pane.isVisible():
                continue
            top_left = pane.mapTo(self.viewport(), QPoint(0, 0))
            if area.contains(QRect(top_left, pane.size())):
                inside.append(cell_id)
        return inside

    # ------------------------------------------------------------------ selection

    def selection(self) -> list[str]:
        """The Ctrl+clicked cells, oldest first (at most two)."""
        return list(self._selection)

    def clear_selection(self) -> None:
        """Select nothing."""
        if self._selection:
            old, self._selection = self._selection, []
            for cell_id in old:
                self._show_selected(cell_id)
            self.selection_changed.emit([])

    def toggle_selected(self, cell_id: str) -> None:
        """Add ``cell_id`` to the selection (dropping the oldest past two), or remove it."""
        if cell_id not in self._store:
            return
        changed = [cell_id]
        if cell_id in self._selection:
            self._selection.remove(cell_id)
        else:
            self._selection.append(cell_id)
            if len(self._selection) > _MAX_SELECTION:
                changed.append(self._selection.pop(0))
        for changed_id in changed:
            self._show_selected(changed_id)
        self.selection_changed.emit(list(self._selection))

    def _show_selected(self, cell_id: str) -> None:
        pane = self._panes.get(cell_id)
        if pane is None:
            return
        # The pane paints its own outline from its "selected" property and repaints when
        # the property changes (CellPane.event); no style sheet needs re-polishing.
        pane.setProperty("selected", cell_id in self._selection)

    # --------------------------------------------------------------------- panes by id

    def pane(self, cell_id: str) -> CellPane | None:
        """The pane of ``cell_id`` if it is built or waiting to be (then built now, up to
        date), else ``None``."""
        pane = self._panes.get(cell_id)
        if pane is not None:
            if cell_id in self._dirty:
                self._resync(pane)
            return pane
        where = self._store.where(cell_id)
        if where is None or where not in self._queue:
            return None
        self._queue.remove(where)
        live = self._live.get(where[0])
        return self._build_pane(where[0], where[1], live) if live is not None else None

    def materialized_cell_ids(self) -> list[str]:
        """Cells that currently have a pane."""
        return list(self._panes)

    def pending_panes(self) -> int:
        """Panes waiting to be built or brought up to date (the next loop turns do them)."""
        return len(self._queue)

    def scroll_to_cell(self, cell_id: str) -> CellPane | None:
        """Scroll until ``cell_id`` is in view and return its (now built) pane."""
        where = self._store.where(cell_id)
        if where is None:
            return None
        r, c = where
        half_w, half_h = self._column_width // 2, self._row_height // 2
        x = self._label_width + c * self._column_width + half_w
        self.ensureVisible(x, r * self._row_height + half_h, half_w, half_h)
        self._sync_rows()
        return self.pane(cell_id)

    # ------------------------------------------------------------ per-cell state, by id

    def set_status(self, cell_id: str, phase: Phase, detail: str = "") -> None:
        """Set the phase of a cell (see :meth:`CellPane.set_status`)."""
        self._store.set_status(cell_id, phase, detail)

    def set_all_status(self, phase: Phase, detail: str = "") -> None:
        """Set the phase of every cell at once, e.g. "waiting for a slot" when a run starts.

        One call instead of one :meth:`set_status` per cell: 20,000 cells cost what the
        visible panes do.
        """
        self._store.set_all_status(phase, detail)

    def append_texts(self, texts: dict[str, str]) -> None:
        """Append this frame's streamed text for every cell that got some."""
        self._store.append_texts(texts)

    def set_final_text(self, cell_id: str, text: str, markdown: bool = True) -> None:
        """Show a cell's complete answer (Markdown rendered once unless ``markdown=False``)."""
        self._store.set_final_text(cell_id, text, markdown)

    def set_error(self, cell_id: str, message: str) -> None:
        """Show a one-line error on a cell, keeping its partial text."""
        self._store.set_error(cell_id, message)

    def set_metrics(self, cell_id: str, metrics: CellMetrics | None) -> None:
        """Show a cell's metrics (``None`` clears them)."""
        self._store.set_metrics(cell_id, metrics)

    def set_notice(self, cell_id: str, notice: str) -> None:
        """Show one line about a cell's text on its footer (``""`` removes it); a past run's
        cells carry the notice stored with them."""
        self._store.set_notice(cell_id, notice)

    def cell_notice(self, cell_id: str) -> str:
        """The notice of a cell, or ``""``."""
        return self._store.notice(cell_id)

    def reset_cell(self, cell_id: str) -> None:
        """Back to queued with no text, error or metrics (before a retry)."""
        self._store.reset_cell(cell_id)

    def cell_text(self, cell_id: str) -> str:
        """The plain text a cell shows (its Markdown rendered, unless shown raw)."""
        pane = self._panes.get(cell_id)
        if pane is not None and cell_id not in self._dirty:
            return pane.text()
        state = self._store.peek(cell_id)
        if state is None:
            return ""
        if self._raw or not state.markdown:
            return state.source()
        return markdown_to_plain(state.source())

    def cell_source_text(self, cell_id: str) -> str:
        """The text exactly as received (the Markdown source once final)."""
        return self._store.source_text(cell_id)

    def cell_status(self, cell_id: str) -> str:
        """The phase of a cell, or ``""`` for an unknown id."""
        status = self._store.status(cell_id)
        return status[0] if status is not None else ""

    def cell_error(self, cell_id: str) -> str:
        """The error of a cell, or ``""``."""
        return self._store.error(cell_id)

    # ------------------------------------------------------------------ store changes

    def _on_store_shape_changed(self) -> None:
        self._queue = []
        self._build_timer.stop()
        for row in list(self._live):
            self._release_row(row)
        if self._selection:
            self._selection = []
            self.selection_changed.emit([])
        for label in [*self._header_labels, *(g[0] for g in self._group_headers)]:
            label.hide()
            label.deleteLater()
        self._header_labels, self._group_headers = [], []
        self._header_steps = None
        self._header_timer.stop()
        if self._dormant:
            # Built a slice at a time after this turn, and whatever is left when the grid is
            # shown: a run's start in another layout built the hidden grid's 72 column labels
            # in its Run press (12 of 19 ms for 600 cells), and building them all at the
            # first Grid switch made that switch a 27 ms turn.
            self._header_stale = True
            self._header_steps = self._header_build_steps()
            self._header_timer.start()
            return
        self._build_header()

    def _build_header(self) -> None:
        """The column labels (and group labels) of the store's shape, then the layout; the
        rest of a build begun while the grid was hidden, if one is."""
        steps, self._header_steps = self._header_steps, None
        self._header_timer.stop()
        for _ in steps if steps is not None else self._header_build_steps():
            pass
        self._header_stale = False
        self._finish_header()

    def _on_header_timer_timeout(self) -> None:
        steps = self._header_steps
        if steps is None:
            return
        started = time.perf_counter()
        for _ in steps:
            if time.perf_counter() - started >= HEADER_SLICE_S:
                self._header_timer.start()
                return
        self._header_steps = iter(())  # built: laid out when the grid is shown

    def _header_build_steps(self) -> Iterator[None]:
        """Build the header's labels, yielding after each."""
        store = self._store
        self._label_width = self._measure_label_width()
        grouped = store.is_grouped()
        self._header_height = self._header_line * (2 if grouped else 1)
        group_of = store.group_of
        sample = 0
        for c, text in enumerate(store.column_labels()):
            if grouped:
                # "#2" under its group's label; the whole column label on hover.
                sample = sample + 1 if c and group_of(c) == group_of(c - 1) else 1
                label = ElidedLabel(f"#{sample}", self._header_strip)
                label.setToolTip(text)
            else:
                label = ElidedLabel(text, self._header_strip)
            label.setObjectName("columnHeader")
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            font = label.font()
            font.setBold(not grouped)
            label.setFont(font)
            label.show()
            self._header_labels.append(label)
            yield
        if grouped:
            self._build_group_headers()

    def _finish_header(self) -> None:
        """Show or hide the header and lay the grid out for the store's shape."""
        has_grid = not self._store.is_empty()
        self._canvas.resize(0, 0)  # also brings both scroll bars back to 0
        self._empty_hint.setVisible(not has_grid)
        self._header.setVisible(has_grid)
        self.setViewportMargins(0, self._header_height if has_grid else 0, 0, 0)
        self._relayout()

    def _build_group_headers(self) -> None:
        """One label per group of samples, spanning them, above their numbers."""
        store = self._store
        labels, n_cols = store.group_labels(), store.column_count()
        first = 0
        while first < n_cols:
            group = store.group_of(first)
            last = first
            while last + 1 < n_cols and store.group_of(last + 1) == group:
                last += 1
            label = ElidedLabel(labels[group], self._header_strip)
            label.setObjectName("columnGroupHeader")
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            font = label.font()
            font.setBold(True)
            label.setFont(font)
            # The line under the label shows how far the group reaches (Tiles' bracket).
            label.setStyleSheet(
                "QLabel#columnGroupHeader { border-width: 0px 0px 1px 0px; border-style: solid;"
                " border-color: palette(mid); }"
            )
            label.show()
            self._group_headers.append((label, first, last))
            first = last + 1

    def _on_store_all_status_changed(self) -> None:
        if self._dormant:
            for cell_id in self._panes:
                self._dirty[cell_id] = self._dirty.get(cell_id, 0) | Change.STATUS
            return
        phase, detail = self._store.default_status()
        for cell_id, pane in self._panes.items():
            if cell_id in self._dirty:
                self._dirty[cell_id] |= Change.STATUS
            else:
                pane.set_status(phase, detail)

    def _on_store_texts_appended(self, texts: dict[str, str]) -> None:
        panes, dirty = self._panes, self._dirty
        # A hidden grid, or a pane waiting to be brought up to date: noted, drawn later.
        late = panes.keys() if self._dormant else dirty.keys()
        for cell_id, text in texts.items():
            pane = panes.get(cell_id)
            if pane is None:
                continue
            if cell_id in late:
                dirty[cell_id] = dirty.get(cell_id, 0) | _APPENDED
            else:
                pane.append_text(text)

    def _on_store_cell_changed(self, cell_id: str, change: int) -> None:
        pane = self._panes.get(cell_id)
        if pane is None:
            return
        if self._dormant or cell_id in self._dirty:
            self._dirty[cell_id] = self._dirty.get(cell_id, 0) | change
            return
        state = self._store.peek(cell_id)
        if state is None:
            return
        if change & Change.RESET:
            pane.reset()
            return
        _apply_change(pane, state, change)

    def _on_store_cells_changed(self, changes: dict[str, int]) -> None:
        panes = self._panes  # panes exist only near the viewport: most cells have none
        for cell_id, change in changes.items():
            if cell_id in panes:
                self._on_store_cell_changed(cell_id, change)

    def _on_store_read_only_changed(self, read_only: bool) -> None:
        for pane in self._panes.values():
            pane.set_read_only(read_only)

    # ---------------------------------------------------------------- layout and laziness

    def _measure_label_width(self) -> int:
        labels = [label for label in self._store.row_labels()[:1000] if label]
        if not labels:
            return 0
        metrics = self.fontMetrics()
        # The 20 longest only: width follows length closely enough for labels that are
        # elided anyway, and 1,000 measurements showed at a big run's start.
        longest = heapq.nlargest(20, labels, key=len)
        widest = max(metrics.horizontalAdvance(label[:_ROW_LABEL_CHARS]) for label in longest)
        return max(60, min(self.MAX_LABEL_WIDTH, widest + 16))

    def _relayout(self) -> None:
        """Size the canvas to the viewport and place everything; repeats while the scroll
        bars appearing or vanishing change the viewport under it."""
        if self._header_stale:
            return  # laid out when woken, with the new shape's header
        if self._in_relayout:
            self._relayout_again = True
            return
        self._in_relayout = True
        try:
            for _ in range(3):
                self._relayout_again = False
                self._relayout_once()
                if not self._relayout_again:
                    break
        finally:
            self._in_relayout = False
        if self._queue and not self._dormant:
            self._build_some()  # one slice, once the geometry has settled

    def _relayout_once(self) -> None:
        viewport = self.viewport()
        self._empty_hint.setGeometry(viewport.rect().adjusted(24, 24, -24, -24))
        n_rows, n_cols = self._store.row_count(), self._store.column_count()
        if not (n_rows and n_cols):
            return
        available = viewport.width() - self._label_width
        self._column_width = max(self.MIN_COLUMN_WIDTH, available // n_cols)
        if self._wanted_column_width is not None:
            self._column_width = max(self._column_width, self._wanted_column_width)
        width = self._label_width + n_cols * self._column_width
        self._canvas.resize(width, n_rows * self._row_height)
        self._place_header()
        for row, live in self._live.items():
            self._place_row(row, live)
        self._sync_rows()

    def _place_header(self) -> None:
        area = self.viewport().geometry()
        height = self._header_height
        self._header.setGeometry(area.x(), area.y() - height, area.width(), height)
        self._header_strip.setGeometry(
            -self.horizontalScrollBar().value(), 0, self._canvas.width(), height
        )
        line = self._header_line
        top = line if self._group_headers else 0  # the columns' own line
        for c, label in enumerate(self._header_labels):
            x = self._label_width + c * self._column_width + self.GAP
            label.setGeometry(x, top, self._column_width - 2 * self.GAP, height - top)
        for label, first, last in self._group_headers:
            x = self._label_width + first * self._column_width + self.GAP
            span = (last - first + 1) * self._column_width - 2 * self.GAP
            label.setGeometry(x, 0, span, line)

    def _place_row(self, row: int, live: _LiveRow) -> None:
        gap, height = self.GAP, self._row_height
        live.widget.setGeometry(0, row * height, self._canvas.width(), height)
        live.label.setGeometry(
            gap + 2, gap, max(self._label_width - 2 * gap - 2, 0), height - 2 * gap
        )
        for c, pane in live.panes.items():
            self._place_pane(c, pane)

    def _place_pane(self, col: int, pane: CellPane) -> None:
        gap = self.GAP
        x = self._label_width + col * self._column_width + gap
        pane.setGeometry(x, gap, self._column_width - 2 * gap, self._row_height - 2 * gap)

    def _visible_rows(self) -> range:
        top = self.verticalScrollBar().value()
        first = top // self._row_height
        last = (top + max(self.viewport().height(), 1) - 1) // self._row_height
        return range(first, min(last, self._store.row_count() - 1) + 1)

    def _visible_columns(self) -> range:
        n_cols = self._store.column_count()
        left = self.horizontalScrollBar().value() - self._label_width
        right = left + max(self.viewport().width(), 1) - 1
        width = max(self._column_width, 1)
        first = max(0, left // width)
        last = min(n_cols - 1, max(right, 0) // width)
        return range(first, last + 1)

    def _sync_rows(self) -> None:
        """Build the rows and columns in or near the viewport (those in view first, a slice
        of them now and the rest in the next loop turns); release those far from it."""
        store = self._store
        n_rows, n_cols = store.row_count(), store.column_count()
        if store.is_empty() or self._dormant:
            return
        rows, cols = self._visible_rows(), self._visible_columns()
        want_rows = range(
            max(0, rows.start - self.OVERSCAN_ROWS), min(n_rows, rows.stop + self.OVERSCAN_ROWS)
        )
        want_cols = range(
            max(0, cols.start - self.OVERSCAN_COLUMNS),
            min(n_cols, cols.stop + self.OVERSCAN_COLUMNS),
        )
        keep_rows = range(want_rows.start - self.KEEP_ROWS, want_rows.stop + self.KEEP_ROWS)
        keep_cols = range(want_cols.start - self.KEEP_COLUMNS, want_cols.stop + self.KEEP_COLUMNS)
        for row in [r for r in self._live if r not in keep_rows]:
            self._release_row(row)
        for live in self._live.values():
            for col in [c for c in live.panes if c not in keep_cols]:
                self._release_pane(live, col)
        for row in want_rows:
            if row not in self._live:
                self._materialise_row(row)
        live_rows, dirty = self._live, self._dirty

        def needs_work(row: int, col: int) -> bool:
            pane = live_rows[row].panes.get(col)
            return pane is None or pane.cell_id in dirty

        # In view first, then the overscan, then kept panes that changed while hidden.
        queue = [(r, c) for r in rows for c in cols if needs_work(r, c)]
        seen = set(queue)
        queue += [
            (r, c) for r in want_rows for c in want_cols if (r, c) not in seen and needs_work(r, c)
        ]
        if dirty:
            seen.update(queue)
            queue += [
                (r, c)
                for r, live in live_rows.items()
                for c, pane in live.panes.items()
                if pane.cell_id in dirty and (r, c) not in seen
            ]
        self._queue = queue
        if not self._in_relayout:  # else once the relayout is done
            self._build_some()

    def _build_some(self, timed: bool = False) -> None:
        """Build (or bring up to date) queued panes until the slice's time is spent; the
        timer comes back for the rest after the loop has painted.

        One slice per loop turn: while the timer waits for its turn (a slice ran since the
        last one), a call from a relayout or a scroll only leaves the new queue to it. The
        Grid shown over a finished sweep relaid itself out three times in its first turn
        (the scroll bars and header appearing), each with its own slice.
        """
        if not timed and self._build_timer.isActive():
            return
        queue, live_rows = self._queue, self._live
        started = time.perf_counter()
        budget = self.BUILD_SLICE_MS / 1000
        while queue:
            row, col = queue.pop(0)
            live = live_rows.get(row)
            if live is None:
                continue
            pane = live.panes.get(col)
            if pane is None:
                self._build_pane(row, col, live)
            elif pane.cell_id in self._dirty:
                self._resync(pane)
            else:
                continue
            if time.perf_counter() - started >= budget:
                break
        if queue and not self._dormant:
            self._build_timer.start()

    def _on_build_timer_timeout(self) -> None:
        if not self._dormant:
            self._build_some(timed=True)

    def _materialise_row(self, row: int) -> None:
        """A row's strip and label; its panes come from the queue (:meth:`_build_pane`)."""
        store = self._store
        widget = QWidget(self._canvas)
        widget.setObjectName("resultsRow")
        # The strip under the panes is the row's resize grip (see eventFilter).
        widget.setMouseTracking(True)
        widget.installEventFilter(self)
        text = store.row_label(row)
        label = QLabel(widget)
        label.setObjectName("rowLabel")
        label.setTextFormat(Qt.TextFormat.PlainText)
        label.setWordWrap(True)
        label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        label.setText(cut_text(text, _ROW_LABEL_CHARS))
        label.setToolTip(text)
        label.setVisible(self._label_width > 0)
        live = _LiveRow(widget, label, {})
        self._live[row] = live
        self._place_row(row, live)
        widget.show()

    def _build_pane(self, row: int, col: int, live: _LiveRow) -> CellPane:
        store = self._store
        cell_id = store.cell_id(row, col)
        pane = CellPane(cell_id, store.title(row, col), live.widget)
        pane.set_title_visible(False)  # the row label and column header name it
        if store.is_read_only():
            pane.set_read_only(True)
        if self._raw:
            pane.set_raw(True)
        pane.cancel_requested.connect(self.cancel_requested)
        pane.retry_requested.connect(self.retry_requested)
        pane.diff_requested.connect(self.diff_requested)
        pane.rating_requested.connect(self.rating_requested)
        pane.installEventFilter(self)  # double-click, Enter and Ctrl+click on the pane
        if cell_id in self._selection:
            pane.setProperty("selected", True)
        self._panes[cell_id] = pane
        live.panes[col] = pane
        self._place_pane(col, pane)
        # State after geometry, so text is laid out once at the final width.
        state = store.peek(cell_id)
        if state is not None:
            _apply_state(pane, state)
        else:
            default = store.default_status()
            if default != (Phase.QUEUED, ""):  # else untouched: a new pane is already "queued"
                pane.set_status(*default)
        pane.show()
        return pane

    def _resync(self, pane: CellPane) -> None:
        """Bring a kept pane up to what its cell became while the grid was hidden."""
        cell_id = pane.cell_id
        change = self._dirty.pop(cell_id, 0)
        store = self._store
        state = store.peek(cell_id)
        if change & Change.RESET:
            pane.reset()
            if state is not None:
                _apply_state(pane, state)
            return
        if state is None:  # no record: only the run-wide status can have changed
            status = store.status(cell_id)
            if status is not None:
                pane.set_status(*status)
            return
        _apply_change(pane, state, change)

    def _release_pane(self, live: _LiveRow, col: int) -> None:
        pane = live.panes.pop(col)
        self._panes.pop(pane.cell_id, None)
        self._dirty.pop(pane.cell_id, None)
        pane.hide()
        pane.deleteLater()

    def _release_row(self, row: int) -> None:
        live = self._live.pop(row)
        for pane in live.panes.values():
            self._panes.pop(pane.cell_id, None)
            self._dirty.pop(pane.cell_id, None)
        live.widget.hide()
        live.widget.deleteLater()

    # ------------------------------------------------------------------- events and slots

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        # The viewport resizes when a scroll bar appears or the window resizes.
        if watched is self.viewport() and kind == QEvent.Type.Resize:
            self._relayout()
        elif isinstance(watched, CellPane) and self._pane_event(watched, event):
            return True
        elif (
            # By name: Qt calls this filter for the scroll area's own parts before
            # _build_ui has made the strip.
            isinstance(watched, QWidget)
            and watched.objectName() == "resultsHeaderStrip"
            and isinstance(event, QMouseEvent)
            and self._header_event(event)
        ):
            return True
        elif (
            isinstance(watched, QWidget)
            and watched.objectName() == "resultsRow"
            and isinstance(event, QMouseEvent)
            and self._row_event(watched, event)
        ):
            return True
        return super().eventFilter(watched, event)

    def _pane_event(self, pane: CellPane, event: QEvent) -> bool:
        """Clicks and keys a pane's own widgets left unhandled (its title, chip, frame)."""
        kind = event.type()
        if kind == QEvent.Type.MouseButtonPress and isinstance(event, QMouseEvent):
            if (
                event.button() == Qt.MouseButton.LeftButton
                and event.modifiers() & Qt.KeyboardModifier.ControlModifier
            ):
                self.toggle_selected(pane.cell_id)
                return True
        elif kind == QEvent.Type.MouseButtonDblClick and isinstance(event, QMouseEvent):
            if event.button() == Qt.MouseButton.LeftButton and not (
                event.modifiers() & Qt.KeyboardModifier.ControlModifier
            ):
                self.cell_activated.emit(pane.cell_id)
                return True
        elif kind == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.cell_activated.emit(pane.cell_id)
                return True
        return False

    def _on_column_border(self, x: float) -> bool:
        """Whether ``x`` (header strip coordinates) is on the border right of a column."""
        n_cols = self._store.column_count()
        if not n_cols:
            return False
        offset = x - self._label_width
        nearest = round(offset / self._column_width)
        return 1 <= nearest <= n_cols and abs(offset - nearest * self._column_width) <= self.GAP

    def _header_event(self, event: QMouseEvent) -> bool:
        """Dragging the border right of a column name widens or narrows every column
        (sideways scrolling once they pass the viewport); a double-click there fits them
        to the window again."""
        kind = event.type()
        x = event.position().x()
        on_border = self._on_column_border(x)
        if kind == QEvent.Type.MouseButtonDblClick and on_border:
            self.set_column_width(None)
            return True
        if kind == QEvent.Type.MouseButtonPress and on_border:
            self._column_drag = (round(event.globalPosition().x()), self._column_width)
            return True
        if kind == QEvent.Type.MouseMove:
            if self._column_drag is not None:
                start, width = self._column_drag
                wanted = width + round(event.globalPosition().x()) - start
                self.set_column_width(max(wanted, self.MIN_COLUMN_WIDTH))
                return True
            if on_border:
                self._header_strip.setCursor(Qt.CursorShape.SplitHCursor)
            else:
                self._header_strip.unsetCursor()
        elif kind == QEvent.Type.MouseButtonRelease and self._column_drag is not None:
            self._column_drag = None
            return True
        return False

    def _row_event(self, row: QWidget, event: QMouseEvent) -> bool:
        """Dragging the strip under a row's panes resizes every row."""
        kind = event.type()
        y = event.position().y()
        on_grip = y >= row.height() - self.RESIZE_GRIP
        if kind == QEvent.Type.MouseButtonPress and on_grip:
            self._drag = (round(event.globalPosition().y()), self._row_height)
            return True
        if kind == QEvent.Type.MouseMove:
            if self._drag is not None:
                start, height = self._drag
                self.set_row_height(height + round(event.globalPosition().y()) - start)
                return True
            if on_grip:
                row.setCursor(Qt.CursorShape.SplitVCursor)
            else:
                row.unsetCursor()
        elif kind == QEvent.Type.MouseButtonRelease and self._drag is not None:
            self._drag = None
            return True
        return False

    def _on_vertical_scrollbar_value_changed(self, _value: int) -> None:
        self._sync_rows()

    def _on_horizontal_scrollbar_value_changed(self, value: int) -> None:
        self._header_strip.move(-value, 0)
        self._sync_rows()


def _apply_state(pane: CellPane, state: CellState) -> None:
    """Bring a freshly built pane up to ``state``."""
    pane.set_status(state.phase, state.detail)
    if state.final:
        pane.set_final_text(state.source(), state.markdown)
    elif state.length:
        pane.append_text(state.source())
    if state.error:
        pane.set_error(state.error)
    if state.metrics is not None:
        pane.set_metrics(state.metrics)
    if state.notice:
        pane.set_notice(state.notice)
    if state.checks:
        pane.set_checks(state.checks)
    if state.judge is not None:
        pane.set_judge(state.judge)
    if state.rating is not None:
        pane.set_rating(state.rating)


__all__ = ["EMPTY_HINT", "ResultsGrid"]


def _apply_change(pane: CellPane, state: CellState, change: int) -> None:
    """Bring ``pane`` up to ``state`` in the parts ``change`` names: a live change from the
    store, or the changes a hidden grid saved up (``_APPENDED``: streamed text it missed)."""
    if change & Change.STATUS:
        pane.set_status(state.phase, state.detail)
    if change & Change.TEXT:
        pane.set_final_text(state.source(), state.markdown)
    elif change & _APPENDED:
        pane.append_text(state.text_since(len(pane.source_text())))
    if change & Change.ERROR:
        pane.set_error(state.error)
    if change & Change.METRICS:
        pane.set_metrics(state.metrics)
    if change & Change.NOTICE:
        pane.set_notice(state.notice)
    if change & Change.CHECKS:
        pane.set_checks(state.checks)
    if change & Change.JUDGE:
        pane.set_judge(state.judge)
    if change & Change.RATING:
        pane.set_rating(state.rating)
