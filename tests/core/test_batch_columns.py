"""The batch executor with issue 15's runs: swept columns, prompt variants and repeats in the
request lines, structured output, the batch price, the budget cap, a retry as a new batch of
the same run, and the LLM judge on batch results."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from gui.core import events as ev
from gui.core.batch import (
    BatchLimits,
    BatchRecord,
    BatchRun,
    batch_estimate,
    batch_price,
    budget_refusal,
    retry_specs,
    write_request_files,
)
from gui.core.columns import ParamSweep
from gui.core.errors import ErrorKind
from gui.core.estimate import approx_tokens, messages_tokens
from gui.core.judging import JudgeSettings
from gui.core.pricing import Price, PriceEntry
from gui.core.spec import CellId, Limits, ModelProfile, RunSpec, make_spec

from .test_batch import FakePort, Store, collect, error_line, ok_line
from .test_judge_lane import FakeJudge, JudgedBackend

FAST = BatchLimits(poll_first=0.01, poll_max=0.02, ingest_chunk=3)

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}},
    "required": ["name"],
}


def swept(rows: int = 2, repeats: int = 1) -> RunSpec:
    """2 variants x 1 model sweeping 2 temperatures (seed 5, top_p 0.9) = 4 columns."""
    model = ModelProfile(
        model="m", top_p=0.9, seed=5, max_tokens=40, sweep=ParamSweep(temperature=(0.0, 1.0))
    )
    return make_spec(
        "Explain {topic}",
        [f"topic {i}" for i in range(rows)],
        [model],
        system="Be brief.",
        template_variants=["Summarise {topic}"],
        repeats=repeats,
    )


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_each_column_sends_its_variant_and_its_parameter_values(tmp_path: Path) -> None:
    spec = swept(rows=2)
    files = write_request_files(spec, tmp_path, BatchLimits())
    assert [(f.col, f.rows, f.lines) for f in files] == [(c, 2, 2) for c in range(4)]
    by_id = {line["custom_id"]: line["body"] for f in files for line in lines_of(f.path)}
    assert sorted(by_id) == sorted(CellId.text(r, c) for r in range(2) for c in range(4))
    for col, column in enumerate(spec.columns):
        body = by_id[CellId.text(1, col)]
        variant = spec.variant_of(col)
        assert body["messages"] == [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": variant.template.replace("{topic}", "topic 1")},
        ]
        assert body["temperature"] == column.model.temperature
        assert (body["top_p"], body["seed"], body["max_tokens"]) == (0.9, 5, 40)
    temps = [by_id[CellId.text(0, c)]["temperature"] for c in range(4)]
    assert temps == [0.0, 1.0, 0.0, 1.0]
    assert "response_format" not in by_id["r0m0"]


def test_repeats_send_one_line_per_sample_and_keep_a_row_in_one_file(tmp_path: Path) -> None:
    spec = swept(rows=3, repeats=2)
    files = write_request_files(spec, tmp_path, BatchLimits(max_lines=3))
    col0 = [f for f in files if f.col == 0]
    # 2 samples a row: a file of at most 3 lines holds one whole row, never half of one.
    assert [(f.first_row, f.rows, f.lines) for f in col0] == [(0, 1, 2), (1, 1, 2), (2, 1, 2)]
    ids = [line["custom_id"] for f in col0 for line in lines_of(f.path)]
    assert ids == ["r0m0", "r0m0s1", "r1m0", "r1m0s1", "r2m0", "r2m0s1"]


def test_a_structured_run_asks_for_its_schema_in_every_line(tmp_path: Path) -> None:
    spec = replace(make_spec("Name {topic}", ["a"], [ModelProfile(model="m")]), json_schema=SCHEMA)
    (f,) = write_request_files(spec, tmp_path, BatchLimits())
    (line,) = lines_of(f.path)
    assert line["body"]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": SCHEMA, "strict": False},
    }


async def test_repeated_cells_land_per_sample_and_a_missing_sample_expires(
    tmp_path: Path,
) -> None:
    spec = make_spec("Explain {topic}", ["a", "b"], [ModelProfile(model="m")], repeats=2)
    answers = {i: ok_line(i, f"answer {i}") for i in ("r0m0", "r0m0s1", "r1m0")}
    port = FakePort(answers)
    port.release.set()
    run = BatchRun(spec, lambda _p: port, Store(), tmp_path, limits=FAST)
    ended = collect(run)
    summary = await asyncio.wait_for(run.start(), 30)
    assert summary is not None and (summary.done, summary.failed) == (3, 1)
    assert [line["custom_id"] for line in port.uploaded[0]] == ["r0m0", "r0m0s1", "r1m0", "r1m0s1"]
    second = ended["r0m0s1"]
    assert isinstance(second, ev.CellFinished) and second.text == "answer r0m0s1"
    missing = ended["r1m0s1"]
    assert isinstance(missing, ev.CellFailed) and missing.kind is ErrorKind.EXPIRED


async def test_cells_cost_the_batch_price_and_a_line_without_usage_is_estimated(
    tmp_path: Path,
) -> None:
    price = Price(2.0, 8.0)
    spec = replace(
        make_spec("Explain {topic}", ["a", "b", "c"], [ModelProfile(model="m")]),
        prices=(PriceEntry("m", price),),
    )
    no_usage = json.loads(ok_line("r1m0", "two words"))
    del no_usage["response"]["body"]["usage"]
    port = FakePort(
        {"r0m0": ok_line("r0m0", "A!", 1000, 500), "r1m0": json.dumps(no_usage)},
        errors={"r2m0": error_line("r2m0", 500)},
    )
    port.release.set()
    run = BatchRun(spec, lambda _p: port, Store(), tmp_path, limits=FAST)
    ended = collect(run)
    summary = await asyncio.wait_for(run.start(), 30)
    assert summary is not None
    a = ended["r0m0"]
    assert isinstance(a, ev.CellFinished)
    assert a.metrics.cost_usd == batch_price(price.cost(1000, 500))
    assert not a.metrics.input_estimated and a.metrics.batch
    b = ended["r1m0"]
    assert isinstance(b, ev.CellFinished) and b.metrics.input_estimated
    expected_in = messages_tokens(spec.messages("r1m0"), approx_tokens)
    assert b.metrics.input_tokens == expected_in
    assert b.metrics.cost_usd == batch_price(price.cost(expected_in, b.metrics.output_tokens))
    failed = ended["r2m0"]
    assert isinstance(failed, ev.CellFailed) and failed.metrics.cost_usd == 0.0
    assert summary.cost_usd == a.metrics.cost_usd + b.metrics.cost_usd
    assert summary.input_tokens == 1000 + expected_in
    assert summary.tokens_estimated


async def test_structured_answers_are_held_against_the_schema(tmp_path: Path) -> None:
    spec = replace(
        make_spec("Name {topic}", ["a", "b"], [ModelProfile(model="m")]), json_schema=SCHEMA
    )
    port = FakePort({"r0m0": ok_line("r0m0", '{"name": "x"}'), "r1m0": ok_line("r1m0", "{}")})
    port.release.set()
    run = BatchRun(spec, lambda _p: port, Store(), tmp_path, limits=FAST)
    ended = collect(run)
    await asyncio.wait_for(run.start(), 30)
    good, bad = ended["r0m0"], ended["r1m0"]
    assert isinstance(good, ev.CellFinished) and good.metrics.schema_valid is True
    assert isinstance(bad, ev.CellFinished) and bad.metrics.schema_valid is False
    assert bad.metrics.schema_error


def test_the_budget_refuses_an_estimate_over_it_at_the_batch_price() -> None:
    base = replace(
        make_spec("Explain {topic}", ["a"] * 10, [ModelProfile(model="m", max_tokens=1000)]),
        prices=(PriceEntry("m", Price(0.0, 100.0)),),  # $0.10 a cell live, $0.05 batch
    )
    estimate = batch_estimate(base)
    assert abs(estimate.cost_usd - 0.5) < 1e-9
    fits = replace(base, limits=Limits(budget_usd=0.6))
    assert budget_refusal(fits, estimate) is None
    over = replace(base, limits=Limits(budget_usd=0.4))
    line = budget_refusal(over, estimate)
    assert line is not None and "\n" not in line
    assert line.startswith("Not submitted: the batch is estimated at ~$0.50 (batch price)")


async def test_a_run_over_its_budget_is_never_submitted(tmp_path: Path) -> None:
    spec = replace(
        make_spec("Explain {topic}", ["a"] * 10, [ModelProfile(model="m", max_tokens=1000)]),
        prices=(PriceEntry("m", Price(0.0, 100.0)),),
        limits=Limits(budget_usd=0.1),
    )
    port = FakePort()
    events: list[ev.Event] = []
    run = BatchRun(spec, lambda _p: port, Store(), tmp_path, limits=FAST)
    run.subscribe(events.append)
    summary = await asyncio.wait_for(run.start(), 30)
    assert summary is not None and summary.done == 0
    assert run.error is not None and run.error.startswith("Not submitted")
    assert not port.uploaded and not events and not run.batches


async def test_failed_cells_are_sent_again_as_a_new_batch_of_the_same_run(tmp_path: Path) -> None:
    spec = make_spec("Explain {topic}", ["a", "b", "c"], [ModelProfile(model="m")], repeats=2)
    port = FakePort({"r1m0s1": ok_line("r1m0s1", "now fine"), "r2m0": ok_line("r2m0", "ok")})
    port.release.set()
    store = Store()
    run = BatchRun.retry_cells(
        spec,
        "run-1",
        ["r1m0s1", "r2m0", "r9m0"],  # r9m0 is no cell of the run: skipped
        lambda _p: port,
        store,
        tmp_path,
        started_at=1.0,
        prior={"done": 4},
        first_file=3,
        limits=FAST,
    )
    events: list[ev.Event] = []
    run.subscribe(events.append)
    ended = collect(run)
    summary = await asyncio.wait_for(run.start(), 30)
    assert [line["custom_id"] for line in port.uploaded[0]] == ["r1m0s1", "r2m0"]
    (record,) = store.created
    assert (record.run_id, record.file_index, record.cells) == ("run-1", 3, ("r1m0s1", "r2m0"))
    assert set(ended) == {"r1m0s1", "r2m0"}
    assert summary is not None and summary.done == 6 and summary.total == 6
    started = events[0]
    assert isinstance(started, ev.RunStarted) and started.run_id == "run-1"


async def test_a_listed_batch_fails_only_its_own_missing_cells(tmp_path: Path) -> None:
    spec = make_spec("Explain {topic}", ["a", "b", "c"], [ModelProfile(model="m")])
    port = FakePort({"r0m0": ok_line("r0m0", "fine")})
    port.release.set()
    run = BatchRun.retry_cells(
        spec,
        "run-2",
        ["r0m0", "r2m0"],
        lambda _p: port,
        Store(),
        tmp_path,
        started_at=1.0,
        prior={"done": 1},
        first_file=1,
        limits=FAST,
    )
    ended = collect(run)
    await asyncio.wait_for(run.start(), 30)
    assert set(ended) == {"r0m0", "r2m0"}  # r1m0 was not in the batch: untouched
    expired = ended["r2m0"]
    assert isinstance(expired, ev.CellFailed) and expired.kind is ErrorKind.EXPIRED


def test_a_live_retry_sends_each_column_its_variant_and_values() -> None:
    spec = swept(rows=2, repeats=2)
    parts = retry_specs(spec, ["r1m3s1", "r0m3", "r1m0"])
    assert [sorted(m.values()) for _sub, m in parts] == [["r1m0"], ["r0m3", "r1m3s1"]]
    sub, cell_map = parts[1]
    column = spec.columns[3]
    assert sub.repeats == 1 and sub.judge is None
    assert sub.models == (column.model,) and sub.models[0].temperature == 1.0
    assert sub.template == spec.variant_of(3).template
    assert cell_map == {"r0m0": "r0m3", "r1m0": "r1m3s1"}
    assert sub.messages("r1m0") == spec.messages("r1m3s1")


async def test_the_judge_scores_batch_answers_as_they_land(tmp_path: Path) -> None:
    spec = replace(
        make_spec("Explain {topic}", ["a", "b"], [ModelProfile(model="m")]),
        judge=JudgeSettings(model=ModelProfile(model="judge")),
    )
    port = FakePort({"r0m0": ok_line("r0m0", "A!"), "r1m0": ok_line("r1m0", "B!")})
    port.release.set()
    judge = FakeJudge()
    run = BatchRun(
        spec, lambda _p: port, Store(), tmp_path, limits=FAST, backend=lambda: JudgedBackend(judge)
    )
    events: list[ev.Event] = []
    run.subscribe(events.append)
    summary = await asyncio.wait_for(run.start(), 30)
    assert summary is not None and summary.done == 2
    verdicts = {e.key: e.verdict for e in events if isinstance(e, ev.JudgeEnded)}
    assert set(verdicts) == {"r0m0", "r1m0"}
    assert all(v is not None and v.score == 7 for v in verdicts.values())
    # Every verdict before the run's end, as a live run's.
    finished = next(i for i, e in enumerate(events) if isinstance(e, ev.RunFinished))
    assert all(i < finished for i, e in enumerate(events) if isinstance(e, ev.JudgeEnded))
    assert len(judge.calls) == 2


def test_a_listed_record_keeps_its_cells_in_plain_data() -> None:
    record = BatchRecord("r", 2, 0, 1, 2, "b", "f", cells=("r1m0", "r3m0s1"))
    assert record.to_dict()["cells"] == ["r1m0", "r3m0s1"]
    assert record.requests(samples=2) == 2
    assert BatchRecord("r", 0, 0, 0, 5, "b", "f").requests(samples=3) == 15
