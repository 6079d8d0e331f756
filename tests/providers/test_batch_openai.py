"""Batch runs against the in-test OpenAI-compatible server's files and batches endpoints:
the openai SDK's upload, create, poll, download and cancel, each line of the result files
mapped to its cell's state, a failed batch, and a server without a Batch API."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from gui.core import events as ev
from gui.core.batch import BatchLimits, BatchRecord, BatchRun, BatchState
from gui.core.errors import ErrorKind
from gui.core.spec import ModelProfile, ProviderKind, RunSpec, make_spec
from gui.providers.batch import batch_ports
from tests.support.openai_batches import BatchPlan
from tests.support.openai_server import FakeOpenAIServer, default_answer

FAST = BatchLimits(poll_first=0.02, poll_max=0.1)


@pytest.fixture
def srv(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with FakeOpenAIServer(models=["fake-1", "fake-2"]) as server:
        yield server


def spec_on(srv: FakeOpenAIServer, rows: int, models: tuple[str, ...] = ("fake-1",)) -> RunSpec:
    return make_spec(
        "Explain {topic}",
        [f"t{i}" for i in range(rows)],
        [
            ModelProfile(model=m, provider=ProviderKind.OPENAI, base_url=srv.base_url)
            for m in models
        ],
    )


class Store:
    def __init__(self) -> None:
        self.created: list[BatchRecord] = []

    def batch_created(self, record: BatchRecord) -> None:
        self.created.append(record)

    def batch_cells_ended(self, run_id: str, events: object) -> None:
        pass

    def batch_updated(self, record: BatchRecord) -> None:
        pass


def make_run(
    spec: RunSpec, tmp_path: Path, limits: BatchLimits = FAST
) -> tuple[BatchRun, dict[str, ev.Event]]:
    run = BatchRun(
        spec, batch_ports(None, tmp_path / "sim"), Store(), tmp_path / "work", limits=limits
    )
    ended: dict[str, ev.Event] = {}

    def on(event: ev.Event) -> None:
        if isinstance(event, ev.CellFinished | ev.CellFailed | ev.CellCancelled):
            ended[event.cell_id] = event

    run.subscribe(on)
    return run, ended


async def test_output_error_expired_and_lost_lines_map_to_their_states(
    srv: FakeOpenAIServer, tmp_path: Path
) -> None:
    srv.batches.plan = BatchPlan(
        validating=0.05, duration=0.2, fail={"r1m0"}, expire={"r2m0"}, drop={"r3m0"}, tokens=4
    )
    run, ended = make_run(spec_on(srv, 5), tmp_path)
    summary = await asyncio.wait_for(run.wait(), 30)
    assert summary is not None and (summary.done, summary.failed) == (2, 3)
    done = ended["r0m0"]
    assert isinstance(done, ev.CellFinished)
    assert done.text == default_answer("Explain t0", "fake-1", 4)
    assert done.metrics.output_tokens == 4 and done.metrics.input_tokens == 2
    assert done.metrics.batch and not done.metrics.tokens_estimated
    kinds = {c: e.kind for c, e in ended.items() if isinstance(e, ev.CellFailed)}
    assert kinds == {
        "r1m0": ErrorKind.SERVER_ERROR,
        "r2m0": ErrorKind.EXPIRED,
        "r3m0": ErrorKind.EXPIRED,
    }
    assert run.batches[0].state is BatchState.COMPLETED
    seen = {path for _m, path, _s in srv.http_log}
    assert {"/v1/files", "/v1/batches"} <= seen


async def test_a_run_over_the_limits_is_split_into_one_batch_per_file(
    srv: FakeOpenAIServer, tmp_path: Path
) -> None:
    run, ended = make_run(
        spec_on(srv, 5, ("fake-1", "fake-2")), tmp_path, BatchLimits(max_lines=2, poll_first=0.02)
    )
    summary = await asyncio.wait_for(run.wait(), 30)
    assert summary is not None and summary.done == 10
    assert [n for _name, n in srv.batches.uploads] == [2, 2, 1, 2, 2, 1]
    assert len(srv.batches.batch_ids()) == 6
    second = ended["r4m1"]
    assert isinstance(second, ev.CellFinished) and "fake-2" in second.text


async def test_a_failed_batch_fails_its_cells_with_the_providers_reason(
    srv: FakeOpenAIServer, tmp_path: Path
) -> None:
    srv.batches.plan = BatchPlan(failed="The model fake-1 does not support batches.")
    run, ended = make_run(spec_on(srv, 2), tmp_path)
    summary = await asyncio.wait_for(run.wait(), 30)
    assert summary is not None and summary.failed == 2
    failed = ended["r0m0"]
    assert isinstance(failed, ev.CellFailed)
    assert "does not support batches" in failed.message
    assert run.batches[0].state is BatchState.FAILED


async def test_cancel_keeps_what_ran_and_cancels_the_rest(
    srv: FakeOpenAIServer, tmp_path: Path
) -> None:
    srv.batches.plan = BatchPlan(duration=3600.0)  # nothing runs before the cancel
    run, ended = make_run(spec_on(srv, 3), tmp_path)
    task = run.start()
    assert await srv.await_for(lambda: run.batches and srv.batches.batch_ids(), 30)
    run.cancel()
    summary = await asyncio.wait_for(task, 30)
    assert summary is not None and summary.cancelled == 3 and summary.cancelled_by_user
    assert srv.batches.cancelled() == srv.batches.batch_ids()
    assert all(isinstance(e, ev.CellCancelled) for e in ended.values())
    assert run.batches[0].state is BatchState.CANCELLED


async def test_a_server_without_batch_endpoints_gets_one_line(
    srv: FakeOpenAIServer, tmp_path: Path
) -> None:
    srv.batches.plan = BatchPlan(supported=False)
    run, ended = make_run(spec_on(srv, 2), tmp_path)
    summary = await asyncio.wait_for(run.wait(), 30)
    assert summary is not None and summary.failed == 2
    assert run.error is not None and "\n" not in run.error
    assert run.error.startswith(f"127.0.0.1:{srv.port} does not offer the Batch API")
    assert all(isinstance(e, ev.CellFailed) for e in ended.values())


async def test_a_batch_the_provider_no_longer_knows_fails_its_cells_once(
    srv: FakeOpenAIServer, tmp_path: Path
) -> None:
    srv.batches.plan = BatchPlan(duration=3600.0)
    run, _ended = make_run(spec_on(srv, 1), tmp_path)
    submitted = BatchRun(
        run.spec, batch_ports(None, tmp_path / "sim"), Store(), tmp_path / "w", wait=False
    )
    assert await asyncio.wait_for(submitted.start(), 30) is None
    lost = replace(submitted.batches[0], batch_id="batch_unknown")
    resumed = BatchRun.resume(
        run.spec, submitted.id, [lost], batch_ports(None, tmp_path / "sim"), Store(),
        tmp_path / "w", started_at=0.0, limits=FAST,
    )  # fmt: skip
    summary = await asyncio.wait_for(resumed.wait(), 30)
    assert summary is not None and summary.failed == 1
    assert resumed.batches[0].state is BatchState.FAILED
    assert "no longer knows batch batch_unknown" in (resumed.batches[0].message or "")
