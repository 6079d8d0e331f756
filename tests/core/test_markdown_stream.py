"""Markdown rendered while it streams (gui/core/markdown_stream.py), on plain Python.

A stream cut anywhere must end exactly where a one-shot render does, finished blocks must
never be parsed or rendered again, and the HTML must be what a reader expects of each
construct.
"""

from __future__ import annotations

import random

import pytest
from markdown_it import MarkdownIt

from gui.core.markdown_stream import (
    WARM_LANGUAGES,
    MarkdownStream,
    Update,
    render_html,
    warm_up,
    warm_up_pieces,
)

#: Every construct a model writes, and the places where a stream is easy to get wrong:
#: a list continued after a blank line, a setext heading, a table right after a paragraph,
#: a lazy blockquote line, an indented code block, Windows line ends, raw HTML as text.
DOC = """# Title

Some *text* with `code`, ~~old~~ and a [link](https://example.org).

- one
- two
  continued

1. first

2. second
3) other list

Setext heading
--------------

A paragraph
| a | b |
|:--|--:|
| 1 | 2 |
| 3 |

> quoted
lazy line

    indented code

```python
def f(x):
    return x  # comment
```

***

Tags like <div> stay text.\r\nA CRLF line.\r\n

```
unclosed fence at the end
"""


def feed(stream: MarkdownStream, pieces: list[str]) -> str:
    """Stream ``pieces`` one step each, finish, and return the HTML of every block."""
    html: list[str] = []
    for piece in pieces:
        stream.append(piece)
        html.extend(stream.step().finished)
    stream.finish()
    update = stream.step()
    html.extend(update.finished)
    while update.pending:
        update = stream.step()
        html.extend(update.finished)
    assert stream.done()
    return "".join(html)


def test_a_stream_cut_at_every_position_ends_as_the_one_shot_render() -> None:
    whole = render_html(DOC, copy_links=True)
    for cut in range(len(DOC) + 1):
        assert feed(MarkdownStream(), [DOC[:cut], DOC[cut:]]) == whole, f"cut at {cut}"


def test_a_stream_fed_character_by_character_ends_as_the_one_shot_render() -> None:
    assert feed(MarkdownStream(), list(DOC)) == render_html(DOC, copy_links=True)


@pytest.mark.parametrize("seed", range(20))
def test_random_chunks_and_a_small_budget_end_as_the_one_shot_render(seed: int) -> None:
    rng = random.Random(seed)
    text = DOC * 3
    pieces, at = [], 0
    while at < len(text):
        size = rng.choice([1, 2, 5, 17, 80, 400])
        pieces.append(text[at : at + size])
        at += size
    stream = MarkdownStream(budget=rng.choice([0, 40, 300, 2000]))
    assert feed(stream, pieces) == render_html(text, copy_links=True)


def test_finished_blocks_are_rendered_once_and_never_parsed_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = MarkdownStream()
    parsed: list[str] = []
    original = MarkdownIt.parse

    def spy(self: MarkdownIt, src: str, env: object = None) -> object:
        parsed.append(src)
        return original(self, src, env)

    monkeypatch.setattr(MarkdownIt, "parse", spy)
    paragraphs = [f"Paragraph number {i} is unique." for i in range(30)]
    text = "\n\n".join(paragraphs) + "\n"
    finished_at: dict[str, int] = {}  # paragraph -> index into `parsed` when it finished
    for ch in text:
        stream.append(ch)
        for block in stream.step().finished:
            finished_at[block] = len(parsed)
    stream.finish()
    for block in stream.step().finished:
        finished_at[block] = len(parsed)
    assert stream.block_renders == len(paragraphs) == len(finished_at)
    for block, index in finished_at.items():
        sentence = block.removeprefix("<p>").removesuffix("</p>\n")
        assert not any(sentence in src for src in parsed[index:]), sentence


def test_each_step_renders_only_the_open_block() -> None:
    stream = MarkdownStream()
    stream.append("# Head\n\nfirst para\n\nsecond\n")
    update = stream.step()
    assert update.finished == ["<h1>Head</h1>\n", "<p>first para</p>\n"]
    assert update.tail == "<p>second</p>\n"
    stream.append("para grows")
    update = stream.step()
    assert update.finished == [] and update.tail == "<p>second\npara grows</p>\n"
    assert stream.step().tail is None  # nothing new: nothing to redraw


def test_an_open_fence_renders_as_code_while_it_streams() -> None:
    stream = MarkdownStream()
    stream.append("Look:\n\n```python\nprint('hi')\nx = 1")
    update = stream.step()
    assert update.tail is not None
    assert update.tail.count("<pre") == 1 and "```" not in update.tail
    assert "print" in update.tail and 'href="copy:0"' in update.tail
    assert stream.code(0) == "print('hi')\nx = 1"  # what has arrived so far


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("# One\n## Two", ["<h1>One</h1>", "<h2>Two</h2>"]),
        ("- a\n- b", ["<ul>", "<li>a</li>", "<li>b</li>"]),
        ("3. c\n4. d", ['<ol start="3">', "<li>c</li>"]),
        ("[site](https://example.org)", ['<a href="https://example.org">site</a>']),
        ("use `x = 1` here", ["<code>x = 1</code>"]),
        ("**b** _i_ ~~s~~", ["<strong>b</strong>", "<em>i</em>", "<s>s</s>"]),
        ("a <div> & b", ["a &lt;div&gt; &amp; b"]),
        (
            "| h1 | h2 |\n|---|---|\n| c1 | c2 |",
            ["<table", "<th>h1</th>", "<td>c2</td>", 'border="1"'],
        ),
    ],
)
def test_each_construct_renders_to_the_html_a_reader_expects(
    source: str, expected: list[str]
) -> None:
    stream = MarkdownStream()
    html = feed(stream, list(source))
    for part in expected:
        assert part in html


def test_code_is_highlighted_per_palette_and_copied_without_markup() -> None:
    source = "```python\ndef f():\n    return 1\n```\n\n```\nplain <b>\n```\n"
    light = render_html(source, dark=False, copy_links=True)
    dark = render_html(source, dark=True, copy_links=True)
    assert "<span style=" in light and light != dark  # two Pygments styles
    assert 'href="copy:0"' in light and 'href="copy:1"' in light
    assert "plain &lt;b&gt;" in light  # unknown language: escaped, not highlighted
    stream = MarkdownStream()
    feed(stream, [source])
    assert stream.code(0) == "def f():\n    return 1\n"
    assert stream.code(1) == "plain <b>\n"
    assert stream.code(2) is None
    stream.restyle(True)
    assert feed(stream, []) == dark


def test_a_long_answer_is_parsed_a_bounded_amount_per_step() -> None:
    text = "".join(f"Paragraph {i} " + "word " * 40 + "\n\n" for i in range(500))  # ~110 KB
    stream = MarkdownStream(budget=4000)
    stream.append(text)
    stream.finish()
    steps: list[Update] = [stream.step()]
    while steps[-1].pending:
        steps.append(stream.step())
    assert len(steps) >= len(text) // 4000
    assert all(sum(map(len, u.finished)) <= 4000 + 300 for u in steps)
    assert "".join(b for u in steps for b in u.finished) == render_html(text, copy_links=True)


def test_one_huge_open_block_is_shown_raw_until_it_ends() -> None:
    stream = MarkdownStream()
    stream.append("Intro.\n\n```\n")
    stream.step()
    line = "x = 1  # a long generated listing\n"
    over_limit = MarkdownStream.TAIL_LIMIT // len(line) + 1
    for _ in range(over_limit):
        stream.append(line)
        stream.step()
    renders, raw_updates, steps = stream.tail_renders, 0, 3 * over_limit
    for _ in range(steps):  # the fence grows to four times the limit
        stream.append(line)
        update = stream.step()
        raw_updates += update.tail_raw is not None
        assert update.tail_raw is not None or update.tail is not None
    # Shown raw, re-parsed only each time it grew by half: a handful of renders, not 2,000.
    assert stream.tail_renders - renders <= 4
    assert raw_updates >= steps - 4
    stream.append("```\n\nAfter.")
    stream.finish()
    update = stream.step()
    assert update.finished[-1] == "<p>After.</p>\n"
    assert stream.code(0) == line * 4 * over_limit


def test_eliding_skips_to_a_block_start_outside_code_and_unelide_comes_back() -> None:
    head = "".join(f"Head paragraph {i}.\n\n" for i in range(5))
    code = "```\nfirst line\n\nsecond line after a blank\n\nthird\n```\n\n"
    rest = "".join(f"End paragraph {i}.\n\n" for i in range(3))
    stream = MarkdownStream()
    stream.append(head + code + rest)
    stream.finish()
    first = stream.step(len(head) + 4)  # the head, rendered (and the fence begun)
    assert len(first.finished) == 5 and stream.rendered_to() == len(head)
    stream.mark_cut()
    inside_code = len(head) + code.index("second")
    boundary = stream.elide(inside_code)
    # Not at the blank lines inside the fence: at the first paragraph after it.
    assert boundary == len(head) + len(code)
    assert stream.elided_chars() == len(code)
    kept = stream.flush()
    assert [b for b in kept.finished if "End paragraph 0" in b] and not any(
        "second line" in b for b in kept.finished
    )
    stream.unelide()
    assert stream.elided_chars() == 0 and stream.rendered_to() == len(head)
    again = stream.flush()
    assert any("second line" in b for b in again.finished)
    assert stream.code(0) == "first line\n\nsecond line after a blank\n\nthird\n"


def test_nothing_is_elided_without_a_block_start_after_the_point() -> None:
    stream = MarkdownStream()
    stream.append("One paragraph.\n\nA last one that never ends")
    stream.step(0)
    stream.mark_cut()
    assert stream.elide(20) is None and stream.elided_chars() == 0


def test_the_warm_up_comes_in_pieces_that_do_all_of_it_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gui.core.markdown_stream as md

    done: list[str] = []
    monkeypatch.setattr(md, "_parser", lambda: done.append("parser"))
    monkeypatch.setattr(md, "_lexer", lambda lang: done.append(lang))
    monkeypatch.setattr(md, "render_html", lambda _text, dark: done.append(f"render {dark}"))

    pieces = warm_up_pieces()
    assert done == []  # nothing runs until the caller runs a piece
    for count, piece in enumerate(pieces, start=1):
        piece()
        assert len(done) == count  # one piece, one step of the warm-up
    assert done == ["parser", *WARM_LANGUAGES, "render False", "render True"]
    done.clear()
    warm_up()  # all at once, the same steps
    assert done == ["parser", *WARM_LANGUAGES, "render False", "render True"]
