"""The timeline's state machine: engine events in, one row of time segments per cell out.

Qt-free, so the rules that turn a cell's events into bars (queued -> waiting, started ->
request, first token -> streaming, retry -> back-off then waiting again, an end cap) are
tested on plain Python; :class:`gui.qt.widgets.timeline.TimelineWidget` only paints a
:class:`TimelineModel` and maps pixels to seconds.

A done cell's check results (``CellChecked``) are a mark on its row, kept apart from the
segments (:attr:`Row.checks`): it carries the results its colour and tooltip are made of.

Times are seconds since the first run's start. A later run for the same cells (a one-cell
retry) is placed at its real start, from ``RunStarted.started_at``, or at "now" when its
``RunStarted`` was not seen; its attempts continue the existing row after the old segments.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from gui.core import events as ev
from gui.core.batch import BatchChanged, BatchState
from gui.core.checks import CheckResult, pass_rate
from gui.core.metrics import CellMetrics
from gui.core.release import release_later

WAITING = "waiting"
REQUEST = "request"
STREAMING = "streaming"
BACKOFF = "backoff"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"
#: The LLM judge's calls about a cell (issue 13), after its end cap on the cell's own row
#: (a pairwise comparison gets a row of its own): waiting in the judge's lane, then judging.
JUDGE_WAIT = "judge_wait"
JUDGE = "judge"
JUDGE_KINDS: tuple[str, ...] = (JUDGE_WAIT, JUDGE)
#: The mark of a done cell's check results (issue 13): a :class:`CheckMark`, not a segment.
CHECKED = "checked"

#: A batch of a batch run (issue 16): a row per request file, its provider's states as spans
#: (validating; running at the provider, finalizing or cancelling included; its results
#: being read into the history), then an end cap (done, failed, cancelled).
BATCH_QUEUED = "batch_queued"
BATCH_RUNNING = "batch_running"
BATCH_INGEST = "batch_ingest"
BATCH_KINDS: tuple[str, ...] = (BATCH_QUEUED, BATCH_RUNNING, BATCH_INGEST)
#: Legend text of the batch kinds (shown where batches are: tooltips).
BATCH_LEGEND: dict[str, str] = {
    BATCH_QUEUED: "batch validating",
    BATCH_RUNNING: "batch running at the provider",
    BATCH_INGEST: "batch results being read",
}

#: Kinds that span time, in the order a cell goes through them (its judge's last).
SPAN_KINDS: tuple[str, ...] = (WAITING, REQUEST, STREAMING, BACKOFF, *JUDGE_KINDS)
#: Kinds of the zero-length end marker (``start == end``).
END_KINDS: tuple[str, ...] = (DONE, FAILED, CANCELLED)

#: Legend text per kind, in legend order.
LEGEND: dict[str, str] = {
    WAITING: "waiting for a slot",
    REQUEST: "waiting for first token / response",
    STREAMING: "streaming",
    BACKOFF: "retry back-off",
    DONE: "done",
    FAILED: "failed",
    CANCELLED: "cancelled",
    JUDGE_WAIT: "judge queued",
    JUDGE: "judging",
    CHECKED: "checks (pass / fail)",
}


@dataclass(slots=True)
class Segment:
    """One stretch of a cell's bar.

    Attributes:
        kind: One of the kinds above.
        start: Seconds on the shared axis.
        end: ``None`` while open (drawn up to "now"); equal to ``start`` for an end cap.
    """

    kind: str
    start: float
    end: float | None = None


@dataclass(frozen=True, slots=True)
class CheckMark:
    """The check results of one done cell, drawn as a mark on its row where they came.

    Attributes:
        t: Seconds on the shared axis (the ``CellChecked``, just after the end cap).
        results: One result per check of the run.
    """

    t: float
    results: tuple[CheckResult, ...]

    @property
    def rate(self) -> float | None:
        """The weighted pass rate (0..1), ``None`` without a check."""
        return pass_rate(self.results)

    @property
    def passed(self) -> int:
        """How many checks passed."""
        return sum(1 for r in self.results if r.passed)


@dataclass(slots=True)
class Row:
    """One cell's bar and what the tooltip tells about it.

    Attributes:
        cell_id: The cell.
        label: Its row label.
        segments: Its segments in order, across every run of the cell.
        state: ``""`` before the first event, else the current kind.
        ended: No chain in progress (before the first ``CellQueued``, or after the end).
        chain_start: Index of the first segment of the current run of this cell.
        chains: How many runs this row has seen (a retry run adds one).
        run_id: The current run.
        offset: The current run's start on the shared axis.
        queued_at: When the current chain was queued.
        attempt: The current attempt (1 for the first).
        metrics: The ended cell's metrics.
        message: Failure message, cancel reason or the last retry's reason.
        checks: The check marks of every run of this cell, in order (a retry checks again).
    """

    cell_id: str
    label: str
    segments: list[Segment] = field(default_factory=list)
    state: str = ""
    ended: bool = True
    chain_start: int = 0
    chains: int = 0
    run_id: str = ""
    offset: float = 0.0
    queued_at: float | None = None
    attempt: int = 0
    metrics: CellMetrics | None = None
    message: str = ""
    checks: list[CheckMark] = field(default_factory=list)


class TimelineModel:
    """Rows of segments built from engine events, and the clock open segments reach."""

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self._index: dict[str, int] = {}
        self.now = 0.0  # last set_now()
        self.data_end = 0.0  # latest event time seen
        self.live = True  # open segments follow the clock; False after finish()
        self._offsets: dict[str, float] = {}  # run id -> its start on the shared axis
        self._base_epoch: float | None = None  # wall clock of the first run's start
        self._open_runs: set[str] = set()
        # Exact-type dispatch: one dict lookup per event (events are final dataclasses).
        self._handlers: dict[type, Callable[[Any], None]] = {
            ev.RunStarted: self._apply_run_started,
            ev.CellQueued: self._apply_queued,
            ev.CellStarted: self._apply_started,
            ev.FirstToken: self._apply_first_token,
            ev.CellRetrying: self._apply_retrying,
            ev.CellFinished: self._apply_finished,
            ev.CellFailed: self._apply_failed,
            ev.CellCancelled: self._apply_cancelled,
            ev.CellChecked: self._apply_checked,
            ev.RunFinished: self._apply_run_finished,
            ev.JudgeQueued: self._apply_judge_queued,
            ev.JudgeStarted: self._apply_judge_started,
            ev.JudgeEnded: self._apply_judge_ended,
            BatchChanged: self._apply_batch_changed,
        }

    # ------------------------------------------------------------------------ feeding

    def reset(self) -> None:
        """Forget every row, run and time.

        The old rows and their index are freed a slice per loop iteration (the last run's
        20,000 rows were ~12 ms of deallocation inside the next Run press).
        """
        release_later(self.rows, self._index)
        self.rows = []
        self._index = {}
        self.now = 0.0
        self.data_end = 0.0
        self.live = True
        self._offsets.clear()
        self._base_epoch = None
        self._open_runs.clear()

    def set_label(self, cell_id: str, label: str) -> Row:
        """The row of ``cell_id`` (appended if new) with its label set."""
        row = self.row(cell_id)
        row.label = label
        return row

    def apply(self, events: Iterable[ev.Event]) -> bool:
        """Apply events (others than the cell and run events are ignored); whether any was."""
        handlers = self._handlers
        changed = False
        for event in events:
            handler = handlers.get(type(event))
            if handler is not None:
                handler(event)
                changed = True
        return changed

    def set_now(self, t: float) -> bool:
        """Move "now" forward while live; whether it moved."""
        if not self.live or t <= self.now:
            return False
        self.now = t
        return True

    def finish(self) -> None:
        """Freeze the clock: open segments stop growing."""
        self.live = False

    # ------------------------------------------------------------------------ queries

    def row(self, cell_id: str) -> Row:
        """The row of ``cell_id``, appended (labelled with its id) if not there yet."""
        index = self._index.get(cell_id)
        if index is not None:
            return self.rows[index]
        row = Row(cell_id, cell_id)
        self._index[cell_id] = len(self.rows)
        self.rows.append(row)
        return row

    def index_of(self, cell_id: str) -> int | None:
        """Row index of ``cell_id``, ``None`` if unknown."""
        return self._index.get(cell_id)

    def segments(self, cell_id: str) -> list[tuple[str, float, float | None]]:
        """``(kind, start, end)`` of a row in order; ``end`` is ``None`` while open.

        End states are zero-length segments (``("done", t, t)``). Unknown ids give ``[]``.
        """
        index = self._index.get(cell_id)
        if index is None:
            return []
        return [(s.kind, s.start, s.end) for s in self.rows[index].segments]

    @staticmethod
    def current_checks(row: Row) -> CheckMark | None:
        """The check mark of the row's current run of its cell, ``None`` before it came
        (an earlier run's mark stays drawn, but says nothing of this run)."""
        if not row.checks:
            return None
        mark = row.checks[-1]
        if row.queued_at is not None and mark.t < row.queued_at:
            return None
        return mark

    def clock(self) -> float:
        """Where open segments end: the later of :meth:`set_now` and the last event."""
        return max(self.now, self.data_end)

    def state_text(self, row: Row) -> str:
        """The row's state in words, attempt included."""
        state = row.state
        if not state:
            return "not queued yet"
        attempt = f" (attempt {row.attempt})" if row.attempt > 1 else ""
        if state == WAITING:
            return f"waiting for a slot{attempt}"
        if state == REQUEST:
            return f"request sent, no text yet{attempt}"
        if state == STREAMING:
            return f"streaming{attempt}"
        if state == BACKOFF:
            return f"backing off before attempt {row.attempt + 1}"
        return BATCH_LEGEND.get(state, state)

    @staticmethod
    def segment_at(row: Row, t: float) -> Segment | None:
        """The span segment of ``row`` at time ``t`` (the later one at a shared boundary)."""
        found: Segment | None = None
        for segment in row.segments:
            if segment.kind in END_KINDS:
                continue
            end = segment.end if segment.end is not None else math.inf
            if segment.start <= t <= end:
                found = segment
        return found

    @staticmethod
    def describe(row: Row, segment: Segment) -> str:
        """What ``segment`` of ``row`` was, in words (a request knows if text followed)."""
        if segment.kind != REQUEST:
            return LEGEND.get(segment.kind) or BATCH_LEGEND.get(segment.kind, segment.kind)
        index = row.segments.index(segment)
        following = row.segments[index + 1] if index + 1 < len(row.segments) else None
        if following is not None and following.kind == STREAMING:
            return "waiting for first token"
        if segment.end is None:
            return "request sent, no text yet"
        return "waiting for response"

    def live_facts(self, row: Row) -> dict[str, float | int]:
        """What is known of a chain still in flight, from its segments (seconds, counts):
        ``queued_at``, ``waited``, and when known ``ttft``, ``running_for``, ``retries``."""
        clock = self.clock()
        chain = row.segments[row.chain_start :]
        assert row.queued_at is not None
        facts: dict[str, float | int] = {"queued_at": row.queued_at}
        waited = sum(
            min(s.end if s.end is not None else clock, clock) - s.start
            for s in chain
            if s.kind == WAITING and s.start <= clock
        )
        facts["waited"] = max(waited, 0.0)
        requests = [i for i, s in enumerate(chain) if s.kind == REQUEST]
        if requests:
            request = chain[requests[-1]]
            following = chain[requests[-1] + 1] if requests[-1] + 1 < len(chain) else None
            if following is not None and following.kind == STREAMING:
                facts["ttft"] = following.start - request.start
            if not row.ended and row.state in (REQUEST, STREAMING):
                facts["running_for"] = max(clock - request.start, 0.0)
        if row.attempt > 1:
            facts["retries"] = row.attempt - 1
        return facts

    # -------------------------------------------------------------------- event rules

    def _offset_for(self, run_id: str) -> float:
        offset = self._offsets.get(run_id)
        if offset is None:
            # The first run defines time zero; a later one whose RunStarted we did not see
            # (so whose wall-clock start is unknown) starts now.
            offset = self.clock() if self._offsets else 0.0
            self._offsets[run_id] = offset
            self._open_runs.add(run_id)
        return offset

    def _at(self, event: ev.Event) -> float:
        t = event.t + self._offset_for(event.run_id)
        if t > self.data_end:
            self.data_end = t
        return t

    def _begin_chain(self, row: Row, run_id: str, t: float) -> None:
        row.ended = False
        row.chain_start = len(row.segments)
        row.chains += 1
        row.run_id = run_id
        row.offset = self._offsets.get(run_id, 0.0)
        row.queued_at = t
        row.attempt = 0
        row.metrics = None
        row.message = ""

    @staticmethod
    def _close_open(row: Row, t: float) -> None:
        """End the current chain's open segments at ``t``; drop planned ones never reached
        (the wait after a back-off that was cut short)."""
        segments = row.segments
        while (
            len(segments) > row.chain_start
            and segments[-1].start > t
            and segments[-1].kind not in END_KINDS
        ):
            segments.pop()
        for segment in reversed(segments[row.chain_start :]):
            if segment.end is not None and segment.end <= t:
                break
            segment.end = max(t, segment.start)

    def _apply_run_started(self, event: ev.RunStarted) -> None:
        self.live = True
        if event.run_id in self._offsets:
            return
        if not self._offsets:
            offset = 0.0
            self._base_epoch = event.started_at
        elif self._base_epoch is not None:
            offset = max(event.started_at - self._base_epoch, 0.0)
        else:
            offset = self.clock()
        self._offsets[event.run_id] = offset
        self._open_runs.add(event.run_id)

    def _apply_queued(self, event: ev.CellQueued) -> None:
        row = self.row(event.cell_id)
        t = self._at(event)
        self.live = True
        if not row.ended:
            return  # already queued or in flight
        self._begin_chain(row, event.run_id, t)
        row.segments.append(Segment(WAITING, t))
        row.state = WAITING

    def _apply_started(self, event: ev.CellStarted) -> None:
        row = self.row(event.cell_id)
        t = self._at(event)
        self.live = True
        segments = row.segments
        if row.ended:  # no CellQueued seen for this run: its wait is known from `waited`
            self._begin_chain(row, event.run_id, t - event.waited)
            if event.waited > 0:
                segments.append(Segment(WAITING, t - event.waited, t))
        else:
            last = segments[-1]
            before = segments[-2] if len(segments) - row.chain_start >= 2 else None
            if (
                last.kind == WAITING
                and last.end is None
                and before is not None
                and before.kind == BACKOFF
            ):
                # Back-off, then the limiter: `waited` says where one turned into the other.
                boundary = min(max(t - event.waited, before.start), t)
                before.end = boundary
                if boundary < t:
                    last.start, last.end = boundary, t
                else:
                    segments.pop()
            else:
                self._close_open(row, t)
        segments.append(Segment(REQUEST, t))
        row.state = REQUEST
        row.attempt = event.attempt

    def _apply_first_token(self, event: ev.FirstToken) -> None:
        row = self.row(event.cell_id)
        t = self._at(event)
        if row.ended:
            return
        self.live = True
        self._close_open(row, t)
        row.segments.append(Segment(STREAMING, t))
        row.state = STREAMING

    def _apply_retrying(self, event: ev.CellRetrying) -> None:
        row = self.row(event.cell_id)
        t = self._at(event)
        if row.ended:
            return
        self.live = True
        self._close_open(row, t)
        resume = t + max(event.delay, 0.0)
        row.segments.append(Segment(BACKOFF, t, resume))
        row.segments.append(Segment(WAITING, resume))  # drawn once the clock passes `resume`
        row.state = BACKOFF
        row.attempt = event.attempt - 1
        row.message = event.reason

    def _apply_end(
        self, event: ev.CellEvent, kind: str, metrics: CellMetrics, message: str
    ) -> None:
        row = self.row(event.cell_id)
        t = self._at(event)
        if row.ended and row.segments:
            return  # ended already (a duplicate)
        if row.ended:
            self._begin_chain(row, event.run_id, t)
        self._close_open(row, t)
        row.segments.append(Segment(kind, t, t))
        row.ended = True
        row.state = kind
        row.metrics = metrics
        row.message = message

    def _apply_finished(self, event: ev.CellFinished) -> None:
        self._apply_end(event, DONE, event.metrics, "")

    def _apply_failed(self, event: ev.CellFailed) -> None:
        self._apply_end(event, FAILED, event.metrics, event.message)

    def _apply_cancelled(self, event: ev.CellCancelled) -> None:
        self._apply_end(event, CANCELLED, event.metrics, event.reason)

    def _apply_checked(self, event: ev.CellChecked) -> None:
        row = self.row(event.cell_id)
        row.checks.append(CheckMark(self._at(event), tuple(event.results)))

    # The judge lane: its segments follow the judged cell's end cap on the same row; they
    # never touch the cell's own chain (its state, attempt and message stay the cell's).

    def _judge_row(self, key: str) -> Row:
        fresh = key not in self._index
        row = self.row(key)
        if fresh and "~" in key:  # a pairwise comparison: a row of its own
            first, second = key.split("~", 1)
            row.label = f"judge: {first} vs {second}"
        return row

    @staticmethod
    def _close_judge(row: Row, t: float) -> None:
        for segment in reversed(row.segments):
            if segment.kind in JUDGE_KINDS and segment.end is None:
                segment.end = max(t, segment.start)

    def _apply_judge_queued(self, event: ev.JudgeQueued) -> None:
        row = self._judge_row(event.key)
        t = self._at(event)
        self._close_judge(row, t)
        row.segments.append(Segment(JUDGE_WAIT, t))

    def _apply_judge_started(self, event: ev.JudgeStarted) -> None:
        row = self._judge_row(event.key)
        t = self._at(event)
        self._close_judge(row, t)
        row.segments.append(Segment(JUDGE, t))

    def _apply_judge_ended(self, event: ev.JudgeEnded) -> None:
        row = self._judge_row(event.key)
        self._close_judge(row, self._at(event))

    def _apply_batch_changed(self, event: BatchChanged) -> None:
        """A batch's row: a span per provider state, an end cap once its results are in."""
        record = event.record
        key = f"batch:{record.run_id}:{record.file_index}"
        fresh = key not in self._index
        row = self.row(key)
        t = self._at(event)
        self.live = True
        if fresh:
            last = record.first_row + record.rows
            row.label = f"batch {record.file_index + 1}: column {record.col + 1}, rows {record.first_row + 1}-{last}"
            self._begin_chain(row, event.run_id, t)
        if row.ended:
            return
        done = record.completed + record.failed
        row.message = f"{record.state}: {done:,} of {record.total or record.rows:,} requests run"
        if not record.open:
            end = {
                BatchState.COMPLETED: DONE,
                BatchState.CANCELLED: CANCELLED,
            }.get(record.state, FAILED)
            self._close_open(row, t)
            row.segments.append(Segment(end, t, t))
            row.ended = True
            row.state = end
            return
        if record.state.terminal:
            kind = BATCH_INGEST
        elif record.state is BatchState.VALIDATING:
            kind = BATCH_QUEUED
        else:
            kind = BATCH_RUNNING
        if row.state != kind:
            self._close_open(row, t)
            row.segments.append(Segment(kind, t))
            row.state = kind

    def _apply_run_finished(self, event: ev.RunFinished) -> None:
        t = self._at(event)
        for row in self.rows:
            if row.run_id == event.run_id and not row.ended:
                self._close_open(row, t)
        self._open_runs.discard(event.run_id)
        if not self._open_runs:
            self.live = False
