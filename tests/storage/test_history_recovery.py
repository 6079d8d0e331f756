"""Old, damaged, newer and unwritable history files: nothing is lost and the app always starts."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gui.core import events as ev
from gui.core.metrics import RunSummary
from gui.core.spec import CellId, spec_to_dict
from gui.storage import history as history_module
from gui.storage import schema
from gui.storage.history import History, HistoryError
from gui.storage.recovery import left_cleanly
from tests.storage.fake_runs import feed_run, spec

# ------------------------------------------------------------------ schema 1 -> 2


def _version_1_file(path: Path) -> None:
    """A history as the first release wrote it, with its own DDL and rows."""
    old_spec = spec_to_dict(spec("Joke about {topic}", topics=["cats"], models=["sim-a", "old-b"]))
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in schema.V1_DDL:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO runs VALUES ('v1-done', 1000.0, 1002.5, 'finished', 'Joke about {topic}',"
        " 'stream', ?, 2, 1, 1, 0, 2.5)",
        (json.dumps(old_spec),),
    )
    conn.execute(
        "INSERT INTO runs VALUES ('v1-running', 2000.0, NULL, 'running', 'Joke about {topic}',"
        " 'gather', ?, 2, 1, 0, 0, NULL)",
        (json.dumps(old_spec),),
    )
    cells = [
        ("v1-done", "r0m0", 0, 0, '{"topic": "cats"}', "sim-a", "done", "Meow.", None, 1.5, 0.3, 7, 1001.5),
        ("v1-done", "r0m1", 0, 1, '{"topic": "cats"}', "old-b", "failed", "Me", "old-b: 500", 2.0, 0.4, 1, 1002.5),
        ("v1-running", "r0m0", 0, 0, '{"topic": "cats"}', "sim-a", "done", "Purr.", None, 1.0, 0.2, 5, 2001.0),
    ]  # fmt: skip
    conn.executemany("INSERT INTO cells VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", cells)
    conn.close()


def test_a_version_1_history_is_migrated_with_every_old_run_intact(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite3"
    _version_1_file(db)
    with History.open(db) as h:
        assert h.notice is None
        runs = {r.id: r for r in h.list_runs()}
        assert list(runs) == ["v1-running", "v1-done"]
        old = runs["v1-done"]
        assert (old.status, old.template, old.strategy, old.models) == (
            "finished",
            "Joke about {topic}",
            "stream",
            ("sim-a", "old-b"),
        )
        assert (old.total, old.done, old.failed, old.wall, old.label) == (2, 1, 1, 2.5, None)
        # The v1 app died while this one ran: it has no owner, so it is interrupted now.
        assert runs["v1-running"].status == "interrupted"
        assert runs["v1-running"].finished_at == 2001.0

        stored = h.get_run("v1-done")
        assert stored is not None and stored.spec.models[1].model == "old-b"
        done, failed = stored.cells
        assert (done.text, done.status, done.error_kind) == ("Meow.", "done", None)
        assert done.metrics is not None
        assert (done.metrics.latency, done.metrics.ttft, done.metrics.output_tokens) == (
            1.5,
            0.3,
            7,
        )
        assert done.metrics.ended_at == 1.5  # seconds since the run started, as v2 keeps it
        assert (failed.text, failed.error, failed.error_kind) == ("Me", "old-b: 500", None)
        assert stored.summary == {}
        assert h.list_runs(model="OLD-B")[0].id == "v1-running"

        # New runs are recorded in the new layout next to the old ones.
        feed_run(h.recorder(label="new"), spec(), run_id="v2-run", started_at=3000.0)
        assert h.flush()
        assert h.get_run("v2-run").label == "new"  # type: ignore[union-attr]
    with sqlite3.connect(db) as conn:
        assert schema.user_version(conn) == schema.SCHEMA_VERSION == 6
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_a_fresh_file_goes_through_every_migration_step(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite3"
    with History.open(db):
        pass
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert tables == {
            "runs",
            "cells",
            "run_models",
            "judgements",
            "pairwise",
            "ratings",
            "chats",
            "chat_columns",
            "chat_nodes",
            "chat_images",
            "batches",
        }
        columns = {r[1] for r in conn.execute("PRAGMA table_info(cells)")}
        assert {"metrics_json", "error_kind", "notice", "checks_json"} <= columns
        assert "latency" not in columns


# ------------------------------------------------------------------ schema 3 -> 4

#: The tables schemas 5 and 6 added (dropped to rebuild an older layout).
CHAT_TABLES = ("chat_images", "chat_nodes", "chat_columns", "chats", "batches")


def test_a_version_3_history_keeps_its_runs_and_gains_the_judging_tables(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite3"
    with History.open(db) as h:
        feed_run(h.recorder(), spec(), run_id="before-4")
        assert h.flush()
    # Take the file back to the version-3 layout, as the previous release left it.
    with sqlite3.connect(db) as conn:
        for table in ("judgements", "pairwise", "ratings", *CHAT_TABLES):
            conn.execute(f"DROP TABLE {table}")
        conn.execute("ALTER TABLE cells DROP COLUMN checks_json")
        conn.execute("PRAGMA user_version = 3")
    with History.open(db) as h:
        run = h.get_run("before-4")
        assert run is not None and run.done == 4
        assert all(c.text for c in run.cells)
    with sqlite3.connect(db) as conn:
        assert schema.user_version(conn) == schema.SCHEMA_VERSION
        assert conn.execute("SELECT COUNT(*) FROM ratings").fetchone() == (0,)
        assert conn.execute("SELECT checks_json FROM cells").fetchall() == [(None,)] * 4
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


# ------------------------------------------------------------------ a newer app's file


def test_a_newer_history_is_shown_read_only_and_left_untouched(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite3"
    with History.open(db) as h:
        feed_run(h.recorder(), spec(), run_id="from-newer")
    with sqlite3.connect(db) as conn:
        conn.execute("ALTER TABLE runs ADD COLUMN something_new TEXT")
        conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    before = db.read_bytes()

    with History.open(db) as h:
        assert h.read_only and h.notice is not None
        assert "newer Fanout Studio" in h.notice and "read-only" in h.notice
        assert [r.id for r in h.list_runs()] == ["from-newer"]
        assert h.get_run("from-newer").done == 4  # type: ignore[union-attr]
        feed_run(h.recorder(), spec(), run_id="not-recorded")
        assert h.flush()
        with pytest.raises(HistoryError, match="read-only"):
            h.delete_run("from-newer")
    assert db.read_bytes() == before
    with sqlite3.connect(db) as conn:
        assert schema.user_version(conn) == schema.SCHEMA_VERSION + 1


# ------------------------------------------------------------------ damaged files


def _garbage(db: Path) -> None:
    db.write_bytes(b"this is not a database\x00\xff" * 200)


def _truncated(db: Path) -> None:
    with History.open(db) as h:
        for i in range(40):
            feed_run(h.recorder(), spec(topics=[f"t{i}" * 300] * 4), run_id=f"run-{i}")
    data = db.read_bytes()
    assert len(data) > 100_000
    db.write_bytes(data[: len(data) // 2])


def _folder(db: Path) -> None:
    db.mkdir()
    (db / "something").write_text("x")


def _no_permission(db: Path) -> None:
    with History.open(db):
        pass
    db.chmod(0)


DAMAGE: dict[str, Callable[[Path], None]] = {
    "garbage bytes": _garbage,
    "truncated": _truncated,
    "a folder in its place": _folder,
    "permission denied": _no_permission,
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_an_unreadable_file_is_moved_aside_and_a_new_one_started(
    tmp_path: Path, damage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "history.sqlite3"
    DAMAGE[damage](db)
    if damage == "permission denied":
        # A file of another user: its mode cannot be set back to 0600 on start.
        monkeypatch.setattr(history_module.paths, "secure", lambda folder=None: None)
    if damage == "permission denied" and os.geteuid() == 0:
        # Root reads any file, so the refusal is the one an ordinary user would get.
        real_open = Path.open

        def refuse(self: Path, *args: Any, **kwargs: Any) -> Any:
            if self == db and db.stat().st_mode & 0o777 == 0:
                raise PermissionError(13, "Permission denied", str(self))
            return real_open(self, *args, **kwargs)

        monkeypatch.setattr(Path, "open", refuse)
    (tmp_path / "history.sqlite3-wal").write_bytes(b"stale wal")
    (tmp_path / "history.sqlite3-shm").write_bytes(b"stale shm")

    with History.open(db) as h:
        assert h.persistent and not h.read_only
        (backup,) = tmp_path.glob("history.sqlite3.corrupt-*[0-9]")
        assert h.notice is not None and str(backup) in h.notice
        assert len(h.notice.splitlines()) == 1 and "Traceback" not in h.notice
        if damage != "truncated":  # SQLite itself opened that one and dropped the bad WAL
            assert backup.with_name(backup.name + "-wal").read_bytes() == b"stale wal"
            assert backup.with_name(backup.name + "-shm").read_bytes() == b"stale shm"
        assert (
            not (tmp_path / "history.sqlite3-wal").exists()
            or (tmp_path / "history.sqlite3-wal").read_bytes() != b"stale wal"
        )
        assert h.list_runs() == []
        feed_run(h.recorder(), spec(), run_id="after")
        assert h.flush()
    # The next start is quiet: no crash loop, no second backup.
    with History.open(db) as h:
        assert h.notice is None and [r.id for r in h.list_runs()] == ["after"]
    assert len(list(tmp_path.glob("history.sqlite3.corrupt-*[0-9]"))) == 1


def test_an_empty_file_is_just_a_new_history(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite3"
    db.write_bytes(b"")
    with History.open(db) as h:
        assert h.notice is None and h.list_runs() == []
    assert not list(tmp_path.glob("*.corrupt-*"))


def test_where_no_file_can_be_made_history_lives_in_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    db = blocker / "history.sqlite3"
    with History.open(db) as h:
        assert not h.persistent and h.notice is not None
        assert h.notice.startswith("History is off for this session") and str(db) in h.notice
        feed_run(h.recorder(), spec(), run_id="in-memory")
        assert h.flush()
        assert h.get_run("in-memory").done == 4  # type: ignore[union-attr]
    assert blocker.read_text() == "a file where the data folder should be"


def test_an_uncreatable_data_folder_is_a_notice_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("FANOUT_HOME", str(blocker / "home"))
    with History.open() as h:
        assert not h.persistent and h.notice is not None and "data folder" in h.notice


# ------------------------------------------------------------------ another program holds the lock


def test_a_locked_file_is_left_alone_and_history_is_off_for_the_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history_module, "_BUSY_TIMEOUT_S", 0.1)
    db = tmp_path / "history.sqlite3"
    _version_1_file(db)  # needs a migration, i.e. the write lock
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with History.open(db) as h:
            assert not h.persistent and h.notice is not None
            assert "History is off for this session" in h.notice and "locked" in h.notice
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert not list(tmp_path.glob("*.corrupt-*"))
    with History.open(db) as h:  # once the other program lets go, all is there
        assert h.notice is None and len(h.list_runs()) == 2


def test_a_batch_that_waited_out_a_lock_is_written_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history_module, "_BUSY_TIMEOUT_S", 0.05)
    db = tmp_path / "history.sqlite3"
    every_cell = {CellId.text(r, m): ("done", "ok") for r in range(2) for m in range(2)}
    with History.open(db) as h:
        record = h.recorder()
        feed_run(record, spec(), run_id="waited", finish=False, outcomes=every_cell)
        assert h.flush()
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        summary = RunSummary(
            total=4, done=4, failed=0, cancelled=0, wall=1.0, strategy="stream", peak_in_flight=4
        )
        record(ev.RunFinished("waited", 1.0, summary))
        time.sleep(0.25)  # the writer's first attempts time out meanwhile
        other.execute("COMMIT")
        other.close()
        assert h.flush()
        run = h.get_run("waited")
        assert run is not None and (run.status, run.done, run.wall) == ("finished", 4, 1.0)
        assert h.last_error is None


# ------------------------------------------------------------------ the integrity check


_CRASHING_WRITER = """
import os, sys
from gui.storage.history import History
from tests.storage.fake_runs import feed_run, spec
history = History.open(__import__("pathlib").Path(sys.argv[1]))
feed_run(history.recorder(), spec(topics=["cats", "dogs"]), run_id="before-the-crash")
assert history.flush()
os._exit(0)  # no close, no atexit: what kill -9 or a power cut leaves
"""


def test_a_clean_reopen_skips_the_full_check_and_a_crashed_writers_file_gets_it(
    tmp_path: Path,
) -> None:
    db = tmp_path / "history.sqlite3"
    with History.open(db) as h:
        assert not h.integrity_checked  # a new file
        feed_run(h.recorder(), spec(), run_id="clean")
    with History.open(db) as h:  # the last session closed it: no page-by-page read
        assert not h.integrity_checked and h.notice is None
        assert [r.id for r in h.list_runs()] == ["clean"]

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.run(
        [sys.executable, "-c", _CRASHING_WRITER, str(db)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert db.with_name(db.name + "-wal").exists()  # what the crashed writer left
    with History.open(db) as h:
        assert h.integrity_checked and h.notice is None
        assert {r.id for r in h.list_runs()} == {"clean", "before-the-crash"}
    with History.open(db) as h:  # that session ended cleanly again
        assert not h.integrity_checked


def test_a_file_cut_short_without_a_wal_is_still_moved_aside(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite3"
    _truncated(db)  # a copy that stopped half-way: closed cleanly, no -wal beside it
    assert not db.with_name(db.name + "-wal").exists()
    assert not left_cleanly(db)  # shorter than its header says: the full check runs
    with History.open(db) as h:
        (backup,) = tmp_path.glob("history.sqlite3.corrupt-*[0-9]")
        assert h.notice is not None and str(backup) in h.notice
        assert h.list_runs() == []
