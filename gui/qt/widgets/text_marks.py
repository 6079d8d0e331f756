"""Colouring ranges of a plain-text view without touching its document: diff and agreement marks.

Marks are extra selections (``setExtraSelections``), so the text, its undo history and its
layout stay as they are, and re-colouring for a new palette costs one call. Only the marks
on screen (plus a margin) are handed to Qt, and again as the view scrolls: each costs a
cursor and a format, so a long diff's thousands of changes would otherwise cost the GUI
thread milliseconds per update. Colours are derived from the palette's base colour, mixed
with a hue, so every mark is a tint of the view's own background: readable under the light
and the dark theme alike.

Ranges come from the Qt-free core as ``str`` indices; a ``QTextDocument`` counts UTF-16 code
units, so :func:`utf16_positions` converts them (an emoji outside the Basic Multilingual
Plane is one ``str`` index and two positions).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any

from PySide6.QtCore import QEvent, QObject, QPoint
from PySide6.QtGui import QColor, QPalette, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QTextEdit

from gui.core.agreement import Sentence, Share

__all__ = [
    "AGREEMENT_HUES",
    "CHANGE_HUES",
    "MARGIN_CHARS",
    "Marks",
    "change_colors",
    "mix",
    "sentence_ranges",
    "share_colors",
    "utf16_positions",
]

#: The hue of each change: deletions red, insertions green (as every diff tool has them).
CHANGE_HUES = {"delete": QColor("#e5534b"), "insert": QColor("#3fb950")}

#: The hue of each share: said by all green, by some amber, unique to this answer blue.
AGREEMENT_HUES = {
    Share.ALL: QColor("#3fb950"),
    Share.SOME: QColor("#d29922"),
    Share.UNIQUE: QColor("#58a6ff"),
}

#: Marks are applied this many characters before and after the visible text (a scroll
#: re-applies them before the view paints, so the margin only covers rounding at the edges:
#: each mark handed to Qt costs the GUI thread about 15 µs, its text's layout included).
MARGIN_CHARS = 200

# How much of the hue goes into the background: a dark base needs more to show the tint.
_LIGHT_AMOUNT, _DARK_AMOUNT = 0.28, 0.40

TextView = QPlainTextEdit | QTextEdit


def mix(base: QColor, hue: QColor, amount: float) -> QColor:
    """``base`` moved ``amount`` (0-1) of the way to ``hue``."""
    return QColor.fromRgbF(
        base.redF() + (hue.redF() - base.redF()) * amount,
        base.greenF() + (hue.greenF() - base.greenF()) * amount,
        base.blueF() + (hue.blueF() - base.blueF()) * amount,
    )


def _tint(palette: QPalette, hue: QColor) -> QColor:
    base = palette.color(QPalette.ColorRole.Base)
    return mix(base, hue, _DARK_AMOUNT if base.lightness() < 128 else _LIGHT_AMOUNT)


def change_colors(palette: QPalette) -> dict[str, QColor]:
    """Backgrounds of deleted and inserted words (keys ``delete``, ``insert``) for ``palette``."""
    return {kind: _tint(palette, hue) for kind, hue in CHANGE_HUES.items()}


def share_colors(palette: QPalette) -> dict[Share, QColor]:
    """Backgrounds of sentences said by all, by some, or by one answer, for ``palette``."""
    return {share: _tint(palette, hue) for share, hue in AGREEMENT_HUES.items()}


def sentence_ranges(sentences: Iterable[Sentence]) -> list[tuple[int, int, Share]]:
    """One answer's sentences as ranges for :meth:`Marks.set`, keyed by their share."""
    return [(s.start, s.end, s.share) for s in sentences]


def utf16_positions(text: str) -> Callable[[int], int]:
    """Maps a ``str`` index of ``text`` to its ``QTextDocument`` position (UTF-16 units)."""
    if not text or max(text) < "\U00010000":
        return lambda index: index
    astral = [i for i, ch in enumerate(text) if ord(ch) > 0xFFFF]
    return lambda index: index + bisect.bisect_left(astral, index)


class Marks(QObject):
    """Coloured ranges of one plain-text view, kept on screen as it scrolls and resizes.

    Usage (a Row-compare column showing an answer's source text)::

        marks = Marks(editor)
        marks.set_colors(share_colors(editor.palette()))
        marks.set(answer_text, sentence_ranges(result.answers[column]))

    Ranges must not overlap. Call :meth:`set_colors` again when the palette changes.
    """

    def __init__(self, view: TextView) -> None:
        super().__init__(view)
        self._view = view
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._keys: list[Hashable] = []
        self._formats: dict[Hashable, QTextCharFormat] = {}
        self._applied: tuple[object, ...] | None = None  # what Qt holds now
        view.verticalScrollBar().valueChanged.connect(self._on_scrollbar_value_changed)
        view.viewport().installEventFilter(self)

    def set(self, text: str, ranges: Iterable[tuple[int, int, Hashable]]) -> None:
        """Mark ``(start, end, key)`` ranges of ``text`` (``str`` indices), the plain text the
        view shows; ``key`` picks the colour (see :meth:`set_colors`)."""
        position = utf16_positions(text)
        limit = len(text)
        kept = sorted(
            (position(s), position(min(e, limit)), key) for s, e, key in ranges if min(e, limit) > s
        )
        self._starts = [s for s, _e, _k in kept]
        self._ends = [e for _s, e, _k in kept]
        self._keys = [k for _s, _e, k in kept]
        self.apply()

    def set_colors(self, colors: Mapping[Any, QColor]) -> None:
        """The background of each key's ranges; re-applies the marks."""
        self._formats = {}
        for key, color in colors.items():
            fmt = QTextCharFormat()
            fmt.setBackground(color)
            self._formats[key] = fmt
        self._applied = None
        self.apply()

    def clear(self) -> None:
        """Remove every mark."""
        self._starts, self._ends, self._keys = [], [], []
        self._applied = None
        self._view.setExtraSelections([])

    def __len__(self) -> int:
        return len(self._starts)

    def apply(self) -> None:
        """Hand Qt the marks within :data:`MARGIN_CHARS` of the text on screen."""
        view = self._view
        viewport = view.viewport()
        first = view.cursorForPosition(QPoint(0, 0)).position() - MARGIN_CHARS
        last = (
            view.cursorForPosition(QPoint(viewport.width(), viewport.height())).position()
            + MARGIN_CHARS
        )
        lo = bisect.bisect_left(self._ends, first)
        hi = bisect.bisect_right(self._starts, last)
        # Qt already holds these marks (a streaming answer grew below the screen, a scroll
        # within the margin): handing them over again would only cost time.
        applied = (self._starts[lo:hi], self._ends[lo:hi], self._keys[lo:hi])
        if applied == self._applied:
            return
        self._applied = applied
        document = view.document()
        out: list[QTextEdit.ExtraSelection] = []
        for i in range(lo, hi):
            fmt = self._formats.get(self._keys[i])
            if fmt is None:
                continue
            cursor = QTextCursor(document)
            cursor.setPosition(self._starts[i])
            cursor.setPosition(self._ends[i], QTextCursor.MoveMode.KeepAnchor)
            selection = QTextEdit.ExtraSelection()
            selection.cursor = cursor  # type: ignore[misc]
            selection.format = fmt  # type: ignore[misc]
            out.append(selection)
        view.setExtraSelections(out)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """A resized viewport shows other text: mark it."""
        if event.type() == QEvent.Type.Resize and self._starts:
            self.apply()
        return False

    def _on_scrollbar_value_changed(self, _value: int) -> None:
        if self._starts:
            self.apply()
