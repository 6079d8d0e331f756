"""The word diff of two answers: which words changed, a unified text, and how alike they are."""

from __future__ import annotations

import pytest

from gui.core.textdiff import DIRECT_LIMIT, word_diff


def test_changed_words_are_marked_on_each_side() -> None:
    d = word_diff("The cat sat on the mat.", "The dog sat on a mat!")
    assert d.deleted() == ["cat", "the", "."]
    assert d.inserted() == ["dog", "a", "!"]
    assert d.unified() == "The [-cat-]{+dog+} sat on [-the-]{+a+} mat[-.-]{+!+}"
    # 4 of 7 tokens on each side are kept: "The", "sat", "on", "mat".
    assert d.similarity == pytest.approx(100 * 8 / 14)


@pytest.mark.parametrize(
    ("a", "b", "unified"),
    [
        ("x old y", "x y", "x [-old-] y"),
        ("x y", "x new y", "x {+new+} y"),
        ("x y old", "x y", "x y [-old-]"),
        ("old x", "x", "[-old-] x"),
        ("alpha beta", "alpha beta gamma", "alpha beta {+gamma+}"),
    ],
)
def test_a_lone_deletion_or_insertion_keeps_its_spaces(a: str, b: str, unified: str) -> None:
    assert word_diff(a, b).unified() == unified


def test_rewrapped_text_is_the_same_text() -> None:
    d = word_diff("one two\nthree  four", "one two three four")
    assert d.similarity == 100.0 and d.deleted() == [] and d.inserted() == []


def test_identical_empty_and_disjoint_texts() -> None:
    assert word_diff("same words", "same words").similarity == 100.0
    assert word_diff("", "").similarity == 100.0 and word_diff("", "").ops == ()
    d = word_diff("apples", "")
    assert d.similarity == 0.0 and d.deleted() == ["apples"] and d.unified() == "[-apples-]"
    assert word_diff("red green", "blue yellow").similarity == 0.0


def test_ops_tile_both_texts_so_a_view_can_colour_by_range() -> None:
    a = "  Intro line.\nThe quick brown fox jumps over the lazy dog.\n\n- one\n- two\n"
    b = "Intro line!\nThe quick red fox leaps over the dog.\n- one\n- three\n\nEnd."
    d = word_diff(a, b)
    assert "".join(a[op.a_start : op.a_end] for op in d.ops) == a
    assert "".join(b[op.b_start : op.b_end] for op in d.ops) == b
    assert d.deleted() == [".", "brown", "jumps", "lazy", "two"]
    # Adjacent changes are one stretch: "two" became "three", then a new line was added.
    assert d.inserted() == ["!", "red", "leaps", "three\n\nEnd."]


def test_a_custom_mark_and_escape_as_a_terminal_uses_them() -> None:
    d = word_diff("a \x1b b", "a c")
    out = d.unified(
        mark=lambda kind, text: f"<{kind}:{text}>", escape=lambda s: s.replace("\x1b", "^[")
    )
    assert out == "a <delete:^[ b><insert:c>"


def test_long_texts_are_aligned_by_chunks_and_stay_exact() -> None:
    # Each side is well over the word-by-word limit, so the chunk pass runs.
    lines = [f"Sentence number {i} says something about topic {i % 7}." for i in range(2500)]
    changed = list(lines)
    changed[100] = "A wholly new sentence replaces this one."
    del changed[2000]
    a, b = "\n".join(lines), "\n".join(changed)
    assert len(a.split()) * len(b.split()) > DIRECT_LIMIT
    d = word_diff(a, b)
    assert "".join(b[op.b_start : op.b_end] for op in d.ops) == b
    assert "wholly" in " ".join(d.inserted())
    assert any("1999" in gone or "2000" in gone for gone in d.deleted())
    assert d.similarity > 95


def test_every_other_line_changed_is_anchored_on_the_lines_that_stayed() -> None:
    # Many small matching stretches: the case where SequenceMatcher alone goes quadratic.
    a = "\n".join(f"Line {i} says alpha." for i in range(20_000))
    b = "\n".join(f"Line {i} says {'beta' if i % 2 else 'alpha'}." for i in range(20_000))
    d = word_diff(a, b)
    assert d.inserted() == ["beta"] * 10_000 and d.deleted() == ["alpha"] * 10_000
    assert "Line 3 says [-alpha-]{+beta+}.\nLine 4 says alpha." in d.unified()
