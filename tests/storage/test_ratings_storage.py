"""Ratings in the history: stored at once, best in row unique, read back, across runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from gui.core.ratings import Rating, leaderboard
from gui.core.spec import Limits, ModelProfile, make_spec
from gui.storage.export import export
from gui.storage.history import History, HistoryError
from tests.core.fakes import FakeBackend, Script
from tests.storage.fake_runs import feed_run, spec
from tests.storage.test_history import run_through


@pytest.fixture
def history(tmp_path: Path):
    h = History.open(tmp_path / "history.sqlite3")
    yield h
    h.close()


def _recorded(history: History, run_id: str = "run-1", **kw: object) -> None:
    feed_run(history.recorder(), spec(**kw), run_id=run_id)  # type: ignore[arg-type]
    assert history.flush()


def test_a_rating_comes_back_with_its_cell_and_in_to_dict(history: History) -> None:
    _recorded(history)
    history.set_rating("run-1", "r0m1", Rating(thumb=1, stars=4))
    run = history.get_run("run-1")
    assert run is not None
    cell = run.cell("r0m1")
    assert cell is not None and cell.rating == Rating(thumb=1, stars=4)
    assert run.cell("r0m0").rating is None  # type: ignore[union-attr]
    assert run.to_dict()["cells"][1]["rating"] == {
        "thumb": 1,
        "stars": 4,
        "best": False,
        "blind": False,
    }
    history.set_rating("run-1", "r0m1", None)  # cleared
    again = history.get_run("run-1")
    assert again is not None and again.cell("r0m1").rating is None  # type: ignore[union-attr]


def test_best_in_row_is_unique_per_input(history: History) -> None:
    _recorded(history, models=("a", "b", "c"))
    history.set_rating("run-1", "r0m0", Rating(stars=3, best=True))
    history.set_rating("run-1", "r0m1", Rating(best=True))
    history.set_rating("run-1", "r1m2", Rating(best=True))  # another input: unaffected
    run = history.get_run("run-1")
    assert run is not None
    ratings = {c.cell_id: c.rating for c in run.cells if c.rating is not None}
    assert ratings == {
        "r0m0": Rating(stars=3),  # no longer the best; its stars stay
        "r0m1": Rating(best=True),
        "r1m2": Rating(best=True),
    }
    history.set_rating("run-1", "r0m0", Rating(best=True))
    run = history.get_run("run-1")
    assert run is not None
    # r0m1 had only the best mark: nothing is left of its rating.
    assert {c.cell_id for c in run.cells if c.rating is not None} == {"r0m0", "r1m2"}


def test_a_past_run_can_be_rated_again_after_reopening(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    with History.open(path) as first:
        _recorded(first)
        first.set_rating("run-1", "r1m0", Rating(stars=2))
    with History.open(path) as second:
        run = second.get_run("run-1")
        assert run is not None and run.cell("r1m0").rating == Rating(stars=2)  # type: ignore[union-attr]
        second.set_rating("run-1", "r1m0", Rating(stars=5, thumb=1))
    with History.open(path) as third:
        run = third.get_run("run-1")
        assert run is not None
        assert run.cell("r1m0").rating == Rating(thumb=1, stars=5)  # type: ignore[union-attr]


def test_rating_a_deleted_run_or_a_closed_history_says_so(history: History) -> None:
    with pytest.raises(HistoryError, match="run is no longer in the history"):
        history.set_rating("no-such-run", "r0m0", Rating(stars=1))
    history.close()
    with pytest.raises(HistoryError, match="closed"):
        history.set_rating("run-1", "r0m0", Rating(stars=1))


async def test_a_retried_cell_loses_the_rating_of_its_old_answer(history: History) -> None:
    first = await run_through(
        history,
        make_spec("About {t}", ["cats"], [ModelProfile(model="a")], limits=Limits(retries=0)),
        FakeBackend(Script(latency=0.01, chunks=2)),
    )
    history.set_rating(first.id, "r0m0", Rating(stars=1))
    await run_through(
        history,
        make_spec("About {t}", ["cats"], [ModelProfile(model="a")]),
        FakeBackend(Script(chunks=3)),
        into_run=first.id,
    )
    run = history.get_run(first.id)
    assert run is not None and run.cell("r0m0").rating is None  # type: ignore[union-attr]


def test_the_leaderboard_reads_blind_rows_across_runs_with_filters(history: History) -> None:
    feed_run(
        history.recorder(), spec("Jokes about {topic}"), run_id="old", started_at=1_700_000_000.0
    )
    feed_run(
        history.recorder(), spec("Poems about {topic}"), run_id="new", started_at=1_800_000_000.0
    )
    assert history.flush()
    history.set_rating("old", "r0m1", Rating(best=True, blind=True))
    history.set_rating("new", "r1m0", Rating(best=True, blind=True))
    history.set_rating("new", "r0m0", Rating(best=True))  # seen: not a leaderboard row

    rows = history.leaderboard_rows()
    assert [(r.run_id, r.row) for r in rows] == [("old", 0), ("new", 1)]
    assert [(a.model, a.col, a.done) for a in rows[0].answers] == [
        ("sim-a", 0, True),
        ("sim-b", 1, True),
    ]
    assert [(r.run_id, r.row) for r in history.leaderboard_rows("POEMS")] == [("new", 1)]
    assert [r.run_id for r in history.leaderboard_rows(since=1_750_000_000.0)] == ["new"]
    assert [r.run_id for r in history.leaderboard_rows(until=1_750_000_000.0)] == ["old"]
    table = leaderboard(rows)
    assert [(e.model, e.wins, e.losses) for e in table] == [("sim-a", 1, 1), ("sim-b", 1, 1)]


def test_exports_carry_the_ratings(history: History) -> None:
    _recorded(history)
    history.set_rating("run-1", "r0m0", Rating(thumb=-1, stars=2, best=True, blind=True))
    run = history.get_run("run-1")
    assert run is not None
    assert '"stars": 2' in export(run, "json")
    csv_text = export(run, "csv")
    header, first = csv_text.splitlines()[:2]
    assert "stars" in header.split(",") and "best" in header.split(",")
    assert ",2," in first
    assert "★★☆☆☆" in export(run, "md")
