"""Run history: every run and every cell, kept in one SQLite database in the data directory.

:meth:`History.recorder` makes a subscriber for :meth:`gui.core.runner.Run.subscribe`. It runs
on the caller's thread (the GUI/asyncio thread) for every engine event, so it only drops the
few events that matter (run start, each cell's end, run end) into a queue and returns; one
writer thread with its own connection drains the queue and commits each batch in one
transaction as soon as it arrives, so a cell is on disk a few milliseconds after it ends.
The run row is queued on ``RunStarted``, before any request goes out.

The file is in WAL mode with ``synchronous=NORMAL``: a ``kill -9`` loses nothing that was
committed and never corrupts the file; a power cut may lose the last few transactions (the
WAL is synced at checkpoints). Readers use their own connection and do not wait for the
writer; every read method is safe from any thread (the window calls them through
``asyncio.to_thread``), and another process (a CLI run while the window is open) may use the
same file at the same time.

Each running run records its writer's process id and start time. :meth:`History.open` marks
``running`` runs whose process is gone as ``interrupted``; runs of live processes, this one
included, are left alone. :meth:`History.close` marks this instance's own unfinished runs
interrupted.

:meth:`History.open` never raises and never leaves the app in a crash loop: a file it cannot
read is moved aside (``history.sqlite3.corrupt-YYYYmmdd-HHMMSS``, with its ``-wal``/``-shm``)
and a new one started; when not even that works, history lives in memory for the session.
Either way :attr:`History.notice` holds one line for the user.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import queue
import re
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from gui.core import events as ev
from gui.core.events import Event, TextChunk
from gui.core.metrics import CellMetrics
from gui.core.runner import CANCELLED_SHUTDOWN
from gui.core.spec import Cell, RunSpec, spec_from_dict, spec_to_dict
from gui.storage import paths, schema

__all__ = [
    "CELL_STATUSES",
    "RUN_STATUSES",
    "AmbiguousRunId",
    "History",
    "HistoryError",
    "RunRecord",
    "StoredCell",
    "StoredRun",
]

log = logging.getLogger(__name__)

RUNNING: Final = "running"
FINISHED: Final = "finished"
CANCELLED: Final = "cancelled"
INTERRUPTED: Final = "interrupted"
#: Run statuses: recording, ended, stopped by the user, or the app ended while it ran.
RUN_STATUSES = (RUNNING, FINISHED, CANCELLED, INTERRUPTED)
#: Cell statuses (only cells that ended are stored).
CELL_STATUSES = ("done", "failed", "cancelled")

_BUSY_TIMEOUT_S = 5.0
_SQLITE_HEADER = b"SQLite format 3\x00"
_BATCH_MAX = 2000


class HistoryError(Exception):
    """The history cannot do what was asked; ``str()`` is one line for the user."""


class AmbiguousRunId(HistoryError):
    """A run id prefix matches more than one run."""


# ------------------------------------------------------------------------- records


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
        cell_id: Id within the run (``r{row}m{col}``).
        row: Input row index (0-based).
        col: Model column index (0-based).
        inputs: The row's variable values.
        model: The model's display name.
        status: ``done``, ``failed`` or ``cancelled``.
        text: The answer (the partial text for failed and cancelled cells).
        error_kind: Error kind (``cancelled`` for cancelled cells), ``None`` when done or
            unknown (cells migrated from schema 1).
        error: One-line error message, or the cancel reason; ``None`` when done.
        metrics: Timings and tokens, or ``None`` if none were recorded.
        ended_at: Wall-clock epoch seconds when the cell ended.
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
    """

    spec: RunSpec
    cells: tuple[StoredCell, ...]
    summary: Mapping[str, Any] = field(default_factory=dict)

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
        return out


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
}


def metrics_from_dict(data: Mapping[str, Any] | None) -> CellMetrics | None:
    """The metrics ``dataclasses.asdict(CellMetrics)`` wrote; missing fields get defaults."""
    if not isinstance(data, Mapping):
        return None
    known = {k: data[k] for k in _METRIC_DEFAULTS if k in data}
    return CellMetrics(**{**_METRIC_DEFAULTS, **known})


# ------------------------------------------------------------------------- processes


def _linux_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) from ``/proc``, or ``None`` if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return None
    fields = text[text.rfind(")") + 2 :].split()  # fields[0] is field 3 of proc(5)
    return fields[0], fields[19]


def _process_start(pid: int) -> str | None:
    """A token that differs between two processes that had the same pid, where available."""
    if sys.platform.startswith("linux"):
        stat = _linux_stat(pid)
        return stat[1] if stat else None
    return None


_SELF_PID = os.getpid()
_SELF_START = _process_start(_SELF_PID)


if sys.platform == "win32":  # pragma: no cover - checked by mypy only on Windows

    def _win_alive(pid: int) -> bool:
        import ctypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return bool(ctypes.get_last_error() == 5)  # ERROR_ACCESS_DENIED: it exists
        try:
            code = ctypes.c_ulong()
            kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
            return bool(code.value == 259)  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)


def process_alive(pid: int | None, start: str | None) -> bool:
    """Whether the process that wrote a run (``pid`` started at ``start``) still runs.

    On Linux the start time from ``/proc`` tells a reused pid from the original, and a
    zombie counts as gone. Elsewhere the pid alone decides (a reused pid keeps a dead run
    ``running`` until that process ends too: wrong in the safe direction). On Windows
    ``os.kill(pid, 0)`` would terminate the process, so it asks ``OpenProcess`` instead.
    """
    if pid is None:
        return False
    if pid == _SELF_PID:
        return start is None or _SELF_START is None or start == _SELF_START
    if sys.platform.startswith("linux"):
        stat = _linux_stat(pid)
        if stat is None or stat[0] in ("Z", "X", "x"):
            return False
        return start is None or stat[1] == start
    if sys.platform == "win32":  # pragma: no cover
        return _win_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: someone else's live process
        return True
    return True


# ------------------------------------------------------------------------- writer items


@dataclass(slots=True)
class _Context:
    """What one recorder adds to its events."""

    label: str | None
    into_run: str | None
    cell_map: dict[str, str]


@dataclass(slots=True)
class _Live:
    """Writer-side state of a run being recorded."""

    target: str  # the run row the cells go into
    started_at: float
    cells: dict[str, Cell]
    context: _Context
    shutdown: bool = False  # some cell was cancelled because the run was stopped


@dataclass(slots=True)
class _Flush:
    done: threading.Event = field(default_factory=threading.Event)


@dataclass(slots=True)
class _Delete:
    run_id: str
    done: threading.Event = field(default_factory=threading.Event)
    deleted: bool = False


_STOP: Final = object()

#: Events the recorder keeps; everything else (TextChunk first of all) is dropped at once.
_RECORDED: frozenset[type[Event]] = frozenset(
    {ev.RunStarted, ev.CellFinished, ev.CellFailed, ev.CellCancelled, ev.RunFinished}
)

_CELL_ID_RE = re.compile(r"r(\d+)m(\d+)\Z")

_RUN_COLUMNS = (
    "id, created_at, finished_at, status, template, strategy, total, done, failed, cancelled,"
    " wall, label"
)


def _fold(text: object) -> str | None:
    return None if text is None else str(text).casefold()


def _why(exc: BaseException) -> str:
    """A short reason for an OS or SQLite error."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower() if exc.strerror[:1].isupper() else exc.strerror
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _is_busy(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and (
        "locked" in str(exc) or "busy" in str(exc)
    )


def _leave_alone(exc: BaseException) -> bool:
    """Errors that say nothing about the file's health: it must not be moved aside."""
    return _is_busy(exc) or (isinstance(exc, sqlite3.OperationalError) and "full" in str(exc))


class _Busy(Exception):
    """The file may be fine, but cannot be used now (locked past the timeout, disk full)."""


class _Unreadable(Exception):
    """The file is not a history database we can use."""


def _connect(target: str | Path, *, uri: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(
        target,
        timeout=_BUSY_TIMEOUT_S,
        isolation_level=None,  # autocommit; transactions are explicit
        check_same_thread=False,  # each connection is guarded by one lock (see History)
        uri=uri,
    )
    conn.create_function("fold", 1, _fold, deterministic=True)
    return conn


def _backup_name(target: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate = target.with_name(f"{target.name}.corrupt-{stamp}")
    n = 2
    while candidate.exists() or candidate.is_symlink():
        candidate = target.with_name(f"{target.name}.corrupt-{stamp}-{n}")
        n += 1
    return candidate


def _move_aside(target: Path) -> Path | None:
    """Rename ``target`` (and its ``-wal``/``-shm``) to a backup; ``None`` if nothing is there."""
    if not (target.exists() or target.is_symlink()):
        return None
    backup = _backup_name(target)
    os.replace(target, backup)
    for suffix in ("-wal", "-shm", "-journal"):
        side = target.with_name(target.name + suffix)
        if side.exists():
            try:
                os.replace(side, backup.with_name(backup.name + suffix))
            except OSError as exc:  # the main file is safe; a stale side file is harmless
                log.warning("could not move %s aside: %s", side, exc)
    return backup


# ------------------------------------------------------------------------- History


class History:
    """The run history database; create with :meth:`History.open`.

    Attributes:
        path: The database file (where it would be, when history is off).
        notice: One line for the user when :meth:`open` had to recover, else ``None``.
        persistent: Whether runs are written to ``path`` (``False``: kept in memory for
            this session only).
        read_only: Whether new runs are not recorded at all (a newer app's database).
    """

    def __init__(
        self,
        path: Path,
        writer: sqlite3.Connection | None,
        reader: sqlite3.Connection,
        *,
        notice: str | None = None,
        persistent: bool = True,
        shared_connection: bool = False,
    ) -> None:
        """Use :meth:`open`; this only wires connections that are ready."""
        self.path = path
        self.notice = notice
        self.persistent = persistent
        self.read_only = writer is None
        self._reader = reader
        self._read_lock = threading.Lock()
        # In memory there is one connection for both sides, so the writer takes the readers'
        # lock; on a file the writer's lock is its own and never contended.
        self._write_lock = self._read_lock if shared_connection else threading.Lock()
        self._writer = writer
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._live: dict[str, _Live] = {}
        self._thread: threading.Thread | None = None
        self._closed = False
        #: The last error the writer hit (logged too), or ``None``.
        self.last_error: str | None = None

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: Path | None = None) -> History:
        """Open (creating or migrating) the history at ``path`` (default: the data dir's).

        Never raises. A file that cannot be read (not a database, truncated, a folder in
        its place, no permission) is moved aside and a new one started; if no file can be
        created, history is kept in memory for this session. A database written by a newer
        version (higher ``user_version``) is opened read-only: its runs stay visible and
        untouched (so going back to the newer version loses nothing, and nothing is written
        in a layout this code does not know), but new runs are not recorded. In each case
        :attr:`notice` says what happened in one line.
        """
        try:
            target = Path(path) if path is not None else paths.history_path()
        except OSError as exc:
            return cls._in_memory(
                Path("history.sqlite3"),
                f"History is off for this session: the data folder cannot be created ({_why(exc)}).",
            )
        try:
            return cls._open_file(target)
        except _Busy as exc:
            return cls._in_memory(
                target, f"History is off for this session: {target} cannot be used now ({exc})."
            )
        except Exception as exc:
            first = _why(exc)
            log.warning("history %s unreadable: %s", target, first)
        try:
            backup = _move_aside(target)
        except OSError as exc:
            return cls._in_memory(
                target,
                f"History is off for this session: {target} cannot be read ({first}) nor moved aside ({_why(exc)}).",
            )
        if backup is None:
            return cls._in_memory(
                target, f"History is off for this session: cannot create {target} ({first})."
            )
        try:
            history = cls._open_file(target)
        except Exception as exc:
            return cls._in_memory(
                target,
                f"History is off for this session: the old database was unreadable ({first}) and moved to {backup}, and a new one cannot be created ({_why(exc)}).",
            )
        history.notice = f"The history database could not be read ({first}); it was moved to {backup} and a new one was started."
        return history

    @classmethod
    def _open_file(cls, target: Path) -> History:
        if target.is_dir():
            raise _Unreadable("a folder is in its place")
        if target.exists():
            # Checked before SQLite opens it: on close SQLite deletes the -wal/-shm beside a
            # file it cannot read, and those belong in the backup.
            with target.open("rb") as f:
                head = f.read(len(_SQLITE_HEADER))
            if head and head != _SQLITE_HEADER:
                raise _Unreadable("file is not a database")
        writer = _connect(target)
        reader: sqlite3.Connection | None = None
        try:
            try:
                version = schema.user_version(writer)
                if version > schema.SCHEMA_VERSION:
                    writer.close()
                    return cls._read_only(target, version)
                mode = writer.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    log.warning("history %s: WAL not available (journal mode %s)", target, mode)
                writer.execute("PRAGMA synchronous=NORMAL")
                check = writer.execute("PRAGMA quick_check").fetchall()
                if check != [("ok",)]:
                    raise _Unreadable(f"integrity check failed: {check[0][0]}")
                schema.migrate(writer)
                writer.execute("PRAGMA foreign_keys=ON")
                reader = _connect(target)
                reader.execute("PRAGMA foreign_keys=ON")
                reader.execute("SELECT count(*) FROM runs").fetchone()
            except sqlite3.Error as exc:
                if _leave_alone(exc):
                    raise _Busy(_why(exc)) from exc
                raise
        except BaseException:
            writer.close()
            if reader is not None:
                reader.close()
            raise
        history = cls(target, writer, reader)
        try:
            history._mark_interrupted()
        except sqlite3.Error as exc:  # busy: harmless, the next open tries again
            log.warning("history: could not mark interrupted runs (%s)", exc)
        history._start()
        return history

    @classmethod
    def _read_only(cls, target: Path, version: int) -> History:
        reader = _connect(f"{target.resolve().as_uri()}?mode=ro", uri=True)
        return cls(
            target,
            None,
            reader,
            notice=(
                f"The history at {target} was written by a newer Fanout Studio (schema {version}, "
                f"this one knows {schema.SCHEMA_VERSION}): it is shown read-only and new runs are not recorded."
            ),
        )

    @classmethod
    def _in_memory(cls, target: Path, notice: str) -> History:
        log.warning("%s", notice)
        conn = _connect(":memory:")
        schema.migrate(conn)
        conn.execute("PRAGMA foreign_keys=ON")
        history = cls(target, conn, conn, notice=notice, persistent=False, shared_connection=True)
        history._start()
        return history

    def _start(self) -> None:
        self._thread = threading.Thread(
            target=self._writer_main, name="fanout-history-writer", daemon=True
        )
        self._thread.start()
        # A daemon thread so a History nobody closed cannot hang the exit; atexit still
        # flushes it (atexit runs before daemon threads are stopped).
        atexit.register(self.close)

    def _mark_interrupted(self) -> None:
        """Mark ``running`` runs whose writing process is gone as ``interrupted``."""
        assert self._writer is not None
        rows = self._writer.execute(
            "SELECT id, owner_pid, owner_start FROM runs WHERE status = ?", (RUNNING,)
        ).fetchall()
        dead = [run_id for run_id, pid, start in rows if not process_alive(pid, start)]
        if dead:
            with self._write_lock:
                self._writer.execute("BEGIN IMMEDIATE")
                try:
                    for run_id in dead:
                        self._interrupt(run_id)
                    self._writer.execute("COMMIT")
                except BaseException:
                    self._writer.execute("ROLLBACK")
                    raise
            log.info("history: %d run(s) marked interrupted", len(dead))

    def _interrupt(self, run_id: str) -> None:
        assert self._writer is not None
        self._recount(run_id)
        self._writer.execute(
            """UPDATE runs SET status = ?,
                   finished_at = COALESCE(
                       (SELECT max(ended_at) FROM cells WHERE run_id = runs.id), created_at)
               WHERE id = ? AND status = ?""",
            (INTERRUPTED, run_id, RUNNING),
        )

    # ------------------------------------------------------------------ recording

    def recorder(
        self,
        *,
        label: str | None = None,
        into_run: str | None = None,
        cell_map: Mapping[str, str] | None = None,
    ) -> Callable[[Event], None]:
        """A subscriber for :meth:`~gui.core.runner.Run.subscribe` that records the run.

        Subscribe it before the run starts (right after :meth:`Runner.start` returns is
        still in time: ``RunStarted`` comes from the run's first task step). It returns in
        about a microsecond: text chunks are dropped at once, the few other events that
        matter are queued for the writer thread.

        Args:
            label: Free label stored with the run (e.g. ``comparison: gather``).
            into_run: Id of an earlier run this run retries cells of: no new run is made;
                each ended cell replaces the matching cell of ``into_run`` and that run's
                counts are recomputed.
            cell_map: With ``into_run``: this run's cell ids to the earlier run's
                (``{"r0m0": "r2m1"}``); ids not in it map to themselves.
        """
        if self._writer is None or self._closed:

            def off(event: Event) -> None:
                """History is read-only or closed: nothing is recorded."""

            return off
        context = _Context(label, into_run, dict(cell_map or {}))
        put = self._queue.put
        chunk = TextChunk
        recorded = _RECORDED

        def record(event: Event) -> None:
            kind = type(event)
            if kind is chunk:
                return
            if kind in recorded:
                put((context, event))

        return record

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far is committed; ``False`` on timeout."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return self._queue.empty()
        marker = _Flush()
        self._queue.put(marker)
        return marker.done.wait(timeout)

    def close(self) -> None:
        """Flush, mark this instance's unfinished runs interrupted, stop the writer. Idempotent."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._queue.put(_STOP)
            thread.join(timeout=_BUSY_TIMEOUT_S * 2)
            if thread.is_alive():
                log.error("history writer did not stop; some rows may be missing")
                return  # leave its connection to it
        with self._read_lock:
            self._reader.close()
            if self._writer is not None and self._writer is not self._reader:
                self._writer.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writer thread

    def _writer_main(self) -> None:
        get, get_nowait = self._queue.get, self._queue.get_nowait
        stopping = False
        while not stopping:
            batch = [get()]
            while len(batch) < _BATCH_MAX:
                try:
                    batch.append(get_nowait())
                except queue.Empty:
                    break
            waiters: list[_Flush | _Delete] = []
            work: list[Any] = []
            for item in batch:
                if item is _STOP:
                    stopping = True
                elif isinstance(item, _Flush):
                    waiters.append(item)
                else:
                    work.append(item)
                    if isinstance(item, _Delete):
                        waiters.append(item)
            if stopping:
                work.append(_STOP)
            if work:
                self._commit(work)
            for waiter in waiters:
                waiter.done.set()

    def _commit(self, work: list[Any]) -> None:
        """Apply ``work`` in one transaction, retrying while another process holds the lock."""
        assert self._writer is not None
        conn = self._writer
        for attempt in range(5):
            # A failed transaction is retried from the same state: handlers update _live.
            snapshot = {k: replace(v) for k, v in self._live.items()}
            try:
                with self._write_lock:
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        touched: set[str] = set()
                        retried: set[str] = set()
                        for item in work:
                            self._apply(item, touched, retried)
                        for run_id in touched:
                            self._recount(run_id)
                        for run_id in retried:
                            self._resummarise(run_id)
                        conn.execute("COMMIT")
                    except BaseException:
                        self._live = snapshot
                        with contextlib.suppress(sqlite3.Error):
                            conn.execute("ROLLBACK")
                        raise
                return
            except sqlite3.Error as exc:
                if _is_busy(exc) and attempt < 4:
                    time.sleep(0.05 * (attempt + 1))
                    continue
                self._writer_failed(exc)
                return
            except Exception as exc:  # a bug of ours: keep the thread alive for later runs
                log.exception("history writer failed")
                self._writer_failed(exc)
                return

    def _writer_failed(self, exc: BaseException) -> None:
        self.last_error = f"History could not be written ({_why(exc)})."
        log.error("%s", self.last_error)

    def _apply(self, item: Any, touched: set[str], retried: set[str]) -> None:
        if item is _STOP:
            for run_id, live in list(self._live.items()):
                if live.context.into_run is None:
                    self._interrupt(live.target)
                del self._live[run_id]
            return
        if isinstance(item, _Delete):
            self._delete(item)
            return
        context, event = item
        try:
            if isinstance(event, ev.RunStarted):
                self._run_started(context, event)
            elif isinstance(event, ev.RunFinished):
                self._run_finished(event, touched)
            else:
                self._cell_ended(event, touched, retried)
        except sqlite3.IntegrityError as exc:  # e.g. the run was deleted meanwhile
            log.warning("history: %s dropped (%s)", type(event).__name__, exc)

    def _run_started(self, context: _Context, event: ev.RunStarted) -> None:
        assert self._writer is not None
        cells = {c.id: c for c in event.cells}
        if context.into_run is not None:
            self._live[event.run_id] = _Live(context.into_run, event.started_at, cells, context)
            return
        spec = event.spec
        self._writer.execute(
            """INSERT INTO runs (id, created_at, status, template, system, strategy, spec_json,
                                 total, label, owner_pid, owner_start)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                event.run_id,
                event.started_at,
                RUNNING,
                spec.template,
                spec.system,
                str(spec.strategy),
                json.dumps(spec_to_dict(spec), ensure_ascii=False),
                len(event.cells),
                context.label,
                _SELF_PID,
                _SELF_START,
            ),
        )
        self._writer.executemany(
            "INSERT INTO run_models (run_id, position, name, model) VALUES (?, ?, ?, ?)",
            [(event.run_id, i, m.display_name, m.model) for i, m in enumerate(spec.models)],
        )
        self._live[event.run_id] = _Live(event.run_id, event.started_at, cells, context)

    def _cell_ended(self, event: Event, touched: set[str], retried: set[str]) -> None:
        assert self._writer is not None
        assert isinstance(event, ev.CellFinished | ev.CellFailed | ev.CellCancelled)
        live = self._live.get(event.run_id)
        if live is None:
            return  # subscribed after RunStarted, or the run was deleted
        cell = live.cells.get(event.cell_id)
        if cell is None:
            return
        if isinstance(event, ev.CellFinished):
            status, text, kind, error = "done", event.text, None, None
        elif isinstance(event, ev.CellFailed):
            status, text, kind, error = "failed", event.partial_text, str(event.kind), event.message
        else:
            status, text, kind, error = "cancelled", event.partial_text, "cancelled", event.reason
            live.shutdown = live.shutdown or event.reason == CANCELLED_SHUTDOWN
        cell_id, row, col = cell.id, cell.row, cell.col
        if live.context.into_run is not None:
            cell_id = live.context.cell_map.get(cell.id, cell.id)
            row, col = self._position(live.target, cell_id, (row, col))
            retried.add(live.target)
        self._writer.execute(
            """INSERT OR REPLACE INTO cells (run_id, cell_id, row_index, col_index, inputs_json,
                   model, status, text, error_kind, error, metrics_json, ended_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                live.target,
                cell_id,
                row,
                col,
                json.dumps(dict(cell.inputs), ensure_ascii=False),
                cell.model.display_name,
                status,
                text,
                kind,
                error,
                json.dumps(asdict(event.metrics)),
                live.started_at + event.t,
            ),
        )
        touched.add(live.target)

    def _position(self, run_id: str, cell_id: str, fallback: tuple[int, int]) -> tuple[int, int]:
        """Row and column of ``cell_id`` in ``run_id``: its stored row, else its id's."""
        assert self._writer is not None
        found = self._writer.execute(
            "SELECT row_index, col_index FROM cells WHERE run_id = ? AND cell_id = ?",
            (run_id, cell_id),
        ).fetchone()
        if found:
            return int(found[0]), int(found[1])
        match = _CELL_ID_RE.match(cell_id)
        return (int(match[1]), int(match[2])) if match else fallback

    def _run_finished(self, event: ev.RunFinished, touched: set[str]) -> None:
        assert self._writer is not None
        live = self._live.pop(event.run_id, None)
        if live is None or live.context.into_run is not None:
            return
        s = event.summary
        status = CANCELLED if s.cancelled_by_user else INTERRUPTED if live.shutdown else FINISHED
        summary = {
            "failures_by_kind": dict(s.failures_by_kind),
            "peak_in_flight": s.peak_in_flight,
            "cancelled_by_user": s.cancelled_by_user,
        }
        self._writer.execute(
            """UPDATE runs SET status = ?, finished_at = ?, wall = ?, total = ?, summary_json = ?
               WHERE id = ?""",
            (
                status,
                live.started_at + event.t,
                s.wall,
                s.total,
                json.dumps(summary),
                live.target,
            ),
        )
        touched.add(live.target)

    def _recount(self, run_id: str) -> None:
        assert self._writer is not None
        self._writer.execute(
            """UPDATE runs SET
                   done = (SELECT count(*) FROM cells WHERE run_id = :id AND status = 'done'),
                   failed = (SELECT count(*) FROM cells WHERE run_id = :id AND status = 'failed'),
                   cancelled = (SELECT count(*) FROM cells
                                WHERE run_id = :id AND status = 'cancelled')
               WHERE id = :id""",
            {"id": run_id},
        )

    def _resummarise(self, run_id: str) -> None:
        """After a retry: failures by kind from the cells as they are now."""
        assert self._writer is not None
        found = self._writer.execute(
            "SELECT summary_json FROM runs WHERE id = ?", (run_id,)
        ).fetchone()
        if not found:
            return
        summary = _json_dict(found[0])
        summary["failures_by_kind"] = dict(
            self._writer.execute(
                """SELECT COALESCE(error_kind, 'other'), count(*) FROM cells
                   WHERE run_id = ? AND status = 'failed' GROUP BY 1""",
                (run_id,),
            ).fetchall()
        )
        self._writer.execute(
            "UPDATE runs SET summary_json = ? WHERE id = ?", (json.dumps(summary), run_id)
        )

    def _delete(self, item: _Delete) -> None:
        assert self._writer is not None
        cursor = self._writer.execute("DELETE FROM runs WHERE id = ?", (item.run_id,))
        item.deleted = cursor.rowcount > 0
        for run_id, live in list(self._live.items()):
            if live.target == item.run_id:
                del self._live[run_id]

    # ------------------------------------------------------------------ reading

    def _read(self, what: str, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        if self._closed:
            raise HistoryError(f"History is closed: cannot {what}.")
        try:
            with self._read_lock:
                return fn(self._reader)
        except sqlite3.Error as exc:
            raise HistoryError(f"The history could not be read ({_why(exc)}).") from exc

    def list_runs(
        self,
        query: str = "",
        *,
        model: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 200,
    ) -> list[RunRecord]:
        """Runs, newest first.

        Args:
            query: Case-insensitive substring of the template ("" = every run).
            model: Only runs with a model of this name or column title (case-insensitive).
            since: Only runs started at or after this epoch second.
            until: Only runs started before this epoch second.
            limit: At most this many (0 or less: no limit).

        Raises:
            HistoryError: the database cannot be read.
        """
        where: list[str] = []
        params: list[Any] = []
        if query:
            where.append("instr(fold(template), ?) > 0")
            params.append(query.casefold())
        if model:
            where.append(
                "id IN (SELECT run_id FROM run_models WHERE fold(name) = ? OR fold(model) = ?)"
            )
            params += [model.casefold(), model.casefold()]
        if since is not None:
            where.append("created_at >= ?")
            params.append(since)
        if until is not None:
            where.append("created_at < ?")
            params.append(until)
        sql = f"SELECT {_RUN_COLUMNS} FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        params.append(limit if limit > 0 else -1)

        def read(conn: sqlite3.Connection) -> list[RunRecord]:
            conn.execute("BEGIN")
            try:
                rows = conn.execute(sql, params).fetchall()
                names = _models_of(conn, [r[0] for r in rows])
            finally:
                conn.execute("COMMIT")
            return [_record(r, names.get(r[0], ())) for r in rows]

        result: list[RunRecord] = self._read("list runs", read)
        return result

    def models(self) -> list[str]:
        """Every model column title in the history, sorted (for a filter box)."""

        def read(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute("SELECT DISTINCT name FROM run_models ORDER BY fold(name)")
            return [str(r[0]) for r in rows]

        result: list[str] = self._read("list models", read)
        return result

    def resolve_id(self, run_id: str) -> str | None:
        """The full id of the run ``run_id`` names (an id or a unique prefix), or ``None``.

        Raises:
            AmbiguousRunId: the prefix matches several runs.
            HistoryError: the database cannot be read.
        """
        if not run_id:
            return None

        def read(conn: sqlite3.Connection) -> list[str]:
            exact = conn.execute("SELECT id FROM runs WHERE id = ?", (run_id,)).fetchone()
            if exact:
                return [exact[0]]
            rows = conn.execute(
                "SELECT id FROM runs WHERE substr(id, 1, ?) = ? ORDER BY created_at DESC LIMIT 6",
                (len(run_id), run_id),
            ).fetchall()
            return [r[0] for r in rows]

        found: list[str] = self._read("find the run", read)
        if len(found) > 1:
            shown = ", ".join(found[:5]) + (", …" if len(found) > 5 else "")
            raise AmbiguousRunId(f"{run_id!r} matches several runs ({shown}): give more of the id.")
        return found[0] if found else None

    def get_run(self, run_id: str) -> StoredRun | None:
        """The run ``run_id`` names (its id or a unique prefix) with every stored cell.

        Returns ``None`` when no run matches.

        Raises:
            AmbiguousRunId: the prefix matches several runs.
            HistoryError: the database cannot be read.
        """
        full = self.resolve_id(run_id)
        if full is None:
            return None

        def read(conn: sqlite3.Connection) -> StoredRun | None:
            conn.execute("BEGIN")
            try:
                row = conn.execute(
                    f"SELECT {_RUN_COLUMNS}, spec_json, summary_json FROM runs WHERE id = ?",
                    (full,),
                ).fetchone()
                if row is None:
                    return None
                cells = conn.execute(
                    """SELECT cell_id, row_index, col_index, inputs_json, model, status, text,
                              error_kind, error, metrics_json, ended_at
                       FROM cells WHERE run_id = ? ORDER BY row_index, col_index, cell_id""",
                    (full,),
                ).fetchall()
                names = _models_of(conn, [full]).get(full, ())
            finally:
                conn.execute("COMMIT")
            record = _record(row[:12], names)
            return StoredRun(
                **{n: getattr(record, n) for n in RunRecord.__dataclass_fields__},
                spec=_spec(row[12], record),
                cells=tuple(_cell(c) for c in cells),
                summary=_json_dict(row[13]),
            )

        result: StoredRun | None = self._read("read the run", read)
        return result

    def delete_run(self, run_id: str) -> bool:
        """Delete a run (its id or a unique prefix) and its cells; ``False`` if none matched.

        Raises:
            AmbiguousRunId: the prefix matches several runs.
            HistoryError: the history is read-only, or the delete did not complete in time.
        """
        if self._writer is None:
            raise HistoryError("The history is read-only (written by a newer Fanout Studio).")
        full = self.resolve_id(run_id)
        if full is None:
            return False
        item = _Delete(full)
        self._queue.put(item)
        if not item.done.wait(_BUSY_TIMEOUT_S * 4):
            raise HistoryError("The history is busy: the run was not deleted yet.")
        return item.deleted


def _models_of(conn: sqlite3.Connection, run_ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
    ids = list(run_ids)
    out: dict[str, list[str]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for run_id, name in conn.execute(
            f"SELECT run_id, name FROM run_models WHERE run_id IN ({marks}) ORDER BY run_id, position",
            chunk,
        ):
            out.setdefault(run_id, []).append(name)
    return {k: tuple(v) for k, v in out.items()}


def _record(row: tuple[Any, ...], models: tuple[str, ...]) -> RunRecord:
    (
        run_id,
        created_at,
        finished_at,
        status,
        template,
        strategy,
        total,
        done,
        failed,
        cancelled,
        wall,
        label,
    ) = row
    return RunRecord(
        id=run_id,
        created_at=float(created_at),
        finished_at=None if finished_at is None else float(finished_at),
        status=str(status),
        template=str(template),
        strategy=str(strategy),
        models=models,
        total=int(total or 0),
        done=int(done or 0),
        failed=int(failed or 0),
        cancelled=int(cancelled or 0),
        wall=None if wall is None else float(wall),
        label=label,
    )


def _json_dict(text: str | None) -> dict[str, Any]:
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _spec(spec_json: str | None, record: RunRecord) -> RunSpec:
    try:
        return spec_from_dict(_json_dict(spec_json))
    except (ValueError, TypeError, AttributeError) as exc:  # e.g. a newer app's strategy name
        log.warning("history: spec of run %s unreadable (%s)", record.id, exc)
        return RunSpec(template=record.template, rows=(), models=())


def _cell(row: tuple[Any, ...]) -> StoredCell:
    (cell_id, r, c, inputs_json, model, status, text, kind, error, metrics_json, ended_at) = row
    inputs = _json_dict(inputs_json)
    metrics_data = _json_dict(metrics_json) if metrics_json else None
    return StoredCell(
        cell_id=str(cell_id),
        row=int(r),
        col=int(c),
        inputs={str(k): str(v) for k, v in inputs.items()},
        model=str(model),
        status=str(status),
        text=str(text),
        error_kind=kind,
        error=error,
        metrics=metrics_from_dict(metrics_data),
        ended_at=None if ended_at is None else float(ended_at),
    )
