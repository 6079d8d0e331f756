"""Two answers side by side with the words that differ coloured, and how alike they are.

The view takes texts and titles, nothing of a run: the Results tab gives it two cells'
answers. The word diff (:func:`gui.core.textdiff.word_diff`) runs in a worker process (two
1 MB answers take a good part of a second), the newest pair wins, and the two sides scroll
together, proportionally, unless the user turns that off.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QTextOption
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from gui.core.textdiff import WordDiff, word_diff_of
from gui.qt.widgets.elided_label import ElidedLabel
from gui.qt.widgets.latest_job import LatestJob
from gui.qt.widgets.text_marks import Marks, change_colors

__all__ = ["DiffView", "SideName"]


@dataclass(frozen=True, slots=True)
class SideName:
    """What a side's header says of its answer.

    Attributes:
        distinct: What tells this side from the other ("sim-a · sample 2"): never elided.
        context: The rest ("input 1: cats"): elided in the middle when the side is narrow.
    """

    distinct: str
    context: str = ""

    def full(self) -> str:
        """Both parts, as the tooltip shows them."""
        return " — ".join(part for part in (self.distinct, self.context) if part)


class _SideHeader(QWidget):
    """A side's header: its distinguishing part whole and bold, then the context elided."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.distinct = QLabel(self)
        self.distinct.setTextFormat(Qt.TextFormat.PlainText)
        font = self.distinct.font()
        font.setBold(True)
        self.distinct.setFont(font)
        # Minimum: the layout never makes it narrower than its text, so it is never cut.
        self.distinct.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Preferred)
        self.context = ElidedLabel("", self)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(8)
        row.addWidget(self.distinct)
        row.addWidget(self.context, 1)

    def set_name(self, name: SideName) -> None:
        self.distinct.setText(name.distinct)
        self.distinct.setVisible(bool(name.distinct))
        self.context.set_full_text(name.context, name.full())
        self.distinct.setToolTip(name.full())
        self.setToolTip(name.full())


class DiffView(QWidget):
    """Answer A (deletions marked) beside answer B (insertions marked).

    Signals:
        diff_shown(similarity): a diff was computed and coloured; ``similarity`` is 0-100.
    """

    diff_shown = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._diff: WordDiff | None = None
        self._syncing = False
        self._job = LatestJob(word_diff_of, parent=self)
        self._job.finished.connect(self._on_job_finished)
        self._job.failed.connect(self._on_job_failed)
        self._build_ui()
        self._colour()

    def _build_ui(self) -> None:
        self.setObjectName("diffView")
        header = QHBoxLayout()
        self._similarity = QLabel("Similarity: computing…")
        self._similarity.setObjectName("diffSimilarity")
        self._similarity.setToolTip(
            "Twice the words both answers share, over the words of both (punctuation counts, "
            "whitespace does not)"
        )
        self._sync = QCheckBox("Scroll together")
        self._sync.setChecked(True)
        self._sync.setToolTip("Scrolling one side scrolls the other to the same proportion")
        header.addWidget(self._similarity)
        header.addStretch(1)
        header.addWidget(self._sync)
        self._titles: list[_SideHeader] = []
        self._sides: list[QPlainTextEdit] = []
        splitter = QSplitter(Qt.Orientation.Horizontal)
        for name in ("diffSideA", "diffSideB"):
            column = QWidget()
            box = QVBoxLayout(column)
            box.setContentsMargins(0, 0, 0, 0)
            title = _SideHeader()
            title.setObjectName(f"{name}Header")
            side = QPlainTextEdit()
            side.setObjectName(name)
            side.setReadOnly(True)
            side.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
            box.addWidget(title)
            box.addWidget(side, 1)
            splitter.addWidget(column)
            self._titles.append(title)
            self._sides.append(side)
        self._marks = [Marks(side) for side in self._sides]
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(splitter, 1)
        self._sides[0].verticalScrollBar().valueChanged.connect(self._on_side_a_scrolled)
        self._sides[1].verticalScrollBar().valueChanged.connect(self._on_side_b_scrolled)

    # ------------------------------------------------------------------ public API

    def set_texts(
        self, a: str, b: str, title_a: SideName | str = "", title_b: SideName | str = ""
    ) -> None:
        """Show ``a`` against ``b``; the diff is computed off the GUI thread, then coloured.

        Args:
            a: Answer A (left).
            b: Answer B (right).
            title_a: A's header; a plain string is all context (elided in the middle).
            title_b: B's header, likewise.
        """
        self._set_titles(title_a, title_b)
        if not (a or b):  # nothing to compare (no pair chosen): no worker for that
            self._job.cancel()
            self._show(word_diff_of(("", "")))
            return
        self._similarity.setText("Similarity: computing…")
        # A text view keeps one kind of line break: ranges must count the same characters.
        self._job.submit(tuple(t.replace("\r\n", "\n").replace("\r", "\n") for t in (a, b)))

    def set_diff(
        self, diff: WordDiff, title_a: SideName | str = "", title_b: SideName | str = ""
    ) -> None:
        """Show a diff already computed (by the caller, off the GUI thread)."""
        self._set_titles(title_a, title_b)
        self._show(diff)

    def side_header(self, index: int) -> tuple[QLabel, ElidedLabel]:
        """The header labels of side A (0) or B (1): the distinguishing part, the context."""
        header = self._titles[index]
        return header.distinct, header.context

    def diff(self) -> WordDiff | None:
        """The diff on screen, or ``None`` before the first one."""
        return self._diff

    def similarity_text(self) -> str:
        """The header's similarity line."""
        return self._similarity.text()

    def side(self, index: int) -> QPlainTextEdit:
        """The text view of side A (0) or B (1)."""
        return self._sides[index]

    def marked(self, index: int) -> list[str]:
        """The coloured stretches of side A (0, deletions) or B (1, insertions) on screen
        (and a margin around it), in order."""
        return [sel.cursor.selectedText() for sel in self._sides[index].extraSelections()]

    @property
    def scroll_together(self) -> bool:
        """Whether scrolling one side scrolls the other."""
        return self._sync.isChecked()

    def set_scroll_together(self, on: bool) -> None:
        """Turn synchronized scrolling on or off."""
        self._sync.setChecked(on)

    # ------------------------------------------------------------------ internals

    def _set_titles(self, *titles: SideName | str) -> None:
        for header, title in zip(self._titles, titles, strict=True):
            header.set_name(title if isinstance(title, SideName) else SideName("", title))

    def _show(self, diff: WordDiff) -> None:
        self._diff = diff
        self._sides[0].setPlainText(diff.a)
        self._sides[1].setPlainText(diff.b)
        self._similarity.setText(f"Similarity: {diff.similarity:.0f} %")
        self._mark(diff)
        self.diff_shown.emit(diff.similarity)

    def _colour(self) -> None:
        colors = change_colors(self.palette())
        for marks in self._marks:
            marks.set_colors(colors)

    def _mark(self, diff: WordDiff) -> None:
        self._marks[0].set(
            diff.a,
            [(*diff.a_marked(op), "delete") for op in diff.ops if op.tag in ("delete", "replace")],
        )
        self._marks[1].set(
            diff.b,
            [(*diff.b_marked(op), "insert") for op in diff.ops if op.tag in ("insert", "replace")],
        )

    def changeEvent(self, event: QEvent) -> None:
        """Re-colour the marks for a new palette (a theme switch)."""
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._colour()

    def _on_job_finished(self, _pair: object, diff: object, superseded: bool) -> None:
        if not superseded and isinstance(diff, WordDiff):
            self._show(diff)

    def _on_job_failed(self, _pair: object, message: str) -> None:
        self._similarity.setText(f"Similarity: could not compare the answers ({message})")

    def _on_side_a_scrolled(self, _value: int) -> None:
        self._follow(self._sides[0], self._sides[1])

    def _on_side_b_scrolled(self, _value: int) -> None:
        self._follow(self._sides[1], self._sides[0])

    def _follow(self, source: QPlainTextEdit, other: QPlainTextEdit) -> None:
        if self._syncing or not self._sync.isChecked():
            return
        bar, target = source.verticalScrollBar(), other.verticalScrollBar()
        span = bar.maximum() - bar.minimum()
        fraction = (bar.value() - bar.minimum()) / span if span else 0.0
        self._syncing = True  # the other side's valueChanged must not scroll this one back
        try:
            target.setValue(
                target.minimum() + round(fraction * (target.maximum() - target.minimum()))
            )
        finally:
            self._syncing = False
