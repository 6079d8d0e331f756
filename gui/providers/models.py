"""Build LangChain chat models for profiles: the simulated model or any OpenAI-compatible server.

``langchain_openai`` is imported only when an OpenAI profile is first used: the import alone
takes longer than the window needs to appear (docs/performance-notes.md), so it must not
delay the window.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gui.core.keys import HeldKeys, api_key_for
from gui.core.ports import KeySource
from gui.core.spec import ModelProfile, ProviderKind

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

#: Backstop HTTP timeout in seconds. The engine's own per-request ``asyncio.timeout`` is the
#: real limit; this one only ends abandoned calls (a timed-out sync call in its thread).
HTTP_TIMEOUT = 600.0

#: Key sent to servers that need none (Ollama, LM Studio, llama.cpp) when no key is set.
NO_KEY = "not-needed"


def build_chat_model(
    profile: ModelProfile,
    keys: KeySource | None = None,
    http_async_client: Any = None,
    http_client: Any = None,
) -> BaseChatModel:
    """A chat model for ``profile``; no network traffic happens here.

    Args:
        profile: The column's profile.
        keys: Resolves the profile's ``key_ref`` to its saved key; without one, only its
            environment variable is looked at.
        http_async_client: An ``openai.DefaultAsyncHttpxClient`` the caller owns and closes;
            without one, langchain-openai shares a process-wide client bound to the first
            event loop that used it.
        http_client: An ``openai.DefaultHttpxClient`` for blocking calls (the sync strategy),
            also the caller's to close; without one, langchain-openai keeps a process-wide
            client per base URL whose pooled connections are never closed.
    """
    if profile.provider is ProviderKind.SIMULATED:
        from gui.providers.simulated import SimulatedChatModel

        sim = profile.sim
        kwargs: dict[str, Any] = {
            "model_name": profile.model,
            "ttft": sim.ttft,
            "tokens_per_second": sim.tokens_per_second,
            "output_tokens": sim.output_tokens
            if profile.max_tokens is None
            else min(sim.output_tokens, profile.max_tokens),
            "jitter": sim.jitter,
            "failure_rate": sim.failure_rate,
            "failure_kind": sim.failure_kind,
            "retry_after": sim.retry_after,
            "seed": sim.seed if profile.seed is None else profile.seed,
            "temperature": profile.temperature,
            "top_p": profile.top_p,
        }
        return SimulatedChatModel(**kwargs)

    from langchain_openai import ChatOpenAI

    key = api_key_for(profile, keys if keys is not None else HeldKeys())
    if key is None and profile.base_url:
        key = NO_KEY  # local servers accept any key; the OpenAI SDK insists on one
    options: dict[str, Any] = {
        "model": profile.model,
        "timeout": HTTP_TIMEOUT,
        "max_retries": 0,  # the engine owns retries (with Retry-After and live limits)
        "stream_chunk_timeout": 0,  # its per-chunk wait_for leaves a Qt timer per chunk under qasync
    }
    if key is not None:
        options["api_key"] = key
    if profile.base_url:
        options["base_url"] = profile.base_url
        # ChatOpenAI asks a custom server for no streaming usage unless told: ask, so local
        # servers report token counts (FanoutChain falls back for servers that refuse it).
        options["stream_usage"] = True
    if profile.temperature is not None:
        options["temperature"] = profile.temperature
    if profile.max_tokens is not None:
        options["max_tokens"] = profile.max_tokens
    _sampling_options(profile, options)
    if http_async_client is not None:
        options["http_async_client"] = http_async_client
    if http_client is not None:
        options["http_client"] = http_client
    return ChatOpenAI(**options)


def _sampling_options(profile: ModelProfile, options: dict[str, Any]) -> None:
    """``top_p`` and ``seed`` (issue 15), sent only when the profile (or its sweep column)
    sets them, so servers that know neither see the requests they always did."""
    if profile.top_p is not None:
        options["top_p"] = profile.top_p
    if profile.seed is not None:
        options["seed"] = profile.seed


class NotAnOpenAIServer(Exception):
    """A successful answer that is a web page: the base URL points at a web server, not an API."""


def _refuse_web_pages(response: Any) -> None:
    # A base URL pointing at a web server (a proxy's welcome page, a missing /v1) answers 200
    # with HTML. Unchecked, the SDK read it as a stream without events (an "empty answer") or
    # a body of the wrong type (a ValueError). Only HTML is refused: some OpenAI-compatible
    # servers label their streams loosely, none sends a web page.
    if 200 <= response.status_code < 300:
        content_type = str(response.headers.get("content-type", ""))
        if "html" in content_type.lower():
            raise NotAnOpenAIServer(f"the server answered with a web page ({content_type})")


async def _arefuse_web_pages(response: Any) -> None:
    _refuse_web_pages(response)


def _check_sync_response(response: Any) -> None:
    from gui.providers.wire import check_response

    _refuse_web_pages(response)
    check_response(response)


def new_async_http_client() -> Any:
    """An HTTP client for OpenAI-compatible calls, owned (and closed) by the caller."""
    import openai

    from gui.providers.wire import acheck_response

    return openai.DefaultAsyncHttpxClient(
        timeout=HTTP_TIMEOUT, event_hooks={"response": [_arefuse_web_pages, acheck_response]}
    )


def new_http_client() -> Any:
    """A blocking HTTP client for the sync strategy's calls, owned (and closed) by the caller."""
    import openai

    return openai.DefaultHttpxClient(
        timeout=HTTP_TIMEOUT, event_hooks={"response": [_check_sync_response]}
    )
