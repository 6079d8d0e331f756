"""A live timeline of every request of a run: one bar per cell on a shared time axis.

The rows and their segments are a :class:`gui.core.timeline.TimelineModel` (Qt-free, where the
rules live: queued -> waiting, started -> request, first token -> streaming, retry ->
back-off, an end cap). This widget paints the visible rows of that model and maps pixels to
seconds. Colours per kind:

* **waiting** thin grey; **request** amber (non-streamed calls have no first token, so their
  whole request is this colour); **streaming** blue; **back-off** orange, hatched;
* an end marker: a cap in the colour of **done**, **failed** or **cancelled**;
* a done cell's **checks**: a small square just after its cap, in the colour of its pass rate
  (the check chips' green, amber or red); the row's tooltip lists each check's result;
* the LLM judge's calls: violet, after the cell's cap (queued thin, judging full).

With a concurrency limit of 2, rows 3-4 start when rows 1-2 end, and so on: the thin grey
lead-ins form a staircase.

Feeding: the window calls :meth:`TimelineWidget.reset` with the grid's cells, then, once per
frame, :meth:`TimelineWidget.apply_events` with that frame's events (one ``update()`` per
call, never one per event), and :meth:`TimelineWidget.set_now` a few times a second so open
segments grow; :meth:`TimelineWidget.finish` (or the last ``RunFinished``) freezes the clock.

Interaction: **Ctrl+wheel** zooms the time axis around the cursor (plain wheel keeps scrolling
the rows, as in every other scroll area, so 200 rows stay reachable); a horizontal wheel,
Shift+wheel, the horizontal scroll bar or a **drag** pans; **double-click**, Ctrl+0 or the
context menu's "Fit whole run" shows the whole run again. Hovering a row shows its label
and metrics. While the view is fitted it follows a live run, growing in 25 % steps so the
tick labels do not change on every tick.

A paint touches only the visible rows; every line is a 1-px ``fillRect`` (a 1-px pen's
``drawLine`` over a tall viewport is far slower); elided labels are cached per row, colours
computed once per palette. What it costs is measured by ``fanout-studio bench --scenario
input`` (docs/benchmarks.md).
"""

from __future__ import annotations

import heapq
import html
import itertools
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QBrush,
    QColor,
    QFontMetrics,
    QHelpEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QAbstractScrollArea, QApplication, QMenu, QToolTip, QWidget

from gui.core import events as ev
from gui.core.timeline import (
    BACKOFF,
    BATCH_INGEST,
    BATCH_KINDS,
    BATCH_QUEUED,
    BATCH_RUNNING,
    CANCELLED,
    CHECKED,
    DONE,
    END_KINDS,
    FAILED,
    JUDGE_KINDS,
    JUDGE_WAIT,
    LEGEND,
    REQUEST,
    SPAN_KINDS,
    STREAMING,
    WAITING,
    Row,
    TimelineModel,
)
from gui.qt.resources import is_dark, status_colors
from gui.qt.widgets.cell_pane import format_seconds
from gui.qt.widgets.check_chips import pass_rate_color

# ----------------------------------------------------------------------------- kinds

#: Rows whose label is measured for the label column's width (the rest are elided to it).
MEASURED_LABELS = 1000
#: Of those, the longest measured per call of :meth:`TimelineWidget.add_cells`.
MEASURED_LONGEST = 20
#: Rows :meth:`TimelineWidget.reset` labels per loop iteration at most; the rest wait for the
#: next. A slice stops early after :data:`RESET_SLICE_S` seconds: 1,000 rows took 11-12 ms, and
#: the lag heartbeat, due in the same Qt timer pass, waited for it and the run's own slices
#: (docs/performance-notes.md).
RESET_SLICE = 1000
#: Longest a slice of the feed may take (seconds), checked every :data:`RESET_STEP` rows.
RESET_SLICE_S = 0.003
RESET_STEP = 50


def _feed_clock() -> float:
    """The clock the feed's slices are timed by (seconds; tests replace it)."""
    return time.perf_counter()


#: Rows it labels at once, before returning to the loop: more than a screen shows.
FIRST_SLICE = 200

#: The status-chip phase (gui.qt.resources) whose hue each kind takes.
_PHASE_OF: dict[str, str] = {
    WAITING: "waiting",
    REQUEST: "running",
    STREAMING: "streaming",
    BACKOFF: "retrying",
    DONE: "done",
    FAILED: "failed",
    CANCELLED: "cancelled",
    BATCH_QUEUED: "waiting",
    BATCH_RUNNING: "running",
    BATCH_INGEST: "streaming",
}

#: Hue of the judge's bars (violet): no status phase uses it.
_JUDGE_HUE = 0.78

# ---------------------------------------------------------------------------- geometry

#: Narrowest time span the view zooms to, seconds.
MIN_SPAN_S = 0.01
#: Time span of an empty timeline, seconds.
DEFAULT_SPAN_S = 1.0
#: While live and fitted, the axis grows to this multiple of "now" once now nears its end.
LIVE_HEADROOM = 1.25
#: Once frozen, the fitted axis ends this much past the last event (room for the end cap).
FIT_MARGIN = 1.03
#: One wheel notch (120 units) with Ctrl zooms by this factor.
WHEEL_ZOOM = 1.25
#: One wheel notch of horizontal scrolling pans this fraction of the visible span.
WHEEL_PAN = 0.1

_PAD = 6
_RIGHT_PAD = 14
_MIN_GUTTER = 60
_MAX_GUTTER = 260
_SWATCH_W = 16
_LEGEND_GAP = 14
_CAP_W = 4
#: Side of a check mark's square (its 1-px outline in the view's base colour around it).
_MARK_W = 7
#: Check results listed in a row's tooltip; the rest are counted.
TOOLTIP_CHECKS = 12
_MIN_TICK_PX = 48

#: Nice tick steps, seconds; past the last, multiples of it.
_NICE_STEPS: tuple[float, ...] = (
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5,
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600,
)  # fmt: skip

_HINT = (
    "Ctrl+wheel zooms the time axis around the cursor · drag or Shift+wheel pans ·"
    " double-click (or Ctrl+0) fits the whole run"
)


# ------------------------------------------------------------------------ pure helpers


def tick_step(px_per_s: float, min_px: float = _MIN_TICK_PX) -> float:
    """The smallest nice step (1-2-5 per decade, then 15 s, 30 s, minutes) at least
    ``min_px`` pixels wide at ``px_per_s``."""
    for step in _NICE_STEPS:
        if step * px_per_s >= min_px:
            return step
    last = _NICE_STEPS[-1]
    return last * math.ceil(min_px / (px_per_s * last))


def tick_values(t0: float, t1: float, step: float) -> list[float]:
    """Multiples of ``step`` in ``[t0, t1]`` (computed as ``k * step``, no drift)."""
    first = math.ceil(t0 / step - 1e-9)
    last = math.floor(t1 / step + 1e-9)
    return [k * step for k in range(first, last + 1)]


def format_tick(value: float, step: float) -> str:
    """``0 s``, ``0.5 s``, ``1 s``, ``2.25 s``, ``2 min``: as many decimals as ``step`` needs."""
    if abs(value) < step * 1e-6:
        return "0 s"
    if step >= 60 and step % 60 == 0:
        return f"{value / 60:g} min"
    decimals = max(0, math.ceil(-math.log10(step) - 1e-9))
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} s"


def segment_color(kind: str) -> QColor:
    """Bar colour of ``kind`` in the current palette.

    The hue is that of the matching status chip (:func:`gui.qt.resources.status_colors`), so
    the timeline and the grid speak the same colours; saturation and lightness are set for a
    bar on the view's base colour (chip backgrounds are too pale for bars on white, chip text
    too dark on black). Grey phases (waiting, cancelled) stay grey.
    """
    if kind == CHECKED:
        return pass_rate_color(1.0)  # the legend's swatch shows pass and fail side by side
    dark = is_dark()
    if kind in JUDGE_KINDS:
        # The judge's own colour (no status chip has it): violet, paler while queued.
        lightness = (0.80, 0.38) if kind == JUDGE_WAIT else (0.55, 0.66)
        return QColor.fromHslF(_JUDGE_HUE, 0.55, lightness[dark]).toRgb()
    _bg, fg = status_colors(_PHASE_OF[kind])
    hue = fg.hslHueF()
    if hue < 0 or fg.hslSaturationF() < 0.3:
        lightness = {WAITING: (0.70, 0.42), CANCELLED: (0.42, 0.68)}.get(kind, (0.5, 0.6))
        # Keep the chip's faint tint (waiting is blue-grey); an achromatic chip stays grey.
        color = QColor.fromHslF(max(hue, 0.0), 0.10 if hue >= 0 else 0.0, lightness[dark])
    elif dark:
        color = QColor.fromHslF(hue, 0.62, 0.60)
    else:
        color = QColor.fromHslF(hue, 0.72, 0.48)
    return color.toRgb()  # RGB spec: no conversion per fillRect


# -------------------------------------------------------------------------------- model


@dataclass(slots=True)
class _Drag:
    origin: QPointF
    t0: float
    scroll: int
    moved: bool = False


# ------------------------------------------------------------------------------- widget


class TimelineWidget(QAbstractScrollArea):
    """One bar per cell on a shared time axis, drawn live while the run goes.

    A :class:`QAbstractScrollArea` painting its viewport itself: the header (legend and time
    axis) stays at the top, rows scroll under it vertically, the horizontal scroll bar pans a
    zoomed time axis. Only visible rows are painted. Not Qt Charts (a series per bar) nor a
    QGraphicsScene (an item per segment, re-placed on every zoom and tick): a straight paint
    of the visible rows is simpler and costs about a millisecond.

    Signals:
        cell_clicked(str): a row was clicked (without dragging); carries its cell id.
        visible_range_changed(float, float): the visible time range (seconds) changed by
            zooming, panning, fitting, or the fitted view following a live run.
    """

    cell_clicked = Signal(str)
    visible_range_changed = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model = TimelineModel()
        self._elided: dict[str, tuple[int, str]] = {}  # cell id -> (width, elided label)
        self._label_width = 0
        self._fitting = True  # the view shows [0, fit end] and follows it
        self._fit_end = DEFAULT_SPAN_S
        self._t0 = 0.0
        self._span = DEFAULT_SPAN_S
        self._hover = -1
        self._drag: _Drag | None = None
        self._syncing = False  # setting the scroll bars from code
        self._row_h = 18
        self._gutter = 120
        self._header_h = 40
        self._axis_h = 20
        self._legend_items: list[tuple[int, int, str]] = []  # x, y, kind
        self._colors: dict[str, QColor] = {}
        self._hatch = QBrush()
        # Rows of the last reset not labelled yet, fed a slice per loop iteration.
        self._pending: Iterator[tuple[str, str]] | None = None
        self._build_ui()

    # ----------------------------------------------------------------------------- UI

    def _build_ui(self) -> None:
        self.setObjectName("timeline")
        self.setAccessibleName("Request timeline")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        viewport = self.viewport()
        viewport.setMouseTracking(True)  # hover highlight and tooltips
        # paintEvent fills every pixel: skip Qt's background erase.
        viewport.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        viewport.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        viewport.customContextMenuRequested.connect(self._on_viewport_context_menu_requested)

        shortcut = Qt.ShortcutContext.WidgetWithChildrenShortcut
        self.fit_action = QAction("Fit whole run", self)
        self.fit_action.setShortcut(QKeySequence("Ctrl+0"))
        self.fit_action.setShortcutContext(shortcut)
        self.fit_action.triggered.connect(self._on_fit_action_triggered)
        self.zoom_in_action = QAction("Zoom in", self)
        self.zoom_in_action.setShortcuts(
            [QKeySequence(QKeySequence.StandardKey.ZoomIn), QKeySequence("Ctrl+=")]
        )
        self.zoom_in_action.setShortcutContext(shortcut)
        self.zoom_in_action.triggered.connect(self._on_zoom_in_action_triggered)
        self.zoom_out_action = QAction("Zoom out", self)
        self.zoom_out_action.setShortcut(QKeySequence.StandardKey.ZoomOut)
        self.zoom_out_action.setShortcutContext(shortcut)
        self.zoom_out_action.triggered.connect(self._on_zoom_out_action_triggered)
        self.addActions([self.zoom_in_action, self.zoom_out_action, self.fit_action])

        self._feed = QTimer(self)
        self._feed.setInterval(0)
        self._feed.timeout.connect(self._on_feed_timeout)

        self.verticalScrollBar().setSingleStep(self._row_h)
        self._apply_colors()
        self._relayout()

    def sizeHint(self) -> QSize:
        return QSize(640, 320)

    def minimumSizeHint(self) -> QSize:
        return QSize(200, 100)

    # ------------------------------------------------------------------------ feed API

    def reset(self, cells: Iterable[tuple[str, str]]) -> None:
        """Start over with ``cells`` (cell id, row label) in grid order; clears everything.

        The first :data:`RESET_SLICE` rows are added now, the rest a slice per loop iteration
        (a lazy iterable is read only as far as that): labelling 20,000 rows at once froze the
        GUI thread at a big run's start. Events for a row not labelled yet make the row, and
        its label follows; :meth:`pending_rows` says whether some are still to come.
        """
        self._model.reset()
        self._elided.clear()
        self._label_width = 0
        self._hover = -1
        self._drag = None
        self._fit_end = DEFAULT_SPAN_S
        self._fitting = True
        self._t0, self._span = 0.0, DEFAULT_SPAN_S
        self._pending = iter(cells)
        self._add_pending(FIRST_SLICE, bounded=False)
        self.verticalScrollBar().setValue(0)
        self.visible_range_changed.emit(self._t0, self._t0 + self._span)

    def add_cells(self, cells: Iterable[tuple[str, str]]) -> None:
        """Append rows for ``cells``; a cell id already shown only gets its new label.

        The label column is as wide as the widest of the first :data:`MEASURED_LABELS` rows
        (labels are elided to it anyway): measuring 20,000 labels froze the GUI thread. Of
        those, only the :data:`MEASURED_LONGEST` longest of each call are measured: text
        width follows length closely enough for a column whose labels are elided.
        """
        self._labels_added(self._label_rows(cells))

    def _label_rows(self, cells: Iterable[tuple[str, str]]) -> list[str]:
        """Set the rows' labels; the labels of those among the measured rows."""
        model = self._model
        elided = self._elided
        measured: list[str] = []
        for cell_id, label in cells:
            model.set_label(cell_id, label)
            elided.pop(cell_id, None)
            index = model.index_of(cell_id)
            if index is not None and index < MEASURED_LABELS:
                measured.append(label)
        return measured

    def _labels_added(self, measured: list[str]) -> None:
        """Widen the label column for ``measured`` labels, lay out and repaint once."""
        if measured:
            metrics = self.fontMetrics()
            longest = heapq.nlargest(MEASURED_LONGEST, measured, key=len)
            widest = max(metrics.horizontalAdvance(label) for label in longest)
            self._label_width = max(self._label_width, widest)
        self._relayout()
        self.viewport().update()

    def pending_rows(self) -> bool:
        """Whether rows of the last :meth:`reset` are still to be added."""
        return self._pending is not None

    def _add_pending(self, size: int = RESET_SLICE, *, bounded: bool = True) -> None:
        """Add the next ``size`` rows of the last reset (fewer when ``bounded`` and
        :data:`RESET_SLICE_S` has passed); schedule the next slice if any."""
        pending = self._pending
        if pending is None:
            self._feed.stop()
            return
        clock = _feed_clock
        deadline = clock() + RESET_SLICE_S
        measured: list[str] = []
        added = 0
        while added < size:
            wanted = min(RESET_STEP, size - added)
            step = list(itertools.islice(pending, wanted))
            measured += self._label_rows(step)
            added += len(step)
            if len(step) < wanted:  # the cells ran out
                self._pending = None
                break
            if bounded and clock() >= deadline:
                break
        if self._pending is None:
            self._feed.stop()
        elif not self._feed.isActive():
            self._feed.start()
        if added:
            self._labels_added(measured)

    def apply_events(self, events: Iterable[ev.Event]) -> None:
        """Apply one frame's events (others than the cell and run events are ignored).

        Cheap by design: a dict dispatch and a few list appends per event, then one
        ``update()`` for the whole frame.
        """
        rows_before = len(self._model.rows)
        if not self._model.apply(events):
            return
        if len(self._model.rows) != rows_before:  # events for cells nobody announced
            self._relayout()
        self._refresh_extent()
        self.viewport().update()

    def set_now(self, t: float) -> None:
        """The current time (seconds since the first run's start): open segments reach it.

        Ignored once frozen by :meth:`finish` until new cell events arrive.
        """
        if not self._model.set_now(t):
            return
        self._refresh_extent()
        self.viewport().update()

    def finish(self) -> None:
        """Freeze the clock: open segments stop growing and the fitted view ends at the data."""
        self._model.finish()
        self._refresh_extent()
        self.viewport().update()

    # ---------------------------------------------------------------------- queries

    def segments(self, cell_id: str) -> list[tuple[str, float, float | None]]:
        """``(kind, start, end)`` of a row in order; ``end`` is ``None`` while open.

        End states are zero-length segments (``("done", t, t)``). Unknown ids give ``[]``.
        """
        return self._model.segments(cell_id)

    def check_marks(self, cell_id: str) -> list[tuple[float, float | None]]:
        """``(time, pass rate)`` of each check mark on ``cell_id``'s row, in order."""
        index = self._model.index_of(cell_id)
        if index is None:
            return []
        return [(mark.t, mark.rate) for mark in self._model.rows[index].checks]

    def check_mark_point(self, cell_id: str, t: float) -> QPoint:
        """The viewport point in the middle of the check mark drawn at time ``t``."""
        point = self.point_at(cell_id, t)
        return QPoint(point.x() + _CAP_W // 2 + 2 + _MARK_W // 2, point.y())

    def legend_items(self) -> list[str]:
        """The legend's entries, in the order they are drawn."""
        return list(LEGEND.values())

    def cell_ids(self) -> list[str]:
        """Row cell ids, top to bottom."""
        return [row.cell_id for row in self._model.rows]

    def label(self, cell_id: str) -> str | None:
        """The label of ``cell_id``'s row (its id until its label comes), ``None`` if unknown."""
        index = self._model.index_of(cell_id)
        return None if index is None else self._model.rows[index].label

    def is_live(self) -> bool:
        """Whether open segments still follow the clock (False after :meth:`finish`)."""
        return self._model.live

    def row_height(self) -> int:
        """Height of one row in pixels."""
        return self._row_h

    def visible_range(self) -> tuple[float, float]:
        """The time range shown, seconds."""
        return self._t0, self._t0 + self._span

    def is_fitted(self) -> bool:
        """Whether the view shows the whole run (and follows it while live)."""
        return self._fitting

    def time_at(self, x: float) -> float:
        """The time under viewport x coordinate ``x``."""
        return self._t0 + (x - self._gutter) * self._span / self._plot_width()

    def x_at(self, t: float) -> float:
        """The viewport x coordinate of time ``t``."""
        return self._gutter + (t - self._t0) * self._plot_width() / self._span

    def point_at(self, cell_id: str, t: float) -> QPoint:
        """Viewport point at time ``t`` in the middle of ``cell_id``'s row."""
        index = self._model.index_of(cell_id)
        if index is None:
            raise KeyError(cell_id)
        y = self._header_h + index * self._row_h - self.verticalScrollBar().value()
        return QPoint(round(self.x_at(t)), y + self._row_h // 2)

    def cell_at(self, pos: QPoint | QPointF) -> str | None:
        """The cell id of the row under viewport point ``pos``."""
        index = self._row_index_at(pos.y())
        return self._model.rows[index].cell_id if index >= 0 else None

    def tooltip_at(self, pos: QPoint | QPointF) -> str:
        """The tooltip (rich text) for viewport point ``pos``: the row's label, state and
        metrics, and the segment under the cursor; the interaction hint over the header."""
        if pos.y() < self._header_h:
            return _HINT
        index = self._row_index_at(pos.y())
        if index < 0:
            return ""
        at = self.time_at(pos.x()) if pos.x() >= self._gutter else None
        return self._row_tooltip(self._model.rows[index], at)

    # ---------------------------------------------------------------------- view API

    def fit(self) -> None:
        """Show the whole run (and keep following it while live)."""
        self._fitting = True
        self._set_view(0.0, self._fit_end)
        self.viewport().update()

    def zoom(self, factor: float, anchor: float | None = None) -> None:
        """Zoom the time axis by ``factor`` (> 1 zooms in) keeping time ``anchor`` (default:
        the middle of the view) at the same place on screen."""
        if factor <= 0:
            return
        t0, span = self._t0, self._span
        if anchor is None:
            anchor = t0 + span / 2
        fraction = (anchor - t0) / span
        new_span = min(max(span / factor, MIN_SPAN_S), self._fit_end)
        if new_span >= self._fit_end * 0.999:
            self.fit()
            return
        self._fitting = False
        self._set_view(anchor - fraction * new_span, new_span)
        self.viewport().update()

    def pan(self, dt: float) -> None:
        """Move the visible range by ``dt`` seconds (clamped to the run)."""
        if self._span >= self._fit_end:
            return
        self._fitting = False
        self._set_view(self._t0 + dt, self._span)
        self.viewport().update()

    def set_visible_range(self, t0: float, t1: float) -> None:
        """Show ``[t0, t1]`` (clamped to the run); the whole run counts as fitted."""
        if t1 - t0 >= self._fit_end * 0.999:
            self.fit()
            return
        self._fitting = False
        self._set_view(t0, t1 - t0)
        self.viewport().update()

    # --------------------------------------------------------------------- view state

    def _refresh_extent(self) -> None:
        """Recompute the end of the fitted axis; move the view if it is fitted."""
        end = self._model.clock()
        if self._model.live:
            if end > self._fit_end * 0.95:
                # Grow in steps: a fitted axis rescaled on every tick would jitter.
                self._fit_end = max(DEFAULT_SPAN_S, end * LIVE_HEADROOM)
        else:
            self._fit_end = end * FIT_MARGIN if end > 0 else DEFAULT_SPAN_S
        if self._fitting:
            self._set_view(0.0, self._fit_end)
        else:
            self._set_view(self._t0, self._span)

    def _set_view(self, t0: float, span: float) -> None:
        span = min(max(span, MIN_SPAN_S), self._fit_end)
        t0 = min(max(t0, 0.0), self._fit_end - span)
        changed = (t0, span) != (self._t0, self._span)
        self._t0, self._span = t0, span
        self._sync_hbar()
        if changed:
            self.visible_range_changed.emit(t0, t0 + span)

    def _plot_width(self) -> int:
        return max(1, self.viewport().width() - self._gutter - _RIGHT_PAD)

    def _sync_hbar(self) -> None:
        """The horizontal scroll bar in pixels of the current zoom over the whole run."""
        bar = self.horizontalScrollBar()
        plot_w = self._plot_width()
        px_per_s = plot_w / self._span
        maximum = 0 if self._fitting else max(0, round(self._fit_end * px_per_s) - plot_w)
        self._syncing = True
        try:
            bar.setRange(0, maximum)
            bar.setPageStep(plot_w)
            bar.setSingleStep(max(1, plot_w // 10))
            bar.setValue(round(self._t0 * px_per_s))
        finally:
            self._syncing = False

    def _sync_vbar(self) -> None:
        bar = self.verticalScrollBar()
        visible = max(0, self.viewport().height() - self._header_h)
        bar.setRange(0, max(0, len(self._model.rows) * self._row_h + 2 - visible))
        bar.setPageStep(max(1, visible))
        bar.setSingleStep(self._row_h)

    def _relayout(self) -> None:
        """Row height, label gutter, legend and header from the font and the width."""
        metrics = self.fontMetrics()
        width = self.viewport().width()
        self._row_h = min(20, max(16, metrics.height() + 4))
        self._gutter = min(
            self._label_width + 2 * _PAD + 4,
            max(_MIN_GUTTER, min(_MAX_GUTTER, int(width * 0.3))),
        )
        self._gutter = max(self._gutter, _MIN_GUTTER)
        line_h = metrics.height() + 4
        x, y = _PAD, 4
        items: list[tuple[int, int, str]] = []
        for kind, text in LEGEND.items():
            item_w = _SWATCH_W + 4 + metrics.horizontalAdvance(text)
            if x + item_w > width - _PAD and x > _PAD:
                x, y = _PAD, y + line_h
            items.append((x, y, kind))
            x += item_w + _LEGEND_GAP
        self._legend_items = items
        self._axis_h = metrics.height() + 8
        self._header_h = y + line_h + self._axis_h
        self._sync_vbar()
        self._sync_hbar()

    def _row_index_at(self, y: float) -> int:
        if y < self._header_h:
            return -1
        index = int((y - self._header_h + self.verticalScrollBar().value()) // self._row_h)
        return index if 0 <= index < len(self._model.rows) else -1

    # ---------------------------------------------------------------------- tooltips

    def _row_tooltip(self, row: Row, at: float | None) -> str:
        lines = [f"<b>{html.escape(row.label)}</b>"]

        def add(name: str, value: str) -> None:
            lines.append(f"{html.escape(name)}: {html.escape(value)}")

        add("State", self._model.state_text(row))
        metrics = row.metrics
        if metrics is not None:
            add("Queued at", format_seconds(metrics.queued_at + row.offset))
            add("Waited", format_seconds(metrics.waited))
            if metrics.ttft is not None:
                add("Time to first token", format_seconds(metrics.ttft))
            if metrics.latency is not None:
                add("Latency", format_seconds(metrics.latency))
            approx = "~" if metrics.tokens_estimated else ""
            add("Tokens", f"{approx}{metrics.output_tokens}")
            if metrics.tokens_per_second is not None:
                add("Tokens/s", f"{metrics.tokens_per_second:.1f}")
            add("Retries", str(metrics.retries))
        elif row.queued_at is not None:
            facts = self._model.live_facts(row)
            add("Queued at", format_seconds(facts["queued_at"]))
            add("Waited", format_seconds(facts["waited"]))
            if "ttft" in facts:
                add("Time to first token", format_seconds(facts["ttft"]))
            if "running_for" in facts:
                add("Running for", format_seconds(facts["running_for"]))
            if "retries" in facts:
                add("Retries", str(facts["retries"]))
        if row.message:
            if row.cell_id.startswith("batch:"):  # a batch's row: its requests, not a retry
                name = "Provider"
            else:
                name = {FAILED: "Error", CANCELLED: "Reason"}.get(row.state, "Last retry")
            add(name, row.message)
        mark = TimelineModel.current_checks(row)
        if mark is not None:
            add("Checks", f"{mark.passed}/{len(mark.results)} passed")
            for result in mark.results[:TOOLTIP_CHECKS]:
                sign = "✓" if result.passed else "✗"
                detail = f": {result.detail}" if result.detail else ""
                lines.append(f"&nbsp;&nbsp;{sign} {html.escape(result.name + detail)}")
            if len(mark.results) > TOOLTIP_CHECKS:
                lines.append(f"&nbsp;&nbsp;and {len(mark.results) - TOOLTIP_CHECKS} more")
        if row.chains > 1:
            add("Runs of this cell", str(row.chains))
        if at is not None:
            segment = TimelineModel.segment_at(row, at)
            if segment is not None:
                start, end = segment.start, segment.end
                if end is None:
                    end = self._model.clock()
                add(
                    "Here",
                    f"{TimelineModel.describe(row, segment)}, {format_seconds(start)} → "
                    f"{format_seconds(end)} ({format_seconds(end - start)})",
                )
        return "<qt>" + "<br>".join(lines) + "</qt>"

    # ------------------------------------------------------------------------ painting

    def _apply_colors(self) -> None:
        colors = {kind: segment_color(kind) for kind in (*LEGEND, *BATCH_KINDS)}
        palette = self.palette()
        base = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.Text)
        dark = is_dark()
        backoff = colors[BACKOFF]
        fill = QColor(backoff)
        fill.setAlpha(70)
        colors["backoff_fill"] = fill
        # Derived from Base/Text rather than AlternateBase/Mid: custom dark palettes often
        # set only the main roles, and a light stripe on a dark view would glare.
        colors["alt"] = base.lighter(112) if dark else base.darker(104)
        hover = QColor(palette.color(QPalette.ColorRole.Highlight))
        hover.setAlpha(40)
        colors["hover"] = hover
        grid = QColor(text)
        grid.setAlpha(28)
        colors["grid"] = grid
        rule = QColor(text)
        rule.setAlpha(90)
        colors["rule"] = rule
        colors["now"] = QColor(palette.color(QPalette.ColorRole.Highlight))
        colors["failed_text"] = status_colors("failed")[1]
        colors["checks_pass"] = pass_rate_color(1.0)
        colors["checks_fail"] = pass_rate_color(0.0)
        colors["checks_none"] = colors[WAITING]
        self._colors = colors
        self._hatch = QBrush(backoff, Qt.BrushStyle.BDiagPattern)

    def paintEvent(self, event: QPaintEvent) -> None:
        viewport = self.viewport()
        width, height = viewport.width(), viewport.height()
        painter = QPainter(viewport)
        palette = self.palette()
        colors = self._colors
        metrics = self.fontMetrics()
        painter.fillRect(0, 0, width, height, palette.color(QPalette.ColorRole.Base))

        header, row_h, left = self._header_h, self._row_h, self._gutter
        plot_w = self._plot_width()
        t0, span = self._t0, self._span
        t1 = t0 + span
        scale = plot_w / span
        scroll = self.verticalScrollBar().value()
        rows = self._model.rows
        first = scroll // row_h
        last = min(len(rows) - 1, (scroll + height - header) // row_h)
        step = self._tick_step(metrics, scale, t1)
        ticks = tick_values(t0, t1, step)

        # Row stripes, hover, grid.
        for index in range(first, last + 1):
            y = header + index * row_h - scroll
            if index % 2:
                painter.fillRect(0, y, width, row_h, colors["alt"])
            if index == self._hover:
                painter.fillRect(0, y, width, row_h, colors["hover"])
        # Lines as 1-px fillRects: a 1-px pen's drawLine over a tall viewport costs hundreds
        # of times more (docs/performance-notes.md).
        grid = colors["grid"]
        for t in ticks:
            painter.fillRect(left + round((t - t0) * scale), header, 1, height - header, grid)

        live = self._model.live
        clock = self._model.clock()
        if live and rows and t0 <= clock <= t1:
            # Behind the bars: open bars end on it, end caps stay readable.
            x = left + round((clock - t0) * scale)
            painter.fillRect(x, header, 1, height - header, colors["now"])

        # Bars, clipped to the plot so nothing runs into the labels.
        painter.setClipRect(left, header, width - left, height - header)
        bar_h = row_h - 6
        thin_h = max(4, bar_h // 3)
        cap_x0 = -(_CAP_W // 2)
        waiting_color = colors[WAITING]
        base = palette.color(QPalette.ColorRole.Base)
        hatch = self._hatch
        backoff_fill = colors["backoff_fill"]
        for index in range(first, last + 1):
            y = header + index * row_h - scroll
            bar_top = y + 3
            thin_top = y + (row_h - thin_h) // 2
            for segment in rows[index].segments:
                kind = segment.kind
                start = segment.start
                if kind in END_KINDS:
                    if t0 <= start <= t1 + span * 0.05:
                        x = left + int((start - t0) * scale)
                        painter.fillRect(x + cap_x0, y + 1, _CAP_W, row_h - 2, colors[kind])
                    continue
                end = segment.end
                if end is None or (live and end > clock):
                    end = clock  # open, or a back-off planned past now
                if end <= start or end < t0 or start > t1:
                    continue
                x0 = left + int((max(start, t0) - t0) * scale)
                x1 = left + int((min(end, t1) - t0) * scale)
                bar_w = max(1, x1 - x0)
                if kind == WAITING or kind == JUDGE_WAIT:
                    color = waiting_color if kind == WAITING else colors[kind]
                    painter.fillRect(x0, thin_top, bar_w, thin_h, color)
                elif kind == BACKOFF:
                    painter.fillRect(x0, bar_top, bar_w, bar_h, backoff_fill)
                    painter.fillRect(x0, bar_top, bar_w, bar_h, hatch)
                else:
                    painter.fillRect(x0, bar_top, bar_w, bar_h, colors[kind])
            for mark in rows[index].checks:
                if t0 <= mark.t <= t1 + span * 0.05:
                    # Right of the end cap it follows, outlined so it reads over a judge bar.
                    x = left + int((mark.t - t0) * scale) + _CAP_W // 2 + 1
                    top = y + (row_h - _MARK_W) // 2
                    painter.fillRect(x, top - 1, _MARK_W + 2, _MARK_W + 2, base)
                    painter.fillRect(x + 1, top, _MARK_W, _MARK_W, self._mark_color(mark.rate))

        # Row labels, elided to the gutter (cached per row and width).
        painter.setClipRect(0, header, left, height - header)
        text_w = left - 2 * _PAD
        text_color = palette.color(QPalette.ColorRole.Text)
        align = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        for index in range(first, last + 1):
            row = rows[index]
            cached = self._elided.get(row.cell_id)
            if cached is None or cached[0] != text_w:
                elided = metrics.elidedText(row.label, Qt.TextElideMode.ElideRight, text_w)
                cached = self._elided[row.cell_id] = (text_w, elided)
            y = header + index * row_h - scroll
            painter.setPen(colors["failed_text"] if row.state == FAILED else text_color)
            painter.drawText(QRect(_PAD, y, text_w, row_h), align, cached[1])
        painter.setClipping(False)
        painter.fillRect(left - 1, header, 1, height - header, grid)

        self._paint_header(painter, width, ticks, step, scale)
        painter.end()

    def _paint_header(
        self, painter: QPainter, width: int, ticks: list[float], step: float, scale: float
    ) -> None:
        palette = self.palette()
        colors = self._colors
        metrics = self.fontMetrics()
        header = self._header_h
        painter.fillRect(0, 0, width, header, palette.color(QPalette.ColorRole.Window))
        window_text = palette.color(QPalette.ColorRole.WindowText)

        # Legend: each swatch is drawn the way its bars are.
        line_h = metrics.height() + 4
        swatch_h = min(12, line_h - 4)
        for x, y, kind in self._legend_items:
            top = y + (line_h - swatch_h) // 2
            if kind == WAITING or kind == JUDGE_WAIT:
                thin = max(4, swatch_h // 3)
                painter.fillRect(x, top + (swatch_h - thin) // 2, _SWATCH_W, thin, colors[kind])
            elif kind == BACKOFF:
                painter.fillRect(x, top, _SWATCH_W, swatch_h, colors["backoff_fill"])
                painter.fillRect(x, top, _SWATCH_W, swatch_h, self._hatch)
            elif kind in END_KINDS:
                cap_x = x + (_SWATCH_W - _CAP_W) // 2
                painter.fillRect(cap_x, top - 1, _CAP_W, swatch_h + 2, colors[kind])
            elif kind == CHECKED:
                side = min(_MARK_W, swatch_h)
                mark_top = top + (swatch_h - side) // 2
                painter.fillRect(x, mark_top, side, side, colors["checks_pass"])
                painter.fillRect(x + _SWATCH_W - side, mark_top, side, side, colors["checks_fail"])
            else:
                painter.fillRect(x, top, _SWATCH_W, swatch_h, colors[kind])
            painter.setPen(window_text)
            painter.drawText(
                QRect(x + _SWATCH_W + 4, y, width, line_h),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                LEGEND[kind],
            )

        # Time axis: labels centred on their ticks, kept inside the widget.
        axis_top = header - self._axis_h
        left, t0 = self._gutter, self._t0
        painter.setPen(window_text)
        previous_right = -1
        for t in ticks:
            x = left + round((t - t0) * scale)
            label = format_tick(t, step)
            label_w = metrics.horizontalAdvance(label)
            label_x = min(max(x - label_w // 2, 2), width - label_w - 2)
            if label_x > previous_right + 4:
                painter.drawText(
                    QRect(label_x, axis_top, label_w, self._axis_h - 4),
                    Qt.AlignmentFlag.AlignCenter,
                    label,
                )
                previous_right = label_x + label_w
            painter.fillRect(x, header - 4, 1, 3, window_text)
        painter.fillRect(0, header - 1, width, 1, colors["rule"])

    def _mark_color(self, rate: float | None) -> QColor:
        """A check mark's colour: its pass rate's (see :func:`pass_rate_color`)."""
        colors = self._colors
        if rate is None:
            return colors["checks_none"]
        if rate >= 1:
            return colors["checks_pass"]
        if rate <= 0:
            return colors["checks_fail"]
        return pass_rate_color(rate)

    @staticmethod
    def _tick_step(metrics: QFontMetrics, px_per_s: float, t1: float) -> float:
        """A nice step whose labels (measured at the end of the range) never touch."""
        step = tick_step(px_per_s)
        for _ in range(len(_NICE_STEPS)):
            needed = metrics.horizontalAdvance(format_tick(t1, step)) + 16
            if step * px_per_s >= needed:
                break
            step = tick_step(px_per_s, needed)
        return step

    # ---------------------------------------------------------------------- Qt events

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._relayout()

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        if dx and not self._syncing:
            px_per_s = self._plot_width() / self._span
            self._fitting = False
            self._set_view(self.horizontalScrollBar().value() / px_per_s, self._span)
        self.viewport().update()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        kind = event.type()
        if kind in (
            QEvent.Type.PaletteChange,
            QEvent.Type.ApplicationPaletteChange,
            QEvent.Type.StyleChange,
        ):
            self._apply_colors()
            self.viewport().update()
        elif kind == QEvent.Type.FontChange:
            metrics = self.fontMetrics()
            self._label_width = max(
                (
                    metrics.horizontalAdvance(row.label)
                    for row in self._model.rows[:MEASURED_LABELS]
                ),
                default=0,
            )
            self._elided.clear()
            self._relayout()
            self.viewport().update()

    def viewportEvent(self, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.ToolTip:
            assert isinstance(event, QHelpEvent)
            text = self.tooltip_at(event.pos())
            if text:
                index = self._row_index_at(event.pos().y())
                if index >= 0:
                    y = self._header_h + index * self._row_h - self.verticalScrollBar().value()
                    area = QRect(0, y, self.viewport().width(), self._row_h)
                else:
                    area = QRect(0, 0, self.viewport().width(), self._header_h)
                QToolTip.showText(event.globalPos(), text, self.viewport(), area)
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        if kind == QEvent.Type.Leave and self._hover != -1:
            self._hover = -1
            self.viewport().update()
        return super().viewportEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta()
        modifiers = event.modifiers()
        if modifiers & Qt.KeyboardModifier.ControlModifier:
            notches = (delta.y() or delta.x()) / 120
            if notches:
                self.zoom(WHEEL_ZOOM**notches, self.time_at(event.position().x()))
            event.accept()
            return
        horizontal = delta.x() if abs(delta.x()) > abs(delta.y()) else 0
        if not horizontal and modifiers & Qt.KeyboardModifier.ShiftModifier:
            horizontal = delta.y()
        if horizontal:
            self.pan(-horizontal / 120 * WHEEL_PAN * self._span)
            event.accept()
            return
        super().wheelEvent(event)  # rows scroll

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag = _Drag(event.position(), self._t0, self.verticalScrollBar().value())
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        drag = self._drag
        if drag is not None and event.buttons() & Qt.MouseButton.LeftButton:
            dx = pos.x() - drag.origin.x()
            dy = pos.y() - drag.origin.y()
            if not drag.moved:
                if abs(dx) + abs(dy) < QApplication.startDragDistance():
                    return
                drag.moved = True
                self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            if self._span < self._fit_end:
                self._fitting = False
                self._set_view(drag.t0 - dx * self._span / self._plot_width(), self._span)
            self.verticalScrollBar().setValue(drag.scroll - round(dy))
            self.viewport().update()
            event.accept()
            return
        hover = self._row_index_at(pos.y())
        if hover != self._hover:
            self._hover = hover
            self.viewport().update()
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        drag, self._drag = self._drag, None
        if drag is not None and event.button() == Qt.MouseButton.LeftButton:
            self.viewport().unsetCursor()
            if not drag.moved:
                cell_id = self.cell_at(event.position())
                if cell_id is not None:
                    self.cell_clicked.emit(cell_id)
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.fit()
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    # ------------------------------------------------------------------------ slots

    def _on_feed_timeout(self) -> None:
        self._add_pending()

    def _on_fit_action_triggered(self) -> None:
        self.fit()

    def _on_zoom_in_action_triggered(self) -> None:
        self.zoom(2.0)

    def _on_zoom_out_action_triggered(self) -> None:
        self.zoom(0.5)

    def _on_viewport_context_menu_requested(self, pos: QPoint) -> None:
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.addActions([self.zoom_in_action, self.zoom_out_action, self.fit_action])
        # popup(), never exec(): a nested event loop would stall the qasync tasks.
        menu.popup(self.viewport().mapToGlobal(pos))


__all__ = [
    "BACKOFF",
    "CANCELLED",
    "CHECKED",
    "DONE",
    "END_KINDS",
    "FAILED",
    "LEGEND",
    "REQUEST",
    "SPAN_KINDS",
    "STREAMING",
    "WAITING",
    "TimelineWidget",
    "format_tick",
    "segment_color",
    "tick_step",
    "tick_values",
]
