"""The judge lane of a run: judge calls queued as cells end, under the judge's own limits."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import pytest

from gui.core import events as ev
from gui.core.budget import BudgetGate
from gui.core.costs import judge_label, judge_totals_of
from gui.core.estimate import approx_tokens, messages_tokens
from gui.core.judge_lane import pair_key
from gui.core.judging import JudgeMode, JudgeSettings, rank, read_request
from gui.core.metrics import RunSummary
from gui.core.pricing import Price, PriceEntry, format_usd
from gui.core.runner import Run
from gui.core.spec import (
    CellId,
    Limits,
    ModelProfile,
    ProviderKind,
    RunSpec,
    SimSettings,
    make_spec,
)
from gui.providers.backend import LangChainBackend
from tests.support.waiting import until

from .fakes import FakeBackend, FakeHTTPError, Recorder, Script


class FakeJudge:
    """A judge model that counts calls in flight, can hold them, and replies as told."""

    def __init__(
        self,
        reply: Callable[[Sequence[tuple[str, str]]], str] | None = None,
        errors: list[BaseException] | None = None,
    ) -> None:
        self.reply = reply or (lambda messages: '{"score": 7, "reason": "Fine."}')
        self.errors = list(errors or [])
        self.gate: asyncio.Event | None = None
        self.in_flight = 0
        self.peak = 0
        self.calls: list[Sequence[tuple[str, str]]] = []

    async def ainvoke(self, input: Sequence[tuple[str, str]], config: Any = None) -> str:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        self.calls.append(input)
        try:
            if self.errors:
                raise self.errors.pop(0)
            if self.gate is not None:
                await self.gate.wait()
            await asyncio.sleep(0.005)
            return self.reply(input)
        finally:
            self.in_flight -= 1


class JudgedBackend(FakeBackend):
    def __init__(self, judge: FakeJudge, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.judge = judge

    def judge_chain(self, profile: ModelProfile, schema: Any) -> FakeJudge:
        return self.judge


def judged_spec(
    topics: list[str], models: int = 1, mode: JudgeMode = JudgeMode.SINGLE, **judge: Any
) -> RunSpec:
    profiles = tuple(ModelProfile(model=f"m{i}") for i in range(models))
    spec = make_spec("Tell me about {topic}", topics, profiles, limits=Limits(backoff_base=0.01))
    settings = JudgeSettings(model=ModelProfile(model="judge"), mode=mode, **judge)
    return replace(spec, judge=settings)


def judge_ends(rec: Recorder) -> list[ev.JudgeEnded]:
    return [e for e in rec.events if isinstance(e, ev.JudgeEnded)]


def no_fanout_tasks() -> bool:
    return not [t for t in asyncio.all_tasks() if t.get_name().startswith("fanout-")]


async def test_every_done_cell_gets_a_verdict_before_the_run_ends() -> None:
    judge = FakeJudge()
    run = Run(judged_spec(["cats", "dogs", "owls"], models=2), JudgedBackend(judge))
    rec = Recorder()
    run.subscribe(rec)
    summary = await run.wait()
    assert summary.done == 6
    ends = judge_ends(rec)
    assert sorted(e.key for e in ends) == sorted(run.cell_ids)
    assert all(e.verdict is not None and e.verdict.score == 7.0 for e in ends)
    assert isinstance(rec.events[-1], ev.RunFinished)  # after the last judge call
    # The judge read what the cell was asked and what it answered.
    request = read_request(judge.calls[0][1][1])
    assert request is not None and request.input.startswith("Tell me about")
    assert request.answers[0].startswith("w0")


async def test_judging_starts_while_other_cells_still_stream() -> None:
    hold = asyncio.Event()
    backend = JudgedBackend(FakeJudge(), Script(latency=0.02), slow=Script(pause=hold))
    run = Run(judged_spec(["fast", "slow"]), backend)
    rec = Recorder()
    run.subscribe(rec)
    task = run.start()
    await until(lambda: any(isinstance(e, ev.JudgeEnded) for e in rec.events))
    assert judge_ends(rec)[0].key == "r0m0"
    assert not run.phase("r1m0").terminal  # the slow cell is still streaming
    hold.set()
    await task
    assert len(judge_ends(rec)) == 2


async def test_a_judge_call_yields_to_answers_the_loop_falls_behind_and_goes_when_they_end() -> (
    None
):
    from .test_slack import Hog

    hold = asyncio.Event()
    judge = FakeJudge()
    backend = JudgedBackend(judge, Script(latency=0.02), slow=Script(pause=hold))
    run = Run(judged_spec(["fast", "slow"]), backend)
    rec = Recorder()
    run.subscribe(rec)
    hog = Hog()  # the loop behind, as with 200 answers catching up with their schedule
    task = run.start()
    await until(lambda: run.phase("r0m0").terminal)
    await until(lambda: hog.steps >= 400)
    lane = run.judge
    assert lane is not None
    # Queued as its cell ended, but not sent while the other answer streams on a busy loop.
    assert [e.key for e in rec.events if isinstance(e, ev.JudgeQueued)] == ["r0m0"]
    assert judge.calls == [] and lane.held == 1 and lane.counts.queued == 1
    hold.set()  # the last answer ends: the held call goes, busy loop or not
    summary = await task
    await hog.stop()
    assert summary.done == 2 and lane.counts.done == 2
    assert sorted(e.key for e in judge_ends(rec)) == ["r0m0", "r1m0"]
    assert no_fanout_tasks()


async def test_judge_calls_stop_yielding_once_the_last_answers_are_few() -> None:
    from .test_slack import Hog

    hold = asyncio.Event()
    judge = FakeJudge()
    backend = JudgedBackend(
        judge,
        Script(latency=0.05),
        b=Script(latency=0.1),
        c=Script(latency=0.15),
        d=Script(latency=0.4),
        slow=Script(pause=hold),
    )
    run = Run(judged_spec(["a", "b", "c", "d", "slow"]), backend)
    hog = Hog()  # the loop stays behind
    task = run.start()
    # Four of five cells ended (YIELD_UNTIL_ENDED): their calls go while the last streams,
    # the fourth without waiting at all, the three held before it with it.
    await until(lambda: len(judge.calls) == 4)
    assert not run.phase("r4m0").terminal
    assert run.judge is not None and run.judge.held == 3
    hold.set()
    summary = await task
    await hog.stop()
    assert summary.done == 5 and run.judge is not None and run.judge.counts.done == 5


async def test_cancel_cancels_judge_calls_held_behind_the_answers() -> None:
    from .test_slack import Hog

    judge = FakeJudge()
    backend = JudgedBackend(judge, Script(latency=0.02), slow=Script(pause=asyncio.Event()))
    run = Run(judged_spec(["fast", "slow"]), backend)
    rec = Recorder()
    run.subscribe(rec)
    hog = Hog()
    task = run.start()
    await until(lambda: run.judge is not None and run.judge.held == 1)
    run.cancel()
    await task
    await hog.stop()
    assert [(e.key, e.cancelled) for e in judge_ends(rec)] == [("r0m0", True)]
    assert judge.calls == []  # the held request never went out
    assert run.judge is not None and run.judge.pending == 0 and run.judge.counts.queued == 0
    assert isinstance(rec.events[-1], ev.RunFinished)
    await asyncio.sleep(0)
    assert no_fanout_tasks()


async def test_the_judge_lane_keeps_its_own_limit() -> None:
    judge = FakeJudge()
    judge.gate = asyncio.Event()
    backend = JudgedBackend(judge, Script(latency=0.01))
    run = Run(judged_spec([f"t{i}" for i in range(12)], max_concurrency=2), backend)
    task = run.start()
    lane = run.judge
    assert lane is not None
    # Every cell is done and its judge call queued, but only two are out.
    await until(lambda: lane.counts.queued == 10 and judge.in_flight == 2)
    assert run.summary is None  # the run waits for its judge
    judge.gate.set()
    summary = await task
    assert summary.done == 12 and lane.counts.done == 12
    assert judge.peak == 2 == lane.counts.peak_in_flight
    assert backend.peak > 2  # the cells' own limit (8) is not the judge's


async def test_cancel_mid_judging_cancels_judge_calls_and_leaves_no_task() -> None:
    judge = FakeJudge()
    judge.gate = asyncio.Event()  # never set: judge calls hang until cancelled
    run = Run(judged_spec([f"t{i}" for i in range(6)], max_concurrency=2), JudgedBackend(judge))
    rec = Recorder()
    run.subscribe(rec)
    task = run.start()
    await until(lambda: judge.in_flight == 2)
    run.cancel()
    summary = await task
    assert summary.total == 6
    ends = judge_ends(rec)
    assert ends and all(e.cancelled for e in ends)
    assert run.judge is not None and run.judge.pending == 0
    assert isinstance(rec.events[-1], ev.RunFinished)
    await asyncio.sleep(0)
    assert no_fanout_tasks()


async def test_an_unreadable_reply_fails_the_judge_and_keeps_the_raw_text() -> None:
    judge = FakeJudge(reply=lambda messages: "I would give it a solid eight!")
    run = Run(judged_spec(["cats"]), JudgedBackend(judge))
    await run.wait()
    assert run.judge is not None
    verdict = run.judge.verdicts["r0m0"]
    assert verdict.score is None and verdict.error == "The judge's reply holds no JSON object."
    assert verdict.raw == "I would give it a solid eight!"
    assert run.judge.counts.failed == 1


async def test_judge_errors_are_retried_and_explained_like_a_cells() -> None:
    flaky = FakeJudge(errors=[FakeHTTPError(503)])
    run = Run(judged_spec(["cats"]), JudgedBackend(flaky))
    rec = Recorder()
    run.subscribe(rec)
    await run.wait()
    starts = [e for e in rec.events if isinstance(e, ev.JudgeStarted)]
    assert [e.attempt for e in starts] == [1, 2]
    assert run.judge is not None and run.judge.verdicts["r0m0"].ok

    refused = FakeJudge(errors=[FakeHTTPError(401)])
    run = Run(judged_spec(["cats"]), JudgedBackend(refused))
    await run.wait()
    assert run.judge is not None
    verdict = run.judge.verdicts["r0m0"]
    assert verdict.error == "Judge call failed: fake: key rejected (401)."


async def test_failed_cells_are_not_judged() -> None:
    backend = JudgedBackend(FakeJudge(), dogs=Script(errors=[FakeHTTPError(401)]))
    run = Run(judged_spec(["cats", "dogs"]), backend)
    await run.wait()
    assert run.judge is not None and set(run.judge.verdicts) == {"r0m0"}


class RecordingSimBackend(LangChainBackend):
    """The simulated models answer; a fake judge records what it is shown."""

    def __init__(self, judge: FakeJudge) -> None:
        super().__init__()
        self.judge = judge

    def judge_chain(self, profile: ModelProfile, schema: Any) -> FakeJudge:  # type: ignore[override]
        return self.judge


async def test_pairwise_positions_are_randomized_and_recorded() -> None:
    def first_wins(messages: Sequence[tuple[str, str]]) -> str:
        return '{"winner": "first", "reason": "Shown first."}'

    judge = FakeJudge(reply=first_wins)
    fast = SimSettings(ttft=0.0, tokens_per_second=0.0, jitter=0.0)
    models = tuple(
        ModelProfile(model=f"m{i}", sim=replace(fast, output_tokens=10 + 7 * i, seed=i))
        for i in range(3)
    )
    topics = [f"topic {i}" for i in range(12)]
    spec = replace(
        make_spec("Tell me about {topic}", topics, models),
        judge=JudgeSettings(model=ModelProfile(model="judge"), mode=JudgeMode.PAIRWISE),
    )
    run = Run(spec, RecordingSimBackend(judge), rng=random.Random(4))
    rec = Recorder()
    run.subscribe(rec)
    texts: dict[str, str] = {}
    run.subscribe(
        lambda e: texts.update({e.cell_id: e.text}) if isinstance(e, ev.CellFinished) else None
    )
    await run.wait()
    assert run.judge is not None
    pairs = run.judge.pairs
    assert len(pairs) == 12 * 3  # every pair of three answers, per input
    for row in range(12):
        met = {
            frozenset((CellId.parse(p.first_cell).col, CellId.parse(p.second_cell).col))
            for p in pairs
            if p.row == row
        }
        assert met == {frozenset(c) for c in ((0, 1), (0, 2), (1, 2))}
    swapped = [CellId.parse(p.first_cell).col > CellId.parse(p.second_cell).col for p in pairs]
    assert any(swapped) and not all(swapped)  # both orders occur
    # What is recorded as first is what the judge was shown first, and it won.
    shown = {}
    for messages in judge.calls:
        request = read_request(messages[1][1])
        assert request is not None
        shown[request.answers] = True
    for p in pairs:
        assert (texts[p.first_cell], texts[p.second_cell]) in shown
        assert p.winner_cell == p.first_cell and p.winner == "first"
    keys = {e.key for e in judge_ends(rec)}
    assert keys == {pair_key(p.first_cell, p.second_cell) for p in pairs}
    await asyncio.sleep(0)
    assert no_fanout_tasks()


async def test_the_simulated_judge_scores_through_the_real_backend() -> None:
    fast = SimSettings(ttft=0.0, tokens_per_second=0.0, jitter=0.0, seed=3)
    spec = replace(
        make_spec("Tell me about {topic}", ["cats", "dogs", "owls"], (ModelProfile(sim=fast),)),
        judge=JudgeSettings(model=ModelProfile(model="sim-judge", sim=fast)),
    )
    backend = LangChainBackend()
    run = Run(spec, backend)
    await run.wait()
    await backend.aclose()
    assert run.judge is not None
    verdicts = run.judge.verdicts
    assert len(verdicts) == 3
    assert all(v.ok and v.score is not None and 1 <= v.score <= 10 for v in verdicts.values())
    assert all(v.judge_model == "sim-judge" and v.reason for v in verdicts.values())


#: Four simulated models that differ in how long they answer "Explain {topic}": 60 tokens
#: fit, 200 are long and in one block, 15 too short, 600 too long and repeating.
FOUR_LENGTHS = {"sim-60": 60, "sim-200": 200, "sim-15": 15, "sim-600": 600}
TOPICS = ["cats", "dogs", "owls", "bees", "foxes", "whales"]


async def judged_four(mode: JudgeMode) -> Run:
    """The four models of :data:`FOUR_LENGTHS` over :data:`TOPICS`, judged by sim-judge."""
    fast = SimSettings(ttft=0.0, tokens_per_second=0.0, jitter=0.0)
    models = tuple(
        ModelProfile(label=name, sim=replace(fast, output_tokens=tokens))
        for name, tokens in FOUR_LENGTHS.items()
    )
    spec = replace(
        make_spec("Explain {topic}", TOPICS, models),
        judge=JudgeSettings(model=ModelProfile(model="sim-judge", sim=fast), mode=mode),
    )
    backend = LangChainBackend()
    run = Run(spec, backend, rng=random.Random(5))
    await run.wait()
    await backend.aclose()
    return run


async def test_the_simulated_judge_separates_four_simulated_models() -> None:
    run = await judged_four(JudgeMode.SINGLE)
    assert run.judge is not None
    by_model: dict[str, list[float]] = {}
    for cell_id, verdict in run.judge.verdicts.items():
        assert verdict.ok and verdict.score is not None
        model = list(FOUR_LENGTHS)[CellId.parse(cell_id).col]
        by_model.setdefault(model, []).append(verdict.score)
    means = {model: sum(s) / len(s) for model, s in by_model.items()}
    # A spread of scores, in the order the answers' features call for.
    assert sorted(means, key=means.__getitem__, reverse=True) == list(FOUR_LENGTHS)
    assert max(means.values()) >= 7 and min(means.values()) <= 4
    reasons = {v.reason for v in run.judge.verdicts.values()}
    assert any("too short" in r for r in reasons) and any("repetitive" in r for r in reasons)


async def test_a_simulated_pairwise_tournament_ranks_the_same_in_every_run() -> None:
    rankings = []
    for _ in range(2):
        run = await judged_four(JudgeMode.PAIRWISE)
        assert run.judge is not None and len(run.judge.pairs) == len(TOPICS) * 6
        ranks = rank(run.judge.pairs, list(FOUR_LENGTHS))
        rankings.append([(r.model, r.wins) for r in ranks])
    assert rankings[0] == rankings[1]
    assert [model for model, _ in rankings[0]] == list(FOUR_LENGTHS)
    # A clear ranking: each model wins more than the next.
    wins = [w for _, w in rankings[0]]
    assert all(a > b for a, b in itertools.pairwise(wins))


async def test_a_retried_cell_is_judged_again_under_its_grid_id() -> None:
    from gui.core.session import Session

    judge = FakeJudge()
    backend = JudgedBackend(judge, Script(latency=0.01), b=Script(errors=[FakeHTTPError(401)]))
    session = Session(lambda: backend)
    seen: list[ev.Event] = []
    session.subscribe(lambda e: seen.append(e) if isinstance(e, ev.JudgeEnded) else None)
    run = session.start(judged_spec(["a", "b", "c"]))
    await run.wait()
    await until(lambda: len(seen) == 2)
    assert sorted(e.key for e in seen) == ["r0m0", "r2m0"]  # the failed cell is not judged
    retry = session.retry("r1m0")
    assert retry is not None and retry.spec.judge == run.spec.judge
    await retry.wait()
    await until(lambda: len(seen) == 3)
    assert seen[-1].key == "r1m0"  # the retry's own r0m0, mapped to its place in the grid
    await session.shutdown()


async def test_a_judge_call_cancelled_before_its_first_step_still_ends() -> None:
    judge = FakeJudge()
    run = Run(judged_spec(["cats"]), JudgedBackend(judge))
    rec = Recorder()
    run.subscribe(rec)
    task = run.start()
    # Cancel in the very step the cell ends: its judge call is queued, never started.
    run.subscribe(lambda e: run.cancel() if isinstance(e, ev.JudgeQueued) else None)
    await task
    ends = judge_ends(rec)
    assert [(e.key, e.cancelled) for e in ends] == [("r0m0", True)]
    assert run.judge is not None and run.judge.counts.queued == 0 and run.judge.counts.failed == 1
    assert judge.calls == []  # the request never went out
    assert isinstance(rec.events[-1], ev.RunFinished)
    await asyncio.sleep(0)
    assert no_fanout_tasks()


async def test_pairwise_with_repeats_compares_each_columns_first_sample_that_ended_done() -> None:
    judge = FakeJudge(reply=lambda messages: '{"winner": "first", "reason": "Shown first."}')
    spec = replace(judged_spec(["cats"], models=3, mode=JudgeMode.PAIRWISE), repeats=2)
    run = Run(spec, JudgedBackend(judge), rng=random.Random(1))
    lane = run.judge
    assert lane is not None
    # m0's first sample failed: its second stands for it; m2's second sample ends first,
    # and its first still stands for it once it ends.
    ended = [
        ("r0m0", None),
        ("r0m0s1", "zero, second sample"),
        ("r0m1", "one, first sample"),
        ("r0m1s1", "one, second sample"),
        ("r0m2s1", "two, second sample"),
        ("r0m2", "two, first sample"),
    ]
    for cell_id, text in ended:
        lane.cell_ended(cell_id, text)
    await lane.drain()
    met = {frozenset((p.first_cell, p.second_cell)) for p in lane.pairs}
    assert met == {
        frozenset(("r0m0s1", "r0m1")),
        frozenset(("r0m0s1", "r0m2")),
        frozenset(("r0m1", "r0m2")),
    }
    shown: list[str] = []
    for messages in judge.calls:
        request = read_request(messages[1][1])
        assert request is not None
        shown += request.answers
    assert sorted(shown) == sorted(
        ["zero, second sample", "one, first sample", "two, first sample"] * 2
    )


# ------------------------------------------------------------------ what the judge costs


def priced_judge_spec(topics: list[str], price: Price, **limits: Any) -> RunSpec:
    spec = judged_spec(topics)
    prices = (PriceEntry("judge", price),)
    return replace(spec, prices=prices, limits=replace(spec.limits, **limits))


async def test_judge_calls_are_priced_apart_from_the_answers_estimated_without_usage() -> None:
    price = Price(1.0, 2.0)  # dollars per 1M tokens
    judge = FakeJudge()  # reports no usage: the tokens are estimated, as a cell's would be
    run = Run(priced_judge_spec(["cats", "dogs"], price), JudgedBackend(judge))
    rec = Recorder()
    run.subscribe(rec)
    summary = await run.wait()
    ends = judge_ends(rec)
    assert len(ends) == 2 and all(e.cost is not None for e in ends)
    for end, messages in zip(ends, judge.calls, strict=True):
        assert end.cost is not None and end.cost.estimated
        assert end.cost.input_tokens == messages_tokens(messages, approx_tokens)
        assert end.cost.output_tokens == approx_tokens('{"score": 7, "reason": "Fine."}')
        assert end.cost.cost_usd == pytest.approx(
            price.cost(end.cost.input_tokens, end.cost.output_tokens)
        )
    spent = sum(e.cost.cost_usd or 0.0 for e in ends if e.cost is not None)
    assert summary.judge_calls == 2 and summary.judge_tokens_estimated
    assert summary.judge_cost_usd == pytest.approx(spent)
    assert summary.judge_input_tokens == sum(e.cost.input_tokens for e in ends if e.cost)
    # The answers' own totals do not include the judge's.
    assert summary.input_tokens == sum(m.input_tokens for m in map(run.metrics, run.cell_ids) if m)
    totals = judge_totals_of(summary)
    assert totals is not None and judge_label(totals) == f"judge ~{format_usd(spent)}"


async def test_a_judge_without_a_price_says_so_and_failed_calls_cost_nothing() -> None:
    judge = FakeJudge(errors=[FakeHTTPError(401)])  # the first call fails for good
    spec = judged_spec(["cats", "dogs"])
    assert spec.judge is not None
    hosted = ModelProfile(provider=ProviderKind.OPENAI, model="judge-x")  # not in the table
    spec = replace(spec, judge=replace(spec.judge, model=hosted))
    run = Run(spec, JudgedBackend(judge))
    summary = await run.wait()
    assert summary.judge_calls == 1  # only the call that got a reply was paid for
    assert summary.judge_cost_usd is None
    totals = judge_totals_of(summary)
    assert totals is not None and judge_label(totals) == "judge no price"
    assert judge_label(judge_totals_of(RunSummary(1, 1, 0, 0, 1.0, "async", 1))) == ""


async def test_the_judges_spend_counts_against_the_budget_cap() -> None:
    # Cells without a price (their worst case is 0); one judge call costs about $5 here.
    hold = asyncio.Event()
    judge = FakeJudge()
    backend = JudgedBackend(judge, Script(latency=0.01), dogs=Script(latency=0.01, pause=hold))
    spec = priced_judge_spec(
        ["cats", "dogs", "owls"], Price(50_000.0, 50_000.0), max_concurrency=1, budget_usd=1.0
    )
    run = Run(spec, backend)
    rec = Recorder()
    run.subscribe(rec)
    task = run.start()
    await until(lambda: len(judge_ends(rec)) == 1)  # cats judged while dogs streams
    hold.set()
    summary = await task
    assert summary.done == 2 and summary.cancelled == 1  # owls never started
    assert summary.budget_note is not None and "1 cell not started" in summary.budget_note
    assert summary.judge_cost_usd is not None and summary.judge_cost_usd > 1.0


def test_judge_spend_leaves_the_budget_less_room() -> None:
    gate = BudgetGate(lambda: 1.0)
    gate.spend(0.9)
    assert gate.spent == pytest.approx(0.9)
    assert not asyncio.run(gate.admit("c0", 0.2))
    assert asyncio.run(gate.admit("c1", 0.05))


async def test_the_simulated_judge_reports_its_usage_on_either_runtime_path(
    runtime_mode: str,
) -> None:
    fast = SimSettings(ttft=0.0, tokens_per_second=0.0, jitter=0.0, seed=3)
    spec = replace(
        make_spec("Tell me about {topic}", ["cats", "dogs"], (ModelProfile(sim=fast),)),
        judge=JudgeSettings(model=ModelProfile(model="sim-judge", sim=fast)),
        prices=(PriceEntry("sim-judge", Price(3.0, 6.0)),),
    )
    backend = LangChainBackend()
    run = Run(spec, backend)
    rec = Recorder()
    run.subscribe(rec)
    summary = await run.wait()
    await backend.aclose()
    costs = [e.cost for e in judge_ends(rec)]
    assert len(costs) == 2 and all(c is not None and not c.estimated for c in costs)
    for cost in costs:
        assert cost is not None and cost.input_tokens > 100 and 5 < cost.output_tokens < 60
        assert cost.cost_usd == pytest.approx(
            Price(3.0, 6.0).cost(cost.input_tokens, cost.output_tokens)
        )
    assert summary.judge_calls == 2 and not summary.judge_tokens_estimated


async def test_a_judged_run_that_ended_is_freed_as_soon_as_nobody_holds_it() -> None:
    """Neither the run nor its judge lane is kept alive by a reference cycle until the
    collector's next full pass (see test_runner's test of the same name)."""
    import gc
    import weakref

    run = Run(judged_spec(["cats", "dogs", "owls"], models=2), JudgedBackend(FakeJudge()))
    summary = await run.wait()
    assert summary.done == 6
    await asyncio.sleep(0)  # the driver's own done callbacks run
    gone, lane = weakref.ref(run), weakref.ref(run.judge)
    gc.disable()  # reference counting alone must free them
    try:
        del run
        assert gone() is None and lane() is None
    finally:
        gc.enable()
