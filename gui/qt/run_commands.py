"""What the user asks of the session from the window: run, compare, retry a cell, open, load or
run again a past run, run a demo, change limits live.

:class:`RunCommands` turns each request into a session command, or refuses it with one line
in the status bar a user can act on (a run is on, the template has a problem, the cell is
still running). A run pressed while the engine still warms up waits in the
:class:`~gui.qt.warmup.Warmup` gate and starts when the imports are done: importing on the
GUI thread, or waiting there for the worker's import lock, would freeze the window.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gui.compat.gc_policy import burst_without_collections
from gui.core.errors import SpecError
from gui.core.runner import Run
from gui.core.session import Busy, Session
from gui.core.spec import RunSpec
from gui.core.tasks import TaskOwner
from gui.qt.views.run_controls import RunControls
from gui.qt.views.run_editors import RunEditors
from gui.qt.warmup import Warmup, needs_openai

if TYPE_CHECKING:
    from gui.core.chat import Chat
    from gui.qt.batch_commands import BatchCommands
    from gui.resources import Preset
    from gui.storage.records import StoredRun

__all__ = ["RunCommands"]

_BUSY = "A run is in progress: cancel it or let it finish."


class RunCommands:
    """The window's requests to the session.

    Args:
        session: Who runs them.
        editors: What a run is made of.
        controls: Run's "Starting…" state and the "block the UI" demo switch.
        warmup: The engine's warm-up and its queued-run gate.
        tasks: The owner of the tasks started here (the window's).
        say: Shows one line in the status bar for so many ms.
        closing: Whether the window is closing (nothing starts then).
        queued_started: Called with a run that waited for the warm-up, once it started.
        batch: Submits runs whose executor is the Batch API (the toolbar's choice).
        started: Called with the spec of a run :meth:`start_run` started from the editors
            (the cost estimate counts it rather than building the plan again).
    """

    def __init__(
        self,
        session: Session,
        editors: RunEditors,
        controls: RunControls,
        warmup: Warmup,
        tasks: TaskOwner,
        say: Callable[[str, int], None],
        closing: Callable[[], bool],
        queued_started: Callable[[Run], None],
        batch: BatchCommands | None = None,
        started: Callable[[RunSpec], None] | None = None,
    ) -> None:
        self._session, self._editors, self._controls = session, editors, controls
        self._warmup, self._tasks = warmup, tasks
        self._say, self._closing, self._queued_started = say, closing, queued_started
        self._batch = batch
        self._started = started

    def start_run(self) -> Run | None:
        """Start the run the editors describe; ``None`` if it cannot start or waits (queued)."""
        with burst_without_collections():  # a big run's start allocates in one step
            spec = self._runnable_spec("run")
            if spec is None:
                return None
            if self._batch is not None and self._controls.executor == "batch":
                self._batch.submit(spec)  # its results land in the history, not this grid
                return None
            if self._warmup.must_wait(needs_openai(spec)):
                self._warmup.queue(lambda: self._start_when_ready(spec))
                return None
            run = self._start(spec)
            if run is not None and self._started is not None:
                self._started(spec)
            return run

    def start_comparison(self) -> asyncio.Task[Any] | None:
        """Run the current cells through every strategy, one after another, charting each."""
        spec = self._runnable_spec("compare")
        if spec is None:
            return None
        try:
            return self._session.compare(spec)
        except Busy as exc:
            self._say(str(exc), 8000)
            return None

    def show_past_run(self, stored: StoredRun) -> bool:
        """Show a run from the history read-only; ``False`` while a run is on."""
        try:
            self._session.open_past(stored)
        except Busy as exc:
            self._say(str(exc), 8000)
            return False
        return True

    def rerun(self, stored: StoredRun) -> bool:
        """Load a past run into the editors and run it; ``True`` if it started."""
        if self._session.running:
            self._say(_BUSY, 8000)
            return False
        if stored.spec.context is not None:
            # A chat message run over inputs: its threads are in no editor, so the editors
            # would run it without them. It runs again as it was.
            spec = stored.spec
            if self._warmup.must_wait(needs_openai(spec)):
                self._warmup.queue(lambda: self._start_when_ready(spec))
                return True
            return self._start(spec) is not None
        self._editors.load_spec(stored.spec)
        return self.start_run() is not None

    def load(self, stored: StoredRun) -> None:
        """Load a past run into the editors only: a run in progress goes on."""
        self._editors.load_spec(stored.spec)
        if stored.spec.context is not None:
            self._say(
                f"Loaded run {stored.id} into the editors without the chat threads it sent "
                "first (no editor holds them): Run sends the template alone; Run again "
                "in History keeps them.",
                12000,
            )
            return
        self._say(f"Loaded run {stored.id} into the editors: change what you like, then Run.", 8000)

    def load_preset(self, preset: Preset) -> None:
        """Fill every editor from a demo preset."""
        self._editors.load_preset(preset)
        self._say(f"Loaded demo: {preset.title}", 5000)

    def run_demo(self, preset: Preset) -> None:
        """Load a demo and run it (or compare, as the preset says) once the engine is ready."""
        if self._session.running or self._closing():
            self._say(_BUSY, 8000)
            return
        self.load_preset(preset)

        async def start() -> None:
            await self._warmup.settled()  # the backend imports off the GUI thread first
            if preset.compare:
                self.start_comparison()
            else:
                self.start_run()

        self._tasks.spawn(start(), "fanout-demo")

    def run_chat_message(self, chat: Chat, text: str) -> str | None:
        """Run ``text`` as a template over the Inputs table, one column per model of ``chat``,
        each column sending its chat thread (system message, earlier turns) before it.

        The editors are left as they are: the run is the chat's, not the Prompt's.

        Returns:
            ``None`` when it started (or waits for the engine's warm-up), else one line
            saying why not (a malformed template, a ``{variable}`` without a column, no
            inputs, a run already on).
        """
        from dataclasses import replace

        from gui.core.chat import run_context
        from gui.core.errors import TemplateError
        from gui.core.spec import make_spec
        from gui.core.templates import missing_column_message, template_variables

        if self._session.running or self._warmup.queued:
            return _BUSY
        if self._closing():
            return "The window is closing."
        try:
            variables = template_variables(text)
            columns, table = self._editors.inputs.table()
            missing = [v for v in variables if v not in columns]
            if missing:
                raise TemplateError(missing_column_message(missing[0], columns))
            at = [columns.index(v) for v in variables]
            rows = [
                values
                for values in (
                    {v: row[i].strip() for v, i in zip(variables, at, strict=True)} for row in table
                )
                if any(values.values())
            ]
            limits = self._editors.limits
            spec = make_spec(
                text, rows, [c.profile for c in chat.columns], limits.strategy(), limits.limits()
            )
            spec = replace(spec, context=run_context(chat))
            spec.validate()
        except (TemplateError, SpecError) as exc:
            return f"Cannot run over the inputs: {exc}"
        if self._warmup.must_wait(needs_openai(spec)):
            self._warmup.queue(lambda: self._start_when_ready(spec))
            return None
        try:
            self._session.start(spec, block_loop=self._controls.block_action.isChecked())
        except Busy as exc:
            return str(exc)
        return None

    def set_limits(self, changes: dict[str, Any]) -> None:
        """Apply changed limits to the run in progress (to cells not yet started)."""
        try:
            applied = self._session.set_limits(**changes)
        except SpecError as exc:
            self._say(str(exc), 8000)
            return
        if applied:
            pretty = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in changes.items())
            self._say(f"Applied live: {pretty} (cells not yet started)", 4000)

    def set_judge_limit(self, limit: int) -> None:
        """The judge's calls in flight, from the dock's judge lane: applied to the run in
        progress (calls not started yet) and kept on the Judge page for the next run."""
        judge = self._editors.judge
        if judge is not None:
            judge.max_in_flight.setValue(limit)  # the page emits judge_changed: saved
        try:
            applied = self._session.set_judge_limit(limit)
        except SpecError as exc:
            self._say(str(exc), 8000)
            return
        if applied:
            self._say(f"Applied live: judge calls in flight {limit} (calls not yet started)", 4000)

    def retry(self, cell_id: str) -> None:
        """Run one cell again with its column's current settings (a fix the user made), or
        with its own profile when the column is gone."""
        if self._closing():
            return
        model = self._editors.column_model(cell_id)
        limits = self._editors.limits.limits()
        try:
            retried = self._session.retry(cell_id, model=model, limits=limits)
        except Busy as exc:
            self._say(str(exc), 6000)
            return
        if retried is None:
            self._say("This cell is still running: cancel it first.", 6000)

    def _start(self, spec: RunSpec) -> Run | None:
        try:
            return self._session.start(spec, block_loop=self._controls.block_action.isChecked())
        except Busy as exc:
            self._say(str(exc), 8000)
            return None

    async def _start_when_ready(self, spec: RunSpec) -> None:
        self._controls.show_starting()
        try:
            await self._warmup.settled(openai=needs_openai(spec))
        finally:
            self._controls.end_starting(self._session.running)
        if self._closing() or self._session.running:
            return
        run = self._start(spec)
        if run is not None:
            self._queued_started(run)

    def _runnable_spec(self, verb: str) -> RunSpec | None:
        """The spec to start now, or ``None`` with the reason shown inline and in the status bar."""
        if self._session.running or self._closing() or self._warmup.queued:
            return None
        spec = self._editors.checked_spec()
        if isinstance(spec, str):
            self._say(f"Cannot {verb}: {spec}", 8000)
            return None
        return spec
