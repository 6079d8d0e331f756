"""The Row compare layout on its own: one input's answers side by side, scrolled together."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (
    QAbstractSlider,
    QApplication,
    QComboBox,
    QScrollArea,
    QScrollBar,
    QToolButton,
)

from gui.core.agreement import Share
from gui.core.runner import Phase
from gui.core.spec import CellId
from gui.qt.widgets.cell_store import CellStore
from gui.qt.widgets.row_compare import RowCompareView
from tests.qt.conftest import SESSION_LOOP, until

ROWS = ["cats", "dogs"]
COLS = ["sim-1", "sim-2", "sim-3"]


def long_answer(cell_id: str, paragraphs: int) -> str:
    return "\n\n".join(f"{cell_id} paragraph {i}: " + "words " * 40 for i in range(paragraphs))


@pytest.fixture
def store() -> CellStore:
    store = CellStore()
    store.set_shape(ROWS, COLS, CellId.grid(2, 3))
    return store


@pytest.fixture
def view(qtbot, store: CellStore) -> RowCompareView:
    widget = RowCompareView(store)
    qtbot.addWidget(widget)
    widget.resize(1200, 700)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def bar(view: RowCompareView, col: int) -> QScrollBar:
    return view.answer_view(col).verticalScrollBar()


def fraction(view: RowCompareView, col: int) -> float:
    b = bar(view, col)
    return b.value() / b.maximum()


def user_drags(view: RowCompareView, col: int, to_fraction: float) -> None:
    """What dragging the scroll bar's handle does: the position moves, then the value."""
    b = bar(view, col)
    b.setSliderPosition(round(to_fraction * b.maximum()))
    b.triggerAction(QAbstractSlider.SliderAction.SliderMove)


async def finish_all(
    view: RowCompareView, store: CellStore, row: int, lengths: tuple[int, ...]
) -> None:
    """End the row's answers with ``lengths`` paragraphs each, and wait until they are laid
    out (a text view lays a long document out in steps, after the call that set it)."""
    for col, paragraphs in enumerate(lengths):
        cell_id = CellId.text(row, col)
        store.set_final_text(cell_id, long_answer(cell_id, paragraphs))
        store.set_status(cell_id, Phase.DONE)
    seen: list[tuple[int, ...]] = []

    def laid_out() -> bool:
        seen.append(tuple(bar(view, c).maximum() for c in range(len(lengths))))
        return len(seen) >= 3 and min(seen[-1]) > 0 and seen[-1] == seen[-2] == seen[-3]

    await until(laid_out, step=0.05)


def test_row_compare_shows_every_columns_answer_of_the_chosen_row(
    qtbot, view: RowCompareView, store: CellStore
) -> None:
    for cell_id in store.cell_ids():
        store.set_final_text(cell_id, f"Answer of {cell_id}.")
        store.set_status(cell_id, Phase.DONE)
    assert view.row() == 0
    assert [view.column_label(c) for c in range(3)] == COLS
    assert [view.answer_view(c).to_plain().strip() for c in range(3)] == [
        "Answer of r0m0.",
        "Answer of r0m1.",
        "Answer of r0m2.",
    ]
    assert [view.column_status(c) for c in range(3)] == ["done"] * 3
    picker = view.findChild(QComboBox, "rowPicker")
    assert [picker.itemText(i) for i in range(picker.count())] == ["1. cats", "2. dogs"]
    with qtbot.waitSignal(view.row_changed, timeout=30_000) as signal:
        picker.setCurrentIndex(1)
    assert signal.args == [1]
    assert [view.answer_view(c).source() for c in range(3)] == [
        "Answer of r1m0.",
        "Answer of r1m1.",
        "Answer of r1m2.",
    ]
    view.activateWindow()
    qtbot.waitActive(view)
    view.answer_view(0).setFocus()
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    assert view.row() == 0 and picker.currentIndex() == 0
    with qtbot.waitSignal(view.back_requested, timeout=30_000):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Escape)


def test_the_answers_of_the_row_stream_live(view: RowCompareView, store: CellStore) -> None:
    store.set_all_status(Phase.QUEUED, "waiting for a slot")
    assert view.column_status(1) == "waiting for a slot"
    store.set_status("r0m1", Phase.STREAMING)
    store.append_texts({"r0m1": "Cats ", "r1m1": "another row", "r0m2": "Felines "})
    store.append_texts({"r0m1": "purr."})
    assert view.column_status(1) == "streaming"
    assert [view.answer_view(c).source() for c in range(3)] == ["", "Cats purr.", "Felines "]
    store.set_error("r0m2", "The server closed the stream; retry the cell.")
    store.set_status("r0m2", Phase.FAILED)
    assert view.column_status(2) == "failed"


@SESSION_LOOP
async def test_scrolling_one_answer_scrolls_the_others_proportionally(
    view: RowCompareView, store: CellStore
) -> None:
    await finish_all(
        view, store, 0, (10, 30, 60)
    )  # three lengths: the proportion is what is shared
    assert all(bar(view, c).maximum() > 0 for c in range(3))
    assert bar(view, 2).maximum() > 2 * bar(view, 0).maximum()
    user_drags(view, 1, 0.5)
    assert fraction(view, 0) == pytest.approx(0.5, abs=0.02)
    assert fraction(view, 2) == pytest.approx(0.5, abs=0.02)
    # The mouse wheel over another answer moves all three together too.
    answer = view.answer_view(2)
    wheel = QWheelEvent(
        QPointF(20, 20),
        QPointF(answer.viewport().mapToGlobal(QPoint(20, 20))),
        QPoint(0, 0),
        QPoint(0, -120 * 3),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(answer.viewport(), wheel)
    moved = fraction(view, 2)
    assert moved > 0.5
    assert fraction(view, 0) == pytest.approx(moved, abs=0.02)
    assert fraction(view, 1) == pytest.approx(moved, abs=0.02)


@SESSION_LOOP
async def test_the_toggle_stops_synchronized_scrolling(
    view: RowCompareView, store: CellStore
) -> None:
    await finish_all(view, store, 0, (20, 30, 40))
    view.set_sync_scroll(False)
    user_drags(view, 0, 0.8)
    assert fraction(view, 0) == pytest.approx(0.8, abs=0.02)
    assert bar(view, 1).value() == 0 and bar(view, 2).value() == 0
    view.set_sync_scroll(True)
    user_drags(view, 0, 0.3)
    assert fraction(view, 1) == pytest.approx(0.3, abs=0.02)


@SESSION_LOOP
async def test_an_answer_that_ends_does_not_drag_the_others(
    view: RowCompareView, store: CellStore
) -> None:
    await finish_all(view, store, 0, (20, 30, 10))
    user_drags(view, 0, 0.6)
    kept = bar(view, 1).value()
    # The third answer streams again (a retry) and ends, showing itself from its top: the
    # reader's place in the others stays.
    store.reset_cell("r0m2")
    store.append_texts({"r0m2": long_answer("r0m2", 30)})
    store.set_final_text("r0m2", long_answer("r0m2", 40))
    await until(lambda: bar(view, 2).maximum() > 0)
    assert bar(view, 2).value() == 0
    assert bar(view, 1).value() == kept and fraction(view, 0) == pytest.approx(0.6, abs=0.02)


PARIS = (
    "The capital of France is Paris. Paris has about two million inhabitants. I love croissants.",
    "Paris is the capital of France. About two million people live in Paris.",
    "France's capital is Paris. The Louvre is the world's largest art museum.",
)


@SESSION_LOOP
async def test_the_agreement_toggle_colours_the_rows_sentences_as_they_stream(
    view: RowCompareView, store: CellStore
) -> None:
    view.set_agreement(True)
    agreement = view.agreement_view()
    assert agreement.isVisible() and not view.answer_view(0).isVisible()
    halves = [(text[: len(text) // 2], text[len(text) // 2 :]) for text in PARIS]
    store.append_texts({CellId.text(0, c): first for c, (first, _) in enumerate(halves)})
    store.append_texts({CellId.text(0, c): rest for c, (_, rest) in enumerate(halves)})
    assert [agreement.editor(c).toPlainText() for c in range(3)] == list(PARIS)

    def tagged() -> bool:
        return [share for _text, share in agreement.tags(0)] == [
            Share.ALL,
            Share.SOME,
            Share.UNIQUE,
        ]

    await until(tagged)
    assert agreement.tags(2) == [
        ("France's capital is Paris.", Share.ALL),
        ("The Louvre is the world's largest art museum.", Share.UNIQUE),
    ]
    assert "unique: 2" in agreement.legend_text()
    view.set_agreement(False)
    assert view.answer_view(2).isVisible()
    assert view.answer_view(2).source() == PARIS[2]


def test_raw_shows_every_answers_markdown_source(view: RowCompareView, store: CellStore) -> None:
    for c in range(3):
        store.set_final_text(CellId.text(0, c), f"**bold {c}**")
    raw = next(b for b in view.findChildren(QToolButton) if b.text() == "Raw")
    raw.click()
    assert [view.answer_view(c).to_plain() for c in range(3)] == [f"**bold {c}**" for c in range(3)]
    raw.click()
    assert [view.answer_view(c).to_plain().strip() for c in range(3)] == [
        f"bold {c}" for c in range(3)
    ]


def test_a_hidden_row_compare_lists_the_inputs_only_once_it_is_shown(qtbot) -> None:
    # A 10,000-row run's start does not fill a list nobody opened; showing it lists them all.
    store = CellStore()
    widget = RowCompareView(store)
    qtbot.addWidget(widget)
    labels = [f"topic {i}" for i in range(300)]
    store.set_shape(labels, COLS, CellId.grid(300, 3))
    picker = widget.findChild(QComboBox, "rowPicker")
    assert picker.count() == 0 and widget.row() == 0
    widget.show_row(7)  # Focus's "Compare row" asks for a row before the view shows
    widget.resize(1200, 700)
    widget.show()
    qtbot.waitExposed(widget)
    assert picker.count() == 300 and picker.itemText(299) == "300. topic 299"
    assert picker.currentIndex() == 7 and widget.row() == 7
    store.set_shape(["a", "b"], COLS, CellId.grid(2, 3))  # a new run while shown: at once
    assert [picker.itemText(i) for i in range(picker.count())] == ["1. a", "2. b"]


def test_a_hidden_row_compare_builds_a_new_runs_columns_when_it_is_shown(
    qtbot, store: CellStore
) -> None:
    from gui.qt.widgets.row_compare import _Column

    widget = RowCompareView(store)
    qtbot.addWidget(widget)
    widget.resize(1200, 700)
    assert widget.findChildren(_Column) == []  # never shown: no columns for the first run
    # Another run starts while the page is hidden: nothing is built for it either.
    store.set_shape(["owls"], ["sim-a", "sim-b"], CellId.grid(1, 2))
    store.append_texts({"r0m0": "Owls hoot."})
    assert widget.findChildren(_Column) == []
    widget.show()
    qtbot.waitExposed(widget)
    assert [widget.column_label(c) for c in range(2)] == ["sim-a", "sim-b"]
    assert widget.row() == 0 and widget.cell_ids() == ["r0m0", "r0m1"]
    assert widget.answer_view(0).source() == "Owls hoot."
    # Asked while hidden, it answers for the run the store holds.
    widget.hide()
    store.set_shape(ROWS, COLS, CellId.grid(2, 3))
    assert [widget.column_label(c) for c in range(3)] == COLS


def test_repeated_samples_are_headed_once_per_group_over_their_numbers(qtbot) -> None:
    """A run with repeats titled every column "#1 sim-1 · t=0.7", "#2 sim-1 · t=0.7"...; like
    the Grid and Tiles, each group's label now heads its samples once, over "#1", "#2"."""
    from gui.qt.widgets.elided_label import ElidedLabel

    groups = ["sim-1 · t=0.7", "sim-2 · t=0.7"]
    cols = [f"#{k + 1} {g}" for g in groups for k in range(2)]
    store = CellStore()
    ids = [[CellId.text(0, c, k) for c in range(2) for k in range(2)]]
    store.set_shape(["cats"], cols, ids, groups=(groups, [0, 0, 1, 1]))
    view = RowCompareView(store)
    qtbot.addWidget(view)
    view.resize(1200, 700)
    view.show()
    qtbot.waitExposed(view)
    assert [view.column_label(c) for c in range(4)] == ["#1", "#2", "#1", "#2"]
    columns = [view.answer_view(c).parentWidget() for c in range(4)]
    qtbot.waitUntil(  # laid out: the last column right of the first
        lambda: columns[3].mapTo(view, QPoint()).x() > columns[0].mapTo(view, QPoint()).x(),
        timeout=30_000,
    )
    heads = sorted(view.findChildren(ElidedLabel, "columnGroupHeader"), key=lambda w: w.x())
    assert [h.full_text() for h in heads] == groups
    assert columns[1].findChild(ElidedLabel, "columnHeader").toolTip() == cols[1]
    for head, members in zip(heads, (columns[:2], columns[2:]), strict=True):
        left = head.mapToGlobal(QPoint(0, 0))
        right = head.mapToGlobal(QPoint(head.width() - 1, head.height() - 1))
        first = members[0].mapToGlobal(QPoint(0, 0))
        last = members[-1].mapToGlobal(QPoint(members[-1].width() - 1, 0))
        assert left.x() == first.x() and right.x() == last.x()  # spans its samples exactly
        assert right.y() < first.y()  # above them
        assert head.height() >= head.sizeHint().height()  # its text whole, not squeezed
    # The samples' tops line up across the groups, and every cell is in view.
    assert len({c.mapToGlobal(QPoint(0, 0)).y() for c in columns}) == 1
    assert view.visible_cell_count() == 4
    # A short window keeps the group's label whole above its samples.
    view.resize(900, 150)
    qtbot.waitUntil(lambda: view.height() == 150, timeout=30_000)
    for head in heads:
        assert head.height() >= head.fontMetrics().height()


def test_at_the_size_a_900x600_window_gives_it_every_answer_is_aligned_and_whole(
    qtbot,
) -> None:
    """A review saw Row compare's answers 4 px off at 900x600 with four models. In the
    589x292 px a 900x600 window leaves it, every column starts at the same height, its
    frame lies wholly inside the view above the sideways scroll bar, and the answers and
    metrics lines line up across the columns, streaming or finished."""
    from gui.core.metrics import CellMetrics

    store = CellStore()
    store.set_shape(
        ["cats"], ["gpt-4o-mini", "llama-3.1-8b", "mistral-small", "qwen"], CellId.grid(1, 4)
    )
    view = RowCompareView(store)
    qtbot.addWidget(view)
    view.resize(589, 292)
    view.show()
    qtbot.waitExposed(view)
    store.set_status("r0m0", Phase.STREAMING)
    store.append_texts({"r0m0": "Streaming still."})
    metrics = CellMetrics(
        queued_at=0.0,
        started_at=0.1,
        first_token_at=0.2,
        ended_at=1.0,
        ttft=0.1,
        latency=0.9,
        output_tokens=80,
        tokens_per_second=90.0,
        waited=0.1,
        tokens_estimated=False,
        retries=0,
    )
    for col in (1, 2, 3):
        cell_id = CellId.text(0, col)
        store.set_final_text(cell_id, long_answer(cell_id, 3))
        store.set_status(cell_id, Phase.DONE)
        store.set_metrics(cell_id, metrics)
    columns = [view.answer_view(c).parentWidget() for c in range(4)]
    qtbot.waitUntil(
        lambda: columns[3].mapTo(view, QPoint()).x() > columns[0].mapTo(view, QPoint()).x(),
        timeout=30_000,
    )
    strip = next(a for a in view.findChildren(QScrollArea) if a.isAncestorOf(columns[0]))
    viewport = strip.viewport()
    tops = {c.mapTo(view, QPoint()).y() for c in columns}
    assert len(tops) == 1
    answer_tops = {view.answer_view(c).mapTo(view, QPoint()).y() for c in range(4)}
    assert len(answer_tops) == 1
    for column in columns:
        top = column.mapTo(viewport, QPoint())
        assert top.y() >= 0 and top.y() + column.height() <= viewport.height()
    finished = [view.answer_view(c).parentWidget().metrics for c in (1, 2, 3)]  # type: ignore[union-attr]
    assert len({m.mapTo(view, QPoint()).y() for m in finished}) == 1


def test_a_big_runs_columns_are_built_over_several_turns_and_all_arrive(
    qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Row compare's first open of a 6-model x 3-sample run built its 18 columns and their
    answers in one turn (the window froze). It now builds them a slice at a time, the first
    in the turn that shows it, each at its final width, and ends with every column."""
    from PySide6.QtCore import QCoreApplication, QEvent

    from gui.qt.widgets import row_compare

    monkeypatch.setattr(row_compare, "BUILD_SLICE_MS", 0.0)  # one column per turn
    groups = [f"sim-{m}" for m in range(6)]
    cols = [f"#{k + 1} {g}" for g in groups for k in range(3)]
    store = CellStore()
    ids = [[CellId.text(r, c, k) for c in range(6) for k in range(3)] for r in range(2)]
    store.set_shape(ROWS, cols, ids, groups=(groups, [g for g in range(6) for _ in range(3)]))
    for cell_id in store.cell_ids():
        store.set_final_text(cell_id, f"Answer of {cell_id}.")
        store.set_status(cell_id, Phase.DONE)
    view = RowCompareView(store)
    qtbot.addWidget(view)
    view.resize(1600, 1000)
    with qtbot.waitSignal(view.columns_built, timeout=30_000):
        view.show()
        assert view.built_column_count() == 1 and view.is_building()  # the rest come later
        QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
        first = view.findChildren(row_compare._Column)[0]
        first_width = first.width()
    assert view.built_column_count() == 18 and not view.is_building()
    assert [view.answer_view(c).source() for c in range(18)] == [
        f"Answer of {cell_id}." for cell_id in store.row_cell_ids(0)
    ]
    assert [view.column_label(c) for c in range(18)] == ["#1", "#2", "#3"] * 6
    qtbot.waitUntil(lambda: first.width() == view.answer_view(17).parentWidget().width())
    assert first.width() == first_width > 200  # built at its final width, not the whole row's
    # Another input while shown: every column shows it.
    view.show_row(1)
    assert view.answer_view(17).source() == f"Answer of {store.cell_id(1, 17)}."
