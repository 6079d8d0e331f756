"""The simulated judge: scores answers from their features, deterministically, offline.

Asked to judge (the messages :mod:`gui.core.judging` builds), the simulated model answers
through :func:`judge_reply`. A score starts at 10 and loses points for what a careful judge
would hold against an answer, each read from the text alone (:func:`assess`):

- **relevance**: the share of the input's subject words the answer never mentions (an answer
  that mentions none of them is off-topic and scores 1, as the starter rubric says);
- **length**: the answer's words against the length the input asks for ("in 50 words", "in
  one sentence", "briefly", "a joke", "in detail", else a middle range);
- **repetition**: the share of its sentences that repeat an earlier one;
- **cut off**: it stops mid-sentence (an answer cut at its token limit);
- **structure**: a long answer written as one unbroken block;
- **filler**: it opens with flattery ("Great question", "Happy to help").

An empty answer scores 1, one on the input's subject at least 2. Pairwise, the answer with the higher unrounded score wins, a tie
when they are within :data:`TIE_MARGIN`. The reply is the JSON verdict, sometimes in a code
fence or after a line of prose as chat models write it, so every path of the judge's parser
runs offline. The same answer always gets the same score and reason, so simulated models
rank the same way in every run.
"""

from __future__ import annotations

import functools
import json
import re
import zlib
from dataclasses import dataclass
from typing import Any

from gui.core.judging import SCORE_RANGE, JudgeRequest

__all__ = ["Assessment", "asked_length", "assess", "judge_reply", "judge_score"]

#: Pairwise: unrounded scores closer than this are a tie.
TIE_MARGIN = 0.5

# Words in any script ("кошки", "café").
_WORD_RE = re.compile(r"[^\W\d_][\w'\-]*")
# A sentence ends at . ! ? or … and the space after it.
_SENTENCE_END_RE = re.compile(r"[.!?…]\s+")
# Lines that give a long answer structure: headings, list items, table rows, code fences.
_STRUCTURE_RE = re.compile(r"^\s*(?:#{1,6}\s|[-*+]\s|\d+[.)]\s|\||```)", re.MULTILINE)
# How a finished answer may end: a sentence's end, a closing quote or bracket, a code fence
# or table row, an emoji or other symbol.
_FINISHED_ENDS = frozenset(".!?…)]}\"'`*|»”’:;")
_FILLER_RE = re.compile(
    r"^\W*(?:(?:great|good|excellent|what a)\s+(?:question|topic)|happy to help|"
    r"(?:sure|certainly|of course|absolutely)\b[!,.]|as an ai\b)",
    re.IGNORECASE,
)

# Words that say nothing about the input's subject: function words, request verbs, and the
# words that ask for a length or a form (read by asked_length instead).
_NOT_SUBJECT = frozenset(
    """a an the some any my your our their his her its this that these those in for to with
    using like so which because please but while when if as into from by than of on at up out
    over under about and or not no yes i me you we they it he she him them us is are was were
    be been being am do does did have has had can could would should will shall may might must
    what who whom whose why how where there here tell write give make explain describe
    summarize summarise define show list say answer reply respond help let lets let's get just
    only include short long brief briefly concise concisely quick quickly detail details
    detailed thorough thoroughly depth in-depth comprehensive comprehensively full fully
    one two three four five single few many more most very really simple simply thanks thank
    word words sentence sentences line lines paragraph paragraphs essay joke jokes funny pun
    puns haiku haikus poem poems limerick riddle nutshell tl;dr tldr something anything
    everything thing things way ways kind sort""".split()
)

#: (pattern, (fewest, most) words) for the lengths an input may ask for, first match wins;
#: an input that asks for none gets :data:`DEFAULT_LENGTH`.
_ASKED_LENGTHS: tuple[tuple[re.Pattern[str], tuple[int, int]], ...] = (
    (re.compile(r"\b(?:one|a single|1)\s+(?:short\s+)?(?:sentence|line)\b"), (4, 35)),
    (re.compile(r"\b(?:two|three|2|3)\s+sentences\b"), (10, 80)),
    (re.compile(r"\b(?:haikus?|limericks?|riddles?|puns?)\b"), (5, 80)),
    (re.compile(r"\b(?:jokes?|funny)\b"), (8, 90)),
    (
        re.compile(r"\b(?:brief(?:ly)?|short|concise(?:ly)?|quick(?:ly)?|nutshell|tl;?dr)\b"),
        (10, 100),
    ),
    (
        re.compile(
            r"\b(?:in detail|detailed|thorough(?:ly)?|in[- ]depth|comprehensive(?:ly)?|"
            r"essay|everything)\b"
        ),
        (120, 700),
    ),
)
_WORD_COUNT_RE = re.compile(r"\b(\d{1,5})\s+words?\b")
#: Words an answer should have when the input asks for no length.
DEFAULT_LENGTH = (30, 300)
#: Longer answers than this should have some structure (paragraphs, a list, headings).
BLOCK_WORDS = 150

# The points each fault can cost, at most.
_RELEVANCE_POINTS = 4.0
_SHORT_POINTS = 4.0
_LONG_POINTS = 3.0
_REPEAT_POINTS = 3.0
_CUT_POINTS = 2.0
_BLOCK_POINTS = 1.0
_FILLER_POINTS = 1.0
#: The lowest score of an answer that is on the input's subject (empty or off-topic: 1).
_ON_TOPIC_FLOOR = 2.0

# What each fault is called in a reason ("On topic but <fault> and <fault>.").
_FAULTS = {
    "relevance": "misses part of the question",
    "short": "too short",
    "long": "too long",
    "repetition": "repetitive",
    "cut": "cut off mid-sentence",
    "block": "one long block",
    "filler": "opens with filler",
}
# What an answer without that fault does better ("it <strength>").
_STRENGTHS = {
    "relevance": "covers more of the question",
    "short": "says enough",
    "long": "keeps to the length asked",
    "repetition": "repeats itself less",
    "cut": "ends with a full sentence",
    "block": "is better organised",
    "filler": "gets to the point",
}


@dataclass(frozen=True, slots=True)
class Assessment:
    """What the simulated judge holds against one answer.

    Attributes:
        value: The unrounded score, 1-10 (pairwise compares these).
        faults: Points lost per fault (keys of the reasons' wording), largest first; only
            faults that cost something.
        words: The answer's words.
        off_topic: The answer mentions none of the input's subject words.
    """

    value: float
    faults: tuple[tuple[str, float], ...]
    words: int
    off_topic: bool = False

    @property
    def score(self) -> int:
        """The whole-number score the judge replies with."""
        low, high = SCORE_RANGE
        return max(low, min(high, int(self.value + 0.5)))

    def lost(self, fault: str) -> float:
        """Points lost to ``fault`` (0 when it has none)."""
        return next((points for name, points in self.faults if name == fault), 0.0)

    def reason(self) -> str:
        """One short sentence on the score: its two largest faults, or that it has none
        (short as a judge's reason is: the reply's length is the call's latency)."""
        if self.words == 0:
            return "Empty."
        if self.off_topic:
            return "Off-topic: never mentions the input's subject."
        named = [_FAULTS[name] for name, points in self.faults if points >= 0.5][:2]
        if not named:
            return "On topic, fitting length, complete and clear."
        return f"On topic but {' and '.join(named)}."


def asked_length(input_text: str) -> tuple[int, int]:
    """The fewest and most words an answer to ``input_text`` should have."""
    text = input_text.lower()
    count = _WORD_COUNT_RE.search(text)
    if count is not None and int(count.group(1)) > 0:
        n = int(count.group(1))
        return max(1, round(n * 0.6)), max(2, round(n * 1.4))
    for pattern, length in _ASKED_LENGTHS:
        if pattern.search(text):
            return length
    return DEFAULT_LENGTH


def _forms(word: str) -> tuple[str, ...]:
    """``word`` with its naive singulars and plural ("foxes" -> fox, foxe, foxes)."""
    if word.endswith("ies") and len(word) > 4:
        one = word[:-3] + "y"
    elif word.endswith(("ches", "shes", "sses", "xes", "zes")):
        one = word[:-2]
    elif word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        one = word[:-1]
    else:
        one = word
    many = one[:-1] + "ies" if one.endswith("y") and one[-2:-1] not in "aeiou" else one + "s"
    chopped = word[:-1] if word.endswith("s") and len(word) > 3 else word
    return tuple(dict.fromkeys((word, one, chopped, many)))


@dataclass(frozen=True, slots=True)
class _Input:
    """What the judge reads from an input once: its subject's words and the length asked."""

    subject: tuple[re.Pattern[str], ...]
    length: tuple[int, int]


@functools.lru_cache(maxsize=64)
def _read_input(input_text: str) -> _Input:
    """What the judge reads from ``input_text``; kept, as every column's answers to an input
    (and, pairwise, every pair of them) are judged against the same input."""
    words = sorted(frozenset(_WORD_RE.findall(input_text.lower())) - _NOT_SUBJECT)
    # One pattern per subject word, any of its forms as a whole word: a search stops at the
    # first mention, so an on-topic answer costs a few characters per word.
    subject = tuple(
        re.compile(rf"(?<![\w'-])(?:{'|'.join(map(re.escape, _forms(w)))})(?![\w'-])")
        for w in words
    )
    return _Input(subject, asked_length(input_text))


@functools.lru_cache(maxsize=32)
def _assess(asked: _Input, answer: str) -> Assessment:
    """:func:`assess` with the input already read; kept, as pairwise judges each answer once
    per other column, its row's pairs one after another (a few kept only: an answer may be
    megabytes)."""
    stripped = answer.strip()
    text = stripped.lower()
    n = len(text.split())
    if n == 0:
        return Assessment(float(SCORE_RANGE[0]), (), 0)
    faults: dict[str, float] = {}
    if asked.subject:
        missing = sum(1 for p in asked.subject if p.search(text) is None) / len(asked.subject)
        if missing == 1.0:
            return Assessment(float(SCORE_RANGE[0]), (("relevance", 9.0),), n, off_topic=True)
        faults["relevance"] = _RELEVANCE_POINTS * missing
    low, high = asked.length
    if n < low:
        faults["short"] = _SHORT_POINTS * (1.0 - n / low)
    elif n > high:
        faults["long"] = min(_LONG_POINTS, 1.5 * (n / high - 1.0))
    sentences = [s for s in _SENTENCE_END_RE.split(text) if s.count(" ") >= 2]
    if len(sentences) > 1:
        repeated = len(sentences) - len(set(sentences))
        faults["repetition"] = min(_REPEAT_POINTS, 8.0 * repeated / len(sentences))
    last = stripped[-1]
    if (
        last not in _FINISHED_ENDS
        and (last.isalnum() or last in ",-(")
        # A list item, heading or table row may end without a full stop.
        and not _STRUCTURE_RE.match(stripped, stripped.rfind("\n") + 1)
    ):
        faults["cut"] = _CUT_POINTS
    if n > BLOCK_WORDS and "\n\n" not in stripped and not _STRUCTURE_RE.search(stripped):
        faults["block"] = _BLOCK_POINTS
    if _FILLER_RE.match(stripped):
        faults["filler"] = _FILLER_POINTS
    lost = sorted(((k, v) for k, v in faults.items() if v > 0), key=lambda kv: -kv[1])
    # Whatever its faults, an answer on the input's subject beats an empty or off-topic one.
    value = max(_ON_TOPIC_FLOOR, float(SCORE_RANGE[1]) - sum(v for _, v in lost))
    return Assessment(value, tuple(lost), n)


def assess(input_text: str, answer: str) -> Assessment:
    """What the simulated judge holds against ``answer`` to ``input_text`` (see the module's
    docstring for the faults and their points)."""
    return _assess(_read_input(input_text), answer)


def judge_score(input_text: str, answer: str) -> int:
    """The simulated judge's 1-10 score of ``answer`` to ``input_text``."""
    return assess(input_text, answer).score


def _pairwise_reason(first: Assessment, second: Assessment, winner: str) -> str:
    if winner == "tie":
        return f"The answers are about as good: they score {first.score} and {second.score}."
    better, worse = (first, second) if winner == "first" else (second, first)
    # The fault that tells them apart most: where the loser lost the most more points.
    names = {name for name, _ in (*better.faults, *worse.faults)}
    edge = max(sorted(names), key=lambda name: worse.lost(name) - better.lost(name))
    why = _STRENGTHS[edge] if worse.lost(edge) > better.lost(edge) else "is better overall"
    return f"The {winner} answer is better: it {why}; they score {first.score} and {second.score}."


def judge_reply(request: JudgeRequest) -> str:
    """The simulated judge's reply to ``request``: a score, or pairwise a winner, as JSON.

    The input is read once per call, each answer scanned once: a judge call's planning runs
    on the app's loop, 200 of them as a stress run ends (the ``judge`` bench scenario).
    """
    asked = _read_input(request.input)
    found = [_assess(asked, answer) for answer in request.answers]
    body: dict[str, Any]
    if request.pairwise:
        first, second = found
        gap = first.value - second.value
        winner = "tie" if abs(gap) < TIE_MARGIN else ("first" if gap > 0 else "second")
        body = {"winner": winner, "reason": _pairwise_reason(first, second, winner)}
    else:
        body = {"score": found[0].score, "reason": found[0].reason()}
    text = json.dumps(body)
    shape = zlib.crc32("\x00".join(request.answers).encode()) % 3
    if shape == 1:
        return f"```json\n{text}\n```"
    if shape == 2:
        return f"Here is my verdict.\n{text}"
    return text
