"""A run's outcome tells finished, finished with failures, cancelled and interrupted apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from gui.cli import main
from gui.storage import paths
from gui.storage.history import History
from gui.storage.outcome import FINISHED_WITH_FAILURES, SOME_CANCELLED, outcome, outcome_phase
from tests.storage.fake_runs import feed_run, spec

FAILED = ("failed", "server_error", "Server error 500.", "")
CANCELLED = ("cancelled", "cancelled by user", "")


def record_every_ending(db: Path) -> None:
    """All done; 1 of 4 failed; one cell cancelled; the whole run cancelled; interrupted."""
    h = History.open(db)
    feed_run(h.recorder(), spec(), run_id="r-clean", started_at=1_800_000_000.0)
    feed_run(
        h.recorder(),
        spec(),
        run_id="r-failures",
        started_at=1_800_000_100.0,
        outcomes={"r1m1": FAILED},
    )
    feed_run(
        h.recorder(),
        spec(),
        run_id="r-one-cancel",
        started_at=1_800_000_200.0,
        outcomes={"r0m1": CANCELLED},
    )
    feed_run(
        h.recorder(),
        spec(),
        run_id="r-stopped",
        started_at=1_800_000_300.0,
        outcomes={"r1m0": CANCELLED, "r1m1": CANCELLED},
        cancelled_by_user=True,
    )
    feed_run(
        h.recorder(),
        spec(),
        run_id="r-interrupted",
        started_at=1_800_000_400.0,
        finish=False,
        outcomes={"r0m0": ("done", "one")},
    )
    h.close()  # marks the unfinished run interrupted


EXPECTED = {
    "r-clean": "finished",
    "r-failures": FINISHED_WITH_FAILURES,
    "r-one-cancel": SOME_CANCELLED,
    "r-stopped": "cancelled",
    "r-interrupted": "interrupted",
}


def test_each_kind_of_ending_has_its_own_outcome_and_colour() -> None:
    db = paths.history_path()
    record_every_ending(db)
    with History.open(db) as h:
        records = {r.id: r for r in h.list_runs()}
        assert {rid: outcome(r) for rid, r in records.items()} == EXPECTED
        stored = h.get_run("r-failures")
        assert stored is not None and outcome(stored) == FINISHED_WITH_FAILURES
    phases = {outcome_phase(text) for text in EXPECTED.values()}
    assert outcome_phase("finished") == "done" and outcome_phase(FINISHED_WITH_FAILURES) != "done"
    assert len(phases) == 4  # green, amber, grey, red
    assert outcome_phase("something new") == "queued"


def test_the_cli_history_list_shows_the_outcome(capsys: pytest.CaptureFixture[str]) -> None:
    record_every_ending(paths.history_path())
    assert main(["history"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    shown = {line.split()[0]: line for line in lines}
    assert set(shown) == set(EXPECTED)
    for run_id, text in EXPECTED.items():
        assert f"  {text}  " in shown[run_id], shown[run_id]
    assert "  finished  " not in shown["r-failures"]
