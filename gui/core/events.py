"""Every event the engine emits, as frozen dataclasses in one module.

Subscribers receive them synchronously on the event loop's thread, in order per cell:
``CellQueued -> (CellStarted -> [FirstToken -> TextChunk*] -> CellRetrying?)* ->
CellFinished | CellFailed | CellCancelled`` (a done cell of a run with checks then gets
``CellChecked``), bracketed by ``RunStarted`` and ``RunFinished``.
A run with a judge also emits ``JudgeQueued -> JudgeStarted* -> JudgeEnded`` per judge call,
after the cells it judges ended and before ``RunFinished``.
Times ``t`` are seconds since the run started (monotonic clock).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

from gui.core.checks import CheckResult
from gui.core.costs import CallCost
from gui.core.errors import ErrorKind
from gui.core.judging import JudgeVerdict, PairwiseResult
from gui.core.metrics import CellMetrics, RunSummary
from gui.core.spec import Cell, RunSpec


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every engine event.

    Attributes:
        run_id: The run this event belongs to.
        t: Seconds since the run started.
    """

    run_id: str
    t: float


@dataclass(frozen=True, slots=True)
class CellEvent(Event):
    """An event about one cell."""

    cell_id: str


@dataclass(frozen=True, slots=True)
class RunStarted(Event):
    """The run was accepted; ``cells`` lists every cell in grid order.

    ``executor`` names what runs it (``live`` or ``batch``, see
    :class:`gui.core.executors.ExecutorKind`): a batch run has no strategy of its own, so the
    history, ``show`` and exports name it by its executor instead.
    """

    spec: RunSpec
    cells: Sequence[Cell]
    started_at: float  # wall-clock epoch seconds, for history and exports
    executor: str = "live"


@dataclass(frozen=True, slots=True)
class CellQueued(CellEvent):
    """The cell is waiting for its turn (strategy order, limiter, rate limiter)."""


@dataclass(frozen=True, slots=True)
class CellStarted(CellEvent):
    """The cell left the limiter and the rate limiter: its request goes out now.

    Attributes:
        attempt: 1 for the first try, 2 for the first retry, ...
        waited: Seconds this attempt spent in the limiter and rate limiter.
    """

    attempt: int
    waited: float


@dataclass(frozen=True, slots=True)
class FirstToken(CellEvent):
    """The first text of a streamed answer arrived, ``ttft`` seconds after the start."""

    ttft: float


@dataclass(frozen=True, slots=True)
class TextChunk(CellEvent):
    """More answer text (one streamed chunk, or the whole answer for non-streaming calls)."""

    text: str


def _text_chunk_builder() -> Callable[[str, float, str, str], TextChunk]:
    """``TextChunk``'s constructor for the engine's per-chunk path (see :data:`text_chunk`)."""
    names = [f.name for f in fields(TextChunk)]
    assert names == ["run_id", "t", "cell_id", "text"], names  # a new field: build it here too
    new = object.__new__
    set_run_id = Event.__dict__["run_id"].__set__
    set_t = Event.__dict__["t"].__set__
    set_cell_id = CellEvent.__dict__["cell_id"].__set__
    set_text = TextChunk.__dict__["text"].__set__

    def build(run_id: str, t: float, cell_id: str, text: str) -> TextChunk:
        event: TextChunk = new(TextChunk)
        set_run_id(event, run_id)
        set_t(event, t)
        set_cell_id(event, cell_id)
        set_text(event, text)
        return event

    return build


#: ``TextChunk(run_id, t, cell_id, text)``, the same frozen event, for the one place that makes
#: one per streamed token (``Run._stream``): it fills the slots directly, where a frozen
#: dataclass's ``__init__`` goes through ``object.__setattr__`` for each field, about twice
#: the cost per token.
text_chunk = _text_chunk_builder()


@dataclass(frozen=True, slots=True)
class CellRetrying(CellEvent):
    """An attempt failed with a retryable error; the next starts after ``delay`` seconds.

    Attributes:
        attempt: The attempt that comes next (2 = first retry).
        max_attempts: Total attempts allowed (retries + 1).
        delay: Back-off before the next attempt (``Retry-After`` when the server sent one).
        kind: Kind of the error that caused the retry.
        reason: One-line message of that error.
    """

    attempt: int
    max_attempts: int
    delay: float
    kind: ErrorKind
    reason: str


@dataclass(frozen=True, slots=True)
class CellFinished(CellEvent):
    """The cell succeeded with ``text``."""

    text: str
    metrics: CellMetrics


@dataclass(frozen=True, slots=True)
class CellFailed(CellEvent):
    """The cell failed for good; ``partial_text`` keeps whatever had arrived."""

    kind: ErrorKind
    message: str
    partial_text: str
    metrics: CellMetrics


@dataclass(frozen=True, slots=True)
class CellCancelled(CellEvent):
    """The cell was cancelled (by the user, by fail-fast, or at shutdown); text is kept."""

    reason: str
    partial_text: str
    metrics: CellMetrics


@dataclass(frozen=True, slots=True)
class CellChecked(CellEvent):
    """The run's checks were evaluated on a done cell's answer (after its ``CellFinished``,
    before ``RunFinished``); failed and cancelled cells get none.

    Attributes:
        results: One result per check of the run, in the spec's order.
    """

    results: tuple[CheckResult, ...]


@dataclass(frozen=True, slots=True)
class RunFinished(Event):
    """Every cell has ended; ``summary`` adds up to the number of cells."""

    summary: RunSummary


# ------------------------------------------------------------------ the judge lane


@dataclass(frozen=True, slots=True)
class JudgeEvent(Event):
    """An event of one judge call (the run's second lane, see ``gui.core.judge_lane``).

    Attributes:
        key: The call's id: the judged cell's id, or ``"<first>~<second>"`` for a pairwise
            comparison (the answer shown first, then the one shown second).
    """

    key: str


@dataclass(frozen=True, slots=True)
class JudgeQueued(JudgeEvent):
    """A judge call waits for the judge's limiter and rate limiter."""


@dataclass(frozen=True, slots=True)
class JudgeStarted(JudgeEvent):
    """A judge call's request went out (``attempt`` 2 is the first retry)."""

    attempt: int


@dataclass(frozen=True, slots=True)
class JudgeEnded(JudgeEvent):
    """A judge call ended: a verdict (single mode) or a comparison (pairwise), maybe failed.

    Attributes:
        verdict: The cell's verdict in single mode, else ``None``.
        pair: The comparison in pairwise mode, else ``None``.
        cancelled: The call was cancelled with the run (neither is set then).
        cost: The call's tokens and cost when a reply came (even an unreadable one: it was
            paid for), else ``None``.
    """

    verdict: JudgeVerdict | None = None
    pair: PairwiseResult | None = None
    cancelled: bool = False
    cost: CallCost | None = None


#: Events after which a cell never changes again.
TERMINAL = (CellFinished, CellFailed, CellCancelled)
