"""What an OpenAI-compatible server's HTTP answer says, checked on the wire.

The openai SDK reads a streamed answer as server-sent events and stops at the end of the
body, ``[DONE]`` or not, and it passes over an ``event: error`` event whose data has no
``error`` key. Neither tells the engine whether the server finished its answer. So the HTTP
clients the backend builds get a response hook (:func:`acheck_response`): it refuses a
redirect that would turn the POST into a GET, names a whole JSON answer sent to a streaming
request, and, for a streamed answer, wraps the body in a :class:`Watch` that notes ``[DONE]``,
raises on ``event: error``, and bounds the bytes buffered for one event (a server sending one
endless line must not take the memory of the machine).

The request that a watch belongs to is found through a context variable, set by the chain for
the duration of its call (:func:`watching`): the hook runs in the task that made the request.
The HTTP library is the response's own, so this module imports none.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from typing import Any

#: SSE lines that end a stream or report an error, at the start of a line.
_DONE_RE = re.compile(rb"[\r\n]data: ?\[DONE\]")
_ERROR_EVENT_RE = re.compile(rb"[\r\n]event: ?error[\r\n]")
_EVENT_END_RE = re.compile(rb"\r?\n\r?\n")
#: Bytes of the previous read kept to find a marker split across two reads.
_TAIL = 32
#: Longest ``event: error`` event read for its message.
_ERROR_EVENT_MAX = 65_536


class WireError(Exception):
    """Something on the wire that the server got wrong; ``str()`` is the one-line reason."""


class StreamErrorEvent(WireError):
    """The server sent an ``event: error`` SSE event in its stream."""


class AnswerCutOff(WireError):
    """The stream ended without a ``finish_reason`` or ``[DONE]``: the answer may be cut."""


class BadShape(WireError):
    """A chunk of the stream had the wrong shape or encoding; ``str()`` says which."""


class EventTooLarge(WireError):
    """One server-sent event grew past the bound on what is buffered for one event."""


class RedirectedToGet(WireError):
    """The server redirected the POST with a status that turns it into a GET.

    Attributes:
        status: The redirect status (301, 302 or 303).
        location: Where it pointed.
    """

    def __init__(self, status: int, location: str) -> None:
        super().__init__(f"redirected ({status}) to {location}")
        self.status = status
        self.location = location


class NotStreamed(WireError):
    """A streaming request got one whole JSON body instead of a stream.

    Attributes:
        text: The answer, when the body is a valid chat completion, else ``None``.
        finish_reason: Its finish reason, when it gave one.
    """

    def __init__(self, text: str | None, finish_reason: str | None) -> None:
        super().__init__("the server answered a streaming request with one JSON body")
        self.text = text
        self.finish_reason = finish_reason


class Watch:
    """What one response's body showed on the wire, fed by the bytes as they arrive.

    Args:
        max_event_bytes: Most bytes buffered for one event (one line without a newline) of a
            stream, or for the whole body of an answer that is not streamed (which the SDK
            reads whole before parsing it).
        streaming: Whether the request asked for a stream.
        max_stream_bytes: Most bytes of a whole stream, or ``None``: events without text
            (which no answer size cap counts) must not flow, and pile up, for ever.
    """

    def __init__(
        self,
        max_event_bytes: int,
        *,
        streaming: bool = True,
        max_stream_bytes: int | None = None,
    ) -> None:
        self.max_event_bytes = max_event_bytes
        self.streaming = streaming
        self.max_stream_bytes = max_stream_bytes
        self._body = 0  # bytes of the body so far
        #: Whether ``data: [DONE]`` came.
        self.done = False
        self._tail = b"\n"  # the body starts at the start of a line
        self._line = 0  # bytes since the last newline
        self._error_event: bytes | None = None
        #: What the watch found wrong, kept once found: the SDK stops reading at ``[DONE]``,
        #: and when the read that held the problem also held ``[DONE]`` (a ``Connection:
        #: close`` body has no chunks to keep them apart) the raise after that read never
        #: runs, so the chain raises this when the stream ends (:meth:`check`).
        self.problem: WireError | None = None

    def feed(self, data: bytes) -> WireError | None:
        """Note one read of the body; returns the problem to raise after it is passed on.

        Raises:
            EventTooLarge: The current event passed :attr:`max_event_bytes`.
        """
        self._body += len(data)
        if not self.streaming:
            if self._body > self.max_event_bytes:
                raise EventTooLarge(f"the whole answer passed {self.max_event_bytes:,} bytes")
            return None
        if self.max_stream_bytes is not None and self._body > self.max_stream_bytes:
            raise EventTooLarge(f"the stream passed {self.max_stream_bytes:,} bytes")
        newline = data.rfind(b"\n")
        self._line = self._line + len(data) if newline < 0 else len(data) - newline - 1
        if self._line > self.max_event_bytes:
            raise EventTooLarge(
                f"one event of the stream passed {self.max_event_bytes:,} bytes without ending"
            )
        text = self._tail + data
        self._tail = text[-_TAIL:]
        if self._error_event is not None:
            return self._collect_error(data)
        if b"[DONE]" in text and _DONE_RE.search(text):
            self.done = True
        if b"event:" in text:
            found = _ERROR_EVENT_RE.search(text)
            if found is not None:
                self._error_event = b""
                return self._collect_error(text[found.end() :])
        return None

    def finish(self) -> WireError | None:
        """The body ended: an error event still being read is reported as it stands."""
        if self._error_event is None:
            return None
        self.problem = self._error(self._error_event)
        self._error_event = None
        return self.problem

    def check(self) -> None:
        """Raise what the watch found wrong, if anything (the stream has ended).

        Raises:
            WireError: The problem found, e.g. an ``event: error`` read together with
                ``[DONE]``.
        """
        if self.problem is not None:
            raise self.problem

    def _collect_error(self, data: bytes) -> WireError | None:
        assert self._error_event is not None
        buf = (self._error_event + data)[:_ERROR_EVENT_MAX]
        self._error_event = buf
        end = _EVENT_END_RE.search(buf)
        if end is None and len(buf) < _ERROR_EVENT_MAX:
            return None
        self._error_event = None  # reported once; the stream ends with it
        self.problem = self._error(buf if end is None else buf[: end.start()])
        return self.problem

    @staticmethod
    def _error(event: bytes) -> StreamErrorEvent:
        lines = event.decode("utf-8", "replace").splitlines()
        data = "\n".join(
            line[5:].removeprefix(" ") for line in lines if line.startswith("data:")
        ).strip()
        return StreamErrorEvent(error_message(data) or "the server reported an error")


def error_message(data: str) -> str:
    """The message of an error event's data: ``{"error": {"message"}}``, ``{"message"}``, text."""
    try:
        obj: Any = json.loads(data)
    except ValueError:
        return data
    if isinstance(obj, dict):
        err = obj.get("error", obj)
        if isinstance(err, dict):
            for key in ("message", "detail", "msg"):
                if isinstance(err.get(key), str) and err[key]:
                    return str(err[key])
        elif isinstance(err, str) and err:
            return err
    return data


_current: ContextVar[Watch | None] = ContextVar("fanout_wire_watch", default=None)


@contextlib.contextmanager
def watching(watch: Watch) -> Iterator[Watch]:
    """Make ``watch`` the one the response hook fills for requests made inside the block."""
    token = _current.set(watch)
    try:
        yield watch
    finally:
        # A generator closed from another context cannot reset; the variable then just
        # stays set in a context that makes no more requests.
        with contextlib.suppress(ValueError):
            _current.reset(token)


def check_redirect(response: Any) -> None:
    """Refuse a redirect that would turn the POST into a GET (httpx follows it as browsers do).

    Raises:
        RedirectedToGet: a 301, 302 or 303 answered a POST.
    """
    if response.status_code in (301, 302, 303) and response.request.method == "POST":
        raise RedirectedToGet(response.status_code, str(response.headers.get("location", "?")))


def check_response(response: Any) -> None:
    """The blocking client's response hook: the redirect check, and a bound on the body."""
    check_redirect(response)
    watch = _current.get()
    if watch is not None and 200 <= response.status_code < 300 and _readable(response):
        response.stream = _watched_sync(response, watch)


async def acheck_response(response: Any) -> None:
    """The async client's response hook: see the module docstring."""
    check_redirect(response)
    watch = _current.get()
    if watch is None or not 200 <= response.status_code < 300:
        return
    content_type = str(response.headers.get("content-type", "")).lower()
    if watch.streaming and "json" in content_type:
        body = await response.aread()
        raise _not_streamed(body)
    if _readable(response):
        response.stream = _watched(response, watch)


def _readable(response: Any) -> bool:
    """Whether the body's raw bytes are the text itself (not compressed).

    A compressed body cannot be watched without decompressing it twice; its stream then
    counts as finished on a ``finish_reason`` alone, which every common server sends.
    """
    encoding = str(response.headers.get("content-encoding", "")).strip().lower()
    return encoding in ("", "identity")


def _not_streamed(body: bytes) -> NotStreamed:
    """What a whole JSON body holds, when it is a chat completion."""
    try:
        obj: Any = json.loads(body)
        choice = obj["choices"][0]
        content = choice["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return NotStreamed(None, None)
    if not isinstance(content, str):
        return NotStreamed(None, None)
    finish = choice.get("finish_reason") if isinstance(choice, dict) else None
    return NotStreamed(content, finish if isinstance(finish, str) else None)


def _watched(response: Any, watch: Watch) -> Any:
    """The body stream of ``response`` with every read fed to ``watch``."""
    stream = response.stream
    # The response's own HTTP library (the openai SDK uses ``httpx2``; another may use
    # ``httpx``): httpx checks that a body it reads is an ``AsyncByteStream`` of its own.
    library = sys.modules[type(response).__module__.partition(".")[0]]
    base: type[Any] = library.AsyncByteStream

    class WatchedStream(base):  # type: ignore[misc, valid-type]
        async def __aiter__(self) -> AsyncIterator[bytes]:
            async for data in stream:
                problem = watch.feed(data)
                # The read goes on first, so the text that came before an error is kept.
                yield data
                if problem is not None:
                    raise problem
            problem = watch.finish()
            if problem is not None:
                raise problem

        async def aclose(self) -> None:
            await stream.aclose()

    return WatchedStream()


def _watched_sync(response: Any, watch: Watch) -> Any:
    """:func:`_watched` for a blocking client's body."""
    stream = response.stream
    library = sys.modules[type(response).__module__.partition(".")[0]]
    base: type[Any] = library.SyncByteStream

    class WatchedSyncStream(base):  # type: ignore[misc, valid-type]
        def __iter__(self) -> Iterator[bytes]:
            for data in stream:
                problem = watch.feed(data)
                yield data
                if problem is not None:
                    raise problem
            problem = watch.finish()
            if problem is not None:
                raise problem

        def close(self) -> None:
            stream.close()

    return WatchedSyncStream()
