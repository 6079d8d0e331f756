"""A live timeline of every request of a run: one bar per cell on a shared time axis.

Each row is one cell (grid order); its bar is cut into segments the engine's events delimit:

* **waiting** (thin grey): queued, in the limiter or the rate limiter;
* **request** (amber): the request is out and no text has arrived yet, "waiting for first
  token" when the answer is streamed, "waiting for response" when it is not (non-streamed
  calls have no :class:`~gui.core.events.FirstToken`, so the whole request is this colour);
* **streaming** (blue): from the first token to the end;
* **back-off** (orange, hatched): after :class:`~gui.core.events.CellRetrying`, for the
  announced ``delay``; the cell then waits for a slot again (grey) until the next
  :class:`~gui.core.events.CellStarted`, whose ``waited`` places that boundary exactly;
* an end marker: a cap in the colour of **done**, **failed** or **cancelled**.

With a concurrency limit of 2, rows 3-4 start when rows 1-2 end, and so on: the thin grey
lead-ins form a staircase.

Feeding: the window calls :meth:`TimelineWidget.reset` with the grid's cells, then, once per
frame, :meth:`TimelineWidget.apply_events` with that frame's events (one ``update()`` per
call, never one per event), and :meth:`TimelineWidget.set_now` a few times a second so open
segments grow; :meth:`TimelineWidget.finish` (or the last ``RunFinished``) freezes the clock.
Times are seconds since the first run's start. A later run for the same cells (a one-cell
retry) is placed at its real start, from ``RunStarted.started_at``, or at "now" when its
``RunStarted`` was not seen; its attempts continue the existing row after the old segments.

Interaction: **Ctrl+wheel** zooms the time axis around the cursor (plain wheel keeps scrolling
the rows, as in every other scroll area, so 200 rows stay reachable); a horizontal wheel,
Shift+wheel, the horizontal scroll bar or a **drag** pans; **double-click**, Ctrl+0 or the
context menu's "Fit whole run" shows the whole run again. Hovering a row shows its label
and metrics. While the view is fitted it follows a live run, growing in 25 % steps so the
tick labels do not change on every tick.

Rendering budget (measured offscreen, 200 cells of 3 segments, see
``tests/qt/test_timeline.py``): a paint touches only the visible rows and costs about 1.2 ms
in a 900x600 view (33 rows), 7-8 ms with all 200 rows on a 3.7k-pixel-tall viewport (mostly
filling pixels); one ``apply_events`` of 1200 events costs about 2 ms. Every line is a 1-px
``fillRect``: a ``drawLine`` with a 1-px pen over a tall viewport measured ~0.3 ms each,
a ``fillRect`` ~1 us. Elided labels are cached per row, colours computed once per palette.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, QSize, Qt, Signal
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
from gui.core.metrics import CellMetrics
from gui.qt.resources import is_dark, status_colors
from gui.qt.widgets.cell_pane import format_seconds

# ----------------------------------------------------------------------------- kinds

#: Rows whose label is measured for the label column's width (the rest are elided to it).
MEASURED_LABELS = 1000

WAITING = "waiting"
REQUEST = "request"
STREAMING = "streaming"
BACKOFF = "backoff"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"

#: Kinds that span time, in the order a cell goes through them.
SPAN_KINDS: tuple[str, ...] = (WAITING, REQUEST, STREAMING, BACKOFF)
#: Kinds of the zero-length end marker (``start == end``).
END_KINDS: tuple[str, ...] = (DONE, FAILED, CANCELLED)

#: Legend text per kind, in legend order.
LEGEND: dict[str, str] = {
    WAITING: "waiting for a slot",
    REQUEST: "waiting for first token / response",
    STREAMING: "streaming",
    BACKOFF: "retry back-off",
    DONE: "done",
    FAILED: "failed",
    CANCELLED: "cancelled",
}

#: The status-chip phase (gui.qt.resources) whose hue each kind takes.
_PHASE_OF: dict[str, str] = {
    WAITING: "waiting",
    REQUEST: "running",
    STREAMING: "streaming",
    BACKOFF: "retrying",
    DONE: "done",
    FAILED: "failed",
    CANCELLED: "cancelled",
}

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
    dark = is_dark()
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
class _Segment:
    kind: str
    start: float
    end: float | None = None  # None: still open, drawn up to "now"


@dataclass(slots=True)
class _Row:
    cell_id: str
    label: str
    segments: list[_Segment] = field(default_factory=list)
    state: str = ""  # "" before the first event, else the current kind
    ended: bool = True  # no chain in progress (before the first CellQueued, or after the end)
    chain_start: int = 0  # index of the first segment of the current run of this cell
    chains: int = 0  # how many runs this row has seen (a retry run adds one)
    run_id: str = ""
    offset: float = 0.0  # the current run's start on the shared axis
    queued_at: float | None = None
    attempt: int = 0
    metrics: CellMetrics | None = None
    message: str = ""  # failure message, cancel reason or the last retry's reason
    elided: str = ""
    elided_for: int = -1  # the width ``elided`` was computed for


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
        self._rows: list[_Row] = []
        self._index: dict[str, int] = {}
        self._label_width = 0
        self._now = 0.0  # last set_now()
        self._data_end = 0.0  # latest event time seen
        self._live = True  # open segments follow the clock; False after finish()
        self._fitting = True  # the view shows [0, fit end] and follows it
        self._fit_end = DEFAULT_SPAN_S
        self._t0 = 0.0
        self._span = DEFAULT_SPAN_S
        self._offsets: dict[str, float] = {}  # run id -> its start on the shared axis
        self._base_epoch: float | None = None  # wall clock of the first run's start
        self._open_runs: set[str] = set()
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
        # Exact-type dispatch: one dict lookup per event (events are final dataclasses).
        self._handlers: dict[type, Callable[[Any], None]] = {
            ev.RunStarted: self._apply_run_started,
            ev.CellQueued: self._apply_queued,
            ev.CellStarted: self._apply_started,
            ev.FirstToken: self._apply_first_token,
            ev.CellRetrying: self._apply_retrying,
            ev.CellFinished: self._apply_finished,
            ev.CellFailed: self._apply_failed,
            ev.CellCancelled: self._apply_cancelled,
            ev.RunFinished: self._apply_run_finished,
        }
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

        self.verticalScrollBar().setSingleStep(self._row_h)
        self._apply_colors()
        self._relayout()

    def sizeHint(self) -> QSize:
        return QSize(640, 320)

    def minimumSizeHint(self) -> QSize:
        return QSize(200, 100)

    # ------------------------------------------------------------------------ feed API

    def reset(self, cells: Iterable[tuple[str, str]]) -> None:
        """Start over with ``cells`` (cell id, row label) in grid order; clears everything."""
        self._rows.clear()
        self._index.clear()
        self._label_width = 0
        self._now = 0.0
        self._data_end = 0.0
        self._live = True
        self._offsets.clear()
        self._base_epoch = None
        self._open_runs.clear()
        self._hover = -1
        self._drag = None
        self._fit_end = DEFAULT_SPAN_S
        self._fitting = True
        self._t0, self._span = 0.0, DEFAULT_SPAN_S
        self.add_cells(cells)
        self.verticalScrollBar().setValue(0)
        self.visible_range_changed.emit(self._t0, self._t0 + self._span)

    def add_cells(self, cells: Iterable[tuple[str, str]]) -> None:
        """Append rows for ``cells``; a cell id already shown only gets its new label.

        The label column is as wide as the widest of the first :data:`MEASURED_LABELS` rows
        (labels are elided to it anyway): measuring 20,000 labels took ~80 ms on the GUI thread.
        """
        metrics = self.fontMetrics()
        for cell_id, label in cells:
            row = self._row(cell_id)
            row.label = label
            row.elided_for = -1
            if len(self._rows) <= MEASURED_LABELS:
                self._label_width = max(self._label_width, metrics.horizontalAdvance(label))
        self._relayout()
        self.viewport().update()

    def apply_events(self, events: Iterable[ev.Event]) -> None:
        """Apply one frame's events (others than the cell and run events are ignored).

        Cheap by design: a dict dispatch and a few list appends per event, then one
        ``update()`` for the whole frame.
        """
        handlers = self._handlers
        rows_before = len(self._rows)
        changed = False
        for event in events:
            handler = handlers.get(type(event))
            if handler is not None:
                handler(event)
                changed = True
        if not changed:
            return
        if len(self._rows) != rows_before:  # events for cells nobody announced
            self._relayout()
        self._refresh_extent()
        self.viewport().update()

    def set_now(self, t: float) -> None:
        """The current time (seconds since the first run's start): open segments reach it.

        Ignored once frozen by :meth:`finish` until new cell events arrive.
        """
        if not self._live or t <= self._now:
            return
        self._now = t
        self._refresh_extent()
        self.viewport().update()

    def finish(self) -> None:
        """Freeze the clock: open segments stop growing and the fitted view ends at the data."""
        self._live = False
        self._refresh_extent()
        self.viewport().update()

    # ---------------------------------------------------------------------- queries

    def segments(self, cell_id: str) -> list[tuple[str, float, float | None]]:
        """``(kind, start, end)`` of a row in order; ``end`` is ``None`` while open.

        End states are zero-length segments (``("done", t, t)``). Unknown ids give ``[]``.
        """
        index = self._index.get(cell_id)
        if index is None:
            return []
        return [(s.kind, s.start, s.end) for s in self._rows[index].segments]

    def legend_items(self) -> list[str]:
        """The legend's entries, in the order they are drawn."""
        return list(LEGEND.values())

    def cell_ids(self) -> list[str]:
        """Row cell ids, top to bottom."""
        return [row.cell_id for row in self._rows]

    def is_live(self) -> bool:
        """Whether open segments still follow the clock (False after :meth:`finish`)."""
        return self._live

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
        index = self._index[cell_id]
        y = self._header_h + index * self._row_h - self.verticalScrollBar().value()
        return QPoint(round(self.x_at(t)), y + self._row_h // 2)

    def cell_at(self, pos: QPoint | QPointF) -> str | None:
        """The cell id of the row under viewport point ``pos``."""
        index = self._row_index_at(pos.y())
        return self._rows[index].cell_id if index >= 0 else None

    def tooltip_at(self, pos: QPoint | QPointF) -> str:
        """The tooltip (rich text) for viewport point ``pos``: the row's label, state and
        metrics, and the segment under the cursor; the interaction hint over the header."""
        if pos.y() < self._header_h:
            return _HINT
        index = self._row_index_at(pos.y())
        if index < 0:
            return ""
        at = self.time_at(pos.x()) if pos.x() >= self._gutter else None
        return self._row_tooltip(self._rows[index], at)

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

    # --------------------------------------------------------------------- event model

    def _row(self, cell_id: str) -> _Row:
        index = self._index.get(cell_id)
        if index is not None:
            return self._rows[index]
        row = _Row(cell_id, cell_id)
        self._index[cell_id] = len(self._rows)
        self._rows.append(row)
        return row

    def _offset_for(self, run_id: str) -> float:
        offset = self._offsets.get(run_id)
        if offset is None:
            # The first run defines time zero; a later one whose RunStarted we did not see
            # (so whose wall-clock start is unknown) starts now.
            offset = self._clock() if self._offsets else 0.0
            self._offsets[run_id] = offset
            self._open_runs.add(run_id)
        return offset

    def _at(self, event: ev.Event) -> float:
        t = event.t + self._offset_for(event.run_id)
        if t > self._data_end:
            self._data_end = t
        return t

    def _begin_chain(self, row: _Row, run_id: str, t: float) -> None:
        row.ended = False
        row.chain_start = len(row.segments)
        row.chains += 1
        row.run_id = run_id
        row.offset = self._offsets.get(run_id, 0.0)
        row.queued_at = t
        row.attempt = 0
        row.metrics = None
        row.message = ""

    @staticmethod
    def _close_open(row: _Row, t: float) -> None:
        """End the current chain's open segments at ``t``; drop planned ones never reached
        (the wait after a back-off that was cut short)."""
        segments = row.segments
        while (
            len(segments) > row.chain_start
            and segments[-1].start > t
            and segments[-1].kind not in END_KINDS
        ):
            segments.pop()
        for segment in reversed(segments[row.chain_start :]):
            if segment.end is not None and segment.end <= t:
                break
            segment.end = max(t, segment.start)

    def _apply_run_started(self, event: ev.RunStarted) -> None:
        self._live = True
        if event.run_id in self._offsets:
            return
        if not self._offsets:
            offset = 0.0
            self._base_epoch = event.started_at
        elif self._base_epoch is not None:
            offset = max(event.started_at - self._base_epoch, 0.0)
        else:
            offset = self._clock()
        self._offsets[event.run_id] = offset
        self._open_runs.add(event.run_id)

    def _apply_queued(self, event: ev.CellQueued) -> None:
        row = self._row(event.cell_id)
        t = self._at(event)
        self._live = True
        if not row.ended:
            return  # already queued or in flight
        self._begin_chain(row, event.run_id, t)
        row.segments.append(_Segment(WAITING, t))
        row.state = WAITING

    def _apply_started(self, event: ev.CellStarted) -> None:
        row = self._row(event.cell_id)
        t = self._at(event)
        self._live = True
        segments = row.segments
        if row.ended:  # no CellQueued seen for this run: its wait is known from `waited`
            self._begin_chain(row, event.run_id, t - event.waited)
            if event.waited > 0:
                segments.append(_Segment(WAITING, t - event.waited, t))
        else:
            last = segments[-1]
            before = segments[-2] if len(segments) - row.chain_start >= 2 else None
            if (
                last.kind == WAITING
                and last.end is None
                and before is not None
                and before.kind == BACKOFF
            ):
                # Back-off, then the limiter: `waited` says where one turned into the other.
                boundary = min(max(t - event.waited, before.start), t)
                before.end = boundary
                if boundary < t:
                    last.start, last.end = boundary, t
                else:
                    segments.pop()
            else:
                self._close_open(row, t)
        segments.append(_Segment(REQUEST, t))
        row.state = REQUEST
        row.attempt = event.attempt

    def _apply_first_token(self, event: ev.FirstToken) -> None:
        row = self._row(event.cell_id)
        t = self._at(event)
        if row.ended:
            return
        self._live = True
        self._close_open(row, t)
        row.segments.append(_Segment(STREAMING, t))
        row.state = STREAMING

    def _apply_retrying(self, event: ev.CellRetrying) -> None:
        row = self._row(event.cell_id)
        t = self._at(event)
        if row.ended:
            return
        self._live = True
        self._close_open(row, t)
        resume = t + max(event.delay, 0.0)
        row.segments.append(_Segment(BACKOFF, t, resume))
        row.segments.append(_Segment(WAITING, resume))  # drawn once the clock passes `resume`
        row.state = BACKOFF
        row.attempt = event.attempt - 1
        row.message = event.reason

    def _apply_end(
        self, event: ev.CellEvent, kind: str, metrics: CellMetrics, message: str
    ) -> None:
        row = self._row(event.cell_id)
        t = self._at(event)
        if row.ended and row.segments:
            return  # ended already (a duplicate)
        if row.ended:
            self._begin_chain(row, event.run_id, t)
        self._close_open(row, t)
        row.segments.append(_Segment(kind, t, t))
        row.ended = True
        row.state = kind
        row.metrics = metrics
        row.message = message

    def _apply_finished(self, event: ev.CellFinished) -> None:
        self._apply_end(event, DONE, event.metrics, "")

    def _apply_failed(self, event: ev.CellFailed) -> None:
        self._apply_end(event, FAILED, event.metrics, event.message)

    def _apply_cancelled(self, event: ev.CellCancelled) -> None:
        self._apply_end(event, CANCELLED, event.metrics, event.reason)

    def _apply_run_finished(self, event: ev.RunFinished) -> None:
        t = self._at(event)
        for row in self._rows:
            if row.run_id == event.run_id and not row.ended:
                self._close_open(row, t)
        self._open_runs.discard(event.run_id)
        if not self._open_runs:
            self._live = False

    # --------------------------------------------------------------------- view state

    def _clock(self) -> float:
        """Where open segments end: the later of set_now() and the last event."""
        return max(self._now, self._data_end)

    def _refresh_extent(self) -> None:
        """Recompute the end of the fitted axis; move the view if it is fitted."""
        end = self._clock()
        if self._live:
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
        bar.setRange(0, max(0, len(self._rows) * self._row_h + 2 - visible))
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
        return index if 0 <= index < len(self._rows) else -1

    # ---------------------------------------------------------------------- tooltips

    def _row_tooltip(self, row: _Row, at: float | None) -> str:
        lines = [f"<b>{html.escape(row.label)}</b>"]

        def add(name: str, value: str) -> None:
            lines.append(f"{html.escape(name)}: {html.escape(value)}")

        add("State", self._state_text(row))
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
            self._add_live_metrics(row, add)
        if row.message:
            name = {FAILED: "Error", CANCELLED: "Reason"}.get(row.state, "Last retry")
            add(name, row.message)
        if row.chains > 1:
            add("Runs of this cell", str(row.chains))
        if at is not None:
            segment = self._segment_at(row, at)
            if segment is not None:
                start, end = segment.start, segment.end
                if end is None:
                    end = self._clock()
                add(
                    "Here",
                    f"{self._describe(row, segment)}, {format_seconds(start)} → "
                    f"{format_seconds(end)} ({format_seconds(end - start)})",
                )
        return "<qt>" + "<br>".join(lines) + "</qt>"

    def _add_live_metrics(self, row: _Row, add: Callable[[str, str], None]) -> None:
        """What is known of a cell still in flight, from its segments."""
        clock = self._clock()
        chain = row.segments[row.chain_start :]
        assert row.queued_at is not None
        add("Queued at", format_seconds(row.queued_at))
        waited = sum(
            min(s.end if s.end is not None else clock, clock) - s.start
            for s in chain
            if s.kind == WAITING and s.start <= clock
        )
        add("Waited", format_seconds(max(waited, 0.0)))
        requests = [i for i, s in enumerate(chain) if s.kind == REQUEST]
        if requests:
            request = chain[requests[-1]]
            following = chain[requests[-1] + 1] if requests[-1] + 1 < len(chain) else None
            if following is not None and following.kind == STREAMING:
                add("Time to first token", format_seconds(following.start - request.start))
            if not row.ended and row.state in (REQUEST, STREAMING):
                add("Running for", format_seconds(max(clock - request.start, 0.0)))
        if row.attempt > 1:
            add("Retries", str(row.attempt - 1))

    def _state_text(self, row: _Row) -> str:
        state = row.state
        if not state:
            return "not queued yet"
        attempt = f" (attempt {row.attempt})" if row.attempt > 1 else ""
        if state == WAITING:
            return f"waiting for a slot{attempt}"
        if state == REQUEST:
            return f"request sent, no text yet{attempt}"
        if state == STREAMING:
            return f"streaming{attempt}"
        if state == BACKOFF:
            return f"backing off before attempt {row.attempt + 1}"
        return state

    @staticmethod
    def _segment_at(row: _Row, t: float) -> _Segment | None:
        found: _Segment | None = None
        for segment in row.segments:
            if segment.kind in END_KINDS:
                continue
            end = segment.end if segment.end is not None else math.inf
            if segment.start <= t <= end:
                found = segment  # the later one wins at a shared boundary
        return found

    @staticmethod
    def _describe(row: _Row, segment: _Segment) -> str:
        if segment.kind != REQUEST:
            return LEGEND[segment.kind]
        index = row.segments.index(segment)
        following = row.segments[index + 1] if index + 1 < len(row.segments) else None
        if following is not None and following.kind == STREAMING:
            return "waiting for first token"
        if segment.end is None:
            return "request sent, no text yet"
        return "waiting for response"

    # ------------------------------------------------------------------------ painting

    def _apply_colors(self) -> None:
        colors = {kind: segment_color(kind) for kind in LEGEND}
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
        rows = self._rows
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
        # Lines as 1-px fillRects: measured, a 1-px pen's drawLine over a tall viewport cost
        # ~0.3 ms each, a fillRect ~1 us.
        grid = colors["grid"]
        for t in ticks:
            painter.fillRect(left + round((t - t0) * scale), header, 1, height - header, grid)

        live = self._live
        clock = self._clock()
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
                if kind == WAITING:
                    painter.fillRect(x0, thin_top, bar_w, thin_h, waiting_color)
                elif kind == BACKOFF:
                    painter.fillRect(x0, bar_top, bar_w, bar_h, backoff_fill)
                    painter.fillRect(x0, bar_top, bar_w, bar_h, hatch)
                else:
                    painter.fillRect(x0, bar_top, bar_w, bar_h, colors[kind])

        # Row labels, elided to the gutter (cached per row and width).
        painter.setClipRect(0, header, left, height - header)
        text_w = left - 2 * _PAD
        text_color = palette.color(QPalette.ColorRole.Text)
        align = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        for index in range(first, last + 1):
            row = rows[index]
            if row.elided_for != text_w:
                row.elided = metrics.elidedText(row.label, Qt.TextElideMode.ElideRight, text_w)
                row.elided_for = text_w
            y = header + index * row_h - scroll
            painter.setPen(colors["failed_text"] if row.state == FAILED else text_color)
            painter.drawText(QRect(_PAD, y, text_w, row_h), align, row.elided)
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
            if kind == WAITING:
                thin = max(4, swatch_h // 3)
                painter.fillRect(x, top + (swatch_h - thin) // 2, _SWATCH_W, thin, colors[kind])
            elif kind == BACKOFF:
                painter.fillRect(x, top, _SWATCH_W, swatch_h, colors["backoff_fill"])
                painter.fillRect(x, top, _SWATCH_W, swatch_h, self._hatch)
            elif kind in END_KINDS:
                cap_x = x + (_SWATCH_W - _CAP_W) // 2
                painter.fillRect(cap_x, top - 1, _CAP_W, swatch_h + 2, colors[kind])
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
                (metrics.horizontalAdvance(row.label) for row in self._rows[:MEASURED_LABELS]),
                default=0,
            )
            for row in self._rows:
                row.elided_for = -1
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
