"""The Diff page: two cells of the shown run, their words that differ marked, Esc back."""

from __future__ import annotations

import asyncio

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from gui.core.runner import Phase
from gui.core.spec import CellId
from gui.qt.widgets.cell_store import CellStore
from gui.qt.widgets.diff_page import DiffPage, side_names
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
    assert page.heading() == "Diff · input 1: cats"
    assert [page.view.side_header(side)[0].text() for side in (0, 1)] == ["sim-a", "sim-c"]
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


MODELS = [f"{name}-2024-07-18-instruct · t=0.7" for name in ("gpt-4o-mini", "llama-3.1-70b")]
LONG_INPUT = "Explain to a curious ten-year-old why the sky is blue and sunsets are red " * 2


def sampled_store() -> CellStore:
    """Two inputs (one long) x two models x three samples, grouped as a run with repeats."""
    store = CellStore()
    cols = [f"#{k + 1} {model}" for model in MODELS for k in range(3)]
    ids = [[CellId.text(r, c, k) for c in range(2) for k in range(3)] for r in range(2)]
    store.set_shape(
        [LONG_INPUT, "cats"], cols, ids, groups=(MODELS, [c for c in range(2) for _ in range(3)])
    )
    for cell_id in store.cell_ids():
        store.set_final_text(cell_id, f"The answer of {cell_id}.")
        store.set_status(cell_id, Phase.DONE)
    return store


async def test_side_names_hold_what_tells_the_two_cells_apart() -> None:
    store = sampled_store()
    model_a, model_b = (CellId.text(0, c, 1) for c in range(2))
    name_a, name_b = side_names(store, model_a, model_b)
    assert (name_a.distinct, name_b.distinct) == (
        "gpt-4o-mini-2024-07-18-instruct",
        "llama-3.1-70b-2024-07-18-instruct",
    )
    assert name_a.context == f"input 1: {LONG_INPUT} · t=0.7 · sample 2 of 3"
    sample_a, sample_b = side_names(store, CellId.text(1, 1, 0), CellId.text(1, 1, 2))
    assert (sample_a.distinct, sample_b.distinct) == ("sample 1 of 3", "sample 3 of 3")
    assert sample_b.context == f"input 2: cats · {MODELS[1]}"
    row_a, row_b = side_names(store, CellId.text(0, 0, 0), CellId.text(1, 0, 0))
    assert (row_a.distinct, row_b.distinct) == ("input 1", "input 2")
    assert row_b.context.startswith("cats · ")


async def test_each_side_names_its_cell_whole_at_900x600(qtbot: QtBot) -> None:
    store = sampled_store()
    page = DiffPage(store)
    qtbot.addWidget(page)
    page.resize(900, 600)
    page.show()
    qtbot.waitExposed(page)
    cases = [
        (CellId.text(0, 0, 1), CellId.text(0, 1, 1)),  # two models, one long input
        (CellId.text(0, 1, 0), CellId.text(0, 1, 2)),  # two samples of one model
        (CellId.text(0, 0, 0), CellId.text(1, 1, 2)),  # everything differs
    ]
    for a, b in cases:
        done = signal_future(page.view.diff_shown)
        assert page.show_cells(a, b)
        await asyncio.wait_for(done, 30)
        names = side_names(store, a, b)
        for side, name in enumerate(names):
            distinct, context = page.view.side_header(side)
            header = distinct.parentWidget()
            assert distinct.text() == name.distinct  # whole, never elided
            assert distinct.width() >= distinct.sizeHint().width()
            assert distinct.isVisible() and header.rect().contains(distinct.geometry())
            # The context is what gives way: elided in the middle, whole in the tooltip.
            assert context.isVisible() and header.rect().contains(context.geometry())
            assert context.full_text() == name.context
            assert context.toolTip() == name.full() == f"{name.distinct} — {name.context}"
            if len(name.context) > 80:  # the long input cannot fit half of 900 px
                assert "…" in context.text()
        # The page's heading holds only what both share: eliding it hides nothing distinct.
        assert names[0].distinct not in page.heading()
        assert names[1].distinct not in page.heading()
    assert page.heading() == "Diff · t=0.7"  # the last case shares only the temperature
