"""Turn provider exceptions (openai, httpx, the simulated model, LangChain) into Failures.

Matching is by duck typing and class name so that this module never imports ``openai``
or ``httpx`` itself: classifying an error must not cost the slow ``langchain_openai`` import
(its figure is in docs/performance-notes.md).
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Iterator
from typing import Any

from gui.core.errors import ErrorKind, Failure, empty_failure, one_line
from gui.core.spec import ModelProfile, ProviderKind
from gui.providers.wire import (
    AnswerCutOff,
    BadShape,
    EventTooLarge,
    NotStreamed,
    RedirectedToGet,
    StreamErrorEvent,
    WireError,
)

_REFUSED_MARKERS = ("connection refused", "connecterror", "name or service not known", "nodename")
#: httpx's words for a server that closed the connection before any response came.
_CLOSED_BEFORE_ANSWER_MARKERS = (
    "server disconnected without sending a response",
    "connection closed without a response",
)
_DROPPED_MARKERS = (
    "peer closed connection",
    "remoteprotocolerror",
    "readerror",
    "connection reset",
    "incomplete chunked read",
    "server disconnected",
    "connection dropped",
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds from ``Retry-After`` (delta or HTTP date) or ``retry-after-ms`` headers."""
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(float(ms) / 1000.0, 0.0)
        value = headers.get("retry-after")
    except Exception:
        return None
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _where(profile: ModelProfile) -> str:
    return profile.base_url or "https://api.openai.com/v1"


def from_status(
    status: int, profile: ModelProfile, detail: str, retry_after: float | None
) -> Failure:
    """The failure for an HTTP error status."""
    who = profile.provider_name
    if status in (401, 403):
        fix = (
            f"Set a valid key in ${profile.api_key_env}."
            if profile.provider is ProviderKind.OPENAI
            else "Check the key."
        )
        word = "rejected the API key" if status == 401 else "refused access to this model"
        return Failure(
            ErrorKind.AUTHENTICATION, f"{who}: the server {word} ({status}). {fix}", status=status
        )
    if status == 404:
        if _names_model(detail, profile.model):
            return Failure(
                ErrorKind.NOT_FOUND,
                f"{who}: the server has no model '{profile.model}' (404). Check the model name against {_where(profile)}/models.",
                status=status,
            )
        return Failure(
            ErrorKind.NOT_FOUND,
            f"{who}: model '{profile.model}' or the URL not found (404). Check the model name and the base URL {_where(profile)}.",
            status=status,
        )
    if status == 429:
        return Failure(
            ErrorKind.RATE_LIMITED,
            f"{who}: rate limited (429). Lower requests per second or max concurrency.",
            retry_after=retry_after,
            status=status,
        )
    if status in (408, 504):
        return Failure(
            ErrorKind.TIMEOUT,
            f"{who}: the server timed out ({status}). Retry, or raise the timeout.",
            status=status,
        )
    if status >= 500:
        return Failure(
            ErrorKind.SERVER_ERROR,
            f"{who}: server error ({status}). Retry later; the server may be overloaded.",
            retry_after=retry_after,
            status=status,
        )
    extra = f": {detail}" if detail else ""
    return Failure(ErrorKind.OTHER, f"{who}: request refused ({status}){extra}", status=status)


def _names_model(detail: str, model: str) -> bool:
    """Whether a 404's message is about the model (OpenAI, vLLM, Ollama all name it)."""
    named = re.search(rf"(?<![\w.:/-]){re.escape(model)}(?![\w.:/-])", detail, re.IGNORECASE)
    return named is not None and "model" in detail.lower()


def _wire_failure(err: WireError, profile: ModelProfile) -> Failure:
    """The failure for something the server got wrong on the wire (see ``gui.providers.wire``)."""
    who = profile.provider_name
    if isinstance(err, AnswerCutOff):
        return Failure(
            ErrorKind.CUT_OFF,
            f"{who}: the answer is cut off: the stream ended before the server said it had "
            "finished (no finish_reason, no [DONE]). Retry the cell.",
        )
    if isinstance(err, StreamErrorEvent):
        return Failure(
            ErrorKind.SERVER_ERROR,
            f"{who}: the server reported an error mid-answer: {one_line(str(err), 100)}",
        )
    if isinstance(err, EventTooLarge):
        return Failure(
            ErrorKind.TOO_LARGE,
            f"{who}: answer too large: {err}. Raise the answer size cap, or lower max tokens.",
        )
    if isinstance(err, RedirectedToGet):
        return Failure(
            ErrorKind.BAD_RESPONSE,
            f"{who}: the server redirected the request ({err.status} to "
            f"{one_line(err.location, 80)}), which turns the POST into a GET. Set the base URL "
            "to where it points.",
            status=err.status,
        )
    if isinstance(err, NotStreamed):
        return Failure(
            ErrorKind.BAD_RESPONSE,
            f"{who}: the server answered a streaming request with one JSON body that is not a "
            "chat completion. Check that it is OpenAI-compatible.",
        )
    if isinstance(err, BadShape):
        return Failure(
            ErrorKind.BAD_RESPONSE,
            f"{who}: the server sent a malformed stream: {err}. Check that it is "
            "OpenAI-compatible.",
        )
    return Failure(ErrorKind.BAD_RESPONSE, f"{who}: {one_line(str(err), 120)}")


def _detail(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, str) and body.strip():
        return one_line(body, 100)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return one_line(str(err["message"]), 100)
        if body.get("message"):
            return one_line(str(body["message"]), 100)
    return one_line(getattr(exc, "message", None) or str(exc), 100)


def classify(exc: BaseException, profile: ModelProfile) -> Failure | None:
    """A :class:`Failure` for ``exc`` raised while serving ``profile``, or ``None``."""
    who = profile.provider_name
    for err in _chain(exc):
        if isinstance(err, WireError):
            return _wire_failure(err, profile)
        name = type(err).__name__
        module = type(err).__module__
        status = getattr(err, "status_code", None)
        if isinstance(status, int) and status >= 400:
            response = getattr(err, "response", None)
            retry_after = getattr(err, "retry_after", None)
            if retry_after is None:
                retry_after = retry_after_seconds(getattr(response, "headers", None))
            return from_status(status, profile, _detail(err), retry_after)
        if name == "NotAnOpenAIServer":
            return Failure(
                ErrorKind.BAD_RESPONSE,
                f"{who}: {_where(profile)} answered with a web page, not an OpenAI-compatible API. Check the base URL (it usually ends in /v1).",
            )
        if module.startswith("gui.providers.simulated"):
            if name == "SimulatedConnectionDropped":
                return Failure(
                    ErrorKind.CONNECTION,
                    f"{who}: the connection dropped mid-answer. Retry the cell.",
                )
            return Failure(ErrorKind.OTHER, f"{who}: {one_line(str(err), 120)}")
        if name in (
            "APITimeoutError",
            "ReadTimeout",
            "ConnectTimeout",
            "WriteTimeout",
            "PoolTimeout",
        ):
            return Failure(
                ErrorKind.TIMEOUT,
                f"{who}: the HTTP request timed out. Raise the timeout or check the server.",
            )
        text = f"{name} {err}".lower()
        if any(m in text for m in _CLOSED_BEFORE_ANSWER_MARKERS):
            return Failure(
                ErrorKind.CONNECTION,
                f"{who}: the server closed the connection without answering. Retry the cell; if it keeps happening, check the server's log.",
            )
        if any(m in text for m in _DROPPED_MARKERS):
            return Failure(
                ErrorKind.CUT_OFF,
                f"{who}: the connection dropped mid-answer, so the answer is cut off. Retry the cell.",
            )
        if any(m in text for m in _REFUSED_MARKERS) or isinstance(err, ConnectionRefusedError):
            return Failure(
                ErrorKind.CONNECTION,
                f"{who}: cannot connect to {_where(profile)}. Is the server running at that address?",
            )
        if isinstance(err, json.JSONDecodeError) or name in ("APIResponseValidationError",):
            return Failure(
                ErrorKind.BAD_RESPONSE,
                f"{who}: the server sent a malformed response (not valid JSON). Check that it is OpenAI-compatible.",
            )
        if isinstance(err, ValueError) and "no generation chunks" in str(err).lower():
            # langchain-core's words for a stream that ended without a single chunk.
            return empty_failure(who)
        if name == "APIError" and module.startswith("openai"):
            # An error event inside a 200 stream (``data: {"error": ...}``): no status code.
            return Failure(
                ErrorKind.SERVER_ERROR,
                f"{who}: the server reported an error mid-answer: {_detail(err)}",
            )
        if name == "OpenAIError" and "api_key" in str(err):
            return Failure(
                ErrorKind.AUTHENTICATION,
                f"{who}: no API key. Set ${profile.api_key_env}, or use a local server's base URL.",
            )
        if isinstance(err, KeyError) and "missing variables" in str(err):
            return Failure(
                ErrorKind.BAD_TEMPLATE,
                f"Template: this row has no value for a variable ({one_line(str(err), 90)}). Fill the column or remove the variable.",
            )
    if any(type(err).__name__ == "APIConnectionError" for err in _chain(exc)):
        return Failure(
            ErrorKind.CONNECTION,
            f"{who}: connection to {_where(profile)} failed. Check the base URL and your network.",
        )
    return None
