"""What a run is: input rows x columns (prompt variants x model profiles x swept parameter
values) x samples, with its strategy and limits; the one :class:`CellId` of its cells.

Everything here is a frozen dataclass so a spec can be handed between the window, the
engine and storage without anyone mutating it behind the others' backs. Limits that change
during a run go through :meth:`gui.core.runner.Run.set_limits`, which makes a new ``Limits``.
"""

from __future__ import annotations

import itertools
import math
import operator
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any, ClassVar, overload
from urllib.parse import urlparse

from gui.core.checks import Check, check_from_dict, check_to_dict, validate_checks
from gui.core.columns import (
    MAX_COLUMNS,
    PARAMETERS,
    SHORT_NAMES,
    Number,
    ParamSweep,
    Variant,
    number_text,
    repeats_problem,
    value_problem,
    variant_id,
    variants_of,
)
from gui.core.errors import SpecError, TemplateError
from gui.core.hosts import HostScope, host_scope
from gui.core.pricing import PriceEntry, PriceTable, entries_from_list, entries_to_list
from gui.core.structured import validate_schema
from gui.core.templates import (
    empty_column_message,
    missing_column_message,
    rendered_messages,
    template_variables,
)
from gui.core.text import one_line_label


class Strategy(StrEnum):
    """How the cells of a run are scheduled."""

    SYNC = "sync"
    SEQUENTIAL = "sequential"
    GATHER = "gather"
    ABATCH = "abatch"
    AS_COMPLETED = "as_completed"
    STREAM = "stream"

    @property
    def concurrent(self) -> bool:
        """Whether cells may overlap in time."""
        return self not in (Strategy.SYNC, Strategy.SEQUENTIAL)

    @property
    def streams(self) -> bool:
        """Whether text arrives token by token (``astream``) instead of at the end."""
        return self is Strategy.STREAM


class ErrorPolicy(StrEnum):
    """What one failed cell does to the rest of its run."""

    ISOLATE = "isolate"
    FAIL_FAST = "fail_fast"


class ProviderKind(StrEnum):
    """Which family of chat model a profile builds."""

    SIMULATED = "simulated"
    OPENAI = "openai"


@dataclass(frozen=True, slots=True)
class SimSettings:
    """Behaviour of the built-in simulated model: the one list of its fields and defaults.

    The simulated model (``gui.providers.simulated``), the CLI's ``--sim-*`` options and the
    model editor read their defaults, choices and the latency rule from here.

    Attributes:
        ttft: Seconds before the first token.
        tokens_per_second: Streaming pace; 0 means as fast as possible.
        output_tokens: Tokens per answer.
        jitter: Relative random variation of ttft and pace (0 = exact).
        failure_rate: Probability that a request fails.
        failure_kind: ``rate_limit``, ``server_error``, ``timeout`` or ``drop``.
        retry_after: Seconds a simulated 429 asks the client to wait.
        seed: Seed for reproducible text and failures.
    """

    ttft: float = 0.3
    tokens_per_second: float = 40.0
    output_tokens: int = 60
    jitter: float = 0.1
    failure_rate: float = 0.0
    failure_kind: str = "server_error"
    retry_after: float = 1.0
    seed: int | None = None

    #: How a simulated failure looks: HTTP 429, HTTP 503, a stall, a dropped connection.
    FAILURE_KINDS: ClassVar[tuple[str, ...]] = ("rate_limit", "server_error", "timeout", "drop")

    @classmethod
    def default(cls, name: str) -> Any:
        """The default of field ``name`` (for help texts and other layers' defaults)."""
        return cls.__dataclass_fields__[name].default

    @classmethod
    def with_latency(cls, total_s: float, **kwargs: Any) -> SimSettings:
        """Settings whose whole request (first token plus streaming) takes ``total_s``.

        The first token comes after a fifth of it (at most 0.3 s), the rest streams; 0 (or
        less) means as fast as possible.
        """
        tokens = int(kwargs.pop("output_tokens", cls.default("output_tokens")))
        if total_s <= 0:
            return cls(ttft=0.0, tokens_per_second=0.0, output_tokens=tokens, **kwargs)
        ttft = min(0.3, 0.2 * total_s)
        stream_s = max(total_s - ttft, 1e-3)
        tps = tokens / stream_s if tokens else 0.0
        return cls(ttft=ttft, tokens_per_second=tps, output_tokens=tokens, **kwargs)

    @property
    def latency(self) -> float:
        """Nominal duration of one request in seconds."""
        if self.tokens_per_second <= 0:
            return self.ttft
        return self.ttft + self.output_tokens / self.tokens_per_second


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """A model on a provider: one column of the comparison, or several when it sweeps
    parameter values or the run has prompt variants (see :func:`expand_columns`).

    Attributes:
        model: Model name sent to the provider (``gpt-4o-mini``, ``llama3.2``, ``sim-1``).
        provider: Provider family.
        label: What the column header shows; defaults to the model name.
        base_url: OpenAI-compatible endpoint (``None`` = the provider's default).
        api_key_env: Environment variable holding the API key.
        temperature: Sampling temperature, or ``None`` for the server's default.
        max_tokens: Cap on answer length, or ``None``.
        sim: Settings of the simulated model (simulated provider only).
        max_concurrency: Requests to this model in flight at once, on top of the run's own
            limit (a local server with one slot gets 1), or ``None`` for the run's limit.
        key_ref: Name of the saved profile whose API key is in the OS keyring, or ``None``.
            Only the name: the key itself never enters a profile, so it cannot reach the
            history, an export or a log.
        vision: Whether the model takes images (``image_url`` content parts); a chat refuses
            to send an image to a column whose profile says no.
        context_window: Tokens the model takes per request (its context window), or
            ``None`` when not known; a chat warns near it and can trim the oldest turns.
        top_p: Nucleus sampling (0 to 1), or ``None`` for the server's default.
        seed: The request's seed, or ``None``; for the simulated model it also seeds the
            text (as ``sim.seed`` does), so a seed sweep gives different simulated answers.
        sweep: Values this model sweeps (issue 15): each combination is a column of its
            own, with these values in place of ``temperature``, ``top_p``, ``max_tokens``
            and ``seed``.
    """

    model: str = "sim-1"
    provider: ProviderKind = ProviderKind.SIMULATED
    label: str = ""
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float | None = None
    max_tokens: int | None = None
    sim: SimSettings = field(default_factory=SimSettings)
    max_concurrency: int | None = None
    key_ref: str | None = None
    vision: bool = False
    context_window: int | None = None
    top_p: float | None = None
    seed: int | None = None
    sweep: ParamSweep = field(default_factory=ParamSweep)

    @property
    def display_name(self) -> str:
        """Column title."""
        return self.label or self.model

    def with_params(self, params: Mapping[str, Number]) -> ModelProfile:
        """This profile with ``params`` (``temperature``, ``top_p``, ``max_tokens``, ``seed``)
        set and no sweep: what one column of a sweep sends."""
        changes: dict[str, Any] = {"sweep": ParamSweep()} if not self.sweep.empty else {}
        changes.update(params)
        if "seed" in params and self.provider is ProviderKind.SIMULATED:
            # The simulated model's text seed is its request seed: a seed sweep of the
            # simulated model gives different (reproducible) answers, as a server's would.
            changes["sim"] = replace(self.sim, seed=int(params["seed"]))
        return replace(self, **changes) if changes else self

    @property
    def endpoint(self) -> tuple[object, ...]:
        """The server-side identity this profile sends to: provider, base URL, model name and
        key (by reference: the environment variable or the keyring entry, never the value).

        The columns of one profile (sweep values, prompt variants) share it, and so do two
        profiles that differ only in parameters; a server's rate limit (a 429) counts
        against this identity, so the run pauses every column that has it. The simulated
        model is its settings' own "server", whatever seed a column gives it.
        """
        base = (self.base_url or "").strip().rstrip("/")
        if base:
            parts = urlparse(base)
            # Scheme and host are case-insensitive; the path is not.
            base = parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()).geturl()
        sim = replace(self.sim, seed=None) if self.provider is ProviderKind.SIMULATED else None
        return (str(self.provider), base, self.model.strip(), self.api_key_env, self.key_ref, sim)

    @property
    def provider_name(self) -> str:
        """Provider as named in error messages."""
        if self.provider is ProviderKind.SIMULATED:
            return f"Simulated model {self.model}"
        host = urlparse(self.base_url).netloc if self.base_url else "api.openai.com"
        return f"{self.model} at {host}"

    def validate(self) -> None:
        """Raise :class:`SpecError` for a profile that cannot work."""
        if not self.model.strip():
            raise SpecError("Model name is empty. Give each model a name, e.g. gpt-4o-mini.")
        if self.base_url is not None:
            base_url_problem = _base_url_problem(self.base_url)
            if base_url_problem:
                raise SpecError(base_url_problem)
        if self.temperature is not None and not 0 <= self.temperature <= 2:
            raise SpecError(f"Temperature {self.temperature:g} is outside 0..2.")
        if self.max_tokens is not None and self.max_tokens <= 0:
            raise SpecError("Max tokens must be a positive number.")
        if self.top_p is not None and not 0 <= self.top_p <= 1:
            raise SpecError(f"top_p {self.top_p:g} is outside 0..1.")
        if self.seed is not None and (problem := value_problem("seed", self.seed)):
            raise SpecError(problem)
        self.sweep.validate(self.display_name)
        if self.context_window is not None and self.context_window <= 0:
            raise SpecError("The context window must be a positive number of tokens.")
        if self.max_concurrency is not None:
            _check_range(
                f"{self.display_name}: max concurrency",
                self.max_concurrency,
                Limits.MAX_CONCURRENCY_RANGE,
            )


@dataclass(frozen=True, slots=True)
class Limits:
    """Concurrency limits of a run; all may change while it runs.

    A request has three timeouts, as HTTP clients split them, so that a slow local model
    writing a long answer is never cut while it is still writing: the first-token timeout
    bounds the wait for the first text (connecting included), the idle timeout the longest
    gap between two pieces of text, and the optional total timeout the whole request.

    Attributes:
        max_concurrency: Cells in flight at once.
        requests_per_second: Start rate cap, or ``None`` for no cap.
        ttft_timeout: Seconds from the request to its first text, or ``None`` for no limit.
            A whole-answer call (no streaming) gets its answer as its first text.
        idle_timeout: Longest gap between two streamed chunks of text in seconds, or ``None``.
        total_timeout: Seconds for one whole request, stream included, or ``None`` (default).
        retries: Extra attempts after a retryable failure.
        backoff_base: First back-off delay in seconds (doubles per attempt, with jitter).
        backoff_max: Longest back-off delay and longest ``Retry-After`` honoured.
        error_policy: ``isolate`` or ``fail_fast``.
        max_answer_chars: Longest answer kept, in characters; a longer one is cut there and
            its cell fails with "answer too large" (memory stays bounded whatever a server sends).
        budget_usd: The run's cost cap in US dollars, or ``None`` for none: no new cell
            starts when what was spent plus the worst case of the cells in flight and its
            own would pass it (see :mod:`gui.core.budget`).
        cache: Answer cells from the response cache when an earlier run got the same messages
            from the same model, server and parameters (opt-in; see :mod:`gui.core.caching`).
    """

    max_concurrency: int = 8
    requests_per_second: float | None = None
    ttft_timeout: float | None = 120.0
    idle_timeout: float | None = 60.0
    total_timeout: float | None = None
    retries: int = 2
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    error_policy: ErrorPolicy = ErrorPolicy.ISOLATE
    max_answer_chars: int = 2_000_000
    budget_usd: float | None = None
    cache: bool = False

    #: Accepted ranges, shown to users when a value is refused.
    MAX_CONCURRENCY_RANGE = (1, 1000)
    RPS_RANGE = (0.01, 10_000.0)
    TIMEOUT_RANGE = (0.05, 3600.0)
    TOTAL_TIMEOUT_RANGE = (0.05, 86_400.0)
    RETRIES_RANGE = (0, 10)
    ANSWER_CHARS_RANGE = (1_000, 1_000_000_000)

    @property
    def timeout(self) -> float | None:
        """One bound for a whole request, where only one fits (a blocking call, generated code).

        The total timeout when set, else the first-token timeout: a whole answer is the first
        text such a call gets.
        """
        return self.total_timeout if self.total_timeout is not None else self.ttft_timeout

    def validate(self) -> None:
        """Raise :class:`SpecError` naming the accepted range of any absurd value."""
        _check_range("Max concurrency", self.max_concurrency, self.MAX_CONCURRENCY_RANGE)
        if self.requests_per_second is not None:
            _check_range("Requests per second", self.requests_per_second, self.RPS_RANGE)
        if self.ttft_timeout is not None:
            _check_range("First-token timeout", self.ttft_timeout, self.TIMEOUT_RANGE)
        if self.idle_timeout is not None:
            _check_range("Idle timeout", self.idle_timeout, self.TIMEOUT_RANGE)
        if self.total_timeout is not None:
            _check_range("Total timeout", self.total_timeout, self.TOTAL_TIMEOUT_RANGE)
        _check_range("Retries", self.retries, self.RETRIES_RANGE)
        _check_range("Answer size cap", self.max_answer_chars, self.ANSWER_CHARS_RANGE)
        if not (self.backoff_base >= 0 and self.backoff_max >= 0):
            raise SpecError("Back-off delays must not be negative.")
        _check_budget(self.budget_usd)

    def changed(self, **changes: Any) -> Limits:
        """A validated copy with ``changes`` applied.

        ``timeout=S`` is accepted as the older single timeout: it sets both the first-token
        and the idle timeout (as the command line's ``--timeout`` does).
        """
        if "error_policy" in changes:
            changes["error_policy"] = ErrorPolicy(changes["error_policy"])
        if "timeout" in changes:
            seconds = changes.pop("timeout")
            changes.setdefault("ttft_timeout", seconds)
            changes.setdefault("idle_timeout", seconds)
        new = replace(self, **changes)
        new.validate()
        return new


def _check_budget(budget: float | None) -> None:
    """Refuse a budget cap of 0 or below (or not a number), with the fix."""
    if budget is not None and not (math.isfinite(budget) and budget > 0):
        raise SpecError(
            f"A budget of ${plain_number(budget)} stops every cell: give more than 0 dollars, "
            "or no budget."
        )


def _base_url_problem(base_url: str) -> str | None:
    """Why ``base_url`` cannot reach an OpenAI-compatible server, with the fix; or ``None``."""
    shown = one_line_label(base_url, 80)
    if not base_url.strip():
        return "Base URL is empty. Leave it out for api.openai.com, or use e.g. http://localhost:11434/v1."
    if any(c.isspace() for c in base_url):
        return f"Base URL {shown!r} contains a space. Remove it (e.g. http://localhost:11434/v1)."
    if "://" not in base_url:
        # "localhost:11434/v1" parses with scheme "localhost": say what was meant instead.
        host = base_url.split("/", 1)[0].rsplit("@", 1)[-1].split(":", 1)[0].lower()
        scheme = "http" if host_scope(host) is not HostScope.INTERNET else "https"
        return (
            f"Base URL {shown!r} is not an http(s) URL: it has no scheme. "
            f"Write {scheme}://{base_url}."
        )
    url = urlparse(base_url)
    if url.scheme not in ("http", "https"):
        return (
            f"Base URL {shown!r} is not an http(s) URL. "
            "Start it with http:// or https://, e.g. http://localhost:11434/v1."
        )
    if not url.hostname:
        return f"Base URL {shown!r} has no host name. Use e.g. http://localhost:11434/v1."
    try:
        url.port  # noqa: B018 (raises for a port that is not a number or out of range)
    except ValueError:
        return f"Base URL {shown!r} has an invalid port. Use a number from 1 to 65535."
    return None


def range_problem(name: str, value: float, bounds: tuple[float, float]) -> str | None:
    """The one-line reason ``value`` is outside ``bounds`` (naming the range), or ``None``."""
    lo, hi = bounds
    if (isinstance(value, float) and not math.isfinite(value)) or not lo <= value <= hi:
        return f"{name} {plain_number(value)} is out of range: use {plain_number(lo)} to {plain_number(hi)}."
    return None


def plain_number(value: float) -> str:
    """``value`` as a user writes it: whole numbers in full (``1000000000``, not ``1e+09``)."""
    if isinstance(value, int) or (math.isfinite(value) and float(value).is_integer()):
        if abs(value) < 1e15:
            return str(int(value))
    return f"{value:g}"


def _check_range(name: str, value: float, bounds: tuple[float, float]) -> None:
    problem = range_problem(name, value, bounds)
    if problem:
        raise SpecError(problem)


# ------------------------------------------------------------------ columns (issue 15)


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a run's grid.

    Attributes:
        index: Position among the run's columns (the ``m`` of a cell id).
        variant: Index of the prompt variant (into the spec's variants).
        variant_id: The variant's letter, or ``""`` when the run has one variant.
        model_index: Index of the model profile (into the spec's models).
        model: The profile the column's cells send: the run's profile with this column's
            parameter values set (and its sweep lists cleared).
        params: The swept parameters' values of this column, in :data:`PARAMETERS` order.
    """

    index: int
    variant: int
    variant_id: str
    model_index: int
    model: ModelProfile
    params: tuple[tuple[str, Number], ...] = ()

    @property
    def header(self) -> str:
        """The column's title: ``model · t=0.7``, ``B · model`` when the run has variants."""
        parts = [self.variant_id] if self.variant_id else []
        parts.append(self.model.display_name)
        parts += [f"{SHORT_NAMES[n]}={number_text(v)}" for n, v in self.params]
        return " · ".join(parts)

    def parameters(self) -> dict[str, Number]:
        """Every parameter value the column's requests set (swept or not)."""
        out: dict[str, Number] = {}
        for name in PARAMETERS:
            value = getattr(self.model, name)
            if value is not None:
                out[name] = value
        return out

    def identity(self) -> dict[str, Any]:
        """The column as plain data: template id, model and parameters (``--json``, exports)."""
        return {
            "index": self.index,
            "template": self.variant_id or "A",
            "model": self.model.display_name,
            "parameters": self.parameters(),
            "header": self.header,
        }


def plain_columns(models: Sequence[ModelProfile]) -> tuple[Column, ...]:
    """One column per profile, one variant, nothing swept (a chat turn, a plain run)."""
    return tuple(Column(i, 0, "", i, m) for i, m in enumerate(models))


def expand_columns(n_variants: int, models: Sequence[ModelProfile]) -> tuple[Column, ...]:
    """The run's columns: for each variant, for each model, each of its sweep's combinations.

    A run with one variant and no sweep has exactly one column per model, in order, so its
    cell ids are the ones it always had.
    """
    columns: list[Column] = []
    tagged = n_variants > 1
    for variant in range(n_variants):
        tag = variant_id(variant) if tagged else ""
        for m, profile in enumerate(models):
            swept = profile.sweep.swept()
            for combo in profile.sweep.combinations():
                model = profile.with_params(dict(combo))
                shown = tuple((n, v) for n, v in combo if n in swept)
                columns.append(Column(len(columns), variant, tag, m, model, shown))
    return tuple(columns)


# ------------------------------------------------------------------ cells


_CELL_ID = re.compile(r"r(\d+)m(\d+)(?:s(\d+))?")


@dataclass(frozen=True, slots=True, order=True)
class CellId:
    """Where a cell sits in its run: input row, column and sample (all 0-based).

    Cell ids travel as text (events, the history, the grid): :meth:`text` makes one
    (``CellId.text(2, 1) == "r2m1" == str(CellId(2, 1))``, ``CellId.text(2, 1, 3) ==
    "r2m1s3"``) and :meth:`parse` reads it back. Nothing else formats or parses them. The
    first sample of a cell has no ``s`` part, so a run of one sample per cell has the ids it
    always had and older history opens unchanged.

    Attributes:
        row: Input row index.
        col: Column index (a variant x model x parameter values; see
            :mod:`gui.core.columns`).
        sample: Sample index among the cell's repeats (0 for the first or only one).
    """

    row: int
    col: int
    sample: int = 0

    @staticmethod
    def text(row: int, col: int, sample: int = 0) -> str:
        """The id of the cell at ``row``, ``col`` (and ``sample``), as text (no object made:
        runs have 100k)."""
        return f"r{row}m{col}s{sample}" if sample else f"r{row}m{col}"

    def __str__(self) -> str:
        return CellId.text(self.row, self.col, self.sample)

    @classmethod
    def parse(cls, text: str) -> CellId:
        """The id :meth:`__str__` wrote.

        Raises:
            ValueError: ``text`` is not a cell id.
        """
        match = _CELL_ID.fullmatch(text)
        if match is None:
            raise ValueError(f"{text!r} is not a cell id (r<row>m<column>[s<sample>])")
        return cls(int(match[1]), int(match[2]), int(match[3] or 0))

    @property
    def first_sample(self) -> str:
        """The id of this cell's first sample (the grid's pane for all its samples)."""
        return CellId.text(self.row, self.col)

    @classmethod
    def grid(cls, rows: int, cols: int) -> list[list[str]]:
        """Every cell id of a ``rows`` x ``cols`` grid (first samples), row by row, as text."""
        # CellId.text's format, built column by column in C (map over the row prefixes):
        # 20,000 calls of CellId.text showed at a big run's start.
        prefixes = list(map("r{}m".format, range(rows)))
        columns = [list(map(operator.add, prefixes, itertools.repeat(str(c)))) for c in range(cols)]
        if not columns:
            return [[] for _ in range(rows)]
        return list(map(list, zip(*columns, strict=True)))


@dataclass(frozen=True, slots=True)
class Cell:
    """One (input row, column, sample): one request, one pane (or one sample of it) in the grid.

    Attributes:
        id: Stable id within the run, ``CellId.text(row, col, sample)``.
        index: Position in the run's cell list (row-major, samples of a cell together).
        row: Index of the input row.
        col: Index of the column.
        inputs: Variable values for the template.
        model: The column's model profile (its parameter values set).
        repeated: Another row of the run has the same values, so the title carries the
            row number to tell the two apart.
        sample: Which of the cell's samples (0-based).
        samples: How many samples the cell has (the run's repeats).
        column: The column (variant, model, parameter values), or ``None`` for a plain one.
    """

    id: str
    index: int
    row: int
    col: int
    inputs: Mapping[str, str]
    model: ModelProfile
    repeated: bool = False
    sample: int = 0
    samples: int = 1
    column: Column | None = None

    @property
    def header(self) -> str:
        """The column's title (``model · t=0.7``, ``B · model``)."""
        return self.column.header if self.column is not None else self.model.display_name

    @property
    def title(self) -> str:
        """Short human label: the row's values (and its number if repeated), the column and,
        for a repeated cell, the sample."""
        values = " / ".join(str(v) for v in self.inputs.values()) or "prompt"
        tag = f" (row {self.row + 1})" if self.repeated else ""
        sample = f" · sample {self.sample + 1} of {self.samples}" if self.samples > 1 else ""
        return f"{one_line_label(values)}{tag} × {self.header}{sample}"


class CellList(Sequence[Cell]):
    """A run's cells, row-major (every column for row 0, then row 1, ...; the samples of a
    cell next to each other), made on first use.

    A run of 10,000 rows x 2 models has 20,000 cells; building them all when the run is
    created took about 45 ms on the GUI thread at the press of Run (docs/performance-notes.md),
    and most of them are only needed much later, when their turn comes. A cell is made from its
    index when first asked for and kept, so every caller sees the same object. Which rows are
    repeated (:attr:`Cell.repeated`) is worked out once, on the first cell made.

    Lookups by id parse it (:meth:`CellId.parse`) instead of holding a 20,000-entry dict. Safe
    to read from another thread (the history writer does): making a cell twice at once only
    makes an equal cell twice.

    Args:
        rows: The run's input rows.
        models: The run's columns (:class:`~gui.core.columns.Column`), or plain model
            profiles, one column each.
        samples: Samples per cell (the run's repeats).
    """

    __slots__ = ("_columns", "_made", "_n_models", "_repeated", "_rows", "_samples")

    def __init__(
        self,
        rows: Sequence[Mapping[str, str]],
        models: Sequence[ModelProfile] | Sequence[Column],
        samples: int = 1,
    ) -> None:
        self._rows = rows
        self._columns: tuple[Column, ...] = (
            tuple(c for c in models if isinstance(c, Column))
            if models and isinstance(models[0], Column)
            else plain_columns([m for m in models if isinstance(m, ModelProfile)])
        )
        self._n_models = len(self._columns)
        self._samples = max(1, samples)
        self._made: list[Cell | None] = [None] * (len(rows) * self._n_models * self._samples)
        self._repeated: frozenset[int] | None = None

    def __len__(self) -> int:
        return len(self._made)

    @overload
    def __getitem__(self, index: int) -> Cell: ...

    @overload
    def __getitem__(self, index: slice) -> list[Cell]: ...

    def __getitem__(self, index: int | slice) -> Cell | list[Cell]:
        if isinstance(index, slice):
            return [self._cell(i) for i in range(*index.indices(len(self._made)))]
        if index < 0:
            index += len(self._made)
        if not 0 <= index < len(self._made):
            raise IndexError("cell index out of range")
        return self._cell(index)

    def __iter__(self) -> Iterator[Cell]:
        cell = self._cell
        for index in range(len(self._made)):
            yield cell(index)

    def __repr__(self) -> str:
        samples = f" x {self._samples} samples" if self._samples > 1 else ""
        return f"CellList({len(self._rows)} rows x {self._n_models} columns{samples})"

    @property
    def samples(self) -> int:
        """Samples per cell."""
        return self._samples

    @property
    def columns(self) -> tuple[Column, ...]:
        """The run's columns."""
        return self._columns

    def index_of(self, cell_id: str) -> int | None:
        """Position of ``cell_id`` in the list, or ``None`` if the run has no such cell."""
        match = _CELL_ID.fullmatch(cell_id)
        if match is None:
            return None
        row, col, sample = int(match[1]), int(match[2]), int(match[3] or 0)
        # A valid id is written exactly as CellId.text writes it (no "r01m0", no "r0m0s0").
        if (
            col >= self._n_models
            or row >= len(self._rows)
            or sample >= self._samples
            or CellId.text(row, col, sample) != cell_id
        ):
            return None
        return (row * self._n_models + col) * self._samples + sample

    def get(self, cell_id: str) -> Cell | None:
        """The cell ``cell_id``, or ``None`` if the run has no such cell."""
        index = self.index_of(cell_id)
        return None if index is None else self._cell(index)

    def ids(self) -> CellIds:
        """Every cell id, in order, as a set-like view (no cell is made)."""
        return CellIds(self)

    def _cell(self, index: int) -> Cell:
        made = self._made[index]
        if made is not None:
            return made
        repeated = self._repeated
        if repeated is None:
            repeated = self._repeated = _repeated_rows(self._rows)
        position, sample = divmod(index, self._samples)
        row, col = divmod(position, self._n_models)
        column = self._columns[col]
        cell = Cell(
            CellId.text(row, col, sample),
            index,
            row,
            col,
            self._row_inputs(row),
            column.model,
            row in repeated,
            sample,
            self._samples,
            column,
        )
        self._made[index] = cell
        return cell

    def _row_inputs(self, row: int) -> Mapping[str, str]:
        """One copy of a row's values shared by its cells (nobody mutates it)."""
        per_row = self._n_models * self._samples
        for index in range(row * per_row, (row + 1) * per_row):
            made = self._made[index]
            if made is not None:
                return made.inputs
        return dict(self._rows[row])


class CellIds(Set[str]):
    """The ids of a :class:`CellList`, in order; membership parses the id (no set is built)."""

    __slots__ = ("_cells",)

    def __init__(self, cells: CellList) -> None:
        self._cells = cells

    def __contains__(self, cell_id: object) -> bool:
        return isinstance(cell_id, str) and self._cells.index_of(cell_id) is not None

    def __iter__(self) -> Iterator[str]:
        n_models = self._cells._n_models
        samples = self._cells._samples
        text = CellId.text
        if samples == 1:
            for index in range(len(self._cells)):
                yield text(*divmod(index, n_models))
            return
        for index in range(len(self._cells)):
            position, sample = divmod(index, samples)
            row, col = divmod(position, n_models)
            yield text(row, col, sample)

    def __len__(self) -> int:
        return len(self._cells)


def _repeated_rows(rows: Sequence[Mapping[str, str]]) -> frozenset[int]:
    """Indexes of rows whose values equal another row's (both run; titles number them)."""
    # Read at a big run's first cell, on the GUI thread: rows of text (the usual case) are
    # keyed by their items as they are, in C; others by their values as text (1 == "1").
    keys: list[tuple[tuple[str, object], ...]] = [tuple(row.items()) for row in rows]
    if set(map(type, itertools.chain.from_iterable(row.values() for row in rows))) - {str}:
        keys = [tuple(zip(row.keys(), map(str, row.values()), strict=True)) for row in rows]
    counts = Counter(keys)
    if len(counts) == len(keys):
        return frozenset()
    return frozenset(r for r, key in enumerate(keys) if counts[key] > 1)


#: Most input rows a run takes: beyond this the grid is no comparison any more (and Qt's
#: widget size limit would cut the grid off at ~76,000 rows of 220 px).
MAX_ROWS = 50_000


@dataclass(frozen=True, slots=True)
class RunSpec:
    """A whole run: the plan the engine executes.

    Attributes:
        template: Prompt template text with ``{variables}``.
        rows: Input rows, each mapping variable name to value.
        models: Model profiles, one column each.
        strategy: Scheduling strategy.
        limits: Limits at start.
        system: Optional system message placed before the template.
        checks: Deterministic checks evaluated on every done cell's answer.
        judge: The LLM judge of the answers (``gui.core.judging``), or ``None``.
        threads: A chat turn (``gui.core.chat_turn``): per model column, the whole message
            list it sends (system, earlier turns, the new user message), instead of the
            template; the run then has one row, ``{}``. ``None`` for an ordinary run.
        context: A chat message run over inputs (``gui.core.chat.run_context``): per model
            column, the ``(role, text)`` messages sent before the template (that column's
            system message and earlier turns); the template is then the user turn after
            them. ``None`` for an ordinary run.
        template_variants: More prompt templates (variants B, C, ... after ``template``);
            each variant is a column group of its own.
        system_variants: More system messages (after ``system``); every template is
            paired with every system message, so 2 templates x 2 systems are 4 variants.
        repeats: Samples per cell (1-20); the samples of a cell run concurrently under the
            same limits.
        prices: The price table entries the run costs its cells with (the user's table
            when it started, ``--price`` on top); see :class:`gui.core.pricing.PriceTable`.
        json_schema: The JSON schema every answer must follow (structured output, see
            :mod:`gui.core.structured`), or ``None`` for free text.
    """

    template: str
    rows: tuple[Mapping[str, str], ...]
    models: tuple[ModelProfile, ...]
    strategy: Strategy = Strategy.STREAM
    limits: Limits = field(default_factory=Limits)
    system: str | None = None
    checks: tuple[Check, ...] = ()
    judge: JudgeSettings | None = None
    threads: tuple[tuple[tuple[str, Any], ...], ...] | None = None
    context: tuple[tuple[tuple[str, str], ...], ...] | None = None
    template_variants: tuple[str, ...] = ()
    system_variants: tuple[str, ...] = ()
    repeats: int = 1
    _columns: tuple[Column, ...] = field(init=False, repr=False, compare=False)
    _variants: tuple[Variant, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Worked out once: every cell, header and export reads them (a frozen spec cannot
        # change them later).
        variants = variants_of(
            (self.template, *self.template_variants),
            (self.system, *self.system_variants),
        )
        object.__setattr__(self, "_variants", variants)
        columns = (
            plain_columns(self.models)
            if self.threads is not None
            else expand_columns(len(variants), self.models)
        )
        object.__setattr__(self, "_columns", columns)

    @property
    def variants(self) -> tuple[Variant, ...]:
        """The prompt variants: every template with every system message (A, B, ...)."""
        return self._variants

    @property
    def columns(self) -> tuple[Column, ...]:
        """The grid's columns: variants x models x each model's sweep values."""
        return self._columns

    @property
    def headers(self) -> list[str]:
        """The columns' titles, in order (``model · t=0.7``, ``B · model``)."""
        return [c.header for c in self._columns]

    def variant_of(self, col: int) -> Variant:
        """The prompt variant column ``col`` sends."""
        return self._variants[self._columns[col].variant]

    prices: tuple[PriceEntry, ...] = ()

    @property
    def price_table(self) -> PriceTable:
        """The run's prices as a table (made on each call: keep the result)."""
        return PriceTable(self.prices)

    json_schema: Mapping[str, Any] | None = None

    @property
    def variables(self) -> list[str]:
        """The templates' variables, in order of first use (none for a chat turn, which
        sends its threads)."""
        if self.threads is not None:
            return []
        if not self.template_variants:
            return template_variables(self.template)
        seen: dict[str, None] = {}
        for template in (self.template, *self.template_variants):
            seen.update(dict.fromkeys(template_variables(template)))
        return list(seen)

    def validate(self) -> None:
        """Check the whole plan before the first request goes out.

        Raises:
            TemplateError: the template is malformed or the rows do not fill it (a variable
                without a column, or a column empty in every row).
            SpecError: no models, no rows, too many rows, or a bad profile or limit.
            CheckError: a check that cannot work (a :class:`SpecError`).
        """
        if self.threads is not None and len(self.threads) != len(self.models):
            raise SpecError("A chat turn needs one message list per model column.")
        if self.context is not None and len(self.context) != len(self.models):
            raise SpecError("A run with a chat's context needs one thread per model column.")
        self._validate_columns()
        variables = self.variables
        if self.checks:
            validate_checks(self.checks, variables)
        if not self.models:
            raise SpecError("No model selected. Add at least one model.")
        for profile in self.models:
            profile.validate()
        for entry in self.prices:
            entry.validate()
        self.limits.validate()
        if self.judge is not None:
            self.judge.validate()
        if self.json_schema is not None:
            validate_schema(self.json_schema)
        if not self.rows:
            raise SpecError("No inputs. Add at least one row (or one --topic).")
        if len(self.rows) > MAX_ROWS:
            raise SpecError(
                f"{len(self.rows):,} input rows; a run takes at most {MAX_ROWS:,}. "
                "Split the inputs into several runs."
            )
        if variables:
            columns: dict[str, None] = {}
            # Rows mostly share one set of keys: a set of key views is built in C.
            for keys in set(map(tuple, self.rows)):
                columns.update(dict.fromkeys(keys))
            missing = [v for v in variables if v not in columns]
            if missing:
                raise TemplateError(missing_column_message(missing[0], list(columns)))
            for v in variables:
                if not any(str(row.get(v, "")).strip() for row in self.rows):
                    raise TemplateError(empty_column_message(v, variables, self.rows))

    def _validate_columns(self) -> None:
        """Refuse an empty variant, a repeat count or a column count out of range."""
        for i, template in enumerate(self.template_variants, start=1):
            if not template.strip():
                raise SpecError(
                    f"Prompt variant {variant_id(i)} is empty. Write its prompt or remove it."
                )
        if self.system_variants and not (self.system or "").strip():
            raise SpecError("System message A is empty. Write it or remove the other variants.")
        for i, system in enumerate(self.system_variants, start=1):
            if not system.strip():
                raise SpecError(f"System message {variant_id(i)} is empty. Write it or remove it.")
        problem = repeats_problem(self.repeats)
        if problem:
            raise SpecError(problem)
        if len(self._columns) > MAX_COLUMNS:
            raise SpecError(
                f"{len(self._columns)} columns (variants x models x sweep values); a run "
                f"takes at most {MAX_COLUMNS}. Sweep fewer values."
            )
        for variant in self._variants[1:]:
            template_variables(variant.template)  # a malformed variant raises TemplateError

    def messages(self, cell_id: str) -> list[tuple[str, str]]:
        """The ``(role, text)`` messages the cell ``cell_id`` sends (every column of a row
        with the same variant gets the same ones); ``[]`` for an id outside this run.

        The same template and system message the providers build their prompt from
        (:func:`~gui.core.templates.prompt_messages`), filled with the row's values.
        """
        try:
            parsed = CellId.parse(cell_id)
        except ValueError:
            return []
        row, col = parsed.row, parsed.col
        if not 0 <= row < len(self.rows):
            return []
        if self.threads is not None:
            if not 0 <= col < len(self.threads):
                return []
            return [(role, _plain_text(content)) for role, content in self.threads[col]]
        if not 0 <= col < len(self._columns):
            col = 0  # an id from older code that knew no columns: the first variant's text
        variant = self.variant_of(col) if self._columns else self._variants[0]
        rendered = rendered_messages(variant.template, variant.system, self.rows[row])
        context = self.context_of(col)
        if context:  # the chat's thread goes between the system message and the template
            at = 1 if variant.system else 0
            rendered[at:at] = list(context)
        return rendered

    def context_of(self, col: int) -> tuple[tuple[str, str], ...]:
        """The messages column ``col`` sends before the template (``()``: none): its model's
        chat thread, whatever variant or sweep value the column has."""
        if self.context is None or not 0 <= col < len(self._columns):
            return ()
        model = self._columns[col].model_index
        return self.context[model] if 0 <= model < len(self.context) else ()

    def cell_list(self) -> CellList:
        """The run's cells as a :class:`CellList` (each made when first needed)."""
        return CellList(self.rows, self._columns, self.repeats)

    def cells(self) -> list[Cell]:
        """The run's cells, row-major: every column for row 0 (each column's samples
        together), then row 1, ...

        Rows with the same values as another row are kept (both run) and marked
        :attr:`Cell.repeated`, so their titles carry the row number. A run keeps them as a
        :class:`CellList`, which makes each only when it is needed.
        """
        return list(self.cell_list())


def _plain_text(content: Any) -> str:
    """A chat message's text: itself, or the text parts of a content-part list."""
    if isinstance(content, str):
        return content
    return "".join(
        str(p.get("text", "")) if p.get("type") == "text" else "[image]"
        for p in content
        if isinstance(p, Mapping)
    )


def rows_from_topics(topics: Iterable[str], variable: str = "topic") -> tuple[dict[str, str], ...]:
    """Rows for a plain list of topics filling one variable (``{topic}`` by default)."""
    return tuple({variable: t} for t in topics)


def make_spec(
    template: str,
    inputs: Sequence[Mapping[str, str]] | Sequence[str],
    models: Sequence[ModelProfile],
    strategy: Strategy | str = Strategy.STREAM,
    limits: Limits | None = None,
    *,
    system: str | None = None,
    template_variants: Sequence[str] = (),
    system_variants: Sequence[str] = (),
    repeats: int = 1,
) -> RunSpec:
    """Build and validate a spec; plain strings fill the template's single variable.

    A template without variables makes one row (plain prompting) whatever ``inputs`` holds.
    The keyword arguments are the run's prompt variants and repeats (see :class:`RunSpec`);
    the variables of every variant count.
    """
    variables = template_variables(template)
    for other in template_variants:
        if other.strip():
            variables += [v for v in template_variables(other) if v not in variables]
    rows: tuple[Mapping[str, str], ...]
    if not variables:
        rows = ({},)
    elif inputs and all(isinstance(i, str) for i in inputs):
        if len(variables) > 1:
            names = " and ".join(f"{{{v}}}" for v in variables)
            raise TemplateError(
                f"A plain list of inputs fills one variable, but the template uses {names}. "
                "Give rows with a column for each (a CSV or JSON Lines file)."
            )
        rows = rows_from_topics((str(i) for i in inputs), variables[0])
    else:
        rows = tuple(dict(r) for r in inputs if not isinstance(r, str))
    spec = RunSpec(
        template,
        rows,
        tuple(models),
        Strategy(strategy),
        limits or Limits(),
        system=system,
        template_variants=tuple(template_variants),
        system_variants=tuple(system_variants),
        repeats=repeats,
    )
    spec.validate()
    return spec


# ------------------------------------------------------------------ plain-data round trips
#
# For the history database, exports and saved profiles: JSON-ready dicts that read back into
# the same frozen objects. Readers ignore keys they do not know and default the ones that are
# missing, so data written by an older or newer version still loads.


def _known(cls: Any, data: Mapping[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}  # not __dataclass_fields__: it lists ClassVars
    return {k: v for k, v in data.items() if k in names}


def profile_to_dict(profile: ModelProfile) -> dict[str, Any]:
    """``profile`` as plain data (it holds no secret: see :attr:`ModelProfile.key_ref`)."""
    return {
        "model": profile.model,
        "provider": str(profile.provider),
        "label": profile.label,
        "base_url": profile.base_url,
        "api_key_env": profile.api_key_env,
        "temperature": profile.temperature,
        "max_tokens": profile.max_tokens,
        "max_concurrency": profile.max_concurrency,
        "key_ref": profile.key_ref,
        "vision": profile.vision,
        "context_window": profile.context_window,
        "sim": {f.name: getattr(profile.sim, f.name) for f in fields(SimSettings)},
        **_sampling_to_dict(profile),
    }


def _sampling_to_dict(profile: ModelProfile) -> dict[str, Any]:
    """``top_p``, ``seed`` and the sweep lists (issue 15), only when set: older readers
    see nothing new."""
    out: dict[str, Any] = {}
    if profile.top_p is not None:
        out["top_p"] = profile.top_p
    if profile.seed is not None:
        out["seed"] = profile.seed
    if not profile.sweep.empty:
        out["sweep"] = profile.sweep.to_dict()
    return out


def profile_from_dict(data: Mapping[str, Any]) -> ModelProfile:
    """The profile :func:`profile_to_dict` wrote."""
    fields = _known(ModelProfile, data)
    fields["provider"] = ProviderKind(fields.get("provider", ProviderKind.SIMULATED))
    fields["sim"] = SimSettings(**_known(SimSettings, data.get("sim") or {}))
    fields["sweep"] = ParamSweep.from_dict(data.get("sweep"))
    return ModelProfile(**fields)


def limits_to_dict(limits: Limits) -> dict[str, Any]:
    """``limits`` as plain data."""
    out = {f: getattr(limits, f) for f in Limits.__dataclass_fields__}
    out["error_policy"] = str(limits.error_policy)
    return out


def limits_from_dict(data: Mapping[str, Any]) -> Limits:
    """The limits :func:`limits_to_dict` wrote."""
    fields = _known(Limits, data)
    if "timeout" in data:  # written before the timeout was split in three
        fields.setdefault("ttft_timeout", data["timeout"])
        fields.setdefault("idle_timeout", data["timeout"])
    if "error_policy" in fields:
        fields["error_policy"] = ErrorPolicy(fields["error_policy"])
    return Limits(**fields)


def spec_to_dict(spec: RunSpec) -> dict[str, Any]:
    """``spec`` as plain data: template, rows, models, strategy, limits, system message."""
    data = {
        "template": spec.template,
        "system": spec.system,
        "rows": [dict(r) for r in spec.rows],
        "models": [profile_to_dict(m) for m in spec.models],
        "strategy": str(spec.strategy),
        "limits": limits_to_dict(spec.limits),
        **checks_to_dict(spec),
    }
    _judge_to_dict(spec, data)
    if spec.context is not None:
        data["context"] = [[[role, text] for role, text in thread] for thread in spec.context]
    _columns_to_dict(spec, data)
    _prices_to_dict(spec, data)
    _schema_to_dict(spec, data)
    return data


def _context_from_dict(data: Mapping[str, Any]) -> tuple[tuple[tuple[str, str], ...], ...] | None:
    """The per-column context :func:`spec_to_dict` wrote, or ``None``."""
    raw = data.get("context")
    if not isinstance(raw, list):
        return None
    return tuple(
        tuple((str(m[0]), str(m[1])) for m in thread if isinstance(m, list | tuple) and len(m) == 2)
        for thread in raw
        if isinstance(thread, list)
    )


def _columns_to_dict(spec: RunSpec, data: dict[str, Any]) -> None:
    """Add the prompt variants and repeats (issue 15), when the run has them."""
    if spec.template_variants:
        data["template_variants"] = list(spec.template_variants)
    if spec.system_variants:
        data["system_variants"] = list(spec.system_variants)
    if spec.repeats != 1:
        data["repeats"] = spec.repeats


def _columns_from_dict(data: Mapping[str, Any]) -> dict[str, Any]:
    """The ``RunSpec`` fields :func:`_columns_to_dict` wrote (none for an older run)."""
    out: dict[str, Any] = {}
    templates = data.get("template_variants")
    if isinstance(templates, list):
        out["template_variants"] = tuple(str(t) for t in templates)
    systems = data.get("system_variants")
    if isinstance(systems, list):
        out["system_variants"] = tuple(str(t) for t in systems)
    repeats = data.get("repeats")
    if isinstance(repeats, int) and not isinstance(repeats, bool) and repeats >= 1:
        out["repeats"] = repeats
    return out


def _prices_to_dict(spec: RunSpec, data: dict[str, Any]) -> None:
    """Add the run's price entries (issue 15), when it has any."""
    if spec.prices:
        data["prices"] = entries_to_list(spec.prices)


def _schema_to_dict(spec: RunSpec, data: dict[str, Any]) -> None:
    """Add the run's JSON schema (issue 15's structured output), when it has one."""
    if spec.json_schema is not None:
        data["json_schema"] = dict(spec.json_schema)


def _schema_from_dict(data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The JSON schema :func:`_schema_to_dict` wrote, or ``None``."""
    schema = data.get("json_schema")
    return dict(schema) if isinstance(schema, Mapping) else None


def _judge_to_dict(spec: RunSpec, data: dict[str, Any]) -> None:
    """Add the judge's settings (issue 13), when the run has a judge."""
    if spec.judge is not None:
        data["judge"] = judge_to_dict(spec.judge)


def _judge_from_dict(data: Mapping[str, Any]) -> JudgeSettings | None:
    """The judge's settings :func:`_judge_to_dict` wrote, or ``None``."""
    return judge_from_dict(data.get("judge"))


def spec_from_dict(data: Mapping[str, Any]) -> RunSpec:
    """The spec :func:`spec_to_dict` wrote (not validated: history keeps what ran)."""
    return RunSpec(
        template=str(data.get("template", "")),
        rows=tuple({str(k): str(v) for k, v in r.items()} for r in data.get("rows", ())),
        models=tuple(profile_from_dict(m) for m in data.get("models", ())),
        strategy=Strategy(data.get("strategy", Strategy.STREAM)),
        limits=limits_from_dict(data.get("limits") or {}),
        system=data.get("system") or None,
        checks=checks_from_spec_dict(data),
        judge=_judge_from_dict(data),
        context=_context_from_dict(data),
        **_columns_from_dict(data),
        prices=entries_from_list(data.get("prices")),
        json_schema=_schema_from_dict(data),
    )


def checks_to_dict(spec: RunSpec) -> dict[str, Any]:
    """``{"checks": [...]}`` for a spec with checks, else ``{}`` (older readers see nothing new)."""
    return {"checks": [check_to_dict(c) for c in spec.checks]} if spec.checks else {}


def checks_from_spec_dict(data: Mapping[str, Any]) -> tuple[Check, ...]:
    """The checks :func:`checks_to_dict` wrote; a check this version cannot read is dropped."""
    out = []
    for item in data.get("checks") or ():
        try:
            out.append(check_from_dict(item))
        except (ValueError, TypeError):
            continue
    return tuple(out)


# ------------------------------------------------------------------ the LLM judge (issue 13)
#
# Here and not in gui.core.judging (which re-exports them) because a RunSpec carries them and
# gui.core.judging builds on this module's profiles and cell ids.

#: The simulated model's judge name: ``--judge-model sim-judge`` works offline.
SIM_JUDGE_MODEL = "sim-judge"

#: What the judge is told to value when the user writes nothing else.
STARTER_RUBRIC = """\
Score the answer from 1 (useless) to 10 (excellent) for how well it serves the input.
- Correct: no false statements; says so when unsure.
- Relevant: answers what was asked, about the input's subject, nothing off-topic.
- Complete but concise: covers what matters without padding or repetition.
- Clear: well organised and easy to read.
A wrong answer scores at most 3 however well written; an empty or off-topic one scores 1."""

#: Lowest and highest score the judge may give.
SCORE_RANGE = (1, 10)
#: Longest rubric accepted, in characters.
MAX_RUBRIC_CHARS = 20_000


class JudgeMode(StrEnum):
    """How the judge looks at the answers."""

    SINGLE = "single"  # a score 1-10 per answer
    PAIRWISE = "pairwise"  # two answers to the same input at a time: which is better


@dataclass(frozen=True, slots=True)
class JudgeSettings:
    """The judge of a run.

    Attributes:
        model: The judge model (any profile: simulated, OpenAI-compatible).
        rubric: What the judge values; :data:`STARTER_RUBRIC` by default.
        mode: A score per answer, or pairwise comparisons per input.
        max_concurrency: Judge calls in flight at once (the judge's own lane, apart from
            the run's cells).
        requests_per_second: Judge calls started per second at most, or ``None``.
    """

    model: ModelProfile = field(
        default_factory=lambda: ModelProfile(model=SIM_JUDGE_MODEL, provider=ProviderKind.SIMULATED)
    )
    rubric: str = STARTER_RUBRIC
    mode: JudgeMode = JudgeMode.SINGLE
    max_concurrency: int = 4
    requests_per_second: float | None = None

    def validate(self) -> None:
        """Raise :class:`SpecError` with the fix for settings that cannot work."""
        self.model.validate()
        if not self.rubric.strip():
            raise SpecError("The judge's rubric is empty. Write what a good answer does.")
        if len(self.rubric) > MAX_RUBRIC_CHARS:
            raise SpecError(
                f"The judge's rubric has {len(self.rubric):,} characters; "
                f"keep it under {MAX_RUBRIC_CHARS:,}."
            )
        problem = range_problem("Judge max concurrency", self.max_concurrency, (1, 1000))
        if problem is None and self.requests_per_second is not None:
            problem = range_problem(
                "Judge requests per second", self.requests_per_second, (0.01, 10_000.0)
            )
        if problem:
            raise SpecError(problem)


def judge_to_dict(settings: JudgeSettings) -> dict[str, Any]:
    """``settings`` as plain data (history, workspace)."""
    return {
        "model": profile_to_dict(settings.model),
        "rubric": settings.rubric,
        "mode": str(settings.mode),
        "max_concurrency": settings.max_concurrency,
        "requests_per_second": settings.requests_per_second,
    }


def judge_from_dict(data: Mapping[str, Any] | None) -> JudgeSettings | None:
    """The settings :func:`judge_to_dict` wrote; ``None`` for none (or unreadable ones)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("model"), Mapping):
        return None
    defaults = JudgeSettings()
    try:
        rps = data.get("requests_per_second")
        return JudgeSettings(
            model=profile_from_dict(data["model"]),
            rubric=str(data.get("rubric") or defaults.rubric),
            mode=JudgeMode(data.get("mode", JudgeMode.SINGLE)),
            max_concurrency=int(data.get("max_concurrency") or defaults.max_concurrency),
            requests_per_second=None if rps is None else float(rps),
        )
    except (ValueError, TypeError):
        return None
