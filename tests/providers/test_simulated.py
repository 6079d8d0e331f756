"""The simulated model as the app and the engine use it: timing, text, failures, usage, pauses."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage, SystemMessage

from gui.core.cell_context import REQUESTED_CELL
from gui.core.spec import CellId
from gui.providers import simulated
from gui.providers.simulated import (
    SimulatedChatModel,
    SimulatedConnectionDropped,
    SimulatedError,
    SimulatedRateLimitError,
    SimulatedServerError,
)

JOKE = "Tell me a joke about cats"


def instant(**kw: Any) -> SimulatedChatModel:
    """A model that answers at once, with a fixed seed unless told otherwise."""
    return SimulatedChatModel(**{"ttft": 0.0, "tokens_per_second": 0.0, "seed": 0, **kw})


async def collect(model: SimulatedChatModel, prompt: str = JOKE) -> list[AIMessageChunk]:
    return [chunk async for chunk in model.astream(prompt)]


async def drain(model: SimulatedChatModel, into: list[AIMessageChunk]) -> None:
    """Stream the joke into ``into`` chunk by chunk, so a test can see how far it got."""
    async for chunk in model.astream(JOKE):
        into.append(chunk)


def drain_sync(model: SimulatedChatModel, into: list[AIMessageChunk]) -> None:
    """Sync twin of :func:`drain`."""
    for chunk in model.stream(JOKE):
        into.append(chunk)


def text_of(chunks: list[AIMessageChunk]) -> str:
    return "".join(str(c.content) for c in chunks)


@pytest.fixture
def count_sleeps(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """Count the model's calls to ``asyncio.sleep``."""
    calls = 0
    real_sleep = asyncio.sleep

    def counting_sleep(delay: float, result: Any = None) -> Awaitable[Any]:
        nonlocal calls
        calls += 1
        return real_sleep(delay, result)

    monkeypatch.setattr(simulated.asyncio, "sleep", counting_sleep)
    return lambda: calls


# ---- timing ----------------------------------------------------------------------------
# A sleep never ends early, so lower bounds are exact; upper bounds only tell overlapping from
# sequential, with a margin a machine at a quarter of its speed stays far inside.


async def test_ainvoke_takes_the_requested_latency() -> None:
    model = SimulatedChatModel.with_latency(0.3, jitter=0.0, seed=1)

    start = time.perf_counter()
    await model.ainvoke(JOKE)
    elapsed = time.perf_counter() - start

    assert elapsed >= 0.28  # it waited (that it waits once, not per token: count_sleeps)


async def test_three_concurrent_streams_overlap() -> None:
    model = SimulatedChatModel.with_latency(1.0, jitter=0.0, seed=1)
    arrivals: list[int] = []  # which stream each chunk came from, in arrival order

    async def collect_as(n: int) -> list[AIMessageChunk]:
        chunks = []
        async for chunk in model.astream(JOKE):
            arrivals.append(n)
            chunks.append(chunk)
        return chunks

    answers = await asyncio.gather(*(collect_as(n) for n in range(3)))

    assert all(len(chunks) == 61 for chunks in answers)  # 60 tokens + the usage chunk
    # Overlapping, not one after another: every stream had sent text before any had ended.
    first = [arrivals.index(n) for n in range(3)]
    last = [len(arrivals) - 1 - arrivals[::-1].index(n) for n in range(3)]
    assert max(first) < min(last)


async def test_stream_waits_ttft_then_paces_tokens() -> None:
    model = SimulatedChatModel(
        ttft=0.1, tokens_per_second=100.0, output_tokens=20, jitter=0.0, seed=1
    )

    start = time.perf_counter()
    arrivals = [time.perf_counter() - start async for _ in model.astream(JOKE)]

    assert arrivals[0] >= 0.09  # first token after ttft
    assert arrivals[10] >= 0.19  # then one every 10 ms, on a schedule (no drift)...
    assert arrivals[-1] >= 0.28  # ...ttft + 20 tokens / 100 per s
    assert arrivals == sorted(arrivals)


def test_with_latency_splits_time_between_first_token_and_streaming() -> None:
    demo = SimulatedChatModel.with_latency(1.5)
    quick = SimulatedChatModel.with_latency(0.5, output_tokens=20)
    instant_model = SimulatedChatModel.with_latency(0.0)

    assert demo.ttft == pytest.approx(0.3)
    assert demo.ttft + demo.output_tokens / demo.tokens_per_second == pytest.approx(1.5)
    assert quick.ttft == pytest.approx(0.1)
    assert quick.output_tokens == 20
    assert quick.ttft + 20 / quick.tokens_per_second == pytest.approx(0.5)
    assert (instant_model.ttft, instant_model.tokens_per_second) == (0.0, 0.0)


async def test_ainvoke_sleeps_once_not_per_token(count_sleeps: Callable[[], int]) -> None:
    model = SimulatedChatModel(ttft=0.01, tokens_per_second=10_000.0, seed=1)

    await model.ainvoke(JOKE)

    assert count_sleeps() == 1


async def test_unlimited_pace_yields_to_the_loop_every_64_tokens(
    count_sleeps: Callable[[], int],
) -> None:
    model = instant(output_tokens=256)

    chunks = await collect(model)

    assert len(chunks) == 257
    assert count_sleeps() == 4  # before tokens 0, 64, 128 and 192


async def test_a_slow_stream_can_be_cancelled_while_waiting() -> None:
    model = SimulatedChatModel(ttft=30.0, seed=1)
    task = asyncio.create_task(model.ainvoke(JOKE))
    await asyncio.sleep(0.01)

    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task


# ---- text ------------------------------------------------------------------------------


async def test_stream_concatenates_to_the_invoked_text() -> None:
    model = instant(seed=42)

    chunks = await collect(model)
    message = await model.ainvoke(JOKE)

    assert len(chunks) > 50
    assert text_of(chunks) == message.content


async def test_a_joke_about_cats_is_about_a_cat() -> None:
    message = await instant().ainvoke(JOKE)

    text = str(message.content)
    assert "cat" in text.lower()
    assert "?" in text  # a setup question, then the punchline
    assert "lorem" not in text.lower()


@pytest.mark.parametrize(
    ("prompt", "topic"),
    [
        ("Explain photosynthesis in simple terms", "photosynthesis"),
        ("What is the capital of France?", "capital of France"),
        ("Write a short poem about the sea.", "sea"),
        ("Give me a recipe for banana bread", "banana bread"),
    ],
)
async def test_answers_mention_the_subject_of_the_prompt(prompt: str, topic: str) -> None:
    message = await instant().ainvoke(prompt)

    assert topic in str(message.content)


async def test_the_last_human_message_is_the_prompt() -> None:
    messages = [
        SystemMessage("You are a helpful assistant."),
        HumanMessage("Tell me about volcanoes"),
        HumanMessage("Explain glaciers"),
    ]

    message = await instant().ainvoke(messages)

    assert "glaciers" in str(message.content)
    assert "volcanoes" not in str(message.content)


async def test_same_seed_same_text_other_seed_other_text() -> None:
    # At temperature 2 every seed is a draw of its own (lower, a seed may give the likely answer).
    first = await instant(seed=7, temperature=2.0).ainvoke(JOKE)
    again = await instant(seed=7, temperature=2.0).ainvoke(JOKE)
    other = await instant(seed=8, temperature=2.0).ainvoke(JOKE)

    assert first.content == again.content
    assert first.content != other.content


async def samples(model: SimulatedChatModel, n: int, prompt: str = JOKE) -> list[str]:
    """The answers to the ``n`` samples of one engine cell (its id says which sample)."""
    out = []
    for k in range(n):
        token = REQUESTED_CELL.set(CellId.text(0, 0, k))
        try:
            out.append(str((await model.ainvoke(prompt)).content))
        finally:
            REQUESTED_CELL.reset(token)
    return out


async def test_the_answer_is_a_function_of_model_messages_and_parameters() -> None:
    """Same request, same text (even unseeded); each model name answers in its own way."""
    first = await instant(seed=None).ainvoke(JOKE)
    again = await instant(seed=None).ainvoke(JOKE)
    assert first.content == again.content

    by_model = {m: str((await instant(seed=None, model=m).ainvoke(JOKE)).content) for m in "abcd"}
    assert len(set(by_model.values())) == 4
    # A system message is part of the request: it changes the answer too.
    system = await instant(seed=None).ainvoke([SystemMessage("Be brief."), HumanMessage(JOKE)])
    assert system.content != first.content


async def test_temperature_zero_repeats_agree_and_higher_temperatures_differ() -> None:
    prompts = [f"Tell me about {topic}" for topic in ("cats", "rivers", "bread", "jazz")]
    distinct: dict[float, list[int]] = {0.0: [], 0.7: [], 1.2: []}
    for temperature, counts in distinct.items():
        for prompt in prompts:
            model = instant(seed=None, temperature=temperature)
            answers = await samples(model, 5, prompt)
            assert answers == await samples(model, 5, prompt)  # deterministic
            counts.append(len(set(answers)))
    assert distinct[0.0] == [1, 1, 1, 1]
    # 0.7: some samples keep the likely answer, some leave it; 1.2: most are answers of their own.
    assert all(2 <= n <= 4 for n in distinct[0.7])
    assert sum(distinct[1.2]) / 4 >= 4
    assert sum(distinct[1.2]) > sum(distinct[0.7]) > sum(distinct[0.0])


async def test_a_seed_makes_the_repeats_of_a_cell_agree() -> None:
    seeded = await samples(instant(seed=3, temperature=1.2), 5)
    unseeded = await samples(instant(seed=None, temperature=1.2), 5)

    assert len(set(seeded)) == 1
    assert len(set(unseeded)) > 1
    assert seeded == await samples(instant(seed=3, temperature=1.2), 5)


async def test_low_top_p_keeps_repeats_on_the_likely_answer() -> None:
    narrow = await samples(instant(seed=None, temperature=1.2, top_p=0.0), 5)
    assert len(set(narrow)) == 1


async def test_tokens_are_word_pieces_with_leading_spaces() -> None:
    chunks = await collect(instant(output_tokens=30))

    tokens = [str(c.content) for c in chunks[:-1]]
    assert len(tokens) == 30
    assert tokens[0] == tokens[0].lstrip()
    assert all(tokens)
    words = [t for t in tokens[1:] if t.strip().isalpha() and t.startswith(" ")]
    assert len(words) > 15  # most pieces are " word"; the rest are punctuation or word tails


async def test_stop_sequence_ends_the_answer_before_it() -> None:
    full = str((await instant().ainvoke(JOKE)).content)
    stop = full.split()[5]

    message = await instant().ainvoke(JOKE, stop=[stop])
    streamed = text_of([c async for c in instant().astream(JOKE, stop=[stop])])

    assert message.content == full[: full.index(stop)]
    assert streamed == message.content
    assert message.response_metadata["finish_reason"] == "stop"


async def test_max_tokens_cuts_the_answer_with_finish_reason_length() -> None:
    message = await instant(max_tokens=10).ainvoke(JOKE)

    assert message.usage_metadata is not None
    assert message.usage_metadata["output_tokens"] == 10
    assert message.response_metadata["finish_reason"] == "length"


# ---- usage and metadata ----------------------------------------------------------------


async def test_invoke_reports_usage_and_model_name() -> None:
    message = await instant(output_tokens=25).ainvoke(JOKE)

    assert message.usage_metadata == {"input_tokens": 6, "output_tokens": 25, "total_tokens": 31}
    assert message.response_metadata["model_name"] == "sim-1"
    assert message.response_metadata["finish_reason"] == "stop"


async def test_stream_reports_usage_on_the_last_chunk_only() -> None:
    model = instant(output_tokens=25, model="sim-fast")

    chunks = await collect(model)

    assert all(c.usage_metadata is None for c in chunks[:-1])
    last = chunks[-1]
    assert last.chunk_position == "last"
    assert last.content == ""
    assert last.usage_metadata == {"input_tokens": 6, "output_tokens": 25, "total_tokens": 31}
    assert last.response_metadata["model_name"] == "sim-fast"
    assert last.response_metadata["finish_reason"] == "stop"


async def test_a_per_call_model_name_is_reported() -> None:
    message = await instant().ainvoke(JOKE, model="sim-2")

    assert message.response_metadata["model_name"] == "sim-2"


def test_test_hooks_are_not_serialized() -> None:
    model = SimulatedChatModel(pause_after=3, resume_event=asyncio.Event())

    dumped = model.model_dump()

    assert "resume_event" not in dumped
    assert "pause_after" not in dumped
    assert dumped["model_name"] == "sim-1"


# ---- failures --------------------------------------------------------------------------


async def test_rate_limit_failure_asks_to_retry_later() -> None:
    model = instant(failure_rate=1.0, failure_kind="rate_limit", retry_after=2.5)

    with pytest.raises(SimulatedRateLimitError, match="rate limited") as caught:
        await model.ainvoke(JOKE)

    assert caught.value.retry_after == 2.5
    assert caught.value.status_code == 429
    assert caught.value.kind == "rate_limit"


async def test_server_error_failure_is_a_503_before_any_token() -> None:
    model = instant(failure_rate=1.0, failure_kind="server_error")
    received: list[AIMessageChunk] = []

    with pytest.raises(SimulatedServerError, match="server error") as caught:
        await drain(model, received)

    assert received == []
    assert caught.value.status_code == 503
    assert str(caught.value).count(".") == 1  # one plain sentence


async def test_dropped_connection_breaks_the_stream_half_way() -> None:
    model = instant(failure_rate=1.0, failure_kind="drop", output_tokens=40)
    received: list[AIMessageChunk] = []

    with pytest.raises(SimulatedConnectionDropped, match="dropped the connection") as caught:
        await drain(model, received)

    assert len(received) == 20
    assert isinstance(caught.value, ConnectionError)
    assert caught.value.kind == "drop"


async def test_timeout_failure_hangs_until_the_callers_timeout() -> None:
    model = instant(failure_rate=1.0, failure_kind="timeout", stall_s=60.0)

    start = time.perf_counter()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(model.ainvoke(JOKE), timeout=0.1)

    assert time.perf_counter() - start < 30  # the caller's timeout, not the 60 s stall


async def test_a_stall_without_a_caller_timeout_ends_in_a_server_error() -> None:
    model = instant(failure_rate=1.0, failure_kind="timeout", stall_s=0.05)

    with pytest.raises(SimulatedServerError, match="stalled") as caught:
        await collect(model)

    assert caught.value.kind == "timeout"


async def test_failures_follow_the_seed() -> None:
    def outcomes(seed: int) -> list[bool]:
        model = instant(seed=seed, failure_rate=0.5)
        results = []
        for _ in range(20):
            try:
                model.invoke(JOKE)
            except SimulatedError:
                results.append(False)
            else:
                results.append(True)
        return results

    assert outcomes(3) == outcomes(3)
    assert 0 < sum(outcomes(3)) < 20


# ---- the pause hook --------------------------------------------------------------------


async def test_a_stream_pauses_after_n_tokens_until_resumed() -> None:
    resume = asyncio.Event()
    model = instant(output_tokens=12, pause_after=5, resume_event=resume)
    received: list[AIMessageChunk] = []
    five_arrived = asyncio.Event()

    async def consume() -> None:
        async for chunk in model.astream(JOKE):
            received.append(chunk)
            if len(received) == 5:
                five_arrived.set()

    task = asyncio.create_task(consume(), name="paused-stream")
    await asyncio.wait_for(five_arrived.wait(), timeout=60)
    await asyncio.sleep(0.05)
    assert len(received) == 5  # frozen mid-way

    resume.set()
    await asyncio.wait_for(task, timeout=60)
    assert len(received) == 13


# ---- sync entry points (the "sync" strategy runs them in worker threads) ---------------


def test_sync_invoke_and_stream_agree() -> None:
    model = SimulatedChatModel(ttft=0.05, tokens_per_second=1000.0, output_tokens=30, seed=5)

    start = time.perf_counter()
    message = model.invoke(JOKE)
    elapsed = time.perf_counter() - start
    chunks = list(model.stream(JOKE))

    assert elapsed >= 0.05
    assert text_of(chunks) == message.content
    assert chunks[-1].usage_metadata == message.usage_metadata


def test_sync_stream_drops_half_way_too() -> None:
    model = instant(failure_rate=1.0, failure_kind="drop", output_tokens=10)
    received: list[AIMessageChunk] = []

    with pytest.raises(SimulatedConnectionDropped):
        drain_sync(model, received)

    assert len(received) == 5


async def test_a_long_answer_is_composed_while_it_streams_not_before() -> None:
    """60,000 tokens took ~14 ms to compose up front: a stall before the first token."""
    model = instant(output_tokens=20_000, seed=4)
    plan = model._plan([HumanMessage(JOKE)], None, {})
    assert isinstance(plan.tokens, simulated._LazyTokens) and not plan.tokens._made
    chunks = await collect(model)
    text = text_of(chunks)
    # Same text as composing it all at once, and usage counts every token.
    draw = simulated.sampling_draw(
        model="sim-1",
        conversation=simulated.conversation_digest([("user", JOKE)]),
        temperature=None,
        top_p=None,
        seed=4,
        sample=0,
    )
    assert text == simulated.simulated_answer(JOKE, 20_000, draw)
    assert chunks[-1].usage_metadata is not None
    assert chunks[-1].usage_metadata["output_tokens"] == 20_000
    assert text == (await model.ainvoke(JOKE)).content


async def test_a_long_dropped_answer_still_breaks_half_way() -> None:
    model = instant(output_tokens=10_000, seed=4, failure_rate=1.0, failure_kind="drop")
    got: list[AIMessageChunk] = []
    with pytest.raises(SimulatedConnectionDropped, match="after 5000 tokens"):
        await drain(model, got)
    assert len([c for c in got if c.content]) == 5000


@pytest.mark.parametrize("topic", ["кошки", "猫", "café", "مرحبا"])
async def test_a_topic_in_any_script_is_what_the_answer_is_about(topic: str) -> None:
    text = text_of(await collect(instant(output_tokens=40), f"Tell me a joke about {topic}"))
    assert topic in text
    assert f"{topic}s" not in text  # English plurals only for English words
