"""Turn a :class:`~gui.core.spec.RunSpec` into stand-alone Python (asyncio + LCEL) that reproduces it.

The snippet is meant to be read aloud in class, so it shows each strategy the way one would
write it by hand, not the way the engine does it: ``chain.invoke`` in a loop, ``asyncio.gather``
under a ``Semaphore``, ``chain.abatch`` with ``max_concurrency``, one task per ``astream``.
What the engine adds around every request is written out once, in plain code:

* the timeout is an ``asyncio.timeout`` per attempt (the engine's is per request, stream
  included); a blocking ``invoke`` cannot be interrupted, so there only ChatOpenAI's HTTP
  ``timeout=`` applies;
* retries are a small loop with the engine's back-off (doubling steps, half of each random),
  only for failures worth another attempt, and never after a streamed token was shown.
  (``Runnable.with_retry`` would be shorter but is silently bypassed by ``astream`` and
  ``abatch_as_completed``, and it cannot retry a timed-out attempt.) For ``abatch`` the chain
  is wrapped in a ``RunnableLambda`` so that LangChain still does the fan-out;
* the requests-per-second cap is one langchain-core ``InMemoryRateLimiter`` shared by every
  model (``rate_limiter=``), like the engine's one limiter per run;
* concurrent streams print line by line, each line after its cell's label (input | model),
  then the whole answers one per cell: raw tokens of several streams would interleave
  mid-word.

The text is a pure function of the spec (no clock, no environment), so the same spec always
gives the same snippet, and API keys only ever appear as ``os.environ`` look-ups.
This module imports neither Qt nor LangChain.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from gui.core.keys import redact, strip_url_password
from gui.core.spec import ErrorPolicy, JudgeMode, ModelProfile, ProviderKind, RunSpec, Strategy

__all__ = ["py_num", "py_str", "python_snippet"]

#: ChatOpenAI has no HTTP timeout by default; the snippet never leaves one unset.
HTTP_BACKSTOP_S = 600.0

#: Line length of the snippet (ruff format's default, so a teacher's ruff leaves it alone).
_LINE = 88

#: Key sent to local OpenAI-compatible servers that need none (same as the app's).
NO_KEY = "not-needed"

_STRATEGY_SUMMARY: dict[Strategy, str] = {
    Strategy.SYNC: "chain.invoke, one cell after another (blocking)",
    Strategy.SEQUENTIAL: "await chain.ainvoke, one cell after another",
    Strategy.GATHER: "asyncio.gather over chain.ainvoke under a Semaphore",
    Strategy.ABATCH: "chain.abatch with max_concurrency, one model after another",
    Strategy.AS_COMPLETED: "chain.abatch_as_completed, results in completion order",
    Strategy.STREAM: "one task per cell consuming chain.astream under a Semaphore",
}


def python_snippet(spec: RunSpec) -> str:
    """Stand-alone Python that reproduces ``spec``: prompt, models, inputs and strategy.

    The result is PEP 8, passes ``ruff check`` and runs as is (simulated models need the app
    on ``PYTHONPATH``; OpenAI-compatible ones read their key from the profile's variable).

    Raises:
        TemplateError: the template is malformed or the inputs do not fill it.
        SpecError: the spec could not run either (no model, no input, a bad limit).
    """
    spec.validate()
    # No secret the app knows ever reaches the code view (a key pasted into a template, a
    # password in a base URL): the code reads keys from the environment instead.
    return redact(_Snippet(spec).render())


# --------------------------------------------------------------------------------------------
# Literals


def py_str(text: str) -> str:
    """``text`` as a Python string literal, double-quoted where possible (as ruff formats it)."""
    literal = repr(text)
    if literal.startswith("'") and '"' not in text:
        literal = '"' + literal[1:-1].replace("\\'", "'") + '"'
    return literal


def py_num(value: float | int) -> str:
    """A number rounded to 4 significant digits, written so it reads back as the same type."""
    if isinstance(value, bool) or isinstance(value, int):
        return str(int(value))
    if not math.isfinite(value):
        return "0.0"  # only an unlimited pace is infinite, and 0 means the same to the model
    return repr(float(f"{value:.4g}"))


def _py_assign_str(name: str, text: str) -> str:
    """``NAME = "text"``; a multi-line text too long for one line gets one piece per line.

    The pieces are implicitly concatenated inside parentheses, which is what ruff format
    keeps (it joins them back only when the whole literal fits on one line).
    """
    single = f"{name} = {py_str(text)}"
    lines = text.splitlines(keepends=True)
    if len(lines) <= 1 or len(single) <= _LINE:
        return single
    inner = "".join(f"    {py_str(line)}\n" for line in lines)
    return f"{name} = (\n{inner})"


def _row_literal(row: Mapping[str, str]) -> str:
    items = ", ".join(f"{py_str(str(k))}: {py_str(str(v))}" for k, v in row.items())
    return "{" + items + "}"


def _unique_names(profiles: Sequence[ModelProfile]) -> list[str]:
    """Column names as dict keys: the display names, numbered where two are equal."""
    names: list[str] = []
    for profile in profiles:
        base = profile.display_name
        name, n = base, 2
        while name in names:
            name, n = f"{base} ({n})", n + 1
        names.append(name)
    return names


def _seconds(value: float) -> str:
    return f"{value:g} s"


# --------------------------------------------------------------------------------------------
# The snippet


class _Snippet:
    """Writes one snippet; each ``_part`` method returns a block of lines."""

    def __init__(self, spec: RunSpec) -> None:
        self.spec = spec
        self.limits = spec.limits
        self.strategy = spec.strategy
        self.names = _unique_names(spec.models)
        self.has_sim = any(p.provider is ProviderKind.SIMULATED for p in spec.models)
        self.has_openai = any(p.provider is ProviderKind.OPENAI for p in spec.models)
        self.is_async = self.strategy is not Strategy.SYNC
        self.retries = self.limits.retries
        self.rps = self.limits.requests_per_second
        # abatch and abatch_as_completed call the chain themselves: timeout and retries must
        # travel inside it, as a RunnableLambda around ask().
        self.batches = self.strategy in (Strategy.ABATCH, Strategy.AS_COMPLETED)
        self.guarded = self.batches and (self.limits.timeout is not None or self.retries > 0)

    def render(self) -> str:
        blocks = [
            self._header(),
            self._imports(),
            self._data(),
            self._settings(),
            self._models(),
            self._helpers(),
            self._main(),
            self._entry(),
        ]
        text = "\n\n".join("\n".join(b) for b in blocks if b)
        # Two blank lines before top-level functions (PEP 8), one elsewhere.
        text = text.replace("\n\n@@def", "\n\n\ndef").replace("\n\n@@async def", "\n\n\nasync def")
        text = text.replace("\n\n@@if __name__", "\n\n\nif __name__")
        return text.rstrip("\n") + "\n"

    # ---- header and imports ------------------------------------------------------------------

    def _header(self) -> list[str]:
        spec, limits = self.spec, self.limits
        rows = len(spec.rows)
        models = ", ".join(_doc_safe(n) for n in self.names)
        plural = "model" if len(spec.models) == 1 else "models"
        what = (
            f"It reproduces {rows} input{'s' if rows != 1 else ''} x "
            f"{len(spec.models)} {plural} ({models}) with the {self.strategy.value!r} "
            f"strategy: {_STRATEGY_SUMMARY[self.strategy]}"
        )
        details: list[str] = []
        if self.strategy.concurrent:
            details.append(f"at most {limits.max_concurrency} requests in flight")
        if self.rps is not None:
            details.append(f"at most {self.rps:g} requests started per second")
        if limits.timeout is None:
            details.append("no timeout")
        elif self.is_async:
            details.append(f"a {_seconds(limits.timeout)} timeout per attempt")
        elif self.has_openai:
            details.append(f"a {_seconds(limits.timeout)} HTTP timeout")
        else:
            details.append("no timeout (a blocking call cannot be interrupted)")
        if self.retries:
            details.append(f"up to {self.retries} retr{'y' if self.retries == 1 else 'ies'}")
        sentence = what + (", " + ", ".join(details) if details else "") + "."
        lines = ['"""A Fanout Studio run, as plain LangChain code (asyncio + LCEL).', ""]
        lines += _wrap(sentence, _LINE)
        if limits.error_policy is ErrorPolicy.FAIL_FAST:
            lines += ["", "The app stopped the run at the first failure; here every cell runs."]
        lines += self._judging_note()
        if spec.context is not None:
            note = (
                "Not included: the chat threads this run sent before the template (a chat "
                "message run over inputs); here each model gets the template alone."
            )
            lines += ["", *_wrap(note, _LINE)]
        lines += self._columns_note()
        lines.append("")
        needs = "langchain-core and langchain-openai" if self.has_openai else "langchain-core"
        lines.append(f"Needs {needs}.")
        if self.has_sim:
            lines.append("Run it with the Fanout Studio folder on PYTHONPATH (simulated model).")
        envs = sorted({p.api_key_env for p in spec.models if p.provider is ProviderKind.OPENAI})
        if envs:
            keys = ", $".join(_doc_safe(e) for e in envs)
            lines.append(f"API keys are read from ${keys}, never written here.")
        lines.append('"""')
        return lines

    def _imports(self) -> list[str]:
        std = ["asyncio"] if self.is_async else []
        if self.has_openai:
            std.append("os")
        if self.retries:
            std.append("random")
        std.append("time")  # the total wall time
        lines = [f"import {m}" for m in std]
        third: list[str] = []
        if self.has_openai and self.retries:
            third.append("import openai")
        third.append("from langchain_core.output_parsers import StrOutputParser")
        third.append("from langchain_core.prompts import ChatPromptTemplate")
        if self.rps is not None:
            third.append("from langchain_core.rate_limiters import InMemoryRateLimiter")
        runnables = [] if self.batches and not self.guarded else ["Runnable"]
        if self.guarded:
            runnables.append("RunnableLambda")
        if runnables:
            third.append(f"from langchain_core.runnables import {', '.join(runnables)}")
        if self.has_openai:
            third.append("from langchain_openai import ChatOpenAI")
        lines += ["", *third]
        if self.has_sim:
            # In its own try block: isort then never has to decide whether `gui` is first- or
            # third-party (that depends on where the file is saved), and a missing PYTHONPATH
            # gets a sentence instead of a traceback.
            names = "SimulatedChatModel, SimulatedError" if self.retries else "SimulatedChatModel"
            lines += [
                "",
                "try:",
                f"    from gui.providers.simulated import {names}",
                "except ImportError as exc:",
                "    raise SystemExit(",
                '        "Put the Fanout Studio folder on PYTHONPATH: the simulated model lives there."',
                "    ) from exc",
            ]
        return lines

    # ---- data and settings -------------------------------------------------------------------

    def _data(self) -> list[str]:
        spec = self.spec
        lines = [_py_assign_str("TEMPLATE", spec.template)]
        if spec.system:
            lines.append(_py_assign_str("SYSTEM", spec.system))
        lines.append("")
        lines.append("# One dict per input row: the template's variables and their values.")
        lines.append("INPUTS = [")
        lines += [f"    {_row_literal(row)}," for row in spec.rows]
        lines.append("]")
        return lines + self._judging()

    def _judging(self) -> list[str]:
        """The run's checks and judge as data only (issue 13; see :meth:`_judging_note`)."""
        spec = self.spec
        lines: list[str] = []
        if spec.checks:
            lines += ["", "# Not evaluated here: `fanout-studio run --check LINE` takes each."]
            lines.append("CHECKS = [")
            lines += [f"    {py_str(check.line())}," for check in spec.checks]
            lines.append("]")
        judge = spec.judge
        if judge is not None:
            mode = "pairwise" if judge.mode is JudgeMode.PAIRWISE else "single"
            lines += ["", "# Not called here: `fanout-studio run --judge-model` does it."]
            lines.append(f"JUDGE_MODEL = {py_str(judge.model.model)}")
            lines.append(f"JUDGE_MODE = {py_str(mode)}")
            lines.append(_py_assign_str("JUDGE_RUBRIC", judge.rubric))
        return lines

    def _columns_note(self) -> list[str]:
        """What of issue 15's columns the snippet leaves out: it shows one template per
        model, so prompt variants, parameter sweeps and repeats are named, not run."""
        spec = self.spec
        parts = []
        if len(spec.variants) > 1:
            parts.append(f"{len(spec.variants) - 1} more prompt variant(s)")
        swept = sorted({n for m in spec.models for n in m.sweep.swept()})
        if swept:
            parts.append(f"the sweep of {', '.join(swept)}")
        if spec.repeats > 1:
            parts.append(f"{spec.repeats} samples per cell")
        if not parts:
            return []
        sentence = (
            f"Not included: {', '.join(parts)} ({len(spec.columns)} columns in the app); "
            "this code runs the first variant once per model."
        )
        return ["", *_wrap(sentence, _LINE)]

    def _judging_note(self) -> list[str]:
        """Why the checks and the judge are data, not code: evaluating them as the app
        does (a sandboxed python check, JSON Schema, a judge per answer through its own
        limits, structured output with a fallback parse, pairwise positions) would double
        the snippet, whose point is to show the fan-out idiom plainly."""
        spec = self.spec
        parts = []
        if spec.checks:
            n = len(spec.checks)
            parts.append(f"its {n} check{'s' if n != 1 else ''} (CHECKS)")
        if spec.judge is not None:
            parts.append(f"its LLM judge {_doc_safe(spec.judge.model.model)} (JUDGE_*)")
        if not parts:
            return []
        sentence = (
            f"Not included: the run's answers are not judged here; {' and '.join(parts)} "
            "are kept below as data. `fanout-studio run` with --check and --judge-model "
            "evaluates them on every answer, as the app did."
        )
        return ["", *_wrap(sentence, _LINE)]

    def _settings(self) -> list[str]:
        limits = self.limits
        lines: list[str] = []
        if self.strategy.concurrent:
            lines.append(
                f"MAX_CONCURRENCY = {limits.max_concurrency}  # requests in flight at once"
            )
        if limits.timeout is None:
            lines.append("TIMEOUT = None  # no time limit")
        elif self.is_async:
            lines.append(
                f"TIMEOUT = {py_num(float(limits.timeout))}  # seconds per attempt, stream included"
            )
        elif self.has_openai:
            lines.append(
                f"TIMEOUT = {py_num(float(limits.timeout))}  # seconds; a blocking call has only "
                "the HTTP timeout"
            )
        if self.retries:
            lines += [
                f"RETRIES = {self.retries}  # extra attempts after a failure worth retrying",
                f"BACKOFF_BASE = {py_num(float(limits.backoff_base))}  # seconds before the "
                "first retry, doubling per retry",
                f"BACKOFF_MAX = {py_num(float(limits.backoff_max))}  # longest wait between "
                "attempts",
                "",
                "# Failures worth another attempt: timeouts, dropped connections, HTTP 429 and 5xx.",
                "RETRYABLE = (",
                "    TimeoutError,",
                "    ConnectionError,",
            ]
            if self.has_sim:
                lines.append("    SimulatedError,")
            if self.has_openai:
                lines += [
                    "    openai.APIConnectionError,",
                    "    openai.RateLimitError,",
                    "    openai.InternalServerError,",
                ]
            lines.append(")")
        return lines

    # ---- models and chains -------------------------------------------------------------------

    def _models(self) -> list[str]:
        spec = self.spec
        if spec.system:
            lines = [
                'prompt = ChatPromptTemplate.from_messages([("system", SYSTEM), ("human", TEMPLATE)])'
            ]
        else:
            lines = ["prompt = ChatPromptTemplate.from_template(TEMPLATE)"]
        if self.rps is not None:
            lines += ["", *self._rate_limiter(self.rps)]
        lines += ["", "models = {"]
        for name, profile in zip(self.names, spec.models, strict=True):
            if profile.provider is ProviderKind.SIMULATED:
                cls, args = "SimulatedChatModel", self._sim_args(profile)
            else:
                cls, args = "ChatOpenAI", self._openai_args(profile)
            if self.rps is not None:
                args.append("rate_limiter=rate_limiter")
            lines.append(f"    {py_str(name)}: {cls}(")
            lines += [f"        {arg}," if "  #" not in arg else _comma(arg) for arg in args]
            lines.append("    ),")
        lines.append("}")
        lines.append(
            "chains = {name: prompt | model | StrOutputParser() for name, model in models.items()}"
        )
        return lines

    def _rate_limiter(self, rps: float) -> list[str]:
        share = "shared by every model" if len(self.spec.models) > 1 else "for the model"
        lines = [f"# At most {rps:g} requests start per second, {share} (each attempt counts)."]
        if rps <= 10:
            lines.append(
                f"rate_limiter = InMemoryRateLimiter(requests_per_second={py_num(float(rps))})"
            )
            return lines
        # The bucket holds one request and is checked every 0.1 s by default, which caps the
        # rate at 10/s: check more often and let the bucket hold what one check period earns.
        bucket = max(1, math.ceil(rps / 100))
        lines += [
            "rate_limiter = InMemoryRateLimiter(",
            f"    requests_per_second={py_num(float(rps))},",
            "    check_every_n_seconds=0.01,",
            f"    max_bucket_size={bucket},",
            ")",
        ]
        return lines

    def _sim_args(self, profile: ModelProfile) -> list[str]:
        sim = profile.sim
        tokens = sim.output_tokens
        if profile.max_tokens is not None:
            tokens = min(tokens, profile.max_tokens)
        args = [
            f"model={py_str(profile.model)}",
            f"ttft={py_num(float(sim.ttft))}",
            f"tokens_per_second={py_num(float(sim.tokens_per_second))}",
            f"output_tokens={tokens}",
            f"jitter={py_num(float(sim.jitter))}",
        ]
        if sim.failure_rate > 0:
            args.append(f"failure_rate={py_num(float(sim.failure_rate))}")
            args.append(f"failure_kind={py_str(sim.failure_kind)}")
            if sim.failure_kind == "rate_limit":
                args.append(f"retry_after={py_num(float(sim.retry_after))}")
        if sim.seed is not None:
            args.append(f"seed={sim.seed}")
        return args

    def _openai_args(self, profile: ModelProfile) -> list[str]:
        env = py_str(profile.api_key_env)
        args = [f"model={py_str(profile.model)}"]
        if profile.base_url:
            base_url = strip_url_password(profile.base_url)
            note = (
                "  # its password is not shown here: add it back"
                if base_url != profile.base_url
                else ""
            )
            args.append(f"base_url={py_str(base_url)}{note}")
            # Local servers (Ollama, LM Studio, llama.cpp) accept any key.
            args.append(f"api_key=os.environ.get({env}, {py_str(NO_KEY)})")
        else:
            args.append(f"api_key=os.environ[{env}]")
        if self.limits.timeout is None:
            args.append(f"timeout={py_num(HTTP_BACKSTOP_S)}  # backstop: it has none by default")
        else:
            args.append("timeout=TIMEOUT")
        if self.retries:
            args.append("max_retries=0  # RETRIES are done here, not by the SDK")
        else:
            args.append("max_retries=0  # it would retry twice on its own")
        if profile.temperature is not None:
            args.append(f"temperature={py_num(float(profile.temperature))}")
        if profile.max_tokens is not None:
            args.append(f"max_tokens={profile.max_tokens}")
        return args

    # ---- helpers -----------------------------------------------------------------------------

    def _helpers(self) -> list[str]:
        lines = [
            "@@def cell_label(row: dict[str, str], name: str) -> str:",
            '    """What names a cell in the output: its input values and its model."""',
            "    return f\"{' / '.join(row.values()) or '(no variables)'} | {name}\"",
            "",
            "@@def show(row: dict[str, str], name: str, answer: str | BaseException) -> None:",
            '    """Print one cell: its input and model, then the answer or what went wrong."""',
            "    if isinstance(answer, BaseException):",
            '        answer = f"FAILED: {type(answer).__name__}: {answer}"',
            '    print(f"\\n=== {cell_label(row, name)} ===\\n{answer}")',
        ]
        if self.retries:
            lines += [
                "",
                "@@def backoff_seconds(attempt: int) -> float:",
                '    """Wait before retry number attempt + 1: doubling steps, half of each random."""',
                "    step = min(BACKOFF_MAX, BACKOFF_BASE * 2**attempt)",
                "    return step / 2 + random.uniform(0, step / 2)",
            ]
        if self.strategy is Strategy.SYNC:
            lines += ["", *self._ask_sync()]
        elif self.strategy is Strategy.STREAM:
            lines += ["", *self._stream_answer()]
        elif not self.batches or self.guarded:
            lines += ["", *self._ask_async()]
        if self.guarded:
            lines += [
                "",
                "@@def guarded(chain: Runnable) -> Runnable:",
                '    """The chain as a Runnable again, each call going through ask()."""',
                "",
                "    async def call(row: dict[str, str]) -> str:",
                "        return await ask(chain, row)",
                "",
                "    return RunnableLambda(call)",
            ]
        return lines

    def _ask_sync(self) -> list[str]:
        if not self.retries:
            return [
                "@@def ask(chain: Runnable, row: dict[str, str]) -> str:",
                '    """One blocking request."""',
                "    return chain.invoke(row)",
            ]
        return [
            "@@def ask(chain: Runnable, row: dict[str, str]) -> str:",
            '    """One blocking request, retried up to RETRIES times."""',
            "    for attempt in range(RETRIES):",
            "        try:",
            "            return chain.invoke(row)",
            "        except RETRYABLE:",
            "            time.sleep(backoff_seconds(attempt))",
            "    return chain.invoke(row)  # the last attempt: its error is the answer",
        ]

    def _ask_async(self) -> list[str]:
        if not self.retries:
            return [
                "@@async def ask(chain: Runnable, row: dict[str, str]) -> str:",
                '    """One request, at most TIMEOUT seconds."""',
                "    async with asyncio.timeout(TIMEOUT):",
                "        return await chain.ainvoke(row)",
            ]
        return [
            "@@async def ask(chain: Runnable, row: dict[str, str]) -> str:",
            '    """One request: at most TIMEOUT seconds per attempt, up to RETRIES retries."""',
            "    for attempt in range(RETRIES):",
            "        try:",
            "            async with asyncio.timeout(TIMEOUT):",
            "                return await chain.ainvoke(row)",
            "        except RETRYABLE:",
            "            await asyncio.sleep(backoff_seconds(attempt))",
            "    async with asyncio.timeout(TIMEOUT):",
            "        return await chain.ainvoke(row)  # the last attempt: its error is the answer",
        ]

    def _stream_answer(self) -> list[str]:
        # Concurrent streams print line by line, each line after its cell's label: tokens
        # printed as they come would interleave mid-word into an unreadable mix.
        once = [
            '    line = ""  # the line being written, printed once it is complete',
            "    try:",
            "        async with asyncio.timeout(TIMEOUT):",
            "            async for token in chain.astream(row):",
            "                tokens.append(token)",
            '                *complete, line = (line + token).split("\\n")',
            "                for text in complete:",
            '                    print(f"[{label}] {text}", flush=True)',
            "    finally:",
            "        if line:  # the end of the answer, or what arrived before it failed",
            '            print(f"[{label}] {line}", flush=True)',
            '    return "".join(tokens)',
        ]
        if not self.retries:
            return [
                "@@async def stream_answer(chain: Runnable, row: dict[str, str], label: str) -> str:",
                '    """Stream one answer within TIMEOUT seconds, printing each line as it completes."""',
                "    tokens: list[str] = []",
                *once,
            ]
        return [
            "@@async def stream_once(",
            "    chain: Runnable, row: dict[str, str], label: str, tokens: list[str]",
            ") -> str:",
            '    """Stream one answer within TIMEOUT seconds, printing each line as it completes."""',
            *once,
            "",
            "@@async def stream_answer(chain: Runnable, row: dict[str, str], label: str) -> str:",
            '    """Stream with retries, but only before the first token: printed text stays."""',
            "    tokens: list[str] = []",
            "    for attempt in range(RETRIES):",
            "        try:",
            "            return await stream_once(chain, row, label, tokens)",
            "        except RETRYABLE:",
            "            if tokens:  # printed tokens cannot be taken back",
            "                raise",
            "            await asyncio.sleep(backoff_seconds(attempt))",
            "    return await stream_once(chain, row, label, tokens)",
        ]

    # ---- main --------------------------------------------------------------------------------

    def _main(self) -> list[str]:
        body = {
            Strategy.SYNC: self._main_loop,
            Strategy.SEQUENTIAL: self._main_loop,
            Strategy.GATHER: self._main_gather,
            Strategy.ABATCH: self._main_abatch,
            Strategy.AS_COMPLETED: self._main_as_completed,
            Strategy.STREAM: self._main_stream,
        }[self.strategy]()
        head = "@@def main() -> None:" if not self.is_async else "@@async def main() -> None:"
        return [
            head,
            *body,
            '    print(f"\\nTotal wall time: {time.perf_counter() - start:.2f} s")',
        ]

    def _main_loop(self) -> list[str]:
        call = "await ask(chain, row)" if self.is_async else "ask(chain, row)"
        return [
            "    start = time.perf_counter()",
            "    for row in INPUTS:",
            "        for name, chain in chains.items():",
            "            try:",
            f"                answer: str | Exception = {call}",
            "            except Exception as exc:  # show it and go on with the next cell",
            "                answer = exc",
            "            show(row, name, answer)",
        ]

    def _main_gather(self) -> list[str]:
        return [
            "    limit = asyncio.Semaphore(MAX_CONCURRENCY)",
            "",
            "    async def one(chain: Runnable, row: dict[str, str]) -> str:",
            "        async with limit:",
            "            return await ask(chain, row)",
            "",
            "    cells = [(row, name) for row in INPUTS for name in chains]",
            "    start = time.perf_counter()",
            "    answers = await asyncio.gather(",
            "        *(one(chains[name], row) for row, name in cells), return_exceptions=True",
            "    )",
            "    for (row, name), answer in zip(cells, answers, strict=True):",
            "        show(row, name, answer)",
        ]

    def _batch_target(self) -> str:
        return "guarded(chain)" if self.guarded else "chain"

    def _main_abatch(self) -> list[str]:
        return [
            "    start = time.perf_counter()",
            "    # One batch per model, one after the other: at most MAX_CONCURRENCY in flight.",
            "    for name, chain in chains.items():",
            f"        answers = await {self._batch_target()}.abatch(",
            '            INPUTS, config={"max_concurrency": MAX_CONCURRENCY}, return_exceptions=True',
            "        )",
            "        for row, answer in zip(INPUTS, answers, strict=True):",
            "            show(row, name, answer)",
        ]

    def _main_as_completed(self) -> list[str]:
        return [
            "    start = time.perf_counter()",
            "    # One batch per model, one after the other: at most MAX_CONCURRENCY in flight.",
            "    for name, chain in chains.items():",
            f"        async for i, answer in {self._batch_target()}.abatch_as_completed(",
            '            INPUTS, config={"max_concurrency": MAX_CONCURRENCY}, return_exceptions=True',
            "        ):",
            "            show(INPUTS[i], name, answer)",
        ]

    def _main_stream(self) -> list[str]:
        return [
            "    limit = asyncio.Semaphore(MAX_CONCURRENCY)",
            "",
            "    async def one(chain: Runnable, row: dict[str, str], label: str) -> str:",
            "        async with limit:",
            "            return await stream_answer(chain, row, label)",
            "",
            "    cells = [(row, name) for row in INPUTS for name in chains]",
            "    start = time.perf_counter()",
            "    # One task per cell. Lines of concurrent streams arrive mixed, each one after",
            "    # its cell's label; the whole answers follow, one per cell.",
            "    tasks = [",
            "        asyncio.create_task(one(chains[name], row, cell_label(row, name)))",
            "        for row, name in cells",
            "    ]",
            "    answers = await asyncio.gather(*tasks, return_exceptions=True)",
            "    for (row, name), answer in zip(cells, answers, strict=True):",
            "        show(row, name, answer)",
        ]

    def _entry(self) -> list[str]:
        call = "asyncio.run(main())" if self.is_async else "main()"
        return ['@@if __name__ == "__main__":', f"    {call}"]


def _doc_safe(text: str) -> str:
    """User text made safe inside the header docstring: one line, no backslash, no quote."""
    return " ".join(text.replace("\\", "/").replace('"', "'").split())


def _comma(arg: str) -> str:
    """``name=value  # comment`` as an argument line: the comma goes before the comment."""
    code, _, comment = arg.partition("  #")
    return f"        {code},  #{comment}"


def _wrap(text: str, width: int) -> list[str]:
    """Greedy word wrap (textwrap would also work; this keeps long words intact)."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        lines.append(current)
    return lines
