"""``batches wait`` says "saved as" only when every cell it ended is on disk (issue 10 §4).

Real processes against the test server's Batch API: a batch submitted by one process is
collected by another while the history is locked past its retry budget, or removed; the
collector then names the cells it could not save and where their answers went, in one line,
exits 1 and still prints every answer. Cells an earlier process ended (a run whose failed
cells were sent again as a new batch) were on disk before it started: they count as saved.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_data_trust_cli import fanout
from tests.support.openai_batches import BatchPlan
from tests.support.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.timeout(180)

ENV = {"LOCAL_KEY": "sk-batch-test", "FANOUT_HISTORY_BUSY_TIMEOUT": "0.2"}


@pytest.fixture
def srv() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=["fake-1"]) as server:
        yield server


def on(srv: FakeOpenAIServer) -> list[str]:
    return [
        "--provider", "openai", "--base-url", srv.base_url, "--api-key-env", "LOCAL_KEY",
        "-m", "fake-1", "-q",
    ]  # fmt: skip


def submit(srv: FakeOpenAIServer, home: Path, cwd: Path, *extra: str) -> str:
    """Submit a two-cell batch run (``run --executor batch``, no wait); its id."""
    ran = fanout(
        "run", "--executor", "batch", "-t", "a", "-t", "b", *extra, *on(srv),
        home=home, cwd=cwd, env=ENV,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    return ran.stdout.decode().split()[1].rstrip(":")


def recorded_batches(db: Path) -> int:
    """Batches the history file holds (0 while it cannot be read)."""
    try:
        with contextlib.closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)) as conn:
            return int(conn.execute("SELECT count(*) FROM batches").fetchone()[0])
    except sqlite3.Error:
        return 0


def locked(db: Path) -> sqlite3.Connection:
    """Another program holding the history's write lock until it is rolled back."""
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return other


def test_batches_wait_with_a_locked_history_is_not_called_saved(
    srv: FakeOpenAIServer, fanout_home: Path, tmp_path: Path
) -> None:
    run_id = submit(srv, fanout_home, tmp_path)
    other = locked(fanout_home / "history.sqlite3")
    try:
        got = fanout(
            "batches", "wait", run_id, "--poll", "0.05", home=fanout_home, cwd=tmp_path, env=ENV
        )
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert got.returncode == 1, got.stderr
    out = got.stdout.decode()
    assert "saved as" not in out and "no result" not in out
    assert out.splitlines()[-1] == "2 done, 0 failed, 0 cancelled of 2 (batch)"
    assert out.count("· done ·") == 2  # every answer is printed, from memory
    (kept,) = tmp_path.glob("fanout-unsaved-*.json")
    assert got.stderr.decode() == (
        "fanout-studio batches: error: 2 cells (r0m0, r1m0) could not be saved to the history "
        f"(database is locked); the answers were written to {kept}\n"
    )
    data = json.loads(kept.read_text(encoding="utf-8"))
    assert [(r["cell"], r["status"]) for r in data["results"]] == [
        ("r0m0", "done"),
        ("r1m0", "done"),
    ]
    assert all(r["output"] for r in data["results"])


def test_batches_wait_json_says_saved_false_with_the_answers(
    srv: FakeOpenAIServer, fanout_home: Path, tmp_path: Path
) -> None:
    run_id = submit(srv, fanout_home, tmp_path)
    other = locked(fanout_home / "history.sqlite3")
    try:
        got = fanout(
            "batches", "wait", run_id, "--poll", "0.05", "--json",
            home=fanout_home, cwd=tmp_path, env=ENV,
        )  # fmt: skip
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert got.returncode == 1
    data = json.loads(got.stdout)
    assert data["saved"] is False
    assert [(r["cell"], r["status"]) for r in data["results"]] == [
        ("r0m0", "done"),
        ("r1m0", "done"),
    ]
    (line,) = got.stderr.decode().splitlines()
    assert line.startswith("fanout-studio batches: error: 2 cells (r0m0, r1m0) could not be saved")


def test_a_history_removed_while_batches_wait_polls_is_not_called_saved(
    srv: FakeOpenAIServer, fanout_home: Path, tmp_path: Path
) -> None:
    srv.batches.plan = BatchPlan(duration=3600.0)
    run_id = submit(srv, fanout_home, tmp_path)
    env = {**os.environ, "FANOUT_HOME": str(fanout_home), **ENV}
    waiting = subprocess.Popen(
        [sys.executable, "-m", "gui", "batches", "wait", "--poll", "0.05", "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        assert waiting.stderr is not None
        # Said once the history is open and the run resumed from it.
        resumed = waiting.stderr.readline().decode()
        assert resumed.startswith("fanout-studio: Resumed 1 unfinished batch run"), resumed
        for path in fanout_home.glob("history.sqlite3*"):
            path.unlink()
        srv.batches.complete_now()
        out, err = waiting.communicate(timeout=120)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.communicate()
    assert waiting.returncode == 1, err
    text = out.decode()
    assert "saved as" not in text and "2 done, 0 failed" in text
    (kept,) = tmp_path.glob("fanout-unsaved-*.json")
    db = fanout_home / "history.sqlite3"
    assert err.decode() == (
        "fanout-studio batches: error: 2 cells (r0m0, r1m0) could not be saved to the history "
        f"({db} was removed while the run was recorded); the answers were written to {kept}\n"
    )
    assert json.loads(kept.read_text(encoding="utf-8"))["run_id"] == run_id


@pytest.mark.parametrize("lock", [False, True], ids=["writable", "locked"])
def test_cells_an_earlier_process_ended_count_as_saved(
    srv: FakeOpenAIServer, fanout_home: Path, tmp_path: Path, lock: bool
) -> None:
    srv.batches.plan = BatchPlan(fail={"r0m0"})
    first = fanout(
        "run", "--executor", "batch", "--wait", "--poll", "0.05", "--json",
        "-t", "a", "-t", "b", "-t", "c", *on(srv), home=fanout_home, cwd=tmp_path, env=ENV,
    )  # fmt: skip
    assert first.returncode == 1  # r0m0 failed; the others are done and on disk
    run_id = json.loads(first.stdout)["run_id"]
    srv.batches.plan = BatchPlan()
    again = fanout(
        "batches", "retry", run_id, "--batch", "--poll", "0.05",
        home=fanout_home, cwd=tmp_path, env=ENV,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    other = locked(fanout_home / "history.sqlite3") if lock else None
    try:
        got = fanout(
            "batches", "wait", run_id, "--poll", "0.05", home=fanout_home, cwd=tmp_path, env=ENV
        )
    finally:
        if other is not None:
            other.execute("ROLLBACK")
            other.close()
    text = got.stdout.decode()
    assert "3 done, 0 failed, 0 cancelled of 3 (batch)" in text
    if not lock:
        assert got.returncode == 0 and got.stderr == b""
        assert text.splitlines()[-1].endswith(f"· saved as {run_id}")
        assert not list(tmp_path.glob("fanout-unsaved-*.json"))
        return
    # Only the cell this process ended is unsaved: r1m0 and r2m0 were on disk already.
    assert got.returncode == 1 and "saved as" not in text
    (kept,) = tmp_path.glob("fanout-unsaved-*.json")
    assert got.stderr.decode() == (
        "fanout-studio batches: error: 1 cell (r0m0) could not be saved to the history "
        f"(database is locked); the answers were written to {kept}\n"
    )
    data = json.loads(kept.read_text(encoding="utf-8"))
    assert [(r["cell"], r["status"]) for r in data["results"]] == [("r0m0", "done")]


def test_run_batch_wait_with_a_history_locked_after_submitting_keeps_every_answer(
    srv: FakeOpenAIServer, fanout_home: Path, tmp_path: Path
) -> None:
    srv.batches.plan = BatchPlan(duration=3600.0)
    env = {**os.environ, "FANOUT_HOME": str(fanout_home), **ENV}
    waiting = subprocess.Popen(
        [sys.executable, "-m", "gui", "run", "--executor", "batch", "--wait", "--poll", "0.05",
         "-t", "a", "-t", "b", *on(srv)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path,
    )  # fmt: skip
    other: sqlite3.Connection | None = None
    try:
        db = fanout_home / "history.sqlite3"
        assert srv.wait_for(lambda: recorded_batches(db) > 0, timeout=60)
        other = locked(db)
        srv.batches.complete_now()
        out, err = waiting.communicate(timeout=120)
    finally:
        if other is not None:
            other.execute("ROLLBACK")
            other.close()
        if waiting.poll() is None:
            waiting.kill()
            waiting.communicate()
    assert waiting.returncode == 1, err
    text = out.decode()
    assert "saved as" not in text and "no result" not in text and text.count("· done ·") == 2
    (line,) = err.decode().splitlines()
    assert line.startswith("fanout-studio run: error: 2 cells (r0m0, r1m0) could not be saved")
    assert "database is locked" in line and str(next(tmp_path.glob("fanout-unsaved-*"))) in line


def test_a_batch_run_without_history_prints_its_answers_and_is_not_called_saved(
    fanout_home: Path, tmp_path: Path
) -> None:
    got = fanout(
        "run", "--executor", "batch", "--wait", "--no-history", "--poll", "0.05",
        "--sim-batch-delay", "0.1", "-t", "a", "-t", "b", "-q",
        home=fanout_home, cwd=tmp_path,
    )  # fmt: skip
    assert got.returncode == 0, got.stderr
    text = got.stdout.decode()
    assert text.count("· done ·") == 2 and "no result" not in text
    assert text.splitlines()[-1] == "2 done, 0 failed, 0 cancelled of 2 (batch)"


def test_a_submitted_batch_the_history_could_not_record_is_not_left_to_batches_wait(
    srv: FakeOpenAIServer, fanout_home: Path, tmp_path: Path
) -> None:
    assert fanout("history", home=fanout_home, cwd=tmp_path).returncode == 0  # the file exists
    other = locked(fanout_home / "history.sqlite3")
    try:
        got = fanout(
            "run", "--executor", "batch", "-t", "a", "-t", "b", *on(srv),
            home=fanout_home, cwd=tmp_path, env=ENV,
        )  # fmt: skip
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert got.returncode == 1
    (batch_id,) = srv.batches.batch_ids()
    out = got.stdout.decode()
    assert out.startswith("submitted ") and f"({batch_id})" in out
    assert "collect the results" not in out  # batches wait could not find it
    run_id = out.split()[1].rstrip(":")
    assert got.stderr.decode() == (
        f"fanout-studio run: error: batch {batch_id} of run {run_id} was submitted but could not "
        "be recorded in the history (database is locked): it runs on the provider's server (and "
        "is billed), and batches wait cannot collect it; cancel it with the provider if the "
        "results are not wanted\n"
    )


def test_failed_cells_sent_again_as_a_batch_the_history_could_not_record_say_so(
    srv: FakeOpenAIServer, fanout_home: Path, tmp_path: Path
) -> None:
    srv.batches.plan = BatchPlan(fail={"r0m0"})
    first = fanout(
        "run", "--executor", "batch", "--wait", "--poll", "0.05", "--json",
        "-t", "a", "-t", "b", *on(srv), home=fanout_home, cwd=tmp_path, env=ENV,
    )  # fmt: skip
    run_id = json.loads(first.stdout)["run_id"]
    srv.batches.plan = BatchPlan()
    other = locked(fanout_home / "history.sqlite3")
    try:
        got = fanout(
            "batches", "retry", run_id, "--batch", "--poll", "0.05",
            home=fanout_home, cwd=tmp_path, env=ENV,
        )  # fmt: skip
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert got.returncode == 1 and got.stdout == b""
    batch_id = srv.batches.batch_ids()[-1]
    (line,) = got.stderr.decode().splitlines()
    assert line.startswith(
        f"fanout-studio batches: error: batch {batch_id} of run {run_id} was submitted but "
        "could not be recorded in the history (database is locked)"
    )


def test_a_live_retry_into_a_locked_history_names_the_cells_it_could_not_save(
    srv: FakeOpenAIServer, fanout_home: Path, tmp_path: Path
) -> None:
    srv.batches.plan = BatchPlan(fail={"r1m0"})
    first = fanout(
        "run", "--executor", "batch", "--wait", "--poll", "0.05", "--json",
        "-t", "a", "-t", "b", *on(srv), home=fanout_home, cwd=tmp_path, env=ENV,
    )  # fmt: skip
    run_id = json.loads(first.stdout)["run_id"]
    other = locked(fanout_home / "history.sqlite3")
    try:
        got = fanout("batches", "retry", run_id, home=fanout_home, cwd=tmp_path, env=ENV)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert got.returncode == 1
    assert got.stdout.decode() == f"retried 1 cells of {run_id} live: 1 done · not saved\n"
    kept = tmp_path / f"fanout-unsaved-{run_id}.json"
    assert got.stderr.decode() == (
        "fanout-studio batches: error: 1 cell (r1m0) could not be saved to the history "
        f"(database is locked); the answers were written to {kept}\n"
    )
    data = json.loads(kept.read_text(encoding="utf-8"))
    assert data["run_id"] == run_id
    assert [(r["cell"], r["status"]) for r in data["results"]] == [("r1m0", "done")]


def test_an_import_into_a_locked_history_is_not_called_imported(
    fanout_home: Path, tmp_path: Path
) -> None:
    ran = fanout(
        "run", "-t", "cats", "--sim-ttft", "0", "--sim-tps", "0", "--json", "-q",
        home=fanout_home, cwd=tmp_path,
    )  # fmt: skip
    run_id = json.loads(ran.stdout)["run_id"]
    body = {
        "choices": [
            {"message": {"role": "assistant", "content": "imported"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 6, "completion_tokens": 2},
    }
    line = {"custom_id": "r0m0", "response": {"status_code": 200, "body": body}, "error": None}
    output = tmp_path / "output.jsonl"
    output.write_text(json.dumps(line) + "\n", encoding="utf-8")
    other = locked(fanout_home / "history.sqlite3")
    try:
        got = fanout("import-batch", run_id, str(output), home=fanout_home, cwd=tmp_path, env=ENV)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert got.returncode == 1 and got.stdout == b""
    (err,) = got.stderr.decode().splitlines()
    assert err.startswith(
        "fanout-studio import-batch: error: 1 cell (r0m0) could not be saved to the history "
        "(database is locked); the answers were written to "
    )
