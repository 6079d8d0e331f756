"""The fault matrix through the command line: ``fanout-studio run`` against a misbehaving server.

Every fault runs in-process (``gui.cli.main``), as a script would call it: the faulty row must
end as the engine says, with its one-line message in ``--json`` and in the history database
(``$FANOUT_HOME/history.sqlite3``), its siblings must finish (``isolate``) or be cancelled with
the fail-fast reason, and nothing may be left: no engine task when the run returns, no socket
open at the server. The hang-prone faults (a slow first token, a stall, a drop, nothing
listening) also run as a real process under a hard timeout: it must exit by itself, in time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import gui.cli
from gui.cli import main
from gui.core.runner import CANCELLED_FAIL_FAST
from gui.storage.history import History
from tests.faults.cases import (
    FAILING,
    FAULTS,
    FAULTY,
    SIBLINGS,
    SLOW_SIBLING,
    TEMPLATE,
    UNKNOWN_MODEL,
    Fault,
    answer,
    partial_answer,
    within,
)
from tests.faults.checks import fanout_tasks, loop_problems
from tests.support.openai_server import FakeOpenAIServer, closed_base_url, default_answer

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[2]


def argv_for(fault: Fault, server: FakeOpenAIServer, policy: str = "isolate") -> list[str]:
    """The ``run`` command line of a fault; the faulty row/column comes first (``r0m0``)."""
    limits = fault.all_limits(fail_fast=policy == "fail_fast")
    url = closed_base_url() if fault.column == "closed" else server.base_url
    if fault.column == "model":
        cells = ["-t", FAULTY, "-m", UNKNOWN_MODEL, "-m", "fake-1", "-m", "fake-2"]
    else:
        cells = ["-t", FAULTY, "-t", SIBLINGS[0], "-t", SIBLINGS[1], "-m", "fake-1"]
    return [
        "run",
        "-p",
        TEMPLATE,
        *cells,
        "--provider",
        "openai",
        "--base-url",
        url,
        "--api-key-env",
        "FANOUT_TEST_KEY",
        "--timeout",
        str(limits["timeout"]),
        "--retries",
        str(limits["retries"]),
        "-c",
        str(limits["max_concurrency"]),
        "--error-policy",
        policy,
        *(
            ["--max-answer-chars", str(limits["max_answer_chars"])]
            if "max_answer_chars" in limits
            else []
        ),
        "--json",
        "-q",
    ]


def install_faults(server: FakeOpenAIServer, fault: Fault, slow_siblings: bool) -> None:
    prompts: dict[str, Any] = {}
    if fault.column is None and fault.route is not None:
        prompts[FAULTY] = fault.route
    if slow_siblings and fault.column is None:
        prompts.update(dict.fromkeys(SIBLINGS, SLOW_SIBLING))
    models = {"fake-1": SLOW_SIBLING, "fake-2": SLOW_SIBLING} if slow_siblings else None
    server.route(prompts, models=models if fault.column is not None else None)


def url_of(argv: list[str]) -> str:
    return argv[argv.index("--base-url") + 1]


def check_faulty_row(
    fault: Fault, result: dict[str, Any], server: FakeOpenAIServer, url: str, fail_fast: bool
) -> None:
    """The faulty cell's JSON result says what the engine decided, in the user's words."""
    expect = fault.expect(streaming=True, fail_fast=fail_fast)
    assert result["cell"] == "r0m0"
    assert result["metrics"]["retries"] == expect.attempts - 1
    if fault.column != "closed":
        model = UNKNOWN_MODEL if fault.column == "model" else "fake-1"
        seen = [r for r in server.requests if r.model == model and FAULTY in r.last_user_text]
        assert len(seen) == expect.attempts
    if expect.status == "done":
        assert result["status"] == "done" and result["error"] is None
        if expect.length is not None:
            assert len(result["output"]) == expect.length
        else:
            assert result["output"] == answer(FAULTY)
        assert result["finish_reason"] == expect.finish
        assert (result["note"] is not None) == expect.note
        return
    message = result["error"]
    assert result["status"] == "failed" and result["error_kind"] == str(expect.kind), message
    assert "\n" not in message and len(message) <= 250, message
    for words in expect.words:
        words = words.format(url=url).replace("1 s back-off", "30 s back-off")  # CLI default
        assert words in message, (words, message)
    if expect.partial_chars is not None:
        assert len(result["output"]) == expect.partial_chars
        assert result["output"].startswith(partial_answer(expect.partial))
    else:
        assert result["output"] == partial_answer(expect.partial)


def check_history(data: dict[str, Any]) -> None:
    """The history database holds the run and every cell exactly as ``--json`` reported it."""
    summary = data["summary"]
    assert summary["done"] + summary["failed"] + summary["cancelled"] == summary["total"]
    with History.open() as history:
        assert history.notice is None and history.persistent
        stored = history.get_run(data["run_id"])
    assert stored is not None and stored.status in ("finished", "cancelled")
    assert len(stored.cells) == summary["total"] == len(data["results"])
    assert (stored.done, stored.failed, stored.cancelled) == (
        summary["done"],
        summary["failed"],
        summary["cancelled"],
    )
    for result in data["results"]:
        cell = stored.cell(result["cell"])
        assert cell is not None, result["cell"]
        assert (cell.status, cell.text, cell.error_kind, cell.error) == (
            result["status"],
            result["output"],
            result["error_kind"],
            result["error"],
        )


@pytest.fixture
def watched_execute(monkeypatch: pytest.MonkeyPatch) -> list[list[Any]]:
    """Wrap the CLI's run so that, still on its loop, it records leftover tasks and problems."""
    seen: list[list[Any]] = []
    original: Callable[..., Any] = gui.cli.execute

    async def execute(*args: Any, **kwargs: Any) -> Any:
        with loop_problems() as problems:
            out = await original(*args, **kwargs)
            tasks = fanout_tasks()
        seen.append([tasks, problems])
        return out

    monkeypatch.setattr(gui.cli, "execute", execute)
    return seen


def run_cli(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, dict[str, Any]]:
    code = main(argv)
    out, err = capsys.readouterr()
    assert err == "", err
    return code, json.loads(out)


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.id)
def test_cli_fault_isolated(
    server: FakeOpenAIServer,
    fault: Fault,
    capsys: pytest.CaptureFixture[str],
    watched_execute: list[list[Any]],
) -> None:
    install_faults(server, fault, slow_siblings=False)
    argv = argv_for(fault, server)
    code, data = run_cli(capsys, argv)

    assert code == (0 if fault.stream.status == "done" else 1)
    check_faulty_row(fault, data["results"][0], server, url_of(argv), fail_fast=False)
    for result in data["results"][1:]:
        if fault.column == "closed":  # one --base-url for every column: all fail alike
            assert result["status"] == "failed" and result["error_kind"] == "connection"
            continue
        topic = result["input"]["topic"]
        assert result["status"] == "done", result
        assert result["output"] == answer(topic, result["model"])
    check_history(data)
    assert watched_execute == [[[], []]]  # no task left, nothing for the exception handler
    assert server.wait_for(lambda: server.open_connections == 0 and server.in_flight == 0, 30)


@pytest.mark.parametrize("fault", [f for f in FAILING if f.column != "closed"], ids=lambda f: f.id)
def test_cli_fault_fail_fast(
    server: FakeOpenAIServer,
    fault: Fault,
    capsys: pytest.CaptureFixture[str],
    watched_execute: list[list[Any]],
) -> None:
    install_faults(server, fault, slow_siblings=True)
    argv = argv_for(fault, server, "fail_fast")
    code, data = run_cli(capsys, argv)

    assert code == 1  # within the test's timeout: the ~30 s siblings did not run to the end
    failed, *siblings = data["results"]
    check_faulty_row(fault, failed, server, url_of(argv), fail_fast=True)
    for result in siblings:
        assert result["status"] == "cancelled" and result["error"] == CANCELLED_FAIL_FAST
        topic, model = result["input"]["topic"], result["model"]
        full = default_answer(TEMPLATE.format(topic=topic), model, SLOW_SIBLING.tokens or 0)
        assert full.startswith(result["output"])
    assert data["summary"]["failed"] == 1 and data["summary"]["cancelled"] == 2
    check_history(data)
    assert watched_execute == [[[], []]]
    assert server.wait_for(lambda: server.open_connections == 0 and server.in_flight == 0, 30)


@pytest.mark.parametrize("fault", [f for f in FAULTS if f.hangs], ids=lambda f: f.id)
def test_cli_process_never_hangs_on_a_fault(server: FakeOpenAIServer, fault: Fault) -> None:
    install_faults(server, fault, slow_siblings=False)
    argv = argv_for(fault, server)
    proc = subprocess.run(
        [sys.executable, "-m", "gui", *argv],
        capture_output=True,
        text=True,
        timeout=120,  # the hard limit: a hang fails the test here instead of blocking the suite
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == ""
    data = json.loads(proc.stdout)
    faulty = data["results"][0]
    check_faulty_row(fault, faulty, server, url_of(argv), fail_fast=False)
    # Its last attempt ended within the timeout and a margin, and the process with it.
    assert faulty["metrics"]["latency"] <= within(fault.budget)
    check_history(data)
    assert server.wait_for(lambda: server.open_connections == 0 and server.in_flight == 0, 30)
