"""Cancelling a streaming run, 20 times in a row, leaves nothing behind.

The user presses Esc while six answers stream; then again on the next run, twenty times, on one
backend as the window keeps it. Every time each cell must end cancelled at once with its partial
text, and the server must see every stream closed. At the end: no engine task, no open socket,
no live async generator, nothing for the loop's exception handler ("Task was destroyed but it
is pending", an unretrieved exception), no warning (ResourceWarning for an unclosed transport
included, after a full collection).
"""

from __future__ import annotations

import asyncio
import gc

import pytest

from gui.core import events as ev
from gui.core.runner import CANCELLED_BY_USER, Run
from gui.core.spec import Limits, ModelProfile, ProviderKind, Strategy, make_spec
from gui.providers.backend import LangChainBackend
from gui.storage.history import History
from tests.faults.checks import check_accounted, fanout_tasks, loop_problems, sockets_closed
from tests.support.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.timeout(60)

ROUNDS = 20


def live_async_generators() -> int:
    """Async generators started on this loop and not finalised yet (asyncio's own registry)."""
    return len(getattr(asyncio.get_running_loop(), "_asyncgens", ()))


async def test_cancelling_mid_stream_20_times_leaves_nothing(server: FakeOpenAIServer) -> None:
    server.default.tokens = 300  # ~3 s per answer: every round is cut mid-stream
    server.default.token_interval = 0.01
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
        ["cats", "dogs", "owls"],
        models,
        Strategy.STREAM,
        Limits(max_concurrency=6, ttft_timeout=10, idle_timeout=10),
    )
    history = History.open()
    backend = LangChainBackend()
    with loop_problems() as problems:
        for round_ in range(ROUNDS):
            run = Run(spec, backend)
            events: list[ev.Event] = []
            run.subscribe(events.append)
            run.subscribe(history.recorder())
            run.start()
            flowing = await server.await_for(
                lambda run=run: all(run.partial_text(c.id) for c in run.cells), timeout=30
            )
            assert flowing, f"round {round_}: text did not flow in every cell"
            run.cancel()
            summary = await asyncio.wait_for(run.wait(), 60)
            assert summary.cancelled == 6 and summary.cancelled_by_user
            for cell in run.cells:
                end = [e for e in events if isinstance(e, ev.TERMINAL) and e.cell_id == cell.id]
                assert len(end) == 1 and isinstance(end[0], ev.CellCancelled)
                assert end[0].reason == CANCELLED_BY_USER and end[0].partial_text
            assert fanout_tasks() == []
            # Each stream is closed at the server, not left for the pool or the GC to find.
            assert await server.await_for(lambda: server.in_flight == 0, timeout=30)
            assert history.flush()
            check_accounted(summary, events, history.get_run(run.id), 6)
        assert server.disconnects == 6 * ROUNDS
        await backend.aclose()
        assert await sockets_closed(server)
        gc.collect()
        assert live_async_generators() == 0
    history.close()
    assert problems == []
