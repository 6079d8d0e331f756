"""The window's batch runs: submit the editors' run to a Batch API, resume the unfinished ones
at start (said once), cancel, and keep the Batches tab current.

:class:`BatchCommands` owns every batch run the window polls (their tasks belong to the
window's :class:`~gui.core.tasks.TaskOwner`) and records them in the history, where their
results land; the grid shows a batch run's cells once they are in (Open results), as any past
run. Closing the window only stops the polling: the batches stay with the provider and in
the history as ``submitted``, and the next start picks them up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from gui.core import events as ev
from gui.core.batch import BatchChanged, BatchLimits, BatchRun
from gui.core.ports import Backend, KeySource
from gui.core.private import private_dirs
from gui.core.spec import RunSpec
from gui.core.tasks import TaskOwner
from gui.qt.views.batches_view import BatchesView

if TYPE_CHECKING:
    from gui.storage.history import History

__all__ = ["BatchCommands"]

log = logging.getLogger(__name__)

#: Seconds between two refreshes of a run's ingest progress in the Batches tab.
PROGRESS_EVERY_S = 0.2


class BatchCommands(QObject):
    """Submits, resumes and cancels the window's batch runs.

    Args:
        view: The Batches tab.
        tasks: The window's task owner.
        keys: Resolves profiles' saved keys.
        history: Opens (once) and returns the history.
        say: One line in the status bar for so many ms.
        folder: Where request/result files and the simulated provider's batches live
            (default: ``batches`` in the data folder).
        limits: Split and polling settings.
        sim_delay: Seconds a simulated batch takes (``None``: the provider's default).
        timeline: Draws the batches of runs submitted or resumed here (one bar per request
            file, its states): their start, each batch's change and their end are passed on.
        backend: The live engine's provider backend (retrying failed cells live, and the
            LLM judge of a batch run's answers as they land).

    Signals:
        run_ended(str, object): a batch run's results are all in the history (its id, its
            :class:`~gui.core.metrics.RunSummary`, or ``None`` after a live retry of its
            failed cells).
        progress_changed(str, int, int): a batch run moved: its id, its requests the
            provider has run or cells ingested (whichever is further), and its requests.
    """

    run_ended = Signal(str, object)
    progress_changed = Signal(str, int, int)

    def __init__(
        self,
        view: BatchesView,
        tasks: TaskOwner,
        keys: KeySource,
        history: Callable[[], Awaitable[History]],
        say: Callable[[str, int], None],
        *,
        folder: Path | None = None,
        limits: BatchLimits | None = None,
        sim_delay: float | None = None,
        timeline: Callable[[list[ev.Event]], None] | None = None,
        backend: Callable[[], Backend] | None = None,
    ) -> None:
        super().__init__(view)
        self._view, self._tasks, self._keys = view, tasks, keys
        self._history, self._say = history, say
        self._folder, self._limits, self._sim_delay = folder, limits, sim_delay
        self._timeline = timeline
        self._backend = backend
        self._runs: dict[str, BatchRun] = {}
        self._resumed = False
        self._closing = False
        view.cancel_requested.connect(self.cancel)
        view.retry_requested.connect(self.retry_live)
        view.retry_batch_requested.connect(self.retry_batch)

    @property
    def runs(self) -> dict[str, BatchRun]:
        """The batch runs this window polls, by id."""
        return dict(self._runs)

    def submit(self, spec: RunSpec) -> None:
        """Send ``spec``'s cells to the Batch API (the run is recorded when each batch exists)."""
        self._tasks.spawn(self._submit(spec), "fanout-batch-submit")

    def resume(self) -> None:
        """Pick up every unfinished batch run of the history (once per window)."""
        if self._resumed:
            return
        self._resumed = True
        self._tasks.spawn(self._resume(), "fanout-batch-resume")

    def cancel(self, run_id: str) -> None:
        """Cancel a run's open batches (requests not run end cancelled)."""
        run = self._runs.get(run_id)
        if run is None or run.finished:
            self._say(f"Batch run {run_id} is not open in this window.", 6000)
            return
        run.cancel()
        self._say(f"Cancelling batch run {run_id}: the provider stops its batches.", 6000)

    def retry_live(self, run_id: str) -> None:
        """Run a batch run's failed and expired cells again, live, into the same run."""
        if self._backend is None:
            return
        self._tasks.spawn(self._retry_live(run_id), "fanout-batch-retry", group=run_id)

    async def _retry_live(self, run_id: str) -> None:
        from gui.core.batch import retry_specs
        from gui.core.runner import Run

        assert self._backend is not None
        history = await self._history()
        stored = await asyncio.to_thread(history.get_run, run_id)
        if stored is None:
            return
        failed = [c.cell_id for c in stored.cells if c.status == "failed"]
        if not failed:
            self._say(f"Batch run {run_id} has no failed cell to retry.", 6000)
            return
        self._say(f"Retrying {len(failed):,} failed cells of {run_id} live…", 6000)
        backend = self._backend()
        done = 0
        for spec, cell_map in retry_specs(stored.spec, failed):
            run = Run(spec, backend)
            run.subscribe(history.recorder(into_run=run_id, cell_map=cell_map))
            summary = await run.wait()
            done += summary.done
        await asyncio.to_thread(history.flush, 10.0)
        self._say(f"Retried {len(failed):,} cells of {run_id} live: {done:,} done.", 10000)
        self.run_ended.emit(run_id, None)

    def retry_batch(self, run_id: str) -> None:
        """Send a batch run's failed and expired cells again as a new batch of the run."""
        self._tasks.spawn(self._retry_batch(run_id), "fanout-batch-retry-batch", group=run_id)

    async def _retry_batch(self, run_id: str) -> None:
        from gui.storage.batch_runs import retry_batch_run

        if run_id in self._runs and not self._runs[run_id].finished:
            self._say(f"Batch run {run_id} still has open batches: let them end first.", 6000)
            return
        history, ports, work = await self._setup()
        stored = await asyncio.to_thread(history.get_run, run_id)
        if stored is None:
            return
        run = await asyncio.to_thread(
            retry_batch_run,
            history,
            stored,
            ports,
            work,
            limits=self._limits,
            backend=self._backend,
        )
        if run is None:
            self._say(f"Batch run {run_id} has no failed cell to retry.", 6000)
            return
        self._watch(run)
        n = len(run.only or ())
        plural = "s" if n != 1 else ""
        self._say(f"Sending {n:,} failed cell{plural} of {run_id} as a new batch…", 8000)
        await self._drive(run)

    def shutdown(self) -> None:
        """Stop polling (the batches stay with the provider, the runs stay submitted)."""
        self._closing = True
        for run in self._runs.values():
            run.stop()

    # ---------------------------------------------------------------- internals

    async def _setup(self) -> tuple[History, Any, Path]:
        from gui.providers.batch import SIM_BATCH_DELAY_S, batch_ports
        from gui.storage import paths

        history = await self._history()
        folder = self._folder
        if folder is None:
            folder = await asyncio.to_thread(paths.batches_dir)
        work, sim = folder / "work", folder / "simulated"
        for f in (work, sim):
            await asyncio.to_thread(private_dirs, f)
        delay = SIM_BATCH_DELAY_S if self._sim_delay is None else self._sim_delay
        return history, batch_ports(self._keys, sim, delay), work

    async def _submit(self, spec: RunSpec) -> None:
        history, ports, work = await self._setup()
        from gui.providers.tokens import count_tokens

        run = BatchRun(
            spec,
            ports,
            history,
            work,
            limits=self._limits,
            backend=self._backend,
            counter=count_tokens,
        )
        run.subscribe(history.recorder(label="batch"))
        self._watch(run)
        self._say(f"Submitting {len(run.cells):,} cells to the Batch API as run {run.id}…", 8000)
        await self._drive(run)

    async def _resume(self) -> None:
        from gui.storage.batch_runs import resumable_runs, resumed_line

        history, ports, work = await self._setup()
        view_records = await asyncio.to_thread(history.batches, None, limit=200)
        runs = await asyncio.to_thread(
            resumable_runs, history, ports, work, limits=self._limits, backend=self._backend
        )
        for run in runs:
            self._view.set_models(run.id, run.spec.headers)
        self._view.set_records(view_records)
        line = resumed_line(runs)
        if line:
            self._say(line, 15000)
        await asyncio.gather(*(self._drive_watched(run) for run in runs))

    async def _drive_watched(self, run: BatchRun) -> None:
        self._watch(run)
        await self._drive(run)

    async def _drive(self, run: BatchRun) -> None:
        try:
            summary = await run.wait()
        except asyncio.CancelledError:
            run.stop()
            raise
        except Exception:
            log.exception("batch run %s failed", run.id)
            self._say(f"Batch run {run.id} stopped on an internal error (see the log).", 10000)
            return
        if run.error is not None:
            self._say(run.error, 15000)
            if not run.batches:  # refused or never sent: nothing was recorded
                self._runs.pop(run.id, None)
                return
        if summary is not None and not self._closing:
            # The History tab and Open results read the run back right after this.
            history = await self._history()
            await asyncio.to_thread(history.flush, 10.0)
            s = summary
            self._say(
                f"Batch run {run.id}: {s.done} done, {s.failed} failed, {s.cancelled} cancelled "
                f"of {s.total}. Open results in the Batches tab.",
                15000,
            )
            self.run_ended.emit(run.id, summary)

    def _watch(self, run: BatchRun) -> None:
        self._runs[run.id] = run
        view = self._view
        view.set_models(run.id, run.spec.headers)
        total = len(run.cells)
        last = [0.0]

        timeline = self._timeline

        def progress() -> None:
            ended = sum(run.ended_counts().values())
            view.set_progress(run.id, ended, total)
            self.progress_changed.emit(run.id, max(run.requests_done, ended), total)

        def on_event(event: ev.Event) -> None:
            if timeline is not None and isinstance(
                event, BatchChanged | ev.RunStarted | ev.RunFinished
            ):
                timeline([event])  # not the cells: a batch run may have 100,000
            if isinstance(event, BatchChanged):
                view.update_record(event.record)
                progress()
            elif isinstance(event, ev.CellFinished | ev.CellFailed | ev.CellCancelled):
                # Once per few frames, not per cell: an ingest ends thousands a second.
                now = time.monotonic()
                if now - last[0] >= PROGRESS_EVERY_S:
                    last[0] = now
                    progress()
            elif isinstance(event, ev.RunFinished):
                progress()

        run.subscribe(on_event)
