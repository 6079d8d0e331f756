"""The blind arena: one input at a time, its answers shuffled and unnamed until rated.

Blind mode shows the answers of one input row side by side as "Answer A", "Answer B"...,
in an order of their own per row (:func:`gui.core.ratings.arena_order`, seeded by the run:
reopening a run never reshuffles it), with no model name anywhere on the page. The user rates
them (keys or each answer's rating bar); once the row is rated (a best pick, or stars on
every answer: :func:`gui.core.ratings.row_is_rated`) or on **Reveal**, each answer's model is
shown; then the next row. A rating given before the reveal is blind (it feeds the
leaderboard); one changed after it is not.

A reveal outlives the run being closed and reopened as far as the history can tell: a row
with a rating that is not blind (given after the reveal, or in a layout that shows the
names) is shown revealed. A reveal with R followed by no rating leaves nothing stored, so
that row is hidden again when the run is reopened (the user has learnt nothing they could
rate blind with, but the arena cannot know that they saw the names).

While a row is hidden, a failed answer's error is not shown either: providers' errors often
name the model ("model 'gpt-4o' not found"). It shows with the names.

A run with repeats or a sweep may give a row dozens of answers: the arena builds and fills
them a few milliseconds' worth per loop turn, from the left, so turning blind mode on or
moving to the next input paints between two batches instead of freezing the window.

Keyboard: Left/Right pick the answer, 1-5 stars, 0 clears, U/+ and D/- thumbs, B best in
row, N or Enter the next input, P the previous one, R reveals. Like every layout it reads the
cells from the :class:`~gui.qt.widgets.cell_store.CellStore` and follows its signals; the
ratings it asks for go out through :attr:`ArenaView.rating_requested`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import partial

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QResizeEvent, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gui.core.ratings import arena_letter, arena_order, row_is_rated
from gui.core.runner import Phase
from gui.qt.widgets.cell_pane import TERMINAL_PHASES, ElidedLabel
from gui.qt.widgets.cell_parts import AnswerView, StatusChip, show_state
from gui.qt.widgets.cell_store import CellStore, Change
from gui.qt.widgets.rating_bar import RatingBar, rating_key_actions
from gui.qt.widgets.status_chip import ProblemLabel

__all__ = ["ArenaView"]

_MIN_ANSWER_WIDTH = 260
#: A loop turn stops building and filling answers once it has spent this long (seconds).
_SLICE_S = 0.008
_CURRENT_STYLE = "QFrame#arenaAnswer { border: 2px solid palette(highlight); border-radius: 3px; }"


class _Answer(QFrame):
    """One shuffled answer: its letter (and model once revealed), status, text, rating bar."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("arenaAnswer")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.cell_id = ""
        self._current = False
        self.label = ElidedLabel("", self)
        self.label.setObjectName("arenaAnswerLabel")
        font = self.label.font()
        font.setBold(True)
        self.label.setFont(font)
        self.chip = StatusChip(self)
        self.answer = AnswerView(self)
        self.error = ProblemLabel(self)  # the failed red of the theme, no sheet of its own
        self.error.hide()
        self.rating = RatingBar(self)
        header = QHBoxLayout()
        header.setSpacing(4)
        header.addWidget(self.label, 1)
        header.addWidget(self.chip)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(3)
        layout.addLayout(header)
        layout.addWidget(self.answer, 1)
        layout.addWidget(self.error)
        layout.addWidget(self.rating)

    def minimumSizeHint(self) -> QSize:
        # At least its rating bar's width: a fixed minimum of 260 px squeezed "Best" to
        # "B…t" and "Clear" to "…" (the strip scrolls sideways instead).
        hint = super().minimumSizeHint()
        return QSize(max(_MIN_ANSWER_WIDTH, hint.width()), hint.height())

    def set_current(self, current: bool) -> None:
        # A border in the highlight colour marks the answer the keys rate (either theme).
        # Set only when it changes: a style sheet re-polishes the whole answer.
        if current != self._current:
            self._current = current
            self.setStyleSheet(_CURRENT_STYLE if current else "")


class ArenaView(QWidget):
    """Blind comparison of one input's answers, keyboard driven.

    Signals:
        rating_requested(str, str, int, bool): a rating for an answer: its cell id, a
            :class:`~gui.core.ratings.RatingAction` value, the stars, and whether the model
            names were still hidden when it was given.
        row_changed(int): another input row is shown.
    """

    rating_requested = Signal(str, str, int, bool)
    row_changed = Signal(int)

    def __init__(self, store: CellStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._seed = ""
        self._row = -1
        self._order: list[int] = []  # position -> column
        self._current = 0  # position the keys rate
        self._revealed: set[int] = set()  # rows revealed with R (rated rows reveal anyway)
        self._answers: list[_Answer] = []  # built so far, positions 0 to n - 1
        self._to_load: list[int] = []  # positions still to build or fill, in order
        self._stale = False
        # A new run's shape arrived while hidden (the arena is shown in blind mode only): its
        # answers are built when shown or asked for, not at every run's start.
        self._shape_stale = False
        self._build_ui()
        store.shape_changed.connect(self._on_store_shape_changed)
        store.all_status_changed.connect(self._on_store_all_status_changed)
        store.texts_appended.connect(self._on_store_texts_appended)
        store.cell_changed.connect(self._on_store_cell_changed)
        store.cells_changed.connect(self._on_store_cells_changed)
        self._on_store_shape_changed()

    # ----------------------------------------------------------------------------- UI

    def _build_ui(self) -> None:
        self.setObjectName("arenaView")
        self._prev = self._tool("◀ Input", "The previous input (P)")
        self._next = self._tool("Next input ▶", "The next input (N or Enter)")
        self._reveal = self._tool("Reveal", "Show which model wrote each answer (R)")
        self._prev.clicked.connect(self._on_prev_clicked)
        self._next.clicked.connect(self._on_next_clicked)
        self._reveal.clicked.connect(self._on_reveal_clicked)
        self._position = QLabel(self)
        self._position.setObjectName("arenaPosition")
        bar = QHBoxLayout()
        bar.setSpacing(4)
        bar.addWidget(self._position)
        bar.addStretch(1)
        for button in (self._prev, self._next, self._reveal):
            bar.addWidget(button)
        self._input = ElidedLabel("", self)
        self._input.setObjectName("arenaInput")
        self._status = QLabel(self)
        self._status.setObjectName("arenaStatus")
        self._status.setWordWrap(True)
        self._status.setTextFormat(Qt.TextFormat.PlainText)
        self._empty = QLabel("No run to judge yet: run a prompt over several models.", self)
        self._empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._strip = QWidget(self)
        self._strip_layout = QHBoxLayout(self._strip)
        self._strip_layout.setContentsMargins(0, 0, 0, 0)
        self._strip_layout.setSpacing(6)
        # Answers have one fixed width (:meth:`_fit_answers`) and go in left of this stretch:
        # one more answer moves none of the others (with a share of the width each, every
        # answer built narrowed the rest, a relayout of all their texts per answer).
        self._strip_layout.addStretch(1)
        self._answer_width = 0
        self._scroll = QScrollArea(self)
        self._scroll.setWidgetResizable(True)
        self._scroll.setFrameShape(QFrame.Shape.NoFrame)
        self._scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._scroll.setWidget(self._strip)
        self._scroll.setMinimumSize(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        layout.addLayout(bar)
        layout.addWidget(self._input)
        layout.addWidget(self._status)
        layout.addWidget(self._empty, 1)
        layout.addWidget(self._scroll, 1)
        keys: list[tuple[QKeySequence, Callable[[], None]]] = [
            (QKeySequence(Qt.Key.Key_Left), lambda: self._move(-1)),
            (QKeySequence(Qt.Key.Key_Right), lambda: self._move(1)),
            (QKeySequence("N"), self._on_next_clicked),
            (QKeySequence(Qt.Key.Key_Return), self._on_next_clicked),
            (QKeySequence(Qt.Key.Key_Enter), self._on_next_clicked),
            (QKeySequence("P"), self._on_prev_clicked),
            (QKeySequence("R"), self._on_reveal_clicked),
        ]
        for text, action, stars in rating_key_actions():
            sequence = QKeySequence(Qt.Key.Key_Plus) if text == "+" else QKeySequence(text)
            keys.append((sequence, partial(self._rate_current, str(action), stars)))
        for sequence, slot in keys:
            shortcut = QShortcut(sequence, self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        # The next slice of answers to build and fill, after the loop has painted.
        self._work_timer = QTimer(self)
        self._work_timer.setSingleShot(True)
        self._work_timer.setInterval(0)
        self._work_timer.timeout.connect(self._on_work_timer_timeout)

    def _tool(self, text: str, tip: str) -> QToolButton:
        button = QToolButton(self)
        button.setText(text)
        button.setToolTip(tip)
        button.setAutoRaise(True)
        button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        return button

    # ------------------------------------------------------------------------- public API

    def set_seed(self, seed: str) -> None:
        """What the rows' shuffles derive from (the run's id), before its cells arrive."""
        self._seed = seed

    def show_row(self, row: int) -> bool:
        """Show input ``row``; ``False`` if the run has no such row."""
        self._ensure_shape(complete=False)  # the row's answers are filled afresh anyway
        store = self._store
        if not 0 <= row < store.row_count():
            return False
        changed = row != self._row
        self._row = row
        if changed:
            self._order = arena_order(self._seed, row, store.column_count())
            self._current = 0
        self._load()
        if changed:
            self.row_changed.emit(row)
        return True

    def row(self) -> int:
        """The input row shown (-1: none)."""
        self._ensure_shape()
        return self._row

    def order(self) -> list[int]:
        """The columns of the shown row in the order shown (position -> column)."""
        self._ensure_shape()
        return list(self._order)

    def answer_labels(self) -> list[str]:
        """Each shown answer's header, in the order shown."""
        self._ensure_shape()
        return [a.label.full_text() for a in self._answers]

    def answer_texts(self) -> list[str]:
        """Each shown answer's source text, in the order shown."""
        self._ensure_shape()
        return [a.answer.source() for a in self._answers]

    def answer_cell_ids(self) -> list[str]:
        """The cell of each shown answer, in the order shown."""
        self._ensure_shape()
        return [a.cell_id for a in self._answers]

    def status_text(self) -> str:
        """The line under the input (what to do, or which model wrote what)."""
        self._ensure_shape()
        return self._status.text()

    def page_text(self) -> str:
        """Every text the page shows (a test checks no model name is in it before the reveal)."""
        self._ensure_shape()
        parts = [self._position.text(), self._input.full_text(), self._status.text()]
        for answer in self._answers:
            parts += [answer.label.full_text(), answer.chip.text(), answer.error.text()]
        return "\n".join(parts)

    def current(self) -> int:
        """The position of the answer the keys rate."""
        self._ensure_shape()
        return self._current

    def set_current(self, position: int) -> None:
        """Make the answer at ``position`` the one the keys rate."""
        self._ensure_shape()
        if 0 <= position < len(self._answers):
            self._current = position
            for i, answer in enumerate(self._answers):
                answer.set_current(i == position)

    def revealed(self) -> bool:
        """Whether the shown row's models are shown."""
        self._ensure_shape()
        return self._revealed_now()

    def reveal(self) -> None:
        """Show the models of the shown row now (ratings given after this are not blind)."""
        self._ensure_shape()
        if self._row >= 0:
            self._revealed.add(self._row)
            self._show_names()

    def pending_answers(self) -> int:
        """Answers of the shown row still to be built or filled (the next loop turns do)."""
        return len(self._to_load)

    def visible_cell_count(self) -> int:
        """Cells shown whole (the benchmarks' ``visible_cells``)."""
        self._ensure_shape()
        area = self._scroll.viewport().rect()
        offset = self._strip.pos()
        return sum(1 for a in self._answers if area.contains(a.geometry().translated(offset)))

    # --------------------------------------------------------------------------- internals

    def _rated(self, row: int) -> bool:
        store = self._store
        ids = store.row_cell_ids(row)
        answered = [self._answered(cell_id) for cell_id in ids]
        return row_is_rated([store.rating(cell_id) for cell_id in ids], answered)

    def _seen(self, row: int) -> bool:
        """Whether a stored rating of ``row`` was given with the names shown: its models
        were seen, in this session or before the run was reopened."""
        ratings = (self._store.rating(cell_id) for cell_id in self._store.row_cell_ids(row))
        return any(r is not None and not r.empty and not r.blind for r in ratings)

    def _answered(self, cell_id: str) -> bool:
        state = self._store.peek(cell_id)
        return state is not None and state.phase == Phase.DONE

    def _rebuild(self) -> None:
        """Drop the answers; a new shape's are built by :meth:`_work`, as they are filled."""
        self._work_timer.stop()
        self._to_load = []
        self._answer_width = 0
        for answer in self._answers:
            answer.hide()
            answer.deleteLater()
        self._answers = []

    def _build_answer(self) -> _Answer:
        position = len(self._answers)
        answer = _Answer(self._strip)
        answer.rating.rating_requested.connect(
            lambda action, stars, p=position: self._rate(p, action, stars)
        )
        self._strip_layout.insertWidget(position, answer)
        self._answers.append(answer)
        if self._answer_width:
            answer.setFixedWidth(self._answer_width)
        return answer

    def _fit_answers(self) -> None:
        """Give every answer the row's width: the viewport shared by all of them, never
        narrower than an answer's minimum (then the strip scrolls)."""
        if not self._answers:
            return
        count = max(len(self._order), 1)
        spacing = self._strip_layout.spacing()
        share = (self._scroll.viewport().width() - spacing * (count - 1)) // count
        width = max(share, self._answers[0].minimumSizeHint().width())
        if width != self._answer_width:
            self._answer_width = width
            for answer in self._answers:
                answer.setFixedWidth(width)

    def _load(self) -> None:
        """Show the row: its header now, its answers from the left in slices (:meth:`_work`)."""
        self._stale = False
        store = self._store
        row = self._row
        if not 0 <= row < store.row_count():
            return
        self._position.setText(f"Input {row + 1} of {store.row_count()}")
        self._input.set_full_text(store.row_label(row))
        self._prev.setEnabled(row > 0)
        self._next.setEnabled(row < store.row_count() - 1)
        ids = store.row_cell_ids(row)
        # Every built answer says whose it is at once: the store's changes find it by cell.
        for answer, col in zip(self._answers, self._order, strict=False):
            answer.cell_id = ids[col]
        self._to_load = list(range(len(self._order)))
        self._show_names()
        self._work()

    def _work(self, budget: float = _SLICE_S) -> None:
        """Build and fill the waiting answers until ``budget`` seconds are spent (at least
        one); the timer comes back for the rest after the loop has painted."""
        started = time.perf_counter()
        ids = self._store.row_cell_ids(self._row) if self._row >= 0 else []
        shown = self._revealed_now()
        while self._to_load:
            position = self._to_load.pop(0)
            if position >= len(self._order):
                continue
            while len(self._answers) <= position:
                self._build_answer()
            answer = self._answers[position]
            answer.cell_id = ids[self._order[position]] if ids else ""
            self._load_answer(answer)
            self._label(position, answer, shown)
            answer.set_current(position == self._current)
            if time.perf_counter() - started >= budget:
                break
        self._fit_answers()  # once the first is filled, its minimum width is known
        if self._to_load:
            self._work_timer.start()

    def _complete(self) -> None:
        """Build and fill every waiting answer now (a caller reads them)."""
        if self._to_load:
            self._work_timer.stop()
            self._work(math.inf)

    def _on_work_timer_timeout(self) -> None:
        if self.isVisible():
            self._work()
        elif self._to_load:
            self._stale = True  # filled afresh when shown again

    def _load_answer(self, answer: _Answer) -> None:
        cell_id = answer.cell_id
        status = self._store.status(cell_id)
        if status is not None:
            # The phase only: a detail could name the model ("retrying: sim-1 ...").
            answer.chip.set_status(status[0])
        state = self._store.peek(cell_id)
        show_state(answer.answer, state)
        self._show_error(answer)
        answer.rating.set_rating(state.rating if state is not None else None)
        answer.rating.setEnabled(status is not None and status[0] in TERMINAL_PHASES)

    def _show_error(self, answer: _Answer, shown: bool | None = None) -> None:
        """A failed answer's error once the row is revealed; before, only that it failed
        (the error may name the model)."""
        state = self._store.peek(answer.cell_id)
        error = state.error if state is not None and state.phase != Phase.DONE else ""
        if error and not (self._revealed_now() if shown is None else shown):
            error = "This answer failed; the reason shows with the models (R), as it may name one."
        answer.error.setText(error)
        answer.error.setVisible(bool(error))

    def _revealed_now(self) -> bool:
        """:meth:`revealed` without completing the answers still being built."""
        row = self._row
        return row >= 0 and (row in self._revealed or self._rated(row) or self._seen(row))

    def _label(self, position: int, answer: _Answer, shown: bool) -> None:
        """An answer's header and error: its letter, with the model once shown."""
        letter = f"Answer {arena_letter(position)}"
        model = self._store.column_label(self._order[position])
        answer.label.set_full_text(f"{letter} · {model}" if shown else letter)
        self._show_error(answer, shown)

    def _show_names(self) -> None:
        """The answers' headers, errors and the status line: letters only, or with the
        models."""
        store = self._store
        shown = self._revealed_now()
        self._reveal.setEnabled(not shown and self._row >= 0)
        for position, answer in enumerate(self._answers[: len(self._order)]):
            self._label(position, answer, shown)
        names = [
            f"{arena_letter(position)} = {store.column_label(col)}"
            for position, col in enumerate(self._order)
        ]
        if shown:
            self._status.setText("Revealed: " + ", ".join(names) + ". N: next input.")
        else:
            self._status.setText(
                "Models hidden. Rate each answer (1-5, U/D) or pick the best (B); "
                "←/→ choose the answer, R reveals."
            )

    def _rate(self, position: int, action: str, stars: int) -> None:
        if not 0 <= position < len(self._answers):
            return
        answer = self._answers[position]
        if not answer.rating.isEnabled():
            return
        self.set_current(position)
        self.rating_requested.emit(answer.cell_id, action, stars, not self.revealed())

    def _rate_current(self, action: str, stars: int) -> None:
        self._rate(self._current, action, stars)

    def _move(self, step: int) -> None:
        self.set_current(max(0, min(len(self._order) - 1, self._current + step)))

    def _position_of(self, cell_id: str) -> _Answer | None:
        return next((a for a in self._answers if a.cell_id == cell_id), None)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_answers()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._ensure_shape(complete=False)
        if self._stale:
            self._load()

    # ------------------------------------------------------------------ store changes

    def _ensure_shape(self, complete: bool = True) -> None:
        """Build for the store's shape if it changed while hidden; ``complete``: and every
        answer still waiting for its slice (callers that read the answers)."""
        if self._shape_stale:
            self._shape_stale = False
            self._apply_shape()
        if complete:
            self._complete()

    def _on_store_shape_changed(self) -> None:
        if not self.isVisible():
            self._shape_stale = True
            return
        self._shape_stale = False
        self._apply_shape()

    def _apply_shape(self) -> None:
        store = self._store
        self._revealed = set()
        self._rebuild()
        has_run = not store.is_empty()
        self._empty.setVisible(not has_run)
        self._scroll.setVisible(has_run)
        for widget in (self._prev, self._next, self._reveal):
            widget.setEnabled(has_run)
        self._row = -1
        if has_run:
            self.show_row(0)
        else:
            self._position.setText("")
            self._input.set_full_text("")
            self._status.setText("")

    def _on_store_all_status_changed(self) -> None:
        if self._shape_stale:  # built from the store when shown
            return
        for answer in self._answers:
            status = self._store.status(answer.cell_id)
            if status is not None:
                answer.chip.set_status(status[0])

    def _on_store_texts_appended(self, texts: dict[str, str]) -> None:
        if self._shape_stale:  # built from the store when shown
            return
        waiting = set(self._to_load)  # filled from the store in their turn
        shown = [a for p, a in enumerate(self._answers) if a.cell_id in texts and p not in waiting]
        if not shown:
            return
        if not self.isVisible():
            self._stale = True
            return
        for answer in shown:
            answer.answer.append(texts[answer.cell_id])

    def _on_store_cell_changed(self, cell_id: str, change: int) -> None:
        if self._shape_stale:  # built from the store when shown
            return
        answer = self._position_of(cell_id)
        if answer is None:
            return
        if not self.isVisible():
            self._stale = True
            return
        if change & Change.RESET:
            answer.answer.clear()
        self._load_answer(answer)
        if change & (Change.RATING | Change.STATUS | Change.RESET):
            self._show_names()  # a rating may complete the row: the reveal

    def _on_store_cells_changed(self, changes: dict[str, int]) -> None:
        for cell_id, change in changes.items():
            self._on_store_cell_changed(cell_id, change)

    # ------------------------------------------------------------------------------ slots

    def _on_prev_clicked(self) -> None:
        self.show_row(self._row - 1)

    def _on_next_clicked(self) -> None:
        self.show_row(self._row + 1)

    def _on_reveal_clicked(self) -> None:
        self.reveal()
