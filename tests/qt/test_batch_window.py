"""Batch runs in the window: the toolbar's executor choice submits to the (simulated) Batch
API, the Batches tab follows each batch to its end, the results open in the grid like any
past run, and a run left submitted by a closed app is resumed by the next window, said once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from gui.core.batch import BatchLimits, BatchRun, batch_price
from gui.core.judging import JudgeSettings
from gui.core.metrics import CellMetrics
from gui.core.pricing import Price, PriceEntry
from gui.core.spec import (
    SIM_JUDGE_MODEL,
    Limits,
    ModelProfile,
    ProviderKind,
    SimSettings,
    Strategy,
    make_spec,
)
from gui.providers.batch import batch_ports
from gui.qt.main_window import MainWindow
from gui.qt.widgets.cell_pane import format_metrics, metrics_tooltip
from gui.storage import paths
from gui.storage.history import History
from gui.storage.prices import PriceStore
from tests.qt.conftest import SESSION_LOOP, signal_future, until
from tests.support.openai_batches import BatchPlan
from tests.support.openai_server import FakeOpenAIServer

pytestmark = SESSION_LOOP

FAST = {"limits": BatchLimits(poll_first=0.05, poll_max=0.1), "sim_delay": 0.3}


def sim(label: str) -> ModelProfile:
    return ModelProfile(model="sim-1", label=label, sim=SimSettings(output_tokens=8, seed=3))


async def open_window(messages: list[str] | None = None) -> MainWindow:
    win = MainWindow(batch_options=FAST)
    if messages is not None:
        win.statusBar().messageChanged.connect(messages.append)
    win.results.set_layout("grid")
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


async def test_a_batch_run_from_the_toolbar_lands_in_the_history_and_the_grid(
    window: MainWindow,
) -> None:
    window.prompt.set_template("Explain {topic}")
    window.inputs.set_variables(window.prompt.variables())
    window.inputs.set_rows([{"topic": t} for t in ("owls", "bees", "moss")])
    window.models.set_profiles([sim("a"), sim("b")])
    window.limits.set_strategy(Strategy.STREAM)
    window.limits.set_limits(Limits(max_concurrency=4, retries=0))
    window.controls.executor_box.setCurrentIndex(window.controls.executor_box.findData("batch"))
    ended = signal_future(window.batch_commands.run_ended)
    assert window.start_run() is None  # nothing streams: the cells went to the Batch API
    run_id, summary = await asyncio.wait_for(ended, 60)
    assert (summary.done, summary.total) == (6, 6)
    view = window.batches
    assert view.table.rowCount() == 2  # one batch (one request file) per model column
    record = view.record(run_id, 0)
    assert record is not None and not record.open and str(record.state) == "completed"
    await until(
        lambda: any(
            r.id == run_id and r.status == "finished" and r.done == 6
            for r in window.history_panel.records()
        )
    )
    # The History dock names a batch run by its executor, not its spec's "stream".
    tree = window.history_panel.tree
    row = next(
        tree.topLevelItem(i)
        for i in range(tree.topLevelItemCount())
        if tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole) == run_id
    )
    assert row.text(4) == "batch"

    kinds = [kind for kind, _start, _end in window.timeline.segments(f"batch:{run_id}:0")]
    assert kinds[-2:] == ["batch_ingest", "done"]  # one bar per request file, its states
    assert "batch_running" in kinds
    view.table.selectRow(0)
    assert view.open_button.isEnabled() and not view.cancel_button.isEnabled()
    view.open_button.click()
    await until(lambda: window.session.past_run is not None)
    assert window.session.past_run.id == run_id  # type: ignore[union-attr]
    await until(lambda: window.grid.cell_status("r2m1") == "done")
    assert window.grid.cell_text("r0m0")
    assert " · batch · read-only" in window.results.past_label.text()


async def test_a_run_left_submitted_is_resumed_by_the_next_window_once(qtbot: QtBot) -> None:
    home = paths.home()
    spec = make_spec("Explain {topic}", ["tides", "dunes"], [sim("a")])
    with History.open() as history:
        run = BatchRun(
            spec,
            batch_ports(None, home / "batches" / "simulated", 0.3),
            history,
            home / "batches" / "work",
            wait=False,
        )
        run.subscribe(history.recorder(label="batch"))
        assert await asyncio.wait_for(run.start(), 30) is None
    # The app that submitted it is gone; a new window starts.
    messages: list[str] = []
    win = await open_window(messages)
    try:
        ended = signal_future(win.batch_commands.run_ended)
        run_id, summary = await asyncio.wait_for(ended, 60)
        assert run_id == run.id and summary.done == 2
        said = [m for m in messages if m.startswith("Resumed")]
        assert said == [
            "Resumed 1 unfinished batch run from the history (1 batch still with the provider)."
        ]
        win.batch_commands.resume()  # a second history open says nothing again
        assert len([m for m in messages if m.startswith("Resumed")]) == 1
        assert run.id in win.batch_commands.runs
        await until(
            lambda: any(
                r.id == run.id and r.status == "finished" and r.done == 2
                for r in win.history_panel.records()
            )
        )
    finally:
        await close_window(win)


async def test_failed_cells_of_a_batch_run_are_retried_live_with_one_action(
    window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCAL_KEY", "sk-test")
    with FakeOpenAIServer(models=["fake-1"]) as srv:
        srv.batches.plan = BatchPlan(fail={"r0m0"}, expire={"r1m0"})
        profile = ModelProfile(
            model="fake-1",
            provider=ProviderKind.OPENAI,
            base_url=srv.base_url,
            api_key_env="LOCAL_KEY",
        )
        window.prompt.set_template("Explain {topic}")
        window.inputs.set_variables(window.prompt.variables())
        window.inputs.set_rows([{"topic": t} for t in ("owls", "bees", "moss")])
        window.models.set_profiles([profile])
        box = window.controls.executor_box
        box.setCurrentIndex(box.findData("batch"))
        ended = signal_future(window.batch_commands.run_ended)
        window.start_run()
        run_id, summary = await asyncio.wait_for(ended, 60)
        assert (summary.done, summary.failed) == (1, 2)
        view = window.batches
        view.table.selectRow(0)
        assert view.retry_button.isEnabled()
        retried = signal_future(window.batch_commands.run_ended)
        view.retry_button.click()
        assert await asyncio.wait_for(retried, 60) == (run_id, None)
        stored = await window.services.history.get_run(run_id)
        assert stored is not None and [c.status for c in stored.cells] == ["done"] * 3
        assert len(srv.requests) == 2  # the two failed cells, sent live


async def test_a_judged_batch_run_is_judged_as_its_results_land_and_the_bar_follows(
    window: MainWindow,
) -> None:
    window.prompt.set_template("Explain {topic}")
    window.inputs.set_variables(window.prompt.variables())
    window.inputs.set_rows([{"topic": t} for t in ("owls", "bees")])
    window.models.set_profiles([sim("a")])
    judge_sim = SimSettings(ttft=0.01, tokens_per_second=0.0, output_tokens=20, seed=5)
    window.judge_page.set_settings(
        JudgeSettings(model=ModelProfile(model=SIM_JUDGE_MODEL, sim=judge_sim))
    )
    box = window.controls.executor_box
    box.setCurrentIndex(box.findData("batch"))
    moves: list[tuple[str, int, int]] = []
    window.batch_commands.progress_changed.connect(lambda *a: moves.append(a))
    ended = signal_future(window.batch_commands.run_ended)
    try:
        window.start_run()
        run_id, summary = await asyncio.wait_for(ended, 60)
    finally:
        window.judge_page.set_settings(None)
    assert summary.done == 2
    stored = await window.services.history.get_run(run_id)
    assert stored is not None
    assert all(c.judge is not None and c.judge.ok for c in stored.cells)
    # The run's main progress bar followed the batch's request counts to the end.
    assert moves and moves[-1] == (run_id, 2, 2)
    bar = window.controls.progress
    assert (bar.value(), bar.maximum()) == (2, 2) and bar.format().startswith("batch")


async def test_failed_cells_of_a_batch_run_are_sent_again_as_a_new_batch(
    window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCAL_KEY", "sk-test")
    with FakeOpenAIServer(models=["fake-1"]) as srv:
        srv.batches.plan = BatchPlan(fail={"r0m0"}, expire={"r2m0"})
        profile = ModelProfile(
            model="fake-1",
            provider=ProviderKind.OPENAI,
            base_url=srv.base_url,
            api_key_env="LOCAL_KEY",
        )
        window.prompt.set_template("Explain {topic}")
        window.inputs.set_variables(window.prompt.variables())
        window.inputs.set_rows([{"topic": t} for t in ("owls", "bees", "moss")])
        window.models.set_profiles([profile])
        box = window.controls.executor_box
        box.setCurrentIndex(box.findData("batch"))
        ended = signal_future(window.batch_commands.run_ended)
        window.start_run()
        run_id, summary = await asyncio.wait_for(ended, 60)
        assert (summary.done, summary.failed) == (1, 2)
        srv.batches.plan = BatchPlan()  # the provider runs them this time
        view = window.batches
        view.table.selectRow(view._rows[(run_id, 0)])
        assert view.retry_batch_button.isEnabled()
        retried = signal_future(window.batch_commands.run_ended)
        view.retry_batch_button.click()
        rid, again = await asyncio.wait_for(retried, 60)
        assert rid == run_id and (again.done, again.failed, again.total) == (3, 0, 3)
        second = view.record(run_id, 1)
        assert second is not None and second.cells == ("r0m0", "r2m0") and not second.open
        stored = await window.services.history.get_run(run_id)
        assert stored is not None and [c.status for c in stored.cells] == ["done"] * 3
        assert all(c.metrics is not None and c.metrics.batch for c in stored.cells)
        assert not srv.requests  # nothing live: both retries went as a batch


async def test_a_batch_answer_says_batch_and_its_batch_price_on_its_pane() -> None:
    metrics = CellMetrics(
        queued_at=0.0,
        started_at=0.0,
        first_token_at=None,
        ended_at=9.0,
        waited=0.0,
        ttft=None,
        latency=None,
        output_tokens=500,
        tokens_estimated=False,
        tokens_per_second=None,
        retries=0,
        input_tokens=1000,
        cost_usd=batch_price(Price(2.0, 8.0).cost(1000, 500)),
        batch=True,
    )
    assert format_metrics(metrics) == "batch · 500 tok · $0.003"
    assert "batch price" in metrics_tooltip(metrics)


async def test_a_batch_run_over_its_budget_is_refused_in_the_status_bar(qtbot: QtBot) -> None:
    # $1,000 in and $2,000 out per 1M tokens: 3 cells of 8 answer tokens cost about 3 cents at
    # the batch price, over a 1-cent cap.
    PriceStore().save([PriceEntry("sim-1", Price(1000.0, 2000.0))])
    messages: list[str] = []
    win = await open_window(messages)
    try:
        await win.wait_built()
        await win._load_prices()
        win.prompt.set_template("Explain {topic}")
        win.inputs.set_variables(win.prompt.variables())
        win.inputs.set_rows([{"topic": t} for t in ("owls", "bees", "moss")])
        win.models.set_profiles([sim("a")])
        win.limits.set_limits(Limits(max_concurrency=4, budget_usd=0.01))
        box = win.controls.executor_box
        box.setCurrentIndex(box.findData("batch"))
        win.start_run()
        await until(lambda: any(m.startswith("Not submitted") for m in messages))
        (line,) = [m for m in messages if m.startswith("Not submitted")]
        assert "(batch price), over the budget of $0.01" in line
        history = await win.ensure_history()
        assert await asyncio.to_thread(history.batches) == []  # nothing recorded, nothing sent
        assert win.batch_commands.runs == {}
    finally:
        await close_window(win)
