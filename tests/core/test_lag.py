"""The lag probe reports a free loop as on time and a blocked loop as late."""

from __future__ import annotations

import asyncio
import time

from gui.core.lag import LagProbe, percentile


def test_percentile_nearest_rank() -> None:
    values = sorted(float(i) for i in range(101))
    assert (
        percentile(values, 0.5) == 50
        and percentile(values, 0.99) == 99
        and percentile([], 0.5) == 0
    )


async def test_a_blocked_loop_shows_up_as_lag() -> None:
    probe = LagProbe(interval=0.01)
    probe.start()
    await asyncio.sleep(0.2)
    calm = probe.stats()
    assert calm.samples >= 10 and calm.p50_ms < 10
    time.sleep(0.15)  # deliberately freeze the loop, as a sync call on the GUI thread would  # noqa: ASYNC251
    await asyncio.sleep(0.05)
    await probe.stop()
    assert probe.stats().max_ms >= 120
