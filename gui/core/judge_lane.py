"""The judge lane of a run: judge calls queued as cells end, under the judge's own limits.

A :class:`~gui.core.runner.Run` whose spec has a judge owns one :class:`JudgeLane`. As soon as
a cell ends done, its judge call is queued (pairwise: once every cell of its input row has
ended, the pairs of done answers are queued, each shown in a random order that is recorded),
while the other cells still stream. Each call waits for the judge's own limiter and rate
limiter (not the run's: judging must not take slots from answers), then goes out with the
run's timeout and retries, its error explained by the backend as a cell's would be. Every
call ends with exactly one :class:`~gui.core.events.JudgeEnded`, which carries the call's
tokens and cost when a reply came (the usage the provider reported, else an estimate
marked as one; priced with the run's price table, :attr:`JudgeLane.cost` adds them up); the run waits for them all
before it ends, and cancelling the run cancels them (no task is left behind).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import logging
import random
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gui.core import events as ev
from gui.core.costs import CallCost, CostTotals
from gui.core.errors import Failure, generic_failure, one_line, timeout_failure
from gui.core.estimate import approx_tokens, messages_tokens
from gui.core.judging import (
    PAIRWISE_SCHEMA,
    SCORE_SCHEMA,
    JudgeMode,
    JudgeSettings,
    JudgeVerdict,
    PairwiseResult,
    pairwise_from_reply,
    pairwise_messages,
    prompt_text,
    score_messages,
    verdict_from_reply,
)
from gui.core.keys import redact
from gui.core.limits import RateLimiter, ResizableLimiter, backoff_delay
from gui.core.ports import Backend, JudgeChainLike
from gui.core.slack import SlackGate
from gui.core.spec import CellId, CellList, Limits, RunSpec

log = logging.getLogger(__name__)

#: Why a judge call ended without a verdict when its run was cancelled.
JUDGE_CANCELLED = "Judging cancelled with the run."
#: Judge calls yield to the answers (:class:`~gui.core.slack.SlackGate`) only until this
#: share of the run's cells has ended. The last fifth streams on a loop far less busy than
#: the answers before it; calls held until the very last answer all started after it, one
#: after another, and the last of them ended a whole judge latency after the last start,
#: later than the last answer's own verdict (the ``judge`` bench, docs/benchmarks.md).
YIELD_UNTIL_ENDED = 0.8


@dataclass(slots=True)
class LaneCounts:
    """The judge lane's gauges (the Concurrency dock's second lane).

    Attributes:
        queued: Calls waiting for the judge's limiter or rate limiter.
        in_flight: Calls whose request is out.
        done: Calls that ended with a verdict.
        failed: Calls that ended without one (failed, unreadable, cancelled).
        peak_in_flight: Most calls out at once so far.
    """

    queued: int = 0
    in_flight: int = 0
    done: int = 0
    failed: int = 0
    peak_in_flight: int = 0


def pair_key(first_cell: str, second_cell: str) -> str:
    """The key of a pairwise call (see :class:`gui.core.events.JudgeEvent`)."""
    return f"{first_cell}~{second_cell}"


class JudgeLane:
    """Queues and runs a run's judge calls; owned by :class:`gui.core.runner.Run`.

    Args:
        run_id: The run's id (events carry it).
        spec: The run's spec; ``spec.judge`` must be set.
        cells: The run's cells (to find a cell's row and model).
        backend: Builds the judge model and explains its errors.
        emit: The run's event emitter.
        now: Seconds since the run started.
        limits: The run's limits now in force (timeout, retries, back-off).
        rng: Draws the pairwise positions (seed it for reproducible orders).
    """

    def __init__(
        self,
        run_id: str,
        spec: RunSpec,
        cells: CellList,
        backend: Backend,
        emit: Callable[[ev.Event], None],
        now: Callable[[], float],
        limits: Callable[[], Limits],
        rng: random.Random,
    ) -> None:
        assert spec.judge is not None
        self.settings: JudgeSettings = spec.judge
        self._run_id = run_id
        self._spec = spec
        self._cells = cells
        self._backend = backend
        self._emit = emit
        self._now = now
        self._limits = limits
        self._rng = rng
        self._limiter = ResizableLimiter(self.settings.max_concurrency)
        self._rate = RateLimiter(self.settings.requests_per_second)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        #: Cells that have ended (done or not): while many have not, answers may still be
        #: streaming, and a judge call waits for the loop to keep up before it starts.
        self._ended_cells: set[str] = set()
        # Through a weak reference: a gate holding the lane's bound method made the lane (and
        # the run's cells it holds) wait for the collector's next full pass to be freed.
        pending = weakref.WeakMethod(self._answers_pending)
        self._slack = SlackGate(
            lambda: bool((ask := pending()) is not None and ask()),
            name=f"fanout-judge-slack:{run_id}",
        )
        #: Calls whose JudgeEnded has not been emitted yet.
        self._open: set[str] = set()
        self._chain: asyncio.Future[JudgeChainLike] | None = None
        self._stopping = False
        self.counts = LaneCounts()
        #: Pairwise: per row, by column, the cell that stands for the column (its first
        #: sample that ended done): its sample, id and answer.
        self._answers: dict[int, dict[int, tuple[int, str, str]]] = {}
        #: Pairwise: per row, how many of its cells have ended.
        self._ended: dict[int, int] = {}
        self.verdicts: dict[str, JudgeVerdict] = {}
        self.pairs: list[PairwiseResult] = []
        #: The judge's price (the run's table), ``None`` when its model has none.
        self._price = spec.price_table.price_for(self.settings.model)
        #: Tokens and cost of the calls that got a reply so far (a live object: read it).
        self.cost = CostTotals()

    @property
    def judge_model(self) -> str:
        """The judge's display name."""
        return self.settings.model.display_name

    @property
    def limit(self) -> int:
        """The judge's max concurrency."""
        return self._limiter.limit

    @property
    def held(self) -> int:
        """Judge calls so far that came while answers were still pending, and so waited for
        a look at the loop (and, while it stayed behind the answers, for it to catch up)."""
        return self._slack.held

    @property
    def pending(self) -> int:
        """Judge calls not ended yet."""
        return sum(1 for t in self._tasks.values() if not t.done())

    def set_limit(self, limit: int) -> None:
        """Change the judge's max concurrency now."""
        self._limiter.set_limit(limit)

    # ------------------------------------------------------------------ the run's hooks

    def cell_ended(self, cell_id: str, text: str | None) -> None:
        """A cell ended: ``text`` is its answer when it ended done, else ``None``."""
        self._ended_cells.add(cell_id)
        if self._stopping:
            return
        cell = self._cells.get(cell_id)
        if cell is None:
            return
        if self.settings.mode is JudgeMode.SINGLE:
            if text:
                messages = score_messages(
                    self.settings.rubric, prompt_text(self._spec.messages(cell_id)), text
                )
                self._spawn(cell_id, messages, self._single_result(cell_id))
            return
        answers = self._answers.setdefault(cell.row, {})
        kept = answers.get(cell.col)
        if text and (kept is None or kept[0] > cell.sample):
            # Pairs compare the columns; a repeated cell's first sample that ended done
            # stands for it (a failed first sample does not leave the column out).
            answers[cell.col] = (cell.sample, cell_id, text)
        self._ended[cell.row] = self._ended.get(cell.row, 0) + 1
        if self._ended[cell.row] == len(self._spec.columns) * max(1, self._spec.repeats):
            self._queue_pairs(cell.row, answers)

    def cancel(self) -> None:
        """Cancel every judge call not ended; queue no more."""
        self._stopping = True
        for task in self._tasks.values():
            if not task.done():
                task.cancel()
        self._slack.close()

    async def drain(self) -> None:
        """Wait until every judge call has ended (new ones may be queued meanwhile)."""
        while True:
            pending = [t for t in self._tasks.values() if not t.done()]
            if not pending:
                return
            await asyncio.wait(pending)

    # ------------------------------------------------------------------ internals

    def _answers_pending(self) -> bool:
        """Whether judge calls still yield to the answers: while more than the last
        :data:`YIELD_UNTIL_ENDED` share of the run's cells has not ended."""
        return len(self._ended_cells) < len(self._cells) * YIELD_UNTIL_ENDED

    def _queue_pairs(self, row: int, answers: dict[int, tuple[int, str, str]]) -> None:
        input_text = prompt_text(self._spec.messages(CellId.text(row, 0)))
        for a, b in itertools.combinations(sorted(answers), 2):
            # Random positions, recorded in the result: judges favour one position.
            if self._rng.random() < 0.5:
                a, b = b, a
            (_, first, first_text), (_, second, second_text) = answers[a], answers[b]
            messages = pairwise_messages(self.settings.rubric, input_text, first_text, second_text)
            self._spawn(pair_key(first, second), messages, self._pair_result(row, first, second))

    def _single_result(self, cell_id: str) -> Callable[[str, str | None], ev.JudgeEnded]:
        def result(raw: str, error: str | None) -> ev.JudgeEnded:
            if error is None:
                verdict = verdict_from_reply(raw, self.judge_model)
            else:
                verdict = JudgeVerdict(None, "", self.judge_model, error, raw)
            self.verdicts[cell_id] = verdict
            return ev.JudgeEnded(self._run_id, self._now(), cell_id, verdict=verdict)

        return result

    def _pair_result(
        self, row: int, first: str, second: str
    ) -> Callable[[str, str | None], ev.JudgeEnded]:
        def result(raw: str, error: str | None) -> ev.JudgeEnded:
            if error is None:
                pair = pairwise_from_reply(raw, row, first, second, self.judge_model)
            else:
                pair = PairwiseResult(row, first, second, None, self.judge_model, "", raw, error)
            self.pairs.append(pair)
            return ev.JudgeEnded(self._run_id, self._now(), pair_key(first, second), pair=pair)

        return result

    def _spawn(
        self,
        key: str,
        messages: Sequence[tuple[str, str]],
        result: Callable[[str, str | None], ev.JudgeEnded],
    ) -> None:
        if key in self._tasks:
            return
        self.counts.queued += 1
        task = asyncio.get_running_loop().create_task(
            self._call(key, messages, result), name=f"fanout-judge:{self._run_id}:{key}"
        )
        self._open.add(key)
        task.add_done_callback(functools.partial(self._on_task_done, key))
        self._tasks[key] = task
        # After the task exists: a subscriber that cancels the run now cancels this call too.
        self._emit(ev.JudgeQueued(self._run_id, self._now(), key))

    def _end(self, event: ev.JudgeEnded) -> None:
        """Emit a call's one JudgeEnded (its cost counted first)."""
        self._open.discard(event.key)
        if event.cost is not None:
            self.cost.add_call(event.cost)
        self._emit(event)

    def _cost_of(self, messages: Sequence[tuple[str, str]], raw: str, probe: Any) -> CallCost:
        """A call's tokens (reported, else estimated as the cells' are) and cost."""
        reported_in = getattr(probe, "input_tokens", None)
        reported_out = getattr(probe, "output_tokens", None)
        estimated = reported_in is None or reported_out is None
        input_tokens = (
            int(reported_in)
            if reported_in is not None
            else messages_tokens(messages, approx_tokens)
        )
        output_tokens = int(reported_out) if reported_out is not None else approx_tokens(raw)
        price = self._price
        cost = None if price is None else price.cost(input_tokens, output_tokens)
        return CallCost(input_tokens, output_tokens, estimated, cost)

    def _on_task_done(self, key: str, _task: asyncio.Task[None]) -> None:
        # A task cancelled before its first step never runs a line of its coroutine (the
        # cancel lands before the ``try``): its call still ends, cancelled, and is counted.
        if key in self._open:
            self.counts.queued -= 1
            self.counts.failed += 1
            self._end(ev.JudgeEnded(self._run_id, self._now(), key, cancelled=True))

    async def _judge_chain(self) -> JudgeChainLike:
        """The judge model, built once in a worker thread (building may import a provider)."""
        if self._chain is None:
            schema = SCORE_SCHEMA if self.settings.mode is JudgeMode.SINGLE else PAIRWISE_SCHEMA
            self._chain = asyncio.ensure_future(
                asyncio.to_thread(self._backend.judge_chain, self.settings.model, schema)
            )
        return await asyncio.shield(self._chain)

    def _classify(self, exc: BaseException) -> Failure:
        profile = self.settings.model
        try:
            failure = self._backend.classify(exc, profile)
        except Exception:
            log.exception("judge error classifier failed")
            failure = None
        return failure or generic_failure(exc, profile.provider_name)

    async def _call(
        self,
        key: str,
        messages: Sequence[tuple[str, str]],
        result: Callable[[str, str | None], ev.JudgeEnded],
    ) -> None:
        """One judge call to exactly one JudgeEnded. Never raises."""
        counts = self.counts
        queued, running = True, False
        try:
            # Lower priority than the answers: while they stream and the loop falls behind
            # them, the call (and the window's work for its events) waits its turn rather
            # than pushing their last tokens later. On a loop that keeps up it goes at once.
            await self._slack.wait()
            attempt = 0
            while True:
                attempt += 1
                await self._limiter.acquire()
                try:
                    await self._rate.acquire()
                    if queued:
                        counts.queued -= 1
                        queued = False
                    counts.in_flight += 1
                    running = True
                    counts.peak_in_flight = max(counts.peak_in_flight, counts.in_flight)
                    self._emit(ev.JudgeStarted(self._run_id, self._now(), key, attempt))
                    raw, failure, cost = await self._attempt(key, messages)
                finally:
                    if running:
                        counts.in_flight -= 1
                        running = False
                    self._limiter.release()
                limits = self._limits()
                if failure is None:
                    end = dataclasses.replace(result(raw, None), cost=cost)
                elif failure.retryable and attempt <= limits.retries:
                    delay = backoff_delay(
                        attempt + 1,
                        limits.backoff_base,
                        limits.backoff_max,
                        failure.retry_after,
                        self._rng,
                    )
                    await asyncio.sleep(delay)
                    continue
                else:
                    message = redact(one_line(failure.message))
                    if attempt > 1:
                        message = f"{message} Gave up after {attempt} attempts."
                    end = result(raw, f"Judge call failed: {message}")
                ok = (end.verdict is not None and end.verdict.ok) or (
                    end.pair is not None and end.pair.error is None
                )
                if ok:
                    counts.done += 1
                else:
                    counts.failed += 1
                self._end(end)
                return
        except asyncio.CancelledError:
            if queued:
                counts.queued -= 1
            counts.failed += 1
            self._end(ev.JudgeEnded(self._run_id, self._now(), key, cancelled=True))
        except Exception as exc:  # a bug of ours: end the call visibly all the same
            log.exception("judge call %s crashed", key)
            if queued:
                counts.queued -= 1
            counts.failed += 1
            self._end(result("", f"Judge call failed: {type(exc).__name__}: {exc}"))

    async def _attempt(
        self, key: str, messages: Sequence[tuple[str, str]]
    ) -> tuple[str, Failure | None, CallCost | None]:
        """One request under the run's timeout: the reply and its cost, or the failure."""
        limits = self._limits()
        probe = self._backend.usage_probe()
        config: dict[str, Any] = {
            "run_name": f"fanout judge {key}",
            "tags": ["fanout-studio", "fanout-judge"],
            "metadata": {"fanout_run": self._run_id, "fanout_judge": key},
            "callbacks": probe.callbacks,
        }
        try:
            async with asyncio.timeout(limits.timeout):
                chain = await self._judge_chain()
                reply = await chain.ainvoke(messages, config)
        except TimeoutError:
            return (
                "",
                timeout_failure(self.settings.model.provider_name, "first_token", limits.timeout),
                None,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return "", self._classify(exc), None
        text = str(reply)
        return text, None, self._cost_of(messages, text, probe)
