"""The Diff page of the Results tab: two cells of the shown run in the word-level DiffView.

The page reads the two answers from the :class:`~gui.qt.widgets.cell_store.CellStore` and
hands them to :class:`~gui.qt.widgets.diff_view.DiffView` (which diffs off the GUI thread).
A diff of an answer still streaming would re-set both sides, and the reader's scroll place,
several times a second, so the page diffs what has arrived, says the answer is still coming,
and diffs again when an answer ends (or is retried).

Each side's header names its cell by what tells it from the other (the model, the input, the
sample: :func:`side_names`), shown whole, and elides only the rest, which both share or
which the distinguishing part already points at.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from gui.qt.widgets.cell_pane import ElidedLabel
from gui.qt.widgets.cell_parts import CloseUpPage
from gui.qt.widgets.cell_store import CellStore, Change
from gui.qt.widgets.diff_view import DiffView, SideName

__all__ = ["DiffPage", "side_names"]

_PART = " · "


def _cell_parts(store: CellStore, cell_id: str) -> tuple[int, int, str, str, int, int]:
    """(row, column, row label, run column label, sample number, samples) of a known cell."""
    where = store.where(cell_id)
    assert where is not None
    row, col = where
    group = store.group_of(col)
    if not store.is_grouped():
        return row, col, store.row_label(row), store.column_label(col), 1, 1
    first = store.first_column_of(group)
    samples = sum(1 for c in range(store.column_count()) if store.group_of(c) == group)
    return row, col, store.row_label(row), store.group_labels()[group], col - first + 1, samples


def side_names(store: CellStore, a: str, b: str) -> tuple[SideName, SideName]:
    """The headers of cells ``a`` and ``b`` of ``store`` diffed against each other.

    The distinguishing part holds what differs: the run column's differing parts
    ("t=0.2" against "t=0.7" when both are "sim-a · t=…", else the whole label), the sample
    ("sample 2"), the input by number ("input 3", its text going to the context, which may be
    long). The context holds the rest ("input 1: cats", the shared model).
    """
    row_a, c_a, label_a, col_a, k_a, n_a = _cell_parts(store, a)
    row_b, c_b, label_b, col_b, k_b, n_b = _cell_parts(store, b)
    distinct: tuple[list[str], list[str]] = ([], [])
    context: tuple[list[str], list[str]] = ([], [])
    if col_a != col_b:
        parts_a, parts_b = col_a.split(_PART), col_b.split(_PART)
        if len(parts_a) == len(parts_b):  # same kind of column: only its differing parts
            for part_a, part_b in zip(parts_a, parts_b, strict=True):
                into = distinct if part_a != part_b else context
                into[0].append(part_a)
                into[1].append(part_b)
        else:
            distinct[0].append(col_a)
            distinct[1].append(col_b)
    else:
        context[0].append(col_a)
        context[1].append(col_b)
    if (k_a, n_a) != (k_b, n_b):
        distinct[0].append(f"sample {k_a} of {n_a}")
        distinct[1].append(f"sample {k_b} of {n_b}")
    elif n_a > 1:
        context[0].append(f"sample {k_a} of {n_a}")
        context[1].append(f"sample {k_b} of {n_b}")
    if row_a != row_b:
        distinct[0].append(f"input {row_a + 1}")
        distinct[1].append(f"input {row_b + 1}")
        context[0].insert(0, label_a)
        context[1].insert(0, label_b)
    else:
        context[0].insert(0, f"input {row_a + 1}: {label_a}")
        context[1].insert(0, f"input {row_b + 1}: {label_b}")
    if not distinct[0]:  # two columns of the same label: their place tells them apart
        distinct[0].append(f"column {c_a + 1}")
        distinct[1].append(f"column {c_b + 1}")
    return (
        SideName(_PART.join(distinct[0]), _PART.join(context[0])),
        SideName(_PART.join(distinct[1]), _PART.join(context[1])),
    )


_STREAMING_NOTE = "An answer is still streaming: the diff is redone when it ends."


class DiffPage(CloseUpPage):
    """Two cells side by side, the words that differ coloured, with their similarity.

    Signals:
        back_requested(): Esc or Back: return to the previous layout.
    """

    def __init__(self, store: CellStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._pair: tuple[str, str] | None = None
        self._build_ui()
        store.shape_changed.connect(self._on_store_shape_changed)
        store.cell_changed.connect(self._on_store_cell_changed)
        store.cells_changed.connect(self._on_store_cells_changed)
        store.texts_appended.connect(self._on_store_texts_appended)

    def _build_ui(self) -> None:
        self.setObjectName("diffPage")
        self._heading = ElidedLabel("Select two cells (Ctrl+click) to diff them", self)
        self._heading.setObjectName("diffHeading")
        font = self._heading.font()
        font.setBold(True)
        self._heading.setFont(font)
        self._swap = QToolButton(self)
        self._swap.setText("Swap sides")
        self._swap.setToolTip("Show B against A")
        self._swap.setAutoRaise(True)
        self._swap.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self._swap.clicked.connect(self._on_swap_clicked)
        self._back = QToolButton(self)
        self._back.setText("Back")
        self._back.setToolTip("Back to the previous layout (Esc)")
        self._back.setAutoRaise(True)
        self._back.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self._back.clicked.connect(self.back_requested)
        self._note = QLabel(_STREAMING_NOTE, self)
        self._note.setObjectName("diffNote")
        self._note.hide()
        self.view = DiffView(self)
        self.view.setMinimumSize(1, 1)  # a small window must still fit: the sides are clipped
        header = QHBoxLayout()
        header.addWidget(self._heading, 1)
        header.addWidget(self._swap)
        header.addWidget(self._back)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        layout.addLayout(header)
        layout.addWidget(self._note)
        layout.addWidget(self.view, 1)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._swap.setEnabled(False)

    # ------------------------------------------------------------------------- public API

    def show_cells(self, a: str, b: str) -> bool:
        """Diff cell ``a`` (left) against cell ``b`` (right); ``False`` for unknown cells."""
        if a not in self._store or b not in self._store or a == b:
            return False
        self._pair = (a, b)
        self._swap.setEnabled(True)
        self._refresh()
        return True

    def cells(self) -> tuple[str, str] | None:
        """The two cells diffed (left, right), or ``None``."""
        return self._pair

    def heading(self) -> str:
        """What the heading says: what the two cells share (their headers say the rest)."""
        return self._heading.full_text()

    # --------------------------------------------------------------------------- internals

    def _refresh(self) -> None:
        if self._pair is None:
            return
        store = self._store
        a, b = self._pair
        name_a, name_b = side_names(store, a, b)
        # The heading says only what both cells share, so eliding it never hides what tells
        # them apart: each side's header names its cell by that, whole.
        shared = _PART.join(
            part_a
            for part_a, part_b in zip(
                name_a.context.split(_PART), name_b.context.split(_PART), strict=False
            )
            if part_a == part_b and part_a
        )
        self._heading.set_full_text(
            f"Diff · {shared}" if shared else "Diff of two cells",
            f"A: {name_a.full()}\nB: {name_b.full()}",
        )
        streaming = any(
            (state := store.peek(cell_id)) is None or not state.final for cell_id in self._pair
        )
        self._note.setVisible(streaming)
        self.view.set_texts(store.source_text(a), store.source_text(b), name_a, name_b)

    # ------------------------------------------------------------------ store changes

    def _on_store_shape_changed(self) -> None:
        pair = self._pair
        if pair is not None and all(cell_id in self._store for cell_id in pair):
            self._refresh()  # "Run again": the same two positions, new answers
            return
        self._pair = None
        self._swap.setEnabled(False)
        self._heading.set_full_text("Select two cells (Ctrl+click) to diff them")
        self._note.hide()
        self.view.set_texts("", "")

    def _on_store_cell_changed(self, cell_id: str, change: int) -> None:
        if (
            self._pair is not None
            and cell_id in self._pair
            and change & (Change.TEXT | Change.RESET)
        ):
            self._refresh()

    def _on_store_cells_changed(self, changes: dict[str, int]) -> None:
        for cell_id, change in changes.items():
            self._on_store_cell_changed(cell_id, change)

    def _on_store_texts_appended(self, texts: dict[str, str]) -> None:
        # Text after a shown final answer (a retry streams again): say the diff is behind.
        if self._pair is not None and any(cell_id in texts for cell_id in self._pair):
            self._note.show()

    # ------------------------------------------------------------------------------ slots

    def _on_swap_clicked(self) -> None:
        if self._pair is not None:
            self.show_cells(self._pair[1], self._pair[0])
