"""Batch runs found in the history, made ready to resume (the window's and the CLI's start).

A batch run outlives the process that submitted it: its batches are rows of the history's
``batches`` table. :func:`resumable_runs` turns every run with a batch still open (not yet
ingested) into a :class:`gui.core.batch.BatchRun` that polls on and writes its results into
the same run, with the history's recorder already subscribed. :func:`retry_batch_run` sends a
recorded run's failed and expired cells again as new batches of that same run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from gui.core.batch import BatchLimits, BatchPort, BatchRecord, BatchRun
from gui.core.ports import Backend
from gui.core.spec import ModelProfile
from gui.storage.history import History
from gui.storage.records import StoredRun

__all__ = ["failed_cells", "resumable_runs", "resumed_line", "retry_batch_run"]


def resumable_runs(
    history: History,
    ports: Callable[[ModelProfile], BatchPort],
    workdir: Path,
    *,
    limits: BatchLimits | None = None,
    run_id: str | None = None,
    backend: Callable[[], Backend] | None = None,
) -> list[BatchRun]:
    """A resumed run for every run (or only ``run_id``) with an open batch, oldest first, and
    for every batch run left ``submitted`` with all its batches landed (see
    :meth:`History.settled_batch_runs`); ``backend`` gives the live backend their LLM judge
    calls go through, and the judging an earlier process left unfinished is redone
    (:meth:`History.batch_judge_backlog`).

    Raises:
        HistoryError: the history cannot be read.
    """
    by_run: dict[str, list[BatchRecord]] = {}
    # Runs whose every batch landed but that an earlier process did not end (its judge
    # calls were open): resumed with no batch to poll, they judge what is left and end.
    for rid in history.settled_batch_runs(run_id):
        by_run[rid] = []
    for record in reversed(history.batches(run_id, open_only=True, limit=0)):  # oldest first
        by_run.setdefault(record.run_id, []).append(record)
    runs: list[BatchRun] = []
    for rid, records in by_run.items():
        found = history.batch_run(rid)
        if found is None:
            continue
        spec, started_at, prior = found
        # Judge calls the earlier process left open, and pairwise rows split across
        # processes, are judged again here.
        judged = spec.judge is not None and backend is not None
        landed = history.batch_judge_backlog(rid) if judged else []
        run = BatchRun.resume(
            spec,
            rid,
            sorted(records, key=lambda r: r.file_index),
            ports,
            history,
            workdir,
            started_at=started_at,
            prior=prior,
            limits=limits,
            backend=backend,
            landed=landed,
        )
        run.subscribe(history.recorder(resume_run=rid))
        runs.append(run)
    return runs


def failed_cells(stored: StoredRun) -> list[str]:
    """The cells of a recorded run to retry: failed ones (``expired`` is a failure kind)."""
    return [c.cell_id for c in stored.cells if c.status == "failed"]


def retry_batch_run(
    history: History,
    stored: StoredRun,
    ports: Callable[[ModelProfile], BatchPort],
    workdir: Path,
    *,
    limits: BatchLimits | None = None,
    backend: Callable[[], Backend] | None = None,
    wait: bool = True,
) -> BatchRun | None:
    """A batch run that sends ``stored``'s failed cells again as new batches of that same
    run (recorded as they are created, resumed by a later process as any batch), with the
    history's recorder subscribed; ``None`` when the run has no failed cell.

    Raises:
        HistoryError: the history cannot be read.
    """
    failed = failed_cells(stored)
    if not failed:
        return None
    counts = Counter(c.status for c in stored.cells)
    counts["failed"] -= len(failed)
    known = history.batches(stored.id, limit=0)
    first_file = max((r.file_index for r in known), default=-1) + 1
    run = BatchRun.retry_cells(
        stored.spec,
        stored.id,
        failed,
        ports,
        history,
        workdir,
        started_at=stored.created_at,
        prior=dict(counts),
        first_file=first_file,
        limits=limits,
        backend=backend,
        wait=wait,
    )
    run.subscribe(history.recorder(resume_run=stored.id))
    return run


def resumed_line(runs: list[BatchRun]) -> str | None:
    """The one line that says unfinished batch runs were picked up, or ``None`` for none."""
    if not runs:
        return None
    batches = sum(1 for run in runs for r in run.batches.values() if r.open)
    plural = "s" if len(runs) != 1 else ""
    return (
        f"Resumed {len(runs)} unfinished batch run{plural} from the history "
        f"({batches} batch{'es' if batches != 1 else ''} still with the provider)."
    )
