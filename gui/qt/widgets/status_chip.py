"""A cell's status chip, the judge's score badge, a pane's red problem line and its padded
tool buttons: painted, or set through a palette role and a size hint, never a style sheet.

A widget with a style sheet of its own gets Qt's style-sheet style: it is polished through
it when built, again at every new sheet (each status change of a chip), and again at every
theme switch (:func:`gui.qt.theme.apply_theme` re-polishes every widget with a sheet). A Grid
pane carried six of them. Here a chip paints its rounded shape and its text in its phase's
colours (:func:`~gui.qt.resources.status_colors`), read from the theme at each paint: a status
change is a repaint of the chip, a theme switch costs the chips nothing but the repaint every
widget gets. Its weight is a font, a button's padding its size hint, the problem line's red
one palette role.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QLabel, QSizePolicy, QToolButton, QWidget

from gui.core.runner import Phase
from gui.qt.looks import SEMIBOLD, set_weight
from gui.qt.resources import is_dark, status_colors

__all__ = [
    "STATUS_TEXT",
    "ChipLabel",
    "PaneButton",
    "ProblemLabel",
    "StatusChip",
    "status_text",
]

#: Chip text per phase when the caller gives no detail.
STATUS_TEXT: dict[str, str] = {
    "queued": "queued",
    "waiting": "waiting for a slot",
    "running": "waiting for first token",
    "streaming": "streaming",
    "retrying": "retrying",
    "done": "done",
    "failed": "failed",
    "cancelled": "cancelled",
}

#: Room beside a chip's text, px (an outlined chip's line takes 1 px of it).
_CHIP_MARGIN = 12

#: The least room beside a chip's text, px (a narrow pane takes the rest of the margin).
_CHIP_MIN_ROOM = 4

#: A chip's corner radius, px (at most half its height: a short chip is a pill).
_CHIP_RADIUS = 8.0

#: Room beside a pane button's text, px: what ``padding: 1px 4px`` added to a tool button's
#: size hint under Fusion (the height did not change).
_BUTTON_PAD = QSize(5, 0)

#: The least room beside a pane button's text, px (both sides together).
_BUTTON_MIN_ROOM = 8


#: A problem line's palette in the light and the dark theme (key: dark), shared by all.
_PROBLEM_PALETTES: dict[bool, QPalette] = {}


def status_text(phase: str, detail: str = "") -> str:
    """What the status chip says for ``phase``; a non-empty ``detail`` wins."""
    return detail or STATUS_TEXT.get(str(phase), str(phase))


def _theme_switched(event: QEvent, dark: bool) -> bool:
    """Whether ``event`` tells a widget that last set its colours in a dark (``dark``) or
    light theme that the theme has switched between light and dark."""
    # Setting a palette sends a PaletteChange too: the theme is then the same, so a widget
    # that sets its colours on a switch stops there.
    return (
        event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange)
        and is_dark() != dark
    )


class ChipLabel(QLabel):
    """A one-line label drawn as a rounded chip in a cell phase's colours: filled (a status)
    or outlined in its text colour (the judge's score, so it is not read as a second status).

    The colours are the theme's at paint time: the chip sets no palette of its own, so a
    theme switch reaches it as the palette change every widget gets, and it drops the
    colours it kept.

    Args:
        parent: The parent widget.
        outlined: Draw a 1 px line in the text colour instead of a fill.
    """

    def __init__(self, parent: QWidget | None = None, *, outlined: bool = False) -> None:
        super().__init__(parent)
        self._outlined = outlined
        self._colors_of = str(Phase.QUEUED)
        # Kept between paints (a chip repaints with its pane): the colours, and the text
        # as it fits the width it was last painted at.
        self._colors: tuple[QColor, QColor] | None = None
        self._fitted: tuple[str, int, str] = ("", 0, "")
        self.setTextFormat(Qt.TextFormat.PlainText)
        set_weight(self, SEMIBOLD)
        # Side room as contents margins: QLabel's size hint counts them, so a layout gives
        # the chip its whole text.
        self.setContentsMargins(_CHIP_MARGIN, 1, _CHIP_MARGIN, 1)

    def set_colors_of(self, phase: str) -> None:
        """Wear the colours of ``phase`` (:func:`~gui.qt.resources.status_colors`)."""
        phase = str(phase)
        if phase != self._colors_of:
            self._colors_of = phase
            self._colors = None
            self.update()

    def colors_of(self) -> str:
        """The phase whose colours the chip wears."""
        return self._colors_of

    def colors(self) -> tuple[QColor, QColor]:
        """The fill and the text colour the chip paints with (the current theme's)."""
        if self._colors is None:
            self._colors = status_colors(self._colors_of)
        return self._colors

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        kind = event.type()
        if kind == QEvent.Type.PaletteChange:  # a theme switch among others
            self._colors = None
        elif kind == QEvent.Type.FontChange:
            self._fitted = ("", 0, "")

    def paintEvent(self, event: QPaintEvent) -> None:
        fill, ink = self.colors()
        bounds = self.rect()
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        shape = QRectF(bounds)
        if self._outlined:
            painter.setPen(QPen(ink, 1))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            shape.adjust(0.5, 0.5, -0.5, -0.5)  # the 1 px line inside the widget
        else:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(fill)
        radius = min(_CHIP_RADIUS, shape.height() / 2, shape.width() / 2)
        painter.drawRoundedRect(shape, radius, radius)
        # Centred (the margins are even): at its size hint where QLabel would draw it, and
        # a chip squeezed towards its minimum loses room on both sides alike.
        painter.setPen(ink)
        painter.drawText(bounds, Qt.AlignmentFlag.AlignCenter, self._fit(bounds.width()))
        painter.end()

    def _fit(self, width: int) -> str:
        """The text, ending in "…" when a long detail is given less than its width (a
        narrow pane) rather than cut mid-letter."""
        text = self.text()
        fitted_text, fitted_width, shown = self._fitted
        if text != fitted_text or width != fitted_width:
            metrics, room = self.fontMetrics(), max(width - 2 * _CHIP_MIN_ROOM, 0)
            shown = text
            if metrics.horizontalAdvance(text) > room:
                shown = metrics.elidedText(text, Qt.TextElideMode.ElideRight, room)
            self._fitted = (text, width, shown)
        return shown

    def minimumSizeHint(self) -> QSize:
        # The whole text and a little room (QLabel's own minimum is its whole hint): in a
        # narrow pane the chip and the buttons beside it give up room before any text.
        text = self.fontMetrics().size(Qt.TextFlag.TextSingleLine, self.text()).width()
        return QSize(text + 2 * _CHIP_MIN_ROOM, super().minimumSizeHint().height())


class StatusChip(ChipLabel):
    """A cell's phase as a coloured chip, in the light or dark palette."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statusChip")
        self.set_status(Phase.QUEUED)

    @property
    def phase(self) -> str:
        """The phase shown."""
        return self.colors_of()

    def set_status(self, phase: str, detail: str = "") -> None:
        """Show ``phase`` (``detail``, when given, replaces the default text)."""
        phase = str(phase)
        self.setText(status_text(phase, detail))
        self.setToolTip(detail or phase)
        self.set_colors_of(phase)


class ProblemLabel(QLabel):
    """A wrapped, selectable line saying what went wrong, in the failed chip's text colour
    of the current theme (a palette role, so no style sheet)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._dark = is_dark()
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self._apply_colors()

    def _apply_colors(self) -> None:
        self._dark = dark = is_dark()
        palette = _PROBLEM_PALETTES.get(dark)
        if palette is None:  # no role set but the text's: the rest resolves from the parent
            palette = _PROBLEM_PALETTES[dark] = QPalette()
            palette.setColor(QPalette.ColorRole.WindowText, status_colors(Phase.FAILED)[1])
        self.setPalette(palette)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if _theme_switched(event, self._dark):
            self._apply_colors()


class PaneButton(QToolButton):
    """A flat tool button with a little room beside its text (a pane's Cancel, Retry, Copy),
    which it gives up first when its row is short of room."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # Shrinkable (a tool button is fixed to its hint), down to its minimum size hint.
        policy = self.sizePolicy()
        policy.setHorizontalPolicy(QSizePolicy.Policy.Preferred)
        self.setSizePolicy(policy)

    def sizeHint(self) -> QSize:
        return super().sizeHint() + _BUTTON_PAD

    def minimumSizeHint(self) -> QSize:
        # Its text and a few px (QToolButton's own minimum is its whole hint): in a narrow
        # pane the buttons give up their side room before a status chip is cut or overlapped.
        text = self.fontMetrics().size(Qt.TextFlag.TextShowMnemonic, self.text()).width()
        return QSize(text + _BUTTON_MIN_ROOM, self.sizeHint().height())
