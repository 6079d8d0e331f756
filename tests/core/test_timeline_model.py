"""The timeline's rules on plain Python: which events make which segments (no Qt here)."""

from __future__ import annotations

import pytest

from gui.core import events as ev
from gui.core.errors import ErrorKind
from gui.core.spec import ModelProfile, RunSpec
from gui.core.timeline import (
    BACKOFF,
    CANCELLED,
    DONE,
    REQUEST,
    STREAMING,
    WAITING,
    TimelineModel,
)
from tests.support.timeline_events import RUN, metrics, staircase, streamed


def model_of(*events: ev.Event) -> TimelineModel:
    model = TimelineModel()
    model.apply(events)
    return model


def test_a_streamed_cell_waits_requests_streams_and_ends_done() -> None:
    events = streamed("c0", 0.0, 1.0, 1.3, 2.0)
    model = model_of(*events[:2])
    assert model.segments("c0") == [(WAITING, 0.0, 1.0), (REQUEST, 1.0, None)]
    assert model.state_text(model.row("c0")) == "request sent, no text yet"

    model.apply(events[2:])
    assert model.segments("c0") == [
        (WAITING, 0.0, 1.0),
        (REQUEST, 1.0, 1.3),
        (STREAMING, 1.3, 2.0),
        (DONE, 2.0, 2.0),
    ]
    row = model.row("c0")
    assert model.describe(row, row.segments[1]) == "waiting for first token"


def test_a_back_off_ends_where_the_limiter_wait_begins() -> None:
    model = model_of(
        ev.CellQueued(RUN, 0.0, "c0"),
        ev.CellStarted(RUN, 0.0, "c0", 1, 0.0),
        ev.CellRetrying(RUN, 0.5, "c0", 2, 3, 0.4, ErrorKind.RATE_LIMITED, "HTTP 429"),
    )
    assert model.segments("c0")[-2:] == [(BACKOFF, 0.5, 0.9), (WAITING, 0.9, None)]
    assert model.state_text(model.row("c0")) == "backing off before attempt 2"
    model.apply([ev.CellStarted(RUN, 1.2, "c0", 2, 0.3)])
    kinds = [
        (k, pytest.approx(s), e if e is None else pytest.approx(e))
        for k, s, e in model.segments("c0")
    ]
    assert kinds[2:] == [(BACKOFF, 0.5, 0.9), (WAITING, 0.9, 1.2), (REQUEST, 1.2, None)]


def test_cancelled_in_its_back_off_drops_the_wait_it_never_reached() -> None:
    model = model_of(
        ev.CellQueued(RUN, 0.0, "c0"),
        ev.CellStarted(RUN, 0.0, "c0", 1, 0.0),
        ev.CellRetrying(RUN, 0.5, "c0", 2, 3, 2.0, ErrorKind.RATE_LIMITED, "HTTP 429"),
        ev.CellCancelled(RUN, 1.0, "c0", "Cancelled by you.", "", metrics(0, 0, None, 1.0, 0)),
    )
    assert model.segments("c0")[-2:] == [(BACKOFF, 0.5, 1.0), (CANCELLED, 1.0, 1.0)]
    assert model.row("c0").message == "Cancelled by you."


def test_a_limit_of_two_makes_a_staircase_and_the_run_end_freezes_the_clock() -> None:
    model = model_of(*staircase(), ev.RunFinished(RUN, 3.0, None))  # type: ignore[arg-type]
    starts = [
        next(start for kind, start, _ in model.segments(f"c{i}") if kind == REQUEST)
        for i in range(6)
    ]
    assert starts == [0.0, 0.0, 1.0, 1.0, 2.0, 2.0]
    assert not model.live and not model.set_now(9.0)


def test_a_later_run_continues_the_row_at_its_real_start() -> None:
    spec = RunSpec("Tell me about {x}", ({"x": "cats"},), (ModelProfile(),))
    model = model_of(
        ev.RunStarted(RUN, 0.0, spec, (), started_at=1000.0),
        *streamed("c0", 0.0, 0.0, 0.2, 0.5),
        ev.RunFinished(RUN, 0.5, None),  # type: ignore[arg-type]
    )
    old = model.segments("c0")
    model.apply(
        [
            ev.RunStarted("run-2", 0.0, spec, (), started_at=1004.0),
            *streamed("c0", 0.0, 0.1, 0.3, 0.9, run="run-2"),
        ]
    )
    assert model.segments("c0")[: len(old)] == old
    assert model.segments("c0")[len(old)] == (WAITING, 4.0, 4.1)
    assert model.row("c0").chains == 2


def test_live_facts_of_a_cell_in_flight() -> None:
    model = model_of(*streamed("c0", 0.0, 1.0, 1.3, 9.0)[:3])
    model.set_now(2.0)
    facts = model.live_facts(model.row("c0"))
    assert facts["queued_at"] == 0.0 and facts["waited"] == pytest.approx(1.0)
    assert facts["ttft"] == pytest.approx(0.3) and facts["running_for"] == pytest.approx(1.0)
    assert "retries" not in facts


def test_unknown_cells_get_a_row_and_labels_can_change() -> None:
    model = TimelineModel()
    model.set_label("c0", "cats")
    model.apply(streamed("stray", 0.0, 0.1, 0.2, 0.3))
    model.set_label("c0", "cats (renamed)")
    assert [r.cell_id for r in model.rows] == ["c0", "stray"]
    assert model.row("c0").label == "cats (renamed)" and model.segments("nobody") == []


def test_judge_calls_follow_their_cell_and_pairs_get_rows_of_their_own() -> None:
    from gui.core.judging import JudgeVerdict, PairwiseResult
    from gui.core.timeline import JUDGE, JUDGE_WAIT

    verdict = JudgeVerdict(7.0, "Fine.", "judge")
    model = model_of(
        *streamed("c0", 0.0, 1.0, 1.3, 2.0),
        ev.JudgeQueued(RUN, 2.0, "c0"),
        ev.JudgeStarted(RUN, 2.1, "c0", 1),
    )
    assert model.segments("c0")[-2:] == [(JUDGE_WAIT, 2.0, 2.1), (JUDGE, 2.1, None)]
    model.apply([ev.JudgeEnded(RUN, 2.5, "c0", verdict=verdict)])
    assert model.segments("c0")[-3:] == [
        (DONE, 2.0, 2.0),
        (JUDGE_WAIT, 2.0, 2.1),
        (JUDGE, 2.1, 2.5),
    ]
    assert model.row("c0").state == DONE  # the cell's own state is the cell's

    pair = PairwiseResult(0, "r0m1", "r0m0", "r0m1", "judge")
    model.apply(
        [
            ev.JudgeQueued(RUN, 3.0, "r0m1~r0m0"),
            ev.JudgeStarted(RUN, 3.0, "r0m1~r0m0", 1),
            ev.JudgeEnded(RUN, 3.4, "r0m1~r0m0", pair=pair),
        ]
    )
    assert model.row("r0m1~r0m0").label == "judge: r0m1 vs r0m0"
    assert model.segments("r0m1~r0m0") == [(JUDGE_WAIT, 3.0, 3.0), (JUDGE, 3.0, 3.4)]


def test_check_results_mark_the_done_cell_and_a_retry_waits_for_its_own() -> None:
    from gui.core.checks import CheckResult
    from gui.core.timeline import CHECKED, LEGEND

    passed = CheckResult("contains: cats", "contains", True, "found 'cats'")
    missed = CheckResult("max-words: 3", "max-words", False, "5 words, more than 3", weight=3.0)
    model = model_of(*streamed("c0", 0.0, 1.0, 1.3, 2.0))
    row = model.row("c0")
    assert model.current_checks(row) is None and row.checks == []

    model.apply([ev.CellChecked(RUN, 2.01, "c0", (passed, missed))])
    mark = model.current_checks(row)
    assert mark is not None and mark.t == pytest.approx(2.01)
    assert mark.passed == 1 and mark.rate == pytest.approx(0.25)  # weights 1 and 3
    assert model.segments("c0")[-1] == (DONE, 2.0, 2.0)  # a mark, not a segment
    assert CHECKED in LEGEND

    # A retry of the cell: the old mark stays drawn but says nothing of the new run.
    model.apply(streamed("c0", 3.0, 3.1, 3.2, 3.5)[:2])
    assert model.current_checks(row) is None and len(row.checks) == 1
    model.apply(streamed("c0", 3.0, 3.1, 3.2, 3.5)[2:])
    model.apply([ev.CellChecked(RUN, 3.52, "c0", (passed,))])
    again = model.current_checks(row)
    assert again is not None and again.rate == 1.0 and len(row.checks) == 2


def test_a_batch_is_one_row_per_request_file_with_its_states() -> None:
    from dataclasses import replace

    from gui.core.batch import BatchChanged, BatchRecord, BatchState
    from gui.core.timeline import BATCH_INGEST, BATCH_QUEUED, BATCH_RUNNING, FAILED

    first = BatchRecord("b-run", 0, 0, 0, 50, "batch_1", "file-1", BatchState.VALIDATING)
    second = replace(first, file_index=1, col=1, batch_id="batch_2")
    states = [
        (0.5, first),
        (0.6, second),
        (2.0, replace(first, state=BatchState.IN_PROGRESS, completed=10)),
        (3.0, replace(first, state=BatchState.IN_PROGRESS, completed=30)),  # same state
        (5.0, replace(first, state=BatchState.COMPLETED, completed=50)),
        (6.0, replace(first, state=BatchState.COMPLETED, completed=50, ingested_at=1.0)),
        (7.0, replace(second, state=BatchState.FAILED, ingested_at=1.0, message="bad")),
    ]
    model = model_of(*(BatchChanged("b-run", t, record) for t, record in states))
    assert model.segments("batch:b-run:0") == [
        (BATCH_QUEUED, 0.5, 2.0),
        (BATCH_RUNNING, 2.0, 5.0),
        (BATCH_INGEST, 5.0, 6.0),
        (DONE, 6.0, 6.0),
    ]
    assert model.segments("batch:b-run:1") == [(BATCH_QUEUED, 0.6, 7.0), (FAILED, 7.0, 7.0)]
    row = model.row("batch:b-run:0")
    assert row.label == "batch 1: column 1, rows 1-50"
    assert model.describe(row, row.segments[1]) == "batch running at the provider"
