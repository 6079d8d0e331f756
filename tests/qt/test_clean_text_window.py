"""Text that is not clean Unicode, seen in the window: shown replaced, and the pane says so.

A server answers one input with a lone surrogate (a JSON ``"\\ud800"`` escape). Qt would drop
it without a word; the pane shows U+FFFD instead and its footer carries the notice the CLI,
the JSON and the exports carry. Opened again from the history, the past run's pane says the
same, from the notice stored with the cell.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from gui.core.cleantext import REPLACED_NOTICE
from gui.core.spec import Limits, ModelProfile, ProviderKind, Strategy
from gui.qt.main_window import MainWindow
from tests.support.openai_server import Behavior, FakeOpenAIServer, RequestInfo

from .conftest import SESSION_LOOP, signal_future, until

pytestmark = SESSION_LOOP

SURROGATE = "half \ud800 pair"


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=["fake-1"], tokens=4, token_interval=0.005) as srv:

        def answer(req: RequestInfo) -> Behavior:
            if "surrogate" in req.last_user_text:
                return Behavior(text=SURROGATE, tokens=3)
            return Behavior(text="a clean answer", tokens=3)

        srv.behave(answer)
        yield srv


def footer(window: MainWindow, cell_id: str) -> str:
    pane = window.grid.pane(cell_id)
    assert pane is not None
    return pane.metrics_text()


@pytest.mark.parametrize("strategy", [Strategy.STREAM, Strategy.GATHER])
async def test_a_replaced_character_is_shown_and_said_live_and_in_the_past_run(
    window: MainWindow,
    server: FakeOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
    strategy: Strategy,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    window.prompt.set_template("Say {topic}")
    window.inputs.set_variables(["topic"])
    window.inputs.set_rows([{"topic": "surrogate"}, {"topic": "plain"}])
    window.models.set_profiles(
        [ModelProfile(model="fake-1", provider=ProviderKind.OPENAI, base_url=server.base_url)]
    )
    window.limits.set_strategy(strategy)
    window.limits.set_limits(Limits(retries=0))
    finished = signal_future(window.run_finished)
    run = window.start_run()
    assert run is not None
    summary = (await asyncio.wait_for(finished, 60))[0]
    assert summary.done == 2

    assert window.grid.cell_text("r0m0") == "half \ufffd pair"  # not "half  pair"
    assert footer(window, "r0m0").startswith(f"{REPLACED_NOTICE} · ")
    assert window.grid.cell_text("r1m0") == "a clean answer"
    assert REPLACED_NOTICE not in footer(window, "r1m0")

    history = window.services.history.history
    assert history is not None
    await asyncio.to_thread(history.flush)
    stored = await asyncio.to_thread(history.get_run, run.id)
    assert stored is not None
    window.grid.clear_grid()
    assert window.show_past_run(stored)
    await until(lambda: window.grid.is_read_only() and window.grid.cell_status("r0m0") == "done")
    assert window.grid.cell_text("r0m0") == "half \ufffd pair"
    assert footer(window, "r0m0").startswith(f"{REPLACED_NOTICE} · ")
    assert REPLACED_NOTICE not in footer(window, "r1m0")
    window.results.close_requested.emit()
