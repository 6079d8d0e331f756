"""Ratings and the leaderboard arithmetic: edits, games of a rated row, Elo by hand."""

from __future__ import annotations

import pytest

from gui.core.ratings import (
    RatedAnswer,
    RatedRow,
    Rating,
    RatingAction,
    arena_letter,
    arena_order,
    edit_rating,
    games_of_row,
    leaderboard,
    rating_from_dict,
    row_is_rated,
)

BLIND = True


def blind(stars: int | None = None, thumb: int = 0, best: bool = False) -> Rating:
    return Rating(thumb=thumb, stars=stars, best=best, blind=True)


def test_edits_toggle_thumbs_and_best_set_stars_and_clear() -> None:
    r = edit_rating(None, RatingAction.STARS, 3)
    assert r == Rating(stars=3)
    r = edit_rating(r, RatingAction.THUMB_UP)
    assert r == Rating(thumb=1, stars=3)
    r = edit_rating(r, RatingAction.THUMB_DOWN)
    assert r == Rating(thumb=-1, stars=3)
    r = edit_rating(r, RatingAction.THUMB_DOWN)  # the same thumb again removes it
    assert r == Rating(stars=3)
    r = edit_rating(r, RatingAction.BEST, blind=BLIND)
    assert r == Rating(stars=3, best=True, blind=True)
    # A change made with the names shown is not blind any more.
    r = edit_rating(r, RatingAction.STARS, 4)
    assert r == Rating(stars=4, best=True, blind=False)
    assert edit_rating(r, RatingAction.CLEAR) is None
    assert edit_rating(Rating(stars=2), RatingAction.STARS, 0) is None  # nothing left
    with pytest.raises(ValueError, match="stars must be 0 to 5"):
        edit_rating(None, RatingAction.STARS, 6)


def test_ratings_round_trip_through_dicts() -> None:
    r = Rating(thumb=-1, stars=5, best=True, blind=True)
    assert rating_from_dict(r.to_dict()) == r
    assert rating_from_dict({"thumb": 0, "stars": None}) is None
    assert rating_from_dict("junk") is None


def test_a_row_is_rated_by_a_best_pick_or_stars_on_every_answer() -> None:
    assert not row_is_rated([None, None], [True, True])
    assert row_is_rated([None, Rating(best=True)], [True, True])
    assert not row_is_rated([Rating(stars=2), None], [True, True])
    assert row_is_rated([Rating(stars=2), Rating(stars=5)], [True, True])
    # A failed cell has no answer to star.
    assert row_is_rated([Rating(stars=2), None], [True, False])


def test_the_arena_order_is_a_shuffle_kept_per_run_and_row() -> None:
    first = arena_order("run-1", 0, 6)
    assert sorted(first) == list(range(6))
    assert arena_order("run-1", 0, 6) == first  # reopening: the same order
    orders = {tuple(arena_order("run-1", row, 6)) for row in range(20)}
    assert len(orders) > 1  # rows are shuffled differently
    assert [arena_letter(i) for i in (0, 1, 25, 26, 27)] == ["A", "B", "Z", "AA", "AB"]


def test_games_of_a_row_best_beats_all_then_stars_between_the_others() -> None:
    row = RatedRow(
        "run",
        0,
        1.0,
        (
            RatedAnswer("a", 0, True, blind(stars=4)),
            RatedAnswer("b", 1, True, blind(best=True)),
            RatedAnswer("c", 2, True, blind(stars=2)),
            RatedAnswer("d", 3, False, blind(stars=5)),  # failed: does not play
        ),
    )
    assert [(g.first, g.second, g.score) for g in games_of_row(row)] == [
        ("b", "a", 1.0),
        ("b", "c", 1.0),
        ("a", "c", 1.0),
    ]


def test_only_blind_ratings_make_games_and_thumbs_play_without_stars() -> None:
    row = RatedRow(
        "run",
        0,
        1.0,
        (
            RatedAnswer("a", 0, True, Rating(best=True)),  # seen: no game from it
            RatedAnswer("b", 1, True, blind(thumb=1)),
            RatedAnswer("c", 2, True, blind(thumb=1)),
            RatedAnswer("d", 3, True, blind(thumb=-1)),
        ),
    )
    assert [(g.first, g.second, g.score) for g in games_of_row(row)] == [
        ("b", "c", 0.5),
        ("b", "d", 1.0),
        ("c", "d", 1.0),
    ]


def test_elo_matches_a_hand_computation() -> None:
    """K=32, base 1000, rows played in rating order (the later row is given first).

    Row 1 (rated at t=1): b is best over a and c; a (4 stars) beats c (2 stars).
      b-a: both 1000, expected 0.5: b 1016, a 984.
      b-c: expected for b = 1/(1+10^(-16/400)) = 0.523010: b 1031.2637, c 984.7363.
      a-c: expected for a = 1/(1+10^(0.7363/400)) = 0.498940: a 1000.0339, c 968.7024.
    Row 2 (rated at t=2): c and a tie on 3 stars each.
      c-a: expected for c = 1/(1+10^(31.3315/400)) = 0.455032: c 970.1414, a 998.5949.
    """
    row1 = RatedRow(
        "run-1",
        0,
        1.0,
        (
            RatedAnswer("a", 0, True, blind(stars=4)),
            RatedAnswer("b", 1, True, blind(best=True)),
            RatedAnswer("c", 2, True, blind(stars=2)),
        ),
    )
    row2 = RatedRow(
        "run-2",
        3,
        2.0,
        (RatedAnswer("c", 0, True, blind(stars=3)), RatedAnswer("a", 1, True, blind(stars=3))),
    )
    table = leaderboard([row2, row1])
    assert [e.model for e in table] == ["b", "a", "c"]
    by_model = {e.model: e for e in table}
    assert by_model["b"].rating == pytest.approx(1031.2637, abs=1e-3)
    assert by_model["a"].rating == pytest.approx(998.5949, abs=1e-3)
    assert by_model["c"].rating == pytest.approx(970.1414, abs=1e-3)
    assert (by_model["b"].games, by_model["b"].wins, by_model["b"].losses) == (2, 2, 0)
    assert (by_model["a"].wins, by_model["a"].losses, by_model["a"].ties) == (1, 1, 1)
    assert (by_model["c"].wins, by_model["c"].losses, by_model["c"].ties) == (0, 2, 1)
    # Ratings are zero-sum: the total stays at three times the base.
    assert sum(e.rating for e in table) == pytest.approx(3000.0)
    assert by_model["a"].to_dict() == {
        "model": "a",
        "rating": 998.6,
        "games": 3,
        "wins": 1,
        "losses": 1,
        "ties": 1,
    }
