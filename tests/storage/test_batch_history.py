"""Batch runs in the history: recorded as submitted the moment a batch exists, resumed by a
new process's History (the run's results land in the same run), the judging an earlier
process left unfinished done by the next start, and the v5 -> v6 step."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from gui.core import events as ev
from gui.core.batch import BatchLimits, BatchPort, BatchRun, BatchState
from gui.core.judging import JudgeMode, JudgeSettings
from gui.core.spec import ModelProfile, RunSpec, SimSettings, make_spec
from gui.providers.batch import batch_ports
from gui.storage import schema
from gui.storage.batch_runs import resumable_runs
from gui.storage.history import History
from tests.core.test_judge_lane import FakeJudge, JudgedBackend
from tests.support.waiting import until

FAST = BatchLimits(poll_first=0.01, poll_max=0.05)


def sim_spec(rows: int = 3) -> object:
    return make_spec(
        "Explain {topic}",
        [f"topic {i}" for i in range(rows)],
        [ModelProfile(model="sim-1", sim=SimSettings(output_tokens=5, seed=1))],
    )


async def test_a_submitted_run_is_resumed_and_completed_by_a_new_history(tmp_path: Path) -> None:
    db, sim = tmp_path / "history.sqlite3", tmp_path / "sim"
    spec = sim_spec()
    with History.open(db) as h:
        run = BatchRun(
            spec,  # type: ignore[arg-type]
            batch_ports(None, sim, sim_delay=0.3),
            h,
            tmp_path / "work",
            limits=FAST,
            wait=False,
        )
        run.subscribe(h.recorder())
        assert await asyncio.wait_for(run.start(), 30) is None
        (record,) = h.batches(run.id)
        assert record.batch_id == run.batches[0].batch_id and record.input_file_id
        assert h.get_run(run.id).status == "submitted"  # type: ignore[union-attr]
    # The process ends here (History closed): the run is not marked interrupted.
    with History.open(db) as h:
        stored = h.get_run(run.id)
        assert stored is not None and stored.status == "submitted" and stored.cells == ()
        assert len(h.batches(open_only=True)) == 1
        found = h.batch_run(run.id)
        assert found is not None
        spec2, started_at, prior = found
        resumed = BatchRun.resume(
            spec2,
            run.id,
            h.batches(run.id, open_only=True),
            batch_ports(None, sim),
            h,
            tmp_path / "work",
            started_at=started_at,
            prior=prior,
            limits=FAST,
        )
        resumed.subscribe(h.recorder(resume_run=run.id))
        summary = await asyncio.wait_for(resumed.wait(), 30)
        assert summary is not None and summary.done == 3
        assert h.flush()
        stored = h.get_run(run.id)
        assert stored is not None and stored.status == "finished"
        assert [c.status for c in stored.cells] == ["done"] * 3
        assert all(c.metrics is not None and c.metrics.batch for c in stored.cells)
        assert stored.cells[0].metrics.output_tokens == 5  # type: ignore[union-attr]
        assert stored.cells[0].metrics.input_tokens  # type: ignore[union-attr]
        assert h.batches(open_only=True) == []
        (done,) = h.batches(run.id)
        assert done.state is BatchState.COMPLETED and done.ingested_at is not None


def test_a_version_5_file_gains_the_batches_table(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite3"
    with History.open(db):
        pass
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TABLE batches")
        conn.execute(
            "INSERT INTO runs (id, created_at, status, template, strategy, spec_json) "
            "VALUES ('old-run', 1.0, 'finished', 't', 'stream', '{}')"
        )
        conn.execute("PRAGMA user_version = 5")
    with History.open(db) as h:
        assert h.resolve_id("old-run") == "old-run"
        assert h.batches() == []
    with sqlite3.connect(db) as conn:
        assert schema.user_version(conn) == schema.SCHEMA_VERSION == 6
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


async def test_a_retry_batch_is_recorded_with_its_cells_and_resumed_with_the_right_counts(
    tmp_path: Path,
) -> None:
    from gui.storage.batch_runs import resumable_runs, retry_batch_run

    db, sim = tmp_path / "history.sqlite3", tmp_path / "sim"
    failing = ModelProfile(
        model="sim-1", sim=SimSettings(output_tokens=5, seed=1, failure_rate=0.5)
    )
    spec = make_spec("Explain {topic}", [f"topic {i}" for i in range(8)], [failing], repeats=2)
    with History.open(db) as h:
        run = BatchRun(spec, batch_ports(None, sim, 0.05), h, tmp_path / "work", limits=FAST)
        run.subscribe(h.recorder())
        first = await asyncio.wait_for(run.start(), 30)
        assert first is not None and 0 < first.failed < 16  # some of the 16 samples failed
        assert h.flush()
        stored = h.get_run(run.id)
        assert stored is not None
        failed = sorted(c.cell_id for c in stored.cells if c.status == "failed")
        # The simulated provider draws failures again for the new file: what matters here
        # is the record and the resume, not the outcome.
        retry = retry_batch_run(
            h, stored, batch_ports(None, sim, 0.5), tmp_path / "work", limits=FAST, wait=False
        )
        assert retry is not None and await asyncio.wait_for(retry.start(), 30) is None
        assert h.flush()
        assert h.get_run(run.id).status == "submitted"  # type: ignore[union-attr]
    with History.open(db) as h:  # a new process
        (record,) = h.batches(run.id, open_only=True)
        assert record.file_index == 1 and sorted(record.cells) == failed
        found = h.batch_run(run.id)
        assert found is not None and found[2] == {"done": 16 - len(failed)}
        (resumed,) = resumable_runs(h, batch_ports(None, sim, 0.0), tmp_path / "work", limits=FAST)
        summary = await asyncio.wait_for(resumed.wait(), 30)
        assert summary is not None and summary.total == 16
        assert summary.done + summary.failed == 16
        assert h.flush()
        stored = h.get_run(run.id)
        assert stored is not None and stored.status == "finished" and len(stored.cells) == 16
        assert h.batches(open_only=True) == []


# ------------------------------------------------ judging left unfinished by an earlier process


def judged(mode: JudgeMode, models: tuple[str, ...]) -> RunSpec:
    spec = make_spec(
        "Explain {topic}",
        ["owls", "moss"],
        [ModelProfile(model=m, sim=SimSettings(output_tokens=5, seed=1)) for m in models],
    )
    return replace(spec, judge=JudgeSettings(model=ModelProfile(model="judge"), mode=mode))


def first_wins(messages: object) -> str:
    return '{"winner": "first", "reason": "Clearer."}'


def ingested(run: BatchRun, col: int) -> bool:
    """Whether column ``col``'s batch has been read in whole (recorded as ingested)."""
    return any(r.col == col and r.ingested_at is not None for r in run.batches.values())


async def stop_when(run: BatchRun, task: asyncio.Task[object], ready: Callable[[], bool]) -> None:
    """Let ``run`` go until ``ready()``, then close the app on it."""
    await until(ready)
    run.stop()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_judge_calls_open_when_the_app_closed_are_made_by_the_next_start(
    tmp_path: Path,
) -> None:
    db, sim, work = tmp_path / "history.sqlite3", tmp_path / "sim", tmp_path / "work"
    ports = batch_ports(None, sim, sim_delay=0.05)
    stuck = FakeJudge()
    stuck.gate = asyncio.Event()  # never set: the calls are open when the app closes
    with History.open(db) as h:
        run = BatchRun(
            judged(JudgeMode.SINGLE, ("sim-a",)),
            ports,
            h,
            work,
            limits=FAST,
            backend=lambda: JudgedBackend(stuck),
        )
        run.subscribe(h.recorder())
        ended: list[str] = []
        run.subscribe(lambda e: ended.append(e.cell_id) if isinstance(e, ev.CellFinished) else None)
        task = run.start()
        # Both answers landed and both judge calls are out when the app closes.
        await stop_when(
            run, task, lambda: ingested(run, 0) and len(ended) == 2 and len(stuck.calls) == 2
        )
    with History.open(db) as h:
        stored = h.get_run(run.id)
        assert stored is not None and stored.status == "submitted"
        assert [c.judge for c in stored.cells] == [None, None]
        assert h.batches(open_only=True) == []  # every batch landed: nothing to poll
        judge = FakeJudge()
        (resumed,) = resumable_runs(
            h, ports, work, limits=FAST, backend=lambda: JudgedBackend(judge)
        )
        summary = await asyncio.wait_for(resumed.start(), 30)
        assert summary is not None and summary.done == 2
        assert h.flush()
        stored = h.get_run(run.id)
        assert stored is not None and stored.status == "finished"
        assert [c.judge.score for c in stored.cells if c.judge] == [7, 7]
        assert len(judge.calls) == 2
        # Nothing left: a later start finds nothing to resume.
        assert (
            resumable_runs(h, ports, work, limits=FAST, backend=lambda: JudgedBackend(judge)) == []
        )


async def test_a_pairwise_judge_compares_cells_that_landed_in_two_processes(
    tmp_path: Path,
) -> None:
    db, sim, work = tmp_path / "history.sqlite3", tmp_path / "sim", tmp_path / "work"
    fast, slow = batch_ports(None, sim, sim_delay=0.05), batch_ports(None, sim, sim_delay=1.5)

    def ports(profile: ModelProfile) -> BatchPort:
        return fast(profile) if profile.model == "sim-a" else slow(profile)

    spec = judged(JudgeMode.PAIRWISE, ("sim-a", "sim-b"))
    with History.open(db) as h:
        run = BatchRun(
            spec, ports, h, work, limits=FAST, backend=lambda: JudgedBackend(FakeJudge(first_wins))
        )
        run.subscribe(h.recorder())
        ended: list[str] = []
        run.subscribe(lambda e: ended.append(e.cell_id) if isinstance(e, ev.CellFinished) else None)
        task = run.start()
        # sim-a's answers landed, sim-b's batch runs on when the app closes.
        await stop_when(run, task, lambda: ingested(run, 0) and len(ended) == 2)
        assert sorted(ended) == ["r0m0", "r1m0"]
    with History.open(db) as h:
        judge = FakeJudge(first_wins)
        (resumed,) = resumable_runs(
            h, ports, work, limits=FAST, backend=lambda: JudgedBackend(judge)
        )
        summary = await asyncio.wait_for(resumed.start(), 30)
        assert summary is not None and summary.done == 4
        assert h.flush()
        stored = h.get_run(run.id)
        assert stored is not None and stored.status == "finished"
        # Each row's two answers were compared, though they landed in different processes.
        assert sorted(p.row for p in stored.pairwise) == [0, 1]
        assert all(p.error is None and p.winner_cell for p in stored.pairwise)
        assert len(judge.calls) == 2
