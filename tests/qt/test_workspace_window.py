"""The workspace survives: what the user typed and how the window looked come back on the next start.

Window tests drive a real :class:`MainWindow` with a :class:`WorkspaceStore` in the test's data
folder; the process tests start the real program twice, offscreen.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from gui.core.spec import ErrorPolicy, Limits, ModelProfile, ProviderKind, Strategy
from gui.qt.main_window import MainWindow
from gui.qt.theme import apply_theme
from gui.storage import paths
from gui.storage.workspace import Workspace, WorkspaceStore

from .conftest import SESSION_LOOP, signal_future

ROOT = Path(__file__).resolve().parents[2]


class CountingStore(WorkspaceStore):
    """A real store that also counts its writes and notes the thread each ran on."""

    def __init__(self, path: Path | None = None) -> None:
        super().__init__(path)
        self.threads: list[threading.Thread] = []

    def save(self, workspace: Workspace) -> None:
        self.threads.append(threading.current_thread())
        super().save(workspace)


@pytest.fixture
def platform_look() -> Iterator[None]:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    style, palette = app.style().name(), app.palette()
    yield None
    apply_theme(app, "light")  # leave no dark palette to the next test
    app.setStyle(style)
    app.setPalette(palette)


@pytest_asyncio.fixture(loop_scope="session")
async def windows(qtbot: QtBot) -> AsyncIterator[list[MainWindow]]:
    made: list[MainWindow] = []
    yield made
    for win in made:
        await win.shutdown()
        win.close()
        win.deleteLater()


def new_window(made: list[MainWindow], store: WorkspaceStore | None) -> MainWindow:
    win = MainWindow(workspace=store)
    made.append(win)
    return win


def edit_everything(win: MainWindow) -> None:
    win.prompt.set_template("Write about {topic} in the style of {style}")
    win.prompt.editor.insertPlainText(" ")  # a keystroke, as a user types it
    win.prompt.set_system("Answer in French.")
    win.inputs.set_variables(win.prompt.variables())
    win.inputs.set_rows(
        [
            {"topic": "cats", "style": "haiku", "notes": "kept"},
            {"topic": "tides", "style": "", "notes": ""},
        ]
    )
    win.models.add_profile(
        ModelProfile(
            model="llama3.2",
            provider=ProviderKind.OPENAI,
            base_url="http://localhost:11434/v1",
            max_concurrency=1,
        )
    )
    win.limits.set_strategy(Strategy.GATHER)
    win.limits.set_limits(
        Limits(
            max_concurrency=3,
            retries=1,
            error_policy=ErrorPolicy.FAIL_FAST,
            max_answer_chars=120_000,
        )
    )
    win.limits.limits_changed.emit({"max_concurrency": 3})  # what a spin box edit sends
    win.resize(790, 701)  # fits the offscreen screen (800x800): Qt fits a restored window to it


@SESSION_LOOP
async def test_edits_are_saved_once_after_a_pause_off_the_gui_thread_and_come_back(
    windows: list[MainWindow], platform_look: None
) -> None:
    store = CountingStore()
    win = new_window(windows, store)
    win.show()
    saved = signal_future(win.workspace.saved)
    edit_everything(win)
    win.workspace.set_theme("dark")
    await asyncio.wait_for(saved, 60)
    # Debounced: a burst of edits is one write, in a worker thread.
    assert len(store.threads) == 1
    assert store.threads[0] is not threading.main_thread()
    assert win.workspace.theme() == "dark"

    # The splitter moved and the window closes: the close writes what is pending. (The
    # vertical one: heights come back exactly, widths may be fitted to the offscreen screen.)
    splitter = win.workspace._splitters["body"]
    splitter.setSizes([200, 400])
    splitter.splitterMoved.emit(200, 1)
    shown_sizes = splitter.sizes()
    await win.workspace.flush()
    assert len(store.threads) == 2

    loaded = WorkspaceStore().load()
    assert loaded is not None
    again = new_window(windows, None)
    again.workspace.restore(loaded)
    again.show()
    assert again.prompt.template() == win.prompt.template()
    assert again.prompt.template().strip() == "Write about {topic} in the style of {style}"
    assert again.prompt.system() == "Answer in French."
    assert again.inputs.columns() == ["topic", "style", "notes"]
    assert again.inputs.rows(include_unused=True) == win.inputs.rows(include_unused=True)
    assert [m.model for m in again.models.all_profiles()] == [
        m.model for m in win.models.all_profiles()
    ]
    assert again.models.all_profiles()[-1].base_url == "http://localhost:11434/v1"
    assert again.limits.strategy() is Strategy.GATHER
    assert again.limits.limits() == win.limits.limits()
    assert again.limits.limits().max_answer_chars == 120_000
    # Qt fits a restored window to the screen (offscreen: 800 px wide), so the width may
    # be cut to it; the height fits and comes back exactly.
    assert again.height() == win.height() == 701
    assert again.width() <= win.width() and again.width() != 1360  # not the default size
    assert again.workspace._splitters["body"].sizes() == shown_sizes
    assert again.workspace.theme() == "dark"
    assert QApplication.palette().color(QApplication.palette().ColorRole.Window).lightness() < 128


@SESSION_LOOP
async def test_a_window_without_a_store_writes_nothing(windows: list[MainWindow]) -> None:
    win = new_window(windows, None)
    edit_everything(win)
    assert win.workspace.save_soon() is None
    await win.workspace.flush()
    assert not paths.workspace_path().exists()


@SESSION_LOOP
async def test_a_failed_write_says_so_once_and_keeps_the_window_going(
    windows: list[MainWindow], tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be", encoding="utf-8")
    win = new_window(windows, WorkspaceStore(blocker / "workspace.json"))
    notices: list[str] = []
    win.workspace.notice.connect(notices.append)
    for text in ("one {x}", "two {x}"):
        win.prompt.set_template(text)
        await win.workspace.flush()
    assert len(notices) == 1 and "\n" not in notices[0]
    assert notices[0].startswith("The workspace could not be saved (")


# ---- the real program, twice -----------------------------------------------------------------


def start_app(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen", FANOUT_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "gui", "--quit-after", "1.0", *args],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        check=False,
    )


def test_the_program_restores_the_last_workspace_and_sets_a_bad_one_aside(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = start_app(home)
    assert first.returncode == 0, first.stderr[-2000:]
    file = home / "workspace.json"
    data = json.loads(file.read_text(encoding="utf-8"))
    assert data["template"] == "Tell me a joke about {topic}"  # the starter example, kept

    data["template"] = "A haiku about {thing}"
    data["columns"] = ["thing"]
    data["rows"] = [["rain"], ["snow"]]
    file.write_text(json.dumps(data), encoding="utf-8")
    second = start_app(home)
    assert second.returncode == 0, second.stderr[-2000:]
    kept = json.loads(file.read_text(encoding="utf-8"))
    assert kept["template"] == "A haiku about {thing}" and kept["rows"] == [["rain"], ["snow"]]

    file.write_text("{ this is not json", encoding="utf-8")
    third = start_app(home)
    assert third.returncode == 0, third.stderr[-2000:]
    assert "Traceback" not in third.stderr
    aside = [p.name for p in home.iterdir() if p.name.startswith("workspace.json.unreadable-")]
    assert len(aside) == 1
    fresh = json.loads(file.read_text(encoding="utf-8"))
    assert fresh["template"] == "Tell me a joke about {topic}"  # defaults again, never a crash


def test_a_demo_session_leaves_the_users_workspace_alone(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    store = WorkspaceStore(home / "workspace.json")
    store.save(Workspace(template="Mine: {x}", columns=("x",), rows=(("a",),)))
    before = store.path.read_bytes()
    demo = start_app(home, "--demo", "stress")
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert store.path.read_bytes() == before


@SESSION_LOOP
async def test_view_theme_switches_every_widget_while_the_window_is_open(
    windows: list[MainWindow], platform_look: None
) -> None:
    win = new_window(windows, None)
    win.workspace.set_theme("dark")
    win.show()
    menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&View")
    theme_menu = next(a.menu() for a in menu.actions() if a.text() == "Theme")
    entries = {a.text(): a for a in theme_menu.actions()}
    assert list(entries) == ["System", "Light", "Dark"] and entries["Dark"].isChecked()
    watched = (win.prompt.editor, win.inputs.view, win.models, win.statusBar(), win.limits)

    def lightness(widget: QWidget) -> int:
        role = (
            QPalette.ColorRole.Base
            if widget.inherits("QAbstractScrollArea")
            else (QPalette.ColorRole.Window)
        )
        return widget.palette().color(role).lightness()

    assert all(lightness(w) < 128 for w in watched)
    entries["Light"].trigger()
    assert win.workspace.theme() == "light" and entries["Light"].isChecked()
    assert all(lightness(w) > 128 for w in watched), [lightness(w) for w in watched]
    entries["Dark"].trigger()
    assert all(lightness(w) < 128 for w in watched)


def test_a_measured_session_neither_reads_nor_writes_the_workspace(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    file = home / "workspace.json"
    file.write_text("{ not json", encoding="utf-8")  # would be set aside if it were read
    measured = start_app(home, "--print-stats")
    assert measured.returncode == 0, measured.stderr[-2000:]
    assert file.read_text(encoding="utf-8") == "{ not json"
    assert [p.name for p in home.iterdir() if p.name.startswith("workspace")] == ["workspace.json"]


@SESSION_LOOP
async def test_restored_openai_columns_are_warmed_up_with_the_engine(
    windows: list[MainWindow], monkeypatch: pytest.MonkeyPatch
) -> None:
    imported: list[list[str]] = []

    def record(names: list[str], *_: object) -> None:
        imported.append(list(names))

    monkeypatch.setattr("gui.compat.imports.import_in_background", record)
    monkeypatch.delitem(sys.modules, "langchain_openai", raising=False)
    win = new_window(windows, None)
    win.workspace.restore(
        Workspace(
            template="Hi {x}",
            columns=("x",),
            rows=(("a",),),
            models=(ModelProfile(model="m", provider=ProviderKind.OPENAI),),
        )
    )
    await asyncio.wait_for(win.warm_up(), 60)
    assert any("langchain_openai" in names for names in imported)


@SESSION_LOOP
async def test_the_scoreboard_view_and_an_unused_judge_rubric_survive_a_restart(
    windows: list[MainWindow],
) -> None:
    """The Scoreboard's measure and sort, and the Judge page as left (a rubric written with
    judging off included), come back from the workspace file on the next start."""
    from gui.core.spec import JudgeMode

    store = WorkspaceStore()
    win = new_window(windows, store)
    win.show()
    board = win.scoreboard
    saved = signal_future(win.workspace.saved)
    board.measure_picker.setCurrentIndex(board.measure_picker.findData("judge"))
    board.sort_picker.setCurrentIndex(board.sort_picker.findData("tps"))
    board.stat_picker.setCurrentIndex(board.stat_picker.findData("median"))
    judge = win.judge_page
    judge.enabled_box.setChecked(True)
    judge.pairwise_button.setChecked(True)
    judge.rubric_edit.setPlainText("Prefer answers that cite a source.")
    judge.enabled_box.setChecked(False)  # off, but the rubric is the user's work
    await asyncio.wait_for(saved, 60)
    await win.workspace.flush()

    loaded = WorkspaceStore().load()
    assert loaded is not None
    again = new_window(windows, None)
    again.workspace.restore(loaded)
    assert again.scoreboard.measure().name == "judge"
    assert again.scoreboard.sort_key() == ("tps", "median")
    assert again.judge_page.settings() is None  # still off
    draft = again.judge_page.draft()
    assert draft.rubric == "Prefer answers that cite a source."
    assert draft.mode is JudgeMode.PAIRWISE
    again.judge_page.enabled_box.setChecked(True)
    assert again.judge_page.settings() == draft


@SESSION_LOOP
async def test_the_schema_page_the_cache_switch_and_the_table_layout_survive_a_restart(
    windows: list[MainWindow],
) -> None:
    """Issue 15: the schema as typed (on or off), the cache switch, the Table layout."""
    store = WorkspaceStore()
    win = new_window(windows, store)
    win.show()
    saved = signal_future(win.workspace.saved)
    win.schema_page.set_text('{"type": "object", "required": ["name"]}')
    win.schema_page._enabled.setChecked(False)  # off, but the schema is the user's work
    win.limits._cache_check.setChecked(True)
    win.results.set_layout("table")
    await asyncio.wait_for(saved, 60)
    await win.workspace.flush()

    loaded = WorkspaceStore().load()
    assert loaded is not None
    assert loaded.schema_text == '{"type": "object", "required": ["name"]}'
    assert loaded.schema_on is False and loaded.limits.cache is True
    again = new_window(windows, None)
    again.workspace.restore(loaded)
    assert again.schema_page.schema() is None  # still off
    assert again.schema_page.draft() == ('{"type": "object", "required": ["name"]}', False)
    assert again.limits.limits().cache is True
    assert again.results.current_layout() == "table"
