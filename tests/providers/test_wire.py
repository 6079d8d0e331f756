"""The wire watch on its own: markers split across reads, error events, bounds, the hook's choices."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from gui.providers.wire import (
    EventTooLarge,
    RedirectedToGet,
    StreamErrorEvent,
    Watch,
    acheck_response,
    check_redirect,
    watching,
)

EVENT = b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'


def feed_all(watch: Watch, body: bytes, step: int) -> list[Any]:
    """Feed ``body`` in reads of ``step`` bytes; the problems the watch returned, in order."""
    problems = [watch.feed(body[i : i + step]) for i in range(0, len(body), step)]
    problems.append(watch.finish())
    return [p for p in problems if p is not None]


@pytest.mark.parametrize("step", [1, 3, 7, 64, 10_000])
def test_done_is_seen_however_the_reads_split_it(step: int) -> None:
    watch = Watch(1_000_000)
    assert feed_all(watch, EVENT * 3 + b"data: [DONE]\n\n", step) == []
    assert watch.done


@pytest.mark.parametrize("step", [1, 5, 64, 10_000])
def test_done_inside_an_answer_text_is_not_the_end(step: int) -> None:
    # JSON escapes a newline, so "data: [DONE]" in the text never starts a line.
    body = b'data: {"choices":[{"delta":{"content":"say\\ndata: [DONE]"}}]}\n\n'
    watch = Watch(1_000_000)
    assert feed_all(watch, body, step) == []
    assert not watch.done


@pytest.mark.parametrize("step", [1, 4, 64, 10_000])
def test_an_error_event_is_reported_with_the_servers_message(step: int) -> None:
    body = EVENT + b'event: error\ndata: {"error": {"message": "CUDA out of memory"}}\n\n'
    problems = feed_all(Watch(1_000_000), body, step)
    assert len(problems) == 1
    assert isinstance(problems[0], StreamErrorEvent)
    assert str(problems[0]) == "CUDA out of memory"


def test_an_error_event_cut_by_the_end_of_the_body_is_still_reported() -> None:
    problems = feed_all(Watch(1_000_000), EVENT + b"event: error\ndata: overloaded", 1_000)
    assert [str(p) for p in problems] == ["overloaded"]


def test_one_endless_event_and_a_whole_stream_are_bounded() -> None:
    with pytest.raises(EventTooLarge, match="one event of the stream passed 100 bytes"):
        feed_all(Watch(100), b"data: " + b"x" * 200, 50)
    with pytest.raises(EventTooLarge, match="the stream passed 1,000 bytes"):
        feed_all(Watch(100, max_stream_bytes=1_000), EVENT * 100, 64)
    with pytest.raises(EventTooLarge, match="the whole answer passed 100 bytes"):
        feed_all(Watch(100, streaming=False), b"{" + b" " * 200, 64)


def response(status: int, headers: dict[str, str], method: str = "POST") -> Any:
    return SimpleNamespace(
        status_code=status,
        headers=headers,
        request=SimpleNamespace(method=method),
        stream=object(),
    )


@pytest.mark.parametrize("status", [301, 302, 303])
def test_a_redirect_that_turns_a_post_into_a_get_is_refused(status: int) -> None:
    with pytest.raises(RedirectedToGet) as caught:
        check_redirect(response(status, {"location": "https://example.invalid/v1"}))
    assert caught.value.status == status and caught.value.location == "https://example.invalid/v1"
    check_redirect(response(307, {"location": "x"}))  # keeps the method: followed as is
    check_redirect(response(302, {"location": "x"}, method="GET"))


def test_a_compressed_stream_is_left_alone() -> None:
    # Its raw bytes are not the text: watched, [DONE] would never be seen. Such a stream counts
    # as finished on its finish_reason alone.
    compressed = response(200, {"content-type": "text/event-stream", "content-encoding": "gzip"})
    stream = compressed.stream
    with watching(Watch(1_000)):
        asyncio.run(acheck_response(compressed))
    assert compressed.stream is stream
