"""What a stored run's status says to a user: one word or phrase, shared by the History tab and the CLI.

The history stores how a run *ended* (``finished``, ``cancelled`` by the user, ``interrupted``
because the app stopped, or still ``running``). A run that ended on its own with 7 of 16
cells failed also "finished", and showing that in green told the user all was well; the
outcome tells the two apart:

==========================  =====================================================
``finished``                every cell done
``finished with failures``  it ran to its end, and at least one cell failed
``finished, some cancelled`` it ran to its end, some cells were cancelled one by one
``cancelled``               the user stopped the whole run
``interrupted``             the app ended while it ran
``running``                 still being recorded
``submitted``               a batch run with the provider, results not in yet
==========================  =====================================================
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["FINISHED_WITH_FAILURES", "OUTCOMES", "SOME_CANCELLED", "outcome", "outcome_phase"]

FINISHED_WITH_FAILURES = "finished with failures"
SOME_CANCELLED = "finished, some cancelled"

#: Every outcome, in the order a legend lists them.
OUTCOMES = (
    "finished",
    FINISHED_WITH_FAILURES,
    SOME_CANCELLED,
    "cancelled",
    "interrupted",
    "running",
    "submitted",
)

#: The cell phase whose colour an outcome borrows (green, amber, grey, red, blue).
_PHASES = {
    "finished": "done",
    FINISHED_WITH_FAILURES: "retrying",
    SOME_CANCELLED: "cancelled",
    "cancelled": "cancelled",
    "interrupted": "failed",
    "running": "streaming",
    "submitted": "running",
}


class _Counted(Protocol):
    """A stored run as far as its outcome goes (``RunRecord`` and ``StoredRun`` both are)."""

    @property
    def status(self) -> str: ...

    @property
    def failed(self) -> int: ...

    @property
    def cancelled(self) -> int: ...


def outcome(run: _Counted) -> str:
    """The run's outcome (see the module docstring); unknown statuses pass through."""
    if run.status != "finished":
        return run.status
    if run.failed:
        return FINISHED_WITH_FAILURES
    if run.cancelled:
        return SOME_CANCELLED
    return "finished"


def outcome_phase(text: str) -> str:
    """The cell phase whose colour shows the outcome ``text`` (``queued`` when unknown)."""
    return _PHASES.get(text, "queued")
