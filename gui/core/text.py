"""Cutting text for labels and titles without breaking a character a reader sees as one.

An accent stays on its letter, an emoji sequence and a flag stay whole: a cut lands between
graphemes (approximately, without a Unicode segmentation library).
"""

from __future__ import annotations

import unicodedata

# Characters that belong to the character before them (a cut between the two would break
# an accent off its letter or an emoji sequence in half).
_JOINERS = frozenset("\u200d\u034f\ufe0e\ufe0f\u20e3")


def _joins(before: str, after: str) -> bool:
    """Whether ``before`` + ``after`` are one grapheme (approximately, without a library)."""
    if after in _JOINERS or before == "\u200d":
        return True
    code = ord(after)
    if 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F:  # skin tones, flag tags
        return True
    if unicodedata.category(after) in ("Mn", "Mc", "Me"):  # combining marks
        return True
    return False


def cut_text(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters plus "…", never inside a grapheme.

    An accent stays on its letter (``e`` + U+0301) and an emoji sequence (👩🏽‍💻, 🐈‍⬛) is
    kept whole or left out whole.
    """
    if len(text) <= limit:
        return text
    end = max(limit - 1, 0)
    while end > 0 and _joins(text[end - 1], text[end]):
        end -= 1
    # A flag is a pair of regional indicators: never keep half of one.
    ri = 0
    while end - ri > 0 and 0x1F1E6 <= ord(text[end - ri - 1]) <= 0x1F1FF:
        ri += 1
    if ri % 2 and end < len(text) and 0x1F1E6 <= ord(text[end]) <= 0x1F1FF:
        end -= 1
    return text[:end] + "…"


def one_line_label(text: str, limit: int = 40) -> str:
    """A label-sized, single-line version of ``text`` (cut between graphemes, see :func:`cut_text`)."""
    return cut_text(" ".join(text.split()), limit)
