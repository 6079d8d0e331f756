"""The strategy chart tells how much faster each strategy was; the lag meter tells whether the window stuttered.

Offscreen (see conftest). The chart is rendered in a light and a dark palette and saved to
/tmp/chart_light.png and /tmp/chart_dark.png for a look by eye.
"""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from gui.core.lag import LagRecorder
from gui.qt.resources import is_dark
from gui.qt.widgets.lag_meter import LagMeter, LagSparkline, lag_tooltip
from gui.qt.widgets.strategy_chart import STRATEGIES, StrategyChart, chart_title, nice_ceiling

#: Three requests of 1.5 s each: one after another 4.5 s, all at once 1.5 s.
RESULTS: dict[str, tuple[float, float]] = {
    "sync": (4.5, 4.5),
    "sequential": (4.56, 4.5),
    "gather": (1.5, 1.5),
    "abatch": (1.8, 1.5),
    "as_completed": (1.52, 1.5),
    "stream": (1.6, 1.5),
}


def shown_chart(qtbot, width: int = 360, height: int = 260) -> StrategyChart:
    chart = StrategyChart()
    qtbot.addWidget(chart)
    chart.resize(width, height)
    chart.show()
    qtbot.waitExposed(chart)
    return chart


def fill(chart: StrategyChart, names: list[str] | None = None) -> None:
    for name in names or list(STRATEGIES):
        wall, ideal = RESULTS[name]
        chart.set_running(name)
        chart.set_result(name, wall, ideal, done=3, failed=0)


def rendered(chart: StrategyChart, path: str) -> QImage:
    QApplication.processEvents()  # let the chart lay out (plotAreaChanged places the texts)
    image = chart.grab().toImage()
    assert not image.isNull() and image.width() == chart.width()
    image.save(path)
    return image


# ----------------------------------------------------------------------------- chart


def test_a_comparison_starts_with_six_empty_rows(qtbot) -> None:
    chart = shown_chart(qtbot)
    chart.set_pending(list(STRATEGIES), requests=3)
    chart.set_running("sync")
    assert chart.title() == "Same 3 requests, six ways: wall time (s)"
    assert chart.results() == {} and chart.speedup("gather") is None
    assert chart.row_text("sync") == "running…"
    assert [chart.row_text(name) for name in STRATEGIES[1:]] == ["waiting"] * 5


def test_six_results_in_order_give_the_speedup_over_sync(qtbot) -> None:
    chart = shown_chart(qtbot)
    chart.set_pending(list(STRATEGIES))
    fill(chart)
    assert chart.results() == RESULTS
    assert chart.speedup("sync") == pytest.approx(1.0)
    assert chart.speedup("gather") == pytest.approx(3.0)
    assert chart.row_text("sync") == "1.0×  4.50 s"
    assert chart.row_text("gather") == "3.0×  1.50 s"
    assert chart.row_text("abatch").startswith("2.5×")
    # The request count came from the first result (done + failed).
    assert chart.title() == chart_title(6, 3) == "Same 3 requests, six ways: wall time (s)"


def test_speedups_appear_once_sync_is_known(qtbot) -> None:
    chart = shown_chart(qtbot)
    chart.set_pending(["gather", "sync"], requests=3)
    chart.set_result("gather", 1.5, 1.5, done=2, failed=1)
    assert chart.speedup("gather") is None and chart.row_text("gather") == "1.50 s  1 failed"
    chart.set_result("sync", 4.5, 4.5, done=3, failed=0)
    assert chart.row_text("gather") == "3.0×  1.50 s  1 failed"


def test_clear_forgets_the_comparison(qtbot) -> None:
    chart = shown_chart(qtbot)
    chart.set_pending(list(STRATEGIES))
    fill(chart, ["sync", "gather"])
    chart.clear()
    assert chart.results() == {} and chart.speedup("gather") is None
    assert chart.row_text("sync") == ""


def test_nice_axis_maximum() -> None:
    assert nice_ceiling(4.6) == (5.0, 6)
    assert nice_ceiling(6.9) == (8.0, 5)
    assert nice_ceiling(0.0) == (1.0, 3)
    top, ticks = nice_ceiling(137.0)
    assert top >= 137.0 and 3 <= ticks <= 6


def test_the_chart_renders_in_a_light_palette(qtbot) -> None:
    chart = shown_chart(qtbot)
    assert not is_dark()
    chart.set_pending(list(STRATEGIES))
    fill(chart)
    image = rendered(chart, "/tmp/chart_light.png")
    assert image.pixelColor(2, 2).lightness() > 128


def test_the_chart_renders_in_a_dark_palette(qtbot, dark_palette: None) -> None:
    chart = shown_chart(qtbot)
    assert is_dark()
    chart.set_pending(list(STRATEGIES))
    fill(chart, list(STRATEGIES[:4]))
    chart.set_running("as_completed")
    rendered(chart, "/tmp/chart_dark_running.png")
    fill(chart, list(STRATEGIES[4:]))
    image = rendered(chart, "/tmp/chart_dark.png")
    assert image.pixelColor(2, 2).lightness() < 128


# ------------------------------------------------------------------------- lag meter


def test_lag_recorder_keeps_a_recent_window_across_reset() -> None:
    recorder = LagRecorder(keep=3)
    for ms in (1.0, 2.0, 3.0, 40.0):
        recorder.add(ms)
    assert recorder.recent() == [2.0, 3.0, 40.0]
    assert recorder.stats().samples == 4 and recorder.stats().max_ms == 40.0
    recorder.reset()
    assert recorder.stats().samples == 0 and recorder.recent() == [2.0, 3.0, 40.0]


def test_a_free_gui_loop_serves_the_heartbeat_on_time(qtbot) -> None:
    meter = LagMeter()
    updates: list[None] = []
    meter.updated.connect(lambda: updates.append(None))
    meter.start()
    try:
        qtbot.waitUntil(lambda: meter.stats().samples >= 25, timeout=30_000)
    finally:
        meter.stop()
    stats = meter.stats()
    assert stats.samples >= 25, stats
    # A free loop reports no freeze (how late its beats are is a bench figure).
    assert meter.last_freeze_ms is None
    assert 1 <= len(updates) < stats.samples / 2  # at most 5 a second, never one per sample
    assert len(meter.recent()) == stats.samples


def test_a_blocked_gui_thread_shows_up_as_a_freeze(qtbot) -> None:
    meter = LagMeter()
    froze: list[float] = []
    meter.froze.connect(froze.append)
    meter.start()
    try:
        qtbot.wait(50)
        meter.reset()  # start of the "block the UI" demo
        # Deliberately freeze the GUI thread, as a sync call in a slot would.
        QTimer.singleShot(20, lambda: time.sleep(0.15))
        qtbot.wait(250)
    finally:
        meter.stop()
    assert meter.stats().max_ms >= 120
    assert meter.last_freeze_ms is not None and meter.last_freeze_ms >= 120
    assert meter.last_freeze_at is not None and len(froze) == 1
    meter.reset()
    assert meter.last_freeze_ms is None and meter.stats().samples == 0


def test_a_background_import_waits_for_the_gui_thread_that_a_slot_blocks(qtbot) -> None:
    meter = LagMeter()
    assert not meter.busy()  # no heartbeat: nothing to wait for
    seen: list[bool] = []

    def ask() -> None:  # as the import thread does: busy now? then wait until it is not
        seen.append(meter.busy())
        seen.append(meter.wait_free(30.0))
        seen.append(meter.busy())

    def block() -> None:
        time.sleep(0.05)  # a long slot: the heartbeat falls due meanwhile
        threading.Thread(target=ask).start()
        time.sleep(0.05)  # still busy while the other thread asks

    meter.start()
    try:
        QTimer.singleShot(0, block)
        qtbot.waitUntil(lambda: len(seen) == 3, timeout=30_000)
    finally:
        meter.stop()
    # Busy while the slot ran; free again once a beat came on time, and told so.
    assert seen[:2] == [True, True]
    assert not meter.busy()  # stopped: an import never waits for a meter that is off


def test_the_session_counts_from_begin_session_and_survives_a_run_reset(qtbot) -> None:
    meter = LagMeter()
    meter.start()
    try:
        # Blocked before the window is visible: a slow first paint, not a freeze a user saw.
        QTimer.singleShot(5, lambda: time.sleep(0.12))
        qtbot.wait(200)
        assert meter.session_started_at is None and meter.session_stats().samples == 0
        meter.begin_session()
        qtbot.wait(60)
        QTimer.singleShot(5, lambda: time.sleep(0.12))  # a freeze while visible
        qtbot.wait(150)
        meter.reset()  # a run starts: its own figures restart, the session's do not
        qtbot.wait(60)
    finally:
        meter.stop()
    session = meter.session_stats()
    assert session.samples >= 5 and session.max_ms >= 100
    assert len(meter.session_freezes()) == 1 and meter.session_freezes()[0] >= 100
    assert meter.stats().samples < session.samples
    ended = meter.session_freezes_at()[0][1]
    assert meter.session_freezes(end=ended - 0.001) == []  # before the loop came back
    # A stretch that is not the app's (a reference editor's keys) is left out by span.
    span = [(ended - 0.001, ended + 0.001)]
    # (Relative to the whole session's: a busy machine may add late beats of its own.)
    assert len(meter.session_freezes(excluding=span)) == len(meter.session_freezes()) - 1
    assert meter.session_stats(excluding=span).samples == session.samples - 1


def test_the_sparkline_colours_by_recent_p99_and_paints(qtbot) -> None:
    spark = LagSparkline()
    qtbot.addWidget(spark)
    spark.resize(spark.sizeHint())
    spark.show()
    calm = [0.4] * 400 + [3.1] * 5
    spark.set_samples(calm)
    assert spark.health() == "ok"
    assert spark.toolTip() == lag_tooltip(spark.stats())
    assert "p50 0.4 ms · p99 3.1 ms · max 3.1 ms (last 5 s)" in spark.toolTip()
    spark.set_samples([0.4] * 90 + [30.0] * 10)
    assert spark.health() == "slow"
    spark.set_samples([0.4] * 400 + [80.0] * 10)
    assert spark.health() == "bad"
    spark.set_samples([0.4] * 250 + [1520.0] + [0.4] * 249)  # one freeze: p99 is calm
    assert spark.stats().p99_ms == pytest.approx(0.4) and spark.health() == "bad"
    image = spark.grab().toImage()
    assert not image.isNull() and image.size() == spark.size()
    image.save("/tmp/lag_sparkline.png")
    background = image.pixelColor(0, 0)
    assert any(
        image.pixelColor(x, y) != background
        for x in range(image.width())
        for y in range(image.height())
    )


def test_the_sparkline_repaints_new_samples_and_a_new_size(qtbot) -> None:
    """Repaints between two sets of samples show the same line; a new set or a new size
    shows the new one (the line is kept as a picture between sets)."""
    spark = LagSparkline()
    qtbot.addWidget(spark)
    spark.resize(spark.sizeHint())
    spark.show()
    spark.set_samples([0.4] * 200)
    calm = spark.grab().toImage()
    assert spark.grab().toImage() == calm  # a repaint for another reason: the same line
    spark.set_samples([0.4] * 100 + [45.0] * 100)
    busy = spark.grab().toImage()
    assert busy != calm
    spark.resize(spark.width() * 2, spark.height())
    wide = spark.grab().toImage()
    assert wide.size() == spark.size()
    right = {
        wide.pixel(x, y)
        for x in range(spark.width() - 20, spark.width() - 2)
        for y in range(wide.height())
    }
    assert len(right) > 1  # the line reaches the new right end


def test_the_sparkline_follows_the_meter(qtbot) -> None:
    meter = LagMeter()
    spark = LagSparkline()
    qtbot.addWidget(spark)
    meter.updated.connect(lambda: spark.set_samples(meter.recent()))
    meter.start()
    try:
        qtbot.waitUntil(lambda: spark.stats().samples > 0, timeout=30_000)
    finally:
        meter.stop()
    assert spark.health() == "ok"
