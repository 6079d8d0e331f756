"""Bad input in the window: an inline message where the problem is, Run refuses with the reason,
nothing typed or pasted is lost, no exception anywhere, the loop stays responsive.

Every test drives the real window on the app's qasync loop (see conftest) and asserts the
exact words the user reads. Nothing here asserts milliseconds: how fast typing, pasting and run
start are is measured by ``fanout-studio bench`` (scenario ``input``) against a bare widget in
the same run. Tests assert what makes them fast: parses wait for a pause, panes stay lazy, one
call gives every row its first status.
"""

from __future__ import annotations

import asyncio
import logging
import random
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLabel, QSpinBox, QWidget
from pytestqt.qtbot import QtBot

from gui.core.inputs import MAX_INPUT_BYTES
from gui.core.spec import CellId, Limits, ModelProfile, ProviderKind, SimSettings
from gui.qt.main_window import MainWindow
from gui.qt.views.concurrency_panel import ConcurrencyPanel
from gui.qt.views.models_panel import ModelCard
from gui.qt.views.prompt_editor import PromptEditor
from gui.qt.widgets.results_grid import ResultsGrid
from tests.support.openai_server import FakeOpenAIServer

from .conftest import SESSION_LOOP, signal_future, until

pytestmark = SESSION_LOOP


def fast(label: str = "sim", ttft: float = 0.02) -> ModelProfile:
    return ModelProfile(
        model="sim-1",
        label=label,
        sim=SimSettings(ttft=ttft, tokens_per_second=0, output_tokens=6, jitter=0, seed=3),
    )


@pytest_asyncio.fixture(loop_scope="session")
async def window(qtbot: QtBot, caplog: pytest.LogCaptureFixture) -> Any:
    """The window; at the end, no exception reached the loop and nothing was logged as an error."""
    loop = asyncio.get_running_loop()
    problems: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: problems.append(context))
    caplog.set_level(logging.ERROR)
    win = MainWindow()
    win.results.set_layout("grid")  # these tests read the Grid's panes
    win.resize(1360, 860)
    win.show()
    qtbot.waitExposed(win)
    win.models.set_profiles([fast()])
    try:
        yield win
        await win.shutdown()
    finally:
        win.close()
        win.deleteLater()
        loop.set_exception_handler(previous)
    assert problems == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def only_card(win: MainWindow) -> ModelCard:
    """The one model card (cards removed by ``set_profiles`` are deleted first)."""
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    (card,) = win.models.findChildren(ModelCard, "modelCard")
    return card


def press_ctrl_enter(qtbot: QtBot, win: MainWindow) -> None:
    qtbot.keyClick(win.prompt.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)


def assert_refused(win: MainWindow, message: str) -> None:
    """Run was refused with ``message`` inline under the prompt and in the status bar."""
    assert not win.running and win.current_run is None
    assert win.prompt.issue_label.isVisible()
    assert win.prompt.issue_label.message() == message
    assert win.prompt.issue_label.severity() == "error"
    assert win.statusBar().currentMessage() == f"Cannot run: {message}"


async def run_to_the_end(qtbot: QtBot, win: MainWindow, timeout: float = 60.0) -> Any:
    finished = signal_future(win.run_finished)
    press_ctrl_enter(qtbot, win)
    assert win.running, win.statusBar().currentMessage()
    (summary,) = await asyncio.wait_for(finished, timeout)
    return summary


# ------------------------------------------------------------------------------ templates


async def test_typo_in_a_variable_next_to_an_imported_column_suggests_it(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    window.prompt.set_template("Tell me a joke about {topc}")
    path = tmp_path / "rows.csv"
    path.write_text("topic\ncats\ndogs\n", encoding="utf-8")
    window.inputs.import_file(path)

    assert window.inputs.issue_label.message() == (
        "rows.csv has no column 'topc' (its columns: topic). Did you mean {topic}? "
        "Rename the variable in the template.\n"
        "Column 'topic' is not in the template, so it is not used."
    )
    assert window.prompt.issue_label.message() == (
        "Column 'topic' is not used by the template (did you mean {topic} instead of {topc}?)"
    )
    press_ctrl_enter(qtbot, window)
    assert_refused(
        window,
        "Column 'topc' is empty in every row, but 'topic' has values: did you mean {topic}? "
        "Rename the variable in the template.",
    )

    # The fix the message names: the data was kept, and the run goes.
    window.prompt.set_template("Tell me a joke about {topic}")
    assert window.inputs.rows() == [{"topic": "cats"}, {"topic": "dogs"}]
    summary = await run_to_the_end(qtbot, window)
    assert summary.done == 2


async def test_unknown_variable_against_known_columns_names_the_close_one() -> None:
    editor = PromptEditor()
    editor.set_columns(["topic"])
    editor.set_template("Tell me a joke about {topc}")
    assert editor.blocking_issue() == (
        "Unknown variable {topc}: did you mean {topic}? (or add a column 'topc' to the inputs)"
    )
    assert editor.issue_label.message() == editor.blocking_issue()
    editor.deleteLater()


async def test_an_unused_column_warns_and_does_not_block(qtbot: QtBot, window: MainWindow) -> None:
    window.prompt.set_template("Tell me about {topic}")
    window.inputs.set_rows([{"topic": "cats", "notes": "fluffy"}])

    assert window.prompt.issue_label.message() == "Column 'notes' is not used by the template"
    assert window.prompt.issue_label.severity() == "warning"
    summary = await run_to_the_end(qtbot, window)
    assert summary.done == 1
    assert window.inputs.rows(include_unused=True) == [{"topic": "cats", "notes": "fluffy"}]


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        (
            "Tell me about {topic",
            "Unbalanced braces: the '{' at column 15 ('{topic') is never closed. "
            "Write {topic}, or write {{ for a literal brace.",
        ),
        (
            "Tell me about topic}",
            "Unbalanced braces: the '}' at column 20 ('Tell me about topic}') has no opening "
            "'{'. Write {topic}, or write }} for a literal brace.",
        ),
        (
            'Answer as {"joke": "..."} about {topic}',
            '{"joke": "..."} is not a {variable}. To send braces as text, double them: '
            '{{"joke": "..."}}.',
        ),
    ],
)
async def test_malformed_templates_are_shown_inline_and_refused(
    qtbot: QtBot, window: MainWindow, typed: str, message: str
) -> None:
    window.prompt.set_template("Tell me about {topic}")
    window.inputs.paste_text("cats\ndogs")
    window.prompt.set_template("")
    qtbot.keyClicks(window.prompt.editor, typed)

    # Inline as soon as the (debounced) parse has run, before any Run is pressed.
    await until(lambda: window.prompt.issue_label.message() == message)
    assert window.prompt.issue_label.severity() == "error"
    press_ctrl_enter(qtbot, window)
    assert_refused(window, message)
    # Nothing typed is lost: the text as typed, the rows as pasted (columns kept meanwhile).
    assert window.prompt.template() == typed
    assert window.inputs.rows(include_unused=True)[:2] == [{"topic": "cats"}, {"topic": "dogs"}]


@pytest.mark.parametrize("blank", [False, True])
async def test_an_empty_template_is_refused_on_run(
    qtbot: QtBot, window: MainWindow, blank: bool
) -> None:
    window.prompt.set_template("")
    if blank:  # spaces, a newline, a tab, spaces: nothing to send
        editor = window.prompt.editor
        qtbot.keyClicks(editor, "   ")
        qtbot.keyClick(editor, Qt.Key.Key_Return)
        qtbot.keyClick(editor, Qt.Key.Key_Tab)
        qtbot.keyClicks(editor, "  ")
    await asyncio.sleep(0.2)
    typed = window.prompt.template()
    assert typed == ("   \n\t  " if blank else "")
    assert not window.prompt.issue_label.isVisible()  # the placeholder says what to do
    window.run_button.click()
    assert_refused(
        window, "The template is empty. Type a prompt, e.g. 'Tell me a joke about {topic}'."
    )
    assert window.prompt.template() == typed


async def type_like_a_person(qtbot: QtBot, editor: QWidget, text: str) -> None:
    """Type ``text`` a key at a time, letting the loop paint and run its timers between keys."""
    for char in text:
        qtbot.keyClick(editor, char)
        await asyncio.sleep(0.02)


def cursor_to_end(editor: Any) -> None:
    cursor = editor.textCursor()
    cursor.movePosition(cursor.MoveOperation.End)
    editor.setTextCursor(cursor)


async def test_typing_into_a_100_kb_template_parses_once_after_a_pause_and_it_runs(
    qtbot: QtBot, window: MainWindow
) -> None:
    paragraph = "Background the model should read before answering, with {{braces}} kept. " * 14
    template = "\n".join([paragraph] * 100) + "\nNow tell me about {topic}"
    assert len(template) > 100_000
    window.prompt.set_template(template)
    window.inputs.paste_text("cats")
    parses: list[int] = []
    window.prompt.template_changed.connect(lambda: parses.append(1))
    editor = window.prompt.editor
    cursor_to_end(editor)

    typed = " and {topic} again"
    # The parse waits for a pause in typing. The keys here come 20 ms apart; the pause is
    # longer (a debounce timer restarted by every key), so nothing is parsed while typing...
    window.prompt._debounce.setInterval(60_000)  # ...even if this machine is very slow
    await type_like_a_person(qtbot, editor, typed)
    assert parses == []
    window.prompt._debounce.setInterval(1)
    await until(lambda: parses == [1])  # then once
    assert window.prompt.template() == template + typed

    # The worst case: the whole 100 KB as one paragraph, which Qt relayouts on every key.
    window.prompt.set_template(paragraph * 100 + " {topic}")
    cursor_to_end(editor)
    await type_like_a_person(qtbot, editor, " more")
    assert window.prompt.template() == paragraph * 100 + " {topic} more"

    window.prompt.set_template(template + typed)
    summary = await run_to_the_end(qtbot, window)
    assert summary.done == 1
    assert window.current_run is not None
    assert window.current_run.spec.template == template + typed


# ------------------------------------------------------------------------------ inputs


async def test_ten_thousand_pasted_lines_keep_the_grid_lazy(
    qtbot: QtBot, window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    await window.warm_up()  # what the app does after its first paint (engine import, ...)
    window.prompt.set_template("Tell me about {topic}")
    window.models.set_profiles([fast("a", ttft=0.2), fast("b", ttft=0.2)])
    window.limits.set_limits(Limits(max_concurrency=8))
    calls: list[str] = []

    def counted(name: str) -> None:
        original = getattr(window.results.store, name)

        def wrapper(*args: Any) -> Any:
            calls.append(name)
            return original(*args)

        monkeypatch.setattr(window.results.store, name, wrapper)

    counted("set_shape")
    counted("set_run_shape")
    counted("set_status")
    counted("set_all_status")
    QGuiApplication.clipboard().setText("\n".join(f"topic number {i}" for i in range(10_000)))
    window.inputs.view.setFocus()
    qtbot.keyClick(window.inputs.view, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)

    store = window.results.store
    paints: list[tuple[int, tuple[str, str]]] = []  # the results' shape and status at a paint

    class PaintSpy(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if (
                event.type() == QEvent.Type.Paint
                and isinstance(watched, QWidget)
                and window.results.isAncestorOf(watched)
            ):
                paints.append((store.row_count(), store.default_status()))
            return False

    spy = PaintSpy()
    app = QCoreApplication.instance()
    assert app is not None
    app.installEventFilter(spy)
    finished = signal_future(window.run_finished)
    press_ctrl_enter(qtbot, window)
    run = window.current_run
    assert run is not None and len(run.cells) == 20_000
    assert window.running and window.session.counts.waiting == 20_000
    # The press returned to the loop before the grid was laid out for 20,000 cells: the
    # layout is a step of its own (and before anything of the run is drawn).
    assert store.row_count() == 0 and not window.timeline.cell_ids()
    await until(lambda: store.row_count() == 10_000)
    # Laid out in one step with every cell's status: the timeline's rows on screen are
    # there and the rest come a slice per loop iteration.
    assert window.grid.cell_status("r9999m1") == "queued"
    assert window.timeline.pending_rows()
    assert window.timeline.label("r0m0") == "topic number 0 × a"
    await until(lambda: run.in_flight > 0)
    await until(lambda: any(rows == 10_000 for rows, _ in paints))
    app.removeEventFilter(spy)
    # No paint showed the run's cells without their first status.
    shown = [status for rows, status in paints if rows == 10_000]
    assert shown and set(shown) == {("queued", "waiting for a slot")}

    assert window.inputs.count_label.text() == "10000 inputs"
    assert window.grid.row_count() == 10_000
    # Run start gives 20,000 cells their first status in one call, not 20,000, and their
    # shape without listing their ids.
    assert calls.count("set_run_shape") == 1 and calls.count("set_all_status") == 1
    assert calls.count("set_shape") == 0
    assert calls.count("set_status") <= 100  # only the cells already started since
    # Lazy panes: a screenful of rows (plus overscan) x 2 models, not 20,000.
    assert 0 < len(window.grid.materialized_cell_ids()) <= 20
    pane = window.grid.scroll_to_cell("r7000m1")
    assert pane is not None and pane.title() == "topic number 7000 × b"
    assert len(window.grid.materialized_cell_ids()) <= 20

    await until(lambda: not window.timeline.pending_rows())
    assert len(window.timeline.cell_ids()) == 20_000
    assert window.timeline.label("r9999m1") == "topic number 9999 × b"

    window.cancel_all()
    await asyncio.wait_for(finished, 60)
    assert len(window.inputs.rows()) == 10_000  # nothing pasted was lost


async def test_one_call_gives_ten_thousand_rows_their_first_status(qtbot: QtBot) -> None:
    """What the window's run start could use instead of 20,000 set_status calls."""
    grid = ResultsGrid()
    qtbot.addWidget(grid)
    grid.resize(900, 700)
    grid.show()
    rows = [f"topic number {i}" for i in range(10_000)]
    ids = [[CellId.text(r, m) for m in range(2)] for r in range(10_000)]
    titles = [[f"{rows[r]} × {m}" for m in "ab"] for r in range(10_000)]

    grid.set_grid(rows, ["a", "b"], ids, titles)
    grid.set_all_status("queued", "waiting for a slot")

    def chip(cell_id: str) -> str:
        pane = grid.pane(cell_id)
        assert pane is not None
        return pane.findChild(QLabel, "statusChip").text()

    assert chip("r0m0") == "waiting for a slot"
    assert grid.cell_status("r9999m1") == "queued"
    assert grid.scroll_to_cell("r9999m1") is not None  # built later: it gets the same status
    assert chip("r9999m1") == "waiting for a slot"
    grid.set_status("r9999m1", "running", "waiting for first token")
    assert chip("r9999m1") == "waiting for first token"
    grid.reset_cell("r9999m1")
    assert grid.cell_status("r9999m1") == "queued" and chip("r9999m1") == "queued"
    assert len(grid.materialized_cell_ids()) <= 20


async def test_empty_lines_are_skipped(window: MainWindow) -> None:
    window.prompt.set_template("Tell me about {topic}")
    assert window.inputs.paste_text("cats\n\n   \n\t\r\ndogs\n\n") == 2
    assert window.inputs.rows() == [{"topic": "cats"}, {"topic": "dogs"}]
    assert window.inputs.count_label.text() == "2 inputs"


async def test_duplicate_rows_both_run_and_are_told_apart(qtbot: QtBot, window: MainWindow) -> None:
    window.prompt.set_template("Tell me about {topic}")
    window.inputs.paste_text("cats\ndogs\ncats")
    window.models.set_profiles([fast("a"), fast("b")])
    summary = await run_to_the_end(qtbot, window)

    assert summary.done == 6
    grid = window.grid
    assert [grid.row_label(r) for r in range(3)] == ["cats (row 1)", "dogs", "cats (row 3)"]
    titles = {}
    for cell_id in ("r0m0", "r0m1", "r1m0", "r2m0", "r2m1"):
        pane = grid.pane(cell_id)
        assert pane is not None and grid.cell_status(cell_id) == "done"
        titles[cell_id] = pane.title()
    assert titles == {
        "r0m0": "cats (row 1) × a",
        "r0m1": "cats (row 1) × b",
        "r1m0": "dogs × a",
        "r2m0": "cats (row 3) × a",
        "r2m1": "cats (row 3) × b",
    }
    labels = [label.text() for label in grid.findChildren(QLabel, "rowLabel")]
    assert "cats (row 1)" in labels and "cats (row 3)" in labels
    timeline_rows = window.timeline.segments("r2m0")
    assert timeline_rows  # both duplicate rows have their own bar
    assert window.timeline.segments("r0m0")


UNICODE = [
    "🐈‍⬛ black cats",  # an emoji ZWJ sequence
    "👩🏽‍💻 coders",  # skin tone and ZWJ
    "cafe\u0301 nai\u0308ve",  # combining marks
    "مرحبا بالعالم",  # Arabic, right to left
    "שלום עולם",  # Hebrew, right to left
    "漢字かな交じり文",  # CJK
]


async def test_unicode_is_intact_in_the_table_prompt_panes_output_and_history(
    qtbot: QtBot, window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    template = "{topic} — اكتب عن هذا 🙂"
    window.prompt.set_template(template)
    window.inputs.paste_text("\n".join(UNICODE))
    model = window.inputs.view.model()
    assert [model.index(r, 0).data() for r in range(len(UNICODE))] == UNICODE
    assert window.prompt.template() == template

    with FakeOpenAIServer(models=["fake-1"], tokens=4) as srv:
        window.models.set_profiles(
            [
                ModelProfile(
                    model="fake-1",
                    label="模型 🤖",
                    provider=ProviderKind.OPENAI,
                    base_url=srv.base_url,
                )
            ]
        )
        summary = await run_to_the_end(qtbot, window, timeout=60)
    assert summary.done == len(UNICODE)

    run = window.current_run
    assert run is not None
    for r, text in enumerate(UNICODE):
        cell_id = CellId.text(r, 0)
        assert window.grid.row_label(r) == text
        pane = window.grid.scroll_to_cell(cell_id)
        assert pane is not None and pane.title() == f"{text} × 模型 🤖"
        prompt = template.replace("{topic}", text)
        assert window.grid.cell_source_text(cell_id).startswith(f"Answer about {prompt} from")

    history = await window.ensure_history()
    await asyncio.to_thread(history.flush, 5.0)
    stored = await asyncio.to_thread(history.get_run, run.id)
    assert stored is not None
    assert stored.spec.template == template
    assert [row["topic"] for row in stored.spec.rows] == UNICODE
    assert [c.text for c in stored.cells] == [
        window.grid.cell_source_text(CellId.text(r, 0)) for r in range(len(UNICODE))
    ]


async def test_a_csv_without_the_column_the_template_needs(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    window.prompt.set_template("A {tone} joke about {topic}")
    path = tmp_path / "rows.csv"
    path.write_text("topic,notes\ncats,x\ndogs,y\n", encoding="utf-8")
    window.inputs.import_file(path)

    assert window.inputs.issue_label.message() == (
        "rows.csv has no column 'tone' (its columns: topic, notes). Fill in the tone cells, "
        "or use one of its columns in the template.\n"
        "Column 'notes' is not in the template, so it is not used."
    )
    press_ctrl_enter(qtbot, window)
    assert_refused(
        window,
        "Column 'tone' is empty in every row, so {tone} has nothing to fill it. "
        "Fill in the tone values or remove {tone} from the template.",
    )
    assert window.inputs.blocking_issue() == window.prompt.issue_label.message()
    assert [r["topic"] for r in window.inputs.rows()] == ["cats", "dogs"]  # all imported


def _png() -> bytes:
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("cat.png", _png(), "cat.png is a binary file, not CSV or JSON Lines."),
        (
            "noise.csv",
            bytes(b or 1 for b in random.Random(5).randbytes(8192)),  # not even a NUL byte
            "noise.csv is a binary file, not CSV or JSON Lines.",
        ),
        (
            "mixed.csv",
            "topic\ncafé\n".encode() + b"caf\xe9\n",
            "mixed.csv is not valid UTF-8: line 3 has a byte (0xE9) that is not UTF-8. "
            "Save it as UTF-8 and import it again.",
        ),
    ],
)
async def test_files_that_are_not_text_are_refused_and_nothing_is_half_imported(
    window: MainWindow, tmp_path: Path, name: str, data: bytes, message: str
) -> None:
    window.prompt.set_template("Tell me about {topic}")
    window.inputs.paste_text("kept")
    path = tmp_path / name
    path.write_bytes(data)

    window.inputs.import_file(path)

    assert window.inputs.issue_label.message() == message
    assert window.inputs.issue_label.severity() == "error"
    assert window.inputs.rows() == [{"topic": "kept"}]
    assert window.inputs.columns() == ["topic"]


async def test_a_latin1_file_is_read_with_a_warning(window: MainWindow, tmp_path: Path) -> None:
    window.prompt.set_template("Tell me about {topic}")
    path = tmp_path / "excel.csv"
    path.write_bytes("topic\ncafé crème\nNaïve\n".encode("latin-1"))

    window.inputs.import_file(path)

    assert window.inputs.rows() == [{"topic": "café crème"}, {"topic": "Naïve"}]
    assert window.inputs.issue_label.message() == (
        "excel.csv is not UTF-8: read it as Windows-1252 (Latin-1). "
        "If accents look wrong, save it as UTF-8."
    )
    assert window.inputs.issue_label.severity() == "warning"


async def test_a_file_too_large_is_refused_without_blocking(
    window: MainWindow, tmp_path: Path
) -> None:
    window.prompt.set_template("Tell me about {topic}")
    window.inputs.paste_text("kept")
    path = tmp_path / "huge.csv"
    with path.open("wb") as f:
        f.truncate(MAX_INPUT_BYTES + 10 * 2**20)  # sparse: 60 MB that cost no disk

    task = window.inputs.import_file(path)  # big: read in a worker thread
    assert task is not None
    await task

    assert window.inputs.issue_label.message() == (
        "huge.csv is 60 MB; inputs files are limited to 50 MB. Split it into smaller files."
    )
    assert window.inputs.rows() == [{"topic": "kept"}]


# ------------------------------------------------------------------------------ profiles


async def test_an_empty_model_name_is_shown_on_the_card_and_refused(
    qtbot: QtBot, window: MainWindow
) -> None:
    window.prompt.set_template("Tell me about {topic}")
    window.inputs.paste_text("cats")
    card = only_card(window)
    card.set_expanded(True)
    card.label_edit.clear()
    card.model_edit.clear()

    issue = card.issue_label
    assert issue.isVisible()
    assert issue.text() == "Model name is empty. Give each model a name, e.g. gpt-4o-mini."
    press_ctrl_enter(qtbot, window)
    assert_refused(
        window, "Model 1: Model name is empty. Give each model a name, e.g. gpt-4o-mini."
    )


async def test_a_base_url_without_scheme_is_shown_on_the_card_and_refused(
    qtbot: QtBot, window: MainWindow
) -> None:
    window.prompt.set_template("Tell me about {topic}")
    window.inputs.paste_text("cats")
    window.models.set_profiles([])
    window.models.add_preset("ollama")
    card = only_card(window)
    card.base_url_edit.setText("localhost:11434/v1")

    message = (
        "Base URL 'localhost:11434/v1' is not an http(s) URL: it has no scheme. "
        "Write http://localhost:11434/v1."
    )
    await until(card.issue_label.isVisible)  # the new card shows on the next loop turn
    assert card.issue_label.text() == message
    press_ctrl_enter(qtbot, window)
    name = card.profile().display_name
    assert_refused(window, f"{name}: {message}")
    assert card.base_url_edit.text() == "localhost:11434/v1"  # what was typed stays


async def test_a_web_server_that_is_not_an_openai_api(
    qtbot: QtBot, window: MainWindow, html_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    host = html_server.split("/")[2]
    window.prompt.set_template("Tell me about {topic}")
    window.inputs.paste_text("cats")
    window.limits.set_limits(Limits(retries=0))
    profile = ModelProfile(model="llama3.2", provider=ProviderKind.OPENAI, base_url=html_server)
    window.models.set_profiles([profile])
    card = only_card(window)

    card.test_button.click()  # Test connection, inline on the card
    await until(lambda: card.test_button.isEnabled())
    assert card.test_result_label.text() == (
        f"{host} answered, but not like an OpenAI-compatible server "
        f"(no model list at {html_server}/models)."
    )

    summary = await run_to_the_end(qtbot, window, timeout=60)
    assert summary.failed == 1
    error = window.grid.cell_error("r0m0")
    assert window.grid.cell_status("r0m0") == "failed"
    assert error.startswith(f"llama3.2 at {host}: ") and "\n" not in error
    pane = window.grid.pane("r0m0")
    assert pane is not None


# ------------------------------------------------------------------------------ limits


def limits_spin(panel: ConcurrencyPanel, name: str) -> QSpinBox:
    spin = panel.findChild(QWidget, name)
    assert spin is not None
    return spin  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("name", "typed", "message"),
    [
        ("maxConcurrencySpin", "0", "Max concurrency 0 is out of range: use 1 to 1000."),
        ("maxConcurrencySpin", "-5", "Max concurrency -5 is out of range: use 1 to 1000."),
        ("maxConcurrencySpin", "10000", "Max concurrency 10000 is out of range: use 1 to 1000."),
        (
            "rpsSpin",
            "-1",
            "Requests per second -1 is out of range: use 0.01 to 10000 (or 0 for no cap).",
        ),
        ("ttftSpin", "0", "First-token timeout 0 is out of range: use 0.05 to 3600."),
        ("idleSpin", "5000", "Idle timeout 5000 is out of range: use 0.05 to 3600."),
        ("retriesSpin", "100", "Retries 100 is out of range: use 0 to 10."),
        ("retriesSpin", "-1", "Retries -1 is out of range: use 0 to 10."),
        ("answerCapSpin", "500", "Answer size cap 500 is out of range: use 1000 to 1000000000."),
        (
            "answerCapSpin",
            "5000000000",
            "Answer size cap 5000000000 is out of range: use 1000 to 1000000000.",
        ),
    ],
)
async def test_typing_an_absurd_limit_shows_the_range_and_keeps_the_value(
    qtbot: QtBot, window: MainWindow, name: str, typed: str, message: str
) -> None:
    panel = window.limits
    window.concurrency_dock.show()
    before = panel.limits()
    spin = limits_spin(panel, name)
    changes: list[dict[str, object]] = []
    panel.limits_changed.connect(changes.append)

    spin.setFocus()
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin, typed)
    assert typed in spin.lineEdit().text()  # shown as typed, not silently clamped
    qtbot.keyClick(spin, Qt.Key.Key_Return)

    assert panel.issue_label.isVisible() and panel.issue_label.message() == message
    assert panel.limits() == before and changes == []
    # A value in range is accepted and the message goes.
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin, "3000" if name == "answerCapSpin" else "3")
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    assert not panel.issue_label.isVisible()
    assert len(changes) == 1


async def test_requests_per_second_zero_is_no_cap_not_an_error(
    qtbot: QtBot, window: MainWindow
) -> None:
    panel = window.limits
    window.concurrency_dock.show()
    panel.set_limits(Limits(requests_per_second=5.0))
    spin = limits_spin(panel, "rpsSpin")
    spin.setFocus()
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin, "0")
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    assert not panel.issue_label.isVisible()
    assert panel.limits().requests_per_second is None and spin.text() == "no cap"
