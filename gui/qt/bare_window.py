"""A bare PySide6 window, the reference for the start-up benchmark (``fanout-studio bench``).

Run as a script (``python gui/qt/bare_window.py``), not as a module of the app, so that it
loads nothing but Python and PySide6: one main window of the app's size, shown offscreen
the way the app is, quitting after its first paint. Prints the first paint's ``time.time()``.
"""

from __future__ import annotations

import sys
import time

from PySide6.QtCore import QTimer
from PySide6.QtGui import QPaintEvent
from PySide6.QtWidgets import QApplication, QMainWindow


class BareWindow(QMainWindow):
    """Records its first paint (the same finish line as the app's window) and quits."""

    painted: float | None = None

    def paintEvent(self, event: QPaintEvent) -> None:
        if BareWindow.painted is None:
            BareWindow.painted = time.time()
            QTimer.singleShot(0, QApplication.quit)
        super().paintEvent(event)


def main() -> int:
    app = QApplication(sys.argv[:1])
    window = BareWindow()
    window.resize(1360, 860)
    window.show()
    app.exec()
    sys.stdout.write(f"{BareWindow.painted}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
