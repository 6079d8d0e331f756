"""The run engine: owns every task of a run, applies the limits, reports events.

A :class:`Run` is created from a validated :class:`~gui.core.spec.RunSpec` and a provider
:class:`~gui.core.ports.Backend`. ``start()`` launches one named driver task; the chosen
strategy (``gui.core.strategies``) decides how cells are scheduled, and every cell runs
through :meth:`Run._cell_main`, which is the single place where limits, retries, timeouts,
cancellation and metrics are handled. Whatever happens, every cell ends with exactly one
terminal event and the run ends with :class:`~gui.core.events.RunFinished`.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import random
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping, Set
from dataclasses import replace
from enum import StrEnum
from typing import Any

from gui.core import events as ev
from gui.core.budget import BudgetGate, worst_case
from gui.core.caching import USE_CACHE_KEY, cache_allowed
from gui.core.cell_context import REQUESTED_CELL
from gui.core.checking import CheckRunner
from gui.core.costs import CostTotals
from gui.core.errors import (
    ErrorKind,
    Failure,
    TimeoutName,
    empty_failure,
    generic_failure,
    timeout_failure,
    too_large_failure,
)
from gui.core.estimate import approx_tokens, messages_tokens
from gui.core.judge_lane import JudgeLane
from gui.core.keys import redact
from gui.core.limits import RateLimiter, ResizableLimiter, backoff_delay
from gui.core.metrics import CellClock, CellMetrics, RunSummary
from gui.core.ports import Backend, CallMode, ChainLike
from gui.core.pricing import Price, PriceTable
from gui.core.spec import Cell, CellList, ErrorPolicy, Limits, ModelProfile, RunSpec, Strategy
from gui.core.strategies import STRATEGIES
from gui.core.structured import JSON_SCHEMA_KEY, check_answer

log = logging.getLogger(__name__)

Subscriber = Callable[[ev.Event], None]

CANCELLED_BY_USER = "Cancelled by user; partial text kept."
CANCELLED_FAIL_FAST = "Cancelled: another cell failed and the error policy is fail fast."
CANCELLED_SHUTDOWN = "Cancelled: the run was stopped."
#: A user's cancel of a cell whose request never went out: there is no partial text to keep.
CANCELLED_BEFORE_START = "Cancelled before it started."

#: Key in a blocking call's ``config["configurable"]``: the seconds the call may take. A thread
#: cannot be cancelled, so the engine's own timeout only abandons it; a backend should make the
#: call itself give up by then (an HTTP timeout), else a stalled server keeps the thread and its
#: socket until its backstop.
REQUEST_TIMEOUT_KEY = "fanout_request_timeout"

#: CellQueued events the driver emits per loop iteration at a run's start at most (see
#: ``Run._announce``), and the seconds of the loop one such slice may take at most: each event
#: goes to every subscriber, and 500 of them took 10-20 ms, long enough that the lag heartbeat,
#: waiting behind the slice and the other work due in the same Qt pass (the timeline's rows,
#: a paint), fired 40-60 ms late at a 20,000-cell run's start (docs/performance-notes.md).
ANNOUNCE_SLICE = 500
ANNOUNCE_SLICE_S = 0.003

#: Waiting cells :meth:`Run.cancel` cancels per loop iteration in a big run.
CANCEL_SLICE = 500
#: Seconds of the loop one slice of a big run's cancel may take at most: a cell whose task has
#: not started yet (cells get their tasks a slice at a time, see ``strategies._all``) ends in
#: the slice itself, its events told to every subscriber, tens of times the cost of a
#: ``task.cancel()``, and 500 of them made a visible freeze (docs/performance-notes.md).
CANCEL_SLICE_S = 0.003


def _loop_clock() -> float:
    """The clock slices of the loop's work are timed by (seconds; tests replace it)."""
    return time.perf_counter()


#: Key in every call's ``config["configurable"]``: the run's cap on answer size in characters,
#: so that a provider can bound what it buffers from the wire (the engine cuts the text itself).
MAX_ANSWER_CHARS_KEY = "fanout_max_answer_chars"


class Phase(StrEnum):
    """Where a cell is now; the window's status chip and gauges read this."""

    QUEUED = "queued"
    WAITING = "waiting"  # in the limiter or rate limiter
    RUNNING = "running"  # request out, no text yet
    STREAMING = "streaming"
    RETRYING = "retrying"  # backing off before another attempt
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """Whether the cell has ended."""
        return self in (Phase.DONE, Phase.FAILED, Phase.CANCELLED)


_run_numbers = itertools.count(1)


def _weak_limits(run: Run) -> Callable[[], Limits]:
    """``run.limits`` as they are now, read without holding ``run`` (its last limits once
    it is gone)."""
    ref = weakref.ref(run)
    last = [run.limits]

    def read() -> Limits:
        alive = ref()
        if alive is not None:
            last[0] = alive.limits
        return last[0]

    return read


def _weak_emit(run: Run) -> Callable[[ev.Event], None]:
    """``run._emit`` without holding ``run`` (an event for a run that is gone is dropped)."""
    method = weakref.WeakMethod(run._emit)

    def emit(event: ev.Event) -> None:
        bound = method()
        if bound is not None:
            bound(event)

    return emit


def _weak_now(run: Run) -> Callable[[], float]:
    """``run._now`` without holding ``run`` (the last time it gave once it is gone)."""
    method = weakref.WeakMethod(run._now)
    last = [0.0]

    def now() -> float:
        bound = method()
        if bound is not None:
            last[0] = bound()
        return last[0]

    return now


class Run:
    """One execution of a :class:`RunSpec`.

    The app starts runs through :class:`gui.core.session.Session`, which keeps them alive
    and records them; the CLI and the benchmark create one and await :meth:`wait`.
    """

    def __init__(
        self,
        spec: RunSpec,
        backend: Backend,
        *,
        run_id: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        block_loop: bool = False,
    ) -> None:
        #: Only for the "block the UI" demo: the sync strategy calls ``invoke`` on the loop's
        #: own thread, so the audience sees the window freeze. Never used by anything else.
        self.block_loop = block_loop and spec.strategy is Strategy.SYNC
        self.id = run_id or f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        self.spec = spec
        # Cells are made as they are needed: a run of 20,000 cells is created at the press
        # of Run, on the GUI thread, and must cost what a small one does.
        self.cells: CellList = spec.cell_list()
        self.limits: Limits = spec.limits
        self._backend = backend
        self._clock = clock
        self._rng = rng or random.Random()
        self._limiter = ResizableLimiter(self.limits.max_concurrency)
        # A model's own limit (a local server with one slot) gates its cells before the
        # run's limit does, so a cell waiting for its model never holds one of the run's slots.
        # One gate per model profile, shared by all its columns (variants, sweep values): the
        # server's slots do not multiply with the columns.
        model_limiters = {
            m: ResizableLimiter(profile.max_concurrency)
            for m, profile in enumerate(spec.models)
            if profile.max_concurrency is not None
        }
        self._model_limiters: dict[int, ResizableLimiter] = {
            column.index: model_limiters[column.model_index]
            for column in self.cells.columns
            if column.model_index in model_limiters
        }
        self._rate = RateLimiter(self.limits.requests_per_second)
        #: Who hears the run's events, in order; a tuple replaced (never changed in place) on
        #: every (un)subscribe, so the per-chunk path reads it without copying it.
        self._subscribers: tuple[Subscriber, ...] = ()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._driver: asyncio.Task[RunSummary] | None = None
        self._t0 = 0.0
        # Cells that have left QUEUED; every other cell of the run is queued.
        self._phase: dict[str, Phase] = {}
        self._phase_counts: dict[Phase, int] = dict.fromkeys(Phase, 0)
        self._phase_counts[Phase.QUEUED] = len(self.cells)
        self._clocks: dict[str, CellClock] = {}
        self._texts: dict[str, list[str]] = {}
        self._cancel_reasons: dict[str, str] = {}
        self._stopping: str | None = None
        #: Every cell's CellQueued has been emitted (the driver announces them in slices).
        self._announced = False
        #: Cancels a big run's waiting cells a slice at a time (see :meth:`cancel`).
        self._canceller: asyncio.Task[None] | None = None
        self._stopped_by_user = False
        self._failures: dict[str, int] = {}
        self._peak_running = 0
        self._chains: dict[int, ChainLike] = {}
        self._metrics: dict[str, CellMetrics] = {}
        #: Per column: its endpoint (server, model name, key; see ``ModelProfile.endpoint``),
        #: numbered. A 429 pauses the endpoint, so every column sending there waits (a sweep
        #: of temperatures, prompt variants and repeats of one model all share one quota).
        endpoints: dict[tuple[object, ...], int] = {}
        self._endpoint_of: dict[int, int] = {
            column.index: endpoints.setdefault(column.model.endpoint, len(endpoints))
            for column in self.cells.columns
        }
        #: Per endpoint: loop time before which none of its requests go out, after a rate
        #: limit.
        self._paused_until: dict[int, float] = {}
        #: Per endpoint: rate limits in a row, each met after the previous pause ended.
        self._rate_limited_streak: dict[int, int] = {}
        self.summary: RunSummary | None = None
        # Tokens and cost (issue 15): each column's price, the budget cap, the totals.
        self._price_table: PriceTable = spec.price_table
        self._prices: dict[int, Price | None] = {}
        # The run's helpers reach it only through weak references: a run that referred to
        # itself (a lambda over ``self`` in its budget gate) was freed by no reference count
        # but by the next full collection, which then scanned its 20,000 cells' tasks, clocks
        # and metrics in one GUI-thread step (docs/performance-notes.md).
        limits = _weak_limits(self)
        self._budget = BudgetGate(lambda: limits().budget_usd)
        self._totals = CostTotals()
        #: Per column: (answers, their output tokens) of the cells done so far.
        self._column_output: dict[int, tuple[int, int]] = {}
        #: The run's checks, evaluated per done cell; their tasks end before RunFinished.
        self._checker = CheckRunner(spec.checks) if spec.checks else None
        self._check_tasks: set[asyncio.Task[None]] = set()
        #: The judge lane (issue 13) when the spec has a judge: judge calls queued as cells
        #: end, under the judge's own limits; the run ends after its last judge call.
        self.judge: JudgeLane | None = None
        if spec.judge is not None:
            self.judge = JudgeLane(
                self.id,
                spec,
                self.cells,
                backend,
                _weak_emit(self),
                _weak_now(self),
                limits,
                self._rng,
            )

    # ---------------------------------------------------------------- public API

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` for every event from now on; returns an unsubscribe."""
        self._subscribers = (*self._subscribers, callback)

        def unsubscribe() -> None:
            subscribers = list(self._subscribers)
            if callback in subscribers:
                subscribers.remove(callback)
                self._subscribers = tuple(subscribers)

        return unsubscribe

    def start(self) -> asyncio.Task[RunSummary]:
        """Launch the run on the running loop; the returned task resolves to the summary."""
        if self._driver is not None:
            raise RuntimeError("run already started")
        self._driver = asyncio.get_running_loop().create_task(
            self._main(), name=f"fanout-run:{self.id}"
        )
        return self._driver

    async def wait(self) -> RunSummary:
        """Wait for the run to end (starting it if needed)."""
        task = self._driver or self.start()
        return await asyncio.shield(task)

    @property
    def finished(self) -> bool:
        """Whether the run has ended."""
        return self.summary is not None

    def cancel(self, reason: str = CANCELLED_BY_USER) -> None:
        """Cancel every cell that has not ended; running ones keep their partial text.

        Requests out now (and back-offs) stop at once. In a big run the others end a slice
        per loop iteration (:data:`CANCEL_SLICE`): cancelling 20,000 waiting cells in one
        step froze the window for about half a second. None of them starts a request
        meanwhile: a cell that gets a slot once the run is stopping ends there, cancelled.
        """
        if self._stopping is None:
            self._stopping = reason
            self._stopped_by_user = reason == CANCELLED_BY_USER
        if self.judge is not None:
            self.judge.cancel()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or not self._announced or len(self.cells) <= CANCEL_SLICE:
            for cell_id in self.cells.ids():
                if not self._phase_of(cell_id).terminal:
                    self._cancel_one(cell_id, reason)
            return
        busy = (Phase.RUNNING, Phase.STREAMING, Phase.RETRYING)
        for cell_id, phase in list(self._phase.items()):  # cells that left the queue
            if phase in busy:
                self._cancel_one(cell_id, reason)
        if self._canceller is None or self._canceller.done():
            self._canceller = loop.create_task(
                self._cancel_in_slices(reason), name=f"fanout-cancel:{self.id}"
            )

    def cancel_cell(self, cell_id: str) -> None:
        """Cancel one cell; its siblings carry on."""
        if self.cells.index_of(cell_id) is None:
            raise KeyError(cell_id)
        if not self._phase_of(cell_id).terminal:
            self._cancel_one(cell_id, CANCELLED_BY_USER)

    def set_limits(self, **changes: Any) -> Limits:
        """Change limits now; they apply to cells not yet started.

        Raises:
            SpecError: a value is out of its accepted range.
        """
        self.limits = self.limits.changed(**changes)
        self._limiter.set_limit(self.limits.max_concurrency)
        if self._driver is not None:
            self._rate.set_rate(self.limits.requests_per_second)
        return self.limits

    def phase(self, cell_id: str) -> Phase:
        """Current phase of a cell.

        Raises:
            KeyError: the run has no cell ``cell_id``.
        """
        if self.cells.index_of(cell_id) is None:
            raise KeyError(cell_id)
        return self._phase_of(cell_id)

    @property
    def cell_ids(self) -> Set[str]:
        """The ids of the run's cells (a view: nothing is built)."""
        return self.cells.ids()

    def count(self, phase: Phase) -> int:
        """How many cells are in ``phase`` now."""
        return self._phase_counts[phase]

    @property
    def in_flight(self) -> int:
        """Cells whose request is out right now."""
        return self._phase_counts[Phase.RUNNING] + self._phase_counts[Phase.STREAMING]

    @property
    def peak_in_flight(self) -> int:
        """Most requests out at once so far."""
        return self._peak_running

    @property
    def cost_so_far(self) -> CostTotals:
        """Tokens and cost of the cells that ended so far (a live object: read, do not keep)."""
        return self._totals

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return self._clock() - self._t0 if self._t0 else 0.0

    def metrics(self, cell_id: str) -> CellMetrics | None:
        """Final metrics of a cell that has ended, else ``None``."""
        return self._metrics.get(cell_id)

    def partial_text(self, cell_id: str) -> str:
        """The text a cell has produced so far."""
        return "".join(self._texts.get(cell_id, ()))

    # ------------------------------------------------------------- strategy API

    def spawn(self, cell: Cell, mode: CallMode) -> asyncio.Task[None]:
        """Create (or return) the owned task that runs ``cell``."""
        task = self._tasks.get(cell.id)
        if task is None:
            task = asyncio.get_running_loop().create_task(
                self._cell_main(cell, mode), name=f"fanout-cell:{self.id}:{cell.id}"
            )
            self._tasks[cell.id] = task
        return task

    @property
    def stopping(self) -> bool:
        """Whether the run is being cancelled (strategies start no new cells)."""
        return self._stopping is not None

    @property
    def backend(self) -> Backend:
        """The provider backend."""
        return self._backend

    # ---------------------------------------------------------------- internals

    def _now(self) -> float:
        return self._clock() - self._t0

    def _emit(self, event: ev.Event) -> None:
        ended = event if isinstance(event, ev.TERMINAL) else None
        if ended is not None:
            self._metrics[ended.cell_id] = ended.metrics
            self._count_cost(ended.cell_id, ended.metrics, isinstance(ended, ev.CellFinished))
        elif isinstance(event, ev.JudgeEnded) and event.cost is not None:
            # The judge's spend counts against the cap too (its lane adds up its totals).
            self._budget.spend(event.cost.cost_usd)
        for callback in self._subscribers:
            try:
                callback(event)
            except Exception:
                log.exception("event subscriber %r failed on %s", callback, type(event).__name__)
        if ended is not None and self.judge is not None:
            # After the subscribers: a cell's end is seen before its judge call is queued.
            self.judge.cell_ended(
                ended.cell_id, ended.text if isinstance(ended, ev.CellFinished) else None
            )

    def _count_cost(self, cell_id: str, m: CellMetrics, done: bool) -> None:
        """Add an ended cell's tokens and cost to the run's totals and free its budget."""
        self._totals.add(m)
        self._budget.settle(cell_id, m.cost_usd)
        if done:
            row_col = self.cells.get(cell_id)
            if row_col is not None:
                n, total = self._column_output.get(row_col.col, (0, 0))
                self._column_output[row_col.col] = (n + 1, total + m.output_tokens)

    def _price(self, cell: Cell) -> Price | None:
        """The price of the cell's model (looked up once per column)."""
        col = cell.col
        if col not in self._prices:
            self._prices[col] = self._price_table.price_for(cell.model)
        return self._prices[col]

    def _freeze(self, cell: Cell, clock: CellClock, text: str) -> CellMetrics:
        """The cell's final metrics, its cost included."""
        if (
            clock.input_estimate is None
            and clock.usage_input_tokens is None
            and clock.started_at is not None
        ):
            # The provider reported no prompt tokens: the estimate stands in, marked as such.
            clock.input_estimate = self._input_estimate(cell)
        return clock.freeze(self._now(), text, price=self._price(cell))

    def _input_estimate(self, cell: Cell) -> int:
        """The cell's prompt tokens, estimated from the messages it sends."""
        return messages_tokens(self.spec.messages(cell.id), approx_tokens)

    async def _admit(self, cell: Cell, clock: CellClock) -> bool:
        """Whether the budget cap lets ``cell`` start (see :class:`gui.core.budget.BudgetGate`).

        The prompt's tokens are estimated here only under a cap: otherwise only a provider
        that reports none needs them, once the cell ends (:meth:`_freeze`).
        """
        if self.limits.budget_usd is None:
            return True
        estimate = clock.input_estimate = self._input_estimate(cell)
        n, total = self._column_output.get(cell.col, (0, 0))
        worst = worst_case(self._price(cell), cell.model, estimate, total / n if n else None)
        return await self._budget.admit(cell.id, worst)

    def _phase_of(self, cell_id: str) -> Phase:
        return self._phase.get(cell_id, Phase.QUEUED)

    def _set_phase(self, cell_id: str, phase: Phase) -> None:
        old = self._phase.get(cell_id, Phase.QUEUED)
        if old is phase or old.terminal:
            return
        self._phase_counts[old] -= 1
        self._phase_counts[phase] += 1
        self._phase[cell_id] = phase
        self._peak_running = max(self._peak_running, self.in_flight)

    def _cancel_one(self, cell_id: str, reason: str) -> None:
        self._cancel_reasons.setdefault(cell_id, reason)
        task = self._tasks.get(cell_id)
        if task is not None:
            if not task.done():
                task.cancel(reason)
        elif self._announced:
            # Never started: end it here so the grid never keeps a queued ghost. (Before
            # every cell is announced, the driver ends it right after its CellQueued.)
            cell = self.cells.get(cell_id)
            if cell is not None:
                self._end_cancelled(cell)

    def _chain(self, cell: Cell) -> ChainLike:
        chain = self._chains.get(cell.col)
        if chain is None:
            chain = self._build_chain(cell.col, cell.model)
            self._chains[cell.col] = chain
        return chain

    def _build_chain(self, col: int, model: ModelProfile) -> ChainLike:
        """Column ``col``'s chain: the template's, or for a chat turn its own message list."""
        threads = self.spec.threads
        if threads is not None:
            return self._backend.thread_chain(threads[col], model)
        variant = self.spec.variant_of(col)
        context = self.spec.context_of(col)
        if context:
            return self._backend.chain(variant.template, variant.system, model, context=context)
        return self._backend.chain(variant.template, variant.system, model)

    def _classify(self, exc: BaseException, cell: Cell) -> Failure:
        try:
            failure = self._backend.classify(exc, cell.model)
        except Exception:
            log.exception("error classifier failed")
            failure = None
        failure = failure or generic_failure(exc, cell.model.provider_name)
        # A server may quote the request back, key included: the message is shown, stored
        # in the history and exported, so no known key may be in it.
        message = redact(failure.message)
        return failure if message == failure.message else replace(failure, message=message)

    async def _main(self) -> RunSummary:
        self._t0 = self._clock()
        self._rate.set_rate(self.limits.requests_per_second)
        self._emit(ev.RunStarted(self.id, 0.0, self.spec, self.cells, time.time()))
        try:
            await self._announce()
            # Cells cancelled before the driver got going end now.
            for cell_id, reason in list(self._cancel_reasons.items()):
                self._cancel_one(cell_id, reason)
            await self._prepare_chains()
            await STRATEGIES[self.spec.strategy](self)
        except asyncio.CancelledError:
            # Someone cancelled the driver itself (e.g. loop shutdown): stop every cell,
            # wait for them below, then let the cancellation through.
            self.cancel(CANCELLED_SHUTDOWN)
            await self._settle()
            raise
        except Exception:
            log.exception("strategy %s crashed", self.spec.strategy)
            self.cancel(CANCELLED_SHUTDOWN)
        finally:
            if self.summary is None:
                await self._settle()
        assert self.summary is not None
        return self.summary

    async def _announce(self) -> None:
        """Emit every cell's CellQueued, a slice at a time with a yield to the loop between.

        Each event goes to every subscriber (the session, the window's bridge, the history),
        some microseconds each: 20,000 of them in one step froze the window for about 100 ms
        at a big run's start (docs/performance-notes.md). No cell starts before all are
        announced (the strategy runs after this), so each cell's events stay in order.
        """
        clocks, emit, now, run_id = self._clocks, self._emit, self._now, self.id
        queued = ev.CellQueued
        clock = _loop_clock  # the loop's time, not the run's (a test may fake that)
        deadline = clock() + ANNOUNCE_SLICE_S
        for n, cell_id in enumerate(self.cells.ids()):
            if n and (n % ANNOUNCE_SLICE == 0 or clock() >= deadline):
                await asyncio.sleep(0)
                deadline = clock() + ANNOUNCE_SLICE_S
            t = now()
            clocks[cell_id] = CellClock(queued_at=t)
            emit(queued(run_id, t, cell_id))
        self._announced = True

    async def _cancel_in_slices(self, reason: str) -> None:
        """Cancel every cell not ended yet, a slice per loop iteration (see :meth:`_paced`)."""
        await self._paced(lambda cell_id: self._cancel_one(cell_id, reason))

    async def _paced(self, act: Callable[[str], None]) -> None:
        """Call ``act(cell_id)`` for every cell not ended yet, giving the loop back after
        :data:`CANCEL_SLICE` cells or :data:`CANCEL_SLICE_S` seconds, whichever comes first."""
        clock = _loop_clock  # the loop's time, not the run's (a test may fake that)
        deadline = clock() + CANCEL_SLICE_S
        for n, cell_id in enumerate(self.cells.ids()):
            if n % CANCEL_SLICE == CANCEL_SLICE - 1 or clock() >= deadline:
                await asyncio.sleep(0)
                deadline = clock() + CANCEL_SLICE_S
            if not self._phase_of(cell_id).terminal:
                act(cell_id)

    async def _prepare_chains(self) -> None:
        """Build every column's chain in a worker thread before the first cell starts.

        Building is blocking work: the first OpenAI chain of a process imports the HTTP stack
        and a backend creates its HTTP clients (an SSL context each), which froze the loop
        visibly just as the first cells started (docs/performance-notes.md). A column whose chain cannot be built is left
        to :meth:`_chain`, which tries again inside each of its cells, so every such cell fails
        with the classified error as before.
        """
        # Every model is a column with cells (a run has at least one row).
        wanted = {
            column.index: column.model
            for column in self.cells.columns
            if column.index not in self._chains and self.spec.rows
        }
        if not wanted or self._stopping is not None:
            return
        build = self._build_chain

        def build_all() -> dict[int, ChainLike]:
            built: dict[int, ChainLike] = {}
            for col, model in wanted.items():
                try:
                    built[col] = build(col, model)
                except Exception:
                    log.debug("chain for column %d not built ahead", col, exc_info=True)
            return built

        for col, chain in (await asyncio.to_thread(build_all)).items():
            self._chains.setdefault(col, chain)

    def _start_checks(self, cell: Cell, text: str) -> None:
        """Evaluate the run's checks on a done cell's answer; ``CellChecked`` follows.

        A task of the run's own (its cell's slot is already free), awaited before
        RunFinished; a cancel of the run lets it end (a cell's checks take at most the worker's
        time limit), so every done cell of a checked run carries its results.
        """
        checker = self._checker
        if checker is None:
            return

        async def check() -> None:
            try:
                results = await checker.evaluate(text, cell.inputs)
            except Exception:
                log.exception("checks of cell %s failed", cell.id)
                return
            self._emit(ev.CellChecked(self.id, self._now(), cell.id, results))

        task = asyncio.get_running_loop().create_task(
            check(), name=f"fanout-checks:{self.id}:{cell.id}"
        )
        self._check_tasks.add(task)
        task.add_done_callback(self._check_tasks.discard)

    async def _settle(self) -> None:
        """Wait for every cell task, end any cell left without a state, emit RunFinished."""
        pending = [t for t in self._tasks.values() if not t.done()]
        if pending:
            await asyncio.wait(pending)
        # Every cell task has ended: let them go. A task cancelled before its first step
        # keeps its cancellation's traceback, whose frame holds the run: a cycle that only a
        # full collection would free, scanning the whole run in one step (see __init__).
        self._tasks.clear()
        if self._check_tasks:
            await asyncio.wait(set(self._check_tasks))
        if self._canceller is not None and not self._canceller.done():
            await asyncio.wait([self._canceller])
        counts = self._phase_counts
        ended = counts[Phase.DONE] + counts[Phase.FAILED] + counts[Phase.CANCELLED]
        # Usually every cell has ended by now, and the counts say so without a pass over
        # them all. Cells whose task was cancelled before its first step have not (the task
        # ends without running the cell): thousands of them after a big run's early cancel,
        # ended a slice at a time like the cancel itself.
        if ended < len(self.cells):
            await self._paced(self._end_left_over)
        if self.judge is not None:
            await self.judge.drain()
        if self.summary is None:
            c = self._phase_counts
            judged = self.judge.cost if self.judge is not None else CostTotals()
            self.summary = RunSummary(
                total=len(self.cells),
                done=c[Phase.DONE],
                failed=c[Phase.FAILED],
                cancelled=c[Phase.CANCELLED],
                wall=self._now(),
                strategy=str(self.spec.strategy),
                peak_in_flight=self._peak_running,
                failures_by_kind=dict(self._failures),
                cancelled_by_user=self._stopped_by_user,
                input_tokens=self._totals.input_tokens,
                output_tokens=self._totals.output_tokens,
                cost_usd=self._totals.cost_usd,
                unpriced=self._totals.unpriced,
                tokens_estimated=self._totals.estimated,
                budget_note=self._budget.note(),
                judge_calls=judged.cells,
                judge_input_tokens=judged.input_tokens,
                judge_output_tokens=judged.output_tokens,
                judge_cost_usd=judged.cost,
                judge_tokens_estimated=judged.estimated,
            )
            self._emit(ev.RunFinished(self.id, self._now(), self.summary))

    def _end_left_over(self, cell_id: str) -> None:
        """End a cell the run is done with that never ended (its task never ran it)."""
        cell = self.cells.get(cell_id)
        assert cell is not None
        self._cancel_reasons.setdefault(cell_id, self._stopping or CANCELLED_SHUTDOWN)
        self._end_cancelled(cell)

    def _end_cancelled(self, cell: Cell) -> None:
        if self._phase_of(cell.id).terminal:
            return
        text = self.partial_text(cell.id)
        clock = self._clocks.setdefault(cell.id, CellClock(queued_at=self._now()))
        self._set_phase(cell.id, Phase.CANCELLED)
        reason = self._cancel_reasons.get(cell.id, CANCELLED_SHUTDOWN)
        if reason == CANCELLED_BY_USER and clock.started_at is None:
            reason = CANCELLED_BEFORE_START
        self._emit(
            ev.CellCancelled(
                self.id, self._now(), cell.id, reason, text, self._freeze(cell, clock, text)
            )
        )

    async def _cell_main(self, cell: Cell, mode: CallMode) -> None:
        """Run one cell to exactly one terminal event. Never raises."""
        if self._phase_of(cell.id).terminal:
            return
        if cell.id in self._cancel_reasons:
            self._end_cancelled(cell)
            return
        clock = self._clocks[cell.id]
        parts = self._texts.setdefault(cell.id, [])
        try:
            attempt = 0
            while True:
                attempt += 1
                clock.attempts = attempt
                self._set_phase(cell.id, Phase.WAITING)
                entered = self._clock()
                model_gate = await self._acquire_slots(cell.col)
                try:
                    if attempt == 1 and not await self._admit(cell, clock):
                        # Refused for good: what was spent leaves no room for this cell.
                        self._cancel_reasons.setdefault(cell.id, self._budget.reason())
                        raise asyncio.CancelledError
                    await self._rate.acquire()
                    # A pause that began while it waited for the request rate.
                    await self._wait_out_rate_limit(cell.col)
                    if self._stopping is not None:
                        # The run is stopping (a big run's cells are cancelled in slices): a
                        # slot a cancelled cell freed starts nothing.
                        self._cancel_reasons.setdefault(cell.id, self._stopping)
                        raise asyncio.CancelledError
                    waited = self._clock() - entered
                    clock.waited += waited
                    clock.started_at = self._now()
                    clock.first_token_at = None
                    clock.chunks = 0
                    parts.clear()
                    self._set_phase(cell.id, Phase.RUNNING)
                    self._emit(ev.CellStarted(self.id, self._now(), cell.id, attempt, waited))
                    failure = await self._attempt(cell, mode, clock, parts)
                finally:
                    self._limiter.release()
                    if model_gate is not None:
                        model_gate.release()
                if failure is not None and failure.kind is ErrorKind.RATE_LIMITED:
                    self._pause_for_rate_limit(cell.col, failure)
                elif failure is None:
                    self._rate_limited_streak.pop(self._endpoint_of.get(cell.col, -1), None)
                if failure is None:
                    text = "".join(parts)
                    self._set_phase(cell.id, Phase.DONE)
                    self._check_schema(clock, text)
                    metrics = self._freeze(cell, clock, text)
                    self._emit(ev.CellFinished(self.id, self._now(), cell.id, text, metrics))
                    self._start_checks(cell, text)
                    return
                limits = self.limits
                too_long = (
                    failure.retry_after is not None and failure.retry_after > limits.backoff_max
                )
                if failure.retryable and attempt <= limits.retries and not parts and not too_long:
                    delay = backoff_delay(
                        attempt + 1,
                        limits.backoff_base,
                        limits.backoff_max,
                        failure.retry_after,
                        self._rng,
                    )
                    self._set_phase(cell.id, Phase.RETRYING)
                    self._emit(
                        ev.CellRetrying(
                            self.id,
                            self._now(),
                            cell.id,
                            attempt + 1,
                            limits.retries + 1,
                            delay,
                            failure.kind,
                            failure.message,
                        )
                    )
                    await asyncio.sleep(delay)
                    continue
                self._fail(cell, failure, clock, attempt, too_long)
                return
        except asyncio.CancelledError:
            self._end_cancelled(cell)
        except Exception as exc:  # a bug of ours: still end the cell visibly
            log.exception("cell %s crashed", cell.id)
            self._fail(cell, generic_failure(exc, cell.model.provider_name), clock, 1, False)

    async def _acquire_slots(self, col: int) -> ResizableLimiter | None:
        """Take the column's model slot (if its model has a limit) and a run slot, outside
        any rate-limit pause of the column's endpoint; returns the model gate taken.

        A pause is waited out holding no slot, so that columns on other endpoints get the
        run's slots meanwhile: a cell that was queued for a slot when its endpoint met a 429
        gives the slot back and waits (with one slot and a swept model, the other model's
        cells would otherwise queue behind each swept column's pause in turn).
        """
        model_gate = self._model_limiters.get(col)
        while True:
            await self._wait_out_rate_limit(col)
            if model_gate is not None:
                await model_gate.acquire()
            try:
                await self._limiter.acquire()
            except BaseException:
                if model_gate is not None:
                    model_gate.release()
                raise
            if not self._paused(col):
                return model_gate
            self._limiter.release()
            if model_gate is not None:
                model_gate.release()

    def _paused(self, col: int) -> bool:
        """Whether the column's endpoint is in a rate-limit pause right now."""
        until = self._paused_until.get(self._endpoint_of.get(col, -1))
        return until is not None and until > asyncio.get_running_loop().time()

    async def _wait_out_rate_limit(self, col: int) -> None:
        """Wait until a pause the column's endpoint asked for (a 429) is over."""
        endpoint = self._endpoint_of.get(col, -1)
        if endpoint not in self._paused_until:
            return
        loop = asyncio.get_running_loop()
        left = self._paused_until[endpoint] - loop.time()
        while left > 0:  # a 429 met meanwhile may have made the pause longer
            await asyncio.sleep(left)
            left = self._paused_until[endpoint] - loop.time()

    def _pause_for_rate_limit(self, col: int, failure: Failure) -> None:
        """A 429 holds back every cell sent to its endpoint, not only the one that met it.

        Cells back off one by one otherwise, and the others keep sending: 50 cells against a
        server that answers 429 with no (or a zero) ``Retry-After`` made hundreds of requests
        in a few seconds. The quota is the server's, per model and key, so every column with
        the same endpoint waits (a temperature sweep of one model is one quota, not three).
        The pause is the server's ``Retry-After`` when it gave one, else a jittered back-off
        that doubles each time a 429 follows the end of the last pause (429s of requests
        sent before the pause began do not make it longer). Columns on other endpoints
        (other models, other servers, other keys) go on.
        """
        endpoint = self._endpoint_of.get(col, -1)
        loop = asyncio.get_running_loop()
        now = loop.time()
        until = self._paused_until.get(endpoint, 0.0)
        streak = self._rate_limited_streak.get(endpoint, 0)
        if now >= until:
            streak += 1
            self._rate_limited_streak[endpoint] = streak
        limits = self.limits
        pause = backoff_delay(
            streak + 1,
            limits.backoff_base,
            limits.backoff_max,
            failure.retry_after,
            self._rng,
        )
        self._paused_until[endpoint] = max(until, now + pause)

    def _fail(
        self, cell: Cell, failure: Failure, clock: CellClock, attempt: int, too_long: bool
    ) -> None:
        message = failure.message
        if attempt > 1:
            message = f"{message} Gave up after {attempt} attempts."
        if too_long and failure.retry_after is not None:
            message = f"{message} The server asks to wait {failure.retry_after:g} s, longer than the {self.limits.backoff_max:g} s back-off limit."
        text = "".join(self._texts.get(cell.id, ()))
        self._set_phase(cell.id, Phase.FAILED)
        self._failures[failure.kind] = self._failures.get(failure.kind, 0) + 1
        self._emit(
            ev.CellFailed(
                self.id,
                self._now(),
                cell.id,
                failure.kind,
                message,
                text,
                self._freeze(cell, clock, text),
            )
        )
        if self.limits.error_policy is ErrorPolicy.FAIL_FAST and self._stopping is None:
            self._stopping = CANCELLED_FAIL_FAST
            for other in self.cells.ids():
                if other != cell.id and not self._phase_of(other).terminal:
                    self._cancel_one(other, CANCELLED_FAIL_FAST)

    async def _attempt(
        self, cell: Cell, mode: CallMode, clock: CellClock, parts: list[str]
    ) -> Failure | None:
        """Make one request under its timeouts; ``None`` on success, else the failure."""
        # Set in the cell's own task (not reset: its next attempt sets it again).
        REQUESTED_CELL.set(cell.id)
        probe = self._backend.usage_probe()
        limits = self.limits
        configurable: dict[str, Any] = {MAX_ANSWER_CHARS_KEY: limits.max_answer_chars}
        config: dict[str, Any] = {
            "callbacks": probe.callbacks,
            "run_name": f"fanout {cell.id}",
            "tags": ["fanout-studio"],
            "metadata": {"fanout_run": self.id, "fanout_cell": cell.id},
            "configurable": configurable,
        }
        if limits.timeout is not None and mode in (
            CallMode.INVOKE_THREAD,
            CallMode.INVOKE_BLOCKING,
        ):
            configurable[REQUEST_TIMEOUT_KEY] = limits.timeout
        self._cache_and_schema_config(cell, configurable)
        clock.finish_reason = clock.note = None
        clock.cached, clock.original_latency, clock.original_ttft = False, None, None
        scope = asyncio.timeout(None)
        deadline: _Deadline | None = None
        too_large = False
        try:
            async with scope:
                deadline = _Deadline(scope, limits)
                chain = self._chain(cell)
                if mode is CallMode.ASTREAM:
                    too_large = await self._stream(cell, chain, config, clock, parts, deadline)
                else:
                    result = await self._invoke(chain, cell.inputs, config, mode)
                    text = str(result)
                    if len(text) > limits.max_answer_chars:
                        text, too_large = text[: limits.max_answer_chars], True
                    if text:
                        parts.append(text)
                        self._emit(ev.TextChunk(self.id, self._now(), cell.id, text))
        except TimeoutError as exc:
            if scope.expired() and deadline is not None and deadline.fired is not None:
                which = deadline.fired
                seconds = deadline.seconds(which)
                return timeout_failure(
                    cell.model.provider_name, which, seconds, partial=bool(parts)
                )
            return self._classify(exc, cell)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return self._classify(exc, cell)
        finally:
            if deadline is not None:
                deadline.cancel()
            clock.usage_tokens = probe.output_tokens
            # Optional on a probe (a fake may not have it): the prompt tokens reported.
            clock.usage_input_tokens = getattr(probe, "input_tokens", None)
        if too_large:
            return too_large_failure(cell.model.provider_name, limits.max_answer_chars)
        # Optional on a probe: what the server said about the end of its answer.
        clock.finish_reason = getattr(probe, "finish_reason", None)
        clock.note = getattr(probe, "note", None)
        # Optional too: whether the answer came from the response cache, and how it first went.
        clock.cached = bool(getattr(probe, "cached", False))
        clock.original_latency = getattr(probe, "original_latency", None)
        clock.original_ttft = getattr(probe, "original_ttft", None)
        if not parts:
            # A 200 with nothing in it (a stream of only [DONE], an empty message) is not an
            # answer: as a "done" cell it would look like success while showing nothing.
            return empty_failure(cell.model.provider_name)
        return None

    def _cache_and_schema_config(self, cell: Cell, configurable: dict[str, Any]) -> None:
        """Tell the chain whether it may use the response cache, and the run's JSON schema.

        Repeats of a cell (parameter sweeps add ``RunSpec.repeats``) ask for several samples,
        so they bypass the cache unless a seed pins them (:func:`cache_allowed`).
        """
        samples = int(getattr(self.spec, "repeats", 1) or 1)
        if cache_allowed(self.limits.cache, cell.model, samples):
            configurable[USE_CACHE_KEY] = True
        if self.spec.json_schema is not None and self.spec.threads is None:
            configurable[JSON_SCHEMA_KEY] = self.spec.json_schema

    def _check_schema(self, clock: CellClock, text: str) -> None:
        """Hold a structured run's answer against its schema; a failing answer stays done."""
        schema = self.spec.json_schema
        if schema is None or self.spec.threads is not None:
            return
        verdict = check_answer(schema, text)
        clock.schema_valid, clock.schema_error = verdict.valid, verdict.error

    async def _invoke(
        self, chain: ChainLike, inputs: Mapping[str, str], config: dict[str, Any], mode: CallMode
    ) -> Any:
        if mode is CallMode.AINVOKE:
            return await chain.ainvoke(inputs, config)
        if mode is CallMode.INVOKE_BLOCKING:
            return chain.invoke(inputs, config)  # deliberately freezes the loop (demo only)
        return await run_in_daemon_thread(chain.invoke, inputs, config)

    async def _stream(
        self,
        cell: Cell,
        chain: ChainLike,
        config: dict[str, Any],
        clock: CellClock,
        parts: list[str],
        deadline: _Deadline,
    ) -> bool:
        """Stream one answer into ``parts``; ``True`` when it passed the answer size cap.

        The loop runs once per streamed chunk of every cell, so it does only what each chunk
        needs: keep the text, move the idle deadline, and hand one ``TextChunk`` straight to
        the subscribers (:meth:`_emit`'s other duties concern cell ends, never a chunk). The
        first chunk and the cap take their own branches.
        """
        run_id, cell_id, text_chunk = self.id, cell.id, ev.text_chunk
        now, clock_now, t0, keep = deadline.now, self._clock, self._t0, parts.append
        room = self.limits.max_answer_chars
        agen = chain.astream(cell.inputs, config)
        try:
            async for chunk in agen:
                # str(): LangChain hands out str subclasses (TextAccessor) that the cyclic
                # GC tracks; plain str keeps a long run's text out of every collection.
                text = chunk if type(chunk) is str else str(chunk)
                if not text:
                    continue
                if len(text) > room:
                    text = text[:room]
                    if text:
                        self._first_text(cell, clock, deadline)
                        keep(text)
                        self._emit(text_chunk(run_id, clock_now() - t0, cell_id, text))
                    return True
                room -= len(text)
                if deadline.last_text is None:
                    self._first_text(cell, clock, deadline)
                else:
                    deadline.last_text = now()
                keep(text)
                event = text_chunk(run_id, clock_now() - t0, cell_id, text)
                for callback in self._subscribers:
                    try:
                        callback(event)
                    except Exception:
                        log.exception("event subscriber %r failed on TextChunk", callback)
            return False
        finally:
            # Chunks with text: every one went into parts (cleared when the attempt began).
            clock.chunks = len(parts)
            # Close the generator (and with it the HTTP stream) now, not at GC time.
            aclose = getattr(agen, "aclose", None)
            if aclose is not None:
                await aclose()

    def _first_text(self, cell: Cell, clock: CellClock, deadline: _Deadline) -> None:
        """Text came for the first time in this attempt (or passed the cap): the idle timeout
        takes over, and the cell says it is streaming."""
        if deadline.last_text is None:
            deadline.first_text()
        else:
            deadline.last_text = deadline.now()
        if clock.first_token_at is None:
            clock.first_token_at = self._now()
            self._set_phase(cell.id, Phase.STREAMING)
            started = clock.started_at or 0.0
            self._emit(
                ev.FirstToken(
                    self.id, clock.first_token_at, cell.id, clock.first_token_at - started
                )
            )


class _Deadline:
    """The first-token, idle and total timeouts of one attempt, on a single loop timer.

    The idle deadline moves with every chunk of text, but the timer is not moved per chunk
    (under qasync every timer is a Qt timer): the stream only records when text last came,
    and when the timer fires early it is set again for the deadline that now applies. When a
    deadline has passed, the attempt's ``asyncio.timeout`` scope is expired at once, and
    :attr:`fired` names the timeout for the message.
    """

    #: Seconds a timer may fire before its deadline (the loop's clock resolution) and count.
    _SLACK = 1e-3

    def __init__(self, scope: asyncio.Timeout, limits: Limits) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._scope = scope
        self.now = loop.time
        start = loop.time()
        self._limits = limits
        self._first_at = None if limits.ttft_timeout is None else start + limits.ttft_timeout
        self._total_at = None if limits.total_timeout is None else start + limits.total_timeout
        #: Loop time of the latest text (set by the stream), ``None`` before the first.
        self.last_text: float | None = None
        #: The timeout that fired, if one did.
        self.fired: TimeoutName | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._arm()

    def seconds(self, which: TimeoutName) -> float | None:
        """The configured length of the timeout ``which``."""
        limits = self._limits
        if which == "first_token":
            return limits.ttft_timeout
        return limits.idle_timeout if which == "idle" else limits.total_timeout

    def first_text(self) -> None:
        """The first text came: from now on the idle timeout applies, maybe sooner."""
        self.last_text = self._loop.time()
        self.cancel()
        self._arm()

    def cancel(self) -> None:
        """Stop the timer (the attempt ended)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _next(self) -> tuple[float, TimeoutName] | None:
        due: list[tuple[float, TimeoutName]] = []
        if self.last_text is None:
            if self._first_at is not None:
                due.append((self._first_at, "first_token"))
        elif self._limits.idle_timeout is not None:
            due.append((self.last_text + self._limits.idle_timeout, "idle"))
        if self._total_at is not None:
            due.append((self._total_at, "total"))
        return min(due) if due else None

    def _arm(self) -> None:
        nxt = self._next()
        self._timer = None if nxt is None else self._loop.call_at(nxt[0], self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        nxt = self._next()
        if nxt is None:
            return
        when, which = nxt
        now = self._loop.time()
        if when > now + self._SLACK:
            self._timer = self._loop.call_at(when, self._on_timer)
            return
        if self.fired is None and self._scope.when() is None:
            self.fired = which
            self._scope.reschedule(now)


def run_in_daemon_thread(fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
    """Run a blocking call in its own daemon thread and await its result on the loop.

    A daemon thread (not the loop's executor) so that a cancelled or timed-out blocking call
    can never hold the process open at exit, and so that qasync's 10-thread default executor
    is not the hidden limit of the sync strategy.
    """
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Any] = loop.create_future()

    def deliver(ok: bool, value: Any) -> None:
        if fut.done():
            return
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)

    def work() -> None:
        try:
            result = fn(*args)
        except BaseException as exc:
            outcome: tuple[bool, Any] = (False, exc)
        else:
            outcome = (True, result)
        try:
            loop.call_soon_threadsafe(deliver, *outcome)
        except RuntimeError:
            pass  # the loop closed while we worked: nobody is waiting any more

    # The caller's context goes along (the cell being requested, see gui.core.cell_context).
    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(work,), name="fanout-sync-call", daemon=True).start()
    return fut


__all__ = [
    "CANCELLED_BEFORE_START",
    "MAX_ANSWER_CHARS_KEY",
    "REQUEST_TIMEOUT_KEY",
    "CallMode",
    "ErrorKind",
    "Phase",
    "Run",
    "run_in_daemon_thread",
]
