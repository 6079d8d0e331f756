"""`fanout-studio leaderboard`: models by Elo over blind ratings, filtered, as a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gui.cli import main
from gui.core.ratings import Rating
from gui.storage.history import History
from tests.storage.fake_runs import feed_run, spec

DAY1 = time.mktime((2026, 11, 2, 12, 0, 0, 0, 0, -1))
DAY2 = time.mktime((2026, 11, 20, 12, 0, 0, 0, 0, -1))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FANOUT_HOME", str(tmp_path))
    return tmp_path


def rated_runs(home: Path) -> None:
    """Two runs of three models; in each, one row rated blind, and one rating not blind."""
    with History.open(home / "history.sqlite3") as history:
        models = ("sim-a", "sim-b", "sim-c")
        feed_run(
            history.recorder(),
            spec("Jokes about {topic}", models=models),
            run_id="jokes",
            started_at=DAY1,
        )
        feed_run(
            history.recorder(),
            spec("Poems about {topic}", models=models),
            run_id="poems",
            started_at=DAY2,
        )
        assert history.flush()
        # jokes, row 0: b best; a 4 stars beats c 2 stars.
        history.set_rating("jokes", "r0m1", Rating(best=True, blind=True))
        history.set_rating("jokes", "r0m0", Rating(stars=4, blind=True))
        history.set_rating("jokes", "r0m2", Rating(stars=2, blind=True))
        # poems, row 1: c and a tie on 3 stars (b not rated: no game for it).
        history.set_rating("poems", "r1m2", Rating(stars=3, blind=True))
        history.set_rating("poems", "r1m0", Rating(stars=3, blind=True))
        # Seen with the names: not on the leaderboard.
        history.set_rating("poems", "r0m0", Rating(best=True))


def leaderboard_process(home: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "FANOUT_HOME": str(home),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    return subprocess.run(
        [sys.executable, "-m", "gui", "leaderboard", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_the_leaderboard_as_json_from_a_process(home: Path) -> None:
    rated_runs(home)
    proc = leaderboard_process(home, "--json")
    assert proc.returncode == 0, proc.stderr
    table = json.loads(proc.stdout)
    # The hand computation of tests/core/test_ratings.py: the same games in the same order.
    assert table == [
        {
            "rank": 1,
            "model": "sim-b",
            "rating": 1031.3,
            "games": 2,
            "wins": 2,
            "losses": 0,
            "ties": 0,
        },
        {
            "rank": 2,
            "model": "sim-a",
            "rating": 998.6,
            "games": 3,
            "wins": 1,
            "losses": 1,
            "ties": 1,
        },
        {
            "rank": 3,
            "model": "sim-c",
            "rating": 970.1,
            "games": 3,
            "wins": 0,
            "losses": 2,
            "ties": 1,
        },
    ]
    proc = leaderboard_process(home, "--json", "--template", "POEMS")
    assert [(r["model"], r["ties"]) for r in json.loads(proc.stdout)] == [
        ("sim-a", 1),
        ("sim-c", 1),
    ]


def test_the_table_and_the_date_filters(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rated_runs(home)
    assert main(["leaderboard"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["RANK", "MODEL", "ELO", "GAMES", "WINS", "LOSSES", "TIES"]
    assert lines[1].split() == ["1", "sim-b", "1031", "2", "2", "0", "0"]
    assert "4 games from 2 rated rows (Elo K=32, base 1000)." in out

    assert main(["leaderboard", "--json", "--until", "2026-11-02"]) == 0
    assert [r["model"] for r in json.loads(capsys.readouterr().out)] == ["sim-b", "sim-a", "sim-c"]
    assert main(["leaderboard", "--json", "--since", "2026-11-03"]) == 0
    assert {r["model"] for r in json.loads(capsys.readouterr().out)} == {"sim-a", "sim-c"}
    assert main(["leaderboard", "--since", "2027-01-01"]) == 0
    assert capsys.readouterr().out == "No blind ratings match these filters.\n"


def test_bad_dates_and_an_empty_history_say_so_in_one_line(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["leaderboard"]) == 0
    assert "No blind ratings yet" in capsys.readouterr().out
    assert main(["leaderboard", "--since", "last tuesday"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'last tuesday' is not a date" in err and "YYYY-MM-DD" in err
    assert main(["leaderboard", "--since", "2026-12-02", "--until", "2026-12-01"]) == 2
    assert "--until is before --since" in capsys.readouterr().err
