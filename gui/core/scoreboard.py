"""The Scoreboard's arithmetic: a heat-map matrix, per-model and per-input summaries, sorting.

Inputs are plain :class:`ScoreCell` records (row, column, status, each measure's value), so
the window (live, from its cell store), the exports (a stored run) and the CLI (a run's end
events) sum a run up the same way, without Qt.

Rules, the same everywhere:

- Only cells that ended with an answer (``done``) have values; failed and cancelled cells
  are counted (``failed``, ``cancelled``) but never scored.
- Mean and median are over a model's cells that have a value; percentiles interpolate
  linearly between the closest ranks (numpy's default, ``statistics.quantiles``'
  ``inclusive`` method), so p50 is the median.
- Win rate: for each input at least one model has a value for, the best value wins (higher
  or lower as the measure says); models tied for best share the win equally. A model's win
  rate is its wins over those inputs, so the win rates of a run add up to 1. A measure with
  no better end (answer length) has no winner and no win rate.
- Pass rate (measures with a pass mark only): the share of a model's valued cells whose
  value passes.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gui.core.measures import CellFacts, Measure, measures

__all__ = [
    "SORT_STATS",
    "InputSummary",
    "MeasureStats",
    "ModelSummary",
    "ScoreCell",
    "Scoreboard",
    "build_scoreboard",
    "build_scoreboard_steps",
    "percentile",
    "score_cell",
    "scoreboard_json",
    "sort_models",
    "summarize_models",
    "summary_columns",
    "summary_rows",
]

_DONE = "done"
#: Cells (or input rows) a step of :func:`build_scoreboard_steps` handles between two yields:
#: a fraction of a millisecond of work, so a caller can stop close to its budget.
STEP_ITEMS = 256

_T = TypeVar("_T")
_FAILED = "failed"
_CANCELLED = "cancelled"

#: What models can be sorted by, besides run order: a statistic of a measure.
SORT_STATS = ("mean", "median", "win_rate", "pass_rate", "p50", "p95")


@dataclass(frozen=True, slots=True)
class ScoreCell:
    """One cell as the Scoreboard counts it.

    Attributes:
        row: Input row (0-based).
        column: Model column (0-based).
        status: The cell's phase (``done``, ``failed``, ``cancelled``, or one of a cell
            still under way: ``queued``, ``streaming``...).
        values: Measure name -> value, for the measures the cell has a value for (none
            unless ``done``).
    """

    row: int
    column: int
    status: str
    values: Mapping[str, float] = field(default_factory=dict)


def score_cell(
    row: int,
    column: int,
    status: str,
    facts: CellFacts | None,
    registry: Sequence[Measure] | None = None,
) -> ScoreCell:
    """Measure one cell by every measure of ``registry`` (default: every registered one).

    Args:
        row: Input row.
        column: Model column.
        status: The cell's phase as a string.
        facts: The cell's data (``None``: nothing known yet).
        registry: The measures to take.
    """
    if status != _DONE or facts is None:
        return ScoreCell(row, column, status)
    values: dict[str, float] = {}
    for m in measures() if registry is None else registry:
        value = m.value(facts)
        if value is not None and math.isfinite(value):
            values[m.name] = float(value)
    return ScoreCell(row, column, status, values)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of ``values``, interpolated between closest ranks; ``None``
    for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass(frozen=True, slots=True)
class MeasureStats:
    """One model's figures for one measure.

    Attributes:
        count: Cells with a value.
        mean: Mean value, ``None`` without values.
        median: Median value, ``None`` without values.
        pass_rate: Share of valued cells that pass, ``None`` without a pass mark or values.
        wins: Inputs won (a tie of k models gives each 1/k).
        win_rate: ``wins`` over the inputs any model has a value for; ``None`` for a
            measure with no better end, or when no input has a value.
    """

    count: int = 0
    mean: float | None = None
    median: float | None = None
    pass_rate: float | None = None
    wins: float = 0.0
    win_rate: float | None = None

    def stat(self, name: str) -> float | None:
        """The figure called ``name`` (``mean``, ``median``, ``pass_rate``, ``win_rate``)."""
        value = getattr(self, name, None)
        return value if isinstance(value, int | float) else None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return {
            "count": self.count,
            "mean": self.mean,
            "median": self.median,
            "pass_rate": self.pass_rate,
            "wins": self.wins,
            "win_rate": self.win_rate,
        }


@dataclass(frozen=True, slots=True)
class ModelSummary:
    """One model's line of the Scoreboard.

    Attributes:
        column: The model's column in the run.
        model: Its display name.
        cells: Cells of this model in the run.
        done: Cells that ended with an answer.
        failed: Cells that failed.
        cancelled: Cells that were cancelled.
        latency_p50: Median latency of its answers, seconds.
        latency_p95: 95th percentile latency of its answers, seconds.
        stats: Measure name -> figures, for every measure.
        cost_usd: What its answers cost in all (issue 15), ``None`` when none has a price.
        usd_per_correct: ``cost_usd`` over the answers that passed every check, ``None``
            without checks, passes or a price.
    """

    column: int
    model: str
    cells: int
    done: int
    failed: int
    cancelled: int
    latency_p50: float | None
    latency_p95: float | None
    stats: Mapping[str, MeasureStats]
    cost_usd: float | None = None
    usd_per_correct: float | None = None

    def figure(self, measure_name: str, stat: str) -> float | None:
        """A figure to sort by: ``p50``/``p95`` latency, or ``stat`` of ``measure_name``."""
        if stat == "p50":
            return self.latency_p50
        if stat == "p95":
            return self.latency_p95
        stats = self.stats.get(measure_name)
        return stats.stat(stat) if stats is not None else None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: counts, latency percentiles and every measure's figures."""
        return {
            "model": self.model,
            "column": self.column,
            "cells": self.cells,
            "done": self.done,
            "failed": self.failed,
            "cancelled": self.cancelled,
            "latency_p50_s": self.latency_p50,
            "latency_p95_s": self.latency_p95,
            "measures": {name: s.to_dict() for name, s in self.stats.items()},
            "cost_usd": self.cost_usd,
            "usd_per_correct": self.usd_per_correct,
        }


@dataclass(frozen=True, slots=True)
class InputSummary:
    """One input row's line, by the chosen measure.

    Attributes:
        row: The input row.
        label: Its label.
        best: Columns tied for the best value (empty: no values, or no better end).
        best_value: The best value, ``None`` when ``best`` is empty.
        spread: Largest minus smallest value, ``None`` with fewer than two values.
        count: Models with a value for this input.
    """

    row: int
    label: str
    best: tuple[int, ...]
    best_value: float | None
    spread: float | None
    count: int


@dataclass(frozen=True, slots=True)
class Scoreboard:
    """A run summed up by one measure (:func:`build_scoreboard`).

    Attributes:
        rows: Input labels.
        models: Model names, in run order.
        measure: The measure of the heat-map and the input summaries.
        values: ``values[row][column]``: the measure's value, or ``None``.
        statuses: ``statuses[row][column]``: the cell's status (``""``: not known).
        low: Smallest value in the matrix (``None``: no values).
        high: Largest value in the matrix.
        models_summary: One line per model, in run order.
        inputs_summary: One line per input row.
    """

    rows: tuple[str, ...]
    models: tuple[str, ...]
    measure: Measure
    values: tuple[tuple[float | None, ...], ...]
    statuses: tuple[tuple[str, ...], ...]
    low: float | None
    high: float | None
    models_summary: tuple[ModelSummary, ...]
    inputs_summary: tuple[InputSummary, ...]

    def goodness(self, value: float) -> float:
        """Where ``value`` sits between the worst (0) and best (1) of the matrix; for a
        measure with no better end, between the smallest (0) and largest (1)."""
        if self.low is None or self.high is None or self.high <= self.low:
            return 1.0
        t = (value - self.low) / (self.high - self.low)
        return 1.0 - t if self.measure.higher_is_better is False else t


def _stats(values: Sequence[float], m: Measure, wins: float, contested: int) -> MeasureStats:
    if not values:
        win_rate = 0.0 if contested and m.higher_is_better is not None else None
        return MeasureStats(win_rate=win_rate)
    passes = sum(1 for v in values if m.passes(v))
    return MeasureStats(
        count=len(values),
        mean=statistics.fmean(values),
        median=statistics.median(values),
        pass_rate=passes / len(values) if m.pass_at is not None else None,
        wins=wins,
        win_rate=wins / contested if contested and m.higher_is_better is not None else None,
    )


def _best(values: Mapping[int, float], m: Measure) -> tuple[int, ...]:
    """The columns tied for the best of ``values`` (column -> value)."""
    if not values or m.higher_is_better is None:
        return ()
    if len(values) == 1:  # one answer (the others failed or are still running): it wins
        return tuple(values)
    pick = max if m.higher_is_better else min
    top = pick(values.values())
    return tuple(c for c, v in values.items() if v == top)


def summarize_models(
    models: Sequence[str],
    cells: Iterable[ScoreCell],
    registry: Sequence[Measure] | None = None,
) -> tuple[ModelSummary, ...]:
    """Every model's line, by every measure of ``registry`` (default: every registered one).

    Args:
        models: Model names, one per column.
        cells: The run's cells (any order; cells outside ``models``' columns are ignored).
        registry: The measures to sum up.
    """
    cells = list(cells)
    return _drain(_summarize_steps(models, cells, registry, _sample_means(cells)))


def _drain(steps: Generator[None, None, _T]) -> _T:
    """Run ``steps`` to the end at once; its result."""
    while True:
        try:
            next(steps)
        except StopIteration as end:
            return end.value  # type: ignore[no-any-return]


def _summarize_steps(
    models: Sequence[str],
    cells: Sequence[ScoreCell],
    registry: Sequence[Measure] | None,
    means: Mapping[tuple[int, int], Mapping[str, float]],
) -> Generator[None, None, tuple[ModelSummary, ...]]:
    """:func:`summarize_models` in steps, with the squares' sample means already made."""
    chosen = measures() if registry is None else tuple(registry)
    n = len(models)
    counts = [[0, 0, 0, 0] for _ in range(n)]  # cells, done, failed, cancelled
    # measure -> row -> column -> value
    by_row: dict[str, dict[int, dict[int, float]]] = {m.name: {} for m in chosen}
    for i, cell in enumerate(cells):
        if not i % STEP_ITEMS:
            yield
        if not 0 <= cell.column < n:
            continue
        count = counts[cell.column]
        count[0] += 1
        if cell.status == _DONE:
            count[1] += 1
        elif cell.status == _FAILED:
            count[2] += 1
        elif cell.status == _CANCELLED:
            count[3] += 1
    for i, ((row, column), values) in enumerate(means.items()):
        if not i % STEP_ITEMS:
            yield
        if not 0 <= column < n:
            continue
        for name, value in values.items():
            rows = by_row.get(name)
            if rows is not None:
                rows.setdefault(row, {})[column] = value
    yield
    costs = _costs(cells, n)
    per_model: list[dict[str, MeasureStats]] = [{} for _ in range(n)]
    latencies: list[list[float]] = [[] for _ in range(n)]
    for m in chosen:
        rows = by_row[m.name]
        wins = [0.0] * n
        columns: list[list[float]] = [[] for _ in range(n)]
        for i, row_values in enumerate(rows.values()):
            if not i % STEP_ITEMS:
                yield
            best = _best(row_values, m)
            for c in best:
                wins[c] += 1 / len(best)
            for c, v in row_values.items():
                columns[c].append(v)
        yield
        for c in range(n):
            per_model[c][m.name] = _stats(columns[c], m, wins[c], len(rows))
        if m.name == "latency":
            latencies = columns
    return tuple(
        ModelSummary(
            column=c,
            model=models[c],
            cells=counts[c][0],
            done=counts[c][1],
            failed=counts[c][2],
            cancelled=counts[c][3],
            latency_p50=percentile(latencies[c], 0.5),
            latency_p95=percentile(latencies[c], 0.95),
            stats=per_model[c],
            cost_usd=costs[c][0],
            usd_per_correct=costs[c][1],
        )
        for c in range(n)
    )


def _sample_means(cells: Iterable[ScoreCell]) -> dict[tuple[int, int], Mapping[str, float]]:
    """Each (row, column)'s measure values, averaged over its samples (issue 15's repeats).

    A cell without repeats is its own average; for a pass mark (checks, judge) the average
    of 0/1 values is the pass rate over samples.
    """
    return _drain(_sample_means_steps(cells))


def _sample_means_steps(
    cells: Iterable[ScoreCell],
) -> Generator[None, None, dict[tuple[int, int], Mapping[str, float]]]:
    """:func:`_sample_means` in steps."""
    first: dict[tuple[int, int], ScoreCell] = {}
    repeated: dict[tuple[int, int], list[ScoreCell]] = {}
    for i, cell in enumerate(cells):
        if not i % STEP_ITEMS:
            yield
        if not cell.values:
            continue
        key = (cell.row, cell.column)
        seen = first.get(key)
        if seen is None:
            first[key] = cell
        else:
            repeated.setdefault(key, [seen]).append(cell)
    # A square with one sample is its own average: its values as they are.
    means: dict[tuple[int, int], Mapping[str, float]] = {k: c.values for k, c in first.items()}
    for i, (key, samples) in enumerate(repeated.items()):
        if not i % STEP_ITEMS:
            yield
        sums: dict[str, list[float]] = {}
        for cell in samples:
            for name, value in cell.values.items():
                total = sums.setdefault(name, [0.0, 0.0])
                total[0] += value
                total[1] += 1
        means[key] = {name: total / count for name, (total, count) in sums.items()}
    return means


def _costs(cells: Iterable[ScoreCell], n: int) -> list[tuple[float | None, float | None]]:
    """Per column: what its answers cost, and that over the answers passing every check.

    Summed over every cell, samples included: each sample was a request that was paid for
    and an answer that passed or not (the averages per square are for comparing, not paying).
    """
    totals: list[float | None] = [None] * n
    correct = [0] * n
    for cell in cells:
        if not 0 <= cell.column < n:
            continue
        cost = cell.values.get("cost")
        if cost is not None:
            totals[cell.column] = (totals[cell.column] or 0.0) + cost
        checks = cell.values.get("checks")
        if checks is not None and checks >= 1.0:
            correct[cell.column] += 1
    out: list[tuple[float | None, float | None]] = []
    for c in range(n):
        total = totals[c]
        per = total / correct[c] if total is not None and correct[c] else None
        out.append((total, per))
    return out


def build_scoreboard(
    rows: Sequence[str],
    models: Sequence[str],
    cells: Iterable[ScoreCell],
    chosen: Measure,
    registry: Sequence[Measure] | None = None,
) -> Scoreboard:
    """The run ``cells`` belong to, summed up with ``chosen`` as the heat-map's measure.

    Args:
        rows: Input labels, one per row.
        models: Model names, one per column.
        cells: The run's cells known so far (missing ones show as not known).
        chosen: The measure of the heat-map and the per-input lines.
        registry: The measures of the per-model lines (default: every registered one).
    """
    return _drain(build_scoreboard_steps(rows, models, cells, chosen, registry))


def build_scoreboard_steps(
    rows: Sequence[str],
    models: Sequence[str],
    cells: Iterable[ScoreCell],
    chosen: Measure,
    registry: Sequence[Measure] | None = None,
) -> Generator[None, None, Scoreboard]:
    """:func:`build_scoreboard` in steps: it yields every :data:`STEP_ITEMS` cells or rows
    and returns the :class:`Scoreboard`, so a window can sum a 10,000-cell run up over
    several turns of its loop instead of freezing for one. The arguments are taken as they
    are when it starts (``cells`` is read into a list then; a :class:`ScoreCell` never
    changes).
    """
    rows, models, cells = tuple(rows), tuple(models), list(cells)
    n_rows, n_cols = len(rows), len(models)
    values: list[list[float | None]] = [[None] * n_cols for _ in range(n_rows)]
    statuses: list[list[str]] = [[""] * n_cols for _ in range(n_rows)]
    for i, cell in enumerate(cells):
        if not i % STEP_ITEMS:
            yield
        if 0 <= cell.row < n_rows and 0 <= cell.column < n_cols:
            # A repeated cell's samples share a square: one not done yet (or failed) shows.
            if statuses[cell.row][cell.column] in ("", _DONE):
                statuses[cell.row][cell.column] = cell.status
    yield
    # Made once for the heat-map and the model lines alike.
    means = yield from _sample_means_steps(cells)
    for (at_row, at_column), merged in means.items():
        if 0 <= at_row < n_rows and 0 <= at_column < n_cols:
            values[at_row][at_column] = merged.get(chosen.name)
    shown = [v for row in values for v in row if v is not None]
    inputs = []
    for r, row in enumerate(values):
        if not r % STEP_ITEMS:
            yield
        valued = {c: v for c, v in enumerate(row) if v is not None}
        best = _best(valued, chosen)
        inputs.append(
            InputSummary(
                row=r,
                label=rows[r],
                best=best,
                best_value=valued[best[0]] if best else None,
                spread=max(valued.values()) - min(valued.values()) if len(valued) > 1 else None,
                count=len(valued),
            )
        )
    models_summary = yield from _summarize_steps(models, cells, registry, means)
    return Scoreboard(
        rows=rows,
        models=models,
        measure=chosen,
        values=tuple(map(tuple, values)),
        statuses=tuple(map(tuple, statuses)),
        low=min(shown) if shown else None,
        high=max(shown) if shown else None,
        models_summary=models_summary,
        inputs_summary=tuple(inputs),
    )


def sort_models(
    summaries: Sequence[ModelSummary], by: Measure | None, stat: str = "mean"
) -> tuple[int, ...]:
    """The models' columns, best first by ``stat`` of ``by`` (``None``: run order).

    Means and medians follow the measure's better end (largest first for a measure with no
    better end); win and pass rates are best high; p50/p95 latency best low. Models without
    the figure come last; ties keep run order.

    Args:
        summaries: The models' lines (:func:`summarize_models`).
        by: The measure to sort by (ignored for ``p50``/``p95``).
        stat: One of :data:`SORT_STATS`.

    Raises:
        ValueError: unknown ``stat``.
    """
    if stat not in SORT_STATS:
        raise ValueError(f"unknown statistic {stat!r}: use one of {', '.join(SORT_STATS)}")
    if by is None and stat not in ("p50", "p95"):
        return tuple(s.column for s in summaries)
    if stat in ("p50", "p95"):
        descending = False
    elif stat in ("mean", "median"):
        descending = by is None or by.higher_is_better is not False
    else:
        descending = True
    name = by.name if by is not None else ""

    def key(s: ModelSummary) -> tuple[int, float, int]:
        value = s.figure(name, stat)
        if value is None:
            return (1, 0.0, s.column)
        return (0, -value if descending else value, s.column)

    return tuple(s.column for s in sorted(summaries, key=key))


def summary_columns(registry: Sequence[Measure] | None = None) -> list[str]:
    """The per-model table's column names, as CSV and Markdown exports write them."""
    names = [
        "model",
        "cells",
        "done",
        "failed",
        "cancelled",
        "latency_p50_s",
        "latency_p95_s",
        "cost_usd",
        "usd_per_correct",
    ]
    for m in measures() if registry is None else registry:
        names += [f"{m.name}_mean", f"{m.name}_median"]
        if m.pass_at is not None:
            names.append(f"{m.name}_pass_rate")
        if m.higher_is_better is not None:
            names.append(f"{m.name}_win_rate")
    return names


def summary_rows(
    summaries: Sequence[ModelSummary], registry: Sequence[Measure] | None = None
) -> list[dict[str, Any]]:
    """The per-model table as flat rows keyed by :func:`summary_columns`."""
    chosen = measures() if registry is None else tuple(registry)
    out = []
    for s in summaries:
        row: dict[str, Any] = {
            "model": s.model,
            "cells": s.cells,
            "done": s.done,
            "failed": s.failed,
            "cancelled": s.cancelled,
            "latency_p50_s": s.latency_p50,
            "latency_p95_s": s.latency_p95,
            "cost_usd": s.cost_usd,
            "usd_per_correct": s.usd_per_correct,
        }
        for m in chosen:
            stats = s.stats.get(m.name, MeasureStats())
            row[f"{m.name}_mean"] = stats.mean
            row[f"{m.name}_median"] = stats.median
            if m.pass_at is not None:
                row[f"{m.name}_pass_rate"] = stats.pass_rate
            if m.higher_is_better is not None:
                row[f"{m.name}_win_rate"] = stats.win_rate
        out.append(row)
    return out


def scoreboard_json(
    models: Sequence[str], cells: Iterable[ScoreCell], registry: Sequence[Measure] | None = None
) -> dict[str, Any]:
    """The per-model table as JSON output carries it (``run --json``, ``show --json``, JSON
    exports): ``measures`` (name, label, unit, which end is best, pass mark) and ``models``
    (one :meth:`ModelSummary.to_dict` per model, in run order).

    Args:
        models: Model names, one per column.
        cells: The run's cells.
        registry: The measures (default: every registered one).
    """
    chosen = measures() if registry is None else tuple(registry)
    return {
        "measures": [
            {
                "name": m.name,
                "label": m.label,
                "unit": m.unit,
                "higher_is_better": m.higher_is_better,
                "pass_at": m.pass_at,
            }
            for m in chosen
        ],
        "models": [s.to_dict() for s in summarize_models(models, cells, chosen)],
    }
