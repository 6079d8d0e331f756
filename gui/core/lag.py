"""Event-loop lag probe: how late a 10 ms heartbeat fires. The proof that the UI never froze.

A loop that is free wakes the heartbeat on time; a loop busy with layout, parsing or a
blocking call wakes it late, and that lateness is exactly what a user feels as a stutter.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LagStats:
    """Lag percentiles in milliseconds over a window of heartbeats."""

    samples: int
    p50_ms: float
    p99_ms: float
    max_ms: float


def percentile(sorted_values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of already sorted values (nearest rank)."""
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


class LagRecorder:
    """Lateness samples of one heartbeat: a recent window for a sparkline, all since reset for stats.

    Qt-free, so the asyncio :class:`LagProbe` and the Qt-timer heartbeat in
    ``gui.qt.widgets.lag_meter`` record (and report) the same way.

    Args:
        keep: How many recent samples :meth:`recent` returns (500 = 5 s of a 10 ms beat).
    """

    def __init__(self, keep: int = 500) -> None:
        self._recent: deque[float] = deque(maxlen=keep)
        self._all: list[float] = []

    def add(self, ms: float) -> None:
        """Record one lateness in milliseconds."""
        self._recent.append(ms)
        self._all.append(ms)

    def recent(self) -> list[float]:
        """The last ``keep`` samples in milliseconds, oldest first (kept across :meth:`reset`)."""
        return list(self._recent)

    def stats(self) -> LagStats:
        """Percentiles of every sample since the last :meth:`reset`."""
        return lag_stats(self._all)

    def reset(self) -> None:
        """Forget the samples behind :meth:`stats`; the recent window stays continuous."""
        self._all.clear()


def lag_stats(values: Iterable[float]) -> LagStats:
    """:class:`LagStats` of ``values`` (milliseconds, any order)."""
    ordered = sorted(values)
    return LagStats(
        len(ordered),
        percentile(ordered, 0.50),
        percentile(ordered, 0.99),
        ordered[-1] if ordered else 0.0,
    )


class LagProbe:
    """Runs a heartbeat task on the current loop and records its lateness.

    Args:
        interval: Heartbeat period in seconds.
        keep: How many recent samples to keep for :meth:`recent`.
    """

    def __init__(self, interval: float = 0.010, keep: int = 600) -> None:
        self.interval = interval
        self._recorder = LagRecorder(keep)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the heartbeat on the running loop."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._beat(), name="fanout-lag-probe"
            )

    async def stop(self) -> None:
        """Stop the heartbeat and wait for it."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def reset(self) -> None:
        """Forget the samples (e.g. at the start of a run)."""
        self._recorder.reset()

    def recent(self) -> list[float]:
        """Recent lateness samples in milliseconds, oldest first (for a sparkline)."""
        return self._recorder.recent()

    def stats(self) -> LagStats:
        """Percentiles of every sample since the last :meth:`reset`."""
        return self._recorder.stats()

    async def _beat(self) -> None:
        clock = time.perf_counter
        interval = self.interval
        add = self._recorder.add
        while True:
            due = clock() + interval
            await asyncio.sleep(interval)
            add(max(0.0, (clock() - due) * 1000.0))
