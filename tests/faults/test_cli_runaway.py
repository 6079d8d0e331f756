"""The command line against runaway servers and stop signals, as a user's shell sees it.

SIGTERM (a service manager, ``kill``, ``timeout``) and SIGHUP (the terminal closed) end a run
as Ctrl+C does: every cell cancelled with its partial text, in ``--json`` and in the history,
and the shell's exit code for the signal. A server that floods the client with large events
cannot take the machine's memory: the answer is cut at the size cap. A cut answer is marked
in the text output, for the run and for ``show``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest

from gui.cli import main
from gui.storage.history import History
from tests.faults.cases import TEMPLATE
from tests.support.openai_server import Behavior, FakeOpenAIServer, default_answer

pytestmark = pytest.mark.timeout(90)

ROOT = Path(__file__).resolve().parents[2]


def run_argv(server: FakeOpenAIServer, *topics: str, extra: tuple[str, ...] = ()) -> list[str]:
    cells = [arg for topic in topics for arg in ("-t", topic)]
    return [
        "run",
        "-p",
        TEMPLATE,
        *cells,
        "-m",
        "fake-1",
        "--provider",
        "openai",
        "--base-url",
        server.base_url,
        "--api-key-env",
        "FANOUT_TEST_KEY",
        "--json",
        "-q",
        *extra,
    ]


@pytest.mark.parametrize(
    ("signum", "code"),
    [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)],
    ids=["SIGTERM", "SIGHUP", "SIGINT"],
)
def test_a_stop_signal_ends_the_run_like_ctrl_c(
    server: FakeOpenAIServer, signum: signal.Signals, code: int
) -> None:
    slow = Behavior(tokens=400, token_interval=0.05)  # 20 s per answer: surely still streaming
    server.behave(lambda _req: slow)
    topics = ("cats", "dogs", "owls")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gui", *run_argv(server, *topics)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        streaming = server.wait_for(
            lambda: len(server.requests) == 3 and all(r.tokens_sent >= 2 for r in server.requests),
            timeout=60,
        )
        assert streaming, proc.poll()
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    assert proc.returncode == code, err
    assert err == ""
    data = json.loads(out)
    assert data["summary"]["cancelled"] == 3
    for result in data["results"]:
        full = default_answer(TEMPLATE.format(topic=result["input"]["topic"]), "fake-1", 400)
        assert result["status"] == "cancelled"
        assert result["output"] and full.startswith(result["output"])  # partial text kept
    with History.open() as history:
        stored = history.get_run(data["run_id"])
    assert stored is not None and stored.cancelled == 3
    for result in data["results"]:
        cell = stored.cell(result["cell"])
        assert cell is not None and (cell.status, cell.text) == ("cancelled", result["output"])
    assert server.wait_for(lambda: server.open_connections == 0, 30)


def test_a_flood_of_large_events_keeps_the_command_line_memory_bounded(
    server: FakeOpenAIServer,
) -> None:
    server.behave(lambda _req: Behavior(flood_after=2, flood_bytes=1_000_000))
    with tempfile.TemporaryFile("w+", encoding="utf-8") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gui", *run_argv(server, "cats")],
            stdout=out,
            stderr=subprocess.PIPE,
            cwd=ROOT,
        )
        # A hang or a runaway ends here, not in the test suite's timeout.
        guard = threading.Timer(60, proc.kill)
        guard.start()
        try:
            _pid, status, usage = os.wait4(proc.pid, 0)
        finally:
            guard.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        assert proc.stderr is not None
        err = proc.stderr.read().decode()
        proc.stderr.close()
        out.seek(0)
        data: dict[str, Any] = json.loads(out.read())

    assert proc.returncode == 1, err
    result = data["results"][0]
    assert (result["status"], result["error_kind"]) == ("failed", "too_large"), result["error"]
    assert "answer too large: more than 2,000,000 characters" in result["error"]
    assert len(result["output"]) == 2_000_000  # the default cap; the partial text is kept
    # ru_maxrss is in KiB on Linux. Unbounded, the flood grew the process until it was killed.
    assert usage.ru_maxrss < 1_000_000, f"peak {usage.ru_maxrss / 1024:.0f} MiB"


def test_a_cut_answer_is_marked_in_the_text_output_and_in_show(
    server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.route({"cats": Behavior(finish_reason="length")})
    argv = [a for a in run_argv(server, "cats", "dogs") if a != "--json"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("── ")]
    assert len(lines) == 2
    cut, whole = lines
    assert "× fake-1 · done · cut at max tokens · " in cut, cut
    assert "cut at max tokens" not in whole

    run_id = out.rsplit("saved as ", 1)[1].strip()
    assert main(["show", run_id]) == 0
    shown = capsys.readouterr().out
    assert "× fake-1 · done · cut at max tokens · " in shown
    assert main(["show", run_id, "--json"]) == 0
    stored = json.loads(capsys.readouterr().out)
    reasons = sorted(c["metrics"]["finish_reason"] for c in stored["cells"])
    assert reasons == ["length", "stop"]


@pytest.mark.parametrize(
    ("behavior", "words"),
    [
        (Behavior(wrong_types_after=2), "'content' of a chunk has the wrong type"),
        (Behavior(array_chunk_after=2), "a chunk is a JSON array, not an object"),
        (Behavior(invalid_utf8_after=2), "bytes that are not valid UTF-8"),
    ],
    ids=["wrong-types", "json-array", "invalid-utf8"],
)
def test_a_chunk_of_the_wrong_shape_is_named_with_nothing_on_stderr(
    server: FakeOpenAIServer, behavior: Behavior, words: str
) -> None:
    # A real process, warnings filters as a user has them: pydantic's serializer warnings
    # printed several lines on stderr before the error came.
    server.behave(lambda _req: behavior)
    proc = subprocess.run(
        [sys.executable, "-m", "gui", *run_argv(server, "cats")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr == ""
    result = json.loads(proc.stdout)["results"][0]
    assert (result["status"], result["error_kind"]) == ("failed", "bad_response")
    assert "the server sent a malformed stream" in result["error"] and words in result["error"]
    assert "ValidationError" not in result["error"] and "unexpected error" not in result["error"]
    assert result["output"]  # the text before the bad chunk is kept
