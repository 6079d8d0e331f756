"""A misbehaving server, seen in the window: every pane ends in one state, the window never stutters.

One run against the test server where each input row triggers another fault (rate limit then
success, server errors, a dropped stream, a stall, malformed SSE, an empty stream) next to a
column whose server is not listening. Every cell must end visibly with a one-line reason,
partial text must stay, the history must hold every cell, and the lag meter must keep beating
while it all happens (its figures are a ``fanout-studio bench`` target, not a test's).

The stalled row needs a timeout to end; it is 5 s, far above what a normal answer takes here
even on a machine running at a quarter of its speed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from gui.core.spec import CellId, ErrorPolicy, Limits, ModelProfile, ProviderKind, Strategy
from gui.qt.main_window import MainWindow
from tests.support.openai_server import Behavior, FakeOpenAIServer, RequestInfo, unused_port

from .conftest import SESSION_LOOP, signal_future, until

pytestmark = SESSION_LOOP

#: Row topic -> what the server does with that prompt (``None``: a normal answer).
FAULTS: dict[str, Behavior | None] = {
    "fine": None,
    "ratelimited": Behavior(status=429, retry_after=0.2),  # first attempt only, see below
    "broken": Behavior(status=500),
    "dropped": Behavior(drop_after=3, token_interval=0.01),
    "stalled": Behavior(stall_after=2, token_interval=0.01),
    "garbled": Behavior(malformed_after=2, token_interval=0.01),
}

#: What each row must end as: grid status, stored error kind, words of the message.
EXPECTED: dict[str, tuple[str, str | None, str]] = {
    "fine": ("done", None, ""),
    "ratelimited": ("done", None, ""),
    "broken": ("failed", "server_error", "server error (500)"),
    "dropped": ("failed", "cut_off", "dropped"),
    "stalled": ("failed", "timeout", "5 s"),
    "garbled": ("failed", "bad_response", "malformed"),
}


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    seen: set[str] = set()
    lock = threading.Lock()

    def behave(req: RequestInfo) -> Behavior | None:
        topic = next((t for t in FAULTS if t in req.last_user_text), "fine")
        if topic == "ratelimited":
            with lock:
                first = topic not in seen
                seen.add(topic)
            return FAULTS[topic] if first else None
        return FAULTS[topic]

    with FakeOpenAIServer(models=["fake-1"], tokens=8, token_interval=0.005) as srv:
        srv.behave(behave)
        yield srv


def setup(
    win: MainWindow, server: FakeOpenAIServer, policy: ErrorPolicy, topics: list[str]
) -> None:
    live = ModelProfile(
        model="fake-1", provider=ProviderKind.OPENAI, base_url=server.base_url, label="live"
    )
    gone = ModelProfile(
        model="fake-1",
        provider=ProviderKind.OPENAI,
        base_url=f"http://127.0.0.1:{unused_port()}/v1",
        label="nowhere",
    )
    win.prompt.set_template("Tell me about {topic}")
    win.inputs.set_variables(["topic"])
    win.inputs.set_rows([{"topic": t} for t in topics])
    win.models.set_profiles([live, gone])
    win.limits.set_strategy(Strategy.STREAM)
    win.limits.set_limits(
        Limits(
            max_concurrency=6,
            ttft_timeout=5.0,
            idle_timeout=5.0,
            retries=1,
            backoff_base=0.05,
            backoff_max=1.0,
            error_policy=policy,
        )
    )


async def test_every_fault_ends_its_pane_visibly_and_the_window_keeps_up(
    window: MainWindow, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    topics = list(FAULTS)
    setup(window, server, ErrorPolicy.ISOLATE, topics)
    finished = signal_future(window.run_finished)
    run = window.start_run()
    assert run is not None
    summary = (await asyncio.wait_for(finished, 60))[0]

    assert summary.total == 12 and summary.done + summary.failed + summary.cancelled == 12
    assert summary.done == 2 and summary.failed == 10
    history = window.services.history.history
    assert history is not None
    await asyncio.to_thread(history.flush)
    stored = await asyncio.to_thread(history.get_run, run.id)
    assert stored is not None and len(stored.cells) == 12

    for row, topic in enumerate(topics):
        status, kind, words = EXPECTED[topic]
        cell_id = CellId.text(row, 0)
        assert window.grid.cell_status(cell_id) == status, topic
        error = window.grid.cell_error(cell_id)
        assert "\n" not in error and words in error, (topic, error)
        saved = stored.cell(cell_id)
        assert saved is not None and saved.status == status and saved.error_kind == kind, topic
        # The column whose server is not listening fails every row with where it tried.
        gone = window.grid.cell_error(CellId.text(row, 1))
        assert window.grid.cell_status(CellId.text(row, 1)) == "failed"
        assert "cannot connect" in gone or "connection" in gone, gone
    dropped = window.grid.cell_source_text(CellId.text(topics.index("dropped"), 0))
    assert dropped and stored.cell(CellId.text(topics.index("dropped"), 0)).text == dropped  # type: ignore[union-attr]
    assert window.progress.value() == 12

    assert window.lag.stats().samples > 20  # the meter kept beating while the server misbehaved


async def test_fail_fast_cancels_the_siblings_promptly(
    window: MainWindow, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    server.default.token_interval = 3.0  # the good cells would stream for ~20 s
    setup(window, server, ErrorPolicy.FAIL_FAST, ["fine", "broken", "fine again"])
    window.models.set_profiles(window.models.profiles()[:1])
    finished = signal_future(window.run_finished)
    run = window.start_run()
    assert run is not None
    summary = (await asyncio.wait_for(finished, 60))[0]
    assert summary.failed == 1 and summary.cancelled == 2
    for cell_id in ("r0m0", "r2m0"):
        assert window.grid.cell_status(cell_id) == "cancelled"
        assert "fail fast" in window.grid.cell_error(cell_id)
    await until(
        lambda: (
            not [
                t
                for t in asyncio.all_tasks()
                if t.get_name().startswith("fanout-cell") and not t.done()
            ]
        )
    )


async def test_cancelling_twenty_runs_in_a_row_mid_stream_leaves_nothing_behind(
    window: MainWindow, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc
    import warnings

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    server.default.token_interval = 0.05
    server.default.tokens = 200  # ~10 s per answer: every run is cut mid-stream
    setup(window, server, ErrorPolicy.ISOLATE, ["a", "b", "c"])
    window.models.set_profiles(window.models.profiles()[:1])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(20):
            finished = signal_future(window.run_finished)
            run = window.start_run()
            assert run is not None
            await until(lambda: all(window.grid.cell_text(CellId.text(r, 0)) for r in range(3)))
            window.cancel_action.trigger()  # Esc
            summary = (await asyncio.wait_for(finished, 60))[0]
            assert summary.cancelled == 3 and summary.cancelled_by_user
            assert all(
                window.grid.cell_text(CellId.text(r, 0)) for r in range(3)
            )  # partial text kept
        await until(lambda: server.in_flight == 0)  # every stream closed at the server
        gc.collect()
    assert server.disconnects == 60
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("fanout-cell")]
    assert [str(w.message) for w in caught] == []


async def test_an_error_event_read_together_with_done_fails_its_pane(
    window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Connection: close framing: the error event and [DONE] come in one read, and the SDK
    # stops at [DONE]; the pane must still fail with the server's message, not say done.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with FakeOpenAIServer(
        models=["fake-1"], tokens=8, token_interval=0.005, stream_framing="close"
    ) as server:
        server.behave(
            lambda req: (
                Behavior(error_event_after=2, error_message="CUDA out of memory")
                if "oom" in req.last_user_text
                else None
            )
        )
        setup(window, server, ErrorPolicy.ISOLATE, ["oom", "fine"])
        window.models.set_profiles(window.models.profiles()[:1])
        finished = signal_future(window.run_finished)
        run = window.start_run()
        assert run is not None
        summary = (await asyncio.wait_for(finished, 60))[0]
    assert summary.done == 1 and summary.failed == 1
    assert window.grid.cell_status("r0m0") == "failed"
    error = window.grid.cell_error("r0m0")
    assert "reported an error mid-answer: CUDA out of memory" in error, error
    assert window.grid.cell_source_text("r0m0")  # the text before the error is kept
    assert window.grid.cell_status("r1m0") == "done"
    history = window.services.history.history
    assert history is not None
    await asyncio.to_thread(history.flush)
    stored = await asyncio.to_thread(history.get_run, run.id)
    assert stored is not None
    saved = stored.cell("r0m0")
    assert saved is not None and saved.status == "failed" and saved.error_kind == "server_error"
