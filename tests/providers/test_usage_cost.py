"""Tokens and cost of real requests: usage from a server that reports it, a server that
refuses ``stream_options``, estimates when nothing is reported, and a run's budget cap."""

from __future__ import annotations

import pytest

from gui.core import events as ev
from gui.core.pricing import Price, PriceEntry
from gui.core.runner import Run
from gui.core.spec import Limits, ModelProfile, ProviderKind, RunSpec, Strategy
from gui.providers.backend import LangChainBackend
from tests.core.fakes import Recorder
from tests.support.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FANOUT_TEST_KEY", "sk-test")


def profile(url: str, model: str = "fake-1", max_tokens: int | None = None) -> ModelProfile:
    return ModelProfile(
        model=model,
        provider=ProviderKind.OPENAI,
        base_url=url,
        api_key_env="FANOUT_TEST_KEY",
        max_tokens=max_tokens,
    )


def spec(
    url: str,
    topics: list[str],
    *,
    prices: tuple[PriceEntry, ...] = (),
    strategy: Strategy = Strategy.STREAM,
    max_tokens: int | None = None,
    **limits: object,
) -> RunSpec:
    return RunSpec(
        "Tell me about {topic}",
        tuple({"topic": t} for t in topics),
        (profile(url, max_tokens=max_tokens),),
        strategy,
        Limits().changed(timeout=20, **limits),
        prices=prices,
    )


async def run_it(s: RunSpec, backend: LangChainBackend | None = None) -> tuple[Run, Recorder]:
    run = Run(s, backend or LangChainBackend())
    rec = Recorder()
    run.subscribe(rec)
    await run.wait()
    return run, rec


#: $10,000 and $20,000 per 1M tokens: a cent per input token, two per output token, so every
#: figure below is a whole number of cents.
CENT_PRICES = (PriceEntry("fake-1", Price(10_000.0, 20_000.0)),)


@pytest.mark.parametrize("strategy", [Strategy.STREAM, Strategy.GATHER])
async def test_usage_the_server_reports_is_priced_to_the_cent(
    strategy: Strategy, runtime_mode: str
) -> None:
    with FakeOpenAIServer(models=["fake-1"], tokens=6) as server:
        run, rec = await run_it(
            spec(server.base_url, ["cats", "big dogs"], prices=CENT_PRICES, strategy=strategy)
        )
        assert all(r.include_usage for r in server.requests if r.stream)
    # "Tell me about cats" is 4 words, "Tell me about big dogs" 5: the server counts words.
    first = rec.last(run.cells[0].id).metrics
    second = rec.last(run.cells[1].id).metrics
    assert (first.input_tokens, first.output_tokens) == (4, 6)
    assert (second.input_tokens, second.output_tokens) == (5, 6)
    assert not first.any_estimated and not second.any_estimated
    assert round(first.cost_usd, 2) == 0.16  # 4 x 1 cent + 6 x 2 cents
    assert round(second.cost_usd, 2) == 0.17
    summary = run.summary
    assert summary is not None
    assert (summary.input_tokens, summary.output_tokens) == (9, 12)
    assert round(summary.cost_usd, 2) == 0.33
    assert summary.unpriced == 0 and not summary.tokens_estimated


async def test_a_server_refusing_stream_options_is_asked_once(runtime_mode: str) -> None:
    with FakeOpenAIServer(models=["fake-1"], tokens=5, reject_stream_options=True) as server:
        backend = LangChainBackend()
        # One at a time: the second cell must not pay the refused attempt again.
        run, rec = await run_it(
            spec(server.base_url, ["cats", "dogs"], prices=CENT_PRICES, max_concurrency=1),
            backend,
        )
        statuses = [r.status for r in server.requests]
        asked = ["stream_options" in r.body for r in server.requests]
    assert run.summary is not None and run.summary.done == 2
    assert statuses == [400, 200, 200]
    assert asked == [True, False, False]
    # No usage came: the counts are estimates, marked so, and the cost follows them.
    metrics = rec.last(run.cells[0].id).metrics
    assert metrics.tokens_estimated and metrics.input_estimated
    assert metrics.input_tokens > 0 and metrics.output_tokens > 0
    assert metrics.cost_usd == pytest.approx(
        Price(10_000.0, 20_000.0).cost(metrics.input_tokens, metrics.output_tokens)
    )
    assert run.summary.tokens_estimated


async def test_another_column_on_the_same_server_remembers_the_refusal() -> None:
    with FakeOpenAIServer(models=["fake-1", "fake-2"], tokens=3, reject_stream_options=True) as srv:
        s = RunSpec(
            "Tell me about {topic}",
            ({"topic": "cats"},),
            (profile(srv.base_url, "fake-1"), profile(srv.base_url, "fake-2")),
            Strategy.STREAM,
            Limits().changed(timeout=20, max_concurrency=1),
        )
        run, _ = await run_it(s)
        statuses = [r.status for r in srv.requests]
    assert run.summary is not None and run.summary.done == 2
    assert statuses == [400, 200, 200]


async def test_a_model_without_a_price_has_no_cost() -> None:
    with FakeOpenAIServer(models=["fake-1"], tokens=3) as server:
        # A public host name (never reached: the base URL is the test server's) would have
        # no price; a server on this machine is free.
        run, rec = await run_it(spec(server.base_url, ["cats"]))
    metrics = rec.last(run.cells[0].id).metrics
    assert metrics.cost_usd == 0.0  # 127.0.0.1: a local server costs nothing


async def test_the_budget_stops_new_cells_and_says_so(runtime_mode: str) -> None:
    # Each cell: 4 input tokens (1 cent each) + at most 6 output tokens (2 cents each) = at
    # most 16 cents; it really costs 4 + 2 x 2 = 8 cents with 2 output tokens.
    with FakeOpenAIServer(models=["fake-1"], tokens=2) as server:
        run, rec = await run_it(
            spec(
                server.base_url,
                ["a1", "a2", "a3", "a4", "a5"],
                prices=CENT_PRICES,
                max_tokens=6,
                max_concurrency=1,
                budget_usd=0.30,
            )
        )
        sent = len(server.requests)
    summary = run.summary
    assert summary is not None
    # Spent 0, 8, 16, 24 cents: a fourth cell's worst case (16) passes 30 after two cells
    # (16 + 16 = 32 > 30). Two ran; the rest end cancelled with the reason.
    assert (summary.done, summary.cancelled) == (2, 3)
    assert sent == 2
    assert round(summary.cost_usd, 2) == 0.16
    refused = [e for e in rec.events if isinstance(e, ev.CellCancelled)]
    assert {e.reason for e in refused} == {"budget reached ($0.16 of $0.30)"}
    assert summary.budget_note == "budget reached ($0.16 of $0.30): 3 cells not started"


async def test_the_budget_counts_the_worst_case_of_cells_in_flight() -> None:
    # Three cells at once, each at most 16 cents, under a 40-cent cap: two start together,
    # the third waits for one of them to end (it then fits: 8 spent + 16 + 16 <= 40).
    with FakeOpenAIServer(models=["fake-1"], tokens=2, token_interval=0.05) as server:
        run, _ = await run_it(
            spec(
                server.base_url,
                ["a1", "a2", "a3"],
                prices=CENT_PRICES,
                max_tokens=6,
                max_concurrency=3,
                budget_usd=0.40,
            )
        )
        peak = server.peak_in_flight
    assert run.summary is not None and run.summary.done == 3
    assert peak == 2
