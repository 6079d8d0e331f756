"""The session, story by story, on plain asyncio: no Qt, a scripted fake backend, a fake history."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from gui.core import events as ev
from gui.core.metrics import CellMetrics
from gui.core.runner import CANCELLED_BEFORE_START, Phase
from gui.core.session import (
    Busy,
    ComparisonEnded,
    Counts,
    CountsChanged,
    PastRunOpened,
    RetryQueued,
    RunEnded,
    RunOpened,
    Session,
    StrategyMeasured,
)
from gui.core.spec import CellId, Limits, ModelProfile, RunSpec, Strategy, make_spec
from tests.support.waiting import until

from .fakes import FakeBackend, FakeHTTPError, Script

SIM = (ModelProfile(),)


@dataclass
class FakeHistory:
    """Records what the session asked for: one recorder per run, with its retry mapping."""

    recorders: list[dict[str, Any]] = field(default_factory=list)
    ended: dict[str, dict[str, str]] = field(default_factory=dict)  # target run -> cell -> status
    flushes: int = 0

    def recorder(
        self,
        *,
        label: str | None = None,
        into_run: str | None = None,
        cell_map: Mapping[str, str] | None = None,
    ) -> Callable[[ev.Event], None]:
        self.recorders.append({"label": label, "into_run": into_run, "cell_map": cell_map})
        target: list[str] = []

        def record(event: ev.Event) -> None:
            if isinstance(event, ev.RunStarted):
                target.append(into_run or event.run_id)
            elif isinstance(event, ev.TERMINAL):
                cell = (cell_map or {}).get(event.cell_id, event.cell_id)
                status = {
                    ev.CellFinished: "done",
                    ev.CellFailed: "failed",
                    ev.CellCancelled: "cancelled",
                }
                self.ended.setdefault(target[0], {})[cell] = status[type(event)]

        return record

    def flush(self, timeout: float = 5.0) -> bool:
        self.flushes += 1
        return True


class Watcher:
    """Every event the session emitted, and futures for the ones a test waits for."""

    def __init__(self, session: Session) -> None:
        self.events: list[Any] = []
        self._waiting: list[tuple[Callable[[Any], bool], asyncio.Future[Any]]] = []
        session.subscribe(self)

    def __call__(self, event: Any) -> None:
        self.events.append(event)
        for predicate, fut in list(self._waiting):
            if not fut.done() and predicate(event):
                fut.set_result(event)

    def next(self, predicate: Callable[[Any], bool]) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append((predicate, fut))
        return fut

    def ended(self, primary: bool | None = None) -> asyncio.Future[RunEnded]:
        return self.next(
            lambda e: isinstance(e, RunEnded) and (primary is None or e.primary is primary)
        )

    def last_counts(self) -> Counts:
        return [e for e in self.events if isinstance(e, CountsChanged)][-1].counts

    def of(self, cell_id: str) -> list[str]:
        return [
            type(e).__name__
            for e in self.events
            if isinstance(e, ev.CellEvent) and e.cell_id == cell_id
        ]


def spec_of(topics: list[str], strategy: Strategy = Strategy.STREAM, **limits: Any) -> RunSpec:
    return make_spec("About {topic}", topics, SIM, strategy, Limits(**limits))


def session_of(backend: FakeBackend) -> tuple[Session, FakeHistory, Watcher]:
    history = FakeHistory()

    async def open_history() -> FakeHistory:
        return history

    session = Session(lambda: backend, open_history)
    return session, history, Watcher(session)


def grid_agrees(session: Session, counts: Counts) -> None:
    """The counts are the phases of the grid cells, each counted once."""
    phases = [session.phase(str(CellId(r, 0))) for r in range(counts.total)]
    assert counts.done == phases.count(Phase.DONE)
    assert counts.failed == phases.count(Phase.FAILED)
    assert counts.cancelled == phases.count(Phase.CANCELLED)
    assert counts.ended + counts.in_flight + counts.waiting == counts.total


async def test_a_run_opens_counts_and_ends_with_the_history_written() -> None:
    session, history, watch = session_of(FakeBackend(Script(latency=0.02, chunks=3)))
    ended = watch.ended()
    run = session.start(spec_of(["a", "b", "c"]))
    assert isinstance(watch.events[0], RunOpened) and watch.events[0].run is run
    assert watch.last_counts() == Counts(waiting=3, total=3)
    result = await asyncio.wait_for(ended, 60)
    assert result.primary and result.summary is not None and result.summary.done == 3
    assert result.counts == Counts(done=3, total=3) == watch.last_counts() == session.counts
    assert history.recorders == [{"label": None, "into_run": None, "cell_map": None}]
    assert history.ended[run.id] == {"r0m0": "done", "r1m0": "done", "r2m0": "done"}
    assert history.flushes >= 1  # flushed before RunEnded: the History tab reads it next
    assert not session.running


async def test_a_second_start_during_a_run_is_refused() -> None:
    gate = asyncio.Event()
    session, _history, watch = session_of(FakeBackend(Script(chunks=3, pause=gate)))
    ended = watch.ended()
    session.start(spec_of(["a"]))
    with pytest.raises(Busy, match="in progress"):
        session.start(spec_of(["b"]))
    gate.set()
    await asyncio.wait_for(ended, 60)


async def test_retry_mid_run_of_a_failed_cell_while_the_others_stream() -> None:
    gate = asyncio.Event()
    backend = FakeBackend(
        Script(latency=0.02, chunks=3, pause=gate),
        bad=Script(latency=0.01, errors=[FakeHTTPError(401)]),
    )
    session, history, watch = session_of(backend)
    failed = watch.next(lambda e: isinstance(e, ev.CellFailed))
    main_ended = watch.ended(primary=True)
    run = session.start(spec_of(["bad", "slow"]))
    event = await asyncio.wait_for(failed, 60)
    assert event.cell_id == "r0m0" and session.running
    retry_ended = watch.ended(primary=False)
    retry = session.retry("r0m0")
    assert retry is not None
    assert RetryQueued("r0m0", retry.id) in watch.events
    assert session.phase("r0m0") is Phase.QUEUED
    retried = await asyncio.wait_for(retry_ended, 60)
    # The retry's own cell is r0m0 of a one-cell run: it reaches the views as the grid's id.
    assert watch.of("r0m0")[-1] == "CellFinished"
    assert retried.counts.done == 1 and retried.counts.failed == 0
    assert not main_ended.done()  # the rest of the run carries on
    gate.set()
    result = await asyncio.wait_for(main_ended, 60)
    assert result.counts == Counts(done=2, total=2)
    grid_agrees(session, result.counts)
    assert history.recorders[1] == {"label": None, "into_run": run.id, "cell_map": {"r0m0": "r0m0"}}
    assert history.ended[run.id] == {"r0m0": "done", "r1m0": "done"}


async def test_retry_after_the_run_maps_the_cell_back_to_its_place() -> None:
    backend = FakeBackend(Script(latency=0.01, chunks=2), b=Script(errors=[FakeHTTPError(401)]))
    session, history, watch = session_of(backend)
    ended = watch.ended()
    run = session.start(spec_of(["a", "b", "c"]))
    first = await asyncio.wait_for(ended, 60)
    assert first.counts == Counts(done=2, failed=1, total=3)
    again = watch.ended(primary=False)
    retry = session.retry("r1m0")
    assert retry is not None
    assert [c.id for c in retry.cells] == ["r0m0"]  # its own id ...
    result = await asyncio.wait_for(again, 60)
    assert watch.of("r1m0")[-1] == "CellFinished"  # ... reaches the views as the grid's
    assert result.counts == Counts(done=3, total=3) == session.counts
    grid_agrees(session, result.counts)
    assert history.recorders[-1]["cell_map"] == {"r0m0": "r1m0"}
    assert history.ended[run.id]["r1m0"] == "done"


async def test_cancel_all_then_retry_one() -> None:
    gate = asyncio.Event()
    backend = FakeBackend(Script(latency=0.02, chunks=3, pause=gate))
    session, history, watch = session_of(backend)
    streaming = watch.next(lambda e: isinstance(e, ev.FirstToken))
    ended = watch.ended(primary=True)
    run = session.start(spec_of(["a", "b", "c"], max_concurrency=1))
    await asyncio.wait_for(streaming, 60)
    session.cancel_all()
    first = await asyncio.wait_for(ended, 60)
    assert first.counts == Counts(cancelled=3, total=3)
    reasons = {e.cell_id: e.reason for e in watch.events if isinstance(e, ev.CellCancelled)}
    assert reasons["r1m0"] == reasons["r2m0"] == CANCELLED_BEFORE_START
    assert "partial text kept" in reasons["r0m0"]
    gate.set()
    again = watch.ended(primary=False)
    assert session.retry("r2m0") is not None
    result = await asyncio.wait_for(again, 60)
    assert result.counts == Counts(done=1, cancelled=2, total=3)
    grid_agrees(session, result.counts)
    assert history.ended[run.id] == {"r0m0": "cancelled", "r1m0": "cancelled", "r2m0": "done"}


async def test_retry_of_a_cancelled_cell_while_the_run_goes_on() -> None:
    gate = asyncio.Event()
    backend = FakeBackend(Script(latency=0.02, chunks=3, pause=gate))
    session, _history, watch = session_of(backend)
    main_ended = watch.ended(primary=True)
    session.start(spec_of(["a", "b"], max_concurrency=1))
    cancelled = watch.next(lambda e: isinstance(e, ev.CellCancelled))
    session.cancel_cell("r1m0")  # still queued behind r0m0
    assert (await asyncio.wait_for(cancelled, 60)).reason == CANCELLED_BEFORE_START
    assert session.retry("r0m0") is None  # still streaming: nothing to retry
    retry_ended = watch.ended(primary=False)
    assert session.retry("r1m0") is not None
    gate.set()
    # Either may end first; each RunEnded carries the counts of its moment.
    await asyncio.wait_for(asyncio.gather(retry_ended, main_ended), 60)
    assert session.counts == Counts(done=2, total=2) == watch.last_counts()
    grid_agrees(session, session.counts)


@dataclass(frozen=True)
class StoredCellStub:
    cell_id: str
    status: str
    text: str
    error: str | None
    metrics: CellMetrics | None = None


@dataclass(frozen=True)
class StoredRunStub:
    id: str
    spec: RunSpec
    cells: tuple[StoredCellStub, ...]
    created_at: float = 0.0
    status: str = "interrupted"
    wall: float | None = 1.0
    models: tuple[str, ...] = ("sim-1",)


async def test_open_a_past_run_while_one_is_live_is_refused_then_works() -> None:
    gate = asyncio.Event()
    session, _history, watch = session_of(FakeBackend(Script(chunks=3, pause=gate)))
    ended = watch.ended()
    session.start(spec_of(["a", "b"]))
    past = StoredRunStub(
        "old",
        spec_of(["x", "y", "z"]),
        (StoredCellStub("r0m0", "done", "hi", None), StoredCellStub("r1m0", "failed", "", "no")),
    )
    with pytest.raises(Busy, match="in progress"):
        session.open_past(past)
    assert session.past_run is None and session.counts.total == 2
    gate.set()
    await asyncio.wait_for(ended, 60)
    session.open_past(past)
    opened = [e for e in watch.events if isinstance(e, PastRunOpened)]
    # r2m0 never ended (the app stopped): it counts as cancelled.
    assert opened[-1].counts == Counts(done=1, failed=1, cancelled=1, total=3)
    assert watch.last_counts() == opened[-1].counts and session.current_run is None
    assert session.retry("r1m0") is None  # a past run is read-only


async def test_comparison_cancelled_half_way() -> None:
    backend = FakeBackend(Script(latency=0.05, chunks=3))
    session, history, watch = session_of(backend)
    spec = spec_of(["a", "b"], max_concurrency=2)
    done = watch.next(lambda e: isinstance(e, ComparisonEnded))
    third = watch.next(
        lambda e: isinstance(e, RunOpened) and e.label == f"comparison: {Strategy.GATHER}"
    )
    task = session.compare(spec)
    await asyncio.wait_for(third, 60)
    with pytest.raises(Busy):
        session.start(spec)
    with pytest.raises(Busy, match="comparison"):
        session.retry("r0m0")
    session.cancel_all()
    results = await asyncio.wait_for(task, 60)
    end = await done
    assert end.cancelled and end.results == results
    assert [r.strategy for r in results] == [Strategy.SYNC, Strategy.SEQUENTIAL, Strategy.GATHER]
    assert results[-1].cancelled == 2 and results[0].done == results[1].done == 2
    assert len([e for e in watch.events if isinstance(e, StrategyMeasured)]) == 3
    assert [r["label"] for r in history.recorders] == [
        f"comparison: {s}" for s in (Strategy.SYNC, Strategy.SEQUENTIAL, Strategy.GATHER)
    ]
    assert not session.running and session.counts == Counts(cancelled=2, total=2)


async def test_shutdown_ends_every_cell_and_leaves_no_task() -> None:
    gate = asyncio.Event()
    session, _history, watch = session_of(FakeBackend(Script(chunks=3, pause=gate)))
    session.start(spec_of(["a", "b", "c"]))
    await asyncio.wait_for(watch.next(lambda e: isinstance(e, ev.FirstToken)), 60)
    await session.shutdown()
    assert not session.running
    assert {type(e).__name__ for e in watch.events if isinstance(e, ev.TERMINAL)} == {
        "CellCancelled"
    }
    assert not [
        t for t in asyncio.all_tasks() if t.get_name().startswith("fanout-") and not t.done()
    ]


def test_cell_ids_have_one_constructor_and_one_parser() -> None:
    assert CellId.text(12, 3) == str(CellId(12, 3)) == "r12m3"
    assert CellId.parse("r12m3") == CellId(12, 3)
    assert CellId.grid(2, 2) == [["r0m0", "r0m1"], ["r1m0", "r1m1"]]
    for bad in ("r1", "m1r2", "r-1m0", "r1m2 ", ""):
        with pytest.raises(ValueError, match="not a cell id"):
            CellId.parse(bad)


async def test_a_twenty_thousand_cell_run_counts_every_cell_queued_from_the_start() -> None:
    session = Session(lambda: FakeBackend(Script(latency=0.01, chunks=1)))
    spec = make_spec("About {t}", [f"topic {i}" for i in range(10_000)], SIM * 2)
    run = session.start(spec)
    counts = session.counts
    assert counts.total == 20_000 and counts.waiting == 20_000 and counts.in_flight == 0
    assert session.phase("r9999m1") is Phase.QUEUED and session.phase("r10000m0") is None
    await until(lambda: run.in_flight > 0)
    assert session.counts.total == 20_000
    assert session.counts.in_flight + session.counts.waiting + session.counts.ended == 20_000
    session.cancel_all()
    await session.wait_idle()
    assert session.counts.cancelled + session.counts.done == 20_000


async def test_retry_of_a_variant_cell_sends_its_own_prompt_system_schema_and_prices() -> None:
    # Issue 10 §7 against issue 15: a cell of variant B (its own template and system message),
    # of a structured, priced run, is retried with the same: not with variant A's prompt.
    from dataclasses import replace

    from gui.core.pricing import Price, PriceEntry

    spec = replace(
        make_spec(
            "Tell me about {topic}",
            ["owls"],
            SIM,
            Strategy.STREAM,
            Limits(),
            system="Be brief.",
            template_variants=("Write a poem on {topic}",),
            system_variants=("Be verbose.",),
        ),
        prices=(PriceEntry("sim-1", Price(1, 2)),),
        json_schema={"type": "object"},
    )
    backend = FakeBackend(Script(latency=0.0, chunks=1))
    session, _history, watch = session_of(backend)
    ended = watch.ended()
    session.start(spec)
    await asyncio.wait_for(ended, 60)
    for col, variant in enumerate(spec.variants):
        again = watch.ended(primary=False)
        retry = session.retry(CellId.text(0, col))
        assert retry is not None
        await asyncio.wait_for(again, 60)
        (own,) = retry.cells
        assert retry.spec.messages(own.id) == spec.messages(CellId.text(0, col))
        assert (variant.template, variant.system) == (retry.spec.template, retry.spec.system)
        assert retry.spec.json_schema == spec.json_schema and retry.spec.prices == spec.prices
