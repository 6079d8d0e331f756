"""Run history: every run and every cell, kept in one SQLite database in the data directory.

:meth:`History.recorder` makes a subscriber for :meth:`gui.core.runner.Run.subscribe`. It runs
on the caller's thread (the GUI/asyncio thread) for every engine event, so it only drops the
few events that matter (run start, each cell's end, run end) into a queue and returns; one
writer thread with its own connection drains the queue and commits each batch in one
transaction as soon as it arrives, so a cell is on disk a few milliseconds after it ends.
The run row is queued on ``RunStarted``, before any request goes out.

Each event of a batch is written in its own savepoint, so one that cannot be written is
rolled back alone and never takes the other cells down; text is stored with lone surrogates
replaced (the cell's ``notice`` says so) and every secret the process knows masked. A batch
that cannot be committed at all (disk full, locked past the retry budget) stays in memory
and is tried again; :meth:`History.unsaved` tells which ended cells are not on disk, and
why, including when the file itself vanished under a running writer.

The file is in WAL mode with ``synchronous=NORMAL``: a ``kill -9`` loses nothing that was
committed and never corrupts the file; a power cut may lose the last few transactions (the
WAL is synced at checkpoints). Readers use their own connection and do not wait for the
writer; every read method is safe from any thread (the window calls them through
``asyncio.to_thread``), and another process (a CLI run while the window is open) may use the
same file at the same time.

The user's ratings of cells (:meth:`History.set_rating`) go through the same writer, after
the cells queued before them, and come back on each stored cell;
:meth:`History.leaderboard_rows` reads the blind ones across runs for the leaderboard.

Stored runs come back as the records of :mod:`gui.storage.records`. Each running run records
its writer's process id and start time (:mod:`gui.storage.liveness`). :meth:`History.open` marks
``running`` runs whose process is gone as ``interrupted``; runs of live processes, this one
included, are left alone. :meth:`History.close` marks this instance's own unfinished runs
interrupted.

:meth:`History.open` never raises and never leaves the app in a crash loop: a file it cannot
read (a page SQLite cannot parse, or the full integrity check failing: that check runs only
after a session that did not end cleanly, a ``-wal`` left beside the file) is moved aside by :mod:`gui.storage.recovery` (``history.sqlite3.corrupt-YYYYmmdd-HHMMSS``, with its ``-wal``/``-shm``)
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
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import orjson

from gui.core import events as ev
from gui.core.batch import BatchRecord, BatchState
from gui.core.checks import results_from_json, results_to_json
from gui.core.cleantext import REPLACED_NOTICE, clean, clean_json
from gui.core.costs import CostTotals, judge_cost_dict, judge_totals_of
from gui.core.events import Event, TextChunk
from gui.core.judging import JudgeMode, JudgeSettings, JudgeVerdict, PairwiseResult
from gui.core.keys import known_secrets, redact
from gui.core.metrics import CellMetrics, RunSummary
from gui.core.private import create_private_file
from gui.core.ratings import MAX_STARS, RatedAnswer, RatedRow, Rating
from gui.core.runner import CANCELLED_SHUTDOWN
from gui.core.spec import Cell, CellId, CellList, RunSpec, spec_from_dict, spec_to_dict
from gui.storage import paths, schema
from gui.storage.liveness import SELF_PID, SELF_START, process_alive
from gui.storage.records import (
    CANCELLED,
    FINISHED,
    INTERRUPTED,
    RUNNING,
    SUBMITTED,
    RunRecord,
    StoredCell,
    StoredRun,
    metrics_from_dict,
)
from gui.storage.recovery import Unreadable, left_cleanly, looks_like_sqlite, move_aside

__all__ = ["AmbiguousRunId", "History", "HistoryError"]

log = logging.getLogger(__name__)


def _env_seconds(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if 0 < value <= 600 else default


#: How long one statement waits for another process's lock. ``FANOUT_HISTORY_BUSY_TIMEOUT``
#: changes it (a slow network drive may need more; tests use less).
_BUSY_TIMEOUT_S = _env_seconds("FANOUT_HISTORY_BUSY_TIMEOUT", 5.0)
#: Transactions tried per batch before it waits in memory for a later try.
_COMMIT_ATTEMPTS = 3
#: How often work waiting in memory is tried again while nothing new arrives.
_RETRY_EVERY_S = 1.0
_BATCH_MAX = 2000


class HistoryError(Exception):
    """The history cannot do what was asked; ``str()`` is one line for the user."""


class AmbiguousRunId(HistoryError):
    """A run id prefix matches more than one run."""


# ------------------------------------------------------------------------- writer items


@dataclass(slots=True)
class _Context:
    """What one recorder adds to its events."""

    label: str | None
    into_run: str | None
    cell_map: dict[str, str]
    #: A batch run resumed by this process: its cells go into its own row, which its
    #: RunFinished ends (a retry's RunFinished leaves the run it retried alone).
    resume: bool = False


@dataclass(slots=True)
class _Live:
    """Writer-side state of a run being recorded."""

    target: str  # the run row the cells go into
    started_at: float
    cells: CellList | dict[str, Cell]  # both look a cell up by id with get()
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


@dataclass(slots=True)
class _Write:
    """Work of another store on the history file (chats), applied in the writer's batch."""

    what: str
    apply: Callable[[sqlite3.Connection], None]
    #: ``(run id, cell id)`` of the cells ``apply`` wrote (filled by it): saved once the
    #: transaction commits (see :meth:`History.unsaved`).
    saves: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class _Rate:
    """Set (or, with ``rating=None``, clear) one cell's rating."""

    run_id: str
    cell_id: str
    rating: Rating | None
    at: float
    done: threading.Event = field(default_factory=threading.Event)
    error: str | None = None


_STOP: Final = object()

#: How a recorded batch is named among a run's saved cell ids (no cell id has a colon).
_BATCH_KEY: Final = "batch:"

#: Events the recorder keeps; everything else (TextChunk first of all) is dropped at once.
_RECORDED: frozenset[type[Event]] = frozenset(
    {
        ev.RunStarted,
        ev.CellFinished,
        ev.CellFailed,
        ev.CellCancelled,
        ev.CellChecked,
        ev.JudgeEnded,
        ev.RunFinished,
    }
)


#: Ended-cell events: a batch executor's (``metrics.batch``) are written in bulk instead.
_ENDED: frozenset[type[Event]] = frozenset({ev.CellFinished, ev.CellFailed, ev.CellCancelled})

#: The fields of a cell's metrics, in the order ``metrics_json`` has always listed them.
_METRIC_FIELDS = tuple(CellMetrics.__dataclass_fields__)


def _metrics_json(metrics: CellMetrics) -> str:
    """``asdict(metrics)`` as JSON, without asdict's deep copy (a tenth of the time)."""
    data = {name: getattr(metrics, name) for name in _METRIC_FIELDS}
    try:
        return orjson.dumps(data).decode()
    except (TypeError, orjson.JSONEncodeError):  # a lone surrogate in a note: json copes
        return json.dumps(data)


#: What ``show``, the history list and exports call a batch run's strategy: its executor.
BATCH_STRATEGY = "batch"

# A run with batches is a batch run, also when an older version recorded it as ``stream``.
_RUN_COLUMNS = (
    "id, created_at, finished_at, status, template,"
    " CASE WHEN EXISTS (SELECT 1 FROM batches WHERE batches.run_id = runs.id)"
    f" THEN '{BATCH_STRATEGY}' ELSE strategy END,"
    " total, done, failed, cancelled, wall, label"
)


def _safe(text: str, secrets: list[str] | None = None) -> tuple[str, bool]:
    """``text`` as it may be stored: lone surrogates replaced (and whether any were), every
    secret the process knows masked (``secrets``: :func:`known_secrets` looked up already)."""
    cleaned, replaced = clean(text)
    return redact(cleaned, secrets), replaced


def _safe_json(data: Any, secrets: list[str] | None = None) -> tuple[str, bool]:
    """``data`` as JSON text that may be stored (see :func:`_safe`).

    Dumped first and cleaned as one text: ``json.dumps`` writes a lone surrogate as it is
    (``ensure_ascii=False`` escapes only quotes, backslashes and C0 controls), so replacing
    them in its output is what cleaning every string first gives, without a Python call
    per string (a 10,000-row spec took 20-60 ms of the writer thread's GIL at a run's start).
    """
    return _safe(json.dumps(data, ensure_ascii=False), secrets)


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


def _identity(path: Path) -> tuple[int, int] | None:
    """Device and inode of ``path``, or ``None`` when it is gone: SQLite keeps writing to a
    deleted file without an error, so this is how a vanished data folder is noticed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


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


# ------------------------------------------------------------------------- History


class History:
    """The run history database; create with :meth:`History.open`.

    Attributes:
        path: The database file (where it would be, when history is off).
        notice: One line for the user when :meth:`open` had to recover, else ``None``.
        persistent: Whether runs are written to ``path`` (``False``: kept in memory for
            this session only).
        read_only: Whether new runs are not recorded at all (a newer app's database).
        integrity_checked: Whether :meth:`open` read the whole file to check it.
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
        # Work the writer could not commit yet (kept in memory, tried again), the cells it
        # did commit (engine run id -> cell ids) and why an event was dropped, per run.
        self._pending: list[Any] = []
        #: The secrets to mask in the writer's transaction now (see :meth:`_commit`).
        self._secrets: list[str] | None = None
        self._write_problem: str | None = None
        self._saved: dict[str, set[str]] = {}
        self._dropped: dict[str, str] = {}
        self._identity = _identity(path) if persistent else None
        #: Whether :meth:`open` ran SQLite's full integrity check (only after a session that
        #: did not end cleanly, see :func:`gui.storage.recovery.left_cleanly`).
        self.integrity_checked = False

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
        # The folder and the app's files in it are private, on every start.
        paths.secure(target.parent)
        try:
            return cls._open_file(target)
        except _Busy as exc:
            return cls._in_memory(
                target, f"History is off for this session: {target} cannot be used now ({exc})."
            )
        except Exception as exc:
            first = _why(exc)
            log.info("history %s unreadable: %s", target, first)  # the notice tells the user
        try:
            backup = move_aside(target)
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
            raise Unreadable("a folder is in its place")
        # The full check reads every page (over a second for a history of several hundred
        # MB): only when the last session did not end cleanly or the file looks cut.
        check_integrity = False
        if target.exists():
            # Checked before SQLite opens it: on close SQLite deletes the -wal/-shm beside a
            # file it cannot read, and those belong in the backup.
            if not looks_like_sqlite(target):
                raise Unreadable("file is not a database")
            check_integrity = not left_cleanly(target)
        else:
            # Created 0600 before SQLite writes a byte; its -wal and -shm inherit the mode.
            create_private_file(target)
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
                if check_integrity:
                    check = writer.execute("PRAGMA quick_check").fetchall()
                    if check != [("ok",)]:
                        raise Unreadable(f"integrity check failed: {check[0][0]}")
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
        history.integrity_checked = check_integrity
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
        log.info("%s", notice)  # callers show the notice; a WARNING would repeat it on stderr
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
        resume_run: str | None = None,
    ) -> Callable[[Event], None]:
        """A subscriber for :meth:`~gui.core.runner.Run.subscribe` that records the run.

        Subscribe it before the run starts (right after ``Run.start`` returns is
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
            resume_run: Id of a batch run already in the history that this process resumes
                (``gui.core.batch.BatchRun.resume``): its cells and its end go into that run.
        """
        if self._writer is None or self._closed:

            def off(event: Event) -> None:
                """History is read-only or closed: nothing is recorded."""

            return off
        if resume_run is not None:
            context = _Context(label, resume_run, {}, resume=True)
        else:
            context = _Context(label, into_run, dict(cell_map or {}))
        put = self._queue.put
        chunk = TextChunk
        recorded = _RECORDED

        ended = _ENDED

        def record(event: Event) -> None:
            kind = type(event)
            if kind is chunk:
                return
            if kind in ended and event.metrics.batch:  # type: ignore[attr-defined]
                return  # its executor writes it in bulk (batch_cells_ended)
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
            # Room for the last batch's attempts (it carries what waited in memory too).
            thread.join(timeout=_BUSY_TIMEOUT_S * _COMMIT_ATTEMPTS + 5)
            if thread.is_alive():
                log.error("history writer did not stop; some rows may be missing")
                return  # leave its connection to it
        with self._read_lock:
            self._reader.close()
            if self._writer is not None and self._writer is not self._reader:
                self._writer.close()

    def unsaved(self, run_id: str, cell_ids: Iterable[str]) -> tuple[list[str], str | None]:
        """Which of ``cell_ids`` (cells of run ``run_id`` that ended) are not on disk, and why.

        Call after :meth:`flush` or :meth:`close`. A cell counts as saved only when its row
        was committed to the file this history opened and that file is still in its place.
        Returns the unsaved ids in the given order and a one-line reason (``None`` when all
        are saved).
        """
        wanted = list(cell_ids)
        problem = self.file_problem()
        if problem:
            return wanted, problem
        saved = self._saved.get(run_id, set())
        missing = [c for c in wanted if c not in saved]
        if not missing:
            return [], None
        reason = self._write_problem or self._dropped.get(run_id) or "the history writer stopped"
        return missing, reason

    def file_problem(self) -> str | None:
        """Why nothing this history writes is (any longer) in its file: read-only, off for
        the session, or the file removed or replaced under it; ``None`` when none of these.

        A write that failed (locked, disk full) is not among them: see :meth:`unsaved` and
        :attr:`last_error`.
        """
        if self.read_only:
            return "the history is read-only (written by a newer Fanout Studio)"
        if not self.persistent:
            return "history is off for this session"
        return self._moved()

    def _moved(self) -> str | None:
        """Why the database file this history wrote to is no longer there, or ``None``."""
        now = _identity(self.path)
        if now == self._identity:
            return None
        if now is None:
            return f"{self.path} was removed while the run was recorded"
        return f"{self.path} was replaced by another file while the run was recorded"

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writer thread

    def _writer_main(self) -> None:
        get, get_nowait = self._queue.get, self._queue.get_nowait
        stopping = False
        while not stopping:
            try:
                # Work that could not be written waits in memory; try it again now and then
                # even when nothing new arrives (a lock let go, space freed).
                first = get(timeout=_RETRY_EVERY_S) if self._pending else get()
            except queue.Empty:
                self._commit([])
                continue
            batch = [first]
            while len(batch) < _BATCH_MAX:
                try:
                    batch.append(get_nowait())
                except queue.Empty:
                    break
            waiters: list[_Flush | _Delete | _Rate] = []
            work: list[Any] = []
            for item in batch:
                if item is _STOP:
                    stopping = True
                elif isinstance(item, _Flush):
                    waiters.append(item)
                else:
                    work.append(item)
                    if isinstance(item, _Delete | _Rate):
                        waiters.append(item)
            if stopping:
                work.append(_STOP)
            if work or self._pending:
                self._commit(work)  # what waited in memory goes first
            for waiter in waiters:
                if isinstance(waiter, _Rate) and any(p is waiter for p in self._pending):
                    # Kept in memory and written with a later batch.
                    problem = self._write_problem or "the file is busy"
                    waiter.error = waiter.error or f"{problem}; it is tried again"
                waiter.done.set()

    def _commit(self, work: list[Any]) -> None:
        """Apply what waits and ``work`` in one transaction, retrying while another process
        holds the lock; what still cannot be written (disk full, locked past the budget)
        stays in memory for the next try."""
        assert self._writer is not None
        conn = self._writer
        work = [*self._pending, *work]
        self._pending = []
        if not work:
            return
        attempts = _COMMIT_ATTEMPTS
        for attempt in range(attempts):
            # A failed transaction is retried from the same state: handlers update _live.
            snapshot = {k: replace(v) for k, v in self._live.items()}
            saved: list[tuple[str, str]] = []
            # Looked up once per transaction, not for each of the four texts of every cell
            # (see keys.redact): the writer shares the GIL with the window.
            self._secrets = known_secrets()
            try:
                with self._write_lock:
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        touched: set[str] = set()
                        retried: set[str] = set()
                        added: dict[str, dict[str, int]] = {}
                        for item in work:
                            self._apply(item, touched, retried, saved, added)
                        for run_id in touched:
                            self._recount(run_id)
                        for run_id, statuses in added.items():
                            if run_id not in touched:  # counted from its cells already
                                self._add_counts(run_id, statuses)
                        for run_id in retried:
                            self._resummarise(run_id)
                        conn.execute("COMMIT")
                    except BaseException:
                        self._live = snapshot
                        with contextlib.suppress(sqlite3.Error):
                            conn.execute("ROLLBACK")
                        raise
            except sqlite3.Error as exc:
                if _is_busy(exc) and attempt < attempts - 1:
                    time.sleep(0.05 * (attempt + 1))
                    continue
                self._pending = work
                self._writer_failed(exc)
                return
            except Exception as exc:  # a bug of ours outside one event: keep the thread alive
                log.exception("history writer failed")
                self._writer_failed(exc)
                return
            for run_id, cell_id in saved:
                self._saved.setdefault(run_id, set()).add(cell_id)
            self.last_error = self._write_problem = None
            return

    def _writer_failed(self, exc: BaseException) -> None:
        self._write_problem = _why(exc)
        self.last_error = f"History could not be written ({self._write_problem})."
        # INFO: the writer tries again, and the caller reports what stays unsaved in one
        # line; a WARNING would reach a bare CLI's stderr on every retry.
        log.info("%s (kept in memory, will retry)", self.last_error)

    def _apply(
        self,
        item: Any,
        touched: set[str],
        retried: set[str],
        saved: list[tuple[str, str]],
        added: dict[str, dict[str, int]],
    ) -> None:
        assert self._writer is not None
        if item is _STOP:
            for run_id, live in list(self._live.items()):
                if live.context.into_run is None:
                    added.pop(live.target, None)  # counted from its cells, these included
                    self._interrupt(live.target)
                del self._live[run_id]
            return
        if isinstance(item, _Delete):
            self._delete(item)
            return
        if isinstance(item, _Rate):
            self._rate(item)
            return
        if isinstance(item, _Write):
            if self._write(item):
                saved.extend(item.saves)
            return
        context, event = item
        # Each event in its own savepoint: one that cannot be written (bad data, a bug) is
        # rolled back alone and never takes the other cells of the batch down with it.
        self._writer.execute("SAVEPOINT fanout_event")
        try:
            if isinstance(event, ev.RunStarted):
                self._run_started(context, event)
            elif isinstance(event, ev.RunFinished):
                self._run_finished(event, touched)
            elif isinstance(event, ev.CellChecked):
                self._cell_checked(event)
            elif isinstance(event, ev.JudgeEnded):
                self._judge_ended(event)
            else:
                self._cell_ended(event, touched, retried, saved, added)
        except sqlite3.OperationalError:
            raise  # disk full, locked, I/O error: the whole transaction is tried again later
        except Exception as exc:  # e.g. the run was deleted meanwhile
            self._writer.execute("ROLLBACK TO fanout_event")
            self._writer.execute("RELEASE fanout_event")
            reason = f"{type(event).__name__} not written: {_why(exc)}"
            log.warning("history: %s", reason)
            self._dropped.setdefault(event.run_id, reason)
            return
        self._writer.execute("RELEASE fanout_event")

    def _run_started(self, context: _Context, event: ev.RunStarted) -> None:
        assert self._writer is not None
        # A run's CellList looks its cells up by id without making all 20,000 of them here.
        cells = event.cells if isinstance(event.cells, CellList) else {c.id: c for c in event.cells}
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
                _safe(spec.template)[0],
                None if spec.system is None else _safe(spec.system)[0],
                # A batch run is named by its executor: its spec's strategy never ran.
                BATCH_STRATEGY if event.executor == BATCH_STRATEGY else str(spec.strategy),
                _safe_json(spec_to_dict(spec))[0],
                len(event.cells),
                context.label,
                SELF_PID,
                SELF_START,
            ),
        )
        self._writer.executemany(
            "INSERT INTO run_models (run_id, position, name, model) VALUES (?, ?, ?, ?)",
            [
                # One line per column: a sweep's and a variant's columns are titled by what
                # sets them apart (``model · t=0.7``, ``B · model``); a plain run's by model.
                (event.run_id, c.index, _safe(c.header)[0], _safe(c.model.model)[0])
                for c in spec.columns
            ],
        )
        self._live[event.run_id] = _Live(event.run_id, event.started_at, cells, context)

    def _cell_ended(
        self,
        event: Event,
        touched: set[str],
        retried: set[str],
        saved: list[tuple[str, str]],
        added: dict[str, dict[str, int]],
    ) -> None:
        """Write an ended cell; its run's counts move by it (``added``) when the run is being
        recorded live, else they are counted again from the run's cells (``touched``)."""
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
        cell_id, row, col = cell.id, cell.row, cell.col
        if live.context.into_run is not None:
            cell_id = live.context.cell_map.get(cell.id, cell.id)
            row, col = self._position(live.target, cell_id, (row, col))
        secrets = self._secrets
        text, bad_text = _safe(text, secrets)
        error, bad_error = (None, False) if error is None else _safe(error, secrets)
        inputs_json, bad_inputs = _safe_json(dict(cell.inputs), secrets)
        model, bad_model = _safe(cell.header, secrets)
        replaced = bad_text or bad_error or bad_inputs or bad_model
        self._writer.execute(
            """INSERT OR REPLACE INTO cells (run_id, cell_id, row_index, col_index, inputs_json,
                   model, status, text, error_kind, error, metrics_json, ended_at, notice)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                live.target,
                cell_id,
                row,
                col,
                inputs_json,
                model,
                status,
                text,
                kind,
                error,
                _metrics_json(event.metrics),
                live.started_at + event.t,
                REPLACED_NOTICE if replaced else None,
            ),
        )
        if live.context.into_run is not None and not live.context.resume:
            # A retried cell has a new answer: the rating of the old one does not apply.
            self._writer.execute(
                "DELETE FROM ratings WHERE run_id = ? AND cell_id = ?", (live.target, cell_id)
            )
        # State changes only once the row is written: a failed insert leaves nothing behind.
        if isinstance(event, ev.CellCancelled):
            live.shutdown = live.shutdown or event.reason == CANCELLED_SHUTDOWN
        if live.context.into_run is not None and not live.context.resume:
            retried.add(live.target)
        if live.context.into_run is None:
            # A run recorded as it goes writes each of its cells once, as a new row: add it
            # to the counts. Counting the run's cells again in every transaction read all of
            # them each time, and a cancelled 20,000-cell run's rows came in hundreds of
            # transactions (docs/performance-notes.md). Its end counts them once, exactly.
            statuses = added.setdefault(live.target, {})
            statuses[status] = statuses.get(status, 0) + 1
        else:  # a retry replaces a row, a resumed batch adds to counts made elsewhere
            touched.add(live.target)
        saved.append((event.run_id, event.cell_id))

    def _cell_checked(self, event: ev.CellChecked) -> None:
        """Store a done cell's check results with the cell (its row is written already:
        ``CellChecked`` follows ``CellFinished`` in the queue)."""
        assert self._writer is not None
        live = self._live.get(event.run_id)
        if live is None:
            return
        cell_id = event.cell_id
        if live.context.into_run is not None:
            cell_id = live.context.cell_map.get(cell_id, cell_id)
        self._writer.execute(
            "UPDATE cells SET checks_json = ? WHERE run_id = ? AND cell_id = ?",
            (_safe(results_to_json(event.results))[0], live.target, cell_id),
        )

    def _judge_ended(self, event: ev.JudgeEnded) -> None:
        """Store a judge verdict (``judgements``) or a pairwise comparison (``pairwise``)."""
        assert self._writer is not None
        live = self._live.get(event.run_id)
        if live is None or event.cancelled:
            return
        at = live.started_at + event.t
        cell_map = live.context.cell_map
        verdict, pair = event.verdict, event.pair
        if verdict is not None:
            self._writer.execute(
                """INSERT OR REPLACE INTO judgements
                       (run_id, cell_id, judge_model, score, reason, raw, error, created_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    live.target,
                    cell_map.get(event.key, event.key),
                    _safe(verdict.judge_model)[0],
                    verdict.score,
                    _safe(verdict.reason)[0],
                    _safe(verdict.raw)[0],
                    None if verdict.error is None else _safe(verdict.error)[0],
                    at,
                ),
            )
        elif pair is not None:
            self._writer.execute(
                """INSERT OR REPLACE INTO pairwise (run_id, row_index, first_cell, second_cell,
                       winner_cell, judge_model, reason, raw, error, created_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    live.target,
                    pair.row,
                    pair.first_cell,
                    pair.second_cell,
                    pair.winner_cell,
                    _safe(pair.judge_model)[0],
                    _safe(pair.reason)[0],
                    _safe(pair.raw)[0],
                    None if pair.error is None else _safe(pair.error)[0],
                    at,
                ),
            )

    def _position(self, run_id: str, cell_id: str, fallback: tuple[int, int]) -> tuple[int, int]:
        """Row and column of ``cell_id`` in ``run_id``: its stored row, else its id's."""
        assert self._writer is not None
        found = self._writer.execute(
            "SELECT row_index, col_index FROM cells WHERE run_id = ? AND cell_id = ?",
            (run_id, cell_id),
        ).fetchone()
        if found:
            return int(found[0]), int(found[1])
        try:
            parsed = CellId.parse(cell_id)
        except ValueError:
            return fallback
        return parsed.row, parsed.col

    def _run_finished(self, event: ev.RunFinished, touched: set[str]) -> None:
        assert self._writer is not None
        live = self._live.pop(event.run_id, None)
        if live is None or (live.context.into_run is not None and not live.context.resume):
            return
        s = event.summary
        status = CANCELLED if s.cancelled_by_user else INTERRUPTED if live.shutdown else FINISHED
        summary = {
            "failures_by_kind": dict(s.failures_by_kind),
            "peak_in_flight": s.peak_in_flight,
            "cancelled_by_user": s.cancelled_by_user,
            **_cost_summary(s),
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
        if live.context.resume:
            # This process saw only the batches it ingested: count the failures and the
            # tokens and cost of them all.
            self._recount(live.target)
            self._resummarise(live.target)
            self._recost(live.target)
        touched.add(live.target)

    def _add_counts(self, run_id: str, statuses: dict[str, int]) -> None:
        """Add cells newly written, by status (``done``, ``failed``, ``cancelled``), to the
        run's counts."""
        assert self._writer is not None
        self._writer.execute(
            """UPDATE runs SET done = done + :done, failed = failed + :failed,
                   cancelled = cancelled + :cancelled
               WHERE id = :id""",
            {
                "id": run_id,
                "done": statuses.get("done", 0),
                "failed": statuses.get("failed", 0),
                "cancelled": statuses.get("cancelled", 0),
            },
        )

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

    def _recost(self, run_id: str) -> None:
        """The run's token and cost totals in ``summary_json`` from its cells as they are now
        (a resumed batch run's process ended only some of them)."""
        assert self._writer is not None
        found = self._writer.execute(
            "SELECT summary_json FROM runs WHERE id = ?", (run_id,)
        ).fetchone()
        if not found:
            return
        totals = CostTotals()
        rows = self._writer.execute("SELECT metrics_json FROM cells WHERE run_id = ?", (run_id,))
        for (metrics_json,) in rows:
            metrics = metrics_from_dict(_json_dict(metrics_json))
            if metrics is not None:
                totals.add(metrics)
        summary = _json_dict(found[0])
        summary.update(
            input_tokens=totals.input_tokens,
            output_tokens=totals.output_tokens,
            cost_usd=round(totals.cost_usd, 8),
            unpriced_cells=totals.unpriced,
            tokens_estimated=totals.estimated,
        )
        self._writer.execute(
            "UPDATE runs SET summary_json = ? WHERE id = ?", (json.dumps(summary), run_id)
        )

    def _rate(self, item: _Rate) -> None:
        """Write one rating in a savepoint of its own; best in row stays unique."""
        assert self._writer is not None
        conn = self._writer
        conn.execute("SAVEPOINT fanout_rating")
        try:
            rating = item.rating
            if rating is None or rating.empty:
                conn.execute(
                    "DELETE FROM ratings WHERE run_id = ? AND cell_id = ?",
                    (item.run_id, item.cell_id),
                )
            else:
                if rating.best:
                    self._clear_best_of_row(item)
                conn.execute(
                    """INSERT OR REPLACE INTO ratings
                           (run_id, cell_id, thumb, stars, best, blind, updated_at)
                       VALUES (?, ?, ?, ?, ?, ?, ?)""",
                    (
                        item.run_id,
                        item.cell_id,
                        rating.thumb,
                        rating.stars,
                        int(rating.best),
                        int(rating.blind),
                        item.at,
                    ),
                )
        except sqlite3.OperationalError:
            raise  # disk full, locked: the whole transaction is tried again later
        except sqlite3.IntegrityError:
            conn.execute("ROLLBACK TO fanout_rating")
            conn.execute("RELEASE fanout_rating")
            item.error = "the run is no longer in the history"
            return
        conn.execute("RELEASE fanout_rating")

    def _clear_best_of_row(self, item: _Rate) -> None:
        """The other cells of ``item``'s input row are no longer the best; a rating left
        with nothing in it goes."""
        assert self._writer is not None
        conn = self._writer
        row, _col = self._position(item.run_id, item.cell_id, (-1, -1))
        siblings = [
            str(r[0])
            for r in conn.execute(
                "SELECT cell_id FROM cells WHERE run_id = ? AND row_index = ? AND cell_id != ?",
                (item.run_id, row, item.cell_id),
            )
        ]
        for sibling in siblings:
            conn.execute(
                "UPDATE ratings SET best = 0, updated_at = ? "
                "WHERE run_id = ? AND cell_id = ? AND best = 1",
                (item.at, item.run_id, sibling),
            )
        conn.execute(
            "DELETE FROM ratings WHERE run_id = ? AND thumb = 0 AND stars IS NULL AND best = 0",
            (item.run_id,),
        )

    def _delete(self, item: _Delete) -> None:
        assert self._writer is not None
        cursor = self._writer.execute("DELETE FROM runs WHERE id = ?", (item.run_id,))
        item.deleted = cursor.rowcount > 0
        for run_id, live in list(self._live.items()):
            if live.target == item.run_id:
                del self._live[run_id]

    # ------------------------------------------------------------------ reading

    def _write(self, item: _Write) -> bool:
        """Apply another store's write in its own savepoint (a bad one is dropped alone);
        whether it was applied."""
        assert self._writer is not None
        self._writer.execute("SAVEPOINT fanout_write")
        applied = True
        try:
            item.apply(self._writer)
        except sqlite3.OperationalError:
            raise  # disk full, locked: the whole transaction is tried again later
        except Exception as exc:
            self._writer.execute("ROLLBACK TO fanout_write")
            log.warning("history: %s not written: %s", item.what, _why(exc))
            applied = False
        self._writer.execute("RELEASE fanout_write")
        return applied

    def submit(self, what: str, apply: Callable[[sqlite3.Connection], None]) -> None:
        """Queue ``apply(connection)`` for the writer thread (chats use it: gui.storage.chats).

        It runs inside the writer's next transaction, with the same retries as a run's cells;
        :meth:`flush` waits for it. Nothing is written by a read-only history.
        """
        if self.read_only or self._closed:
            return
        self._queue.put(_Write(what, apply))

    # ------------------------------------------------------------------ batches (issue 16)

    def batch_created(self, record: BatchRecord) -> None:
        """Record a new batch of a batch run, and the run as ``submitted``; returns once it
        is on disk (or the writer's wait ran out: it is then kept in memory and retried).

        A submitted run is not ``running``: no process need be alive for it, so the next
        start does not mark it interrupted but resumes it.
        """

        # Saved once the transaction commits: unsaved_batches() tells the caller.
        saves: list[tuple[str, str]] = []

        def apply(conn: sqlite3.Connection) -> None:
            saves.clear()  # a transaction tried again writes it again
            _write_batch(conn, record)
            # A new batch of a run that had ended (a retry as a batch) makes it submitted too.
            conn.execute(
                "UPDATE runs SET status = ? WHERE id = ? AND status != ?",
                (SUBMITTED, record.run_id, SUBMITTED),
            )
            saves.append((record.run_id, _BATCH_KEY + record.batch_id))

        if self.read_only or self._closed:
            return
        self._queue.put(_Write(f"batch {record.batch_id}", apply, saves))
        if not self.flush(_BUSY_TIMEOUT_S * 4):
            # INFO: kept in memory and tried again; the caller says what stays unsaved.
            log.info("history: batch %s is not on disk yet", record.batch_id)

    def unsaved_batches(
        self, run_id: str, batch_ids: Iterable[str]
    ) -> tuple[list[str], str | None]:
        """Which of ``batch_ids`` (batches of run ``run_id`` recorded through this history
        with :meth:`batch_created`) are not on disk, and why; as :meth:`unsaved` for cells.

        A batch that is not on disk still runs on the provider's server, but no later
        process can find it to collect its results.
        """
        missing, reason = self.unsaved(run_id, [_BATCH_KEY + b for b in batch_ids])
        return [m.removeprefix(_BATCH_KEY) for m in missing], reason

    def batch_cells_ended(self, run_id: str, events: Sequence[Event]) -> None:
        """Record ended cells of a batch run, many in one statement (queued like the run's
        events, after those queued before). The recorder leaves such cells (their metrics
        say ``batch``) to this: one savepoint and one ``executemany`` per chunk of a result
        file instead of one of each per cell, which is what lets 100,000 lines land fast.
        """
        batch = list(events)
        if self.read_only or self._closed:
            return
        written: list[tuple[str, str]] = []  # the cells saved once it commits (unsaved())
        self._queue.put(
            _Write(
                f"{len(batch)} batch results",
                lambda conn: self._bulk_cells(conn, run_id, batch, written),
                written,
            )
        )

    def _bulk_cells(
        self,
        conn: sqlite3.Connection,
        run_id: str,
        events: list[Event],
        written: list[tuple[str, str]],
    ) -> None:
        written.clear()  # a transaction tried again writes them again
        live = self._live.get(run_id)
        if live is None:
            return  # no recorder saw the run start: nothing of it is recorded
        rows = []
        secrets = known_secrets()  # once per chunk, not per text (see keys.redact)

        def safe(text: str) -> tuple[str, bool]:
            cleaned, replaced = clean(text)
            return redact(cleaned, secrets), replaced

        models: dict[int, tuple[str, bool]] = {}
        for event in events:
            if not isinstance(event, ev.CellFinished | ev.CellFailed | ev.CellCancelled):
                continue
            cell = live.cells.get(event.cell_id)
            if cell is None:
                continue
            if isinstance(event, ev.CellFinished):
                status, text, kind, error = "done", event.text, None, None
            elif isinstance(event, ev.CellFailed):
                status, text, kind, error = (
                    "failed",
                    event.partial_text,
                    str(event.kind),
                    event.message,
                )
            else:
                status, text, kind, error = (
                    "cancelled",
                    event.partial_text,
                    "cancelled",
                    event.reason,
                )
            text, bad_text = safe(text)
            error, bad_error = (None, False) if error is None else safe(error)
            inputs, bad_inputs = clean_json(dict(cell.inputs))
            inputs_json = redact(orjson.dumps(inputs).decode(), secrets)
            if cell.col not in models:
                models[cell.col] = safe(cell.model.display_name)
            model, bad_model = models[cell.col]
            replaced = bad_text or bad_error or bad_inputs or bad_model
            rows.append(
                (
                    live.target,
                    cell.id,
                    cell.row,
                    cell.col,
                    inputs_json,
                    model,
                    status,
                    text,
                    kind,
                    error,
                    _metrics_json(event.metrics),
                    live.started_at + event.t,
                    REPLACED_NOTICE if replaced else None,
                )
            )
        conn.executemany(
            """INSERT OR REPLACE INTO cells (run_id, cell_id, row_index, col_index, inputs_json,
                   model, status, text, error_kind, error, metrics_json, ended_at, notice)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            rows,
        )
        written.extend((run_id, row[1]) for row in rows)

    def batch_updated(self, record: BatchRecord) -> None:
        """Record a batch's new state (queued: behind the cells recorded before it)."""
        self.submit(f"batch {record.batch_id}", lambda conn: _write_batch(conn, record))

    def batches(
        self, run_id: str | None = None, *, open_only: bool = False, limit: int = 200
    ) -> list[BatchRecord]:
        """Batches of one run (by file), or of every run (newest first).

        Args:
            run_id: The run's full id, or ``None`` for every run.
            open_only: Only batches this app still has work on (not ingested).
            limit: At most this many (0 or less: no limit).

        Raises:
            HistoryError: the database cannot be read.
        """
        where: list[str] = []
        params: list[Any] = []
        if run_id is not None:
            where.append("run_id = ?")
            params.append(run_id)
        if open_only:
            where.append("ingested_at IS NULL")
        sql = f"SELECT {_BATCH_COLUMNS} FROM batches"
        if where:
            sql += " WHERE " + " AND ".join(where)
        order = "file_index" if run_id is not None else "created_at DESC, run_id, file_index"
        sql += f" ORDER BY {order} LIMIT ?"
        params.append(limit if limit > 0 else -1)

        def read(conn: sqlite3.Connection) -> list[BatchRecord]:
            return [_batch(row) for row in conn.execute(sql, params)]

        result: list[BatchRecord] = self._read("read the batches", read)
        return result

    def batch_run(self, run_id: str) -> tuple[RunSpec, float, dict[str, int]] | None:
        """What resuming a batch run needs: its spec, its start (epoch seconds) and its
        cells already ended outside its open batches, by status; ``None`` if not found.

        Raises:
            HistoryError: the database cannot be read.
        """

        def read(conn: sqlite3.Connection) -> tuple[RunSpec, float, dict[str, int]] | None:
            conn.execute("BEGIN")
            try:
                row = conn.execute(
                    f"SELECT {_RUN_COLUMNS}, spec_json FROM runs WHERE id = ?", (run_id,)
                ).fetchone()
                if row is None:
                    return None
                where, params, listed = _outside_open_batches(conn, run_id)
                sql = "SELECT status, count(*) FROM cells WHERE " + where
                prior = {str(k): int(v) for k, v in conn.execute(sql + " GROUP BY status", params)}
                for status, n in _listed_statuses(conn, run_id, listed, sql, params).items():
                    prior[status] = prior.get(status, 0) - n
                prior = {status: n for status, n in prior.items() if n}
            finally:
                conn.execute("COMMIT")
            record = _record(row[:12], ())
            return _spec(row[12], record), record.created_at, prior

        result: tuple[RunSpec, float, dict[str, int]] | None = self._read("read the run", read)
        return result

    def settled_batch_runs(self, run_id: str | None = None) -> list[str]:
        """Batch runs still recorded ``submitted`` although every batch of theirs has been
        ingested (oldest first): the process that ingested the last one ended before the
        run did, e.g. while judge calls were open. Resuming one finishes it.

        Args:
            run_id: Only this run (its full id), or ``None`` for every run.

        Raises:
            HistoryError: the database cannot be read.
        """
        sql = (
            "SELECT id FROM runs WHERE status = ?"
            " AND EXISTS (SELECT 1 FROM batches b WHERE b.run_id = runs.id)"
            " AND NOT EXISTS (SELECT 1 FROM batches b"
            " WHERE b.run_id = runs.id AND b.ingested_at IS NULL)"
        )
        params: list[Any] = [SUBMITTED]
        if run_id is not None:
            sql += " AND id = ?"
            params.append(run_id)
        sql += " ORDER BY created_at, id"

        def read(conn: sqlite3.Connection) -> list[str]:
            return [str(r[0]) for r in conn.execute(sql, params)]

        result: list[str] = self._read("read the batch runs", read)
        return result

    def batch_judge_backlog(self, run_id: str) -> list[tuple[str, str | None]]:
        """The judge's unfinished work on a batch run's cells that landed in earlier processes
        (a judge call still open when that app closed is not recorded, nor is a pairwise row
        whose other cells landed in another process), for the resuming process to redo.

        Single mode: the done cells without a verdict. Pairwise: every ended cell of each row
        without a comparison yet, done or not (the judge compares a row once all its cells
        have ended: the rest land in the resuming process). Cells of the run's open batches
        are left out; they land in the resuming process and are judged there.

        Returns:
            ``(cell id, answer)`` pairs in row order, the answer ``None`` for a cell that did
            not end done; empty for a run without a judge or not found.

        Raises:
            HistoryError: the database cannot be read.
        """

        def read(conn: sqlite3.Connection) -> list[tuple[str, str | None]]:
            conn.execute("BEGIN")
            try:
                row = conn.execute("SELECT spec_json FROM runs WHERE id = ?", (run_id,)).fetchone()
                judge = _judge_of(row[0]) if row is not None else None
                if judge is None:
                    return []
                where, params, listed = _outside_open_batches(conn, run_id)
                skip = set(listed)
                if judge.mode is JudgeMode.SINGLE:
                    sql = (
                        "SELECT cell_id, text FROM cells WHERE "
                        + where
                        + " AND status = ? AND NOT EXISTS (SELECT 1 FROM judgements j"
                        " WHERE j.run_id = cells.run_id AND j.cell_id = cells.cell_id)"
                        " ORDER BY row_index, col_index, cell_id"
                    )
                    found = conn.execute(sql, [*params, "done"]).fetchall()
                    return [(str(c), str(t)) for c, t in found if str(c) not in skip]
                sql = (
                    "SELECT cell_id, status, text FROM cells WHERE "
                    + where
                    + " AND NOT EXISTS (SELECT 1 FROM pairwise p"
                    " WHERE p.run_id = cells.run_id AND p.row_index = cells.row_index)"
                    " ORDER BY row_index, col_index, cell_id"
                )
                return [
                    (str(c), str(t) if st == "done" else None)
                    for c, st, t in conn.execute(sql, params)
                    if str(c) not in skip
                ]
            finally:
                conn.execute("COMMIT")

        result: list[tuple[str, str | None]] = self._read("read the run's judge backlog", read)
        return result

    def read(self, what: str, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """``fn(reader connection)`` under the readers' lock (chats use it).

        Raises:
            HistoryError: the database cannot be read (``what`` says what was being done).
        """
        return self._read(what, fn)

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

    def recent_output_tokens(self, models: Sequence[str], per_model: int = 50) -> dict[str, float]:
        """Per column title of ``models``, the mean output tokens of its last ``per_model``
        answers (titles without answers are left out): the cost estimate's guess of a
        column's answer length when it sets no max tokens (issue 15)."""

        def read(conn: sqlite3.Connection) -> dict[str, float]:
            out: dict[str, float] = {}
            for name in dict.fromkeys(models):
                rows = conn.execute(
                    """SELECT json_extract(metrics_json, '$.output_tokens') FROM cells
                       WHERE model = ? AND status = 'done' AND metrics_json IS NOT NULL
                       ORDER BY ended_at DESC LIMIT ?""",
                    (name, per_model),
                ).fetchall()
                values = [float(r[0]) for r in rows if isinstance(r[0], int | float) and r[0] > 0]
                if values:
                    out[name] = sum(values) / len(values)
            return out

        result: dict[str, float] = self._read("read recent answer lengths", read)
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
            return ids_matching(conn, "runs", "created_at", run_id)

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
                              error_kind, error, metrics_json, ended_at, notice, checks_json
                       FROM cells WHERE run_id = ? ORDER BY row_index, col_index, cell_id""",
                    (full,),
                ).fetchall()
                names = _models_of(conn, [full]).get(full, ())
                verdicts, pairs = _judging_of(conn, full)
                ratings = {
                    str(r[0]): _rating(*r[1:])
                    for r in conn.execute(
                        "SELECT cell_id, thumb, stars, best, blind FROM ratings WHERE run_id = ?",
                        (full,),
                    )
                }
            finally:
                conn.execute("COMMIT")
            record = _record(row[:12], names)
            return StoredRun(
                **{n: getattr(record, n) for n in RunRecord.__dataclass_fields__},
                spec=_spec(row[12], record),
                cells=tuple(
                    _with_rating(_with_verdict(_cell(c), verdicts), ratings) for c in cells
                ),
                summary=_json_dict(row[13]),
                pairwise=pairs,
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

    # ------------------------------------------------------------------ ratings

    def set_rating(self, run_id: str, cell_id: str, rating: Rating | None) -> None:
        """Store the user's rating of one cell (``None`` or an empty rating clears it).

        The write goes through the writer thread, after every cell queued before it (a
        live run's cell is on disk before its rating). A best-in-row rating clears the best
        mark of the row's other cells. Blocks until the writer committed it; call it
        off the GUI thread.

        Raises:
            HistoryError: read-only or closed history, the run is gone, or the file is busy
                (the rating then waits in memory and is written with the next batch).
        """
        if self._writer is None:
            raise HistoryError("The history is read-only (written by a newer Fanout Studio).")
        if self._closed:
            raise HistoryError("History is closed: the rating was not saved.")
        item = _Rate(run_id, cell_id, rating, time.time())
        self._queue.put(item)
        if not item.done.wait(_BUSY_TIMEOUT_S * 4):
            raise HistoryError("The history is busy: the rating is not saved yet.")
        if item.error is not None:
            raise HistoryError(f"The rating was not saved ({item.error}).")

    def leaderboard_rows(
        self, query: str = "", *, since: float | None = None, until: float | None = None
    ) -> list[RatedRow]:
        """Every input row with a blind rating, with all its answers, for the leaderboard.

        Args:
            query: Case-insensitive substring of the run's template ("" = every run).
            since: Only runs started at or after this epoch second.
            until: Only runs started before this epoch second.

        Raises:
            HistoryError: the database cannot be read.
        """
        where = ["c.run_id = r.run_id"]
        params: list[Any] = []
        if query:
            where.append("instr(fold(runs.template), ?) > 0")
            params.append(query.casefold())
        if since is not None:
            where.append("runs.created_at >= ?")
            params.append(since)
        if until is not None:
            where.append("runs.created_at < ?")
            params.append(until)
        # The rows that have a blind rating, then every cell of those rows with its rating.
        sql = f"""
            WITH rated AS (
                SELECT c.run_id AS run_id, c.row_index AS row_index,
                       max(r.updated_at) AS rated_at
                FROM ratings r
                JOIN cells c ON c.run_id = r.run_id AND c.cell_id = r.cell_id
                JOIN runs ON runs.id = r.run_id
                WHERE r.blind = 1 AND {" AND ".join(where)}
                GROUP BY c.run_id, c.row_index
            )
            SELECT rated.run_id, rated.row_index, rated.rated_at, c.col_index, c.model, c.status,
                   r.thumb, r.stars, r.best, r.blind
            FROM rated
            JOIN cells c ON c.run_id = rated.run_id AND c.row_index = rated.row_index
            LEFT JOIN ratings r ON r.run_id = c.run_id AND r.cell_id = c.cell_id
            ORDER BY rated.rated_at, rated.run_id, rated.row_index, c.col_index"""

        def read(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            return conn.execute(sql, params).fetchall()

        found: list[tuple[Any, ...]] = self._read("read the ratings", read)
        rows: dict[tuple[str, int], tuple[float, list[RatedAnswer]]] = {}
        for run_id, row, rated_at, col, model, status, thumb, stars, best, blind in found:
            rating = None if thumb is None else _rating(thumb, stars, best, blind)
            answer = RatedAnswer(str(model), int(col), status == "done", rating)
            rows.setdefault((str(run_id), int(row)), (float(rated_at), []))[1].append(answer)
        return [
            RatedRow(run_id, row, rated_at, tuple(answers))
            for (run_id, row), (rated_at, answers) in rows.items()
        ]


_BATCH_COLUMNS = (
    "run_id, file_index, col_index, first_row, row_count, batch_id, input_file_id,"
    " state, output_file_id, error_file_id, total, completed, failed, created_at, updated_at,"
    " ingested_at, message, cell_ids_json"
)


def _write_batch(conn: sqlite3.Connection, r: BatchRecord) -> None:
    conn.execute(
        f"INSERT OR REPLACE INTO batches ({_BATCH_COLUMNS}) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            r.run_id,
            r.file_index,
            r.col,
            r.first_row,
            r.rows,
            r.batch_id,
            r.input_file_id,
            str(r.state),
            r.output_file_id,
            r.error_file_id,
            r.total,
            r.completed,
            r.failed,
            r.created_at,
            r.updated_at,
            r.ingested_at,
            None if r.message is None else _safe(r.message)[0],
            json.dumps(list(r.cells)) if r.cells else None,
        ),
    )


def _outside_open_batches(
    conn: sqlite3.Connection, run_id: str
) -> tuple[str, list[Any], list[str]]:
    """A ``WHERE`` condition on ``cells`` for the run's cells outside its open batches (the
    ranges of batches not ingested yet), its parameters, and the cells listed by the run's
    open retry batches (a retry's cells have rows already: the caller takes them off)."""
    open_ranges = conn.execute(
        "SELECT col_index, first_row, row_count, cell_ids_json FROM batches "
        "WHERE run_id = ? AND ingested_at IS NULL",
        (run_id,),
    ).fetchall()
    where = "run_id = ?"
    params: list[Any] = [run_id]
    listed: list[str] = []
    for col, first, count, cells_json in open_ranges:
        if cells_json:
            listed += [str(c) for c in json.loads(cells_json)]
            continue
        where += " AND NOT (col_index = ? AND row_index >= ? AND row_index < ?)"
        params += [col, first, first + count]
    return where, params, listed


def _judge_of(spec_json: str | None) -> JudgeSettings | None:
    """The judge of a stored spec, or ``None`` (none, or a spec this version cannot read)."""
    try:
        return spec_from_dict(_json_dict(spec_json)).judge
    except (ValueError, TypeError, AttributeError):
        return None


def _listed_statuses(
    conn: sqlite3.Connection, run_id: str, cell_ids: list[str], where: str, params: list[Any]
) -> dict[str, int]:
    """Of ``cell_ids`` (cells of the run's open retry batches), how many each status has
    among the cells the query ``where`` counts (a chunk of ids per statement)."""
    out: dict[str, int] = {}
    unique = sorted(set(cell_ids))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        sql = f"{where} AND cell_id IN ({marks}) GROUP BY status"
        for status, n in conn.execute(sql, [*params, *chunk]):
            out[str(status)] = out.get(str(status), 0) + int(n)
    return out


def _batch(row: tuple[Any, ...]) -> BatchRecord:
    (run_id, index, col, first, count, batch_id, input_id, state, out_id, err_id) = row[:10]
    total, completed, failed, created, updated, ingested, message, cells_json = row[10:]
    cells = json.loads(cells_json) if cells_json else []
    return BatchRecord(
        run_id=str(run_id),
        file_index=int(index),
        col=int(col),
        first_row=int(first),
        rows=int(count),
        batch_id=str(batch_id),
        input_file_id=str(input_id),
        state=BatchState.of(str(state)),
        output_file_id=out_id,
        error_file_id=err_id,
        total=int(total or 0),
        completed=int(completed or 0),
        failed=int(failed or 0),
        created_at=float(created),
        updated_at=float(updated),
        ingested_at=None if ingested is None else float(ingested),
        message=message,
        cells=tuple(str(c) for c in cells if isinstance(c, str)),
    )


def _judging_of(
    conn: sqlite3.Connection, run_id: str
) -> tuple[dict[str, JudgeVerdict], tuple[PairwiseResult, ...]]:
    """The judge's verdicts by cell id and its pairwise comparisons of run ``run_id``."""
    verdicts = {
        str(cell_id): JudgeVerdict(
            None if score is None else float(score),
            str(reason or ""),
            str(judge_model),
            None if error is None else str(error),
            str(raw or ""),
        )
        for cell_id, judge_model, score, reason, raw, error in conn.execute(
            """SELECT cell_id, judge_model, score, reason, raw, error
               FROM judgements WHERE run_id = ?""",
            (run_id,),
        )
    }
    pairs = tuple(
        PairwiseResult(
            int(row),
            str(first),
            str(second),
            None if winner is None else str(winner),
            str(judge_model),
            str(reason or ""),
            str(raw or ""),
            None if error is None else str(error),
        )
        for row, first, second, winner, judge_model, reason, raw, error in conn.execute(
            """SELECT row_index, first_cell, second_cell, winner_cell, judge_model, reason,
                      raw, error
               FROM pairwise WHERE run_id = ? ORDER BY created_at, row_index""",
            (run_id,),
        )
    )
    return verdicts, pairs


def _with_verdict(cell: StoredCell, verdicts: Mapping[str, JudgeVerdict]) -> StoredCell:
    verdict = verdicts.get(cell.cell_id)
    return cell if verdict is None else replace(cell, judge=verdict)


def ids_matching(conn: sqlite3.Connection, table: str, newest: str, prefix: str) -> list[str]:
    """The ids of ``table`` that ``prefix`` names: the exact id alone, else up to six ids
    starting with it, newest (by column ``newest``) first. ``table`` and ``newest`` are the
    code's own names, never user input."""
    exact = conn.execute(f"SELECT id FROM {table} WHERE id = ?", (prefix,)).fetchone()
    if exact:
        return [exact[0]]
    rows = conn.execute(
        f"SELECT id FROM {table} WHERE substr(id, 1, ?) = ? ORDER BY {newest} DESC LIMIT 6",
        (len(prefix), prefix),
    ).fetchall()
    return [r[0] for r in rows]


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


def _cost_summary(s: RunSummary) -> dict[str, Any]:
    """The run's token and cost totals and the budget's note, for ``runs.summary_json``."""
    out: dict[str, Any] = {
        "input_tokens": s.input_tokens,
        "output_tokens": s.output_tokens,
        "cost_usd": round(s.cost_usd, 8),
        "unpriced_cells": s.unpriced,
        "tokens_estimated": s.tokens_estimated,
    }
    if s.budget_note:
        out["budget_note"] = s.budget_note
    judged = judge_totals_of(s)
    if judged is not None:
        out["judge_cost"] = judge_cost_dict(judged)
    return out


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


def _rating(thumb: Any, stars: Any, best: Any, blind: Any) -> Rating:
    """A stored rating (values out of range, from a hand-edited file, are clamped)."""
    star = int(stars) if stars is not None and 1 <= int(stars) <= MAX_STARS else None
    return Rating(max(-1, min(1, int(thumb or 0))), star, bool(best), bool(blind))


def _with_rating(cell: StoredCell, ratings: Mapping[str, Rating]) -> StoredCell:
    rating = ratings.get(cell.cell_id)
    return cell if rating is None else replace(cell, rating=rating)


def _cell(row: tuple[Any, ...]) -> StoredCell:
    (cell_id, r, c, inputs_json, model, status, text, kind, error, metrics_json, ended_at) = row[
        :11
    ]
    notice = row[11] if len(row) > 11 else None
    checks = results_from_json(row[12]) if len(row) > 12 else ()
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
        notice=None if notice is None else str(notice),
        checks=checks,
    )
