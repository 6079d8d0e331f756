"""What a run's columns are made of: prompt variants, swept parameter values, repeats.

A cell is (input row, column, sample). A column is one prompt variant (a template and a
system message, :class:`Variant`), one model profile and one set of parameter values (from
the profile's :class:`ParamSweep`). This module holds those parts, their validation and the
compact "0, 0.7, 1.2" notation; :func:`gui.core.spec.expand_columns` is the one place that
combines them into a run's columns (it needs the model profile, defined there).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gui.core.errors import SpecError
from gui.core.variant_ids import variant_id as variant_id  # re-exported: one scheme

#: The parameters a model can sweep, in the order their values combine into columns.
PARAMETERS: tuple[str, ...] = ("temperature", "top_p", "max_tokens", "seed")

#: How a column header names each parameter (``model · t=0.7``).
SHORT_NAMES: dict[str, str] = {
    "temperature": "t",
    "top_p": "top_p",
    "max_tokens": "max",
    "seed": "seed",
}

#: How a message names each parameter.
LONG_NAMES: dict[str, str] = {
    "temperature": "Temperature",
    "top_p": "top_p",
    "max_tokens": "Max tokens",
    "seed": "Seed",
}

#: Accepted samples per cell.
REPEATS_RANGE = (1, 20)
#: Most values one parameter of one model may sweep.
MAX_SWEEP_VALUES = 20
#: Most columns a run may have (variants x models x sweep values): beyond this the grid is
#: no comparison any more.
MAX_COLUMNS = 200

#: Accepted request seeds: OpenAI's chat completions API takes any signed 64-bit integer
#: (its OpenAPI spec: ``seed``, integer, minimum -9223372036854775808, maximum
#: 9223372036854775807), negatives included; vLLM checks the same range. A larger one is a 400.
SEED_RANGE = (-(2**63), 2**63 - 1)

#: A parameter value: a float for temperature and top_p, an int for max_tokens and seed.
Number = float | int


def value_problem(name: str, value: Number) -> str | None:
    """Why ``value`` cannot be parameter ``name``'s, with the accepted range; or ``None``."""
    label = LONG_NAMES[name]
    if name in ("max_tokens", "seed"):
        if isinstance(value, float) and not value.is_integer():
            return f"{label} {value:g} is not a whole number."
        if name == "max_tokens" and value <= 0:
            return f"{label} {value:g} must be at least 1."
        if name == "seed" and not SEED_RANGE[0] <= value <= SEED_RANGE[1]:
            return f"{label} {value} is out of range: use a 64-bit integer, e.g. 1, 42 or -7."
        return None
    if not math.isfinite(value):
        return f"{label} {value} is not a number."
    hi = 2 if name == "temperature" else 1
    if not 0 <= value <= hi:
        return f"{label} {value:g} is out of range: use 0 to {hi}."
    return None


def parse_values(name: str, text: str) -> tuple[Number, ...]:
    """The values a user typed for parameter ``name`` (``"0, 0.7, 1.2"``); ``()`` for none.

    Commas or spaces separate the values; a value given twice is kept once.

    Raises:
        SpecError: a value that is not a number, is out of range, or too many values; the
            message says which and the accepted range.
    """
    label = LONG_NAMES[name]
    out: list[Number] = []
    for part in text.replace(",", " ").split():
        try:
            value: Number = int(part) if name in ("max_tokens", "seed") else float(part)
        except ValueError:
            whole = name in ("max_tokens", "seed")
            kind, example = ("a whole number", "1, 2, 3") if whole else ("a number", "0, 0.7, 1.2")
            raise SpecError(f"{label} {part!r} is not {kind}; write e.g. {example}.") from None
        problem = value_problem(name, value)
        if problem:
            raise SpecError(problem)
        if value not in out:
            out.append(value)
    if len(out) > MAX_SWEEP_VALUES:
        raise SpecError(f"{label}: {len(out)} values; sweep at most {MAX_SWEEP_VALUES}.")
    return tuple(out)


def values_text(values: Sequence[Number]) -> str:
    """``values`` as the compact field shows them: ``0, 0.7, 1.2``."""
    return ", ".join(number_text(v) for v in values)


def number_text(value: Number) -> str:
    """One parameter value as headers and fields show it (``0.7``, ``256``)."""
    return str(value) if isinstance(value, int) else f"{value:g}"


@dataclass(frozen=True, slots=True)
class ParamSweep:
    """The values a model sweeps, one list per parameter (empty = the profile's own value).

    A list of two or more values makes that many columns of the model; several lists
    combine (2 temperatures x 2 seeds = 4 columns).

    Attributes:
        temperature: Temperatures, each 0 to 2.
        top_p: Nucleus sampling values, each 0 to 1.
        max_tokens: Answer length caps, each at least 1.
        seed: Request seeds (the simulated model's text seed too).
    """

    temperature: tuple[float, ...] = ()
    top_p: tuple[float, ...] = ()
    max_tokens: tuple[int, ...] = ()
    seed: tuple[int, ...] = ()

    def values(self, name: str) -> tuple[Number, ...]:
        """The values of parameter ``name``."""
        values: tuple[Number, ...] = getattr(self, name)
        return values

    @property
    def empty(self) -> bool:
        """Whether no parameter has a list."""
        return not any(self.values(n) for n in PARAMETERS)

    def combinations(self) -> list[tuple[tuple[str, Number], ...]]:
        """Every combination of the listed values, in column order (``[()]`` when empty)."""
        lists = [[(n, v) for v in self.values(n)] for n in PARAMETERS if self.values(n)]
        return [tuple(combo) for combo in itertools.product(*lists)]

    def swept(self) -> tuple[str, ...]:
        """The parameters with two or more values (the ones a column header names)."""
        return tuple(n for n in PARAMETERS if len(self.values(n)) > 1)

    def validate(self, owner: str = "") -> None:
        """Raise :class:`SpecError` for a value out of range or too many values."""
        prefix = f"{owner}: " if owner else ""
        for name in PARAMETERS:
            values = self.values(name)
            if len(values) > MAX_SWEEP_VALUES:
                raise SpecError(
                    f"{prefix}{LONG_NAMES[name]}: {len(values)} values; "
                    f"sweep at most {MAX_SWEEP_VALUES}."
                )
            for value in values:
                problem = value_problem(name, value)
                if problem:
                    raise SpecError(prefix + problem)

    def to_dict(self) -> dict[str, list[Number]]:
        """The listed values as plain data (``{}`` when empty)."""
        return {n: list(self.values(n)) for n in PARAMETERS if self.values(n)}

    @classmethod
    def from_dict(cls, data: Any) -> ParamSweep:
        """The sweep :meth:`to_dict` wrote; unreadable entries are dropped."""
        if not isinstance(data, dict):
            return cls()
        out: dict[str, tuple[Number, ...]] = {}
        for name in PARAMETERS:
            raw = data.get(name)
            if not isinstance(raw, list):
                continue
            kind = int if name in ("max_tokens", "seed") else float
            try:
                out[name] = tuple(kind(v) for v in raw)
            except (TypeError, ValueError):
                continue
        return cls(**out)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Variant:
    """One prompt variant: a template and its system message.

    Attributes:
        index: Position among the run's variants (0 = A).
        template: The prompt template.
        system: The system message, or ``None``.
        template_index: Which of the run's templates (0 = the first tab).
        system_index: Which of the run's system messages.
    """

    index: int
    template: str
    system: str | None
    template_index: int = 0
    system_index: int = 0

    @property
    def id(self) -> str:
        """The variant's letter (A, B, ...)."""
        return variant_id(self.index)


def variants_of(templates: Sequence[str], systems: Sequence[str | None]) -> tuple[Variant, ...]:
    """Every template with every system message, templates first: the run's variants."""
    return tuple(
        Variant(i, template, system, t, s)
        for i, ((t, template), (s, system)) in enumerate(
            itertools.product(enumerate(templates), enumerate(systems or (None,)))
        )
    )


def repeats_problem(repeats: int) -> str | None:
    """Why ``repeats`` samples per cell cannot run, with the range; or ``None``."""
    lo, hi = REPEATS_RANGE
    if isinstance(repeats, bool) or not isinstance(repeats, int) or not lo <= repeats <= hi:
        return f"Repeats {repeats} is out of range: use {lo} to {hi} samples per cell."
    return None
