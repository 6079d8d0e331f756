"""The engine's chain: LCEL for whole answers, a lean streaming path with the same text and runs."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.output_parsers import StrOutputParser

from gui.core.spec import ModelProfile, SimSettings
from gui.providers.backend import FanoutChain, LangChainBackend, build_prompt
from gui.providers.simulated import SimulatedChatModel

TEMPLATE = "Explain {topic}"


def chain(**sim: Any) -> FanoutChain:
    settings = SimSettings(**{"ttft": 0.0, "tokens_per_second": 0.0, "jitter": 0.0, **sim})
    return LangChainBackend().chain(
        TEMPLATE, "Be brief.", ModelProfile(model="sim-1", sim=settings)
    )


class Runs(AsyncCallbackHandler):
    """Records which runs start and end, and their parents."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, UUID | None]] = []

    async def on_chain_start(
        self,
        serialized: Any,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kw: Any,
    ) -> None:
        self.events.append(("chain_start", kw.get("name") or "", parent_run_id))

    async def on_chain_end(
        self, outputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kw: Any
    ) -> None:
        self.events.append(("chain_end", str(outputs)[:40], parent_run_id))

    async def on_chain_error(
        self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **kw: Any
    ) -> None:
        self.events.append(("chain_error", type(error).__name__, parent_run_id))

    async def on_chat_model_start(
        self,
        serialized: Any,
        messages: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kw: Any,
    ) -> None:
        self.events.append(("llm_start", "", parent_run_id))

    async def on_llm_end(
        self, response: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kw: Any
    ) -> None:
        self.events.append(("llm_end", "", parent_run_id))


async def test_streamed_chunks_are_exactly_what_lcel_streams(runtime_mode: str) -> None:
    fast = chain(output_tokens=80, seed=5)
    assert fast.lean is (runtime_mode == "hooked")
    lcel = build_prompt(TEMPLATE, "Be brief.") | fast.model | StrOutputParser()
    ours = [c async for c in fast.astream({"topic": "event loops"})]
    theirs = [c async for c in lcel.astream({"topic": "event loops"})]
    # Plain LCEL also yields empty chunks (the engine skips them); the lean path drops them.
    assert [c for c in ours if c] == [c for c in theirs if c]
    if fast.lean:
        assert all(c and type(c) is str for c in ours)  # plain str: no GC-tracked subclass
    assert "".join(ours) == await fast.ainvoke({"topic": "event loops"})


async def test_a_streamed_run_is_traced_as_one_chain_with_prompt_and_model_inside(
    runtime_mode: str,
) -> None:
    runs = Runs()
    text = "".join(
        [
            c
            async for c in chain(output_tokens=10, seed=1).astream(
                {"topic": "cats"}, {"callbacks": [runs], "run_name": "fanout r0m0"}
            )
        ]
    )
    kinds = [e[0] for e in runs.events]
    assert kinds[0] == "chain_start" and runs.events[0][1] == "fanout r0m0"
    assert runs.events[0][2] is None  # the top run
    assert "llm_start" in kinds and "llm_end" in kinds
    # prompt and model are children, and the chain ends with the whole answer
    assert all(parent is not None for kind, _, parent in runs.events[1:-1])
    assert runs.events[-1][:2] == ("chain_end", text[:40])


async def test_a_failed_stream_ends_its_chain_run_with_the_error(runtime_mode: str) -> None:
    runs = Runs()
    broken = chain(output_tokens=10, failure_rate=1.0, failure_kind="server_error", seed=1)
    with pytest.raises(Exception, match="503"):
        async for _ in broken.astream({"topic": "cats"}, {"callbacks": [runs]}):
            pass
    assert runs.events[-1][:2] == ("chain_error", "SimulatedServerError")


@pytest.mark.parametrize("heard", [False, True])
async def test_stopping_early_closes_the_model_stream_at_once(heard: bool) -> None:
    """Whether the model's ``_astream`` is read directly (nobody hears the call) or through
    its ``astream`` (a handler listens), a consumer that stops closes it at once."""
    fast = chain(output_tokens=500, seed=2)
    closed: list[bool] = []
    real = fast.model._astream  # type: ignore[attr-defined]

    def tracking(*a: Any, **kw: Any) -> Any:
        agen = real(*a, **kw)

        async def wrapper() -> Any:
            try:
                async for chunk in agen:
                    yield chunk
            finally:
                closed.append(True)

        return wrapper()

    object.__setattr__(fast.model, "_astream", tracking)
    stream = fast.astream({"topic": "cats"}, {"callbacks": [Runs()] if heard else []})
    first = [await anext(stream) for _ in range(3)]
    await stream.aclose()
    assert len(first) == 3 and closed == [True]


def test_sync_invoke_gives_the_same_answer(runtime_mode: str) -> None:
    c = chain(output_tokens=30, seed=9)
    assert (
        c.invoke({"topic": "dogs"})
        == SimulatedChatModel(
            ttft=0.0, tokens_per_second=0.0, jitter=0.0, output_tokens=30, seed=9, model="sim-1"
        )
        .invoke(build_prompt(TEMPLATE, "Be brief.").invoke({"topic": "dogs"}))
        .content
    )


async def test_streamed_usage_is_counted_without_a_callback_per_token() -> None:
    from gui.providers.backend import UsageCollector

    class Counting(UsageCollector):
        tokens_seen = 0

        def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
            Counting.tokens_seen += 1

    probe = Counting()
    runs = Runs()
    chunks = [
        c
        async for c in chain(output_tokens=40, seed=3).astream(
            {"topic": "owls"}, {"callbacks": [probe, runs]}
        )
    ]
    assert probe.output_tokens == 40 and len(chunks) == 40
    assert Counting.tokens_seen == 0  # LangChain never dispatched a token to the collector
    assert [e[0] for e in runs.events].count("llm_end") == 1  # other handlers still see the run


async def test_plain_streaming_still_counts_usage_through_the_callback(runtime_mode: str) -> None:
    from gui.providers.backend import UsageCollector

    probe = UsageCollector()
    streamed = chain(output_tokens=25, seed=4)
    chunks = [c async for c in streamed.astream({"topic": "owls"}, {"callbacks": [probe]})]
    assert len([c for c in chunks if c]) == 25 and probe.output_tokens == 25


class Ends(AsyncCallbackHandler):
    """Keeps the text of every model run's end, as a tracer would record it."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    async def on_llm_end(self, response: Any, **kw: Any) -> None:
        self.texts.append(response.generations[0][0].text)


async def test_a_long_answer_ends_whole_whether_or_not_a_tracer_listens(runtime_mode: str) -> None:
    """No handler: the end-of-answer merge is skipped (the chunk-merge hook); a tracer still
    receives the whole answer, merged, and the streamed text is the same either way."""
    fast = chain(output_tokens=20_000, seed=7)
    alone = "".join([c async for c in fast.astream({"topic": "event loops"})])
    ends = Ends()
    traced = [c async for c in fast.astream({"topic": "event loops"}, {"callbacks": [ends]})]
    assert len(alone) > 90_000 and "".join(traced) == alone
    assert ends.texts == [alone]


async def test_an_unheard_merge_hands_back_the_last_chunk_and_takes_the_rest() -> None:
    """What the chunk-merge hook does inside ``unheard_merges``, and only there."""
    from langchain_core.language_models import chat_models
    from langchain_core.messages import AIMessageChunk
    from langchain_core.outputs import ChatGenerationChunk

    from gui.compat.lcel import install_merge_hook, unheard_merges

    def chunks() -> list[ChatGenerationChunk]:
        return [ChatGenerationChunk(message=AIMessageChunk(content=f"t{i} ")) for i in range(5)]

    assert install_merge_hook()
    merge = chat_models.merge_chat_generation_chunks  # type: ignore[attr-defined]
    heard = chunks()
    merged = merge(heard)
    assert merged is not None and merged.text == "t0 t1 t2 t3 t4 " and len(heard) == 5
    unheard = chunks()
    last = unheard[-1]
    with unheard_merges(True):
        assert merge(unheard) is last
    assert unheard == []  # LangChain's list no longer holds them: freed a slice at a time
    assert merge(chunks()).text == "t0 t1 t2 t3 t4 "  # type: ignore[union-attr]


def test_a_chats_thread_goes_between_the_system_message_and_the_template_as_it_is() -> None:
    context = [("user", "Braces {stay} as typed"), ("assistant", "Noted {here}")]
    prompt = build_prompt(TEMPLATE, "Be brief.", context)
    assert prompt.input_variables == ["topic"]
    sent = [(m.type, m.content) for m in prompt.invoke({"topic": "tides"}).to_messages()]
    assert sent == [
        ("system", "Be brief."),
        ("human", "Braces {stay} as typed"),
        ("ai", "Noted {here}"),
        ("human", "Explain tides"),
    ]
