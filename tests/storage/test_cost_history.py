"""Tokens and cost survive the history: per-cell metrics, the run's totals, and the exports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gui.core import events as ev
from gui.core.pricing import Price, PriceEntry
from gui.core.runner import Run
from gui.core.spec import Limits, ModelProfile, RunSpec
from gui.storage.export import to_csv, to_json, to_markdown
from gui.storage.history import History
from gui.storage.prices import PriceStore
from tests.core.fakes import FakeBackend, Script


async def test_a_priced_run_comes_back_with_its_tokens_and_cost(tmp_path: Path) -> None:
    history = History.open(tmp_path / "history.sqlite3")
    try:
        spec = RunSpec(
            "Tell me about {topic}",
            ({"topic": "cats"}, {"topic": "dogs"}),
            (ModelProfile(model="sim-a"), ModelProfile(model="sim-b")),
            limits=Limits(budget_usd=5.0),
            prices=(PriceEntry("sim-a", Price(1000.0, 2000.0)),),
        )
        run = Run(spec, FakeBackend(Script(latency=0.01, chunks=3)))
        ended: dict[str, ev.CellFinished] = {}
        run.subscribe(
            lambda e: ended.update({e.cell_id: e}) if isinstance(e, ev.CellFinished) else None
        )
        run.subscribe(history.recorder())
        await run.wait()
        assert history.flush()
        stored = history.get_run(run.id)
        # The estimate's guess for a column without max tokens: its recent answers' length.
        recent = history.recent_output_tokens(["sim-a", "never-ran"])
    finally:
        history.close()
    lengths = [m.metrics.output_tokens for m in ended.values() if m.cell_id.endswith("m0")]
    assert recent == {"sim-a": pytest.approx(sum(lengths) / len(lengths))}
    assert stored.spec.prices == spec.prices and stored.spec.limits.budget_usd == 5.0
    for cell in stored.cells:
        assert cell.metrics == ended[cell.cell_id].metrics  # input tokens and cost included
    priced = [c for c in stored.cells if c.col == 0]
    assert all(c.metrics is not None and c.metrics.cost_usd for c in priced)
    assert run.summary is not None
    assert stored.summary["cost_usd"] == pytest.approx(run.summary.cost_usd)
    assert stored.summary["input_tokens"] == run.summary.input_tokens > 0
    data = json.loads(to_json(stored))
    columns = data["summary"]["cost"]["columns"]
    assert columns[0]["cost_usd"] == pytest.approx(run.summary.cost_usd, abs=1e-6)
    assert columns[1]["cost_usd"] == 0.0  # the simulated model is free unless priced
    assert "cost_usd" in to_csv(stored).splitlines()[0]
    assert "## Cost" in to_markdown(stored)


def test_an_unreadable_price_file_is_set_aside_with_a_notice(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text("{not json")
    store = PriceStore(path)
    assert store.load() == ()
    assert store.notice is not None and "starter prices apply" in store.notice
    assert list(tmp_path.glob("prices.json.corrupt-*"))
    store.save([PriceEntry("m", Price(1, 2), "http://gpu-box:8000/v1")])
    assert PriceStore(path).load() == (PriceEntry("m", Price(1, 2), "http://gpu-box:8000/v1"),)
    assert path.stat().st_mode & 0o077 == 0  # readable by the user only
