"""What the history says it saved, it saved: bad text, a full disk, a vanished file."""

from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from gui.core.cleantext import REPLACED_NOTICE
from gui.storage import history as history_module
from gui.storage.export import export
from gui.storage.history import History
from tests.storage.fake_runs import feed_run, spec

CELLS = ["r0m0", "r0m1", "r1m0", "r1m1"]


def test_a_lone_surrogate_in_one_answer_never_drops_the_other_cells(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite3"
    bad = "half a pair \ud800 here"
    with History.open(db) as h:
        feed_run(
            h.recorder(),
            spec(topics=("cats", "bad \udcff input")),
            run_id="bad-text",
            outcomes={"r0m1": ("done", bad), "r1m0": ("failed", "server_error", "oops \udc80", "")},
        )
        assert h.flush()
        run = h.get_run("bad-text")
        assert run is not None and h.last_error is None
        assert (run.status, run.done, run.failed) == ("finished", 3, 1)
        assert h.unsaved("bad-text", CELLS) == ([], None)
    by_id = {c.cell_id: c for c in run.cells}
    assert by_id["r0m1"].text == "half a pair \ufffd here"
    assert by_id["r0m1"].notice == REPLACED_NOTICE
    assert by_id["r0m0"].notice is None and by_id["r0m0"].text == "answer r0m0"
    assert by_id["r1m0"].error == "oops \ufffd" and by_id["r1m0"].notice == REPLACED_NOTICE
    assert by_id["r1m1"].inputs == {"topic": "bad \ufffd input"}
    assert run.spec.rows[1] == {"topic": "bad \ufffd input"}
    # What is stored is clean UTF-8 all the way: JSON out of it never fails.
    json.dumps(run.to_dict(), ensure_ascii=False).encode("utf-8")
    rows = {r["output"]: r for r in csv.DictReader(io.StringIO(export(run, "csv"), newline=""))}
    assert rows["half a pair \ufffd here"]["notice"] == REPLACED_NOTICE
    assert rows["answer r0m0"]["notice"] == ""
    assert "half a pair \ufffd here<br>_(text had invalid characters, replaced)_" in export(
        run, "md"
    )


def test_a_full_disk_keeps_the_cells_in_memory_and_writes_them_once_there_is_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history_module, "_RETRY_EVERY_S", 0.05)
    db = tmp_path / "history.sqlite3"
    big = "x" * 200_000
    with History.open(db) as h:
        assert h._writer is not None
        pages = h._writer.execute("PRAGMA page_count").fetchone()[0]
        # SQLITE_FULL, exactly as a full disk reports it.
        h._writer.execute(f"PRAGMA max_page_count = {pages + 2}")
        feed_run(
            h.recorder(),
            spec(),
            run_id="full",
            outcomes={c: ("done", big) for c in CELLS},
        )
        assert h.flush()
        missing, reason = h.unsaved("full", CELLS)
        assert missing == CELLS and reason is not None and "full" in reason
        assert h.last_error is not None and "full" in h.last_error
        h._writer.execute("PRAGMA max_page_count = 1073741823")  # space freed
        for _ in range(400):  # the writer retries on its own; bounded by pytest-timeout too
            if h.unsaved("full", CELLS) == ([], None):
                break
            h.flush(timeout=0.05)
        assert h.unsaved("full", CELLS) == ([], None)
        run = h.get_run("full")
        assert run is not None and run.done == 4 and run.status == "finished"
        assert h.last_error is None


def test_a_history_file_removed_mid_run_is_not_called_saved(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    with History.open(home / "history.sqlite3") as h:
        record = h.recorder()
        feed_run(record, spec(), run_id="gone", finish=False, outcomes={"r0m0": ("done", "a")})
        assert h.flush()
        shutil.rmtree(home)  # the data folder vanished (SQLite keeps writing to the old inode)
        feed_run(record, spec(), run_id="gone2")
        assert h.flush()
        missing, reason = h.unsaved("gone2", CELLS)
        assert missing == CELLS and reason is not None and "removed" in reason


def test_a_locked_file_past_the_retry_budget_is_reported_not_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history_module, "_BUSY_TIMEOUT_S", 0.05)
    monkeypatch.setattr(history_module, "_RETRY_EVERY_S", 0.05)
    db = tmp_path / "history.sqlite3"
    with History.open(db) as h:
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            feed_run(h.recorder(), spec(), run_id="locked")
            assert h.flush()
            missing, reason = h.unsaved("locked", CELLS)
            assert missing == CELLS and reason is not None and "locked" in reason
        finally:
            other.execute("COMMIT")
            other.close()
        for _ in range(400):  # once the lock is gone, what waited in memory is written
            if h.unsaved("locked", CELLS) == ([], None):
                break
            h.flush(timeout=0.05)
        assert h.unsaved("locked", CELLS) == ([], None)
        run = h.get_run("locked")
        assert run is not None and run.done == 4


def test_a_history_off_for_the_session_saves_nothing_and_says_so(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with History.open(blocker / "history.sqlite3") as h:
        feed_run(h.recorder(), spec(), run_id="mem")
        assert h.flush()
        missing, reason = h.unsaved("mem", CELLS)
        assert missing == CELLS and reason == "history is off for this session"


def test_one_cell_that_cannot_be_written_never_takes_the_others_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_safe = history_module._safe

    def fail_on_poison(text: str, secrets: list[str] | None = None) -> tuple[str, bool]:
        if "poison" in text:
            raise ValueError("cannot store this text")
        return real_safe(text, secrets)

    monkeypatch.setattr(history_module, "_safe", fail_on_poison)
    with History.open(tmp_path / "history.sqlite3") as h:
        feed_run(h.recorder(), spec(), run_id="one-bad", outcomes={"r1m0": ("done", "poison")})
        assert h.flush()
        run = h.get_run("one-bad")
        assert run is not None and run.status == "finished"
        assert sorted(c.cell_id for c in run.cells) == ["r0m0", "r0m1", "r1m1"]
        missing, reason = h.unsaved("one-bad", CELLS)
        assert missing == ["r1m0"]
        assert reason == "CellFinished not written: cannot store this text"
