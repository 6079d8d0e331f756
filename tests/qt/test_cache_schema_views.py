"""The response cache's switch and "Clear cache", the Schema page, and the panes' marks."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from PySide6.QtWidgets import QLabel, QTableView, QToolButton
from pytestqt.qtbot import QtBot

from gui.core.metrics import CellMetrics
from gui.core.runner import Phase
from gui.core.spec import CellId, Limits, ModelProfile, make_spec
from gui.qt.views.concurrency_panel import ConcurrencyPanel
from gui.qt.views.run_editors import RunEditors
from gui.qt.views.schema_page import SchemaPage
from gui.qt.widgets.cell_pane import format_metrics, metrics_tooltip
from gui.qt.widgets.cell_store import CellStore
from gui.qt.widgets.field_table import FieldTable
from gui.qt.widgets.focus_view import FocusView
from gui.qt.widgets.results_grid import ResultsGrid
from gui.resources import starter_schemas


def metrics(**fields: object) -> CellMetrics:
    base = CellMetrics(0.0, 0.0, 0.2, 1.0, 0.0, 0.2, 1.0, 40, False, 50.0, 0)
    return replace(base, **fields)  # type: ignore[arg-type]


def test_the_cache_switch_is_a_limit_and_clear_cache_shows_the_size(qtbot: QtBot) -> None:
    panel = ConcurrencyPanel()
    qtbot.addWidget(panel)
    assert panel.limits().cache is False  # opt-in
    check = panel.findChild(type(panel._cache_check), "cacheCheck")
    assert check is not None
    with qtbot.waitSignal(panel.limits_changed, timeout=30_000) as changed:
        check.setChecked(True)
    assert changed.args == [{"cache": True}]
    assert panel.limits().cache is True
    panel.set_limits(Limits())  # a setter never emits, and shows the value
    assert not check.isChecked()
    panel.set_cache_size("12 answers, 48 KB")
    button = panel._clear_cache
    assert panel.cache_size_text() == "holds 12 answers, 48 KB" and button.isEnabled()
    assert "Clear cache (12 answers, 48 KB)" in button.toolTip()
    with qtbot.waitSignal(panel.cache_clear_requested, timeout=30_000):
        button.click()
    panel.set_cache_size("0 answers, 8 KB")
    assert not button.isEnabled()


def test_the_schema_page_refuses_an_invalid_schema_and_the_run_carries_a_valid_one(
    qtbot: QtBot,
) -> None:
    page = SchemaPage(starter_schemas())
    qtbot.addWidget(page)
    editors = RunEditors()
    for widget in (editors.prompt, editors.inputs, editors.models, editors.limits, editors.checks):
        qtbot.addWidget(widget)
    editors.schema = page
    editors.prompt.set_template("Tell me about {topic}")
    editors.inputs.set_variables(["topic"])
    editors.inputs.set_rows([{"topic": "owls"}])
    assert page.schema() is None and page.issue() is None  # off by default
    assert editors.build_spec().json_schema is None

    page.set_text('{"type": "objekt"}')
    issue = page.issue()
    assert issue is not None and "Invalid JSON schema" in issue and "Fix" in issue
    assert page._issue.message() == issue  # refused where it is typed
    assert isinstance(editors.checked_spec(), str)  # and Run is refused with the same reason

    titles = page._starter
    index = titles.findData("Sentiment")
    assert index > 0
    with qtbot.waitSignal(page.title_changed, timeout=30_000) as title:
        titles.activated.emit(index)
    assert title.args == ["Schema ✓"]
    spec = editors.build_spec()
    assert spec.json_schema is not None and spec.json_schema["title"] == "Sentiment"

    # A past run's schema fills the page again.
    page.set_schema(None)
    assert page.schema() is None
    editors.load_spec(spec)
    assert page.schema() == spec.json_schema


def test_every_starter_schema_is_a_valid_schema() -> None:
    starters = starter_schemas()
    assert len(starters) >= 3
    spec = make_spec("About {topic}", ["owls"], (ModelProfile(),))
    for text in starters.values():
        replace(spec, json_schema=json.loads(text)).validate()


@pytest.mark.parametrize(
    ("fields", "line", "tip"),
    [
        (
            {"cached": True, "original_latency": 2.5, "original_ttft": None},
            "cached · 2.50 s · 40 tok",
            "no request, no cost",
        ),
        ({"schema_valid": False, "schema_error": "not JSON: x"}, "schema ✗ · ", "Schema: not JSON"),
        ({"schema_valid": True}, "schema ✓ · ", "follows the run's JSON schema"),
    ],
)
def test_the_footer_marks_cached_and_schema_answers(
    fields: dict[str, object], line: str, tip: str
) -> None:
    m = metrics(**fields)
    assert format_metrics(m).startswith(line)
    assert tip in metrics_tooltip(m)
    assert "cached" not in format_metrics(metrics())
    if m.cached:
        assert "tok/s" not in format_metrics(m)  # a replay has no speed


def test_focus_shows_a_structured_answer_as_a_tree_and_why_it_failed(qtbot: QtBot) -> None:
    store = CellStore()
    store.set_shape(["owls"], ["sim-1", "sim-2"], CellId.grid(1, 2))
    store.set_final_text("r0m0", json.dumps({"name": "Ada", "tags": ["x", "y"], "age": 3}))
    store.set_final_text("r0m1", '{"name": "cut')
    for cell_id in store.cell_ids():
        store.set_status(cell_id, Phase.DONE)
    view = FocusView(store)
    qtbot.addWidget(view)
    view.show()
    view.show_cell("r0m0")
    assert view.structured_tree() is None  # no verdict yet: a free-text run shows no tree
    store.set_metrics("r0m0", metrics(schema_valid=True))
    tree = view.structured_tree()
    assert tree is not None and tree.node_count() == 5  # name, tags, [0], [1], age
    top = tree.model()
    assert [top.index(r, 0).data() for r in range(top.rowCount())] == ["name", "tags", "age"]
    assert top.index(1, 1).data() == "[2 items]"
    store.set_metrics("r0m1", metrics(schema_valid=False, schema_error="not JSON: x"))
    view.show_cell("r0m1")
    assert view.structured_tree() is None or not view.structured_tree().isVisible()  # type: ignore[union-attr]
    assert view.findChild(QLabel, "focusSchemaError").text() == "schema ✗: not JSON: x"  # type: ignore[union-attr]


def test_grid_panes_show_a_structured_answer_as_a_tree_with_a_text_toggle(qtbot: QtBot) -> None:
    """A Grid pane of a structured run shows its JSON answer as Focus's tree once the verdict
    comes, Tree / Text switches it, a reply that is not JSON stays text, and a retry (or a
    free-text run) has no tree."""
    store = CellStore()
    store.set_shape(["owls"], ["sim-1", "sim-2", "sim-3"], CellId.grid(1, 3))
    grid = ResultsGrid(store=store)
    qtbot.addWidget(grid)
    grid.resize(1200, 600)
    grid.show()
    qtbot.waitExposed(grid)
    answer = {"name": "Ada", "tags": ["x", "y"], "age": 3}
    store.set_final_text("r0m0", json.dumps(answer))
    store.set_final_text("r0m1", '{"name": "cut')
    store.set_final_text("r0m2", "Owls hunt at night.")
    for cell_id in store.cell_ids():
        store.set_status(cell_id, Phase.DONE)
    panes = [grid.pane(f"r0m{c}") for c in range(3)]
    assert all(pane is not None for pane in panes)
    good, broken, plain = panes  # type: ignore[misc]
    assert good.structured_tree() is None  # no verdict yet: text, as it streamed
    store.set_metrics("r0m0", metrics(schema_valid=True))
    store.set_metrics("r0m1", metrics(schema_valid=False, schema_error="not JSON: x"))
    store.set_metrics("r0m2", metrics())  # a free-text run's cell
    tree = good.structured_tree()
    assert tree is not None and tree.isVisible() and not good.view().isVisible()
    assert tree.node_count() == 5  # name, tags, [0], [1], age
    top = tree.model()
    assert [top.index(r, 0).data() for r in range(top.rowCount())] == ["name", "tags", "age"]
    button = good.findChild(QToolButton, "paneTreeButton")
    assert button is not None and button.isVisible() and button.text() == "Text"
    button.click()  # the answer itself
    assert good.structured_tree() is None and good.view().isVisible()
    assert json.loads(good.source_text()) == answer and button.text() == "Tree"
    button.click()
    assert good.structured_tree() is tree
    for other in (broken, plain):  # not JSON, or not a structured run: text, no button
        assert other.structured_tree() is None and other.view().isVisible()
        other_button = other.findChild(QToolButton, "paneTreeButton")
        assert other_button is not None and other_button.isHidden()
    assert "schema ✗" in broken.metrics_text()
    store.reset_cell("r0m0")  # a retry: the old answer and its tree go
    assert good.structured_tree() is None and button.isHidden() and good.view().isVisible()


def test_the_table_layout_has_a_column_per_field_filled_as_cells_end(qtbot: QtBot) -> None:
    store = CellStore()
    store.set_shape(["owls", "tides"], ["sim-1"], CellId.grid(2, 1))
    table = FieldTable(store)
    qtbot.addWidget(table)
    table.show()
    assert table.fields() == []
    store.set_final_text("r0m0", json.dumps({"name": "Ada", "tags": ["x"]}))
    store.set_status("r0m0", Phase.DONE)
    store.set_metrics("r0m0", metrics(schema_valid=True))
    store.set_final_text("r1m0", json.dumps({"age": 3}))
    store.set_status("r1m0", Phase.DONE)
    store.set_metrics("r1m0", metrics(schema_valid=False, schema_error="at (top level): x"))
    assert table.fields() == ["name", "tags", "age"]
    assert table.row_values("r0m0") == ["owls", "sim-1", "schema ✓", "Ada", '["x"]', ""]
    assert table.row_values("r1m0") == ["tides", "sim-1", "schema ✗", "", "", "3"]
    with qtbot.waitSignal(table.cell_activated, timeout=30_000) as activated:
        view = table.findChild(QTableView, "fieldTableView")
        assert view is not None
        view.doubleClicked.emit(view.model().index(1, 3))
    assert activated.args == ["r1m0"]


def test_the_table_of_a_free_text_run_shows_the_hint_and_no_empty_schema_column(
    qtbot: QtBot,
) -> None:
    """Seen walking a sweep's Results: the Table of a run without a schema showed a wide,
    empty "Schema" column under its hint; it shows the hint and the cells only, and the
    column comes with the first verdict."""
    store = CellStore()
    store.set_shape(["owls"], ["sim-1", "sim-2"], CellId.grid(1, 2))
    store.set_final_text("r0m0", "Owls hunt at night.")
    store.set_status("r0m0", Phase.DONE)
    store.set_metrics("r0m0", metrics())
    table = FieldTable(store)
    qtbot.addWidget(table)
    table.show()
    view = table.findChild(QTableView, "fieldTableView")
    assert view is not None
    assert table.row_values("r0m0")[:2] == ["owls", "sim-1"]
    hint = table.findChild(QLabel, "fieldTableHint")
    assert hint is not None and hint.isVisible()
    assert view.isColumnHidden(2) and not view.isColumnHidden(1)
    store.set_final_text("r0m1", json.dumps({"name": "Ada"}))
    store.set_status("r0m1", Phase.DONE)
    store.set_metrics("r0m1", metrics(schema_valid=True))
    assert not view.isColumnHidden(2)
    assert table.row_values("r0m1")[2] == "schema ✓"
