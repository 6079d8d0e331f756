"""One input row's answers side by side, each sentence coloured by how many answers say it.

Green: every answer (with text) says it; amber: some do; blue: only this one. A legend counts
them and a slider moves the word overlap from which two sentences say the same. The view
takes titles and texts, nothing of a run, so the Results tab's Row compare can feed it, and
:class:`gui.qt.widgets.text_marks.Marks` colours any other plain-text view the same way.

The agreement (:func:`gui.core.agreement.agreement`) is computed in a worker process, at most
:data:`MIN_INTERVAL_MS` apart while answers stream. A result is applied when it still
describes what is on screen: the same threshold, and texts the current ones extend (a
streaming answer only grows, so the colours of its beginning stay right); any other result
is stale and dropped, and the newest request is computed next. Applying a result costs the
GUI thread one ``setExtraSelections`` per answer, for the sentences on screen only;
streaming text is appended, not reset.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QTextOption
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from gui.core.agreement import DEFAULT_THRESHOLD, Agreement, Share, agreement_of
from gui.qt.widgets.elided_label import ElidedLabel
from gui.qt.widgets.latest_job import LatestJob
from gui.qt.widgets.streaming_tails import StreamingTails
from gui.qt.widgets.text_marks import Marks, sentence_ranges, share_colors

__all__ = ["MIN_INTERVAL_MS", "AgreementView"]

#: Shortest time between two computations while answers stream: at most four a second.
MIN_INTERVAL_MS = 250

_LEGEND = {
    Share.ALL: ("said by all", "Every answer with text has a sentence that says the same"),
    Share.SOME: ("said by some", "At least one other answer says the same, not all of them"),
    Share.UNIQUE: ("unique", "No other answer says the same"),
}


#: What a computation is asked: the row's texts and the threshold (plain data: it is pickled
#: to the worker process).
_Request = tuple[tuple[str, ...], float]


def _one_line_break(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


class AgreementView(QWidget):
    """The answers of one row in columns, sentences coloured all / some / unique.

    Signals:
        agreement_shown(): a computed agreement was applied to the columns.
        threshold_changed(threshold): the user moved the slider (0-1).
    """

    agreement_shown = Signal()
    threshold_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._texts: list[str] = []
        self._shown: Agreement | None = None
        self._shown_texts: tuple[str, ...] = ()
        self._threshold = DEFAULT_THRESHOLD
        self._job = LatestJob(agreement_of, MIN_INTERVAL_MS, parent=self)
        self._job.finished.connect(self._on_job_finished)
        self._job.failed.connect(self._on_job_failed)
        self._build_ui()

    def _build_ui(self) -> None:
        self.setObjectName("agreementView")
        legend = QHBoxLayout()
        self._swatches: dict[Share, QLabel] = {}
        self._counts: dict[Share, QLabel] = {}
        for share, (words, tip) in _LEGEND.items():
            swatch = QLabel()
            swatch.setFixedSize(14, 14)
            swatch.setToolTip(tip)
            count = QLabel(f"{words}: 0")
            count.setToolTip(tip)
            legend.addWidget(swatch)
            legend.addWidget(count)
            legend.addSpacing(12)
            self._swatches[share] = swatch
            self._counts[share] = count
        # It takes the room the legend leaves (a narrow view, 900x600 beside the docks,
        # squeezed the whole sentence into a cut): the whole sentence, or a shorter form.
        self._threshold_label = ElidedLabel(min_chars=8, mode=Qt.TextElideMode.ElideRight)
        self._threshold_label.setAlignment(
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        )
        self._slider = QSlider(Qt.Orientation.Horizontal)
        self._slider.setObjectName("agreementThreshold")
        self._slider.setRange(10, 100)
        self._slider.setSingleStep(5)
        self._slider.setPageStep(10)
        self._slider.setFixedWidth(160)
        self._slider.setValue(round(self._threshold * 100))
        self._slider.setToolTip(
            "How many of their words two sentences must share to count as saying the same "
            "(Dice overlap, without case, punctuation or common words)"
        )
        self._slider.valueChanged.connect(self._on_slider_value_changed)
        legend.addWidget(self._threshold_label, 1)
        legend.addWidget(self._slider)
        self._status = QLabel()
        self._status.setObjectName("agreementStatus")
        self._columns = QSplitter(Qt.Orientation.Horizontal)
        layout = QVBoxLayout(self)
        layout.addLayout(legend)
        layout.addWidget(self._status)
        layout.addWidget(self._columns, 1)
        self._titles: list[QLabel] = []
        self._editors: list[QPlainTextEdit] = []
        self._marks: list[Marks] = []
        self._tails = StreamingTails(self)
        self._tails.flushed.connect(self._colour_column)
        self._show_threshold()
        self._paint_swatches()
        self._status.hide()

    # ------------------------------------------------------------------ public API

    def set_answers(self, titles: Sequence[str], texts: Sequence[str]) -> None:
        """Show one row: a title and the answer text per column.

        Call it again as answers stream: a text that extends the one shown is appended, not
        re-set, and the agreement is recomputed off the GUI thread, at most four times a
        second.
        """
        # A text view keeps one kind of line break: ranges must count the same characters.
        texts = [_one_line_break(text) for text in texts]
        self._ensure_columns(len(texts))
        for i, (title, text) in enumerate(zip(titles, texts, strict=True)):
            self._titles[i].setText(title)
            self._titles[i].setToolTip(title)
            self._set_text(i, text)
        self._texts = list(texts)
        self._request()

    def set_threshold(self, threshold: float) -> None:
        """Move the threshold (0-1) as the slider does."""
        self._slider.setValue(round(threshold * 100))

    def threshold(self) -> float:
        """The word overlap (0-1) from which two sentences say the same."""
        return self._threshold

    def result(self) -> Agreement | None:
        """The agreement on screen, or ``None`` before the first one."""
        return self._shown

    def tags(self, answer: int) -> list[tuple[str, Share]]:
        """Each sentence of column ``answer`` on screen, with its share."""
        if self._shown is None:
            return []
        return [(s.text, s.share) for s in self._shown.answers[answer]]

    def legend_counts(self) -> dict[Share, int]:
        """The legend's figures: sentences of the row per share."""
        return self._shown.counts() if self._shown is not None else dict.fromkeys(Share, 0)

    def legend_text(self) -> str:
        """The legend as one line (what a screen reader and the tests read)."""
        return " · ".join(label.text() for label in self._counts.values())

    def editor(self, answer: int) -> QPlainTextEdit:
        """The text view of column ``answer``, holding all of its text."""
        self._tails.flush(answer)
        return self._editors[answer]

    def marked(self, answer: int) -> list[tuple[str, str]]:
        """Column ``answer``'s coloured stretches on screen (and a margin around it) and their
        colours (``#rrggbb``)."""
        self._tails.flush(answer)
        return [
            (sel.cursor.selectedText(), sel.format.background().color().name())
            for sel in self._editors[answer].extraSelections()
        ]

    # ------------------------------------------------------------------ internals

    def _ensure_columns(self, count: int) -> None:
        while len(self._editors) < count:
            column = QWidget()
            box = QVBoxLayout(column)
            box.setContentsMargins(0, 0, 0, 0)
            title = QLabel()
            title.setTextFormat(Qt.TextFormat.PlainText)
            editor = QPlainTextEdit()
            editor.setReadOnly(True)
            editor.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
            box.addWidget(title)
            box.addWidget(editor, 1)
            self._columns.addWidget(column)
            self._titles.append(title)
            self._editors.append(editor)
            self._tails.add(editor)
            marks = Marks(editor)
            marks.set_colors(share_colors(self.palette()))
            self._marks.append(marks)
        for i in range(len(self._editors)):
            parent = self._editors[i].parentWidget()
            assert parent is not None
            parent.setVisible(i < count)

    def _set_text(self, index: int, text: str) -> None:
        old = self._texts[index] if index < len(self._texts) else None
        editor = self._editors[index]
        if old is not None and text.startswith(old):
            if len(text) > len(old):  # streaming: one insert of the new tail
                self._tails.append(index, text[len(old) :])
            return
        self._tails.drop(index)
        editor.setPlainText(text)
        self._marks[index].clear()

    def _request(self) -> None:
        request: _Request = (tuple(self._texts), self._threshold)
        self._job.submit(request)

    def _still_true(self, request: _Request) -> bool:
        """Whether a result for ``request`` describes what is on screen (see the module)."""
        texts, threshold = request
        return (
            threshold == self._threshold
            and len(texts) == len(self._texts)
            and all(now.startswith(then) for then, now in zip(texts, self._texts, strict=True))
        )

    def _apply(self, result: Agreement, texts: tuple[str, ...]) -> None:
        self._shown, self._shown_texts = result, texts
        self._colour()
        counts = result.counts()
        for share, label in self._counts.items():
            label.setText(f"{_LEGEND[share][0]}: {counts[share]}")
        self._status.hide()
        self.agreement_shown.emit()

    def _colour(self) -> None:
        if self._shown is None:
            return
        for i in range(len(self._shown.answers)):
            self._colour_column(i)

    def _colour_column(self, index: int) -> None:
        """Mark column ``index``'s sentences, as far as its view holds the text (the rest is
        marked when the view takes it in)."""
        if self._shown is None or index >= len(self._shown.answers):
            return
        text = self._shown_texts[index]
        in_view = (
            len(self._texts[index]) - self._tails.held_chars(index)
            if index < len(self._texts)
            else 0
        )
        self._marks[index].set(
            text[: max(0, min(len(text), in_view))], sentence_ranges(self._shown.answers[index])
        )

    def _paint_swatches(self) -> None:
        for share, color in share_colors(self.palette()).items():
            self._swatches[share].setStyleSheet(
                f"background-color: {color.name()}; border: 1px solid palette(mid);"
            )

    def _show_threshold(self) -> None:
        percent = f"{self._threshold * 100:.0f} %"
        self._threshold_label.set_full_text(
            f"Same when ≥ {percent} of words match",
            shorter=(f"≥ {percent} of words match", f"≥ {percent} words", f"≥ {percent}"),
        )

    def changeEvent(self, event: QEvent) -> None:
        """Re-colour sentences and legend for a new palette (a theme switch)."""
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._paint_swatches()
            colors = share_colors(self.palette())
            for marks in self._marks:
                marks.set_colors(colors)

    def _on_slider_value_changed(self, value: int) -> None:
        self._threshold = value / 100
        self._show_threshold()
        self.threshold_changed.emit(self._threshold)
        if self._texts:
            self._request()

    def _on_job_finished(self, request: object, result: object, _superseded: bool) -> None:
        if isinstance(request, tuple) and isinstance(result, Agreement):
            if self._still_true(request):
                self._apply(result, request[0])

    def _on_job_failed(self, _request: object, message: str) -> None:
        self._status.setText(f"Could not compare the answers: {message}")
        self._status.show()
