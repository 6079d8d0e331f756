"""The Checks page and the chips, as a user drives them: a bad check is refused where it is
typed and blocks Run with the reason; a run on the simulated model puts each cell's checks on
its pane, in Focus and on its tile; the checks are kept with the workspace and the run."""

from __future__ import annotations

import asyncio

import pytest_asyncio
from PySide6.QtCore import QPoint

from gui.core.checks import Check, CheckResult, parse_check
from gui.core.spec import ModelProfile, SimSettings, Strategy
from gui.qt.main_window import MainWindow
from gui.qt.views.checks_panel import ChecksPanel
from gui.qt.widgets.cell_pane import CellPane
from gui.qt.widgets.tiles_view import key_figure

from .conftest import SESSION_LOOP, signal_future, until

pytestmark = SESSION_LOOP


@pytest_asyncio.fixture(loop_scope="session")
async def window(qtbot):
    win = MainWindow()
    win.results.set_layout("grid")  # the chips are read on the Grid's panes
    win.show()
    yield win
    await win.shutdown()
    win.close()
    win.deleteLater()


def sim() -> ModelProfile:
    return ModelProfile(
        model="sim-1",
        label="sim",
        sim=SimSettings.with_latency(0.2, output_tokens=20, jitter=0.0, seed=3),
    )


def setup(win: MainWindow, topics: list[str]) -> None:
    win.prompt.set_template("Tell me a joke about {topic}")
    win.inputs.set_variables(win.prompt.variables())
    win.inputs.set_rows([{"topic": t} for t in topics])
    win.models.set_profiles([sim()])
    win.limits.set_strategy(Strategy.STREAM)
    win.editors.sync()


async def test_the_checks_page_sits_beside_the_prompt(window: MainWindow) -> None:
    tabs = window.prompt_tabs
    titles = [tabs.tabText(i) for i in range(tabs.count())]
    assert titles[:2] == ["Prompt", "Checks"]
    assert tabs.widget(1) is window.checks


async def test_a_bad_check_is_refused_inline_and_blocks_run(window: MainWindow, qtbot) -> None:
    setup(window, ["cats"])
    panel = window.checks
    panel.set_checks([])
    qtbot.keyClicks(panel.quick, "regex:^(\\d")
    qtbot.keyClick(panel.quick, "\r")
    (row,) = panel.rows()
    assert row.kind.currentText() == "regex" and row.value.text() == "^(\\d"
    assert row.issue.isVisible() or row.issue.message() is not None
    assert "Invalid regex at position 2" in (row.issue.message() or "")

    assert window.start_run() is None and not window.running
    shown = window.prompt.issue_label.message() or ""
    assert shown.startswith("Check 1: Invalid regex at position 2")

    assert window.prompt_tabs.tabText(1) == "Checks (1, 1 bad)"
    row.value.setText("^\\d")  # fixed where it was typed: the issue goes
    assert row.issue.message() is None and panel.issue() is None
    assert window.prompt_tabs.tabText(1) == "Checks (1)"


async def test_an_unknown_variable_in_a_check_offers_the_close_one(window: MainWindow) -> None:
    setup(window, ["cats"])
    panel = window.checks
    panel.set_checks([Check("contains", "{topc}")])
    (row,) = panel.rows()
    assert "Did you mean {topic}?" in (row.issue.message() or "")
    row.value.setText("{topic}")
    assert row.issue.message() is None


async def test_a_syntax_error_in_the_quick_entry_says_so_under_it(window: MainWindow) -> None:
    panel = window.checks
    panel.set_checks([])
    assert not panel.add_line("containz:x")
    assert "Did you mean contains?" in (panel.quick_issue.message() or "")
    assert panel.rows() == []


async def test_a_json_schema_row_edits_the_schema_and_refuses_a_bad_one(
    window: MainWindow, tmp_path
) -> None:
    panel = window.checks
    panel.set_checks([Check("json-schema", '{"type": "object"}')])
    (row,) = panel.rows()
    assert row.schema.isVisibleTo(panel) and not row.value.isVisibleTo(panel)
    row.schema.setPlainText('{"type": "objekt"}')
    assert "Invalid JSON schema: keyword 'type'" in (row.issue.message() or "")
    schema = tmp_path / "schema.json"
    schema.write_text('{"type": "array"}', encoding="utf-8")
    row.load_schema(str(schema))
    assert row.check().value == '{"type": "array"}' and row.issue.message() is None
    panel.set_checks([])


async def test_chips_appear_on_panes_focus_and_tiles_after_a_run(window: MainWindow) -> None:
    setup(window, ["cats", "dogs"])
    window.checks.set_checks(
        # A python check: evaluated in the worker process, answered on the qasync loop.
        [
            parse_check("name=long enough;min-words:3"),
            parse_check("name=tiny;python:len(output.split()) <= 2"),
        ]
    )
    finished = signal_future(window.run_finished)
    assert window.start_run() is not None
    (summary,) = await asyncio.wait_for(finished, 60)
    assert summary.done == 2
    run = window.current_run
    assert run is not None and run.spec.checks == window.checks.checks()

    pane = window.grid.pane("r0m0")
    assert isinstance(pane, CellPane)
    chips = pane.check_chips()
    assert chips.isVisible()
    assert chips.chip_texts() == ["✓ long enough", "✗ tiny"]
    first = chips.chip_rects()[1]
    tip = chips.tooltip_at(QPoint(first.center()))
    assert tip == "tiny: failed: value False"
    assert pane.property("checks") == "mixed"

    store = window.results.store
    state = store.peek("r1m0")
    assert state is not None and [r.passed for r in state.checks] == [True, False]
    assert key_figure(state).startswith("1/2 checks")
    tip = window.results.tiles._tooltip(1, 0)
    assert "✗ tiny: " in tip and "✓ long enough: " in tip

    focus = window.results.focus
    assert focus.show_cell("r1m0")
    assert "✗ tiny: " in focus.checks_text() and "✓ long enough: " in focus.checks_text()

    window.results.set_layout("row")
    compare = window.results.row_compare
    assert compare.show_row(1)
    await until(lambda: compare.column_checks(0) == ["✓ long enough", "✗ tiny"])
    window.results.set_layout("grid")

    # The run reopened from the history shows the same chips (a past run, read-only).
    history = await window.ensure_history()
    assert history.flush()
    stored = history.get_run(run.id)
    assert stored is not None and stored.spec.checks == run.spec.checks
    assert window.show_past_run(stored)
    await until(lambda: window.results.store.is_read_only())
    pane = window.grid.pane("r0m0")
    assert isinstance(pane, CellPane)
    assert pane.check_chips().chip_texts() == ["✓ long enough", "✗ tiny"]


async def test_checks_go_with_the_workspace_and_a_loaded_run(window: MainWindow) -> None:
    setup(window, ["cats"])
    checks = (parse_check("contains/i:{topic}"), parse_check("weight=2;max-chars:500"))
    window.checks.set_checks(checks)
    assert window.workspace.snapshot().checks == checks
    spec = window.editors.build_spec()
    assert spec.checks == checks
    window.checks.set_checks([])
    window.editors.load_spec(spec)  # "Load" of a past run
    assert window.checks.checks() == checks

    saved = window.workspace.snapshot()
    window.checks.set_checks([])
    window.workspace.restore(saved)  # the next start
    assert window.checks.checks() == checks
    assert window.prompt_tabs.tabText(1) == "Checks (2)"


async def test_a_pane_without_checks_shows_no_chips(qtbot) -> None:
    pane = CellPane("r0m0", "cats × sim")
    qtbot.addWidget(pane)
    assert not pane.check_chips().isVisibleTo(pane)
    pane.set_checks((CheckResult("a", "contains", True, "contains 'a'"),))
    assert pane.check_chips().isVisibleTo(pane) and pane.property("checks") == "pass"
    pane.reset()
    assert not pane.check_chips().isVisibleTo(pane) and pane.property("checks") == ""


async def test_the_panel_alone_validates_without_a_template(qtbot) -> None:
    panel = ChecksPanel()
    qtbot.addWidget(panel)
    panel.set_checks([Check("contains", "{anything}"), Check("max-words", "ten")])
    assert panel.issue() == (
        "Check 2: max-words needs a whole number, not 'ten'. Write e.g. max-words:50."
    )
