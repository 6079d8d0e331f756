"""The gates on their own: a resizable limiter proved with a peak counter, a precise rate limiter."""

from __future__ import annotations

import asyncio
import itertools
import random
import time

import pytest

from gui.core.limits import RateLimiter, ResizableLimiter, backoff_delay


async def test_limiter_peak_never_exceeds_limit_under_random_load() -> None:
    limiter = ResizableLimiter(4)
    running = peak = 0
    rng = random.Random(7)

    async def worker() -> None:
        nonlocal running, peak
        async with limiter:
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(rng.random() * 0.01)
            running -= 1

    await asyncio.gather(*(worker() for _ in range(200)))
    assert peak == 4 and limiter.peak == 4 and limiter.active == 0


async def test_limiter_is_fifo_and_resizes_both_ways() -> None:
    limiter = ResizableLimiter(1)
    order: list[int] = []
    release = asyncio.Event()

    async def worker(i: int) -> None:
        async with limiter:
            order.append(i)
            await release.wait()

    tasks = [asyncio.create_task(worker(i)) for i in range(5)]
    await asyncio.sleep(0.01)
    assert order == [0] and limiter.waiting == 4
    limiter.set_limit(3)  # raising admits the next two at once, in arrival order
    await asyncio.sleep(0)
    assert order == [0, 1, 2] and limiter.active == 3
    limiter.set_limit(1)  # lowering never evicts holders
    assert limiter.active == 3
    release.set()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]


async def test_cancelled_waiter_leaves_no_slot_behind() -> None:
    limiter = ResizableLimiter(1)
    await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    limiter.release()
    assert limiter.active == 0 and limiter.waiting == 0
    await asyncio.wait_for(limiter.acquire(), 60)


async def test_waiters_cancelled_in_thousands_leave_no_trace_and_the_rest_keep_their_turn() -> None:
    """A big run's cancel ends thousands of waiters while slots are handed on: the live ones
    still go first-come first-served, and once all are gone a slot is taken at once."""
    limiter = ResizableLimiter(1)
    await limiter.acquire()
    order: list[int] = []

    async def wait_then_note(n: int) -> None:
        await limiter.acquire()
        order.append(n)
        limiter.release()

    tasks = [asyncio.create_task(wait_then_note(n)) for n in range(3_000)]
    await asyncio.sleep(0)  # every one is queued
    assert limiter.waiting == 3_000
    survivors = {10, 1_500, 2_999}
    for n, task in enumerate(tasks):
        if n not in survivors:
            task.cancel()
    await asyncio.sleep(0)  # the cancelled ones end (a cancel does not wait for a slot)
    assert sum(t.cancelled() for t in tasks) == 2_997 and limiter.waiting == 3
    limiter.release()
    await asyncio.wait_for(asyncio.gather(*(tasks[n] for n in sorted(survivors))), 60)
    assert order == sorted(survivors)
    assert limiter.active == 0 and limiter.waiting == 0
    await asyncio.wait_for(limiter.acquire(), 60)
    assert limiter.active == 1


async def test_rate_limiter_spaces_and_changes_rate_live() -> None:
    rate = RateLimiter(20.0)
    stamps: list[float] = []

    async def go() -> None:
        await rate.acquire()
        stamps.append(time.monotonic())

    tasks = [asyncio.create_task(go()) for _ in range(4)]
    await asyncio.gather(*tasks)
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert all(g >= 0.045 for g in gaps), gaps  # never faster than 20 a second

    rate.set_rate(0.01)  # slow, one per 100 s: a waiter is rescheduled...
    slow = asyncio.create_task(go())
    await asyncio.sleep(0.1)
    assert not slow.done()
    rate.set_rate(None)  # ...and released at once when the cap is lifted, not 100 s later
    await asyncio.wait_for(slow, 60)


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(a, 0.5, 30, None, rng) for a in (2, 3, 4, 5)]
    for attempt, delay in zip((2, 3, 4, 5), delays, strict=True):
        step = 0.5 * 2 ** (attempt - 2)
        assert step / 2 <= delay <= step
    assert backoff_delay(2, 0.5, 30, retry_after=7.0) == 7.0
    assert backoff_delay(9, 0.5, 4.0, None, rng) <= 4.0
