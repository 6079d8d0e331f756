"""A status bar whose messages are elided beside the permanent counters, never drawn under them.

:class:`QStatusBar` paints a temporary message across the whole bar and clips it only at
the first permanent widget, so a long message ran into the run counters. Here
:meth:`StatusBar.showMessage` puts the message in an :class:`ElidedLabel` that takes the
space the permanent widgets leave (full text in its tooltip), with the same timeout and
``messageChanged`` signal as Qt's. Qt's own status tips (hovering a menu entry) still go
through the base class and are painted the usual way, for as long as the hover lasts.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QStatusBar, QWidget

from gui.qt.widgets.elided_label import ElidedLabel

__all__ = ["StatusBar"]


class StatusBar(QStatusBar):
    """Messages on the left, elided to the room the permanent widgets leave them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # A sentence reads from its start: cut at the end (titles and figures cut in the
        # middle).
        self._message = ElidedLabel("", self, mode=Qt.TextElideMode.ElideRight)
        self._message.setObjectName("statusMessage")
        self.addWidget(self._message, 1)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.clearMessage)

    @property
    def message_label(self) -> ElidedLabel:
        """The label showing the current message (tests measure its geometry)."""
        return self._message

    def showMessage(self, text: str, timeout: int | None = 0) -> None:
        """Show ``text`` for ``timeout`` ms (0: until the next message)."""
        self._timer.stop()
        self._message.set_full_text(text)
        if timeout:
            self._timer.start(timeout)
        self.messageChanged.emit(text)

    def clearMessage(self) -> None:
        """Remove the message."""
        self._timer.stop()
        if self._message.full_text():
            self._message.set_full_text("")
            self.messageChanged.emit("")

    def currentMessage(self) -> str:
        """The message shown now (in full, whatever its elision)."""
        return self._message.full_text()
