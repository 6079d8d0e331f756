"""The "Code" view: the current run as stand-alone Python, highlighted, ready to copy or save.

The text comes from :func:`gui.core.codegen.python_snippet`; this view only shows it. An equal
spec is not generated again and the editor is replaced only when the text changes, so a window
may call :meth:`CodeView.set_spec` on every edit.

"Save as…" uses a non-modal :class:`QFileDialog` (``open()``, never ``exec()`` or the static
helpers: a nested event loop under qasync starves the running tasks). For the same reason
the dialog does not ask before replacing a file (Qt would ask with a modal message box);
the view asks inline instead.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QGuiApplication,
    QPalette,
    QSyntaxHighlighter,
    QTextCharFormat,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from gui.core.codegen import python_snippet
from gui.core.errors import SpecError, TemplateError
from gui.core.spec import RunSpec
from gui.qt.looks import SEMIBOLD, set_weight

__all__ = ["CodeView", "PythonHighlighter"]

#: Colours (light, dark) per token kind; the dark ones are readable on a dark Base.
_COLORS: dict[str, tuple[str, str]] = {
    "keyword": ("#0033b3", "#cf8e6d"),
    "builtin": ("#7a3e9d", "#c77dbb"),
    "string": ("#067d17", "#6aab73"),
    "comment": ("#8c8c8c", "#7a7e85"),
    "number": ("#1750eb", "#2aacb8"),
}

_BUILTINS = (
    "print",
    "len",
    "range",
    "zip",
    "dict",
    "list",
    "str",
    "int",
    "float",
    "min",
    "max",
    "isinstance",
    "type",
    "BaseException",
    "Exception",
    "TimeoutError",
    "ConnectionError",
    "SystemExit",
)
_WORD_RE = re.compile(
    r"\b(?:(?P<keyword>"
    + "|".join(keyword.kwlist)
    + r")|(?P<builtin>"
    + "|".join(_BUILTINS)
    + r"))\b"
)
_NUMBER_RE = re.compile(r"(?<![\w.])(?:\d[\d_]*\.?[\d_]*(?:[eE][+-]?\d+)?|\.\d+)\b")
# Strings and comments in one scan, so a # inside a string is not a comment and quotes in a
# comment are not strings. Triple quotes first: they may span lines.
_SCAN_RE = re.compile(
    r"""(?P<triple>(?<!\w)[rRbBfFuU]{0,2}(?:\"\"\"|'''))"""
    r"""|(?P<string>(?<!\w)[rRbBfFuU]{0,2}(?:"(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?))"""
    r"""|(?P<comment>\#.*)"""
)

#: Block states: outside any string, or inside a triple-quoted string of either quote.
_NORMAL, _IN_DOUBLE, _IN_SINGLE = -1, 1, 2


class PythonHighlighter(QSyntaxHighlighter):
    """Basic Python colouring: keywords, a few builtins, strings (triple-quoted across
    lines), comments and numbers, in colours for a light or a dark palette."""

    def __init__(self, document: QTextDocument, dark: bool = False) -> None:
        super().__init__(document)
        self._formats: dict[str, QTextCharFormat] = {}
        self._dark = not dark  # force set_dark to build the formats
        self.set_dark(dark)

    def set_dark(self, dark: bool) -> None:
        """Switch colour sets and re-highlight if the palette's darkness changed."""
        if dark == self._dark:
            return
        self._dark = dark
        for kind, (light, dark_color) in _COLORS.items():
            fmt = QTextCharFormat()
            fmt.setForeground(QColor(dark_color if dark else light))
            if kind == "comment":
                fmt.setFontItalic(True)
            if kind == "keyword":
                fmt.setFontWeight(QFont.Weight.DemiBold)
            self._formats[kind] = fmt
        self.rehighlight()

    def format_for(self, kind: str) -> QTextCharFormat:
        """The character format used for ``kind`` (``keyword``, ``string``, ...)."""
        return self._formats[kind]

    def highlightBlock(self, text: str) -> None:
        fmt = self._formats
        for word in _WORD_RE.finditer(text):
            self.setFormat(word.start(), word.end() - word.start(), fmt[word.lastgroup or ""])
        for number in _NUMBER_RE.finditer(text):
            self.setFormat(number.start(), number.end() - number.start(), fmt["number"])

        self.setCurrentBlockState(_NORMAL)
        pos = 0
        state = self.previousBlockState()
        if state in (_IN_DOUBLE, _IN_SINGLE):
            pos = self._close_triple(text, 0, '"""' if state == _IN_DOUBLE else "'''")
            if pos < 0:
                return
        while (match := _SCAN_RE.search(text, pos)) is not None:
            kind = match.lastgroup
            if kind == "comment":
                self.setFormat(match.start(), len(text) - match.start(), fmt["comment"])
                return
            if kind == "string":
                self.setFormat(match.start(), match.end() - match.start(), fmt["string"])
                pos = match.end()
                continue
            quote = match.group()[-3:]
            self.setFormat(match.start(), match.end() - match.start(), fmt["string"])
            pos = self._close_triple(text, match.end(), quote)
            if pos < 0:
                return

    def _close_triple(self, text: str, start: int, quote: str) -> int:
        """Colour up to the closing ``quote``; its end, or -1 if the string goes on."""
        end = text.find(quote, start)
        if end < 0:
            self.setFormat(start, len(text) - start, self._formats["string"])
            self.setCurrentBlockState(_IN_DOUBLE if quote == '"""' else _IN_SINGLE)
            return -1
        self.setFormat(start, end + 3 - start, self._formats["string"])
        return end + 3


def _is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Base).lightness() < 128


class CodeView(QWidget):
    """Read-only, highlighted Python for the current run, with Copy and Save as….

    Signals:
        code_copied: The code went to the clipboard.
        code_saved: The code was written to this path.
    """

    code_copied = Signal()
    code_saved = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._code = ""
        self._shown: tuple[RunSpec | None, str | None] | None = None
        self._pending_path: Path | None = None
        self._dialog: QFileDialog | None = None
        self._build_ui()
        self._highlighter = PythonHighlighter(self._editor.document(), _is_dark(self.palette()))
        self.set_spec(None)

    def _build_ui(self) -> None:
        self._title = QLabel("Python (asyncio + LCEL) that reproduces this run")
        self._title.setObjectName("sectionTitle")
        set_weight(self._title, SEMIBOLD)
        self._copy_button = QPushButton("Copy")
        self._copy_button.setToolTip("Copy the code to the clipboard")
        self._copy_button.clicked.connect(self._on_copy_button_clicked)
        self._save_button = QPushButton("Save as…")
        self._save_button.setToolTip("Save the code as a .py file")
        self._save_button.clicked.connect(self._on_save_button_clicked)

        self._problem = QLabel()
        self._problem.setObjectName("codeProblem")
        self._problem.setWordWrap(True)
        self._problem.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._problem.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)

        self._editor = QPlainTextEdit()
        self._editor.setObjectName("codeEditor")
        self._editor.setReadOnly(True)
        self._editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self._editor.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self._editor.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )

        self._status = QLabel()
        self._status.setObjectName("codeStatus")
        self._replace_button = QPushButton("Replace")
        self._replace_button.clicked.connect(self._on_replace_button_clicked)
        self._keep_button = QPushButton("Cancel")
        self._keep_button.clicked.connect(self._on_keep_button_clicked)
        self._replace_button.hide()
        self._keep_button.hide()

        top = QHBoxLayout()
        top.addWidget(self._title, 1)
        top.addWidget(self._copy_button)
        top.addWidget(self._save_button)
        bottom = QHBoxLayout()
        bottom.addWidget(self._status, 1)
        bottom.addWidget(self._replace_button)
        bottom.addWidget(self._keep_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self._problem)
        layout.addWidget(self._editor, 1)
        layout.addLayout(bottom)

    # ---- API ---------------------------------------------------------------------------------

    def set_spec(self, spec: RunSpec | None, problem: str | None = None) -> None:
        """Show the code for ``spec``, or why there is none.

        Args:
            spec: The run to reproduce, or ``None`` when the window cannot build one.
            problem: Why there is no spec (shown as "Fix the template first: …").
        """
        key = (spec, problem)
        if spec is not None and key == self._shown:
            return  # same run: regenerating a 10,000-row snippet is not free, skip it
        self._shown = key
        message = ""
        code = ""
        if spec is None:
            message = f"Fix the template first: {problem}" if problem else "Nothing to show yet."
        else:
            try:
                code = python_snippet(spec)
            except TemplateError as exc:
                message = f"Fix the template first: {exc}"
            except SpecError as exc:
                message = f"Fix the run first: {exc}"
        self._problem.setText(message)
        self._problem.setVisible(bool(message))
        self._copy_button.setEnabled(bool(code))
        self._save_button.setEnabled(bool(code))
        if code != self._code:
            self._code = code
            self._editor.setPlainText(code)  # one replace; the scroll position starts over
        self._editor.setVisible(bool(code))

    def code(self) -> str:
        """The code shown, or ``""`` when there is none."""
        return self._code

    def problem(self) -> str:
        """Why there is no code (``""`` when there is)."""
        return self._problem.text()

    def highlighter(self) -> PythonHighlighter:
        """The editor's syntax highlighter."""
        return self._highlighter

    # ---- copy and save -----------------------------------------------------------------------

    def _on_copy_button_clicked(self) -> None:
        if not self._code:
            return
        QGuiApplication.clipboard().setText(self._code)
        self._set_status("Copied to the clipboard.")
        self.code_copied.emit()

    def _on_save_button_clicked(self) -> None:
        if not self._code:
            return
        if self._dialog is not None:
            self._dialog.raise_()
            self._dialog.activateWindow()
            return
        dialog = QFileDialog(self, "Save the run as Python", "fanout_run.py", "Python (*.py)")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("py")
        # Qt would confirm a replace with a modal message box (a nested loop): ask inline.
        dialog.setOption(QFileDialog.Option.DontConfirmOverwrite, True)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(self._on_save_dialog_file_selected)
        dialog.finished.connect(self._on_save_dialog_finished)
        self._dialog = dialog
        dialog.open()

    def _on_save_dialog_finished(self, _result: int) -> None:
        self._dialog = None

    def _on_save_dialog_file_selected(self, path: str) -> None:
        target = Path(path)
        if target.exists():
            self._pending_path = target
            self._set_status(f"{target.name} already exists. Replace it?", asking=True)
            return
        self.save_to(target)

    def _on_replace_button_clicked(self) -> None:
        target, self._pending_path = self._pending_path, None
        if target is not None:
            self.save_to(target)

    def _on_keep_button_clicked(self) -> None:
        self._pending_path = None
        self._set_status("Not saved.")

    def save_to(self, path: str | Path) -> bool:
        """Write the code to ``path`` (UTF-8); say in the status line how it went."""
        target = Path(path)
        try:
            target.write_text(self._code, encoding="utf-8")
        except OSError as exc:
            self._set_status(f"Could not save {target.name}: {exc.strerror or exc}")
            return False
        self._set_status(f"Saved to {target}.")
        self.code_saved.emit(str(target))
        return True

    def status(self) -> str:
        """The status line (copy and save outcomes)."""
        return self._status.text()

    def _set_status(self, text: str, asking: bool = False) -> None:
        self._status.setText(text)
        self._replace_button.setVisible(asking)
        self._keep_button.setVisible(asking)

    # ---- palette -----------------------------------------------------------------------------

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._highlighter.set_dark(_is_dark(self.palette()))
        super().changeEvent(event)
