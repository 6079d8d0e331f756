"""One result cell of the grid: title, status chip, the streamed answer and its metrics.

The pane knows nothing about runs or providers: the caller tells it the phase, hands it
the text that arrived since the last frame, then the final answer, an error and metrics.

One ``append_text`` costs the same whatever the document's size, because Qt relayouts only
the paragraph being appended to, in proportion to that paragraph's length (figures in
docs/performance-notes.md). A single long paragraph would cost more every frame, so while
streaming the pane starts a new paragraph at a space once the current one passes
:data:`SOFT_BREAK_CHARS` (a break the eye reads as an early line wrap). The final answer is rendered from the exact source text,
and :meth:`CellPane.text` returns the exact source, so the break is display-only.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, Qt, Signal
from PySide6.QtGui import (
    QGuiApplication,
    QResizeEvent,
    QTextCursor,
    QTextDocument,
    QTextOption,
)
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gui.core.metrics import CellMetrics
from gui.core.runner import Phase
from gui.qt.resources import is_dark, status_colors

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

#: Phases after which a cell has ended.
TERMINAL_PHASES = frozenset(p for p in Phase if p.terminal)

#: While streaming, start a new paragraph at a space once the last one is this long, so
#: each append relayouts at most this much instead of the whole paragraph.
SOFT_BREAK_CHARS = 2000

#: GitHub-flavoured Markdown without raw HTML: models often write tags such as ``<div>`` in
#: prose, which must show as text instead of vanishing into (or being fetched by) the
#: rich-text engine.
#: Answers longer than this stay plain text: a Markdown relayout of them would stall a frame.
MARKDOWN_MAX_CHARS = 50_000

MARKDOWN_FEATURES = (
    QTextDocument.MarkdownFeature.MarkdownDialectGitHub
    | QTextDocument.MarkdownFeature.MarkdownNoHTML
)

_CHIP_STYLE = (
    "QLabel#statusChip {{ background-color: {bg}; color: {fg}; border-radius: 8px;"
    " padding: 1px 8px; font-weight: 600; }}"
)
_ERROR_STYLE = "QLabel#cellError {{ color: {fg}; }}"
_FOLLOW_TOLERANCE_PX = 2


def format_seconds(seconds: float) -> str:
    """``0.31 s``, ``12.3 s``, ``125 s``: three significant figures at most."""
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 100:
        return f"{seconds:.1f} s"
    return f"{seconds:.0f} s"


def format_metrics(metrics: CellMetrics | None) -> str:
    """The footer line: ``first token 0.31 s · 1.52 s · 60 tok · 41 tok/s · 1 retry``.

    Parts whose value is unknown (``None``, or zero tokens and retries) are left out;
    an estimated token count reads ``~60 tok``. An answer the server ended for a reason a
    user must not miss leads the line with its mark (``cut at max tokens · ...``), and a note
    on how the answer came follows it (``not streamed: ...``), as visible as the figures.
    """
    if metrics is None:
        return ""
    parts: list[str] = []
    if metrics.finish_mark:
        parts.append(metrics.finish_mark)
    if metrics.note:
        parts.append(metrics.note)
    if metrics.ttft is not None:
        parts.append(f"first token {format_seconds(metrics.ttft)}")
    if metrics.latency is not None:
        parts.append(format_seconds(metrics.latency))
    if metrics.output_tokens:
        approx = "~" if metrics.tokens_estimated else ""
        parts.append(f"{approx}{metrics.output_tokens} tok")
    if metrics.tokens_per_second is not None:
        tps = metrics.tokens_per_second
        parts.append(f"{tps:.1f} tok/s" if tps < 10 else f"{tps:.0f} tok/s")
    if metrics.retries:
        parts.append(f"{metrics.retries} {'retry' if metrics.retries == 1 else 'retries'}")
    return " · ".join(parts)


def footer_text(metrics: CellMetrics | None, notice: str = "") -> str:
    """The pane's footer: ``notice`` (for example :data:`~gui.core.cleantext.REPLACED_NOTICE`)
    ahead of :func:`format_metrics`, so a note about the text is read before the figures."""
    line = format_metrics(metrics)
    if not notice:
        return line
    return f"{notice} · {line}" if line else notice


def metrics_tooltip(metrics: CellMetrics | None) -> str:
    """The longer explanation shown when hovering the metrics line."""
    if metrics is None:
        return ""
    lines = [f"Queued to end: {format_seconds(metrics.total)}"]
    if metrics.waited:
        lines.append(f"Waited for a slot: {format_seconds(metrics.waited)}")
    if metrics.ttft is not None:
        lines.append(f"Time to first token: {format_seconds(metrics.ttft)}")
    if metrics.latency is not None:
        lines.append(f"Request (last attempt): {format_seconds(metrics.latency)}")
    estimated = " (estimated)" if metrics.tokens_estimated else ""
    lines.append(f"Output tokens: {metrics.output_tokens}{estimated}")
    if metrics.retries:
        lines.append(f"Retries: {metrics.retries}")
    if metrics.finish_reason:
        lines.append(f"Finish reason from the server: {metrics.finish_reason}")
    if metrics.note:
        lines.append(f"Note: {metrics.note}")
    return "\n".join(lines)


def status_text(phase: str, detail: str = "") -> str:
    """What the status chip says for ``phase``; a non-empty ``detail`` wins."""
    return detail or STATUS_TEXT.get(str(phase), str(phase))


def markdown_to_plain(text: str) -> str:
    """The plain text a pane shows after rendering ``text`` as Markdown."""
    doc = QTextDocument()
    doc.setUndoRedoEnabled(False)
    doc.setMarkdown(text, MARKDOWN_FEATURES)
    return doc.toPlainText()


def _with_soft_break(text: str, tail: int) -> tuple[str, int]:
    """``text`` as displayed after a paragraph ``tail`` characters long, and the new tail.

    Replaces the last space of ``text`` by a newline when the paragraph would pass
    :data:`SOFT_BREAK_CHARS`; text without any space gets a break inserted before it only
    once the paragraph is twice that long (long words, CJK, minified code).
    """
    newline = text.rfind("\n")
    new_tail = len(text) - newline - 1 if newline >= 0 else tail + len(text)
    if new_tail <= SOFT_BREAK_CHARS:
        return text, new_tail
    cut = max(text.rfind(" "), newline)
    if cut > newline:
        return text[:cut] + "\n" + text[cut + 1 :], len(text) - cut - 1
    if newline < 0 and tail and new_tail > 2 * SOFT_BREAK_CHARS:
        return "\n" + text, len(text)
    return text, new_tail


class ElidedLabel(QLabel):
    """A one-line label that elides its text to the width it gets, full text in the tooltip."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        # Ignored: the layout may shrink the label to nothing; the elision fills the rest.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.set_full_text(text)

    def full_text(self) -> str:
        """The text before elision."""
        return self._full

    def set_full_text(self, text: str) -> None:
        """Show ``text`` (flattened to one line), elided to the current width."""
        self._full = text
        self.setToolTip(text)
        self._elide()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self._elide()

    def _elide(self) -> None:
        flat = " ".join(self._full.split())
        metrics = self.fontMetrics()
        self.setText(metrics.elidedText(flat, Qt.TextElideMode.ElideRight, max(self.width(), 1)))


class CellPane(QFrame):
    """One (input, model) answer: header with title, status chip and buttons; body; footer.

    Signals:
        cancel_requested(str): the user pressed Cancel; carries :attr:`cell_id`.
        retry_requested(str): the user pressed Retry; carries :attr:`cell_id`.

    The body is one read-only :class:`QTextBrowser` for the whole life of the cell rather
    than a ``QPlainTextEdit`` while streaming swapped for a browser at the end: measured,
    an append costs the same in both (the cost is relaying out the last paragraph), and one
    widget means half the construction cost when the grid materialises rows while
    scrolling, and no widget swap at the end that would drop focus, selection and the
    scroll bar under the user's mouse.
    """

    cancel_requested = Signal(str)
    retry_requested = Signal(str)

    def __init__(self, cell_id: str, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cell_id = cell_id
        self._phase = "queued"
        self._read_only = False
        self._detail = ""
        self._parts: list[str] = []  # exact source text, joined lazily
        self._tail = 0  # characters in the last displayed paragraph
        self._rendered = False  # the document holds rendered Markdown
        self._follow = True  # keep the view at the bottom while text arrives
        self._restoring = False  # ignore scroll bar moves caused by replacing the document
        self._metrics: CellMetrics | None = None
        self._notice = ""
        self._dark = is_dark()
        self._build_ui(title)
        self.set_status(Phase.QUEUED)

    # ----------------------------------------------------------------------------- UI

    def _build_ui(self, title: str) -> None:
        self.setObjectName("cellPane")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setMinimumSize(260, 170)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

        self._title = ElidedLabel(title, self)
        self._title.setObjectName("cellTitle")

        self._chip = QLabel(self)
        self._chip.setObjectName("statusChip")
        self._chip.setTextFormat(Qt.TextFormat.PlainText)

        self._cancel_button = self._tool_button("Cancel", "Cancel this cell")
        self._retry_button = self._tool_button("Retry", "Run this cell again")
        self._copy_button = self._tool_button("Copy", "Copy the answer (Markdown source)")
        self._cancel_button.clicked.connect(self._on_cancel_button_clicked)
        self._retry_button.clicked.connect(self._on_retry_button_clicked)
        self._copy_button.clicked.connect(self._on_copy_button_clicked)

        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.setSpacing(4)
        header.addWidget(self._title, 1)
        header.addWidget(self._chip)
        header.addWidget(self._cancel_button)
        header.addWidget(self._retry_button)
        header.addWidget(self._copy_button)

        self._view = QTextBrowser(self)
        self._view.setObjectName("cellText")
        self._view.setFrameShape(QFrame.Shape.NoFrame)
        self._view.setOpenExternalLinks(True)
        self._view.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self._view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self._view.customContextMenuRequested.connect(self._on_view_context_menu_requested)
        document = self._view.document()
        document.setUndoRedoEnabled(False)  # read-only: an undo stack only costs memory
        document.setDocumentMargin(4)
        self._cursor = QTextCursor(document)  # the append cursor, never the user's one
        bar = self._view.verticalScrollBar()
        bar.valueChanged.connect(self._on_scrollbar_value_changed)
        bar.rangeChanged.connect(self._on_scrollbar_range_changed)

        self._error = QLabel(self)
        self._error.setObjectName("cellError")
        self._error.setWordWrap(True)
        self._error.setTextFormat(Qt.TextFormat.PlainText)
        self._error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._error.hide()

        self._metrics_label = QLabel(self)
        self._metrics_label.setObjectName("cellMetrics")
        self._metrics_label.setTextFormat(Qt.TextFormat.PlainText)
        self._metrics_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(3)
        layout.addLayout(header)
        layout.addWidget(self._view, 1)
        layout.addWidget(self._error)
        layout.addWidget(self._metrics_label)
        self._apply_colors()

    def _tool_button(self, text: str, tip: str) -> QToolButton:
        button = QToolButton(self)
        button.setObjectName("paneButton")
        button.setText(text)
        button.setToolTip(tip)
        button.setAutoRaise(True)
        button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        return button

    # ------------------------------------------------------------------------- public API

    @property
    def phase(self) -> str:
        """The phase last passed to :meth:`set_status`."""
        return self._phase

    def title(self) -> str:
        """The full (unelided) title."""
        return self._title.full_text()

    def set_title(self, title: str) -> None:
        """Change the title."""
        self._title.set_full_text(title)

    def set_status(self, phase: str, detail: str = "") -> None:
        """Show ``phase`` in the chip (``detail``, when given, replaces the default text)."""
        phase = str(phase)
        self._phase, self._detail = phase, detail
        self._chip.setText(status_text(phase, detail))
        self._chip.setToolTip(detail or phase)
        self._apply_chip_colors()
        ended = phase in TERMINAL_PHASES
        # Only the buttons that apply are shown: at the minimum column width a chip and
        # three buttons would leave the title no room at all.
        live = not self._read_only
        self._cancel_button.setEnabled(not ended and live)
        self._cancel_button.setVisible(not ended and live)
        self._retry_button.setEnabled(ended and live)
        self._retry_button.setVisible(ended and live)
        self._copy_button.setVisible(ended)

    def set_read_only(self, read_only: bool) -> None:
        """A past run's pane: no Cancel, no Retry (Copy stays)."""
        self._read_only = read_only
        self.set_status(self._phase, self._detail)

    def append_text(self, text: str) -> None:
        """Append streamed ``text`` (everything since the last frame) as plain text.

        One cursor insert at the end inside one edit block, so the document relayouts
        once per call. The view follows the new text only if it was at the bottom.
        """
        if not text:
            return
        if self._rendered:
            # Text after the final answer (should not happen): go back to plain text.
            self._show_plain(self.source_text())
        self._parts.append(text)
        shown, self._tail = _with_soft_break(text, self._tail)
        cursor = self._cursor
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.beginEditBlock()
        cursor.insertText(shown)
        cursor.endEditBlock()
        if self._follow:
            bar = self._view.verticalScrollBar()
            bar.setValue(bar.maximum())
        self._copy_button.setEnabled(True)

    def set_final_text(self, text: str, markdown: bool = True) -> None:
        """Replace the streamed text by the complete answer, rendered as Markdown once.

        Keeps the reader's place: a view that followed the stream stays at the bottom,
        otherwise the same fraction of the document stays in view, and a selection that
        still exists verbatim in the rendered text stays selected.
        """
        already_shown = "".join(self._parts) == text and not self._rendered
        self._parts = [text]
        if len(text) > MARKDOWN_MAX_CHARS:
            # Re-laying out a huge answer as Markdown froze the loop visibly; the streamed
            # plain text stays, exactly as the reader watched it arrive.
            markdown = False
            if already_shown:
                return
        bar = self._view.verticalScrollBar()
        # A reader who never saw the stream (non-streaming call, or a pane created after
        # the cell ended) starts at the top; one who watched it keeps their place.
        follow = self._follow and not self._view.document().isEmpty()
        fraction = bar.value() / bar.maximum() if bar.maximum() > 0 else 0.0
        selected = self._view.textCursor().selectedText()
        self._restoring = True
        try:
            if markdown:
                self._view.document().setMarkdown(text, MARKDOWN_FEATURES)
                self._rendered = True
            else:
                # Exact text: no soft breaks needed once nothing is appended any more.
                self._view.document().setPlainText(text)
                self._rendered = False
            self._tail = 0
            self._reselect(selected)
            # Finish the layout now so the scroll range is final before restoring.
            self._view.document().documentLayout().documentSize()
        finally:
            self._restoring = False
        self._follow = follow
        bar.setValue(bar.maximum() if follow else round(fraction * bar.maximum()))
        self._copy_button.setEnabled(bool(text))

    def set_error(self, message: str) -> None:
        """Show a one-line error above the metrics (empty ``message`` hides it)."""
        self._error.setText(message)
        self._error.setToolTip(message)
        self._error.setVisible(bool(message))

    def error_text(self) -> str:
        """The error shown, or ``""``."""
        return self._error.text()

    def set_metrics(self, metrics: CellMetrics | None) -> None:
        """Show ``metrics`` in the footer (``None`` clears it)."""
        self._metrics = metrics
        self._show_footer()

    def set_notice(self, notice: str) -> None:
        """Say ``notice`` (one line about the text, e.g. that invalid characters were
        replaced) at the head of the footer; ``""`` removes it."""
        self._notice = notice
        self._show_footer()

    def notice(self) -> str:
        """The notice shown, or ``""``."""
        return self._notice

    def metrics_text(self) -> str:
        """The footer line shown (the notice, then the metrics)."""
        return self._metrics_label.text()

    def _show_footer(self) -> None:
        self._metrics_label.setText(footer_text(self._metrics, self._notice))
        tip = metrics_tooltip(self._metrics)
        if self._notice:
            tip = f"{self._notice}\n{tip}" if tip else self._notice
        self._metrics_label.setToolTip(tip)

    def reset(self) -> None:
        """Back to queued with no text, error or metrics (a retry starts here)."""
        self._restoring = True
        try:
            self._view.document().clear()
        finally:
            self._restoring = False
        self._parts = []
        self._tail = 0
        self._rendered = False
        self._follow = True
        self.set_error("")
        self._notice = ""
        self.set_metrics(None)
        self.set_status(Phase.QUEUED)
        self._copy_button.setEnabled(False)

    def text(self) -> str:
        """The plain text shown: the rendered answer once Markdown is rendered, else the
        exact text received (without the display-only soft breaks)."""
        if self._rendered:
            return self._view.document().toPlainText()
        return self.source_text()

    def source_text(self) -> str:
        """The answer exactly as received (Markdown source once final)."""
        if len(self._parts) > 1:
            self._parts = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    # --------------------------------------------------------------------------- internals

    def _show_plain(self, text: str) -> None:
        """Replace the document by plain ``text`` with the same soft breaks as streaming."""
        shown, self._tail = _with_soft_break(text, 0)
        self._view.document().setPlainText(shown)
        self._rendered = False

    def _reselect(self, selected: str) -> None:
        # selectedText() separates paragraphs with U+2029 and find() never crosses one.
        if not selected or "\u2029" in selected:
            return
        found = self._view.document().find(selected)
        if not found.isNull():
            self._view.setTextCursor(found)

    def _apply_colors(self) -> None:
        self._dark = is_dark()
        self._apply_chip_colors()
        _, fg = status_colors(Phase.FAILED)
        self._error.setStyleSheet(_ERROR_STYLE.format(fg=fg.name()))

    def _apply_chip_colors(self) -> None:
        bg, fg = status_colors(self._phase)
        self._chip.setStyleSheet(_CHIP_STYLE.format(bg=bg.name(), fg=fg.name()))

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            if is_dark() != self._dark:  # light <-> dark theme switch
                self._apply_colors()

    # ------------------------------------------------------------------------------ slots

    def _on_cancel_button_clicked(self) -> None:
        self.cancel_requested.emit(self.cell_id)

    def _on_retry_button_clicked(self) -> None:
        self.retry_requested.emit(self.cell_id)

    def _on_copy_button_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.source_text())

    def _on_scrollbar_value_changed(self, value: int) -> None:
        if not self._restoring:
            bar = self._view.verticalScrollBar()
            self._follow = value >= bar.maximum() - _FOLLOW_TOLERANCE_PX

    def _on_scrollbar_range_changed(self, _minimum: int, maximum: int) -> None:
        # Layout may finish after the insert (hidden or large documents): keep following.
        if self._follow and not self._restoring:
            self._view.verticalScrollBar().setValue(maximum)

    def _on_view_context_menu_requested(self, pos: QPoint) -> None:
        menu = self._view.createStandardContextMenu(pos)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.addSeparator()
        copy_source = menu.addAction("Copy answer")
        copy_source.setEnabled(bool(self.source_text()))
        copy_source.triggered.connect(self._on_copy_button_clicked)
        copy_plain = menu.addAction("Copy answer as plain text")
        copy_plain.setEnabled(bool(self.source_text()))
        copy_plain.triggered.connect(self._on_copy_plain_action_triggered)
        # popup(), never exec(): a nested event loop would stall the qasync tasks.
        menu.popup(self._view.viewport().mapToGlobal(pos))

    def _on_copy_plain_action_triggered(self) -> None:
        QGuiApplication.clipboard().setText(self.text())


__all__ = [
    "STATUS_TEXT",
    "TERMINAL_PHASES",
    "CellPane",
    "ElidedLabel",
    "footer_text",
    "format_metrics",
    "markdown_to_plain",
    "status_text",
]
