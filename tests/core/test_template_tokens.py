"""The template's tokens other than escaped braces: what the prompt editor highlights at every
key and what the run's check reads, found without a step per escaped brace."""

from __future__ import annotations

import random

from gui.core.templates import TEMPLATE_TOKEN, unescaped_tokens


def _spans(matches: object) -> list[tuple[int, int, str | None]]:
    return [(m.start(), m.end(), m.group(1)) for m in matches]  # type: ignore[attr-defined]


def _by_finditer(text: str) -> list[tuple[int, int, str | None]]:
    return _spans(m for m in TEMPLATE_TOKEN.finditer(text) if m.group(0) not in ("{{", "}}"))


def test_escapes_are_stepped_over_and_fields_and_stray_braces_found() -> None:
    text = "Use {{json}} for {topic} {{{x}}} and a stray } {"
    assert _spans(unescaped_tokens(text)) == _by_finditer(text)
    assert [m.group(0) for m in unescaped_tokens(text)] == ["{topic}", "{x}", "}", "{"]
    assert list(unescaped_tokens("")) == [] and list(unescaped_tokens("{{}}")) == []


def test_the_same_tokens_as_scanning_every_match_on_generated_texts() -> None:
    rng = random.Random(7)
    for _ in range(20_000):
        text = "".join(rng.choice("{}{}ab ") for _ in range(rng.randrange(0, 14)))
        assert _spans(unescaped_tokens(text)) == _by_finditer(text), text
    long = "Background with {{braces}} kept. " * 3000 + " {topic}"
    assert (
        _spans(unescaped_tokens(long))
        == _by_finditer(long)
        == [(len(long) - 7, len(long), "topic")]
    )
