"""The slack gate: low-priority work waits while the loop falls behind, and is never starved."""

from __future__ import annotations

import asyncio
import time

from gui.core.slack import SlackGate
from tests.support.waiting import until


class Hog:
    """Keeps the loop behind: tasks whose every step blocks it for a millisecond, so a
    callback queued now waits for all of them (several ms) before it runs."""

    def __init__(self, tasks: int = 8) -> None:
        self.steps = 0
        self._stop = asyncio.Event()
        self._tasks = [asyncio.ensure_future(self._hog()) for _ in range(tasks)]

    async def _hog(self) -> None:
        while not self._stop.is_set():
            # A step of work that holds the loop, as a streamed chunk's does (blocking on
            # purpose: a sleep rather than a spin leaves the CPU to the machine's others).
            time.sleep(0.001)  # noqa: ASYNC251
            self.steps += 1
            await asyncio.sleep(0)

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)


def no_slack_tasks() -> bool:
    return not [t for t in asyncio.all_tasks() if t.get_name().startswith("fanout-slack")]


async def test_nothing_waits_while_nothing_is_yielded_to() -> None:
    gate = SlackGate(lambda: False)
    await gate.wait()  # returns without a look: no task, nothing held
    assert gate.held == 0 and no_slack_tasks()


async def test_waiters_go_in_order_on_a_loop_that_keeps_up() -> None:
    gate = SlackGate(lambda: True, per_look=2)
    order: list[int] = []

    async def waiter(i: int) -> None:
        await gate.wait()
        order.append(i)

    await asyncio.gather(*(waiter(i) for i in range(5)))
    assert order == [0, 1, 2, 3, 4]
    assert gate.held == 5
    await until(no_slack_tasks)  # the look ends with its last waiter


async def test_a_waiter_is_held_while_the_loop_is_behind_and_goes_when_the_work_ends() -> None:
    streaming = True
    gate = SlackGate(lambda: streaming, max_wait_s=3600)
    hog = Hog()
    waiter = asyncio.ensure_future(gate.wait())
    # Many looks' worth of the hog's steps: each look found the loop behind.
    await until(lambda: hog.steps >= 400)
    assert not waiter.done() and gate.waiting == 1
    streaming = False  # the answers ended: the held work goes, busy loop or not
    await until(waiter.done)
    await hog.stop()
    await until(no_slack_tasks)


async def test_a_waiter_goes_once_the_loop_keeps_up_again() -> None:
    gate = SlackGate(lambda: True, max_wait_s=3600)
    hog = Hog()
    waiter = asyncio.ensure_future(gate.wait())
    await until(lambda: hog.steps >= 400)
    assert not waiter.done()
    await hog.stop()
    await until(waiter.done)


async def test_no_waiter_is_starved_by_a_loop_that_stays_behind() -> None:
    gate = SlackGate(lambda: True, max_wait_s=0.0)
    hog = Hog()
    await asyncio.wait_for(gate.wait(), 30)  # goes though the hog never stops
    await hog.stop()


async def test_a_cancelled_waiter_takes_no_ones_turn() -> None:
    gate = SlackGate(lambda: True, per_look=1, max_wait_s=3600)
    hog = Hog()
    first = asyncio.ensure_future(gate.wait())
    second = asyncio.ensure_future(gate.wait())
    await until(lambda: hog.steps >= 100)
    first.cancel()
    await hog.stop()
    await until(second.done)
    assert first.cancelled() and not second.cancelled()


async def test_close_cancels_the_waiters_and_leaves_no_task() -> None:
    gate = SlackGate(lambda: True, max_wait_s=3600)
    hog = Hog()
    waiter = asyncio.ensure_future(gate.wait())
    await until(lambda: gate.waiting == 1 and not no_slack_tasks())
    gate.close()
    await asyncio.gather(waiter, return_exceptions=True)
    assert waiter.cancelled()
    await hog.stop()
    await until(no_slack_tasks)
