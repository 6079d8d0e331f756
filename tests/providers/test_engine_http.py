"""The engine driving the real ChatOpenAI client against an OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from gui.core.errors import ErrorKind
from gui.core.runner import Run
from gui.core.spec import Limits, ModelProfile, ProviderKind, Strategy, make_spec
from gui.providers.backend import LangChainBackend
from tests.core.fakes import Recorder
from tests.support.openai_server import Behavior, FakeOpenAIServer, unused_port


@pytest.fixture
def server():
    with FakeOpenAIServer(models=["fake-1", "fake-2"], tokens=6, token_interval=0.01) as srv:
        yield srv


def profile(url: str, model: str = "fake-1") -> ModelProfile:
    return ModelProfile(
        model=model, provider=ProviderKind.OPENAI, base_url=url, api_key_env="FANOUT_TEST_KEY"
    )


def start(
    url: str,
    topics: list[str],
    strategy: Strategy = Strategy.STREAM,
    models: tuple[str, ...] = ("fake-1",),
    **limits,
) -> tuple[Run, Recorder]:
    limits.setdefault("timeout", 10)
    spec = make_spec(
        "Tell me about {topic}",
        topics,
        tuple(profile(url, m) for m in models),
        strategy,
        Limits().changed(**limits),
    )
    run = Run(spec, LangChainBackend())
    rec = Recorder()
    run.subscribe(rec)
    run.start()
    return run, rec


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FANOUT_TEST_KEY", "sk-test")


async def test_streamed_text_arrives_chunk_by_chunk(
    server: FakeOpenAIServer, runtime_mode: str
) -> None:
    run, rec = start(server.base_url, ["cats", "dogs"], models=("fake-1", "fake-2"))
    summary = await run.wait()
    assert summary.done == 4
    for cell in run.cells:
        chunks = [
            e.text for e in rec.events if type(e).__name__ == "TextChunk" and e.cell_id == cell.id
        ]
        done = rec.last(cell.id)
        assert len(chunks) == 6 and "".join(chunks) == done.text
        assert cell.inputs["topic"] in done.text  # the server answers about the prompt
        assert done.metrics.ttft is not None and done.metrics.output_tokens >= 6
    assert server.requests[0].headers["authorization"] == "Bearer sk-test"


@pytest.mark.parametrize(
    "strategy", [Strategy.STREAM, Strategy.GATHER, Strategy.ABATCH, Strategy.AS_COMPLETED]
)
async def test_server_sees_exactly_the_configured_concurrency(
    server: FakeOpenAIServer, strategy: Strategy
) -> None:
    server.default.token_interval = 0.03
    run, _ = start(server.base_url, [f"t{i}" for i in range(9)], strategy, max_concurrency=3)
    summary = await run.wait()
    assert summary.done == 9
    assert server.peak_in_flight == 3


async def test_sync_strategy_runs_one_request_at_a_time_in_a_thread(
    server: FakeOpenAIServer,
) -> None:
    run, rec = start(server.base_url, ["a", "b", "c"], Strategy.SYNC)
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while not run.finished:
            ticks += 1
            await asyncio.sleep(0.01)

    await asyncio.gather(run.wait(), heartbeat())
    assert run.summary is not None and run.summary.done == 3
    assert server.peak_in_flight == 1
    assert ticks > 5  # the loop kept running while invoke blocked its worker thread
    # non-streamed answers carry the provider's usage, so tokens are not estimated
    assert not rec.last("r0m0").metrics.tokens_estimated


async def test_cancelled_stream_is_a_closed_connection_at_the_server(
    server: FakeOpenAIServer, runtime_mode: str
) -> None:
    server.queue(Behavior(stall_after=2))
    run, rec = start(server.base_url, ["stuck", "fine"], max_concurrency=1)
    while len(run.partial_text("r0m0").split()) < 2:
        await asyncio.sleep(0.01)
    run.cancel_cell("r0m0")
    assert await server.await_for(lambda: server.disconnects == 1, timeout=30)
    summary = await run.wait()
    cancelled = rec.last("r0m0")
    assert type(cancelled).__name__ == "CellCancelled" and cancelled.partial_text.strip()
    assert summary.done == 1 and summary.cancelled == 1


async def test_429_with_retry_after_is_retried(server: FakeOpenAIServer) -> None:
    server.queue(Behavior(status=429, retry_after=0.4))
    run, rec = start(server.base_url, ["cats"], retries=2, backoff_base=0.01)
    summary = await run.wait()
    assert summary.done == 1
    (retry,) = rec.named("CellRetrying")
    assert retry.kind is ErrorKind.RATE_LIMITED and retry.delay == pytest.approx(0.4)
    first, second = server.requests
    assert second.start - first.start >= 0.39
    assert rec.last("r0m0").metrics.retries == 1


async def test_401_fails_at_once_with_an_authentication_error(server: FakeOpenAIServer) -> None:
    server.behave(lambda req: Behavior(status=401))
    run, rec = start(server.base_url, ["cats"], retries=3)
    await run.wait()
    failed = rec.last("r0m0")
    assert failed.kind is ErrorKind.AUTHENTICATION
    assert "$FANOUT_TEST_KEY" in failed.message and "\n" not in failed.message
    assert len(server.requests) == 1


async def test_unknown_model_is_not_found(server: FakeOpenAIServer) -> None:
    run, rec = start(server.base_url, ["cats"], models=("no-such-model",))
    await run.wait()
    failed = rec.last("r0m0")
    assert failed.kind is ErrorKind.NOT_FOUND and "no-such-model" in failed.message


async def test_server_not_listening_is_a_connection_error() -> None:
    url = f"http://127.0.0.1:{unused_port()}/v1"
    run, rec = start(url, ["cats"], retries=1, backoff_base=0.01)
    await run.wait()
    failed = rec.last("r0m0")
    assert failed.kind is ErrorKind.CONNECTION
    assert "Is the server running" in failed.message and "after 2 attempts" in failed.message


async def test_dropped_stream_keeps_partial_text(
    server: FakeOpenAIServer, runtime_mode: str
) -> None:
    server.queue(Behavior(drop_after=3))
    run, rec = start(server.base_url, ["cats", "dogs"], max_concurrency=1)
    summary = await run.wait()
    failed = rec.last("r0m0")
    chunks = [e.text for e in rec.events if type(e).__name__ == "TextChunk" and e.cell_id == "r0m0"]
    assert failed.kind is ErrorKind.CUT_OFF and len(chunks) == 3
    assert failed.partial_text == "".join(chunks) and "mid-answer" in failed.message
    assert summary.done == 1  # the sibling is unaffected


async def test_timeout_while_stalled_closes_the_stream(server: FakeOpenAIServer) -> None:
    server.queue(Behavior(stall_after=1))
    run, rec = start(server.base_url, ["cats"], timeout=0.5, retries=0)
    await run.wait()
    assert rec.last("r0m0").kind is ErrorKind.TIMEOUT
    assert await server.await_for(lambda: server.disconnects == 1, timeout=30)


@pytest.mark.parametrize("ending", ["finish", "cut"])
async def test_a_stream_is_done_only_when_the_server_said_so_in_both_runtimes(
    server: FakeOpenAIServer, runtime_mode: str, ending: str
) -> None:
    # A clean close after two tokens, with no finish_reason and no [DONE]: cut off, in the
    # lean stream and in plain LCEL alike; a normal answer is done in both.
    if ending == "cut":
        server.queue(Behavior(end_after=2))
    run, rec = start(server.base_url, ["cats"], retries=0)
    summary = await run.wait()
    end = rec.last("r0m0")
    if ending == "cut":
        assert summary.failed == 1 and end.kind is ErrorKind.CUT_OFF, end
        assert end.partial_text  # what arrived is kept
    else:
        assert summary.done == 1 and end.metrics.finish_reason == "stop", end


async def test_the_messages_a_cell_shows_are_exactly_what_the_server_received(
    server: FakeOpenAIServer,
) -> None:
    # Braces, a system message that uses a variable too, and two variables: every rule of
    # the prompt formatting is on the wire.
    spec = replace(
        make_spec(
            'Explain {topic} to a {who}; answer as JSON like {{"k": 1}}',
            [{"topic": "tides", "who": "child"}, {"topic": "rain", "who": "sailor"}],
            (profile(server.base_url, "fake-1"), profile(server.base_url, "fake-2")),
            Strategy.STREAM,
            Limits().changed(timeout=10),
        ),
        system="You talk to a {who}. Use {{braces}} sparingly.",
    )
    run = Run(spec, LangChainBackend())
    run.start()
    assert (await run.wait()).done == 4
    sent = {}
    for request in server.requests:
        messages = [(m["role"], m["content"]) for m in request.messages]
        sent.setdefault(request.last_user_text, messages)
    for cell in run.cells:
        shown = spec.messages(cell.id)
        assert shown == sent[shown[-1][1]]
    assert spec.messages("r1m0") == [
        ("system", "You talk to a sailor. Use {braces} sparingly."),
        ("user", 'Explain rain to a sailor; answer as JSON like {"k": 1}'),
    ]
    assert spec.messages("r9m0") == [] and spec.messages("nonsense") == []
