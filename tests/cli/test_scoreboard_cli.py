"""The per-model Scoreboard table from the command line: ``run --json``'s summary, ``show
--json`` and the summary CSV of ``export``, as a script author reads them."""

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


def test_run_json_summary_and_show_json_carry_the_per_model_table(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(
        capsys,
        "run",
        "-p",
        "A joke about {topic}",
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
    ran = json.loads(out)
    summary = ran["summary"]
    assert summary["done"] == 4  # the run summary's own figures stay
    assert {"latency", "ttft", "tps", "tokens"} <= {m["name"] for m in summary["measures"]}
    models = summary["models"]
    assert [m["model"] for m in models] == ["sim-a", "sim-b"]
    for line in models:
        assert (line["cells"], line["done"], line["failed"]) == (2, 2, 0)
        assert line["measures"]["latency"]["count"] == 2
        assert line["measures"]["tokens"]["mean"] == 12.0
        assert line["latency_p50_s"] is not None and line["latency_p95_s"] is not None
    # Every input has a winner by latency: the two win rates share it out.
    rates = [m["measures"]["latency"]["win_rate"] for m in models]
    assert sum(rates) == pytest.approx(1.0)

    code, out, _ = cli(capsys, "show", ran["run_id"], "--json")
    assert code == 0
    shown = json.loads(out)["summary"]
    assert [m["model"] for m in shown["models"]] == ["sim-a", "sim-b"]
    assert shown["models"][0]["measures"]["tokens"] == models[0]["measures"]["tokens"]
    assert shown["models"][0]["latency_p50_s"] == pytest.approx(models[0]["latency_p50_s"])

    code, out, _ = cli(capsys, "export", ran["run_id"], "--format", "summary-csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    assert [(r["model"], r["done"]) for r in rows] == [("sim-a", "2"), ("sim-b", "2")]

    target = home / "out" / "report.csv"
    target.parent.mkdir()
    code, out, err = cli(capsys, "export", ran["run_id"], "-o", str(target))
    assert code == 0 and out == "" and err == ""
    beside = target.with_name("report-summary.csv")
    assert beside.read_text(encoding="utf-8").startswith("run_id,model,cells,done,")


def test_run_json_does_not_score_a_failed_cell(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(
        capsys,
        "run",
        "-t",
        "cats",
        "-t",
        "dogs",
        "--sim-failure-rate",
        "1",
        "--retries",
        "0",
        "--json",
        "--no-history",
        *FAST,
    )
    assert code == 1
    (line,) = json.loads(out)["summary"]["models"]
    assert (line["done"], line["failed"]) == (0, 2)
    assert line["measures"]["latency"]["count"] == 0
    assert line["measures"]["latency"]["win_rate"] is None  # no input has an answer


def test_run_json_summary_scores_models_by_their_checks_and_the_judge(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(
        capsys,
        "run",
        "-p",
        "A joke about {topic}",
        "-t",
        "cats",
        "-t",
        "dogs",
        "-m",
        "sim-a",
        "--check",
        "max-chars:100000",
        "--check",
        "contains:no such words in a joke",
        "--judge-model",
        "sim-judge",
        "--json",
        *FAST,
    )
    assert code == 1, err  # a check failed on every answer
    ran = json.loads(out)
    (line,) = ran["summary"]["models"]
    checks = line["measures"]["checks"]
    assert (checks["count"], checks["mean"], checks["pass_rate"]) == (2, 0.5, 0.0)
    scores = [r["judge"]["score"] for r in ran["results"]]
    judge = line["measures"]["judge"]
    assert judge["count"] == 2 and judge["mean"] == pytest.approx(sum(scores) / 2)
    assert line["measures"]["rating"]["count"] == 0  # nobody rates on the command line
