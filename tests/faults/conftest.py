"""Fixtures of the fault matrix: one test server per test, a key for its columns."""

from __future__ import annotations

import gc
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


@pytest.fixture(autouse=True, scope="module")
def _no_garbage_from_earlier_tests() -> None:
    """Collect what earlier test modules left (an unclosed transport of theirs, say) before
    ours run, so that `tests.faults.checks.loop_problems` sees only what our runs leave."""
    gc.collect()
