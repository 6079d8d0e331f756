"""Batch runs from the command line: submit and exit, a process killed while it waits and a
new one that resumes and completes the run, cancel, a server without a Batch API, the
``batches`` list, and the batch JSONL export / import round trip."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gui.cli import main
from gui.storage.history import History
from tests.support.openai_batches import BatchPlan
from tests.support.openai_server import FakeOpenAIServer, default_answer

FAST_SIM = ["--sim-tokens", "6", "--seed", "1"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FANOUT_HOME", str(tmp_path))
    monkeypatch.setenv("LOCAL_KEY", "sk-test")
    return tmp_path


@pytest.fixture
def srv() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=["fake-1"]) as server:
        yield server


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def on(srv: FakeOpenAIServer) -> list[str]:
    return [
        "--provider", "openai", "--base-url", srv.base_url, "--api-key-env", "LOCAL_KEY", "-m", "fake-1",
    ]  # fmt: skip


def child(home: Path, *argv: str) -> subprocess.Popen[str]:
    env = {**os.environ, "FANOUT_HOME": str(home), "LOCAL_KEY": "sk-test"}
    return subprocess.Popen(
        [sys.executable, "-m", "gui", *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_batch_run_is_submitted_and_collected_later(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(
        capsys,
        "run",
        "--executor",
        "batch",
        "-t",
        "cats",
        "-t",
        "dogs",
        "--sim-batch-delay",
        "0.2",
        *FAST_SIM,
    )
    assert code == 0, err
    run_id = out.split()[1].rstrip(":")
    assert out.startswith(f"submitted {run_id}: 1 batch (batch-sim-")
    code, out, _ = cli(capsys, "batches", "--json")
    (listed,) = json.loads(out)
    assert listed["run_id"] == run_id and listed["ingested_at"] is None
    code, out, _ = cli(capsys, "history", "--json")
    assert json.loads(out)[0]["status"] == "submitted"
    code, out, err = cli(capsys, "batches", "wait", run_id, "--poll", "0.05", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["summary"]["done"] == 2
    assert {r["status"] for r in data["results"]} == {"done"}
    code, out, _ = cli(capsys, "history", "--json")
    assert json.loads(out)[0]["status"] == "finished"


def test_a_killed_waiting_process_is_resumed_and_completed_by_a_new_one(
    home: Path, srv: FakeOpenAIServer
) -> None:
    srv.batches.plan = BatchPlan(duration=3.0, fail={"r1m0"})
    waiting = child(
        home,
        "run",
        "--executor",
        "batch",
        "--wait",
        "--poll",
        "0.05",
        "-t",
        "a",
        "-t",
        "b",
        "-t",
        "c",
        "-q",
        *on(srv),
    )
    try:
        assert srv.wait_for(lambda: bool(srv.batches.batch_ids()), timeout=60)
        with History.open(home / "history.sqlite3") as h:
            assert srv.wait_for(lambda: bool(h.batches(open_only=True)), timeout=60)
        waiting.send_signal(signal.SIGKILL)
        waiting.wait(30)
    finally:
        if waiting.poll() is None:
            waiting.kill()
        waiting.communicate()
    with History.open(home / "history.sqlite3") as h:
        (run,) = h.list_runs()
        assert run.status == "submitted"  # not "interrupted": the batch is still with the server
    resumer = child(home, "batches", "wait", "--poll", "0.05", "--json")
    out, err = resumer.communicate(timeout=120)
    assert resumer.returncode == 1, err  # one cell failed, as a live run with a failure
    assert "Resumed 1 unfinished batch run from the history" in err
    data = json.loads(out)
    by_cell = {r["cell"]: r for r in data["results"]}
    assert by_cell["r0m0"]["output"] == default_answer("Tell me a joke about a", "fake-1", 5)
    assert by_cell["r1m0"]["status"] == "failed"
    with History.open(home / "history.sqlite3") as h:
        stored = h.get_run(run.id)
        assert stored is not None and stored.status == "finished"
        assert [c.status for c in stored.cells] == ["done", "failed", "done"]
        assert h.batches(open_only=True) == []


def test_cancel_from_the_cli_ends_the_requests_not_run_cancelled(
    home: Path, srv: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    srv.batches.plan = BatchPlan(duration=3600.0)
    code, out, err = cli(capsys, "run", "--executor", "batch", "-t", "a", "-t", "b", *on(srv))
    assert code == 0, err
    run_id = out.split()[1].rstrip(":")
    code, out, err = cli(capsys, "batches", "cancel", run_id[:12], "--poll", "0.05", "--json")
    assert code == 130, err
    data = json.loads(out)
    assert data["summary"]["cancelled"] == 2
    assert data["batches"][0]["state"] == "cancelled"
    assert srv.batches.cancelled() == srv.batches.batch_ids()


def test_a_server_without_the_batch_api_gets_one_line_and_exit_2(
    home: Path, srv: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    srv.batches.plan = BatchPlan(supported=False)
    code, out, err = cli(capsys, "run", "--executor", "batch", "-t", "a", *on(srv))
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert "does not offer the Batch API" in err and "Traceback" not in err


def test_export_batch_jsonl_and_import_batch_round_trip(
    home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = cli(
        capsys, "run", "-t", "cats", "-t", "dogs", "-m", "sim-a", "-m", "sim-b", "--json", *FAST_SIM
    )
    assert code == 0, err
    run_id = json.loads(out)["run_id"]
    requests = tmp_path / "requests.jsonl"
    code, _, err = cli(capsys, "export", run_id, "--format", "batch-jsonl", "-o", str(requests))
    assert code == 0, err
    lines = [json.loads(x) for x in requests.read_text().splitlines()]
    assert [x["custom_id"] for x in lines] == ["r0m0", "r0m1", "r1m0", "r1m1"]
    assert lines[1]["body"]["model"] == "sim-b"
    assert lines[0]["body"]["messages"] == [
        {"role": "user", "content": "Tell me a joke about cats"}
    ]
    # What vLLM's run-batch (or a provider) writes back: an answer per request, one failed.
    output = tmp_path / "output.jsonl"
    with output.open("w") as f:
        for x in lines:
            cid = x["custom_id"]
            if cid == "r1m1":
                response = {"status_code": 500, "body": {"error": {"message": "boom"}}}
            else:
                message = {"role": "assistant", "content": f"imported {cid}"}
                response = {
                    "status_code": 200,
                    "body": {
                        "choices": [{"message": message, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 6, "completion_tokens": 2},
                    },
                }
            f.write(json.dumps({"custom_id": cid, "response": response, "error": None}) + "\n")
    code, out, err = cli(capsys, "import-batch", run_id, str(output))
    assert code == 0, err
    assert out.startswith(f"imported 4 of 4 lines into {run_id}")
    code, out, _ = cli(capsys, "show", run_id, "--json")
    cells = {c["cell_id"]: c for c in json.loads(out)["cells"]}
    assert cells["r0m1"]["text"] == "imported r0m1"
    assert cells["r0m1"]["metrics"]["batch"] is True
    assert cells["r0m1"]["metrics"]["input_tokens"] == 6
    assert cells["r1m1"]["status"] == "failed"


def test_failed_and_expired_cells_are_retried_live_into_the_same_run(
    home: Path, srv: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    srv.batches.plan = BatchPlan(fail={"r0m0"}, expire={"r2m0"})
    code, out, err = cli(
        capsys, "run", "--executor", "batch", "--wait", "--poll", "0.05", "--json",
        "-t", "a", "-t", "b", "-t", "c", *on(srv),
    )  # fmt: skip
    assert code == 1, err
    run_id = json.loads(out)["run_id"]
    kinds = {r["cell"]: r.get("error_kind") for r in json.loads(out)["results"]}
    assert kinds["r2m0"] == "expired"
    code, out, err = cli(capsys, "batches", "retry", run_id)
    assert code == 0, err
    assert out.startswith(f"retried 2 cells of {run_id} live: 2 done")
    with History.open(home / "history.sqlite3") as h:
        stored = h.get_run(run_id)
        assert stored is not None and [c.status for c in stored.cells] == ["done"] * 3
        retried = {c.cell_id: c for c in stored.cells}["r2m0"]
        assert retried.metrics is not None and not retried.metrics.batch  # it ran live


def test_failed_cells_are_retried_as_a_new_batch_collected_by_batches_wait(
    home: Path, srv: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    srv.batches.plan = BatchPlan(fail={"r0m0"}, expire={"r2m0"})
    code, out, err = cli(
        capsys, "run", "--executor", "batch", "--wait", "--poll", "0.05", "--json",
        "-t", "a", "-t", "b", "-t", "c", *on(srv),
    )  # fmt: skip
    assert code == 1, err
    run_id = json.loads(out)["run_id"]
    srv.batches.plan = BatchPlan()
    code, out, err = cli(capsys, "batches", "retry", run_id, "--batch", "--poll", "0.05")
    assert code == 0, err
    assert out.startswith(f"submitted 2 failed cells of {run_id} again as 1 batch (")
    code, out, err = cli(capsys, "batches", "--json")
    listed = [b for b in json.loads(out) if b["run_id"] == run_id]
    assert [(b["file_index"], b["cells"]) for b in listed] == [(1, ["r0m0", "r2m0"]), (0, [])]
    code, out, err = cli(capsys, "batches", "wait", run_id, "--poll", "0.05", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["summary"]["done"] == 3 and data["summary"]["failed"] == 0
    with History.open(home / "history.sqlite3") as h:
        stored = h.get_run(run_id)
        assert stored is not None and stored.status == "finished"
        assert [c.status for c in stored.cells] == ["done"] * 3
        assert all(c.metrics is not None and c.metrics.batch for c in stored.cells)
    assert not srv.requests  # nothing went live


def test_a_batch_run_over_its_budget_is_refused_with_one_line(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(
        capsys, "run", "--executor", "batch", "-t", "a", "-t", "b", "--max-tokens", "1000",
        "--price", "sim-1=0:100", "--budget", "0.05",
    )  # fmt: skip
    assert code == 2
    assert err.strip().startswith("fanout-studio run: error: Not submitted: the batch is")
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    code, out, _ = cli(capsys, "batches")
    assert out.startswith("No batches recorded yet")


def test_a_judged_structured_sweep_runs_as_a_batch_with_repeats(
    home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"name": {"type": "string"}}}))
    code, out, err = cli(
        capsys, "run", "--executor", "batch", "--wait", "--poll", "0.05", "--sim-batch-delay",
        "0.1", "--json", "-t", "owls", "--temperature", "0", "--temperature", "1",
        "--repeat", "2", "--json-schema", str(schema), "--judge-model", "sim-judge",
        "--price", "sim-1=1:2",
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    results = {(r["cell"], r["sample"]): r for r in data["results"]}
    assert sorted(results) == [("r0m0", 1), ("r0m0s1", 2), ("r0m1", 1), ("r0m1s1", 2)]
    temps = {r["cell"]: r["column"]["parameters"]["temperature"] for r in data["results"]}
    assert (temps["r0m0"], temps["r0m1s1"]) == (0.0, 1.0)
    assert all(r["status"] == "done" for r in results.values())
    assert all(r["judge"] is not None for r in results.values())
    assert all(r["parsed"] is not None for r in results.values())  # JSON, as asked
    assert data["summary"]["cost"]["cost_usd"] > 0


def test_estimate_with_the_batch_executor_prices_at_the_batch_price_and_sends_nothing(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["-t", "a", "-t", "b", "--max-tokens", "1000", "--price", "sim-1=0:100", "--json"]
    code, out, _ = cli(capsys, "run", "--estimate", *common)
    assert code == 0
    live = json.loads(out)["estimate"]["cost_usd"]
    code, out, _ = cli(capsys, "run", "--executor", "batch", "--estimate", *common)
    assert code == 0
    batch = json.loads(out)["estimate"]
    assert batch["price"] == "batch" and batch["cost_usd"] == live / 2
    code, out, _ = cli(capsys, "batches")
    assert out.startswith("No batches recorded yet")
