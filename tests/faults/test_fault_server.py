"""The test server's fault helpers do what the fault matrix and the soak rely on."""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from tests.support.openai_server import (
    FAULT_MIX,
    Behavior,
    FakeOpenAIServer,
    RandomFaults,
    closed_base_url,
)


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=["fake-1", "fake-2"], tokens=3) as srv:
        yield srv
        assert srv.errors == []


def chat(client: httpx.Client, prompt: str, model: str = "fake-1") -> int:
    body = {"model": model, "messages": [{"role": "user", "content": prompt}]}
    return client.post("/chat/completions", json=body).status_code


def test_route_sends_a_fault_by_prompt_word_or_model_for_as_many_requests_as_listed(
    server: FakeOpenAIServer,
) -> None:
    router = server.route(
        {"boom": Behavior(status=500), "busy": [Behavior(status=429), Behavior(status=503)]},
        models={"fake-2": Behavior(status=401)},
    )
    with httpx.Client(base_url=server.base_url) as client:
        statuses = [
            chat(client, "a boom now"),
            chat(client, "boom again"),
            chat(client, "busy 1"),
            chat(client, "busy 2"),
            chat(client, "busy 3"),  # the list is used up: a normal answer
            chat(client, "quiet", model="fake-2"),
            chat(client, "quiet"),
        ]
    assert statuses == [500, 500, 429, 503, 200, 401, 200]
    assert router.hits == {"boom": 2, "busy": 3, "fake-2": 1}


def test_random_faults_are_seeded_per_prompt_and_hit_the_rate(server: FakeOpenAIServer) -> None:
    faults = RandomFaults(0.05, seed=7)
    prompts = [f"Describe item {i}" for i in range(2000)]
    drawn = Counter(faults.fault_for(p) for p in prompts)
    assert 80 <= 2000 - drawn[None] <= 120
    assert set(drawn) - {None} == set(FAULT_MIX)
    # The same seed gives the same faults, whatever the order the requests arrive in.
    again = RandomFaults(0.05, seed=7)
    assert [again.fault_for(p) for p in reversed(prompts)][::-1] == [
        faults.fault_for(p) for p in prompts
    ]
    server.behave(faults)
    faulty = next(p for p in prompts if faults.fault_for(p) == "500")
    with httpx.Client(base_url=server.base_url) as client:
        assert chat(client, faulty) == 500 and chat(client, faulty) == 500
        assert chat(client, next(p for p in prompts if faults.fault_for(p) is None)) == 200
    assert faults.injected == {"500": 2}
    with pytest.raises(ValueError, match="probability"):
        RandomFaults(1.5)


def test_open_connections_counts_sockets_until_the_client_closes_them(
    server: FakeOpenAIServer,
) -> None:
    assert server.open_connections == 0
    client = httpx.Client(base_url=server.base_url)
    assert chat(client, "hello") == 200
    assert server.open_connections == 1  # kept alive in the client's pool
    client.close()
    assert server.wait_for(lambda: server.open_connections == 0, timeout=30)
    server.reset_stats()  # counts what is open now, not since the last reset
    assert server.open_connections == 0 and server.connections == 0


def test_closed_base_url_has_nothing_listening() -> None:
    port = int(closed_base_url().rsplit(":", 1)[1].split("/")[0])
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("127.0.0.1", port))
