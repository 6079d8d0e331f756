"""The app's looks without an application style sheet: bold titles, the Run button, an inline
problem's red, a pane's dimmed figures and its outline, and a theme switch reaching them; a
cell pane's chips, error line and buttons without a style sheet of their own, so that neither
a status change nor a theme switch re-polishes any part of it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QToolButton, QWidget
from pytestqt.qtbot import QtBot

from gui.core.checks import CheckResult
from gui.core.judging import JudgeVerdict
from gui.core.runner import Phase
from gui.qt.looks import ISSUE_RED
from gui.qt.resources import status_colors
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


# --------------------------------------------------------------------- a pane without sheets


class RestyleCounter(QObject):
    """Counts the events a re-polish sends a widget: a new style, font or palette."""

    KINDS = (QEvent.Type.StyleChange, QEvent.Type.FontChange, QEvent.Type.Polish)

    def __init__(self, widgets: list[QWidget]) -> None:
        super().__init__()
        self.seen: list[str] = []
        for widget in widgets:
            widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in self.KINDS:
            self.seen.append(f"{watched.objectName() or type(watched).__name__}: {event.type()}")
        return False


def every_part(widget: QWidget) -> list[QWidget]:
    return [widget, *widget.findChildren(QWidget)]


def painted(chip: QLabel) -> tuple[str, str]:
    """A chip's fill (by its left end) and its text colour (the pixel farthest from the
    fill: antialiased edges lie between the two), as painted."""
    image = chip.grab().toImage()
    fill = image.pixelColor(2, image.height() // 2)
    inner = range(12, image.width() - 12)
    ink = max(
        (image.pixelColor(x, y) for x in inner for y in range(image.height())),
        key=lambda c: abs(c.lightness() - fill.lightness()),
    )
    return fill.name(), ink.name()


def expected(phase: str) -> tuple[str, str]:
    fill, ink = status_colors(phase)
    return fill.name(), ink.name()


def finished_pane(qtbot: QtBot) -> CellPane:
    """A pane with every part shown: a failed answer with an error, checks and a judge."""
    shown = pane(qtbot)
    shown.show()
    shown.set_final_text("Cats sleep.")
    shown.set_error("server error 503: try again later")
    shown.set_checks((CheckResult("mentions cats", "contains", True, "found"),))
    shown.set_judge(JudgeVerdict(8, "clear", "judge"))
    shown.set_status(Phase.FAILED)
    return shown


def test_a_panes_parts_wear_their_looks_without_a_style_sheet(
    qtbot: QtBot, themed: QApplication
) -> None:
    shown = finished_pane(qtbot)
    assert [w.objectName() for w in every_part(shown) if w.styleSheet()] == []
    chip = shown.findChild(QLabel, "statusChip")
    judge = shown.findChild(QLabel, "judgeBadge")
    error = shown.findChild(QLabel, "cellError")
    assert chip is not None and judge is not None and error is not None
    assert painted(chip) == expected("failed")
    assert chip.font().weight() == QFont.Weight.DemiBold
    # The judge's score: outlined in its text colour (no fill), the done chip's green.
    line = judge.grab().toImage().pixelColor(0, judge.height() // 2).name()
    assert line == status_colors("done")[1].name()
    assert painted(judge)[1] == status_colors("done")[1].name()
    assert error.palette().color(QPalette.ColorRole.WindowText) == status_colors("failed")[1]
    # Room beside the buttons' text: wider than a bare tool button with the same text.
    copy = next(b for b in shown.findChildren(QToolButton, "paneButton") if b.text() == "Copy")
    bare = QToolButton()
    qtbot.addWidget(bare)
    bare.setText("Copy")
    bare.setAutoRaise(True)
    assert copy.sizeHint().width() > bare.sizeHint().width()


@pytest.mark.parametrize("phase", [Phase.STREAMING, Phase.DONE, Phase.CANCELLED])
def test_a_status_change_repaints_the_chip_and_restyles_nothing(
    qtbot: QtBot, themed: QApplication, phase: Phase
) -> None:
    shown = finished_pane(qtbot)
    counter = RestyleCounter(every_part(shown))
    shown.set_status(phase)
    QApplication.processEvents()
    assert counter.seen == []
    chip = shown.findChild(QLabel, "statusChip")
    assert chip is not None and chip.text() == phase.value
    assert painted(chip) == expected(phase.value)
    assert [w.objectName() for w in every_part(shown) if w.styleSheet()] == []


def test_a_theme_switch_recolours_the_chips_and_the_error_without_restyling(
    qtbot: QtBot, themed: QApplication
) -> None:
    shown = finished_pane(qtbot)
    chip = shown.findChild(QLabel, "statusChip")
    error = shown.findChild(QLabel, "cellError")
    assert chip is not None and error is not None
    light = painted(chip)
    light_error = error.palette().color(QPalette.ColorRole.WindowText)
    counter = RestyleCounter(every_part(shown))
    apply_theme(themed, "dark")
    assert counter.seen == []
    dark = painted(chip)
    assert dark == expected("failed") != light  # the dark theme's pair
    dark_error = error.palette().color(QPalette.ColorRole.WindowText)
    assert dark_error == status_colors("failed")[1] != light_error
    apply_theme(themed, "light")
    assert painted(chip) == light


def test_a_narrow_pane_keeps_its_chip_whole_beside_its_buttons(
    qtbot: QtBot, themed: QApplication
) -> None:
    shown = finished_pane(qtbot)
    shown.set_judge(None)
    shown.set_title_visible(False)  # as in the Grid
    shown.set_status(Phase.CANCELLED)
    shown.resize(shown.minimumWidth(), 200)
    QApplication.processEvents()
    chip = shown.findChild(QLabel, "statusChip")
    assert chip is not None
    whole = chip.fontMetrics().horizontalAdvance("cancelled")
    assert chip.width() >= whole + 8  # the whole text, centred, with room on both sides
    buttons = [b for b in shown.findChildren(QToolButton, "paneButton") if b.isVisible()]
    assert [b.text() for b in buttons] == ["Retry", "Copy"]
    for button in buttons:
        # Nothing overlaps the chip, and each button still shows its whole text.
        assert not button.geometry().intersects(chip.geometry())
        assert button.width() > button.fontMetrics().horizontalAdvance(button.text())
        assert button.geometry().right() <= shown.contentsRect().right()
