"""The engine on the built-in simulated model: the seed example's timing, failures, usage."""

from __future__ import annotations

import pytest

from gui.core.errors import ErrorKind
from gui.core.runner import Run
from gui.core.spec import Limits, ModelProfile, SimSettings, Strategy, make_spec
from gui.providers.backend import LangChainBackend
from tests.core.fakes import Recorder

LATENCY = 0.3


def sim(**kw) -> ModelProfile:
    return ModelProfile(
        model="sim-1", sim=SimSettings.with_latency(LATENCY, jitter=0.0, seed=1, **kw)
    )


async def run_spec(
    strategy: Strategy,
    topics=("cats", "dogs", "parrots"),
    profile: ModelProfile | None = None,
    **limits,
) -> tuple[Run, Recorder]:
    spec = make_spec(
        "Tell me a joke about {topic}",
        list(topics),
        (profile or sim(),),
        strategy,
        Limits().changed(**limits),
    )
    run = Run(spec, LangChainBackend())
    rec = Recorder()
    run.subscribe(rec)
    await run.wait()
    return run, rec


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        (Strategy.SYNC, 3 * LATENCY),
        (Strategy.SEQUENTIAL, 3 * LATENCY),
        (Strategy.GATHER, LATENCY),
        (Strategy.ABATCH, LATENCY),
        (Strategy.AS_COMPLETED, LATENCY),
        (Strategy.STREAM, LATENCY),
    ],
)
async def test_seed_timing_sequential_sums_concurrent_overlaps(
    strategy: Strategy, expected: float
) -> None:
    run, rec = await run_spec(strategy)
    assert run.summary is not None and run.summary.done == 3
    # Never faster than the sleeps allow; overlapping runs well below the sequential sum (a
    # margin of one whole latency, for a machine running at a quarter of its speed).
    assert expected - 0.02 <= run.summary.wall < expected + LATENCY
    for cell in run.cells:
        done = rec.last(cell.id)
        assert cell.inputs["topic"].rstrip("s") in done.text.lower()
        assert (
            done.metrics.output_tokens == 60 and not done.metrics.tokens_estimated
        )  # usage reported


async def test_stream_strategy_reports_time_to_first_token() -> None:
    _run, rec = await run_spec(Strategy.STREAM)
    m = rec.last("r0m0").metrics
    assert m.ttft is not None and 0.058 <= m.ttft < 0.06 + 1.0
    # At most the simulated pace (60 tokens in 0.24 s): the rate is never overstated.
    assert m.tokens_per_second is not None and 0 < m.tokens_per_second <= 60 / 0.24 * 1.05
    assert len(rec.named("TextChunk")) == 180


async def test_streamed_cells_end_done_with_every_chunk_and_usage(runtime_mode: str) -> None:
    run, rec = await run_spec(Strategy.STREAM)
    assert run.summary is not None and run.summary.done == 3
    assert len(rec.named("TextChunk")) == 180
    for cell in run.cells:
        done = rec.last(cell.id)
        chunks = [e.text for e in rec.named("TextChunk") if e.cell_id == cell.id]
        assert (
            "".join(chunks) == done.text and cell.inputs["topic"].rstrip("s") in done.text.lower()
        )
        assert done.metrics.output_tokens == 60 and not done.metrics.tokens_estimated


async def test_simulated_rate_limits_are_retried_after_retry_after(runtime_mode: str) -> None:
    profile = ModelProfile(
        sim=SimSettings(
            ttft=0.0,
            tokens_per_second=0,
            output_tokens=5,
            failure_rate=1.0,
            failure_kind="rate_limit",
            retry_after=0.05,
            seed=3,
        )
    )
    _run, rec = await run_spec(Strategy.GATHER, ["cats"], profile, retries=2)
    failed = rec.last("r0m0")
    assert failed.kind is ErrorKind.RATE_LIMITED and "after 3 attempts" in failed.message
    assert [e.delay for e in rec.named("CellRetrying")] == [0.05, 0.05]


async def test_simulated_timeout_is_caught_by_the_engine_timeout() -> None:
    profile = ModelProfile(sim=SimSettings(failure_rate=1.0, failure_kind="timeout", seed=3))
    _run, rec = await run_spec(Strategy.STREAM, ["cats"], profile, retries=0, timeout=0.2)
    assert rec.last("r0m0").kind is ErrorKind.TIMEOUT
