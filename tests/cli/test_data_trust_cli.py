"""Never lose or garble what the user has, as a script author meets it: real processes,
text that is not clean Unicode, consoles that are not UTF-8, a history that cannot be written
or read."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.storage.test_history_recovery import _version_1_file
from tests.support.openai_server import Behavior, FakeOpenAIServer

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
SURROGATE = "half \ud800 pair"
ANSI = "red \x1b[31mALERT\x1b[0m title \x1b]0;pwned\x07 bell \x07 csi \x9b2J end"
CLEAN = "a clean answer"


def fanout(
    *argv: str | bytes,
    home: Path,
    cwd: Path,
    encoding: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 90,
) -> subprocess.CompletedProcess[bytes]:
    """``fanout-studio ARGV`` as a real process; raw bytes out, so nothing is decoded for it."""
    environ = {**os.environ, "FANOUT_HOME": str(home), **(env or {})}
    environ.pop("PYTHONIOENCODING", None)
    if encoding is not None:
        environ["PYTHONIOENCODING"] = encoding
    return subprocess.run(
        [sys.executable, "-m", "gui", *argv],
        capture_output=True,
        env=environ,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=["fake-1"], tokens=4) as srv:

        def answer(req):  # type: ignore[no-untyped-def]
            prompt = req.last_user_text
            if "surrogate" in prompt:
                return Behavior(text=SURROGATE, tokens=3)
            if "escape" in prompt:
                return Behavior(text=ANSI, tokens=4)
            return Behavior(text=CLEAN, tokens=3)

        srv.behave(answer)
        yield srv


def run_argv(server: FakeOpenAIServer, *extra: str) -> list[str]:
    return [
        "run",
        "-p",
        "Say {topic}",
        "-t",
        "surrogate",
        "-t",
        "escape",
        "-t",
        "plain",
        "--provider",
        "openai",
        "-m",
        "fake-1",
        "--base-url",
        server.base_url,
        "--api-key-env",
        "FANOUT_TEST_KEY",
        "-q",
        *extra,
    ]


# ------------------------------------------------------------------ text that is not clean


def test_bad_code_points_and_escapes_are_kept_whole_in_json_and_history(
    server: FakeOpenAIServer, fanout_home: Path, tmp_path: Path
) -> None:
    done = fanout(*run_argv(server, "--json"), home=fanout_home, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""
    data = json.loads(done.stdout.decode("utf-8"))  # whole, valid UTF-8 JSON
    assert data["saved"] is True
    by_topic = {r["input"]["topic"]: r for r in data["results"]}
    assert by_topic["surrogate"]["output"] == "half \ufffd pair"
    assert by_topic["surrogate"]["notice"] == "text had invalid characters, replaced"
    assert by_topic["escape"]["output"] == ANSI  # JSON escapes it; a program gets the text
    assert by_topic["plain"]["output"] == CLEAN and by_topic["plain"]["notice"] is None

    shown = fanout("show", data["run_id"], "--json", home=fanout_home, cwd=tmp_path)
    assert shown.returncode == 0
    stored = {c["inputs"]["topic"]: c for c in json.loads(shown.stdout)["cells"]}
    assert len(stored) == 3 and {c["status"] for c in stored.values()} == {"done"}
    assert stored["surrogate"]["text"] == "half \ufffd pair"
    assert stored["surrogate"]["notice"] == "text had invalid characters, replaced"
    listed = fanout("history", "--json", home=fanout_home, cwd=tmp_path)
    assert json.loads(listed.stdout)[0]["status"] == "finished"


@pytest.mark.parametrize("encoding", ["cp1252", "ascii", "utf-8"])
def test_run_show_and_export_survive_any_console_and_never_send_escapes(
    server: FakeOpenAIServer, fanout_home: Path, tmp_path: Path, encoding: str
) -> None:
    ran = fanout(*run_argv(server), home=fanout_home, cwd=tmp_path, encoding=encoding)
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr == b""
    out = ran.stdout.decode(encoding)
    last = out.splitlines()[-1]
    assert last.startswith("3 done, 0 failed, 0 cancelled of 3") and "saved as" in last
    run_id = last.rsplit("saved as ", 1)[1]
    for shown in (ran, fanout("show", run_id, home=fanout_home, cwd=tmp_path, encoding=encoding)):
        assert shown.returncode == 0 and shown.stderr == b""
        text = shown.stdout.decode(encoding)
        # Not one control byte reaches the terminal; each is shown as an escape instead.
        assert not any(ord(c) < 32 and c not in "\n\t" for c in text), repr(text)
        assert not any(0x7F <= ord(c) <= 0x9F for c in text)
        assert r"red \x1b[31mALERT\x1b[0m title \x1b]0;pwned\x07 bell \x07 csi \x9b2J end" in text
        assert "[text had invalid characters, replaced]" in text
        assert CLEAN in text
    csv_out = fanout(
        "export", run_id, "-f", "csv", home=fanout_home, cwd=tmp_path, encoding=encoding
    )
    assert (
        csv_out.returncode == 0
        and csv_out.stderr == b""
        and CLEAN in csv_out.stdout.decode(encoding)
    )
    target = tmp_path / "run.md"
    md = fanout(
        "export", run_id, "-o", str(target), home=fanout_home, cwd=tmp_path, encoding=encoding
    )
    assert md.returncode == 0 and md.stderr == b""
    assert "half \ufffd pair" in target.read_text(encoding="utf-8")  # files are UTF-8 always


def test_an_input_with_invalid_utf8_from_the_command_line_is_recorded(
    fanout_home: Path, tmp_path: Path
) -> None:
    # Python turns the undecodable byte into a lone surrogate (\udcff).
    ran = fanout(
        "run",
        "-t",
        b"caf\xff",
        "-t",
        "ok",
        "--sim-ttft",
        "0",
        "--sim-tps",
        "0",
        "--json",
        home=fanout_home,
        cwd=tmp_path,
    )
    assert ran.returncode == 0, ran.stderr
    data = json.loads(ran.stdout)
    assert data["saved"] is True and data["summary"]["done"] == 2
    assert data["results"][0]["input"] == {"topic": "caf\ufffd"}
    assert data["results"][0]["notice"] == "text had invalid characters, replaced"
    shown = json.loads(
        fanout("show", data["run_id"], "--json", home=fanout_home, cwd=tmp_path).stdout
    )
    assert [c["inputs"]["topic"] for c in shown["cells"]] == ["caf\ufffd", "ok"]


def test_invalid_utf8_in_inputs_template_and_system_is_sent_replaced_to_a_server(
    server: FakeOpenAIServer, fanout_home: Path, tmp_path: Path
) -> None:
    # An undecodable byte on the command line is a lone surrogate in Python, which no
    # UTF-8 JSON request can carry: it goes as U+FFFD, as the stored copy shows it.
    ran = fanout(
        "run",
        "-p",
        b"Say \xfe {topic}",
        "--system",
        b"Be brief\xfd",
        "-t",
        b"caf\xff",
        "-t",
        "ok",
        "--provider",
        "openai",
        "-m",
        "fake-1",
        "--base-url",
        server.base_url,
        "--api-key-env",
        "FANOUT_TEST_KEY",
        "--json",
        home=fanout_home,
        cwd=tmp_path,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr == b""
    data = json.loads(ran.stdout)
    assert data["summary"]["done"] == 2, data["results"]
    assert data["results"][0]["input"] == {"topic": "caf\ufffd"}
    assert data["results"][0]["notice"] == "text had invalid characters, replaced"
    sent = sorted([(m["role"], m["content"]) for m in r.messages] for r in server.requests)
    assert sent == [
        [("system", "Be brief\ufffd"), ("user", "Say \ufffd caf\ufffd")],
        [("system", "Be brief\ufffd"), ("user", "Say \ufffd ok")],
    ]


def test_invalid_utf8_in_an_input_goes_into_a_batch_request_file_replaced(
    fanout_home: Path, tmp_path: Path
) -> None:
    ran = fanout(
        "run",
        "--executor",
        "batch",
        "--wait",
        "--poll",
        "0.05",
        "--sim-batch-delay",
        "0.1",
        "-t",
        b"caf\xff",
        "-t",
        "ok",
        "--json",
        home=fanout_home,
        cwd=tmp_path,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr == b""
    data = json.loads(ran.stdout)
    assert data["summary"]["done"] == 2, data["results"]
    assert data["results"][0]["input"] == {"topic": "caf\ufffd"}
    assert data["results"][0]["notice"] == "text had invalid characters, replaced"
    # The simulated provider keeps the uploaded request file, as a provider would.
    lines = [
        json.loads(line)
        for path in (fanout_home / "batches").rglob("*.jsonl")
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    (request,) = [line for line in lines if line.get("custom_id") == "r0m0" and "body" in line]
    assert "caf\ufffd" in request["body"]["messages"][-1]["content"]


def test_a_damaged_response_cache_is_one_warning_line_not_tracebacks(
    fanout_home: Path, tmp_path: Path
) -> None:
    (fanout_home / "response-cache.sqlite3").write_bytes(b"not a database, damaged " * 100)
    ran = fanout(
        "run", "-t", "a", "-t", "b", "-t", "c", "--sim-ttft", "0", "--sim-tps", "0", "--cache",
        "-q", home=fanout_home, cwd=tmp_path,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    err = ran.stderr.decode("utf-8")
    assert "Traceback" not in err
    # Three cells looked the cache up (and tried to fill it) and failed alike: the user
    # hears each once, a line each.
    assert err.splitlines() == [
        "fanout-studio: warning: could not read the response cache: DatabaseError: file is not"
        " a database",
        "fanout-studio: warning: could not store an answer in the response cache: DatabaseError:"
        " file is not a database",
    ]
    assert "3 done, 0 failed" in ran.stdout.decode("utf-8")


# ------------------------------------------------------------------ what it says it saved


def _wait_for_run_row(db: Path, process: subprocess.Popen[bytes]) -> None:
    """Until the run's row is in the database (the run has started and is being recorded)."""
    for _ in range(600):
        assert process.poll() is None, "the run ended before the test could interfere"
        if db.exists():
            try:
                with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True) as conn:
                    if conn.execute("SELECT count(*) FROM runs").fetchone()[0]:
                        return
            except sqlite3.Error:
                pass
        time.sleep(0.05)
    raise AssertionError("the run was never recorded")


def _slow_run(home: Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    environ = {**os.environ, "FANOUT_HOME": str(home), **(env or {})}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gui",
            "run",
            "-t",
            "a",
            "-t",
            "b",
            "--sim-ttft",
            "2",
            "--sim-tps",
            "0",
            "--sim-tokens",
            "3",
            "-q",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environ,
        cwd=cwd,
    )


def test_a_data_folder_removed_mid_run_is_not_called_saved(tmp_path: Path) -> None:
    home = tmp_path / "home"
    work = tmp_path / "work"
    work.mkdir()
    process = _slow_run(home, work)
    _wait_for_run_row(home / "history.sqlite3", process)
    shutil.rmtree(home)
    out, err = process.communicate(timeout=90)
    assert process.returncode == 1
    assert b"saved as" not in out and b"2 done" in out
    (kept,) = work.glob("fanout-unsaved-*.json")
    assert err.decode() == (
        "fanout-studio run: error: 2 cells (r0m0, r1m0) could not be saved to the history "
        f"({home / 'history.sqlite3'} was removed while the run was recorded); "
        f"the answers were written to {kept}\n"
    )
    data = json.loads(kept.read_text(encoding="utf-8"))
    assert [(r["cell"], r["status"]) for r in data["results"]] == [
        ("r0m0", "done"),
        ("r1m0", "done"),
    ]
    assert all(r["output"] for r in data["results"])


def test_a_batch_run_whose_history_was_removed_is_not_called_saved(tmp_path: Path) -> None:
    home = tmp_path / "home"
    work = tmp_path / "work"
    work.mkdir()
    environ = {**os.environ, "FANOUT_HOME": str(home)}
    process = subprocess.Popen(
        [sys.executable, "-m", "gui", "run", "--executor", "batch", "--wait", "--poll", "0.1",
         "--sim-batch-delay", "3", "-t", "a", "-t", "b", "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environ, cwd=work,
    )  # fmt: skip
    db = home / "history.sqlite3"
    _wait_for_run_row(db, process)
    for path in home.glob("history.sqlite3*"):
        path.unlink()
    out, err = process.communicate(timeout=90)
    assert process.returncode == 1, err
    assert b"saved as" not in out and b"2 done" in out
    (kept,) = work.glob("fanout-unsaved-*.json")
    assert err.decode() == (
        "fanout-studio run: error: 2 cells (r0m0, r1m0) could not be saved to the history "
        f"({db} was removed while the run was recorded); the answers were written to {kept}\n"
    )
    data = json.loads(kept.read_text(encoding="utf-8"))
    assert [(r["cell"], r["status"]) for r in data["results"]] == [
        ("r0m0", "done"),
        ("r1m0", "done"),
    ]


def test_a_history_locked_past_the_retry_budget_is_reported_with_the_answers(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    process = _slow_run(home, tmp_path, env={"FANOUT_HISTORY_BUSY_TIMEOUT": "0.2"})
    db = home / "history.sqlite3"
    _wait_for_run_row(db, process)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another program holds the write lock to the end
    try:
        out, err = process.communicate(timeout=90)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert process.returncode == 1 and b"saved as" not in out
    (line,) = err.decode().splitlines()
    assert line.startswith("fanout-studio run: error: 2 cells (r0m0, r1m0) could not be saved")
    assert "database is locked" in line and "the answers were written to" in line
    (kept,) = tmp_path.glob("fanout-unsaved-*.json")
    assert str(kept) in line


@pytest.mark.parametrize(
    "command", [["history"], ["show", "v1-done"], ["export", "v1-done", "-f", "csv"]]
)
def test_a_history_that_cannot_be_read_is_one_line_not_no_runs(
    fanout_home: Path, tmp_path: Path, command: list[str]
) -> None:
    db = fanout_home / "history.sqlite3"
    _version_1_file(db)  # needs the write lock to open
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        got = fanout(
            *command, home=fanout_home, cwd=tmp_path, env={"FANOUT_HISTORY_BUSY_TIMEOUT": "0.2"}
        )
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert got.returncode == 1 and got.stdout == b""
    (line,) = got.stderr.decode().splitlines()
    assert line.startswith(f"fanout-studio {command[0]}: error: {db} cannot be used now")
    assert "locked" in line and "No runs" not in line
    assert not list(fanout_home.glob("*.corrupt-*"))


def test_export_refuses_to_write_over_the_apps_own_files(fanout_home: Path, tmp_path: Path) -> None:
    ran = fanout(
        "run",
        "-t",
        "x",
        "--sim-ttft",
        "0",
        "--sim-tps",
        "0",
        "--json",
        home=fanout_home,
        cwd=tmp_path,
    )
    run_id = json.loads(ran.stdout)["run_id"]
    db = fanout_home / "history.sqlite3"
    before = db.read_bytes()
    for target in (db, fanout_home / "history.sqlite3-wal", fanout_home / "profiles.json"):
        got = fanout(
            "export", run_id, "-f", "json", "-o", str(target), home=fanout_home, cwd=tmp_path
        )
        assert got.returncode == 2 and got.stdout == b""
        (line,) = got.stderr.decode().splitlines()
        assert line.startswith("fanout-studio export: error: will not write the export there")
    assert db.read_bytes() == before
    (fanout_home / "exports").mkdir()
    ok = fanout(
        "export",
        run_id,
        "-o",
        str(fanout_home / "exports" / "r.json"),
        home=fanout_home,
        cwd=tmp_path,
    )
    assert (
        ok.returncode == 0 and (fanout_home / "exports" / "r.json").stat().st_mode & 0o777 == 0o600
    )


def test_a_chat_whose_data_folder_was_removed_mid_turn_is_not_called_saved(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    environ = {**os.environ, "FANOUT_HOME": str(home)}
    process = subprocess.Popen(
        [sys.executable, "-m", "gui", "ask", "hello", "--sim-ttft", "2", "--sim-tps", "0", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environ, cwd=tmp_path,
    )  # fmt: skip
    db = home / "history.sqlite3"
    for _ in range(600):  # until the chat is recorded (its turn is then under way)
        assert process.poll() is None, "the turn ended before the test could interfere"
        try:
            with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True) as conn:
                if conn.execute("SELECT count(*) FROM chats").fetchone()[0]:
                    break
        except sqlite3.Error:
            pass
        time.sleep(0.05)
    shutil.rmtree(home)
    out, err = process.communicate(timeout=90)
    assert process.returncode == 1
    data = json.loads(out)
    assert data["saved"] is False and data["results"][0]["answer"]
    (line,) = err.decode().splitlines()
    assert line == (
        f"fanout-studio ask: error: chat {data['chat_id']} could not be saved: {db} was removed "
        "while the run was recorded; its answers are above"
    )
