"""A read-only view that renders a Markdown answer while it streams.

:class:`MarkdownView` feeds the text it is given to a
:class:`~gui.core.markdown_stream.MarkdownStream` and shows what each step hands out: the HTML
of every finished block is inserted once at the end of the document (one cursor insert inside
one edit block), and only the open block at the end is replaced. Each code block has a "Copy"
link above it that puts exactly the code on the clipboard. A raw mode shows the source as
plain text instead; the context menu copies the source, the plain text or the HTML.

Scrolling: while text arrives the view follows the end unless the reader has scrolled away
from it; when the answer is finished a view that was following shows it from its top (a
reader who scrolled keeps their place). A long answer costs a bounded amount per frame: the
stream parses at most its budget per step and the view carries the rest to the next frame.
A very long one keeps its head and its end in the document with a "… N KB not shown — Show
all" bar between them (:data:`ELIDE_HEAD_CHARS`), so the document stays bounded too; Show
all renders the middle the same bounded way. A selection the reader makes in the block being
written is kept across its re-renders.

A light/dark theme switch re-renders only the answers whose HTML carries one palette's
colours (code, tables, links; prose takes the view's palette as it paints), and those a few
per loop turn, the visible first (:class:`_Restyler`): re-rendering every answer of a big run
in the switch's turn froze the window for a good part of a second.

While the window's warm-up is still building the Markdown parser and the code lexers on its
worker thread (:func:`gui.core.markdown_stream.warming`), a view shows its text raw and renders
all of it, in the same bounded steps, once the warm-up is done: building them here would
freeze the window mid-answer.

Used by the result grid's panes and by any layout that shows an answer (Focus, Row compare).
"""

from __future__ import annotations

import math
import time

import shiboken6
from PySide6.QtCore import QEvent, QMimeData, QPoint, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QDesktopServices,
    QGuiApplication,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextOption,
)
from PySide6.QtWidgets import QFrame, QTextBrowser, QWidget

from gui.core.markdown_stream import (
    COPY_SCHEME,
    DEFAULT_BUDGET,
    MarkdownStream,
    Update,
    render_html,
    warming,
    when_warm,
)
from gui.qt.resources import is_dark

__all__ = [
    "ELIDE_HEAD_CHARS",
    "ELIDE_TAIL_CHARS",
    "RESTYLE_SLICE_MS",
    "SHOW_ALL_SCHEME",
    "SOFT_BREAK_CHARS",
    "MarkdownView",
    "markdown_to_plain",
    "restyles_pending",
]

#: Raw text: start a new paragraph at a space once the last one is this long, so each append
#: relayouts at most this much instead of the whole paragraph (display only).
SOFT_BREAK_CHARS = 2000

#: Milliseconds between the steps that render text carried over from a frame (one frame).
CARRY_MS = 16

#: Milliseconds one render step aims at: the characters parsed per step follow the measured
#: speed (dense tables and code cost several times more per character than prose).
STEP_MS = 4.0

#: A finished answer that is still being rendered has the frame to itself (no stream to
#: share it with): its steps aim at this many ms, one per frame.
FINAL_STEP_MS = 8.0

#: Fewest and most characters a step parses, however slow or fast the last ones were.
MIN_BUDGET = 400
MAX_BUDGET = 2_500

#: After a render step that took ``d``, the next waits at least ``RENDER_PAUSE * d`` (new
#: text shows raw meanwhile): rendering takes at most 40 % of the GUI thread per view,
#: however fast the text arrives.
RENDER_PAUSE = 1.5

#: While a view keeps up with its stream, it renders at most this often; the words that
#: arrive in between show raw until then. Ten panes each re-rendering their open block on
#: every frame cost the stress demo's loop several ms per frame (docs/performance-notes.md).
QUIET_INTERVAL_S = 0.05

#: A long answer shows its first this many characters of source rendered ...
ELIDE_HEAD_CHARS = 64_000
#: ... then a bar that says how much is not shown, with a "Show all" link, then about its
#: last this many characters (the text as it streams in). The middle is left out once it is
#: at least as long as this; while the answer grows it is left out again each time the end
#: has grown by twice this, so the document, and a frame's layout, stay bounded.
ELIDE_TAIL_CHARS = 16_000

#: The URL scheme of the bar's "Show all" link.
SHOW_ALL_SCHEME = "show-all"

_FOLLOW_TOLERANCE_PX = 2
_LINK_SCHEMES = frozenset({"http", "https", "mailto"})


#: A theme switch re-renders coloured answers for at most this many ms of a loop turn.
RESTYLE_SLICE_MS = 8.0


def _with_soft_break(text: str, tail: int) -> tuple[str, int]:
    """``text`` as displayed after a paragraph ``tail`` characters long, and the new tail.

    Replaces the last space of ``text`` by a newline when the paragraph would pass
    :data:`SOFT_BREAK_CHARS`; text without any space gets a break inserted before it only
    once the paragraph is twice that long (long words, CJK, minified code).
    """
    newline = text.rfind("\n")
    new_tail = len(text) - newline - 1 if newline >= 0 else tail + len(text)
    if new_tail <= SOFT_BREAK_CHARS:
        return text, new_tail
    cut = max(text.rfind(" "), newline)
    if cut > newline:
        return text[:cut] + "\n" + text[cut + 1 :], len(text) - cut - 1
    if newline < 0 and tail and new_tail > 2 * SOFT_BREAK_CHARS:
        return "\n" + text, len(text)
    return text, new_tail


class _BlockWriter:
    """Appends finished blocks to a document and replaces its open tail, nothing else.

    Every block goes into a block of its own with plain formats, so one block's list,
    heading or code formatting never leaks into the next.
    """

    def __init__(self, document: QTextDocument) -> None:
        self._document = document
        self._cursor = QTextCursor(document)  # never the user's cursor: selections stay
        self._tail_at: int | None = None  # where the shown tail starts
        self._raw_tail = 0  # characters of the raw tail shown (0: the tail is HTML)
        self._dirty = False  # provisional raw text follows the tail's HTML
        self._soft_tail = 0  # length of the raw tail's last paragraph, for soft breaks

    def clear(self) -> None:
        self._document.clear()
        self._cursor = QTextCursor(self._document)
        self._tail_at, self._raw_tail, self._soft_tail, self._dirty = None, 0, 0, False

    def apply(self, update: Update, tail: str = "") -> None:
        """Show ``update``: new finished blocks, then the new tail (one edit block).

        ``tail`` is the open block's current HTML, shown again in place of provisional text
        when the update itself leaves the tail unchanged.
        """
        if self._dirty and update.tail is None and update.tail_raw is None:
            update.tail = tail
        self._dirty = False
        if not update.changed:
            return
        cursor = self._cursor
        cursor.beginEditBlock()
        try:
            if update.tail_raw is not None and not update.finished and self._raw_tail:
                self._extend_raw_tail(update.tail_raw)
                return
            if update.finished or update.tail is not None or update.tail_raw is not None:
                self._remove_tail()
            for block in update.finished:
                self._insert_html(block)
            if update.tail_raw is not None:
                self._tail_at = self._new_block()
                self._raw_tail, self._soft_tail = 0, 0
                self._extend_raw_tail(update.tail_raw)
            elif update.tail:
                self._tail_at = self._insert_html(update.tail)
        finally:
            cursor.endEditBlock()

    def set_plain(self, text: str) -> None:
        """Replace everything by ``text`` shown raw (soft breaks in long paragraphs)."""
        self.clear()
        self.append_plain(text)

    def append_plain(self, text: str) -> None:
        """Append raw ``text`` at the end."""
        shown, self._soft_tail = _with_soft_break(text, self._soft_tail)
        cursor = self._cursor
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.beginEditBlock()
        cursor.insertText(shown)
        cursor.endEditBlock()

    def append_provisional(self, text: str) -> None:
        """Show new ``text`` raw after the tail until the next :meth:`apply` renders it."""
        if not text:
            return
        cursor = self._cursor
        cursor.beginEditBlock()
        try:
            if self._tail_at is None:
                self._tail_at = self._new_block()
            if self._raw_tail:
                self._extend_raw_tail("", extra=text)  # the raw tail simply grows
            else:
                self._dirty = True
                cursor.movePosition(QTextCursor.MoveOperation.End)
                shown, self._soft_tail = _with_soft_break(text, self._soft_tail)
                cursor.insertText(shown, QTextCharFormat())  # not in the tail's code font
        finally:
            cursor.endEditBlock()

    def _extend_raw_tail(self, raw: str, extra: str = "") -> None:
        new = extra or raw[self._raw_tail :]
        self._raw_tail = self._raw_tail + len(extra) if extra else len(raw)
        if new:
            shown, self._soft_tail = _with_soft_break(new, self._soft_tail)
            self._cursor.movePosition(QTextCursor.MoveOperation.End)
            self._cursor.insertText(shown)

    def _insert_html(self, html: str) -> int:
        """Insert one block's HTML in a fresh block at the end; returns where it starts."""
        at = self._new_block()
        # The trailing newline markdown-it puts after each tag would show as a space.
        self._cursor.insertHtml(html.strip())
        # A list inserted into an empty block leaves that block empty above it.
        block = self._document.findBlock(at)
        if block.position() == at and not block.text() and block.next().textList() is not None:
            cursor = QTextCursor(self._document)
            cursor.setPosition(at)
            cursor.setPosition(at + 1, QTextCursor.MoveMode.KeepAnchor)
            cursor.removeSelectedText()
        self._cursor.movePosition(QTextCursor.MoveOperation.End)
        return at

    def _new_block(self) -> int:
        """A fresh, plainly formatted empty block at the end; returns its position.

        The last block is reused when it is empty (an empty document, the block Qt keeps
        after a table): a new one would show as a blank line.
        """
        cursor = self._cursor
        cursor.movePosition(QTextCursor.MoveOperation.End)
        block = cursor.block()
        if block.text() or block.textList() is not None:
            cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())
        else:
            _plain_block(cursor)
        return cursor.position()

    def shift(self, delta: int) -> None:
        """Text was inserted (or removed) before everything this writer wrote: its positions
        move by ``delta`` (a chat thread renders its older turns in front of its live part)."""
        if self._tail_at is not None:
            self._tail_at += delta

    @property
    def tail_at(self) -> int | None:
        """Where the open tail (or provisional text) starts, ``None`` when there is none."""
        return self._tail_at

    def tail_start(self) -> int:
        """Where what follows the finished blocks starts: the open tail or provisional text,
        else a fresh empty block at the end (the next block written fills it)."""
        if self._tail_at is not None:
            return self._tail_at
        self._cursor.beginEditBlock()
        try:
            return self._new_block()
        finally:
            self._cursor.endEditBlock()

    def truncate(self, at: int) -> None:
        """Remove everything from ``at`` to the end (what follows a long answer's head)."""
        self._tail_at, self._raw_tail, self._soft_tail, self._dirty = None, 0, 0, False
        cursor = self._cursor
        cursor.beginEditBlock()
        try:
            cursor.setPosition(at)
            cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
            cursor.removeSelectedText()
            _plain_block(cursor)
        finally:
            cursor.endEditBlock()

    def insert_block(self, html: str) -> int:
        """Append one block of ``html`` (the elision bar); returns where it starts."""
        cursor = self._cursor
        cursor.beginEditBlock()
        try:
            return self._insert_html(html)
        finally:
            cursor.endEditBlock()

    def _remove_tail(self) -> None:
        at = self._tail_at
        if at is None:
            return
        self._tail_at, self._raw_tail, self._soft_tail = None, 0, 0
        cursor = self._cursor
        cursor.setPosition(at)
        cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
        _plain_block(cursor)


def _plain_block(cursor: QTextCursor) -> None:
    """Give the (empty) block at ``cursor`` plain formats: out of any list, no heading."""
    text_list = cursor.currentList()
    if text_list is not None:
        text_list.remove(cursor.block())
    cursor.setBlockFormat(QTextBlockFormat())
    cursor.setBlockCharFormat(QTextCharFormat())
    cursor.setCharFormat(QTextCharFormat())


def markdown_to_plain(text: str) -> str:
    """The plain text a :class:`MarkdownView` shows once ``text`` is rendered."""
    document = QTextDocument()
    document.setUndoRedoEnabled(False)
    stream = MarkdownStream()
    stream.append(text)
    stream.finish()
    _BlockWriter(document).apply(stream.flush())
    return document.toPlainText()


class _Restyler:
    """Renders again, a slice of a loop turn at a time, the answers a light/dark switch left
    in the other palette's colours: every visible one first, then the hidden ones.

    One for the application, its timer without a parent (it belongs to no window).
    """

    def __init__(self) -> None:
        self._views: list[MarkdownView] = []
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)  # the next loop turn, after the paint of this one
        self._timer.timeout.connect(self._on_timer_timeout)

    def add(self, view: MarkdownView) -> None:
        if view not in self._views:
            self._views.append(view)
        self._timer.start()

    def pending(self) -> int:
        """Views still waiting for their new colours."""
        return len(self._views)

    def _on_timer_timeout(self) -> None:
        alive = [view for view in self._views if shiboken6.isValid(view)]
        # Visible first (sorted is stable: each kind keeps its order).
        alive.sort(key=lambda view: not view.isVisible())
        started = time.perf_counter()
        budget = RESTYLE_SLICE_MS / 1000
        while alive and time.perf_counter() - started < budget:
            alive.pop(0)._restyle_now()
        self._views = alive
        if alive:
            self._timer.start()


_restyler: _Restyler | None = None


def _restyle_later(view: MarkdownView) -> None:
    global _restyler
    if _restyler is None:
        _restyler = _Restyler()
    _restyler.add(view)


def restyles_pending() -> int:
    """Answers still waiting to be re-rendered in the new palette's colours (0 when done)."""
    return _restyler.pending() if _restyler is not None else 0


class MarkdownView(QTextBrowser):
    """An answer rendered as Markdown while it streams (or shown raw).

    Signals:
        raw_changed(bool): the view switched between rendered and raw text.
        code_copied(int): a code block's Copy link put that block's code on the clipboard.
        caught_up(): text that had to wait for later frames is now all rendered.
        context_menu_built(QMenu): the context menu is about to show; an owner (a pane)
            may add its own actions to it.

    Feed it with :meth:`append` once per frame, or :meth:`set_text`; :meth:`finish` says the
    answer is complete.
    """

    #: Whether the view shows text raw while the Markdown warm-up runs (module docstring); a
    #: subclass that renders part of its document in its own steps turns it off.
    waits_for_warm_up = True

    raw_changed = Signal(bool)
    code_copied = Signal(int)
    caught_up = Signal()
    context_menu_built = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._stream = MarkdownStream(dark=is_dark())
        self._raw = False
        self._follow = True  # keep the end in view while text arrives
        self._moving = False  # scroll bar moves made by the view, not the reader
        self._due = 0.0  # perf_counter from which the next render step may run
        self._backlog = False  # text waits to be rendered: new text must queue behind it
        self._speed = DEFAULT_BUDGET / STEP_MS  # characters rendered per ms, then measured
        self._show_all = False  # the reader asked for the whole of a long answer
        self._head_end: int | None = None  # where a long answer's head ends in the document
        self._elided = False  # the bar stands at _head_end, the middle left out
        self._copy_when_shown = False  # "Copy as plain text" waits for all of it to show
        self._cold = False  # shown raw until the Markdown warm-up is done (module docstring)
        self._build_ui()

    def _build_ui(self) -> None:
        self.setObjectName("markdownView")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setOpenLinks(False)  # copy: links are ours; web links go to the browser
        self.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._on_view_context_menu_requested)
        self.anchorClicked.connect(self._on_view_anchor_clicked)
        self.caught_up.connect(self._on_self_caught_up)
        document = self.document()
        document.setUndoRedoEnabled(False)  # read-only: an undo stack only costs memory
        document.setDocumentMargin(4)
        self._writer = _BlockWriter(document)
        self._carry = QTimer(self)
        self._carry.setSingleShot(True)
        self._carry.setInterval(CARRY_MS)
        self._carry.timeout.connect(self._on_carry_timeout)
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._on_scrollbar_value_changed)
        bar.rangeChanged.connect(self._on_scrollbar_range_changed)

    # ------------------------------------------------------------------------- public API

    def append(self, text: str) -> None:
        """Append streamed ``text`` (everything since the last frame) and show it."""
        if not text:
            return
        added = self._stream.append(text)
        if self._raw:
            self._writer.append_plain(text)
        elif self._cold or (self.waits_for_warm_up and warming()):
            cold = self._cold
            self._wait_warm()
            self._moving = True
            try:
                if cold:
                    self._writer.append_plain(text)
                else:  # what the document held before is shown raw too, with the rest
                    self._writer.set_plain(self.source())
            finally:
                self._moving = False
        elif time.perf_counter() >= self._due:
            self._step()
        elif self._backlog:
            pass  # shown in order once the text before it is rendered (the carry is running)
        else:
            kept = self._selection_in_tail()
            self._moving = True
            try:
                self._writer.append_provisional(added)
                if kept is not None:  # a selection up to the end must not grow with it
                    self._restore_selection(*kept)
            finally:
                self._moving = False
            if not self._carry.isActive():
                self._carry.start(max(1, math.ceil((self._due - time.perf_counter()) * 1000)))
        self._follow_end()

    def set_text(self, text: str, final: bool) -> None:
        """Show ``text``; ``final`` says the answer is complete.

        Text that continues what is shown is appended (no re-render, no jump); other text
        replaces it, and a whole answer that arrives at once is shown from its top.
        """
        shown = self._stream.source()
        if not text.startswith(shown) or (self._stream.final and text != shown):
            self.clear()
            shown = ""
        self.append(text[len(shown) :])
        if final:
            self.finish()

    def finish(self) -> None:
        """The answer is complete: render its last block; a view that followed the stream
        now shows the answer from its top."""
        if self._stream.final:
            return
        self._stream.finish()
        if not self._raw and not self._backlog:  # else the carried steps get there in order
            self._step()  # at once, even if a step was waiting for its turn
            self._due = 0.0
        if self._follow:
            self._follow = False
            self._scroll_to(0)

    def clear(self) -> None:
        """Empty the view for a new answer."""
        self._carry.stop()
        self._backlog = False
        self._stream.clear()
        self._show_all = False
        self._head_end, self._elided = None, False
        self._copy_when_shown = False
        self._moving = True
        try:
            self._writer.clear()
        finally:
            self._moving = False
        self._follow = True

    def _pin_cursor(self) -> None:
        """Put the view's own text cursor back at the top, leaving the scroll bars alone.

        Text inserted where a cursor stands moves that cursor along, so after the blocks are
        written the view's cursor would stand at the end of the answer, and Qt scrolls to the
        cursor when a hidden view is first laid out (a pane built for a finished answer opened
        at its bottom, scrolled sideways to the end of its last code line). A reader's
        selection is left as it is."""
        cursor = self.textCursor()
        if cursor.hasSelection() or cursor.position() == 0:
            return
        vbar, hbar = self.verticalScrollBar(), self.horizontalScrollBar()
        where = vbar.value(), hbar.value()
        cursor.setPosition(0)
        self._moving = True
        try:
            self.setTextCursor(cursor)
            vbar.setValue(where[0])
            hbar.setValue(where[1])
        finally:
            self._moving = False

    def set_raw(self, raw: bool) -> None:
        """Show the Markdown source as plain text (``True``) or rendered (``False``)."""
        if raw == self._raw:
            return
        self._raw = raw
        self._rebuild()
        self.raw_changed.emit(raw)

    def is_raw(self) -> bool:
        """Whether the source is shown as plain text."""
        return self._raw

    def is_rendering(self) -> bool:
        """Whether text is still waiting for a later frame to be rendered (a long answer set
        at once, text that came faster than it renders, or text shown raw until the Markdown
        warm-up is done)."""
        return self._carry.isActive() or self._cold

    def elided_chars(self) -> int:
        """Characters of a long answer's middle not shown now (0: all of it is shown or on
        its way); the bar in their place says how much and offers :meth:`show_all`."""
        return self._stream.elided_chars() if self._elided else 0

    def show_all(self) -> None:
        """Show the whole answer: what was left out is rendered in place of the bar, in
        bounded steps, one per frame (:attr:`caught_up` tells when it is all there)."""
        self._show_all = True
        if not self._elided or self._head_end is None:
            return
        self._carry.stop()
        self._moving = True
        try:
            self._writer.truncate(self._head_end)
        finally:
            self._moving = False
        self._head_end, self._elided = None, False
        self._stream.unelide()
        self._backlog = True  # text arriving meanwhile queues behind the middle
        self._step()

    def is_final(self) -> bool:
        """Whether :meth:`finish` was called since the last text arrived."""
        return self._stream.final

    # QTextBrowser.source() is the URL of a loaded file, which this view never loads: the name
    # is worth more here, where every caller means the answer's Markdown source.
    def source(self) -> str:  # type: ignore[override]
        """The answer exactly as received (the Markdown source)."""
        return self._stream.source()

    def to_plain(self) -> str:
        """The text as shown: the rendered answer's plain text, or the source in raw mode
        (and while it waits for the Markdown warm-up)."""
        if self._raw or self._cold:
            return self.source()
        if self._elided:  # the document holds the head and the end only
            return markdown_to_plain(self.source())
        self._catch_up()
        return self.document().toPlainText()

    def to_html(self) -> str:
        """The answer rendered to HTML (inline styles; no Copy links)."""
        return render_html(self.source(), dark=self._stream.dark)

    def code(self, index: int) -> str | None:
        """The code of block ``index`` (the ``N`` of its ``copy:N`` link)."""
        return self._stream.code(index)

    # --------------------------------------------------------------------------- internals

    def _step(self) -> None:
        self._carry.stop()
        if self._cold or (self.waits_for_warm_up and warming()):
            # Everything so far, raw, until the warm-up is done (then _on_markdown_warm).
            self._wait_warm()
            self._backlog = False
            self._moving = True
            try:
                self._writer.set_plain(self.source())
            finally:
                self._moving = False
            return
        started = time.perf_counter()
        aim = FINAL_STEP_MS if self._stream.final else STEP_MS
        most = MAX_BUDGET * aim / STEP_MS
        budget = round(min(most, max(MIN_BUDGET, self._speed * aim)))
        update = self._stream.step(budget)
        self._show(update)
        took = time.perf_counter() - started
        pause = took * RENDER_PAUSE
        if not update.pending and not self._stream.final:
            pause = max(pause, QUIET_INTERVAL_S - took)
        self._due = started + took + pause
        if update.parsed >= MIN_BUDGET:  # small steps measure overhead, not speed
            speed = update.parsed / max(took * 1000, 0.05)
            self._speed = 0.7 * self._speed + 0.3 * speed
        self._elide_middle()

    def _wait_warm(self) -> None:
        """Show text raw until the Markdown warm-up is done, then render all of it."""
        if not self._cold:
            self._cold = True
            when_warm(self._on_markdown_warm)

    def _elide_middle(self) -> None:
        """Leave the middle of a long answer out of the document (see
        :data:`ELIDE_HEAD_CHARS`): the head stays, a bar replaces the middle, the end is
        rendered after it (again each time it has grown by twice :data:`ELIDE_TAIL_CHARS`)."""
        stream = self._stream
        if self._show_all or self._raw:
            return
        if self._head_end is None:
            if stream.rendered_to() < ELIDE_HEAD_CHARS:
                return
            stream.mark_cut()  # the head ends here, in the source and in the document
            self._moving = True
            try:
                self._head_end = self._writer.tail_start()
            finally:
                self._moving = False
        size = stream.length()
        kept = stream.kept_from if stream.kept_from is not None else stream.cut_at
        if kept is None or size - kept < 3 * ELIDE_TAIL_CHARS:
            return
        if stream.elide(size - ELIDE_TAIL_CHARS) is None:
            return
        self._carry.stop()
        self._moving = True
        try:
            self._writer.truncate(self._head_end)
            self._writer.insert_block(self._bar_html(stream.elided_chars()))
        finally:
            self._moving = False
        self._elided = True
        self._backlog = True  # the end is rendered next, in order, before newer text
        self._carry.start(CARRY_MS)

    def _bar_html(self, elided: int) -> str:
        kb = max(1, round(elided / 1024))
        muted = self.palette().placeholderText().color().name()
        return (
            f'<p style="margin-top:8px; margin-bottom:8px; color:{muted}">'
            f"\u2026 {kb:,} KB not shown \u2014 "
            f'<a href="{SHOW_ALL_SCHEME}:">Show all</a></p>'
        )

    def _show(self, update: Update) -> None:
        kept = self._selection_in_tail()
        self._moving = True
        try:
            self._writer.apply(update, self._stream.tail_html())
            if kept is not None:
                self._restore_selection(*kept)
        finally:
            self._moving = False
        was_behind, self._backlog = self._backlog, update.pending
        if was_behind and not update.pending:
            self.caught_up.emit()
        if update.pending:
            # Once per frame; a finished answer's next step comes as soon as the frame is out.
            self._carry.start(1 if self._stream.final else CARRY_MS)
        self._follow_end()

    def _selection_in_tail(self) -> tuple[int, int, str] | None:
        """The reader's selection (anchor, position, text) when it reaches the open block,
        which the next write replaces: Qt would collapse it to where the block starts."""
        cursor = self.textCursor()
        tail = self._writer.tail_at
        if not cursor.hasSelection() or tail is None or cursor.selectionEnd() < tail:
            return None
        return cursor.anchor(), cursor.position(), cursor.selectedText()

    def _restore_selection(self, anchor: int, position: int, text: str) -> None:
        """Select ``anchor``..``position`` again if the re-rendered block still shows ``text``
        there (a block that grew at its end does; one whose markup changed may not)."""
        end = self.document().characterCount() - 1
        if max(anchor, position) > end:
            return
        cursor = QTextCursor(self.document())
        cursor.setPosition(anchor)
        cursor.setPosition(position, QTextCursor.MoveMode.KeepAnchor)
        if cursor.selectedText() != text:
            return
        vbar, hbar = self.verticalScrollBar(), self.horizontalScrollBar()
        where = vbar.value(), hbar.value()
        self.setTextCursor(cursor)  # without scrolling to it: the reader's place stays
        vbar.setValue(where[0])
        hbar.setValue(where[1])

    def _catch_up(self) -> None:
        """Render whatever was carried over, now (the caller needs the whole text)."""
        if self._carry.isActive():
            self._carry.stop()
            self._show(self._stream.flush())
            self._due = 0.0

    def _rebuild(self) -> None:
        """Show the whole answer again (raw toggled, palette changed)."""
        self._carry.stop()
        self._backlog = False
        # The new stream elides again (unless the reader asked for all of it).
        self._head_end, self._elided = None, False
        self._moving = True
        try:
            if self._raw:
                self._writer.set_plain(self.source())
            else:
                source, final = self.source(), self._stream.final
                self._stream = MarkdownStream(dark=is_dark())
                self._stream.append(source)
                if final:
                    self._stream.finish()
                self._writer.clear()
        finally:
            self._moving = False
        if not self._raw:
            self._step()
        self._follow_end()

    def _follow_end(self) -> None:
        self._pin_cursor()  # every write ends here
        if self._follow:
            self._scroll_to(self.verticalScrollBar().maximum())

    def _scroll_to(self, value: int) -> None:
        self._moving = True
        try:
            self.verticalScrollBar().setValue(value)
        finally:
            self._moving = False

    def _restyle_now(self) -> None:
        """Re-render in the palette's colours if still needed (called by the restyler)."""
        if not self._raw and is_dark() != self._stream.dark:
            self._rebuild()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            dark = is_dark()
            if dark == self._stream.dark or self._raw:
                return
            # A light <-> dark switch: only HTML with colours of its own is rendered again.
            if self._stream.coloured or self._elided:
                _restyle_later(self)
            else:
                self._stream.set_dark(dark)

    # ------------------------------------------------------------------------------ slots

    def _on_carry_timeout(self) -> None:
        self._step()

    def _on_markdown_warm(self) -> None:
        if not shiboken6.isValid(self) or not self._cold:
            return
        self._cold = False
        if not self._raw:
            self._rebuild()  # the whole answer, in the same bounded steps as a stream

    def _on_scrollbar_value_changed(self, value: int) -> None:
        if not self._moving:
            bar = self.verticalScrollBar()
            self._follow = value >= bar.maximum() - _FOLLOW_TOLERANCE_PX

    def _on_scrollbar_range_changed(self, _minimum: int, maximum: int) -> None:
        # Layout may finish after the insert (hidden or large documents): keep following.
        if self._follow and not self._stream.final:
            self._scroll_to(maximum)

    def _on_view_anchor_clicked(self, url: QUrl) -> None:
        if url.scheme() == COPY_SCHEME:
            try:
                index = int(url.path())
            except ValueError:
                return
            code = self._stream.code(index)
            if code is not None:
                QGuiApplication.clipboard().setText(code)
                self.code_copied.emit(index)
        elif url.scheme() == SHOW_ALL_SCHEME:
            self.show_all()
        elif url.scheme() in _LINK_SCHEMES:
            QDesktopServices.openUrl(url)

    def _on_view_context_menu_requested(self, pos: QPoint) -> None:
        menu = self.createStandardContextMenu(pos)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.addSeparator()
        has_text = bool(self.source())
        for label, slot in (
            ("Copy answer", self._on_copy_source_action_triggered),
            ("Copy answer as plain text", self._on_copy_plain_action_triggered),
            ("Copy answer as HTML", self._on_copy_html_action_triggered),
        ):
            action = menu.addAction(label)
            action.setEnabled(has_text)
            action.triggered.connect(slot)
        raw = menu.addAction("Show raw text")
        raw.setCheckable(True)
        raw.setChecked(self._raw)
        raw.toggled.connect(self.set_raw)
        self.context_menu_built.emit(menu)
        # popup(), never exec(): a nested event loop would stall the qasync tasks.
        menu.popup(self.viewport().mapToGlobal(pos))

    def _on_copy_source_action_triggered(self) -> None:
        QGuiApplication.clipboard().setText(self.source())

    def _on_copy_plain_action_triggered(self) -> None:
        if not self._raw and not self._cold and (self._elided or self.is_rendering()):
            # Part of it is not in the document yet: rendering all of it at once here would
            # freeze the window for seconds on a 1 MB answer. Show all of it, a frame at a
            # time, and copy once it is there.
            self._copy_when_shown = True
            self.show_all()
            return
        QGuiApplication.clipboard().setText(self.to_plain())

    def _on_self_caught_up(self) -> None:
        if self._copy_when_shown:
            self._copy_when_shown = False
            QGuiApplication.clipboard().setText(self.to_plain())

    def _on_copy_html_action_triggered(self) -> None:
        html = self.to_html()
        data = QMimeData()
        data.setHtml(html)  # rich editors paste it formatted
        data.setText(html)  # plain editors get the HTML source
        QGuiApplication.clipboard().setMimeData(data)
