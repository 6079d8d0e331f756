"""Human ratings of answers and the personal leaderboard they feed (pure, no Qt, no storage).

A :class:`Rating` is what a user said about one cell: a thumb (up, down or none), 1-5 stars,
whether it is the best answer of its input row, and whether it was given blind (model names
hidden). :func:`edit_rating` applies one keyboard or mouse action to a rating.

The leaderboard is Elo over the blind ratings of every run. How a rated row becomes games:

1. A row's **best pick** (made blind) beats every other answer of that row that finished.
2. Between two other answers of the row that were both **starred** blind, more stars wins
   and equal stars is a tie. Two answers without stars but both **thumbed** blind play by
   thumb (up beats down; two ups or two downs tie). Pairs that include the best pick are
   not played again: rule 1 decided them.
3. Only answers that finished (``done``) play: a failed or cancelled cell has no answer to
   judge.

Rows are played in the order they were rated (the row's latest rating time; ties by run
id, then row), each row's games in column order, one Elo update per game with
:data:`ELO_K` = 32 from :data:`ELO_BASE` = 1000 (a model's first game starts there):
``expected = 1 / (1 + 10 ** ((opponent - own) / 400))``, ``own += K * (score - expected)``
with score 1 for a win, 0.5 for a tie, 0 for a loss. The same ratings always give the same
table.

The blind arena shows each row's answers in an order of their own (:func:`arena_order`):
random-looking, but derived from the run id and the row, so reopening a run shows them in
the same order without storing it.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

__all__ = [
    "ELO_BASE",
    "ELO_K",
    "MAX_STARS",
    "Game",
    "LeaderboardEntry",
    "RatedAnswer",
    "RatedRow",
    "Rating",
    "RatingAction",
    "arena_letter",
    "arena_order",
    "edit_rating",
    "elo_expected",
    "games_of_row",
    "leaderboard",
    "rating_from_dict",
    "rating_text",
    "row_is_rated",
]

#: Elo's K factor: the most one game moves a rating.
ELO_K = 32.0
#: Every model's rating before its first game.
ELO_BASE = 1000.0
#: The most stars an answer can get.
MAX_STARS = 5


@dataclass(frozen=True, slots=True)
class Rating:
    """What the user said about one answer.

    Attributes:
        thumb: ``1`` thumbs up, ``-1`` thumbs down, ``0`` none.
        stars: 1 to :data:`MAX_STARS`, or ``None`` when not starred.
        best: The best answer of its input row (at most one per row).
        blind: Given while the model names were hidden (blind mode); only such ratings
            feed the leaderboard.
    """

    thumb: int = 0
    stars: int | None = None
    best: bool = False
    blind: bool = False

    @property
    def empty(self) -> bool:
        """Whether it says nothing (no thumb, no stars, not best): stored as no rating."""
        return self.thumb == 0 and self.stars is None and not self.best

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready data."""
        return {"thumb": self.thumb, "stars": self.stars, "best": self.best, "blind": self.blind}


def rating_from_dict(data: object) -> Rating | None:
    """A :class:`Rating` from :meth:`Rating.to_dict` data (``None`` for anything else)."""
    if not isinstance(data, dict):
        return None
    stars = data.get("stars")
    rating = Rating(
        thumb=max(-1, min(1, int(data.get("thumb") or 0))),
        stars=int(stars) if isinstance(stars, int) and 1 <= stars <= MAX_STARS else None,
        best=bool(data.get("best")),
        blind=bool(data.get("blind")),
    )
    return None if rating.empty else rating


class RatingAction(StrEnum):
    """One rating action of the keyboard or mouse (:func:`edit_rating`)."""

    THUMB_UP = "up"
    THUMB_DOWN = "down"
    STARS = "stars"
    BEST = "best"
    CLEAR = "clear"


def edit_rating(
    current: Rating | None, action: RatingAction, stars: int = 0, *, blind: bool = False
) -> Rating | None:
    """``current`` after one action; ``None`` when nothing is left.

    A thumb or the best pick toggles (pressing thumbs up on a thumbed-up answer removes the
    thumb); ``STARS`` sets ``stars`` (0 removes them; the same number again keeps them);
    ``CLEAR`` removes everything. The result is ``blind`` when this action was made with the
    names hidden: a rating changed after the reveal no longer counts as blind.

    Raises:
        ValueError: ``stars`` outside 0..:data:`MAX_STARS` for ``STARS``.
    """
    base = current or Rating()
    if action is RatingAction.CLEAR:
        return None
    if action is RatingAction.THUMB_UP:
        new = replace(base, thumb=0 if base.thumb == 1 else 1)
    elif action is RatingAction.THUMB_DOWN:
        new = replace(base, thumb=0 if base.thumb == -1 else -1)
    elif action is RatingAction.BEST:
        new = replace(base, best=not base.best)
    else:
        if not 0 <= stars <= MAX_STARS:
            raise ValueError(f"stars must be 0 to {MAX_STARS}, not {stars}")
        new = replace(base, stars=stars or None)
    new = replace(new, blind=blind)
    return None if new.empty else new


def rating_text(rating: Rating | None) -> str:
    """A short mark for a tile or pane: ``★★★☆☆ ✓ best`` (``""`` for no rating); thumbs are
    ✓ and ✗, which the usual UI fonts have (emoji often are not)."""
    if rating is None:
        return ""
    parts = []
    if rating.stars:
        parts.append("★" * rating.stars + "☆" * (MAX_STARS - rating.stars))
    if rating.thumb:
        parts.append("✓" if rating.thumb > 0 else "✗")
    if rating.best:
        parts.append("best")
    return " ".join(parts)


def row_is_rated(ratings: Sequence[Rating | None], answered: Sequence[bool]) -> bool:
    """Whether a row is rated enough to reveal its models: one answer picked as best, or
    every answered cell (``answered[i]``) starred."""
    if any(r is not None and r.best for r in ratings):
        return True
    wanted = [r for r, a in zip(ratings, answered, strict=True) if a]
    return bool(wanted) and all(r is not None and r.stars for r in wanted)


def arena_order(run_id: str, row: int, count: int) -> list[int]:
    """The columns of row ``row`` in the order the blind arena shows them.

    A shuffle seeded by the run id and the row: unpredictable for the user, and the same
    every time the run is shown, so reopening a run never reshuffles its rows.
    """
    seed = int.from_bytes(hashlib.sha256(f"{run_id}\x00{row}".encode()).digest()[:8], "big")
    order = list(range(count))
    random.Random(seed).shuffle(order)
    return order


def arena_letter(position: int) -> str:
    """``A``, ``B``... ``Z``, ``AA``...: the arena's name for the answer at ``position``."""
    letters = ""
    position += 1
    while position:
        position, rest = divmod(position - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


# --------------------------------------------------------------------------- leaderboard


@dataclass(frozen=True, slots=True)
class RatedAnswer:
    """One answer of a rated row, as the leaderboard reads it.

    Attributes:
        model: The model's display name (the player).
        col: Its column in the run.
        done: Whether the cell finished with an answer.
        rating: The user's rating of it, if any.
    """

    model: str
    col: int
    done: bool
    rating: Rating | None


@dataclass(frozen=True, slots=True)
class RatedRow:
    """One input row of one run that has at least one blind rating.

    Attributes:
        run_id: The run.
        row: The input row.
        rated_at: Epoch seconds of the row's latest rating (the order rows are played in).
        answers: Every answer of the row, any order.
    """

    run_id: str
    row: int
    rated_at: float
    answers: tuple[RatedAnswer, ...]


@dataclass(frozen=True, slots=True)
class Game:
    """One game: ``first`` against ``second``; ``score`` is first's (1 win, 0.5 tie, 0 loss)."""

    first: str
    second: str
    score: float


def _pair_score(a: Rating | None, b: Rating | None) -> float | None:
    """``a``'s score against ``b`` by blind stars, else blind thumbs; ``None``: no game."""
    if a is None or b is None or not (a.blind and b.blind):
        return None
    if a.stars and b.stars:
        return 1.0 if a.stars > b.stars else 0.0 if a.stars < b.stars else 0.5
    if a.stars or b.stars:
        return None
    if a.thumb and b.thumb:
        return 1.0 if a.thumb > b.thumb else 0.0 if a.thumb < b.thumb else 0.5
    return None


def games_of_row(row: RatedRow) -> list[Game]:
    """The games one rated row gives (the module docstring's rules), in column order."""
    answers = sorted((a for a in row.answers if a.done), key=lambda a: a.col)
    best = next((a for a in answers if a.rating is not None and a.rating.best), None)
    if best is not None and not (best.rating is not None and best.rating.blind):
        best = None  # picked with the names shown: not a blind result
    games: list[Game] = []
    if best is not None:
        games += [Game(best.model, other.model, 1.0) for other in answers if other is not best]
    others = [a for a in answers if a is not best]
    for i, a in enumerate(others):
        for b in others[i + 1 :]:
            score = _pair_score(a.rating, b.rating)
            if score is not None:
                games.append(Game(a.model, b.model, score))
    # A model against itself (one model in two columns) says nothing about the model.
    return [g for g in games if g.first != g.second]


@dataclass(frozen=True, slots=True)
class LeaderboardEntry:
    """One model on the leaderboard.

    Attributes:
        model: The model's display name.
        rating: Its Elo rating after every game.
        games: Games played.
        wins: Games won.
        losses: Games lost.
        ties: Games tied.
    """

    model: str
    rating: float
    games: int
    wins: int
    losses: int
    ties: int

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready data (the rating rounded to a tenth)."""
        return {
            "model": self.model,
            "rating": round(self.rating, 1),
            "games": self.games,
            "wins": self.wins,
            "losses": self.losses,
            "ties": self.ties,
        }


def elo_expected(own: float, opponent: float) -> float:
    """The score Elo expects of a player rated ``own`` against one rated ``opponent``."""
    return 1.0 / (1.0 + math.pow(10.0, (opponent - own) / 400.0))


def leaderboard(
    rows: Iterable[RatedRow], *, k: float = ELO_K, base: float = ELO_BASE
) -> list[LeaderboardEntry]:
    """Every model that played, best rating first (ties by name).

    Rows are played in rating order (``rated_at``, then run id, then row), so the same
    ratings always give the same table whatever order the rows come in.
    """
    ratings: dict[str, float] = {}
    tally: dict[str, list[int]] = {}  # model -> [wins, losses, ties]
    for row in sorted(rows, key=lambda r: (r.rated_at, r.run_id, r.row)):
        for game in games_of_row(row):
            a = ratings.setdefault(game.first, base)
            b = ratings.setdefault(game.second, base)
            expected = elo_expected(a, b)
            ratings[game.first] = a + k * (game.score - expected)
            ratings[game.second] = b + k * ((1.0 - game.score) - (1.0 - expected))
            first = tally.setdefault(game.first, [0, 0, 0])
            second = tally.setdefault(game.second, [0, 0, 0])
            if game.score == 1.0:
                first[0] += 1
                second[1] += 1
            elif game.score == 0.0:
                first[1] += 1
                second[0] += 1
            else:
                first[2] += 1
                second[2] += 1
    entries = [
        LeaderboardEntry(model, ratings[model], sum(t), t[0], t[1], t[2])
        for model, t in tally.items()
    ]
    entries.sort(key=lambda e: (-e.rating, e.model.casefold(), e.model))
    return entries
