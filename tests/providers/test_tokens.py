"""The window's cost estimate in the tokenizer process: the same figures as counted here, and
the window's process never loads the tokenizer (its load held the GIL for 0.1 s)."""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import sys
from dataclasses import replace

import pytest

from gui.bench import _estimate_spec
from gui.core.estimate import PAUSE_EVERY, ColumnEstimate, estimate_run
from gui.core.pricing import STARTER_PRICES, PriceTable
from gui.core.spec import ModelProfile, ProviderKind, RunSpec
from gui.providers import tokens
from gui.providers.tokens import count_tokens, counter_kind, estimate_counted

#: The bench's 10,000-cell estimate as main counted it in one process (at 9437032, before
#: the tokenizer process): per column, cells, input tokens, output tokens, cost, estimated.
BENCH_COLUMNS = [
    ("gpt-4o-mini", 2500, 203872, 1250000, 0.7805808000000001, True),
    ("gpt-4.1", 2500, 203872, 1000000, 8.407744, False),
    ("llama3.2", 2500, 218989, 1250000, 0.0, True),
    ("sim-1", 2500, 218989, 150000, 0.0, True),
]


def _figures(columns: tuple[ColumnEstimate, ...]) -> list[tuple[object, ...]]:
    return [
        (c.label, c.cells, c.input_tokens, c.output_tokens, c.cost_usd, c.estimated)
        for c in columns
    ]


def test_the_10000_cell_estimate_is_what_it_was_before_the_process() -> None:
    spec = _estimate_spec(2500)
    there = estimate_counted(spec)
    here = estimate_run(spec, None, count_tokens, None, counter_kind)
    assert _figures(there.columns) == _figures(here.columns) == BENCH_COLUMNS
    assert there == here and there.line() == "est. ~$9.19 · 4,495,722 tokens"


def test_the_bench_waits_as_long_as_the_window_before_its_first_count() -> None:
    from gui.bench import ESTIMATE_QUIET_S
    from gui.qt.views.cost_estimate import ESTIMATE_DELAY_MS

    assert ESTIMATE_QUIET_S * 1000 == ESTIMATE_DELAY_MS


def test_the_tables_and_recent_answers_reach_the_process() -> None:
    """The window passes its price table (the user's entries on top) and each column's
    recent answer length: the process's estimate uses them as this process's would."""
    spec = _estimate_spec(30)
    table = PriceTable(STARTER_PRICES)
    recent = {0: 123.4, 2: 17.0}
    there = estimate_counted(spec, table, recent)
    assert there == estimate_run(spec, table, count_tokens, recent, counter_kind)
    assert there.columns[2].output_tokens == 30 * 17  # llama3.2 has no max_tokens


def test_the_windows_estimate_leaves_the_tokenizer_out_of_the_windows_process() -> None:
    """The price service (the window's estimate) counts OpenAI prompts with tiktoken, in
    another process: the window's own never imports it, and the counts are exact."""
    code = """
import asyncio, json, sys
from gui.core.spec import ModelProfile, ProviderKind, RunSpec
from gui.qt.services import PriceService
spec = RunSpec("Tell me about {topic}", ({"topic": "cats"},),
               (ModelProfile("gpt-4o-mini", ProviderKind.OPENAI, max_tokens=10),))
est = asyncio.run(PriceService().estimate(spec))
print(json.dumps([est.input_tokens, est.estimated, "tiktoken" in sys.modules]))
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    input_tokens, estimated, loaded_here = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (input_tokens, estimated) == (4 + 4, False)  # "Tell me about cats": 4 tokens
    assert loaded_here is False


def test_without_a_process_the_estimate_is_computed_here_with_its_pauses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = _estimate_spec(10 * PAUSE_EVERY // 4)  # 640 cells
    monkeypatch.setattr(tokens, "_pool", None)
    monkeypatch.setattr(tokens, "_pool_failed", True)  # none could be started
    pauses: list[int] = []
    here = estimate_counted(spec, pause=lambda: pauses.append(1))
    assert len(pauses) == 10  # a pause after each 64 cells: it ran in this thread
    assert here == estimate_run(spec, None, count_tokens, None, counter_kind)


class _BrokenPool:
    """A process pool whose process died."""

    def __init__(self) -> None:
        self.shut = False

    def submit(self, *_args: object) -> concurrent.futures.Future[object]:
        future: concurrent.futures.Future[object] = concurrent.futures.Future()
        future.set_exception(concurrent.futures.process.BrokenProcessPool("it died"))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.shut = True


def test_a_dead_tokenizer_process_is_given_up_and_the_estimate_still_comes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = _estimate_spec(20)
    broken = _BrokenPool()
    monkeypatch.setattr(tokens, "_pool", broken)
    monkeypatch.setattr(tokens, "_pool_failed", False)
    assert estimate_counted(spec) == estimate_run(spec, None, count_tokens, None, counter_kind)
    assert broken.shut and tokens._pool is None and tokens._pool_failed  # not tried again


def test_a_small_plan_without_openai_models_is_estimated_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No process is started for the demo's simulated models (a few cells)."""

    def no_process() -> None:
        raise AssertionError("a process was asked for")

    monkeypatch.setattr(tokens, "_tokenizer_pool", no_process)
    spec = RunSpec("Hi {topic}", ({"topic": "cats"}, {"topic": "dogs"}), (ModelProfile("sim-1"),))
    assert estimate_counted(spec) == estimate_run(spec)


def test_a_big_plan_of_any_models_is_estimated_in_the_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[int] = []
    real = tokens._tokenizer_pool

    def counted() -> concurrent.futures.ProcessPoolExecutor | None:
        asked.append(1)
        return real()

    monkeypatch.setattr(tokens, "_tokenizer_pool", counted)
    rows = tuple({"topic": f"topic {i}"} for i in range(tokens.PROCESS_MIN_CELLS // 2))
    local = ModelProfile("llama3.2", ProviderKind.OPENAI, base_url="http://localhost:11434/v1")
    spec = RunSpec("Hi {topic}", rows, (ModelProfile("sim-1"), replace(local)))
    assert estimate_counted(spec) == estimate_run(spec, None, count_tokens, None, counter_kind)
    assert asked == [1]


def test_the_tokenizer_process_runs_behind_the_window() -> None:
    """Its CPU-bound load and walk yield the cores to the GUI thread on a busy machine."""
    import os

    tokens.start_tokenizer([ModelProfile("gpt-4o-mini", ProviderKind.OPENAI)])
    pool = tokens._tokenizer_pool()
    assert pool is not None
    niceness = pool.submit(os.nice, 0).result(60)
    assert niceness >= os.nice(0) + min(tokens.PROCESS_NICENESS, 19 - os.nice(0))
