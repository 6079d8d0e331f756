"""The headless command line, as a script author would use it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gui.cli import build_parser, main, spec_from_args
from tests.support.openai_server import Behavior, FakeOpenAIServer

FAST = ["--sim-ttft", "0.01", "--sim-tps", "0", "--sim-tokens", "12", "--seed", "1"]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_run_json_has_results_and_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(
        capsys,
        "run",
        "-p",
        "Tell me a joke about {topic}",
        "-t",
        "cats",
        "-t",
        "dogs",
        "-m",
        "sim-a",
        "-m",
        "sim-b",
        "--json",
        *FAST,
    )
    assert code == 0, err
    data = json.loads(out)
    assert [(r["input"]["topic"], r["model"]) for r in data["results"]] == [
        ("cats", "sim-a"),
        ("cats", "sim-b"),
        ("dogs", "sim-a"),
        ("dogs", "sim-b"),
    ]
    assert all(
        r["status"] == "done" and r["output"] and r["metrics"]["output_tokens"] == 12
        for r in data["results"]
    )
    assert data["summary"]["done"] == 4 and data["summary"]["total"] == 4
    assert err == ""  # no progress noise when stderr is not a terminal


def test_run_text_output_shows_each_cell_and_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "run", "-t", "cats", *FAST)
    assert code == 0
    assert "── cats × sim-1 · done" in out and "1 done, 0 failed, 0 cancelled of 1" in out


def test_inputs_file_csv_and_jsonl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_file = tmp_path / "rows.csv"
    csv_file.write_text('tone,topic\ndry,"cats, mostly"\nsilly,dogs\n\n', encoding="utf-8")
    code, out, _ = run_cli(
        capsys, "run", "-p", "A {tone} joke about {topic}", "-i", str(csv_file), "--json", *FAST
    )
    assert code == 0
    assert [r["input"] for r in json.loads(out)["results"]] == [
        {"tone": "dry", "topic": "cats, mostly"},
        {"tone": "silly", "topic": "dogs"},
    ]
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text('{"topic": "émoji 🐱"}\n{"topic": "عربى"}\n', encoding="utf-8")
    code, out, _ = run_cli(capsys, "run", "-p", "About {topic}", "-i", str(jsonl), "--json", *FAST)
    assert code == 0 and [r["input"]["topic"] for r in json.loads(out)["results"]] == [
        "émoji 🐱",
        "عربى",
    ]


def test_failures_exit_1_with_the_error_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys,
        "run",
        "-t",
        "cats",
        "--json",
        "--retries",
        "0",
        "--sim-failure-rate",
        "1",
        "--sim-failure-kind",
        "server_error",
        *FAST,
    )
    assert code == 1
    (result,) = json.loads(out)["results"]
    assert result["status"] == "failed" and result["error_kind"] == "server_error"
    assert "Simulated model sim-1" in result["error"]


def test_fail_fast_cancels_the_rest(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys,
        "run",
        "-t",
        "a",
        "-t",
        "b",
        "-t",
        "c",
        "-c",
        "1",
        "--json",
        "--retries",
        "0",
        "--error-policy",
        "fail_fast",
        "--sim-failure-rate",
        "1",
        *FAST,
    )
    assert code == 1
    statuses = [r["status"] for r in json.loads(out)["results"]]
    assert statuses == ["failed", "cancelled", "cancelled"]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["run", "-p", "A {tone} joke about {topic}", "-t", "cats"], "fills one variable"),
        (["run", "-p", "A joke about {topic}", "-i", "{wrong_column_csv}"], "no column 'topic'"),
        (["run", "-p", "About {topic}"], "No inputs"),
        (["run", "-p", "About {topic", "-t", "x"], "Unbalanced braces"),
        (["run", "-i", "/no/such/file.csv"], "does not exist"),
        (["run", "-c", "0"], "must be at least 1"),
        (["run", "-c", "5000"], "1 to 1000"),
        (["run", "--timeout", "-3"], "must be greater than 0"),
        (["run", "--provider", "openai", "-m", "x", "--base-url", "localhost:1234"], "not an http"),
        (["run", "--sim-failure-rate", "3"], "probability"),
        (["run", "--strategy", "turbo"], "invalid choice"),
        (["compare", "--strategies", "sync,turbo"], "comma-separated"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], words: str
) -> None:
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("subject\ncats\n", encoding="utf-8")
    argv = [str(wrong) if a == "{wrong_column_csv}" else a for a in argv]
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    assert words in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_binary_and_malformed_inputs_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    binary = tmp_path / "x.csv"
    binary.write_bytes(b"\x89PNG\x00\x00\x01")
    code, _, err = run_cli(capsys, "run", "-i", str(binary))
    assert code == 2 and "binary file" in err
    broken = tmp_path / "x.jsonl"
    broken.write_text('{"topic": "a"}\n{"topic": \n', encoding="utf-8")
    code, _, err = run_cli(capsys, "run", "-i", str(broken))
    assert code == 2 and "line 2 is not valid JSON" in err


def test_openai_provider_against_a_local_server(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeOpenAIServer(models=["fake-1"], tokens=4) as srv:
        srv.queue(Behavior(status=429, retry_after=0.05))
        code, out, _ = run_cli(
            capsys,
            "run",
            "--provider",
            "openai",
            "--base-url",
            srv.base_url,
            "-m",
            "fake-1",
            "-t",
            "cats",
            "--json",
        )
        assert code == 0
        (result,) = json.loads(out)["results"]
        assert "cats" in result["output"] and result["metrics"]["retries"] == 1


def test_openai_without_key_or_base_url_says_what_to_do(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code, _, err = run_cli(capsys, "run", "--provider", "openai", "-m", "gpt-4o-mini", "-t", "x")
    assert code == 2 and "$OPENAI_API_KEY is not set" in err


def test_compare_shows_the_seed_lesson(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "compare", "--sim-latency", "0.3", "--sim-jitter", "0", "--json")
    assert code == 0
    rows = {r["strategy"]: r for r in json.loads(out)["strategies"]}
    assert list(rows) == ["sync", "sequential", "gather", "abatch", "as_completed", "stream"]
    # Never faster than the sleeps allow; the concurrent ones well below the sequential sum
    # (a margin of one whole request, for a machine running at a quarter of its speed).
    for name in ("sync", "sequential"):
        assert rows[name]["wall_s"] >= 0.88
    for name in ("gather", "abatch", "as_completed", "stream"):
        assert 0.28 <= rows[name]["wall_s"] < 0.6
        assert rows[name]["speedup_vs_sync"] > 1.4
    assert all(r["done"] == 3 for r in rows.values())


def test_entry_points_run_as_processes() -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run(
        [sys.executable, "-m", "gui", "run", "-t", "cats", "--json", *FAST],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["summary"]["done"] == 1
    script = Path(sys.executable).with_name("fanout-studio")
    proc = subprocess.run(
        [str(script), "run", "-p", "{x"], capture_output=True, text=True, timeout=60, check=False
    )
    assert (
        proc.returncode == 2
        and "Unbalanced braces" in proc.stderr
        and "Traceback" not in proc.stderr
    )


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ([], (120.0, 60.0, None)),
        (["--timeout", "5"], (5.0, 5.0, None)),
        (["--timeout", "5", "--idle-timeout", "30"], (5.0, 30.0, None)),
        (["--ttft-timeout", "300", "--total-timeout", "900"], (300.0, 60.0, 900.0)),
    ],
    ids=["defaults", "timeout-sets-both", "explicit-wins", "ttft-and-total"],
)
def test_timeout_flags_set_the_three_timeouts(
    flags: list[str], expected: tuple[float, float, float | None]
) -> None:
    args = build_parser().parse_args(["run", "-t", "cats", *flags])
    limits = spec_from_args(args).limits
    assert (limits.ttft_timeout, limits.idle_timeout, limits.total_timeout) == expected
    assert limits.max_answer_chars == 2_000_000


def test_run_with_the_simulated_judge_scores_every_cell(tmp_path: Path) -> None:
    """`--judge-model sim-judge --json` in a real subprocess: a verdict on every cell."""
    env = {**os.environ, "FANOUT_HOME": str(tmp_path)}
    argv = ["run", "-t", "cats", "-t", "dogs", "-m", "a", "-m", "b", *FAST]
    done = subprocess.run(
        [sys.executable, "-m", "gui", *argv, "--judge-model", "sim-judge", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    verdicts = [r["judge"] for r in data["results"]]
    assert all(v["judge_model"] == "sim-judge" and 1 <= v["score"] <= 10 for v in verdicts)
    assert all(v["reason"] and v["error"] is None for v in verdicts)
    assert data["summary"]["judge"]["done"] == 4

    pairwise = subprocess.run(
        [sys.executable, "-m", "gui", *argv, "--judge-model", "sim-judge", "--pairwise"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert pairwise.returncode == 0, pairwise.stderr
    assert "judge sim-judge: 2 done, 0 failed · ranking: " in pairwise.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--pairwise"], "--pairwise needs a judge"),
        (["--judge-model", "j", "--judge-rubric", "@/no/such/rubric.txt"], "cannot read"),
        (["--judge-model", "j", "--judge-rubric", " "], "rubric is empty"),
        (["--judge-model", "j", "--judge-profile", "p"], "not both"),
        (["--judge-model", "j", "--judge-max-in-flight", "0"], "use 1 to 1000"),
    ],
)
def test_bad_judge_options_say_why_in_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    try:
        code = main(["run", "-t", "cats", "--no-history", *FAST, *argv])
    except SystemExit as exited:  # argparse refuses a value before the command runs
        code = int(exited.code or 0)
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
