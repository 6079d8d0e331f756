"""The app's runs, without Qt: start, retry one cell, compare strategies, open a past run.

A :class:`Session` is what the window drives. It owns every run it starts (and the task that
drives each), records them in the history it is given, and reports everything through one
stream of plain events: the engine's own events, with a retried cell's id mapped back to its
place in the grid, plus the session events below (a run opened, a retry queued, the counts
the gauges show, a run ended, the comparison's progress). A view subscribes to that stream
(through ``gui.qt.bridge`` in the window) and never asks a run for its state.

The counts are the grid's truth: one phase per grid cell, moved by the events the grid
draws, so a retried cell counts once, where its latest attempt is.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Set
from dataclasses import dataclass, field, replace
from typing import Any

from gui.core import events as ev
from gui.core.compare import COMPARE_ORDER, StrategyResult
from gui.core.errors import SpecError
from gui.core.metrics import RunSummary
from gui.core.ports import Backend, PastRun, RunHistory
from gui.core.runner import CANCELLED_SHUTDOWN, Phase, Run
from gui.core.spec import JudgeMode, Limits, ModelProfile, RunSpec, Strategy
from gui.core.tasks import TaskOwner

__all__ = [
    "Busy",
    "ComparisonEnded",
    "ComparisonStarted",
    "Counts",
    "CountsChanged",
    "PastRunOpened",
    "RetryQueued",
    "RunEnded",
    "RunOpened",
    "Session",
    "SessionEvent",
    "StrategyMeasured",
    "StrategyStarted",
]

log = logging.getLogger(__name__)

#: Seconds the session waits for the history to store a run's last cells before saying the
#: run ended (so the History tab lists it as it is); the writer normally needs milliseconds.
HISTORY_FLUSH_S = 2.0


class Busy(Exception):
    """A command that needs no run in progress was given during one; the message says so."""


@dataclass(frozen=True, slots=True)
class Counts:
    """How many of the shown run's cells are where, as the gauges and progress bar show them.

    Attributes:
        in_flight: Requests out now (running or streaming).
        waiting: Queued, in a limiter, or backing off before a retry.
        done: Cells that succeeded.
        failed: Cells that failed.
        cancelled: Cells that were cancelled.
        total: Cells in the grid.
    """

    in_flight: int = 0
    waiting: int = 0
    done: int = 0
    failed: int = 0
    cancelled: int = 0
    total: int = 0

    @property
    def ended(self) -> int:
        """Cells that have ended (done, failed or cancelled)."""
        return self.done + self.failed + self.cancelled

    def text(self) -> str:
        """``in flight 2 · waiting 3 · done 4 · failed 0 · cancelled 1`` for the status bar."""
        return (
            f"in flight {self.in_flight} · waiting {self.waiting} · done {self.done}"
            f" · failed {self.failed} · cancelled {self.cancelled}"
        )


class SessionEvent:
    """Base of the events the session adds to the engine's."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class RunOpened(SessionEvent):
    """A new run is the one shown (a run, or one step of a comparison); its cells are queued.

    Attributes:
        run: The run (read its ``spec`` and ``cells``; never poll it).
        label: ``comparison: gather`` for a comparison step, else ``None``.
    """

    run: Run
    label: str | None = None


@dataclass(frozen=True, slots=True)
class PastRunOpened(SessionEvent):
    """A past run is shown read-only; ``counts`` are its cells as stored."""

    past: PastRun
    counts: Counts


@dataclass(frozen=True, slots=True)
class RetryQueued(SessionEvent):
    """The grid cell ``cell_id`` starts again, in its own one-cell run ``run_id``."""

    cell_id: str
    run_id: str


@dataclass(frozen=True, slots=True)
class CountsChanged(SessionEvent):
    """The shown run's counts moved (emitted with every cell state change: keep the last)."""

    counts: Counts


@dataclass(frozen=True, slots=True)
class RunEnded(SessionEvent):
    """A run of the session ended and the history has its cells.

    Attributes:
        run_id: The run.
        primary: ``True`` for the shown run (or a comparison step), ``False`` for a retry.
        summary: The engine's summary of that run alone, or ``None`` if it crashed.
        counts: The shown run's counts now, retries included.
        error: One line when the run stopped on a bug of ours, else ``None``.
    """

    run_id: str
    primary: bool
    summary: RunSummary | None
    counts: Counts
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ComparisonStarted(SessionEvent):
    """A comparison begins: ``strategies`` in order, ``requests`` cells each."""

    strategies: tuple[Strategy, ...]
    requests: int


@dataclass(frozen=True, slots=True)
class StrategyStarted(SessionEvent):
    """The comparison's next strategy starts (``None``: the comparison is over)."""

    strategy: Strategy | None


@dataclass(frozen=True, slots=True)
class StrategyMeasured(SessionEvent):
    """One strategy of the comparison ended with ``result``."""

    result: StrategyResult


@dataclass(frozen=True, slots=True)
class ComparisonEnded(SessionEvent):
    """The comparison is over; ``results`` has one entry per strategy that ran to its end."""

    results: tuple[StrategyResult, ...]
    cancelled: bool


Listener = Callable[[ev.Event | SessionEvent], None]

# The phase a cell is in once the grid has drawn this event.
_PHASE_AFTER: dict[type[ev.Event], Phase] = {
    ev.CellQueued: Phase.QUEUED,
    ev.CellStarted: Phase.RUNNING,
    ev.FirstToken: Phase.STREAMING,
    ev.CellRetrying: Phase.RETRYING,
    ev.CellFinished: Phase.DONE,
    ev.CellFailed: Phase.FAILED,
    ev.CellCancelled: Phase.CANCELLED,
}


_ENDED = frozenset({Phase.DONE, Phase.FAILED, Phase.CANCELLED})
#: The ended phases by their stored names (a dict look-up rather than an enum call per cell:
#: a 10,000-cell past run opens on the GUI thread).
_ENDED_BY_NAME: dict[str, Phase] = {str(p): p for p in _ENDED}


@dataclass
class _Live:
    """A run the session drives: the shown one, or a one-cell retry mapped onto the grid."""

    run: Run
    primary: bool
    label: str | None = None
    # A retry: the run's own cell id -> the grid's, and the run whose cell it replaces.
    cell_map: dict[str, str] = field(default_factory=dict)
    into_run: str | None = None


class Session:
    """Owns the window's runs and tells the views about them through events.

    Args:
        backend: Makes the provider backend, called when the first run starts (importing
            LangChain is slow: not before it is needed).
        history: Awaited before a run starts; its result records the run (``None``: no
            history, nothing is recorded).
    """

    def __init__(
        self,
        backend: Callable[[], Backend],
        history: Callable[[], Awaitable[RunHistory | None]] | None = None,
    ) -> None:
        self._make_backend = backend
        self._history = history
        self._listeners: tuple[Listener, ...] = ()  # a tuple: no copy per event
        self._tasks = TaskOwner()
        self._live: dict[str, _Live] = {}
        self._main: _Live | None = None
        self._past: PastRun | None = None
        # The shown run's grid cells: those in _phase are where it says; the others of
        # _queued_ids are queued (a 20,000-cell run starts with an empty dict, not a full one).
        self._phase: dict[str, Phase] = {}
        self._queued_ids: Set[str] = frozenset()
        self._total = 0
        self._counts: dict[Phase, int] = dict.fromkeys(Phase, 0)
        self._comparing = False
        self._closing = False

    # ------------------------------------------------------------------ observing

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event)`` for every event from now on; returns an unsubscribe."""
        self._listeners = (*self._listeners, listener)

        def unsubscribe() -> None:
            self._listeners = tuple(x for x in self._listeners if x is not listener)

        return unsubscribe

    @property
    def running(self) -> bool:
        """Whether any run (shown, retry or comparison step) is in progress."""
        return self._comparing or any(not v.run.finished for v in self._live.values())

    @property
    def current_run(self) -> Run | None:
        """The run shown in the grid (``None`` when nothing ran or a past run is shown)."""
        return self._main.run if self._main is not None else None

    @property
    def past_run(self) -> PastRun | None:
        """The past run shown read-only, or ``None``."""
        return self._past

    @property
    def counts(self) -> Counts:
        """The shown run's counts now (the same as the last :class:`CountsChanged`)."""
        c = self._counts
        return Counts(
            in_flight=c[Phase.RUNNING] + c[Phase.STREAMING],
            waiting=c[Phase.QUEUED] + c[Phase.WAITING] + c[Phase.RETRYING],
            done=c[Phase.DONE],
            failed=c[Phase.FAILED],
            cancelled=c[Phase.CANCELLED],
            total=self._total,
        )

    def phase(self, cell_id: str) -> Phase | None:
        """The phase of a grid cell of the shown run, as last reported."""
        return self._phase_of(cell_id)

    def elapsed(self) -> float:
        """Seconds the shown run has taken so far (its wall time once it ended)."""
        main = self._main
        if main is None:
            return 0.0
        summary = main.run.summary
        return summary.wall if summary is not None else main.run.elapsed()

    def run_strategy(self, run_id: str) -> Strategy:
        """The strategy of one of the session's runs (stream if unknown)."""
        live = self._live.get(run_id)
        return live.run.spec.strategy if live is not None else Strategy.STREAM

    # ------------------------------------------------------------------ commands

    def start(self, spec: RunSpec, *, label: str | None = None, block_loop: bool = False) -> Run:
        """Show and start a run of ``spec`` (validated by the caller).

        Raises:
            Busy: a run is in progress.
        """
        self._check_idle()
        run = Run(spec, self._make_backend(), block_loop=block_loop)
        self._launch(self._open(run, label))
        return run

    def retry(
        self, cell_id: str, *, model: ModelProfile | None = None, limits: Limits | None = None
    ) -> Run | None:
        """Run one ended cell of the shown run again, in a one-cell run of its own.

        The retry may start while the rest of the run is still going. Its cell id is mapped to
        ``cell_id`` here (the views and the history see only the grid's id).

        Args:
            cell_id: The grid cell.
            model: The profile to use (the column as the user has it now); default the
                cell's own.
            limits: Limits for the retry; default the shown run's.

        Returns:
            The retry run, or ``None`` when the cell is unknown or has not ended.

        Raises:
            Busy: a strategy comparison is running (its cells are measurements).
        """
        if self._comparing:
            raise Busy("A strategy comparison is running: retry once it has ended.")
        main = self._main
        if main is None or self._closing:
            return None
        if self._phase_of(cell_id) not in _ENDED:
            return None
        cell = main.run.cells.get(cell_id)
        if cell is None:
            return None
        base = main.run.spec
        # One cell has nothing to schedule; sync would only block a thread for it.
        strategy = base.strategy if base.strategy is not Strategy.SYNC else Strategy.SEQUENTIAL
        # The cell's own prompt variant (its template and system message), its model's chat
        # context, and the run's schema and prices: a retried cell of variant B asks what B
        # asked, as structured output, priced as the run was.
        variant = base.variant_of(cell.col)
        context = None
        if base.context is not None:
            context = (base.context[base.columns[cell.col].model_index],)
        spec = RunSpec(
            variant.template,
            (dict(cell.inputs),),
            (model or cell.model,),
            strategy,
            limits or main.run.limits,
            variant.system,
            checks=base.checks,
            context=context,
            prices=base.prices,
            json_schema=base.json_schema,
        )
        spec = _retry_judge(spec, base)
        run = Run(spec, self._make_backend())
        (own,) = run.cells
        live = _Live(run, primary=False, cell_map={own.id: cell_id}, into_run=main.run.id)
        self._emit(RetryQueued(cell_id, run.id))
        self._move(cell_id, Phase.QUEUED)
        self._emit_counts()
        self._launch(live)
        return run

    def cancel_cell(self, cell_id: str) -> None:
        """Cancel the grid cell ``cell_id`` wherever it runs (its siblings carry on)."""
        for live in reversed(list(self._live.values())):
            if live.run.finished:
                continue
            own = _own_id(live, cell_id)
            if own is not None and own in live.run.cell_ids and not live.run.phase(own).terminal:
                live.run.cancel_cell(own)
                return

    def cancel_all(self) -> None:
        """Cancel every cell of every run in progress (partial text is kept)."""
        for live in list(self._live.values()):
            if not live.run.finished:
                live.run.cancel()

    def set_limits(self, **changes: Any) -> bool:
        """Apply limit changes to the runs in progress; ``True`` if any run took them.

        Raises:
            SpecError: a value is out of its range.
        """
        applied = False
        for live in self._live.values():
            if not live.run.finished:
                live.run.set_limits(**changes)
                applied = True
        return applied

    def set_judge_limit(self, limit: int) -> bool:
        """Change the judge's calls in flight of the runs in progress (calls not started
        yet take it); ``True`` if a run with a judge took it.

        Raises:
            SpecError: ``limit`` is below 1.
        """
        if limit < 1:
            raise SpecError(f"The judge's calls in flight must be at least 1, not {limit}.")
        applied = False
        for live in self._live.values():
            if not live.run.finished and live.run.judge is not None:
                live.run.judge.set_limit(limit)
                applied = True
        return applied

    def compare(self, spec: RunSpec) -> asyncio.Task[tuple[StrategyResult, ...]]:
        """Run ``spec``'s cells through every strategy in turn, each shown as it runs.

        Raises:
            Busy: a run is in progress.
        """
        self._check_idle()
        self._comparing = True
        return self._tasks.spawn(self._compare(spec), "fanout-comparison")

    def open_past(self, past: PastRun) -> None:
        """Show a past run read-only: its cells as stored, its counts.

        Raises:
            Busy: a run is in progress (its cells share the grid).
        """
        if self.running:
            raise Busy("A run is in progress: cancel it or let it finish, then open the past run.")
        self._past = past
        self._main = None
        self._live = {}
        ended = {c.cell_id: c for c in past.cells}
        self._phase, self._queued_ids = {}, frozenset()
        for cell_id in past.spec.cell_list().ids():  # ids only: no Cell is made
            stored = ended.get(cell_id)
            # A cell that never ended (the app stopped mid-run) shows as cancelled.
            status = stored.status if stored is not None else Phase.CANCELLED
            self._phase[cell_id] = _ENDED_BY_NAME.get(status, Phase.CANCELLED)
        self._total = len(self._phase)
        self._recount()
        counts = self.counts
        self._emit(PastRunOpened(past, counts))
        self._emit(CountsChanged(counts))

    def close_past(self) -> None:
        """Stop showing the past run (the grid is empty until the next run)."""
        self._past = None
        self._phase, self._queued_ids, self._total = {}, frozenset(), 0
        self._recount()
        self._emit(CountsChanged(self.counts))

    async def wait_idle(self) -> None:
        """Wait until every run and comparison of the session has ended."""
        await self._tasks.wait_idle()

    async def shutdown(self, grace: float = 0.8) -> None:
        """Stop every run (cells end ``cancelled``, partial text kept) and wait for them."""
        self._closing = True
        for live in list(self._live.values()):
            if not live.run.finished:
                live.run.cancel(CANCELLED_SHUTDOWN)
        tasks = self._tasks.pending()
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=0.2)

    # ------------------------------------------------------------------ internals

    def _check_idle(self) -> None:
        if self._closing:
            raise Busy("The app is closing.")
        if self.running:
            raise Busy("A run is in progress: cancel it or let it finish.")

    def _emit(self, event: ev.Event | SessionEvent) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("session listener %r failed on %s", listener, type(event).__name__)

    def _emit_counts(self) -> None:
        self._emit(CountsChanged(self.counts))

    def _recount(self) -> None:
        counts = dict.fromkeys(Phase, 0)
        counts.update(Counter(self._phase.values()))  # counted in C: 10,000 cells and more
        counts[Phase.QUEUED] += self._total - len(self._phase)
        self._counts = counts

    def _phase_of(self, cell_id: str) -> Phase | None:
        phase = self._phase.get(cell_id)
        if phase is None and cell_id in self._queued_ids:
            return Phase.QUEUED
        return phase

    def _move(self, cell_id: str, phase: Phase) -> bool:
        old = self._phase_of(cell_id)
        if old is None or old is phase:
            return False
        self._phase[cell_id] = phase
        self._counts[old] -= 1
        self._counts[phase] += 1
        return True

    def _open(self, run: Run, label: str | None) -> _Live:
        """Make ``run`` the shown one: every cell queued, counts from zero."""
        self._past = None
        live = _Live(run, primary=True, label=label)
        self._main = live
        self._live = {}
        self._phase, self._queued_ids, self._total = {}, run.cell_ids, len(run.cells)
        self._recount()
        self._emit(RunOpened(run, label))
        self._emit_counts()
        return live

    def _launch(self, live: _Live) -> asyncio.Task[None]:
        self._live[live.run.id] = live
        live.run.subscribe(self._forwarder(live))
        return self._tasks.spawn(self._drive(live), f"fanout-session:{live.run.id}")

    def _forwarder(self, live: _Live) -> Callable[[ev.Event], None]:
        """The run's subscriber: map a retry's cell id, move the cell's phase, pass it on."""
        cell_map = live.cell_map or None
        phase_after = _PHASE_AFTER
        text_chunk = ev.TextChunk

        def forward(event: ev.Event) -> None:
            if cell_map is not None and isinstance(event, ev.CellEvent):
                event = replace(event, cell_id=cell_map.get(event.cell_id, event.cell_id))
            elif cell_map is not None and isinstance(event, ev.JudgeEvent):
                # A retried cell's verdict belongs to the cell it retried (single mode: the
                # key is the cell id; a retry has one cell per row, so no pairs).
                event = replace(event, key=cell_map.get(event.key, event.key))
            if type(event) is text_chunk:  # the hot path: no phase change
                self._emit(event)
                return
            self._emit(event)
            phase = phase_after.get(type(event))
            if phase is not None and isinstance(event, ev.CellEvent):
                if self._move(event.cell_id, phase):
                    self._emit_counts()

        return forward

    async def _drive(self, live: _Live) -> None:
        """Run ``live`` to its end with the history recording it, then say it ended."""
        run = live.run
        summary: RunSummary | None = None
        error: str | None = None
        history: RunHistory | None = None
        try:
            if self._history is not None:
                history = await self._history()
            if history is not None:
                run.subscribe(
                    history.recorder(
                        label=live.label,
                        into_run=live.into_run,
                        cell_map=live.cell_map if live.into_run else None,
                    )
                )
            summary = await run.wait()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug of ours: say so, never leave the window waiting
            log.exception("run %s crashed", run.id)
            error = f"Run stopped by an internal error: {type(exc).__name__}: {exc}"
            if not run.finished:
                run.cancel(CANCELLED_SHUTDOWN)
        if history is not None and not self._closing:
            # The History tab reads the run back right after this: its last cells first.
            try:
                await asyncio.to_thread(history.flush, HISTORY_FLUSH_S)
            except Exception:
                log.exception("flushing the history failed")
        self._emit(RunEnded(run.id, live.primary, summary, self.counts, error))

    async def _compare(self, spec: RunSpec) -> tuple[StrategyResult, ...]:
        results: list[StrategyResult] = []
        cancelled = False
        try:
            self._emit(ComparisonStarted(COMPARE_ORDER, len(spec.cells())))
            # Each strategy makes its own requests: with the response cache on, every one after
            # the first would replay the first's answers and time nothing.
            uncached = replace(spec, limits=replace(spec.limits, cache=False))
            for strategy in COMPARE_ORDER:
                run = Run(replace(uncached, strategy=strategy), self._make_backend())
                live = self._open(run, f"comparison: {strategy}")
                self._emit(StrategyStarted(strategy))
                self._live[run.id] = live
                run.subscribe(self._forwarder(live))
                await self._drive(live)
                if run.summary is None:
                    cancelled = True
                    break
                result = StrategyResult.of(run)
                results.append(result)
                self._emit(StrategyMeasured(result))
                if run.summary.cancelled_by_user or self._closing:
                    cancelled = True
                    break
        finally:
            self._comparing = False
            self._emit(StrategyStarted(None))
        self._emit(ComparisonEnded(tuple(results), cancelled))
        return tuple(results)


def _retry_judge(spec: RunSpec, base: RunSpec) -> RunSpec:
    """A retried cell is judged again when its run has a single-mode judge (a pairwise judge
    compares a row's answers together, which one retried cell cannot redo)."""
    judge = base.judge
    if judge is None or judge.mode is not JudgeMode.SINGLE:
        return spec
    return replace(spec, judge=judge)


def _own_id(live: _Live, grid_id: str) -> str | None:
    """The run's own id for the grid cell ``grid_id``, or ``None`` if it has no such cell."""
    if not live.cell_map:
        return grid_id
    for own, grid in live.cell_map.items():
        if grid == grid_id:
            return own
    return None
