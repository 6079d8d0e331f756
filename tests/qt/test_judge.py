"""The LLM judge in the window: the Judge page, scores on every layout, the dock's lane."""

from __future__ import annotations

import asyncio

import pytest_asyncio
from PySide6.QtWidgets import QScrollArea

from gui.core.judging import rank, rank_by_row, ranking_line
from gui.core.spec import (
    SIM_JUDGE_MODEL,
    STARTER_RUBRIC,
    JudgeMode,
    JudgeSettings,
    ModelProfile,
    SimSettings,
    Strategy,
)
from gui.qt.main_window import MainWindow
from gui.qt.widgets.tiles_view import key_figure

from .conftest import SESSION_LOOP, signal_future, until

pytestmark = SESSION_LOOP

FAST = SimSettings(ttft=0.02, tokens_per_second=400.0, output_tokens=30, jitter=0.0, seed=5)


@pytest_asyncio.fixture(loop_scope="session")
async def window(qtbot):
    win = MainWindow()
    win.results.set_layout("grid")
    win.show()
    yield win
    await win.shutdown()
    win.close()
    win.deleteLater()


def setup(win: MainWindow, topics: list[str], models: int = 2) -> None:
    win.prompt.set_template("Tell me about {topic}")
    win.inputs.set_variables(win.prompt.variables())
    win.inputs.set_rows([{"topic": t} for t in topics])
    win.models.set_profiles(
        [ModelProfile(model=f"sim-{i}", sim=FAST, label=f"model {i}") for i in range(models)]
    )
    win.limits.set_strategy(Strategy.STREAM)


async def test_the_judge_page_sits_beside_the_prompt_with_a_starter_rubric(
    window: MainWindow,
) -> None:
    tabs = window.prompt_tabs
    assert [tabs.tabText(i) for i in range(tabs.count())][:1] == ["Prompt"]
    assert tabs.indexOf(window.judge_page) > 0
    assert tabs.tabText(tabs.indexOf(window.judge_page)) == "Judge"
    page = window.judge_page
    page.set_settings(None)
    assert page.settings() is None
    page.enabled_box.setChecked(True)
    assert page.rubric_edit.toPlainText() == STARTER_RUBRIC
    choices = [c.text for c in page.choices()]
    assert choices[0].startswith(SIM_JUDGE_MODEL)
    setup(window, ["cats"])
    tabs.setCurrentWidget(page)  # shown: the page reads the columns again
    assert any(text == "Column: model 1" for text in (c.text for c in page.choices()))
    page.rubric_edit.setPlainText("   ")
    assert page.issue() is not None and "rubric is empty" in (page.issue() or "")
    assert "rubric is empty" in window.editors.checked_spec()  # type: ignore[operator]
    page.rubric_edit.setPlainText("Prefer short answers.")
    page.pairwise_button.setChecked(True)
    settings = page.settings()
    assert settings is not None and settings.mode is JudgeMode.PAIRWISE
    assert settings.rubric == "Prefer short answers."
    # A loaded judge keeps its own settings (not the list's plain sim-judge).
    own = JudgeSettings(model=ModelProfile(model=SIM_JUDGE_MODEL, sim=FAST), max_concurrency=3)
    page.set_settings(own)
    assert page.settings() == own
    page.set_settings(None)
    tabs.setCurrentIndex(0)


async def test_a_judged_run_shows_scores_on_panes_focus_tiles_and_the_dock_lane(
    window: MainWindow,
) -> None:
    setup(window, ["cats", "dogs", "owls"])
    window.judge_page.set_settings(
        JudgeSettings(model=ModelProfile(model=SIM_JUDGE_MODEL, sim=FAST), max_concurrency=2)
    )
    finished = signal_future(window.run_finished)
    window.run_action.trigger()
    (summary,) = await asyncio.wait_for(finished, 60)
    assert summary.done == 6
    store = window.results.store
    await until(lambda: all(store.peek(c) and store.peek(c).judge for c in store.cell_ids()))
    for cell_id in store.cell_ids():
        verdict = store.peek(cell_id).judge
        assert verdict is not None and verdict.ok
        pane = window.grid.pane(cell_id)
        assert pane is not None
        assert pane.judge_text() == f"{verdict.score:g}/10"
        assert key_figure(store.peek(cell_id)).startswith(f"{verdict.score:g}/10")
    # The dock's second lane: every judge call done, under the judge's own limit of 2.
    lane = window.limits.judge_lane_values()
    assert lane == {"in_flight": 0, "queued": 0, "done": 6, "failed": 0}
    assert window.limits.judge_limit_spin.value() == 2
    assert window.limits._judge_limit.text() == "· 6 calls"
    run = window.session.current_run
    assert run is not None and run.judge is not None
    assert run.judge.counts.peak_in_flight <= 2
    # Focus: the score and the reason.
    window.results.focus.show_cell("r1m1")
    window.results.set_layout("focus")
    verdict = store.peek("r1m1").judge
    assert verdict is not None and verdict.reason in window.results.focus.judge_text()
    window.results.set_layout("grid")
    # The timeline: every cell's row has its judge bar after the end cap.
    kinds = [k for k, _s, _e in window.timeline.segments("r0m0")]
    assert kinds.index("done") < kinds.index("judge")
    window.judge_page.set_settings(None)


async def test_pairwise_mode_ranks_the_models_in_the_results_toolbar(
    window: MainWindow,
) -> None:
    setup(window, ["cats", "dogs"], models=3)
    window.judge_page.set_settings(
        JudgeSettings(model=ModelProfile(model=SIM_JUDGE_MODEL, sim=FAST), mode=JudgeMode.PAIRWISE)
    )
    finished = signal_future(window.run_finished)
    window.run_action.trigger()
    await asyncio.wait_for(finished, 60)
    label = window.results.ranking_label
    await until(lambda: label.isVisibleTo(window.results))
    text = label.full_text()
    assert text.startswith("Judge ranking: ")
    assert all(f"model {i}" in text for i in range(3))
    run = window.session.current_run
    assert run is not None and run.judge is not None and len(run.judge.pairs) == 6
    # Ranked a frame at a time (each frame ranks only its inputs again), the line and the
    # per-input tooltip are those of the whole run's comparisons ranked at once.
    store = window.results.store
    models = store.group_labels()
    assert text == f"Judge ranking: {ranking_line(rank(run.judge.pairs, models))}"
    for row, ranks in rank_by_row(run.judge.pairs, models).items():
        assert f"{store.row_label(row)}: {ranking_line(ranks)}" in label.toolTip()
    # Pairwise puts its calls on rows of their own in the timeline.
    first = run.judge.pairs[0]
    assert window.timeline.label(f"{first.first_cell}~{first.second_cell}") == (
        f"judge: {first.first_cell} vs {first.second_cell}"
    )
    # Blind mode: the ranking (per input in its tooltip) would name the arena's answers.
    window.results.blind_action.trigger()
    assert not label.isVisibleTo(window.results)
    window.results.blind_action.trigger()
    assert label.isVisibleTo(window.results)
    # A run without a judge: no lane in the dock, no ranking.
    window.judge_page.set_settings(None)
    finished = signal_future(window.run_finished)
    window.run_action.trigger()
    await asyncio.wait_for(finished, 60)
    assert window.limits.judge_lane_values() is None
    assert not label.isVisibleTo(window.results)


async def test_the_judge_page_warns_about_the_judges_key_as_a_card_would(
    qtbot, monkeypatch
) -> None:
    """Issue 10's rules on the judge: a saved profile chosen as judge that would send its key
    over plain http:// to another machine, or one whose default key is withheld, says so."""
    from gui.core.spec import ProviderKind
    from gui.qt.views.judge_page import JudgePage

    monkeypatch.setenv("MY_LLM_CRED", "odd-named-secret-7731")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-default-0042")
    far = ModelProfile(
        model="j",
        provider=ProviderKind.OPENAI,
        base_url="http://10.0.0.9:8000/v1",
        api_key_env="MY_LLM_CRED",
    )
    other = ModelProfile(model="j", provider=ProviderKind.OPENAI, base_url="https://llm.example/v1")
    page = JudgePage()
    qtbot.addWidget(page)
    page.set_saved_profiles([("far", far), ("other", other)])
    page.enabled_box.setChecked(True)
    assert page.key_warning.message() is None  # sim-judge sends no key
    page.model_combo.setCurrentIndex(page.model_combo.findText("Saved: far"))
    assert page.key_warning.message() == (
        "Plain http:// to 10.0.0.9: the API key in $MY_LLM_CRED would travel in clear text. "
        "Use https:// unless this network is trusted."
    )
    page.model_combo.setCurrentIndex(page.model_combo.findText("Saved: other"))
    assert "No key sent to the judge: $OPENAI_API_KEY" in (page.key_warning.message() or "")
    page.enabled_box.setChecked(False)
    assert page.key_warning.message() is None
    page.set_settings(JudgeSettings(model=far))  # a past run's judge says it too
    assert "Plain http:// to 10.0.0.9" in (page.key_warning.message() or "")


async def test_the_judges_issue_shows_above_the_rubric_in_a_short_page(qtbot) -> None:
    """An empty rubric's message sat under the rubric, which fills the page: in a short
    window it was scrolled out of sight. It is shown where the page starts."""
    from gui.qt.views.judge_page import JudgePage

    page = JudgePage()
    qtbot.addWidget(page)
    page.resize(420, 200)
    page.show()
    page.enabled_box.setChecked(True)
    page.rubric_edit.setPlainText("")
    assert "rubric is empty" in (page.issue() or "")
    await until(lambda: page.issue_label.isVisible())
    viewport = page.findChild(QScrollArea).viewport()
    top_left = page.issue_label.mapTo(viewport, page.issue_label.rect().topLeft())
    bottom = page.issue_label.mapTo(viewport, page.issue_label.rect().bottomLeft())
    assert viewport.rect().contains(top_left) and viewport.rect().contains(bottom)


async def test_the_docks_judge_lane_changes_the_judges_limit_live(window: MainWindow) -> None:
    """Like Max concurrency for the cells: the judge lane's spin box applies to the run in
    progress (its calls not started yet) and is kept on the Judge page for the next run."""
    slow = SimSettings(ttft=0.3, tokens_per_second=40.0, output_tokens=30, jitter=0.0, seed=5)
    setup(window, ["cats", "dogs", "owls"], models=2)
    window.models.set_profiles(
        [ModelProfile(model=f"sim-{i}", sim=slow, label=f"model {i}") for i in range(2)]
    )
    window.judge_page.set_settings(
        JudgeSettings(model=ModelProfile(model=SIM_JUDGE_MODEL, sim=FAST), max_concurrency=1)
    )
    finished = signal_future(window.run_finished)
    window.run_action.trigger()
    run = window.session.current_run
    assert run is not None and run.judge is not None and run.judge.limit == 1
    await until(lambda: window.limits.judge_lane_values() is not None)
    spin = window.limits.judge_limit_spin
    assert spin.value() == 1
    spin.setValue(3)  # what typing or the arrows do
    assert run.judge.limit == 3 and not run.finished
    assert window.judge_page.max_in_flight.value() == 3
    settings = window.judge_page.settings()
    assert settings is not None and settings.max_concurrency == 3
    await asyncio.wait_for(finished, 60)
    await until(lambda: run.judge is not None and run.judge.pending == 0)
    assert run.judge.counts.peak_in_flight <= 3
    window.judge_page.set_settings(None)


async def test_a_verdict_that_comes_while_other_answers_stream_shows_on_its_tile_and_board(
    window: MainWindow,
) -> None:
    """Judge calls yield to streaming answers only while the loop falls behind them: on a
    window that keeps up, the fast model's verdicts come while the slow model still streams,
    on their tiles and in the Scoreboard; cancelling then leaves no judge call behind."""
    setup(window, ["cats", "dogs"])
    slow = SimSettings.with_latency(120.0, output_tokens=20, jitter=0.0, seed=3)
    profiles = [ModelProfile(model="sim-0", sim=FAST, label="fast")]
    window.models.set_profiles([*profiles, ModelProfile(model="sim-1", sim=slow, label="slow")])
    window.judge_page.set_settings(
        JudgeSettings(model=ModelProfile(model=SIM_JUDGE_MODEL, sim=FAST))
    )
    window.results.set_layout("tiles")
    board = window.scoreboard
    board.set_measure("judge")
    window.tabs.setCurrentWidget(board)
    finished = signal_future(window.run_finished)
    window.run_action.trigger()
    store = window.results.store
    fast = ["r0m0", "r1m0"]
    await until(lambda: all(store.peek(c) is not None and store.peek(c).judge for c in fast))
    assert window.running and not any(store.peek(c).final for c in ("r0m1", "r1m1"))
    scores = [store.peek(c).judge.score for c in fast]
    assert all(s is not None for s in scores)
    # The Scoreboard's judge squares of the fast model, while the slow one streams.
    await until(
        lambda: (
            board.board is not None
            and [board.board.values[r][0] for r in range(2)] == scores
            and all(board.board.values[r][1] is None for r in range(2))
        )
    )
    # The tiles: shown with the score in their figure line once the view is back.
    window.tabs.setCurrentWidget(window.results)
    tiles = window.results.tiles
    for cell_id, score in zip(fast, scores, strict=True):
        assert key_figure(store.peek(cell_id)).startswith(f"{score:g}/10")
        await until(
            lambda c=cell_id, s=score: (
                c in tiles._chrome and str(tiles._chrome[c][0][2]).startswith(f"{s:g}/10")
            )
        )
    window.cancel_all()
    await asyncio.wait_for(finished, 60)
    run = window.session.current_run
    assert run is not None and run.judge is not None and run.judge.pending == 0
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("fanout-judge")]
    window.judge_page.set_settings(None)
    window.results.set_layout("grid")
