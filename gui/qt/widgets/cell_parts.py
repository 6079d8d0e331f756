"""Parts the Focus and Row compare layouts share: an answer area and a status chip.

:class:`AnswerView` is the answer area of both layouts. It has the small API of the
streaming Markdown view (``append``, ``set_text``, ``finish``, ``clear``, ``source``,
``to_plain``), so the layouts only ever talk to that API and the interim implementation
here (plain text while streaming, Markdown rendered at the end, as the grid's panes do) is
swapped for the incremental :class:`MarkdownView` on the one line that defines it.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent, QTextCursor, QTextOption
from PySide6.QtWidgets import QFrame, QLabel, QTextBrowser, QWidget

from gui.core.runner import Phase
from gui.qt.resources import is_dark, status_colors
from gui.qt.widgets.cell_pane import MARKDOWN_FEATURES, MARKDOWN_MAX_CHARS, status_text
from gui.qt.widgets.cell_store import CellState

__all__ = ["AnswerView", "StatusChip", "is_plain_escape", "show_state"]

_CHIP_STYLE = (
    "QLabel#statusChip {{ background-color: {bg}; color: {fg}; border-radius: 8px;"
    " padding: 1px 8px; font-weight: 600; }}"
)
#: Pixels from the end within which a reader counts as "at the end" (the view follows).
_FOLLOW_TOLERANCE_PX = 2


class _StreamingAnswerView(QTextBrowser):
    """An answer: plain text while it streams, rendered Markdown once final.

    While text arrives the view follows the end only if the reader has not scrolled up;
    a final answer that replaces a stream the reader followed is shown from its top.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._parts: list[str] = []
        self._final = False
        self._follow = True
        self._moving = False  # scroll bar moves made by the view, not the reader
        self.setObjectName("answerView")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setOpenExternalLinks(True)
        self.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        document = self.document()
        document.setUndoRedoEnabled(False)  # read-only: an undo stack only costs memory
        document.setDocumentMargin(6)
        self._cursor = QTextCursor(document)  # the append cursor, never the reader's one
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._on_scrollbar_value_changed)
        bar.rangeChanged.connect(self._on_scrollbar_range_changed)

    def append(self, text: str) -> None:
        """Append streamed ``text`` (everything since the last frame)."""
        if not text:
            return
        if self._final:  # more text after the end: the answer streams again
            self._final = False
            self._show(self.source(), markdown=False)
        self._parts.append(text)
        cursor = self._cursor
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.beginEditBlock()  # one relayout per frame, not per character
        cursor.insertText(text)
        cursor.endEditBlock()
        self._follow_end()

    def set_text(self, text: str, final: bool) -> None:
        """Show ``text``; ``final`` says the answer is complete."""
        shown = self.source()
        if self._final and final and text == shown:
            return  # already shown, rendered: keep the reader's place
        if not self._final and text.startswith(shown):
            self.append(text[len(shown) :])
        else:
            self.clear()
            self.append(text)
        if final:
            self.finish()

    def finish(self) -> None:
        """The answer is complete: show it rendered, from its top."""
        if self._final:
            return
        self._final = True
        text = self.source()
        self._show(text, markdown=len(text) <= MARKDOWN_MAX_CHARS)
        self._follow = False
        self._scroll_to(0)

    def clear(self) -> None:
        """Empty the view for a new answer."""
        self._parts, self._final, self._follow = [], False, True
        self._moving = True
        try:
            self.document().clear()
        finally:
            self._moving = False

    def source(self) -> str:  # type: ignore[override]
        """The answer exactly as received (the Markdown source)."""
        if len(self._parts) > 1:
            self._parts = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    def is_final(self) -> bool:
        """Whether :meth:`finish` was called since the last text arrived."""
        return self._final

    def to_plain(self) -> str:
        """The text as shown (the rendered answer's plain text once final)."""
        return self.document().toPlainText()

    def _show(self, text: str, markdown: bool) -> None:
        self._moving = True
        try:
            if markdown:
                self.document().setMarkdown(text, MARKDOWN_FEATURES)
            else:
                self.document().setPlainText(text)
        finally:
            self._moving = False

    def _follow_end(self) -> None:
        if self._follow:
            self._scroll_to(self.verticalScrollBar().maximum())

    def _scroll_to(self, value: int) -> None:
        self._moving = True
        try:
            self.verticalScrollBar().setValue(value)
        finally:
            self._moving = False

    def _on_scrollbar_value_changed(self, value: int) -> None:
        if not self._moving and not self._final:
            self._follow = value >= self.verticalScrollBar().maximum() - _FOLLOW_TOLERANCE_PX

    def _on_scrollbar_range_changed(self, _minimum: int, maximum: int) -> None:
        # Layout may finish after the insert (hidden or large documents): keep following.
        if self._follow and not self._final:
            self._scroll_to(maximum)


#: The answer area of the Focus and Row compare layouts (the one line to swap).
AnswerView = _StreamingAnswerView


class StatusChip(QLabel):
    """A cell's phase as a coloured chip, in the light or dark palette."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._phase = str(Phase.QUEUED)
        self._dark = is_dark()
        self.setObjectName("statusChip")
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.set_status(Phase.QUEUED)

    @property
    def phase(self) -> str:
        """The phase shown."""
        return self._phase

    def set_status(self, phase: str, detail: str = "") -> None:
        """Show ``phase`` (``detail``, when given, replaces the default text)."""
        self._phase = str(phase)
        self.setText(status_text(self._phase, detail))
        self.setToolTip(detail or self._phase)
        self._apply_colors()

    def _apply_colors(self) -> None:
        bg, fg = status_colors(self._phase)
        self.setStyleSheet(_CHIP_STYLE.format(bg=bg.name(), fg=fg.name()))

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            if is_dark() != self._dark:  # light <-> dark theme switch
                self._dark = is_dark()
                self._apply_colors()


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
