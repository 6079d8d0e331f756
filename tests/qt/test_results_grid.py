"""The results grid and its cell panes, as the window and the user see them.

Offscreen (see conftest). Timing tests print what they measured and assert no bound:
figures vary by machine; the numbers feed the rendering budget in the module docs.
"""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QLabel, QMenu, QTextBrowser, QToolButton

from gui.core.cleantext import REPLACED_NOTICE
from gui.core.metrics import CellMetrics
from gui.core.runner import Phase
from gui.core.spec import CellId
from gui.qt.resources import status_colors
from gui.qt.widgets.cell_pane import (
    SOFT_BREAK_CHARS,
    CellPane,
    format_metrics,
    markdown_to_plain,
)
from gui.qt.widgets.cell_store import CellStore
from gui.qt.widgets.elided_label import ElidedLabel
from gui.qt.widgets.results_grid import EMPTY_HINT, ResultsGrid


def ids(rows: int, cols: int) -> list[list[str]]:
    return [[CellId.text(r, c) for c in range(cols)] for r in range(rows)]


def metrics(**changes: object) -> CellMetrics:
    values: dict[str, object] = {
        "queued_at": 0.0,
        "started_at": 0.1,
        "first_token_at": 0.41,
        "ended_at": 1.62,
        "waited": 0.1,
        "ttft": 0.31,
        "latency": 1.52,
        "output_tokens": 60,
        "tokens_estimated": False,
        "tokens_per_second": 41.2,
        "retries": 1,
    }
    values.update(changes)
    return CellMetrics(**values)  # type: ignore[arg-type]


def chip(pane: CellPane) -> QLabel:
    label = pane.findChild(QLabel, "statusChip")
    assert label is not None
    return label


def chip_colors(pane: CellPane) -> tuple[str, str]:
    """The chip's fill and text colours as painted: the fill by its left end, and the
    colour of the text's darkest (light theme) or lightest (dark theme) pixels."""
    image = chip(pane).grab().toImage()
    fill = image.pixelColor(2, image.height() // 2)
    inks = [
        image.pixelColor(x, y) for x in range(12, image.width() - 12) for y in range(image.height())
    ]
    # The ink is the pixel farthest from the fill (antialiased edges lie between them).
    ink = max(inks, key=lambda c: abs(c.lightness() - fill.lightness()))
    return fill.name(), ink.name()


def expected_colors(phase: str) -> tuple[str, str]:
    fill, ink = status_colors(phase)
    return fill.name(), ink.name()


def button(pane: CellPane, text: str) -> QToolButton:
    for candidate in pane.findChildren(QToolButton, "paneButton"):
        if candidate.text() == text:
            return candidate
    raise AssertionError(f"no {text} button")


def report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    with capsys.disabled():
        print(f"\n  [measured] {line}", end="")


@pytest.fixture
def grid(qtbot) -> ResultsGrid:
    widget = ResultsGrid()
    qtbot.addWidget(widget)
    widget.resize(900, 700)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


@pytest.fixture
def grid_3x2(grid: ResultsGrid) -> ResultsGrid:
    grid.set_grid(["cats", "dogs", "parrots"], ["sim-1", "gpt-4o-mini"], ids(3, 2))
    return grid


# ------------------------------------------------------------------------------ building


def test_before_any_run_the_grid_shows_a_friendly_hint(grid: ResultsGrid) -> None:
    hint = grid.viewport().findChild(QLabel, "emptyHint")
    assert hint is not None and hint.isVisible()
    assert hint.text() == EMPTY_HINT
    assert grid.materialized_cell_ids() == []


def test_a_3x2_grid_shows_six_panes_with_titles_and_model_headers(grid_3x2: ResultsGrid) -> None:
    panes = [grid_3x2.pane(cell_id) for cell_id in grid_3x2.cell_ids()]
    assert all(pane is not None and pane.isVisible() for pane in panes)
    assert [pane.title() for pane in panes if pane] == [
        "cats × sim-1",
        "cats × gpt-4o-mini",
        "dogs × sim-1",
        "dogs × gpt-4o-mini",
        "parrots × sim-1",
        "parrots × gpt-4o-mini",
    ]
    assert all(grid_3x2.cell_status(cell_id) == "queued" for cell_id in grid_3x2.cell_ids())
    assert all(chip(pane).text() == "queued" for pane in panes if pane)
    headers = [label.full_text() for label in grid_3x2.findChildren(QLabel, "columnHeader")]
    assert headers == ["sim-1", "gpt-4o-mini"]
    rows = sorted(label.text() for label in grid_3x2.findChildren(QLabel, "rowLabel"))
    assert rows == ["cats", "dogs", "parrots"]
    assert not grid_3x2.viewport().findChild(QLabel, "emptyHint").isVisible()
    # Each pane sits under its column header.
    header = grid_3x2.findChildren(QLabel, "columnHeader")[1]
    pane = grid_3x2.pane("r2m1")
    assert pane is not None
    assert (
        header.mapToGlobal(header.rect().topLeft()).x()
        == pane.mapToGlobal(pane.rect().topLeft()).x()
    )


def test_a_grid_filled_before_the_window_shows_builds_the_rows_in_view(qtbot) -> None:
    grid = ResultsGrid()
    qtbot.addWidget(grid)
    grid.set_grid([f"t{r}" for r in range(50)], ["a", "b"], ids(50, 2))
    grid.set_status("r2m1", "streaming")
    grid.resize(900, 700)
    grid.show()
    qtbot.waitExposed(grid)
    visible_rows = 700 // ResultsGrid.ROW_HEIGHT + 1
    for row in range(visible_rows):
        pane = grid.pane(CellId.text(row, 1))
        assert pane is not None and pane.isVisible()
    assert chip(grid.pane("r2m1")).text() == "streaming"


def test_titles_can_be_given_and_long_titles_are_elided_with_a_tooltip(grid: ResultsGrid) -> None:
    long_input = "a very long input " * 20
    grid.set_grid([long_input], ["sim-1"], [["c"]], titles=[[f"{long_input} × sim-1"]])
    pane = grid.pane("c")
    assert pane is not None
    title = pane.findChild(QLabel, "cellTitle")
    assert pane.title() == f"{long_input} × sim-1"
    # In the Grid the row label and the column header name the pane: its title is in the
    # pane's tooltip, not cut to a few letters on its header line.
    assert not title.isVisible() and pane.toolTip() == pane.title()
    pane.set_title_visible(True)  # a pane on its own shows it, elided in the middle
    assert title.isVisible() and title.toolTip() == pane.title() and pane.toolTip() == ""
    shown = title.text()
    assert "…" in shown and len(shown) < len(pane.title())
    assert shown.startswith("a very long") and shown.endswith("× sim-1")


def test_columns_share_the_width_and_scroll_sideways_below_the_minimum(
    grid: ResultsGrid, qtbot
) -> None:
    grid.set_grid(["x"], ["a", "b"], ids(1, 2))
    assert grid.column_width() > ResultsGrid.MIN_COLUMN_WIDTH
    assert grid.horizontalScrollBar().maximum() == 0
    grid.set_grid(["x"], [f"m{i}" for i in range(6)], ids(1, 6))
    assert grid.column_width() == ResultsGrid.MIN_COLUMN_WIDTH
    bar = grid.horizontalScrollBar()
    assert bar.maximum() > 0
    bar.setValue(150)
    header = grid.findChildren(QLabel, "columnHeader")[0]
    pane = grid.pane("r0m0")
    assert pane is not None
    # The sticky header follows the horizontal scroll.
    assert (
        header.mapToGlobal(header.rect().topLeft()).x()
        == pane.mapToGlobal(pane.rect().topLeft()).x()
    )
    assert grid.verticalScrollBar().singleStep() == 40


def test_repeated_samples_are_headed_once_per_group_over_their_numbers(
    grid: ResultsGrid,
) -> None:
    """With repeats the header said "#1 sim-1 · t=0.7", "#2 sim-1 · t=0.7"... over every
    sample (cut to "#2 sim…t=0.7" in narrow columns); like Tiles, each group's label now
    spans its samples once, over "#1", "#2"..., each number under its column."""
    groups = ["sim-1 · t=0.7", "sim-2 · t=0.7"]
    cols = [f"#{k + 1} {g}" for g in groups for k in range(3)]
    grid.store.set_shape(["cats"], cols, ids(1, 6), groups=(groups, [0, 0, 0, 1, 1, 1]))
    numbers = sorted(grid.findChildren(ElidedLabel, "columnHeader"), key=lambda w: w.x())
    assert [n.full_text() for n in numbers] == ["#1", "#2", "#3"] * 2
    assert numbers[4].toolTip() == "#2 sim-2 · t=0.7"  # the whole column label on hover
    heads = sorted(grid.findChildren(ElidedLabel, "columnGroupHeader"), key=lambda w: w.x())
    assert [h.full_text() for h in heads] == groups
    for head, members in zip(heads, (numbers[:3], numbers[3:]), strict=True):
        # Above its samples' numbers, from the first one's left edge to the last one's right.
        assert head.geometry().bottom() < min(n.geometry().top() for n in members)
        assert head.x() == members[0].x()
        assert head.geometry().right() == members[-1].geometry().right()
    # Each number sits over its pane; the rows start below the two header lines.
    pane = grid.pane("r0m4")
    assert pane is not None
    number = numbers[4]
    assert number.mapToGlobal(number.rect().topLeft()).x() == pane.mapToGlobal(QPoint()).x()
    assert number.mapToGlobal(number.rect().bottomLeft()).y() < pane.mapToGlobal(QPoint()).y()
    # An ungrouped run is headed by its labels again, on one line.
    grid.set_grid(["cats"], ["sim-1", "sim-2"], ids(1, 2))
    assert grid.findChildren(ElidedLabel, "columnGroupHeader") == [] or all(
        not head.isVisible() for head in grid.findChildren(ElidedLabel, "columnGroupHeader")
    )
    labels = [
        w.full_text() for w in grid.findChildren(ElidedLabel, "columnHeader") if w.isVisible()
    ]
    assert labels == ["sim-1", "sim-2"]


def test_a_new_grid_replaces_the_old_one(grid_3x2: ResultsGrid, qtbot) -> None:
    old = grid_3x2.pane("r0m0")
    grid_3x2.set_grid(["fish"], ["sim-1"], [["f"]])
    assert grid_3x2.pane("r0m0") is None
    assert grid_3x2.cell_status("r0m0") == ""
    assert old is not None and not old.isVisible()
    qtbot.waitUntil(lambda: len(grid_3x2.findChildren(CellPane)) == 1)


# ----------------------------------------------------------------------------- statuses


@pytest.mark.parametrize(
    ("phase", "detail", "shown"),
    [
        (Phase.QUEUED, "", "queued"),
        (Phase.WAITING, "", "waiting for a slot"),
        (Phase.RUNNING, "", "waiting for first token"),
        (Phase.RUNNING, "waiting for response", "waiting for response"),
        (Phase.STREAMING, "", "streaming"),
        (Phase.RETRYING, "retrying 2/3 in 1.4 s", "retrying 2/3 in 1.4 s"),
        (Phase.DONE, "", "done"),
        (Phase.FAILED, "", "failed"),
        (Phase.CANCELLED, "", "cancelled"),
    ],
)
def test_each_phase_shows_its_words_in_the_status_chip(
    grid_3x2: ResultsGrid, phase: Phase, detail: str, shown: str
) -> None:
    grid_3x2.set_status("r1m0", phase, detail)
    pane = grid_3x2.pane("r1m0")
    assert pane is not None
    assert chip(pane).text() == shown
    assert grid_3x2.cell_status("r1m0") == phase.value
    assert chip_colors(pane) == expected_colors(phase.value)
    assert chip(pane).styleSheet() == ""


def test_the_chip_follows_a_switch_to_a_dark_palette(qtbot) -> None:
    pane = CellPane("c", "cats × sim-1")
    qtbot.addWidget(pane)
    pane.set_status("streaming")
    light = chip_colors(pane)
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    original = app.palette()
    dark = QPalette(original)
    dark.setColor(QPalette.ColorRole.Window, QColor("#202124"))
    dark.setColor(QPalette.ColorRole.WindowText, QColor("#e8eaed"))
    try:
        app.setPalette(dark)
        qtbot.waitUntil(lambda: chip_colors(pane) != light)
        assert chip_colors(pane) == expected_colors("streaming")  # the dark theme's pair
    finally:
        app.setPalette(original)


# ---------------------------------------------------------------------------- streaming


def test_streamed_text_accumulates_exactly_over_many_frames(grid_3x2: ResultsGrid) -> None:
    chunks = [f"tok{i} " if i % 50 else f"line{i}\n" for i in range(800)]
    for chunk in chunks:
        grid_3x2.append_texts({"r0m0": chunk, "r0m1": chunk.upper()})
    assert grid_3x2.cell_source_text("r0m0") == "".join(chunks)
    assert grid_3x2.cell_source_text("r0m1") == "".join(chunks).upper()
    # Shown rendered as it streams: a single newline inside a paragraph reads as a space.
    assert grid_3x2.cell_text("r0m0") == markdown_to_plain("".join(chunks))
    assert grid_3x2.cell_text("r1m0") == ""


def test_one_huge_raw_paragraph_is_shown_in_pieces_but_read_back_exactly(
    grid_3x2: ResultsGrid,
) -> None:
    grid_3x2.set_raw(True)
    chunks = ["word " * 3 for _ in range(1000)]  # 15 KB without a newline
    for chunk in chunks:
        grid_3x2.append_texts({"r0m0": chunk})
    pane = grid_3x2.pane("r0m0")
    assert pane is not None
    assert pane.text() == "".join(chunks)
    browser = pane.findChild(QTextBrowser)
    longest = max(len(block) for block in browser.toPlainText().split("\n"))
    assert longest <= SOFT_BREAK_CHARS + 20  # each append relayouts a short paragraph only


def test_the_view_follows_new_text_unless_the_user_scrolled_up(qtbot) -> None:
    pane = CellPane("c", "t")
    qtbot.addWidget(pane)
    pane.resize(300, 200)
    pane.show()
    qtbot.waitExposed(pane)
    bar = pane.findChild(QTextBrowser).verticalScrollBar()
    # The view renders within a per-frame budget and may carry the rest to its next step
    # on a slow machine: wait for the layout rather than assume one call renders it all.
    for i in range(60):
        pane.append_text(f"line {i}\n")
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() == bar.maximum(), timeout=30_000)
    bar.setValue(0)  # the user scrolls up to read the start
    for i in range(20):
        pane.append_text(f"more {i}\n")
    qtbot.waitUntil(lambda: "more 19" in pane.findChild(QTextBrowser).toPlainText(), timeout=30_000)
    assert bar.value() == 0
    bar.setValue(bar.maximum())  # and back to the bottom: following again
    pane.append_text("the end\n" * 5)
    qtbot.waitUntil(lambda: "the end" in pane.findChild(QTextBrowser).toPlainText(), timeout=30_000)
    qtbot.waitUntil(lambda: bar.value() == bar.maximum(), timeout=30_000)


def test_markdown_is_rendered_while_it_streams_and_the_end_does_not_rebuild_it(
    grid_3x2: ResultsGrid,
) -> None:
    grid_3x2.append_texts({"r0m0": "**bold** and\n\n- one\n- two\n"})
    pane = grid_3x2.pane("r0m0")
    assert pane is not None
    document = pane.findChild(QTextBrowser).document()
    assert grid_3x2.cell_text("r0m0") == "bold and\none\ntwo"  # rendered mid-stream
    assert document.firstBlock().begin().fragment().charFormat().fontWeight() >= 600
    first = document.firstBlock()
    grid_3x2.set_final_text("r0m0", "**bold** and\n\n- one\n- two\n")
    grid_3x2.set_status("r0m0", "done")
    assert document.firstBlock() == first  # the same document, finished in place
    assert grid_3x2.cell_text("r0m0") == "bold and\none\ntwo"
    assert document.lastBlock().textList() is not None  # a real list


def test_raw_html_in_an_answer_is_shown_as_text(grid_3x2: ResultsGrid) -> None:
    grid_3x2.set_final_text("r0m0", "**bold** and <div>\n\n- one\n- two\n")
    assert grid_3x2.cell_text("r0m0") == "bold and <div>\none\ntwo"
    pane = grid_3x2.pane("r0m0")
    assert pane is not None
    assert pane.source_text() == "**bold** and <div>\n\n- one\n- two\n"


def test_the_raw_toggle_shows_every_answer_source(grid_3x2: ResultsGrid) -> None:
    grid_3x2.set_final_text("r0m0", "# Title\n\n- item")
    grid_3x2.append_texts({"r0m1": "*streaming*"})
    grid_3x2.set_raw(True)
    assert grid_3x2.cell_text("r0m0") == "# Title\n\n- item"
    assert grid_3x2.cell_text("r0m1") == "*streaming*"
    grid_3x2.append_texts({"r0m1": " on"})
    assert grid_3x2.cell_text("r0m1") == "*streaming* on"
    grid_3x2.set_raw(False)
    assert grid_3x2.cell_text("r0m0") == "Title\nitem"
    assert grid_3x2.cell_text("r0m1") == "streaming on"


def test_plain_final_text_is_kept_verbatim(grid_3x2: ResultsGrid) -> None:
    grid_3x2.set_final_text("r0m1", "**not bold**", markdown=False)
    assert grid_3x2.cell_text("r0m1") == "**not bold**"


def test_a_finished_answer_keeps_the_place_of_a_reader_who_scrolled_up_else_shows_its_top(
    qtbot,
) -> None:
    pane = CellPane("c", "t")
    qtbot.addWidget(pane)
    pane.resize(300, 220)
    pane.show()
    qtbot.waitExposed(pane)
    answer = "\n\n".join(
        f"Paragraph {i} says something long enough to wrap a line." for i in range(80)
    )
    pane.append_text(answer)
    bar = pane.findChild(QTextBrowser).verticalScrollBar()
    bar.setValue(bar.maximum() // 2)
    pane.set_final_text(answer)
    assert 0.35 < bar.value() / bar.maximum() < 0.65
    # A reader who followed the stream to its end sees the finished answer from its top.
    pane.reset()
    pane.append_text(answer)
    assert bar.maximum() > 0 and bar.value() == bar.maximum()
    pane.set_final_text(answer)
    assert bar.value() == 0


def test_an_answer_that_arrives_whole_is_shown_from_the_top(qtbot) -> None:
    pane = CellPane("c", "t")
    qtbot.addWidget(pane)
    pane.resize(300, 220)
    pane.show()
    qtbot.waitExposed(pane)
    pane.set_final_text("\n\n".join(f"Paragraph {i}." for i in range(80)))
    assert pane.findChild(QTextBrowser).verticalScrollBar().value() == 0


# ------------------------------------------------------------------- errors and metrics


def test_an_error_is_shown_and_the_partial_text_kept(grid_3x2: ResultsGrid) -> None:
    grid_3x2.append_texts({"r2m1": "partial answer"})
    grid_3x2.set_status("r2m1", "failed")
    grid_3x2.set_error("r2m1", "gpt-4o-mini at api.openai.com timed out after 60 s.")
    pane = grid_3x2.pane("r2m1")
    assert pane is not None
    error = pane.findChild(QLabel, "cellError")
    assert error.isVisible() and "timed out" in error.text()
    assert error.wordWrap()
    assert error.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse
    assert grid_3x2.cell_text("r2m1") == "partial answer"
    assert grid_3x2.cell_error("r2m1").startswith("gpt-4o-mini")


def test_metrics_read_as_one_line_leaving_out_what_is_unknown(grid_3x2: ResultsGrid) -> None:
    grid_3x2.set_metrics("r0m0", metrics())
    pane = grid_3x2.pane("r0m0")
    assert pane is not None
    footer = pane.findChild(QLabel, "cellMetrics")
    assert footer.full_text() == "first token 0.31 s · 1.52 s · 60 tok · 41 tok/s · 1 retry"
    assert "Queued to end" in footer.toolTip()
    estimated = metrics(ttft=None, tokens_estimated=True, retries=0, tokens_per_second=None)
    assert format_metrics(estimated) == "1.52 s · ~60 tok"
    assert format_metrics(metrics(retries=3, latency=12.345)).endswith(
        "12.3 s · 60 tok · 41 tok/s · 3 retries"
    )
    grid_3x2.set_metrics("r0m0", None)
    assert footer.text() == ""


@pytest.mark.parametrize(
    ("finish", "mark"),
    [("length", "cut at max tokens"), ("content_filter", "stopped by the content filter")],
)
def test_an_answer_the_server_cut_carries_its_mark_in_the_pane(
    grid_3x2: ResultsGrid, finish: str, mark: str
) -> None:
    grid_3x2.set_status("r0m0", "done")
    grid_3x2.set_metrics("r0m0", metrics(finish_reason=finish))
    pane = grid_3x2.pane("r0m0")
    assert pane is not None
    footer = pane.findChild(QLabel, "cellMetrics")
    assert (
        footer.full_text() == f"{mark} · first token 0.31 s · 1.52 s · 60 tok · 41 tok/s · 1 retry"
    )
    assert f"Finish reason from the server: {finish}" in footer.toolTip()
    grid_3x2.set_metrics("r0m0", metrics(finish_reason="stop"))
    assert footer.text().startswith("first token")  # a normal end needs no mark


# ------------------------------------------------------------------------ cancel, retry


def test_cancel_and_retry_emit_the_cell_id_and_are_enabled_per_state(
    grid_3x2: ResultsGrid, qtbot
) -> None:
    cancelled: list[str] = []
    retried: list[str] = []
    grid_3x2.cancel_requested.connect(cancelled.append)
    grid_3x2.retry_requested.connect(retried.append)
    pane = grid_3x2.pane("r1m1")
    assert pane is not None
    cancel, retry = button(pane, "Cancel"), button(pane, "Retry")

    grid_3x2.set_status("r1m1", "streaming")
    assert cancel.isEnabled() and not retry.isEnabled()
    assert cancel.isVisibleTo(pane) and not retry.isVisibleTo(pane)  # room for the title
    qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(retry, Qt.MouseButton.LeftButton)  # disabled: nothing
    assert cancelled == ["r1m1"] and retried == []

    grid_3x2.set_status("r1m1", "cancelled")
    assert not cancel.isEnabled() and retry.isEnabled()
    assert not cancel.isVisibleTo(pane) and retry.isVisibleTo(pane)
    assert button(pane, "Copy").isVisibleTo(pane)
    qtbot.mouseClick(retry, Qt.MouseButton.LeftButton)
    assert retried == ["r1m1"]


def test_reset_clears_text_error_and_metrics_back_to_queued(grid_3x2: ResultsGrid) -> None:
    grid_3x2.append_texts({"r0m0": "half"})
    grid_3x2.set_status("r0m0", "failed")
    grid_3x2.set_error("r0m0", "boom")
    grid_3x2.set_metrics("r0m0", metrics())
    grid_3x2.reset_cell("r0m0")
    pane = grid_3x2.pane("r0m0")
    assert pane is not None
    assert grid_3x2.cell_text("r0m0") == "" and pane.text() == ""
    assert grid_3x2.cell_status("r0m0") == "queued" and chip(pane).text() == "queued"
    assert not pane.findChild(QLabel, "cellError").isVisible()
    assert pane.findChild(QLabel, "cellMetrics").full_text() == ""
    assert button(pane, "Cancel").isEnabled() and not button(pane, "Retry").isEnabled()


def test_copy_puts_the_answer_source_on_the_clipboard(grid_3x2: ResultsGrid, qtbot) -> None:
    grid_3x2.set_final_text("r0m0", "**bold**")
    grid_3x2.set_status("r0m0", "done")
    pane = grid_3x2.pane("r0m0")
    assert pane is not None
    qtbot.mouseClick(button(pane, "Copy"), Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == "**bold**"


def test_the_answer_context_menu_offers_to_copy_the_whole_answer(
    grid_3x2: ResultsGrid, qtbot
) -> None:
    grid_3x2.set_final_text("r0m0", "**bold**")
    pane = grid_3x2.pane("r0m0")
    assert pane is not None
    pane.findChild(QTextBrowser).customContextMenuRequested.emit(QPoint(5, 5))
    menus = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMenu) and w.isVisible()]
    assert len(menus) == 1
    actions = {action.text(): action for action in menus[0].actions()}
    actions["Copy answer as plain text"].trigger()
    assert QGuiApplication.clipboard().text() == "bold"
    menus[0].close()


def test_ids_of_a_replaced_run_are_ignored(grid_3x2: ResultsGrid) -> None:
    grid_3x2.append_texts({"old": "x"})
    grid_3x2.set_status("old", "done")
    grid_3x2.set_final_text("old", "x")
    assert grid_3x2.cell_text("old") == "" and grid_3x2.cell_status("old") == ""


@pytest.mark.parametrize("samples", [1, 3])
def test_a_run_shape_reads_as_the_same_ids_listed_one_by_one(samples: int) -> None:
    """A run's shape is given without its ids (the press of Run lists none of 20,000): the
    store answers every question about its cells as it does for the same ids listed."""
    rows, runs_cols = ["cats", "dogs", "cats"], ["a", "b"]
    cols = [f"#{k + 1} {h}" for h in runs_cols for k in range(samples)]
    ids = [
        [CellId.text(r, c, k) for c in range(len(runs_cols)) for k in range(samples)]
        for r in range(len(rows))
    ]
    listed, made = CellStore(), CellStore()
    listed.set_shape(rows, cols, ids)
    made.set_run_shape(rows, cols, samples)

    assert list(made.cell_ids()) == list(listed.cell_ids())
    for r in range(len(rows)):
        assert made.row_cell_ids(r) == listed.row_cell_ids(r) == ids[r]
        assert made.row_label(r) == listed.row_label(r)  # "cats (row 1)": repeated rows
        for c in range(len(cols)):
            cell_id = made.cell_id(r, c)
            assert cell_id == listed.cell_id(r, c)
            assert made.where(cell_id) == listed.where(cell_id) == (r, c)
            assert made.cell_title(cell_id) == listed.cell_title(cell_id)
            assert cell_id in made
    # What no cell of the run is called: another run's, a sample too many, not as the
    # engine writes it, not an id at all.
    for stranger in ("r3m0", "r0m2", f"r0m0s{samples}", "r01m0", "r0m0s0", "old", "", 7):
        assert stranger not in made and stranger not in listed
        if isinstance(stranger, str):
            assert made.where(stranger) is None and made.status(stranger) is None
            made.set_status(stranger, Phase.DONE)
            assert made.peek(stranger) is None
    made.set_all_status(Phase.QUEUED, "waiting for a slot")
    assert made.status(ids[2][-1]) == (Phase.QUEUED, "waiting for a slot")
    with pytest.raises(IndexError):
        made.cell_id(3, 0)
    with pytest.raises(ValueError, match="every sample"):
        made.set_run_shape(rows, ["a", "b", "c"], 2)


# --------------------------------------------------------------------- laziness and size


def test_state_given_before_a_pane_exists_appears_when_it_scrolls_into_view(
    grid: ResultsGrid,
) -> None:
    grid.set_grid([f"topic {r}" for r in range(100)], ["sim-1", "sim-2"], ids(100, 2))
    assert grid.pane("r90m1") is None  # far below the viewport: not built
    grid.set_status("r90m1", "failed")
    grid.append_texts({"r90m1": "partial "})
    grid.append_texts({"r90m1": "answer"})
    grid.set_error("r90m1", "Simulated model sim-2 failed: server error.")
    grid.set_metrics("r90m1", metrics())
    grid.set_final_text("r90m0", "- a\n- b")
    grid.set_status("r90m0", "done")
    assert grid.cell_text("r90m1") == "partial answer"
    assert grid.cell_text("r90m0") == "a\nb"
    assert grid.cell_status("r90m1") == "failed"

    pane = grid.scroll_to_cell("r90m1")
    assert pane is not None and pane.isVisible()
    assert chip(pane).text() == "failed"
    assert pane.text() == "partial answer"
    assert "server error" in pane.findChild(QLabel, "cellError").text()
    assert pane.findChild(QLabel, "cellMetrics").full_text().startswith("first token 0.31 s")
    assert button(pane, "Retry").isEnabled()
    done = grid.pane("r90m0")
    assert done is not None and done.text() == "a\nb"
    assert grid.pane("r0m0") is None  # the top rows were released
    assert len(grid.materialized_cell_ids()) <= 2 * 12


def test_200_cells_build_quickly(grid: ResultsGrid, qtbot, capsys) -> None:
    rows = [f"topic {r}" for r in range(100)]
    start = time.perf_counter()
    grid.set_grid(rows, ["sim-1", "sim-2"], ids(100, 2))
    QApplication.processEvents()
    lazy = time.perf_counter() - start
    built = len(grid.materialized_cell_ids())
    assert 0 < built < 200
    assert sum(1 for _ in grid.cell_ids()) == 200

    # Scroll through all of it, the way a user would, with 40 px steps.
    bar = grid.verticalScrollBar()
    start = time.perf_counter()
    steps = 0
    while bar.value() < bar.maximum():
        bar.setValue(bar.value() + bar.singleStep())
        steps += 1
    scrolled = time.perf_counter() - start
    assert grid.pane("r99m1") is not None

    # For scale: every one of the 200 panes built eagerly and shown.
    host = ResultsGrid()
    qtbot.addWidget(host)
    start = time.perf_counter()
    panes = [
        CellPane(f"c{i}", f"topic {i // 2} × sim-{i % 2}", host.viewport()) for i in range(200)
    ]
    for i, pane in enumerate(panes):
        pane.setGeometry(0, i * 10, 300, 212)
    host.show()
    QApplication.processEvents()
    eager = time.perf_counter() - start
    report(
        capsys,
        f"100x2 grid: set_grid + first paint {lazy * 1e3:.1f} ms ({built} panes built); "
        f"scrolling to the end {scrolled / steps * 1e3:.2f} ms per 40 px step ({steps} steps); "
        f"200 panes built eagerly {eager * 1e3:.0f} ms",
    )


def test_10000_rows_cost_only_the_visible_panes(grid: ResultsGrid, capsys) -> None:
    start = time.perf_counter()
    grid.set_grid([f"topic {r}" for r in range(10_000)], ["sim-1", "sim-2"], ids(10_000, 2))
    built = time.perf_counter() - start
    assert len(grid.materialized_cell_ids()) < 40
    grid.append_texts({CellId.text(r, 0): "x" for r in range(10_000)})
    assert grid.cell_text("r9999m0") == "x"
    pane = grid.scroll_to_cell("r9999m1")
    assert pane is not None
    report(capsys, f"10,000x2 grid: set_grid {built * 1e3:.0f} ms")


@pytest.mark.parametrize("shape", ["paragraphs", "one paragraph"])
def test_measure_one_frame_of_streaming_into_a_100_kb_answer(qtbot, capsys, shape: str) -> None:
    grid = ResultsGrid()
    qtbot.addWidget(grid)
    grid.resize(700, 500)
    grid.show()
    qtbot.waitExposed(grid)
    grid.set_grid(["x"], ["sim-1"], [["c"]])
    words = "lorem ipsum dolor sit amet consectetur adipiscing elit " * 2000
    if shape == "paragraphs":
        body = "\n\n".join(words[i : i + 600] for i in range(0, 100_000, 600))
    else:
        body = words[:100_000]
    grid.append_texts({"c": body})
    QApplication.processEvents()
    frame = {"c": " five tokens of text"}
    calls = 1000
    appended = painted = 0.0
    for _ in range(calls):
        start = time.perf_counter()
        grid.append_texts(frame)
        middle = time.perf_counter()
        QApplication.processEvents()  # the repaint the frame causes
        appended += middle - start
        painted += time.perf_counter() - middle
    assert grid.cell_source_text("c") == body + frame["c"] * calls
    report(
        capsys,
        f"100 KB answer ({shape}): append_texts {appended / calls * 1e3:.3f} ms per call, "
        f"+ repaint {painted / calls * 1e3:.3f} ms",
    )


def test_a_row_of_60_columns_builds_only_the_panes_near_the_view_and_more_when_scrolled(
    grid: ResultsGrid, qtbot
) -> None:
    """A sweep with repeats makes rows of 60 columns: a pane for each of them in every row
    in view froze the window for half a second when the Grid was shown."""
    grid.set_grid(["cats", "dogs"], [f"#{c % 5 + 1} m{c // 5}" for c in range(60)], ids(2, 60))
    qtbot.waitUntil(lambda: grid.pending_panes() == 0, timeout=30_000)
    built = {CellId.parse(cell_id).col for cell_id in grid.materialized_cell_ids()}
    in_view = -(-grid.viewport().width() // grid.column_width())  # columns touching the view
    assert 0 in built and max(built) <= in_view + ResultsGrid.OVERSCAN_COLUMNS
    # Every pane in view is there, placed under its column.
    for cell_id in grid.visible_cell_ids():
        assert grid.pane(cell_id) is not None

    grid.horizontalScrollBar().setValue(grid.horizontalScrollBar().maximum())
    qtbot.waitUntil(lambda: grid.pending_panes() == 0, timeout=30_000)
    built = {CellId.parse(cell_id).col for cell_id in grid.materialized_cell_ids()}
    assert 59 in built and 0 not in built  # the far left was released
    pane = grid.pane("r1m59")
    assert pane is not None and pane.isVisible()
    assert "r1m59" in grid.visible_cell_ids()


def test_panes_come_a_slice_per_loop_turn_those_in_view_first(
    grid: ResultsGrid, qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Building is spread over loop turns so the window paints in between; a zero budget
    builds one pane per turn, and the panes in view come before the overscan."""
    monkeypatch.setattr(ResultsGrid, "BUILD_SLICE_MS", 0.0)
    grid.set_grid([f"topic {r}" for r in range(20)], ["a", "b"], ids(20, 2))
    # One slice per loop turn, one pane per slice: the scroll bar's arrival relays the grid
    # out a second time in the same turn, and so does the window resized meanwhile; those
    # leave the queue to the next turns (over a 60-column sweep, three slices in one turn).
    assert len(grid.materialized_cell_ids()) == 1 and grid.pending_panes() > 0
    grid.resize(grid.width() + 40, grid.height() + 40)
    assert len(grid.materialized_cell_ids()) == 1
    order: list[str] = []
    while grid.pending_panes():
        before = set(grid.materialized_cell_ids())
        qtbot.waitUntil(
            lambda before=before: set(grid.materialized_cell_ids()) != before, timeout=30_000
        )
        order += sorted(set(grid.materialized_cell_ids()) - before)
    in_view = set(grid.visible_cell_ids())
    later = [CellId.parse(cell_id).row for cell_id in order if cell_id not in in_view]
    first = [CellId.parse(cell_id).row for cell_id in order if cell_id in in_view]
    assert first and later and max(first) < min(later)
    # Asked for by id, a pane waiting for its turn is built at once.
    grid.set_grid(["x", "y"], ["a", "b", "c"], ids(2, 3))
    pane = grid.pane("r1m2")
    assert pane is not None and pane.isVisible()


def test_a_hidden_grid_keeps_its_panes_and_catches_up_with_what_changed(
    grid_3x2: ResultsGrid, qtbot
) -> None:
    """Blind mode and the other layouts put the Grid to sleep: its panes stay (coming back
    rebuilt every one of them, a freeze of half a second over a big sweep) and only what
    changed meanwhile is drawn when it wakes."""
    grid = grid_3x2
    grid.set_status("r0m0", Phase.STREAMING)
    grid.append_texts({"r0m0": "first "})
    grid.set_final_text("r2m1", "kept as it was")
    grid.set_status("r2m1", Phase.DONE)
    panes = {cell_id: grid.pane(cell_id) for cell_id in grid.cell_ids()}
    assert all(panes.values())
    grid.set_dormant(True)
    grid.append_texts({"r0m0": "second"})
    grid.set_status("r1m0", Phase.FAILED)
    grid.set_error("r1m0", "server error")
    grid.reset_cell("r2m1")
    grid.set_status("r2m1", Phase.RUNNING, "retrying")
    # Asleep: nothing drawn to the panes.
    assert panes["r0m0"].source_text() == "first "  # type: ignore[union-attr]
    assert panes["r1m0"].phase == "queued"  # type: ignore[union-attr]
    grid.set_dormant(False)
    qtbot.waitUntil(lambda: grid.pending_panes() == 0, timeout=30_000)
    assert {cell_id: grid.pane(cell_id) for cell_id in grid.cell_ids()} == panes  # the same
    assert grid.cell_text("r0m0") == "first second"
    r0m0, r1m0, r2m1 = panes["r0m0"], panes["r1m0"], panes["r2m1"]
    assert r0m0 is not None and r0m0.source_text() == "first second"
    assert r1m0 is not None and r1m0.phase == "failed" and r1m0.error_text() == "server error"
    assert r2m1 is not None and r2m1.source_text() == "" and chip(r2m1).text() == "retrying"
    # Awake again: text goes straight to the pane.
    grid.append_texts({"r0m0": " third"})
    assert r0m0.source_text() == "first second third"


# ------------------------------------------------------------------------- unclean text


def test_a_lone_surrogate_shows_replaced_and_the_pane_says_so(grid_3x2: ResultsGrid) -> None:
    # Qt drops a lone surrogate without a word: the reader would never know text was there.
    grid_3x2.append_texts({"r0m0": "half \ud800", "r0m1": "a clean answer"})
    grid_3x2.append_texts({"r0m0": " pair"})
    pane, clean_pane = grid_3x2.pane("r0m0"), grid_3x2.pane("r0m1")
    assert pane is not None and clean_pane is not None
    assert pane.findChild(QTextBrowser).toPlainText() == "half \ufffd pair"
    assert grid_3x2.cell_source_text("r0m0") == "half \ufffd pair"
    assert pane.metrics_text() == REPLACED_NOTICE  # said while it streams
    assert grid_3x2.cell_notice("r0m0") == REPLACED_NOTICE

    grid_3x2.set_final_text("r0m0", "half \ud800 pair")
    grid_3x2.set_status("r0m0", Phase.DONE)
    grid_3x2.set_metrics("r0m0", metrics())
    assert pane.text() == "half \ufffd pair"
    footer = pane.findChild(QLabel, "cellMetrics")
    assert footer.full_text().startswith(f"{REPLACED_NOTICE} · first token 0.31 s")
    assert footer.toolTip().startswith(REPLACED_NOTICE)

    grid_3x2.set_metrics("r0m1", metrics())
    assert clean_pane.metrics_text() == format_metrics(metrics())
    assert grid_3x2.cell_notice("r0m1") == ""

    grid_3x2.reset_cell("r0m0")  # a retry starts clean
    assert pane.metrics_text() == "" and grid_3x2.cell_notice("r0m0") == ""


def test_a_cell_built_later_and_an_error_keep_the_replacement_and_the_notice(
    grid: ResultsGrid,
) -> None:
    grid.set_grid([f"topic {i}" for i in range(100)], ["sim-1", "sim-2"], ids(100, 2))
    assert grid.pane("r90m0") is None  # far below the viewport: not built yet
    grid.set_final_text("r90m0", "caf\udce9 au lait")  # an undecodable byte, surrogate-escaped
    grid.set_status("r90m0", Phase.DONE)
    grid.set_error("r90m1", "server said \ud83d no")
    grid.set_status("r90m1", Phase.FAILED)

    pane = grid.scroll_to_cell("r90m0")
    assert pane is not None
    assert pane.text() == "caf\ufffd au lait"
    assert pane.metrics_text() == REPLACED_NOTICE
    failed = grid.pane("r90m1")
    assert failed is not None
    assert failed.error_text() == "server said \ufffd no"
    assert failed.metrics_text() == REPLACED_NOTICE


def test_a_stored_notice_is_shown_on_a_pane_and_can_be_removed(qtbot) -> None:
    pane = CellPane("c", "t")
    qtbot.addWidget(pane)
    pane.set_notice(REPLACED_NOTICE)
    assert pane.metrics_text() == REPLACED_NOTICE and pane.notice() == REPLACED_NOTICE
    pane.set_metrics(metrics(finish_reason="length"))
    assert pane.metrics_text().startswith(f"{REPLACED_NOTICE} · cut at max tokens · ")
    pane.set_notice("")
    assert pane.metrics_text() == format_metrics(metrics(finish_reason="length"))
