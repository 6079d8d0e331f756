"""Layout facts from 900x600 to 2560x1440, light and dark: nothing clipped, nothing overlapping.

Measured offscreen on the real widgets: every button of the Inputs and Models panels is shown
at least as wide as it asks to be and lies inside every panel around it; the status bar's
message never runs into its counters; the Profiles editor keeps its place and its height.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import QCoreApplication, QPoint, QRect
from PySide6.QtWidgets import QAbstractButton, QApplication, QWidget
from pytestqt.qtbot import QtBot

from gui.core.spec import ModelProfile, ProviderKind
from gui.qt.app import apply_theme
from gui.qt.main_window import MainWindow
from gui.qt.widgets.status_bar import StatusBar
from gui.storage.profiles import ProfileStore, SavedProfile

SIZES = [(900, 600), (1360, 860), (2560, 1440)]
TEMPLATES = {
    "one variable": "Tell me a joke about {topic}",
    "two variables": "Write about {topic} in the style of {style}",
}
LONG_MESSAGE = (
    "Run finished: 16 done, 0 failed, 0 cancelled in 12.52 s · loop lag p99 2.0 ms,"
    " max 5.1 ms · and more words than any status bar has room for at this width"
)


@pytest.fixture(params=["light", "dark"])
def theme(request: pytest.FixtureRequest) -> Iterator[str]:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    style, palette = app.style().name(), app.palette()
    apply_theme(app, request.param)
    yield request.param
    app.setStyle(style)
    app.setPalette(palette)


def settle(window: QWidget) -> None:
    """Let every pending layout and resize happen (two passes: wraps change heights)."""
    for _ in range(3):
        QCoreApplication.processEvents()


def rect_in(widget: QWidget, ancestor: QWidget) -> QRect:
    return QRect(widget.mapTo(ancestor, QPoint(0, 0)), widget.size())


def assert_not_clipped(button: QAbstractButton, stop: QWidget) -> None:
    """``button`` is shown whole: wide enough for its text, inside each ancestor up to ``stop``."""
    name = button.text() or button.objectName()
    assert button.isVisible(), name
    assert button.width() >= button.sizeHint().width(), (name, button.width(), button.sizeHint())
    parent = button.parentWidget()
    while parent is not None:
        inner = rect_in(button, parent)
        # Horizontally whole everywhere; vertically a scroll area may hide it (it scrolls).
        assert inner.left() >= 0 and inner.right() < parent.width(), (name, parent, inner)
        if parent is stop:
            break
        parent = parent.parentWidget()


def make_window(qtbot: QtBot, size: tuple[int, int], template: str) -> MainWindow:
    win = MainWindow(profile_store=ProfileStore())
    qtbot.addWidget(win)
    win.prompt.set_template(template)
    win.inputs.set_variables(win.prompt.variables())
    win.inputs.set_rows([{"topic": t, "style": "haiku"} for t in ("cats", "dogs", "parrots")])
    win.resize(*size)
    win.show()
    qtbot.waitExposed(win)
    settle(win)
    return win


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("template", list(TEMPLATES.values()), ids=list(TEMPLATES))
def test_every_inputs_and_models_button_is_whole(
    qtbot: QtBot, theme: str, size: tuple[int, int], template: str
) -> None:
    win = make_window(qtbot, size, template)
    assert (win.width(), win.height()) == size
    inputs_buttons = [b for b in win.inputs.findChildren(QAbstractButton) if b.isVisibleTo(win)]
    assert {b.text() for b in inputs_buttons} >= {
        "Add row",
        "Remove",
        "Paste lines",
        "Import…",
        "Clear",
    }
    for button in inputs_buttons:
        assert_not_clipped(button, win)
    # The wrapped button lines end above the table: no line is drawn over it.
    bar = win.inputs.findChild(QWidget, "inputsButtons")
    assert bar is not None
    assert rect_in(bar, win).bottom() < rect_in(win.inputs.view, win).top()

    # Every card's Edit and Remove, with a form open too (the widest card).
    win.models.add_profile(
        ModelProfile(model="a-rather-long-model-name-for-a-card", provider=ProviderKind.OPENAI),
        expanded=True,
    )
    settle(win)
    model_buttons = [b for b in win.models.findChildren(QAbstractButton) if b.isVisibleTo(win)]
    removes = [b for b in model_buttons if b.text() == "Remove"]
    assert len(removes) == 3
    for button in model_buttons:
        assert_not_clipped(button, win)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_long_status_message_never_runs_into_the_counters(
    qtbot: QtBot, theme: str, size: tuple[int, int]
) -> None:
    win = make_window(qtbot, size, TEMPLATES["one variable"])
    bar = win.statusBar()
    assert isinstance(bar, StatusBar)
    c = win.controls  # the status bar's counters (views/run_controls.py)
    c.counts_label.setText("in flight 0 · waiting 0 · done 16 · failed 0 · cancelled 0")
    c.wall_label.setText("wall 12.5 s")
    c.lag_label.setText("loop lag p99 2.0 ms")
    bar.showMessage(LONG_MESSAGE, 5000)
    settle(win)
    message = bar.message_label
    assert bar.currentMessage() == LONG_MESSAGE and message.toolTip() == LONG_MESSAGE
    shown = rect_in(message, bar)
    for counter in (c.counts_label, c.wall_label, c.lag_label, c.sparkline):
        assert counter.isVisible()
        assert not shown.intersects(rect_in(counter, bar)), counter
        # The counters keep their full text.
        assert counter.width() >= counter.sizeHint().width(), counter
    # The message itself is cut with an ellipsis, never painted past its label.
    text_width = message.fontMetrics().horizontalAdvance(message.text())
    assert text_width <= message.width()
    if size[0] < 1500:
        assert message.text().endswith("…")
    bar.clearMessage()
    assert bar.currentMessage() == "" and message.text() == ""


@pytest.mark.parametrize("size", [(900, 600), (1360, 860)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_profile_editor_keeps_its_place_and_height_when_the_first_profile_is_saved(
    qtbot: QtBot, theme: str, size: tuple[int, int]
) -> None:
    win = make_window(qtbot, size, TEMPLATES["one variable"])
    win._on_models_save_profile_requested(
        ModelProfile(model="gpt-4o-mini", provider=ProviderKind.OPENAI)
    )
    settle(win)
    panel = win.providers
    editor = panel.editor
    assert win.profiles_dock.isVisible() and editor.isVisible()
    # The editor gets the height it asks for (the panel scrolls as a whole instead of
    # squeezing the form into a small box)...
    assert editor.height() >= editor.sizeHint().height()
    for button in (panel.save_button, panel.use_button, panel.delete_button):
        assert_not_clipped(button, win.profiles_dock)
    before = rect_in(editor, panel)
    assert panel.empty_label.isVisible() and not panel.list.isVisible()
    # ...and stays where it is when the list appears (what a Save does).
    panel._set_saved([SavedProfile("work", ModelProfile(model="gpt-4o-mini"))])
    settle(win)
    assert panel.list.isVisible() and not panel.empty_label.isVisible()
    assert rect_in(editor, panel) == before


def test_a_longer_count_wraps_the_inputs_bar_without_covering_the_table(qtbot: QtBot) -> None:
    win = make_window(qtbot, (900, 600), TEMPLATES["two variables"])
    bar = win.inputs.findChild(QWidget, "inputsButtons")
    assert bar is not None
    # 1,000 rows, some with an empty cell: the count label gets much longer.
    win.inputs.set_rows([{"topic": f"t{i}", "style": "" if i % 3 else "x"} for i in range(1000)])
    settle(win)
    assert "with empty cells" in win.inputs.count_label.text()
    assert rect_in(bar, win).bottom() < rect_in(win.inputs.view, win).top()
    for child in bar.findChildren(QWidget):
        if child.isVisible():
            assert rect_in(child, bar).bottom() < bar.height(), child


def test_the_judges_lane_and_ranking_leave_the_window_fitting_900x600(
    qtbot: QtBot, theme: str
) -> None:
    """Seen trying the judge at 900x600: the dock's judge lane under the live gauges raised
    the window's minimum height to 620 px, and a pairwise ranking line naming three models
    its minimum width to 1100 px. The dock now scrolls and the ranking elides."""
    from gui.core.judging import PairwiseResult

    win = make_window(qtbot, (900, 600), TEMPLATES["one variable"])
    names = ["a-rather-long-model-name-alpha", "beta-with-a-long-name", "gamma-model-long"]
    win.results.store.set_shape(["cats"], names, [["r0m0", "r0m1", "r0m2"]])
    win.limits.set_judge_lane(1, 2, 3, 0, 4)
    pairs = [
        PairwiseResult(0, "r0m0", "r0m1", None, "judge"),
        PairwiseResult(0, "r0m1", "r0m2", "r0m1", "judge"),
    ]
    win.results._show_ranking(pairs)
    settle(win)
    assert win.results.ranking_label.isVisible()
    assert all(n in win.results.ranking_label.full_text() for n in names)
    hint = win.minimumSizeHint()
    assert hint.width() <= 900 and hint.height() <= 600, hint


def test_a_past_runs_banner_wraps_instead_of_widening_the_window(qtbot: QtBot, theme: str) -> None:
    """Seen reopening a run from History at 900x600: the banner's one line ("Past run <id>
    from <date> · finished · 9/9 done · stream · read-only") set the window's minimum width
    to 1170 px."""
    win = make_window(qtbot, (900, 600), TEMPLATES["one variable"])
    label = win.results.past_label
    label.setText(
        "Past run 20261202-154702-1fb950 from 2026-12-02 15:47 · finished · 9/9 done · "
        "stream · read-only"
    )
    win.results.past_banner.show()
    settle(win)
    hint = win.minimumSizeHint()
    assert hint.width() <= 900 and hint.height() <= 600, hint
    assert label.isVisible() and label.height() >= label.heightForWidth(label.width())


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_no_results_layout_widens_the_window_and_the_grids_bar_stays_whole(
    qtbot: QtBot, theme: str, size: tuple[int, int]
) -> None:
    """Seen switching the stress demo to the Grid at 900x600: the Grid's own controls
    ("Rows S M L", "Wide columns") raised the window's minimum width to 927 px and the
    window grew past the screen's edge. "Wide columns" now says "Wide" when short of room."""
    win = make_window(qtbot, size, TEMPLATES["one variable"])
    for name in list(win.results._layouts):
        win.results.set_layout(name)
        settle(win)
        hint = win.minimumSizeHint()
        assert hint.width() <= 900 and hint.height() <= 600, (name, hint)
        assert win.width() == size[0], (name, win.width())
    win.results.set_layout("grid")
    settle(win)
    button = win.results.wide_columns_button
    assert button.isVisible() and button.width() >= button.minimumSizeHint().width()
    assert rect_in(button, win.results).right() < win.results.width()
    for size_button in win.results.row_height_buttons.values():
        assert_not_clipped(size_button, win.results)
    # The full label wherever the row has room for it; the short one only where it has not.
    assert button.text() == (
        "Wide" if button.width() < button.sizeHint().width() else "Wide columns"
    )
    if size[0] >= 1360:
        assert button.text() == "Wide columns"
