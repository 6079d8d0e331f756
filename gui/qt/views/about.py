"""Help > About: the app's version, the versions a bug report needs, and the data folder.

A small non-modal dialog opened with ``show()``: ``exec()`` and the ``QMessageBox`` static
helpers run a nested event loop, which under qasync drops other tasks' steps (streams would
stall while the box is open). The text is built by the Qt-free :mod:`gui.about`.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.about import AboutInfo
from gui.qt.resources import app_icon


class AboutDialog(QDialog):
    """The About box; :func:`show_about` opens it (one per parent window)."""

    def __init__(self, info: AboutInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("aboutDialog")
        self.setWindowTitle("About Fanout Studio")
        self.setModal(False)
        self._info = info
        self._build_ui()

    def _build_ui(self) -> None:
        layout = QVBoxLayout(self)
        head = QHBoxLayout()
        logo = QLabel(self)
        logo.setPixmap(app_icon().pixmap(64, 64))
        head.addWidget(logo, 0, Qt.AlignmentFlag.AlignTop)
        self.title = QLabel(
            f"<h3>Fanout Studio {html.escape(self._info.app)}</h3>"
            "<p>Run one prompt over many inputs and models at once<br>"
            "and watch every answer stream side by side.</p>",
            self,
        )
        head.addWidget(self.title, 1)
        layout.addLayout(head)

        rows = "".join(
            f"<tr><td>{html.escape(label)}</td><td>&nbsp;&nbsp;{html.escape(version)}</td></tr>"
            for label, version in self._info.versions
        )
        rows += (
            f"<tr><td>Data folder</td><td>&nbsp;&nbsp;{html.escape(str(self._info.data_folder))}"
            "</td></tr>"
        )
        self.details = QLabel(f"<table>{rows}</table>", self)
        self.details.setObjectName("aboutDetails")
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.details)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.copy_button = QPushButton("Copy versions", self)
        self.copy_button.setToolTip("Copy these lines, e.g. for a bug report")
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(self._on_copy_button_clicked)
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)

    def _on_copy_button_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self._info.text())


def show_about(parent: QWidget, info: AboutInfo) -> AboutDialog:
    """Show the About box of ``parent`` without blocking the loop, raising it if already open."""
    dialog = parent.findChild(AboutDialog)
    if dialog is None:
        dialog = AboutDialog(info, parent)
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog
