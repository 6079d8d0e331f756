"""Issue 15 in the window: prompt variant tabs, a sweep typed in a model card, samples per
cell in the run controls, and a run whose grid and Scoreboard carry the column identity."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest_asyncio
from pytestqt.qtbot import QtBot

from gui.core.columns import ParamSweep
from gui.core.spec import Limits, ModelProfile, SimSettings, Strategy
from gui.qt.main_window import MainWindow
from gui.qt.views.models_panel import ModelsPanel
from gui.qt.views.prompt_editor import PromptEditor

from .conftest import SESSION_LOOP, signal_future


def sim(label: str) -> ModelProfile:
    return ModelProfile(
        model="sim-1",
        label=label,
        sim=SimSettings.with_latency(0.05, output_tokens=8, jitter=0.0, seed=3),
    )


@pytest_asyncio.fixture(loop_scope="session")
async def window(qtbot: QtBot):
    win = MainWindow()
    win.results.set_layout("grid")  # these tests read the Grid's panes
    win.show()
    yield win
    await win.shutdown()
    win.close()
    win.deleteLater()


def test_prompt_variant_tabs_keep_each_text_and_refuse_an_empty_one(qtbot: QtBot) -> None:
    editor = PromptEditor()
    qtbot.addWidget(editor)
    editor.set_template("Tell me about {topic}")
    assert editor.template_tabs.tab_bar.isHidden()  # one variant: no tabs, only "+"
    editor.template_tabs.add_button.click()
    assert editor.template_tabs.tab_bar.count() == 2 and editor.template_tabs.current() == 1
    editor.editor.setPlainText("Summarise {text} about {topic}")
    assert editor.templates() == ["Tell me about {topic}", "Summarise {text} about {topic}"]
    assert editor.template() == "Tell me about {topic}"  # A, whatever tab is shown
    assert editor.variables() == ["topic", "text"]  # every variant's variables count
    editor.template_tabs.tab_bar.setCurrentIndex(0)
    assert editor.editor.toPlainText() == "Tell me about {topic}"
    editor.template_tabs.tab_bar.setCurrentIndex(1)
    editor.editor.setPlainText("  ")
    assert (
        editor.blocking_issue() == "Prompt variant B is empty. Write its prompt or close its tab."
    )
    editor.template_tabs.remove_variant(1)
    assert editor.templates() == ["Tell me about {topic}"] and editor.blocking_issue() is None


def test_a_sweep_typed_in_a_model_card_is_checked_where_typed(qtbot: QtBot) -> None:
    panel = ModelsPanel()
    qtbot.addWidget(panel)
    panel.set_profiles([sim("a")])
    card = panel._cards[0]
    card.sweep_edits["temperature"].setText("0, 0.7, 1.2")
    assert card.profile().sweep == ParamSweep(temperature=(0.0, 0.7, 1.2))
    assert panel.issue() is None
    card.sweep_edits["temperature"].setText("0, 3")
    assert panel.issue() == "a: Temperature 3 is out of range: use 0 to 2."
    assert not card.issue_label.isHidden()
    card.sweep_edits["temperature"].setText("0.2")
    card.sweep_edits["top_p"].setText("1.5")
    assert panel.issue() == "a: top_p 1.5 is out of range: use 0 to 1."
    card.sweep_edits["top_p"].setText("")
    assert panel.issue() is None
    # Seeds: any 64-bit integer, negatives included, as OpenAI's API takes them.
    card.sweep_edits["seed"].setText("-7, 42")
    assert card.profile().sweep == ParamSweep(temperature=(0.2,), seed=(-7, 42))
    assert panel.issue() is None
    card.sweep_edits["seed"].setText("1, 9223372036854775808")
    assert panel.issue() == (
        "a: Seed 9223372036854775808 is out of range: use a 64-bit integer, e.g. 1, 42 or -7."
    )
    card.sweep_edits["seed"].setText("")
    assert panel.issue() is None
    # A profile with a sweep fills the fields back.
    panel.set_profiles([replace(sim("b"), sweep=ParamSweep(seed=(1, 2)))])
    assert panel._cards[0].sweep_edits["seed"].text() == "1, 2"


@SESSION_LOOP
async def test_a_sweep_with_samples_fills_every_pane_under_its_column(window: MainWindow) -> None:
    window.prompt.set_templates(["Tell me about {topic}", "Summarise {topic}"])
    window.inputs.set_variables(window.prompt.variables())
    window.inputs.set_rows([{"topic": "cats"}, {"topic": "owls"}])
    window.models.set_profiles([replace(sim("a"), sweep=ParamSweep(temperature=(0.0, 0.7)))])
    window.limits.set_strategy(Strategy.STREAM)
    window.limits.set_limits(Limits(max_concurrency=4))
    window.limits.set_repeats(2)
    # The workspace keeps them for the next start.
    kept = window.workspace.snapshot()
    assert (kept.template_variants, kept.repeats) == (("Summarise {topic}",), 2)
    finished = signal_future(window.run_finished)
    window.run_action.trigger()
    (summary,) = await asyncio.wait_for(finished, 60)
    assert summary.done == 2 * 4 * 2
    store = window.results.store
    assert store.group_labels() == ["A · a · t=0", "A · a · t=0.7", "B · a · t=0", "B · a · t=0.7"]
    assert store.column_labels()[:2] == ["#1 A · a · t=0", "#2 A · a · t=0"]
    assert store.cell_title("r1m3s1") == "owls × #2 B · a · t=0.7"
    for cell_id in ("r0m0", "r0m0s1", "r1m3", "r1m3s1"):
        assert window.grid.cell_status(cell_id) == "done"
        assert window.grid.cell_text(cell_id)
    # The Scoreboard has one square per run column, samples averaged; a click opens the
    # cell's first sample.
    window.scoreboard.refresh()
    board = window.scoreboard.board
    assert board is not None and list(board.models) == store.group_labels()
    assert [s.cells for s in board.models_summary] == [4, 4, 4, 4]  # 2 inputs x 2 samples
    view_col = window.scoreboard.model_order().index(3)
    assert window.scoreboard.cell_at(1, view_col) == "r1m3"
    # Focus on a repeated cell: sample k of N, a stepper, and what the samples say together
    # (the simulated model with one seed gives the same answer every time: one distinct).
    window.results.set_layout("focus")
    focus = window.results.focus
    assert focus.show_cell("r1m2")
    assert focus.sample_text().startswith(
        "sample 1 of 2 · 2 of 2 samples done · 1 distinct answer (2×) · latency "
    )
    assert focus.step_sample(1) and focus.cell_id() == "r1m2s1"
    assert focus.sample_text().startswith("sample 2 of 2")
    assert not focus.step_sample(1)  # the last sample: the stepper stops
    window.results.set_layout("grid")
    # A demo preset runs at its own size: the samples per cell go back to 1.
    from gui.resources import load_preset

    window.load_preset(load_preset("seed"))
    assert window.limits.repeats() == 1 and window.prompt.templates() == [window.prompt.template()]
