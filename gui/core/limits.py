"""Live-adjustable gates: a resizable concurrency limiter, a token-bucket rate limiter, back-off.

Both gates serve waiters first-in first-out and never poll: a waiter sleeps on a future
that is resolved exactly when it may go, so an idle run schedules no timers at all (under
qasync each timer is a Qt timer event).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable


class ResizableLimiter:
    """A FIFO semaphore whose size can change while tasks wait on it.

    Raising the limit admits waiting tasks at once; lowering it never interrupts holders,
    it only delays new admissions until enough holders have released.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self._limit = limit
        self._active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.peak = 0

    @property
    def limit(self) -> int:
        """Current size."""
        return self._limit

    @property
    def active(self) -> int:
        """Holders right now."""
        return self._active

    @property
    def waiting(self) -> int:
        """Tasks waiting for a slot."""
        return sum(1 for f in self._waiters if not f.done())

    def set_limit(self, limit: int) -> None:
        """Resize; takes effect immediately for waiting tasks."""
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self._limit = limit
        self._wake()

    async def acquire(self) -> None:
        """Wait for a slot (FIFO)."""
        waiters = self._waiters
        while waiters and waiters[0].done():  # waiters cancelled while queued (see below)
            waiters.popleft()
        if self._active < self._limit and not waiters:
            self._take()
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if not fut.cancel() and not fut.cancelled():
                # Granted and cancelled in the same step: hand the slot on.
                self.release()
            # A cancelled waiter stays queued until it reaches the front, where this method
            # and _wake drop it: taking it out here searched the deque, all of it when _wake
            # had dropped it already, and a big run's cancel did that for every waiting cell.
            raise

    def release(self) -> None:
        """Give a slot back and admit the next waiter if the limit allows."""
        if self._active <= 0:
            raise RuntimeError("release() without acquire()")
        self._active -= 1
        self._wake()

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.release()

    def _take(self) -> None:
        self._active += 1
        self.peak = max(self.peak, self._active)

    def _wake(self) -> None:
        while self._waiters and self._active < self._limit:
            fut = self._waiters.popleft()
            if not fut.done():
                self._take()
                fut.set_result(None)


class RateLimiter:
    """A FIFO token bucket: at most ``rate`` starts per second, bursts up to ``burst``.

    ``rate=None`` disables it. The rate can change at any time; a waiter already asleep
    is rescheduled under the new rate.
    """

    def __init__(
        self, rate: float | None, burst: int = 1, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = max(1, burst)
        self._clock = clock
        self._tokens = float(self._burst)
        self._stamp = clock()
        self._queue: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def rate(self) -> float | None:
        """Starts per second, or ``None`` when unlimited."""
        return self._rate

    @property
    def waiting(self) -> int:
        """Tasks waiting for a token."""
        return sum(1 for f in self._queue if not f.done())

    def set_rate(self, rate: float | None) -> None:
        """Change the rate; waiting tasks are rescheduled at once."""
        self._refill()
        self._rate = rate
        self._schedule()

    async def acquire(self) -> None:
        """Wait for a token (FIFO)."""
        if self._rate is None and not self._queue:
            return
        self._refill()
        if not self._queue and self._tokens >= 1:
            self._tokens -= 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(fut)
        self._schedule()
        try:
            await fut
        except asyncio.CancelledError:
            if not fut.cancelled():
                self._tokens = min(self._burst, self._tokens + 1)
            try:
                self._queue.remove(fut)
            except ValueError:
                pass
            self._schedule()
            raise

    def _refill(self) -> None:
        now = self._clock()
        if self._rate is not None:
            self._tokens = min(float(self._burst), self._tokens + (now - self._stamp) * self._rate)
        else:
            self._tokens = float(self._burst)
        self._stamp = now

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._grant()
        if self._queue and self._rate:
            delay = max((1 - self._tokens) / self._rate, 0.0)
            self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._schedule()

    def _grant(self) -> None:
        self._refill()
        while self._queue:
            if self._queue[0].done():
                self._queue.popleft()
                continue
            if self._rate is not None and self._tokens < 1:
                return
            fut = self._queue.popleft()
            if self._rate is not None:
                self._tokens -= 1
            fut.set_result(None)


def backoff_delay(
    attempt: int,
    base: float,
    cap: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before attempt ``attempt`` (2 = first retry).

    Exponential back-off with "equal jitter" (half fixed, half random) so that many cells
    failing together do not retry in lock-step. A server's ``Retry-After`` wins when given:
    it is the server telling us exactly when it will accept us again. ``Retry-After: 0`` says
    nothing useful (many servers send it with every 429), so it gets the back-off too: retried
    at once, a storm of cells would hammer the server with hundreds of requests a second.
    """
    if retry_after is not None and retry_after > 0:
        return min(retry_after, cap)
    draw = rng.random() if rng is not None else random.random()
    step = min(cap, base * 2.0 ** max(attempt - 2, 0))
    return step / 2 + draw * step / 2
