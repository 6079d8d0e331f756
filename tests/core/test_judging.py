"""The judge's pure parts: reading replies, the messages, settings round trips, the ranking."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from gui.core.errors import SpecError
from gui.core.judging import (
    JudgeMode,
    JudgeReplyError,
    JudgeSettings,
    PairwiseResult,
    bradley_terry,
    pairwise_messages,
    parse_pairwise,
    parse_score,
    rank,
    rank_by_row,
    ranking_line,
    read_request,
    score_messages,
    verdict_from_reply,
)
from gui.core.spec import ModelProfile, make_spec, spec_from_dict, spec_to_dict


def test_a_plain_json_reply_gives_score_and_reason() -> None:
    assert parse_score('{"score": 7, "reason": "Clear and correct."}') == (7, "Clear and correct.")


def test_a_fenced_reply_with_prose_around_it_is_read() -> None:
    raw = 'Sure, here is my verdict:\n```json\n{"score": 9, "reason": "Thorough."}\n```\nHope it helps.'
    assert parse_score(raw) == (9, "Thorough.")


def test_json_inside_prose_without_a_fence_is_read() -> None:
    assert parse_score('My verdict: {"reason": "Short.", "score": 3} -- done') == (3, "Short.")


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("I think it is an 8.", "no JSON object"),
        ("", "empty"),
        ('{"score": 11, "reason": "x"}', "outside 1-10"),
        ('{"score": 0, "reason": "x"}', "outside 1-10"),
        ('{"score": 6.5, "reason": "x"}', "not a whole number"),
        ('{"score": "7", "reason": "x"}', 'no numeric "score"'),
        ('{"score": true, "reason": "x"}', 'no numeric "score"'),
        ('{"reason": "x"}', 'no numeric "score"'),
        ('{"score": 7}', 'no "reason"'),
        ('{"score": 7, "reason": "  "}', 'no "reason"'),
    ],
)
def test_an_unreadable_reply_is_a_failure_that_keeps_the_raw_text(raw: str, why: str) -> None:
    with pytest.raises(JudgeReplyError, match=why):
        parse_score(raw)
    verdict = verdict_from_reply(raw, "judge-x")
    assert verdict.score is None and not verdict.ok
    assert verdict.error is not None and why in verdict.error
    assert verdict.raw == raw  # never a silent 0: the reply is kept for the user to read


def test_pairwise_replies_name_first_second_or_tie() -> None:
    assert parse_pairwise('```\n{"winner": "Second", "reason": "More complete."}\n```') == (
        "second",
        "More complete.",
    )
    with pytest.raises(JudgeReplyError, match="winner"):
        parse_pairwise('{"winner": "A", "reason": "x"}')


def test_messages_carry_rubric_input_and_answers_and_read_back() -> None:
    single = score_messages("Be brief.", "Tell me about cats", "Cats purr.")
    assert single[0][0] == "system" and "JSON" in single[0][1]
    request = read_request(single[1][1])
    assert request is not None and not request.pairwise
    assert request.input == "Tell me about cats" and request.answers == ("Cats purr.",)
    assert "Be brief." in single[1][1]
    pair = pairwise_messages("Be brief.", "Q", "first one", "second one")
    request = read_request(pair[1][1])
    assert request is not None and request.answers == ("first one", "second one")
    assert read_request("Tell me a joke about cats") is None


def test_an_answer_quoting_the_judges_tags_is_read_as_the_answer() -> None:
    answer = "Use sections like\n<input>\nnot the input\n</input>\nin your prompt."
    request = read_request(score_messages("Be brief.", "Tell me about tags", answer)[1][1])
    assert request is not None
    assert request.input == "Tell me about tags" and request.answers == (answer,)


def test_judge_settings_round_trip_in_the_spec_dict() -> None:
    judge = JudgeSettings(
        model=ModelProfile(model="sim-judge"),
        rubric="Prefer short answers.",
        mode=JudgeMode.PAIRWISE,
        max_concurrency=3,
        requests_per_second=2.5,
    )
    spec = replace(make_spec("About {topic}", ["cats"], (ModelProfile(),)), judge=judge)
    back = spec_from_dict(spec_to_dict(spec))
    assert back.judge == judge
    assert spec_from_dict(spec_to_dict(replace(spec, judge=None))).judge is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rubric": "  "}, "rubric is empty"),
        ({"max_concurrency": 0}, "Judge max concurrency"),
        ({"requests_per_second": 0.0}, "Judge requests per second"),
    ],
)
def test_bad_judge_settings_are_refused_with_the_fix(change: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        replace(JudgeSettings(), **change).validate()


def _results(games: list[tuple[str, str, str | None]]) -> list[PairwiseResult]:
    """Pairwise results from (first, second, winner) cell ids on row 0."""
    return [PairwiseResult(0, a, b, w, "judge") for a, b, w in games]


def test_bradley_terry_of_two_players_is_the_win_ratio() -> None:
    # Plain maximum likelihood: A beat B 3 times of 4, so p_A / p_B = 3.
    games = [("A", "B", False)] * 3 + [("B", "A", False)]
    strength = bradley_terry(games, prior=0.0)
    assert math.isclose(strength["A"] / strength["B"], 3.0, rel_tol=1e-6)
    assert math.isclose(sum(strength.values()), 1.0)


def test_a_crafted_tournament_ranks_as_known() -> None:
    # m0 beats m1 3-1 and m2 4-0; m1 beats m2 3-1 with a tie; positions vary.
    games = [
        ("r0m0", "r0m1", "r0m0"),
        ("r0m1", "r0m0", "r0m0"),
        ("r0m0", "r0m1", "r0m0"),
        ("r0m1", "r0m0", "r0m1"),
        *[("r0m2", "r0m0", "r0m0")] * 4,
        ("r0m1", "r0m2", "r0m1"),
        ("r0m2", "r0m1", "r0m1"),
        ("r0m1", "r0m2", "r0m1"),
        ("r0m1", "r0m2", "r0m2"),
        ("r0m1", "r0m2", None),  # a tie: half a win each
        PairwiseResult(0, "r0m0", "r0m2", None, "judge", error="Judge call failed: 503"),
    ]
    results = [g if isinstance(g, PairwiseResult) else _results([g])[0] for g in games]
    ranks = rank(results, ["alpha", "beta", "gamma"])
    assert [r.model for r in ranks] == ["alpha", "beta", "gamma"]
    by = {r.model: r for r in ranks}
    assert (by["alpha"].wins, by["alpha"].games) == (7.0, 8)  # the failed call is not counted
    assert (by["beta"].wins, by["beta"].games) == (4.5, 9)
    assert (by["gamma"].wins, by["gamma"].games) == (1.5, 9)
    assert by["alpha"].strength > by["beta"].strength > by["gamma"].strength > 0
    assert ranking_line(ranks) == "alpha 88% > beta 50% > gamma 17%"


def test_a_ranking_line_shows_equal_win_rates_as_a_tie() -> None:
    """Three answers that tie all round were shown "a 50% > b 50% > c 50%": an order the
    figures beside it contradict."""
    results = _results([("r0m0", "r0m1", None), ("r0m1", "r0m2", None), ("r0m0", "r0m2", None)])
    assert ranking_line(rank(results, ["a", "b", "c"])) == "a 50% = b 50% = c 50%"
    results = _results([("r0m0", "r0m1", "r0m0"), ("r0m1", "r0m2", None), ("r0m0", "r0m2", None)])
    assert ranking_line(rank(results, ["a", "b", "c"])) == "a 75% > c 50% > b 25%"


def test_ranking_per_input_row() -> None:
    results = [
        PairwiseResult(0, "r0m0", "r0m1", "r0m0", "j"),
        PairwiseResult(1, "r1m1", "r1m0", "r1m1", "j"),
    ]
    per_row = rank_by_row(results, ["a", "b"])
    assert [r.model for r in per_row[0]] == ["a", "b"]
    assert [r.model for r in per_row[1]] == ["b", "a"]
