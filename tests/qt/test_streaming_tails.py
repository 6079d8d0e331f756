"""Streaming into plain-text views: text below the screen waits and costs no repaint, text at a
visible end goes in at once and repaints only below the old end, and the reader never meets a
held tail."""

from __future__ import annotations

import asyncio

import pytest
from PySide6.QtCore import QEvent, QObject, QRect
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QApplication, QPlainTextEdit
from pytestqt.qtbot import QtBot

from gui.qt.widgets import streaming_tails
from gui.qt.widgets.streaming_tails import StreamingTails
from tests.qt.conftest import SESSION_LOOP, signal_future

LONG = "\n\n".join(f"Paragraph {i}: " + "some words to wrap " * 20 for i in range(30))


class Paints(QObject):
    """The regions a widget was asked to paint."""

    def __init__(self, widget: QObject) -> None:
        super().__init__()
        self.rects: list[QRect] = []
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.rects.append(event.region().boundingRect())  # type: ignore[attr-defined]
        return False

    def settle(self) -> list[QRect]:
        """Deliver the pending paints; the regions painted since the last call."""
        for _ in range(3):
            QApplication.processEvents()
        rects, self.rects = self.rects, []
        return rects


def make_view(qtbot: QtBot, text: str) -> QPlainTextEdit:
    view = QPlainTextEdit()
    view.setReadOnly(True)
    qtbot.addWidget(view)
    view.resize(240, 300)
    view.setPlainText(text)
    view.show()
    qtbot.waitExposed(view)
    return view


def append_plain(view: QPlainTextEdit, text: str) -> None:
    cursor = QTextCursor(view.document())
    cursor.movePosition(QTextCursor.MoveOperation.End)
    cursor.insertText(text)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The module's monotonic clock, moved by hand."""
    now = [100.0]
    monkeypatch.setattr(streaming_tails, "_clock", lambda: now[0])
    return now


def test_a_plain_view_repaints_all_of_itself_for_text_below_the_screen(qtbot: QtBot) -> None:
    """What the tails are for: Qt repaints the whole viewport for an unseen new paragraph."""
    view = make_view(qtbot, LONG)
    paints = Paints(view.viewport())
    paints.settle()
    append_plain(view, "\n\nA new paragraph far below.")
    assert view.viewport().rect() in paints.settle()


def test_text_below_the_screen_waits_and_goes_in_without_a_repaint(
    qtbot: QtBot, clock: list[float]
) -> None:
    view = make_view(qtbot, LONG)
    tails = StreamingTails()
    index = tails.add(view)
    paints = Paints(view.viewport())
    paints.settle()
    flushed: list[int] = []
    tails.flushed.connect(flushed.append)

    tails.append(index, "\n\nA new paragraph far below.")
    assert tails.held_chars(index) == len("\n\nA new paragraph far below.")
    assert not view.toPlainText().endswith("far below.")
    clock[0] += streaming_tails.HOLD_MS / 1000 / 2
    tails._on_timer_timeout()  # not yet due
    assert tails.held_chars(index) == 1 + len("\nA new paragraph far below.")
    clock[0] += streaming_tails.HOLD_MS / 1000
    tails._on_timer_timeout()
    assert tails.held_chars(index) == 0
    assert view.toPlainText() == LONG + "\n\nA new paragraph far below."
    assert flushed == [index]
    assert paints.settle() == []  # nothing on screen changed


def test_text_at_a_visible_end_goes_in_at_once_and_repaints_below_the_old_end(
    qtbot: QtBot,
) -> None:
    view = make_view(qtbot, "First paragraph.\n\nSecond paragraph, which ends")
    tails = StreamingTails()
    index = tails.add(view)
    paints = Paints(view.viewport())
    paints.settle()
    end = QTextCursor(view.document())
    end.movePosition(QTextCursor.MoveOperation.End)
    old_end_top = view.cursorRect(end).top()
    assert old_end_top > 0

    tails.append(index, " here.\n\nA third one " + "with many words " * 10)
    assert tails.held_chars(index) == 0
    assert view.toPlainText().endswith("with many words ")
    rects = paints.settle()
    assert rects, "the new text on screen is painted"
    viewport = view.viewport().rect()
    for rect in rects:
        assert rect.top() >= old_end_top  # the lines above the old end stay as they were
        assert rect.bottom() <= viewport.bottom()


def test_a_new_text_still_repaints_the_whole_view(qtbot: QtBot) -> None:
    view = make_view(qtbot, LONG)
    tails = StreamingTails()
    tails.add(view)
    paints = Paints(view.viewport())
    paints.settle()
    view.setPlainText("Something else entirely.")
    rects = paints.settle()
    assert view.viewport().rect() in rects


def test_a_reader_who_scrolls_meets_every_word(qtbot: QtBot, clock: list[float]) -> None:
    view = make_view(qtbot, LONG)
    tails = StreamingTails()
    index = tails.add(view)
    tails.append(index, "\n\nThe last words.")
    assert tails.held_chars(index) > 0
    bar = view.verticalScrollBar()
    bar.setValue(bar.value() + 3)
    assert tails.held_chars(index) == 0
    assert view.toPlainText().endswith("The last words.")


def test_a_resized_view_takes_its_held_text_before_it_paints(
    qtbot: QtBot, clock: list[float]
) -> None:
    view = make_view(qtbot, LONG)
    tails = StreamingTails()
    index = tails.add(view)
    tails.append(index, "\n\nThe last words.")
    view.resize(240, 5000)
    QApplication.processEvents()
    assert tails.held_chars(index) == 0
    assert view.toPlainText().endswith("The last words.")


def test_held_views_take_their_text_one_a_tick_the_longest_waiting_first(
    qtbot: QtBot, clock: list[float]
) -> None:
    views = [make_view(qtbot, LONG) for _ in range(3)]
    tails = StreamingTails()
    indices = [tails.add(view) for view in views]
    for i in (2, 0, 1):  # view 2 waits longest, then 0, then 1
        tails.append(indices[i], f"\n\nTail of view {i}.")
        clock[0] += 0.001
    clock[0] += 1.0
    order = []
    for _ in range(3):
        tails._on_timer_timeout()
        order.append([i for i in indices if tails.held_chars(i) == 0])
    assert order == [[2], [0, 2], [0, 1, 2]]
    tails._on_timer_timeout()
    assert not tails._timer.isActive()  # nothing held: the tick stops


@SESSION_LOOP
async def test_held_text_goes_in_on_its_own(qtbot: QtBot) -> None:
    view = make_view(qtbot, LONG)
    tails = StreamingTails()
    index = tails.add(view)
    flushed = signal_future(tails.flushed)
    tails.append(index, "\n\nOn its own.")
    assert await asyncio.wait_for(flushed, 30) == (index,)
    assert view.toPlainText().endswith("On its own.")
