"""The Focus layout: one cell of the shown run, full size, still streaming.

It shows everything known about one cell: title, status, the answer as it arrives, the
exact messages that were sent for it, every metric, the error and the notice. It reads the
cell from the :class:`~gui.qt.widgets.cell_store.CellStore` and follows the store's signals,
so a cell keeps streaming while it is in focus. The messages come from a callable the owner
passes (``messages_of(cell_id)``): the widget knows no run, spec or provider.

Keyboard: Left/Right move along the row (the same input, another column), Up/Down and
PageUp/PageDown along the column (the same column, another input), Esc goes back. A cell that
ended is rated with the keys of :data:`~gui.qt.widgets.rating_bar.RATING_KEYS` (1-5 stars, 0
clears, U/+ and D/- thumbs, B best in row) or the rating bar under the title.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication, QKeySequence, QResizeEvent, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from gui.core.checks import CheckResult
from gui.core.judging import JudgeVerdict, verdict_detail
from gui.core.metrics import CellMetrics
from gui.core.samples import Sample, summarize_samples
from gui.core.structured import parsed_answer, schema_mark
from gui.qt.widgets.cell_pane import TERMINAL_PHASES, ElidedLabel, format_seconds
from gui.qt.widgets.cell_parts import AnswerView, CloseUpPage, StatusChip, show_state
from gui.qt.widgets.cell_store import CellState, CellStore, Change
from gui.qt.widgets.check_chips import CheckChips
from gui.qt.widgets.json_tree import JsonTree
from gui.qt.widgets.rating_bar import RatingBar, rating_key_actions
from gui.qt.widgets.status_chip import ProblemLabel

__all__ = ["METRIC_NAMES", "FocusView", "MessagesOf", "metric_rows"]

#: Gives the ``(role, text)`` messages sent for a cell id (``[]`` when unknown).
MessagesOf = Callable[[str], list[tuple[str, str]]]

#: The metrics the Focus view lists, in order (labels of :func:`metric_rows`).
METRIC_NAMES = (
    "Queued",
    "Waited for a slot",
    "Request sent",
    "First token",
    "Ended",
    "Time to first token",
    "Last attempt took",
    "Queued to end",
    "Output tokens",
    "Tokens per second",
    "Attempts",
    "Retries",
    "Finish reason",
    "Note",
)

_UNKNOWN = "—"


def _at(seconds: float | None) -> str:
    # A moment of the run: "+0.38 s" from its start (the box's title says so).
    return _UNKNOWN if seconds is None else f"+{format_seconds(seconds)}"


def _span(seconds: float | None) -> str:
    return _UNKNOWN if seconds is None else format_seconds(seconds)


def metric_rows(metrics: CellMetrics | None) -> list[tuple[str, str]]:
    """Every field of ``metrics`` as ``(label, value)`` lines, in :data:`METRIC_NAMES` order;
    a value not known (yet) reads "—"."""
    if metrics is None:
        return [(name, _UNKNOWN) for name in METRIC_NAMES]
    m = metrics
    tokens = f"{m.output_tokens} (estimated)" if m.tokens_estimated else str(m.output_tokens)
    tps = _UNKNOWN if m.tokens_per_second is None else f"{m.tokens_per_second:.1f}"
    # A cell cancelled in the queue made no request: zero attempts, not one.
    attempts = 0 if m.started_at is None else m.retries + 1
    finish = m.finish_reason or _UNKNOWN
    if m.finish_mark:
        finish = f"{finish} ({m.finish_mark})"
    values = (
        _at(m.queued_at),
        _span(m.waited),
        _at(m.started_at),
        _at(m.first_token_at),
        _at(m.ended_at),
        _span(m.ttft),
        _span(m.latency),
        _span(m.total),
        tokens,
        tps,
        str(attempts),
        str(m.retries),
        finish,
        m.note or _cached_note(m) or _UNKNOWN,
    )
    return list(zip(METRIC_NAMES, values, strict=True))


def _cached_note(m: CellMetrics) -> str | None:
    """For a cell served from the response cache: that, and how its original request went."""
    if not m.cached:
        return None
    note = "cached: no request was made"
    if m.original_latency is not None:
        note += f"; the original request took {format_seconds(m.original_latency)}"
    return note


def messages_html(messages: list[tuple[str, str]]) -> str:
    """The messages as HTML: each role as a small heading over its exact text."""
    if not messages:
        return "<p><i>The messages of this cell are not known.</i></p>"
    parts = []
    for role, text in messages:
        parts.append(
            f"<p style='margin-bottom:2px'><b>{html.escape(role)}</b></p>"
            f"<p style='white-space:pre-wrap; margin-top:0'>{html.escape(text)}</p>"
        )
    return "".join(parts)


class _MetricsForm(QWidget):
    """Every metric as a "label: value" line: in two columns (moments and spans, then counts
    and the end) when the width holds both with every label and figure whole on one line,
    else in one column that scrolls (a 900x600 window leaves Focus's side about 270 px: two
    columns there wrapped "+0.00 s" and hid half of each line behind a sideways scroll)."""

    def __init__(self, names: tuple[str, ...], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.values: dict[str, QLabel] = {}
        self._pairs: list[tuple[QLabel, QLabel]] = []
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(2, 2, 2, 2)
        self._grid.setHorizontalSpacing(8)
        self._grid.setVerticalSpacing(3)
        for name in names:
            label = QLabel(f"{name}:", self)
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
            value = QLabel(_UNKNOWN, self)
            value.setWordWrap(True)  # a long note wraps; the figures fit their column
            value.setTextFormat(Qt.TextFormat.PlainText)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
            self._pairs.append((label, value))
            self.values[name] = value
        self._columns = 0
        self._arrange(2)

    def columns(self) -> int:
        """How many label/value columns the metrics are laid out in (1 or 2)."""
        return self._columns

    def fit(self, width: int) -> None:
        """Lay the metrics out for ``width`` pixels: two columns if both fit whole."""
        self._arrange(2 if width >= self._two_column_width() else 1)

    def _two_column_width(self) -> int:
        half = math.ceil(len(self._pairs) / 2)
        spacing = self._grid.horizontalSpacing()
        need = 0
        for part in (self._pairs[:half], self._pairs[half:]):
            label = max(lbl.sizeHint().width() for lbl, _ in part)
            # A value's one-line width (a word-wrapped label's hint may already wrap it).
            value = max(val.fontMetrics().horizontalAdvance(val.text()) for _, val in part)
            need += label + spacing + value
        margins = self._grid.contentsMargins()
        return need + 2 * spacing + margins.left() + margins.right()

    def _arrange(self, columns: int) -> None:
        if columns == self._columns:
            return
        grid = self._grid
        for label, value in self._pairs:
            grid.removeWidget(label)
            grid.removeWidget(value)
        for c in range(4):
            grid.setColumnStretch(c, 0)
        for r in range(len(self._pairs) + 1):
            grid.setRowStretch(r, 0)
        self._columns = columns
        rows = math.ceil(len(self._pairs) / columns)
        for i, (label, value) in enumerate(self._pairs):
            row, col = i % rows, 2 * (i // rows)
            grid.addWidget(label, row, col)
            grid.addWidget(value, row, col + 1)
        grid.setColumnStretch(1, 1)
        if columns == 2:
            grid.setColumnStretch(3, 1)
        grid.setRowStretch(rows, 1)


class _MetricsArea(QScrollArea):
    """The metrics' scroll area: up and down only, the form laid out for its width."""

    def __init__(self, form: _MetricsForm, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._form = form
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setWidget(form)

    def resizeEvent(self, event: QResizeEvent) -> None:
        # The viewport's width decides, not the form's: a form wider than the view (two
        # columns' minimum) would otherwise keep the two columns it cannot show.
        self._form.fit(self.viewport().width())
        super().resizeEvent(event)


class FocusView(CloseUpPage):
    """One cell full size: answer, prompt messages, metrics; Previous/Next along row and column.

    Signals:
        back_requested(): Esc or Back: return to the previous layout.
        row_compare_requested(int): "Compare row" for the shown cell's input row.
        cell_shown(str): another cell is shown (by :meth:`show_cell` or the keyboard).
        cancel_requested(str): Cancel pressed for the shown cell.
        retry_requested(str): Retry pressed for the shown cell.
        rating_requested(str, str, int): a rating key or button for the shown cell: its
            id, a :class:`~gui.core.ratings.RatingAction` value and the stars.
    """

    row_compare_requested = Signal(int)
    cell_shown = Signal(str)
    cancel_requested = Signal(str)
    retry_requested = Signal(str)
    rating_requested = Signal(str, str, int)

    def __init__(
        self,
        store: CellStore,
        messages_of: MessagesOf | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._store = store
        self._messages_of: MessagesOf = messages_of or (lambda _cell_id: [])
        self._cell_id: str | None = None
        self._messages: list[tuple[str, str]] = []
        self._stale = False  # store changes arrived while hidden: reload when shown
        self._build_ui()
        store.shape_changed.connect(self._on_store_shape_changed)
        store.all_status_changed.connect(self._on_store_all_status_changed)
        store.texts_appended.connect(self._on_store_texts_appended)
        store.cell_changed.connect(self._on_store_cell_changed)
        store.cells_changed.connect(self._on_store_cells_changed)
        store.read_only_changed.connect(self._on_store_read_only_changed)
        self._show_nothing()

    # ----------------------------------------------------------------------------- UI

    def _build_ui(self) -> None:
        self.setObjectName("focusView")
        self._title = ElidedLabel("", self)
        self._title.setObjectName("focusTitle")
        font = self._title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self._title.setFont(font)
        self._chip = StatusChip(self)
        self._position = QLabel(self)
        self._position.setObjectName("focusPosition")

        self._prev_col = self._button(
            "◀ Model", "Previous cell along the row: the previous model (Left)"
        )
        self._next_col = self._button("Model ▶", "Next cell along the row: the next model (Right)")
        self._prev_row = self._button(
            "▲ Input", "Previous cell along the column: the previous input (Up, PageUp)"
        )
        self._next_row = self._button(
            "Input ▼", "Next cell along the column: the next input (Down, PageDown)"
        )
        self._compare = self._button("Compare row", "All answers of this input side by side")
        self._back = self._button("Back", "Back to the previous layout (Esc)")
        self._cancel = self._button("Cancel", "Cancel this cell (its partial text is kept)")
        self._retry = self._button("Retry", "Run this cell again")
        self._copy = self._button("Copy", "Copy the answer (Markdown source)")
        self._raw = self._button("Raw", "Show the answer's Markdown source instead of rendering it")
        self._raw.setCheckable(True)
        self._raw.toggled.connect(self._on_raw_toggled)
        self._cancel.clicked.connect(self._on_cancel_clicked)
        self._retry.clicked.connect(self._on_retry_clicked)
        self._copy.clicked.connect(self._on_copy_clicked)
        self._prev_col.clicked.connect(self._on_prev_col_clicked)
        self._next_col.clicked.connect(self._on_next_col_clicked)
        self._prev_row.clicked.connect(self._on_prev_row_clicked)
        self._next_row.clicked.connect(self._on_next_row_clicked)
        self._compare.clicked.connect(self._on_compare_clicked)
        self._back.clicked.connect(self.back_requested)
        # Issue 15: a repeated cell's samples, stepped through and summed up.
        self._prev_sample = self._button("◀ Sample", "The previous sample of this cell ([)")
        self._next_sample = self._button("Sample ▶", "The next sample of this cell (])")
        self._prev_sample.clicked.connect(self._on_prev_sample_clicked)
        self._next_sample.clicked.connect(self._on_next_sample_clicked)
        self._sample_position = QLabel(self)
        self._sample_position.setObjectName("focusSamplePosition")
        self._samples = QLabel(self)
        self._samples.setObjectName("focusSamples")
        self._samples.setWordWrap(True)
        self._samples.setTextFormat(Qt.TextFormat.PlainText)
        self._samples.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        header = QHBoxLayout()
        header.setSpacing(6)
        header.addWidget(self._title, 1)
        header.addWidget(self._chip)
        header.addWidget(self._position)
        header.addWidget(self._cancel)
        header.addWidget(self._retry)
        header.addWidget(self._copy)
        header.addWidget(self._raw)
        nav = QHBoxLayout()
        nav.setSpacing(2)
        for button in (self._prev_col, self._next_col, self._prev_row, self._next_row):
            nav.addWidget(button)
        nav.addStretch(1)
        nav.addWidget(self._compare)
        nav.addWidget(self._back)
        samples_row = QHBoxLayout()
        samples_row.setSpacing(6)
        samples_row.addWidget(self._prev_sample)
        samples_row.addWidget(self._sample_position)
        samples_row.addWidget(self._next_sample)
        samples_row.addWidget(self._samples, 1)
        self._samples_row = QWidget(self)
        self._samples_row.setLayout(samples_row)
        samples_row.setContentsMargins(0, 0, 0, 0)
        self._samples_row.hide()

        self._answer = AnswerView(self)
        self._answer.setObjectName("focusAnswer")
        self._error = ProblemLabel(self)  # the failed red of the theme, no sheet of its own
        self._error.setObjectName("focusError")
        self._error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._notice = QLabel(self)
        self._notice.setObjectName("focusNotice")
        self._notice.setWordWrap(True)
        self._notice.setTextFormat(Qt.TextFormat.PlainText)
        # The run's checks on this answer: chips, and each check's why spelled out.
        self._chips = CheckChips(self)
        self._checks = QLabel(self)
        self._checks.setObjectName("focusChecks")
        self._checks.setWordWrap(True)
        self._checks.setTextFormat(Qt.TextFormat.PlainText)
        self._checks.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._checks.hide()
        answer_box = QFrame(self)
        answer_box.setFrameShape(QFrame.Shape.StyledPanel)
        answer_layout = QVBoxLayout(answer_box)
        answer_layout.setContentsMargins(2, 2, 2, 2)
        answer_layout.addWidget(self._answer, 1)
        answer_layout.addWidget(self._error)
        answer_layout.addWidget(self._chips)
        answer_layout.addWidget(self._checks)
        answer_layout.addWidget(self._notice)
        answer_layout.addWidget(self._build_judge_label())
        # Under the answer it rates, inside the splitter: a narrow window clips it, never
        # widens for it.
        self._rating = RatingBar(answer_box)
        self._rating.rating_requested.connect(self._on_rating_bar_rating_requested)
        rating_row = QHBoxLayout()
        rating_row.setContentsMargins(4, 0, 4, 0)
        rating_label = QLabel("Your rating:", answer_box)
        rating_label.setToolTip("Keys: 1-5 stars, 0 clears, U/+ thumbs up, D/- down, B best")
        rating_row.addWidget(rating_label)
        rating_row.addWidget(self._rating)
        rating_row.addStretch(1)
        answer_layout.addLayout(rating_row)

        self._prompt = QTextBrowser(self)
        self._prompt.setObjectName("focusMessages")
        self._prompt.setOpenLinks(False)
        prompt_box = QGroupBox("Messages sent", self)
        QVBoxLayout(prompt_box).addWidget(self._prompt)

        metrics_box = QGroupBox("Metrics (+ seconds from the run's start)", self)
        # Two label/value columns when the side is wide enough (moments and spans, then
        # counts and the end: every metric in view at a usual window size), else one.
        self._metrics_form = _MetricsForm(METRIC_NAMES)
        self._metric_labels = self._metrics_form.values
        self._metrics_area = _MetricsArea(self._metrics_form, metrics_box)
        metrics_layout = QVBoxLayout(metrics_box)
        metrics_layout.setContentsMargins(4, 4, 4, 4)  # a short window's lines, not margins
        metrics_layout.addWidget(self._metrics_area)

        side = QSplitter(Qt.Orientation.Vertical, self)
        side.addWidget(self._build_structured_box())
        side.addWidget(prompt_box)
        side.addWidget(metrics_box)
        # The messages are a few lines as a rule; the metrics are 14 (a hidden structured box
        # gives its share away).
        side.setSizes([220, 130, 330])
        self._splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self._splitter.addWidget(answer_box)
        self._splitter.addWidget(side)
        self._splitter.setStretchFactor(0, 1)
        self._splitter.setStretchFactor(1, 1)
        self._splitter.setSizes([560, 440])
        # The Results area shares the window with the editors: a small window must still fit
        # (the parts are clipped, the header and buttons stay whole).
        self._splitter.setMinimumSize(1, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        layout.addLayout(header)
        layout.addLayout(nav)
        layout.addWidget(self._samples_row)
        layout.addWidget(self._splitter, 1)

        # Shortcuts rather than keyPressEvent: they work whichever child has the focus (a
        # read-only text view does not claim the arrow keys for itself).
        keys = (
            (Qt.Key.Key_Left, self._on_prev_col_clicked),
            (Qt.Key.Key_Right, self._on_next_col_clicked),
            (Qt.Key.Key_Up, self._on_prev_row_clicked),
            (Qt.Key.Key_PageUp, self._on_prev_row_clicked),
            (Qt.Key.Key_Down, self._on_next_row_clicked),
            (Qt.Key.Key_PageDown, self._on_next_row_clicked),
            (Qt.Key.Key_BracketLeft, self._on_prev_sample_clicked),
            (Qt.Key.Key_BracketRight, self._on_next_sample_clicked),
        )
        for key, slot in keys:
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)
        for text, action, stars in rating_key_actions():
            # "+" is the sequence separator in a key string: that key is given by its code.
            sequence = QKeySequence(Qt.Key.Key_Plus) if text == "+" else QKeySequence(text)
            shortcut = QShortcut(sequence, self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(
                lambda a=str(action), n=stars: self._on_rating_bar_rating_requested(a, n)
            )
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    # ------------------------------------------------------------------------- public API

    def set_messages_of(self, messages_of: MessagesOf) -> None:
        """Where the sent messages of a cell come from (the shown run's spec)."""
        self._messages_of = messages_of
        if self._cell_id is not None:
            self._load()

    def show_cell(self, cell_id: str) -> bool:
        """Show ``cell_id``; ``False`` (nothing changes) if the store does not know it."""
        if cell_id not in self._store:
            return False
        changed = cell_id != self._cell_id
        self._cell_id = cell_id
        self._answer.clear()
        self._load()
        if changed:
            self.cell_shown.emit(cell_id)
        return True

    def cell_id(self) -> str | None:
        """The cell shown, or ``None``."""
        return self._cell_id

    def answer_view(self) -> AnswerView:
        """The answer area (for its text and scroll bar)."""
        return self._answer

    def title(self) -> str:
        """The full title shown."""
        return self._title.full_text()

    def position_text(self) -> str:
        """Where the shown cell is: "input r/R · column c/C" (a column holds its samples)."""
        return self._position.text()

    def status_text(self) -> str:
        """What the status chip says."""
        return self._chip.text()

    def messages(self) -> list[tuple[str, str]]:
        """The ``(role, text)`` messages shown as sent."""
        return list(self._messages)

    def metric_values(self) -> dict[str, str]:
        """Every metric line shown, by label."""
        return {name: label.text() for name, label in self._metric_labels.items()}

    def metrics_area(self) -> QScrollArea:
        """The metrics' scroll area (its form lays the metrics out in 1 or 2 columns)."""
        return self._metrics_area

    def metrics_columns(self) -> int:
        """How many label/value columns the metrics are laid out in now (1 or 2)."""
        return self._metrics_form.columns()

    def error_text(self) -> str:
        """The error shown, or ``""``."""
        return self._error.text()

    def notice_text(self) -> str:
        """The notice shown, or ``""``."""
        return self._notice.text()

    def judge_text(self) -> str:
        """The judge's verdict shown (score and reason, or the failure and its raw reply)."""
        return self._judge.text() if self._judge.isVisibleTo(self) else ""

    def _build_judge_label(self) -> QLabel:
        """The LLM judge's verdict under the answer (issue 13): score and reason, or why
        it failed with the raw reply, selectable so it can be copied."""
        self._judge = QLabel(self)
        self._judge.setObjectName("focusJudge")
        self._judge.setWordWrap(True)
        self._judge.setTextFormat(Qt.TextFormat.PlainText)
        self._judge.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._judge.hide()
        return self._judge

    def _show_judge(self, verdict: JudgeVerdict | None) -> None:
        self._judge.setText("" if verdict is None else verdict_detail(verdict))
        self._judge.setVisible(verdict is not None)

    def step(self, d_row: int, d_col: int) -> bool:
        """Show the neighbour ``d_row`` inputs down and ``d_col`` run columns right; ``False``
        at an edge (the same cell stays).

        A run column is a model (or variant, or sweep value): with repeats, its samples are
        stepped with :meth:`step_sample`, and moving to another column keeps the sample's
        number, so Left and Right compare the models rather than walk one model's samples.
        """
        where = self._store.where(self._cell_id) if self._cell_id is not None else None
        if where is None:
            return False
        row, col = where[0] + d_row, where[1]
        if d_col:
            groups = self._groups()
            at = groups.index(self._store.group_of(col)) + d_col
            if not 0 <= at < len(groups):
                return False
            sample = self._sample_columns(col).index(col)
            siblings = self._sample_columns(self._store.first_column_of(groups[at]))
            col = siblings[min(sample, len(siblings) - 1)]
        if not 0 <= row < self._store.row_count():
            return False
        return self.show_cell(self._store.cell_id(row, col))

    def _groups(self) -> list[int]:
        """The run columns (groups of sample columns) in the order they are shown."""
        store = self._store
        return list(dict.fromkeys(store.group_of(c) for c in range(store.column_count())))

    def sample_text(self) -> str:
        """ "sample k of N" and the samples' summary, or ``""`` for a cell without repeats."""
        if self._samples_row.isHidden():
            return ""
        return f"{self._sample_position.text()} · {self._samples.text()}"

    def step_sample(self, step: int) -> bool:
        """Show the cell's sample ``step`` away; ``False`` past its first or last."""
        where = self._store.where(self._cell_id) if self._cell_id is not None else None
        if where is None:
            return False
        siblings = self._sample_columns(where[1])
        at = siblings.index(where[1]) + step
        if len(siblings) < 2 or not 0 <= at < len(siblings):
            return False
        return self.show_cell(self._store.cell_id(where[0], siblings[at]))

    def _sample_columns(self, col: int) -> list[int]:
        """The columns holding the samples of ``col``'s cell (just ``col`` without repeats)."""
        store = self._store
        group = store.group_of(col)
        return [c for c in range(store.column_count()) if store.group_of(c) == group]

    def _show_samples(self, row: int, col: int) -> None:
        """ "sample k of N", the stepper, and what the samples say together."""
        siblings = self._sample_columns(col)
        self._samples_row.setVisible(len(siblings) > 1)
        if len(siblings) < 2:
            return
        store = self._store
        at = siblings.index(col)
        self._sample_position.setText(f"sample {at + 1} of {len(siblings)}")
        self._prev_sample.setEnabled(at > 0)
        self._next_sample.setEnabled(at < len(siblings) - 1)
        default = str(store.default_status()[0])
        samples = []
        for c in siblings:
            state = store.peek(store.cell_id(row, c))
            phase = str(state.phase) if state is not None else default
            samples.append(Sample(phase, state.source() if state is not None else "", state))
        summary = summarize_samples(samples)
        self._samples.setText(" · ".join(summary.lines()))
        self._samples.setToolTip(
            "\n\n".join(f"{n}×: {text[:300]}" for text, n in summary.distinct[:10])
        )

    def rating_bar(self) -> RatingBar:
        """The rating controls of the shown cell."""
        return self._rating

    def visible_cell_count(self) -> int:
        """Cells shown whole (the benchmarks' ``visible_cells``): the one in focus."""
        return 1 if self._cell_id is not None else 0

    # --------------------------------------------------------------------------- internals

    def _show_nothing(self) -> None:
        self._cell_id = None
        self._messages = []
        self._answer.clear()
        self._title.set_full_text("No cell in focus")
        self._chip.hide()
        for button in (self._cancel, self._retry, self._copy):
            button.hide()
        self._rating.set_rating(None)
        self._rating.setEnabled(False)
        self._position.setText("")
        self._prompt.setHtml("")
        self._show_metrics(None)
        self._show_structured(None)
        self._show_error("")
        self._show_notice("")
        self._show_checks(())
        self._show_judge(None)
        for button in (self._prev_col, self._next_col, self._prev_row, self._next_row):
            button.setEnabled(False)
        self._compare.setEnabled(False)

    def _load(self) -> None:
        """Show every field of the current cell from the store."""
        cell_id = self._cell_id
        where = self._store.where(cell_id) if cell_id is not None else None
        if cell_id is None or where is None:
            self._show_nothing()
            return
        self._stale = False
        store = self._store
        row, col = where
        groups = self._groups()
        n_rows, n_cols, at = store.row_count(), len(groups), groups.index(store.group_of(col))
        self._title.set_full_text(store.title(row, col))
        self._position.setText(f"input {row + 1}/{n_rows} · column {at + 1}/{n_cols}")
        self._prev_col.setEnabled(at > 0)
        self._next_col.setEnabled(at < n_cols - 1)
        self._prev_row.setEnabled(row > 0)
        self._next_row.setEnabled(row < n_rows - 1)
        self._compare.setEnabled(store.column_count() > 1)
        self._chip.show()
        state = store.peek(cell_id)
        show_state(self._answer, state)
        status = store.status(cell_id)
        if status is not None:
            self._show_status(*status)
        self._show_error(state.error if state is not None else "")
        self._show_notice(state.notice if state is not None else "")
        self._show_metrics(state.metrics if state is not None else None)
        self._show_structured(state)
        self._show_checks(state.checks if state is not None else ())
        self._show_judge(state.judge if state is not None else None)
        self._rating.set_rating(state.rating if state is not None else None)
        self._messages = self._messages_of(cell_id)
        self._prompt.setHtml(messages_html(self._messages))
        self._show_samples(row, col)

    def _build_structured_box(self) -> QGroupBox:
        """A structured run's answer as a collapsible tree, and why it breaks the schema."""
        self._structured = QGroupBox("Structured answer", self)
        self._structured.setObjectName("focusStructured")
        layout = QVBoxLayout(self._structured)
        self._schema_error = QLabel(self._structured)
        self._schema_error.setObjectName("focusSchemaError")
        self._schema_error.setWordWrap(True)
        self._schema_error.setTextFormat(Qt.TextFormat.PlainText)
        self._schema_error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self._schema_error)
        self._tree = JsonTree(self._structured)
        layout.addWidget(self._tree, 1)
        self._structured.hide()
        return self._structured

    def _show_structured(self, state: CellState | None) -> None:
        """The tree of a structured answer once its cell is done (not per token)."""
        metrics = state.metrics if state is not None else None
        if state is None or metrics is None or metrics.schema_valid is None:
            self._structured.hide()
            self._tree.clear_value()
            return
        ok, value = parsed_answer(state.source())
        if ok:
            self._tree.set_value(value)
        else:
            self._tree.clear_value()
        self._tree.setVisible(ok)
        mark = schema_mark(metrics.schema_valid) or ""
        error = metrics.schema_error
        self._schema_error.setText(f"{mark}: {error}" if error else mark)
        self._structured.show()

    def structured_tree(self) -> JsonTree | None:
        """The tree of the shown structured answer, or ``None`` when none is shown."""
        return self._tree if not self._structured.isHidden() else None

    def _show_status(self, phase: str, detail: str) -> None:
        """The chip, and the buttons that apply: Cancel while the cell runs, Retry once it
        ended (neither for a past run), Copy once there is text."""
        self._chip.set_status(phase, detail)
        ended = phase in TERMINAL_PHASES
        live = not self._store.is_read_only()
        self._cancel.setVisible(live and not ended)
        self._retry.setVisible(live and ended)
        self._copy.setVisible(bool(self._answer.source()))
        self._rating.setEnabled(ended)  # an answer is rated once it has ended

    def _show_metrics(self, metrics: CellMetrics | None) -> None:
        for name, value in metric_rows(metrics):
            self._metric_labels[name].setText(value)
        # Longer figures may no longer fit two columns (or shorter ones may again).
        self._metrics_form.fit(self._metrics_area.viewport().width())

    def _show_error(self, message: str) -> None:
        self._error.setText(message)
        self._error.setVisible(bool(message))

    def _show_notice(self, notice: str) -> None:
        self._notice.setText(notice)
        self._notice.setVisible(bool(notice))

    def _show_checks(self, results: tuple[CheckResult, ...]) -> None:
        self._chips.set_results(results)
        lines = [f"{'✓' if r.passed else '✗'} {r.name}: {r.detail}" for r in results]
        self._checks.setText("\n".join(lines))
        self._checks.setVisible(bool(lines))

    def checks_text(self) -> str:
        """The checks' lines shown under the answer (tests read them)."""
        return self._checks.text() if not self._checks.isHidden() else ""

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self._load()

    # ------------------------------------------------------------------ store changes

    def _on_store_shape_changed(self) -> None:
        # Another run (or "Run again"): the same position stays in focus when it exists.
        if self._cell_id is not None and self._cell_id in self._store:
            self._answer.clear()
            self._load()
        else:
            self._show_nothing()

    def _on_store_all_status_changed(self) -> None:
        if self._cell_id is not None:
            status = self._store.status(self._cell_id)
            if status is not None:
                self._show_status(*status)

    def _on_store_texts_appended(self, texts: dict[str, str]) -> None:
        cell_id = self._cell_id
        if cell_id is None or cell_id not in texts:
            return
        if not self.isVisible():
            self._stale = True  # caught up from the store when shown again
            return
        if self._stale:
            self._load()
        else:
            self._answer.append(texts[cell_id])
            self._copy.show()

    def _on_store_cell_changed(self, cell_id: str, change: int) -> None:
        if cell_id != self._cell_id:
            self._refresh_samples_for(cell_id)
            return
        if not self.isVisible():
            self._stale = True
            return
        state = self._store.peek(cell_id)
        if state is None or change & Change.RESET or self._stale:
            self._answer.clear()
            self._load()
            return
        if change & Change.TEXT:
            show_state(self._answer, state)
            self._copy.setVisible(bool(state.length))
        if change & Change.STATUS:
            self._show_status(state.phase, state.detail)
            where = self._store.where(cell_id)
            if where is not None:
                self._show_samples(*where)
        if change & Change.ERROR:
            self._show_error(state.error)
        if change & Change.METRICS:
            self._show_metrics(state.metrics)
            self._show_structured(state)  # metrics come when the cell ends: parse once
        if change & Change.NOTICE:
            self._show_notice(state.notice)
        if change & Change.CHECKS:
            self._show_checks(state.checks)
        if change & Change.JUDGE:
            self._show_judge(state.judge)
        if change & Change.RATING:
            self._rating.set_rating(state.rating)

    def _on_store_cells_changed(self, changes: dict[str, int]) -> None:
        for cell_id, change in changes.items():
            self._on_store_cell_changed(cell_id, change)

    # ------------------------------------------------------------------------------ slots

    def _on_rating_bar_rating_requested(self, action: str, stars: int) -> None:
        if self._cell_id is not None and self._rating.isEnabled():
            self.rating_requested.emit(self._cell_id, action, stars)

    def _refresh_samples_for(self, cell_id: str) -> None:
        """Sum the samples up again when another sample of the shown cell changed."""
        if self._samples_row.isHidden() or self._cell_id is None or not self.isVisible():
            return
        store = self._store
        shown, other = store.where(self._cell_id), store.where(cell_id)
        if shown is None or other is None or shown[0] != other[0]:
            return
        if store.group_of(shown[1]) == store.group_of(other[1]):
            self._show_samples(*shown)

    def _on_prev_sample_clicked(self) -> None:
        self.step_sample(-1)

    def _on_next_sample_clicked(self) -> None:
        self.step_sample(1)

    def _on_prev_col_clicked(self) -> None:
        self.step(0, -1)

    def _on_next_col_clicked(self) -> None:
        self.step(0, 1)

    def _on_prev_row_clicked(self) -> None:
        self.step(-1, 0)

    def _on_next_row_clicked(self) -> None:
        self.step(1, 0)

    def _on_cancel_clicked(self) -> None:
        if self._cell_id is not None:
            self.cancel_requested.emit(self._cell_id)

    def _on_retry_clicked(self) -> None:
        if self._cell_id is not None:
            self.retry_requested.emit(self._cell_id)

    def set_raw(self, raw: bool) -> None:
        """Show the Markdown source (``True``) or the rendered answer: the window's global
        Raw text setting; the view's own Raw button stays in step with it."""
        self._raw.setChecked(raw)

    def _on_raw_toggled(self, raw: bool) -> None:
        self._answer.set_raw(raw)  # kept for the next cells shown, as a reader expects

    def _on_copy_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self._answer.source())

    def _on_store_read_only_changed(self, _read_only: bool) -> None:
        if self._cell_id is not None:
            status = self._store.status(self._cell_id)
            if status is not None:
                self._show_status(*status)

    def _on_compare_clicked(self) -> None:
        where = self._store.where(self._cell_id) if self._cell_id is not None else None
        if where is not None:
            self.row_compare_requested.emit(where[0])
