"""Waiting in tests without wall-clock budgets: poll the running loop, fail only far past need.

A test on a busy 2-core machine may run at a quarter of its usual speed, so every wait here
has a margin of tens of seconds; a passing test returns as soon as its condition holds, and
only a broken one waits the whole margin.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

#: The default margin of a wait: far more than any condition here needs on a slow machine.
MARGIN_S = 30.0


async def until(
    predicate: Callable[[], bool], timeout: float = MARGIN_S, step: float = 0.02
) -> None:
    """Wait on the running loop (never a nested one) until ``predicate()`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")
        await asyncio.sleep(step)
