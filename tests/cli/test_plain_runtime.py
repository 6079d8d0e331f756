"""``--plain-runtime``: the same command gives the same answers with every library hook off."""

from __future__ import annotations

import json

import pytest

from gui.cli import main
from gui.compat import hooks

ARGS = ["run", "-p", "Describe {topic}", "-t", "owls", "-t", "bats", "-m", "sim-a", "--json"]
FAST = ["--sim-ttft", "0.01", "--sim-tps", "0", "--sim-tokens", "15", "--seed", "3"]


def answers(capsys: pytest.CaptureFixture[str], *argv: str) -> list[tuple[str, str, str, int]]:
    assert main([*argv, *ARGS, *FAST]) == 0
    data = json.loads(capsys.readouterr().out)
    return [
        (r["input"]["topic"], r["status"], r["output"], r["metrics"]["output_tokens"])
        for r in data["results"]
    ]


def test_plain_runtime_gives_the_same_answers(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(hooks.PLAIN_ENV, "0")  # restored after the test: the option sets it
    hooks.reset()
    hooked = answers(capsys)
    assert not hooks.plain_runtime()
    plain = answers(capsys, "--plain-runtime")
    assert hooks.plain_runtime() and hooks.describe()["lcel-stream"] == "off (plain runtime)"
    hooks.reset()
    assert plain == hooked and [status for _, status, _, _ in plain] == ["done", "done"]
    assert all(text and tokens == 15 for _, _, text, tokens in plain)  # usage still counted
