"""An in-test OpenAI-compatible HTTP server with fault injection.

`FakeOpenAIServer` stands in for OpenAI / Ollama / vLLM on 127.0.0.1 so the test suite never
needs the network. It is built on the standard library only (asyncio streams + json) and runs
its own event loop in a background daemon thread, so async tests (client on the test's loop),
plain sync code and subprocess CLI tests can all talk to it.

Endpoints (everything else -> 404 with an OpenAI-style JSON error body):

* ``GET  /v1/models`` and ``GET /v1/models/{id}``
* ``/v1/files`` and ``/v1/batches``: the Batch API (`tests.support.openai_batches`), whose
  timing and faults ``srv.batches.plan`` controls.
* ``POST /v1/chat/completions``: non-streaming JSON (with ``usage``) or, with ``"stream": true``,
  ``text/event-stream`` with one ``data: {chat.completion.chunk}`` event per token, an optional
  usage chunk (``stream_options.include_usage``) and ``data: [DONE]``.

Streams use HTTP/1.1 chunked transfer encoding with keep-alive, like the real API: an abrupt
close before the terminating chunk is then a protocol error the client cannot mistake for the
normal end of the body (with ``Connection: close`` framing a dropped stream would simply end).

What each chat request does is a `Behavior`, chosen per request: first from `queue()`, then from
the `behave()` callback, else `FakeOpenAIServer.default`. Timing fields left at ``None`` fall back
to the default behaviour.

Usage::

    with FakeOpenAIServer(models=["fake-1", "fake-2"], tokens=5, token_interval=0.01) as srv:
        srv.queue(Behavior(status=429, retry_after=1))  # first request is rate limited
        srv.behave(lambda req: Behavior(stall_after=2) if req.model == "fake-2" else None)
        ...  # point the client at srv.base_url
        assert srv.wait_for(lambda: srv.completed == 3)
        assert srv.peak_in_flight <= 2

Fault matrices and soaks have two helpers on top of ``behave()``: `FakeOpenAIServer.route` sends
a fault to the requests whose prompt contains a word (or that name a model), optionally only for
the first N of them, and `RandomFaults` injects a seeded mix of faults into a given share of
prompts. `FakeOpenAIServer.open_connections` counts the TCP connections still open, so a test can
check that a client closed every socket it opened; `closed_base_url` is a base URL nothing
listens on.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import itertools
import json
import random
import re
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from tests.support.openai_batches import BatchAPI

__all__ = [
    "FAULT_MIX",
    "Behavior",
    "FakeOpenAIServer",
    "Outcome",
    "RandomFaults",
    "RequestInfo",
    "Router",
    "closed_base_url",
    "default_answer",
    "schema_answers",
    "split_tokens",
    "structured_output",
    "unused_port",
]

DEFAULT_MODELS: tuple[str, ...] = ("fake-1", "fake-2")

#: Where `Behavior.redirect` sends the client: a POST-only route, so a GET gets 405.
REDIRECT_TARGET = "/v1/moved/chat/completions"

_PORTS_USED: set[int] = set()  # ports this process has listened on (see _listen)
_PORTS_LOCK = threading.Lock()

Outcome = Literal[
    "pending",  # still being served
    "ok",  # 200 response delivered to the end
    "error",  # an HTTP error status was sent (429, 500, ...)
    "disconnected",  # the client went away before the server finished
    "dropped",  # the server cut the connection on purpose (drop_after)
    "malformed",  # a broken JSON event/body was sent (malformed_after)
    "stream_error",  # an in-stream error event was sent (error_after)
    "aborted",  # the server was closed while serving it
    "html",  # a 200 web page was sent instead of an API answer (html)
    "cut",  # the body ended cleanly without finish_reason or [DONE] (end_after)
    "bad_shape",  # a chunk of the wrong shape or encoding was sent (wrong_types_after, ...)
    "redirect",  # a redirect was sent instead of an answer (redirect)
]

_FILLER = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua"
).split()

# OpenAI-style error bodies per status: (message, type, code).
_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Invalid request.", "invalid_request_error", None),
    401: (
        "Incorrect API key provided. You can find your API key at https://example.invalid.",
        "invalid_request_error",
        "invalid_api_key",
    ),
    403: ("You are not allowed to sample from this model.", "permission_denied", None),
    404: (
        "The model `{model}` does not exist or you do not have access to it.",
        "invalid_request_error",
        "model_not_found",
    ),
    408: ("Request timed out.", "timeout", None),
    409: ("Conflict.", "invalid_request_error", None),
    422: ("Unprocessable request.", "invalid_request_error", None),
    429: (
        "Rate limit reached for {model} on requests per min (RPM). Please try again later.",
        "requests",
        "rate_limit_exceeded",
    ),
    500: ("The server had an error while processing your request.", "server_error", None),
    502: ("Bad gateway.", "server_error", None),
    503: (
        "The engine is currently overloaded, please try again later.",
        "server_error",
        "overloaded",
    ),
    504: ("Gateway timeout.", "server_error", None),
}


@dataclass
class Behavior:
    """How the server answers one chat-completion request. Every field is optional.

    Timing/size fields left at ``None`` (``ttft``, ``tokens``, ``token_interval``) fall back to
    `FakeOpenAIServer.default`. The ``*_after`` faults count *content tokens*: ``0`` means right
    after the response headers, before any token. Faults apply to non-streaming requests too
    (stall: never answer; drop: close without a response; malformed: truncated JSON body).
    """

    status: int = 200
    """HTTP status. >= 400 sends an OpenAI-style JSON error body (see ``error_*``)."""
    retry_after: float | None = None
    """Sets the ``Retry-After`` header (seconds), e.g. together with ``status=429``."""
    headers: Mapping[str, str] | None = None
    """Extra response headers (e.g. ``{"retry-after-ms": "250"}``)."""
    error_message: str | None = None
    error_type: str | None = None
    error_code: str | None = None
    delay: float = 0.0
    """Seconds before the status line is sent (slow headers; applies to errors too)."""
    ttft: float | None = None
    """Seconds between the response headers and the first token."""
    tokens: int | None = None
    """Number of content tokens (chunks). With ``text``, the text is split into this many."""
    token_interval: float | None = None
    """Seconds between consecutive tokens."""
    text: str | None = None
    """Answer text instead of the default `default_answer`; split on word boundaries."""
    role_first: bool = False
    """Send the role-only delta right after the headers (like vLLM), not with the first token."""
    stall_after: int | None = None
    """Send N tokens, then hang until the client goes away (or the server closes)."""
    drop_after: int | None = None
    """Send N tokens, then abruptly close the socket: no final chunk, no [DONE]."""
    malformed_after: int | None = None
    """Send N tokens, then a ``data:`` line that is not valid JSON, then [DONE]."""
    error_after: int | None = None
    """Send N tokens, then an in-stream ``data: {"error": ...}`` event, then [DONE]."""
    empty: bool = False
    """A 200 stream that contains only ``data: [DONE]`` (non-streaming: empty content)."""
    huge_bytes: int | None = None
    """Answer with exactly this many ASCII bytes, streamed in ``chunk_bytes`` pieces."""
    chunk_bytes: int = 4096
    html: bool = False
    """Answer 200 with a web page (``text/html``), as a plain web server at the base URL would."""
    finish_reason: str | None = None
    """The last chunk's ``finish_reason`` instead of ``stop`` (``length``, ``content_filter``)."""
    end_after: int | None = None
    """Send N tokens, then end the body cleanly without ``finish_reason`` or ``[DONE]``: the
    terminating chunk with chunked framing, a clean close with ``Connection: close`` framing
    (what a proxy that gave up on its upstream does)."""
    no_finish_reason: bool = False
    """End a complete stream with ``[DONE]`` but no chunk carrying a ``finish_reason``."""
    error_event_after: int | None = None
    """Send N tokens, then an ``event: error`` SSE event (data without an ``error`` key)."""
    json_answer: bool = False
    """Answer a streaming request with one non-streaming ``chat.completion`` JSON body."""
    redirect: int | None = None
    """Answer with this redirect status (301/302/303), ``Location`` on the same server; the
    target answers a GET with 405 as a POST-only route does."""
    wrong_types_after: int | None = None
    """Send N tokens, then a chunk whose ``content`` is a number, not a string."""
    array_chunk_after: int | None = None
    """Send N tokens, then a ``data:`` event that is a JSON array, not an object."""
    invalid_utf8_after: int | None = None
    """Send N tokens, then a chunk whose content holds bytes that are not UTF-8."""
    flood_after: int | None = None
    """Send N tokens, then large content events (``flood_bytes`` each) until the client leaves."""
    flood_bytes: int = 1_000_000
    flood_line: bool = False
    """With ``flood_after``: one endless ``data:`` line without a newline instead of events."""
    gzip: bool = False
    """Compress a stream with gzip (``Content-Encoding: gzip``), flushed after every event."""
    flood_empty: bool = False
    """With ``flood_after``: events without text (empty deltas), as fast as the client reads."""


@dataclass
class RequestInfo:
    """One chat-completion request as the server saw it (mutated while it is served)."""

    index: int
    """0-based arrival order since start / the last `FakeOpenAIServer.reset_stats`."""
    model: str
    messages: list[dict[str, Any]]
    stream: bool
    headers: dict[str, str]
    """Request headers with lower-case names."""
    body: dict[str, Any]
    start: float
    """`time.monotonic()` when the request had been read."""
    connection: int = 0
    """Serial number of the TCP connection it came in on (keep-alive reuse is visible here)."""
    end: float | None = None
    status: int | None = None
    outcome: Outcome = "pending"
    tokens_sent: int = 0
    behavior: Behavior | None = None

    @property
    def include_usage(self) -> bool:
        opts = self.body.get("stream_options") or {}
        return bool(isinstance(opts, dict) and opts.get("include_usage"))

    @property
    def last_user_text(self) -> str:
        for message in reversed(self.messages):
            if isinstance(message, dict) and message.get("role") == "user":
                return _content_text(message.get("content"))
        return ""

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.start


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
        parts = [p.get("text", "") for p in content if isinstance(p, dict)]
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def split_tokens(text: str, n: int | None = None) -> list[str]:
    """Split ``text`` into tokens on word boundaries; ``"".join(result) == text``.

    Each token carries its leading whitespace. With ``n``, words are grouped into at most ``n``
    tokens of (nearly) equal word counts.
    """
    if not text:
        return []
    pieces = re.findall(r"\s*\S+", text)
    if not pieces:
        return [text]
    tail = text[sum(len(p) for p in pieces) :]
    pieces[-1] += tail
    if n is None or n >= len(pieces):
        return pieces
    n = max(n, 1)
    size, extra = divmod(len(pieces), n)
    out: list[str] = []
    pos = 0
    for i in range(n):
        take = size + (1 if i < extra else 0)
        out.append("".join(pieces[pos : pos + take]))
        pos += take
    return out


def default_answer(prompt: str, model: str, tokens: int = 8) -> str:
    """The default answer text for the last user message ``prompt`` (exactly ``tokens`` tokens).

    ``"Answer about <prompt> from <model>:"`` followed by filler words up to ``tokens`` words;
    the prompt's whitespace is normalised. Tests can use this to predict the server's output.
    """
    subject = " ".join(prompt.split()) or "nothing"
    words = f"Answer about {subject} from {model}:".split(" ")
    filler = itertools.cycle(_FILLER)
    while len(words) < tokens:
        words.append(next(filler))
    return " ".join(words)


def structured_output(
    reply: Callable[[RequestInfo], str], *, supported: bool = True
) -> Callable[[RequestInfo], Behavior | None]:
    """A ``behave()`` callback for judges: a structured-output (``response_format``) mode.

    A request with ``response_format`` of type ``json_schema`` gets ``reply(info)`` (the JSON
    the schema asks for), or, with ``supported=False``, the 400 a server without structured
    output sends. A request without it whose prompt asks for JSON (the plain judge prompt)
    also gets ``reply(info)``; every other request gets the default behaviour.
    """

    def behave(info: RequestInfo) -> Behavior | None:
        fmt = info.body.get("response_format")
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            if not supported:
                return Behavior(
                    status=400,
                    error_message="response_format json_schema is not supported by this server",
                    error_type="invalid_request_error",
                )
            return Behavior(text=reply(info))
        if "JSON object" in info.last_user_text:
            return Behavior(text=reply(info))
        return None

    return behave


SchemaMode = Literal["valid", "invalid_json", "wrong_shape"]


def schema_answers(
    mode: SchemaMode = "valid", *, json_schema_supported: bool = True
) -> Callable[[RequestInfo], Behavior | None]:
    """A ``behave()`` callback for structured runs: JSON for the schema a request asks for.

    A request with ``response_format`` of type ``json_schema`` is answered with an instance of
    that schema (``mode="valid"``), with text that is not JSON (``"invalid_json"``), or with
    JSON of the wrong shape (``"wrong_shape"``: an object without the schema's properties).
    With ``json_schema_supported=False`` such a request gets the 400 a server without
    structured output sends; a ``json_object`` (JSON mode) request is then answered the same
    way from the schema the system message carries. Other requests get the default behaviour.
    """

    def answer(schema: Any) -> Behavior:
        if mode == "invalid_json":
            return Behavior(text='{"answer": "cut here')
        if mode == "wrong_shape":
            return Behavior(text=json.dumps({"unexpected": True}))
        return Behavior(text=json.dumps(_instance_of(schema)))

    def behave(info: RequestInfo) -> Behavior | None:
        fmt = info.body.get("response_format")
        if not isinstance(fmt, dict):
            return None
        if fmt.get("type") == "json_schema":
            if not json_schema_supported:
                return Behavior(
                    status=400,
                    error_message="response_format json_schema is not supported by this server",
                    error_type="invalid_request_error",
                )
            return answer((fmt.get("json_schema") or {}).get("schema") or {})
        if fmt.get("type") == "json_object":
            system = next(
                (
                    _content_text(m.get("content"))
                    for m in info.messages
                    if isinstance(m, dict) and m.get("role") == "system"
                ),
                "",
            )
            start = system.find("{", system.find("JSON Schema"))
            try:
                schema = json.loads(system[start:]) if start >= 0 else {}
            except ValueError:
                schema = {}
            return answer(schema)
        return None

    return behave


def _instance_of(schema: Any) -> Any:
    """A small value that follows ``schema`` (objects, arrays, enums and the scalar types)."""
    if not isinstance(schema, dict):
        return {}
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = kind[0] if kind else "object"
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: _instance_of(sub) for name, sub in props.items()}
    if kind == "array":
        return [_instance_of(schema.get("items") or {"type": "string"})]
    if kind == "string":
        return "text"
    if kind == "integer":
        return max(1, int(schema.get("minimum", 1)))
    if kind == "number":
        return float(schema.get("minimum", 0.5))
    if kind == "boolean":
        return True
    return None


def unused_port() -> int:
    """A TCP port on 127.0.0.1 that nothing is listening on (for connection-refused tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def closed_base_url() -> str:
    """An OpenAI-style base URL on 127.0.0.1 where nothing listens (connection refused)."""
    return f"http://127.0.0.1:{unused_port()}/v1"


#: A route value: one behaviour for every matching request, or a list used up one per request
#: (after which matching requests get the default answer).
Route = Behavior | Sequence[Behavior]


class Router:
    """A ``behave()`` callback choosing a behaviour by prompt word or by model.

    Made by `FakeOpenAIServer.route`. The first entry of ``prompts`` whose key occurs in the
    request's last user message wins, then ``models`` by exact model name, else the server's
    default. Thread-safe (it runs on the server thread); `hits` counts the requests each key
    served, sequences included.
    """

    def __init__(
        self, prompts: Mapping[str, Route] | None = None, models: Mapping[str, Route] | None = None
    ) -> None:
        self._prompts = {k: self._plan(v) for k, v in (prompts or {}).items()}
        self._models = {k: self._plan(v) for k, v in (models or {}).items()}
        self._lock = threading.Lock()
        self.hits: dict[str, int] = {}

    @staticmethod
    def _plan(route: Route) -> Behavior | list[Behavior]:
        return route if isinstance(route, Behavior) else list(route)

    def _take(self, key: str, plan: Behavior | list[Behavior]) -> Behavior | None:
        with self._lock:
            self.hits[key] = self.hits.get(key, 0) + 1
            if isinstance(plan, Behavior):
                return plan
            return plan.pop(0) if plan else None

    def __call__(self, info: RequestInfo) -> Behavior | None:
        text = info.last_user_text
        for key, plan in self._prompts.items():
            if key in text:
                return self._take(key, plan)
        plan = self._models.get(info.model)
        return self._take(info.model, plan) if plan is not None else None


#: The faults a soak injects, by name (see `RandomFaults`). Faults after the first tokens keep
#: partial text, so the engine must not retry them; the rest are retried by the engine's policy.
FAULT_MIX: Mapping[str, Behavior] = {
    "429": Behavior(status=429, retry_after=0),
    "500": Behavior(status=500),
    "503": Behavior(status=503),
    "drop": Behavior(drop_after=2),
    "stall": Behavior(stall_after=2),
    "malformed": Behavior(malformed_after=2),
}


class RandomFaults:
    """A seeded ``behave()`` callback that makes a share of prompts faulty.

    Whether a prompt is faulty, and with which fault of ``mix``, depends only on ``seed`` and the
    prompt text (the last user message), not on arrival order: a run with concurrency is as
    reproducible as a sequential one, a retried request meets the same fault again, and a test
    can ask `fault_for` what each of its cells will see. With ``sticky=False`` each request draws
    afresh instead (order-dependent, so only the share of faults is predictable).

    Args:
        rate: Share of prompts (or requests) that are faulty, 0..1.
        seed: Seed of every draw.
        mix: Fault name -> behaviour, drawn with equal weight.
        sticky: Same prompt, same fault (default); else one draw per request.
    """

    def __init__(
        self,
        rate: float,
        seed: int = 0,
        mix: Mapping[str, Behavior] = FAULT_MIX,
        *,
        sticky: bool = True,
    ) -> None:
        if not 0 <= rate <= 1:
            raise ValueError("rate is a probability: 0 to 1")
        if not mix:
            raise ValueError("mix needs at least one fault")
        self.rate = rate
        self.seed = seed
        self.mix = dict(mix)
        self.sticky = sticky
        self._names = sorted(self.mix)
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.injected: dict[str, int] = {}
        """How many requests got each fault so far."""

    def fault_for(self, prompt: str) -> str | None:
        """The fault name a prompt gets with ``sticky=True``, or ``None`` for a normal answer."""
        rng = random.Random(f"{self.seed}:{prompt}")
        if rng.random() >= self.rate:
            return None
        return rng.choice(self._names)

    def __call__(self, info: RequestInfo) -> Behavior | None:
        if self.sticky:
            name = self.fault_for(info.last_user_text)
        else:
            with self._lock:
                hit = self._rng.random() < self.rate
                name = self._rng.choice(self._names) if hit else None
        if name is None:
            return None
        with self._lock:
            self.injected[name] = self.injected.get(name, 0) + 1
        return self.mix[name]


def _huge_text(n: int) -> str:
    unit = "All work and no play makes a fake model a dull model. "
    return (unit * (n // len(unit) + 1))[:n]


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _count_words(messages: Iterable[Any]) -> int:
    return sum(
        len(_content_text(m.get("content")).split()) for m in messages if isinstance(m, dict)
    )


class _ClientGone(Exception):
    """The client closed the connection (EOF or a failed write)."""


class _Dropped(Exception):
    """The server closed the connection on purpose; do not reuse it."""


class _BadRequest(Exception):
    """Unparseable HTTP; close the connection."""


class _Conn:
    """One accepted TCP connection: buffered reads, EOF watching, guarded writes."""

    def __init__(
        self, serial: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.serial = serial
        self.reader = reader
        self.writer = writer
        self.buf = bytearray()
        self.gone = asyncio.Event()
        self.watcher: asyncio.Task[None] | None = None
        self.task: asyncio.Task[Any] | None = None

    async def _fill(self) -> None:
        try:
            data = await self.reader.read(65536)
        except (ConnectionError, OSError) as exc:
            self.gone.set()
            raise _ClientGone from exc
        if not data:
            self.gone.set()
            raise _ClientGone
        self.buf += data

    async def read_until(self, sep: bytes, limit: int = 65536) -> bytes:
        while (pos := self.buf.find(sep)) < 0:
            if len(self.buf) > limit:
                raise _BadRequest("header section too large")
            await self._fill()
        out = bytes(self.buf[: pos + len(sep)])
        del self.buf[: pos + len(sep)]
        return out

    async def read_exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            await self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    async def _watch(self) -> None:
        # While a response is being produced the client sends nothing (httpx does not pipeline),
        # so a read that completes is either EOF (client gone) or pipelined bytes we keep.
        with contextlib.suppress(_ClientGone):
            while True:
                await self._fill()

    def start_watching(self) -> None:
        if self.watcher is None and not self.gone.is_set():
            self.watcher = asyncio.get_running_loop().create_task(self._watch())

    async def stop_watching(self) -> None:
        watcher, self.watcher = self.watcher, None
        if watcher is not None and not watcher.done():
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def send(self, data: bytes) -> None:
        if self.gone.is_set() or self.writer.transport.is_closing():
            raise _ClientGone
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, OSError) as exc:
            self.gone.set()
            raise _ClientGone from exc
        if self.gone.is_set():
            raise _ClientGone

    async def pause(self, seconds: float) -> None:
        """Sleep, but raise `_ClientGone` as soon as the client disconnects."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.gone.wait(), seconds)
        if self.gone.is_set():
            raise _ClientGone

    async def hang(self) -> None:
        await self.gone.wait()
        raise _ClientGone

    def abort(self) -> None:
        self.writer.transport.abort()


@dataclass
class _Request:
    method: str
    path: str
    version: str
    headers: dict[str, str]
    body: bytes

    @property
    def keep_alive(self) -> bool:
        conn = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in conn
        return "close" not in conn


@dataclass
class _Stats:
    requests: list[RequestInfo] = field(default_factory=list)
    http_log: list[tuple[str, str, int]] = field(default_factory=list)
    in_flight: int = 0
    peak: int = 0
    in_flight_by_model: dict[str, int] = field(default_factory=dict)
    peak_by_model: dict[str, int] = field(default_factory=dict)
    disconnected: list[RequestInfo] = field(default_factory=list)
    completed: int = 0
    connections: int = 0


@dataclass
class _Job:
    info: RequestInfo
    request: _Request
    stats: _Stats  # the stats generation it was counted in (reset_stats swaps it)
    settled: bool = False


class FakeOpenAIServer:
    """OpenAI-compatible chat-completions server on 127.0.0.1 in a background thread.

    Args:
        models: model ids listed by ``/v1/models``.
        tokens, ttft, token_interval: the default behaviour (see `Behavior`).
        strict_models: unknown models get a 404 ``model_not_found`` like the real API.
        api_key: if set, requests must send ``Authorization: Bearer <api_key>`` (else 401).
        stream_framing: ``"chunked"`` (default, keep-alive) or ``"close"`` (no length,
            ``Connection: close``; the end of the body is the end of the connection).
        reject_stream_options: answer any request that has a ``stream_options`` field with
            a 400 naming it, as older vLLM and llama.cpp servers do (settable later).
    """

    def __init__(
        self,
        models: Iterable[str] = DEFAULT_MODELS,
        *,
        tokens: int = 8,
        ttft: float = 0.0,
        token_interval: float = 0.0,
        strict_models: bool = True,
        api_key: str | None = None,
        stream_framing: Literal["chunked", "close"] = "chunked",
        host: str = "127.0.0.1",
        port: int = 0,
        reject_stream_options: bool = False,
    ) -> None:
        self.reject_stream_options = reject_stream_options
        self.models = list(models)
        self.default = Behavior(tokens=tokens, ttft=ttft, token_interval=token_interval)
        self.strict_models = strict_models
        self.api_key = api_key
        self.stream_framing = stream_framing
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._stats = _Stats()
        self._queue: list[Behavior] = []
        self._fn: Callable[[RequestInfo], Behavior | None] | None = None
        self._conn_serial = itertools.count(1)
        self._conns: set[_Conn] = set()
        self._open = 0  # connections open now (not part of the resettable stats)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._closing = False
        self._errors: list[BaseException] = []
        #: The Batch API: set ``batches.plan`` (a `BatchPlan`) to control it.
        self.batches = BatchAPI(default_answer)

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> FakeOpenAIServer:
        """Start the server thread and wait until it listens. Returns ``self``. Single use."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(
            target=self._thread_main, name=f"FakeOpenAIServer-{id(self):x}", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("FakeOpenAIServer did not start within 10 s")
        if self._startup_error is not None:
            self._thread.join(1)
            raise RuntimeError("FakeOpenAIServer failed to start") from self._startup_error
        return self

    def close(self) -> None:
        """Stop serving: open connections (even mid-stream) are aborted; joins the thread."""
        thread = self._thread
        if thread is None or self._closing:
            return
        self._closing = True
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and thread.is_alive():
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(stop.set)
        thread.join(5)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` (valid once started)."""
        return f"http://{self.host}:{self.port}/v1"

    # ----------------------------------------------------------------- behaviour

    def behave(self, fn: Callable[[RequestInfo], Behavior | None] | None) -> None:
        """Decide per request (called on the server thread); ``None`` from fn -> default.

        Queued behaviours take precedence. ``behave(None)`` removes the callback.
        """
        with self._lock:
            self._fn = fn

    def queue(self, *behaviors: Behavior) -> None:
        """Append behaviours used by the next requests, in arrival order, before ``behave``."""
        with self._lock:
            self._queue.extend(behaviors)

    def clear_queue(self) -> None:
        with self._lock:
            self._queue.clear()

    # ----------------------------------------------------------------- observation

    @property
    def requests(self) -> list[RequestInfo]:
        """Chat-completion requests since start / `reset_stats`, in arrival order."""
        with self._lock:
            return list(self._stats.requests)

    @property
    def http_log(self) -> list[tuple[str, str, int]]:
        """Every HTTP request as ``(method, path, status)``, including ``/v1/models`` and 404s."""
        with self._lock:
            return list(self._stats.http_log)

    @property
    def in_flight(self) -> int:
        """Chat-completion requests being served right now."""
        with self._lock:
            return self._stats.in_flight

    @property
    def peak_in_flight(self) -> int:
        """Highest `in_flight` seen since start / `reset_stats`."""
        with self._lock:
            return self._stats.peak

    def in_flight_for(self, model: str) -> int:
        with self._lock:
            return self._stats.in_flight_by_model.get(model, 0)

    def peak_in_flight_for(self, model: str) -> int:
        with self._lock:
            return self._stats.peak_by_model.get(model, 0)

    @property
    def disconnects(self) -> int:
        """Chat requests the client abandoned before the server finished them."""
        with self._lock:
            return len(self._stats.disconnected)

    @property
    def disconnected(self) -> list[RequestInfo]:
        with self._lock:
            return list(self._stats.disconnected)

    @property
    def completed(self) -> int:
        """Chat requests answered 200 and delivered to the end (stream incl. [DONE])."""
        with self._lock:
            return self._stats.completed

    @property
    def connections(self) -> int:
        """TCP connections accepted (fewer than requests means keep-alive reuse)."""
        with self._lock:
            return self._stats.connections

    @property
    def open_connections(self) -> int:
        """TCP connections open right now: accepted and not yet closed by either side.

        A client that closed every socket it opened brings this back to 0 (the server notices a
        client's close within a few milliseconds; poll with `wait_for` / `await_for`).
        """
        with self._lock:
            return self._open

    def route(
        self,
        prompts: Mapping[str, Route] | None = None,
        *,
        models: Mapping[str, Route] | None = None,
    ) -> Router:
        """Install (and return) a `Router`: a behaviour per prompt word and per model.

        ``srv.route({"boom": Behavior(status=500), "busy": [Behavior(status=429)]})`` fails every
        request whose prompt contains "boom", rate-limits the first one containing "busy" only,
        and answers everything else normally. Replaces any ``behave()`` callback.
        """
        router = Router(prompts, models)
        self.behave(router)
        return router

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions from ``behave()`` callbacks or from the server itself (should stay empty)."""
        with self._lock:
            return list(self._errors)

    def outcomes(self) -> dict[str, int]:
        """Count of `RequestInfo.outcome` values, e.g. ``{"ok": 3, "error": 1}``."""
        counts: dict[str, int] = {}
        for req in self.requests:
            counts[req.outcome] = counts.get(req.outcome, 0) + 1
        return counts

    def reset_stats(self) -> None:
        """Forget requests and counters (indexes restart at 0; peaks restart at in_flight)."""
        with self._lock:
            old = self._stats
            self._stats = _Stats(
                in_flight=old.in_flight,
                peak=old.in_flight,
                in_flight_by_model=dict(old.in_flight_by_model),
                peak_by_model={m: n for m, n in old.in_flight_by_model.items() if n},
            )

    def wait_for(
        self, predicate: Callable[[], bool], timeout: float = 30.0, interval: float = 0.005
    ) -> bool:
        """Poll ``predicate()`` from any thread until true; False after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(interval)

    async def await_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 30.0,
        interval: float = 0.005,
    ) -> bool:
        """`wait_for` for async tests: polls with `asyncio.sleep`, so the loop keeps running."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate():
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(interval)

    # ----------------------------------------------------------------- server thread

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            if not self._ready.is_set():
                self._startup_error = exc
                self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await self._listen()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            server.close()
            conns = list(self._conns)
            for conn in conns:
                conn.abort()
                if conn.task is not None:
                    conn.task.cancel()
            tasks = [c.task for c in conns if c.task is not None]
            if tasks:
                await asyncio.wait(tasks, timeout=1.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 1.0)

    async def _listen(self) -> asyncio.Server:
        # An ephemeral port is never handed out twice per process, so every server has a
        # distinct base_url. langchain_openai caches its default httpx clients per base_url
        # process-wide; their pooled keep-alive connections are bound to the event loop that
        # opened them, and a later test (new loop) hitting the same URL would fail with
        # "RuntimeError: Event loop is closed".
        held: list[asyncio.Server] = []
        try:
            while True:
                server = await asyncio.start_server(self._on_connect, self.host, self.port)
                port = int(server.sockets[0].getsockname()[1])
                with _PORTS_LOCK:
                    fresh = self.port != 0 or port not in _PORTS_USED or len(held) >= 50
                    _PORTS_USED.add(port)
                if fresh:
                    self.port = port
                    return server
                held.append(server)  # keep it bound so the kernel picks another port
        finally:
            for extra in held:
                extra.close()
                await extra.wait_closed()

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Conn(next(self._conn_serial), reader, writer)
        conn.task = asyncio.current_task()
        self._conns.add(conn)
        with self._lock:
            self._stats.connections += 1
            self._open += 1
        try:
            while not self._closing:
                try:
                    request = await self._read_request(conn)
                except _ClientGone:
                    break
                if not await self._dispatch(conn, request) or not request.keep_alive:
                    break
        except (_ClientGone, _Dropped, _BadRequest, asyncio.CancelledError):
            pass
        except Exception as exc:  # a bug in this module: keep it for assertions, stay quiet
            with self._lock:
                self._errors.append(exc)
        finally:
            self._conns.discard(conn)
            with self._lock:
                self._open -= 1
            await conn.stop_watching()
            if self._closing:
                conn.abort()
            writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(writer.wait_closed(), 0.5)

    async def _read_request(self, conn: _Conn) -> _Request:
        head = await conn.read_until(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError as exc:
            raise _BadRequest(lines[0]) from exc
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, _, value = line.partition(":")
            key = name.strip().lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = bytearray()
            while True:
                size = int((await conn.read_until(b"\r\n")).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while (await conn.read_until(b"\r\n")) != b"\r\n":  # trailers
                        pass
                    break
                body += await conn.read_exactly(size)
                await conn.read_exactly(2)
            data = bytes(body)
        else:
            data = await conn.read_exactly(int(headers.get("content-length", "0") or 0))
        return _Request(method.upper(), target.split("?", 1)[0], version.strip(), headers, data)

    def _authorized(self, request: _Request) -> bool:
        """Whether the request carries the key (always, when the server needs none)."""
        return (
            self.api_key is None or request.headers.get("authorization") == f"Bearer {self.api_key}"
        )

    def _log(self, request: _Request, status: int) -> None:
        with self._lock:
            self._stats.http_log.append((request.method, request.path, status))

    async def _dispatch(self, conn: _Conn, request: _Request) -> bool:
        """Serve one request; returns whether the connection may be reused."""
        path = request.path.rstrip("/")
        if path == "/v1/chat/completions" and request.method == "POST":
            return await self._chat(conn, request)
        if path.startswith(("/v1/files", "/v1/batches")):
            status, payload = self.batches.handle(
                request.method, path, request.headers, request.body
            )
            self._log(request, status)
            if isinstance(payload, bytes):
                head = {"content-type": "application/octet-stream"}
                await conn.send(_json_response(status, payload, head))
            else:
                await self._send_json(conn, status, payload)
            return True
        if path == REDIRECT_TARGET:
            self._log(request, 405)
            await self._send_json(conn, 405, {"detail": "Method Not Allowed"})
            return True
        if (
            path.startswith("/v1/models")
            and request.method == "GET"
            and not self._authorized(request)
        ):
            self._log(request, 401)
            await self._send_json(conn, 401, _error_body(401, Behavior(), ""))
            return True
        if path == "/v1/models" and request.method == "GET":
            data = [self._model_obj(m) for m in self.models]
            self._log(request, 200)
            await self._send_json(conn, 200, {"object": "list", "data": data})
            return True
        if path.startswith("/v1/models/") and request.method == "GET":
            model = path.removeprefix("/v1/models/")
            if model in self.models:
                self._log(request, 200)
                await self._send_json(conn, 200, self._model_obj(model))
            else:
                self._log(request, 404)
                await self._send_json(conn, 404, _error_body(404, Behavior(), model))
            return True
        self._log(request, 404)
        body = {
            "error": {
                "message": f"Invalid URL ({request.method} {request.path})",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        }
        await self._send_json(conn, 404, body)
        return True

    @staticmethod
    def _model_obj(model: str) -> dict[str, Any]:
        return {
            "id": model,
            "object": "model",
            "created": 1_700_000_000,
            "owned_by": "fanout-tests",
        }

    # ----------------------------------------------------------------- chat completions

    def _stream_options_refusal(self, info: RequestInfo) -> Behavior | None:
        """The 400 of a server that does not know ``stream_options``, when switched on."""
        if not (self.reject_stream_options and "stream_options" in info.body):
            return None
        return Behavior(
            status=400,
            error_message="Unrecognized request argument supplied: stream_options",
            error_type="invalid_request_error",
        )

    def _choose(self, info: RequestInfo) -> Behavior:
        with self._lock:
            if self._queue:
                return self._queue.pop(0)
            fn = self._fn
        chosen = fn(info) if fn is not None else None
        return chosen if chosen is not None else self.default

    async def _chat(self, conn: _Conn, request: _Request) -> bool:
        try:
            body = json.loads(request.body or b"{}")
            if not isinstance(body, dict):
                raise ValueError("body is not a JSON object")
        except ValueError as exc:
            self._log(request, 400)
            err = Behavior(status=400, error_message=f"We could not parse the JSON body: {exc}")
            await self._send_json(conn, 400, _error_body(400, err, ""))
            return True
        messages = body.get("messages")
        with self._lock:
            stats = self._stats
            info = RequestInfo(
                index=len(stats.requests),
                model=str(body.get("model", "")),
                messages=messages if isinstance(messages, list) else [],
                stream=bool(body.get("stream")),
                headers=dict(request.headers),
                body=body,
                start=time.monotonic(),
                connection=conn.serial,
            )
            stats.requests.append(info)
            stats.in_flight += 1
            stats.peak = max(stats.peak, stats.in_flight)
            by_model = stats.in_flight_by_model
            by_model[info.model] = by_model.get(info.model, 0) + 1
            stats.peak_by_model[info.model] = max(
                stats.peak_by_model.get(info.model, 0), by_model[info.model]
            )
        job = _Job(info, request, stats)
        conn.start_watching()
        reuse = False
        try:
            try:
                behavior = self._stream_options_refusal(info) or self._choose(info)
            except Exception as exc:  # a broken behave() callback -> 500 that names it
                with self._lock:
                    self._errors.append(exc)
                behavior = Behavior(status=500, error_message=f"behave() raised {exc!r}")
            info.behavior = behavior
            reuse = await self._serve_chat(conn, job, behavior)
        except _ClientGone:
            self._settle(job, "disconnected")
        except _Dropped:
            self._settle(job, "dropped")
        finally:
            await conn.stop_watching()
            self._settle(job, "aborted")  # no-op unless cancelled by close()
        return reuse and request.keep_alive

    def _settle(self, job: _Job, outcome: Outcome) -> None:
        """Record the request as finished (idempotent).

        Called *before* the last bytes of a response are written, so a client that has seen the
        end of its response can never observe the request as still in flight (or not completed).
        """
        if job.settled:
            return
        job.settled = True
        info = job.info
        info.end = time.monotonic()
        info.outcome = outcome
        with self._lock:
            if job.stats is self._stats:  # not reset meanwhile
                job.stats.http_log.append((job.request.method, job.request.path, info.status or 0))
                if outcome == "disconnected":
                    job.stats.disconnected.append(info)
                elif outcome == "ok":
                    job.stats.completed += 1
            current = self._stats
            current.in_flight = max(current.in_flight - 1, 0)
            left = current.in_flight_by_model.get(info.model, 1) - 1
            current.in_flight_by_model[info.model] = max(left, 0)

    async def _final(self, conn: _Conn, job: _Job, outcome: Outcome, data: bytes) -> None:
        """Settle the request as ``outcome``, then write the last bytes of its response."""
        self._settle(job, outcome)
        try:
            await conn.send(data)
        except _ClientGone:
            with self._lock:  # the client left during the very last write after all
                if job.stats is self._stats and job.info.outcome != "disconnected":
                    if job.info.outcome == "ok":
                        job.stats.completed -= 1
                    job.stats.disconnected.append(job.info)
                job.info.outcome = "disconnected"
            raise

    def _plan_tokens(self, info: RequestInfo, b: Behavior) -> list[str]:
        n = b.tokens if b.tokens is not None else (self.default.tokens or 0)
        if b.empty or (b.huge_bytes is None and n <= 0):
            return []
        if b.huge_bytes is not None:
            text = _huge_text(b.huge_bytes)
            step = max(b.chunk_bytes, 1)
            return [text[i : i + step] for i in range(0, len(text), step)]
        if b.text is not None:
            return split_tokens(b.text, b.tokens)
        return split_tokens(default_answer(info.last_user_text, info.model, n), n)

    async def _serve_chat(self, conn: _Conn, job: _Job, b: Behavior) -> bool:
        """Answer one chat request; returns whether the connection may be reused."""
        info = job.info
        default = self.default
        ttft = b.ttft if b.ttft is not None else (default.ttft or 0.0)
        interval = b.token_interval if b.token_interval is not None else default.token_interval
        interval = interval or 0.0
        await conn.pause(b.delay)

        status = b.status
        if status < 400 and self.api_key is not None:
            if info.headers.get("authorization") != f"Bearer {self.api_key}":
                status = 401
        if status < 400 and self.strict_models and info.model not in self.models:
            status = 404
        if status >= 400:
            info.status = status
            extra = dict(b.headers or {})
            if b.retry_after is not None:
                ra = b.retry_after
                extra["retry-after"] = str(int(ra)) if float(ra).is_integer() else str(ra)
            body = _dumps(_error_body(status, b, info.model))
            await self._final(conn, job, "error", _json_response(status, body, extra))
            return True

        if b.redirect is not None:
            info.status = b.redirect
            location = f"http://{self.host}:{self.port}{REDIRECT_TARGET}"
            response = _head(b.redirect, {"location": location, "content-length": "0"})
            await self._final(conn, job, "redirect", response)
            return True

        if b.html:
            info.status = 200
            page = b"<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>"
            response = _head(200, {"content-type": "text/html", "content-length": str(len(page))})
            await self._final(conn, job, "html", response + page)
            return True

        tokens = self._plan_tokens(info, b)
        limit = info.body.get("max_completion_tokens") or info.body.get("max_tokens")
        finish = b.finish_reason or "stop"
        if isinstance(limit, int) and 0 < limit < len(tokens):
            tokens, finish = tokens[:limit], "length"
        info.status = 200
        if info.stream and not b.json_answer:
            return await self._stream(conn, job, b, tokens, finish, ttft, interval)

        # Non-streaming: simulate the generation time, then one JSON body.
        if b.stall_after is not None:
            await conn.hang()
        if b.drop_after is not None:
            self._settle(job, "dropped")
            conn.abort()
            raise _Dropped
        await conn.pause(ttft + interval * max(len(tokens) - 1, 0))
        payload = {
            "id": f"chatcmpl-fake{info.index:06d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": info.model,
            "system_fingerprint": "fp_fake",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(tokens), "refusal": None},
                    "logprobs": None,
                    "finish_reason": finish,
                }
            ],
            "usage": self._usage(info, len(tokens)),
        }
        raw = _dumps(payload)
        if b.malformed_after is not None:
            await self._final(conn, job, "malformed", _json_response(200, raw[: len(raw) // 2]))
            return True
        info.tokens_sent = len(tokens)
        await self._final(conn, job, "ok", _json_response(200, raw, b.headers))
        return True

    async def _stream(
        self,
        conn: _Conn,
        job: _Job,
        b: Behavior,
        tokens: list[str],
        finish: str,
        ttft: float,
        interval: float,
    ) -> bool:
        info = job.info
        chunked = self.stream_framing == "chunked"
        usage_null = {"usage": None} if info.include_usage else {}
        cid = f"chatcmpl-fake{info.index:06d}"
        base = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": info.model,
            "system_fingerprint": "fp_fake",
        }

        packer = zlib.compressobj(wbits=31) if b.gzip else None

        def frame(payload: bytes) -> bytes:
            if packer is not None:  # flushed per event, as a compressing proxy streams
                payload = packer.compress(payload) + packer.flush(zlib.Z_SYNC_FLUSH)
            return b"%X\r\n%s\r\n" % (len(payload), payload) if chunked else payload

        def event(data: bytes) -> bytes:
            return frame(b"data: " + data + b"\n\n")

        def end_of_body() -> bytes:
            out = b""
            if packer is not None:
                trailer = packer.flush()
                out = b"%X\r\n%s\r\n" % (len(trailer), trailer) if chunked else trailer
            return out + (b"0\r\n\r\n" if chunked else b"")

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            return event(_dumps({**base, "choices": [choice], **usage_null}))

        def done() -> bytes:
            return event(b"[DONE]") + end_of_body()

        headers = {
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
            "x-request-id": f"req_fake{info.index:06d}",
            **(b.headers or {}),
        }
        if chunked:
            headers["transfer-encoding"] = "chunked"
        else:
            headers["connection"] = "close"
        if packer is not None:
            headers["content-encoding"] = "gzip"
        if b.empty:
            await self._final(conn, job, "ok", _head(200, headers) + done())
            return chunked
        await conn.send(_head(200, headers))

        def at(after: int | None) -> int | None:  # faults past the end fire after the last token
            return None if after is None else min(after, len(tokens))

        stall, drop, malformed, error = (
            at(b.stall_after),
            at(b.drop_after),
            at(b.malformed_after),
            at(b.error_after),
        )
        end, error_event, flood = at(b.end_after), at(b.error_event_after), at(b.flood_after)
        bad_shapes = {
            at(b.wrong_types_after): lambda: chunk({"content": 12345}),
            at(b.array_chunk_after): lambda: event(b"[1,2,3]"),
            at(b.invalid_utf8_after): lambda: event(
                _dumps({**base, "choices": [{"index": 0, "delta": {"content": "@@"}}]}).replace(
                    b"@@", b"caf\xe9 \xff\xfe"
                )
            ),
        }
        bad_shapes.pop(None, None)
        role = chunk({"role": "assistant", "content": "", "refusal": None})
        if b.role_first:
            await conn.send(role)
        await conn.pause(ttft)
        for i in range(len(tokens) + 1):
            if i == stall:
                await conn.hang()
            if i == drop:
                self._settle(job, "dropped")
                conn.abort()
                raise _Dropped
            if i == malformed:
                broken = event(b'{"id":"' + cid.encode() + b'","choices":[{"delta')
                await self._final(conn, job, "malformed", broken + done())
                return chunked
            if i == error:
                err = event(_dumps(_error_body(500, Behavior(), info.model)))
                await self._final(conn, job, "stream_error", err + done())
                return chunked
            if i == error_event:
                message = b.error_message or "The model crashed while generating."
                err = frame(b"event: error\ndata: " + _dumps({"message": message}) + b"\n\n")
                await self._final(conn, job, "stream_error", err + done())
                return chunked
            if i in bad_shapes:
                await self._final(conn, job, "bad_shape", bad_shapes[i]() + done())
                return chunked
            if i == end:
                await self._final(conn, job, "cut", end_of_body())
                return chunked
            if i == flood:
                await self._flood(conn, job, b, chunk)
            if i == len(tokens):
                break
            if i > 0:
                await conn.pause(interval)
            first = role if i == 0 and not b.role_first else b""
            await conn.send(first + chunk({"content": tokens[i]}))
            info.tokens_sent = i + 1

        tail = b"" if b.no_finish_reason else chunk({}, finish)
        if info.include_usage:
            usage = {**base, "choices": [], "usage": self._usage(info, len(tokens))}
            tail += event(_dumps(usage))
        await self._final(conn, job, "ok", tail + done())
        return chunked

    async def _flood(
        self,
        conn: _Conn,
        job: _Job,
        b: Behavior,
        chunk: Callable[[dict[str, Any]], bytes],
    ) -> None:
        """Send large events (or one endless line) until the client goes away."""
        size = max(b.flood_bytes, 1)
        if b.flood_line:
            piece = b"x" * min(size, 1 << 16)
            start = b'data: {"choices":[{"index":0,"delta":{"content":"'
            head = (
                b"%X\r\n%s\r\n" % (len(start), start) if self.stream_framing == "chunked" else start
            )
            await conn.send(head)
            while True:
                data = piece
                if self.stream_framing == "chunked":
                    data = b"%X\r\n%s\r\n" % (len(piece), piece)
                await conn.send(data)
                await asyncio.sleep(0)
        unit = "" if b.flood_empty else _huge_text(size)
        big = chunk({"content": unit})
        if b.flood_empty:
            big *= 256  # many small events per write
        while True:
            await conn.send(big)
            job.info.tokens_sent += 1
            await asyncio.sleep(0)  # let the server notice a client that went away

    @staticmethod
    def _usage(info: RequestInfo, completion: int) -> dict[str, int]:
        prompt = _count_words(info.messages)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    # ----------------------------------------------------------------- HTTP helpers

    async def _send_json(self, conn: _Conn, status: int, obj: Any) -> None:
        await conn.send(_json_response(status, _dumps(obj)))


def _json_response(status: int, body: bytes, extra: Mapping[str, str] | None = None) -> bytes:
    headers = {
        "content-type": "application/json",
        "content-length": str(len(body)),
        **(extra or {}),
    }
    return _head(status, headers) + body


def _head(status: int, headers: Mapping[str, str]) -> bytes:
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _error_body(status: int, b: Behavior, model: str) -> dict[str, Any]:
    fallback = ("Server error." if status >= 500 else "Request failed.", "api_error", None)
    message, etype, code = _ERRORS.get(status, fallback)
    return {
        "error": {
            "message": b.error_message or message.format(model=model),
            "type": b.error_type or etype,
            "param": None,
            "code": b.error_code or code,
        }
    }
