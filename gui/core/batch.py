"""The batch executor: a run's cells sent to a provider's Batch API, results ingested later.

The cells become request lines of the OpenAI batch format (``custom_id`` = the cell id, the
messages, parameters and response format a live cell would send; one line per sample of a
repeated cell), written as JSONL files a line at a time and split under a line and a byte
limit, one file per column at least (a batch holds one model, and each column may be on its
own server, or send other parameter values). Each file is uploaded and becomes one
batch; the history records the batch (:class:`BatchStore`) the moment it exists, so a run
survives the app being closed: the next start finds it and resumes polling.

Polling backs off from a few seconds to a minute. When a batch ends, its output and error
files are downloaded to disk and read back in chunks in a worker thread; each line becomes
the cell's ``CellFinished`` or ``CellFailed`` (the same events the live engine emits, so the
history, the grid and the checks treat them alike), and a request in neither file fails as
``expired`` (or ends ``cancelled`` when the batch was cancelled). Nothing here holds a whole
file: a 100,000-line output costs one chunk of lines at a time.

The provider is behind :class:`BatchPort` (``gui.providers.batch``: the ``openai`` SDK's
``files`` and ``batches`` resources; ``gui.providers.simulated_batch`` offline).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
import uuid
from collections.abc import Callable, Collection, Generator, Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, Protocol

import orjson

from gui.core import events as ev
from gui.core.checking import CheckRunner
from gui.core.cleantext import clean
from gui.core.costs import CostTotals
from gui.core.errors import ErrorKind, one_line
from gui.core.estimate import (
    RunEstimate,
    TokenCounter,
    approx_counter,
    approx_tokens,
    estimate_run,
    messages_tokens,
)
from gui.core.executors import ExecutorKind
from gui.core.judge_lane import JudgeLane
from gui.core.metrics import CellMetrics, RunSummary, estimate_tokens
from gui.core.ports import Backend
from gui.core.pricing import Price, format_usd
from gui.core.private import private_dirs, private_opener
from gui.core.spec import Cell, CellId, ModelProfile, RunSpec
from gui.core.structured import check_answer, response_format_of

__all__ = [
    "BATCH_ENDPOINT",
    "BATCH_PRICE_FACTOR",
    "BatchChanged",
    "BatchGone",
    "BatchLimits",
    "BatchPort",
    "BatchRecord",
    "BatchRun",
    "BatchState",
    "BatchStatus",
    "BatchStore",
    "BatchUnsupported",
    "LineResult",
    "RequestFile",
    "batch_estimate",
    "batch_price",
    "budget_refusal",
    "parse_result_line",
    "read_results",
    "request_line",
    "retry_specs",
    "write_request_files",
]

log = logging.getLogger(__name__)

#: The endpoint every request line names (the chat completions of the live engine).
BATCH_ENDPOINT = "/v1/chat/completions"

#: What a batch request costs relative to the same live request (OpenAI: half).
BATCH_PRICE_FACTOR = 0.5

CANCELLED_BATCH = "Cancelled: the batch was cancelled before this request ran."
EXPIRED_MESSAGE = (
    "{provider}: expired: the provider did not run this request within the batch's "
    "completion window. Retry it live or in a new batch."
)


def batch_price(live_price: float) -> float:
    """The price of a request sent through a Batch API, from its live price.

    The price table (cost per token of a model) applies this to cells whose metrics say
    ``batch``; providers that price batches otherwise change :data:`BATCH_PRICE_FACTOR`.
    """
    return live_price * BATCH_PRICE_FACTOR


class BatchUnsupported(Exception):
    """The server offers no Batch API (404 on ``/files``); ``str()`` is one line."""


class BatchGone(Exception):
    """The provider no longer knows a batch (404 on retrieve); ``str()`` is one line."""


class BatchState(StrEnum):
    """A batch's state, as the OpenAI Batch API names them."""

    VALIDATING = "validating"
    IN_PROGRESS = "in_progress"
    FINALIZING = "finalizing"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """Whether the provider is done with the batch (its files are final)."""
        return self in (
            BatchState.COMPLETED,
            BatchState.FAILED,
            BatchState.EXPIRED,
            BatchState.CANCELLED,
        )

    @classmethod
    def of(cls, text: str) -> BatchState:
        """The state named ``text``; an unknown one (a newer API) counts as in progress."""
        try:
            return cls(text)
        except ValueError:
            return cls.IN_PROGRESS


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """How requests are split into files and how often batches are polled.

    Attributes:
        max_lines: Most request lines per file (OpenAI: 50,000).
        max_bytes: Most bytes per file (OpenAI: 200 MB; a margin below it by default).
        poll_first: Seconds before the first poll of a batch; each poll then waits longer.
        poll_max: Longest wait between two polls.
        ingest_chunk: Result lines read (in a worker thread) and reported per loop step.
        completion_window: How long the provider may take (OpenAI accepts ``24h``).
    """

    max_lines: int = 50_000
    max_bytes: int = 190 * 1024 * 1024
    poll_first: float = 3.0
    poll_max: float = 60.0
    ingest_chunk: int = 500
    completion_window: str = "24h"

    def next_poll(self, delay: float) -> float:
        """The wait after a poll that waited ``delay`` (grows by half, up to the maximum)."""
        return min(self.poll_max, max(self.poll_first, delay * 1.5))


@dataclass(frozen=True, slots=True)
class BatchStatus:
    """What the provider says about one batch.

    Attributes:
        id: The batch's id.
        state: Its state.
        input_file_id: The uploaded request file.
        output_file_id: The results file, once there is one.
        error_file_id: The file of failed requests, once there is one.
        total: Requests in the batch.
        completed: Requests done so far.
        failed: Requests failed so far.
        message: The provider's reason for a failed batch, else ``None``.
    """

    id: str
    state: BatchState
    input_file_id: str
    output_file_id: str | None = None
    error_file_id: str | None = None
    total: int = 0
    completed: int = 0
    failed: int = 0
    message: str | None = None


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """One batch of a run as the history keeps it (one per request file).

    A batch holds either every sample of ``rows`` consecutive input rows of one column, or,
    for a retry of some cells as a new batch, exactly the cells listed in ``cells``.

    Attributes:
        run_id: The run.
        file_index: Position of its request file in the run (0-based).
        col: The column its requests are for.
        first_row: The input row of its first request.
        rows: How many input rows of that column it holds (each with the run's samples), or
            for a batch of listed ``cells``, how many cells.
        batch_id: The provider's batch id.
        input_file_id: The uploaded request file's id.
        state: The batch's state when last polled.
        output_file_id: The results file, once known.
        error_file_id: The failed requests' file, once known.
        total: Requests, as the provider counts them.
        completed: Requests done, as last polled.
        failed: Requests failed, as last polled.
        created_at: Epoch seconds when the batch was created.
        updated_at: Epoch seconds of the last poll.
        ingested_at: Epoch seconds when its results were in the history, else ``None``.
        message: The provider's reason for a failed batch, else ``None``.
        cells: The cell ids of a batch that retries some cells (``()``: the rows above).
    """

    run_id: str
    file_index: int
    col: int
    first_row: int
    rows: int
    batch_id: str
    input_file_id: str
    state: BatchState = BatchState.VALIDATING
    output_file_id: str | None = None
    error_file_id: str | None = None
    total: int = 0
    completed: int = 0
    failed: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0
    ingested_at: float | None = None
    message: str | None = None
    cells: tuple[str, ...] = ()

    @property
    def open(self) -> bool:
        """Whether the batch still needs this app (polling, or its results not ingested)."""
        return self.ingested_at is None

    def with_status(self, status: BatchStatus, at: float) -> BatchRecord:
        """This record updated from a poll's answer."""
        return replace(
            self,
            state=status.state,
            output_file_id=status.output_file_id or self.output_file_id,
            error_file_id=status.error_file_id or self.error_file_id,
            total=status.total or self.total,
            completed=status.completed,
            failed=status.failed,
            updated_at=at,
            message=status.message or self.message,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (``batches --json``)."""
        out = {name: getattr(self, name) for name in BatchRecord.__dataclass_fields__}
        out["state"] = str(self.state)
        out["cells"] = list(self.cells)
        return out

    def requests(self, samples: int) -> int:
        """How many request lines the batch holds, with ``samples`` per cell of the run."""
        return len(self.cells) if self.cells else self.rows * max(1, samples)


class _Slots:
    """Where each request of one batch sits: a request's position in the batch from its cell
    id and back (the ``seen`` marks of an ingest are kept by position)."""

    __slots__ = ("_index", "col", "first_row", "record", "samples", "size")

    def __init__(self, record: BatchRecord, samples: int) -> None:
        self.record = record
        self.samples = max(1, samples)
        self.col, self.first_row = record.col, record.first_row
        self.size = record.requests(self.samples)
        self._index = {c: i for i, c in enumerate(record.cells)} if record.cells else None

    def offset(self, cell_id: str) -> int | None:
        """The request's position in the batch, or ``None`` when the batch has no such cell."""
        if self._index is not None:
            return self._index.get(cell_id)
        try:
            at = CellId.parse(cell_id)
        except ValueError:
            return None
        offset = at.row - self.first_row
        if at.col != self.col or not 0 <= offset < self.record.rows or at.sample >= self.samples:
            return None
        return offset * self.samples + at.sample

    def cell_id(self, offset: int) -> str:
        """The cell id of the request at ``offset``."""
        if self._index is not None:
            return self.record.cells[offset]
        row, sample = divmod(offset, self.samples)
        return CellId.text(self.first_row + row, self.col, sample)


class BatchPort(Protocol):
    """One provider's files and batches endpoints (one profile's server and key)."""

    async def upload(self, path: Path) -> str:
        """Upload a request file (streamed from disk); returns its file id.

        Raises:
            BatchUnsupported: the server offers no Batch API.
        """

    async def create(self, input_file_id: str, metadata: Mapping[str, str]) -> BatchStatus:
        """Create the batch of an uploaded request file."""

    async def retrieve(self, batch_id: str) -> BatchStatus:
        """The batch as it is now."""

    async def cancel(self, batch_id: str) -> BatchStatus:
        """Ask the provider to cancel the batch (it goes through ``cancelling``)."""

    async def download(self, file_id: str, dest: Path) -> None:
        """Write a file's content to ``dest``, streamed (never whole in memory)."""

    async def aclose(self) -> None:
        """Close the HTTP client."""


class BatchStore(Protocol):
    """Where a batch run's batches are recorded (``gui.storage.history.History``)."""

    def batch_created(self, record: BatchRecord) -> None:
        """Record a new batch; blocks until it is on disk (the run shows ``submitted``)."""

    def batch_updated(self, record: BatchRecord) -> None:
        """Record a batch's new state (queued behind the cells recorded before it)."""

    def batch_cells_ended(self, run_id: str, events: Sequence[ev.Event]) -> None:
        """Record ended cells of the run in bulk (queued; the events follow)."""


@dataclass(frozen=True, slots=True)
class BatchChanged(ev.Event):
    """A batch of the run was created, polled or ingested (the Batches view draws it).

    Attributes:
        record: The batch as it is now.
    """

    record: BatchRecord


# ------------------------------------------------------------------ request files


@dataclass(frozen=True, slots=True)
class RequestFile:
    """One written request file: the requests of one column's consecutive rows (every
    sample of each), or of the listed cells of a retry.

    Attributes:
        index: Its position in the run.
        col: The column.
        first_row: The input row of its first line.
        rows: Its input rows, or for listed ``cells``, their number.
        size: Its bytes.
        path: Where it was written.
        lines: Its request lines.
        cells: The cells of a retry file, in line order (``()``: the rows above).
    """

    index: int
    col: int
    first_row: int
    rows: int
    size: int
    path: Path
    lines: int = 0
    cells: tuple[str, ...] = ()


_ROLES = {"human": "user", "ai": "assistant"}


def request_line(spec: RunSpec, cell: Cell) -> dict[str, Any]:
    """The batch request of one cell: what a live cell sends (its column's prompt variant,
    model and parameter values, and a structured run's ``response_format``)."""
    profile = cell.model  # the column's profile, its swept values set
    body: dict[str, Any] = {
        "model": profile.model,
        "messages": [
            # clean(): a lone surrogate (an undecodable byte of an input file or the command
            # line) cannot be written as UTF-8; it goes as U+FFFD, as the cell stores it.
            {"role": _ROLES.get(role, role), "content": clean(text)[0]}
            for role, text in spec.messages(cell.id)
        ],
    }
    for name in ("temperature", "max_tokens", "top_p", "seed"):
        value = getattr(profile, name)
        if value is not None:
            body[name] = value
    if spec.json_schema is not None and spec.threads is None:
        body["response_format"] = response_format_of(spec.json_schema)
    return {"custom_id": cell.id, "method": "POST", "url": BATCH_ENDPOINT, "body": body}


def _encoded(spec: RunSpec, cell: Cell) -> bytes:
    return (json.dumps(request_line(spec, cell), ensure_ascii=False) + "\n").encode("utf-8")


def write_request_files(
    spec: RunSpec,
    folder: Path,
    limits: BatchLimits,
    only: Collection[str] | None = None,
    first_index: int = 0,
) -> list[RequestFile]:
    """Write the run's request files into ``folder``, a line at a time.

    Each column gets its own files (a batch holds one model, on one server); a file ends
    before a row's lines (one per sample) would take it past ``limits.max_lines`` or
    ``limits.max_bytes``. A single row larger than a limit still gets a file of its own (the
    provider says no). Blocking: call it in a worker thread.

    Args:
        spec: The run.
        folder: Where the files go.
        limits: The split limits.
        only: Write only these cells (a retry as a new batch); ids outside the run are
            skipped. ``None``: every cell.
        first_index: The index of the first file (a retry's files follow the run's).
    """
    private_dirs(folder)  # the data folder may have been removed since the run started
    cells = spec.cell_list()
    samples = cells.samples
    n_cols = len(cells.columns)
    out: list[RequestFile] = []

    def new_writer(col: int, row: int) -> _FileWriter:
        index = first_index + len(out)
        return _FileWriter(folder / f"requests-{index:04d}.jsonl", index, col, row)

    if only is not None:
        by_col: dict[int, list[int]] = {}
        for cell_id in only:
            index = cells.index_of(cell_id)
            if index is not None:
                by_col.setdefault(cells[index].col, []).append(index)
        for col, indexes in sorted(by_col.items()):
            writer: _FileWriter | None = None
            for index in sorted(set(indexes)):
                cell = cells[index]
                line = _encoded(spec, cell)
                if writer is not None and not writer.fits(1, len(line), limits):
                    out.append(writer.close())
                    writer = None
                if writer is None:
                    writer = new_writer(col, cell.row)
                writer.write([line], cell.id)
            if writer is not None:
                out.append(writer.close())
        return out
    for col in range(n_cols):
        writer = None
        for row in range(len(spec.rows)):
            base = (row * n_cols + col) * samples
            lines = [_encoded(spec, cells[base + k]) for k in range(samples)]
            if writer is not None and not writer.fits(len(lines), sum(map(len, lines)), limits):
                out.append(writer.close())
                writer = None
            if writer is None:
                writer = new_writer(col, row)
            writer.write(lines)
        if writer is not None:
            out.append(writer.close())
    return out


class _FileWriter:
    """One request file being written."""

    def __init__(self, path: Path, index: int, col: int, first_row: int) -> None:
        self.path, self.index, self.col, self.first_row = path, index, col, first_row
        self.rows = self.lines = self.size = 0
        self.cells: list[str] = []
        self._file: IO[bytes] = open(path, "wb", opener=private_opener)

    def fits(self, lines: int, size: int, limits: BatchLimits) -> bool:
        return self.lines + lines <= limits.max_lines and self.size + size <= limits.max_bytes

    def write(self, lines: Sequence[bytes], cell_id: str | None = None) -> None:
        """Write one row's lines (or, with ``cell_id``, one listed cell's line)."""
        for line in lines:
            self._file.write(line)
            self.size += len(line)
        self.lines += len(lines)
        self.rows += 1
        if cell_id is not None:
            self.cells.append(cell_id)

    def close(self) -> RequestFile:
        self._file.close()
        return RequestFile(
            self.index,
            self.col,
            self.first_row,
            self.rows,
            self.size,
            self.path,
            self.lines,
            tuple(self.cells),
        )


def column_spec(spec: RunSpec, col: int, rows: Sequence[Mapping[str, str]]) -> RunSpec:
    """A run of column ``col`` of ``spec`` alone on ``rows``: its prompt variant, its model
    with its parameter values, its chat context, one sample per cell and no judge (the
    original run's judge is not re-run on a retry)."""
    column = spec.columns[col]
    if spec.threads is not None:
        return replace(
            spec,
            rows=tuple(rows),
            models=(column.model,),
            threads=(spec.threads[col],),
            repeats=1,
            judge=None,
        )
    variant = spec.variants[column.variant]
    context = spec.context_of(col)
    return replace(
        spec,
        template=variant.template,
        system=variant.system,
        template_variants=(),
        system_variants=(),
        rows=tuple(rows),
        models=(column.model,),
        context=(context,) if spec.context is not None else None,
        repeats=1,
        judge=None,
    )


def retry_specs(spec: RunSpec, cell_ids: Sequence[str]) -> list[tuple[RunSpec, dict[str, str]]]:
    """The live runs that send ``cell_ids`` of ``spec`` again (failed or expired cells of a
    batch run): one per column, with a row for each of those cells of it (a repeated cell's
    failed samples each get one), and each run's cell ids mapped to the original run's (for
    ``History.recorder(into_run=..., cell_map=...)``).
    """
    cells = spec.cell_list()
    by_col: dict[int, list[CellId]] = {}
    for cell_id in cell_ids:
        if cells.index_of(cell_id) is None:
            continue
        at = CellId.parse(cell_id)
        by_col.setdefault(at.col, []).append(at)
    out: list[tuple[RunSpec, dict[str, str]]] = []
    for col, ids in sorted(by_col.items()):
        ordered = sorted(set(ids))
        sub = column_spec(spec, col, [spec.rows[at.row] for at in ordered])
        cell_map = {CellId.text(i, 0): str(at) for i, at in enumerate(ordered)}
        out.append((sub, cell_map))
    return out


def batch_estimate(
    spec: RunSpec,
    counter: TokenCounter = approx_counter,
    kind: Callable[[ModelProfile], Hashable] | None = None,
) -> RunEstimate:
    """The run's cost estimate at the batch price (blocking: a worker thread for a big run);
    ``counter`` and ``kind`` as :func:`gui.core.estimate.estimate_run` takes them."""
    live = estimate_run(spec, counter=counter, kind=kind)
    return RunEstimate(
        tuple(
            replace(c, cost_usd=None if c.cost_usd is None else batch_price(c.cost_usd))
            for c in live.columns
        )
    )


def budget_refusal(spec: RunSpec, estimate: RunEstimate) -> str | None:
    """One line refusing to submit ``spec`` when its batch-price estimate passes the run's
    budget cap (a batch cannot be stopped cell by cell as a live run is); else ``None``."""
    cap = spec.limits.budget_usd
    if cap is None or estimate.cost_usd <= cap + 1e-8:
        return None
    cost = format_usd(estimate.cost_usd, estimated=estimate.estimated)
    return (
        f"Not submitted: the batch is estimated at {cost} (batch price), over the budget of "
        f"{format_usd(cap)}; raise the budget or run fewer cells."
    )


# ------------------------------------------------------------------ result files


@dataclass(frozen=True, slots=True)
class LineResult:
    """One line of a batch output or error file.

    Attributes:
        custom_id: The cell id the request carried.
        ok: The request succeeded (status 200 with an answer).
        text: The answer (empty for a failure).
        kind: The error kind of a failure.
        message: The error's one-line message.
        input_tokens: Prompt tokens the provider reported, or ``None``.
        output_tokens: Answer tokens the provider reported, or ``None``.
        finish_reason: Why the answer ended, if said.
    """

    custom_id: str
    ok: bool
    text: str = ""
    kind: ErrorKind | None = None
    message: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reason: str | None = None


_STATUS_KINDS = {
    401: ErrorKind.AUTHENTICATION,
    403: ErrorKind.AUTHENTICATION,
    404: ErrorKind.NOT_FOUND,
    408: ErrorKind.TIMEOUT,
    429: ErrorKind.RATE_LIMITED,
}


def _kind_of(status: int | None, code: str | None) -> ErrorKind:
    if code in ("batch_expired", "expired"):
        return ErrorKind.EXPIRED
    if status is not None and status >= 500:
        return ErrorKind.SERVER_ERROR
    if status is not None and status in _STATUS_KINDS:
        return _STATUS_KINDS[status]
    return ErrorKind.BAD_RESPONSE if status is not None and status < 500 else ErrorKind.OTHER


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_result_line(line: bytes | str, provider: str = "The provider") -> LineResult | None:
    """The result one line of an output or error file holds; ``None`` for a line that is
    not a result (blank, not JSON, no ``custom_id``)."""
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError:
        if isinstance(line, bytes):
            # Bytes that are not UTF-8 keep the answer: each bad byte becomes a lone
            # surrogate, which the history replaces and notes on the cell, as for a live one.
            line = line.decode("utf-8", "surrogateescape")
        try:  # orjson refuses what json reads (a lone surrogate escape): that still counts
            data = json.loads(line)
        except ValueError:
            return None
    if not isinstance(data, dict) or not isinstance(data.get("custom_id"), str):
        return None
    custom_id: str = data["custom_id"]
    raw_response = data.get("response")
    response: dict[str, Any] = raw_response if isinstance(raw_response, dict) else {}
    error = data.get("error") if isinstance(data.get("error"), dict) else None
    status = _int(response.get("status_code"))
    raw_body = response.get("body")
    body: dict[str, Any] = raw_body if isinstance(raw_body, dict) else {}
    if error is None and status == 200:
        choices = body.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else {}
        message = choice.get("message") if isinstance(choice, dict) else None
        text = message.get("content") if isinstance(message, dict) else None
        raw_usage = body.get("usage")
        usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
        finish = choice.get("finish_reason") if isinstance(choice, dict) else None
        if text is not None and not isinstance(text, str):
            return LineResult(
                custom_id,
                False,
                kind=ErrorKind.BAD_RESPONSE,
                message=f"{provider}: the batch returned an answer of the wrong shape "
                "('content' is not text). Check that the provider is OpenAI-compatible.",
            )
        if isinstance(text, str) and text:
            return LineResult(
                custom_id,
                True,
                text,
                input_tokens=_int(usage.get("prompt_tokens")),
                output_tokens=_int(usage.get("completion_tokens")),
                finish_reason=finish if isinstance(finish, str) else None,
            )
        return LineResult(
            custom_id,
            False,
            kind=ErrorKind.BAD_RESPONSE,
            message=f"{provider}: the batch returned an empty answer. Retry the cell.",
        )
    body_error = body.get("error")
    detail: dict[str, Any] = error or (body_error if isinstance(body_error, dict) else {})
    code = detail.get("code") if isinstance(detail.get("code"), str) else None
    text = detail.get("message") if isinstance(detail.get("message"), str) else None
    kind = _kind_of(status, code)
    if kind is ErrorKind.EXPIRED:
        return LineResult(custom_id, False, kind=kind, message=_expired(provider))
    what = f"HTTP {status}" if status is not None else (code or "error")
    return LineResult(
        custom_id,
        False,
        kind=kind,
        message=one_line(f"{provider}: batch request failed ({what}): {text or 'no message'}"),
    )


def _expired(provider: str) -> str:
    return EXPIRED_MESSAGE.format(provider=provider)


#: Bytes a result line may take per character of the answer size cap (a character may be a
#: 12-byte surrogate-pair escape), plus its envelope: the live stream's bound on one event.
_LINE_BYTES_PER_CHAR = 12
_LINE_ENVELOPE_BYTES = 1 << 20
_CUSTOM_ID = re.compile(rb'"custom_id"\s*:\s*"([^"\\]{1,200})"')


def read_results(
    path: Path, chunk: int, provider: str, max_chars: int | None = None
) -> Generator[list[LineResult], None, None]:
    """The results of an output or error file, ``chunk`` lines at a time (blocking reads:
    drive it from a worker thread).

    With ``max_chars`` (the run's answer size cap) an answer longer than the cap fails its
    cell "answer too large", and a line too long to hold such an answer is never read whole
    (a provider's file, however large one line of it, must not take the machine's memory).
    """
    bound = None if max_chars is None else _LINE_ENVELOPE_BYTES + _LINE_BYTES_PER_CHAR * max_chars
    with path.open("rb") as f:
        batch: list[LineResult] = []
        while line := f.readline(-1 if bound is None else bound + 1):
            result: LineResult | None
            if bound is not None and len(line) > bound and not line.endswith(b"\n"):
                result = _too_long_line(f, line, provider, bound)
            elif not line.strip():
                continue
            else:
                result = parse_result_line(line, provider)
            if result is not None and result.ok and max_chars is not None:
                if len(result.text) > max_chars:
                    result = _too_large(
                        result.custom_id, provider, f"more than {max_chars:,} characters"
                    )
            if result is not None:
                batch.append(result)
            if len(batch) >= chunk:
                yield batch
                batch = []
        if batch:
            yield batch


def _too_long_line(f: IO[bytes], start: bytes, provider: str, bound: int) -> LineResult | None:
    """The failure of a result line longer than ``bound`` bytes, whose first ``bound`` bytes
    are ``start``: the rest of it is read past (a slice at a time) and its cell named from
    its start (``None`` when the start names none)."""
    while more := f.readline(1 << 20):
        if more.endswith(b"\n"):
            break
    found = _CUSTOM_ID.search(start[:4096])
    if found is None:
        return None
    custom_id = found.group(1).decode("utf-8", "replace")
    return _too_large(custom_id, provider, f"its result line passed {bound:,} bytes")


def _too_large(custom_id: str, provider: str, why: str) -> LineResult:
    return LineResult(
        custom_id,
        False,
        kind=ErrorKind.TOO_LARGE,
        message=f"{provider}: answer too large: {why}. Raise the answer size cap, or lower "
        "max tokens.",
    )


# ------------------------------------------------------------------ the executor


@dataclass
class _Resume:
    """What a resumed run knows from the history."""

    started_at: float
    prior: dict[str, int] = field(default_factory=dict)  # cells ended before, by status


class BatchRun:
    """One run of a spec through a provider's Batch API (an :class:`Executor`).

    Args:
        spec: The plan.
        ports: The batch port of a column's profile (one per server and key; cached here).
        store: Where batches are recorded, or ``None`` (nothing survives the process).
        workdir: A folder for request and result files (deleted as each is used).
        limits: Split and polling settings.
        run_id: The run's id (new runs get one).
        wait: ``False``: stop after submitting (the CLI without ``--wait``); the run stays
            ``submitted`` and a later process resumes it.
        backend: Gives the live provider backend the run's LLM judge calls go through as
            results land, asked for at the first done cell of a run with a judge (``None``:
            the run is not judged here).
        counter: Counts prompt tokens for the estimate a budget cap is held against.
        rng: Draws the judge's pairwise positions.
    """

    def __init__(
        self,
        spec: RunSpec,
        ports: Callable[[ModelProfile], BatchPort],
        store: BatchStore | None,
        workdir: Path,
        *,
        limits: BatchLimits | None = None,
        run_id: str | None = None,
        wait: bool = True,
        backend: Callable[[], Backend] | None = None,
        counter: TokenCounter = approx_counter,
        rng: random.Random | None = None,
    ) -> None:
        self.id = run_id or f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        self.spec = spec
        self.cells = spec.cell_list()
        self.limits = limits or BatchLimits()
        self.wait_for_results = wait
        self.summary: RunSummary | None = None
        #: The batches, by file index, as last known.
        self.batches: dict[int, BatchRecord] = {}
        #: One line when the run could not be submitted (the cells failed with it).
        self.error: str | None = None
        self._make_port = ports
        self._ports: dict[int, BatchPort] = {}
        self._store = store
        self._workdir = workdir
        self._subscribers: list[Callable[[ev.Event], None]] = []
        self._driver: asyncio.Task[RunSummary | None] | None = None
        self._t0 = time.monotonic()
        self._counts: dict[str, int] = {"done": 0, "failed": 0, "cancelled": 0}
        self._failures: dict[str, int] = {}
        self._cancelling = False
        self._resume: _Resume | None = None
        self._checker = CheckRunner(spec.checks) if spec.checks else None
        self._check_tasks: set[asyncio.Task[None]] = set()
        self._cancel_tasks: set[asyncio.Task[None]] = set()
        # Batches a cancel was sent for: a cancel that comes while a batch is being recorded
        # finds it both in `batches` and, once recorded, in the creating loop; one request.
        self._cancel_sent: set[str] = set()
        #: Cells ended since the last :meth:`_flush_ended`: stored in one go, then reported.
        self._ended: list[ev.Event] = []
        self._counter = counter
        #: A retry as a new batch: only these cells are sent (see :meth:`retry_cells`).
        self._only: tuple[str, ...] | None = None
        self._first_file = 0
        # Each column's price, looked up once; a batch cell costs the batch price of it.
        table = spec.price_table
        self._prices: list[Price | None] = [table.price_for(c.model) for c in spec.columns]
        #: Tokens and cost of the cells this process ended.
        self.totals = CostTotals()
        #: The LLM judge, judging done cells as their results land (as the live engine);
        #: made at the first ended cell (building the backend may import a provider).
        self.judge: JudgeLane | None = None
        self._judge_backend = backend if spec.judge is not None else None
        self._rng = rng or random.Random()
        #: Cells judged unfinished by an earlier process (see :meth:`resume`).
        self._landed: tuple[tuple[str, str | None], ...] = ()

    @classmethod
    def resume(
        cls,
        spec: RunSpec,
        run_id: str,
        records: Sequence[BatchRecord],
        ports: Callable[[ModelProfile], BatchPort],
        store: BatchStore | None,
        workdir: Path,
        *,
        started_at: float,
        prior: Mapping[str, int] | None = None,
        limits: BatchLimits | None = None,
        backend: Callable[[], Backend] | None = None,
        landed: Sequence[tuple[str, str | None]] = (),
    ) -> BatchRun:
        """A run submitted earlier (by this or another process), picked up from its
        ``records``: polling goes on and results land in the same run.

        Args:
            prior: Cells of the run that ended before, by status (``done``, ``failed``,
                ``cancelled``), not counting those of the batches still open.
            started_at: Epoch seconds the run was created.
            landed: Cells that ended in an earlier process whose judging is unfinished
                (``gui.storage.history.History.batch_judge_backlog``), with their answer
                (``None``: not done). With ``backend``, they are judged again as the run
                resumes; pairwise, with the cells of the same rows that land here.
        """
        run = cls(spec, ports, store, workdir, limits=limits, run_id=run_id, backend=backend)
        run.batches = {r.file_index: r for r in records}
        run._resume = _Resume(started_at, dict(prior or {}))
        run._landed = tuple(landed)
        for status, n in (prior or {}).items():
            if status in run._counts:
                run._counts[status] += n
        return run

    @classmethod
    def retry_cells(
        cls,
        spec: RunSpec,
        run_id: str,
        cell_ids: Sequence[str],
        ports: Callable[[ModelProfile], BatchPort],
        store: BatchStore | None,
        workdir: Path,
        *,
        started_at: float,
        prior: Mapping[str, int],
        first_file: int,
        limits: BatchLimits | None = None,
        backend: Callable[[], Backend] | None = None,
        wait: bool = True,
    ) -> BatchRun:
        """Send ``cell_ids`` of a recorded run again as new batches of that run (its failed
        and expired cells): their results land in the same run, and the new batches are
        recorded (listing their cells) so a later process resumes them as any other.

        Args:
            prior: The run's cells outside ``cell_ids``, by status.
            first_file: The file index of the first new batch (after the run's others).
            started_at: Epoch seconds the run was created.
        """
        run = cls.resume(
            spec,
            run_id,
            [],
            ports,
            store,
            workdir,
            started_at=started_at,
            prior=prior,
            limits=limits,
            backend=backend,
        )
        run._only = tuple(cell_ids)
        run._first_file = first_file
        run.wait_for_results = wait
        return run

    # ---------------------------------------------------------------- Executor API

    @property
    def finished(self) -> bool:
        """Whether the run has ended."""
        return self.summary is not None

    @property
    def only(self) -> tuple[str, ...] | None:
        """The cells a retry as a new batch sends (``None``: every cell of the run)."""
        return self._only

    @property
    def resumed(self) -> bool:
        """Whether this run was picked up from the history."""
        return self._resume is not None

    def subscribe(self, callback: Callable[[ev.Event], None]) -> Callable[[], None]:
        """Call ``callback(event)`` for every event from now on; returns an unsubscribe."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def start(self) -> asyncio.Task[RunSummary | None]:
        """Launch the run: submit (a new run), then poll and ingest until every batch ends.

        The task resolves to the summary, or ``None`` when the run was only submitted
        (``wait=False``).
        """
        if self._driver is not None:
            raise RuntimeError("run already started")
        self._driver = asyncio.get_running_loop().create_task(
            self._main(), name=f"fanout-batch:{self.id}"
        )
        return self._driver

    async def wait(self) -> RunSummary | None:
        """Wait for the run's task (see :meth:`start`)."""
        task = self._driver or self.start()
        return await asyncio.shield(task)

    def cancel(self, reason: str = CANCELLED_BATCH) -> None:
        """Cancel every open batch; requests not run by then end ``cancelled``."""
        if self._cancelling:
            return
        self._cancelling = True
        if self.judge is not None:
            self.judge.cancel()
        loop = asyncio.get_running_loop()
        for record in list(self.batches.values()):
            if not record.state.terminal:
                task = loop.create_task(
                    self._cancel_batch(record), name=f"fanout-batch-cancel:{record.batch_id}"
                )
                self._cancel_tasks.add(task)
                task.add_done_callback(self._cancel_tasks.discard)

    def stop(self) -> None:
        """Stop polling here (the app closes): the batches stay with the provider and in
        the history, ``submitted``, for the next start to resume."""
        if self._driver is not None and not self._driver.done():
            self._driver.cancel()
        if self.judge is not None:  # no judge call outlives the app's loop
            self.judge.cancel()

    def ended_counts(self) -> dict[str, int]:
        """Cells ended so far by status (``done``, ``failed``, ``cancelled``)."""
        return dict(self._counts)

    @property
    def requests_done(self) -> int:
        """Requests the provider has finished (completed or failed), over every batch."""
        return sum(r.completed + r.failed for r in self.batches.values())

    # ---------------------------------------------------------------- internals

    def _now(self) -> float:
        if self._resume is not None:
            return time.time() - self._resume.started_at
        return time.monotonic() - self._t0

    def _emit(self, event: ev.Event) -> None:
        for callback in tuple(self._subscribers):
            try:
                callback(event)
            except Exception:
                log.exception("event subscriber %r failed on %s", callback, type(event).__name__)

    def _port(self, col: int) -> BatchPort:
        port = self._ports.get(col)
        if port is None:
            port = self._ports[col] = self._make_port(self.spec.columns[col].model)
        return port

    async def _main(self) -> RunSummary | None:
        try:
            if self._resume is None or self._only is not None:
                refusal = await self._budget_refusal()
                if refusal is not None:
                    # Refused before anything is recorded or sent: one line, no run.
                    self.error = refusal
                    self.summary = RunSummary(len(self.cells), 0, 0, 0, 0.0, "batch", 0)
                    return self.summary
                if self._resume is None:
                    self._emit(
                        ev.RunStarted(
                            self.id, 0.0, self.spec, self.cells, time.time(), ExecutorKind.BATCH
                        )
                    )
                else:
                    started = self._resume.started_at
                    self._emit(
                        ev.RunStarted(
                            self.id, self._now(), self.spec, self.cells, started, ExecutorKind.BATCH
                        )
                    )
                try:
                    await self._submit()
                except BatchUnsupported as exc:
                    unsupported = self.error = str(exc)
                    await self._end_unheld(
                        lambda c: self._end_failed(c, ErrorKind.NOT_FOUND, unsupported)
                    )
                except Exception as exc:
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                    # Said to the user as the run's error; the traceback is for the log file.
                    log.info("batch submit of run %s failed", self.id, exc_info=True)
                    self.error = one_line(f"The batch could not be submitted: {exc}")
                    message = self.error
                    await self._end_unheld(lambda c: self._end_failed(c, ErrorKind.OTHER, message))
                else:
                    if self._cancelling:  # cancelled while submitting: the rest never went
                        await self._end_unheld(self._end_cancelled)
                if not self.batches:
                    return await self._settle()
                if not self.wait_for_results:
                    return None
            else:
                started = self._resume.started_at
                self._emit(
                    ev.RunStarted(
                        self.id, self._now(), self.spec, self.cells, started, ExecutorKind.BATCH
                    )
                )
                self._judge_landed()
            await self._poll_until_done()
            return await self._settle()
        finally:
            for port in self._ports.values():
                try:
                    await port.aclose()
                except Exception:
                    log.debug("closing a batch port failed", exc_info=True)

    async def _settle(self) -> RunSummary:
        """Wait for the checks and judge calls of the ingested cells, then end the run."""
        if self._check_tasks:
            await asyncio.wait(set(self._check_tasks))
        if self.judge is not None:
            await self.judge.drain()
        return self._finish()

    async def _budget_refusal(self) -> str | None:
        """Why the run may not be submitted under its budget cap (estimated at the batch
        price, off the loop), or ``None``."""
        if self.spec.limits.budget_usd is None:
            return None
        spec, counter = self.spec, self._counter
        if self._only is not None:
            # A retry costs what its cells cost: estimate them alone, column by column.
            parts = retry_specs(spec, self._only)
            estimates = await asyncio.to_thread(
                lambda: [batch_estimate(sub, counter) for sub, _map in parts]
            )
            estimate = RunEstimate(tuple(c for e in estimates for c in e.columns))
        else:
            estimate = await asyncio.to_thread(batch_estimate, spec, counter)
        return budget_refusal(spec, estimate)

    def _finish(self) -> RunSummary:
        c = self._counts
        t = self.totals
        self.summary = RunSummary(
            total=len(self.cells),
            done=c["done"],
            failed=c["failed"],
            cancelled=c["cancelled"],
            wall=self._now(),
            strategy="batch",
            peak_in_flight=0,
            failures_by_kind=dict(self._failures),
            cancelled_by_user=self._cancelling,
            input_tokens=t.input_tokens,
            output_tokens=t.output_tokens,
            cost_usd=t.cost_usd,
            unpriced=t.unpriced,
            tokens_estimated=t.estimated,
        )
        self._emit(ev.RunFinished(self.id, self._now(), self.summary))
        return self.summary

    async def _submit(self) -> None:
        """Write, upload and create every batch; each is recorded the moment it exists."""
        folder = self._workdir / f"{self.id}-requests"
        files = await asyncio.to_thread(
            write_request_files, self.spec, folder, self.limits, self._only, self._first_file
        )
        try:
            for f in files:
                if self._cancelling:
                    break
                port = self._port(f.col)
                file_id = await port.upload(f.path)
                status = await port.create(
                    file_id, {"fanout_run": self.id, "fanout_file": str(f.index)}
                )
                now = time.time()
                record = BatchRecord(
                    self.id,
                    f.index,
                    f.col,
                    f.first_row,
                    f.rows,
                    status.id,
                    file_id,
                    created_at=now,
                    updated_at=now,
                    cells=f.cells,
                ).with_status(status, now)
                self.batches[f.index] = record
                if self._store is not None:
                    # Before anything else can fail: a batch the history does not know
                    # would run (and cost) with nobody to collect it.
                    await asyncio.to_thread(self._store.batch_created, record)
                self._emit(BatchChanged(self.id, self._now(), record))
                if self._cancelling:  # cancelled while this one was being created
                    await self._cancel_batch(record)
                await asyncio.to_thread(f.path.unlink, missing_ok=True)
        finally:
            await asyncio.to_thread(_remove_tree, folder)

    async def _end_unheld(self, end: Callable[[str], None]) -> None:
        """End (with ``end``) every cell no batch holds: its request never went out."""
        samples = self.cells.samples
        slots = [_Slots(r, samples) for r in self.batches.values()]
        targets = self._only if self._only is not None else self.cells.ids()
        for n, cell_id in enumerate(targets):
            if n and n % 1000 == 0:
                self._flush_ended()
                await asyncio.sleep(0)
            if self.cells.index_of(cell_id) is None:
                continue
            if not any(s.offset(cell_id) is not None for s in slots):
                end(cell_id)
        self._flush_ended()

    async def _poll_until_done(self) -> None:
        delay = self.limits.poll_first
        first = True
        while any(r.open for r in self.batches.values()):
            if not first:
                await asyncio.sleep(delay)
                delay = self.limits.next_poll(delay)
            first = False
            for record in sorted(self.batches.values(), key=lambda r: r.file_index):
                if not record.open:
                    continue
                try:
                    if not record.state.terminal:
                        status = await self._port(record.col).retrieve(record.batch_id)
                        record = self._update(record.with_status(status, time.time()))
                    if record.state.terminal:
                        await self._ingest(record)
                except BatchGone as exc:
                    # Polling it again would never end: its cells fail with the reason.
                    gone = replace(record, state=BatchState.FAILED, message=str(exc))
                    await self._ingest(self._update(gone))
                except Exception as exc:
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                    # A network blip, a provider hiccup: the batch is polled again later
                    # (a download failed before any of its cells was reported).
                    log.warning("batch %s: %s; polled again later", record.batch_id, exc)

    def _update(self, record: BatchRecord) -> BatchRecord:
        self.batches[record.file_index] = record
        if self._store is not None:
            self._store.batch_updated(record)
        self._emit(BatchChanged(self.id, self._now(), record))
        return record

    async def _cancel_batch(self, record: BatchRecord) -> None:
        if record.batch_id in self._cancel_sent:
            return
        self._cancel_sent.add(record.batch_id)
        try:
            status = await self._port(record.col).cancel(record.batch_id)
        except Exception as exc:
            self._cancel_sent.discard(record.batch_id)  # not sent: a later cancel tries again
            log.warning("cancelling batch %s failed: %s", record.batch_id, exc)
            return
        current = self.batches.get(record.file_index, record)
        if current.open and not current.state.terminal:
            self._update(current.with_status(status, time.time()))

    async def import_results(self, path: Path) -> tuple[int, int]:
        """Ingest an output file in the OpenAI batch output format (``import-batch``, e.g.
        written by vLLM's ``run-batch``) into this run, then end it.

        Only cells with a line change; a cell's first line counts. Returns the lines that
        were cells of this run and the result lines read.
        """
        started = self._resume.started_at if self._resume is not None else time.time()
        self._emit(
            ev.RunStarted(self.id, self._now(), self.spec, self.cells, started, ExecutorKind.BATCH)
        )
        chunks = read_results(
            path, self.limits.ingest_chunk, "The batch output", self.spec.limits.max_answer_chars
        )
        seen = bytearray(len(self.cells))
        used = read = 0
        end = object()
        try:
            while True:
                chunk = await asyncio.to_thread(next, chunks, end)
                if chunk is end:
                    break
                assert isinstance(chunk, list)
                read += len(chunk)
                fresh = []
                for result in chunk:
                    index = self.cells.index_of(result.custom_id)
                    if index is not None and not seen[index]:
                        seen[index] = 1
                        fresh.append(result)
                used += self.ingest_lines(fresh, None, None)
                await asyncio.sleep(0)
        finally:
            await asyncio.to_thread(chunks.close)
        self._finish()
        return used, read

    async def _ingest(self, record: BatchRecord) -> None:
        """Download the batch's result files and end each of its cells from them."""
        port = self._port(record.col)
        provider = self.spec.columns[record.col].model.provider_name
        slots = _Slots(record, self.cells.samples)
        seen = bytearray(slots.size)
        folder = self._workdir / f"{self.id}-results-{record.file_index}"
        await asyncio.to_thread(private_dirs, folder)
        try:
            # Both files on disk before any cell is reported: a failed download is retried
            # at the next poll without reporting a cell twice.
            paths: list[Path] = []
            for which, file_id in (
                ("output", record.output_file_id),
                ("error", record.error_file_id),
            ):
                if file_id:
                    paths.append(folder / f"{which}.jsonl")
                    await port.download(file_id, paths[-1])
            for path in paths:
                await self._ingest_file(path, slots, provider, seen)
            await self._end_missing(slots, provider, seen)
        finally:
            await asyncio.to_thread(_remove_tree, folder)
        self._update(replace(record, ingested_at=time.time()))

    async def _ingest_file(self, path: Path, slots: _Slots, provider: str, seen: bytearray) -> None:
        """End the cells of one result file, a chunk of lines per loop step."""
        chunks = read_results(
            path, self.limits.ingest_chunk, provider, self.spec.limits.max_answer_chars
        )
        done = object()
        try:
            while True:
                chunk = await asyncio.to_thread(next, chunks, done)
                if chunk is done:
                    break
                assert isinstance(chunk, list)
                # The cells' events are made in the worker thread too: the loop only stores
                # and reports them (40 us a line on a busy machine, 40 ms a chunk, otherwise).
                await asyncio.to_thread(self._end_lines, chunk, slots, seen)
                self._flush_ended()
                await asyncio.sleep(0)
        finally:
            await asyncio.to_thread(chunks.close)

    def ingest_lines(
        self, results: Sequence[LineResult], record: BatchRecord | None, seen: bytearray | None
    ) -> int:
        """End the cells ``results`` are about; returns how many were this run's.

        A line for a cell outside ``record`` (or the run), or for a cell already ended,
        is ignored. ``seen`` marks the record's requests that had a line.
        """
        slots = None if record is None else _Slots(record, self.cells.samples)
        used = self._end_lines(results, slots, seen)
        self._flush_ended()
        return used

    def _end_lines(
        self, results: Sequence[LineResult], slots: _Slots | None, seen: bytearray | None
    ) -> int:
        """Make the ended-cell events of ``results`` (kept for :meth:`_flush_ended`); safe in
        a worker thread while the loop awaits it (nothing else touches what it changes)."""
        cells = self.cells
        used = 0
        for result in results:
            if slots is not None:
                offset = slots.offset(result.custom_id)  # a cell of this batch, so of the run
                if offset is None:
                    continue
                if seen is not None:
                    if seen[offset]:
                        continue
                    seen[offset] = 1
                col = slots.col
            elif cells.index_of(result.custom_id) is None:
                continue
            else:  # its column from the id: cells[index] would make (and keep) a Cell
                col = CellId.parse(result.custom_id).col
            used += 1
            if result.ok:
                self._end_done(result, col)
            elif (
                slots is not None
                and slots.record.state is BatchState.CANCELLED
                and result.kind is ErrorKind.EXPIRED
            ):
                self._end_cancelled(result.custom_id)
            else:
                self._end_failed(
                    result.custom_id, result.kind or ErrorKind.OTHER, result.message, sent=col
                )
        return used

    async def _end_missing(self, slots: _Slots, provider: str, seen: bytearray) -> None:
        """End the batch's cells that neither file had: expired, cancelled or failed."""
        record = slots.record
        state = record.state
        message = _expired(provider)
        kind = ErrorKind.EXPIRED
        if state is BatchState.FAILED:
            kind = ErrorKind.BAD_RESPONSE
            message = one_line(
                f"{provider}: the batch failed: {record.message or 'no reason given'}. "
                "Fix the request and retry the cells."
            )
        for offset in range(slots.size):
            if offset and offset % 1000 == 0:
                self._flush_ended()
                await asyncio.sleep(0)
            if seen[offset]:
                continue
            cell_id = slots.cell_id(offset)
            if state is BatchState.CANCELLED or (
                self._cancelling and state is not BatchState.FAILED
            ):
                self._end_cancelled(cell_id)
            else:
                self._end_failed(cell_id, kind, message)
        self._flush_ended()

    def _end_done(self, result: LineResult, col: int) -> None:
        t = self._now()
        tokens, estimated = result.output_tokens, False
        if tokens is None:
            tokens, estimated = estimate_tokens(result.text), True
        input_tokens, input_estimated = result.input_tokens, False
        if input_tokens is None:  # no usage in the line: the prompt counted as a live cell's
            input_tokens = messages_tokens(self.spec.messages(result.custom_id), approx_tokens)
            input_estimated = True
        price = self._prices[col]
        cost = None if price is None else batch_price(price.cost(input_tokens, tokens))
        schema_valid = schema_error = None
        if self.spec.json_schema is not None and self.spec.threads is None:
            verdict = check_answer(self.spec.json_schema, result.text)
            schema_valid, schema_error = verdict.valid, verdict.error
        metrics = CellMetrics(  # made whole: dataclasses.replace costs 100,000 times over
            queued_at=0.0,
            started_at=0.0,
            first_token_at=None,
            ended_at=t,
            waited=0.0,
            ttft=None,
            latency=None,
            output_tokens=tokens,
            tokens_estimated=estimated,
            tokens_per_second=None,
            retries=0,
            finish_reason=result.finish_reason,
            input_tokens=input_tokens,
            input_estimated=input_estimated,
            cost_usd=cost,
            schema_valid=schema_valid,
            schema_error=schema_error,
            batch=True,
        )
        self._counts["done"] += 1
        self.totals.add(metrics)
        self._ended.append(ev.CellFinished(self.id, t, result.custom_id, result.text, metrics))

    def _end_failed(
        self, cell_id: str, kind: ErrorKind, message: str, sent: int | None = None
    ) -> None:
        """End a cell failed; ``sent``: the cell's column when its request ran at the
        provider (an error line), so it counts as a request (of no tokens) in the totals."""
        t = self._now()
        self._counts["failed"] += 1
        self._failures[str(kind)] = self._failures.get(str(kind), 0) + 1
        metrics = _metrics(t, 0, True, sent=sent is not None)
        if sent is not None:
            price = self._prices[sent]
            metrics = replace(metrics, cost_usd=None if price is None else 0.0)
            self.totals.add(metrics)
        self._ended.append(ev.CellFailed(self.id, t, cell_id, kind, message, "", metrics))

    def _end_cancelled(self, cell_id: str, reason: str = CANCELLED_BATCH) -> None:
        t = self._now()
        self._counts["cancelled"] += 1
        self._ended.append(ev.CellCancelled(self.id, t, cell_id, reason, "", _metrics(t, 0, True)))

    def _flush_ended(self) -> None:
        """Store the cells ended since the last call in one go, then report each."""
        ended, self._ended = self._ended, []
        if not ended:
            return
        if self._store is not None:
            self._store.batch_cells_ended(self.id, ended)
        judge = self._judge()
        for event in ended:
            self._emit(event)
            if isinstance(event, ev.CellFinished):
                self._start_checks(event.cell_id, event.text)
            if judge is not None and isinstance(
                event, ev.CellFinished | ev.CellFailed | ev.CellCancelled
            ):
                # After the subscribers, as the live engine: the end is seen before the call.
                judge.cell_ended(
                    event.cell_id, event.text if isinstance(event, ev.CellFinished) else None
                )

    def _judge_landed(self) -> None:
        """Hand the judge the cells an earlier process left unjudged, as if they had just
        ended here: single mode judges each done one, pairwise counts them towards their
        rows (a row is compared once its cells in this process's batches land too)."""
        landed, self._landed = self._landed, ()
        judge = self._judge() if landed else None
        if judge is None:
            return
        for cell_id, text in landed:
            judge.cell_ended(cell_id, text)

    def _judge(self) -> JudgeLane | None:
        """The run's judge lane, made on first use; ``None`` when the run is not judged."""
        if self.judge is None and self._judge_backend is not None and not self._cancelling:
            self.judge = JudgeLane(
                self.id,
                self.spec,
                self.cells,
                self._judge_backend(),
                self._emit,
                self._now,
                lambda: self.spec.limits,
                self._rng,
            )
        return self.judge

    def _start_checks(self, cell_id: str, text: str) -> None:
        """The run's checks on a done cell, as the live engine runs them."""
        checker = self._checker
        if checker is None:
            return
        cell = self.cells.get(cell_id)
        if cell is None:
            return

        async def check() -> None:
            try:
                results = await checker.evaluate(text, cell.inputs)
            except Exception:
                log.exception("checks of cell %s failed", cell_id)
                return
            self._emit(ev.CellChecked(self.id, self._now(), cell_id, results))

        task = asyncio.get_running_loop().create_task(
            check(), name=f"fanout-checks:{self.id}:{cell_id}"
        )
        self._check_tasks.add(task)
        task.add_done_callback(self._check_tasks.discard)


def _metrics(
    t: float,
    tokens: int,
    estimated: bool,
    finish_reason: str | None = None,
    *,
    sent: bool = False,
) -> CellMetrics:
    """A batch cell's metrics: no timings of its own (the provider ran it), its usage.

    ``sent``: the request ran at the provider, so the cell counts in the run's tokens and
    cost (``started_at`` is the run's start: a batch request has no start of its own).
    """
    return CellMetrics(
        queued_at=0.0,
        started_at=0.0 if sent else None,
        first_token_at=None,
        ended_at=t,
        waited=0.0,
        ttft=None,
        latency=None,
        output_tokens=tokens,
        tokens_estimated=estimated,
        tokens_per_second=None,
        retries=0,
        finish_reason=finish_reason,
        batch=True,
    )


def _remove_tree(folder: Path) -> None:
    """Delete a work folder of ours (flat: files only) and what is in it."""
    if not folder.exists():
        return
    for child in folder.iterdir():
        child.unlink(missing_ok=True)
    folder.rmdir()
