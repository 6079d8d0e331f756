"""The fake OpenAI server speaks the protocol the real client stack expects.

Every test drives `tests.support.openai_server.FakeOpenAIServer` through the real
`langchain_openai.ChatOpenAI` -> openai SDK -> httpx stack (or httpx directly), so later tests
can trust what the server reports: the text it streamed, the concurrency it observed, and the
disconnects it saw.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
from langchain_core.messages import AIMessageChunk
from langchain_openai import ChatOpenAI

from tests.support.openai_server import (
    Behavior,
    FakeOpenAIServer,
    default_answer,
    split_tokens,
    unused_port,
)

pytestmark = pytest.mark.timeout(30)

Factory = Callable[..., ChatOpenAI]


@pytest.fixture
def srv() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=["fake-1", "fake-2"], tokens=8) as server:
        yield server
        assert server.errors == []


@pytest.fixture
def make_llm(srv: FakeOpenAIServer) -> Factory:
    def make(**kwargs: Any) -> ChatOpenAI:
        params: dict[str, Any] = {
            "base_url": srv.base_url,
            "api_key": "test-key",
            "model": "fake-1",
            "max_retries": 0,
            "timeout": 5,
            "stream_chunk_timeout": 0,
            **kwargs,
        }
        return ChatOpenAI(**params)

    return make


async def collect(llm: ChatOpenAI, prompt: str) -> list[AIMessageChunk]:
    return [chunk async for chunk in llm.astream(prompt)]


def text_of(chunks: list[AIMessageChunk]) -> str:
    return "".join(str(c.content) for c in chunks)


def test_invoke_returns_the_default_answer(srv: FakeOpenAIServer, make_llm: Factory) -> None:
    reply = make_llm().invoke("hello world")

    assert reply.content == default_answer("hello world", "fake-1", 8)
    [req] = srv.requests
    assert (req.index, req.model, req.stream, req.outcome) == (0, "fake-1", False, "ok")
    assert req.messages == [{"role": "user", "content": "hello world"}]
    assert req.headers["authorization"] == "Bearer test-key"
    assert req.end is not None
    assert req.end >= req.start
    assert (srv.completed, srv.in_flight) == (1, 0)


async def test_astream_yields_token_chunks(srv: FakeOpenAIServer, make_llm: Factory) -> None:
    chunks = await collect(make_llm(model="fake-2"), "tell me about ducks")

    expected = default_answer("tell me about ducks", "fake-2", 8)
    assert text_of(chunks) == expected
    assert [c.content for c in chunks if c.content] == split_tokens(expected, 8)
    assert (srv.requests[0].stream, srv.requests[0].tokens_sent) == (True, 8)
    assert srv.completed == 1


async def test_stream_usage_reports_token_counts(srv: FakeOpenAIServer, make_llm: Factory) -> None:
    chunks = await collect(make_llm(stream_usage=True), "count these four")

    [usage] = [c.usage_metadata for c in chunks if c.usage_metadata]
    # Input tokens are the prompt's word count, output tokens the number of content chunks.
    assert (usage["input_tokens"], usage["output_tokens"], usage["total_tokens"]) == (3, 8, 11)
    assert srv.requests[0].include_usage


async def test_rate_limit_exposes_retry_after(srv: FakeOpenAIServer, make_llm: Factory) -> None:
    srv.queue(Behavior(status=429, retry_after=7))

    with pytest.raises(openai.RateLimitError) as info:
        await make_llm().ainvoke("hi")

    assert info.value.status_code == 429
    assert info.value.response.headers["retry-after"] == "7"
    assert info.value.code == "rate_limit_exceeded"
    # The queue is consumed: the next request gets the default answer.
    assert (await make_llm().ainvoke("hi")).content == default_answer("hi", "fake-1", 8)
    assert [r.outcome for r in srv.requests] == ["error", "ok"]


@pytest.mark.parametrize(
    ("behavior", "model", "error"),
    [
        (Behavior(status=401), "fake-1", openai.AuthenticationError),
        (Behavior(status=404), "fake-1", openai.NotFoundError),
        (None, "no-such-model", openai.NotFoundError),  # strict_models
        (Behavior(status=500), "fake-1", openai.InternalServerError),
        (Behavior(status=503), "fake-1", openai.InternalServerError),
    ],
)
async def test_error_statuses_map_to_sdk_errors(
    srv: FakeOpenAIServer,
    make_llm: Factory,
    behavior: Behavior | None,
    model: str,
    error: type[Exception],
) -> None:
    if behavior is not None:
        srv.queue(behavior, behavior)
    with pytest.raises(error):
        await make_llm(model=model).ainvoke("hi")
    with pytest.raises(error):  # the streaming path raises the same class
        await collect(make_llm(model=model), "hi")


def test_api_key_is_checked_when_configured() -> None:
    with FakeOpenAIServer(api_key="right") as server:
        ok = ChatOpenAI(base_url=server.base_url, api_key="right", model="fake-1", max_retries=0)
        bad = ChatOpenAI(base_url=server.base_url, api_key="wrong", model="fake-1", max_retries=0)
        assert ok.invoke("x").content
        with pytest.raises(openai.AuthenticationError):
            bad.invoke("x")


async def test_peak_in_flight_counts_concurrent_requests(
    srv: FakeOpenAIServer, make_llm: Factory
) -> None:
    srv.default.ttft = 0.3
    llm = make_llm()

    replies = await asyncio.gather(*(llm.ainvoke(f"q{i}") for i in range(3)))

    assert [r.content for r in replies] == [default_answer(f"q{i}", "fake-1", 8) for i in range(3)]
    assert srv.peak_in_flight == 3
    assert (srv.peak_in_flight_for("fake-1"), srv.peak_in_flight_for("fake-2")) == (3, 0)
    assert srv.in_flight == 0
    srv.reset_stats()
    assert (srv.peak_in_flight, srv.requests, srv.completed) == (0, [], 0)


async def test_cancelling_astream_is_seen_as_disconnect(
    srv: FakeOpenAIServer, make_llm: Factory
) -> None:
    srv.queue(Behavior(tokens=1000, token_interval=0.05))
    llm = make_llm()

    async def consume() -> None:
        async for _ in llm.astream("long"):
            pass

    task = asyncio.create_task(consume())
    assert await srv.await_for(lambda: bool(srv.requests) and srv.requests[0].tokens_sent >= 3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await srv.await_for(lambda: srv.disconnects == 1)
    [req] = srv.disconnected
    assert req.outcome == "disconnected"
    assert 3 <= req.tokens_sent < 1000
    assert (srv.in_flight, srv.completed) == (0, 0)


async def test_client_leaving_a_stalled_stream_is_seen(
    srv: FakeOpenAIServer, make_llm: Factory
) -> None:
    srv.queue(Behavior(stall_after=2))
    llm = make_llm()
    got: list[str] = []

    async def consume() -> None:
        async for chunk in llm.astream("stall"):
            got.append(str(chunk.content))

    task = asyncio.create_task(consume())
    assert await srv.await_for(lambda: len("".join(got).split()) == 2)
    assert not task.done()  # the server is hanging, not finishing
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert await srv.await_for(lambda: srv.disconnects == 1, timeout=30)
    assert srv.requests[0].tokens_sent == 2


async def test_drop_after_raises_after_partial_output(
    srv: FakeOpenAIServer, make_llm: Factory
) -> None:
    srv.queue(Behavior(drop_after=3))
    got: list[str] = []

    async def consume() -> None:
        async for chunk in make_llm().astream("drop me"):
            got.append(str(chunk.content))

    with pytest.raises(openai.APIConnectionError):
        await consume()

    assert "".join(got) == "".join(split_tokens(default_answer("drop me", "fake-1", 8), 8)[:3])
    assert (srv.requests[0].outcome, srv.disconnects) == ("dropped", 0)


async def test_malformed_event_raises(srv: FakeOpenAIServer, make_llm: Factory) -> None:
    srv.queue(Behavior(malformed_after=2))

    with pytest.raises(json.JSONDecodeError):
        await collect(make_llm(), "bad json")
    assert srv.requests[0].outcome == "malformed"


async def test_in_stream_error_event_raises(srv: FakeOpenAIServer, make_llm: Factory) -> None:
    srv.queue(Behavior(error_after=1))

    with pytest.raises(openai.APIError, match="server had an error"):
        await collect(make_llm(), "x")


async def test_empty_stream_is_an_error_in_langchain(
    srv: FakeOpenAIServer, make_llm: Factory
) -> None:
    # A 200 stream holding only [DONE] yields no chunk at all; langchain-core refuses that.
    srv.queue(Behavior(empty=True), Behavior(text=""))
    llm = make_llm()

    with pytest.raises(ValueError, match="No generation chunks"):
        await collect(llm, "nothing")
    # An answer with no content (role + finish chunks only) is fine and just empty.
    assert text_of(await collect(llm, "nothing")) == ""
    assert srv.completed == 2


async def test_huge_answer_arrives_in_chunks(srv: FakeOpenAIServer, make_llm: Factory) -> None:
    srv.queue(Behavior(huge_bytes=1_000_000))
    llm = make_llm()

    huge = await collect(llm, "everything")

    assert len(text_of(huge).encode()) == 1_000_000
    assert len([c for c in huge if c.content]) == 245  # 4096-byte chunks
    assert srv.completed == 1


async def test_streams_reuse_one_keep_alive_connection(
    srv: FakeOpenAIServer, make_llm: Factory
) -> None:
    llm = make_llm()
    for i in range(3):
        await collect(llm, f"s{i}")
    await llm.ainvoke("plain")

    assert srv.completed == 4
    assert srv.connections == 1
    assert {r.connection for r in srv.requests} == {1}


async def test_connection_close_framing_also_works() -> None:
    with FakeOpenAIServer(stream_framing="close") as server:
        llm = ChatOpenAI(
            base_url=server.base_url, api_key="k", model="fake-1", max_retries=0, timeout=5
        )
        chunks = await collect(llm, "closing")
        assert text_of(chunks) == default_answer("closing", "fake-1", 8)
        await collect(llm, "again")
        assert server.connections == 2  # one connection per stream


async def test_models_endpoint_and_unknown_paths(srv: FakeOpenAIServer) -> None:
    async with httpx.AsyncClient(base_url=srv.base_url) as client:
        models = await client.get("/models")
        one = await client.get("/models/fake-2")
        missing = await client.post("/embeddings", json={})

    assert models.status_code == 200
    assert models.json()["object"] == "list"
    assert [m["id"] for m in models.json()["data"]] == ["fake-1", "fake-2"]
    assert one.json()["id"] == "fake-2"
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "Invalid URL (POST /v1/embeddings)"
    assert srv.http_log[-1] == ("POST", "/v1/embeddings", 404)
    assert srv.requests == []  # only chat completions are recorded as requests


async def test_nothing_listening_gives_connection_error() -> None:
    llm = ChatOpenAI(
        base_url=f"http://127.0.0.1:{unused_port()}/v1",
        api_key="k",
        model="fake-1",
        max_retries=0,
        timeout=5,
    )
    with pytest.raises(openai.APIConnectionError):
        await llm.ainvoke("anyone?")


def test_behave_callback_sees_the_request(srv: FakeOpenAIServer, make_llm: Factory) -> None:
    seen: list[tuple[int, str, bool]] = []

    def decide(req: Any) -> Behavior | None:
        seen.append((req.index, req.last_user_text, req.stream))
        return Behavior(text="custom reply") if req.index == 1 else None

    srv.behave(decide)
    llm = make_llm()
    assert llm.invoke("first").content == default_answer("first", "fake-1", 8)
    assert llm.invoke("second").content == "custom reply"
    assert seen == [(0, "first", False), (1, "second", False)]


def test_broken_behave_callback_becomes_a_500() -> None:
    def broken(req: Any) -> Behavior:
        raise ZeroDivisionError("oops")

    with FakeOpenAIServer() as server:
        server.behave(broken)
        llm = ChatOpenAI(base_url=server.base_url, api_key="k", model="fake-1", max_retries=0)
        with pytest.raises(openai.InternalServerError, match="ZeroDivisionError"):
            llm.invoke("x")
        assert [type(e) for e in server.errors] == [ZeroDivisionError]


def test_close_is_prompt_with_streams_in_progress() -> None:
    server = FakeOpenAIServer(tokens=1000, token_interval=0.05).start()
    llm = ChatOpenAI(base_url=server.base_url, api_key="k", model="fake-1", max_retries=0)
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            for _ in llm.stream("endless"):
                pass
        except Exception as exc:
            errors.append(exc)

    server.queue(Behavior(stall_after=1))
    clients = [threading.Thread(target=consume) for _ in range(2)]
    for t in clients:
        t.start()
    assert server.wait_for(lambda: server.in_flight == 2)

    server.close()  # returns although both streams stall forever: it cuts them
    for t in clients:
        t.join(60)
    assert not any(t.is_alive() for t in clients)
    assert len(errors) == 2  # both clients saw the connection go away
    assert not [t for t in threading.enumerate() if t.name.startswith("FakeOpenAIServer")]
    assert sorted(r.outcome for r in server.requests) == ["aborted", "aborted"]


def _raw_stream(srv: FakeOpenAIServer, behavior: Behavior, **kwargs: Any) -> httpx.Response:
    """One streaming chat request through plain httpx: the bytes exactly as the server sent."""
    srv.queue(behavior)
    body = {"model": "fake-1", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(f"{srv.base_url}/chat/completions", json=body, timeout=10, **kwargs)


def test_the_new_faults_look_on_the_wire_as_real_servers_send_them(
    srv: FakeOpenAIServer,
) -> None:
    length = _raw_stream(srv, Behavior(finish_reason="content_filter"))
    assert b'"finish_reason":"content_filter"' in length.content
    assert length.content.endswith(b"data: [DONE]\n\n")

    cut = _raw_stream(srv, Behavior(end_after=2))
    assert b"[DONE]" not in cut.content and b'"finish_reason":"stop"' not in cut.content
    assert cut.content.count(b"data: ") == 3  # the role, two tokens, then a clean end

    no_finish = _raw_stream(srv, Behavior(no_finish_reason=True))
    assert b'"finish_reason":"stop"' not in no_finish.content
    assert no_finish.content.endswith(b"data: [DONE]\n\n")

    error = _raw_stream(srv, Behavior(error_event_after=1, error_message="boom"))
    assert b'event: error\ndata: {"message":"boom"}\n\n' in error.content

    whole = _raw_stream(srv, Behavior(json_answer=True))
    assert whole.headers["content-type"] == "application/json"
    assert whole.json()["object"] == "chat.completion"

    moved = _raw_stream(srv, Behavior(redirect=302))
    assert moved.status_code == 302
    assert moved.headers["location"].endswith("/v1/moved/chat/completions")
    after = _raw_stream(srv, Behavior(redirect=303), follow_redirects=True)
    assert (after.status_code, after.request.method) == (405, "GET")

    wrong = _raw_stream(srv, Behavior(wrong_types_after=1))
    assert b'"content":12345' in wrong.content
    array = _raw_stream(srv, Behavior(array_chunk_after=1))
    assert b"data: [1,2,3]\n\n" in array.content
    bad = _raw_stream(srv, Behavior(invalid_utf8_after=1))
    with pytest.raises(UnicodeDecodeError):
        bad.content.decode("utf-8")


def test_a_flood_goes_on_until_the_client_leaves(srv: FakeOpenAIServer) -> None:
    srv.queue(Behavior(flood_after=1, flood_bytes=100_000))
    body = {"model": "fake-1", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    received = 0
    with httpx.stream(
        "POST", f"{srv.base_url}/chat/completions", json=body, timeout=10
    ) as response:
        for data in response.iter_bytes():
            received += len(data)
            if received > 5_000_000:
                break
    assert received > 5_000_000
    assert srv.wait_for(lambda: srv.disconnects == 1, 30)
