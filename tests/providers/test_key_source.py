"""The provider layer resolves a profile's key reference through the key source it was given.

A profile names its key (``key_ref``), never holds it; the backend, the model builder and the
connection test each ask the source handed to them, so two backends with different sources
send different keys, and a backend without one sends no saved key at all.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gui.core import keys
from gui.core.keys import HeldKeys
from gui.core.runner import Run
from gui.core.spec import Limits, ModelProfile, ProviderKind, make_spec
from gui.providers.backend import LangChainBackend
from gui.providers.connection import check_connection
from gui.providers.models import build_chat_model
from tests.support.openai_server import FakeOpenAIServer

KEY = "sk-from-the-source-7731"


class FakeKeys:
    """A key source that records which references it was asked for."""

    def __init__(self, held: dict[str, str]) -> None:
        self.held = held
        self.asked: list[str] = []

    def resolve(self, ref: str) -> str | None:
        self.asked.append(ref)
        return self.held.get(ref)


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=["fake-1"], api_key=KEY, tokens=4) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _no_default_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def saved(url: str, ref: str = "work") -> ModelProfile:
    return ModelProfile(model="fake-1", provider=ProviderKind.OPENAI, base_url=url, key_ref=ref)


def run_on(url: str, backend: LangChainBackend) -> Run:
    spec = make_spec("Tell me about {topic}", ["owls"], [saved(url)], limits=Limits(retries=0))
    run = Run(spec, backend)
    run.start()
    return run


def test_the_model_is_built_with_the_key_its_source_resolves() -> None:
    source = FakeKeys({"work": KEY})
    model = build_chat_model(saved("https://llm.example/v1"), source)
    assert model.openai_api_key.get_secret_value() == KEY  # type: ignore[attr-defined]
    assert source.asked == ["work"]


def test_a_source_without_the_key_falls_back_to_the_profiles_own_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FANOUT_OWN_CRED", "cred-own-variable-42")
    profile = ModelProfile(
        model="fake-1",
        provider=ProviderKind.OPENAI,
        base_url="https://llm.example/v1",
        key_ref="gone",
        api_key_env="FANOUT_OWN_CRED",
    )
    model = build_chat_model(profile, FakeKeys({}))
    assert model.openai_api_key.get_secret_value() == "cred-own-variable-42"  # type: ignore[attr-defined]


async def test_the_backend_sends_the_key_of_its_own_source(server: FakeOpenAIServer) -> None:
    source = FakeKeys({"work": KEY})
    backend = LangChainBackend(keys=source)
    try:
        summary = await run_on(server.base_url, backend).wait()
    finally:
        await backend.aclose()
    assert summary.done == 1
    assert server.requests[-1].headers["authorization"] == f"Bearer {KEY}"
    assert "work" in source.asked


async def test_a_backend_given_no_source_sends_no_saved_key(server: FakeOpenAIServer) -> None:
    # Another backend holding the key in the same process changes nothing for this one.
    LangChainBackend(keys=HeldKeys({"work": KEY}))
    backend = LangChainBackend()
    try:
        summary = await run_on(server.base_url, backend).wait()
    finally:
        await backend.aclose()
    assert summary.failed == 1
    assert server.requests[-1].headers.get("authorization") != f"Bearer {KEY}"


async def test_the_connection_test_asks_the_source_it_is_given(server: FakeOpenAIServer) -> None:
    source = FakeKeys({"work": KEY})
    report = await check_connection(saved(server.base_url), source)
    assert report.ok, report.message
    assert source.asked == ["work"]
    refused = await check_connection(saved(server.base_url), FakeKeys({}))
    assert not refused.ok and "HTTP 401" in refused.message


def test_a_key_resolved_from_any_source_is_masked_from_then_on() -> None:
    secret = "sk-only-the-fake-knows-0193"
    assert keys.redact(f"quoted {secret}") == f"quoted {secret}"
    keys.api_key_for(saved("https://llm.example/v1", "x"), FakeKeys({"x": secret}))
    assert keys.redact(f"quoted {secret}") == "quoted ***"
