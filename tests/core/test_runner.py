"""The engine, story by story, on a scripted fake backend (no network, no model, no Qt)."""

from __future__ import annotations

import asyncio
import gc
import itertools
import weakref

import pytest

from gui.core import events as ev
from gui.core import runner as runner_module
from gui.core import strategies
from gui.core.errors import ErrorKind, SpecError
from gui.core.runner import (
    ANNOUNCE_SLICE_S,
    CANCEL_SLICE,
    CANCELLED_BEFORE_START,
    CANCELLED_BY_USER,
    CANCELLED_FAIL_FAST,
    Phase,
    Run,
)
from gui.core.spec import ErrorPolicy, Limits, ModelProfile, Strategy, make_spec
from tests.support.waiting import until

from .fakes import FakeBackend, FakeHTTPError, Recorder, Script

ALL = list(Strategy)
SIM = (ModelProfile(),)


def run_of(
    backend: FakeBackend, topics: list[str], strategy: Strategy = Strategy.STREAM, **limits
) -> tuple[Run, Recorder]:
    spec = make_spec("Tell me about {topic}", topics, SIM, strategy, Limits().changed(**limits))
    run = Run(spec, backend)
    rec = Recorder()
    run.subscribe(rec)
    return run, rec


def assert_accounted(run: Run, rec: Recorder) -> None:
    """Every cell has exactly one terminal event, last, and the summary adds up."""
    terminal = {"CellFinished", "CellFailed", "CellCancelled"}
    for cell in run.cells:
        names = rec.of(cell.id)
        assert names[0] == "CellQueued"
        assert sum(n in terminal for n in names) == 1, names
        assert names[-1] in terminal, names
    s = run.summary
    assert s is not None and s.done + s.failed + s.cancelled == s.total == len(run.cells)
    assert rec.events[-1].__class__.__name__ == "RunFinished"
    assert not [
        t for t in asyncio.all_tasks() if t.get_name().startswith("fanout-") and not t.done()
    ]


@pytest.mark.parametrize("strategy", ALL)
async def test_no_strategy_exceeds_the_limit(strategy: Strategy) -> None:
    backend = FakeBackend(Script(latency=0.04, chunks=3))
    run, rec = run_of(backend, [f"t{i}" for i in range(10)], strategy, max_concurrency=3)
    summary = await run.wait()
    assert summary.done == 10
    expected = 3 if strategy.concurrent else 1
    assert backend.peak == expected  # counted inside the fake: requests really in flight
    assert run.peak_in_flight == expected
    assert_accounted(run, rec)


async def test_raising_the_limit_mid_run_admits_waiting_cells_at_once() -> None:
    backend = FakeBackend(Script(latency=60, chunks=2))
    run, _rec = run_of(backend, [f"t{i}" for i in range(6)], max_concurrency=1)
    run.start()
    await until(lambda: backend.in_flight == 1)
    assert run.count(Phase.WAITING) == 5
    run.set_limits(max_concurrency=6)
    await until(lambda: backend.in_flight == 6)
    assert run.count(Phase.DONE) == 0  # all admitted without waiting for the first to end
    run.cancel()
    summary = await run.wait()
    assert summary.cancelled == 6


async def test_lowering_the_limit_never_cancels_running_cells() -> None:
    backend = FakeBackend(Script(latency=1.0, chunks=2))
    run, _ = run_of(backend, [f"t{i}" for i in range(6)], max_concurrency=4)
    run.start()
    await until(lambda: backend.in_flight == 4)
    run.set_limits(max_concurrency=1)
    assert backend.in_flight == 4  # nobody was cancelled to make room
    summary = await run.wait()
    assert summary.done == 6
    # the 2 remaining cells ran one at a time after the 4 drained
    starts = sorted(t for t, _ in backend.starts)
    assert starts[5] - starts[4] >= 0.95


async def test_rate_limiter_spaces_starts() -> None:
    backend = FakeBackend(Script(latency=0.01, chunks=1))
    run, _ = run_of(
        backend, [f"t{i}" for i in range(5)], max_concurrency=10, requests_per_second=10
    )
    await run.wait()
    starts = sorted(t for t, _ in backend.starts)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 0.085, gaps
    assert starts[-1] - starts[0] >= 0.36  # 5 starts at 10 a second span 0.4 s at least


async def test_retry_honours_retry_after_then_succeeds() -> None:
    backend = FakeBackend(flaky=Script(errors=[FakeHTTPError(429, retry_after=0.3)], latency=0.02))
    run, rec = run_of(backend, ["flaky"], retries=2, backoff_base=0.01)
    await run.wait()
    (retry,) = rec.named("CellRetrying")
    assert retry.delay == pytest.approx(0.3) and retry.attempt == 2 and retry.max_attempts == 3
    assert retry.kind is ErrorKind.RATE_LIMITED
    first, second = (t for t, _ in backend.starts)
    assert second - first >= 0.29
    done = rec.last("r0m0")
    assert type(done).__name__ == "CellFinished" and done.metrics.retries == 1
    assert rec.of("r0m0") == [
        "CellQueued",
        "CellStarted",
        "CellRetrying",
        "CellStarted",
        "FirstToken",
        *["TextChunk"] * 5,
        "CellFinished",
    ]


async def test_retries_give_up_with_the_last_error_and_attempt_count() -> None:
    backend = FakeBackend(down=Script(errors=[FakeHTTPError(503)] * 5))
    run, rec = run_of(backend, ["down"], retries=2, backoff_base=0.01)
    await run.wait()
    failed = rec.last("r0m0")
    assert type(failed).__name__ == "CellFailed"
    assert failed.kind is ErrorKind.SERVER_ERROR
    assert "after 3 attempts" in failed.message
    assert backend.attempts["down"] == 3


async def test_authentication_errors_are_not_retried() -> None:
    backend = FakeBackend(bad=Script(errors=[FakeHTTPError(401)]))
    run, rec = run_of(backend, ["bad"], retries=3)
    await run.wait()
    assert backend.attempts["bad"] == 1
    assert rec.last("r0m0").kind is ErrorKind.AUTHENTICATION


async def test_a_retry_after_longer_than_the_backoff_cap_fails_with_the_reason() -> None:
    backend = FakeBackend(slow=Script(errors=[FakeHTTPError(429, retry_after=3600)]))
    run, rec = run_of(backend, ["slow"], retries=3, backoff_max=30)
    await run.wait()
    failed = rec.last("r0m0")
    assert failed.kind is ErrorKind.RATE_LIMITED and "3600 s" in failed.message
    assert backend.attempts["slow"] == 1


async def test_isolate_keeps_siblings_running() -> None:
    backend = FakeBackend(Script(latency=0.2), bad=Script(errors=[FakeHTTPError(401)]))
    run, rec = run_of(backend, ["a", "bad", "c"], error_policy=ErrorPolicy.ISOLATE)
    summary = await run.wait()
    assert (summary.done, summary.failed, summary.cancelled) == (2, 1, 0)
    assert_accounted(run, rec)


@pytest.mark.parametrize(
    "strategy", [Strategy.STREAM, Strategy.GATHER, Strategy.ABATCH, Strategy.SEQUENTIAL]
)
async def test_fail_fast_cancels_the_rest(strategy: Strategy) -> None:
    backend = FakeBackend(Script(latency=60), bad=Script(errors=[FakeHTTPError(401)]))
    run, rec = run_of(
        backend,
        ["bad", "b", "c", "d"],
        strategy,
        error_policy=ErrorPolicy.FAIL_FAST,
        max_concurrency=2,
    )
    summary = await run.wait()
    assert (summary.failed, summary.cancelled) == (1, 3)  # cancelled: not left to finish
    for cell in run.cells[1:]:
        event = rec.last(cell.id)
        assert type(event).__name__ == "CellCancelled" and event.reason == CANCELLED_FAIL_FAST
    assert_accounted(run, rec)


async def test_cancelling_one_cell_keeps_partial_text_and_siblings_finish() -> None:
    gate = asyncio.Event()
    backend = FakeBackend(
        Script(latency=0.2, chunks=4), stuck=Script(chunks=6, latency=0.06, pause=gate)
    )
    run, rec = run_of(backend, ["a", "stuck", "c"])
    run.start()
    while run.partial_text("r1m0") == "":
        await asyncio.sleep(0.01)
    run.cancel_cell("r1m0")
    summary = await run.wait()
    cancelled = rec.last("r1m0")
    assert type(cancelled).__name__ == "CellCancelled"
    assert cancelled.partial_text == "w0 " and cancelled.reason == CANCELLED_BY_USER
    assert (summary.done, summary.cancelled) == (2, 1)
    assert backend.closed == 3  # the stream generator was closed, not left to the GC
    assert_accounted(run, rec)


async def test_cancelling_the_whole_run_ends_every_cell_promptly() -> None:
    backend = FakeBackend(Script(latency=60, chunks=200))
    run, rec = run_of(backend, [f"t{i}" for i in range(12)], max_concurrency=4)
    run.start()
    await until(lambda: sum(bool(run.partial_text(c.id)) for c in run.cells) == 4)
    run.cancel()
    summary = await asyncio.wait_for(run.wait(), 60)  # not the 60 s the answers would take
    assert summary.cancelled == 12 and summary.cancelled_by_user
    assert sum(bool(e.partial_text) for e in rec.named("CellCancelled")) == 4
    assert_accounted(run, rec)


async def test_cancel_before_start_and_sequential_cancel() -> None:
    backend = FakeBackend(Script(latency=0.2))
    run, rec = run_of(backend, ["a", "b", "c"], Strategy.SEQUENTIAL)
    run.cancel_cell("r2m0")
    run.start()
    await asyncio.sleep(0.05)
    run.cancel()
    summary = await run.wait()
    assert summary.cancelled == 3
    assert backend.attempts == {"a": 1}
    assert_accounted(run, rec)


@pytest.mark.parametrize("strategy", [Strategy.STREAM, Strategy.GATHER, Strategy.SYNC])
async def test_total_timeout_covers_the_whole_request(strategy: Strategy) -> None:
    # The answer would take 10 s (a sync one keeps its worker thread that long, then ends).
    backend = FakeBackend(Script(latency=10.0, chunks=100))
    run, rec = run_of(backend, ["x"], strategy, total_timeout=0.3, retries=0)
    await asyncio.wait_for(run.wait(), 60)
    failed = rec.last("r0m0")
    assert failed.kind is ErrorKind.TIMEOUT, failed
    assert "longer than 0.3 s (total timeout)" in failed.message
    assert "Raise the total timeout" in failed.message
    if strategy is Strategy.STREAM:
        assert failed.partial_text  # text that had arrived is kept


async def test_a_long_steady_answer_outlives_the_first_token_and_idle_timeouts() -> None:
    # A slow model writing a long answer: ten chunks 0.3 s apart, 3 s in all, far beyond
    # either timeout, and never a gap near them. The old single timeout cut it.
    backend = FakeBackend(Script(latency=3.0, chunks=10))
    run, rec = run_of(backend, ["x"], ttft_timeout=1.5, idle_timeout=1.5, retries=0)
    await asyncio.wait_for(run.wait(), 60)
    done = rec.last("r0m0")
    assert isinstance(done, ev.CellFinished), done
    assert done.text == "".join(f"w{i} " for i in range(10))


async def test_idle_timeout_names_itself_and_keeps_the_partial_text() -> None:
    never = asyncio.Event()  # the stream stops after its first chunk
    backend = FakeBackend(Script(latency=0.05, chunks=5, pause=never))
    run, rec = run_of(backend, ["x"], ttft_timeout=60, idle_timeout=0.3, retries=0)
    await asyncio.wait_for(run.wait(), 60)
    failed = rec.last("r0m0")
    assert failed.kind is ErrorKind.TIMEOUT, failed
    assert "no text for 0.3 s (idle timeout)" in failed.message
    assert "Raise the idle timeout" in failed.message
    assert failed.partial_text == "w0 "


@pytest.mark.parametrize("strategy", [Strategy.STREAM, Strategy.GATHER])
async def test_first_token_timeout_names_itself(strategy: Strategy) -> None:
    backend = FakeBackend(Script(latency=60.0, chunks=1))
    run, rec = run_of(backend, ["x"], strategy, ttft_timeout=0.3, idle_timeout=60, retries=0)
    await asyncio.wait_for(run.wait(), 60)
    failed = rec.last("r0m0")
    assert failed.kind is ErrorKind.TIMEOUT, failed
    assert "no answer within 0.3 s (first-token timeout)" in failed.message
    assert "Raise the first-token timeout" in failed.message
    assert failed.partial_text == ""


async def test_an_answer_over_the_size_cap_is_cut_there_and_fails_too_large() -> None:
    backend = FakeBackend(Script(latency=0.05, chunks=2000))  # "w0 w1 ... w1999 ": 8,890 chars
    run, rec = run_of(backend, ["x"], max_answer_chars=1000, retries=2)
    await asyncio.wait_for(run.wait(), 60)
    failed = rec.last("r0m0")
    assert failed.kind is ErrorKind.TOO_LARGE, failed
    assert "answer too large" in failed.message and "1,000" in failed.message
    assert failed.partial_text == "".join(f"w{i} " for i in range(2000))[:1000]
    assert backend.attempts == {"x": 1}  # not retried: the same answer would come again
    chunks = [e for e in rec.events if isinstance(e, ev.TextChunk)]
    assert sum(len(c.text) for c in chunks) == 1000


async def test_dropped_stream_keeps_partial_text_and_is_not_retried() -> None:
    backend = FakeBackend(drop=Script(chunks=6, fail_after_chunks=ConnectionResetError("reset")))
    run, rec = run_of(backend, ["drop"], retries=3)
    await run.wait()
    failed = rec.last("r0m0")
    assert failed.kind is ErrorKind.CONNECTION and failed.partial_text.startswith("w0 w1 w2 w3")
    assert backend.attempts["drop"] == 1  # retrying would repeat text the user already saw


async def test_metrics_of_a_streamed_cell() -> None:
    backend = FakeBackend(Script(latency=0.2, chunks=10))
    run, rec = run_of(backend, ["a"])
    await run.wait()
    m = rec.last("r0m0").metrics
    # Sleeps never end early: the figures are at least what the fake paced (upper bounds are
    # margins for a machine running at a quarter of its speed).
    assert m.ttft is not None and 0.019 <= m.ttft < 0.02 + 1.0
    assert 0.19 <= m.latency < 0.2 + 1.0
    assert m.output_tokens == 10 and m.tokens_estimated
    assert m.tokens_per_second is not None and 0 < m.tokens_per_second <= 10 / 0.18 * 1.05
    assert m.retries == 0


async def test_bad_live_limit_is_refused_with_the_range() -> None:
    run, _ = run_of(FakeBackend(), ["a"])
    with pytest.raises(SpecError, match="1 to 1000"):
        run.set_limits(max_concurrency=0)
    assert run.limits.max_concurrency == 8


async def test_cancelling_the_driver_still_accounts_for_every_cell() -> None:
    backend = FakeBackend(Script(latency=2.0))
    run, rec = run_of(backend, [f"t{i}" for i in range(5)])
    task = run.start()
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert_accounted(run, rec)


async def test_a_failing_subscriber_does_not_break_the_run() -> None:
    run, _rec = run_of(FakeBackend(), ["a", "b"])

    def broken(_event: object) -> None:
        raise RuntimeError("subscriber bug")

    run.subscribe(broken)
    summary = await run.wait()
    assert summary.done == 2


@pytest.mark.parametrize(
    ("strategy", "cloud_peak"),
    # abatch admits inputs in order through LangChain's own semaphore (8 here), so the local
    # model's queued cells hold four of its slots: the cloud model gets the other four.
    [(Strategy.STREAM, 6), (Strategy.GATHER, 6), (Strategy.ABATCH, 4)],
)
async def test_a_model_with_one_slot_runs_one_at_a_time_while_the_other_runs_wide(
    strategy: Strategy, cloud_peak: int
) -> None:
    """A local server with one slot next to a cloud model: each gets its own limit."""
    backend = FakeBackend(Script(latency=0.06, chunks=2))
    local = ModelProfile(model="local", max_concurrency=1)
    cloud = ModelProfile(model="cloud")
    spec = make_spec(
        "Tell me about {topic}",
        [f"t{i}" for i in range(6)],
        (local, cloud),
        strategy,
        Limits(max_concurrency=8),
    )
    run = Run(spec, backend)
    rec = Recorder()
    run.subscribe(rec)
    summary = await run.wait()
    assert summary.done == 12
    assert backend.peak_by_model["local"] == 1
    assert backend.peak_by_model["cloud"] == cloud_peak  # not held back by the local queue
    assert_accounted(run, rec)
    # The local model's six answers came one after another: about 6 x 0.06 s.
    local_ends = sorted(rec.last(c.id).metrics.ended_at for c in run.cells if c.col == 0)
    assert local_ends[-1] >= 5 * 0.06


def test_a_model_limit_outside_the_accepted_range_is_refused_with_the_range() -> None:
    for bad in (0, -1, 10_000):
        with pytest.raises(SpecError, match=r"max concurrency .* use 1 to 1000"):
            make_spec("x {topic}", ["a"], (ModelProfile(model="m", max_concurrency=bad),))


# ------------------------------------------------------------------ a big run's start


def first_and_terminal(rec: Recorder) -> tuple[dict[str, str], dict[str, int]]:
    """Per cell: the name of its first event, and how many terminal events it had."""
    first: dict[str, str] = {}
    ends: dict[str, int] = {}
    for event in rec.events:
        if isinstance(event, ev.CellEvent):
            first.setdefault(event.cell_id, type(event).__name__)
            if isinstance(event, ev.TERMINAL):
                ends[event.cell_id] = ends.get(event.cell_id, 0) + 1
    return first, ends


async def test_a_big_run_queues_its_cells_a_slice_at_a_time_each_before_it_starts() -> None:
    """20,000 cells: the driver gives the loop back while it announces them (the window
    paints meanwhile), and no cell starts before its own CellQueued."""
    backend = FakeBackend(Script(latency=0.01, chunks=1))
    run, rec = run_of(backend, [f"topic {i}" for i in range(10_000)], max_concurrency=4)
    run.start()
    queued_after_each_yield: list[int] = []
    while not queued_after_each_yield or queued_after_each_yield[-1] < 10_000:
        await asyncio.sleep(0)
        queued_after_each_yield.append(len(rec.named("CellQueued")))
    assert 0 < queued_after_each_yield[0] < 10_000  # the loop ran between slices
    assert len(queued_after_each_yield) > 2
    await until(lambda: backend.peak == 4)
    run.cancel()
    summary = await run.wait()
    first, ends = first_and_terminal(rec)
    assert len(first) == 10_000 and set(first.values()) == {"CellQueued"}
    assert len(ends) == 10_000 and set(ends.values()) == {1}
    assert summary.total == 10_000 and summary.cancelled + summary.done == 10_000


async def test_slow_subscribers_make_the_queueing_slices_shorter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A slice of CellQueued events stops after ANNOUNCE_SLICE_S of the loop's clock, not
    only after ANNOUNCE_SLICE events: each event costs what every subscriber does with it,
    and a window's subscribers made 500 of them a 10-20 ms step (docs/performance-notes.md).
    The clock here moves 1 ms per event: a slice holds a few events, and every cell is
    still queued once, in order, before any starts."""
    ticks = itertools.count()
    monkeypatch.setattr(runner_module, "_loop_clock", lambda: next(ticks) / 1000)
    backend = FakeBackend(Script(latency=0.01, chunks=1))
    run, rec = run_of(backend, [f"topic {i}" for i in range(30)])
    run.subscribe(lambda event: next(ticks) if isinstance(event, ev.CellQueued) else None)
    run.start()
    queued_after_each_yield: list[int] = []
    while not queued_after_each_yield or queued_after_each_yield[-1] < 30:
        await asyncio.sleep(0)
        queued_after_each_yield.append(len(rec.named("CellQueued")))
    steps = [b - a for a, b in itertools.pairwise([0, *queued_after_each_yield])]
    per_slice = round(ANNOUNCE_SLICE_S * 1000)
    assert max(steps) <= per_slice + 1 and len([s for s in steps if s]) >= 30 // (per_slice + 1)
    summary = await run.wait()
    first, ends = first_and_terminal(rec)
    assert list(first) == [c.id for c in run.cells] and set(first.values()) == {"CellQueued"}
    assert summary.done == 30 and set(ends.values()) == {1}


async def test_a_cancel_while_the_cells_are_being_queued_ends_each_once_after_its_queue() -> None:
    backend = FakeBackend(Script(latency=0.01, chunks=1))
    run, rec = run_of(backend, [f"topic {i}" for i in range(2_000)])
    run.start()
    await asyncio.sleep(0)  # the first slice is queued, the rest not yet
    assert 0 < len(rec.named("CellQueued")) < 2_000
    run.cancel()
    summary = await run.wait()
    first, ends = first_and_terminal(rec)
    assert set(first.values()) == {"CellQueued"} and set(ends.values()) == {1}
    assert summary.cancelled == 2_000 and backend.peak == 0
    assert {e.reason for e in rec.named("CellCancelled")} == {CANCELLED_BEFORE_START}


async def test_cancelling_a_big_run_stops_its_requests_at_once_and_ends_the_rest_in_slices() -> (
    None
):
    """20,000 waiting cells are not cancelled in one step (that froze the window): the
    requests out stop at once, the rest end a slice per loop iteration, and no cell starts a
    request once the run is stopping, not even in a slot a cancelled cell freed."""
    backend = FakeBackend(Script(latency=30, chunks=1))  # answers that would take 30 s
    run, rec = run_of(backend, [f"topic {i}" for i in range(10_000)], max_concurrency=4)
    run.start()
    await until(lambda: run.in_flight == 4 and run.count(Phase.WAITING) > 5_000)
    started = len(rec.named("CellStarted"))
    run.cancel()
    await asyncio.sleep(0)
    assert len(rec.named("CellCancelled")) < 10_000  # the loop runs between slices
    summary = await asyncio.wait_for(run.wait(), 60)  # not the 30 s the answers would take
    assert len(rec.named("CellStarted")) == started
    assert summary.cancelled == 10_000 and summary.cancelled_by_user
    first, ends = first_and_terminal(rec)
    assert set(first.values()) == {"CellQueued"} and len(ends) == 10_000
    assert set(ends.values()) == {1}
    reasons = {e.reason for e in rec.named("CellCancelled")}
    assert reasons == {CANCELLED_BY_USER, CANCELLED_BEFORE_START}
    assert_no_tasks_left()


async def test_a_cancel_while_cell_tasks_are_still_made_ends_each_cell_once_a_slice_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cancelled before its task was made, or before its task's first step (which then never
    runs the cell), a cell is ended by the run itself: a slice at a time (with the ends of the
    tasks the previous slice cancelled, at most two slices' worth per loop step), never
    thousands in one step, and never twice."""
    monkeypatch.setattr(strategies, "SPAWN_SLICE", 5)  # tasks made slowly: most come late
    backend = FakeBackend(Script(latency=30, chunks=1))
    run, rec = run_of(backend, [f"topic {i}" for i in range(6_000)], max_concurrency=4)
    run.start()
    await until(lambda: run.in_flight == 4)
    ends_per_turn: list[int] = []
    run.cancel()
    while run.summary is None:
        before = len(rec.named("CellCancelled"))
        await asyncio.sleep(0)
        ends_per_turn.append(len(rec.named("CellCancelled")) - before)
    assert max(ends_per_turn) <= 2 * CANCEL_SLICE and len(ends_per_turn) > 6_000 // CANCEL_SLICE
    summary = await asyncio.wait_for(run.wait(), 60)
    assert summary.cancelled == 6_000 and backend.peak == 4
    first, ends = first_and_terminal(rec)
    assert set(first.values()) == {"CellQueued"} and set(ends.values()) == {1}
    assert len(ends) == 6_000
    assert_no_tasks_left()


def assert_no_tasks_left() -> None:
    assert not [
        t for t in asyncio.all_tasks() if t.get_name().startswith("fanout-") and not t.done()
    ]


async def _ended_run(cancelled: bool) -> weakref.ref[Run]:
    backend = FakeBackend(Script(latency=0.05 if cancelled else 0, chunks=3))
    run, _rec = run_of(backend, [f"t{i}" for i in range(500)], max_concurrency=4)
    run.start()
    if cancelled:
        await until(lambda: run.in_flight == 4)  # cell tasks are still being made
        run.cancel()
    summary = await asyncio.wait_for(run.wait(), 60)
    assert summary.total == 500 and (summary.cancelled > 0) == cancelled
    await asyncio.sleep(0)  # the driver's own done callbacks run
    return weakref.ref(run)


@pytest.mark.parametrize("cancelled", [False, True])
async def test_a_run_that_ended_is_freed_as_soon_as_nobody_holds_it(cancelled: bool) -> None:
    """No reference cycle keeps an ended run alive until the collector's next full pass
    (that pass then scanned a big run's cell tasks, clocks and metrics in one GUI step)."""
    gc.collect()
    gc.disable()  # reference counting alone must free it
    try:
        gone = await _ended_run(cancelled)
        assert gone() is None
    finally:
        gc.enable()
