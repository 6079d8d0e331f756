"""What the samples of one repeated cell say together (issue 15's repeats).

A cell run N times gives N answers: how many of them differ (identical ones collapsed, with
counts, most frequent first), how far apart their latency and token counts are, and how often
they pass the run's checks and the judge (each by its measure's pass mark, as the Scoreboard
counts a pass). The Focus view shows it beside "sample k of N"; the figures come from the
same facts the Scoreboard reads, so both agree.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from gui.core.measures import CellFacts, measure

_DONE = "done"


@dataclass(frozen=True, slots=True)
class Sample:
    """One sample as it stands.

    Attributes:
        phase: The sample's phase (``done``, ``failed``, ``streaming``...).
        text: Its answer (what came so far).
        facts: Its metrics, check results and verdict (``None`` while nothing is known).
    """

    phase: str
    text: str
    facts: CellFacts | None = None


@dataclass(frozen=True, slots=True)
class SamplesSummary:
    """The samples of one cell, summed up.

    Attributes:
        samples: How many samples the cell has.
        done: How many of them ended done.
        distinct: Each distinct answer of the done samples (stripped of surrounding
            whitespace) with how many samples gave it, most frequent first, then first seen.
        latency: Lowest, median and highest latency in seconds of the done samples, or
            ``None``.
        tokens: Fewest and most output tokens of the done samples, or ``None``.
        checks_passed: Done samples that passed every check, and how many were checked.
        judge_passed: Done samples the judge passed, and how many it scored.
    """

    samples: int
    done: int
    distinct: tuple[tuple[str, int], ...]
    latency: tuple[float, float, float] | None
    tokens: tuple[int, int] | None
    checks_passed: tuple[int, int]
    judge_passed: tuple[int, int]

    def lines(self) -> list[str]:
        """The summary as short lines for a label."""
        out = [f"{self.done} of {self.samples} samples done · {len(self.distinct)} distinct"]
        if self.distinct:
            counts = ", ".join(f"{n}×" for _, n in self.distinct[:8])
            more = " …" if len(self.distinct) > 8 else ""
            noun = "answer" if len(self.distinct) == 1 else "answers"
            out[0] += f" {noun} ({counts}{more})"
        if self.latency is not None:
            lo, mid, hi = self.latency
            out.append(f"latency {lo:.2f}-{hi:.2f} s (median {mid:.2f} s)")
        if self.tokens is not None:
            lo_t, hi_t = self.tokens
            out.append(f"tokens {lo_t}-{hi_t}" if lo_t != hi_t else f"tokens {lo_t} each")
        passed, checked = self.checks_passed
        if checked:
            out.append(f"checks passed in {passed} of {checked} ({passed / checked:.0%})")
        passed, scored = self.judge_passed
        if scored:
            out.append(f"judge passed {passed} of {scored} ({passed / scored:.0%})")
        return out


def summarize_samples(samples: Sequence[Sample]) -> SamplesSummary:
    """Sum up the samples of one cell (see :class:`SamplesSummary`)."""
    done = [s for s in samples if s.phase == _DONE]
    counts = Counter(s.text.strip() for s in done)
    order = {text: i for i, text in reversed(list(enumerate(s.text.strip() for s in done)))}
    distinct = tuple(sorted(counts.items(), key=lambda item: (-item[1], order[item[0]])))
    metrics = [s.facts.metrics for s in done if s.facts is not None and s.facts.metrics]
    latencies = [m.latency for m in metrics if m is not None and m.latency is not None]
    tokens = [m.output_tokens for m in metrics if m is not None and m.output_tokens is not None]
    return SamplesSummary(
        samples=len(samples),
        done=len(done),
        distinct=distinct,
        latency=(min(latencies), statistics.median(latencies), max(latencies))
        if latencies
        else None,
        tokens=(min(tokens), max(tokens)) if tokens else None,
        checks_passed=_passes("checks", done),
        judge_passed=_passes("judge", done),
    )


def _passes(name: str, done: Sequence[Sample]) -> tuple[int, int]:
    """(samples passing measure ``name``, samples it has a value for)."""
    m = measure(name)
    values = [m.value(s.facts) for s in done if s.facts is not None]
    valued = [v for v in values if v is not None]
    return sum(1 for v in valued if m.passes(v)), len(valued)
