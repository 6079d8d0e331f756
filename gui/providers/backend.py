"""The engine's provider backend on LangChain: LCEL chains, batch runnables, usage, errors,
and, per request, the response cache and structured output (issue 15)."""

from __future__ import annotations

import json
import logging
import threading
import time
import warnings
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from langchain_core.caches import BaseCache
from langchain_core.callbacks import BaseCallbackHandler, BaseCallbackManager
from langchain_core.load import dumps
from langchain_core.messages import BaseMessage, SystemMessage
from langchain_core.outputs import LLMResult
from langchain_core.prompt_values import ChatPromptValue
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.runnables.config import (
    RunnableConfig,
    ensure_config,
    get_async_callback_manager_for_config,
)

from gui.compat.gc_policy import freeze_import_heap
from gui.compat.lcel import (
    DirectStream,
    direct_stream,
    direct_stream_enabled,
    finish_reason_of,
    format_prompt,
    generate_unheard,
    lean_stream_enabled,
    nobody_hears,
    start_sequence_run,
    step_config,
    str_parser,
    unheard_merges,
)
from gui.core.caching import USE_CACHE_KEY
from gui.core.chat import Message
from gui.core.cleantext import clean, clean_json
from gui.core.errors import Failure
from gui.core.keys import HeldKeys
from gui.core.ports import BatchLike, ChainLike, JudgeChainLike, KeySource
from gui.core.runner import MAX_ANSWER_CHARS_KEY, REQUEST_TIMEOUT_KEY
from gui.core.spec import Cell, ModelProfile, ProviderKind
from gui.core.structured import JSON_SCHEMA_KEY, response_format_of, schema_instruction
from gui.core.templates import prompt_messages
from gui.providers.cache import CachedAnswer, cached_answer, generations_of
from gui.providers.errors import classify
from gui.providers.models import build_chat_model, new_async_http_client, new_http_client
from gui.providers.threads import thread_prompt, to_langchain
from gui.providers.wire import AnswerCutOff, BadShape, NotStreamed, Watch, watching

#: What a whole JSON answer to a streaming request is called on its cell when it is kept.
#: Shown on the cell's footer, so it is short and says what it is first.
NOT_STREAMED_NOTE = "not streamed: the server sent the whole answer at once"

#: The notes a cell replayed from the response cache may carry over from its original.
_REPLAYED_NOTES: frozenset[str | None] = frozenset({NOT_STREAMED_NOTE})

#: Bytes buffered for one server-sent event at most, per character of the answer size cap:
#: JSON may spell a character as a 12-byte surrogate pair, and an event carries its envelope.
_EVENT_BYTES_PER_CHAR = 12
_EVENT_ENVELOPE_BYTES = 1 << 20
#: Bytes a whole stream may take per character of the cap: a streamed token costs an event of
#: ~200 bytes of JSON for a few characters of text, so this leaves a wide margin (512 MB of
#: wire at the default cap) and still ends a stream of events without text.
_STREAM_BYTES_PER_CHAR = 256

_E = TypeVar("_E", bound=BaseException)

log = logging.getLogger(__name__)

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
        #: Prompt tokens the provider reported, or ``None``.
        self.input_tokens: int | None = None
        #: Why the server said the answer ended (``stop``, ``length``, ...), if it said.
        self.finish_reason: str | None = None
        #: A note for the cell about how the answer came, if any (see ``NOT_STREAMED_NOTE``).
        self.note: str | None = None
        #: The answer came from the response cache (no request was made).
        self.cached = False
        #: For a cached answer: the latency and time to first token of its original request.
        self.original_latency: float | None = None
        self.original_ttft: float | None = None

    @property
    def callbacks(self) -> list[Any]:
        """This handler, ready for a request's config."""
        return [self]

    def add_output_tokens(self, count: int) -> None:
        """Count tokens a streamed chunk reports (the streaming path calls this, not LangChain)."""
        if count:
            self.output_tokens = (self.output_tokens or 0) + int(count)

    def add_usage(self, usage: Mapping[str, Any]) -> None:
        """Count the input and output tokens a streamed chunk's ``usage_metadata`` reports."""
        self.add_output_tokens(usage.get("output_tokens") or 0)
        count = usage.get("input_tokens") or 0
        if count:
            self.input_tokens = (self.input_tokens or 0) + int(count)

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        for generations in response.generations:
            for generation in generations:
                reason = (generation.generation_info or {}).get("finish_reason")
                message = getattr(generation, "message", None)
                if not reason and message is not None:
                    reason = (getattr(message, "response_metadata", None) or {}).get(
                        "finish_reason"
                    )
                if isinstance(reason, str) and reason:
                    self.finish_reason = reason
        for generations in response.generations:
            for generation in generations:
                usage = getattr(getattr(generation, "message", None), "usage_metadata", None)
                if usage and usage.get("output_tokens"):
                    self.output_tokens = int(usage["output_tokens"])
                    if usage.get("input_tokens"):
                        self.input_tokens = int(usage["input_tokens"])
                    return
        token_usage = (response.llm_output or {}).get("token_usage") or {}
        if token_usage.get("completion_tokens"):
            self.output_tokens = int(token_usage["completion_tokens"])
        if token_usage.get("prompt_tokens"):
            self.input_tokens = int(token_usage["prompt_tokens"])


class StreamUsageSupport:
    """Which servers refuse ``stream_options`` (asking for usage in a stream), per base URL.

    ``ChatOpenAI`` asks for streaming usage only from OpenAI's own API; for a custom base URL
    the models here ask too (``stream_usage=True``), since local servers then report their
    token counts. Some (older vLLM, llama.cpp builds) answer such a request with a 400. The
    stream is then sent again without the option and the server is remembered, so its next
    requests do not pay the refused one again. Shared by every chain of a backend; safe
    across threads.
    """

    def __init__(self) -> None:
        self._refusing: set[str] = set()
        self._lock = threading.Lock()

    @staticmethod
    def _key(base_url: str | None) -> str:
        return (base_url or "").strip().rstrip("/").lower()

    def refuses(self, base_url: str | None) -> bool:
        """Whether the server at ``base_url`` refused ``stream_options`` before."""
        with self._lock:
            return self._key(base_url) in self._refusing

    def remember_refusal(self, base_url: str | None) -> None:
        """The server at ``base_url`` refused ``stream_options``: do not ask it again."""
        with self._lock:
            self._refusing.add(self._key(base_url))


def refuses_stream_options(exc: BaseException) -> bool:
    """Whether ``exc`` is a server's 400 for the ``stream_options`` field it does not know."""
    cur: BaseException | None = exc
    for _ in range(5):  # the SDK's error may be wrapped
        if cur is None:
            return False
        status = getattr(cur, "status_code", None)
        if status == 400 and "stream_options" in str(cur).lower():
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def build_prompt(
    template: str, system: str | None = None, context: Sequence[tuple[str, str]] = ()
) -> ChatPromptTemplate:
    """The prompt of a run: an optional system message, then the template as the user turn.

    The messages come from :func:`~gui.core.templates.prompt_messages`, which the Focus view
    fills to show what a cell sent. ``context`` (a chat's thread, run over inputs) goes
    between them as a placeholder filled in advance: braces in it are never variables.
    """
    messages = prompt_messages(template, system)
    if not context:
        return ChatPromptTemplate.from_messages(messages)
    at = len(messages) - 1  # before the template's user turn
    parts: list[Any] = [*messages[:at], MessagesPlaceholder(_CONTEXT_VARIABLE), messages[at]]
    prompt = ChatPromptTemplate.from_messages(parts)
    return prompt.partial(**{_CONTEXT_VARIABLE: to_langchain(context)})


#: The context placeholder's variable; filled in advance, never a template variable.
_CONTEXT_VARIABLE = "fanout_context"


def build_thread_chain(
    messages: Sequence[Message],
    profile: ModelProfile,
    http_async_client: Any = None,
    http_client: Any = None,
    *,
    keys: KeySource | None = None,
    usage_support: StreamUsageSupport | None = None,
) -> FanoutChain:
    """A chat column's chain: its message list (see :mod:`gui.providers.threads`) | model.

    The list is converted here, once (the engine builds chains in a worker thread), and the
    chain streams it as it is (``messages``): the prompt is not formatted again on the loop.
    """
    model = build_chat_model(profile, keys, http_async_client, http_client)
    built = to_langchain(messages)
    return FanoutChain(
        thread_prompt(built),
        model,
        messages=built,
        timeout_kwarg="timeout" if profile.provider is ProviderKind.OPENAI else None,
        usage=_usage_target(profile, usage_support),
    )


def build_chain(
    template: str,
    system: str | None,
    profile: ModelProfile,
    http_async_client: Any = None,
    http_client: Any = None,
    *,
    keys: KeySource | None = None,
    context: Sequence[tuple[str, str]] = (),
    usage_support: StreamUsageSupport | None = None,
    cache: BaseCache | None = None,
    formats: FormatMemory | None = None,
) -> FanoutChain:
    """``prompt | model | StrOutputParser()`` for one column, with a lean streaming path.

    ``keys`` resolves the profile's ``key_ref`` (see :func:`build_chat_model`);
    ``usage_support`` remembers the servers that refuse streaming usage (a fresh one if
    ``None``); ``cache`` is the response cache and ``formats`` the servers known to refuse
    ``json_schema`` (see :class:`FanoutChain`).
    """
    model = build_chat_model(profile, keys, http_async_client, http_client)
    openai = profile.provider is ProviderKind.OPENAI
    # A lone surrogate (an undecodable byte of a file or the command line) cannot be sent as
    # UTF-8 JSON: the request carries U+FFFD instead, as the stored copy of the run shows it.
    template = clean(template)[0]
    system = None if system is None else clean(system)[0]
    context = [(role, clean(text)[0]) for role, text in context]
    return FanoutChain(
        build_prompt(template, system, context),
        model,
        timeout_kwarg="timeout" if openai else None,
        usage=_usage_target(profile, usage_support),
        cache=cache,
        base_url=profile.base_url if openai else f"simulated:{profile.model}",
        formats=formats,
        response_format=openai,
    )


def _usage_target(
    profile: ModelProfile, support: StreamUsageSupport | None
) -> tuple[StreamUsageSupport, str] | None:
    """What a chain of ``profile`` needs to fall back from streaming usage, if it asks for it."""
    if profile.provider is not ProviderKind.OPENAI or not profile.base_url:
        return None
    return (support if support is not None else StreamUsageSupport()), profile.base_url


class FanoutChain:
    """``prompt | model | StrOutputParser()``: LCEL for whole answers, one layer per chunk streamed.

    ``invoke`` and ``ainvoke`` are the LCEL sequence itself. ``astream`` makes the same three
    steps without LCEL's per-chunk machinery: ``RunnableSequence.astream`` wraps the sequence
    and every streaming step in ``_atransform_stream_with_config``, which awaits each chunk
    through a new asyncio task (to carry context variables) and, for tracing, merges the whole
    answer again at each layer when the stream ends. For a streamed answer that is two tasks
    and four loop callbacks per chunk, and a second merge of every message chunk at the end, a
    visible pause after a long answer (docs/performance-notes.md). Here the prompt is formatted once and the model's own
    ``astream`` is read directly; callbacks still see the run as a chain whose children are
    the prompt and the model (the text parser, a few attribute reads, is not a traced step).
    Same text, chunk for chunk.

    The lean path and the inline parser are the ``lcel-stream`` library hook
    (:mod:`gui.compat.lcel`): decided when the chain is built, and in plain mode or on an
    untested langchain-core ``astream`` is plain ``(prompt | model | StrOutputParser()).astream``.

    A request whose config allows the response cache (:data:`gui.core.caching.USE_CACHE_KEY`)
    or carries a JSON schema (:data:`gui.core.structured.JSON_SCHEMA_KEY`) takes the ``_with``
    paths: the cache is looked up first through LangChain's ``BaseCache`` interface (the
    installed langchain-core's ``BaseChatModel.astream`` never reads one, so the chain does it
    for every call mode, with one key), and a structured request asks the server for JSON
    (see :meth:`_bound`, :meth:`_structured`). Without either, the paths above are unchanged.
    """

    def __init__(
        self,
        prompt: ChatPromptTemplate,
        model: Runnable[Any, Any],
        *,
        timeout_kwarg: str | None = None,
        usage: tuple[StreamUsageSupport, str] | None = None,
        cache: BaseCache | None = None,
        base_url: str | None = None,
        formats: FormatMemory | None = None,
        response_format: bool = False,
        messages: Sequence[BaseMessage] | None = None,
    ) -> None:
        self.prompt = prompt
        #: What ``prompt`` always yields, when it has no variables (a chat thread's list): the
        #: streamed and cached paths send it as it is, with no formatting on the loop (which
        #: for a prompt of hundreds of messages serializes all of them for the callbacks).
        self.fixed: tuple[BaseMessage, ...] | None = None if messages is None else tuple(messages)
        self.model = model
        #: The servers' memory and this chain's base URL, when its model asks a custom
        #: server for streaming usage (see :class:`StreamUsageSupport`).
        self.usage = usage
        #: The response cache, read and filled when a request's config allows it.
        self.cache = cache
        #: The server's base URL: part of every cache key, and what ``formats`` is kept by.
        self.base_url = base_url
        #: Which servers refused ``json_schema`` (shared by every chain of the backend).
        self.formats = formats if formats is not None else FormatMemory()
        #: Whether the model takes OpenAI's ``response_format`` (else a schema is asked for
        #: in the messages only).
        self.response_format = response_format
        self._llm_strings: dict[tuple[str, str], str] = {}
        #: Whether ``astream`` takes the lean path (the ``lcel-stream`` hook is on).
        self.lean = lean_stream_enabled()
        self.lcel: Runnable[Any, str] = prompt | model | str_parser()
        #: The model's per-request timeout argument (ChatOpenAI: ``timeout``), if it has one.
        self.timeout_kwarg = timeout_kwarg
        self._timed: dict[float, Runnable[Any, str]] = {}

    def _lcel_without_stream_usage(self) -> Runnable[Any, str]:
        """The LCEL chain whose model asks for no streaming usage (plain mode's fallback)."""
        return self.prompt | self.model.bind(stream_usage=False) | str_parser()

    def invoke(self, input: Any, config: RunnableConfig | None = None) -> str:
        """The whole answer (blocking; the sync strategy calls it from a worker thread).

        With ``config["configurable"][REQUEST_TIMEOUT_KEY]`` (the engine's timeout) the HTTP
        request itself gives up shortly after it: the engine cannot cancel a thread, and a
        stalled server would otherwise hold the thread and its socket for ``HTTP_TIMEOUT``.
        """
        input = _sendable(input)
        # Set here, in the worker thread: a context variable does not cross into it.
        with watching(Watch(_wire_bound(config), streaming=False)):
            options = _call_options(config, self.cache)
            if options is not None:
                return self._invoke_with(input, config, options)
            return self._invoke(input, config)

    def _invoke(self, input: Any, config: RunnableConfig | None) -> str:
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
        """The whole answer; its body may not pass the bound the answer size cap sets."""
        input = _sendable(input)
        with watching(Watch(_wire_bound(config), streaming=False)):
            options = _call_options(config, self.cache)
            if options is not None:
                return await self._ainvoke_with(input, config, options)
            return await self.lcel.ainvoke(input, config)

    def astream(self, input: Any, config: RunnableConfig | None = None) -> AsyncIterator[str]:
        """The answer's text, chunk by chunk: the lean path, or LCEL's own ``astream``.

        Either way the stream counts as finished only when the server said so: a
        ``finish_reason`` or ``data: [DONE]`` (seen by the wire watch).
        """
        input = _sendable(input)
        options = _call_options(config, self.cache)
        if options is not None:
            return self._astream_with(input, config, options)
        return self._stream(input, config)

    def _stream(
        self,
        input: Any,
        config: RunnableConfig | None,
        *,
        model: Runnable[Any, Any] | None = None,
        messages: Sequence[BaseMessage] | None = None,
    ) -> AsyncIterator[str]:
        """The text stream of one request, by the leanest path that gives the same text,
        end and usage: the model's ``_astream`` read directly when nobody hears the call (the
        ``direct-stream`` hook), else the lean path (``lcel-stream``), else plain LCEL.

        ``model`` and ``messages``: see :meth:`_lean_astream`. Decided here, when the stream
        is asked for, so that no extra generator stands between the chunks and the caller.
        """
        if not self.lean:
            return self._plain_astream(input, config, model=model, messages=messages)
        if direct_stream_enabled():
            config = ensure_config(config)
            # The usage collector is read off the chunks, never called: it hears nothing.
            probe, unheard = _take_usage_collector(config)
            how = direct_stream(
                self.model if model is None else model,
                get_async_callback_manager_for_config(unheard),
            )
            if how is not None:
                return self._direct_astream(how, input, probe, messages, config)
        return self._lean_astream(input, config, model=model, messages=messages)

    # -- the response cache and structured output (issue 15) ---------------------------------

    def _method(self, schema: Mapping[str, Any] | None) -> str:
        """How this chain asks for JSON: ``json_schema``, ``json_mode``, ``prompt`` or ``""``."""
        if schema is None:
            return ""
        if not self.response_format:
            return METHOD_PROMPT
        return METHOD_JSON_MODE if self.formats.json_mode(self.base_url) else METHOD_JSON_SCHEMA

    def _messages(
        self, input: Any, method: str, schema: Mapping[str, Any] | None
    ) -> list[BaseMessage]:
        """The prompt's messages; without ``json_schema`` support, with the schema in them."""
        if self.fixed is not None:
            messages = list(self.fixed)
        else:
            messages = list(self.prompt.invoke(input).to_messages())
        if schema is None or method == METHOD_JSON_SCHEMA:
            return messages
        return with_instruction(messages, schema_instruction(schema))

    def _bound(self, method: str, schema: Mapping[str, Any] | None) -> Runnable[Any, Any]:
        """The model asked for JSON the way ``method`` says (the streamed path's model).

        The same ``response_format`` ``with_structured_output`` binds (langchain-openai's
        ``json_schema`` and ``json_mode`` branches are ``self.bind(response_format=...)``
        followed by a JSON parser), so the raw JSON text can stream into the pane and be
        parsed when it ends.
        """
        if schema is None or method == METHOD_PROMPT:
            return self.model
        if method == METHOD_JSON_MODE:
            return self.model.bind(response_format={"type": "json_object"})
        return self.model.bind(response_format=response_format_of(schema))

    def _structured(self, method: str, schema: Mapping[str, Any]) -> Runnable[Any, Any]:
        """``with_structured_output(..., include_raw=True)`` for the whole-answer calls."""
        if method == METHOD_PROMPT:
            return self.model
        target = cast(Any, self.model)
        if method == METHOD_JSON_MODE:
            return cast(
                Runnable[Any, Any],
                target.with_structured_output(dict(schema), method="json_mode", include_raw=True),
            )
        return cast(
            Runnable[Any, Any],
            target.with_structured_output(
                response_format_of(schema)["json_schema"], method="json_schema", include_raw=True
            ),
        )

    def _llm_string(self, method: str, schema: Mapping[str, Any] | None) -> str:
        """The cache's model string: LangChain's ``llm_string`` (the model and its
        parameters), the base URL, and how JSON was asked for."""
        text = json.dumps(schema, sort_keys=True) if schema is not None else ""
        known = self._llm_strings.get((method, text))
        if known is None:
            getter = getattr(self.model, "_get_llm_string", None)
            base = getter() if callable(getter) else repr(self.model)
            extra = json.dumps({"base_url": self.base_url, "json": method, "schema": text})
            known = self._llm_strings.setdefault((method, text), f"{base}---{extra}")
        return known

    async def _astream_with(
        self, input: Any, config: RunnableConfig | None, options: CallOptions
    ) -> AsyncIterator[str]:
        """The streamed answer through the cache and/or as structured output.

        A cached answer is replayed at once, as one chunk; a new one is streamed as usual
        (the raw JSON text of a structured run shows while it comes) and stored when the
        server has finished it. A server that refuses ``json_schema`` before any text is asked
        again in JSON mode, and remembered.
        """
        probe = _find_usage_collector(config)
        method = self._method(options.schema)
        messages = self._messages(input, method, options.schema)
        if options.use_cache and self.cache is not None:
            hit = await self._alookup(messages, method, options.schema)
            if hit is not None:
                _note_cached(probe, hit)
                if hit.text:
                    yield hit.text
                return
        started = time.monotonic()
        first: float | None = None
        parts: list[str] = []
        while True:
            try:
                agen = self._stream(
                    input, config, model=self._bound(method, options.schema), messages=messages
                )
                async with aclosing(cast(AsyncGenerator[str, None], agen)):
                    async for text in agen:
                        if first is None:
                            first = time.monotonic()
                        parts.append(text)
                        yield text
                break
            except Exception as exc:
                if parts or method != METHOD_JSON_SCHEMA or not _refuses_structured_output(exc):
                    raise
                self.formats.remember_json_mode(self.base_url)
                method = METHOD_JSON_MODE
                messages = self._messages(input, method, options.schema)
        if options.use_cache and self.cache is not None and parts:
            await self._store(
                messages, method, options.schema, "".join(parts), probe, started, first
            )

    async def _ainvoke_with(
        self, input: Any, config: RunnableConfig | None, options: CallOptions
    ) -> str:
        """The whole answer through the cache and/or as structured output (see
        :meth:`_astream_with`); a structured reply is returned as its raw text."""
        probe = _find_usage_collector(config)
        method = self._method(options.schema)
        messages = self._messages(input, method, options.schema)
        if options.use_cache and self.cache is not None:
            hit = await self._alookup(messages, method, options.schema)
            if hit is not None:
                _note_cached(probe, hit)
                return hit.text
        started = time.monotonic()
        while True:
            try:
                if options.schema is None:
                    text = await (self.model | str_parser()).ainvoke(messages, config)
                else:
                    out = await self._structured(method, options.schema).ainvoke(messages, config)
                    text = _raw_text(out)
                break
            except Exception as exc:
                if method != METHOD_JSON_SCHEMA or not _refuses_structured_output(exc):
                    raise
                self.formats.remember_json_mode(self.base_url)
                method = METHOD_JSON_MODE
                messages = self._messages(input, method, options.schema)
        if options.use_cache and self.cache is not None and text:
            await self._store(messages, method, options.schema, text, probe, started, None)
        return text

    def _invoke_with(self, input: Any, config: RunnableConfig | None, options: CallOptions) -> str:
        """The blocking twin of :meth:`_ainvoke_with` (the sync strategy's worker thread)."""
        probe = _find_usage_collector(config)
        method = self._method(options.schema)
        messages = self._messages(input, method, options.schema)
        key = dumps(messages)
        if options.use_cache and self.cache is not None:
            hit = self._lookup(key, method, options.schema)
            if hit is not None:
                _note_cached(probe, hit)
                return hit.text
        limit = ((config or {}).get("configurable") or {}).get(REQUEST_TIMEOUT_KEY)
        model = self.model
        if limit is not None and self.timeout_kwarg is not None:
            # As in _invoke: the HTTP request gives up shortly after the engine's timeout.
            model = model.bind(**{self.timeout_kwarg: float(limit) + BLOCKING_TIMEOUT_GRACE})
        started = time.monotonic()
        while True:
            runnable = (
                model | str_parser()
                if options.schema is None
                else self._structured(method, options.schema)
            )
            try:
                out = runnable.invoke(messages, config)
                text = str(out) if options.schema is None else _raw_text(out)
                break
            except Exception as exc:
                if method != METHOD_JSON_SCHEMA or not _refuses_structured_output(exc):
                    raise
                self.formats.remember_json_mode(self.base_url)
                method = METHOD_JSON_MODE
                messages = self._messages(input, method, options.schema)
                key = dumps(messages)
        if options.use_cache and self.cache is not None and text and _cacheable(text):
            finish = probe.finish_reason if probe is not None else None
            tokens = probe.output_tokens if probe is not None else None
            try:
                self.cache.update(
                    key,
                    self._llm_string(method, options.schema),
                    generations_of(
                        text,
                        finish_reason=finish,
                        output_tokens=tokens,
                        latency=time.monotonic() - started,
                        ttft=None,
                        note=probe.note if probe is not None else None,
                    ),
                )
            except Exception:  # the answer is complete; only its cached copy is lost
                log.warning("could not store an answer in the response cache", exc_info=True)
        return text

    async def _store(
        self,
        messages: Sequence[BaseMessage],
        method: str,
        schema: Mapping[str, Any] | None,
        text: str,
        probe: UsageCollector | None,
        started: float,
        first: float | None,
    ) -> None:
        """Keep a finished answer, with how its request went, for the next identical one.

        Best effort: the answer is complete and already the cell's, so a cache that cannot
        take it (a full disk, a locked or damaged file) costs only the cached copy, never the
        cell. An answer holding lone surrogates is not cached: such text cannot be stored as
        it came, and a replaced copy would later be served without the cell's note that it
        was replaced.
        """
        assert self.cache is not None
        if not _cacheable(text):
            return
        now = time.monotonic()
        try:
            await self.cache.aupdate(
                dumps(list(messages)),
                self._llm_string(method, schema),
                generations_of(
                    text,
                    finish_reason=probe.finish_reason if probe is not None else None,
                    output_tokens=probe.output_tokens if probe is not None else None,
                    latency=now - started,
                    ttft=None if first is None else first - started,
                    note=probe.note if probe is not None else None,
                ),
            )
        except Exception:
            log.warning("could not store an answer in the response cache", exc_info=True)

    async def _alookup(
        self, messages: Sequence[BaseMessage], method: str, schema: Mapping[str, Any] | None
    ) -> CachedAnswer | None:
        """The cached answer of this request, or ``None``; a cache that cannot be read (a
        locked or damaged file) is a miss, so the request goes to the server."""
        assert self.cache is not None
        try:
            found = await self.cache.alookup(
                dumps(list(messages)), self._llm_string(method, schema)
            )
        except Exception:
            log.warning("could not read the response cache", exc_info=True)
            return None
        return cached_answer(found)

    def _lookup(
        self, key: str, method: str, schema: Mapping[str, Any] | None
    ) -> CachedAnswer | None:
        """The blocking twin of :meth:`_alookup` (``key`` is the dumped messages)."""
        assert self.cache is not None
        try:
            found = self.cache.lookup(key, self._llm_string(method, schema))
        except Exception:
            log.warning("could not read the response cache", exc_info=True)
            return None
        return cached_answer(found)

    async def _plain_astream(
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        model: Runnable[Any, Any] | None = None,
        messages: Sequence[BaseMessage] | None = None,
    ) -> AsyncIterator[str]:
        """LCEL's ``astream`` (plain mode) with the same finish check as the lean path.

        With ``messages`` the sequence is ``model | StrOutputParser()`` over them (a
        structured run's binding and schema instruction, see :meth:`_astream_with`).

        The usage collector stays a callback: its ``on_llm_end`` reads the usage and the
        ``finish_reason`` off the merged message, since the text parser drops chunk metadata.
        """
        config = ensure_config(config)
        callbacks = config.get("callbacks")
        listed = callbacks if isinstance(callbacks, list) else None
        probe = next((h for h in listed or () if isinstance(h, UsageCollector)), None)
        if probe is None:
            # Nobody collects usage: a collector of our own hears how the answer ended.
            probe = UsageCollector()
            if listed is not None or callbacks is None:
                config = {**config, "callbacks": [*(listed or ()), probe]}
            elif isinstance(callbacks, BaseCallbackManager):  # a copy with our handler added
                manager = callbacks.copy()
                manager.add_handler(probe, inherit=True)
                config = {**config, "callbacks": manager}
        watch = Watch(
            _wire_bound(config),
            streaming=True,
            max_stream_bytes=_wire_bound(config, _STREAM_BYTES_PER_CHAR),
        )
        lcel: Runnable[Any, str] = self.lcel
        if messages is not None:
            lcel, input = (self.model if model is None else model) | str_parser(), list(messages)
        elif self.usage is not None and self.usage[0].refuses(self.usage[1]):
            lcel = self._lcel_without_stream_usage()
        streamed = False
        with watching(watch):
            try:
                try:
                    async for text in lcel.astream(input, config):
                        streamed = True
                        yield text
                except Exception as exc:
                    # A refusal of stream_options comes before any text: ask once more
                    # without it, and remember the server.
                    if (
                        self.usage is None
                        or lcel is not self.lcel
                        or streamed
                        or not refuses_stream_options(exc)
                    ):
                        raise
                    self.usage[0].remember_refusal(self.usage[1])
                    async for text in self._lcel_without_stream_usage().astream(input, config):
                        yield text
            except Exception as exc:
                whole = _find(exc, NotStreamed)
                if whole is not None and whole.text is not None and not streamed:
                    # A valid answer, just not streamed: keep it, and say how it came, as the
                    # lean paths do. LCEL has already reported the wire's error to its
                    # callbacks (a tracer shows it); the cell is the answer's.
                    probe.finish_reason = whole.finish_reason or "stop"
                    probe.note = NOT_STREAMED_NOTE
                    if whole.text:
                        yield whole.text
                else:
                    if not watch.done and _no_chunks(exc):
                        raise AnswerCutOff("the stream ended before any event") from exc
                    shape = _shape_error(exc)
                    if shape is not None:
                        raise shape from exc
                    raise
        watch.check()
        finish = probe.finish_reason if probe is not None else None
        if finish is None and not watch.done:
            raise AnswerCutOff("the stream ended without a finish_reason or [DONE] from the server")

    async def _direct_astream(
        self,
        how: DirectStream,
        input: Any,
        probe: UsageCollector | None,
        messages: Sequence[BaseMessage] | None,
        config: RunnableConfig,
    ) -> AsyncIterator[str]:
        """The answer's text read straight off the chat model's ``_astream`` (see
        :func:`gui.compat.lcel.direct_stream`): no callback run, since nobody would hear one.

        The same text chunk for chunk as :meth:`_lean_astream`, and the same guarantees: the
        stream counts as finished only when the server said so (a ``finish_reason``, read as
        ``astream``'s message would have carried it, or ``data: [DONE]`` seen by the wire
        watch); a whole JSON answer instead of a stream is kept with a note; a server that
        refuses ``stream_options`` is asked again without it, before any text, and
        remembered; a stream with no chunk at all fails as ``astream``'s would.

        Raises:
            AnswerCutOff: the stream ended without either end mark.
            BadShape: a chunk had the wrong shape or encoding.
            WireError: what else the wire watch found (``event: error``, a bound passed).
        """
        if messages is None:
            messages = self.fixed
        sent = (
            format_prompt(self.prompt, input).to_messages() if messages is None else list(messages)
        )
        extra: dict[str, Any] = {}
        if self.usage is not None and self.usage[0].refuses(self.usage[1]):
            extra["stream_usage"] = False
        finish: str | None = None
        chunks = 0
        while True:
            watch = Watch(
                _wire_bound(config),
                streaming=True,
                max_stream_bytes=_wire_bound(config, _STREAM_BYTES_PER_CHAR),
            )
            with watching(watch):
                try:
                    # aclosing: a consumer that stops early closes the model's stream (and its
                    # HTTP response) now, not when the garbage collector finds it.
                    async with aclosing(
                        cast(AsyncGenerator[Any, None], how.open(sent, **extra))
                    ) as stream:
                        async for chunk in stream:
                            chunks += 1
                            message = chunk.message
                            usage = getattr(message, "usage_metadata", None)
                            if usage and probe is not None:
                                probe.add_usage(usage)
                            reason = finish_reason_of(chunk)
                            if reason:
                                finish = str(reason)
                            content = message.content
                            # str(): .text is a str subclass the cyclic GC tracks; keep plain str.
                            text = content if type(content) is str else str(message.text)
                            if text:
                                yield text
                    break
                except Exception as exc:
                    if (
                        not chunks
                        and self.usage is not None
                        and not extra
                        and refuses_stream_options(exc)
                    ):
                        # Before any chunk: ask once more without it, and remember the server.
                        log.info(
                            "%s refuses stream_options: no streaming usage from it", self.usage[1]
                        )
                        self.usage[0].remember_refusal(self.usage[1])
                        extra["stream_usage"] = False
                        continue
                    whole = _find(exc, NotStreamed)
                    if whole is None or whole.text is None:
                        shape = _shape_error(exc)
                        if shape is not None:
                            raise shape from exc
                        raise
                    # A valid answer, just not streamed: keep it, and say how it came.
                    finish = whole.finish_reason or "stop"
                    if probe is not None:
                        probe.note = NOT_STREAMED_NOTE
                    if whole.text:
                        yield whole.text
                    break
        watch.check()
        if not chunks and finish is None:
            if not watch.done:  # the body ended before any event: as cut as a stream can be
                raise AnswerCutOff("the stream ended before any event")
            raise ValueError("No generation chunks were returned")  # astream's own words
        if finish is None and not watch.done:
            raise AnswerCutOff("the stream ended without a finish_reason or [DONE] from the server")
        if probe is not None:
            probe.finish_reason = finish

    async def _open_stream(
        self,
        model: Runnable[Any, Any],
        value: Any,
        step: RunnableConfig,
        config: RunnableConfig,
        unheard: bool,
    ) -> tuple[Watch, AsyncGenerator[Any, None]]:
        """The model's stream, its first chunk already read, and the wire watch it ran under.

        The first chunk is read here so that a server's 400 for ``stream_options`` (which
        comes before any chunk) can be met by asking again without it; the server is then
        remembered (:class:`StreamUsageSupport`). Any other error is raised as it comes.
        """
        extra: dict[str, Any] = {}
        if self.usage is not None and self.usage[0].refuses(self.usage[1]):
            extra["stream_usage"] = False
        while True:
            watch = Watch(
                _wire_bound(config),
                streaming=True,
                max_stream_bytes=_wire_bound(config, _STREAM_BYTES_PER_CHAR),
            )
            # aclosing (by the caller): a consumer that stops early closes the model's stream
            # (and its HTTP response) now, not when the garbage collector finds it.
            stream = cast(AsyncGenerator[Any, None], model.astream(value, step, **extra))
            with watching(watch), unheard_merges(unheard):
                try:
                    first = await anext(stream)
                except StopAsyncIteration:
                    return watch, _replay(())
                except Exception as exc:
                    await stream.aclose()
                    if self.usage is None or extra or not refuses_stream_options(exc):
                        # The caller reads it as it would have from the stream itself.
                        return watch, _raising(exc)
                    log.info("%s refuses stream_options: no streaming usage from it", self.usage[1])
                    self.usage[0].remember_refusal(self.usage[1])
                    extra["stream_usage"] = False
                    continue
            return watch, _chain_first(first, stream)

    async def _lean_astream(
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        model: Runnable[Any, Any] | None = None,
        messages: Sequence[BaseMessage] | None = None,
    ) -> AsyncIterator[str]:
        """The answer's text, chunk by chunk, as ``self.lcel.astream`` would give it.

        The stream counts as finished only when the server said so: a ``finish_reason`` (kept
        on the usage probe) or ``data: [DONE]`` (seen by the wire watch). A whole JSON answer
        sent instead of a stream is kept, with a note on the probe. ``model`` and ``messages``
        replace the chain's model and formatted prompt (a structured run's ``response_format``
        binding and schema instruction, see :meth:`_astream_with`); without ``messages``, a
        chain with :attr:`fixed` messages sends those, else its prompt formatted.

        Raises:
            AnswerCutOff: the stream ended without either.
            BadShape: a chunk had the wrong shape or encoding.
            WireError: what else the wire watch found (``event: error``, a bound passed).
        """
        config = ensure_config(config)
        # Usage is read off the chunks here, so the collector leaves the callbacks: any handler
        # on the model makes LangChain dispatch every token to every handler (a gather each).
        probe, config = _take_usage_collector(config)
        run = await start_sequence_run(config, input)
        parts: list[str] = []
        finish: str | None = None
        model = self.model if model is None else model
        try:
            if messages is None:
                messages = self.fixed
            if messages is None:
                value = await self.prompt.ainvoke(input, step_config(config, run, 1))
            else:
                value = ChatPromptValue(messages=list(messages))
            step = step_config(config, run, 2)
            # No handler hears the model's end (the usage collector left above): its merge
            # of every chunk, a pause at the end of a long answer, is skipped (a gated hook).
            unheard = nobody_hears(step["callbacks"], model)
            watch, stream = await self._open_stream(model, value, step, config, unheard)
            with watching(watch), unheard_merges(unheard):
                try:
                    async with aclosing(stream):
                        async for chunk in stream:
                            usage = getattr(chunk, "usage_metadata", None)
                            if usage and probe is not None:
                                probe.add_usage(usage)
                            meta = chunk.response_metadata
                            if meta and meta.get("finish_reason"):
                                finish = str(meta["finish_reason"])
                            content = chunk.content
                            # str(): .text is a str subclass the cyclic GC tracks; keep plain str.
                            text = content if type(content) is str else str(chunk.text)
                            if text:
                                parts.append(text)
                                yield text
                except Exception as exc:
                    whole = _find(exc, NotStreamed)
                    if whole is None and not watch.done and _no_chunks(exc):
                        # The body ended before any event: as cut as a stream can be.
                        raise AnswerCutOff("the stream ended before any event") from exc
                    if whole is None or whole.text is None:
                        shape = _shape_error(exc)
                        if shape is not None:
                            raise shape from exc
                        raise
                    # A valid answer, just not streamed: keep it, and say how it came.
                    finish = whole.finish_reason or "stop"
                    if probe is not None:
                        probe.note = NOT_STREAMED_NOTE
                    if whole.text:
                        parts.append(whole.text)
                        yield whole.text
            watch.check()
            if finish is None and not watch.done:
                raise AnswerCutOff(
                    "the stream ended without a finish_reason or [DONE] from the server"
                )
            if probe is not None:
                probe.finish_reason = finish
        except BaseException as exc:
            await run.on_chain_error(exc)
            raise
        await run.on_chain_end("".join(parts))


async def _raising(exc: BaseException) -> AsyncGenerator[Any, None]:
    """An async generator that raises ``exc`` when first read."""
    raise exc
    yield  # pragma: no cover (makes this a generator)


async def _replay(chunks: Sequence[Any]) -> AsyncGenerator[Any, None]:
    """``chunks`` as an async generator."""
    for chunk in chunks:
        yield chunk


async def _chain_first(first: Any, rest: AsyncGenerator[Any, None]) -> AsyncGenerator[Any, None]:
    """``first``, then every chunk of ``rest`` (closed when this generator is)."""
    async with aclosing(rest):
        yield first
        async for chunk in rest:
            yield chunk


#: How a chain asks for JSON (see :meth:`FanoutChain._method`).
METHOD_JSON_SCHEMA = "json_schema"
METHOD_JSON_MODE = "json_mode"
#: A provider without ``response_format`` (the simulated model): the schema is in the messages.
METHOD_PROMPT = "prompt"


class FormatMemory:
    """Which servers refused ``response_format`` of type ``json_schema``, by base URL.

    Detected once (the server's 400) and remembered for the backend's life, so later cells
    ask in JSON mode at once instead of paying a refused request each. Thread-safe: chains are
    also called from the sync strategy's worker threads.
    """

    def __init__(self) -> None:
        self._json_mode: set[str] = set()
        self._lock = threading.Lock()

    def json_mode(self, base_url: str | None) -> bool:
        """Whether the server at ``base_url`` is asked in JSON mode."""
        with self._lock:
            return (base_url or "") in self._json_mode

    def remember_json_mode(self, base_url: str | None) -> None:
        """The server at ``base_url`` refused ``json_schema``: use JSON mode from now on."""
        with self._lock:
            if (base_url or "") not in self._json_mode:
                log.info("%s refuses json_schema output; JSON mode from now on", base_url)
            self._json_mode.add(base_url or "")


@dataclass(frozen=True, slots=True)
class CallOptions:
    """What a request's config asks of a chain beyond a plain answer.

    Attributes:
        use_cache: Read the response cache first, and fill it with a new answer.
        schema: The JSON schema the answer must follow, or ``None``.
    """

    use_cache: bool
    schema: Mapping[str, Any] | None


def _call_options(config: RunnableConfig | None, cache: BaseCache | None) -> CallOptions | None:
    """The config's cache and schema wishes (:mod:`gui.core.caching`, :mod:`gui.core.structured`);
    ``None`` when it has neither, so the plain paths stay exactly as they were."""
    configurable = (config or {}).get("configurable") or {}
    use_cache = bool(configurable.get(USE_CACHE_KEY)) and cache is not None
    schema = configurable.get(JSON_SCHEMA_KEY)
    if not use_cache and schema is None:
        return None
    return CallOptions(use_cache, schema if isinstance(schema, Mapping) else None)


def with_instruction(messages: Sequence[BaseMessage], instruction: str) -> list[BaseMessage]:
    """``messages`` with ``instruction`` in the system message (added first if there is none).

    One system message, not two: some local chat templates refuse a second one.
    """
    out = list(messages)
    if out and isinstance(out[0], SystemMessage):
        out[0] = SystemMessage(content=f"{out[0].text}\n\n{instruction}")
    else:
        out.insert(0, SystemMessage(content=instruction))
    return out


def _find_usage_collector(config: RunnableConfig | None) -> UsageCollector | None:
    """The config's :class:`UsageCollector`, left where it is."""
    callbacks = (config or {}).get("callbacks")
    if isinstance(callbacks, list):
        return next((h for h in callbacks if isinstance(h, UsageCollector)), None)
    if isinstance(callbacks, BaseCallbackManager):
        return next((h for h in callbacks.handlers if isinstance(h, UsageCollector)), None)
    return None


def _sendable(input: Any) -> Any:
    """A cell's variables as they can be sent: a lone surrogate (an undecodable byte of an
    input file or the command line) cannot be encoded as UTF-8 JSON, so it goes as U+FFFD,
    as the cell's stored copy shows it (with its notice)."""
    if not isinstance(input, Mapping):
        return input
    cleaned, replaced = clean_json(input)
    return cleaned if replaced else input


def _cacheable(text: str) -> bool:
    """Whether ``text`` can be cached as it came: no lone surrogate (which neither the
    message type nor SQLite's UTF-8 can hold)."""
    return not clean(text)[1]


def _note_cached(probe: UsageCollector | None, hit: CachedAnswer) -> None:
    """Tell the cell its answer came from the cache, with the original request's metrics."""
    if probe is None:
        return
    probe.cached = True
    probe.finish_reason = hit.finish_reason or "stop"
    probe.output_tokens = hit.output_tokens
    probe.original_latency = hit.latency
    probe.original_ttft = hit.ttft
    # How the original answer came (not streamed, say) is still true of the replayed one; a
    # cache file is data, so only a note this app writes is taken from it.
    probe.note = hit.note if hit.note in _REPLAYED_NOTES else None


def _raw_text(out: Any) -> str:
    """The reply text of an ``include_raw=True`` structured call, as the server sent it."""
    if isinstance(out, Mapping):
        raw = out.get("raw")
        if raw is not None:
            return str(getattr(raw, "text", None) or getattr(raw, "content", "") or "")
        parsed = out.get("parsed")
        return json.dumps(parsed) if parsed is not None else ""
    text = getattr(out, "text", None)
    if text is not None:
        return str(text)
    return str(getattr(out, "content", out))


def _wire_bound(config: RunnableConfig | None, per_char: int = _EVENT_BYTES_PER_CHAR) -> int:
    """Bytes one event (or a whole JSON answer) may take on the wire, from the answer size cap."""
    cap = ((config or {}).get("configurable") or {}).get(MAX_ANSWER_CHARS_KEY)
    return _EVENT_ENVELOPE_BYTES + per_char * int(cap or 2_000_000)


def _quiet_serializer_warnings() -> None:
    """Keep pydantic's serializer warnings off the user's terminal.

    LangChain dumps each chunk the SDK built without validation; a chunk with a field of the
    wrong type then prints a multi-line ``UserWarning`` on stderr before failing, and the
    failure is reported as one line already (see :func:`_shape_error`). Set on every chain
    build, not once: a ``warnings.catch_warnings`` block (pytest runs each test in one) drops
    filters added inside it when it ends.
    """
    warnings.filterwarnings("ignore", message="Pydantic serializer warnings", category=UserWarning)


def _find(exc: BaseException, kind: type[_E]) -> _E | None:
    """``exc`` or the first exception of ``kind`` it was raised from (the SDK wraps errors)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, kind):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None


def _no_chunks(exc: BaseException) -> bool:
    """Whether ``exc`` is langchain-core's error for a stream that gave no chunk at all."""
    return isinstance(exc, ValueError) and "no generation chunks" in str(exc).lower()


def _shape_error(exc: BaseException) -> BadShape | None:
    """The server's fault behind an error raised while reading its stream, if it is one.

    The SDK and LangChain read a chunk of the wrong shape with no check of their own, and fail
    with whatever Python says (a pydantic ``ValidationError``, ``'list' object has no attribute
    'model_dump'``); the user needs to hear that the server sent it.
    """
    if isinstance(exc, UnicodeDecodeError):
        return BadShape("the stream holds bytes that are not valid UTF-8")
    if type(exc).__name__ == "ValidationError" and type(exc).__module__.startswith("pydantic"):
        errors = getattr(exc, "errors", None)
        try:
            first = errors()[0] if callable(errors) else {}
            field = ".".join(str(p) for p in first.get("loc", ())[:1]) or "a field"
        except Exception:
            field = "a field"
        return BadShape(f"'{field}' of a chunk has the wrong type")
    if isinstance(exc, AttributeError) and "'list' object" in str(exc):
        return BadShape("a chunk is a JSON array, not an object")
    if isinstance(exc, TypeError | AttributeError | KeyError | IndexError):
        return BadShape("a chunk does not have the shape of a chat completion chunk")
    return None


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


class JudgeChain:
    """The judge model: structured output where the provider has it, else plain JSON text.

    OpenAI-compatible profiles are asked through ``with_structured_output(schema,
    method="json_schema", include_raw=True)``: the server's ``response_format`` then holds
    the reply to the schema, and ``include_raw`` keeps the reply even when LangChain could not
    parse it. A server without ``json_schema`` support answers 400; this chain then falls back
    to the plain model for good, whose reply the messages' strict JSON instruction shapes and
    the judge lane's tolerant parser reads. The simulated model has no structured output: it
    answers the JSON prompt in the same shape (sometimes in a code fence, as models do).
    Either way :meth:`ainvoke` returns text, so an unreadable reply is kept as it came.

    A :class:`UsageCollector` in the config's callbacks gets the call's token usage (the
    judge's cost, issue 13). The plain model's call takes the ``lean-invoke`` path when
    nothing can hear it (:func:`gui.compat.lcel.generate_unheard`): the collector is then
    filled from the reply's ``usage_metadata`` instead of from a callback, as the cells' lean
    stream does.
    """

    def __init__(self, model: Runnable[Any, Any], structured: Runnable[Any, Any] | None) -> None:
        self.model = model
        #: The structured-output runnable, or ``None`` (no support, or the server refused it).
        self.structured = structured

    async def ainvoke(self, input: Sequence[tuple[str, str]], config: Any = None) -> str:
        """The judge's reply to the messages ``input``, as text.

        An answer holding a lone surrogate (kept on its cell as the server sent it) cannot be
        sent as UTF-8 JSON: the judge reads U+FFFD there, as the stored answer shows it.
        """
        messages = [(role, clean(text)[0]) for role, text in input]
        if self.structured is not None:
            try:
                out = await self.structured.ainvoke(messages, config)
            except Exception as exc:
                if not _refuses_structured_output(exc):
                    raise
                log.info("judge: the server refuses json_schema output; plain JSON from now on")
                self.structured = None
            else:
                return _structured_text(out)
        probe, unheard = _take_usage_collector(ensure_config(config))
        message = await generate_unheard(self.model, messages, unheard)
        if message is None:
            message = await self.model.ainvoke(messages, config)
        elif probe is not None:
            usage = getattr(message, "usage_metadata", None)
            if usage:
                probe.add_usage(usage)
            reason = (getattr(message, "response_metadata", None) or {}).get("finish_reason")
            if isinstance(reason, str) and reason:
                probe.finish_reason = reason
        return str(getattr(message, "text", None) or getattr(message, "content", "") or "")


def _structured_text(out: Any) -> str:
    """The reply text of an ``include_raw=True`` structured call: its JSON, else the raw reply."""
    if isinstance(out, Mapping):
        parsed = out.get("parsed")
        if isinstance(parsed, Mapping):
            return json.dumps(dict(parsed))
        raw = out.get("raw")
        if raw is not None:
            calls = getattr(raw, "tool_calls", None) or ()
            if calls:
                return json.dumps(calls[0].get("args") or {})
            return str(getattr(raw, "text", None) or getattr(raw, "content", "") or "")
    return json.dumps(out) if isinstance(out, dict) else str(out)


def _refuses_structured_output(exc: BaseException) -> bool:
    """Whether ``exc`` is a server's 400 for the ``response_format`` it does not support."""
    status = getattr(exc, "status_code", None)
    text = str(exc).lower()
    return status == 400 and ("response_format" in text or "json_schema" in text)


class LangChainBackend:
    """Implements :class:`gui.core.ports.Backend` with LangChain runnables.

    Owns the HTTP clients of the OpenAI-compatible models it builds (one for async calls, one
    for the sync strategy's blocking calls), so that closing the window or ending a command
    closes their connections (:meth:`aclose`) instead of leaving that to the GC, or, for the
    blocking client langchain-openai would otherwise share per base URL, to nobody.
    ``chain`` may be called from a worker thread (the engine builds chains off the loop).

    Args:
        keys: Where the key a profile names (``key_ref``) is found when its model is built:
            the window's key service, the CLI's keys read for ``--profile``. Default: no saved
            keys, so only a profile's environment variable is used.
        cache: The response cache (:class:`gui.providers.cache.SqliteResponseCache`) the
            chains read and fill when a run allows it, or ``None`` for none.
    """

    def __init__(self, keys: KeySource | None = None, cache: BaseCache | None = None) -> None:
        self._keys: KeySource = keys if keys is not None else HeldKeys()
        self._cache = cache
        self._formats = FormatMemory()
        self._http: Any = None
        self._http_sync: Any = None
        self._lock = threading.Lock()
        #: Servers that refuse streaming usage, remembered for every chain of this backend.
        self.usage_support = StreamUsageSupport()

    def chain(
        self,
        template: str,
        system: str | None,
        profile: ModelProfile,
        *,
        context: Sequence[tuple[str, str]] = (),
    ) -> ChainLike:
        """The LCEL chain for one column (``context``: see :func:`build_prompt`)."""
        _quiet_serializer_warnings()
        extra: dict[str, Any] = {"cache": self._cache, "formats": self._formats}
        if profile.provider is not ProviderKind.OPENAI:
            built = build_chain(
                template, system, profile, keys=self._keys, context=context, **extra
            )
            freeze_import_heap("langchain")
            return cast(ChainLike, built)
        with self._lock:
            if self._http is None:
                self._http = new_async_http_client()
            if self._http_sync is None:
                self._http_sync = new_http_client()
            clients = self._http, self._http_sync
        chain = build_chain(
            template,
            system,
            profile,
            *clients,
            keys=self._keys,
            context=context,
            usage_support=self.usage_support,
            **extra,
        )
        freeze_import_heap()
        return cast(ChainLike, chain)

    def thread_chain(self, messages: Sequence[Message], profile: ModelProfile) -> ChainLike:
        """The chain of one chat column's turn (see :func:`build_thread_chain`)."""
        _quiet_serializer_warnings()
        if profile.provider is not ProviderKind.OPENAI:
            built = build_thread_chain(messages, profile, keys=self._keys)
            freeze_import_heap("langchain")
            return cast(ChainLike, built)
        with self._lock:
            if self._http is None:
                self._http = new_async_http_client()
            if self._http_sync is None:
                self._http_sync = new_http_client()
            clients = self._http, self._http_sync
        chain = build_thread_chain(
            messages, profile, *clients, keys=self._keys, usage_support=self.usage_support
        )
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

    def judge_chain(self, profile: ModelProfile, schema: Mapping[str, Any]) -> JudgeChainLike:
        """The judge model for ``profile`` (see :class:`JudgeChain`); blocking, call it off
        the loop (building an OpenAI model imports its SDK)."""
        _quiet_serializer_warnings()
        if profile.provider is not ProviderKind.OPENAI:
            return JudgeChain(build_chat_model(profile, self._keys), None)
        with self._lock:
            if self._http is None:
                self._http = new_async_http_client()
            if self._http_sync is None:
                self._http_sync = new_http_client()
            clients = self._http, self._http_sync
        model = build_chat_model(profile, self._keys, *clients)
        structured = model.with_structured_output(
            dict(schema), method="json_schema", include_raw=True
        )
        freeze_import_heap()
        return JudgeChain(model, structured)

    def usage_probe(self) -> UsageCollector:
        """A fresh usage collector."""
        return UsageCollector()

    def classify(self, exc: BaseException, profile: ModelProfile) -> Failure | None:
        """See :func:`gui.providers.errors.classify`."""
        return classify(exc, profile)
