"""A repeated cell's samples summed up: distinct answers with counts, spreads, pass rates."""

from __future__ import annotations

from dataclasses import dataclass

from gui.core.checks import CheckResult
from gui.core.judging import JudgeVerdict
from gui.core.metrics import CellMetrics
from gui.core.ratings import Rating
from gui.core.samples import Sample, summarize_samples


@dataclass
class Facts:
    metrics: CellMetrics | None = None
    checks: tuple[CheckResult, ...] = ()
    judge: JudgeVerdict | None = None
    rating: Rating | None = None


def facts(
    latency: float, tokens: int, passed: bool | None = None, score: int | None = None
) -> Facts:
    metrics = CellMetrics(
        queued_at=0.0,
        started_at=0.0,
        first_token_at=0.1,
        ended_at=latency,
        waited=0.0,
        ttft=0.1,
        latency=latency,
        output_tokens=tokens,
        tokens_estimated=False,
        tokens_per_second=None,
        retries=0,
    )
    checks = () if passed is None else (CheckResult("has cats", "contains", passed, "", 1.0),)
    judge = None if score is None else JudgeVerdict(score, "ok", "sim-judge", None, "")
    return Facts(metrics, checks, judge)


def test_identical_answers_collapse_with_counts_and_spreads_are_given() -> None:
    summary = summarize_samples(
        [
            Sample("done", "Cats purr.", facts(1.0, 10, True, 8)),
            Sample("done", "Dogs bark.", facts(3.0, 14, False, 4)),
            Sample("done", "Cats purr.\n", facts(2.0, 12, True, 9)),
            Sample("failed", "Cats", facts(0.5, 1)),
            Sample("done", "Cats purr.", facts(1.5, 10, True, 2)),
        ]
    )
    assert summary.samples == 5 and summary.done == 4
    assert summary.distinct == (("Cats purr.", 3), ("Dogs bark.", 1))
    assert summary.latency == (1.0, 1.75, 3.0)
    assert summary.tokens == (10, 14)
    assert summary.checks_passed == (3, 4)
    assert summary.judge_passed == (2, 4)  # the judge's pass mark is 7/10
    assert summary.lines() == [
        "4 of 5 samples done · 2 distinct answers (3×, 1×)",
        "latency 1.00-3.00 s (median 1.75 s)",
        "tokens 10-14",
        "checks passed in 3 of 4 (75%)",
        "judge passed 2 of 4 (50%)",
    ]


def test_samples_still_running_count_as_not_done() -> None:
    summary = summarize_samples([Sample("streaming", "Ca"), Sample("queued", "")])
    assert summary.done == 0 and summary.distinct == ()
    assert summary.latency is None and summary.tokens is None
    assert summary.lines() == ["0 of 2 samples done · 0 distinct"]
