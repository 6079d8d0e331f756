"""Issue 15's columns in the history and the exports: a sweep with variants and repeats comes
back with every sample, its column titles and identity; a run of one sample per cell keeps
the ids older history has."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path

import pytest

from gui.core.columns import ParamSweep
from gui.core.spec import ModelProfile, make_spec
from gui.storage.export import export
from gui.storage.history import History
from tests.storage.fake_runs import feed_run


@pytest.fixture
def history(tmp_path: Path):
    h = History.open(tmp_path / "history.sqlite3")
    yield h
    h.close()


def swept_spec():
    return make_spec(
        "Tell me about {topic}",
        ["cats", "dogs"],
        (replace(ModelProfile(model="sim-a"), sweep=ParamSweep(temperature=(0.0, 0.7))),),
        template_variants=("Summarise {topic}",),
        repeats=2,
    )


def test_a_sweep_with_variants_and_repeats_comes_back_whole(history: History) -> None:
    spec = swept_spec()
    texts = feed_run(history.recorder(), spec, run_id="sweep-1")
    assert history.flush()
    run = history.get_run("sweep-1")
    assert run is not None
    assert len(run.cells) == 2 * 4 * 2
    assert {c.cell_id: c.text for c in run.cells} == texts
    assert list(run.models) == [
        "A · sim-a · t=0",
        "A · sim-a · t=0.7",
        "B · sim-a · t=0",
        "B · sim-a · t=0.7",
    ]
    second = next(c for c in run.cells if c.cell_id == "r1m3s1")
    assert (second.row, second.col, second.model) == (1, 3, "B · sim-a · t=0.7")
    # The stored plan rebuilds the same columns.
    assert run.spec.headers == spec.headers and run.spec.repeats == 2
    # The history's model filter still finds the run by its model's name.
    assert [r.id for r in history.list_runs(model="sim-a")] == ["sweep-1"]


def test_exports_carry_the_column_identity_and_the_sample(history: History) -> None:
    feed_run(history.recorder(), swept_spec(), run_id="sweep-2")
    assert history.flush()
    run = history.get_run("sweep-2")
    assert run is not None
    data = json.loads(export(run, "json"))
    assert data["columns"][1] == {
        "index": 1,
        "template": "A",
        "model": "sim-a",
        "parameters": {"temperature": 0.7},
        "header": "A · sim-a · t=0.7",
    }
    cell = next(c for c in data["cells"] if c["cell_id"] == "r0m2s1")
    assert cell["column"]["template"] == "B" and cell["sample"] == 2
    rows = list(csv.DictReader(io.StringIO(export(run, "csv"))))
    by_id = {(r["row"], r["model"], r["sample"]): r for r in rows}
    assert len(rows) == 16
    hit = by_id[("1", "B · sim-a · t=0.7", "2")]
    assert hit["template"] == "B" and hit["parameters"] == "temperature=0.7"
    md = export(run, "md")
    assert "| A · sim-a · t=0 | A · sim-a · t=0.7 | B · sim-a · t=0 | B · sim-a · t=0.7 |" in md
    assert "**Template 2:**" in md and "**Samples per cell:** 2" in md
    assert "B · sim-a · t=0.7 · sample 2" in md


def test_a_plain_run_keeps_its_ids_titles_and_csv_columns(history: History) -> None:
    spec = make_spec("Hi {topic}", ["x"], (ModelProfile(model="a"), ModelProfile(model="b")))
    feed_run(history.recorder(), spec, run_id="plain")
    assert history.flush()
    run = history.get_run("plain")
    assert run is not None
    assert [c.cell_id for c in run.cells] == ["r0m0", "r0m1"]
    assert list(run.models) == ["a", "b"]
    header = export(run, "csv").splitlines()[0]
    assert "sample" not in header and "template" not in header
