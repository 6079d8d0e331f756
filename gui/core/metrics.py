"""Per-cell timings and the run summary, measured on the monotonic clock."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

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
        input_tokens: Prompt tokens the provider reported, or ``None`` when it did not say.
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
    input_tokens: int | None = None
    batch: bool = False

    @property
    def total(self) -> float:
        """Queued to ended, seconds."""
        return self.ended_at - self.queued_at

    @property
    def finish_mark(self) -> str | None:
        """See :func:`finish_mark`."""
        return finish_mark(self.finish_reason)


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

    def freeze(self, ended_at: float, text: str) -> CellMetrics:
        """The final :class:`CellMetrics` for a cell that ended at ``ended_at``."""
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

    @property
    def ok(self) -> bool:
        """Every cell succeeded."""
        return self.done == self.total
