"""The ``chat-long`` bench scenario's probe: a long stored chat opened, scrolled and continued.

Runs in a child process of ``fanout-studio bench`` (offscreen, on the app's loop, see
:mod:`gui.qt.probe`). It writes a chat of 6 simulated columns x 100 turns (a 2,000-character
question and a 2,000-character answer each) into the child's empty history through the real
storage API, starts the real window, and then, in the Chat tab:

1. **Open**: picks the chat in the stored-chats box (what a user does: the nodes are read
   from SQLite off the GUI thread, then drawn). *Open* ends when every column shows its end
   with its last turn rendered, holds its whole thread (nothing left out: older turns not
   rendered yet are in the document as blocks of their estimated height) and Qt has laid
   its document out to the end, so the scroll range spans all of it. The older turns render
   lazily after that (``all_rendered_s``, with ``range_change_after_open``: how far the
   scroll range moved as their estimated heights became real ones).
2. **Scroll**: every column from its bottom to its top and back with wheel events, one
   event per column per frame (sized so that a sweep takes about :data:`SWEEP_FRAMES`
   frames), checking that the top shows the first turn (rendered on the way there).
3. **Stream**: one more message sent to all 6 columns, each answering at the simulated
   model's pace, until the turn has ended.

The reference is a bare ``QPlainTextEdit`` per column given the same text in a window of
the same size, timed from ``setPlainText`` to its first paint done (what no Markdown, no
links and no lazy layout costs). The lag (``*_lag_*``, ``freezes_over_50_ms``) is the
window's own heartbeat, as every GUI scenario measures it (its
:class:`~gui.qt.widgets.lag_meter.LagMeter`, a 10 ms Qt timer), from the window on screen to
the end. Beside it runs a 10 ms heartbeat task on the asyncio loop (``loop_wait_*``: each
beat also waits behind every callback queued before it, how long a coroutine waits for its
turn rather than a frozen window); each of its beats also notes the GUI thread's CPU time,
and ``*_cpu_max_ms`` is the most of it spent between two beats (the longest step of the GUI
thread's own work, which a loaded machine does not lengthen, unlike the lag).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import time
from typing import Any

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QHBoxLayout, QPlainTextEdit, QWidget

from gui.core.lag import LagRecorder
from gui.core.spec import ModelProfile, SimSettings

#: The window the scenario opens (the app's default size).
WINDOW_SIZE = (1360, 860)
#: Full size: columns, turns, characters per message.
FULL = (6, 100, 2_000)
#: ``--quick``: the machinery only.
QUICK = (2, 4, 300)
#: Frames a wheel sweep from one end of a column to the other aims at.
SWEEP_FRAMES = 90
#: One frame of the probe's own pacing, in seconds.
FRAME_S = 0.016
#: The new turn's answers: tokens and pace (a fast local model).
ANSWER_SIM = SimSettings(ttft=0.2, tokens_per_second=100.0, output_tokens=300, jitter=0.1)


async def _beat(lag: LagRecorder, cpu: list[tuple[float, float]], stop: asyncio.Event) -> None:
    """:func:`~gui.core.lag.heartbeat`, also noting the GUI thread's CPU time at each beat
    (``(loop time, thread CPU seconds)``): the work between two beats that other processes on
    the cores do not lengthen, which a loaded machine's wall-clock lag hides."""
    loop = asyncio.get_running_loop()
    every_s = 0.01
    due = loop.time() + every_s
    cpu.append((loop.time(), time.thread_time()))
    while not stop.is_set():
        await asyncio.sleep(max(due - loop.time(), 0))
        now = loop.time()
        lag.add((now - due) * 1000, now)
        cpu.append((now, time.thread_time()))
        due = now + every_s


def _cpu_max_ms(cpu: list[tuple[float, float]], start: float, end: float) -> float:
    """The most CPU the GUI thread spent between two beats from ``start`` to ``end``, in ms."""
    return max(
        ((b - a) * 1000 for (_, a), (at, b) in itertools.pairwise(cpu) if start <= at <= end),
        default=0.0,
    )


def _message(turn: int, col: int, who: str, size: int) -> str:
    """A message of ``size`` characters of prose that names its turn (found again later)."""
    head = f"{who}-{col}-{turn} "
    body = (
        "The quick brown fox jumps over the lazy dog while the model explains *why* "
        "each step matters, with `code` now and then. "
    )
    text = head + body * (size // len(body) + 1)
    return text[:size]


def _seed(columns: int, turns: int, size: int) -> str:
    """Write the long chat into the (empty) history through the real storage API."""
    from gui.core.chat import Chat, add_answer, add_user_message
    from gui.storage.chats import ChatHistory
    from gui.storage.history import History

    profiles = [ModelProfile(model=f"sim-{i}", sim=ANSWER_SIM) for i in range(columns)]
    chat = Chat.new(profiles)
    with History.open() as history:
        store = ChatHistory(history)
        store.save_chat(chat)
        for turn in range(turns):
            for request in add_user_message(chat, _message(turn, 0, "question", size)):
                col = request.col
                store.save_node(chat, col, chat.columns[col].nodes[request.user_node])
                answer = _message(turn, col, "answer", size)
                store.save_node(chat, col, add_answer(chat, request, answer))
        store.save_chat(chat)  # the heads, where the threads got to
        if not store.flush(120):
            raise RuntimeError("the seeded chat was not written within 120 s")
    return chat.id


def _views(page: Any) -> list[Any]:
    return [column.view for column in page.columns]


def _laid_out(view: Any) -> bool:
    """Whether Qt has laid out the view's document to its end (so its scroll range spans all
    of it), checked at eleven points without forcing any layout."""
    document = view.document()
    size = document.characterCount()
    return all(
        document.findBlock(min(size - 1, size * k // 10)).layout().lineCount() > 0
        for k in range(11)
    )


def _end_text(view: Any, blocks: int = 8) -> str:
    """The text of the last ``blocks`` blocks of ``view``'s document."""
    block = view.document().lastBlock()
    parts: list[str] = []
    while block.isValid() and len(parts) < blocks:
        parts.append(block.text())
        block = block.previous()
    return "\n".join(reversed(parts))


def _opened(view: Any, col: int, last: int) -> bool:
    """Whether ``view`` shows its end, the last turn there rendered, and has its document laid
    out to the end (its scroll range spans the whole thread)."""
    bar = view.verticalScrollBar()
    return (
        not view.is_live_rendering()
        and bar.value() >= bar.maximum() - 2
        and f"answer-{col}-{last} " in _end_text(view)
        and _laid_out(view)
    )


async def _open_done(views: list[Any], last: int, started: float) -> float:
    """Wait until every view is open (:func:`_opened`); seconds from ``started``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (120 if len(views) > 2 else 20)
    while not all(_opened(v, col, last) for col, v in enumerate(views)):
        if loop.time() > deadline:
            states = [
                (
                    v.is_live_rendering(),
                    f"answer-{col}-{last} " in _end_text(v),
                    _laid_out(v),
                    v.verticalScrollBar().value(),
                    v.verticalScrollBar().maximum(),
                )
                for col, v in enumerate(views)
            ]
            raise RuntimeError(f"the chat did not open within 120 s: {states}")
        await asyncio.sleep(FRAME_S)  # once a frame: the check must not load the loop itself
    return loop.time() - started


async def _all_rendered(views: list[Any], started: float, limit: float) -> float:
    """Wait until no view has anything left to render; seconds from ``started``, or -1 after
    ``limit`` seconds."""
    loop = asyncio.get_running_loop()
    while any(v.is_rendering() for v in views):
        if loop.time() - started > limit:
            return -1.0
        await asyncio.sleep(FRAME_S)
    return loop.time() - started


def _visible_text(view: Any) -> str:
    """The text of the blocks that ``view``'s viewport shows (whole paragraphs)."""
    port = view.viewport()
    first = view.cursorForPosition(QPoint(4, 1)).block()
    last = view.cursorForPosition(QPoint(4, port.height() - 2)).block()
    parts: list[str] = []
    block = first
    while block.isValid():
        parts.append(block.text())
        if block == last or len(parts) > 400:
            break
        block = block.next()
    return "\n".join(parts)


def _shows(view: Any, needle: str) -> bool:
    """Whether the part of ``view`` on screen shows ``needle``."""
    return needle in _visible_text(view)


async def _wheel(views: list[Any], down: bool) -> int:
    """Scroll every view to its end (``down``) or its top with wheel events; events sent."""
    sent = 0
    for _ in range(SWEEP_FRAMES * 20):
        moving = False
        for view in views:
            bar = view.verticalScrollBar()
            if (bar.value() >= bar.maximum()) if down else (bar.value() <= bar.minimum()):
                continue
            moving = True
            lines = max(1, bar.maximum() // max(1, bar.singleStep() * 3 * SWEEP_FRAMES))
            delta = -120 * lines if down else 120 * lines
            port = view.viewport()
            at = QPointF(port.width() / 2, port.height() / 2)
            event = QWheelEvent(
                at,
                QPointF(port.mapToGlobal(at.toPoint())),
                QPoint(0, 0),
                QPoint(0, delta),
                Qt.MouseButton.NoButton,
                Qt.KeyboardModifier.NoModifier,
                Qt.ScrollPhase.NoScrollPhase,
                False,
            )
            QApplication.sendEvent(port, event)
            sent += 1
        if not moving:
            break
        await asyncio.sleep(FRAME_S)
    return sent


async def _bare_reference(texts: list[str]) -> float:
    """Seconds from giving bare ``QPlainTextEdit`` columns the same text to their first paint."""
    window = QWidget()
    layout = QHBoxLayout(window)
    edits = [QPlainTextEdit() for _ in texts]
    for edit in edits:
        edit.setReadOnly(True)
        layout.addWidget(edit)
    window.resize(*WINDOW_SIZE)
    window.show()
    await asyncio.sleep(0.1)
    started = time.perf_counter()
    for edit, text in zip(edits, texts, strict=True):
        edit.setPlainText(text)
        bar = edit.verticalScrollBar()
        bar.setValue(bar.maximum())
    window.repaint()  # the paint, now, of what a user would see
    took = time.perf_counter() - started
    window.close()
    window.deleteLater()
    return took


async def _main(quick: bool) -> dict[str, Any]:
    from gui.core.chat import NodeStatus
    from gui.core.chat_session import ChatTurnEnded
    from gui.qt.main_window import MainWindow
    from gui.qt.views.chat_page import thread_markdown

    columns, turns, size = QUICK if quick else FULL
    chat_id = _seed(columns, turns, size)
    window = MainWindow()
    window.resize(*WINDOW_SIZE)
    window.show()
    # The session as the app's own figures count it: from the window on screen to the end,
    # on the window's own heartbeat (a Qt timer); beside it, a heartbeat task on the loop.
    window.lag.begin_session()
    loop = asyncio.get_running_loop()
    lag = LagRecorder(keep=1_000_000)  # recent() is then every sample: the freezes
    cpu: list[tuple[float, float]] = []
    stop = asyncio.Event()
    beat = loop.create_task(_beat(lag, cpu, stop), name="bench-chat-beat")
    await window.warm_up()
    if window.warmup.task is not None:
        await window.warmup.task
    await window.ensure_history()
    page = window.chat_page
    window.tabs.setCurrentWidget(page)
    page.refresh_chats()
    await page.wait_idle()
    index = page.chats_box.findData(chat_id)
    if index < 0:
        raise RuntimeError("the seeded chat is not in the stored-chats box")
    await asyncio.sleep(0.2)  # the tab's first paint is not the open's

    # 1. Open: the user picks the chat in the box.
    drawn: asyncio.Future[None] = loop.create_future()

    def on_opened(opened: str) -> None:
        if opened == chat_id and not drawn.done():
            drawn.set_result(None)

    page.chat_opened.connect(on_opened)
    # Each phase on both clocks: the window's meter's (perf_counter) and the loop's.
    spans: dict[str, tuple[float, float]] = {"open": (time.perf_counter(), 0.0)}
    opened_at = loop.time()
    page.chats_box.setCurrentIndex(index)
    page.chats_box.activated.emit(index)
    await asyncio.wait_for(drawn, 60)  # read off the GUI thread, then its columns built
    page.chat_opened.disconnect(on_opened)
    loaded_s = loop.time() - opened_at
    views = _views(page)
    open_s = await _open_done(views, turns - 1, opened_at)
    open_end = loop.time()
    spans["open"] = (spans["open"][0], time.perf_counter())
    chat = page.session.chat
    assert chat is not None
    texts = [thread_markdown(chat, col) for col in range(columns)]
    # Nothing left out: each view holds its whole thread (turns not rendered yet included).
    whole = all(v.source() == text for v, text in zip(views, texts, strict=True))
    ranges_at_open = [v.verticalScrollBar().maximum() for v in views]
    plain_turns_at_open = sum(v.pending_turns() for v in views)

    # 2. Scroll every column to its top and back with the wheel.
    scroll_start = loop.time()
    scroll_from = time.perf_counter()
    for view in views:
        view.verticalScrollBar().setValue(view.verticalScrollBar().maximum())
    up_events = await _wheel(views, down=False)
    await asyncio.sleep(0.1)
    top_shows_first = all("question-0-0 " in _visible_text(v) for v in views)
    down_events = await _wheel(views, down=True)
    scroll_end = loop.time()
    spans["scroll"] = (scroll_from, time.perf_counter())
    # The older turns render lazily: how long until all of them are, and how far the scroll
    # ranges moved from the open to then (plain text and rendered Markdown differ in height).
    rendered_s = await _all_rendered(views, opened_at, 60 if quick else 120)
    ranges = [v.verticalScrollBar().maximum() for v in views]
    drift = max(abs(a - b) / max(1, b) for a, b in zip(ranges_at_open, ranges, strict=True))

    # 3. A new turn streaming into every column.
    ended: asyncio.Future[None] = loop.create_future()

    def watch(event: Any) -> None:
        if isinstance(event, ChatTurnEnded) and not ended.done():
            ended.set_result(None)

    unsubscribe = page.session.subscribe(watch)
    stream_start = loop.time()
    stream_from = time.perf_counter()
    backend_imported = "gui.providers.backend" in sys.modules
    if not page.send(text="One more question for every model: summarise the thread."):
        raise RuntimeError("the new turn was refused")
    await asyncio.wait_for(ended, 120)
    await asyncio.sleep(0.2)  # the last frame of text drawn
    stream_end = loop.time()
    spans["stream"] = (stream_from, time.perf_counter())
    unsubscribe()
    answers_done = sum(1 for c in chat.columns if c.path()[-1].status is NodeStatus.DONE)

    stop.set()
    await beat
    meter = window.lag
    session = meter.session_stats()
    during_open = meter.session_stats(*spans["open"])
    during_scroll = meter.session_stats(*spans["scroll"])
    during_stream = meter.session_stats(*spans["stream"])
    freezes = meter.session_freezes()
    sys.stderr.write(f"freezes: {[round(ms) for ms in freezes]}\n")
    waited = lag.stats()
    waited_open = lag.stats_between(opened_at, open_end)
    waited_scroll = lag.stats_between(scroll_start, scroll_end)
    waited_stream = lag.stats_between(stream_start, stream_end)
    await window.shutdown()
    window.close()
    bare_s = await _bare_reference(texts)
    return {
        "columns": columns,
        "turns": turns,
        "chars_per_column": len(texts[0]),
        "loaded_s": round(loaded_s, 3),
        "open_s": round(open_s, 3),
        "plain_turns_at_open": plain_turns_at_open,
        "all_rendered_s": round(rendered_s, 3),
        "range_change_after_open": round(drift, 3),
        "bare_open_s": round(bare_s, 3),
        "open_ratio_to_bare": round(open_s / bare_s, 1) if bare_s else 0.0,
        "whole_thread_shown": whole,
        "top_shows_first_turn": top_shows_first,
        "wheel_events": up_events + down_events,
        "answers_done": answers_done,
        "backend_imported_before_send": backend_imported,
        "session_lag_p99_ms": round(session.p99_ms, 2),
        "session_lag_max_ms": round(session.max_ms, 2),
        "session_lag_samples": session.samples,
        "freezes_over_50_ms": len(freezes),
        "open_lag_p99_ms": round(during_open.p99_ms, 2),
        "open_lag_max_ms": round(during_open.max_ms, 2),
        "scroll_lag_p99_ms": round(during_scroll.p99_ms, 2),
        "scroll_lag_max_ms": round(during_scroll.max_ms, 2),
        "stream_lag_p99_ms": round(during_stream.p99_ms, 2),
        "stream_lag_max_ms": round(during_stream.max_ms, 2),
        "loop_wait_p99_ms": round(waited.p99_ms, 2),
        "loop_wait_max_ms": round(waited.max_ms, 2),
        "open_loop_wait_p99_ms": round(waited_open.p99_ms, 2),
        "scroll_loop_wait_p99_ms": round(waited_scroll.p99_ms, 2),
        "stream_loop_wait_p99_ms": round(waited_stream.p99_ms, 2),
        "session_cpu_max_ms": round(_cpu_max_ms(cpu, cpu[0][0], stream_end), 1),
        "open_cpu_max_ms": round(_cpu_max_ms(cpu, opened_at, open_end), 1),
        "scroll_cpu_max_ms": round(_cpu_max_ms(cpu, scroll_start, scroll_end), 1),
        "stream_cpu_max_ms": round(_cpu_max_ms(cpu, stream_start, stream_end), 1),
    }


def main(argv: list[str] | None = None) -> int:
    """Measure in this process and print one JSON line."""
    from gui.qt.probe import run_probe

    parser = argparse.ArgumentParser(prog="python -m gui.qt.bench_chat", allow_abbrev=False)
    parser.add_argument("--quick", action="store_true", help="reduced size (2 x 4 turns)")
    args = parser.parse_args(argv)
    return run_probe(lambda: _main(args.quick))


if __name__ == "__main__":
    sys.exit(main())
