"""A replaced run's rows are let go a slice per loop iteration: the next Run press pays only
for what it builds (a 20,000-cell run's timeline rows were ~12 ms of deallocation in it)."""

from __future__ import annotations

import asyncio
import itertools
import weakref

from gui.core.release import RELEASE_SLICE, release_later
from gui.core.timeline import TimelineModel
from tests.support.timeline_events import streamed


class _Watched(list[str]):
    """A list a weak reference can follow (a slotted row cannot be followed itself)."""


def test_without_a_running_loop_everything_goes_at_once() -> None:
    rows, index = list(range(10)), {i: i for i in range(10)}
    release_later(rows, index)
    assert rows == [] and index == {}


async def test_a_running_loop_frees_one_slice_per_iteration() -> None:
    rows = list(range(2 * RELEASE_SLICE + 5))
    index = {i: i for i in range(RELEASE_SLICE)}
    seen = set(range(7))
    release_later(rows, index, seen)
    left = [len(rows) + len(index) + len(seen)]
    for _ in range(6):
        await asyncio.sleep(0)
        left.append(len(rows) + len(index) + len(seen))
    assert left[-1] == 0
    assert 0 < left[1] < left[0]  # not all in one step
    assert all(before - after <= RELEASE_SLICE for before, after in itertools.pairwise(left))


async def test_a_reset_timeline_lets_its_old_rows_go_after_the_reset_step() -> None:
    model = TimelineModel()
    model.apply(streamed("c0", 0.0, 1.0, 1.3, 2.0))
    watched = _Watched()
    model.rows[0].checks = watched  # type: ignore[assignment]
    gone = weakref.ref(watched)
    del watched
    model.reset()
    assert model.rows == [] and model.index_of("c0") is None
    assert gone() is not None  # not freed inside the reset (the press of Run)
    for _ in range(3):
        await asyncio.sleep(0)
    assert gone() is None
    model.apply(streamed("c1", 0.0, 1.0, 1.3, 2.0))  # the model goes on as new
    assert model.index_of("c1") == 0 and len(model.rows) == 1
