"""One result cell of the grid: title, status chip, the streamed answer and its metrics.

The pane knows nothing about runs or providers: the caller tells it the phase, hands it
the text that arrived since the last frame, then the final answer, an error and metrics.

The answer is a :class:`~gui.qt.widgets.markdown_view.MarkdownView` for the whole life of the
cell: Markdown is rendered while it streams (only the block being written is re-rendered),
and the final answer is the same view finished, so nothing jumps at the end. A raw mode shows
the source instead (per pane from the view's context menu, or for every pane through
:meth:`CellPane.set_raw`).

A structured run's answer that is JSON (issue 15) shows as the Focus view's collapsible tree
(:class:`~gui.qt.widgets.json_tree.JsonTree`) once the cell has its schema verdict, with a
Tree / Text button in the header to see the answer itself; the tree is built then, once,
never while the answer streams.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QRectF, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QGuiApplication,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gui.core.caching import CACHED_MARK
from gui.core.checks import CheckResult
from gui.core.judging import JudgeVerdict, verdict_detail, verdict_label
from gui.core.metrics import CellMetrics
from gui.core.pricing import format_usd
from gui.core.ratings import Rating, rating_text
from gui.core.runner import Phase
from gui.core.structured import parsed_answer, schema_mark
from gui.qt.looks import SEMIBOLD, dim_text, set_weight
from gui.qt.widgets.check_chips import CheckChips, pass_rate_level
from gui.qt.widgets.elided_label import ElidedLabel
from gui.qt.widgets.json_tree import JsonTree
from gui.qt.widgets.markdown_view import SOFT_BREAK_CHARS, MarkdownView, markdown_to_plain
from gui.qt.widgets.rating_bar import add_rating_menu, rating_of_action
from gui.qt.widgets.status_chip import (
    STATUS_TEXT,
    ChipLabel,
    PaneButton,
    ProblemLabel,
    StatusChip,
    status_text,
)

#: Phases after which a cell has ended.
TERMINAL_PHASES = frozenset(p for p in Phase if p.terminal)

#: A chip text this short ("streaming", "cancelled") is never cut.
_WHOLE_CHIP_CHARS = 12
#: The pane's outline by its ``checks`` property (the pass rate of the run's checks on the
#: answer, :func:`~gui.qt.widgets.check_chips.pass_rate_level`): 2 px of this colour.
_CHECKS_BORDER = {"pass": "#2e7d32", "mixed": "#c77700", "fail": "#c62828"}
#: The outline's corner radius, px.
_BORDER_RADIUS = 6


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
    parts: list[str] = _cache_and_schema_marks(metrics)
    if metrics.finish_mark:
        parts.append(metrics.finish_mark)
    if metrics.note:
        parts.append(metrics.note)
    # A cached answer's replay took no time worth showing: the figures are the request that
    # first got it (the tooltip says so), and a replay has no speed.
    cached = metrics.cached
    ttft = metrics.original_ttft if cached else metrics.ttft
    latency = metrics.original_latency if cached else metrics.latency
    if ttft is not None:
        parts.append(f"first token {format_seconds(ttft)}")
    if latency is not None:
        parts.append(format_seconds(latency))
    if metrics.output_tokens:
        approx = "~" if metrics.tokens_estimated else ""
        parts.append(f"{approx}{metrics.output_tokens} tok")
    if metrics.tokens_per_second is not None and not cached:
        tps = metrics.tokens_per_second
        parts.append(f"{tps:.1f} tok/s" if tps < 10 else f"{tps:.0f} tok/s")
    if metrics.retries:
        parts.append(f"{metrics.retries} {'retry' if metrics.retries == 1 else 'retries'}")
    cost = cost_text(metrics)
    if cost:
        parts.append(cost)
    return " · ".join(parts)


#: The mark of an answer that came through a provider's Batch API (issue 16).
BATCH_MARK = "batch"


def cost_text(metrics: CellMetrics | None) -> str:
    """A cell's cost for its footer or tile: ``$0.0123`` (``~`` when a count is estimated),
    ``no price`` for a model without one, ``""`` when it is free, sent nothing, or was
    recorded before costs were."""
    if metrics is None or metrics.started_at is None:
        return ""
    if metrics.cost_usd is None:
        # Metrics recorded before costs were (no input tokens either) say nothing.
        return "no price" if metrics.input_tokens else ""
    if metrics.cost_usd == 0:
        return ""
    return format_usd(metrics.cost_usd, estimated=metrics.any_estimated)


def _cache_and_schema_marks(metrics: CellMetrics) -> list[str]:
    """Issue 15's marks, first on the line: ``schema ✗`` (or ✓) and ``cached``."""
    marks: list[str] = []
    mark = schema_mark(metrics.schema_valid)
    if mark:
        marks.append(mark)
    if metrics.cached:
        marks.append(CACHED_MARK)
    if metrics.batch:  # issue 16: its cost is the batch price, and it has no timings
        marks.append(BATCH_MARK)
    return marks


def _cache_and_schema_tooltip(metrics: CellMetrics) -> list[str]:
    """The tooltip's lines on where a cached answer came from and why a schema failed."""
    lines: list[str] = []
    if metrics.cached:
        original = []
        if metrics.original_ttft is not None:
            original.append(f"first token {format_seconds(metrics.original_ttft)}")
        if metrics.original_latency is not None:
            original.append(format_seconds(metrics.original_latency))
        first = f" The original request: {', '.join(original)}." if original else ""
        lines.append(f"Served from the response cache: no request, no cost.{first}")
    if metrics.batch:
        lines.append(
            "Sent through the provider's Batch API: no timings of its own; "
            "its cost is at the batch price."
        )
    if metrics.schema_error:
        lines.append(f"Schema: {metrics.schema_error}")
    elif metrics.schema_valid:
        lines.append("The answer follows the run's JSON schema.")
    return lines


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
    if metrics.started_at is not None and (metrics.input_tokens or metrics.cost_usd is not None):
        estimated = " (estimated: characters / 4)" if metrics.input_estimated else ""
        lines.append(f"Input tokens: {metrics.input_tokens}{estimated}")
        lines.append(
            "Cost: "
            + format_usd(metrics.cost_usd, estimated=metrics.any_estimated)
            + ("" if metrics.cost_usd is not None else " (the model is not in the price table)")
        )
    if metrics.retries:
        lines.append(f"Retries: {metrics.retries}")
    if metrics.finish_reason:
        lines.append(f"Finish reason from the server: {metrics.finish_reason}")
    if metrics.note:
        lines.append(f"Note: {metrics.note}")
    lines.extend(_cache_and_schema_tooltip(metrics))
    return "\n".join(lines)


class CellPane(QFrame):
    """One (input, model) answer: header with title, status chip and buttons; body; footer.

    Signals:
        cancel_requested(str): the user pressed Cancel; carries :attr:`cell_id`.
        retry_requested(str): the user pressed Retry; carries :attr:`cell_id`.
        diff_requested(str): the user chose "Diff with…" in the answer's context menu;
            carries :attr:`cell_id` (the results view then asks for the second cell).
        rating_requested(str, str, int): an entry of the answer menu's Rate submenu:
            :attr:`cell_id`, a :class:`~gui.core.ratings.RatingAction` value, the stars.

    The body is one :class:`~gui.qt.widgets.markdown_view.MarkdownView` for the whole life
    of the cell: one widget means half the construction cost when the grid materialises rows
    while scrolling, and no widget swap at the end that would drop focus, selection and the
    scroll bar under the user's mouse.
    """

    cancel_requested = Signal(str)
    retry_requested = Signal(str)
    diff_requested = Signal(str)
    rating_requested = Signal(str, str, int)

    def __init__(self, cell_id: str, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cell_id = cell_id
        self._phase = "queued"
        self._read_only = False
        self._detail = ""
        self._raw = False  # every pane shows raw text (the window's global toggle)
        self._markdown = True  # the caller wants this answer rendered (set_final_text)
        self._metrics: CellMetrics | None = None
        self._notice = ""
        self._verdict: JudgeVerdict | None = None
        self._rating: Rating | None = None
        # A structured answer's tree: built when the first one comes (a Grid of free-text
        # answers builds none); shown instead of the text unless the user chose Text.
        self._tree: JsonTree | None = None
        self._tree_wanted = True
        self._tree_for: tuple[int, CellMetrics | None] | None = None  # what it was built from
        self._build_ui(title)
        self.set_status(Phase.QUEUED)

    # ----------------------------------------------------------------------------- UI

    def _build_ui(self, title: str) -> None:
        self.setObjectName("cellPane")
        # The outline is painted here (paintEvent), by the "checks" and "selected" properties.
        # The contents start inside the plain 1 px line; a 2 px outline takes 1 px of the
        # layout's margin, so selecting a pane moves nothing and lays nothing out again.
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setContentsMargins(1, 1, 1, 1)
        # Small enough for four model columns in a 1360 px window's Grid.
        self.setMinimumSize(180, 110)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

        self._title = ElidedLabel(title, self, min_chars=4)
        self._title.setObjectName("cellTitle")
        set_weight(self._title, SEMIBOLD)

        # Its room beside the text is contents margins, which QLabel's size hint counts: the
        # layout gives the chip its whole text and squeezes the title first. A long detail
        # may still shrink it (set_status).
        self._chip = StatusChip(self)

        self._cancel_button = self._tool_button("Cancel", "Cancel this cell")
        self._retry_button = self._tool_button("Retry", "Run this cell again")
        self._copy_button = self._tool_button("Copy", "Copy the answer (Markdown source)")
        self._tree_button = self._tool_button("Text", "")
        self._tree_button.setObjectName("paneTreeButton")
        self._tree_button.hide()  # only for a structured answer that is JSON
        self._tree_button.clicked.connect(self._on_tree_button_clicked)
        self._cancel_button.clicked.connect(self._on_cancel_button_clicked)
        self._retry_button.clicked.connect(self._on_retry_button_clicked)
        self._copy_button.clicked.connect(self._on_copy_button_clicked)

        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.setSpacing(4)
        header.addWidget(self._title, 1)
        header.addStretch(0)  # takes the room when the title is hidden (set_title_visible)
        # The user's rating, set from the answer's context menu (Rate).
        self._rating_label = QLabel(self)
        self._rating_label.setObjectName("cellRating")
        self._rating_label.setTextFormat(Qt.TextFormat.PlainText)
        self._rating_label.setToolTip("Your rating: right-click the answer, Rate")
        self._rating_label.hide()
        header.addWidget(self._rating_label)
        header.addWidget(self._chip)
        header.addWidget(self._build_judge_badge())
        header.addWidget(self._cancel_button)
        header.addWidget(self._retry_button)
        header.addWidget(self._tree_button)
        header.addWidget(self._copy_button)

        self._view = MarkdownView(self)
        self._view.setObjectName("cellText")
        self._view.context_menu_built.connect(self._on_view_context_menu_built)

        self._error = ProblemLabel(self)
        self._error.setObjectName("cellError")
        self._error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._error.hide()

        # The run's checks on this answer, ✓/✗ per check, hover for why.
        self._chips = CheckChips(self)

        # Whole figures leave from the middle: a narrow pane shows "first token 0.31 s · … ·
        # 48 tok/s", never a line cut mid-figure ("first token 0.…tok/s" read as nonsense);
        # the tooltip has every figure spelled out.
        self._metrics_label = ElidedLabel("", self, separator=" · ")
        self._metrics_label.setObjectName("cellMetrics")
        dim_text(self._metrics_label)
        self._metrics_label.setTextFormat(Qt.TextFormat.PlainText)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(3)
        layout.addLayout(header)
        layout.addWidget(self._view, 1)
        self._body = layout  # the tree goes in beside the view when it is built
        layout.addWidget(self._error)
        layout.addWidget(self._chips)
        layout.addWidget(self._metrics_label)

    def _build_judge_badge(self) -> QLabel:
        """The LLM judge's score beside the status chip (issue 13), hidden until it comes: the
        chip's shape, outlined so it is not read as a second status."""
        self._judge = ChipLabel(self, outlined=True)
        self._judge.setObjectName("judgeBadge")
        # 11 px and its 1 px line: the text where the style sheet this replaces put it.
        self._judge.setContentsMargins(11, 1, 11, 1)
        self._judge.hide()
        return self._judge

    def _tool_button(self, text: str, tip: str) -> QToolButton:
        button = PaneButton(self)
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
        self.setToolTip(title if self._title.isHidden() else "")

    def set_title_visible(self, visible: bool) -> None:
        """Show the title on the pane, or only in its tooltip: the Grid names each pane by
        its row label and column header, and four narrow columns would cut the title to a
        few letters."""
        self._title.setVisible(visible)
        self.setToolTip("" if visible else self._title.full_text())

    def set_status(self, phase: str, detail: str = "") -> None:
        """Show ``phase`` in the chip (``detail``, when given, replaces the default text)."""
        phase = str(phase)
        self._phase, self._detail = phase, detail
        chip_text = status_text(phase, detail)
        # A one-word status is always whole: with no minimum width of its own, a label's
        # minimum is its whole text in the font it has when laid out. A long detail may
        # give way in a narrow pane. Set before the text: a label's size hint is never below
        # the minimum width it had when the hint was taken.
        self._chip.setMinimumWidth(0 if len(chip_text) <= _WHOLE_CHIP_CHARS else 40)
        self._chip.set_status(phase, detail)
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
        """Append streamed ``text`` (everything since the last frame); it is rendered as
        Markdown at once (only the block being written is re-rendered). The view follows the
        new text only if the reader has not scrolled away from the end."""
        if not text:
            return
        self._view.append(text)
        self._copy_button.setEnabled(True)

    def set_final_text(self, text: str, markdown: bool = True) -> None:
        """Show the complete answer: the streamed view finished in place when ``text``
        continues what streamed (no re-render, no jump), else ``text`` rendered afresh.

        A view that followed the stream (or never saw it) then shows the answer from its
        top; a reader who scrolled keeps their place. ``markdown=False`` shows it raw.
        """
        self._markdown = markdown
        self._view.set_raw(self._raw or not markdown)
        self._view.set_text(text, final=True)
        self._copy_button.setEnabled(bool(text))
        self._show_structured()

    def set_raw(self, raw: bool) -> None:
        """Show the Markdown source as plain text (``True``) or rendered (``False``)."""
        self._raw = raw
        self._view.set_raw(raw or not self._markdown)

    def view(self) -> MarkdownView:
        """The answer's view."""
        return self._view

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
        self._show_structured()

    def set_notice(self, notice: str) -> None:
        """Say ``notice`` (one line about the text, e.g. that invalid characters were
        replaced) at the head of the footer; ``""`` removes it."""
        self._notice = notice
        self._show_footer()

    def notice(self) -> str:
        """The notice shown, or ``""``."""
        return self._notice

    def set_checks(self, results: tuple[CheckResult, ...]) -> None:
        """Show the run's check results on this answer as chips, and colour the pane's
        border by their pass rate (the ``checks`` property); ``()`` removes both."""
        self._chips.set_results(results)
        level = pass_rate_level(results)
        if self.property("checks") != level:
            self.setProperty("checks", level)  # the outline follows (event)

    def check_chips(self) -> CheckChips:
        """The chips row (tests read its chips and tooltips)."""
        return self._chips

    def set_rating(self, rating: Rating | None) -> None:
        """Show the user's rating of the answer in the header (``None``: none)."""
        self._rating = rating
        text = rating_text(rating)
        self._rating_label.setText(text)
        self._rating_label.setVisible(bool(text))

    def rating_text(self) -> str:
        """The rating mark shown (``""`` when not rated)."""
        return self._rating_label.text()

    def metrics_text(self) -> str:
        """The footer line (the notice, then the metrics), in full whatever its elision."""
        return self._metrics_label.full_text()

    def metrics_label(self) -> ElidedLabel:
        """The footer label (tests measure its elision)."""
        return self._metrics_label

    def _show_footer(self) -> None:
        tip = metrics_tooltip(self._metrics)
        if self._notice:
            tip = f"{self._notice}\n{tip}" if tip else self._notice
        self._metrics_label.set_full_text(footer_text(self._metrics, self._notice), tip)

    def set_judge(self, verdict: JudgeVerdict | None) -> None:
        """Show the judge's score (its reason, or why it failed, on hover); ``None`` hides it."""
        self._verdict = verdict
        if verdict is None:
            self._judge.hide()
            return
        self._judge.setText(verdict_label(verdict))
        self._judge.setToolTip(verdict_detail(verdict))
        self._judge.set_colors_of(Phase.DONE if verdict.ok else Phase.FAILED)
        self._judge.show()

    def judge_text(self) -> str:
        """The judge badge's text ('' when hidden)."""
        return self._judge.text() if self._verdict is not None else ""

    def reset(self) -> None:
        """Back to queued with no text, error or metrics (a retry starts here)."""
        self._view.clear()
        self._markdown = True
        self._view.set_raw(self._raw)
        self.set_error("")
        self._notice = ""
        self.set_rating(None)
        self.set_metrics(None)  # and the tree goes
        self.set_checks(())
        self.set_judge(None)
        self.set_status(Phase.QUEUED)
        self._copy_button.setEnabled(False)

    def structured_tree(self) -> JsonTree | None:
        """The tree of the pane's structured answer when it shows one, else ``None``."""
        tree = self._tree
        return tree if tree is not None and not tree.isHidden() else None

    def set_tree_shown(self, shown: bool) -> None:
        """Show a structured answer as its tree (``True``, the default) or as text; the
        header's Tree / Text button does the same."""
        self._tree_wanted = shown
        self._show_structured()

    def _show_structured(self) -> None:
        """The tree of a structured answer that is JSON, once the cell has its schema
        verdict; the text view otherwise (a free-text run, a reply that is not JSON)."""
        metrics = self._metrics
        structured = metrics is not None and metrics.schema_valid is not None
        source = self._view.source() if structured else ""
        key = (len(source), metrics)
        if structured and key != self._tree_for:
            self._tree_for = key
            ok, value = parsed_answer(source)
            if ok:
                self._build_tree().set_value(value)
            elif self._tree is not None:
                self._tree.clear_value()
            self._tree_button.setVisible(ok)
        elif not structured:
            self._tree_for = None
            self._tree_button.hide()
            if self._tree is not None:
                self._tree.clear_value()
        has_tree = not self._tree_button.isHidden()
        tree_shown = has_tree and self._tree_wanted
        if self._tree is not None:
            self._tree.setVisible(tree_shown)
        self._view.setVisible(not tree_shown)
        self._tree_button.setText("Text" if tree_shown else "Tree")
        self._tree_button.setToolTip(
            "Show the answer as text" if tree_shown else "Show the answer's JSON as a tree"
        )

    def _build_tree(self) -> JsonTree:
        if self._tree is None:
            self._tree = JsonTree(self)
            self._tree.setObjectName("paneJsonTree")
            self._body.insertWidget(self._body.indexOf(self._view) + 1, self._tree, 1)
        return self._tree

    def text(self) -> str:
        """The plain text shown: the rendered answer's text, or the source when raw."""
        return self._view.to_plain()

    def source_text(self) -> str:
        """The answer exactly as received (the Markdown source)."""
        return self._view.source()

    # --------------------------------------------------------------------------- internals

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.DynamicPropertyChange:  # "checks" or "selected"
            self.update()  # the outline's colour and width
        return super().event(event)

    def _border(self) -> tuple[int, QColor]:
        """The outline's width and colour: selected (the palette's highlight) wins over the
        checks' pass rate, which wins over the plain 1 px line."""
        if self.property("selected"):
            return 2, self.palette().color(QPalette.ColorRole.Highlight)
        colour = _CHECKS_BORDER.get(str(self.property("checks") or ""))
        if colour is not None:
            return 2, QColor(colour)
        return 1, self.palette().color(QPalette.ColorRole.Mid)

    def paintEvent(self, event: QPaintEvent) -> None:
        # Painted rather than styled: an application style sheet made every widget of the
        # app slower to build and draw (gui/qt/looks.py); the colours are read at each paint,
        # so a theme switch reaches the outline too.
        width, colour = self._border()
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(colour, width))
        half = width / 2
        outline = QRectF(self.rect()).adjusted(half, half, -half, -half)
        painter.drawRoundedRect(outline, _BORDER_RADIUS - half, _BORDER_RADIUS - half)

    # ------------------------------------------------------------------------------ slots

    def _on_cancel_button_clicked(self) -> None:
        self.cancel_requested.emit(self.cell_id)

    def _on_retry_button_clicked(self) -> None:
        self.retry_requested.emit(self.cell_id)

    def _on_tree_button_clicked(self) -> None:
        self.set_tree_shown(not self._tree_wanted)

    def _on_copy_button_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.source_text())

    def _on_view_context_menu_built(self, menu: QMenu) -> None:
        menu.addSeparator()
        diff = menu.addAction("Diff with…")
        diff.setEnabled(bool(self.source_text()))
        diff.triggered.connect(self._on_diff_action_triggered)
        rate = add_rating_menu(menu, self._rating, self._phase in TERMINAL_PHASES)
        rate.triggered.connect(self._on_rate_menu_triggered)

    def _on_rate_menu_triggered(self, action: QAction) -> None:
        chosen = rating_of_action(action)
        if chosen is not None:
            self.rating_requested.emit(self.cell_id, *chosen)

    def _on_diff_action_triggered(self) -> None:
        self.diff_requested.emit(self.cell_id)


__all__ = [
    "SOFT_BREAK_CHARS",
    "STATUS_TEXT",
    "TERMINAL_PHASES",
    "CellPane",
    "ElidedLabel",
    "footer_text",
    "format_metrics",
    "markdown_to_plain",
    "status_text",
]
