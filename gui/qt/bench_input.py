"""What a user's hands feel: typing, pasting, starting and cancelling a big run, painting the
timeline, showing the Grid and toggling blind mode over a finished sweep of 60 columns.

Run as a child process by ``fanout-studio bench --scenario input`` (``python -m
gui.qt.bench_input``, offscreen); prints one JSON object. Each figure has its reference
measured in the same process the same way: keys typed into the app's template editor against
keys typed into a bare ``QPlainTextEdit`` holding the same text, so the ratio holds on a
machine whose speed varies from day to day. The tests assert what makes these fast (a parse
waits for a pause, panes are lazy, one call gives every row its first status); the
milliseconds are measured only here.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QElapsedTimer, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QPlainTextEdit, QWidget

from gui.qt.widgets.lag_meter import FRAME_MS

PARAGRAPH = "Background the model should read before answering, with {{braces}} kept. " * 14
KEYS = " and {topic} again" * 3  # 54 keys: a median of a few sub-ms keys was mostly noise


class Heartbeat:
    """How late a 5 ms precise timer on the GUI thread fires: the lag a user would feel.

    Also the GUI thread's CPU time between two beats (:attr:`cpu_gaps`): on a machine shared
    with other work the lag includes the time the thread waited for a core, the CPU time
    only what the app itself spent in one step.
    """

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.cpu_gaps: list[float] = []
        self._cpu = 0.0
        self._clock = QElapsedTimer()
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(5)
        self._timer.timeout.connect(self._on_timer_timeout)

    def start(self) -> None:
        self._clock.start()
        self._cpu = time.thread_time()
        self._timer.start()

    def stop(self) -> float:
        """Stop; the largest lag in ms."""
        self._timer.stop()
        return max(self.lags, default=0.0)

    def cpu_max(self) -> float:
        """The most CPU time in ms the GUI thread spent between two beats."""
        return max(self.cpu_gaps, default=0.0)

    def _on_timer_timeout(self) -> None:
        self.lags.append(max(self._clock.restart() - 5.0, 0.0))
        cpu = time.thread_time()
        self.cpu_gaps.append((cpu - self._cpu) * 1000)
        self._cpu = cpu


async def _type(editor: QWidget, text: str) -> list[float]:
    """Type ``text`` a key at a time with a pause between keys; each key's cost in ms."""
    costs = []
    for char in text:
        start = time.perf_counter()
        QTest.keyClicks(editor, char)
        costs.append((time.perf_counter() - start) * 1000)
        await asyncio.sleep(0.02)  # the loop paints and runs its timers between keys
    return costs


def _to_end(editor: QPlainTextEdit) -> None:
    cursor = editor.textCursor()
    cursor.movePosition(cursor.MoveOperation.End)
    editor.setTextCursor(cursor)


class _Spans:
    """Stretches of the session (``time.perf_counter()`` spans) its figures treat apart.

    Attributes:
        bare: The bare reference editor's own steps: not the app, left out of the session.
        one_paragraph: The app's editor typed into with a 100 KB single paragraph: Qt lays
            the whole paragraph out again at every key, in any editor (a bare one's keys
            cost about as much), so the session's p99 is read without it, and it apart.
        bare_one_paragraph: The bare editor's own one-paragraph step: the reference the
            app's stretch is read beside.
        steps: When each step of the probe began (name, ``time.perf_counter()``), in order.
    """

    def __init__(self) -> None:
        self.bare: list[tuple[float, float]] = []
        self.one_paragraph: list[tuple[float, float]] = []
        self.bare_one_paragraph = (0.0, 0.0)
        self.steps: list[tuple[str, float]] = []

    def step(self, name: str) -> None:
        """The probe's step ``name`` begins now."""
        self.steps.append((name, time.perf_counter()))

    def step_of(self, at: float) -> str:
        """The step a beat that ran at ``at`` belongs to."""
        if any(start <= at <= end for start, end in self.one_paragraph):
            return "typing one paragraph"
        return next((name for name, began in reversed(self.steps) if at >= began), "start-up")


async def _typing(window: Any, spans: _Spans) -> dict[str, float]:
    """Slowest and median key into 100 KB templates, the app's editor against a bare one."""
    shapes = {
        "paragraphs": "\n".join([PARAGRAPH] * 100) + "\nNow tell me about {topic}",
        "one_paragraph": PARAGRAPH * 100 + " {topic}",
    }
    began = time.perf_counter()
    bare = QPlainTextEdit()
    bare.resize(window.prompt.editor.size())
    bare.show()
    figures: dict[str, float] = {}
    for shape, text in shapes.items():
        for name, editor in (("bare", bare), ("app", window.prompt.editor)):
            if editor is bare:
                bare.setPlainText(text)
            else:
                began = time.perf_counter()
                window.prompt.set_template(text)
            _to_end(editor)
            editor.setFocus()
            await asyncio.sleep(0.2)
            costs = await _type(editor, KEYS)
            if editor is bare:
                spans.bare.append((began, time.perf_counter()))
                if shape == "one_paragraph":
                    spans.bare_one_paragraph = spans.bare[-1]
            elif shape == "one_paragraph":
                spans.one_paragraph.append((began, time.perf_counter()))
            figures[f"{shape}_{name}_key_max_ms"] = round(max(costs), 2)
            figures[f"{shape}_{name}_key_median_ms"] = round(statistics.median(costs), 2)
            figures[f"{shape}_{name}_key_p90_ms"] = round(statistics.quantiles(costs, n=10)[-1], 2)
            began = time.perf_counter()  # the bare editor's next step starts here
    bare.close()
    return figures


async def _paste_and_start(window: Any, spans: _Spans) -> dict[str, float]:
    """Paste 10,000 lines, Ctrl+Enter a run of 20,000 cells, cancel it; what each step costs."""
    from gui.core.spec import Limits, ModelProfile, SimSettings

    sim = SimSettings(ttft=0.2, tokens_per_second=0, output_tokens=6, jitter=0, seed=3)
    window.prompt.set_template("Tell me about {topic}")
    window.models.set_profiles([ModelProfile(model="sim-1", label=m, sim=sim) for m in ("a", "b")])
    window.limits.set_limits(Limits(max_concurrency=8))
    grid_ms: list[float] = []

    def timed(name: str) -> None:
        original: Callable[..., Any] = getattr(window.results.store, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:  # set_run_shape takes groups= by name
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                grid_ms.append((time.perf_counter() - start) * 1000)

        setattr(window.results.store, name, wrapper)

    for name in ("set_run_shape", "set_all_status"):
        timed(name)
    QGuiApplication.clipboard().setText("\n".join(f"topic number {i}" for i in range(10_000)))
    await asyncio.sleep(0.1)
    window.inputs.view.setFocus()
    beat = Heartbeat()
    beat.start()
    start = time.perf_counter()
    QTest.keyClick(window.inputs.view, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    paste_ms = (time.perf_counter() - start) * 1000
    await asyncio.sleep(0.3)
    paste_lag = beat.stop()

    spans.step("run start")
    beat = Heartbeat()
    beat.start()
    start = time.perf_counter()
    QTest.keyClick(window.prompt.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    press_ms = (time.perf_counter() - start) * 1000
    run = window.current_run
    while run is None or run.in_flight == 0:
        await asyncio.sleep(0.01)
        run = window.current_run
    await asyncio.sleep(0.5)
    start_lag = beat.stop()
    start_cpu = beat.cpu_max()
    finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_run_finished(*_: object) -> None:
        if not finished.done():
            finished.set_result(None)

    window.run_finished.connect(on_run_finished)
    spans.step("run cancel")
    beat = Heartbeat()
    beat.start()
    start = time.perf_counter()
    window.cancel_all()  # 20,000 cells, most of them waiting for a slot
    cancel_ms = (time.perf_counter() - start) * 1000
    await finished
    # And what follows the run's end (the History tab's refresh, the collector), as the
    # start step waits for its first paints.
    await asyncio.sleep(0.5)
    cancel_lag = beat.stop()
    cancel_cpu = beat.cpu_max()
    return {
        "paste_ms": round(paste_ms, 1),
        "paste_lag_max_ms": round(paste_lag, 1),
        "grid_setup_ms": round(sum(grid_ms), 1),
        "run_start_press_ms": round(press_ms, 1),
        "run_start_lag_max_ms": round(start_lag, 1),
        "run_start_step_cpu_max_ms": round(start_cpu, 1),
        "run_cancel_ms": round(cancel_ms, 1),
        "run_cancel_lag_max_ms": round(cancel_lag, 1),
        "run_cancel_step_cpu_max_ms": round(cancel_cpu, 1),
    }


#: The finished run the layout presses are timed over: 10 inputs x 4 models x 3 temperatures
#: x 5 samples, 60 Grid columns (the shape whose Grid froze the window for half a second).
SWEEP_ROWS, SWEEP_MODELS, SWEEP_TEMPERATURES, SWEEP_REPEATS = 10, 4, (0.0, 0.7, 1.2), 5


async def _press(
    action: Callable[[], object], settled: Callable[[], bool]
) -> tuple[float, float, float]:
    """Press ``action`` and wait until ``settled()`` and 0.3 s more (the paints it caused);
    the press's own cost, the heartbeat's largest lag and the most CPU time of the GUI
    thread between two beats, in ms."""
    beat = Heartbeat()
    beat.start()
    start = time.perf_counter()
    action()
    press_ms = (time.perf_counter() - start) * 1000
    for _ in range(3000):  # 30 s at most: a slice that never ends is reported as its lag
        if settled():
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)
    return press_ms, beat.stop(), beat.cpu_max()


async def _layout_presses(window: Any, spans: _Spans) -> dict[str, float]:
    """Tiles to Grid, blind mode on and off, Grid to Tiles, twice over a finished 600-cell
    sweep at 1360x860: the slowest press and the largest lag after it, per kind."""
    from dataclasses import replace

    from gui.core.columns import ParamSweep
    from gui.core.spec import Limits, ModelProfile, SimSettings
    from gui.resources import load_preset

    # The background warm-up (Markdown parser, lexers) goes on once the Grid is shown: let it
    # end first, or its pieces are timed as the presses' (as the sweep-600 probe does).
    if window.warmup.task is not None:
        await window.warmup.task
    sim = SimSettings(ttft=0.05, tokens_per_second=0, output_tokens=120, jitter=0)
    preset = load_preset("stress-200")
    profiles = tuple(
        ModelProfile(
            model="sim-1",
            label=f"sim-{m + 1}",
            sim=replace(sim, seed=m + 1),
            sweep=ParamSweep(temperature=SWEEP_TEMPERATURES),
        )
        for m in range(SWEEP_MODELS)
    )
    window.load_preset(
        replace(
            preset,
            rows=preset.rows[:SWEEP_ROWS],
            models=profiles,
            limits=Limits(max_concurrency=200),
        )
    )
    window.limits.set_repeats(SWEEP_REPEATS)
    results = window.results
    results.set_layout("tiles")
    finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_run_finished(*_: object) -> None:
        if not finished.done():
            finished.set_result(None)

    window.run_finished.connect(on_run_finished)
    # The preset shown before Run is pressed, as a user sees it (as the sweep-600 probe
    # does): loading it and pressing Run in one loop step is a step no user can cause.
    await asyncio.sleep(0.3)
    window.run_action.trigger()
    await finished
    window.run_finished.disconnect(on_run_finished)
    await asyncio.sleep(0.5)
    grid, arena = results.grid, results.arena

    def grid_done() -> bool:
        return bool(grid.pending_panes() == 0)

    def arena_done() -> bool:
        return arena is None or arena.pending_answers() == 0

    spans.step("layout presses")
    presses: dict[str, list[tuple[float, float, float]]] = {"grid_switch": [], "blind_toggle": []}
    for _ in range(2):
        presses["grid_switch"].append(await _press(lambda: results.set_layout("grid"), grid_done))
        presses["blind_toggle"].append(await _press(results.blind_action.trigger, arena_done))
        presses["blind_toggle"].append(await _press(results.blind_action.trigger, grid_done))
        await _press(lambda: results.set_layout("tiles"), lambda: True)
    figures: dict[str, float] = {}
    for kind, pairs in presses.items():
        figures[f"{kind}_press_ms"] = round(max(press for press, _, _ in pairs), 1)
        figures[f"{kind}_lag_max_ms"] = round(max(lag for _, lag, _ in pairs), 1)
        figures[f"{kind}_step_cpu_max_ms"] = round(max(cpu for _, _, cpu in pairs), 1)
    figures["grid_columns"] = grid.column_count()
    return figures


async def _timeline() -> dict[str, float]:
    """Painting 200 streamed cells at 900x600, and with all 200 rows on screen."""
    from gui.core import events as ev
    from gui.qt.widgets.timeline import TimelineWidget

    widget = TimelineWidget()
    widget.resize(900, 600)
    widget.show()
    events: list[ev.Event] = []
    for i in range(200):
        start = (i // 8) * 0.4
        cell = f"c{i}"
        events += [
            ev.CellQueued("bench", 0.0, cell),
            ev.CellStarted("bench", start, cell, 1, start),
            ev.FirstToken("bench", start + 0.1, cell, 0.1),
            ev.TextChunk("bench", start + 0.1, cell, "Cats "),
            ev.TextChunk("bench", start + 0.2, cell, "sleep."),
        ]

    async def paint(repeats: int = 20) -> float:
        await asyncio.sleep(0.05)  # shown and laid out, its first paints done
        took = 0.0
        for _ in range(repeats):
            start = time.perf_counter()
            widget.viewport().repaint()
            took += time.perf_counter() - start
            # One repaint a frame, as a screen asks for them: back to back, 20 of them were
            # one step no user causes, a freeze of the session's heartbeat.
            await asyncio.sleep(0.016)
        return took * 1000 / repeats

    await asyncio.sleep(0.05)
    widget.apply_events(events)
    visible = await paint()
    widget.resize(900, 200 * widget.row_height() + 120)
    every_row = await paint(10)
    widget.close()
    return {
        "timeline_paint_ms": round(visible, 2),
        "timeline_all_rows_paint_ms": round(every_row, 2),
    }


async def _main() -> dict[str, Any]:
    from gui.qt.probe import open_window

    window = open_window((1360, 860))
    spans = _Spans()
    spans.step("start-up")
    await window.warm_up()
    figures: dict[str, Any] = {}
    spans.step("typing")
    figures.update(await _typing(window, spans))
    spans.step("timeline")
    figures.update(await _timeline())
    spans.step("paste and run")
    figures.update(await _paste_and_start(window, spans))
    spans.step("sweep")
    figures.update(await _layout_presses(window, spans))
    figures.update(_session_figures(window.lag, spans))
    await window.shutdown()
    window.close()
    return figures


def _session_figures(meter: Any, spans: _Spans) -> dict[str, Any]:
    """The window's heartbeat over the session, the bare editor's steps left out: with and
    without the one-paragraph typing stretch, the stretch alone, and where the late beats
    (over a frame, 16 ms) were."""
    bare = spans.bare
    session = meter.session_stats(excluding=bare + spans.one_paragraph)
    whole = meter.session_stats(excluding=bare)
    (start, end), *_ = spans.one_paragraph
    stretch = meter.session_stats(start, end)
    reference = meter.session_stats(*spans.bare_one_paragraph)
    freezes = meter.session_freezes_at(excluding=bare)
    late: dict[str, int] = {}
    for _ms, at in meter.session_freezes_at(FRAME_MS, excluding=bare):
        step = spans.step_of(at)
        late[step] = late.get(step, 0) + 1
    figures: dict[str, Any] = {
        "session_lag_p99_ms": round(session.p99_ms, 2),
        "session_lag_max_ms": round(whole.max_ms, 2),
        "session_lag_samples": session.samples,
        "freezes_over_50_ms": len(freezes),
    }
    if freezes:  # each with the step it ended in (the beat that came back late)
        figures["freezes_ms"] = [round(ms) for ms, _at in freezes]
        figures["freeze_steps"] = [spans.step_of(at) for _ms, at in freezes]
    return {
        **figures,
        "one_paragraph_lag_p99_ms": round(stretch.p99_ms, 2),
        "one_paragraph_lag_max_ms": round(stretch.max_ms, 2),
        "one_paragraph_lag_samples": stretch.samples,
        "one_paragraph_bare_lag_p99_ms": round(reference.p99_ms, 2),
        "one_paragraph_bare_lag_max_ms": round(reference.max_ms, 2),
        "session_with_one_paragraph_lag_p99_ms": round(whole.p99_ms, 2),
        "late_beats_by_step": late,
    }


def main() -> int:
    """Measure everything in this process and print one JSON line."""
    from gui.qt.probe import run_probe

    return run_probe(_main)


if __name__ == "__main__":
    sys.exit(main())
