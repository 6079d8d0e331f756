"""`fanout-studio diff` and `show --agreement`: where two recorded answers differ, where a row agrees."""

from __future__ import annotations

from pathlib import Path

import pytest

from gui.cli import main
from gui.cli_differences import ANSI
from gui.storage.history import History
from tests.storage.fake_runs import feed_run, spec

RUN_ID = "20261202-120000-differences"
PARIS = (
    "The capital of France is Paris. Paris has about two million inhabitants. I love croissants.",
    "Paris is the capital of France. About two million people live in Paris.\n\n"
    "The Louvre is the largest art museum.",
    "France's capital is Paris. The Louvre is the world's largest art museum.",
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A history with one run: 2 rows x 3 models, answers written for the test."""
    monkeypatch.setenv("FANOUT_HOME", str(tmp_path))
    outcomes = {f"r0m{col}": ("done", text) for col, text in enumerate(PARIS)}
    outcomes["r1m0"] = ("done", "The cat sat on the mat.")
    outcomes["r1m1"] = ("done", "The dog sat on a mat!")
    outcomes["r1m2"] = ("failed", "timeout", "no first token in 120 s", "The cat")
    with History.open(tmp_path / "history.sqlite3") as history:
        run_spec = spec(topics=["France", "pets"], models=["sim-a", "sim-b", "sim-c"])
        feed_run(history.recorder(), run_spec, run_id=RUN_ID, outcomes=outcomes)
        feed_run(
            history.recorder(),
            run_spec,
            run_id="20261202-130000-cut",
            finish=False,
            outcomes={"r0m0": ("done", "only this one")},
        )
        assert history.flush()
    return tmp_path


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_diff_prints_a_word_diff_with_the_similarity(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "diff", RUN_ID[:15], "r1m0", "r1m1")
    assert code == 0 and err == ""
    assert out.splitlines() == [
        "--- r1m0 · pets × sim-a",
        "+++ r1m1 · pets × sim-b",
        "similarity 57 % · 3 changes",
        "",
        "The [-cat-]{+dog+} sat on [-the-]{+a+} mat[-.-]{+!+}",
    ]
    # Not a terminal: no escape sequence at all.
    assert "\x1b" not in out


def test_diff_colours_on_request_and_diffs_a_failed_cells_partial_text(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "diff", RUN_ID, "r1m2", "r1m0", "--color", "always")
    assert code == 0
    assert "similarity 44 % · 1 change\n" in out
    assert f"\nThe cat {ANSI['insert']}sat on the mat.{ANSI['reset']}\n" in out
    assert "[-" not in out and "{+" not in out


def test_show_prints_the_cell_ids_diff_takes(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "show", RUN_ID)
    assert code == 0
    heads = [line for line in out.splitlines() if line.startswith("── ")]
    assert heads[1].startswith("── France × sim-b · done") and heads[1].endswith(" · cell r0m1")


def test_show_agreement_tags_each_sentence_of_the_row(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "show", RUN_ID, "--agreement", "1")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[1] == "legend: all 3 · some 4 · unique 1"
    assert lines[2:] == [
        "",
        "── France × sim-a · r0m0 · all 1 · some 1 · unique 1",
        "[all]    The capital of France is Paris.",
        "[some]   Paris has about two million inhabitants.",
        "[unique] I love croissants.",
        "",
        "── France × sim-b · r0m1 · all 1 · some 2 · unique 0",
        "[all]    Paris is the capital of France.",
        "[some]   About two million people live in Paris.",
        "[some]   The Louvre is the largest art museum.",
        "",
        "── France × sim-c · r0m2 · all 1 · some 1 · unique 0",
        "[all]    France's capital is Paris.",
        "[some]   The Louvre is the world's largest art museum.",
    ]
    # A stricter threshold: the paraphrase no longer counts.
    code, out, _ = cli(capsys, "show", RUN_ID, "--agreement", "1", "--threshold", "90")
    assert code == 0 and "[unique] France's capital is Paris." in out


def test_agreement_of_a_row_with_an_unrecorded_answer(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "show", "20261202-130000-cut", "--agreement", "1")
    assert code == 0
    assert "[unique] only this one" in out and out.count("(no answer recorded)") == 2


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["diff", "no-such-run", "r0m0", "r0m1"], "no run 'no-such-run' in the history"),
        (["diff", RUN_ID, "cats", "r0m1"], "'cats' is not a cell id: give r<row>m<column>"),
        (["diff", RUN_ID, "r0m0", "r2m0"], "no cell r2m0 in run"),
        (["diff", RUN_ID, "r0m0", "r0m3"], "its cells are r0m0 to r1m2"),
        (["diff", "20261202-130000-cut", "r0m0", "r0m1"], "cell r0m1 of run"),
        (["show", RUN_ID, "--agreement", "3"], "has rows 1 to 2; give --agreement one of them"),
        (["show", "no-such-run", "--agreement", "1"], "no run 'no-such-run'"),
        (["show", RUN_ID, "--agreement", "0"], "must be at least 1"),
        (["show", RUN_ID, "--agreement", "1", "--threshold", "150"], "must be at most 100"),
        (["diff", RUN_ID, "r0m0"], "the following arguments are required: CELL_B"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    home: Path, capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == ""
    assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
