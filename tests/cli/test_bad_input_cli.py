"""Bad input on the command line: one line on stderr naming the problem and the fix, exit 2.

Never a traceback. Input the CLI can use despite a flaw (an unused column, a Latin-1 file)
runs, with one warning line; a server that is not OpenAI-compatible fails its cells (exit 1)
with a one-line message per cell.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from gui.cli import main
from gui.core.inputs import MAX_INPUT_BYTES
from tests.support.openai_server import FakeOpenAIServer

FAST = ["--sim-ttft", "0", "--sim-tps", "0", "--sim-tokens", "6", "--seed", "1"]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run ``argv``, check it is refused as bad usage, and return the one line it printed."""
    code, out, err = run_cli(capsys, *argv, "--no-history")
    assert code == 2, err
    assert out == ""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def csv_file(tmp_path: Path, text: str, name: str = "rows.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# ------------------------------------------------------------------------------ templates


def test_unknown_variable_names_the_close_column(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rows = csv_file(tmp_path, "topic,tone\ncats,dry\n")
    line = usage_error(capsys, "run", "-p", "A {tone} joke about {topc}", "-i", rows)
    assert line == (
        "fanout-studio run: error: The template uses {topc} but rows.csv has no column 'topc' "
        "(columns: topic, tone). Did you mean {topic}?"
    )


def test_an_unused_column_is_a_warning_and_the_run_goes_on(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rows = csv_file(tmp_path, "topic,notes\ncats,fluffy\n")
    code, out, err = run_cli(
        capsys, "run", "-p", "About {topic}", "-i", rows, "--json", "--no-history", *FAST
    )
    assert code == 0
    assert err == (
        "fanout-studio run: warning: rows.csv: column 'notes' is not in the template, "
        "so not sent.\n"
    )
    assert json.loads(out)["summary"]["done"] == 1


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            "Tell me about {topic",
            "Unbalanced braces: the '{' at column 15 ('{topic') is never closed. "
            "Write {topic}, or write {{ for a literal brace.",
        ),
        (
            "Tell me about topic}",
            "Unbalanced braces: the '}' at column 20 ('Tell me about topic}') has no opening "
            "'{'. Write {topic}, or write }} for a literal brace.",
        ),
        (
            'Reply as {"joke": "..."} about {topic}',
            '{"joke": "..."} is not a {variable}. To send braces as text, double them: '
            '{{"joke": "..."}}.',
        ),
        ("", "The template is empty. Type a prompt, e.g. 'Tell me a joke about {topic}'."),
        ("  \t ", "The template is empty. Type a prompt, e.g. 'Tell me a joke about {topic}'."),
    ],
)
def test_malformed_templates(
    capsys: pytest.CaptureFixture[str], template: str, message: str
) -> None:
    line = usage_error(capsys, "run", "-p", template, "-t", "cats")
    assert line == f"fanout-studio run: error: {message}"


def test_a_template_without_inputs_says_how_to_give_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = usage_error(capsys, "run", "-p", "About {topic}")
    assert line == (
        "fanout-studio run: error: No inputs: the template uses {topic}. Give --topic X "
        "(repeatable) or --inputs FILE (CSV or JSON Lines)."
    )


def test_a_100_kb_template_runs(capsys: pytest.CaptureFixture[str]) -> None:
    template = ("Some context to read carefully. " * 3200) + "\nNow: tell me about {topic}."
    assert len(template) > 100_000
    code, out, err = run_cli(capsys, "run", "-p", template, "-t", "cats", "--json", *FAST)
    assert code == 0, err
    data = json.loads(out)
    assert data["template"] == template
    assert data["results"][0]["status"] == "done"


# ------------------------------------------------------------------------------ inputs


def test_empty_lines_are_skipped_and_duplicates_both_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rows = csv_file(tmp_path, "topic\ncats\n\n  \ndogs\ncats\n\n")
    code, out, _ = run_cli(capsys, "run", "-p", "About {topic}", "-i", rows, "--no-history", *FAST)
    assert code == 0
    heads = [line for line in out.splitlines() if line.startswith("── ")]
    assert [h.split(" · ")[0] for h in heads] == [
        "── cats (row 1) × sim-1",
        "── dogs × sim-1",
        "── cats (row 3) × sim-1",
    ]
    code, out, _ = run_cli(
        capsys, "run", "-p", "About {topic}", "-i", rows, "--json", "--no-history", *FAST
    )
    results = json.loads(out)["results"]
    assert [(r["cell"], r["input"]["topic"], r["status"]) for r in results] == [
        ("r0m0", "cats", "done"),
        ("r1m0", "dogs", "done"),
        ("r2m0", "cats", "done"),
    ]


UNICODE = [
    "🐈‍⬛ black cats",
    "👩🏽‍💻 coders",
    "cafe\u0301 nai\u0308ve",
    "مرحبا بالعالم",
    "שלום עולם",
    "漢字かな交じり文",
]


def test_unicode_round_trips_through_a_run_and_the_history(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps({"topic": u}) for u in UNICODE), encoding="utf-8")
    with FakeOpenAIServer(models=["fake-1"], tokens=4) as srv:
        code, out, err = run_cli(
            capsys,
            "run",
            "--provider",
            "openai",
            "--base-url",
            srv.base_url,
            "-m",
            "fake-1",
            "-p",
            "{topic}",
            "-i",
            str(path),
            "--json",
        )
    assert code == 0, err
    data = json.loads(out)
    # The fake server answers "Answer about <prompt> from <model>:": the text went out and
    # came back intact, combining marks and right-to-left text included.
    for result, text in zip(data["results"], UNICODE, strict=True):
        assert result["input"] == {"topic": text}
        assert result["output"].startswith(f"Answer about {text} from fake-1:")

    code, out, _ = run_cli(capsys, "show", data["run_id"], "--json")
    assert code == 0
    stored = json.loads(out)
    assert [r["topic"] for r in stored["spec"]["rows"]] == UNICODE
    assert [c["text"] for c in stored["cells"]] == [r["output"] for r in data["results"]]


def test_a_csv_without_the_column_the_template_needs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rows = csv_file(tmp_path, "subject,notes\ncats,x\n")
    line = usage_error(capsys, "run", "-p", "A joke about {topic}", "-i", rows)
    assert line == (
        "fanout-studio run: error: The template uses {topic} but rows.csv has no column "
        "'topic' (columns: subject, notes). Add a column 'topic' or change {topic} in the "
        "template."
    )


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        (
            "cat.png",
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
            "cat.png is a binary file, not CSV or JSON Lines.",
        ),
        (
            "noise.csv",
            bytes(b or 1 for b in random.Random(3).randbytes(4096)),  # no NUL byte
            "noise.csv is a binary file, not CSV or JSON Lines.",
        ),
        (
            "book.xlsx",
            b"PK\x03\x04" + bytes(200),
            "book.xlsx is a binary file, not CSV or JSON Lines. It looks like an Excel workbook "
            "or a ZIP archive: save it as CSV UTF-8.",
        ),
        (
            "mixed.csv",
            "topic\ncafé\n".encode() + b"caf\xe9\n",
            "mixed.csv is not valid UTF-8: line 3 has a byte (0xE9) that is not UTF-8. "
            "Save it as UTF-8 and import it again.",
        ),
    ],
)
def test_files_that_are_not_text_are_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, data: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    line = usage_error(capsys, "run", "-i", str(path))
    assert line == f"fanout-studio run: error: {message}"


def test_a_latin1_file_is_read_with_a_warning(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("topic\ncafé crème\nNaïve\n".encode("latin-1"))
    code, out, err = run_cli(
        capsys, "run", "-p", "About {topic}", "-i", str(path), "--json", "--no-history", *FAST
    )
    assert code == 0
    assert err == (
        "fanout-studio run: warning: excel.csv is not UTF-8: read it as Windows-1252 "
        "(Latin-1). If accents look wrong, save it as UTF-8.\n"
    )
    assert [r["input"]["topic"] for r in json.loads(out)["results"]] == ["café crème", "Naïve"]


def test_a_file_too_large(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    with path.open("wb") as f:
        f.truncate(MAX_INPUT_BYTES + 2**20)  # sparse
    line = usage_error(capsys, "run", "-i", str(path))
    assert line == (
        "fanout-studio run: error: huge.csv is 51 MB; inputs files are limited to 50 MB. "
        "Split it into smaller files."
    )


# ------------------------------------------------------------------------------ profiles


def test_an_empty_model_name(capsys: pytest.CaptureFixture[str]) -> None:
    line = usage_error(capsys, "run", "-m", "", "-t", "cats")
    assert line == (
        "fanout-studio run: error: Model name is empty. Give each model a name, e.g. gpt-4o-mini."
    )


def test_a_base_url_without_scheme(capsys: pytest.CaptureFixture[str]) -> None:
    line = usage_error(
        capsys, "run", "--provider", "openai", "-m", "llama3.2", "--base-url", "localhost:11434/v1"
    )
    assert line == (
        "fanout-studio run: error: Base URL 'localhost:11434/v1' is not an http(s) URL: it has "
        "no scheme. Write http://localhost:11434/v1."
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-c", "0"], "argument --max-concurrency/-c: '0' must be at least 1; use 1 to 1000"),
        (["-c", "-4"], "argument --max-concurrency/-c: '-4' must be at least 1; use 1 to 1000"),
        (["-c", "10000"], "argument --max-concurrency/-c: '10000' is out of range: use 1 to 1000"),
        (
            ["--rps", "0"],
            "argument --rps: '0' must be greater than 0; use 0.01 to 10000, "
            "or leave --rps out for no cap",
        ),
        (
            ["--rps", "-1"],
            "argument --rps: '-1' must be greater than 0; use 0.01 to 10000, "
            "or leave --rps out for no cap",
        ),
        (["--timeout", "0"], "argument --timeout: '0' must be greater than 0; use 0.05 to 3600"),
        (
            ["--ttft-timeout", "0"],
            "argument --ttft-timeout: '0' must be greater than 0; use 0.05 to 3600",
        ),
        (
            ["--idle-timeout", "5000"],
            "argument --idle-timeout: '5000' is out of range: use 0.05 to 3600",
        ),
        (
            ["--total-timeout", "-1"],
            "argument --total-timeout: '-1' must be greater than 0; use 0.05 to 86400",
        ),
        (
            ["--max-answer-chars", "10"],
            "argument --max-answer-chars: '10' is out of range: use 1000 to 1000000000",
        ),
        (["--retries", "100"], "argument --retries: '100' is out of range: use 0 to 10"),
        (["--retries", "-1"], "argument --retries: '-1' must not be negative; use 0 to 10"),
    ],
)
def test_absurd_limits_name_the_range(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    line = usage_error(capsys, "run", "-t", "cats", *argv)
    assert line == f"fanout-studio run: error: {message} (see --help)"


@pytest.mark.parametrize("strategy", ["stream", "gather"])
def test_a_web_server_that_is_not_an_openai_api_fails_each_cell_in_one_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    html_server: str,
    strategy: str,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code, out, err = run_cli(
        capsys,
        "run",
        "--provider",
        "openai",
        "--base-url",
        html_server,
        "-m",
        "gpt-4o-mini",
        "-t",
        "cats",
        "-s",
        strategy,
        "--retries",
        "0",
        "--json",
        "--no-history",
    )
    assert code == 1 and "Traceback" not in err
    (result,) = json.loads(out)["results"]
    host = html_server.split("/")[2]
    assert result["status"] == "failed"
    assert result["error"].startswith(f"gpt-4o-mini at {host}: ")
    assert "\n" not in result["error"] and len(result["error"]) <= 200
    assert "not an OpenAI-compatible API" in result["error"]  # named, not "unexpected error"
    assert "unexpected error" not in result["error"]
