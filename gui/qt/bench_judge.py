"""The ``judge`` bench scenario's probe: 200 cells judged live in the real window.

Runs in a child process of ``fanout-studio bench`` (offscreen, on the app's loop, see
:mod:`gui.qt.probe`): the stress-200 demo (4 models x 50 inputs x 300 tokens at 100 tokens/s,
Tiles, all in view) in one window, without a judge and with the simulated judge scoring every
answer as it ends (its lane's limit at 200, so no call waits for a slot), twice each,
interleaved, after a small judged run that pays the session's first-run costs. The figures:
the best wall time of each kind and their ratio, every run's wall, the best CPU time of each
kind (the process's, every thread: on a shared machine the wall moves with the neighbours'
load, the CPU much less), the judge's calls, and the GUI thread's lateness (a 10 ms
heartbeat) over the whole session and during the judged runs, with the plain runs' beside it
(the same window's lateness without a judge, in the same minutes of the machine).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
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


async def _run(window: Any, judge: JudgeSettings | None) -> tuple[float, float]:
    """Run the loaded demo with ``judge``: its wall time and the process's CPU time in it
    (every thread's; steadier than the wall on a shared machine), in seconds."""
    window.judge_page.set_settings(judge)
    finished: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def done(summary: Any) -> None:
        if not finished.done():
            finished.set_result(summary)

    window.run_finished.connect(done)
    cpu = time.process_time()
    try:
        window.run_action.trigger()
        summary = await asyncio.wait_for(finished, 300)
    finally:
        window.run_finished.disconnect(done)
    cpu = time.process_time() - cpu
    if summary.done != summary.total:
        raise RuntimeError(f"only {summary.done} of {summary.total} cells done")
    return float(summary.wall), cpu


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
    # The rest of the warm-up (the Markdown view's lexers, ~1 s of CPU on a worker thread)
    # too: it would count against whichever run it overlapped.
    if window.warmup.task is not None:
        await window.warmup.task
    preset = load_preset("stress-200")
    small = replace(
        preset,
        rows=preset.rows[:5],
        models=tuple(replace(m, sim=replace(m.sim, output_tokens=30)) for m in preset.models[:2]),
    )
    if quick:  # the machinery only: 2 models x 5 inputs x 30 tokens
        preset = small
    judge = JudgeSettings(
        model=ModelProfile(model=SIM_JUDGE_MODEL, sim=JUDGE_SIM), max_concurrency=JUDGE_LIMIT
    )
    window.results.set_layout("tiles")
    # A small judged run first: the first run of a session pays for lazy imports and the
    # first chains, which would count against whichever run came first.
    window.load_preset(small)
    await _run(window, judge)
    window.load_preset(preset)
    window.results.set_layout("tiles")
    plain: list[tuple[float, float]] = []
    judged: list[tuple[float, float]] = []
    judged_lag: list[tuple[float, float]] = []
    plain_lag: list[tuple[float, float]] = []
    rounds = 1 if quick else 2
    lane = None
    for _ in range(rounds):  # interleaved, so a slow minute of the machine hits both
        started = loop.time()
        plain.append(await _run(window, None))
        plain_lag.append((started, loop.time()))
        started = loop.time()
        judged.append(await _run(window, judge))
        judged_lag.append((started, loop.time()))
        run = window.session.current_run
        lane = run.judge if run is not None else None
        if lane is None:
            raise RuntimeError("the judged run had no judge lane")
    stop.set()
    await beat
    session = lag.stats()
    during = [lag.stats_between(a, b) for a, b in judged_lag]
    during_plain = [lag.stats_between(a, b) for a, b in plain_lag]
    cells = len(window.session.current_run.cells) if window.session.current_run else 0
    await window.shutdown()
    window.close()
    assert lane is not None
    plain_wall, judged_wall = min(w for w, _ in plain), min(w for w, _ in judged)
    plain_cpu, judged_cpu = min(c for _, c in plain), min(c for _, c in judged)
    return {
        "cells": cells,
        "wall_plain_s": round(plain_wall, 3),
        "wall_judged_s": round(judged_wall, 3),
        "wall_plain_runs_s": [round(w, 3) for w, _ in plain],
        "wall_judged_runs_s": [round(w, 3) for w, _ in judged],
        "cpu_plain_s": round(plain_cpu, 3),
        "cpu_judged_s": round(judged_cpu, 3),
        "cpu_ratio": round(judged_cpu / plain_cpu, 3),
        "wall_ratio": round(judged_wall / plain_wall, 3),
        "judge_done": lane.counts.done,
        "judge_failed": lane.counts.failed,
        "judge_peak_in_flight": lane.counts.peak_in_flight,
        "session_lag_p99_ms": round(session.p99_ms, 2),
        "session_lag_max_ms": round(session.max_ms, 2),
        "session_lag_samples": session.samples,
        "judged_run_lag_p99_ms": round(max(d.p99_ms for d in during), 2),
        "judged_run_lag_max_ms": round(max(d.max_ms for d in during), 2),
        "plain_run_lag_p99_ms": round(max(d.p99_ms for d in during_plain), 2),
        "plain_run_lag_max_ms": round(max(d.max_ms for d in during_plain), 2),
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
