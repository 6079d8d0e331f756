"""The measures a run's answers are scored by: one registry for the Scoreboard, exports and CLI.

A measure turns one cell into a number (``None`` when the cell has none): its latency, its
tokens per second, its check pass rate, judge score or human rating (stars). The Scoreboard
colours its heat-map by one measure, sums each model up by every measure and sorts models
by any of them; exports and ``run --json`` carry the same per-model table. Nobody lists the
measures by hand: they read :func:`measures`, so a measure added here shows everywhere.

Adding a measure is a function from a cell to ``float | None`` and one :func:`register`
call at the end of this module. A measure reads the cell through :class:`CellFacts`, which
the window's ``CellState``, the history's ``StoredCell`` and the engine's end events all
satisfy (the CLI wraps its end events with the run's check results and verdicts); a measure
that needs another field of the cell adds it to :class:`CellFacts` as a read-only property.

Only cells that ended with an answer (status ``done``) are measured
(:mod:`gui.core.scoreboard`): a failed cell has no answer to score, and its latency is that
of an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from gui.core.checks import pass_rate
from gui.core.metrics import CellMetrics

if TYPE_CHECKING:
    from gui.core.checks import CheckResult
    from gui.core.judging import JudgeVerdict
    from gui.core.ratings import Rating

__all__ = [
    "LATENCY",
    "CellFacts",
    "Measure",
    "measure",
    "measures",
    "register",
    "unregister",
]


class CellFacts(Protocol):
    """What a measure may read of one cell (structural: nobody subclasses it)."""

    @property
    def metrics(self) -> CellMetrics | None:
        """Timings and token counts, once the cell ended."""

    @property
    def checks(self) -> tuple[CheckResult, ...]:
        """The run's check results on the answer (``()``: not checked)."""

    @property
    def judge(self) -> JudgeVerdict | None:
        """The LLM judge's verdict, once it came."""

    @property
    def rating(self) -> Rating | None:
        """The user's rating of the answer."""


@dataclass(frozen=True, slots=True)
class Measure:
    """One way to score an answer.

    Attributes:
        name: Stable name (JSON keys, CSV columns, the workspace): ``latency``, ``tps``...
        label: What the picker and the table headers say: ``Latency``.
        unit: Printed after a value (``s``, ``tok/s``, ``%``), or ``""``.
        higher_is_better: ``True`` or ``False`` say which end is best (colours, win rate,
            "best model"); ``None`` for a measure with no better end (answer length): it is
            coloured on one hue and nobody wins by it.
        value: The cell's value, or ``None`` when it has none.
        digits: Decimals printed.
        pass_at: A value at least this good counts as a pass (the summary's pass rate);
            ``None``: the measure has no pass rate.
        percent: Values are shares from 0 to 1 (a pass rate), printed as percentages
            (``unit`` is then ``%``).
    """

    name: str
    label: str
    unit: str
    higher_is_better: bool | None
    value: Callable[[CellFacts], float | None]
    digits: int = 2
    pass_at: float | None = None
    percent: bool = False

    def format(self, value: float | None, *, unit: bool = True) -> str:
        """``value`` as the Scoreboard prints it (``"–"`` for none)."""
        if value is None:
            return "–"
        text = f"{value * 100 if self.percent else value:.{self.digits}f}"
        return f"{text} {self.unit}" if unit and self.unit else text

    def passes(self, value: float) -> bool:
        """Whether ``value`` counts as a pass (``False`` for a measure without a pass mark)."""
        if self.pass_at is None:
            return False
        if self.higher_is_better is False:
            return value <= self.pass_at
        return value >= self.pass_at

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly better than ``b`` (never, for a measure without a better end)."""
        if self.higher_is_better is None:
            return False
        return a > b if self.higher_is_better else a < b


_REGISTRY: dict[str, Measure] = {}


def register(new: Measure) -> Measure:
    """Offer ``new`` everywhere measures are listed (replacing one of the same name, in place)."""
    _REGISTRY[new.name] = new
    return new


def unregister(name: str) -> None:
    """Take measure ``name`` out of the registry (nothing happens for an unknown name)."""
    _REGISTRY.pop(name, None)


def measures() -> tuple[Measure, ...]:
    """Every registered measure, in registration order (the picker's order)."""
    return tuple(_REGISTRY.values())


def measure(name: str) -> Measure:
    """The measure called ``name``.

    Raises:
        KeyError: no measure has that name.
    """
    return _REGISTRY[name]


# ----------------------------------------------------------------- the built-in measures


# A cell served from the response cache made no request: its timings are those of the
# request that first got the answer (kept with it), and its replay has no speed to score.


def _latency(cell: CellFacts) -> float | None:
    m = cell.metrics
    if m is None:
        return None
    return m.original_latency if m.cached else m.latency


def _ttft(cell: CellFacts) -> float | None:
    m = cell.metrics
    if m is None:
        return None
    return m.original_ttft if m.cached else m.ttft


def _tokens_per_second(cell: CellFacts) -> float | None:
    m = cell.metrics
    return m.tokens_per_second if m is not None and not m.cached else None


def _output_tokens(cell: CellFacts) -> float | None:
    m = cell.metrics
    # No answer text, no count: 0 tokens on a cell that never produced any is not a length.
    return float(m.output_tokens) if m is not None and m.output_tokens else None


#: The measure the Scoreboard opens on, and the one p50/p95 latency are taken from.
LATENCY = register(Measure("latency", "Latency", "s", False, _latency))
register(Measure("ttft", "Time to first token", "s", False, _ttft))
register(Measure("tps", "Tokens/s", "tok/s", True, _tokens_per_second, digits=1))
register(Measure("tokens", "Output tokens", "tok", None, _output_tokens, digits=0))


def _check_pass_rate(cell: CellFacts) -> float | None:
    return pass_rate(cell.checks)


def _judge_score(cell: CellFacts) -> float | None:
    # A failed judge call has no score: it is missing, never a 0.
    return cell.judge.score if cell.judge is not None else None


def _stars(cell: CellFacts) -> float | None:
    return float(cell.rating.stars) if cell.rating is not None and cell.rating.stars else None


register(
    Measure(
        "checks",
        "Check pass rate",
        "%",
        True,
        _check_pass_rate,
        digits=0,
        pass_at=1.0,
        percent=True,
    )
)
register(Measure("judge", "Judge score", "/10", True, _judge_score, digits=1, pass_at=7.0))
register(Measure("rating", "Stars", "★", True, _stars, digits=1))


def _cost(cell: CellFacts) -> float | None:
    # No price, no value: "no price" is never scored as free.
    return cell.metrics.cost_usd if cell.metrics is not None else None


#: What an answer cost at the run's prices (issue 15).
register(Measure("cost", "Cost", "USD", False, _cost, digits=4))


def _schema_valid(cell: CellFacts) -> float | None:
    # Only a structured run's cells have a verdict; a free-text answer is not a 0.
    valid = cell.metrics.schema_valid if cell.metrics is not None else None
    return None if valid is None else float(valid)


# Issue 15's structured output: the mean over a model's answers is its "schema valid %".
register(
    Measure(
        "schema",
        "Schema valid",
        "%",
        True,
        _schema_valid,
        digits=0,
        pass_at=1.0,
        percent=True,
    )
)
