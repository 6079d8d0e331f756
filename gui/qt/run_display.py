"""The one event path from the session to the widgets that draw runs.

:class:`RunDisplay` subscribes to the :class:`~gui.core.session.Session`. Per-cell engine
events and counts go through :class:`~gui.qt.bridge.RunBridge`, which coalesces them per
frame; each frame goes to the views that draw runs (the results page and the timeline apply
the events themselves) and its last counts to the gauges. Structural session events (a run
opened, a retry queued, a run ended, a past run opened, comparison steps) are applied at
once, after the bridge has drawn what came before them; only a big run's layout waits for
the next loop turn (:data:`SHOW_LATER_CELLS`), and is done before anything else of the run. It also keeps the clock of a run in
progress, feeds the lag sparkline and, through the gc-policy hook, holds full collections
back while a run is on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QTabWidget

from gui.compat.gc_policy import SHOWN_RUN, defer_full_collections
from gui.core import events as ev
from gui.core.costs import CostTotals, judge_totals_of, past_cost
from gui.core.errors import SpecError, TemplateError
from gui.core.runner import Run
from gui.core.session import (
    ComparisonEnded,
    ComparisonStarted,
    Counts,
    CountsChanged,
    PastRunOpened,
    RetryQueued,
    RunEnded,
    RunOpened,
    Session,
    SessionEvent,
    StrategyMeasured,
    StrategyStarted,
)
from gui.core.spec import RunSpec, Strategy
from gui.qt.bridge import RunBridge
from gui.qt.views.code_view import CodeView
from gui.qt.views.concurrency_panel import ConcurrencyPanel
from gui.qt.views.history_panel import HistoryPanel
from gui.qt.views.results_page import ResultsPage
from gui.qt.views.run_controls import RunControls
from gui.qt.widgets.lag_meter import LagMeter
from gui.qt.widgets.strategy_chart import StrategyChart
from gui.qt.widgets.timeline import TimelineWidget

__all__ = ["BIG_RUN_CELLS", "SHOW_LATER_CELLS", "RunDisplay"]

#: A run of more cells than this is laid out in the loop turn after the press that started
#: it: building the spec and the run, then laying out the grid and the timeline and painting
#: them, was one step of the GUI thread (30-50 ms at 20,000 cells, docs/performance-notes.md).
#: A smaller run is laid out at once, in the press's own step.
SHOW_LATER_CELLS = 2_000

#: Shown runs of this many cells or more hold full collections back until the window shows
#: another (``gui.compat.gc_policy.SHOWN_RUN``): a full collection over what a run leaves
#: costs a few microseconds per cell, on whichever thread allocates, holding the GIL.
BIG_RUN_CELLS = 2_000


class RunDisplay(QObject):
    """Draws the session's runs on the window's views.

    Args:
        session: Whose events are drawn.
        lag: The loop-lag meter (started with a run, its figures in the status line).
        closing: Whether the window is closing (nothing is announced then).
        current_spec: The run the editors describe, for the Code tab (raises when they
            describe none).

    Signals:
        run_finished(RunSummary): the shown run (or a comparison step) ended, UI restored.
        comparison_finished(list[StrategyResult]): the comparison ended.
        running_changed(bool): a run began while none was on (``True``), or the last one
            ended (``False``).
        judge_cost_changed(object): the shown run's LLM judge spend (a
            :class:`~gui.core.costs.CostTotals`, ``None`` without judge calls) changed.
    """

    run_finished = Signal(object)
    judge_cost_changed = Signal(object)
    comparison_finished = Signal(object)
    running_changed = Signal(bool)

    def __init__(
        self,
        session: Session,
        lag: LagMeter,
        closing: Callable[[], bool],
        *,
        results: ResultsPage,
        timeline: TimelineWidget,
        chart: StrategyChart,
        code: CodeView,
        tabs: QTabWidget,
        controls: RunControls,
        limits: ConcurrencyPanel,
        history_panel: HistoryPanel,
        current_spec: Callable[[], RunSpec],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._session = session
        self._lag = lag
        self._closing = closing
        self._results, self._timeline, self._chart = results, timeline, chart
        self._code, self._tabs, self._controls = code, tabs, controls
        self._limits, self._history_panel = limits, history_panel
        self._current_spec = current_spec
        self._bridge = RunBridge(self)
        self._bridge.frame_flushed.connect(self._on_bridge_frame_flushed)
        self._to_bridge = self._bridge.subscriber()
        # The clock only: elapsed time, the timeline's "now", the lag label. Counts come
        # from the session's events.
        self._running = False  # as last shown (running_changed tells when it flips)
        self._clock = QTimer(self)
        self._clock.setInterval(200)
        self._clock.timeout.connect(self._on_clock_timeout)
        # A big run waiting for its layout (see SHOW_LATER_CELLS), shown by this timer or, if
        # anything about the run comes first, right before it.
        self._unshown: Run | None = None
        # The comparison's step running (its end says so, not "Run finished") and its size.
        self._step: Strategy | None = None
        self._compared = 0
        self._show_timer = QTimer(self)
        self._show_timer.setSingleShot(True)
        self._show_timer.setInterval(0)
        self._show_timer.timeout.connect(self._show_unshown)
        lag.updated.connect(self._on_lag_updated)
        tabs.currentChanged.connect(self._on_tabs_current_changed)
        session.subscribe(self._on_session_event)

    def close_past(self) -> None:
        """Leave the past run shown: the grid is empty until the next run."""
        self._session.close_past()
        self._results.leave_past()
        self._results.store.clear()
        self._hold_collections_while_shown(0)
        self._code.set_spec(None, "Run something to see its code.")

    def close(self) -> None:
        """Draw what is pending and stop (the window is closing)."""
        self._show_timer.stop()
        self._bridge.flush()
        self._bridge.close()
        self._hold_collections_while_shown(0)

    def _on_session_event(self, event: ev.Event | SessionEvent) -> None:
        kind = type(event)  # a text chunk per token comes here: the cheapest test first
        if kind is ev.TextChunk or kind is CountsChanged or isinstance(event, ev.Event):
            self._to_bridge(event)  # type: ignore[arg-type]  # CountsChanged, checked above
            return
        self._bridge.flush()  # what came before is drawn first, in order
        self._show_unshown()
        if isinstance(event, RunOpened):
            self._on_session_run_opened(event)
        elif isinstance(event, RetryQueued):
            self._results.retry_queued(event.cell_id)
            self._set_running(True)
            self._lag.start()
        elif isinstance(event, RunEnded):
            self._on_session_run_ended(event)
        elif isinstance(event, PastRunOpened):
            self._on_session_past_run_opened(event)
        elif isinstance(event, ComparisonStarted):
            self._compared = len(event.strategies)
            self._chart.set_pending([s.value for s in event.strategies], requests=event.requests)
            self._tabs.setCurrentWidget(self._chart)
            self._controls.compare_action.setEnabled(False)
        elif isinstance(event, StrategyStarted):
            self._step = event.strategy  # a step's end says which (None: the comparison's end)
            self._chart.set_running(event.strategy.value if event.strategy else None)
        elif isinstance(event, StrategyMeasured):
            r = event.result
            self._chart.set_result(r.strategy.value, r.wall, r.ideal, r.done, r.failed)
        elif isinstance(event, ComparisonEnded):
            self._controls.compare_action.setEnabled(True)
            # Its last step's end came while the comparison still counted as running.
            self._set_running(self._session.running)
            if not self._closing():
                self._controls.show_comparison_ended(event.results, event.cancelled, self._compared)
                self.comparison_finished.emit(list(event.results))

    def _on_session_run_opened(self, event: RunOpened) -> None:
        run = event.run
        # Before the grid and timeline allocate for the run: a full collection meanwhile
        # would scan them all, on the GUI thread (the gc-policy hook, gui/compat).
        defer_full_collections(True)
        self._hold_collections_while_shown(0)  # the run's own hold has taken over
        if len(run.cells) > SHOW_LATER_CELLS:
            # The press returns to the loop first; until the layout, the grid shows what it
            # showed (no cell of this run is painted without its status).
            self._unshown = run
            self._show_timer.start()
        else:
            self._timeline.reset(self._results.show_run(run))
        self._show_judge_lane()
        self.judge_cost_changed.emit(None)
        # The code is built when its tab is shown, not on every run start: regenerating it
        # for a large run is a visible pause (see docs/performance-notes.md, code_view).
        if self._tabs.currentWidget() is self._code:
            self._code.set_spec(run.spec)
        self._show_counts(self._session.counts)
        self._set_running(True)
        self._lag.start()
        self._lag.reset()

    def _show_unshown(self) -> None:
        """Lay out the run waiting for its layout, if one is: every cell with its status
        before the next paint, before any event of the run is drawn."""
        run, self._unshown = self._unshown, None
        if run is None:
            return
        self._show_timer.stop()
        self._timeline.reset(self._results.show_run(run))

    def _on_session_run_ended(self, event: RunEnded) -> None:
        self._timeline.finish()
        # Before the run's own hold ends: no collection may start in between.
        self._hold_collections_while_shown(event.counts.total)
        self._set_running(self._session.running)
        self._show_counts(event.counts)
        self._on_clock_timeout()
        if not self._closing():
            self._history_panel.refresh()
        step = self._step.value if self._step is not None and event.primary else None
        self._controls.show_run_ended(event, self._lag.stats(), step)
        if event.error is None and event.primary and event.summary is not None:
            self.run_finished.emit(event.summary)

    def _on_session_past_run_opened(self, event: PastRunOpened) -> None:
        self._hold_collections_while_shown(event.counts.total)
        self._results.show_past(event.past, event.counts)
        self._limits.hide_judge_lane()
        self._timeline.reset([])
        self._show_counts(event.counts)
        judged = judge_totals_of(getattr(event.past, "summary", None) or {})
        self._controls.show_cost(past_cost(event.past), judged)
        self.judge_cost_changed.emit(judged)
        self._controls.show_past(event)
        self._tabs.setCurrentIndex(0)

    def _on_bridge_frame_flushed(self, texts: dict[str, str], events: list[Any]) -> None:
        self._show_unshown()  # the run's cells exist before its events are drawn on them
        counts = events.pop() if events and isinstance(events[-1], CountsChanged) else None
        self._results.apply_frame(texts, events, self._session.run_strategy)
        if events:
            self._timeline.apply_events(events)
            if any(isinstance(e, ev.JudgeEvent) for e in events):
                self._show_judge_lane()
                if counts is None and any(isinstance(e, ev.JudgeEnded) for e in events):
                    self._show_cost()  # the judge's spend moved; no counts to show it with
        if counts is not None:
            self._show_counts(counts.counts)

    def _hold_collections_while_shown(self, cells: int) -> None:
        """Hold full collections back while a run of ``cells`` cells is shown, if it is big
        (:data:`BIG_RUN_CELLS`); let them go otherwise."""
        defer_full_collections(cells >= BIG_RUN_CELLS, SHOWN_RUN)

    def _show_judge_lane(self) -> None:
        """The Concurrency dock's judge lane: the shown run's judge counts, or hidden."""
        run = self._session.current_run
        lane = run.judge if run is not None else None
        if lane is None:
            self._limits.hide_judge_lane()
            return
        c = lane.counts
        self._limits.set_judge_lane(c.in_flight, c.queued, c.done, c.failed, lane.limit)

    def _show_counts(self, c: Counts) -> None:
        """Gauges, progress bar and status counts: once per frame at most."""
        self._limits.set_gauges(c.in_flight, c.waiting, c.done, c.failed, c.cancelled, c.total)
        self._controls.show_counts(c, self._session.running)
        self._show_cost()

    def _show_cost(self) -> None:
        """The status bar's cost of the shown run, the judge's spend apart (and to the
        Scoreboard, through :attr:`judge_cost_changed`)."""
        run = self._session.current_run
        if run is None:
            return
        judged: CostTotals | None = None
        if run.judge is not None and run.judge.cost.cells:
            judged = run.judge.cost
        self._controls.show_cost(run.cost_so_far, judged)
        if judged is not None:
            self.judge_cost_changed.emit(judged)

    def _set_running(self, running: bool) -> None:
        changed, self._running = running != self._running, running
        defer_full_collections(running)  # the gc-policy hook (gui/compat)
        self._controls.set_running(running)
        self._limits.set_run_active(running)
        if running:
            if not self._clock.isActive():
                self._clock.start()
        else:
            self._clock.stop()
        if changed:
            self.running_changed.emit(running)

    def _on_tabs_current_changed(self, _index: int) -> None:
        if self._tabs.currentWidget() is not self._code:
            return
        past = self._session.past_run
        if past is not None:
            self._code.set_spec(past.spec)
            return
        try:
            self._code.set_spec(self._current_spec())
        except (TemplateError, SpecError) as exc:
            self._code.set_spec(None, str(exc))

    def _on_lag_updated(self) -> None:
        self._controls.sparkline.set_samples(self._lag.recent())

    def _on_clock_timeout(self) -> None:
        if self._session.current_run is None:
            return
        elapsed = self._session.elapsed()
        if self._session.running:
            self._timeline.set_now(elapsed)
        self._controls.show_clock(elapsed, self._lag.recent())
