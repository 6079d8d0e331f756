"""The Scoreboard tab, as a user sees it: it fills while a run streams, sorts models, and a
click on a square opens that cell in Focus.

Runs on qasync's loop (see conftest) with the real engine and the simulated model; the page
tests on their own feed a cell store by hand, as a past run opened from History does.
"""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from gui.core.measures import LATENCY, Measure, register, unregister
from gui.core.metrics import CellMetrics
from gui.core.runner import Phase
from gui.core.spec import Limits, ModelProfile, SimSettings, Strategy
from gui.qt.main_window import MainWindow
from gui.qt.views import scoreboard_page
from gui.qt.views.scoreboard_page import STEP_CELLS, ScoreboardPage, heat_color
from gui.qt.widgets.cell_store import CellStore

from .conftest import SESSION_LOOP, signal_future, until


def sim(latency: float, label: str, failure_rate: float = 0.0) -> ModelProfile:
    return ModelProfile(
        model="sim-1",
        label=label,
        sim=SimSettings.with_latency(
            latency, output_tokens=20, jitter=0.0, seed=3, failure_rate=failure_rate
        ),
    )


def metrics(latency: float, tps: float) -> CellMetrics:
    return CellMetrics(0.0, 0.0, 0.1, latency, 0.0, 0.1, latency, 20, False, tps, 0)


@pytest_asyncio.fixture(loop_scope="session")
async def window(qtbot: QtBot):
    win = MainWindow()
    win.show()
    await win.ensure_history()
    await win.history_panel.wait_idle()
    yield win
    await win.shutdown()
    win.close()
    win.deleteLater()


@pytest.fixture
def page(qtbot: QtBot) -> ScoreboardPage:
    store = CellStore()
    widget = ScoreboardPage(store)
    store.setParent(widget)
    qtbot.addWidget(widget)
    widget.resize(900, 500)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def fill(store: CellStore, rows: dict[str, list[tuple[float, float] | str]]) -> None:
    """A finished 2-model run as a past run fills the store: (latency, tok/s) or a status."""
    ids = [[f"r{r}m{c}" for c in range(2)] for r in range(len(rows))]
    store.set_shape(list(rows), ["fast", "slow"], ids)
    for r, cells in enumerate(rows.values()):
        for c, cell in enumerate(cells):
            cell_id = ids[r][c]
            if isinstance(cell, str):
                store.set_status(cell_id, Phase(cell))
            else:
                store.set_status(cell_id, Phase.DONE)
                store.set_metrics(cell_id, metrics(*cell))


def shown(page: ScoreboardPage, row: int, view_column: int, role: int = 0) -> object:
    model = page.heat_model
    return model.data(model.index(row, view_column), role)


@SESSION_LOOP
async def test_the_scoreboard_fills_while_the_run_streams_and_a_square_opens_focus(
    window: MainWindow, qtbot: QtBot
) -> None:
    window.prompt.set_template("Tell me about {topic}")
    window.inputs.set_variables(["topic"])
    window.inputs.set_rows([{"topic": t} for t in ("cats", "dogs", "owls")])
    # The slow model cannot end within any wait here: its squares are still open while the
    # fast model's are scored.
    window.models.set_profiles([sim(0.1, "fast"), sim(120.0, "slow")])
    window.limits.set_strategy(Strategy.STREAM)
    window.limits.set_limits(Limits().changed(max_concurrency=8))
    board = window.scoreboard
    window.tabs.setCurrentWidget(board)
    finished = signal_future(window.run_finished)
    window.run_action.trigger()

    def fast_scored() -> bool:
        b = board.board
        return b is not None and all(b.statuses[r][0] == "done" for r in range(3))

    await until(fast_scored)
    assert window.running
    b = board.board
    assert b is not None and b.models == ("fast", "slow")
    assert all(b.values[r][0] is not None for r in range(3))
    assert all(b.statuses[r][1] != "done" and b.values[r][1] is None for r in range(3))
    fast, slow = b.models_summary
    assert (fast.done, slow.done) == (3, 0)
    assert fast.stats["latency"].win_rate == 1.0  # the only answers so far win every input
    assert shown(board, 0, 0) == LATENCY.format(b.values[0][0], unit=False)

    window.cancel_all()
    await asyncio.wait_for(finished, 60)
    await until(lambda: board.board is not None and board.board.statuses[0][1] == "cancelled")
    assert shown(board, 0, 1) == "✕ cancelled"

    view = board.heat_view
    target = board.heat_model.index(1, 0)
    qtbot.mouseClick(
        view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(target).center()
    )
    assert window.tabs.currentWidget() is window.results
    assert window.results.current_layout() == "focus"
    assert window.results.focus.cell_id() == "r1m0"

    # An input's Best opens its answers side by side.
    window.tabs.setCurrentWidget(board)
    best = board.heat_model.index(2, 2)
    assert board.heat_model.headerData(2, Qt.Orientation.Horizontal, 0) == "Best"
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(best).center())
    assert window.tabs.currentWidget() is window.results
    assert window.results.current_layout() == "row"
    assert window.results.row_compare.row() == 2


@SESSION_LOOP
async def test_a_past_run_opened_from_history_fills_the_scoreboard(window: MainWindow) -> None:
    window.prompt.set_template("Tell me about {topic}")
    window.inputs.set_variables(["topic"])
    window.inputs.set_rows([{"topic": t} for t in ("cats", "dogs")])
    window.models.set_profiles([sim(0.1, "good"), sim(0.1, "broken", failure_rate=1.0)])
    window.limits.set_strategy(Strategy.STREAM)
    window.limits.set_limits(Limits(max_concurrency=4, retries=0))
    finished = signal_future(window.run_finished)
    run = window.start_run()
    assert run is not None
    await asyncio.wait_for(finished, 60)
    panel = window.history_panel
    await until(lambda: any(r.id == run.id for r in panel.records()))
    window.results.close_requested.emit()  # leave the live run: nothing shown
    board = window.scoreboard
    window.tabs.setCurrentWidget(board)
    await until(lambda: board.board is None)

    panel.select(run.id)
    opened = signal_future(panel.open_requested)
    panel.open_button.click()
    await asyncio.wait_for(opened, 60)
    window.tabs.setCurrentWidget(board)  # opening a past run shows the Results tab
    await until(lambda: board.board is not None and board.board.statuses[1][1] == "failed")
    b = board.board
    assert b is not None and b.models == ("good", "broken")
    assert all(b.values[r][0] is not None and b.values[r][1] is None for r in range(2))
    good, broken = b.models_summary
    assert (good.done, broken.done, broken.failed) == (2, 0, 2)
    assert good.stats["latency"].win_rate == 1.0
    assert shown(board, 0, 1) == "✕ failed"
    tip = shown(board, 0, 1, Qt.ItemDataRole.ToolTipRole)
    assert isinstance(tip, str) and "failed: " in tip  # the cell's own error line


@SESSION_LOOP
async def test_a_hidden_scoreboard_does_no_work_until_shown(window: MainWindow) -> None:
    board = window.scoreboard
    store = window.results.store
    window.tabs.setCurrentWidget(window.results)
    store.set_shape(["cats"], ["a", "b"], [["r0m0", "r0m1"]])
    before = board.refreshes
    for latency in (1.0, 2.0, 3.0):
        store.set_status("r0m0", Phase.DONE)
        store.set_metrics("r0m0", metrics(latency, 10.0))
        await asyncio.sleep(0.05)  # several frames pass
    assert board.refreshes == before
    window.tabs.setCurrentWidget(board)
    await until(lambda: board.refreshes > before)
    assert board.board is not None and board.board.values[0][0] == 3.0
    store.clear()


def test_a_past_run_fills_it_and_failed_missing_and_best_squares_read_right(
    page: ScoreboardPage, qtbot: QtBot
) -> None:
    fill(
        page._store,
        {
            "cats": [(1.0, 40.0), (3.0, 10.0)],
            "dogs": [(2.0, 20.0), "failed"],
            "owls": [(2.0, 30.0), (2.0, 30.0)],
        },
    )
    page.refresh()
    assert shown(page, 0, 0) == "1.00" and shown(page, 1, 1) == "✕ failed"
    # Per-input lines: best model (a tie names both) and spread.
    assert shown(page, 0, 2) == "fast" and shown(page, 0, 3) == "2.00"
    assert shown(page, 2, 2) == "fast = slow"
    # The best square is the green end, the worst the red end, in this palette.
    best = shown(page, 0, 0, Qt.ItemDataRole.BackgroundRole)
    worst = shown(page, 0, 1, Qt.ItemDataRole.BackgroundRole)
    assert best == heat_color(1.0, True, False) and worst == heat_color(0.0, True, False)
    failed = shown(page, 1, 1, Qt.ItemDataRole.BackgroundRole)
    assert failed not in (best, worst)
    summary = page.summary_model
    assert summary.data(summary.index(0, 1)) == "3/3" and summary.data(summary.index(1, 2)) == "1"
    assert summary.data(summary.index(0, 6)) == "83 %"  # fast: 1 + 1 + 1/2 of 3 inputs


def test_models_sort_by_a_picker_or_a_summary_header_and_the_measure_recolours(
    page: ScoreboardPage, qtbot: QtBot
) -> None:
    fill(page._store, {"cats": [(3.0, 40.0), (1.0, 10.0)], "dogs": [(3.0, 30.0), (1.0, 5.0)]})
    page.refresh()
    assert page.model_order() == (0, 1)
    page.sort_picker.setCurrentIndex(page.sort_picker.findData("latency"))
    assert page.model_order() == (1, 0)  # slow has the lower latency here
    assert page.heat_model.headerData(0, Qt.Orientation.Horizontal, 0) == "slow"
    assert page.summary_model.data(page.summary_model.index(0, 0)) == "slow"
    assert page.cell_at(0, 0) == "r0m1"
    # A click on the Win rate header sorts by the win rate of the chosen measure.
    page.set_measure("tps")
    page.refresh()
    header = page.summary_view.horizontalHeader()
    header.sectionClicked.emit(6)
    assert page.stat_picker.currentData() == "win_rate"
    assert page.model_order() == (0, 1)  # fast wins every input on tokens/s
    assert shown(page, 0, 0) == "40.0"
    header.sectionClicked.emit(0)
    assert page.sort_picker.currentData() == ""


def test_a_registered_measure_appears_in_the_measure_picker(qtbot: QtBot) -> None:
    def seconds_per_token(cell: object) -> float | None:
        m = getattr(cell, "metrics", None)
        return m.latency / m.output_tokens if m is not None and m.latency else None

    store = CellStore()
    early = ScoreboardPage(store)  # built before the measure exists
    qtbot.addWidget(early)
    register(Measure("spt", "Seconds per token", "s", False, seconds_per_token, digits=3))
    try:
        page = ScoreboardPage(CellStore())
        qtbot.addWidget(page)
        assert page.measure_picker.findData("spt") >= 0
        assert page.sort_picker.findData("spt") >= 0
        # A page built before it offers it from the next run shown on.
        assert early.measure_picker.findData("spt") < 0
        early.show()
        fill(store, {"cats": [(2.0, 1.0), (4.0, 1.0)]})
        assert early.measure_picker.findData("spt") >= 0
        assert early.set_measure("spt")
        early.refresh()
        assert shown(early, 0, 0) == "0.100"
    finally:
        unregister("spt")


def test_dark_palette_squares_use_the_dark_ramp(
    page: ScoreboardPage, qtbot: QtBot, dark_palette: None
) -> None:
    fill(page._store, {"cats": [(1.0, 40.0), (3.0, 10.0)]})
    page.refresh()
    best = shown(page, 0, 0, Qt.ItemDataRole.BackgroundRole)
    text = shown(page, 0, 0, Qt.ItemDataRole.ForegroundRole)
    assert best == heat_color(1.0, True, True)
    assert text.lightness() > best.lightness()  # type: ignore[union-attr]


def fill_big(store: CellStore, rows: int) -> list[list[str]]:
    """A finished ``rows`` x 2 run, every cell done, latencies spread over 1-5 s."""
    ids = [[f"r{r}m{c}" for c in range(2)] for r in range(rows)]
    store.set_shape([f"input {r}" for r in range(rows)], ["fast", "slow"], ids)
    for r, row in enumerate(ids):
        for c, cell_id in enumerate(row):
            store.set_status(cell_id, Phase.DONE)
            store.set_metrics(cell_id, metrics(1.0 + (r * 7 + c * 13) % 40 / 10, 30.0))
    return ids


def test_a_big_run_is_summed_up_over_several_turns_to_the_same_board(
    page: ScoreboardPage, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One sum-up of a 10,000-cell run took 65-165 ms of the GUI thread in one turn: a run of
    # STEP_CELLS cells or more is summed up a few milliseconds a turn instead (no budget
    # here: one step a turn, whatever the machine's speed).
    monkeypatch.setattr(scoreboard_page, "STEP_BUDGET_S", 0.0)
    rows = STEP_CELLS // 2 + 100
    before = page.refreshes
    told: list[int] = []
    page.refreshed.connect(lambda: told.append(page.refreshes))
    fill_big(page._store, rows)
    qtbot.waitUntil(lambda: page.refreshes > before, timeout=30_000)
    assert page.last_refresh_steps > 1 and told == [before + 1]
    stepped = page.board
    assert stepped is not None and len(stepped.rows) == rows
    assert sum(s.done for s in stepped.models_summary) == rows * 2
    page.refresh()  # the same run summed up in one go: the same board
    assert page.board == stepped and page.last_refresh_steps == 1


def test_a_cell_that_changes_during_a_big_sum_up_is_in_the_next_and_a_new_run_drops_it(
    page: ScoreboardPage, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No time budget: each turn of the timer takes one step, so a turn can be caught between.
    monkeypatch.setattr(scoreboard_page, "STEP_BUDGET_S", 0.0)
    store = page._store
    rows = STEP_CELLS // 2 + 100
    fill_big(store, rows)
    page._on_timer_timeout()  # the timer's first turn (the test takes it now)
    assert page.summing_up
    store.set_metrics("r0m0", metrics(9.5, 30.0))  # while the sum-up is under way
    qtbot.waitUntil(
        lambda: page.board is not None and page.board.values[0][0] == 9.5, timeout=30_000
    )
    assert not page.summing_up
    # A new run's shape while a sum-up of the old one is under way: only the new one shows.
    store.set_all_status(Phase.QUEUED)
    page._on_timer_timeout()
    assert page.summing_up
    fill(store, {"cats": [(1.0, 40.0), (3.0, 10.0)]})
    assert not page.summing_up  # dropped at once
    qtbot.waitUntil(lambda: page.board is not None and page.board.rows == ("cats",), timeout=30_000)
    assert page.board.values[0] == (1.0, 3.0)
