"""The batch executor: a run's cells sent to a provider's Batch API, results ingested later.

The cells become request lines of the OpenAI batch format (``custom_id`` = the cell id, the
messages and parameters a live cell would send), written as JSONL files a line at a time and
split under a line and a byte limit, one file per model column at least (a batch holds one
model, and each column may be on its own server). Each file is uploaded and becomes one
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
import time
import uuid
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, Protocol

import orjson

from gui.core import events as ev
from gui.core.checking import CheckRunner
from gui.core.errors import ErrorKind, one_line
from gui.core.metrics import CellMetrics, RunSummary, estimate_tokens
from gui.core.spec import Cell, CellId, CellList, ModelProfile, RunSpec

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
    "batch_price",
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

    Attributes:
        run_id: The run.
        file_index: Position of its request file in the run (0-based).
        col: The model column its requests are for.
        first_row: The input row of its first request.
        rows: How many requests (rows of that column) it holds.
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
        return out


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
    """One written request file: the requests of one column's consecutive rows.

    Attributes:
        index: Its position in the run.
        col: The model column.
        first_row: The input row of its first line.
        rows: Its lines.
        size: Its bytes.
        path: Where it was written.
    """

    index: int
    col: int
    first_row: int
    rows: int
    size: int
    path: Path


_ROLES = {"human": "user", "ai": "assistant"}


def request_line(spec: RunSpec, cell: Cell) -> dict[str, Any]:
    """The batch request of one cell: the messages and parameters a live cell sends."""
    profile = cell.model
    body: dict[str, Any] = {
        "model": profile.model,
        "messages": [
            {"role": _ROLES.get(role, role), "content": text}
            for role, text in spec.messages(cell.id)
        ],
    }
    if profile.temperature is not None:
        body["temperature"] = profile.temperature
    if profile.max_tokens is not None:
        body["max_tokens"] = profile.max_tokens
    return {"custom_id": cell.id, "method": "POST", "url": BATCH_ENDPOINT, "body": body}


def write_request_files(spec: RunSpec, folder: Path, limits: BatchLimits) -> list[RequestFile]:
    """Write the run's request files into ``folder``, a line at a time.

    Each column gets its own files (a batch holds one model, on one server); a file ends
    before a line would take it past ``limits.max_lines`` or ``limits.max_bytes``. A single
    request larger than the byte limit still gets a file of its own (the provider says no).
    Blocking: call it in a worker thread.
    """
    folder.mkdir(parents=True, exist_ok=True)
    cells = CellList(spec.rows, spec.models)
    n_models = len(spec.models)
    out: list[RequestFile] = []
    for col in range(n_models):
        writer: _FileWriter | None = None
        for row in range(len(spec.rows)):
            line = (
                json.dumps(request_line(spec, cells[row * n_models + col]), ensure_ascii=False)
                + "\n"
            ).encode("utf-8")
            if writer is not None and not writer.fits(line, limits):
                out.append(writer.close())
                writer = None
            if writer is None:
                writer = _FileWriter(folder / f"requests-{len(out):04d}.jsonl", len(out), col, row)
            writer.write(line)
        if writer is not None:
            out.append(writer.close())
    return out


class _FileWriter:
    """One request file being written."""

    def __init__(self, path: Path, index: int, col: int, first_row: int) -> None:
        self.path, self.index, self.col, self.first_row = path, index, col, first_row
        self.rows = self.size = 0
        self._file: IO[bytes] = path.open("wb")

    def fits(self, line: bytes, limits: BatchLimits) -> bool:
        return self.rows < limits.max_lines and self.size + len(line) <= limits.max_bytes

    def write(self, line: bytes) -> None:
        self._file.write(line)
        self.rows += 1
        self.size += len(line)

    def close(self) -> RequestFile:
        self._file.close()
        return RequestFile(self.index, self.col, self.first_row, self.rows, self.size, self.path)


def retry_specs(spec: RunSpec, cell_ids: Sequence[str]) -> list[tuple[RunSpec, dict[str, str]]]:
    """The runs that send ``cell_ids`` of ``spec`` again (failed or expired cells of a batch
    run): one per model column, with that column's rows of those cells, and each run's cell
    ids mapped to the original run's (for ``History.recorder(into_run=..., cell_map=...)``).
    """
    by_col: dict[int, set[int]] = {}
    for cell_id in cell_ids:
        try:
            at = CellId.parse(cell_id)
        except ValueError:
            continue
        if at.col < len(spec.models) and at.row < len(spec.rows):
            by_col.setdefault(at.col, set()).add(at.row)
    out: list[tuple[RunSpec, dict[str, str]]] = []
    for col, rows in sorted(by_col.items()):
        ordered = sorted(rows)
        sub = replace(
            spec,
            rows=tuple(spec.rows[r] for r in ordered),
            models=(spec.models[col],),
            judge=None,
        )
        cell_map = {CellId.text(i, 0): CellId.text(r, col) for i, r in enumerate(ordered)}
        out.append((sub, cell_map))
    return out


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


def read_results(path: Path, chunk: int, provider: str) -> Generator[list[LineResult], None, None]:
    """The results of an output or error file, ``chunk`` lines at a time (blocking reads:
    drive it from a worker thread)."""
    with path.open("rb") as f:
        batch: list[LineResult] = []
        for line in f:
            if not line.strip():
                continue
            result = parse_result_line(line, provider)
            if result is not None:
                batch.append(result)
            if len(batch) >= chunk:
                yield batch
                batch = []
        if batch:
            yield batch


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
    ) -> None:
        self.id = run_id or f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        self.spec = spec
        self.cells = CellList(spec.rows, spec.models)
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
        #: Cells ended since the last :meth:`_flush_ended`: stored in one go, then reported.
        self._ended: list[ev.Event] = []

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
    ) -> BatchRun:
        """A run submitted earlier (by this or another process), picked up from its
        ``records``: polling goes on and results land in the same run.

        Args:
            prior: Cells of the run that ended before, by status (``done``, ``failed``,
                ``cancelled``), not counting those of the batches still open.
            started_at: Epoch seconds the run was created.
        """
        run = cls(spec, ports, store, workdir, limits=limits, run_id=run_id)
        run.batches = {r.file_index: r for r in records}
        run._resume = _Resume(started_at, dict(prior or {}))
        for status, n in (prior or {}).items():
            if status in run._counts:
                run._counts[status] += n
        return run

    # ---------------------------------------------------------------- Executor API

    @property
    def finished(self) -> bool:
        """Whether the run has ended."""
        return self.summary is not None

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
            port = self._ports[col] = self._make_port(self.spec.models[col])
        return port

    async def _main(self) -> RunSummary | None:
        try:
            if self._resume is None:
                self._emit(ev.RunStarted(self.id, 0.0, self.spec, self.cells, time.time()))
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
                    log.warning("batch submit of run %s failed", self.id, exc_info=True)
                    self.error = one_line(f"The batch could not be submitted: {exc}")
                    message = self.error
                    await self._end_unheld(lambda c: self._end_failed(c, ErrorKind.OTHER, message))
                else:
                    if self._cancelling:  # cancelled while submitting: the rest never went
                        await self._end_unheld(self._end_cancelled)
                if not self.batches:
                    return self._finish()
                if not self.wait_for_results:
                    return None
            else:
                started = self._resume.started_at
                self._emit(ev.RunStarted(self.id, self._now(), self.spec, self.cells, started))
            await self._poll_until_done()
            if self._check_tasks:
                await asyncio.wait(set(self._check_tasks))
            return self._finish()
        finally:
            for port in self._ports.values():
                try:
                    await port.aclose()
                except Exception:
                    log.debug("closing a batch port failed", exc_info=True)

    def _finish(self) -> RunSummary:
        c = self._counts
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
        )
        self._emit(ev.RunFinished(self.id, self._now(), self.summary))
        return self.summary

    async def _submit(self) -> None:
        """Write, upload and create every batch; each is recorded the moment it exists."""
        folder = self._workdir / f"{self.id}-requests"
        files = await asyncio.to_thread(write_request_files, self.spec, folder, self.limits)
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
        held = {
            (r.col, row)
            for r in self.batches.values()
            for row in range(r.first_row, r.first_row + r.rows)
        }
        n_models = len(self.spec.models)
        for n, cell_id in enumerate(self.cells.ids()):
            if n and n % 1000 == 0:
                self._flush_ended()
                await asyncio.sleep(0)
            row, col = divmod(n, n_models)
            if (col, row) not in held:
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
        try:
            status = await self._port(record.col).cancel(record.batch_id)
        except Exception as exc:
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
        self._emit(ev.RunStarted(self.id, self._now(), self.spec, self.cells, started))
        chunks = read_results(path, self.limits.ingest_chunk, "The batch output")
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
        provider = self.spec.models[record.col].provider_name
        seen = bytearray(record.rows)
        folder = self._workdir / f"{self.id}-results-{record.file_index}"
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
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
                await self._ingest_file(path, record, provider, seen)
            await self._end_missing(record, provider, seen)
        finally:
            await asyncio.to_thread(_remove_tree, folder)
        self._update(replace(record, ingested_at=time.time()))

    async def _ingest_file(
        self, path: Path, record: BatchRecord, provider: str, seen: bytearray
    ) -> None:
        """End the cells of one result file, a chunk of lines per loop step."""
        chunks = read_results(path, self.limits.ingest_chunk, provider)
        done = object()
        try:
            while True:
                chunk = await asyncio.to_thread(next, chunks, done)
                if chunk is done:
                    break
                assert isinstance(chunk, list)
                # The cells' events are made in the worker thread too: the loop only stores
                # and reports them (40 us a line on a busy machine, 40 ms a chunk, otherwise).
                await asyncio.to_thread(self._end_lines, chunk, record, seen)
                self._flush_ended()
                await asyncio.sleep(0)
        finally:
            await asyncio.to_thread(chunks.close)

    def ingest_lines(
        self, results: Sequence[LineResult], record: BatchRecord | None, seen: bytearray | None
    ) -> int:
        """End the cells ``results`` are about; returns how many were this run's.

        A line for a cell outside ``record`` (or the run), or for a cell already ended,
        is ignored. ``seen`` marks the record's rows that had a line.
        """
        used = self._end_lines(results, record, seen)
        self._flush_ended()
        return used

    def _end_lines(
        self, results: Sequence[LineResult], record: BatchRecord | None, seen: bytearray | None
    ) -> int:
        """Make the ended-cell events of ``results`` (kept for :meth:`_flush_ended`); safe in
        a worker thread while the loop awaits it (nothing else touches what it changes)."""
        n_models = len(self.spec.models)
        used = 0
        for result in results:
            try:
                cid = CellId.parse(result.custom_id)
            except ValueError:
                continue
            if cid.col >= n_models or cid.row >= len(self.spec.rows):
                continue
            if record is not None:
                offset = cid.row - record.first_row
                if cid.col != record.col or not 0 <= offset < record.rows:
                    continue
                if seen is not None:
                    if seen[offset]:
                        continue
                    seen[offset] = 1
            used += 1
            if result.ok:
                self._end_done(result)
            elif (
                record is not None
                and record.state is BatchState.CANCELLED
                and result.kind is ErrorKind.EXPIRED
            ):
                self._end_cancelled(result.custom_id)
            else:
                self._end_failed(result.custom_id, result.kind or ErrorKind.OTHER, result.message)
        return used

    async def _end_missing(self, record: BatchRecord, provider: str, seen: bytearray) -> None:
        """End the record's cells that neither file had: expired, cancelled or failed."""
        state = record.state
        message = _expired(provider)
        kind = ErrorKind.EXPIRED
        if state is BatchState.FAILED:
            kind = ErrorKind.BAD_RESPONSE
            message = one_line(
                f"{provider}: the batch failed: {record.message or 'no reason given'}. "
                "Fix the request and retry the cells."
            )
        text = CellId.text
        for offset in range(record.rows):
            if offset and offset % 1000 == 0:
                self._flush_ended()
                await asyncio.sleep(0)
            if seen[offset]:
                continue
            cell_id = text(record.first_row + offset, record.col)
            if state is BatchState.CANCELLED or (
                self._cancelling and state is not BatchState.FAILED
            ):
                self._end_cancelled(cell_id)
            else:
                self._end_failed(cell_id, kind, message)
        self._flush_ended()

    def _end_done(self, result: LineResult) -> None:
        t = self._now()
        tokens, estimated = result.output_tokens, False
        if tokens is None:
            tokens, estimated = estimate_tokens(result.text), True
        metrics = _metrics(t, tokens, estimated, result.input_tokens, result.finish_reason)
        self._counts["done"] += 1
        self._ended.append(ev.CellFinished(self.id, t, result.custom_id, result.text, metrics))

    def _end_failed(self, cell_id: str, kind: ErrorKind, message: str) -> None:
        t = self._now()
        self._counts["failed"] += 1
        self._failures[str(kind)] = self._failures.get(str(kind), 0) + 1
        self._ended.append(
            ev.CellFailed(self.id, t, cell_id, kind, message, "", _metrics(t, 0, True))
        )

    def _end_cancelled(self, cell_id: str) -> None:
        t = self._now()
        self._counts["cancelled"] += 1
        self._ended.append(
            ev.CellCancelled(self.id, t, cell_id, CANCELLED_BATCH, "", _metrics(t, 0, True))
        )

    def _flush_ended(self) -> None:
        """Store the cells ended since the last call in one go, then report each."""
        ended, self._ended = self._ended, []
        if not ended:
            return
        if self._store is not None:
            self._store.batch_cells_ended(self.id, ended)
        for event in ended:
            self._emit(event)
            if isinstance(event, ev.CellFinished):
                self._start_checks(event.cell_id, event.text)

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
    input_tokens: int | None = None,
    finish_reason: str | None = None,
) -> CellMetrics:
    """A batch cell's metrics: no timings of its own (the provider ran it), its usage."""
    return CellMetrics(
        queued_at=0.0,
        started_at=None,
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
        input_tokens=input_tokens,
        batch=True,
    )


def _remove_tree(folder: Path) -> None:
    """Delete a work folder of ours (flat: files only) and what is in it."""
    if not folder.exists():
        return
    for child in folder.iterdir():
        child.unlink(missing_ok=True)
    folder.rmdir()
