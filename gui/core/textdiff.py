"""A word-level diff of two answers: the opcodes a side-by-side view colours, a unified word
diff for the terminal, and a similarity figure.

Words and punctuation marks are the tokens; whitespace is not compared (a re-wrapped
paragraph is the same text), but every opcode covers a character range of each text, the
whitespace after its tokens included, so the ranges of a diff tile both texts exactly.

:class:`difflib.SequenceMatcher` runs with ``autojunk`` off, because its heuristic treats
frequent words ("the", ",") as junk and then misaligns ordinary prose. Without it the cost
grows with (tokens of A) x (occurrences of each token in B), so long texts are bounded in
three steps: the common head and tail are cut off first (cheap, and most of a near-copy);
a middle still larger than :data:`DIRECT_LIMIT` token pairs is aligned by chunks
(sentences and lines): chunks found once in each text anchor it, in the longest order both
agree on (patience diff, O(n log n)), the chunks between anchors are matched with
SequenceMatcher, and only the differing chunks are diffed word by word; a differing
stretch still too large is reported as one replacement.
"""

from __future__ import annotations

import bisect
import difflib
import itertools
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["DIRECT_LIMIT", "DiffOp", "OpTag", "WordDiff", "word_diff", "word_diff_of"]

OpTag = Literal["equal", "delete", "insert", "replace"]

#: Largest (tokens of A) x (tokens of B) diffed word by word in one go; two answers of
#: 1,000 words are about 1.5 million.
DIRECT_LIMIT = 4_000_000

# A word (letters, digits, underscores, as Unicode sees them) or one other visible character.
_TOKEN = re.compile(r"\w+|[^\w\s]")
_SENTENCE_END = frozenset(".!?…")
_DELETED = ("[-", "-]")
_INSERTED = ("{+", "+}")


@dataclass(frozen=True, slots=True)
class DiffOp:
    """One stretch of the diff, as character ranges of both texts.

    The ranges include the whitespace after the stretch's last token (and the first
    stretch starts at 0), so the ops of a diff tile both texts; :meth:`a_marked` and
    :meth:`b_marked` give the ranges without that whitespace, for colouring.

    Attributes:
        tag: ``equal``, ``delete`` (only in A), ``insert`` (only in B) or ``replace``.
        a_start: Start of the stretch in A.
        a_end: End of the stretch in A (exclusive); equal to ``a_start`` for an insert.
        b_start: Start of the stretch in B.
        b_end: End of the stretch in B (exclusive); equal to ``b_start`` for a delete.
    """

    tag: OpTag
    a_start: int
    a_end: int
    b_start: int
    b_end: int


@dataclass(frozen=True, slots=True)
class WordDiff:
    """The word-level diff of two texts.

    Attributes:
        a: The first text ("before").
        b: The second text ("after").
        ops: The stretches, in order; they tile both texts.
        similarity: 0-100: twice the tokens the texts share over the tokens of both.
    """

    a: str
    b: str
    ops: tuple[DiffOp, ...]
    similarity: float

    def a_marked(self, op: DiffOp) -> tuple[int, int]:
        """The range of A that ``op`` deletes or replaces, without whitespace around it."""
        return _stripped(self.a, op.a_start, op.a_end)

    def b_marked(self, op: DiffOp) -> tuple[int, int]:
        """The range of B that ``op`` inserts or replaces, without whitespace around it."""
        return _stripped(self.b, op.b_start, op.b_end)

    def deleted(self) -> list[str]:
        """The stretches of A that B lacks (deletes and the old side of replaces)."""
        return [self.a[slice(*self.a_marked(op))] for op in self.ops if op.tag in _A_CHANGED]

    def inserted(self) -> list[str]:
        """The stretches of B that A lacks (inserts and the new side of replaces)."""
        return [self.b[slice(*self.b_marked(op))] for op in self.ops if op.tag in _B_CHANGED]

    def unified(
        self,
        mark: Callable[[str, str], str] | None = None,
        escape: Callable[[str], str] = str,
    ) -> str:
        """The diff as one text: B's words, with what changed marked in place.

        By default deletions read ``[-old-]`` and insertions ``{+new+}`` (git's
        ``--word-diff=plain``). Args:
            mark: ``mark(kind, text)`` with ``kind`` ``"delete"`` or ``"insert"`` returns the
                marked text (a terminal colours it instead); ``text`` is already escaped.
            escape: Applied to every piece of the texts before marking (the CLI shows
                control characters as escapes).
        """
        marker = mark or _plain_mark
        out: list[str] = []
        for op in self.ops:
            if op.tag == "equal":
                out.append(escape(self.b[op.b_start : op.b_end]))
                continue
            # The changed side's own whitespace around the marks: B's when B changed, else
            # A's (a deletion at the end of a line keeps the space before it).
            text, start, end = (
                (self.b, *self.b_marked(op))
                if op.tag in _B_CHANGED
                else (self.a, *self.a_marked(op))
            )
            lead_from = op.b_start if op.tag in _B_CHANGED else op.a_start
            lead = text[lead_from:start]
            if not lead and out and out[-1] and not out[-1][-1].isspace():
                before = text[:lead_from]
                lead = before[len(before.rstrip()) :]
            out.append(escape(lead))
            if op.tag in _A_CHANGED:
                out.append(marker("delete", escape(self.a[slice(*self.a_marked(op))])))
            if op.tag in _B_CHANGED:
                out.append(marker("insert", escape(self.b[start:end])))
            out.append(escape(text[end : op.b_end if op.tag in _B_CHANGED else op.a_end]))
        return "".join(out)


_A_CHANGED = frozenset({"delete", "replace"})
_B_CHANGED = frozenset({"insert", "replace"})


def _stripped(text: str, start: int, end: int) -> tuple[int, int]:
    piece = text[start:end]
    core = piece.strip()
    if not core:
        return start, start
    first = start + piece.index(core[0])
    return first, first + len(core)


def _plain_mark(kind: str, text: str) -> str:
    left, right = _DELETED if kind == "delete" else _INSERTED
    return f"{left}{text}{right}"


def _tokens(text: str) -> tuple[list[str], list[int]]:
    """The tokens of ``text`` and where each starts."""
    words: list[str] = []
    starts: list[int] = []
    for match in _TOKEN.finditer(text):
        words.append(match.group())
        starts.append(match.start())
    return words, starts


Opcode = tuple[str, int, int, int, int]


def _direct(a: Sequence[str], b: Sequence[str], a0: int, b0: int) -> list[Opcode]:
    """Token opcodes of ``a`` against ``b``, shifted by ``a0`` and ``b0``."""
    if a == b:
        return [("equal", a0, a0 + len(a), b0, b0 + len(b))] if a else []
    if not a or not b or len(a) * len(b) > DIRECT_LIMIT:
        tag = "insert" if not a else "delete" if not b else "replace"
        return [(tag, a0, a0 + len(a), b0, b0 + len(b))]
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return [(t, i1 + a0, i2 + a0, j1 + b0, j2 + b0) for t, i1, i2, j1, j2 in matcher.get_opcodes()]


def _chunks(words: Sequence[str], starts: Sequence[int], text: str, lo: int, hi: int) -> list[int]:
    """Token indices in ``[lo, hi)`` where a chunk (a sentence or a line) starts, and ``hi``."""
    bounds = [lo]
    for i in range(lo, hi - 1):
        if words[i] in _SENTENCE_END or "\n" in text[starts[i] + len(words[i]) : starts[i + 1]]:
            bounds.append(i + 1)
    bounds.append(hi)
    return bounds


def _anchors(a_keys: Sequence[object], b_keys: Sequence[object]) -> list[tuple[int, int]]:
    """Chunks found once in each text, paired in an order both texts agree on (the longest
    such sequence: patience diff's anchors), in O(n log n)."""
    count_a = Counter(a_keys)
    count_b = Counter(b_keys)
    in_b = {key: j for j, key in enumerate(b_keys) if count_b[key] == 1}
    pairs = [(i, in_b[key]) for i, key in enumerate(a_keys) if count_a[key] == 1 and key in in_b]
    tails: list[int] = []  # smallest b index ending an increasing run of each length
    ends: list[int] = []  # the pair (index into pairs) at each tail
    before = [-1] * len(pairs)
    for n, (_i, j) in enumerate(pairs):
        length = bisect.bisect_left(tails, j)
        if length == len(tails):
            tails.append(j)
            ends.append(n)
        else:
            tails[length] = j
            ends[length] = n
        before[n] = ends[length - 1] if length else -1
    chain: list[tuple[int, int]] = []
    n = ends[-1] if ends else -1
    while n >= 0:
        chain.append(pairs[n])
        n = before[n]
    return chain[::-1]


def _middle(
    a_words: list[str],
    a_starts: list[int],
    a: str,
    b_words: list[str],
    b_starts: list[int],
    b: str,
    lo: int,
    a_hi: int,
    b_hi: int,
) -> list[Opcode]:
    """Opcodes for ``a_words[lo:a_hi]`` against ``b_words[lo:b_hi]`` (same head length)."""
    if (a_hi - lo) * (b_hi - lo) <= DIRECT_LIMIT:
        return _direct(a_words[lo:a_hi], b_words[lo:b_hi], lo, lo)
    a_bounds = _chunks(a_words, a_starts, a, lo, a_hi)
    b_bounds = _chunks(b_words, b_starts, b, lo, b_hi)
    a_keys = [tuple(a_words[s:e]) for s, e in itertools.pairwise(a_bounds)]
    b_keys = [tuple(b_words[s:e]) for s, e in itertools.pairwise(b_bounds)]
    # SequenceMatcher alone is quadratic in chunks when many small stretches match (every
    # other line changed), so chunks unique to both texts anchor the alignment first, and
    # only the stretches between anchors are matched.
    ops: list[Opcode] = []
    i0 = j0 = 0
    for i, j in [*_anchors(a_keys, b_keys), (len(a_keys), len(b_keys))]:
        ops += _gap(a_words, b_words, a_keys[i0:i], b_keys[j0:j], a_bounds, b_bounds, i0, j0)
        if i < len(a_keys):
            ops.append(("equal", a_bounds[i], a_bounds[i + 1], b_bounds[j], b_bounds[j + 1]))
        i0, j0 = i + 1, j + 1
    return ops


def _gap(
    a_words: list[str],
    b_words: list[str],
    a_keys: list[tuple[str, ...]],
    b_keys: list[tuple[str, ...]],
    a_bounds: list[int],
    b_bounds: list[int],
    i0: int,
    j0: int,
) -> list[Opcode]:
    """Opcodes for the chunks between two anchors (chunk ``i0`` of A, ``j0`` of B onward)."""
    ta1, ta2 = a_bounds[i0], a_bounds[i0 + len(a_keys)]
    tb1, tb2 = b_bounds[j0], b_bounds[j0 + len(b_keys)]
    if (ta2 - ta1) * (tb2 - tb1) <= DIRECT_LIMIT or len(a_keys) * len(b_keys) > DIRECT_LIMIT:
        return _direct(a_words[ta1:ta2], b_words[tb1:tb2], ta1, tb1)  # too big: one replace
    # Chunks are rarely repeated, so autojunk (on by default) only drops the likes of a
    # repeated list marker line here, which the word-level pass then aligns.
    matcher = difflib.SequenceMatcher(None, a_keys, b_keys)
    ops: list[Opcode] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        s1, s2 = a_bounds[i0 + i1], a_bounds[i0 + i2]
        u1, u2 = b_bounds[j0 + j1], b_bounds[j0 + j2]
        if tag == "equal":
            ops.append(("equal", s1, s2, u1, u2))
        else:
            ops += _direct(a_words[s1:s2], b_words[u1:u2], s1, u1)
    return ops


def _merged(ops: list[Opcode]) -> list[Opcode]:
    """Adjacent opcodes joined: equal with equal, and any changes in a row as one."""
    out: list[Opcode] = []
    for tag, i1, i2, j1, j2 in ops:
        if i1 == i2 and j1 == j2:
            continue
        if out:
            ptag, pi1, _pi2, pj1, _pj2 = out[-1]
            if (ptag == "equal") == (tag == "equal"):
                joined = tag if tag == "equal" else _change(pi1, i2, pj1, j2)
                out[-1] = (joined, pi1, i2, pj1, j2)
                continue
        out.append((tag, i1, i2, j1, j2))
    return out


def _change(i1: int, i2: int, j1: int, j2: int) -> str:
    return "replace" if i1 < i2 and j1 < j2 else "delete" if i1 < i2 else "insert"


def word_diff(a: str, b: str) -> WordDiff:
    """The word-level diff of ``a`` (before) and ``b`` (after).

    Cost is bounded for long texts (see the module's docstring): two 1 MB answers that
    differ throughout cost at most a chunk alignment plus word diffs of bounded size.
    """
    a_words, a_starts = _tokens(a)
    b_words, b_starts = _tokens(b)
    head = 0
    limit = min(len(a_words), len(b_words))
    while head < limit and a_words[head] == b_words[head]:
        head += 1
    tail = 0
    while (
        tail < limit - head and a_words[len(a_words) - 1 - tail] == b_words[len(b_words) - 1 - tail]
    ):
        tail += 1
    a_hi, b_hi = len(a_words) - tail, len(b_words) - tail
    ops: list[Opcode] = [("equal", 0, head, 0, head)]
    ops += _middle(a_words, a_starts, a, b_words, b_starts, b, head, a_hi, b_hi)
    ops.append(("equal", a_hi, len(a_words), b_hi, len(b_words)))
    merged = _merged(ops)
    same = sum(i2 - i1 for tag, i1, i2, _j1, _j2 in merged if tag == "equal")
    total = len(a_words) + len(b_words)
    similarity = 100.0 if total == 0 else 200.0 * same / total

    def a_at(i: int) -> int:
        return 0 if i == 0 else len(a) if i == len(a_words) else a_starts[i]

    def b_at(j: int) -> int:
        return 0 if j == 0 else len(b) if j == len(b_words) else b_starts[j]

    result = tuple(
        DiffOp(tag, a_at(i1), a_at(i2), b_at(j1), b_at(j2))  # type: ignore[arg-type]
        for tag, i1, i2, j1, j2 in merged
    )
    if not result and (a or b):  # only whitespace on either side: one stretch, no words
        result = (DiffOp("equal", 0, len(a), 0, len(b)),)
    return WordDiff(a, b, result, similarity)


def word_diff_of(pair: tuple[str, str]) -> WordDiff:
    """:func:`word_diff` of ``(a, b)``: one picklable argument, for a worker process."""
    return word_diff(*pair)
