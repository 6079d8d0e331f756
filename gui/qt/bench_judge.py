"""The ``judge`` bench scenario's probe: 200 cells judged live in the real window.

Runs in a child process of ``fanout-studio bench`` (offscreen, on the app's loop, see
:mod:`gui.qt.probe`): the stress-200 demo (4 models x 50 inputs x 300 tokens at 100 tokens/s,
Tiles, all in view) in one window, without a judge and with the simulated judge scoring every
answer as it ends (its lane's limit at 200, so no call waits for a slot), twice each,
interleaved, after a small judged run that pays the session's first-run costs. The figures:
the best wall time of each kind and their ratio, every run's wall, the best CPU time of each
kind (the process's, every thread: on a shared machine the wall moves with the neighbours'
load, the CPU much less) and the GUI thread's own, the judge's calls and what they cost, and
the GUI thread's lateness (a 10 ms heartbeat) over the whole session and during the judged
runs, with the plain runs' beside it (the same window's lateness without a judge, in the same
minutes of the machine).

Where a judged run's extra wall time goes: ``last_answer_*_s`` is when the run's last answer
ended (the answers themselves end later when the judge's work shares the loop with their
last tokens), ``judge_tail_s`` the judged run's wall after its last answer (the last answer's
own judge call, about 0.2 s); ``ending_gui_cpu_*_s`` is each run's GUI-thread CPU time from
its first answer's end to its last (the stretch where the judge's work competed with the
last tokens), ``tail_gui_cpu_*_s`` the same after the last answer; ``judge_held`` counts the
judge calls that came while answers were still pending and so waited for the loop to keep up
with them (:class:`gui.core.slack.SlackGate`). Per judged run, the judge's side of the tail:
``judge_started_in_tail`` (calls whose request went out after the last answer),
``judge_start_delay_*_s`` (from a cell's end to its call's request), and, after the last
answer, ``last_answer_judge_call_s`` (its own call's verdict), ``last_judge_start_s`` (the
last request) and ``last_verdict_s`` (the last verdict: the run ends with it).

Two lateness figures. ``*_lag_*`` is the window's own heartbeat (its
:class:`~gui.qt.widgets.lag_meter.LagMeter`, a Qt timer, from the window on screen): how late
the GUI thread serves an event, what a user sees as a stutter, and the figure the window
scenarios (stream-stress, stream-stress-200, render-ceiling, startup) hold their session
target to, read through ``--print-stats``. ``loop_wait_*`` is a 10 ms heartbeat task on the asyncio loop: each beat
also waits for every callback queued before it in the ready queue, which while 200 answers
catch up with their schedule holds a callback per stream (a whole round of them, 20-40 ms):
how long a coroutine waits for its turn, not a frozen window.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass, replace
from typing import Any

from gui.core import events as ev
from gui.core.lag import percentile
from gui.core.spec import SIM_JUDGE_MODEL, JudgeSettings, ModelProfile, SimSettings

#: The window the scenario opens: 200 minimum-size tiles need a full-HD screen.
WINDOW_SIZE = (1920, 1080)
#: The simulated judge: its reply (about 30 tokens of JSON) takes about 0.2 s, a judge on a
#: fast server; the run's answers take about 3.3 s each.
JUDGE_SIM = SimSettings(ttft=0.1, tokens_per_second=300.0, jitter=0.1, seed=13)
#: The judge lane's limit: every call can go out the moment its cell ends.
JUDGE_LIMIT = 200


@dataclass(frozen=True, slots=True)
class _Measured:
    """One run of the demo, in seconds.

    Attributes:
        wall: The run's wall time (its summary's).
        cpu: The process's CPU time in it (every thread's; steadier than the wall on a shared
            machine).
        gui_cpu: The GUI thread's own CPU time in it.
        last_answer: When its last answer ended (run time).
        judge_cost: The judge's spend (``judge $0`` for the free simulated judge), or ``""``.
        ending_gui_cpu: The GUI thread's CPU time from its first answer's end to its last's:
            the stretch where everything else on the loop competes with the last tokens.
        tail_gui_cpu: The GUI thread's CPU time after its last answer ended.
        started_in_tail: Judge calls whose request went out after the last answer ended.
        start_delay_p50: The median time from a cell's end to its judge call's request.
        start_delay_max: The longest such time.
        last_own_call: How long the last answer's own judge call took, from its cell's end
            to its verdict.
        last_start: When the last judge call's request went out, after the last answer.
        last_verdict: When the last verdict came, after the last answer.
    """

    wall: float
    cpu: float
    gui_cpu: float
    last_answer: float
    judge_cost: str
    ending_gui_cpu: float
    tail_gui_cpu: float
    started_in_tail: int = 0
    start_delay_p50: float = 0.0
    start_delay_max: float = 0.0
    last_own_call: float = 0.0
    last_start: float = 0.0
    last_verdict: float = 0.0


async def _run(window: Any, judge: JudgeSettings | None) -> _Measured:
    """Run the loaded demo with ``judge`` and measure it."""
    from gui.core.costs import judge_label

    window.judge_page.set_settings(judge)
    finished: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    last_answer = 0.0
    last_cell = ""
    ended_cpu: list[float] = []  # the GUI thread's CPU time at each answer's end
    ended_at: dict[str, float] = {}  # when each answer ended (run time), by cell
    started_at: dict[str, float] = {}  # when each judge call's first request went out
    verdict_at: dict[str, float] = {}  # when each judge call ended

    def done(summary: Any) -> None:
        if not finished.done():
            finished.set_result(summary)

    def heard(event: object) -> None:
        nonlocal last_answer, last_cell
        if isinstance(event, ev.CellFinished):
            ended_cpu.append(time.thread_time())
            ended_at[event.cell_id] = event.t
            if event.t >= last_answer:
                last_answer, last_cell = event.t, event.cell_id
        elif isinstance(event, ev.JudgeStarted):
            started_at.setdefault(event.key, event.t)
        elif isinstance(event, ev.JudgeEnded):
            verdict_at[event.key] = event.t

    window.run_finished.connect(done)
    unsubscribe = window.session.subscribe(heard)
    cpu, gui_cpu = time.process_time(), time.thread_time()
    try:
        window.run_action.trigger()
        summary = await asyncio.wait_for(finished, 300)
    finally:
        window.run_finished.disconnect(done)
        unsubscribe()
    now_cpu = time.thread_time()
    cpu, gui_cpu = time.process_time() - cpu, now_cpu - gui_cpu
    if summary.done != summary.total or not ended_cpu:
        raise RuntimeError(f"only {summary.done} of {summary.total} cells done")
    run = window.session.current_run
    cost = judge_label(run.judge.cost) if run is not None and run.judge is not None else ""
    ending, tail = ended_cpu[-1] - ended_cpu[0], now_cpu - ended_cpu[-1]
    delays = sorted(t - ended_at[key] for key, t in started_at.items() if key in ended_at)
    return _Measured(
        float(summary.wall),
        cpu,
        gui_cpu,
        last_answer,
        cost,
        ending,
        tail,
        started_in_tail=sum(1 for t in started_at.values() if t > last_answer),
        start_delay_p50=percentile(delays, 0.5),
        start_delay_max=delays[-1] if delays else 0.0,
        last_own_call=verdict_at.get(last_cell, last_answer) - last_answer,
        last_start=max(started_at.values(), default=last_answer) - last_answer,
        last_verdict=max(verdict_at.values(), default=last_answer) - last_answer,
    )


async def _main(quick: bool) -> dict[str, Any]:
    from gui.qt.probe import LoopBeat, open_window, warmed
    from gui.resources import load_preset

    window = open_window(WINDOW_SIZE)
    beat = LoopBeat("bench-judge-beat")
    await warmed(window)
    loop = asyncio.get_running_loop()
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
    plain: list[_Measured] = []
    judged: list[_Measured] = []
    judged_lag: list[tuple[float, float, float, float]] = []
    plain_lag: list[tuple[float, float, float, float]] = []
    rounds = 1 if quick else 2
    lane = None
    for _ in range(rounds):  # interleaved, so a slow minute of the machine hits both
        # Each span on both clocks: the window's meter's (perf_counter) and the loop's.
        started = (time.perf_counter(), loop.time())
        plain.append(await _run(window, None))
        plain_lag.append((*started, time.perf_counter(), loop.time()))
        started = (time.perf_counter(), loop.time())
        judged.append(await _run(window, judge))
        judged_lag.append((*started, time.perf_counter(), loop.time()))
        run = window.session.current_run
        lane = run.judge if run is not None else None
        if lane is None:
            raise RuntimeError("the judged run had no judge lane")
    await beat.stop()
    meter = window.lag
    session = meter.session_stats()
    during = [meter.session_stats(a, b) for a, _, b, _ in judged_lag]
    during_plain = [meter.session_stats(a, b) for a, _, b, _ in plain_lag]
    freezes = meter.session_freezes()
    waited = beat.lag.stats()
    waited_judged = [beat.lag.stats_between(a, b) for _, a, _, b in judged_lag]
    waited_plain = [beat.lag.stats_between(a, b) for _, a, _, b in plain_lag]
    cells = len(window.session.current_run.cells) if window.session.current_run else 0
    await window.shutdown()
    window.close()
    assert lane is not None
    best_plain = min(plain, key=lambda m: m.wall)
    best_judged = min(judged, key=lambda m: m.wall)
    plain_cpu, judged_cpu = min(m.cpu for m in plain), min(m.cpu for m in judged)
    plain_gui, judged_gui = min(m.gui_cpu for m in plain), min(m.gui_cpu for m in judged)
    return {
        "cells": cells,
        "wall_plain_s": round(best_plain.wall, 3),
        "wall_judged_s": round(best_judged.wall, 3),
        "wall_plain_runs_s": [round(m.wall, 3) for m in plain],
        "wall_judged_runs_s": [round(m.wall, 3) for m in judged],
        "last_answer_plain_s": round(best_plain.last_answer, 3),
        "last_answer_judged_s": round(best_judged.last_answer, 3),
        "judge_tail_s": round(best_judged.wall - best_judged.last_answer, 3),
        "cpu_plain_s": round(plain_cpu, 3),
        "cpu_judged_s": round(judged_cpu, 3),
        "cpu_ratio": round(judged_cpu / plain_cpu, 3),
        "gui_cpu_plain_s": round(plain_gui, 3),
        "gui_cpu_judged_s": round(judged_gui, 3),
        "gui_cpu_ratio": round(judged_gui / plain_gui, 3),
        "ending_gui_cpu_plain_s": [round(m.ending_gui_cpu, 3) for m in plain],
        "ending_gui_cpu_judged_s": [round(m.ending_gui_cpu, 3) for m in judged],
        "tail_gui_cpu_plain_s": [round(m.tail_gui_cpu, 3) for m in plain],
        "tail_gui_cpu_judged_s": [round(m.tail_gui_cpu, 3) for m in judged],
        "wall_ratio": round(best_judged.wall / best_plain.wall, 3),
        "judge_started_in_tail": [m.started_in_tail for m in judged],
        "judge_start_delay_p50_s": [round(m.start_delay_p50, 3) for m in judged],
        "judge_start_delay_max_s": [round(m.start_delay_max, 3) for m in judged],
        "last_answer_judge_call_s": [round(m.last_own_call, 3) for m in judged],
        "last_judge_start_s": [round(m.last_start, 3) for m in judged],
        "last_verdict_s": [round(m.last_verdict, 3) for m in judged],
        "judge_cost": best_judged.judge_cost,
        "judge_done": lane.counts.done,
        "judge_failed": lane.counts.failed,
        "judge_peak_in_flight": lane.counts.peak_in_flight,
        "judge_held": lane.held,
        "session_lag_p99_ms": round(session.p99_ms, 2),
        "session_lag_max_ms": round(session.max_ms, 2),
        "session_lag_samples": session.samples,
        "freezes_over_50_ms": len(freezes),
        "judged_run_lag_p99_ms": round(max(d.p99_ms for d in during), 2),
        "judged_run_lag_max_ms": round(max(d.max_ms for d in during), 2),
        "plain_run_lag_p99_ms": round(max(d.p99_ms for d in during_plain), 2),
        "plain_run_lag_max_ms": round(max(d.max_ms for d in during_plain), 2),
        "loop_wait_p99_ms": round(waited.p99_ms, 2),
        "loop_wait_max_ms": round(waited.max_ms, 2),
        "judged_run_loop_wait_p99_ms": round(max(d.p99_ms for d in waited_judged), 2),
        "plain_run_loop_wait_p99_ms": round(max(d.p99_ms for d in waited_plain), 2),
    }


def main(argv: list[str] | None = None) -> int:
    """Measure in this process and print one JSON line."""
    from gui.qt.probe import run_probe

    parser = argparse.ArgumentParser(prog="python -m gui.qt.bench_judge", allow_abbrev=False)
    parser.add_argument("--quick", action="store_true", help="reduced size (2 x 5 cells)")
    args = parser.parse_args(argv)
    return run_probe(lambda: _main(args.quick))


if __name__ == "__main__":
    sys.exit(main())
