"""The Diff page of the Results tab: two cells of the shown run in the word-level DiffView.

The page reads the two answers from the :class:`~gui.qt.widgets.cell_store.CellStore` and
hands them to :class:`~gui.qt.widgets.diff_view.DiffView` (which diffs off the GUI thread).
A diff of an answer still streaming would re-set both sides, and the reader's scroll place,
several times a second, so the page diffs what has arrived, says the answer is still coming,
and diffs again when an answer ends (or is retried).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from gui.qt.widgets.cell_pane import ElidedLabel
from gui.qt.widgets.cell_parts import CloseUpPage
from gui.qt.widgets.cell_store import CellStore, Change
from gui.qt.widgets.diff_view import DiffView

__all__ = ["DiffPage"]

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
        """What the heading says."""
        return self._heading.full_text()

    # --------------------------------------------------------------------------- internals

    def _refresh(self) -> None:
        if self._pair is None:
            return
        store = self._store
        a, b = self._pair
        title_a, title_b = store.cell_title(a), store.cell_title(b)
        self._heading.set_full_text(f"Diff: {title_a}  ⟷  {title_b}")
        streaming = any(
            (state := store.peek(cell_id)) is None or not state.final for cell_id in self._pair
        )
        self._note.setVisible(streaming)
        self.view.set_texts(store.source_text(a), store.source_text(b), title_a, title_b)

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

    def _on_store_texts_appended(self, texts: dict[str, str]) -> None:
        # Text after a shown final answer (a retry streams again): say the diff is behind.
        if self._pair is not None and any(cell_id in texts for cell_id in self._pair):
            self._note.show()

    # ------------------------------------------------------------------------------ slots

    def _on_swap_clicked(self) -> None:
        if self._pair is not None:
            self.show_cells(self._pair[1], self._pair[0])
