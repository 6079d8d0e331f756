"""The engine's provider backend on LangChain: LCEL chains, batch runnables, usage, errors."""

from __future__ import annotations

import threading
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any, cast

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.outputs import LLMResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.runnables.config import RunnableConfig, ensure_config

from gui.compat.gc_policy import freeze_import_heap
from gui.compat.lcel import lean_stream_enabled, start_sequence_run, step_config, str_parser
from gui.core.errors import Failure
from gui.core.ports import BatchLike, ChainLike
from gui.core.runner import REQUEST_TIMEOUT_KEY
from gui.core.spec import Cell, ModelProfile, ProviderKind
from gui.providers.errors import classify
from gui.providers.models import build_chat_model, new_async_http_client, new_http_client

#: Seconds a blocking call's HTTP timeout allows beyond the engine's own timeout, so that the
#: engine's (which names the limit the user set) is the one reported, and the abandoned call
#: still ends, and closes its socket, soon after.
BLOCKING_TIMEOUT_GRACE = 0.5


class UsageCollector(BaseCallbackHandler):
    """Records the output tokens a provider reports at the end of one request.

    ``run_inline`` keeps this synchronous handler on the loop's thread in async runs (no
    executor hop); it only stores a number, so it is also safe in the sync strategy's thread.
    """

    run_inline = True
    ignore_chain = True
    ignore_retriever = True
    ignore_agent = True

    def __init__(self) -> None:
        self.output_tokens: int | None = None

    @property
    def callbacks(self) -> list[Any]:
        """This handler, ready for a request's config."""
        return [self]

    def add_output_tokens(self, count: int) -> None:
        """Count tokens a streamed chunk reports (the streaming path calls this, not LangChain)."""
        if count:
            self.output_tokens = (self.output_tokens or 0) + int(count)

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        for generations in response.generations:
            for generation in generations:
                usage = getattr(getattr(generation, "message", None), "usage_metadata", None)
                if usage and usage.get("output_tokens"):
                    self.output_tokens = int(usage["output_tokens"])
                    return
        token_usage = (response.llm_output or {}).get("token_usage") or {}
        if token_usage.get("completion_tokens"):
            self.output_tokens = int(token_usage["completion_tokens"])


def build_prompt(template: str, system: str | None = None) -> ChatPromptTemplate:
    """The prompt of a run: an optional system message, then the template as the user turn."""
    messages: list[tuple[str, str]] = []
    if system:
        messages.append(("system", system))
    messages.append(("human", template))
    return ChatPromptTemplate.from_messages(messages)


def build_chain(
    template: str,
    system: str | None,
    profile: ModelProfile,
    http_async_client: Any = None,
    http_client: Any = None,
) -> FanoutChain:
    """``prompt | model | StrOutputParser()`` for one column, with a lean streaming path."""
    model = build_chat_model(profile, http_async_client, http_client)
    return FanoutChain(
        build_prompt(template, system),
        model,
        timeout_kwarg="timeout" if profile.provider is ProviderKind.OPENAI else None,
    )


class FanoutChain:
    """``prompt | model | StrOutputParser()``: LCEL for whole answers, one layer per chunk streamed.

    ``invoke`` and ``ainvoke`` are the LCEL sequence itself. ``astream`` makes the same three
    steps without LCEL's per-chunk machinery: ``RunnableSequence.astream`` wraps the sequence
    and every streaming step in ``_atransform_stream_with_config``, which awaits each chunk
    through a new asyncio task (to carry context variables) and, for tracing, merges the whole
    answer again at each layer when the stream ends. For a streamed answer that is two tasks
    and four loop callbacks per chunk, and a second merge of every message chunk (~70 ms for
    60,000 chunks) at the end. Here the prompt is formatted once and the model's own
    ``astream`` is read directly; callbacks still see the run as a chain whose children are
    the prompt and the model (the text parser, a few attribute reads, is not a traced step).
    Same text, chunk for chunk.

    The lean path and the inline parser are the ``lcel-stream`` library hook
    (:mod:`gui.compat.lcel`): decided when the chain is built, and in plain mode or on an
    untested langchain-core ``astream`` is plain ``(prompt | model | StrOutputParser()).astream``.
    """

    def __init__(
        self,
        prompt: ChatPromptTemplate,
        model: Runnable[Any, Any],
        *,
        timeout_kwarg: str | None = None,
    ) -> None:
        self.prompt = prompt
        self.model = model
        #: Whether ``astream`` takes the lean path (the ``lcel-stream`` hook is on).
        self.lean = lean_stream_enabled()
        self.lcel: Runnable[Any, str] = prompt | model | str_parser()
        #: The model's per-request timeout argument (ChatOpenAI: ``timeout``), if it has one.
        self.timeout_kwarg = timeout_kwarg
        self._timed: dict[float, Runnable[Any, str]] = {}

    def invoke(self, input: Any, config: RunnableConfig | None = None) -> str:
        """The whole answer (blocking; the sync strategy calls it from a worker thread).

        With ``config["configurable"][REQUEST_TIMEOUT_KEY]`` (the engine's timeout) the HTTP
        request itself gives up shortly after it: the engine cannot cancel a thread, and a
        stalled server would otherwise hold the thread and its socket for ``HTTP_TIMEOUT``.
        """
        limit = ((config or {}).get("configurable") or {}).get(REQUEST_TIMEOUT_KEY)
        if limit is None or self.timeout_kwarg is None:
            return self.lcel.invoke(input, config)
        seconds = float(limit) + BLOCKING_TIMEOUT_GRACE
        chain = self._timed.get(seconds)
        if chain is None:
            bound = self.model.bind(**{self.timeout_kwarg: seconds})
            chain = self._timed.setdefault(seconds, self.prompt | bound | str_parser())
        return chain.invoke(input, config)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None) -> str:
        """The whole answer."""
        return await self.lcel.ainvoke(input, config)

    def astream(self, input: Any, config: RunnableConfig | None = None) -> AsyncIterator[str]:
        """The answer's text, chunk by chunk: the lean path, or LCEL's own ``astream``."""
        if self.lean:
            return self._lean_astream(input, config)
        # Plain: the collector stays a callback and reads the usage in on_llm_end.
        return self.lcel.astream(input, config)

    async def _lean_astream(
        self, input: Any, config: RunnableConfig | None = None
    ) -> AsyncIterator[str]:
        """The answer's text, chunk by chunk, as ``self.lcel.astream`` would give it."""
        config = ensure_config(config)
        # Usage is read off the chunks here, so the collector leaves the callbacks: any handler
        # on the model makes LangChain dispatch every token to every handler (a gather each).
        probe, config = _take_usage_collector(config)
        run = await start_sequence_run(config, input)
        parts: list[str] = []
        try:
            value = await self.prompt.ainvoke(input, step_config(config, run, 1))
            step = step_config(config, run, 2)
            # aclosing: a consumer that stops early closes the model's stream (and its HTTP
            # response) now, not when the garbage collector finds it.
            stream = cast(AsyncGenerator[Any, None], self.model.astream(value, step))
            async with aclosing(stream):
                async for chunk in stream:
                    usage = getattr(chunk, "usage_metadata", None)
                    if usage and probe is not None:
                        probe.add_output_tokens(usage.get("output_tokens") or 0)
                    content = chunk.content
                    # str(): .text is a str subclass the cyclic GC tracks; keep plain str.
                    text = content if type(content) is str else str(chunk.text)
                    if text:
                        parts.append(text)
                        yield text
        except BaseException as exc:
            await run.on_chain_error(exc)
            raise
        await run.on_chain_end("".join(parts))


def _take_usage_collector(config: RunnableConfig) -> tuple[UsageCollector | None, RunnableConfig]:
    """The config's :class:`UsageCollector` (if any) and the config without it."""
    callbacks = config.get("callbacks")
    if not isinstance(callbacks, list):
        return None, config
    probe = next((h for h in callbacks if isinstance(h, UsageCollector)), None)
    if probe is None:
        return None, config
    # A copy, not patch_config: that would also drop the run's name, which belongs to it.
    return probe, {**config, "callbacks": [h for h in callbacks if h is not probe]}


class LangChainBackend:
    """Implements :class:`gui.core.ports.Backend` with LangChain runnables.

    Owns the HTTP clients of the OpenAI-compatible models it builds (one for async calls, one
    for the sync strategy's blocking calls), so that closing the window or ending a command
    closes their connections (:meth:`aclose`) instead of leaving that to the GC, or, for the
    blocking client langchain-openai would otherwise share per base URL, to nobody.
    ``chain`` may be called from a worker thread (the engine builds chains off the loop).
    """

    def __init__(self) -> None:
        self._http: Any = None
        self._http_sync: Any = None
        self._lock = threading.Lock()

    def chain(self, template: str, system: str | None, profile: ModelProfile) -> ChainLike:
        """The LCEL chain for one column."""
        if profile.provider is not ProviderKind.OPENAI:
            return cast(ChainLike, build_chain(template, system, profile))
        with self._lock:
            if self._http is None:
                self._http = new_async_http_client()
            if self._http_sync is None:
                self._http_sync = new_http_client()
            clients = self._http, self._http_sync
        chain = build_chain(template, system, profile, *clients)
        freeze_import_heap()
        return cast(ChainLike, chain)

    async def aclose(self) -> None:
        """Close the HTTP connections this backend opened."""
        with self._lock:
            client, self._http = self._http, None
            sync_client, self._http_sync = self._http_sync, None
        if sync_client is not None:
            # A blocking call still in its thread fails at once instead of holding its socket.
            sync_client.close()
        if client is not None:
            await client.aclose()

    def batch_runnable(self, fn: Callable[[Cell], Awaitable[object]]) -> BatchLike:
        """A ``RunnableLambda`` so that LangChain's own ``abatch`` does the fan-out."""

        async def cell_fn(cell: Cell) -> object:
            return await fn(cell)

        return cast(BatchLike, RunnableLambda(cell_fn, name="fanout cell"))

    def usage_probe(self) -> UsageCollector:
        """A fresh usage collector."""
        return UsageCollector()

    def classify(self, exc: BaseException, profile: ModelProfile) -> Failure | None:
        """See :func:`gui.providers.errors.classify`."""
        return classify(exc, profile)
