"""The ``judge`` bench scenario's probe: 200 cells judged live in the real window.

Runs in a child process of ``fanout-studio bench`` (offscreen, on the app's loop, see
:mod:`gui.qt.probe`): the stress-200 demo (4 models x 50 inputs x 300 tokens at 100 tokens/s,
Tiles, all in view) twice in one window, first without a judge, then with the simulated judge
scoring every answer as it ends (its lane's limit at 200, so no call waits for a slot). The
figures: both runs' wall times and their ratio, the judge's calls, and the GUI thread's
lateness (a 10 ms heartbeat) over the whole session and over the judged run alone.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace
from typing import Any

from gui.core.lag import LagRecorder, heartbeat
from gui.core.spec import SIM_JUDGE_MODEL, JudgeSettings, ModelProfile, SimSettings

#: The window the scenario opens: 200 minimum-size tiles need a full-HD screen.
WINDOW_SIZE = (1920, 1080)
#: The simulated judge: its reply (about 30 tokens of JSON) takes about 0.2 s, a judge on a
#: fast server; the run's answers take about 3.3 s each.
JUDGE_SIM = SimSettings(ttft=0.1, tokens_per_second=300.0, jitter=0.1, seed=13)
#: The judge lane's limit: every call can go out the moment its cell ends.
JUDGE_LIMIT = 200


async def _run(window: Any, judge: JudgeSettings | None) -> float:
    """Run the loaded demo with ``judge`` and return its wall time in seconds."""
    window.judge_page.set_settings(judge)
    finished: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def done(summary: Any) -> None:
        if not finished.done():
            finished.set_result(summary)

    window.run_finished.connect(done)
    try:
        window.run_action.trigger()
        summary = await asyncio.wait_for(finished, 300)
    finally:
        window.run_finished.disconnect(done)
    if summary.done != summary.total:
        raise RuntimeError(f"only {summary.done} of {summary.total} cells done")
    return float(summary.wall)


async def _main(quick: bool) -> dict[str, Any]:
    from gui.qt.main_window import MainWindow
    from gui.resources import load_preset

    window = MainWindow()
    window.resize(*WINDOW_SIZE)
    window.show()
    # The session as the app's own figures count it: from the window on screen to the end.
    lag = LagRecorder(keep=10)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    beat = loop.create_task(heartbeat(lag, stop), name="bench-judge-beat")
    await window.warm_up()
    preset = load_preset("stress-200")
    if quick:  # the machinery only: 2 models x 5 inputs x 30 tokens
        models = tuple(replace(m, sim=replace(m.sim, output_tokens=30)) for m in preset.models[:2])
        preset = replace(preset, rows=preset.rows[:5], models=models)
    window.load_preset(preset)
    window.results.set_layout("tiles")
    judge = JudgeSettings(
        model=ModelProfile(model=SIM_JUDGE_MODEL, sim=JUDGE_SIM), max_concurrency=JUDGE_LIMIT
    )
    plain_wall = await _run(window, None)
    judged_from = loop.time()
    judged_wall = await _run(window, judge)
    judged_to = loop.time()
    run = window.session.current_run
    lane = run.judge if run is not None else None
    stop.set()
    await beat
    session, judged = lag.stats(), lag.stats_between(judged_from, judged_to)
    await window.shutdown()
    window.close()
    if lane is None:
        raise RuntimeError("the judged run had no judge lane")
    return {
        "cells": len(run.cells) if run is not None else 0,
        "wall_plain_s": round(plain_wall, 3),
        "wall_judged_s": round(judged_wall, 3),
        "wall_ratio": round(judged_wall / plain_wall, 3),
        "judge_done": lane.counts.done,
        "judge_failed": lane.counts.failed,
        "judge_peak_in_flight": lane.counts.peak_in_flight,
        "session_lag_p99_ms": round(session.p99_ms, 2),
        "session_lag_max_ms": round(session.max_ms, 2),
        "session_lag_samples": session.samples,
        "judged_run_lag_p99_ms": round(judged.p99_ms, 2),
        "judged_run_lag_max_ms": round(judged.max_ms, 2),
    }


def main(argv: list[str] | None = None) -> int:
    """Measure in this process and print one JSON line."""
    from gui.qt.probe import run_probe

    parser = argparse.ArgumentParser(prog="python -m gui.qt.bench_judge")
    parser.add_argument("--quick", action="store_true", help="reduced size (2 x 5 cells)")
    args = parser.parse_args(argv)
    return run_probe(lambda: _main(args.quick))


if __name__ == "__main__":
    sys.exit(main())
