"""``fanout-studio ask``, ``chats``, ``show`` and ``export`` of chats, as a user at a terminal runs them."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gui.cli import main
from gui.storage.chats import ChatHistory
from gui.storage.history import History
from tests.core.test_chat import png
from tests.support.openai_server import Behavior, FakeOpenAIServer, RequestInfo

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--sim-ttft", "0", "--sim-tps", "0", "--sim-tokens", "12", "--seed", "1"]


def cli(home: Path, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``fanout-studio ARGV`` in a child process with its data in ``home``."""
    env = {**os.environ, "FANOUT_HOME": str(home), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "gui", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def served(srv: FakeOpenAIServer) -> list[str]:
    return ["--provider", "openai", "--base-url", srv.base_url, "--retries", "0"]


def test_ask_continue_chats_and_show_in_a_terminal(tmp_path: Path) -> None:
    first = cli(tmp_path, "ask", "Tell me about rivers", "-m", "sim-a", "-m", "sim-b", *FAST)
    assert first.returncode == 0, first.stderr
    assert first.stdout.index("── sim-a ──") < first.stdout.index("── sim-b ──")
    assert first.stdout.count("[done · ") == 2
    chat_id = first.stdout.split("chat ", 1)[1].split(" ", 1)[0]
    assert chat_id.startswith("chat-")

    second = cli(tmp_path, "ask", "And lakes?", "--continue", chat_id[:16], "--json")
    assert second.returncode == 0, second.stderr
    data = json.loads(second.stdout)
    assert data["chat_id"] == chat_id and data["turn"] == 2 and data["saved"]
    assert [r["model"] for r in data["results"]] == ["sim-a", "sim-b"]
    for r in data["results"]:
        assert r["status"] == "done" and r["answer"].startswith('Turn 2: you said "And lakes?".')
        assert r["metrics"]["output_tokens"] > 0

    listed = cli(tmp_path, "chats")
    assert listed.returncode == 0 and chat_id in listed.stdout
    assert "sim-a, sim-b" in listed.stdout and "2 messages" in listed.stdout
    assert cli(tmp_path, "chats", "--search", "lakes").stdout.startswith(chat_id)
    assert cli(tmp_path, "chats", "--search", "volcanoes").stdout == "No chats match.\n"

    shown = cli(tmp_path, "show", chat_id)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count("**You:** And lakes?") == 2
    assert "## sim-a" in shown.stdout and "## sim-b" in shown.stdout
    exported = json.loads(cli(tmp_path, "export", chat_id, "--format", "json").stdout)
    assert [len(c["nodes"]) for c in exported["columns"]] == [4, 4]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["ask", "   ", "-m", "sim-1"], "The message is empty"),
        (["ask", "hi", "--continue", "chat-nope"], "no chat 'chat-nope' in the history"),
        (["ask", "hi", "--image", "{notes}"], "is not a PNG, JPEG or WebP image"),
        (["ask", "hi", "--image", "{big}"], "images may be at most"),
        (["ask", "hi", "--file", "{binary}"], "is a binary file, not text"),
        (
            ["ask", "hi", "-m", "a", "-m", "b", "--image", "{png}"],
            "Column 1 (a) cannot take images",
        ),
        (["show", "chat-nope"], "no chat 'chat-nope' in the history"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, argv: list[str], expected: str) -> None:
    files = {
        "notes": tmp_path / "notes.png",
        "big": tmp_path / "big.png",
        "binary": tmp_path / "data.bin",
        "png": tmp_path / "dot.png",
    }
    files["notes"].write_text("not an image")
    files["big"].write_bytes(png(1, 1) + b"\x00" * (9 * 1024 * 1024))
    files["binary"].write_bytes(b"\x00\x01\x02\x03")
    files["png"].write_bytes(png(2, 2))
    argv = [a.format(**{k: str(v) for k, v in files.items()}) for a in argv]
    done = cli(tmp_path, *argv)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_an_image_reaches_a_vision_model_and_text_files_are_inlined(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FANOUT_HOME", str(tmp_path))
    image = tmp_path / "dot.png"
    image.write_bytes(png(5, 3))
    notes = tmp_path / "notes.txt"
    notes.write_text("the river is long\n")
    code = main(
        ["ask", "What is this?", "-m", "sim-eyes", "--vision", "--image", str(image),
         "--file", str(notes), "--json", *FAST]
    )  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    answer = data["results"][0]["answer"]
    assert answer.startswith(f"I see a PNG image, 5x3 pixels, {image.stat().st_size:,} bytes.")
    with History.open(tmp_path / "history.sqlite3") as history:
        chat = ChatHistory(history).get(data["chat_id"])
    assert chat is not None
    (question, _) = chat.columns[0].path()
    assert question.text == "What is this?\n\nnotes.txt:\n```\nthe river is long\n```"
    assert question.images[0].data == image.read_bytes()


def test_a_server_error_fails_one_column_and_the_thread_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FANOUT_HOME", str(tmp_path))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with FakeOpenAIServer(models=["fake-1", "fake-2"], tokens=6) as srv:
        srv.behave(
            lambda info: (
                Behavior(error_after=2)
                if info.model == "fake-2" and info.last_user_text == "Hi"
                else None
            )
        )
        code = main(["ask", "Hi", "-m", "fake-1", "-m", "fake-2", "--json", *served(srv)])
        first = json.loads(capsys.readouterr().out)
        assert code == 1
        ok, failed = first["results"]
        assert ok["status"] == "done" and failed["status"] == "failed"
        assert "error mid-answer" in failed["error"]
        assert failed["answer"]  # the partial text is kept
        srv.reset_stats()
        code = main(["ask", "Again", "--continue", first["chat_id"], "--json"])
        assert code == 0, capsys.readouterr().err
        sent = {r.model: [m["content"] for m in r.messages] for r in srv.requests}
    assert sent["fake-1"] == ["Hi", ok["answer"], "Again"]
    assert sent["fake-2"] == ["Hi", failed["answer"], "Again"]


def test_a_chat_answer_says_cut_off_cut_at_max_tokens_and_replaced_everywhere_it_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Issue 10 against chats (issue 12): a stream closed without a finish is failed, cut off;
    # finish_reason length is done with its mark; lone surrogates (in the answer and in the
    # server's error) are stored replaced and the answer says so: in the terminal, the JSON,
    # ``show`` and the Markdown export, as a run's cell does.
    monkeypatch.setenv("FANOUT_HOME", str(tmp_path))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    plans = {
        "fake-1": Behavior(end_after=2),
        "fake-2": Behavior(finish_reason="length"),
        "fake-3": Behavior(text="half \ud800 an answer"),
        "fake-4": Behavior(status=400, error_message="bad \ud800 request"),
    }
    models = [arg for m in plans for arg in ("-m", m)]
    with FakeOpenAIServer(models=list(plans), tokens=6) as srv:
        srv.behave(lambda info: plans.get(info.model))
        code = main(["ask", "Hi", *models, *served(srv)])
        shown = capsys.readouterr().out
        assert code == 1
        code = main(["ask", "Again", *models, "--json", *served(srv)])
        data = json.loads(capsys.readouterr().out)
    assert code == 1
    cut, capped, replaced, refused = data["results"]
    assert cut["status"] == "failed" and "the answer is cut off" in cut["error"]
    assert cut["answer"]  # partial text kept
    assert capped["status"] == "done" and capped["metrics"]["finish_reason"] == "length"
    assert replaced["status"] == "done" and replaced["answer"] == "half \ufffd an answer"
    assert replaced["metrics"]["note"] == "text had invalid characters, replaced"
    assert refused["status"] == "failed" and "bad \ufffd request" in refused["error"]
    assert "the answer is cut off" in shown
    assert "tokens · cut at max tokens]" in shown
    assert "tokens · text had invalid characters, replaced]" in shown

    assert main(["show", data["chat_id"]]) == 0
    show = capsys.readouterr().out
    assert main(["export", data["chat_id"], "--format", "md"]) == 0
    exported = capsys.readouterr().out
    for text in (show, exported):
        assert "cut at max tokens" in text and "text had invalid characters, replaced" in text
        assert "bad \ufffd request" in text


def test_a_chat_answer_echoing_credentials_is_stored_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Issue 10 §3 against chats: what a run's history masks, the chat history masks too.
    monkeypatch.setenv("FANOUT_HOME", str(tmp_path))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    bearer = "sk-live-0123456789abcdef"
    with FakeOpenAIServer(models=["fake-1"], tokens=6) as srv:
        srv.behave(lambda _info: Behavior(text=f"You sent Authorization: Bearer {bearer}"))
        # A base URL with credentials in it: the password is never stored either.
        argv = [*served(srv)]
        argv[3] = srv.base_url.replace("http://", "http://team:hunter2-pass@")
        assert main(["ask", f"my key is Bearer {bearer}", "-m", "fake-1", *argv]) == 0
    capsys.readouterr()
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("history.sqlite3*"))
    assert bearer.encode() not in stored and b"hunter2-pass" not in stored
    assert [text for *_, text in _chat_nodes(tmp_path / "history.sqlite3")] == [
        "my key is Bearer ***",
        "You sent Authorization: Bearer ***",
    ]


@pytest.mark.parametrize("as_json", [False, True], ids=["terminal", "json"])
def test_a_chat_answer_echoing_credentials_is_printed_masked(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    as_json: bool,
) -> None:
    # What the history stores masked, the terminal (the answer streamed a piece at a time, a
    # secret split across pieces) and --json show masked too.
    monkeypatch.setenv("FANOUT_HOME", str(tmp_path))
    monkeypatch.setenv("TEAM_CRED_7", "opaque-value-98765")  # no KEY or TOKEN in its name
    basic = "YWxpY2U6aHVudGVyMnB3"  # base64 of alice:hunter2pw
    echo = f"Got Bearer sk-live-0123456789abcdef and Basic {basic} with opaque-value-98765 ok"
    with FakeOpenAIServer(models=["fake-1"], tokens=40) as srv:
        srv.behave(lambda _info: Behavior(text=echo, tokens=40))
        argv = ["ask", "hi", "-m", "fake-1", *served(srv), "--api-key-env", "TEAM_CRED_7"]
        assert main([*argv, "--json"] if as_json else argv) == 0
    out = capsys.readouterr().out
    for secret in ("sk-live-0123456789abcdef", basic, "opaque-value-98765"):
        assert secret not in out
    if as_json:
        (result,) = json.loads(out)["results"]
        assert result["answer"] == "Got Bearer *** and Basic *** with *** ok"
    else:
        assert "Got Bearer *** and Basic *** with *** ok\n" in out


def test_a_message_with_invalid_utf8_reaches_a_server_replaced(tmp_path: Path) -> None:
    # An undecodable byte on the command line is a lone surrogate, which no UTF-8 JSON
    # request can carry: it goes as U+FFFD, as the stored chat shows it.
    with FakeOpenAIServer(models=["fake-1"], tokens=4) as srv:
        done = cli(
            tmp_path,
            "ask",
            b"hello \xff there",  # type: ignore[arg-type]
            "--system",
            b"be brief\xfe",  # type: ignore[arg-type]
            "-m",
            "fake-1",
            *served(srv),
            "--json",
        )
        assert done.returncode == 0, done.stderr
        (result,) = json.loads(done.stdout)["results"]
        assert result["status"] == "done", result
        (request,) = srv.requests
    assert [(m["role"], m["content"]) for m in request.messages] == [
        ("system", "be brief\ufffd"),
        ("user", "hello \ufffd there"),
    ]


def _chat_nodes(db: Path) -> list[tuple[int, str, str, str]]:
    try:
        conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return []
    try:
        return conn.execute(
            "SELECT col_index, role, status, text FROM chat_nodes ORDER BY col_index, seq"
        ).fetchall()
    except sqlite3.Error:
        return []
    finally:
        conn.close()


def test_kill_9_mid_turn_keeps_what_ended_and_the_chat_continues(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    db = tmp_path / "history.sqlite3"

    def behave(info: RequestInfo) -> Behavior | None:
        # The second turn: fake-2 sends two tokens and then hangs.
        if info.model == "fake-2" and info.last_user_text == "Second":
            return Behavior(stall_after=2)
        return None

    with FakeOpenAIServer(models=["fake-1", "fake-2"], tokens=6) as srv:
        srv.behave(behave)
        base = ["-m", "fake-1", "-m", "fake-2", *served(srv)]
        first = cli(tmp_path, "ask", "First", *base, "--json")
        assert first.returncode == 0, first.stderr
        chat_id = json.loads(first.stdout)["chat_id"]
        env = {**os.environ, "FANOUT_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "gui", "ask", "Second", "--continue", chat_id, "-q"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while not any(n[:2] == (0, "assistant") and "Second" in n[3] for n in _chat_nodes(db)):
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "fake-1's second answer never stored"
                time.sleep(0.02)
            # fake-2 is mid-answer now (it stalls after two tokens): kill -9.
            while not any(r.model == "fake-2" and r.tokens_sent >= 2 for r in srv.requests[2:]):
                assert time.monotonic() < deadline
                time.sleep(0.02)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
        assert proc.returncode == -signal.SIGKILL

        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        nodes = _chat_nodes(db)
        col0 = [(role, text.split(" ", 1)[0]) for c, role, _, text in nodes if c == 0]
        col1 = [(role, text.split(" ", 1)[0]) for c, role, _, text in nodes if c == 1]
        # Column 1: both turns complete; column 2: the first turn and the question it was
        # answering when the process died (its answer had not ended: nothing to keep).
        assert [r for r, _ in col0] == ["user", "assistant", "user", "assistant"]
        assert [r for r, _ in col1] == ["user", "assistant", "user"]

        srv.reset_stats()
        third = cli(tmp_path, "ask", "Third", "--continue", chat_id, "--json")
        assert third.returncode == 0, third.stderr
        sent = {r.model: [m["role"] for m in r.messages] for r in srv.requests}
    assert sent["fake-1"] == ["user", "assistant", "user", "assistant", "user"]
    assert sent["fake-2"] == ["user", "assistant", "user", "user"]


def test_near_the_context_window_ask_warns_and_trim_leaves_the_oldest_turns_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FANOUT_HOME", str(tmp_path))
    long = "Tell me about rivers " + "and more " * 60
    code = main(["ask", long, "-m", "sim-1", "--context-window", "200", "--json", *FAST])
    out, err = capsys.readouterr()
    assert code == 0
    chat_id = json.loads(out)["chat_id"]
    assert "warning: Column 1 (sim-1) uses ~" in err and "--trim" in err
    code = main(["ask", "And lakes?", "--continue", chat_id, "--trim", "--json"])
    out, err = capsys.readouterr()
    assert code == 0
    (result,) = json.loads(out)["results"]
    assert result["trimmed_messages"] == 2  # the long question and its answer
    # The model saw one user message only: no "Turn 2" in its answer.
    assert "lakes" in result["answer"] and not result["answer"].startswith("Turn")
    assert "the 2 oldest messages were left out" in err


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--temperature", "0.9"], "--temperature"),
        (["--sim-tps", "0", "--seed", "0"], "--sim-tps, --seed"),
        (["-m", "sim-other"], "-m"),
        (["--system", "Be brief"], "--system"),
        (["--provider", "openai"], "--provider"),
    ],
)
def test_continue_refuses_options_that_would_change_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    named: str,
) -> None:
    monkeypatch.setenv("FANOUT_HOME", str(tmp_path))
    assert main(["ask", "Tell me about rivers", "-m", "sim-a", "--json", *FAST]) == 0
    chat_id = json.loads(capsys.readouterr().out)["chat_id"]

    code = main(["ask", "And lakes?", "--continue", chat_id, *extra])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and named in lines[0] and "would change nothing" in lines[0], err
    with History.open(tmp_path / "history.sqlite3") as history:
        chat = ChatHistory(history).get(chat_id)
    assert chat is not None and len(chat.columns[0].path()) == 2  # no turn was sent


def test_export_offers_a_section_per_model_and_a_table_per_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FANOUT_HOME", str(tmp_path))
    assert (
        main(["ask", "Tell me | about rivers", "-m", "sim-a", "-m", "sim-b", "--json", *FAST]) == 0
    )
    asked = json.loads(capsys.readouterr().out)
    chat_id = asked["chat_id"]
    first_answer = asked["results"][0]["answer"]  # sim-a's
    assert main(["ask", "Only you", "--continue", chat_id, "--column", "2", "-q"]) == 0
    capsys.readouterr()

    assert main(["export", chat_id, "--format", "md"]) == 0
    sections = capsys.readouterr().out
    assert "## sim-a" in sections and "## sim-b" in sections
    assert sections.count("**You:** Tell me | about rivers") == 2

    out = tmp_path / "chat.md"
    assert main(["export", chat_id, "--format", "md-table", "-o", str(out)]) == 0
    table = out.read_text(encoding="utf-8")
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    turn1 = table.split("## Turn 1", 1)[1].split("## Turn 2", 1)[0]
    assert "> Tell me | about rivers" in turn1
    assert "| sim-a | sim-b |" in turn1 and "|---|---|" in turn1
    lines = turn1.strip().splitlines()
    row = lines[lines.index("|---|---|") + 1]
    assert row.startswith(f"| {first_answer}") and row.count(" | ") == 1  # side by side
    # Turn 2 went to sim-b alone: a "You" row says what each column was asked.
    turn2 = table.split("## Turn 2", 1)[1]
    assert "| **You** |  | Only you |" in turn2
    assert "| **Answer** |  | Turn 2: " in turn2

    assert main(["export", chat_id, "--format", "csv"]) == 2
    assert "a chat exports as --format json, md, md-table" in capsys.readouterr().err


def test_an_image_for_a_continued_chat_without_vision_names_the_fix_that_works_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FANOUT_HOME", str(tmp_path))
    image = tmp_path / "dot.png"
    image.write_bytes(png(2, 2))
    assert main(["ask", "Hi", "-m", "sim-a", "--json", *FAST]) == 0
    chat_id = json.loads(capsys.readouterr().out)["chat_id"]
    assert main(["ask", "Look", "--continue", chat_id, "--image", str(image)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "Column 1 (sim-a) cannot take images" in line
    assert "start a new chat with --vision" in line  # not --vision here, which is refused
    assert main(["ask", "Look", "-m", "sim-a", "--image", str(image)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "--vision marks the -m models vision-capable" in line
