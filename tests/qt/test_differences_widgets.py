"""The diff and agreement widgets: the right words and sentences coloured, in either palette."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import QPoint
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QMenu, QTextBrowser
from pytestqt.qtbot import QtBot

from gui.core.agreement import Share
from gui.core.textdiff import word_diff_of
from gui.qt.widgets.agreement_view import AgreementView
from gui.qt.widgets.cell_pane import CellPane
from gui.qt.widgets.diff_view import DiffView
from gui.qt.widgets.latest_job import LatestJob
from gui.qt.widgets.text_marks import share_colors
from tests.qt.conftest import SESSION_LOOP, signal_future, until

pytestmark = SESSION_LOOP

PARIS = (
    "The capital of France is Paris. Paris has about two million inhabitants. I love croissants.",
    "Paris is the capital of France. About two million people live in Paris.\n\n"
    "The Louvre is the largest art museum.",
    "France's capital is Paris. The Louvre is the world's largest art museum.",
)
TITLES = ("France × sim-a", "France × sim-b", "France × sim-c")


async def shown(signal: Any) -> tuple[Any, ...]:
    return await asyncio.wait_for(signal_future(signal), 30)


@pytest.fixture
def switch_to_dark() -> Iterator[Any]:
    """A function that switches the application palette to a dark one; restored after."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    original = QPalette(app.palette())

    def switch() -> None:
        dark = QPalette(original)
        dark.setColor(QPalette.ColorRole.Base, QColor("#17181a"))
        dark.setColor(QPalette.ColorRole.Text, QColor("#e8eaed"))
        dark.setColor(QPalette.ColorRole.Window, QColor("#202124"))
        app.setPalette(dark)

    yield switch
    app.setPalette(original)


def backgrounds(view: DiffView, side: int) -> list[QColor]:
    return [sel.format.background().color() for sel in view.side(side).extraSelections()]


async def test_diff_of_two_known_texts_marks_the_right_words(qtbot: QtBot) -> None:
    view = DiffView()
    qtbot.addWidget(view)
    view.show()
    done = signal_future(view.diff_shown)
    view.set_texts("The cat sat on the mat.", "The dog sat on a mat!", "cats × a", "cats × b")
    (similarity,) = await asyncio.wait_for(done, 30)
    assert round(similarity) == 57 and view.similarity_text() == "Similarity: 57 %"
    assert view.marked(0) == ["cat", "the", "."]
    assert view.marked(1) == ["dog", "a", "!"]
    assert view.side(0).toPlainText() == "The cat sat on the mat."
    # Deletions are tinted red, insertions green.
    assert all(c.red() > c.green() for c in backgrounds(view, 0))
    assert all(c.green() > c.red() for c in backgrounds(view, 1))


async def test_the_newest_pair_wins(qtbot: QtBot) -> None:
    view = DiffView()
    qtbot.addWidget(view)
    view.set_texts("first a", "first b")
    view.set_texts("second a 🐈 tail", "second b 🐈 tail")
    await until(lambda: view.diff() is not None and view.diff().a.startswith("second"))  # type: ignore[union-attr]
    # The emoji takes two positions in the document: the marks still land on the words.
    assert view.marked(0) == ["a"] and view.marked(1) == ["b"]


async def test_a_palette_change_recolours_the_diff(qtbot: QtBot, switch_to_dark: Any) -> None:
    view = DiffView()
    qtbot.addWidget(view)
    view.show()
    done = signal_future(view.diff_shown)
    view.set_texts("one two three", "one 2 three")
    await asyncio.wait_for(done, 30)
    (light,) = backgrounds(view, 0)
    assert light.lightness() > 128
    switch_to_dark()
    await until(lambda: backgrounds(view, 0)[0].lightness() < 128)
    (dark,) = backgrounds(view, 0)
    assert dark.red() > dark.green() and view.marked(0) == ["two"]


async def test_the_two_sides_scroll_together_unless_turned_off(qtbot: QtBot) -> None:
    view = DiffView()
    qtbot.addWidget(view)
    view.resize(700, 300)
    view.show()
    done = signal_future(view.diff_shown)
    a = "\n".join(f"Line {i} of the first answer." for i in range(200))
    b = "\n".join(f"Line {i} of the second answer, which is longer." for i in range(300))
    view.set_texts(a, b)
    await asyncio.wait_for(done, 30)
    left, right = view.side(0).verticalScrollBar(), view.side(1).verticalScrollBar()
    await until(lambda: left.maximum() > 0 and right.maximum() > 0)
    left.setValue(left.maximum())
    assert right.value() == right.maximum()
    left.setValue(left.maximum() // 2)
    assert abs(right.value() - right.maximum() / 2) <= 2
    right.setValue(0)
    assert left.value() == 0
    view.set_scroll_together(False)
    left.setValue(left.maximum())
    assert right.value() == 0


async def test_agreement_tags_of_a_crafted_row_are_what_a_reader_would_say(qtbot: QtBot) -> None:
    view = AgreementView()
    qtbot.addWidget(view)
    view.show()
    done = signal_future(view.agreement_shown)
    view.set_answers(TITLES, PARIS)
    await asyncio.wait_for(done, 30)
    assert view.tags(0) == [
        ("The capital of France is Paris.", Share.ALL),
        ("Paris has about two million inhabitants.", Share.SOME),
        ("I love croissants.", Share.UNIQUE),
    ]
    assert [share for _text, share in view.tags(1)] == [Share.ALL, Share.SOME, Share.SOME]
    assert [share for _text, share in view.tags(2)] == [Share.ALL, Share.SOME]
    assert view.legend_counts() == {Share.ALL: 3, Share.SOME: 4, Share.UNIQUE: 1}
    assert view.legend_text() == "said by all: 3 · said by some: 4 · unique: 1"
    colors = {share: c.name() for share, c in share_colors(view.palette()).items()}
    assert view.marked(0) == [
        ("The capital of France is Paris.", colors[Share.ALL]),
        ("Paris has about two million inhabitants.", colors[Share.SOME]),
        ("I love croissants.", colors[Share.UNIQUE]),
    ]
    assert view.editor(1).toPlainText() == PARIS[1]


async def test_moving_the_threshold_regroups_the_sentences(qtbot: QtBot) -> None:
    view = AgreementView()
    qtbot.addWidget(view)
    done = signal_future(view.agreement_shown)
    view.set_answers(TITLES, PARIS)
    await asyncio.wait_for(done, 30)
    assert view.tags(2)[0] == ("France's capital is Paris.", Share.ALL)
    done = signal_future(view.agreement_shown)
    view.set_threshold(0.9)
    await asyncio.wait_for(done, 30)
    assert view.threshold() == 0.9
    assert view.tags(2)[0] == ("France's capital is Paris.", Share.UNIQUE)
    assert view.tags(0)[0] == ("The capital of France is Paris.", Share.SOME)


async def test_streaming_answers_are_appended_and_end_tagged_in_full(qtbot: QtBot) -> None:
    view = AgreementView()
    qtbot.addWidget(view)
    view.show()
    for step in range(1, 21):  # twenty frames of growing text, far faster than 4 a second
        view.set_answers(TITLES, [text[: len(text) * step // 20] for text in PARIS])
        await asyncio.sleep(0.01)
    await until(
        lambda: (
            view.result() is not None
            and len(view.tags(0)) == 3
            and view.tags(0)[2][0] == "I love croissants."
        )
    )
    assert [view.editor(i).toPlainText() for i in range(3)] == list(PARIS)
    assert view.legend_counts() == {Share.ALL: 3, Share.SOME: 4, Share.UNIQUE: 1}


async def test_a_new_row_drops_the_old_rows_colours(qtbot: QtBot) -> None:
    view = AgreementView()
    qtbot.addWidget(view)
    done = signal_future(view.agreement_shown)
    view.set_answers(TITLES, PARIS)
    await asyncio.wait_for(done, 30)
    view.set_answers(("a", "b"), ("Rust has no garbage collector.", "Go compiles quickly."))
    assert view.marked(0) == []  # nothing coloured until the new row's agreement arrives
    await until(lambda: view.tags(0) == [("Rust has no garbage collector.", Share.UNIQUE)])
    assert not view.editor(2).parentWidget().isVisible()  # type: ignore[union-attr]


async def test_a_palette_change_recolours_the_agreement(qtbot: QtBot, switch_to_dark: Any) -> None:
    view = AgreementView()
    qtbot.addWidget(view)
    view.show()
    done = signal_future(view.agreement_shown)
    view.set_answers(TITLES, PARIS)
    await asyncio.wait_for(done, 30)
    assert QColor(view.marked(0)[0][1]).lightness() > 128
    switch_to_dark()
    await until(lambda: QColor(view.marked(0)[0][1]).lightness() < 128)
    dark = share_colors(view.palette())
    assert [color for _text, color in view.marked(0)] == [
        dark[Share.ALL].name(),
        dark[Share.SOME].name(),
        dark[Share.UNIQUE].name(),
    ]


async def test_a_panes_menu_offers_diff_with(qtbot: QtBot) -> None:
    pane = CellPane("r0m1", "cats × sim-b")
    qtbot.addWidget(pane)
    pane.show()
    asked: list[str] = []
    pane.diff_requested.connect(asked.append)

    def menu_actions() -> dict[str, Any]:
        browser = pane.findChild(QTextBrowser)
        assert browser is not None
        browser.customContextMenuRequested.emit(QPoint(5, 5))
        (menu,) = [
            w for w in QApplication.topLevelWidgets() if isinstance(w, QMenu) and w.isVisible()
        ]
        actions = {action.text(): action for action in menu.actions()}
        menu.close()
        return actions

    assert not menu_actions()["Diff with…"].isEnabled()  # nothing to compare yet
    pane.set_final_text("An answer.")
    menu_actions()["Diff with…"].trigger()
    assert asked == ["r0m1"]


async def test_requests_made_while_a_job_runs_collapse_into_the_newest(qtbot: QtBot) -> None:
    job = LatestJob(word_diff_of)
    got: list[tuple[object, bool]] = []

    def on_finished(request: object, _result: object, superseded: bool) -> None:
        got.append((request, superseded))

    job.finished.connect(on_finished)
    job.submit(("warm", "up"))
    await until(lambda: len(got) == 1)
    # The worker is warm and the answer instant: it still arrives later, never inside submit.
    for n in range(5):
        job.submit((f"a {n}", "b"))
        assert len(got) == 1  # nothing delivered before the loop runs again
    await until(lambda: not job.busy)
    assert got[1:] == [(("a 0", "b"), True), (("a 4", "b"), False)]


async def test_a_long_diff_hands_qt_only_the_marks_on_screen(qtbot: QtBot) -> None:
    view = DiffView()
    qtbot.addWidget(view)
    view.resize(700, 300)
    view.show()
    a = "\n".join(f"Line {i} says alpha." for i in range(20_000))
    b = "\n".join(f"Line {i} says {'beta' if i % 2 else 'alpha'}." for i in range(20_000))
    done = signal_future(view.diff_shown)
    view.set_texts(a, b)
    await asyncio.wait_for(done, 60)
    diff = view.diff()
    assert diff is not None and len(diff.inserted()) == 10_000
    on_screen = view.marked(1)
    assert 0 < len(on_screen) < 200 and set(on_screen) == {"beta"}
    # Scrolled to the end, the marks there are applied.
    bar = view.side(1).verticalScrollBar()
    bar.setValue(bar.maximum())
    selections = view.side(1).extraSelections()
    last = selections[-1].cursor
    assert last.selectedText() == "beta" and last.position() > len(b) - 200


async def test_two_empty_texts_show_at_once_and_start_no_worker(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A new run clears the Diff page: nothing to compare must not start a worker process
    # (it was a 12 ms pause at every run start).
    import gui.qt.widgets.latest_job as latest_job

    started: list[object] = []
    monkeypatch.setattr(latest_job, "_process_pool", lambda: started.append(1))
    view = DiffView()
    qtbot.addWidget(view)
    view.set_texts("", "")
    assert started == [] and not view._job.busy
    assert view.diff() is not None and "computing" not in view.similarity_text()


async def test_the_first_job_starts_the_worker_process_off_the_gui_thread(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its imports and the spawn took 20-50 ms of the GUI thread where a view was first shown.
    import threading

    import gui.qt.widgets.latest_job as latest_job

    latest_job.shutdown_workers()  # a fresh start, as in a new window
    on_gui_thread: list[bool] = []
    real = latest_job._submit

    def spy(fn: Any, request: Any) -> Any:
        on_gui_thread.append(threading.current_thread() is threading.main_thread())
        return real(fn, request)

    monkeypatch.setattr(latest_job, "_submit", spy)
    job = LatestJob(word_diff_of)
    done = signal_future(job.finished)
    job.submit(("first", "job"))
    request, result, _superseded = await asyncio.wait_for(done, 60)
    assert request == ("first", "job") and result is not None
    done = signal_future(job.finished)
    job.submit(("second", "job"))  # the process runs: handing a job over is cheap
    await asyncio.wait_for(done, 60)
    assert on_gui_thread == [False, True]


async def test_sentences_of_text_held_below_the_screen_are_coloured_when_it_goes_in(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gui.qt.widgets import streaming_tails

    monkeypatch.setattr(streaming_tails, "HOLD_MS", 3_600_000)  # held until the reader looks
    view = AgreementView()
    qtbot.addWidget(view)
    view.resize(700, 300)
    view.show()
    qtbot.waitExposed(view)
    filler = " ".join(f"Sentence number {i} is here." for i in range(80))
    heads = [f"{filler}\n\n{text}" for text in PARIS]
    done = signal_future(view.agreement_shown)
    view.set_answers(TITLES, heads)
    await asyncio.wait_for(done, 30)
    # The answers grow below the screen: the views hold the new text, the agreement of the
    # whole row arrives meanwhile.
    ends = [f"{head}\n\nThe Eiffel Tower is in Paris." for head in heads]
    done = signal_future(view.agreement_shown)
    view.set_answers(TITLES, ends)
    assert view._tails.held_chars(0) > 0
    await asyncio.wait_for(done, 30)
    assert view.tags(0)[-1] == ("The Eiffel Tower is in Paris.", Share.ALL)
    editor = view.editor(0)  # the reader's view of it: the held text goes in, coloured
    assert view._tails.held_chars(0) == 0
    bar = editor.verticalScrollBar()
    bar.setValue(bar.maximum())
    assert ("The Eiffel Tower is in Paris.", share_colors(view.palette())[Share.ALL].name()) in (
        view.marked(0)
    )


async def test_a_worker_process_that_dies_hands_its_job_to_a_thread_and_hangs_nothing(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pool's manager thread reports a dead process holding its lock; shutting the pool
    # down from that report deadlocked it, so the job never ended and the app hung at exit.
    import gui.qt.widgets.latest_job as latest_job
    from tests.support.worker_faults import die_in_a_worker_process

    latest_job.shutdown_workers()
    monkeypatch.setattr(latest_job, "_process_failed", False)  # restored after the test
    job = LatestJob(die_in_a_worker_process)
    done = signal_future(job.finished)
    job.submit("the request")
    request, result, _superseded = await asyncio.wait_for(done, 60)
    assert (request, result) == ("the request", "computed on a thread: the request")
    assert latest_job._process_failed and latest_job._process is None


@pytest.mark.parametrize("width", [560, 1000])
async def test_the_threshold_reads_whole_at_any_width(qtbot: QtBot, width: int) -> None:
    # At 900x600 beside the docks the sentence was squeezed and cut ("Same when ≥ 50").
    view = AgreementView()
    qtbot.addWidget(view)
    view.resize(width, 300)
    view.show()
    qtbot.waitExposed(view)
    view.set_threshold(0.5)
    label = view._threshold_label
    shown = label.text()
    assert shown in (
        "Same when ≥ 50 % of words match",
        "≥ 50 % of words match",
        "≥ 50 % words",
        "≥ 50 %",
    )
    assert label.fontMetrics().horizontalAdvance(shown) <= label.contentsRect().width()
    assert label.toolTip() == "Same when ≥ 50 % of words match"
    if width >= 1000:
        assert shown == "Same when ≥ 50 % of words match"
