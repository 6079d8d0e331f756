"""What a run is: template x input rows x model profiles, with its strategy and limits.

Everything here is a frozen dataclass so a spec can be handed between the window, the
engine and storage without anyone mutating it behind the others' backs. Limits that change
during a run go through :meth:`gui.core.runner.Run.set_limits`, which makes a new ``Limits``.
"""

from __future__ import annotations

import difflib
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any
from urllib.parse import urlparse

from gui.core.errors import SpecError, TemplateError


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
    """Behaviour of the built-in simulated model.

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

    @classmethod
    def with_latency(cls, total_s: float, **kwargs: Any) -> SimSettings:
        """Settings whose whole request (first token plus streaming) takes ``total_s``."""
        tokens = int(kwargs.pop("output_tokens", 60))
        ttft = min(0.3, 0.2 * total_s)
        stream_s = max(total_s - ttft, 1e-3)
        return cls(ttft=ttft, tokens_per_second=tokens / stream_s, output_tokens=tokens, **kwargs)

    @property
    def latency(self) -> float:
        """Nominal duration of one request in seconds."""
        if self.tokens_per_second <= 0:
            return self.ttft
        return self.ttft + self.output_tokens / self.tokens_per_second


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """One column of the comparison: a model on a provider.

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

    @property
    def display_name(self) -> str:
        """Column title."""
        return self.label or self.model

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
        scheme = "http" if _looks_local(host) else "https"
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


def _looks_local(host: str) -> bool:
    """Whether ``host`` is this machine or a LAN address (served over plain http)."""
    return (
        host in ("localhost", "0.0.0.0", "[::1]", "")
        or host.endswith((".localhost", ".local", ".lan"))
        or host.startswith(("127.", "10.", "192.168."))
        or "." not in host
    )


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


@dataclass(frozen=True, slots=True)
class Cell:
    """One (input row, model) pair: one request, one pane in the grid.

    Attributes:
        id: Stable id within the run, ``r{row}m{model}``.
        index: Position in the run's cell list (row-major).
        row: Index of the input row.
        col: Index of the model profile.
        inputs: Variable values for the template.
        model: The model profile.
        repeated: Another row of the run has the same values, so the title carries the
            row number to tell the two apart.
    """

    id: str
    index: int
    row: int
    col: int
    inputs: Mapping[str, str]
    model: ModelProfile
    repeated: bool = False

    @property
    def title(self) -> str:
        """Short human label: the row's values (and its number if repeated) and the model."""
        values = " / ".join(str(v) for v in self.inputs.values()) or "prompt"
        tag = f" (row {self.row + 1})" if self.repeated else ""
        return f"{one_line_label(values)}{tag} × {self.model.display_name}"


#: Most input rows a run takes: beyond this the grid is no comparison any more (and Qt's
#: widget size limit would cut the grid off at ~76,000 rows of 220 px).
MAX_ROWS = 50_000

# Characters that belong to the character before them (a cut between the two would break
# an accent off its letter or an emoji sequence in half).
_JOINERS = frozenset("\u200d\u034f\ufe0e\ufe0f\u20e3")


def _joins(before: str, after: str) -> bool:
    """Whether ``before`` + ``after`` are one grapheme (approximately, without a library)."""
    if after in _JOINERS or before == "\u200d":
        return True
    code = ord(after)
    if 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F:  # skin tones, flag tags
        return True
    if unicodedata.category(after) in ("Mn", "Mc", "Me"):  # combining marks
        return True
    return False


def cut_text(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters plus "…", never inside a grapheme.

    An accent stays on its letter (``e`` + U+0301) and an emoji sequence (👩🏽‍💻, 🐈‍⬛) is
    kept whole or left out whole.
    """
    if len(text) <= limit:
        return text
    end = max(limit - 1, 0)
    while end > 0 and _joins(text[end - 1], text[end]):
        end -= 1
    # A flag is a pair of regional indicators: never keep half of one.
    ri = 0
    while end - ri > 0 and 0x1F1E6 <= ord(text[end - ri - 1]) <= 0x1F1FF:
        ri += 1
    if ri % 2 and end < len(text) and 0x1F1E6 <= ord(text[end]) <= 0x1F1FF:
        end -= 1
    return text[:end] + "…"


def one_line_label(text: str, limit: int = 40) -> str:
    """A label-sized, single-line version of ``text`` (cut between graphemes, see :func:`cut_text`)."""
    return cut_text(" ".join(text.split()), limit)


# ------------------------------------------------------------------------- template checks
#
# A template is f-string style, as LangChain's PromptTemplate reads it, restricted to what a
# prompt needs: ``{name}`` fills a variable (a Python identifier) and ``{{`` / ``}}`` are literal
# braces. Anything else in braces (JSON, code, format specs) is refused before a run, with a
# message that says how to write it, instead of failing inside every cell.

# One token, scanned left to right the way string.Formatter does: escaped braces first, then
# a replacement field, then a stray brace. The prompt editor highlights with the same pattern.
TEMPLATE_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_FIELD_ACCESS = re.compile(r"[^\W\d]\w*(?:\.\w+|\[[^\]]*\])+")
_IDENTIFIER_END = re.compile(r"[^\W\d]\w*\Z")
_IDENTIFIER_START = re.compile(r"[^\W\d]\w*")


def _where(template: str, index: int) -> str:
    """``column 7`` or, in a template of several lines, ``line 3, column 7`` (1-based)."""
    line_start = template.rfind("\n", 0, index) + 1
    column = index - line_start + 1
    if "\n" in template:
        return f"line {template.count(chr(10), 0, index) + 1}, column {column}"
    return f"column {column}"


def _quote(snippet: str, limit: int = 40) -> str:
    return one_line_label(snippet, limit)


def _doubled(snippet: str) -> str:
    return snippet.replace("{", "{{").replace("}", "}}")


def _matching_brace(template: str, start: int) -> int | None:
    """Index of the ``}`` closing the ``{`` at ``start``, counting nested braces; else ``None``."""
    depth = 0
    for i in range(start, len(template)):
        c = template[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
    return None


def _literal_braces_error(snippet: str) -> TemplateError:
    doubled = _doubled(snippet)
    if len(doubled) <= 60 and "\n" not in snippet:
        fix = f"double them: {doubled}"
    else:
        fix = "double each one: {{ and }}"
    return TemplateError(f"{_quote(snippet)} is not a {{variable}}. To send braces as text, {fix}.")


def _field_error(template: str, start: int, field: str) -> TemplateError:
    """The reason the field ``{field}`` at ``start`` is not a variable, and the fix."""
    snippet = "{" + field + "}"
    stripped = field.strip()
    if stripped == "":
        return TemplateError(
            "Empty {} in the template. Name the variable, e.g. {topic}, "
            "or write {{}} for literal braces."
        )
    if stripped.isdigit():
        return TemplateError(
            f"{snippet} is a numbered field, not a variable. Name it, e.g. {{topic}}, "
            f"or write {_doubled(snippet)} for literal braces."
        )
    if stripped.isidentifier():  # only whitespace around a good name
        return TemplateError(
            f"{_quote(snippet)} has spaces inside the braces. Write {{{stripped}}}."
        )
    if _FIELD_ACCESS.fullmatch(stripped):
        return TemplateError(
            f"{_quote(snippet)} is not a plain variable name. Use letters, digits and _ "
            "(write {{ and }} for literal braces)."
        )
    name = re.split(r"[!:]", field, maxsplit=1)[0]
    if name.isidentifier() and not re.search(r"[\"'\s,]", field):
        # {topic!r} or {topic:>10}: valid Python, but inputs are text and a prompt needs none.
        return TemplateError(
            f"{_quote(snippet)} is not a plain {{variable}}: conversions and format specs are "
            f"not supported. Write {{{name}}}, or {_doubled(snippet)} for literal braces."
        )
    return _literal_braces_error(snippet)


def _stray_brace_error(template: str, index: int) -> TemplateError:
    """A ``{`` that is never closed or a ``}`` never opened, with where it is and the fix."""
    where = _where(template, index)
    if template[index] == "{":
        end = _matching_brace(template, index)
        if end is not None:  # closed after nested braces: JSON or code written as is
            return _literal_braces_error(template[index : end + 1])
        after = _IDENTIFIER_START.match(template, index + 1)
        context = _quote(template[index : index + 20], 24)
        fix = f"Write {{{after.group(0)}}}" if after else "Close it with }"
        return TemplateError(
            f"Unbalanced braces: the '{{' at {where} ({context!r}) is never closed. "
            f"{fix}, or write {{{{ for a literal brace."
        )
    before = _IDENTIFIER_END.search(template, max(0, index - 64), index)
    context = _quote(template[max(0, index - 19) : index + 1], 24)
    fix = f"Write {{{before.group(0)}}}" if before else "Add the {"
    return TemplateError(
        f"Unbalanced braces: the '}}' at {where} ({context!r}) has no opening '{{'. "
        f"{fix}, or write }}}} for a literal brace."
    )


def template_variables(template: str) -> list[str]:
    """Variables of an f-string style template, in order of first use.

    ``{name}`` is a variable when ``name`` is an identifier; ``{{`` and ``}}`` are literal
    braces.

    Raises:
        TemplateError: an empty template, an unbalanced brace, an empty ``{}``, JSON or other
            text in single braces, or a field that is not a plain name; each with a one-line
            reason saying where and how to fix it.
    """
    if not template.strip():
        raise TemplateError(
            "The template is empty. Type a prompt, e.g. 'Tell me a joke about {topic}'."
        )
    names: list[str] = []
    seen: set[str] = set()
    for match in TEMPLATE_TOKEN.finditer(template):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        field = match.group(1)
        if field is None:
            raise _stray_brace_error(template, match.start())
        if not field.isidentifier():
            raise _field_error(template, match.start(), field)
        if field not in seen:
            seen.add(field)
            names.append(field)
    return names


def suggest_name(name: str, choices: Iterable[str]) -> str | None:
    """The choice ``name`` was probably meant to be (``{topc}`` -> ``topic``), or ``None``."""
    options = [c for c in choices if c]
    for choice in options:
        if choice.casefold() == name.casefold():
            return choice
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.7)
    return close[0] if close else None


def missing_column_message(
    variable: str, columns: Sequence[str], source: str = "the inputs"
) -> str:
    """One line: ``source`` has no column for ``{variable}``; its columns; the likely fix."""
    have = ", ".join(columns) or "none"
    guess = suggest_name(variable, columns)
    fix = (
        f"Did you mean {{{guess}}}?"
        if guess
        else f"Add a column {variable!r} or change {{{variable}}} in the template."
    )
    verb = "have" if source == "the inputs" else "has"
    return (
        f"The template uses {{{variable}}} but {source} {verb} no column {variable!r} "
        f"(columns: {have}). {fix}"
    )


def _empty_column_message(
    variable: str, variables: Sequence[str], rows: Sequence[Mapping[str, str]]
) -> str:
    """One line: ``variable`` is blank in every row; a filled column it may be a typo of."""
    others: dict[str, None] = {}
    for row in rows:
        others.update((k, None) for k, v in row.items() if k not in variables and str(v).strip())
    guess = suggest_name(variable, list(others))
    if guess is not None:
        return (
            f"Column {variable!r} is empty in every row, but {guess!r} has values: "
            f"did you mean {{{guess}}}? Rename the variable in the template."
        )
    return (
        f"Column {variable!r} is empty in every row, so {{{variable}}} has nothing to fill "
        f"it. Fill in the {variable} values or remove {{{variable}}} from the template."
    )


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
    """

    template: str
    rows: tuple[Mapping[str, str], ...]
    models: tuple[ModelProfile, ...]
    strategy: Strategy = Strategy.STREAM
    limits: Limits = field(default_factory=Limits)
    system: str | None = None

    @property
    def variables(self) -> list[str]:
        """The template's variables."""
        return template_variables(self.template)

    def validate(self) -> None:
        """Check the whole plan before the first request goes out.

        Raises:
            TemplateError: the template is malformed or the rows do not fill it (a variable
                without a column, or a column empty in every row).
            SpecError: no models, no rows, too many rows, or a bad profile or limit.
        """
        variables = self.variables
        if not self.models:
            raise SpecError("No model selected. Add at least one model.")
        for profile in self.models:
            profile.validate()
        self.limits.validate()
        if not self.rows:
            raise SpecError("No inputs. Add at least one row (or one --topic).")
        if len(self.rows) > MAX_ROWS:
            raise SpecError(
                f"{len(self.rows):,} input rows; a run takes at most {MAX_ROWS:,}. "
                "Split the inputs into several runs."
            )
        if variables:
            columns: dict[str, None] = {}
            for row in self.rows:
                columns.update(dict.fromkeys(row))
            missing = [v for v in variables if v not in columns]
            if missing:
                raise TemplateError(missing_column_message(missing[0], list(columns)))
            for v in variables:
                if not any(str(row.get(v, "")).strip() for row in self.rows):
                    raise TemplateError(_empty_column_message(v, variables, self.rows))

    def cells(self) -> list[Cell]:
        """The run's cells, row-major: every model for row 0, then row 1, ...

        Rows with the same values as another row are kept (both run) and marked
        :attr:`Cell.repeated`, so their titles carry the row number.
        """
        keys = [tuple((k, str(v)) for k, v in row.items()) for row in self.rows]
        counts = Counter(keys)
        out: list[Cell] = []
        for r, row in enumerate(self.rows):
            inputs = dict(row)  # one copy per row, shared by its cells (nobody mutates it)
            repeated = counts[keys[r]] > 1
            for m, profile in enumerate(self.models):
                out.append(Cell(f"r{r}m{m}", len(out), r, m, inputs, profile, repeated))
        return out


def rows_from_topics(topics: Iterable[str], variable: str = "topic") -> tuple[dict[str, str], ...]:
    """Rows for a plain list of topics filling one variable (``{topic}`` by default)."""
    return tuple({variable: t} for t in topics)


def make_spec(
    template: str,
    inputs: Sequence[Mapping[str, str]] | Sequence[str],
    models: Sequence[ModelProfile],
    strategy: Strategy | str = Strategy.STREAM,
    limits: Limits | None = None,
) -> RunSpec:
    """Build and validate a spec; plain strings fill the template's single variable.

    A template without variables makes one row (plain prompting) whatever ``inputs`` holds.
    """
    variables = template_variables(template)
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
    spec = RunSpec(template, rows, tuple(models), Strategy(strategy), limits or Limits())
    spec.validate()
    return spec


# ------------------------------------------------------------------ plain-data round trips
#
# For the history database, exports and saved profiles: JSON-ready dicts that read back into
# the same frozen objects. Readers ignore keys they do not know and default the ones that are
# missing, so data written by an older or newer version still loads.


def _known(cls: Any, data: Mapping[str, Any]) -> dict[str, Any]:
    names = {f for f in cls.__dataclass_fields__}
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
        "sim": {f: getattr(profile.sim, f) for f in SimSettings.__dataclass_fields__},
    }


def profile_from_dict(data: Mapping[str, Any]) -> ModelProfile:
    """The profile :func:`profile_to_dict` wrote."""
    fields = _known(ModelProfile, data)
    fields["provider"] = ProviderKind(fields.get("provider", ProviderKind.SIMULATED))
    fields["sim"] = SimSettings(**_known(SimSettings, data.get("sim") or {}))
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
    return {
        "template": spec.template,
        "system": spec.system,
        "rows": [dict(r) for r in spec.rows],
        "models": [profile_to_dict(m) for m in spec.models],
        "strategy": str(spec.strategy),
        "limits": limits_to_dict(spec.limits),
    }


def spec_from_dict(data: Mapping[str, Any]) -> RunSpec:
    """The spec :func:`spec_to_dict` wrote (not validated: history keeps what ran)."""
    return RunSpec(
        template=str(data.get("template", "")),
        rows=tuple({str(k): str(v) for k, v in r.items()} for r in data.get("rows", ())),
        models=tuple(profile_from_dict(m) for m in data.get("models", ())),
        strategy=Strategy(data.get("strategy", Strategy.STREAM)),
        limits=limits_from_dict(data.get("limits") or {}),
        system=data.get("system") or None,
    )
