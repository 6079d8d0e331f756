"""The Focus layout on its own: one cell of a store, moved through by keyboard, streaming live."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QLabel, QToolButton

from gui.core.metrics import CellMetrics
from gui.core.runner import Phase
from gui.core.spec import CellId
from gui.qt.widgets.cell_store import CellStore
from gui.qt.widgets.focus_view import METRIC_NAMES, FocusView

ROWS = ["cats", "dogs", "owls"]
COLS = ["sim-1", "sim-2", "sim-3"]


def sent(cell_id: str) -> list[tuple[str, str]]:
    row = CellId.parse(cell_id).row
    return [("system", "Be brief."), ("user", f"Tell me about {ROWS[row]}")]


@pytest.fixture
def store() -> CellStore:
    store = CellStore()
    store.set_shape(ROWS, COLS, CellId.grid(3, 3))
    for cell_id in store.cell_ids():
        store.set_final_text(cell_id, f"Answer of **{cell_id}**.")
        store.set_status(cell_id, Phase.DONE)
    return store


@pytest.fixture
def focus(qtbot, store: CellStore) -> FocusView:
    view = FocusView(store, sent)
    qtbot.addWidget(view)
    view.resize(1100, 700)
    view.show()
    qtbot.waitExposed(view)
    view.activateWindow()
    qtbot.waitActive(view)
    return view


def press(qtbot, view: FocusView, key: Qt.Key) -> None:
    # Keys go to whatever has the focus inside the view, as a user's would.
    target = QApplication.focusWidget() or view
    qtbot.keyClick(target, key)


def test_focus_shows_the_cell_it_is_given_with_its_messages(focus: FocusView) -> None:
    assert focus.show_cell("r1m2")
    assert focus.cell_id() == "r1m2"
    assert focus.title() == "dogs × sim-3"
    assert focus.status_text() == "done"
    assert focus.answer_view().to_plain().strip() == "Answer of r1m2."
    assert focus.messages() == [("system", "Be brief."), ("user", "Tell me about dogs")]
    assert not focus.show_cell("r9m9") and focus.cell_id() == "r1m2"


def test_arrows_and_page_keys_move_along_row_and_column_and_esc_goes_back(
    qtbot, focus: FocusView
) -> None:
    focus.show_cell("r1m1")
    focus.answer_view().setFocus()  # the reader clicked into the answer
    visited = []
    focus.cell_shown.connect(visited.append)
    press(qtbot, focus, Qt.Key.Key_Right)
    assert focus.cell_id() == "r1m2" and focus.title() == "dogs × sim-3"
    press(qtbot, focus, Qt.Key.Key_Right)  # the row's end: stays
    assert focus.cell_id() == "r1m2"
    press(qtbot, focus, Qt.Key.Key_Left)
    press(qtbot, focus, Qt.Key.Key_Left)
    assert focus.cell_id() == "r1m0"
    press(qtbot, focus, Qt.Key.Key_Up)
    assert focus.cell_id() == "r0m0" and focus.messages()[-1] == ("user", "Tell me about cats")
    press(qtbot, focus, Qt.Key.Key_PageDown)
    press(qtbot, focus, Qt.Key.Key_Down)
    assert focus.cell_id() == "r2m0" and focus.answer_view().source() == "Answer of **r2m0**."
    press(qtbot, focus, Qt.Key.Key_PageUp)
    assert focus.cell_id() == "r1m0"
    assert visited == ["r1m2", "r1m1", "r1m0", "r0m0", "r1m0", "r2m0", "r1m0"]
    with qtbot.waitSignal(focus.back_requested, timeout=30_000):
        press(qtbot, focus, Qt.Key.Key_Escape)


def test_esc_in_focus_goes_back_and_does_not_cancel_the_run(qtbot, focus: FocusView) -> None:
    # The window's "Cancel all" is on Esc too, application-wide, while a run is on.
    cancel_all = QAction("Cancel all", focus)
    cancel_all.setShortcut(QKeySequence(Qt.Key.Key_Escape))
    cancel_all.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
    focus.addAction(cancel_all)
    cancelled = []
    cancel_all.triggered.connect(lambda: cancelled.append(True))
    focus.show_cell("r0m0")
    focus.answer_view().setFocus()
    with qtbot.waitSignal(focus.back_requested, timeout=30_000):
        press(qtbot, focus, Qt.Key.Key_Escape)
    assert cancelled == []


def test_a_cell_keeps_streaming_while_in_focus(focus: FocusView, store: CellStore) -> None:
    store.reset_cell("r2m1")
    focus.show_cell("r2m1")
    assert focus.answer_view().source() == "" and focus.status_text() == "queued"
    store.set_status("r2m1", Phase.STREAMING)
    store.append_texts({"r2m1": "# Owls\n\nOwls ", "r2m2": "not this one"})
    store.append_texts({"r2m1": "hunt at night."})
    assert focus.status_text() == "streaming"
    assert focus.answer_view().source() == "# Owls\n\nOwls hunt at night."
    store.set_final_text("r2m1", "# Owls\n\nOwls hunt at night.")
    store.set_status("r2m1", Phase.DONE)
    # Rendered once final: the heading's hashes are gone.
    assert focus.answer_view().to_plain().split() == ["Owls", "Owls", "hunt", "at", "night."]
    assert focus.status_text() == "done"


def test_every_metric_the_error_and_the_notice_are_shown(
    focus: FocusView, store: CellStore
) -> None:
    focus.show_cell("r0m1")
    assert set(focus.metric_values()) == set(METRIC_NAMES)
    assert set(focus.metric_values().values()) == {"—"}
    store.set_metrics(
        "r0m1",
        CellMetrics(
            queued_at=0.0,
            started_at=0.5,
            first_token_at=0.8,
            ended_at=2.5,
            waited=0.5,
            ttft=0.3,
            latency=2.0,
            output_tokens=48,
            tokens_estimated=True,
            tokens_per_second=28.2,
            retries=2,
            finish_reason="length",
            note="answered in one piece",
        ),
    )
    store.set_error("r0m1", "Timed out after 30 s; try a longer timeout.")
    store.set_notice("r0m1", "Some characters were replaced.")
    values = focus.metric_values()
    assert values["Attempts"] == "3" and values["Retries"] == "2"
    assert values["Output tokens"] == "48 (estimated)"
    assert values["Tokens per second"] == "28.2"
    assert values["Time to first token"] == "0.30 s"
    assert values["Request sent"] == "+0.50 s" and values["Ended"] == "+2.50 s"
    assert values["Queued to end"] == "2.50 s"
    assert values["Finish reason"] == "length (cut at max tokens)"
    assert values["Note"] == "answered in one piece"
    assert focus.error_text() == "Timed out after 30 s; try a longer timeout."
    assert focus.notice_text() == "Some characters were replaced."


def test_compare_row_asks_for_the_shown_cells_row(qtbot, focus: FocusView) -> None:
    focus.show_cell("r2m1")
    with qtbot.waitSignal(focus.row_compare_requested, timeout=30_000) as signal:
        button(focus, "Compare row").click()
    assert signal.args == [2]


def test_a_new_run_keeps_the_same_position_in_focus(focus: FocusView, store: CellStore) -> None:
    focus.show_cell("r1m1")
    store.set_shape(ROWS, COLS, CellId.grid(3, 3))  # "Run again": same shape, nothing yet
    assert focus.cell_id() == "r1m1" and focus.answer_view().source() == ""
    store.set_shape(["one"], ["sim-1"], CellId.grid(1, 1))  # smaller: the cell is gone
    assert focus.cell_id() is None


def button(focus: FocusView, text: str) -> QToolButton:
    return next(b for b in focus.findChildren(QToolButton) if b.text() == text)


def test_cancel_retry_and_copy_apply_to_the_shown_cell(
    qtbot, focus: FocusView, store: CellStore
) -> None:
    store.reset_cell("r0m0")
    focus.show_cell("r0m0")
    assert button(focus, "Cancel").isVisible() and not button(focus, "Retry").isVisible()
    assert not button(focus, "Copy").isVisible()  # nothing to copy yet
    with qtbot.waitSignal(focus.cancel_requested, timeout=30_000) as cancelled:
        button(focus, "Cancel").click()
    assert cancelled.args == ["r0m0"]
    store.append_texts({"r0m0": "Half an"})
    store.set_status("r0m0", Phase.CANCELLED)
    assert button(focus, "Retry").isVisible() and not button(focus, "Cancel").isVisible()
    with qtbot.waitSignal(focus.retry_requested, timeout=30_000) as retried:
        button(focus, "Retry").click()
    assert retried.args == ["r0m0"]
    button(focus, "Copy").click()
    assert QApplication.clipboard().text() == "Half an"
    store.set_read_only(True)  # a past run: nothing to cancel or retry
    assert not button(focus, "Retry").isVisible() and button(focus, "Copy").isVisible()


def test_raw_shows_the_markdown_source_and_stays_for_the_next_cell(focus: FocusView) -> None:
    focus.show_cell("r0m0")
    assert focus.answer_view().to_plain().strip() == "Answer of r0m0."
    button(focus, "Raw").click()
    assert focus.answer_view().to_plain() == "Answer of **r0m0**."
    focus.step(0, 1)
    assert focus.answer_view().to_plain() == "Answer of **r0m1**."
    button(focus, "Raw").click()
    assert focus.answer_view().to_plain().strip() == "Answer of r0m1."


@pytest.fixture
def repeated(qtbot) -> FocusView:
    """Two models with three samples each (issue 15's repeats): six store columns."""
    store = CellStore()
    ids = [[CellId.text(r, c, s) for c in range(2) for s in range(3)] for r in range(2)]
    labels = [f"#{s + 1} sim-{c + 1}" for c in range(2) for s in range(3)]
    store.set_shape(ROWS[:2], labels, ids)
    store.set_column_groups(["sim-1", "sim-2"], [0, 0, 0, 1, 1, 1])
    for cell_id in store.cell_ids():
        store.set_final_text(cell_id, f"Answer of {cell_id}.")
        store.set_status(cell_id, Phase.DONE)
    view = FocusView(store, sent)
    qtbot.addWidget(view)
    view.resize(1100, 700)
    view.show()
    qtbot.waitExposed(view)
    view.activateWindow()
    qtbot.waitActive(view)
    return view


def test_with_repeats_left_and_right_go_to_the_other_model_and_brackets_step_samples(
    qtbot, repeated: FocusView
) -> None:
    focus = repeated
    focus.show_cell("r0m0s1")  # sim-1's second sample
    focus.answer_view().setFocus()
    assert focus.sample_text().startswith("sample 2 of 3")
    press(qtbot, focus, Qt.Key.Key_Right)  # the other model, the same sample number
    assert focus.cell_id() == "r0m1s1" and focus.sample_text().startswith("sample 2 of 3")
    press(qtbot, focus, Qt.Key.Key_Right)  # the last model: stays
    assert focus.cell_id() == "r0m1s1"
    press(qtbot, focus, Qt.Key.Key_BracketRight)
    assert focus.cell_id() == "r0m1s2"
    press(qtbot, focus, Qt.Key.Key_BracketRight)  # the last sample: stays
    assert focus.cell_id() == "r0m1s2"
    press(qtbot, focus, Qt.Key.Key_Down)
    assert focus.cell_id() == "r1m1s2"
    press(qtbot, focus, Qt.Key.Key_Left)
    assert focus.cell_id() == "r1m0s2"
    press(qtbot, focus, Qt.Key.Key_BracketLeft)
    press(qtbot, focus, Qt.Key.Key_BracketLeft)
    assert focus.cell_id() == "r1m0"
    # The position counts the run's columns (models), not one column per sample.
    assert focus.position_text() == "input 2/2 · column 1/2"


def _overlap(widgets: list) -> list[tuple[str, str]]:
    """Pairs of ``widgets`` (siblings) whose rectangles overlap."""
    pairs = []
    for i, a in enumerate(widgets):
        for b in widgets[i + 1 :]:
            if a.geometry().intersects(b.geometry()):
                pairs.append((a.text(), b.text()))
    return pairs


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize(
    ("size", "columns"),
    [((589, 292), 1), ((1285, 545), 2)],  # what 900x600 and 1600x1000 windows give Focus
)
def test_every_metric_line_is_whole_at_the_sizes_a_window_gives_focus(
    qtbot, request: pytest.FixtureRequest, store: CellStore, theme: str, size, columns: int
) -> None:
    """A review found Focus's Metrics box cramped at 900x600: two label/value columns in
    about 270 px wrapped "+0.00 s" and hid half of each line behind a sideways scroll. The
    metrics now take one column there (scrolling up and down only), two when wide enough:
    every label and value whole, none overlapping, light and dark."""
    if theme == "dark":
        request.getfixturevalue("dark_palette")
    view = FocusView(store, sent)
    qtbot.addWidget(view)
    view.resize(*size)
    view.show()
    qtbot.waitExposed(view)
    view.show_cell("r0m1")
    store.set_metrics(
        "r0m1",
        CellMetrics(
            queued_at=0.0,
            started_at=0.5,
            first_token_at=0.8,
            ended_at=2.5,
            waited=0.5,
            ttft=0.3,
            latency=2.0,
            output_tokens=480,
            tokens_estimated=False,
            tokens_per_second=281.2,
            retries=2,
            finish_reason="stop",
        ),
    )
    area = view.metrics_area()
    form = area.widget()
    qtbot.waitUntil(lambda: view.metrics_columns() == columns, timeout=30_000)
    qtbot.waitUntil(lambda: form.width() == area.viewport().width(), timeout=30_000)
    assert area.horizontalScrollBar().maximum() == 0  # nothing hidden sideways
    lines = [w for w in form.findChildren(QLabel) if w.isVisible()]
    assert len(lines) == 2 * len(METRIC_NAMES)
    for line in lines:
        # Whole: as wide as its text asks (a value may wrap, never past the form's edge).
        assert form.rect().contains(line.geometry()), line.text()
        if not line.wordWrap():
            assert line.width() >= line.sizeHint().width(), line.text()
        else:
            assert line.height() >= line.heightForWidth(line.width()), line.text()
    assert _overlap(lines) == []
    assert view.metric_values()["Request sent"] == "+0.50 s"
    if columns == 2:  # a wide Focus shows every metric without scrolling
        assert area.verticalScrollBar().maximum() == 0
