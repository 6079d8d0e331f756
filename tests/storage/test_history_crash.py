"""``kill -9`` in the middle of a CLI run: the database stays sound and keeps every ended cell."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gui.cli import main
from gui.core.runner import CANCELLED_BEFORE_START, CANCELLED_BY_USER
from gui.storage.history import History
from tests.storage.fake_runs import feed_run, spec

ROOT = Path(__file__).resolve().parents[2]


def start_cli_run(home: Path, *extra: str) -> subprocess.Popen[str]:
    """``fanout-studio run`` over 40 topics in a child process recording into ``home``."""
    topics = [a for i in range(40) for a in ("-t", f"topic {i}")]
    env = {**os.environ, "FANOUT_HOME": str(home), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gui",
            "run",
            *topics,
            "--sim-latency",
            "0.4",
            "-c",
            "4",
            "-q",
            *extra,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def ended_cells(db: Path) -> dict[str, tuple[str, str]]:
    """What a read-only reader sees now: cell id -> (status, text)."""
    try:
        conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return {}
    try:
        rows = conn.execute("SELECT cell_id, status, text FROM cells").fetchall()
    except sqlite3.Error:  # not created yet
        return {}
    finally:
        conn.close()
    return {cell_id: (status, text) for cell_id, status, text in rows}


def wait_for_cells(proc: subprocess.Popen[str], db: Path, n: int) -> dict[str, tuple[str, str]]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        seen = ended_cells(db)
        if len(seen) >= n:
            return seen
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.02)
    raise AssertionError(f"fewer than {n} cells recorded in 60 s")


def test_kill_9_mid_run_keeps_every_ended_cell_and_the_run_shows_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "history.sqlite3"
    proc = start_cli_run(tmp_path)
    try:
        seen = wait_for_cells(proc, db, 8)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    after = ended_cells(db)
    assert all(after[cell_id] == row for cell_id, row in seen.items())
    assert all(status == "done" and text for status, text in seen.values())
    assert len(after) < 40  # it really was cut short

    with History.open(db) as history:
        assert history.notice is None
        (run,) = history.list_runs()
        assert run.status == "interrupted" and run.total == 40 and run.done == len(after)
        assert run.finished_at is not None and run.wall is None

    monkeypatch.setenv("FANOUT_HOME", str(tmp_path))
    assert main(["history"]) == 0
    assert " interrupted " in capsys.readouterr().out


def test_ctrl_c_mid_run_records_the_cancelled_cells_with_their_partial_text(
    tmp_path: Path,
) -> None:
    db = tmp_path / "history.sqlite3"
    proc = start_cli_run(tmp_path)
    try:
        wait_for_cells(proc, db, 4)
        time.sleep(0.2)  # cells end in waves of four: let the next wave stream for a while
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130 and "Traceback" not in err

    with History.open(db) as history:
        (record,) = history.list_runs()
        run = history.get_run(record.id)
    assert run is not None and run.status == "cancelled"
    assert len(run.cells) == 40 and run.done >= 4 and run.done + run.cancelled == 40
    cancelled = [c for c in run.cells if c.status == "cancelled"]
    for c in cancelled:  # a cell whose request never went out has no partial text to keep
        started = c.metrics is not None and c.metrics.started_at is not None
        assert c.error == (CANCELLED_BY_USER if started else CANCELLED_BEFORE_START), c
    assert any(c.text for c in cancelled)  # the ones streaming kept what they had


def test_a_cli_run_while_the_window_records_leaves_the_windows_run_alone(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite3"
    with History.open(db) as window:
        feed_run(
            window.recorder(),
            spec(),
            run_id="window-run",
            finish=False,
            outcomes={"r0m0": ("done", "w")},
        )
        assert window.flush()
        env = {**os.environ, "FANOUT_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
        proc = subprocess.run(
            [sys.executable, "-m", "gui", "run", "-t", "cats", "--sim-latency", "0.05", "-q"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0 and proc.stderr == ""
        status = {r.id: r.status for r in window.list_runs()}
        assert status["window-run"] == "running" and sorted(status.values()) == [
            "finished",
            "running",
        ]
        # The window's run goes on being recorded after the CLI's History came and went.
        feed_run(window.recorder(), spec(), run_id="window-run-2")
        assert window.flush() and window.get_run("window-run-2").status == "finished"
