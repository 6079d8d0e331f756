"""The results grid: one row per input, one column per model, one :class:`CellPane` per cell.

Panes are created lazily. The grid keeps every cell's state (status, text, error, metrics)
in plain records and only builds panes for the rows in or near the viewport, applying the
stored state when a pane materialises and releasing panes of rows that scrolled far away.
Building and showing a pane is the expensive part (docs/performance-notes.md), so 10,000 rows x
2 models stay as cheap as the few rows on screen; the window talks to the grid by cell id and never needs to know
whether a pane exists.

Rows have one fixed height, so a row's position is ``row * row_height`` and the canvas can
be sized without measuring anything. (Qt caps a widget at 16,777,215 px, which at 220 px a
row is about 76,000 rows.) The model-name header sits in the scroll area's top viewport
margin, the way ``QTableView`` places its ``QHeaderView``, so it stays visible while the
rows scroll and follows the horizontal scroll bar.

Text reaches the grid as the server sent it, and Qt silently drops a lone surrogate (a JSON
``"\\ud800"`` escape, an undecodable byte): the grid shows such text with each one replaced
by U+FFFD (:func:`gui.core.cleantext.clean`, the rule the history and the CLI use) and the
cell says :data:`~gui.core.cleantext.REPLACED_NOTICE` on its footer, as its stored copy does.

Duplicate input rows are kept (both run), so two rows may carry the same label: the grid
then adds the row number to the label and the pane titles of each repeated row
("cats (row 3) × sim-1"), whoever built the labels.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QWidget

from gui.core.cleantext import REPLACED_NOTICE, clean
from gui.core.metrics import CellMetrics
from gui.core.runner import Phase
from gui.core.text import cut_text
from gui.qt.widgets.cell_pane import CellPane, ElidedLabel, markdown_to_plain

#: What the grid says before the first run.
EMPTY_HINT = "Write a prompt, add inputs and press Ctrl+Enter"

_ROW_LABEL_CHARS = 400  # longer inputs are cut (full text in the tooltip)


@dataclass(slots=True)
class _CellState:
    """Everything a pane shows, kept whether or not the pane exists."""

    phase: Phase = Phase.QUEUED
    detail: str = ""
    parts: list[str] = field(default_factory=list)
    final: bool = False
    markdown: bool = True
    error: str = ""
    metrics: CellMetrics | None = None
    notice: str = ""
    plain: str | None = None  # cached rendered text of a final Markdown answer

    def source(self) -> str:
        """The text received so far (the final answer once final)."""
        if len(self.parts) > 1:
            self.parts = ["".join(self.parts)]
        return self.parts[0] if self.parts else ""


@dataclass(slots=True)
class _LiveRow:
    """The widgets of one materialised row."""

    widget: QWidget
    label: QLabel
    panes: list[CellPane]


class ResultsGrid(QScrollArea):
    """Rows = inputs, columns = models; panes are built only for rows near the viewport.

    Signals:
        cancel_requested(str): Cancel pressed on a pane; carries the cell id.
        retry_requested(str): Retry pressed on a pane; carries the cell id.

    Every per-cell method takes a cell id from the last :meth:`set_grid`; ids the grid
    does not know (a late event of a replaced run) are ignored.
    """

    cancel_requested = Signal(str)
    retry_requested = Signal(str)

    #: Default row height in pixels.
    ROW_HEIGHT = 220
    #: Columns share the viewport width equally but never get narrower than this.
    MIN_COLUMN_WIDTH = 280
    #: Widest the row-label column gets.
    MAX_LABEL_WIDTH = 160
    #: Pixels of space around each pane.
    GAP = 4
    #: Pixels per wheel/arrow step: pixel scrolling, small enough to read while scrolling.
    SCROLL_STEP = 40
    #: Rows built beyond each edge of the viewport, so panes exist before they show.
    OVERSCAN_ROWS = 1
    #: Rows kept beyond the overscan before release, so scrolling back and forth by a
    #: little never rebuilds the same panes.
    KEEP_ROWS = 2

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._row_labels: list[str] = []
        self._col_labels: list[str] = []
        self._cell_ids: list[list[str]] = []
        self._titles: list[list[str]] | None = None
        self._states: dict[str, _CellState] = {}
        # (phase, detail) of every cell without a state record of its own: set_all_status
        # gives 20,000 cells their first status without 20,000 records.
        self._default_status: tuple[Phase, str] = (Phase.QUEUED, "")
        self._where: dict[str, tuple[int, int]] = {}
        self._live: dict[int, _LiveRow] = {}
        self._panes: dict[str, CellPane] = {}
        self._header_labels: list[ElidedLabel] = []
        self._row_height = self.ROW_HEIGHT
        self._label_width = 0
        self._column_width = self.MIN_COLUMN_WIDTH
        self._in_relayout = False
        self._relayout_again = False
        self._read_only = False
        self._build_ui()

    # ----------------------------------------------------------------------------- UI

    def _build_ui(self) -> None:
        self.setObjectName("resultsGrid")
        self.setFrameShape(QFrame.Shape.NoFrame)
        # The canvas is sized by hand (rows x fixed height), never stretched to the view.
        self.setWidgetResizable(False)
        self._canvas = QWidget()
        self._canvas.setObjectName("resultsCanvas")
        self._canvas.resize(0, 0)
        self.setWidget(self._canvas)

        vbar, hbar = self.verticalScrollBar(), self.horizontalScrollBar()
        vbar.setSingleStep(self.SCROLL_STEP)
        hbar.setSingleStep(self.SCROLL_STEP)
        vbar.valueChanged.connect(self._on_vertical_scrollbar_value_changed)
        hbar.valueChanged.connect(self._on_horizontal_scrollbar_value_changed)

        # Lives in the top viewport margin: outside the scrolled area, so it stays put.
        self._header = QWidget(self)
        self._header.setObjectName("resultsHeader")
        self._header_strip = QWidget(self._header)
        self._header_height = self.fontMetrics().height() + 10
        self._header.hide()

        self._empty_hint = QLabel(EMPTY_HINT, self.viewport())
        self._empty_hint.setObjectName("emptyHint")
        self._empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._empty_hint.setWordWrap(True)
        self._empty_hint.setStyleSheet("QLabel#emptyHint { color: palette(placeholder-text); }")
        self.viewport().installEventFilter(self)

    # ------------------------------------------------------------------------- grid shape

    def set_grid(
        self,
        row_labels: list[str],
        col_labels: list[str],
        cell_ids: list[list[str]],
        titles: list[list[str]] | None = None,
    ) -> None:
        """Replace the grid: ``cell_ids[r][c]`` is the cell of input ``r`` and model ``c``.

        Args:
            row_labels: One label per input row (shown left of the row).
            col_labels: One label per model (shown in the sticky header).
            cell_ids: Cell ids, ``len(row_labels)`` lists of ``len(col_labels)`` each.
            titles: Pane titles in the same shape; default ``"<row> × <column>"``.

        Raises:
            ValueError: the shapes do not match.
        """
        n_cols = len(col_labels)
        # map() and set() run in C: at 10,000 rows a Python loop per row shows (run start).
        if len(cell_ids) != len(row_labels) or set(map(len, cell_ids)) - {n_cols}:
            raise ValueError("cell_ids must have one row per row label and one id per column")
        if titles is not None and (
            len(titles) != len(row_labels) or any(len(row) != n_cols for row in titles)
        ):
            raise ValueError("titles must have the same shape as cell_ids")
        self.clear_grid()
        # Inputs and model names may hold lone surrogates too: shown replaced, not dropped.
        self._row_labels = _cleaned_all(row_labels)
        self._col_labels = _cleaned_all(col_labels)
        self._cell_ids = list(map(list, cell_ids))
        self._titles = (
            [[clean(title)[0] for title in row] for row in titles] if titles is not None else None
        )
        self._number_repeated_rows()
        # States are created on first use: 10,000 rows need no 20,000 records up front. The
        # id -> (row, column) map is built in C (zip over product): a loop in Python here was
        # a good part of a 20,000-cell run's start (docs/performance-notes.md).
        self._where = dict(
            zip(
                itertools.chain.from_iterable(self._cell_ids),
                itertools.product(range(len(self._cell_ids)), range(n_cols)),
                strict=True,
            )
        )
        self._label_width = self._measure_label_width()
        for text in self._col_labels:
            label = ElidedLabel(text, self._header_strip)
            label.setObjectName("columnHeader")
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            font = label.font()
            font.setBold(True)
            label.setFont(font)
            label.show()
            self._header_labels.append(label)
        has_grid = bool(self._row_labels and self._col_labels)
        self._empty_hint.setVisible(not has_grid)
        self._header.setVisible(has_grid)
        self.setViewportMargins(0, self._header_height if has_grid else 0, 0, 0)
        self._relayout()

    def _number_repeated_rows(self) -> None:
        """Tell repeated rows apart: their label and pane titles get ``(row N)``."""
        counts = Counter(self._row_labels)
        if len(counts) == len(self._row_labels):
            return
        for r, label in enumerate(self._row_labels):
            if counts[label] < 2:
                continue
            tag = f"(row {r + 1})"
            self._row_labels[r] = f"{label} {tag}"
            if self._titles is not None:
                # The usual title starts with the row label: the number goes right after it.
                self._titles[r] = [
                    f"{label} {tag}{title[len(label) :]}"
                    if title.startswith(label)
                    else f"{tag} {title}"
                    for title in self._titles[r]
                ]

    def row_label(self, row: int) -> str:
        """The label shown left of input row ``row`` (with its number if repeated)."""
        return self._row_labels[row]

    def set_read_only(self, read_only: bool) -> None:
        """Show a past run: panes keep Copy but offer no Cancel or Retry."""
        self._read_only = read_only
        for pane in self._panes.values():
            pane.set_read_only(read_only)

    def is_read_only(self) -> bool:
        """Whether the grid shows a past run."""
        return self._read_only

    def clear_grid(self) -> None:
        """Remove every pane and label and show the empty-state hint."""
        for row in list(self._live):
            self._release_row(row)
        for label in self._header_labels:
            label.hide()
            label.deleteLater()
        self._header_labels = []
        self._row_labels, self._col_labels, self._cell_ids, self._titles = [], [], [], None
        self._states, self._where = {}, {}
        self._default_status = (Phase.QUEUED, "")
        self._canvas.resize(0, 0)  # also brings both scroll bars back to 0
        self._empty_hint.show()
        self._header.hide()
        self.setViewportMargins(0, 0, 0, 0)

    def row_count(self) -> int:
        """Input rows in the grid."""
        return len(self._row_labels)

    def column_count(self) -> int:
        """Model columns in the grid."""
        return len(self._col_labels)

    def cell_ids(self) -> Iterator[str]:
        """Every cell id, row-major."""
        for row in self._cell_ids:
            yield from row

    def row_height(self) -> int:
        """Height of every row in pixels."""
        return self._row_height

    def set_row_height(self, height: int) -> None:
        """Change the height of every row (at least a pane's minimum plus the gaps)."""
        self._row_height = max(int(height), 170 + 2 * self.GAP)
        self._relayout()

    def column_width(self) -> int:
        """Current width of each model column in pixels (pane plus gaps)."""
        return self._column_width

    # --------------------------------------------------------------------- panes by id

    def pane(self, cell_id: str) -> CellPane | None:
        """The pane of ``cell_id`` if its row is materialised, else ``None``."""
        return self._panes.get(cell_id)

    def materialized_cell_ids(self) -> list[str]:
        """Cells that currently have a pane."""
        return list(self._panes)

    def scroll_to_cell(self, cell_id: str) -> CellPane | None:
        """Scroll until ``cell_id`` is in view and return its (now built) pane."""
        where = self._where.get(cell_id)
        if where is None:
            return None
        r, c = where
        half_w, half_h = self._column_width // 2, self._row_height // 2
        x = self._label_width + c * self._column_width + half_w
        self.ensureVisible(x, r * self._row_height + half_h, half_w, half_h)
        self._sync_rows()
        return self._panes.get(cell_id)

    # ------------------------------------------------------------ per-cell state, by id

    def set_status(self, cell_id: str, phase: Phase, detail: str = "") -> None:
        """Set the phase of a cell (see :meth:`CellPane.set_status`)."""
        state = self._state(cell_id)
        if state is None:
            return
        state.phase, state.detail = phase, detail
        pane = self._panes.get(cell_id)
        if pane is not None:
            pane.set_status(phase, detail)

    def set_all_status(self, phase: Phase, detail: str = "") -> None:
        """Set the phase of every cell at once, e.g. "waiting for a slot" when a run starts.

        One call instead of one :meth:`set_status` per cell: 20,000 cells cost what the
        visible panes do.
        """
        self._default_status = (phase, detail)
        for state in self._states.values():
            state.phase, state.detail = phase, detail
        for pane in self._panes.values():
            pane.set_status(phase, detail)

    def append_texts(self, texts: dict[str, str]) -> None:
        """Append this frame's streamed text for every cell that got some."""
        for cell_id, text in texts.items():
            state = self._state(cell_id) if text else None
            if state is None:
                continue
            if state.final:  # mirrors CellPane: text after the end goes back to plain
                state.final, state.plain = False, None
            text = self._cleaned(cell_id, state, text)
            state.parts.append(text)
            pane = self._panes.get(cell_id)
            if pane is not None:
                pane.append_text(text)

    def set_final_text(self, cell_id: str, text: str, markdown: bool = True) -> None:
        """Show a cell's complete answer (Markdown rendered once unless ``markdown=False``)."""
        state = self._state(cell_id)
        if state is None:
            return
        text = self._cleaned(cell_id, state, text)
        state.parts, state.final, state.markdown, state.plain = [text], True, markdown, None
        pane = self._panes.get(cell_id)
        if pane is not None:
            pane.set_final_text(text, markdown)

    def set_error(self, cell_id: str, message: str) -> None:
        """Show a one-line error on a cell, keeping its partial text."""
        state = self._state(cell_id)
        if state is None:
            return
        message = self._cleaned(cell_id, state, message)
        state.error = message
        pane = self._panes.get(cell_id)
        if pane is not None:
            pane.set_error(message)

    def set_metrics(self, cell_id: str, metrics: CellMetrics | None) -> None:
        """Show a cell's metrics (``None`` clears them)."""
        state = self._state(cell_id)
        if state is None:
            return
        state.metrics = metrics
        pane = self._panes.get(cell_id)
        if pane is not None:
            pane.set_metrics(metrics)

    def set_notice(self, cell_id: str, notice: str) -> None:
        """Show one line about a cell's text on its footer (``""`` removes it); a past run's
        cells carry the notice stored with them."""
        state = self._state(cell_id)
        if state is None:
            return
        state.notice = notice
        pane = self._panes.get(cell_id)
        if pane is not None:
            pane.set_notice(notice)

    def cell_notice(self, cell_id: str) -> str:
        """The notice of a cell, or ``""``."""
        state = self._states.get(cell_id)
        return state.notice if state is not None else ""

    def _cleaned(self, cell_id: str, state: _CellState, text: str) -> str:
        """``text`` as a pane can show it; a replacement puts the notice on the cell (it
        stays until the cell is reset: later clean text does not undo the replacement)."""
        text, replaced = clean(text)
        if replaced and state.notice != REPLACED_NOTICE:
            self.set_notice(cell_id, REPLACED_NOTICE)
        return text

    def reset_cell(self, cell_id: str) -> None:
        """Back to queued with no text, error or metrics (before a retry)."""
        if cell_id not in self._where:
            return
        self._states[cell_id] = _CellState()  # queued, whatever set_all_status said before
        pane = self._panes.get(cell_id)
        if pane is not None:
            pane.reset()

    def cell_text(self, cell_id: str) -> str:
        """The plain text a cell shows (rendered text of a final Markdown answer)."""
        pane = self._panes.get(cell_id)
        if pane is not None:
            return pane.text()
        state = self._states.get(cell_id)
        if state is None:
            return ""
        if state.final and state.markdown:
            if state.plain is None:
                state.plain = markdown_to_plain(state.source())
            return state.plain
        return state.source()

    def cell_source_text(self, cell_id: str) -> str:
        """The text exactly as received (the Markdown source once final)."""
        state = self._states.get(cell_id)
        return state.source() if state is not None else ""

    def cell_status(self, cell_id: str) -> str:
        """The phase of a cell, or ``""`` for an unknown id."""
        if cell_id not in self._where:
            return ""
        state = self._states.get(cell_id)
        return state.phase if state is not None else self._default_status[0]

    def cell_error(self, cell_id: str) -> str:
        """The error of a cell, or ``""``."""
        state = self._states.get(cell_id)
        return state.error if state is not None else ""

    # ---------------------------------------------------------------- layout and laziness

    def _state(self, cell_id: str) -> _CellState | None:
        """The state record of a known cell, created on first use; ``None`` if unknown."""
        state = self._states.get(cell_id)
        if state is None and cell_id in self._where:
            phase, detail = self._default_status
            state = self._states[cell_id] = _CellState(phase, detail)
        return state

    def _measure_label_width(self) -> int:
        labels = [label for label in self._row_labels[:1000] if label]
        if not labels:
            return 0
        metrics = self.fontMetrics()
        # The 20 longest only: width follows length closely enough for labels that are
        # elided anyway, and 1,000 measurements showed at a big run's start.
        longest = heapq.nlargest(20, labels, key=len)
        widest = max(metrics.horizontalAdvance(label[:_ROW_LABEL_CHARS]) for label in longest)
        return max(60, min(self.MAX_LABEL_WIDTH, widest + 16))

    def _relayout(self) -> None:
        """Size the canvas to the viewport and place everything; repeats while the scroll
        bars appearing or vanishing change the viewport under it."""
        if self._in_relayout:
            self._relayout_again = True
            return
        self._in_relayout = True
        try:
            for _ in range(3):
                self._relayout_again = False
                self._relayout_once()
                if not self._relayout_again:
                    break
        finally:
            self._in_relayout = False

    def _relayout_once(self) -> None:
        viewport = self.viewport()
        self._empty_hint.setGeometry(viewport.rect().adjusted(24, 24, -24, -24))
        n_rows, n_cols = len(self._row_labels), len(self._col_labels)
        if not (n_rows and n_cols):
            return
        available = viewport.width() - self._label_width
        self._column_width = max(self.MIN_COLUMN_WIDTH, available // n_cols)
        width = self._label_width + n_cols * self._column_width
        self._canvas.resize(width, n_rows * self._row_height)
        self._place_header()
        for row, live in self._live.items():
            self._place_row(row, live)
        self._sync_rows()

    def _place_header(self) -> None:
        area = self.viewport().geometry()
        height = self._header_height
        self._header.setGeometry(area.x(), area.y() - height, area.width(), height)
        self._header_strip.setGeometry(
            -self.horizontalScrollBar().value(), 0, self._canvas.width(), height
        )
        for c, label in enumerate(self._header_labels):
            x = self._label_width + c * self._column_width + self.GAP
            label.setGeometry(x, 0, self._column_width - 2 * self.GAP, height)

    def _place_row(self, row: int, live: _LiveRow) -> None:
        gap, height = self.GAP, self._row_height
        live.widget.setGeometry(0, row * height, self._canvas.width(), height)
        live.label.setGeometry(
            gap + 2, gap, max(self._label_width - 2 * gap - 2, 0), height - 2 * gap
        )
        for c, pane in enumerate(live.panes):
            x = self._label_width + c * self._column_width + gap
            pane.setGeometry(x, gap, self._column_width - 2 * gap, height - 2 * gap)

    def _visible_rows(self) -> range:
        top = self.verticalScrollBar().value()
        first = top // self._row_height
        last = (top + max(self.viewport().height(), 1) - 1) // self._row_height
        return range(first, min(last, len(self._row_labels) - 1) + 1)

    def _sync_rows(self) -> None:
        """Build the rows in or near the viewport; release those far from it."""
        if not (self._row_labels and self._col_labels):
            return
        visible = self._visible_rows()
        first = max(0, visible.start - self.OVERSCAN_ROWS)
        last = min(len(self._row_labels) - 1, visible.stop - 1 + self.OVERSCAN_ROWS)
        keep_first, keep_last = first - self.KEEP_ROWS, last + self.KEEP_ROWS
        for row in [r for r in self._live if not keep_first <= r <= keep_last]:
            self._release_row(row)
        for row in range(first, last + 1):
            if row not in self._live:
                self._materialise_row(row)

    def _materialise_row(self, row: int) -> None:
        widget = QWidget(self._canvas)
        widget.setObjectName("resultsRow")
        text = self._row_labels[row]
        label = QLabel(widget)
        label.setObjectName("rowLabel")
        label.setTextFormat(Qt.TextFormat.PlainText)
        label.setWordWrap(True)
        label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        label.setText(cut_text(text, _ROW_LABEL_CHARS))
        label.setToolTip(text)
        label.setVisible(self._label_width > 0)
        panes: list[CellPane] = []
        for c, cell_id in enumerate(self._cell_ids[row]):
            pane = CellPane(cell_id, self._title(row, c), widget)
            if self._read_only:
                pane.set_read_only(True)
            pane.cancel_requested.connect(self.cancel_requested)
            pane.retry_requested.connect(self.retry_requested)
            self._panes[cell_id] = pane
            panes.append(pane)
        live = _LiveRow(widget, label, panes)
        self._live[row] = live
        self._place_row(row, live)
        # State after geometry, so text is laid out once at the final width.
        default = self._default_status
        for pane in panes:
            state = self._states.get(pane.cell_id)
            if state is not None:
                _apply_state(pane, state)
            elif default != (Phase.QUEUED, ""):  # else untouched: a new pane is already "queued"
                pane.set_status(*default)
        widget.show()

    def _release_row(self, row: int) -> None:
        live = self._live.pop(row)
        for pane in live.panes:
            self._panes.pop(pane.cell_id, None)
        live.widget.hide()
        live.widget.deleteLater()

    def _title(self, row: int, col: int) -> str:
        if self._titles is not None:
            return self._titles[row][col]
        row_label = " ".join(self._row_labels[row].split()) or f"row {row + 1}"
        return f"{row_label} × {self._col_labels[col]}"

    # ------------------------------------------------------------------- events and slots

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # The viewport resizes when a scroll bar appears or the window resizes.
        if watched is self.viewport() and event.type() == QEvent.Type.Resize:
            self._relayout()
        return super().eventFilter(watched, event)

    def _on_vertical_scrollbar_value_changed(self, _value: int) -> None:
        self._sync_rows()

    def _on_horizontal_scrollbar_value_changed(self, value: int) -> None:
        self._header_strip.move(-value, 0)


def _cleaned_all(texts: list[str]) -> list[str]:
    """``texts`` as panes can show them; all-ASCII lists (the usual case) checked in C."""
    if all(map(str.isascii, texts)):
        return list(texts)
    return [clean(text)[0] for text in texts]


def _apply_state(pane: CellPane, state: _CellState) -> None:
    """Bring a freshly built pane up to ``state``."""
    pane.set_status(state.phase, state.detail)
    if state.final:
        pane.set_final_text(state.source(), state.markdown)
    elif state.parts:
        pane.append_text(state.source())
    if state.error:
        pane.set_error(state.error)
    if state.metrics is not None:
        pane.set_metrics(state.metrics)
    if state.notice:
        pane.set_notice(state.notice)


__all__ = ["EMPTY_HINT", "ResultsGrid"]
