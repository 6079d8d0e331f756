"""The judge's verdicts and pairwise comparisons in the history and in exports."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path

from gui.core.judging import JudgeMode, JudgeSettings
from gui.core.runner import Run
from gui.core.spec import ModelProfile, SimSettings, make_spec
from gui.providers.backend import LangChainBackend
from gui.storage.export import to_csv, to_json, to_markdown
from gui.storage.history import History

FAST = SimSettings(ttft=0.0, tokens_per_second=0.0, jitter=0.0)


async def record(tmp_path: Path, mode: JudgeMode) -> tuple[Run, History]:
    models = tuple(
        ModelProfile(model=f"sim-{i}", sim=replace(FAST, output_tokens=8 + 20 * i, seed=i))
        for i in range(2)
    )
    spec = make_spec("Tell me about {topic}", ["cats", "dogs"], models)
    judge = JudgeSettings(model=ModelProfile(model="sim-judge", sim=FAST), mode=mode)
    spec = replace(spec, judge=judge)
    history = History.open(tmp_path / "history.sqlite3")
    backend = LangChainBackend()
    run = Run(spec, backend)
    run.subscribe(history.recorder())
    await run.wait()
    await backend.aclose()
    assert history.flush()
    return run, history


async def test_verdicts_round_trip_through_the_history(tmp_path: Path) -> None:
    run, history = await record(tmp_path, JudgeMode.SINGLE)
    try:
        stored = history.get_run(run.id)
    finally:
        history.close()
    assert stored is not None and run.judge is not None
    assert stored.spec.judge == run.spec.judge
    assert {c.cell_id: c.judge for c in stored.cells} == run.judge.verdicts
    data = json.loads(to_json(stored))
    assert all(c["judge"]["score"] is not None for c in data["cells"])
    rows = list(csv.DictReader(io.StringIO(to_csv(stored))))
    assert {r["judge_model"] for r in rows} == {"sim-judge"}
    assert all(1 <= float(r["judge_score"]) <= 10 for r in rows)
    assert "## Judge" in to_markdown(stored)


async def test_pairwise_results_and_ranking_round_trip(tmp_path: Path) -> None:
    run, history = await record(tmp_path, JudgeMode.PAIRWISE)
    try:
        stored = history.get_run(run.id)
    finally:
        history.close()
    assert stored is not None and run.judge is not None
    assert sorted(stored.pairwise, key=lambda p: p.row) == sorted(
        run.judge.pairs, key=lambda p: p.row
    )
    assert len(stored.pairwise) == 2  # one pair of answers per input
    data = stored.to_dict()
    assert [r["model"] for r in data["ranking"]] == [r.model for r in stored.ranking()]
    assert {p["first_cell"][:2] for p in data["pairwise"]} == {"r0", "r1"}
    assert "win rate" in to_markdown(stored)


def test_the_workspace_keeps_the_judge_without_a_url_password() -> None:
    from gui.core.spec import ProviderKind
    from gui.storage.workspace import Workspace, from_dict, to_dict

    judge = JudgeSettings(
        model=ModelProfile(
            model="judge-1",
            provider=ProviderKind.OPENAI,
            base_url="http://me:secret@localhost:8000/v1",
        ),
        rubric="Prefer short answers.",
        mode=JudgeMode.PAIRWISE,
        max_concurrency=3,
    )
    data = to_dict(Workspace(judge=judge))
    assert "secret" not in json.dumps(data)
    back = from_dict(json.loads(json.dumps(data)))
    assert back.judge is not None and back.judge.rubric == "Prefer short answers."
    assert back.judge.model.base_url == "http://me@localhost:8000/v1"
    assert back.judge.mode is JudgeMode.PAIRWISE and back.judge.max_concurrency == 3
    assert from_dict(to_dict(Workspace())).judge is None


def test_the_workspace_keeps_a_judge_that_is_off_and_reads_older_files_as_on() -> None:
    from gui.storage.workspace import WindowLayout, Workspace, from_dict, to_dict

    judge = JudgeSettings(rubric="Prefer short answers.")
    off = to_dict(Workspace(judge=judge, judge_on=False))
    back = from_dict(json.loads(json.dumps(off)))
    assert back.judge == judge and not back.judge_on
    on = to_dict(Workspace(judge=judge))
    assert "judge_on" not in on  # as older versions wrote it: a judge there was on
    assert from_dict(on).judge_on
    layout = WindowLayout(scoreboard_measure="judge", scoreboard_sort="tps", scoreboard_stat="p95")
    assert from_dict(to_dict(Workspace(layout=layout))).layout == layout
