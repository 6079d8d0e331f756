"""The Scoreboard under load: the stress-200 demo run with the Scoreboard tab shown.

Run as a child process by ``fanout-studio bench --scenario scoreboard`` (``python -m
gui.qt.bench_scoreboard``, offscreen); prints one JSON object. The real window runs the
stress-200 demo (4 models x 50 inputs x 300 tokens at 100 tokens/s, all concurrent) with the
Scoreboard tab in front, so the heat-map and the summaries are summed up live while 200
answers stream and end. Measured:

* ``refresh_ms_*``: what one Scoreboard refresh costs the GUI thread (re-scoring the cells
  that changed, summing the run up, updating both tables), median, p95 and max over the
  run, and how many refreshes there were (at most one per frame by design);
* ``lag_*``: the GUI thread's lateness from the run's start to its end on the window's own
  heartbeat (its :class:`~gui.qt.widgets.lag_meter.LagMeter`, a 10 ms Qt timer, as every
  GUI scenario measures it: the outside view of every freeze a user would see);
  ``loop_wait_*``: a 10 ms heartbeat task on the asyncio loop beside it, which also waits
  behind every callback queued before it (200 streams' worth), how long a coroutine waits
  for its turn rather than a frozen window; ``reference_*``: the same run with the
  Scoreboard tab hidden (it must then do no refresh at all). Runs alternate, reference
  first, two of each: the lag figures are the better run of each kind, the refresh costs
  the worst;
* ``large_full_ms`` / ``large_one_ms``: a refresh of a finished 2,500 x 4 = 10,000-cell run,
  every cell re-scored (a past run opened) and with one cell changed (a live run's usual
  frame): what keeps a very large run from costing a frame.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from typing import Any

from gui.core.lag import LagRecorder, heartbeat
from gui.core.metrics import CellMetrics
from gui.core.runner import Phase

LARGE_ROWS, LARGE_MODELS = 2500, 4


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


async def _live(quick: bool, shown: bool) -> dict[str, Any]:
    """The stress-200 run with the Scoreboard in front (``shown``), or hidden behind the
    Compare strategies tab (the reference: the same run, no Scoreboard work)."""
    from gui.qt.main_window import MainWindow
    from gui.resources import load_preset

    win = MainWindow()
    win.resize(1600, 1000)
    win.show()
    await win.wait_built()
    await win.warm_up()
    page = win.scoreboard
    costs: list[float] = []
    refresh = page.refresh

    def timed_refresh() -> None:
        started = time.perf_counter()
        refresh()
        costs.append((time.perf_counter() - started) * 1000)

    page.refresh = timed_refresh  # type: ignore[method-assign]
    preset = load_preset("stress-200")
    win.load_preset(preset)
    if quick:
        win.inputs.set_rows(win.inputs.rows()[:5])
    win.tabs.setCurrentWidget(page if shown else win.chart)
    finished: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def on_finished(summary: Any) -> None:
        if not finished.done():
            finished.set_result(summary)

    win.run_finished.connect(on_finished)
    win.lag.begin_session()  # the window's heartbeat runs (its figures are taken below)
    lag, stop = LagRecorder(), asyncio.Event()
    beat = asyncio.ensure_future(heartbeat(lag, stop))
    started = time.perf_counter()
    win.start_run()
    summary = await asyncio.wait_for(finished, 300)
    await asyncio.sleep(0.2)  # the last refresh after the last cell
    stats = win.lag.session_stats(started, time.perf_counter())
    stop.set()
    await beat
    waited = lag.stats()
    board = page.board
    scored = sum(s.done for s in board.models_summary) if board is not None else 0
    await win.shutdown()
    win.close()
    return {
        "cells": summary.total,
        "done": summary.done,
        "scored": scored,
        "wall_s": round(summary.wall, 3),
        "refreshes": len(costs),
        "refresh_ms_median": round(statistics.median(costs), 3) if costs else None,
        "refresh_ms_p95": round(_pct(costs, 0.95), 3),
        "refresh_ms_max": round(max(costs, default=0.0), 3),
        "lag_p99_ms": round(stats.p99_ms, 2),
        "lag_max_ms": round(stats.max_ms, 2),
        "lag_samples": stats.samples,
        "loop_wait_p99_ms": round(waited.p99_ms, 2),
        "loop_wait_max_ms": round(waited.max_ms, 2),
    }


def _large() -> dict[str, Any]:
    from gui.qt.views.scoreboard_page import ScoreboardPage
    from gui.qt.widgets.cell_store import CellStore

    store = CellStore()
    page = ScoreboardPage(store)
    page.resize(1200, 800)
    page.show()
    ids = [[f"r{r}m{c}" for c in range(LARGE_MODELS)] for r in range(LARGE_ROWS)]
    store.set_shape(
        [f"input {r}" for r in range(LARGE_ROWS)], [f"m{c}" for c in range(LARGE_MODELS)], ids
    )
    for r, row in enumerate(ids):
        for c, cell_id in enumerate(row):
            latency = 1.0 + (r * 7 + c * 13) % 50 / 10
            m = CellMetrics(0.0, 0.0, 0.2, latency, 0.0, 0.2, latency, 300, False, 80.0, 0)
            store.set_status(cell_id, Phase.DONE)
            store.set_metrics(cell_id, m)
    started = time.perf_counter()
    page.refresh()  # every cell re-scored: the first refresh after the shape
    full = (time.perf_counter() - started) * 1000
    store.set_metrics("r10m1", None)
    started = time.perf_counter()
    page.refresh()
    one = (time.perf_counter() - started) * 1000
    page.close()
    return {
        "large_cells": LARGE_ROWS * LARGE_MODELS,
        "large_full_ms": round(full, 2),
        "large_one_ms": round(one, 2),
    }


async def _measure(quick: bool) -> dict[str, Any]:
    # Interleaved, reference first, twice each (once in --quick): the first run of a process
    # pays for warm caches either way, and the load of a shared machine drifts. The figures
    # are the better run of each kind; refreshes and scoring of the last.
    rounds = 1 if quick else 2
    shown: list[dict[str, Any]] = []
    hidden: list[dict[str, Any]] = []
    for _ in range(rounds):
        hidden.append(await _live(quick, shown=False))
        shown.append(await _live(quick, shown=True))
    best = min(shown, key=lambda f: f["lag_p99_ms"])
    figures = {**shown[-1], **{k: v for k, v in best.items() if "lag" in k or "loop_wait" in k}}
    figures["refresh_ms_p95"] = max(f["refresh_ms_p95"] for f in shown)
    figures["refresh_ms_max"] = max(f["refresh_ms_max"] for f in shown)
    reference = min(hidden, key=lambda f: f["lag_p99_ms"])
    figures["reference_lag_p99_ms"] = reference["lag_p99_ms"]
    figures["reference_lag_max_ms"] = reference["lag_max_ms"]
    figures["reference_loop_wait_p99_ms"] = reference["loop_wait_p99_ms"]
    figures["reference_refreshes"] = max(f["refreshes"] for f in hidden)
    figures.update(_large())
    return figures


def main() -> int:
    """Measure and print one JSON line (``--quick``: 5 inputs instead of 50)."""
    from gui.qt.probe import run_probe

    quick = "--quick" in sys.argv[1:]
    return run_probe(lambda: _measure(quick))


if __name__ == "__main__":
    raise SystemExit(main())
