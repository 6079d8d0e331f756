"""The "show me the code" snippet: it runs as shown, passes ruff, and is the same every time.

The slow part is starting Python with LangChain, so every snippet of a story runs in one
subprocess: a tiny driver runs the generated files one after the other with ``runpy`` and
prints a marker before each.
"""

from __future__ import annotations

import ast
import itertools
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

from gui.core.codegen import py_num, py_str, python_snippet
from gui.core.errors import SpecError, TemplateError
from gui.core.spec import (
    ErrorPolicy,
    Limits,
    ModelProfile,
    ProviderKind,
    RunSpec,
    SimSettings,
    Strategy,
)
from tests.support.openai_server import Behavior, FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[2]
TOPICS = ("cats", "volcanoes", "the moon")
MARK = "##### snippet "

DRIVER = f"""
import runpy
import sys

for path in sys.argv[1:]:
    print({MARK!r} + path, flush=True)
    runpy.run_path(path, run_name="__main__")
"""


def sim(label: str, latency: float = 0.05, **kwargs: object) -> ModelProfile:
    settings = SimSettings.with_latency(latency, output_tokens=12, seed=3, jitter=0.0)
    return ModelProfile(model="sim-1", label=label, sim=settings, **kwargs)  # type: ignore[arg-type]


def spec_for(
    strategy: Strategy,
    models: Sequence[ModelProfile],
    limits: Limits | None = None,
    system: str | None = "You answer in one short paragraph.",
    template: str = "Tell me about {topic}",
    topics: Iterable[str] = TOPICS,
) -> RunSpec:
    return RunSpec(
        template=template,
        rows=tuple({"topic": t} for t in topics),
        models=tuple(models),
        strategy=strategy,
        limits=limits or Limits(max_concurrency=3, ttft_timeout=5.0, retries=1, backoff_base=0.01),
        system=system,
    )


def run_snippets(
    tmp_path: Path,
    specs: dict[str, RunSpec],
    env: dict[str, str] | None = None,
    *,
    one_process: bool = True,
) -> dict[str, str]:
    """Write each spec's snippet to a file and run them; return each one's output.

    ``one_process`` runs them all in one Python, one after the other. OpenAI snippets need
    a process each (still started together): langchain-openai caches one HTTP client per
    process, bound to the first event loop, so a second ``asyncio.run`` would find it closed.
    """
    paths = []
    for name, spec in specs.items():
        path = tmp_path / f"{name}.py"
        path.write_text(python_snippet(spec), encoding="utf-8")
        paths.append(str(path))
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER, encoding="utf-8")
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    groups = [paths] if one_process else [[p] for p in paths]
    procs = [
        subprocess.Popen(
            [sys.executable, str(driver), *group],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=full_env,
            cwd=tmp_path,
        )
        for group in groups
    ]
    outputs: dict[str, str] = {}
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=90)
        assert proc.returncode == 0, stdout[-3000:] + stderr[-3000:]
        for chunk in stdout.split(MARK)[1:]:
            path, _, out = chunk.partition("\n")
            outputs[Path(path).stem] = out
    assert set(outputs) == set(specs)
    return outputs


def ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def has_ruff() -> None:
    if ruff("--version").returncode != 0:
        pytest.skip("ruff is not installed")


# ---- it runs as shown --------------------------------------------------------------------------


def test_every_strategy_runs_with_simulated_models(tmp_path: Path) -> None:
    two = [sim("sim-a"), sim("sim-b", max_tokens=8)]
    limited = Limits(
        max_concurrency=2, requests_per_second=50, ttft_timeout=5.0, retries=1, backoff_base=0.01
    )
    specs = {s.value: spec_for(s, two, limited) for s in Strategy}
    # The bare forms: no timeout, no retries, no system message, one model.
    specs |= {
        f"{s.value}_bare": spec_for(s, [sim("solo")], Limits(ttft_timeout=None, retries=0), None)
        for s in Strategy
    }
    outputs = run_snippets(tmp_path, specs)
    for name, out in outputs.items():
        for topic in TOPICS:
            assert f"=== {topic} | " in out, (name, out)
        assert "FAILED" not in out, (name, out)
        assert "Total wall time:" in out, name
    assert outputs["gather"].count("=== cats | ") == 2  # inputs x models
    assert "| sim-b ===" in outputs["abatch"]


def test_failures_are_retried_then_shown_and_timeouts_fire(tmp_path: Path) -> None:
    failing = ModelProfile(
        model="sim-1",
        label="flaky",
        sim=SimSettings(ttft=0.01, output_tokens=5, failure_rate=1.0, failure_kind="server_error"),
    )
    stalling = ModelProfile(
        model="sim-1",
        label="stalls",
        sim=SimSettings(ttft=0.01, output_tokens=5, failure_rate=1.0, failure_kind="timeout"),
    )
    retrying = Limits(max_concurrency=4, ttft_timeout=2.0, retries=1, backoff_base=0.01)
    short = Limits(max_concurrency=4, ttft_timeout=0.1, retries=0)
    specs = {
        "fail_gather": spec_for(Strategy.GATHER, [failing], retrying, topics=["cats"]),
        "fail_stream": spec_for(Strategy.STREAM, [failing], retrying, topics=["cats"]),
        "fail_sync": spec_for(Strategy.SYNC, [failing], retrying, topics=["cats"]),
        "stall_abatch": spec_for(Strategy.ABATCH, [stalling], short, topics=["cats"]),
        "stall_stream": spec_for(Strategy.STREAM, [stalling], short, topics=["cats"]),
    }
    outputs = run_snippets(tmp_path, specs)
    for name in ("fail_gather", "fail_stream", "fail_sync"):
        assert "FAILED: SimulatedServerError" in outputs[name], outputs[name]
    for name in ("stall_abatch", "stall_stream"):
        assert "FAILED: TimeoutError" in outputs[name], outputs[name]


def test_openai_compatible_snippets_run_against_a_local_server(tmp_path: Path) -> None:
    key = "sk-test-not-in-the-code"
    with FakeOpenAIServer(models=["fake-1", "fake-2"], tokens=6, api_key=key) as server:

        def profile(model: str) -> ModelProfile:
            return ModelProfile(
                model=model,
                provider=ProviderKind.OPENAI,
                base_url=server.base_url,
                api_key_env="FANOUT_TEST_KEY",
                temperature=0.3,
                max_tokens=50,
            )

        models = [profile("fake-1"), profile("fake-2")]
        limits = Limits(max_concurrency=3, requests_per_second=100, ttft_timeout=10.0, retries=1)
        specs = {
            s.value: spec_for(s, models, limits)
            for s in (Strategy.STREAM, Strategy.ABATCH, Strategy.GATHER, Strategy.SYNC)
        }
        for spec in specs.values():
            assert key not in python_snippet(spec)
        outputs = run_snippets(tmp_path, specs, env={"FANOUT_TEST_KEY": key}, one_process=False)
        requests = server.requests
    for name, out in outputs.items():
        for topic in TOPICS:
            assert f"Answer about Tell me about {topic} from fake-1" in out, (name, out)
            assert f"Answer about Tell me about {topic} from fake-2" in out, (name, out)
        assert "FAILED" not in out, (name, out)
    assert len(requests) == 4 * 6
    assert all(r.outcome == "ok" for r in requests)
    assert {r.stream for r in requests} == {True, False}
    first = requests[0]
    assert first.body["temperature"] == 0.3
    assert 50 in (first.body.get("max_tokens"), first.body.get("max_completion_tokens"))
    assert first.messages[0] == {"role": "system", "content": "You answer in one short paragraph."}


def test_concurrent_streams_print_each_line_after_its_cells_label(tmp_path: Path) -> None:
    def answer(prompt: str, model: str) -> str:
        return f"first line on {prompt} by {model}\nsecond line\n\nlast line, {model}"

    with FakeOpenAIServer(models=["fake-1", "fake-2"]) as server:
        # Many small chunks, spaced out: six streams at once interleave their tokens.
        server.behave(
            lambda info: Behavior(
                text=answer(info.last_user_text, info.model), tokens=12, token_interval=0.01
            )
        )
        models = [
            ModelProfile(model=m, provider=ProviderKind.OPENAI, base_url=server.base_url)
            for m in ("fake-1", "fake-2")
        ]
        limits = Limits(
            max_concurrency=6, ttft_timeout=10.0, idle_timeout=10.0, retries=1, backoff_base=0.01
        )
        spec = spec_for(Strategy.STREAM, models, limits, system=None)
        out = run_snippets(tmp_path, {"stream": spec}, env={"OPENAI_API_KEY": "sk-x"})["stream"]
    live, _, whole = out.partition("\n=== ")
    printed: dict[str, list[str]] = {}
    for line in live.splitlines():
        if not line:
            continue
        assert line.startswith("["), line  # every streamed line names its cell
        label, _, text = line[1:].partition("] ")
        printed.setdefault(label, []).append(text)
    cells = {
        f"{t} | {m}": answer(f"Tell me about {t}", m) for t in TOPICS for m in ("fake-1", "fake-2")
    }
    assert set(printed) == set(cells)
    for label, text in cells.items():
        # Line by line, in order, nothing lost or cut mid-line (a blank line keeps its place).
        assert printed[label] == text.split("\n"), (label, printed[label])
        assert f"=== {label} ===\n{text}" in "=== " + whole  # then the whole answers, per cell
    assert "FAILED" not in out


# ---- readable, ruff-clean, deterministic -------------------------------------------------------


LONG = "You are a patient teacher.\nAnswer in two sentences at most, and never use jargon.\n"


def _matrix() -> dict[str, RunSpec]:
    openai_local = ModelProfile(
        model="llama3.2", provider=ProviderKind.OPENAI, base_url="http://localhost:11434/v1"
    )
    openai_hosted = ModelProfile(model="gpt-4o-mini", provider=ProviderKind.OPENAI)
    flaky = ModelProfile(
        model="sim-2",
        sim=SimSettings(failure_rate=0.2, failure_kind="rate_limit", retry_after=2.0, seed=None),
    )
    mixes = {
        "sim": [sim("a"), flaky],
        "openai": [openai_local, openai_hosted],
        "both": [sim("a"), openai_local],
    }
    specs: dict[str, RunSpec] = {}
    for strategy, (mix, models), retries, timeout, rps, system in itertools.product(
        Strategy,
        mixes.items(),
        (0, 2),
        (None, 30.0),
        (None, 2.0, 500.0),
        (None, "Be\nbrief.", LONG),
    ):
        limits = Limits(
            max_concurrency=4, requests_per_second=rps, ttft_timeout=timeout, retries=retries
        )
        name = f"{strategy.value}_{mix}_{retries}_{timeout}_{rps}_{len(system or '')}"
        name = name.replace(".", "p")
        specs[name] = spec_for(strategy, models, limits, system)
    return specs


def test_every_variant_passes_ruff_check_and_format(tmp_path: Path, has_ruff: None) -> None:
    for name, spec in _matrix().items():
        (tmp_path / f"{name}.py").write_text(python_snippet(spec), encoding="utf-8")
    # The project's own rule set (bugbear, asyncio, pyupgrade, ruff's, isort, pycodestyle).
    checked = ruff("check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), str(tmp_path))
    assert checked.returncode == 0, checked.stdout[-4000:] + checked.stderr
    # And ruff's defaults, as in a teacher's fresh folder.
    fresh = ruff("check", "--no-cache", "--isolated", "--select", "E,F,W,I,B,UP", str(tmp_path))
    assert fresh.returncode == 0, fresh.stdout[-4000:] + fresh.stderr
    formatted = ruff("format", "--no-cache", "--isolated", "--check", "--diff", str(tmp_path))
    assert formatted.returncode == 0, formatted.stdout[-4000:] + formatted.stderr


def test_same_spec_same_text_and_different_specs_differ() -> None:
    a = spec_for(Strategy.GATHER, [sim("a"), sim("b")])
    b = spec_for(Strategy.GATHER, [sim("a"), sim("b")])
    assert a is not b
    assert python_snippet(a) == python_snippet(b) == python_snippet(a)
    assert python_snippet(a) != python_snippet(spec_for(Strategy.STREAM, [sim("a"), sim("b")]))


def test_header_says_what_it_reproduces_and_code_shows_the_idiom() -> None:
    code = python_snippet(
        spec_for(
            Strategy.GATHER,
            [sim("fast"), sim("slow")],
            Limits(max_concurrency=4, requests_per_second=2, ttft_timeout=30, retries=2),
        )
    )
    header = " ".join((ast.get_docstring(ast.parse(code)) or "").split())
    assert "3 inputs x 2 models (fast, slow)" in header
    assert "'gather'" in header and "at most 4 requests in flight" in header
    assert "at most 2 requests started per second" in header
    assert "asyncio.Semaphore(MAX_CONCURRENCY)" in code
    assert "asyncio.gather(" in code and "return_exceptions=True" in code
    assert "InMemoryRateLimiter(requests_per_second=2.0)" in code
    assert "async with asyncio.timeout(TIMEOUT)" in code
    assert "MAX_CONCURRENCY = 4" in code and "RETRIES = 2" in code

    idioms = {
        Strategy.SYNC: "chain.invoke(row)",
        Strategy.SEQUENTIAL: "await ask(chain, row)",
        Strategy.ABATCH: '.abatch(\n            INPUTS, config={"max_concurrency": MAX_CONCURRENCY}',
        Strategy.AS_COMPLETED: "async for i, answer in guarded(chain).abatch_as_completed(",
        Strategy.STREAM: "async for token in chain.astream(row):",
    }
    for strategy, idiom in idioms.items():
        assert idiom in python_snippet(spec_for(strategy, [sim("a")])), strategy
    bare = python_snippet(
        spec_for(Strategy.ABATCH, [sim("a")], Limits(ttft_timeout=None, retries=0))
    )
    assert "await chain.abatch(" in bare and "RunnableLambda" not in bare


def test_simulated_latency_is_written_as_rounded_numbers() -> None:
    profile = ModelProfile(model="sim-1", sim=SimSettings.with_latency(1.7, seed=11))
    code = python_snippet(spec_for(Strategy.STREAM, [profile]))
    assert "ttft=0.3," in code
    assert "tokens_per_second=42.86," in code  # 60 tokens over 1.4 s, 4 significant digits
    assert "output_tokens=60," in code and "seed=11," in code
    assert py_num(1500.0000001) == "1500.0" and py_num(float("inf")) == "0.0" and py_num(3) == "3"


def test_openai_key_is_an_environment_lookup_never_a_literal(monkeypatch) -> None:
    monkeypatch.setenv("MY_KEY", "sk-secret-value")
    local = ModelProfile(
        model="m",
        provider=ProviderKind.OPENAI,
        base_url="http://127.0.0.1:1/v1",
        api_key_env="MY_KEY",
    )
    hosted = ModelProfile(model="gpt-4o-mini", provider=ProviderKind.OPENAI)
    code = python_snippet(spec_for(Strategy.ABATCH, [local, hosted]))
    assert "sk-secret-value" not in code
    assert 'api_key=os.environ.get("MY_KEY", "not-needed")' in code
    assert 'api_key=os.environ["OPENAI_API_KEY"]' in code
    assert "max_retries=0" in code and "timeout=TIMEOUT" in code


def test_awkward_text_round_trips_exactly() -> None:
    template = 'Say "hi" to {name}\\n and {{literal}} it\'s ok\nsecond line ×\t\x01 {topic}'
    system = "Line one\n\nLine three with a trailing backslash \\"
    rows = ({"name": 'O\'Brien "Bob"', "topic": "a\nb"}, {"name": "é", "topic": ""})
    spec = RunSpec(template, rows, (sim('weird "label" \\ x'),), system=system)
    tree = ast.parse(python_snippet(spec))
    values = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
        if node.targets[0].id in ("TEMPLATE", "SYSTEM", "INPUTS")
    }
    assert values["TEMPLATE"] == template
    assert values["SYSTEM"] == system
    assert values["INPUTS"] == [dict(r) for r in rows]
    assert py_str('He said "no"') == "'He said \"no\"'"
    assert py_str("it's") == '"it\'s"'


def test_long_input_lists_are_all_there_one_row_per_line() -> None:
    topics = [f"topic number {i}" for i in range(2000)]
    code = python_snippet(spec_for(Strategy.ABATCH, [sim("a")], topics=topics))
    lines = code.splitlines()
    start = lines.index("INPUTS = [")
    assert lines[start + 1] == '    {"topic": "topic number 0"},'
    assert lines[start + 2000] == '    {"topic": "topic number 1999"},'
    assert lines[start + 2001] == "]"
    assert "2000 inputs x 1 model" in code


def test_duplicate_labels_get_distinct_names_and_fail_fast_is_mentioned() -> None:
    limits = Limits(error_policy=ErrorPolicy.FAIL_FAST)
    code = python_snippet(spec_for(Strategy.GATHER, [sim("twin"), sim("twin")], limits))
    assert '"twin": SimulatedChatModel(' in code and '"twin (2)": SimulatedChatModel(' in code
    assert "stopped the run at the first failure" in code


def test_a_spec_that_cannot_run_gives_no_snippet() -> None:
    with pytest.raises(TemplateError, match="Unbalanced braces"):
        python_snippet(spec_for(Strategy.GATHER, [sim("a")], template="Tell me about {topic"))
    with pytest.raises(TemplateError, match="no column 'name'"):
        python_snippet(spec_for(Strategy.GATHER, [sim("a")], template="Hi {name}"))
    with pytest.raises(SpecError, match="No model"):
        python_snippet(spec_for(Strategy.GATHER, []))


def test_a_run_with_checks_and_a_judge_says_they_are_not_reproduced(
    tmp_path: Path, has_ruff: None
) -> None:
    """The snippet keeps the fan-out plain: the checks and the judge travel as data with a
    header saying so (and how to evaluate them), and the file still runs and passes ruff."""
    from dataclasses import replace

    from gui.core.checks import parse_check
    from gui.core.spec import JudgeMode, JudgeSettings

    checks = (parse_check("contains/i:{topic}"), parse_check("name=short;max-words:80"))
    judge = JudgeSettings(rubric="Prefer short answers.\nNo filler.", mode=JudgeMode.PAIRWISE)
    plain = spec_for(Strategy.GATHER, [sim("a"), sim("b")])
    spec = replace(plain, checks=checks, judge=judge)
    code = python_snippet(spec)
    header = " ".join((ast.get_docstring(ast.parse(code)) or "").split())
    assert "Not included: the run's answers are not judged here" in header
    assert "its 2 checks (CHECKS) and its LLM judge sim-judge (JUDGE_*)" in header
    names: dict[str, object] = {}
    exec(compile(code.split('if __name__ == "__main__":')[0], "snippet", "exec"), names)
    assert names["CHECKS"] == ["contains/i:{topic}", "name=short;max-words:80"]
    assert [parse_check(line) for line in names["CHECKS"]] == list(checks)  # type: ignore[attr-defined]
    assert names["JUDGE_RUBRIC"] == judge.rubric and names["JUDGE_MODE"] == "pairwise"
    assert "Not included" not in python_snippet(plain)
    assert "CHECKS" not in python_snippet(plain)
    outputs = run_snippets(tmp_path, {"judged": spec, "plain": plain})
    answers = {k: [ln for ln in v.splitlines() if "time:" not in ln] for k, v in outputs.items()}
    assert answers["judged"] == answers["plain"]  # it runs, and does what it did without them
    lint = tmp_path / "lint"
    lint.mkdir()
    (lint / "judged.py").write_text(code, encoding="utf-8")
    checked = ruff("check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), str(lint))
    assert checked.returncode == 0, checked.stdout[-4000:] + checked.stderr
    formatted = ruff("format", "--no-cache", "--isolated", "--check", "--diff", str(lint))
    assert formatted.returncode == 0, formatted.stdout[-4000:] + formatted.stderr


def test_a_run_with_a_chats_threads_says_the_snippet_leaves_them_out() -> None:
    import dataclasses

    from gui.core.spec import ModelProfile, make_spec

    spec = make_spec("Now {city}", ["Paris"], [ModelProfile(model="sim-1")])
    assert "chat threads" not in python_snippet(spec)
    with_threads = dataclasses.replace(spec, context=((("user", "Hi"), ("assistant", "Hello")),))
    header = python_snippet(with_threads).split('"""', 2)[1]
    assert "Not included: the chat threads this run sent before the template" in " ".join(
        header.split()
    )
