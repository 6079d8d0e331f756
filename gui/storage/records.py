"""What the history hands out: a stored run's record, its cells, and the statuses they end in.

Plain frozen dataclasses (JSON-ready through ``to_dict``), shared by the history, exports, the
CLI and the History tab, so none of them needs the database module to read a run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from gui.core.checks import CheckResult
from gui.core.judging import JudgeVerdict, ModelRank, PairwiseResult, rank
from gui.core.metrics import CellMetrics
from gui.core.ratings import Rating
from gui.core.spec import RunSpec, spec_to_dict

RUNNING: Final = "running"
FINISHED: Final = "finished"
CANCELLED: Final = "cancelled"
INTERRUPTED: Final = "interrupted"
#: A batch run (issue 16) whose batches are with the provider: no process need be running.
SUBMITTED: Final = "submitted"
#: Run statuses: recording, ended, stopped by the user, the app ended while it ran, or
#: sent to a provider's Batch API and not ingested yet.
RUN_STATUSES = (RUNNING, FINISHED, CANCELLED, INTERRUPTED, SUBMITTED)
#: Cell statuses (only cells that ended are stored).
CELL_STATUSES = ("done", "failed", "cancelled")


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One run as the history list shows it.

    Attributes:
        id: The run's id (:attr:`gui.core.runner.Run.id`).
        created_at: Wall-clock epoch seconds when the run started.
        finished_at: Epoch seconds when it ended (for an interrupted run: its last cell's
            end), or ``None`` while running.
        status: ``running``, ``finished``, ``cancelled`` (the user stopped it) or
            ``interrupted`` (the app ended while it ran).
        template: The prompt template.
        strategy: Strategy name.
        models: Column titles (model display names), in column order.
        total: Number of cells.
        done: Cells that succeeded.
        failed: Cells that failed.
        cancelled: Cells that were cancelled.
        wall: Seconds from start to the last cell's end, or ``None`` if it never ended.
        label: Free label, e.g. ``comparison: gather``, or ``None``.
    """

    id: str
    created_at: float
    finished_at: float | None
    status: str
    template: str
    strategy: str
    models: tuple[str, ...]
    total: int
    done: int
    failed: int
    cancelled: int
    wall: float | None
    label: str | None

    def counts_text(self) -> str:
        """``3/4 done, 1 failed`` (failed and cancelled only when there are any)."""
        parts = [f"{self.done}/{self.total} done"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.cancelled:
            parts.append(f"{self.cancelled} cancelled")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        out = {name: getattr(self, name) for name in RunRecord.__dataclass_fields__}
        out["models"] = list(self.models)
        return out


@dataclass(frozen=True, slots=True)
class StoredCell:
    """One cell of a stored run, as it ended.

    Attributes:
        cell_id: Id within the run (``CellId`` text: ``r{row}m{col}``, ``r{row}m{col}s{k}``
            for a later sample).
        row: Input row index (0-based).
        col: Column index (0-based): a model, or a variant x model x parameter values.
        inputs: The row's variable values.
        model: The column's title (the model's display name, ``model · t=0.7`` in a sweep).
        status: ``done``, ``failed`` or ``cancelled``.
        text: The answer (the partial text for failed and cancelled cells).
        error_kind: Error kind (``cancelled`` for cancelled cells), ``None`` when done or
            unknown (cells migrated from schema 1).
        error: One-line error message, or the cancel reason; ``None`` when done.
        metrics: Timings and tokens, or ``None`` if none were recorded.
        ended_at: Wall-clock epoch seconds when the cell ended.
        notice: One line about the stored text (e.g. invalid characters were replaced), or
            ``None``.
        checks: The run's check results on this cell's answer (``()`` when the run had no
            checks or the cell did not succeed).
        judge: The LLM judge's verdict on the cell, or ``None`` if it was not judged.
        rating: The user's rating of the answer (thumb, stars, best in row, blind), or
            ``None``.
    """

    cell_id: str
    row: int
    col: int
    inputs: Mapping[str, str]
    model: str
    status: str
    text: str
    error_kind: str | None
    error: str | None
    metrics: CellMetrics | None
    ended_at: float | None
    notice: str | None = None
    checks: tuple[CheckResult, ...] = ()
    judge: JudgeVerdict | None = None
    rating: Rating | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return {
            "cell_id": self.cell_id,
            "row": self.row,
            "col": self.col,
            "inputs": dict(self.inputs),
            "model": self.model,
            "status": self.status,
            "text": self.text,
            "error_kind": self.error_kind,
            "error": self.error,
            "metrics": asdict(self.metrics) if self.metrics is not None else None,
            "ended_at": self.ended_at,
            "notice": self.notice,
            "checks": [r.to_dict() for r in self.checks],
            "judge": None if self.judge is None else self.judge.to_dict(),
            "rating": self.rating.to_dict() if self.rating is not None else None,
        }


@dataclass(frozen=True, slots=True)
class StoredRun(RunRecord):
    """A whole stored run: the record, the plan and every cell that ended.

    Attributes:
        spec: The run's plan (template, system message, rows, models, strategy, limits).
        cells: Cells that ended, in grid order (row, then column). An interrupted run may
            miss some: compare with ``spec.cells()``.
        summary: ``failures_by_kind``, ``peak_in_flight``, ``cancelled_by_user`` when the run
            ended (empty for runs recorded by schema 1 or still running).
        pairwise: The LLM judge's pairwise comparisons (pairwise mode), in the order made.
    """

    spec: RunSpec
    cells: tuple[StoredCell, ...]
    summary: Mapping[str, Any] = field(default_factory=dict)
    pairwise: tuple[PairwiseResult, ...] = ()

    @property
    def record(self) -> RunRecord:
        """Just the list-view part."""
        return RunRecord(**{name: getattr(self, name) for name in RunRecord.__dataclass_fields__})

    def cell(self, cell_id: str) -> StoredCell | None:
        """The stored cell with ``cell_id``, or ``None``."""
        return next((c for c in self.cells if c.cell_id == cell_id), None)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: the record, ``summary``, ``spec`` and ``cells``."""
        out = RunRecord.to_dict(self)
        out["summary"] = dict(self.summary)
        out["spec"] = spec_to_dict(self.spec)
        out["cells"] = [c.to_dict() for c in self.cells]
        _add_judging(self, out)
        return out

    def ranking(self) -> list[ModelRank]:
        """The models ranked over the judge's pairwise comparisons (empty without any)."""
        if not self.pairwise:
            return []
        return rank(self.pairwise, self.spec.headers or self.models)


def _add_judging(run: StoredRun, out: dict[str, Any]) -> None:
    """The judge's pairwise comparisons and ranking, in a run's plain data (issue 13)."""
    if run.pairwise:
        out["pairwise"] = [p.to_dict() for p in run.pairwise]
        out["ranking"] = [r.to_dict() for r in run.ranking()]


_METRIC_DEFAULTS: dict[str, Any] = {
    "queued_at": 0.0,
    "started_at": None,
    "first_token_at": None,
    "ended_at": 0.0,
    "waited": 0.0,
    "ttft": None,
    "latency": None,
    "output_tokens": 0,
    "tokens_estimated": False,
    "tokens_per_second": None,
    "retries": 0,
    "finish_reason": None,
    "note": None,
    "input_tokens": 0,
    "input_estimated": False,
    "cost_usd": None,
    "batch": False,
}
# Issue 15's response cache and structured output (gui.core.caching, gui.core.structured).
_METRIC_DEFAULTS.update(
    {
        "cached": False,
        "original_latency": None,
        "original_ttft": None,
        "schema_valid": None,
        "schema_error": None,
    }
)


def metrics_from_dict(data: Mapping[str, Any] | None) -> CellMetrics | None:
    """The metrics ``dataclasses.asdict(CellMetrics)`` wrote; missing fields get defaults."""
    if not isinstance(data, Mapping):
        return None
    known = {k: data[k] for k in _METRIC_DEFAULTS if k in data}
    return CellMetrics(**{**_METRIC_DEFAULTS, **known})
