"""The app's few named looks (bold titles, an inline problem's red, dimmed figures), set on
the widgets that wear them instead of by an application-wide style sheet.

An application style sheet, however small, sends every widget of the app through Qt's
style-sheet style to be polished, sized and drawn: the window's first frame and every part
built after it cost about a third more with one (docs/performance-notes.md). A font or a
palette role set here changes only what it names: the rest is still inherited, so the look
follows a theme switch (:func:`gui.qt.theme.apply_theme`) by itself. Room beside a button's
text takes a style sheet or a larger size hint: the one Run button has a sheet of its own,
which costs it alone; a cell pane's buttons, of which a Grid builds hundreds, have the size
hint (:class:`~gui.qt.widgets.status_chip.PaneButton`), as the pane's chips are painted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QWidget

if TYPE_CHECKING:
    from PySide6.QtGui import QFont

__all__ = [
    "ISSUE_RED",
    "RUN_BUTTON_SHEET",
    "SEMIBOLD",
    "dim_text",
    "set_text_color",
    "set_weight",
]

#: The red of a problem shown under an editor (``inlineIssue`` labels), in every theme.
ISSUE_RED = "#c62828"

#: The toolbar's Run button: bold, and wider and taller than the other tool buttons.
RUN_BUTTON_SHEET = "QToolButton#runButton { font-weight: 700; padding: 3px 14px; }"


#: The font of each weight :func:`set_weight` gave (only the weight set).
_WEIGHTED: dict[int, QFont] = {}

#: CSS's ``font-weight`` of a semi-bold title (``QFont.Weight.DemiBold``).
SEMIBOLD = 600


def set_weight(widget: QWidget, weight: int) -> None:
    """Give ``widget``'s text this weight; family and size stay inherited.

    Args:
        widget: The widget (a section or pane title).
        weight: The weight as CSS's ``font-weight`` (:data:`SEMIBOLD`, 700 bold).
    """
    font = _WEIGHTED.get(weight)
    if font is None:
        # Here, not at the top: the first frame sets no weight, and making PySide6's QFont
        # class (eight enums) on the way to it would cost it a millisecond.
        from PySide6.QtGui import QFont

        font = QFont()  # nothing set but the weight: the rest resolves from the parent
        font.setWeight(QFont.Weight(weight))
        _WEIGHTED[weight] = font  # one per weight: a Grid sets it on hundreds of chips
    widget.setFont(font)


def set_text_color(widget: QWidget, color: str) -> None:
    """Draw ``widget``'s text in ``color`` whatever the theme; its other colours follow it.

    Args:
        widget: A label (its text is drawn with the window-text role).
        color: A colour name Qt reads (``"#c62828"``).
    """
    palette = QPalette()  # no role set but these: the rest resolves from the parent
    palette.setColor(QPalette.ColorRole.WindowText, QColor(color))
    widget.setPalette(palette)


def dim_text(widget: QWidget) -> None:
    """Draw ``widget``'s text in the palette's placeholder colour (figures under an answer).

    A role rather than a colour: a theme switch changes the palette, and the text with it.
    """
    widget.setForegroundRole(QPalette.ColorRole.PlaceholderText)
