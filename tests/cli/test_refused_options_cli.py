"""Options refused on the command line, in a real process, with one line and exit 2: a
``--seed`` OpenAI's API would refuse (outside the signed 64-bit range; negatives are
seeds), and an abbreviated option (``--input`` is not ``--inputs``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

FAST = ["--sim-ttft", "0", "--sim-tps", "0", "--no-history"]


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("fanout-studio")
    return subprocess.run(
        [str(script), *argv], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--seed", "9223372036854775808"], "Seed 9223372036854775808 is out of range"),
        (["--seed=-9223372036854775809"], "Seed -9223372036854775809 is out of range"),
        (["--seed", "1.5"], "Seed '1.5' is not a whole number; write e.g. 1, 2, 3."),
        (["--input", "rows.csv"], "unrecognized arguments: --input rows.csv"),
        (["--temp", "0.5"], "unrecognized arguments: --temp 0.5"),
    ],
    ids=["seed-above-int64", "seed-below-int64", "seed-not-whole", "abbrev-input", "abbrev-temp"],
)
def test_a_bad_seed_or_an_abbreviated_option_is_refused_in_one_line(
    argv: list[str], says: str
) -> None:
    proc = _cli("run", "-t", "cats", *argv, "--no-history")
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_negative_seed_is_a_seed_as_openai_takes_it() -> None:
    proc = _cli("run", "-t", "cats", "--seed", "-7", "--json", *FAST)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)["results"][0]
    assert result["status"] == "done"
    assert result["column"]["parameters"] == {"seed": -7}


def test_an_abbreviated_option_of_another_command_is_refused_too() -> None:
    proc = _cli("batches", "--js")
    assert proc.returncode == 2
    assert "unrecognized arguments: --js" in proc.stderr
