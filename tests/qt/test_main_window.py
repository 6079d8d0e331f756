"""The window, as a user drives it: type, run, watch, cancel, change limits, close.

Runs on qasync's loop (see conftest) with the real engine and the simulated model.
"""

from __future__ import annotations

import asyncio
import importlib.abc
import sys
import threading
from typing import Any

import pytest
import pytest_asyncio
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QSpinBox

from gui.core.spec import CellId, Limits, ModelProfile, ProviderKind, SimSettings, Strategy
from gui.qt.main_window import MainWindow

from .conftest import SESSION_LOOP, signal_future, until

pytestmark = SESSION_LOOP


def sim(latency: float, tokens: int = 30, label: str = "sim") -> ModelProfile:
    return ModelProfile(
        model="sim-1",
        label=label,
        sim=SimSettings.with_latency(latency, output_tokens=tokens, jitter=0.0, seed=2),
    )


@pytest_asyncio.fixture(loop_scope="session")
async def window(qtbot):
    win = MainWindow()
    win.results.set_layout("grid")  # these tests read the Grid's panes
    win.show()
    yield win
    await win.shutdown()  # before the widget goes: runs may still be reporting
    win.close()
    win.deleteLater()


def setup(
    win: MainWindow, template: str, topics: list[str], models: list[ModelProfile], **limits
) -> None:
    win.prompt.set_template(template)
    win.inputs.set_variables(win.prompt.variables())
    win.inputs.set_rows([{"topic": t} for t in topics])
    win.models.set_profiles(models)
    win.limits.set_strategy(limits.pop("strategy", Strategy.STREAM))
    win.limits.set_limits(Limits().changed(**limits))


async def test_typing_a_template_and_three_topics_fills_three_panes(
    window: MainWindow, qtbot, runtime_mode: str
) -> None:
    window.prompt.set_template("")
    qtbot.keyClicks(window.prompt.editor, "Tell me a joke about {topic}")
    await until(lambda: window.prompt.variables() == ["topic"])
    assert window.inputs.columns() == ["topic"]
    window.inputs.paste_text("cats\ndogs\nparrots\n")
    window.models.set_profiles([sim(0.4)])
    finished = signal_future(window.run_finished)
    window.run_action.trigger()
    (summary,) = await asyncio.wait_for(finished, 60)
    assert summary.done == 3
    for cell_id, topic in zip(["r0m0", "r1m0", "r2m0"], ["cat", "dog", "parrot"], strict=True):
        assert topic in window.grid.cell_text(cell_id).lower()
        assert window.grid.cell_status(cell_id) == "done"
        pane = window.grid.pane(cell_id)
        assert pane is not None
        metrics = pane.metrics_text()
        assert "first token" in metrics and "30 tok" in metrics and "tok/s" in metrics
    assert window.progress.value() == 3 and window.run_action.isEnabled()
    assert "3 done" in window.statusBar().currentMessage()


async def test_two_models_side_by_side_with_ctrl_enter(window: MainWindow, qtbot) -> None:
    setup(window, "What is {topic}?", ["asyncio"], [sim(0.2, label="fast"), sim(0.4, label="slow")])
    finished = signal_future(window.run_finished)
    qtbot.keyClick(window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    (summary,) = await asyncio.wait_for(finished, 60)
    assert summary.done == 2
    assert window.grid.cell_text("r0m0") and window.grid.cell_text("r0m1")


async def test_cancel_one_cell_mid_stream_keeps_partial_text(
    window: MainWindow, runtime_mode: str
) -> None:
    setup(window, "Tell me about {topic}", ["a", "b", "c"], [sim(1.2, tokens=60)])
    finished = signal_future(window.run_finished)
    window.start_run()
    await until(lambda: len(window.grid.cell_text("r1m0")) > 10)
    window.grid.cancel_requested.emit("r1m0")  # what the pane's Cancel button emits
    (summary,) = await asyncio.wait_for(finished, 60)
    assert (summary.done, summary.cancelled) == (2, 1)
    assert window.grid.cell_status("r1m0") == "cancelled"
    partial = window.grid.cell_text("r1m0")
    assert 10 < len(partial) < len(window.grid.cell_text("r0m0"))


async def test_cancel_all_with_escape(window: MainWindow, qtbot) -> None:
    setup(
        window, "Tell me about {topic}", [f"t{i}" for i in range(8)], [sim(3.0)], max_concurrency=4
    )
    finished = signal_future(window.run_finished)
    window.start_run()
    await until(lambda: window.current_run is not None and window.current_run.in_flight == 4)
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    (summary,) = await asyncio.wait_for(finished, 60)
    assert summary.cancelled == 8
    assert all(window.grid.cell_status(CellId.text(i, 0)) == "cancelled" for i in range(8))
    assert window.run_action.isEnabled() and not window.cancel_action.isEnabled()


async def test_raising_max_concurrency_mid_run_starts_more_cells(window: MainWindow) -> None:
    setup(
        window, "Tell me about {topic}", [f"t{i}" for i in range(6)], [sim(1.5)], max_concurrency=1
    )
    finished = signal_future(window.run_finished)
    run = window.start_run()
    assert run is not None
    await until(lambda: run.in_flight == 1)
    await asyncio.sleep(0.2)
    assert run.in_flight == 1
    spin = window.limits.findChild(QSpinBox, "maxConcurrencySpin")
    spin.setValue(6)  # the user sets 6 in the dock while the run goes on
    await until(lambda: run.in_flight == 6)
    (summary,) = await asyncio.wait_for(finished, 60)
    assert summary.done == 6 and summary.peak_in_flight == 6


async def test_unknown_variable_blocks_the_run_inline(window: MainWindow) -> None:
    setup(window, "A {tone} joke about {topic}", ["cats"], [sim(0.2)])
    window.inputs.set_variables(["topic"])  # the table still only has a topic column
    window.inputs.set_rows([{"topic": "cats"}])
    assert window.start_run() is None
    assert not window.running
    issue = window.prompt.blocking_issue()
    assert issue is not None and "tone" in issue


async def test_failed_cell_shows_the_engine_message(window: MainWindow) -> None:
    failing = ModelProfile(
        model="sim-1",
        label="broken",
        sim=SimSettings(
            ttft=0.01, tokens_per_second=0, failure_rate=1.0, failure_kind="server_error", seed=1
        ),
    )
    setup(window, "About {topic}", ["cats"], [failing], retries=0)
    finished = signal_future(window.run_finished)
    window.start_run()
    (summary,) = await asyncio.wait_for(finished, 60)
    assert summary.failed == 1
    assert window.grid.cell_status("r0m0") == "failed"


async def test_plain_prompt_without_variables_runs_once_per_model(window: MainWindow) -> None:
    setup(
        window, "Explain asyncio in one sentence.", [], [sim(0.2, label="a"), sim(0.3, label="b")]
    )
    finished = signal_future(window.run_finished)
    assert window.start_run() is not None
    (summary,) = await asyncio.wait_for(finished, 60)
    assert summary.total == 2 and summary.done == 2


async def test_retry_a_failed_cell_in_place(window: MainWindow) -> None:
    flaky = ModelProfile(
        model="sim-1",
        label="flaky",
        sim=SimSettings(ttft=0.01, tokens_per_second=0, output_tokens=8, failure_rate=1.0, seed=1),
    )
    setup(window, "About {topic}", ["cats", "dogs"], [flaky], retries=0)
    finished = signal_future(window.run_finished)
    window.start_run()
    await asyncio.wait_for(finished, 60)
    assert window.grid.cell_status("r1m0") == "failed"
    # the server recovers; the user presses Retry on one pane
    window.models.set_profiles([sim(0.2, label="flaky")])
    window.grid.retry_requested.emit("r1m0")
    await until(lambda: window.grid.cell_status("r1m0") == "done")
    assert "dog" in window.grid.cell_text("r1m0").lower()
    assert window.grid.cell_status("r0m0") == "failed"  # the other cell is untouched
    assert window.progress.value() == 2


async def test_compare_strategies_fills_the_chart_with_the_lesson(window: MainWindow) -> None:
    setup(window, "Tell me a joke about {topic}", ["cats", "dogs", "parrots"], [sim(0.5)])
    done = signal_future(window.comparison_finished)
    assert window.start_comparison() is not None
    (results,) = await asyncio.wait_for(done, 60)
    walls = {str(r.strategy): r.wall for r in results}
    assert list(walls) == ["sync", "sequential", "gather", "abatch", "as_completed", "stream"]
    # Three 0.5 s requests: at least 1.5 s one after another; gather overlaps them, well under
    # the sum (a margin of a whole request for a machine running at a quarter of its speed).
    assert walls["sync"] >= 1.48 and 0.48 <= walls["gather"] < 1.0
    assert window.chart.speedup("gather") > 1.48
    assert window.timeline.segments("r0m0")  # the last run is on the timeline


async def test_a_comparisons_steps_and_end_say_so_in_the_status_line(window: MainWindow) -> None:
    """A step's end is not "Run finished" while the comparison goes on (the toolbar still
    says Running); the comparison's end names how many strategies ran and the extremes."""
    setup(window, "Tell me a joke about {topic}", ["cats", "dogs"], [sim(0.05)])
    said: list[str] = []
    window.statusBar().messageChanged.connect(said.append)
    done = signal_future(window.comparison_finished)
    assert window.start_comparison() is not None
    (results,) = await asyncio.wait_for(done, 60)
    assert len(results) == 6
    steps = [m for m in said if m.startswith("Comparison: ")]
    assert [m.split(" finished")[0] for m in steps] == [
        f"Comparison: {r.strategy}" for r in results
    ]
    assert all("2 done, 0 failed, 0 cancelled" in m for m in steps)
    assert not any(m.startswith("Run finished") for m in said)
    last = window.statusBar().currentMessage()
    assert last.startswith("Comparison finished: 6 strategies on the same requests · fastest ")
    fastest = min(results, key=lambda r: r.wall)
    assert f"fastest {fastest.strategy} {fastest.wall:.2f} s" in last
    # And the window is no longer running (it kept "Running 2 / 2" and a locked dock).
    assert window.run_action.isEnabled() and window.run_action.text() == "Run"
    assert not window.cancel_action.isEnabled() and window.compare_action.isEnabled()
    strategy_box = window.limits.findChild(QComboBox, "strategyCombo")
    assert strategy_box is not None and strategy_box.isEnabled()


async def test_block_the_ui_demo_freezes_and_the_meter_says_so(window: MainWindow) -> None:
    setup(window, "About {topic}", ["a", "b"], [sim(0.3)], strategy=Strategy.SYNC)
    window.block_action.setChecked(True)
    froze = signal_future(window.lag.froze)
    finished = signal_future(window.run_finished)
    window.start_run()
    (summary,) = await asyncio.wait_for(finished, 60)
    (ms,) = await asyncio.wait_for(froze, 60)
    assert summary.done == 2 and ms >= 250
    assert "froze" in window.statusBar().currentMessage()


async def test_run_pressed_before_the_engine_is_ready_starts_once_it_is(
    window: MainWindow,
) -> None:
    setup(window, "Tell me about {topic}", ["cats", "owls"], [sim(0.2)])
    imports_done = asyncio.Event()

    async def still_importing() -> None:
        await imports_done.wait()

    window.warmup.task = asyncio.create_task(still_importing())  # the warm-up's import task
    started = signal_future(window.run_queued_started)
    finished = signal_future(window.run_finished)
    window.run_action.trigger()
    window.run_action.trigger()  # pressed again while waiting: still one run
    await asyncio.sleep(0.05)
    assert window.current_run is None and not window.run_action.isEnabled()
    assert window.run_action.text() == "Starting…"

    imports_done.set()
    (run,) = await asyncio.wait_for(started, 60)
    assert window.current_run is run
    (summary,) = await asyncio.wait_for(finished, 60)
    assert summary.done == 2 and window.run_action.isEnabled()
    assert [window.grid.cell_status(c) for c in ("r0m0", "r1m0")] == ["done", "done"]


async def test_a_comparison_cancelled_after_its_first_step_says_how_far_it_got(
    window: MainWindow,
) -> None:
    setup(window, "Tell me a joke about {topic}", ["cats", "dogs"], [sim(0.3)])
    first_step = asyncio.get_running_loop().create_future()

    def on_message(text: str) -> None:
        if text.startswith("Comparison: sync finished") and not first_step.done():
            first_step.set_result(None)

    window.statusBar().messageChanged.connect(on_message)
    done = signal_future(window.comparison_finished)
    assert window.start_comparison() is not None
    await asyncio.wait_for(first_step, 60)
    window.cancel_all()  # during the second step
    (results,) = await asyncio.wait_for(done, 60)
    # The step cancelled part-way is in the results, its time not among the extremes.
    assert [str(r.strategy) for r in results] == ["sync", "sequential"]
    assert results[1].cancelled > 0
    assert (
        window.statusBar()
        .currentMessage()
        .startswith("Comparison cancelled after 1 of 6 strategies · sync ")
    )


async def test_an_openai_run_pressed_before_its_client_is_imported_waits_for_it_off_the_gui_thread(
    window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine is ready, the OpenAI-compatible client is not: the run waits (queued) while
    a worker thread imports it, then streams from the server."""
    import langchain_openai  # noqa: F401 (in the process, so its package can be hidden)

    from tests.support.openai_server import FakeOpenAIServer, default_answer

    class Spy(importlib.abc.MetaPathFinder):
        """Records on which thread ``langchain_openai`` is imported (finds nothing)."""

        def __init__(self) -> None:
            self.on_gui_thread: list[bool] = []

        def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
            if fullname == "langchain_openai":
                self.on_gui_thread.append(threading.current_thread() is threading.main_thread())

    spy = Spy()
    monkeypatch.setattr(sys, "meta_path", [spy, *sys.meta_path])
    # As in a new process: the client's package is not imported yet (its modules are, so
    # importing it again takes a moment and makes the same classes).
    monkeypatch.delitem(sys.modules, "langchain_openai")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    warmed = asyncio.create_task(asyncio.sleep(0))
    await warmed
    window.warmup.task = warmed  # the engine's warm-up is done: the engine is ready
    with FakeOpenAIServer(models=["fake-1"], token_interval=0.002) as server:
        setup(
            window,
            "Tell me about {topic}",
            ["cats"],
            [ModelProfile(model="fake-1", provider=ProviderKind.OPENAI, base_url=server.base_url)],
        )
        started = signal_future(window.run_queued_started)
        finished = signal_future(window.run_finished)
        assert window.start_run() is None  # queued behind the client's import
        assert window.current_run is None and window.warmup.queued
        (run,) = await asyncio.wait_for(started, 60)
        assert window.current_run is run
        (summary,) = await asyncio.wait_for(finished, 60)
    assert summary.done == 1
    assert window.grid.cell_source_text("r0m0") == default_answer("Tell me about cats", "fake-1")
    assert spy.on_gui_thread and not any(spy.on_gui_thread)  # imported, by a worker thread
