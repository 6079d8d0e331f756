"""The LLM judge on an OpenAI-compatible server: structured output, its fallback, its limit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import pytest

from gui.core.judging import JudgeSettings
from gui.core.runner import Run
from gui.core.spec import ModelProfile, ProviderKind, make_spec
from gui.providers.backend import LangChainBackend
from tests.support.openai_server import Behavior, FakeOpenAIServer, RequestInfo, structured_output


@pytest.fixture
def srv() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=["fake-1", "judge-1"], tokens=6, token_interval=0.0) as server:
        yield server


def judged_run(srv: FakeOpenAIServer, topics: list[str], max_in_flight: int = 4) -> Run:
    def profile(name: str) -> ModelProfile:
        return ModelProfile(model=name, provider=ProviderKind.OPENAI, base_url=srv.base_url)

    spec = make_spec("Tell me about {topic}", topics, (profile("fake-1"),))
    judge = JudgeSettings(model=profile("judge-1"), max_concurrency=max_in_flight)
    return Run(replace(spec, judge=judge), LangChainBackend())


def verdict_json(info: RequestInfo) -> str:
    return json.dumps({"score": 8, "reason": "Answers the question."})


async def test_scores_come_through_structured_output_within_the_judges_limit(
    srv: FakeOpenAIServer,
) -> None:
    srv.behave(structured_output(verdict_json))
    run = judged_run(srv, [f"topic {i}" for i in range(8)], max_in_flight=2)
    await run.wait()
    await run.backend.aclose()  # type: ignore[attr-defined]
    assert run.judge is not None
    assert len(run.judge.verdicts) == 8
    assert all(v.ok and v.score == 8.0 for v in run.judge.verdicts.values())
    judged = [r for r in srv.requests if r.model == "judge-1"]
    assert len(judged) == 8
    fmt = judged[0].body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "verdict"
    assert srv.peak_in_flight_for("judge-1") <= 2
    # Each call's cost is counted from the server's usage, not estimated.
    cost = run.judge.cost
    assert cost.cells == 8 and not cost.estimated and cost.input_tokens > 8 * 20


async def test_a_server_without_structured_output_gets_the_plain_json_prompt(
    srv: FakeOpenAIServer,
) -> None:
    def fenced(info: RequestInfo) -> str:
        return '```json\n{"score": 4, "reason": "Too vague."}\n```'

    srv.behave(structured_output(fenced, supported=False))
    run = judged_run(srv, ["cats", "dogs"], max_in_flight=1)
    await run.wait()
    await run.backend.aclose()  # type: ignore[attr-defined]
    assert run.judge is not None
    assert {v.score for v in run.judge.verdicts.values()} == {4.0}
    assert all('"score": 4' in v.raw for v in run.judge.verdicts.values())
    judged = [r for r in srv.requests if r.model == "judge-1"]
    # One refusal, then plain requests only: the fallback is remembered.
    assert [("response_format" in r.body) for r in judged] == [True, False, False]
    # The plain model's calls (the lean path when nothing listens) still read the usage.
    assert run.judge.cost.cells == 2 and not run.judge.cost.estimated


async def test_an_answer_with_lone_surrogates_is_judged_with_them_replaced(
    srv: FakeOpenAIServer,
) -> None:
    # A server may send a lone surrogate (a "\ud800" escape); the cell keeps it (marked where
    # stored), but no UTF-8 request can carry it: the judge reads U+FFFD instead.
    judge = structured_output(verdict_json)

    def behave(info: RequestInfo) -> Behavior | None:
        if info.model == "fake-1":
            return Behavior(text="half \ud800 an answer")
        return judge(info)

    srv.behave(behave)
    run = judged_run(srv, ["cats"])
    await run.wait()
    await run.backend.aclose()  # type: ignore[attr-defined]
    assert run.judge is not None
    (verdict,) = run.judge.verdicts.values()
    assert verdict.ok and verdict.score == 8.0, verdict
    (asked,) = [r for r in srv.requests if r.model == "judge-1"]
    assert "half \ufffd an answer" in json.dumps(asked.messages, ensure_ascii=False)
