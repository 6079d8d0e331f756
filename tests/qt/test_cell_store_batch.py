"""A frame that ends thousands of cells (a big run cancelled) is told to the layouts once: the
store merges the frame's changes per cell, and the panes on screen show each end."""

from __future__ import annotations

from typing import Any

from pytestqt.qtbot import QtBot

from gui.core import events as ev
from gui.core.metrics import CellMetrics
from gui.core.runner import CANCELLED_BEFORE_START, CANCELLED_BY_USER, Phase
from gui.core.spec import CellId, Strategy
from gui.qt.views.results_page import ResultsPage
from gui.qt.widgets.cell_store import CellStore, Change


def metrics() -> CellMetrics:
    return CellMetrics(
        queued_at=0.0,
        started_at=None,
        first_token_at=None,
        ended_at=1.0,
        waited=1.0,
        ttft=None,
        latency=None,
        output_tokens=0,
        tokens_estimated=False,
        tokens_per_second=None,
        retries=0,
    )


def store_of(rows: int, cols: int) -> CellStore:
    store = CellStore()
    store.set_shape(
        [f"topic {r}" for r in range(rows)], [f"m{c}" for c in range(cols)], CellId.grid(rows, cols)
    )
    return store


def test_a_batch_tells_each_changed_cell_once_with_all_its_changes() -> None:
    store = store_of(300, 2)
    one_by_one: list[tuple[str, int]] = []
    batches: list[dict[str, int]] = []
    store.cell_changed.connect(lambda cell_id, change: one_by_one.append((cell_id, change)))
    store.cells_changed.connect(batches.append)
    with store.batched():
        for cell_id in store.cell_ids():
            store.set_ended(cell_id, Phase.CANCELLED, CANCELLED_BEFORE_START, metrics())
        store.set_status("r0m0", Phase.CANCELLED, "")
        with store.batched():  # a nested block joins the outer one
            store.set_notice("r0m1", "note")
    assert one_by_one == []
    (changes,) = batches
    ended = Change.STATUS | Change.ERROR | Change.METRICS
    assert len(changes) == 600 and changes["r299m1"] == ended
    assert changes["r0m1"] == ended | Change.NOTICE
    assert store.status("r299m1") == (Phase.CANCELLED, "")
    assert store.error("r299m1") == CANCELLED_BEFORE_START
    store.set_status("r0m0", Phase.QUEUED, "retrying")  # outside a batch: told at once
    assert one_by_one == [("r0m0", int(Change.STATUS))] and len(batches) == 1


def test_a_frame_of_thousands_of_cancelled_cells_is_told_once_and_the_grid_shows_each_end(
    qtbot: QtBot,
) -> None:
    page = ResultsPage()
    qtbot.addWidget(page)
    page.resize(1000, 700)
    page.show()
    store = page.store
    rows = 2_500
    store.set_shape(
        [f"topic {r}" for r in range(rows)], ["a", "b"], CellId.grid(rows, 2), titles=None
    )
    told: list[Any] = []
    store.cell_changed.connect(lambda *args: told.append(args))
    events: list[ev.Event] = [
        ev.CellCancelled(
            "run",
            1.0,
            cell_id,
            CANCELLED_BY_USER if cell_id == "r0m0" else CANCELLED_BEFORE_START,
            "",
            metrics(),
        )
        for cell_id in store.cell_ids()
    ]
    page.set_layout("grid")
    qtbot.waitUntil(lambda: page.grid.pane("r0m1") is not None, timeout=30_000)
    page.apply_frame({"r0m0": "partial "}, events, lambda _run: Strategy.STREAM)
    assert told == []  # one signal for the frame, not one per cell
    for cell_id, reason in (("r0m0", CANCELLED_BY_USER), ("r0m1", CANCELLED_BEFORE_START)):
        pane = page.grid.pane(cell_id)  # a pane on screen shows the end itself
        assert pane is not None and pane.phase == "cancelled"
        assert pane.error_text() == reason
    assert page.grid.cell_text("r0m0").startswith("partial")
    assert all(store.status(c) == (Phase.CANCELLED, "") for c in store.cell_ids())
    assert store.error(CellId.text(rows - 1, 1)) == CANCELLED_BEFORE_START


def past_run(rows: int) -> Any:
    """A stored run of ``rows`` x 2 cells: column 0 done, column 1 failed."""
    from gui.core.spec import ModelProfile, make_spec
    from gui.storage.records import StoredCell, StoredRun

    spec = make_spec("About {topic}", [f"topic {r}" for r in range(rows)], [ModelProfile("a")] * 2)
    cells = tuple(
        StoredCell(
            c.id,
            c.row,
            c.col,
            dict(c.inputs),
            "a",
            "done" if c.col == 0 else "failed",
            f"answer {c.row}" if c.col == 0 else "",
            None if c.col == 0 else "server_error",
            None if c.col == 0 else "boom",
            metrics(),
            1.0,
        )
        for c in spec.cells()
    )
    total = rows * 2
    return StoredRun(
        "past",
        0.0,
        1.0,
        "finished",
        spec.template,
        "stream",
        ("a", "a"),
        total,
        rows,
        rows,
        0,
        1.0,
        None,
        spec=spec,
        cells=cells,
    )


def results_page(qtbot: QtBot) -> ResultsPage:
    page = ResultsPage()
    qtbot.addWidget(page)
    page.resize(1000, 700)
    page.show()
    page.set_layout("grid")
    return page


def test_a_past_run_opened_is_told_to_the_layouts_once_and_the_grid_shows_each_cell(
    qtbot: QtBot,
) -> None:
    # Five changes a cell (text, error, status, metrics, notice) told one by one made the
    # open of a 10,000-cell past run a freeze of most of a second (docs/performance-notes.md).
    from gui.core.session import Counts

    page = results_page(qtbot)
    rows = 100
    told: list[Any] = []
    batches: list[dict[str, int]] = []
    page.store.cell_changed.connect(lambda *args: told.append(args))
    page.store.cells_changed.connect(batches.append)
    page.show_past(past_run(rows), Counts(done=rows, failed=rows, total=rows * 2))
    assert told == []  # one signal for the whole run, not five per cell
    (changes,) = batches
    assert len(changes) == rows * 2 and not page.filling_past
    qtbot.waitUntil(lambda: page.grid.pane("r0m1") is not None, timeout=30_000)
    done, failed = page.grid.pane("r0m0"), page.grid.pane("r0m1")
    assert done is not None and done.phase == "done"
    assert failed is not None and failed.phase == "failed" and failed.error_text() == "boom"
    assert page.grid.cell_text("r0m0").startswith("answer 0")
    assert page.store.status(CellId.text(rows - 1, 1))[0] == Phase.FAILED


def test_a_big_past_run_shows_its_top_rows_at_once_and_the_rest_over_the_next_turns(
    qtbot: QtBot,
) -> None:
    from gui.core.session import Counts
    from gui.qt.views.results_page import PAST_CELLS_AT_ONCE

    page = results_page(qtbot)
    rows = PAST_CELLS_AT_ONCE  # twice as many cells as are filled at once
    last = CellId.text(rows - 1, 1)
    page.show_past(past_run(rows), Counts(done=rows, failed=rows, total=rows * 2))
    assert page.filling_past
    assert page.store.status("r0m0")[0] == Phase.DONE  # the top rows: at once
    assert page.store.status(last)[0] != Phase.FAILED  # the last: not yet
    qtbot.waitUntil(lambda: not page.filling_past, timeout=30_000)
    assert page.store.status(last)[0] == Phase.FAILED and page.store.error(last) == "boom"
    # Another past run shown while one is filled in: the first one's rest never lands on it.
    page.show_past(past_run(rows), Counts(done=rows, failed=rows, total=rows * 2))
    assert page.filling_past
    page.store.set_shape(["cats"], ["a", "b"], CellId.grid(1, 2))
    assert not page.filling_past and page.store.status("r0m1")[0] == Phase.QUEUED


class _Watched(list[str]):
    """A list a weak reference can follow (a slotted cell state cannot be followed itself)."""


async def test_a_new_run_shape_lets_the_last_runs_states_go_after_the_press() -> None:
    import asyncio
    import weakref

    store = store_of(300, 2)
    store.set_status("r0m0", Phase.STREAMING, "")
    state = store.state("r0m0")
    assert state is not None
    state.chunks = _Watched(["an answer"])
    gone = weakref.ref(state.chunks)
    del state
    store.set_run_shape(["a"], ["m"])  # the next run's Run press
    fresh = store.state("r0m0")  # the new run's first cell: nothing of the last run's
    assert fresh is None or (fresh.phase == Phase.QUEUED and fresh.chunks == [])
    assert gone() is not None  # not freed inside the press
    for _ in range(3):
        await asyncio.sleep(0)
    assert gone() is None
