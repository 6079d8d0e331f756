"""Chat threads on LangChain: a column's message list as a chain, and trimming near a limit.

A chat turn (:mod:`gui.core.chat_turn`) is a run whose cells are the chat's columns; each
column sends its own message list (:func:`gui.core.chat.thread_messages`) instead of a
template. :func:`thread_prompt` makes that list the fixed prompt of the column's
:class:`~gui.providers.backend.FanoutChain` (a ``MessagesPlaceholder`` filled in advance, so
braces in the chat's text are never read as template variables), and the chain streams as a
run's chains do, except that it streams the list it was built with as it is instead of
formatting its prompt again (the chain is built in a worker thread; formatting a thread of
hundreds of messages on the loop froze the window at each turn's start). :func:`trim_thread` keeps a thread under a context window with
``langchain_core.messages.trim_messages``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.messages import BaseMessage, convert_to_messages, trim_messages
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

from gui.core.chat import Message, estimate_message_tokens
from gui.core.cleantext import clean_json

#: The placeholder's variable; filled in advance, so the chain's input is ``{}``.
_THREAD_VARIABLE = "fanout_thread"

_ROLE_OF_TYPE = {"system": "system", "human": "user", "ai": "assistant"}


def to_langchain(messages: Sequence[Message]) -> list[BaseMessage]:
    """``(role, content)`` pairs as LangChain messages (content parts kept as they are).

    A lone surrogate (an undecodable byte of the command line or a file) cannot be sent as
    UTF-8 JSON: it goes as U+FFFD, as the stored chat shows it.
    """
    pairs: list[Any] = [(role, clean_json(content)[0]) for role, content in messages]
    return convert_to_messages(pairs)


def from_langchain(messages: Sequence[BaseMessage]) -> list[Message]:
    """LangChain messages back as ``(role, content)`` pairs."""
    out: list[Message] = []
    for message in messages:
        content = message.content
        role = _ROLE_OF_TYPE.get(message.type, "user")
        out.append((role, content if isinstance(content, str) else [dict(p) for p in content]))  # type: ignore[arg-type]
    return out


def thread_prompt(messages: Sequence[BaseMessage]) -> ChatPromptTemplate:
    """A prompt that always yields ``messages`` (see :func:`to_langchain`): a placeholder
    filled in advance."""
    prompt = ChatPromptTemplate.from_messages([MessagesPlaceholder(_THREAD_VARIABLE)])
    return prompt.partial(**{_THREAD_VARIABLE: list(messages)})


def _estimated_tokens(messages: Sequence[BaseMessage]) -> int:
    total = 0
    for message in messages:
        content = message.content
        total += estimate_message_tokens(content if isinstance(content, str) else list(content))  # type: ignore[arg-type]
    return total


def trim_thread(
    messages: Sequence[Message],
    max_tokens: int,
    *,
    token_counter: Callable[[list[BaseMessage]], int] | None = None,
) -> list[Message]:
    """The newest turns of ``messages`` that fit in ``max_tokens``, system message kept.

    Oldest turns go first; the kept part starts on a user message (a thread never opens with
    an answer whose question was cut). ``token_counter`` defaults to the chars/4 estimate.
    """
    trimmed = trim_messages(
        to_langchain(messages),
        max_tokens=max_tokens,
        token_counter=token_counter or _estimated_tokens,
        strategy="last",
        include_system=True,
        start_on="human",
        allow_partial=False,
    )
    return from_langchain(trimmed)


__all__ = ["from_langchain", "thread_prompt", "to_langchain", "trim_thread"]
