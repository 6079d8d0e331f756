"""A streamed cell ends the same whichever path its chunks take through the chain.

The engine reads the chat model's ``_astream`` itself when nobody can hear the call (the
``direct-stream`` hook). These tests hold that path to LangChain's own: first what
``BaseChatModel.astream`` hands its ``_astream`` and makes of each chunk (a change in a new
langchain-core fails here), then the engine's cells on the simulated model, on each path:
the same text, finish reason, usage, cut-off answers and failures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from pydantic import Field

from gui.compat.lcel import direct_stream, finish_reason_of
from gui.core import events as ev
from gui.core.errors import ErrorKind
from gui.core.runner import Run
from gui.core.spec import Limits, ModelProfile, SimSettings, Strategy, make_spec
from gui.providers.backend import LangChainBackend
from gui.providers.simulated import SimulatedChatModel
from tests.core.fakes import Recorder
from tests.support.stream_paths import PATHS, stream_path

MESSAGES: list[BaseMessage] = [SystemMessage("Be brief."), HumanMessage("Explain tides")]


class Recording(BaseChatModel):
    """A chat model that records what its ``_astream`` is given and streams a fixed answer:
    text, metadata on the message and in ``generation_info`` (the message's wins, as in
    LangChain's merge), usage and the finish reason on the last chunk."""

    calls: list[tuple[list[BaseMessage], Any, dict[str, Any]]] = Field(default_factory=list)
    silent: bool = False

    @property
    def _llm_type(self) -> str:
        return "recording"

    def _generate(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        raise NotImplementedError

    async def _astream(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        self.calls.append((list(messages), stop, dict(kwargs)))
        if self.silent:
            return
        yield ChatGenerationChunk(message=AIMessageChunk(content="Tides "))
        yield ChatGenerationChunk(
            message=AIMessageChunk(content="rise", response_metadata={"model_name": "rec"}),
            generation_info={"finish_reason": None, "logprobs": None},
        )
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata={"input_tokens": 9, "output_tokens": 2, "total_tokens": 11},
                response_metadata={"finish_reason": "length"},
            ),
            generation_info={"finish_reason": "stop"},
        )


async def test_the_direct_read_gives_model_what_langchains_astream_gives_it() -> None:
    model = Recording()
    bound = model.bind(
        stop=["\n\n"],
        temperature=0.3,
        ls_structured_output_format={
            "kwargs": {"method": "json_schema"},
            "schema": {"type": "object"},
        },
    )
    theirs = [m async for m in bound.astream(MESSAGES)]
    how = direct_stream(bound, None)
    assert how is not None
    ours = [c async for c in how.open(list(MESSAGES))]
    via_astream, directly = model.calls
    assert directly == via_astream  # the same messages, stop sequences and keyword arguments
    assert directly[1] == ["\n\n"] and directly[2] == {"temperature": 0.3}
    # astream adds one empty closing chunk; the chunks before it are ours, read the same way.
    assert theirs[-1].content == "" and theirs[-1].chunk_position == "last"
    theirs = theirs[: len(ours)]
    assert [m.content for m in theirs] == [c.message.content for c in ours]
    assert [m.usage_metadata for m in theirs] == [c.message.usage_metadata for c in ours]
    assert [m.response_metadata.get("finish_reason") for m in theirs] == [
        finish_reason_of(c) for c in ours
    ]
    assert finish_reason_of(ours[-1]) == "length"


async def test_langchain_still_fails_a_stream_without_chunks_in_its_own_words() -> None:
    # The direct path raises these words itself; the error classifier knows them.
    with pytest.raises(ValueError, match="No generation chunks were returned"):
        async for _ in Recording(silent=True).astream(MESSAGES):
            pass


class _Quiet(AsyncCallbackHandler):
    """A handler that listens and does nothing."""


def test_anything_that_could_hear_or_change_the_call_keeps_langchains_astream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from langchain_core.caches import InMemoryCache
    from langchain_core.callbacks import AsyncCallbackManager
    from langchain_core.rate_limiters import InMemoryRateLimiter

    from gui.compat import hooks

    assert direct_stream(SimulatedChatModel(), AsyncCallbackManager([])) is not None
    for model in (
        SimulatedChatModel(rate_limiter=InMemoryRateLimiter(requests_per_second=100)),
        SimulatedChatModel(cache=InMemoryCache()),
        SimulatedChatModel(output_version="v1"),
        SimulatedChatModel(callbacks=[_Quiet()]),
        SimulatedChatModel(verbose=True),
        SimulatedChatModel(disable_streaming=True),
        SimulatedChatModel().with_config(tags=["own config"]),
    ):
        assert direct_stream(model, None) is None, model
    assert direct_stream(SimulatedChatModel(), AsyncCallbackManager([_Quiet()])) is None
    assert direct_stream(SimulatedChatModel(), [_Quiet()]) is None
    monkeypatch.setenv(hooks.PLAIN_ENV, "1")
    hooks.reset()
    try:
        assert direct_stream(SimulatedChatModel(), None) is None
    finally:
        monkeypatch.delenv(hooks.PLAIN_ENV)
        hooks.reset()


def _sim(seed: int, **kw: Any) -> ModelProfile:
    sim = {"ttft": 0.0, "tokens_per_second": 0.0, "jitter": 0.0, "output_tokens": 40, "seed": seed}
    extra = {k: kw.pop(k) for k in ("max_tokens",) if k in kw}
    return ModelProfile(
        model="sim-1", label=f"sim {seed}", sim=SimSettings(**{**sim, **kw}), **extra
    )


def _outcome(rec: Recorder, cell_id: str) -> tuple[Any, ...]:
    """What a cell's end says, without its timings, and the text of its chunks."""
    end = rec.last(cell_id)
    assert isinstance(end, ev.CellFinished | ev.CellFailed), end
    m = end.metrics
    chunks = [e.text for e in rec.named("TextChunk") if e.cell_id == cell_id]
    counts = (m.finish_reason, m.output_tokens, m.input_tokens, m.tokens_estimated, chunks)
    if isinstance(end, ev.CellFinished):
        return ("done", end.text, *counts)
    return ("failed", end.kind, end.message, end.partial_text, *counts)


async def test_the_engine_ends_every_cell_the_same_on_every_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Done answers of two lengths, a connection dropped mid-answer and a server error before
    any text, through the engine on each path (a server's "length" and other endings: the
    fault cases in ``tests/faults/test_stream_paths.py``)."""
    spec = make_spec(
        "Explain {topic}",
        ["tides", "rain", "wind"],
        (
            _sim(1),
            _sim(2, output_tokens=7),
            _sim(3, failure_rate=1.0, failure_kind="drop"),
            _sim(4, failure_rate=1.0, failure_kind="server_error"),
        ),
        Strategy.STREAM,
        Limits(retries=0),
    )
    seen: dict[str, dict[str, tuple[Any, ...]]] = {}
    for path in PATHS:
        with stream_path(path, monkeypatch) as opened:
            rec = Recorder()
            run = Run(spec, LangChainBackend())
            run.subscribe(rec)
            await run.wait()
        assert len(opened) == (len(run.cells) if path == "direct" else 0), path
        seen[path] = {c.id: _outcome(rec, c.id) for c in run.cells}
    assert seen["direct"] == seen["heard"] == seen["plain"]
    ends = seen["direct"]
    assert ends["r0m0"][0] == "done" and ends["r0m0"][2] == "stop"
    assert ends["r0m0"][3] == 40 and ends["r0m0"][5] is False  # usage from the model
    assert ends["r0m1"][0] == "done" and ends["r0m1"][2:4] == ("stop", 7)
    assert ends["r0m2"][:2] == ("failed", ErrorKind.CONNECTION) and ends["r0m2"][3]  # kept
    assert ends["r0m3"][:2] == ("failed", ErrorKind.SERVER_ERROR) and ends["r0m3"][3] == ""
