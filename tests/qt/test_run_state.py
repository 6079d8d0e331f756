"""The window's state is always true: after a retry, and when a past run is opened.

The gauges, the progress bar, the status bar and the History tab must tell the same story as
the grid. Runs on qasync's loop (see conftest) with the real engine and the simulated model.
"""

from __future__ import annotations

import asyncio

from PySide6.QtWidgets import QLabel

from gui.compat.gc_policy import SHOWN_RUN, holders
from gui.compat.hooks import GC_POLICY, enabled
from gui.core.runner import CANCELLED_BEFORE_START, CANCELLED_BY_USER
from gui.core.spec import CellId, Limits, ModelProfile, SimSettings, Strategy
from gui.qt.main_window import MainWindow
from gui.qt.run_display import BIG_RUN_CELLS

from .conftest import SESSION_LOOP, signal_future, until

pytestmark = SESSION_LOOP


def sim(label: str, latency: float = 0.2, **kw: object) -> ModelProfile:
    settings = SimSettings.with_latency(latency, output_tokens=12, jitter=0.0, seed=5, **kw)  # type: ignore[arg-type]
    return ModelProfile(model="sim-1", label=label, sim=settings)


def setup(win: MainWindow, topics: list[str], model: ModelProfile, **limits: object) -> None:
    win.prompt.set_template("Tell me about {topic}")
    win.inputs.set_variables(win.prompt.variables())
    win.inputs.set_rows([{"topic": t} for t in topics])
    win.models.set_profiles([model])
    win.limits.set_strategy(Strategy.STREAM)
    win.limits.set_limits(Limits(**{"retries": 0, **limits}))  # type: ignore[arg-type]


def gauges(win: MainWindow) -> dict[str, int]:
    keys = ("in_flight", "waiting", "done", "failed", "cancelled")
    shown = {k: int(win.limits.findChild(QLabel, f"gauge_{k}").text()) for k in keys}
    shown["total"] = int(win.limits.findChild(QLabel, "gaugeTotal").text().split()[1])
    return shown


def ids(rows: int) -> list[str]:
    return [CellId.text(r, 0) for r in range(rows)]


def grid_tally(win: MainWindow, rows: int) -> dict[str, int]:
    statuses = [win.grid.cell_status(c) for c in ids(rows)]
    return {s: statuses.count(s) for s in ("done", "failed", "cancelled")}


async def history_record(win: MainWindow, run_id: str) -> object:
    await until(lambda: any(r.id == run_id for r in win.history_panel.records()), timeout=60)
    return next(r for r in win.history_panel.records() if r.id == run_id)


def agrees(win: MainWindow, rows: int) -> None:
    """Gauges, progress bar and status counts say what the grid shows."""
    tally = grid_tally(win, rows)
    shown = gauges(win)
    assert {k: shown[k] for k in tally} == tally
    assert shown["total"] == rows and shown["in_flight"] == shown["waiting"] == 0
    assert win.progress.value() == sum(tally.values()) and win.progress.maximum() == rows
    counts = f"done {tally['done']} · failed {tally['failed']} · cancelled {tally['cancelled']}"
    assert counts in win.counts_label.text()


async def test_retry_of_a_cancelled_cell_during_the_run_works_and_everything_agrees(
    window: MainWindow,
) -> None:
    setup(window, ["owls", "bees", "moths"], sim("slow", latency=0.8), max_concurrency=1)
    finished = signal_future(window.run_finished)
    run = window.start_run()
    assert run is not None
    window.grid.cancel_requested.emit("r2m0")  # still queued behind the other two
    await until(lambda: window.grid.cell_status("r2m0") == "cancelled")
    assert window.grid.cell_error("r2m0") == CANCELLED_BEFORE_START
    assert window.running

    window.grid.retry_requested.emit("r2m0")  # the run is still going
    await until(lambda: window.grid.cell_status("r2m0") != "cancelled")
    await until(lambda: window.grid.cell_status("r2m0") == "done")
    assert "moth" in window.grid.cell_text("r2m0").lower()
    await asyncio.wait_for(finished, 60)
    await until(lambda: not window.running)

    assert grid_tally(window, 3) == {"done": 3, "failed": 0, "cancelled": 0}
    agrees(window, 3)
    assert "3 done, 0 failed, 0 cancelled" in window.statusBar().currentMessage()
    await until(
        lambda: any(
            r.id == run.id and (r.done, r.failed, r.cancelled) == (3, 0, 0)
            for r in window.history_panel.records()
        ),
        timeout=60,
    )


async def test_cancelling_thousands_of_waiting_cells_ends_each_once_and_everything_agrees(
    window: MainWindow,
) -> None:
    rows = BIG_RUN_CELLS + 500
    setup(window, [f"topic {i}" for i in range(rows)], sim("slow", latency=30.0), max_concurrency=2)
    finished = signal_future(window.run_finished)
    run = window.start_run()
    assert run is not None
    await until(lambda: run.in_flight == 2)
    window.cancel_all()
    await asyncio.wait_for(finished, 60)  # not the 30 s the answers would take
    assert grid_tally(window, rows) == {"done": 0, "failed": 0, "cancelled": rows}
    agrees(window, rows)
    assert window.grid.cell_error("r0m0") == CANCELLED_BY_USER  # its request was out
    assert window.grid.cell_error(CellId.text(rows - 1, 0)) == CANCELLED_BEFORE_START
    record = await history_record(window, run.id)
    assert (record.status, record.done, record.failed, record.cancelled) == (  # type: ignore[attr-defined]
        "cancelled",
        0,
        0,
        rows,
    )
    # What the big run left stays shown: no full collection scans it meanwhile (one did, in
    # a single step on whichever thread allocated), until another run is shown.
    assert (SHOWN_RUN in holders()) == enabled(GC_POLICY)
    setup(window, ["owls"], sim("fast", latency=0.05))
    finished = signal_future(window.run_finished)
    assert window.start_run() is not None
    await asyncio.wait_for(finished, 60)
    assert SHOWN_RUN not in holders()


async def test_retry_after_the_run_moves_the_gauges_progress_status_and_history(
    window: MainWindow,
) -> None:
    setup(window, ["rain", "snow"], sim("flaky", failure_rate=1.0, failure_kind="server_error"))
    finished = signal_future(window.run_finished)
    run = window.start_run()
    assert run is not None
    await asyncio.wait_for(finished, 60)
    agrees(window, 2)
    assert gauges(window)["failed"] == 2

    window.models.set_profiles([sim("flaky")])  # the server recovered; Retry on one pane
    window.grid.retry_requested.emit("r1m0")
    await until(lambda: window.grid.cell_status("r1m0") == "done")
    await until(lambda: not window.running)
    assert grid_tally(window, 2) == {"done": 1, "failed": 1, "cancelled": 0}
    # The status bar speaks once the retry's cells are stored (the session flushes the
    # history before it reports the run ended), which may come after the grid's repaint.
    await until(lambda: "1 done, 1 failed, 0 cancelled" in window.statusBar().currentMessage())
    agrees(window, 2)
    await until(
        lambda: any(
            r.id == run.id and (r.done, r.failed) == (1, 1) for r in window.history_panel.records()
        ),
        timeout=60,
    )


async def test_opening_a_past_run_resets_the_dock_progress_and_status_bar(
    window: MainWindow,
) -> None:
    setup(window, ["cats", "dogs"], sim("quick"))
    finished = signal_future(window.run_finished)
    first = window.start_run()
    assert first is not None
    await asyncio.wait_for(finished, 60)

    # A second run, cancelled while its first cell streams: the others never started.
    setup(window, ["tides", "waves", "foam", "salt"], sim("slow", latency=4.0), max_concurrency=1)
    finished = signal_future(window.run_finished)
    second = window.start_run()
    assert second is not None
    await until(lambda: len(window.grid.cell_text("r0m0")) > 3, timeout=60)
    window.cancel_all()
    await asyncio.wait_for(finished, 60)
    assert window.grid.cell_error("r1m0") == CANCELLED_BEFORE_START
    assert "partial text kept" in window.grid.cell_error("r0m0")
    agrees(window, 4)

    await history_record(window, first.id)
    stored = await window.services.history.get_run(first.id)
    assert stored is not None and window.show_past_run(stored)
    assert window.past_banner.isVisible()
    agrees(window, 2)  # the dock and the progress bar show the past run, not the last one
    assert gauges(window) == {
        "in_flight": 0,
        "waiting": 0,
        "done": 2,
        "failed": 0,
        "cancelled": 0,
        "total": 2,
    }
    message = window.statusBar().currentMessage()
    assert first.id in message and "2 done, 0 failed, 0 cancelled" in message

    await history_record(window, second.id)
    stored = await window.services.history.get_run(second.id)
    assert stored is not None and window.show_past_run(stored)
    agrees(window, 4)
    assert gauges(window)["cancelled"] == 4
    for cell_id in ids(4)[1:]:
        assert window.grid.cell_error(cell_id) == CANCELLED_BEFORE_START
    assert "partial text kept" in window.grid.cell_error("r0m0")
    assert second.id in window.statusBar().currentMessage()


async def test_a_run_in_tiles_holds_the_markdown_warm_up_back_until_it_ends(
    window: MainWindow,
) -> None:
    # Tiles draw plain text: the lexers' warm-up would only compete with the run there.
    window.results.set_layout("tiles")
    setup(window, ["tides", "waves"], sim("slow", latency=4.0), max_concurrency=1)
    assert not window.warmup.markdown_held
    finished = signal_future(window.run_finished)
    run = window.start_run()
    assert run is not None
    assert window.warmup.markdown_held
    # The Grid renders Markdown: there the warm-up goes on (its panes need the lexers).
    window.results.set_layout("grid")
    assert not window.warmup.markdown_held
    window.results.set_layout("tiles")
    assert window.warmup.markdown_held
    window.cancel_all()
    await asyncio.wait_for(finished, 60)
    assert not window.running and not window.warmup.markdown_held
