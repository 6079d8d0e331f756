"""A batch run is named by its executor wherever a run's strategy is shown: ``show``, the
``history`` list and an export's header say ``batch``, never the ``stream`` its spec carries
(also for a batch run an older version recorded as ``stream``). In real processes."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest


def fanout(home: Path, *argv: str) -> str:
    env = {**os.environ, "FANOUT_HOME": str(home)}
    proc = subprocess.run(
        [sys.executable, "-m", "gui", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def shown_strategies(home: Path, run_id: str) -> list[str]:
    """The strategy as ``show``, ``show --json``, ``history`` and an export's header say it."""
    show_head = fanout(home, "show", run_id).splitlines()[0]
    show_json = json.loads(fanout(home, "show", run_id, "--json"))["strategy"]
    (listed,) = json.loads(fanout(home, "history", "--json"))
    md = fanout(home, "export", run_id, "--format", "md")
    header = next(line for line in md.splitlines() if line.startswith("- **Strategy:**"))
    return [show_head.split(" · ")[3], show_json, listed["strategy"], header.split()[-1]]


@pytest.fixture
def batch_run(tmp_path: Path) -> tuple[Path, str]:
    out = fanout(
        tmp_path,
        "run", "-t", "cats", "--executor", "batch", "--wait", "--sim-batch-delay", "0.2",
        "--sim-ttft", "0", "--sim-tps", "0", "--sim-tokens", "6", "--json",
    )  # fmt: skip
    return tmp_path, json.loads(out)["run_id"]


def test_show_history_and_export_name_a_batch_run_batch(batch_run: tuple[Path, str]) -> None:
    home, run_id = batch_run
    assert shown_strategies(home, run_id) == ["batch"] * 4


def test_a_batch_run_recorded_as_stream_by_an_older_version_shows_as_batch(
    batch_run: tuple[Path, str],
) -> None:
    home, run_id = batch_run
    conn = sqlite3.connect(home / "history.sqlite3")
    with conn:
        conn.execute("UPDATE runs SET strategy = 'stream' WHERE id = ?", (run_id,))
    conn.close()
    assert shown_strategies(home, run_id) == ["batch"] * 4


def test_a_live_run_still_shows_its_strategy(tmp_path: Path) -> None:
    out = fanout(
        tmp_path, "run", "-t", "cats", "-s", "gather", "--sim-ttft", "0", "--sim-tps", "0", "--json"
    )
    assert shown_strategies(tmp_path, json.loads(out)["run_id"]) == ["gather"] * 4
