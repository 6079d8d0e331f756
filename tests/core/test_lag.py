"""Lag statistics: what the status bar, the run summary and the benchmark report."""

from __future__ import annotations

from gui.core.lag import LagRecorder, percentile


def test_percentile_nearest_rank() -> None:
    values = sorted(float(i) for i in range(101))
    assert (
        percentile(values, 0.5) == 50
        and percentile(values, 0.99) == 99
        and percentile([], 0.5) == 0
    )


def test_a_freeze_shows_in_the_stats_and_reset_starts_a_new_run() -> None:
    recorder = LagRecorder(keep=5)
    for ms in [0.2] * 98 + [150.0, 0.3]:  # one 150 ms freeze among 100 beats
        recorder.add(ms)
    stats = recorder.stats()
    assert stats.samples == 100 and stats.p50_ms == 0.2 and stats.max_ms == 150.0
    assert recorder.recent() == [0.2, 0.2, 0.2, 150.0, 0.3]  # the sparkline's window
    recorder.reset()  # a new run: its stats start empty, the sparkline stays continuous
    assert recorder.stats().samples == 0 and len(recorder.recent()) == 5


def test_over_lists_the_freezes_since_the_reset_in_order() -> None:
    recorder = LagRecorder()
    for ms in [3.0, 60.0, 4.0, 51.0, 50.0]:
        recorder.add(ms)
    assert recorder.over(50.0) == [60.0, 51.0]  # later than 50 ms only, oldest first
    recorder.reset()
    assert recorder.over(0.0) == []


def test_stats_between_reads_only_the_samples_taken_in_that_span() -> None:
    recorder = LagRecorder()
    for i, ms in enumerate([30.0, 1.0, 2.0, 3.0, 120.0]):  # set-up, streaming x3, end pause
        recorder.add(ms, at=float(i))
    during = recorder.stats_between(1.0, 3.0)
    assert during.samples == 3 and during.max_ms == 3.0 and during.p50_ms == 2.0
    assert recorder.stats().max_ms == 120.0  # the whole run still sees the pause


def test_stats_outside_leaves_out_every_sample_taken_in_the_spans() -> None:
    recorder = LagRecorder()
    # A reference editor's keys at 2-3 and a heavy stretch at 6, among the app's own beats.
    for i, ms in enumerate([1.0, 2.0, 40.0, 35.0, 3.0, 4.0, 22.0, 5.0]):
        recorder.add(ms, at=float(i))
    outside = recorder.stats_outside([(2.0, 3.0), (6.0, 6.0)])
    assert outside.samples == 5 and outside.max_ms == 5.0
    assert recorder.stats_outside([]).samples == 8  # nothing left out
