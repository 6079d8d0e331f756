"""The Scoreboard summary in every export: JSON's ``summary.models``, the CSV summary file
beside the cells' one, and the Markdown report's Scoreboard section."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from gui.storage.export import export, save, summary_path, to_markdown, to_summary_csv
from gui.storage.records import StoredCell, StoredRun
from tests.storage.fake_runs import metrics, spec


def cell(row: int, col: int, status: str, latency: float | None = None) -> StoredCell:
    topic = ("cats", "dogs")[row]
    model = ("sim-a", "sim-b")[col]
    m = metrics(latency + 0.1, tokens_per_second=20.0 / latency) if latency else metrics()
    return StoredCell(
        cell_id=f"r{row}m{col}",
        row=row,
        col=col,
        inputs={"topic": topic},
        model=model,
        status=status,
        text=f"answer {row} {col}" if status == "done" else "",
        error_kind=None if status == "done" else status,
        error=None if status == "done" else "boom",
        metrics=m,
        ended_at=1_800_000_001.0,
    )


@pytest.fixture
def run() -> StoredRun:
    # sim-a: 1.0 s and 3.0 s; sim-b: 2.0 s and a failure. Latency wins: cats a, dogs a.
    cells = (
        cell(0, 0, "done", 1.0),
        cell(0, 1, "done", 2.0),
        cell(1, 0, "done", 3.0),
        cell(1, 1, "failed"),
    )
    return StoredRun(
        id="20261202-120000-score",
        created_at=1_800_000_000.0,
        finished_at=1_800_000_004.0,
        status="finished",
        template="Tell me a joke about {topic}",
        strategy="stream",
        models=("sim-a", "sim-b"),
        total=4,
        done=3,
        failed=1,
        cancelled=0,
        wall=4.0,
        label=None,
        spec=spec(),
        cells=cells,
        summary={"peak_in_flight": 2},
    )


def test_json_summary_carries_the_per_model_table(run: StoredRun) -> None:
    data = json.loads(export(run, "json"))
    summary = data["summary"]
    assert summary["peak_in_flight"] == 2  # what the history stored stays
    assert [m["name"] for m in summary["measures"]][:4] == ["latency", "ttft", "tps", "tokens"]
    a, b = summary["models"]
    assert (a["model"], a["done"], a["failed"]) == ("sim-a", 2, 0)
    assert (b["model"], b["done"], b["failed"]) == ("sim-b", 1, 1)
    assert a["latency_p50_s"] == pytest.approx(2.0)
    assert a["measures"]["latency"]["mean"] == pytest.approx(2.0)
    assert a["measures"]["latency"]["win_rate"] == 1.0
    assert b["measures"]["latency"]["win_rate"] == 0.0
    assert b["measures"]["latency"]["count"] == 1  # the failed cell is never scored


def test_csv_summary_is_one_row_per_model_and_a_file_beside_the_cells(
    run: StoredRun, tmp_path: Path
) -> None:
    rows = list(csv.DictReader(io.StringIO(to_summary_csv(run))))
    assert [r["model"] for r in rows] == ["sim-a", "sim-b"]
    a = rows[0]
    assert a["run_id"] == run.id
    assert (a["cells"], a["done"], a["failed"]) == ("2", "2", "0")
    assert a["latency_mean"] == "2" and a["latency_win_rate"] == "1"
    assert rows[1]["latency_win_rate"] == "0"
    assert export(run, "summary-csv") == to_summary_csv(run)

    target = tmp_path / "run.csv"
    written = save(run, "csv", target)
    assert written == [target, tmp_path / "run-summary.csv"] and summary_path(target) == written[1]
    assert target.read_text(encoding="utf-8").startswith("run_id,row,topic,")
    assert written[1].read_bytes().decode("utf-8") == to_summary_csv(run)
    assert save(run, "md", tmp_path / "run.md") == [tmp_path / "run.md"]  # one file, as before


def test_csv_summary_defuses_a_model_name_that_starts_like_a_formula(run: StoredRun) -> None:
    from dataclasses import replace

    evil = replace(run, models=("=HYPERLINK(1)", "sim-b"))
    rows = list(csv.reader(io.StringIO(to_summary_csv(evil))))
    assert rows[1][1] == "'=HYPERLINK(1)"
    raw = list(csv.reader(io.StringIO(to_summary_csv(evil, raw=True))))
    assert raw[1][1] == "=HYPERLINK(1)"


def test_markdown_report_opens_with_the_scoreboard(run: StoredRun) -> None:
    md = to_markdown(run)
    assert md.index("## Scoreboard") < md.index("## Answers")
    tokens = MarkdownIt("commonmark").enable(["table"]).parse(md)
    rows: list[list[str]] = []
    cells: list[str] = []
    for i, tok in enumerate(tokens):
        if tok.type == "tr_open":
            cells = []
        elif tok.type in ("td_open", "th_open"):
            cells.append(tokens[i + 1].content)
        elif tok.type == "tr_close":
            rows.append(cells)
    assert ["sim-a", "2/2", "0", "0", "2.00", "2.90"] in rows  # p95 of 1.0 and 3.0
    assert ["sim-b", "1/2", "1", "0", "2.00", "2.00"] in rows
    assert ["sim-a", "Latency (s)", "2.00", "2.00", "", "100 %"] in rows
    assert ["sim-b", "Latency (s)", "2.00", "2.00", "", "0 %"] in rows
