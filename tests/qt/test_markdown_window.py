"""Answers read as Markdown in the window: rendered while they stream, code copied in one
click, the source one toggle away.

A local OpenAI-compatible server streams known Markdown; one answer stops mid-way (the
server holds the rest), so what the pane shows before the end can be checked.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QUrl
from PySide6.QtGui import QGuiApplication

from gui.core.spec import Limits, ModelProfile, ProviderKind, Strategy
from gui.qt.main_window import MainWindow
from gui.qt.widgets.cell_pane import CellPane
from tests.support.openai_server import Behavior, FakeOpenAIServer, RequestInfo

from .conftest import SESSION_LOOP, signal_future, until

pytestmark = SESSION_LOOP

TABLE_FIRST = "A comparison:\n\n| model | speed |\n|---|---|\n| small | fast |\n\nThen"
HELD_BACK = " the rest of the answer, which the server keeps for itself."
CODE = "def square(x):\n    return x * x\n"
WITH_CODE = f"Use this:\n\n```python\n{CODE}```\n\nThat is **all**."


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=["fake-1"], token_interval=0.002) as srv:

        def answer(req: RequestInfo) -> Behavior:
            if "table" in req.last_user_text:
                # Every word up to "Then", and no more until the client goes away.
                sent = len(re.findall(r"\s*\S+", TABLE_FIRST))
                return Behavior(text=TABLE_FIRST + HELD_BACK, stall_after=sent)
            return Behavior(text=WITH_CODE)

        srv.behave(answer)
        yield srv


def start(window: MainWindow, server: FakeOpenAIServer, topics: list[str]) -> None:
    window.prompt.set_template("Write about {topic}")
    window.inputs.set_variables(["topic"])
    window.inputs.set_rows([{"topic": t} for t in topics])
    window.models.set_profiles(
        [ModelProfile(model="fake-1", provider=ProviderKind.OPENAI, base_url=server.base_url)]
    )
    window.limits.set_strategy(Strategy.STREAM)
    window.limits.set_limits(Limits(retries=0))


def pane(window: MainWindow, cell_id: str) -> CellPane:
    found = window.grid.pane(cell_id)
    assert found is not None
    return found


def tables(cell: CellPane) -> int:
    return len(cell.view().document().rootFrame().childFrames())


async def test_a_table_appears_in_the_pane_before_the_answer_ends(
    window: MainWindow, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    start(window, server, ["a table"])
    finished = signal_future(window.run_finished)
    assert window.start_run() is not None
    await until(lambda: "Then" in window.grid.cell_source_text("r0m0"))  # all the server sends
    cell = pane(window, "r0m0")
    await until(lambda: "small" in cell.text())
    assert window.grid.cell_status("r0m0") == "streaming"  # the answer has not ended
    assert tables(cell) == 1 and "|" not in cell.text()  # a table: cells, not pipes
    window.cancel_all()
    await asyncio.wait_for(finished, 60)


async def test_code_copies_exactly_and_the_raw_toggle_shows_the_source(
    window: MainWindow, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    start(window, server, ["code"])
    finished = signal_future(window.run_finished)
    assert window.start_run() is not None
    summary = (await asyncio.wait_for(finished, 60))[0]
    assert summary.done == 1
    cell = pane(window, "r0m0")
    assert cell.source_text() == WITH_CODE
    assert "```" not in cell.text() and "**" not in cell.text()
    cell.view().anchorClicked.emit(QUrl("copy:0"))  # the Copy link above the code
    assert QGuiApplication.clipboard().text() == CODE
    window.grid.set_raw(True)
    assert cell.text() == WITH_CODE
    window.grid.set_raw(False)
    assert "```" not in cell.text()


async def test_the_results_raw_text_action_switches_every_answer(window: MainWindow) -> None:
    grid = window.grid
    grid.set_grid(["x"], ["m"], [["c"]])
    grid.set_final_text("c", "# Title")
    window.results.raw_action.setChecked(True)
    assert grid.is_raw() and grid.cell_text("c") == "# Title"
    window.results.raw_action.setChecked(False)
    assert not grid.is_raw() and grid.cell_text("c") == "Title"
