"""A big run cancelled while most of its cells wait, through the session into a real history:
the cancel gives the loop back between slices, every cell ends once, cancelled, and the
history holds each of them with counts that agree, while the run is recorded and at its end."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from gui.core import events as ev
from gui.core.errors import ErrorKind
from gui.core.runner import CANCEL_SLICE, CANCELLED_BEFORE_START, CANCELLED_BY_USER, Phase
from gui.core.session import RunEnded, Session
from gui.core.spec import Limits, ModelProfile, make_spec
from gui.storage.history import History
from tests.core.fakes import FakeBackend, Script
from tests.storage.fake_runs import metrics, spec
from tests.support.waiting import until


@pytest.fixture
def history(tmp_path: Path):
    h = History.open(tmp_path / "history.sqlite3")
    yield h
    h.close()


def counts_of(history: History, run_id: str) -> tuple[int, int, int]:
    (record,) = [r for r in history.list_runs() if r.id == run_id]
    return record.done, record.failed, record.cancelled


def test_a_runs_counts_follow_its_cells_while_recorded_a_retry_included(
    history: History,
) -> None:
    """The counts the History tab lists move with each ended cell as it is written, and a
    retry that replaces a failed cell moves them too (failed -> done), before the run ends."""
    s = spec(topics=("cats", "dogs"))  # 4 cells
    record = history.recorder()
    record(ev.RunStarted("live", 0.0, s, tuple(s.cells()), 1_800_000_000.0))
    record(ev.CellFinished("live", 1.0, "r0m0", "a", metrics()))
    assert history.flush()
    assert counts_of(history, "live") == (1, 0, 0)
    record(ev.CellFailed("live", 1.1, "r0m1", ErrorKind.SERVER_ERROR, "HTTP 500", "", metrics()))
    assert history.flush()
    assert counts_of(history, "live") == (1, 1, 0)

    retry_spec = make_spec("Tell me a joke about {topic}", ["cats"], [ModelProfile(model="b")])
    retry = history.recorder(into_run="live", cell_map={"r0m0": "r0m1"})
    retry(ev.RunStarted("again", 0.0, retry_spec, tuple(retry_spec.cells()), 1_800_000_001.0))
    retry(ev.CellFinished("again", 0.5, "r0m0", "b", metrics()))
    record(ev.CellCancelled("live", 1.2, "r1m0", CANCELLED_BEFORE_START, "", metrics()))
    assert history.flush()
    assert counts_of(history, "live") == (2, 0, 1)

    record(ev.CellCancelled("live", 1.3, "r1m1", CANCELLED_BY_USER, "par", metrics()))
    assert history.flush()
    assert counts_of(history, "live") == (2, 0, 2)
    stored = history.get_run("live")
    assert stored is not None
    assert sorted((c.cell_id, c.status) for c in stored.cells) == [
        ("r0m0", "done"),
        ("r0m1", "done"),
        ("r1m0", "cancelled"),
        ("r1m1", "cancelled"),
    ]


async def test_cancelling_a_big_run_gives_the_loop_back_and_ends_every_cell_once_everywhere(
    history: History,
) -> None:
    backend = FakeBackend(Script(latency=30, chunks=1))  # answers that would take 30 s
    session = Session(backend=lambda: backend, history=lambda: _ready(history))
    ends: dict[str, int] = {}
    run_ended: asyncio.Future[RunEnded] = asyncio.get_running_loop().create_future()

    def watch(event: Any) -> None:
        if isinstance(event, ev.CellCancelled | ev.CellFinished | ev.CellFailed):
            ends[event.cell_id] = ends.get(event.cell_id, 0) + 1
        elif isinstance(event, RunEnded) and not run_ended.done():
            run_ended.set_result(event)

    session.subscribe(watch)
    rows = 3 * CANCEL_SLICE  # x 2 models: twelve slices of waiting cells
    topics = [f"topic {i}" for i in range(rows)]
    s = make_spec("About {t}", topics, [ModelProfile()] * 2, limits=Limits(max_concurrency=4))
    run = session.start(s)
    await until(lambda: run.in_flight == 4 and run.count(Phase.WAITING) > CANCEL_SLICE)

    turns = 0
    counting = True

    def tick() -> None:  # a callback per loop turn, as the window's frames and input are
        nonlocal turns
        turns += 1
        if counting:
            asyncio.get_running_loop().call_soon(tick)

    session.cancel_all()
    asyncio.get_running_loop().call_soon(tick)
    ended = await asyncio.wait_for(run_ended, 60)  # not the 30 s the answers would take
    counting = False
    assert turns > 2 * rows // CANCEL_SLICE  # the loop ran between the slices

    total = 2 * rows
    assert len(ends) == total and set(ends.values()) == {1}  # one end per cell
    assert ended.counts.cancelled == total == ended.counts.total
    assert (ended.counts.in_flight, ended.counts.waiting) == (0, 0)
    assert all(session.phase(cell_id) is Phase.CANCELLED for cell_id in run.cell_ids)

    stored = history.get_run(run.id)  # the session said the run ended once it was written
    assert stored is not None and stored.status == "cancelled"
    assert (stored.total, stored.done, stored.failed, stored.cancelled) == (total, 0, 0, total)
    assert len(stored.cells) == total and {c.status for c in stored.cells} == {"cancelled"}
    reasons = {c.cell_id: c.error for c in stored.cells}
    assert set(reasons.values()) == {CANCELLED_BY_USER, CANCELLED_BEFORE_START}
    await session.shutdown()


async def _ready(history: History) -> History:
    return history
