"""Cost in the window: the estimate next to Run, the status bar, panes, tiles, the budget
field and the price table in the Profiles dock.

Runs on qasync's loop (see conftest) with the real engine and the simulated model, priced.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import pytest_asyncio

from gui.core.metrics import CellMetrics
from gui.core.pricing import Price, PriceEntry, format_usd
from gui.core.runner import Phase
from gui.core.spec import (
    JudgeSettings,
    Limits,
    ModelProfile,
    ProviderKind,
    RunSpec,
    SimSettings,
    Strategy,
)
from gui.qt.main_window import MainWindow
from gui.qt.services import PriceService
from gui.qt.views.concurrency_panel import ConcurrencyPanel
from gui.qt.views.cost_estimate import ESTIMATE_DELAY_MS
from gui.qt.views.prices_editor import PricesEditor
from gui.qt.widgets.cell_pane import cost_text, format_metrics
from gui.qt.widgets.cell_store import CellState
from gui.qt.widgets.tiles_view import key_figure
from gui.storage.prices import PriceStore

from .conftest import SESSION_LOOP, signal_future, until


def metrics(**changes: object) -> CellMetrics:
    values: dict[str, object] = {
        "queued_at": 0.0,
        "started_at": 0.1,
        "first_token_at": 0.41,
        "ended_at": 1.62,
        "waited": 0.1,
        "ttft": 0.31,
        "latency": 1.52,
        "output_tokens": 48,
        "tokens_estimated": False,
        "tokens_per_second": 41.2,
        "retries": 0,
        "input_tokens": 12,
        "cost_usd": 0.0123,
    }
    values.update(changes)
    return CellMetrics(**values)  # type: ignore[arg-type]


def test_panes_and_tiles_show_the_cost() -> None:
    priced = metrics()
    assert format_metrics(priced).endswith("41 tok/s · $0.0123")
    assert cost_text(metrics(input_estimated=True)) == "~$0.0123"
    assert cost_text(metrics(cost_usd=None)) == "no price"
    assert cost_text(metrics(cost_usd=0.0)) == ""  # free: nothing to say
    # Recorded before costs existed (no input tokens, no cost): nothing, not "no price".
    assert cost_text(metrics(cost_usd=None, input_tokens=0)) == ""
    done = CellState(Phase.DONE, metrics=priced)
    assert key_figure(done) == "41 tok/s"
    assert key_figure(done, "cost") == "$0.0123"
    assert key_figure(CellState(Phase.DONE, metrics=metrics(cost_usd=None)), "cost") == "no price"


def test_the_budget_field_sets_the_cap_and_refuses_a_negative_one(qtbot) -> None:
    panel = ConcurrencyPanel()
    qtbot.addWidget(panel)
    changed: list[dict[str, object]] = []
    panel.limits_changed.connect(changed.append)
    assert panel.limits().budget_usd is None  # 0 shows "no budget"
    panel.set_limits(Limits(budget_usd=2.5))
    assert panel.limits().budget_usd == 2.5 and changed == []  # setters never emit
    spin = panel._budget
    spin.setValue(0.0)
    assert panel.limits().budget_usd is None and changed[-1] == {"budget_usd": None}
    spin.lineEdit().setText("-3")
    spin.interpretText()
    spin.fixup("-3")
    assert panel.limits().budget_usd is None


@SESSION_LOOP
async def test_the_price_table_saves_valid_rows_and_refuses_bad_ones(qtbot, tmp_path: Path) -> None:
    service = PriceService(PriceStore(tmp_path / "prices.json"))
    editor = PricesEditor(service)
    qtbot.addWidget(editor)
    editor._on_add_button_clicked()
    table = editor.table
    for col, text in enumerate(("my-model", "", "-1", "2")):
        table.item(0, col).setText(text)
    editor._on_save_button_clicked()
    assert "Price row 1 (my-model)" in editor.issue.text() and "0 or more" in editor.issue.text()
    table.item(0, 2).setText("1.5")
    saved = signal_future(editor.prices_saved)
    editor._on_save_button_clicked()
    (entries,) = await asyncio.wait_for(saved, 30)
    assert entries == (PriceEntry("my-model", Price(1.5, 2.0)),)
    assert PriceStore(tmp_path / "prices.json").load() == entries
    assert service.table().price_of("my-model", "https://example.com/v1") == Price(1.5, 2.0)


def sim(tokens: int = 20) -> ModelProfile:
    return ModelProfile(
        model="sim-1",
        sim=SimSettings.with_latency(0.05, output_tokens=tokens, jitter=0.0, seed=2),
    )


@pytest_asyncio.fixture(loop_scope="session")
async def window(qtbot):
    # $1,000 in and $2,000 out per 1M tokens: a 20-token answer costs 4 cents.
    PriceStore().save([PriceEntry("sim-1", Price(1000.0, 2000.0))])
    win = MainWindow()
    win.show()
    yield win
    await win.shutdown()
    win.close()
    win.deleteLater()


@SESSION_LOOP
async def test_the_estimate_shows_next_to_run_and_the_cost_in_the_status_bar(
    window: MainWindow,
) -> None:
    await window.wait_built()
    # The app loads the prices in its warm-up (not started here): load them as it does.
    await window._load_prices()
    assert window.prices_editor.entries() == (PriceEntry("sim-1", Price(1000.0, 2000.0)),)
    window.prompt.set_template("Tell me about {topic}")
    window.inputs.set_variables(window.prompt.variables())
    window.inputs.set_rows([{"topic": "cats"}, {"topic": "dogs"}])
    window.models.set_profiles([sim()])
    window.limits.set_strategy(Strategy.STREAM)
    window.estimate.schedule()
    label = window.controls.estimate_label
    # 2 cells x 20 output tokens at $2,000/1M = 8 cents, plus 2 x 9 prompt tokens
    # ("Tell me about cats": 18 characters / 4, rounded up, + 4 for the message) at $1,000/1M.
    await until(lambda: label.text().startswith("est. ~$0.098 "), timeout=30)
    finished = signal_future(window.run_finished)
    window.run_action.trigger()
    (summary,) = await asyncio.wait_for(finished, 60)
    assert summary.done == 2
    # The simulated model reports usage: 4 prompt tokens a cell (it counts words), 20 out.
    assert (summary.input_tokens, summary.output_tokens) == (8, 40)
    assert round(summary.cost_usd, 3) == 0.088
    await until(lambda: window.controls.cost_label.text().startswith("$0.088 "), timeout=30)
    assert "tokens" in window.controls.cost_label.text()


@SESSION_LOOP
async def test_an_estimate_due_when_a_run_is_cancelled_waits_past_the_runs_end(
    window: MainWindow,
) -> None:
    """Cancelling a big run draws and records all its cells in the next second or two, and
    the end follows: an estimate that falls due then is put off past both (its count's
    worker thread would share the GIL with those turns), and still comes."""
    await window.wait_built()
    await window._load_prices()
    window.prompt.set_template("Tell me about {topic}")
    window.inputs.set_variables(window.prompt.variables())
    slow = ModelProfile(model="sim-1", sim=SimSettings.with_latency(30.0, output_tokens=20))
    window.models.set_profiles([slow])
    window.limits.set_strategy(Strategy.STREAM)
    window.limits.set_limits(Limits(max_concurrency=1))
    window.inputs.set_rows([{"topic": "cats"}, {"topic": "dogs"}])  # the estimate is due
    finished = signal_future(window.run_finished)
    run = window.start_run()
    assert run is not None
    await until(lambda: run.in_flight == 1)
    counted: list[object] = []
    count = window.estimate._count
    window.estimate._count = lambda spec: (counted.append(spec), count(spec))  # type: ignore[method-assign]
    window.estimate.schedule()  # an edit meanwhile: its estimate is due soon
    window.cancel_all()
    await asyncio.wait_for(finished, 60)
    await until(lambda: not window.running)
    assert counted == []  # nothing counted while the cells were cancelled and drawn
    timer = window.estimate._timer
    assert timer.isActive() and timer.remainingTime() > ESTIMATE_DELAY_MS  # nor right after
    label = window.controls.estimate_label
    await until(lambda: len(counted) == 1 and label.text().startswith("est. "), timeout=30)


@SESSION_LOOP
async def test_an_estimate_due_when_run_is_pressed_counts_the_runs_plan_without_building_it(
    window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows pasted, then Run before the estimate falls due: Run has just built the plan,
    and the estimate counts that one (a 10,000-row plan is milliseconds of the GUI thread
    in the turns right after the run's start); after an edit it builds the plan again."""
    await window.wait_built()
    await window._load_prices()
    window.prompt.set_template("Tell me about {topic}")
    window.inputs.set_variables(window.prompt.variables())
    window.models.set_profiles([sim()])
    window.limits.set_strategy(Strategy.STREAM)
    builds: list[RunSpec] = []
    build = window.editors.build_spec

    def counted() -> RunSpec:
        builds.append(build())
        return builds[-1]

    monkeypatch.setattr(window.editors, "build_spec", counted)
    window.inputs.set_rows([{"topic": "cats"}, {"topic": "dogs"}])  # the estimate is due
    finished = signal_future(window.run_finished)
    window.run_action.trigger()
    # The estimate due is put off past the run's first turns (its count's worker thread
    # would share the GIL with them), and still comes.
    timer = window.estimate._timer
    assert timer.isActive() and timer.remainingTime() > ESTIMATE_DELAY_MS
    label = window.controls.estimate_label
    await until(lambda: label.text().startswith("est. ~$0.098 "), timeout=30)
    assert len(builds) == 1  # Run's own: the estimate counted the run's plan
    await asyncio.wait_for(finished, 60)

    window.inputs.set_rows([{"topic": "cats"}])
    # 1 cell: 20 tokens out at $2,000/1M and 9 in at $1,000/1M.
    await until(lambda: label.text().startswith("est. ~$0.049 "), timeout=30)
    assert len(builds) == 2


@SESSION_LOOP
async def test_the_judges_own_calls_are_priced_apart_in_the_status_bar_and_scoreboard(
    window: MainWindow,
) -> None:
    await window.wait_built()
    await window._load_prices()
    window.prompt.set_template("Tell me about {topic}")
    window.inputs.set_variables(window.prompt.variables())
    window.inputs.set_rows([{"topic": "cats"}, {"topic": "dogs"}])
    window.models.set_profiles([sim()])
    window.limits.set_strategy(Strategy.STREAM)
    # The simulated judge under the priced model's name: its calls cost what sim-1's do.
    judge = ModelProfile(model="sim-1", sim=SimSettings(ttft=0.01, tokens_per_second=0.0))
    window.judge_page.set_settings(JudgeSettings(model=judge))
    try:
        finished = signal_future(window.run_finished)
        window.run_action.trigger()
        (summary,) = await asyncio.wait_for(finished, 60)
    finally:
        window.judge_page.set_settings(None)
    assert summary.done == 2 and summary.judge_calls == 2
    assert not summary.judge_tokens_estimated  # the simulated judge reports its usage
    assert summary.judge_cost_usd is not None and summary.judge_cost_usd > 0
    assert round(summary.cost_usd, 3) == 0.088  # the answers' cost, without the judge's
    shown = f"judge {format_usd(summary.judge_cost_usd)}"
    await until(lambda: window.controls.cost_label.text().endswith(f" · {shown}"), timeout=30)
    assert window.controls.cost_label.text().startswith("$0.088 ")
    assert window.scoreboard.judge_cost_label.text() == shown

    # A run without a judge shows no judge spend.
    finished = signal_future(window.run_finished)
    window.run_action.trigger()
    await asyncio.wait_for(finished, 60)
    await until(lambda: "judge" not in window.controls.cost_label.text(), timeout=30)
    assert window.scoreboard.judge_cost_label.text() == ""
    assert window.scoreboard.judge_cost_label.isHidden()


@SESSION_LOOP
async def test_the_budget_stops_the_run_and_the_status_line_says_so(window: MainWindow) -> None:
    await window.wait_built()
    await window._load_prices()
    window.prompt.set_template("Tell me about {topic}")
    window.inputs.set_variables(window.prompt.variables())
    window.inputs.set_rows([{"topic": t} for t in ("cats", "dogs", "owls")])
    window.models.set_profiles([sim()])
    window.limits.set_strategy(Strategy.STREAM)
    # A cell costs 4.4 cents and at most about 4.9 (9 estimated prompt tokens + 20 out): two
    # fit under 10 cents, the third would pass it.
    window.limits.set_limits(Limits(max_concurrency=1, budget_usd=0.10))
    finished = signal_future(window.run_finished)
    window.run_action.trigger()
    (summary,) = await asyncio.wait_for(finished, 60)
    assert (summary.done, summary.cancelled) == (2, 1)
    assert summary.budget_note == "budget reached ($0.088 of $0.10): 1 cell not started"
    assert "budget reached" in window.statusBar().currentMessage()


@SESSION_LOOP
async def test_an_openai_model_starts_the_tokenizer_process_at_the_first_edit(
    window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tokenizer process (where an OpenAI model's estimate is counted) gets ready while
    the estimate's timer runs: the first edit with such a model asks for it, once."""
    await window.wait_built()
    asked: list[list[str]] = []

    async def start(profiles: list[ModelProfile]) -> bool:
        asked.append([p.model for p in profiles])
        return any(p.provider is ProviderKind.OPENAI and not p.base_url for p in profiles)

    monkeypatch.setattr(window.services.prices, "start_tokenizer", start)
    window.models.set_profiles([sim()])
    window.estimate.schedule()
    await until(lambda: len(asked) == 1, timeout=30)
    window.models.set_profiles([sim(), ModelProfile("gpt-4o-mini", ProviderKind.OPENAI)])
    window.estimate.schedule()  # none was needed yet: asked again
    await until(lambda: len(asked) == 2, timeout=30)
    assert asked == [["sim-1"], ["sim-1", "gpt-4o-mini"]]
    window.estimate.schedule()
    window.estimate.schedule()
    await asyncio.sleep(0.1)
    assert len(asked) == 2  # started: not asked again
