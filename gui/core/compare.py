"""The strategy comparison: the same cells through every strategy, and what each cost.

Shared by ``fanout-studio compare``, the window's comparison chart and the benchmark.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from gui.core.ports import Backend
from gui.core.runner import Run
from gui.core.spec import RunSpec, Strategy

#: The order the comparison runs in: the slow, sequential ones first, as the lesson goes.
COMPARE_ORDER: tuple[Strategy, ...] = (
    Strategy.SYNC,
    Strategy.SEQUENTIAL,
    Strategy.GATHER,
    Strategy.ABATCH,
    Strategy.AS_COMPLETED,
    Strategy.STREAM,
)


def ideal_seconds(strategy: Strategy, latencies: Sequence[float], max_concurrency: int) -> float:
    """Best possible wall time for the measured request latencies under ``strategy``.

    Sequential strategies can do no better than the sum; concurrent ones no better than the
    longest request, or the total work spread over ``max_concurrency`` slots.
    """
    if not latencies:
        return 0.0
    if not strategy.concurrent:
        return sum(latencies)
    return max(max(latencies), sum(latencies) / max_concurrency)


@dataclass(frozen=True, slots=True)
class StrategyResult:
    """What one strategy cost on the comparison's cells.

    Attributes:
        strategy: The strategy.
        wall: Seconds from run start to the last cell's end.
        ideal: :func:`ideal_seconds` for the latencies this run measured.
        done: Cells that succeeded.
        failed: Cells that failed.
        cancelled: Cells that were cancelled.
        peak_in_flight: Most requests out at once.
    """

    strategy: Strategy
    wall: float
    ideal: float
    done: int
    failed: int
    cancelled: int
    peak_in_flight: int

    @classmethod
    def of(cls, run: Run) -> StrategyResult:
        """The result of a finished run."""
        summary = run.summary
        if summary is None:
            raise ValueError("run has not finished")
        latencies = [
            m.latency
            for c in run.cells
            if (m := run.metrics(c.id)) is not None
            and m.latency is not None
            and m.started_at is not None
        ]
        ideal = ideal_seconds(run.spec.strategy, latencies, run.spec.limits.max_concurrency)
        return cls(
            run.spec.strategy,
            summary.wall,
            ideal,
            summary.done,
            summary.failed,
            summary.cancelled,
            summary.peak_in_flight,
        )


async def compare(
    spec: RunSpec,
    backend: Backend,
    strategies: Sequence[Strategy] = COMPARE_ORDER,
    *,
    on_run: Callable[[Run], Awaitable[None] | None] | None = None,
) -> list[StrategyResult]:
    """Run ``spec`` once per strategy, one after another; stops early if a run is cancelled.

    Args:
        spec: The cells and limits; its own strategy is ignored.
        backend: Provider backend.
        strategies: Which strategies, in order.
        on_run: Called with each run before it starts (subscribe to its events there).
    """
    results: list[StrategyResult] = []
    for strategy in strategies:
        run = Run(replace(spec, strategy=strategy), backend)
        if on_run is not None:
            maybe = on_run(run)
            if maybe is not None:
                await maybe
        await run.wait()
        results.append(StrategyResult.of(run))
        if run.summary is not None and run.summary.cancelled_by_user:
            break
    return results
