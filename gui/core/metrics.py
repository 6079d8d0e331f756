"""Per-cell timings and the run summary, measured on the monotonic clock."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gui.core.pricing import Price

_TOKEN_RE = re.compile(r"\w+|[^\w\s]")


def estimate_tokens(text: str) -> int:
    """A rough token count (words and punctuation) for providers that report no usage."""
    return len(_TOKEN_RE.findall(text))


@dataclass(frozen=True, slots=True)
class CellMetrics:
    """How one cell went. Times are seconds since the run started.

    Attributes:
        queued_at: When the cell was queued.
        started_at: When its last attempt's request went out (``None`` if it never did).
        first_token_at: When its first streamed text arrived (streaming only).
        ended_at: When it ended.
        waited: Seconds spent in the limiter and rate limiter, all attempts.
        ttft: Time to first token of the last attempt (streaming only).
        latency: Start of the last attempt to the end.
        output_tokens: Answer tokens: provider usage when reported, else estimated.
        tokens_estimated: Whether ``output_tokens`` was estimated.
        tokens_per_second: Output tokens over streaming time (or latency when not streamed).
        retries: Attempts after the first.
        finish_reason: Why the server said the answer ended (``stop``, ``length``,
            ``content_filter``, ...), or ``None`` when it did not say (or the cell never got
            that far).
        note: Something the user should know about how the answer came (for example a
            server that answered a streaming request with one whole answer), or ``None``.
        input_tokens: Prompt tokens: provider usage when reported, else estimated from the
            messages (characters / 4); 0 for a cell whose request never went out.
        input_estimated: Whether ``input_tokens`` was estimated.
        cost_usd: What the cell cost in US dollars at the run's prices (input plus output
            tokens), or ``None`` when its model has no price.
        cached: The answer came from the response cache: no request was made, so it cost
            nothing; ``output_tokens`` and ``finish_reason`` are the original answer's.
        original_latency: For a cached answer, the latency of the request that first got it.
        original_ttft: For a cached answer, that request's time to first token.
        schema_valid: For a structured run (``RunSpec.json_schema``), whether the answer
            follows the schema; ``None`` for a free-text run.
        schema_error: Where a structured answer breaks the schema (or that it is not JSON).
        batch: The answer came through a provider's Batch API (priced at the batch price,
            see :func:`gui.core.batch.batch_price`).
    """

    queued_at: float
    started_at: float | None
    first_token_at: float | None
    ended_at: float
    waited: float
    ttft: float | None
    latency: float | None
    output_tokens: int
    tokens_estimated: bool
    tokens_per_second: float | None
    retries: int
    finish_reason: str | None = None
    note: str | None = None
    input_tokens: int = 0
    input_estimated: bool = False
    cost_usd: float | None = None
    cached: bool = False
    original_latency: float | None = None
    original_ttft: float | None = None
    schema_valid: bool | None = None
    schema_error: str | None = None
    batch: bool = False

    @property
    def total(self) -> float:
        """Queued to ended, seconds."""
        return self.ended_at - self.queued_at

    @property
    def finish_mark(self) -> str | None:
        """See :func:`finish_mark`."""
        return finish_mark(self.finish_reason)

    @property
    def any_estimated(self) -> bool:
        """Whether either token count (and so the cost) is an estimate: shown with "~"."""
        return self.tokens_estimated or self.input_estimated


#: What a finished answer's mark says for the finish reasons a user must not miss.
FINISH_MARKS: dict[str, str] = {
    "length": "cut at max tokens",
    "content_filter": "stopped by the content filter",
}


def finish_mark(finish_reason: str | None) -> str | None:
    """The visible mark of an answer that ended for ``finish_reason``, or ``None`` (``stop``)."""
    if finish_reason is None:
        return None
    return FINISH_MARKS.get(finish_reason)


@dataclass(slots=True)
class CellClock:
    """Mutable timing record the engine fills in while a cell runs."""

    queued_at: float
    started_at: float | None = None
    first_token_at: float | None = None
    waited: float = 0.0
    attempts: int = 0
    chunks: int = 0
    usage_tokens: int | None = None
    finish_reason: str | None = None
    note: str | None = None
    #: Prompt tokens the provider reported for the last attempt, or ``None``.
    usage_input_tokens: int | None = None
    #: The prompt's estimated tokens, used when the provider reports none (``None``: not
    #: counted; the engine counts it only when the budget or the provider needs it).
    input_estimate: int | None = None
    #: Response cache and structured output (see :class:`CellMetrics`).
    cached: bool = False
    original_latency: float | None = None
    original_ttft: float | None = None
    schema_valid: bool | None = None
    schema_error: str | None = None

    def freeze(self, ended_at: float, text: str, *, price: Price | None = None) -> CellMetrics:
        """The final :class:`CellMetrics` for a cell that ended at ``ended_at``.

        Args:
            ended_at: Seconds since the run started.
            text: The answer (or partial text).
            price: The cell's model's price, or ``None`` (no cost then).
        """
        if self.usage_tokens is not None:
            tokens, estimated = self.usage_tokens, False
        elif self.chunks and self.chunks >= estimate_tokens(text) // 2:
            tokens, estimated = self.chunks, True
        else:
            tokens, estimated = estimate_tokens(text), True
        latency = None if self.started_at is None else ended_at - self.started_at
        ttft = (
            None
            if self.first_token_at is None or self.started_at is None
            else self.first_token_at - self.started_at
        )
        span = None
        if self.first_token_at is not None and ended_at > self.first_token_at:
            span = ended_at - self.first_token_at
        elif latency:
            span = latency
        tps = tokens / span if span and tokens else None
        if self.usage_input_tokens is not None:
            input_tokens, input_estimated = self.usage_input_tokens, False
        elif self.started_at is not None:
            input_tokens, input_estimated = self.input_estimate or 0, True
        else:  # never sent: nothing was paid for
            input_tokens, input_estimated = 0, False
        cost = None if price is None else price.cost(input_tokens, tokens)
        if self.cached:  # served from the cache: no request, nothing paid
            cost = 0.0
        return CellMetrics(
            queued_at=self.queued_at,
            started_at=self.started_at,
            first_token_at=self.first_token_at,
            ended_at=ended_at,
            waited=self.waited,
            ttft=ttft,
            latency=latency,
            output_tokens=tokens,
            tokens_estimated=estimated,
            tokens_per_second=tps,
            retries=max(self.attempts - 1, 0),
            finish_reason=self.finish_reason,
            note=self.note,
            input_tokens=input_tokens,
            input_estimated=input_estimated,
            cost_usd=cost,
            cached=self.cached,
            original_latency=self.original_latency,
            original_ttft=self.original_ttft,
            schema_valid=self.schema_valid,
            schema_error=self.schema_error,
        )


@dataclass(frozen=True, slots=True)
class RunSummary:
    """How a run went, adding up to the number of cells.

    Attributes:
        total: Number of cells.
        done: Cells that succeeded.
        failed: Cells that failed.
        cancelled: Cells that were cancelled.
        wall: Seconds from run start to the last cell's end.
        strategy: Strategy name.
        peak_in_flight: Most cells in flight at once.
        failures_by_kind: Failed cells per error kind.
        cancelled_by_user: Whether the run itself was cancelled.
        input_tokens: Prompt tokens of every cell.
        output_tokens: Answer tokens of every cell.
        cost_usd: What the cells with a price cost, US dollars.
        unpriced: Cells whose model has no price (their cost is not in ``cost_usd``).
        tokens_estimated: Whether any count in the totals is an estimate.
        budget_note: "budget reached ($x of $y)" and how many cells it stopped, when the
            run's budget cap stopped any.
        judge_calls: The LLM judge's calls that got a reply (issue 13); their tokens and
            cost follow, apart from the cells' (``input_tokens``, ``cost_usd``... count
            the answers only).
        judge_input_tokens: Their prompt tokens.
        judge_output_tokens: Their replies' tokens.
        judge_cost_usd: What they cost, ``None`` when the judge model has no price.
        judge_tokens_estimated: Whether a judge count is an estimate.
    """

    total: int
    done: int
    failed: int
    cancelled: int
    wall: float
    strategy: str
    peak_in_flight: int
    failures_by_kind: dict[str, int] = field(default_factory=dict)
    cancelled_by_user: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    unpriced: int = 0
    tokens_estimated: bool = False
    budget_note: str | None = None
    judge_calls: int = 0
    judge_input_tokens: int = 0
    judge_output_tokens: int = 0
    judge_cost_usd: float | None = None
    judge_tokens_estimated: bool = False

    @property
    def ok(self) -> bool:
        """Every cell succeeded."""
        return self.done == self.total
