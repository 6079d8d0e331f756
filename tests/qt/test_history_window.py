"""History in the window: every run kept, searched, reopened read-only, run again, exported, deleted."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from pytestqt.qtbot import QtBot

from gui.core.spec import Limits, ModelProfile, SimSettings, Strategy
from gui.qt.main_window import MainWindow
from gui.storage.history import History

from .conftest import SESSION_LOOP, signal_future, until

pytestmark = SESSION_LOOP


def sim(label: str, latency: float = 0.2, **kw: object) -> ModelProfile:
    settings = SimSettings.with_latency(latency, output_tokens=12, jitter=0.0, seed=5, **kw)  # type: ignore[arg-type]
    return ModelProfile(model="sim-1", label=label, sim=settings)


async def open_window() -> MainWindow:
    win = MainWindow()
    win.results.set_layout("grid")  # these tests read the Grid's panes
    win.show()
    await win.ensure_history()
    await win.history_panel.wait_idle()
    return win


async def close_window(win: MainWindow) -> None:
    await win.shutdown()
    win.close()
    win.deleteLater()


@pytest_asyncio.fixture(loop_scope="session")
async def window(qtbot: QtBot) -> AsyncIterator[MainWindow]:
    win = await open_window()
    yield win
    await close_window(win)


def setup(win: MainWindow, template: str, topics: list[str], models: list[ModelProfile]) -> None:
    win.prompt.set_template(template)
    win.inputs.set_variables(win.prompt.variables())
    win.inputs.set_rows([{"topic": t} for t in topics])
    win.models.set_profiles(models)
    win.limits.set_strategy(Strategy.STREAM)
    win.limits.set_limits(Limits(max_concurrency=4, retries=0))


async def run_to_end(win: MainWindow) -> str:
    finished = signal_future(win.run_finished)
    run = win.start_run()
    assert run is not None
    await asyncio.wait_for(finished, 60)
    await until(lambda: any(r.id == run.id for r in win.history_panel.records()))
    return run.id


async def test_every_run_is_listed_newest_first_and_can_be_searched(window: MainWindow) -> None:
    setup(window, "Tell me a joke about {topic}", ["cats", "dogs"], [sim("fast"), sim("slow")])
    first = await run_to_end(window)
    setup(window, "Explain {topic} briefly", ["tides"], [sim("fast")])
    second = await run_to_end(window)

    panel = window.history_panel
    records = panel.records()
    assert [r.id for r in records[:2]] == [second, first]
    top = records[0]
    assert top.status == "finished" and top.total == 1 and top.done == 1
    item = panel.tree.topLevelItem(0)
    assert item.text(1) == "finished" and item.text(2) == "1/1 done"
    assert "Explain {topic} briefly" in item.text(6)

    panel.search_edit.setText("joke")
    await until(lambda: [r.id for r in panel.records()] == [first])
    panel.search_edit.setText("")
    await until(lambda: len(panel.records()) == 2)
    slow = panel.model_combo.findData("slow")
    assert slow >= 0
    panel.model_combo.setCurrentIndex(slow)
    await until(lambda: [r.id for r in panel.records()] == [first])
    panel.model_combo.setCurrentIndex(0)
    panel.period_combo.setCurrentIndex(1)  # today
    await until(lambda: len(panel.records()) == 2)


async def test_a_past_run_opens_read_only_and_runs_again(window: MainWindow) -> None:
    setup(window, "Tell me a joke about {topic}", ["owls", "bees"], [sim("a")])
    run_id = await run_to_end(window)
    shown = {cid: window.grid.cell_text(cid) for cid in ("r0m0", "r1m0")}
    window.grid.clear_grid()

    panel = window.history_panel
    panel.select(run_id)
    opened = signal_future(panel.open_requested)
    panel.open_button.click()
    await asyncio.wait_for(opened, 60)
    assert window.past_banner.isVisible()
    assert run_id in window.past_label.text() and "read-only" in window.past_label.text()
    assert window.grid.is_read_only()
    for cell_id, text in shown.items():
        assert window.grid.cell_text(cell_id) == text  # nothing the user saw is lost
        assert window.grid.cell_status(cell_id) == "done"
    pane = window.grid.pane("r0m0")
    assert pane is not None and not pane._retry_button.isVisible()

    # Run again: same template, inputs and models, a new run in the history.
    finished = signal_future(window.run_finished)
    window.results.again_requested.emit()
    await asyncio.wait_for(finished, 60)
    assert not window.past_banner.isVisible() and not window.grid.is_read_only()
    assert window.prompt.template() == "Tell me a joke about {topic}"
    assert [r["topic"] for r in window.inputs.rows()] == ["owls", "bees"]
    await until(lambda: window.history_panel.records()[0].id != run_id)


async def test_a_retried_cell_replaces_its_result_in_the_stored_run(window: MainWindow) -> None:
    flaky = sim("flaky", failure_rate=1.0, failure_kind="server_error")
    setup(window, "Tell me about {topic}", ["rain"], [flaky])
    run_id = await run_to_end(window)
    history = window.services.history.history
    assert history is not None
    stored = await asyncio.to_thread(history.get_run, run_id)
    assert stored is not None and stored.cells[0].status == "failed"

    window.models.set_profiles([sim("flaky")])  # the user fixed the column, then Retry
    window.grid.retry_requested.emit("r0m0")
    await until(lambda: window.grid.cell_status("r0m0") == "done")
    await until(lambda: not window.running)
    await asyncio.to_thread(history.flush)
    stored = await asyncio.to_thread(history.get_run, run_id)
    assert stored is not None and stored.cells[0].status == "done"
    assert stored.done == 1 and stored.failed == 0
    assert stored.cells[0].text == window.grid.cell_source_text("r0m0")


async def test_export_and_delete_from_the_history(window: MainWindow, tmp_path: Path) -> None:
    setup(window, "Tell me about {topic}", ["a | b", "line\nbreak"], [sim("m")])
    run_id = await run_to_end(window)
    history = window.services.history.history
    assert history is not None
    stored = await asyncio.to_thread(history.get_run, run_id)
    assert stored is not None
    target = tmp_path / "run.json"
    await window.history_panel.export_to(stored, "json", target)
    data = json.loads(target.read_text(encoding="utf-8"))
    assert data["id"] == run_id and len(data["cells"]) == 2
    assert {c["inputs"]["topic"] for c in data["cells"]} == {"a | b", "line\nbreak"}
    assert str(target) in window.history_panel.status()

    panel = window.history_panel
    panel.select(run_id)
    panel.delete_button.click()
    assert not panel.confirm_button.isHidden() and "for good" in panel.status()
    panel.confirm_button.click()
    await panel.wait_idle()
    await until(lambda: all(r.id != run_id for r in panel.records()))
    assert await asyncio.to_thread(history.get_run, run_id) is None


async def test_closing_mid_run_leaves_an_interrupted_run_with_its_partial_text(
    qtbot: QtBot,
) -> None:
    win = await open_window()
    setup(win, "Explain {topic} at length", ["tides"], [sim("slow", latency=6.0)])
    run = win.start_run()
    assert run is not None
    await until(lambda: len(win.grid.cell_text("r0m0")) > 5)
    await close_window(win)

    again = await open_window()
    try:
        record = again.history_panel.records()[0]
        assert record.id == run.id and record.status == "interrupted"
        history = again.services.history.history
        assert history is not None
        stored = await asyncio.to_thread(history.get_run, run.id)
        assert stored is not None and stored.cells[0].status == "cancelled"
        assert len(stored.cells[0].text) > 5  # the partial text the user saw
    finally:
        await close_window(again)


async def test_an_unreadable_history_is_set_aside_with_a_notice(
    qtbot: QtBot, fanout_home: Path
) -> None:
    (fanout_home / "history.sqlite3").write_bytes(b"this is not a database" * 100)
    win = await open_window()
    try:
        history = win.services.history.history
        assert history is not None and history.notice is not None
        assert "history.sqlite3.corrupt-" in history.notice
        assert history.notice in win.history_panel.status()
        backups = await asyncio.to_thread(
            lambda: list(fanout_home.glob("history.sqlite3.corrupt-*"))
        )
        assert len(backups) == 1
        setup(win, "Tell me about {topic}", ["x"], [sim("m")])
        await run_to_end(win)  # and the fresh database records
        assert isinstance(history, History) and history.persistent
    finally:
        await close_window(win)


async def test_a_comparison_records_one_labelled_run_per_strategy(window: MainWindow) -> None:
    setup(window, "Tell me about {topic}", ["x"], [sim("m", latency=0.1)])
    done = signal_future(window.comparison_finished)
    window.start_comparison()
    await asyncio.wait_for(done, 60)
    await until(
        lambda: (
            sum(
                1
                for r in window.history_panel.records()
                if (r.label or "").startswith("comparison: ")
            )
            == 6
        )
    )
    labels = [r.label for r in window.history_panel.records()[:6]]
    assert set(labels) == {
        f"comparison: {s}"
        for s in ("sync", "sequential", "gather", "abatch", "as_completed", "stream")
    }
