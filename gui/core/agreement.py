"""Where the answers of one input agree: each sentence of each answer tagged as shared by every
answer, by some, or unique to its own.

Splitting is Markdown-aware. markdown-it-py parses the block structure only (its inline rules
are off: about 0.3 ms for a 1,000-word answer): a fenced or indented code block, a heading, a
table row and a list item (the paragraphs directly in it) are each one unit, as a reader
takes them in. Ordinary paragraphs (in block quotes too) are cut into sentences by a small
rule set, :func:`sentence_spans`, instead of a sentence-splitting library: pySBD, the
well-known rule-based one, has had no release since 2021 and costs milliseconds per
paragraph where the whole row has a budget of 100 ms, and model answers are edited prose
where its hard cases (quotations inside quotations, legal citations) are rare. The rules:
a sentence ends at ``.``, ``!``, ``?`` or ``…`` (closing quotes, brackets and emphasis
markers may follow) plus whitespace, when the next character is not a lower-case letter,
and the word before the mark is neither a known abbreviation (:data:`ABBREVIATIONS`) nor a
single letter (an initial: "J. Smith"); a line break inside a paragraph is a soft wrap, not
an end.

Sentences are compared by their normalised tokens: lower case, letters and digits only (so
punctuation, Markdown markers and whitespace do not count), English stop words dropped
(unless that leaves nothing), as a set. Two sentences of different answers say the same when
their token overlap (Dice: twice the common tokens over the tokens of both) reaches the
threshold. Candidates come from an inverted token index, so the cost follows the words the
sentences share, not the square of the sentence count.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

__all__ = [
    "ABBREVIATIONS",
    "DEFAULT_THRESHOLD",
    "STOP_WORDS",
    "Agreement",
    "Sentence",
    "Share",
    "agreement",
    "agreement_of",
    "sentence_spans",
    "similarity",
    "tokens_of",
]

#: Token overlap (Dice, 0-1) from which two sentences say the same: "The capital of France
#: is Paris." and "Paris is the capital of France." score 1.0; "Water boils at 100 degrees
#: Celsius at sea level." and "At sea level, water boils at 100 °C." 0.77; "Cats are
#: independent animals." and "Dogs are loyal animals." 0.33.
DEFAULT_THRESHOLD = 0.5

#: Words before a full stop that do not end a sentence.
ABBREVIATIONS = frozenset(
    "e.g i.e etc vs cf al approx ca mr mrs ms dr prof st jr sr no fig eq vol pp ed inc ltd co"
    " dept est min max".split()
)

#: English words too common to say what a sentence is about.
STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is
    it its itself just me more most my myself no nor not now of off on once only or other our
    ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we
    were what when where which while who whom why will with would you your yours yourself
    yourselves also may might must shall one""".split()
)

_WORD = re.compile(r"[^\W_]+")
_END = re.compile(r"[.!?…]+[\"'”’»)\]*_]*(\s+)")
_LAST_WORD = re.compile(r"([^\W_](?:[^\W_]|\.)*)[.!?…]*[\"'”’»)\]*_]*$")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LIST_MARKER = re.compile(r"[ \t>]*(?:[-*+]|\d{1,9}[.)])[ \t]+(?:\[[ xX]\][ \t]+)?")
_HEADING_MARKER = re.compile(r"[ \t]*#{1,6}[ \t]+")


class Share(StrEnum):
    """How widely a sentence is shared among the answers of its row."""

    ALL = "all"
    """Every other answer (with any text) says it too."""
    SOME = "some"
    """At least one other answer says it, not all of them."""
    UNIQUE = "unique"
    """No other answer says it."""


@dataclass(frozen=True, slots=True)
class Sentence:
    """One unit of an answer (a sentence, list item, heading, table row or code block).

    Attributes:
        start: Where it starts in its answer (a ``str`` index).
        end: Where it ends (exclusive).
        text: ``answer[start:end]``.
        share: How widely it is shared.
        shared_with: The other answers (indices) with a sentence that says the same.
        group: An id shared by sentences that say the same, directly or through others
            (connected components); a unique sentence has its own.
    """

    start: int
    end: int
    text: str
    share: Share
    shared_with: tuple[int, ...]
    group: int


@dataclass(frozen=True, slots=True)
class Agreement:
    """Every answer of a row, cut into sentences, each tagged.

    Attributes:
        answers: Per answer, its sentences in order.
        threshold: The token overlap (0-1) the grouping used.
    """

    answers: tuple[tuple[Sentence, ...], ...]
    threshold: float

    def counts(self, answer: int | None = None) -> dict[Share, int]:
        """Sentences per share, of one answer or (``None``) of the whole row: the legend."""
        result = dict.fromkeys(Share, 0)
        chosen = self.answers if answer is None else (self.answers[answer],)
        for sentences in chosen:
            for sentence in sentences:
                result[sentence.share] += 1
        return result


@cache
def _markdown() -> MarkdownIt:
    # Imported on first use: the command line reads this module's defaults at every start.
    from markdown_it import MarkdownIt

    # Blocks only: the inline rules would parse emphasis and links the splitter never uses.
    return MarkdownIt("commonmark").enable("table").disable(["inline", "text_join"])


def _line_starts(text: str) -> list[int]:
    """Where each line starts (markdown-it counts lines after turning \\r\\n and \\r into \\n),
    plus the text's length as the start of a line past the end."""
    return [0, *(m.end() for m in _LINE_BREAK.finditer(text)), len(text)]


def _trimmed(
    text: str, start: int, end: int, marker: re.Pattern[str] | None = None
) -> tuple[int, int]:
    if marker is not None:
        found = marker.match(text, start, end)
        if found is not None:
            start = found.end()
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """The sentences of the prose ``text[start:end]``, as ranges of ``text`` (rules in the
    module's docstring)."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    begin = start
    for match in _END.finditer(text, start, end):
        after = match.end()
        if after >= end or text[after].islower():
            continue
        word = _LAST_WORD.search(text, max(begin, match.start(1) - 40), match.start(1))
        if word is not None:
            last = word.group(1).lower().rstrip(".")
            if last in ABBREVIATIONS or (len(last) == 1 and last.isalpha()):
                continue
        spans.append(_trimmed(text, begin, match.start(1)))
        begin = after
    spans.append(_trimmed(text, begin, end))
    return [(s, e) for s, e in spans if e > s]


def units(text: str) -> list[tuple[int, int]]:
    """The units of an answer (sentences, list items, headings, table rows, code blocks) as
    ``str`` ranges, in order."""
    lines = _line_starts(text)
    last = len(lines) - 2  # index of the last line

    def span(first: int, stop: int) -> tuple[int, int]:
        return lines[min(first, last + 1)], lines[min(stop, last + 1)]

    out: list[tuple[int, int]] = []
    in_item = 0
    for token in _markdown().parse(text):
        kind = token.type
        if kind == "list_item_open":
            in_item += 1
        elif kind == "list_item_close":
            in_item -= 1
        if token.map is None or token.nesting == -1:
            continue
        first, stop = token.map
        if kind in ("fence", "code_block", "html_block"):
            out.append(_trimmed(text, *span(first, stop)))
        elif kind == "heading_open":
            out.append(_trimmed(text, *span(first, stop), _HEADING_MARKER))
        elif kind == "tr_open":
            out.append(_trimmed(text, *span(first, stop)))
        elif kind == "paragraph_open":
            if in_item:
                out.append(_trimmed(text, *span(first, stop), _LIST_MARKER))
            else:
                out += sentence_spans(text, *span(first, stop))
    return [(s, e) for s, e in out if e > s]


def tokens_of(sentence: str, stop_words: bool = True) -> frozenset[str]:
    """The normalised tokens of a sentence (see the module's docstring)."""
    words = _WORD.findall(sentence.lower())
    if stop_words:
        kept = [w for w in words if w not in STOP_WORDS]
        if kept:
            return frozenset(kept)
    return frozenset(words)


def similarity(a: str, b: str, stop_words: bool = True) -> float:
    """Token overlap of two sentences, 0-1 (Dice over their normalised tokens)."""
    ta, tb = tokens_of(a, stop_words), tokens_of(b, stop_words)
    if not ta or not tb:
        return 0.0
    return 2 * len(ta & tb) / (len(ta) + len(tb))


def agreement(
    texts: Sequence[str], threshold: float = DEFAULT_THRESHOLD, stop_words: bool = True
) -> Agreement:
    """Tag every sentence of every answer of one row.

    An answer without text (not started, failed before its first token) is left out of
    "every answer": the others can still agree all together.

    Args:
        texts: The answers of one input row, one per column.
        threshold: Token overlap (0-1) from which two sentences say the same.
        stop_words: Drop English stop words before comparing.
    """
    # Every sentence of the row gets a global id: owners[id] is its answer.
    spans: list[tuple[int, int]] = []
    owners: list[int] = []
    token_sets: list[frozenset[str]] = []
    for answer, text in enumerate(texts):
        for s, e in units(text):
            found = tokens_of(text[s:e], stop_words)
            if found:  # a rule, a lone emoji: nothing to agree on
                spans.append((s, e))
                owners.append(answer)
                token_sets.append(found)
    count = len(spans)
    voices = len(set(owners))
    index: dict[str, list[int]] = {}
    for sid, found in enumerate(token_sets):
        for token in found:
            index.setdefault(token, []).append(sid)
    parent = list(range(count))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    shared: list[set[int]] = [set() for _ in range(count)]
    for sid, found in enumerate(token_sets):
        owner = owners[sid]
        common: dict[int, int] = {}
        for token in found:
            for other in index[token]:
                # Each pair once (the larger id meets the smaller), never within one answer.
                if other < sid and owners[other] != owner:
                    common[other] = common.get(other, 0) + 1
        size = len(found)
        for other, n in common.items():
            if 2 * n >= threshold * (size + len(token_sets[other])):
                shared[sid].add(owners[other])
                shared[other].add(owner)
                a, b = root(sid), root(other)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    answers: list[list[Sentence]] = [[] for _ in texts]
    for sid in range(count):
        with_ = tuple(sorted(shared[sid]))
        if not with_:
            share = Share.UNIQUE
        elif len(with_) == voices - 1:
            share = Share.ALL
        else:
            share = Share.SOME
        s, e = spans[sid]
        text = texts[owners[sid]]
        answers[owners[sid]].append(Sentence(s, e, text[s:e], share, with_, root(sid)))
    return Agreement(tuple(tuple(a) for a in answers), threshold)


def agreement_of(row: tuple[Sequence[str], float]) -> Agreement:
    """:func:`agreement` of ``(texts, threshold)``: one picklable argument, for a worker
    process."""
    texts, threshold = row
    return agreement(texts, threshold)
