"""The simulated model's answers on the command line, as a demo of sweeps and repeats shows
them: each model answers in its own way, temperature 0 repeats one answer, higher
temperatures give distinct ones, a seed makes repeats agree."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from gui.cli import main

FAST = ["--sim-ttft", "0", "--sim-tps", "0", "--no-history", "--json"]


def outputs(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, list[str]]:
    """Each column header's answers, in sample order."""
    code = main(["run", "-p", "Tell me about {topic}", *argv, *FAST])
    out, err = capsys.readouterr()
    assert code == 0, err
    by_column: dict[str, list[str]] = defaultdict(list)
    for result in json.loads(out)["results"]:
        by_column[result["column"]["header"]].append(result["output"])
    return by_column


def test_two_simulated_models_give_two_answers(capsys: pytest.CaptureFixture[str]) -> None:
    answers = outputs(capsys, "-t", "cats", "-m", "sim-a", "-m", "sim-b")
    assert answers["sim-a"] != answers["sim-b"]
    assert outputs(capsys, "-t", "cats", "-m", "sim-a", "-m", "sim-b") == answers  # reproducible


def test_a_temperature_sweep_with_repeats_shows_more_variety_when_hotter(
    capsys: pytest.CaptureFixture[str],
) -> None:
    temps = ["--temperature", "0", "--temperature", "0.7", "--temperature", "1.2"]
    distinct: dict[str, int] = defaultdict(int)
    for topic in ("cats", "rivers", "bread"):
        answers = outputs(capsys, "-t", topic, "-m", "sim-a", *temps, "--repeat", "5")
        for header, texts in answers.items():
            assert len(texts) == 5
            distinct[header] += len(set(texts))
    assert distinct["sim-a · t=0"] == 3  # one answer per topic, every repeat
    assert 3 < distinct["sim-a · t=0.7"] < distinct["sim-a · t=1.2"]
    assert distinct["sim-a · t=1.2"] >= 12  # mostly distinct: at least 4 of 5 per topic


def test_a_seed_makes_repeats_agree_and_another_seed_answers_otherwise(
    capsys: pytest.CaptureFixture[str],
) -> None:
    hot = ["-t", "cats", "--temperature", "2", "--repeat", "3"]
    seeded = outputs(capsys, *hot, "--seed", "5", "--seed", "-6")
    five, minus_six = seeded["sim-1 · seed=5"], seeded["sim-1 · seed=-6"]
    assert len(set(five)) == 1 and len(set(minus_six)) == 1
    assert five[0] != minus_six[0]
    unseeded = outputs(capsys, *hot)["sim-1"]
    assert len(set(unseeded)) == 3
