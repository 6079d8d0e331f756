"""The Markdown answer view as a reader uses it: rendered while it streams, code copied with
one click, raw on demand, scrolled the way terminals and chat apps scroll.

Offscreen (see conftest). The measuring test prints what it measured and asserts no bound.
"""

from __future__ import annotations

import itertools
import time

import pytest
import shiboken6
from PySide6.QtCore import QPoint, Qt, QTimer, QUrl
from PySide6.QtGui import QColor, QGuiApplication, QPalette, QTextCursor
from PySide6.QtWidgets import QApplication, QMenu

from gui.core.markdown_stream import MarkdownStream
from gui.qt.widgets import markdown_view
from gui.qt.widgets.markdown_view import SHOW_ALL_SCHEME, MarkdownView, markdown_to_plain

ANSWER = """# Sorting

Here is a table:

| name | cost |
|------|------|
| sort | n log n |

```python
def square(x):
    return x * x
```

Then a list:

- first
- second
"""


def long_answer(size: int) -> str:
    """A long answer shaped like a model's: prose sections with lists, code, some tables."""
    prose = "This part explains one more detail of the topic in plain words, " * 6
    parts: list[str] = []
    i = 0
    while sum(map(len, parts)) < size:
        parts.append(f"## Part {i}\n\n{prose}\n\n{prose}\n\n- a point\n- another point\n\n")
        if i % 5 == 0:
            parts.append("```python\nfor item in items:\n    print(item)\n```\n\n")
        if i % 20 == 0:
            parts.append("| key | value |\n|---|---|\n| a | 1 |\n| b | 2 |\n\n")
        i += 1
    return "".join(parts) + "The very end."


def report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    with capsys.disabled():
        print(f"\n  [measured] {line}", end="")


@pytest.fixture
def view(qtbot) -> MarkdownView:
    widget = MarkdownView()
    qtbot.addWidget(widget)
    widget.resize(320, 220)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def tables(view: MarkdownView) -> int:
    return sum(1 for frame in view.document().rootFrame().childFrames())


def anchor_rect_center(view: MarkdownView, href: str) -> QPoint:
    block = view.document().begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            if fragment.charFormat().anchorHref() == href:
                cursor = QTextCursor(view.document())
                cursor.setPosition(fragment.position() + 1)
                return view.cursorRect(cursor).center() - QPoint(3, 0)
            it += 1
        block = block.next()
    raise AssertionError(f"no link to {href}")


def menu_actions() -> tuple[QMenu, dict[str, object]]:
    menus = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMenu) and w.isVisible()]
    assert len(menus) == 1
    return menus[0], {action.text(): action for action in menus[0].actions()}


def test_a_table_is_rendered_while_the_answer_streams(view: MarkdownView, qtbot) -> None:
    cut = ANSWER.index("```python")
    for i in range(0, cut, 7):
        view.append(ANSWER[i : min(i + 7, cut)])
    qtbot.waitUntil(lambda: tables(view) == 1, timeout=30_000)  # before the answer ends
    assert "sort" in view.to_plain() and "|" not in view.to_plain()
    view.append(ANSWER[cut:])
    view.finish()
    assert tables(view) == 1
    assert view.to_plain() == markdown_to_plain(ANSWER)
    assert view.source() == ANSWER


def test_the_copy_link_of_a_code_block_copies_exactly_its_code(view: MarkdownView, qtbot) -> None:
    view.set_text(ANSWER, final=True)
    QGuiApplication.clipboard().clear()
    with qtbot.waitSignal(view.code_copied, timeout=30_000) as copied:
        qtbot.mouseClick(
            view.viewport(), Qt.MouseButton.LeftButton, pos=anchor_rect_center(view, "copy:0")
        )
    assert copied.args == [0]
    assert QGuiApplication.clipboard().text() == "def square(x):\n    return x * x\n"


def test_a_code_block_still_being_written_is_code_and_copies_what_arrived(
    view: MarkdownView,
) -> None:
    view.append("Intro\n\n```bash\necho one\necho tw")
    assert "```" not in view.to_plain()
    view.anchorClicked.emit(QUrl("copy:0"))
    assert QGuiApplication.clipboard().text() == "echo one\necho tw"


def test_the_raw_toggle_shows_the_source_and_back(view: MarkdownView) -> None:
    view.append(ANSWER[:60])
    raw_changes: list[bool] = []
    view.raw_changed.connect(raw_changes.append)
    view.customContextMenuRequested.emit(QPoint(5, 5))
    menu, actions = menu_actions()
    actions["Show raw text"].trigger()  # type: ignore[attr-defined]
    menu.close()
    assert view.is_raw() and raw_changes == [True]
    assert view.toPlainText() == ANSWER[:60]
    view.append(ANSWER[60:])
    assert view.toPlainText() == ANSWER
    view.set_raw(False)
    assert view.to_plain() == markdown_to_plain(ANSWER)
    assert raw_changes == [True, False]


def test_the_context_menu_copies_source_plain_text_and_html(view: MarkdownView) -> None:
    view.set_text(ANSWER, final=True)
    clipboard = QGuiApplication.clipboard()
    for label, check in (
        ("Copy answer", lambda: clipboard.text() == ANSWER),
        ("Copy answer as plain text", lambda: clipboard.text() == markdown_to_plain(ANSWER)),
        (
            "Copy answer as HTML",
            lambda: "<table" in clipboard.mimeData().html() and "copy:" not in clipboard.text(),
        ),
    ):
        view.customContextMenuRequested.emit(QPoint(5, 5))
        menu, actions = menu_actions()
        actions[label].trigger()  # type: ignore[attr-defined]
        menu.close()
        assert check(), label


def test_new_text_does_not_drag_a_reader_who_scrolled_up(view: MarkdownView) -> None:
    bar = view.verticalScrollBar()
    for i in range(40):
        view.append(f"Paragraph {i} of a long answer.\n\n")
    assert bar.maximum() > 0 and bar.value() == bar.maximum()  # following the end
    bar.setValue(10)  # the reader scrolls up
    for i in range(20):
        view.append(f"- item {i}\n")
    assert bar.value() == 10
    bar.setValue(bar.maximum())  # back at the end: following again
    view.append("\n\nMore text at the end.\n")
    assert bar.value() == bar.maximum()


def test_a_finished_answer_shows_from_its_top(view: MarkdownView) -> None:
    bar = view.verticalScrollBar()
    body = "".join(f"Paragraph {i} of a long answer.\n\n" for i in range(40))
    view.append(body)
    assert bar.value() == bar.maximum() > 0
    view.finish()
    assert bar.value() == 0
    view.clear()
    view.set_text(body, final=True)  # arrived whole
    assert bar.value() == 0
    view.clear()
    view.append(body)
    middle = bar.maximum() // 2
    bar.setValue(middle)  # a reader in the middle keeps their place
    view.set_text(body, final=True)
    # On a busy machine part of the streamed text may still have been shown raw, so the
    # finished rendering can change the document's height: the place is kept, not reset.
    assert bar.value() == min(middle, bar.maximum()) and 0 < bar.value()


def test_text_shows_raw_while_rendering_waits_and_is_rendered_after(
    view: MarkdownView, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(markdown_view, "RENDER_PAUSE", 1e6)  # the next render waits "forever"
    view.append("Some **bold")
    view.append(" words** here\n\n- one")
    assert "**" in view.toPlainText()  # shown raw meanwhile, nothing lost
    assert view.toPlainText().endswith("- one")
    view.finish()  # the end is rendered at once, without waiting for the next step's turn
    assert view.document().toPlainText() == markdown_to_plain("Some **bold words** here\n\n- one")


def test_an_answer_arriving_before_the_markdown_warm_up_shows_raw_then_rendered(
    view: MarkdownView, qtbot
) -> None:
    from gui.core import markdown_stream

    # The window's warm-up is still building the parser and the lexers on its thread.
    markdown_stream.warm_up_expected()
    try:
        cut = ANSWER.index("Then a list")
        for i in range(0, cut, 9):
            view.append(ANSWER[i : min(i + 9, cut)])
        shown = view.document().toPlainText()
        assert "| name | cost |" in shown and "```python" in shown  # raw, all of it so far
        assert tables(view) == 0 and view.is_rendering()
        view.append(ANSWER[cut:])
        view.finish()
        assert view.document().toPlainText().rstrip() == ANSWER.rstrip()  # nothing lost
        assert view.to_plain() == ANSWER and tables(view) == 0
    finally:
        markdown_stream.warm_up_done()
    # Rendered once the warm-up is done, exactly as if it had been warm all along.
    qtbot.waitUntil(lambda: not view.is_rendering(), timeout=30_000)
    assert tables(view) == 1
    assert view.to_plain() == markdown_to_plain(ANSWER)
    assert view.source() == ANSWER
    view.anchorClicked.emit(QUrl("copy:0"))
    assert QGuiApplication.clipboard().text() == "def square(x):\n    return x * x\n"


def test_a_view_deleted_while_it_waits_for_the_warm_up_keeps_no_other_raw(qtbot) -> None:
    from gui.core import markdown_stream

    markdown_stream.warm_up_expected()
    try:
        gone = MarkdownView()
        gone.append("Some **bold** text")
        kept = MarkdownView()
        qtbot.addWidget(kept)
        kept.append("More **bold** text")
        shiboken6.delete(gone)
    finally:
        markdown_stream.warm_up_done()  # calls the living view only
    qtbot.waitUntil(lambda: not kept.is_rendering(), timeout=30_000)
    assert kept.to_plain() == "More bold text"


def test_code_colours_follow_a_switch_to_a_dark_palette(view: MarkdownView, dark_palette) -> None:
    # The fixture switched the palette after the view was built; a new answer, then back.
    view.set_text(ANSWER, final=True)
    dark_html = view.document().toHtml()
    assert view.code(0) == "def square(x):\n    return x * x\n"
    light = MarkdownStream(dark=False)
    dark = MarkdownStream(dark=True)
    for stream in (light, dark):
        stream.append(ANSWER)
        stream.finish()
    light_html, dark_stream_html = "".join(light.flush().finished), "".join(dark.flush().finished)
    assert light_html != dark_stream_html
    assert "#0d1117" in dark_html.lower() or "#161b22" in dark_html.lower()


def bar_position(view: MarkdownView) -> int:
    """Where the "Show all" link stands in the document."""
    block = view.document().begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            if fragment.charFormat().anchorHref() == f"{SHOW_ALL_SCHEME}:":
                return fragment.position()
            it += 1
        block = block.next()
    raise AssertionError("no Show all link")


def click_show_all(view: MarkdownView, qtbot) -> None:
    cursor = QTextCursor(view.document())
    cursor.setPosition(bar_position(view) + 1)
    view.setTextCursor(cursor)
    view.ensureCursorVisible()  # the reader scrolled down to the bar
    center = view.cursorRect(cursor).center() - QPoint(3, 0)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=center)


def test_a_1_mb_answer_shows_its_head_a_bar_and_its_end(
    view: MarkdownView, qtbot, capsys: pytest.CaptureFixture[str]
) -> None:
    answer = long_answer(1_000_000)
    start = time.perf_counter()
    with qtbot.waitSignal(view.caught_up, timeout=300_000):
        view.set_text(answer, final=True)
        first = time.perf_counter() - start
        shown = len(view.toPlainText())
        assert view.is_rendering()
        assert 0 < shown < len(markdown_to_plain(answer)) / 20  # only the first budget's worth
        assert view.verticalScrollBar().value() == 0  # from its top
        # The head and the end follow frame by frame, without anyone asking for them.
    total = time.perf_counter() - start
    assert not view.is_rendering()
    text = view.document().toPlainText()
    full = markdown_to_plain(answer)
    # The rendered head, then the bar saying what is left out, then the end.
    before, bar, after = text.partition(" KB not shown \u2014 Show all")
    assert bar and full.startswith(before.rpartition("\n")[0])
    kilobytes = int(before.rpartition("\u2026 ")[2].replace(",", ""))
    assert view.elided_chars() > 800_000 and kilobytes == round(view.elided_chars() / 1024)
    assert full.endswith(after.lstrip("\n")) and after.endswith("The very end.")
    assert len(text) < len(full) / 5
    # What is copied is always the whole answer.
    assert view.source() == answer and view.to_plain() == full
    view.set_raw(True)
    assert "".join(view.document().toPlainText().split()) == "".join(answer.split())
    report(
        capsys,
        f"1 MB answer set at once: first frame {first * 1e3:.1f} ms, head and end rendered "
        f"in {total:.2f} s ({len(text):,} of {len(full):,} characters shown)",
    )


def test_show_all_renders_the_rest_in_steps_while_the_loop_keeps_ticking(
    view: MarkdownView, qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = long_answer(400_000)
    with qtbot.waitSignal(view.caught_up, timeout=300_000):
        view.set_text(answer, final=True)
    assert view.elided_chars() > 0
    ticks = 0

    def on_heartbeat() -> None:
        nonlocal ticks
        ticks += 1

    heartbeat = QTimer(view)
    heartbeat.timeout.connect(on_heartbeat)
    heartbeat.start(0)
    seen: list[int] = []  # the heartbeat's count at each render step
    real_step = view._step

    def step() -> None:
        seen.append(ticks)
        real_step()

    monkeypatch.setattr(view, "_step", step)
    with qtbot.waitSignal(view.caught_up, timeout=300_000):
        click_show_all(view, qtbot)
        assert view.is_rendering() and view.elided_chars() == 0
    heartbeat.stop()
    assert view.document().toPlainText() == markdown_to_plain(answer)
    assert len(seen) > 10  # bounded steps, not one long one
    # The first step runs with the click; between any two of the rest the loop turned.
    assert all(later > earlier for earlier, later in itertools.pairwise(seen[1:]))
    # Shown whole, it stays whole: a raw round trip does not elide it again.
    view.set_raw(True)
    view.set_raw(False)
    qtbot.waitUntil(lambda: not view.is_rendering(), timeout=300_000)
    assert view.elided_chars() == 0


def test_a_long_streaming_answer_keeps_its_head_and_its_growing_end(
    view: MarkdownView, qtbot
) -> None:
    answer = long_answer(300_000)
    full = markdown_to_plain(answer)
    longest = 0
    for i in range(0, len(answer), 6_000):  # one frame's worth at a time
        view.append(answer[i : i + 6_000])
        QApplication.processEvents()
        longest = max(longest, len(view.document().toPlainText()))
    view.finish()
    qtbot.waitUntil(lambda: not view.is_rendering(), timeout=300_000)
    text = view.document().toPlainText()
    assert view.elided_chars() > 0 and "KB not shown" in text
    assert text.endswith("The very end.") and full.startswith(text[:1000])
    # The document never held the whole answer: the middle went as the end grew.
    assert longest < len(full) / 2


def test_copy_as_plain_text_of_a_long_answer_shows_all_of_it_then_copies_it(
    view: MarkdownView, qtbot
) -> None:
    answer = long_answer(300_000)
    with qtbot.waitSignal(view.caught_up, timeout=300_000):
        view.set_text(answer, final=True)
    assert view.elided_chars() > 0
    clipboard = QGuiApplication.clipboard()
    clipboard.clear()
    with qtbot.waitSignal(view.caught_up, timeout=300_000):
        view.customContextMenuRequested.emit(QPoint(5, 5))
        menu, actions = menu_actions()
        actions["Copy answer as plain text"].trigger()  # type: ignore[attr-defined]
        menu.close()
        assert view.is_rendering()  # rendered a frame at a time, not in one freeze
    assert view.elided_chars() == 0
    assert clipboard.text() == markdown_to_plain(answer)


def test_code_copied_from_the_end_and_after_show_all_is_that_blocks_code(
    view: MarkdownView, qtbot
) -> None:
    code = "```python\nprint('the last block')\n```\n"
    answer = long_answer(200_000) + "\n\n" + code
    with qtbot.waitSignal(view.caught_up, timeout=300_000):
        view.set_text(answer, final=True)
    assert view.elided_chars() > 0

    def last_copy_link() -> str:
        hrefs = []
        block = view.document().begin()
        while block.isValid():
            it = block.begin()
            while not it.atEnd():
                href = it.fragment().charFormat().anchorHref()
                if href.startswith("copy:"):
                    hrefs.append(href)
                it += 1
            block = block.next()
        return hrefs[-1]

    view.anchorClicked.emit(QUrl(last_copy_link()))
    assert QGuiApplication.clipboard().text() == "print('the last block')\n"
    with qtbot.waitSignal(view.caught_up, timeout=300_000):
        view.anchorClicked.emit(QUrl(f"{SHOW_ALL_SCHEME}:"))
    QGuiApplication.clipboard().clear()
    view.anchorClicked.emit(QUrl(last_copy_link()))
    assert QGuiApplication.clipboard().text() == "print('the last block')\n"
    view.anchorClicked.emit(QUrl("copy:0"))
    assert QGuiApplication.clipboard().text() == "for item in items:\n    print(item)\n"


def test_text_faster_than_rendering_is_shown_in_order_without_gaps(
    view: MarkdownView, qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Rendering a few hundred characters per step while 3,000 arrive per frame: a backlog.
    monkeypatch.setattr(markdown_view, "STEP_MS", 0.001)
    monkeypatch.setattr(markdown_view, "MIN_BUDGET", 300)
    text = "".join(f"Paragraph {i} says a few plain words.\n\n" for i in range(600))
    final = markdown_to_plain(text)
    for i in range(0, len(text), 3000):
        view.append(text[i : i + 3000])
        QApplication.processEvents()
        shown = view.document().toPlainText()
        assert final.startswith(shown.removesuffix(" ")), "a gap or text out of order"
    view.finish()
    qtbot.waitUntil(lambda: view.document().toPlainText() == final, timeout=60_000)


def test_a_finished_answer_given_to_a_hidden_view_opens_at_its_top_left(qtbot) -> None:
    # The Grid builds a pane for a finished answer before showing it: Qt lays the document
    # out on show and scrolls to the view's text cursor, which must not have followed the
    # written blocks to the end (it opened at the bottom, scrolled to a code line's end).
    code = "```python\nx = 'a line of code much wider than the narrow view it is shown in'\n```\n"
    answer = "".join(f"Paragraph {i} of a long answer.\n\n{code}\n" for i in range(12))
    widget = MarkdownView()
    qtbot.addWidget(widget)
    widget.resize(220, 160)
    widget.set_text(answer, final=True)
    widget.show()
    qtbot.waitExposed(widget)
    qtbot.waitUntil(lambda: not widget.is_rendering(), timeout=30_000)
    bar, side = widget.verticalScrollBar(), widget.horizontalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0, timeout=30_000)
    assert bar.value() == 0 and side.value() == 0
    assert not widget.textCursor().hasSelection()  # nothing shows selected


def test_new_text_never_shows_as_selected(view: MarkdownView, qtbot) -> None:
    # The view's cursor is kept at the top as blocks are written after it: it must not
    # stretch into a selection over the new text.
    for part in ("First paragraph.\n\n", "Second paragraph.\n\n", "Third.\n"):
        view.append(part)
    view.finish()
    qtbot.waitUntil(lambda: "Third" in view.document().toPlainText(), timeout=30_000)
    cursor = view.textCursor()
    assert not cursor.hasSelection() and cursor.position() == 0


def select(view: MarkdownView, words: str) -> None:
    """Select ``words`` in the view as a reader would, with the view's own cursor."""
    at = view.document().toPlainText().index(words)
    cursor = view.textCursor()
    cursor.setPosition(at)
    cursor.setPosition(at + len(words), QTextCursor.MoveMode.KeepAnchor)
    view.setTextCursor(cursor)


@pytest.mark.parametrize(
    ("start", "more"),
    [
        ("The open paragraph starts with these words", " and grows a little more"),
        ("- a first item\n- a second item that starts with", "\n- and yet another item"),
    ],
    ids=["paragraph", "list"],
)
def test_a_selection_in_the_block_being_written_survives_its_re_renders(
    view: MarkdownView, monkeypatch: pytest.MonkeyPatch, start: str, more: str
) -> None:
    # Every append renders at once (no waiting between render steps).
    monkeypatch.setattr(markdown_view, "QUIET_INTERVAL_S", 0.0)
    monkeypatch.setattr(markdown_view, "RENDER_PAUSE", 0.0)
    view.append("Intro.\n\n" + start)
    QApplication.processEvents()
    select(view, "starts with")
    renders = view._stream.tail_renders
    for _ in range(4):
        time.sleep(0.002)
        view.append(more)
        QApplication.processEvents()
    assert view._stream.tail_renders > renders  # the open block was rendered again
    assert view.textCursor().selectedText() == "starts with"
    view.finish()
    assert view.textCursor().selectedText() == "starts with"


def test_a_selection_up_to_the_end_does_not_grow_with_new_text(
    view: MarkdownView, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(markdown_view, "QUIET_INTERVAL_S", 10.0)  # new words wait, shown raw
    view.append("Intro.\n\nThe last words")
    select(view, "last words")
    view.append(" and then some more")
    assert view.textCursor().selectedText() == "last words"
    assert view.document().toPlainText().endswith("and then some more")


def test_a_theme_switch_renders_again_only_answers_with_colours_of_their_own(qtbot) -> None:
    """A light/dark switch re-rendered every answer in its own turn (a big run froze the
    window). Prose takes its colours from the palette as it paints: it is not rendered again;
    an answer with code is, in a later loop turn, in the new palette's colours."""
    prose, coded = MarkdownView(), MarkdownView()
    for widget in (prose, coded):
        qtbot.addWidget(widget)
        widget.resize(320, 220)
        widget.show()
    prose.set_text("# Cats\n\nCats *purr*.\n\n- one\n- two\n", final=True)
    coded.set_text(ANSWER, final=True)
    light_html = coded.document().toHtml().lower()
    prose_stream, coded_stream = prose._stream, coded._stream
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    original = QPalette(app.palette())
    dark = QPalette(original)
    for role, color in (
        (QPalette.ColorRole.Window, "#202124"),
        (QPalette.ColorRole.Base, "#17181a"),
    ):
        dark.setColor(role, QColor(color))
    try:
        app.setPalette(dark)
        QApplication.processEvents()  # the palette reaches the widgets
        qtbot.waitUntil(lambda: markdown_view.restyles_pending() == 0, timeout=30_000)
        dark_html = coded.document().toHtml().lower()
        assert "#0d1117" in dark_html or "#161b22" in dark_html
        assert dark_html != light_html and coded.code(0) == "def square(x):\n    return x * x\n"
        assert prose._stream is prose_stream  # not rendered again
        assert coded._stream is not coded_stream
        prose.append("\n\n```python\nx = 1\n```\n")  # what comes now is coloured for dark
        prose.finish()
        assert "#0d1117" in prose.document().toHtml().lower() or "#161b22" in (
            prose.document().toHtml().lower()
        )
    finally:
        app.setPalette(original)
        qtbot.waitUntil(lambda: markdown_view.restyles_pending() == 0, timeout=30_000)
