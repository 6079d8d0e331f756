"""A run's budget cap: no new cell starts when what it could cost would pass the cap.

The engine asks :meth:`BudgetGate.admit` before a cell's first request goes out, with the
cell's worst case (its input tokens plus ``max_tokens``, or the estimated answer, at its
model's prices: :func:`worst_case`). The cell starts when what was spent, plus the worst case
of every cell in flight, plus its own stays within the cap. When only the cells in flight
stand in the way it waits for one of them to end (their real cost is usually far below
their worst case); when what was spent already leaves no room for it, it is refused and the
engine ends it cancelled with :meth:`BudgetGate.reason`. Running cells always finish.

Cells whose model has no price cost nothing here: a cap can only count what has a price.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from gui.core.estimate import output_tokens_for
from gui.core.pricing import Price, format_usd
from gui.core.spec import ModelProfile

#: Slack for float sums (a millionth of a cent) so a run priced exactly at its cap fits.
_EPSILON = 1e-8


def worst_case(
    price: Price | None, profile: ModelProfile, input_tokens: int, recent_output: float | None
) -> float:
    """The most one cell of ``profile`` is expected to cost: 0 when it has no price."""
    if price is None:
        return 0.0
    output, _exact = output_tokens_for(profile, recent_output)
    return price.cost(input_tokens, output)


class BudgetGate:
    """Admits cells while the run's cap allows; tracks what was spent and what is in flight.

    Args:
        cap: The cap now in force (read on every check: the user may change it mid-run),
            ``None`` for no cap.
    """

    def __init__(self, cap: Callable[[], float | None]) -> None:
        self._cap = cap
        #: Dollars the cells that ended cost.
        self.spent = 0.0
        #: Worst case of each admitted cell that has not ended, by cell id.
        self._reserved: dict[str, float] = {}
        #: Cells refused so far.
        self.refused = 0
        self._changed = asyncio.Event()

    @property
    def in_flight_worst(self) -> float:
        """The worst case of the admitted cells that have not ended."""
        return sum(self._reserved.values())

    def reason(self) -> str:
        """The cancel reason of a refused cell: ``budget reached ($x of $y)``."""
        cap = self._cap()
        return f"budget reached ({format_usd(self.spent)} of {format_usd(cap)})"

    async def admit(self, cell_id: str, worst: float) -> bool:
        """Whether cell ``cell_id`` (worst case ``worst`` dollars) may start; may wait.

        ``True`` reserves its worst case until :meth:`settle`. ``False``: it can never fit,
        since what was spent only grows.
        """
        while True:
            cap = self._cap()
            if cap is None:
                self._reserved[cell_id] = worst
                return True
            if self.spent + worst > cap + _EPSILON:
                self.refused += 1
                return False
            if self.spent + self.in_flight_worst + worst <= cap + _EPSILON:
                self._reserved[cell_id] = worst
                return True
            # Only cells in flight are in the way: wait until one ends, then look again.
            changed = self._changed
            await changed.wait()

    def settle(self, cell_id: str, cost: float | None) -> None:
        """Cell ``cell_id`` ended having cost ``cost`` (``None``: no price, counts 0)."""
        had = self._reserved.pop(cell_id, None)
        if cost:
            self.spent += cost
        if had is not None or cost:
            # Wake every waiting cell: each looks at the new totals itself.
            self._changed.set()
            self._changed = asyncio.Event()

    def note(self) -> str | None:
        """What the summary says when the cap stopped cells, else ``None``."""
        if not self.refused:
            return None
        cells = "cell" if self.refused == 1 else "cells"
        return f"{self.reason()}: {self.refused:,} {cells} not started"
