""" "Test connection": the server's model list, or one line saying what is wrong."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from gui.core.keys import HeldKeys
from gui.core.spec import ModelProfile, ProviderKind
from gui.providers.connection import check_connection
from tests.support.openai_server import FakeOpenAIServer, unused_port


def openai(url: str, model: str = "fake-1", **kw: object) -> ModelProfile:
    return ModelProfile(model=model, provider=ProviderKind.OPENAI, base_url=url, **kw)  # type: ignore[arg-type]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=["fake-2", "fake-1"], api_key="sk-right") as srv:
        yield srv


async def test_a_working_server_lists_its_models(server: FakeOpenAIServer) -> None:
    report = await check_connection(
        openai(server.base_url, key_ref="t"), HeldKeys({"t": "sk-right"})
    )
    assert report.ok and report.models == ("fake-1", "fake-2")
    assert report.message == f"Connected to 127.0.0.1:{server.port}: 2 models."


async def test_a_model_the_server_does_not_have_is_pointed_out(server: FakeOpenAIServer) -> None:
    report = await check_connection(
        openai(server.base_url, "llama9", key_ref="t"), HeldKeys({"t": "sk-right"})
    )
    assert report.ok and "'llama9' is not one of them" in report.message


async def test_a_wrong_key_is_refused_in_words_and_never_echoed(server: FakeOpenAIServer) -> None:
    report = await check_connection(
        openai(server.base_url, key_ref="t"), HeldKeys({"t": "sk-wrong-123456"})
    )
    assert not report.ok and "refused the request (HTTP 401): check the key" in report.message
    assert "sk-wrong" not in report.message


async def test_no_key_at_all_says_where_to_put_one(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    report = await check_connection(openai(server.base_url))
    assert (
        not report.ok and "no key is set" in report.message and "$OPENAI_API_KEY" in report.message
    )


async def test_nothing_listening() -> None:
    report = await check_connection(openai(f"http://127.0.0.1:{unused_port()}/v1"))
    assert not report.ok and report.message.startswith("Nothing answers at 127.0.0.1:")


async def test_a_base_url_without_v1_is_a_404_with_the_fix(server: FakeOpenAIServer) -> None:
    report = await check_connection(openai(server.base_url.removesuffix("/v1") + "/api"))
    assert not report.ok and "HTTP 404" in report.message and "ends in /v1" in report.message


async def test_a_web_server_that_is_not_an_openai_api(html_server: str) -> None:
    report = await check_connection(openai(html_server))
    assert not report.ok and "not like an OpenAI-compatible server" in report.message


async def test_a_server_that_never_answers_times_out() -> None:
    quiet = socket.socket()
    quiet.bind(("127.0.0.1", 0))
    quiet.listen(1)  # accepts the connection, never answers
    try:
        port = quiet.getsockname()[1]
        report = await asyncio.wait_for(
            check_connection(openai(f"http://127.0.0.1:{port}/v1"), wait_s=0.3), 5
        )
    finally:
        quiet.close()
    assert not report.ok and "did not answer within 0.3 s" in report.message


async def test_the_simulated_model_is_always_there() -> None:
    report = await check_connection(ModelProfile(model="sim-1"))
    assert report.ok and report.models == ("sim-1",)
