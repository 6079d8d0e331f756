"""Parts the Focus and Row compare layouts share: an answer area and a status chip
(:class:`~gui.qt.widgets.status_chip.StatusChip`, the Grid panes' own).

:data:`AnswerView` is the answer area of both layouts, the streaming
:class:`~gui.qt.widgets.markdown_view.MarkdownView`; the layouts use only its small API
(``append``, ``set_text``, ``finish``, ``clear``, ``source``, ``to_plain``), through
:func:`show_state` to catch up with the store.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QToolButton, QWidget

from gui.qt.widgets.cell_store import CellState
from gui.qt.widgets.markdown_view import MarkdownView
from gui.qt.widgets.status_chip import StatusChip

__all__ = ["AnswerView", "StatusChip", "is_plain_escape", "show_state"]

#: The answer area of the Focus and Row compare layouts: rendered as Markdown while it
#: streams, following the end unless the reader scrolled up, a finished answer from its top.
AnswerView = MarkdownView


def show_state(view: AnswerView, state: CellState | None) -> None:
    """Bring ``view`` up to a cell's text (appends when the view shows its start)."""
    if state is None or not state.length:
        if view.source():
            view.clear()
        return
    view.set_text(state.source(), state.final)


def is_plain_escape(event: QEvent) -> bool:
    """Whether ``event`` is Esc without modifiers (a key press or its shortcut override).

    The close-up layouts take Esc as "back": they accept its ``ShortcutOverride`` so that
    the window's Esc shortcut (Cancel all, while a run is on) does not fire, and nothing is
    cancelled by a reader leaving a layout.
    """
    return (
        event.type() in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress)
        and isinstance(event, QKeyEvent)
        and event.key() == Qt.Key.Key_Escape
        and event.modifiers() == Qt.KeyboardModifier.NoModifier
    )


class CloseUpPage(QWidget):
    """A close-up layout (Focus, Row compare, Diff): Esc means "back".

    It accepts Esc's ``ShortcutOverride``, so the window's Esc (Cancel all, while a run is
    on) does not fire, and emits :attr:`back_requested` on the key press.

    Signals:
        back_requested(): Esc, or the page's Back button: go back to the previous layout.
    """

    back_requested = Signal()

    def _button(self, text: str, tip: str) -> QToolButton:
        """A flat tool button of the page's bar."""
        button = QToolButton(self)
        button.setText(text)
        button.setToolTip(tip)
        button.setAutoRaise(True)
        # Tab focus only: a clicked button keeps no focus, so arrows stay navigation keys.
        button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        return button

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and is_plain_escape(event):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if is_plain_escape(event):
            self.back_requested.emit()
            return
        super().keyPressEvent(event)
