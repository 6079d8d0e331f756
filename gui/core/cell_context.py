"""Which engine cell the request being made right now is for, as a context variable.

The engine sets it before each attempt of a cell (:meth:`gui.core.runner.Run._attempt`);
a provider that answers per sample reads it (the simulated model draws a different answer
for each sample of a repeated cell, see ``gui.providers.simulated.sampling_draw``).
LangChain's streaming calls do not hand a model its run's metadata, so the config's
``fanout_cell`` cannot carry it there. Each cell runs in its own task and tasks copy the
context when created, so concurrent cells never see each other's id; a blocking call in a
worker thread gets a copy of the caller's context (:func:`gui.core.runner.run_in_daemon_thread`).
"""

from __future__ import annotations

from contextvars import ContextVar

from gui.core.spec import CellId

#: The text id (``r2m1s3``) of the cell whose request is being made, or ``None``.
REQUESTED_CELL: ContextVar[str | None] = ContextVar("fanout_requested_cell", default=None)

#: How many answers the same conversation already had when this request was made: a chat's
#: Regenerate asks the same messages again, and its n-th answer is drawn as sample n would be
#: (a real model at temperature > 0 answers a repeated request differently too).
ASKED_BEFORE: ContextVar[int] = ContextVar("fanout_asked_before", default=0)


def requested_sample() -> int:
    """The sample index of the cell being requested (0 outside the engine's requests), after
    the answers its conversation already had (:data:`ASKED_BEFORE`)."""
    before = ASKED_BEFORE.get()
    cell = REQUESTED_CELL.get()
    if cell is None:
        return before
    try:
        return CellId.parse(cell).sample + before
    except ValueError:
        return before
