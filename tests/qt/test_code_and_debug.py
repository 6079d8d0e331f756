"""The Code view (show, highlight, copy, save) and the asyncio debug panel, as a user uses them."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEvent, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QCheckBox, QFileDialog, QLabel, QPlainTextEdit, QPushButton
from pytestqt.qtbot import QtBot

from gui.compat.loggers import loop_loggers
from gui.core.codegen import python_snippet
from gui.core.spec import Limits, ModelProfile, RunSpec, SimSettings, Strategy
from gui.qt.views.code_view import CodeView
from gui.qt.views.debug_log import (
    LINE_LIMIT,
    SLOW_CALLBACK_S,
    AsyncioDebugPanel,
    LogEntry,
    shorten,
)

from .conftest import SESSION_LOOP, until


def spec(strategy: Strategy = Strategy.GATHER, template: str = "Tell me about {topic}") -> RunSpec:
    profile = ModelProfile(model="sim-1", label="sim", sim=SimSettings.with_latency(0.5, seed=1))
    return RunSpec(
        template,
        ({"topic": "cats"}, {"topic": "dogs"}),
        (profile,),
        strategy,
        Limits(max_concurrency=4),
    )


def code_view(qtbot: QtBot) -> CodeView:
    view = CodeView()
    qtbot.addWidget(view)
    view.resize(700, 500)
    view.show()
    return view


def button(view: CodeView, text: str) -> QPushButton:
    return next(b for b in view.findChildren(QPushButton) if b.text() == text)


def color_at(view: CodeView, line_start: str, column: int = 0) -> QColor | None:
    """Foreground the highlighter gave the character at ``column`` of the first matching line."""
    doc = view.findChild(QPlainTextEdit, "codeEditor").document()
    block = doc.begin()
    while block.isValid() and not block.text().startswith(line_start):
        block = block.next()
    assert block.isValid(), line_start
    for fmt_range in block.layout().formats():
        if fmt_range.start <= column < fmt_range.start + fmt_range.length:
            return fmt_range.format.foreground().color()
    return None


# ---- Code view --------------------------------------------------------------------------------


def test_the_code_of_a_run_is_shown_highlighted_and_copied(qtbot: QtBot) -> None:
    view = code_view(qtbot)
    view.set_spec(spec())

    assert view.code() == python_snippet(spec())
    assert view.findChild(QPlainTextEdit, "codeEditor").toPlainText() == view.code()
    assert view.problem() == "" and not view.findChild(QLabel, "codeProblem").isVisible()

    hl = view.highlighter()
    assert color_at(view, "import asyncio") == hl.format_for("keyword").foreground().color()
    assert (
        color_at(view, "# One dict per input row") == hl.format_for("comment").foreground().color()
    )
    assert color_at(view, 'TEMPLATE = "', 11) == hl.format_for("string").foreground().color()
    assert color_at(view, "MAX_CONCURRENCY = 4", 18) == hl.format_for("number").foreground().color()
    # Inside the module docstring (several lines into it) is still string.
    assert color_at(view, "Needs langchain-core") == hl.format_for("string").foreground().color()
    # A "#" inside a string is not a comment.
    assert color_at(view, "MAX_CONCURRENCY", 0) is None

    button(view, "Copy").click()
    assert QGuiApplication.clipboard().text() == view.code()
    assert view.status() == "Copied to the clipboard."


def test_a_broken_template_says_what_to_fix_instead_of_code(qtbot: QtBot) -> None:
    view = code_view(qtbot)
    view.set_spec(spec())

    view.set_spec(None, "Unbalanced braces in the template.")
    assert view.problem() == "Fix the template first: Unbalanced braces in the template."
    assert view.code() == ""
    assert not button(view, "Copy").isEnabled() and not button(view, "Save as…").isEnabled()

    view.set_spec(spec(template="About {topic"))
    assert view.problem().startswith("Fix the template first: Unbalanced braces")

    view.set_spec(spec(Strategy.STREAM))
    assert view.problem() == "" and "chain.astream(row)" in view.code()
    assert button(view, "Copy").isEnabled()


def test_highlighting_follows_a_dark_palette(qtbot: QtBot) -> None:
    view = code_view(qtbot)
    view.set_spec(spec())
    light = view.highlighter().format_for("keyword").foreground().color()

    dark = QPalette(view.palette())
    dark.setColor(QPalette.ColorRole.Base, QColor("#1e1f22"))
    dark.setColor(QPalette.ColorRole.Text, QColor("#dfe1e5"))
    view.setPalette(dark)

    keyword = view.highlighter().format_for("keyword").foreground().color()
    assert keyword != light and keyword.lightness() > light.lightness()
    assert color_at(view, "import asyncio") == keyword


def test_save_as_uses_a_non_modal_dialog_and_asks_inline_before_replacing(
    qtbot: QtBot, tmp_path: Path
) -> None:
    view = code_view(qtbot)
    view.set_spec(spec())
    target = tmp_path / "run.py"

    qtbot.mouseClick(button(view, "Save as…"), Qt.MouseButton.LeftButton)
    dialog = view.findChild(QFileDialog)
    assert dialog is not None and dialog.isVisible()  # the click returned: open(), not exec()
    with qtbot.waitSignal(view.code_saved, timeout=30_000):
        dialog.fileSelected.emit(str(target))
    dialog.reject()
    assert target.read_text(encoding="utf-8") == view.code()

    target.write_text("old", encoding="utf-8")
    view.set_spec(spec(Strategy.ABATCH))
    qtbot.mouseClick(button(view, "Save as…"), Qt.MouseButton.LeftButton)
    dialog = view.findChild(QFileDialog)
    dialog.fileSelected.emit(str(target))
    dialog.reject()
    assert view.status() == "run.py already exists. Replace it?"
    assert target.read_text(encoding="utf-8") == "old"
    button(view, "Replace").click()
    assert target.read_text(encoding="utf-8") == view.code()
    assert view.status() == f"Saved to {target}."


# ---- asyncio debug panel ----------------------------------------------------------------------


def handlers() -> int:
    return sum(len(logging.getLogger(name).handlers) for name in loop_loggers())


@SESSION_LOOP
async def test_a_slow_callback_is_logged_with_its_source(qtbot: QtBot) -> None:
    loop = asyncio.get_running_loop()
    panel = AsyncioDebugPanel()
    qtbot.addWidget(panel)
    panel.show()
    toggles: list[bool] = []
    panel.debug_toggled.connect(toggles.append)
    before = handlers()
    slow_before = loop.slow_callback_duration
    try:
        panel.set_enabled_debug(True)
        assert panel.is_debug() and loop.get_debug()
        assert loop.slow_callback_duration == SLOW_CALLBACK_S
        assert handlers() == before + len(loop_loggers())

        loop.call_soon(time.sleep, 0.08)  # holds the loop for 80 ms
        loop.call_later(0.01, time.sleep, 0.07)  # a timer callback: qasync creates its handle
        await asyncio.sleep(0.3)
        await until(lambda: "sleep(0.07)" in panel.log_text())
    finally:
        panel.set_enabled_debug(False)

    assert loop.get_debug() is False
    assert loop.slow_callback_duration == slow_before
    assert handlers() == before
    assert toggles == [True, False]

    lines = panel.log_text().splitlines()
    soon = next(ln for ln in lines if "sleep(0.08)" in ln)
    assert re.search(r"Executing <Handle sleep\(0\.08\) created at .+ took 0\.\d{3} seconds", soon)
    assert f"{Path(__file__).name}:" in soon and "qasync" not in soon
    assert re.match(r"\d\d:\d\d:\d\d\.\d{3}  Executing", soon)
    # A timer's handle is created inside qasync's call_later: the line names this test instead.
    later = next(ln for ln in lines if "sleep(0.07)" in ln)
    assert re.search(r"Executing <Handle sleep\(0\.07\) created at .+ took 0\.\d{3}", later)
    assert f"{Path(__file__).name}:" in later and "qasync" not in later
    full = next(e for e in panel.entries() if "sleep(0.07)" in e)
    assert "qasync" in full  # the original text is kept for the tooltip
    assert "in test_a_slow_callback_is_logged_with_its_source" in full


@SESSION_LOOP
async def test_warnings_from_other_threads_reach_the_log_via_the_timer(qtbot: QtBot) -> None:
    panel = AsyncioDebugPanel()
    qtbot.addWidget(panel)
    panel.set_enabled_debug(True)
    try:
        worker = threading.Thread(
            target=lambda: logging.getLogger("asyncio").warning("from a worker: %d", 42)
        )
        worker.start()
        await asyncio.to_thread(worker.join)
        await until(lambda: "from a worker: 42" in panel.log_text())
        logging.getLogger("asyncio").info("not a warning")
        logging.getLogger("qasync._QEventLoop").error("an error", exc_info=ValueError("boom"))
    finally:
        panel.set_enabled_debug(False)  # flushes what is still buffered

    text = panel.log_text()
    assert "not a warning" not in text
    assert "ERROR an error …" in text
    tooltip = panel.tooltip_for_line(len(text.splitlines()) - 1)
    assert tooltip is not None and "ValueError: boom" in tooltip

    panel.clear()
    assert panel.log_text() == "" and panel.entries() == []


@SESSION_LOOP
async def test_closing_the_panel_turns_debug_off_and_detaches(qtbot: QtBot) -> None:
    loop = asyncio.get_running_loop()
    before = handlers()
    panel = AsyncioDebugPanel()
    panel.findChild(QCheckBox).setChecked(True)  # the user ticks the box
    assert loop.get_debug() and handlers() == before + len(loop_loggers())

    panel.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    await asyncio.sleep(0)

    assert loop.get_debug() is False
    assert handlers() == before


def test_long_lines_keep_where_and_how_long() -> None:
    long_repr = "<Handle " + "x" * 400 + "() created at /very/long/path/to/module.py:123>"
    text = f"Executing {long_repr} took 0.120 seconds"
    short = shorten(text)
    assert len(short) <= LINE_LIMIT
    assert short.startswith("Executing <Handle xxx")
    assert short.endswith("created at /very/long/path/to/module.py:123> took 0.120 seconds")

    entry = LogEntry(0.0, "WARNING", "qasync._SimpleTimer", text, "/src/app.py:7", ("a", "b"))
    assert "created at /src/app.py:7> took 0.120 seconds" in entry.line()
    assert text in entry.full_text() and "/very/long/path" in entry.full_text()
