"""A scriptable fake provider backend for engine tests: exact timing, pauses, failures, peak counter."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from langchain_core.runnables import RunnableLambda

from gui.core.errors import ErrorKind, Failure
from gui.core.events import Event
from gui.core.spec import Cell, ModelProfile


class FakeHTTPError(Exception):
    """Stands in for a provider's HTTP error."""

    def __init__(self, status: int, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


@dataclass
class Script:
    """What the fake does for one input value."""

    latency: float = 0.05
    chunks: int = 5
    errors: list[BaseException] = field(default_factory=list)  # raised on attempts 1..n
    pause: asyncio.Event | None = None  # stream waits here after the first chunk
    fail_after_chunks: BaseException | None = None


class FakeChain:
    """Counts requests in flight and keeps the peak: the ground truth for limiter tests."""

    def __init__(self, backend: FakeBackend, model: str = "") -> None:
        self.b = backend
        self.model = model

    def _script(self, inputs: Mapping[str, Any]) -> Script:
        key = next(iter(inputs.values()), "")
        return self.b.scripts.get(key, self.b.default)

    def _enter(self, inputs: Mapping[str, Any]) -> Script:
        b = self.b
        key = next(iter(inputs.values()), "")
        b.attempts[key] += 1
        b.starts.append((time.monotonic(), key))
        b.in_flight += 1
        b.peak = max(b.peak, b.in_flight)
        b.in_flight_by_model[self.model] += 1
        b.peak_by_model[self.model] = max(
            b.peak_by_model[self.model], b.in_flight_by_model[self.model]
        )
        script = self._script(inputs)
        n = b.attempts[key]
        if n <= len(script.errors):
            self._leave()
            raise script.errors[n - 1]
        return script

    def _leave(self) -> None:
        self.b.in_flight -= 1
        self.b.in_flight_by_model[self.model] -= 1

    async def ainvoke(self, inputs: Mapping[str, Any], config: Any = None) -> str:
        script = self._enter(inputs)
        try:
            await asyncio.sleep(script.latency)
            return " ".join(f"w{i}" for i in range(script.chunks))
        finally:
            self._leave()

    def invoke(self, inputs: Mapping[str, Any], config: Any = None) -> str:
        script = self._enter(inputs)
        try:
            time.sleep(script.latency)
            return " ".join(f"w{i}" for i in range(script.chunks))
        finally:
            self._leave()

    async def astream(self, inputs: Mapping[str, Any], config: Any = None) -> AsyncIterator[str]:
        script = self._enter(inputs)
        try:
            step = script.latency / max(script.chunks, 1)
            for i in range(script.chunks):
                await asyncio.sleep(step)
                yield f"w{i} "
                if i == 0 and script.pause is not None:
                    await script.pause.wait()
                if script.fail_after_chunks is not None and i == script.chunks // 2:
                    raise script.fail_after_chunks
        finally:
            self._leave()
            self.b.closed += 1


class _Probe:
    callbacks: list[Any] = []  # noqa: RUF012
    output_tokens: int | None = None


class FakeBackend:
    """Implements gui.core.ports.Backend without any network or model."""

    def __init__(self, default: Script | None = None, **scripts: Script) -> None:
        self.default = default or Script()
        self.scripts: dict[str, Script] = dict(scripts)
        self.in_flight = 0
        self.peak = 0
        self.in_flight_by_model: defaultdict[str, int] = defaultdict(int)
        self.peak_by_model: defaultdict[str, int] = defaultdict(int)
        self.closed = 0
        self.attempts: defaultdict[str, int] = defaultdict(int)
        self.starts: list[tuple[float, str]] = []

    def chain(self, template: str, system: str | None, profile: ModelProfile) -> FakeChain:
        return FakeChain(self, profile.model)

    def batch_runnable(self, fn: Callable[[Cell], Awaitable[object]]) -> Any:
        async def cell_fn(cell: Cell) -> object:
            return await fn(cell)

        return RunnableLambda(cell_fn)

    def usage_probe(self) -> _Probe:
        return _Probe()

    def classify(self, exc: BaseException, profile: ModelProfile) -> Failure | None:
        if isinstance(exc, FakeHTTPError):
            if exc.status == 429:
                return Failure(
                    ErrorKind.RATE_LIMITED, "fake: rate limited (429).", exc.retry_after, 429
                )
            if exc.status == 401:
                return Failure(ErrorKind.AUTHENTICATION, "fake: key rejected (401).", status=401)
            return Failure(
                ErrorKind.SERVER_ERROR,
                f"fake: server error ({exc.status}).",
                exc.retry_after,
                exc.status,
            )
        return None


class Recorder:
    """Collects events; ``of(cell_id)`` gives one cell's event type names in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of(self, cell_id: str) -> list[str]:
        return [type(e).__name__ for e in self.events if getattr(e, "cell_id", None) == cell_id]

    def last(self, cell_id: str) -> Event:
        return [e for e in self.events if getattr(e, "cell_id", None) == cell_id][-1]

    def named(self, name: str) -> list[Any]:
        return [e for e in self.events if type(e).__name__ == name]
