"""Wall time per strategy beside its ideal, with the speed-up over sync written on each bar.

One row per strategy (sync on top, then sequential, gather, abatch, as_completed, stream),
each with two horizontal bars: *measured* wall time and the *ideal* the caller computed (the
sum of the requests for the sequential strategies, the longest single request for the
concurrent ones). Horizontal bars because the strategy names then read left to right at any
width instead of being rotated or elided under vertical bars.

Per-bar text ("3.0×  1.50 s") is drawn by this widget, not by the series' own labels: a
bar series can only format its own value (``@value``), never a ratio computed from another
row. One :class:`QGraphicsTextItem` per row is a child of the chart, placed with
``QChart.mapToPosition`` (value, row index) just past the longer of the row's two bars and
re-placed whenever the plot area moves (``plotAreaChanged``: resize, title, legend, axis
labels). The value axis gets headroom so the text fits inside the plot; when the widget is
too narrow even for that, the text is clamped to the plot's right edge, on a pill of the
chart's background colour, so it stays readable over the bar.

Colours come from the application palette (``ChartThemeDark`` or ``ChartThemeLight`` by
:func:`gui.qt.resources.is_dark`, then background and text from the palette), and follow a
light/dark switch. Animations are off: they repaint the whole chart for every frame.
"""

from __future__ import annotations

import html
import math

from PySide6.QtCharts import (
    QBarCategoryAxis,
    QBarSet,
    QChart,
    QChartView,
    QHorizontalBarSeries,
    QValueAxis,
)
from PySide6.QtCore import QEvent, QMargins, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPalette, QPen, QResizeEvent
from PySide6.QtWidgets import (
    QGraphicsRectItem,
    QGraphicsTextItem,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from gui.qt.resources import is_dark

#: Every strategy, in the order the chart shows them (top to bottom).
STRATEGIES: tuple[str, ...] = ("sync", "sequential", "gather", "abatch", "as_completed", "stream")

#: The baseline every speed-up is measured against.
BASELINE = "sync"

#: Bar colours (light, dark): measured is the accent, ideal a muted ghost beside it.
_MEASURED = ("#2f6fde", "#5b9cff")
_IDEAL = ("#b4bfcb", "#59636e")
_FAILED = ("#b42318", "#ff8a80")

_NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

#: Fraction of the plot width the longest bar may take at most (room for its text).
_MIN_BAR_FRACTION = 0.5
_TEXT_GAP_PX = 5.0

#: Fonts scale with the widget between these factors of the application font, so the chart
#: reads at 360x260 in a side panel and does not look empty when maximised.
_FONT_SCALE = (0.9, 1.5)
_FONT_SCALE_AT = QSize(480, 300)  # the size at which fonts are 1.0x

#: z-values above Qt Charts' own items (plot background, grid, axes, series, legend).
_BAND_Z = 1.5  # above the plot background and shades, under grid and bars
_TEXT_Z = 50.0


def _number(count: int) -> str:
    return _NUMBER_WORDS[count] if 0 <= count < len(_NUMBER_WORDS) else str(count)


def chart_title(strategies: int, requests: int | None) -> str:
    """``Same 3 requests, six ways: wall time (s)`` (without the count when unknown)."""
    ways = f"{_number(strategies)} way{'s' if strategies != 1 else ''}"
    if requests is None:
        return f"The same requests, {ways}: wall time (s)"
    plural = "s" if requests != 1 else ""
    return f"Same {requests} request{plural}, {ways}: wall time (s)"


def format_speedup(ratio: float) -> str:
    """``3.0×``, ``0.9×``, ``12×``."""
    return f"{ratio:.1f}×" if ratio < 10 else f"{ratio:.0f}×"


def format_wall(seconds: float) -> str:
    """``0.31 s``, ``1.50 s``, ``12.3 s``, ``125 s``."""
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 100:
        return f"{seconds:.1f} s"
    return f"{seconds:.0f} s"


def nice_ceiling(value: float) -> tuple[float, int]:
    """A round axis maximum at or above ``value`` and its tick count (3 to 6 ticks).

    Steps of 1, 2, 2.5 or 5 times a power of ten, so tick labels stay short.
    """
    if value <= 0 or not math.isfinite(value):
        return 1.0, 3
    raw_step = value / 4
    magnitude = 10 ** math.floor(math.log10(raw_step))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        step = factor * magnitude
        if step * 5 >= value:
            intervals = max(2, math.ceil(value / step - 1e-9))
            return intervals * step, intervals + 1
    return value, 3  # unreachable: 10 * magnitude * 5 >= value always holds


class StrategyChart(QWidget):
    """Bar chart of measured vs ideal wall time per strategy, speed-up over sync on each row.

    Feed it live: :meth:`set_pending` when a comparison starts, :meth:`set_running` as each
    strategy begins, :meth:`set_result` as each one finishes.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._order: list[str] = []
        self._results: dict[str, tuple[float, float]] = {}
        self._counts: dict[str, tuple[int, int]] = {}
        self._running: str | None = None
        self._requests: int | None = None
        self._texts: list[QGraphicsTextItem] = []
        self._axis_max = 0.0
        self._placing = False
        self._dark = is_dark()
        self._font_scale = 1.0
        self._build_ui()
        self.clear()

    # ----------------------------------------------------------------------------- UI

    def _build_ui(self) -> None:
        self.setObjectName("strategyChart")
        # Under ~230 px tall Qt Charts elides the category names ("...") to the row pitch.
        self.setMinimumSize(300, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

        chart = QChart()
        chart.setAnimationOptions(QChart.AnimationOption.NoAnimation)
        chart.setBackgroundRoundness(0)
        chart.setMargins(QMargins(4, 4, 8, 2))
        chart.layout().setContentsMargins(0, 0, 0, 0)
        self._chart = chart

        self._measured = QBarSet("measured")
        self._ideal = QBarSet("ideal")
        series = QHorizontalBarSeries()
        # A horizontal series stacks its sets bottom-up inside a row: ideal first puts the
        # measured bar on top, the one read first (the legend is reversed to match).
        series.append(self._ideal)
        series.append(self._measured)
        series.setBarWidth(0.8)
        chart.addSeries(series)
        self._series = series

        # Categories go bottom-up, and setReverse() does not flip bar series (checked on
        # 6.12): the rows are appended in reverse instead, see _index().
        self._category_axis = QBarCategoryAxis()
        self._category_axis.setGridLineVisible(False)
        chart.addAxis(self._category_axis, Qt.AlignmentFlag.AlignLeft)
        series.attachAxis(self._category_axis)

        self._value_axis = QValueAxis()
        self._value_axis.setLabelFormat("%g")
        self._value_axis.setMinorTickCount(0)
        chart.addAxis(self._value_axis, Qt.AlignmentFlag.AlignBottom)
        series.attachAxis(self._value_axis)

        legend = chart.legend()
        legend.setAlignment(Qt.AlignmentFlag.AlignBottom)
        legend.setMarkerShape(legend.MarkerShape.MarkerShapeRectangle)
        legend.setReverseMarkers(True)  # "measured" first, though its set was added second

        self._band = QGraphicsRectItem(chart)
        self._band.setPen(QPen(Qt.PenStyle.NoPen))
        self._band.setZValue(_BAND_Z)
        self._band.hide()

        view = QChartView(chart, self)
        view.setObjectName("strategyChartView")
        view.setRenderHint(QPainter.RenderHint.Antialiasing)
        view.setFrameShape(view.Shape.NoFrame)
        view.setToolTip(
            "Measured: wall time of the whole batch with that strategy.\n"
            "Ideal: the sum of the requests for sync and sequential (one after another),\n"
            "the longest single request for the concurrent ones.\n"
            "× is the speed-up over sync."
        )
        self._view = view

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(view)

        chart.plotAreaChanged.connect(self._on_chart_plot_area_changed)
        self._apply_colors()

    def sizeHint(self) -> QSize:
        return QSize(480, 320)

    def minimumSizeHint(self) -> QSize:
        return QSize(300, 240)

    # ------------------------------------------------------------------------- public API

    def set_pending(self, strategies: list[str], requests: int | None = None) -> None:
        """Start a comparison: one empty row per strategy, in the order given.

        Args:
            strategies: Strategy names, top to bottom.
            requests: Requests per strategy, for the title (taken from the first result's
                ``done + failed`` when not given).
        """
        self._order = list(dict.fromkeys(strategies))
        self._results.clear()
        self._counts.clear()
        self._running = None
        self._requests = requests
        self._rebuild_rows()

    def set_result(
        self, strategy: str, wall_s: float, ideal_s: float, done: int, failed: int
    ) -> None:
        """Fill ``strategy``'s row: measured ``wall_s`` beside ``ideal_s`` (seconds).

        A strategy not announced by :meth:`set_pending` is added as a new bottom row.
        Speed-ups of every row are recomputed once sync's result is known.
        """
        wall_s, ideal_s = max(0.0, wall_s), max(0.0, ideal_s)
        self._results[strategy] = (wall_s, ideal_s)
        self._counts[strategy] = (done, failed)
        if self._requests is None and done + failed > 0:
            self._requests = done + failed
        if self._running == strategy:
            self._running = None
        if strategy not in self._order:
            self._order.append(strategy)
            self._rebuild_rows()
            return
        index = self._index(self._order.index(strategy))
        self._measured.replace(index, wall_s)
        self._ideal.replace(index, ideal_s)
        self._refresh()

    def set_running(self, strategy: str | None) -> None:
        """Highlight the row of the strategy running now (``None``: none runs)."""
        self._running = strategy if strategy in self._order else None
        self._refresh()

    def results(self) -> dict[str, tuple[float, float]]:
        """``{strategy: (measured wall s, ideal s)}`` for the strategies that finished."""
        return dict(self._results)

    def speedup(self, strategy: str) -> float | None:
        """Sync's wall time over ``strategy``'s, or ``None`` until both are known."""
        baseline = self._results.get(BASELINE)
        result = self._results.get(strategy)
        if baseline is None or result is None or result[0] <= 0:
            return None
        return baseline[0] / result[0]

    def row_text(self, strategy: str) -> str:
        """The plain text written on ``strategy``'s row (``""`` when unknown)."""
        if strategy not in self._order:
            return ""
        return self._texts[self._order.index(strategy)].toPlainText()

    def title(self) -> str:
        """The chart title."""
        return self._chart.title()

    def clear(self) -> None:
        """No comparison: no rows, a hint in the title."""
        self._order = []
        self._results.clear()
        self._counts.clear()
        self._running = None
        self._requests = None
        self._rebuild_rows()
        self._chart.setTitle("Compare strategies to see wall time per strategy (s)")
        self._band.hide()

    # --------------------------------------------------------------------------- internals

    def _index(self, row: int) -> int:
        """Category (and bar set) index of display ``row`` (0 = top)."""
        return len(self._order) - 1 - row

    def _rebuild_rows(self) -> None:
        """Categories, bar values and row texts for ``_order`` (a handful of rows: cheap)."""
        bottom_up = self._order[::-1]
        self._category_axis.clear()
        self._category_axis.append(bottom_up)
        for bar_set, part in ((self._measured, 0), (self._ideal, 1)):
            bar_set.remove(0, bar_set.count())
            bar_set.append([self._results.get(name, (0.0, 0.0))[part] for name in bottom_up])
        self._make_texts()
        self._refresh()

    def _make_texts(self) -> None:
        """A visible text item for each row; surplus ones are emptied, hidden and kept."""
        while len(self._texts) < len(self._order):
            item = QGraphicsTextItem(self._chart)
            item.document().setDocumentMargin(1)
            item.setZValue(_TEXT_Z)
            item.setAcceptHoverEvents(False)
            self._texts.append(item)
        for row, item in enumerate(self._texts):
            if row >= len(self._order):
                item.setPlainText("")
            item.setVisible(row < len(self._order))

    def _refresh(self) -> None:
        """Title, row texts and axis range from the current state, then placement."""
        if not self._order:
            return
        self._chart.setTitle(chart_title(len(self._order), self._requests))
        text_color, faint = self._text_colors()
        failed_color = QColor(_FAILED[1] if self._dark else _FAILED[0])
        for row, strategy in enumerate(self._order):
            item = self._texts[row]
            item.setFont(self._row_font())
            result = self._results.get(strategy)
            if result is not None:
                ratio = self.speedup(strategy)
                parts = []
                if ratio is not None:
                    parts.append(f"<b>{format_speedup(ratio)}</b>")
                parts.append(html.escape(format_wall(result[0])))
                failed = self._counts.get(strategy, (0, 0))[1]
                if failed:
                    parts.append(
                        f'<span style="color:{failed_color.name()}">{failed} failed</span>'
                    )
                item.setHtml(
                    f'<span style="color:{text_color.name()}">{"&nbsp;&nbsp;".join(parts)}</span>'
                )
            elif strategy == self._running:
                item.setHtml(f'<i style="color:{text_color.name()}">running…</i>')
            else:
                item.setHtml(f'<span style="color:{faint.name()}">waiting</span>')
        self._place()

    def _scaled_font(self, factor: float = 1.0, bold: bool = False) -> QFont:
        font = QFont(self.font())
        if font.pointSizeF() > 0:  # pixel-sized fonts are left alone
            font.setPointSizeF(round(font.pointSizeF() * self._font_scale * factor * 2) / 2)
        font.setBold(bold)
        return font

    def _row_font(self) -> QFont:
        return self._scaled_font()

    def _wanted_font_scale(self) -> float:
        low, high = _FONT_SCALE
        scale = min(self.width() / _FONT_SCALE_AT.width(), self.height() / _FONT_SCALE_AT.height())
        return round(min(high, max(low, scale)) * 10) / 10  # steps: no refont per pixel

    def _apply_fonts(self) -> None:
        chart = self._chart
        chart.setTitleFont(self._scaled_font(1.1, bold=True))
        chart.legend().setFont(self._scaled_font())
        for axis in (self._category_axis, self._value_axis):
            axis.setLabelsFont(self._scaled_font())

    def _set_axis_max(self, maximum: float) -> None:
        top, ticks = nice_ceiling(maximum)
        if top != self._axis_max or self._value_axis.max() != top:
            self._axis_max = top
            self._value_axis.setRange(0.0, top)
            self._value_axis.setTickCount(ticks)

    def _place(self) -> None:
        """Position the row texts and the running band in the current plot area."""
        if self._placing or not self._order:
            return
        self._placing = True
        try:
            self._set_axis_max(self._needed_axis_max(self._chart.plotArea().width()))
            plot = self._chart.plotArea()
            background = self._chart.backgroundBrush().color()
            for row, strategy in enumerate(self._order):
                item = self._texts[row]
                end_value = max(self._results.get(strategy, (0.0, 0.0)))
                end = self._chart.mapToPosition(QPointF(end_value, self._index(row)), self._series)
                box = item.boundingRect()
                x = end.x() + _TEXT_GAP_PX
                clamped = x + box.width() > plot.right()
                if clamped:
                    x = max(plot.left() + 2, plot.right() - box.width())
                item.setPos(x, end.y() - box.height() / 2)
                self._set_pill(item, background if clamped else None)
            self._place_band(plot)
        finally:
            self._placing = False

    def _needed_axis_max(self, plot_width: float) -> float:
        """The smallest axis maximum that leaves every row room for its text after its bar.

        Each row needs ``end * width / max + gap + text <= width``; rows whose text cannot
        fit even then (a very narrow chart) are not allowed to shrink the bars below
        :data:`_MIN_BAR_FRACTION` of the plot, and their text is clamped instead.
        """
        needed = 0.0
        for row, strategy in enumerate(self._order):
            end = max(self._results.get(strategy, (0.0, 0.0)))
            if end <= 0:
                continue
            if plot_width <= 0:
                needed = max(needed, end)
                continue
            text = self._texts[row].boundingRect().width() + _TEXT_GAP_PX
            room = max(plot_width * _MIN_BAR_FRACTION, plot_width - text)
            needed = max(needed, end * plot_width / room)
        return needed or 1.0

    def _set_pill(self, item: QGraphicsTextItem, color: QColor | None) -> None:
        """Give a clamped text (drawn over its bar) a background so it stays readable."""
        pills = [c for c in item.childItems() if isinstance(c, QGraphicsRectItem)]
        if color is None:
            for pill in pills:
                pill.hide()
            return
        pill = pills[0] if pills else QGraphicsRectItem(item)
        pill.setFlag(pill.GraphicsItemFlag.ItemStacksBehindParent)
        pill.setPen(QPen(Qt.PenStyle.NoPen))
        fill = QColor(color)
        fill.setAlpha(220)
        pill.setBrush(QBrush(fill))
        pill.setRect(item.boundingRect())
        pill.show()

    def _place_band(self, plot: QRectF) -> None:
        if self._running is None or self._running not in self._order:
            self._band.hide()
            return
        index = self._index(self._order.index(self._running))
        upper = self._chart.mapToPosition(QPointF(0, index - 0.5), self._series).y()
        lower = self._chart.mapToPosition(QPointF(0, index + 0.5), self._series).y()
        top, bottom = min(upper, lower), max(upper, lower)
        self._band.setRect(QRectF(plot.left(), top, plot.width(), bottom - top))
        self._band.show()

    def _text_colors(self) -> tuple[QColor, QColor]:
        text = self.palette().color(QPalette.ColorRole.WindowText)
        # Rich text colours are given by name (no alpha): blend halfway to the background.
        back = self.palette().color(QPalette.ColorRole.Window)
        faint = QColor(
            (text.red() + back.red()) // 2,
            (text.green() + back.green()) // 2,
            (text.blue() + back.blue()) // 2,
        )
        return text, faint

    def _apply_colors(self) -> None:
        """Theme from the palette: Qt's light or dark chart theme, then palette colours."""
        self._dark = is_dark()
        chart = self._chart
        chart.setTheme(
            QChart.ChartTheme.ChartThemeDark if self._dark else QChart.ChartTheme.ChartThemeLight
        )
        palette = self.palette()
        window = palette.color(QPalette.ColorRole.Window)
        text = palette.color(QPalette.ColorRole.WindowText)
        grid = QColor(text)
        grid.setAlpha(45)
        line = QColor(text)
        line.setAlpha(110)

        chart.setBackgroundBrush(QBrush(window))
        chart.setBackgroundPen(QPen(Qt.PenStyle.NoPen))
        chart.setPlotAreaBackgroundVisible(False)
        chart.setTitleBrush(QBrush(text))
        chart.legend().setLabelColor(text)
        self._apply_fonts()
        for axis in (self._category_axis, self._value_axis):
            axis.setLabelsBrush(QBrush(text))
            axis.setLinePen(QPen(line, 1))
            axis.setGridLinePen(QPen(grid, 1))
        self._category_axis.setGridLineVisible(False)
        self._view.setBackgroundBrush(QBrush(window))

        measured = QColor(_MEASURED[1] if self._dark else _MEASURED[0])
        ideal = QColor(_IDEAL[1] if self._dark else _IDEAL[0])
        for bar_set, color in ((self._measured, measured), (self._ideal, ideal)):
            bar_set.setColor(color)
            bar_set.setBorderColor(color)
        band = QColor(palette.color(QPalette.ColorRole.Highlight))
        band.setAlpha(45)
        self._band.setBrush(QBrush(band))
        self._refresh()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (
            QEvent.Type.PaletteChange,
            QEvent.Type.ApplicationPaletteChange,
            QEvent.Type.FontChange,
        ):
            self._apply_colors()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        scale = self._wanted_font_scale()
        if scale != self._font_scale:
            self._font_scale = scale
            self._apply_fonts()
            self._refresh()

    # ------------------------------------------------------------------------------ slots

    def _on_chart_plot_area_changed(self, _plot: QRectF) -> None:
        self._place()


__all__ = [
    "BASELINE",
    "STRATEGIES",
    "StrategyChart",
    "chart_title",
    "format_speedup",
    "nice_ceiling",
]
