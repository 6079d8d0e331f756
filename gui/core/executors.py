"""The executor interface: what runs a spec's cells, as the session, CLI and history see it.

Two executors implement it: the live engine (:class:`gui.core.runner.Run`, one streamed
request per cell on this machine) and the batch executor (:class:`gui.core.batch.BatchRun`,
the cells sent as request files to a provider's Batch API and their results ingested when
the provider is done). Both report through the same plain events (``gui.core.events``), so
the grid, the history recorder, the exports and the checks need not know which one ran a
cell. A third (for example Ray Data's LLM processors against an OpenAI-compatible fleet) is
a class with the members of :class:`Executor` that emits the same events: no view changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Protocol

from gui.core import events as ev
from gui.core.metrics import RunSummary
from gui.core.spec import Cell, RunSpec

__all__ = ["Executor", "ExecutorKind"]


class ExecutorKind(StrEnum):
    """Which executor a run goes through."""

    LIVE = "live"  # the streaming engine (gui.core.runner.Run)
    BATCH = "batch"  # the provider's Batch API (gui.core.batch.BatchRun)


class Executor(Protocol):
    """One run of a spec, whatever executes it.

    Every cell ends with exactly one of ``CellFinished``, ``CellFailed`` or ``CellCancelled``
    and the run with ``RunFinished`` (an executor whose work outlives the process, like a
    batch, ends it in the process that sees the work done); ``RunStarted`` comes first.
    """

    @property
    def id(self) -> str:
        """The run's id (the history's key)."""

    @property
    def spec(self) -> RunSpec:
        """The plan being run."""

    @property
    def cells(self) -> Sequence[Cell]:
        """Every cell, row-major."""

    @property
    def summary(self) -> RunSummary | None:
        """How the run went, once it ended."""

    @property
    def finished(self) -> bool:
        """Whether the run has ended."""

    def subscribe(self, callback: Callable[[ev.Event], None]) -> Callable[[], None]:
        """Call ``callback(event)`` for every event from now on; returns an unsubscribe."""

    def start(self) -> asyncio.Task[RunSummary]:
        """Launch the run on the running loop."""

    async def wait(self) -> RunSummary:
        """Wait for the run to end (starting it if needed)."""

    def cancel(self, reason: str = ...) -> None:
        """Stop the run: cells that have not ended end ``cancelled``."""
