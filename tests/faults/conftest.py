"""Fixtures of the fault matrix: one test server per test, a key for its columns."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.cases import INTERVAL, TOKENS
from tests.support.openai_server import FakeOpenAIServer


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    """The OpenAI-compatible test server, answering ``TOKENS`` tokens ``INTERVAL`` s apart."""
    with FakeOpenAIServer(
        models=["fake-1", "fake-2"], tokens=TOKENS, token_interval=INTERVAL
    ) as srv:
        yield srv
        assert srv.errors == []


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FANOUT_TEST_KEY", "sk-test")
