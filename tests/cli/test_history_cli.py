"""The history from the command line: run, list, show, export, as a script author uses them."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from gui.cli import main

FAST = ["--sim-ttft", "0.01", "--sim-tps", "0", "--sim-tokens", "12", "--seed", "1"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FANOUT_HOME", str(tmp_path))
    return tmp_path


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_run_then_history_show_and_export(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(
        capsys,
        "run",
        "-p",
        "A joke about {topic}",
        "-t",
        "cats",
        "-t",
        "dogs | pipes",
        "-m",
        "sim-a",
        "-m",
        "sim-b",
        "--json",
        *FAST,
    )
    assert code == 0 and err == ""
    ran = json.loads(out)
    run_id = ran["run_id"]
    assert (home / "history.sqlite3").exists()

    code, out, _ = cli(capsys, "history")
    assert code == 0
    head, line = out.splitlines()
    assert head.split() == [
        "ID",
        "DATE",
        "STATUS",
        "STRATEGY",
        "MODELS",
        "CELLS",
        "WALL",
        "TEMPLATE",
    ]
    assert line.startswith(run_id) and " finished " in line and "sim-a, sim-b" in line
    assert "4/4 done" in line and line.endswith("A joke about {topic}")

    code, out, _ = cli(capsys, "history", "--json")
    (listed,) = json.loads(out)
    assert listed["id"] == run_id and listed["models"] == ["sim-a", "sim-b"] and listed["done"] == 4

    # show prints what run printed, from the database.
    code, out, _ = cli(capsys, "show", run_id[:18])
    assert code == 0 and out.startswith(f"run {run_id} · finished")
    for result in ran["results"]:
        assert result["output"] in out
    assert "── dogs | pipes × sim-b · done" in out
    code, out, _ = cli(capsys, "show", run_id, "--json")
    shown = json.loads(out)
    assert [c["text"] for c in shown["cells"]] == [r["output"] for r in ran["results"]]
    assert shown["spec"]["template"] == "A joke about {topic}"

    code, out, _ = cli(capsys, "export", run_id, "--format", "json")
    assert code == 0 and json.loads(out)["cells"] == shown["cells"]
    code, out, _ = cli(capsys, "export", run_id, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    assert [(r["topic"], r["model"], r["output"]) for r in rows] == [
        (r["input"]["topic"], r["model"], r["output"]) for r in ran["results"]
    ]
    target = home / "report.md"
    code, out, err = cli(capsys, "export", run_id, "-o", str(target))  # format from the suffix
    assert code == 0 and out == "" and err == ""
    md = target.read_text(encoding="utf-8")
    assert md.startswith(f"# Fanout Studio run {run_id}")
    assert "| 2 | dogs \\| pipes |" in md


def test_compare_records_one_labelled_run_per_strategy(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = cli(capsys, "compare", "--strategies", "sync,gather", "-t", "x", *FAST)
    assert code == 0
    code, out, _ = cli(capsys, "history", "--json")
    runs = json.loads(out)
    assert [(r["strategy"], r["label"]) for r in runs] == [
        ("gather", "comparison: gather"),
        ("sync", "comparison: sync"),
    ]


def test_history_filters_and_an_empty_history(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "history")
    assert code == 0 and out.startswith("No runs recorded yet")
    cli(capsys, "run", "-p", "Haiku on {topic}", "-t", "rain", "-m", "poet", *FAST)
    cli(capsys, "run", "-p", "Joke on {topic}", "-t", "cats", "-m", "clown", *FAST)
    cli(capsys, "run", "-p", "Joke on {topic}", "-t", "dogs", "-m", "poet", *FAST)

    def templates(*argv: str) -> list[str]:
        code, out, _ = cli(capsys, "history", "--json", *argv)
        assert code == 0
        return [r["template"] + "/" + r["models"][0] for r in json.loads(out)]

    assert templates() == ["Joke on {topic}/poet", "Joke on {topic}/clown", "Haiku on {topic}/poet"]
    assert templates("--search", "HAIKU") == ["Haiku on {topic}/poet"]
    assert templates("--model", "poet", "--limit", "1") == ["Joke on {topic}/poet"]
    code, out, _ = cli(capsys, "history", "--search", "sonnet")
    assert out == "No runs match.\n"


def test_no_history_records_nothing(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "run", "-t", "cats", "--no-history", *FAST)
    assert code == 0 and "saved as" not in out
    assert not (home / "history.sqlite3").exists()
    code, out, _ = cli(capsys, "run", "-t", "cats", *FAST)
    assert code == 0 and "· saved as " in out


def test_a_corrupt_history_is_one_notice_and_the_run_goes_on(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (home / "history.sqlite3").write_bytes(b"\x00garbage" * 100)
    code, out, err = cli(capsys, "run", "-t", "cats", "--json", *FAST)
    assert code == 0 and json.loads(out)["summary"]["done"] == 1
    (notice,) = err.splitlines()
    (backup,) = home.glob("history.sqlite3.corrupt-*")
    assert notice.startswith("fanout-studio: The history database could not be read")
    assert str(backup) in notice and backup.read_bytes() == b"\x00garbage" * 100
    code, out, err = cli(capsys, "history", "--json")
    assert code == 0 and err == "" and len(json.loads(out)) == 1


def test_history_off_for_the_session_still_runs_and_keeps_the_answers_in_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("FANOUT_HOME", str(tmp_path / "file" / "home"))
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(capsys, "run", "-t", "cats", *FAST)
    assert code == 1 and "1 done" in out and "saved as" not in out
    notice, unsaved = err.splitlines()
    assert notice.startswith("fanout-studio: History is off for this session")
    (kept,) = tmp_path.glob("fanout-unsaved-*.json")
    assert unsaved == (
        "fanout-studio run: error: 1 cell (r0m0) could not be saved to the history "
        f"(history is off for this session); the answers were written to {kept}"
    )
    data = json.loads(kept.read_text(encoding="utf-8"))
    assert [(r["cell"], r["status"], r["input"]) for r in data["results"]] == [
        ("r0m0", "done", {"topic": "cats"})
    ]
    assert kept.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("argv", "code", "words"),
    [
        (["show", "no-such-run"], 2, "no run 'no-such-run' in the history"),
        (["show", "no-such-run", "--json"], 2, "no run 'no-such-run'"),
        (["export", "no-such-run", "--format", "csv"], 2, "no run 'no-such-run'"),
        (["export", "{id}"], 2, "give --format json, csv or md"),
        (["export", "{id}", "-o", "out.txt"], 2, "give --format"),
        (["export", "{id}", "--format", "pdf"], 2, "invalid choice"),
        (["export", "{id}", "-f", "md", "-o", "{home}/no/such/dir/x.md"], 1, "cannot write"),
        (["export", "{id}", "-f", "md", "-o", "{home}"], 1, "cannot write"),
        (["show", "2"], 2, "matches several runs"),
        (["history", "--limit", "0"], 2, "must be at least 1"),
    ],
)
def test_history_errors_are_one_line(
    home: Path, capsys: pytest.CaptureFixture[str], argv: list[str], code: int, words: str
) -> None:
    for topic in ("a", "b"):
        cli(capsys, "run", "-t", topic, *FAST)
    _, out, _ = cli(capsys, "history", "--json")
    run_id = json.loads(out)[0]["id"]
    argv = [a.replace("{id}", run_id).replace("{home}", str(home)) for a in argv]
    got, out, err = cli(capsys, *argv)
    assert got == code and out == ""
    assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_help_documents_the_history_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("history", "show", "export"):
        assert command in out
    assert main(["run", "--help"]) == 0
    assert "--no-history" in capsys.readouterr().out
    assert main(["export", "--help"]) == 0
    assert "json,csv,md" in capsys.readouterr().out.replace(" ", "")
