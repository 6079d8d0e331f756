"""Focus, Row compare and Diff in the window, as a reader uses them on a real run.

The cells are answered by an OpenAI-compatible server on 127.0.0.1, so what Focus shows as
sent can be compared with what the server received.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QToolButton
from pytestqt.qtbot import QtBot

from gui.core.runner import Phase, Run
from gui.core.spec import Limits, ModelProfile, ProviderKind
from gui.qt.main_window import MainWindow
from tests.support.openai_server import Behavior, FakeOpenAIServer, RequestInfo

from .conftest import SESSION_LOOP, signal_future, until

pytestmark = SESSION_LOOP

SYSTEM = "You are terse. Use {{braces}} for {topic} only if asked."
TOPICS = ["tides", "rain"]
MODELS = ["fake-1", "fake-2"]
STALLED = "hail"  # its answers send four tokens, then nothing until the run is cancelled
HAIL = "Hail forms in storm clouds when updrafts carry raindrops up into cold air."


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=MODELS, tokens=6, token_interval=0.005) as srv:

        def answer(req: RequestInfo) -> Behavior:
            if STALLED in req.last_user_text:
                return Behavior(text=HAIL, tokens=8, stall_after=4)
            topic = req.last_user_text.rsplit(" ", 1)[-1]
            return Behavior(
                text=f"# {topic} by {req.model}\n\nSome **{topic}** facts from {req.model}.",
                tokens=6,
            )

        srv.behave(answer)
        yield srv


@pytest_asyncio.fixture(loop_scope="session")
async def window(qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[MainWindow]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    win = MainWindow()
    win.resize(1360, 860)
    win.show()
    qtbot.waitExposed(win)
    win.results.set_layout("tiles")
    await win.ensure_history()
    await win.history_panel.wait_idle()
    yield win
    await win.shutdown()
    win.close()
    win.deleteLater()


def set_up(window: MainWindow, server: FakeOpenAIServer, topics: list[str]) -> None:
    window.prompt.set_template("Tell me about {topic}")
    window.prompt.set_system(SYSTEM)
    window.inputs.set_variables(["topic"])
    window.inputs.set_rows([{"topic": t} for t in topics])
    window.models.set_profiles(
        [
            ModelProfile(model=m, provider=ProviderKind.OPENAI, base_url=server.base_url)
            for m in MODELS
        ]
    )
    window.limits.set_limits(Limits().changed(retries=0, timeout=60))


async def run_to_end(window: MainWindow) -> Run:
    finished = signal_future(window.run_finished)
    run = window.start_run()
    assert run is not None
    await asyncio.wait_for(finished, 60)
    return run


def received(server: FakeOpenAIServer, model: str, topic: str) -> list[tuple[str, str]]:
    """The messages the server got for ``model`` about ``topic``."""
    for request in server.requests:
        if request.model == model and request.last_user_text.endswith(f" {topic}"):
            return [(m["role"], m["content"]) for m in request.messages]
    raise AssertionError(f"no request of {model} about {topic}")


def press(qtbot: QtBot, key: Qt.Key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    target = QApplication.focusWidget()
    assert target is not None
    qtbot.keyClick(target, key, modifier)


async def activate(qtbot: QtBot, window: MainWindow, cell_id: str) -> None:
    """Enter on a tile, as a keyboard user opens a cell."""
    tiles = window.results.tiles
    window.results.set_layout("tiles")
    window.activateWindow()
    tiles.setFocus()
    await until(lambda: tiles.hasFocus())
    tiles.set_current_cell(cell_id)
    press(qtbot, Qt.Key.Key_Return)


def ctrl_click(qtbot: QtBot, window: MainWindow, cell_id: str) -> None:
    tiles = window.results.tiles
    rect = tiles.tile_rect(cell_id)
    assert rect is not None
    qtbot.mouseClick(
        tiles.viewport(),
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.ControlModifier,
        rect.center(),
    )


async def test_enter_on_a_tile_focuses_it_with_the_messages_the_server_received(
    qtbot: QtBot, window: MainWindow, server: FakeOpenAIServer
) -> None:
    set_up(window, server, TOPICS)
    run = await run_to_end(window)
    results, focus = window.results, window.results.focus
    await activate(qtbot, window, "r1m1")
    assert results.current_layout() == "focus"
    assert focus.cell_id() == "r1m1" and focus.title() == "rain × fake-2"
    assert focus.messages() == received(server, "fake-2", "rain")
    assert focus.messages() == [
        ("system", "You are terse. Use {braces} for rain only if asked."),
        ("user", "Tell me about rain"),
    ]
    assert focus.status_text() == "done"
    assert focus.answer_view().source() == results.store.source_text("r1m1")
    assert focus.metric_values()["Attempts"] == "1"
    assert focus.metric_values()["Finish reason"] == "stop"
    # Along the row, then up the column, each with what was sent for it.
    press(qtbot, Qt.Key.Key_Left)
    assert focus.cell_id() == "r1m0"
    assert focus.messages() == received(server, "fake-1", "rain")
    press(qtbot, Qt.Key.Key_Up)
    assert focus.cell_id() == "r0m0"
    assert focus.messages() == received(server, "fake-1", "tides")
    press(qtbot, Qt.Key.Key_PageDown)
    press(qtbot, Qt.Key.Key_Right)
    assert focus.cell_id() == "r1m1"
    press(qtbot, Qt.Key.Key_Up)
    press(qtbot, Qt.Key.Key_Escape)
    assert results.current_layout() == "tiles"
    assert results.tiles.current_cell() == "r0m1"  # the overview shows where the reader was

    # A past run shows the messages of its stored spec.
    history = window.services.history.history
    assert history is not None
    await asyncio.to_thread(history.flush)
    stored = await asyncio.to_thread(history.get_run, run.id)
    assert stored is not None
    window.prompt.set_system("Something else entirely.")
    assert window.show_past_run(stored)
    await until(lambda: results.store.is_read_only())
    await activate(qtbot, window, "r0m1")
    assert focus.messages() == received(server, "fake-2", "tides")
    results.close_requested.emit()
    await until(lambda: results.current_layout() == "tiles")


async def test_a_cell_keeps_streaming_while_in_focus(
    qtbot: QtBot, window: MainWindow, server: FakeOpenAIServer
) -> None:
    set_up(window, server, [STALLED])
    finished = signal_future(window.run_finished)
    run = window.start_run()
    assert run is not None
    # Focused before any text has arrived (no frame has been drawn since the start).
    await activate(qtbot, window, "r0m0")
    focus = window.results.focus
    assert focus.cell_id() == "r0m0" and focus.answer_view().source() == ""
    await until(lambda: focus.status_text() == "streaming")
    # Every piece that arrived is in the focused view, as the server sent it so far.
    await until(lambda: bool(server.requests) and server.requests[0].tokens_sent == 4)
    store = window.results.store
    await until(lambda: focus.answer_view().source() == store.source_text("r0m0") != "")
    window.cancel_all()
    await asyncio.wait_for(finished, 60)
    assert focus.status_text() == "cancelled"
    shown = focus.answer_view().source()
    assert shown == store.source_text("r0m0")
    assert HAIL.startswith(shown) and len(shown) < len(HAIL)
    assert window.results.current_layout() == "focus"  # Cancel all did not leave it


async def test_compare_row_from_focus_then_esc_back_twice(
    qtbot: QtBot, window: MainWindow, server: FakeOpenAIServer
) -> None:
    set_up(window, server, TOPICS)
    await run_to_end(window)
    results = window.results
    await activate(qtbot, window, "r1m0")
    compare = next(b for b in results.focus.findChildren(QToolButton) if b.text() == "Compare row")
    compare.click()
    row = results.row_compare
    assert results.current_layout() == "row" and row.row() == 1
    store = results.store
    assert [row.answer_view(c).source() for c in range(2)] == [
        store.source_text("r1m0"),
        store.source_text("r1m1"),
    ]
    assert [row.column_label(c) for c in range(2)] == MODELS
    assert results.visible_cells() == 2
    row.answer_view(1).setFocus()
    press(qtbot, Qt.Key.Key_Escape)
    assert results.current_layout() == "focus"
    press(qtbot, Qt.Key.Key_Escape)
    assert results.current_layout() == "tiles"


async def test_two_selected_cells_open_in_the_diff_page(
    qtbot: QtBot, window: MainWindow, server: FakeOpenAIServer
) -> None:
    set_up(window, server, TOPICS)
    await run_to_end(window)
    results = window.results
    assert not results.diff_action.isEnabled()
    ctrl_click(qtbot, window, "r0m0")
    ctrl_click(qtbot, window, "r0m1")
    assert results.selection() == ["r0m0", "r0m1"]
    assert results.diff_action.isEnabled()
    shown = signal_future(results.diff_page.view.diff_shown)
    results.diff_action.trigger()
    assert results.current_layout() == "diff"
    assert results.diff_page.cells() == ("r0m0", "r0m1")
    await asyncio.wait_for(shown, 30)
    view = results.diff_page.view
    assert view.side(0).toPlainText() == results.store.source_text("r0m0")
    assert view.side(1).toPlainText() == results.store.source_text("r0m1")
    # The answers differ only in the model's name, twice: "fake-1" against "fake-2".
    assert view.marked(0) == ["1", "1"] and view.marked(1) == ["2", "2"]
    view.side(0).setFocus()
    press(qtbot, Qt.Key.Key_Escape)
    assert results.current_layout() == "tiles"


async def test_diff_with_from_a_panes_menu_diffs_against_the_next_cell_selected(
    window: MainWindow, server: FakeOpenAIServer
) -> None:
    set_up(window, server, TOPICS)
    await run_to_end(window)
    results = window.results
    results.set_layout("grid")
    grid = results.grid
    first = grid.pane("r1m1")
    assert first is not None
    first.diff_requested.emit("r1m1")  # what "Diff with…" in its menu sends
    assert grid.selection() == ["r1m1"] and results.current_layout() == "grid"
    grid.toggle_selected("r0m1")  # the second cell, Ctrl+clicked
    assert results.current_layout() == "diff"
    assert results.diff_page.cells() == ("r1m1", "r0m1")
    results.diff_page.back_requested.emit()
    assert results.current_layout() == "grid"
    assert results.store.status("r0m1") == (Phase.DONE, "")


async def test_retry_in_focus_runs_the_cell_again_and_shows_it_there(
    qtbot: QtBot, window: MainWindow, server: FakeOpenAIServer
) -> None:
    set_up(window, server, TOPICS)
    await run_to_end(window)
    focus = window.results.focus
    await activate(qtbot, window, "r0m1")
    sent_before = len(server.requests)
    retry = next(b for b in focus.findChildren(QToolButton) if b.text() == "Retry")
    retry.click()
    await until(lambda: len(server.requests) == sent_before + 1)
    await until(lambda: window.results.store.status("r0m1") == (Phase.DONE, ""))
    assert server.requests[-1].model == "fake-2"
    assert focus.cell_id() == "r0m1" and focus.status_text() == "done"
    assert focus.answer_view().source() == window.results.store.source_text("r0m1") != ""
    assert window.results.current_layout() == "focus"


async def test_the_focus_button_shows_the_first_cell_and_its_keys_work_at_once(
    qtbot: QtBot, window: MainWindow, server: FakeOpenAIServer
) -> None:
    set_up(window, server, TOPICS)
    await run_to_end(window)
    results = window.results
    window.activateWindow()
    qtbot.mouseClick(
        results.findChild(QToolButton, "layoutButton_focus"), Qt.MouseButton.LeftButton
    )
    assert results.current_layout() == "focus" and results.focus.cell_id() == "r0m0"
    await until(
        lambda: results.focus.isAncestorOf(QApplication.focusWidget()) or results.focus.hasFocus()
    )
    press(qtbot, Qt.Key.Key_Right)
    assert results.focus.cell_id() == "r0m1"


async def test_a_run_started_in_focus_shows_its_first_cell_streaming(
    window: MainWindow, server: FakeOpenAIServer
) -> None:
    results = window.results
    results.set_layout("focus")  # left there by the last session, say: nothing to show yet
    assert results.focus.cell_id() is None
    set_up(window, server, TOPICS)
    await run_to_end(window)
    assert results.current_layout() == "focus" and results.focus.cell_id() == "r0m0"
    assert results.focus.answer_view().source() == results.store.source_text("r0m0") != ""
