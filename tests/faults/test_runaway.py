"""Runaway servers through the engine: a storm of 429s, and floods that must not beat a timeout.

The storm counts what the server receives: 50 cells against a server that answers every
request with 429 and no useful ``Retry-After`` must not make hundreds of requests in a few
seconds. The floods send events as fast as the client reads them; the timeouts must still
fire, and the stream must be closed at the server.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from gui.core import events as ev
from gui.core.columns import ParamSweep
from gui.core.errors import ErrorKind
from gui.core.runner import Run
from gui.core.spec import Limits, ModelProfile, ProviderKind, RunSpec, Strategy, make_spec
from gui.providers.backend import LangChainBackend
from tests.core.fakes import Recorder
from tests.faults.checks import sockets_closed, terminal
from tests.support.openai_server import Behavior, FakeOpenAIServer, default_answer, split_tokens
from tests.support.waiting import until

pytestmark = pytest.mark.timeout(60)


def spec_for(url: str, topics: list[str], **limits: object) -> RunSpec:
    profile = ModelProfile(
        model="fake-1", provider=ProviderKind.OPENAI, base_url=url, api_key_env="FANOUT_TEST_KEY"
    )
    return make_spec(
        "Tell me about {topic}", topics, (profile,), Strategy.STREAM, Limits().changed(**limits)
    )


async def first_cell_end(spec: RunSpec) -> ev.Event:
    """Run ``spec`` to its end on a fresh backend (closed after); the first cell's last event."""
    backend = LangChainBackend()
    run = Run(spec, backend)
    rec = Recorder()
    run.subscribe(rec)
    try:
        await asyncio.wait_for(run.wait(), 60)
    finally:
        await backend.aclose()
    return terminal(rec.events, "r0m0")


@pytest.mark.parametrize("retry_after", [0, None], ids=["retry-after-0", "no-retry-after"])
async def test_a_storm_of_429s_does_not_hammer_the_server(
    server: FakeOpenAIServer, retry_after: float | None
) -> None:
    server.behave(lambda _req: Behavior(status=429, retry_after=retry_after))
    spec = spec_for(
        server.base_url,
        [f"item {i}" for i in range(50)],
        max_concurrency=8,
        retries=10,
        backoff_base=0.2,
        backoff_max=2.0,
    )
    backend = LangChainBackend()
    run = Run(spec, backend)
    rec = Recorder()
    run.subscribe(rec)
    run.start()
    try:
        assert await server.await_for(lambda: len(server.requests) >= 1, timeout=60)
        await asyncio.sleep(2.0)
        sent = len(server.requests)
        run.cancel()
        summary = await asyncio.wait_for(run.wait(), 60)
    finally:
        await backend.aclose()

    # Retried at once (Retry-After 0) the 50 cells made 550 requests within a second; each on
    # its own back-off, ~250. Paused together, the run sends a few waves of at most 8.
    assert 8 <= sent <= 80, f"{sent} requests in 2 s"
    assert summary.done + summary.failed + summary.cancelled == 50
    retrying = [e for e in rec.events if isinstance(e, ev.CellRetrying)]
    assert retrying and all(e.delay > 0 for e in retrying)


async def test_retry_after_from_one_429_holds_back_its_column_not_the_others(
    server: FakeOpenAIServer,
) -> None:
    server.route(models={"fake-1": [Behavior(status=429, retry_after=1)]})
    models = tuple(
        ModelProfile(
            model=m,
            provider=ProviderKind.OPENAI,
            base_url=server.base_url,
            api_key_env="FANOUT_TEST_KEY",
        )
        for m in ("fake-1", "fake-2")
    )
    spec = make_spec(
        "Tell me about {topic}",
        ["first", "second", "third"],
        models,
        Strategy.STREAM,
        Limits(max_concurrency=2, backoff_max=5.0),
    )
    backend = LangChainBackend()
    run = Run(spec, backend)
    try:
        summary = await asyncio.wait_for(run.wait(), 60)
    finally:
        await backend.aclose()
    assert summary.done == 6
    first_429 = next(r for r in server.requests if r.status == 429)
    assert first_429.model == "fake-1"
    later = [r for r in server.requests if r.start > first_429.start]
    # Every fake-1 request after the 429 waited out the second it asked for (not only its
    # retry); fake-2 went on meanwhile.
    after = [round(r.start - first_429.start, 3) for r in later if r.model == "fake-1"]
    assert len(after) == 3 and min(after) >= 0.95, after
    other = [round(r.start - first_429.start, 3) for r in later if r.model == "fake-2"]
    assert other and min(other) < 0.95, other


async def test_a_429_pauses_every_column_of_its_endpoint_and_no_other(
    server: FakeOpenAIServer,
) -> None:
    # A sweep of three temperatures on fake-1 is three columns but one quota at the server:
    # its 429 holds back all three. fake-2 is another endpoint and goes on meanwhile, even
    # with one slot for the whole run (the paused cells wait holding no slot).
    server.route(models={"fake-1": [Behavior(status=429, retry_after=30)]})
    swept, other = (
        ModelProfile(
            model=m,
            provider=ProviderKind.OPENAI,
            base_url=server.base_url,
            api_key_env="FANOUT_TEST_KEY",
            sweep=ParamSweep(temperature=temperatures),
        )
        for m, temperatures in (("fake-1", (0.0, 0.7, 1.2)), ("fake-2", ()))
    )
    spec = make_spec(
        "Tell me about {topic}",
        ["first", "second", "third"],
        (swept, other),
        Strategy.STREAM,
        Limits(max_concurrency=1, backoff_max=60.0),
    )
    assert [c.header for c in spec.columns] == [
        "fake-1 · t=0",
        "fake-1 · t=0.7",
        "fake-1 · t=1.2",
        "fake-2",
    ]
    backend = LangChainBackend()
    run = Run(spec, backend)
    rec = Recorder()
    run.subscribe(rec)
    run.start()
    try:
        await until(lambda: len([e for e in rec.named("CellFinished") if "m3" in e.cell_id]) == 3)
        fake_1 = [r for r in server.requests if r.model == "fake-1"]
        run.cancel()
        summary = await asyncio.wait_for(run.wait(), 60)
    finally:
        await backend.aclose()

    # The one fake-1 request is the 429: none of the swept columns sent again during the
    # pause, while every fake-2 cell was answered.
    assert [r.status for r in fake_1] == [429], [
        (r.status, r.body.get("temperature")) for r in fake_1
    ]
    assert summary.done == 3 and summary.cancelled == 9
    fake_2 = [r for r in server.requests if r.model == "fake-2"]
    assert len(fake_2) == 3 and all(r.status == 200 for r in fake_2)


@pytest.mark.parametrize(
    ("limits", "words"),
    [
        ({"ttft_timeout": 30, "idle_timeout": 0.5}, "no text for 0.5 s (idle timeout)"),
        (
            {"ttft_timeout": 30, "idle_timeout": None, "total_timeout": 1.0},
            "took longer than 1 s (total timeout)",
        ),
    ],
    ids=["idle", "total"],
)
async def test_timeouts_fire_while_a_server_floods(
    server: FakeOpenAIServer, limits: dict[str, object], words: str
) -> None:
    server.queue(Behavior(flood_after=2, flood_empty=True))
    spec = spec_for(server.base_url, ["flood"], retries=0, **limits)
    end = await first_cell_end(spec)
    assert isinstance(end, ev.CellFailed), end
    assert end.kind is ErrorKind.TIMEOUT and words in end.message, end.message
    assert end.partial_text  # the two tokens before the flood are kept
    assert end.metrics.latency is not None and end.metrics.latency < 10  # it fired, not the test
    assert await sockets_closed(server)


@pytest.mark.parametrize(
    ("cap", "words", "kept"),
    [
        (100_000, "the whole answer passed 2,248,576 bytes", 0),  # refused on the wire
        (1_000_000, "more than 1,000,000 characters", 1_000_000),  # read, then cut
    ],
    ids=["body-over-the-wire-bound", "text-over-the-cap"],
)
@pytest.mark.parametrize("strategy", [Strategy.GATHER, Strategy.SYNC], ids=lambda s: s.value)
async def test_a_whole_answer_larger_than_the_cap_fails_too_large(
    server: FakeOpenAIServer, cap: int, words: str, kept: int, strategy: Strategy
) -> None:
    server.queue(Behavior(huge_bytes=3_000_000))
    profile = ModelProfile(
        model="fake-1",
        provider=ProviderKind.OPENAI,
        base_url=server.base_url,
        api_key_env="FANOUT_TEST_KEY",
    )
    spec = make_spec(
        "Tell me about {topic}",
        ["huge"],
        (profile,),
        strategy,
        Limits(max_answer_chars=cap, retries=2),
    )
    end = await first_cell_end(spec)
    assert isinstance(end, ev.CellFailed), end
    assert end.kind is ErrorKind.TOO_LARGE and "answer too large" in end.message, end.message
    assert words in end.message, end.message
    assert len(end.partial_text) == kept
    assert len(server.requests) == 1  # not retried: the same answer would come again


@pytest.mark.parametrize(
    ("behavior", "cut"),
    [(Behavior(end_after=2), True), (Behavior(), False), (Behavior(no_finish_reason=True), False)],
    ids=["closed-after-2-tokens", "whole-stream", "done-without-finish-reason"],
)
@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
async def test_a_close_delimited_stream_is_done_only_when_the_server_said_so(
    behavior: Behavior, cut: bool, gzip: bool
) -> None:
    if gzip and behavior.no_finish_reason:
        pytest.skip("a compressed stream is not watched: there finish_reason alone counts")
    behavior = replace(behavior, gzip=gzip)
    # Connection: close framing: the end of the body is the end of the connection, so the
    # HTTP layer cannot tell a stream cut short from a finished one; only the SSE can.
    with FakeOpenAIServer(stream_framing="close", tokens=6) as server:
        server.queue(behavior)
        end = await first_cell_end(spec_for(server.base_url, ["cats"], retries=0))
    whole = default_answer("Tell me about cats", "fake-1", 6)
    if cut:
        assert isinstance(end, ev.CellFailed), end
        assert end.kind is ErrorKind.CUT_OFF and "the answer is cut off" in end.message
        assert end.partial_text == "".join(split_tokens(whole, 6)[:2])  # what came is kept
    else:
        assert isinstance(end, ev.CellFinished), end
        assert end.text == whole


async def test_a_flood_of_events_without_text_ends_at_the_stream_bound(
    server: FakeOpenAIServer,
) -> None:
    # No text, so no answer size cap counts it, and no idle or total timeout here: the bound
    # on a stream's bytes (256 per character of the cap, plus 1 MiB) ends it.
    server.queue(Behavior(flood_after=2, flood_empty=True))
    spec = spec_for(
        server.base_url,
        ["flood"],
        retries=0,
        ttft_timeout=None,
        idle_timeout=None,
        max_answer_chars=10_000,
    )
    end = await first_cell_end(spec)
    assert isinstance(end, ev.CellFailed), end
    assert end.kind is ErrorKind.TOO_LARGE, end.message
    assert "the stream passed 3,608,576 bytes" in end.message
    assert end.partial_text
    assert await sockets_closed(server)
