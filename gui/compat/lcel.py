"""The parts of the engine's streaming path that lean on LangChain internals.

Two things the app does that LCEL does not offer publicly, gated by the
:data:`~gui.compat.hooks.LCEL_STREAM` hook (tested on the langchain-core range recorded
there):

- :class:`InlineStrOutputParser` overrides ``StrOutputParser._atransform`` and
  ``aparse_result``: langchain-core parses every streamed chunk through ``run_in_executor``,
  a thread hop per token for a few attribute reads.
- :func:`start_sequence_run` and :func:`step_config` open the callback run of a ``prompt | model | parser`` sequence the
  way ``RunnableSequence`` does (its name and its ``seq:step:N`` child tags), so tracing sees
  the same run tree while ``gui.providers.backend.FanoutChain`` reads the model's own
  ``astream`` directly instead of LCEL's per-chunk task machinery.

With the hook off (plain mode, or another langchain-core), :func:`str_parser` returns the
stock ``StrOutputParser`` and the chain streams with plain ``chain.astream``. Imports
langchain-core, so only the providers layer imports this module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForChainRun
from langchain_core.messages import BaseMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, Generation
from langchain_core.runnables.config import (
    RunnableConfig,
    get_async_callback_manager_for_config,
    patch_config,
)

from gui.compat.hooks import LCEL_STREAM, enabled

__all__ = [
    "InlineStrOutputParser",
    "lean_stream_enabled",
    "start_sequence_run",
    "step_config",
    "str_parser",
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
