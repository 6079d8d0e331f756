"""A chat column's whole thread in one view: every turn reachable at once, rendered lazily.

:class:`ChatThreadView` is a :class:`~gui.qt.widgets.markdown_view.MarkdownView` (streaming,
links, Copy, raw mode and the context menu are its) fed a thread as its turns
(:meth:`ChatThreadView.set_thread`). A reopened chat of hundreds of turns is hundreds of KB
of Markdown per column: markdown-it takes about a second of CPU per 400 KB of prose, and Qt
lays out 400 KB of text in tens of ms per column (more to show its end, which needs all of
it above laid out). Neither fits in the frames before the chat shows, so a long thread opens
in two parts:

- **The live part** (the last turns, at least :data:`LIVE_CHARS`): the view's own Markdown
  stream, rendered first (its end is what a reopened chat shows); new turns stream into it
  as in a single answer.
- **The history** (every turn before it): one empty block per turn, as tall as the turn is
  estimated to be (its text's lines at the column's width, calibrated by the turns rendered
  so far), so the scroll range spans the whole thread from the first frame at the cost of a
  few hundred empty blocks. Then each turn is rendered and put in place of its block, one at
  a time, the turn in view (or nearest to it) first; a turn above the view that turns out
  taller or shorter than estimated moves the scroll bar by as much, so what the reader looks
  at stays put.

All of it runs in slices on one :class:`_SliceRenderer` shared by every thread view, which
spends at most :data:`SLICE_MS` per frame over all of them: six columns opening at once
cost the window one bounded slice per frame, not six. Painting is Qt's: the document paints
only the blocks in view, so 600 turns cost one widget and one document per column, not a
widget per turn. A thread is never elided (a long single answer keeps only its head and
end; a thread keeps every turn).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from PySide6.QtCore import QObject, QPoint, Qt, QTimer, QUrl
from PySide6.QtGui import QGuiApplication, QResizeEvent, QTextBlockFormat, QTextCursor
from PySide6.QtWidgets import QWidget
from shiboken6 import isValid

from gui.core.markdown_stream import COPY_SCHEME, Update, render_html
from gui.qt.widgets.markdown_view import CARRY_MS, MarkdownView, _plain_block

__all__ = ["LIVE_CHARS", "SLICE_MS", "ChatThreadView"]

#: A thread shorter than this renders whole through the view's stream (no history part);
#: a longer one keeps at least this much of its end in the live part.
LIVE_CHARS = 8_000

#: Text waiting in the live stream beyond this many characters goes to the shared slices
#: (a reopened thread's last turns); less renders the answer's way, a step per frame.
BULK_CHARS = 3_000

#: Milliseconds of one frame the thread views' slices may take together.
SLICE_MS = 5.0

#: Characters of source one parse step of the live stream takes.
STEP_CHARS = 4_000

#: ``copy:N`` links of history turns count from here (the live stream's count from 0).
HISTORY_CODE_BASE = 1_000_000


class _Calibration:
    """The constants of a turn's height estimate (docs/benchmarks.md, chat-long: the scroll
    range moves by about this estimate's error as the older turns render)."""

    #: Average characters of text per line, as a multiple of the font's average character
    #: width (proportional text wraps a little earlier than the average says).
    width = 1.08
    #: Pixels between two paragraphs (Qt's default paragraph margins).
    gap = 12.0
    #: Rendered height over the text estimate (bold names, rules, quote margins), measured on
    #: chat-long's prose at column widths of 220 and 400 px.
    ratio = 1.25


@dataclass
class _Turn:
    """One history turn: its Markdown, where it starts in the document, whether it is shown
    rendered yet (else it is one empty block as tall as it is estimated to be)."""

    source: str
    start: int
    rendered: bool = False
    estimate: float = 0.0  #: its height as text at the last width, before the ratio
    shape: _Shape | None = None  #: its text's lines, measured once (:func:`_shape`)


#: What Markdown shows as nothing: a link's target, emphasis and code marks.
_MARKUP_RE = re.compile(r"\]\([^)\s]*\)|[*`_]")

#: Pixels a quote (a user's message) is indented by in Qt's rich text.
_QUOTE_INDENT_PX = 40


@dataclass(frozen=True, slots=True)
class _Shape:
    """A turn's text as the height estimate needs it, whatever the width: the length of each
    line (Markdown marks left out), in a quote or not, and its paragraphs."""

    lines: tuple[int, ...]
    quote_lines: tuple[int, ...]
    paragraphs: int


def _shape(source: str) -> _Shape:
    """The :class:`_Shape` of ``source``, measured once per turn (a new width then costs
    arithmetic only). Marks are counted rather than removed (a link's target is the one mark
    that takes a regular expression, on its line only), which costs much less than removing
    them from the whole text (docs/performance-notes.md)."""
    lines: list[int] = []
    quote_lines: list[int] = []
    paragraphs = 0
    for paragraph in source.split("\n\n"):
        if not paragraph.strip():
            continue
        paragraphs += 1
        for line in paragraph.split("\n"):
            if "](" in line:
                length = len(_MARKUP_RE.sub("", line))
            else:
                length = len(line) - line.count("*") - line.count("`") - line.count("_")
            (quote_lines if line.lstrip().startswith(">") else lines).append(length)
    return _Shape(tuple(lines), tuple(quote_lines), paragraphs)


def _text_lines(shape: _Shape, per_line: int, per_quote_line: int) -> tuple[int, int]:
    """Lines and paragraphs a turn of ``shape`` takes as rendered text wrapped at ``per_line``
    characters (``per_quote_line`` in a quote)."""
    lines = sum(max(1, -(-n // per_line)) for n in shape.lines)
    lines += sum(max(1, -(-n // per_quote_line)) for n in shape.quote_lines)
    return lines, shape.paragraphs


def _margin_format(margin: int) -> QTextBlockFormat:
    """A placeholder block's format: empty, ``margin`` pixels above its one line."""
    block_format = QTextBlockFormat()
    block_format.setTopMargin(margin)
    return block_format


class _SliceRenderer(QObject):
    """One per application: the thread views with work left, served a slice per frame."""

    _instance: _SliceRenderer | None = None

    def __init__(self) -> None:
        super().__init__()
        self._queue: list[ChatThreadView] = []
        self._frame_spent = 0.0  # seconds the views' own stream steps took this frame
        # The frame's budget comes back a frame after its first step, not when a frame's worth
        # of wall time has passed: six long steps in one callback are one long frame.
        self._frame = QTimer(self)
        self._frame.setSingleShot(True)
        self._frame.setInterval(CARRY_MS)
        self._frame.timeout.connect(self._on_frame_timeout)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._on_timer_timeout)

    @classmethod
    def shared(cls) -> _SliceRenderer:
        """The application's renderer (made at the first use)."""
        if cls._instance is None or not isValid(cls._instance):
            cls._instance = cls()
        return cls._instance

    def want(self, view: ChatThreadView) -> None:
        """Queue ``view`` (once); its first slice comes on the next turn of the loop."""
        if not any(v is view for v in self._queue):
            self._queue.append(view)
        if not self._timer.isActive():
            self._timer.start(0)

    def drop(self, view: ChatThreadView) -> None:
        """Forget ``view`` (it was cleared)."""
        self._queue = [v for v in self._queue if v is not view]

    def may_step(self) -> bool:
        """Whether a view may render its live stream now, on its own: the views' own steps
        share :data:`SLICE_MS` per frame (six columns that each get the start of a new turn in
        the same frame render it one after the other, a slice per frame, not in one frame)."""
        return self._frame_spent < SLICE_MS / 1000

    def spend(self, seconds: float) -> None:
        """A view's own step took ``seconds`` of this frame."""
        self._frame_spent += seconds
        if not self._frame.isActive():
            self._frame.start()

    def _on_frame_timeout(self) -> None:
        self._frame_spent = 0.0

    def pending(self, view: ChatThreadView) -> bool:
        """Whether ``view`` waits for slices."""
        return any(v is view for v in self._queue)

    def _on_timer_timeout(self) -> None:
        deadline = time.perf_counter() + SLICE_MS / 1000
        while time.perf_counter() < deadline:
            self._queue = [v for v in self._queue if isValid(v)]
            if not self._queue:
                break
            # Every column's last turns first, then the turns a reader sees in any column
            # (one turn at a time, round the columns), then the rest one column at a time,
            # so each is whole as early as it can be.
            view = (
                next((v for v in self._queue if v._backlog), None)
                or next((v for v in self._queue if v.shows_pending_turn()), None)
                or self._queue[0]
            )
            if view._render_slice(deadline):
                self.drop(view)
        if self._queue:
            self._timer.start(CARRY_MS)


class ChatThreadView(MarkdownView):
    """A chat column's thread: every turn in the document, the long past rendered lazily.

    Feed it :meth:`set_thread` with the thread's turns (each a turn's Markdown) whenever it
    changes, and :meth:`append` once per frame while an answer streams. :meth:`is_rendering`
    is true while any of it waits to be rendered (an older turn standing as a block of its
    estimated height, or text that came faster than it renders).
    """

    #: Its older turns stand as placeholders rendered in shared slices, which showing the
    #: whole thread raw during the Markdown warm-up would wipe: it renders as it always did.
    waits_for_warm_up = False

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatThreadView")
        self._turns: list[_Turn] = []
        self._history_end = 0  # where the live part starts in the document
        self._history_source = ""
        self._history_codes: list[str] = []
        self._per_line = 0  # characters per line the placeholders were sized for
        self._resize_due = False  # the width changed: size the placeholders again
        self._loaded: list[str] = []  # the turns last loaded (raw mode and back keep them)
        self.show_all()  # MarkdownView's switch for "every character": no elision

    # ------------------------------------------------------------------ feeding

    def set_thread(self, parts: list[str], final: bool = False) -> bool:
        """Show the thread whose turns are ``parts`` (joined, its Markdown).

        Text that continues what is shown is appended (streamed, no re-render). A thread
        whose first turns are the history turns shown (a regenerated answer, an edited
        message, another branch) keeps those turns' blocks as they are and renders only from
        the first turn that differs, or from the start of its live part (its last
        :data:`LIVE_CHARS` or so) if that comes first; another thread replaces all of it.

        Returns:
            Whether the document was replaced (its resources, e.g. images, are gone).
        """
        text = "".join(parts)
        shown = self.source()
        continues = text.startswith(shown) and not (self._stream.final and text != shown)
        # A thread that arrives (mostly) at once, into an empty view too, opens the long way.
        if continues and (len(parts) < 2 or len(text) - len(shown) <= LIVE_CHARS):
            self.append(text[len(shown) :])
            if final:
                self.finish()
            return False
        kept = self._kept_turns(parts)
        if kept:
            self._load_from(kept, parts, final)
            return False
        self._load(parts, final)
        return True

    def _kept_turns(self, parts: list[str]) -> int:
        """How many leading history turns of ``parts`` can stay as they are shown: those equal
        to the turns shown, and not in the live part a full redraw of ``parts`` would have
        (a turn renders a little differently as history than in the live stream, so a kept
        turn there would make the thread look unlike its full redraw)."""
        if self._raw:
            return 0
        turns, kept = self._turns, 0
        limit = min(len(turns), self._live_from(parts))
        while kept < limit and turns[kept].source == parts[kept]:
            kept += 1
        return kept

    def _live_from(self, parts: list[str]) -> int:
        """Where the live part of a thread of ``parts`` starts: its last turns, at least
        :data:`LIVE_CHARS` of them (the last turn at least)."""
        live_from, live_chars = len(parts), 0
        while live_from > 0 and (live_chars < LIVE_CHARS or live_from == len(parts)):
            live_from -= 1
            live_chars += len(parts[live_from])
        return live_from

    def _load_from(self, kept: int, parts: list[str], final: bool) -> None:
        """Show ``parts``, whose first ``kept`` turns are the history turns shown: their
        blocks stay (rendered or still waiting for their slice), the rest of the document is
        cut and ``parts[kept:]`` is laid out after them as :meth:`_load` lays out a thread."""
        cut = self._turns[kept].start if kept < len(self._turns) else self._history_end
        self._carry.stop()
        self._backlog = False
        self._stream.clear()
        self._moving = True
        try:
            self._writer.truncate(cut)  # leaves one empty block at ``cut``
        finally:
            self._moving = False
        self._follow = True  # as a full redraw: the thread's (new) end in view
        self._turns = self._turns[:kept]
        self._history_end = cut
        self._loaded = list(parts)
        rest = parts[kept:]
        live_from = self._live_from(rest)
        self._add_placeholders(rest[:live_from])
        self.append("".join(rest[live_from:]))
        if final:
            self.finish()
        if self.pending_turns():
            _SliceRenderer.shared().want(self)

    def _add_placeholders(self, history: list[str]) -> None:
        """Append one empty block per turn of ``history`` after the turns there are, each
        inserted as tall as its turn is estimated to be, the live part to follow them."""
        start = self._history_end
        added = [_Turn(part, start + i) for i, part in enumerate(history)]
        self._turns.extend(added)
        self._history_source = "".join(turn.source for turn in self._turns)
        if not history:
            return
        # Sized as they are inserted, in one edit block: formatting each block afterwards
        # had Qt lay the document out again once per turn.
        margins = self._margins(added, self._text_width())
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        self._moving = True
        try:
            cursor.beginEditBlock()
            cursor.setBlockFormat(_margin_format(margins[0]))  # the first turn's block is there
            for margin in margins[1:]:
                cursor.insertBlock(_margin_format(margin))
            cursor.insertBlock(QTextBlockFormat())  # the live part's
            cursor.endEditBlock()
            self._history_end = start + len(history)
        finally:
            self._moving = False
        self._follow_end()

    def _text_width(self) -> tuple[int, int]:
        """Characters per line of text and of a quote at the view's width now."""
        metrics = self.fontMetrics()
        width = self.viewport().width() - 2 * round(self.document().documentMargin())
        bar = self.verticalScrollBar()
        if (
            not bar.isVisible()
            and self.verticalScrollBarPolicy() != Qt.ScrollBarPolicy.ScrollBarAlwaysOff
        ):
            # A thread with a history overflows: its scroll bar is about to take this much
            # of the width (sizing for the width without it had every placeholder sized
            # again a frame later, when the bar appeared).
            width -= bar.sizeHint().width()
        width = max(40, width)
        per_line = max(8, int(width / max(1.0, metrics.averageCharWidth() * _Calibration.width)))
        return per_line, max(8, per_line * (width - _QUOTE_INDENT_PX) // width)

    def _margins(self, turns: list[_Turn], width: tuple[int, int]) -> list[int]:
        """The top margin that makes each of ``turns``' empty block as tall as the turn is
        estimated to be at ``width`` (:meth:`_text_width`): its text's lines (at the font's
        average character width) and paragraph gaps; each turn's estimate is kept."""
        per_line, per_quote_line = width
        self._per_line = per_line
        line, gap = self.fontMetrics().lineSpacing(), _Calibration.gap
        margins: list[int] = []
        for turn in turns:
            if turn.shape is None:
                turn.shape = _shape(turn.source)
            lines, paragraphs = _text_lines(turn.shape, per_line, per_quote_line)
            turn.estimate = lines * line + paragraphs * gap
            # An empty block is one line tall already.
            margins.append(max(0, round(turn.estimate * _Calibration.ratio) - line))
        return margins

    def set_text(self, text: str, final: bool) -> None:
        """Show ``text`` as one turn (what :class:`MarkdownView` callers do)."""
        self.set_thread([text], final)

    def _load(self, parts: list[str], final: bool) -> None:
        self.clear()
        self._loaded = list(parts)
        live_from = self._live_from(parts)
        history, live = parts[:live_from], "".join(parts[live_from:])
        if history and not self._raw:
            self._add_placeholders(history)
        elif history:  # raw: the whole source as text, nothing to render
            live = "".join(parts)
        self.append(live)
        if final:
            self.finish()
        if self._turns:
            _SliceRenderer.shared().want(self)

    def _size_placeholders(self) -> None:
        """Make each turn not rendered yet as tall as it is estimated to be at this width
        (:meth:`_margins`), a new width having come.

        Only blocks whose height changes are touched, each on its own (one edit block over
        them all would have Qt lay out every rendered turn between the first and the last).
        """
        self._resize_due = False
        waiting = [turn for turn in self._turns if not turn.rendered]
        if not waiting:
            return
        width = self._text_width()
        if self._per_line and abs(width[0] - self._per_line) <= self._per_line // 20:
            return  # within the estimate's own error: not worth a relayout
        document = self.document()
        cursor = QTextCursor(document)
        self._moving = True
        try:
            for turn, margin in zip(waiting, self._margins(waiting, width), strict=True):
                if document.findBlock(turn.start).blockFormat().topMargin() == margin:
                    continue
                cursor.setPosition(turn.start)
                cursor.setBlockFormat(_margin_format(margin))
        finally:
            self._moving = False
        self._follow_end()

    def resizeEvent(self, event: QResizeEvent) -> None:
        """A new width: the turns not rendered yet are estimated again, in the next slice
        (a layout that settles over several resizes costs one)."""
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width() and self.pending_turns():
            self._resize_due = True
            _SliceRenderer.shared().want(self)

    def clear(self) -> None:
        """Empty the view (another thread); it stays whole."""
        _SliceRenderer.shared().drop(self)
        super().clear()
        self._turns = []
        self._history_end = 0
        self._history_source = ""
        self._history_codes = []
        self.show_all()

    # ------------------------------------------------------------------ reading

    def source(self) -> str:  # type: ignore[override]  # as MarkdownView's: the Markdown
        """The thread's Markdown, the history and the live part."""
        return self._history_source + self._stream.source()

    def is_rendering(self) -> bool:
        """Whether part of the thread is still shown as plain text or waits for a frame."""
        return _SliceRenderer.shared().pending(self) or super().is_rendering()

    def is_live_rendering(self) -> bool:
        """Whether the live part (the last turns, the streaming answer) still waits to be
        rendered; the history may still be rendering after it."""
        return self._backlog or super().is_rendering()

    def pending_turns(self) -> int:
        """History turns still shown as plain text."""
        return sum(1 for turn in self._turns if not turn.rendered)

    def code(self, index: int) -> str | None:
        """The code of block ``index`` (the ``N`` of its ``copy:N`` link), history's too."""
        if index >= HISTORY_CODE_BASE:
            at = index - HISTORY_CODE_BASE
            return self._history_codes[at] if at < len(self._history_codes) else None
        return super().code(index)

    # ------------------------------------------------------------------ rendering

    def _pin_cursor(self) -> None:
        # Qt scrolls to the text cursor when the view is first laid out: a thread that
        # follows its end keeps its cursor there (an answer keeps it at its top).
        if not self._follow:
            super()._pin_cursor()
            return
        cursor = self.textCursor()
        if cursor.hasSelection():
            return
        end = self.document().characterCount() - 1
        if cursor.position() != end:
            cursor.setPosition(end)
            self._moving = True
            try:
                self.setTextCursor(cursor)
            finally:
                self._moving = False

    def _live_backlog(self) -> bool:
        stream = self._stream
        return not self._raw and stream.length() - stream.rendered_to() > BULK_CHARS

    def _step(self) -> None:
        renderer = _SliceRenderer.shared()
        if not self._live_backlog() and renderer.may_step():
            started = time.perf_counter()
            super()._step()
            renderer.spend(time.perf_counter() - started)
            return
        # A long live backlog (a reopened thread's last turns), or the frame's budget taken by
        # other columns: the shared slices render it; text arriving meanwhile queues behind it.
        self._carry.stop()
        self._backlog = True
        renderer.want(self)

    def _render_slice(self, deadline: float) -> bool:
        """Render until ``deadline`` (perf_counter): the live backlog, then history turns.

        Returns:
            Whether nothing is left to render.
        """
        if self._resize_due:
            self._size_placeholders()
        if self._backlog and not self._raw:  # the live part first, all of it
            self._render_live(deadline)
            return False
        turn = self._next_turn()
        if turn is not None:
            self._render_turn(turn)  # one: the renderer picks the next view for the next
            turn = self._next_turn()
        if turn is None:
            self.caught_up.emit()  # "Copy as plain text" waits for this
            return True
        return False

    def shows_pending_turn(self) -> bool:
        """Whether a turn in view is not rendered yet (the reader looks at its placeholder)."""
        if not self._turns or not self.isVisible():
            return False
        port = self.viewport()
        first = self._turn_at(self.cursorForPosition(QPoint(0, 0)).position())
        last = self._turn_at(self.cursorForPosition(QPoint(0, port.height() - 1)).position())
        return any(not turn.rendered for turn in self._turns[first : last + 1])

    def _render_live(self, deadline: float) -> None:
        finished: list[str] = []
        parsed = 0
        while True:
            update = self._stream.step(STEP_CHARS)
            finished.extend(update.finished)
            parsed += update.parsed
            if not update.pending or time.perf_counter() >= deadline:
                break
        self._show(
            Update(
                ["".join(finished)] if finished else [],
                update.tail,
                update.tail_raw,
                update.pending,
                parsed,
            )
        )
        if update.pending:
            self._carry.stop()  # the next slice is the renderer's, not this view's own timer
        else:
            self._backlog = False
        self._due = 0.0

    def _next_turn(self) -> int | None:
        """The history turn to render next: the one in view, else the nearest to it (below
        first: a reader who reopened a chat reads up from its end)."""
        waiting = [i for i, turn in enumerate(self._turns) if not turn.rendered]
        if not waiting:
            return None
        top = self.cursorForPosition(QPoint(0, 0)).position()
        at = self._turn_at(top)
        return min(waiting, key=lambda i: 2 * (at - i) + 1 if i < at else 2 * (i - at))

    def _turn_at(self, position: int) -> int:
        turns = self._turns
        lo, hi = 0, len(turns) - 1
        if position >= self._history_end:
            return len(turns)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if turns[mid].start <= position:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def _render_turn(self, index: int) -> None:
        """Put turn ``index`` rendered in place of its placeholder, keeping the view still."""
        turn = self._turns[index]
        codes: list[str] = []
        body = render_html(
            turn.source,
            dark=self._stream.dark,
            copy_links=True,
            codes=codes,
            code_base=HISTORY_CODE_BASE + len(self._history_codes),
        ).strip()
        self._history_codes.extend(codes)
        document = self.document()
        layout = document.documentLayout()
        bar = self.verticalScrollBar()
        placeholder = document.findBlock(turn.start)
        top = layout.blockBoundingRect(placeholder).top()
        estimated = placeholder.blockFormat().topMargin() + self.fontMetrics().lineSpacing()
        # Above the view's top: the rest of the document moves by the height it changes.
        above = not self._follow and top + estimated <= bar.value()
        count = document.characterCount()
        cursor = QTextCursor(document)
        self._moving = True
        try:
            cursor.beginEditBlock()
            cursor.setPosition(turn.start)
            _plain_block(cursor)
            cursor.insertHtml(body)
            cursor.endEditBlock()
            turn.rendered = True
            delta = document.characterCount() - count
            for later in self._turns[index + 1 :]:
                later.start += delta
            self._history_end += delta
            self._writer.shift(delta)
            following = document.findBlock(turn.start + delta + 1)
            measured = layout.blockBoundingRect(following).top() - top
            if above:
                bar.setValue(bar.value() + round(measured - estimated))
        finally:
            self._moving = False
        self._follow_end()

    def _rebuild(self) -> None:
        """Raw toggled or the palette changed: show the thread again."""
        # The turns as last loaded, and what streamed in since (raw mode keeps no turns).
        loaded, source = "".join(self._loaded), self.source()
        parts = [*self._loaded, source[len(loaded) :]] if source.startswith(loaded) else [source]
        self._load([p for p in parts if p] or [""], self._stream.final)

    # ------------------------------------------------------------------ slots

    def _on_view_anchor_clicked(self, url: QUrl) -> None:
        if url.scheme() == COPY_SCHEME:
            try:
                index = int(url.path())
            except ValueError:
                return
            if index >= HISTORY_CODE_BASE:
                code = self.code(index)
                if code is not None:
                    QGuiApplication.clipboard().setText(code)
                    self.code_copied.emit(index)
                return
        super()._on_view_anchor_clicked(url)
