"""A data folder removed while the command line runs is made again private (issue 10 §3).

Real processes under umask 022 (which makes folders 0755 and files 0644 unless the app says
otherwise): the data folder is removed while a batch run waits for its batch, or while a live
run streams; whatever the process makes afterwards (the folder the batch's results are
downloaded into, the file the unsaved answers go to) is 0700 or 0600.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_batch_saved_cli import ENV, on, recorded_batches
from tests.cli.test_data_trust_cli import _wait_for_run_row
from tests.support.openai_batches import BatchPlan
from tests.support.openai_server import FakeOpenAIServer

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions"),
]


@pytest.fixture
def srv() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=["fake-1"]) as server:
        server.batches.plan = BatchPlan(duration=3600.0)
        yield server


def loose(root: Path) -> list[str]:
    """Every folder under ``root`` that is not 0700 and every file that is not 0600."""
    out = []
    for path in [root, *root.rglob("*")]:
        want = 0o700 if path.is_dir() else 0o600
        if path.stat().st_mode & 0o777 != want:
            out.append(f"{path.relative_to(root)} {oct(path.stat().st_mode & 0o777)}")
    return out


def spawn(home: Path, cwd: Path, *argv: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "gui", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "FANOUT_HOME": str(home), **ENV},
        cwd=cwd,
        umask=0o022,
    )


def test_a_data_folder_removed_while_a_batch_runs_is_made_again_0700(
    srv: FakeOpenAIServer, tmp_path: Path
) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    waiting = spawn(
        home, work, "run", "--executor", "batch", "--wait", "--poll", "0.05",
        "-t", "a", "-t", "b", *on(srv),
    )  # fmt: skip
    try:
        assert srv.wait_for(lambda: recorded_batches(home / "history.sqlite3") > 0, 60)
        shutil.rmtree(home)
        srv.batches.complete_now()
        out, err = waiting.communicate(timeout=120)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.communicate()
    # The results were downloaded (into a work folder made again) and every answer printed;
    # the history went with the folder, so they are not called saved.
    assert waiting.returncode == 1, err
    assert out.decode().count("· done ·") == 2
    assert home.is_dir() and (home / "batches" / "work").is_dir()
    assert loose(home) == []
    (kept,) = work.glob("fanout-unsaved-*.json")
    assert kept.stat().st_mode & 0o777 == 0o600


def test_a_data_folder_removed_while_a_live_run_streams_leaves_nothing_readable(
    tmp_path: Path,
) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    running = spawn(
        home, work, "run", "-t", "a", "-t", "b", "--sim-ttft", "2", "--sim-tps", "0",
        "--sim-tokens", "3", "--cache", "-q",
    )  # fmt: skip
    try:
        _wait_for_run_row(home / "history.sqlite3", running)
        shutil.rmtree(home)
        out, err = running.communicate(timeout=120)
    finally:
        if running.poll() is None:
            running.kill()
            running.communicate()
    assert running.returncode == 1, err
    assert b"2 done" in out
    if home.exists():
        assert loose(home) == []
    (kept,) = work.glob("fanout-unsaved-*.json")
    assert kept.stat().st_mode & 0o777 == 0o600
