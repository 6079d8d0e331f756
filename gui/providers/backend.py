"""The engine's provider backend on LangChain: LCEL chains, batch runnables, usage, errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import LLMResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda

from gui.core.errors import Failure
from gui.core.ports import BatchLike, ChainLike
from gui.core.spec import Cell, ModelProfile
from gui.providers.errors import classify
from gui.providers.models import build_chat_model


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


def build_prompt(template: str, system: str | None = None) -> ChatPromptTemplate:
    """The prompt of a run: an optional system message, then the template as the user turn."""
    messages: list[tuple[str, str]] = []
    if system:
        messages.append(("system", system))
    messages.append(("human", template))
    return ChatPromptTemplate.from_messages(messages)


def build_chain(template: str, system: str | None, profile: ModelProfile) -> Runnable[Any, str]:
    """``prompt | model | StrOutputParser()`` for one column."""
    return build_prompt(template, system) | build_chat_model(profile) | StrOutputParser()


class LangChainBackend:
    """Implements :class:`gui.core.ports.Backend` with LangChain runnables."""

    def chain(self, template: str, system: str | None, profile: ModelProfile) -> ChainLike:
        """The LCEL chain for one column."""
        return build_chain(template, system, profile)

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
