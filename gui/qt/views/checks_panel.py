"""The Checks page beside the prompt: the run's deterministic checks, edited and validated as
typed.

Each check is one row: kind, value (a schema editor with "Load…" for ``json-schema``), name,
weight, ignore case and, for a regex, its flags; a bad check says why right under its row,
with the fix (:func:`gui.core.checks.validate_check`, against the template's variables), and
:meth:`ChecksPanel.issue` makes the window refuse Run with the same reason, as a bad template
does. A quick-entry line takes the one-line syntax of ``--check`` (``contains:{topic}``).

The schema file dialog opens with ``QFileDialog.open()`` (no nested event loop under qasync).
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gui.core.checks import (
    KINDS,
    NO_VALUE_KINDS,
    TEXT_KINDS,
    VALUE_HINTS,
    Check,
    CheckError,
    parse_check,
    read_schema_file,
    validate_check,
)
from gui.qt.views.prompt_editor import IssueLabel

__all__ = ["CheckRow", "ChecksPanel"]

_HELP = (
    "Checks run on every answer the moment its cell is done (failed and cancelled cells are "
    "not checked). Values may use the row's {variables}."
)
_SCHEMA_FILTERS = "JSON Schema (*.json *.schema.json);;All files (*)"


class CheckRow(QFrame):
    """One check being edited, with its inline issue.

    Signals:
        edited(): any field changed (the row re-validated itself already).
        remove_requested(): the user pressed the row's remove button.
    """

    edited = Signal()
    remove_requested = Signal()

    def __init__(self, check: Check | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._variables: list[str] | None = None
        self._issue_text: str | None = None
        self._dialog: QFileDialog | None = None
        self._loading = False
        self._build_ui()
        self.set_check(check or Check("contains"))

    def _build_ui(self) -> None:
        self.setObjectName("checkRow")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.kind = QComboBox(self)
        self.kind.addItems(list(KINDS))
        self.kind.setToolTip("What the check tests")
        self.value = QLineEdit(self)
        self.value.setClearButtonEnabled(True)
        self.schema = QPlainTextEdit(self)
        self.schema.setPlaceholderText(VALUE_HINTS["json-schema"])
        self.schema.setMaximumHeight(110)
        self.schema.setTabChangesFocus(True)
        self.load_button = QPushButton("Load…", self)
        self.load_button.setToolTip("Load the JSON schema from a file")
        self.name = QLineEdit(self)
        self.name.setPlaceholderText("name (optional)")
        self.weight = QDoubleSpinBox(self)
        self.weight.setRange(0.01, 1000.0)
        self.weight.setDecimals(2)
        self.weight.setValue(1.0)
        self.weight.setPrefix("weight ")
        self.weight.setToolTip("Share of this check in the cell's pass rate")
        self.ignore_case = QCheckBox("ignore case", self)
        self.flags = QLineEdit(self)
        self.flags.setPlaceholderText("flags m s x")
        self.flags.setMaximumWidth(90)
        self.flags.setToolTip("Regex flags: m multi-line, s dot matches newline, x verbose")
        self.remove_button = QToolButton(self)
        self.remove_button.setText("✕")
        self.remove_button.setToolTip("Remove this check")
        self.issue = IssueLabel(self)

        # Two lines, so the value keeps the width of the narrow prompt column.
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.kind)
        top.addWidget(self.value, 1)
        top.addWidget(self.remove_button)
        options = QHBoxLayout()
        options.setContentsMargins(0, 0, 0, 0)
        options.addWidget(self.name, 1)
        options.addWidget(self.weight)
        options.addWidget(self.ignore_case)
        options.addWidget(self.flags)
        schema_row = QHBoxLayout()
        schema_row.setContentsMargins(0, 0, 0, 0)
        schema_row.addWidget(self.schema, 1)
        schema_row.addWidget(self.load_button, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 3, 4, 3)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addLayout(schema_row)
        layout.addLayout(options)
        layout.addWidget(self.issue)

        self.kind.currentTextChanged.connect(self._on_kind_current_text_changed)
        self.value.textChanged.connect(self._on_field_changed)
        self.schema.textChanged.connect(self._on_field_changed)
        self.name.textChanged.connect(self._on_field_changed)
        self.weight.valueChanged.connect(self._on_field_changed)
        self.ignore_case.toggled.connect(self._on_field_changed)
        self.flags.textChanged.connect(self._on_field_changed)
        self.remove_button.clicked.connect(self.remove_requested)
        self.load_button.clicked.connect(self._on_load_button_clicked)

    # ------------------------------------------------------------------ data

    def check(self) -> Check:
        """The check as typed (it may be invalid: see :meth:`issue_text`)."""
        kind = self.kind.currentText()
        if kind == "json-schema":
            value = self.schema.toPlainText()
        elif kind in NO_VALUE_KINDS:
            value = ""
        else:
            value = self.value.text()
        flags = "".join(f for f in self.flags.text() if not f.isspace()) if kind == "regex" else ""
        return Check(
            kind=kind,
            value=value,
            name=self.name.text().strip(),
            weight=round(self.weight.value(), 2),
            ignore_case=self.ignore_case.isChecked() and self.ignore_case.isEnabled(),
            flags=flags,
        )

    def set_check(self, check: Check) -> None:
        """Show ``check`` in the fields."""
        self._loading = True
        try:
            self.kind.setCurrentText(check.kind)
            if check.kind == "json-schema":
                self.schema.setPlainText(check.value)
                self.value.clear()
            else:
                self.value.setText(check.value)
            self.name.setText(check.name)
            self.weight.setValue(check.weight)
            self.ignore_case.setChecked(check.ignore_case)
            self.flags.setText(check.flags)
        finally:
            self._loading = False
        self._show_kind_fields()
        self.validate()

    def set_variables(self, variables: Sequence[str] | None) -> None:
        """The template's variables (what a value may use); re-validates."""
        self._variables = list(variables) if variables is not None else None
        self.validate()

    def issue_text(self) -> str | None:
        """Why the check cannot work, with the fix, or ``None``."""
        return self._issue_text

    def validate(self) -> None:
        """Check the row now and show the verdict under it."""
        try:
            validate_check(self.check(), self._variables)
        except CheckError as exc:
            self._issue_text = str(exc)
        else:
            self._issue_text = None
        self.issue.show_message(self._issue_text, "error")

    # ------------------------------------------------------------------ internals

    def _show_kind_fields(self) -> None:
        kind = self.kind.currentText()
        schema = kind == "json-schema"
        self.value.setVisible(not schema)
        self.value.setEnabled(kind not in NO_VALUE_KINDS)
        self.value.setPlaceholderText(VALUE_HINTS.get(kind, ""))
        self.schema.setVisible(schema)
        self.load_button.setVisible(schema)
        self.ignore_case.setEnabled(kind in TEXT_KINDS or kind == "regex")
        self.flags.setVisible(kind == "regex")

    def _on_kind_current_text_changed(self, _kind: str) -> None:
        if self._loading:
            return
        self._show_kind_fields()
        self._on_field_changed()

    def _on_field_changed(self, *_args: object) -> None:
        if self._loading:
            return
        self.validate()
        self.edited.emit()

    def _on_load_button_clicked(self) -> None:
        if self._dialog is None:
            self._dialog = QFileDialog(self, "Load a JSON schema", "", _SCHEMA_FILTERS)
            self._dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
            self._dialog.fileSelected.connect(self._on_dialog_file_selected)
        self._dialog.open()

    def _on_dialog_file_selected(self, path: str) -> None:
        if path:
            self.load_schema(path)

    def load_schema(self, path: str) -> None:
        """Put the schema of the file ``path`` in the editor, or say why it cannot be."""
        try:
            text = read_schema_file(path)
        except CheckError as exc:
            self.issue.show_message(str(exc), "error")
            self._issue_text = str(exc)
            return
        self.schema.setPlainText(text)  # validates and tells the panel


class ChecksPanel(QWidget):
    """The run's checks: rows to edit, a quick-entry line, and the first issue for Run.

    Signals:
        checks_changed(): a check was added, removed or edited (the workspace saves).
        title_changed(str): the page's tab title: ``Checks``, ``Checks (3)``, or
            ``Checks (3, 1 bad)`` while a check blocks Run.
    """

    checks_changed = Signal()
    title_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[CheckRow] = []
        self._variables: list[str] | None = None
        self._build_ui()

    def _build_ui(self) -> None:
        self.setObjectName("checksPanel")
        # Everything scrolls in one area: the page shares the prompt's tab widget, whose
        # smallest height is its tallest page's, and a small window must still fit.
        content = QWidget(self)
        help_label = QLabel(_HELP, content)
        help_label.setWordWrap(True)
        help_label.setObjectName("checksHelp")
        self.quick = QLineEdit(content)
        self.quick.setPlaceholderText(
            r"Add a check: contains:{topic} · regex/i:^\d · max-words:50 · python:len(output) < 500"
        )
        self.quick.setClearButtonEnabled(True)
        self.add_button = QPushButton("Add", content)
        self.add_button.setToolTip("Add the check typed on the left, or an empty one")
        self.quick_issue = IssueLabel(content)
        quick_row = QHBoxLayout()
        quick_row.setContentsMargins(0, 0, 0, 0)
        quick_row.addWidget(self.quick, 1)
        quick_row.addWidget(self.add_button)
        self.empty_label = QLabel("No checks: every answer is shown as it is.", content)
        self.empty_label.setObjectName("checksEmpty")

        self._list = QWidget(content)
        self._list_layout = QVBoxLayout(self._list)
        self._list_layout.setContentsMargins(0, 0, 0, 0)
        self._list_layout.setSpacing(4)

        inner = QVBoxLayout(content)
        inner.setContentsMargins(4, 4, 4, 4)
        inner.setSpacing(4)
        inner.addWidget(help_label)
        inner.addLayout(quick_row)
        inner.addWidget(self.quick_issue)
        inner.addWidget(self.empty_label)
        inner.addWidget(self._list)
        inner.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(content)
        scroll.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll)

        self.quick.returnPressed.connect(self._on_quick_return_pressed)
        self.add_button.clicked.connect(self._on_add_button_clicked)
        self.quick.textChanged.connect(self._on_quick_text_changed)
        self.checks_changed.connect(self._on_self_checks_changed)

    # ------------------------------------------------------------------ data

    def checks(self) -> tuple[Check, ...]:
        """The checks as typed, in order (some may be invalid: see :meth:`issue`)."""
        return tuple(row.check() for row in self._rows)

    def set_checks(self, checks: Sequence[Check]) -> None:
        """Replace the checks (a loaded run, the workspace)."""
        for row in self._rows:
            row.deleteLater()
        self._rows = []
        for check in checks:
            self._add_row(check)
        self._refresh_empty()
        self.checks_changed.emit()

    def rows(self) -> list[CheckRow]:
        """The rows, in order."""
        return list(self._rows)

    def set_variables(self, variables: Sequence[str] | None) -> None:
        """The template's variables: each row re-validates against them."""
        self._variables = list(variables) if variables is not None else None
        for row in self._rows:
            row.set_variables(self._variables)
        self.title_changed.emit(self.title())

    def issue(self) -> str | None:
        """Why the run cannot start because of a check (``Check 2: ...``), or ``None``."""
        for n, row in enumerate(self._rows, 1):
            row.validate()
            text = row.issue_text()
            if text:
                return f"Check {n}: {text}"
        return None

    def add_line(self, line: str) -> bool:
        """Add the check a one-line definition describes; ``False`` (and the reason under
        the line) when it cannot be read."""
        try:
            check = parse_check(line)
        except CheckError as exc:
            self.quick_issue.show_message(str(exc), "error")
            return False
        self.quick_issue.show_message(None)
        self._add_row(check)
        self._refresh_empty()
        self.checks_changed.emit()
        return True

    # ------------------------------------------------------------------ internals

    def _add_row(self, check: Check) -> CheckRow:
        row = CheckRow(check, self._list)
        row.set_variables(self._variables)
        row.edited.connect(self.checks_changed)
        row.remove_requested.connect(lambda: self._on_row_remove_requested(row))
        self._rows.append(row)
        self._list_layout.addWidget(row)
        return row

    def _refresh_empty(self) -> None:
        self.empty_label.setVisible(not self._rows)

    def _on_row_remove_requested(self, row: CheckRow) -> None:
        if row in self._rows:
            self._rows.remove(row)
            row.deleteLater()
            self._refresh_empty()
            self.checks_changed.emit()

    def _on_quick_return_pressed(self) -> None:
        text = self.quick.text().strip()
        if text and self.add_line(text):
            self.quick.clear()

    def _on_add_button_clicked(self) -> None:
        text = self.quick.text().strip()
        if not text:
            row = self._add_row(Check("contains"))
            self._refresh_empty()
            self.checks_changed.emit()
            row.value.setFocus()
        elif self.add_line(text):
            self.quick.clear()

    def title(self) -> str:
        """The tab title: how many checks, and how many cannot work."""
        if not self._rows:
            return "Checks"
        bad = sum(1 for row in self._rows if row.issue_text())
        return f"Checks ({len(self._rows)}, {bad} bad)" if bad else f"Checks ({len(self._rows)})"

    def _on_self_checks_changed(self) -> None:
        self.title_changed.emit(self.title())

    def _on_quick_text_changed(self, _text: str) -> None:
        self.quick_issue.show_message(None)
