"""Engine events that draw known timelines: one streamed cell, a staircase under a limit.

Pure data (no Qt), shared by the Qt-free model tests and the widget tests.
"""

from __future__ import annotations

from gui.core import events as ev
from gui.core.metrics import CellMetrics

RUN = "run-1"
LABELS = ["cats × sim-1", "dogs × sim-1", "parrots × sim-1"]


def metrics(
    queued: float = 0.0,
    started: float | None = 1.0,
    first: float | None = 1.3,
    ended: float = 2.0,
    waited: float = 1.0,
    tokens: int = 60,
    retries: int = 0,
) -> CellMetrics:
    latency = None if started is None else ended - started
    ttft = None if first is None or started is None else first - started
    span = ended - first if first is not None else latency
    return CellMetrics(
        queued_at=queued,
        started_at=started,
        first_token_at=first,
        ended_at=ended,
        waited=waited,
        ttft=ttft,
        latency=latency,
        output_tokens=tokens,
        tokens_estimated=False,
        tokens_per_second=tokens / span if span else None,
        retries=retries,
    )


def streamed(
    cell: str, queued: float, started: float, first: float, ended: float, run: str = RUN
) -> list[ev.Event]:
    """Everything one streamed, successful cell emits (text chunks included: ignored)."""
    return [
        ev.CellQueued(run, queued, cell),
        ev.CellStarted(run, started, cell, 1, started - queued),
        ev.FirstToken(run, first, cell, first - started),
        ev.TextChunk(run, first, cell, "Cats "),
        ev.TextChunk(run, ended - 0.01, cell, "sleep."),
        ev.CellFinished(
            run,
            ended,
            cell,
            "Cats sleep.",
            metrics(queued, started, first, ended, started - queued),
        ),
    ]


def staircase(cells: int = 6, limit: int = 2, ttft: float = 0.2, duration: float = 1.0):
    """What a run of equal requests emits under a concurrency limit: a tiny slot scheduler."""
    free_at = [0.0] * limit
    events: list[ev.Event] = [ev.CellQueued(RUN, 0.0, f"c{i}") for i in range(cells)]
    for i in range(cells):
        slot = min(range(limit), key=free_at.__getitem__)
        start = free_at[slot]
        end = start + duration
        free_at[slot] = end
        events += streamed(f"c{i}", 0.0, start, start + ttft, end)[1:]
    events.sort(key=lambda e: e.t)  # stable: a cell's own events stay in order
    return events
