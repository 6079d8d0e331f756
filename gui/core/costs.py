"""Token and cost totals per column of a run, from its cells' metrics.

The CLI's ``--json`` summary, the exports, the Scoreboard and the status bar all add up a
run's cells the same way here: every cell that sent a request counts (a failed or cancelled
cell's tokens were paid for too); a cell whose model has no price is counted apart, so a
total never passes off "no price" as free.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gui.core.metrics import CellMetrics
from gui.core.pricing import format_usd


@dataclass(frozen=True, slots=True)
class CallCost:
    """Tokens and cost of one judge call.

    Attributes:
        input_tokens: Its prompt tokens (the rubric, the input and the answers).
        output_tokens: Its reply's tokens.
        estimated: Whether a count is an estimate (the provider reported no usage).
        cost_usd: What it cost at the judge model's price, ``None`` when it has none.
    """

    input_tokens: int
    output_tokens: int
    estimated: bool
    cost_usd: float | None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "tokens_estimated": self.estimated,
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 8),
        }


@dataclass(slots=True)
class CostTotals:
    """Tokens and cost of a group of cells (a column, a run).

    Attributes:
        cells: Cells that sent a request (for the judge's totals: its calls that got a reply).
        input_tokens: Their prompt tokens.
        output_tokens: Their answer tokens.
        cost_usd: What the cells with a price cost.
        unpriced: Cells whose model has no price.
        estimated: Whether a count is an estimate.
    """

    cells: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    unpriced: int = 0
    estimated: bool = False

    def add(self, m: CellMetrics) -> None:
        """Count one ended cell (one that never sent a request counts nothing)."""
        if m.started_at is None:
            return
        self.cells += 1
        self.input_tokens += m.input_tokens
        self.output_tokens += m.output_tokens
        self.estimated = self.estimated or m.any_estimated
        if m.cost_usd is None:
            self.unpriced += 1
        else:
            self.cost_usd += m.cost_usd

    def add_call(self, c: CallCost) -> None:
        """Count one judge call that got a reply."""
        self.cells += 1
        self.input_tokens += c.input_tokens
        self.output_tokens += c.output_tokens
        self.estimated = self.estimated or c.estimated
        if c.cost_usd is None:
            self.unpriced += 1
        else:
            self.cost_usd += c.cost_usd

    @property
    def cost(self) -> float | None:
        """The cost, or ``None`` when no counted cell had a price (then it is unknown)."""
        if self.unpriced and self.unpriced == self.cells:
            return None
        return self.cost_usd

    def label(self) -> str:
        """``$0.42``, ``~$0.42``, ``no price``, or ``$0.42 + 3 with no price``."""
        text = format_usd(self.cost, estimated=self.estimated)
        if self.unpriced and self.cost is not None:
            text += f" + {self.unpriced} with no price"
        return text

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (``cost_usd`` is ``null`` when unknown)."""
        cost = self.cost
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "tokens_estimated": self.estimated,
            "cost_usd": None if cost is None else round(cost, 8),
            "unpriced_cells": self.unpriced,
        }


def judge_label(totals: CostTotals | None) -> str:
    """The judge's spend as the status bar and the Scoreboard show it: ``judge $0.0042``,
    ``judge ~$0.01`` (estimated tokens), ``judge no price``; ``""`` with no judge call."""
    if totals is None or not totals.cells:
        return ""
    return f"judge {totals.label()}"


def judge_totals_of(summary: Any) -> CostTotals | None:
    """The judge's totals a run summary carries (a :class:`gui.core.metrics.RunSummary`, or
    the ``judge_cost`` mapping of a stored one), ``None`` without judge calls."""
    if isinstance(summary, Mapping):
        data = summary.get("judge_cost")
        if not isinstance(data, Mapping) or not data.get("calls"):
            return None
        cost = data.get("cost_usd")
        calls = int(data.get("calls") or 0)
        return CostTotals(
            cells=calls,
            input_tokens=int(data.get("input_tokens") or 0),
            output_tokens=int(data.get("output_tokens") or 0),
            cost_usd=float(cost or 0.0),
            unpriced=calls if cost is None else 0,
            estimated=bool(data.get("tokens_estimated")),
        )
    calls = int(getattr(summary, "judge_calls", 0) or 0)
    if not calls:
        return None
    cost = getattr(summary, "judge_cost_usd", None)
    return CostTotals(
        cells=calls,
        input_tokens=int(summary.judge_input_tokens),
        output_tokens=int(summary.judge_output_tokens),
        cost_usd=float(cost or 0.0),
        unpriced=calls if cost is None else 0,
        estimated=bool(summary.judge_tokens_estimated),
    )


def judge_cost_dict(totals: CostTotals) -> dict[str, Any]:
    """The judge's totals as ``runs.summary_json``, ``--json`` and the exports keep them."""
    cost = totals.cost
    return {
        "calls": totals.cells,
        "input_tokens": totals.input_tokens,
        "output_tokens": totals.output_tokens,
        "tokens_estimated": totals.estimated,
        "cost_usd": None if cost is None else round(cost, 8),
    }


def column_totals(cells: Iterable[tuple[int, CellMetrics | None]]) -> dict[int, CostTotals]:
    """Per column index, the totals of ``(column, metrics)`` pairs (cells without metrics
    are skipped)."""
    out: dict[int, CostTotals] = {}
    for col, m in cells:
        if m is None:
            continue
        totals = out.get(col)
        if totals is None:
            totals = out[col] = CostTotals()
        totals.add(m)
    return out


def run_totals(per_column: Iterable[CostTotals]) -> CostTotals:
    """The totals of every column together."""
    out = CostTotals()
    for t in per_column:
        out.cells += t.cells
        out.input_tokens += t.input_tokens
        out.output_tokens += t.output_tokens
        out.cost_usd += t.cost_usd
        out.unpriced += t.unpriced
        out.estimated = out.estimated or t.estimated
    return out


def past_cost(past: Any) -> CostTotals:
    """The totals of a past run (a :class:`gui.core.ports.PastRun`: its cells' metrics)."""
    totals = CostTotals()
    for cell in getattr(past, "cells", ()):
        m = cell.metrics
        if m is not None:
            totals.add(m)
    return totals
