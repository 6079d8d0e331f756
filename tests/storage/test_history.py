"""The run history as the window and the CLI use it: record, list, search, show, retry, delete."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from gui.core import events as ev
from gui.core.runner import CANCELLED_BY_USER, CANCELLED_SHUTDOWN, Run
from gui.core.spec import CellId, Limits, ModelProfile, RunSpec, make_spec
from gui.storage.history import AmbiguousRunId, History, HistoryError
from gui.storage.liveness import process_start
from tests.core.fakes import FakeBackend, FakeHTTPError, Script
from tests.storage.fake_runs import feed_run, metrics, spec


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "history.sqlite3"


@pytest.fixture
def history(db: Path):
    h = History.open(db)
    yield h
    h.close()


async def run_through(h: History, run_spec: RunSpec, backend: FakeBackend, **kw: Any) -> Run:
    run = Run(run_spec, backend)
    run.subscribe(h.recorder(**kw))
    await run.wait()
    assert h.flush()
    return run


# ------------------------------------------------------------------ round trips


async def test_a_real_run_comes_back_with_every_cell_and_metric(history: History) -> None:
    backend = FakeBackend(
        Script(latency=0.04, chunks=4), dogs=Script(errors=[FakeHTTPError(500)] * 2, latency=0.01)
    )
    s = make_spec(
        "Tell me a joke about {topic}",
        ["cats", "dogs"],
        [ModelProfile(model="sim-a"), ModelProfile(model="sim-b", label="B (fast)")],
        limits=Limits(retries=0),
    )
    s = RunSpec(s.template, s.rows, s.models, s.strategy, s.limits, system="Be brief.")
    ended: dict[str, ev.Event] = {}
    run = Run(s, backend)

    def keep_ends(event: ev.Event) -> None:
        if isinstance(event, ev.TERMINAL):
            ended[event.cell_id] = event

    run.subscribe(keep_ends)
    run.subscribe(history.recorder(label="my label"))
    await run.wait()
    assert history.flush()

    (record,) = history.list_runs()
    assert record.id == run.id and record.status == "finished" and record.label == "my label"
    assert record.models == ("sim-a", "B (fast)") and record.strategy == "stream"
    assert (record.total, record.done, record.failed, record.cancelled) == (4, 2, 2, 0)
    assert record.wall == pytest.approx(run.summary.wall)

    stored = history.get_run(run.id)
    assert stored is not None
    assert stored.spec == s  # template, system message, rows, profiles, strategy, limits
    assert [c.cell_id for c in stored.cells] == ["r0m0", "r0m1", "r1m0", "r1m1"]
    for cell in stored.cells:
        event = ended[cell.cell_id]
        assert cell.metrics == event.metrics
        assert cell.ended_at == pytest.approx(stored.created_at + event.t)
    cats, dogs = stored.cells[1], stored.cells[2]
    assert (cats.status, cats.text, cats.inputs, cats.model) == (
        "done",
        "w0 w1 w2 w3 ",
        {"topic": "cats"},
        "B (fast)",
    )
    assert dogs.status == "failed" and dogs.error_kind == "server_error"
    assert dogs.error == "fake: server error (500)."
    assert stored.summary["failures_by_kind"] == {"server_error": 2}
    assert stored.summary["peak_in_flight"] >= 2
    assert stored.finished_at == pytest.approx(stored.created_at + stored.wall, abs=0.5)
    # Everything is plain JSON.
    assert json.loads(json.dumps(stored.to_dict()))["cells"][2]["error_kind"] == "server_error"


@pytest.mark.parametrize(
    ("reason", "status"), [(CANCELLED_BY_USER, "cancelled"), (CANCELLED_SHUTDOWN, "interrupted")]
)
async def test_a_stopped_run_keeps_the_partial_text(
    history: History, reason: str, status: str
) -> None:
    pause = asyncio.Event()
    backend = FakeBackend(Script(latency=0.02, chunks=4, pause=pause))
    run = Run(spec(topics=["cats"], models=["sim-a"]), backend)
    run.subscribe(history.recorder())
    run.start()
    while run.partial_text("r0m0") == "":
        await asyncio.sleep(0.005)
    run.cancel(reason)
    await run.wait()
    assert history.flush()
    stored = history.get_run(run.id)
    assert stored is not None and stored.status == status
    (cell,) = stored.cells
    assert (cell.status, cell.text, cell.error_kind, cell.error) == (
        "cancelled",
        "w0 ",
        "cancelled",
        reason,
    )


def test_nasty_text_is_stored_exactly(history: History) -> None:
    nasty = "a | b\r\n`x`\x00 <html> 🐱 مرحبا  \n"
    s = spec(template="Q: {topic}", topics=[nasty], models=["m"])
    feed_run(history.recorder(), s, run_id="r-nasty", outcomes={"r0m0": ("done", nasty)})
    assert history.flush()
    stored = history.get_run("r-nasty")
    assert stored is not None
    assert stored.cells[0].text == nasty and stored.cells[0].inputs == {"topic": nasty}


# ------------------------------------------------------------------ list, search, delete


def _three_runs(h: History) -> None:
    record = h.recorder()
    feed_run(
        record,
        spec("A JOKE about {topic}", models=["gpt-4o-mini"]),
        run_id="2026-a",
        started_at=1000.0,
    )
    feed_run(
        record,
        spec(
            "Une blague sur l'ÉCLAIR et {topic}",
            models=[ModelProfile(model="llama3.2", label="Local")],
        ),
        run_id="2026-b",
        started_at=2000.0,
    )
    feed_run(
        record,
        spec("Summarise {topic}", models=["sim-a", "gpt-4o-mini"]),
        run_id="2027-c",
        started_at=3000.0,
    )
    assert h.flush()


def test_list_is_newest_first_and_search_filters(history: History) -> None:
    _three_runs(history)
    ids = lambda runs: [r.id for r in runs]  # noqa: E731
    assert ids(history.list_runs()) == ["2027-c", "2026-b", "2026-a"]
    assert ids(history.list_runs("joke")) == ["2026-a"]  # case-insensitive
    assert ids(history.list_runs("éclair")) == ["2026-b"]  # beyond ASCII too
    assert ids(history.list_runs("nothing like it")) == []
    assert ids(history.list_runs(model="GPT-4o-mini")) == ["2027-c", "2026-a"]
    assert ids(history.list_runs(model="local")) == ["2026-b"]  # a column title
    assert ids(history.list_runs(model="llama3.2")) == ["2026-b"]  # or the model name
    assert ids(history.list_runs(since=2000.0)) == ["2027-c", "2026-b"]
    assert ids(history.list_runs(since=1500.0, until=3000.0)) == ["2026-b"]
    assert ids(history.list_runs(limit=1)) == ["2027-c"]
    assert ids(history.list_runs("a", model="sim-a", since=2500)) == ["2027-c"]
    assert history.models() == ["gpt-4o-mini", "Local", "sim-a"]


def test_get_run_takes_a_unique_prefix_and_delete_removes_everything(
    history: History, db: Path
) -> None:
    _three_runs(history)
    assert history.get_run("2027").id == "2027-c"
    assert history.get_run("nope") is None and history.get_run("") is None
    with pytest.raises(AmbiguousRunId, match="matches several runs"):
        history.get_run("2026")
    assert history.delete_run("2026-a") is True
    assert history.delete_run("2026-a") is False
    assert [r.id for r in history.list_runs()] == ["2027-c", "2026-b"]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM cells WHERE run_id = '2026-a'").fetchone() == (0,)
        assert conn.execute(
            "SELECT count(*) FROM run_models WHERE run_id = '2026-a'"
        ).fetchone() == (0,)


# ------------------------------------------------------------------ retry into an earlier run


async def test_a_retried_cell_replaces_its_cell_in_the_earlier_run(history: History) -> None:
    backend = FakeBackend(
        Script(latency=0.01, chunks=2), dogs=Script(errors=[FakeHTTPError(503)] * 2)
    )
    first = await run_through(
        history,
        make_spec(
            "About {topic}",
            ["cats", "dogs"],
            [ModelProfile(model="a"), ModelProfile(model="b")],
            limits=Limits(retries=0),
        ),
        backend,
    )
    before = history.get_run(first.id)
    assert before is not None and (before.done, before.failed) == (2, 2)

    # The window retries cell r1m1 (dogs x b) as a one-cell run, with b's current profile.
    retry_spec = make_spec("About {topic}", ["dogs"], [ModelProfile(model="b", label="b v2")])
    retry = await run_through(
        history,
        retry_spec,
        FakeBackend(Script(chunks=3)),
        into_run=first.id,
        cell_map={"r0m0": "r1m1"},
    )

    assert [r.id for r in history.list_runs()] == [first.id]  # no new run
    after = history.get_run(first.id)
    assert after is not None and (after.total, after.done, after.failed) == (4, 3, 1)
    cell = after.cell("r1m1")
    assert cell is not None and (cell.row, cell.col, cell.status, cell.text) == (
        1,
        1,
        "done",
        "w0 w1 w2 ",
    )
    assert cell.model == "b v2" and cell.error is None
    assert cell.metrics == retry.metrics("r0m0")
    assert after.cell("r1m0") == before.cell("r1m0")  # its sibling is untouched
    assert after.summary["failures_by_kind"] == {"server_error": 1}
    assert after.status == "finished"


# ------------------------------------------------------------------ the database file


def test_the_file_is_in_wal_mode(history: History, db: Path) -> None:
    feed_run(
        history.recorder(), spec(), run_id="r1", finish=False, outcomes={"r0m0": ("done", "x")}
    )
    assert history.flush()
    with sqlite3.connect(db) as other:
        assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert db.with_name(db.name + "-wal").exists()


def test_recording_costs_the_caller_microseconds_even_while_the_file_is_locked(
    history: History, db: Path
) -> None:
    cells = 1000
    s = spec(template="Q {topic}", topics=[f"t{i}" for i in range(cells)], models=["m"])
    record = history.recorder()
    chunks = [ev.TextChunk("big", 0.1, CellId.text(i % cells, 0), "tok ") for i in range(10_000)]
    ends = [
        ev.CellFinished("big", 1.0, CellId.text(i, 0), f"answer {i}", metrics())
        for i in range(cells)
    ]
    start_event = ev.RunStarted("big", 0.0, s, tuple(s.cells()), 1_800_000_000.0)

    # Another process holds the write lock: the writer thread waits, the caller must not.
    # The lock is released only after every event was handed over: a caller that waited for
    # the file would never get there (the margin is a minute, the hand-over takes milliseconds).
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    handed_over = threading.Event()
    spent: list[float] = []

    def feed() -> None:
        t0 = time.perf_counter()
        record(start_event)
        for chunk in chunks:
            record(chunk)
        for end in ends:
            record(end)
        spent.append(time.perf_counter() - t0)
        handed_over.set()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        assert handed_over.wait(60), "recording waited for another process's write lock"
    finally:
        blocker.execute("COMMIT")
        blocker.close()
    feeder.join(60)
    print(f"\nrecorder: 11,001 events handed over in {spent[0] * 1e3:.2f} ms while locked")

    assert history.flush()
    stored = history.get_run("big")
    assert stored is not None and stored.done == cells
    assert stored.cells[999].text == "answer 999"


def test_each_cell_is_committed_on_its_own_as_it_ends(history: History, db: Path) -> None:
    # No flush, no close, no later event: each ended cell reaches the file by itself (a
    # crash right after it loses nothing), one at a time rather than saved up for the run's end.
    s = spec(topics=[f"t{i}" for i in range(20)], models=["m"])
    record = history.recorder()
    record(ev.RunStarted("lat", 0.0, s, tuple(s.cells()), 1_800_000_000.0))
    assert history.flush()
    reader = sqlite3.connect(db)
    delays = []
    try:
        for i in range(20):
            record(ev.CellFinished("lat", 1.0, CellId.text(i, 0), "x", metrics()))
            t0 = time.perf_counter()
            deadline = t0 + 60  # a margin, not a budget
            while reader.execute("SELECT count(*) FROM cells").fetchone()[0] <= i:
                assert time.perf_counter() < deadline, f"cell {i} never reached the file"
                time.sleep(0.0005)
            delays.append(time.perf_counter() - t0)
            assert reader.execute("SELECT count(*) FROM cells").fetchone()[0] == i + 1
    finally:
        reader.close()
    delays.sort()
    print(f"\ncommit latency: median {delays[10] * 1e3:.1f} ms, max {delays[-1] * 1e3:.1f} ms")


def test_close_marks_this_instances_unfinished_run_interrupted(db: Path) -> None:
    h = History.open(db)
    feed_run(h.recorder(), spec(), run_id="half", finish=False, outcomes={"r0m0": ("done", "one")})
    h.close()
    h.close()  # idempotent
    with History.open(db) as again:
        (record,) = again.list_runs()
        assert record.status == "interrupted" and record.done == 1
        assert again.get_run("half").cells[0].text == "one"


def test_two_instances_share_one_file(db: Path) -> None:
    window, cli = History.open(db), History.open(db)
    try:
        feed_run(
            window.recorder(), spec(), run_id="live", finish=False, outcomes={"r0m0": ("done", "w")}
        )
        assert window.flush()
        # The CLI writes its own run meanwhile, from its own thread.
        t = threading.Thread(
            target=feed_run, args=(cli.recorder(), spec()), kwargs={"run_id": "cli"}
        )
        t.start()
        t.join()
        assert cli.flush()
        assert {r.id: r.status for r in cli.list_runs()} == {"cli": "finished", "live": "running"}
        # A third open (another process starting) leaves the live run alone.
        with History.open(db) as third:
            assert {r.id: r.status for r in third.list_runs()}["live"] == "running"
        assert window.get_run("cli").done == 4
    finally:
        window.close()
        cli.close()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_open_marks_only_runs_of_gone_processes_interrupted(db: Path) -> None:
    with History.open(db) as h:
        for run_id in ("gone", "alive", "reused", "mine"):
            feed_run(
                h.recorder(), spec(), run_id=run_id, finish=False, outcomes={"r0m0": ("done", "x")}
            )
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE runs SET status = 'running'")
            conn.execute("UPDATE runs SET owner_pid = ? WHERE id = 'gone'", (_dead_pid(),))
            alive_start = process_start(sleeper.pid)
            conn.execute(
                "UPDATE runs SET owner_pid = ?, owner_start = ? WHERE id = 'alive'",
                (sleeper.pid, alive_start),
            )
            # The same pid, but a process that started at another time: the pid was reused.
            conn.execute(
                "UPDATE runs SET owner_pid = ?, owner_start = 'not-its-start' WHERE id = 'reused'",
                (sleeper.pid,),
            )
        with History.open(db) as h:
            status = {r.id: r.status for r in h.list_runs()}
        expected_reused = "interrupted" if sys.platform.startswith("linux") else "running"
        assert status == {
            "gone": "interrupted",
            "alive": "running",
            "reused": expected_reused,
            "mine": "running",  # this very process is alive
        }
    finally:
        sleeper.kill()
        sleeper.wait()


def test_reads_from_many_threads_while_writing(history: History) -> None:
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        try:
            while not stop.is_set():
                for r in history.list_runs():
                    history.get_run(r.id)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for t in readers:
        t.start()
    for i in range(30):
        feed_run(history.recorder(), spec(), run_id=f"run-{i:02d}", started_at=1000.0 + i)
    assert history.flush()
    stop.set()
    for t in readers:
        t.join()
    assert not errors and len(history.list_runs()) == 30


def test_reads_after_close_say_so(db: Path) -> None:
    h = History.open(db)
    h.close()
    with pytest.raises(HistoryError, match="closed"):
        h.list_runs()
    h.recorder()(ev.RunStarted("x", 0.0, spec(), tuple(spec().cells()), 1.0))  # ignored
