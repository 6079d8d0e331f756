"""Event-loop lag probe: how late a 10 ms heartbeat fires. The proof that the UI never froze.

A loop that is free wakes the heartbeat on time; a loop busy with layout, parsing or a
blocking call wakes it late, and that lateness is exactly what a user feels as a stutter.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the lag meter is in the window's first frame, which needs no asyncio
    import asyncio


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

    Qt-free: the window's Qt-timer heartbeat (``gui.qt.widgets.lag_meter``) records here, and
    the same statistics serve the benchmark and the tests.

    Args:
        keep: How many recent samples :meth:`recent` returns (500 = 5 s of a 10 ms beat).
    """

    def __init__(self, keep: int = 500) -> None:
        self._recent: deque[float] = deque(maxlen=keep)
        self._all: list[float] = []
        self._times: list[float] = []

    def add(self, ms: float, at: float = 0.0) -> None:
        """Record one lateness in milliseconds, sampled at time ``at`` (any one clock)."""
        self._recent.append(ms)
        self._all.append(ms)
        self._times.append(at)

    def recent(self) -> list[float]:
        """The last ``keep`` samples in milliseconds, oldest first (kept across :meth:`reset`)."""
        return list(self._recent)

    def stats(self) -> LagStats:
        """Percentiles of every sample since the last :meth:`reset`."""
        return lag_stats(self._all)

    def over(self, ms: float) -> list[float]:
        """The samples since the last :meth:`reset` later than ``ms``, oldest first (freezes)."""
        return [sample for sample in self._all if sample > ms]

    def stats_between(self, start: float, end: float) -> LagStats:
        """Percentiles of the samples taken from ``start`` to ``end`` (the clock of ``add``)."""
        return lag_stats(
            ms for ms, at in zip(self._all, self._times, strict=True) if start <= at <= end
        )

    def stats_outside(self, spans: Sequence[tuple[float, float]]) -> LagStats:
        """Percentiles of the samples taken outside every ``(start, end)`` of ``spans`` (the
        clock of ``add``): a session without the stretches that are not the app's."""
        return lag_stats(
            ms
            for ms, at in zip(self._all, self._times, strict=True)
            if not any(start <= at <= end for start, end in spans)
        )

    def reset(self) -> None:
        """Forget the samples behind :meth:`stats`; the recent window stays continuous."""
        self._all.clear()
        self._times.clear()


def lag_stats(values: Iterable[float]) -> LagStats:
    """:class:`LagStats` of ``values`` (milliseconds, any order)."""
    ordered = sorted(values)
    return LagStats(
        len(ordered),
        percentile(ordered, 0.50),
        percentile(ordered, 0.99),
        ordered[-1] if ordered else 0.0,
    )


async def heartbeat(lag: LagRecorder, stop: asyncio.Event, every_s: float = 0.01) -> None:
    """Beat every ``every_s`` on the running loop until ``stop`` is set, recording into ``lag``
    how late each beat fired, in milliseconds (the outside view of a loop's freezes)."""
    import asyncio

    loop = asyncio.get_running_loop()
    due = loop.time() + every_s
    while not stop.is_set():
        await asyncio.sleep(max(due - loop.time(), 0))
        now = loop.time()
        lag.add((now - due) * 1000, now)
        due = now + every_s
