"""Options refused on the command line, in a real process, with one line and exit 2: an
abbreviated option (``--input`` is not ``--inputs``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("fanout-studio")
    return subprocess.run(
        [str(script), *argv], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--input", "rows.csv"], "unrecognized arguments: --input rows.csv"),
        (["--temp", "0.5"], "unrecognized arguments: --temp 0.5"),
    ],
    ids=["abbrev-input", "abbrev-temp"],
)
def test_an_abbreviated_option_is_refused_in_one_line(argv: list[str], says: str) -> None:
    proc = _cli("run", "-t", "cats", *argv, "--no-history")
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_abbreviated_option_of_another_command_is_refused_too() -> None:
    proc = _cli("batches", "--js")
    assert proc.returncode == 2
    assert "unrecognized arguments: --js" in proc.stderr
