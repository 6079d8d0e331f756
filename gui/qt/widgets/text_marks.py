"""Colouring ranges of a text view without touching its document: diff and agreement marks.

Marks are extra selections (``setExtraSelections``), so the text, its undo history and its
layout stay as they are, and re-colouring for a new palette costs one call. Colours are
derived from the palette's base colour, mixed with a hue, so that every mark is a tint of
the view's own background: readable under the light and the dark theme alike.

Ranges come from the Qt-free core as ``str`` indices; a ``QTextDocument`` counts UTF-16 code
units, so :func:`utf16_positions` converts them (an emoji outside the Basic Multilingual
Plane is one ``str`` index and two positions).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence

from PySide6.QtGui import QColor, QPalette, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QTextEdit

from gui.core.agreement import Sentence, Share

__all__ = [
    "AGREEMENT_HUES",
    "CHANGE_HUES",
    "agreement_selections",
    "change_colors",
    "mix",
    "selections",
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


def utf16_positions(text: str) -> Callable[[int], int]:
    """Maps a ``str`` index of ``text`` to its ``QTextDocument`` position (UTF-16 units)."""
    if not text or max(text) < "\U00010000":
        return lambda index: index
    astral = [i for i, ch in enumerate(text) if ord(ch) > 0xFFFF]
    return lambda index: index + bisect.bisect_left(astral, index)


def selections(
    view: TextView, ranges: Iterable[tuple[int, int, QColor]], text: str
) -> list[QTextEdit.ExtraSelection]:
    """Extra selections colouring ``(start, end, colour)`` ranges of ``text`` (``str``
    indices), the plain text ``view`` shows."""
    position = utf16_positions(text)
    document = view.document()
    out: list[QTextEdit.ExtraSelection] = []
    formats: dict[int, QTextCharFormat] = {}
    for start, end, color in ranges:
        if end <= start:
            continue
        fmt = formats.get(color.rgba())
        if fmt is None:
            fmt = formats[color.rgba()] = QTextCharFormat()
            fmt.setBackground(color)
        cursor = QTextCursor(document)
        cursor.setPosition(position(start))
        cursor.setPosition(position(end), QTextCursor.MoveMode.KeepAnchor)
        selection = QTextEdit.ExtraSelection()
        selection.cursor = cursor  # type: ignore[misc]
        selection.format = fmt  # type: ignore[misc]
        out.append(selection)
    return out


def agreement_selections(
    view: TextView, sentences: Sequence[Sentence], text: str, palette: QPalette
) -> list[QTextEdit.ExtraSelection]:
    """Extra selections colouring each sentence of one answer by how widely it is shared.

    ``text`` is the answer the sentences were cut from, as ``view`` shows it (plain source
    text); apply them with ``view.setExtraSelections``. A Row-compare column showing the same
    source can use this directly.
    """
    colors = share_colors(palette)
    limit = len(text)
    return selections(
        view, ((s.start, min(s.end, limit), colors[s.share]) for s in sentences), text
    )
