"""The Schema page beside the prompt: the JSON schema a structured run asks every cell for.

Off by default. Turned on, the run sends the schema to each server (``response_format``, or
JSON mode where a server refuses ``json_schema``) and holds each answer against it
(:mod:`gui.core.structured`). The schema is pasted, loaded from a file or taken from a starter;
an invalid one is refused as typed, with the fix, and :meth:`SchemaPage.issue` makes the
window refuse Run with the same reason. The file dialog opens with ``QFileDialog.open()`` (no
nested event loop under qasync); reading the file is the Checks page's own helper.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from gui.core.checks import CheckError, read_schema_file
from gui.core.errors import SpecError
from gui.core.structured import parse_schema
from gui.qt.views.prompt_editor import IssueLabel

__all__ = ["SchemaPage"]

_HELP = (
    "Ask every cell for JSON that follows this schema. An answer that breaks it is kept as it "
    'came, marked "schema ✗" with the reason; its cell is still done.'
)
_FILTERS = "JSON Schema (*.json *.schema.json);;All files (*)"


class SchemaPage(QWidget):
    """The run's JSON schema (issue 15's structured output), validated as typed.

    Args:
        starters: Starter schemas, title -> JSON text (``gui.resources.starter_schemas``).
    """

    title_changed = Signal(str)
    """The page's tab title: ``Schema`` or ``Schema ✓`` while it is on."""

    schema_changed = Signal()
    """The user edited the schema or turned structured output on or off (the workspace)."""

    def __init__(
        self, starters: Mapping[str, str] | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._starters = dict(starters or {})
        self._dialog: QFileDialog | None = None
        self._loading = False
        self._build_ui()
        self._revalidate()

    def _build_ui(self) -> None:
        self.setObjectName("schemaPage")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        # In a scroll area, as the Judge page: the page shares the prompt's tab widget, whose
        # minimum size is its largest page's, and the window's must not grow with it.
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        outer.addWidget(scroll)
        content = QWidget(scroll)
        scroll.setWidget(content)
        root = QVBoxLayout(content)
        root.setContentsMargins(4, 4, 4, 4)
        help_label = QLabel(_HELP, self)
        help_label.setWordWrap(True)
        help_label.setEnabled(False)  # the muted "small print" colour
        root.addWidget(help_label)

        row = QHBoxLayout()
        self._enabled = QCheckBox("Structured output", self)
        self._enabled.setObjectName("schemaEnabled")
        self._enabled.toggled.connect(self._on_enabled_toggled)
        row.addWidget(self._enabled)
        row.addStretch(1)
        self._starter = QComboBox(self)
        self._starter.setObjectName("schemaStarter")
        self._starter.addItem("Starter schema…", None)
        for title in self._starters:
            self._starter.addItem(title, title)
        self._starter.activated.connect(self._on_starter_activated)
        row.addWidget(self._starter)
        self._load = QPushButton("Load…", self)
        self._load.setObjectName("schemaLoad")
        self._load.clicked.connect(self._on_load_clicked)
        row.addWidget(self._load)
        root.addLayout(row)

        self._editor = QPlainTextEdit(self)
        self._editor.setObjectName("schemaEditor")
        self._editor.setPlaceholderText('{"type": "object", "properties": {...}}')
        self._editor.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self._editor.textChanged.connect(self._on_editor_text_changed)
        root.addWidget(self._editor, 1)

        self._issue = IssueLabel(self)
        self._issue.setObjectName("schemaIssue")
        root.addWidget(self._issue)

    # -- public API ----------------------------------------------------------------------

    def schema(self) -> dict[str, Any] | None:
        """The schema a run gets: ``None`` when off (or invalid: :meth:`issue` says why)."""
        if not self._enabled.isChecked():
            return None
        try:
            return parse_schema(self._editor.toPlainText())
        except SpecError:
            return None

    def issue(self) -> str | None:
        """Why Run must be refused (an invalid schema while on), or ``None``."""
        if not self._enabled.isChecked():
            return None
        try:
            parse_schema(self._editor.toPlainText())
        except SpecError as exc:
            return f"Schema: {exc}"
        return None

    def set_schema(self, schema: Mapping[str, Any] | None) -> None:
        """Show ``schema`` (a past run's), on; ``None`` turns structured output off."""
        self._loading = True
        try:
            self._enabled.setChecked(schema is not None)
            if schema is not None:
                self._editor.setPlainText(json.dumps(dict(schema), indent=2, ensure_ascii=False))
        finally:
            self._loading = False
        self._revalidate()

    def draft(self) -> tuple[str, bool]:
        """The schema as typed (maybe invalid) and whether structured output is on."""
        return self._editor.toPlainText(), self._enabled.isChecked()

    def set_draft(self, text: str, on: bool) -> None:
        """Show a kept draft (the workspace's): its text as typed, on or off."""
        self._loading = True
        try:
            self._editor.setPlainText(text)
            self._enabled.setChecked(on)
        finally:
            self._loading = False
        self._revalidate()

    def set_text(self, text: str) -> None:
        """Put ``text`` in the editor and turn structured output on (a starter, a file)."""
        self._loading = True
        try:
            self._editor.setPlainText(text)
            self._enabled.setChecked(True)
        finally:
            self._loading = False
        self._revalidate()

    # -- slots ---------------------------------------------------------------------------

    def _on_enabled_toggled(self, _checked: bool) -> None:
        if not self._loading:
            self._revalidate()

    def _on_editor_text_changed(self) -> None:
        if not self._loading:
            self._revalidate()

    def _on_starter_activated(self, index: int) -> None:
        title = self._starter.itemData(index)
        if title in self._starters:
            self.set_text(self._starters[title])
        self._starter.setCurrentIndex(0)

    def _on_load_clicked(self) -> None:
        if self._dialog is None:
            self._dialog = QFileDialog(self, "Load a JSON schema", "", _FILTERS)
            self._dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
            self._dialog.fileSelected.connect(self._on_dialog_file_selected)
        self._dialog.open()

    def _on_dialog_file_selected(self, path: str) -> None:
        try:
            text = read_schema_file(path)
        except CheckError as exc:
            self._issue.show_message(str(exc))
            return
        self.set_text(text)

    def _revalidate(self) -> None:
        on = self._enabled.isChecked()
        self._editor.setEnabled(on)
        problem = self.issue()
        self._issue.show_message(problem)
        self.title_changed.emit("Schema ✓" if on and problem is None else "Schema")
        if not self._loading:
            self.schema_changed.emit()
