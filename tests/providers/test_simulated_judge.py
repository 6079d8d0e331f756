"""The simulated judge: scores from the answer's features, its reasons, pairwise verdicts."""

from __future__ import annotations

import pytest

from gui.core.judging import (
    STARTER_RUBRIC,
    pairwise_messages,
    parse_pairwise,
    parse_score,
    read_request,
    score_messages,
)
from gui.providers.simulated_judge import (
    DEFAULT_LENGTH,
    TIE_MARGIN,
    asked_length,
    assess,
    judge_reply,
    judge_score,
)

CATS = "Tell me about cats"
#: An answer with nothing to hold against it: on the subject, a fitting length, sentences
#: that end, no repeats, no filler.
GOOD = (
    "Cats are small carnivores that people have kept for thousands of years. "
    "They sleep for most of the day and hunt at dawn and dusk. "
    "A cat's whiskers tell it how wide a gap is before it tries to pass. "
    "Most cats groom themselves for hours, which keeps their coat clean."
)


def reply_to(input_text: str, *answers: str) -> str:
    """The simulated judge's reply to the messages the judge lane would send."""
    if len(answers) == 1:
        messages = score_messages(STARTER_RUBRIC, input_text, answers[0])
    else:
        messages = pairwise_messages(STARTER_RUBRIC, input_text, *answers)
    request = read_request(messages[1][1])
    assert request is not None
    return judge_reply(request)


def test_a_sound_answer_scores_10_and_says_why() -> None:
    score, reason = parse_score(reply_to(CATS, GOOD))
    assert score == 10
    assert reason == "On topic, fitting length, complete and clear."


def test_an_empty_or_off_topic_answer_scores_1() -> None:
    assert parse_score(reply_to(CATS, "   ")) == (1, "Empty.")
    score, reason = parse_score(reply_to(CATS, "Dogs bark at the mail carrier every morning."))
    assert score == 1 and reason.startswith("Off-topic")


def test_a_singular_or_plural_mention_counts_as_on_topic() -> None:
    assert not assess("Tell me a joke about foxes", "Why did the fox cross the road?").off_topic
    assert not assess("Explain flies", "A fly has compound eyes.").off_topic


def test_an_answer_cut_off_mid_sentence_loses_points() -> None:
    cut = GOOD.removesuffix(" clean.")
    assessment = assess(CATS, cut)
    assert assessment.lost("cut") > 0
    assert assessment.score < judge_score(CATS, GOOD)
    assert "cut off mid-sentence" in assessment.reason()


def test_a_list_item_or_heading_at_the_end_is_not_a_cut() -> None:
    listed = "Cats need three things:\n\n- food\n- water\n- a warm place to sleep"
    assert assess(CATS, listed).lost("cut") == 0
    assert assess(CATS, "Cats need food, water and a warm place to").lost("cut") > 0


def test_repeated_sentences_lose_points_by_their_share() -> None:
    sentences = [s.strip() + "." for s in GOOD.split(".") if s.strip()]
    twice = " ".join(sentences + sentences[:2])
    thrice = " ".join(sentences * 3)
    assert 0 < assess(CATS, twice).lost("repetition") < assess(CATS, thrice).lost("repetition")
    assert judge_score(CATS, thrice) < judge_score(CATS, twice) < judge_score(CATS, GOOD)
    assert "repetitive" in assess(CATS, thrice).reason()


@pytest.mark.parametrize(
    ("question", "length"),
    [
        ("Describe cats in 50 words", (30, 70)),
        ("Describe cats in one sentence", (4, 35)),
        ("Briefly, what are cats?", (10, 100)),
        ("Tell me a joke about cats", (8, 90)),
        ("Explain the life of cats in detail", (120, 700)),
        ("Tell me about cats", DEFAULT_LENGTH),
    ],
)
def test_the_length_asked_is_read_from_the_input(question: str, length: tuple[int, int]) -> None:
    assert asked_length(question) == length


def test_an_answer_shorter_or_longer_than_asked_loses_points() -> None:
    detail = "Explain the life of cats in detail"
    assert assess(detail, GOOD).lost("short") > 0
    assert "too short" in assess(detail, GOOD).reason()
    assert assess("Describe cats in 10 words", GOOD).lost("long") > 0
    assert assess(CATS, GOOD).lost("short") == assess(CATS, GOOD).lost("long") == 0


def test_a_long_answer_in_one_block_loses_a_point_that_paragraphs_keep() -> None:
    words = [f"cats{n}" for n in range(40)]
    sentences = [f"Cats and {' '.join(words[n : n + 4])} nap." for n in range(0, 40, 1)]
    block = " ".join(sentences)
    paragraphs = "\n\n".join(" ".join(sentences[n : n + 8]) for n in range(0, 40, 8))
    assert assess(CATS, block).lost("block") == 1.0
    assert assess(CATS, paragraphs).lost("block") == 0.0


def test_a_flattering_opener_loses_a_point() -> None:
    flattering = "Great question! " + GOOD
    assert assess(CATS, flattering).lost("filler") == 1.0
    assert judge_score(CATS, flattering) == 9


def test_scores_and_replies_are_deterministic_and_every_reply_shape_parses() -> None:
    shapes = set()
    for n in range(12):
        answer = f"Cats answer number {n} about cats and more cats."
        raw = reply_to(CATS, answer)
        assert raw == reply_to(CATS, answer)
        shapes.add(raw.startswith("```") or raw.startswith("Here"))
        assert parse_score(raw)[0] == judge_score(CATS, answer)
    assert shapes == {True, False}  # some replies come fenced or after prose, as models do


def test_pairwise_the_higher_scored_answer_wins_in_either_position() -> None:
    worse = GOOD.removesuffix(" clean.")  # cut off mid-sentence
    for first, second, winner in ((GOOD, worse, "first"), (worse, GOOD, "second")):
        picked, reason = parse_pairwise(reply_to(CATS, first, second))
        assert picked == winner
        assert f"The {winner} answer is better: it ends with a full sentence" in reason


def test_pairwise_answers_within_the_margin_tie() -> None:
    similar = GOOD.replace("thousands", "many thousands")
    assert abs(assess(CATS, GOOD).value - assess(CATS, similar).value) < TIE_MARGIN
    picked, reason = parse_pairwise(reply_to(CATS, GOOD, similar))
    assert picked == "tie" and "score 10 and 10" in reason
