"""Agreement in a row: each sentence of each answer shared by all, by some, or unique."""

from __future__ import annotations

import pytest

from gui.core.agreement import Share, agreement, sentence_spans, similarity, units

ALL, SOME, UNIQUE = Share.ALL, Share.SOME, Share.UNIQUE

PARIS = (
    "The capital of France is Paris. Paris has about two million inhabitants. I love croissants.",
    "Paris is the capital of France. About two million people live in Paris.\n\n"
    "The Louvre is the largest art museum.",
    "France's capital is Paris. The Louvre is the world's largest art museum.",
)


def tags(texts: tuple[str, ...] | list[str], **kw: float) -> list[list[tuple[str, Share]]]:
    result = agreement(texts, **kw)
    return [[(s.text, s.share) for s in answer] for answer in result.answers]


def test_a_row_is_tagged_as_a_reader_would() -> None:
    assert tags(PARIS) == [
        [
            ("The capital of France is Paris.", ALL),
            ("Paris has about two million inhabitants.", SOME),
            ("I love croissants.", UNIQUE),
        ],
        [
            ("Paris is the capital of France.", ALL),
            ("About two million people live in Paris.", SOME),
            ("The Louvre is the largest art museum.", SOME),
        ],
        [
            ("France's capital is Paris.", ALL),
            ("The Louvre is the world's largest art museum.", SOME),
        ],
    ]


def test_sentences_that_say_the_same_share_a_group_and_name_each_other() -> None:
    result = agreement(PARIS)
    first = [answer[0] for answer in result.answers]
    assert len({s.group for s in first}) == 1
    assert [s.shared_with for s in first] == [(1, 2), (0, 2), (0, 1)]
    croissants = result.answers[0][2]
    assert croissants.shared_with == () and croissants.group not in {s.group for s in first}
    # Ranges point into the answers, so a view can colour them.
    for text, answer in zip(PARIS, result.answers, strict=True):
        assert all(text[s.start : s.end] == s.text for s in answer)


def test_the_legend_counts_the_row_and_each_answer() -> None:
    result = agreement(PARIS)
    assert result.counts() == {ALL: 3, SOME: 4, UNIQUE: 1}
    assert result.counts(0) == {ALL: 1, SOME: 1, UNIQUE: 1}


def test_a_stricter_threshold_splits_paraphrases() -> None:
    # "France's capital is Paris." overlaps the other two by 6/7: enough at 0.5, not at 0.9.
    strict = tags(PARIS, threshold=0.9)
    assert strict[0][0] == ("The capital of France is Paris.", SOME)
    assert strict[2][0] == ("France's capital is Paris.", UNIQUE)
    loose = tags(PARIS, threshold=0.3)
    assert loose[0][0][1] == ALL


def test_markdown_blocks_are_units_and_list_items_match_sentences() -> None:
    a = (
        "## Steps\n\n"
        "1. Install Python from the website.\n"
        "2. Create a virtual environment. Then activate it.\n\n"
        "```bash\npython -m venv .venv\n```\n"
    )
    b = (
        "First, install Python from the official website. Next, create a virtual "
        "environment and activate it.\n\n"
        "```bash\npython -m venv .venv\n```\n"
    )
    got = tags([a, b])
    assert got[0] == [
        ("Steps", UNIQUE),
        ("Install Python from the website.", ALL),
        ("Create a virtual environment. Then activate it.", ALL),
        ("```bash\npython -m venv .venv\n```", ALL),
    ]
    assert [share for _text, share in got[1]] == [ALL, ALL, ALL]


def test_an_empty_answer_does_not_stop_the_others_agreeing() -> None:
    got = tags(["Rust has no garbage collector.", "", "Rust has no garbage collector at all."])
    assert got == [
        [("Rust has no garbage collector.", ALL)],
        [],
        [("Rust has no garbage collector at all.", ALL)],
    ]


def test_one_answer_alone_is_all_unique() -> None:
    assert tags(["Only one model answered."]) == [[("Only one model answered.", UNIQUE)]]


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("One. Two! Three? Four", ["One.", "Two!", "Three?", "Four"]),
        ("Use e.g. a list, i.e. this one. Next.", ["Use e.g. a list, i.e. this one.", "Next."]),
        ("Dr. Smith met J. Doe. They talked.", ["Dr. Smith met J. Doe.", "They talked."]),
        ("It costs 3.50 dollars. Cheap.", ["It costs 3.50 dollars.", "Cheap."]),
        ('He said "stop." Then left.', ['He said "stop."', "Then left."]),
        ("Wrapped\nline. lower case goes on.", ["Wrapped\nline. lower case goes on."]),
        ("**Bold end.** Next one.", ["**Bold end.**", "Next one."]),
    ],
)
def test_sentence_rules(text: str, sentences: list[str]) -> None:
    assert [text[s:e] for s, e in sentence_spans(text)] == sentences


def test_headings_tables_and_quotes_are_cut_where_a_reader_cuts_them() -> None:
    text = (
        "# Title\n\nProse one. Prose two.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "> Quoted one. Quoted two.\n\n- item with two. Sentences inside.\n"
    )
    assert [text[s:e] for s, e in units(text)] == [
        "Title",
        "Prose one.",
        "Prose two.",
        "| a | b |",
        "| 1 | 2 |",
        "> Quoted one.",
        "Quoted two.",
        "item with two. Sentences inside.",
    ]


def test_similarity_ignores_case_punctuation_and_stop_words() -> None:
    assert similarity("The capital of France is Paris.", "PARIS is the capital of france!") == 1.0
    assert similarity("Cats are independent animals.", "Dogs are loyal animals.") < 0.5
    # Only stop words: compared as they are rather than as nothing.
    assert similarity("It is what it is.", "It is what it is!") == 1.0
