"""Error kinds a user can act on, and the one-line messages the window and CLI show.

Providers translate their own exceptions into a :class:`Failure`; the engine never shows
a traceback, only ``Failure.message``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class ErrorKind(StrEnum):
    """What went wrong, in terms of what the user can do about it."""

    AUTHENTICATION = "authentication"
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    BAD_RESPONSE = "bad_response"
    CUT_OFF = "cut_off"  # the answer ended without the server saying it had finished
    TOO_LARGE = "too_large"  # the answer passed the run's cap on answer size
    BAD_TEMPLATE = "bad_template"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # a batch request the provider did not run within its window
    OTHER = "other"


#: Kinds worth another attempt: the same request may well succeed a moment later.
RETRYABLE: frozenset[ErrorKind] = frozenset(
    {
        ErrorKind.RATE_LIMITED,
        ErrorKind.SERVER_ERROR,
        ErrorKind.TIMEOUT,
        ErrorKind.CONNECTION,
        ErrorKind.CUT_OFF,
    }
)


@dataclass(frozen=True, slots=True)
class Failure:
    """A classified error.

    Attributes:
        kind: The error kind.
        message: One line naming the provider and what to do; shown to users as is.
        retry_after: Seconds the server asked us to wait (``Retry-After``), if it did.
        status: HTTP status code when there was one.
    """

    kind: ErrorKind
    message: str
    retry_after: float | None = None
    status: int | None = None

    @property
    def retryable(self) -> bool:
        """Whether another attempt may succeed."""
        return self.kind in RETRYABLE


class TemplateError(ValueError):
    """The prompt template or the inputs cannot make a prompt; ``str()`` is the one-line reason."""


class SpecError(ValueError):
    """A run cannot be built from what the user asked for (bad limit, no inputs, bad URL)."""


def one_line(text: str, limit: int = 160) -> str:
    """Squash ``text`` onto one line of at most ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


#: The three timeouts of a request, as :func:`timeout_failure` names them.
TimeoutName = Literal["first_token", "idle", "total"]


def timeout_failure(
    provider: str, which: TimeoutName, seconds: float | None, *, partial: bool = False
) -> Failure:
    """One of the request's timeouts fired; the message names it and what to raise.

    Args:
        provider: Who was asked (``ModelProfile.provider_name``).
        which: ``first_token`` (no text yet; for a whole-answer call, no answer yet),
            ``idle`` (text stopped coming) or ``total`` (the optional cap on a whole request).
        seconds: The timeout that fired.
        partial: Whether some text had arrived (it is kept).
    """
    within = f"{seconds:g} s" if seconds else "the time allowed"
    kept = " The partial text is kept." if partial else ""
    if which == "first_token":
        return Failure(
            ErrorKind.TIMEOUT,
            f"{provider}: no answer within {within} (first-token timeout). Raise the first-token "
            "timeout, or lower max concurrency if the server is busy.",
        )
    if which == "idle":
        return Failure(
            ErrorKind.TIMEOUT,
            f"{provider}: the answer stalled: no text for {within} (idle timeout).{kept} Raise "
            "the idle timeout or retry the cell.",
        )
    return Failure(
        ErrorKind.TIMEOUT,
        f"{provider}: the answer took longer than {within} (total timeout).{kept} Raise the "
        "total timeout, or turn it off.",
    )


def too_large_failure(provider: str, cap: int) -> Failure:
    """The answer passed the run's cap on answer size; its first ``cap`` characters are kept."""
    return Failure(
        ErrorKind.TOO_LARGE,
        f"{provider}: answer too large: more than {cap:,} characters (the first {cap:,} are "
        "kept). Raise the answer size cap, or lower max tokens.",
    )


def empty_failure(provider: str) -> Failure:
    """The server ended its answer without any text (a 200 with nothing in it)."""
    return Failure(
        ErrorKind.BAD_RESPONSE,
        f"{provider}: the server sent an empty answer (no text). Check the model and its max tokens, then retry the cell.",
    )


def generic_failure(exc: BaseException, provider: str) -> Failure:
    """Fallback classification for exceptions no provider claimed."""
    if isinstance(exc, TimeoutError):  # asyncio.TimeoutError is TimeoutError since 3.11
        return Failure(
            ErrorKind.TIMEOUT, f"{provider}: the request timed out. Raise the timeout or retry."
        )
    if isinstance(exc, KeyError | TemplateError):
        detail = one_line(str(exc.args[0] if exc.args else exc))
        return Failure(
            ErrorKind.BAD_TEMPLATE,
            f"Template: {detail}. Add the missing column or remove the variable.",
        )
    if isinstance(exc, ConnectionError):
        return Failure(
            ErrorKind.CONNECTION,
            f"{provider}: connection failed ({type(exc).__name__}). Check the server is running.",
        )
    name = type(exc).__name__
    detail = one_line(str(exc) or name, 120)
    return Failure(ErrorKind.OTHER, f"{provider}: unexpected error: {name}: {detail}")
