"""The Diff page: two cells of the shown run, their words that differ marked, Esc back."""

from __future__ import annotations

import asyncio

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from gui.core.runner import Phase
from gui.core.spec import CellId
from gui.qt.widgets.cell_store import CellStore
from gui.qt.widgets.diff_page import DiffPage
from tests.qt.conftest import SESSION_LOOP, signal_future

pytestmark = SESSION_LOOP


def store_of(texts: dict[str, str]) -> CellStore:
    store = CellStore()
    store.set_shape(["cats"], ["sim-a", "sim-b", "sim-c"], CellId.grid(1, 3))
    for cell_id, text in texts.items():
        store.set_final_text(cell_id, text)
        store.set_status(cell_id, Phase.DONE)
    return store


async def test_the_diff_page_shows_the_two_chosen_cells(qtbot: QtBot) -> None:
    store = store_of(
        {"r0m0": "The cat sat on the mat.", "r0m2": "The dog sat on a mat!", "r0m1": "Other."}
    )
    page = DiffPage(store)
    qtbot.addWidget(page)
    page.show()
    done = signal_future(page.view.diff_shown)
    assert page.show_cells("r0m0", "r0m2")
    (similarity,) = await asyncio.wait_for(done, 30)
    assert page.heading() == "Diff: cats × sim-a  ⟷  cats × sim-c"
    assert round(similarity) == 57
    assert page.view.side(0).toPlainText() == "The cat sat on the mat."
    assert page.view.marked(0) == ["cat", "the", "."]
    assert page.view.marked(1) == ["dog", "a", "!"]
    assert not page.show_cells("r0m0", "r9m9") and page.cells() == ("r0m0", "r0m2")
    # An answer retried and ended again is diffed again.
    done = signal_future(page.view.diff_shown)
    store.reset_cell("r0m2")
    store.set_final_text("r0m2", "The cat sat on the mat.")
    while (await asyncio.wait_for(done, 30))[0] != 100:
        done = signal_future(page.view.diff_shown)
    assert page.view.marked(0) == [] and page.view.marked(1) == []
    page.activateWindow()
    qtbot.waitActive(page)
    page.view.side(1).setFocus()
    back = signal_future(page.back_requested)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Escape)
    await asyncio.wait_for(back, 30)
