"""The LLM judge: its settings, what it is asked, how its reply is read, and the ranking.

Pure and Qt-free. The engine's judge lane (:mod:`gui.core.judge_lane`) sends the messages
built here to the judge model and reads the reply with :func:`parse_score` or
:func:`parse_pairwise`; a reply that cannot be read is a judge *failure* that keeps the raw
text, never a silent score of 0. Pairwise results are ranked by win rate and by
Bradley-Terry strengths (:func:`bradley_terry`).

The judge's settings (:class:`JudgeSettings`) are defined in :mod:`gui.core.spec`, since a
:class:`~gui.core.spec.RunSpec` carries them and this module builds on the spec's cell ids,
and are re-exported here.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gui.core.spec import (
    MAX_RUBRIC_CHARS,
    SCORE_RANGE,
    SIM_JUDGE_MODEL,
    STARTER_RUBRIC,
    CellId,
    JudgeMode,
    JudgeSettings,
    judge_from_dict,
    judge_to_dict,
)

JUDGE_SYSTEM = (
    "You are an impartial judge of answers written by AI models. Follow the rubric. "
    "Reply with only a JSON object, no other text."
)
SCORE_FORMAT = (
    'Reply with only this JSON object: {"score": <integer 1-10>, "reason": "<one sentence>"}'
)
PAIRWISE_FORMAT = (
    'Reply with only this JSON object: {"winner": "first" | "second" | "tie", '
    '"reason": "<one sentence>"}. The order of the answers says nothing about their quality.'
)

#: JSON schema of a single verdict, for providers with structured output.
SCORE_SCHEMA: dict[str, Any] = {
    "title": "verdict",
    "description": "The judge's score of one answer.",
    "type": "object",
    "properties": {
        "score": {"type": "integer", "description": "1 (useless) to 10 (excellent)."},
        "reason": {"type": "string", "description": "One sentence on why."},
    },
    "required": ["score", "reason"],
    "additionalProperties": False,
}
#: JSON schema of a pairwise verdict.
PAIRWISE_SCHEMA: dict[str, Any] = {
    "title": "pairwise_verdict",
    "description": "Which of two answers is better.",
    "type": "object",
    "properties": {
        "winner": {"type": "string", "enum": ["first", "second", "tie"]},
        "reason": {"type": "string", "description": "One sentence on why."},
    },
    "required": ["winner", "reason"],
    "additionalProperties": False,
}


# ------------------------------------------------------------------ what the judge is asked

_TAGS = ("rubric", "input", "answer", "first_answer", "second_answer")
#: Any of the sections above, found in one pass over the text (the first of each tag counts).
_SECTION_RE = re.compile(rf"<({'|'.join(_TAGS)})>\n(.*?)\n</\1>", re.DOTALL)


def _section(tag: str, text: str) -> str:
    return f"<{tag}>\n{text}\n</{tag}>"


def prompt_text(messages: Sequence[tuple[str, str]]) -> str:
    """The input a cell sent, as the judge reads it: its messages, the system one labelled."""
    parts = [text if role != "system" else f"[system] {text}" for role, text in messages]
    return "\n\n".join(parts)


def score_messages(rubric: str, input_text: str, answer: str) -> list[tuple[str, str]]:
    """The ``(role, text)`` messages that ask for a score of one answer."""
    body = "\n\n".join(
        (
            _section("rubric", rubric.strip()),
            _section("input", input_text),
            _section("answer", answer),
            SCORE_FORMAT,
        )
    )
    return [("system", JUDGE_SYSTEM), ("human", body)]


def pairwise_messages(
    rubric: str, input_text: str, first: str, second: str
) -> list[tuple[str, str]]:
    """The messages that ask which of two answers (in the order shown) is better."""
    body = "\n\n".join(
        (
            _section("rubric", rubric.strip()),
            _section("input", input_text),
            _section("first_answer", first),
            _section("second_answer", second),
            PAIRWISE_FORMAT,
        )
    )
    return [("system", JUDGE_SYSTEM), ("human", body)]


@dataclass(frozen=True, slots=True)
class JudgeRequest:
    """A judge request read back from its text (the simulated judge answers from this).

    Attributes:
        input: The input the answers were written for.
        answers: One answer (a score) or two (pairwise, in the order shown).
    """

    input: str
    answers: tuple[str, ...]

    @property
    def pairwise(self) -> bool:
        """Whether two answers are compared."""
        return len(self.answers) == 2


def read_request(text: str) -> JudgeRequest | None:
    """The request :func:`score_messages` or :func:`pairwise_messages` wrote, else ``None``."""
    if "<rubric>" not in text or "<input>" not in text:
        return None
    found: dict[str, str] = {}
    for match in _SECTION_RE.finditer(text):  # one pass: the answers are most of the text
        found.setdefault(match.group(1), match.group(2))
    if "input" not in found:
        return None
    if "answer" in found:
        return JudgeRequest(found["input"], (found["answer"],))
    if "first_answer" in found and "second_answer" in found:
        return JudgeRequest(found["input"], (found["first_answer"], found["second_answer"]))
    return None


# ------------------------------------------------------------------ reading the reply


class JudgeReplyError(ValueError):
    """The judge's reply is not a verdict; the message says what was wrong, in one line."""


_FENCE_RE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


def _json_object(text: str) -> dict[str, Any]:
    """The first JSON object in ``text``: the whole text, a fenced block, or one in prose."""
    stripped = text.strip()
    if not stripped:
        raise JudgeReplyError("The judge's reply is empty.")
    candidates = [stripped, *(m.group(1).strip() for m in _FENCE_RE.finditer(text))]
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    raise JudgeReplyError("The judge's reply holds no JSON object.")


def _reason(data: Mapping[str, Any]) -> str:
    reason = data.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise JudgeReplyError('The judge\'s reply has no "reason".')
    return " ".join(reason.split())


def parse_score(text: str) -> tuple[int, str]:
    """The ``(score, reason)`` in a judge's reply.

    Tolerates code fences and prose around the JSON object; refuses a missing or
    non-integer score, one outside 1-10, and a missing reason.

    Raises:
        JudgeReplyError: the reply is not a verdict.
    """
    data = _json_object(text)
    score = data.get("score")
    if isinstance(score, bool) or not isinstance(score, int | float):
        raise JudgeReplyError('The judge\'s reply has no numeric "score".')
    if not float(score).is_integer():
        raise JudgeReplyError(f"The judge's score {score:g} is not a whole number.")
    low, high = SCORE_RANGE
    if not low <= score <= high:
        raise JudgeReplyError(f"The judge's score {score:g} is outside {low}-{high}.")
    return int(score), _reason(data)


#: Pairwise winners the reply may name.
WINNERS = ("first", "second", "tie")


def parse_pairwise(text: str) -> tuple[str, str]:
    """The ``(winner, reason)`` in a pairwise reply; winner is ``first``, ``second`` or ``tie``.

    Raises:
        JudgeReplyError: the reply is not a pairwise verdict.
    """
    data = _json_object(text)
    winner = data.get("winner")
    if not isinstance(winner, str) or winner.strip().lower() not in WINNERS:
        raise JudgeReplyError('The judge\'s reply has no "winner" of first, second or tie.')
    return winner.strip().lower(), _reason(data)


# ------------------------------------------------------------------ results


@dataclass(frozen=True, slots=True)
class JudgeVerdict:
    """The judge's verdict on one cell.

    Attributes:
        score: 1-10, or ``None`` when the judge failed.
        reason: The judge's one-sentence reason ('' when it failed).
        judge_model: The judge's display name.
        error: Why there is no score (a failed call, an unreadable reply), else ``None``.
        raw: The judge's reply as it came, kept whatever happened.
    """

    score: float | None
    reason: str
    judge_model: str
    error: str | None = None
    raw: str = ""

    @property
    def ok(self) -> bool:
        """Whether the judge gave a score."""
        return self.score is not None and self.error is None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json`` and exports."""
        return {
            "score": self.score,
            "reason": self.reason,
            "judge_model": self.judge_model,
            "error": self.error,
            "raw": self.raw,
        }


def verdict_label(verdict: JudgeVerdict) -> str:
    """A verdict as a badge: ``7/10``, or ``judge failed``."""
    if verdict.score is None or verdict.error is not None:
        return "judge failed"
    return f"{verdict.score:g}/10"


#: Characters of a failed judge's raw reply shown in a tooltip.
RAW_PREVIEW_CHARS = 400


def verdict_detail(verdict: JudgeVerdict) -> str:
    """A verdict in words for a tooltip: the judge, the score and the reason; for a failure,
    why and the start of the raw reply."""
    if verdict.ok:
        return f"Judge {verdict.judge_model}: {verdict.score:g}/10. {verdict.reason}"
    text = f"Judge {verdict.judge_model} failed: {verdict.error}"
    raw = verdict.raw.strip()
    if raw:
        cut = raw if len(raw) <= RAW_PREVIEW_CHARS else raw[: RAW_PREVIEW_CHARS - 1] + "…"
        text += f"\nRaw reply: {cut}"
    return text


def verdict_from_reply(raw: str, judge_model: str) -> JudgeVerdict:
    """The verdict in ``raw``, or a failure that keeps ``raw`` when it is unreadable."""
    try:
        score, reason = parse_score(raw)
    except JudgeReplyError as exc:
        return JudgeVerdict(None, "", judge_model, str(exc), raw)
    return JudgeVerdict(float(score), reason, judge_model, None, raw)


@dataclass(frozen=True, slots=True)
class PairwiseResult:
    """One comparison of two answers to the same input.

    Attributes:
        row: The input row.
        first_cell: The answer shown to the judge first (positions are randomized).
        second_cell: The answer shown second.
        winner_cell: The better answer's cell, ``None`` for a tie or a failure.
        judge_model: The judge's display name.
        reason: The judge's reason.
        raw: The judge's reply as it came.
        error: Why there is no result, else ``None``.
    """

    row: int
    first_cell: str
    second_cell: str
    winner_cell: str | None
    judge_model: str
    reason: str = ""
    raw: str = ""
    error: str | None = None

    @property
    def tie(self) -> bool:
        """Whether the judge called it even."""
        return self.error is None and self.winner_cell is None

    @property
    def winner(self) -> str | None:
        """``first``, ``second``, ``tie``, or ``None`` on failure."""
        if self.error is not None:
            return None
        if self.winner_cell is None:
            return "tie"
        return "first" if self.winner_cell == self.first_cell else "second"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json`` and exports."""
        return {
            "row": self.row,
            "first_cell": self.first_cell,
            "second_cell": self.second_cell,
            "winner_cell": self.winner_cell,
            "winner": self.winner,
            "judge_model": self.judge_model,
            "reason": self.reason,
            "raw": self.raw,
            "error": self.error,
        }


def pairwise_from_reply(
    raw: str, row: int, first_cell: str, second_cell: str, judge_model: str
) -> PairwiseResult:
    """The comparison in ``raw``, or a failure that keeps ``raw`` when it is unreadable."""
    try:
        winner, reason = parse_pairwise(raw)
    except JudgeReplyError as exc:
        return PairwiseResult(row, first_cell, second_cell, None, judge_model, "", raw, str(exc))
    cell = {"first": first_cell, "second": second_cell}.get(winner)
    return PairwiseResult(row, first_cell, second_cell, cell, judge_model, reason, raw)


# ------------------------------------------------------------------ ranking


@dataclass(frozen=True, slots=True)
class ModelRank:
    """One model's standing over pairwise comparisons.

    Attributes:
        model: The column's title.
        wins: Comparisons won, a tie counting half.
        games: Comparisons it took part in (failed ones not counted).
        strength: Bradley-Terry strength (the strengths of a ranking sum to 1).
    """

    model: str
    wins: float
    games: int
    strength: float

    @property
    def win_rate(self) -> float | None:
        """Share of its comparisons won, ``None`` without any."""
        return self.wins / self.games if self.games else None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json`` and exports."""
        return {
            "model": self.model,
            "wins": self.wins,
            "games": self.games,
            "win_rate": self.win_rate,
            "strength": self.strength,
        }


#: Outcome of one comparison between two models: (winner, loser, tie).
Outcome = tuple[str, str, bool]


def outcomes(results: Iterable[PairwiseResult], models: Sequence[str]) -> list[Outcome]:
    """The comparisons as ``(winner, loser, tie)`` between column titles; failures dropped."""
    out: list[Outcome] = []
    for r in results:
        if r.error is not None:
            continue
        a = models[CellId.parse(r.first_cell).col]
        b = models[CellId.parse(r.second_cell).col]
        if r.winner_cell is None:
            out.append((a, b, True))
        elif r.winner_cell == r.first_cell:
            out.append((a, b, False))
        else:
            out.append((b, a, False))
    return out


def bradley_terry(
    games: Iterable[Outcome],
    players: Iterable[str] = (),
    *,
    prior: float = 0.1,
    tolerance: float = 1e-10,
    max_iterations: int = 10_000,
) -> dict[str, float]:
    """Bradley-Terry strengths by the MM algorithm of Hunter (2004); they sum to 1.

    Model: ``P(i beats j) = p_i / (p_i + p_j)``. Each iteration sets
    ``p_i = W_i / sum_j (n_ij / (p_i + p_j))``, where ``W_i`` is ``i``'s wins (a tie counts
    half a win for each side) and ``n_ij`` the games between ``i`` and ``j``, then rescales
    the strengths to sum to 1; it stops when no strength moves by more than ``tolerance``.
    ``prior`` adds that many pseudo-wins each way to every pair that met, so a model that
    never won (or never lost) gets a finite strength; ``prior=0`` is the plain maximum
    likelihood estimate (it exists only when no model is unbeaten or winless).
    """
    wins: dict[str, float] = {p: 0.0 for p in players}
    pair_games: dict[tuple[str, str], float] = {}
    for winner, loser, tie in games:
        wins.setdefault(winner, 0.0)
        wins.setdefault(loser, 0.0)
        if tie:
            wins[winner] += 0.5
            wins[loser] += 0.5
        else:
            wins[winner] += 1.0
        key = (winner, loser) if winner < loser else (loser, winner)
        pair_games[key] = pair_games.get(key, 0.0) + 1.0
    if prior:
        for a, b in pair_games:
            wins[a] += prior
            wins[b] += prior
            pair_games[(a, b)] += 2 * prior
    names = sorted(wins)
    if not names:
        return {}
    strength = dict.fromkeys(names, 1.0 / len(names))
    opponents: dict[str, list[tuple[str, float]]] = {n: [] for n in names}
    for (a, b), n in pair_games.items():
        opponents[a].append((b, n))
        opponents[b].append((a, n))
    for _ in range(max_iterations):
        new: dict[str, float] = {}
        for name in names:
            denominator = sum(n / (strength[name] + strength[o]) for o, n in opponents[name])
            new[name] = wins[name] / denominator if denominator else strength[name]
        total = sum(new.values()) or 1.0
        new = {k: v / total for k, v in new.items()}
        moved = max(abs(new[k] - strength[k]) for k in names)
        strength = new
        if moved < tolerance:
            break
    return strength


def rank(results: Iterable[PairwiseResult], models: Sequence[str]) -> list[ModelRank]:
    """Models by Bradley-Terry strength (best first), with their wins and games."""
    games = outcomes(results, models)
    wins: dict[str, float] = dict.fromkeys(models, 0.0)
    played: dict[str, int] = dict.fromkeys(models, 0)
    for winner, loser, tie in games:
        wins[winner] += 0.5 if tie else 1.0
        wins[loser] += 0.5 if tie else 0.0
        played[winner] += 1
        played[loser] += 1
    strength = bradley_terry(games, [m for m in models if played[m]])
    ranks = [ModelRank(m, wins[m], played[m], strength.get(m, 0.0)) for m in dict.fromkeys(models)]
    return sorted(ranks, key=lambda r: (-r.strength, -(r.win_rate or 0.0), r.model))


def rank_by_row(
    results: Iterable[PairwiseResult], models: Sequence[str]
) -> dict[int, list[ModelRank]]:
    """:func:`rank` for each input row on its own."""
    rows: dict[int, list[PairwiseResult]] = {}
    for r in results:
        rows.setdefault(r.row, []).append(r)
    return {row: rank(rs, models) for row, rs in sorted(rows.items())}


def ranking_line(ranks: Sequence[ModelRank]) -> str:
    """One line for a toolbar or a terminal: ``A 75% > B 50% = C 50%`` (win rates; models
    whose shown rates are equal are joined by ``=``, as ``>`` would claim an order the
    figures beside it do not show)."""
    shown = [(r.model, round(100 * (r.win_rate or 0.0))) for r in ranks if r.games]
    if not shown:
        return "no comparisons yet"
    line = f"{shown[0][0]} {shown[0][1]}%"
    for (_, before), (model, rate) in itertools.pairwise(shown):
        line += f" {'=' if rate == before else '>'} {model} {rate}%"
    return line


__all__ = [
    "MAX_RUBRIC_CHARS",
    "PAIRWISE_SCHEMA",
    "SCORE_RANGE",
    "SCORE_SCHEMA",
    "SIM_JUDGE_MODEL",
    "STARTER_RUBRIC",
    "JudgeMode",
    "JudgeReplyError",
    "JudgeRequest",
    "JudgeSettings",
    "JudgeVerdict",
    "ModelRank",
    "PairwiseResult",
    "bradley_terry",
    "judge_from_dict",
    "judge_to_dict",
    "pairwise_from_reply",
    "pairwise_messages",
    "parse_pairwise",
    "parse_score",
    "prompt_text",
    "rank",
    "rank_by_row",
    "ranking_line",
    "read_request",
    "score_messages",
    "verdict_detail",
    "verdict_from_reply",
    "verdict_label",
]
