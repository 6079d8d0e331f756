"""The window's state is true: Clear can be undone, History tells endings apart and loads a plan."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest_asyncio
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from pytestqt.qtbot import QtBot

from gui.qt.main_window import MainWindow
from gui.qt.resources import status_colors
from gui.qt.views.inputs_table import InputsTable
from gui.qt.widgets.lag_meter import LagMeter
from gui.resources import demo_names, load_preset
from gui.storage import paths
from gui.storage.outcome import FINISHED_WITH_FAILURES
from tests.storage.fake_runs import spec
from tests.storage.test_outcome import EXPECTED, record_every_ending

from .conftest import SESSION_LOOP, signal_future, until


def filled_table(qtbot: QtBot) -> InputsTable:
    table = InputsTable()
    qtbot.addWidget(table)
    table.set_variables(["topic"])
    table.set_rows([{"topic": "cats", "mood": "grumpy"}, {"topic": "dogs", "mood": ""}])
    return table


@SESSION_LOOP
async def test_clear_is_undone_with_ctrl_z_rows_and_kept_columns_alike(qtbot: QtBot) -> None:
    table = filled_table(qtbot)
    before = (table.columns(), table.rows(include_unused=True))
    assert before[0] == ["topic", "mood"]
    table.show()
    qtbot.waitExposed(table)
    table.activateWindow()
    table.view.setFocus()
    await until(lambda: table.view.hasFocus())

    table.clear()
    assert table.rows() == [] and table.columns() == ["topic"]
    assert table.can_undo_clear()
    assert table.issue_label.message() == "Cleared 2 rows."
    assert "Undo (Ctrl+Z)" in table.issue_label.text()
    undo = table.findChild(QAction, "undoClearAction")
    assert undo is not None and undo.shortcut() == QKeySequence(QKeySequence.StandardKey.Undo)

    qtbot.keyClick(table.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    await until(lambda: not table.can_undo_clear())
    assert (table.columns(), table.rows(include_unused=True)) == before
    assert table.issue_label.message() != "Cleared 2 rows."


@SESSION_LOOP
async def test_undo_clear_is_offered_only_until_the_next_change(qtbot: QtBot) -> None:
    table = filled_table(qtbot)
    table.clear()
    table.paste_text("owls")
    assert not table.can_undo_clear()
    assert not table.undo_clear()
    assert table.rows() == [{"topic": "owls"}]
    # The link under the table does it too.
    table.clear()
    table.issue_label.linkActivated.emit("action")
    assert table.rows() == [{"topic": "owls"}]


@pytest_asyncio.fixture(loop_scope="session")
async def window(qtbot: QtBot) -> AsyncIterator[MainWindow]:
    record_every_ending(paths.history_path())
    win = MainWindow()
    win.show()
    await win.ensure_history()
    await win.history_panel.wait_idle()
    yield win
    await win.shutdown()
    win.close()
    win.deleteLater()


@SESSION_LOOP
async def test_the_history_tab_tells_each_ending_apart(window: MainWindow) -> None:
    panel = window.history_panel
    await until(lambda: len(panel.records()) == len(EXPECTED))
    items = {
        panel.tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole): panel.tree.topLevelItem(i)
        for i in range(panel.tree.topLevelItemCount())
    }
    assert {rid: item.text(1) for rid, item in items.items()} == EXPECTED
    colour = {rid: item.foreground(1).color().name() for rid, item in items.items()}
    green = status_colors("done")[1].name()
    assert colour["r-clean"] == green
    assert colour["r-failures"] != green and colour["r-interrupted"] != green
    assert len({colour["r-clean"], colour["r-failures"], colour["r-interrupted"]}) == 3
    assert items["r-failures"].text(2) == "3/4 done, 1 failed"
    assert items["r-failures"].text(1) == FINISHED_WITH_FAILURES

    # A theme switch recolours them for the new palette: when the History tab is next shown
    # (a switch made from another tab does not pay for rows nobody sees), at once when shown.
    shown = window.tabs.currentWidget()
    window.workspace.set_theme("dark")
    try:
        dark_green = status_colors("done")[1].name()
        assert dark_green != green
        window.tabs.setCurrentWidget(panel)
        await until(lambda: items["r-clean"].foreground(1).color().name() == dark_green)
        window.workspace.set_theme("light")
        await until(lambda: items["r-clean"].foreground(1).color().name() == green)
    finally:
        window.workspace.set_theme("light")
        window.tabs.setCurrentWidget(shown)


@SESSION_LOOP
async def test_load_fills_the_editors_without_running(window: MainWindow) -> None:
    window.prompt.set_template("Something else entirely")
    panel = window.history_panel
    await until(lambda: len(panel.records()) == len(EXPECTED))
    window.tabs.setCurrentWidget(panel)
    panel.select("r-failures")
    assert panel.load_button.isEnabled()
    assert panel.load_button.isVisible() and panel.rerun_button.isVisible()
    loaded = signal_future(panel.load_requested)
    panel.load_button.click()
    (stored,) = await loaded
    assert stored.id == "r-failures"
    expected = spec()
    assert window.prompt.template() == expected.template
    assert window.inputs.rows() == [dict(r) for r in expected.rows]
    assert [m.model for m in window.models.profiles()] == ["sim-a", "sim-b"]
    assert not window.running and window.current_run is None
    assert "Loaded run r-failures" in window.statusBar().currentMessage()


# ---- the freeze notice is about the user's session, not our start-up --------------------------


def test_a_freeze_during_the_quiet_start_up_is_recorded_but_not_announced(qtbot: QtBot) -> None:
    meter = LagMeter()
    froze: list[float] = []
    meter.froze.connect(froze.append)
    meter.start()
    try:
        qtbot.wait(50)
        meter.begin_quiet()
        assert meter.quiet
        QTimer.singleShot(20, lambda: time.sleep(0.15))  # start-up work on the GUI thread
        qtbot.wait(300)
        assert froze == [] and meter.quiet_freezes == 1
        assert meter.last_freeze_ms is not None and meter.last_freeze_ms >= 100
        meter.end_quiet()
        assert not meter.quiet
        QTimer.singleShot(20, lambda: time.sleep(0.15))  # the same block during use
        qtbot.wait(300)
    finally:
        meter.stop()
    assert len(froze) == 1 and froze[0] >= 100 and meter.quiet_freezes == 1


@SESSION_LOOP
async def test_the_window_announces_freezes_only_after_its_start_up(qtbot: QtBot) -> None:
    win = MainWindow()
    win.show()
    win.lag.start()
    try:
        warming = win.warm_up()
        assert win.lag.quiet
        blocked = asyncio.get_running_loop().create_future()

        def hold_the_gui_thread() -> None:  # as the warm-up's heap freeze would
            time.sleep(0.15)
            blocked.set_result(None)

        QTimer.singleShot(0, hold_the_gui_thread)
        await asyncio.wait_for(blocked, 60)
        await asyncio.wait_for(warming, 60)
        await until(lambda: not win.lag.quiet, timeout=60)
        assert "froze" not in win.statusBar().currentMessage()
        assert win.lag.quiet_freezes >= 1
        froze = signal_future(win.lag.froze)
        QTimer.singleShot(20, lambda: time.sleep(0.15))
        (ms,) = await asyncio.wait_for(froze, 60)
        assert ms >= 100 and "froze" in win.statusBar().currentMessage()
    finally:
        await win.shutdown()
        win.close()
        win.deleteLater()


# ---- Help > Demos -----------------------------------------------------------------------------


@SESSION_LOOP
async def test_every_demo_is_in_the_help_menu_and_runs_from_there(qtbot: QtBot) -> None:
    win = MainWindow()
    win.show()
    try:
        names = [a.text().replace("&", "") for a in win.menuBar().actions()]
        assert names.count("Help") == 1  # one Help menu: demos and About together
        menus = {a.text().replace("&", ""): a.menu() for a in win.menuBar().actions()}
        demos = win.demos_menu
        assert demos.menuAction() in menus["Help"].actions()
        assert win.about_action in menus["Help"].actions()
        assert [a.data() for a in demos.actions()] == demo_names()
        await demos.title_entries()
        titles = {a.data(): a.text() for a in demos.actions()}
        assert titles == {name: load_preset(name).title for name in demo_names()}

        ceiling = next(a for a in demos.actions() if a.data() == "ceiling")
        finished = signal_future(win.run_finished)
        ceiling.trigger()
        (summary,) = await asyncio.wait_for(finished, 60)
        preset = load_preset("ceiling")
        assert win.prompt.template() == preset.template
        assert summary.total == len(preset.rows) * len(preset.models) == summary.done
    finally:
        await win.shutdown()
        win.close()
        win.deleteLater()
