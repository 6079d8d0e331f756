"""The engine's provider backend on LangChain: LCEL chains, batch runnables, usage, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, Generation, LLMResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda

from gui.core.errors import Failure
from gui.core.ports import BatchLike, ChainLike
from gui.core.spec import Cell, ModelProfile, ProviderKind
from gui.providers.errors import classify
from gui.providers.models import build_chat_model, new_async_http_client


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


class InlineStrOutputParser(StrOutputParser):
    """``StrOutputParser`` without a thread hop per chunk.

    langchain-core's async transform parses every streamed chunk through
    ``run_in_executor`` (and ``aparse_result`` does the same once per answer). Turning a
    message chunk into its text is a few attribute reads, so the hop is pure overhead:
    under qasync it costs a ``QThreadExecutor`` round trip and two Qt timer events per token,
    which at 5,000 tokens/s was most of the GUI loop's time. Output is identical.
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


def build_prompt(template: str, system: str | None = None) -> ChatPromptTemplate:
    """The prompt of a run: an optional system message, then the template as the user turn."""
    messages: list[tuple[str, str]] = []
    if system:
        messages.append(("system", system))
    messages.append(("human", template))
    return ChatPromptTemplate.from_messages(messages)


def build_chain(
    template: str, system: str | None, profile: ModelProfile, http_async_client: Any = None
) -> Runnable[Any, str]:
    """``prompt | model | StrOutputParser()`` for one column (the inline-parsing variant)."""
    return (
        build_prompt(template, system)
        | build_chat_model(profile, http_async_client)
        | InlineStrOutputParser()
    )


class LangChainBackend:
    """Implements :class:`gui.core.ports.Backend` with LangChain runnables.

    Owns the HTTP clients of the OpenAI-compatible models it builds, so that closing the
    window closes their connections (:meth:`aclose`) instead of leaving that to the GC.
    """

    def __init__(self) -> None:
        self._http: Any = None

    def chain(self, template: str, system: str | None, profile: ModelProfile) -> ChainLike:
        """The LCEL chain for one column."""
        client = None
        if profile.provider is ProviderKind.OPENAI:
            if self._http is None:
                self._http = new_async_http_client()
            client = self._http
        return cast(ChainLike, build_chain(template, system, profile, client))

    async def aclose(self) -> None:
        """Close the HTTP connections this backend opened."""
        client, self._http = self._http, None
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
