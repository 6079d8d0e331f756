"""The event-loop lag heartbeat on the GUI thread, and the status-bar sparkline that shows it.

:class:`LagMeter` arms a 10 ms single-shot :class:`QTimer` (``PreciseTimer``) and, each time
it fires, records how late it fired (``perf_counter`` now minus due, clipped at 0) and arms it
again. A free GUI loop serves the timer within a fraction of a millisecond; a loop busy with
layout, parsing or a blocking call serves it late, and that lateness is the stutter a user
feels. Lateness above 16 ms means at least one dropped frame at 60 Hz.

A Qt timer rather than an asyncio task: it needs no running asyncio loop, so the meter
works in plain pytest-qt tests and before the qasync loop starts. Samples go to
:class:`gui.core.lag.LagRecorder`: one that a run resets (the status bar's figures), and one
for the whole session from :meth:`LagMeter.begin_session` (the window became visible) to
exit, which is what the benchmark holds to its targets: start-up, warm-up and run start
included, the moments a per-run figure would miss.

:class:`LagSparkline` paints the recent samples. Its geometry is built once per
:meth:`LagSparkline.set_samples` (at most 5 times a second, driven by
:attr:`LagMeter.updated`), never in ``paintEvent``, so a repaint only strokes two cached paths.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence

from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPalette,
    QPen,
    QPixmap,
    QResizeEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from gui.core.lag import LagRecorder, LagStats, lag_stats
from gui.qt.resources import is_dark

#: Lateness at which a frame is dropped at 60 Hz: the sparkline's guide line.
FRAME_MS = 16.0

#: Recent p99 under this is amber rather than red.
SLOW_MS = 50.0

#: A single lateness above this is a freeze (remembered in :attr:`LagMeter.last_freeze_ms`).
FREEZE_MS = 100.0

#: A lateness above this is a freeze a user sees (the benchmark's session target).
VISIBLE_FREEZE_MS = 50.0

#: The GUI thread counts as busy (:meth:`LagMeter.busy`) while its heartbeat is this late, or
#: its last beat was (seconds): an idle loop serves it within a millisecond or two, even while
#: a background import holds the GIL (its switch interval is 1 ms).
BUSY_AFTER_S = 0.004

#: ``updated`` is emitted at most this often (seconds): 5 times a second.
UPDATE_PERIOD_S = 0.2

#: Sparkline colours (light, dark) by health: p99 under 16 ms, under 50 ms, above.
_HEALTH_COLORS = {
    "ok": ("#1a7f37", "#3fb950"),
    "slow": ("#9a6700", "#d29922"),
    "bad": ("#cf222e", "#f85149"),
}


def health(p99_ms: float, max_ms: float = 0.0) -> str:
    """``"ok"`` under :data:`FRAME_MS`, ``"slow"`` under :data:`SLOW_MS`, else ``"bad"``.

    A freeze (``max_ms`` over :data:`FREEZE_MS`) is ``"bad"`` whatever the p99: one 1.5 s
    block is a single sample among 500, invisible to a p99, yet the user just saw it.
    """
    if max_ms > FREEZE_MS:
        return "bad"
    if p99_ms < FRAME_MS:
        return "ok"
    if p99_ms < SLOW_MS:
        return "slow"
    return "bad"


def format_ms(ms: float) -> str:
    """``0.4 ms``, ``3.1 ms``, ``18 ms``, ``1520 ms``: one decimal under 10 ms."""
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"


def lag_tooltip(stats: LagStats, window_s: float = 5.0) -> str:
    """The sparkline's tooltip for ``stats`` over the last ``window_s`` seconds."""
    if not stats.samples:
        return "event-loop lag: no samples yet; a 10 ms heartbeat on the GUI loop"
    return (
        f"event-loop lag: p50 {format_ms(stats.p50_ms)} · p99 {format_ms(stats.p99_ms)}"
        f" · max {format_ms(stats.max_ms)} (last {window_s:.0f} s);"
        " a 10 ms heartbeat on the GUI loop — under 16 ms means no dropped frame"
    )


class LagMeter(QObject):
    """A 10 ms heartbeat on the GUI thread that records how late Qt serves it.

    Signals:
        updated(): new samples arrived; emitted at most 5 times a second (never per sample).
        froze(float): the loop was blocked; carries the lateness in ms (over :data:`FREEZE_MS`),
            emitted once, when the loop comes back.

    Args:
        interval_ms: Heartbeat period in milliseconds.
        keep: Samples kept for :meth:`recent` (500 beats of 10 ms = the last ~5 s).
        freeze_ms: A single lateness above this counts as a freeze.
        parent: Qt parent.
    """

    updated = Signal()
    froze = Signal(float)

    def __init__(
        self,
        interval_ms: int = 10,
        keep: int = 500,
        freeze_ms: float = FREEZE_MS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.interval_ms = interval_ms
        self.freeze_ms = freeze_ms
        self._recorder = LagRecorder(keep)
        self._session = LagRecorder(1)
        self._session_from: float | None = None
        self._session_long: list[tuple[float, float]] = []  # (ms, when) over one frame
        self._due = 0.0
        # Read from other threads by busy() and wait_free(): plain Python values, not Qt's.
        self._armed = False
        self._last_late_s = 0.0
        self._beaten = threading.Event()  # set by every beat, for wait_free()
        self._last_emit = 0.0
        self._last_freeze_ms: float | None = None
        self._last_freeze_at: float | None = None
        # The app's own start-up (imports, first reads) is measured but not announced: a
        # beat that fell due in [quiet start, quiet end] never emits ``froze``.
        self._quiet: tuple[float, float] | None = None
        self.quiet_freezes = 0
        # Single shot, re-armed from the callback: a repeating timer would let Qt coalesce
        # or skip beats after a block, hiding exactly the lateness we want to see.
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._on_timer_timeout)

    # ------------------------------------------------------------------------- public API

    def start(self) -> None:
        """Start the heartbeat (no-op while running)."""
        if not self._timer.isActive():
            self._arm()

    def stop(self) -> None:
        """Stop the heartbeat; samples stay."""
        self._armed = False
        self._last_late_s = 0.0  # a restart is not busy until a beat says so
        self._timer.stop()
        self._beaten.set()  # a thread waiting for a beat waits no more

    def busy(self) -> bool:
        """Whether the GUI thread is busy: the heartbeat runs and is overdue by more than
        :data:`BUSY_AFTER_S`, or its last beat came that late (it has not served a beat on
        time since). Safe to call from any thread (it reads Python attributes); a
        background import asks it before each module (:mod:`gui.compat.imports`)."""
        if not self._armed:
            return False
        return self._last_late_s > BUSY_AFTER_S or time.perf_counter() - self._due > BUSY_AFTER_S

    def wait_free(self, timeout: float) -> bool:
        """Block the calling thread (never the GUI thread's) until :meth:`busy` is false or
        ``timeout`` seconds have passed; whether the GUI thread is free. Woken by the beats,
        not by polling: the GIL changes hands once per beat at most."""
        deadline = time.perf_counter() + timeout
        while self.busy():
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return False
            self._beaten.clear()
            if not self.busy():  # a beat came between the look and the clear
                break
            self._beaten.wait(remaining)
        return True

    def is_running(self) -> bool:
        """Whether the heartbeat is armed."""
        return self._timer.isActive()

    def reset(self) -> None:
        """Start of a run: forget the samples behind :meth:`stats` and the last freeze.

        The recent window (the sparkline) stays continuous.
        """
        self._recorder.reset()
        self._last_freeze_ms = None
        self._last_freeze_at = None

    def begin_quiet(self) -> None:
        """From now until :meth:`end_quiet`, freezes are recorded but ``froze`` stays silent.

        For the app's own start-up work: the user did nothing yet, and a notice that "the
        window froze" would be about us, not about what they are doing.
        """
        self._quiet = (time.perf_counter(), math.inf)

    @property
    def quiet(self) -> bool:
        """Whether freezes are being recorded without ``froze`` (between begin and end)."""
        return self._quiet is not None and self._quiet[1] == math.inf

    def end_quiet(self) -> None:
        """Announce freezes again (those whose beat fell due from now on)."""
        if self._quiet is not None:
            self._quiet = (self._quiet[0], time.perf_counter())

    def stats(self) -> LagStats:
        """Percentiles of every sample since the last :meth:`reset`."""
        return self._recorder.stats()

    def stats_between(self, start: float, end: float) -> LagStats:
        """Percentiles of the samples taken between two ``time.perf_counter()`` readings."""
        return self._recorder.stats_between(start, end)

    def begin_session(self) -> None:
        """Count every later heartbeat in :meth:`session_stats` (call once the window shows).

        Only beats armed from now on count: one that fell due while the first frame was
        being painted measured the paint, before anything was visible.
        """
        if self._session_from is None:
            self._session_from = time.perf_counter()
            self.start()

    @property
    def session_started_at(self) -> float | None:
        """``time.perf_counter()`` of :meth:`begin_session`, or ``None`` before it."""
        return self._session_from

    def session_stats(
        self,
        start: float | None = None,
        end: float | None = None,
        excluding: Sequence[tuple[float, float]] = (),
    ) -> LagStats:
        """Percentiles of the session's samples (optionally only from ``start`` to ``end``, or
        only those outside the ``(start, end)`` spans of ``excluding``: ``time.perf_counter()``
        readings, a beat counted by when it ran)."""
        if excluding:
            if start is not None or end is not None:
                raise ValueError("a span or spans to exclude, not both")
            return self._session.stats_outside(excluding)
        if start is None and end is None:
            return self._session.stats()
        return self._session.stats_between(
            start if start is not None else float("-inf"), end if end is not None else float("inf")
        )

    def session_freezes(
        self,
        over_ms: float = VISIBLE_FREEZE_MS,
        end: float | None = None,
        excluding: Sequence[tuple[float, float]] = (),
    ) -> list[float]:
        """The session's lateness samples over ``over_ms`` (a visible freeze), oldest first,
        up to ``end`` (a ``time.perf_counter()`` reading) when given, leaving out those whose
        beat ran inside a ``(start, end)`` span of ``excluding``."""
        return [ms for ms, _at in self.session_freezes_at(over_ms, end, excluding)]

    def session_freezes_at(
        self,
        over_ms: float = VISIBLE_FREEZE_MS,
        end: float | None = None,
        excluding: Sequence[tuple[float, float]] = (),
    ) -> list[tuple[float, float]]:
        """Like :meth:`session_freezes`, as ``(ms, perf_counter when the loop came back)``."""
        until = end if end is not None else float("inf")
        return [
            (ms, at)
            for ms, at in self._session_long
            if ms > over_ms
            and at <= until
            and not any(start <= at <= stop for start, stop in excluding)
        ]

    def recent(self) -> list[float]:
        """The recent lateness samples in ms (the last ~5 s), oldest first."""
        return self._recorder.recent()

    @property
    def last_freeze_ms(self) -> float | None:
        """The last lateness above ``freeze_ms`` since :meth:`reset`, or ``None``.

        A lower bound on how long the window froze: the block may have started up to one
        interval before the beat fell due.
        """
        return self._last_freeze_ms

    @property
    def last_freeze_at(self) -> float | None:
        """``time.perf_counter()`` when the loop came back from the last freeze, or ``None``."""
        return self._last_freeze_at

    # ---------------------------------------------------------------------------- slots

    def _arm(self) -> None:
        self._due = time.perf_counter() + self.interval_ms / 1000.0
        self._armed = True
        self._timer.start(self.interval_ms)

    def _on_timer_timeout(self) -> None:
        now = time.perf_counter()
        late_ms = max(0.0, (now - self._due) * 1000.0)
        self._last_late_s = late_ms / 1000.0
        self._beaten.set()
        self._recorder.add(late_ms, now)
        since = self._session_from
        if since is not None and self._due - self.interval_ms / 1000.0 >= since:
            self._session.add(late_ms, now)
            if late_ms > FRAME_MS:
                self._session_long.append((late_ms, now))
        if late_ms > self.freeze_ms:
            self._last_freeze_ms = late_ms
            self._last_freeze_at = now
            # By when the beat fell due, not when it ran: the block that delayed it began
            # before ``_due`` (inside the quiet span or not), whatever ran first afterwards.
            quiet = self._quiet
            if quiet is not None and quiet[0] <= self._due <= quiet[1]:
                self.quiet_freezes += 1
            else:
                self.froze.emit(late_ms)
        if now - self._last_emit >= UPDATE_PERIOD_S:
            self._last_emit = now
            self.updated.emit()
        # Re-armed after the slots above ran, so their cost is not counted as lag next beat.
        self._arm()


class LagSparkline(QWidget):
    """A status-bar sparkline of recent event-loop lateness with a 16 ms guide line.

    The vertical scale is a square root of ``ms / top`` (``top`` at least 50 ms): the usual
    sub-millisecond jitter and the 16 ms line stay visible next to a 1.5 s freeze. Each
    pixel column shows the worst sample that falls into it, so no spike is lost to
    downsampling. The colour follows the recent p99: green under 16 ms, amber under 50 ms,
    red above, and red while a freeze (one sample over 100 ms) is in the window.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._samples: list[float] = []
        self._stats = lag_stats([])
        self._line = QPainterPath()
        self._fill = QPainterPath()
        self._guide_y = 0.0
        self._picture: QPixmap | None = None  # the line as last drawn, for repaints
        self._dark = is_dark()
        self.setObjectName("lagSparkline")
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, False)
        self.setToolTip(lag_tooltip(self._stats))

    # ------------------------------------------------------------------------- public API

    def sizeHint(self) -> QSize:
        return QSize(120, 18)

    def minimumSizeHint(self) -> QSize:
        return QSize(40, 12)

    def set_samples(self, values: list[float]) -> None:
        """Show ``values`` (lateness in ms, oldest first) and update the tooltip."""
        self._samples = values
        self._stats = lag_stats(values)
        self.setToolTip(lag_tooltip(self._stats))
        self._rebuild()
        self.update()

    def stats(self) -> LagStats:
        """Percentiles of the samples shown."""
        return self._stats

    def health(self) -> str:
        """``"ok"``, ``"slow"`` or ``"bad"`` by the p99 of the samples shown (or a freeze)."""
        return health(self._stats.p99_ms, self._stats.max_ms)

    # --------------------------------------------------------------------------- internals

    def _rebuild(self) -> None:
        """Build the line and fill paths for the current size (not on every paint)."""
        values = self._samples
        rect = QRectF(self.rect()).adjusted(1, 1, -1, -1)
        height, width = rect.height(), rect.width()
        top = max(SLOW_MS, self._stats.max_ms)
        bottom = rect.bottom()

        def y_of(ms: float) -> float:
            return bottom - math.sqrt(min(ms, top) / top) * height

        self._guide_y = y_of(FRAME_MS)
        line = QPainterPath()
        fill = QPainterPath()
        count = len(values)
        columns = min(count, max(1, int(width)))
        if count and width > 0:
            step = width / max(1, columns - 1)
            fill.moveTo(rect.left(), bottom)
            for column in range(columns):
                start = column * count // columns
                stop = max(start + 1, (column + 1) * count // columns)
                point = QPointF(rect.left() + column * step, y_of(max(values[start:stop])))
                if column == 0:
                    line.moveTo(point)
                else:
                    line.lineTo(point)
                fill.lineTo(point)
            fill.lineTo(rect.left() + (columns - 1) * step, bottom)
            fill.closeSubpath()
        self._line, self._fill = line, fill
        self._picture = None  # drawn again at the next paint

    def paintEvent(self, event: QPaintEvent) -> None:
        # The status bar repaints its widgets on every change of a label beside this one,
        # several times per new set of samples: one picture per set, blitted, instead of an
        # antialiased path fill (most of a millisecond) per paint.
        ratio = self.devicePixelRatioF()
        picture = self._picture
        if picture is None or picture.size() != self.size() * ratio:
            picture = self._picture = self._render(ratio)
        painter = QPainter(self)
        painter.drawPixmap(0, 0, picture)
        painter.end()

    def _render(self, ratio: float) -> QPixmap:
        """The sparkline as a picture of this widget's size (transparent where blank)."""
        picture = QPixmap(self.size() * ratio)
        picture.setDevicePixelRatio(ratio)
        picture.fill(Qt.GlobalColor.transparent)
        painter = QPainter(picture)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        light, dark = _HEALTH_COLORS[self.health()]
        color = QColor(dark if self._dark else light)

        guide = QColor(palette.color(QPalette.ColorRole.WindowText))
        guide.setAlpha(90)
        guide_pen = QPen(guide, 1, Qt.PenStyle.DashLine)
        painter.setPen(guide_pen)
        painter.drawLine(QPointF(0, self._guide_y), QPointF(self.width(), self._guide_y))

        if not self._line.isEmpty():
            shade = QColor(color)
            shade.setAlpha(60)
            painter.fillPath(self._fill, shade)
            painter.setPen(QPen(color, 1.2))
            painter.drawPath(self._line)
        painter.end()
        return picture

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._rebuild()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._dark = is_dark()
            self._picture = None
            self.update()


__all__ = [
    "FRAME_MS",
    "FREEZE_MS",
    "VISIBLE_FREEZE_MS",
    "LagMeter",
    "LagSparkline",
    "format_ms",
    "health",
    "lag_tooltip",
]
