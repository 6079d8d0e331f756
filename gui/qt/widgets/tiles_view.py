"""Tiles: every cell of the shown run on screen at once, as a compact painted tile.

A tile shows the cell's title in a band coloured like its status chip, the last lines of
its answer as they stream (the first lines once it is final), and one key figure (tokens/s,
latency, or the error's first words). Columns are the store's columns (models), rows its inputs. When the run has fewer
columns than the viewport has room for (one model and 50 inputs), the rows are *folded*:
the inputs continue in a second block of columns to the right, and so on, each block under
its own copy of the column headers. The fold count and tile size are chosen from the
viewport and the cell count: the largest tiles that show every cell, never smaller than
:data:`MIN_TILE_WIDTH` x :data:`MIN_TILE_HEIGHT`; below that the view scrolls vertically.
The header strip stays at the top while the tiles scroll, and each tile's title starts with
its row's label, so the input is always in view.

Performance is the point of this view: it is one viewport painted with :class:`QPainter`,
no widget per tile. The store's signals only mark tiles dirty (``update(rect)`` on the
viewport, which Qt merges into one paint per event-loop pass, that is once per frame since
the bridge delivers a frame at a time), and the paint draws only the tiles the dirty region
touches. A tile's wrapped lines are cached by the text's length and the tile's width, so
finished tiles cost nothing when the view repaints for another reason.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from PySide6.QtCore import QEvent, QPoint, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QContextMenuEvent,
    QFocusEvent,
    QFont,
    QFontMetrics,
    QGuiApplication,
    QHelpEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QPixmap,
    QRegion,
    QResizeEvent,
    QShowEvent,
)
from PySide6.QtWidgets import QAbstractScrollArea, QFrame, QMenu, QToolTip, QWidget

from gui.core.checks import pass_rate
from gui.core.judging import verdict_detail, verdict_label
from gui.core.metrics import CellMetrics
from gui.core.ratings import rating_text
from gui.core.runner import Phase
from gui.qt.resources import is_dark, status_colors
from gui.qt.widgets.cell_pane import TERMINAL_PHASES, cost_text, format_seconds, status_text
from gui.qt.widgets.cell_store import CellState, CellStore
from gui.qt.widgets.check_chips import checks_summary, pass_rate_color
from gui.qt.widgets.rating_bar import RATING_KEYS, add_rating_menu, rating_of_action

__all__ = [
    "MAX_TILE_HEIGHT",
    "MIN_COMPACT_HEIGHT",
    "MIN_COMPACT_WIDTH",
    "MIN_SLIVER_WIDTH",
    "MIN_STREAM_TEXT_WIDTH",
    "MIN_TILE_HEIGHT",
    "MIN_TILE_WIDTH",
    "TilesView",
    "key_figure",
]

#: Smallest tile: a title band, one line of answer and the figure line stay readable.
MIN_TILE_WIDTH = 110
MIN_TILE_HEIGHT = 50
#: Smallest compact tile (many cells): the title band with the figure, one line of answer.
MIN_COMPACT_WIDTH = 92
MIN_COMPACT_HEIGHT = 34
#: Narrowest a tile gets when every column must fit the width (its status colour only).
MIN_SLIVER_WIDTH = 6
#: Narrower tiles show no streaming text: a letter or two of the last line says nothing the
#: band's colour does not, and repainting 200 of them per chunk of text cost the sweep-600
#: run its Tiles paint (their status changes still repaint them).
MIN_STREAM_TEXT_WIDTH = 40
#: Tiles never grow past this: a short run's few tiles stay tiles, not panes.
MAX_TILE_WIDTH = 560
MAX_TILE_HEIGHT = 200
#: Width-to-height ratio the fold count aims for (room for a few words per line).
_ASPECT = 2.2
_GAP = 4
_FOLD_GAP = 6
_PAD = 4
_MAX_SELECTION = 2
#: One paint of dirty tiles aims to stay under this (a frame at 60 Hz is 16.7 ms, and the
#: loop has text to take in and other widgets to draw too).
_PAINT_BUDGET_S = 0.005
_MIN_TILES_PER_PAINT = 8
# One paint draws at most this many tile pictures anew, and past them only while it has
# spent less than _FRESH_BUDGET_S on them; the rest show their last picture (or the bare
# tile) and are drawn in the next frames. A new run's first paint drew all 200 of
# stream-stress-200's pictures at once (20-30 ms on the GUI thread: a dropped frame or two).
_MIN_FRESH_PER_PAINT = 64
_FRESH_BUDGET_S = 0.006
#: Dirty tiles left over wait this long (ms): one frame.
_FRAME_MS = 16
#: Tile pictures kept at most (about 30 KB each): a screenful or two of the largest runs.
_MAX_CACHED_TILES = 600
#: Streamed text is drawn at most this often (ms); a status change at once.
_TEXT_REFRESH_MS = 50
_MANY_STREAMING = 64
_NO_DELAY_REQUESTED = 1 << 30
_ERROR_WORDS = 8


#: What a tile's key figure can be (the tiles' context menu): name -> menu label.
KEY_FIGURES: dict[str, str] = {"speed": "Tokens/s", "cost": "Cost"}


def key_figure(state: CellState | None, kind: str = "speed") -> str:
    """The one figure a tile shows: the error's first words, else tokens/s (or the cost,
    for ``kind`` ``cost``), else latency; the LLM judge's score goes first once it came
    (``7/10 · 41 tok/s``).

    Args:
        state: The cell's record, ``None`` when it has none yet.
        kind: A key of :data:`KEY_FIGURES`.

    Returns:
        A few words, or ``""`` when nothing is known yet.
    """
    if state is None:
        return ""
    if state.error and state.phase in (Phase.FAILED, Phase.CANCELLED, Phase.RETRYING):
        words = state.error.split()
        head = " ".join(words[:_ERROR_WORDS])
        return head + (" …" if len(words) > _ERROR_WORDS else "")
    metrics: CellMetrics | None = state.metrics
    figure = ""
    if metrics is not None and kind == "cost":
        figure = cost_text(metrics) or ("$0" if metrics.started_at is not None else "")
    elif metrics is not None:
        tps = metrics.tokens_per_second
        if tps is not None:
            figure = f"{tps:.1f} tok/s" if tps < 10 else f"{tps:.0f} tok/s"
        elif metrics.latency is not None:
            figure = format_seconds(metrics.latency)
    if state.judge is not None:
        score = verdict_label(state.judge)
        figure = f"{score} · {figure}" if figure else score
    if state.checks:
        # The pass count leads: it is what a user scanning a tiled run compares first.
        passed = checks_summary(state.checks)
        return f"{passed} · {figure}" if figure else passed
    return figure


@dataclass(frozen=True, slots=True)
class _Fit:
    """Where tiles go: ``folds`` blocks of ``cols`` columns, ``rows_per_fold`` rows each."""

    folds: int
    cols: int
    rows_per_fold: int
    tile_w: int
    tile_h: int

    @property
    def content_height(self) -> int:
        return _GAP + self.rows_per_fold * (self.tile_h + _GAP)


def fit_tiles(width: int, height: int, rows: int, cols: int) -> _Fit:
    """The fold count and tile size for ``rows`` x ``cols`` cells in ``width`` x ``height``.

    Picks the largest tiles (measured at :data:`_ASPECT`) that show every cell; then, if
    none fit, the largest compact tiles (:data:`MIN_COMPACT_WIDTH` x
    :data:`MIN_COMPACT_HEIGHT`: one line of answer, the figure in the title band); when
    even those do not fit, the most columns of minimum-size full tiles the width allows,
    and the view scrolls.
    """
    if rows <= 0 or cols <= 0:
        return _Fit(1, max(cols, 1), 0, MIN_TILE_WIDTH, MIN_TILE_HEIGHT)
    for min_w, min_h in (
        (MIN_TILE_WIDTH, MIN_TILE_HEIGHT),
        (MIN_COMPACT_WIDTH, MIN_COMPACT_HEIGHT),
    ):
        fit, _widest = _best_fit(width, height, rows, cols, min_w, min_h)
        if fit is not None:
            return fit
    _none, widest = _best_fit(width, height, rows, cols, MIN_TILE_WIDTH, MIN_TILE_HEIGHT)
    if widest is not None:
        return widest
    # Narrower than one block of minimum tiles: one block sharing the width (the view
    # never scrolls sideways, so every column stays in view, however narrow: a sweep's 60
    # sample columns in a 1600 px window are 14 px wide, their status colours still a map
    # of the run; a floor of 24 px pushed its last model out of reach).
    tile_w = max((width - _GAP * (cols + 1)) // cols, MIN_SLIVER_WIDTH)
    return _Fit(1, cols, rows, tile_w, MIN_TILE_HEIGHT)


def _best_fit(
    width: int, height: int, rows: int, cols: int, min_w: int, min_h: int
) -> tuple[_Fit | None, _Fit | None]:
    """The largest tiles of at least ``min_w`` x ``min_h`` that show every cell (or
    ``None``), and the most columns of ``min_h``-high tiles the width allows (or ``None``)."""
    best: tuple[float, _Fit] | None = None
    widest: _Fit | None = None
    for folds in range(1, rows + 1):
        per_fold = math.ceil(rows / folds)
        folds = math.ceil(rows / per_fold)  # no empty block at the end
        n_cols = folds * cols
        tile_w = (width - _GAP * (n_cols + 1) - _FOLD_GAP * (folds - 1)) // n_cols
        if tile_w < min_w:
            break
        tile_w = min(tile_w, MAX_TILE_WIDTH)
        widest = _Fit(folds, cols, per_fold, tile_w, min_h)
        tile_h = min((height - _GAP * (per_fold + 1)) // per_fold, MAX_TILE_HEIGHT)
        if tile_h < min_h:
            continue
        score = min(tile_w / _ASPECT, tile_h)
        if best is None or score > best[0]:
            best = (score, _Fit(folds, cols, per_fold, tile_w, tile_h))
    return (best[1] if best is not None else None), widest


class TilesView(QAbstractScrollArea):
    """Every cell of the store as a tile; painted, no widget per tile.

    Args:
        store: The cells to show (shared with the other layouts).
        parent: The parent widget.

    Signals:
        cell_activated(str): a tile was double-clicked, or Enter pressed on the current one.
        selection_changed(list): the Ctrl+click selection (at most two cell ids, oldest first).
        cancel_requested(str): "Cancel" in a tile's context menu.
        retry_requested(str): "Retry" in a tile's context menu.
        rating_requested(str, str, int): "Rate" in a tile's context menu, or a rating key
            (1-5, 0, U/D, +/-, B) on the current tile: cell id, a
            :class:`~gui.core.ratings.RatingAction` value, the stars.
    """

    cell_activated = Signal(str)
    selection_changed = Signal(list)
    cancel_requested = Signal(str)
    retry_requested = Signal(str)
    rating_requested = Signal(str, str, int)

    def __init__(self, store: CellStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._fit = fit_tiles(0, 0, 0, 0)
        self._current: tuple[int, int] | None = None
        self._selection: list[str] = []
        self._menu_cell = ""  # the cell of the context menu shown last (its Rate entries)
        #: The figure each tile shows (a key of :data:`KEY_FIGURES`).
        self.key_figure_kind = "speed"
        # Per cell: (tile width, title as drawn); and colours per phase for the palette.
        self._titles: dict[str, tuple[int, str]] = {}
        # Per cell: (what it was drawn from, the tile without its streaming lines).
        self._chrome: dict[str, tuple[tuple[object, ...], QPixmap]] = {}
        # A tile not started yet has no record in the store and looks like every other such
        # tile of its size but for its title: one picture per (phase, detail, size) serves
        # them all (a new run's first paint drew some 70 pictures, a step of its own).
        self._stamps: dict[tuple[object, ...], QPixmap] = {}
        self._status_colors: dict[str, tuple[QColor, QColor, QColor]] = {}
        # Tiles waiting for a repaint, oldest first, and what one tile's paint costs (s).
        self._dirty: dict[str, None] = {}
        # What a tile's paint costs (s): a blit of its cached picture and its streaming
        # lines, or drawing the picture anew (its status changed). Measured as it paints.
        self._blit_cost = 50e-6
        self._chrome_cost = 250e-6
        self._restyle: set[str] = set()  # dirty tiles whose picture is drawn anew
        self._round: list[str] = []  # tiles of the flush round under way
        self._next_delay = _NO_DELAY_REQUESTED  # soonest repaint asked for since the round
        self._redrawn, self._redraw_s = 0, 0.0  # pictures drawn in the paint under way
        #: Pictures drawn anew, and figure lines drawn over a cached picture instead, so far.
        self.pictures_drawn = 0
        self.figure_lines_redrawn = 0
        self._deferred: list[str] = []  # tiles whose picture the paint under way left for later
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.timeout.connect(self._on_flush_timer_timeout)
        self._dark = is_dark()
        self._build_ui()
        store.shape_changed.connect(self._on_store_shape_changed)
        store.all_status_changed.connect(self._on_store_all_status_changed)
        store.texts_appended.connect(self._on_store_texts_appended)
        store.cell_changed.connect(self._on_store_cell_changed)
        store.cells_changed.connect(self._on_store_cells_changed)
        store.read_only_changed.connect(self._on_store_read_only_changed)
        self._on_store_shape_changed()

    # ----------------------------------------------------------------------------- UI

    def _build_ui(self) -> None:
        self.setObjectName("tilesView")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.verticalScrollBar().setSingleStep(24)
        self.verticalScrollBar().valueChanged.connect(self._on_vertical_scrollbar_value_changed)
        viewport = self.viewport()
        # Every pixel is painted by paintEvent: no background fill by Qt first.
        viewport.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self._set_fonts()

    def _set_fonts(self) -> None:
        base = QFont(self.font())
        size = base.pointSizeF()
        if size > 0:
            base.setPointSizeF(max(7.0, size * 0.9))
        self._text_font = base
        self._title_font = QFont(base)
        self._title_font.setBold(True)
        self._header_font = QFont(self.font())
        self._header_font.setBold(True)
        self._fm = QFontMetrics(self._text_font)
        self._title_fm = QFontMetrics(self._title_font)
        self._header_fm = QFontMetrics(self._header_font)
        self._header_line_h = self._header_fm.height() + 6
        self._header_h = self._header_line_h * (2 if self._store.is_grouped() else 1)
        self._space_w = self._fm.horizontalAdvance("  ")
        self._line_h = self._fm.lineSpacing()
        self._titles.clear()

    def sizeHint(self) -> QSize:
        return QSize(640, 400)

    # ------------------------------------------------------------------------- public API

    @property
    def store(self) -> CellStore:
        """The cells shown."""
        return self._store

    def tile_size(self) -> QSize:
        """The size of every tile now."""
        return QSize(self._fit.tile_w, self._fit.tile_h)

    def folds(self) -> int:
        """How many blocks of columns the rows are folded into."""
        return self._fit.folds

    def tile_rect(self, cell_id: str) -> QRect | None:
        """Where ``cell_id``'s tile is, in viewport coordinates (``None`` if unknown)."""
        where = self._store.where(cell_id)
        return self._rect(*where) if where is not None else None

    def visible_cell_ids(self) -> list[str]:
        """Cells whose whole tile lies inside the viewport, below the header strip."""
        area = self._tiles_area()
        store = self._store
        return [
            store.cell_id(r, c)
            for r in range(store.row_count())
            for c in range(store.column_count())
            if area.contains(self._rect(r, c))
        ]

    def current_cell(self) -> str:
        """The current tile's cell id (keyboard focus), or ``""``."""
        if self._current is None or self._store.is_empty():
            return ""
        return self._store.cell_id(*self._current)

    def set_current_cell(self, cell_id: str) -> None:
        """Make ``cell_id`` the current tile and scroll it into view."""
        where = self._store.where(cell_id)
        if where is not None:
            self._set_current(where)

    def selection(self) -> list[str]:
        """The Ctrl+click selection, oldest first (at most two cells)."""
        return list(self._selection)

    def clear_selection(self) -> None:
        """Select nothing."""
        if self._selection:
            old = self._selection
            self._selection = []
            self._update_cells(old)
            self.selection_changed.emit([])

    def cell_at(self, pos: QPoint) -> str:
        """The cell whose tile is under ``pos`` (viewport coordinates), or ``""``."""
        where = self._where_at(pos)
        return self._store.cell_id(*where) if where is not None else ""

    # ---------------------------------------------------------------------- geometry

    def _tiles_area(self) -> QRect:
        viewport = self.viewport().rect()
        return viewport.adjusted(0, self._header_h, 0, 0)

    def _relayout(self) -> None:
        store = self._store
        # A run whose cells repeat heads each group of samples with its run column's label
        # on a line of its own, the sample numbers below it.
        self._header_h = self._header_line_h * (2 if store.is_grouped() else 1)
        area = self._tiles_area()
        self._fit = fit_tiles(area.width(), area.height(), store.row_count(), store.column_count())
        bar = self.verticalScrollBar()
        bar.setPageStep(max(area.height(), 1))
        bar.setRange(0, max(0, self._fit.content_height - area.height()))
        self._titles.clear()
        self._chrome.clear()
        self._stamps.clear()
        self.viewport().update()

    def _slot_x(self, fold: int, col: int) -> int:
        fit = self._fit
        index = fold * fit.cols + col
        return _GAP + index * (fit.tile_w + _GAP) + fold * _FOLD_GAP

    def _rect(self, row: int, col: int) -> QRect:
        fit = self._fit
        per_fold = max(fit.rows_per_fold, 1)
        fold, i = divmod(row, per_fold)
        y = self._header_h + _GAP + i * (fit.tile_h + _GAP) - self.verticalScrollBar().value()
        return QRect(self._slot_x(fold, col), y, fit.tile_w, fit.tile_h)

    def _slots_in(
        self, region: QRegion, first_i: int, last_i: int, n_rows: int
    ) -> list[tuple[int, int]]:
        """The (row, column) of every tile the rectangles of ``region`` touch (outline
        included), each once, among the rows ``first_i`` to ``last_i`` of a fold."""
        fit = self._fit
        step_x, step_y = fit.tile_w + _GAP, fit.tile_h + _GAP
        block = fit.cols * step_x + _FOLD_GAP  # one fold's columns and the gap after them
        y0 = self._header_h + _GAP - self.verticalScrollBar().value()
        per_fold = max(fit.rows_per_fold, 1)
        seen: dict[tuple[int, int], None] = {}
        # PySide6 iterates a region's rectangles; its stubs do not say so.
        for part in cast(Iterable[QRect], region):
            r = part.adjusted(-2, -2, 2, 2)
            i_from = max(first_i, (r.top() - y0 - fit.tile_h) // step_y)
            i_to = min(last_i, (r.bottom() - y0) // step_y)
            if i_from > i_to:
                continue
            fold_from = max(0, (r.left() - _GAP) // block)
            fold_to = min(fit.folds - 1, (r.right() - _GAP) // block)
            for fold in range(fold_from, fold_to + 1):
                base = _GAP + fold * block
                c_from = max(0, (r.left() - base - fit.tile_w) // step_x)
                c_to = min(fit.cols - 1, (r.right() - base) // step_x)
                for i in range(i_from, i_to + 1):
                    row = fold * per_fold + i
                    if row >= n_rows:
                        break
                    for c in range(c_from, c_to + 1):
                        x = base + c * step_x
                        top = y0 + i * step_y
                        if (
                            x <= r.right()
                            and x + fit.tile_w > r.left()
                            and top <= r.bottom()
                            and top + fit.tile_h > r.top()
                        ):
                            seen[row, c] = None
        return list(seen)

    def _where_at(self, pos: QPoint) -> tuple[int, int] | None:
        store = self._store
        if store.is_empty() or pos.y() < self._header_h:
            return None
        fit = self._fit
        y = pos.y() - self._header_h - _GAP + self.verticalScrollBar().value()
        i = y // (fit.tile_h + _GAP)
        if i < 0 or i >= fit.rows_per_fold:
            return None
        for fold in range(fit.folds):
            for c in range(fit.cols):
                row = fold * fit.rows_per_fold + i
                if row < store.row_count() and self._rect(row, c).contains(pos):
                    return row, c
        return None

    def _mark_dirty(
        self, cell_ids: Iterable[str], delay_ms: int = 0, restyle: bool = False
    ) -> None:
        """Repaint ``cell_ids`` at the next flush, at most ``delay_ms`` from now
        (``restyle``: their status changed, their picture is drawn anew)."""
        ids = dict.fromkeys(cell_ids)
        self._dirty.update(ids)
        if restyle:
            self._restyle.update(ids)
        self._next_delay = min(self._next_delay, delay_ms)
        if self._round:
            return  # the round under way schedules the next one when it ends
        timer = self._flush_timer
        if not timer.isActive() or timer.remainingTime() > delay_ms:
            timer.start(delay_ms)

    def _on_flush_timer_timeout(self) -> None:
        """Repaint the dirty tiles in rounds: a round takes every tile dirty when it
        starts and repaints as many per frame as the paint budget allows, oldest first.
        Text that arrives meanwhile waits for the next round, so with 200 streaming
        tiles each refreshes a few times a second and no paint takes a frame's worth of
        the loop."""
        if not self._round:
            self._round = list(self._dirty)
            self._dirty.clear()
            self._next_delay = _NO_DELAY_REQUESTED
        round_, restyle = self._round, self._restyle
        blit, chrome = self._blit_cost, self._chrome_cost
        spent = 0.0
        taken = 0
        for cell_id in round_:
            spent += chrome if cell_id in restyle else blit
            if spent > _PAINT_BUDGET_S and taken >= _MIN_TILES_PER_PAINT:
                break
            taken += 1
        batch = round_[:taken]
        del round_[:taken]
        for cell_id in batch:
            if cell_id not in self._dirty:  # dirty again: its picture may change again
                restyle.discard(cell_id)
        self._update_cells(batch)
        if round_:
            self._flush_timer.start(_FRAME_MS)
        elif self._dirty:
            self._flush_timer.start(max(self._next_delay, _FRAME_MS))

    def _update_cells(self, cell_ids: Iterable[str]) -> None:
        viewport = self.viewport()
        visible = self._tiles_area()
        where = self._store.where
        for cell_id in cell_ids:
            at = where(cell_id)
            if at is None:
                continue
            rect = self._rect(*at)
            if rect.intersects(visible):
                viewport.update(rect.adjusted(-2, -2, 2, 2))  # the selection outline too

    # ------------------------------------------------------------------ store changes

    def _on_store_shape_changed(self) -> None:
        # The old run's tiles: nothing of them is left to repaint.
        self._dirty.clear()
        self._round.clear()
        self._restyle.clear()
        self._current = None
        had = bool(self._selection)
        self._selection = []
        self.verticalScrollBar().setValue(0)
        self._relayout()
        if had:
            self.selection_changed.emit([])

    def _on_store_all_status_changed(self) -> None:
        if self.isVisible():
            self._mark_dirty(self._ids_in_view(), restyle=True)

    def _ids_in_view(self) -> list[str]:
        """Cells whose tile is at least partly in the viewport."""
        store = self._store
        if store.is_empty():
            return []
        fit = self._fit
        top = self.verticalScrollBar().value()
        first_i = max(0, (top - _GAP) // (fit.tile_h + _GAP))
        last_i = min(
            fit.rows_per_fold - 1, (top + self._tiles_area().height()) // (fit.tile_h + _GAP)
        )
        ids: list[str] = []
        for fold in range(fit.folds):
            for i in range(first_i, last_i + 1):
                row = fold * fit.rows_per_fold + i
                if row < store.row_count():
                    ids.extend(store.row_cell_ids(row))
        return ids

    def _on_store_texts_appended(self, texts: dict[str, str]) -> None:
        if self.isVisible() and self._fit.tile_w >= MIN_STREAM_TEXT_WIDTH:
            # A tile shows two or three lines of a fast stream: 20 refreshes a second read
            # as smooth, and cost a third of one per frame; more than a screenful of
            # small tiles streaming at once refresh 10 times a second.
            many = len(texts) > _MANY_STREAMING
            self._mark_dirty(texts, 2 * _TEXT_REFRESH_MS if many else _TEXT_REFRESH_MS)

    def _on_store_cell_changed(self, cell_id: str, _change: int) -> None:
        if self.isVisible():
            self._mark_dirty((cell_id,), restyle=True)

    def _on_store_cells_changed(self, changes: dict[str, int]) -> None:
        if self.isVisible():
            self._mark_dirty(changes, restyle=True)

    def _on_store_read_only_changed(self, _read_only: bool) -> None:
        self.viewport().update()  # nothing drawn depends on it; menus read it when opened

    def _on_vertical_scrollbar_value_changed(self, _value: int) -> None:
        self.viewport().update()

    # -------------------------------------------------------------------------- painting

    def _colors(self) -> dict[str, QColor]:
        palette = self.palette()
        base = palette.color(QPalette.ColorRole.Base)
        window = palette.color(QPalette.ColorRole.Window)
        return {
            "window": window,
            "base": base,
            "text": palette.color(QPalette.ColorRole.Text),
            "dim": palette.color(QPalette.ColorRole.PlaceholderText),
            "border": palette.color(QPalette.ColorRole.Mid),
            "highlight": palette.color(QPalette.ColorRole.Highlight),
        }

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self.viewport())
        colors = self._colors()
        region = event.region()
        painter.fillRect(event.rect(), colors["window"])
        store = self._store
        if store.is_empty():
            painter.setPen(colors["dim"])
            painter.drawText(
                self.viewport().rect(),
                Qt.AlignmentFlag.AlignCenter,
                "Write a prompt, add inputs and press Ctrl+Enter",
            )
            return
        fit = self._fit
        area = self._tiles_area()
        top = self.verticalScrollBar().value()
        first_i = max(0, (top - _GAP) // (fit.tile_h + _GAP))
        last_i = min(fit.rows_per_fold - 1, (top + area.height()) // (fit.tile_h + _GAP))
        painter.setClipRect(area)
        if len(self._chrome) > _MAX_CACHED_TILES:
            self._chrome.clear()  # a long scroll through many cells: keep memory bounded
        n_rows = store.row_count()
        started, painted = time.perf_counter(), 0
        self._redrawn, self._redraw_s = 0, 0.0
        # Only the slots under the repaint's own rectangles are looked at: a frame repaints
        # a few dozen tiles scattered over the view, and the slots of their bounding box (or
        # every visible tile) were up to ten times as many at 600 tiles (the sweep-600 bench).
        for slot in self._slots_in(region, first_i, last_i, n_rows):
            row, c = slot
            rect = self._rect(row, c)
            self._paint_tile(painter, row, c, rect, colors)
            painted += 1
        if painted:
            redrawn, redraw_s = self._redrawn, self._redraw_s
            if redrawn:
                self._chrome_cost = 0.7 * self._chrome_cost + 0.3 * redraw_s / redrawn
            blits = time.perf_counter() - started - redraw_s
            self._blit_cost = 0.7 * self._blit_cost + 0.3 * blits / painted
        painter.setClipping(False)
        if region.intersects(QRect(0, 0, self.viewport().width(), self._header_h)):
            self._paint_header(painter, colors)
        if self._deferred:  # over this paint's budget: their pictures in the next frames
            deferred, self._deferred = self._deferred, []
            self._mark_dirty(deferred, _FRAME_MS, restyle=True)

    def _paint_header(self, painter: QPainter, colors: dict[str, QColor]) -> None:
        width = self.viewport().width()
        painter.fillRect(0, 0, width, self._header_h, colors["window"])
        painter.setFont(self._header_font)
        painter.setPen(colors["text"])
        fit = self._fit
        store = self._store
        grouped = store.is_grouped()
        line_h = self._header_line_h
        top = line_h if grouped else 0  # the columns' own line
        elide = self._header_fm.elidedText
        group_of = store.group_of
        for fold in range(fit.folds):
            sample = 0
            for c in range(fit.cols):
                x = self._slot_x(fold, c)
                if grouped:
                    # "#2": the group's label above says the rest ("sim-1 · t=0.7").
                    sample = sample + 1 if c and group_of(c) == group_of(c - 1) else 1
                    label = f"#{sample}"
                    if self._header_fm.horizontalAdvance(label) > fit.tile_w - 2:
                        label = str(sample)  # a sliver of a tile: the number alone
                    label = elide(label, Qt.TextElideMode.ElideRight, fit.tile_w)
                else:
                    label = elide(
                        store.column_label(c), Qt.TextElideMode.ElideMiddle, fit.tile_w - 4
                    )
                painter.drawText(QRect(x, top, fit.tile_w, line_h), _CENTER, label)
            if grouped:
                self._paint_group_labels(painter, colors, fold)
        painter.fillRect(0, self._header_h - 1, width, 1, colors["border"])

    def _paint_group_labels(self, painter: QPainter, colors: dict[str, QColor], fold: int) -> None:
        """One fold's group line: each group's label across its samples' tiles, over a
        bracket line that shows how far the group reaches."""
        fit, store = self._fit, self._store
        line_h = self._header_line_h
        labels = store.group_labels()
        painter.setPen(colors["text"])
        c = 0
        while c < fit.cols:
            group = store.group_of(c)
            end = c
            while end + 1 < fit.cols and store.group_of(end + 1) == group:
                end += 1
            left = self._slot_x(fold, c)
            right = self._slot_x(fold, end) + fit.tile_w
            label = self._header_fm.elidedText(
                labels[group], Qt.TextElideMode.ElideMiddle, right - left - 4
            )
            painter.drawText(QRect(left, 0, right - left, line_h - 3), _CENTER, label)
            painter.fillRect(left + 1, line_h - 3, right - left - 2, 1, colors["border"])
            c = end + 1

    def _chip_colors(self, phase: str) -> tuple[QColor, QColor, QColor]:
        """(band, band text, status text on the tile) for ``phase``, cached per palette."""
        colors = self._status_colors.get(phase)
        if colors is None:
            bg, fg = status_colors(phase)
            # Chip text is read on the tile's base here, not on the chip: a shade darker
            # on a light base.
            colors = self._status_colors[phase] = (bg, fg, fg if self._dark else fg.darker(115))
        return colors

    def _paint_tile(
        self, painter: QPainter, row: int, col: int, rect: QRect, colors: dict[str, QColor]
    ) -> None:
        """One tile: its cached picture, then the streaming answer's last lines over it.

        Everything but a streaming answer changes only with the cell's status (title band,
        figure line, error, final answer, outline), so it is drawn once into a pixmap kept
        per cell; a frame of streaming costs one pixmap blit and one wrapped text.
        """
        store = self._store
        cell_id = store.cell_id(row, col)
        state = store.peek(cell_id)
        phase, detail = (state.phase, state.detail) if state else store.default_status()
        failed = _shows_error(state)
        streaming = (
            state is not None
            and not state.final
            and not failed
            and state.length > 0
            and rect.width() >= MIN_STREAM_TEXT_WIDTH
        )
        selected = cell_id in self._selection
        current = self._current == (row, col) and self.hasFocus()
        if state is None and not (selected or current) and rect.height() >= MIN_TILE_HEIGHT:
            self._paint_unstarted(painter, cell_id, row, col, rect, colors, phase, detail)
            return
        checks_rate = pass_rate(state.checks) if state is not None else None
        figure = key_figure(state, self.key_figure_kind)
        key = (
            phase,
            detail,
            figure,
            checks_rate,
            state.error if failed and state is not None else "",
            state.length if state is not None and state.final else -1,
            state.rating if state is not None else None,
            selected,
            current,
            rect.width(),
            rect.height(),
        )
        cached = self._chrome.get(cell_id)
        if (
            cached is not None
            and cached[0] != key
            and rect.height() >= MIN_TILE_HEIGHT
            and _only_figure_changed(cached[0], key)
        ):
            # Only the figure line changed (a verdict's score, the final tokens/s): it is
            # drawn anew over the cached picture, a fraction of a whole new picture's cost
            # (a judged run's verdicts came at 200 new pictures, often dozens in one frame).
            chrome = QPainter(cached[1])
            local = QRect(0, 0, rect.width(), rect.height())
            chrome.fillRect(self._figure_line_rect(local), colors["base"])
            self._draw_figure_line(chrome, local, colors, "" if failed else figure, phase, detail)
            chrome.end()  # the outline is outside the line: it stays as it was
            cached = self._chrome[cell_id] = (key, cached[1])
            self.figure_lines_redrawn += 1
        if (
            (cached is None or cached[0] != key)
            and self._redrawn >= _MIN_FRESH_PER_PAINT
            and self._redraw_s > _FRESH_BUDGET_S
        ):
            self._deferred.append(cell_id)
            if cached is None:  # the bare tile until its picture is drawn
                painter.fillRect(rect, colors["base"])
                return
        elif cached is None or cached[0] != key:
            started = time.perf_counter()
            ratio = self.devicePixelRatioF()
            pixmap = QPixmap(rect.size() * ratio)
            pixmap.setDevicePixelRatio(ratio)
            chrome = QPainter(pixmap)
            local = QRect(0, 0, rect.width(), rect.height())
            self._draw_tile(chrome, row, col, local, colors, state, phase, detail, failed)
            self._draw_outline(chrome, local, colors, selected, current, checks_rate)
            chrome.end()
            cached = self._chrome[cell_id] = (key, pixmap)
            self.pictures_drawn += 1
            self._redrawn += 1
            self._redraw_s += time.perf_counter() - started
        painter.drawPixmap(rect.topLeft(), cached[1])
        if streaming and state is not None:
            box, count = self._text_box(rect)
            if count > 0:
                # Exactly ``count`` lines high: Qt wraps (in C++) and clips the older lines
                # above, bottom-aligned with the newest line at the bottom.
                painter.setFont(self._text_font)
                painter.setPen(colors["text"])
                painter.drawText(box, _WRAP_BOTTOM, self._tail_text(state, box.width(), count))

    def _paint_unstarted(
        self,
        painter: QPainter,
        cell_id: str,
        row: int,
        col: int,
        rect: QRect,
        colors: dict[str, QColor],
        phase: str,
        detail: str,
    ) -> None:
        """A full-size tile without a record (not started): the shared picture of its
        status, then its title, as :meth:`_draw_tile` and :meth:`_draw_outline` draw them."""
        key = (phase, detail, rect.width(), rect.height())
        stamp = self._stamps.get(key)
        if stamp is None:
            ratio = self.devicePixelRatioF()
            stamp = QPixmap(rect.size() * ratio)
            stamp.setDevicePixelRatio(ratio)
            chrome = QPainter(stamp)
            local = QRect(0, 0, rect.width(), rect.height())
            self._draw_tile(
                chrome, row, col, local, colors, None, phase, detail, False, with_title=False
            )
            self._draw_outline(chrome, local, colors, False, False)
            chrome.end()
            self._stamps[key] = stamp
        painter.drawPixmap(rect.topLeft(), stamp)
        band = QRect(rect.x(), rect.y(), rect.width(), self._title_fm.height() + 2)
        inner_w = rect.width() - 2 * _PAD
        self._draw_title(painter, cell_id, row, col, band, inner_w, self._chip_colors(phase)[1])

    def _draw_title(
        self,
        painter: QPainter,
        cell_id: str,
        row: int,
        col: int,
        band: QRect,
        inner_w: int,
        color: QColor,
    ) -> None:
        """A full-size tile's title in its band, elided to ``inner_w``."""
        painter.setFont(self._title_font)
        painter.setPen(color)
        cached = self._titles.get(cell_id)
        if cached is None or cached[0] != inner_w:
            # The row's label: the column is named in the header right above the tile
            # (the full "<row> × <column>" title is in the tooltip).
            title = self._tile_title(row, col)
            cached = (inner_w, self._title_fm.elidedText(title, _ELIDE_MIDDLE, inner_w))
            self._titles[cell_id] = cached
        painter.drawText(band.adjusted(_PAD, 0, -_PAD, 0), _LEFT_CENTER, cached[1])

    def _text_box(self, rect: QRect) -> tuple[QRect, int]:
        """Where a tile's answer lines go, and how many fit."""
        line_h = self._line_h
        text_top = rect.y() + self._title_fm.height() + 2 + 1
        compact = rect.height() < MIN_TILE_HEIGHT
        text_bottom = rect.bottom() - 1 if compact else rect.bottom() - 1 - line_h
        count = max(0, (text_bottom - text_top) // line_h)
        inner_w = rect.width() - 2 * _PAD
        return QRect(rect.x() + _PAD, text_bottom - count * line_h, inner_w, count * line_h), count

    def _draw_tile(
        self,
        painter: QPainter,
        row: int,
        col: int,
        rect: QRect,
        colors: dict[str, QColor],
        state: CellState | None,
        phase: str,
        detail: str,
        failed: bool,
        with_title: bool = True,
    ) -> None:
        """Everything of a tile but a streaming answer's lines and the outline (and, with
        ``with_title=False``, a full-size tile's title: the picture of every unstarted tile)."""
        store = self._store
        cell_id = store.cell_id(row, col)
        chip_bg, chip_fg, status_fg = self._chip_colors(phase)
        x, width = rect.x(), rect.width()
        inner_w = width - 2 * _PAD
        painter.fillRect(rect, colors["base"])
        band_h = self._title_fm.height() + 2
        band = QRect(x, rect.y(), width, band_h)
        painter.fillRect(band, chip_bg)
        fm = self._fm
        figure = "" if failed else key_figure(state, self.key_figure_kind)
        # The user's rating at the band's right end; the title gives way to it.
        mark = rating_text(state.rating) if state is not None else ""
        if mark:
            mark_w = self._title_fm.horizontalAdvance(mark) + self._space_w
            if mark_w < inner_w // 2:
                painter.setFont(self._title_font)
                painter.setPen(chip_fg)
                painter.drawText(band.adjusted(_PAD, 0, -_PAD, 0), _RIGHT_CENTER, mark)
                inner_w -= mark_w
        if rect.height() < MIN_TILE_HEIGHT:
            # Compact: no figure line; the figure sits at the band's right end when the
            # whole title fits beside it (the title comes first).
            band_text = band.adjusted(_PAD, 0, -_PAD, 0)
            title = self._tile_title(row, col)
            title_w = self._title_fm.horizontalAdvance(title)
            room = inner_w - title_w - self._space_w
            # A figure too long for the band loses its last parts first: the pass count and
            # the judge's score lead it (key_figure), so they are what a narrow tile keeps.
            parts = figure.split(" · ") if figure else []
            while len(parts) > 1 and fm.horizontalAdvance(" · ".join(parts)) > room:
                parts.pop()
            figure = " · ".join(parts)
            figure_w = fm.horizontalAdvance(figure) if figure else 0
            if figure and not mark and figure_w <= room:
                painter.setFont(self._text_font)
                painter.setPen(chip_fg)
                painter.drawText(band_text, _RIGHT_CENTER, figure)
            elif title_w > inner_w:
                title = self._title_fm.elidedText(title, _ELIDE_MIDDLE, inner_w)
            painter.setFont(self._title_font)
            painter.setPen(chip_fg)
            painter.drawText(band_text, _LEFT_CENTER, title)
            painter.setFont(self._text_font)
        else:
            if with_title:
                self._draw_title(painter, cell_id, row, col, band, inner_w, chip_fg)
            self._draw_figure_line(painter, rect, colors, figure, phase, detail)
        inner_w = width - 2 * _PAD
        # The error, or a finished answer's first lines (as a pane shows it, from its
        # start); a streaming answer is drawn over the cached picture, frame by frame.
        box, count = self._text_box(rect)
        if count > 0 and state is not None:
            if failed:
                painter.setPen(chip_fg if self._dark else status_fg)
                painter.drawText(box, _WRAP_TOP, state.error)
            elif state.final and state.length:
                painter.setPen(colors["text"])
                painter.drawText(box, _WRAP_TOP, self._head_text(state, inner_w, count))

    def _figure_line_rect(self, rect: QRect) -> QRect:
        """Where a full-size tile's figure line goes (``rect``: the tile)."""
        line_h = self._line_h
        return QRect(rect.x() + _PAD, rect.bottom() - 1 - line_h, rect.width() - 2 * _PAD, line_h)

    def _draw_figure_line(
        self,
        painter: QPainter,
        rect: QRect,
        colors: dict[str, QColor],
        figure: str,
        phase: str,
        detail: str,
    ) -> None:
        """A full-size tile's figure line: the key figure whole at the right, the status in
        its chip colour in the room left (cut at its end, or left out: the band says it)."""
        fm = self._fm
        inner_w = rect.width() - 2 * _PAD  # the figure line has the tile's whole width
        painter.setFont(self._text_font)
        foot = self._figure_line_rect(rect)
        figure_w = fm.horizontalAdvance(figure) if figure else 0
        if figure_w > inner_w:
            figure = fm.elidedText(figure, _ELIDE_MIDDLE, inner_w)
            figure_w = inner_w
        if figure:
            painter.setPen(colors["dim"])
            painter.drawText(foot, _RIGHT_CENTER, figure)
        # The status in full, else its one-word phase, else nothing (the band's colour
        # says it): never a word cut short.
        room = inner_w - figure_w - (self._space_w if figure else 0)
        for status in (status_text(phase, detail), str(phase)):
            if fm.horizontalAdvance(status) <= room:
                painter.setPen(self._chip_colors(phase)[2])
                painter.drawText(foot, _LEFT_CENTER, status)
                break

    def _draw_outline(
        self,
        painter: QPainter,
        rect: QRect,
        colors: dict[str, QColor],
        selected: bool,
        current: bool,
        checks_rate: float | None = None,
    ) -> None:
        """Selection (thick, highlight), current (thin highlight), else the border: in the
        checks' pass-rate colour (green all passed, amber some, red none) when checked."""
        if checks_rate is not None and not selected and not current:
            painter.setPen(QPen(pass_rate_color(checks_rate), 2))
            painter.drawRect(QRectF(rect).adjusted(1, 1, -1, -1))
            return
        if selected:
            painter.setPen(QPen(colors["highlight"], 3))
            painter.drawRect(QRectF(rect).adjusted(0.5, 0.5, -0.5, -0.5))
        elif current:
            painter.setPen(QPen(colors["highlight"], 2))
            painter.drawRect(rect.adjusted(0, 0, -1, -1))
        else:
            painter.setPen(colors["border"])
            painter.drawRect(rect.adjusted(0, 0, -1, -1))
        if selected and current:
            painter.setPen(QPen(colors["base"], 1, Qt.PenStyle.DotLine))
            painter.drawRect(rect.adjusted(2, 2, -3, -3))

    def _tile_title(self, row: int, col: int) -> str:
        """What a tile's band says: the row's label, or the title when the shape gave its
        own titles (they may say more than the row and column)."""
        store = self._store
        title = store.title(row, col)
        label = " ".join(store.row_label(row).split()) or f"row {row + 1}"
        if title == f"{label} × {store.column_label(col)}":
            return label
        return title

    def _head_text(self, state: CellState, width: int, count: int) -> str:
        """The start of a finished answer: enough for ``count`` lines ``width`` wide."""
        per_line = max(width // max(self._fm.averageCharWidth(), 1), 8)
        return state.source()[: count * per_line * 2 + 16].lstrip()

    def _tail_text(self, state: CellState, width: int, count: int) -> str:
        """The end of the answer: enough characters to fill ``count`` lines ``width`` wide,
        with no trailing blank line."""
        per_line = max(width // max(self._fm.averageCharWidth(), 1), 8)
        return state.tail(count * per_line * 2 + 16).rstrip()

    # ------------------------------------------------------------------------ events

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._relayout()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        kind = event.type()
        if kind in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._dark = is_dark()
            self._status_colors.clear()
            self._chrome.clear()
            self._stamps.clear()
            self.viewport().update()
        elif kind == QEvent.Type.FontChange:
            self._set_fonts()
            self._relayout()

    def showEvent(self, event: QShowEvent) -> None:
        # Hidden, the view skipped its per-frame updates: draw what the store says now.
        super().showEvent(event)
        self._relayout()

    def viewportEvent(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            where = self._where_at(event.pos())
            if where is None:
                QToolTip.hideText()
            else:
                QToolTip.showText(event.globalPos(), self._tooltip(*where), self.viewport())
            return True
        return super().viewportEvent(event)

    def _tooltip(self, row: int, col: int) -> str:
        store = self._store
        cell_id = store.cell_id(row, col)
        state = store.peek(cell_id)
        phase, detail = (state.phase, state.detail) if state else store.default_status()
        lines = [store.title(row, col), status_text(phase, detail)]
        if state is not None:
            figure = key_figure(state)
            if state.error:
                lines.append(state.error)
            elif figure:
                lines.append(figure)
            lines += [f"{'✓' if r.passed else '✗'} {r.name}: {r.detail}" for r in state.checks]
            if state.judge is not None:
                lines.append(verdict_detail(state.judge))
        lines.append("Double-click or Enter to open; Ctrl+click to select for a diff")
        return "\n".join(lines)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        where = self._where_at(event.position().toPoint())
        if where is None or event.button() != Qt.MouseButton.LeftButton:
            super().mousePressEvent(event)
            return
        self._set_current(where)
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self._toggle_selected(self._store.cell_id(*where))
        event.accept()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        where = self._where_at(event.position().toPoint())
        if where is None or event.button() != Qt.MouseButton.LeftButton:
            super().mouseDoubleClickEvent(event)
            return
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            return  # the second click of a fast Ctrl+click pair
        self._set_current(where)
        self.cell_activated.emit(self._store.cell_id(*where))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        store = self._store
        if store.is_empty():
            super().keyPressEvent(event)
            return
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if self._current is None:
                self._set_current((0, 0))
            self.cell_activated.emit(self.current_cell())
            return
        if key == Qt.Key.Key_Home:
            self._set_current((0, 0))
            return
        if key == Qt.Key.Key_End:
            self._set_current((store.row_count() - 1, store.column_count() - 1))
            return
        moves = {
            Qt.Key.Key_Left: (-1, 0),
            Qt.Key.Key_Right: (1, 0),
            Qt.Key.Key_Up: (0, -1),
            Qt.Key.Key_Down: (0, 1),
        }
        move = moves.get(Qt.Key(key))
        if move is None:
            rating = RATING_KEYS.get(event.text().upper())
            no_modifier = not event.modifiers() & ~(
                Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.KeypadModifier
            )
            if rating is not None and self._current is not None and no_modifier:
                # The Focus view's rating keys, for the current tile (the store says
                # whether the cell has ended).
                self.rating_requested.emit(self.current_cell(), str(rating[0]), rating[1])
                return
            super().keyPressEvent(event)
            return
        if self._current is None:
            self._set_current((0, 0))
            return
        target = self._moved(self._current, *move)
        if target is not None:
            self._set_current(target)

    def _moved(self, at: tuple[int, int], dx: int, dy: int) -> tuple[int, int] | None:
        """The tile next to ``at`` on screen (across folds), or ``None`` at an edge."""
        fit = self._fit
        row, col = at
        fold, i = divmod(row, max(fit.rows_per_fold, 1))
        slot = fold * fit.cols + col + dx
        i += dy
        if not 0 <= slot < fit.folds * fit.cols or not 0 <= i < fit.rows_per_fold:
            return None
        fold, col = divmod(slot, fit.cols)
        row = fold * fit.rows_per_fold + i
        if row >= self._store.row_count():
            return None
        return row, col

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        where = self._where_at(event.pos())
        if where is None:
            return
        self._set_current(where)
        cell_id = self._store.cell_id(*where)
        state = self._store.peek(cell_id)
        phase = state.phase if state is not None else self._store.default_status()[0]
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        copy = menu.addAction("Copy answer")
        copy.setEnabled(bool(state and state.length))
        copy.triggered.connect(lambda: self._copy_answer(cell_id))
        open_ = menu.addAction("Open")
        open_.triggered.connect(lambda: self.cell_activated.emit(cell_id))
        select = menu.addAction("Deselect" if cell_id in self._selection else "Select for diff")
        select.triggered.connect(lambda: self._toggle_selected(cell_id))
        if not self._store.is_read_only():
            menu.addSeparator()
            ended = phase in TERMINAL_PHASES
            cancel = menu.addAction("Cancel")
            cancel.setEnabled(not ended)
            cancel.triggered.connect(lambda: self.cancel_requested.emit(cell_id))
            retry = menu.addAction("Retry")
            retry.setEnabled(ended)
            retry.triggered.connect(lambda: self.retry_requested.emit(cell_id))
        menu.addSeparator()
        self._menu_cell = cell_id
        rate = add_rating_menu(
            menu, state.rating if state is not None else None, phase in TERMINAL_PHASES
        )
        rate.triggered.connect(self._on_rate_menu_triggered)
        figures = menu.addMenu("Key figure")
        for name, label in KEY_FIGURES.items():
            action = figures.addAction(label)
            action.setCheckable(True)
            action.setChecked(name == self.key_figure_kind)
            action.setData(name)
        figures.triggered.connect(self._on_key_figure_menu_triggered)
        # popup(), never exec(): a nested event loop would stall the qasync tasks.
        menu.popup(event.globalPos())

    def set_key_figure(self, kind: str) -> None:
        """Show ``kind`` (a key of :data:`KEY_FIGURES`) as every tile's figure."""
        if kind in KEY_FIGURES and kind != self.key_figure_kind:
            self.key_figure_kind = kind
            self.viewport().update()  # each tile's cached picture is keyed on its figure

    def _on_key_figure_menu_triggered(self, action: QAction) -> None:
        self.set_key_figure(str(action.data()))

    def _on_rate_menu_triggered(self, action: QAction) -> None:
        chosen = rating_of_action(action)
        if chosen is not None and self._menu_cell in self._store:
            self.rating_requested.emit(self._menu_cell, *chosen)

    def focusInEvent(self, event: QFocusEvent) -> None:
        super().focusInEvent(event)
        self._update_current()

    def focusOutEvent(self, event: QFocusEvent) -> None:
        super().focusOutEvent(event)
        self._update_current()

    # ------------------------------------------------------------------- internals

    def _update_current(self) -> None:
        if self._current is not None:
            self._update_cells([self._store.cell_id(*self._current)])

    def _set_current(self, where: tuple[int, int]) -> None:
        old = self._current
        self._current = where
        if old is not None and old != where:
            self._update_cells([self._store.cell_id(*old)])
        self._update_current()
        # Scroll the tile into view (vertical only: tiles always fit the width).
        rect = self._rect(*where)
        area = self._tiles_area()
        bar = self.verticalScrollBar()
        if rect.top() < area.top():
            bar.setValue(bar.value() - (area.top() - rect.top()) - _GAP)
        elif rect.bottom() > area.bottom():
            bar.setValue(bar.value() + (rect.bottom() - area.bottom()) + _GAP)

    def _toggle_selected(self, cell_id: str) -> None:
        changed = [cell_id]
        if cell_id in self._selection:
            self._selection.remove(cell_id)
        else:
            self._selection.append(cell_id)
            if len(self._selection) > _MAX_SELECTION:
                changed.append(self._selection.pop(0))  # the oldest makes room
        self._update_cells(changed)
        self.selection_changed.emit(list(self._selection))

    def _copy_answer(self, cell_id: str) -> None:
        QGuiApplication.clipboard().setText(self._store.source_text(cell_id))


_LEFT_CENTER = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
_RIGHT_CENTER = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_CENTER = Qt.AlignmentFlag.AlignCenter
_WRAP_BOTTOM = int(
    Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom | Qt.TextFlag.TextWordWrap
)
_WRAP_TOP = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap)
_ELIDE_MIDDLE = Qt.TextElideMode.ElideMiddle


#: Where the key figure sits in a tile picture's key (see ``TilesView._paint_tile``).
_FIGURE_AT = 2


def _only_figure_changed(old: tuple[object, ...], new: tuple[object, ...]) -> bool:
    """Whether two tile picture keys differ in the key figure alone."""
    return len(old) == len(new) and all(
        a == b for i, (a, b) in enumerate(zip(old, new, strict=True)) if i != _FIGURE_AT
    )


def _shows_error(state: CellState | None) -> bool:
    """Whether a tile shows the cell's error instead of its answer."""
    return (
        state is not None
        and bool(state.error)
        and state.phase in (Phase.FAILED, Phase.CANCELLED, Phase.RETRYING)
    )
