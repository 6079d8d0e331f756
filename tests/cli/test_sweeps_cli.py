"""Issue 15 on the command line: ``--prompt``/``--system`` variants, ``--temperature`` ...
sweeps and ``--repeat``; ``--json`` carries each result's ``column`` and ``sample``; bad
values are refused with one line and exit 2."""

from __future__ import annotations

import json

import pytest

from gui.cli import main

FAST = ["--sim-ttft", "0", "--sim-tps", "0", "--sim-tokens", "6", "--no-history"]


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    code = main(["run", *argv, *FAST, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_variants_sweeps_and_repeats_make_the_expected_results(
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = run_json(
        capsys,
        "-p", "Tell me about {topic}",
        "-p", "Summarise {topic}",
        "-t", "cats",
        "-m", "sim-a",
        "-m", "sim-b",
        "--temperature", "0",
        "--temperature", "0.7",
        "--repeat", "2",
    )  # fmt: skip
    results = data["results"]
    assert len(results) == data["summary"]["total"] == 2 * 2 * 2 * 2
    assert [r["cell"] for r in results[:4]] == ["r0m0", "r0m0s1", "r0m1", "r0m1s1"]
    assert [r["sample"] for r in results[:4]] == [1, 2, 1, 2]
    assert results[0]["samples"] == 2
    assert results[2]["column"] == {
        "index": 1,
        "template": "A",
        "model": "sim-a",
        "parameters": {"temperature": 0.7},
        "header": "A · sim-a · t=0.7",
    }
    assert results[-1]["column"]["header"] == "B · sim-b · t=0.7"
    # The per-column summary is titled by column.
    assert [m["model"] for m in data["summary"]["models"]] == [
        "A · sim-a · t=0",
        "A · sim-a · t=0.7",
        "A · sim-b · t=0",
        "A · sim-b · t=0.7",
        "B · sim-a · t=0",
        "B · sim-a · t=0.7",
        "B · sim-b · t=0",
        "B · sim-b · t=0.7",
    ]
    assert all(m["cells"] == 2 for m in data["summary"]["models"])  # two samples each


def test_one_seed_keeps_seeding_the_simulated_text_and_becomes_the_request_seed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = run_json(capsys, "-t", "cats", "--seed", "5", "--repeat", "3")
    again = run_json(capsys, "-t", "cats", "--seed", "5")
    texts = {r["output"] for r in first["results"]}
    assert len(texts) == 1 and texts == {again["results"][0]["output"]}  # same seed, same text
    assert first["results"][0]["column"]["parameters"] == {"seed": 5}
    swept = run_json(capsys, "-t", "cats", "--seed", "5", "--seed", "6")
    assert [r["column"]["header"] for r in swept["results"]] == ["sim-1 · seed=5", "sim-1 · seed=6"]
    assert swept["results"][0]["output"] == texts.pop()
    assert swept["results"][1]["output"] != swept["results"][0]["output"]


def test_a_plain_run_keeps_its_ids_and_model_names(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(capsys, "-t", "cats", "-t", "dogs", "-m", "a", "-m", "b")
    assert [r["cell"] for r in data["results"]] == ["r0m0", "r0m1", "r1m0", "r1m1"]
    assert [r["model"] for r in data["results"]] == ["a", "b", "a", "b"]
    assert {r["sample"] for r in data["results"]} == {1}


def test_text_output_names_the_column_and_the_sample(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "-t", "cats", "--top-p", "0.5", "--top-p", "1", "--repeat", "2", *FAST])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "cats × sim-1 · top_p=0.5 · sample 2 of 2 · done" in out
    assert "cell r0m1s1" in out


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--temperature", "2.5"], "Temperature 2.5 is out of range: use 0 to 2."),
        (["--temperature", "-0.1"], "Temperature -0.1 is out of range: use 0 to 2."),
        (["--top-p", "1.2"], "top_p 1.2 is out of range: use 0 to 1."),
        (["--max-tokens", "0"], "Max tokens 0 must be at least 1."),
        (["--repeat", "0"], "'0' must be at least 1; use 1 to 20"),
        (["--repeat", "21"], "'21' is out of range: use 1 to 20"),
        (["-p", "Hi {topic}", "-p", "  "], "Prompt variant B is empty."),
        (["--system", "S", "--system", " "], "System message B is empty."),
    ],
)
def test_bad_sweeps_variants_and_repeats_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    code = main(["run", "-t", "cats", *argv, *FAST])
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], err
    assert "Traceback" not in err


def test_ask_refuses_a_sweep(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["ask", "hello", "--temperature", "0", "--temperature", "1", "--no-history"])
    _, err = capsys.readouterr()
    assert code == 2
    assert "takes one value here" in err
