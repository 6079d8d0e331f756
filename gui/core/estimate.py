"""What a run will cost before it starts: tokens in and out per cell, priced per column.

Input tokens are counted on the messages each cell sends, with the model's tokenizer where
one is at hand (a :data:`TokenCounter` the provider layer gives: ``tiktoken`` for OpenAI
models) and otherwise as characters / 4, marked estimated ("~"). Output tokens are the
profile's ``max_tokens`` (the most a cell can cost), else the simulated model's answer
length, else the column's recent average, else :data:`OUTPUT_GUESS` tokens, marked estimated.

The budget cap (:mod:`gui.core.budget`) uses the same worst case per cell. The window
computes an estimate in a worker thread (a run can have 100,000 cells); it is plain
arithmetic with a cache per distinct message list, so 10,000 cells take well under a
second (``fanout-studio bench estimate``, docs/benchmarks.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gui.core.pricing import PriceTable, format_usd
from gui.core.spec import ModelProfile, ProviderKind, RunSpec

#: Output tokens assumed per cell when nothing better is known (no max_tokens, no history).
OUTPUT_GUESS = 500
#: Tokens a chat message costs beyond its text (role and separators), as OpenAI counts them.
PER_MESSAGE_TOKENS = 4
#: Cells counted between two calls of :func:`estimate_run`'s ``pause`` (about a millisecond).
PAUSE_EVERY = 64

#: Counts the tokens of ``text`` for ``profile``: ``(count, exact)``; ``exact`` is ``False``
#: when the count is an estimate (no tokenizer for that model).
TokenCounter = Callable[[ModelProfile, str], tuple[int, bool]]


def approx_tokens(text: str) -> int:
    """Characters / 4, rounded up: the usual rule of thumb for English text."""
    return math.ceil(len(text) / 4)


def approx_counter(_profile: ModelProfile, text: str) -> tuple[int, bool]:
    """A :data:`TokenCounter` without a tokenizer: characters / 4, estimated."""
    return approx_tokens(text), False


def messages_tokens(messages: Sequence[tuple[str, str]], count: Callable[[str], int]) -> int:
    """Tokens of a message list: each message's text plus :data:`PER_MESSAGE_TOKENS`."""
    return sum(count(text) + PER_MESSAGE_TOKENS for _role, text in messages)


def output_tokens_for(
    profile: ModelProfile, recent_average: float | None = None
) -> tuple[int, bool]:
    """The output tokens a cell of ``profile`` is assumed to produce: ``(tokens, exact)``.

    ``max_tokens`` is the most it can produce (exact as a worst case); else the simulated
    model's configured answer length; else the column's ``recent_average``; else
    :data:`OUTPUT_GUESS`.
    """
    if profile.max_tokens is not None:
        return profile.max_tokens, True
    if profile.provider is ProviderKind.SIMULATED:
        return profile.sim.output_tokens, True  # it writes exactly this many
    if recent_average is not None and recent_average > 0:
        return math.ceil(recent_average), False
    return OUTPUT_GUESS, False


@dataclass(frozen=True, slots=True)
class ColumnEstimate:
    """The estimate of one column.

    Attributes:
        col: The column's index.
        label: Its header.
        cells: Its cells.
        input_tokens: Prompt tokens of all its cells.
        output_tokens: Answer tokens assumed for all its cells.
        cost_usd: Their cost, or ``None`` when the model has no price.
        estimated: Whether a count is an estimate (characters / 4, a guessed output).
    """

    col: int
    label: str
    cells: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    estimated: bool


@dataclass(frozen=True, slots=True)
class RunEstimate:
    """What a run is expected to cost, per column and in all.

    Attributes:
        columns: Per column, in order.
    """

    columns: tuple[ColumnEstimate, ...]

    @property
    def cells(self) -> int:
        """Cells in the run."""
        return sum(c.cells for c in self.columns)

    @property
    def input_tokens(self) -> int:
        """Prompt tokens of every cell."""
        return sum(c.input_tokens for c in self.columns)

    @property
    def output_tokens(self) -> int:
        """Answer tokens assumed for every cell."""
        return sum(c.output_tokens for c in self.columns)

    @property
    def cost_usd(self) -> float:
        """The cost of the columns that have a price."""
        return sum(c.cost_usd for c in self.columns if c.cost_usd is not None)

    @property
    def unpriced(self) -> tuple[str, ...]:
        """Headers of the columns without a price."""
        return tuple(c.label for c in self.columns if c.cost_usd is None)

    @property
    def estimated(self) -> bool:
        """Whether any count is an estimate."""
        return any(c.estimated for c in self.columns)

    def line(self) -> str:
        """One line for the window's Run button and the CLI: ``est. ~$0.42 · 12,000 tokens``."""
        if self.columns and len(self.unpriced) == len(self.columns):
            cost = "no price"
        else:
            cost = format_usd(self.cost_usd, estimated=self.estimated)
            if self.unpriced:
                cost += f" + {len(self.unpriced)} column(s) with no price"
        tokens = self.input_tokens + self.output_tokens
        return f"est. {cost} · {tokens:,} tokens"


def estimate_run(
    spec: RunSpec,
    prices: PriceTable | None = None,
    counter: TokenCounter = approx_counter,
    recent_output: Mapping[int, float] | None = None,
    kind: Callable[[ModelProfile], Hashable] | None = None,
    pause: Callable[[], object] | None = None,
) -> RunEstimate:
    """The cost estimate of ``spec`` (blocking: run it off the GUI thread for a big run).

    Args:
        spec: The plan.
        prices: The prices; default the spec's own.
        counter: Counts a text's tokens for a profile (see :data:`TokenCounter`).
        recent_output: Per column, the average answer tokens of recent runs.
        kind: Which profiles ``counter`` counts alike (the same tokenizer), so a text is
            counted once for all of them; default: each profile on its own.
        pause: Called every :data:`PAUSE_EVERY` cells. On a worker thread, the place to
            hand the GIL to a busy GUI thread: a pure-Python loop holds it for whole switch
            intervals, and a 20,000-cell estimate made the press of Run next to it take
            twice its own time.
    """
    table = prices if prices is not None else spec.price_table
    recent = recent_output or {}
    group = kind or (lambda profile: profile)
    # Per column: [profile, cells, input tokens, exact so far]. Cells are walked (not models
    # x rows) so that a column is whatever the run's cells say it is.
    acc: dict[int, list[Any]] = {}
    # Counts are cached per tokenizer and text: the system message of every row, a row's
    # prompt for every column that counts the same way, repeated rows.
    texts: dict[tuple[Hashable, str], tuple[int, bool]] = {}
    for index, cell in enumerate(spec.cells()):
        if pause is not None and index % PAUSE_EVERY == PAUSE_EVERY - 1:
            pause()
        col = cell.col
        entry = acc.get(col)
        if entry is None:
            entry = acc[col] = [cell.model, 0, 0, True, group(cell.model)]
        key = entry[4]
        tokens = 0
        exact = entry[3]
        for _role, text in spec.messages(cell.id):
            found = texts.get((key, text))
            if found is None:
                found = texts[(key, text)] = counter(cell.model, text)
            tokens += found[0] + PER_MESSAGE_TOKENS
            exact = exact and found[1]
        entry[1] += 1
        entry[2] += tokens
        entry[3] = exact
    columns: list[ColumnEstimate] = []
    # The column's header, not its model's name: a sweep's columns share a model, and
    # "sim-1" twice said nothing about which temperature cost what.
    headers = spec.headers
    for col in sorted(acc):
        profile, cells, input_tokens, exact, _key = acc[col]
        per_cell_out, out_exact = output_tokens_for(profile, recent.get(col))
        output_tokens = per_cell_out * cells
        price = table.price_for(profile)
        columns.append(
            ColumnEstimate(
                col=col,
                label=headers[col] if col < len(headers) else profile.display_name,
                cells=cells,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cost_usd=None if price is None else price.cost(input_tokens, output_tokens),
                estimated=not (exact and out_exact),
            )
        )
    return RunEstimate(tuple(columns))
