"""Token and cost totals per column of a run, from its cells' metrics.

The CLI's ``--json`` summary, the exports, the Scoreboard and the status bar all add up a
run's cells the same way here: every cell that sent a request counts (a failed or cancelled
cell's tokens were paid for too); a cell whose model has no price is counted apart, so a
total never passes off "no price" as free.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gui.core.metrics import CellMetrics
from gui.core.pricing import format_usd


@dataclass(slots=True)
class CostTotals:
    """Tokens and cost of a group of cells (a column, a run).

    Attributes:
        cells: Cells that sent a request.
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
