"""The parts of the engine's streaming path that lean on LangChain internals.

Two things the app does that LCEL does not offer publicly, gated by the
:data:`~gui.compat.hooks.LCEL_STREAM` hook (tested on the langchain-core range recorded
there), and a third gated by :data:`~gui.compat.hooks.CHUNK_MERGE`:

- :class:`InlineStrOutputParser` overrides ``StrOutputParser._atransform`` and
  ``aparse_result``: langchain-core parses every streamed chunk through ``run_in_executor``,
  a thread hop per token for a few attribute reads.
- :func:`start_sequence_run` and :func:`step_config` open the callback run of a ``prompt | model | parser`` sequence the
  way ``RunnableSequence`` does (its name and its ``seq:step:N`` child tags), so tracing sees
  the same run tree while ``gui.providers.backend.FanoutChain`` reads the model's own
  ``astream`` directly instead of LCEL's per-chunk task machinery.

- :func:`unheard_merges` around reading a model's ``astream``: once the answer has ended,
  ``BaseChatModel.astream`` merges every chunk it yielded into one message (``chunk + chunk``
  over the whole answer, about 150 ms for a 60,000-chunk answer, in one step of the GUI loop)
  only to hand it to the callback handlers' ``on_llm_end``. When the caller knows no handler
  can receive it, the merge is skipped: the last chunk stands in for the merged one, which
  nobody reads. Freeing the 60,000 chunks when the stream ends was a pause of its own (about
  130 ms): the wrapper takes them from LangChain's list and frees them a slice per loop
  iteration. :func:`install_merge_hook` wraps langchain-core's
  ``merge_chat_generation_chunks`` as ``chat_models`` calls it; outside ``unheard_merges``
  the wrapper calls it unchanged.

A fourth, gated by :data:`~gui.compat.hooks.LEAN_INVOKE`: :func:`generate_unheard` makes a
judge call (a whole answer) with the chat model's own ``_agenerate`` when nothing could hear
it: no callback handler, no tracer from the environment, no LLM cache, rate limiter,
streaming or ``v1`` output on the model. ``BaseChatModel.ainvoke`` then only builds a callback
manager with no handler, reads the model's invocation parameters for it, and inspects the
signature of ``_agenerate``, about half of a simulated judge call's CPU on the GUI loop.
Anything that could listen takes ``model.ainvoke`` as before.

A fifth, gated by :data:`~gui.compat.hooks.DIRECT_STREAM`: :func:`direct_stream` is the
streaming twin of ``lean-invoke``. When no callback handler or tracer can hear a streamed cell
and nothing on the model changes the call (no LLM cache, rate limiter, ``v1`` output or
disabled streaming), ``BaseChatModel.astream`` does nothing anybody sees beyond reading the
model's ``_astream``: per call it builds a callback manager and reads the invocation
parameters for it; per chunk it sets an id, rebuilds ``response_metadata`` from the chunk's
``generation_info``, awaits a callback with no handler, keeps the chunk for the end-of-answer
merge and passes it through one more async generator. About 12 us per chunk and 0.5 ms per
call of the GUI loop's CPU on the simulated model (docs/benchmarks.md). The caller then reads
``_astream`` itself, with the messages and keyword arguments ``astream`` would have passed,
and reads ``finish_reason`` the way the rebuilt metadata would have shown it
(:func:`finish_reason_of`). :func:`format_prompt` formats a prompt template the way its
``invoke`` does, without the callback run nobody hears.

With the hooks off (plain mode, or another langchain-core), :func:`str_parser` returns the
stock ``StrOutputParser``, the chain streams with plain ``chain.astream``, and LangChain
merges every answer's chunks. Imports langchain-core, so only the providers layer imports
this module.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, BaseCallbackManager
from langchain_core.globals import get_debug, get_llm_cache, get_verbose
from langchain_core.language_models import chat_models
from langchain_core.language_models._utils import _normalize_messages
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, Generation
from langchain_core.prompt_values import PromptValue
from langchain_core.prompts import BasePromptTemplate
from langchain_core.runnables import RunnableBinding
from langchain_core.runnables.config import (
    RunnableConfig,
    get_async_callback_manager_for_config,
    patch_config,
)

from gui.compat.hooks import CHUNK_MERGE, DIRECT_STREAM, LCEL_STREAM, LEAN_INVOKE, enabled

__all__ = [
    "DirectStream",
    "InlineStrOutputParser",
    "direct_stream",
    "direct_stream_enabled",
    "finish_reason_of",
    "format_prompt",
    "generate_unheard",
    "install_merge_hook",
    "lean_invoke_enabled",
    "lean_stream_enabled",
    "start_sequence_run",
    "step_config",
    "str_parser",
    "unheard_merges",
]


class InlineStrOutputParser(StrOutputParser):
    """``StrOutputParser`` without a thread hop per chunk; output is identical.

    Under qasync the hop cost a ``QThreadExecutor`` round trip and two Qt timer events per
    token, most of the GUI loop's time at a few thousand tokens per second.
    """

    async def _atransform(self, input: AsyncIterator[str | BaseMessage]) -> AsyncIterator[str]:
        parse = self.parse_result
        async for chunk in input:
            if isinstance(chunk, BaseMessage):
                yield parse([ChatGeneration(message=chunk)])
            else:
                yield parse([Generation(text=chunk)])

    async def aparse_result(self, result: list[Generation], *, partial: bool = False) -> str:
        return self.parse_result(result, partial=partial)


def lean_stream_enabled() -> bool:
    """Whether chains built now may use the lean streaming path and the inline parser."""
    return enabled(LCEL_STREAM)


def lean_invoke_enabled() -> bool:
    """Whether a judge chain built now may call its model's ``_agenerate`` directly."""
    return enabled(LEAN_INVOKE)


def str_parser() -> StrOutputParser:
    """The text parser of a chain built now: inline when the hook is on, else LangChain's own."""
    return InlineStrOutputParser() if lean_stream_enabled() else StrOutputParser()


async def start_sequence_run(config: RunnableConfig, input: Any) -> AsyncCallbackManagerForChainRun:
    """Open the callback run of a ``prompt | model | parser`` sequence, as LCEL names it."""
    manager = get_async_callback_manager_for_config(config)
    return await manager.on_chain_start(
        None,
        input,
        name=config.get("run_name") or "RunnableSequence",
        run_id=config.pop("run_id", None),
    )


def step_config(
    config: RunnableConfig, run: AsyncCallbackManagerForChainRun, step: int
) -> RunnableConfig:
    """The config of the sequence's ``step``-th runnable (1-based), a child of ``run``."""
    return patch_config(config, callbacks=run.get_child(f"seq:step:{step}"))


# ------------------------------------------------------------------ the end-of-answer merge

#: Set while a model's stream is read by a caller that knows no handler hears its end.
_UNHEARD: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "fanout_unheard_merge", default=False
)
_install_lock = threading.Lock()
_installed: Callable[..., Any] | None = None  # langchain-core's own merge, once wrapped


def install_merge_hook() -> bool:
    """Wrap ``chat_models.merge_chat_generation_chunks`` once; ``False`` when the hook is off.

    The wrapper is langchain-core's merge itself except inside :func:`unheard_merges`.
    """
    global _installed
    if not enabled(CHUNK_MERGE):
        return False
    with _install_lock:
        if _installed is None:
            original = chat_models.merge_chat_generation_chunks  # type: ignore[attr-defined]
            _installed = original

            def merge(chunks: list[ChatGenerationChunk]) -> ChatGenerationChunk | None:
                if _UNHEARD.get() and chunks:
                    last = chunks[-1]  # truthy, and no handler will read it
                    _free_later(chunks)
                    return last
                return original(chunks)

            chat_models.merge_chat_generation_chunks = merge  # type: ignore[attr-defined]
    return True


def nobody_hears(callbacks: object, model: Any) -> bool:
    """Whether a model run under ``callbacks`` would have no handler for ``on_llm_end``.

    Args:
        callbacks: A config's ``callbacks``: a callback manager, a list of handlers or ``None``.
        model: The chat model (or a binding of it) about to run.

    The model's own run adds its ``callbacks``, a stdout handler when it or LangChain is
    verbose, and a console tracer in debug mode; tracers from the environment are already
    in ``callbacks`` (the caller's run was configured the same way).
    """
    if isinstance(callbacks, BaseCallbackManager):
        if callbacks.handlers or callbacks.inheritable_handlers:
            return False
    elif callbacks:  # a non-empty list of handlers
        return False
    model = getattr(model, "bound", model)  # a RunnableBinding's model
    if getattr(model, "callbacks", None) or getattr(model, "verbose", False):
        return False
    return not (get_debug() or get_verbose())


@contextmanager
def unheard_merges(unheard: bool) -> Iterator[None]:
    """Around reading a model's ``astream`` in this context: skip its end merge if ``unheard``.

    An async generator runs in the context of the task that iterates it, so the model's
    ``astream`` sees the flag while the caller's ``async for`` drives it. Does nothing when
    ``unheard`` is false or the hook is off.
    """
    if not unheard or not install_merge_hook():
        yield
        return
    token = _UNHEARD.set(True)
    try:
        yield
    finally:
        try:
            _UNHEARD.reset(token)
        except ValueError:  # closed from another context (a generator finalised late)
            _UNHEARD.set(False)


#: Chunks freed per loop iteration once an unheard answer has ended.
FREE_SLICE = 2000


def _free_later(chunks: list[ChatGenerationChunk]) -> None:
    """Take every chunk out of ``chunks`` (LangChain's list; it only reads the merge after
    this) and free them :data:`FREE_SLICE` at a time, one slice per loop iteration."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return  # no loop to spread it over: LangChain frees them as usual
    doomed = chunks[:]
    chunks.clear()

    def free_slice() -> None:
        del doomed[-FREE_SLICE:]
        if doomed and not loop.is_closed():
            loop.call_soon(free_slice)

    loop.call_soon(free_slice)


# ------------------------------------------------------------------ a whole answer, unheard

#: The message class of each role a ``(role, text)`` pair may name.
_ROLES: dict[str, type[BaseMessage]] = {
    "system": SystemMessage,
    "human": HumanMessage,
    "user": HumanMessage,
    "ai": AIMessage,
    "assistant": AIMessage,
}


def _unchanged_call(model: BaseChatModel) -> bool:
    """Whether nothing on ``model`` changes a call: no LLM cache it could read (its own or
    the global one), no rate limiter, no ``v1`` rewrite of the output."""
    cache = model.cache
    if cache is not False and (cache is not None or get_llm_cache() is not None):
        return False
    return model.rate_limiter is None and model.output_version != "v1"


def _direct_ok(model: Any) -> bool:
    """Whether ``BaseChatModel._agenerate_with_cache`` would only call ``_agenerate``:
    no cache to read, no rate limiter, no streaming asked for, no ``v1`` rewrite."""
    if not isinstance(model, BaseChatModel) or not _unchanged_call(model):
        return False
    return not ("streaming" in model.model_fields_set and getattr(model, "streaming", None))


async def generate_unheard(
    model: Any, messages: list[tuple[str, str]], config: RunnableConfig
) -> BaseMessage | None:
    """The model's reply to ``messages`` through its ``_agenerate``, or ``None`` when the
    call could be heard (then the caller runs ``model.ainvoke`` as usual).

    ``config`` is the call's config without the caller's own usage collector: its handlers
    and the environment's tracers (``get_async_callback_manager_for_config`` adds them, as
    ``ainvoke`` would) decide whether anybody listens.
    """
    if not lean_invoke_enabled() or not _direct_ok(model):
        return None
    manager = get_async_callback_manager_for_config(config)
    if not nobody_hears(manager, model):
        return None
    roles = _ROLES
    built: list[BaseMessage] = []
    for role, text in messages:
        kind = roles.get(role)
        if kind is None:
            return None  # a role only LangChain's own conversion knows
        built.append(kind(content=text))
    result = await model._agenerate(built)
    message: BaseMessage = result.generations[0].message
    return message


# ------------------------------------------------------------------ a stream, unheard


def direct_stream_enabled() -> bool:
    """Whether a streamed cell nobody hears may read its chat model's ``_astream`` directly."""
    return enabled(DIRECT_STREAM)


#: Keyword arguments ``BaseChatModel.astream`` takes out before calling ``_astream`` (they
#: only name the structured-output format for tracing).
_TRACING_ONLY_KWARGS = ("ls_structured_output_format", "structured_output_format")


@dataclass(frozen=True, slots=True)
class DirectStream:
    """How to read a chat model's ``_astream`` as its ``astream`` would have.

    Attributes:
        model: The chat model itself (a binding's ``bound``).
        stop: The stop sequences ``astream`` would pass (a binding's ``stop``), or ``None``.
        kwargs: The other keyword arguments ``astream`` would pass (a binding's own).
    """

    model: BaseChatModel
    stop: list[str] | None
    kwargs: dict[str, Any]

    def open(self, messages: list[BaseMessage], **extra: Any) -> AsyncIterator[ChatGenerationChunk]:
        """The model's ``_astream`` of ``messages`` (``extra``: more keyword arguments)."""
        kwargs = {**self.kwargs, **extra} if extra else self.kwargs
        return self.model._astream(_normalize_messages(messages), stop=self.stop, **kwargs)


def direct_stream(model: Any, callbacks: object) -> DirectStream | None:
    """How to stream ``model`` without ``BaseChatModel.astream``, or ``None`` when its
    ``astream`` could do anything somebody sees (then the caller uses it as usual).

    Args:
        model: The chat model, or a ``RunnableBinding`` of one (``model.bind(...)``) with no
            config of its own.
        callbacks: The callback manager the call would run under, tracers from the
            environment included (``get_async_callback_manager_for_config``), or ``None``.
    """
    if not direct_stream_enabled():
        return None
    kwargs: dict[str, Any] = {}
    if isinstance(model, RunnableBinding):
        if model.config or model.config_factories:
            return None  # a bound config could carry callbacks, tags or a run name
        kwargs = dict(model.kwargs)
        model = model.bound
    if not isinstance(model, BaseChatModel) or not _unchanged_call(model):
        return None
    if type(model)._astream is BaseChatModel._astream:
        return None  # no async stream of its own: astream's fallbacks decide
    if not nobody_hears(callbacks, model):
        return None
    if not model._should_stream(async_api=True, **{**kwargs, "stream": True}):
        return None  # astream would call ainvoke instead
    for name in _TRACING_ONLY_KWARGS:
        kwargs.pop(name, None)
    stop = kwargs.pop("stop", None)
    return DirectStream(model, stop, kwargs)


def finish_reason_of(chunk: ChatGenerationChunk) -> Any:
    """The ``finish_reason`` ``astream``'s message of ``chunk`` would carry in its
    ``response_metadata``: the message's own, else the chunk's ``generation_info``'s."""
    meta = chunk.message.response_metadata
    if "finish_reason" in meta:
        return meta["finish_reason"]
    info = chunk.generation_info
    return info.get("finish_reason") if info else None


def format_prompt(prompt: BasePromptTemplate[Any], input: dict[str, Any]) -> PromptValue:
    """``prompt.invoke(input)`` without its callback run: the same value, the same errors
    for missing variables (for a call nobody hears, see :func:`direct_stream`)."""
    return prompt._format_prompt_with_error_handling(input)
