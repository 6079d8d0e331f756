"""Check results in the history and the exports: a run with checks comes back with each done
cell's results (a retried cell's too), and JSON, CSV and Markdown carry them."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path

import pytest

from gui.core.checks import Check, parse_check
from gui.core.runner import Run
from gui.core.session import Session
from gui.core.spec import Limits, ModelProfile, make_spec
from gui.storage.export import to_csv, to_json, to_markdown
from gui.storage.history import History
from gui.storage.records import StoredRun
from tests.core.fakes import FakeBackend, FakeHTTPError, Script
from tests.support.waiting import until

CHECKS = (parse_check("name=has w1;contains:w1"), parse_check("regex:^{topic}"))


@pytest.fixture
def history(tmp_path: Path):
    h = History.open(tmp_path / "history.sqlite3")
    yield h
    h.close()


async def checked_run(history: History) -> StoredRun:
    backend = FakeBackend(
        Script(latency=0.01, chunks=3), dogs=Script(errors=[FakeHTTPError(500)], latency=0.01)
    )
    spec = make_spec("About {topic}", ["cats", "dogs"], [ModelProfile()], limits=Limits(retries=0))
    run = Run(replace(spec, checks=CHECKS), backend)
    run.subscribe(history.recorder())
    await run.wait()
    assert history.flush()
    stored = history.get_run(run.id)
    assert stored is not None
    return stored


async def test_checks_and_their_results_come_back_from_the_history(history: History) -> None:
    stored = await checked_run(history)
    assert stored.spec.checks == CHECKS
    cats, dogs = stored.cells
    assert [(r.name, r.passed) for r in cats.checks] == [
        ("has w1", True),
        ("regex: ^{topic}", False),
    ]
    assert cats.checks[1].detail == "no match for /^cats/"
    assert dogs.status == "failed" and dogs.checks == ()
    data = json.loads(json.dumps(stored.to_dict()))
    assert data["cells"][0]["checks"][0] == {
        "name": "has w1",
        "kind": "contains",
        "passed": True,
        "detail": "contains 'w1'",
        "weight": 1.0,
    }
    assert data["spec"]["checks"][1] == {"kind": "regex", "value": "^{topic}"}


async def test_exports_carry_the_check_results(history: History) -> None:
    stored = await checked_run(history)
    assert json.loads(to_json(stored))["cells"][0]["checks"][1]["passed"] is False
    rows = list(csv.DictReader(io.StringIO(to_csv(stored))))
    assert (rows[0]["checks_passed"], rows[0]["checks_total"]) == ("1", "2")
    assert rows[0]["checks_pass_rate"] == "0.5"
    assert rows[0]["checks_failed"] == "regex: ^{topic}: no match for /^cats/"
    assert rows[1]["checks_total"] == ""  # the failed cell was not checked
    md = to_markdown(stored)
    assert "## Checks" in md and "- name=has w1;contains:w1" in md
    assert "| 1/2 | 50% |" in md and "not checked" in md


async def test_a_run_without_checks_exports_as_before(history: History) -> None:
    run = Run(make_spec("About {topic}", ["cats"], [ModelProfile()]), FakeBackend())
    run.subscribe(history.recorder())
    await run.wait()
    assert history.flush()
    stored = history.get_run(run.id)
    assert stored is not None
    assert "checks_passed" not in to_csv(stored) and "## Checks" not in to_markdown(stored)


async def test_a_retried_cell_gets_checked_again_in_its_run(history: History) -> None:
    backend = FakeBackend(Script(latency=0.01, chunks=3))
    spec = replace(make_spec("About {topic}", ["cats"], [ModelProfile()]), checks=CHECKS)
    session = Session(backend=lambda: backend, history=lambda: _ready(history))
    first = session.start(spec)
    await first.wait()
    await until(lambda: _stored_cells(history, first.id) == 1)
    retry = session.retry("r0m0")
    assert retry is not None and retry.spec.checks == CHECKS
    await retry.wait()
    await until(lambda: retry.summary is not None)
    assert history.flush()
    stored = history.get_run(first.id)
    assert [r.passed for r in stored.cells[0].checks] == [True, False]
    await session.shutdown()


def _stored_cells(history: History, run_id: str) -> int:
    stored = history.get_run(run_id)
    return 0 if stored is None else len(stored.cells)


async def _ready(history: History) -> History:
    return history


def test_the_workspace_keeps_checks_as_typed() -> None:
    from gui.storage.workspace import Workspace, from_dict, to_dict

    typed = (parse_check("contains/i:{topic}"), Check("max-words", "ten"), *CHECKS)
    again = from_dict(json.loads(json.dumps(to_dict(Workspace(checks=typed)))))
    assert again.checks == typed  # an invalid value is kept: the Checks page says why
    assert "checks" not in to_dict(Workspace())
