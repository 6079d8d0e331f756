"""User stories of the prompt editor and the inputs table, wired the way the window wires them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtGui import QGuiApplication, QTextCharFormat
from PySide6.QtWidgets import QFileDialog, QPlainTextEdit, QToolButton
from pytestqt.qtbot import QtBot

from gui.qt.views.inputs_table import NO_VARIABLES_NOTE, InputsTable
from gui.qt.views.prompt_editor import DEBOUNCE_MS, PromptEditor

from .conftest import SESSION_LOOP

WAVE = QTextCharFormat.UnderlineStyle.WaveUnderline


@pytest.fixture
def prompt(qtbot: QtBot) -> PromptEditor:
    editor = PromptEditor()
    qtbot.addWidget(editor)
    editor.show()
    return editor


@pytest.fixture
def table(qtbot: QtBot) -> InputsTable:
    widget = InputsTable()
    qtbot.addWidget(widget)
    widget.resize(500, 400)
    widget.show()
    return widget


@pytest.fixture
def wired(prompt: PromptEditor, table: InputsTable) -> tuple[PromptEditor, InputsTable]:
    """Editor and table connected as in the main window."""
    prompt.variables_changed.connect(table.set_variables)
    table.columns_changed.connect(prompt.set_columns)
    prompt.set_columns(table.columns())
    return prompt, table


def underlined(prompt: PromptEditor, block: int = 0) -> list[tuple[int, int]]:
    """(start, length) of the wavy-underlined ranges of a paragraph, in UTF-16 units."""
    layout = prompt.editor.document().findBlockByNumber(block).layout()
    return [(r.start, r.length) for r in layout.formats() if r.format.underlineStyle() == WAVE]


# -- prompt editor ---------------------------------------------------------------------------


def test_typing_a_topic_template_gives_one_variable_and_one_column(
    qtbot: QtBot, wired: tuple[PromptEditor, InputsTable]
) -> None:
    prompt, table = wired
    assert table.note_label.isVisible() and not table.view.isEnabled()
    # Nothing to fill: the empty table and the row-making buttons give the note their room.
    add_row = table.findChild(QToolButton, "addRowButton")
    assert not table.view.isVisible() and not add_row.isVisible()
    assert table.findChild(QToolButton, "importButton").isVisible()

    with qtbot.waitSignal(prompt.variables_changed, timeout=30_000) as changed:
        qtbot.keyClicks(prompt.editor, "Tell me a joke about {topic}")

    assert changed.args == [["topic"]]
    assert prompt.variables() == ["topic"]
    assert table.columns() == ["topic"]
    assert table.view.model().columnCount() == 1
    assert table.view.model().headerData(0, Qt.Orientation.Horizontal) == "{topic}"
    assert table.view.isEnabled() and not table.note_label.isVisible()
    assert table.view.isVisible() and add_row.isVisible()
    assert prompt.blocking_issue() is None
    assert not prompt.issue_label.isVisible()
    assert prompt.findChild(QPlainTextEdit) is prompt.editor  # not the hidden system editor


def test_typing_is_parsed_once_after_a_pause(qtbot: QtBot, prompt: PromptEditor) -> None:
    parsed: list[str] = []
    prompt.template_changed.connect(lambda: parsed.append(prompt.template()))

    with qtbot.waitSignal(prompt.template_changed, timeout=30_000):
        qtbot.keyClicks(prompt.editor, "Write about {subject} in {style}")
    qtbot.wait(DEBOUNCE_MS * 2)

    assert parsed == ["Write about {subject} in {style}"]
    assert prompt.variables() == ["subject", "style"]


def test_unknown_variable_is_flagged_inline_and_blocks(qtbot: QtBot, prompt: PromptEditor) -> None:
    prompt.set_columns(["topic"])
    prompt.set_template("Write a {tone} joke about {topic}")

    issue = prompt.blocking_issue()
    assert issue == "Unknown variable {tone}: add a column 'tone' to the inputs"
    assert prompt.issue_label.isVisible() and prompt.issue_label.text() == issue
    assert prompt.issue_label.objectName() == "inlineIssue"
    assert underlined(prompt) == [(8, len("{tone}"))]

    prompt.set_columns(["topic", "tone"])
    assert prompt.blocking_issue() is None
    assert not prompt.issue_label.isVisible()
    assert underlined(prompt) == []


def test_unused_column_is_a_grey_warning_that_does_not_block(prompt: PromptEditor) -> None:
    prompt.set_template("Tell me about {topic}")
    prompt.set_columns(["topic", "notes"])

    assert prompt.blocking_issue() is None
    assert prompt.issue_label.isVisible()
    assert prompt.issue_label.text() == "Column 'notes' is not used by the template"
    assert prompt.issue_label.severity() == "warning"


def test_unbalanced_brace_is_flagged_and_keeps_the_last_good_variables(
    prompt: PromptEditor,
) -> None:
    prompt.set_template("Tell me about {topic}")
    prompt.set_template("Tell me about {topic} in {sty")

    issue = prompt.blocking_issue()
    assert issue is not None and issue.startswith("Unbalanced braces")
    assert prompt.issue_label.isVisible() and prompt.issue_label.severity() == "error"
    # The table keeps its columns while a brace is half typed.
    assert prompt.variables() == ["topic"]
    assert underlined(prompt) == [(len("Tell me about {topic} in "), 1)]

    prompt.set_template("A lone } brace")
    assert "Unbalanced braces" in (prompt.blocking_issue() or "")
    prompt.set_template("Empty {} field")
    assert (prompt.blocking_issue() or "").startswith("Empty {}")


def test_escaped_braces_are_not_variables(prompt: PromptEditor) -> None:
    prompt.set_columns(["topic"])
    prompt.set_template('Answer as JSON like {{"joke": "..."}} about {topic}')

    assert prompt.variables() == ["topic"]
    assert prompt.blocking_issue() is None
    assert underlined(prompt) == []


def test_empty_template_blocks_without_shouting(prompt: PromptEditor) -> None:
    assert prompt.template() == ""
    assert (prompt.blocking_issue() or "").startswith("The template is empty")
    assert not prompt.issue_label.isVisible()
    assert prompt.editor.placeholderText().startswith("Tell me a joke about {topic}")


def test_ctrl_enter_requests_a_run_with_what_was_just_typed(
    qtbot: QtBot, prompt: PromptEditor
) -> None:
    prompt.set_columns(["topic"])
    qtbot.keyClicks(prompt.editor, "Joke about {topic} and {tone}")

    with qtbot.waitSignal(prompt.run_requested, timeout=30_000):
        qtbot.keyClick(prompt.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    # No debounce wait: the run sees the text on screen.
    assert "{tone}" in (prompt.blocking_issue() or "")
    assert "\n" not in prompt.template()

    with qtbot.waitSignal(prompt.run_requested, timeout=30_000):
        qtbot.keyClick(
            prompt.editor,
            Qt.Key.Key_Enter,
            Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.KeypadModifier,
        )


def test_pushed_issue_shows_until_the_template_is_edited(prompt: PromptEditor) -> None:
    prompt.set_template("Tell me about {topic}")
    prompt.show_issue("No model selected. Add at least one model.")
    assert prompt.issue_label.text() == "No model selected. Add at least one model."

    prompt.set_template("Tell me more about {topic}")
    assert not prompt.issue_label.isVisible()


def test_system_message_is_optional_and_collapsible(qtbot: QtBot, prompt: PromptEditor) -> None:
    assert prompt.system() is None
    assert not prompt.system_editor.isVisible()

    prompt.set_system("  You are terse.  ")
    assert prompt.system() == "You are terse."
    assert prompt.system_editor.isVisible()

    with qtbot.waitSignal(prompt.run_requested, timeout=30_000):
        qtbot.keyClick(prompt.system_editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)


# -- inputs table ----------------------------------------------------------------------------


def test_paste_three_lines_makes_three_rows(table: InputsTable) -> None:
    table.set_variables(["topic"])

    added = table.paste_text("cats\n\n  dogs  \r\nfrogs\n")

    assert added == 3
    assert table.rows() == [{"topic": "cats"}, {"topic": "dogs"}, {"topic": "frogs"}]
    assert table.count_label.text() == "3 inputs"


def test_ctrl_v_pastes_lines_as_rows_and_a_single_line_into_the_cell(
    qtbot: QtBot, table: InputsTable
) -> None:
    table.set_variables(["topic", "tone"])
    clipboard = QGuiApplication.clipboard()

    clipboard.setText("cats\tdry\ndogs\tsilly\n")
    table.view.setFocus()
    qtbot.keyClick(table.view, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert table.rows() == [{"topic": "cats", "tone": "dry"}, {"topic": "dogs", "tone": "silly"}]

    clipboard.setText("deadpan")
    table.view.setCurrentIndex(table.view.model().index(1, 1))
    qtbot.keyClick(table.view, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert table.rows()[1] == {"topic": "dogs", "tone": "deadpan"}


def test_pasting_a_spreadsheet_with_a_header_maps_columns_by_name(table: InputsTable) -> None:
    table.set_variables(["topic", "tone"])

    table.paste_text("tone\ttopic\ndry\tcats\nsilly\tdogs")

    assert table.rows() == [{"topic": "cats", "tone": "dry"}, {"topic": "dogs", "tone": "silly"}]


def test_paste_ten_thousand_lines_stays_quick(
    table: InputsTable, capsys: pytest.CaptureFixture[str]
) -> None:
    table.set_variables(["topic"])
    text = "\n".join(f"topic number {i}" for i in range(10_000))

    start = time.perf_counter()
    table.paste_text(text)
    QGuiApplication.processEvents()
    pasted = time.perf_counter() - start
    start = time.perf_counter()
    rows = table.rows()
    read = time.perf_counter() - start

    assert len(rows) == 10_000 and rows[-1] == {"topic": "topic number 9999"}
    assert table.view.model().rowCount() == 10_000
    assert table.count_label.text() == "10000 inputs"
    with capsys.disabled():
        print(
            f"\n[measured] paste 10,000 lines: {pasted * 1000:.1f} ms, rows(): {read * 1000:.1f} ms"
        )


def test_import_csv_and_jsonl_fill_the_columns(tmp_path: Path, table: InputsTable) -> None:
    table.set_variables(["topic", "tone"])
    csv_file = tmp_path / "inputs.csv"
    csv_file.write_text("topic,tone\ncats,dry\ndogs,silly\n", encoding="utf-8")
    jsonl_file = tmp_path / "more.jsonl"
    jsonl_file.write_text(
        json.dumps({"topic": "frogs", "tone": "wry"}) + "\n" + json.dumps({"topic": "owls"}) + "\n",
        encoding="utf-8",
    )

    assert table.import_file(csv_file) is None  # small file: read at once
    assert table.rows() == [{"topic": "cats", "tone": "dry"}, {"topic": "dogs", "tone": "silly"}]

    table.import_file(str(jsonl_file))
    assert table.rows()[2:] == [{"topic": "frogs", "tone": "wry"}, {"topic": "owls", "tone": ""}]
    assert table.count_label.text() == "4 inputs (1 with empty cells)"


def test_imported_columns_the_template_does_not_use_are_kept_and_flagged(
    tmp_path: Path, wired: tuple[PromptEditor, InputsTable]
) -> None:
    prompt, table = wired
    prompt.set_template("Tell me about {topic}")
    path = tmp_path / "inputs.csv"
    path.write_text("topic,notes\ncats,fluffy\n", encoding="utf-8")

    table.import_file(path)

    assert table.columns() == ["topic", "notes"]
    assert table.rows() == [{"topic": "cats"}]
    assert table.rows(include_unused=True) == [{"topic": "cats", "notes": "fluffy"}]
    assert table.view.model().headerData(1, Qt.Orientation.Horizontal) == "notes (unused)"
    assert "'notes' is not in the template" in (table.issue_label.message() or "")
    assert prompt.issue_label.text() == "Column 'notes' is not used by the template"

    # Using it in the template makes it a variable column; the "Remove it" link drops it.
    prompt.set_template("Tell me about {topic}, {notes}")
    assert table.rows() == [{"topic": "cats", "notes": "fluffy"}]
    prompt.set_template("Tell me about {topic}")
    table.issue_label.linkActivated.emit("action")
    assert table.columns() == ["topic"] and not table.issue_label.isVisible()
    assert prompt.blocking_issue() is None and not prompt.issue_label.isVisible()


def test_binary_file_is_refused_inline_and_rows_are_unchanged(
    tmp_path: Path, table: InputsTable
) -> None:
    table.set_variables(["topic"])
    table.set_rows([{"topic": "cats"}])
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))

    table.import_file(path)

    assert table.rows() == [{"topic": "cats"}]
    assert table.issue_label.isVisible() and table.issue_label.severity() == "error"
    assert table.issue_label.text() == "photo.csv is a binary file, not CSV or JSON Lines."

    table.paste_text("dogs")  # the next action clears the message
    assert not table.issue_label.isVisible()


@SESSION_LOOP
async def test_big_file_is_read_off_the_gui_thread(
    tmp_path: Path, table: InputsTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(table, "SYNC_IMPORT_LIMIT", 1)
    table.set_variables(["topic"])
    path = tmp_path / "big.csv"
    path.write_text("topic\n" + "\n".join(f"t{i}" for i in range(5000)), encoding="utf-8")

    task = table.import_file(path)
    assert task is not None
    assert table.count_label.text() == "Importing big.csv…"
    await task

    assert len(table.rows()) == 5000
    assert table.count_label.text() == "5000 inputs"
    assert table.findChild(QToolButton, "importButton").isEnabled()


def test_import_button_opens_a_dialog_without_a_nested_loop(
    qtbot: QtBot, tmp_path: Path, table: InputsTable
) -> None:
    table.set_variables(["topic"])
    path = tmp_path / "inputs.jsonl"
    path.write_text('{"topic": "cats"}\n', encoding="utf-8")

    qtbot.mouseClick(table.findChild(QToolButton, "importButton"), Qt.MouseButton.LeftButton)
    dialog = table.findChild(QFileDialog)
    assert dialog is not None and dialog.isVisible()  # click returned: open(), not exec()

    dialog.fileSelected.emit(str(path))
    dialog.reject()
    assert table.rows() == [{"topic": "cats"}]


def test_remove_selected_rows(qtbot: QtBot, table: InputsTable) -> None:
    table.set_variables(["topic"])
    table.set_rows([{"topic": t} for t in ("a", "b", "c", "d", "e")])
    model = table.view.model()
    selection = table.view.selectionModel()
    for row in (1, 3):
        selection.select(
            model.index(row, 0),
            QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
        )

    with qtbot.waitSignal(table.rows_changed, timeout=30_000):
        qtbot.mouseClick(
            table.findChild(QToolButton, "removeRowsButton"), Qt.MouseButton.LeftButton
        )

    assert [r["topic"] for r in table.rows()] == ["a", "c", "e"]


def test_template_without_variables_disables_the_table(
    wired: tuple[PromptEditor, InputsTable],
) -> None:
    prompt, table = wired
    prompt.set_template("Tell me about {topic}")
    table.paste_text("cats")

    prompt.set_template("Tell me a joke")

    assert prompt.variables() == []
    assert not table.view.isEnabled()
    assert table.note_label.isVisible() and table.note_label.text() == NO_VARIABLES_NOTE
    assert table.rows() == []
    # The typed data waits as an unused column for the variable to come back.
    prompt.set_template("Tell me about {topic}")
    assert table.rows() == [{"topic": "cats"}]


def test_renaming_the_only_variable_keeps_the_data(wired: tuple[PromptEditor, InputsTable]) -> None:
    prompt, table = wired
    prompt.set_template("Tell me about {topic}")
    table.paste_text("cats\ndogs")

    prompt.set_template("Tell me about {subject}")

    assert table.columns() == ["subject"]
    assert table.rows() == [{"subject": "cats"}, {"subject": "dogs"}]


def test_emoji_and_rtl_text_survive_the_round_trip(
    wired: tuple[PromptEditor, InputsTable],
) -> None:
    prompt, table = wired
    template = "🐈‍⬛ اكتب نكتة عن {topic} — שלום {tone}"
    prompt.set_template(template)
    rows = [
        {"topic": "🐈‍⬛ cats", "tone": "مضحك"},
        {"topic": "👩🏽‍💻 code", "tone": "יבש"},
        {"topic": "naïve café", "tone": "🙂"},
    ]

    table.set_rows(rows)

    assert prompt.template() == template
    assert prompt.variables() == ["topic", "tone"]
    assert table.rows() == rows
    table.paste_text("🦜 parrots\tساخر")
    assert table.rows()[-1] == {"topic": "🦜 parrots", "tone": "ساخر"}
    # Highlights are placed in UTF-16 units, after the astral emoji, not one character early.
    prompt.set_columns(["tone"])
    start = len(template[: template.index("{topic}")].encode("utf-16-le")) // 2
    assert underlined(prompt) == [(start, len("{topic}"))]


def test_rows_read_once_until_the_table_changes_and_never_stale(table: InputsTable) -> None:
    """Run and the cost estimate read the rows the paste's check already read (10,000 rows,
    milliseconds each time): the same rows until an edit, a paste, a removal, Clear, Undo or
    new variables, each of which the next read sees; the spec made of them equals the one
    made of a fresh copy."""
    from gui.core.spec import ModelProfile, make_spec

    table.set_variables(["topic"])
    table.paste_text("\n".join(f" topic {i} " for i in range(10_000)))
    read = table.spec_rows()
    assert table.spec_rows() is read  # kept: nothing changed
    assert list(read) == table.rows() == [{"topic": f"topic {i}"} for i in range(10_000)]
    models = [ModelProfile()]
    assert make_spec("About {topic}", read, models) == make_spec(
        "About {topic}", table.rows(), models
    )

    def now() -> list[str]:
        return [row["topic"] for row in table.spec_rows()]

    model = table.view.model()
    model.setData(model.index(3, 0), "  edited  ")  # an edit in the view
    assert now()[3] == "edited"
    table.paste_text("one more")
    assert now()[-1] == "one more" and len(now()) == 10_001
    table.view.selectRow(0)
    assert table.remove_selected_rows() == 1
    assert now()[0] == "topic 1" and len(now()) == 10_000
    table.set_variables(["topic", "tone"])
    assert table.spec_rows()[0] == {"topic": "topic 1", "tone": ""}
    table.clear()
    assert table.spec_rows() == ()
    assert table.undo_clear()
    assert len(table.spec_rows()) == 10_000
    table.set_rows([{"topic": "cats"}])
    assert now() == ["cats"]
