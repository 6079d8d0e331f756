"""View > Raw text: every answer of every layout as its Markdown source, and back."""

from __future__ import annotations

from gui.core.runner import Phase
from gui.qt.main_window import MainWindow

from .conftest import SESSION_LOOP

pytestmark = SESSION_LOOP

ANSWER = "# Title\n\nSome **bold** words.\n"


async def test_view_raw_text_reaches_the_grid_focus_and_row_compare(window: MainWindow) -> None:
    results = window.results
    view_menu = next(
        a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == "View"
    )
    assert results.raw_action in view_menu.actions()
    store = results.store
    store.set_shape(["cats"], ["sim-1", "sim-2"], [["r0m0", "r0m1"]])
    for cell_id in ("r0m0", "r0m1"):
        store.set_final_text(cell_id, ANSWER)
        store.set_status(cell_id, Phase.DONE)
    results.set_layout("grid")
    pane = results.grid.pane("r0m0")
    assert pane is not None and "**bold**" not in pane.text()

    results.raw_action.setChecked(True)
    assert "**bold**" in pane.text()  # the Grid's panes show the source
    results.cell_activated.emit("r0m1")
    assert results.current_layout() == "focus"
    assert results.focus.answer_view().is_raw()
    assert "**bold**" in results.focus.answer_view().to_plain()
    results.set_layout("row")
    assert all(results.row_compare.answer_view(c).is_raw() for c in range(2))

    results.raw_action.setChecked(False)  # and back, everywhere
    assert not results.focus.answer_view().is_raw()
    assert not any(results.row_compare.answer_view(c).is_raw() for c in range(2))
    results.set_layout("grid")
    pane = results.grid.pane("r0m0")
    assert pane is not None and "**bold**" not in pane.text()
