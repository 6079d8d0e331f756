"""The ``sweep-600`` bench scenario's probe: a 600-cell sweep with repeats in Tiles.

Runs in a child process of ``fanout-studio bench`` (offscreen, on the app's loop, see
:mod:`gui.qt.probe`): 10 inputs x 4 simulated models x 3 temperatures (0, 0.7, 1.2) x 5
samples per cell = 600 cells (issue 15), streaming 100 tokens at 50 tokens/s each with 200
in flight at once, shown as Tiles in a full-HD window. The figures: the GUI thread's lateness
from the window on screen to the end and from Run to the last cell's end, the run's wall
time, the GUI thread's CPU time from Run to the end, how many cells ended done and how many
tiles the window showed.

Two lateness figures, as the judge probe (:mod:`gui.qt.bench_judge`) has them. ``*_lag_*`` is
the window's own heartbeat (its :class:`~gui.qt.widgets.lag_meter.LagMeter`, a 10 ms Qt
timer): how late the GUI thread serves an event, a stutter a user sees, and the figure the
target holds, as in every GUI scenario. ``loop_wait_*`` is a 10 ms heartbeat task on the
asyncio loop: each beat also waits behind every callback queued before it (with 200 streams
in flight, a round of them), how long a coroutine waits for its turn rather than a frozen
window.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import replace
from typing import Any

from gui.core.columns import ParamSweep
from gui.core.spec import Limits, ModelProfile, SimSettings

#: The window the scenario opens (the stress-200 scenario's).
WINDOW_SIZE = (1920, 1080)
#: Each answer: 100 tokens at 50 tokens/s after 0.3 s, about 2.3 s.
SIM = SimSettings(ttft=0.3, tokens_per_second=50.0, output_tokens=100, jitter=0.05)
#: The sweep: temperatures per model, and samples per cell.
TEMPERATURES = (0.0, 0.7, 1.2)
REPEATS = 5
#: Cells in flight at once (the stress-200 demo's limit).
LIMIT = 200


async def _run(window: Any) -> Any:
    """Run what the editors hold; the run's summary."""
    finished: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def done(summary: Any) -> None:
        if not finished.done():
            finished.set_result(summary)

    window.run_finished.connect(done)
    try:
        window.run_action.trigger()
        return await asyncio.wait_for(finished, 600)
    finally:
        window.run_finished.disconnect(done)


def _load(window: Any, rows: int, models: int, repeats: int) -> None:
    from gui.resources import load_preset

    preset = load_preset("stress-200")
    profiles = tuple(
        ModelProfile(
            model="sim-1",
            label=f"sim-{m + 1}",
            sim=replace(SIM, seed=m + 1),
            sweep=ParamSweep(temperature=TEMPERATURES),
        )
        for m in range(models)
    )
    window.load_preset(
        replace(
            preset, rows=preset.rows[:rows], models=profiles, limits=Limits(max_concurrency=LIMIT)
        )
    )
    window.limits.set_repeats(repeats)
    window.results.set_layout("tiles")


async def _main(quick: bool) -> dict[str, Any]:
    from gui.qt.probe import LoopBeat, open_window, warmed

    window = open_window(WINDOW_SIZE)
    beat = LoopBeat("bench-sweep-beat")
    await warmed(window)
    loop = asyncio.get_running_loop()
    if quick:  # the machinery only: 2 inputs x 2 models x 3 temperatures x 2 samples
        _load(window, 2, 2, 2)
    else:
        _load(window, 10, 4, REPEATS)
    # The preset shown before Run is pressed, as a user sees it: loading it and pressing Run
    # in one loop step made one 49 ms step no user can cause, and its paint after it.
    await asyncio.sleep(0.3)
    # The run's span on both clocks: the window's meter's (perf_counter) and the loop's.
    started, cpu = (time.perf_counter(), loop.time()), time.thread_time()
    summary = await _run(window)
    ended, cpu = (time.perf_counter(), loop.time()), time.thread_time() - cpu
    visible = window.results.visible_cells()
    await beat.stop()
    meter = window.lag
    session = meter.session_stats()
    during = meter.session_stats(started[0], ended[0])
    freezes = meter.session_freezes()
    waited = beat.lag.stats()
    waited_run = beat.lag.stats_between(started[1], ended[1])
    run = window.session.current_run
    columns = len(run.spec.columns) if run is not None else 0
    await window.shutdown()
    window.close()
    return {
        "cells": summary.total,
        "done": summary.done,
        "columns": columns,
        "samples_per_cell": window.limits.repeats(),
        "wall_s": round(float(summary.wall), 3),
        "visible_cells": visible,
        "session_lag_p99_ms": round(session.p99_ms, 2),
        "session_lag_max_ms": round(session.max_ms, 2),
        "session_lag_samples": session.samples,
        "freezes_over_50_ms": len(freezes),
        "run_lag_p99_ms": round(during.p99_ms, 2),
        "run_lag_max_ms": round(during.max_ms, 2),
        "loop_wait_p99_ms": round(waited.p99_ms, 2),
        "loop_wait_max_ms": round(waited.max_ms, 2),
        "run_loop_wait_p99_ms": round(waited_run.p99_ms, 2),
        "run_loop_wait_max_ms": round(waited_run.max_ms, 2),
        # Steadier than the lag on a shared machine: what the GUI thread itself spent.
        "run_gui_cpu_s": round(cpu, 3),
    }


def main(argv: list[str] | None = None) -> int:
    """Measure in this process and print one JSON line."""
    from gui.qt.probe import run_probe

    parser = argparse.ArgumentParser(prog="python -m gui.qt.bench_sweep", allow_abbrev=False)
    parser.add_argument("--quick", action="store_true", help="reduced size (24 cells)")
    args = parser.parse_args(argv)
    return run_probe(lambda: _main(args.quick))


if __name__ == "__main__":
    sys.exit(main())
