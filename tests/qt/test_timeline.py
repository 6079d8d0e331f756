"""The request timeline, told as what the user sees while a run goes and after it ended.

Offscreen (see conftest), synchronous: events are built by hand with synthetic times. The
staircase is saved to /tmp/timeline.png (and the dark version to /tmp/timeline_dark.png) for
a look by eye. Timing tests print what they measured and assert only a generous bound.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, Qt
from PySide6.QtGui import QHelpEvent, QMouseEvent, QPalette, QWheelEvent
from PySide6.QtWidgets import QApplication, QToolTip
from pytestqt.qtbot import QtBot

from gui.core import events as ev
from gui.core.checks import CheckResult
from gui.core.errors import ErrorKind
from gui.core.spec import ModelProfile, RunSpec
from gui.core.timeline import (
    BACKOFF,
    CANCELLED,
    CHECKED,
    DONE,
    END_KINDS,
    FAILED,
    LEGEND,
    REQUEST,
    SPAN_KINDS,
    STREAMING,
    WAITING,
)
from gui.qt.resources import is_dark
from gui.qt.widgets import timeline as timeline_module
from gui.qt.widgets.check_chips import pass_rate_color
from gui.qt.widgets.timeline import (
    FIRST_SLICE,
    RESET_STEP,
    TimelineWidget,
    format_tick,
    segment_color,
    tick_step,
)
from tests.support.timeline_events import LABELS, RUN, metrics, staircase, streamed
from tests.support.waiting import until


def report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    with capsys.disabled():
        print(f"\n  [measured] {line}", end="")


def spec() -> RunSpec:
    return RunSpec("Tell me about {x}", ({"x": "cats"},), (ModelProfile(),))


@pytest.fixture
def timeline(qtbot: QtBot) -> TimelineWidget:
    widget = TimelineWidget()
    qtbot.addWidget(widget)
    widget.resize(900, 360)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def pixel(widget: TimelineWidget, cell_id: str, t: float) -> str:
    """The colour drawn at time ``t`` in the middle of ``cell_id``'s row, as ``#rrggbb``."""
    point = widget.point_at(cell_id, t)
    return widget.viewport().grab().toImage().pixelColor(point).name()


def color(kind: str) -> str:
    """The colour of ``kind``'s bars in the current palette, as ``#rrggbb``."""
    return segment_color(kind).name()


class PaintCounter(QObject):
    """Counts the paint events a widget receives."""

    paints = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.paints += 1
        return False


def paint_ms(widget: TimelineWidget, repeats: int = 30) -> float:
    """Milliseconds per synchronous repaint of the viewport (each one checked to paint)."""
    viewport = widget.viewport()
    # A pending update() makes repaint() wait for it: flush it first, then warm up (the
    # elided labels are cached on the first paint).
    QApplication.processEvents()
    viewport.repaint()
    counter = PaintCounter()
    viewport.installEventFilter(counter)
    try:
        started = time.perf_counter()
        for _ in range(repeats):
            viewport.repaint()
        elapsed = time.perf_counter() - started
    finally:
        viewport.removeEventFilter(counter)
    assert counter.paints == repeats
    return elapsed * 1000 / repeats


def one_cell(widget: TimelineWidget, label: str = LABELS[0]) -> None:
    widget.reset([("c0", label)])


# -------------------------------------------------------------------------- segments


def test_a_streamed_cell_waits_then_awaits_its_first_token_then_streams_then_is_done(
    timeline: TimelineWidget,
) -> None:
    one_cell(timeline)
    events = streamed("c0", 0.0, 1.0, 1.3, 2.0)

    timeline.apply_events(events[:2])
    timeline.set_now(1.2)
    assert timeline.segments("c0") == [(WAITING, 0.0, 1.0), (REQUEST, 1.0, None)]
    assert pixel(timeline, "c0", 1.15) == color(REQUEST)  # the open bar reached now

    timeline.apply_events(events[2:])
    assert timeline.segments("c0") == [
        (WAITING, 0.0, 1.0),
        (REQUEST, 1.0, 1.3),
        (STREAMING, 1.3, 2.0),
        (DONE, 2.0, 2.0),
    ]
    assert pixel(timeline, "c0", 1.6) == color(STREAMING)


def test_a_call_that_is_not_streamed_waits_for_its_response_until_the_end(
    timeline: TimelineWidget,
) -> None:
    one_cell(timeline)
    timeline.apply_events(
        [
            ev.CellQueued(RUN, 0.0, "c0"),
            ev.CellStarted(RUN, 0.1, "c0", 1, 0.1),
            ev.TextChunk(RUN, 1.5, "c0", "The whole answer."),
            ev.CellFinished(RUN, 1.5, "c0", "The whole answer.", metrics(0, 0.1, None, 1.5, 0.1)),
        ]
    )
    assert timeline.segments("c0") == [(WAITING, 0.0, 0.1), (REQUEST, 0.1, 1.5), (DONE, 1.5, 1.5)]
    assert "waiting for response" in timeline.tooltip_at(timeline.point_at("c0", 1.0))


def test_a_retried_cell_shows_its_back_off_then_its_wait_for_a_slot_then_the_new_attempt(
    timeline: TimelineWidget,
) -> None:
    one_cell(timeline)
    timeline.apply_events(
        [
            ev.CellQueued(RUN, 0.0, "c0"),
            ev.CellStarted(RUN, 0.0, "c0", 1, 0.0),
            ev.CellRetrying(RUN, 0.5, "c0", 2, 3, 0.4, ErrorKind.RATE_LIMITED, "HTTP 429"),
        ]
    )
    timeline.set_now(0.7)
    # The back-off's end is known from its delay; the wait for a slot after it is planned.
    assert timeline.segments("c0")[-2:] == [(BACKOFF, 0.5, 0.9), (WAITING, 0.9, None)]
    assert pixel(timeline, "c0", 0.65) != timeline.palette().color(QPalette.ColorRole.Base).name()
    tip = timeline.tooltip_at(timeline.point_at("c0", 0.6))
    assert "retry back-off" in tip and "HTTP 429" in tip

    # The limiter was busy: the retry started 0.3 s after its back-off ended.
    timeline.apply_events(
        [
            ev.CellStarted(RUN, 1.2, "c0", 2, 0.3),
            ev.FirstToken(RUN, 1.4, "c0", 0.2),
            ev.CellFinished(RUN, 2.0, "c0", "ok", metrics(0, 1.2, 1.4, 2.0, 0.3, retries=1)),
        ]
    )
    segments = timeline.segments("c0")
    assert [kind for kind, _, _ in segments] == [
        WAITING,
        REQUEST,
        BACKOFF,
        WAITING,
        REQUEST,
        STREAMING,
        DONE,
    ]
    assert segments[2][0] == BACKOFF and segments[2][1:] == pytest.approx((0.5, 0.9))
    assert segments[3][0] == WAITING and segments[3][1:] == pytest.approx((0.9, 1.2))
    assert "Retries: 1" in timeline.tooltip_at(timeline.point_at("c0", 1.5))


def test_a_failed_cell_ends_failed_and_its_tooltip_says_why(timeline: TimelineWidget) -> None:
    one_cell(timeline)
    timeline.apply_events(
        [
            ev.CellQueued(RUN, 0.0, "c0"),
            ev.CellStarted(RUN, 0.0, "c0", 1, 0.0),
            ev.CellFailed(
                RUN,
                0.8,
                "c0",
                ErrorKind.SERVER_ERROR,
                "The server failed (HTTP 500).",
                "",
                metrics(0, 0.0, None, 0.8, 0.0, tokens=0),
            ),
        ]
    )
    assert timeline.segments("c0")[-2:] == [(REQUEST, 0.0, 0.8), (FAILED, 0.8, 0.8)]
    tip = timeline.tooltip_at(timeline.point_at("c0", 0.4))
    assert "State: failed" in tip and "The server failed (HTTP 500)." in tip
    assert pixel(timeline, "c0", 0.8) == color(FAILED)  # the end cap


def test_a_cell_cancelled_during_its_back_off_keeps_only_the_back_off_it_had(
    timeline: TimelineWidget,
) -> None:
    one_cell(timeline)
    timeline.apply_events(
        [
            ev.CellQueued(RUN, 0.0, "c0"),
            ev.CellStarted(RUN, 0.0, "c0", 1, 0.0),
            ev.CellRetrying(RUN, 0.5, "c0", 2, 3, 2.0, ErrorKind.RATE_LIMITED, "HTTP 429"),
            ev.CellCancelled(RUN, 1.0, "c0", "Cancelled by you.", "", metrics(0, 0, None, 1.0, 0)),
        ]
    )
    assert timeline.segments("c0")[-2:] == [(BACKOFF, 0.5, 1.0), (CANCELLED, 1.0, 1.0)]


def test_six_cells_at_concurrency_two_climb_a_three_step_staircase(
    timeline: TimelineWidget,
) -> None:
    timeline.reset([(f"c{i}", f"{LABELS[i % 3]} #{i // 3 + 1}") for i in range(6)])
    timeline.apply_events(staircase())
    timeline.apply_events([ev.RunFinished(RUN, 3.0, None)])  # type: ignore[arg-type]

    starts = [
        next(start for kind, start, _ in timeline.segments(f"c{i}") if kind == REQUEST)
        for i in range(6)
    ]
    assert starts == [0.0, 0.0, 1.0, 1.0, 2.0, 2.0]
    assert len(set(starts)) == 3
    # While the first pair streams, the last pair is still waiting for a slot.
    assert pixel(timeline, "c0", 0.5) == color(STREAMING)
    assert pixel(timeline, "c5", 0.5) == color(WAITING)
    assert not timeline.is_live()
    assert timeline.visible_range() == pytest.approx((0.0, 3.0 * 1.03))
    timeline.grab().save("/tmp/timeline.png")


def test_open_segments_grow_with_the_clock_until_the_run_is_finished(
    timeline: TimelineWidget,
) -> None:
    one_cell(timeline)
    timeline.apply_events(streamed("c0", 0.0, 0.5, 0.7, 9.0)[:3])
    timeline.set_now(1.8)
    assert timeline.visible_range()[1] >= 1.8  # the fitted view follows the run
    assert pixel(timeline, "c0", 1.7) == color(STREAMING)
    first_end = timeline.visible_range()[1]
    timeline.set_now(1.9)
    assert timeline.visible_range()[1] == first_end  # grows in steps, not on every tick

    timeline.finish()
    timeline.set_now(5.0)  # ignored once frozen
    assert timeline.visible_range() == pytest.approx((0.0, 1.9 * 1.03))
    assert timeline.segments("c0")[-1] == (STREAMING, 0.7, None)


def test_a_frame_of_events_repaints_once(qtbot: QtBot, timeline: TimelineWidget) -> None:
    timeline.reset([(f"c{i}", f"cell {i}") for i in range(6)])
    QApplication.processEvents()
    counter = PaintCounter()
    timeline.viewport().installEventFilter(counter)
    try:
        timeline.apply_events(staircase())  # 6 queued + 24 more events in one frame
        timeline.set_now(2.5)
        QApplication.processEvents()
    finally:
        timeline.viewport().removeEventFilter(counter)
    assert counter.paints == 1


def test_a_later_run_of_a_cell_continues_its_row_after_the_old_segments(
    timeline: TimelineWidget,
) -> None:
    timeline.reset([("c0", LABELS[0]), ("c1", LABELS[1])])
    timeline.apply_events([ev.RunStarted(RUN, 0.0, spec(), (), started_at=1000.0)])
    timeline.apply_events(streamed("c0", 0.0, 0.0, 0.2, 1.0) + streamed("c1", 0.0, 0.0, 0.2, 0.5))
    timeline.apply_events([ev.RunFinished(RUN, 1.0, None)])  # type: ignore[arg-type]
    old = timeline.segments("c1")

    # A one-cell retry run, started 4 s after the first; its times count from its own start.
    retry = "run-2"
    timeline.apply_events(
        [
            ev.RunStarted(retry, 0.0, spec(), (), started_at=1004.0),
            *streamed("c1", 0.0, 0.1, 0.3, 0.9, run=retry),
        ]
    )
    segments = timeline.segments("c1")
    assert segments[: len(old)] == old
    assert segments[len(old) :] == [
        (WAITING, 4.0, 4.1),
        (REQUEST, 4.1, 4.3),
        (STREAMING, 4.3, pytest.approx(4.9)),
        (DONE, pytest.approx(4.9), pytest.approx(4.9)),
    ]
    tip = timeline.tooltip_at(timeline.point_at("c1", 4.5))
    assert "Queued at: 4.00 s" in tip and "Runs of this cell: 2" in tip


def test_events_for_a_cell_nobody_announced_get_their_own_row(timeline: TimelineWidget) -> None:
    timeline.reset([("c0", LABELS[0])])
    timeline.add_cells([("c1", LABELS[1]), ("c0", "cats × sim-1 (renamed)")])
    timeline.apply_events(streamed("stray", 0.0, 0.1, 0.2, 0.3))
    assert timeline.cell_ids() == ["c0", "c1", "stray"]
    assert "cats × sim-1 (renamed)" in timeline.tooltip_at(timeline.point_at("c0", 0.1))
    assert timeline.segments("stray")[-1] == (DONE, 0.3, 0.3)


# --------------------------------------------------------------------------- tooltips


def test_hovering_a_bar_tells_the_cell_its_latency_and_time_to_first_token(
    qtbot: QtBot, timeline: TimelineWidget
) -> None:
    one_cell(timeline)
    timeline.apply_events(streamed("c0", 0.0, 1.0, 1.31, 2.52))
    point = timeline.point_at("c0", 2.0)

    tip = timeline.tooltip_at(point)
    assert "cats × sim-1" in tip
    assert "Latency: 1.52 s" in tip and "Time to first token: 0.31 s" in tip
    assert "Waited: 1.00 s" in tip and "Tokens: 60" in tip
    assert "Here: streaming" in tip

    # The same through Qt's help event, as a resting mouse would ask for it.
    viewport = timeline.viewport()
    QApplication.sendEvent(
        viewport, QHelpEvent(QEvent.Type.ToolTip, point, viewport.mapToGlobal(point))
    )
    assert "Latency: 1.52 s" in QToolTip.text()
    QToolTip.hideText()


def test_hovering_a_cell_in_flight_tells_what_is_known_so_far(timeline: TimelineWidget) -> None:
    one_cell(timeline)
    timeline.apply_events(streamed("c0", 0.0, 0.4, 0.6, 9.0)[:3])
    timeline.set_now(1.0)
    tip = timeline.tooltip_at(timeline.point_at("c0", 0.8))
    assert "State: streaming" in tip
    assert "Waited: 0.40 s" in tip and "Time to first token: 0.20 s" in tip
    assert "Running for: 0.60 s" in tip


def test_checked_cells_get_a_pass_or_fail_mark_whose_tooltip_lists_the_checks(
    timeline: TimelineWidget,
) -> None:
    timeline.reset([("c0", LABELS[0]), ("c1", LABELS[1])])
    timeline.apply_events(streamed("c0", 0.0, 0.0, 0.2, 1.0) + streamed("c1", 0.0, 0.0, 0.2, 0.5))
    passed = CheckResult("contains: cats", "contains", True, "found 'cats'")
    missed = CheckResult("regex: ^\\d", "regex", False, "no match for ^\\d")
    timeline.apply_events(
        [
            ev.CellChecked(RUN, 1.0, "c0", (passed,)),
            ev.CellChecked(RUN, 0.5, "c1", (passed, missed)),
            ev.RunFinished(RUN, 1.0, None),  # type: ignore[arg-type]
        ]
    )
    assert timeline.check_marks("c0") == [(1.0, 1.0)]
    assert timeline.check_marks("c1") == [(0.5, 0.5)]
    image = timeline.viewport().grab().toImage()
    at_c0 = image.pixelColor(timeline.check_mark_point("c0", 1.0)).name()
    at_c1 = image.pixelColor(timeline.check_mark_point("c1", 0.5)).name()
    assert at_c0 == pass_rate_color(1.0).name()
    assert at_c1 == pass_rate_color(0.5).name() and at_c1 != at_c0
    timeline.grab().save("/tmp/timeline_checks.png")

    tip = timeline.tooltip_at(timeline.point_at("c1", 0.3))
    assert "Checks: 1/2 passed" in tip
    assert "✓ contains: cats: found &#x27;cats&#x27;" in tip
    assert "✗ regex: ^\\d: no match for ^\\d" in tip
    assert "Checks: 1/1 passed" in timeline.tooltip_at(timeline.point_at("c0", 0.3))


def test_the_header_explains_how_to_zoom(timeline: TimelineWidget) -> None:
    assert "Ctrl+wheel" in timeline.tooltip_at(QPoint(300, 5))


# ------------------------------------------------------------------------ zoom and pan


def wheel(widget: TimelineWidget, pos: QPoint, dy: int, modifiers=Qt.KeyboardModifier.NoModifier):
    viewport = widget.viewport()
    event = QWheelEvent(
        QPointF(pos),
        QPointF(viewport.mapToGlobal(pos)),
        QPoint(0, 0),
        QPoint(0, dy),
        Qt.MouseButton.NoButton,
        modifiers,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(viewport, event)


def mouse(widget: TimelineWidget, kind: QEvent.Type, pos: QPoint, buttons) -> None:
    viewport = widget.viewport()
    button = Qt.MouseButton.LeftButton
    event = QMouseEvent(
        kind,
        QPointF(pos),
        QPointF(viewport.mapToGlobal(pos)),
        button,
        buttons,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(viewport, event)


def test_ctrl_wheel_zooms_around_the_cursor_and_fit_shows_the_whole_run_again(
    timeline: TimelineWidget,
) -> None:
    timeline.reset([(f"c{i}", f"cell {i}") for i in range(200)])
    timeline.apply_events(staircase(cells=200, limit=20, duration=0.5))
    timeline.finish()
    whole = timeline.visible_range()
    assert timeline.is_fitted() and whole[0] == 0.0

    point = timeline.point_at("c0", 2.0)
    under_cursor = timeline.time_at(point.x())
    wheel(timeline, point, 240, Qt.KeyboardModifier.ControlModifier)  # two notches in
    t0, t1 = timeline.visible_range()
    assert t1 - t0 == pytest.approx((whole[1] - whole[0]) / 1.25**2)
    assert timeline.time_at(point.x()) == pytest.approx(under_cursor)
    assert not timeline.is_fitted()
    assert timeline.horizontalScrollBar().maximum() > 0  # the zoomed axis can be scrolled

    # A plain wheel scrolls the 200 rows and leaves the time axis alone.
    wheel(timeline, point, -120)
    assert timeline.verticalScrollBar().value() > 0
    assert timeline.visible_range() == (t0, t1)

    timeline.fit()
    assert timeline.visible_range() == whole and timeline.is_fitted()

    timeline.zoom(4.0)
    mouse(timeline, QEvent.Type.MouseButtonDblClick, point, Qt.MouseButton.LeftButton)
    assert timeline.visible_range() == whole

    # The same from the keyboard and the context menu's actions (Ctrl++, Ctrl+-, Ctrl+0).
    timeline.zoom_in_action.trigger()
    assert timeline.visible_range()[1] == pytest.approx(whole[1] / 2 + whole[1] / 4)
    timeline.zoom_out_action.trigger()
    assert timeline.visible_range() == whole
    timeline.zoom_in_action.trigger()
    timeline.fit_action.trigger()
    assert timeline.visible_range() == whole and timeline.is_fitted()


def test_dragging_pans_the_zoomed_axis_and_a_click_names_the_row(
    qtbot: QtBot, timeline: TimelineWidget
) -> None:
    timeline.reset([(f"c{i}", f"cell {i}") for i in range(6)])
    timeline.apply_events(staircase())
    timeline.finish()
    timeline.zoom(4.0, anchor=1.5)
    t0, t1 = timeline.visible_range()

    start = timeline.point_at("c2", 1.5)
    left = Qt.MouseButton.LeftButton
    mouse(timeline, QEvent.Type.MouseButtonPress, start, left)
    mouse(timeline, QEvent.Type.MouseMove, start + QPoint(100, 0), left)
    mouse(timeline, QEvent.Type.MouseButtonRelease, start + QPoint(100, 0), Qt.MouseButton.NoButton)
    moved = timeline.visible_range()
    dt = 100 * (t1 - t0) / (timeline.x_at(t1) - timeline.x_at(t0))
    assert moved == pytest.approx((t0 - dt, t1 - dt))  # dragged right: earlier times

    with qtbot.waitSignal(timeline.cell_clicked) as clicked:
        mouse(timeline, QEvent.Type.MouseButtonPress, start, left)
        mouse(timeline, QEvent.Type.MouseButtonRelease, start, Qt.MouseButton.NoButton)
    assert clicked.args == ["c2"]


def test_tick_labels_read_0_s_0_5_s_1_s_and_adapt_to_the_zoom() -> None:
    assert [format_tick(k * 0.5, 0.5) for k in range(4)] == ["0 s", "0.5 s", "1 s", "1.5 s"]
    assert format_tick(0.25, 0.05) == "0.25 s"
    assert format_tick(0.3000000000000004, 0.1) == "0.3 s"
    assert format_tick(240, 120) == "4 min"
    assert tick_step(px_per_s=200) == 0.5  # 100 px per half second
    assert tick_step(px_per_s=20) == 5
    assert tick_step(px_per_s=20_000) == 0.005


def test_the_legend_names_every_segment_and_end_state(timeline: TimelineWidget) -> None:
    items = timeline.legend_items()
    assert items == list(LEGEND.values())
    assert set(LEGEND) == set(SPAN_KINDS) | set(END_KINDS) | {CHECKED}
    assert "waiting for first token / response" in items and "retry back-off" in items


# ---------------------------------------------------------------- palettes and speed


def many_cells(widget: TimelineWidget, count: int = 200) -> float:
    """``count`` finished cells of 3 segments each (waiting, request, streaming) + the cap;
    returns the milliseconds ``apply_events`` took for all their events in one frame."""
    widget.reset(
        [(f"c{i}", f"input {i // 4} × model-{i % 4} with a long label") for i in range(count)]
    )
    events: list[ev.Event] = []
    for i in range(count):
        start = (i // 8) * 0.4
        events += streamed(f"c{i}", 0.0, start, start + 0.1, start + 0.35 + (i % 5) * 0.05)
    started = time.perf_counter()
    widget.apply_events(events)
    elapsed = time.perf_counter() - started
    widget.finish()
    return elapsed * 1000


def test_two_hundred_cells_paint_in_light_and_dark_palettes(
    qtbot: QtBot, capsys: pytest.CaptureFixture[str], dark_palette: None
) -> None:
    assert is_dark()
    widget = TimelineWidget()
    qtbot.addWidget(widget)
    widget.resize(900, 600)
    widget.show()
    qtbot.waitExposed(widget)
    feed_ms = many_cells(widget)
    dark_ms = paint_ms(widget)
    image = widget.grab().toImage()
    assert not image.isNull()
    image.save("/tmp/timeline_dark.png")
    dark_streaming = color(STREAMING)
    assert pixel(widget, "c0", 0.22) == dark_streaming

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    app.setPalette(QApplication.style().standardPalette())
    assert not is_dark()
    assert color(STREAMING) != dark_streaming  # the colours followed the switch
    qtbot.waitUntil(lambda: pixel(widget, "c0", 0.22) == color(STREAMING), timeout=30_000)
    light_ms = paint_ms(widget)
    widget.grab().save("/tmp/timeline_light_200.png")

    widget.resize(900, 200 * widget.row_height() + 120)  # every row on screen at once
    QApplication.processEvents()
    assert widget.verticalScrollBar().maximum() == 0
    all_rows_ms = paint_ms(widget, repeats=10)

    report(
        capsys,
        f"timeline paint, 200 cells x 3 segments: {light_ms:.2f} ms light / {dark_ms:.2f} ms dark"
        f" (900x600, ~{600 // widget.row_height()} rows visible);"
        f" {all_rows_ms:.2f} ms with all 200 rows visible; one apply_events of"
        f" 200 cells x 6 events (1200, 400 of them text chunks): {feed_ms:.2f} ms; row height {widget.row_height()} px",
    )
    # How fast it paints is a bench figure (``fanout-studio bench --scenario input``); here it
    # is printed. With every row on screen, the last cell's bar is painted too.
    last_streaming = (199 // 8) * 0.4 + 0.22
    assert pixel(widget, "c199", last_streaming) == color(STREAMING)


# ------------------------------------------------------------------ a big run's rows


async def test_a_big_run_gets_its_first_rows_at_once_and_the_rest_while_the_loop_runs(
    timeline: TimelineWidget,
) -> None:
    """20,000 rows are labelled a slice per loop iteration, in order, none lost; events for a
    row not labelled yet make the row, and its label follows."""
    made: list[int] = []

    def rows() -> Iterator[tuple[str, str]]:
        for i in range(20_000):
            made.append(i)
            yield f"c{i}", f"topic number {i // 2} × {'ab'[i % 2]}"

    timeline.reset(rows())
    # Returned before reading them all: the rows on screen are there, the rest pending.
    assert timeline.pending_rows() and len(made) < 20_000
    assert timeline.label("c0") == "topic number 0 × a"
    assert timeline.label("c19999") is None
    timeline.apply_events([ev.CellQueued(RUN, 0.0, "c19999")])
    assert timeline.label("c19999") == "c19999"  # the row exists before its label

    await until(lambda: not timeline.pending_rows())
    assert timeline.label("c19999") == "topic number 9999 × b"
    ids = timeline.cell_ids()
    assert len(ids) == 20_000 and set(ids) == {f"c{i}" for i in range(20_000)}
    assert ids[:3] == ["c0", "c1", "c2"]
    assert timeline.segments("c19999") == [(WAITING, 0.0, None)]


async def test_slow_rows_make_the_feed_slices_shorter(
    timeline: TimelineWidget, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slice of the feed stops after RESET_SLICE_S of its clock, not only after RESET_SLICE
    rows (1,000 rows took 11-12 ms on a busy GUI thread). The clock here moves 1 ms per row
    made: after the first slice (what a screen shows, whatever it costs), each slice holds
    a few RESET_STEP steps, and every row still comes, in order."""
    ticks = itertools.count()
    monkeypatch.setattr(timeline_module, "_feed_clock", lambda: next(ticks) / 1000)
    slices: list[int] = []

    def rows() -> Iterator[tuple[str, str]]:
        for i in range(3_000):
            next(ticks)
            yield f"c{i}", f"topic {i}"

    labelled = timeline._labels_added  # once per slice

    def count_slice(measured: list[str]) -> None:
        slices.append(len(timeline.cell_ids()))
        labelled(measured)

    monkeypatch.setattr(timeline, "_labels_added", count_slice)
    timeline.reset(rows())
    assert slices == [FIRST_SLICE]
    await until(lambda: not timeline.pending_rows())
    sizes = [b - a for a, b in itertools.pairwise(slices)]
    assert max(sizes) <= RESET_STEP and len(sizes) >= (3_000 - FIRST_SLICE) // RESET_STEP
    assert timeline.cell_ids() == [f"c{i}" for i in range(3_000)]
    assert timeline.label("c2999") == "topic 2999"


async def test_a_reset_drops_the_rows_an_earlier_reset_had_not_added_yet(
    timeline: TimelineWidget,
) -> None:
    timeline.reset((f"old{i}", "old") for i in range(10_000))
    timeline.reset([("new", "new run")])
    await asyncio.sleep(0.1)  # the old rows' slices would have run by now
    assert timeline.cell_ids() == ["new"] and not timeline.pending_rows()
