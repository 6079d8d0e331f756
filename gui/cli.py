"""Headless command line on the same engine as the window: ``run``, ``compare``, ``bench``,
and the run history: ``history``, ``show``, ``export``.

``run`` and ``compare`` record every run in the history database (``$FANOUT_HOME`` or the
per-user data directory; ``--no-history`` turns it off), Ctrl+C included: cells end
cancelled with their partial text and are on disk before the process exits.

Exit codes: 0 every cell succeeded (and, with history on, every ended cell is on disk), 1 some
cell failed or was cancelled or could not be saved (its answer is then in a
``fanout-unsaved-<run id>.json`` file, named on stderr), or, for the history commands, the
history or a file could not be read or written, 2 bad usage (an unknown run id and an export
onto the app's own files included), 130 interrupted with Ctrl+C, 143 stopped by SIGTERM, 129
by SIGHUP (the run ends as with Ctrl+C). Errors are one line on stderr, never a traceback.

Output is safe for any console: text a server sent is printed with terminal control
characters escaped and lone surrogates replaced, and a console that cannot encode a
character gets a replacement instead of an error; every secret the process knows is masked.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from gui.core import events as ev
from gui.core.agreement import DEFAULT_THRESHOLD
from gui.core.chat import is_chat_id
from gui.core.checks import (
    KINDS,
    Check,
    CheckError,
    CheckResult,
    check_to_dict,
    checks_from_json,
    parse_check,
    validate_checks,
    with_inlined_schema,
)
from gui.core.cleantext import REPLACED_NOTICE, clean, clean_json, escape_controls
from gui.core.columns import PARAMETERS, REPEATS_RANGE, parse_values, variant_id
from gui.core.compare import COMPARE_ORDER, StrategyResult
from gui.core.errors import SpecError, TemplateError
from gui.core.inputs import load_rows_file
from gui.core.judging import (
    STARTER_RUBRIC,
    JudgeMode,
    JudgeSettings,
    JudgeVerdict,
    rank,
    rank_by_row,
    ranking_line,
)
from gui.core.keys import HeldKeys
from gui.core.metrics import CellMetrics, RunSummary, finish_mark
from gui.core.ports import KeySource
from gui.core.pricing import PriceEntry, format_usd, parse_price_option
from gui.core.private import private_opener
from gui.core.runner import Run
from gui.core.spec import (
    Cell,
    ErrorPolicy,
    Limits,
    ModelProfile,
    ProviderKind,
    RunSpec,
    SimSettings,
    Strategy,
    make_spec,
    plain_number,
    range_problem,
)
from gui.core.templates import missing_column_message, template_variables
from gui.core.text import one_line_label
from gui.launch import add_window_options
from gui.resources import demo_names

if TYPE_CHECKING:
    from gui.core.batch import BatchRun
    from gui.core.ratings import Rating
    from gui.storage.history import History
    from gui.storage.records import StoredRun

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

SEED_TEMPLATE = "Tell me a joke about {topic}"
SEED_TOPICS = ("cats", "dogs", "parrots")


_LIMITS = Limits()
_SIM = SimSettings()


class UsageError(Exception):
    """Bad command-line usage; the message is shown as one line."""


class _Parser(argparse.ArgumentParser):
    """argparse's parser with one-line errors and no abbreviated options: a typo such as
    ``--input`` for ``--inputs`` is refused, never silently taken for another option. Every
    subcommand's parser is one too (``parser_class``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> Any:  # one line + hint, exit 2 (argparse's own contract)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


class _RunAndExit(argparse.Action):
    """An option that does its job at once and exits, as argparse's own ``version`` action does."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        self._job: Callable[[], int] = kwargs.pop("job")
        super().__init__(
            option_strings, argparse.SUPPRESS, nargs=0, default=argparse.SUPPRESS, **kwargs
        )

    def __call__(self, parser: argparse.ArgumentParser, *_args: Any, **_kwargs: Any) -> None:
        parser.exit(self._job())


def _print_version() -> int:
    from gui.about import about_info

    sys.stdout.write(about_info().text())
    return EXIT_OK


def _install_desktop_entry() -> int:
    from gui.desktop import DesktopEntryError, install_desktop_entry

    try:
        installed = install_desktop_entry()
    except DesktopEntryError as exc:
        sys.stderr.write(f"fanout-studio: error: {exc}\n")
        return EXIT_FAILED
    sys.stdout.write(f"installed {installed.desktop_file}\n")
    sys.stdout.write(
        f"installed {len(installed.icons)} icon files under {installed.icons[0].parents[2]}\n"
    )
    return EXIT_OK


def _number(kind: type[int] | type[float], *, positive: bool) -> Callable[[str], Any]:
    """An argparse type: a whole number or a number, > 0 or >= 0, with a one-line reason."""
    noun = "a whole number" if kind is int else "a number"

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if positive and not value > 0:
            floor = "at least 1" if kind is int else "greater than 0"
            raise argparse.ArgumentTypeError(f"{text!r} must be {floor}")
        if not positive and value < 0:
            raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
        return value

    return parse


_positive_float = _number(float, positive=True)
_non_negative_float = _number(float, positive=False)
_positive_int = _number(int, positive=True)


def _percent(text: str) -> float:
    value = float(_positive_float(text))
    if value > 100:
        raise argparse.ArgumentTypeError(f"{text!r} must be at most 100 (a percentage)")
    return value


def _limit(
    kind: type[int] | type[float], bounds: tuple[float, float], *, note: str = ""
) -> Callable[[str], Any]:
    """An argparse type for a limit: a number within ``bounds``, else one line with the range."""
    lo, hi = bounds
    accepted = f"use {plain_number(lo)} to {plain_number(hi)}{note}"
    check = _number(kind, positive=lo > 0)

    def parse(text: str) -> int | float:
        try:
            value = check(text)
        except argparse.ArgumentTypeError as exc:
            if "not a" in str(exc):  # not a number at all
                raise
            raise argparse.ArgumentTypeError(f"{exc}; {accepted}") from None
        if range_problem("", value, bounds):
            raise argparse.ArgumentTypeError(f"{text!r} is out of range: {accepted}")
        return float(value) if isinstance(value, float) else int(value)

    return parse


def _param(name: str) -> Callable[[str], Any]:
    """An argparse type for a sampling parameter (``--temperature`` ...): one value, in range,
    else one line with the accepted range (issue 15)."""

    def parse(text: str) -> int | float:
        try:
            values = parse_values(name, text)
        except SpecError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if len(values) != 1:
            raise argparse.ArgumentTypeError(
                f"{text!r}: give one value per option (repeat the option to sweep)"
            )
        return values[0]

    return parse


def _add_run_options(p: argparse.ArgumentParser, *, strategy: bool) -> None:
    what = p.add_argument_group("what to run")
    what.add_argument(
        "--prompt",
        "-p",
        action="append",
        default=[],
        metavar="TEMPLATE",
        help=f"prompt template with {{variables}}; repeat for prompt variants A, B, ... (default: {SEED_TEMPLATE!r} with the topics {', '.join(SEED_TOPICS)})",
    )
    what.add_argument(
        "--system",
        action="append",
        default=[],
        metavar="TEXT",
        help="system message placed before the prompt; repeat for variants (each prompt with each system message)",
    )
    what.add_argument(
        "--repeat",
        type=_limit(int, REPEATS_RANGE),
        default=1,
        metavar="N",
        help=f"samples per cell, run concurrently under the same limits ({REPEATS_RANGE[0]}-{REPEATS_RANGE[1]}, default 1)",
    )
    what.add_argument(
        "--topic",
        "-t",
        action="append",
        default=[],
        metavar="X",
        help="an input filling the template's variable (repeatable)",
    )
    what.add_argument(
        "--inputs", "-i", metavar="FILE", help="input rows: CSV with a header row, or JSON Lines"
    )
    checks = p.add_argument_group("checks (exit code 1 when any check fails)")
    checks.add_argument(
        "--check",
        action="append",
        default=[],
        metavar="CHECK",
        help="a check of every answer, e.g. 'contains:{topic}', 'regex/i:^\\d', 'max-words:50',"
        " 'name=short;weight=2;max-chars:280', 'json-schema:@schema.json' (repeatable; kinds: "
        + ", ".join(KINDS)
        + ")",
    )
    checks.add_argument(
        "--check-file",
        metavar="FILE",
        help="checks as a JSON list of objects, e.g. "
        '[{"kind": "contains", "value": "{topic}", "ignore_case": true}]',
    )

    _add_model_options(p)
    _add_limit_options(p, strategy=strategy)

    _add_judge_options(p)
    _add_cost_options(p)
    # `compare` times real requests: the cache is `run`'s alone.
    _add_cache_schema_options(p, cache=strategy)

    out = p.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    out.add_argument("--quiet", "-q", action="store_true", help="no live progress on stderr")
    out.add_argument(
        "--no-history",
        action="store_true",
        help="do not record this run in the history (default: recorded; see `fanout-studio history`)",
    )


def _add_cost_options(p: argparse.ArgumentParser) -> None:
    """``--price``, ``--budget`` and ``--estimate`` (issue 15)."""
    cost = p.add_argument_group("tokens and cost")
    cost.add_argument(
        "--price",
        action="append",
        default=[],
        metavar="MODEL=IN:OUT",
        help="USD per 1M input and output tokens of MODEL, e.g. gpt-4o-mini=0.15:0.60 "
        "(repeatable; on top of the saved price table; local servers cost 0)",
    )
    cost.add_argument(
        "--budget",
        type=float,
        metavar="USD",
        help="cost cap: no new cell starts when spent plus in-flight worst case would pass it",
    )
    cost.add_argument(
        "--estimate",
        action="store_true",
        help="print the run's cost estimate and exit 0 without running",
    )


def _model_prices(args: argparse.Namespace) -> tuple[PriceEntry, ...]:
    """The saved price table's entries (starter prices included) with ``--price`` on top.

    Raises:
        SpecError: a ``--price`` that is not ``MODEL=IN:OUT`` with prices of 0 or more.
    """
    from gui.storage.prices import PriceStore

    store = PriceStore()
    table = store.table()
    if store.notice:
        _warn(args.command or "run", store.notice)
    extra = [parse_price_option(text) for text in getattr(args, "price", None) or ()]
    return table.with_entries(extra).entries


def _with_costs(spec: RunSpec, args: argparse.Namespace) -> RunSpec:
    """``spec`` with the run's prices and ``--budget`` (validated: SpecError with the fix)."""
    prices = _model_prices(args)
    budget = getattr(args, "budget", None)
    limits = spec.limits if budget is None else spec.limits.changed(budget_usd=budget)
    return replace(spec, prices=prices, limits=limits)


def _add_cache_schema_options(p: argparse.ArgumentParser, *, cache: bool = True) -> None:
    """``--cache/--no-cache`` (with ``cache``) and ``--json-schema`` (issue 15)."""
    group = p.add_argument_group(
        "response cache and structured output" if cache else "structured output"
    )
    if cache:
        group.add_argument(
            "--cache",
            action=argparse.BooleanOptionalAction,
            default=False,
            help="answer a cell from the response cache in the data folder when an earlier run"
            " sent the same messages to the same model, server and parameters, and cache new"
            " answers (temperature > 0 bypasses it unless a seed is set; default: off)",
        )
    group.add_argument(
        "--json-schema",
        metavar="FILE",
        help="ask every cell for JSON that follows this JSON Schema; --json then carries"
        " `parsed` and `schema_error`",
    )


def _add_model_options(p: argparse.ArgumentParser) -> None:
    """``--provider``, ``--model``, ``--profile`` ... and the simulated model's options
    (``run``, ``compare`` and ``ask`` share them)."""
    models = p.add_argument_group("models")
    models.add_argument(
        "--provider",
        choices=[k.value for k in ProviderKind],
        default="simulated",
        help="simulated (offline, default) or openai (any OpenAI-compatible server)",
    )
    models.add_argument(
        "--model",
        "-m",
        action="append",
        default=[],
        metavar="NAME",
        help="model name; repeat for one column per model",
    )
    models.add_argument(
        "--profile",
        "-P",
        action="append",
        default=[],
        metavar="NAME",
        help="a saved profile (see `fanout-studio profiles`) as a column; its key comes from the system keyring (repeatable)",
    )
    models.add_argument(
        "--base-url",
        metavar="URL",
        help="OpenAI-compatible endpoint, e.g. http://localhost:11434/v1 (Ollama)",
    )
    models.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="environment variable holding the API key (default OPENAI_API_KEY, which is sent only to api.openai.com unless named here)",
    )
    sweep = "; repeat to sweep values (one column each)"
    models.add_argument(
        "--temperature",
        action="append",
        default=[],
        type=_param("temperature"),
        metavar="T",
        help=f"sampling temperature, 0 to 2{sweep}",
    )
    models.add_argument(
        "--top-p",
        action="append",
        default=[],
        type=_param("top_p"),
        metavar="P",
        help=f"nucleus sampling, 0 to 1{sweep}",
    )
    models.add_argument(
        "--max-tokens",
        action="append",
        default=[],
        type=_param("max_tokens"),
        metavar="N",
        help=f"cap on answer tokens{sweep}",
    )

    sim = p.add_argument_group("simulated model")
    sim.add_argument(
        "--sim-latency",
        type=_positive_float,
        metavar="S",
        help="whole request time in seconds (first token plus streaming)",
    )
    sim.add_argument(
        "--sim-ttft",
        type=_non_negative_float,
        metavar="S",
        help=f"seconds to first token (default {_SIM.ttft:g})",
    )
    sim.add_argument(
        "--sim-tps",
        type=_non_negative_float,
        metavar="N",
        help=f"tokens per second, 0 = unlimited (default {_SIM.tokens_per_second:g})",
    )
    sim.add_argument(
        "--sim-tokens",
        type=_positive_int,
        metavar="N",
        help=f"tokens per answer (default {_SIM.output_tokens})",
    )
    sim.add_argument(
        "--sim-jitter",
        type=_non_negative_float,
        metavar="F",
        help=f"relative timing jitter (default {_SIM.jitter:g})",
    )
    sim.add_argument(
        "--sim-failure-rate",
        type=_non_negative_float,
        metavar="P",
        help=f"probability a request fails (default {_SIM.failure_rate:g})",
    )
    sim.add_argument(
        "--sim-failure-kind",
        choices=SimSettings.FAILURE_KINDS,
        help="how simulated failures look",
    )
    sim.add_argument(
        "--seed",
        action="append",
        default=[],
        type=_param("seed"),
        metavar="N",
        help="the request's seed; for the simulated model also the seed of its text and failures; repeat to sweep seeds",
    )


def _add_limit_options(p: argparse.ArgumentParser, *, strategy: bool) -> None:
    """The limits a run (or a chat turn) runs under."""
    lim = p.add_argument_group("limits")
    if strategy:
        lim.add_argument("--strategy", "-s", choices=[s.value for s in Strategy], default="stream")
    lim.add_argument(
        "--max-concurrency",
        "-c",
        type=_limit(int, Limits.MAX_CONCURRENCY_RANGE),
        default=_LIMITS.max_concurrency,
        metavar="N",
        help="cells in flight at once, 1 to 1000 (default %(default)s)",
    )
    lim.add_argument(
        "--rps",
        type=_limit(float, Limits.RPS_RANGE, note=", or leave --rps out for no cap"),
        metavar="R",
        help="requests per second, 0.01 to 10000 (default: no cap)",
    )
    lim.add_argument(
        "--ttft-timeout",
        type=_limit(float, Limits.TIMEOUT_RANGE),
        metavar="S",
        help="seconds from a request to its first text, connecting included (a whole answer "
        f"counts as its first text), 0.05 to 3600 (default {_LIMITS.ttft_timeout:g})",
    )
    lim.add_argument(
        "--idle-timeout",
        type=_limit(float, Limits.TIMEOUT_RANGE),
        metavar="S",
        help="longest gap between two pieces of a streamed answer, 0.05 to 3600 "
        f"(default {_LIMITS.idle_timeout:g})",
    )
    lim.add_argument(
        "--total-timeout",
        type=_limit(float, Limits.TOTAL_TIMEOUT_RANGE),
        default=_LIMITS.total_timeout,
        metavar="S",
        help="seconds for one whole request, stream included, 0.05 to 86400 (default: off)",
    )
    lim.add_argument(
        "--timeout",
        type=_limit(float, Limits.TIMEOUT_RANGE),
        metavar="S",
        help="sets both --ttft-timeout and --idle-timeout (given alone, or they win)",
    )
    lim.add_argument(
        "--max-answer-chars",
        type=_limit(int, Limits.ANSWER_CHARS_RANGE),
        default=_LIMITS.max_answer_chars,
        metavar="N",
        help="longest answer kept, in characters; a longer one is cut there and its cell "
        "fails with 'answer too large' (default %(default)s)",
    )
    lim.add_argument(
        "--retries",
        type=_limit(int, Limits.RETRIES_RANGE),
        default=_LIMITS.retries,
        metavar="N",
        help="extra attempts after a retryable failure, 0 to 10 (default %(default)s)",
    )
    lim.add_argument("--error-policy", choices=[e.value for e in ErrorPolicy], default="isolate")


def _add_judge_options(p: argparse.ArgumentParser) -> None:
    """The LLM judge's options (issue 13); see :func:`judge_from_args`."""
    judge = p.add_argument_group("LLM judge")
    judge.add_argument(
        "--judge-model",
        metavar="NAME",
        help="judge every answer with this model of the run's provider (sim-judge works offline)",
    )
    judge.add_argument("--judge-profile", metavar="NAME", help="judge with a saved profile instead")
    judge.add_argument(
        "--judge-rubric",
        metavar="TEXT|@FILE",
        help="what the judge values (default: a starter rubric); @FILE reads it from a file",
    )
    judge.add_argument(
        "--pairwise",
        action="store_true",
        help="compare the answers to each input two at a time and rank the models",
    )
    judge.add_argument(
        "--judge-max-in-flight",
        type=_limit(int, (1, 1000)),
        metavar="N",
        help="judge calls at once, apart from the run's own limit (default 4)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``fanout-studio`` argument parser."""
    parser = _Parser(
        prog="fanout-studio",
        description="Run one prompt over many inputs and models at once. Without a command, opens the window.",
    )
    parser.add_argument(
        "--version",
        action=_RunAndExit,
        job=_print_version,
        help="print the versions of the app, Python, Qt and LangChain, and the data folder",
    )
    parser.add_argument(
        "--install-desktop-entry",
        action=_RunAndExit,
        job=_install_desktop_entry,
        help="Linux: add Fanout Studio to the desktop's applications menu, with its icon ($XDG_DATA_HOME)",
    )
    add_window_options(parser, demo_names())  # the fast path (gui/launch.py) parses these too
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    run_p = sub.add_parser(
        "run",
        help="run the cells and print every answer",
        description="Run the template over every input and model.",
    )
    _add_run_options(run_p, strategy=True)
    from gui.cli_batch import add_batch_parsers, add_batch_run_options  # imports this module

    add_batch_run_options(run_p)
    cmp_p = sub.add_parser(
        "compare",
        help="time the same cells under every strategy",
        description="Run the same cells through sync, sequential, gather, abatch, as_completed and stream, and print the timing table.",
    )
    _add_run_options(cmp_p, strategy=False)
    cmp_p.add_argument(
        "--strategies", metavar="LIST", help="comma-separated subset, in order (default: all six)"
    )
    bench_p = sub.add_parser(
        "bench",
        help="run the benchmark scenarios on the simulated model",
        description="Run the benchmark scenarios (seed, throughput, overhead, stream-stress, stream-stress-200, render-ceiling, startup, input, agreement, checks, judge, scoreboard, sweep-600, chat-long, estimate, batch-ingest, soak) and print a table.",
    )
    bench_p.add_argument(
        "--scenario",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this scenario (repeatable)",
    )
    bench_p.add_argument("--json", action="store_true", help="print one JSON object")
    bench_p.add_argument(
        "--quick", action="store_true", help="reduced sizes: checks the machinery, not the targets"
    )
    bench_p.add_argument(
        "--markdown", metavar="FILE", help="also write the results as Markdown (docs/benchmarks.md)"
    )
    prof_p = sub.add_parser(
        "profiles",
        help="list the saved provider profiles",
        description="List the provider profiles saved in the window's Profiles dock (use one with run --profile NAME). Keys are never printed.",
    )
    prof_p.add_argument("--json", action="store_true", help="print a JSON list")
    where = "the history database in $FANOUT_HOME, else the per-user data folder"
    hist_p = sub.add_parser(
        "history",
        help="list recorded runs, newest first",
        description=f"List the runs recorded in {where}, newest first. A run the app did not finish (killed, crashed) shows as interrupted.",
    )
    hist_p.add_argument(
        "--search", metavar="TEXT", default="", help="only runs whose template contains TEXT"
    )
    hist_p.add_argument(
        "--model", metavar="NAME", help="only runs with this model (name or column title)"
    )
    hist_p.add_argument(
        "--limit",
        type=_positive_int,
        default=50,
        metavar="N",
        help="at most N runs (default 50)",
    )
    hist_p.add_argument("--json", action="store_true", help="print a JSON list")
    show_p = sub.add_parser(
        "show",
        help="print one recorded run with every cell",
        description=f"Print one run from {where} with every cell, as `run` prints it.",
    )
    show_p.add_argument("run_id", metavar="RUN_ID", help="the run's id, or a unique prefix of it")
    show_p.add_argument(
        "--json",
        action="store_true",
        help="print everything stored (spec, cells, metrics) as one JSON object",
    )
    show_p.add_argument(
        "--agreement",
        type=_positive_int,
        metavar="ROW",
        help="print only input row ROW (1-based: row 1 holds cells r0m*) with each answer's "
        "sentences tagged as shared by all answers, by some, or unique",
    )
    show_p.add_argument(
        "--threshold",
        type=_percent,
        default=DEFAULT_THRESHOLD * 100,
        metavar="PCT",
        help=f"with --agreement: token overlap from which two sentences say the same "
        f"(default {DEFAULT_THRESHOLD * 100:g})",
    )
    diff_p = sub.add_parser(
        "diff",
        help="word diff of two cells of a recorded run",
        description=f"Print a word diff of two answers of one run from {where}: "
        "[-deleted-] and {+inserted+} words (coloured on a terminal), and their similarity.",
    )
    diff_p.add_argument("run_id", metavar="RUN_ID", help="the run's id, or a unique prefix of it")
    for name in ("cell_a", "cell_b"):
        diff_p.add_argument(
            name,
            metavar=name.upper(),
            help="a cell id as `show` prints it: r<row>m<column>, 0-based (e.g. r0m1)",
        )
    diff_p.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="colour the changes (default: only on a terminal, and not with NO_COLOR set)",
    )
    export_p = sub.add_parser(
        "export",
        help="export a recorded run as JSON, CSV or Markdown",
        description="Export one recorded run: json (everything, the per-model summary under summary.models), csv (one row per cell; with -o, the per-model summary beside it), md (the Scoreboard, the answer matrix and a metrics table), summary-csv (one row per model). A chat (CHAT_ID): json (every branch and alternative), md (a section per model) or md-table (a side-by-side table per turn).",
    )
    export_p.add_argument("run_id", metavar="RUN_ID", help="the run's id, or a unique prefix of it")
    export_p.add_argument(
        "--format",
        "-f",
        choices=["json", "csv", "md", "summary-csv", "md-table", "batch-jsonl"],
        help="output format (default: from the -o file's extension); csv to a file also writes"
        " the per-model summary beside it as NAME-summary.csv; summary-csv is that table alone;"
        " a chat exports as json, md (a section per model) or md-table (a table per turn);"
        " batch-jsonl is every cell's request in the OpenAI batch input format (for vLLM's"
        " run-batch, or to submit elsewhere; read the results back with import-batch)",
    )
    export_p.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="write to FILE instead of standard output (never a file of the app's own data folder, except its exports folder)",
    )
    export_p.add_argument(
        "--csv-raw",
        action="store_true",
        help="CSV: keep cells starting with = + - @ as they are (by default they get a leading ' so a spreadsheet does not run them as formulas)",
    )
    from gui.cli_leaderboard import add_leaderboard_parser  # here: it imports this module

    add_leaderboard_parser(sub)
    from gui.cli_chat import add_chat_parsers  # here: it imports this module

    add_chat_parsers(sub)
    add_batch_parsers(sub)
    return parser


# ------------------------------------------------------------------- spec building


def spec_from_args(
    args: argparse.Namespace,
    strategy: Strategy | None = None,
    *,
    warn: bool = False,
    keys: HeldKeys | None = None,
) -> RunSpec:
    """Build and validate the run the arguments describe.

    Args:
        args: The parsed arguments.
        strategy: Overrides ``--strategy`` (``compare`` runs each strategy in turn).
        warn: Write warnings that do not stop the run (an inputs file read as Windows-1252,
            a column the template does not use) to stderr, one line each. ``compare`` builds
            the spec once per strategy and asks for them only the first time.
        keys: Where the keys of ``--profile`` profiles are read to from the keyring (once),
            for :func:`execute` to send; default: a fresh holder.

    Raises:
        UsageError: anything the user must fix, as one line.
    """
    prompts: list[str] = list(args.prompt)
    topics: list[str] = list(args.topic)
    if not prompts:
        prompts = [SEED_TEMPLATE]
        if not topics and not args.inputs:
            topics = list(SEED_TOPICS)
    template, more_templates = prompts[0], tuple(prompts[1:])
    if topics and args.inputs:
        raise UsageError("give either --topic or --inputs, not both")
    try:
        variables = _variables(prompts)
        inputs: list[Any] = (
            _rows_from_inputs_file(
                args.inputs, variables, (args.command or "run") if warn else None
            )
            if args.inputs
            else topics
        )
        if variables and not inputs:
            names = ", ".join(f"{{{v}}}" for v in variables)
            raise UsageError(
                f"No inputs: the template uses {names}. Give --topic X (repeatable) or "
                "--inputs FILE (CSV or JSON Lines)."
            )
        limits = limits_from_args(args)
        held = keys if keys is not None else HeldKeys()
        models = profiles_from_args(args, held)
        judge = judge_from_args(args, held)
        if warn:
            # The judge sends the key of its own profile: issue 10's warnings cover it too.
            judged = (*models, judge.model) if judge is not None else models
            for line in key_warnings(judged, held):
                _warn(args.command or "run", line)
        spec = _spec(template, inputs, models, strategy or Strategy(args.strategy), limits, None)
        spec = _with_columns(spec, more_templates, list(args.system), args.repeat)
        checks = checks_from_args(args)
        if checks:
            validate_checks(checks, variables)
            spec = replace(spec, checks=checks)
        if judge is not None:
            judge.validate()
            spec = replace(spec, judge=judge)
        return _with_cache_and_schema(_with_costs(spec, args), args)
    except (SpecError, TemplateError) as exc:
        raise UsageError(str(exc)) from None


def _variables(templates: Sequence[str]) -> list[str]:
    """Every variable of the prompt variants, in order of first use.

    Raises:
        SpecError: a variant after the first is empty (the first keeps its own message).
    """
    for i, template in enumerate(templates[1:], start=1):
        if not template.strip():
            raise SpecError(
                f"Prompt variant {variant_id(i)} is empty. Write its prompt or leave out that --prompt."
            )
    seen: dict[str, None] = {}
    for template in templates:
        seen.update(dict.fromkeys(template_variables(template)))
    return list(seen)


def _with_columns(
    spec: RunSpec, more_templates: tuple[str, ...], systems: list[str], repeats: int
) -> RunSpec:
    """``spec`` with the prompt variants, system messages and repeats of issue 15, validated.

    Raises:
        SpecError: an empty variant, repeats out of range, too many columns.
    """
    if not (more_templates or systems or repeats != 1):
        return spec
    if more_templates and not spec.variables and spec.rows == ({},):
        # make_spec made one empty row for a first prompt without variables; a variant
        # with variables needs the inputs it was given: refuse rather than send "{topic}".
        names = _variables(more_templates)
        if names:
            raise SpecError(
                f"Prompt variant A uses no variables but another uses {{{names[0]}}}: "
                "give every variant the same variables."
            )
    spec = replace(
        spec,
        system=(systems[0] or None) if systems else None,
        system_variants=tuple(systems[1:]),
        template_variants=more_templates,
        repeats=repeats,
    )
    spec.validate()
    return spec


def _with_cache_and_schema(spec: RunSpec, args: argparse.Namespace) -> RunSpec:
    """``spec`` with ``--cache`` and ``--json-schema FILE`` applied.

    Raises:
        UsageError: the schema file cannot be read or is not a valid JSON schema.
    """
    from gui.core.structured import parse_schema

    cache = bool(getattr(args, "cache", False))
    if cache:
        spec = replace(spec, limits=replace(spec.limits, cache=True))
    path = getattr(args, "json_schema", None)
    if path is None:
        return spec
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"--json-schema: cannot read {path} ({reason}).") from None
    try:
        schema = parse_schema(text)
    except SpecError as exc:
        raise UsageError(f"--json-schema {path}: {exc}") from None
    return replace(spec, json_schema=schema)


def response_cache(spec: RunSpec) -> Any:
    """The response cache in the data folder for a run that asks for it, else ``None``."""
    if not spec.limits.cache:
        return None
    from gui.providers.cache import CACHE_FILE_NAME, SqliteResponseCache
    from gui.storage import paths

    return SqliteResponseCache(paths.home() / CACHE_FILE_NAME)


def limits_from_args(args: argparse.Namespace) -> Limits:
    """The limits the ``--max-concurrency``, ``--rps``, timeout ... options ask for."""
    return Limits(
        max_concurrency=args.max_concurrency,
        requests_per_second=args.rps,
        ttft_timeout=_timeout_arg(args, "ttft_timeout"),
        idle_timeout=_timeout_arg(args, "idle_timeout"),
        total_timeout=args.total_timeout,
        retries=args.retries,
        error_policy=ErrorPolicy(args.error_policy),
        max_answer_chars=args.max_answer_chars,
    )


def checks_from_args(args: argparse.Namespace) -> tuple[Check, ...]:
    """The checks of ``--check-file`` then ``--check`` (a ``json-schema:@FILE`` inlined).

    Raises:
        CheckError: a check that cannot be read, naming the fix.
    """
    checks: list[Check] = []
    path = getattr(args, "check_file", None)
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CheckError(f"Cannot read the check file {path!r} ({exc}).") from None
        checks += checks_from_json(text, Path(path).name)
    for line in getattr(args, "check", None) or ():
        try:
            checks.append(parse_check(line))
        except CheckError as exc:
            raise CheckError(f"--check {line!r}: {exc}") from None
    return tuple(with_inlined_schema(c) for c in checks)


def judge_from_args(args: argparse.Namespace, keys: HeldKeys) -> JudgeSettings | None:
    """The judge ``--judge-model`` / ``--judge-profile`` and their options ask for, or ``None``.

    ``--judge-model`` names a model of the run's provider (``--provider``, ``--base-url``),
    so ``--judge-model sim-judge`` on the default simulated provider works offline.

    Raises:
        UsageError: a judge option without a judge, both judges, an unreadable rubric file.
    """
    name = getattr(args, "judge_model", None)
    profile_name = getattr(args, "judge_profile", None)
    extras = [
        flag
        for flag, value in (
            ("--judge-rubric", getattr(args, "judge_rubric", None)),
            ("--pairwise", getattr(args, "pairwise", False)),
            ("--judge-max-in-flight", getattr(args, "judge_max_in_flight", None)),
        )
        if value
    ]
    if name is None and profile_name is None:
        if extras:
            raise UsageError(
                f"{extras[0]} needs a judge: --judge-model NAME or --judge-profile NAME"
            )
        return None
    if name is not None and profile_name is not None:
        raise UsageError("give either --judge-model or --judge-profile, not both")
    if profile_name is not None:
        model = _saved_profiles([profile_name], keys)[0]
    else:
        assert name is not None
        if not name.strip():
            raise UsageError("--judge-model is empty: name a model, e.g. sim-judge")
        kind = ProviderKind(args.provider)
        if kind is ProviderKind.SIMULATED:
            model = ModelProfile(model=name, provider=kind, sim=_sim_settings(args))
        else:
            from gui.core import keys as secrets

            # As for --model: the run's columns may all be --profile ones, which never
            # read --base-url, so the judge registers its URL's password and named key here.
            if args.api_key_env:
                secrets.allow_env(args.api_key_env)
            secrets.watch_url(args.base_url)
            model = ModelProfile(
                model=name,
                provider=kind,
                base_url=args.base_url,
                api_key_env=args.api_key_env or _default_key_env(),
            )
    rubric = getattr(args, "judge_rubric", None) or STARTER_RUBRIC
    if rubric.startswith("@"):
        path = Path(rubric[1:]).expanduser()
        try:
            rubric = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
            raise UsageError(f"--judge-rubric: cannot read {path}: {reason}") from None
    return JudgeSettings(
        model=model,
        rubric=rubric,
        mode=JudgeMode.PAIRWISE if getattr(args, "pairwise", False) else JudgeMode.SINGLE,
        max_concurrency=getattr(args, "judge_max_in_flight", None)
        or JudgeSettings().max_concurrency,
    )


def _default_key_env() -> str:
    from gui.core import keys

    return keys.DEFAULT_KEY_ENV


def _timeout_arg(args: argparse.Namespace, name: str) -> float | None:
    """``--ttft-timeout`` or ``--idle-timeout``; ``--timeout`` stands for both unless given."""
    value: float | None = getattr(args, name)
    if value is None:
        value = args.timeout if args.timeout is not None else getattr(_LIMITS, name)
    return value


def _warn(command: str, line: str) -> None:
    sys.stderr.write(escape_controls(f"fanout-studio {command}: warning: {line}") + "\n")


def _rows_from_inputs_file(
    path: str, variables: list[str], warn_as: str | None
) -> list[dict[str, str]]:
    """The rows of ``--inputs``; a column the template needs and the file lacks is refused.

    Warnings go to stderr as the command ``warn_as`` (``None``: no warnings).
    """
    loaded = load_rows_file(path)
    name = Path(path).name
    missing = [v for v in variables if v not in loaded.columns]
    if missing:
        raise TemplateError(missing_column_message(missing[0], loaded.columns, name))
    if warn_as is not None:
        command = warn_as
        for note in loaded.notes:
            _warn(command, note)
        if not variables:
            _warn(
                command, f"the template has no {{variables}}, so the rows of {name} are not used."
            )
        unused = [c for c in loaded.columns if c not in variables]
        if variables and unused:
            names = ", ".join(repr(c) for c in unused)
            one = len(unused) == 1
            _warn(
                command,
                f"{name}: column{'' if one else 's'} {names} {'is' if one else 'are'} not in "
                "the template, so not sent.",
            )
    return loaded.rows


def _spec(
    template: str,
    inputs: list[Any],
    models: tuple[ModelProfile, ...],
    strategy: Strategy,
    limits: Limits,
    system: str | None,
) -> RunSpec:
    spec = make_spec(template, inputs, models, strategy, limits)
    return replace(spec, system=system) if system else spec


def profiles_from_args(
    args: argparse.Namespace, keys: HeldKeys | None = None
) -> tuple[ModelProfile, ...]:
    """Saved profiles named by ``--profile`` (their keys read into ``keys``), then one
    profile per ``--model``."""
    saved = _saved_profiles(args.profile, keys if keys is not None else HeldKeys())
    if saved and not args.model:
        return _with_sampling(saved, args)
    return _with_sampling(saved + _model_profiles(args), args)


def _with_sampling(
    profiles: tuple[ModelProfile, ...], args: argparse.Namespace
) -> tuple[ModelProfile, ...]:
    """Every profile with the ``--temperature``, ``--top-p``, ``--max-tokens`` and ``--seed``
    values: one value sets the parameter, two or more sweep it (a column per value).

    Raises:
        UsageError: a sweep where the command sends one request per model (``ask``).
    """
    given = {name: list(getattr(args, name, None) or ()) for name in PARAMETERS}
    if not any(given.values()):
        return profiles
    sweeps = getattr(args, "repeat", None) is not None  # run and compare take sweeps
    single: dict[str, Any] = {}
    swept: dict[str, tuple[Any, ...]] = {}
    for name, values in given.items():
        values = list(dict.fromkeys(values))
        if len(values) == 1:
            single[name] = values[0]
        elif values:
            if not sweeps:
                option = "--" + name.replace("_", "-")
                raise UsageError(f"{option} takes one value here (sweeps are for run and compare)")
            swept[name] = tuple(values)
    out = []
    for profile in profiles:
        profile = profile.with_params(single) if single else profile
        if swept:
            profile = replace(profile, sweep=replace(profile.sweep, **swept))
        out.append(profile)
    return tuple(out)


def _saved_profiles(names: Sequence[str], held: HeldKeys) -> tuple[ModelProfile, ...]:
    """The saved profiles ``names``, their keys read from the keyring into ``held``."""
    if not names:
        return ()
    from gui.core import keys
    from gui.storage.profiles import ProfileStore
    from gui.storage.secrets import KeyStore, KeyStoreError

    store = ProfileStore()
    saved = {p.name: p for p in store.load()}
    if store.notice:
        sys.stderr.write(f"fanout-studio: {store.notice}\n")
    keystore: KeyStore | None = None
    out = []
    unusable = {u.name: u for u in store.unsupported}
    for known in saved.values():
        keys.watch_url(known.profile.base_url)
    for name in names:
        item = saved.get(name)
        if item is None and name in unusable:
            raise UsageError(
                f"profile {name!r} cannot be used by this version: {unusable[name].reason}"
            )
        if item is None:
            have = (
                ", ".join(sorted(saved))
                or "none saved yet (save one in the window's Profiles dock)"
            )
            raise UsageError(f"no saved profile {name!r} (profiles: {have})")
        ref = item.profile.key_ref
        if ref and held.resolve(ref) is None:
            keystore = keystore or KeyStore()
            try:
                held.hold(ref, keystore.get(ref))
            except KeyStoreError as exc:
                sys.stderr.write(f"fanout-studio: the key of profile {name!r}: {exc}\n")
        out.append(item.for_run())
    return tuple(out)


def _model_profiles(args: argparse.Namespace) -> tuple[ModelProfile, ...]:
    """One profile per ``--model`` (or the provider's default model)."""
    kind = ProviderKind(args.provider)
    if kind is ProviderKind.SIMULATED:
        if args.base_url:
            raise UsageError("--base-url needs --provider openai")
        sim = _sim_settings(args)
        names = args.model or ["sim-1"]
        return tuple(ModelProfile(model=n, provider=kind, sim=sim) for n in names)
    if not args.model:
        raise UsageError("--provider openai needs --model NAME (e.g. gpt-4o-mini, llama3.2)")
    from gui.core import keys

    env = args.api_key_env or keys.DEFAULT_KEY_ENV
    if args.api_key_env:
        keys.allow_env(env)  # the user named it for this base URL
    keys.watch_url(args.base_url)
    # --estimate sends nothing (issue 15): pricing an OpenAI run needs no key.
    estimating = bool(getattr(args, "estimate", False))
    if not args.base_url and not os.environ.get(env, "").strip() and not estimating:
        raise UsageError(
            f"${env} is not set: export your API key, or give --base-url for a local server"
        )
    profiles = tuple(
        ModelProfile(
            model=n,
            provider=kind,
            base_url=args.base_url,
            api_key_env=env,
        )
        for n in args.model
    )
    return profiles


def key_warnings(profiles: Sequence[ModelProfile], held: KeySource | None = None) -> list[str]:
    """One line per base URL whose key is withheld (the default variable to another host)
    or would travel over plain http:// to another machine, as the window warns; ``held``
    has the keys of ``--profile`` profiles."""
    from urllib.parse import urlsplit

    from gui.core import keys

    saved = held if held is not None else HeldKeys()
    lines: list[str] = []
    seen: set[str] = set()
    for p in profiles:
        if p.provider is not ProviderKind.OPENAI or not p.base_url or p.base_url in seen:
            continue
        seen.add(p.base_url)
        try:
            url = urlsplit(p.base_url)
            host = url.hostname or ""
        except ValueError:
            continue
        if keys.key_withheld(p, saved):
            lines.append(
                f"${p.api_key_env} is not sent to {host}: it is a key for api.openai.com. "
                f"Give --api-key-env {p.api_key_env} to send it there anyway."
            )
        elif (
            url.scheme == "http" and not _loopback(host) and keys.api_key_for(p, saved) is not None
        ):
            which = f"the key saved for {p.key_ref!r}" if p.key_ref else f"${p.api_key_env}"
            lines.append(
                f"plain http:// to {host}: {which} travels in clear text. Use https:// "
                "unless this network is yours alone."
            )
    return lines


def _loopback(host: str) -> bool:
    """Whether ``host`` is this machine (the window's rule for clear-text warnings)."""
    import ipaddress

    host = host.lower().strip("[]")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _sim_settings(args: argparse.Namespace) -> SimSettings:
    tokens = args.sim_tokens or _SIM.output_tokens
    # One --seed seeds the simulated text as it always did; a seed sweep sets each column's.
    seeds = list(dict.fromkeys(args.seed or ()))
    extra: dict[str, Any] = {"seed": seeds[0] if len(seeds) == 1 else None}
    if args.sim_jitter is not None:
        extra["jitter"] = args.sim_jitter
    if args.sim_failure_rate is not None:
        if args.sim_failure_rate > 1:
            raise UsageError("--sim-failure-rate is a probability: use 0 to 1")
        extra["failure_rate"] = args.sim_failure_rate
    if args.sim_failure_kind:
        extra["failure_kind"] = args.sim_failure_kind
    if args.sim_latency is not None:
        if args.sim_ttft is not None or args.sim_tps is not None:
            raise UsageError(
                "--sim-latency sets the whole request time; do not combine it with --sim-ttft/--sim-tps"
            )
        return SimSettings.with_latency(args.sim_latency, output_tokens=tokens, **extra)
    ttft = _SIM.ttft if args.sim_ttft is None else args.sim_ttft
    tps = _SIM.tokens_per_second if args.sim_tps is None else args.sim_tps
    return SimSettings(ttft=ttft, tokens_per_second=tps, output_tokens=tokens, **extra)


# ------------------------------------------------------------------- running


class Progress:
    """One live status line on a terminal's stderr, redrawn at most 10 times a second."""

    def __init__(self, run: Run, stream: TextIO, enabled: bool) -> None:
        self.run, self.stream, self.enabled = run, stream, enabled
        self._last = 0.0
        self._ended = 0

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.CellFinished | ev.CellFailed | ev.CellCancelled):
            self._ended += 1
        if not self.enabled:
            return
        now = time.monotonic()
        if isinstance(event, ev.RunFinished):
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
        elif now - self._last >= 0.1:
            self._last = now
            r = self.run
            from gui.core.runner import Phase

            self.stream.write(
                f"\r\x1b[2K[{self._ended}/{len(r.cells)}] {r.spec.strategy} · in flight {r.in_flight}"
                f" · waiting {r.count(Phase.WAITING) + r.count(Phase.QUEUED)} · done {r.count(Phase.DONE)}"
                f" · failed {r.count(Phase.FAILED)} · {r.elapsed():.1f} s"
            )
            self.stream.flush()


#: Signals that end a run as Ctrl+C does: cells cancelled with their partial text, recorded.
STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def signal_exit_code(signals: Sequence[int]) -> int | None:
    """The shell's exit code for a run ended by the first of ``signals`` (128 + its number)."""
    return 128 + int(signals[0]) if signals else None


async def execute(
    spec: RunSpec,
    *,
    progress: bool,
    on_event: Any = None,
    received: list[int] | None = None,
    keys: KeySource | None = None,
) -> tuple[Run, list[ev.Event]]:
    """Run ``spec`` to the end on the LangChain backend.

    Ctrl+C, SIGTERM (a service manager, ``kill``, ``timeout``) and SIGHUP (the terminal closed)
    cancel it cleanly: every cell ends cancelled with its partial text, and the history has it
    all before this returns. The signals received are appended to ``received``. ``keys``
    has the keys of ``--profile`` profiles (:func:`spec_from_args` read them); the
    environment variables profiles name are read as the model is built.
    """
    from gui.providers.backend import LangChainBackend

    cache = response_cache(spec)
    backend = LangChainBackend(keys=keys, cache=cache)
    run = Run(spec, backend)
    ended: list[ev.Event] = []

    def collect(event: ev.Event) -> None:
        if isinstance(
            event,
            ev.CellFinished | ev.CellFailed | ev.CellCancelled | ev.CellChecked | ev.RunFinished,
        ):
            ended.append(event)

    run.subscribe(collect)
    run.subscribe(Progress(run, sys.stderr, progress))
    if on_event is not None:
        run.subscribe(on_event)
    loop = asyncio.get_running_loop()

    def stop(signum: int) -> None:
        if received is not None:
            received.append(signum)
        run.cancel()

    for signum in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop, signum)
    try:
        await run.wait()
    finally:
        for signum in STOP_SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signum)
        await backend.aclose()
        if cache is not None:
            cache.close()
    return run, ended


def _metrics_json(m: CellMetrics) -> dict[str, Any]:
    out = asdict(m)
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}


def results_json(run: Run | BatchRun, ended: Sequence[ev.Event]) -> list[dict[str, Any]]:
    """One JSON object per cell, in grid order; ``checks`` lists its check results (a cell
    without an ended event in ``ended`` shows as cancelled)."""
    by_cell = {
        e.cell_id: e
        for e in ended
        if isinstance(e, ev.CellEvent) and not isinstance(e, ev.CellChecked)
    }
    checked = {e.cell_id: e.results for e in ended if isinstance(e, ev.CellChecked)}
    results = []
    for cell in run.cells:
        e = by_cell.get(cell.id)
        item: dict[str, Any] = {
            "cell": cell.id,
            "input": dict(cell.inputs),
            "model": cell.model.display_name,
            "status": "done"
            if isinstance(e, ev.CellFinished)
            else "failed"
            if isinstance(e, ev.CellFailed)
            else "cancelled",
            "output": e.text if isinstance(e, ev.CellFinished) else getattr(e, "partial_text", ""),
            "error_kind": str(e.kind)
            if isinstance(e, ev.CellFailed)
            else ("cancelled" if isinstance(e, ev.CellCancelled) else None),
            "error": e.message
            if isinstance(e, ev.CellFailed)
            else (e.reason if isinstance(e, ev.CellCancelled) else None),
            "metrics": _metrics_json(e.metrics)
            if isinstance(e, ev.CellFinished | ev.CellFailed | ev.CellCancelled)
            else None,
            "checks": [r.to_dict() for r in checked.get(cell.id, ())],
        }
        _add_column(item, cell)
        _add_finish(item)
        _add_cost(item)
        _add_judge(item, run, cell.id)
        _add_cache_and_schema(item, run.spec)
        results.append(_safe_item(item))
    return results


def _add_column(item: dict[str, Any], cell: Cell) -> None:
    """The cell's column identity (template id, model, parameters) and its sample (1-based,
    as the window's "sample k of N"), issue 15."""
    if cell.column is not None:
        column = cell.column.identity()
        column["model"] = _safe_item({"model": column["model"]})["model"]
        column["header"] = _safe_item({"model": column["header"]})["model"]
        item["column"] = column
    item["sample"] = cell.sample + 1
    item["samples"] = cell.samples


def _add_cache_and_schema(item: dict[str, Any], spec: RunSpec) -> None:
    """``cached`` for every cell; ``parsed`` and ``schema_error`` for a structured run's."""
    metrics = item.get("metrics") or {}
    item["cached"] = bool(metrics.get("cached"))
    if spec.json_schema is None:
        return
    from gui.core.structured import check_answer

    valid = metrics.get("schema_valid")
    item["parsed"] = check_answer(spec.json_schema, item["output"]).parsed if valid else None
    item["schema_error"] = metrics.get("schema_error")


def _add_judge(item: dict[str, Any], run: Run | BatchRun, cell_id: str) -> None:
    """The judge's verdict on the cell, for a run with a single-mode judge (``None`` when the
    cell was not judged: it failed, or the run was cancelled first)."""
    lane = run.judge
    if lane is None or lane.settings.mode is not JudgeMode.SINGLE:
        return
    verdict = lane.verdicts.get(cell_id)
    item["judge"] = None if verdict is None else _verdict_json(verdict)


def _verdict_json(verdict: JudgeVerdict) -> dict[str, Any]:
    from gui.core.keys import redact

    data = verdict.to_dict()
    for name in ("reason", "raw", "error"):
        if isinstance(data.get(name), str):
            data[name] = redact(data[name])
    return data


def judge_summary_json(run: Run) -> dict[str, Any] | None:
    """The judge's part of ``run --json``'s summary: counts, and the ranking when pairwise."""
    lane = run.judge
    if lane is None:
        return None
    models = run.spec.headers
    out: dict[str, Any] = {
        "judge_model": lane.judge_model,
        "mode": str(lane.settings.mode),
        "done": lane.counts.done,
        "failed": lane.counts.failed,
        "peak_in_flight": lane.counts.peak_in_flight,
    }
    if lane.settings.mode is JudgeMode.PAIRWISE:
        out["pairwise"] = [p.to_dict() for p in lane.pairs]
        out["ranking"] = [r.to_dict() for r in rank(lane.pairs, models)]
        out["ranking_by_input"] = {
            str(row + 1): [r.to_dict() for r in ranks]
            for row, ranks in rank_by_row(lane.pairs, models).items()
        }
    return out


def _safe_item(item: dict[str, Any]) -> dict[str, Any]:
    """``item`` as it may be printed: lone surrogates replaced (the cell then carries
    ``notice``), every known secret masked."""
    from gui.core.keys import redact

    cleaned_any, replaced = clean_json(item)
    cleaned: dict[str, Any] = cleaned_any
    for name in ("output", "error", "model"):
        if isinstance(cleaned.get(name), str):
            cleaned[name] = redact(cleaned[name])
    if replaced:
        cleaned["notice"] = REPLACED_NOTICE
    else:
        cleaned.setdefault("notice", None)
    return cleaned


def _add_finish(item: dict[str, Any]) -> None:
    """Lift the finish reason and the note out of the metrics, where a reader looks first."""
    metrics = item.get("metrics") or {}
    item["finish_reason"] = metrics.get("finish_reason")
    item["note"] = metrics.get("note")


def _add_cost(item: dict[str, Any]) -> None:
    """Lift the cell's tokens and cost out of the metrics (``cost_usd`` null: no price)."""
    metrics = item.get("metrics") or {}
    item["input_tokens"] = metrics.get("input_tokens", 0)
    item["output_tokens"] = metrics.get("output_tokens", 0)
    item["tokens_estimated"] = bool(
        metrics.get("tokens_estimated") or metrics.get("input_estimated")
    )
    cost = metrics.get("cost_usd")
    item["cost_usd"] = None if cost is None else round(float(cost), 8)


def cost_summary_json(run: Run) -> dict[str, Any]:
    """The run's token and cost totals, in all and per column (``cost``), the LLM judge's
    apart (``cost.judge_cost``), and the budget's note when it stopped cells."""
    from gui.core.costs import column_totals, judge_cost_dict, run_totals

    per_col = column_totals((c.col, run.metrics(c.id)) for c in run.cells)
    columns = []
    for col, column in enumerate(run.spec.columns):  # a sweep's column, not only a model
        totals = per_col.get(col)
        data = totals.to_dict() if totals is not None else run_totals(()).to_dict()
        columns.append(
            {"column": col, "model": column.model.display_name, "header": column.header, **data}
        )
    out: dict[str, Any] = {"cost": {**run_totals(per_col.values()).to_dict(), "columns": columns}}
    if run.judge is not None and run.judge.cost.cells:
        out["cost"]["judge_cost"] = judge_cost_dict(run.judge.cost)
    budget = run.limits.budget_usd
    if budget is not None:
        out["cost"]["budget_usd"] = budget
    if run.summary is not None and run.summary.budget_note:
        out["cost"]["budget_note"] = run.summary.budget_note
    return out


def estimate_json(spec: RunSpec) -> dict[str, Any]:
    """``--estimate``: what the run would cost, in all and per column."""
    from gui.core.estimate import estimate_run
    from gui.providers.tokens import count_tokens, counter_kind

    est = estimate_run(spec, counter=count_tokens, kind=counter_kind)
    return {
        "cells": est.cells,
        "input_tokens": est.input_tokens,
        "output_tokens": est.output_tokens,
        "cost_usd": None if len(est.unpriced) == len(est.columns) else round(est.cost_usd, 8),
        "estimated": est.estimated,
        "unpriced_columns": list(est.unpriced),
        "line": est.line(),
        "columns": [
            {
                "column": c.col,
                "model": c.label,
                "cells": c.cells,
                "input_tokens": c.input_tokens,
                "output_tokens": c.output_tokens,
                "cost_usd": None if c.cost_usd is None else round(c.cost_usd, 8),
                "estimated": c.estimated,
            }
            for c in est.columns
        ],
    }


def _print_estimate(spec: RunSpec, as_json: bool) -> int:
    """``run --estimate``: print the estimate (text or JSON) and exit 0 without running."""
    data = estimate_json(spec)
    if as_json:
        json.dump({"estimate": data}, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    for c in data["columns"]:
        cost = format_usd(c["cost_usd"], estimated=c["estimated"])
        sys.stdout.write(
            escape_controls(
                f"{c['model']}: {c['cells']} cells · {c['input_tokens']:,} in + "
                f"{c['output_tokens']:,} out tokens · {cost}"
            )
            + "\n"
        )
    sys.stdout.write(escape_controls(data["line"]) + "\n")
    return EXIT_OK


def summary_json(s: RunSummary) -> dict[str, Any]:
    """The run summary as JSON."""
    return {
        "total": s.total,
        "done": s.done,
        "failed": s.failed,
        "cancelled": s.cancelled,
        "wall_s": round(s.wall, 4),
        "strategy": s.strategy,
        "peak_in_flight": s.peak_in_flight,
        "failures_by_kind": s.failures_by_kind,
    }


@dataclass(frozen=True, slots=True)
class _CellFacts:
    """What the Scoreboard's measures read of a cell that just ended: its metrics from the
    end event, its check results and the judge's verdict from the run."""

    metrics: CellMetrics | None
    checks: tuple[CheckResult, ...] = ()
    judge: JudgeVerdict | None = None
    rating: Rating | None = None  # the CLI does not rate


def run_scoreboard_json(run: Run, ended: Sequence[ev.Event]) -> dict[str, Any]:
    """The per-model Scoreboard table of a run that just ended (``measures`` and ``models``,
    :func:`gui.core.scoreboard.scoreboard_json`), from its cells' end events, check results
    and the judge's verdicts."""
    from gui.core.scoreboard import score_cell, scoreboard_json

    by_cell = {e.cell_id: e for e in ended if isinstance(e, ev.CellFinished | ev.CellFailed)}
    checked = {e.cell_id: e.results for e in ended if isinstance(e, ev.CellChecked)}
    verdicts = run.judge.verdicts if run.judge is not None else {}
    cells = []
    for cell in run.cells:
        e = by_cell.get(cell.id)
        status = "done" if isinstance(e, ev.CellFinished) else "failed" if e else "cancelled"
        facts = (
            None
            if e is None
            else _CellFacts(e.metrics, checked.get(cell.id, ()), verdicts.get(cell.id))
        )
        cells.append(score_cell(cell.row, cell.col, status, facts))
    # Model names as the results print them: cleaned, every known secret masked.
    models = [_safe_item({"model": h})["model"] for h in run.spec.headers]
    return scoreboard_json(models, cells)


def _repeated_rows(items: Sequence[dict[str, Any]]) -> dict[int, int]:
    """Item index -> 1-based row number, for the items whose input another row repeats.

    Duplicate rows are kept and both run; the row number tells their answers apart.
    """
    rows: dict[int, int] = {}
    for i, item in enumerate(items):
        cell = str(item.get("cell") or "")
        if cell.startswith("r") and "m" in cell and cell[1 : cell.index("m")].isdigit():
            rows[i] = int(cell[1 : cell.index("m")]) + 1
    keys = {i: tuple(items[i]["input"].items()) for i in rows}
    seen: dict[tuple[Any, ...], set[int]] = {}
    for i, key in keys.items():
        seen.setdefault(key, set()).add(rows[i])
    return {i: rows[i] for i, key in keys.items() if len(seen[key]) > 1}


def _fmt_cell(item: dict[str, Any], row: int | None = None) -> str:
    m = item["metrics"] or {}
    parts = [item["status"]]
    mark = finish_mark(item.get("finish_reason"))
    if mark:
        parts.append(mark)
    if item.get("note"):
        parts.append(str(item["note"]))
    if m.get("latency") is not None:
        parts.append(f"{m['latency']:.2f} s")
    if m.get("ttft") is not None:
        parts.append(f"first token {m['ttft']:.2f} s")
    if m.get("output_tokens"):
        tps = f", {m['tokens_per_second']:.0f} tok/s" if m.get("tokens_per_second") else ""
        parts.append(f"{m['output_tokens']} tokens{tps}")
    if m.get("retries"):
        parts.append(f"{m['retries']} retries")
    if item.get("cached"):
        parts.append("cached")
    if m.get("schema_valid") is not None:
        parts.append("schema ✓" if m["schema_valid"] else "schema ✗")
    verdict = item.get("judge")
    if isinstance(verdict, dict):
        score = verdict.get("score")
        parts.append(f"judge {score:g}/10" if isinstance(score, int | float) else "judge failed")
    inputs = " / ".join(item["input"].values()) or "prompt"
    if row is not None:
        inputs = f"{inputs} (row {row})"
    checks = item.get("checks") or []
    if checks:
        passed = sum(1 for c in checks if c.get("passed"))
        parts.append(f"checks {passed}/{len(checks)} {'✓' if passed == len(checks) else '✗'}")
    if item.get("cell"):  # the id `diff` and `show --agreement` take
        parts.append(f"cell {item['cell']}")
    column = item.get("column")
    header = column.get("header") if isinstance(column, dict) else None
    shown = header or item["model"]
    if (item.get("samples") or 1) > 1:
        shown = f"{shown} · sample {item['sample']} of {item['samples']}"
    head = f"── {inputs} × {shown} · " + " · ".join(parts)
    body = item["output"]
    if item["error"]:
        body = f"{body}\n[{item['error']}]" if body else f"[{item['error']}]"
    if m.get("schema_error"):
        body = f"{body}\n[schema: {m['schema_error']}]"
    if isinstance(verdict, dict):
        said = verdict.get("reason") or verdict.get("error") or ""
        body = f"{body}\n[judge: {said}]" if body else f"[judge: {said}]"
    if item.get("notice"):
        body = f"{body}\n[{item['notice']}]" if body else f"[{item['notice']}]"
    failed = [c for c in checks if not c.get("passed")]
    if failed:
        lines = "\n".join(f"  ✗ {c.get('name')}: {c.get('detail')}" for c in failed)
        body = f"{body}\n[failed checks]\n{lines}"
    # A server's escape sequences are shown, never run by the user's terminal.
    return escape_controls(f"{head}\n{body}\n")


def _exit_code(run: Run, received: Sequence[int] = ()) -> int:
    s = run.summary
    if s is None:
        return EXIT_FAILED
    if s.cancelled_by_user:
        return signal_exit_code(received) or EXIT_INTERRUPTED
    return EXIT_OK if s.ok else EXIT_FAILED


def checks_summary_json(spec: RunSpec, items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``{"checks": ...}`` for a run with checks (else ``{}``): the checks as defined, how many
    cells were checked and passed them all, and each check's passes and failures."""
    if not spec.checks:
        return {}
    checked = [item["checks"] for item in items if item.get("checks")]
    per_check = []
    for n, check in enumerate(spec.checks):
        results = [cell[n] for cell in checked if n < len(cell)]
        passed = sum(1 for r in results if r.get("passed"))
        per_check.append(
            {
                "name": check.label,
                "kind": check.kind,
                "passed": passed,
                "failed": len(results) - passed,
            }
        )
    return {
        "checks": {
            "definitions": [check_to_dict(c) for c in spec.checks],
            "cells_checked": len(checked),
            "cells_all_passed": sum(1 for cell in checked if all(r.get("passed") for r in cell)),
            "per_check": per_check,
        }
    }


def any_check_failed(items: Sequence[dict[str, Any]]) -> bool:
    """Whether any cell's check failed (``run`` then exits 1)."""
    return any(not c.get("passed") for item in items for c in item.get("checks") or ())


def open_history(enabled: bool = True, *, announce: bool = True) -> History | None:
    """The history database, or ``None`` when disabled; its notice goes to stderr once
    (unless ``announce`` is false: the caller reports it itself)."""
    if not enabled:
        return None
    from gui.storage.history import History

    history = History.open()
    if history.notice and announce:
        sys.stderr.write(f"fanout-studio: {history.notice}\n")
        sys.stderr.flush()
    return history


def close_history(history: History | None, *, report: bool = True) -> None:
    """Commit what is queued and stop the writer; a failure to write is one line on stderr
    (unless ``report`` is false: the caller says which cells were not saved instead)."""
    if history is None:
        return
    history.close()
    if history.last_error and report:
        sys.stderr.write(f"fanout-studio: {history.last_error}\n")


def _cells_word(n: int) -> str:
    return f"{n} cell{'' if n == 1 else 's'}"


def check_saved(
    history: History | None,
    run: Run | BatchRun,
    results: Sequence[dict[str, Any]],
    *,
    into: tuple[str, Mapping[str, str]] | None = None,
) -> str | None:
    """After the history closed: ``None`` when every ended cell of ``run`` is on disk (or
    history is off by choice); else one line naming the unsaved cells and where their
    answers were written instead (a JSON file in the current directory, else next to the
    data folder, else the temporary folder).

    ``into``: for a run that retried cells of a recorded run, that run's id and the map of
    this run's cell ids to its own, so the line and the file name the cells as it does.
    """
    if history is None:
        return None
    ended = [str(item["cell"]) for item in results if item.get("metrics") is not None]
    missing, reason = history.unsaved(run.id, ended)
    if not missing:
        return None
    run_id, cell_map = into if into is not None else (run.id, {})
    keep = [
        {**item, "cell": cell_map.get(item["cell"], item["cell"])}
        for item in results
        if item["cell"] in set(missing)
    ]
    missing = [cell_map.get(c, c) for c in missing]
    data = {
        "format": "fanout-studio-unsaved",
        "run_id": run_id,
        "reason": reason,
        "template": clean(run.spec.template)[0],
        "results": keep,
    }
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    shown = ", ".join(missing[:6]) + (", …" if len(missing) > 6 else "")
    head = f"{_cells_word(len(missing))} ({shown}) could not be saved to the history ({reason})"
    data_folder = Path(history.path).parent
    for folder in (Path.cwd(), data_folder.parent, Path(tempfile.gettempdir())):
        written = _write_new_file(folder, f"fanout-unsaved-{run_id}", ".json", text)
        if written is not None:
            return f"{head}; the answers were written to {written}"
    return f"{head}, and no file could be written for them: the answers are above"


def _write_new_file(folder: Path, stem: str, suffix: str, text: str) -> Path | None:
    """Write ``text`` (UTF-8) to a new private file in ``folder``; ``None`` if impossible."""
    for n in range(1, 50):
        path = folder / (f"{stem}{suffix}" if n == 1 else f"{stem}-{n}{suffix}")
        try:
            fd = private_opener(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        except FileExistsError:
            continue
        except OSError:
            return None
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                f.write(text)
        except OSError:
            path.unlink(missing_ok=True)
            return None
        return path.resolve()
    return None


async def cmd_run(args: argparse.Namespace) -> int:
    """``fanout-studio run`` (``--executor batch``: :func:`gui.cli_batch.cmd_run_batch`)."""
    if args.executor == "batch":
        from gui.cli_batch import cmd_run_batch

        return await cmd_run_batch(args)
    if args.wait:
        raise UsageError("--wait goes with --executor batch (a live run always waits)")
    held = HeldKeys()  # this command's keys: the backend resolves --profile keys here
    spec = spec_from_args(args, warn=True, keys=held)
    if getattr(args, "estimate", False):
        return _print_estimate(spec, args.json)
    show_progress = not args.quiet and sys.stderr.isatty()
    history = open_history(not args.no_history)
    received: list[int] = []
    try:
        recorder = history.recorder() if history is not None else None
        run, ended = await execute(
            spec, progress=show_progress, on_event=recorder, received=received, keys=held
        )
    finally:
        close_history(history, report=False)
    results = results_json(run, ended)
    unsaved = check_saved(history, run, results)
    saved = history is not None and unsaved is None
    assert run.summary is not None
    if args.json:
        json.dump(
            {
                "run_id": run.id,
                "template": _safe_item({"output": spec.template})["output"],
                "strategy": str(spec.strategy),
                "results": results,
                "summary": summary_json(run.summary)
                | _judge_part(run)
                | run_scoreboard_json(run, ended)
                | cost_summary_json(run),
                **checks_summary_json(spec, results),
                "saved": saved,
            },
            sys.stdout,
            ensure_ascii=False,
            indent=2,
        )
        sys.stdout.write("\n")
    else:
        repeated = _repeated_rows(results)
        for i, item in enumerate(results):
            sys.stdout.write(_fmt_cell(item, repeated.get(i)) + "\n")
        s = run.summary
        sys.stdout.write(escape_controls(_cost_line(run)) + "\n")
        sys.stdout.write(
            f"{s.done} done, {s.failed} failed, {s.cancelled} cancelled of {s.total} in {s.wall:.2f} s ({s.strategy}, peak {s.peak_in_flight} in flight)"
            + (f" · saved as {run.id}" if saved else "")
            + "\n"
        )
        judge_line = _judge_line(run)
        if judge_line:
            sys.stdout.write(escape_controls(judge_line) + "\n")
    code = _exit_code(run, received)
    if code == EXIT_OK and any_check_failed(results):
        code = EXIT_FAILED  # documented: a script can gate on its checks
    if unsaved is not None:
        sys.stdout.flush()
        sys.stderr.write(f"fanout-studio run: error: {unsaved}\n")
        if code == EXIT_OK:
            code = EXIT_FAILED
    return code


def _cost_line(run: Run) -> str:
    """``cost $0.42 · 1,234 in + 5,678 out tokens`` (then the LLM judge's spend and the
    budget's note) for the text output."""
    from gui.core.costs import column_totals, judge_label, run_totals

    totals = run_totals(column_totals((c.col, run.metrics(c.id)) for c in run.cells).values())
    mark = "~" if totals.estimated else ""
    line = (
        f"cost {totals.label()} · {mark}{totals.input_tokens:,} in + "
        f"{mark}{totals.output_tokens:,} out tokens"
    )
    if run.judge is not None and run.judge.cost.cells:
        line += f" · {judge_label(run.judge.cost)}"
    if run.summary is not None and run.summary.budget_note:
        line += f" · {run.summary.budget_note}"
    return line


def _judge_part(run: Run) -> dict[str, Any]:
    judge = judge_summary_json(run)
    return {} if judge is None else {"judge": judge}


def _judge_line(run: Run) -> str | None:
    """One line on the judge after a run's plain output: its counts, or its ranking."""
    lane = run.judge
    if lane is None:
        return None
    c = lane.counts
    head = f"judge {lane.judge_model}: {c.done} done, {c.failed} failed"
    if lane.settings.mode is JudgeMode.PAIRWISE:
        models = run.spec.headers
        return f"{head} · ranking: {ranking_line(rank(lane.pairs, models))}"
    return head


async def cmd_compare(args: argparse.Namespace) -> int:
    """``fanout-studio compare``: the same cells under every strategy, one after another."""
    order = list(COMPARE_ORDER)
    if args.strategies:
        try:
            order = [Strategy(s.strip()) for s in args.strategies.split(",") if s.strip()]
        except ValueError:
            raise UsageError(
                f"--strategies takes a comma-separated list of: {', '.join(s.value for s in Strategy)}"
            ) from None
    rows: list[dict[str, Any]] = []
    show_progress = not args.quiet and sys.stderr.isatty()
    held = HeldKeys()  # read once from the keyring, used by every strategy's run
    # Bad usage fails before the history opens.
    spec_from_args(args, Strategy.STREAM, warn=True, keys=held)
    history = open_history(not args.no_history)
    finished: list[tuple[Run, list[dict[str, Any]]]] = []
    try:
        code = await _compare_runs(args, order, rows, history, show_progress, finished, held)
    finally:
        close_history(history, report=False)
    unsaved = [line for run, results in finished if (line := check_saved(history, run, results))]
    base = next((r["wall_s"] for r in rows if r["strategy"] == "sync"), None)
    for r in rows:
        r["speedup_vs_sync"] = round(base / r["wall_s"], 2) if base and r["wall_s"] else None
    if show_progress:
        sys.stderr.write("\r\x1b[2K")
    if args.json:
        cells = len(spec_from_args(args, Strategy.STREAM, keys=held).cells())
        json.dump({"cells": cells, "strategies": rows}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        cells = len(spec_from_args(args, Strategy.STREAM, keys=held).cells())
        sys.stdout.write(f"{cells} cells, max concurrency {args.max_concurrency}\n")
        sys.stdout.write(
            f"{'strategy':<13}{'wall s':>8}{'ideal s':>9}{'vs sync':>9}{'peak':>6}  result\n"
        )
        for r in rows:
            speed = f"{r['speedup_vs_sync']:.2f}x" if r["speedup_vs_sync"] else "-"
            result = (
                f"{r['done']} done"
                + (f", {r['failed']} failed" if r["failed"] else "")
                + (f", {r['cancelled']} cancelled" if r["cancelled"] else "")
            )
            sys.stdout.write(
                f"{r['strategy']:<13}{r['wall_s']:>8.2f}{r['ideal_s']:>9.2f}{speed:>9}{r['peak_in_flight']:>6}  {result}\n"
            )
    if unsaved:
        sys.stdout.flush()
        more = f" (and {len(unsaved) - 1} more runs alike)" if len(unsaved) > 1 else ""
        sys.stderr.write(f"fanout-studio compare: error: {unsaved[0]}{more}\n")
        if code == EXIT_OK:
            code = EXIT_FAILED
    return code


async def _compare_runs(
    args: argparse.Namespace,
    order: list[Strategy],
    rows: list[dict[str, Any]],
    history: History | None,
    show_progress: bool,
    finished: list[tuple[Run, list[dict[str, Any]]]],
    held: HeldKeys,
) -> int:
    """Run the cells once per strategy, appending one row each (and the run with its
    results to ``finished``); returns the exit code. ``held`` has the ``--profile`` keys."""
    code = EXIT_OK
    for strategy in order:
        spec = spec_from_args(args, strategy, keys=held)
        # Timed requests, never cached replays (see Session._compare).
        spec = replace(spec, limits=replace(spec.limits, cache=False))
        if show_progress:
            sys.stderr.write(f"\r\x1b[2K{strategy}…")
        recorder = history.recorder(label=f"comparison: {strategy}") if history else None
        received: list[int] = []
        run, ended = await execute(
            spec, progress=show_progress, on_event=recorder, received=received, keys=held
        )
        finished.append((run, results_json(run, ended)))
        assert run.summary is not None
        result = StrategyResult.of(run)
        rows.append(
            {
                "strategy": str(strategy),
                "wall_s": round(result.wall, 3),
                "ideal_s": round(result.ideal, 3),
                "done": result.done,
                "failed": result.failed,
                "cancelled": result.cancelled,
                "peak_in_flight": result.peak_in_flight,
            }
        )
        if run.summary.cancelled_by_user:
            code = signal_exit_code(received) or EXIT_INTERRUPTED
            break
        if not run.summary.ok:
            code = EXIT_FAILED
    return code


# ------------------------------------------------------------------- history commands


class HistoryFailed(Exception):
    """The history or an export file cannot be read or written; exit 1 with this line."""


def _date(epoch: float | None) -> str:
    return "-" if epoch is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(epoch))


def _read_history(fn: Callable[[History], int]) -> int:
    """Open the history, run ``fn`` on it, close it; history errors become one line."""
    from gui.storage.history import AmbiguousRunId, HistoryError

    history = open_history(announce=False)
    assert history is not None
    if not history.persistent:
        # Not "No runs recorded yet": the history exists (or should) and cannot be read.
        reason = history.notice or "History is off for this session."
        history.close()
        raise HistoryFailed(reason.removeprefix("History is off for this session: "))
    if history.notice:
        sys.stderr.write(f"fanout-studio: {history.notice}\n")
    try:
        return fn(history)
    except AmbiguousRunId as exc:
        raise UsageError(str(exc)) from None
    except HistoryError as exc:
        raise HistoryFailed(str(exc)) from None
    finally:
        history.close()


def _find_run(history: History, run_id: str) -> StoredRun:
    run = history.get_run(run_id)
    if run is None:
        raise UsageError(
            f"no run {run_id!r} in the history (list them with: fanout-studio history)"
        )
    return run


def cmd_history(args: argparse.Namespace) -> int:
    """``fanout-studio history``: recorded runs, newest first."""
    from gui.storage.outcome import outcome

    def body(history: History) -> int:
        runs = history.list_runs(args.search, model=args.model, limit=args.limit)
        if args.json:
            json.dump([r.to_dict() for r in runs], sys.stdout, ensure_ascii=False, indent=2)
            sys.stdout.write("\n")
            return EXIT_OK
        if not runs:
            filtered = args.search or args.model
            sys.stdout.write(
                "No runs match.\n" if filtered else f"No runs recorded yet ({history.path}).\n"
            )
            return EXIT_OK
        table = [
            [
                r.id,
                _date(r.created_at),
                outcome(r),
                r.strategy,
                escape_controls(one_line_label(", ".join(r.models), 30)),
                r.counts_text(),
                "-" if r.wall is None else f"{r.wall:.2f} s",
                escape_controls(
                    one_line_label((f"[{r.label}] " if r.label else "") + r.template, 60)
                ),
            ]
            for r in runs
        ]
        head = ["ID", "DATE", "STATUS", "STRATEGY", "MODELS", "CELLS", "WALL", "TEMPLATE"]
        widths = [max(len(row[i]) for row in [head, *table]) for i in range(len(head) - 1)]
        for row in [head, *table]:
            cells = [
                c.ljust(w) if i != 6 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=False))
            ]
            sys.stdout.write("  ".join([*cells, row[-1]]).rstrip() + "\n")
        return EXIT_OK

    return _read_history(body)


def stored_cell_items(run: StoredRun) -> list[dict[str, Any]]:
    """Every cell of the run's grid as ``run --json`` shows results (unrecorded ones too)."""
    # By cell id, not (row, column): a repeated cell's samples share those, and each sample
    # is a cell of its own.
    stored = {c.cell_id: c for c in run.cells}
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    for cell in run.spec.cells():
        seen.add(cell.id)
        item = _stored_item(stored.get(cell.id), cell.inputs, cell.model.display_name)
        _add_column(item, cell)
        items.append(item)
    items += [_stored_item(c, c.inputs, c.model) for c in run.cells if c.cell_id not in seen]
    for item in items:
        _add_cache_and_schema(item, run.spec)
    return items


def no_result_item(cell: Cell) -> dict[str, Any]:
    """A cell of the grid that has no result (not recorded, not ended), as ``show`` prints it."""
    item = _stored_item(None, cell.inputs, cell.model.display_name)
    _add_column(item, cell)
    return item


def _stored_item(cell: Any, inputs: Any, model: str) -> dict[str, Any]:
    if cell is None:
        return _safe_item(
            {
                "input": dict(inputs),
                "model": model,
                "status": "no result",
                "output": "",
                "error_kind": None,
                "error": "not recorded: the run ended before this cell did",
                "metrics": None,
            }
        )
    item = {
        "cell": cell.cell_id,
        "input": dict(cell.inputs),
        "model": cell.model,
        "status": cell.status,
        "output": cell.text,
        "error_kind": cell.error_kind,
        "error": cell.error,
        "metrics": _metrics_json(cell.metrics) if cell.metrics is not None else None,
        "finish_reason": cell.metrics.finish_reason if cell.metrics is not None else None,
        "note": cell.metrics.note if cell.metrics is not None else None,
        "notice": cell.notice,
        "checks": [r.to_dict() for r in cell.checks],
        **({} if cell.judge is None else {"judge": _verdict_json(cell.judge)}),
    }
    _add_cost(item)  # the same fields `run --json` prints
    return _safe_item(item)


def cmd_show(args: argparse.Namespace) -> int:
    """``fanout-studio show RUN_ID``: one recorded run with every cell (or a chat: CHAT_ID)."""
    if is_chat_id(args.run_id):
        from gui.cli_chat import show_chat

        if args.agreement is not None:
            raise UsageError("--agreement compares the cells of a run; a chat has none")
        return show_chat(args.run_id, args.json)

    if args.agreement is not None:
        from gui.cli_differences import cmd_agreement

        return cmd_agreement(args)

    def body(history: History) -> int:
        run = _find_run(history, args.run_id)
        if args.json:
            from gui.storage.export import add_columns_json, scoreboard_json

            data = run.to_dict()
            data["summary"] = {**data["summary"], **scoreboard_json(run)}
            add_columns_json(run, data)
            json.dump(clean_json(data)[0], sys.stdout, ensure_ascii=False, indent=2)
            sys.stdout.write("\n")
            return EXIT_OK
        wall = "" if run.wall is None else f" · wall {run.wall:.2f} s"
        head = f"run {run.id} · {run.status} · {_date(run.created_at)} · {run.strategy} · {run.counts_text()}{wall}\n"
        if run.label:
            head += f"label: {run.label}\n"
        head += f"template: {run.template}\n"
        if run.spec.system:
            head += f"system: {run.spec.system}\n"
        if run.spec.checks:
            head += "checks: " + " · ".join(c.line() for c in run.spec.checks) + "\n"
        sys.stdout.write(escape_controls(clean(head)[0]))
        sys.stdout.write("\n")
        items = stored_cell_items(run)
        repeated = _repeated_rows(items)
        for i, item in enumerate(items):
            sys.stdout.write(_fmt_cell(item, repeated.get(i)) + "\n")
        ranking = run.ranking()
        if ranking:
            line = f"judge ranking ({len(run.pairwise)} comparisons): {ranking_line(ranking)}"
            sys.stdout.write(escape_controls(clean(line)[0]) + "\n")
        return EXIT_OK

    return _read_history(body)


def cmd_diff(args: argparse.Namespace) -> int:
    """``fanout-studio diff RUN_ID CELL_A CELL_B`` (in :mod:`gui.cli_differences`)."""
    from gui.cli_differences import cmd_diff as diff

    return diff(args)


def cmd_leaderboard(args: argparse.Namespace) -> int:
    """``fanout-studio leaderboard`` (in :mod:`gui.cli_leaderboard`)."""
    from gui.cli_leaderboard import cmd_leaderboard as leaderboard

    return leaderboard(args)


def cmd_export(args: argparse.Namespace) -> int:
    """``fanout-studio export RUN_ID --format json|csv|md [-o FILE]``."""
    from gui.storage.export import export

    fmt = args.format
    out = None if args.output in (None, "-") else Path(args.output)
    if fmt is None:
        suffix = out.suffix.lower().lstrip(".") if out is not None else ""
        fmt = {"markdown": "md"}.get(suffix, suffix)
        if fmt not in ("json", "csv", "md"):
            raise UsageError("give --format json, csv or md (or an -o file ending in one of them)")

    if out is not None:  # refused before the history is even opened
        from gui.storage.export import refusal

        refused = refusal(out)
        if refused:
            raise UsageError(refused)

    if is_chat_id(args.run_id):
        from gui.cli_chat import cmd_export_chat

        return cmd_export_chat(args.run_id, fmt, out)
    if fmt == "md-table":
        raise UsageError(
            "md-table is a chat's format: a run exports as json, csv, md or summary-csv"
        )

    def body(history: History) -> int:
        run = _find_run(history, args.run_id)
        if fmt == "batch-jsonl":
            return _export_batch_jsonl(run, out)
        if out is None:
            sys.stdout.write(export(run, fmt, raw=args.csv_raw))
            return EXIT_OK
        from gui.storage.export import ExportRefused, save

        try:
            save(run, fmt, out, raw=args.csv_raw)  # as the window's export: 0600, remembered
        except ExportRefused as exc:
            raise UsageError(str(exc)) from None
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise HistoryFailed(f"cannot write {out}: {reason}") from None
        return EXIT_OK

    return _read_history(body)


def _export_batch_jsonl(run: StoredRun, out: Path | None) -> int:
    """The run's request lines, streamed to ``out`` (a private new file) or stdout."""
    from gui.cli_batch import write_batch_jsonl
    from gui.storage.paths import private_file_opener, record_export

    if out is None:
        write_batch_jsonl(run.spec, sys.stdout)
        return EXIT_OK
    try:
        with open(out, "w", encoding="utf-8", opener=private_file_opener) as f:
            write_batch_jsonl(run.spec, f)
    except OSError as exc:
        raise HistoryFailed(f"cannot write {out}: {exc.strerror or exc}") from None
    record_export(out)
    return EXIT_OK


async def cmd_ask(args: argparse.Namespace) -> int:
    """``fanout-studio ask`` (in :mod:`gui.cli_chat`)."""
    from gui.cli_chat import cmd_ask as ask

    return await ask(args)


def cmd_chats(args: argparse.Namespace) -> int:
    """``fanout-studio chats`` (in :mod:`gui.cli_chat`)."""
    from gui.cli_chat import cmd_chats as chats

    return chats(args)


def cmd_profiles(args: argparse.Namespace) -> int:
    """``fanout-studio profiles``: the saved provider profiles, without their keys."""
    from gui.core import keys
    from gui.storage.profiles import ProfileStore

    store = ProfileStore()
    saved = store.load()
    for item in saved:
        keys.watch_url(item.profile.base_url)
    if store.notice:
        sys.stderr.write(f"fanout-studio profiles: {store.notice}\n")
    rows = []
    for item in saved:
        p = item.profile
        key = (
            "system keyring"
            if p.key_ref
            else ("none needed" if p.provider is ProviderKind.SIMULATED else f"${p.api_key_env}")
        )
        rows.append(
            {
                "name": item.name,
                "provider": str(p.provider),
                "model": p.model,
                "base_url": None if p.base_url is None else keys.redact(p.base_url),
                "max_concurrency": p.max_concurrency,
                "temperature": p.temperature,
                "max_tokens": p.max_tokens,
                "key": key,
            }
        )
    for row in rows:
        row["supported"] = True
    unsupported = [
        {"name": u.name, "supported": False, "reason": u.reason} for u in store.unsupported
    ]
    if args.json:
        json.dump(rows + unsupported, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return EXIT_OK
    if not rows and not unsupported:
        sys.stdout.write("No saved profiles. Save one in the window's Profiles dock.\n")
        return EXIT_OK
    sys.stdout.write(f"{'NAME':<20}{'PROVIDER':<11}{'MODEL':<24}{'IN FLIGHT':<11}{'KEY':<16}URL\n")
    for r in rows:
        flight = str(r["max_concurrency"] or "run's")
        url = r["base_url"] or ("api.openai.com" if r["provider"] == "openai" else "-")
        sys.stdout.write(
            escape_controls(
                f"{r['name']:<20}{r['provider']:<11}{r['model']:<24}{flight:<11}{r['key']:<16}{url}\n"
            )
        )
    for u in unsupported:
        sys.stdout.write(escape_controls(f"{u['name']:<20}unsupported: {u['reason']}\n"))
    return EXIT_OK


def _error_line(command: str, exc: BaseException) -> str:
    """One line on stderr: controls a file or server put in the text escaped, secrets masked."""
    from gui.core.keys import redact

    return escape_controls(redact(f"fanout-studio {command}: error: {exc}")) + "\n"


def _safe_streams() -> None:
    """Never let an encoding error end a command: a console that cannot show a character
    (cp1252 on Windows pipes, an ASCII locale) or a stray surrogate gets a replacement."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(Exception):
                reconfigure(errors="replace")


def main(argv: Sequence[str]) -> int:
    """Parse ``argv`` and run the command; returns the exit code."""
    parser = build_parser()
    _safe_streams()
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:  # --help, or bad usage already explained on stderr
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.plain_runtime:
        from gui.compat import PLAIN_ENV

        os.environ[PLAIN_ENV] = "1"  # read by every hook's gate, inherited by child processes
    if args.command is None:
        from gui.app import main as app_main

        return app_main(args)
    if args.command == "bench":
        from gui.bench import main as bench_main

        return bench_main(args.scenario, args.json, args.quick, args.markdown)
    from gui.storage.logs import warn_on_stderr

    warn_on_stderr()
    sync_handler = {
        "history": cmd_history,
        "show": cmd_show,
        "diff": cmd_diff,
        "export": cmd_export,
        "profiles": cmd_profiles,
        "leaderboard": cmd_leaderboard,
        "chats": cmd_chats,
    }.get(args.command)
    try:
        if sync_handler is not None:
            return sync_handler(args)
        from gui.cli_batch import cmd_batches, cmd_import_batch

        handler = {
            "run": cmd_run,
            "compare": cmd_compare,
            "ask": cmd_ask,
            "batches": cmd_batches,
            "import-batch": cmd_import_batch,
        }[args.command]
        return asyncio.run(handler(args))
    except UsageError as exc:
        sys.stderr.write(_error_line(args.command, exc))
        return EXIT_USAGE
    except HistoryFailed as exc:
        sys.stderr.write(_error_line(args.command, exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:  # never a traceback for a user; FANOUT_DEBUG=1 shows it
        if os.environ.get("FANOUT_DEBUG"):
            raise
        from gui.core.keys import redact

        line = f"fanout-studio {args.command}: internal error: {type(exc).__name__}: {exc} (set FANOUT_DEBUG=1 for details)"
        sys.stderr.write(escape_controls(redact(line)) + "\n")
        return EXIT_FAILED
