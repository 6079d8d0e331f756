"""What every cell of the shown run holds, shared by every layout of the Results tab.

The Results tab shows one run in several layouts (Grid, Tiles, Focus, Row compare). None of
them owns the cells: the :class:`CellStore` does. The results page writes each frame into
the store (status, text that arrived, final answer, error, metrics, notice) and the store
tells the layouts what changed with a few coarse signals, so a layout that is hidden, or
shows only some cells, updates only what it shows and reads the rest when it needs it.

Cells are records created on first use: a 20,000-cell run has no 20,000 records up front,
and :meth:`CellStore.set_all_status` gives every cell its first status in one call. A run's
shape (:meth:`CellStore.set_run_shape`) lists no id either: the store makes each id from its
place when asked and finds a cell's place by parsing its id.

Text reaches the store as the server sent it, and Qt silently drops a lone surrogate (a
JSON ``"\\ud800"`` escape, an undecodable byte): the store keeps such text with each one
replaced by U+FFFD (:func:`gui.core.cleantext.clean`, the rule the history and the CLI use)
and the cell says :data:`~gui.core.cleantext.REPLACED_NOTICE`, as its stored copy does.

Duplicate input rows are kept (both run), so two rows may carry the same label: the store
then adds the row number to the label and the titles of each repeated row
("cats (row 3) × sim-1"), whoever built the labels.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import IntFlag
from typing import Protocol

from PySide6.QtCore import QObject, Signal

from gui.core.checks import CheckResult
from gui.core.cleantext import REPLACED_NOTICE, clean
from gui.core.judging import JudgeVerdict
from gui.core.metrics import CellMetrics
from gui.core.ratings import Rating
from gui.core.release import release_later
from gui.core.runner import Phase
from gui.core.spec import CellId

__all__ = ["CellState", "CellStore", "Change"]


class Change(IntFlag):
    """What changed on a cell (:attr:`CellStore.cell_changed`)."""

    STATUS = 1
    #: The text was replaced (the final answer, or a reset): redraw it, do not append.
    TEXT = 2
    ERROR = 4
    METRICS = 8
    NOTICE = 16
    #: Back to queued with nothing (a retry): every field changed.
    RESET = 32
    #: The run's check results on the cell's answer arrived (or were cleared).
    CHECKS = 64
    #: The LLM judge's verdict arrived (or was cleared).
    JUDGE = 512
    #: The user's rating of the answer changed.
    RATING = 1024


@dataclass(slots=True)
class CellState:
    """Everything a layout shows of one cell.

    Attributes:
        phase: Where the cell is (queued ... done/failed/cancelled).
        detail: The chip's detail ("waiting for a slot", "retrying 2/3 in 1.0 s").
        chunks: The text received so far, in pieces (joined on demand).
        length: Characters in ``chunks``.
        final: Whether ``chunks`` is the complete answer.
        markdown: Whether the final answer is to be rendered as Markdown.
        error: One line on why the cell failed or was cancelled, or ``""``.
        metrics: Timings and token counts, once known.
        notice: One line about the cell's text (replaced characters, not streamed...).
        checks: The run's check results on the answer (``()``: not checked, or no checks).
        judge: The LLM judge's verdict on the cell, once it came (issue 13).
        rating: The user's rating of the answer (thumb, stars, best in row), or ``None``.
    """

    phase: Phase = Phase.QUEUED
    detail: str = ""
    chunks: list[str] = field(default_factory=list)
    length: int = 0
    final: bool = False
    markdown: bool = True
    error: str = ""
    metrics: CellMetrics | None = None
    notice: str = ""
    checks: tuple[CheckResult, ...] = ()
    judge: JudgeVerdict | None = None
    rating: Rating | None = None

    def source(self) -> str:
        """The text received so far (the final answer once final)."""
        if len(self.chunks) > 1:
            self.chunks = ["".join(self.chunks)]
        return self.chunks[0] if self.chunks else ""

    def text_since(self, start: int) -> str:
        """The text after the first ``start`` characters: what a view that has shown
        ``start`` characters still has to append (cheap for a recent ``start``)."""
        if start >= self.length:
            return ""
        if start <= 0:
            return self.source()
        tail: list[str] = []
        have = self.length
        for chunk in reversed(self.chunks):
            if have - len(chunk) < start:
                tail.append(chunk[start - (have - len(chunk)) :])
                break
            tail.append(chunk)
            have -= len(chunk)
        tail.reverse()
        return "".join(tail)

    def tail(self, chars: int) -> str:
        """The last ``chars`` characters of the text (a tile's last lines)."""
        return self.text_since(max(0, self.length - chars))


class CellStore(QObject):
    """The shown run's cells: its shape (rows x columns) and each cell's state.

    Every per-cell method takes a cell id from the last :meth:`set_shape`; ids the store
    does not know (a late event of a replaced run) are ignored.

    Signals:
        shape_changed(): a new run (or none) is shown: every layout rebuilds.
        all_status_changed(): :meth:`set_all_status` gave every cell one status.
        texts_appended(dict): this frame's new text per cell id, already cleaned.
        cell_changed(str, int): a cell's fields changed; the int is a :class:`Change` mask.
        cells_changed(dict): many cells' fields changed in one :meth:`batched` block (a
            frame's events): each cell id's :class:`Change` mask, told once for them all.
        read_only_changed(bool): a past run is shown (no Cancel or Retry), or live again.
    """

    shape_changed = Signal()
    all_status_changed = Signal()
    texts_appended = Signal(object)
    cell_changed = Signal(str, int)
    cells_changed = Signal(object)
    read_only_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._row_labels: list[str] = []
        self._col_labels: list[str] = []
        self._ids: _CellIds = _ListedIds([], 0)
        self._titles: list[list[str]] | None = None
        # Issue 15: a repeated cell's samples are columns of their own, grouped under the
        # run's column (Scoreboard, judge ranking); None = every column is its own group.
        self._group_labels: list[str] | None = None
        self._group_of: list[int] | None = None
        self._states: dict[str, CellState] = {}
        # (phase, detail) of every cell without a record of its own.
        self._default_status: tuple[Phase, str] = (Phase.QUEUED, "")
        self._read_only = False
        # The changes of the open batched() block, merged per cell; None outside one.
        self._batch: dict[str, int] | None = None

    # ------------------------------------------------------------------------- shape

    def set_shape(
        self,
        row_labels: list[str],
        col_labels: list[str],
        cell_ids: list[list[str]],
        titles: list[list[str]] | None = None,
        groups: tuple[list[str], list[int]] | None = None,
    ) -> None:
        """Replace the cells: ``cell_ids[r][c]`` is the cell of input ``r`` and column ``c``.

        Args:
            row_labels: One label per input row.
            col_labels: One label per column (a model, or any column dimension).
            cell_ids: Cell ids, ``len(row_labels)`` lists of ``len(col_labels)`` each.
            titles: Cell titles in the same shape; default ``"<row> × <column>"``.
            groups: The column groups, as :meth:`set_column_groups` takes them, set before
                :attr:`shape_changed` so the views lay the groups out with the shape.

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
        cleaned = (
            [[clean(title)[0] for title in row] for row in titles] if titles is not None else None
        )
        self._reshape(row_labels, col_labels, _ListedIds(cell_ids, n_cols), cleaned, groups)

    def set_run_shape(
        self,
        row_labels: list[str],
        col_labels: list[str],
        samples: int = 1,
        groups: tuple[list[str], list[int]] | None = None,
    ) -> None:
        """Replace the cells with a run's: the cell of row ``r`` and column ``c`` is
        ``CellId.text(r, c // samples, c % samples)``, as the engine names it.

        What :meth:`set_shape` does with the ids a run would list, without listing them: the
        ids are made when asked for and read back by parsing, so a 20,000-cell run's shape
        costs its row labels, not 20,000 ids and their index (the press of Run).

        Args:
            row_labels: One label per input row.
            col_labels: One label per column: the run's columns, or with ``samples`` > 1 one
                per sample of each (``samples`` columns per run column, side by side).
            samples: Samples per run column.
            groups: As :meth:`set_shape` takes them.

        Raises:
            ValueError: ``samples`` is below 1 or does not divide the columns.
        """
        if samples < 1 or len(col_labels) % samples:
            raise ValueError("col_labels must hold every sample of every run column")
        ids = _RunIds(len(row_labels), len(col_labels), samples)
        self._reshape(row_labels, col_labels, ids, None, groups)

    def _reshape(
        self,
        row_labels: list[str],
        col_labels: list[str],
        ids: _CellIds,
        titles: list[list[str]] | None,
        groups: tuple[list[str], list[int]] | None,
    ) -> None:
        # Inputs and model names may hold lone surrogates too: shown replaced, not dropped.
        self._row_labels = _cleaned_all(row_labels)
        self._col_labels = _cleaned_all(col_labels)
        self._ids = ids
        self._titles = titles
        self._number_repeated_rows()
        self._group_labels = None
        self._group_of = None
        if groups is not None:
            self.set_column_groups(*groups)
        # The last run's states freed a slice per loop iteration, not in the press of Run.
        release_later(self._states)
        self._states = {}
        self._default_status = (Phase.QUEUED, "")
        self.shape_changed.emit()

    def clear(self) -> None:
        """No run shown."""
        self.set_shape([], [], [])

    def _number_repeated_rows(self) -> None:
        """Tell repeated rows apart: their label and titles get ``(row N)``."""
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

    def row_count(self) -> int:
        """Input rows."""
        return len(self._row_labels)

    def column_count(self) -> int:
        """Columns."""
        return len(self._col_labels)

    def is_empty(self) -> bool:
        """Whether no run (or an empty one) is shown."""
        return not (self._row_labels and self._col_labels)

    def row_label(self, row: int) -> str:
        """The label of input row ``row`` (with its number if repeated)."""
        return self._row_labels[row]

    def row_labels(self) -> list[str]:
        """Every row label."""
        return list(self._row_labels)

    def column_label(self, col: int) -> str:
        """The label of column ``col``."""
        return self._col_labels[col]

    def column_labels(self) -> list[str]:
        """Every column label."""
        return list(self._col_labels)

    def set_column_groups(self, labels: list[str], group_of: list[int]) -> None:
        """Group the columns: ``group_of[c]`` is the group of column ``c`` (the samples of a
        repeated cell are columns of one group, the run's column ``labels[group]``).

        Call right after :meth:`set_shape` (which ungroups), before the views read it.

        Raises:
            ValueError: ``group_of`` does not name a group for every column.
        """
        if len(group_of) != len(self._col_labels) or any(
            not 0 <= g < len(labels) for g in group_of
        ):
            raise ValueError("group_of must give every column a group of labels")
        self._group_labels = _cleaned_all(labels)
        self._group_of = list(group_of)

    def is_grouped(self) -> bool:
        """Whether the columns are grouped (the samples of repeated cells)."""
        return self._group_of is not None

    def group_labels(self) -> list[str]:
        """The labels of the column groups (the column labels when ungrouped)."""
        return list(self._group_labels if self._group_labels is not None else self._col_labels)

    def group_of(self, col: int) -> int:
        """The group of column ``col`` (itself when ungrouped)."""
        return self._group_of[col] if self._group_of is not None else col

    def first_column_of(self, group: int) -> int:
        """The first column of group ``group`` (its first sample; itself when ungrouped)."""
        if self._group_of is None:
            return group
        try:
            return self._group_of.index(group)
        except ValueError:
            return group

    def cell_id(self, row: int, col: int) -> str:
        """The id of the cell at ``row``, ``col``.

        Raises:
            IndexError: no such cell.
        """
        return self._ids.cell_id(row, col)

    def row_cell_ids(self, row: int) -> list[str]:
        """The cells of input row ``row``, one per column."""
        return self._ids.row(row)

    def where(self, cell_id: str) -> tuple[int, int] | None:
        """``(row, column)`` of a cell, or ``None`` for an unknown id."""
        return self._ids.where(cell_id)

    def cell_ids(self) -> Iterator[str]:
        """Every cell id, row-major."""
        return iter(self._ids)

    def __contains__(self, cell_id: object) -> bool:
        return isinstance(cell_id, str) and self._ids.where(cell_id) is not None

    def title(self, row: int, col: int) -> str:
        """The title of a cell: ``"<row> × <column>"`` unless the shape gave titles."""
        if self._titles is not None:
            return self._titles[row][col]
        row_label = " ".join(self._row_labels[row].split()) or f"row {row + 1}"
        return f"{row_label} × {self._col_labels[col]}"

    def cell_title(self, cell_id: str) -> str:
        """The title of a cell by id (``""`` if unknown)."""
        where = self._ids.where(cell_id)
        return self.title(*where) if where is not None else ""

    # --------------------------------------------------------------------- read-only

    def set_read_only(self, read_only: bool) -> None:
        """A past run is shown: cells offer Copy but no Cancel or Retry."""
        if read_only != self._read_only:
            self._read_only = read_only
            self.read_only_changed.emit(read_only)

    def is_read_only(self) -> bool:
        """Whether a past run is shown."""
        return self._read_only

    # --------------------------------------------------------------------- cell state

    @contextmanager
    def batched(self) -> Iterator[None]:
        """Tell the cell changes made inside as one :attr:`cells_changed` when it ends.

        A frame that ends thousands of cells (a big run cancelled) told each layout about
        each cell through its own signal: the signals alone took most of the frame. Inside
        a batch the changes are merged per cell and told once; a nested block joins the
        outer one.
        """
        if self._batch is not None:
            yield
            return
        self._batch = {}
        try:
            yield
        finally:
            changes, self._batch = self._batch, None
            if changes:
                self.cells_changed.emit(changes)

    def _changed(self, cell_id: str, change: Change) -> None:
        """Tell the layouts (now, or at the end of the batch under way)."""
        batch = self._batch
        if batch is None:
            self.cell_changed.emit(cell_id, change)
        else:
            batch[cell_id] = batch.get(cell_id, 0) | change

    def state(self, cell_id: str) -> CellState | None:
        """The record of a known cell (created on first use); ``None`` if unknown."""
        state = self._states.get(cell_id)
        if state is None and self._ids.where(cell_id) is not None:
            phase, detail = self._default_status
            state = self._states[cell_id] = CellState(phase, detail)
        return state

    def peek(self, cell_id: str) -> CellState | None:
        """The record of a cell if it has one (no record is created)."""
        return self._states.get(cell_id)

    def default_status(self) -> tuple[Phase, str]:
        """The status of every cell without a record of its own."""
        return self._default_status

    def status(self, cell_id: str) -> tuple[Phase, str] | None:
        """``(phase, detail)`` of a cell, ``None`` if unknown."""
        state = self._states.get(cell_id)
        if state is not None:
            return (state.phase, state.detail)
        return self._default_status if self._ids.where(cell_id) is not None else None

    def set_status(self, cell_id: str, phase: Phase, detail: str = "") -> None:
        """Set a cell's phase and the chip's detail."""
        state = self.state(cell_id)
        if state is None:
            return
        state.phase, state.detail = phase, detail
        self._changed(cell_id, Change.STATUS)

    def set_all_status(self, phase: Phase, detail: str = "") -> None:
        """Give every cell one status at once, e.g. "waiting for a slot" at a run's start.

        One call instead of one :meth:`set_status` per cell: 20,000 cells cost what the
        shown ones do.
        """
        self._default_status = (phase, detail)
        for state in self._states.values():
            state.phase, state.detail = phase, detail
        self.all_status_changed.emit()

    def append_texts(self, texts: dict[str, str]) -> None:
        """Add this frame's streamed text for every cell that got some."""
        appended: dict[str, str] = {}
        for cell_id, text in texts.items():
            state = self.state(cell_id) if text else None
            if state is None:
                continue
            text = self._cleaned(cell_id, state, text)
            # Text after the end: the answer streams again (a view mirrors this itself).
            state.final = False
            state.chunks.append(text)
            state.length += len(text)
            appended[cell_id] = text
        if appended:
            self.texts_appended.emit(appended)

    def set_final_text(self, cell_id: str, text: str, markdown: bool = True) -> None:
        """A cell's complete answer (rendered as Markdown unless ``markdown=False``)."""
        state = self.state(cell_id)
        if state is None:
            return
        text = self._cleaned(cell_id, state, text)
        state.chunks, state.length, state.final, state.markdown = [text], len(text), True, markdown
        self._changed(cell_id, Change.TEXT)

    def set_error(self, cell_id: str, message: str) -> None:
        """A one-line error on a cell; its partial text stays."""
        state = self.state(cell_id)
        if state is None:
            return
        state.error = self._cleaned(cell_id, state, message)
        self._changed(cell_id, Change.ERROR)

    def set_metrics(self, cell_id: str, metrics: CellMetrics | None) -> None:
        """A cell's metrics (``None`` clears them)."""
        state = self.state(cell_id)
        if state is None:
            return
        state.metrics = metrics
        self._changed(cell_id, Change.METRICS)

    def set_ended(
        self, cell_id: str, phase: Phase, error: str, metrics: CellMetrics | None
    ) -> None:
        """A cell failed or was cancelled: its phase, its one-line reason (its partial text
        stays) and its metrics, told as one change.

        One :attr:`cell_changed` rather than one per field: cancelling a big run ends
        thousands of cells in a frame, and each signal reaches every layout.
        """
        state = self.state(cell_id)
        if state is None:
            return
        state.phase, state.detail = phase, ""
        state.error = self._cleaned(cell_id, state, error)
        state.metrics = metrics
        self._changed(cell_id, Change.STATUS | Change.ERROR | Change.METRICS)

    def set_notice(self, cell_id: str, notice: str) -> None:
        """One line about a cell's text (``""`` removes it)."""
        state = self.state(cell_id)
        if state is None:
            return
        state.notice = notice
        self._changed(cell_id, Change.NOTICE)

    def set_checks(self, cell_id: str, results: tuple[CheckResult, ...]) -> None:
        """A cell's check results (``()`` clears them)."""
        state = self.state(cell_id)
        if state is None:
            return
        state.checks = results
        self._changed(cell_id, Change.CHECKS)

    def checks(self, cell_id: str) -> tuple[CheckResult, ...]:
        """A cell's check results, or ``()``."""
        state = self._states.get(cell_id)
        return state.checks if state is not None else ()

    def set_judge(self, cell_id: str, verdict: JudgeVerdict | None) -> None:
        """The LLM judge's verdict on a cell (``None`` clears it)."""
        state = self.state(cell_id)
        if state is None:
            return
        state.judge = verdict
        self._changed(cell_id, Change.JUDGE)

    def set_rating(self, cell_id: str, rating: Rating | None) -> None:
        """A cell's rating (``None`` clears it); the caller keeps best-in-row unique."""
        state = self.state(cell_id)
        if state is None or state.rating == rating:
            return
        state.rating = rating
        self._changed(cell_id, Change.RATING)

    def rating(self, cell_id: str) -> Rating | None:
        """A cell's rating, or ``None``."""
        state = self._states.get(cell_id)
        return state.rating if state is not None else None

    def reset_cell(self, cell_id: str) -> None:
        """Back to queued with no text, error or metrics (before a retry)."""
        if self._ids.where(cell_id) is None:
            return
        self._states[cell_id] = CellState()  # queued, whatever set_all_status said before
        self._changed(cell_id, Change.RESET)

    def _cleaned(self, cell_id: str, state: CellState, text: str) -> str:
        """``text`` as Qt can show it; a replacement puts the notice on the cell (it stays
        until the cell is reset: later clean text does not undo the replacement)."""
        text, replaced = clean(text)
        if replaced and state.notice != REPLACED_NOTICE:
            self.set_notice(cell_id, REPLACED_NOTICE)
        return text

    # --------------------------------------------------------------------- reading

    def source_text(self, cell_id: str) -> str:
        """A cell's text exactly as received (the Markdown source once final)."""
        state = self._states.get(cell_id)
        return state.source() if state is not None else ""

    def error(self, cell_id: str) -> str:
        """A cell's error, or ``""``."""
        state = self._states.get(cell_id)
        return state.error if state is not None else ""

    def notice(self, cell_id: str) -> str:
        """A cell's notice, or ``""``."""
        state = self._states.get(cell_id)
        return state.notice if state is not None else ""


def _cleaned_all(texts: list[str]) -> list[str]:
    """``texts`` as panes can show them; all-ASCII lists (the usual case) checked in C."""
    if all(map(str.isascii, texts)):
        return list(texts)
    return [clean(text)[0] for text in texts]


class _CellIds(Protocol):
    """The ids of a shape's cells, row-major, and where each one sits."""

    def cell_id(self, row: int, col: int) -> str: ...

    def row(self, row: int) -> list[str]: ...

    def where(self, cell_id: str) -> tuple[int, int] | None: ...

    def __iter__(self) -> Iterator[str]: ...


class _ListedIds:
    """Ids given one by one (:meth:`CellStore.set_shape`), with an index of where each is."""

    __slots__ = ("_rows", "_where")

    def __init__(self, rows: list[list[str]], n_cols: int) -> None:
        self._rows = list(map(list, rows))
        # Built in C (zip over product): a loop in Python here was a good part of a
        # 20,000-cell run's start (docs/performance-notes.md).
        self._where = dict(
            zip(
                itertools.chain.from_iterable(self._rows),
                itertools.product(range(len(self._rows)), range(n_cols)),
                strict=True,
            )
        )

    def cell_id(self, row: int, col: int) -> str:
        return self._rows[row][col]

    def row(self, row: int) -> list[str]:
        return list(self._rows[row])

    def where(self, cell_id: str) -> tuple[int, int] | None:
        return self._where.get(cell_id)

    def __iter__(self) -> Iterator[str]:
        return itertools.chain.from_iterable(self._rows)


class _RunIds:
    """A run's ids (:meth:`CellStore.set_run_shape`): made from their place when asked for,
    placed by parsing them, so no id or index exists per cell."""

    __slots__ = ("_cols", "_rows", "_samples")

    def __init__(self, rows: int, cols: int, samples: int) -> None:
        self._rows, self._cols, self._samples = rows, cols, samples

    def cell_id(self, row: int, col: int) -> str:
        if not (0 <= row < self._rows and 0 <= col < self._cols):
            raise IndexError(f"no cell at row {row}, column {col}")
        return CellId.text(row, *divmod(col, self._samples))

    def row(self, row: int) -> list[str]:
        if not 0 <= row < self._rows:
            raise IndexError(f"no row {row}")
        text, samples = CellId.text, self._samples
        return [text(row, *divmod(col, samples)) for col in range(self._cols)]

    def where(self, cell_id: str) -> tuple[int, int] | None:
        try:
            parsed = CellId.parse(cell_id)
        except ValueError:
            return None
        row, col = parsed.row, parsed.col * self._samples + parsed.sample
        if row >= self._rows or col >= self._cols or parsed.sample >= self._samples:
            return None
        # Only the id the engine writes ("r01m0" or "r0m0s0" name no cell, as in a listing).
        return (row, col) if str(parsed) == cell_id else None

    def __iter__(self) -> Iterator[str]:
        text, samples = CellId.text, self._samples
        for row in range(self._rows):
            for col in range(self._cols):
                yield text(row, *divmod(col, samples))
