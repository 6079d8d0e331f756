"""TaskOwner: owned tasks, groups, and "the newest request wins"."""

from __future__ import annotations

import asyncio

from gui.core.tasks import TaskOwner


async def test_an_exclusive_task_cancels_the_earlier_ones_of_its_group_only() -> None:
    owner = TaskOwner()
    release = asyncio.Event()
    results: list[str] = []

    async def work(tag: str) -> str:
        await release.wait()
        results.append(tag)
        return tag

    first = owner.spawn(work("first"), "fanout-test-1", group="profile-a", exclusive=True)
    other = owner.spawn(work("other"), "fanout-test-2", group="profile-b", exclusive=True)
    loose = owner.spawn(work("loose"), "fanout-test-3")
    await asyncio.sleep(0)
    second = owner.spawn(work("second"), "fanout-test-4", group="profile-a", exclusive=True)
    assert first.cancelling() and not other.cancelling()
    release.set()
    await owner.wait_idle()
    assert first.cancelled() and not other.cancelled() and not loose.cancelled()
    assert await second == "second"
    assert sorted(results) == ["loose", "other", "second"]
    assert len(owner) == 0


async def test_cancel_group_and_cancel_all() -> None:
    owner = TaskOwner()
    never = asyncio.Event()
    a = owner.spawn(never.wait(), "fanout-a", group="g")
    b = owner.spawn(never.wait(), "fanout-b")
    owner.cancel_group("g")
    await asyncio.wait([a])
    assert a.cancelled() and not b.done()
    owner.cancel_all()
    await owner.wait_idle()
    assert b.cancelled() and owner.pending() == []
