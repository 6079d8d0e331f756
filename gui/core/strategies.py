"""The six ways to schedule a run's cells, all reporting the same events.

Each strategy only decides *when* a cell starts; :meth:`gui.core.runner.Run.spawn` runs
the cell through the shared limiter, rate limiter, timeout and retry logic. So the peak of
requests in flight never exceeds ``max_concurrency`` under any strategy. Strategies see a run
through the :class:`~gui.core.ports.CellScheduler` protocol, so this module does not import
the runner (which imports it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from gui.core.ports import CallMode, CellScheduler
from gui.core.spec import Cell, Strategy


async def run_sync(run: CellScheduler) -> None:
    """``chain.invoke`` one cell after another, each in a worker thread (loop stays live).

    With ``run.block_loop`` (the freeze demo) the calls run on the loop's own thread instead.
    """
    await _one_by_one(run, CallMode.INVOKE_BLOCKING if run.block_loop else CallMode.INVOKE_THREAD)


async def run_sequential(run: CellScheduler) -> None:
    """``await chain.ainvoke`` one cell after another."""
    await _one_by_one(run, CallMode.AINVOKE)


async def run_gather(run: CellScheduler) -> None:
    """``asyncio.gather`` of ``ainvoke`` over every cell."""
    await _all(run, CallMode.AINVOKE)


async def run_stream(run: CellScheduler) -> None:
    """One task per cell consuming ``chain.astream``."""
    await _all(run, CallMode.ASTREAM)


def _batch_config(run: CellScheduler) -> dict[str, object]:
    # LangChain's own knob; our resizable limiter still gates every cell inside, so a limit
    # lowered mid-run applies at once. abatch fixes its semaphore when called, so a limit
    # raised mid-run applies from the next run.
    return {"max_concurrency": run.limits.max_concurrency, "run_name": f"fanout {run.id}"}


def _cell_fn(run: CellScheduler) -> Callable[[Cell], Awaitable[None]]:
    async def one(cell: Cell) -> None:
        await _finish(run.spawn(cell, CallMode.AINVOKE))

    return one


async def run_abatch(run: CellScheduler) -> None:
    """``abatch(inputs, config={"max_concurrency": N}, return_exceptions=True)``."""
    batch = run.backend.batch_runnable(_cell_fn(run))
    await batch.abatch(list(run.cells), config=_batch_config(run), return_exceptions=True)


async def run_as_completed(run: CellScheduler) -> None:
    """``abatch_as_completed``: same fan-out, results consumed in completion order."""
    batch = run.backend.batch_runnable(_cell_fn(run))
    async for _index, _out in batch.abatch_as_completed(
        list(run.cells), config=_batch_config(run), return_exceptions=True
    ):
        pass


async def _one_by_one(run: CellScheduler, mode: CallMode) -> None:
    for cell in run.cells:
        if run.stopping:
            return
        await _finish(run.spawn(cell, mode))


#: Cell tasks created per loop iteration by the all-at-once strategies (see ``_all``).
SPAWN_SLICE = 100


async def _all(run: CellScheduler, mode: CallMode) -> None:
    # asyncio.gather(*tasks), minus one trap: a cell task cancelled before its first step
    # ends "cancelled" without running our handler, and gather would re-raise that into the
    # driver. The future below is set by the tasks' done callbacks, whatever their outcome,
    # and never raises for them; the run accounts for them.
    # Tasks are created a slice at a time with a yield in between: every new task's first
    # step (up to the limiter) runs in the loop's next iteration, and 2,000 of them in one
    # iteration stalled everything else on the loop (streams, timers, the window; see
    # docs/performance-notes.md). In order, so the limiter still admits cells first-come
    # first-served.
    # A done callback per task rather than asyncio.wait, whose return takes its callback off
    # every task again, 20,000 of them in one step (docs/performance-notes.md).
    left = len(run.cells)
    if not left:
        return
    all_done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def one_done(_task: asyncio.Task[None]) -> None:
        nonlocal left
        left -= 1
        if not left and not all_done.done():
            all_done.set_result(None)

    for start in range(0, len(run.cells), SPAWN_SLICE):
        if start:
            await asyncio.sleep(0)
        for cell in run.cells[start : start + SPAWN_SLICE]:
            run.spawn(cell, mode).add_done_callback(one_done)
    await all_done


async def _finish(task: asyncio.Task[None]) -> None:
    """Await one cell task without inheriting its cancellation (see ``_all``)."""
    await asyncio.wait([task])


STRATEGIES: dict[Strategy, Callable[[CellScheduler], Awaitable[None]]] = {
    Strategy.SYNC: run_sync,
    Strategy.SEQUENTIAL: run_sequential,
    Strategy.GATHER: run_gather,
    Strategy.ABATCH: run_abatch,
    Strategy.AS_COMPLETED: run_as_completed,
    Strategy.STREAM: run_stream,
}
