"""The fault matrix through the engine: the real ChatOpenAI stack against a misbehaving server.

For each fault of ``tests.faults.cases`` one run of three cells: the faulty one must end in the
right state with a one-line message a user can act on, after as many attempts as the retry
policy allows and within its time budget; its siblings must finish normally under
``isolate`` and be cancelled at once under ``fail_fast``. Then the summary and the history must
account for every cell, and nothing may be left behind: no engine task, no open socket at the
server, nothing reported to the loop's exception handler, no warning.
"""

from __future__ import annotations

import asyncio

import pytest

from gui.core import events as ev
from gui.core.runner import CANCELLED_FAIL_FAST, Run
from gui.core.spec import ErrorPolicy, Limits, ModelProfile, ProviderKind, Strategy, make_spec
from gui.providers.backend import LangChainBackend
from gui.storage.history import History
from tests.core.fakes import Recorder
from tests.faults.cases import (
    FAILING,
    FAULTS,
    FAULTY,
    SIBLINGS,
    SLOW_SIBLING,
    TEMPLATE,
    UNKNOWN_MODEL,
    Fault,
    answer,
    partial_answer,
    within,
)
from tests.faults.checks import (
    check_accounted,
    fanout_tasks,
    loop_problems,
    sockets_closed,
    terminal,
    text_of,
)
from tests.support.openai_server import FakeOpenAIServer, closed_base_url, default_answer

pytestmark = pytest.mark.timeout(120)

STREAMED = {Strategy.STREAM}


def profile(url: str, model: str) -> ModelProfile:
    return ModelProfile(
        model=model, provider=ProviderKind.OPENAI, base_url=url, api_key_env="FANOUT_TEST_KEY"
    )


def layout(fault: Fault, url: str, bad_url: str) -> tuple[list[str], tuple[ModelProfile, ...]]:
    """Rows and columns: the faulty cell is always r0m0 (see tests.faults.cases)."""
    if fault.column is None:
        return [FAULTY, *SIBLINGS], (profile(url, "fake-1"),)
    bad = profile(url, UNKNOWN_MODEL) if fault.column == "model" else profile(bad_url, "fake-1")
    return [FAULTY], (bad, profile(url, "fake-1"), profile(url, "fake-2"))


def sibling_topics_and_models(fault: Fault) -> list[tuple[str, str, str]]:
    """(cell id, topic, model) of the two siblings."""
    if fault.column is None:
        return [("r1m0", SIBLINGS[0], "fake-1"), ("r2m0", SIBLINGS[1], "fake-1")]
    return [("r0m1", FAULTY, "fake-1"), ("r0m2", FAULTY, "fake-2")]


def install_faults(server: FakeOpenAIServer, fault: Fault, slow_siblings: bool) -> None:
    if fault.column is None:
        prompts = {FAULTY: fault.route} if fault.route is not None else {}
        if slow_siblings:
            prompts.update(dict.fromkeys(SIBLINGS, SLOW_SIBLING))
        server.route(prompts)
    elif slow_siblings:
        server.route(models={"fake-1": SLOW_SIBLING, "fake-2": SLOW_SIBLING})


async def run_fault(
    server: FakeOpenAIServer, fault: Fault, strategy: Strategy, policy: ErrorPolicy
) -> tuple[Run, Recorder, str]:
    """Run the fault's three cells to the end and check what every run must leave behind."""
    bad_url = closed_base_url() if fault.column == "closed" else server.base_url
    install_faults(server, fault, slow_siblings=policy is ErrorPolicy.FAIL_FAST)
    rows, models = layout(fault, server.base_url, bad_url)
    fail_fast = policy is ErrorPolicy.FAIL_FAST
    limits = Limits().changed(**fault.all_limits(fail_fast), error_policy=policy)
    spec = make_spec(TEMPLATE, rows, models, strategy, limits)
    history = History.open()
    backend = LangChainBackend()
    run = Run(spec, backend)
    rec = Recorder()
    run.subscribe(rec)
    run.subscribe(history.recorder())
    with loop_problems() as problems:
        try:
            summary = await asyncio.wait_for(run.wait(), 60)
        finally:
            await backend.aclose()
        assert fanout_tasks() == []
        assert await sockets_closed(server), f"{server.open_connections} connection(s) left open"
    assert problems == []
    assert history.flush()
    stored = history.get_run(run.id)
    history.close()
    check_accounted(summary, rec.events, stored, len(run.cells))
    return run, rec, bad_url


def check_faulty_cell(
    fault: Fault,
    strategy: Strategy,
    rec: Recorder,
    server: FakeOpenAIServer,
    bad_url: str,
    fail_fast: bool = False,
) -> ev.Event:
    expect = fault.expect(strategy in STREAMED, fail_fast)
    end = terminal(rec.events, "r0m0")
    started = [e for e in rec.named("CellStarted") if e.cell_id == "r0m0"]
    assert len(started) == expect.attempts, [type(e).__name__ for e in rec.events]
    if fault.column != "closed":
        model = UNKNOWN_MODEL if fault.column == "model" else "fake-1"
        seen = [r for r in server.requests if r.model == model and FAULTY in r.last_user_text]
        assert len(seen) == expect.attempts
    retries = [e for e in rec.named("CellRetrying") if e.cell_id == "r0m0"]
    assert len(retries) == expect.attempts - 1
    if expect.retry_delay is not None:
        assert all(r.delay == pytest.approx(expect.retry_delay) for r in retries)
    took = end.t - started[0].t  # from its first request (the run's first chain imports a lot)
    assert took <= within(fault.budget), f"ended {took:.2f} s after its first request"
    if expect.status == "done":
        assert isinstance(end, ev.CellFinished), end
        if expect.length is not None:
            assert len(end.text) == expect.length
        else:
            assert end.text == answer(FAULTY)
        assert end.metrics.finish_reason == expect.finish
        assert (end.metrics.note is not None) == expect.note, end.metrics.note
        return end
    assert isinstance(end, ev.CellFailed), end
    assert end.kind is expect.kind, end.message
    model = UNKNOWN_MODEL if fault.column == "model" else "fake-1"
    assert end.message.startswith(f"{model} at 127.0.0.1:"), end.message
    assert "\n" not in end.message and len(end.message) <= 250, end.message
    for words in expect.words:
        assert words.format(url=bad_url) in end.message, (words, end.message)
    if expect.partial_chars is not None:
        assert len(end.partial_text) == expect.partial_chars
        assert end.partial_text.startswith(partial_answer(expect.partial))
    else:
        assert end.partial_text == partial_answer(expect.partial)
    return end


@pytest.mark.parametrize(
    "strategy", [Strategy.STREAM, Strategy.GATHER, Strategy.SYNC], ids=lambda s: s.value
)
@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.id)
async def test_fault_isolated(server: FakeOpenAIServer, fault: Fault, strategy: Strategy) -> None:
    run, rec, bad_url = await run_fault(server, fault, strategy, ErrorPolicy.ISOLATE)

    check_faulty_cell(fault, strategy, rec, server, bad_url)
    for cell_id, topic, model in sibling_topics_and_models(fault):
        end = terminal(rec.events, cell_id)
        assert isinstance(end, ev.CellFinished), (cell_id, end)
        assert end.text == answer(topic, model)
    assert run.summary is not None and run.summary.cancelled == 0


@pytest.mark.parametrize("strategy", [Strategy.STREAM, Strategy.GATHER], ids=lambda s: s.value)
@pytest.mark.parametrize("fault", FAILING, ids=lambda f: f.id)
async def test_fault_fail_fast_cancels_the_siblings_at_once(
    server: FakeOpenAIServer, fault: Fault, strategy: Strategy
) -> None:
    if fault.expect(strategy in STREAMED, fail_fast=True).status == "done":
        pytest.skip("this fault does not fail the cell without streaming")
    run, rec, bad_url = await run_fault(server, fault, strategy, ErrorPolicy.FAIL_FAST)

    check_faulty_cell(fault, strategy, rec, server, bad_url, fail_fast=True)
    for cell_id, topic, model in sibling_topics_and_models(fault):
        end = terminal(rec.events, cell_id)
        assert isinstance(end, ev.CellCancelled), (cell_id, end)
        assert end.reason == CANCELLED_FAIL_FAST
        full = default_answer(TEMPLATE.format(topic=topic), model, SLOW_SIBLING.tokens or 0)
        assert full.startswith(text_of(end))  # whatever had streamed is kept
    summary = run.summary
    assert summary is not None and summary.failed == 1 and summary.cancelled == 2
