"""The app's looks without an application style sheet: bold titles, the Run button, an inline
problem's red, a pane's dimmed figures and its outline, and a theme switch reaching them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QToolButton, QWidget
from pytestqt.qtbot import QtBot

from gui.qt.looks import ISSUE_RED
from gui.qt.theme import apply_theme
from gui.qt.views.models_panel import ModelCard, default_profiles
from gui.qt.views.prompt_editor import IssueLabel
from gui.qt.views.run_controls import RunControls
from gui.qt.views.window_layout import editor_section
from gui.qt.widgets.cell_pane import CellPane


@pytest.fixture
def themed() -> Iterator[QApplication]:
    """The application with a theme the test may switch; its look restored afterwards."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    style, palette = app.style().name(), QPalette(app.palette())
    apply_theme(app, "light")
    yield app
    apply_theme(app, "light")
    app.setStyle(style)
    app.setPalette(palette)


def pane(qtbot: QtBot) -> CellPane:
    made = CellPane("r0:c0", "cats × gpt-4o-mini")
    qtbot.addWidget(made)
    made.resize(320, 200)
    return made


def outline_colour(widget: QWidget, inset: int = 0) -> str:
    """The colour drawn ``inset`` px inside the left edge, halfway down (``#rrggbb``)."""
    image = widget.grab().toImage()
    return image.pixelColor(inset, image.height() // 2).name()


def test_the_window_parts_keep_their_looks_without_a_style_sheet(
    qtbot: QtBot, themed: QApplication
) -> None:
    assert themed.styleSheet() == ""
    host = QMainWindow()
    qtbot.addWidget(host)
    controls = RunControls(host)
    plain = QToolButton()
    qtbot.addWidget(plain)
    plain.setDefaultAction(controls.run_action)
    plain.setToolButtonStyle(controls.run_button.toolButtonStyle())
    run, other = controls.run_button, plain
    assert run.font().weight() == QFont.Weight.Bold
    # Padded: taller than a tool button with the same text, however narrow its minimum.
    assert run.sizeHint().height() > other.sizeHint().height()

    section = editor_section("Inputs", QLabel("the editor"))
    qtbot.addWidget(section)
    title = section.findChild(QLabel, "sectionTitle")
    assert title is not None and title.font().weight() == QFont.Weight.DemiBold
    # Only the weight is set: the size still follows the application's font.
    assert title.font().pointSizeF() == themed.font().pointSizeF()


def test_a_model_cards_problem_is_red_in_both_themes(qtbot: QtBot, themed: QApplication) -> None:
    host = QWidget()  # in a window, as in the Models panel
    qtbot.addWidget(host)
    card = ModelCard(default_profiles()[0], host)
    issue = card.issue_label
    assert issue.objectName() == "inlineIssue"
    assert issue.palette().color(QPalette.ColorRole.WindowText) == QColor(ISSUE_RED)
    apply_theme(themed, "dark")
    assert issue.palette().color(QPalette.ColorRole.WindowText) == QColor(ISSUE_RED)
    # Its other colours follow the theme.
    assert issue.palette().color(QPalette.ColorRole.Window).lightness() < 128


def test_a_panes_title_is_bold_its_figures_dim_and_its_buttons_padded(
    qtbot: QtBot, themed: QApplication
) -> None:
    shown = pane(qtbot)
    title = shown.findChild(QLabel, "cellTitle")
    figures = shown.findChild(QLabel, "cellMetrics")
    assert title is not None and figures is not None
    assert title.font().weight() == QFont.Weight.DemiBold
    placeholder = figures.palette().color(QPalette.ColorRole.PlaceholderText)
    assert figures.foregroundRole() == QPalette.ColorRole.PlaceholderText
    assert placeholder != figures.palette().color(QPalette.ColorRole.WindowText)
    cancel = next(b for b in shown.findChildren(QToolButton, "paneButton") if b.text() == "Cancel")
    bare = QToolButton()
    qtbot.addWidget(bare)
    bare.setText("Cancel")
    bare.setAutoRaise(True)
    assert cancel.sizeHint().width() > bare.sizeHint().width()  # room beside the text


def test_a_panes_outline_shows_its_checks_and_selection(qtbot: QtBot, themed: QApplication) -> None:
    shown = pane(qtbot)
    contents = shown.contentsRect()
    mid = shown.palette().color(QPalette.ColorRole.Mid).name()
    assert outline_colour(shown) == mid
    assert outline_colour(shown, 1) != mid  # a 1 px line

    shown.setProperty("checks", "fail")
    assert outline_colour(shown) == "#c62828"
    assert outline_colour(shown, 1) == "#c62828"  # 2 px

    shown.setProperty("selected", True)  # as the Grid marks a selected pane
    highlight = shown.palette().color(QPalette.ColorRole.Highlight).name()
    assert outline_colour(shown) == highlight  # the selection wins over the checks
    assert shown.contentsRect() == contents  # nothing moves when the outline thickens

    shown.setProperty("selected", False)
    shown.setProperty("checks", "")
    assert outline_colour(shown) == mid


def test_a_theme_switch_reaches_the_outline_and_the_figures(
    qtbot: QtBot, themed: QApplication
) -> None:
    shown = pane(qtbot)
    figures = shown.findChild(QLabel, "cellMetrics")
    assert figures is not None
    light_mid = outline_colour(shown)
    light_dim = figures.palette().color(figures.foregroundRole())
    apply_theme(themed, "dark")
    dark_mid = shown.palette().color(QPalette.ColorRole.Mid).name()
    assert dark_mid != light_mid
    assert outline_colour(shown) == dark_mid
    dark_dim = figures.palette().color(figures.foregroundRole())
    assert dark_dim == themed.palette().color(QPalette.ColorRole.PlaceholderText)
    assert dark_dim != light_dim


def test_a_theme_switch_restyles_a_widget_with_a_style_sheet_of_its_own(
    qtbot: QtBot, themed: QApplication
) -> None:
    host = QWidget()
    qtbot.addWidget(host)
    issue = IssueLabel(host)
    issue.show_message("{topic} is not used by the template", "warning")  # palette(...) grey

    def text_colour() -> str:
        return issue.palette().color(QPalette.ColorRole.WindowText).name()

    assert text_colour() == themed.palette().color(QPalette.ColorRole.PlaceholderText).name()
    apply_theme(themed, "dark")
    dark_grey = themed.palette().color(QPalette.ColorRole.PlaceholderText).name()
    assert text_colour() == dark_grey  # at once, before the next frame
