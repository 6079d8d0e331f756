"""Ratings in the window: Focus keys, pane and tile menus, stored at once, kept across a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from PySide6.QtCore import QDate, Qt
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMenu, QWidget
from pytestqt.qtbot import QtBot

from gui.core.ratings import Rating, arena_order
from gui.core.runner import Phase
from gui.qt.main_window import MainWindow
from tests.storage.fake_runs import feed_run, spec

from .conftest import SESSION_LOOP, signal_future, until
from .test_history_window import close_window, open_window, run_to_end, setup, sim

pytestmark = SESSION_LOOP


@pytest_asyncio.fixture(loop_scope="session")
async def window(qtbot: QtBot) -> AsyncIterator[MainWindow]:
    win = await open_window()
    yield win
    await close_window(win)


def press(win: MainWindow, *keys: str) -> None:
    for key in keys:
        QTest.keyClicks(win.results.focus, key)


def press_on(widget: QWidget, *keys: str) -> None:
    for key in keys:
        QTest.keyClicks(widget, key)


async def stored_ratings(win: MainWindow, run_id: str) -> dict[str, Rating]:
    stored = await win.services.history.get_run(run_id)
    assert stored is not None
    return {c.cell_id: c.rating for c in stored.cells if c.rating is not None}


async def test_focus_keys_rate_and_the_ratings_survive_a_restart(qtbot: QtBot) -> None:
    win = await open_window()
    try:
        setup(win, "Tell me a joke about {topic}", ["cats", "dogs"], [sim("a"), sim("b")])
        run_id = await run_to_end(win)
        assert win.results.details.focus_cell("r0m0")
        press(win, "4", "U", "B")
        store = win.results.store
        assert store.rating("r0m0") == Rating(thumb=1, stars=4, best=True)
        assert win.results.focus.rating_bar().best.isChecked()
        win.results.focus.step(0, 1)  # Right: the other model's answer to "cats"
        press(win, "B", "2", "D")
        # One best per input: the first pick gave way, its stars and thumb stay.
        assert store.rating("r0m0") == Rating(thumb=1, stars=4)
        assert store.rating("r0m1") == Rating(thumb=-1, stars=2, best=True)
        win.results.focus.step(1, 0)
        press(win, "5", "0")  # 0 clears
        assert store.rating("r1m1") is None
        win.results.set_layout("grid")  # the Grid's panes show the marks
        await until(lambda: win.grid.pane("r0m1") is not None)
        assert win.grid.pane("r0m1").rating_text() == "★★☆☆☆ ✗ best"  # type: ignore[union-attr]
        await win.ratings.wait_saved()
        assert await stored_ratings(win, run_id) == {
            "r0m0": Rating(thumb=1, stars=4),
            "r0m1": Rating(thumb=-1, stars=2, best=True),
        }
    finally:
        await close_window(win)

    again = await open_window()  # a new window on the same FANOUT_HOME: a restart
    try:
        panel = again.history_panel
        await until(lambda: any(r.id == run_id for r in panel.records()))
        panel.select(run_id)
        opened = signal_future(panel.open_requested)
        panel.open_button.click()
        await asyncio.wait_for(opened, 60)
        store = again.results.store
        await until(lambda: store.rating("r0m1") is not None)
        assert store.rating("r0m0") == Rating(thumb=1, stars=4)
        assert store.rating("r0m1") == Rating(thumb=-1, stars=2, best=True)
        # A past run is rated too: the rating is stored on it.
        assert again.results.details.focus_cell("r1m0")
        assert again.results.focus.rating_bar().isEnabled()
        press(again, "3", "B")
        assert store.rating("r0m1") == Rating(thumb=-1, stars=2, best=True)  # another input
        await again.ratings.wait_saved()
        assert (await stored_ratings(again, run_id))["r1m0"] == Rating(stars=3, best=True)
        # File > Export of the past run carries the rating just given.
        exported: list[object] = []
        again.history_panel.export_run = lambda run, fmt: exported.append(run)  # type: ignore[method-assign]
        json_entry = next(a for a in again.export_menu.actions() if a.data() == "json")
        json_entry.trigger()
        await until(lambda: bool(exported))
        assert exported[0].cell("r1m0").rating == Rating(stars=3, best=True)  # type: ignore[attr-defined]
    finally:
        await close_window(again)


async def test_pane_and_tile_menus_rate_only_cells_that_ended(window: MainWindow) -> None:
    setup(window, "Tell me about {topic}", ["owls"], [sim("a"), sim("b", latency=8.0)])
    finished = signal_future(window.run_finished)
    run = window.start_run()
    assert run is not None
    await until(lambda: window.grid.cell_status("r0m0") == "done", timeout=60)
    pane = window.grid.pane("r0m0")
    assert pane is not None
    menu = QMenu()
    pane._on_view_context_menu_built(menu)
    rate = next(a.menu() for a in menu.actions() if a.text() == "Rate")
    assert isinstance(rate, QMenu) and rate.isEnabled()
    next(a for a in rate.actions() if a.text().startswith("★★★☆☆")).trigger()
    assert window.results.store.rating("r0m0") == Rating(stars=3)
    assert pane.rating_text() == "★★★☆☆"

    # Still streaming: the menu offers no rating, and a key says why.
    slow = window.grid.pane("r0m1")
    assert slow is not None
    menu = QMenu()
    slow._on_view_context_menu_built(menu)
    assert not next(a for a in menu.actions() if a.text() == "Rate").isEnabled()
    window.results.rating_requested.emit("r0m1", "stars", 5, False)
    assert window.results.store.rating("r0m1") is None
    assert "once it has ended" in window.statusBar().currentMessage()

    window.results.set_layout("tiles")
    tiles = window.results.tiles
    where = tiles.tile_rect("r0m0")
    assert where is not None
    center = where.center()
    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, center, tiles.mapToGlobal(center))
    tiles.contextMenuEvent(event)
    menu = next(m for m in tiles.findChildren(QMenu) if m.title() == "" and m.actions())
    rate = next(a.menu() for a in menu.actions() if a.text() == "Rate")
    assert isinstance(rate, QMenu) and rate.isEnabled()
    next(a for a in rate.actions() if a.text().startswith("✓ Thumbs up")).trigger()
    menu.close()
    assert window.results.store.rating("r0m0") == Rating(thumb=1, stars=3)
    assert not tiles.grab().isNull()  # the tile paints its mark
    tiles.set_current_cell("r0m0")
    QTest.keyClicks(tiles, "5")  # the rating keys work on the current tile too
    assert window.results.store.rating("r0m0") == Rating(thumb=1, stars=5)
    QTest.keyClicks(tiles, "3")
    window.cancel_all()
    await asyncio.wait_for(finished, 60)
    await window.ratings.wait_saved()
    stored = await window.services.history.get_run(run.id)
    assert stored is not None and stored.cell("r0m0").rating == Rating(thumb=1, stars=3)  # type: ignore[union-attr]
    window.results.set_layout("grid")


async def test_blind_mode_hides_the_models_until_the_row_is_rated(window: MainWindow) -> None:
    names = ["alpha-model", "beta-model", "gamma-model"]
    setup(window, "Tell me about {topic}", ["owls", "bees"], [sim(n) for n in names])
    run_id = await run_to_end(window)
    results = window.results
    results.set_layout("tiles")
    window.tabs.setCurrentWidget(window.timeline)
    results.blind_action.trigger()  # Ctrl+B heard on the Timeline: the arena comes up
    assert window.tabs.currentWidget() is results
    arena = results.arena
    assert arena is not None and results.is_blind()
    assert results.stack.currentWidget() is arena
    assert not results.layout_action("grid").isEnabled()  # no way to the names
    assert not results.set_layout("grid")
    scoreboard_tab = window.tabs.indexOf(window.scoreboard)
    assert not window.tabs.isTabEnabled(scoreboard_tab)  # it names models beside their scores
    timeline_tab = window.tabs.indexOf(window.timeline)
    assert not window.tabs.isTabEnabled(timeline_tab)  # it labels each cell with its model
    assert results.current_layout() == "tiles"  # what the workspace keeps, and comes back

    assert arena.row() == 0 and arena.order() == arena_order(run_id, 0, 3)
    assert arena.answer_labels() == ["Answer A", "Answer B", "Answer C"]
    assert not any(name in arena.page_text() for name in names)
    store = results.store
    texts = [store.source_text(store.cell_id(0, col)) for col in arena.order()]
    assert arena.answer_texts() == texts  # shuffled answers, each its own text

    QTest.keyClick(arena, Qt.Key.Key_Right)
    press_on(arena, "4")  # stars for Answer B: not rated enough yet
    assert not arena.revealed()
    press_on(arena, "B")  # Answer B is the best: the row is rated, the models show
    assert arena.revealed()
    best_col = arena.order()[1]
    assert arena.answer_labels()[1] == f"Answer B · {names[best_col]}"
    assert all(name in arena.page_text() for name in names)
    assert store.rating(store.cell_id(0, best_col)) == Rating(stars=4, best=True, blind=True)

    press_on(arena, "N")  # the next input: hidden again, in its own order
    assert arena.row() == 1 and not arena.revealed()
    assert arena.order() == arena_order(run_id, 1, 3)
    assert not any(name in arena.page_text() for name in names)
    # A provider's error often names its model: hidden until the reveal, its failure shown.
    failed = store.cell_id(1, arena.order()[2])
    store.set_status(failed, Phase.FAILED, "error")
    store.set_error(failed, f"model '{names[arena.order()[2]]}' is overloaded")
    assert not any(name in arena.page_text() for name in names)
    assert "This answer failed" in arena.page_text()
    press_on(arena, "R")  # revealed by hand: a rating now is not blind
    assert arena.revealed()
    assert f"model '{names[arena.order()[2]]}' is overloaded" in arena.page_text()
    press_on(arena, "2")
    first_col = arena.order()[0]
    assert store.rating(store.cell_id(1, first_col)) == Rating(stars=2)
    await window.ratings.wait_saved()
    stored = await window.services.history.get_run(run_id)
    assert stored is not None
    assert stored.cell(store.cell_id(0, best_col)).rating == Rating(  # type: ignore[union-attr]
        stars=4, best=True, blind=True
    )

    # Reopened from the history: the same shuffle, the rated row revealed.
    assert window.show_past_run(stored)
    assert arena.row() == 0 and arena.order() == arena_order(run_id, 0, 3)
    assert arena.revealed()
    press_on(arena, "N")
    # Not rated enough to reveal, but its rating was given with the names shown (after R):
    # the reveal is kept from what the history stores.
    assert arena.revealed()

    results.blind_action.trigger()  # off: back to the layout shown before
    assert not results.is_blind() and results.current_layout() == "tiles"
    assert window.tabs.isTabEnabled(scoreboard_tab) and window.tabs.isTabEnabled(timeline_tab)
    assert results.layout_action("grid").isEnabled()
    results.set_layout("grid")


async def test_the_leaderboard_tab_ranks_blind_ratings_with_filters(window: MainWindow) -> None:
    """Two crafted runs rated blind through the history; the tab shows the hand-computed table
    of tests/core/test_ratings.py and follows its filters."""
    history = window.services.history.history
    assert history is not None
    models = ("lb-a", "lb-b", "lb-c")
    feed_run(history.recorder(), spec("Jokes on {topic}", models=models), run_id="lb-jokes")
    feed_run(history.recorder(), spec("Odes on {topic}", models=models), run_id="lb-odes")
    assert await asyncio.to_thread(history.flush)
    for run_id, cell_id, rating in (
        ("lb-jokes", "r0m1", Rating(best=True, blind=True)),
        ("lb-jokes", "r0m0", Rating(stars=4, blind=True)),
        ("lb-jokes", "r0m2", Rating(stars=2, blind=True)),
        ("lb-odes", "r1m2", Rating(stars=3, blind=True)),
        ("lb-odes", "r1m0", Rating(stars=3, blind=True)),
    ):
        assert await window.services.history.set_rating(run_id, cell_id, rating) is None
    view = window.leaderboard
    window.tabs.setCurrentWidget(view)
    await until(lambda: len(view.entries()) == 3)
    assert view.rows_text() == [
        ["1", "lb-b", "1031", "2", "2", "0", "0"],
        ["2", "lb-a", "999", "3", "1", "1", "1"],
        ["3", "lb-c", "970", "3", "0", "2", "1"],
    ]
    assert view.status.text() == "3 models, 4 games."
    view.template_edit.setText("odes on")
    await until(lambda: [e.model for e in view.entries()] == ["lb-a", "lb-c"])
    view.template_edit.setText("")
    view.until_edit.setDate(QDate(2026, 12, 31))  # the crafted runs are from January 2027
    view.until_check.setChecked(True)
    await until(lambda: not view.entries())
    assert view.status.text() == "No blind ratings match these filters."
    view.until_check.setChecked(False)
    await until(lambda: len(view.entries()) == 3)
    window.tabs.setCurrentIndex(0)


async def test_a_narrow_answer_keeps_its_rating_buttons_whole(qtbot: QtBot) -> None:
    """Seen in the arena at 900x600 with three answers: "Best" showed as "B…t" and "Clear"
    as "…". An answer is never narrower than its rating bar; the arena scrolls instead."""
    from gui.qt.widgets.arena_view import ArenaView
    from gui.qt.widgets.cell_store import CellStore
    from gui.qt.widgets.rating_bar import RatingBar

    store = CellStore()
    arena = ArenaView(store)
    qtbot.addWidget(arena)
    store.set_shape(["cats"], ["a", "b", "c"], [["r0m0", "r0m1", "r0m2"]])
    arena.resize(600, 400)
    arena.show()
    await until(lambda: len(arena.findChildren(RatingBar)) == 3)  # built over a few turns
    bars = arena.findChildren(RatingBar)
    await until(lambda: all(bar.isVisible() and bar.width() > 0 for bar in bars))  # laid out
    for bar in bars:
        for button in [*bar.stars, bar.up, bar.down, bar.best, bar.clear]:
            assert button.width() >= button.sizeHint().width(), button.text()


async def test_the_hidden_arena_builds_a_runs_answers_only_once_it_is_shown(qtbot: QtBot) -> None:
    """Each run's start rebuilt the blind arena's answers (rating bars, Markdown views) while
    it was hidden behind the shown layout: now the arena builds them when shown or asked."""
    from gui.qt.widgets.arena_view import ArenaView
    from gui.qt.widgets.cell_store import CellStore
    from gui.qt.widgets.rating_bar import RatingBar

    store = CellStore()
    arena = ArenaView(store)
    qtbot.addWidget(arena)
    arena.set_seed("run-1")
    store.set_shape(["cats"], ["a", "b", "c"], [["r0m0", "r0m1", "r0m2"]])
    store.append_texts({"r0m1": "Cats nap."})
    assert arena.findChildren(RatingBar) == []
    arena.resize(900, 500)
    arena.show()
    await until(lambda: len(arena.findChildren(RatingBar)) == 3)
    assert arena.row() == 0 and arena.order() == arena_order("run-1", 0, 3)
    assert sorted(arena.answer_cell_ids()) == ["r0m0", "r0m1", "r0m2"]
    assert "Cats nap." in arena.answer_texts()
    arena.hide()
    store.set_shape(["dogs", "owls"], ["a", "b"], [["r0m0", "r0m1"], ["r1m0", "r1m1"]])
    assert sorted(arena.answer_cell_ids()) == ["r0m0", "r0m1"]  # asked while hidden


async def test_a_row_of_many_answers_is_built_a_slice_per_turn_from_the_left(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep with repeats gave the arena 60 answers in a row: building them all at once
    froze the window for a third of a second when blind mode came on. They come a slice per
    loop turn (one each with no time to spend), and reading them completes them at once."""
    from gui.qt.widgets import arena_view
    from gui.qt.widgets.arena_view import ArenaView
    from gui.qt.widgets.cell_store import CellStore

    monkeypatch.setattr(arena_view, "_SLICE_S", 0.0)
    store = CellStore()
    arena = ArenaView(store)
    qtbot.addWidget(arena)
    arena.set_seed("run-1")
    columns = [f"#{c % 5 + 1} m{c // 5}" for c in range(40)]
    ids = [[f"r{r}m{c}" for c in range(40)] for r in range(2)]
    store.set_shape(["cats", "dogs"], columns, ids)
    for row in ids:
        for cell_id in row:
            store.set_final_text(cell_id, f"answer {cell_id}")
            store.set_status(cell_id, Phase.DONE)
    arena.resize(900, 500)
    arena.show()
    answers = arena.findChildren(arena_view._Answer)
    assert 0 < len(answers) < 40
    await until(lambda: len(arena.findChildren(arena_view._Answer)) == 40)
    order = arena_order("run-1", 0, 40)
    assert arena.answer_texts() == [f"answer r0m{col}" for col in order]
    # The next input: its answers are filled afresh; reading them finishes the filling.
    QTest.keyClick(arena, Qt.Key.Key_N)
    assert arena.answer_texts() == [f"answer r1m{col}" for col in arena_order("run-1", 1, 40)]
    assert arena.answer_labels()[39] == f"Answer {arena_view.arena_letter(39)}"
    for _ in range(45):  # the keys reach the last answer, and stop there
        QTest.keyClick(arena, Qt.Key.Key_Right)
    assert arena.current() == 39
