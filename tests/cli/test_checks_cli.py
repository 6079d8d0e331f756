"""Checks from the command line, as a script author gates on them: ``--check``,
``--check-file``, the results in ``--json`` and in ``show``, exit 1 when a check fails and
exit 2 (one line naming the fix) for a check that cannot work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

FAST = ["--sim-ttft", "0.01", "--sim-tps", "0", "--sim-tokens", "12", "--seed", "1"]


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gui", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        env={**os.environ, "FANOUT_HOME": str(home), "QT_QPA_PLATFORM": "offscreen"},
        cwd=home,
    )


def test_passing_checks_exit_0_and_every_cell_carries_them(tmp_path: Path) -> None:
    (tmp_path / "checks.json").write_text(
        json.dumps([{"kind": "max-words", "value": 100, "name": "short"}]),
        encoding="utf-8",
    )
    done = cli(
        tmp_path,
        "run",
        "-p",
        "A joke about {topic}",
        "-t",
        "cats",
        "-t",
        "dogs",
        "--check",
        "python:len(output) > 0",
        "--check-file",
        "checks.json",
        "--json",
        *FAST,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    for cell in data["results"]:
        assert [(c["name"], c["kind"], c["passed"]) for c in cell["checks"]] == [
            ("short", "max-words", True),
            ("python: len(output) > 0", "python", True),
        ]
        assert cell["checks"][0]["detail"].endswith("words, at most 100")
    assert data["checks"] == {
        "definitions": [
            {"kind": "max-words", "value": "100", "name": "short"},
            {"kind": "python", "value": "len(output) > 0"},
        ],
        "cells_checked": 2,
        "cells_all_passed": 2,
        "per_check": [
            {"name": "short", "kind": "max-words", "passed": 2, "failed": 0},
            {"name": "python: len(output) > 0", "kind": "python", "passed": 2, "failed": 0},
        ],
    }


def test_a_failing_check_exits_1_and_the_text_output_says_which(tmp_path: Path) -> None:
    done = cli(
        tmp_path,
        "run",
        "-p",
        "A joke about {topic}",
        "-t",
        "cats",
        "--check",
        "contains:{topic}",
        "--check",
        "name=tiny;max-words:2",
        *FAST,
    )
    assert done.returncode == 1, done.stderr
    assert "checks " in done.stdout and "/2 ✗" in done.stdout
    assert "✗ tiny: " in done.stdout and "words, at most 2" in done.stdout
    run_id = done.stdout.rsplit("saved as ", 1)[1].split()[0]

    shown = cli(tmp_path, "show", run_id)
    assert shown.returncode == 0
    assert "checks: contains:{topic} · name=tiny;max-words:2" in shown.stdout
    assert "✗ tiny: " in shown.stdout
    stored = json.loads(cli(tmp_path, "show", run_id, "--json").stdout)
    assert stored["cells"][0]["checks"][1]["name"] == "tiny"
    assert stored["cells"][0]["checks"][1]["passed"] is False


def test_bad_checks_exit_2_with_one_line_naming_the_fix(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('[{"kind": "regex", "value": "(ab"}]', encoding="utf-8")
    for args, message in [
        (["--check", "regex:^(\\d"], "Invalid regex at position 2"),
        (["--check", "contains:{topc}"], "Did you mean {topic}?"),
        (["--check", "max-words:many"], "max-words needs a whole number"),
        (["--check", "containz:x"], "Did you mean contains?"),
        (["--check-file", "bad.json"], "Invalid regex at position 1"),
        (["--check", "json-schema:@missing.json"], "Cannot read the schema file 'missing.json'"),
        (["--check", 'json-schema:{"type": 3}'], "Invalid JSON schema: keyword 'type'"),
        (["--check", "python:open('x')"], "open is not available"),
    ]:
        done = cli(tmp_path, "run", "-p", "About {topic}", "-t", "cats", *args, *FAST)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stdout == ""
        (line,) = done.stderr.splitlines()
        assert line.startswith("fanout-studio run: error: ") and message in line, line


def test_a_schema_file_is_inlined_into_the_stored_run(tmp_path: Path) -> None:
    (tmp_path / "schema.json").write_text('{"type": "object"}', encoding="utf-8")
    done = cli(
        tmp_path, "run", "-p", "About {topic}", "-t", "cats", "--check",
        "json-schema:@schema.json", "--json", *FAST,
    )  # fmt: skip
    assert done.returncode == 1  # a joke is not a JSON object
    (check,) = json.loads(done.stdout)["results"][0]["checks"]
    assert check["kind"] == "json-schema" and check["detail"].startswith("not JSON")
    stored = json.loads(cli(tmp_path, "show", json.loads(done.stdout)["run_id"], "--json").stdout)
    assert stored["spec"]["checks"] == [{"kind": "json-schema", "value": '{"type": "object"}'}]
