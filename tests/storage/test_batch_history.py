"""Batch runs in the history: recorded as submitted the moment a batch exists, resumed by a
new process's History (the run's results land in the same run), and the v5 -> v6 step."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from gui.core.batch import BatchLimits, BatchRun, BatchState
from gui.core.spec import ModelProfile, SimSettings, make_spec
from gui.providers.batch import batch_ports
from gui.storage import schema
from gui.storage.history import History

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
