"""The prompt editor: a template with ``{variables}`` highlighted as you type, problems said inline.

The template is parsed by :func:`gui.core.templates.template_variables` (the same parser the engine
validates with) on a 150 ms single-shot timer that restarts on every keystroke, so typing into a
100 KB prompt costs one timer restart per key; only the syntax highlighter runs per key, and only
on the paragraph being edited.

Variables are checked against the input columns the window passes to :meth:`PromptEditor.set_columns`
(normally :attr:`gui.qt.views.inputs_table.InputsTable.columns_changed`): a variable without a
column is *unknown* (red wavy underline, blocks a run), a column without a variable is *unused*
(a grey warning that does not block).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Literal

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QKeyEvent,
    QPalette,
    QSyntaxHighlighter,
    QTextCharFormat,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QSizePolicy,
    QTabBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gui.core.errors import TemplateError
from gui.core.templates import suggest_name, template_variables, unescaped_tokens
from gui.core.variant_ids import variant_id
from gui.qt.looks import ISSUE_RED

__all__ = ["DEBOUNCE_MS", "PLACEHOLDER", "IssueLabel", "PromptEditor", "VariantTabs"]

#: Placeholder text of the empty template editor.
PLACEHOLDER = (
    "Tell me a joke about {topic}   — use {variables} to fill from the inputs; Ctrl+Enter runs"
)

#: Quiet time after the last keystroke before the template is parsed again.
DEBOUNCE_MS = 150

Severity = Literal["error", "warning", "info"]

# Tokens come from gui.core.templates.unescaped_tokens: the engine's own scan (the check in
# template_variables), so what is red here is exactly what blocks a run.


def _is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Base).lightness() < 128


def _error_color(palette: QPalette) -> QColor:
    """Red that reads on the palette's background (the light one is :data:`gui.qt.looks.ISSUE_RED`)."""
    return QColor("#ff8a80") if _is_dark(palette) else QColor(ISSUE_RED)


class IssueLabel(QLabel):
    """A word-wrapped line under an editor that says what is wrong, hidden when all is well.

    ``objectName`` is ``inlineIssue``; the dynamic property ``severity`` is ``error``,
    ``warning`` (greyer, not blocking) or ``info``. Colours follow the palette, so the text
    stays readable in dark themes.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("inlineIssue")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.LinksAccessibleByMouse
            | Qt.TextInteractionFlag.LinksAccessibleByKeyboard
        )
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self._severity: Severity = "error"
        self._message: str | None = None
        self.hide()

    def message(self) -> str | None:
        """The message shown (without any action link), or ``None`` when hidden."""
        return self._message

    def severity(self) -> Severity:
        """Severity of the message shown."""
        return self._severity

    def show_message(
        self, message: str | None, severity: Severity = "error", action: str | None = None
    ) -> None:
        """Show ``message`` (``None`` or empty hides the label).

        Args:
            message: One or more lines of plain text.
            severity: ``error`` (red), ``warning`` (grey) or ``info`` (normal text).
            action: Text of a link placed after the message; clicking it emits
                ``linkActivated("action")``.
        """
        if not message:
            self._message = None
            self.clear()
            self.hide()
            return
        self._message = message
        self._severity = severity
        self.setProperty("severity", severity)
        if action:
            import html  # only a message with a link needs escaping: not the first frame

            self.setTextFormat(Qt.TextFormat.RichText)
            body = html.escape(message).replace("\n", "<br>")
            self.setText(f'{body} <a href="action">{html.escape(action)}</a>')
        else:
            self.setTextFormat(Qt.TextFormat.PlainText)
            self.setText(message)
        self._apply_colour()
        self.show()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_colour()

    def _apply_colour(self) -> None:
        # A style sheet of its own (a shown message only): warnings grey, errors a red that
        # reads on dark backgrounds too, each following the palette's roles.
        if self._severity == "error":
            colour = _error_color(self.palette()).name()
        elif self._severity == "warning":
            colour = "palette(placeholder-text)"
        else:
            colour = "palette(window-text)"
        sheet = f"color: {colour};"
        if self.styleSheet() != sheet:  # re-polishing sends PaletteChange: do it only once
            self.setStyleSheet(sheet)


class _TemplateEdit(QPlainTextEdit):
    """A plain text editor that reports Ctrl+Enter / Ctrl+Return instead of inserting a newline."""

    submitted = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and (
            event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            event.accept()
            self.submitted.emit()
            return
        super().keyPressEvent(event)


class _VariableHighlighter(QSyntaxHighlighter):
    """Colours ``{name}`` fields; unknown names and malformed braces get a red wavy underline.

    ``{{`` and ``}}`` are literal braces, not variables. Runs per paragraph (block), which is
    what keeps typing cheap: Qt re-highlights only the blocks an edit touched.
    """

    def __init__(self, document: QTextDocument) -> None:
        super().__init__(document)
        self._known: frozenset[str] | None = None
        self._variable = QTextCharFormat()
        self._unknown = QTextCharFormat()
        self._error = QTextCharFormat()

    def set_palette(self, palette: QPalette) -> None:
        """Rebuild the formats from ``palette`` (light or dark) and re-highlight."""
        accent = palette.color(QPalette.ColorRole.Link)
        background = QColor(accent)
        background.setAlpha(40)
        red = _error_color(palette)
        wave = QTextCharFormat.UnderlineStyle.WaveUnderline

        self._variable = QTextCharFormat()
        self._variable.setForeground(accent)
        self._variable.setBackground(background)

        self._unknown = QTextCharFormat(self._variable)
        self._unknown.setUnderlineStyle(wave)
        self._unknown.setUnderlineColor(red)
        self._unknown.setToolTip("Not an input column")

        self._error = QTextCharFormat()
        self._error.setForeground(red)
        self._error.setUnderlineStyle(wave)
        self._error.setUnderlineColor(red)
        self.rehighlight()

    def set_known(self, names: Iterable[str] | None) -> None:
        """Names that count as known (``None``: every name does). Re-highlights on change."""
        known = None if names is None else frozenset(names)
        if known != self._known:
            self._known = known
            self.rehighlight()

    def highlightBlock(self, text: str) -> None:
        if "{" not in text and "}" not in text:
            return
        to_utf16 = _utf16_position(text)
        for match in unescaped_tokens(text):
            field = match.group(1)
            if field is None:  # a stray brace
                fmt = self._error
            else:
                name = field
                if not name.isidentifier():  # JSON, code, a format spec: not a variable
                    fmt = self._error
                elif self._known is not None and name not in self._known:
                    fmt = self._unknown
                else:
                    fmt = self._variable
            start = to_utf16(match.start())
            self.setFormat(start, to_utf16(match.end()) - start, fmt)


def _utf16_position(text: str) -> Callable[[int], int]:
    """Map Python string indices of ``text`` to the UTF-16 positions Qt counts in.

    Characters outside the BMP (most emoji) are one ``str`` index but two UTF-16 units; without
    this a highlight after an emoji would land one character early. Indices must be asked for in
    increasing order (they are: regex matches run left to right).
    """
    if text.isascii() or all(c <= "\uffff" for c in text):
        return lambda index: index
    state = [0, 0]  # last str index, astral characters before it

    def position(index: int) -> int:
        last, astral = state
        astral += sum(1 for c in text[last:index] if c > "\uffff")
        state[0], state[1] = index, astral
        return index + astral

    return position


class VariantTabs(QWidget):
    """Tabs A, B, C... over one text editor, with a "+" to add a variant (issue 15).

    The editor shows the current tab's text; the others are kept here. A tab closes with its
    close button (the last one cannot).

    Signals:
        variants_changed: A variant was added or removed, or the current tab changed.
    """

    variants_changed = Signal()

    #: Most variants one editor holds.
    MAX_VARIANTS = 8

    def __init__(self, editor: QPlainTextEdit, what: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._editor = editor
        self._what = what
        self._texts: list[str] = [""]
        self._current = 0
        self._build_ui()

    def _build_ui(self) -> None:
        self.tab_bar = QTabBar(self)
        self.tab_bar.setObjectName(f"{self._what.split()[0].lower()}VariantTabs")
        self.tab_bar.setAccessibleName(f"{self._what} variants")
        self.tab_bar.setDocumentMode(True)
        self.tab_bar.setDrawBase(False)
        self.tab_bar.setTabsClosable(True)
        self.tab_bar.setExpanding(False)
        self.tab_bar.addTab("A")
        self.tab_bar.currentChanged.connect(self._on_tab_bar_current_changed)
        self.tab_bar.tabCloseRequested.connect(self._on_tab_bar_tab_close_requested)
        self.add_button = QToolButton(self)
        self.add_button.setText("+")
        self.add_button.setAutoRaise(True)
        self.add_button.setToolTip(
            f"Add a {self._what.lower()} variant: each variant is a column group (A, B, ...)"
        )
        self.add_button.setAccessibleName(f"Add a {self._what.lower()} variant")
        self.add_button.clicked.connect(self._on_add_button_clicked)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.tab_bar)
        layout.addWidget(self.add_button)
        layout.addStretch(1)
        self._sync_tabs()

    def texts(self) -> list[str]:
        """Every variant's text, A first (the current one as the editor holds it)."""
        texts = list(self._texts)
        texts[self._current] = self._editor.toPlainText()
        return texts

    def set_texts(self, texts: Sequence[str]) -> None:
        """Replace the variants (at least one) and show A."""
        self._texts = list(texts) or [""]
        self._current = 0
        self._sync_tabs()
        self._editor.setPlainText(self._texts[0])

    def add_variant(self, text: str = "") -> None:
        """Add a variant (a copy of the current text unless ``text``) and show it."""
        if len(self._texts) >= self.MAX_VARIANTS:
            return
        self._texts = self.texts()
        self._texts.append(text or self._editor.toPlainText())
        self._sync_tabs()
        self.tab_bar.setCurrentIndex(len(self._texts) - 1)

    def remove_variant(self, index: int) -> None:
        """Remove variant ``index`` (never the last one left)."""
        if len(self._texts) <= 1 or not 0 <= index < len(self._texts):
            return
        self._texts = self.texts()
        del self._texts[index]
        self._current = min(self._current, len(self._texts) - 1)
        self._sync_tabs()
        self._editor.setPlainText(self._texts[self._current])
        self.variants_changed.emit()

    def current(self) -> int:
        """The tab shown."""
        return self._current

    def _sync_tabs(self) -> None:
        bar = self.tab_bar
        bar.blockSignals(True)
        while bar.count() > len(self._texts):
            bar.removeTab(bar.count() - 1)
        while bar.count() < len(self._texts):
            bar.addTab("")
        for i in range(bar.count()):
            bar.setTabText(i, variant_id(i))
            bar.setTabToolTip(i, f"{self._what} variant {variant_id(i)}")
        bar.setTabsClosable(len(self._texts) > 1)
        bar.setCurrentIndex(self._current)
        bar.blockSignals(False)
        # One variant needs no tabs: only the "+" shows, so a plain prompt looks as before.
        bar.setVisible(len(self._texts) > 1)
        self.add_button.setEnabled(len(self._texts) < self.MAX_VARIANTS)

    def _on_tab_bar_current_changed(self, index: int) -> None:
        if index < 0 or index == self._current or index >= len(self._texts):
            return
        self._texts[self._current] = self._editor.toPlainText()
        self._current = index
        self._editor.setPlainText(self._texts[index])
        self.variants_changed.emit()

    def _on_tab_bar_tab_close_requested(self, index: int) -> None:
        self.remove_variant(index)

    def _on_add_button_clicked(self) -> None:
        self.add_variant()
        self.variants_changed.emit()


class PromptEditor(QWidget):
    """Template editor with an optional system message and an inline issue line.

    Signals:
        template_changed: The template text changed (debounced, ~150 ms after typing stops).
        variables_changed(list): The template's variables changed (set or order); carries
            ``list[str]``. Not emitted while the template is malformed: see :meth:`variables`.
        run_requested: Ctrl+Enter / Ctrl+Return in the template or system editor.
    """

    template_changed = Signal()
    variables_changed = Signal(list)
    run_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._variables: list[str] = []
        self._error: str | None = None
        self._parsed_text = ""
        self._columns: list[str] | None = None
        self._pushed_issue: str | None = None
        self._build_ui()
        self._variables, self._error = _parse("", [])
        self._highlighter.set_palette(self._editor.palette())
        self._refresh_issue()

    def _build_ui(self) -> None:
        # The template editor is created first so that it is the first QPlainTextEdit child
        # (findChild finds it, not the system editor); layout and tab order put it below.
        self._editor = _TemplateEdit(self)
        self._editor.setObjectName("templateEditor")
        self._editor.setAccessibleName("Prompt template")
        self._editor.setPlaceholderText(PLACEHOLDER)
        self._editor.setTabStopDistance(4 * self._editor.fontMetrics().horizontalAdvance(" "))
        self._editor.submitted.connect(self._on_editor_submitted)
        self._editor.textChanged.connect(self._on_editor_text_changed)
        self._highlighter = _VariableHighlighter(self._editor.document())

        self._system_toggle = QToolButton(self)
        self._system_toggle.setObjectName("systemToggle")
        self._system_toggle.setText("System message")
        self._system_toggle.setCheckable(True)
        self._system_toggle.setAutoRaise(True)
        self._system_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self._system_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self._system_toggle.setToolTip("Optional instructions sent before the prompt")
        self._system_toggle.toggled.connect(self._on_system_toggle_toggled)

        self._system_edit = _TemplateEdit(self)
        self._system_edit.setObjectName("systemEditor")
        self._system_edit.setAccessibleName("System message")
        self._system_edit.setPlaceholderText(
            "Optional system message, e.g. You are a concise assistant."
        )
        self._system_edit.setTabChangesFocus(True)
        frame = 2 * self._system_edit.frameWidth() + 2 * int(
            self._system_edit.document().documentMargin()
        )
        self._system_edit.setFixedHeight(self._system_edit.fontMetrics().lineSpacing() * 4 + frame)
        self._system_edit.setVisible(False)
        self._system_edit.submitted.connect(self._on_editor_submitted)
        self._system_edit.textChanged.connect(self._on_system_edit_text_changed)

        self._issue = IssueLabel(self)
        self.template_tabs = VariantTabs(self._editor, "Prompt", self)
        self.template_tabs.variants_changed.connect(self._on_template_tabs_variants_changed)
        self.system_tabs = VariantTabs(self._system_edit, "System message", self)
        self.system_tabs.setVisible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        system_row = QHBoxLayout()
        system_row.setContentsMargins(0, 0, 0, 0)
        system_row.addWidget(self._system_toggle, 0, Qt.AlignmentFlag.AlignLeft)
        system_row.addWidget(self.system_tabs, 1)
        layout.addLayout(system_row)
        layout.addWidget(self._system_edit)
        layout.addWidget(self.template_tabs)
        layout.addWidget(self._editor, 1)
        layout.addWidget(self._issue)
        QWidget.setTabOrder(self._system_toggle, self._system_edit)
        QWidget.setTabOrder(self._system_edit, self._editor)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self._on_debounce_timeout)

    # -- public API -------------------------------------------------------------------------

    @property
    def editor(self) -> QPlainTextEdit:
        """The template text editor (for focus handling and tests)."""
        return self._editor

    @property
    def system_editor(self) -> QPlainTextEdit:
        """The system message editor (hidden until expanded)."""
        return self._system_edit

    @property
    def issue_label(self) -> IssueLabel:
        """The inline issue line under the template."""
        return self._issue

    def template(self) -> str:
        """The template text as typed (variant A's when there are variants)."""
        return self.template_tabs.texts()[0]

    @property
    def parse_pending(self) -> bool:
        """Whether an edit waits for its parse (the user is typing): a reader that can wait
        for :attr:`template_changed` should, instead of forcing the parse now."""
        return self._debounce.isActive()

    def set_template(self, text: str) -> None:
        """Replace the template (and drop any variants) and parse it at once (signals are
        emitted before returning)."""
        self.set_templates([text])

    def templates(self) -> list[str]:
        """Every prompt variant's template, A first."""
        return self.template_tabs.texts()

    def set_templates(self, texts: Sequence[str]) -> None:
        """Replace the prompt variants (A first) and parse them at once."""
        self.template_tabs.set_texts(texts)
        self._reparse()

    def system(self) -> str | None:
        """The system message (variant A's), stripped, or ``None`` when it is empty."""
        text = self.system_tabs.texts()[0].strip()
        return text or None

    def system_variants(self) -> list[str]:
        """The system messages after A, stripped (empty ones kept: the run refuses them)."""
        return [t.strip() for t in self.system_tabs.texts()[1:]]

    def set_system(self, text: str | None) -> None:
        """Replace the system message (and drop any variants); a non-empty one expands the
        section."""
        self.set_systems([text or ""])

    def set_systems(self, texts: Sequence[str]) -> None:
        """Replace the system messages (A first); a non-empty one expands the section."""
        self.system_tabs.set_texts(list(texts) or [""])
        if any(t.strip() for t in texts):
            self._system_toggle.setChecked(True)

    def variables(self) -> list[str]:
        """The template's variables in order of first use.

        While the template is malformed (say ``{to`` half typed) this keeps the last valid
        parse, so the inputs table does not drop and re-add its columns on every keystroke;
        :meth:`blocking_issue` is what says the template cannot run. An empty template, or one
        never parsed successfully, has no variables.
        """
        self._flush()
        return list(self._variables)

    def set_columns(self, columns: Sequence[str]) -> None:
        """The input columns, against which variables are flagged unknown and columns unused."""
        columns = list(columns)
        if columns == self._columns:
            return
        self._columns = columns
        self._highlighter.set_known(columns)
        self._refresh_issue()

    def blocking_issue(self) -> str | None:
        """Why the prompt cannot run (template error or unknown variable), or ``None``."""
        self._flush()
        if self._error is not None:
            return self._error
        empty = [variant_id(i) for i, t in enumerate(self.templates()) if i and not t.strip()]
        if empty:
            return f"Prompt variant {empty[0]} is empty. Write its prompt or close its tab."
        unknown = self._unknown_variables()
        return _unknown_message(unknown, self._columns or []) if unknown else None

    def show_issue(self, message: str | None) -> None:
        """Show a message from outside (e.g. run validation) until the template is edited.

        ``None`` removes it and goes back to the editor's own findings.
        """
        self._pushed_issue = message or None
        self._refresh_issue()

    # -- internals --------------------------------------------------------------------------

    def _flush(self) -> None:
        """Parse now if a debounced parse is pending, so answers match what is on screen."""
        if self._debounce.isActive():
            self._reparse()

    def _reparse(self) -> None:
        self._debounce.stop()
        texts = self.template_tabs.texts()
        text = "\x00".join(texts)
        if text == self._parsed_text:
            return
        self._parsed_text = text
        self._pushed_issue = None
        names, self._error = _parse_all(texts, self._variables)
        if names != self._variables:
            self._variables = names
            # The window typically answers by reshaping the inputs table, which calls
            # set_columns() back: the issue line below then sees the new columns.
            self.variables_changed.emit(list(names))
        self._refresh_issue()
        self.template_changed.emit()

    def _unknown_variables(self) -> list[str]:
        if self._columns is None:
            return []
        return [v for v in self._variables if v not in self._columns]

    def _refresh_issue(self) -> None:
        if self._pushed_issue:
            self._issue.show_message(self._pushed_issue, "error")
            return
        if not self._parsed_text.replace("\x00", "").strip():
            # An empty editor shows its placeholder, not an error; blocking_issue() still says it.
            self._issue.show_message(None)
            return
        if self._error is not None:
            self._issue.show_message(self._error, "error")
            return
        unknown = self._unknown_variables()
        if unknown:
            self._issue.show_message(_unknown_message(unknown, self._columns or []), "error")
            return
        unused = [c for c in self._columns or [] if c not in self._variables]
        self._issue.show_message(
            _unused_message(unused, self._variables) if unused else None, "warning"
        )

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.StyleChange):
            self._highlighter.set_palette(self._editor.palette())

    # -- slots ------------------------------------------------------------------------------

    def _on_editor_text_changed(self) -> None:
        self._debounce.start()  # restarts: the parse waits for a pause in typing

    def _on_debounce_timeout(self) -> None:
        self._reparse()

    def _on_editor_submitted(self) -> None:
        self._flush()
        self.run_requested.emit()

    def _on_template_tabs_variants_changed(self) -> None:
        self._reparse()

    def _on_system_toggle_toggled(self, checked: bool) -> None:
        self._system_edit.setVisible(checked)
        self.system_tabs.setVisible(checked)
        self._system_toggle.setArrowType(
            Qt.ArrowType.DownArrow if checked else Qt.ArrowType.RightArrow
        )
        self._update_system_toggle_text()
        if checked:
            self._system_edit.setFocus(Qt.FocusReason.OtherFocusReason)

    def _on_system_edit_text_changed(self) -> None:
        self._update_system_toggle_text()

    def _update_system_toggle_text(self) -> None:
        # Collapsed but set: say so, or a hidden system message silently changes every answer.
        hidden_but_set = not self._system_toggle.isChecked() and self.system() is not None
        self._system_toggle.setText("System message (set)" if hidden_but_set else "System message")


def _parse_all(texts: Sequence[str], previous: list[str]) -> tuple[list[str], str | None]:
    """(variables, error) of every prompt variant: the union of their variables, in order
    of first use, and the first error (naming its variant when there are several)."""
    if len(texts) == 1:
        return _parse(texts[0], previous)
    names: dict[str, None] = {}
    error: str | None = None
    for i, text in enumerate(texts):
        found, problem = _parse(text, previous)
        names.update(dict.fromkeys(found))
        if problem is not None and error is None and text.strip():
            error = f"Variant {variant_id(i)}: {problem}"
    return list(names), error


def _parse(text: str, previous: list[str]) -> tuple[list[str], str | None]:
    """(variables, error) of ``text``; a malformed template keeps ``previous`` variables."""
    try:
        return template_variables(text), None
    except TemplateError as exc:
        return ([] if not text.strip() else list(previous)), str(exc)


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def _unknown_message(unknown: list[str], columns: Sequence[str]) -> str:
    fields = ", ".join(f"{{{n}}}" for n in unknown)
    if len(unknown) == 1:
        guess = suggest_name(unknown[0], [c for c in columns if c not in unknown])
        if guess is not None:  # a typo of a column that exists: {topc} for 'topic'
            return (
                f"Unknown variable {fields}: did you mean {{{guess}}}? "
                f"(or add a column {_quoted(unknown)} to the inputs)"
            )
        return f"Unknown variable {fields}: add a column {_quoted(unknown)} to the inputs"
    return f"Unknown variables {fields}: add columns {_quoted(unknown)} to the inputs"


def _unused_message(unused: list[str], variables: Sequence[str]) -> str:
    if len(unused) == 1:
        message = f"Column {_quoted(unused)} is not used by the template"
        # A file's 'topic' next to the template's {topc}: most likely a typo in the template.
        meant = suggest_name(unused[0], variables)
        if meant is not None:
            message += f" (did you mean {{{unused[0]}}} instead of {{{meant}}}?)"
        return message
    return f"Columns {_quoted(unused)} are not used by the template"
