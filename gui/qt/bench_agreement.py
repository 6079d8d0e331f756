"""The agreement view under load: 8 answers of 1,000 words streaming in, tagged as they grow.

Run as a child process by ``fanout-studio bench --scenario agreement`` (``python -m
gui.qt.bench_agreement``, offscreen); prints one JSON object. The answers are generated
(seeded) to look like a row of model answers: a shared pool of statements each answer
paraphrases, sentences of its own, a list and a code block. They stream into an
:class:`~gui.qt.widgets.agreement_view.AgreementView` at 60 frames a second for 3 s, then the
threshold is moved five times; then the same stream runs again with the agreement never
computed, as the reference for the GUI thread's lateness. Measured:

* ``compute_full_ms``: from a computation's start to its result on the GUI thread, for the
  whole row (the end of the stream and each threshold move): the worker process's
  computation plus pickling both ways; ``compute_cpu_ms``: the computation's own CPU time;
* ``apply_cpu_ms``: the GUI thread's cost of showing one result (the marks of every column
  and the legend) as that thread's own CPU time, which other processes on a loaded machine
  do not inflate (``apply_wall_ms`` is the wall-clock figure);
  ``paint_marked_cpu_ms`` against ``paint_plain_cpu_ms``: a repaint of the whole view with
  its marks and without them (the paint a result adds);
* the lateness of a 5 ms heartbeat on the GUI thread over the whole session, from the view on
  screen (its worker process starting included) to the end (``session_lag_*``,
  ``freezes_over_50_ms``), and over the stream and the threshold moves alone (``lag_*``),
  with the agreement on and in the reference (the difference is what the agreement costs a
  user).
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from typing import Any

from PySide6.QtCore import QElapsedTimer, Qt, QTimer
from PySide6.QtWidgets import QApplication

ANSWERS, WORDS = 8, 1000
#: A beat later than this is a freeze (the bench's ``FREEZE_MS``).
FREEZE_MS = 50.0
FRAMES, FRAME_MS = 180, 16
THRESHOLDS: tuple[float, ...] = (0.6, 0.7, 0.4, 0.3, 0.5)

_SYLLABLES = "ka lo mi tra ven sor pel du ris on ta gem bri sol nar ex qui ba fo lu".split()
_COMMON = "the a of and to in is it that for on with as was at by an this which or from".split()


def _vocabulary(rng: random.Random, size: int = 2500) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 4))))
    return sorted(words)


def _sentence(rng: random.Random, vocabulary: list[str]) -> str:
    words = [
        rng.choice(_COMMON) if rng.random() < 0.4 else rng.choice(vocabulary)
        for _ in range(rng.randint(8, 24))
    ]
    return " ".join(words).capitalize() + "."


def _paraphrase(rng: random.Random, sentence: str, vocabulary: list[str]) -> str:
    words = sentence.rstrip(".").split()
    for _ in range(rng.randint(0, 3)):
        i = rng.randrange(len(words))
        words[i] = rng.choice(vocabulary)
    if rng.random() < 0.5:
        cut = rng.randrange(1, len(words))
        words = words[cut:] + words[:cut]
    return " ".join(words).capitalize() + "."


def sample_answers(answers: int = ANSWERS, words: int = WORDS, seed: int = 12) -> list[str]:
    """A row of ``answers`` Markdown answers of about ``words`` words each (seeded)."""
    rng = random.Random(seed)
    vocabulary = _vocabulary(rng)
    pool = [_sentence(rng, vocabulary) for _ in range(40)]
    out = []
    for a in range(answers):
        blocks: list[str] = [f"## Answer {a + 1}"]
        count = 0
        while count < words:
            kind = rng.random()
            if kind < 0.12:
                items = [_paraphrase(rng, rng.choice(pool), vocabulary) for _ in range(3)]
                block = "\n".join(f"- {item}" for item in items)
            elif kind < 0.15:
                block = (
                    "```python\n"
                    + "\n".join(f"value_{i} = compute({rng.randint(0, 99)})" for i in range(4))
                    + "\n```"
                )
            else:
                sentences = [
                    _paraphrase(rng, rng.choice(pool), vocabulary)
                    if rng.random() < 0.55
                    else _sentence(rng, vocabulary)
                    for _ in range(rng.randint(3, 6))
                ]
                block = " ".join(sentences)
            blocks.append(block)
            count += len(block.split())
        out.append("\n\n".join(blocks))
    return out


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def _stream(app: QApplication, texts: list[str], agree: bool) -> dict[str, Any]:
    """Stream ``texts`` into a fresh view (its agreement on or, for the reference, never
    computed), then move the threshold; the figures of that session."""
    from gui.qt.widgets.agreement_view import AgreementView

    full = sum(len(t.split()) for t in texts)
    titles = [f"row 1 × model-{i + 1}" for i in range(ANSWERS)]
    view = AgreementView()
    job = view._job
    computes: list[tuple[int, float]] = []  # (words in the row, ms from job start to result)
    applies: list[float] = []
    applies_cpu: list[float] = []  # the GUI thread's own CPU time: the cost, whatever the load
    # Between the job and the view: time the round trip, then the view's own slot.
    job.finished.disconnect(view._on_job_finished)

    def on_finished(request: Any, result: Any, superseded: bool) -> None:
        words = sum(len(t.split()) for t in request[0])
        computes.append((words, (time.monotonic() - job._started_at) * 1000))
        shown = view.result()
        start, cpu = time.perf_counter(), time.thread_time()
        view._on_job_finished(request, result, superseded)
        if view.result() is not shown:
            applies.append((time.perf_counter() - start) * 1000)
            applies_cpu.append((time.thread_time() - cpu) * 1000)

    job.finished.connect(on_finished)
    view.resize(1360, 860)
    # Its columns built with the view, before it is on screen, as a window builds its
    # widgets before its first paint (the first text view of a process costs ~20 ms more,
    # which the app pays while building its window).
    view._ensure_columns(ANSWERS)
    view.show()
    lags: list[float] = []  # every beat's lateness, from the view on screen to the end
    clock = QElapsedTimer()
    heartbeat = QTimer()
    heartbeat.setTimerType(Qt.TimerType.PreciseTimer)
    heartbeat.setInterval(5)

    def beat() -> None:
        lags.append(max(clock.restart() - 5.0, 0.0))

    heartbeat.timeout.connect(beat)
    frame = [0]
    thresholds = list(THRESHOLDS)
    stream_timer = QTimer()
    stream_timer.setInterval(FRAME_MS)
    began = [0.0]

    def finish() -> None:
        heartbeat.stop()
        app.quit()

    def next_frame() -> None:
        frame[0] += 1
        step = frame[0]
        view.set_answers(titles, [t[: len(t) * step // FRAMES] for t in texts])
        if step >= FRAMES:
            stream_timer.stop()
            began.append(time.monotonic())
            if agree:
                view.agreement_shown.connect(after_result)
            else:
                QTimer.singleShot(1000, finish)

    marked: list[float] = []
    plain: list[float] = []

    def paints() -> None:
        """The paint a result adds: the view with its marks against the same view without
        them, interleaved so that both see the same machine."""
        for _ in range(10):
            for cost, colour in ((marked, True), (plain, False)):
                if colour:
                    view._colour()
                else:
                    for marks in view._marks:
                        marks.clear()
                start = time.thread_time()
                view.repaint()
                cost.append((time.thread_time() - start) * 1000)

    def after_result() -> None:
        # Later, not inside the view's signal: the apply being timed must not include it.
        QTimer.singleShot(0, next_step)

    def next_step() -> None:
        if not computes or computes[-1][0] != full:
            return  # a result for a shorter row: the full one follows
        if thresholds:
            view.set_threshold(thresholds.pop(0))
        else:
            heartbeat.stop()  # the session's end: the repaints below are the probe's own
            paints()
            finish()

    stream_from = [0]  # the first beat of the stream

    def begin() -> None:
        if not agree:
            job.submit = lambda _request: None  # type: ignore[method-assign, assignment]
        began[0] = time.monotonic()
        stream_from[0] = len(lags)
        stream_timer.start()

    def on_warm() -> None:
        if not stream_timer.isActive() and not began[0]:
            QTimer.singleShot(300, begin)

    def start() -> None:
        # The session starts with the view on screen: the heartbeat runs from here to the
        # end, through the worker process's start (spawned and imported once per app, by
        # the warm-up row), the stream and the threshold moves.
        clock.start()
        heartbeat.start()
        view.set_answers(titles, ["Warm up."] * ANSWERS)

    stream_timer.timeout.connect(next_frame)
    view.agreement_shown.connect(on_warm)
    QTimer.singleShot(0, start)
    app.exec()
    streamed = lags[stream_from[0] :]
    figures: dict[str, Any] = {
        "stream_s": round(began[1] - began[0], 2),
        "session_lag_p99_ms": round(_percentile(lags, 0.99), 2),
        "session_lag_max_ms": round(max(lags, default=0.0), 2),
        "freezes_over_50_ms": sum(1 for lag in lags if lag > FREEZE_MS),
        "session_lag_samples": len(lags),
        "lag_p99_ms": round(_percentile(streamed, 0.99), 2),
        "lag_max_ms": round(max(streamed, default=0.0), 2),
        "lag_samples": len(streamed),
    }
    if not agree:
        view.close()
        return figures
    full_ms = [ms for words, ms in computes if words == full]
    result = view.result()
    assert result is not None
    view.close()
    return {
        "answers": ANSWERS,
        "words_per_answer": round(full / ANSWERS),
        "sentences": sum(len(a) for a in result.answers),
        "legend": {share.value: n for share, n in result.counts().items()},
        "computations": len(computes) - 1,  # without the warm-up
        "compute_full_ms_median": round(statistics.median(full_ms), 2),
        "compute_full_ms_max": round(max(full_ms), 2),
        "updates_applied": len(applies),
        "apply_cpu_ms_median": round(statistics.median(applies_cpu), 2),
        "apply_cpu_ms_max": round(max(applies_cpu), 2),
        "apply_wall_ms_median": round(statistics.median(applies), 2),
        "apply_wall_ms_max": round(max(applies), 2),
        "paint_marked_cpu_ms_median": round(statistics.median(marked), 2),
        "paint_plain_cpu_ms_median": round(statistics.median(plain), 2),
        **figures,
    }


def _compute_cpu_ms(texts: list[str]) -> float:
    """The computation's own cost: median CPU time of five runs on this thread, idle."""
    from gui.core.agreement import agreement

    costs = []
    for _ in range(5):
        start = time.thread_time()
        agreement(texts)
        costs.append((time.thread_time() - start) * 1000)
    return round(statistics.median(costs), 2)


def main() -> int:
    """Stream the row with agreement on, then without (the reference); print JSON.

    ``--quick`` streams 3 answers of 200 words in 30 frames: it checks the machinery.
    """
    global ANSWERS, FRAMES, THRESHOLDS
    words = WORDS
    if "--quick" in sys.argv[1:]:
        ANSWERS, words, FRAMES, THRESHOLDS = 3, 200, 30, (0.7,)
    from gui.qt.app import serial_fills

    serial_fills()  # as the app does
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    texts = sample_answers(ANSWERS, words)
    cpu = _compute_cpu_ms(texts)
    figures = _stream(app, texts, agree=True)
    figures["compute_cpu_ms_median"] = cpu
    reference = _stream(app, texts, agree=False)
    figures.update({f"reference_{k}": v for k, v in reference.items()})
    sys.stdout.write(json.dumps(figures) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
