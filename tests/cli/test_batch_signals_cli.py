"""A batch run stopped by Ctrl+C, SIGTERM or SIGHUP says its batches still run (issue 10 §5).

The batches live on the provider's server and are billed whether or not a process waits for
them: a signal stops the waiting process (exit 130/143/129, as a live run), leaves the run
``submitted`` in the history and its batches untouched on the server, and says in one line
which batches still run there and how to collect or cancel them. The command it names then
collects the run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gui.cli_batch import left_running_line
from gui.core.batch import BatchPort, BatchRecord, BatchRun, BatchState
from gui.core.spec import ModelProfile, make_spec
from tests.cli.test_batch_saved_cli import ENV, on, recorded_batches
from tests.cli.test_data_trust_cli import fanout
from tests.support.openai_batches import BatchPlan
from tests.support.openai_server import Behavior, FakeOpenAIServer

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def srv() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=["fake-1"]) as server:
        server.batches.plan = BatchPlan(duration=3600.0)
        yield server


def spawn(home: Path, cwd: Path, *argv: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FANOUT_HOME": str(home), **ENV}
    return subprocess.Popen(
        [sys.executable, "-m", "gui", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=cwd,
    )


def stopped_line(kind: str, name: str, batch_id: str, run_id: str) -> str:
    return (
        f"fanout-studio {kind}: stopped by {name}: batch {batch_id} of run {run_id} still runs "
        "on the provider's server (and is billed); collect it with: fanout-studio batches wait "
        f"{run_id}, or cancel it with: fanout-studio batches cancel {run_id}"
    )


def history_json(home: Path, cwd: Path) -> list[dict[str, object]]:
    listed = fanout("history", "--json", home=home, cwd=cwd)
    assert listed.returncode == 0, listed.stderr
    runs: list[dict[str, object]] = json.loads(listed.stdout)
    return runs


@pytest.mark.parametrize(
    ("signum", "code", "name"),
    [
        (signal.SIGTERM, 143, "SIGTERM"),
        (signal.SIGHUP, 129, "SIGHUP"),
        (signal.SIGINT, 130, "Ctrl+C"),
    ],
)
def test_a_signal_while_run_batch_waits_says_the_batch_still_runs_and_how_to_get_it(
    srv: FakeOpenAIServer,
    fanout_home: Path,
    tmp_path: Path,
    signum: signal.Signals,
    code: int,
    name: str,
) -> None:
    waiting = spawn(
        fanout_home, tmp_path, "run", "--executor", "batch", "--wait", "--poll", "0.05",
        "-t", "a", "-t", "b", *on(srv),
    )  # fmt: skip
    try:
        assert srv.wait_for(lambda: recorded_batches(fanout_home / "history.sqlite3") > 0, 60)
        waiting.send_signal(signum)
        out, err = waiting.communicate(timeout=120)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.communicate()
    assert waiting.returncode == code, err
    assert out == b""
    (batch_id,) = srv.batches.batch_ids()
    (run,) = history_json(fanout_home, tmp_path)
    assert err.decode() == stopped_line("run", name, batch_id, str(run["id"])) + "\n"
    # Left with the provider, as said: not cancelled, and the run waits to be collected.
    assert srv.batches.cancelled() == [] and run["status"] == "submitted"
    srv.batches.complete_now()
    collected = fanout(
        "batches", "wait", str(run["id"]), "--poll", "0.05", home=fanout_home, cwd=tmp_path,
        env=ENV,
    )  # fmt: skip
    assert collected.returncode == 0, collected.stderr
    assert collected.stdout.decode().splitlines()[-1].endswith(f"saved as {run['id']}")


def test_sigterm_while_batches_wait_polls_says_which_batch_still_runs(
    srv: FakeOpenAIServer, fanout_home: Path, tmp_path: Path
) -> None:
    submitted = fanout(
        "run", "--executor", "batch", "-t", "a", *on(srv), home=fanout_home, cwd=tmp_path, env=ENV
    )
    assert submitted.returncode == 0, submitted.stderr
    run_id = submitted.stdout.decode().split()[1].rstrip(":")
    waiting = spawn(fanout_home, tmp_path, "batches", "wait", "--poll", "0.05", "-q")
    try:
        assert waiting.stderr is not None
        resumed = waiting.stderr.readline().decode()
        assert resumed.startswith("fanout-studio: Resumed 1 unfinished batch run"), resumed
        waiting.send_signal(signal.SIGTERM)
        out, err = waiting.communicate(timeout=120)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.communicate()
    assert waiting.returncode == 143, err
    assert out == b""
    (batch_id,) = srv.batches.batch_ids()
    assert err.decode() == stopped_line("batches", "SIGTERM", batch_id, run_id) + "\n"
    assert srv.batches.cancelled() == []
    (run,) = history_json(fanout_home, tmp_path)
    assert run["status"] == "submitted"


def _run_with(records: list[BatchRecord]) -> BatchRun:
    spec = make_spec("Explain {topic}", ["a"], [ModelProfile(model="m")])
    run = BatchRun(spec, _no_port, None, Path("unused"))
    run.batches = {r.file_index: r for r in records}
    return run


def _no_port(_profile: ModelProfile) -> BatchPort:
    raise AssertionError("the line is made without a provider")


def test_the_line_when_nothing_was_submitted_or_every_batch_ended_there() -> None:
    assert left_running_line([_run_with([])], [signal.SIGTERM]) == (
        "stopped by SIGTERM before any batch was submitted: nothing runs on the provider's server"
    )
    ended = BatchRecord("r1", 0, 0, 0, 1, "b1", "file-1", state=BatchState.COMPLETED)
    run = _run_with([ended])
    assert left_running_line([run], [signal.SIGHUP]) == (
        f"stopped by SIGHUP: the results of batch b1 of run {run.id} wait on the provider's "
        f"server; collect it with: fanout-studio batches wait {run.id}"
    )


def test_sigterm_during_a_live_retry_ends_its_cells_cancelled_and_recorded(
    fanout_home: Path, tmp_path: Path
) -> None:
    with FakeOpenAIServer(models=["fake-1"]) as srv:
        srv.batches.plan = BatchPlan(fail={"r0m0"})
        first = fanout(
            "run", "--executor", "batch", "--wait", "--poll", "0.05", "--json",
            "-t", "a", *on(srv), home=fanout_home, cwd=tmp_path, env=ENV,
        )  # fmt: skip
        run_id = json.loads(first.stdout)["run_id"]
        # The retried cell streams for 20 s: surely still streaming when the signal comes.
        srv.behave(lambda _req: Behavior(tokens=400, token_interval=0.05))
        retrying = spawn(fanout_home, tmp_path, "batches", "retry", run_id)
        try:
            # Tokens sent for a while, not only the request read: on a busy machine (two test
            # workers) a signal right after the first tokens were sent (a stream that then
            # stalled) came before the client had read them, and the cell had no text to keep.
            assert srv.wait_for(
                lambda: srv.in_flight == 1 and any(r.tokens_sent >= 8 for r in srv.requests), 60
            )
            retrying.send_signal(signal.SIGTERM)
            out, err = retrying.communicate(timeout=120)
        finally:
            if retrying.poll() is None:
                retrying.kill()
                retrying.communicate()
    assert retrying.returncode == 143, err
    assert out.decode().startswith(f"retried 1 cells of {run_id} live: 0 done · ")
    shown = fanout("show", run_id, "--json", home=fanout_home, cwd=tmp_path)
    (cell,) = json.loads(shown.stdout)["cells"]
    assert cell["status"] == "cancelled" and cell["text"]  # the partial text is kept
