"""The Scoreboard's arithmetic on crafted cells: means, medians, percentiles, win rates with
ties, missing values, failed cells, and sorting models (no Qt here)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from gui.core.checks import CheckResult
from gui.core.judging import JudgeVerdict
from gui.core.measures import LATENCY, Measure, measure, measures, register, unregister
from gui.core.metrics import CellMetrics
from gui.core.ratings import Rating
from gui.core.scoreboard import (
    ScoreCell,
    build_scoreboard,
    percentile,
    score_cell,
    sort_models,
    summarize_models,
    summary_columns,
    summary_rows,
)

#: The measures these tests read, named: the registry may hold more (checks, judge, ratings),
#: which the crafted cells below know nothing about.
BUILT_IN = [measure(name) for name in ("latency", "ttft", "tps", "tokens")]

MODELS = ["a", "b", "c"]
ROWS = ["cats", "dogs", "owls", "bats"]


def done(row: int, col: int, **values: float) -> ScoreCell:
    return ScoreCell(row, col, "done", values)


# Latencies (lower is better) and tokens/s (higher is better) of a 4-input x 3-model run:
#        a        b        c
# cats   1.0      2.0      2.0
# dogs   3.0      1.0      failed
# owls   2.0      2.0      2.0      (a three-way tie)
# bats   4.0      cancelled  (not ended)
CELLS = [
    done(0, 0, latency=1.0, tps=10.0),
    done(0, 1, latency=2.0, tps=30.0),
    done(0, 2, latency=2.0, tps=30.0),
    done(1, 0, latency=3.0, tps=5.0),
    done(1, 1, latency=1.0, tps=40.0),
    ScoreCell(1, 2, "failed"),
    done(2, 0, latency=2.0, tps=20.0),
    done(2, 1, latency=2.0, tps=20.0),
    done(2, 2, latency=2.0, tps=20.0),
    done(3, 0, latency=4.0, tps=1.0),
    ScoreCell(3, 1, "cancelled"),
]


def test_means_medians_and_counts_skip_failed_cancelled_and_missing_cells() -> None:
    a, b, c = summarize_models(MODELS, CELLS)
    assert (a.cells, a.done, a.failed, a.cancelled) == (4, 4, 0, 0)
    assert (b.cells, b.done, b.failed, b.cancelled) == (4, 3, 0, 1)
    assert (c.cells, c.done, c.failed, c.cancelled) == (3, 2, 1, 0)
    assert a.stats["latency"].count == 4
    assert a.stats["latency"].mean == pytest.approx(2.5)
    assert a.stats["latency"].median == pytest.approx(2.5)
    assert b.stats["latency"].mean == pytest.approx(5 / 3)
    assert b.stats["latency"].median == pytest.approx(2.0)
    assert c.stats["latency"].count == 2
    assert c.stats["latency"].mean == pytest.approx(2.0)
    # A measure no cell has a value for: counted as nothing, never as zero.
    assert c.stats["ttft"].count == 0 and c.stats["ttft"].mean is None


def test_percentiles_interpolate_between_closest_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.5) == pytest.approx(2.5)
    # (n-1) * 0.95 = 2.85: 3 + 0.85 * (4 - 3)
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.95) == pytest.approx(3.85)
    a = summarize_models(MODELS, CELLS)[0]
    assert a.latency_p50 == pytest.approx(2.5)
    assert a.latency_p95 == pytest.approx(3.85)


def test_win_rate_splits_ties_and_counts_inputs_any_model_answered() -> None:
    a, b, c = summarize_models(MODELS, CELLS)
    # Latency, lower wins: cats a; dogs b; owls a/b/c tie (1/3 each); bats a alone.
    assert a.stats["latency"].wins == pytest.approx(1 + 1 / 3 + 1)
    assert b.stats["latency"].wins == pytest.approx(1 + 1 / 3)
    assert c.stats["latency"].wins == pytest.approx(1 / 3)
    assert a.stats["latency"].win_rate == pytest.approx((7 / 3) / 4)
    assert b.stats["latency"].win_rate == pytest.approx((4 / 3) / 4)
    assert c.stats["latency"].win_rate == pytest.approx((1 / 3) / 4)
    # Tokens/s, higher wins: cats b/c tie; dogs b; owls three-way; bats a.
    assert b.stats["tps"].wins == pytest.approx(0.5 + 1 + 1 / 3)
    total = sum(s.stats["tps"].win_rate or 0.0 for s in (a, b, c))
    assert total == pytest.approx(1.0)


def test_a_model_with_no_answer_loses_every_input_and_no_input_means_no_win_rate() -> None:
    cells = [done(0, 0, latency=1.0), ScoreCell(0, 1, "failed")]
    a, b = summarize_models(["a", "b"], cells)
    assert a.stats["latency"].win_rate == 1.0
    assert b.stats["latency"].win_rate == 0.0
    nothing = summarize_models(["a"], [ScoreCell(0, 0, "failed")])[0]
    assert nothing.stats["latency"].win_rate is None


def test_a_measure_without_a_better_end_has_no_winner() -> None:
    cells = [done(0, 0, tokens=10.0), done(0, 1, tokens=20.0)]
    a, _b = summarize_models(["a", "b"], cells)
    assert a.stats["tokens"].mean == 10.0
    assert a.stats["tokens"].win_rate is None
    board = build_scoreboard(["x"], ["a", "b"], cells, measure("tokens"))
    assert board.inputs_summary[0].best == ()
    assert board.inputs_summary[0].spread == 10.0
    assert board.goodness(20.0) == 1.0  # largest is the strong end of its one hue


def test_pass_rate_applies_only_to_measures_with_a_pass_mark() -> None:
    fast = Measure("fast", "Fast", "", True, lambda cell: None, pass_at=7.0)
    cells = [
        done(0, 0, fast=9.0),
        done(1, 0, fast=7.0),
        done(2, 0, fast=3.0),
        done(3, 0, fast=6.9),
    ]
    (a,) = summarize_models(["a"], cells, [LATENCY, fast])
    assert a.stats["fast"].pass_rate == pytest.approx(0.5)
    assert a.stats["latency"].pass_rate is None


def test_heat_map_matrix_statuses_range_and_input_lines() -> None:
    board = build_scoreboard(ROWS, MODELS, CELLS, LATENCY)
    assert board.values[0] == (1.0, 2.0, 2.0)
    assert board.values[1] == (3.0, 1.0, None)
    assert board.statuses[1][2] == "failed"
    assert board.statuses[3] == ("done", "cancelled", "")  # "": not ended yet
    assert (board.low, board.high) == (1.0, 4.0)
    # Lower latency is better: the smallest is the best end.
    assert board.goodness(1.0) == 1.0 and board.goodness(4.0) == 0.0
    cats, dogs, owls, bats = board.inputs_summary
    assert (cats.best, cats.best_value, cats.spread) == ((0,), 1.0, 1.0)
    assert (dogs.best, dogs.spread, dogs.count) == ((1,), 2.0, 2)
    assert owls.best == (0, 1, 2) and owls.spread == 0.0
    assert (bats.best, bats.spread, bats.count) == ((0,), None, 1)


def test_only_answered_cells_are_measured() -> None:
    metrics = CellMetrics(0.0, 0.1, 0.2, 1.1, 0.0, 0.1, 1.0, 12, False, 12.0, 0)

    @dataclass
    class Facts:
        metrics: CellMetrics | None

    answered = score_cell(0, 0, "done", Facts(metrics), BUILT_IN)
    assert answered.values == {"latency": 1.0, "ttft": 0.1, "tps": 12.0, "tokens": 12.0}
    failed = score_cell(0, 1, "failed", Facts(metrics), BUILT_IN)
    assert failed.values == {} and failed.status == "failed"
    assert score_cell(0, 2, "done", Facts(None), BUILT_IN).values == {}
    assert score_cell(0, 3, "streaming", None).values == {}


def test_sorting_models_by_any_measure_and_statistic() -> None:
    summaries = summarize_models(MODELS, CELLS)
    assert sort_models(summaries, None) == (0, 1, 2)
    # Mean latency: b 1.67 < c 2.0 < a 2.5 (lower is better, so first).
    assert sort_models(summaries, LATENCY) == (1, 2, 0)
    # Mean tokens/s: b 30 > c 25 > a 9 (higher first).
    assert sort_models(summaries, measure("tps")) == (1, 2, 0)
    assert sort_models(summaries, LATENCY, "win_rate") == (0, 1, 2)
    # p95 latency: b 2.0 and c 2.0 tie (run order), a 3.85 last.
    assert sort_models(summaries, None, "p95") == (1, 2, 0)
    # No ttft anywhere: every model lacks the figure, run order stays.
    assert sort_models(summaries, measure("ttft")) == (0, 1, 2)
    with pytest.raises(ValueError, match="unknown statistic"):
        sort_models(summaries, LATENCY, "best")


def test_models_without_the_figure_sort_last() -> None:
    cells = [ScoreCell(0, 0, "failed"), done(0, 1, latency=3.0), done(0, 2, latency=1.0)]
    summaries = summarize_models(MODELS, cells)
    assert sort_models(summaries, LATENCY) == (2, 1, 0)


def test_a_registered_measure_joins_the_summaries_and_the_flat_table() -> None:
    @dataclass
    class Facts:
        metrics: CellMetrics | None

    doubled = Measure(
        "double_latency",
        "Double latency",
        "s",
        False,
        lambda cell: cell.metrics.latency * 2 if cell.metrics and cell.metrics.latency else None,
        pass_at=3.0,
    )
    register(doubled)
    try:
        assert measures()[-1] is doubled
        metrics = CellMetrics(0.0, 0.0, None, 1.0, 0.0, None, 1.0, 3, False, 3.0, 0)
        cell = score_cell(0, 0, "done", Facts(metrics), [*BUILT_IN, doubled])
        assert cell.values["double_latency"] == 2.0
        (a,) = summarize_models(["a"], [cell])  # every registered measure, this one too
        assert a.stats["double_latency"].pass_rate == 1.0
        columns = summary_columns()
        assert {"double_latency_mean", "double_latency_pass_rate"} <= set(columns)
        (row,) = summary_rows([a])
        assert list(row) == columns
        assert row["double_latency_mean"] == 2.0
    finally:
        unregister("double_latency")
    assert "double_latency" not in {m.name for m in measures()}


def test_flat_rows_hold_counts_percentiles_and_each_measures_figures() -> None:
    rows = summary_rows(summarize_models(MODELS, CELLS))
    assert [r["model"] for r in rows] == MODELS
    a = rows[0]
    assert (a["cells"], a["done"], a["latency_p50_s"]) == (4, 4, pytest.approx(2.5))
    assert a["latency_win_rate"] == pytest.approx(7 / 12)
    assert "tokens_win_rate" not in a  # no better end, no win rate column
    assert "latency_pass_rate" not in a  # no pass mark, no pass rate column


def test_a_share_measure_prints_as_a_percentage_and_passes_at_its_mark() -> None:
    checks = Measure("checks", "Check pass rate", "%", True, lambda c: None, 0, 1.0, True)
    assert checks.format(0.75) == "75 %" and checks.format(None) == "–"
    assert checks.passes(1.0) and not checks.passes(0.99)
    assert LATENCY.format(1.234) == "1.23 s" and LATENCY.format(1.234, unit=False) == "1.23"
    assert not LATENCY.passes(0.1)  # no pass mark: nothing passes


@dataclass(frozen=True)
class _Judged:
    """A done cell with every kind of judgement on it (no timings: not measured here)."""

    metrics: CellMetrics | None
    checks: tuple[CheckResult, ...] = ()
    judge: JudgeVerdict | None = None
    rating: Rating | None = None


def test_checks_judge_and_stars_are_measures_of_every_cell() -> None:
    checks = (
        CheckResult("on topic", "contains", True, "found", 3.0),
        CheckResult("short", "max-words", False, "61 words > 50", 1.0),
    )
    cell = _Judged(
        None,
        checks,
        JudgeVerdict(8.0, "clear", "sim-judge"),
        Rating(thumb=1, stars=4),
    )
    scored = score_cell(0, 0, "done", cell)
    assert scored.values["checks"] == 0.75  # weighted: 3 of 4
    assert scored.values["judge"] == 8.0 and scored.values["rating"] == 4.0
    # A failed judge call and a rating without stars have no value: missing, never a 0.
    bare = _Judged(
        None,
        judge=JudgeVerdict(None, "", "sim-judge", error="unreadable reply"),
        rating=Rating(thumb=-1),
    )
    assert {"checks", "judge", "rating"}.isdisjoint(score_cell(0, 1, "done", bare).values)
    summary = {s.model: s for s in summarize_models(["a", "b"], [scored, ScoreCell(0, 1, "done")])}
    assert summary["a"].stats["checks"].pass_rate == 0.0  # 75 % is below the 100 % pass mark
    assert summary["a"].stats["judge"].pass_rate == 1.0  # 8 >= 7
