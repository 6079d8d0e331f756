"""A structured run with the cache on, in the window: marks, the tree, the Table, the Scoreboard.

With ``FANOUT_SCREENSHOTS=DIR`` (under Xvfb, ``QT_QPA_PLATFORM=xcb``) the test also saves the
window's Grid, Focus and Table as PNGs there, for the README's screenshots.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest_asyncio

from gui.core.spec import ModelProfile, SimSettings, Strategy
from gui.qt.main_window import MainWindow
from gui.resources import starter_schemas

from .conftest import SESSION_LOOP, signal_future

pytestmark = SESSION_LOOP

FAST = SimSettings(ttft=0.02, tokens_per_second=400.0, output_tokens=30, jitter=0.0, seed=5)
TOPICS = ["great phone, poor battery", "loved it", "broken on arrival", "fine, I guess"]


@pytest_asyncio.fixture(loop_scope="session")
async def window(qtbot):
    win = MainWindow()
    win.resize(1500, 950)
    win.results.set_layout("grid")
    win.show()
    yield win
    await win.shutdown()
    win.close()
    win.deleteLater()


def shoot(win: MainWindow, name: str) -> None:
    folder = os.environ.get("FANOUT_SCREENSHOTS")
    if folder:
        win.grab().save(str(Path(folder) / f"{name}.png"))


async def run_once(win: MainWindow) -> tuple[object, ...]:
    finished = signal_future(win.run_finished)
    win.run_action.trigger()
    return await asyncio.wait_for(finished, 60)


async def test_a_cached_structured_run_shows_its_marks_tree_table_and_schema_valid_percent(
    window: MainWindow,
) -> None:
    win = window
    win.prompt.set_template("Review: {topic}")
    win.inputs.set_variables(win.prompt.variables())
    win.inputs.set_rows([{"topic": t} for t in TOPICS])
    win.models.set_profiles(
        [ModelProfile(model=f"sim-{i}", sim=FAST, label=f"model {i}") for i in range(2)]
    )
    win.limits.set_strategy(Strategy.STREAM)
    win.schema_page.set_text(starter_schemas()["Sentiment"])
    win.limits.findChild(type(win.limits._cache_check), "cacheCheck").setChecked(True)  # type: ignore[union-attr]
    assert win.limits.limits().cache

    (summary,) = await run_once(win)
    assert summary.done == 8  # type: ignore[attr-defined]
    store = win.results.store
    first = {c: store.peek(c).source() for c in store.cell_ids()}  # type: ignore[union-attr]
    marks = {c: win.grid.pane(c).metrics_text() for c in store.cell_ids()}  # type: ignore[union-attr]
    assert all(m.startswith(("schema ✓", "schema ✗")) for m in marks.values())
    assert not any("cached" in m for m in marks.values())

    (summary,) = await run_once(win)  # the same run again: every cell from the cache
    assert summary.done == 8  # type: ignore[attr-defined]
    for cell_id in store.cell_ids():
        state = store.peek(cell_id)
        assert state is not None and state.metrics is not None and state.metrics.cached
        assert state.source() == first[cell_id]
        assert "cached" in win.grid.pane(cell_id).metrics_text()  # type: ignore[union-attr]
    assert "answers" in win.limits.cache_size_text()
    shoot(win, "structured-grid")

    # Focus: the answer's fields as a tree.
    win.results.focus.show_cell("r0m0")
    win.results.set_layout("focus")
    tree = win.results.focus.structured_tree()
    assert tree is not None
    fields = [tree.model().index(r, 0).data() for r in range(tree.model().rowCount())]
    assert fields[0] == "sentiment"
    shoot(win, "structured-focus")

    # Table: the fields as columns.
    win.results.set_layout("table")
    table = win.results.details.table
    assert table.fields()[:1] == ["sentiment"]
    values = table.row_values("r0m0")
    parsed = json.loads(first["r0m0"])
    assert values[3] == parsed["sentiment"]
    shoot(win, "structured-table")
    win.results.set_layout("grid")

    # Scoreboard: schema valid % per model.
    board = win.scoreboard
    board.measure_picker.setCurrentIndex(board.measure_picker.findData("schema"))
    assert board.measure().name == "schema"
    board.refresh()
    assert board.board is not None
    valid = [
        sum(1 for c in store.cell_ids() if c.endswith(f"m{col}") and "✓" in marks[c]) / 4
        for col in range(2)
    ]
    assert [round(v, 2) for v in valid] == [
        round(m.stats["schema"].mean or 0.0, 2) for m in board.board.models_summary
    ]
    win.schema_page.set_schema(None)
