"""The fault matrix: what the test server does to one cell, and how that cell must end.

Every run of the matrix has three cells. For a *prompt fault* the rows are ``boom``, ``calm``
and ``quiet`` on one model, and the server's router sends the fault to every request whose
prompt contains ``boom``; for a *column fault* (an unknown model, a server that is not
listening) the one row ``boom`` goes to the faulty column and to two good ones. Either way the
faulty cell is ``r0m0`` and the other two are its siblings.

Normal answers are short (6 tokens 5 ms apart) so the whole matrix, engine and command line,
stays well under a minute on a 2-core machine; timeouts are long enough (2 s for the timeout
faults, 10 s for everything else) that a healthy answer never meets one on a machine running
at a quarter of its speed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from gui.core.errors import ErrorKind
from tests.support.openai_server import Behavior, default_answer, split_tokens

FAULTY = "boom"
SIBLINGS = ("calm", "quiet")
TEMPLATE = "Tell me about {topic}"
TOKENS = 6  # tokens per normal answer
INTERVAL = 0.005  # seconds between tokens of a normal answer
UNKNOWN_MODEL = "no-such-model"

#: Limits of every matrix run unless a fault says otherwise.
LIMITS: Mapping[str, Any] = {
    "timeout": 10,
    "retries": 1,
    "backoff_base": 0.01,
    "backoff_max": 1.0,
    "max_concurrency": 4,
}

#: What the siblings do in a fail-fast run: stream for ~30 s, so they are surely still running
#: when the faulty cell fails, and must then be cancelled (ending "cancelled", not "done").
SLOW_SIBLING = Behavior(tokens=100, token_interval=0.3)


@dataclass(frozen=True)
class Expect:
    """How the faulty cell must end.

    Attributes:
        status: ``done`` or ``failed``.
        kind: The error kind (``None`` when done).
        words: Phrases the message must contain; ``{url}`` is the faulty column's base URL.
        attempts: Requests the cell makes (the first plus retries).
        partial: Tokens of the answer kept as partial text by a failed cell.
        length: Exact length of a done cell's text, when not the default answer.
        retry_delay: The back-off the engine must announce before a retry (``Retry-After``).
        finish: The finish reason a done cell must carry, when not ``stop``.
        note: Whether a done cell carries a note on how its answer came.
        partial_chars: Exact length of a failed cell's partial text, when it is more than
            ``partial`` tokens (it then starts with them).
    """

    status: Literal["done", "failed"]
    kind: ErrorKind | None = None
    words: tuple[str, ...] = ()
    attempts: int = 1
    partial: int = 0
    length: int | None = None
    retry_delay: float | None = None
    finish: str | None = "stop"
    note: bool = False
    partial_chars: int | None = None


@dataclass(frozen=True)
class Fault:
    """One cell of the matrix.

    Attributes:
        id: Test id.
        route: What the server does with the faulty prompt: one behaviour for every request,
            or a tuple used up one request at a time (then normal answers).
        stream: How the faulty cell ends when streamed (the CLI's and the window's default).
        whole: How it ends under the whole-answer strategies (gather, sync), when different:
            without streaming there is no partial text, and a stall or a drop comes before
            any text, so it is retried.
        column: ``model``: the faulty column asks for a model the server does not have;
            ``closed``: its base URL has nothing listening.
        limits: Limits on top of :data:`LIMITS`.
        budget: Seconds from its first request within which the faulty cell ends on an idle
            machine; tests allow `within` of it, a margin for a machine at a quarter speed.
        hangs: Hang-prone: also run as a subprocess with a hard timeout.
        fail_fast: Limits of the fail-fast run on top of the others, when needed. A timeout
            fault needs them: the run's timeout applies to the siblings too, so siblings still
            streaming when the faulty cell times out would time out with it. There the
            siblings wait for the one slot instead (``max_concurrency=1``, no retries, which
            would hand them the slot during the back-off), and are cancelled while waiting;
            with no retries the faulty cell makes one attempt.
    """

    id: str
    route: Behavior | tuple[Behavior, ...] | None = None
    stream: Expect = field(default_factory=lambda: Expect("done"))
    whole: Expect | None = None
    column: Literal["model", "closed"] | None = None
    limits: Mapping[str, Any] = field(default_factory=dict)
    budget: float = 1.0
    hangs: bool = False
    fail_fast: Mapping[str, Any] | None = None

    def expect(self, streaming: bool, fail_fast: bool = False) -> Expect:
        """The expectation for a streamed or a whole-answer run (and a fail-fast one)."""
        expect = self.stream if streaming or self.whole is None else self.whole
        if fail_fast and self.fail_fast is not None and self.fail_fast.get("retries") == 0:
            words = tuple(w for w in expect.words if "attempts" not in w)
            expect = replace(expect, attempts=1, words=words)
        return expect

    def all_limits(self, fail_fast: bool = False) -> dict[str, Any]:
        """:data:`LIMITS` with this fault's own on top."""
        extra = self.fail_fast if fail_fast and self.fail_fast is not None else {}
        return {**LIMITS, **self.limits, **extra}


#: The fail-fast limits of a timeout fault (see `Fault.fail_fast`).
_TIMEOUT_FAIL_FAST: Mapping[str, Any] = {"max_concurrency": 1, "retries": 0}


FAULTS: tuple[Fault, ...] = (
    Fault(
        "429-then-ok",
        (Behavior(status=429, retry_after=0.3),),
        Expect("done", attempts=2, retry_delay=0.3),
        budget=0.9,
    ),
    Fault(
        "429-retries-exhausted",
        Behavior(status=429, retry_after=0.1),
        Expect(
            "failed",
            ErrorKind.RATE_LIMITED,
            ("rate limited (429)", "Lower requests per second", "after 2 attempts"),
            attempts=2,
            retry_delay=0.1,
        ),
    ),
    Fault(
        "429-retry-after-too-long",
        Behavior(status=429, retry_after=60),
        Expect(
            "failed",
            ErrorKind.RATE_LIMITED,
            ("rate limited (429)", "asks to wait 60 s, longer than the 1 s back-off limit"),
        ),
        limits={"retries": 3},
    ),
    Fault(
        "500",
        Behavior(status=500),
        Expect(
            "failed", ErrorKind.SERVER_ERROR, ("server error (500)", "after 3 attempts"), attempts=3
        ),
        limits={"retries": 2},
    ),
    Fault(
        "503",
        Behavior(status=503),
        Expect(
            "failed", ErrorKind.SERVER_ERROR, ("server error (503)", "after 2 attempts"), attempts=2
        ),
    ),
    Fault("503-then-ok", (Behavior(status=503),), Expect("done", attempts=2)),
    Fault(
        "401",
        Behavior(status=401),
        Expect(
            "failed",
            ErrorKind.AUTHENTICATION,
            ("rejected the API key (401)", "Set a valid key in $FANOUT_TEST_KEY"),
        ),
        limits={"retries": 3},
    ),
    Fault(
        "404-unknown-model",
        column="model",
        stream=Expect(
            "failed",
            ErrorKind.NOT_FOUND,
            (f"no model '{UNKNOWN_MODEL}' (404)", "Check the model name against {url}/models"),
        ),
        limits={"retries": 3},
    ),
    Fault(
        "slow-first-token",
        Behavior(ttft=60),
        Expect(
            "failed",
            ErrorKind.TIMEOUT,
            (
                "no answer within 2 s (first-token timeout)",
                "Raise the first-token timeout",
                "after 2 attempts",
            ),
            attempts=2,
        ),
        limits={"timeout": 2},
        budget=2 * 2 + 0.4,
        hangs=True,
        fail_fast=_TIMEOUT_FAIL_FAST,
    ),
    Fault(
        "stall-mid-stream",
        Behavior(stall_after=2),
        Expect(
            "failed",
            ErrorKind.TIMEOUT,
            ("stalled: no text for 2 s (idle timeout)", "partial text is kept"),
            partial=2,
        ),
        whole=Expect(
            "failed",
            ErrorKind.TIMEOUT,
            ("no answer within 2 s (first-token timeout)", "after 2 attempts"),
            attempts=2,
        ),
        limits={"timeout": 2},
        budget=2 * 2 + 0.4,
        hangs=True,
        fail_fast=_TIMEOUT_FAIL_FAST,
    ),
    Fault(
        "drop-mid-stream",
        Behavior(drop_after=2),
        Expect(
            "failed", ErrorKind.CUT_OFF, ("connection dropped mid-answer", "cut off"), partial=2
        ),
        whole=Expect(
            "failed",
            ErrorKind.CONNECTION,
            ("closed the connection without answering", "after 2 attempts"),
            attempts=2,
        ),
        hangs=True,
    ),
    Fault("drop-before-text-then-ok", (Behavior(drop_after=0),), Expect("done", attempts=2)),
    Fault(
        "malformed-sse",
        Behavior(malformed_after=2),
        Expect("failed", ErrorKind.BAD_RESPONSE, ("malformed response", "OpenAI-compatible"), 1, 2),
        whole=Expect("failed", ErrorKind.BAD_RESPONSE, ("malformed response",)),
    ),
    Fault(
        "error-event-mid-stream",
        Behavior(error_after=2),
        Expect(
            "failed",
            ErrorKind.SERVER_ERROR,
            ("reported an error mid-answer", "server had an error"),
            partial=2,
        ),
        whole=Expect("done"),  # the server sends no error events without streaming
    ),
    Fault(
        "empty-stream",
        Behavior(empty=True),
        Expect("failed", ErrorKind.BAD_RESPONSE, ("empty answer (no text)",)),
    ),
    Fault(
        "web-page-not-an-api",
        Behavior(html=True),
        Expect(
            "failed",
            ErrorKind.BAD_RESPONSE,
            ("{url} answered with a web page, not an OpenAI-compatible API", "base URL"),
        ),
    ),
    Fault(
        "1mb-answer",
        Behavior(huge_bytes=1_000_000, token_interval=0),
        Expect("done", length=1_000_000),
        limits={"timeout": 30},
        budget=3.0,
    ),
    Fault(
        "clean-end-without-finish",
        Behavior(end_after=2),
        Expect(
            "failed",
            ErrorKind.CUT_OFF,
            ("the answer is cut off", "no finish_reason, no [DONE]"),
            partial=2,
        ),
        whole=Expect("done"),  # a whole JSON answer has its length: it cannot end early
    ),
    Fault(
        "clean-end-before-text-then-ok",
        (Behavior(end_after=0),),
        Expect("done", attempts=2),
        whole=Expect("done"),
    ),
    Fault(
        "done-without-finish-reason",  # [DONE] says it finished
        Behavior(no_finish_reason=True),
        Expect("done", finish=None),
        whole=Expect("done"),
    ),
    Fault("finish-length", Behavior(finish_reason="length"), Expect("done", finish="length")),
    Fault(
        "finish-content-filter",
        Behavior(finish_reason="content_filter"),
        Expect("done", finish="content_filter"),
    ),
    Fault(
        "error-sse-event",
        Behavior(error_event_after=2, error_message="CUDA out of memory"),
        Expect(
            "failed",
            ErrorKind.SERVER_ERROR,
            ("reported an error mid-answer: CUDA out of memory",),
            partial=2,
        ),
        whole=Expect("done"),
    ),
    Fault(
        "json-answer-to-a-stream",
        Behavior(json_answer=True),
        Expect("done", note=True),
        whole=Expect("done"),
    ),
    Fault(
        "redirect-post-to-get",
        Behavior(redirect=302),
        Expect(
            "failed",
            ErrorKind.BAD_RESPONSE,
            ("redirected the request (302 to http://127.0.0.1:", "turns the POST into a GET"),
        ),
        limits={"retries": 3},
    ),
    Fault(
        "wrong-field-types",
        Behavior(wrong_types_after=2),
        Expect(
            "failed",
            ErrorKind.BAD_RESPONSE,
            ("malformed stream", "'content' of a chunk has the wrong type"),
            partial=2,
        ),
        whole=Expect("done"),
    ),
    Fault(
        "json-array-chunk",
        Behavior(array_chunk_after=2),
        Expect(
            "failed",
            ErrorKind.BAD_RESPONSE,
            ("malformed stream", "a chunk is a JSON array, not an object"),
            partial=2,
        ),
        whole=Expect("done"),
    ),
    Fault(
        "invalid-utf8",
        Behavior(invalid_utf8_after=2),
        Expect(
            "failed",
            ErrorKind.BAD_RESPONSE,
            ("malformed stream", "bytes that are not valid UTF-8"),
            partial=2,
        ),
        whole=Expect("done"),
    ),
    Fault(
        "flood-of-large-events",
        Behavior(flood_after=2, flood_bytes=500_000),
        Expect(
            "failed",
            ErrorKind.TOO_LARGE,
            ("answer too large", "more than 1,200,000 characters"),
            partial=2,
            partial_chars=1_200_000,
        ),
        whole=Expect("done"),
        limits={"max_answer_chars": 1_200_000, "timeout": 10},
        budget=10.0,
        hangs=True,
    ),
    Fault(
        "flood-one-endless-line",
        Behavior(flood_after=2, flood_line=True),
        Expect(
            "failed",
            ErrorKind.TOO_LARGE,
            ("answer too large", "one event of the stream passed"),
            partial=2,
        ),
        whole=Expect("done"),
        limits={"max_answer_chars": 10_000, "timeout": 10},
        budget=10.0,
        hangs=True,
    ),
    Fault(
        "not-listening",
        column="closed",
        stream=Expect(
            "failed",
            ErrorKind.CONNECTION,
            ("cannot connect to {url}", "Is the server running", "after 2 attempts"),
            attempts=2,
        ),
        hangs=True,
    ),
)


def within(budget: float) -> float:
    """A fault's idle-machine budget with room for a machine running at a quarter speed."""
    return 4 * budget + 2


BY_ID: dict[str, Fault] = {f.id: f for f in FAULTS}

#: Faults that end the faulty cell failed (for fail-fast runs).
FAILING: tuple[Fault, ...] = tuple(f for f in FAULTS if f.stream.status == "failed")


def answer(topic: str, model: str = "fake-1") -> str:
    """The server's normal answer to the matrix prompt about ``topic``."""
    return default_answer(TEMPLATE.format(topic=topic), model, TOKENS)


def partial_answer(tokens: int, topic: str = FAULTY, model: str = "fake-1") -> str:
    """The first ``tokens`` tokens of the normal answer (what a cut stream leaves)."""
    return "".join(split_tokens(answer(topic, model), TOKENS)[:tokens])
