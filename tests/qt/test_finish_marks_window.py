"""How an answer ended, seen in the window: marked when the server cut it, failed when it was cut off.

One run against the test server: an answer cut at max tokens and one stopped by the content
filter are done and say so on their metrics line; an answer whose stream ended without the
server saying it had finished is failed as cut off, its partial text kept; a normal answer
carries no mark; a whole JSON answer sent to a streaming request is done and its footer says it
was not streamed. The history holds each finish reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from gui.core.spec import CellId, Limits, ModelProfile, ProviderKind, Strategy
from gui.providers.backend import NOT_STREAMED_NOTE
from gui.qt.main_window import MainWindow
from tests.support.openai_server import Behavior, FakeOpenAIServer

from .conftest import SESSION_LOOP, signal_future

pytestmark = SESSION_LOOP

ROUTES = {
    "capped": Behavior(finish_reason="length"),
    "filtered": Behavior(finish_reason="content_filter"),
    "truncated": Behavior(end_after=3),
    "whole": Behavior(json_answer=True),
}


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=["fake-1"], tokens=8, token_interval=0.005) as srv:
        srv.route(ROUTES)
        yield srv


async def test_each_pane_says_how_its_answer_ended(
    window: MainWindow, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    topics = ["capped", "filtered", "truncated", "fine", "whole"]
    window.prompt.set_template("Tell me about {topic}")
    window.inputs.set_variables(["topic"])
    window.inputs.set_rows([{"topic": t} for t in topics])
    window.models.set_profiles(
        [ModelProfile(model="fake-1", provider=ProviderKind.OPENAI, base_url=server.base_url)]
    )
    window.limits.set_strategy(Strategy.STREAM)
    window.limits.set_limits(Limits(retries=0))
    finished = signal_future(window.run_finished)
    run = window.start_run()
    assert run is not None
    summary = (await asyncio.wait_for(finished, 60))[0]
    assert (summary.done, summary.failed) == (4, 1)

    def footer(row: int) -> str:
        pane = window.grid.scroll_to_cell(CellId.text(row, 0))
        assert pane is not None
        return pane.metrics_text()

    assert window.grid.cell_status("r0m0") == "done"
    assert footer(0).startswith("cut at max tokens · ")
    assert window.grid.cell_status("r1m0") == "done"
    assert footer(1).startswith("stopped by the content filter · ")
    assert window.grid.cell_status("r2m0") == "failed"
    assert "the answer is cut off" in window.grid.cell_error("r2m0")
    assert window.grid.cell_text("r2m0")  # the partial text stays
    assert window.grid.cell_status("r3m0") == "done"
    assert not footer(3).startswith(("cut", "stopped", "not streamed"))
    # A whole JSON answer to a streaming request is kept, and the footer says how it came.
    assert window.grid.cell_status("r4m0") == "done" and window.grid.cell_text("r4m0")
    assert footer(4).startswith(f"{NOT_STREAMED_NOTE} · ")

    history = window.services.history.history
    assert history is not None
    await asyncio.to_thread(history.flush)
    stored = await asyncio.to_thread(history.get_run, run.id)
    assert stored is not None
    reasons = []
    for row in range(4):
        cell = stored.cell(CellId.text(row, 0))
        assert cell is not None and cell.metrics is not None
        reasons.append(cell.metrics.finish_reason)
    assert reasons == ["length", "content_filter", None, "stop"]
    assert stored.cell("r2m0") is not None and stored.cell("r2m0").error_kind == "cut_off"


async def test_a_pane_replayed_from_the_cache_says_what_the_original_said(
    window: MainWindow, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    topics = ["capped", "filtered", "whole", "fine"]
    window.prompt.set_template("Tell me about {topic}")
    window.inputs.set_variables(["topic"])
    window.inputs.set_rows([{"topic": t} for t in topics])
    window.models.set_profiles(
        [ModelProfile(model="fake-1", provider=ProviderKind.OPENAI, base_url=server.base_url)]
    )
    window.limits.set_strategy(Strategy.STREAM)
    window.limits.set_limits(Limits(retries=0, cache=True))

    def footers() -> list[str]:
        shown = []
        for row in range(len(topics)):
            pane = window.grid.scroll_to_cell(CellId.text(row, 0))
            assert pane is not None
            shown.append(pane.metrics_text())
        return shown

    marks = ("cut at max tokens · ", "stopped by the content filter · ", f"{NOT_STREAMED_NOTE} · ")
    for replay in (False, True):
        finished = signal_future(window.run_finished)
        run = window.start_run()
        assert run is not None
        summary = (await asyncio.wait_for(finished, 60))[0]
        assert summary.done == 4
        shown = [f.removeprefix("cached · ") if replay else f for f in footers()]
        for footer, mark in zip(shown, marks, strict=False):
            assert footer.startswith(mark), shown
        assert not shown[3].startswith(("cut", "stopped", "not streamed"))
        store = window.results.store
        assert all(
            store.peek(CellId.text(r, 0)).metrics.cached is replay  # type: ignore[union-attr]
            for r in range(len(topics))
        )
    history = window.services.history.history
    assert history is not None
    await asyncio.to_thread(history.flush)
    stored = await asyncio.to_thread(history.get_run, run.id)
    assert stored is not None
    replayed = [stored.cell(CellId.text(r, 0)).metrics for r in range(3)]  # type: ignore[union-attr]
    assert [(m.finish_reason, m.note) for m in replayed] == [  # type: ignore[union-attr]
        ("length", None),
        ("content_filter", None),
        ("stop", NOT_STREAMED_NOTE),
    ]
