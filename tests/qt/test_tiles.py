"""The Results tab's layouts: every cell at once in Tiles, the Grid fitting the window, the switch.

Window tests drive a real :class:`MainWindow` at the sizes a user has (1360x860, full HD);
view tests drive a :class:`TilesView` on its own store. Geometry is measured on the widgets
and pixels read from what they paint, offscreen.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from PySide6.QtCore import QCoreApplication, QPoint, QRect, Qt
from PySide6.QtGui import QColor, QContextMenuEvent, QImage, QPalette, QRegion
from PySide6.QtWidgets import QApplication, QLabel, QMenu
from pytestqt.qtbot import QtBot

from gui.core.metrics import CellMetrics
from gui.core.runner import Phase
from gui.core.spec import CellId
from gui.qt.main_window import MainWindow
from gui.qt.resources import status_colors
from gui.qt.theme import apply_theme
from gui.qt.widgets import tiles_view
from gui.qt.widgets.cell_pane import CellPane, ElidedLabel
from gui.qt.widgets.cell_store import CellState, CellStore
from gui.qt.widgets.results_grid import ResultsGrid
from gui.qt.widgets.tiles_view import (
    MIN_COMPACT_HEIGHT,
    MIN_COMPACT_WIDTH,
    MIN_STREAM_TEXT_WIDTH,
    MIN_TILE_HEIGHT,
    MIN_TILE_WIDTH,
    TilesView,
    key_figure,
)
from gui.storage.workspace import WorkspaceStore

from .conftest import SESSION_LOOP, signal_future


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
    }
    values.update(changes)
    return CellMetrics(**values)  # type: ignore[arg-type]


def settle() -> None:
    for _ in range(4):
        QCoreApplication.processEvents()


def fill(store: CellStore, rows: int, cols: int) -> list[str]:
    store.set_shape(
        [f"topic {r}" for r in range(rows)],
        [f"model-{c}" for c in range(cols)],
        CellId.grid(rows, cols),
    )
    return list(store.cell_ids())


@pytest.fixture
def light() -> Iterator[None]:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    style, palette = app.style().name(), app.palette()
    apply_theme(app, "light")
    yield None
    app.setStyle(style)
    app.setPalette(palette)


@pytest.fixture
def made() -> Iterator[list[MainWindow]]:
    """The windows a test opened, held until it ends, then closed and deleted.

    qtbot holds only weak references: a window the test no longer names would otherwise be
    left to the garbage collector, which destroys it at an arbitrary later moment.
    """
    windows: list[MainWindow] = []
    yield windows
    for win in windows:
        win.close()
        win.deleteLater()


def window(made: list[MainWindow], qtbot: QtBot, size: tuple[int, int]) -> MainWindow:
    win = MainWindow()
    made.append(win)
    qtbot.addWidget(win)
    win.resize(*size)
    win.show()
    qtbot.waitExposed(win)
    settle()
    assert (win.width(), win.height()) == size
    return win


# ----------------------------------------------------------------------- fitting the window


def test_fifty_cells_are_all_on_screen_in_tiles_at_1360x860(
    made: list[MainWindow], qtbot: QtBot
) -> None:
    win = window(made, qtbot, (1360, 860))
    assert win.results.current_layout() == "tiles"  # a fresh window opens in Tiles
    ids = fill(win.results.store, 50, 1)
    settle()
    tiles = win.results.tiles
    assert tiles.isVisible()
    viewport = tiles.viewport().rect()
    for cell_id in ids:
        rect = tiles.tile_rect(cell_id)
        assert rect is not None and viewport.contains(rect), cell_id
    # No two tiles overlap, and each is at least the readable minimum.
    rects = [tiles.tile_rect(i) for i in ids]
    assert all(r is not None and not r.intersects(o) for r in rects for o in rects if o is not r)
    assert tiles.tile_size().width() >= MIN_TILE_WIDTH
    assert tiles.tile_size().height() >= MIN_TILE_HEIGHT
    assert win.results.visible_cells() == 50
    assert tiles.verticalScrollBar().maximum() == 0


def test_two_hundred_cells_fit_a_full_hd_window_and_scroll_at_1360x860(
    made: list[MainWindow], qtbot: QtBot
) -> None:
    big = window(made, qtbot, (1920, 1080))
    fill(big.results.store, 50, 4)
    settle()
    assert big.results.visible_cells() == 200
    size = big.results.tiles.tile_size()
    assert size.width() >= MIN_COMPACT_WIDTH and size.height() >= MIN_COMPACT_HEIGHT

    small = window(made, qtbot, (1360, 860))
    ids = fill(small.results.store, 50, 4)
    settle()
    tiles = small.results.tiles
    # Too many for readable tiles: full-size tiles, and the view scrolls down to the rest.
    assert tiles.tile_size().width() >= MIN_TILE_WIDTH
    assert tiles.tile_size().height() >= MIN_TILE_HEIGHT
    assert 0 < small.results.visible_cells() < 200
    assert tiles.verticalScrollBar().maximum() > 0
    tiles.setFocus()
    qtbot.keyClick(tiles, Qt.Key.Key_End)
    last = tiles.tile_rect(ids[-1])
    assert last is not None and tiles.viewport().rect().contains(last)
    assert tiles.current_cell() == ids[-1]


def test_four_models_fit_the_grid_without_scrolling_sideways_at_1360(
    made: list[MainWindow], qtbot: QtBot
) -> None:
    win = window(made, qtbot, (1360, 860))
    win.results.set_layout("grid")
    fill(win.results.store, 3, 4)
    settle()
    grid = win.results.grid
    assert grid.horizontalScrollBar().maximum() == 0
    panes = [grid.pane(CellId.text(0, c)) for c in range(4)]
    viewport = grid.viewport()
    for pane in panes:
        assert pane is not None and pane.isVisible()
        left = pane.mapTo(viewport, QPoint(0, 0)).x()
        assert left >= 0 and left + pane.width() <= viewport.width()
    # Wider columns on request: then, and only then, the grid scrolls sideways.
    win.results.wide_columns_button.setChecked(True)
    settle()
    assert grid.horizontalScrollBar().maximum() > 0
    win.results.wide_columns_button.setChecked(False)
    settle()
    assert grid.horizontalScrollBar().maximum() == 0


def test_grid_rows_take_the_s_m_l_heights_and_a_border_drag(
    made: list[MainWindow], qtbot: QtBot
) -> None:
    win = window(made, qtbot, (1360, 860))
    win.results.set_layout("grid")
    assert win.results.grid_controls.isVisible()
    fill(win.results.store, 6, 2)
    settle()
    grid = win.results.grid
    win.results.row_height_buttons["L"].click()
    assert grid.row_height() > ResultsGrid.ROW_HEIGHT
    win.results.row_height_buttons["S"].click()
    small = grid.row_height()
    assert small < ResultsGrid.ROW_HEIGHT and win.results.row_height_buttons["S"].isChecked()
    # Drag the strip under the first row's panes down by 30 px.
    row = grid.pane(CellId.text(0, 0)).parentWidget()
    grip = QPoint(row.width() // 2, row.height() - 2)
    qtbot.mousePress(row, Qt.MouseButton.LeftButton, pos=grip)
    qtbot.mouseMove(row, grip + QPoint(0, 30))
    qtbot.mouseRelease(row, Qt.MouseButton.LeftButton, pos=grip + QPoint(0, 30))
    assert grid.row_height() == small + 30
    assert not any(b.isChecked() for b in win.results.row_height_buttons.values())
    win.results.set_layout("tiles")
    assert not win.results.grid_controls.isVisible()


# ----------------------------------------------------------------------- the switch


def test_the_toolbar_and_the_view_menu_switch_layouts(made: list[MainWindow], qtbot: QtBot) -> None:
    win = window(made, qtbot, (1360, 860))
    results = win.results
    assert results.layouts()[:2] == ["tiles", "grid"]
    changed = []
    results.layout_changed.connect(changed.append)
    view_menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&View")
    layout_menu = next(a.menu() for a in view_menu.actions() if a.text() == "Layout")
    entries = {a.text(): a for a in layout_menu.actions()}
    entries["Grid"].trigger()
    assert results.current_layout() == "grid" and results.stack.currentWidget() is results.grid
    button = results.findChild(object, "layoutButton_tiles")
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert results.current_layout() == "tiles" and entries["Tiles"].isChecked()
    assert changed == ["grid", "tiles"]
    assert entries["Grid"].shortcut().toString() == "Ctrl+2"
    # Another engineer's page registers the same way.
    extra = QLabel("extra")
    results.add_layout("extra", "Extra", extra, "Ctrl+9")
    assert results.set_layout("extra") and results.stack.currentWidget() is extra
    assert not results.set_layout("nonexistent") and results.current_layout() == "extra"
    with pytest.raises(ValueError, match="exists"):
        results.add_layout("extra", "Again", QLabel(), "")


@pytest_asyncio.fixture(loop_scope="session")
async def windows(qtbot: QtBot) -> AsyncIterator[list[MainWindow]]:
    made: list[MainWindow] = []
    yield made
    for win in made:
        await win.shutdown()
        win.close()
        win.deleteLater()


@SESSION_LOOP
async def test_the_layout_chosen_comes_back_after_a_restart(windows: list[MainWindow]) -> None:
    first = MainWindow(workspace=WorkspaceStore())
    windows.append(first)
    first.show()
    assert first.results.current_layout() == "tiles"
    saved = signal_future(first.workspace.saved)
    first.results.layout_action("grid").trigger()
    await asyncio.wait_for(saved, 60)
    await first.workspace.flush()

    loaded = WorkspaceStore().load()
    assert loaded is not None and loaded.layout.results_layout == "grid"
    again = MainWindow(workspace=WorkspaceStore())
    windows.append(again)
    again.workspace.restore(loaded)
    again.show()
    assert again.results.current_layout() == "grid"


# ----------------------------------------------------------------------- tiles, by hand


@pytest.fixture
def tiles(qtbot: QtBot, light: None) -> TilesView:
    store = CellStore()
    view = TilesView(store)
    qtbot.addWidget(view)
    view.resize(900, 500)
    view.show()
    qtbot.waitExposed(view)
    fill(store, 6, 2)
    settle()
    return view


def centre(view: TilesView, cell_id: str) -> QPoint:
    rect = view.tile_rect(cell_id)
    assert rect is not None
    return rect.center()


def test_enter_and_double_click_open_a_tile(qtbot: QtBot, tiles: TilesView) -> None:
    opened: list[str] = []
    tiles.cell_activated.connect(opened.append)
    tiles.setFocus()
    qtbot.keyClick(tiles, Qt.Key.Key_Home)
    qtbot.keyClick(tiles, Qt.Key.Key_Right)
    qtbot.keyClick(tiles, Qt.Key.Key_Down)
    qtbot.keyClick(tiles, Qt.Key.Key_Return)
    assert opened == ["r1m1"]
    qtbot.mouseDClick(tiles.viewport(), Qt.MouseButton.LeftButton, pos=centre(tiles, "r4m0"))
    assert opened == ["r1m1", "r4m0"]
    assert tiles.current_cell() == "r4m0"


def test_ctrl_click_selects_at_most_two_tiles(qtbot: QtBot, tiles: TilesView) -> None:
    seen: list[list[str]] = []
    tiles.selection_changed.connect(seen.append)
    ctrl = Qt.KeyboardModifier.ControlModifier
    for cell_id in ("r0m0", "r2m1", "r3m0"):
        qtbot.mouseClick(tiles.viewport(), Qt.MouseButton.LeftButton, ctrl, centre(tiles, cell_id))
    # The third pushes the oldest out.
    assert seen == [["r0m0"], ["r0m0", "r2m1"], ["r2m1", "r3m0"]]
    assert tiles.selection() == ["r2m1", "r3m0"]
    # A selected tile is outlined in the highlight colour; an unselected one is not.
    image = tiles.viewport().grab().toImage()
    highlight = tiles.palette().color(QPalette.ColorRole.Highlight)
    for cell_id, outlined in (("r2m1", True), ("r0m0", False)):
        rect = tiles.tile_rect(cell_id)
        assert rect is not None
        edge = image.pixelColor(rect.left() + 1, rect.center().y())
        assert (edge == highlight) is outlined, cell_id
    # Ctrl+click again deselects; a plain click only moves the current tile.
    qtbot.mouseClick(tiles.viewport(), Qt.MouseButton.LeftButton, ctrl, centre(tiles, "r2m1"))
    qtbot.mouseClick(tiles.viewport(), Qt.MouseButton.LeftButton, pos=centre(tiles, "r5m1"))
    assert tiles.selection() == ["r3m0"] and tiles.current_cell() == "r5m1"


def ink(image: QImage, rect: QRect, background: QColor) -> int:
    """Pixels inside ``rect`` that differ from ``background``."""
    return sum(
        image.pixelColor(x, y) != background
        for x in range(rect.left(), rect.right() + 1)
        for y in range(rect.top(), rect.bottom() + 1)
    )


def text_box(tiles: TilesView, cell_id: str) -> QRect:
    """The part of a tile between its title band and its figure line."""
    rect = tiles.tile_rect(cell_id)
    assert rect is not None
    band = tiles.fontMetrics().height() + 4
    return rect.adjusted(6, band, -6, -tiles.fontMetrics().height() - 4)


def test_streaming_text_appears_in_its_tile(qtbot: QtBot, tiles: TilesView) -> None:
    store = tiles.store
    base = tiles.palette().color(QPalette.ColorRole.Base)
    box = text_box(tiles, "r1m0")
    before = tiles.viewport().grab().toImage()
    assert ink(before, box, base) == 0
    store.set_status("r1m0", Phase.STREAMING)
    store.append_texts({"r1m0": "Cats sleep most of the day "})
    store.append_texts({"r1m0": "and hunt at dawn."})

    def inked() -> bool:
        QCoreApplication.processEvents()
        return ink(tiles.viewport().grab().toImage(), box, base) > 20

    qtbot.waitUntil(inked, timeout=30_000)
    # The neighbour got nothing, and shows nothing.
    assert ink(tiles.viewport().grab().toImage(), text_box(tiles, "r1m1"), base) == 0
    # The title band wears the status chip's colour.
    rect = tiles.tile_rect("r1m0")
    assert rect is not None
    band = tiles.viewport().grab().toImage().pixelColor(rect.right() - 3, rect.top() + 3)
    assert band == status_colors(Phase.STREAMING)[0]


def test_tiles_follow_a_palette_change(qtbot: QtBot, tiles: TilesView) -> None:
    tiles.store.set_status("r0m0", Phase.DONE)
    settle()
    rect = tiles.tile_rect("r0m0")
    assert rect is not None
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    for theme in ("dark", "light"):
        apply_theme(app, theme)
        settle()
        image = tiles.viewport().grab().toImage()
        base = tiles.palette().color(QPalette.ColorRole.Base)
        assert image.pixelColor(rect.center().x(), rect.bottom() - 12) == base, theme
        band = image.pixelColor(rect.right() - 3, rect.top() + 3)
        assert band == status_colors(Phase.DONE)[0], theme


def test_a_tiles_menu_copies_cancels_and_retries(qtbot: QtBot, tiles: TilesView) -> None:
    store = tiles.store
    store.append_texts({"r0m1": "the answer"})
    store.set_status("r0m1", Phase.DONE)
    retried: list[str] = []
    cancelled: list[str] = []
    tiles.retry_requested.connect(retried.append)
    tiles.cancel_requested.connect(cancelled.append)

    def menu_for(cell_id: str) -> dict[str, object]:
        pos = centre(tiles, cell_id)
        event = QContextMenuEvent(
            QContextMenuEvent.Reason.Mouse, pos, tiles.viewport().mapToGlobal(pos)
        )
        QApplication.sendEvent(tiles.viewport(), event)
        menus = [m for m in tiles.findChildren(QMenu) if m.isVisible()]
        assert len(menus) == 1
        entries = {a.text(): a for a in menus[0].actions() if a.text()}
        menus[0].close()
        return entries

    done = menu_for("r0m1")
    assert not done["Cancel"].isEnabled() and done["Retry"].isEnabled()
    done["Retry"].trigger()
    done["Copy answer"].trigger()
    assert retried == ["r0m1"] and QApplication.clipboard().text() == "the answer"
    running = menu_for("r1m0")
    assert running["Cancel"].isEnabled() and not running["Retry"].isEnabled()
    running["Cancel"].trigger()
    assert cancelled == ["r1m0"]
    store.set_read_only(True)
    assert "Retry" not in menu_for("r0m1")


def test_a_tile_tooltip_has_the_full_title_and_status(tiles: TilesView) -> None:
    tiles.store.set_status("r2m1", Phase.FAILED)
    tiles.store.set_error("r2m1", "HTTP 429: rate limited")
    text = tiles._tooltip(2, 1)
    assert text.splitlines()[:3] == ["topic 2 × model-1", "failed", "HTTP 429: rate limited"]


def test_the_key_figure_is_the_error_else_tokens_per_second_else_latency() -> None:
    assert key_figure(None) == ""
    failed = CellState(Phase.FAILED, error="HTTP 500: the server had an error while processing")
    assert key_figure(failed) == "HTTP 500: the server had an error while …"  # first words
    assert key_figure(CellState(Phase.FAILED, error="HTTP 429")) == "HTTP 429"
    assert key_figure(CellState(Phase.DONE, metrics=metrics())) == "41 tok/s"
    no_rate = metrics(tokens_per_second=None)
    assert key_figure(CellState(Phase.DONE, metrics=no_rate)) == "1.52 s"
    streaming = CellState(Phase.STREAMING, chunks=["abc"], length=3)
    assert key_figure(streaming) == ""  # no figure yet: the status says "streaming"


# ----------------------------------------------------------------------- elision


def test_a_narrow_panes_title_and_figures_elide_in_the_middle(qtbot: QtBot) -> None:
    full = "a very long input about cats and dogs × gpt-4o-mini-2024-07-18"
    pane = CellPane("c", full)
    qtbot.addWidget(pane)
    pane.resize(217, 160)  # four model columns in a 1360 px window
    pane.show()
    pane.set_status(Phase.DONE)
    pane.set_metrics(metrics())
    settle()
    footer = pane.metrics_label()
    title = pane.findChild(ElidedLabel, "cellTitle")
    assert isinstance(footer, ElidedLabel) and title is not None
    for label, end in ((title, full[-1:]), (footer, "tok/s")):
        shown = label.text()
        # Both ends stay: the start of the input, the end of the model or the last figure.
        assert "…" in shown and shown.startswith(label.full_text()[:1]), shown
        assert shown.endswith(end), shown
        assert label.fontMetrics().horizontalAdvance(shown) <= label.contentsRect().width()
    assert footer.full_text().endswith("tok/s") and "Output tokens: 48" in footer.toolTip()
    # The figures go whole from the middle, never one cut ("first token 0.…tok/s").
    kept = footer.text().split(" · ")
    assert "…" in kept and kept[0] == "first token 0.31 s" and kept[-1] == "41 tok/s", kept
    assert all(part in footer.full_text().split(" · ") for part in kept if part != "…")


def test_grid_panes_open_on_double_click_and_enter_and_select_on_ctrl_click(
    made: list[MainWindow],
    qtbot: QtBot,
) -> None:
    win = window(made, qtbot, (1360, 860))
    results = win.results
    results.set_layout("grid")
    fill(results.store, 3, 2)
    settle()
    opened: list[str] = []
    selected: list[list[str]] = []
    results.cell_activated.connect(opened.append)
    results.selection_changed.connect(selected.append)
    grid = results.grid
    first, second = grid.pane("r0m0"), grid.pane("r1m1")
    assert first is not None and second is not None
    # The Grid names a pane by its row label and column header: the pane's own title is
    # hidden there, so the chip is what a user clicks on the pane's header line.
    title = first.findChild(QLabel, "statusChip")
    qtbot.mouseDClick(title, Qt.MouseButton.LeftButton)
    first.setFocus()
    qtbot.keyClick(first, Qt.Key.Key_Return)
    assert opened == ["r0m0", "r0m0"]
    assert results.current_layout() == "focus"  # an opened cell is shown in Focus
    results.set_layout("grid")  # the Grid builds its panes in view again
    first, second = grid.pane("r0m0"), grid.pane("r1m1")
    assert first is not None and second is not None
    title = first.findChild(QLabel, "statusChip")
    ctrl = Qt.KeyboardModifier.ControlModifier
    qtbot.mouseClick(title, Qt.MouseButton.LeftButton, ctrl)
    qtbot.mouseClick(second.findChild(QLabel, "statusChip"), Qt.MouseButton.LeftButton, ctrl)
    assert selected == [["r0m0"], ["r0m0", "r1m1"]] and results.selection() == ["r0m0", "r1m1"]
    assert first.property("selected") is True
    # One selection for the page: switching to Tiles and selecting there starts over.
    results.set_layout("tiles")
    tiles = results.tiles
    rect = tiles.tile_rect("r2m0")
    assert rect is not None
    qtbot.mouseClick(tiles.viewport(), Qt.MouseButton.LeftButton, ctrl, rect.center())
    assert selected[-1] == ["r2m0"] and grid.selection() == []
    results.set_layout("grid")
    again = grid.pane("r0m0")
    assert again is not None and again.property("selected") is not True


def test_a_hidden_grid_builds_no_panes_and_catches_up_when_shown(
    made: list[MainWindow], qtbot: QtBot
) -> None:
    win = window(made, qtbot, (1360, 860))
    results = win.results
    store = results.store
    fill(store, 3, 2)
    store.set_status("r0m0", Phase.STREAMING)
    store.append_texts({"r0m0": "streamed while the grid was hidden"})
    settle()
    assert results.current_layout() == "tiles"
    assert results.grid.materialized_cell_ids() == []  # no pane renders text nobody sees
    results.set_layout("grid")
    settle()
    pane = results.grid.pane("r0m0")
    assert pane is not None and pane.phase == "streaming"
    assert pane.source_text() == "streamed while the grid was hidden"
    # The rows whose panes (inset by the gap) are wholly in view, two panes each.
    grid = results.grid
    full_rows = min(3, (grid.viewport().height() + grid.GAP) // grid.row_height())
    assert full_rows >= 1 and results.visible_cells() == 2 * full_rows


def test_dragging_a_column_border_widens_the_grid_and_a_double_click_fits_it_again(
    made: list[MainWindow],
    qtbot: QtBot,
) -> None:
    win = window(made, qtbot, (1360, 860))
    win.results.set_layout("grid")
    fill(win.results.store, 3, 4)
    settle()
    grid = win.results.grid
    fitted = grid.column_width()
    strip = grid.findChild(ElidedLabel, "columnHeader").parentWidget()
    border = QPoint(grid._label_width + fitted, strip.height() // 2)  # right of column 1
    qtbot.mousePress(strip, Qt.MouseButton.LeftButton, pos=border)
    qtbot.mouseMove(strip, border + QPoint(120, 0))
    qtbot.mouseRelease(strip, Qt.MouseButton.LeftButton, pos=border + QPoint(120, 0))
    assert grid.column_width() == fitted + 120
    assert grid.horizontalScrollBar().maximum() > 0
    assert win.results.wide_columns_button.isChecked()  # the toolbar says: wider than fit
    border = QPoint(grid._label_width + grid.column_width(), strip.height() // 2)
    qtbot.mouseDClick(strip, Qt.MouseButton.LeftButton, pos=border)
    assert grid.column_width() == fitted and grid.horizontalScrollBar().maximum() == 0
    assert not win.results.wide_columns_button.isChecked()


@pytest.mark.parametrize(("rows", "cols"), [(10, 12), (60, 1), (7, 3)])
def test_a_repaint_draws_exactly_the_tiles_its_region_touches(
    qtbot: QtBot, light: None, monkeypatch: pytest.MonkeyPatch, rows: int, cols: int
) -> None:
    """Scattered dirty tiles (a frame of streaming) repaint themselves and nothing else, in
    plain and folded layouts; a strip across the view repaints every tile under it."""
    store = CellStore()
    view = TilesView(store)
    qtbot.addWidget(view)
    view.resize(1400, 700)
    view.show()
    qtbot.waitExposed(view)
    ids = fill(store, rows, cols)
    settle()
    painted: list[str] = []
    real = TilesView._paint_tile

    def spy(self: TilesView, painter: object, row: int, col: int, *rest: object) -> None:
        painted.append(store.cell_id(row, col))
        real(self, painter, row, col, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(TilesView, "_paint_tile", spy)
    viewport = view.viewport()
    area = viewport.rect()
    shown = [i for i in ids if area.intersects(view.tile_rect(i) or QRect())]
    dirty = shown[::7] + shown[3:4]
    region = QRegion()
    for cell_id in dirty:
        rect = view.tile_rect(cell_id)
        assert rect is not None
        region += rect.adjusted(-2, -2, 2, 2)  # as the view marks a tile dirty
    viewport.repaint(region)
    assert sorted(painted) == sorted(set(dirty))
    # A strip across the whole width, through the middle of one row of tiles.
    painted.clear()
    first = view.tile_rect(shown[0])
    assert first is not None
    strip = QRect(0, first.center().y(), viewport.width(), 1)
    viewport.repaint(strip)
    under = [i for i in shown if (view.tile_rect(i) or QRect()).intersects(strip)]
    assert under and sorted(painted) == sorted(under)


def test_a_sweeps_sixty_sample_columns_all_fit_the_width_under_their_groups_labels(
    qtbot: QtBot, light: None
) -> None:
    """12 run columns x 5 samples (the sweep-600 run) in 1100 px: every column stays in view
    (the view never scrolls sideways), and each run column's label heads its samples on a
    line of its own, above the sample numbers."""
    store = CellStore()
    view = TilesView(store)
    qtbot.addWidget(view)
    view.resize(1100, 600)
    view.show()
    qtbot.waitExposed(view)
    plain_header = view._tiles_area().top()
    groups = [f"sim-{m} · t={t}" for m in range(1, 5) for t in ("0", "0.7", "1.2")]
    cols = [f"#{k + 1} {g}" for g in groups for k in range(5)]
    ids = [[CellId.text(r, c, k) for c in range(12) for k in range(5)] for r in range(10)]
    store.set_shape(
        [f"topic {r}" for r in range(10)],
        cols,
        ids,
        groups=(groups, [c for c in range(12) for _ in range(5)]),
    )
    settle()
    width = view.viewport().width()
    rights = [view.tile_rect(ids[0][c]).right() for c in range(60)]  # type: ignore[union-attr]
    assert max(rights) < width and rights == sorted(rights)
    assert view._tiles_area().top() == 2 * plain_header  # a line for the groups' labels
    image = view.viewport().grab().toImage()
    background = image.pixelColor(0, 0)
    for g in range(12):  # ink in the group line over the middle of every group
        first = view.tile_rect(ids[0][g * 5])
        last = view.tile_rect(ids[0][g * 5 + 4])
        assert first is not None and last is not None
        line = QRect(first.left() + 2, 2, last.right() - first.left() - 4, plain_header - 6)
        assert ink(image, line, background) > 20, groups[g]


def test_a_sliver_tile_shows_its_status_colour_but_no_streaming_text(
    qtbot: QtBot, light: None
) -> None:
    """20 columns in 700 px: tiles narrower than a word show the band's colour while they
    stream, not a letter or two of the last line."""
    store = CellStore()
    view = TilesView(store)
    qtbot.addWidget(view)
    view.resize(700, 500)
    view.show()
    qtbot.waitExposed(view)
    fill(store, 2, 20)
    settle()
    assert 20 < view.tile_size().width() < MIN_STREAM_TEXT_WIDTH
    store.set_status("r0m0", Phase.STREAMING)
    store.append_texts({"r0m0": "Owls hunt at night and sleep by day. " * 4})
    settle()
    image = view.viewport().grab().toImage()
    rect = view.tile_rect("r0m0")
    assert rect is not None
    base = view.palette().color(QPalette.ColorRole.Base)
    band = view.fontMetrics().height() + 4
    body = QRect(rect.left() + 1, rect.top() + band, rect.width() - 2, rect.height() - band - 2)
    assert ink(image, body, base) == 0
    assert image.pixelColor(rect.center().x(), rect.top() + 3) == status_colors(Phase.STREAMING)[0]


def test_one_paint_draws_a_bounded_number_of_new_tiles_and_the_rest_follow(
    qtbot: QtBot, light: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new run's first paint of 200 tiles drew every tile's picture in one frame; now a
    paint draws a bounded number, shows the rest bare, and draws them in the next frames."""
    monkeypatch.setattr(tiles_view, "_MIN_FRESH_PER_PAINT", 4)
    monkeypatch.setattr(tiles_view, "_FRESH_BUDGET_S", 0.0)
    store = CellStore()
    view = TilesView(store)
    qtbot.addWidget(view)
    view.resize(900, 500)
    view.show()
    qtbot.waitExposed(view)
    ids = fill(store, 6, 2)
    for cell_id in ids:  # under way: a picture per tile (unstarted tiles share one)
        store.set_status(cell_id, Phase.RUNNING, "waiting for first token")
    base = view.palette().color(QPalette.ColorRole.Base)

    def banded() -> list[str]:
        """The tiles whose title band is drawn (a bare tile is all base colour)."""
        image = view.viewport().grab().toImage()  # one paint
        drawn = []
        for cell_id in ids:
            rect = view.tile_rect(cell_id)
            assert rect is not None
            if image.pixelColor(rect.right() - 3, rect.top() + 3) != base:
                drawn.append(cell_id)
        return drawn

    assert len(banded()) == 4  # the first paint: four pictures, eight bare tiles

    def settled() -> bool:
        """The view's own repaints of the tiles left bare are done (nothing left dirty)."""
        QCoreApplication.processEvents()
        return not view._dirty and not view._round and not view._flush_timer.isActive()

    qtbot.waitUntil(settled, timeout=30_000)
    # Drawn by the view's own frames: one more paint here could draw only four more.
    assert len(banded()) == len(ids)


def test_unstarted_tiles_share_one_picture_and_look_as_if_each_had_its_own(
    qtbot: QtBot, light: None
) -> None:
    """A new run's first paint drew a picture per tile (some 70 at 1360x860, a step of the
    GUI thread of its own at Run); tiles not started yet share one per status and size,
    each with its own title over it, and look exactly as a picture of their own would."""
    store = CellStore()
    view = TilesView(store)
    qtbot.addWidget(view)
    view.resize(900, 500)
    view.show()
    qtbot.waitExposed(view)
    store.set_run_shape([f"topic {r}" for r in range(6)], ["model-0", "model-1"])
    store.set_all_status(Phase.QUEUED, "waiting for a slot")
    drawn = view.pictures_drawn
    shared = view.viewport().grab().toImage()
    assert view.pictures_drawn == drawn  # no picture of its own for any tile
    rect = view.tile_rect("r5m1")
    assert (
        rect is not None
        and shared.pixelColor(rect.center().x(), rect.top() + 3) == (status_colors(Phase.QUEUED)[0])
    )
    for cell_id in store.cell_ids():
        store.state(cell_id)  # a record each, with the same status: a picture each
    own = view.viewport().grab().toImage()
    assert view.pictures_drawn == drawn + 12
    assert own == shared


def finish(store: CellStore, cell_id: str, text: str) -> None:
    store.set_final_text(cell_id, text, markdown=False)
    store.set_status(cell_id, Phase.DONE)
    store.set_metrics(cell_id, metrics())


def test_a_verdict_is_drawn_over_the_tiles_picture_exactly_as_a_new_picture_would_be(
    qtbot: QtBot, tiles: TilesView
) -> None:
    """A judge's score changes only the tile's figure line: that line is drawn anew over the
    cached picture, and the tile then looks as if its whole picture had been drawn again."""
    from gui.core.judging import JudgeVerdict

    store = tiles.store
    for cell_id in ("r2m0", "r2m1"):
        finish(store, cell_id, "Owls hunt at night and sleep by day, in hollow trees.")
    tile = tiles.tile_rect("r2m0")
    assert tile is not None

    def shows(cell_id: str, figure: str) -> bool:
        QCoreApplication.processEvents()
        state = store.peek(cell_id)
        return state is not None and key_figure(state) == figure

    qtbot.waitUntil(lambda: shows("r2m0", "41 tok/s"), timeout=30_000)
    tiles.viewport().repaint()
    pictures = tiles.pictures_drawn
    store.set_judge("r2m0", JudgeVerdict(8.0, "Clear and correct.", "sim-judge"))
    qtbot.waitUntil(lambda: tiles.figure_lines_redrawn >= 1, timeout=30_000)
    assert tiles.pictures_drawn == pictures  # no whole new picture for a verdict
    assert key_figure(store.peek("r2m0")).startswith("8/10 · ")
    over_cache = tiles.viewport().grab().toImage().copy(tile)
    # The same tile with the verdict from the start (its picture drawn once, whole).
    fresh = TilesView(store)
    qtbot.addWidget(fresh)
    fresh.resize(tiles.size())
    fresh.show()
    qtbot.waitExposed(fresh)
    settle()
    fresh.viewport().repaint()
    assert fresh.figure_lines_redrawn == 0
    assert fresh.tile_rect("r2m0") == tile
    whole = fresh.viewport().grab().toImage().copy(tile)
    assert over_cache == whole
    # And the score is what differs: the neighbour (same row, same answer, no verdict yet)
    # does not look the same.
    neighbour = tiles.tile_rect("r2m1")
    assert neighbour is not None
    assert whole != fresh.viewport().grab().toImage().copy(neighbour)


def test_a_hidden_grid_builds_its_column_header_after_the_runs_start_not_in_it(
    made: list[MainWindow],
    qtbot: QtBot,
) -> None:
    # A run started in Tiles built the hidden Grid's header labels in the Run press's turn;
    # building them all at the first Grid switch instead made that switch a long turn.
    win = window(made, qtbot, (1360, 860))
    win.results.set_layout("tiles")
    grid = win.results.grid

    def shown_heads() -> list[ElidedLabel]:
        heads = grid.findChildren(ElidedLabel, "columnHeader")
        return sorted((h for h in heads if not h.isHidden()), key=lambda w: w.x())

    fill(win.results.store, 3, 4)
    assert shown_heads() == []  # not in the shape change's turn
    qtbot.waitUntil(lambda: len(grid.findChildren(ElidedLabel, "columnHeader")) == 4)
    win.results.set_layout("grid")
    settle()
    assert [h.full_text() for h in shown_heads()] == [f"model-{c}" for c in range(4)]
    assert all(h.isVisible() for h in shown_heads()) and grid.column_width() > 0
    # Another shape while hidden, shown at once: the old header goes, the new one comes whole.
    win.results.set_layout("tiles")
    fill(win.results.store, 2, 2)
    win.results.set_layout("grid")
    settle()
    assert [h.full_text() for h in shown_heads()] == ["model-0", "model-1"]
