"""A long chat thread as a reader opens it: its last turn at once, every turn reachable, the
older turns rendered lazily (the one in view first), answers still streaming in after it.

Offscreen (see conftest); waits have 30 s+ margins and assert no time.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QUrl
from PySide6.QtGui import QGuiApplication

from gui.core.chat import Chat, add_answer, add_user_message
from gui.core.spec import ModelProfile
from gui.qt.views.chat_page import ChatColumnView, thread_markdown
from gui.qt.widgets.chat_thread import LIVE_CHARS, ChatThreadView

WAIT_MS = 60_000
TURNS = 100


def _message(who: str, turn: int) -> str:
    body = "A sentence of the thread, with *emphasis* and `code` in it. " * 30
    return f"{who}-{turn} {body}"


def _parts(turns: int = TURNS) -> list[str]:
    return [
        ("---\n\n" if i else "")
        + f"**You**\n\n> {_message('question', i)}\n\n**sim**\n\n{_message('answer', i)}\n\n"
        for i in range(turns)
    ]


def _top_text(view: ChatThreadView) -> str:
    """The text of the blocks at the top of the view (what a reader sees first)."""
    block = view.cursorForPosition(QPoint(4, 2)).block()
    texts = []
    for _ in range(6):
        if not block.isValid():
            break
        texts.append(block.text())
        block = block.next()
    return "\n".join(texts)


def _end_text(view: ChatThreadView) -> str:
    """The text of the last blocks of the view's document (its end)."""
    block = view.document().lastBlock()
    return "\n".join([block.previous().text(), block.text()])


@pytest.fixture
def view(qtbot) -> ChatThreadView:
    widget = ChatThreadView()
    qtbot.addWidget(widget)
    widget.resize(320, 400)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_a_long_thread_opens_at_its_last_turn_with_every_turn_in_the_document(
    view: ChatThreadView, qtbot
) -> None:
    parts = _parts()
    view.set_thread(parts)
    # Nothing is left out: the source is the whole thread, and each older turn already
    # stands in the document (not rendered yet) so the scroll range spans all of it.
    assert view.source() == "".join(parts)
    assert 0 < view.pending_turns() < TURNS
    qtbot.waitUntil(lambda: not view.is_live_rendering(), timeout=WAIT_MS)
    bar = view.verticalScrollBar()
    assert bar.value() == bar.maximum() > 0  # at its end
    assert f"answer-{TURNS - 1} " in _end_text(view)
    # The older turns render in later frames, all of them, none elided.
    qtbot.waitUntil(lambda: not view.is_rendering(), timeout=WAIT_MS)
    assert view.pending_turns() == 0 and view.elided_chars() == 0
    plain = view.document().toPlainText()
    for turn in (0, TURNS // 2, TURNS - 1):
        assert f"question-{turn} " in plain and f"answer-{turn} " in plain
    assert "**" not in plain  # rendered, not shown as source


def test_scrolling_to_the_top_shows_the_first_turn_rendered_before_the_rest(
    view: ChatThreadView, qtbot
) -> None:
    view.set_thread(_parts())
    qtbot.waitUntil(lambda: not view.is_live_rendering(), timeout=WAIT_MS)
    view.verticalScrollBar().setValue(0)
    qtbot.waitUntil(lambda: "question-0 " in _top_text(view), timeout=WAIT_MS)
    # The turn in view came first: most of the others are still waiting.
    assert view.pending_turns() > TURNS // 2
    assert "You" in _top_text(view) and "**You**" not in _top_text(view)


def test_an_answer_streams_on_after_a_long_thread(view: ChatThreadView, qtbot) -> None:
    parts = _parts()
    view.set_thread(parts)
    more = "---\n\n**You**\n\n> One more?\n\n**sim**\n\n"
    assert view.set_thread([*parts, more]) is False  # continued, not reloaded
    view.append("The streamed **answer** ends here.")
    qtbot.waitUntil(
        lambda: not view.is_rendering() and "streamed answer ends" in view.document().toPlainText(),
        timeout=WAIT_MS,
    )
    assert view.source() == "".join(parts) + more + "The streamed **answer** ends here."
    assert view.verticalScrollBar().value() == view.verticalScrollBar().maximum()


def test_the_copy_link_of_code_in_an_older_turn_copies_its_code(
    view: ChatThreadView, qtbot
) -> None:
    parts = _parts(40)
    parts[0] += "```python\nprint('first turn')\n```\n\n"
    view.set_thread(parts)
    qtbot.waitUntil(lambda: not view.is_rendering(), timeout=WAIT_MS)
    links = [
        fmt.anchorHref()
        for block in _blocks(view)
        for fmt in _formats(block)
        if fmt.anchorHref().startswith("copy:")
    ]
    assert len(links) == 1
    with qtbot.waitSignal(view.code_copied, timeout=WAIT_MS):
        view.anchorClicked.emit(QUrl(links[0]))
    assert QGuiApplication.clipboard().text() == "print('first turn')\n"


def test_a_short_thread_renders_whole_the_answer_way(view: ChatThreadView, qtbot) -> None:
    parts = _parts(1)
    assert len(parts[0]) < LIVE_CHARS
    view.set_thread(parts)
    assert view.pending_turns() == 0
    qtbot.waitUntil(lambda: not view.is_rendering(), timeout=WAIT_MS)
    assert "question-0 " in view.document().toPlainText()


def test_a_reopened_chat_of_100_turns_shows_its_last_turn_and_its_first_at_the_top(
    qtbot,
) -> None:
    chat = Chat.new([ModelProfile(model="sim-a"), ModelProfile(model="sim-b")])
    for turn in range(TURNS):
        for request in add_user_message(chat, _message("question", turn)):
            add_answer(chat, request, _message(f"answer{request.col}", turn))
    column = ChatColumnView(1)
    qtbot.addWidget(column)
    column.resize(360, 600)
    column.show()
    qtbot.waitExposed(column)
    column.show_chat(chat, busy=False)
    view = column.view
    assert view.source() == thread_markdown(chat, 1)
    qtbot.waitUntil(lambda: not view.is_live_rendering(), timeout=WAIT_MS)
    bar = view.verticalScrollBar()
    assert bar.value() == bar.maximum()
    assert f"answer1-{TURNS - 1} " in _end_text(view)
    bar.setValue(0)
    qtbot.waitUntil(lambda: "question-0 " in _top_text(view), timeout=WAIT_MS)


def _blocks(view: ChatThreadView) -> list:
    block, out = view.document().firstBlock(), []
    while block.isValid():
        out.append(block)
        block = block.next()
    return out


def _formats(block) -> list:
    out = []
    it = block.begin()
    while not it.atEnd():
        fragment = it.fragment()
        if fragment.isValid():
            out.append(fragment.charFormat())
        it += 1
    return out


def test_every_column_renders_the_turn_it_shows_before_the_rest(qtbot) -> None:
    views = []
    for _ in range(3):
        view = ChatThreadView()
        qtbot.addWidget(view)
        view.resize(320, 400)
        view.show()
        views.append(view)
    qtbot.waitExposed(views[-1])
    for view in views:
        view.set_thread(_parts())
    qtbot.waitUntil(lambda: not any(v.is_live_rendering() for v in views), timeout=WAIT_MS)
    for view in views:  # each reader looks at the middle of their column
        bar = view.verticalScrollBar()
        bar.setValue(bar.maximum() // 2)
    # Every column's middle renders, not the first column's whole history first.
    qtbot.waitUntil(lambda: not any(v.shows_pending_turn() for v in views), timeout=WAIT_MS)
    assert all(v.pending_turns() > TURNS // 2 for v in views)
    assert all("**" not in _top_text(v) for v in views)


def test_raw_and_back_shows_the_same_long_thread_rendered_again(
    view: ChatThreadView, qtbot
) -> None:
    parts = _parts()
    view.set_thread(parts)
    view.set_raw(True)
    assert "**You**" in view.document().toPlainText() and view.pending_turns() == 0
    view.set_raw(False)
    assert view.source() == "".join(parts)
    assert view.pending_turns() > 0  # the older turns render lazily again, not all at once
    qtbot.waitUntil(lambda: not view.is_rendering(), timeout=WAIT_MS)
    assert "**" not in view.document().toPlainText()


def _mark_blocks_before(view: ChatThreadView, position: int) -> int:
    """Mark every block before ``position`` (a block rebuilt later has no mark); how many."""
    marked = 0
    for block in _blocks(view):
        if block.position() + block.length() <= position:
            block.setUserState(7)
            marked += 1
    return marked


def _marked(view: ChatThreadView) -> int:
    return sum(1 for block in _blocks(view) if block.userState() == 7)


def _lines(view: ChatThreadView) -> list[str]:
    """The lines of text ``view`` shows, blank ones left out: how many blank blocks the live
    stream leaves around a rule depends on how its text fell into frames, in a full redraw
    as much as in any other."""
    return [line for line in view.document().toPlainText().split("\n") if line.strip()]


def _full_redraw(qtbot, parts: list[str]) -> ChatThreadView:
    """A fresh view of the same size given ``parts`` at once, all of it rendered."""
    fresh = ChatThreadView()
    qtbot.addWidget(fresh)
    fresh.resize(320, 400)
    fresh.show()
    qtbot.waitExposed(fresh)
    fresh.set_thread(parts)
    qtbot.waitUntil(lambda: not fresh.is_rendering(), timeout=WAIT_MS)
    return fresh


def _count_turn_renders(view: ChatThreadView, monkeypatch) -> list[int]:
    """The history turns ``view`` renders from now on, by index."""
    rendered: list[int] = []
    render = view._render_turn

    def counted(index: int) -> None:
        rendered.append(index)
        render(index)

    monkeypatch.setattr(view, "_render_turn", counted)
    return rendered


def _outside_live_part(parts: list[str]) -> int:
    """How many first turns of ``parts`` lie before its last LIVE_CHARS (the live part)."""
    at, chars = len(parts), 0
    while at > 0 and (chars < LIVE_CHARS or at == len(parts)):
        at -= 1
        chars += len(parts[at])
    return at


def test_an_edited_message_renders_the_thread_again_from_that_turn_only(
    view: ChatThreadView, qtbot, monkeypatch
) -> None:
    parts = _parts()
    view.set_thread(parts)
    qtbot.waitUntil(lambda: not view.is_rendering(), timeout=WAIT_MS)
    edited = TURNS // 2
    branch = [*parts[:edited], "---\n\n**You**\n\n> question-edited {braces}\n\n**sim**\n\n"]
    # The turns before the edited one stay, except the few the branch's live part takes
    # (a full redraw renders those in the live stream too).
    kept = _outside_live_part(branch)
    assert edited - 3 <= kept < edited
    marked = _mark_blocks_before(view, view._turns[kept].start)
    rendered = _count_turn_renders(view, monkeypatch)

    assert view.set_thread(branch) is False  # the document was kept, not replaced
    # The earlier turns' blocks are the same blocks, none rendered again.
    assert _marked(view) == marked > 0
    assert view.source() == "".join(branch)
    assert view._stream.source() == "".join(branch[kept:])  # all that renders again
    qtbot.waitUntil(lambda: not view.is_rendering(), timeout=WAIT_MS)
    assert rendered == [] and _marked(view) == marked
    # What shows is what a full redraw of the branch shows.
    assert _lines(view) == _lines(_full_redraw(qtbot, branch))
    bar = view.verticalScrollBar()
    assert bar.value() == bar.maximum()  # the branch's end in view, as after a full redraw


def test_a_regenerated_answer_renders_only_the_live_part_again(
    view: ChatThreadView, qtbot, monkeypatch
) -> None:
    parts = _parts()
    view.set_thread(parts)
    qtbot.waitUntil(lambda: not view.is_rendering(), timeout=WAIT_MS)
    question = parts[-1].split("**sim**")[0]
    again = [*parts[:-1], question]  # the answer shown becomes an alternative: a new one comes
    kept = _outside_live_part(again)
    assert TURNS - 4 <= kept <= len(view._turns)
    cut = view._turns[kept].start if kept < len(view._turns) else view._history_end
    marked = _mark_blocks_before(view, cut)
    rendered = _count_turn_renders(view, monkeypatch)

    assert view.set_thread(again) is False
    assert _marked(view) == marked > 0
    assert view.source() == "".join(again)
    # The live part alone renders again: the last turns, about LIVE_CHARS of them.
    assert view._stream.source() == "".join(again[kept:])
    assert len(view._stream.source()) <= LIVE_CHARS + max(len(part) for part in parts)
    view.append("**sim**\n\nA new answer, streamed.\n\n")
    again[-1] += "**sim**\n\nA new answer, streamed.\n\n"
    qtbot.waitUntil(lambda: not view.is_rendering(), timeout=WAIT_MS)
    assert rendered == [] and _marked(view) == marked
    assert _lines(view) == _lines(_full_redraw(qtbot, again))


def test_a_turn_not_rendered_yet_is_estimated_from_its_text_without_its_marks() -> None:
    from gui.qt.widgets.chat_thread import _MARKUP_RE, _shape, _text_lines

    source = (
        "---\n\n**You** · [edit](chat:edit/abc123) · [‹](chat:prev/abc123) 1/2\n\n"
        "> a *quoted* `question` with_underscores and a longer tail of words\n> line two\n\n"
        "**sim-a**\n\nThe **answer** with a [link](https://example.com/x) and `code`, "
        "then a long sentence that wraps over several lines at any width.\n\n"
        "```python\nx = 1\n```\n\n*[stopped: the user stopped it]*\n\n"
    )
    # What the reader sees of it: the text with its link targets and marks left out.
    plain = [p for p in _MARKUP_RE.sub("", source).split("\n\n") if p.strip()]
    for per_line, per_quote_line in ((8, 8), (24, 18), (80, 70)):
        lines = sum(
            max(1, -(-len(line) // (per_quote_line if line.lstrip().startswith(">") else per_line)))
            for paragraph in plain
            for line in paragraph.split("\n")
        )
        assert _text_lines(_shape(source), per_line, per_quote_line) == (lines, len(plain))
