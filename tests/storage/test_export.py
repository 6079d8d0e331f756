"""Exports keep every answer exact, however nasty the text: JSON, CSV and Markdown."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from gui.core.spec import CellId, ModelProfile
from gui.storage.export import default_filename, export, to_csv, to_json, to_markdown
from gui.storage.history import History
from gui.storage.records import StoredRun
from tests.storage.fake_runs import feed_run, spec

NASTY = {
    "pipes": "a | b || c |",
    "newlines": "line 1\nline 2\r\nline 3 (Windows)\rline 4 (old Mac)",
    "back-ticks": "`code` and ``more`` and a lone ` here",
    "edge spaces": "  two leading, one trailing ",
    "html": "<html><script>alert(1)</script></html> &amp; &#32; <br>",
    "emoji": "cat 🐈 ninja 🐱‍👤 thumbs 👍🏽",
    "right-to-left": "مرحبا بالعالم — שלום עולם",
    "markup": "*star* _under_ [link](http://x) ![img](y) ~~strike~~ \\ back\\slash # not a heading",
    "only spaces": "   ",
    "edge newlines": "\n\nstarts and ends with newlines\n",
    "empty": "",
    "formula": "=SUM(A1:A2)",
}
KEYS = list(NASTY)


@pytest.fixture(scope="module")
def nasty_run(tmp_path_factory: pytest.TempPathFactory) -> StoredRun:
    """A run whose inputs, model titles and answers are all nasty text."""
    db = tmp_path_factory.mktemp("export") / "history.sqlite3"
    models = [ModelProfile(model="m1", label="left | right"), ModelProfile(model="m2")]
    s = spec("Q `{topic}` | {topic}", topics=[NASTY[k] for k in KEYS], models=models)
    outcomes: dict[str, tuple[str, ...]] = {}
    for r, key in enumerate(KEYS):
        outcomes[CellId.text(r, 0)] = ("done", NASTY[key])
        outcomes[CellId.text(r, 1)] = ("failed", "timeout", f"m2 timed out | {key}", NASTY[key][:5])
    outcomes["r0m1"] = ("cancelled", "Cancelled by user; partial text kept.", "part `")
    with History.open(db) as h:
        feed_run(h.recorder(label="nasty"), s, run_id="20261201-120000-nasty", outcomes=outcomes)
        assert h.flush()
        run = h.get_run("20261201-120000-nasty")
    assert run is not None
    return run


def _visible(text: str) -> str:
    """What a reader sees: any newline convention is a line break."""
    return re.sub(r"\r\n|\r", "\n", text)


# ------------------------------------------------------------------ JSON


def test_json_holds_everything_exactly(nasty_run: StoredRun) -> None:
    data = json.loads(to_json(nasty_run))
    assert data["format"] == "fanout-studio-run" and data["id"] == nasty_run.id
    assert data["spec"]["template"] == "Q `{topic}` | {topic}"
    assert data["spec"]["models"][0]["label"] == "left | right"
    assert data["label"] == "nasty" and data["summary"]["failures_by_kind"] == {"timeout": 11}
    by_id = {c["cell_id"]: c for c in data["cells"]}
    for r, key in enumerate(KEYS):
        assert by_id[CellId.text(r, 0)]["text"] == NASTY[key]
        assert by_id[CellId.text(r, 0)]["inputs"] == {"topic": NASTY[key]}
        assert by_id[CellId.text(r, 0)]["metrics"] == {
            f: getattr(nasty_run.cell(CellId.text(r, 0)).metrics, f)  # type: ignore[union-attr]
            for f in data["cells"][0]["metrics"]
        }
    assert by_id["r0m1"]["status"] == "cancelled" and by_id["r0m1"]["text"] == "part `"


# ------------------------------------------------------------------ CSV


def test_csv_raw_round_trips_every_text_exactly(nasty_run: StoredRun) -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv(nasty_run, raw=True), newline="")))
    assert len(rows) == 2 * len(KEYS)
    header = list(rows[0])
    assert header[:6] == ["run_id", "row", "topic", "model", "status", "output"]
    assert {"latency", "ttft", "output_tokens", "tokens_per_second", "retries"} <= set(header)
    for r, key in enumerate(KEYS):
        done, failed = rows[2 * r], rows[2 * r + 1]
        assert done["output"] == NASTY[key], key  # exact: \r\n, \r, edge spaces, all of it
        assert done["topic"] == NASTY[key] and done["row"] == str(r + 1)
        assert (done["model"], done["status"], done["error"]) == ("left | right", "done", "")
        if r:
            assert (failed["status"], failed["error_kind"]) == ("failed", "timeout")
            assert failed["error"] == f"m2 timed out | {key}"
    assert float(rows[0]["latency"]) == pytest.approx(nasty_run.cells[0].metrics.latency, abs=1e-4)  # type: ignore[union-attr]


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_cells_a_spreadsheet_would_run_get_a_leading_quote(tmp_path: Path, start: str) -> None:
    formula = f'{start}HYPERLINK("http://evil.invalid")'
    outcomes = {"r0m0": ("done", formula), "r0m1": ("failed", "other", formula, "")}
    with History.open(tmp_path / "h.sqlite3") as h:
        feed_run(h.recorder(), spec(topics=[formula], models=["m1", formula]), run_id="f")
        assert h.flush()
        feed_run(
            h.recorder(),
            spec(topics=[formula], models=["m1", formula]),
            run_id="g",
            outcomes=outcomes,
        )
        assert h.flush()
        run = h.get_run("g")
    assert run is not None
    done, failed = csv.DictReader(io.StringIO(export(run, "csv"), newline=""))
    assert done["output"] == done["topic"] == failed["model"] == failed["error"] == "'" + formula
    assert done["model"] == "m1" and done["row"] == "1"  # plain text and numbers stay as they are
    raw, _ = csv.DictReader(io.StringIO(export(run, "csv", raw=True), newline=""))
    assert raw["output"] == raw["topic"] == formula


def test_csv_input_named_like_a_column_does_not_collide(tmp_path: Path) -> None:
    with History.open(tmp_path / "h.sqlite3") as h:
        feed_run(h.recorder(), spec("Rate {model}", topics=["gpt"], models=["m"]), run_id="x")
        assert h.flush()
        run = h.get_run("x")
    assert run is not None
    (row,) = csv.DictReader(io.StringIO(to_csv(run), newline=""))
    assert row["input_model"] == "gpt" and row["model"] == "m"


# ------------------------------------------------------------------ Markdown


def _tables(md: str) -> list[list[list[str]]]:
    """Each table of the document as rows of cells' visible text, via a real parser."""
    tokens = MarkdownIt("commonmark").enable(["table", "strikethrough"]).parse(md)
    tables: list[list[list[str]]] = []
    row: list[str] = []
    for i, tok in enumerate(tokens):
        if tok.type == "table_open":
            tables.append([])
        elif tok.type == "tr_open":
            row = []
        elif tok.type == "tr_close":
            tables[-1].append(row)
        elif tok.type in ("td_open", "th_open"):
            inline = tokens[i + 1]
            row.append(_text(inline.children or []) if inline.type == "inline" else "")
    return tables


def _text(children: list[Token]) -> str:
    out = []
    for tok in children:
        if tok.type == "text":
            out.append(tok.content)
        elif tok.type == "html_inline":
            assert tok.content == "<br>", f"raw HTML got through: {tok.content!r}"
            out.append("\n")
        elif tok.type in ("strong_open", "strong_close", "em_open", "em_close"):
            continue  # only our own status markers; answers never make any (checked below)
        else:
            raise AssertionError(f"markup came alive in a cell: {tok.type} {tok.content!r}")
    return "".join(out)


def test_markdown_matrix_shows_every_answer_as_it_was(nasty_run: StoredRun) -> None:
    md = to_markdown(nasty_run)
    answers, metrics = _tables(md)[-2:]  # after the Scoreboard's two
    head, *rows = answers
    assert head == ["#", "topic", "left | right", "m2"]
    assert len(rows) == len(KEYS)
    for r, key in enumerate(KEYS):
        number, topic, left, right = rows[r]
        assert (number, topic, left) == (str(r + 1), _visible(NASTY[key]), _visible(NASTY[key]))
        if r == 0:
            assert right == "cancelled: Cancelled by user; partial text kept.\npart `"
        else:
            partial = NASTY[key][:5]
            expected = f"failed: m2 timed out | {key}" + ("\n" + partial if partial else "")
            assert right == _visible(expected)
    assert metrics[0] == [
        "#",
        "input",
        "model",
        "status",
        "latency s",
        "ttft s",
        "tokens",
        "tokens/s",
        "retries",
        "input tokens",
        "cost",
    ]
    assert len(metrics) == 1 + 2 * len(KEYS)
    assert metrics[1][1:4] == [_visible(NASTY[KEYS[0]]), "left | right", "done"]
    assert metrics[1][4] == f"{nasty_run.cells[0].metrics.latency:.2f}"  # type: ignore[union-attr]


def test_markdown_heading_and_template_survive_back_ticks(nasty_run: StoredRun) -> None:
    md = to_markdown(nasty_run)
    tokens = MarkdownIt("commonmark").enable("table").parse(md)
    heading = next(t for i, t in enumerate(tokens) if i and tokens[i - 1].type == "heading_open")
    assert heading.content == "Fanout Studio run 20261201-120000-nasty"
    fences = [t for t in tokens if t.type == "fence"]
    assert fences[0].content == "Q `{topic}` | {topic}\n"
    assert "**Strategy:** stream" in md and "**Label:** nasty" in md


def test_markdown_of_an_interrupted_run_marks_missing_cells(tmp_path: Path) -> None:
    with History.open(tmp_path / "h.sqlite3") as h:
        feed_run(
            h.recorder(), spec(), run_id="cut", finish=False, outcomes={"r0m0": ("done", "hi")}
        )
    with History.open(tmp_path / "h.sqlite3") as h:
        run = h.get_run("cut")
    assert run is not None and run.status == "interrupted"
    (answers, _metrics) = _tables(to_markdown(run))[-2:]
    assert answers[1][2:] == ["hi", "(no result recorded)"]
    assert answers[2][2:] == ["(no result recorded)", "(no result recorded)"]


def test_markdown_marks_an_answer_cut_at_max_tokens_or_filtered_as_csv_and_json_do(
    tmp_path: Path,
) -> None:
    with History.open(tmp_path / "h.sqlite3") as h:
        feed_run(h.recorder(), spec(topics=["cats", "dogs", "owls"], models=["m"]), run_id="marks")
        assert h.flush()
        run = h.get_run("marks")
    assert run is not None
    reasons = ["length", "content_filter", "stop"]
    cells = tuple(
        replace(c, metrics=replace(c.metrics, finish_reason=reason))
        for c, reason in zip(run.cells, reasons, strict=True)
    )
    run = replace(run, cells=cells)

    answers, metrics = _tables(to_markdown(run))[-2:]
    assert [row[2] for row in answers[1:]] == [
        "answer r0m0\n(cut at max tokens)",
        "answer r1m0\n(stopped by the content filter)",
        "answer r2m0",  # a normal end carries no mark
    ]
    assert [row[3] for row in metrics[1:]] == [
        "done (cut at max tokens)",
        "done (stopped by the content filter)",
        "done",
    ]
    # The same facts the other formats carry.
    assert [c["metrics"]["finish_reason"] for c in json.loads(to_json(run))["cells"]] == reasons
    assert [r["finish_reason"] for r in csv.DictReader(io.StringIO(to_csv(run)))] == reasons


def test_markdown_gives_a_finish_mark_and_a_notice_each_their_line(tmp_path: Path) -> None:
    with History.open(tmp_path / "h.sqlite3") as h:
        feed_run(h.recorder(), spec(topics=["cats"], models=["m"]), run_id="both")
        assert h.flush()
        run = h.get_run("both")
    assert run is not None
    cell = run.cells[0]
    assert cell.metrics is not None
    cell = replace(cell, metrics=replace(cell.metrics, finish_reason="length"), notice="replaced")
    answers, _metrics = _tables(to_markdown(replace(run, cells=(cell,))))[-2:]
    assert answers[1][2] == "answer r0m0\n(cut at max tokens)\n(replaced)"


# ------------------------------------------------------------------ entry points


def test_export_dispatches_and_names_files(nasty_run: StoredRun) -> None:
    assert export(nasty_run, "json") == to_json(nasty_run)
    assert export(nasty_run, "CSV") == to_csv(nasty_run)
    assert export(nasty_run, "markdown") == to_markdown(nasty_run)
    with pytest.raises(ValueError, match="unknown export format"):
        export(nasty_run, "pdf")
    assert default_filename(nasty_run, "md") == "fanout-20261201-120000-nasty-q-topic-topic.md"
    assert default_filename(nasty_run, "csv").endswith(".csv")
